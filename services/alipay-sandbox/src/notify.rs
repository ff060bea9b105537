//! Asynchronous notifications: signed form POSTs to the merchant's `notify_url`, retried on
//! Alipay's schedule until the answer is exactly `success`.
//!
//! Handlers run on actix's worker runtimes, which stop with the server; deliveries that take
//! hours must not. So handlers only send a [`Command`] to the [`Dispatcher`], which runs on the
//! runtime that started the sandbox and spawns one task per notification there. Every attempt
//! is re-signed with its own `notify_time`; `notify_id` stays the same across retries.

use std::sync::Arc;
use std::time::Duration;

use alipay::time::format_beijing;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::faults::NotifyPlan;
use crate::state::{Sandbox, lock};
use crate::trade::{Attempt, DeliveryState, PendingNotice, format_millis};

/// Alipay's schedule: at once, then after 4m, 10m, 10m, 1h, 2h, 6h and 15h (8 sends in about
/// 25 hours), each gap multiplied by the time scale.
pub const SCHEDULE_SECS: [u64; 8] = [
    0,
    4 * 60,
    10 * 60,
    10 * 60,
    3600,
    2 * 3600,
    6 * 3600,
    15 * 3600,
];

/// How much of a merchant's answer is kept for the test API.
const KEPT_ANSWER_CHARS: usize = 2000;

/// One notification to deliver.
#[derive(Debug)]
pub(crate) struct Job {
    pending: PendingNotice,
    plan: NotifyPlan,
}

#[derive(Debug)]
pub(crate) enum Command {
    /// Boxed: a notification is large and the channel holds many commands.
    Deliver(Box<Job>),
    /// Send the notification held back by `out_of_order` now (the fault was changed).
    ReleaseHeld,
}

/// The sending side, held by the shared state.
#[derive(Debug, Clone)]
pub(crate) struct NotifierHandle {
    tx: mpsc::UnboundedSender<Command>,
}

impl NotifierHandle {
    pub fn new() -> (Self, mpsc::UnboundedReceiver<Command>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (NotifierHandle { tx }, rx)
    }

    pub fn deliver(&self, pending: PendingNotice, plan: NotifyPlan) {
        if self
            .tx
            .send(Command::Deliver(Box::new(Job { pending, plan })))
            .is_err()
        {
            tracing::warn!("notifier stopped; notification not sent");
        }
    }

    pub fn release_held(&self) {
        let _ = self.tx.send(Command::ReleaseHeld);
    }
}

/// Receives commands and spawns deliveries; owns the one notification `out_of_order` holds.
pub(crate) struct Dispatcher {
    rx: mpsc::UnboundedReceiver<Command>,
    sandbox: Arc<Sandbox>,
    held: Option<Job>,
    shutdown: CancellationToken,
}

impl Dispatcher {
    pub fn new(
        rx: mpsc::UnboundedReceiver<Command>,
        sandbox: Arc<Sandbox>,
        shutdown: CancellationToken,
    ) -> Self {
        Dispatcher {
            rx,
            sandbox,
            held: None,
            shutdown,
        }
    }

    pub async fn run(mut self) {
        loop {
            let command = tokio::select! {
                command = self.rx.recv() => command,
                () = self.shutdown.cancelled() => None,
            };
            match command {
                Some(Command::Deliver(job)) => self.dispatch(*job),
                Some(Command::ReleaseHeld) => {
                    if let Some(held) = self.held.take() {
                        self.spawn(held, None, None);
                    }
                }
                None => break,
            }
        }
        if let Some(held) = self.held.take() {
            set_state(&self.sandbox, &held.pending, DeliveryState::Abandoned);
        }
    }

    fn dispatch(&mut self, job: Job) {
        if job.plan.drop {
            tracing::info!(notify_id = %job.pending.notice.notify_id, "fault: notification dropped");
            set_state(&self.sandbox, &job.pending, DeliveryState::Dropped);
            return;
        }
        if !job.plan.out_of_order {
            self.spawn(job, None, None);
            return;
        }
        match self.held.take() {
            None => {
                set_state(&self.sandbox, &job.pending, DeliveryState::Held);
                self.held = Some(job);
            }
            Some(earlier) => {
                // The later notification goes first; the earlier one starts once the later one's
                // first round of attempts is over.
                let (done_tx, done_rx) = oneshot::channel();
                set_state(&self.sandbox, &earlier.pending, DeliveryState::Queued);
                self.spawn(job, None, Some(done_tx));
                self.spawn(earlier, Some(done_rx), None);
            }
        }
    }

    fn spawn(
        &self,
        job: Job,
        wait_for: Option<oneshot::Receiver<()>>,
        first_round_done: Option<oneshot::Sender<()>>,
    ) {
        let sandbox = Arc::clone(&self.sandbox);
        let shutdown = self.shutdown.clone();
        tokio::spawn(async move {
            let pending = job.pending.clone();
            tokio::select! {
                () = deliver(Arc::clone(&sandbox), job, wait_for, first_round_done) => {}
                () = shutdown.cancelled() => set_state(&sandbox, &pending, DeliveryState::Abandoned),
            }
        });
    }
}

/// The wait before attempt `index` (0-based) under `time_scale`.
pub fn gap(index: usize, time_scale: f64) -> Duration {
    let seconds = SCHEDULE_SECS.get(index).copied().unwrap_or(0) as f64 * time_scale;
    Duration::try_from_secs_f64(seconds).unwrap_or(Duration::MAX)
}

