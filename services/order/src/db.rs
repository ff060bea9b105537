//! The connection pool, the embedded migrations and the demo catalog.

use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_async::pooled_connection::deadpool::{Object, Pool, PoolError};
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

/// The workspace's top-level `migrations/`, compiled into the binary.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations");

/// The advisory-lock key that serialises migrations across replicas (any constant unique to
/// this database's users; the bytes spell "coursepa").
const MIGRATION_LOCK_KEY: i64 = 0x636f_7572_7365_7061;

pub type PgPool = Pool<AsyncPgConnection>;
pub type PgConn = Object<AsyncPgConnection>;

/// The three courses of the original tutorial, for local runs and demos.
pub const DEMO_COURSES: [(&str, &str); 3] = [
    ("Python 入门", "99.90"),
    ("Django 实战", "199.00"),
    ("Rust 微服务", "299.50"),
];

#[derive(Debug, thiserror::Error)]
pub enum DbSetupError {
    #[error("building the database pool: {0}")]
    Pool(String),
    #[error("connecting to the database (DATABASE_URL) to migrate: {0}")]
    Connect(#[source] diesel::ConnectionError),
    #[error("running the migrations: {0}")]
    Migrate(String),
    #[error("the migration task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
    #[error("seeding the demo catalog: {0}")]
    Seed(#[source] diesel::result::Error),
    #[error("taking a connection from the pool: {0}")]
    Checkout(#[from] PoolError),
}

/// A pool of `size` connections; connections open lazily, so start-up does not wait for them.
pub fn pool(database_url: &str, size: usize) -> Result<PgPool, DbSetupError> {
    let mut config = ManagerConfig::default();
    // `Verified` runs a test query at every checkout: one round trip per request for a failure
    // that the next real query reports anyway (and the pool then discards that connection).
    config.recycling_method = RecyclingMethod::Fast;
    let manager =
        AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(database_url, config);
    Pool::builder(manager)
        .max_size(size)
        // A request waiting longer than this for a connection gets a 503 rather than hanging.
        .wait_timeout(Some(std::time::Duration::from_secs(5)))
        .create_timeout(Some(std::time::Duration::from_secs(5)))
        .runtime(deadpool::Runtime::Tokio1)
        .build()
        .map_err(|e| DbSetupError::Pool(e.to_string()))
}

/// Applies pending migrations. Runs on a blocking thread with its own connection, so it works on
/// any runtime flavour (diesel's harness is synchronous).
pub async fn run_migrations(database_url: &str) -> Result<(), DbSetupError> {
    let url = database_url.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut connection: AsyncConnectionWrapper<AsyncPgConnection> =
            diesel::Connection::establish(&url).map_err(DbSetupError::Connect)?;
        // Replicas that start together would otherwise race to apply the same migration (one
        // of them failing on a table that already exists); the session-level advisory lock
        // makes them take turns, and the later ones find nothing pending.
        let lock = |sql: &str, connection: &mut AsyncConnectionWrapper<AsyncPgConnection>| {
            diesel::RunQueryDsl::execute(diesel::sql_query(sql), connection)
                .map(drop)
                .map_err(|e| DbSetupError::Migrate(format!("migration lock: {e}")))
        };
        lock(
            &format!("SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})"),
            &mut connection,
        )?;
        let applied = connection
            .run_pending_migrations(MIGRATIONS)
            .map(drop)
            .map_err(|e| DbSetupError::Migrate(e.to_string()));
        // Released with the session anyway when the connection drops; unlocking says so.
        let unlocked = lock(
            &format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})"),
            &mut connection,
        );
        applied.and(unlocked)
    })
    .await?
}

/// Inserts the demo courses when the catalog is empty (ids 1, 2, 3 on a new database); a catalog
/// that has any course is never touched. Returns how many were inserted. An advisory lock makes
/// two replicas starting together seed once.
pub async fn seed_demo_courses(pool: &PgPool) -> Result<usize, DbSetupError> {
    use diesel_async::AsyncConnection as _;
    let mut conn = pool.get().await?;
    conn.transaction::<usize, diesel::result::Error, _>(async |conn| {
        diesel::sql_query("SELECT pg_advisory_xact_lock(7262011)")
            .execute(conn)
            .await?;
        diesel::sql_query(
            "INSERT INTO courses (name, price) \
             SELECT name, price::numeric FROM (VALUES ($1, $2, 1), ($3, $4, 2), ($5, $6, 3)) \
                 AS demo (name, price, position) \
             WHERE NOT EXISTS (SELECT 1 FROM courses) ORDER BY position",
        )
        .bind::<diesel::sql_types::Text, _>(DEMO_COURSES[0].0)
        .bind::<diesel::sql_types::Text, _>(DEMO_COURSES[0].1)
        .bind::<diesel::sql_types::Text, _>(DEMO_COURSES[1].0)
        .bind::<diesel::sql_types::Text, _>(DEMO_COURSES[1].1)
        .bind::<diesel::sql_types::Text, _>(DEMO_COURSES[2].0)
        .bind::<diesel::sql_types::Text, _>(DEMO_COURSES[2].1)
        .execute(conn)
        .await
    })
    .await
    .map_err(DbSetupError::Seed)
}
