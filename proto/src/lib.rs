//! The contract between `hil-suite` (runs on the board) and `hil-run` (drives it):
//! one outcome vocabulary and a JSON-lines event stream. Both sides link this crate so
//! the format cannot drift.

pub mod event;
pub mod observation;
pub mod outcome;
pub mod settings;
pub mod text;
pub mod yaml;

pub use event::{CaseInfo, Event, Facts, Observation};
pub use observation::{key, Key, Observed};
pub use outcome::Outcome;

/// Seconds the suite allows the health probe that follows an undefined-behaviour case on a
/// GPU; the runner's backstop adds it to such a case's own limit.
pub const HEALTH_PROBE_LIMIT_S: u64 = 60;

/// The most `HIL_HEALTH_DEFER_S` may ask: seconds a UB case's health probe waits, in a
/// parallel run, for other UB children on its devices to end.
pub const HEALTH_DEFER_MAX_S: u64 = 20;

/// The most a UB case on a GPU may take beyond its own limit: waiting for other UB
/// children (`HEALTH_DEFER_MAX_S`), then out a probe on one of its devices that started
/// before its child ended, a probe on its other devices started meanwhile (a case on two
/// devices), then its own probe (60 s each). The runner's backstop allows it.
pub const UB_HEALTH_ALLOWANCE_S: u64 = HEALTH_DEFER_MAX_S + 3 * HEALTH_PROBE_LIMIT_S;

/// A `--cases-from` line `UNUSABLE_LINE N CASE WHAT`: device N was left unusable by CASE
/// (its `key::DEVICE_UNUSABLE` observation), passed on when the runner restarts the suite
/// on the same board in the same run, so the other cases on N still report "board needs
/// reset" whether or not the suite was restarted.
pub const UNUSABLE_LINE: &str = "@unusable-device ";

/// A `--cases-from` line `KERNEL_LOG_FROM_LINE POS`: read the kernel log again from POS
/// (an `Event::KernelLogPos` of the run's previous suite process), so that nothing logged
/// while that one died, or between the two, is lost.
pub const KERNEL_LOG_FROM_LINE: &str = "@kernel-log-from ";

/// The longest time limit a case may have, in seconds (a week): tables are refused beyond
/// it, and the runner takes a longer limit or duration from a board as an error.
pub const MAX_TIMEOUT_S: f64 = 7.0 * 24.0 * 3600.0;
