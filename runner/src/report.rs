//! `results/report.html`: one self-contained page per run, one or many boards. What
//! changed against the baseline first, then each board's facts and counts, a signaler ×
//! waiter matrix per pair table, the flagged scenarios, and every case. Every text from
//! results is escaped (`hil_report::esc`) or travels as JSON that the page's script only
//! ever puts into the DOM as text.

use crate::baseline::Comparison;
use crate::journal::{CaseResult, State};
use hil_proto::{key, Outcome};
use hil_report::html::{esc, page, script_json};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The report's file name, beside the boards' result directories.
pub const FILE: &str = "report.html";

/// One board of the report: its results, how they compare with the baseline, and where
/// its files are, as a link relative to the report (`orin01/`).
pub struct BoardView<'a> {
    pub state: &'a State,
    pub cmp: Comparison,
    pub link_dir: String,
    /// Files in the board's results directory (`junit.xml`, `suite-1.log`, …), sorted.
    pub files: Vec<String>,
}

/// The files of a board's results worth a link (the event logs and case lists are the
/// suite's own inputs and outputs; the journal holds what they say).
fn worth_a_link(name: &str) -> bool {
    const FILES: [&str; 8] = [
        "junit.xml",
        "journal.jsonl",
        "journal.prev.jsonl",
        "summary.txt",
        "flagged.md",
        "results.csv",
        "failures.csv",
        crate::caselist::SKIPPED_FILE,
    ];
    FILES.contains(&name) || (name.starts_with("suite-") && name.ends_with(".log"))
}

impl<'a> BoardView<'a> {
    /// A board whose journal is `journal`, linked from a report written into `report_dir`;
    /// the result files beside the journal are linked too.
    pub fn new(state: &'a State, cmp: Comparison, journal: &Path, report_dir: &Path) -> Self {
        let dir = match journal.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let journal_name = journal
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .filter(|e| e.path().is_file())
                    .filter_map(|e| e.file_name().to_str().map(String::from))
                    .filter(|n| worth_a_link(n) || *n == journal_name)
                    .collect()
            })
            .unwrap_or_default();
        // Logs in start order (suite-10 after suite-9), the rest by name.
        files.sort_by_key(|f| {
            let n: Option<u32> = f
                .strip_prefix("suite-")
                .and_then(|r| r.strip_suffix(".log"))
                .and_then(|n| n.parse().ok());
            (n.is_some(), n, f.clone())
        });
        BoardView {
            state,
            cmp,
            link_dir: relative_link(report_dir, dir),
            files,
        }
    }

    fn link(&self, file: &str) -> String {
        let f = href_segment(file);
        if self.link_dir.is_empty() {
            f
        } else {
            format!("{}/{f}", self.link_dir)
        }
    }
}

/// Writes `report_dir/report.html` for `boards`; returns its path.
pub fn write(report_dir: &Path, boards: &[BoardView]) -> std::io::Result<PathBuf> {
    let path = report_dir.join(FILE);
    let tmp = report_dir.join(format!("{FILE}.part"));
    std::fs::write(&tmp, render(boards))?;
    std::fs::rename(&tmp, &path)?;
    Ok(path)
}

/// `dir` as a link from a page in `from`: relative (`orin01`, `../runs/orin01`), so the
/// report keeps working when the results are copied or unpacked from a bundle together.
fn relative_link(from: &Path, dir: &Path) -> String {
    let abs = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
    let (from, dir) = (abs(from), abs(dir));
    let a: Vec<_> = from.components().collect();
    let b: Vec<_> = dir.components().collect();
    let common = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut parts: Vec<String> = vec!["..".into(); a.len() - common];
    parts.extend(
        b[common..]
            .iter()
            .map(|c| href_segment(&c.as_os_str().to_string_lossy())),
    );
    parts.join("/")
}

/// A path segment for an `href`: anything but unreserved characters percent-encoded.
fn href_segment(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// One side of a pair case: the CPU or a CUDA device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Side {
    Cpu,
    Dev(u32),
}

impl Side {
    fn parse(s: &str) -> Option<Side> {
        if s == "cpu" {
            return Some(Side::Cpu);
        }
        let n = s.strip_prefix("dev")?;
        (!n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            .then(|| n.parse().ok().map(Side::Dev))
            .flatten()
    }

    fn label(self) -> String {
        match self {
            Side::Cpu => "cpu".into(),
            Side::Dev(n) => format!("dev{n}"),
        }
    }
}

/// A case of a pair table: `<table>.<row>.<signaler>_<waiter>[.runtime]`.
#[derive(Debug, PartialEq)]
struct PairCase<'a> {
    group: &'a str,
    signaler: Side,
    waiter: Side,
    runtime: bool,
}

