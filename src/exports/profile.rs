//! An export profile (a row of `etl.export_profiles`): how one
//! marketplace's export file maps to `etl.raw_orders` lines. Pure: read from
//! the row's values, checked, and matched against a file's header row.

use crate::error::Error;

/// The raw columns a profile may map, in `etl.raw_orders`' order.
pub const RAW_COLUMNS: [&str; 7] =
    ["order_id", "shop", "customer_name", "order_status", "order_type", "amount", "ordered_at"];

/// Index of each raw column in [`RAW_COLUMNS`].
pub const ORDER_ID: usize = 0;
pub const SHOP: usize = 1;
pub const CUSTOMER_NAME: usize = 2;
pub const ORDERED_AT: usize = 6;
pub const AMOUNT: usize = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Xlsx,
}

/// How the source writes `ordered_at`, when not in one of the contract's forms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeFormat {
    /// Kept as exported (XLSX date cells are still written as
    /// `YYYY-MM-DD HH:MI:SS`: a date cell has no text of its own).
    AsExported,
    /// `2024-01-15 10:23:45 -0500` (Shopify): the offset gets its colon.
    OffsetWithoutColon,
    /// Excel serial day numbers (`45306.4325`, 1900 date system).
    ExcelSerial,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AmountFormat {
    AsExported,
    /// `USD 1,234.50` or `1234.50 CNY`: the ISO 4217 code is stripped.
    CurrencyCode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowsPerOrder {
    /// Every row is a line.
    EachRowALine,
    /// The rows of one order follow each other (Shopify: a row per line
    /// item, the totals on the first): only the first row is a line.
    FirstRow,
}

#[derive(Debug, Clone)]
pub struct Profile {
    pub name: String,
    pub format: Format,
    /// An encoding_rs label: `utf-8`, `gbk` or `gb18030`.
    pub encoding: String,
    pub delimiter: u8,
    /// For each raw column, the header names that may hold it, first
    /// non-empty wins; empty when the profile does not map the column.
    pub headers: [Vec<String>; 7],
    pub fixed_shop: Option<String>,
    pub time_format: TimeFormat,
    pub amount_format: AmountFormat,
    pub rows_per_order: RowsPerOrder,
}

/// The text values of an `etl.export_profiles` row (the CHECK constraints
/// of the table already hold; they are checked again here, so that a
/// superuser's row that bypassed them gives a clear error, not a panic).
#[derive(Debug, Clone, Default)]
pub struct ProfileRow {
    pub name: String,
    pub format: String,
    pub encoding: String,
    pub delimiter: String,
    pub columns: String,
    pub fixed_shop: Option<String>,
    pub ordered_at_format: String,
    pub amount_format: String,
    pub rows_per_order: String,
}

impl Profile {
    pub fn from_row(row: ProfileRow) -> Result<Profile, Error> {
        let bad = |why: String| Error::BadExportProfile { profile: row.name.clone(), why };
        let format = match row.format.as_str() {
            "csv" => Format::Csv,
            "xlsx" => Format::Xlsx,
            other => return Err(bad(format!("format '{other}' is not csv or xlsx"))),
        };
        if !["utf-8", "gbk", "gb18030"].contains(&row.encoding.as_str()) {
            return Err(bad(format!("encoding '{}' is not utf-8, gbk or gb18030", row.encoding)));
        }
        let delimiter = match row.delimiter.as_bytes() {
            [d] if d.is_ascii() && !matches!(d, b'"' | b'\n' | b'\r') => *d,
            _ => return Err(bad(format!("delimiter '{}' is not one ASCII character", row.delimiter))),
        };
        let json: serde_json::Value =
            serde_json::from_str(&row.columns).map_err(|e| bad(format!("columns is not JSON: {e}")))?;
        let serde_json::Value::Object(map) = json else {
            return Err(bad("columns is not a JSON object".into()));
        };
        let mut headers: [Vec<String>; 7] = Default::default();
        for (column, value) in map {
            let Some(at) = RAW_COLUMNS.iter().position(|c| *c == column) else {
                return Err(bad(format!(
                    "columns maps \"{column}\", which is not a column of etl.raw_orders ({})",
                    RAW_COLUMNS.join(", ")
                )));
            };
            let names: Vec<String> = match value {
                serde_json::Value::String(s) => vec![s],
                serde_json::Value::Array(items) => items
                    .into_iter()
                    .map(|i| match i {
                        serde_json::Value::String(s) => Ok(s),
                        _ => Err(bad(format!("columns.{column} lists a value that is not a header name"))),
                    })
                    .collect::<Result<_, _>>()?,
                _ => return Err(bad(format!("columns.{column} is not a header name or a list of them"))),
            };
            if names.is_empty() || names.iter().any(|n| n.trim().is_empty()) {
                return Err(bad(format!("columns.{column} has an empty header name")));
            }
            headers[at] = names;
        }
        let time_format = match row.ordered_at_format.as_str() {
            "as_exported" => TimeFormat::AsExported,
            "offset_without_colon" => TimeFormat::OffsetWithoutColon,
            "excel_serial" => TimeFormat::ExcelSerial,
            other => return Err(bad(format!("ordered_at_format '{other}' is unknown"))),
        };
        let amount_format = match row.amount_format.as_str() {
            "as_exported" => AmountFormat::AsExported,
            "currency_code" => AmountFormat::CurrencyCode,
            other => return Err(bad(format!("amount_format '{other}' is unknown"))),
        };
        let rows_per_order = match row.rows_per_order.as_str() {
            "each_row_a_line" => RowsPerOrder::EachRowALine,
            "first_row" => RowsPerOrder::FirstRow,
            other => return Err(bad(format!("rows_per_order '{other}' is unknown"))),
        };
        Ok(Profile {
            name: row.name,
            format,
            encoding: row.encoding,
            delimiter,
            headers,
            fixed_shop: row.fixed_shop,
            time_format,
            amount_format,
            rows_per_order,
        })
    }
}

/// Where each raw column's value is in a file's rows: the positions of its
/// candidate headers that the file has, in the profile's order (empty: the
/// column is not mapped, NULL in every line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderMap {
    pub positions: [Vec<usize>; 7],
}

