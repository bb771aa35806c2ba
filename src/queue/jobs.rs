//! The job queue (`etl.jobs`): queue a stage, claim the next due job and
//! count its attempt, record its end, requeue dead jobs. Knows nothing of
//! events: what a job's end starts is the chain's (`queue::chain`).

use pgrx::Uuid;

use crate::error::Error;
use crate::gucs;
use crate::pipeline::StageReport;
use crate::services::spi::Sql;
use crate::stage::Stage;

use super::wake;

/// Queues `stage` of an import, unless that job is already queued or
/// running. Wakes the worker at commit.
pub fn enqueue(import_id: Uuid, stage: Stage) -> Result<(), Error> {
    // A job that is queued or running will run (a running one after the
    // stage that queues it now, behind the pipeline's lock): it is left
    // alone, and its row, which a worker waiting for the pipeline's lock
    // holds, is not waited for.
    Sql::new().execute(include_str!("../../sql/queries/enqueue_job.sql"), &[import_id.into(), stage.name().into()])?;
    wake::wake_worker_at_commit();
    Ok(())
}

/// A stage that a SQL call ran directly settles the same stage's waiting job
/// (without waiting for a job some worker is running right now).
pub fn settle_waiting_job(report: &StageReport) -> Result<(), Error> {
    if !report.succeeded() {
        return Ok(());
    }
    Sql::new().execute(
        include_str!("../../sql/queries/settle_waiting_job.sql"),
        &[report.import_id.into(), report.stage.name().into(), report.run_id.into()],
    )?;
    Ok(())
}

/// A job's state; the SQL `CHECK` constraint on `etl.jobs.state` is the
/// authority, this mirrors it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobState {
    /// Waiting to run (first attempt, or requeued).
    Queued,
    /// An attempt was counted and the stage is running, or its backend died
    /// (then the job is due again once `next_run_at`, its lease, passes).
    Running,
    Done,
    /// The last attempt failed; retried at `next_run_at`.
    Failed,
    /// Out of attempts; `etl_retry(import_id)` requeues it.
    Dead,
}

impl JobState {
    pub fn name(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Done => "done",
            JobState::Failed => "failed",
            JobState::Dead => "dead",
        }
    }

    pub const ALL: [JobState; 5] =
        [JobState::Queued, JobState::Running, JobState::Done, JobState::Failed, JobState::Dead];

    pub fn from_name(name: &str) -> Option<JobState> {
        JobState::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Whether the job has ended (its `finished_at` is set): done or dead.
    pub fn is_final(self) -> bool {
        matches!(self, JobState::Done | JobState::Dead)
    }
}

impl std::fmt::Display for JobState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A job taken from the queue and what became of it.
#[derive(Debug)]
pub struct JobOutcome {
    pub job_id: i64,
    pub import_id: Uuid,
    pub stage: Stage,
    pub state: JobState,
}

/// A job whose attempt was counted by [`claim_next_job`].
#[derive(Debug, Clone)]
pub struct ClaimedJob {
    pub job_id: i64,
    pub import_id: Uuid,
    pub stage: Stage,
    /// The attempt this claim counted (1 for the first).
    pub attempt: i32,
    /// `Dead` when the job was out of attempts: its last attempt never
    /// finished (the backend crashed or was killed), and it is not run again.
    pub state: JobState,
}

/// A job from a row of (`job_id`, `import_id`, `stage`, `state`, `attempts`).
fn read_job(row: &pgrx::spi::SpiHeapTupleData<'_>) -> Result<ClaimedJob, Error> {
    let stage_name: String = row.get_by_name("stage")?.unwrap_or_default();
    let state_name: String = row.get_by_name("state")?.unwrap_or_default();
    Ok(ClaimedJob {
        job_id: row.get_by_name("job_id")?.unwrap_or_default(),
        import_id: row.get_by_name("import_id")?.ok_or_else(|| Error::Unexpected("job without import".into()))?,
        stage: Stage::from_name(&stage_name).ok_or_else(|| Error::Unexpected(format!("unknown stage {stage_name}")))?,
        attempt: row.get_by_name("attempts")?.unwrap_or(1),
        state: JobState::from_name(&state_name)
            .ok_or_else(|| Error::Unexpected(format!("unknown job state {state_name}")))?,
    })
}

