//! Where the test environment's servers are. Defaults are the local services that
//! `scripts/ensure-services.sh` starts (trust authentication on loopback, RabbitMQ's guest).

/// RabbitMQ (`AMQP_URL`).
pub fn amqp_url() -> String {
    std::env::var("AMQP_URL").unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

/// The PostgreSQL server that hosts the per-test databases, without a database name
/// (`TEST_POSTGRES_URL`).
pub fn postgres_base() -> String {
    std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}
