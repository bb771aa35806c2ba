//! Services shared by the stages: SPI access with a statement count,
//! subtransactions, failure isolation of batch writes, set-based lookups and
//! the Polars thread pool.

pub mod batch;
pub mod identity;
pub mod lookups;
pub mod memory;
pub mod polars_runtime;
pub mod progress;
pub mod raw_partitions;
pub mod shared_memory;
pub mod spi;
pub mod stage_settings;
pub mod statistics;
pub mod subxact;
pub mod worker_settings;
