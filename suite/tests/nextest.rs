//! The suite under cargo-nextest says what ran: the cases this board cannot run and the
//! undefined-behaviour scenarios are SKIP (listed ignored: `--list --ignored` probes the
//! backends), never PASS; the counts nextest prints match what the suite itself reports.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Output};

#[path = "../../report/testing/needs.rs"]
mod needs;

/// `harness = false` (libtest-mimic): every test is listed here; one whose need is
/// missing is listed ignored with the reason (report/testing/needs.rs has the rule).
fn main() {
    needs::main(vec![needs::needing(
        "under_nextest_what_the_board_cannot_run_and_ub_scenarios_are_skipped_not_passed",
        nextest_missing(),
        under_nextest_what_the_board_cannot_run_and_ub_scenarios_are_skipped_not_passed,
    )]);
}

fn cargo() -> Command {
    let mut c = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    c
}

fn nextest_missing() -> Option<String> {
    let ok = cargo()
        .args(["nextest", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    (!ok).then(|| "cargo-nextest: cargo install --locked cargo-nextest".to_string())
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The number before `word` in nextest's summary line (`… 1 passed, 255 skipped`).
fn count(summary: &str, word: &str) -> usize {
    let words: Vec<&str> = summary
        .split(|c: char| c == ',' || c.is_whitespace())
        .collect();
    words
        .windows(2)
        .find(|w| w[1] == word)
        .and_then(|w| w[0].parse().ok())
        .unwrap_or(0)
}

fn under_nextest_what_the_board_cannot_run_and_ub_scenarios_are_skipped_not_passed() {
    let dir = std::env::temp_dir().join(format!("hil-test-{}-nextest", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // What the suite itself reports for every case, run the usual way.
    let events = dir.join("events.jsonl");
    let _ = std::fs::remove_file(&events);
    let suite = PathBuf::from(env!("CARGO_BIN_EXE_hil-suite"));
    let direct = Command::new(&suite)
        .arg("--events")
        .arg(&events)
        .arg("-q")
        .output()
        .unwrap();
    let mut outcome = BTreeMap::new();
    for line in std::fs::read_to_string(&events).unwrap().lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        if v["event"] == "result" {
            outcome.insert(
                v["case"].as_str().unwrap().to_string(),
                v["outcome"].as_str().unwrap().to_string(),
            );
        }
    }
    let listing = Command::new(&suite).arg("--list-json").output().unwrap();
    let mut ub = BTreeMap::new();
    for line in String::from_utf8_lossy(&listing.stdout).lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        ub.insert(
            v["name"].as_str().unwrap().to_string(),
            !v["ub"].is_null() && v["ub"] != false,
        );
    }
    assert!(!outcome.is_empty(), "{}", text(&direct));
    assert_eq!(outcome.len(), ub.len(), "a result for every case");

    // What nextest lists as ignored (it shows those as SKIP).
    let list = cargo()
        .args([
            "nextest",
            "list",
            "-p",
            "hil-suite",
            "--test",
            "conformance",
        ])
        .args(["--message-format", "json"])
        .output()
        .unwrap();
    assert!(list.status.success(), "{}", text(&list));
    let json: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    let cases = &json["rust-suites"]["hil-suite::conformance"]["testcases"];
    let cases = cases.as_object().unwrap_or_else(|| panic!("{json}"));
    assert_eq!(cases.len(), outcome.len(), "nextest lists every case");
    let mut skipped = 0;
    for (name, c) in cases {
        let ignored = c["ignored"] == true;
        let o = outcome[name].as_str();
        if ub[name] {
            assert!(
                ignored,
                "{name}: a UB scenario is flagged, never a pass: skip it"
            );
        } else if o == "pass" || o == "fail" {
            assert!(!ignored, "{name} ran ({o}) but is listed ignored");
        } else {
            // Not-supported: from the probe the listing makes (on boards with
            // NvSciSync, some rows are not-supported by their op, which nextest runs).
            assert!(ignored || o == "not-supported", "{name}: {o}");
        }
        skipped += usize::from(ignored);
    }
    let no_gpu = outcome
        .iter()
        .filter(|(n, _)| n.starts_with("cuda."))
        .all(|(_, o)| o == "not-supported");
    if no_gpu {
        // Every case but the host's: the issue this guards was 0 skipped of 256.
        assert!(
            skipped >= 200,
            "{skipped} skipped on a machine without a GPU"
        );
    }

    // The run: nextest's counts are the listing's.
    let run = cargo()
        .args(["nextest", "run", "-p", "hil-suite", "--test", "conformance"])
        .args(["--no-fail-fast", "--color", "never"])
        .output()
        .unwrap();
    let all = text(&run);
    let summary = all
        .lines()
        .find(|l| l.trim_start().starts_with("Summary"))
        .unwrap_or_else(|| panic!("no summary: {all}"));
    assert_eq!(count(summary, "skipped"), skipped, "{summary}");
    let failed = outcome
        .iter()
        .filter(|(n, o)| !ub[*n] && !matches!(o.as_str(), "pass" | "not-supported"))
        .count();
    assert_eq!(count(summary, "failed"), failed, "{summary}");
    assert_eq!(
        count(summary, "passed"),
        cases.len() - skipped - failed,
        "{summary}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
