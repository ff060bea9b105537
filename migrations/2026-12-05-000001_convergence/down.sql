DROP TABLE early_events;
DROP INDEX orders_unpaid_created_at;
ALTER TABLE orders DROP COLUMN sync_step, DROP COLUMN next_sync_at;
