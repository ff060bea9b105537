//! Trades and their life cycle, in memory: the rules Alipay applies, with no I/O.
//!
//! `WAIT_BUYER_PAY` → `TRADE_SUCCESS` (paid) → `TRADE_CLOSED` (fully refunded), or
//! `WAIT_BUYER_PAY` → `TRADE_CLOSED` (closed, cancelled or expired). Every state change that
//! Alipay notifies records a [`NotificationRecord`] on the trade and hands the caller a
//! [`PendingNotice`] to deliver once the lock is released.

use std::collections::HashMap;
use std::time::Instant;

use alipay::money::{Amount, Money};
use alipay::notify::TradeStatus;
use alipay::sign::SignType;
use alipay::time::{beijing, format_beijing};
use chrono::{DateTime, Datelike, Duration, TimeZone, Utc};
use serde::Serialize;

use crate::signing::{RefundFields, TradeNotice, notify_fund_bill_list};

/// The seller e-mail every notification carries (sandbox sellers have no real mailbox).
pub const SELLER_EMAIL: &str = "sandbox_seller@example.com";
/// Default `timeout_express` of page and wap pay.
const DEFAULT_TIMEOUT: Duration = Duration::days(15);

pub(crate) type TradeId = u64;

/// Which page-jump API created the trade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Product {
    PagePay,
    WapPay,
}

impl Product {
    pub fn method(&self) -> &'static str {
        match self {
            Product::PagePay => "alipay.trade.page.pay",
            Product::WapPay => "alipay.trade.wap.pay",
        }
    }

    pub fn return_method(&self) -> &'static str {
        match self {
            Product::PagePay => "alipay.trade.page.pay.return",
            Product::WapPay => "alipay.trade.wap.pay.return",
        }
    }

    pub fn product_code(&self) -> &'static str {
        match self {
            Product::PagePay => "FAST_INSTANT_TRADE_PAY",
            Product::WapPay => "QUICK_WAP_WAY",
        }
    }

    /// Whether closing an unpaid trade is notified: by default only wap pay notifies
    /// `TRADE_CLOSED`; page pay notifies `TRADE_SUCCESS` (and refunds) only.
    fn notifies_close(&self) -> bool {
        match self {
            Product::PagePay => false,
            Product::WapPay => true,
        }
    }
}

/// `timeout_express`: relative, restarted each time the cashier opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeoutExpress {
    After(Duration),
    /// `1c`: at the coming midnight, Beijing time.
    EndOfDay,
}

impl TimeoutExpress {
    /// `^\d+[mhd]$` between 1m and 15d, or `1c`.
    pub fn parse(text: &str) -> Option<Self> {
        if text == "1c" {
            return Some(TimeoutExpress::EndOfDay);
        }
        let (digits, unit) = text.split_at(text.len().checked_sub(1)?);
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let value: i64 = digits.parse().ok()?;
        let duration = match unit {
            "m" => Duration::minutes(value),
            "h" => Duration::hours(value),
            "d" => Duration::days(value),
            _ => return None,
        };
        (Duration::minutes(1) <= duration && duration <= Duration::days(15))
            .then_some(TimeoutExpress::After(duration))
    }

    fn deadline_from(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            TimeoutExpress::After(duration) => now + *duration,
            TimeoutExpress::EndOfDay => {
                let local = now.with_timezone(&beijing()).date_naive();
                let midnight = local.succ_opt().unwrap_or(local).and_hms_opt(0, 0, 0);
                midnight
                    .and_then(|naive| beijing().from_local_datetime(&naive).single())
                    .map(|at| at.with_timezone(&Utc))
                    .unwrap_or(now)
            }
        }
    }
}

/// A verified page/wap pay request, as the trade book needs it.
#[derive(Debug, Clone)]
pub(crate) struct PayOrder {
    pub app_id: String,
    pub seller_id: String,
    pub product: Product,
    pub sign_type: SignType,
    pub charset: String,
    pub out_trade_no: String,
    pub total_amount: Amount,
    pub subject: String,
    pub body: Option<String>,
    pub passback_params: Option<String>,
    pub notify_url: Option<String>,
    pub return_url: Option<String>,
    pub quit_url: Option<String>,
    pub time_expire: Option<DateTime<Utc>>,
    pub timeout_express: Option<TimeoutExpress>,
}