/// A job claimed in an earlier (committed) transaction, by its id, if it is
/// still running.
pub fn claimed_job(job_id: i64) -> Result<Option<ClaimedJob>, Error> {
    Sql::new().query(include_str!("../../sql/queries/claimed_job.sql"), &[job_id.into()], |rows| {
        rows.into_iter().next().map(|row| read_job(&row)).transpose()
    })
}

/// Locks the job's row for the rest of the transaction if the job is still
/// this claim's (running, at the attempt the claim counted); false when
/// another session took it meanwhile or holds its row.
pub fn lock_if_still_claimed(job: &ClaimedJob) -> Result<bool, Error> {
    Sql::new().query(
        include_str!("../../sql/queries/lock_claimed_job.sql"),
        &[job.job_id.into(), job.attempt.into()],
        |rows| Ok(!rows.is_empty()),
    )
}

/// Takes the next due job (skipping jobs other sessions hold) and counts an
/// attempt, or marks it dead when its attempts are used up. The caller
/// commits this before running the stage ([`run_claimed_job`]), so that an
/// attempt whose backend crashes still counts: the job stays `running` with
/// `next_run_at` as its lease, and is due again (for its next attempt) once
/// the lease passes.
pub fn claim_next_job() -> Result<Option<ClaimedJob>, Error> {
    Sql::new().query(
        include_str!("../../sql/queries/claim_job.sql"),
        &[gucs::max_attempts().into(), leases_ms(gucs::retry_base_delay_ms()).into()],
        |rows| rows.into_iter().next().map(|row| read_job(&row)).transpose(),
    )
}

/// Records what became of a job's attempt: done, or failed (due again
/// after its backoff), or dead when it was the last attempt.
pub fn finish_job(
    job: &ClaimedJob,
    succeeded: bool,
    run_id: Option<i64>,
    error: Option<&str>,
) -> Result<JobOutcome, Error> {
    let state = if succeeded {
        JobState::Done
    } else if job.attempt >= gucs::max_attempts() {
        JobState::Dead
    } else {
        JobState::Failed
    };
    // A failed attempt waits the backoff of the attempts before it.
    let retry_in_ms = (state == JobState::Failed).then(|| backoff_ms(gucs::retry_base_delay_ms(), job.attempt - 1));
    Sql::new().execute(
        include_str!("../../sql/queries/finish_job.sql"),
        &[
            job.job_id.into(),
            state.name().into(),
            run_id.into(),
            error.map(str::to_owned).into(),
            retry_in_ms.map(|ms| ms as f64).into(),
            state.is_final().into(),
        ],
    )?;
    Ok(JobOutcome { job_id: job.job_id, import_id: job.import_id, stage: job.stage, state })
}

/// Ends a claimed job as dead without running it, with `why` as its last
/// error (a stage the quality gate holds back: only `etl_release`, which
/// queues it again from scratch, can let it run).
pub fn bury_job(job: &ClaimedJob, why: &str) -> Result<JobOutcome, Error> {
    Sql::new().execute(
        include_str!("../../sql/queries/finish_job.sql"),
        &[
            job.job_id.into(),
            JobState::Dead.name().into(),
            None::<i64>.into(),
            Some(why.to_string()).into(),
            None::<f64>.into(),
            JobState::Dead.is_final().into(),
        ],
    )?;
    Ok(JobOutcome { job_id: job.job_id, import_id: job.import_id, stage: job.stage, state: JobState::Dead })
}

/// The longest a job waits before it is due again.
const MAX_BACKOFF_MS: i64 = 86_400_000;
/// The shortest lease of a running attempt.
const MIN_LEASE_MS: i64 = 1_000;
/// Doublings after which the backoff stops growing (it is capped at a day
/// long before, for any base of at least 1 ms).
const MAX_DOUBLINGS: i32 = 30;

/// The backoff after `attempts_before` attempts: `base_ms`, 2 x base, 4 x
/// base, ... capped at a day. The one definition of the backoff: a failed
/// job is due again after the backoff of the attempts before the failed
/// one, and a running attempt's lease ([`lease_ms`]) is the backoff of the
/// attempts before it.
pub fn backoff_ms(base_ms: i64, attempts_before: i32) -> i64 {
    let exponent = attempts_before.clamp(0, MAX_DOUBLINGS) as u32;
    base_ms.saturating_mul(1i64 << exponent).min(MAX_BACKOFF_MS)
}