fn pair_case(name: &str) -> Option<PairCase<'_>> {
    let (rest, runtime) = match name.strip_suffix(".runtime") {
        Some(r) => (r, true),
        None => (name, false),
    };
    let (group, point) = rest.rsplit_once('.')?;
    let (a, b) = point.split_once('_')?;
    Some(PairCase {
        group,
        signaler: Side::parse(a)?,
        waiter: Side::parse(b)?,
        runtime,
    })
}

/// A pair case in its matrix: signaler, waiter, name.
type PairCell<'a> = (Side, Side, &'a str);

/// Longer lists of changes against the baseline start folded.
const FOLD_AFTER: usize = 30;

/// A result as the page's script shows it on click.
#[derive(Serialize)]
struct Detail<'a> {
    board: &'a str,
    #[serde(flatten)]
    result: &'a CaseResult,
    /// How the baseline judges it (regression, fixed, expected failure, flaky), if at all.
    #[serde(skip_serializing_if = "str::is_empty")]
    verdict: String,
}

/// Builds the page: sections in reading order, and the details every cell points at.
struct Builder<'a> {
    boards: &'a [BoardView<'a>],
    /// Histories of boards with several runs among `boards` (`Run::input` is a board here).
    history: &'a [crate::history::History],
    details: Vec<Detail<'a>>,
    index: BTreeMap<(usize, &'a str), usize>,
    out: String,
}

pub fn render(boards: &[BoardView]) -> String {
    render_with_history(boards, &[])
}

/// `render`, with a history section first for each board of `history` that has several
/// runs; its runs are `boards` (`Run::input`), so its cells open their details.
pub fn render_with_history(boards: &[BoardView], history: &[crate::history::History]) -> String {
    // Board text escaped and within its caps, durations plausible, whatever the journals
    // hold: the page shows the same copy the summary and JUnit do.
    let shown: Vec<State> = boards
        .iter()
        .map(|v| crate::from_board::shown(v.state))
        .collect();
    let views: Vec<BoardView> = boards
        .iter()
        .zip(&shown)
        .map(|(v, st)| BoardView {
            state: st,
            cmp: crate::from_board::shown_comparison(&v.cmp),
            link_dir: v.link_dir.clone(),
            files: v.files.clone(),
        })
        .collect();
    render_shown(&views, history)
}

fn render_shown(boards: &[BoardView], history: &[crate::history::History]) -> String {
    let mut b = Builder {
        boards,
        history,
        details: Vec::new(),
        index: BTreeMap::new(),
        out: String::new(),
    };
    for (bi, v) in boards.iter().enumerate() {
        for r in v.state.ordered_results() {
            b.index.insert((bi, r.case.as_str()), b.details.len());
            b.details.push(Detail {
                board: &v.state.board,
                result: r,
                verdict: verdict(&v.cmp, &r.case),
            });
        }
    }
    b.header();
    b.history();
    b.attention();
    b.driver_messages();
    b.board_cards();
    b.matrices();
    b.flagged();
    b.all_cases();
    let data = serde_json::to_string(&b.details).unwrap_or_else(|_| "[]".into());
    let _ = write!(
        b.out,
        "<div id=\"details\" hidden><strong id=\"d-title\"></strong>\
         <button id=\"d-close\" type=\"button\" style=\"float:right\">close</button>\
         <table class=\"kv\" id=\"d-kv\"></table></div>\n\
         <script type=\"application/json\" id=\"data\">{}</script>",
        script_json(&data)
    );
    let names: Vec<&str> = boards.iter().map(|v| v.state.board.as_str()).collect();
    page(
        &format!("hil results: {}", names.join(", ")),
        &b.out,
        SCRIPT,
    )
}

