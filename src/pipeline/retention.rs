//! Retention: `etl_purge(older_than)` removes the history each
//! `etl.retain_*` setting lets go (docs/operations.md, "Retention";
//! docs/semantics.md 13). Business tables (orders, customers, leads) and
//! the imports themselves are never touched; what a purged import had is
//! kept in `etl.purged_imports`.
//!
//! Everything runs in the caller's transaction, in statements over bounded
//! batches (imports, runs or events) that walk the tables in id order, each
//! starting where the last one stopped (so a purge reads what it removes
//! once, not once per batch), and no statement holds more than a batch. The
//! rows it removes are ones no stage, loader or worker reads or writes any
//! more (finished imports, ended runs and jobs, old events), so nothing else
//! waits for them. An import whose raw lines go is
//! locked until commit, and checked again after the lock; a stage run that
//! reads raw lines takes that row FOR SHARE first (`check_raw_lines_kept`).

use pgrx::datum::{Interval, TimestampWithTimeZone};
use pgrx::Uuid;

use crate::error::Error;
use crate::gucs;
use crate::services::spi::Sql;

/// Imports whose raw lines (or jobs) one statement removes.
const IMPORTS_PER_BATCH: i64 = 1_000;
/// Runs or events one statement removes.
const ROWS_PER_BATCH: i64 = 50_000;

/// What `etl_purge` removed from one table, and the time before which
/// history of its kind went (None: its retention is off).
#[derive(Debug, Clone)]
pub struct Purged {
    pub table: &'static str,
    pub removed: i64,
    pub cutoff: Option<TimestampWithTimeZone>,
}

/// Removes the history older than both `older_than` and its kind's
/// `etl.retain_*` setting (before the earlier of now - `older_than` and
/// now - the setting); a kind whose setting is off (-1) is kept.
/// Returns one row per table, in a fixed order.
pub fn purge(older_than: Option<Interval>) -> Result<Vec<Purged>, Error> {
    let older_than = older_than.ok_or(Error::NullArgument("older_than"))?;
    let negative = Sql::new().query("SELECT $1 < interval '0'", &[older_than.into()], |rows| {
        Ok(rows.first().get_one::<bool>()?.unwrap_or(true))
    })?;
    if negative {
        return Err(Error::NegativeRetention(older_than.to_string()));
    }
    let [raw_lines, jobs, runs, events] = gucs::retention_minutes();
    // The earlier of the two times, compared as times: never later than
    // the setting allows. (Comparing the intervals instead, as GREATEST
    // did, counts a month as 30 days and a day as 24 hours: an interval
    // such as '-100 years 36500 days' is "longer" than 30 days yet moves
    // the cutoff 25 days into the future, past any setting.)
    let cutoff = |minutes: Option<i64>| -> Result<Option<TimestampWithTimeZone>, Error> {
        let Some(minutes) = minutes else { return Ok(None) };
        Sql::new().query(
            "SELECT LEAST(pg_catalog.now() - $1, pg_catalog.now() - $2 * interval '1 minute')",
            &[older_than.into(), minutes.into()],
            |rows| Ok(rows.first().get_one::<TimestampWithTimeZone>()?),
        )
    };
    let (raw_cutoff, jobs_cutoff, runs_cutoff, events_cutoff) =
        (cutoff(raw_lines)?, cutoff(jobs)?, cutoff(runs)?, cutoff(events)?);

    // Raw lines first: they go only while the import's jobs show it finished
    // (or the jobs' recorded outcome does, once they are gone). The
    // candidates are locked first, every batch of them; then, in
    // statements whose snapshots follow every lock, each is checked again
    // and purged: a run that held an import and committed a hold or a new
    // job meanwhile keeps its lines.
    let (mut lines, mut rejects, mut jobs_removed) = (0, 0, 0);
    if let Some(before) = raw_cutoff {
        let mut locked = Vec::new();
        walk_imports(include_str!("../../sql/queries/purge_raw_candidates.sql"), before, |row| {
            locked.extend(row.get::<Uuid>(1)?);
            Ok(())
        })?;
        // A batch starts at the last import the previous one looked at: it
        // may be locked (and listed) twice, side by side.
        locked.dedup();
        for batch in locked.chunks(IMPORTS_PER_BATCH as usize) {
            Sql::new().query(
                include_str!("../../sql/queries/purge_raw_lines.sql"),
                &[before.into(), batch.to_vec().into()],
                |rows| {
                    for row in rows {
                        lines += row.get::<i64>(1)?.unwrap_or(0);
                        rejects += row.get::<i64>(2)?.unwrap_or(0);
                    }
                    Ok(())
                },
            )?;
            pgrx::check_for_interrupts!();
        }
    }
    if let Some(before) = jobs_cutoff {
        walk_imports(include_str!("../../sql/queries/purge_jobs.sql"), before, |row| {
            jobs_removed += row.get::<i64>(1)?.unwrap_or(0);
            Ok(())
        })?;
    }
    let runs_removed = match runs_cutoff {
        Some(before) => walk_ids(include_str!("../../sql/queries/purge_runs.sql"), before)?,
        None => 0,
    };
    let events_removed = match events_cutoff {
        Some(before) => walk_ids(include_str!("../../sql/queries/purge_events.sql"), before)?,
        None => 0,
    };
    Ok(vec![
        Purged { table: "etl.raw_orders", removed: lines, cutoff: raw_cutoff },
        Purged { table: "etl.rejects", removed: rejects, cutoff: raw_cutoff },
        Purged { table: "etl.jobs", removed: jobs_removed, cutoff: jobs_cutoff },
        Purged { table: "etl.runs", removed: runs_removed, cutoff: runs_cutoff },
        Purged { table: "etl.events", removed: events_removed, cutoff: events_cutoff },
    ])
}

