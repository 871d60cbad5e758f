//! JUnit XML for CI. quick-junit rather than junit-report: board logs hold ANSI colour
//! codes and `]]>`, which junit-report writes into invalid XML; quick-junit escapes them
//! and supports properties and flaky reruns (docs/junit.md).
//!
//! Mapping (docs/outcomes.md): pass → success; fail → failure; crash and timeout → error
//! (type says which); not-supported and flagged → skipped with the reason or observation,
//! so CI stays green but shows them.

use crate::journal::{CaseResult, State};
use hil_proto::Outcome;
use quick_junit::{
    NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestRerun, TestSuite,
};
use std::time::Duration;

/// One board's report.
pub fn build(state: &State) -> Report {
    merged(&[state], &format!("hil {}", state.board))
}

/// Several boards in one report: a `<testsuite>` per board.
pub fn merged(states: &[&State], name: &str) -> Report {
    let mut report = Report::new(name);
    let mut total = Duration::ZERO;
    for st in states {
        // Board text escaped (XML has no place for most controls, U+FFFE, U+FFFF) and
        // within its caps; durations plausible, whatever the journal holds.
        let (suite, t) = board_suite(&crate::from_board::shown(st));
        total = total.saturating_add(t);
        report.add_test_suite(suite);
    }
    report.set_time(total);
    report
}

fn board_suite(state: &State) -> (TestSuite, Duration) {
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
    let mut total = Duration::ZERO;
    for r in state.ordered_results() {
        let d = crate::from_board::seconds(r.duration_s, Duration::ZERO);
        total = total.saturating_add(d);
        suite.add_test_case(case(r, d));
    }
    suite.set_time(total);
    (suite, total)
}

fn case(r: &CaseResult, d: Duration) -> TestCase {
    let status = match r.outcome {
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
    let mut tc = TestCase::new(r.case.as_str(), status);
    let classname = r.case.rsplit_once('.').map(|(c, _)| c).unwrap_or(&r.case);
    tc.set_classname(classname);
    tc.set_time(d);
    tc.add_property(Property::new("outcome", r.outcome.as_str()));
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
        let xml = build(&st).to_string().unwrap();
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
}
