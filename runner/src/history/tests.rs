//! The history's model, text and section, from nights given out of order.

use super::*;
use crate::journal::Record;
use crate::journal::{CaseResult, DriverMessage, State};
use crate::test_result as result;
use hil_proto::{Facts, Observation};
use std::path::PathBuf;

fn run(started: u64, version: &str, results: Vec<CaseResult>) -> State {
    let mut st = State {
        board: "orin01".into(),
        started_unix: started,
        ..State::default()
    };
    let mut facts = Facts::default();
    facts
        .properties
        .insert("nvscisync.version".into(), version.into());
    facts
        .properties
        .insert("driver.version".into(), "580.1".into());
    st.apply(Record::Facts(facts));
    for r in results {
        st.cases.push(crate::test_case(&r.case));
        st.results.insert(r.case.clone(), r);
    }
    st
}

fn flagged(case: &str, observed: &str) -> CaseResult {
    let mut r = result(case, Outcome::Flagged, observed);
    r.observations
        .push(Observation::new(key::OBSERVED, observed));
    r
}

fn message(line: &str) -> DriverMessage {
    DriverMessage {
        line: line.into(),
        seen_unix: 0,
        cases: vec![],
        when: "logged while no case ran".into(),
    }
}

/// Three nights of one board, given out of order, and one night of another.
fn nights() -> Vec<History> {
    let night1 = run(
        100,
        "2.8",
        vec![
            result("t.gated", Outcome::Pass, ""),
            result("t.steady", Outcome::Pass, ""),
            result("t.breaks", Outcome::Pass, ""),
            result("t.mends", Outcome::Fail, "old bug"),
            flagged("t.ub", "signal"),
        ],
    );
    let night2 = run(
        200,
        "2.5",
        vec![
            result("t.gated", Outcome::NotSupported, "needs NvSciSync 2.8"),
            result("t.steady", Outcome::Pass, ""),
            result("t.breaks", Outcome::Pass, ""),
            result("t.mends", Outcome::Fail, "old bug"),
            flagged("t.ub", "signal"),
        ],
    );
    let mut night3 = run(
        300,
        "2.8",
        vec![
            result("t.gated", Outcome::Pass, ""),
            result("t.steady", Outcome::Pass, ""),
            result("t.breaks", Outcome::Crash, "SIGSEGV\nmore"),
            result("t.mends", Outcome::Pass, ""),
            flagged("t.ub", "hang"),
            result("t.new", Outcome::NotSupported, "no GPU"),
        ],
    );
    night3.driver_messages.push(message("[err] NVRM: Xid 13"));
    let mut other = run(150, "2.8", vec![result("t.steady", Outcome::Pass, "")]);
    other.board = "orin02".into();
    let p = |s: &str| PathBuf::from(s);
    let (p1, p2, p3, po) = (p("n1/j"), p("n2/j"), p("n3/j"), p("o/j"));
    build(&[
        (&night3, &p3),
        (&other, &po),
        (&night1, &p1),
        (&night2, &p2),
    ])
}

