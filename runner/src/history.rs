//! A board's history, night after night: its runs in start order, what changed between
//! the last two (new fails, fixes, coverage lost or gained, flagged outcomes of another
//! kind, new run-level driver messages), which facts changed and in which run, and a
//! cases × runs strip of every case whose outcome was not constant, with the run its
//! current outcome first appeared in. Built from journals alone; shown as text
//! (`hil-run history`, for a terminal or a CI post) and as a section of the report.

use crate::journal::{CaseResult, DriverMessage, State};
use hil_proto::{key, Outcome};
use hil_report::html::esc;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The file every run writes into `RESULTS/<board>/`.
const JOURNAL: &str = "journal.jsonl";

/// One run of a board, numbered from 1 (the oldest) in start order.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    pub number: usize,
    pub started_unix: u64,
    /// Where its journal was read from.
    pub source: String,
    /// Its place among the runs the history was built from (a report's board column).
    pub input: usize,
    pub counts: BTreeMap<Outcome, usize>,
    pub planned: usize,
}

impl Run {
    /// `run 2 (2026-12-02 02:00 UTC)`: how every line names a run.
    pub fn label(&self) -> String {
        if self.started_unix == 0 {
            format!("run {}", self.number)
        } else {
            format!(
                "run {} ({})",
                self.number,
                crate::report::utc(self.started_unix)
            )
        }
    }
}

/// What a case did in one run: its outcome (None: no result), and for a flagged one what
/// was observed (`hang`, `signal`, …), since undefined behaviour is never judged, only
/// compared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub outcome: Option<Outcome>,
    pub kind: String,
}

impl Seen {
    fn of(r: Option<&CaseResult>) -> Seen {
        let kind = r
            .filter(|r| r.outcome == Outcome::Flagged)
            .and_then(|r| r.observations.iter().find(|o| o.key == key::OBSERVED))
            .map(|o| o.value.clone())
            .unwrap_or_default();
        Seen {
            outcome: r.map(|r| r.outcome),
            kind,
        }
    }

    /// `pass`, `flagged (hang)`, `no result`.
    pub fn describe(&self) -> String {
        match self.outcome {
            None => "no result".into(),
            Some(o) if self.kind.is_empty() => o.to_string(),
            Some(o) => format!("{o} ({})", self.kind),
        }
    }

    fn ran(&self) -> bool {
        self.outcome.is_some_and(|o| o != Outcome::NotSupported)
    }

    fn bad(&self) -> bool {
        matches!(
            self.outcome,
            Some(Outcome::Fail | Outcome::Crash | Outcome::Timeout)
        )
    }
}

/// How a case changed between the last two runs, in the order they are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ChangeKind {
    /// Fails, crashes or times out now; did not before.
    NewFail,
    /// Failed, crashed or timed out before; runs and does not now.
    Fixed,
    /// Ran before; not-supported or without a result now.
    CoverageLost,
    /// Not-supported or without a result before; runs now.
    CoverageGained,
    /// Flagged both times, with another observation.
    FlaggedKind,
    /// Anything else (fail to crash, …).
    Other,
}

impl ChangeKind {
    pub fn title(self) -> &'static str {
        match self {
            ChangeKind::NewFail => "new fails",
            ChangeKind::Fixed => "fixed",
            ChangeKind::CoverageLost => "coverage lost",
            ChangeKind::CoverageGained => "coverage gained",
            ChangeKind::FlaggedKind => "flagged, another kind",
            ChangeKind::Other => "changed otherwise",
        }
    }

    fn of(before: &Seen, now: &Seen) -> ChangeKind {
        if now.bad() && !before.bad() {
            ChangeKind::NewFail
        } else if before.bad() && now.ran() && !now.bad() {
            ChangeKind::Fixed
        } else if before.ran() && !now.ran() {
            ChangeKind::CoverageLost
        } else if !before.ran() && now.ran() {
            ChangeKind::CoverageGained
        } else if before.outcome == Some(Outcome::Flagged) && before.outcome == now.outcome {
            ChangeKind::FlaggedKind
        } else {
            ChangeKind::Other
        }
    }
}

