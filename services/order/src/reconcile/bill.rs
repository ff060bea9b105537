//! Alipay's trade bill (业务明细): downloading the zip to a temporary file within limits, and
//! reading its detail list as a stream (zip entry → GBK decoder → lines → CSV fields), by column
//! *name*, between the `#` markers. Nothing here touches the database; a bill that cannot be
//! read completely is an error, so a run never compares half a bill.

use std::collections::HashMap;
use std::io::{Read, Seek, Write};
use std::time::Duration;

use chrono::NaiveDate;
use common::money::Money;

/// Limits on what a download may be; all of them refuse a zip bomb before it costs much.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of the zip as downloaded.
    pub max_zip_bytes: u64,
    /// Bytes of one CSV once decompressed (checked against the declared size, then counted).
    pub max_csv_bytes: u64,
    /// Files in the zip (Alipay's has two: the detail and its summary).
    pub max_entries: usize,
    /// Decompressed ÷ compressed size of an entry above 1 MiB; CSV text compresses 5–15×.
    pub max_ratio: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_zip_bytes: 64 << 20,
            max_csv_bytes: 512 << 20,
            max_entries: 16,
            max_ratio: 200,
        }
    }
}

/// The columns read from the detail list, by their header names. Any other column (and their
/// order) may differ between accounts and over time.
pub const COLUMN_TRADE_NO: &str = "支付宝交易号";
pub const COLUMN_OUT_TRADE_NO: &str = "商户订单号";
pub const COLUMN_KIND: &str = "业务类型";
pub const COLUMN_ORDER_AMOUNT: &str = "订单金额（元）";
pub const COLUMN_RECEIVED: &str = "商家实收（元）";
pub const COLUMN_REQUEST_NO: &str = "退款批次号/请求号";
pub const COLUMN_FINISHED: &str = "完成时间";
pub const REQUIRED_COLUMNS: [&str; 7] = [
    COLUMN_TRADE_NO,
    COLUMN_OUT_TRADE_NO,
    COLUMN_KIND,
    COLUMN_ORDER_AMOUNT,
    COLUMN_RECEIVED,
    COLUMN_REQUEST_NO,
    COLUMN_FINISHED,
];

/// Why a bill could not be used. The message is what the run records as its reason.
#[derive(Debug, thiserror::Error)]
pub enum BillError {
    #[error("alipay has no bill for that day (yet): {0}")]
    NotReady(String),
    #[error("asking for the bill's download URL failed: {0}")]
    Url(String),
    #[error("downloading the bill failed: {0}")]
    Download(String),
    #[error("the bill is larger than the {limit} bytes allowed (BILL_MAX_ZIP_BYTES)")]
    TooLarge { limit: u64 },
    #[error("the bill is not a readable zip file (damaged or truncated?): {0}")]
    NotZip(String),
    #[error("the bill looks like a zip bomb: {0}")]
    Bomb(String),
    #[error("the bill has no detail list (业务明细列表) in any of its {entries} file(s)")]
    NoDetail { entries: usize },
    #[error("unknown bill layout: the detail list lacks the column(s) {}", missing.join(", "))]
    UnknownLayout { missing: Vec<&'static str> },
    #[error("the bill is truncated: {0}")]
    Truncated(String),
    #[error("the bill is for account {found}, not ours ({expected}; ALIPAY_SELLER_ID)")]
    WrongAccount { found: String, expected: String },
    #[error("the bill covers {found}, not {expected}")]
    WrongDate { found: String, expected: NaiveDate },
    #[error("line {line} of the detail list: {problem}")]
    BadLine { line: u64, problem: String },
    #[error("reading the bill: {0}")]
    Io(String),
}

/// A payment line (业务类型 交易).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BillPayment {
    pub trade_no: String,
    pub amount: Money,
    pub finished_at: String,
}

/// A refund line (业务类型 退款).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BillRefund {
    pub out_trade_no: String,
    pub trade_no: String,
    /// 退款批次号/请求号: our `out_request_no` when we asked for the refund.
    pub out_request_no: String,
    /// What was refunded (the bill writes it negative).
    pub amount: Money,
    pub finished_at: String,
}

