//! Reading an export's rows: CSV (any delimiter, quoted fields with
//! newlines; UTF-8 with or without a BOM, GBK or GB18030, decoded as it
//! streams) and XLSX (the first sheet, cell by cell). Each row is handed to
//! a callback as it is read, so memory holds one row (plus, for XLSX, the
//! workbook's shared strings), never the file.

use std::io::{self, Read, Seek, SeekFrom};
use std::panic::{catch_unwind, AssertUnwindSafe};

use calamine::{DataRef, Reader, Xlsx};
use encoding_rs::{Decoder, DecoderResult, Encoding};

use super::profile::{Format, Profile};
use super::shape::{number_text, serial_of, Cell};
use crate::error::Error;

/// Decodes `inner` from `encoding` to UTF-8 as it is read. A BOM decides
/// (a UTF-8 BOM is removed, and a file that starts with one is UTF-8
/// whatever the profile says); a byte sequence the encoding does not have
/// is an error, never a replacement character.
pub struct Decoding<R> {
    inner: R,
    decoder: Decoder,
    encoding: &'static Encoding,
    input: Vec<u8>,
    in_start: usize,
    in_end: usize,
    output: Vec<u8>,
    out_start: usize,
    out_end: usize,
    consumed: u64,
    eof: bool,
    done: bool,
}

impl<R: Read> Decoding<R> {
    pub fn new(inner: R, label: &str) -> Result<Self, Error> {
        let encoding = Encoding::for_label(label.as_bytes())
            .ok_or_else(|| Error::ExportUnreadable(format!("encoding '{label}' is unknown")))?;
        Ok(Decoding {
            inner,
            decoder: encoding.new_decoder(),
            encoding,
            input: vec![0; 64 * 1024],
            in_start: 0,
            in_end: 0,
            output: vec![0; 64 * 1024],
            out_start: 0,
            out_end: 0,
            consumed: 0,
            eof: false,
            done: false,
        })
    }
}

impl<R: Read> Read for Decoding<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.out_start < self.out_end {
                let n = buf.len().min(self.out_end - self.out_start);
                buf[..n].copy_from_slice(&self.output[self.out_start..self.out_start + n]);
                self.out_start += n;
                return Ok(n);
            }
            if self.done {
                return Ok(0);
            }
            if self.in_start == self.in_end && !self.eof {
                let n = self.inner.read(&mut self.input)?;
                self.in_start = 0;
                self.in_end = n;
                self.eof = n == 0;
            }
            let (result, read, written) = self.decoder.decode_to_utf8_without_replacement(
                &self.input[self.in_start..self.in_end],
                &mut self.output,
                self.eof,
            );
            self.in_start += read;
            self.consumed += read as u64;
            self.out_start = 0;
            self.out_end = written;
            match result {
                DecoderResult::InputEmpty if self.eof => self.done = true,
                DecoderResult::InputEmpty | DecoderResult::OutputFull => {}
                DecoderResult::Malformed(_, _) => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "bytes near offset {} are not {} (the profile's encoding)",
                            self.consumed,
                            self.encoding.name()
                        ),
                    ));
                }
            }
        }
    }
}

/// One row: its position in the file (CSV: the record's number from 0;
/// XLSX: the sheet's row from 0) and its cells.
pub type Row = (u64, Vec<Option<Cell>>);

/// Reads every row of `input` (the export) as the profile says, handing
/// each to `each` in order; stops at the first error of either.
pub fn for_each_row<R: Read + Seek>(
    input: R,
    profile: &Profile,
    mut each: impl FnMut(Row) -> Result<(), Error>,
) -> Result<(), Error> {
    match profile.format {
        Format::Csv => csv_rows(input, profile, &mut each),
        Format::Xlsx => xlsx_rows(input, &mut each),
    }
}

/// The most fields a CSV record may have (a sheet's columns, XFD): each
/// field costs memory however short, so a line of a billion commas would
/// otherwise take tens of gigabytes (and the backend, and every session,
/// with it) out of a content of one gigabyte.
pub const CSV_MAX_FIELDS: usize = 1 << 14;
/// The most bytes a CSV record may hold once decoded: what a `text` can.
pub const CSV_MAX_RECORD_BYTES: usize = 1 << 30;

