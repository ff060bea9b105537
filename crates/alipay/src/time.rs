//! Beijing time (UTC+8, no daylight saving), whatever the host's zone, from an injectable clock.
//!
//! Alipay's `timestamp`, `time_expire`, `notify_time`, `gmt_*` and `send_pay_date` are all
//! `yyyy-MM-dd HH:mm:ss` in China Standard Time. Servers outside China that format local time get
//! `isv.invalid-timestamp` or trades that expire at the wrong hour, so every conversion goes
//! through this module.

use std::fmt;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, FixedOffset, NaiveDateTime, TimeZone, Utc};

/// The layout of every Alipay timestamp.
pub const FORMAT: &str = "%Y-%m-%d %H:%M:%S";

/// China Standard Time, UTC+8 all year: the merchant's calendar, shared with the services.
const BEIJING: FixedOffset = domain::beijing::OFFSET;

/// China Standard Time.
pub fn beijing() -> FixedOffset {
    BEIJING
}

/// Formats an instant as Alipay does: Beijing wall-clock time, seconds precision.
pub fn format_beijing(instant: DateTime<Utc>) -> String {
    instant.with_timezone(&beijing()).format(FORMAT).to_string()
}

/// A timestamp Alipay sent that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a Beijing time in the form yyyy-MM-dd HH:mm:ss")]
pub struct TimeError(pub String);

/// Parses `yyyy-MM-dd HH:mm:ss`, with an optional fraction of 1–3 digits (`gmt_refund` carries
/// milliseconds), as Beijing time.
pub fn parse_beijing(text: &str) -> Result<DateTime<Utc>, TimeError> {
    let error = || TimeError(text.to_owned());
    let (whole, fraction) = match text.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (text, None),
    };
    if whole.len() != 19 {
        return Err(error());
    }
    let naive = NaiveDateTime::parse_from_str(whole, FORMAT).map_err(|_| error())?;
    let millis = match fraction {
        None => 0,
        Some(digits)
            if (1..=3).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) =>
        {
            let value: i64 = digits.parse().map_err(|_| error())?;
            value * 10_i64.pow(3 - digits.len() as u32)
        }
        Some(_) => return Err(error()),
    };
    let local = beijing()
        .from_local_datetime(&naive)
        .single()
        .ok_or_else(error)?;
    Ok(local.with_timezone(&Utc) + Duration::milliseconds(millis))
}

/// Where "now" comes from. Tests and the sandbox's time scaling inject their own.
pub trait Clock: Send + Sync + fmt::Debug {
    fn now(&self) -> DateTime<Utc>;
}

/// The real clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that stands still until moved; cloning shares the same time.
#[derive(Debug, Clone)]
pub struct FixedClock(Arc<Mutex<DateTime<Utc>>>);

impl FixedClock {
    pub fn new(at: DateTime<Utc>) -> Self {
        FixedClock(Arc::new(Mutex::new(at)))
    }

    /// A clock at a Beijing wall-clock time such as `2024-01-02 03:04:05`.
    pub fn at_beijing(text: &str) -> Result<Self, TimeError> {
        Ok(Self::new(parse_beijing(text)?))
    }

    pub fn set(&self, at: DateTime<Utc>) {
        if let Ok(mut now) = self.0.lock() {
            *now = at;
        }
    }

    pub fn advance(&self, by: Duration) {
        if let Ok(mut now) = self.0.lock() {
            *now += by;
        }
    }
}

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        self.0
            .lock()
            .map(|now| *now)
            .unwrap_or_else(|poisoned| *poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_in_beijing_whatever_the_host_zone() {
        let instant = Utc.with_ymd_and_hms(2024, 1, 1, 19, 4, 5).unwrap();
        assert_eq!(format_beijing(instant), "2024-01-02 03:04:05");
    }

    #[test]
    fn parses_seconds_and_milliseconds() {
        let at = parse_beijing("2024-05-18 14:04:13.027").unwrap();
        assert_eq!(at.timestamp_subsec_millis(), 27);
        assert_eq!(format_beijing(at), "2024-05-18 14:04:13");
        assert_eq!(
            parse_beijing("2024-05-18 14:04:13.3")
                .unwrap()
                .timestamp_subsec_millis(),
            300
        );
        for bad in [
            "2024-05-18",
            "2024-05-18T14:04:13",
            "2024-05-18 14:04:13.",
            "2024-05-18 14:04:13.1234",
            "",
        ] {
            assert!(parse_beijing(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn fixed_clock_moves_only_when_told() {
        let clock = FixedClock::at_beijing("2024-01-02 03:04:05").unwrap();
        clock.advance(Duration::seconds(60));
        assert_eq!(format_beijing(clock.now()), "2024-01-02 03:05:05");
    }
}
