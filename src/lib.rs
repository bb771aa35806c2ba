//! etl_ext: a CRM ETL pipeline (orders, customers, sales leads) that runs
//! inside PostgreSQL. See README.md (usage, the rules it keeps) and docs/.
//!
//! Layers, top to bottom: SQL entry points (`api`) and the background worker;
//! events and the queue; the pipeline and its stages (`orders`, `customers`,
//! `leads`); shared services (lookups, batching, SPI, subtransactions) and
//! errors.

use pgrx::prelude::*;

::pgrx::pg_module_magic!(name, version);

mod api;
mod customers;
mod drop_guard;
mod error;
mod events;
mod exports;
mod gucs;
mod leads;
mod orders;
mod pg_compat;
mod pipeline;
mod queue;
mod services;
mod stage;
mod worker;

#[cfg(any(test, feature = "pg_test"))]
mod tests;

pgrx::extension_sql_file!("../sql/schema.sql", name = "schema", bootstrap);
pgrx::extension_sql_file!("../sql/chain.sql", name = "chain");
pgrx::extension_sql_file!("../sql/demo.sql", name = "demo", requires = ["chain"]);
// After the tables: registers them (and their identity sequences) for pg_dump.
pgrx::extension_sql_file!("../sql/backup.sql", name = "backup", requires = ["schema"]);
pgrx::extension_sql_file!("../sql/drop_guard.sql", name = "drop_guard", requires = ["schema"]);
// Last: it wraps Rust functions and grants on every object.
pgrx::extension_sql_file!("../sql/finish.sql", name = "finish", finalize);

#[pg_guard]
pub extern "C-unwind" fn _PG_init() {
    gucs::init();
    // The worker and the shared memory that wakes it exist only when the
    // library is preloaded; everything else works without.
    if unsafe { pg_sys::process_shared_preload_libraries_in_progress } {
        queue::wake::init_shared_memory();
        services::progress::init_shared_memory();
        services::shared_memory::mark_ready();
        // pg_upgrade starts both servers in binary-upgrade mode and drops
        // and creates databases there (postgres among them): a queue worker
        // connected to one would make it fail, and no job may run on a
        // cluster halfway through an upgrade. The worker starts at the first
        // ordinary start after it (docs/operations.md).
        // SAFETY: a flag the postmaster sets from its options, before it
        // loads shared_preload_libraries.
        if !unsafe { pg_sys::IsBinaryUpgrade } {
            worker::register();
        }
    }
}

/// Required by `cargo pgrx test`.
#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    #[must_use]
    pub fn postgresql_conf_options() -> Vec<&'static str> {
        vec![]
    }
}