/// The buyer who paid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Buyer {
    pub user_id: String,
    pub logon_id: String,
}

/// One successful refund.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refund {
    pub out_request_no: String,
    pub amount: Amount,
    pub reason: Option<String>,
    pub gmt_refund: DateTime<Utc>,
}

/// What kind of state change a notification reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    Payment,
    Refund,
    Close,
}

/// Where a notification's delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Waiting for its next attempt.
    Queued,
    /// Held back by the `out_of_order` fault until a later notification has gone out.
    Held,
    /// The merchant answered `success`.
    Acknowledged,
    /// Eight attempts, none answered `success`.
    Exhausted,
    /// Lost by the `drop` fault: never sent.
    Dropped,
    /// The sandbox shut down before it was acknowledged.
    Abandoned,
}

/// One delivery attempt, as the test API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attempt {
    pub number: u32,
    /// Beijing time of the attempt by the sandbox's clock, with milliseconds.
    pub at: String,
    /// Real milliseconds since the notification was queued (shows the retry schedule even
    /// under a fixed test clock).
    pub sent_after_ms: u64,
    pub url: String,
    /// The exact form body sent.
    pub request_body: String,
    pub http_status: Option<u16>,
    /// What the merchant answered (first 2000 characters).
    pub response_body: Option<String>,
    /// A transport error (refused, timed out, …) when there was no answer.
    pub error: Option<String>,
    /// Whether the answer was HTTP 2xx with the body exactly `success`.
    pub acknowledged: bool,
    pub sign_tampered: bool,
    pub fund_bill_list_escaped: bool,
}

/// One notification and all its attempts.
#[derive(Debug, Clone, Serialize)]
pub struct NotificationRecord {
    pub notify_id: String,
    pub kind: NoticeKind,
    pub trade_status: TradeStatus,
    pub out_biz_no: Option<String>,
    pub url: String,
    pub state: DeliveryState,
    pub attempts: Vec<Attempt>,
    #[serde(skip)]
    pub queued_at: Instant,
}

/// A notification recorded on a trade, to be handed to the notifier after the lock is released.
#[derive(Debug, Clone)]
pub(crate) struct PendingNotice {
    pub trade_id: TradeId,
    pub index: usize,
    pub url: String,
    pub notice: TradeNotice,
}

/// A trade.
#[derive(Debug, Clone)]
pub struct Trade {
    pub(crate) id: TradeId,
    pub app_id: String,
    pub seller_id: String,
    pub product: Product,
    pub sign_type: SignType,
    pub charset: String,
    pub out_trade_no: String,
    pub trade_no: String,
    pub total_amount: Amount,
    pub subject: String,
    pub body: Option<String>,
    pub passback_params: Option<String>,
    pub notify_url: Option<String>,
    pub return_url: Option<String>,
    pub quit_url: Option<String>,
    pub time_expire: Option<DateTime<Utc>>,
    pub(crate) timeout_express: Option<TimeoutExpress>,
    /// When an unpaid trade closes by itself.
    pub deadline: DateTime<Utc>,
    pub status: TradeStatus,
    pub gmt_create: DateTime<Utc>,
    pub gmt_payment: Option<DateTime<Utc>>,
    pub gmt_close: Option<DateTime<Utc>>,
    /// Closed because its deadline passed (not cancelled or refunded), so a late buyer is told
    /// it expired.
    pub expired: bool,
    pub buyer: Option<Buyer>,
    pub refunds: Vec<Refund>,
    pub notifications: Vec<NotificationRecord>,
}

impl Trade {
    /// Sum of all refunds.
    pub fn refunded(&self) -> Money {
        Money::sum(self.refunds.iter().map(|r| r.amount.money())).unwrap_or(Money::ZERO)
    }

