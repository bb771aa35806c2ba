//! How `etl.raw_orders` is split, so that a day's raw lines can go as a
//! whole (`TRUNCATE` of a partition) instead of row by row
//! (docs/operations.md, "Retention"; docs/semantics.md 13.5).
//!
//! The table is hash-partitioned on `import_id` into [`PARTITIONS`] fixed
//! partitions, made by `CREATE EXTENSION` (members of the extension: dumped,
//! restored and upgraded as the other tables; no partition is ever created
//! or dropped at run time). The hash is not a hash: the operator class
//! `etl.raw_orders_day_ops` (sql/schema.sql) routes with
//! [`etl_raw_orders_day_hash`], which puts
//!
//! * the lines of an import whose id is a version 7 UUID (which
//!   `etl_uuid_v7()`, `etl_import_export` and `etl_demo_import` make) in the
//!   partition of the UTC day in its first 48 bits: partition
//!   `1 + day % 31`, a ring of 31 days;
//! * every other id (a loader's `gen_random_uuid()`) in partition 0, whose
//!   lines go by `DELETE` as before.
//!
//! Keeping the key `import_id` keeps the primary key `(import_id, line_no)`
//! and lets every stage statement (`WHERE import_id = $1`) be pruned to one
//! partition. The mapping is stored in every row's placement: it must never
//! change (a different mapping would leave rows in partitions whose
//! constraint they break, and a restore would refuse them). The unit tests
//! pin it.

use pgrx::pg_sys;
use pgrx::prelude::pg_guard;

/// How many partitions `etl.raw_orders` has (`MODULUS` of every one).
pub const PARTITIONS: u32 = 32;
/// The days of the ring: partitions 1..=31.
const RING_DAYS: u64 = (PARTITIONS - 1) as u64;
const MS_PER_DAY: u64 = 86_400_000;
/// What PostgreSQL adds to the first column's hash before taking the
/// modulus (`hash_combine64(0, h)` in `compute_partition_hash_value`,
/// src/backend/partitioning/partbounds.c, unchanged since PostgreSQL 11):
/// subtracted here, so that the partition is the value this module chose.
const HASH_COMBINE_CONSTANT: u64 = 0x49a0_f4dd_15e5_a8e3;

/// The partition (its remainder) the lines of import `id` belong in.
pub fn partition_of(id: &[u8; 16]) -> u32 {
    match v7_day(id) {
        Some(day) => 1 + (day % RING_DAYS) as u32,
        None => 0,
    }
}

/// The UTC day (since 1970-01-01) of a version 7 UUID; None for any other.
fn v7_day(id: &[u8; 16]) -> Option<u64> {
    let version = id[6] >> 4;
    let variant = id[8] >> 6;
    if version != 7 || variant != 0b10 {
        return None;
    }
    let millis = id[..6].iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
    Some(millis / MS_PER_DAY)
}

/// The partitions the server's new version 7 ids go to now (its clock, as
/// `etl_uuid_v7` and `etl_import_export` make them): yesterday's, today's
/// and tomorrow's (UTC), so that around midnight, and for a load that made
/// its id just before it, the day on either side is counted too.
pub fn live() -> Vec<u32> {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
    live_at(u64::try_from(now).unwrap_or(u64::MAX))
}

/// [`live`] at `now_ms` (milliseconds since 1970-01-01 UTC).
fn live_at(now_ms: u64) -> Vec<u32> {
    let day = now_ms / MS_PER_DAY;
    [day.saturating_sub(1), day, day.saturating_add(1)].iter().map(|d| 1 + (d % RING_DAYS) as u32).collect()
}

/// The name of partition `remainder` (`etl.raw_orders_00` .. `_31`).
pub fn partition_name(remainder: u32) -> String {
    format!("raw_orders_{remainder:02}")
}

/// The 64-bit "hash" the operator class gives: PostgreSQL routes a row to
/// `hash_combine64(0, value) % PARTITIONS`, which is the partition chosen.
fn routing_hash(id: &[u8; 16]) -> u64 {
    u64::from(partition_of(id)).wrapping_sub(HASH_COMBINE_CONSTANT)
}

/// `PG_FUNCTION_INFO_V1`: the version-1 calling convention.
#[unsafe(no_mangle)]
#[doc(hidden)]
pub extern "C" fn pg_finfo_etl_raw_orders_day_hash() -> &'static pg_sys::Pg_finfo_record {
    const V1_API: pg_sys::Pg_finfo_record = pg_sys::Pg_finfo_record { api_version: 1 };
    &V1_API
}

/// `etl_raw_orders_day_hash(uuid, bigint) RETURNS bigint`: the operator
/// class's extended hash function (support function 2), which partition
/// routing and pruning call. The seed is ignored: only partitioning uses
/// this class, and it needs one value per id.
///
/// # Safety
/// Called by the function manager with a valid `fcinfo` whose first
/// argument is a non-null `uuid` (the function is STRICT).
#[pg_guard]
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn etl_raw_orders_day_hash(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum {
    // SAFETY: a uuid Datum points at its 16 bytes (pass by reference).
    let id = unsafe { read_uuid(fcinfo) };
    pg_sys::Datum::from(routing_hash(&id) as i64)
}

/// `PG_FUNCTION_INFO_V1`: the version-1 calling convention.
#[unsafe(no_mangle)]
#[doc(hidden)]
pub extern "C" fn pg_finfo_etl_raw_orders_day_hash32() -> &'static pg_sys::Pg_finfo_record {
    const V1_API: pg_sys::Pg_finfo_record = pg_sys::Pg_finfo_record { api_version: 1 };
    &V1_API
}

