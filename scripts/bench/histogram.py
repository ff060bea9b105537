#!/usr/bin/env python3
"""Quantiles of one run from two scrapes of a Prometheus histogram (before and after the run).

    histogram.py BEFORE.txt AFTER.txt [METRIC]   (default METRIC: order_event_to_paid_seconds)

Prints `count=N p50_ms=… p99_ms=… within_50ms=…% within_250ms=…% buckets=…`: the quantiles are
interpolated linearly inside the bucket that holds them (as Prometheus' histogram_quantile does),
so they are only as fine as the buckets around them; the `within_` shares are exact when 0.05
and 0.25 are bucket bounds (they are flagged `~` when not). `buckets` lists the bounds, so the
reader can judge the resolution.
"""
import math
import re
import sys

LINE = re.compile(r'^(?P<name>[a-z_:]+)_bucket\{(?:[^}]*,)?le="(?P<le>[^"]+)"[^}]*\}\s+(?P<value>\S+)')


def buckets(path, metric):
    found = {}
    with open(path, encoding="utf-8") as text:
        for line in text:
            match = LINE.match(line)
            if match and match["name"] == metric:
                le = math.inf if match["le"] == "+Inf" else float(match["le"])
                found[le] = found.get(le, 0.0) + float(match["value"])
    return found


def quantile(q, bounds, cumulative):
    total = cumulative[-1]
    if total == 0:
        return math.nan
    rank = q * total
    lower, below = 0.0, 0.0
    for bound, count in zip(bounds, cumulative):
        if count >= rank:
            if math.isinf(bound):
                return lower  # above the highest finite bound: all that can be said
            if count == below:
                return bound
            return lower + (bound - lower) * (rank - below) / (count - below)
        lower, below = bound, count
    return lower


def within(limit, bounds, cumulative):
    total = cumulative[-1]
    if total == 0:
        return "n/a"
    exact = limit in bounds
    # The largest bound at or below the limit: a lower bound on the share when not exact.
    share = max((c for b, c in zip(bounds, cumulative) if b <= limit), default=0.0) / total
    return f"{'' if exact else '~'}{100 * share:.2f}%"


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    metric = sys.argv[3] if len(sys.argv) == 4 else "order_event_to_paid_seconds"
    before, after = buckets(sys.argv[1], metric), buckets(sys.argv[2], metric)
    if not after:
        sys.exit(f"no {metric}_bucket lines in {sys.argv[2]}")
    bounds = sorted(after)
    cumulative = [after[b] - before.get(b, 0.0) for b in bounds]
    p50, p99 = quantile(0.50, bounds, cumulative), quantile(0.99, bounds, cumulative)
    finite = ",".join(f"{b:g}" for b in bounds if not math.isinf(b))
    print(
        f"count={int(cumulative[-1])} p50_ms={1000 * p50:.1f} p99_ms={1000 * p99:.1f} "
        f"within_50ms={within(0.05, bounds, cumulative)} "
        f"within_250ms={within(0.25, bounds, cumulative)} buckets={finite}"
    )


if __name__ == "__main__":
    main()