    pub fn is_paid(&self) -> bool {
        self.gmt_payment.is_some()
    }

    /// What the buyer paid (zero before paying).
    pub fn paid_amount(&self) -> Money {
        if self.is_paid() {
            self.total_amount.money()
        } else {
            Money::ZERO
        }
    }

    /// A notification of the trade's current state.
    fn notice(&self, notify_id: String, refund: Option<RefundFields>) -> TradeNotice {
        let paid = self.is_paid().then(|| self.paid_amount());
        TradeNotice {
            notify_id,
            app_id: self.app_id.clone(),
            auth_app_id: self.app_id.clone(),
            charset: self.charset.clone(),
            version: "1.0".to_owned(),
            sign_type: self.sign_type,
            trade_no: self.trade_no.clone(),
            out_trade_no: self.out_trade_no.clone(),
            trade_status: self.status,
            subject: self.subject.clone(),
            body: self.body.clone(),
            buyer_id: self.buyer.as_ref().map(|b| b.user_id.clone()),
            buyer_logon_id: self.buyer.as_ref().map(|b| b.logon_id.clone()),
            seller_id: self.seller_id.clone(),
            seller_email: Some(SELLER_EMAIL.to_owned()),
            total_amount: self.total_amount.money(),
            receipt_amount: paid,
            invoice_amount: paid,
            buyer_pay_amount: paid,
            point_amount: paid.map(|_| Money::ZERO),
            gmt_create: format_beijing(self.gmt_create),
            gmt_payment: self.gmt_payment.map(format_beijing),
            gmt_close: self.gmt_close.map(format_beijing),
            fund_bill_list: paid.map(notify_fund_bill_list),
            passback_params: self.passback_params.clone(),
            refund,
        }
    }

    /// Records a notification of the current state, if the trade has a `notify_url`.
    fn record_notice(
        &mut self,
        kind: NoticeKind,
        refund: Option<RefundFields>,
        now: DateTime<Utc>,
        out: &mut Vec<PendingNotice>,
    ) {
        let Some(url) = self.notify_url.clone() else {
            return;
        };
        let notify_id = ids::notify_id(now);
        let notice = self.notice(notify_id.clone(), refund);
        self.notifications.push(NotificationRecord {
            notify_id,
            kind,
            trade_status: self.status,
            out_biz_no: notice.refund.as_ref().map(|r| r.out_biz_no.clone()),
            url: url.clone(),
            state: DeliveryState::Queued,
            attempts: Vec::new(),
            queued_at: Instant::now(),
        });
        out.push(PendingNotice {
            trade_id: self.id,
            index: self.notifications.len() - 1,
            url,
            notice,
        });
    }

    fn close(&mut self, now: DateTime<Utc>, out: &mut Vec<PendingNotice>) {
        self.status = TradeStatus::TradeClosed;
        self.gmt_close = Some(now);
        if self.product.notifies_close() {
            self.record_notice(NoticeKind::Close, None, now, out);
        }
    }

    /// Closes an unpaid trade whose deadline has passed; `true` if it did.
    fn expire_if_due(&mut self, now: DateTime<Utc>, out: &mut Vec<PendingNotice>) -> bool {
        if self.status == TradeStatus::WaitBuyerPay && now >= self.deadline {
            self.expired = true;
            self.close(now, out);
            return true;
        }
        false
    }
}

/// Why Alipay refused an operation on a trade. Mapped to `ACQ.*` in one place, [`Self::sub_code`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TradeRefusal {
    #[error("the trade does not exist")]
    NotExist,
    #[error("the trade has already been paid")]
    AlreadyPaid,
    #[error("the trade is closed")]
    Closed,
    #[error("the trade was created with a different amount or subject")]
    ContextInconsistent,
    #[error("the trade expired before it was paid and is now closed")]
    Expired,
    #[error("the trade's status does not allow this")]
    StatusError,
    #[error("the refund would exceed the amount paid")]
    RefundTooLarge,
    #[error("this out_request_no was used before with different parameters")]
    DiscordantRepeat,
    #[error("a refund without out_request_no must refund the whole amount")]
    RefundAmountNotEqualTotal,
    #[error("the trade has finished and can no longer be refunded")]
    HasFinished,
}

