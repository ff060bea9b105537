//! Fault injection, set through `PUT /sandbox/faults` and cleared by `DELETE`.
//!
//! Counts (`drop`, `fail_5xx`) are used up one by one; the other settings stay until replaced
//! or cleared. Sticky notification settings are read when a notification is queued, so a test can
//! set a fault, trigger the notification and clear the fault without racing the delivery.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Upper bound for `delay_ms` and `timeout_ms`: ten minutes is longer than any client waits.
const MAX_DELAY_MS: u64 = 600_000;
/// Upper bound for `repeat`.
const MAX_REPEAT: u32 = 100;

/// The whole fault configuration, exactly the JSON of `PUT /sandbox/faults`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    pub notify: NotifyFaults,
    pub api: ApiFaults,
}

/// Faults on asynchronous notifications.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotifyFaults {
    /// The next N notifications are lost: never sent, no retries.
    pub drop: u32,
    /// Each notification's first delivery is sent this many times (duplicates, same
    /// `notify_id`), even when the first copy was acknowledged. 0 and 1 mean once.
    pub repeat: u32,
    /// Each notification's first attempt waits this long (on top of the schedule).
    pub delay_ms: u64,
    /// Notifications carry a signature that does not verify.
    pub tamper_sign: bool,
    /// `fund_bill_list` is sent with `"` escaped as `&quot;` after signing, as a mangling proxy
    /// or template would: the signature no longer verifies over the received value.
    pub html_escape_fund_bill_list: bool,
    /// Notifications go out in pairs, the later one first: one is held back until the next is
    /// sent (or until this fault is changed or cleared).
    pub out_of_order: bool,
}

/// Faults on the server APIs of `/gateway.do` (page and wap pay are never affected).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiFaults {
    /// The next N server API calls get HTTP 503 without being processed.
    pub fail_5xx: u32,
    /// Every server API call is processed, then answered only after this delay, so a client
    /// with a shorter timeout sees a timeout while the call took effect (result unknown).
    pub timeout_ms: u64,
}

impl Faults {
    /// Checks limits; the message is for the test author.
    pub fn validate(&self) -> Result<(), String> {
        if self.notify.delay_ms > MAX_DELAY_MS || self.api.timeout_ms > MAX_DELAY_MS {
            return Err(format!(
                "delay_ms and timeout_ms must be at most {MAX_DELAY_MS}"
            ));
        }
        if self.notify.repeat > MAX_REPEAT {
            return Err(format!("repeat must be at most {MAX_REPEAT}"));
        }
        Ok(())
    }

    /// How the next notification is sent; uses up one `drop`.
    pub fn plan_notification(&mut self) -> NotifyPlan {
        let drop = self.notify.drop > 0;
        self.notify.drop = self.notify.drop.saturating_sub(1);
        NotifyPlan {
            drop,
            copies: self.notify.repeat.max(1),
            delay: Duration::from_millis(self.notify.delay_ms),
            tamper_sign: self.notify.tamper_sign,
            html_escape_fund_bill_list: self.notify.html_escape_fund_bill_list,
            out_of_order: self.notify.out_of_order,
        }
    }

    /// How the next server API call is answered; uses up one `fail_5xx`.
    pub fn plan_api_call(&mut self) -> ApiPlan {
        let fail = self.api.fail_5xx > 0;
        self.api.fail_5xx = self.api.fail_5xx.saturating_sub(1);
        ApiPlan {
            fail_5xx: fail,
            delay: Duration::from_millis(self.api.timeout_ms),
        }
    }
}

/// The faults applying to one notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NotifyPlan {
    pub drop: bool,
    pub copies: u32,
    pub delay: Duration,
    pub tamper_sign: bool,
    pub html_escape_fund_bill_list: bool,
    pub out_of_order: bool,
}

/// The faults applying to one server API call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiPlan {
    pub fail_5xx: bool,
    pub delay: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_used_up_and_the_rest_stays() {
        let mut faults: Faults = serde_json::from_str(
            r#"{"notify":{"drop":1,"repeat":3},"api":{"fail_5xx":2,"timeout_ms":5}}"#,
        )
        .unwrap();
        assert!(faults.plan_notification().drop);
        let second = faults.plan_notification();
        assert!(!second.drop);
        assert_eq!(second.copies, 3);
        assert!(faults.plan_api_call().fail_5xx);
        assert!(faults.plan_api_call().fail_5xx);
        let third = faults.plan_api_call();
        assert!(!third.fail_5xx);
        assert_eq!(third.delay, Duration::from_millis(5));
    }

    #[test]
    fn unknown_fields_and_silly_values_are_refused() {
        assert!(serde_json::from_str::<Faults>(r#"{"notify":{"dorp":1}}"#).is_err());
        let faults: Faults = serde_json::from_str(r#"{"api":{"timeout_ms":600001}}"#).unwrap();
        assert!(faults.validate().is_err());
        assert_eq!(
            serde_json::from_str::<Faults>("{}").unwrap(),
            Faults::default()
        );
    }
}
