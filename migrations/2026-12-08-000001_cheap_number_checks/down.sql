ALTER TABLE orders
    DROP CONSTRAINT orders_out_trade_no_check,
    ADD CONSTRAINT orders_out_trade_no_check CHECK (out_trade_no ~ '^[A-Za-z0-9_]{1,64}$');
ALTER TABLE refunds
    DROP CONSTRAINT refunds_out_request_no_check,
    ADD CONSTRAINT refunds_out_request_no_check CHECK (out_request_no ~ '^[A-Za-z0-9_]{1,64}$');
