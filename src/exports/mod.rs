//! Loading a shop's export into a new import (`etl_import_export`,
//! `etl_import_export_file`): the profile (`profile`), the file's rows
//! (`read`), rows shaped into raw lines (`shape`, pure) and the writes here
//! (SPI, a batch of `etl.batch_size` lines per statement). It sits beside
//! the stages: it writes an import and its raw lines and completes it, as a
//! loader would by hand; it knows nothing of the queue (the completion
//! trigger queues the pipeline). Everything runs as the caller. See
//! README.md beside this file.

pub mod profile;
pub mod read;
pub mod shape;

use std::fs::File;
use std::io::{BufReader, Cursor, Read, Seek};

use pgrx::datum::DatumWithOid;
use pgrx::Uuid;
use sha2::{Digest, Sha256};

use crate::error::Error;
use crate::gucs;
use crate::services::identity::as_runner;
use crate::services::progress::StageProgress;
use crate::services::spi::{column_ordinals, Sql};
use profile::{map_headers, Format, Profile, ProfileRow, RAW_COLUMNS};
use shape::{Cell, Line, Shaper};

/// What a call asks for, besides the content.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub profile: &'a str,
    pub source: Option<&'a str>,
    /// Overrides the profile's fixed shop and shop column.
    pub shop: Option<&'a str>,
    /// Load again even when this content was loaded before.
    pub reload: bool,
}

/// The import that holds the export, its lines, and whether it was there
/// already.
#[derive(Debug, Clone, Copy)]
pub struct Loaded {
    pub import_id: Uuid,
    pub lines: i64,
    pub reused: bool,
}

/// Loads `content` (the bytes of an export file).
pub fn load_bytes(content: &[u8], request: Request<'_>) -> Result<Loaded, Error> {
    let hash = Sha256::digest(content).to_vec();
    load(request, hash, || Ok(Cursor::new(content)), None)
}

/// Loads the server-side file at `path`: a CSV streams (hashed once, then
/// read and hashed again, so a file that changed in between is refused); an
/// XLSX (a zip, read out of order) is read into memory once.
pub fn load_file(path: &str, request: Request<'_>) -> Result<Loaded, Error> {
    let open = || {
        File::open(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::ExportFileMissing(path.to_owned()),
            _ => Error::ExportFile { path: path.to_owned(), message: e.to_string() },
        })
    };
    let mut sql = Sql::new();
    let profile = read_profile(&mut sql, request.profile)?;
    if profile.format == Format::Xlsx {
        // Read whole (a zip is read out of order), so no more than a bytea
        // could hold: /dev/zero or a huge file is refused, not read until
        // the server's memory runs out.
        let mut bytes = Vec::new();
        open()?
            .take(read::XLSX_MAX_INFLATED + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| Error::ExportFile { path: path.to_owned(), message: e.to_string() })?;
        if bytes.len() as u64 > read::XLSX_MAX_INFLATED {
            return Err(Error::ExportFile {
                path: path.to_owned(),
                message: format!(
                    "an XLSX export is read whole, and this file is larger than {} bytes",
                    read::XLSX_MAX_INFLATED
                ),
            });
        }
        let hash = Sha256::digest(&bytes).to_vec();
        return load(request, hash, || Ok(Cursor::new(bytes.as_slice())), Some(path));
    }
    let hash = {
        let mut hasher = Sha256::new();
        let mut file = open()?;
        let mut chunk = vec![0u8; 256 * 1024];
        loop {
            // A cancel (or statement_timeout) stops a long hash too.
            pgrx::check_for_interrupts!();
            let n = file
                .read(&mut chunk)
                .map_err(|e| Error::ExportFile { path: path.to_owned(), message: e.to_string() })?;
            if n == 0 {
                break;
            }
            hasher.update(&chunk[..n]);
        }
        hasher.finalize().to_vec()
    };
    let mut read_hash = Sha256::new();
    let loaded = {
        let opened = open()?;
        let hashing = Hashing { inner: BufReader::with_capacity(256 * 1024, opened), hasher: &mut read_hash };
        load(request, hash.clone(), || Ok(hashing), Some(path))?
    };
    if !loaded.reused && read_hash.finalize().to_vec() != hash {
        return Err(Error::ExportFile {
            path: path.to_owned(),
            message: "the file changed while it was read; nothing was loaded".into(),
        });
    }
    Ok(loaded)
}

/// A reader that hashes what passes through it (a CSV is read once, in order).
struct Hashing<'h, R> {
    inner: R,
    hasher: &'h mut Sha256,
}

