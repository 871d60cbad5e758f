//! `results/report.html`: one self-contained page per run, one or many boards. What
//! changed against the baseline first, then each board's facts and counts, a signaler ×
//! waiter matrix per pair table, the flagged scenarios, and every case. Every text from
//! results is escaped (`hil_report::esc`) or travels as JSON that the page's script only
//! ever puts into the DOM as text.

use crate::baseline::Comparison;
use crate::journal::{CaseResult, State};
use hil_proto::Outcome;
use hil_report::html::{esc, page, script_json};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

mod links;
mod pairs;
mod script;
mod sections;

use links::{href_segment, relative_link};
use script::SCRIPT;

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
}

#[cfg(test)]
mod tests {
    use super::pairs::{pair_case, PairCase, Side};
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
        r.observations
            .push(Observation::new(hil_proto::key::OBSERVED, evil));
        r.implementation = evil.into();
        let mut f = result("t.ub.cpu_cpu", Outcome::Flagged, evil);
        f.observations
            .push(Observation::new(hil_proto::key::HEALTH_AFTER, evil));
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
}
