//! JUnit XML for CI. quick-junit rather than junit-report: board logs hold ANSI colour
//! codes and `]]>`, which junit-report writes into invalid XML; quick-junit escapes them
//! and supports properties and flaky reruns (docs/junit.md).
//!
//! Mapping (docs/outcomes.md): pass → success; fail → failure; crash and timeout → error
//! (type says which); not-supported and flagged → skipped with the reason or observation,
//! so CI stays green but shows them.

use crate::baseline::Comparison;
use crate::journal::{CaseResult, State};
use hil_proto::Outcome;
use quick_junit::{
    NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestRerun, TestSuite,
};
use std::time::Duration;

/// A board's results as judged: against its baseline when the run had one.
pub struct Judged<'a> {
    pub state: &'a State,
    pub cmp: &'a Comparison,
    /// The baseline file, as the user named it.
    pub baseline: Option<&'a str>,
}

/// One board's report.
pub fn build(board: &Judged) -> Report {
    merged(
        std::slice::from_ref(board),
        &format!("hil {}", board.state.board),
    )
}

/// Several boards in one report: a `<testsuite>` per board.
pub fn merged(boards: &[Judged], name: &str) -> Report {
    let mut report = Report::new(name);
    let mut total = Duration::ZERO;
    for b in boards {
        // Board text escaped (XML has no place for most controls, U+FFFE, U+FFFF) and
        // within its caps; durations plausible, whatever the journal holds.
        let shown = crate::from_board::shown(b.state);
        let cmp = crate::from_board::shown_comparison(b.cmp);
        let (suite, t) = board_suite(&Judged {
            state: &shown,
            cmp: &cmp,
            ..*b
        });
        total = total.saturating_add(t);
        report.add_test_suite(suite);
    }
    report.set_time(total);
    report
}

fn board_suite(b: &Judged) -> (TestSuite, Duration) {
    let state = b.state;
    let mut suite = TestSuite::new(format!("hil.{}", state.board));
    suite.add_property(Property::new("board", &state.board));
    if let Some(f) = &state.facts {
        suite.add_property(Property::new("suite.version", &f.suite_version));
        for (k, v) in &f.properties {
            suite.add_property(Property::new(k.as_str(), v.as_str()));
        }
        for (backend, imp) in &f.implementations {
            suite.add_property(Property::new(
                format!("implementation.{backend}"),
                imp.as_str(),
            ));
        }
    }
    // hil-run's own settings (the suite's are among the facts, `setting.HIL_…`).
    for (k, v) in state.config.iter().flat_map(|c| &c.settings) {
        suite.add_property(Property::new(k.as_str(), v.as_str()));
    }
    if let Some(name) = b.baseline {
        suite.add_property(Property::new("baseline", name));
    }
    for c in &b.cmp.fact_changes {
        suite.add_property(Property::new(
            format!("baseline.differs.{}", c.key),
            format!("{} -> {}", c.then, c.now),
        ));
    }
    let mut total = Duration::ZERO;
    let results = state.ordered_results();
    // Coverage lost first: the cases CI must show before anything else.
    let (lost, rest): (Vec<&CaseResult>, Vec<&CaseResult>) = results
        .into_iter()
        .partition(|r| b.cmp.lost(&r.case).is_some());
    for r in lost.into_iter().chain(rest) {
        let d = crate::from_board::seconds(r.duration_s, Duration::ZERO);
        total = total.saturating_add(d);
        suite.add_test_case(case(r, d, b));
    }
    // What did not run is listed too, each with why.
    for l in b.cmp.coverage_lost.iter().filter(|l| l.now.is_none()) {
        let mut status = non_success(NonSuccessKind::Failure, "coverage-lost", &l.describe());
        status.set_description(l.describe());
        suite.add_test_case(named(&l.case, status));
    }
    for c in state.remaining() {
        let why =
            "no result: the run ended before this case finished; `hil-run --resume` completes it";
        suite.add_test_case(named(
            &c.name,
            non_success(NonSuccessKind::Error, "missing", why),
        ));
    }
    for sk in &state.skipped {
        let mut status = TestCaseStatus::skipped();
        status.set_type("skipped");
        status.set_message(format!("skipped by a case list: {}", sk.by));
        suite.add_test_case(named(&sk.case, status));
    }
    if !state.driver_messages.is_empty() {
        // In no case's result: the suite's own output, so CI shows them with the board.
        let mut err = String::from(
            "GPU driver messages outside any case's result (they fail the run unless the baseline expects them):\n",
        );
        for m in &state.driver_messages {
            err.push_str(&format!("{}\n  ({})\n", m.line, m.when));
        }
        suite.set_system_err(err);
    }
    suite.set_time(total);
    (suite, total)
}

/// A test case with its class (the case name up to its last part).
fn named(case: &str, status: TestCaseStatus) -> TestCase {
    let mut tc = TestCase::new(case, status);
    let classname = case.rsplit_once('.').map(|(c, _)| c).unwrap_or(case);
    tc.set_classname(classname);
    tc
}

