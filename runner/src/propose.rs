//! A baseline proposed from the journals of a group's boards (`hil-run baseline-from J1
//! J2 …`, and what a run with `--propose-baseline` writes): one baseline judges every board
//! of a group, so it is made such that none of the runs it comes from regresses under it.
//!
//! Merge rule (docs/farm.md):
//! - `expect`: a case that failed on any board, with the kind (fail, crash, timeout) of
//!   the first board it failed on; a case that failed differently on two boards is listed
//!   in a comment, as one baseline cannot expect both;
//! - `ran`: a case that ran (any outcome but not-supported) on every board; `not-supported`:
//!   one that was not-supported on every board. A case that ran on some boards only is
//!   listed in a comment, in neither (else the others would lose coverage every night);
//! - `facts`: those every board shares; facts that differ are listed in a comment, never
//!   merged (a board is not judged by another's driver).

use crate::baseline::{fact_value, short_reason, yaml_key, yaml_value, FACTS};
use crate::journal::State;
use hil_proto::Outcome;
use std::collections::BTreeSet;
use std::fmt::Write as _;

/// The file a run with `--propose-baseline` writes into its results directory.
pub const FILE: &str = "proposed-baseline.yaml";

/// The baseline YAML for these runs (`journal`: where each came from, for the header). One
/// run gives exactly what `baseline::from_state` gives.
pub fn from_states(runs: &[(&State, String)]) -> String {
    match runs {
        [] => String::new(),
        [(st, j)] => crate::baseline::from_state(st, j),
        _ => merged(runs),
    }
}

/// Several boards' runs as one baseline for their group.
fn merged(runs: &[(&State, String)]) -> String {
    let names: Vec<String> = runs.iter().map(|(st, _)| st.board.clone()).collect();
    let journals: Vec<&str> = runs.iter().map(|(_, j)| j.as_str()).collect();
    let mut y = header(runs, &names, &journals);
    facts(&mut y, runs, &names);
    let mut sec = Sections::default();
    for case in &union_of_cases(runs) {
        sec.add(case, &outcome_on(runs, case), runs.len());
    }
    y.push_str("expect:");
    y.push_str(if sec.expect.is_empty() { " {}\n" } else { "\n" });
    y.push_str(&sec.expect);
    if !sec.kinds_differ.is_empty() {
        y.push_str(
            "# Failed differently on different boards (listed above with the first board's kind;\n\
             # a board failing another way regresses until you settle it):\n",
        );
        for k in &sec.kinds_differ {
            let _ = writeln!(y, "#   {k}");
        }
    }
    y.push_str(
        "# Coverage: a case that ran here and is not-supported or missing in a run is a \
         regression.\nran:",
    );
    y.push_str(if sec.ran.is_empty() { " {}\n" } else { "\n" });
    y.push_str(&sec.ran);
    if !sec.partly.is_empty() {
        y.push_str(
            "# Ran on some boards only (under neither `ran` nor `not-supported`: the boards\n\
             # of a group should test the same; if they cannot, give them a baseline each):\n",
        );
        for p in &sec.partly {
            let _ = writeln!(y, "#   {}", crate::config::short(p));
        }
    }
    driver_messages(&mut y, runs);
    y.push_str("not-supported:");
    y.push_str(if sec.ns.is_empty() { " {}\n" } else { "\n" });
    y.push_str(&sec.ns);
    y
}

/// The comment lines that open a group's baseline, and its `board:`.
fn header(runs: &[(&State, String)], names: &[String], journals: &[&str]) -> String {
    let mut y = String::new();
    let _ = writeln!(
        y,
        "# Expected results written by `hil-run baseline-from {}`",
        journals.join(" ")
    );
    let _ = writeln!(
        y,
        "# One baseline for the {} boards of a group: {}.",
        runs.len(),
        names.join(", ")
    );
    y.push_str(
        "# expect: failed on any board; ran: ran on every board; not-supported: on every board.\n\
         # Say for each expected failure why it fails and where that is documented.\n",
    );
    for (st, _) in runs {
        let missing = st.remaining().len();
        if missing > 0 {
            let _ = writeln!(
                y,
                "# {}: {missing} planned case(s) have no result (the run was interrupted): not listed.",
                st.board
            );
        }
    }
    let _ = writeln!(y, "board: {}", yaml_value(&names.join(", ")));
    y
}

