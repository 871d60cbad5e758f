//! JUnit XML for CI. quick-junit rather than junit-report: board logs hold ANSI colour
//! codes and `]]>`, which junit-report writes into invalid XML; quick-junit escapes them
//! and supports properties and flaky reruns (docs/junit.md).
//!
//! Mapping (docs/outcomes.md): pass → success; fail → failure; crash and timeout → error
//! (type says which); not-supported and flagged → skipped with the reason or observation,
//! so CI stays green but shows them.

use crate::journal::{CaseResult, State};
use hil_proto::Outcome;
use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};
use std::time::Duration;

pub fn build(state: &State) -> Report {
    let mut report = Report::new(format!("hil {}", state.board));
    let mut suite = TestSuite::new(format!("hil.{}", state.board));
    suite.add_property(Property::new("board", &state.board));
    if let Some(f) = &state.facts {
        suite.add_property(Property::new("suite.version", &f.suite_version));
        for (k, v) in &f.properties {
            suite.add_property(Property::new(k.as_str(), v.as_str()));
        }
        for (backend, imp) in &f.implementations {
            suite.add_property(Property::new(format!("implementation.{backend}"), imp.as_str()));
        }
    }
    let mut total = Duration::ZERO;
    for r in state.ordered_results() {
        let d = Duration::from_secs_f64(r.duration_s.max(0.0));
        total += d;
        suite.add_test_case(case(r, d));
    }
    suite.set_time(total);
    report.add_test_suite(suite);
    report.set_time(total);
    report
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
        } else {
            tc.add_property(Property::new(format!("observed.{}", o.key), o.value.as_str()));
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

pub fn write(state: &State, path: &std::path::Path) -> anyhow::Result<()> {
    let xml = build(state).to_string()?;
    let tmp = path.with_extension("xml.tmp");
    std::fs::write(&tmp, xml)?;
    // Rename: a reader never sees half a file.
    std::fs::rename(&tmp, path)?;
    Ok(())
}
