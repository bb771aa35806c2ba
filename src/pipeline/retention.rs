//! Retention: `etl_purge(older_than)` removes the history each
//! `etl.retain_*` setting lets go (docs/operations.md, "Retention";
//! docs/semantics.md 11). Business tables (orders, customers, leads) and
//! the imports themselves are never touched; what a purged import had is
//! kept in `etl.purged_imports`.
//!
//! Everything runs in the caller's transaction, in statements over bounded
//! batches (imports, runs or events), so no statement holds more than a
//! batch in memory; the rows it removes are ones no stage, loader or worker
//! reads or writes any more (finished imports, ended runs and jobs, old
//! events), so nothing else waits for them. An import whose raw lines go is
//! locked until commit; a stage run that reads raw lines takes that row
//! FOR SHARE first (`check_raw_lines_kept`).

use pgrx::datum::{Interval, TimestampWithTimeZone};

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
/// `etl.retain_*` setting; a kind whose setting is off (-1) is kept.
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
    let cutoff = |minutes: Option<i64>| -> Result<Option<TimestampWithTimeZone>, Error> {
        let Some(minutes) = minutes else { return Ok(None) };
        Sql::new().query(
            "SELECT pg_catalog.now() - GREATEST($1, $2 * interval '1 minute')",
            &[older_than.into(), minutes.into()],
            |rows| Ok(rows.first().get_one::<TimestampWithTimeZone>()?),
        )
    };
    let (raw_cutoff, jobs_cutoff, runs_cutoff, events_cutoff) =
        (cutoff(raw_lines)?, cutoff(jobs)?, cutoff(runs)?, cutoff(events)?);

    // Raw lines first: they go only while the import's jobs show it finished
    // (or the jobs' recorded outcome does, once they are gone).
    let (mut lines, mut rejects) = (0, 0);
    if let Some(before) = raw_cutoff {
        loop {
            let (imports, l, r) = Sql::new().query(
                include_str!("../../sql/queries/purge_raw_lines.sql"),
                &[before.into(), IMPORTS_PER_BATCH.into()],
                |rows| {
                    let (mut imports, mut l, mut r) = (0i64, 0i64, 0i64);
                    for row in rows {
                        imports += 1;
                        l += row.get::<i64>(1)?.unwrap_or(0);
                        r += row.get::<i64>(2)?.unwrap_or(0);
                    }
                    Ok((imports, l, r))
                },
            )?;
            lines += l;
            rejects += r;
            pgrx::check_for_interrupts!();
            if imports < IMPORTS_PER_BATCH {
                break;
            }
        }
    }
    let jobs_removed = match jobs_cutoff {
        Some(before) => repeat(include_str!("../../sql/queries/purge_jobs.sql"), before, IMPORTS_PER_BATCH, true)?,
        None => 0,
    };
    let runs_removed = match runs_cutoff {
        Some(before) => repeat(include_str!("../../sql/queries/purge_runs.sql"), before, ROWS_PER_BATCH, false)?,
        None => 0,
    };
    let events_removed = match events_cutoff {
        Some(before) => repeat(include_str!("../../sql/queries/purge_events.sql"), before, ROWS_PER_BATCH, false)?,
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

/// Runs a purge statement (`$1` = the cutoff, `$2` = the batch) until a
/// batch is not full. `per_import`: the statement returns a row per import
/// with its rows removed (a batch counts imports); otherwise one row, the
/// rows removed. Returns the rows removed.
fn repeat(statement: &str, before: TimestampWithTimeZone, batch: i64, per_import: bool) -> Result<i64, Error> {
    let mut removed = 0;
    loop {
        let (units, rows_removed) = Sql::new().query(statement, &[before.into(), batch.into()], |rows| {
            let (mut units, mut n) = (0i64, 0i64);
            for row in rows {
                let count = row.get::<i64>(1)?.unwrap_or(0);
                units += if per_import { 1 } else { count };
                n += count;
            }
            Ok((units, n))
        })?;
        removed += rows_removed;
        pgrx::check_for_interrupts!();
        if units < batch {
            return Ok(removed);
        }
    }
}
