//! Expected results per board or board class, as deqp-runner keeps them: a run is judged
//! by what changed against the baseline (regressions, fixes, coverage), not by raw
//! failures.
//!
//! ```yaml
//! # results expected on H200 boards, driver 580
//! facts:                     # what the board was (shown when a run differs)
//!   driver.version: 580.159.04
//! expect:                    # failures expected (judged as today)
//!   vulkan.import_errors.closed_fd.dev0: fail   # returns 999, undocumented
//! ran:                       # cases that ran: not-supported or missing now = coverage lost
//!   vulkan.import.timeline.dev0_dev0: pass
//! not-supported:             # with the reason then: running now = newly covered
//!   nvscisync.pairs.cpu_dev0: libnvscisync.so.1 not loadable
//! driver-messages:           # run-level driver lines expected (substrings)
//!   - "NVRM: Xid (PCI:0000:18:00): 79"
//! ```
//!
//! A deqp-runner CSV (`results.csv` or `failures.csv`, as hil writes them too) is read as
//! a baseline as well; docs/outcomes.md says how its statuses map.

use crate::config::Change;
use crate::journal::{CaseResult, State};
use crate::outcomes::{Then, Verdict};
use hil_proto::Outcome;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Baseline {
    /// Informational: which board or class this describes.
    #[serde(default)]
    pub board: Option<String>,
    /// Facts of the run the baseline was made from; a run whose facts differ shows it.
    #[serde(default)]
    pub facts: BTreeMap<String, String>,
    /// case name -> outcome expected there. Cases not listed are expected to pass (or be
    /// not-supported / flagged, which are never judged as failures).
    #[serde(default, deserialize_with = "hil_proto::yaml::unique_keys")]
    pub expect: BTreeMap<String, Outcome>,
    /// Cases that ran (any outcome but not-supported), with that outcome: such a case that
    /// is not-supported now, or missing from a run of every case, is coverage lost.
    #[serde(default, deserialize_with = "hil_proto::yaml::unique_keys")]
    pub ran: BTreeMap<String, Outcome>,
    /// Cases that were not-supported, with why: such a case that runs now is newly covered.
    #[serde(
        default,
        rename = "not-supported",
        deserialize_with = "hil_proto::yaml::unique_keys"
    )]
    pub not_supported: BTreeMap<String, String>,
    /// Run-level GPU driver messages expected (a substring of the line each): one that
    /// matches none fails the run.
    #[serde(default, rename = "driver-messages")]
    pub driver_messages: Vec<String>,
}

/// The facts a baseline records and a run is compared on: what the board's driver and
/// libraries are, and what the suite and its tables were.
pub const FACTS: &[&str] = &[
    "arch",
    "driver.version",
    "cuda.version",
    "cudart.version",
    "nvscisync.version",
    "nvscisync.source",
    "implementation.vulkan",
    "kernel",
    "suite_version",
    "tables.sha256",
];

/// A fact as the baseline keys it (`implementation.NAME` and `suite_version` included).
pub fn fact_value(state: &State, key: &str) -> Option<String> {
    let f = state.facts.as_ref()?;
    if key == "suite_version" {
        return Some(f.suite_version.clone());
    }
    if let Some(b) = key.strip_prefix("implementation.") {
        return f.implementations.get(b).map(|v| short_reason(v));
    }
    f.properties.get(key).cloned()
}

pub fn load(path: &Path) -> Result<Baseline, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
    {
        return from_deqp_csv(&path.display().to_string(), &text);
    }
    let b: Baseline =
        hil_proto::yaml::from_str(&path.display().to_string(), &text).map_err(|e| e.to_string())?;
    b.check().map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(b)
}

