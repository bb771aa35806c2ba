//! Shaping an export's rows into `etl.raw_orders` lines. Pure: a row's cells
//! in, a line out. Cells are kept as text exactly as exported (the orders
//! stage cleans and validates them as for any import), except a time or an
//! amount written in a form the profile declares and the contract would
//! refuse: that one is rewritten in the contract's form. A cell that does
//! not match the declared form is kept as exported, so that it is
//! rejected with its own text.

use super::profile::{
    AmountFormat, HeaderMap, Profile, RowsPerOrder, TimeFormat, AMOUNT, CUSTOMER_NAME, ORDERED_AT, ORDER_ID, SHOP,
};

/// One cell as read: text as exported, or a spreadsheet's date cell (its
/// serial day number, already in the 1900 system).
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Text(String),
    Date(f64),
}

/// One `etl.raw_orders` line: its number and the seven text columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub line_no: i32,
    pub values: [Option<String>; 7],
}

const TRIM: &[char] = &[' ', '\t', '\r', '\n', '\u{3000}'];

/// Turns rows into lines, one row at a time, remembering only the previous
/// row's order id (the rows of one order follow each other): memory does
/// not grow with the file.
pub struct Shaper<'a> {
    profile: &'a Profile,
    map: HeaderMap,
    shop: Option<String>,
    previous_order: Option<String>,
}

impl<'a> Shaper<'a> {
    /// `shop`: the shop every line gets (the call's, else the profile's
    /// fixed shop); `None` reads it from the mapped column.
    pub fn new(profile: &'a Profile, map: HeaderMap, shop: Option<String>) -> Self {
        Shaper { profile, map, shop, previous_order: None }
    }

    /// The line of data row `line_no`, or `None` when the row is not a line:
    /// every cell empty, or a further row of the order before it
    /// (`rows_per_order = first_row`).
    pub fn line(&mut self, line_no: i32, row: &[Option<Cell>]) -> Option<Line> {
        if row.iter().all(|c| match c {
            None => true,
            Some(Cell::Text(t)) => t.trim_matches(TRIM).is_empty(),
            Some(Cell::Date(_)) => false,
        }) {
            return None;
        }
        let mut values: [Option<String>; 7] = Default::default();
        for (at, positions) in self.map.positions.iter().enumerate() {
            if positions.is_empty() {
                continue;
            }
            values[at] = self.first_non_empty(row, positions, at);
        }
        if let Some(shop) = &self.shop {
            values[SHOP] = Some(shop.clone());
        }
        if self.profile.rows_per_order == RowsPerOrder::FirstRow {
            let key = values[ORDER_ID].as_deref().map(|v| v.trim_matches(TRIM)).filter(|v| !v.is_empty());
            let same = key.is_some() && key == self.previous_order.as_deref();
            self.previous_order = key.map(str::to_owned);
            if same {
                return None;
            }
        }
        Some(Line { line_no, values })
    }

    /// The first of the candidate cells that is not empty once trimmed,
    /// else the first candidate's cell as it is; written as text.
    fn first_non_empty(&self, row: &[Option<Cell>], positions: &[usize], column: usize) -> Option<String> {
        let cell_at = |p: usize| row.get(p).and_then(|c| c.as_ref());
        let chosen = positions
            .iter()
            .map(|&p| cell_at(p))
            .find(|c| match c {
                Some(Cell::Text(t)) => !t.trim_matches(TRIM).is_empty(),
                Some(Cell::Date(_)) => true,
                None => false,
            })
            .unwrap_or_else(|| cell_at(positions[0]))?;
        Some(match chosen {
            Cell::Date(serial) if column == ORDERED_AT => {
                serial_to_timestamp(*serial).unwrap_or_else(|| number_text(*serial))
            }
            Cell::Date(serial) => number_text(*serial),
            Cell::Text(text) => match column {
                ORDERED_AT => rewrite_time(self.profile.time_format, text),
                AMOUNT => rewrite_amount(self.profile.amount_format, text),
                CUSTOMER_NAME | ORDER_ID | SHOP => text.clone(),
                _ => text.clone(),
            },
        })
    }
}

/// A number as a spreadsheet holds it, as text (the shortest that reads
/// back as the same number: `1234.5`, `45306`).
pub fn number_text(value: f64) -> String {
    format!("{value}")
}