/// The detail list of one day, as compact records (never the file's text).
#[derive(Debug, Default, Clone)]
pub struct Bill {
    /// By `out_trade_no`.
    pub payments: HashMap<String, BillPayment>,
    pub refunds: Vec<BillRefund>,
    /// Lines of other business types (ignored, counted).
    pub other_lines: u64,
    /// `#账号：[…]` as written (the PID followed by 0156).
    pub account: Option<String>,
}

/// What the bill must be: for this day, and (when known) for this seller.
#[derive(Debug, Clone)]
pub struct Expected {
    pub date: NaiveDate,
    pub seller_id: Option<String>,
}

/// Fetches `url` into an anonymous temporary file (deleted when dropped), refusing more than
/// `limits.max_zip_bytes`. The caller retries with a fresh URL (links live 30 seconds).
pub async fn download(
    client: &reqwest::Client,
    url: &str,
    limits: &Limits,
    timeout: Duration,
) -> Result<std::fs::File, BillError> {
    let mut response = client
        .get(url)
        .timeout(timeout)
        .send()
        .await
        .map_err(|e| BillError::Download(e.without_url().to_string()))?;
    let status = response.status();
    if !status.is_success() {
        return Err(BillError::Download(format!("HTTP {status}")));
    }
    if response
        .content_length()
        .is_some_and(|length| length > limits.max_zip_bytes)
    {
        return Err(BillError::TooLarge {
            limit: limits.max_zip_bytes,
        });
    }
    let mut file = tempfile::tempfile().map_err(|e| BillError::Io(e.to_string()))?;
    let mut written = 0u64;
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| BillError::Download(e.without_url().to_string()))?
    {
        written += chunk.len() as u64;
        if written > limits.max_zip_bytes {
            return Err(BillError::TooLarge {
                limit: limits.max_zip_bytes,
            });
        }
        // A chunk into the page cache: short enough not to matter to the executor.
        file.write_all(&chunk)
            .map_err(|e| BillError::Io(e.to_string()))?;
    }
    file.rewind().map_err(|e| BillError::Io(e.to_string()))?;
    Ok(file)
}

/// Reads the detail list out of a bill zip. Blocking: run it on a blocking thread.
pub fn read_bill<R: Read + Seek>(
    reader: R,
    limits: &Limits,
    expected: &Expected,
) -> Result<Bill, BillError> {
    let mut archive = zip::ZipArchive::new(reader).map_err(|e| BillError::NotZip(e.to_string()))?;
    let entries = archive.len();
    if entries > limits.max_entries {
        return Err(BillError::Bomb(format!(
            "{entries} files in the zip (at most {})",
            limits.max_entries
        )));
    }
    let mut found: Option<Bill> = None;
    for index in 0..entries {
        let entry = archive
            .by_index(index)
            .map_err(|e| BillError::NotZip(e.to_string()))?;
        let declared = entry.size();
        let compressed = entry.compressed_size().max(1);
        if declared > limits.max_csv_bytes {
            return Err(BillError::Bomb(format!(
                "a file of {declared} bytes once decompressed (BILL_MAX_CSV_BYTES is {})",
                limits.max_csv_bytes
            )));
        }
        if declared > 1 << 20 && declared / compressed > limits.max_ratio {
            return Err(BillError::Bomb(format!(
                "a file that decompresses {}× (at most {}×)",
                declared / compressed,
                limits.max_ratio
            )));
        }
        if entry.is_dir() {
            continue;
        }
        // The declared size can lie: count what actually comes out.
        let counted = entry.take(limits.max_csv_bytes + 1);
        if let Some(bill) = read_entry(counted, limits, expected)? {
            if found.is_some() {
                return Err(BillError::UnknownLayout {
                    missing: vec!["(a single 业务明细列表; this zip has several)"],
                });
            }
            found = Some(bill);
        }
    }
    found.ok_or(BillError::NoDetail { entries })
}

