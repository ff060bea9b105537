#!/usr/bin/env python3
"""Where PostgreSQL's CPU went, from `perf script` output on stdin (call graphs, `perf record -g`).

Prints, for the postgres samples, the share whose stack passes through each executor stage
(inclusive, so the shares overlap and do not add up to 100%). PostgreSQL's static functions
have no symbols in Debian's build, so only exported ones can be named; those are enough to
tell planning from index upkeep from constraint checks. Used by scripts/bench/profile.sh;
docs/capacity.md reads its output.
"""
import collections
import re
import sys

STAGES = [
    ("executor (all statement execution)", "PortalRun"),
    ("index entries written", "ExecInsertIndexTuples"),
    ("planning (parse, analyse, plan)", "pg_plan_queries"),
    ("cached-plan lookup and custom plans", "GetCachedPlan"),
    ("parsing SQL text (unprepared statements)", "raw_parser"),
    ("check constraints", "ExecConstraints"),
    ("regex evaluation", "textregexeq"),
    ("foreign-key and other after-triggers", "AfterTriggerEndQuery"),
    ("commit", "CommitTransactionCommand"),
    ("WAL flush", "XLogFlush"),
    ("jsonb input", "jsonb_recv"),
    ("array input", "array_recv"),
    ("heap insert", "heap_insert"),
    ("heap update", "heap_update"),
    ("reading the client socket", "pq_getbyte"),
]


def main() -> None:
    counts = collections.Counter()
    total = 0
    for sample in sys.stdin.read().split("\n\n"):
        lines = sample.strip().split("\n")
        if len(lines) < 2 or not lines[0].lstrip().startswith("postgres"):
            continue
        total += 1
        symbols = {
            re.sub(r"\+0x[0-9a-f]+$", "", parts[1])
            for parts in (line.split() for line in lines[1:])
            if len(parts) > 1
        }
        for _, symbol in STAGES:
            if symbol in symbols:
                counts[symbol] += 1
    if total == 0:
        sys.exit("no postgres samples in the input (was perf recording during the run?)")
    print(f"PostgreSQL samples: {total}; share of them whose stack passes through:")
    for label, symbol in STAGES:
        print(f"  {100 * counts[symbol] / total:5.1f}%  {label} ({symbol})")


if __name__ == "__main__":
    main()
