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

/// Runs `work` with `plan_cache_mode = force_custom_plan` and
/// `enable_partition_pruning = on`, put back after it as a function's `SET`
/// clause is (a GUC nest level: on an error the (sub)transaction's abort puts
/// them back). A statement prepared in it is planned for its parameters'
/// values, and a partitioned table's partitions are pruned while planning:
/// only the ones left are locked. (Both are user settings a database owner
/// may set for the database, which pg_cron's and operators' sessions take.)
fn with_custom_plans<R>(work: impl FnOnce() -> Result<R, Error>) -> Result<R, Error> {
    const SETTINGS: [(&std::ffi::CStr, &std::ffi::CStr); 2] =
        [(c"plan_cache_mode", c"force_custom_plan"), (c"enable_partition_pruning", c"on")];
    // SAFETY: inside a transaction (every caller runs SQL through SPI); the
    // names and values are NUL-terminated constants; a failure raises an
    // ERROR, which pgrx turns into a Rust panic caught at the entry point.
    let nest = unsafe {
        let nest = pgrx::pg_sys::NewGUCNestLevel();
        for (name, value) in SETTINGS {
            pgrx::pg_sys::set_config_option(
                name.as_ptr(),
                value.as_ptr(),
                pgrx::pg_sys::GucContext::PGC_USERSET,
                pgrx::pg_sys::GucSource::PGC_S_SESSION,
                pgrx::pg_sys::GucAction::GUC_ACTION_SAVE,
                true,
                0,
                false,
            );
        }
        nest
    };
    let result = work();
    // SAFETY: pops the nest level made above (and any left inside it).
    unsafe { pgrx::pg_sys::AtEOXact_GUC(true, nest) };
    result
}