fn case(r: &CaseResult, d: Duration, b: &Judged) -> TestCase {
    let expected = b.cmp.expected_failures.iter().any(|c| c == &r.case);
    let status = match r.outcome {
        _ if b.cmp.lost(&r.case).is_some() => {
            let what = b
                .cmp
                .lost(&r.case)
                .map(|l| l.describe())
                .unwrap_or_default();
            non_success(
                NonSuccessKind::Failure,
                "coverage-lost",
                &format!("{what}\n{}", r.message),
            )
        }
        // The baseline expects it (hil-run exits 0): shown, never counted as failing.
        o if expected => {
            let mut s = TestCaseStatus::skipped();
            s.set_type("expected-failure");
            s.set_message(format!(
                "expected {o} (baseline {}): {}",
                b.baseline.unwrap_or("?"),
                r.message.lines().next().unwrap_or("")
            ));
            // A skipped element holds no reruns: the earlier attempts go into its text.
            let mut text = r.message.clone();
            for e in &r.earlier {
                let first = e.message.lines().next().unwrap_or("");
                text.push_str(&format!("\nearlier attempt: {}: {first}", e.outcome));
            }
            s.set_description(text);
            s
        }
        Outcome::Pass => TestCaseStatus::success(),
        Outcome::Fail => non_success(NonSuccessKind::Failure, "fail", &r.message),
        Outcome::Crash => non_success(NonSuccessKind::Error, "crash", &r.message),
        Outcome::Timeout => non_success(NonSuccessKind::Error, "timeout", &r.message),
        Outcome::NotSupported | Outcome::Flagged => {
            let mut s = TestCaseStatus::skipped();
            s.set_type(r.outcome.as_str());
            s.set_message(format!("{}: {}", r.outcome, r.message));
            s
        }
    };
    let mut status = status;
    // Earlier attempts (--retry): flakyFailure on a pass, rerunFailure on a failure.
    for e in &r.earlier {
        let kind = if e.outcome == Outcome::Fail {
            NonSuccessKind::Failure
        } else {
            NonSuccessKind::Error
        };
        let mut rerun = TestRerun::new(kind);
        rerun.set_type(e.outcome.as_str());
        rerun.set_message(e.message.lines().next().unwrap_or(""));
        rerun.set_time(crate::from_board::seconds(e.duration_s, Duration::ZERO));
        status.add_rerun(rerun);
    }
    let mut tc = named(&r.case, status);
    tc.set_time(d);
    tc.add_property(Property::new("outcome", r.outcome.as_str()));
    if expected {
        tc.add_property(Property::new("baseline.expected", r.outcome.as_str()));
    }
    if let Some((_, now)) = b.cmp.newly_covered.iter().find(|x| x.0 == r.case) {
        tc.add_property(Property::new(
            "baseline.newly_covered",
            format!("{now}; not-supported in the baseline"),
        ));
    }
    if !r.implementation.is_empty() {
        tc.add_property(Property::new("implementation", r.implementation.as_str()));
    }
    let mut out = String::new();
    for o in &r.observations {
        if o.key == "output_tail" {
            out.push_str(&o.value);
            out.push('\n');
        } else if crate::summary::DRIVER_LOG_KEYS.contains(&o.key.as_str()) {
            // The kernel log lines of the GPU driver, as a driver team reads them.
            let what = match o.key.as_str() {
                "driver_log" => "kernel log (GPU driver) during this case:",
                _ => "kernel log (GPU driver, expected by the row) during this case:",
            };
            out.push_str(&format!("{what}\n{}\n", o.value));
        } else {
            tc.add_property(Property::new(
                format!("observed.{}", o.key),
                o.value.as_str(),
            ));
        }
    }
    if !out.is_empty() {
        tc.set_system_out(out);
    }
    tc
}

fn non_success(kind: NonSuccessKind, ty: &str, message: &str) -> TestCaseStatus {
    let mut s = TestCaseStatus::non_success(kind);
    s.set_type(ty);
    // First line as the attribute; the whole text as the body.
    s.set_message(message.lines().next().unwrap_or(""));
    s.set_description(message);
    s
}

