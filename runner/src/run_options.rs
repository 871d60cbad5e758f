//! A run over boards: what the user asked for (`RunOptions`) and how it ended
//! (`Finished`); below both the run (`orchestrate`) and what a night adds to it (`night`).

use crate::journal::State;
use crate::transport::ssh::LockPolicy;
use std::path::PathBuf;

/// What the user asked for, for every board of the run.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Where results go: `<results>/<board>/`.
    pub results: PathBuf,
    /// The hil-suite binary for the built-in boards.
    pub suite: Option<PathBuf>,
    pub tables: Option<PathBuf>,
    pub filters: Vec<String>,
    /// `--include` / `--skip` case lists (deqp-runner's format).
    pub include: Vec<PathBuf>,
    pub skip: Vec<PathBuf>,
    /// Only the cases that failed in the last run's journal.
    pub rerun_failed: bool,
    pub resume: bool,
    pub test_threads: Option<u32>,
    pub baseline: Option<PathBuf>,
    pub retry: u32,
    /// `[hash:]K/N`, checked before anything is touched.
    pub shard: Option<String>,
    pub quiet: bool,
    pub accept_new_host_keys: bool,
    /// Waiting for, or breaking, a board another run holds.
    pub lock: LockPolicy,
    /// Write `RESULTS/proposed-baseline.yaml` from the boards' journals; a `--baseline`
    /// file that does not exist yet is then no error: the run is its first night.
    pub propose_baseline: bool,
}

/// How a run over boards ended.
pub struct Finished {
    /// The exit status (0, 1, 2 or 130).
    pub code: i32,
    /// Every board's state worth a conformance bundle (empty: write none).
    pub states: Vec<State>,
}
