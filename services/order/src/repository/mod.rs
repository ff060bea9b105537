//! Database access, one module per table (order lines with their order): read models
//! (`Queryable + Selectable`), insert models, and one function per query, each taking the
//! connection (so callers choose the transaction). No business decisions here; `payments`,
//! `orders` and `refunds` make them. Everything is re-exported here, so callers write
//! `repository::find_order`.

mod courses;
mod orders;
mod payment_events;
mod refunds;

pub use courses::*;
pub use orders::*;
pub use payment_events::*;
pub use refunds::*;

use common::money::Money;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;

/// A query failed, or a row holds what the schema should have prevented.
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
    #[error("row {table}#{id} is inconsistent: {problem}")]
    Corrupt {
        table: &'static str,
        id: i64,
        problem: String,
    },
}

impl RepoError {
    /// Whether the database could not be reached (or went away mid-statement), as opposed to a
    /// statement it refused: the first passes by itself, so work that meets it waits and retries.
    pub fn is_unavailable(&self) -> bool {
        use diesel::result::{DatabaseErrorKind, Error};
        match self {
            RepoError::Query(
                Error::DatabaseError(DatabaseErrorKind::ClosedConnection, _)
                | Error::DatabaseError(DatabaseErrorKind::Unknown, _)
                | Error::BrokenTransactionManager,
            ) => true,
            RepoError::Query(_) | RepoError::Corrupt { .. } => false,
        }
    }
}

/// Makes `$statement` (a struct whose `QueryFragment<Pg>` pushes one fixed SQL text and its
/// binds) a query returning rows of `$row`, which diesel-async prepares once per connection and
/// reuses.
///
/// Why not `diesel::sql_query`: it marks every statement unsafe to cache, and a multi-row
/// `insert_into(…).values(&rows)` has a different text for each row count, so PostgreSQL parsed
/// and planned the consumer's batch statements on every batch (7.5% of its CPU per applied
/// payment under load; perf, issue 16). A statement that leaves the mark off and has no static
/// query id is cached under its SQL text, which here never changes.
macro_rules! prepared_statement {
    ($statement:ident, $row:ty) => {
        impl diesel::query_builder::QueryId for $statement<'_> {
            type QueryId = ();
            const HAS_STATIC_QUERY_ID: bool = false;
        }

        impl diesel::query_builder::Query for $statement<'_> {
            type SqlType = $row;
        }
    };
}
pub(crate) use prepared_statement;

pub(crate) fn money(table: &'static str, id: i64, value: Decimal) -> Result<Money, RepoError> {
    Money::from_decimal(value).map_err(|e| RepoError::Corrupt {
        table,
        id,
        problem: e.to_string(),
    })
}

/// `SELECT 1`, for `/readyz`.
pub async fn ping(conn: &mut AsyncPgConnection) -> Result<(), RepoError> {
    diesel::sql_query("SELECT 1").execute(conn).await?;
    Ok(())
}