impl TradeRefusal {
    pub fn sub_code(&self) -> &'static str {
        match self {
            TradeRefusal::NotExist => "ACQ.TRADE_NOT_EXIST",
            TradeRefusal::AlreadyPaid => "ACQ.TRADE_HAS_SUCCESS",
            TradeRefusal::Closed | TradeRefusal::Expired => "ACQ.TRADE_HAS_CLOSE",
            TradeRefusal::ContextInconsistent => "ACQ.CONTEXT_INCONSISTENT",
            TradeRefusal::StatusError => "ACQ.TRADE_STATUS_ERROR",
            TradeRefusal::RefundTooLarge => "ACQ.REASON_TRADE_REFUND_FEE_ERR",
            TradeRefusal::DiscordantRepeat => "ACQ.DISCORDANT_REPEAT_REQUEST",
            TradeRefusal::RefundAmountNotEqualTotal => "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL",
            TradeRefusal::HasFinished => "ACQ.TRADE_HAS_FINISHED",
        }
    }

    pub fn sub_msg(&self) -> &'static str {
        match self {
            TradeRefusal::NotExist => "交易不存在",
            TradeRefusal::AlreadyPaid => "交易已被支付",
            TradeRefusal::Closed => "交易已经关闭",
            TradeRefusal::Expired => "交易已超时关闭",
            TradeRefusal::ContextInconsistent => "交易信息被篡改",
            TradeRefusal::StatusError => "交易状态不合法",
            TradeRefusal::RefundTooLarge => "退款金额超限",
            TradeRefusal::DiscordantRepeat => "不一致的请求",
            TradeRefusal::RefundAmountNotEqualTotal => "退款金额与订单金额不一致",
            TradeRefusal::HasFinished => "交易已完结",
        }
    }
}

/// A refund request, after `biz_content` was read.
#[derive(Debug, Clone)]
pub(crate) struct RefundRequest {
    /// `None` when the merchant omitted it: the trade's `out_trade_no` stands in.
    pub out_request_no: Option<String>,
    pub amount: Amount,
    pub reason: Option<String>,
}

/// What a refund call did.
#[derive(Debug, Clone)]
pub(crate) struct RefundOutcome {
    /// `false` for a repeat of an earlier refund: nothing moved (`fund_change=N`).
    pub fund_change: bool,
    pub refund: Refund,
}

/// Every trade, indexed the ways the APIs look them up.
#[derive(Debug, Default)]
pub(crate) struct TradeBook {
    trades: HashMap<TradeId, Trade>,
    by_out_trade_no: HashMap<(String, String), TradeId>,
    by_trade_no: HashMap<String, TradeId>,
    next_id: TradeId,
}

impl TradeBook {
    pub fn get(&self, id: TradeId) -> Option<&Trade> {
        self.trades.get(&id)
    }

    pub fn get_mut(&mut self, id: TradeId) -> Option<&mut Trade> {
        self.trades.get_mut(&id)
    }

    pub fn all(&self) -> impl Iterator<Item = &Trade> {
        self.trades.values()
    }

    pub fn by_trade_no(&self, trade_no: &str) -> Option<TradeId> {
        self.by_trade_no.get(trade_no).copied()
    }

    /// The trades with this `out_trade_no`, whatever the app.
    pub fn by_out_trade_no(&self, out_trade_no: &str) -> Vec<TradeId> {
        let mut ids: Vec<TradeId> = self
            .by_out_trade_no
            .iter()
            .filter(|((_, out), _)| out == out_trade_no)
            .map(|(_, id)| *id)
            .collect();
        ids.sort_unstable();
        ids
    }

