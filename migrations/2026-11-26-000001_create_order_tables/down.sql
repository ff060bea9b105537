-- Drops everything up.sql created, dependents first.
DROP FUNCTION create_order;
DROP TABLE refunds;
DROP TABLE payment_events;
DROP TABLE order_lines;
DROP TABLE orders;
DROP TABLE courses;
