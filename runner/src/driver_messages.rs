//! Run-level GPU driver messages: lines that belong to no case's result, kept so that none
//! vanishes. Two kinds: lines the suite read while no case ran (its `driver-log` events),
//! and lines a parallel attempt could not pin to one case whose serial rerun did not log
//! them again (the rerun's verdicts are kept, and they do not carry the line).

use crate::journal::{CaseResult, DriverMessage, Journal, Record, State};
use hil_proto::{key, Observation};
use std::collections::{BTreeMap, BTreeSet};

/// At most this many run-level messages are journaled per board and run; then one saying so.
pub const MAX_JOURNALED: usize = 200;

/// The longest line journaled (a kmsg record is about 1 KiB; the suite sends at most 2).
const MAX_LINE: usize = 4096;

/// Whether `line` is already kept: in a case's driver log or a run-level message.
pub fn already_kept(state: &State, line: &str) -> bool {
    let norm = normalize(line);
    state
        .driver_messages
        .iter()
        .any(|m| normalize(&m.line) == norm)
        || state.results.values().any(|r| {
            r.observations
                .iter()
                .filter(|o| crate::summary::DRIVER_LOG_KEYS.contains(&o.key.as_str()))
                .any(|o| o.value.lines().any(|l| normalize(l) == norm))
        })
}

/// Appends `m` to the journal and the state, within `MAX_JOURNALED` (each line within
/// `MAX_LINE`: what a board sends is bounded).
pub fn record(journal: &mut Journal, state: &mut State, m: DriverMessage) -> std::io::Result<()> {
    let m = DriverMessage {
        line: hil_proto::text::cap_start(&m.line, MAX_LINE).into_owned(),
        ..m
    };
    let m = match state.driver_messages.len() {
        n if n < MAX_JOURNALED => m,
        n if n == MAX_JOURNALED => DriverMessage {
            line: format!(
                "… further run-level driver messages were not journaled (at most {MAX_JOURNALED}); \
                 the board's kernel log has them"
            ),
            ..m
        },
        _ => return Ok(()),
    };
    journal.append(&Record::DriverMessage(m.clone()))?;
    state.driver_messages.push(m);
    Ok(())
}

/// Driver lines of parallel results the runner did not keep (their cases shared a line
/// and run again one at a time), until those reruns have results.
#[derive(Debug, Default)]
pub struct Unsettled {
    /// Normalized line -> the line, the cases whose windows held it, when it was seen.
    lines: BTreeMap<String, (String, BTreeSet<String>, u64)>,
}

