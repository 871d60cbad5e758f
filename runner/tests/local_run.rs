//! `hil-run --board local` end to end: real hil-suite processes, real files, xmllint.

mod common;

use common::{bin, journal_outcomes, scratch, xmllint};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn selftest_tables() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../suite/tests/tables")
}

fn hil_run(results: &Path, args: &[&str]) -> Output {
    common::hil_run_local(results, args)
}

/// hil-run on `tables` at `threads` (None: the default, parallel), quiet, with `env` set
/// (`None`: removed).
fn hil_run_tables(
    dir: &Path,
    tables: &Path,
    threads: Option<&str>,
    env: &[(&str, Option<&str>)],
) -> Output {
    let mut cmd = Command::new(bin("hil-run"));
    cmd.arg("--suite")
        .arg(bin("hil-suite"))
        .arg("--results")
        .arg(dir)
        .arg("--tables")
        .arg(tables)
        .arg("-q");
    if let Some(n) = threads {
        cmd.args(["--test-threads", n]);
    }
    for (k, v) in env {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    cmd.output().unwrap()
}

/// Reads an attribute of the first element `tag` in the XML text.
fn attr(xml: &str, tag: &str, name: &str) -> usize {
    let start = xml
        .find(&format!("<{tag} "))
        .unwrap_or_else(|| panic!("no <{tag}>"));
    let el = &xml[start..start + xml[start..].find('>').unwrap()];
    let key = format!(" {name}=\"");
    let v = &el[el.find(&key).unwrap_or_else(|| panic!("no {name} in {el}")) + key.len()..];
    v[..v.find('"').unwrap()].parse().unwrap()
}

/// Outcome counts from the summary's second line: "pass 1 · fail 0 · …".
fn summary_counts(summary: &str) -> std::collections::BTreeMap<String, usize> {
    let line = summary.lines().nth(1).unwrap();
    line.split('·')
        .map(|kv| {
            let mut it = kv.split_whitespace();
            (
                it.next().unwrap().to_string(),
                it.next().unwrap().parse().unwrap(),
            )
        })
        .collect()
}

#[test]
fn local_run_writes_valid_junit_whose_counts_match_the_summary() {
    let dir = scratch("local");
    let out = hil_run(&dir, &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let junit = dir.join("local/junit.xml");
    xmllint(&junit);
    let xml = std::fs::read_to_string(&junit).unwrap();
    let summary = std::fs::read_to_string(dir.join("local/summary.txt")).unwrap();
    assert!(
        stdout.contains(summary.lines().next().unwrap()),
        "summary is printed"
    );
    let c = summary_counts(&summary);
    let listed = Command::new(bin("hil-suite"))
        .arg("--list-json")
        .output()
        .unwrap()
        .stdout;
    let n_cases = String::from_utf8_lossy(&listed).lines().count();
    assert!(n_cases > 20);
    assert_eq!(attr(&xml, "testsuite", "tests"), n_cases);
    assert_eq!(c.values().sum::<usize>(), n_cases);
    assert_eq!(attr(&xml, "testsuite", "failures"), c["fail"]);
    assert_eq!(attr(&xml, "testsuite", "errors"), c["crash"] + c["timeout"]);
    assert_eq!(
        attr(&xml, "testsuite", "skipped"),
        c["not-supported"] + c["flagged"]
    );
    assert!(c["pass"] >= 1, "host.info passes everywhere: {summary}");
    for prop in [
        "board",
        "suite.version",
        "driver.version",
        "cuda.version",
        "implementation.cuda",
        "implementation.vulkan",
        "implementation.nvscisync",
    ] {
        assert!(
            xml.contains(&format!("<property name=\"{prop}\"")),
            "JUnit lacks property {prop}"
        );
    }
    let journal = journal_outcomes(&dir.join("local/journal.jsonl"));
    assert_eq!(journal.len(), n_cases, "one journal record per case");
}

#[test]
fn crashes_hangs_and_ub_are_classified_and_the_run_completes() {
    let dir = scratch("selftest");
    let tables = selftest_tables();
    let out = hil_run(&dir, &["--tables", tables.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "fail/crash/timeout make exit status 1"
    );
    let got: std::collections::BTreeMap<_, _> = journal_outcomes(&dir.join("local/journal.jsonl"))
        .into_iter()
        .collect();
    let want = [
        ("a_ok", "pass"),
        ("b_check_fails", "fail"),
        ("c_expected_error", "pass"),
        ("d_unexpected_error", "fail"),
        ("e_abort", "crash"),
        ("f_after_abort", "pass"),
        ("g_hang", "timeout"),
        ("h_after_hang", "pass"),
        ("ub_segv", "flagged"),
        ("ub_hang", "flagged"),
        ("ub_silent", "flagged"),
        ("ub_error", "flagged"),
        ("z_last", "pass"),
    ];
    for (case, outcome) in want {
        assert_eq!(
            got.get(&format!("selftest.{case}")).map(String::as_str),
            Some(outcome),
            "{case}: {got:?}"
        );
    }
    assert_eq!(got.len(), want.len());
    let junit = dir.join("local/junit.xml");
    xmllint(&junit);
    let xml = std::fs::read_to_string(&junit).unwrap();
    // What each UB scenario did is in the JUnit, not just that it was flagged.
    for observed in [
        "signal: killed by SIGSEGV",
        "hang: no exit within",
        "silent-success",
        "error: selftestCall returned 700",
    ] {
        assert!(xml.contains(observed), "JUnit lacks `{observed}`");
    }
    assert!(
        xml.contains("type=\"crash\"") && xml.contains("SIGABRT"),
        "crash names its signal"
    );
    assert!(
        xml.contains("selftest: about to abort"),
        "crash keeps the suite's last output"
    );
}

/// Every case's outcome, from a run with `threads` (None: the default, parallel).
fn outcomes_with(
    dir: &Path,
    tables: &Path,
    threads: Option<&str>,
    env: &[(&str, &Path)],
) -> Vec<(String, String)> {
    let mut env: Vec<(&str, Option<&str>)> = env
        .iter()
        .map(|(k, v)| (*k, Some(v.to_str().unwrap())))
        .collect();
    // The self-test rows name devices this machine may not have: a healthy site probe.
    env.push(("HIL_HEALTH_PROBE_CMD", Some("true")));
    let out = hil_run_tables(dir, tables, threads, &env);
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut got = journal_outcomes(&dir.join("local/journal.jsonl"));
    got.sort();
    got
}

#[test]
fn serial_and_parallel_runs_give_the_same_outcome_for_every_case() {
    // The self-test table (crash, hang, UB children among passing cases) plus in-process
    // cases that share devices and fail if the gate ever lets two of them overlap.
    let dir = scratch("parallel");
    let tables = dir.join("tables");
    std::fs::create_dir_all(&tables).unwrap();
    std::fs::copy(
        selftest_tables().join("selftest.yaml"),
        tables.join("selftest.yaml"),
    )
    .unwrap();
    let mut rows = String::new();
    for i in 0..6 {
        rows.push_str(&format!(
            "  - id: alone{i}\n    op: selftest_device_alone\n    params: {{ms: 40}}\n"
        ));
    }
    rows.push_str(
        "  - id: pair\n    op: selftest_device_alone\n    matrix: {a: [0, 1], b: [2, 3]}\n",
    );
    // `isolate` rows run in a child and are judged exactly as in-process rows.
    rows.push_str(
        "  - id: iso_check\n    op: selftest_check_fails\n    isolate: true\n  - id: iso_expected\n    op: selftest_api_error\n    params: {code: 801}\n    expect: {cuda: 801}\n    isolate: true\n  - id: iso_abort\n    op: selftest_abort\n    isolate: true\n",
    );
    // A UB child that reports a step, then none: a hang after stall_s, not timeout_s.
    rows.push_str(
        "  - id: stall\n    op: selftest_hang\n    ub: 'self-test: stops making progress'\n    stall_s: 1\n    timeout_s: 120\n",
    );
    common::write_table(
        &dir,
        "devices.yaml",
        &format!("name: gate\nbackend: host\ndoc: d\nmatrix:\n  dev: [0, 1, 2]\nrows:\n{rows}"),
    );
    let t = Instant::now();
    let serial = outcomes_with(&dir.join("serial"), &tables, Some("1"), &[]);
    assert_eq!(serial.len(), 13 + 6 * 3 + 4 + 3 * 3 + 3);
    let outcome = |case: &str| {
        serial
            .iter()
            .find(|(c, _)| c == case)
            .map(|(_, o)| o.as_str())
    };
    assert_eq!(outcome("gate.iso_check.dev1"), Some("fail"));
    assert_eq!(outcome("gate.iso_expected.dev1"), Some("pass"));
    assert_eq!(outcome("gate.iso_abort.dev1"), Some("crash"));
    // Three stalled children at 1 s each, not 120 s each.
    assert!(t.elapsed() < Duration::from_secs(60), "{:?}", t.elapsed());
    let journal = std::fs::read_to_string(dir.join("serial/local/journal.jsonl")).unwrap();
    assert!(
        journal.contains("hang: no progress for 1.")
            && journal.contains("in step `selftest sleep`"),
        "stalled child not reported as such"
    );
    assert!(
        serial
            .iter()
            .filter(|(c, _)| c.starts_with("gate.") && !c.contains("iso_"))
            .all(|(c, o)| o
                == if c.contains("stall") {
                    "flagged"
                } else {
                    "pass"
                }),
        "{serial:?}"
    );
    for threads in [None, Some("4"), Some("16")] {
        let par = outcomes_with(&dir.join(format!("t{threads:?}")), &tables, threads, &[]);
        assert_eq!(par, serial, "--test-threads {threads:?} changed a verdict");
    }
    // The NvSciSync model's rows, CPU sides running, GPU sides not-supported, UB children.
    let model = common::model_library();
    let libdir = dir.join("lib");
    std::fs::create_dir_all(&libdir).unwrap();
    std::os::unix::fs::symlink(&model, libdir.join("libnvscisync.so.1")).unwrap();
    let nvsci = dir.join("nvsci-tables");
    std::fs::create_dir_all(&nvsci).unwrap();
    for f in
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/tables")).unwrap()
    {
        let p = f.unwrap().path();
        if p.file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("nvscisync")
        {
            std::fs::copy(&p, nvsci.join(p.file_name().unwrap())).unwrap();
        }
    }
    let env = [("LD_LIBRARY_PATH", libdir.as_path())];
    let serial = outcomes_with(&dir.join("nvsci-serial"), &nvsci, Some("1"), &env);
    assert!(serial.iter().any(|(_, o)| o == "pass") && serial.iter().any(|(_, o)| o == "flagged"));
    let par = outcomes_with(&dir.join("nvsci-par"), &nvsci, Some("8"), &env);
    assert_eq!(
        par, serial,
        "NvSciSync model rows changed verdict in parallel"
    );
}

#[test]
fn interrupted_run_keeps_results_and_resume_finishes_it() {
    let dir = scratch("resume");
    let tables = selftest_tables();
    let mut child = Command::new(bin("hil-run"))
        .arg("--suite")
        .arg(bin("hil-suite"))
        .arg("--results")
        .arg(&dir)
        .args(["--tables", tables.to_str().unwrap(), "-q"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let journal = dir.join("local/journal.jsonl");
    // Interrupt while `g_hang` runs (it takes 2 s).
    let deadline = Instant::now() + Duration::from_secs(30);
    while !std::fs::read_to_string(&journal)
        .unwrap_or_default()
        .contains("\"case\":\"selftest.f_after_abort\"")
    {
        assert!(Instant::now() < deadline, "hil-run made no progress");
        std::thread::sleep(Duration::from_millis(20));
    }
    unsafe { libc_kill(child.id() as i32, 2) };
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "Ctrl-C exits 130");
    let partial = journal_outcomes(&journal);
    assert!(partial.len() >= 6 && partial.len() < 13, "{partial:?}");
    xmllint(&dir.join("local/junit.xml"));
    // A torn last line, as if the runner died mid-write, must not stop the resume.
    std::fs::OpenOptions::new()
        .append(true)
        .open(&journal)
        .and_then(|mut f| std::io::Write::write_all(&mut f, b"{\"record\":\"resu"))
        .unwrap();
    let out = hil_run(&dir, &["--tables", tables.to_str().unwrap(), "--resume"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let all = journal_outcomes(&journal);
    let mut names: Vec<_> = all.iter().map(|(c, _)| c.clone()).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 13, "every case has a result after resume");
    assert_eq!(all.len(), 13, "no case ran twice: {all:?}");
    let xml = common::junit(&dir.join("local/junit.xml"));
    assert_eq!(attr(&xml, "testsuite", "tests"), 13);
}

#[test]
fn a_device_left_unusable_stops_later_device_cases_with_board_needs_reset() {
    let tables = Path::new(env!("CARGO_MANIFEST_DIR")).join("../suite/tests/tables-health");
    // Serially and in parallel alike: UB cases run first and the others on their device
    // wait for them, so which case "got there first" never decides a verdict.
    // The third run's probe says more than one line: each `@unusable-device` line the
    // restarted suite gets must still be one line.
    let one_line = "echo device {devices} wedged >&2; exit 1";
    let lines = "echo line-one; echo line-two; echo device {devices} wedged >&2; exit 1";
    for (run, threads, probe) in [(1, "1", one_line), (2, "4", one_line), (3, "1", lines)] {
        let dir = scratch(&format!("health-{run}"));
        let out = hil_run_tables(
            &dir,
            &tables,
            Some(threads),
            &[("HIL_HEALTH_PROBE_CMD", Some(probe))],
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(1), "threads {threads}: {stdout}");
        let got: std::collections::BTreeMap<_, _> =
            journal_outcomes(&dir.join("local/journal.jsonl"))
                .into_iter()
                .collect();
        assert_eq!(got["health.a_ub_breaks_board.dev0"], "flagged", "{stdout}");
        assert_eq!(got["health.b_device_case_after.dev0"], "crash", "{stdout}");
        assert_eq!(
            got["health.0_device_case_listed_first.dev0"], "crash",
            "a row listed before the UB case still waits for it: {stdout}"
        );
        assert_eq!(
            got["health.c_host_case_after"], "pass",
            "cases naming no device still run"
        );
        assert_eq!(got["health.c0_host_case_crashes"], "crash", "{stdout}");
        let attempts = std::fs::read_dir(dir.join("local"))
            .unwrap()
            .filter(|e| {
                let name = e.as_ref().unwrap().file_name();
                name.to_string_lossy().starts_with("suite-")
            })
            .count();
        assert!(
            attempts >= 2,
            "the crash made hil-run restart the suite, which then still knew device 0 was unusable"
        );
        let xml = common::junit(&dir.join("local/junit.xml"));
        assert!(
            xml.contains(
                "board needs reset: device 0 left unusable by an undefined-behaviour case of this run"
            ),
            "{xml}"
        );
        assert!(
            xml.contains("\nobserved.unusable_after: health.a_ub_breaks_board.dev0\n"),
            "the UB case whose probe found it is named: {xml}"
        );
        assert!(
            xml.contains("device 0 wedged"),
            "the probe's own words are kept: {xml}"
        );
        assert!(
            xml.contains("\nobserved.board_needs_reset: true\n"),
            "{xml}"
        );
    }
}

/// Each case's (outcome, message, observations) from a journal.
type Verdicts = std::collections::BTreeMap<
    String,
    (String, String, std::collections::BTreeMap<String, String>),
>;

fn journal_verdicts(path: &Path) -> Verdicts {
    let mut got = Verdicts::new();
    for line in std::fs::read_to_string(path).unwrap().lines() {
        let r: serde_json::Value = serde_json::from_str(line).unwrap();
        if r["record"] != "result" {
            continue;
        }
        let obs = r["observations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| {
                let v = &o["value"];
                let v = v.as_str().map_or_else(|| v.to_string(), str::to_string);
                (o["key"].as_str().unwrap().to_string(), v)
            })
            .collect();
        got.insert(
            r["case"].as_str().unwrap().to_string(),
            (
                r["outcome"].as_str().unwrap().to_string(),
                r["message"].as_str().unwrap_or("").to_string(),
                obs,
            ),
        );
    }
    got
}

#[test]
fn a_device_broken_beside_other_ub_cases_is_said_and_other_cases_read_alike_at_any_thread_count() {
    // UB case `a` ends at once; UB case `b` "breaks" device 0 after 0.8 s (it writes the
    // file whose content makes the probe fail). Serially a's probe runs before b and is
    // ok. In parallel a's probe may run after b broke the device: then a must say which
    // UB cases ran beside it, never stand alone as the case that broke it. The device's
    // other case reads the same at both thread counts.
    let dir = scratch("health-beside");
    let broken = dir.join("broken");
    let tables = dir.join("tables");
    std::fs::create_dir_all(&tables).unwrap();
    std::fs::write(
        tables.join("beside.yaml"),
        format!(
            "name: beside\nbackend: host\ndoc: a device broken beside other UB cases\n\
             timeout_s: 20\nmatrix: {{dev: [0]}}\nrows:\n\
             - {{id: a_early, op: selftest_sleep, params: {{ms: 50}}, ub: \"self-test: ends at once\"}}\n\
             - {{id: b_breaks, op: selftest_driver_log, params: {{file: \"{}\", line: wedged, after_ms: 800}}, ub: \"self-test: breaks the device\"}}\n\
             - {{id: c_device_case, op: selftest_ok}}\n",
            broken.display()
        ),
    )
    .unwrap();
    // Each probe says something of its own (its pid), as real probes may.
    let probe = format!("echo probe $$ >&2; test ! -s '{}'", broken.display());
    let mut runs = Vec::new();
    for threads in ["1", "4"] {
        std::fs::write(&broken, "").unwrap();
        let out_dir = dir.join(format!("results-{threads}"));
        let out = hil_run_tables(
            &out_dir,
            &tables,
            Some(threads),
            &[
                ("HIL_HEALTH_PROBE_CMD", Some(probe.as_str())),
                ("HIL_HEALTH_DEFER_S", None),
            ],
        );
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert_eq!(out.status.code(), Some(1), "threads {threads}: {stdout}");
        runs.push(journal_verdicts(&out_dir.join("local/journal.jsonl")));
    }
    let (serial, parallel) = (&runs[0], &runs[1]);
    let (a, b, c) = (
        "beside.a_early.dev0",
        "beside.b_breaks.dev0",
        "beside.c_device_case.dev0",
    );
    assert_eq!(serial[a].2["health_after"], "ok", "{serial:?}");
    assert!(
        !serial[a].2.contains_key("health_shared_with"),
        "{serial:?}"
    );
    assert_ne!(serial[b].2["health_after"], "ok", "{serial:?}");
    assert!(
        !serial[b].2.contains_key("health_shared_with"),
        "nothing ran beside it serially"
    );
    assert_eq!(serial[c].2["unusable_after"], b);
    // The other case on the device: the same outcome and message at both thread counts.
    assert_eq!(serial[c].0, "crash");
    assert_eq!(
        (&serial[c].0, &serial[c].1),
        (&parallel[c].0, &parallel[c].1)
    );
    assert!(parallel[c].2["unusable_after"].contains(b), "{parallel:?}");
    // In parallel: a probe that found the device broken after `a` names `b` beside it.
    assert_ne!(parallel[b].2["health_after"], "ok", "{parallel:?}");
    if parallel[a].2["health_after"] != "ok" {
        assert_eq!(parallel[a].2["health_shared_with"], b, "{parallel:?}");
        assert!(
            parallel[a].1.contains("which case left it so is not known"),
            "{parallel:?}"
        );
    }
}

#[test]
fn ub_cases_whose_children_run_together_share_a_probe_and_keep_their_verdicts() {
    // The built-in probe runs for real (without a GPU it fails, with one it passes);
    // serially each case gets a probe of its own, at 8 threads a probe waits for the
    // children still running on its device and serves them all.
    let tables = Path::new(env!("CARGO_MANIFEST_DIR")).join("../suite/tests/tables-shared-probes");
    let mut runs = Vec::new();
    for threads in ["1", "8"] {
        let dir = scratch(&format!("shared-probes-{threads}"));
        let env = [("HIL_HEALTH_PROBE_CMD", None), ("HIL_HEALTH_DEFER_S", None)];
        let out = hil_run_tables(&dir, &tables, Some(threads), &env);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(matches!(out.status.code(), Some(0 | 1)), "{stdout}");
        // Outcome and health_after of every case.
        let got: std::collections::BTreeMap<_, _> =
            journal_verdicts(&dir.join("local/journal.jsonl"))
                .into_iter()
                .map(|(case, (outcome, _, obs))| {
                    (case, (outcome, obs.get("health_after").cloned()))
                })
                .collect();
        assert_eq!(got.len(), 10, "{stdout}");
        let log = std::fs::read_to_string(dir.join("local/suite-1.log")).unwrap();
        let probes: u32 = log
            .lines()
            .find_map(|l| {
                l.strip_prefix("hil-suite: ")?
                    .split_once(" health probe(s) for 8 UB case(s)")
            })
            .and_then(|(n, _)| n.parse().ok())
            .unwrap_or_else(|| panic!("no probe tally in the suite's log: {log}"));
        runs.push((threads, got, probes, dir));
    }
    assert_eq!(
        runs[0].1, runs[1].1,
        "verdicts differ between 1 and 8 threads"
    );
    assert_eq!(runs[0].2, 8, "serially every case has a probe of its own");
    // Children that overlap (0.5 s each, started together) share one probe; two when the
    // first four have ended before the other four reach their devices (at most four
    // children run on a device at once). Without the wait it took 4-6 here.
    assert!(runs[1].2 <= 2, "probes at 8 threads: {}", runs[1].2);

    // A bad setting is the suite's configuration error: exit 2, the earlier run untouched.
    let dir = &runs[1].3;
    let journal = std::fs::read(dir.join("local/journal.jsonl")).unwrap();
    for (name, value) in [
        ("HIL_HEALTH_DEFER_S", "soon"),
        ("HIL_ISOLATE_WORKERS", "yes"),
    ] {
        let out = hil_run_tables(dir, &tables, Some("8"), &[(name, Some(value))]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(name), "{stderr}");
        assert_eq!(
            std::fs::read(dir.join("local/journal.jsonl")).unwrap(),
            journal
        );
    }
}

#[test]
fn isolate_rows_give_the_same_verdicts_in_reused_workers_and_in_a_child_each() {
    // Passes, expected errors, failures, an abort and a hang on two devices: a worker is
    // reused only after a pass, so the cases after a failure, a crash or a hang run in a
    // fresh one and pass.
    let tables = Path::new(env!("CARGO_MANIFEST_DIR")).join("../suite/tests/tables-isolate");
    let mut runs = Vec::new();
    for (workers, threads) in [("0", "1"), ("1", "1"), ("1", "4")] {
        let dir = scratch(&format!("isolate-{workers}-{threads}"));
        let env = [
            ("HIL_ISOLATE_WORKERS", Some(workers)),
            ("HIL_HEALTH_PROBE_CMD", Some("true")),
        ];
        let out = hil_run_tables(&dir, &tables, Some(threads), &env);
        assert_eq!(out.status.code(), Some(1), "{}", common::text(&out));
        let mut got = std::collections::BTreeMap::new();
        let journal = std::fs::read_to_string(dir.join("local/journal.jsonl")).unwrap();
        for line in journal.lines() {
            let r: serde_json::Value = serde_json::from_str(line).unwrap();
            if r["record"] == "result" {
                let what = (r["outcome"].to_string(), r["message"].to_string());
                got.insert(r["case"].as_str().unwrap().to_string(), what);
            }
        }
        assert_eq!(got.len(), 20);
        let log = std::fs::read_to_string(dir.join("local/suite-1.log")).unwrap();
        let tally = log
            .lines()
            .find(|l| l.contains("worker process(es)"))
            .map(str::to_string);
        runs.push((got, tally));
    }
    assert_eq!(runs[0].0, runs[1].0, "workers change a verdict");
    assert_eq!(runs[1].0, runs[2].0, "threads change a verdict");
    let outcome = |case: &str| runs[1].0[case].0.trim_matches('"').to_string();
    assert_eq!(outcome("isolate.f_abort.dev0"), "crash");
    assert_eq!(outcome("isolate.g_after_abort.dev0"), "pass");
    assert_eq!(outcome("isolate.h_hang.dev1"), "timeout");
    assert_eq!(outcome("isolate.i_after_hang.dev1"), "pass");
    assert_eq!(runs[0].1, None, "no workers with HIL_ISOLATE_WORKERS=0");
    // Per device: one at the start, a fresh one after the failure and one after the abort
    // (the hang, with the shortest limit, runs last): 3, so 6 workers for 20 cases.
    assert_eq!(
        runs[1].1.as_deref(),
        Some("hil-suite: 20 isolate case(s) in 6 worker process(es)")
    );
}

#[test]
fn a_worker_outlives_the_thread_that_started_it() {
    // Two threads: the first starts the worker for `a_quick` and then has no case left and
    // ends; the second runs `b_slow` in that worker. A worker tied to its first thread
    // (PR_SET_PDEATHSIG) would be killed mid-case.
    let dir = scratch("worker-keeper");
    let tables = common::write_table(
        &dir,
        "keep.yaml",
        "name: keep\nbackend: host\ndoc: One worker, two threads.\ntimeout_s: 10\n\
         matrix:\n  dev: [0]\nrows:\n\
         - {id: a_quick, op: selftest_ok, isolate: true}\n\
         - {id: b_slow, op: selftest_sleep, params: {ms: 300}, isolate: true}\n",
    );
    let out = Command::new(bin("hil-suite"))
        .arg("--tables")
        .arg(&tables)
        .args(["--test-threads", "2"])
        .env("HIL_ISOLATE_WORKERS", "1")
        .env("HIL_HEALTH_PROBE_CMD", "true")
        .output()
        .unwrap();
    let text = common::text(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("2 isolate case(s) in 1 worker process(es)"),
        "{text}"
    );
}

#[test]
fn no_child_outlives_a_suite_that_dies_or_a_run_that_is_interrupted() {
    // A suite killed while its UB child hangs, then a run interrupted while one hangs:
    // neither child may be left behind (on a GPU it would hold its device into the next run).
    let dir = scratch("orphans");
    let tables = common::write_table(
        &dir,
        "orphan.yaml",
        "name: orphan\nbackend: host\ndoc: A hanging UB child.\ntimeout_s: 30\nrows:\n\
         - {id: a_hang, op: selftest_hang, ub: \"self-test: never returns\"}\n",
    );
    let marker = tables.to_str().unwrap().to_string();
    let children = || -> Vec<String> {
        let mut found = Vec::new();
        for e in std::fs::read_dir("/proc").unwrap().flatten() {
            let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if cmdline.contains("--ub-child") && cmdline.contains(&marker) {
                found.push(format!("{}: {cmdline}", e.file_name().to_string_lossy()));
            }
        }
        found
    };
    let wait_until = |want_some: bool| {
        let t = std::time::Instant::now();
        while children().is_empty() == want_some && t.elapsed() < std::time::Duration::from_secs(20)
        {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        children()
    };
    let mut suite = Command::new(bin("hil-suite"))
        .args(["--tables", &marker])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    assert!(!wait_until(true).is_empty(), "the UB child never started");
    suite.kill().unwrap();
    suite.wait().unwrap();
    assert_eq!(
        wait_until(false),
        Vec::<String>::new(),
        "left behind by a killed suite"
    );

    let mut run = Command::new(bin("hil-run"))
        .arg("--suite")
        .arg(bin("hil-suite"))
        .arg("--results")
        .arg(dir.join("results"))
        .args(["--tables", &marker, "--test-threads", "1", "-q"])
        .spawn()
        .unwrap();
    assert!(!wait_until(true).is_empty(), "the UB child never started");
    unsafe { libc::kill(run.id() as i32, libc::SIGINT) };
    assert_eq!(run.wait().unwrap().code(), Some(130));
    assert_eq!(
        wait_until(false),
        Vec::<String>::new(),
        "left behind by an interrupted run"
    );
}

#[test]
fn the_two_built_in_boards_in_one_run_each_run_every_case() {
    // They list their cases at the same time; each must get its own listing.
    for attempt in 0..3 {
        let dir = scratch(&format!("two-boards-{attempt}"));
        let out = Command::new(bin("hil-run"))
            .arg("--suite")
            .arg(bin("hil-suite"))
            .arg("--results")
            .arg(&dir)
            .args(["--board", "local", "--board", "model", "-q"])
            .env("HIL_NVSCISYNC_MODEL", common::model_library())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", common::text(&out));
        let local = journal_outcomes(&dir.join("local/journal.jsonl")).len();
        let model = journal_outcomes(&dir.join("model/journal.jsonl")).len();
        assert!(local > 200 && model > 100, "local {local}, model {model}");
    }
}

/// The NvSciSync CPU rows run for real against hil's reference model, exposed as
/// libnvscisync.so.1 on LD_LIBRARY_PATH, and every result says it came from the model.
#[test]
fn nvscisync_cpu_rows_run_against_the_reference_model_and_say_so() {
    let dir = scratch("nvsci");
    let model = common::model_library();
    let libdir = dir.join("lib");
    std::fs::create_dir_all(&libdir).unwrap();
    std::os::unix::fs::symlink(&model, libdir.join("libnvscisync.so.1")).unwrap();
    let out = Command::new(bin("hil-run"))
        .arg("--suite")
        .arg(bin("hil-suite"))
        .arg("--results")
        .arg(&dir)
        .args(["--filter", "nvscisync.", "-q"])
        .env("LD_LIBRARY_PATH", &libdir)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let journal = std::fs::read_to_string(dir.join("local/journal.jsonl")).unwrap();
    let results: Vec<serde_json::Value> = journal
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["record"] == "result")
        .collect();
    let outcome = |case: &str| {
        results
            .iter()
            .find(|r| r["case"] == case)
            .unwrap_or_else(|| panic!("no {case}"))["outcome"]
            .as_str()
            .unwrap()
            .to_string()
    };
    for case in [
        "nvscisync.api.reconcile.signaler_and_waiter",
        "nvscisync.api.reconcile.no_signaler",
        "nvscisync.api.reconcile.two_signalers",
        "nvscisync.api.set.actual_perm_is_read_only",
        "nvscisync.api.fence.wait_times_out",
        "nvscisync.api.fence.sequence",
        "nvscisync.api.fence.keeps_obj_alive",
        "nvscisync.pairs.reconcile.cpu_cpu",
        "nvscisync.pairs.roundtrip.cpu_cpu",
    ] {
        assert_eq!(outcome(case), "pass", "{case}");
    }
    assert_eq!(
        outcome("nvscisync.api.attrs.alloc_from_freed_list"),
        "flagged"
    );
    assert_eq!(
        outcome("nvscisync.pairs.roundtrip.dev0_dev1"),
        "not-supported",
        "no CUDA here"
    );
    let mut ran = 0;
    for r in results.iter().filter(|r| r["outcome"] == "pass") {
        ran += 1;
        let imp = r["implementation"].as_str().unwrap_or("");
        assert!(
            imp.contains("hil reference model") && imp.contains("not hardware"),
            "{}: {imp}",
            r["case"]
        );
    }
    assert!(ran >= 28, "{ran} NvSciSync cases passed");
    let xml = common::junit(&dir.join("local/junit.xml"));
    assert!(xml.contains(r#"<property name="implementation.nvscisync" value="hil reference model of NvSciSync 2.8"#), "JUnit names the model");

    // The same run without the model: nothing passes, every case says why.
    let dir2 = scratch("nvsci-absent");
    let out = hil_run(&dir2, &["--filter", "nvscisync.", "-q"]);
    assert_eq!(out.status.code(), Some(0));
    let absent = journal_outcomes(&dir2.join("local/journal.jsonl"));
    assert!(
        absent.iter().all(|(_, o)| o == "not-supported"),
        "{absent:?}"
    );
    let summary = std::fs::read_to_string(dir2.join("local/summary.txt")).unwrap();
    assert!(
        summary.contains("libnvscisync.so.1 not loadable"),
        "{summary}"
    );
}

#[test]
fn baseline_retry_and_shard_judge_a_run_by_what_changed() {
    let dir = scratch("baseline");
    common::write_table(&dir, "r.yaml", "name: r\nbackend: host\ndoc: d\nrows:\n  - id: a_ok\n    op: selftest_ok\n  - id: b_known_fail\n    op: selftest_check_fails\n  - id: c_flaky\n    op: selftest_flaky\n    params: {marker: flaky.marker}\n  - id: d_new_fail\n    op: selftest_api_error\n    params: {code: 999}\n");
    let baseline = dir.join("baseline.yaml");
    std::fs::write(
        &baseline,
        "board: test\nexpect:\n  r.b_known_fail: fail   # known\n  r.gone: crash\n",
    )
    .unwrap();
    let run_in = |results: &str, extra: &[&str]| {
        Command::new(bin("hil-run"))
            .current_dir(&dir)
            .arg("--suite")
            .arg(bin("hil-suite"))
            .args(["--results", results, "--tables", "tables", "-q"])
            .args(extra)
            .output()
            .unwrap()
    };
    let run = |extra: &[&str]| run_in("res", extra);
    let out = run(&["--baseline", "baseline.yaml", "--retry", "1"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a new failure is a regression: {stdout}"
    );
    assert!(
        stdout.contains("1 regression(s) (1 failing, 0 coverage lost, 0 driver message(s)), 0 newly covered, 0 fixed, 1 expected failure(s), 1 flaky"),
        "{stdout}"
    );
    assert!(
        stdout.contains("REGRESSION r.d_new_fail: fail (expected pass)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("r.c_flaky  (failed 1 time(s) first)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("the baseline names 1 case(s) not in this run"),
        "{stdout}"
    );
    let xml = common::junit(&dir.join("res/local/junit.xml"));
    assert!(
        xml.contains("<flakyFailure"),
        "flaky pass keeps its failed attempt: {xml}"
    );
    assert!(
        xml.contains("<rerunFailure"),
        "a failure retried and failed again shows its reruns"
    );

    // The new failure accepted into the baseline: the run is green, the failures still listed.
    std::fs::write(
        &baseline,
        "expect:\n  r.b_known_fail: fail\n  r.d_new_fail: fail\n",
    )
    .unwrap();
    std::fs::remove_file(dir.join("flaky.marker")).unwrap();
    let out = run(&["--baseline", "baseline.yaml"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "without --retry the flaky case fails, unexpected: {stdout}"
    );
    let out = run(&["--baseline", "baseline.yaml", "--retry", "2"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // Shards split the same list disjointly and completely.
    let mut all = Vec::new();
    for k in ["1/3", "2/3", "3/3"] {
        let out = run_in("shard", &["--shard", k]);
        assert!(out.status.code().is_some());
        all.extend(
            journal_outcomes(&dir.join("shard/local/journal.jsonl"))
                .into_iter()
                .map(|(c, _)| c),
        );
    }
    all.sort();
    assert_eq!(
        all,
        ["r.a_ok", "r.b_known_fail", "r.c_flaky", "r.d_new_fail"]
    );
    let bad = run(&["--shard", "4/3"]);
    assert_eq!(bad.status.code(), Some(2));
    let bad = run(&["--baseline", "nope.yaml"]);
    assert_eq!(
        bad.status.code(),
        Some(2),
        "a missing baseline fails before running"
    );
}

extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

#[test]
fn usage_and_configuration_errors_exit_2_and_say_what_to_fix() {
    let dir = scratch("usage");
    let cases: [(&[&str], &str); 7] = [
        (
            &["--board", "orin01"],
            "no inventory: board `orin01` needs one",
        ),
        (&["--board", "Local"], "did you mean `local`?"),
        (
            &["--tag", "nightly"],
            "no inventory: `--tag nightly` needs one",
        ),
        (&["--board", "../etc"], "invalid board name"),
        (&["--resume"], "cannot resume"),
        (&["--test-threads", "0"], "0 is not in 1.."),
        (
            &["--resume", "--tag", "board=orin"],
            "resume by name with --board",
        ),
    ];
    for (args, want) in cases {
        let out = hil_run(&dir, args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
    }
    // A baseline naming a case twice: YAML would let the last entry win silently.
    let dup = dir.join("dup-baseline.yaml");
    std::fs::write(&dup, "expect:\n  host.info: pass\n  host.info: fail\n").unwrap();
    let out = hil_run(&dir, &["--baseline", dup.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", common::text(&out));
    assert!(
        common::text(&out).contains("`host.info` is given twice"),
        "{}",
        common::text(&out)
    );
    // libtest-mimic alone would wait forever for zero threads.
    let out = Command::new(bin("hil-suite"))
        .args(["--test-threads", "0", "host.info"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", common::text(&out));
    let bad = dir.join("tables");
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::write(
        bad.join("x.yaml"),
        "name: x\nbackend: host\ndoc: d\nrows:\n  - id: a\n    op: host_inf\n",
    )
    .unwrap();
    let out = hil_run(&dir, &["--tables", bad.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("x.yaml:6:") && err.contains("unknown op `host_inf`"),
        "{err}"
    );
}

#[test]
fn a_ub_row_whose_precondition_is_not_supported_is_not_supported_not_flagged() {
    let dir = scratch("ub-not-reached");
    let why = "selftestProbe returned 801 (CUDA_ERROR_NOT_SUPPORTED) for device 0: this CUDA has no NvSciSync support";
    let tables = common::write_table(
        &dir,
        "pre.yaml",
        &format!(
            "name: pre\nbackend: host\ndoc: d\ntimeout_s: 20\nrows:
  - id: twin
    op: selftest_not_supported
    params: {{reason: '{why}'}}
  - id: ub_not_reached
    op: selftest_not_supported
    params: {{reason: '{why}'}}
    ub: 'self-test: a scenario whose precondition the board lacks'
  - id: ub_error
    op: selftest_api_error
    params: {{code: 801}}
    ub: 'self-test: a scenario whose undefined step returns an error'
"
        ),
    );
    let out = hil_run_tables(&dir.join("r"), &tables, None, &[]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let journal = std::fs::read_to_string(dir.join("r/local/journal.jsonl")).unwrap();
    let result = |case: &str| -> serde_json::Value {
        journal
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|v| v["record"] == "result" && v["case"] == case)
            .unwrap_or_else(|| panic!("no result for {case}"))
    };
    // The UB row never reached its scenario: the same verdict and reason as its twin.
    for case in ["pre.twin", "pre.ub_not_reached"] {
        let r = result(case);
        assert_eq!(r["outcome"], "not-supported", "{r}");
        assert_eq!(r["message"], why, "{r}");
    }
    let r = result("pre.ub_not_reached");
    assert!(!r.to_string().contains("\"observed\""), "{r}");
    assert!(r.to_string().contains("\"ub_rule\""), "{r}");
    // An error the scenario itself returned stays flagged, as observed.
    let r = result("pre.ub_error");
    assert_eq!(r["outcome"], "flagged", "{r}");
    assert!(
        r["message"]
            .as_str()
            .unwrap()
            .starts_with("error: selftestCall returned 801"),
        "{r}"
    );
}