impl Baseline {
    /// What YAML cannot say: a case that ran and did not, or `ran` as not-supported.
    fn check(&self) -> Result<(), String> {
        if let Some((case, _)) = self.ran.iter().find(|(_, o)| **o == Outcome::NotSupported) {
            return Err(format!(
                "`ran` lists {case} as not-supported; list it under `not-supported` with why"
            ));
        }
        if self.driver_messages.iter().any(|m| m.trim().is_empty()) {
            return Err(
                "an empty `driver-messages` entry would expect every driver message; \
                 give a stable part of the line"
                    .into(),
            );
        }
        if let Some(case) = self
            .expect
            .keys()
            .find(|c| self.not_supported.contains_key(*c))
        {
            return Err(format!(
                "{case} is expected to fail and listed as not-supported; keep the one that is true"
            ));
        }
        if let Some((case, o)) = self
            .expect
            .iter()
            .find(|(c, o)| self.ran.get(*c).is_some_and(|r| r != *o))
        {
            return Err(format!(
                "{case} is expected to {o} but `ran` lists it as {}; make them agree",
                self.ran[case]
            ));
        }
        if let Some(case) = self
            .ran
            .keys()
            .find(|c| self.not_supported.contains_key(*c))
        {
            return Err(format!(
                "{case} is under both `ran` and `not-supported`; keep the one that is true"
            ));
        }
        Ok(())
    }
}

/// deqp-runner's `results.csv` (`test,status,duration`) or `failures.csv` (`test,status`)
/// as a baseline: failures are expected, what ran is coverage, `Skip` is not-supported.
pub fn from_deqp_csv(name: &str, text: &str) -> Result<Baseline, String> {
    let mut b = Baseline::default();
    let mut seen = std::collections::BTreeSet::new();
    // A spreadsheet's byte order mark is not part of the first case's name.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        // `test,status` and `test,status,duration` alike.
        .flexible(true)
        .comment(Some(b'#'))
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map_or(0, |p| p.line());
            format!("{name}:{line}: not a CSV line: {e}")
        })?;
        let line = record.position().map_or(0, |p| p.line());
        let at = || format!("{name}:{line}");
        // A line of blanks is no record.
        if record.iter().all(str::is_empty) {
            continue;
        }
        let (Some(case), Some(status)) = (record.get(0), record.get(1)) else {
            let fields: Vec<&str> = record.iter().collect();
            return Err(format!(
                "{}: expected `test,status` (deqp-runner's failures.csv) or \
                 `test,status,duration` (results.csv), found `{}`",
                at(),
                crate::config::short(&fields.join(","))
            ));
        };
        let (case, status) = (case.trim(), status.trim());
        if !seen.insert(case.to_string()) {
            return Err(format!("{}: {case} is listed twice", at()));
        }
        let ran = match crate::outcomes::then(status) {
            Some(Then::Ran(o)) => Some(o),
            Some(Then::NotSupported) => None,
            // No result in that run: nothing to expect.
            Some(Then::NoResult) => continue,
            None => {
                return Err(format!(
                    "{}: unknown deqp-runner status `{}` for {case}; known: {}",
                    at(),
                    crate::config::short(status),
                    crate::outcomes::STATUSES_READ
                ))
            }
        };
        match ran {
            Some(o) => {
                if o.is_failure() {
                    b.expect.insert(case.to_string(), o);
                }
                b.ran.insert(case.to_string(), o);
            }
            None => {
                b.not_supported
                    .insert(case.to_string(), format!("Skip in {name}"));
            }
        }
    }
    Ok(b)
}

/// A case that ran when the baseline was made and does not run now.
#[derive(Debug, Clone, PartialEq)]
pub struct CoverageLost {
    pub case: String,
    /// Its outcome in the baseline.
    pub was: Outcome,
    /// Now: not-supported, or None when the run has no such case (the suite no longer
    /// lists it).
    pub now: Option<Outcome>,
    /// Why, as the board said (not-supported) or as hil-run knows (missing).
    pub why: String,
}

impl CoverageLost {
    /// One line: `coverage lost: was pass, now not-supported: why`.
    pub fn describe(&self) -> String {
        format!("coverage lost: {}", self.change())
    }

    /// `was pass, now not-supported: why`.
    pub fn change(&self) -> String {
        let now = match self.now {
            Some(o) => o.as_str(),
            None => "missing",
        };
        format!("was {}, now {now}: {}", self.was, short_reason(&self.why))
    }
}