fn verdict(cmp: &Comparison, case: &str) -> String {
    if let Some(l) = cmp.lost(case) {
        return format!("REGRESSION: {}", l.describe());
    }
    if let Some((_, now)) = cmp.newly_covered.iter().find(|r| r.0 == case) {
        return format!("newly covered: {now}, not-supported in the baseline");
    }
    if let Some((_, want, got)) = cmp.regressions.iter().find(|r| r.0 == case) {
        let want = want.map(|w| w.as_str()).unwrap_or("pass");
        return format!("REGRESSION: {got}, expected {want}");
    }
    if let Some((_, was)) = cmp.fixes.iter().find(|r| r.0 == case) {
        return format!("fixed: passes, the baseline expects {was}");
    }
    if let Some((_, n)) = cmp.flaky.iter().find(|r| r.0 == case) {
        return format!("flaky: passed after failing {n} time(s)");
    }
    if cmp.expected_failures.iter().any(|c| c == case) {
        return "expected failure (baseline)".into();
    }
    String::new()
}

/// A short mark inside a coloured cell, so outcomes read without colour too.
fn mark(o: Outcome) -> &'static str {
    crate::outcomes::mark(Some(o))
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

fn obs<'r>(r: &'r CaseResult, k: &str) -> &'r str {
    r.observations
        .iter()
        .find(|o| o.key == k)
        .map(|o| o.value.as_str())
        .unwrap_or("")
}

impl<'a> Builder<'a> {
    /// Attributes of a clickable element showing case `case` of board `bi`.
    fn cell_attrs(&self, bi: usize, case: &str) -> String {
        let st = self.boards[bi].state;
        match self.index.get(&(bi, case)) {
            Some(&k) => {
                let r = self.details[k].result;
                let mut title = format!("{}: {}", r.case, r.outcome);
                if !r.message.is_empty() {
                    title.push_str(" — ");
                    title.push_str(&r.message.chars().take(300).collect::<String>());
                }
                if self.boards.len() > 1 {
                    title = format!("{} · {title}", st.board);
                }
                format!("data-k=\"{k}\" title=\"{}\"", esc(&title))
            }
            None => format!(
                "data-case=\"{}\" title=\"{}\"",
                esc(case),
                esc(&format!("{case}: no result (run unfinished)"))
            ),
        }
    }

    fn header(&mut self) {
        let names: Vec<String> = self
            .boards
            .iter()
            .map(|v| format!("<code>{}</code>", esc(&v.state.board)))
            .collect();
        let _ = write!(
            self.out,
            "<h1>hil results</h1><p class=\"muted\">{} board(s): {} · written by hil-run {} · \
             click any coloured cell for its details</p>\n<p class=\"legend\">",
            self.boards.len(),
            names.join(", "),
            esc(env!("CARGO_PKG_VERSION"))
        );
        for o in Outcome::ALL {
            let _ = write!(
                self.out,
                "<span class=\"chip {}\">{} {}</span>",
                crate::outcomes::class(Some(o)),
                mark(o),
                o
            );
        }
        self.out.push_str("</p>\n");
    }

    /// What changed from run to run, for boards given several times (`hil-run report`).
    fn history(&mut self) {
        let several: Vec<&crate::history::History> =
            self.history.iter().filter(|h| h.runs.len() > 1).collect();
        if several.is_empty() {
            return;
        }
        self.out.push_str(
            "<h2 id=\"history\">History</h2>\n<p class=\"muted\">Runs of one board in start \
             order: what the last run changed, the facts that changed, and each case whose \
             outcome was not constant, with the run its outcome now first appeared in.</p>\n",
        );
        let cell = |bi: usize, case: &str| match self.boards.get(bi) {
            Some(_) => self.cell_attrs(bi, case),
            None => String::new(),
        };
        let sections: String = several
            .iter()
            .map(|h| crate::history::html(h, &cell))
            .collect();
        self.out.push_str(&sections);
    }

