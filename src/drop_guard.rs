//! The guard against an accidental `DROP EXTENSION etl_ext`.
//!
//! Every table of schema `etl` is a member of the extension, so dropping the
//! extension drops the orders, customers, leads, imports and their lines,
//! rejects, runs, events and the queue with it. The event trigger
//! `etl_ext_drop_guard` (sql/drop_guard.sql) runs [`etl_drop_guard`] at the
//! start of every `DROP EXTENSION` and `DROP OWNED`; it refuses the statement
//! when it would drop etl_ext and `etl.orders` holds a row, unless
//! `etl.allow_drop_with_data` is on. A statement drops etl_ext when it names
//! it, when it drops with `CASCADE` an extension etl_ext depends on (plpgsql:
//! `DROP EXTENSION plpgsql CASCADE`), or when it is `DROP OWNED BY` the role
//! that owns etl_ext. PL/pgSQL cannot see what a statement drops (only the
//! command tag); C can: the event's parse tree is the statement.

use std::ffi::CStr;

use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use pgrx::{is_a, PgList, PgSqlErrorCode};

use crate::gucs;

/// The extension the guard protects.
const EXTENSION: &CStr = c"etl_ext";

/// `PG_FUNCTION_INFO_V1(etl_drop_guard)`: the version-1 calling convention.
#[unsafe(no_mangle)]
#[doc(hidden)]
pub extern "C" fn pg_finfo_etl_drop_guard() -> &'static pg_sys::Pg_finfo_record {
    const V1_API: pg_sys::Pg_finfo_record = pg_sys::Pg_finfo_record { api_version: 1 };
    &V1_API
}

/// The event trigger function (`RETURNS event_trigger`). Called otherwise
/// (no `EventTriggerData`), it refuses.
///
/// # Safety
/// Called by the function manager with a valid `fcinfo`.
#[pg_guard]
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn etl_drop_guard(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum {
    // SAFETY: fcinfo is the function manager's; its context, when it is an
    // EventTriggerData node, is the event's (CALLED_AS_EVENT_TRIGGER).
    let parsetree = unsafe {
        let context = (*fcinfo).context;
        if context.is_null() || !is_a(context, pg_sys::NodeTag::T_EventTriggerData) {
            ErrorReport::new(
                PgSqlErrorCode::ERRCODE_E_R_I_E_EVENT_TRIGGER_PROTOCOL_VIOLATED,
                "etl_ext: etl.drop_guard() is an event trigger function",
                "etl_drop_guard",
            )
            .report(PgLogLevel::ERROR);
            unreachable!("ereport(ERROR) returned");
        }
        (*context.cast::<pg_sys::EventTriggerData>()).parsetree
    };
    // SAFETY: the parse tree of the statement the event is for.
    if unsafe { drops_this_extension(parsetree) } && !gucs::allow_drop_with_data() && orders_hold_rows() {
        ErrorReport::new(
            PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            "etl_ext: refusing to drop extension etl_ext while etl.orders holds rows",
            "etl_drop_guard",
        )
        .set_detail(
            "DROP EXTENSION etl_ext drops every table of schema etl with it: shops, mappings, imports and \
             their raw lines, orders, customers, leads, rejects, runs, events and the queue.",
        )
        .set_hint(
            "Back the database up first (pg_dump -Fc); then, to drop it anyway, \
             SET etl.allow_drop_with_data = on in this session and drop again.",
        )
        .report(PgLogLevel::ERROR);
    }
    pg_sys::Datum::from(0)
}

/// Whether the statement would drop etl_ext: a `DROP EXTENSION` that names
/// it, or drops with `CASCADE` an extension it depends on; a `DROP OWNED BY`
/// its owner.
///
/// # Safety
/// `parsetree` is null or a valid parse tree node.
unsafe fn drops_this_extension(parsetree: *mut pg_sys::Node) -> bool {
    // SAFETY: the caller's promise; a DropStmt's objects of an extension
    // drop are a List of String nodes (the names), a DropOwnedStmt's roles a
    // List of RoleSpec nodes.
    unsafe {
        if parsetree.is_null() {
            return false;
        }
        if is_a(parsetree, pg_sys::NodeTag::T_DropOwnedStmt) {
            let drop = &*parsetree.cast::<pg_sys::DropOwnedStmt>();
            let roles: Vec<pg_sys::Oid> = PgList::<pg_sys::RoleSpec>::from_pg(drop.roles)
                .iter_ptr()
                .filter(|role| !role.is_null())
                .map(|role| pg_sys::get_rolespec_oid(role, true))
                .collect();
            return owned_by_one_of(roles);
        }
        if !is_a(parsetree, pg_sys::NodeTag::T_DropStmt) {
            return false;
        }
        let drop = &*parsetree.cast::<pg_sys::DropStmt>();
        if drop.removeType != pg_sys::ObjectType::OBJECT_EXTENSION {
            return false;
        }
        let names: Vec<String> = PgList::<pg_sys::Node>::from_pg(drop.objects)
            .iter_ptr()
            .filter(|name| {
                !name.is_null()
                    && is_a(*name, pg_sys::NodeTag::T_String)
                    && !(*name.cast::<pg_sys::String>()).sval.is_null()
            })
            .map(|name| CStr::from_ptr((*name.cast::<pg_sys::String>()).sval).to_string_lossy().into_owned())
            .collect();
        if names.iter().any(|name| name.as_bytes() == EXTENSION.to_bytes()) {
            return true;
        }
        drop.behavior == pg_sys::DropBehavior::DROP_CASCADE && depends_on_one_of(names)
    }
}

/// Whether etl_ext belongs to one of `roles`. An answer SPI cannot give
/// counts as "yes": the guard fails closed.
fn owned_by_one_of(roles: Vec<pg_sys::Oid>) -> bool {
    Spi::get_one_with_args::<bool>(include_str!("../sql/queries/drop_guard_owner.sql"), &[roles.into()])
        .ok()
        .flatten()
        .unwrap_or(true)
}

/// Whether a member of etl_ext depends on a member of one of the extensions
/// named `names` (its functions on the language of plpgsql, say), so that
/// dropping them with CASCADE drops etl_ext. Fails closed, as above.
fn depends_on_one_of(names: Vec<String>) -> bool {
    Spi::get_one_with_args::<bool>(include_str!("../sql/queries/drop_guard_dependents.sql"), &[names.into()])
        .ok()
        .flatten()
        .unwrap_or(true)
}

/// Whether etl.orders has a row (one row read, whatever its size). The
/// table exists while the event trigger does: both belong to the extension.
/// An answer SPI cannot give counts as "yes": the guard fails closed.
fn orders_hold_rows() -> bool {
    Spi::get_one::<bool>("SELECT EXISTS (SELECT FROM etl.orders)").ok().flatten().unwrap_or(true)
}
