//! `hil-suite`: the conformance suite that runs on the board. Library half, so the
//! tables and verdict logic are testable; `main.rs` is the CLI.

pub mod backend;
pub mod case;
pub mod child;
pub mod cli;
pub mod cuda;
pub mod cudart;
pub mod error;
pub mod events;
pub mod exec;
pub mod facts;
pub mod fdcheck;
pub mod frontend;
pub mod harness;
pub mod health;
pub mod kernel_log;
pub mod latency;
pub mod latency_report;
pub mod nvsci;
pub mod ops;
pub mod os;
pub mod pci;
pub mod progress;
pub mod settings;
pub mod table;
pub mod table_def;
pub mod types;
pub mod ub;
pub mod verdict;
pub mod vulkan;
pub mod watchdog;
pub mod worker;

use std::path::PathBuf;

/// `--tables DIR` (so isolation children load the same tables).
pub fn tables_dir() -> Option<&'static PathBuf> {
    settings::get().tables.as_ref()
}

/// How many devices `gpus` axes expand to: `--devices N`, or the CUDA devices this
/// board has; at least `case::MIN_LISTED_DEVICES` either way.
pub fn listed_devices() -> u32 {
    let present = settings::get()
        .devices
        .unwrap_or_else(|| cuda::driver().map(|d| d.devices.len() as u32).unwrap_or(0));
    case::listed_devices(present)
}

/// Loads the tables (`--tables DIR` or embedded) and expands them to cases.
pub fn load_cases() -> Result<Vec<case::Case>, table::TableError> {
    let tables = match tables_dir() {
        Some(dir) => table::load_dir(dir)?,
        None => table::embedded()?,
    };
    case::expand(&tables, listed_devices())
}