    /// Regressions, fixes and flaky cases of every board, before anything else.
    fn attention(&mut self) {
        self.out
            .push_str("<h2 id=\"changes\">Against the baseline</h2>\n");
        // What the board is now that it was not when the baseline was made.
        for v in self
            .boards
            .iter()
            .filter(|v| !v.cmp.fact_changes.is_empty())
        {
            let items: String = v
                .cmp
                .fact_changes
                .iter()
                .map(|c| {
                    format!(
                        "<li><code>{}</code>: {} → <b>{}</b></li>",
                        esc(&c.key),
                        esc(&c.then),
                        esc(&c.now)
                    )
                })
                .collect();
            let _ = writeln!(
                self.out,
                "<p>Board {} differs from its baseline:</p><ul class=\"facts-changed\">{items}</ul>",
                esc(&v.state.board)
            );
        }
        let mut rows = String::new();
        let mut n_rows = 0;
        for (bi, v) in self.boards.iter().enumerate() {
            let mut row = |kind: &str, case: &str, what: String| {
                n_rows += 1;
                let outcome = self
                    .index
                    .get(&(bi, case))
                    .map(|&k| self.details[k].result.outcome);
                let _ = write!(
                    rows,
                    "<tr><td>{}</td><td>{}</td><td><span class=\"chip {} clickable\" {}>{}</span></td>\
                     <td><code>{}</code></td><td>{}</td></tr>",
                    esc(&v.state.board),
                    esc(kind),
                    crate::outcomes::class(outcome),
                    self.cell_attrs(bi, case),
                    esc(outcome.map_or("none", Outcome::as_str)),
                    esc(case),
                    esc(&what)
                );
            };
            // Coverage first: a run that tests less is not a green run.
            for l in &v.cmp.coverage_lost {
                row("coverage lost", &l.case, l.describe());
            }
            for (case, want, got) in &v.cmp.regressions {
                let want = want.map(|w| w.as_str()).unwrap_or("pass");
                row("regression", case, format!("{got}, expected {want}"));
            }
            for (case, now) in &v.cmp.newly_covered {
                row(
                    "newly covered",
                    case,
                    format!("{now}; not-supported in the baseline"),
                );
            }

            for (case, was) in &v.cmp.fixes {
                row("fixed", case, format!("passes; the baseline expects {was}"));
            }
            for (case, n) in &v.cmp.flaky {
                row("flaky", case, format!("passed after failing {n} time(s)"));
            }
            for c in v.state.remaining() {
                row(
                    "unfinished",
                    &c.name,
                    "no result: `hil-run --resume`".into(),
                );
            }
        }
        if rows.is_empty() {
            self.out.push_str(
                "<p>No regression, coverage lost, fix, flaky or unfinished case (without <code>--baseline</code> \
                 every fail, crash and timeout is a regression).</p>\n",
            );
        } else {
            // A long list (a new driver, no baseline yet) is folded, so the matrices stay near.
            let open = if n_rows <= FOLD_AFTER { " open" } else { "" };
            let _ = writeln!(
                self.out,
                "<p class=\"muted\">Without <code>--baseline</code> every fail, crash and timeout \
                 is a regression.</p><details{open}><summary>{n_rows} case(s)</summary>\
                 <table class=\"list\"><tr><th>board</th><th>what</th>\
                 <th>outcome</th><th>case</th><th>detail</th></tr>{rows}</table></details>"
            );
        }
    }

    /// GPU driver lines in no case's result (logged while no case ran, or seen only in a
    /// parallel attempt), next to the regressions: they fail the run unless expected.
    fn driver_messages(&mut self) {
        if self
            .boards
            .iter()
            .all(|v| v.state.driver_messages.is_empty())
        {
            return;
        }
        let mut rows = String::new();
        for v in self.boards {
            for m in &v.state.driver_messages {
                let expected = if v.cmp.driver_messages.contains(m) {
                    "no"
                } else {
                    "yes"
                };
                let _ = write!(
                    rows,
                    "<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
                    esc(&v.state.board),
                    esc(&m.line),
                    esc(&m.when),
                    expected
                );
            }
        }
        let _ = writeln!(
            self.out,
            "<h2 id=\"driver-messages\">Driver messages outside any case</h2>\n\
             <p class=\"muted\">GPU driver lines no case's result holds; each fails the run \
             unless the baseline expects it.</p><table class=\"list\"><tr><th>board</th>\
             <th>line</th><th>seen</th><th>expected</th></tr>{rows}</table>"
        );
    }

