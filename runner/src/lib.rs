//! `hil-run`: drives `hil-suite` on boards, journals every result as it arrives, and
//! writes JUnit plus a one-screen summary.

pub mod baseline;
pub mod board;
pub mod bundle;
pub mod caselist;
pub mod deqp;
pub mod interrupt;
pub mod inventory;
pub mod journal;
pub mod junit;
pub mod results_dir;
pub mod session;
pub mod shard;
pub mod sshsig;
pub mod summary;
pub mod tail;
pub mod transport;

/// This runner host's name, for lock owners and reports.
pub fn facts_host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}