/// Where the reader is in one CSV file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Section {
    /// Before the list's opening marker.
    Preamble,
    /// The opening marker was a summary list: the file is not the detail.
    Summary,
    /// After the detail list's opening marker, before its header line.
    Header,
    /// Data lines of the detail list.
    Rows,
    /// After the closing marker.
    Footer,
}

struct Columns {
    trade_no: usize,
    out_trade_no: usize,
    kind: usize,
    order_amount: usize,
    received: usize,
    request_no: usize,
    finished: usize,
}

/// Column names compared with half-width brackets made full-width and spaces, tabs and BOMs
/// removed (Excel round trips and older layouts write `订单金额(元)`).
fn normalise_header(name: &str) -> String {
    name.chars()
        .filter(|c| !c.is_whitespace() && *c != '\u{feff}')
        .map(|c| match c {
            '(' => '（',
            ')' => '）',
            other => other,
        })
        .collect()
}

impl Columns {
    fn find(header: &[String]) -> Result<Self, BillError> {
        let names: Vec<String> = header.iter().map(|h| normalise_header(h)).collect();
        let position = |wanted: &str| names.iter().position(|name| name == wanted);
        let missing: Vec<&'static str> = REQUIRED_COLUMNS
            .iter()
            .copied()
            .filter(|wanted| position(wanted).is_none())
            .collect();
        match (
            position(COLUMN_TRADE_NO),
            position(COLUMN_OUT_TRADE_NO),
            position(COLUMN_KIND),
            position(COLUMN_ORDER_AMOUNT),
            position(COLUMN_RECEIVED),
            position(COLUMN_REQUEST_NO),
            position(COLUMN_FINISHED),
        ) {
            (
                Some(trade_no),
                Some(out_trade_no),
                Some(kind),
                Some(order_amount),
                Some(received),
                Some(request_no),
                Some(finished),
            ) => Ok(Self {
                trade_no,
                out_trade_no,
                kind,
                order_amount,
                received,
                request_no,
                finished,
            }),
            _ => Err(BillError::UnknownLayout { missing }),
        }
    }
}

/// Reads one file of the zip. `Ok(None)`: not the detail list (the summary, a readme).
fn read_entry<R: Read>(
    mut reader: R,
    limits: &Limits,
    expected: &Expected,
) -> Result<Option<Bill>, BillError> {
    let mut decoder = encoding_rs::GBK.new_decoder();
    let mut parser = EntryParser::new(expected);
    let mut raw = vec![0u8; 64 * 1024];
    let mut text = String::with_capacity(128 * 1024);
    let mut total = 0u64;
    loop {
        let read = reader.read(&mut raw).map_err(|e| {
            // A CRC mismatch or a cut deflate stream surfaces here.
            BillError::Truncated(format!("the zip entry cannot be read to its end: {e}"))
        })?;
        total += read as u64;
        if total > limits.max_csv_bytes {
            return Err(BillError::Bomb(format!(
                "a file larger than {} bytes once decompressed (BILL_MAX_CSV_BYTES)",
                limits.max_csv_bytes
            )));
        }
        let last = read == 0;
        let needed = decoder
            .max_utf8_buffer_length(read)
            .unwrap_or(read * 3 + 16);
        text.reserve(needed);
        let (_, _, _) = decoder.decode_to_string(&raw[..read], &mut text, last);
        // Hand over every complete line; keep the unfinished tail for the next chunk.
        let mut start = 0;
        while let Some(offset) = text[start..].find('\n') {
            let end = start + offset;
            parser.line(text[start..end].trim_end_matches('\r'))?;
            if parser.section == Section::Summary {
                return Ok(None);
            }
            start = end + 1;
        }
        text.drain(..start);
        if last {
            if !text.is_empty() {
                let rest = std::mem::take(&mut text);
                parser.line(rest.trim_end_matches('\r'))?;
            }
            return parser.finish();
        }
    }
}

