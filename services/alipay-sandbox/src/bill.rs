//! `alipay.data.dataservice.bill.downloadurl.query` and the download it hands out: a zip of
//! GBK CSV files in Alipay's layout (`#` header and footer lines, the detail list, a summary).
//!
//! A bill exists for every past day (`yyyy-MM-dd`) or month (`yyyy-MM`), empty if nothing
//! happened; today's and future bills do not exist yet (`isp.bill_not_exist`). Links expire
//! after 30 seconds of the sandbox's clock, as Alipay's do.

use std::collections::HashMap;
use std::io::Write;

use actix_web::{HttpResponse, web};
use alipay::money::Money;
use alipay::request::escape_html;
use alipay::time::{beijing, format_beijing};
use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use serde::Deserialize;

use crate::error::Error;
use crate::gateway::request::{Authenticated, Refusal};
use crate::signing::Node;
use crate::state::{Sandbox, lock};
use crate::trade::Trade;

/// How long a download link works.
const LINK_LIFETIME: Duration = Duration::seconds(30);

/// Which bill.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BillType {
    /// 业务明细: payments and refunds.
    Trade,
    /// 账务明细: the balance account's entries.
    SignCustomer,
}

/// A day or a month, Beijing time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BillPeriod {
    Day(NaiveDate),
    Month(NaiveDate),
}

impl BillPeriod {
    /// `yyyy-MM-dd` or `yyyy-MM`.
    pub fn parse(text: &str) -> Option<Self> {
        match text.len() {
            10 => NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .ok()
                .map(BillPeriod::Day),
            7 => NaiveDate::parse_from_str(&format!("{text}-01"), "%Y-%m-%d")
                .ok()
                .map(BillPeriod::Month),
            _ => None,
        }
    }

    fn start_date(&self) -> NaiveDate {
        match self {
            BillPeriod::Day(day) | BillPeriod::Month(day) => *day,
        }
    }

    fn end_date(&self) -> NaiveDate {
        match self {
            BillPeriod::Day(day) => day.succ_opt().unwrap_or(*day),
            BillPeriod::Month(first) => {
                let (year, month) = if first.month() == 12 {
                    (first.year() + 1, 1)
                } else {
                    (first.year(), first.month() + 1)
                };
                NaiveDate::from_ymd_opt(year, month, 1).unwrap_or(*first)
            }
        }
    }

    fn instant(date: NaiveDate) -> DateTime<Utc> {
        date.and_hms_opt(0, 0, 0)
            .and_then(|naive| beijing().from_local_datetime(&naive).single())
            .map(|at| at.with_timezone(&Utc))
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    }

    /// `[start, end)` as instants.
    pub fn range(&self) -> (DateTime<Utc>, DateTime<Utc>) {
        (
            Self::instant(self.start_date()),
            Self::instant(self.end_date()),
        )
    }

    /// `20240515` or `202405`, as file names show it.
    pub fn compact(&self) -> String {
        match self {
            BillPeriod::Day(day) => day.format("%Y%m%d").to_string(),
            BillPeriod::Month(first) => first.format("%Y%m").to_string(),
        }
    }
}

/// Bills handed out, by token.
#[derive(Debug, Default)]
pub(crate) struct BillStore {
    files: HashMap<String, BillFile>,
    /// Test API (`PUT /sandbox/bill-file`): bytes every download serves instead of the bill, so
    /// merchants' tests can see how they handle a broken, hostile or foreign file.
    pub(crate) replacement: Option<Vec<u8>>,
}

#[derive(Debug)]
struct BillFile {
    file_name: String,
    bytes: Vec<u8>,
    expires_at: DateTime<Utc>,
}