/// A header name as compared: without surrounding white space (the
/// contract's trim set) and a UTF-8 BOM that a reader left on the first.
fn header_key(name: &str) -> &str {
    name.trim_start_matches('\u{feff}').trim_matches(|c| " \t\r\n\u{3000}".contains(c))
}

/// Matches the profile against the file's header row. Every mapped column
/// needs at least one of its headers in the file (but the shop column not
/// when `shop_given`: a fixed shop or the call's); the error names every
/// missing one.
pub fn map_headers(profile: &Profile, header_row: &[String], shop_given: bool) -> Result<HeaderMap, Error> {
    let mut positions: [Vec<usize>; 7] = Default::default();
    let mut missing = Vec::new();
    for (at, names) in profile.headers.iter().enumerate() {
        if names.is_empty() || (at == SHOP && shop_given) {
            continue;
        }
        for name in names {
            if let Some(p) = header_row.iter().position(|h| header_key(h) == header_key(name)) {
                positions[at].push(p);
            }
        }
        if positions[at].is_empty() {
            let wanted = names.iter().map(|n| format!("\"{n}\"")).collect::<Vec<_>>().join(" or ");
            missing.push(format!("{wanted} (for {})", RAW_COLUMNS[at]));
        }
    }
    if !missing.is_empty() {
        return Err(Error::ExportMissingHeaders { profile: profile.name.clone(), missing: missing.join(", ") });
    }
    Ok(HeaderMap { positions })
}

#[cfg(test)]
mod tests {
    use super::*;

    pub fn row(columns: &str) -> ProfileRow {
        ProfileRow {
            name: "p".into(),
            format: "csv".into(),
            encoding: "utf-8".into(),
            delimiter: ",".into(),
            columns: columns.into(),
            fixed_shop: None,
            ordered_at_format: "as_exported".into(),
            amount_format: "as_exported".into(),
            rows_per_order: "each_row_a_line".into(),
        }
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_profile_mapping_an_unknown_raw_column_is_refused_by_name() {
        let err = Profile::from_row(row(r#"{"order_id": "Name", "price": "Total"}"#)).unwrap_err();
        assert!(err.to_string().contains("\"price\", which is not a column of etl.raw_orders"), "{err}");
        let err = Profile::from_row(row(r#"{"order_id": []}"#)).unwrap_err();
        assert!(err.to_string().contains("empty header name"), "{err}");
        let err = Profile::from_row(row(r#"{"order_id": 7}"#)).unwrap_err();
        assert!(err.to_string().contains("not a header name"), "{err}");
    }

    #[test]
    fn candidate_headers_keep_the_profiles_order_and_missing_ones_are_all_named() {
        let p = Profile::from_row(row(
            r#"{"order_id": "Name", "customer_name": ["Billing Name", "Email"], "amount": "Total", "shop": "Store"}"#,
        ))
        .unwrap();
        // The file has Email before Billing Name: the profile's order wins.
        let map =
            map_headers(&p, &strings(&["\u{feff}Name", "Email", " Billing Name ", "Total", "Store"]), false).unwrap();
        assert_eq!(map.positions[ORDER_ID], vec![0]);
        assert_eq!(map.positions[CUSTOMER_NAME], vec![2, 1]);
        assert_eq!(map.positions[SHOP], vec![4]);
        assert!(map.positions[ORDERED_AT].is_empty());

        let err = map_headers(&p, &strings(&["Name", "Totals"]), false).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("\"Billing Name\" or \"Email\" (for customer_name)"), "{text}");
        assert!(text.contains("\"Total\" (for amount)"), "{text}");
        assert!(text.contains("\"Store\" (for shop)"), "{text}");
        // A shop given by the profile or the call needs no shop column.
        let err = map_headers(&p, &strings(&["Name", "Email", "Total"]), true);
        assert!(err.is_ok(), "{err:?}");
    }
}
