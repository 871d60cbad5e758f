//! The one mapping from a case's outcome (and how the baseline judges it) to what each
//! reporter shows: the JUnit element and type, deqp-runner's CSV status, the mark, name
//! and colour of the summary, report and history, and the counts. JUnit, the CSVs, the
//! summary, the report and the history read it here rather than each mapping on its own,
//! as deqp-runner keeps its statuses in one place (`runner_results.rs`); docs/outcomes.md
//! shows the same tables.
//!
//! Below every reporter and the baseline: it knows outcomes and results, nothing else.

use crate::journal::State;
use hil_proto::Outcome;
use std::collections::BTreeMap;

/// How a case's result stands against the baseline, the first that holds in this order
/// (`baseline::Comparison::verdict` decides it). Without a baseline only `Flaky` and
/// `Plain` occur.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Ran in the baseline; not-supported now.
    CoverageLost,
    /// Failed as the baseline lists.
    ExpectedFailure,
    /// Passed where the baseline expects a failure.
    Fixed,
    /// Passed after failed `--retry` attempts.
    Flaky,
    /// Judged by its outcome alone.
    Plain,
}

/// deqp-runner's statuses as hil writes them (`results.csv`, `failures.csv`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Pass,
    Fail,
    Skip,
    Crash,
    Timeout,
    /// Failed first, passed on `--retry`.
    Flake,
    /// Ran and was not judged: hil's `flagged` (undefined behaviour, observation recorded).
    Warn,
    /// Planned, no result (an interrupted run); or, with `--baseline`, ran in the baseline
    /// and not-supported or missing now (coverage lost).
    Missing,
    /// A failure the baseline lists.
    ExpectedFail,
    /// Passed where the baseline expects a failure.
    UnexpectedImprovementPass,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "Pass",
            Status::Fail => "Fail",
            Status::Skip => "Skip",
            Status::Crash => "Crash",
            Status::Timeout => "Timeout",
            Status::Flake => "Flake",
            Status::Warn => "Warn",
            Status::Missing => "Missing",
            Status::ExpectedFail => "ExpectedFail",
            Status::UnexpectedImprovementPass => "UnexpectedImprovement(Pass)",
        }
    }

    /// deqp-runner's `is_success`: what failures.csv leaves out.
    pub fn is_success(self) -> bool {
        matches!(
            self,
            Status::Pass | Status::Skip | Status::Warn | Status::Flake | Status::ExpectedFail
        )
    }

    /// The status of an outcome judged by itself.
    pub fn of(outcome: Outcome) -> Status {
        match outcome {
            Outcome::Pass => Status::Pass,
            Outcome::Fail => Status::Fail,
            Outcome::NotSupported => Status::Skip,
            Outcome::Flagged => Status::Warn,
            Outcome::Crash => Status::Crash,
            Outcome::Timeout => Status::Timeout,
        }
    }

    /// The status of a result: its verdict against the baseline first.
    pub fn judged(verdict: Verdict, outcome: Outcome) -> Status {
        match verdict {
            // Ran in the baseline, not now: deqp-runner's name for a case without a run.
            Verdict::CoverageLost => Status::Missing,
            Verdict::ExpectedFailure => Status::ExpectedFail,
            Verdict::Fixed => Status::UnexpectedImprovementPass,
            Verdict::Flaky => Status::Flake,
            Verdict::Plain => Status::of(outcome),
        }
    }
}

/// What a deqp-runner status in a CSV read as a baseline says the case did then.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Then {
    /// It ran, with this outcome (a failure among them is expected).
    Ran(Outcome),
    /// `Skip`: not-supported then.
    NotSupported,
    /// `Missing`: no result then, nothing to expect.
    NoResult,
}

/// The statuses a baseline CSV may hold, for the message naming an unknown one.
pub const STATUSES_READ: &str = "Pass, Fail, Skip, Crash, Timeout, Flake, KnownFlake, Warn, \
                                 Missing, ExpectedFail, UnexpectedImprovement(…)";

/// How a baseline CSV's status reads (docs/outcomes.md); None for a status deqp-runner
/// does not have. `UnexpectedImprovement(S)` reads as `S`.
pub fn then(status: &str) -> Option<Then> {
    let status = status
        .strip_prefix("UnexpectedImprovement(")
        .and_then(|s| s.strip_suffix(')'))
        .unwrap_or(status);
    Some(match status {
        "Pass" | "Flake" | "KnownFlake" => Then::Ran(Outcome::Pass),
        "Warn" => Then::Ran(Outcome::Flagged),
        "Fail" | "ExpectedFail" => Then::Ran(Outcome::Fail),
        "Crash" => Then::Ran(Outcome::Crash),
        "Timeout" => Then::Ran(Outcome::Timeout),
        "Skip" => Then::NotSupported,
        "Missing" => Then::NoResult,
        _ => return None,
    })
}

