//! JUnit XML for CI. quick-junit rather than junit-report: board logs hold ANSI colour
//! codes and `]]>`, which junit-report writes into invalid XML; quick-junit escapes them
//! and supports properties and flaky reruns (docs/junit.md).
//!
//! Mapping (`outcomes::Junit`, docs/outcomes.md): pass → success; fail → failure; crash
//! and timeout → error (type says which); not-supported and flagged → skipped with the
//! reason or observation, so CI stays green but shows them.
//!
//! The XML validates against Jenkins' junit-10.xsd (the strictest schema CI tools use,
//! docs/junit.md): a `<testcase>` there has no `<properties>`, so a case's details are
//! `name: value` lines at the top of its `<system-out>`; the board's stay suite properties.

use crate::baseline::Comparison;
use crate::journal::{CaseResult, State};
use crate::outcomes::{Element, Junit, Verdict};
use hil_proto::key;
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
        let status = status(Junit::COVERAGE_LOST, &l.describe());
        suite.add_test_case(named(&l.case, status));
    }
    for c in state.remaining() {
        let why =
            "no result: the run ended before this case finished; `hil-run --resume` completes it";
        suite.add_test_case(named(&c.name, status(Junit::MISSING, why)));
    }
    for sk in &state.skipped {
        let status = status(
            Junit::SKIPPED_BY_LIST,
            &format!("skipped by a case list: {}", sk.by),
        );
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
    let verdict = b.cmp.verdict(r);
    let expected = verdict == Verdict::ExpectedFailure;
    let mut status = match verdict {
        Verdict::CoverageLost => {
            let what = b
                .cmp
                .lost(&r.case)
                .map(|l| l.describe())
                .unwrap_or_default();
            status(Junit::COVERAGE_LOST, &format!("{what}\n{}", r.message))
        }
        // The baseline expects it (hil-run exits 0): shown, never counted as failing.
        Verdict::ExpectedFailure => {
            let mut s = status(
                Junit::EXPECTED_FAILURE,
                &format!(
                    "expected {} (baseline {}): {}",
                    r.outcome,
                    b.baseline.unwrap_or("?"),
                    r.message.lines().next().unwrap_or("")
                ),
            );
            // A skipped element holds no reruns: the earlier attempts go into its text.
            let mut text = r.message.clone();
            for e in &r.earlier {
                let first = e.message.lines().next().unwrap_or("");
                text.push_str(&format!("\nearlier attempt: {}: {first}", e.outcome));
            }
            s.set_description(text);
            s
        }
        v => {
            let junit = Junit::judged(v, r.outcome);
            match junit.element {
                // Not run or not judged: the outcome names why in the message.
                Element::Skipped => status(junit, &format!("{}: {}", r.outcome, r.message)),
                _ => status(junit, &r.message),
            }
        }
    };
    // Earlier attempts (--retry): flakyFailure on a pass, rerunFailure on a failure.
    for e in &r.earlier {
        let mut rerun = TestRerun::new(kind(Junit::rerun(e.outcome)));
        rerun.set_type(e.outcome.as_str());
        rerun.set_message(e.message.lines().next().unwrap_or(""));
        // junit-10.xsd allows no `time` on a rerun element: the duration goes in its text.
        let t = crate::from_board::seconds(e.duration_s, Duration::ZERO);
        rerun.set_description(format!("{:.3}s: {}", t.as_secs_f64(), e.message));
        status.add_rerun(rerun);
    }
    let mut tc = named(&r.case, status);
    tc.set_time(d);
    tc.set_system_out(system_out(r, b, expected));
    tc
}

/// A case's details (`name: value` lines), a blank line, then its output and the GPU
/// driver's kernel log lines.
fn system_out(r: &CaseResult, b: &Judged, expected: bool) -> String {
    let mut details = Details::default();
    details.add("outcome", r.outcome.as_str());
    if expected {
        details.add("baseline.expected", r.outcome.as_str());
    }
    if let Some((_, now)) = b.cmp.newly_covered.iter().find(|x| x.0 == r.case) {
        details.add(
            "baseline.newly_covered",
            &format!("{now}; not-supported in the baseline"),
        );
    }
    if !r.implementation.is_empty() {
        details.add("implementation", &r.implementation);
    }
    let mut out = String::new();
    for o in &r.observations {
        if o.key == key::OUTPUT_TAIL {
            out.push_str(&o.value);
            out.push('\n');
        } else if crate::summary::DRIVER_LOG_KEYS.contains(&o.key.as_str()) {
            // The kernel log lines of the GPU driver, as a driver team reads them.
            let what = if o.key == key::DRIVER_LOG {
                "kernel log (GPU driver) during this case:"
            } else {
                "kernel log (GPU driver, expected by the row) during this case:"
            };
            out.push_str(&format!("{what}\n{}\n", o.value));
        } else {
            details.add(&format!("observed.{}", o.key), &o.value);
        }
    }
    format!("{}\n{out}", details.0)
}

/// A case's details as `name: value` lines (a continuation line starts with two spaces),
/// then a blank line: what junit-10.xsd would not take as `<testcase>` properties.
#[derive(Default)]
struct Details(String);

impl Details {
    fn add(&mut self, name: &str, value: &str) {
        let mut lines = value.lines();
        self.0
            .push_str(&format!("{name}: {}\n", lines.next().unwrap_or("")));
        for l in lines {
            self.0.push_str(&format!("  {l}\n"));
        }
    }
}

