-- Convergence with Alipay's books when a message is lost or early (DESIGN.md "Convergence").

-- Active sync: unpaid orders are asked about (QueryTrade) on a growing schedule after creation,
-- not only at expiry, so a lost notification pays the order within minutes. `next_sync_at` is
-- when the next query is due (NULL: not asked yet, due at created_at + the first step);
-- `sync_step` counts the queries made. The sweeper claims due rows with FOR UPDATE SKIP LOCKED
-- and moves `next_sync_at` on before asking, so replicas never ask twice for one step.
ALTER TABLE orders
    ADD COLUMN next_sync_at TIMESTAMPTZ,
    ADD COLUMN sync_step    SMALLINT NOT NULL DEFAULT 0;
-- Orders already unpaid when this runs are due at once.
UPDATE orders SET next_sync_at = now() WHERE status = 0;
CREATE INDEX orders_unpaid_created_at ON orders (created_at) WHERE status = 0;

-- Early events: a payment event whose precondition is not met yet (a refund for an order not
-- yet known to be paid: Alipay does not promise order) waits here instead of being requeued
-- until RabbitMQ's delivery limit dead-letters it. An inbox table rather than a delayed-retry
-- queue: the event is stored in the same database, in the same transaction that decides it
-- must wait, so the ack that follows can never lose it; a payment for the order nudges its
-- waiting events (next_attempt_at = now) in the transaction that marks it paid; and waiting
-- events are plain rows an operator can query. Past `give_up_at` (Alipay's own 25 h of retries
-- by default) an event is dead-lettered with the reason `early_event_expired` for a human.
CREATE TABLE early_events (
    -- The event's own id (deterministic from Alipay's notify_id): a redelivery is a no-op.
    event_id        UUID PRIMARY KEY,
    out_trade_no    TEXT NOT NULL,
    routing_key     TEXT NOT NULL,
    -- The message body exactly as it arrived (the PaymentEventV1 JSON).
    body            BYTEA NOT NULL,
    request_id      TEXT,
    -- Why it waits, in words.
    reason          TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    first_seen_at   TIMESTAMPTZ NOT NULL,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    give_up_at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX early_events_due ON early_events (next_attempt_at);
CREATE INDEX early_events_out_trade_no ON early_events (out_trade_no);