/// The JUnit element of a test case: what CI counts it as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Element {
    Success,
    Failure,
    Error,
    Skipped,
}

/// A test case's JUnit element and its `type` attribute (none for a success).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Junit {
    pub element: Element,
    pub ty: &'static str,
}

impl Junit {
    /// A planned case without a result (an interrupted run).
    pub const MISSING: Junit = Junit {
        element: Element::Error,
        ty: "missing",
    };
    /// A case a skip list removed.
    pub const SKIPPED_BY_LIST: Junit = Junit {
        element: Element::Skipped,
        ty: "skipped",
    };
    /// With `--baseline`: ran then, not now (a case the suite no longer lists included).
    pub const COVERAGE_LOST: Junit = Junit {
        element: Element::Failure,
        ty: "coverage-lost",
    };
    /// With `--baseline`: a failure it lists, shown and never counted as failing.
    pub const EXPECTED_FAILURE: Junit = Junit {
        element: Element::Skipped,
        ty: "expected-failure",
    };

    /// An outcome judged by itself: pass → success; fail → failure; crash and timeout →
    /// error (the type says which); not-supported and flagged → skipped, so CI stays green
    /// and shows them.
    pub fn of(outcome: Outcome) -> Junit {
        let element = match outcome {
            Outcome::Pass => Element::Success,
            Outcome::Fail => Element::Failure,
            Outcome::Crash | Outcome::Timeout => Element::Error,
            Outcome::NotSupported | Outcome::Flagged => Element::Skipped,
        };
        let ty = match outcome {
            Outcome::Pass => "",
            o => o.as_str(),
        };
        Junit { element, ty }
    }

    /// A result: its verdict against the baseline first (a fix or a flaky pass is a pass).
    pub fn judged(verdict: Verdict, outcome: Outcome) -> Junit {
        match verdict {
            Verdict::CoverageLost => Junit::COVERAGE_LOST,
            Verdict::ExpectedFailure => Junit::EXPECTED_FAILURE,
            Verdict::Fixed | Verdict::Flaky | Verdict::Plain => Junit::of(outcome),
        }
    }

    /// An earlier `--retry` attempt: a failure's rerun is a failure, anything else an error.
    pub fn rerun(outcome: Outcome) -> Element {
        if outcome == Outcome::Fail {
            Element::Failure
        } else {
            Element::Error
        }
    }
}

/// A short mark per outcome, so outcomes read without colour too (`·`: no result).
pub fn mark(o: Option<Outcome>) -> &'static str {
    match o {
        Some(Outcome::Pass) => "✓",
        Some(Outcome::Fail) => "✗",
        Some(Outcome::NotSupported) => "–",
        Some(Outcome::Flagged) => "!",
        Some(Outcome::Crash) => "C",
        Some(Outcome::Timeout) => "T",
        None => "·",
    }
}

/// An outcome's name in text (`no result` when there is none).
pub fn name(o: Option<Outcome>) -> &'static str {
    o.map(Outcome::as_str).unwrap_or("no result")
}

/// The report's colour class of an outcome (`o-none`: no result).
pub fn class(o: Option<Outcome>) -> String {
    hil_report::html::outcome_class(o.map(Outcome::as_str).unwrap_or("none"))
}

/// The outcomes the summary lists case by case, in this order; the rest are counted
/// (not-supported grouped by reason).
pub const LISTED: [Outcome; 4] = [
    Outcome::Fail,
    Outcome::Crash,
    Outcome::Timeout,
    Outcome::Flagged,
];

/// Where every case of a listed outcome is, past the summary's first few.
pub fn listed_in_full(o: Outcome) -> &'static str {
    match o {
        // flagged.md holds every flagged case with its observations.
        Outcome::Flagged => "flagged.md",
        _ => "junit.xml",
    }
}

/// Whether the progress shows a line for a result as it arrives: passes and not-supported
/// cases are only counted.
pub fn gets_a_progress_line(o: Outcome) -> bool {
    !matches!(o, Outcome::Pass | Outcome::NotSupported)
}

