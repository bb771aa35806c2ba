//! Live progress of the stages running in this database. A stage
//! runs in one transaction, so nothing it writes is visible to another
//! session until it commits; its progress is: each running stage has a slot
//! in shared memory, updated after every batch, and `etl.progress` reads
//! the slots. With `etl.progress_notices = on`, each batch is also reported
//! to the caller as a NOTICE (with or without shared memory).
//!
//! Shared memory exists only with `shared_preload_libraries = 'etl_ext'`;
//! without it the view is empty and the notices still work. A slot names
//! its backend's pid; one whose backend is gone (a `FATAL`, `kill -9`
//! before the crash restart clears shared memory) is skipped and reused.

use std::time::Instant;

use pgrx::{pg_guard, pg_shmem_init, pg_sys, PGRXSharedMemory, PgLwLock, Uuid};

use crate::gucs;
use crate::services::shared_memory;

/// Stages that can show at once (a backend runs one stage at a time): more
/// than most servers have backends. A stage that finds every slot taken
/// runs unshown.
const SLOTS: usize = 512;
/// The slots an export load leaves free: loaders running many loads at
/// once cannot take the slots the worker's and the operators' stages show
/// in (with 64 slots in all, 64 sessions of one loader could).
const SLOTS_KEPT_FOR_STAGES: usize = 16;
const STAGE_NAME_BYTES: usize = 16;

#[derive(Copy, Clone)]
struct Slot {
    /// The backend running the stage; 0: free.
    pid: i32,
    /// The database of that backend: `etl.progress` shows only its own
    /// database's stages (shared memory is one for the whole cluster).
    database: pg_sys::Oid,
    /// The role the stage started as (the caller of an export load, the
    /// runner for a stage): a loader sees its own sessions' loads.
    role: pg_sys::Oid,
    import_id: [u8; 16],
    stage: [u8; STAGE_NAME_BYTES],
    started_at: pg_sys::TimestampTz,
    updated_at: pg_sys::TimestampTz,
    batches_done: i64,
    /// -1: not known.
    batches_total: i64,
    lines_done: i64,
    /// -1: not known.
    lines_total: i64,
}

impl Default for Slot {
    fn default() -> Self {
        Self {
            pid: 0,
            database: pg_sys::InvalidOid,
            role: pg_sys::InvalidOid,
            import_id: [0; 16],
            stage: [0; STAGE_NAME_BYTES],
            started_at: 0,
            updated_at: 0,
            batches_done: 0,
            batches_total: -1,
            lines_done: 0,
            lines_total: -1,
        }
    }
}

#[derive(Copy, Clone)]
pub struct ProgressSlots {
    slots: [Slot; SLOTS],
}

impl Default for ProgressSlots {
    fn default() -> Self {
        Self { slots: [Slot::default(); SLOTS] }
    }
}

// SAFETY: plain data, no pointers: the same bytes mean the same in every process.
unsafe impl PGRXSharedMemory for ProgressSlots {}

static PROGRESS: PgLwLock<ProgressSlots> = unsafe { PgLwLock::new(c"etl_ext_progress") };

/// Requests the shared memory. Call from `_PG_init` while preloading.
pub fn init_shared_memory() {
    pg_shmem_init!(PROGRESS);
}

fn my_database() -> pg_sys::Oid {
    // SAFETY: set once when the backend connects to its database.
    unsafe { pg_sys::MyDatabaseId }
}

fn my_pid() -> i32 {
    // SAFETY: set once at backend start.
    unsafe { pg_sys::MyProcPid }
}

fn now() -> pg_sys::TimestampTz {
    // SAFETY: reads the clock.
    unsafe { pg_sys::GetCurrentTimestamp() }
}

fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    pid > 0 && unsafe { libc::kill(pid, 0) } == 0
}

/// The progress of one running stage; its slot is freed when it is dropped
/// (the stage ended, failed or was cancelled: Rust unwinds through it).
pub struct StageProgress {
    slot: Option<usize>,
    import_id: Uuid,
    stage: &'static str,
    started: Instant,
    batch_size: usize,
    batches_done: i64,
    lines_done: i64,
    lines_total: Option<i64>,
    notices: bool,
}

impl StageProgress {
    /// Starts showing `stage` of `import_id` as running in this backend.
    pub fn start(import_id: Uuid, stage: &'static str, batch_size: usize) -> Self {
        Self::start_leaving(import_id, stage, batch_size, 0)
    }

    /// Starts showing an export load into `import_id` (stage `export`), if
    /// more than [`SLOTS_KEPT_FOR_STAGES`] slots are free.
    pub fn start_export_load(import_id: Uuid, batch_size: usize) -> Self {
        Self::start_leaving(import_id, "export", batch_size, SLOTS_KEPT_FOR_STAGES)
    }

