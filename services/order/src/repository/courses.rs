//! `courses`: the catalog.

use common::money::Money;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;
use serde::Serialize;

use super::{RepoError, money};
use crate::schema::courses;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = courses)]
#[diesel(check_for_backend(diesel::pg::Pg))]
struct CourseRow {
    id: i64,
    name: String,
    price: Decimal,
    active: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Course {
    pub id: i64,
    pub name: String,
    pub price: Money,
    pub active: bool,
}

impl TryFrom<CourseRow> for Course {
    type Error = RepoError;
    fn try_from(row: CourseRow) -> Result<Self, RepoError> {
        Ok(Course {
            price: money("courses", row.id, row.price)?,
            id: row.id,
            name: row.name,
            active: row.active,
        })
    }
}

/// Active courses, by id.
pub async fn active_courses(conn: &mut AsyncPgConnection) -> Result<Vec<Course>, RepoError> {
    courses::table
        .filter(courses::active.eq(true))
        .order(courses::id)
        .select(CourseRow::as_select())
        .load(conn)
        .await?
        .into_iter()
        .map(Course::try_from)
        .collect()
}

pub async fn find_course(
    conn: &mut AsyncPgConnection,
    id: i64,
) -> Result<Option<Course>, RepoError> {
    courses::table
        .find(id)
        .select(CourseRow::as_select())
        .first(conn)
        .await
        .optional()?
        .map(Course::try_from)
        .transpose()
}

/// Adds a course (operators and tests; the HTTP API has no catalog editing yet).
pub async fn insert_course(
    conn: &mut AsyncPgConnection,
    name: &str,
    price: Money,
    active: bool,
) -> Result<Course, RepoError> {
    diesel::insert_into(courses::table)
        .values((
            courses::name.eq(name),
            courses::price.eq(price.decimal()),
            courses::active.eq(active),
        ))
        .returning(CourseRow::as_returning())
        .get_result(conn)
        .await?
        .try_into()
}
