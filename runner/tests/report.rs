//! `results/report.html` in a real headless browser, and the progress `hil-run` shows on a
//! terminal, in a CI log and with `-q`.

mod common;

#[path = "../../report/testing/browser.rs"]
mod browser;

use common::{bin, hil_run_local, needs, scratch, write_table};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// `harness = false` (libtest-mimic): every test is listed here; one whose need is
/// missing is listed ignored with the reason (report/testing/needs.rs has the rule).
fn main() {
    needs::main(vec![
        needs::needing(
            "the_report_opens_in_a_browser_with_a_cell_per_pair_case_and_no_errors",
            browser::missing(),
            the_report_opens_in_a_browser_with_a_cell_per_pair_case_and_no_errors,
        ),
        needs::test(
            "progress_is_live_on_a_terminal_plain_in_a_log_and_silent_with_q",
            progress_is_live_on_a_terminal_plain_in_a_log_and_silent_with_q,
        ),
        needs::test(
            "hil_run_report_puts_runs_side_by_side_from_their_journals",
            hil_run_report_puts_runs_side_by_side_from_their_journals,
        ),
    ]);
}

/// A pair table with every interesting outcome, on any machine: host self-test ops over
/// `[cpu, gpus]` × `[cpu, gpus]`, both CUDA frontends, and a flagged row whose rule is
/// markup that must stay text.
const PAIRS: &str = r#"
name: pairs
backend: host
doc: Pair cases for the report.
timeout_s: 10
cuda_api: [driver, runtime]
matrix:
  signaler: [cpu, gpus]
  waiter: [cpu, gpus]
rows:
  - id: ok
    op: selftest_ok
  - id: fails
    op: selftest_check_fails
    devices: different
  - id: ub
    op: selftest_ok
    ub: "report test: <img src=x onerror=\"document.documentElement.dataset.pwned=1\"></script><b>bold</b>"
    matrix:
      signaler: [cpu]
      waiter: [cpu]
  - id: single
    op: selftest_ok
    matrix:
      dev: [gpus]
"#;

/// Cases of each pair table in a journal: (group, api) -> count.
fn pair_cases(journal: &Path) -> BTreeMap<(String, &'static str), usize> {
    let mut m = BTreeMap::new();
    for (case, _) in common::journal_outcomes(journal) {
        let (rest, api) = match case.strip_suffix(".runtime") {
            Some(r) => (r, "runtime"),
            None => (case.as_str(), "driver"),
        };
        let (group, point) = rest.rsplit_once('.').unwrap();
        if point.contains('_') {
            *m.entry((group.to_string(), api)).or_default() += 1;
        }
    }
    m
}

/// Cells per matrix in the browser's DOM: (group, api) -> count.
fn dom_matrices(dom: &str) -> BTreeMap<(String, &'static str), usize> {
    let mut m = BTreeMap::new();
    for table in dom.split("<table class=\"matrix\"").skip(1) {
        let table = &table[..table.find("</table>").unwrap()];
        let attr = |name: &str| {
            let at = table.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
            table[at..at + table[at..].find('"').unwrap()].to_string()
        };
        let api = if attr("data-api") == "runtime" {
            "runtime"
        } else {
            "driver"
        };
        let cells = table.matches("<td class=\"cell ").count();
        m.insert((attr("data-group"), api), cells);
    }
    m
}