/// How a run compares with its baseline (or with "everything passes" without one).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Comparison {
    /// A fail/crash/timeout the baseline does not expect (or a different one than expected).
    pub regressions: Vec<(String, Option<Outcome>, Outcome)>,
    /// Ran in the baseline, not-supported or missing now: a regression too.
    pub coverage_lost: Vec<CoverageLost>,
    /// Not-supported in the baseline, ran now (with its outcome now).
    pub newly_covered: Vec<(String, Outcome)>,
    /// The baseline's facts this run differs in (driver, libraries, suite, tables).
    pub fact_changes: Vec<Change>,
    /// Expected to fail, passed now: time to update the baseline.
    pub fixes: Vec<(String, Outcome)>,
    /// Failed exactly as the baseline expects.
    pub expected_failures: Vec<String>,
    /// Passed only on retry.
    pub flaky: Vec<(String, usize)>,
    /// Baseline entries naming no case of this run (renamed or removed cases).
    pub unknown: Vec<String>,
    /// Run-level GPU driver messages (`journal::DriverMessage`) the baseline does not
    /// expect: each fails the run.
    pub driver_messages: Vec<crate::journal::DriverMessage>,
}

impl Comparison {
    /// Whether anything is worse than the baseline: exit status 1.
    pub fn has_regressions(&self) -> bool {
        !self.regressions.is_empty()
            || !self.coverage_lost.is_empty()
            || !self.driver_messages.is_empty()
    }

    pub fn lost(&self, case: &str) -> Option<&CoverageLost> {
        self.coverage_lost.iter().find(|l| l.case == case)
    }

    /// Whether the case is a regression: failing where not expected, or coverage lost.
    pub fn is_regression(&self, case: &str) -> bool {
        self.regressions.iter().any(|r| r.0 == case) || self.lost(case).is_some()
    }

    /// How `r` stands against the baseline (`outcomes::Verdict`, the first that holds).
    /// A flaky pass is told by its earlier attempts, so a comparison made by hand says it
    /// too.
    pub fn verdict(&self, r: &CaseResult) -> Verdict {
        if self.lost(&r.case).is_some() {
            Verdict::CoverageLost
        } else if self.expected_failures.iter().any(|c| c == &r.case) {
            Verdict::ExpectedFailure
        } else if self.fixes.iter().any(|(c, _)| c == &r.case) {
            Verdict::Fixed
        } else if r.outcome == Outcome::Pass && !r.earlier.is_empty() {
            Verdict::Flaky
        } else {
            Verdict::Plain
        }
    }
}

pub fn compare(baseline: Option<&Baseline>, state: &State) -> Comparison {
    let empty = Baseline::default();
    let b = baseline.unwrap_or(&empty);
    let mut c = Comparison::default();
    for r in state.ordered_results() {
        let expected = b.expect.get(&r.case).copied();
        if r.outcome == Outcome::Pass && !r.earlier.is_empty() {
            c.flaky.push((r.case.clone(), r.earlier.len()));
        }
        match (r.outcome.is_failure(), expected) {
            (true, Some(e)) if e == r.outcome => c.expected_failures.push(r.case.clone()),
            (true, e) => c.regressions.push((r.case.clone(), e, r.outcome)),
            (false, Some(e)) if e.is_failure() && r.outcome == Outcome::Pass => {
                c.fixes.push((r.case.clone(), e))
            }
            _ => {}
        }
        if r.outcome != Outcome::NotSupported && b.not_supported.contains_key(&r.case) {
            c.newly_covered.push((r.case.clone(), r.outcome));
        }
    }
    let planned: std::collections::BTreeSet<&str> =
        state.cases.iter().map(|c| c.name.as_str()).collect();
    let skipped: std::collections::BTreeSet<&str> =
        state.skipped.iter().map(|s| s.case.as_str()).collect();
    // A case the board does not list any more is lost only where the plan took every
    // listed case: a filter, shard or include list leaves cases out on purpose.
    let whole = state
        .config
        .as_ref()
        .is_some_and(|c| c.planned_whole_listing(state.cases.len(), state.skipped.len()));
    for (case, &was) in &b.ran {
        match state.results.get(case) {
            Some(r) if r.outcome == Outcome::NotSupported => c.coverage_lost.push(CoverageLost {
                case: case.clone(),
                was,
                now: Some(Outcome::NotSupported),
                why: r.message.clone(),
            }),
            Some(_) => {}
            // Planned and unfinished: the run already says so (and exits 1).
            None if planned.contains(case.as_str()) => {}
            None if whole && !skipped.contains(case.as_str()) => {
                c.coverage_lost.push(CoverageLost {
                    case: case.clone(),
                    was,
                    now: None,
                    why: "the suite does not list this case any more".into(),
                })
            }
            None => {}
        }
    }
    c.fact_changes = fact_changes(b, state);
    c.unknown = b
        .expect
        .keys()
        .chain(b.not_supported.keys())
        .filter(|k| !planned.contains(k.as_str()) && !skipped.contains(k.as_str()))
        .cloned()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    c.driver_messages = state
        .driver_messages
        .iter()
        .filter(|m| {
            !b.driver_messages
                .iter()
                .any(|want| m.line.contains(want.as_str()))
        })
        .cloned()
        .collect();
    c
}