/// `etl_raw_orders_day_hash32(uuid) RETURNS integer`: the standard hash
/// function a hash operator class must have (support function 1): the low
/// 32 bits of the extended one, as PostgreSQL asks of a pair.
///
/// # Safety
/// As [`etl_raw_orders_day_hash`].
#[pg_guard]
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn etl_raw_orders_day_hash32(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum {
    // SAFETY: as above.
    let id = unsafe { read_uuid(fcinfo) };
    pg_sys::Datum::from(routing_hash(&id) as u32 as i32)
}

/// The first argument of a STRICT function taking a `uuid`.
///
/// # Safety
/// `fcinfo` is the function manager's, its first argument a non-null uuid.
unsafe fn read_uuid(fcinfo: pg_sys::FunctionCallInfo) -> [u8; 16] {
    // SAFETY: the caller's promise; the argument array has at least one
    // entry and a uuid Datum is a pointer to 16 bytes.
    unsafe {
        let arg = (*fcinfo).args.as_slice(1)[0].value;
        *arg.cast_mut_ptr::<[u8; 16]>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(text: &str) -> [u8; 16] {
        *uuid::Uuid::parse_str(text).expect("a UUID").as_bytes()
    }

    #[test]
    fn version_7_ids_go_to_the_partition_of_their_day() {
        // 2026-12-07 00:00:00 UTC is day 20794 (1_796_601_600_000 ms).
        let day = 20_794u64;
        let start = day * MS_PER_DAY;
        let at = |ms: u64| {
            let mut b = id("00000000-0000-7000-8000-000000000000");
            b[..6].copy_from_slice(&ms.to_be_bytes()[2..]);
            b
        };
        assert_eq!(partition_of(&at(start)), 1 + (day % 31) as u32);
        assert_eq!(partition_of(&at(start + MS_PER_DAY - 1)), 1 + (day % 31) as u32);
        assert_eq!(partition_of(&at(start + MS_PER_DAY)), 1 + ((day + 1) % 31) as u32);
        assert_eq!(partition_of(&at(start - 1)), 1 + ((day - 1) % 31) as u32);
        // 31 days later: the same partition again (the ring).
        assert_eq!(partition_of(&at(start + 31 * MS_PER_DAY)), partition_of(&at(start)));
    }

    #[test]
    fn the_mapping_is_pinned() {
        // Rows are stored where this mapping put them: it must never change.
        // (Computed apart, in SQL; 018f... is where PostgreSQL routed a row
        // with this operator class.)
        assert_eq!(partition_of(&id("019af6d2-1c00-7abc-8def-0123456789ab")), 1);
        assert_eq!(partition_of(&id("e0000000-0000-7000-8000-000000000001")), 12);
        assert_eq!(partition_of(&id("018f0000-0000-7000-8000-000000000001")), 26);
        assert_eq!(partition_of(&id("00000000-0000-7000-8000-000000000000")), 1);
        assert_eq!(partition_of(&id("90b354dd-bd1e-4354-981b-902731b772b8")), 0);
        assert_eq!(routing_hash(&id("90b354dd-bd1e-4354-981b-902731b772b8")), 0xb65f_0b22_ea1a_571d);
    }

    #[test]
    fn other_ids_go_to_partition_0() {
        // Version 4, a version 7 with another variant, the nil UUID.
        assert_eq!(partition_of(&id("90b354dd-bd1e-4354-981b-902731b772b8")), 0);
        assert_eq!(partition_of(&id("019af6d2-1c00-7abc-cdef-0123456789ab")), 0);
        assert_eq!(partition_of(&id("00000000-0000-0000-0000-000000000000")), 0);
        assert_eq!(partition_of(&id("ffffffff-ffff-ffff-ffff-ffffffffffff")), 0);
    }

    /// PostgreSQL's hash_combine64 (src/include/common/hashfn.h).
    fn hash_combine64(a: u64, b: u64) -> u64 {
        a ^ b.wrapping_add(HASH_COMBINE_CONSTANT).wrapping_add(a << 54).wrapping_add(a >> 7)
    }

    #[test]
    fn postgres_routes_to_the_chosen_partition() {
        // compute_partition_hash_value starts from 0 and combines the
        // column's hash; the row goes to the remainder of that.
        for remainder in 0..PARTITIONS {
            let h = u64::from(remainder).wrapping_sub(HASH_COMBINE_CONSTANT);
            assert_eq!(hash_combine64(0, h) % u64::from(PARTITIONS), u64::from(remainder));
        }
    }

    #[test]
    fn live_partitions_are_those_of_yesterday_today_and_tomorrow() {
        // 2026-12-07 00:00:00 UTC is day 20794; a second before midnight and
        // just after it.
        let start = 20_794u64 * MS_PER_DAY;
        let slot = |day: u64| 1 + (day % 31) as u32;
        assert_eq!(live_at(start), vec![slot(20_793), slot(20_794), slot(20_795)]);
        assert_eq!(live_at(start - 1_000), vec![slot(20_792), slot(20_793), slot(20_794)]);
        // The partition an id made now goes to is one of them.
        let mut b = id("00000000-0000-7000-8000-000000000000");
        b[..6].copy_from_slice(&(start + 5).to_be_bytes()[2..]);
        assert!(live_at(start + 5).contains(&partition_of(&b)));
        assert!(!live_at(start).contains(&0));
    }

    #[test]
    fn partition_names() {
        assert_eq!(partition_name(0), "raw_orders_00");
        assert_eq!(partition_name(31), "raw_orders_31");
    }
}
