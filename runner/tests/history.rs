//! A board's history across nights: three `--board model` runs whose middle one presents
//! NvSciSync 2.5, shown by `hil-run history` (text) and `hil-run report` (HTML, in a real
//! headless browser).

mod common;

#[path = "../../report/testing/browser.rs"]
mod browser;

use common::{bin, needs, scratch, text};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// `harness = false` (libtest-mimic): a test whose need is missing is listed ignored
/// with the reason (report/testing/needs.rs has the rule).
fn main() {
    needs::main(vec![
        needs::test(
            "three_nights_show_the_rows_that_went_not_supported_and_back_and_the_version_change",
            three_nights_show_the_rows_that_went_not_supported_and_back_and_the_version_change,
        ),
        needs::needing(
            "the_history_section_opens_in_a_browser_without_errors",
            browser::missing(),
            the_history_section_opens_in_a_browser_without_errors,
        ),
    ]);
}

/// The row the model gates on NvSciSync 2.8: pass at 2.8, not-supported at 2.5.
const GATED: &str = "nvscisync.keys.peer_hw_engine_array";

/// Nights of one board: (directory, NvSciSync version, start: 02:00 UTC that day).
const NIGHTS: [(&str, &str, u64); 3] = [
    ("2026-12-01", "2.8", 1_796_090_400),
    ("2026-12-02", "2.5", 1_796_176_800),
    ("2026-12-03", "2.8", 1_796_263_200),
];

/// `hil-run --board model` into `nights/<night>`, the model presenting `version`; the
/// journal's start is set to the night's (runs here start within a second of each other).
fn night(nights: &Path, (name, version, start): (&str, &str, u64)) -> PathBuf {
    let o = Command::new(bin("hil-run"))
        .arg("--suite")
        .arg(bin("hil-suite"))
        .arg("--results")
        .arg(nights.join(name))
        .args(["--board", "model", "-q"])
        .env("HIL_NVSCISYNC_MODEL", common::model_library())
        .env("HIL_NVSCISYNC_MODEL_VERSION", version)
        .env_remove("HIL_NVSCISYNC_LIB")
        .env_remove("LD_LIBRARY_PATH")
        .output()
        .expect("hil-run starts");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let journal = nights.join(name).join("model/journal.jsonl");
    let lines: Vec<String> = std::fs::read_to_string(&journal)
        .unwrap()
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            if v["record"] == "plan" {
                v["started_unix"] = start.into();
            }
            v.to_string()
        })
        .collect();
    std::fs::write(&journal, lines.join("\n") + "\n").unwrap();
    journal
}

fn three_nights(dir: &Path) -> (PathBuf, Vec<PathBuf>) {
    let nights = dir.join("nights");
    let journals = NIGHTS.iter().map(|n| night(&nights, *n)).collect();
    (nights, journals)
}

fn hil_run(args: &[&Path]) -> Output {
    Command::new(bin("hil-run")).args(args).output().unwrap()
}