    fn board_cards(&mut self) {
        self.out
            .push_str("<h2 id=\"boards\">Boards</h2>\n<div class=\"boards\">\n");
        for v in self.boards {
            let st = v.state;
            let prop = |k: &str| crate::summary::fact(st, k).to_string();
            let _ = write!(
                self.out,
                "<div class=\"board\"><h3>{}</h3><table class=\"kv\">",
                esc(&st.board)
            );
            let mut kv = |k: &str, val: &str| {
                let _ = write!(
                    self.out,
                    "<tr><td>{}</td><td>{}</td></tr>",
                    esc(k),
                    esc(val)
                );
            };
            if st.started_unix > 0 {
                kv("started", &utc(st.started_unix));
            }
            kv("arch", &prop("arch"));
            kv("driver", &prop("driver.version"));
            kv("CUDA", &prop("cuda.version"));
            kv("runtime (cudart)", &prop("cudart.version"));
            let devices: Vec<String> = (0..)
                .map_while(|i| {
                    st.facts
                        .as_ref()
                        .and_then(|f| f.properties.get(&format!("cuda.device.{i}.name")))
                        .map(|n| format!("dev{i} {n}"))
                })
                .collect();
            if !devices.is_empty() {
                kv("devices", &devices.join(", "));
            }
            if let Some(f) = &st.facts {
                kv("suite", &f.suite_version);
                for (backend, imp) in &f.implementations {
                    kv(backend, imp);
                }
            }
            // What the results were produced under: settings changed from their defaults.
            let settings = crate::summary::settings_changed(st);
            if !settings.is_empty() {
                kv("settings", &settings.join(", "));
            }
            self.out.push_str("</table><p>");
            for (o, n) in crate::outcomes::counts(st) {
                let _ = write!(
                    self.out,
                    "<span class=\"chip {}\">{} {n}</span>",
                    crate::outcomes::class(Some(o)),
                    o
                );
            }
            let _ = write!(
                self.out,
                "<span class=\"muted\">{} of {} planned</span></p><p>",
                st.results.len(),
                st.cases.len()
            );
            let links: Vec<String> = v
                .files
                .iter()
                .map(|f| format!("<a href=\"{}\">{}</a>", esc(&v.link(f)), esc(f)))
                .collect();
            let _ = writeln!(self.out, "{}</p></div>", links.join(" · "));
        }
        self.out.push_str("</div>\n");
    }

    /// For each pair table (`<table>.<row>`): each board's signaler × waiter matrix, the
    /// driver API and the runtime API side by side.
    fn matrices(&mut self) {
        // group -> (board, runtime) -> cases; groups in the order they first appear.
        let mut order: Vec<&str> = Vec::new();
        let mut groups: BTreeMap<&str, BTreeMap<(usize, bool), Vec<PairCell>>> = BTreeMap::new();
        for (bi, v) in self.boards.iter().enumerate() {
            for c in &v.state.cases {
                let Some(p) = pair_case(&c.name) else {
                    continue;
                };
                if !groups.contains_key(p.group) {
                    order.push(p.group);
                }
                groups
                    .entry(p.group)
                    .or_default()
                    .entry((bi, p.runtime))
                    .or_default()
                    .push((p.signaler, p.waiter, c.name.as_str()));
            }
        }
        let _ = write!(
            self.out,
            "<h2 id=\"pairs\">Device pairs</h2>\n<p class=\"muted\">Rows: the signaling (or \
             exporting) side; columns: the waiting (or importing) side. Hatched: no such case \
             (the table skips that pair). {} pair table(s).</p>\n",
            order.len()
        );
        for g in order {
            let _ = write!(
                self.out,
                "<h3><code>{}</code></h3><div class=\"matrices\">",
                esc(g)
            );
            for (&(bi, runtime), cases) in &groups[g] {
                self.matrix(g, bi, runtime, cases);
            }
            self.out.push_str("</div>\n");
        }
    }

    fn matrix(&mut self, group: &str, bi: usize, runtime: bool, cases: &[PairCell]) {
        let st = self.boards[bi].state;
        let mut rows: Vec<Side> = cases.iter().map(|c| c.0).collect();
        let mut cols: Vec<Side> = cases.iter().map(|c| c.1).collect();
        rows.sort();
        rows.dedup();
        cols.sort();
        cols.dedup();
        let api = if runtime { "runtime API" } else { "driver API" };
        let caption = if self.boards.len() > 1 {
            format!("{} · {api}", st.board)
        } else {
            api.to_string()
        };
        let _ = write!(
            self.out,
            "<table class=\"matrix\" data-group=\"{}\" data-board=\"{}\" data-api=\"{}\">\
             <caption>{}</caption><tr><th title=\"signaler ↓ · waiter →\">sig ↓ wait →</th>",
            esc(group),
            esc(&st.board),
            if runtime { "runtime" } else { "driver" },
            esc(&caption)
        );
        let name = |s: Side| match s {
            Side::Cpu => "CPU".to_string(),
            Side::Dev(n) => st
                .facts
                .as_ref()
                .and_then(|f| f.properties.get(&format!("cuda.device.{n}.name")))
                .cloned()
                .unwrap_or_else(|| format!("CUDA device {n}")),
        };
        for c in &cols {
            let _ = write!(
                self.out,
                "<th title=\"{}\">{}</th>",
                esc(&name(*c)),
                c.label()
            );
        }
        self.out.push_str("</tr>");
        for r in &rows {
            let _ = write!(
                self.out,
                "<tr><th title=\"{}\">{}</th>",
                esc(&name(*r)),
                r.label()
            );
            for c in &cols {
                match cases.iter().find(|x| x.0 == *r && x.1 == *c) {
                    Some(&(_, _, case)) => {
                        let (class, text) = match self.index.get(&(bi, case)) {
                            Some(&k) => {
                                let o = self.details[k].result.outcome;
                                let regression = self.boards[bi].cmp.is_regression(case);
                                (
                                    format!(
                                        "{}{}",
                                        crate::outcomes::class(Some(o)),
                                        if regression { " regression" } else { "" }
                                    ),
                                    mark(o),
                                )
                            }
                            None => ("o-none".to_string(), "?"),
                        };
                        let _ = write!(
                            self.out,
                            "<td class=\"cell {class}\" {}>{text}</td>",
                            self.cell_attrs(bi, case)
                        );
                    }
                    None => self.out.push_str("<td class=\"empty\"></td>"),
                }
            }
            self.out.push_str("</tr>");
        }
        self.out.push_str("</table>");
    }