/// Answers the download-URL query.
pub(crate) fn download_url(sandbox: &Sandbox, request: &Authenticated) -> Result<Node, Refusal> {
    let biz = &request.biz;
    let bill_type = match biz.required("bill_type")?.as_str() {
        "trade" => BillType::Trade,
        "signcustomer" => BillType::SignCustomer,
        _ => {
            return Err(Refusal::business(
                "invalid_arguments",
                "参数不合法：bill_type 仅支持 trade、signcustomer",
            ));
        }
    };
    let date_text = biz.required("bill_date")?;
    let period = BillPeriod::parse(&date_text).ok_or_else(|| {
        Refusal::business(
            "invalid_arguments",
            "参数不合法：bill_date 格式为 yyyy-MM-dd 或 yyyy-MM",
        )
    })?;
    let now = sandbox.now();
    // Alipay makes a day's bill the next morning and a month's early next month: a period that
    // has not ended yet has no bill.
    if period.range().1 > now
        || period.start_date() < NaiveDate::from_ymd_opt(2016, 1, 1).unwrap_or(NaiveDate::MIN)
    {
        return Err(Refusal::business("isp.bill_not_exist", "账单不存在"));
    }
    let seller_id = &request.app.seller_id;
    let trades: Vec<Trade> = lock(&sandbox.trades)
        .all()
        .filter(|t| &t.seller_id == seller_id)
        .cloned()
        .collect();
    let files = match bill_type {
        BillType::Trade => trade_bill(&trades, seller_id, period, now),
        BillType::SignCustomer => account_bill(&trades, seller_id, period, now),
    };
    let replacement = lock(&sandbox.bills).replacement.clone();
    let bytes = match replacement {
        Some(bytes) => bytes,
        None => zip_files(&files).map_err(|error| {
            tracing::error!(%error, "building a bill zip failed");
            Refusal::business("ACQ.SYSTEM_ERROR", "系统错误")
        })?,
    };
    let token = uuid::Uuid::new_v4().simple().to_string();
    let file_name = format!("{seller_id}_{}.csv.zip", period.compact());
    let biz_type = match bill_type {
        BillType::Trade => "trade",
        BillType::SignCustomer => "signcustomer",
    };
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("bizType", biz_type)
        .append_pair("userId", seller_id)
        .append_pair("fileType", "csv.zip")
        .append_pair("bizDates", &period.compact())
        .append_pair("downloadFileName", &file_name)
        .append_pair("timestamp", &now.timestamp_millis().to_string())
        .append_pair("token", &token)
        .finish();
    let url = format!("{}/downloadBillFile.resource?{query}", sandbox.public_url);
    {
        let mut store = lock(&sandbox.bills);
        store.files.retain(|_, file| file.expires_at > now);
        store.files.insert(
            token,
            BillFile {
                file_name,
                bytes,
                expires_at: now + LINK_LIFETIME,
            },
        );
    }
    Ok(Node::success().field("bill_download_url", url))
}

#[derive(Debug, Deserialize)]
pub struct DownloadQuery {
    token: String,
}

/// `GET /downloadBillFile.resource?…&token=…`: the zip.
pub async fn download(
    query: web::Query<DownloadQuery>,
    sandbox: web::Data<Sandbox>,
) -> Result<HttpResponse, Error> {
    let now = sandbox.now();
    let store = lock(&sandbox.bills);
    let file = store
        .files
        .get(&query.token)
        .filter(|file| file.expires_at > now)
        .ok_or_else(|| {
            Error::NotFound("unknown or expired bill link (links work for 30 seconds)".to_owned())
        })?;
    Ok(HttpResponse::Ok()
        .content_type("application/octet-stream")
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"{}\"", escape_html(&file.file_name)),
        ))
        .body(file.bytes.clone()))
}

/// A bill file: its name inside the zip and its UTF-8 text (encoded to GBK when zipped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BillText {
    pub name: String,
    pub text: String,
}

/// Chinese date-time as the bill headers write it: `2024年05月15日 00:00:00`.
fn header_time(at: DateTime<Utc>) -> String {
    at.with_timezone(&beijing())
        .format("%Y年%m月%d日 %H:%M:%S")
        .to_string()
}

fn header_lines(title: &str, seller_id: &str, period: BillPeriod) -> String {
    let (start, end) = period.range();
    format!(
        "#{title}\r\n#账号：[{seller_id}0156]\r\n#起始日期：[{}]   终止日期：[{}]\r\n",
        header_time(start),
        header_time(end)
    )
}