/// A case that did something else in the last run than in the one before.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseChange {
    pub kind: ChangeKind,
    pub case: String,
    pub before: Seen,
    pub now: Seen,
    /// The first line of the last run's message.
    pub message: String,
}

/// A fact that was not the same in every run: its first value, then each change and the
/// run it appeared in.
#[derive(Debug, Clone, PartialEq)]
pub struct FactHistory {
    pub key: String,
    pub first: String,
    /// (run number, new value).
    pub changes: Vec<(usize, String)>,
}

/// Consecutive runs with one outcome of a case (run numbers, inclusive).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Segment {
    pub outcome: Option<Outcome>,
    pub first: usize,
    pub last: usize,
}

/// A case whose outcome was not the same in every run.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseStrip {
    pub case: String,
    /// One per run, oldest first (None: no result in that run).
    pub outcomes: Vec<Option<Outcome>>,
    /// The outcomes as runs of equal ones, oldest first; never empty.
    pub segments: Vec<Segment>,
}

impl CaseStrip {
    /// The current outcome and the run it first appeared in.
    pub fn since(&self) -> Segment {
        self.segments[self.segments.len() - 1]
    }
}

/// One board's history.
#[derive(Debug, Clone, PartialEq)]
pub struct History {
    pub board: String,
    /// Oldest first.
    pub runs: Vec<Run>,
    /// The last run against the one before, by kind, then by case.
    pub changes: Vec<CaseChange>,
    /// Run-level driver lines of the last run the one before did not log.
    pub new_driver_messages: Vec<DriverMessage>,
    pub facts: Vec<FactHistory>,
    /// Newest change first, then by case.
    pub strip: Vec<CaseStrip>,
}

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

    let mut changes = Vec::new();
    let mut new_driver_messages = Vec::new();
    if let [.., before, now] = states.as_slice() {
        for case in &cases {
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
        // A line is new when the run before logged no such line (the time it was seen
        // and the cases around it differ from night to night).
        new_driver_messages = now
            .driver_messages
            .iter()
            .filter(|m| !before.driver_messages.iter().any(|o| o.line == m.line))
            .cloned()
            .collect();
    }

    let facts = fact_keys(&states)
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
        .collect();

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

    History {
        board,
        runs: listed,
        changes,
        new_driver_messages,
        facts,
        strip,
    }
}

/// The journals to read for `paths`: a file is a journal; a directory (a night's results,
/// or a tree of nights) gives every `journal.jsonl` under it, sorted by path. Links are
/// not followed into directories (a loop must not hang a CI job).
pub fn journals(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut found = Vec::new();
            walk(p, &mut found).map_err(|e| format!("{}: {e}", p.display()))?;
            if found.is_empty() {
                return Err(format!("{}: no {JOURNAL} under it", p.display()));
            }
            found.sort();
            out.extend(found);
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

fn walk(dir: &Path, found: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let t = e.file_type()?;
        if t.is_dir() {
            walk(&e.path(), found)?;
        } else if e.file_name() == JOURNAL {
            found.push(e.path());
        }
    }
    Ok(())
}

use crate::outcomes::{class, mark, name as outcome_name};