/// The lease of an attempt that starts after `attempts_before` attempts:
/// its backoff, at least a second. A job left running by a backend that
/// died is due again once its lease passes.
pub fn lease_ms(base_ms: i64, attempts_before: i32) -> i64 {
    backoff_ms(base_ms, attempts_before).max(MIN_LEASE_MS)
}

/// The leases of every attempt count, for `claim_job.sql` (which picks the
/// one of the claimed job's attempts: entry `attempts + 1`, the last one
/// beyond).
fn leases_ms(base_ms: i64) -> Vec<f64> {
    (0..=MAX_DOUBLINGS).map(|attempts_before| lease_ms(base_ms, attempts_before) as f64).collect()
}

/// Requeues an import's dead or failed jobs; returns the stages requeued.
pub fn retry(import_id: Uuid) -> Result<Vec<String>, Error> {
    let stages = Sql::new().query(include_str!("../../sql/queries/retry_jobs.sql"), &[import_id.into()], |rows| {
        let mut stages = Vec::new();
        for row in rows {
            stages.push(row.get::<String>(1)?.unwrap_or_default());
        }
        Ok(stages)
    })?;
    if stages.is_empty() {
        return Err(Error::NothingToRetry(import_id.to_string()));
    }
    wake::wake_worker_at_commit();
    Ok(stages)
}

/// Milliseconds until the next job becomes ready (None: nothing waits).
pub fn ms_until_next_job() -> Result<Option<i64>, Error> {
    Sql::new()
        .query(include_str!("../../sql/queries/next_job_due.sql"), &[], |rows| Ok(rows.first().get_one::<i64>()?))
}

/// Whether the extension is installed in the current database: `etl.jobs`
/// exists and is a member of the extension etl_ext (a table someone else
/// created under that name is not run).
pub fn queue_exists() -> Result<bool, Error> {
    Sql::new().query(include_str!("../../sql/queries/queue_exists.sql"), &[], |rows| {
        Ok(rows.first().get_one::<bool>()?.unwrap_or(false))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What claim_job.sql computed in SQL before: greatest(1 s, least(1 day,
    /// base * 2^least(attempts, 30))).
    fn claim_lease_before(base_ms: i64, attempts: i32) -> f64 {
        (base_ms as f64 * 2f64.powi(attempts.min(30))).clamp(f64::MIN, 86_400_000.0).max(1000.0)
    }

    /// What finish_job computed before: base * 2^(attempt - 1), capped at a day.
    fn finish_delay_before(base_ms: i64, attempt: i32) -> i64 {
        let exponent = (attempt - 1).clamp(0, 30) as u32;
        base_ms.saturating_mul(1i64 << exponent).min(86_400_000)
    }

    #[test]
    fn the_backoff_doubles_from_the_base_up_to_a_day() {
        assert_eq!(backoff_ms(1_000, 0), 1_000);
        assert_eq!(backoff_ms(1_000, 1), 2_000);
        assert_eq!(backoff_ms(1_000, 4), 16_000);
        assert_eq!(backoff_ms(1_000, 17), 86_400_000);
        assert_eq!(backoff_ms(86_400_000, 1_000), 86_400_000);
        assert_eq!(backoff_ms(0, 3), 0);
        assert_eq!(lease_ms(0, 3), 1_000);
        assert_eq!(lease_ms(100, 2), 1_000);
        assert_eq!(lease_ms(100, 4), 1_600);
    }

    #[test]
    fn the_claims_lease_and_the_finish_delay_keep_their_values() {
        for base in [0, 1, 7, 100, 1_000, 5_000, 60_000, 86_400_000] {
            let leases = leases_ms(base);
            for attempts in 0..60 {
                let entry = leases[(attempts as usize).min(leases.len() - 1)];
                assert_eq!(entry, claim_lease_before(base, attempts), "base {base}, attempts {attempts}");
                assert_eq!(lease_ms(base, attempts) as f64, claim_lease_before(base, attempts));
            }
            for attempt in 1..60 {
                assert_eq!(backoff_ms(base, attempt - 1), finish_delay_before(base, attempt), "base {base}");
            }
        }
    }

    #[test]
    fn job_states_round_trip_and_final_ones_are_done_and_dead() {
        for state in JobState::ALL {
            assert_eq!(JobState::from_name(state.name()), Some(state));
        }
        let finals: Vec<_> = JobState::ALL.into_iter().filter(|s| s.is_final()).collect();
        assert_eq!(finals, [JobState::Done, JobState::Dead]);
    }
}