fn csv_rows<R: Read>(input: R, profile: &Profile, each: &mut dyn FnMut(Row) -> Result<(), Error>) -> Result<(), Error> {
    use csv_core::ReadRecordResult as Parsed;
    use std::io::BufRead;
    let mut decoded = io::BufReader::with_capacity(64 * 1024, Decoding::new(input, &profile.encoding)?);
    // csv's own reader grows a record's buffers without bound; its parser,
    // driven here, writes into buffers we size (the same rules: quoted
    // fields, blank lines skipped, any number of fields per record).
    let mut parser = csv_core::ReaderBuilder::new().delimiter(profile.delimiter).build();
    let mut out = vec![0u8; 4 * 1024];
    let mut ends = vec![0usize; 64];
    let (mut out_len, mut ends_len) = (0usize, 0usize);
    let mut position = 0u64;
    loop {
        let input = decoded.fill_buf().map_err(|e| match e.kind() {
            io::ErrorKind::InvalidData => Error::ExportBadEncoding(e.to_string()),
            _ => Error::ExportUnreadable(e.to_string()),
        })?;
        let (result, read, written, ended) = parser.read_record(input, &mut out[out_len..], &mut ends[ends_len..]);
        decoded.consume(read);
        out_len += written;
        ends_len += ended;
        match result {
            Parsed::InputEmpty => {}
            Parsed::OutputFull if out.len() >= CSV_MAX_RECORD_BYTES => {
                return Err(Error::ExportUnreadable(format!(
                    "row {} (counting the header as row 1) holds more than {CSV_MAX_RECORD_BYTES} bytes",
                    position + 1
                )));
            }
            Parsed::OutputFull => out.resize((out.len() * 2).min(CSV_MAX_RECORD_BYTES), 0),
            Parsed::OutputEndsFull if ends.len() >= CSV_MAX_FIELDS => {
                return Err(Error::ExportUnreadable(format!(
                    "row {} (counting the header as row 1) has more than {CSV_MAX_FIELDS} fields",
                    position + 1
                )));
            }
            Parsed::OutputEndsFull => ends.resize((ends.len() * 2).min(CSV_MAX_FIELDS), 0),
            Parsed::Record => {
                // A cancel (or statement_timeout) stops a file of rows that are no line too.
                check_for_interrupts();
                // Decoded UTF-8, cut at ASCII delimiters and quotes: UTF-8 still.
                let text = std::str::from_utf8(&out[..out_len]).map_err(|e| Error::ExportBadEncoding(e.to_string()))?;
                if text.contains('\0') {
                    return Err(nul_at(position));
                }
                let mut start = 0;
                let cells = ends[..ends_len]
                    .iter()
                    .map(|&end| {
                        let cell = text.get(start..end).map(|t| Some(Cell::Text(t.to_owned())));
                        start = end;
                        cell
                    })
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| Error::ExportBadEncoding(format!("row {} splits a character", position + 1)))?;
                each((position, cells))?;
                position += 1;
                (out_len, ends_len) = (0, 0);
            }
            Parsed::End => return Ok(()),
        }
    }
}

/// A cancel or statement_timeout, checked at every record and cell read: a
/// file of rows that are no line (so no INSERT checks) stops too. The unit
/// tests run outside a backend, with nothing to check.
fn check_for_interrupts() {
    #[cfg(not(test))]
    pgrx::check_for_interrupts!();
}

/// PostgreSQL's `text` cannot hold a NUL character (COPY refuses it too).
fn nul_at(position: u64) -> Error {
    Error::ExportBadEncoding(format!(
        "row {} (counting the header as row 1) holds a NUL character (0x00), which PostgreSQL text cannot hold",
        position + 1
    ))
}

