-- The active sync's claim ("the unpaid orders whose next QueryTrade is due, oldest first") sorted
-- every unpaid order by COALESCE(next_sync_at, created_at + first step), which no index serves:
-- with 300,000 unpaid orders each pass read them all and sorted them on disk (108 ms and 18 MB of
-- temp files, per replica per sweep), and it grows with every abandoned cart. Two partial
-- indexes, one per branch of that COALESCE, let the claim read only the ~100 rows it takes
-- (1.7 ms on the same data): orders never asked about yet by creation time, and orders asked
-- before by when the next question is due. They replace orders_unpaid_created_at, which only the
-- claim used.
--
-- Built inside the migration's transaction, which blocks writes to `orders` while they build. On
-- a large live table build them first by hand with CREATE INDEX CONCURRENTLY and the same
-- definitions; IF NOT EXISTS then makes this a no-op.
CREATE INDEX IF NOT EXISTS orders_sync_first ON orders (created_at)
    WHERE status = 0 AND next_sync_at IS NULL;
CREATE INDEX IF NOT EXISTS orders_sync_next ON orders (next_sync_at)
    WHERE status = 0 AND next_sync_at IS NOT NULL;
DROP INDEX IF EXISTS orders_unpaid_created_at;
