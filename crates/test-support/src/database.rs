//! A PostgreSQL database of one test's own, dropped when the guard is (diesel's `DropGuard`
//! habit), so tests run in parallel and leave nothing behind.

use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

use crate::env::{postgres_admin_url, postgres_base};

/// `<prefix>_<uuid>` on the test server; `DROP DATABASE … WITH (FORCE)` on drop.
#[derive(Debug)]
pub struct TestDatabase {
    name: String,
    url: String,
}

impl TestDatabase {
    /// Creates an empty database `<prefix>_<uuid>` (the service under test migrates it).
    pub async fn create(prefix: &str) -> Self {
        let name = format!("{prefix}_{}", uuid::Uuid::new_v4().simple());
        admin(&format!("CREATE DATABASE \"{name}\"")).await;
        let url = format!("{}/{name}", postgres_base());
        Self { name, url }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// A new connection to this database.
    pub async fn connect(&self) -> AsyncPgConnection {
        AsyncPgConnection::establish(&self.url).await.unwrap()
    }

    /// Takes the database away: new connections are refused and the open ones ended, so to a
    /// service it is a database that went down.
    pub async fn refuse_connections(&self) {
        let name = &self.name;
        admin(&format!(
            "ALTER DATABASE \"{name}\" WITH ALLOW_CONNECTIONS false"
        ))
        .await;
        admin(&format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
        ))
        .await;
    }

    /// Gives the database back after [`TestDatabase::refuse_connections`].
    pub async fn allow_connections(&self) {
        admin(&format!(
            "ALTER DATABASE \"{}\" WITH ALLOW_CONNECTIONS true",
            self.name
        ))
        .await;
    }
}

/// A connection to the server's `postgres` database.
pub async fn admin_connection() -> AsyncPgConnection {
    AsyncPgConnection::establish(&postgres_admin_url())
        .await
        .expect("PostgreSQL must be running for these tests")
}

async fn admin(sql: &str) {
    diesel::sql_query(sql)
        .execute(&mut admin_connection().await)
        .await
        .unwrap_or_else(|error| panic!("{sql}: {error}"));
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        crate::block_on_own_runtime(async move {
            if let Ok(mut admin) = AsyncPgConnection::establish(&postgres_admin_url()).await {
                let _ =
                    diesel::sql_query(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                        .execute(&mut admin)
                        .await;
            }
        });
    }
}