/// The most a workbook's parts may hold once inflated, all together: what
/// a `bytea` can hold (1 GB). calamine keeps the shared strings in memory,
/// and a zip inflates a thousand times over: a few megabytes of a hostile
/// "export" would otherwise take the server's memory (the kernel then kills
/// a backend, and every session with it).
pub const XLSX_MAX_INFLATED: u64 = 1 << 30;
/// The sheet's limits in every spreadsheet program (XFD1048576): a cell
/// beyond them is no export's, and its column would size a row's cells.
pub const XLSX_MAX_ROWS: u32 = 1 << 20;
pub const XLSX_MAX_COLUMNS: u32 = 1 << 14;

/// Runs a step of calamine on the hostile workbook: a panic in it (an
/// arithmetic overflow on a cell reference such as `A99999999999`) is an
/// unreadable export, not an internal error. Only calamine runs inside: no
/// SPI, no PostgreSQL error can unwind through here.
fn calamine_step<T>(step: impl FnOnce() -> Result<T, calamine::XlsxError>) -> Result<T, Error> {
    match catch_unwind(AssertUnwindSafe(step)) {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(Error::ExportUnreadable(format!("not a readable XLSX workbook: {e}"))),
        Err(_) => Err(Error::ExportUnreadable("not a readable XLSX workbook: a malformed part".into())),
    }
}

/// Refuses a workbook whose parts declare more than [`XLSX_MAX_INFLATED`]
/// bytes in all; the zip reader fails a part that inflates to more than it
/// declares, so the declared sizes bound what calamine reads.
fn check_inflated_size<R: Read + Seek>(input: &mut R) -> Result<(), Error> {
    let unreadable = |e: zip::result::ZipError| Error::ExportUnreadable(format!("not a readable XLSX workbook: {e}"));
    let total = {
        // The sizes of the central directory, which the zip reader holds a
        // part to, data descriptor or not (ZipArchive::decompressed_size
        // gives up on a part written with one, as Java's ZipOutputStream and
        // Apache POI's streaming writer write every part).
        let mut archive = zip::ZipArchive::new(&mut *input).map_err(unreadable)?;
        let mut total = 0u128;
        for index in 0..archive.len() {
            check_for_interrupts();
            total += u128::from(archive.by_index_raw(index).map_err(unreadable)?.size());
        }
        total
    };
    if total > u128::from(XLSX_MAX_INFLATED) {
        return Err(Error::ExportUnreadable(format!(
            "the workbook inflates to more than {XLSX_MAX_INFLATED} bytes (its parts declare {total})"
        )));
    }
    input.seek(SeekFrom::Start(0)).map_err(|e| Error::ExportUnreadable(e.to_string()))?;
    {
        let mut archive = zip::ZipArchive::new(&mut *input).map_err(unreadable)?;
        check_shared_strings_count(&mut archive)?;
    }
    input.seek(SeekFrom::Start(0)).map_err(|e| Error::ExportUnreadable(e.to_string()))?;
    Ok(())
}

