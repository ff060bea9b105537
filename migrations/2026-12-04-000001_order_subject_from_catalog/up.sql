-- The order's subject (the title Alipay's cashier shows) comes from the catalog, not from the
-- client: a buyer could otherwise put any words on the cashier, and the original frontend sends
-- the course name anyway. `place_order` is `create_order` without the subject parameter; it
-- names the order after its first course ("Rust 入门", or "Rust 入门 (+2 more)"), at most 256
-- characters (Alipay's limit), and returns that subject, or NULL when nothing was inserted.
--
-- `create_order` stays for one release, so that replicas of the previous version keep working
-- during a rolling upgrade; a later migration drops it.
CREATE FUNCTION place_order(
    p_out_trade_no TEXT,
    p_user_id      TEXT,
    p_total        NUMERIC,
    p_pay_type     SMALLINT,
    p_status       SMALLINT,
    p_pay_time     TIMESTAMPTZ,
    p_expires_at   TIMESTAMPTZ,
    p_now          TIMESTAMPTZ,
    p_course_ids   BIGINT[]
) RETURNS TEXT LANGUAGE plpgsql AS $$
DECLARE
    v_ids     BIGINT[];
    v_prices  NUMERIC[];
    v_sum     NUMERIC;
    v_first   TEXT;
    v_suffix  TEXT := '';
    v_subject TEXT;
    v_id      BIGINT;
BEGIN
    SELECT array_agg(id), array_agg(price), COALESCE(sum(price), 0)
      INTO v_ids, v_prices, v_sum
      FROM courses
     WHERE id = ANY (p_course_ids) AND active;
    IF COALESCE(cardinality(v_ids), 0) <> cardinality(p_course_ids) OR v_sum <> p_total THEN
        RETURN NULL;
    END IF;
    SELECT name INTO v_first FROM courses WHERE id = p_course_ids[1];
    IF cardinality(p_course_ids) > 1 THEN
        v_suffix := format(' (+%s more)', cardinality(p_course_ids) - 1);
    END IF;
    v_subject := left(btrim(v_first), 256 - length(v_suffix)) || v_suffix;
    INSERT INTO orders (out_trade_no, user_id, subject, total_amount, pay_type, status, pay_time,
                        expires_at, created_at, updated_at)
    VALUES (p_out_trade_no, p_user_id, v_subject, p_total, p_pay_type, p_status, p_pay_time,
            p_expires_at, p_now, p_now)
    RETURNING id INTO v_id;
    INSERT INTO order_lines (order_id, course_id, price, real_price)
    SELECT v_id, line.course_id, line.price, line.price
      FROM unnest(v_ids, v_prices) AS line (course_id, price);
    RETURN v_subject;
END
$$;
