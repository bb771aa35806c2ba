//! The quality gate (docs/semantics.md, section 11): after an import's
//! orders stage, an import whose share of rejected lines is above
//! `etl.max_reject_ratio` is held, and its customers and leads stages wait
//! for an operator's `etl_release(import_id)`.
//!
//! Why here, in the chain, and not in the orders stage: the orders stage
//! loads what it can and knows nothing of what comes next; whether the next
//! stage runs is the chain's decision, and every path to customers and
//! leads goes through the chain: a stage's end ([`super::chain::stage_ended`],
//! for the worker's jobs, `etl_run_pending`, `etl_run_queue` and direct
//! calls), an application's `ORDERS_ETL_COMPLETED`
//! ([`super::chain::on_accepted_event`]), a direct `etl_customers` /
//! `etl_leads` / `etl_run_all` ([`super::chain::run_for_caller`]), a job of
//! those stages queued before the hold ([`super::runner`]), `etl_redrive`
//! and `etl_retry`. Each asks [`hold_of`], [`OrdersGate`] or
//! [`rehearse_after_orders`].
//!
//! A hold is a row of `etl.import_holds` (one per import, kept after its
//! release with who released it and when): a released import is never held
//! again, also when its orders stage runs again.
//!
//! The gate decides before the orders stage's writes are kept
//! ([`OrdersGate`]): with `etl.max_reject_ratio` set and the import never
//! released, the orders stage's subtransaction is judged after its work
//! (one statement measures what it wrote) and rolled back when the share is
//! above the threshold, so that nothing of a held import reaches
//! `etl.orders`, `etl.rejects` or the refresh queues that any later
//! customers or leads stage drains. The hold keeps the measured counts;
//! `etl_release` queues the orders stage again, which then loads the
//! import for real.

use std::cell::RefCell;

use pgrx::{JsonB, Uuid};

use crate::error::Error;
use crate::events::{self, EventType, GateDetail};
use crate::gucs;
use crate::pipeline::{self, StageReport};
use crate::services::spi::Sql;
use crate::stage::Stage;

use super::jobs::enqueue;

/// An import's hold, as `etl.import_holds` records it.
#[derive(Debug, Clone, PartialEq)]
pub enum Hold {
    /// Never held.
    None,
    /// Held: customers and leads wait for `etl_release`. The reason.
    Held(String),
    /// Held once, then released: the gate lets it pass for good.
    Released,
}

/// What the gate decided after an orders stage.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// The import goes on (no threshold, its share at or below it, or
    /// released before).
    Pass,
    /// The import is held (now, or still from an earlier run).
    Held { reason: String },
    /// A dry run's rehearsal: the import would be held; nothing recorded.
    WouldHold { reason: String },
}

impl Verdict {
    pub fn goes_on(&self) -> bool {
        *self == Verdict::Pass
    }

    /// What a stage report's `details.quality_gate` says of it.
    pub fn details(&self, measured: Option<&GateDetail>) -> serde_json::Value {
        let (decision, reason) = match self {
            Verdict::Pass => ("passed", None),
            Verdict::Held { reason } => ("held", Some(reason.clone())),
            Verdict::WouldHold { reason } => ("would hold", Some(reason.clone())),
        };
        let mut details = serde_json::json!({ "decision": decision });
        if let Some(reason) = reason {
            details["reason"] = reason.into();
            details["release_with"] = "etl_release(import_id)".into();
        }
        if let Some(m) = measured {
            details["lines"] = m.lines.into();
            details["rejected"] = m.rejected.into();
            details["reject_ratio"] = m.reject_ratio.into();
            details["threshold"] = m.threshold.into();
        }
        details
    }
}

/// The hold of an import (none, held with its reason, or released).
pub fn hold_of(import_id: Uuid) -> Result<Hold, Error> {
    Sql::new().query(
        "SELECT h.reason, h.released_at IS NULL FROM etl.import_holds h WHERE h.import_id = $1",
        &[import_id.into()],
        |rows| match rows.into_iter().next() {
            None => Ok(Hold::None),
            Some(row) => {
                let reason = row.get::<String>(1)?.unwrap_or_default();
                Ok(if row.get::<bool>(2)?.unwrap_or(false) { Hold::Held(reason) } else { Hold::Released })
            }
        },
    )
}