/// calamine reserves room for as many shared strings as the part's `<sst
/// uniqueCount="...">` announces, before it reads one: a 3 KB workbook
/// announcing 10^12 strings asked for 24 TB, and the failed allocation
/// aborted the backend (and reset every session). A part of N bytes holds
/// at most N / 5 strings (`<si/>`), so a workbook announcing more (and more
/// than a million) lies and is refused; so is one announcing more than 2^24
/// (16.7 million unique strings: no export's). Every number in every `uniqueCount` attribute of the `sst`
/// tag is checked (calamine reads the first, raw, leading zeros skipped):
/// what calamine could take for the count is never larger than that.
fn check_shared_strings_count<R: Read + Seek>(archive: &mut zip::ZipArchive<R>) -> Result<(), Error> {
    use quick_xml::events::Event;
    let unreadable = |e: zip::result::ZipError| Error::ExportUnreadable(format!("not a readable XLSX workbook: {e}"));
    for index in 0..archive.len() {
        let entry = archive.by_index(index).map_err(unreadable)?;
        if !entry.name().map_err(unreadable)?.to_ascii_lowercase().ends_with("sharedstrings.xml") {
            continue;
        }
        // At most a string per 5 bytes; a writer's loose count up to a
        // million (24 MB reserved, never touched) is let through, and no
        // count above 2^24 (400 MB reserved: what any server can give).
        let most = (entry.size() / 5 + 1).clamp(1 << 20, 1 << 24);
        let mut xml = quick_xml::Reader::from_reader(io::BufReader::new(entry));
        let mut buf = Vec::new();
        loop {
            check_for_interrupts();
            buf.clear();
            match xml.read_event_into(&mut buf) {
                Ok(Event::Start(e) | Event::Empty(e)) if e.local_name().as_ref() == "sst" => {
                    // The tag's attributes as written, scanned as calamine's
                    // own attribute reader could read them (quoted or not).
                    let raw = e.attributes_raw();
                    for (at, _) in raw.match_indices("uniqueCount") {
                        let value = raw[at + "uniqueCount".len()..]
                            .trim_start_matches(|c: char| c.is_ascii_whitespace() || c == '=' || c == '"' || c == '\'');
                        let digits = value.split(|c: char| !c.is_ascii_digit()).next().unwrap_or("");
                        let significant = digits.trim_start_matches('0');
                        if significant.len() > 19 || significant.parse::<u64>().is_ok_and(|v| v > most) {
                            return Err(Error::ExportUnreadable(format!(
                                "the workbook's shared strings announce {} strings, more than their size can hold",
                                if significant.len() > 19 { "over 10^19" } else { significant }
                            )));
                        }
                    }
                    break;
                }
                // Anything else is calamine's to report (or to ignore).
                Ok(Event::Eof) | Err(_) => break,
                Ok(_) => {}
            }
        }
    }
    Ok(())
}