/// `ordered_at` in the contract's form when the profile declares the
/// source's form and the cell matches it; else the cell as exported.
pub fn rewrite_time(format: TimeFormat, text: &str) -> String {
    let trimmed = text.trim_matches(TRIM);
    let rewritten = match format {
        TimeFormat::AsExported => None,
        TimeFormat::OffsetWithoutColon => offset_with_colon(trimmed),
        TimeFormat::ExcelSerial => excel_serial(trimmed).and_then(serial_to_timestamp),
    };
    rewritten.unwrap_or_else(|| text.to_owned())
}

fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// `YYYY-MM-DD HH:MI:SS ±HHMM` -> `YYYY-MM-DD HH:MI:SS±HH:MM`.
fn offset_with_colon(s: &str) -> Option<String> {
    let (datetime, offset) = s.rsplit_once(' ')?;
    let (date, time) = datetime.split_once(' ')?;
    let date_ok = date.len() == 10
        && date.split('-').map(|p| p.len()).collect::<Vec<_>>() == [4, 2, 2]
        && date.split('-').all(all_digits);
    let time_ok = time.len() == 8
        && time.split(':').map(|p| p.len()).collect::<Vec<_>>() == [2, 2, 2]
        && time.split(':').all(all_digits);
    let bytes = offset.as_bytes();
    let offset_ok = bytes.len() == 5 && matches!(bytes[0], b'+' | b'-') && all_digits(&offset[1..]);
    (date_ok && time_ok && offset_ok).then(|| format!("{date} {time}{}:{}", &offset[..3], &offset[3..]))
}

/// A serial day number written as text: digits, optionally a fraction.
fn excel_serial(s: &str) -> Option<f64> {
    let (whole, fraction) = s.split_once('.').unwrap_or((s, "0"));
    if !all_digits(whole) || !all_digits(fraction) || whole.len() > 7 {
        return None;
    }
    s.parse().ok()
}

/// Days from 1970-01-01 of a civil date (proleptic Gregorian).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day count from 1970-01-01.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { yoe + era * 400 + 1 } else { yoe + era * 400 }, m, d)
}

/// An Excel serial day number (1900 date system) as `YYYY-MM-DD HH:MI:SS`,
/// to the nearest second. Serial 60 is Excel's 1900-02-29, a day that
/// never was, and serials below 1 are no date: `None` (kept as exported).
pub fn serial_to_timestamp(serial: f64) -> Option<String> {
    if !serial.is_finite() || !(1.0..2_958_466.0).contains(&serial) {
        return None;
    }
    let seconds = (serial * 86_400.0).round() as i64;
    let (mut days, secs) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    if days == 60 {
        return None;
    }
    // Excel counts the false 1900-02-29: from serial 61 on, day 0 is
    // 1899-12-30; before it, 1899-12-31.
    if days < 60 {
        days += 1;
    }
    let (y, m, d) = civil_from_days(days_from_civil(1899, 12, 30) + days);
    if y > 9999 {
        return None;
    }
    Some(format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}", secs / 3600, secs % 3600 / 60, secs % 60))
}

/// The serial day number (1900 system) of a civil date and time, for a
/// spreadsheet's date cell read as its parts.
pub fn serial_of(y: u16, mo: u8, d: u8, h: u8, mi: u8, s: u8, ms: u16) -> f64 {
    let days = days_from_civil(i64::from(y), i64::from(mo), i64::from(d)) - days_from_civil(1899, 12, 30);
    let days = if days <= 60 { days - 1 } else { days } as f64;
    days + (f64::from(h) * 3600.0 + f64::from(mi) * 60.0 + f64::from(s) + f64::from(ms) / 1000.0) / 86_400.0
}