    /// The app's trade by `trade_no` (preferred, as Alipay does) or `out_trade_no`.
    pub fn find(
        &self,
        app_id: &str,
        out_trade_no: Option<&str>,
        trade_no: Option<&str>,
    ) -> Option<TradeId> {
        let id = match trade_no {
            Some(trade_no) => self.by_trade_no.get(trade_no).copied(),
            None => out_trade_no.and_then(|out| {
                self.by_out_trade_no
                    .get(&(app_id.to_owned(), out.to_owned()))
                    .copied()
            }),
        }?;
        let trade = self.trades.get(&id)?;
        (trade.app_id == app_id && out_trade_no.is_none_or(|out| out == trade.out_trade_no))
            .then_some(id)
    }

    /// Closes every unpaid trade past its deadline.
    pub fn expire_due(&mut self, now: DateTime<Utc>, out: &mut Vec<PendingNotice>) {
        for trade in self.trades.values_mut() {
            trade.expire_if_due(now, out);
        }
    }

    /// The buyer opens the cashier: the trade is created, or an unpaid one is reopened.
    pub fn open(
        &mut self,
        order: PayOrder,
        now: DateTime<Utc>,
        out: &mut Vec<PendingNotice>,
    ) -> Result<TradeId, TradeRefusal> {
        let key = (order.app_id.clone(), order.out_trade_no.clone());
        if let Some(&id) = self.by_out_trade_no.get(&key) {
            let trade = self.trades.get_mut(&id).ok_or(TradeRefusal::NotExist)?;
            if trade.expire_if_due(now, out) {
                return Err(TradeRefusal::Expired);
            }
            return match trade.status {
                TradeStatus::TradeSuccess | TradeStatus::TradeFinished => {
                    Err(TradeRefusal::AlreadyPaid)
                }
                TradeStatus::TradeClosed if trade.expired => Err(TradeRefusal::Expired),
                TradeStatus::TradeClosed => Err(TradeRefusal::Closed),
                TradeStatus::WaitBuyerPay => {
                    if trade.total_amount != order.total_amount || trade.subject != order.subject {
                        return Err(TradeRefusal::ContextInconsistent);
                    }
                    // The same order again: Alipay keeps the original trade, takes the latest
                    // URLs, and restarts a relative timeout (the cashier's countdown).
                    trade.notify_url = order.notify_url;
                    trade.return_url = order.return_url;
                    trade.quit_url = order.quit_url;
                    trade.timeout_express = order.timeout_express.or(trade.timeout_express);
                    trade.deadline = deadline(trade.time_expire, trade.timeout_express, now);
                    Ok(id)
                }
            };
        }
        let deadline = deadline(order.time_expire, order.timeout_express, now);
        if deadline <= now {
            return Err(TradeRefusal::Expired);
        }
        self.next_id += 1;
        let id = self.next_id;
        let trade_no = loop {
            let candidate = ids::trade_no(now);
            if !self.by_trade_no.contains_key(&candidate) {
                break candidate;
            }
        };
        let trade = Trade {
            id,
            app_id: order.app_id,
            seller_id: order.seller_id,
            product: order.product,
            sign_type: order.sign_type,
            charset: order.charset,
            out_trade_no: order.out_trade_no,
            trade_no: trade_no.clone(),
            total_amount: order.total_amount,
            subject: order.subject,
            body: order.body,
            passback_params: order.passback_params,
            notify_url: order.notify_url,
            return_url: order.return_url,
            quit_url: order.quit_url,
            time_expire: order.time_expire,
            timeout_express: order.timeout_express,
            deadline,
            status: TradeStatus::WaitBuyerPay,
            gmt_create: now,
            gmt_payment: None,
            gmt_close: None,
            expired: false,
            buyer: None,
            refunds: Vec::new(),
            notifications: Vec::new(),
        };
        self.by_out_trade_no.insert(key, id);
        self.by_trade_no.insert(trade_no, id);
        self.trades.insert(id, trade);
        Ok(id)
    }

