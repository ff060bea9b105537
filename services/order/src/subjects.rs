//! Order subjects (the title Alipay's cashier shows), predicted from the orders opened before, so
//! that a new order's pay link can be signed while the database opens the order instead of after.
//!
//! An order is named after its first course: the course's name, trimmed, cut to fit Alipay's 256
//! characters, and " (+N more)" when there are more courses (`open_orders` in the migrations).
//! The database names every order it opens and stays the authority: a link signed ahead is handed
//! out only if its subject is the one the database gave the order, and otherwise (a course renamed
//! since) it is signed again. The names kept here are read off the subjects the database returned
//! for earlier orders, so predicting costs no query.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// Where `open_orders` cuts a subject, in characters: Alipay's limit.
const MAX_SUBJECT_CHARS: usize = 256;

/// Names kept at most: a catalog's worth. Past it, orders for courses not yet seen are simply
/// signed after they are opened, as every order was before.
const MAX_NAMES: usize = 10_000;

/// The first courses' names, as the database last named orders after them.
#[derive(Debug, Default)]
pub struct Subjects {
    names: RwLock<HashMap<i64, Arc<str>>>,
}

impl Subjects {
    /// The subject the database will give an order of these courses, if its first course's name
    /// is known.
    pub fn predict(&self, course_ids: &[i64]) -> Option<String> {
        let first = course_ids.first()?;
        let name = self.names.read().ok()?.get(first).cloned()?;
        Some(subject(&name, course_ids.len()))
    }

    /// Reads the first course's name off the subject the database gave an order of these
    /// courses. A subject cut to fit says too little, and its course is forgotten instead.
    pub fn learn(&self, course_ids: &[i64], subject: &str) {
        let Some(&first) = course_ids.first() else {
            return;
        };
        let name = (subject.chars().count() < MAX_SUBJECT_CHARS)
            .then(|| subject.strip_suffix(suffix(course_ids.len()).as_str()))
            .flatten();
        // Every new order comes here, and almost always with the name already known: that case
        // only reads, so concurrent orders do not queue for the write lock.
        let known = |names: &HashMap<i64, Arc<str>>| {
            name.is_some_and(|name| names.get(&first).is_some_and(|known| **known == *name))
        };
        if self.names.read().is_ok_and(|names| known(&names)) {
            return;
        }
        let Ok(mut names) = self.names.write() else {
            return;
        };
        match name {
            _ if known(&names) => {}
            Some(name) if names.len() < MAX_NAMES || names.contains_key(&first) => {
                names.insert(first, Arc::from(name));
            }
            _ => {
                names.remove(&first);
            }
        }
    }
}

/// What follows the first course's name: how many more courses the order holds.
fn suffix(courses: usize) -> String {
    if courses > 1 {
        format!(" (+{} more)", courses - 1)
    } else {
        String::new()
    }
}

/// `open_orders`' rule, for a first course whose name is already trimmed.
fn subject(trimmed_name: &str, courses: usize) -> String {
    let suffix = suffix(courses);
    let room = MAX_SUBJECT_CHARS.saturating_sub(suffix.chars().count());
    let mut subject: String = trimmed_name.chars().take(room).collect();
    subject.push_str(&suffix);
    subject
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_is_predicted_before_a_course_is_seen() {
        let subjects = Subjects::default();
        assert_eq!(subjects.predict(&[1]), None);
        subjects.learn(&[1, 2], "Rust (+1 more)");
        assert_eq!(subjects.predict(&[2, 1]), None);
    }

    #[test]
    fn the_name_learnt_from_one_order_names_the_next_whatever_its_size() {
        let subjects = Subjects::default();
        subjects.learn(&[7, 8, 9], "Rust for payments (+2 more)");
        assert_eq!(subjects.predict(&[7]).as_deref(), Some("Rust for payments"));
        assert_eq!(
            subjects
                .predict(&[7, 1, 2, 3, 4, 5, 6, 8, 9, 10, 11])
                .as_deref(),
            Some("Rust for payments (+10 more)")
        );
    }

    #[test]
    fn a_subject_that_does_not_end_as_expected_forgets_the_course() {
        let subjects = Subjects::default();
        subjects.learn(&[7], "Rust");
        subjects.learn(&[7, 8], "Rust (+2 more)");
        assert_eq!(subjects.predict(&[7]), None);
    }

    #[test]
    fn a_renamed_course_is_predicted_by_its_new_name_once_seen() {
        let subjects = Subjects::default();
        subjects.learn(&[7], "Rust");
        subjects.learn(&[7], "Rust, second edition");
        assert_eq!(
            subjects.predict(&[7]).as_deref(),
            Some("Rust, second edition")
        );
    }

    #[test]
    fn a_subject_cut_to_fit_is_not_learnt_from() {
        let long = "長".repeat(MAX_SUBJECT_CHARS - 10);
        let subjects = Subjects::default();
        subjects.learn(&[7, 8], &format!("{long} (+1 more)"));
        assert_eq!(subjects.predict(&[7]), None);

        // One character short of the limit was not cut: it is the whole name.
        let name = "x".repeat(MAX_SUBJECT_CHARS - 1);
        subjects.learn(&[7], &name);
        assert_eq!(subjects.predict(&[7]).as_deref(), Some(name.as_str()));
        // The same name with a suffix is cut, in characters, as the database cuts it.
        let predicted = subjects.predict(&[7, 8]).unwrap_or_default();
        assert_eq!(predicted.chars().count(), MAX_SUBJECT_CHARS);
        assert!(predicted.ends_with("x (+1 more)"));
    }

    #[test]
    fn past_a_catalog_s_worth_new_courses_are_not_kept() {
        let subjects = Subjects::default();
        for id in 0..MAX_NAMES as i64 {
            subjects.learn(&[id], "course");
        }
        subjects.learn(&[-1], "one too many");
        assert_eq!(subjects.predict(&[-1]), None);
        // Known courses still follow renames.
        subjects.learn(&[3], "renamed");
        assert_eq!(subjects.predict(&[3]).as_deref(), Some("renamed"));
    }
}