async fn deliver(
    sandbox: Arc<Sandbox>,
    job: Job,
    wait_for: Option<oneshot::Receiver<()>>,
    first_round_done: Option<oneshot::Sender<()>>,
) {
    if let Some(wait_for) = wait_for {
        let _ = wait_for.await;
    }
    let mut first_round_done = first_round_done;
    let mut number = 0u32;
    for index in 0..SCHEDULE_SECS.len() {
        let mut wait = gap(index, sandbox.time_scale);
        let mut copies = 1;
        if index == 0 {
            wait += job.plan.delay;
            copies = job.plan.copies;
        }
        tokio::time::sleep(wait).await;
        let mut acknowledged = false;
        for _ in 0..copies {
            number += 1;
            acknowledged |= attempt(&sandbox, &job, number).await;
        }
        if let Some(done) = first_round_done.take() {
            let _ = done.send(());
        }
        if acknowledged {
            set_state(&sandbox, &job.pending, DeliveryState::Acknowledged);
            return;
        }
    }
    tracing::warn!(notify_id = %job.pending.notice.notify_id, "notification never acknowledged; giving up");
    set_state(&sandbox, &job.pending, DeliveryState::Exhausted);
}

/// Sends one copy; `true` when the merchant acknowledged it.
async fn attempt(sandbox: &Sandbox, job: &Job, number: u32) -> bool {
    let pending = &job.pending;
    let now = sandbox.now();
    let mut pairs = pending.notice.pairs(&format_beijing(now));
    // Signed with whatever certificate is current when this copy is sent: a rotation between
    // attempts shows in the retries, as it would at Alipay.
    let (signer, alipay_cert_sn) = sandbox.signer_for(&pending.notice.app_id);
    if let Some(sn) = alipay_cert_sn {
        pairs.push(("alipay_cert_sn".to_owned(), sn));
    }
    let mut form = match signer.sign_form(pairs, pending.notice.sign_type) {
        Ok(form) => form,
        Err(error) => {
            tracing::error!(%error, notify_id = %pending.notice.notify_id, "signing a notification failed");
            return false;
        }
    };
    if job.plan.tamper_sign {
        // A genuine signature over other content: valid base64, wrong for this message.
        let other = format!("{}&tampered=1", form.string_to_sign());
        if let Ok(wrong) = signer.sign_text(&other, pending.notice.sign_type) {
            form.replace("sign", wrong);
        }
    }
    let escaped = job.plan.html_escape_fund_bill_list && pending.notice.fund_bill_list.is_some();
    if let Some(list) = pending.notice.fund_bill_list.as_ref().filter(|_| escaped) {
        form.replace("fund_bill_list", list.replace('"', "&quot;"));
    }
    let body = form.encoded();
    let sent_after_ms = u64::try_from(
        sandbox
            .with_trade_record(pending, |record| record.queued_at.elapsed().as_millis())
            .unwrap_or(0),
    )
    .unwrap_or(u64::MAX);
    let result = sandbox
        .http
        .post(&pending.url)
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded; charset=utf-8",
        )
        .timeout(sandbox.notify_timeout)
        .body(body.clone())
        .send()
        .await;
    let (http_status, response_body, error) = match result {
        Ok(response) => {
            let status = response.status();
            match response.bytes().await {
                Ok(bytes) => {
                    let text = String::from_utf8_lossy(&bytes)
                        .chars()
                        .take(KEPT_ANSWER_CHARS)
                        .collect::<String>();
                    (Some(status), Some(text), None)
                }
                Err(error) => (Some(status), None, Some(describe(&error))),
            }
        }
        Err(error) => (None, None, Some(describe(&error))),
    };
    let acknowledged =
        http_status.is_some_and(|s| s.is_success()) && response_body.as_deref() == Some("success");
    tracing::info!(
        notify_id = %pending.notice.notify_id,
        out_trade_no = %pending.notice.out_trade_no,
        attempt = number,
        http_status = http_status.map(|s| s.as_u16()),
        acknowledged,
        "notification attempt"
    );
    sandbox.metrics.notification_attempt(acknowledged);
    let record = Attempt {
        number,
        at: format_millis(now),
        sent_after_ms,
        url: pending.url.clone(),
        request_body: body,
        http_status: http_status.map(|s| s.as_u16()),
        response_body,
        error,
        acknowledged,
        sign_tampered: job.plan.tamper_sign,
        fund_bill_list_escaped: escaped,
    };
    sandbox.with_trade_record(pending, |notification| notification.attempts.push(record));
    acknowledged
}

fn describe(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        "timed out".to_owned()
    } else if error.is_connect() {
        format!("connection failed: {error}")
    } else {
        error.to_string()
    }
}

fn set_state(sandbox: &Sandbox, pending: &PendingNotice, state: DeliveryState) {
    sandbox.with_trade_record(pending, |record| record.state = state);
}

impl Sandbox {
    /// Runs `update` on the trade's record of this notification.
    fn with_trade_record<R>(
        &self,
        pending: &PendingNotice,
        update: impl FnOnce(&mut crate::trade::NotificationRecord) -> R,
    ) -> Option<R> {
        let mut book = lock(&self.trades);
        let record = book
            .get_mut(pending.trade_id)?
            .notifications
            .get_mut(pending.index)?;
        Some(update(record))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_scales() {
        assert_eq!(gap(0, 1.0), Duration::ZERO);
        assert_eq!(gap(1, 1.0), Duration::from_secs(240));
        assert_eq!(gap(7, 0.001), Duration::from_secs(54));
        let total: f64 = (0..8).map(|i| gap(i, 0.001).as_secs_f64()).sum();
        assert!((total - 87.84).abs() < 0.01, "{total}");
    }
}