/// `amount` without its ISO 4217 currency code (`USD 1,234.50`,
/// `1234.50 CNY`) when the profile says the source writes one and the cell
/// has one beside a number; else the cell as exported.
pub fn rewrite_amount(format: AmountFormat, text: &str) -> String {
    if format == AmountFormat::AsExported {
        return text.to_owned();
    }
    let trimmed = text.trim_matches(TRIM);
    let is_code = |s: &str| s.len() == 3 && s.bytes().all(|b| b.is_ascii_uppercase());
    let starts_numeric = |s: &str| s.chars().next().is_some_and(|c| c.is_ascii_digit() || "¥￥".contains(c));
    let ends_numeric = |s: &str| s.chars().next_back().is_some_and(|c| c.is_ascii_digit());
    if trimmed.len() > 3 && trimmed.is_char_boundary(3) {
        let (code, rest) = trimmed.split_at(3);
        let rest = rest.trim_start_matches(TRIM);
        if is_code(code) && starts_numeric(rest) && ends_numeric(rest) {
            return rest.to_owned();
        }
    }
    if trimmed.len() > 3 && trimmed.is_char_boundary(trimmed.len() - 3) {
        let (rest, code) = trimmed.split_at(trimmed.len() - 3);
        let rest = rest.trim_end_matches(TRIM);
        if is_code(code) && starts_numeric(rest) && ends_numeric(rest) {
            return rest.to_owned();
        }
    }
    text.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exports::profile::{map_headers, Profile, ProfileRow};

    fn shopify() -> Profile {
        Profile::from_row(ProfileRow {
            name: "shopify".into(),
            format: "csv".into(),
            encoding: "utf-8".into(),
            delimiter: ",".into(),
            columns: r#"{"order_id": "Name", "customer_name": ["Billing Name", "Email"],
                         "order_status": "Financial Status", "amount": "Total", "ordered_at": "Created at"}"#
                .into(),
            fixed_shop: None,
            ordered_at_format: "offset_without_colon".into(),
            amount_format: "currency_code".into(),
            rows_per_order: "first_row".into(),
        })
        .unwrap()
    }

    fn text_row(cells: &[&str]) -> Vec<Option<Cell>> {
        cells.iter().map(|c| Some(Cell::Text(c.to_string()))).collect()
    }

    #[test]
    fn shopify_times_get_the_offsets_colon_and_anything_else_is_kept_as_exported() {
        let f = TimeFormat::OffsetWithoutColon;
        assert_eq!(rewrite_time(f, "2024-01-15 10:23:45 -0500"), "2024-01-15 10:23:45-05:00");
        assert_eq!(rewrite_time(f, " 2024-07-01 00:00:01 +0800\t"), "2024-07-01 00:00:01+08:00");
        // Not the declared form: kept, so the stage rejects it with its own text.
        for kept in [
            "2024-01-15 10:23:45",
            "2024-01-15 10:23:45 EST",
            "2024-1-15 10:23:45 -0500",
            "2024-01-15 10:23:45 -05:00",
            "２０２４-01-15 10:23:45 -0500",
            "",
            "  ",
        ] {
            assert_eq!(rewrite_time(f, kept), kept);
        }
        // As exported means as exported.
        assert_eq!(rewrite_time(TimeFormat::AsExported, "2024-01-15 10:23:45 -0500"), "2024-01-15 10:23:45 -0500");
    }

    #[test]
    fn excel_serial_days_become_the_contracts_timestamps() {
        let f = TimeFormat::ExcelSerial;
        assert_eq!(rewrite_time(f, "45306"), "2024-01-15 00:00:00");
        // 10:23:45 is 0.43316 of a day: rounded to the second, not truncated.
        assert_eq!(rewrite_time(f, "45306.43315972222"), "2024-01-15 10:23:45");
        assert_eq!(rewrite_time(f, "45306.999999"), "2024-01-16 00:00:00");
        assert_eq!(rewrite_time(f, "61"), "1900-03-01 00:00:00");
        assert_eq!(rewrite_time(f, "59"), "1900-02-28 00:00:00");
        assert_eq!(rewrite_time(f, "1"), "1900-01-01 00:00:00");
        // Excel's 1900-02-29, no number, a negative or a too-large one: kept.
        for kept in ["60", "0", "-5", "1e5", "45306,5", "3000000", "abc", "2024-01-15"] {
            assert_eq!(rewrite_time(f, kept), kept);
        }
        // A date cell read as its parts goes back to the same serial.
        assert_eq!(serial_of(2024, 1, 15, 10, 23, 45, 0), 45306.0 + 37425.0 / 86400.0);
        assert_eq!(serial_to_timestamp(serial_of(1900, 1, 1, 0, 0, 0, 0)).unwrap(), "1900-01-01 00:00:00");
        assert_eq!(serial_to_timestamp(serial_of(2024, 2, 29, 23, 59, 59, 600)).unwrap(), "2024-03-01 00:00:00");
    }

    #[test]
    fn a_currency_code_beside_the_number_is_stripped_and_nothing_else() {
        let f = AmountFormat::CurrencyCode;
        assert_eq!(rewrite_amount(f, "USD 1,234.50"), "1,234.50");
        assert_eq!(rewrite_amount(f, "1234.50 CNY"), "1234.50");
        assert_eq!(rewrite_amount(f, "CNY¥88"), "¥88");
        assert_eq!(rewrite_amount(f, " 12EUR "), "12");
        for kept in ["1234.50", "usd 12", "US 12", "USD", "USD abc", "12 USDX", "-12 USD", "人民币 12", ""] {
            assert_eq!(rewrite_amount(f, kept), kept);
        }
        assert_eq!(rewrite_amount(AmountFormat::AsExported, "USD 12"), "USD 12");
    }

    #[test]
    fn a_shopify_order_of_several_rows_is_its_first_row_and_the_customer_falls_back_to_the_email() {
        let p = shopify();
        let header: Vec<String> =
            ["Name", "Email", "Financial Status", "Total", "Created at", "Billing Name", "Lineitem name"]
                .iter()
                .map(|s| s.to_string())
                .collect();
        let map = map_headers(&p, &header, true).unwrap();
        let mut shaper = Shaper::new(&p, map, Some("Shopify US".into()));
        let rows = [
            text_row(&["#1001", "a@x.com", "paid", "USD 30.00", "2024-01-15 10:23:45 -0500", "Ann Lee", "Mug"]),
            text_row(&["#1001", "a@x.com", "", "", "", "", "Spoon"]),
            text_row(&["#1002", "b@x.com", "pending", "12.5", "2024-01-16 08:00:00 +0000", "  ", "Cup"]),
            text_row(&["", "", "", "", "", "", ""]),
            text_row(&["#1002", "", "", "", "", "", "Lid"]),
            text_row(&["#1001", "c@x.com", "refunded", "5", "junk", "", "Mug"]),
        ];
        let lines: Vec<Line> = rows.iter().enumerate().filter_map(|(i, r)| shaper.line(i as i32 + 1, r)).collect();
        assert_eq!(lines.len(), 3, "{lines:?}");
        let v = |l: &Line| l.values.clone().map(|c| c.unwrap_or_else(|| "NULL".into()));
        assert_eq!(lines[0].line_no, 1);
        assert_eq!(
            v(&lines[0]),
            ["#1001", "Shopify US", "Ann Lee", "paid", "NULL", "30.00", "2024-01-15 10:23:45-05:00"].map(String::from)
        );
        // Billing Name blank: the Email is the customer; the empty row is no line,
        // and the Lid row (after an empty row) still belongs to #1002.
        assert_eq!(lines[1].line_no, 3);
        assert_eq!(v(&lines[1])[2], "b@x.com");
        // #1001 again, not right after its rows: a line of its own (the stage's
        // greatest line wins), its bad time kept as exported.
        assert_eq!(lines[2].line_no, 6);
        assert_eq!(v(&lines[2])[6], "junk");
    }

    #[test]
    fn cells_are_kept_as_exported_and_missing_cells_are_null() {
        let p = Profile::from_row(ProfileRow {
            name: "g".into(),
            format: "csv".into(),
            encoding: "utf-8".into(),
            delimiter: ",".into(),
            columns: r#"{"order_id":"order_id","shop":"shop","customer_name":"customer_name","amount":"amount","ordered_at":"ordered_at"}"#.into(),
            fixed_shop: None,
            ordered_at_format: "as_exported".into(),
            amount_format: "as_exported".into(),
            rows_per_order: "each_row_a_line".into(),
        })
        .unwrap();
        let header: Vec<String> =
            ["order_id", "shop", "customer_name", "amount", "ordered_at"].iter().map(|s| s.to_string()).collect();
        let map = map_headers(&p, &header, false).unwrap();
        let mut shaper = Shaper::new(&p, map, None);
        let line = shaper.line(1, &text_row(&[" A-1 ", "店铺\u{3000}", "王五", "￥1,000"])).unwrap();
        assert_eq!(line.values[0].as_deref(), Some(" A-1 "));
        assert_eq!(line.values[1].as_deref(), Some("店铺\u{3000}"));
        assert_eq!(line.values[5].as_deref(), Some("￥1,000"));
        assert_eq!(line.values[6], None, "a cell the row lacks is NULL");
        assert_eq!(line.values[3], None, "an unmapped column is NULL");
        // The same order twice in a row is two lines unless the profile says first_row.
        assert!(shaper.line(2, &text_row(&[" A-1 ", "s", "c", "1", "2024-01-01"])).is_some());
        // A date cell in the time column is written in the contract's form.
        let mut row = text_row(&["A-2", "s", "c", "1"]);
        row.push(Some(Cell::Date(45306.5)));
        assert_eq!(shaper.line(3, &row).unwrap().values[6].as_deref(), Some("2024-01-15 12:00:00"));
    }
}
