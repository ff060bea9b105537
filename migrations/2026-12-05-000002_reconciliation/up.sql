-- Daily reconciliation against Alipay's trade bill (services/order/src/reconcile).
--
-- One run per bill date (`bill_date` is unique): the row is the compare-and-set point that makes
-- several replicas scheduling the same day run it once (INSERT … ON CONFLICT … WHERE the run is
-- not running, or its lease has lapsed because its process died). A rerun of the same day updates
-- the same row; its differences are upserted, so repeating a run changes nothing.
CREATE TABLE reconciliation_runs (
    id               BIGSERIAL PRIMARY KEY,
    -- The Beijing calendar day the bill covers.
    bill_date        DATE        NOT NULL UNIQUE,
    status           TEXT        NOT NULL CHECK (status IN ('running', 'ok', 'failed')),
    -- Why it failed (a bill that is not a zip, an unknown layout, Alipay refused…), else NULL.
    reason           TEXT,
    -- What started the last attempt: `schedule`, `cli` or `api`.
    trigger          TEXT        NOT NULL,
    attempts         INTEGER     NOT NULL DEFAULT 1,
    started_at       TIMESTAMPTZ NOT NULL,
    finished_at      TIMESTAMPTZ,
    -- A running run whose lease has passed is taken over (its process died mid-run).
    lease_until      TIMESTAMPTZ NOT NULL,
    -- What the last successful attempt read and found.
    bill_payments    INTEGER     NOT NULL DEFAULT 0,
    bill_refunds     INTEGER     NOT NULL DEFAULT 0,
    orders_compared  INTEGER     NOT NULL DEFAULT 0,
    differences      INTEGER     NOT NULL DEFAULT 0,
    healed           INTEGER     NOT NULL DEFAULT 0
);

-- One row per thing that did not match. `out_request_no` is '' for payment-level differences so
-- that the unique key works without NULL semantics. Both sides' values are kept as text exactly
-- as read (amounts with two places, statuses by name), NULL where that side has nothing.
CREATE TABLE reconciliation_differences (
    id              BIGSERIAL PRIMARY KEY,
    run_id          BIGINT      NOT NULL REFERENCES reconciliation_runs (id) ON DELETE CASCADE,
    kind            TEXT        NOT NULL,
    out_trade_no    TEXT        NOT NULL,
    out_request_no  TEXT        NOT NULL DEFAULT '',
    trade_no        TEXT,
    ours_amount     TEXT,
    alipay_amount   TEXT,
    ours_status     TEXT,
    alipay_status   TEXT,
    healed          BOOLEAN     NOT NULL DEFAULT FALSE,
    -- What healing did or why it could not (the signed answer, the outcome).
    resolution      TEXT,
    found_at        TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    UNIQUE (run_id, kind, out_trade_no, out_request_no)
);

-- Our side of a day: paid orders by payment time, succeeded refunds by settlement time.
CREATE INDEX IF NOT EXISTS orders_pay_time ON orders (pay_time) WHERE pay_time IS NOT NULL;
CREATE INDEX IF NOT EXISTS refunds_updated_at_succeeded ON refunds (updated_at) WHERE status = 1;