    fn start_leaving(import_id: Uuid, stage: &'static str, batch_size: usize, keep_free: usize) -> Self {
        let slot = if shared_memory::is_ready() { claim_slot(import_id, stage, keep_free) } else { None };
        Self {
            slot,
            import_id,
            stage,
            started: Instant::now(),
            batch_size: batch_size.max(1),
            batches_done: 0,
            lines_done: 0,
            lines_total: None,
            notices: gucs::progress_notices(),
        }
    }

    /// Whether this progress can be seen (a slot in shared memory, or notices):
    /// when not, a stage need not count its lines beforehand.
    pub fn is_watched(&self) -> bool {
        self.slot.is_some() || self.notices
    }

    /// The stage's lines, when known before it starts (the orders stage).
    pub fn set_lines_total(&mut self, lines: i64) {
        self.lines_total = Some(lines);
        self.publish();
    }

    /// Called after each batch, with the batch's lines (or keys).
    pub fn batch_done(&mut self, lines: usize) {
        self.batches_done += 1;
        self.lines_done += lines as i64;
        self.publish();
        if self.notices {
            let rate = self.lines_done as f64 / self.started.elapsed().as_secs_f64().max(0.001);
            let of = |total: Option<i64>| total.map(|t| format!("/{t}")).unwrap_or_default();
            let eta = match self.lines_total {
                Some(total) if rate > 0.0 => {
                    format!(", about {:.0} s left", ((total - self.lines_done).max(0) as f64) / rate)
                }
                _ => String::new(),
            };
            pgrx::notice!(
                "etl_ext: {} stage of import {}: batch {}{}, {}{} lines, {:.0} lines/s{}",
                self.stage,
                self.import_id,
                self.batches_done,
                of(self.batches_total()),
                self.lines_done,
                of(self.lines_total),
                rate,
                eta
            );
        }
    }

    fn batches_total(&self) -> Option<i64> {
        self.lines_total.map(|lines| ((lines + self.batch_size as i64 - 1) / self.batch_size as i64).max(1))
    }

    fn publish(&self) {
        let Some(index) = self.slot else { return };
        let mut table = PROGRESS.exclusive();
        let slot = &mut table.slots[index];
        if slot.pid != my_pid() {
            return;
        }
        slot.updated_at = now();
        slot.batches_done = self.batches_done;
        slot.batches_total = self.batches_total().unwrap_or(-1);
        slot.lines_done = self.lines_done;
        slot.lines_total = self.lines_total.unwrap_or(-1);
    }
}

impl Drop for StageProgress {
    fn drop(&mut self) {
        if let Some(index) = self.slot {
            let mut table = PROGRESS.exclusive();
            if table.slots[index].pid == my_pid() {
                table.slots[index] = Slot::default();
            }
        }
    }
}

/// The slot a stage of backend `me` takes: its own (a backend runs one
/// stage at a time), else a free one (never used, or its backend is gone),
/// provided more than `keep_free` are free.
fn pick_slot(slots: &[Slot], me: i32, keep_free: usize, alive: impl Fn(i32) -> bool) -> Option<usize> {
    if let Some(own) = slots.iter().position(|s| s.pid == me) {
        return Some(own);
    }
    let free = |s: &Slot| s.pid == 0 || !alive(s.pid);
    if slots.iter().filter(|s| free(s)).count() <= keep_free {
        return None;
    }
    slots.iter().position(free)
}

fn claim_slot(import_id: Uuid, stage: &str, keep_free: usize) -> Option<usize> {
    let me = my_pid();
    let mut table = PROGRESS.exclusive();
    let index = pick_slot(&table.slots, me, keep_free, alive)?;
    let mut name = [0u8; STAGE_NAME_BYTES];
    let bytes = stage.as_bytes();
    let n = bytes.len().min(STAGE_NAME_BYTES);
    name[..n].copy_from_slice(&bytes[..n]);
    let started = now();
    table.slots[index] = Slot {
        pid: me,
        database: my_database(),
        // SAFETY: the current user of this backend, inside a transaction.
        role: unsafe { pg_sys::GetUserId() },
        import_id: *import_id.as_bytes(),
        stage: name,
        started_at: started,
        updated_at: started,
        batches_done: 0,
        batches_total: -1,
        lines_done: 0,
        lines_total: -1,
    };
    Some(index)
}

