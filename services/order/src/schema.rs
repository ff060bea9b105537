//! The tables of `migrations/` (written by hand: diesel_cli would need libpq). Keep in step with
//! the SQL; `tests/api/schema.rs` checks every table and column against the migrated database.

diesel::table! {
    courses (id) {
        id -> Int8,
        name -> Text,
        price -> Numeric,
        active -> Bool,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    orders (id) {
        id -> Int8,
        out_trade_no -> Text,
        user_id -> Text,
        subject -> Text,
        total_amount -> Numeric,
        pay_type -> Int2,
        status -> Int2,
        trade_no -> Nullable<Text>,
        pay_time -> Nullable<Timestamptz>,
        refunded_amount -> Numeric,
        needs_refund -> Bool,
        expires_at -> Timestamptz,
        last_queried_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        next_sync_at -> Nullable<Timestamptz>,
        sync_step -> Int2,
    }
}

diesel::table! {
    early_events (event_id) {
        event_id -> Uuid,
        out_trade_no -> Text,
        routing_key -> Text,
        body -> Bytea,
        request_id -> Nullable<Text>,
        reason -> Text,
        attempts -> Int4,
        first_seen_at -> Timestamptz,
        next_attempt_at -> Timestamptz,
        give_up_at -> Timestamptz,
    }
}

diesel::table! {
    order_lines (id) {
        id -> Int8,
        order_id -> Int8,
        course_id -> Int8,
        price -> Numeric,
        real_price -> Numeric,
    }
}

diesel::table! {
    payment_events (id) {
        id -> Int8,
        event_id -> Uuid,
        order_id -> Int8,
        kind -> Text,
        trade_no -> Text,
        trade_status -> Text,
        total_amount -> Numeric,
        params -> Jsonb,
        received_at -> Timestamptz,
        applied_at -> Timestamptz,
    }
}

diesel::table! {
    refunds (id) {
        id -> Int8,
        order_id -> Int8,
        out_request_no -> Text,
        amount -> Numeric,
        status -> Int2,
        reason -> Nullable<Text>,
        failure -> Nullable<Text>,
        requested_by -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    reconciliation_runs (id) {
        id -> Int8,
        bill_date -> Date,
        status -> Text,
        reason -> Nullable<Text>,
        trigger -> Text,
        attempts -> Int4,
        started_at -> Timestamptz,
        finished_at -> Nullable<Timestamptz>,
        lease_until -> Timestamptz,
        bill_payments -> Int4,
        bill_refunds -> Int4,
        orders_compared -> Int4,
        differences -> Int4,
        healed -> Int4,
    }
}

diesel::table! {
    reconciliation_differences (id) {
        id -> Int8,
        run_id -> Int8,
        kind -> Text,
        out_trade_no -> Text,
        out_request_no -> Text,
        trade_no -> Nullable<Text>,
        ours_amount -> Nullable<Text>,
        alipay_amount -> Nullable<Text>,
        ours_status -> Nullable<Text>,
        alipay_status -> Nullable<Text>,
        healed -> Bool,
        resolution -> Nullable<Text>,
        found_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::joinable!(reconciliation_differences -> reconciliation_runs (run_id));

diesel::joinable!(order_lines -> orders (order_id));
diesel::joinable!(order_lines -> courses (course_id));
diesel::joinable!(payment_events -> orders (order_id));
diesel::joinable!(refunds -> orders (order_id));

diesel::allow_tables_to_appear_in_same_query!(
    courses,
    early_events,
    orders,
    order_lines,
    payment_events,
    refunds
);
