//! Expected results per board or board class, as deqp-runner keeps them: a run is judged
//! by what changed against the baseline (regressions, fixes), not by raw failures.
//!
//! ```yaml
//! # results expected on H200 boards, driver 580
//! expect:
//!   vulkan.import_errors.closed_fd.dev0: fail   # returns 999, undocumented (hardware-results.md)
//! ```

use crate::journal::State;
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
    /// case name -> outcome expected there. Cases not listed are expected to pass (or be
    /// not-supported / flagged, which are never judged).
    #[serde(default, deserialize_with = "hil_proto::yaml::unique_keys")]
    pub expect: BTreeMap<String, Outcome>,
}

pub fn load(path: &Path) -> Result<Baseline, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    hil_proto::yaml::from_str(&path.display().to_string(), &text).map_err(|e| e.to_string())
}

/// How a run compares with its baseline (or with "everything passes" without one).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Comparison {
    /// A fail/crash/timeout the baseline does not expect (or a different one than expected).
    pub regressions: Vec<(String, Option<Outcome>, Outcome)>,
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
    }
    let planned: std::collections::BTreeSet<&str> =
        state.cases.iter().map(|c| c.name.as_str()).collect();
    c.unknown = b
        .expect
        .keys()
        .filter(|k| !planned.contains(k.as_str()))
        .cloned()
        .collect();
    c.driver_messages = state.driver_messages.clone();
    c
}

/// A baseline that expects what a run did (`hil-run baseline-from JOURNAL`): every fail,
/// crash and timeout, each under a comment with its message's first line. Cases that
/// passed, were not-supported or flagged are not listed (they are never judged).
pub fn from_state(state: &State, journal: &str) -> String {
    let prop = |k: &str| crate::summary::fact(state, k);
    let failing: Vec<_> = state
        .ordered_results()
        .into_iter()
        .filter(|r| r.outcome.is_failure())
        .collect();
    let mut y = format!(
        "# Expected results written by `hil-run baseline-from {journal}`\n\
         # board {}: arch {}, driver {}, CUDA {}; {} of {} planned cases have a result, {} listed.\n\
         # Say for each entry why it fails and where that is documented.\n",
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
    y.push_str(&format!("board: {}\nexpect:", yaml_key(&state.board)));
    if failing.is_empty() {
        y.push_str(" {}\n");
        return y;
    }
    y.push('\n');
    for r in failing {
        let first = r.message.lines().next().unwrap_or("").trim();
        if !first.is_empty() {
            y.push_str(&format!("  # {first}\n"));
        }
        y.push_str(&format!("  {}: {}\n", yaml_key(&r.case), r.outcome));
    }
    y
}

/// A case or board name as a YAML key: plain when it is only name characters.
fn yaml_key(s: &str) -> String {
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
}