#[test]
fn a_history_orders_runs_by_start_and_says_what_changed_and_since_when() {
    let hs = nights();
    assert_eq!(hs.len(), 2, "one history per board");
    let h = &hs[0];
    assert_eq!(h.board, "orin01");
    assert_eq!(
        h.runs.iter().map(|r| r.source.as_str()).collect::<Vec<_>>(),
        ["n1/j", "n2/j", "n3/j"]
    );
    assert_eq!(h.runs[0].input, 2, "the run's place among the inputs");
    let changes: Vec<(ChangeKind, &str, String, String)> = h
        .changes
        .iter()
        .map(|c| {
            (
                c.kind,
                c.case.as_str(),
                c.before.describe(),
                c.now.describe(),
            )
        })
        .collect();
    let ch = |k, c, b: &str, n: &str| (k, c, b.to_string(), n.to_string());
    assert_eq!(
        changes,
        [
            ch(ChangeKind::NewFail, "t.breaks", "pass", "crash"),
            ch(ChangeKind::Fixed, "t.mends", "fail", "pass"),
            ch(
                ChangeKind::CoverageGained,
                "t.gated",
                "not-supported",
                "pass"
            ),
            ch(
                ChangeKind::FlaggedKind,
                "t.ub",
                "flagged (signal)",
                "flagged (hang)"
            ),
            ch(ChangeKind::Other, "t.new", "no result", "not-supported"),
        ]
    );
    assert_eq!(h.changes[0].message, "SIGSEGV…");
    assert_eq!(h.new_driver_messages, [message("[err] NVRM: Xid 13")]);
    assert_eq!(
        h.facts,
        [FactHistory {
            key: "nvscisync.version".into(),
            first: "2.8".into(),
            changes: vec![(2, "2.5".into()), (3, "2.8".into())],
        }],
        "driver.version did not change"
    );
    // Newest change first; t.steady never changed.
    let strip: Vec<(&str, Option<Outcome>, usize)> = h
        .strip
        .iter()
        .map(|c| (c.case.as_str(), c.since().outcome, c.since().first))
        .collect();
    assert_eq!(
        strip,
        [
            ("t.breaks", Some(Outcome::Crash), 3),
            ("t.gated", Some(Outcome::Pass), 3),
            ("t.mends", Some(Outcome::Pass), 3),
            ("t.new", Some(Outcome::NotSupported), 3),
        ]
    );
    let gated = &h.strip[1];
    assert_eq!(
        gated.outcomes,
        [
            Some(Outcome::Pass),
            Some(Outcome::NotSupported),
            Some(Outcome::Pass)
        ]
    );
    // The other board has one run: nothing to compare.
    assert!(hs[1].changes.is_empty() && hs[1].strip.is_empty());
}

#[test]
fn the_text_names_each_change_with_its_run_and_escapes_board_text() {
    let hs = nights();
    let t = text(&hs[0]);
    assert!(
        t.contains("run 3 (1970-01-01 00:05 UTC) against run 2 (1970-01-01 00:03 UTC):"),
        "{t}"
    );
    assert!(t.contains("  new fails (1):\n    t.breaks  pass → crash: SIGSEGV…\n"));
    assert!(t.contains("  coverage gained (1):\n    t.gated  not-supported → pass\n"));
    assert!(t.contains("  nvscisync.version: 2.8 → 2.5 in run 2 → 2.8 in run 3\n"));
    assert!(t.contains(
        "  ✓–✓  t.gated  pass since run 3 (1970-01-01 00:05 UTC), after not-supported in run 2\n"
    ));
    assert!(
        t.contains("  ··–  t.new  not-supported since run 3 (1970-01-01 00:05 UTC), after no result in runs 1–2\n"),
        "{t}"
    );
    assert!(text(&hs[1]).contains("one run: nothing to compare yet"));

    let evil = "\x1b[2J<b>\nx";
    let mut a = run(1, evil, vec![result("t.a", Outcome::Pass, "")]);
    let mut b = run(2, "2.8", vec![result("t.a", Outcome::Fail, evil)]);
    a.board = evil.into();
    b.board = evil.into();
    let p = PathBuf::from("j");
    let h = &build(&[(&a, &p), (&b, &p)])[0];
    let t = text(h);
    assert!(!t.contains('\x1b'), "{t}");
    assert!(t.contains("board \\u{1b}[2J<b>\\u{a}x: 2 run(s)"), "{t}");
    let html = html(h, &|_, _| String::new());
    // The only markup is the page's own: the fact's two values in bold.
    assert_eq!(html.matches("<b>").count(), 2, "{html}");
    assert!(
        html.contains("<b>\\u{1b}[2J&lt;b&gt;\nx</b> → <b>2.8</b> in run 2"),
        "{html}"
    );
}
