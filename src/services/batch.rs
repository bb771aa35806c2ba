//! Batch writes with failure isolation: a batch that the database refuses is
//! split and retried, each part in its own subtransaction, until the lines
//! that cause the failure are found. Every other line lands.

use std::ops::Range;

use crate::error::Error;
use crate::services::subxact;

/// A line the database refused, by its position in the batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowFailure {
    pub index: usize,
    pub message: String,
}

/// What an isolated write achieved.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct IsolatedWrite {
    /// Sum of what `write` returned for the parts that landed.
    pub written: u64,
    pub failures: Vec<RowFailure>,
    /// Subtransactions attempted (1 when the batch landed whole).
    pub attempts: u64,
}

/// Writes rows `0..len` with `write`, which gets a range of row positions and
/// runs one statement. A part that fails is halved until single lines fail.
pub fn write_isolated(
    len: usize,
    mut write: impl FnMut(Range<usize>) -> Result<u64, Error>,
) -> Result<IsolatedWrite, Error> {
    let mut result = IsolatedWrite::default();
    split_and_write(len, &mut result, |range| {
        pgrx::check_for_interrupts!();
        subxact::run(|| write(range))
    })?;
    Ok(result)
}

/// The splitting itself, apart from subtransactions, so it can be tested
/// without a database. `attempt` returns `Err` when the part was refused.
fn split_and_write(
    len: usize,
    result: &mut IsolatedWrite,
    mut attempt: impl FnMut(Range<usize>) -> Result<u64, Error>,
) -> Result<(), Error> {
    // Depth-first, left part first, so failures come out in line order.
    let mut pending: Vec<Range<usize>> = Vec::new();
    if len > 0 {
        pending.push(0..len);
    }
    while let Some(range) = pending.pop() {
        result.attempts += 1;
        match attempt(range.clone()) {
            Ok(written) => result.written += written,
            Err(refusal) if refusal.is_data_error() => match refusal {
                Error::Database { message, .. } if range.len() == 1 => {
                    result.failures.push(RowFailure { index: range.start, message });
                }
                _ => {
                    let middle = range.start + range.len() / 2;
                    pending.push(middle..range.end);
                    pending.push(range.start..middle);
                }
            },
            // Not a refusal of the data (a lock timeout, a deadlock, out of
            // memory, an SPI problem): the whole stage fails and is retried.
            Err(other) => return Err(other),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use pgrx::PgSqlErrorCode;

    fn refuse(message: &str) -> Error {
        Error::Database { sqlstate: PgSqlErrorCode::ERRCODE_CHECK_VIOLATION, message: message.to_string() }
    }

    /// Writes a range unless it contains a "bad" row, like a constraint would.
    fn run_with_bad(len: usize, bad: &[usize]) -> IsolatedWrite {
        let mut result = IsolatedWrite::default();
        split_and_write(len, &mut result, |range| {
            if let Some(b) = bad.iter().find(|b| range.contains(b)) {
                Err(refuse(&format!("row {b} violates a check")))
            } else {
                Ok(range.len() as u64)
            }
        })
        .expect("only refusals happen");
        result
    }

    #[test]
    fn a_clean_batch_is_one_attempt() {
        let r = run_with_bad(1000, &[]);
        assert_eq!(r.written, 1000);
        assert!(r.failures.is_empty());
        assert_eq!(r.attempts, 1);
    }

    #[test]
    fn only_the_guilty_rows_fail_and_every_other_row_lands() {
        let r = run_with_bad(1000, &[3, 500, 999]);
        assert_eq!(r.written, 997);
        let idx: Vec<usize> = r.failures.iter().map(|f| f.index).collect();
        assert_eq!(idx, vec![3, 500, 999]);
        assert_eq!(r.failures[1].message, "row 500 violates a check");
        // Logarithmic narrowing, not a retry per row.
        assert!(r.attempts < 70, "attempts = {}", r.attempts);
    }

    #[test]
    fn every_row_bad() {
        let r = run_with_bad(4, &[0, 1, 2, 3]);
        assert_eq!(r.written, 0);
        assert_eq!(r.failures.len(), 4);
    }

    #[test]
    fn empty_batch_does_nothing() {
        let r = run_with_bad(0, &[]);
        assert_eq!(r, IsolatedWrite::default());
    }

    #[test]
    fn errors_that_are_not_about_the_data_stop_the_write() {
        for sqlstate in [
            PgSqlErrorCode::ERRCODE_LOCK_NOT_AVAILABLE,
            PgSqlErrorCode::ERRCODE_T_R_DEADLOCK_DETECTED,
            PgSqlErrorCode::ERRCODE_T_R_SERIALIZATION_FAILURE,
            PgSqlErrorCode::ERRCODE_OUT_OF_MEMORY,
            PgSqlErrorCode::ERRCODE_QUERY_CANCELED,
            PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
        ] {
            let mut result = IsolatedWrite::default();
            let e =
                split_and_write(10, &mut result, |_| Err(Error::Database { sqlstate, message: "not the data".into() }));
            assert!(matches!(e, Err(Error::Database { .. })), "{sqlstate:?} narrowed down");
            assert!(result.failures.is_empty(), "{sqlstate:?} made load_error lines");
            assert_eq!(result.attempts, 1);
        }
    }

    #[test]
    fn data_errors_of_every_class_narrow_down() {
        for sqlstate in [
            PgSqlErrorCode::ERRCODE_CHECK_VIOLATION,
            PgSqlErrorCode::ERRCODE_UNIQUE_VIOLATION,
            PgSqlErrorCode::ERRCODE_NOT_NULL_VIOLATION,
            PgSqlErrorCode::ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE,
            PgSqlErrorCode::ERRCODE_INVALID_DATETIME_FORMAT,
            PgSqlErrorCode::ERRCODE_RAISE_EXCEPTION,
        ] {
            let mut result = IsolatedWrite::default();
            split_and_write(8, &mut result, |range| {
                if range.contains(&5) {
                    Err(Error::Database { sqlstate, message: "bad row".into() })
                } else {
                    Ok(range.len() as u64)
                }
            })
            .unwrap_or_else(|e| panic!("{sqlstate:?} stopped the write: {e}"));
            assert_eq!(result.written, 7, "{sqlstate:?}");
            assert_eq!(result.failures.len(), 1, "{sqlstate:?}");
            assert_eq!(result.failures[0].index, 5);
        }
    }

    #[test]
    fn other_errors_stop_the_write() {
        let mut result = IsolatedWrite::default();
        let e = split_and_write(10, &mut result, |_| Err(Error::Unexpected("boom".into())));
        assert!(matches!(e, Err(Error::Unexpected(_))));
    }
}