    /// The buyer pays at the cashier.
    pub fn pay(
        &mut self,
        id: TradeId,
        buyer_id: Option<String>,
        now: DateTime<Utc>,
        out: &mut Vec<PendingNotice>,
    ) -> Result<(), TradeRefusal> {
        let trade = self.trades.get_mut(&id).ok_or(TradeRefusal::NotExist)?;
        if trade.expire_if_due(now, out) {
            return Err(TradeRefusal::Expired);
        }
        match trade.status {
            TradeStatus::TradeSuccess | TradeStatus::TradeFinished => {
                Err(TradeRefusal::AlreadyPaid)
            }
            TradeStatus::TradeClosed if trade.expired => Err(TradeRefusal::Expired),
            TradeStatus::TradeClosed => Err(TradeRefusal::Closed),
            TradeStatus::WaitBuyerPay => {
                let user_id = buyer_id.unwrap_or_else(ids::buyer_id);
                trade.buyer = Some(Buyer {
                    logon_id: ids::masked_logon_id(&user_id),
                    user_id,
                });
                trade.status = TradeStatus::TradeSuccess;
                trade.gmt_payment = Some(now);
                trade.record_notice(NoticeKind::Payment, None, now, out);
                Ok(())
            }
        }
    }

    /// The buyer cancels at the cashier, or the merchant calls `alipay.trade.close`: only an
    /// unpaid trade closes.
    pub fn close(
        &mut self,
        id: TradeId,
        now: DateTime<Utc>,
        out: &mut Vec<PendingNotice>,
    ) -> Result<(), TradeRefusal> {
        let trade = self.trades.get_mut(&id).ok_or(TradeRefusal::NotExist)?;
        if trade.expire_if_due(now, out) {
            return Err(TradeRefusal::StatusError);
        }
        match trade.status {
            TradeStatus::WaitBuyerPay => {
                trade.close(now, out);
                Ok(())
            }
            TradeStatus::TradeSuccess | TradeStatus::TradeFinished | TradeStatus::TradeClosed => {
                Err(TradeRefusal::StatusError)
            }
        }
    }

    /// `alipay.trade.refund`: idempotent per `out_request_no`, never beyond the amount paid; a
    /// full refund closes the trade.
    pub fn refund(
        &mut self,
        id: TradeId,
        request: RefundRequest,
        now: DateTime<Utc>,
        out: &mut Vec<PendingNotice>,
    ) -> Result<RefundOutcome, TradeRefusal> {
        let trade = self.trades.get_mut(&id).ok_or(TradeRefusal::NotExist)?;
        trade.expire_if_due(now, out);
        let request_no = request
            .out_request_no
            .clone()
            .unwrap_or_else(|| trade.out_trade_no.clone());
        // A repeat is answered before the status check: after a full refund the trade is
        // closed, and the merchant's retry must still learn that its refund went through.
        if let Some(earlier) = trade
            .refunds
            .iter()
            .find(|r| r.out_request_no == request_no)
        {
            if earlier.amount != request.amount {
                return Err(TradeRefusal::DiscordantRepeat);
            }
            return Ok(RefundOutcome {
                fund_change: false,
                refund: earlier.clone(),
            });
        }
        match trade.status {
            TradeStatus::TradeSuccess => {}
            TradeStatus::TradeFinished => return Err(TradeRefusal::HasFinished),
            TradeStatus::WaitBuyerPay | TradeStatus::TradeClosed => {
                return Err(TradeRefusal::StatusError);
            }
        }
        let total = trade.total_amount.money();
        if request.out_request_no.is_none() && request.amount.money() != total {
            return Err(TradeRefusal::RefundAmountNotEqualTotal);
        }
        let refunded = trade
            .refunded()
            .checked_add(request.amount.money())
            .filter(|sum| *sum <= total)
            .ok_or(TradeRefusal::RefundTooLarge)?;
        let refund = Refund {
            out_request_no: request_no,
            amount: request.amount,
            reason: request.reason,
            gmt_refund: now,
        };
        trade.refunds.push(refund.clone());
        if refunded == total {
            trade.status = TradeStatus::TradeClosed;
            trade.gmt_close = Some(now);
        }
        let fields = RefundFields {
            out_biz_no: refund.out_request_no.clone(),
            refund_fee: refunded,
            gmt_refund: format_millis(refund.gmt_refund),
        };
        trade.record_notice(NoticeKind::Refund, Some(fields), now, out);
        Ok(RefundOutcome {
            fund_change: true,
            refund,
        })
    }
}

