//! deqp-runner's result files, so the baseline and CI-report tooling farms already use
//! reads hil results: `results.csv` (`test,status,duration`, every case) and
//! `failures.csv` (`test,status`, the cases deqp-runner counts as unsuccessful). Like
//! deqp-runner's: no header, sorted by name, duration in seconds (f32), its status names.
//! The mapping from hil's outcomes is `outcomes::Status` (docs/outcomes.md).

use crate::baseline::Comparison;
use crate::journal::State;
pub use crate::outcomes::Status;
use std::collections::BTreeMap;
use std::path::Path;

pub const RESULTS_CSV: &str = "results.csv";
pub const FAILURES_CSV: &str = "failures.csv";

/// (case, status, duration in seconds) for every planned and every skipped case, by name.
pub fn rows(state: &State, cmp: &Comparison) -> Vec<(String, Status, f32)> {
    let mut rows: BTreeMap<String, (Status, f32)> = BTreeMap::new();
    for c in &state.cases {
        let row = match state.results.get(&c.name) {
            None => (Status::Missing, 0.0),
            Some(r) => (
                Status::judged(cmp.verdict(r), r.outcome),
                r.duration_s as f32,
            ),
        };
        rows.insert(c.name.clone(), row);
    }
    for s in &state.skipped {
        rows.insert(s.case.clone(), (Status::Skip, 0.0));
    }
    // Cases of the baseline the suite no longer lists.
    for l in cmp.coverage_lost.iter().filter(|l| l.now.is_none()) {
        rows.insert(l.case.clone(), (Status::Missing, 0.0));
    }
    rows.into_iter().map(|(c, (s, d))| (c, s, d)).collect()
}

pub fn results_csv(rows: &[(String, Status, f32)]) -> csv::Result<String> {
    to_csv(
        rows.iter()
            .map(|(c, s, d)| [c.clone(), s.as_str().into(), format!("{d}")]),
    )
}

pub fn failures_csv(rows: &[(String, Status, f32)]) -> csv::Result<String> {
    to_csv(
        rows.iter()
            .filter(|(_, s, _)| !s.is_success())
            .map(|(c, s, _)| [c.clone(), s.as_str().into()]),
    )
}

/// Records as deqp-runner writes them: no header, `\n` after each. A field is quoted (RFC
/// 4180, quotes doubled) when it holds a comma, quote or line break, or a `#`, which would
/// start a comment where the CSV is read back as a baseline. Listed case names never hold
/// any of these (the runner refuses such a listing); a journal from elsewhere still gives a
/// CSV that reads back.
fn to_csv<const N: usize>(records: impl Iterator<Item = [String; N]>) -> csv::Result<String> {
    let mut w = csv::WriterBuilder::new()
        .has_headers(false)
        .terminator(csv::Terminator::Any(b'\n'))
        .comment(Some(b'#'))
        .from_writer(Vec::new());
    for r in records {
        w.write_record(&r)?;
    }
    let bytes = w.into_inner().map_err(|e| e.into_error())?;
    // Every field was a `String`: the bytes are UTF-8.
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Writes results.csv and failures.csv into the board's results directory.
pub fn write(dir: &Path, state: &State, cmp: &Comparison) -> std::io::Result<()> {
    let rows = rows(&crate::from_board::shown(state), cmp);
    std::fs::write(dir.join(RESULTS_CSV), results_csv(&rows)?)?;
    std::fs::write(dir.join(FAILURES_CSV), failures_csv(&rows)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::{CaseResult, EarlierRun, SkippedCase};
    use hil_proto::Outcome;

    fn state() -> State {
        let mut st = State::default();
        let all = [
            ("t.a_pass", Some(Outcome::Pass), 0),
            ("t.b_flaky", Some(Outcome::Pass), 1),
            ("t.c_fail", Some(Outcome::Fail), 0),
            ("t.d_known", Some(Outcome::Fail), 0),
            ("t.e_ns", Some(Outcome::NotSupported), 0),
            ("t.f_ub", Some(Outcome::Flagged), 0),
            ("t.g_crash", Some(Outcome::Crash), 0),
            ("t.h_hang", Some(Outcome::Timeout), 0),
            ("t.i_fixed", Some(Outcome::Pass), 0),
            ("t.j_left", None, 0),
        ];
        for (name, o, retries) in all {
            st.cases.push(crate::test_case(name));
            if let Some(o) = o {
                st.results.insert(
                    name.into(),
                    CaseResult {
                        case: name.into(),
                        outcome: o,
                        duration_s: 0.25,
                        message: String::new(),
                        implementation: String::new(),
                        observations: vec![],
                        earlier: (0..retries)
                            .map(|_| EarlierRun {
                                outcome: Outcome::Fail,
                                message: String::new(),
                                duration_s: 0.1,
                            })
                            .collect(),
                    },
                );
            }
        }
        st.skipped.push(SkippedCase {
            case: "t.0_skipped".into(),
            by: "s.txt:1 `t.0`".into(),
        });
        st
    }

    #[test]
    fn every_case_gets_deqp_runners_status_and_failures_are_its_unsuccessful_ones() {
        let st = state();
        let cmp = Comparison {
            expected_failures: vec!["t.d_known".into()],
            fixes: vec![("t.i_fixed".into(), Outcome::Fail)],
            ..Comparison::default()
        };
        let rows = rows(&st, &cmp);
        assert_eq!(
            results_csv(&rows).unwrap(),
            "t.0_skipped,Skip,0\nt.a_pass,Pass,0.25\nt.b_flaky,Flake,0.25\nt.c_fail,Fail,0.25\n\
             t.d_known,ExpectedFail,0.25\nt.e_ns,Skip,0.25\nt.f_ub,Warn,0.25\nt.g_crash,Crash,0.25\n\
             t.h_hang,Timeout,0.25\nt.i_fixed,UnexpectedImprovement(Pass),0.25\nt.j_left,Missing,0\n"
        );
        assert_eq!(
            failures_csv(&rows).unwrap(),
            "t.c_fail,Fail\nt.g_crash,Crash\nt.h_hang,Timeout\nt.i_fixed,UnexpectedImprovement(Pass)\nt.j_left,Missing\n"
        );
    }

    #[test]
    fn names_with_commas_quotes_or_a_hash_round_trip_through_a_csv_baseline() {
        let names = [
            "t.plain",
            "t.comma,name",
            "t.\"quoted\"",
            "#t.hash",
            "t.mid#hash",
            "t.line\nbreak",
        ];
        let rows: Vec<(String, Status, f32)> = names
            .iter()
            .map(|n| (n.to_string(), Status::Fail, 0.5))
            .collect();
        let text = results_csv(&rows).unwrap();
        assert!(
            text.starts_with("t.plain,Fail,0.5\n\"t.comma,name\",Fail,0.5\n"),
            "{text}"
        );
        assert!(text.contains("\"t.\"\"quoted\"\"\",Fail"), "{text}");
        assert!(text.contains("\"#t.hash\",Fail"), "{text}");
        let b = crate::baseline::from_deqp_csv("results.csv", &text).unwrap();
        let back: Vec<&str> = b.expect.keys().map(String::as_str).collect();
        let mut want = names.to_vec();
        want.sort();
        assert_eq!(back, want);
        let failures = failures_csv(&rows).unwrap();
        let b = crate::baseline::from_deqp_csv("failures.csv", &failures).unwrap();
        assert_eq!(b.expect.len(), names.len());
    }
}