/// One CSV field of a data row: quoted when needed, then the tab Alipay appends to every value
/// (so spreadsheets keep long numbers as text).
fn field(value: &str) -> String {
    let quoted = if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_owned()
    };
    format!("{quoted}\t")
}

fn row(values: &[&str]) -> String {
    let mut line = values
        .iter()
        .map(|v| field(v))
        .collect::<Vec<_>>()
        .join(",");
    line.push_str("\r\n");
    line
}

/// `a - b`, which may be negative (a refund of a trade paid in an earlier period).
fn difference(a: Money, b: Money) -> String {
    match a.checked_sub(b) {
        Some(difference) => difference.to_string(),
        None => negative(b.checked_sub(a).unwrap_or(Money::ZERO)),
    }
}

fn negative(amount: Money) -> String {
    if amount.is_zero() {
        amount.to_string()
    } else {
        format!("-{amount}")
    }
}

fn in_period(at: DateTime<Utc>, (start, end): (DateTime<Utc>, DateTime<Utc>)) -> bool {
    start <= at && at < end
}

/// One payment or refund in the period.
struct Entry<'a> {
    at: DateTime<Utc>,
    trade: &'a Trade,
    /// `None` for the payment, the refund otherwise.
    refund: Option<&'a crate::trade::Refund>,
}

fn entries<'a>(trades: &'a [Trade], period: BillPeriod) -> Vec<Entry<'a>> {
    let range = period.range();
    let mut entries = Vec::new();
    for trade in trades {
        if let Some(paid_at) = trade.gmt_payment.filter(|at| in_period(*at, range)) {
            entries.push(Entry {
                at: paid_at,
                trade,
                refund: None,
            });
        }
        for refund in trade
            .refunds
            .iter()
            .filter(|r| in_period(r.gmt_refund, range))
        {
            entries.push(Entry {
                at: refund.gmt_refund,
                trade,
                refund: Some(refund),
            });
        }
    }
    entries.sort_by(|a, b| {
        a.at.cmp(&b.at)
            .then_with(|| a.trade.trade_no.cmp(&b.trade.trade_no))
    });
    entries
}