fn deadline(
    time_expire: Option<DateTime<Utc>>,
    timeout: Option<TimeoutExpress>,
    now: DateTime<Utc>,
) -> DateTime<Utc> {
    // An absolute time_expire wins over a relative timeout_express.
    match (time_expire, timeout) {
        (Some(at), _) => at,
        (None, Some(timeout)) => timeout.deadline_from(now),
        (None, None) => now + DEFAULT_TIMEOUT,
    }
}

/// `yyyy-MM-dd HH:mm:ss.SSS` in Beijing time (`gmt_refund`).
pub fn format_millis(at: DateTime<Utc>) -> String {
    at.with_timezone(&beijing())
        .format("%Y-%m-%d %H:%M:%S%.3f")
        .to_string()
}

/// Numbers in Alipay's shapes.
pub(crate) mod ids {
    use super::*;

    fn random_digits(count: u32) -> u128 {
        uuid::Uuid::new_v4().as_u128() % 10u128.pow(count)
    }

    fn beijing_date(now: DateTime<Utc>) -> String {
        let local = now.with_timezone(&beijing());
        format!("{:04}{:02}{:02}", local.year(), local.month(), local.day())
    }

    /// `yyyyMMdd` + `22001` + 15 digits, 28 characters like Alipay's.
    pub fn trade_no(now: DateTime<Utc>) -> String {
        format!("{}22001{:015}", beijing_date(now), random_digits(15))
    }

    /// `yyyyMMdd` + `00222` + 21 digits, 34 characters like Alipay's.
    pub fn notify_id(now: DateTime<Utc>) -> String {
        format!("{}00222{:021}", beijing_date(now), random_digits(21))
    }

    /// A buyer's user id: `2088` + 12 digits.
    pub fn buyer_id() -> String {
        format!("2088{:012}", random_digits(12))
    }