/// quick-junit's kind of a non-success element (`Element::Success` has none).
fn kind(e: Element) -> NonSuccessKind {
    match e {
        Element::Failure => NonSuccessKind::Failure,
        _ => NonSuccessKind::Error,
    }
}

/// The status element `junit` says, with `message`. A failure or error carries the first
/// line as its attribute and the whole text as its body; a skipped element the whole text
/// as its attribute (its body is set where there is more to say).
fn status(junit: Junit, message: &str) -> TestCaseStatus {
    let mut s = match junit.element {
        Element::Success => return TestCaseStatus::success(),
        Element::Skipped => {
            let mut s = TestCaseStatus::skipped();
            s.set_message(message);
            s
        }
        e => {
            let mut s = TestCaseStatus::non_success(kind(e));
            s.set_message(message.lines().next().unwrap_or(""));
            s.set_description(message);
            s
        }
    };
    s.set_type(junit.ty);
    s
}

/// The report as XML that junit-10.xsd accepts.
pub fn to_xml(report: &Report) -> anyhow::Result<String> {
    let xml = report.to_string()?;
    // quick-junit writes `skipped` on `<testsuites>`, which junit-10.xsd does not allow
    // there (each `<testsuite>` keeps its own). Attribute values are escaped (`"` is
    // `&quot;`), so inside the root tag this text can only be that attribute.
    let root = xml.find("<testsuites").unwrap_or(0);
    let end = xml[root..].find('>').map_or(root, |e| root + e);
    let tag = &xml[root..end];
    let Some(at) = tag.find(" skipped=\"") else {
        return Ok(xml);
    };
    let value_end = tag[at + 10..].find('"').map_or(tag.len(), |v| at + 11 + v);
    Ok(format!(
        "{}{}{}",
        &xml[..root + at],
        &tag[value_end..],
        &xml[end..]
    ))
}

pub fn write(report: &Report, path: &std::path::Path) -> anyhow::Result<()> {
    let xml = to_xml(report)?;
    let tmp = path.with_extension("xml.tmp");
    std::fs::write(&tmp, xml)?;
    // Rename: a reader never sees half a file.
    std::fs::rename(&tmp, path)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use hil_proto::{Observation, Outcome};

    fn result(case: &str, outcome: Outcome, message: &str) -> CaseResult {
        CaseResult {
            duration_s: 0.25,
            implementation: "libcuda.so.1 (test)".into(),
            observations: vec![
                Observation::new(hil_proto::key::CODE, 999),
                // Board logs carry colour codes and CDATA terminators.
                Observation::new(
                    hil_proto::key::OUTPUT_TAIL,
                    "\u{1b}[31merror\u{1b}[0m ]]> <&>",
                ),
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
        // --retry: a pass after a failed attempt, a failure after a crash.
        for (case, o, was) in [
            ("t.flaky", Outcome::Pass, Outcome::Fail),
            ("t.again", Outcome::Fail, Outcome::Crash),
        ] {
            st.cases.push(crate::test_case(case));
            let mut r = result(case, o, "now");
            r.earlier.push(crate::journal::EarlierRun {
                outcome: was,
                message: "then\nmore".into(),
                duration_s: 1.5,
            });
            st.results.insert(case.into(), r);
        }
        let cmp = Comparison::default();
        let judged = Judged {
            state: &st,
            cmp: &cmp,
            baseline: None,
        };
        let xml = to_xml(&build(&judged)).unwrap();
        assert!(
            xml.contains(r#"tests="8" skipped="2" errors="2" failures="2""#),
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
        // A case's details open its system-out (junit-10.xsd has no testcase properties).
        assert!(
            xml.contains("<system-out>outcome: fail\nimplementation: libcuda.so.1 (test)\nobserved.code: 999\n\n"),
            "{xml}"
        );
        assert!(
            xml.contains(r#"<flakyFailure message="then" type="fail">1.500s: then"#),
            "{xml}"
        );
        assert!(
            xml.contains(r#"<rerunError message="then" type="crash">1.500s: then"#),
            "{xml}"
        );
        let root = &xml[xml.find("<testsuites").unwrap()..];
        assert!(
            !root[..root.find('>').unwrap()].contains("skipped"),
            "junit-10.xsd has no `skipped` on testsuites: {xml}"
        );
        assert!(
            !xml.contains('\u{1b}'),
            "raw ESC would make the XML invalid"
        );
        valid(&xml);
    }

    /// xmllint accepts the XML against Jenkins' junit-10.xsd (runner/tests/fixtures).
    fn valid(xml: &str) {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "hil-junit-{}-{}.xml",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::write(&path, xml).unwrap();
        let schema =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/junit-10.xsd");
        let lint = std::process::Command::new("xmllint")
            .arg("--noout")
            .arg("--schema")
            .arg(schema)
            .arg(&path)
            .output()
            .expect("xmllint not runnable: install it with `apt-get install -y libxml2-utils`");
        let _ = std::fs::remove_file(path);
        assert!(
            lint.status.success(),
            "{}\n{xml}",
            String::from_utf8_lossy(&lint.stderr)
        );
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
        let xml = to_xml(&build(&judged)).unwrap();
        valid(&xml);
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
            xml.contains("<system-out>outcome: fail\nbaseline.expected: fail\n"),
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