/// Refuses a stage after orders (customers, leads) of a held import: the
/// error names `etl_release` (SQLSTATE 55000).
pub fn refuse_if_held(import_id: Uuid) -> Result<(), Error> {
    match hold_of(import_id)? {
        Hold::Held(reason) => Err(Error::ImportHeld { import_id: import_id.to_string(), reason }),
        Hold::None | Hold::Released => Ok(()),
    }
}

/// Whether `stage` of an import must wait for a release: every stage of a
/// held import, its orders stage too (the release runs it again).
pub fn stage_waits(import_id: Uuid, _stage: Stage) -> Result<bool, Error> {
    Ok(matches!(hold_of(import_id)?, Hold::Held(_)))
}

/// Whether the import's orders stage was loaded and kept before (by a run
/// other than `rehearsal`, a dry run's own): the gate holds back an
/// import's load, and an import loaded before (gate off, or below the
/// threshold) has its lines in `etl.orders` already. Holding a re-run of it
/// would roll back only the re-run, and the hold, `etl_explain` and
/// `etl_redrive` would then say that nothing of it was loaded; so it
/// passes, as a released import does.
fn loaded_before(import_id: Uuid, rehearsal: Option<i64>) -> Result<bool, Error> {
    Sql::new().query(
        include_str!("../../sql/queries/gate_loaded_before.sql"),
        &[import_id.into(), rehearsal.into()],
        |rows| Ok(rows.first().get_one::<bool>()?.unwrap_or(false)),
    )
}

/// What the gate measured of an orders run it held: the share and reason
/// (for the hold, its events and the report) and the counts per shop and
/// reason (kept with the hold for `etl_quality`; one entry per shop and
/// reason, never one per line).
#[derive(Debug, Clone)]
pub struct Measured {
    pub detail: GateDetail,
    pub by_shop: serde_json::Value,
}

/// The counts per shop and reason of a held run, by one statement, inside
/// its subtransaction (before its rejects are rolled back).
fn rejects_by_shop(import_id: Uuid) -> Result<serde_json::Value, Error> {
    Sql::new().query_one_partition(
        include_str!("../../sql/queries/gate_rejects_by_shop.sql"),
        &[import_id.into()],
        |rows| Ok(rows.first().get_one::<JsonB>()?.map(|j| j.0).unwrap_or_else(|| serde_json::json!([]))),
    )
}

/// The reject share of an import as its latest orders run left it, by one
/// statement of index scans (inside the orders stage's subtransaction when
/// it judges it).
fn measure(import_id: Uuid, threshold: f64) -> Result<GateDetail, Error> {
    let (lines, rejected, top_reason, top_lines) = Sql::new().query_one_partition(
        include_str!("../../sql/queries/gate_measure.sql"),
        &[import_id.into()],
        |rows| match rows.into_iter().next() {
            Some(row) => Ok((
                row.get::<i64>(1)?.unwrap_or(0),
                row.get::<i64>(2)?.unwrap_or(0),
                row.get::<String>(3)?,
                row.get::<i64>(4)?.unwrap_or(0),
            )),
            None => Ok((0, 0, None, 0)),
        },
    )?;
    let reject_ratio = reject_share(lines, rejected);
    let reason = format!(
        "{rejected} of {lines} lines rejected ({:.1}%), above etl.max_reject_ratio = {threshold}{}",
        reject_ratio * 100.0,
        top_reason.map(|r| format!("; most of them {r} ({top_lines} lines)")).unwrap_or_default()
    );
    Ok(GateDetail { lines, rejected, reject_ratio, threshold, reason, released_by: None })
}

/// Rejected lines over lines; an import without lines rejects nothing.
pub fn reject_share(lines: i64, rejected: i64) -> f64 {
    if lines <= 0 {
        0.0
    } else {
        rejected as f64 / lines as f64
    }
}

/// Whether a share is above the threshold: strictly, so that 1 never holds
/// and 0 holds an import with a single reject.
pub fn above(share: f64, threshold: f64) -> bool {
    share > threshold
}