/// Facts: shared ones recorded, differing ones listed.
fn facts(y: &mut String, runs: &[(&State, String)], names: &[String]) {
    let mut shared = Vec::new();
    let mut differing = Vec::new();
    for key in FACTS {
        let values: Vec<Option<String>> = runs.iter().map(|(st, _)| fact_value(st, key)).collect();
        let distinct: BTreeSet<&Option<String>> = values.iter().collect();
        match (distinct.len(), &values[0]) {
            (1, Some(v)) => shared.push((*key, v.clone())),
            (1, None) => {}
            _ => differing.push((*key, values)),
        }
    }
    y.push_str(
        "# What the boards were: a run on other drivers or libraries shows the difference.\nfacts:",
    );
    if shared.is_empty() {
        y.push_str(" {}\n");
    } else {
        y.push('\n');
        for (k, v) in &shared {
            let _ = writeln!(y, "  {k}: {}", yaml_value(v));
        }
    }
    if !differing.is_empty() {
        y.push_str("# Facts that differ across the boards (not recorded: no board is judged by another's):\n");
        for (k, values) in &differing {
            let each: Vec<String> = names
                .iter()
                .zip(values)
                .map(|(n, v)| format!("{n} {}", v.as_deref().unwrap_or("(unknown)")))
                .collect();
            let _ = writeln!(y, "#   {k}: {}", each.join("; "));
        }
    }
}

/// Every case any board has a result for, in the first board's order, then the others'.
fn union_of_cases(runs: &[(&State, String)]) -> Vec<String> {
    let mut cases: Vec<String> = Vec::new();
    let mut seen = BTreeSet::new();
    for (st, _) in runs {
        for r in st.ordered_results() {
            if seen.insert(r.case.clone()) {
                cases.push(r.case.clone());
            }
        }
    }
    cases
}

/// A board's name, its outcome for a case (None: no result), and the message.
type On = (String, Option<Outcome>, String);

/// What each board did with `case`.
fn outcome_on(runs: &[(&State, String)], case: &str) -> Vec<On> {
    runs.iter()
        .map(|(st, _)| {
            let r = st.results.get(case);
            (
                st.board.clone(),
                r.map(|r| r.outcome),
                r.map(|r| r.message.clone()).unwrap_or_default(),
            )
        })
        .collect()
}

/// The YAML lines of `expect:`, `ran:` and `not-supported:`, and the comments on cases
/// that failed differently or ran on some boards only.
#[derive(Default)]
struct Sections {
    expect: String,
    kinds_differ: Vec<String>,
    ran: String,
    ns: String,
    partly: Vec<String>,
}

impl Sections {
    /// `case` as the `boards` boards of the group did it (`on`).
    fn add(&mut self, case: &str, on: &[On], boards: usize) {
        let failing: Vec<&(String, Option<Outcome>, String)> = on
            .iter()
            .filter(|(_, o, _)| o.is_some_and(|o| o.is_failure()))
            .collect();
        if let Some((_, Some(kind), message)) = failing.first() {
            let kinds: BTreeSet<Outcome> = failing.iter().filter_map(|f| f.1).collect();
            if kinds.len() > 1 {
                let each: Vec<String> = failing
                    .iter()
                    .map(|(b, o, _)| format!("{b} {}", o.map(|o| o.as_str()).unwrap_or("")))
                    .collect();
                self.kinds_differ
                    .push(format!("{case}: {}", each.join(", ")));
            }
            let first = short_reason(message);
            let on_boards: Vec<&str> = failing.iter().map(|f| f.0.as_str()).collect();
            let _ = writeln!(
                self.expect,
                "  # {}{}",
                on_boards.join(", "),
                if first.is_empty() {
                    String::new()
                } else {
                    format!(": {first}")
                }
            );
            let _ = writeln!(self.expect, "  {}: {kind}", yaml_key(case));
        }
        let ran_on: Vec<&(String, Option<Outcome>, String)> = on
            .iter()
            .filter(|(_, o, _)| o.is_some_and(|o| o != Outcome::NotSupported))
            .collect();
        let ns_on: Vec<&(String, Option<Outcome>, String)> = on
            .iter()
            .filter(|(_, o, _)| *o == Some(Outcome::NotSupported))
            .collect();
        if ran_on.len() == boards {
            let o = ran_on[0].1.map(|o| o.as_str()).unwrap_or("pass");
            let _ = writeln!(self.ran, "  {}: {o}", yaml_key(case));
        } else if ns_on.len() == boards {
            let _ = writeln!(
                self.ns,
                "  {}: {}",
                yaml_key(case),
                yaml_value(&short_reason(&ns_on[0].2))
            );
        } else {
            let each: Vec<String> = on
                .iter()
                .map(|(b, o, m)| match o {
                    None => format!("{b} no result"),
                    Some(Outcome::NotSupported) => {
                        format!("{b} not-supported ({})", short_reason(m))
                    }
                    Some(o) => format!("{b} {o}"),
                })
                .collect();
            self.partly.push(format!("{case}: {}", each.join("; ")));
        }
    }
}