pub fn write(report: &Report, path: &std::path::Path) -> anyhow::Result<()> {
    let xml = report.to_string()?;
    let tmp = path.with_extension("xml.tmp");
    std::fs::write(&tmp, xml)?;
    // Rename: a reader never sees half a file.
    std::fs::rename(&tmp, path)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use hil_proto::Observation;

    fn result(case: &str, outcome: Outcome, message: &str) -> CaseResult {
        CaseResult {
            duration_s: 0.25,
            implementation: "libcuda.so.1 (test)".into(),
            observations: vec![
                Observation::new("code", 999),
                // Board logs carry colour codes and CDATA terminators.
                Observation::new("output_tail", "\u{1b}[31merror\u{1b}[0m ]]> <&>"),
            ],
            ..crate::test_result(case, outcome, message)
        }
    }

    #[test]
    fn every_outcome_maps_to_its_junit_element_and_logs_stay_valid_xml() {
        let mut st = State {
            board: "b1".into(),
            ..State::default()
        };
        let outcomes = [
            ("t.pass", Outcome::Pass, ""),
            ("t.fail", Outcome::Fail, "expected 1, got 999"),
            ("t.ns", Outcome::NotSupported, "libcuda.so.1 not found"),
            ("t.flag", Outcome::Flagged, "hang: killed after 20s"),
            ("t.crash", Outcome::Crash, "died (SIGSEGV)\nsecond line"),
            ("t.timeout", Outcome::Timeout, "no result within 2s"),
        ];
        for (case, o, msg) in outcomes {
            st.cases.push(crate::test_case(case));
            st.results.insert(case.into(), result(case, o, msg));
        }
        let cmp = Comparison::default();
        let judged = Judged {
            state: &st,
            cmp: &cmp,
            baseline: None,
        };
        let xml = build(&judged).to_string().unwrap();
        assert!(
            xml.contains(r#"tests="6" skipped="2" failures="1" errors="2""#),
            "{xml}"
        );
        assert!(
            xml.contains(r#"<failure message="expected 1, got 999" type="fail">"#),
            "{xml}"
        );
        assert!(
            xml.contains(r#"<error message="died (SIGSEGV)" type="crash">"#),
            "{xml}"
        );
        assert!(xml.contains(r#"type="timeout""#), "{xml}");
        assert!(
            xml.contains(
                r#"<skipped message="not-supported: libcuda.so.1 not found" type="not-supported"/>"#
            ),
            "{xml}"
        );
        assert!(
            xml.contains(r#"<skipped message="flagged: hang: killed after 20s" type="flagged"/>"#),
            "{xml}"
        );
        assert!(
            xml.contains(r#"<property name="observed.code" value="999"/>"#),
            "{xml}"
        );
        assert!(
            !xml.contains('\u{1b}'),
            "raw ESC would make the XML invalid"
        );
        let path = std::env::temp_dir().join(format!("hil-junit-{}.xml", std::process::id()));
        std::fs::write(&path, &xml).unwrap();
        let lint = std::process::Command::new("xmllint")
            .arg("--noout")
            .arg(&path)
            .output()
            .expect("xmllint not runnable: install it with `apt-get install -y libxml2-utils`");
        assert!(
            lint.status.success(),
            "{}",
            String::from_utf8_lossy(&lint.stderr)
        );
        let _ = std::fs::remove_file(path);
    }

    #[test]
    fn unfinished_skipped_expected_and_lost_cases_each_say_what_they_are() {
        use crate::baseline::CoverageLost;
        let mut st = State {
            board: "b1".into(),
            ..State::default()
        };
        for (case, o) in [
            ("t.known", Some(Outcome::Fail)),
            ("t.lost", Some(Outcome::NotSupported)),
            ("t.left", None),
        ] {
            st.cases.push(crate::test_case(case));
            if let Some(o) = o {
                st.results.insert(case.into(), result(case, o, "why"));
            }
        }
        st.skipped.push(crate::journal::SkippedCase {
            case: "t.skipped".into(),
            by: "skips.txt:3 `t.sk`".into(),
        });
        let cmp = Comparison {
            expected_failures: vec!["t.known".into()],
            coverage_lost: vec![
                CoverageLost {
                    case: "t.lost".into(),
                    was: Outcome::Pass,
                    now: Some(Outcome::NotSupported),
                    why: "libcudart not found".into(),
                },
                CoverageLost {
                    case: "t.gone".into(),
                    was: Outcome::Pass,
                    now: None,
                    why: "the suite does not list this case any more".into(),
                },
            ],
            ..Comparison::default()
        };
        let judged = Judged {
            state: &st,
            cmp: &cmp,
            baseline: Some("b.yaml"),
        };
        let xml = build(&judged).to_string().unwrap();
        // Every case of the plan, the skip list and the baseline is a test case.
        assert!(xml.contains(r#"tests="5""#), "{xml}");
        assert!(
            xml.contains(r#"<error message="no result: the run ended before this case finished"#),
            "{xml}"
        );
        assert!(
            xml.contains(r#"message="no result: the run ended before this case finished; `hil-run --resume` completes it" type="missing""#),
            "{xml}"
        );
        assert!(
            xml.contains(
                r#"<skipped message="skipped by a case list: skips.txt:3 `t.sk`" type="skipped""#
            ),
            "{xml}"
        );
        assert!(
            xml.contains(r#"<skipped message="expected fail (baseline b.yaml): why" type="expected-failure">"#),
            "{xml}"
        );
        assert!(
            xml.contains(r#"<property name="baseline.expected" value="fail"/>"#),
            "{xml}"
        );
        assert!(
            xml.contains(r#"<failure message="coverage lost: was pass, now not-supported: libcudart not found" type="coverage-lost">"#),
            "{xml}"
        );
        assert!(
            xml.contains(r#"<failure message="coverage lost: was pass, now missing: the suite does not list this case any more" type="coverage-lost">"#),
            "{xml}"
        );
        // Lost coverage comes first.
        let first = xml.find("<testcase").unwrap();
        assert!(
            xml[first..].starts_with(r#"<testcase name="t.lost""#),
            "{xml}"
        );
    }
}
