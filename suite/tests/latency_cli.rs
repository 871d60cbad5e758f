//! `hil-latency` as a user meets it: help that teaches, usage errors that exit 2, and on a
//! machine without what it needs, the probed reason with exit 3 instead of a panic.

use std::process::{Command, Output};

#[path = "../../report/testing/needs.rs"]
mod needs;

/// `harness = false` (libtest-mimic): every test is listed here; one whose need is
/// missing is listed ignored with the reason (report/testing/needs.rs has the rule).
fn main() {
    needs::main(vec![
        needs::test(
            "help_names_the_pair_options_and_exit_statuses",
            help_names_the_pair_options_and_exit_statuses,
        ),
        needs::test(
            "bad_usage_exits_2_before_touching_the_gpu",
            bad_usage_exits_2_before_touching_the_gpu,
        ),
        needs::test(
            "a_missing_driver_or_device_is_named_not_panicked",
            a_missing_driver_or_device_is_named_not_panicked,
        ),
        needs::needing(
            "a_report_from_json_is_a_histogram_per_path_that_opens_in_a_browser",
            browser::missing(),
            a_report_from_json_is_a_histogram_per_path_that_opens_in_a_browser,
        ),
        needs::test(
            "from_json_refuses_a_file_that_is_not_results",
            from_json_refuses_a_file_that_is_not_results,
        ),
    ]);
}

fn latency(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hil-latency"))
        .args(args)
        .output()
        .expect("hil-latency runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn help_names_the_pair_options_and_exit_statuses() {
    let o = latency(&["--help"]);
    assert_eq!(o.status.code(), Some(0));
    let text = String::from_utf8_lossy(&o.stdout);
    for want in [
        "--signal",
        "--wait",
        "--all-pairs",
        "--json",
        "--report",
        "--from-json",
        "host relay",
        "Exit status",
    ] {
        assert!(text.contains(want), "--help lacks {want:?}:\n{text}");
    }
}

fn bad_usage_exits_2_before_touching_the_gpu() {
    for args in [
        &["--rounds", "0"][..],
        &["--rounds", "many"],
        &["--all-pairs", "--signal", "1"],
    ] {
        let o = latency(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains("error:"), "{args:?}: {}", stderr(&o));
    }
}

fn a_missing_driver_or_device_is_named_not_panicked() {
    match hil_suite::cuda::driver() {
        // The CI machine: no NVIDIA driver.
        Err(reason) => {
            let o = latency(&[]);
            assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
            assert!(
                stderr(&o).contains(&format!("not supported: {reason}")),
                "{}",
                stderr(&o)
            );
        }
        // A GPU machine: one past the last device is a usage error naming the count.
        Ok(drv) => {
            let n = drv.devices.len().to_string();
            let o = latency(&["--wait", &n]);
            assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
            assert!(
                stderr(&o).contains(&format!("this machine has {n}")),
                "{}",
                stderr(&o)
            );
        }
    }
}

#[path = "../../report/testing/browser.rs"]
mod browser;

fn scratch(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("hil-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Results as `--json` writes them, without a GPU: a fast baseline and a bimodal path.
fn results() -> Vec<hil_suite::latency::PairReport> {
    use hil_suite::latency::{stats, PairReport, Row};
    use std::time::Duration;
    let us = Duration::from_micros;
    let fast: Vec<Duration> = (0..1000).map(|i| us(9 + i % 4)).collect();
    let mut bimodal: Vec<Duration> = (0..400).map(|i| us(11 + i % 5)).collect();
    bimodal.extend((0..600).map(|i| us(10_050 + i % 90)));
    let base = "CUDA event record -> stream wait -> done (baseline)";
    let row = |path: &str, s: Vec<Duration>| Row {
        path: path.into(),
        stats: stats(s).unwrap(),
        baseline: base.into(),
        ratio: 1.0,
    };
    vec![PairReport {
        signal: 0,
        wait: 1,
        signal_name: "Test GPU <0>".into(),
        wait_name: "Test GPU 1".into(),
        implementation: "synthetic rounds (test)".into(),
        rounds: 1000,
        warm_up: 110,
        rows: vec![
            row(base, fast),
            row(
                "CUDA signal -> host vkWaitSemaphores, vkSignalSemaphore -> CUDA wait -> done",
                bimodal,
            ),
        ],
    }]
}

fn a_report_from_json_is_a_histogram_per_path_that_opens_in_a_browser() {
    let dir = scratch("latency-report");
    let json = dir.join("latency.json");
    std::fs::write(&json, serde_json::to_string_pretty(&results()).unwrap()).unwrap();
    let page = dir.join("latency.html");
    let o = latency(&[
        "--from-json",
        json.to_str().unwrap(),
        "--report",
        page.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let tables = String::from_utf8_lossy(&o.stdout);
    assert!(
        tables.contains("| p50 µs |") && tables.contains("| 60.0% |"),
        "{tables}"
    );
    let html = std::fs::read_to_string(&page).unwrap();
    assert_eq!(html.matches("<svg ").count(), 2, "a plot per path");
    assert!(html.contains("≥1 ms: 60.0%") && html.contains("baseline p50 11.0 µs"));
    assert!(html.contains("Test GPU &lt;0&gt;"));

    // Results written before rounds were binned (the committed H200 run) still render.
    let old = dir.join("old.html");
    let sample = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/hardware/2026-11-24-h200x2-latency.json"
    );
    let o = latency(&["--from-json", sample, "--report", old.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let old_html = std::fs::read_to_string(&old).unwrap();
    assert!(old_html.contains("Percentiles only") && old_html.contains("≥1 ms: 50.4%"));

    let chromium = browser::chromium();
    for p in [&page, &old] {
        let loaded = browser::load(&chromium, p, "", &dir.join("profile"));
        browser::assert_clean(&loaded);
        assert!(loaded.dom.contains("<svg "), "{}", p.display());
    }
    browser::screenshot(
        &chromium,
        &page,
        &dir.join("latency.png"),
        (900, 700),
        &dir.join("profile"),
    );
}

fn from_json_refuses_a_file_that_is_not_results() {
    let dir = scratch("latency-bad-json");
    let bad = dir.join("bad.json");
    std::fs::write(&bad, "[{\"signal\": 0}]").unwrap();
    let o = latency(&["--from-json", bad.to_str().unwrap(), "--report", "x.html"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("bad.json:1:") && stderr(&o).contains("hil-latency --json"),
        "{}",
        stderr(&o)
    );
    // Measuring options make no sense with results from a file.
    let o = latency(&["--from-json", bad.to_str().unwrap(), "--all-pairs"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}