/// The baseline's facts this run differs in.
fn fact_changes(b: &Baseline, state: &State) -> Vec<Change> {
    let mut changes = Vec::new();
    for key in FACTS {
        let Some(then) = b.facts.get(*key) else {
            continue;
        };
        let now = fact_value(state, key).unwrap_or_else(|| "(unknown)".into());
        if &now != then {
            changes.push(Change {
                key: key.to_string(),
                then: then.clone(),
                now,
            });
        }
    }
    changes
}

/// A reason on one line: the first line, without the list of paths a loader tried.
pub fn short_reason(why: &str) -> String {
    let first = why.lines().next().unwrap_or("");
    let first = first.split_once("; tried: ").map_or(first, |(w, _)| w);
    crate::config::short(first.trim())
}

/// A baseline that expects what a run did (`hil-run baseline-from JOURNAL`): every fail,
/// crash and timeout, each under a comment with its message's first line; every case that
/// ran (coverage) and every not-supported case with its reason; the board's facts.
pub fn from_state(state: &State, journal: &str) -> String {
    let prop = |k: &str| crate::facts::fact(state, k);
    let results = state.ordered_results();
    let failing: Vec<_> = results.iter().filter(|r| r.outcome.is_failure()).collect();
    let mut y = format!(
        "# Expected results written by `hil-run baseline-from {journal}`\n\
         # board {}: arch {}, driver {}, CUDA {}; {} of {} planned cases have a result, {} failing.\n\
         # Say for each expected failure why it fails and where that is documented.\n",
        state.board,
        prop("arch"),
        prop("driver.version"),
        prop("cuda.version"),
        state.results.len(),
        state.cases.len(),
        failing.len()
    );
    let missing = state.remaining().len();
    if missing > 0 {
        y.push_str(&format!(
            "# {missing} planned case(s) have no result (the run was interrupted): not listed.\n"
        ));
    }
    y.push_str(&format!("board: {}\n", yaml_key(&state.board)));
    facts_yaml(&mut y, state);
    y.push_str("expect:");
    if failing.is_empty() {
        y.push_str(" {}\n");
    } else {
        y.push('\n');
        for r in &failing {
            let first = short_reason(&r.message);
            if !first.is_empty() {
                y.push_str(&format!("  # {first}\n"));
            }
            y.push_str(&format!("  {}: {}\n", yaml_key(&r.case), r.outcome));
        }
    }
    y.push_str(
        "# Coverage: a case that ran here and is not-supported or missing in a run is a \
         regression.\nran:",
    );
    let ran: Vec<_> = results
        .iter()
        .filter(|r| r.outcome != Outcome::NotSupported)
        .collect();
    if ran.is_empty() {
        y.push_str(" {}\n");
    } else {
        y.push('\n');
        for r in ran {
            y.push_str(&format!("  {}: {}\n", yaml_key(&r.case), r.outcome));
        }
    }
    driver_messages_yaml(&mut y, state);
    not_supported_yaml(&mut y, &results);
    y
}

/// The board's facts, as `baseline-from` records them.
fn facts_yaml(y: &mut String, state: &State) {
    let facts: Vec<(&str, String)> = FACTS
        .iter()
        .filter_map(|k| fact_value(state, k).map(|v| (*k, v)))
        .collect();
    y.push_str(
        "# What the board was: a run on other drivers or libraries shows the difference.\nfacts:",
    );
    if facts.is_empty() {
        y.push_str(" {}\n");
    } else {
        y.push('\n');
        for (k, v) in facts {
            y.push_str(&format!("  {k}: {}\n", yaml_value(&v)));
        }
    }
}