fn the_report_opens_in_a_browser_with_a_cell_per_pair_case_and_no_errors() {
    let dir = scratch("report");
    let tables = write_table(&dir, "pairs.yaml", PAIRS);
    let results = dir.join("results");
    let out = hil_run_local(&results, &["--tables", tables.to_str().unwrap(), "-q"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "the `fails` row fails: {stdout}"
    );
    let report = results.join("report.html");
    assert!(
        stdout.contains(&format!("report: {}", report.display())),
        "{stdout}"
    );
    let html = std::fs::read_to_string(&report).unwrap();
    // Self-contained: nothing is loaded from anywhere (the CSP also forbids it).
    for outside in ["http://", "https://", "src=\"", "@import", "url("] {
        let n = html.matches(outside).count();
        let svg_ns = html.matches("xmlns=\"http://www.w3.org/2000/svg\"").count();
        assert!(
            n == 0 || (outside == "http://" && n == svg_ns),
            "report.html refers to something outside ({outside})"
        );
    }
    for link in [
        "local/junit.xml",
        "local/journal.jsonl",
        "local/suite-1.log",
    ] {
        assert!(
            html.contains(&format!("href=\"{link}\"")),
            "no link to {link}"
        );
        assert!(results.join(link).is_file(), "{link} links to nothing");
    }

    let chromium = browser::chromium();
    let loaded = browser::load(&chromium, &report, "", &dir.join("profile"));
    browser::assert_clean(&loaded);
    let want = pair_cases(&results.join("local/journal.jsonl"));
    assert_eq!(
        want.keys().map(|k| k.0.as_str()).collect::<Vec<_>>(),
        [
            "pairs.fails",
            "pairs.fails",
            "pairs.ok",
            "pairs.ok",
            "pairs.ub"
        ]
    );
    assert_eq!(dom_matrices(&loaded.dom), want, "one cell per pair case");
    // The flagged row's rule is shown as text, never as markup.
    let dom = &loaded.dom;
    assert!(!dom.contains("<img") && !dom.contains("<b>bold</b>") && !dom.contains("data-pwned"));
    assert!(
        dom.contains("report test: &lt;img src=x"),
        "the rule is shown"
    );

    // A link to one case opens its details.
    let one = browser::load(
        &chromium,
        &report,
        "#case=pairs.fails.dev0_dev1.runtime",
        &dir.join("profile"),
    );
    browser::assert_clean(&one);
    let details = &one.dom[one.dom.find("id=\"details\"").unwrap()..];
    assert!(
        !details.starts_with("id=\"details\" hidden"),
        "details stay hidden"
    );
    assert!(
        details.contains("local · pairs.fails.dev0_dev1.runtime")
            && details.contains("selftest: check failed on purpose"),
        "{}",
        &details[..details.len().min(1500)]
    );

    let png = dir.join("report.png");
    browser::screenshot(&chromium, &report, &png, (1280, 1600), &dir.join("profile"));
}

fn progress_is_live_on_a_terminal_plain_in_a_log_and_silent_with_q() {
    let dir = scratch("progress");
    let tables = write_table(&dir, "pairs.yaml", PAIRS);
    let t = tables.to_str().unwrap();

    // A log: a plain line for each case that did not pass, no terminal control.
    let log = hil_run_local(&dir.join("r1"), &["--tables", t]);
    let log = String::from_utf8_lossy(&log.stdout);
    assert!(!log.contains('\x1b'), "escape sequences in a log:\n{log}");
    assert!(
        log.contains("] fail          pairs.fails.dev0_dev1 ("),
        "{log}"
    );
    assert!(log.contains("selftest: check failed on purpose"), "{log}");
    assert!(
        !log.contains(" pass          "),
        "passes are counted, not listed:\n{log}"
    );

    // -q: the summary only.
    let quiet = hil_run_local(&dir.join("r2"), &["--tables", t, "-q"]);
    let quiet = String::from_utf8_lossy(&quiet.stdout);
    assert!(quiet.starts_with("\nboard local: "), "{quiet}");
    assert!(!quiet.contains("] fail "), "{quiet}");

    // A terminal (util-linux `script` gives hil-run a pseudo-terminal): a live line per
    // board, redrawn in place, with done/total and failures so far.
    let cmd = format!(
        "{} --suite {} --results {} --tables {t}",
        bin("hil-run").display(),
        bin("hil-suite").display(),
        dir.join("r3").display()
    );
    let tty = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .env("TERM", "xterm")
        .output()
        .expect("script(1) from util-linux runs");
    let tty = String::from_utf8_lossy(&tty.stdout);
    assert!(
        tty.contains("\x1b[1mlocal\x1b[0m ["),
        "no live line:\n{tty}"
    );
    assert!(
        tty.contains("\x1b[1A\r\x1b[J"),
        "the live line is not redrawn:\n{tty}"
    );
    assert!(tty.contains("\x1b[1;31m1 failing\x1b[0m"), "{tty}");
    let total = common::journal_outcomes(&dir.join("r3/local/journal.jsonl")).len();
    assert!(tty.contains(&format!("{total}/{total} ")), "{tty}");
    // The live line is gone before the summary.
    let summary = &tty[tty.rfind("board local: ").unwrap()..];
    assert!(!summary.contains("\x1b[1mlocal"), "{summary}");
}

fn hil_run_report_puts_runs_side_by_side_from_their_journals() {
    let dir = scratch("report-from");
    let tables = write_table(&dir, "pairs.yaml", PAIRS);
    let t = tables.to_str().unwrap();
    for run in ["a", "b"] {
        hil_run_local(&dir.join(run), &["--tables", t, "-q"]);
    }
    let out = dir.join("cmp/compare.html");
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    let (ja, jb) = (
        dir.join("a/local/journal.jsonl"),
        dir.join("b/local/journal.jsonl"),
    );
    let o = Command::new(bin("hil-run"))
        .arg("report")
        .args([&ja, &jb])
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let html = std::fs::read_to_string(&out).unwrap();
    // One board name twice: told apart by journal; files linked from beside each journal.
    let label = format!("local ({})", ja.display());
    assert!(html.contains(&format!("data-board=\"{label}\"")), "{label}");
    assert!(
        html.contains("href=\"../a/local/junit.xml\"")
            && html.contains("href=\"../b/local/suite-1.log\"")
    );
    assert_eq!(
        html.matches("<tr data-name=\"pairs.ok.cpu_cpu\"").count(),
        1
    );

    // An unreadable journal is a usage error, and nothing is written.
    let missing = dir.join("nope/journal.jsonl");
    let o = Command::new(bin("hil-run"))
        .arg("report")
        .arg(&missing)
        .arg("-o")
        .arg(dir.join("never.html"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("nope/journal.jsonl"));
    assert!(!dir.join("never.html").exists());
}
