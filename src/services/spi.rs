//! SPI access for the stages. Every statement goes through [`Sql`], which
//! counts it, so a stage can report how many statements it ran.
//!
//! Statements are prepared once per backend and their plans kept
//! (`SPI_keepplan`): a small import runs some forty statements, and parsing
//! and analysing each again would cost more than running it. PostgreSQL's
//! plan cache still replans them when a table they use changes (DDL,
//! ANALYZE) or the search_path differs.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use pgrx::datum::DatumWithOid;
use pgrx::pg_sys::{Oid, PgOid};
use pgrx::spi::{OwnedPreparedStatement, Spi, SpiClient, SpiTupleTable};

use crate::error::Error;

/// Kept plans of one statement text, by its parameters' types.
type PlansByTypes = HashMap<Vec<Oid>, Rc<OwnedPreparedStatement>>;

thread_local! {
    /// Prepared statements of this backend, by statement text, then by the
    /// parameters' types: a lookup borrows the text, so a statement run
    /// many times does not copy it. An `Rc` is taken out before a statement runs,
    /// so that a statement run inside it (a user's trigger calling the
    /// extension) can use the cache too.
    static PLANS: RefCell<HashMap<String, PlansByTypes>> = RefCell::new(HashMap::new());
}

/// The kept plan of `sql` for arguments like `args`, prepared on first use.
fn plan(client: &SpiClient<'_>, sql: &str, args: &[DatumWithOid]) -> Result<Rc<OwnedPreparedStatement>, Error> {
    let types: Vec<Oid> = args.iter().map(DatumWithOid::oid).collect();
    if let Some(found) = PLANS.with(|plans| plans.borrow().get(sql).and_then(|by_types| by_types.get(&types)).cloned())
    {
        return Ok(found);
    }
    let arg_types: Vec<PgOid> = types.iter().map(|oid| PgOid::from(*oid)).collect();
    let kept = Rc::new(client.prepare_mut(sql, &arg_types)?.keep());
    PLANS.with(|plans| plans.borrow_mut().entry(sql.to_owned()).or_default().insert(types, Rc::clone(&kept)));
    Ok(kept)
}

/// Executes statements through SPI and counts them.
///
/// Every plan is prepared as a writing one (`prepare_mut`), so SPI runs each
/// statement read-write: with a new snapshot that sees what the statements
/// before it in the transaction wrote. They run through `select`, not pgrx's
/// `update`, which would first ask for a transaction id: a statement that
/// writes takes one itself, and one that only reads needs none. A call that
/// only reads (`etl_quality`, the version check of every entry point) then
/// spends no transaction id, and works on a hot standby, where asking for
/// one fails with an internal error (XX000) while a write is refused as any
/// write there is (25006, read-only transaction).
#[derive(Debug, Default)]
pub struct Sql {
    statements: u64,
}

impl Sql {
    pub fn new() -> Self {
        Self::default()
    }

    /// Statements executed so far (cursor fetches included).
    pub fn statements(&self) -> u64 {
        self.statements
    }

    /// Runs a writing statement; returns the number of rows it processed.
    pub fn execute(&mut self, sql: &str, args: &[DatumWithOid]) -> Result<u64, Error> {
        self.statements += 1;
        Spi::connect_mut(|client| {
            let prepared = plan(client, sql, args)?;
            let table = client.select(&*prepared, None, args)?;
            Ok(table.len() as u64)
        })
    }

    /// Runs a statement and hands its rows to `read`, which must copy out
    /// what it needs: the rows live only until the SPI connection ends.
    pub fn query<R>(
        &mut self,
        sql: &str,
        args: &[DatumWithOid],
        read: impl FnOnce(SpiTupleTable<'_>) -> Result<R, Error>,
    ) -> Result<R, Error> {
        self.statements += 1;
        Spi::connect_mut(|client| {
            let prepared = plan(client, sql, args)?;
            let table = client.select(&*prepared, None, args)?;
            read(table)
        })
    }

    /// Opens a cursor that outlives this SPI connection, so that each batch
    /// can be fetched in a connection of its own (and its memory freed).
    pub fn open_cursor(&mut self, sql: &str, args: &[DatumWithOid]) -> Result<Cursor, Error> {
        self.statements += 1;
        // A read-write cursor takes a fresh snapshot, so it sees what the
        // earlier statements of this transaction wrote.
        let name = Spi::connect_mut(|client| -> Result<String, Error> {
            let prepared = plan(client, sql, args)?;
            let cursor = client.try_open_cursor(&*prepared, args)?;
            Ok(cursor.detach_into_name())
        })?;
        Ok(Cursor { name })
    }

    /// Fetches up to `count` rows of `cursor`; `read` copies them out.
    pub fn fetch<R>(
        &mut self,
        cursor: &Cursor,
        count: usize,
        read: impl FnOnce(SpiTupleTable<'_>) -> Result<R, Error>,
    ) -> Result<R, Error> {
        self.statements += 1;
        Spi::connect(|client| {
            let mut found = client.find_cursor(&cursor.name)?;
            let table = found.fetch(count as libc::c_long)?;
            let result = read(table);
            // Keep the portal open for the next fetch.
            let _ = found.detach_into_name();
            result
        })
    }

    /// Closes a cursor opened by [`Sql::open_cursor`].
    pub fn close(&mut self, cursor: Cursor) -> Result<(), Error> {
        Spi::connect(|client| {
            // Dropping the found cursor closes the portal.
            drop(client.find_cursor(&cursor.name)?);
            Ok(())
        })
    }
}

/// A named SPI cursor (a portal) that lives until closed or until the
/// (sub)transaction that opened it ends.
#[derive(Debug)]
pub struct Cursor {
    name: String,
}

/// The ordinals of the named columns of a result, looked up once per result
/// rather than once per value, so that rows are read by column name instead
/// of by a position that must match a SELECT list written elsewhere. An
/// empty result may have no tuple descriptor (`LIMIT 0`); it has no rows to
/// read either, so it gets the positions 1..=N.
pub fn column_ordinals<const N: usize>(rows: &SpiTupleTable<'_>, names: [&str; N]) -> Result<[usize; N], Error> {
    let mut ordinals: [usize; N] = std::array::from_fn(|i| i + 1);
    if rows.is_empty() {
        return Ok(ordinals);
    }
    for (ordinal, name) in ordinals.iter_mut().zip(names) {
        *ordinal =
            rows.column_ordinal(name).map_err(|_| Error::Unexpected(format!("the result has no column \"{name}\"")))?;
    }
    Ok(ordinals)
}