/// The gate in a dry run, after a rehearsed orders stage (any other report
/// passes): says what it would decide (`would hold`), from what the
/// rehearsal wrote, and records nothing (the rehearsal is rolled back).
/// Adds `details.quality_gate` to the report when the gate looked at it.
pub fn rehearse_after_orders(report: &mut StageReport) -> Result<Verdict, Error> {
    if report.stage != Stage::Orders || !report.succeeded() {
        return Ok(Verdict::Pass);
    }
    let (verdict, measured) = match hold_of(report.import_id)? {
        Hold::Released => (Verdict::Pass, None),
        Hold::Held(reason) => (Verdict::Held { reason }, None),
        Hold::None => match gucs::max_reject_ratio() {
            None => (Verdict::Pass, None),
            // Loaded before this rehearsal: a real run would pass.
            Some(_) if loaded_before(report.import_id, Some(report.run_id))? => (Verdict::Pass, None),
            Some(threshold) => {
                let measured = measure(report.import_id, threshold)?;
                if above(measured.reject_ratio, threshold) {
                    (Verdict::WouldHold { reason: measured.reason.clone() }, Some(measured))
                } else {
                    (Verdict::Pass, Some(measured))
                }
            }
        },
    };
    if verdict != Verdict::Pass || measured.is_some() {
        report.counts.extra.insert("quality_gate".into(), verdict.details(measured.as_ref()));
    }
    Ok(verdict)
}

/// The gate on a real run of an import's stages, made before they run,
/// under the pipeline's lock (so that no hold or release can come between
/// it and the stages). With `etl.max_reject_ratio` set, an orders stage of
/// an import never released is judged inside its subtransaction
/// ([`OrdersGate::judge`]) and its writes are rolled back when the share is
/// above the threshold; [`OrdersGate::after_stage`] then records the hold.
/// Gate off, a released import, or no orders stage: it judges nothing and
/// the stages run exactly as without it (no subtransaction of its own, no
/// statement).
pub struct OrdersGate {
    import_id: Uuid,
    /// The threshold when it judges the orders stage.
    threshold: Option<f64>,
    /// What the judge measured of the last orders run, for `after_stage`.
    measured: RefCell<Option<Measured>>,
}

impl OrdersGate {
    /// The gate for a run of `stages` of an import. A held import is
    /// refused (55000, the hint names `etl_release`): nothing of it is
    /// loaded before its release, and its release runs its orders again.
    /// The caller holds the pipeline's lock.
    pub fn for_run(import_id: Uuid, stages: &[Stage]) -> Result<OrdersGate, Error> {
        let threshold = match hold_of(import_id)? {
            Hold::Held(reason) => return Err(Error::ImportHeld { import_id: import_id.to_string(), reason }),
            Hold::Released => None,
            // Asked only with the gate on (gate off: no statement).
            Hold::None if stages.contains(&Stage::Orders) => match gucs::max_reject_ratio() {
                Some(threshold) if !loaded_before(import_id, None)? => Some(threshold),
                _ => None,
            },
            Hold::None => None,
        };
        Ok(OrdersGate { import_id, threshold, measured: RefCell::new(None) })
    }

    /// Whether it judges the orders stage (the gate is on and the import
    /// was never released).
    pub fn judges(&self) -> bool {
        self.threshold.is_some()
    }

    /// Inside the orders stage's subtransaction, after its work: measures
    /// what it wrote (one statement of index scans) and says whether it is
    /// kept: at or below the threshold yes, above it no (rolled back), after
    /// one more statement has counted its rejects per shop and reason for
    /// the hold. Adds `details.quality_gate` to its counts, so its
    /// `etl.runs` row says so.
    pub fn judge(&self, stage: Stage, counts: &mut crate::stage::StageCounts) -> Result<bool, Error> {
        let Some(threshold) = self.threshold.filter(|_| stage == Stage::Orders) else {
            return Ok(true);
        };
        let detail = measure(self.import_id, threshold)?;
        let keep = !above(detail.reject_ratio, threshold);
        let verdict = if keep { Verdict::Pass } else { Verdict::Held { reason: detail.reason.clone() } };
        let mut details = verdict.details(Some(&detail));
        details["kept"] = keep.into();
        counts.extra.insert("quality_gate".into(), details);
        if !keep {
            let by_shop = rejects_by_shop(self.import_id)?;
            *self.measured.borrow_mut() = Some(Measured { detail, by_shop });
        }
        Ok(keep)
    }