/// The types of `args`, as SPI asks them of a statement to prepare.
fn param_types(args: &[DatumWithOid]) -> Vec<PgOid> {
    args.iter().map(|arg| PgOid::from(arg.oid())).collect()
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

    /// Runs a query of one `bigint` (a count) with a snapshot taken now,
    /// not the transaction's: in `REPEATABLE READ` and `SERIALIZABLE` the
    /// transaction's snapshot is older than what was committed while one of
    /// its statements waited for a row lock (the completion of an import
    /// waits for the transactions adding its lines), and would not count
    /// it. PostgreSQL's foreign key checks read the same way
    /// (`ri_PerformCheck`). No row, or NULL, is 0. The plan is not kept:
    /// for statements run once per call; it is made for the arguments
    /// ([`with_custom_plans`]), so a count of one import's raw lines (the
    /// completion's) opens its one partition of etl.raw_orders.
    pub fn count_now(&mut self, sql: &str, args: &[DatumWithOid]) -> Result<i64, Error> {
        self.statements += 1;
        let text = std::ffi::CString::new(sql).map_err(|_| Error::Unexpected("a statement holds a NUL byte".into()))?;
        let mut types: Vec<Oid> = args.iter().map(DatumWithOid::oid).collect();
        let nargs = i32::try_from(types.len()).map_err(|_| Error::Unexpected("too many parameters".into()))?;
        let (mut values, nulls): (Vec<pgrx::pg_sys::Datum>, Vec<std::ffi::c_char>) = args
            .iter()
            .map(|arg| match arg.datum() {
                Some(datum) => (datum.sans_lifetime(), b' ' as std::ffi::c_char),
                None => (pgrx::pg_sys::Datum::from(0usize), b'n' as std::ffi::c_char),
            })
            .unzip();
        with_custom_plans(|| {
            Spi::connect_mut(|_client| {
                // SAFETY: inside the SPI connection `connect_mut` opened; the
                // arrays outlive the calls; errors PostgreSQL raises unwind
                // through pgrx's guards. The plan and the result are in SPI's
                // memory, freed when the connection ends.
                unsafe {
                    use pgrx::pg_sys;
                    let plan = pg_sys::SPI_prepare(text.as_ptr(), nargs, types.as_mut_ptr());
                    if plan.is_null() {
                        let code = pg_sys::SPI_result;
                        return Err(Error::Unexpected(format!("SPI_prepare failed ({code})")));
                    }
                    let status = pg_sys::SPI_execute_snapshot(
                        plan,
                        values.as_mut_ptr(),
                        nulls.as_ptr(),
                        pg_sys::GetLatestSnapshot(),
                        std::ptr::null_mut(),
                        false,
                        false,
                        1,
                    );
                    let table = pg_sys::SPI_tuptable;
                    if status != pg_sys::SPI_OK_SELECT as i32 || table.is_null() {
                        return Err(Error::Unexpected(format!("a count read with a new snapshot returned {status}")));
                    }
                    if pg_sys::SPI_processed == 0 {
                        return Ok(0);
                    }
                    let tupdesc = (*table).tupdesc;
                    if (*tupdesc).natts != 1 || pg_sys::SPI_gettypeid(tupdesc, 1) != pg_sys::INT8OID {
                        return Err(Error::Unexpected("a count read with a new snapshot is not one bigint".into()));
                    }
                    let mut is_null = false;
                    let datum = pg_sys::SPI_getbinval(*(*table).vals, tupdesc, 1, &mut is_null);
                    Ok(if is_null { 0 } else { datum.value() as i64 })
                }
            })
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

    /// Runs a statement that reads the raw lines of one import (`WHERE
    /// r.import_id = $1` on `etl.raw_orders`) as [`Sql::query`] does, but
    /// planned for these arguments, its plan not kept. A kept plan turns
    /// generic after five runs, and a generic plan over the partitioned
    /// `etl.raw_orders` locks every one of its 32 partitions when it starts
    /// (pruning happens later): a stage of today's import then waited for
    /// any partition `etl_purge` had emptied and holds ACCESS EXCLUSIVE until
    /// its caller commits, which may be never (services/raw_partitions.rs).
    /// Planned with the import's id, the statement opens its one partition,
    /// whatever `plan_cache_mode` the session has (a database owner's
    /// `ALTER DATABASE ... SET plan_cache_mode = force_generic_plan` reaches
    /// pg_cron's sessions): see [`with_custom_plans`].
    pub fn query_one_partition<R>(
        &mut self,
        sql: &str,
        args: &[DatumWithOid],
        read: impl FnOnce(SpiTupleTable<'_>) -> Result<R, Error>,
    ) -> Result<R, Error> {
        self.statements += 1;
        with_custom_plans(|| {
            Spi::connect_mut(|client| {
                let prepared = client.prepare_mut(sql, &param_types(args))?;
                let table = client.select(&prepared, None, args)?;
                read(table)
            })
        })
    }

    /// [`Sql::open_cursor`] for a statement over the raw lines of one import,
    /// planned for its arguments as [`Sql::query_one_partition`] (the portal
    /// keeps a copy of the plan).
    pub fn open_cursor_one_partition(&mut self, sql: &str, args: &[DatumWithOid]) -> Result<Cursor, Error> {
        self.statements += 1;
        // The portal is planned when it opens; its fetches do not plan again.
        let name = with_custom_plans(|| {
            Spi::connect_mut(|client| -> Result<String, Error> {
                let prepared = client.prepare_mut(sql, &param_types(args))?;
                let cursor = client.try_open_cursor(&prepared, args)?;
                Ok(cursor.detach_into_name())
            })
        })?;
        Ok(Cursor { name })
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

/// Whether the current transaction reads with one snapshot (`REPEATABLE
/// READ` or `SERIALIZABLE`) rather than one per statement: a statement run
/// after a lock was granted then does not see what committed before it.
pub fn one_snapshot_per_transaction() -> bool {
    // SAFETY: reads a backend global (IsolationUsesXactSnapshot()).
    unsafe { pgrx::pg_sys::XactIsoLevel >= pgrx::pg_sys::XACT_REPEATABLE_READ as i32 }
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
