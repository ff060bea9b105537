-- `open_orders` opens a batch of orders in one statement: the order service hands it every order
-- that is waiting for the database at that moment, so one round trip, one statement's start-up
-- and one commit are shared by them all (at full load on two cores that cut PostgreSQL's CPU per
-- pay link by a third to a half; docs/capacity.md). The rules are those `open_order` checked,
-- for each order on its own: every course exists and is for sale (the first that is not, in the
-- order the courses were listed, is named), and the courses' prices add up to the order's total.
--
-- The batch comes as parallel arrays (one element per order), its lines as two more
-- (`p_line_orders[i]` is the 1-based place of line i's order in the batch). The answer has one
-- row per order, in batch order (`request`): the new order's id and subject, or the rule it
-- broke. An order that breaks a rule is simply not inserted; the others are. An error (a
-- duplicate order number, a course listed twice) fails the whole statement, and the service then
-- opens that batch's orders one at a time, so only the faulty one fails.
CREATE FUNCTION open_orders(
    p_out_trade_nos TEXT[],
    p_user_ids      TEXT[],
    p_totals        NUMERIC[],
    p_pay_types     SMALLINT[],
    p_statuses      SMALLINT[],
    p_pay_times     TIMESTAMPTZ[],
    p_expires_at    TIMESTAMPTZ[],
    p_nows          TIMESTAMPTZ[],
    p_line_orders   INT[],
    p_line_courses  BIGINT[]
) RETURNS TABLE (
    request         INT,
    order_id        BIGINT,
    subject         TEXT,
    missing_course  BIGINT,
    inactive_course BIGINT,
    courses_total   NUMERIC
) LANGUAGE plpgsql AS $$
BEGIN
    -- plpgsql rather than SQL: it keeps this statement's plan for the session, where an SQL
    -- function is planned again on every call (PostgreSQL 15).
    RETURN QUERY
    WITH requested AS (
        SELECT r.*
          FROM unnest(p_out_trade_nos, p_user_ids, p_totals, p_pay_types, p_statuses,
                      p_pay_times, p_expires_at, p_nows)
               WITH ORDINALITY AS r (out_trade_no, user_id, total, pay_type, status, pay_time,
                                     expires_at, now, request)
    ), wanted AS (
        SELECT l.line, l.request::BIGINT AS request, l.course_id,
               courses.id IS NULL AS missing, courses.active, courses.price, courses.name
          FROM unnest(p_line_orders, p_line_courses) WITH ORDINALITY AS l (request, course_id, line)
          LEFT JOIN courses ON courses.id = l.course_id
    ), checked AS (
        SELECT wanted.request,
               (array_agg(wanted.course_id ORDER BY wanted.line)
                  FILTER (WHERE wanted.missing OR NOT wanted.active))[1] AS bad_course,
               (array_agg(wanted.missing ORDER BY wanted.line)
                  FILTER (WHERE wanted.missing OR NOT wanted.active))[1] AS bad_is_missing,
               COALESCE(sum(wanted.price), 0) AS total,
               (array_agg(wanted.name ORDER BY wanted.line))[1] AS first_name,
               count(*) AS courses
          FROM wanted
         GROUP BY wanted.request
    ), accepted AS (
        -- The new id is drawn here, so that the lines and the answer can use it without joining
        -- the inserted rows back by number (which the planner, blind to the batch's size, would
        -- do with a nested loop: quadratic in a large batch).
        SELECT requested.*, nextval('orders_id_seq') AS id,
               left(btrim(checked.first_name), 256 - length(suffix.text)) || suffix.text AS subject
          FROM requested
          JOIN checked ON checked.request = requested.request
         CROSS JOIN LATERAL (
               SELECT CASE WHEN checked.courses > 1
                           THEN format(' (+%s more)', checked.courses - 1) ELSE '' END
         ) AS suffix (text)
         WHERE checked.bad_course IS NULL AND checked.total = requested.total
    ), inserted AS (
        INSERT INTO orders (id, out_trade_no, user_id, subject, total_amount, pay_type, status,
                            pay_time, expires_at, created_at, updated_at)
        SELECT accepted.id, accepted.out_trade_no, accepted.user_id, accepted.subject,
               accepted.total, accepted.pay_type, accepted.status, accepted.pay_time,
               accepted.expires_at, accepted.now, accepted.now
          FROM accepted
         ORDER BY accepted.request
    ), inserted_lines AS (
        INSERT INTO order_lines (order_id, course_id, price, real_price)
        SELECT accepted.id, wanted.course_id, wanted.price, wanted.price
          FROM accepted
          JOIN wanted ON wanted.request = accepted.request
    )
    -- Both inserts run whether or not this reads them (PostgreSQL runs every data-modifying
    -- WITH to completion), and any error in them fails the whole statement.
    SELECT requested.request::INT,
           accepted.id,
           accepted.subject,
           CASE WHEN checked.bad_is_missing THEN checked.bad_course END,
           CASE WHEN NOT checked.bad_is_missing THEN checked.bad_course END,
           CASE WHEN checked.bad_course IS NULL AND accepted.id IS NULL
                THEN COALESCE(checked.total, 0) END
      FROM requested
      LEFT JOIN checked ON checked.request = requested.request
      LEFT JOIN accepted ON accepted.request = requested.request
     ORDER BY requested.request;
END
$$;

-- `open_order` now opens a batch of one, so the rules live in one place. It stays for the
-- previous release's replicas during a rolling upgrade, and for scripts that open one order.
CREATE OR REPLACE FUNCTION open_order(
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
BEGIN
    SELECT opened.order_id, opened.subject, opened.missing_course, opened.inactive_course,
           opened.courses_total
      INTO order_id, subject, missing_course, inactive_course, courses_total
      FROM open_orders(ARRAY[p_out_trade_no], ARRAY[p_user_id], ARRAY[p_total],
                       ARRAY[p_pay_type], ARRAY[p_status], ARRAY[p_pay_time],
                       ARRAY[p_expires_at], ARRAY[p_now],
                       array_fill(1, ARRAY[cardinality(p_course_ids)]), p_course_ids) AS opened;
END
$$;