    fn flagged(&mut self) {
        let mut rows = String::new();
        let mut n = 0;
        for (bi, v) in self.boards.iter().enumerate() {
            for r in v
                .state
                .ordered_results()
                .into_iter()
                .filter(|r| r.outcome == Outcome::Flagged)
            {
                n += 1;
                let driver: Vec<&str> = crate::summary::DRIVER_LOG_KEYS
                    .iter()
                    .map(|k| obs(r, k))
                    .filter(|s| !s.is_empty())
                    .collect();
                let _ = write!(
                    rows,
                    "<tr><td>{}</td><td><code class=\"clickable\" {}>{}</code></td><td>{}</td>\
                     <td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    esc(&v.state.board),
                    self.cell_attrs(bi, &r.case),
                    esc(&r.case),
                    esc(obs(r, key::OBSERVED.as_str())),
                    esc(obs(r, key::DETAIL.as_str())),
                    esc(&crate::summary::health_cell(
                        obs(r, key::HEALTH_AFTER.as_str()),
                        obs(r, key::HEALTH_SHARED_WITH.as_str())
                    )),
                    esc(&driver.join("\n")),
                    esc(obs(r, key::UB_RULE.as_str()))
                );
            }
        }
        let _ = write!(
            self.out,
            "<h2 id=\"flagged\">Flagged scenarios ({n})</h2>\n<p class=\"muted\">Undefined \
             behaviour, run in isolation: what each board did, never judged.</p>\n"
        );
        if n > 0 {
            let _ = writeln!(
                self.out,
                "<table class=\"list\"><tr><th>board</th><th>case</th><th>observed</th>\
                 <th>detail</th><th>device health after</th><th>driver log</th>\
                 <th>undefined because</th></tr>{rows}</table>"
            );
        }
    }

    /// Every case: a row each, a column per board (the same case side by side).
    fn all_cases(&mut self) {
        let mut names: Vec<&str> = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        for v in self.boards {
            for c in &v.state.cases {
                if seen.insert(c.name.as_str()) {
                    names.push(&c.name);
                }
            }
        }
        let _ = write!(
            self.out,
            "<h2 id=\"cases\">All cases ({})</h2>\n<input class=\"filter\" id=\"filter\" \
             placeholder=\"filter: part of a case name\"> <label><input type=\"checkbox\" \
             id=\"not-pass\"> only cases that did not pass everywhere</label>\n\
             <table class=\"list\" id=\"cases-table\"><tr><th>case</th>",
            names.len()
        );
        for v in self.boards {
            let _ = write!(self.out, "<th>{}</th>", esc(&v.state.board));
        }
        self.out.push_str("<th>message</th></tr>");
        for name in names {
            let mut cells = String::new();
            let mut all_pass = true;
            let mut message = String::new();
            for (bi, v) in self.boards.iter().enumerate() {
                let r = self.index.get(&(bi, name)).map(|&k| self.details[k].result);
                let o = r.map(|r| r.outcome);
                all_pass &= o == Some(Outcome::Pass);
                if message.is_empty() {
                    if let Some(r) = r.filter(|r| !r.message.is_empty()) {
                        message = first_line(&r.message).chars().take(200).collect();
                        if self.boards.len() > 1 {
                            message = format!("{}: {message}", v.state.board);
                        }
                    }
                }
                let _ = write!(
                    cells,
                    "<td><span class=\"chip {} clickable\" {}>{}</span></td>",
                    crate::outcomes::class(o),
                    self.cell_attrs(bi, name),
                    esc(o.map_or("none", Outcome::as_str))
                );
            }
            let _ = write!(
                self.out,
                "<tr data-name=\"{}\" data-pass=\"{}\"><td><code>{}</code></td>{cells}<td>{}</td></tr>",
                esc(name),
                all_pass,
                esc(name),
                esc(&message)
            );
        }
        self.out.push_str("</table>\n");
    }
}