struct EntryParser<'a> {
    expected: &'a Expected,
    section: Section,
    columns: Option<Columns>,
    /// A quoted field that spans lines, waiting for its closing quote.
    pending: Option<String>,
    line_number: u64,
    bill: Bill,
    payment_lines: u64,
    refund_lines: u64,
    /// From the footer (`#交易合计：N笔`, `#退款合计：N笔`), when present.
    footer_payments: Option<u64>,
    footer_refunds: Option<u64>,
}

impl<'a> EntryParser<'a> {
    fn new(expected: &'a Expected) -> Self {
        Self {
            expected,
            section: Section::Preamble,
            columns: None,
            pending: None,
            line_number: 0,
            bill: Bill::default(),
            payment_lines: 0,
            refund_lines: 0,
            footer_payments: None,
            footer_refunds: None,
        }
    }

    fn bad(&self, problem: impl Into<String>) -> BillError {
        BillError::BadLine {
            line: self.line_number,
            problem: problem.into(),
        }
    }

    fn line(&mut self, line: &str) -> Result<(), BillError> {
        self.line_number += 1;
        if let Some(mut pending) = self.pending.take() {
            pending.push('\n');
            pending.push_str(line);
            return self.data_or_header(&pending);
        }
        if let Some(comment) = line.strip_prefix('#') {
            return self.comment(comment);
        }
        match self.section {
            Section::Preamble | Section::Footer | Section::Summary => Ok(()),
            Section::Header | Section::Rows => {
                if line.trim().is_empty() {
                    Ok(())
                } else {
                    self.data_or_header(line)
                }
            }
        }
    }

    fn comment(&mut self, comment: &str) -> Result<(), BillError> {
        if comment.starts_with('-') {
            let title = comment.trim_matches('-');
            match self.section {
                Section::Preamble if title.contains("汇总列表") => {
                    self.section = Section::Summary
                }
                Section::Preamble if title.contains("明细列表") => {
                    self.section = Section::Header
                }
                Section::Header | Section::Rows if title.contains("结束") => {
                    self.section = Section::Footer;
                }
                Section::Preamble
                | Section::Summary
                | Section::Header
                | Section::Rows
                | Section::Footer => {}
            }
            return Ok(());
        }
        match self.section {
            Section::Preamble => {
                if let Some(account) = bracketed(comment, "账号") {
                    self.check_account(&account)?;
                    self.bill.account = Some(account);
                } else if let Some(start) = bracketed(comment, "起始日期") {
                    self.check_date(&start)?;
                }
            }
            Section::Footer => {
                if let Some(count) = footer_count(comment, "交易合计") {
                    self.footer_payments = Some(count);
                } else if let Some(count) = footer_count(comment, "退款合计") {
                    self.footer_refunds = Some(count);
                }
            }
            Section::Summary | Section::Header | Section::Rows => {}
        }
        Ok(())
    }

    fn check_account(&self, account: &str) -> Result<(), BillError> {
        if let Some(seller_id) = &self.expected.seller_id
            && !account.starts_with(seller_id.as_str())
        {
            return Err(BillError::WrongAccount {
                found: account.to_owned(),
                expected: seller_id.clone(),
            });
        }
        Ok(())
    }

    /// `2024年05月15日 00:00:00` must be the start of the expected day.
    fn check_date(&self, start: &str) -> Result<(), BillError> {
        let day = start.split_whitespace().next().unwrap_or("");
        match NaiveDate::parse_from_str(day, "%Y年%m月%d日") {
            Ok(date) if date == self.expected.date => Ok(()),
            Ok(_) | Err(_) => Err(BillError::WrongDate {
                found: start.to_owned(),
                expected: self.expected.date,
            }),
        }
    }

    fn data_or_header(&mut self, line: &str) -> Result<(), BillError> {
        let Some(fields) = split_csv(line) else {
            // An open quote: the field goes on in the next line.
            self.pending = Some(line.to_owned());
            return Ok(());
        };
        match self.section {
            Section::Header => {
                self.columns = Some(Columns::find(&fields)?);
                self.section = Section::Rows;
                Ok(())
            }
            Section::Rows => self.row(&fields),
            Section::Preamble | Section::Summary | Section::Footer => Ok(()),
        }
    }