/// Run-level driver messages of every board, as comments.
fn driver_messages(y: &mut String, runs: &[(&State, String)]) {
    let messages: Vec<(String, String)> = runs
        .iter()
        .flat_map(|(st, _)| {
            st.driver_messages
                .iter()
                .map(|m| (st.board.clone(), crate::config::short(&m.line)))
        })
        .collect();
    if !messages.is_empty() {
        y.push_str(
            "# Driver messages outside every case's result in these runs; to expect one, list a\n\
             # stable part of it (no pid or time) under `driver-messages:` and say why.\n",
        );
        for (b, m) in messages {
            let _ = writeln!(y, "#   {b}: {m}");
        }
    }
}

/// The journals of `states` under `results`, as `baseline-from` takes them.
pub fn journals(results: &std::path::Path, states: &[&State]) -> Vec<String> {
    states
        .iter()
        .map(|st| {
            results
                .join(&st.board)
                .join("journal.jsonl")
                .display()
                .to_string()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::baseline::{compare, Baseline};
    use crate::journal::CaseResult;

    fn run(board: &str, driver: &str, results: &[(&str, Outcome)]) -> State {
        let mut st = State {
            board: board.into(),
            ..State::default()
        };
        let mut facts = hil_proto::Facts::default();
        facts
            .properties
            .insert("driver.version".into(), driver.into());
        facts.properties.insert("arch".into(), "aarch64".into());
        st.facts = Some(facts);
        for (case, o) in results {
            st.cases.push(crate::test_case(case));
            st.results.insert(
                case.to_string(),
                CaseResult {
                    case: case.to_string(),
                    outcome: *o,
                    duration_s: 0.1,
                    message: format!("{o} on {board}"),
                    implementation: String::new(),
                    observations: vec![],
                    earlier: vec![],
                },
            );
        }
        st.config = Some(crate::journal::RunConfig {
            listed: Some(results.len()),
            ..Default::default()
        });
        st
    }

    #[test]
    fn a_group_baseline_judges_none_of_its_runs_a_regression() {
        use Outcome::*;
        let a = run(
            "orin-a",
            "540.4.0",
            &[
                ("t.ok", Pass),
                ("t.bad_on_a", Fail),
                ("t.both", Crash),
                ("t.ns", NotSupported),
                ("t.ns_on_b", Pass),
                ("t.kinds", Fail),
            ],
        );
        let b = run(
            "orin-b",
            "540.3.0",
            &[
                ("t.ok", Pass),
                ("t.bad_on_a", Pass),
                ("t.both", Crash),
                ("t.ns", NotSupported),
                ("t.ns_on_b", NotSupported),
                ("t.kinds", Timeout),
            ],
        );
        let text = from_states(&[(&a, "a/j.jsonl".into()), (&b, "b/j.jsonl".into())]);
        let base: Baseline = hil_proto::yaml::from_str("p.yaml", &text).unwrap();
        assert_eq!(
            base.expect
                .iter()
                .map(|(c, o)| format!("{c} {o}"))
                .collect::<Vec<_>>(),
            ["t.bad_on_a fail", "t.both crash", "t.kinds fail"],
            "{text}"
        );
        assert_eq!(
            base.ran.keys().collect::<Vec<_>>(),
            ["t.bad_on_a", "t.both", "t.kinds", "t.ok"]
        );
        assert_eq!(base.not_supported.keys().collect::<Vec<_>>(), ["t.ns"]);
        // Differing facts are listed, never recorded; shared ones are.
        assert!(!base.facts.contains_key("driver.version"), "{text}");
        assert_eq!(base.facts["arch"], "aarch64");
        assert!(
            text.contains("#   driver.version: orin-a 540.4.0; orin-b 540.3.0"),
            "{text}"
        );
        assert!(
            text.contains("#   t.ns_on_b: orin-a pass; orin-b not-supported"),
            "{text}"
        );
        assert!(
            text.contains("#   t.kinds: orin-a fail, orin-b timeout"),
            "{text}"
        );
        // Under it, neither run regresses, except where the boards failed differently.
        let ca = compare(Some(&base), &a);
        assert!(!ca.has_regressions(), "{ca:?}");
        let cb = compare(Some(&base), &b);
        assert_eq!(cb.regressions.len(), 1, "{cb:?}");
        assert_eq!(cb.regressions[0].0, "t.kinds");
        assert!(cb.coverage_lost.is_empty());
        // One journal: exactly what it always wrote.
        assert_eq!(
            from_states(&[(&a, "j".into())]),
            crate::baseline::from_state(&a, "j")
        );
    }
}