fn xlsx_rows<R: Read + Seek>(mut input: R, each: &mut dyn FnMut(Row) -> Result<(), Error>) -> Result<(), Error> {
    check_inflated_size(&mut input)?;
    let mut workbook: Xlsx<R> = calamine_step(|| Xlsx::new(input))?;
    let Some(first) = workbook.sheet_names().first().cloned() else {
        return Err(Error::ExportUnreadable("the workbook has no sheet".into()));
    };
    let mut cells = calamine_step(|| workbook.worksheet_cells_reader(&first))?;
    let mut current: Option<Row> = None;
    while let Some(cell) = calamine_step(|| cells.next_cell())? {
        // A cancel (or statement_timeout) stops a sheet of cells that are no line too.
        check_for_interrupts();
        let (row, column) = cell.get_position();
        if row >= XLSX_MAX_ROWS || column >= XLSX_MAX_COLUMNS {
            return Err(Error::ExportUnreadable(format!(
                "a cell (row {}, column {}) is beyond a sheet's last cell, XFD1048576",
                u64::from(row) + 1,
                u64::from(column) + 1
            )));
        }
        // Rows are numbered in order in a sheet: one that goes back (or a
        // cell of a row already handed on) would number a line twice.
        if current.as_ref().is_some_and(|(r, _)| u64::from(row) < *r) {
            return Err(Error::ExportUnreadable(format!(
                "row {} comes after a later row; a sheet's rows are in order",
                u64::from(row) + 1
            )));
        }
        let value = match cell.get_value() {
            DataRef::Empty => continue,
            DataRef::Int(i) => Cell::Text(i.to_string()),
            DataRef::Float(f) => Cell::Text(number_text(*f)),
            DataRef::String(s) | DataRef::DateTimeIso(s) | DataRef::DurationIso(s) => Cell::Text(s.clone()),
            DataRef::SharedString(s) => Cell::Text((*s).to_owned()),
            DataRef::Bool(b) => Cell::Text(if *b { "TRUE" } else { "FALSE" }.to_owned()),
            DataRef::DateTime(d) if d.is_datetime() => {
                let (y, mo, da, h, mi, s, ms) = d.to_ymd_hms_milli();
                Cell::Date(serial_of(y, mo, da, h, mi, s, ms))
            }
            DataRef::DateTime(d) => Cell::Text(number_text(d.as_f64())),
            DataRef::Error(e) => Cell::Text(e.to_string()),
        };
        let row = u64::from(row);
        if matches!(&value, Cell::Text(t) if t.contains('\0')) {
            return Err(nul_at(row));
        }
        if current.as_ref().is_some_and(|(r, _)| *r != row) {
            if let Some(done) = current.take() {
                each(done)?;
            }
        }
        let (_, cells_of_row) = current.get_or_insert_with(|| (row, Vec::new()));
        let column = column as usize;
        if cells_of_row.len() <= column {
            cells_of_row.resize(column + 1, None);
        }
        cells_of_row[column] = Some(value);
    }
    if let Some(done) = current {
        each(done)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(bytes: &[u8], label: &str) -> io::Result<String> {
        let mut out = String::new();
        Decoding::new(bytes, label).unwrap().read_to_string(&mut out)?;
        Ok(out)
    }

    #[test]
    fn gbk_is_decoded_a_bom_removed_and_bad_bytes_refused() {
        // "订单" in GBK.
        assert_eq!(decode(&[0xB6, 0xA9, 0xB5, 0xA5], "gbk").unwrap(), "订单");
        assert_eq!(decode(&[0xB6, 0xA9, 0xB5, 0xA5], "gb18030").unwrap(), "订单");
        assert_eq!(decode("\u{feff}order_id".as_bytes(), "utf-8").unwrap(), "order_id");
        // A UTF-8 BOM wins over the profile's GBK.
        assert_eq!(decode("\u{feff}订单".as_bytes(), "gbk").unwrap(), "订单");
        let err = decode(&[b'a', 0xFF, b'b'], "utf-8").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(err.to_string().contains("UTF-8"), "{err}");
        // GBK text read as UTF-8 is refused, not turned into U+FFFD.
        assert!(decode(&[0xB6, 0xA9, 0xB5, 0xA5], "utf-8").is_err());
    }

    #[test]
    fn a_csv_with_a_nul_character_is_refused_and_quoted_newlines_are_kept() {
        use crate::exports::profile::{Profile, ProfileRow};
        let profile = Profile::from_row(ProfileRow {
            name: "p".into(),
            format: "csv".into(),
            encoding: "utf-8".into(),
            delimiter: ";".into(),
            columns: r#"{"order_id": "a", "customer_name": "b", "amount": "c", "ordered_at": "d"}"#.into(),
            ordered_at_format: "as_exported".into(),
            amount_format: "as_exported".into(),
            rows_per_order: "each_row_a_line".into(),
            ..Default::default()
        })
        .unwrap();
        let mut rows = Vec::new();
        let text = "a;b\r\n\"x;\r\ny\";\"1,5\"\n\nlast;\n";
        for_each_row(io::Cursor::new(text.as_bytes()), &profile, |r| {
            rows.push(r);
            Ok(())
        })
        .unwrap();
        let texts: Vec<Vec<String>> = rows
            .iter()
            .map(|(_, cells)| {
                cells.iter().map(|c| if let Some(Cell::Text(t)) = c { t.clone() } else { "?".into() }).collect()
            })
            .collect();
        // A quoted delimiter and newline stay in the field; a blank line is no record.
        assert_eq!(texts, vec![vec!["a", "b"], vec!["x;\r\ny", "1,5"], vec!["last", ""]]);
        assert_eq!(rows.iter().map(|(p, _)| *p).collect::<Vec<_>>(), vec![0, 1, 2]);
        let err = for_each_row(io::Cursor::new("a;b\nx\0;y\n".as_bytes()), &profile, |_| Ok(())).unwrap_err();
        assert!(err.to_string().contains("row 2 (counting the header as row 1) holds a NUL"), "{err}");
    }

    #[test]
    fn a_decoded_stream_crosses_buffer_boundaries_intact() {
        // 200,000 two-byte characters: several input and output buffers.
        let gbk: Vec<u8> = [0xB6u8, 0xA9].repeat(200_000);
        let text = decode(&gbk, "gbk").unwrap();
        assert_eq!(text.chars().count(), 200_000);
        assert!(text.chars().all(|c| c == '订'));
    }
}
