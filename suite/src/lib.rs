//! `hil-suite`: the conformance suite that runs on the board. Library half, so the
//! tables and verdict logic are testable; `main.rs` is the CLI.

pub mod backend;
pub mod case;
pub mod cli;
pub mod cuda;
pub mod cudart;
pub mod error;
pub mod events;
pub mod facts;
pub mod harness;
pub mod latency;
pub mod nvsci;
pub mod ops;
pub mod table;
pub mod ub;
pub mod verdict;
pub mod vulkan;
pub mod watchdog;

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

/// Loads the tables (`--tables DIR` or embedded) and expands them to cases.
pub fn load_cases() -> Result<Vec<case::Case>, table::TableError> {
    let tables = match tables_dir() {
        Some(dir) => table::load_dir(dir)?,
        None => table::embedded()?,
    };
    case::expand(&tables)
}
