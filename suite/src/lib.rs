//! `hil-suite`: the conformance suite that runs on the board. Library half, so the
//! tables and verdict logic are testable; `main.rs` is the CLI.

pub mod backend;
pub mod case;
pub mod cli;
pub mod cuda;
pub mod cudart;
pub mod device_state;
pub mod error;
pub mod events;
pub mod facts;
pub mod fdcheck;
pub mod frontend;
pub mod gate;
pub mod harness;
pub mod health;
pub mod kernel_log;
pub mod latency;
pub mod latency_report;
pub mod nvsci;
pub mod os;
pub mod ops;
pub mod progress;
pub mod table;
pub mod table_def;
pub mod types;
pub mod ub;
pub mod verdict;
pub mod vulkan;
pub mod watchdog;
pub mod worker;

use std::path::PathBuf;
use std::sync::OnceLock;

static TABLES_DIR: OnceLock<PathBuf> = OnceLock::new();

/// Records `--tables DIR` so isolation children load the same tables.
pub fn set_tables_dir(dir: PathBuf) {
    let _ = TABLES_DIR.set(dir);
}

pub fn tables_dir() -> Option<&'static PathBuf> {
    TABLES_DIR.get()
}

static DEVICES: OnceLock<u32> = OnceLock::new();

/// Records `--devices N`: list cases as for a board with N CUDA devices.
pub fn set_devices(n: u32) {
    let _ = DEVICES.set(n);
}

/// How many devices `gpus` axes expand to: `--devices N`, or the CUDA devices this
/// board has; at least `case::MIN_LISTED_DEVICES` either way.
pub fn listed_devices() -> u32 {
    let present =
        *DEVICES.get_or_init(|| cuda::driver().map(|d| d.devices.len() as u32).unwrap_or(0));
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