    /// After a stage of the run, out of its subtransaction: an orders stage
    /// the judge rolled back holds the import (a row of
    /// `etl.import_holds` with the measured counts, and `IMPORT_HELD`).
    /// Returns whether the import goes on.
    pub fn after_stage(&self, report: &StageReport) -> Result<Verdict, Error> {
        if report.stage != Stage::Orders || report.kept || !report.succeeded() {
            return Ok(Verdict::Pass);
        }
        let measured = self
            .measured
            .borrow_mut()
            .take()
            .ok_or_else(|| Error::Unexpected("the quality gate held an orders run it did not measure".into()))?;
        let detail = &measured.detail;
        let recorded = Sql::new().query(
            include_str!("../../sql/queries/gate_hold.sql"),
            &[
                self.import_id.into(),
                detail.lines.into(),
                detail.rejected.into(),
                detail.threshold.into(),
                detail.reason.clone().into(),
                JsonB(measured.by_shop.clone()).into(),
                report.run_id.into(),
            ],
            |rows| Ok(!rows.is_empty()),
        )?;
        if recorded {
            events::publish(
                EventType::ImportHeld,
                &events::gate_payload(EventType::ImportHeld, self.import_id, "held", detail),
            )?;
        }
        Ok(Verdict::Held { reason: detail.reason.clone() })
    }
}

/// `etl_release(import_id)`: an operator lets a held import go on. Records
/// who and when, publishes `IMPORT_RELEASED` and queues its orders stage
/// again (the held run's writes were rolled back: the import was never
/// loaded; the gate lets a released import pass, and the chain then goes
/// on to customers and leads), under the pipeline's lock. Two
/// operators releasing at once release (and queue) once: the second waits
/// for the first's locks and then finds the import released (an error
/// saying by whom). `caller` is
/// the role that called it, read before the switch to the runner role.
pub fn release(import_id: Uuid, caller: pgrx::pg_sys::Oid) -> Result<i64, Error> {
    let is_operator = Sql::new().query(
        "SELECT pg_catalog.pg_has_role($1, 'etl_operator', 'USAGE')
             OR coalesce((SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.oid = $1), false)",
        &[caller.into()],
        |rows| Ok(rows.first().get_one::<bool>()?.unwrap_or(false)),
    )?;
    if !is_operator {
        return Err(Error::OperatorsOnly("release an import held by the quality gate"));
    }
    // Under the pipeline's lock, which a runner holds from its look at the
    // hold to the end of its job: a job that a runner is burying as held (state 'running', which `enqueue` leaves alone) is
    // dead by the time this release queues it, so it is queued again; and a
    // runner that looks after this release sees it released.
    pipeline::lock_pipeline()?;
    let released = Sql::new().query(
        include_str!("../../sql/queries/gate_release.sql"),
        &[import_id.into(), caller.into()],
        |rows| match rows.into_iter().next() {
            None => Ok(None),
            Some(row) => Ok(Some(GateDetail {
                lines: row.get::<i64>(1)?.unwrap_or(0),
                rejected: row.get::<i64>(2)?.unwrap_or(0),
                reject_ratio: row.get::<f64>(3)?.unwrap_or(0.0),
                threshold: row.get::<f64>(4)?.unwrap_or(0.0),
                reason: row.get::<String>(5)?.unwrap_or_default(),
                released_by: row.get::<String>(6)?,
            })),
        },
    )?;
    let Some(detail) = released else {
        return Err(not_releasable(import_id)?);
    };
    let event_id = events::publish(
        EventType::ImportReleased,
        &events::gate_payload(EventType::ImportReleased, import_id, "released", &detail),
    )?;
    enqueue(import_id, Stage::Orders)?;
    Ok(event_id)
}

/// Why an import cannot be released: unknown, never held, or released
/// already (by whom, when).
fn not_releasable(import_id: Uuid) -> Result<Error, Error> {
    let found = Sql::new().query(
        "SELECT EXISTS (SELECT 1 FROM etl.imports i WHERE i.import_id = $1),
                h.released_by::text, h.released_at::text
           FROM (SELECT 1) one
           LEFT JOIN etl.import_holds h ON h.import_id = $1",
        &[import_id.into()],
        |rows| match rows.into_iter().next() {
            Some(row) => Ok((row.get::<bool>(1)?.unwrap_or(false), row.get::<String>(2)?, row.get::<String>(3)?)),
            None => Ok((false, None, None)),
        },
    )?;
    Ok(match found {
        (false, _, _) => Error::UnknownImport(import_id.to_string()),
        (true, Some(released_by), Some(released_at)) => {
            Error::AlreadyReleased { import_id: import_id.to_string(), released_by, released_at }
        }
        (true, _, _) => Error::NotHeld(import_id.to_string()),
    })
}