/// `2026-11-27 07:55 UTC` from Unix seconds (civil-from-days, no calendar crate needed).
pub(crate) fn utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60
    )
}

/// Details on click, the case filter. Text from results only ever goes in as `textContent`.
const SCRIPT: &str = r#"
(function(){
var data=JSON.parse(document.getElementById('data').textContent);
var panel=document.getElementById('details'),kv=document.getElementById('d-kv'),sel=null;
function row(k,v){if(v===undefined||v===null||v==='')return;var tr=document.createElement('tr');
var a=document.createElement('td');a.textContent=k;var b=document.createElement('td');
var p=document.createElement('pre');p.textContent=String(v);b.appendChild(p);tr.appendChild(a);tr.appendChild(b);kv.appendChild(tr);}
function show(el){var d=data[+el.dataset.k];if(!d)return;
if(sel)sel.classList.remove('selected');sel=el;el.classList.add('selected');
document.getElementById('d-title').textContent=d.board+' · '+d.case;kv.textContent='';
row('outcome',d.outcome);row('baseline',d.verdict);row('duration',d.duration_s.toFixed(3)+' s');
row('message',d.message);row('implementation',d.implementation);
(d.observations||[]).forEach(function(o){row(o.key,o.value);});
(d.earlier||[]).forEach(function(e,i){row('attempt '+(i+1),e.outcome+(e.message?': '+e.message:''));});
panel.hidden=false;}
document.addEventListener('click',function(ev){var el=ev.target.closest('[data-k]');if(el)show(el);});
document.getElementById('d-close').addEventListener('click',function(){panel.hidden=true;if(sel)sel.classList.remove('selected');});
var f=document.getElementById('filter'),np=document.getElementById('not-pass');
function filter(){var q=f.value.toLowerCase(),only=np.checked;
document.querySelectorAll('#cases-table tr[data-name]').forEach(function(tr){
var hide=(q&&tr.dataset.name.toLowerCase().indexOf(q)<0)||(only&&tr.dataset.pass==='true');tr.hidden=hide;});}
f.addEventListener('input',filter);np.addEventListener('change',filter);
// report.html#case=NAME opens that case's details (a link to one result).
var m=/^#case=(.+)$/.exec(location.hash);if(m){var want=decodeURIComponent(m[1]);
var el=Array.prototype.find.call(document.querySelectorAll('[data-k]'),function(e){return data[+e.dataset.k].case===want;});
if(el){show(el);el.scrollIntoView();}}
})();
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_result as result;
    use hil_proto::Observation;

    fn state(board: &str, results: Vec<CaseResult>) -> State {
        let mut st = State {
            board: board.into(),
            ..State::default()
        };
        for r in results {
            st.cases.push(crate::test_case(&r.case));
            st.results.insert(r.case.clone(), r);
        }
        st
    }

    fn view<'a>(st: &'a State) -> BoardView<'a> {
        BoardView {
            state: st,
            cmp: crate::baseline::compare(None, st),
            link_dir: href_segment(&st.board),
            files: vec!["junit.xml".into(), "suite-1.log".into()],
        }
    }

    #[test]
    fn pair_cases_are_recognised_by_their_last_name_part() {
        let p = pair_case("nvscisync.pairs.roundtrip.cpu_dev1.runtime").unwrap();
        assert_eq!(
            p,
            PairCase {
                group: "nvscisync.pairs.roundtrip",
                signaler: Side::Cpu,
                waiter: Side::Dev(1),
                runtime: true
            }
        );
        assert!(pair_case("vulkan.import.binary.dev0_dev10").is_some());
        assert!(pair_case("nvscisync.pairs.reconcile.cpu_cpu").is_some());
        for not in [
            "cuda.probe.identity.dev0",
            "vulkan.import_errors.closed_fd.dev0.runtime",
            "t.a_b",
            "t.dev_dev0",
            "host.info",
        ] {
            assert_eq!(pair_case(not), None, "{not}");
        }
    }

    #[test]
    fn text_from_results_never_becomes_markup() {
        let evil =
            "</script><script>document.title='pwned'</script><img src=x onerror=alert(1)> \"'&";
        let mut r = result("t.evil.dev0_dev1", Outcome::Fail, evil);
        r.observations.push(Observation::new("observed", evil));
        r.implementation = evil.into();
        let mut f = result("t.ub.cpu_cpu", Outcome::Flagged, evil);
        f.observations.push(Observation::new("health_after", evil));
        let mut st = state("b<1>", vec![r, f]);
        st.driver_messages.push(crate::journal::DriverMessage {
            line: evil.into(),
            seen_unix: 0,
            cases: vec![],
            when: evil.into(),
        });
        let html = render(&[view(&st)]);
        assert!(html.contains("id=\"driver-messages\""), "{html}");
        // Exactly the page's own two scripts and one data block, nothing injected.
        assert_eq!(html.matches("<script").count(), 3, "{html}");
        assert_eq!(html.matches("</script>").count(), 3);
        assert!(!html.contains("<img"), "{html}");
        assert!(html.contains("&lt;/script&gt;&lt;script&gt;"));
        assert!(html.contains("b&lt;1&gt;"));
        // The data block is JSON with every `<` escaped, and reads back to the same text.
        let start = html.find("id=\"data\">").unwrap() + "id=\"data\">".len();
        let json = &html[start..start + html[start..].find("</script>").unwrap()];
        assert!(!json.contains('<'));
        let v: serde_json::Value = serde_json::from_str(json).unwrap();
        assert_eq!(v[0]["message"], evil);
    }

    #[test]
    fn a_pair_table_is_one_matrix_per_api_with_a_cell_per_case() {
        let mut rs = Vec::new();
        for (a, b) in [
            ("cpu", "cpu"),
            ("cpu", "dev0"),
            ("dev0", "cpu"),
            ("dev0", "dev0"),
        ] {
            rs.push(result(&format!("t.pairs.x.{a}_{b}"), Outcome::Pass, ""));
            if a != "cpu" || b != "cpu" {
                rs.push(result(
                    &format!("t.pairs.x.{a}_{b}.runtime"),
                    Outcome::Fail,
                    "boom",
                ));
            }
        }
        rs.push(result("t.single.dev0", Outcome::Pass, ""));
        let st = state("one", rs);
        let html = render(&[view(&st)]);
        assert_eq!(html.matches("<table class=\"matrix\"").count(), 2);
        assert_eq!(html.matches("<td class=\"cell o-pass\"").count(), 4);
        // runtime: cpu_cpu has no runtime variant, so one hatched cell.
        assert_eq!(
            html.matches("<td class=\"cell o-fail regression\"").count(),
            3
        );
        assert_eq!(html.matches("<td class=\"empty\">").count(), 1);
        assert!(
            html.contains("href=\"one/junit.xml\"") && html.contains("href=\"one/suite-1.log\"")
        );
    }

    #[test]
    fn boards_of_a_merged_run_sit_side_by_side() {
        let a = state("a", vec![result("t.p.dev0_dev0", Outcome::Pass, "")]);
        let b = state("b", vec![result("t.p.dev0_dev0", Outcome::Crash, "died")]);
        let html = render(&[view(&a), view(&b)]);
        assert!(html.contains("data-group=\"t.p\" data-board=\"a\""));
        assert!(html.contains("data-group=\"t.p\" data-board=\"b\""));
        // One row in the all-cases table, a column per board.
        assert_eq!(html.matches("<tr data-name=\"t.p.dev0_dev0\"").count(), 1);
        assert!(html.contains("b: died"));
    }

    #[test]
    fn links_are_relative_to_the_report() {
        let p = Path::new;
        assert_eq!(relative_link(p("/r"), p("/r/orin 01")), "orin%2001");
        assert_eq!(relative_link(p("/out"), p("/runs/a")), "../runs/a");
        assert_eq!(relative_link(p("/r"), p("/r")), "");
    }

    #[test]
    fn dates_are_utc() {
        assert_eq!(utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc(1_795_501_727), "2026-11-24 06:28 UTC");
    }
}
