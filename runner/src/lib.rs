//! `hil-run`: drives `hil-suite` on boards, journals every result as it arrives, and
//! writes JUnit plus a one-screen summary.

/// `print!` that never panics: a closed stdout (`hil-run | head`) must not abort a run
/// whose journal and reports are still being written. It goes through `progress`, so the
/// live progress lines of a terminal are never torn.
#[macro_export]
macro_rules! out {
    ($($t:tt)*) => {
        $crate::progress::print(false, format_args!($($t)*))
    };
}

/// `println!` that never panics (see `out!`).
#[macro_export]
macro_rules! outln {
    ($($t:tt)*) => {
        $crate::progress::print(false, format_args!("{}\n", format_args!($($t)*)))
    };
}

/// `outln!` for what a run is doing (a place locked, a suite uploaded, old runs removed):
/// silent under `-q`, which promises the summary only.
#[macro_export]
macro_rules! infoln {
    ($($t:tt)*) => {
        if !$crate::progress::quiet() {
            $crate::outln!($($t)*)
        }
    };
}

/// `eprintln!` that keeps the live progress lines whole (see `out!`).
#[macro_export]
macro_rules! errln {
    ($($t:tt)*) => {
        $crate::progress::print(true, format_args!("{}\n", format_args!($($t)*)))
    };
}

pub mod baseline;
pub mod board;
pub mod board_facts;
pub mod board_name;
pub mod bundle;
pub mod caselist;
pub mod commands;
pub mod config;
pub mod dates;
pub mod deqp;
pub mod driver_messages;
pub mod facts;
pub mod from_board;
pub mod history;
pub mod interrupt;
pub mod inventory;
pub mod journal;
pub mod junit;
pub mod labgrid;
pub mod model_ipc;
pub mod night;
pub mod orchestrate;
pub mod outcomes;
pub mod progress;
pub mod propose;
pub mod report;
pub mod reset;
pub mod results_dir;
pub mod run_options;
pub mod session;
pub mod shard;
pub mod sshsig;
pub mod summary;
pub mod tail;
pub mod trace;
pub mod transport;

/// This runner host's name, for lock owners and reports.
pub fn facts_host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

/// A case of table `t` for unit tests.
#[cfg(test)]
pub(crate) fn test_case(name: &str) -> hil_proto::CaseInfo {
    hil_proto::CaseInfo {
        name: name.into(),
        table: "t".into(),
        backend: "host".into(),
        timeout_s: 1.0,
        ub: None,
        devices: vec![],
        cuda_api: String::new(),
        isolated: false,
    }
}

/// A result of `case` for unit tests (0.1 s, no implementation or observations).
#[cfg(test)]
pub(crate) fn test_result(
    case: &str,
    outcome: hil_proto::Outcome,
    message: &str,
) -> journal::CaseResult {
    journal::CaseResult {
        case: case.into(),
        outcome,
        duration_s: 0.1,
        message: message.into(),
        implementation: String::new(),
        observations: vec![],
        earlier: vec![],
    }
}