impl Unsettled {
    /// Keeps the driver error lines of a parallel result that is run again: they belong
    /// to this case and to the cases it shared its window's lines with.
    pub fn defer(&mut self, case: &str, observations: &[Observation], seen_unix: u64) {
        let get = |k: hil_proto::Key| observations.iter().find(|o| o.key == k);
        let mut cases: BTreeSet<String> = get(key::DRIVER_LOG_SHARED_WITH)
            .map(|o| {
                o.value
                    .split(", ")
                    .filter(|c| !c.is_empty())
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default();
        cases.insert(case.to_string());
        let Some(lines) = get(key::DRIVER_LOG) else {
            return;
        };
        for line in lines.value.lines().filter(|l| is_error(l)) {
            let entry = self
                .lines
                .entry(normalize(line))
                .or_insert_with(|| (line.to_string(), BTreeSet::new(), seen_unix));
            entry.1.extend(cases.iter().cloned());
        }
    }

    /// The lines whose cases all have a result now and none of which logged the line
    /// again: run-level messages. Lines that did recur are settled by the case that has
    /// them; lines whose cases are still to run stay, unless the run is `over` (then they
    /// are kept as they are: nothing else will carry them).
    pub fn settle(
        &mut self,
        results: &BTreeMap<String, CaseResult>,
        over: bool,
    ) -> Vec<DriverMessage> {
        let mut out = Vec::new();
        self.lines.retain(|norm, (line, cases, seen)| {
            let names: Vec<String> = cases.iter().cloned().collect();
            let Some(rs) = cases
                .iter()
                .map(|c| results.get(c))
                .collect::<Option<Vec<&CaseResult>>>()
            else {
                if over {
                    out.push(DriverMessage {
                        line: line.clone(),
                        seen_unix: *seen,
                        when: format!(
                            "logged in a parallel attempt while {} ran; the run ended before \
                             they all ran again one at a time",
                            names.join(", ")
                        ),
                        cases: names,
                    });
                }
                return !over;
            };
            let recurred = rs.iter().any(|r| {
                r.observations
                    .iter()
                    .filter(|o| crate::summary::DRIVER_LOG_KEYS.contains(&o.key.as_str()))
                    .any(|o| o.value.lines().any(|l| normalize(l) == *norm))
            });
            if !recurred {
                out.push(DriverMessage {
                    line: line.clone(),
                    seen_unix: *seen,
                    when: format!(
                        "logged in a parallel attempt while {} ran; not logged again when \
                         they ran one at a time",
                        names.join(", ")
                    ),
                    cases: names,
                });
            }
            false
        });
        out
    }
}

/// The driver error lines of a result's driver log that `later` does not hold again:
/// what an earlier attempt saw and a retry that passed did not (it must not turn green).
pub fn not_again(earlier: &CaseResult, later: &CaseResult) -> Vec<String> {
    let lines = |r: &CaseResult| -> Vec<String> {
        r.observations
            .iter()
            .filter(|o| o.key == key::DRIVER_LOG)
            .flat_map(|o| o.value.lines().map(String::from).collect::<Vec<_>>())
            .filter(|l| is_error(l))
            .collect()
    };
    let again: BTreeSet<String> = lines(later).iter().map(|l| normalize(l)).collect();
    lines(earlier)
        .into_iter()
        .filter(|l| !again.contains(&normalize(l)))
        .collect()
}

/// A listed line at warning or worse, an Xid, or of unknown level: what turns a pass into
/// a fail in the suite (`[info] …` lines are recorded there, never judged).
fn is_error(rendered: &str) -> bool {
    const QUIET: [&str; 3] = ["[notice] ", "[info] ", "[debug] "];
    if rendered.starts_with("… ") {
        return false; // the suite's "… N more line(s)"
    }
    !QUIET.iter().any(|q| rendered.starts_with(q)) || rendered.contains("Xid")
}

/// The same fault logged again names another process: `pid=N` is not compared.
fn normalize(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(at) = rest.find("pid=") {
        out.push_str(&rest[..at + 4]);
        rest = rest[at + 4..].trim_start_matches(|c: char| c.is_ascii_digit());
        out.push('N');
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use hil_proto::Outcome;

    fn result(case: &str, driver_log: Option<&str>) -> CaseResult {
        CaseResult {
            case: case.into(),
            outcome: Outcome::Pass,
            duration_s: 0.1,
            message: String::new(),
            implementation: String::new(),
            observations: driver_log
                .map(|l| vec![Observation::new(hil_proto::key::DRIVER_LOG, l)])
                .unwrap_or_default(),
            earlier: vec![],
        }
    }

    fn parallel(with: &str, lines: &str) -> Vec<Observation> {
        vec![
            Observation::new(hil_proto::key::DRIVER_LOG, lines),
            Observation::new(hil_proto::key::DRIVER_LOG_SHARED_WITH, with),
        ]
    }

    #[test]
    fn a_shared_line_that_does_not_recur_when_run_alone_is_kept_with_its_cases() {
        let xid = "[err] NVRM: Xid (PCI:0000:18:00): 13, pid=4242, x";
        let mut u = Unsettled::default();
        u.defer(
            "t.a",
            &parallel("t.b", &format!("{xid}\n[info] NVRM: hello")),
            5,
        );
        u.defer("t.b", &parallel("t.a", xid), 5);
        let mut results = BTreeMap::new();
        results.insert("t.a".to_string(), result("t.a", None));
        assert!(
            u.settle(&results, false).is_empty(),
            "t.b has not rerun yet"
        );
        results.insert("t.b".to_string(), result("t.b", None));
        let m = u.settle(&results, false);
        assert_eq!(m.len(), 1, "{m:?}: the info line is not an error");
        assert_eq!(m[0].line, xid);
        assert_eq!(m[0].cases, ["t.a", "t.b"]);
        assert_eq!(m[0].seen_unix, 5);
        assert!(m[0].when.contains("not logged again"), "{}", m[0].when);
        assert!(u.settle(&results, true).is_empty(), "said once");
    }

    #[test]
    fn a_run_that_ends_before_the_reruns_keeps_the_line() {
        let mut u = Unsettled::default();
        u.defer("t.a", &parallel("t.b", "[err] nvgpu: x"), 5);
        let results = BTreeMap::new();
        assert!(u.settle(&results, false).is_empty());
        let m = u.settle(&results, true);
        assert_eq!(m.len(), 1);
        assert!(m[0].when.contains("the run ended before"), "{}", m[0].when);
        assert!(u.settle(&results, true).is_empty());
    }

    #[test]
    fn a_shared_line_that_recurs_in_one_case_alone_is_that_case_s() {
        let mut u = Unsettled::default();
        u.defer(
            "t.a",
            &parallel("t.b", "[err] NVRM: Xid (PCI:0000:18:00): 13, pid=1, x"),
            5,
        );
        let mut results = BTreeMap::new();
        results.insert("t.a".to_string(), result("t.a", None));
        results.insert(
            "t.b".to_string(),
            result(
                "t.b",
                Some("[err] NVRM: Xid (PCI:0000:18:00): 13, pid=77, x"),
            ),
        );
        assert!(u.settle(&results, false).is_empty());
    }

    #[test]
    fn levels_and_pids() {
        assert!(is_error("[err] x"));
        assert!(is_error("plain line of unknown level"));
        assert!(is_error("[info] NVRM: Xid (PCI:0000:18:00): 13"));
        assert!(!is_error("[info] NVRM: loading"));
        assert!(!is_error("… 3 more line(s)"));
        assert_eq!(normalize("a pid=12, b pid=3"), "a pid=N, b pid=N");
    }
}
