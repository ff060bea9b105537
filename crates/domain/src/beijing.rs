//! The merchant's calendar: China Standard Time, UTC+8 all year (no daylight saving), whatever the
//! host's zone. A day of Alipay's bill is such a day, so reconciling one needs its bounds; this is
//! only that arithmetic, not Alipay's text format (which the `alipay` crate's `time` module owns).

use chrono::{DateTime, Days, FixedOffset, NaiveDate, NaiveTime, TimeZone, Utc};

/// China Standard Time.
pub const OFFSET: FixedOffset = match FixedOffset::east_opt(8 * 3600) {
    Some(offset) => offset,
    None => panic!("UTC+8 is a valid offset"),
};

/// The Beijing calendar date of an instant.
pub fn date_of(instant: DateTime<Utc>) -> NaiveDate {
    instant.with_timezone(&OFFSET).date_naive()
}

/// The instant a Beijing wall-clock time stands for.
pub fn at(date: NaiveDate, time: NaiveTime) -> DateTime<Utc> {
    // A fixed offset maps every local time to exactly one instant.
    OFFSET
        .from_local_datetime(&date.and_time(time))
        .single()
        .map_or(DateTime::<Utc>::MIN_UTC, |local| local.with_timezone(&Utc))
}

/// `[start, end)` of a Beijing calendar day.
pub fn day(date: NaiveDate) -> (DateTime<Utc>, DateTime<Utc>) {
    let next = date.checked_add_days(Days::new(1)).unwrap_or(date);
    (at(date, NaiveTime::MIN), at(next, NaiveTime::MIN))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_beijing_day_starts_at_16_utc() {
        let (start, end) = day(NaiveDate::from_ymd_opt(2026, 12, 4).unwrap());
        assert_eq!(start.to_rfc3339(), "2026-12-03T16:00:00+00:00");
        assert_eq!(end.to_rfc3339(), "2026-12-04T16:00:00+00:00");
    }

    #[test]
    fn late_utc_evening_is_the_next_beijing_day() {
        let evening = Utc.with_ymd_and_hms(2026, 12, 4, 16, 0, 0).unwrap();
        assert_eq!(
            date_of(evening),
            NaiveDate::from_ymd_opt(2026, 12, 5).unwrap()
        );
        let before = Utc.with_ymd_and_hms(2026, 12, 4, 15, 59, 59).unwrap();
        assert_eq!(
            date_of(before),
            NaiveDate::from_ymd_opt(2026, 12, 4).unwrap()
        );
    }
}