    fn row(&mut self, fields: &[String]) -> Result<(), BillError> {
        let Some(columns) = &self.columns else {
            return Ok(());
        };
        let field = |index: usize| fields.get(index).map_or("", |value| value.trim());
        let width = [
            columns.trade_no,
            columns.out_trade_no,
            columns.kind,
            columns.order_amount,
            columns.received,
            columns.request_no,
            columns.finished,
        ]
        .into_iter()
        .max()
        .unwrap_or(0);
        if fields.len() <= width {
            return Err(self.bad(format!(
                "{} fields, the header has at least {}",
                fields.len(),
                width + 1
            )));
        }
        let out_trade_no = field(columns.out_trade_no).to_owned();
        let trade_no = field(columns.trade_no).to_owned();
        let finished_at = field(columns.finished).to_owned();
        match field(columns.kind) {
            "交易" => {
                self.payment_lines += 1;
                let amount = amount(field(columns.order_amount))
                    .map_err(|problem| self.bad(format!("{COLUMN_ORDER_AMOUNT}: {problem}")))?;
                if out_trade_no.is_empty() {
                    return Err(self.bad(format!("{COLUMN_OUT_TRADE_NO} is empty")));
                }
                self.bill.payments.insert(
                    out_trade_no,
                    BillPayment {
                        trade_no,
                        amount,
                        finished_at,
                    },
                );
            }
            "退款" => {
                self.refund_lines += 1;
                let amount = amount(field(columns.received))
                    .map_err(|problem| self.bad(format!("{COLUMN_RECEIVED}: {problem}")))?;
                self.bill.refunds.push(BillRefund {
                    out_trade_no,
                    trade_no,
                    out_request_no: field(columns.request_no).to_owned(),
                    amount,
                    finished_at,
                });
            }
            _ => self.bill.other_lines += 1,
        }
        Ok(())
    }

    fn finish(self) -> Result<Option<Bill>, BillError> {
        match self.section {
            Section::Preamble | Section::Summary => Ok(None),
            Section::Header | Section::Rows => Err(BillError::Truncated(format!(
                "the detail list ends after {} line(s) without its closing marker",
                self.line_number
            ))),
            Section::Footer => {
                if self.pending.is_some() {
                    return Err(BillError::Truncated("an unclosed quoted field".into()));
                }
                if self.columns.is_none() {
                    return Err(BillError::UnknownLayout {
                        missing: REQUIRED_COLUMNS.to_vec(),
                    });
                }
                for (what, footer, counted) in [
                    ("payments", self.footer_payments, self.payment_lines),
                    ("refunds", self.footer_refunds, self.refund_lines),
                ] {
                    if let Some(footer) = footer
                        && footer != counted
                    {
                        return Err(BillError::Truncated(format!(
                            "the footer counts {footer} {what}, the list has {counted}"
                        )));
                    }
                }
                Ok(Some(self.bill))
            }
        }
    }
}

/// `"账号：[20881021778468800156]"` with `label` `账号` → the text in brackets. Also finds a
/// second label on the same line (`…   终止日期：[…]` is ignored by asking for 起始日期).
fn bracketed(comment: &str, label: &str) -> Option<String> {
    let after = &comment[comment.find(label)? + label.len()..];
    let after = after.trim_start_matches([':', '：', ' ']);
    let inner = after.strip_prefix('[')?;
    Some(inner[..inner.find(']')?].trim().to_owned())
}