/// 业务明细 and 业务明细(汇总).
pub fn trade_bill(
    trades: &[Trade],
    seller_id: &str,
    period: BillPeriod,
    now: DateTime<Utc>,
) -> Vec<BillText> {
    let entries = entries(trades, period);
    let mut detail = header_lines("支付宝业务明细查询", seller_id, period);
    detail.push_str("#-----------------------------------------业务明细列表----------------------------------------\r\n");
    detail.push_str("支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,对方账户,订单金额（元）,商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,商家优惠（元）,券核销金额（元）,券名称,商家红包消费金额（元）,卡消费金额（元）,退款批次号/请求号,服务费（元）,分润（元）,备注\r\n");
    let (mut paid_count, mut refund_count) = (0u32, 0u32);
    let (mut paid_sum, mut refund_sum) = (Money::ZERO, Money::ZERO);
    for entry in &entries {
        let trade = entry.trade;
        let buyer = trade
            .buyer
            .as_ref()
            .map(|b| b.logon_id.as_str())
            .unwrap_or("");
        let total = trade.total_amount.to_string();
        let created = format_beijing(trade.gmt_create);
        let finished = format_beijing(entry.at);
        match entry.refund {
            None => {
                paid_count += 1;
                paid_sum = paid_sum
                    .checked_add(trade.total_amount.money())
                    .unwrap_or(paid_sum);
                detail.push_str(&row(&[
                    &trade.trade_no,
                    &trade.out_trade_no,
                    "交易",
                    &trade.subject,
                    &created,
                    &finished,
                    "",
                    "",
                    "",
                    "",
                    buyer,
                    &total,
                    &total,
                    "0.00",
                    "0.00",
                    "0.00",
                    "0.00",
                    "0.00",
                    "",
                    "0.00",
                    "0.00",
                    "",
                    "0.00",
                    "0.00",
                    trade.body.as_deref().unwrap_or(""),
                ]));
            }
            Some(refund) => {
                refund_count += 1;
                refund_sum = refund_sum
                    .checked_add(refund.amount.money())
                    .unwrap_or(refund_sum);
                let amount = negative(refund.amount.money());
                detail.push_str(&row(&[
                    &trade.trade_no,
                    &trade.out_trade_no,
                    "退款",
                    &trade.subject,
                    &created,
                    &finished,
                    "",
                    "",
                    "",
                    "",
                    buyer,
                    &total,
                    &amount,
                    "0.00",
                    "0.00",
                    "0.00",
                    "0.00",
                    "0.00",
                    "",
                    "0.00",
                    "0.00",
                    &refund.out_request_no,
                    "0.00",
                    "0.00",
                    refund.reason.as_deref().unwrap_or(""),
                ]));
            }
        }
    }
    let exported = header_time(now);
    detail.push_str("#-----------------------------------------业务明细列表结束------------------------------------\r\n");
    detail.push_str(&format!(
        "#交易合计：{paid_count}笔，商家实收共{paid_sum}元，商家优惠共0.00元\r\n"
    ));
    detail.push_str(&format!(
        "#退款合计：{refund_count}笔，商家实收退款共{}元，商家优惠退款共0.00元\r\n",
        negative(refund_sum)
    ));
    detail.push_str(&format!("#导出时间：[{exported}]\r\n"));

    let net = difference(paid_sum, refund_sum);
    let mut summary = header_lines("支付宝业务汇总查询", seller_id, period);
    summary.push_str("#-----------------------------------------业务汇总列表----------------------------------------\r\n");
    summary.push_str("门店编号,门店名称,交易订单总笔数,退款订单总笔数,订单金额（元）,商家实收（元）,支付宝优惠（元）,商家优惠（元）,卡消费金额（元）,服务费（元）,分润（元）,实收净额（元）\r\n");
    summary.push_str(&row(&[
        "合计",
        "",
        &paid_count.to_string(),
        &refund_count.to_string(),
        &paid_sum.to_string(),
        &net,
        "0.00",
        "0.00",
        "0.00",
        "0.00",
        "0.00",
        &net,
    ]));
    summary.push_str("#-----------------------------------------业务汇总列表结束------------------------------------\r\n");
    summary.push_str(&format!("#导出时间：[{exported}]\r\n"));

    let stem = format!("{seller_id}_{}", period.compact());
    vec![
        BillText {
            name: format!("{stem}_业务明细.csv"),
            text: detail,
        },
        BillText {
            name: format!("{stem}_业务明细(汇总).csv"),
            text: summary,
        },
    ]
}