/// One running stage, as `etl.progress` shows it.
pub struct ProgressRow {
    pub pid: i32,
    /// The role the stage started as.
    pub role: pg_sys::Oid,
    pub import_id: Uuid,
    pub stage: String,
    pub started_at: pg_sys::TimestampTz,
    pub updated_at: pg_sys::TimestampTz,
    pub batches_done: i64,
    pub batches_total: Option<i64>,
    pub lines_done: i64,
    pub lines_total: Option<i64>,
    /// Lines per second since the stage started.
    pub lines_per_second: Option<f64>,
    /// Microseconds left at that rate, when the total is known.
    pub eta_micros: Option<i64>,
}

/// Every stage running now in this database (none without shared memory).
pub fn running_stages() -> Vec<ProgressRow> {
    if !shared_memory::is_ready() {
        return Vec::new();
    }
    let database = my_database();
    let slots: Vec<Slot> =
        PROGRESS.share().slots.iter().filter(|s| s.pid != 0 && s.database == database).copied().collect();
    let now = now();
    slots
        .into_iter()
        .filter(|s| alive(s.pid))
        .map(|s| {
            let known = |v: i64| (v >= 0).then_some(v);
            let elapsed_s = (now - s.started_at).max(1) as f64 / 1e6;
            let rate = (s.lines_done > 0).then(|| s.lines_done as f64 / elapsed_s);
            let eta_micros = match (known(s.lines_total), rate) {
                (Some(total), Some(r)) if r > 0.0 => Some((((total - s.lines_done).max(0) as f64) / r * 1e6) as i64),
                _ => None,
            };
            let stage_len = s.stage.iter().position(|b| *b == 0).unwrap_or(STAGE_NAME_BYTES);
            ProgressRow {
                pid: s.pid,
                role: s.role,
                import_id: Uuid::from_bytes(s.import_id),
                stage: String::from_utf8_lossy(&s.stage[..stage_len]).into_owned(),
                started_at: s.started_at,
                updated_at: s.updated_at,
                batches_done: s.batches_done,
                batches_total: known(s.batches_total),
                lines_done: s.lines_done,
                lines_total: known(s.lines_total),
                lines_per_second: rate,
                eta_micros,
            }
        })
        .collect()
}

/// The running stages the caller may see (`etl.progress_rows()`, which
/// loaders may execute directly, not only through `etl.progress`): all of
/// them for etl_reader's members; for anyone else, those of its own imports
/// and those its own sessions started as it (an export load, whose import
/// is not committed yet). The rule is here, not only in the view's WHERE,
/// because the function is callable without the view.
pub fn visible_to_caller(rows: Vec<ProgressRow>) -> Result<Vec<ProgressRow>, crate::error::Error> {
    use crate::services::spi::{column_ordinals, Sql};
    if rows.is_empty() {
        return Ok(rows);
    }
    let imports: Vec<Uuid> = rows.iter().map(|r| r.import_id).collect();
    let (reader, own) =
        Sql::new().query(include_str!("../../sql/queries/progress_visible.sql"), &[imports.into()], |table| {
            let [reader, own] = column_ordinals(&table, ["reader", "own"])?;
            let Some(row) = table.into_iter().next() else { return Ok((false, Vec::new())) };
            Ok((row.get::<bool>(reader)?.unwrap_or(false), row.get::<Vec<Uuid>>(own)?.unwrap_or_default()))
        })?;
    if reader {
        return Ok(rows);
    }
    // SAFETY: the current user of this backend (the caller), inside a transaction.
    let me = unsafe { pg_sys::GetUserId() };
    Ok(rows.into_iter().filter(|r| r.role == me || own.contains(&r.import_id)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn taken_by(pids: &[i32]) -> Vec<Slot> {
        pids.iter().map(|&pid| Slot { pid, ..Slot::default() }).collect()
    }

    #[test]
    fn an_export_load_leaves_the_last_slots_to_the_stages() {
        let alive = |pid: i32| pid != 99;
        // 5 slots, 3 taken: 2 free.
        let slots = taken_by(&[1, 0, 2, 3, 0]);
        assert_eq!(pick_slot(&slots, 7, 0, alive), Some(1), "a stage takes the first free slot");
        assert_eq!(pick_slot(&slots, 7, 1, alive), Some(1), "2 free, 1 kept: one may be taken");
        assert_eq!(pick_slot(&slots, 7, 2, alive), None, "2 free, 2 kept: none may be taken");
        // A slot whose backend is gone is free.
        let slots = taken_by(&[1, 99, 2, 0]);
        assert_eq!(pick_slot(&slots, 7, 1, alive), Some(1));
        // A backend takes its own slot again, whatever is kept.
        let slots = taken_by(&[1, 2, 7, 3]);
        assert_eq!(pick_slot(&slots, 7, 4, alive), Some(2));
        // Every slot taken: a stage runs unshown.
        assert_eq!(pick_slot(&taken_by(&[1, 2, 3]), 7, 0, alive), None);
    }
}
