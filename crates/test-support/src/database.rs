//! A PostgreSQL database of one test's own, dropped when the guard is (diesel's `DropGuard`
//! habit), so tests run in parallel and leave nothing behind.

use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

use crate::env::postgres_base;

/// `<prefix>_<uuid>` on the test server; `DROP DATABASE … WITH (FORCE)` on drop.
#[derive(Debug)]
pub struct TestDatabase {
    name: String,
    url: String,
    /// The server's `postgres` database, for creating and dropping this one.
    admin_url: String,
}

impl TestDatabase {
    /// Creates an empty database `<prefix>_<uuid>` on the test server (the service under test
    /// migrates it).
    pub async fn create(prefix: &str) -> Self {
        Self::create_on(&postgres_base(), prefix).await
    }

    /// [`TestDatabase::create`] on the server at `server_url` (no database name).
    pub async fn create_on(server_url: &str, prefix: &str) -> Self {
        let server_url = server_url.trim_end_matches('/');
        let name = format!("{prefix}_{}", uuid::Uuid::new_v4().simple());
        let database = Self {
            url: format!("{server_url}/{name}"),
            admin_url: format!("{server_url}/postgres"),
            name,
        };
        database
            .admin(&format!("CREATE DATABASE \"{}\"", database.name))
            .await;
        database
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
        self.admin(&format!(
            "ALTER DATABASE \"{name}\" WITH ALLOW_CONNECTIONS false"
        ))
        .await;
        self.admin(&format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
        ))
        .await;
    }

    /// Gives the database back after [`TestDatabase::refuse_connections`].
    pub async fn allow_connections(&self) {
        self.admin(&format!(
            "ALTER DATABASE \"{}\" WITH ALLOW_CONNECTIONS true",
            self.name
        ))
        .await;
    }

    async fn admin(&self, sql: &str) {
        let mut admin = AsyncPgConnection::establish(&self.admin_url)
            .await
            .expect("PostgreSQL must be running");
        diesel::sql_query(sql)
            .execute(&mut admin)
            .await
            .unwrap_or_else(|error| panic!("{sql}: {error}"));
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let (name, admin_url) = (self.name.clone(), self.admin_url.clone());
        crate::block_on_own_runtime(async move {
            if let Ok(mut admin) = AsyncPgConnection::establish(&admin_url).await {
                let _ =
                    diesel::sql_query(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                        .execute(&mut admin)
                        .await;
            }
        });
    }
}