/// Runs a purge statement over imports in id order (`$1` = the cutoff, `$2`
/// = imports per batch, `$3` = the import the batch starts at: the nil
/// UUID first, then the last import the previous batch looked at)
/// until a batch looks at fewer imports than it may. The statement returns
/// a row per import it purged (or locked), handed to `per_import`, then a row whose
/// last two columns are the last import it looked at and how many.
fn walk_imports(
    statement: &str,
    before: TimestampWithTimeZone,
    mut per_import: impl FnMut(&pgrx::spi::SpiHeapTupleData) -> Result<(), Error>,
) -> Result<(), Error> {
    let mut after = Uuid::from_bytes([0; 16]);
    loop {
        let (last, looked) =
            Sql::new().query(statement, &[before.into(), IMPORTS_PER_BATCH.into(), after.into()], |rows| {
                let columns = rows.columns()?;
                let (mut last, mut looked) = (None, 0i64);
                for row in rows {
                    match row.get::<i64>(columns)? {
                        Some(n) => {
                            looked = n;
                            last = row.get::<Uuid>(columns - 1)?;
                        }
                        None => per_import(&row)?,
                    }
                }
                Ok((last, looked))
            })?;
        pgrx::check_for_interrupts!();
        match last {
            Some(last) if looked >= IMPORTS_PER_BATCH => after = last,
            _ => return Ok(()),
        }
    }
}

/// Runs a purge statement over runs or events in id order (`$1` = the
/// cutoff, `$2` = rows per batch, `$3` = the id after which it starts) until
/// a batch removes fewer rows than it may. The statement returns (rows
/// removed, the last id removed). Returns the rows removed.
fn walk_ids(statement: &str, before: TimestampWithTimeZone) -> Result<i64, Error> {
    let (mut removed, mut after) = (0, 0i64);
    loop {
        let (n, last) = Sql::new().query(statement, &[before.into(), ROWS_PER_BATCH.into(), after.into()], |rows| {
            let row = rows.first();
            Ok((row.get::<i64>(1)?.unwrap_or(0), row.get::<i64>(2)?))
        })?;
        removed += n;
        pgrx::check_for_interrupts!();
        match last {
            Some(last) if n >= ROWS_PER_BATCH => after = last,
            _ => return Ok(removed),
        }
    }
}
