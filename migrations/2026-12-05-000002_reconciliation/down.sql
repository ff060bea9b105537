DROP INDEX IF EXISTS refunds_updated_at_succeeded;
DROP INDEX IF EXISTS orders_pay_time;
DROP TABLE reconciliation_differences;
DROP TABLE reconciliation_runs;