/// A row of `etl_quality`.
#[derive(Debug, Clone)]
pub struct QualityRow {
    pub shop_id: Option<i64>,
    pub shop_name: Option<String>,
    /// None: the row over every reason of the shop.
    pub reason: Option<String>,
    pub lines: i64,
    pub rejected: i64,
    pub reject_ratio: f64,
    pub import_reject_ratio: f64,
    pub previous_imports: i64,
    pub previous_lines: i64,
    pub previous_reject_ratio: Option<f64>,
}

/// `etl_quality(import_id)`: readers and operators see any import and
/// compare it with every earlier import; anyone else (a loader) only its
/// own imports, compared with its own earlier ones (it may not learn of
/// another loader's imports, not even their reject counts). `caller` is
/// read before the switch to the runner role.
pub fn quality(import_id: Uuid, caller: pgrx::pg_sys::Oid) -> Result<Vec<QualityRow>, Error> {
    let (sees_all, caller_name, owner) = Sql::new().query(
        "SELECT pg_catalog.pg_has_role($1, 'etl_reader', 'USAGE')
                OR coalesce((SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.oid = $1), false),
                pg_catalog.pg_get_userbyid($1)::text,
                (SELECT i.owner_role::text FROM etl.imports i WHERE i.import_id = $2)",
        &[caller.into(), import_id.into()],
        |rows| match rows.into_iter().next() {
            Some(row) => Ok((row.get::<bool>(1)?.unwrap_or(false), row.get::<String>(2)?, row.get::<String>(3)?)),
            None => Ok((false, None, None)),
        },
    )?;
    let compare_with = match (sees_all, owner) {
        (true, Some(_)) => None,
        (true, None) => return Err(Error::UnknownImport(import_id.to_string())),
        (false, Some(owner)) if Some(&owner) == caller_name.as_ref() => Some(owner),
        // Not the caller's, or no such import: the same answer, so that a
        // loader learns nothing of other loaders' imports.
        (false, _) => return Err(Error::NotVisible(import_id.to_string())),
    };
    let rows = Sql::new().query(
        include_str!("../../sql/queries/quality.sql"),
        &[import_id.into(), compare_with.into()],
        |rows| {
            let mut out = Vec::new();
            for row in rows {
                out.push(QualityRow {
                    shop_id: row.get::<i64>(1)?,
                    shop_name: row.get::<String>(2)?,
                    reason: row.get::<String>(3)?,
                    lines: row.get::<i64>(4)?.unwrap_or(0),
                    rejected: row.get::<i64>(5)?.unwrap_or(0),
                    reject_ratio: row.get::<f64>(6)?.unwrap_or(0.0),
                    import_reject_ratio: row.get::<f64>(7)?.unwrap_or(0.0),
                    previous_imports: row.get::<i64>(8)?.unwrap_or(0),
                    previous_lines: row.get::<i64>(9)?.unwrap_or(0),
                    previous_reject_ratio: row.get::<f64>(10)?,
                });
            }
            Ok(out)
        },
    )?;
    // Its raw lines and rejects gone, there was nothing to count: an empty
    // answer would read as an import without lines. The read takes no row
    // lock (a stage run locks the import's row first instead), so the purge
    // record is read after it, with a new snapshot: it also sees a purge that
    // emptied the import's partition and committed while quality.sql waited
    // for that partition, or after an older REPEATABLE READ snapshot (40001).
    pipeline::check_not_purged_after_read(import_id).map_err(|e| match e {
        Error::RawLinesPurged { import_id, purged_at } => Error::QualityOfPurged { import_id, purged_at },
        other => other,
    })?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gate_holds_a_share_strictly_above_the_threshold() {
        assert!(!above(reject_share(5, 1), 0.2), "1 of 5 is 0.2: not above 0.2");
        assert!(above(reject_share(5, 2), 0.2));
        assert!(!above(reject_share(10, 3), 0.3), "3 of 10 equals 0.3 exactly");
        assert!(above(reject_share(1_000_000, 1), 0.0), "0 holds an import with one reject");
        assert!(!above(reject_share(7, 7), 1.0), "1 never holds");
        assert!(!above(reject_share(0, 0), 0.0), "an empty import rejects nothing");
    }

    #[test]
    fn the_verdict_says_what_to_do() {
        assert!(Verdict::Pass.goes_on());
        assert!(!Verdict::Held { reason: "x".into() }.goes_on());
        assert!(!Verdict::WouldHold { reason: "x".into() }.goes_on());
        let d = Verdict::WouldHold { reason: "r".into() }.details(None);
        assert_eq!(d["decision"], "would hold");
        assert_eq!(d["release_with"], "etl_release(import_id)");
    }
}