    /// The masked login Alipay shows merchants.
    pub fn masked_logon_id(user_id: &str) -> String {
        let tail = user_id.get(user_id.len().saturating_sub(3)..).unwrap_or("");
        format!("sbx***{tail}@sandbox.com")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(out_trade_no: &str, amount: &str) -> PayOrder {
        PayOrder {
            app_id: "app".into(),
            seller_id: "2088000000000001".into(),
            product: Product::PagePay,
            sign_type: SignType::Rsa2,
            charset: "utf-8".into(),
            out_trade_no: out_trade_no.into(),
            total_amount: amount.parse().unwrap(),
            subject: "课程".into(),
            body: None,
            passback_params: None,
            notify_url: Some("http://127.0.0.1:1/notify".into()),
            return_url: None,
            quit_url: None,
            time_expire: None,
            timeout_express: None,
        }
    }

    fn refund(no: Option<&str>, amount: &str) -> RefundRequest {
        RefundRequest {
            out_request_no: no.map(str::to_owned),
            amount: amount.parse().unwrap(),
            reason: None,
        }
    }

    #[test]
    fn refunds_are_idempotent_and_bounded() {
        let mut book = TradeBook::default();
        let mut out = Vec::new();
        let now = Utc::now();
        let id = book.open(order("O1", "100.00"), now, &mut out).unwrap();
        assert_eq!(
            book.refund(id, refund(Some("R1"), "1.00"), now, &mut out)
                .unwrap_err(),
            TradeRefusal::StatusError
        );
        book.pay(id, None, now, &mut out).unwrap();
        assert!(
            book.refund(id, refund(Some("R1"), "30.00"), now, &mut out)
                .unwrap()
                .fund_change
        );
        assert!(
            !book
                .refund(id, refund(Some("R1"), "30.00"), now, &mut out)
                .unwrap()
                .fund_change
        );
        assert_eq!(
            book.refund(id, refund(Some("R1"), "31.00"), now, &mut out)
                .unwrap_err(),
            TradeRefusal::DiscordantRepeat
        );
        assert_eq!(
            book.refund(id, refund(Some("R2"), "70.01"), now, &mut out)
                .unwrap_err(),
            TradeRefusal::RefundTooLarge
        );
        assert_eq!(
            book.refund(id, refund(None, "10.00"), now, &mut out)
                .unwrap_err(),
            TradeRefusal::RefundAmountNotEqualTotal
        );
        assert!(
            book.refund(id, refund(Some("R2"), "70.00"), now, &mut out)
                .unwrap()
                .fund_change
        );
        let trade = book.get(id).unwrap();
        assert_eq!(trade.status, TradeStatus::TradeClosed);
        assert_eq!(trade.refunded().to_string(), "100.00");
        // payment + two refunds notified
        assert_eq!(out.len(), 3);
        assert_eq!(
            out[2]
                .notice
                .refund
                .as_ref()
                .unwrap()
                .refund_fee
                .to_string(),
            "100.00"
        );
        assert_eq!(out[2].notice.trade_status, TradeStatus::TradeClosed);
    }

    #[test]
    fn reopening_checks_the_context() {
        let mut book = TradeBook::default();
        let mut out = Vec::new();
        let now = Utc::now();
        let id = book.open(order("O1", "10.00"), now, &mut out).unwrap();
        assert_eq!(book.open(order("O1", "10.00"), now, &mut out).unwrap(), id);
        assert_eq!(
            book.open(order("O1", "11.00"), now, &mut out).unwrap_err(),
            TradeRefusal::ContextInconsistent
        );
        book.pay(id, None, now, &mut out).unwrap();
        assert_eq!(
            book.open(order("O1", "10.00"), now, &mut out).unwrap_err(),
            TradeRefusal::AlreadyPaid
        );
        assert_eq!(
            book.pay(id, None, now, &mut out).unwrap_err(),
            TradeRefusal::AlreadyPaid
        );
    }

    #[test]
    fn expired_trades_close_and_refuse_payment() {
        let mut book = TradeBook::default();
        let mut out = Vec::new();
        let now = Utc::now();
        let mut expiring = order("O1", "10.00");
        expiring.timeout_express = TimeoutExpress::parse("1m");
        let id = book.open(expiring, now, &mut out).unwrap();
        assert_eq!(
            book.pay(id, None, now + Duration::minutes(2), &mut out)
                .unwrap_err(),
            TradeRefusal::Expired
        );
        assert_eq!(book.get(id).unwrap().status, TradeStatus::TradeClosed);
        assert!(out.is_empty(), "page pay does not notify a close");
    }

    #[test]
    fn timeout_express_parses_alipay_units() {
        assert_eq!(
            TimeoutExpress::parse("90m"),
            Some(TimeoutExpress::After(Duration::minutes(90)))
        );
        assert_eq!(
            TimeoutExpress::parse("15d"),
            Some(TimeoutExpress::After(Duration::days(15)))
        );
        assert_eq!(TimeoutExpress::parse("1c"), Some(TimeoutExpress::EndOfDay));
        for bad in ["", "m", "1.5h", "16d", "0m", "10s", "2c"] {
            assert_eq!(TimeoutExpress::parse(bad), None, "{bad}");
        }
        let noon = beijing()
            .with_ymd_and_hms(2024, 1, 2, 12, 0, 0)
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            format_beijing(TimeoutExpress::EndOfDay.deadline_from(noon)),
            "2024-01-03 00:00:00"
        );
    }

    #[test]
    fn numbers_look_like_alipays() {
        let now = beijing()
            .with_ymd_and_hms(2024, 5, 16, 1, 0, 0)
            .unwrap()
            .with_timezone(&Utc);
        let trade_no = ids::trade_no(now);
        assert_eq!(trade_no.len(), 28);
        assert!(trade_no.starts_with("2024051622001"));
        assert_eq!(ids::notify_id(now).len(), 34);
        assert_eq!(ids::buyer_id().len(), 16);
        assert_eq!(
            format_millis(now + Duration::milliseconds(27)),
            "2024-05-16 01:00:00.027"
        );
    }
}
