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

use pgrx::pg_sys;

use crate::error::Error;
use crate::gucs;
use crate::services::raw_partitions;
use crate::services::spi::{one_snapshot_per_transaction, Sql};

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
/// Returns one row per table, in a fixed order. `by_superuser`: the caller
/// is a superuser, who may empty the partitions new imports go to
/// ([`Candidates::whole_partitions`]).
pub fn purge(older_than: Option<Interval>, by_superuser: bool) -> Result<Vec<Purged>, Error> {
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
    let mut whole = WholePartitions::default();
    if let Some(before) = raw_cutoff {
        let candidates = lock_candidates(before)?;
        // The imports of a partition that may go as a whole wait for the
        // end (truncate_partitions); the others go by DELETE now.
        whole = candidates.whole_partitions(by_superuser);
        let (later, now): (Vec<Uuid>, Vec<Uuid>) = candidates.locked.into_iter().partition(|id| whole.holds(id));
        whole.imports = later;
        (lines, rejects) = delete_raw_lines(before, &now)?;
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
    // Last: an emptied partition stays locked until the caller commits.
    if let Some(before) = raw_cutoff {
        let (truncated_lines, truncated_rejects) = truncate_partitions(before, whole)?;
        lines += truncated_lines;
        rejects += truncated_rejects;
    }
    Ok(vec![
        Purged { table: "etl.raw_orders", removed: lines, cutoff: raw_cutoff },
        Purged { table: "etl.rejects", removed: rejects, cutoff: raw_cutoff },
        Purged { table: "etl.jobs", removed: jobs_removed, cutoff: jobs_cutoff },
        Purged { table: "etl.runs", removed: runs_removed, cutoff: runs_cutoff },
        Purged { table: "etl.events", removed: events_removed, cutoff: events_cutoff },
    ])
}

/// The imports whose raw lines may go, locked (purge_raw_candidates.sql),
/// and the partitions of etl.raw_orders that hold an import that may not.
#[derive(Default)]
struct Candidates {
    locked: Vec<Uuid>,
    kept_in: [bool; raw_partitions::PARTITIONS as usize],
}

/// Partitions of etl.raw_orders that this purge may empty as a whole, and
/// the locked imports whose lines are in them.
#[derive(Default)]
struct WholePartitions {
    partitions: Vec<u32>,
    imports: Vec<Uuid>,
}

impl WholePartitions {
    fn holds(&self, id: &Uuid) -> bool {
        self.partitions.contains(&raw_partitions::partition_of(id.as_bytes()))
    }
}

impl Candidates {
    /// The partitions whose every import this purge locked: the day
    /// partitions only (partition 0, of the ids that are not version 7, mixes
    /// every day and goes by DELETE), and only in READ COMMITTED, where the
    /// statement that reads a partition after its lock sees all it holds.
    ///
    /// Unless a superuser purges, not the partitions the server's new ids
    /// go to (yesterday's, today's and tomorrow's: [`raw_partitions::live`]):
    /// an emptied partition stays locked until the caller commits, and an
    /// operator who kept its transaction open (or called etl_purge beside a
    /// pg_sleep) made every new import's lines wait for it, all day. Their
    /// finished imports go by DELETE. (A superuser may lock any table
    /// anyway; pg_cron's purge, as one, still empties them.)
    fn whole_partitions(&self, by_superuser: bool) -> WholePartitions {
        if one_snapshot_per_transaction() {
            return WholePartitions::default();
        }
        let live = if by_superuser { Vec::new() } else { raw_partitions::live() };
        let mut partitions: Vec<u32> =
            self.locked.iter().map(|id| raw_partitions::partition_of(id.as_bytes())).collect();
        partitions.retain(|&p| p != 0 && !self.kept_in[p as usize] && !live.contains(&p));
        partitions.sort_unstable();
        partitions.dedup();
        WholePartitions { partitions, imports: Vec::new() }
    }
}

/// Locks the imports whose raw lines may go (every batch of them), noting
/// the partitions of the imports looked at and not locked.
fn lock_candidates(before: TimestampWithTimeZone) -> Result<Candidates, Error> {
    let mut candidates = Candidates::default();
    walk_imports(include_str!("../../sql/queries/purge_raw_candidates.sql"), before, |row| {
        let (Some(id), picked) = (row.get::<Uuid>(1)?, row.get::<bool>(2)?) else { return Ok(()) };
        if picked == Some(true) {
            candidates.locked.push(id);
        } else {
            candidates.kept_in[raw_partitions::partition_of(id.as_bytes()) as usize] = true;
        }
        Ok(())
    })?;
    // A batch starts at the last import the previous one looked at: it may
    // be locked (and listed) twice, side by side.
    candidates.locked.dedup();
    Ok(candidates)
}

/// Deletes the raw lines and rejects of `imports` (locked by this
/// transaction) that are still finished, in batches; returns (lines,
/// rejects) removed.
fn delete_raw_lines(before: TimestampWithTimeZone, imports: &[Uuid]) -> Result<(i64, i64), Error> {
    let (mut lines, mut rejects) = (0, 0);
    for batch in imports.chunks(IMPORTS_PER_BATCH as usize) {
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
    Ok((lines, rejects))
}

/// How long to try for the locks of the partitions, all of them together:
/// each is asked for without waiting in the queue (a waiting ACCESS
/// EXCLUSIVE request would hold up every stage and loader behind it), again
/// every [`LOCK_RETRY_MICROS`] while attempts are left. One budget for the
/// purge, not one per partition: while it waits it holds the partitions it
/// emptied already, and a loader that keeps 31 partitions read (an open
/// transaction that read etl.raw_orders) made it wait 31 s.
const LOCK_ATTEMPTS: u32 = 100;
const LOCK_RETRY_MICROS: i64 = 10_000;

/// Empties each partition of `whole` whose imports may all still go: takes
/// it ACCESS EXCLUSIVE (never waiting in the lock queue: tried again for up
/// to a second in all, then left to DELETE), reads what it holds after the lock,
/// records its imports as purged and truncates it. The imports of a
/// partition it could not lock, or that now holds an import that must stay,
/// go by DELETE. Returns (lines, rejects) removed.
fn truncate_partitions(before: TimestampWithTimeZone, whole: WholePartitions) -> Result<(i64, i64), Error> {
    let (mut lines, mut rejects) = (0, 0);
    let mut left = Vec::new();
    let mut attempts_left = LOCK_ATTEMPTS;
    for &partition in &whole.partitions {
        let imports: Vec<Uuid> = whole
            .imports
            .iter()
            .filter(|id| raw_partitions::partition_of(id.as_bytes()) == partition)
            .copied()
            .collect();
        match truncate_partition(before, partition, &imports, &mut attempts_left)? {
            Some((l, r)) => {
                lines += l;
                rejects += r;
            }
            None => left.extend(imports),
        }
        pgrx::check_for_interrupts!();
    }
    let (l, r) = delete_raw_lines(before, &left)?;
    Ok((lines + l, rejects + r))
}

/// One partition: Some((lines, rejects)) once truncated, None if it was
/// left (not locked in time, or holding an import that must stay). A retry
/// of the lock spends one of `attempts_left`.
fn truncate_partition(
    before: TimestampWithTimeZone,
    partition: u32,
    locked: &[Uuid],
    attempts_left: &mut u32,
) -> Result<Option<(i64, i64)>, Error> {
    let name = raw_partitions::partition_name(partition);
    let oid = Sql::new().query(
        "SELECT pg_catalog.to_regclass($1)::pg_catalog.oid",
        &[format!("etl.{name}").into()],
        |rows| Ok(rows.first().get_one::<pg_sys::Oid>()?),
    )?;
    let oid = oid.ok_or_else(|| Error::Unexpected(format!("etl.{name} does not exist")))?;
    let granted = loop {
        // SAFETY: a lock on a relation of this database, inside a
        // transaction; held until it ends unless released below.
        let granted =
            unsafe { pg_sys::ConditionalLockRelationOid(oid, pg_sys::AccessExclusiveLock as pg_sys::LOCKMODE) };
        if granted || *attempts_left == 0 {
            break granted;
        }
        *attempts_left -= 1;
        // SAFETY: sleeps this backend; interrupts are checked after.
        unsafe { pg_sys::pg_usleep(LOCK_RETRY_MICROS) };
        pgrx::check_for_interrupts!();
    };
    if !granted {
        return Ok(None);
    }
    let statement = include_str!("../../sql/queries/purge_partition_lines.sql").replace("{partition}", &name);
    let (all_purgeable, imports, counts) =
        Sql::new().query(&statement, &[before.into(), locked.to_vec().into()], |rows| {
            let row = rows.first();
            Ok((
                row.get::<bool>(1)?.unwrap_or(false),
                row.get::<Vec<Uuid>>(2)?.unwrap_or_default(),
                row.get::<Vec<i64>>(3)?.unwrap_or_default(),
            ))
        })?;
    if !all_purgeable || imports.is_empty() {
        // Nothing was written under the lock: others may have it back now.
        // SAFETY: releases the lock taken above, in the same transaction.
        unsafe { pg_sys::UnlockRelationOid(oid, pg_sys::AccessExclusiveLock as pg_sys::LOCKMODE) };
        return Ok(None);
    }
    let recorded = Sql::new().query(
        include_str!("../../sql/queries/purge_partition_record.sql"),
        &[imports.into(), counts.into()],
        |rows| {
            let row = rows.first();
            Ok((row.get::<i64>(1)?.unwrap_or(0), row.get::<i64>(2)?.unwrap_or(0)))
        },
    )?;
    Sql::new().execute(&format!("TRUNCATE etl.{name}"), &[])?;
    Ok(Some(recorded))
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
