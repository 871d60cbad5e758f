//! A board's history from its runs' journals: the runs in start order, the last run
//! against the one before, the facts that changed and the strip of cases that changed.

use super::{CaseChange, CaseStrip, ChangeKind, FactHistory, History, Run, Seen, Segment};
use crate::journal::{DriverMessage, State};
use hil_proto::Outcome;
use std::collections::BTreeSet;
use std::path::Path;

/// A fact as the baseline keys it, or a setting the run was started under (hil-run's and
/// the suite's `setting.…`: a library version picked by a setting shows there).
fn fact(st: &State, key: &str) -> String {
    let setting = st
        .config
        .as_ref()
        .and_then(|c| c.settings.get(key))
        .or_else(|| st.facts.as_ref().and_then(|f| f.properties.get(key)));
    match setting {
        Some(v) if key.starts_with(hil_proto::settings::PREFIX) => v.clone(),
        _ => crate::baseline::fact_value(st, key).unwrap_or_else(|| "(unknown)".into()),
    }
}

/// The facts whose changes are shown: the baseline's, then every setting of any run.
fn fact_keys(states: &[&State]) -> Vec<String> {
    let settings: BTreeSet<&String> = states
        .iter()
        .flat_map(|st| {
            let runner = st.config.iter().flat_map(|c| c.settings.keys());
            let suite = st.facts.iter().flat_map(|f| f.properties.keys());
            runner.chain(suite)
        })
        .filter(|k| k.starts_with(hil_proto::settings::PREFIX))
        .collect();
    crate::baseline::FACTS
        .iter()
        .map(|k| k.to_string())
        .chain(settings.into_iter().cloned())
        .collect()
}

/// A run as given: its place among the inputs, its shown state, where it was read from.
type InputRun = (usize, State, String);

/// Every board's history from its runs (a journal's state and where it was read from),
/// boards in the order first seen. Runs are ordered by start time; runs that started in
/// the same second keep the order given. Every text is the shown copy
/// (`from_board::shown`): escaped and capped as the summary and report show it.
pub fn build(runs: &[(&State, &Path)]) -> Vec<History> {
    let mut boards: Vec<(String, Vec<InputRun>)> = Vec::new();
    for (input, (st, source)) in runs.iter().enumerate() {
        let shown = crate::from_board::shown(st);
        let entry = (input, shown, source.display().to_string());
        match boards.iter_mut().find(|(b, _)| *b == st.board) {
            Some((_, v)) => v.push(entry),
            None => boards.push((st.board.clone(), vec![entry])),
        }
    }
    boards
        .into_iter()
        .map(|(_, mut runs)| {
            runs.sort_by_key(|(_, st, _)| st.started_unix);
            board_history(&runs)
        })
        .collect()
}

fn board_history(runs: &[InputRun]) -> History {
    let board = runs.first().map(|r| r.1.board.clone()).unwrap_or_default();
    let states: Vec<&State> = runs.iter().map(|r| &r.1).collect();
    let listed = runs
        .iter()
        .enumerate()
        .map(|(i, (input, st, source))| Run {
            number: i + 1,
            started_unix: st.started_unix,
            source: source.clone(),
            input: *input,
            counts: crate::outcomes::counts(st),
            planned: st.cases.len(),
        })
        .collect();
    let cases: BTreeSet<&str> = states
        .iter()
        .flat_map(|st| {
            st.cases
                .iter()
                .map(|c| c.name.as_str())
                .chain(st.results.keys().map(String::as_str))
        })
        .collect();

    let (changes, new_driver_messages) = match states.as_slice() {
        [.., before, now] => (last_changes(before, now, &cases), new_lines(before, now)),
        _ => (Vec::new(), Vec::new()),
    };
    let facts = fact_histories(&states);
    let strip = strip(&states, &cases);

    History {
        board,
        runs: listed,
        changes,
        new_driver_messages,
        facts,
        strip,
    }
}

/// The cases the last run did something else in than the one before, by kind, then case.
fn last_changes(before: &State, now: &State, cases: &BTreeSet<&str>) -> Vec<CaseChange> {
    let mut changes = Vec::new();
    for case in cases {
        let (b, n) = (
            Seen::of(before.results.get(*case)),
            Seen::of(now.results.get(*case)),
        );
        if b != n {
            changes.push(CaseChange {
                kind: ChangeKind::of(&b, &n),
                case: case.to_string(),
                before: b,
                now: n,
                message: now
                    .results
                    .get(*case)
                    .map(|r| hil_proto::text::first_line(&r.message, 200))
                    .unwrap_or_default(),
            });
        }
    }
    changes.sort_by(|a, b| (a.kind, &a.case).cmp(&(b.kind, &b.case)));
    changes
}

/// Run-level driver lines of the last run the one before did not log.
fn new_lines(before: &State, now: &State) -> Vec<DriverMessage> {
    // A line is new when the run before logged no such line (the time it was seen
    // and the cases around it differ from night to night).
    now.driver_messages
        .iter()
        .filter(|m| !before.driver_messages.iter().any(|o| o.line == m.line))
        .cloned()
        .collect()
}

/// Every fact that was not the same in every run, with the run each change appeared in.
fn fact_histories(states: &[&State]) -> Vec<FactHistory> {
    fact_keys(states)
        .into_iter()
        .filter_map(|key| {
            let values: Vec<String> = states.iter().map(|st| fact(st, &key)).collect();
            let first = values.first()?.clone();
            let changes: Vec<(usize, String)> = values
                .windows(2)
                .enumerate()
                .filter(|(_, w)| w[0] != w[1])
                .map(|(i, w)| (i + 2, w[1].clone()))
                .collect();
            (!changes.is_empty()).then_some(FactHistory {
                key,
                first,
                changes,
            })
        })
        .collect()
}

/// Every case whose outcome was not constant, newest change first, then by case.
fn strip(states: &[&State], cases: &BTreeSet<&str>) -> Vec<CaseStrip> {
    let mut strip: Vec<CaseStrip> = cases
        .iter()
        .filter_map(|case| {
            let outcomes: Vec<Option<Outcome>> = states
                .iter()
                .map(|st| st.results.get(*case).map(|r| r.outcome))
                .collect();
            let mut segments: Vec<Segment> = Vec::new();
            for (i, o) in outcomes.iter().enumerate() {
                match segments.last_mut() {
                    Some(s) if s.outcome == *o => s.last = i + 1,
                    _ => segments.push(Segment {
                        outcome: *o,
                        first: i + 1,
                        last: i + 1,
                    }),
                }
            }
            (segments.len() > 1).then(|| CaseStrip {
                case: case.to_string(),
                outcomes,
                segments,
            })
        })
        .collect();
    strip.sort_by(|a, b| {
        b.since()
            .first
            .cmp(&a.since().first)
            .then_with(|| a.case.cmp(&b.case))
    });
    strip
}