/// `交易合计：3笔，…` → 3.
fn footer_count(comment: &str, label: &str) -> Option<u64> {
    let after = comment.strip_prefix(label)?.trim_start_matches([':', '：']);
    let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// A bill amount: `99.90`, `-99.90` (refunds are negative), with the tab Alipay appends.
fn amount(text: &str) -> Result<Money, String> {
    let text = text.trim();
    text.strip_prefix('-')
        .unwrap_or(text)
        .parse::<Money>()
        .map_err(|e| format!("{text:?} is not an amount ({e})"))
}

/// Splits one CSV record (RFC 4180 quoting); `None` while a quoted field is still open.
fn split_csv(line: &str) -> Option<Vec<String>> {
    let mut fields = Vec::with_capacity(32);
    let mut field = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        if quoted {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    field.push('"');
                    chars.next();
                } else {
                    quoted = false;
                }
            } else {
                field.push(c);
            }
        } else if c == '"' && field.trim().is_empty() {
            field.clear();
            quoted = true;
        } else if c == ',' {
            fields.push(std::mem::take(&mut field));
        } else {
            field.push(c);
        }
    }
    if quoted {
        return None;
    }
    fields.push(field);
    Some(fields)
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;

    const HEADER: &str = "支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,对方账户,订单金额（元）,商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,商家优惠（元）,券核销金额（元）,券名称,商家红包消费金额（元）,卡消费金额（元）,退款批次号/请求号,服务费（元）,分润（元）,备注";

    fn expected() -> Expected {
        Expected {
            date: NaiveDate::from_ymd_opt(2026, 12, 4).unwrap(),
            seller_id: Some("2088102177846880".into()),
        }
    }

    fn detail(header: &str, rows: &[&str], end: bool) -> String {
        let mut text = String::from(
            "#支付宝业务明细查询\r\n#账号：[20881021778468800156]\r\n#起始日期：[2026年12月04日 00:00:00]   终止日期：[2026年12月05日 00:00:00]\r\n#-----------------------------------------业务明细列表----------------------------------------\r\n",
        );
        text.push_str(header);
        text.push_str("\r\n");
        for row in rows {
            text.push_str(row);
            text.push_str("\r\n");
        }
        if end {
            text.push_str("#-----------------------------------------业务明细列表结束------------------------------------\r\n#交易合计：1笔，商家实收共99.90元，商家优惠共0.00元\r\n#退款合计：1笔，商家实收退款共-10.00元，商家优惠退款共0.00元\r\n");
        }
        text
    }

    fn zip(files: &[(&str, &str)]) -> Vec<u8> {
        let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (name, text) in files {
            let (gbk, _, _) = encoding_rs::GBK.encode(text);
            writer.start_file(*name, options).unwrap();
            writer.write_all(&gbk).unwrap();
        }
        writer.finish().unwrap().into_inner()
    }

    const PAY: &str = "2026120422001400000000000001\t,T1\t,交易\t,\"课程, 入门\"\t,2026-12-04 10:00:00\t,2026-12-04 10:01:00\t,\t,\t,\t,\t,sbx***@sandbox.com\t,99.90\t,99.90\t,0.00\t,0.00\t,0.00\t,0.00\t,0.00\t,\t,0.00\t,0.00\t,\t,0.00\t,0.00\t,\t";
    const REFUND: &str = "2026120422001400000000000001\t,T1\t,退款\t,课程\t,2026-12-04 10:00:00\t,2026-12-04 11:00:00\t,\t,\t,\t,\t,sbx***@sandbox.com\t,99.90\t,-10.00\t,0.00\t,0.00\t,0.00\t,0.00\t,0.00\t,\t,0.00\t,0.00\t,R1\t,0.00\t,0.00\t,\t";

    #[test]
    fn reads_payments_and_refunds_by_column_name() {
        let bytes = zip(&[
            (
                "a_业务明细(汇总).csv",
                "#x\r\n#-----业务汇总列表-----\r\n门店编号\r\n",
            ),
            ("a_业务明细.csv", &detail(HEADER, &[PAY, REFUND], true)),
        ]);
        let bill = read_bill(Cursor::new(bytes), &Limits::default(), &expected()).unwrap();
        assert_eq!(bill.payments["T1"].amount.to_string(), "99.90");
        assert_eq!(bill.payments["T1"].finished_at, "2026-12-04 10:01:00");
        assert_eq!(bill.refunds.len(), 1);
        assert_eq!(bill.refunds[0].out_request_no, "R1");
        assert_eq!(bill.refunds[0].amount.to_string(), "10.00");
    }

    #[test]
    fn columns_may_move() {
        let header =
            "商户订单号,业务类型,退款批次号/请求号,订单金额(元),商家实收(元),完成时间,支付宝交易号";
        let text = detail(
            header,
            &[
                "T2,交易,,5.00,5.00,2026-12-04 01:00:00,2026",
                "T2,退款,R9,5.00,-5.00,2026-12-04 02:00:00,2026",
            ],
            true,
        );
        let bill = read_bill(
            Cursor::new(zip(&[("x.csv", &text)])),
            &Limits::default(),
            &expected(),
        )
        .unwrap();
        assert_eq!(bill.payments["T2"].amount.to_string(), "5.00");
        assert_eq!(bill.refunds[0].out_request_no, "R9");
    }

    #[test]
    fn an_unknown_layout_names_the_missing_columns() {
        let text = detail("支付宝交易号,商户订单号,业务类型,金额", &[], true);
        let error = read_bill(
            Cursor::new(zip(&[("x.csv", &text)])),
            &Limits::default(),
            &expected(),
        )
        .unwrap_err();
        let message = error.to_string();
        assert!(message.contains("订单金额（元）"), "{message}");
        assert!(message.contains("退款批次号/请求号"), "{message}");
        assert!(!message.contains("支付宝交易号"), "{message}");
    }

    #[test]
    fn bad_files_are_refused() {
        let limits = Limits::default();
        let not_zip = read_bill(Cursor::new(b"<html>".to_vec()), &limits, &expected());
        assert!(matches!(not_zip, Err(BillError::NotZip(_))), "{not_zip:?}");

        let cut = detail(HEADER, &[PAY], false);
        let truncated = read_bill(Cursor::new(zip(&[("x.csv", &cut)])), &limits, &expected());
        assert!(
            matches!(truncated, Err(BillError::Truncated(_))),
            "{truncated:?}"
        );

        let whole = zip(&[("x.csv", &detail(HEADER, &[PAY, REFUND], true))]);
        let half = read_bill(
            Cursor::new(whole[..whole.len() / 2].to_vec()),
            &limits,
            &expected(),
        );
        assert!(matches!(half, Err(BillError::NotZip(_))), "{half:?}");

        let foreign =
            detail(HEADER, &[PAY, REFUND], true).replace("2088102177846880", "2088000000000009");
        let wrong = read_bill(
            Cursor::new(zip(&[("x.csv", &foreign)])),
            &limits,
            &expected(),
        );
        assert!(
            matches!(wrong, Err(BillError::WrongAccount { .. })),
            "{wrong:?}"
        );

        let other_day = detail(HEADER, &[PAY, REFUND], true).replace("12月04日", "12月03日");
        let wrong = read_bill(
            Cursor::new(zip(&[("x.csv", &other_day)])),
            &limits,
            &expected(),
        );
        assert!(
            matches!(wrong, Err(BillError::WrongDate { .. })),
            "{wrong:?}"
        );

        let none = read_bill(
            Cursor::new(zip(&[("readme.txt", "hello")])),
            &limits,
            &expected(),
        );
        assert!(matches!(none, Err(BillError::NoDetail { .. })), "{none:?}");
    }

    #[test]
    fn a_zip_bomb_is_refused_before_it_is_inflated() {
        let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        writer.start_file("bomb.csv", options).unwrap();
        let zeros = vec![b'0'; 1 << 20];
        for _ in 0..64 {
            writer.write_all(&zeros).unwrap();
        }
        let bytes = writer.finish().unwrap().into_inner();
        let error = read_bill(Cursor::new(bytes), &Limits::default(), &expected()).unwrap_err();
        assert!(matches!(error, BillError::Bomb(_)), "{error:?}");
    }

    #[test]
    fn csv_quoting() {
        assert_eq!(
            split_csv("a,\"b,c\",\"d\"\"e\"").unwrap(),
            ["a", "b,c", "d\"e"]
        );
        assert_eq!(split_csv("\"open"), None);
        assert_eq!(split_csv("x\t,y\t").unwrap(), ["x\t", "y\t"]);
    }
}