impl<R: Read> Read for Hashing<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

impl<R: Read> Seek for Hashing<'_, R> {
    /// Only a CSV is read through it, and a CSV reader never seeks.
    fn seek(&mut self, _: std::io::SeekFrom) -> std::io::Result<u64> {
        Err(std::io::Error::new(std::io::ErrorKind::Unsupported, "a CSV export is read in order"))
    }
}

fn load<R: Read + Seek>(
    request: Request<'_>,
    hash: Vec<u8>,
    open: impl FnOnce() -> Result<R, Error>,
    default_source: Option<&str>,
) -> Result<Loaded, Error> {
    let mut sql = Sql::new();
    let profile = read_profile(&mut sql, request.profile)?;
    if !request.reload {
        if let Some(found) = find_loaded(&mut sql, &hash, request)? {
            return Ok(found);
        }
    }
    let shop = request.shop.map(str::to_owned).or_else(|| profile.fixed_shop.clone());
    if shop.is_none() && profile.headers[profile::SHOP].is_empty() {
        return Err(Error::ExportNeedsShop(profile.name.clone()));
    }
    let source = request.source.or(default_source).map(str::to_owned);
    let mut writer: Option<Writer> = None;
    let mut shaper: Option<(u64, Shaper)> = None;
    read::for_each_row(open()?, &profile, |(position, row)| {
        let Some((header_at, shaper)) = shaper.as_mut() else {
            let header: Vec<String> = row
                .iter()
                .map(|c| match c {
                    Some(Cell::Text(t)) => t.clone(),
                    Some(Cell::Date(d)) => shape::number_text(*d),
                    None => String::new(),
                })
                .collect();
            let map = map_headers(&profile, &header, shop.is_some())?;
            // The import exists only once the file's header is known good:
            // a missing header writes nothing.
            writer = Some(Writer::create(&mut sql, &hash, request, source.as_deref())?);
            shaper = Some((position, Shaper::new(&profile, map, shop.clone())));
            return Ok(());
        };
        // The readers hand rows on in order, after the header's.
        let after_header = position
            .checked_sub(*header_at)
            .ok_or_else(|| Error::ExportUnreadable(format!("row {} comes before the header row", position + 1)))?;
        let line_no = i32::try_from(after_header).map_err(|_| Error::ExportTooLong)?;
        if let (Some(line), Some(writer)) = (shaper.line(line_no, &row), writer.as_mut()) {
            writer.push(&mut sql, line)?;
        }
        Ok(())
    })?;
    let Some(mut writer) = writer else {
        return Err(Error::ExportUnreadable("the file has no header row (it is empty)".into()));
    };
    writer.flush(&mut sql)?;
    sql.execute(include_str!("../../sql/queries/export_complete.sql"), &[writer.import_id.into()])?;
    Ok(Loaded { import_id: writer.import_id, lines: writer.lines, reused: false })
}

/// The profile named `name`, checked.
fn read_profile(sql: &mut Sql, name: &str) -> Result<Profile, Error> {
    let row = sql.query(include_str!("../../sql/queries/export_profile.sql"), &[name.into()], |rows| {
        let [n, format, encoding, delimiter, columns, fixed_shop, time, amount, rows_per_order] = column_ordinals(
            &rows,
            [
                "profile_name",
                "format",
                "encoding",
                "delimiter",
                "columns",
                "fixed_shop",
                "ordered_at_format",
                "amount_format",
                "rows_per_order",
            ],
        )?;
        let Some(row) = rows.into_iter().next() else { return Ok(None) };
        let text = |at: usize| -> Result<String, Error> { Ok(row.get::<String>(at)?.unwrap_or_default()) };
        Ok(Some(ProfileRow {
            name: text(n)?,
            format: text(format)?,
            encoding: text(encoding)?,
            delimiter: text(delimiter)?,
            columns: text(columns)?,
            fixed_shop: row.get::<String>(fixed_shop)?,
            ordered_at_format: text(time)?,
            amount_format: text(amount)?,
            rows_per_order: text(rows_per_order)?,
        }))
    })?;
    Profile::from_row(row.ok_or_else(|| Error::UnknownExportProfile(name.to_owned()))?)
}