/// How many results of each outcome a run has, every outcome present (0 when none).
pub fn counts(state: &State) -> BTreeMap<Outcome, usize> {
    let mut c: BTreeMap<Outcome, usize> = Outcome::ALL.iter().map(|o| (*o, 0)).collect();
    for r in state.results.values() {
        *c.entry(r.outcome).or_default() += 1;
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every outcome as each reporter shows it, judged by itself: one row per outcome.
    #[test]
    fn every_outcome_has_one_status_one_junit_element_one_mark_and_colour() {
        use Element::*;
        let table = [
            (Outcome::Pass, "Pass", true, Success, "", "✓", "o-pass"),
            (Outcome::Fail, "Fail", false, Failure, "fail", "✗", "o-fail"),
            (
                Outcome::NotSupported,
                "Skip",
                true,
                Skipped,
                "not-supported",
                "–",
                "o-not-supported",
            ),
            (
                Outcome::Flagged,
                "Warn",
                true,
                Skipped,
                "flagged",
                "!",
                "o-flagged",
            ),
            (
                Outcome::Crash,
                "Crash",
                false,
                Error,
                "crash",
                "C",
                "o-crash",
            ),
            (
                Outcome::Timeout,
                "Timeout",
                false,
                Error,
                "timeout",
                "T",
                "o-timeout",
            ),
        ];
        assert_eq!(table.len(), Outcome::ALL.len());
        for (o, status, success, element, ty, m, colour) in table {
            assert_eq!(Status::of(o).as_str(), status, "{o}");
            assert_eq!(Status::of(o).is_success(), success, "{o}");
            // A hil failure is exactly what deqp-runner counts as unsuccessful.
            assert_eq!(!success, o.is_failure(), "{o}");
            assert_eq!(Junit::of(o), Junit { element, ty }, "{o}");
            assert_eq!(mark(Some(o)), m, "{o}");
            assert_eq!(class(Some(o)), colour, "{o}");
            assert_eq!(name(Some(o)), o.as_str());
            // What hil writes reads back as what ran.
            let back = then(status).unwrap();
            match o {
                Outcome::NotSupported => assert_eq!(back, Then::NotSupported),
                o => assert_eq!(back, Then::Ran(o)),
            }
            assert_eq!(gets_a_progress_line(o), LISTED.contains(&o), "{o}");
        }
        assert_eq!(
            (mark(None), name(None), class(None).as_str()),
            ("·", "no result", "o-none")
        );
    }

    #[test]
    fn a_verdict_against_the_baseline_comes_before_the_outcome() {
        let judged = |v, o| (Status::judged(v, o), Junit::judged(v, o));
        assert_eq!(
            judged(Verdict::CoverageLost, Outcome::NotSupported),
            (Status::Missing, Junit::COVERAGE_LOST)
        );
        assert_eq!(
            judged(Verdict::ExpectedFailure, Outcome::Crash),
            (Status::ExpectedFail, Junit::EXPECTED_FAILURE)
        );
        // A fix and a flaky pass are passes to CI; deqp-runner names them.
        assert_eq!(
            judged(Verdict::Fixed, Outcome::Pass),
            (Status::UnexpectedImprovementPass, Junit::of(Outcome::Pass))
        );
        assert_eq!(
            judged(Verdict::Flaky, Outcome::Pass),
            (Status::Flake, Junit::of(Outcome::Pass))
        );
        assert_eq!(
            judged(Verdict::Plain, Outcome::Timeout),
            (Status::Timeout, Junit::of(Outcome::Timeout))
        );
        // Which of them fail the CSV: the fix does (so the baseline gets updated).
        let unsuccessful: Vec<&str> = [
            Status::Missing,
            Status::ExpectedFail,
            Status::UnexpectedImprovementPass,
            Status::Flake,
        ]
        .into_iter()
        .filter(|s| !s.is_success())
        .map(Status::as_str)
        .collect();
        assert_eq!(unsuccessful, ["Missing", "UnexpectedImprovement(Pass)"]);
        assert_eq!(Junit::rerun(Outcome::Fail), Element::Failure);
        assert_eq!(Junit::rerun(Outcome::Crash), Element::Error);
    }

    #[test]
    fn baseline_csv_statuses_read_as_what_the_case_did_then() {
        for (s, want) in [
            ("Flake", Then::Ran(Outcome::Pass)),
            ("KnownFlake", Then::Ran(Outcome::Pass)),
            ("ExpectedFail", Then::Ran(Outcome::Fail)),
            ("Missing", Then::NoResult),
            ("UnexpectedImprovement(Pass)", Then::Ran(Outcome::Pass)),
            ("UnexpectedImprovement(Fail)", Then::Ran(Outcome::Fail)),
        ] {
            assert_eq!(then(s), Some(want), "{s}");
        }
        for s in ["pass", "UnexpectedImprovement(Nope)", "", "Fail "] {
            assert_eq!(then(s), None, "{s}");
        }
    }

    #[test]
    fn counts_hold_every_outcome() {
        let mut st = State::default();
        let r = crate::test_result("t.a", Outcome::Crash, "");
        st.results.insert(r.case.clone(), r);
        let c = counts(&st);
        assert_eq!(c.len(), Outcome::ALL.len());
        assert_eq!((c[&Outcome::Crash], c[&Outcome::Pass]), (1, 0));
    }
}
