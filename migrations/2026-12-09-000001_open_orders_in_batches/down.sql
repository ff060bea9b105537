-- Back to the one-order function of 2026-12-06, with its own copy of the rules.
DROP FUNCTION open_order(TEXT, TEXT, NUMERIC, SMALLINT, SMALLINT, TIMESTAMPTZ, TIMESTAMPTZ, TIMESTAMPTZ, BIGINT[]);
CREATE FUNCTION open_order(
    p_out_trade_no TEXT,
    p_user_id      TEXT,
    p_total        NUMERIC,
    p_pay_type     SMALLINT,
    p_status       SMALLINT,
    p_pay_time     TIMESTAMPTZ,
    p_expires_at   TIMESTAMPTZ,
    p_now          TIMESTAMPTZ,
    p_course_ids   BIGINT[],
    OUT order_id        BIGINT,
    OUT subject         TEXT,
    OUT missing_course  BIGINT,
    OUT inactive_course BIGINT,
    OUT courses_total   NUMERIC
) LANGUAGE plpgsql AS $$
DECLARE
    v_bad     BIGINT;
    v_missing BOOLEAN;
    v_ids     BIGINT[];
    v_prices  NUMERIC[];
    v_first   TEXT;
    v_suffix  TEXT := '';
BEGIN
    SELECT wanted.id, courses.id IS NULL
      INTO v_bad, v_missing
      FROM unnest(p_course_ids) WITH ORDINALITY AS wanted (id, position)
      LEFT JOIN courses ON courses.id = wanted.id
     WHERE courses.id IS NULL OR NOT courses.active
     ORDER BY wanted.position
     LIMIT 1;
    IF v_bad IS NOT NULL THEN
        IF v_missing THEN
            missing_course := v_bad;
        ELSE
            inactive_course := v_bad;
        END IF;
        RETURN;
    END IF;
    SELECT array_agg(id), array_agg(price), COALESCE(sum(price), 0)
      INTO v_ids, v_prices, courses_total
      FROM courses
     WHERE id = ANY (p_course_ids);
    IF courses_total <> p_total THEN
        RETURN;
    END IF;
    SELECT name INTO v_first FROM courses WHERE id = p_course_ids[1];
    IF cardinality(p_course_ids) > 1 THEN
        v_suffix := format(' (+%s more)', cardinality(p_course_ids) - 1);
    END IF;
    subject := left(btrim(v_first), 256 - length(v_suffix)) || v_suffix;
    INSERT INTO orders (out_trade_no, user_id, subject, total_amount, pay_type, status, pay_time,
                        expires_at, created_at, updated_at)
    VALUES (p_out_trade_no, p_user_id, subject, p_total, p_pay_type, p_status, p_pay_time,
            p_expires_at, p_now, p_now)
    RETURNING id INTO order_id;
    INSERT INTO order_lines (order_id, course_id, price, real_price)
    SELECT order_id, line.course_id, line.price, line.price
      FROM unnest(v_ids, v_prices) AS line (course_id, price);
END
$$;

DROP FUNCTION open_orders(TEXT[], TEXT[], NUMERIC[], SMALLINT[], SMALLINT[], TIMESTAMPTZ[], TIMESTAMPTZ[], TIMESTAMPTZ[], INT[], BIGINT[]);
