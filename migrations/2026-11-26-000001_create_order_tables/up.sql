-- The order service's database (DESIGN.md "Data"). Only the order service reads or writes it.
--
-- Money is NUMERIC(12,2): exact yuan with two decimals, read into rust_decimal. Never a float.
-- Statuses are SMALLINT codes shared with the API (0 unpaid, 1 paid, 2 cancelled, 3 timed out,
-- 4 partially refunded, 5 refunded), checked here so that a bad write fails loudly.

CREATE TABLE courses (
    id         BIGSERIAL PRIMARY KEY,
    name       TEXT NOT NULL CHECK (name <> ''),
    price      NUMERIC(12,2) NOT NULL CHECK (price >= 0),
    -- Inactive courses stay (old orders point at them) but cannot be bought.
    active     BOOLEAN NOT NULL DEFAULT TRUE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE orders (
    id              BIGSERIAL PRIMARY KEY,
    -- Our number for the trade at Alipay (letters, digits, underscore; at most 64).
    out_trade_no    TEXT NOT NULL UNIQUE CHECK (out_trade_no ~ '^[A-Za-z0-9_]{1,64}$'),
    -- The JWT `sub` of the buyer: users live in another system, so no foreign key.
    user_id         TEXT NOT NULL,
    subject         TEXT NOT NULL,
    total_amount    NUMERIC(12,2) NOT NULL CHECK (total_amount >= 0),
    -- 1 Alipay (2 WeChat is refused before it reaches the database).
    pay_type        SMALLINT NOT NULL CHECK (pay_type = 1),
    status          SMALLINT NOT NULL DEFAULT 0 CHECK (status BETWEEN 0 AND 5),
    -- Alipay's number for the trade, known once paid.
    trade_no        TEXT,
    pay_time        TIMESTAMPTZ,
    -- Cumulative amount refunded (Alipay's refund_fee).
    refunded_amount NUMERIC(12,2) NOT NULL DEFAULT 0 CHECK (refunded_amount >= 0),
    -- A payment that arrived after the order had timed out or been cancelled: kept as paid (the
    -- money is real) and flagged so that someone refunds it. Cleared once refunded.
    needs_refund    BOOLEAN NOT NULL DEFAULT FALSE,
    -- When the unpaid order times out; also sent to Alipay as time_expire.
    expires_at      TIMESTAMPTZ NOT NULL,
    -- Last QueryTrade made for the return page, so reloading it cannot hammer Alipay.
    last_queried_at TIMESTAMPTZ,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK (refunded_amount <= total_amount)
);

-- "My orders", newest first.
CREATE INDEX orders_user_id_id ON orders (user_id, id DESC);
-- The expiry sweeper reads only unpaid orders; a partial index stays small.
CREATE INDEX orders_unpaid_expires_at ON orders (expires_at) WHERE status = 0;
-- Late payments waiting for a refund, for the operators' view.
CREATE INDEX orders_needs_refund ON orders (id) WHERE needs_refund;

CREATE TABLE order_lines (
    id         BIGSERIAL PRIMARY KEY,
    order_id   BIGINT NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    course_id  BIGINT NOT NULL REFERENCES courses (id),
    -- The list price when ordered (a later price change must not rewrite history) ...
    price      NUMERIC(12,2) NOT NULL CHECK (price >= 0),
    -- ... and what the buyer pays for it (the same today; room for discounts).
    real_price NUMERIC(12,2) NOT NULL CHECK (real_price >= 0),
    UNIQUE (order_id, course_id)
);

CREATE TABLE payment_events (
    id           BIGSERIAL PRIMARY KEY,
    -- Deterministic per notification (common::events::event_id_for), so the unique index is what
    -- makes a redelivered or re-sent event a no-op.
    event_id     UUID NOT NULL UNIQUE,
    order_id     BIGINT NOT NULL REFERENCES orders (id),
    -- paid | closed | refunded (broker events) or query (a signed QueryTrade answer).
    kind         TEXT NOT NULL,
    trade_no     TEXT NOT NULL,
    trade_status TEXT NOT NULL,
    total_amount NUMERIC(12,2) NOT NULL,
    -- Every field Alipay sent, verbatim, for audit and disputes.
    params       JSONB NOT NULL,
    received_at  TIMESTAMPTZ NOT NULL,
    applied_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX payment_events_order_id ON payment_events (order_id);

CREATE TABLE refunds (
    id             BIGSERIAL PRIMARY KEY,
    order_id       BIGINT NOT NULL REFERENCES orders (id),
    -- Written (committed) before Refund is called and reused by every retry, so Alipay never
    -- refunds the same request twice.
    out_request_no TEXT NOT NULL UNIQUE CHECK (out_request_no ~ '^[A-Za-z0-9_]{1,64}$'),
    amount         NUMERIC(12,2) NOT NULL CHECK (amount > 0),
    -- 0 pending (sent or about to be; outcome unknown until Alipay answers or QueryRefund
    -- settles it), 1 succeeded, 2 failed (Alipay refused; no money moved).
    status         SMALLINT NOT NULL DEFAULT 0 CHECK (status BETWEEN 0 AND 2),
    reason         TEXT,
    -- Alipay's refusal (sub_code) when failed.
    failure        TEXT,
    requested_by   TEXT NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX refunds_order_id ON refunds (order_id);
-- Pending refunds are settled by the sweeper.
CREATE INDEX refunds_pending ON refunds (created_at) WHERE status = 0;
-- One refund in flight per order: the next one's amount depends on whether this one happened.
CREATE UNIQUE INDEX refunds_one_pending_per_order ON refunds (order_id) WHERE status = 0;

-- Creates an order and its lines (the hot path of POST /order/pay/) only if every course exists
-- and is active and their prices add up to the total; returns the order's id, or NULL when
-- nothing was inserted (the service then reads the catalog to say why). One call is one round
-- trip and one transaction, and PL/pgSQL plans its statements once per connection instead of
-- once per order. The courses are read once, so the lines carry exactly the prices checked.
CREATE FUNCTION create_order(
    p_out_trade_no TEXT,
    p_user_id      TEXT,
    p_subject      TEXT,
    p_total        NUMERIC,
    p_pay_type     SMALLINT,
    p_status       SMALLINT,
    p_pay_time     TIMESTAMPTZ,
    p_expires_at   TIMESTAMPTZ,
    p_now          TIMESTAMPTZ,
    p_course_ids   BIGINT[]
) RETURNS BIGINT LANGUAGE plpgsql AS $$
DECLARE
    v_ids    BIGINT[];
    v_prices NUMERIC[];
    v_sum    NUMERIC;
    v_id     BIGINT;
BEGIN
    SELECT array_agg(id), array_agg(price), COALESCE(sum(price), 0)
      INTO v_ids, v_prices, v_sum
      FROM courses
     WHERE id = ANY (p_course_ids) AND active;
    IF COALESCE(cardinality(v_ids), 0) <> cardinality(p_course_ids) OR v_sum <> p_total THEN
        RETURN NULL;
    END IF;
    INSERT INTO orders (out_trade_no, user_id, subject, total_amount, pay_type, status, pay_time,
                        expires_at, created_at, updated_at)
    VALUES (p_out_trade_no, p_user_id, p_subject, p_total, p_pay_type, p_status, p_pay_time,
            p_expires_at, p_now, p_now)
    RETURNING id INTO v_id;
    INSERT INTO order_lines (order_id, course_id, price, real_price)
    SELECT v_id, line.course_id, line.price, line.price
      FROM unnest(v_ids, v_prices) AS line (course_id, price);
    RETURN v_id;
END
$$;