fn stdout(o: &Output) -> String {
    assert_eq!(o.status.code(), Some(0), "{}", text(o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn three_nights_show_the_rows_that_went_not_supported_and_back_and_the_version_change() {
    let dir = scratch("history");
    let (nights, j) = three_nights(&dir);
    let history = Path::new("history");

    // Given out of order, the runs are ordered by their start.
    let t = stdout(&hil_run(&[history, &j[2], &j[0], &j[1]]));
    for (i, (name, _, _)) in NIGHTS.iter().enumerate() {
        let source = nights.join(name).join("model/journal.jsonl");
        assert!(
            t.contains(&format!(
                "  run {} ({name} 02:00 UTC)  232 of 232 planned: ",
                i + 1
            )) && t.contains(&format!("  {}\n", source.display())),
            "run {} is not {name}:\n{t}",
            i + 1
        );
    }
    for want in [
        "board model: 3 run(s), oldest first\n",
        "run 3 (2026-12-03 02:00 UTC) against run 2 (2026-12-02 02:00 UTC):\n\
         \x20 coverage gained (1):\n\
         \x20   nvscisync.keys.peer_hw_engine_array  not-supported → pass\n\
         facts that changed:\n",
        "  nvscisync.version: 2.8 → 2.5 in run 2 → 2.8 in run 3\n",
        "  setting.HIL_NVSCISYNC_MODEL_VERSION: 2.8 → 2.5 in run 2 → 2.8 in run 3\n",
        "cases whose outcome changed (1), a mark per run, oldest first",
        "  ✓–✓  nvscisync.keys.peer_hw_engine_array  pass since run 3 (2026-12-03 02:00 UTC), \
         after not-supported in run 2\n",
    ] {
        assert!(t.contains(want), "`{want}` not in\n{t}");
    }
    // No other fact changed: the driver, libraries, suite and tables are the same.
    assert_eq!(t.matches(" in run 2 → ").count(), 2, "{t}");

    // A directory of nightly results: every journal under it, the same history.
    assert_eq!(stdout(&hil_run(&[history, &nights])), t);

    // The night the row went away: coverage lost, with the reason the board gave.
    let lost = stdout(&hil_run(&[history, &j[0], &j[1]]));
    assert!(
        lost.contains(&format!(
            "  coverage lost (1):\n    {GATED}  pass → not-supported: needs NvSciSync 2.8"
        )),
        "{lost}"
    );
    assert!(
        lost.contains(&format!(
            "  ✓–  {GATED}  not-supported since run 2 (2026-12-02 02:00 UTC), after pass in run 1\n"
        )),
        "{lost}"
    );

    // The report of the nights: a history section before everything else.
    let out = dir.join("history.html");
    let o = Command::new(bin("hil-run"))
        .arg("report")
        .arg(&nights)
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let html = std::fs::read_to_string(&out).unwrap();
    let section = &html[html
        .find("<h2 id=\"history\">")
        .expect("no history section")
        ..html.find("<h2 id=\"changes\">").unwrap()];
    assert!(section.contains("<section class=\"history\" data-board=\"model\"><h3>model: 3 runs"));
    let row = &section[section
        .find(&format!("<tr data-case=\"{GATED}\">"))
        .expect("the gated row in the strip")..];
    let row = &row[..row.find("</tr>").unwrap()];
    let cells: Vec<&str> = row
        .split("<td class=\"cell ")
        .skip(1)
        .map(|c| &c[..c.find('"').unwrap()])
        .collect();
    assert_eq!(cells, ["o-pass", "o-not-supported", "o-pass"], "{row}");
    assert!(
        row.contains("pass since run 3 (2026-12-03 02:00 UTC), after not-supported in run 2</td>")
    );
    assert!(
        section.contains(
            "<li data-fact=\"nvscisync.version\"><code>nvscisync.version</code>: <b>2.8</b> → \
             <b>2.5</b> in run 2 → <b>2.8</b> in run 3</li>"
        ),
        "{section}"
    );
    assert!(section.contains(&format!(
        "<tr data-change=\"coverage gained\"><td>coverage gained</td><td><code>{GATED}</code>"
    )));
    // One board given once: no history.
    let one = dir.join("one.html");
    let o = Command::new(bin("hil-run"))
        .arg("report")
        .arg(&j[0])
        .arg("-o")
        .arg(&one)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(!std::fs::read_to_string(&one)
        .unwrap()
        .contains("id=\"history\""));

    // A directory without results is a usage error.
    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let o = hil_run(&[history, &empty]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("no journal.jsonl under it"),
        "{}",
        text(&o)
    );
}

fn the_history_section_opens_in_a_browser_without_errors() {
    let dir = scratch("history-browser");
    let (nights, _) = three_nights(&dir);
    let out = dir.join("history.html");
    let o = Command::new(bin("hil-run"))
        .arg("report")
        .arg(&nights)
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let chromium = browser::chromium();
    let loaded = browser::load(&chromium, &out, "", &dir.join("profile"));
    browser::assert_clean(&loaded);
    let dom = &loaded.dom;
    assert!(dom.contains("<section class=\"history\" data-board=\"model\">"));
    assert!(dom.contains(&format!("<tr data-case=\"{GATED}\">")));

    // A cell of the strip opens that night's result.
    let one = browser::load(
        &chromium,
        &out,
        &format!("#case={GATED}"),
        &dir.join("profile"),
    );
    browser::assert_clean(&one);
    let details = &one.dom[one.dom.find("id=\"details\"").unwrap()..];
    assert!(
        !details.starts_with("id=\"details\" hidden"),
        "details stay hidden"
    );
    assert!(
        details.contains(GATED) && details.contains("this library is NvSciSync 2.5"),
        "{}",
        &details[..details.len().min(1500)]
    );
    browser::screenshot(
        &chromium,
        &out,
        &dir.join("history.png"),
        (1280, 1200),
        &dir.join("profile"),
    );
}
