//! A board's history, night after night: its runs in start order, what changed between
//! the last two (new fails, fixes, coverage lost or gained, flagged outcomes of another
//! kind, new run-level driver messages), which facts changed and in which run, and a
//! cases × runs strip of every case whose outcome was not constant, with the run its
//! current outcome first appeared in. Built from journals alone; shown as text
//! (`hil-run history`, for a terminal or a CI post) and as a section of the report.

use crate::journal::{CaseResult, DriverMessage};
use hil_proto::{key, Outcome};
use std::collections::BTreeMap;

mod build;
mod html;
mod journals;
mod text;

pub use build::build;
pub use html::html;
pub use journals::journals;
pub use text::text;

/// One run of a board, numbered from 1 (the oldest) in start order.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    pub number: usize,
    pub started_unix: u64,
    /// Where its journal was read from.
    pub source: String,
    /// Its place among the runs the history was built from (a report's board column).
    pub input: usize,
    pub counts: BTreeMap<Outcome, usize>,
    pub planned: usize,
}

impl Run {
    /// `run 2 (2026-12-02 02:00 UTC)`: how every line names a run.
    pub fn label(&self) -> String {
        if self.started_unix == 0 {
            format!("run {}", self.number)
        } else {
            format!(
                "run {} ({})",
                self.number,
                crate::dates::utc(self.started_unix)
            )
        }
    }
}

/// What a case did in one run: its outcome (None: no result), and for a flagged one what
/// was observed (`hang`, `signal`, …), since undefined behaviour is never judged, only
/// compared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub outcome: Option<Outcome>,
    pub kind: String,
}

impl Seen {
    fn of(r: Option<&CaseResult>) -> Seen {
        let kind = r
            .filter(|r| r.outcome == Outcome::Flagged)
            .and_then(|r| r.observations.iter().find(|o| o.key == key::OBSERVED))
            .map(|o| o.value.clone())
            .unwrap_or_default();
        Seen {
            outcome: r.map(|r| r.outcome),
            kind,
        }
    }

    /// `pass`, `flagged (hang)`, `no result`.
    pub fn describe(&self) -> String {
        match self.outcome {
            None => "no result".into(),
            Some(o) if self.kind.is_empty() => o.to_string(),
            Some(o) => format!("{o} ({})", self.kind),
        }
    }

    fn ran(&self) -> bool {
        self.outcome.is_some_and(|o| o != Outcome::NotSupported)
    }

    fn bad(&self) -> bool {
        matches!(
            self.outcome,
            Some(Outcome::Fail | Outcome::Crash | Outcome::Timeout)
        )
    }
}

/// How a case changed between the last two runs, in the order they are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ChangeKind {
    /// Fails, crashes or times out now; did not before.
    NewFail,
    /// Failed, crashed or timed out before; runs and does not now.
    Fixed,
    /// Ran before; not-supported or without a result now.
    CoverageLost,
    /// Not-supported or without a result before; runs now.
    CoverageGained,
    /// Flagged both times, with another observation.
    FlaggedKind,
    /// Anything else (fail to crash, …).
    Other,
}

impl ChangeKind {
    pub fn title(self) -> &'static str {
        match self {
            ChangeKind::NewFail => "new fails",
            ChangeKind::Fixed => "fixed",
            ChangeKind::CoverageLost => "coverage lost",
            ChangeKind::CoverageGained => "coverage gained",
            ChangeKind::FlaggedKind => "flagged, another kind",
            ChangeKind::Other => "changed otherwise",
        }
    }

    fn of(before: &Seen, now: &Seen) -> ChangeKind {
        if now.bad() && !before.bad() {
            ChangeKind::NewFail
        } else if before.bad() && now.ran() && !now.bad() {
            ChangeKind::Fixed
        } else if before.ran() && !now.ran() {
            ChangeKind::CoverageLost
        } else if !before.ran() && now.ran() {
            ChangeKind::CoverageGained
        } else if before.outcome == Some(Outcome::Flagged) && before.outcome == now.outcome {
            ChangeKind::FlaggedKind
        } else {
            ChangeKind::Other
        }
    }
}

/// A case that did something else in the last run than in the one before.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseChange {
    pub kind: ChangeKind,
    pub case: String,
    pub before: Seen,
    pub now: Seen,
    /// The first line of the last run's message.
    pub message: String,
}

/// A fact that was not the same in every run: its first value, then each change and the
/// run it appeared in.
#[derive(Debug, Clone, PartialEq)]
pub struct FactHistory {
    pub key: String,
    pub first: String,
    /// (run number, new value).
    pub changes: Vec<(usize, String)>,
}

/// Consecutive runs with one outcome of a case (run numbers, inclusive).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Segment {
    pub outcome: Option<Outcome>,
    pub first: usize,
    pub last: usize,
}

/// A case whose outcome was not the same in every run.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseStrip {
    pub case: String,
    /// One per run, oldest first (None: no result in that run).
    pub outcomes: Vec<Option<Outcome>>,
    /// The outcomes as runs of equal ones, oldest first; never empty.
    pub segments: Vec<Segment>,
}

impl CaseStrip {
    /// The current outcome and the run it first appeared in.
    pub fn since(&self) -> Segment {
        self.segments[self.segments.len() - 1]
    }
}

/// One board's history.
#[derive(Debug, Clone, PartialEq)]
pub struct History {
    pub board: String,
    /// Oldest first.
    pub runs: Vec<Run>,
    /// The last run against the one before, by kind, then by case.
    pub changes: Vec<CaseChange>,
    /// Run-level driver lines of the last run the one before did not log.
    pub new_driver_messages: Vec<DriverMessage>,
    pub facts: Vec<FactHistory>,
    /// Newest change first, then by case.
    pub strip: Vec<CaseStrip>,
}

#[cfg(test)]
mod tests;