/// The run-level driver messages, as comments: expecting one is a decision to write down.
fn driver_messages_yaml(y: &mut String, state: &State) {
    if !state.driver_messages.is_empty() {
        y.push_str(
            "# Driver messages outside every case's result in this run; to expect one, list a\n\
             # stable part of it (no pid or time) under `driver-messages:` and say why.\n",
        );
        for m in &state.driver_messages {
            y.push_str(&format!("#   {}\n", crate::config::short(&m.line)));
        }
    }
}

/// Every not-supported case with its reason.
fn not_supported_yaml(y: &mut String, results: &[&CaseResult]) {
    y.push_str("not-supported:");
    let ns: Vec<_> = results
        .iter()
        .filter(|r| r.outcome == Outcome::NotSupported)
        .collect();
    if ns.is_empty() {
        y.push_str(" {}\n");
    } else {
        y.push('\n');
        for r in ns {
            y.push_str(&format!(
                "  {}: {}\n",
                yaml_key(&r.case),
                yaml_value(&short_reason(&r.message))
            ));
        }
    }
}

/// Any text as a YAML scalar: JSON's quoting is valid YAML.
pub(crate) fn yaml_value(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

/// A case or board name as a YAML key: plain when it is only name characters.
pub(crate) fn yaml_key(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if plain {
        s.to_string()
    } else {
        serde_json::to_string(s).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::{CaseResult, EarlierRun};

    fn state(results: &[(&str, Outcome, usize)]) -> State {
        let mut st = State::default();
        for (name, o, retries) in results {
            st.cases.push(crate::test_case(name));
            st.results.insert(
                name.to_string(),
                CaseResult {
                    case: name.to_string(),
                    outcome: *o,
                    duration_s: 0.1,
                    message: String::new(),
                    implementation: String::new(),
                    observations: vec![],
                    earlier: (0..*retries)
                        .map(|_| EarlierRun {
                            outcome: Outcome::Fail,
                            message: "x".into(),
                            duration_s: 0.1,
                        })
                        .collect(),
                },
            );
        }
        st
    }

    #[test]
    fn regressions_fixes_and_expected_failures_are_told_apart() {
        let b: Baseline = hil_proto::yaml::from_str(
            "b.yaml",
            "expect:\n  t.known_fail: fail   # driver bug\n  t.known_crash: crash\n  t.fixed: fail\n  t.gone: fail\n",
        )
        .unwrap();
        let st = state(&[
            ("t.known_fail", Outcome::Fail, 0),
            ("t.known_crash", Outcome::Fail, 0), // failed differently than expected
            ("t.fixed", Outcome::Pass, 0),
            ("t.new_fail", Outcome::Timeout, 0),
            ("t.flaky", Outcome::Pass, 2),
            ("t.ns", Outcome::NotSupported, 0),
        ]);
        let c = compare(Some(&b), &st);
        assert_eq!(c.expected_failures, ["t.known_fail"]);
        assert_eq!(
            c.regressions,
            [
                (
                    "t.known_crash".to_string(),
                    Some(Outcome::Crash),
                    Outcome::Fail
                ),
                ("t.new_fail".to_string(), None, Outcome::Timeout)
            ]
        );
        assert_eq!(c.fixes, [("t.fixed".to_string(), Outcome::Fail)]);
        assert_eq!(c.flaky, [("t.flaky".to_string(), 2)]);
        assert_eq!(c.unknown, ["t.gone"]);
        // Without a baseline every failure is a regression.
        assert_eq!(compare(None, &st).regressions.len(), 3);
    }

    #[test]
    fn a_baseline_from_a_run_loads_back_and_expects_exactly_its_failures() {
        let mut st = state(&[
            ("t.ok", Outcome::Pass, 0),
            ("t.flaky", Outcome::Pass, 1),
            ("t.bad", Outcome::Fail, 0),
            ("t.boom", Outcome::Crash, 0),
            ("t.ns", Outcome::NotSupported, 0),
        ]);
        st.board = "orin01".into();
        st.results.get_mut("t.bad").unwrap().message = "expected 1, got 999\nmore".into();
        let text = from_state(&st, "results/orin01/journal.jsonl");
        assert!(
            text.contains("  # expected 1, got 999\n  t.bad: fail\n"),
            "{text}"
        );
        let b: Baseline = hil_proto::yaml::from_str("b.yaml", &text).unwrap();
        assert_eq!(b.board.as_deref(), Some("orin01"));
        assert_eq!(
            b.expect.into_iter().collect::<Vec<_>>(),
            [
                ("t.bad".to_string(), Outcome::Fail),
                ("t.boom".to_string(), Outcome::Crash)
            ]
        );
        // Judged against its own baseline, the run has no regression.
        let b: Baseline = hil_proto::yaml::from_str("b.yaml", &text).unwrap();
        assert!(compare(Some(&b), &st).regressions.is_empty());
        let clean = state(&[("t.ok", Outcome::Pass, 0)]);
        let b: Baseline = hil_proto::yaml::from_str("b.yaml", &from_state(&clean, "j")).unwrap();
        assert!(b.expect.is_empty());
    }

    #[test]
    fn deqp_runner_statuses_map_to_expectations_and_coverage() {
        let b = from_deqp_csv(
            "r.csv",
            "# comment\nt.a,Pass,0.1\nt.b,Fail,0.2\nt.c,Skip,0\nt.d,Warn,0.1\nt.e,Missing,0\n\
             t.f,UnexpectedImprovement(Pass),0.1\nt.g,Crash\nt.h,ExpectedFail,1\n",
        )
        .unwrap();
        assert_eq!(
            b.expect.into_iter().collect::<Vec<_>>(),
            [
                ("t.b".to_string(), Outcome::Fail),
                ("t.g".to_string(), Outcome::Crash),
                ("t.h".to_string(), Outcome::Fail)
            ]
        );
        assert_eq!(
            b.ran.keys().map(String::as_str).collect::<Vec<_>>(),
            ["t.a", "t.b", "t.d", "t.f", "t.g", "t.h"]
        );
        assert_eq!(b.ran["t.d"], Outcome::Flagged);
        assert_eq!(b.not_supported.keys().collect::<Vec<_>>(), ["t.c"]);
        let twice = from_deqp_csv("f.csv", "t.a,Fail\nt.a,Crash\n").unwrap_err();
        assert!(twice.starts_with("f.csv:2: t.a is listed twice"), "{twice}");
        let short = from_deqp_csv("f.csv", "t.a\n").unwrap_err();
        assert!(
            short.starts_with("f.csv:1: expected `test,status`"),
            "{short}"
        );
    }

    #[test]
    fn coverage_is_lost_by_not_supported_or_missing_cases_of_a_whole_run_only() {
        let b: Baseline = hil_proto::yaml::from_str(
            "b.yaml",
            "ran:\n  t.ok: pass\n  t.ns_now: pass\n  t.removed: flagged\n  t.skipped: pass\n\
             not-supported:\n  t.new: no library\n",
        )
        .unwrap();
        let mut st = state(&[
            ("t.ok", Outcome::Pass, 0),
            ("t.ns_now", Outcome::NotSupported, 0),
            ("t.new", Outcome::Fail, 0),
        ]);
        st.results.get_mut("t.ns_now").unwrap().message = "libcudart not found".into();
        st.skipped.push(crate::journal::SkippedCase {
            case: "t.skipped".into(),
            by: "s.txt:1".into(),
        });
        // The plan took all 4 listed cases (3 planned, 1 skipped).
        st.config = Some(crate::journal::RunConfig {
            listed: Some(4),
            ..Default::default()
        });
        let c = compare(Some(&b), &st);
        let lost: Vec<String> = c
            .coverage_lost
            .iter()
            .map(|l| format!("{} {}", l.case, l.change()))
            .collect();
        assert_eq!(
            lost,
            [
                "t.ns_now was pass, now not-supported: libcudart not found",
                "t.removed was flagged, now missing: the suite does not list this case any more"
            ]
        );
        assert_eq!(c.newly_covered, [("t.new".to_string(), Outcome::Fail)]);
        assert!(c.has_regressions());
        // A filtered run leaves cases out on purpose: only what it ran is judged.
        let listed = |n| {
            Some(crate::journal::RunConfig {
                listed: Some(n),
                ..Default::default()
            })
        };
        // The plan took all 4 listed cases (3 planned, 1 skipped): a removed case is lost.
        st.config = listed(4);
        let c = compare(Some(&b), &st);
        assert_eq!(c.coverage_lost.len(), 2, "{:?}", c.coverage_lost);
        // A filtered run (or a journal that does not say) leaves cases out on purpose.
        for config in [listed(10), None] {
            st.config = config;
            let c = compare(Some(&b), &st);
            assert_eq!(c.coverage_lost.len(), 1, "{:?}", c.coverage_lost);
        }
    }

    #[test]
    fn a_run_level_driver_message_fails_the_run_unless_the_baseline_expects_part_of_it() {
        let mut st = state(&[("t.ok", Outcome::Pass, 0)]);
        st.driver_messages.push(crate::journal::DriverMessage {
            line: "[err] NVRM: Xid (PCI:0000:18:00): 79, pid=4242, GPU has fallen off the bus"
                .into(),
            seen_unix: 0,
            cases: vec![],
            when: "logged while no case ran".into(),
        });
        assert!(compare(None, &st).has_regressions());
        let b: Baseline = hil_proto::yaml::from_str(
            "b.yaml",
            "driver-messages:\n  - \"NVRM: Xid (PCI:0000:18:00): 79\"\n",
        )
        .unwrap();
        assert!(!compare(Some(&b), &st).has_regressions());
        let other: Baseline = hil_proto::yaml::from_str(
            "b.yaml",
            "driver-messages: [\"Xid (PCI:0000:18:00): 13\"]\n",
        )
        .unwrap();
        assert_eq!(compare(Some(&other), &st).driver_messages.len(), 1);
    }

    #[test]
    fn a_baseline_that_contradicts_itself_is_refused() {
        let load = |y: &str| {
            hil_proto::yaml::from_str::<Baseline>("b.yaml", y)
                .map_err(|e| e.to_string())
                .and_then(|b| b.check())
        };
        assert!(load("ran: {t.a: pass}\nnot-supported: {t.b: x}\n").is_ok());
        let e = load("ran: {t.a: not-supported}\n").unwrap_err();
        assert!(e.contains("under `not-supported`"), "{e}");
        let e = load("ran: {t.a: pass}\nnot-supported: {t.a: x}\n").unwrap_err();
        assert!(e.contains("both `ran` and `not-supported`"), "{e}");
        // A spreadsheet's byte order mark is no part of a name.
        let b = from_deqp_csv("r.csv", "\u{feff}t.a,Pass\nt.a,Missing\n").unwrap_err();
        assert!(b.contains("t.a is listed twice"), "{b}");
        let b = from_deqp_csv("r.csv", "\u{feff}t.a,Pass\n").unwrap();
        assert!(b.ran.contains_key("t.a"));
    }

    #[test]
    fn csv_fields_are_unquoted_and_expectations_must_agree_with_coverage() {
        let b = from_deqp_csv("r.csv", "\"a,\"\"b\"\"\",Pass,0.1\n").unwrap();
        assert_eq!(b.ran.keys().collect::<Vec<_>>(), [r#"a,"b""#]);
        let b = from_deqp_csv("r.csv", "\"t.f\",Fail\n").unwrap();
        assert_eq!(b.expect.keys().collect::<Vec<_>>(), ["t.f"]);
        let load = |y: &str| {
            hil_proto::yaml::from_str::<Baseline>("b.yaml", y)
                .map_err(|e| e.to_string())
                .and_then(|b| b.check())
        };
        let e = load("expect: {t.f: fail}\nnot-supported: {t.f: x}\n").unwrap_err();
        assert!(
            e.contains("expected to fail and listed as not-supported"),
            "{e}"
        );
        let e = load("expect: {t.f: fail}\nran: {t.f: pass}\n").unwrap_err();
        assert!(e.contains("make them agree"), "{e}");
        assert!(load("expect: {t.f: fail}\nran: {t.f: fail}\n").is_ok());
    }
}
