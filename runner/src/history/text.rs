//! A history as text, for a terminal or a CI post.

use super::{CaseChange, CaseStrip, ChangeKind, FactHistory, History, Run};
use crate::outcomes::{mark, name as outcome_name};
use hil_proto::Outcome;
use std::fmt::Write as _;

/// `pass since run 3 (…), after not-supported in run 2`.
pub(super) fn since_text(h: &History, s: &CaseStrip) -> String {
    let seg = s.since();
    let mut t = format!(
        "{} since {}",
        outcome_name(seg.outcome),
        h.runs[seg.first - 1].label()
    );
    if let Some(prev) = s.segments.iter().rev().nth(1) {
        let runs = if prev.first == prev.last {
            format!("run {}", prev.first)
        } else {
            format!("runs {}–{}", prev.first, prev.last)
        };
        let _ = write!(t, ", after {} in {runs}", outcome_name(prev.outcome));
    }
    t
}

/// `2.8 → 2.5 in run 2 → 2.8 in run 3`.
pub(super) fn fact_text(f: &FactHistory, value: impl Fn(&str) -> String) -> String {
    let mut t = value(&f.first);
    for (run, v) in &f.changes {
        let _ = write!(t, " → {} in run {run}", value(v));
    }
    t
}

fn counts_text(r: &Run) -> String {
    let c: Vec<String> = r.counts.iter().map(|(o, n)| format!("{o} {n}")).collect();
    c.join(" · ")
}

/// The history for a terminal or a CI post: every line one line, board text escaped.
pub fn text(h: &History) -> String {
    let line = |s: &str| hil_proto::text::escape_line(s).into_owned();
    let mut s = String::new();
    let _ = writeln!(
        s,
        "board {}: {} run(s), oldest first",
        line(&h.board),
        h.runs.len()
    );
    for r in &h.runs {
        let _ = writeln!(
            s,
            "  {}  {} of {} planned: {}  {}",
            r.label(),
            r.counts.values().sum::<usize>(),
            r.planned,
            counts_text(r),
            line(&r.source)
        );
    }
    let [.., before, now] = h.runs.as_slice() else {
        s.push_str("  one run: nothing to compare yet\n");
        return s;
    };
    let _ = writeln!(s, "{} against {}:", now.label(), before.label());
    if h.changes.is_empty() && h.new_driver_messages.is_empty() {
        s.push_str("  no case changed outcome, no new driver message\n");
    }
    let mut kinds: Vec<ChangeKind> = h.changes.iter().map(|c| c.kind).collect();
    kinds.dedup();
    for kind in kinds {
        let these: Vec<&CaseChange> = h.changes.iter().filter(|c| c.kind == kind).collect();
        let _ = writeln!(s, "  {} ({}):", kind.title(), these.len());
        for c in these {
            let _ = write!(
                s,
                "    {}  {} → {}",
                line(&c.case),
                c.before.describe(),
                c.now.describe()
            );
            if !c.message.is_empty() && c.now.outcome != Some(Outcome::Pass) {
                let _ = write!(s, ": {}", c.message);
            }
            s.push('\n');
        }
    }
    if !h.new_driver_messages.is_empty() {
        let _ = writeln!(
            s,
            "  new driver messages outside any case ({}):",
            h.new_driver_messages.len()
        );
        for m in &h.new_driver_messages {
            let _ = writeln!(s, "    {}  ({})", line(&m.line), line(&m.when));
        }
    }
    if !h.facts.is_empty() {
        s.push_str("facts that changed:\n");
        for f in &h.facts {
            let _ = writeln!(s, "  {}: {}", f.key, fact_text(f, crate::config::short));
        }
    }
    if !h.strip.is_empty() {
        let _ = writeln!(
            s,
            "cases whose outcome changed ({}), a mark per run, oldest first \
             (✓ pass, ✗ fail, – not-supported, ! flagged, C crash, T timeout, · no result):",
            h.strip.len()
        );
        for c in &h.strip {
            let marks: String = c.outcomes.iter().map(|o| mark(*o)).collect();
            let _ = writeln!(s, "  {marks}  {}  {}", line(&c.case), since_text(h, c));
        }
    }
    s
}