/// 账务明细 and 账务明细(汇总): the balance account, income for payments, expense for refunds.
pub fn account_bill(
    trades: &[Trade],
    seller_id: &str,
    period: BillPeriod,
    now: DateTime<Utc>,
) -> Vec<BillText> {
    let entries = entries(trades, period);
    let mut detail = header_lines("支付宝账务明细查询", seller_id, period);
    detail.push_str("#-----------------------------------------账务明细列表----------------------------------------\r\n");
    detail.push_str("账务流水号,业务流水号,商户订单号,商品名称,发生时间,对方账号,收入金额（+元）,支出金额（-元）,账户余额（元）,交易渠道,业务类型,备注\r\n");
    let mut balance = Money::ZERO;
    let (mut income_count, mut expense_count) = (0u32, 0u32);
    let (mut income, mut expense) = (Money::ZERO, Money::ZERO);
    for (index, entry) in entries.iter().enumerate() {
        let trade = entry.trade;
        let serial = format!(
            "{}{:08}",
            entry.at.with_timezone(&beijing()).format("%Y%m%d"),
            index + 1
        );
        let buyer = trade
            .buyer
            .as_ref()
            .map(|b| b.logon_id.as_str())
            .unwrap_or("");
        let at = format_beijing(entry.at);
        let (plus, minus, kind, note) = match entry.refund {
            None => {
                income_count += 1;
                income = income
                    .checked_add(trade.total_amount.money())
                    .unwrap_or(income);
                balance = balance
                    .checked_add(trade.total_amount.money())
                    .unwrap_or(balance);
                (
                    trade.total_amount.to_string(),
                    "0.00".to_owned(),
                    "在线支付",
                    String::new(),
                )
            }
            Some(refund) => {
                expense_count += 1;
                expense = expense
                    .checked_add(refund.amount.money())
                    .unwrap_or(expense);
                balance = balance
                    .checked_sub(refund.amount.money())
                    .unwrap_or(Money::ZERO);
                (
                    "0.00".to_owned(),
                    negative(refund.amount.money()),
                    "交易退款",
                    format!("退款请求号 {}", refund.out_request_no),
                )
            }
        };
        detail.push_str(&row(&[
            &serial,
            &trade.trade_no,
            &trade.out_trade_no,
            &trade.subject,
            &at,
            buyer,
            &plus,
            &minus,
            &balance.to_string(),
            "支付宝",
            kind,
            &note,
        ]));
    }
    let exported = header_time(now);
    detail.push_str("#-----------------------------------------账务明细列表结束------------------------------------\r\n");
    detail.push_str(&format!(
        "#支出合计：{expense_count}笔，共{}元\r\n",
        negative(expense)
    ));
    detail.push_str(&format!("#收入合计：{income_count}笔，共{income}元\r\n"));
    detail.push_str(&format!("#导出时间：[{exported}]\r\n"));

    let mut summary = header_lines("支付宝账务汇总查询", seller_id, period);
    summary.push_str("#-----------------------------------------账务汇总列表----------------------------------------\r\n");
    summary.push_str("业务类型,收入笔数,收入金额（+元）,支出笔数,支出金额（-元）\r\n");
    summary.push_str(&row(&[
        "在线支付",
        &income_count.to_string(),
        &income.to_string(),
        "0",
        "0.00",
    ]));
    summary.push_str(&row(&[
        "交易退款",
        "0",
        "0.00",
        &expense_count.to_string(),
        &negative(expense),
    ]));
    summary.push_str("#-----------------------------------------账务汇总列表结束------------------------------------\r\n");
    summary.push_str(&format!("#导出时间：[{exported}]\r\n"));

    let stem = format!("{seller_id}_{}", period.compact());
    vec![
        BillText {
            name: format!("{stem}_账务明细.csv"),
            text: detail,
        },
        BillText {
            name: format!("{stem}_账务明细(汇总).csv"),
            text: summary,
        },
    ]
}

/// Zips the files, each CSV encoded in GBK (characters GBK lacks, such as emoji, become HTML
/// numeric references, which is what an encoder for GBK does).
pub fn zip_files(files: &[BillText]) -> Result<Vec<u8>, zip::result::ZipError> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for file in files {
        let (gbk, _, _) = encoding_rs::GBK.encode(&file.text);
        writer.start_file(file.name.as_str(), options)?;
        writer.write_all(&gbk)?;
    }
    Ok(writer.finish()?.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods() {
        let day = BillPeriod::parse("2024-05-15").unwrap();
        assert_eq!(day.compact(), "20240515");
        let (start, end) = day.range();
        assert_eq!(format_beijing(start), "2024-05-15 00:00:00");
        assert_eq!(format_beijing(end), "2024-05-16 00:00:00");
        let month = BillPeriod::parse("2024-12").unwrap();
        assert_eq!(format_beijing(month.range().1), "2025-01-01 00:00:00");
        for bad in ["2024-13", "2024-5-1", "20240515", "2024-02-30", ""] {
            assert_eq!(BillPeriod::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn fields_are_quoted_when_needed_and_tab_padded() {
        assert_eq!(row(&["a", "b,c", "d\"e"]), "a\t,\"b,c\"\t,\"d\"\"e\"\t\r\n");
    }

    #[test]
    fn an_empty_bill_still_has_its_layout() {
        let now = Utc::now();
        let files = trade_bill(
            &[],
            "2088000000000001",
            BillPeriod::parse("2024-05-15").unwrap(),
            now,
        );
        assert_eq!(files.len(), 2);
        assert!(
            files[0]
                .text
                .starts_with("#支付宝业务明细查询\r\n#账号：[20880000000000010156]\r\n")
        );
        assert!(files[0].text.contains("#交易合计：0笔，商家实收共0.00元"));
        let zip = zip_files(&files).unwrap();
        assert_eq!(&zip[..2], b"PK");
    }
}
