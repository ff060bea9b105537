CREATE INDEX IF NOT EXISTS orders_unpaid_created_at ON orders (created_at) WHERE status = 0;
DROP INDEX IF EXISTS orders_sync_next;
DROP INDEX IF EXISTS orders_sync_first;