/// `pass since run 3 (…), after not-supported in run 2`.
fn since_text(h: &History, s: &CaseStrip) -> String {
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
fn fact_text(f: &FactHistory, value: impl Fn(&str) -> String) -> String {
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

/// The history as a section of the report. `cell` gives the attributes of a case's
/// result in a run (`Run::input`, case), so a cell opens that result's details.
pub fn html(h: &History, cell: &dyn Fn(usize, &str) -> String) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        "<section class=\"history\" data-board=\"{}\"><h3>{}: {} runs</h3>\
         <table class=\"list history-runs\"><tr><th>run</th><th>started</th><th>results</th>\
         <th>journal</th></tr>",
        esc(&h.board),
        esc(&h.board),
        h.runs.len()
    );
    for r in &h.runs {
        let started = if r.started_unix == 0 {
            "?".to_string()
        } else {
            crate::report::utc(r.started_unix)
        };
        let chips: String = r
            .counts
            .iter()
            .map(|(o, n)| format!("<span class=\"chip {}\">{o} {n}</span>", class(Some(*o))))
            .collect();
        let _ = write!(
            s,
            "<tr><td>run {}</td><td>{}</td><td>{chips}</td><td><code>{}</code></td></tr>",
            r.number,
            esc(&started),
            esc(&r.source)
        );
    }
    s.push_str("</table>");
    let [.., before, now] = h.runs.as_slice() else {
        s.push_str("</section>\n");
        return s;
    };
    let _ = write!(
        s,
        "<h4>{} against {}</h4>",
        esc(&now.label()),
        esc(&before.label())
    );
    if h.changes.is_empty() && h.new_driver_messages.is_empty() {
        s.push_str("<p>No case changed outcome; no new driver message.</p>");
    }
    if !h.changes.is_empty() {
        let _ = write!(
            s,
            "<table class=\"list history-changes\"><tr><th>what</th><th>case</th>\
             <th>run {}</th><th>run {}</th><th>message</th></tr>",
            before.number, now.number
        );
        for c in &h.changes {
            let chip = |run: &Run, seen: &Seen| match seen.outcome {
                Some(_) => format!(
                    "<span class=\"chip {} clickable\" {}>{}</span>",
                    class(seen.outcome),
                    cell(run.input, &c.case),
                    esc(&seen.describe())
                ),
                None => format!(
                    "<span class=\"chip o-none\">{}</span>",
                    esc(&seen.describe())
                ),
            };
            let _ = write!(
                s,
                "<tr data-change=\"{}\"><td>{}</td><td><code>{}</code></td><td>{}</td>\
                 <td>{}</td><td>{}</td></tr>",
                esc(c.kind.title()),
                esc(c.kind.title()),
                esc(&c.case),
                chip(before, &c.before),
                chip(now, &c.now),
                esc(&c.message)
            );
        }
        s.push_str("</table>");
    }
    if !h.new_driver_messages.is_empty() {
        s.push_str(
            "<p>New driver messages outside any case:</p><table class=\"list\">\
             <tr><th>line</th><th>seen</th></tr>",
        );
        for m in &h.new_driver_messages {
            let _ = write!(
                s,
                "<tr><td><code>{}</code></td><td>{}</td></tr>",
                esc(&m.line),
                esc(&m.when)
            );
        }
        s.push_str("</table>");
    }
    if !h.facts.is_empty() {
        s.push_str("<h4>Facts that changed</h4><ul class=\"facts-changed\">");
        for f in &h.facts {
            let _ = write!(
                s,
                "<li data-fact=\"{}\"><code>{}</code>: {}</li>",
                esc(&f.key),
                esc(&f.key),
                fact_text(f, |v| format!("<b>{}</b>", esc(v)))
            );
        }
        s.push_str("</ul>");
    }
    if !h.strip.is_empty() {
        let _ = write!(
            s,
            "<h4>Cases whose outcome changed ({})</h4><table class=\"matrix strip\"><tr>\
             <th>case</th>",
            h.strip.len()
        );
        for r in &h.runs {
            let _ = write!(s, "<th title=\"{}\">{}</th>", esc(&r.label()), r.number);
        }
        s.push_str("<th>now</th></tr>");
        for c in &h.strip {
            let _ = write!(
                s,
                "<tr data-case=\"{}\"><th><code>{}</code></th>",
                esc(&c.case),
                esc(&c.case)
            );
            for (r, o) in h.runs.iter().zip(&c.outcomes) {
                // A run without this case's result has no details to open.
                let attrs = match o {
                    Some(_) => cell(r.input, &c.case),
                    None => format!("title=\"{}: no result\"", esc(&r.label())),
                };
                let _ = write!(
                    s,
                    "<td class=\"cell {}\" data-run=\"{}\" {attrs}>{}</td>",
                    class(*o),
                    r.number,
                    mark(*o)
                );
            }
            let _ = write!(
                s,
                "<td class=\"since\">{}</td></tr>",
                esc(&since_text(h, c))
            );
        }
        s.push_str("</table>");
    }
    s.push_str("</section>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::Record;
    use crate::test_result as result;
    use hil_proto::{Facts, Observation};

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
        r.observations.push(Observation::new("observed", observed));
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
}
