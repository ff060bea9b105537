//! The state every handler shares: registered apps, the signer, the trade book, the faults, the
//! bills handed out, and the channel to the notifier.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use alipay::time::Clock;
use chrono::{DateTime, Utc};

use crate::bill::BillStore;
use crate::faults::Faults;
use crate::metrics::Metrics;
use crate::notify::NotifierHandle;
use crate::pki::Pki;
use crate::settings::AppRegistration;
use crate::signing::AlipaySigner;
use crate::trade::{PendingNotice, TradeBook};

/// Locks a mutex, recovering from poisoning: every critical section leaves the data consistent
/// before anything can panic, and a sandbox that stops answering helps no test.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[derive(Debug)]
pub(crate) struct Sandbox {
    pub apps: HashMap<String, AppRegistration>,
    /// Signs for apps in public-key mode.
    pub signer: AlipaySigner,
    /// Certificate mode: the published root bundle and the Alipay certificates (rotating).
    pub pki: Option<Pki>,
    pub clock: Arc<dyn Clock>,
    pub time_scale: f64,
    pub notify_timeout: Duration,
    pub timestamp_tolerance: Duration,
    /// Base URL for the links the sandbox hands out, without a trailing slash.
    pub public_url: String,
    /// One lock for all trades: operations are tiny and in memory, and one lock makes every
    /// operation atomic across trades (out_trade_no lookups, bills).
    pub trades: Mutex<TradeBook>,
    pub faults: Mutex<Faults>,
    pub bills: Mutex<BillStore>,
    /// Hands notifications to the dispatcher on the main runtime, which outlives the actix
    /// worker that handled the request.
    pub notifier: NotifierHandle,
    /// Sends notifications; one client so connections to merchants are reused.
    pub http: reqwest::Client,
    pub metrics: Metrics,
}

impl Sandbox {
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub fn app(&self, app_id: &str) -> Option<&AppRegistration> {
        self.apps.get(app_id)
    }

    /// Who signs for `app_id` now: the current Alipay certificate's key and its SN for an app
    /// in certificate mode, the sandbox's one key (and no SN) otherwise.
    pub fn signer_for(&self, app_id: &str) -> (AlipaySigner, Option<String>) {
        let cert_mode = self.app(app_id).is_some_and(|a| a.app_cert_sn.is_some());
        match (&self.pki, cert_mode) {
            (Some(pki), true) => {
                let (signer, sn) = pki.signer();
                (signer, Some(sn))
            }
            (Some(_), false) | (None, _) => (self.signer.clone(), None),
        }
    }

    /// Runs `operation` on the trade book after closing expired trades, then queues every
    /// notification recorded meanwhile, outside the lock.
    pub fn with_book<R>(
        &self,
        operation: impl FnOnce(&mut TradeBook, DateTime<Utc>, &mut Vec<PendingNotice>) -> R,
    ) -> R {
        let now = self.now();
        let mut pending = Vec::new();
        let result = {
            let mut book = lock(&self.trades);
            book.expire_due(now, &mut pending);
            operation(&mut book, now, &mut pending)
        };
        self.enqueue(pending);
        result
    }

    /// Hands notifications to the notifier, each with the faults in force now.
    pub fn enqueue(&self, pending: Vec<PendingNotice>) {
        for notice in pending {
            let plan = lock(&self.faults).plan_notification();
            self.notifier.deliver(notice, plan);
        }
    }
}