/// The caller's import that holds this content already, if any.
fn find_loaded(sql: &mut Sql, hash: &[u8], request: Request<'_>) -> Result<Option<Loaded>, Error> {
    let args: [DatumWithOid; 3] = [hash.to_vec().into(), request.profile.into(), request.shop.into()];
    let found = sql.query(include_str!("../../sql/queries/export_loaded.sql"), &args, |rows| {
        let [id] = column_ordinals(&rows, ["import_id"])?;
        let Some(row) = rows.into_iter().next() else { return Ok(None) };
        Ok(Some(row.get::<Uuid>(id)?.ok_or_else(|| Error::Unexpected("an import without an id".into()))?))
    })?;
    let Some(import_id) = found else { return Ok(None) };
    // Counted without the import's row lock: a purge that emptied its
    // partition before the count (or committed while the count waited for
    // it, or before an older REPEATABLE READ snapshot) left it no lines. Its
    // record, read afterwards with a new snapshot, has them.
    let counted = count_lines(sql, import_id)?;
    let lines = purged_lines(import_id)?.unwrap_or(counted);
    Ok(Some(Loaded { import_id, lines, reused: true }))
}

/// The raw lines an import had when `etl_purge` removed them (None: not
/// purged), read with a snapshot taken now rather than the transaction's.
/// The import is the caller's (found by `find_loaded` as the caller), but
/// `etl.purged_imports` is not granted to loaders: it is read as the
/// runner, this one row only.
fn purged_lines(import_id: Uuid) -> Result<Option<i64>, Error> {
    as_runner(|| {
        let mut sql = Sql::new();
        if sql.count_now(include_str!("../../sql/queries/raw_lines_purged_now.sql"), &[import_id.into()])? == 0 {
            return Ok(None);
        }
        sql.count_now(
            "SELECT p.raw_lines FROM etl.purged_imports p WHERE p.import_id OPERATOR(pg_catalog.=) $1",
            &[import_id.into()],
        )
        .map(Some)
    })
}

/// The raw lines of the caller's import, read in its one partition (planned
/// for its id: a plan over every partition of etl.raw_orders would wait for
/// one that etl_purge emptied and still holds).
fn count_lines(sql: &mut Sql, import_id: Uuid) -> Result<i64, Error> {
    sql.query_one_partition(
        "SELECT pg_catalog.count(*) FROM etl.raw_orders r WHERE r.import_id = $1",
        &[import_id.into()],
        |rows| Ok(rows.first().get_one::<i64>()?.unwrap_or(0)),
    )
}

/// The new import and the batch of lines not yet written.
struct Writer {
    import_id: Uuid,
    batch_size: usize,
    lines: i64,
    line_no: Vec<i32>,
    columns: [Vec<Option<String>>; 7],
    progress: StageProgress,
}

impl Writer {
    fn create(sql: &mut Sql, hash: &[u8], request: Request<'_>, source: Option<&str>) -> Result<Writer, Error> {
        let import_id = Uuid::from_bytes(*uuid::Uuid::now_v7().as_bytes());
        let args: [DatumWithOid; 5] =
            [import_id.into(), source.into(), hash.to_vec().into(), request.profile.into(), request.shop.into()];
        sql.execute(include_str!("../../sql/queries/export_import.sql"), &args)?;
        let batch_size = gucs::batch_size();
        Ok(Writer {
            import_id,
            batch_size,
            lines: 0,
            line_no: Vec::with_capacity(batch_size),
            columns: Default::default(),
            progress: StageProgress::start_export_load(import_id, batch_size),
        })
    }

    fn push(&mut self, sql: &mut Sql, line: Line) -> Result<(), Error> {
        // A cancel stops the load between lines, not only inside a batch's INSERT.
        pgrx::check_for_interrupts!();
        self.line_no.push(line.line_no);
        for (column, value) in self.columns.iter_mut().zip(line.values) {
            column.push(value);
        }
        if self.line_no.len() >= self.batch_size {
            self.flush(sql)?;
        }
        Ok(())
    }

    fn flush(&mut self, sql: &mut Sql) -> Result<(), Error> {
        let n = self.line_no.len();
        if n == 0 {
            return Ok(());
        }
        debug_assert_eq!(RAW_COLUMNS.len(), self.columns.len());
        let [order_id, shop, customer_name, order_status, order_type, amount, ordered_at] =
            std::mem::take(&mut self.columns);
        let args: [DatumWithOid; 9] = [
            self.import_id.into(),
            std::mem::take(&mut self.line_no).into(),
            order_id.into(),
            shop.into(),
            customer_name.into(),
            order_status.into(),
            order_type.into(),
            amount.into(),
            ordered_at.into(),
        ];
        sql.execute(include_str!("../../sql/queries/export_raw_lines.sql"), &args)?;
        self.lines += n as i64;
        self.progress.batch_done(n);
        Ok(())
    }
}
