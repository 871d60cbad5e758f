//! Kernel log per case, end to end through `hil-run --board local`: a log source the test
//! names (`HIL_KERNEL_LOG`, a file) receives kmsg records shaped like a real Xid line from
//! a self-test op standing in for the driver, while the suite runs in parallel.
//! The real `/dev/kmsg` path is proved on a GPU machine by `scripts/kmsg-proof` (root, 2+
//! GPUs, no cargo needed there), over `suite/tests/tables-kmsg/`.

mod common;

use common::{bin, scratch, write_table};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

fn hil_run(results: &Path, tables: &Path, env: &[(&str, &str)], extra: &[&str]) -> Output {
    let mut c = Command::new(bin("hil-run"));
    c.arg("--suite")
        .arg(bin("hil-suite"))
        .arg("--results")
        .arg(results)
        .arg("--tables")
        .arg(tables)
        .args(extra)
        .env_remove("HIL_KERNEL_LOG")
        .env_remove("HIL_DRIVER_LOG_PATTERNS")
        .env_remove("HIL_GPU_PCI");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("hil-run starts")
}

/// case -> its result record in the journal.
fn results(dir: &Path) -> BTreeMap<String, Value> {
    std::fs::read_to_string(dir.join("local/journal.jsonl"))
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["record"] == "result")
        .map(|v| (v["case"].as_str().unwrap().to_string(), v))
        .collect()
}

fn obs<'a>(r: &'a Value, key: &str) -> Option<&'a str> {
    r["observations"]
        .as_array()?
        .iter()
        .find(|o| o["key"] == key)
        .and_then(|o| o["value"].as_str())
}

/// The run-level driver messages in the journal: (line, cases, when).
fn driver_messages(dir: &Path) -> Vec<(String, Vec<String>, String)> {
    std::fs::read_to_string(dir.join("local/journal.jsonl"))
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["record"] == "driver-message")
        .map(|v| {
            let cases = v["cases"]
                .as_array()
                .map(|a| a.iter().map(|c| c.as_str().unwrap().to_string()).collect())
                .unwrap_or_default();
            (
                v["line"].as_str().unwrap().to_string(),
                cases,
                v["when"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The JUnit's `<system-err>` of the board's testsuite (outside every testcase).
fn suite_system_err(dir: &Path) -> String {
    let xml = common::junit(&dir.join("local/junit.xml"));
    let after_cases = &xml[xml.rfind("</testcase>").unwrap_or(0)..];
    match (
        after_cases.find("<system-err>"),
        after_cases.find("</system-err>"),
    ) {
        (Some(a), Some(b)) => after_cases[a + "<system-err>".len()..b].to_string(),
        _ => String::new(),
    }
}

/// Summary, JUnit and report all show run-level line `line`.
fn shown_everywhere(dir: &Path, line: &str) {
    let summary = std::fs::read_to_string(dir.join("local/summary.txt")).unwrap();
    assert!(
        summary.contains("driver messages outside any case's result") && summary.contains(line),
        "{summary}"
    );
    let err = suite_system_err(dir);
    assert!(err.contains(line), "JUnit testsuite system-err: {err}");
    let report = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(report.contains("id=\"driver-messages\""), "report.html");
    let escaped = line
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    assert!(report.contains(&escaped), "report.html lacks {escaped}");
}

fn facts(dir: &Path) -> Value {
    std::fs::read_to_string(dir.join("local/journal.jsonl"))
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["record"] == "facts")
        .expect("a facts record")
}

const XID: &str = "NVRM: Xid (PCI:0000:18:00): 31, pid={pid}, name=hil-suite, Ch 00000008, intr 00000000. MMU Fault: ENGINE GRAPHICS GPC0 faulted @ 0x7f12_34560000. Fault is of type FAULT_PDE ACCESS_TYPE_VIRT_READ";

#[test]
fn a_driver_line_during_a_case_fails_its_pass_and_reaches_journal_junit_summary_and_flagged_md() {
    let dir = scratch("klog");
    let log = dir.join("kernel.log");
    std::fs::write(
        &log,
        "3,1,1,-;NVRM: Xid (PCI:0000:18:00): 31, before the run\n",
    )
    .unwrap();
    let f = log.display();
    // Writers run in child processes and name their pid, so in parallel each line is
    // pinned to its case; the in-process cases beside them must stay clean.
    let table = format!(
        "name: klog\nbackend: host\ndoc: d\ntimeout_s: 10\nrows:
  - id: a_xid
    op: selftest_driver_log
    params: {{file: '{f}', line: '{XID}'}}
    isolate: true
  - id: b_expected
    op: selftest_driver_log
    params: {{file: '{f}', line: 'NVRM: Xid (PCI:0000:18:00): 43, pid={{pid}}, name=hil-suite'}}
    isolate: true
    expect_driver_log: ['Xid (PCI:0000:18:00): 43']
  - id: c_info
    op: selftest_driver_log
    params: {{file: '{f}', line: 'NVRM: GPU at PCI:0000:18:00 pid={{pid}} info', level: 6}}
    isolate: true
  - id: d_ub_silent
    op: selftest_driver_log
    params: {{file: '{f}', line: '{XID}'}}
    ub: 'self-test: a call that succeeds while the driver logs an Xid'
  - id: e_quiet
    op: selftest_sleep
    params: {{ms: 200}}
  - id: f_quiet
    op: selftest_sleep
    params: {{ms: 200}}
"
    );
    let tables = write_table(&dir, "klog.yaml", &table);
    let out = hil_run(
        &dir,
        &tables,
        &[("HIL_KERNEL_LOG", log.to_str().unwrap())],
        &["--test-threads", "6"],
    );
    assert_eq!(out.status.code(), Some(1), "a_xid fails the run: {out:?}");
    let r = results(&dir);
    let outcome = |c: &str| {
        r[&format!("klog.{c}")]["outcome"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let case = |c: &str| &r[&format!("klog.{c}")];

    assert_eq!(outcome("a_xid"), "fail");
    let msg = case("a_xid")["message"].as_str().unwrap();
    assert!(
        msg.starts_with(
            "every call succeeded, but the driver logged: NVRM: Xid (PCI:0000:18:00): 31, pid="
        ),
        "{msg}"
    );
    assert!(obs(case("a_xid"), "driver_log")
        .unwrap()
        .starts_with("[err] NVRM: Xid"));
    assert_eq!(
        obs(case("a_xid"), "driver_log_shared_with"),
        None,
        "pid pins it"
    );

    assert_eq!(outcome("b_expected"), "pass", "{:?}", case("b_expected"));
    assert!(obs(case("b_expected"), "driver_log_expected")
        .unwrap()
        .contains("): 43"));

    assert_eq!(
        outcome("c_info"),
        "pass",
        "an info line is recorded, not judged"
    );
    assert!(obs(case("c_info"), "driver_log")
        .unwrap()
        .starts_with("[info] "));

    let ub = case("d_ub_silent");
    assert_eq!(outcome("d_ub_silent"), "flagged");
    assert_eq!(obs(ub, "observed"), Some("driver-logged"));
    assert!(obs(ub, "detail")
        .unwrap()
        .contains("but the driver logged: NVRM: Xid"));

    for quiet in ["e_quiet", "f_quiet"] {
        assert_eq!(outcome(quiet), "pass", "{:?}", case(quiet));
        assert_eq!(
            obs(case(quiet), "driver_log"),
            None,
            "{quiet} ran beside the writers"
        );
    }
    assert!(
        !r.values().any(|v| v.to_string().contains("before the run")),
        "a line logged before the suite started belongs to no case"
    );
    assert_eq!(
        facts(&dir)["properties"]["kernel_log"],
        format!("{f} (HIL_KERNEL_LOG)")
    );

    let xml = common::junit(&dir.join("local/junit.xml"));
    assert!(
        xml.contains(
            "kernel log (GPU driver) during this case:\n[err] NVRM: Xid (PCI:0000:18:00): 31"
        ),
        "JUnit system-out carries the line"
    );
    let summary = std::fs::read_to_string(dir.join("local/summary.txt")).unwrap();
    assert!(
        summary.contains(&format!(
            "kernel log {f} (HIL_KERNEL_LOG): driver messages in 4 case(s)"
        )),
        "{summary}"
    );
    assert!(summary.contains("driver messages (4):"), "{summary}");
    let flagged = std::fs::read_to_string(dir.join("local/flagged.md")).unwrap();
    assert!(flagged.contains("| driver log |"), "{flagged}");
    assert!(flagged.contains("driver-logged"), "{flagged}");
    assert!(
        flagged.contains("[err] NVRM: Xid (PCI:0000:18:00): 31"),
        "{flagged}"
    );
}

#[test]
fn a_line_that_cannot_be_pinned_is_settled_by_a_serial_rerun_never_blamed_on_a_bystander() {
    let dir = scratch("klog-shared");
    let log = dir.join("kernel.log");
    std::fs::write(&log, "").unwrap();
    // Two cases at once (one in a child, so they overlap even where in-process cases run
    // one at a time); the line names no GPU and no process.
    let table = format!(
        "name: shared\nbackend: host\ndoc: d\ntimeout_s: 10\nrows:
  - id: long
    op: selftest_sleep
    params: {{ms: 1500}}
    isolate: true
  - id: writer
    op: selftest_driver_log
    params: {{file: '{}', line: 'nvgpu: 17000000.gpu gk20a_fifo_handle_pbdma_intr [ERR] pbdma_intr_0', after_ms: 300}}
",
        log.display()
    );
    let tables = write_table(&dir, "shared.yaml", &table);
    let out = hil_run(
        &dir,
        &tables,
        &[("HIL_KERNEL_LOG", log.to_str().unwrap())],
        &["--test-threads", "2"],
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    // The suite, running both at once, could not tell whose line it was and said so on
    // both results ...
    let first = std::fs::read_to_string(dir.join("local/events-1.jsonl")).unwrap();
    for (case, other) in [
        ("shared.long", "shared.writer"),
        ("shared.writer", "shared.long"),
    ] {
        let ev = first
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|e| e["event"] == "result" && e["case"] == case)
            .unwrap_or_else(|| panic!("no result for {case} in the parallel attempt"));
        assert_eq!(ev["outcome"], "fail", "{case}: {ev}");
        assert_eq!(obs(&ev, "driver_log_shared_with"), Some(other));
        let msg = ev["message"].as_str().unwrap();
        assert!(
            msg.contains(&format!("logged while {other} also ran")),
            "{msg}"
        );
    }
    // ... so the runner kept neither verdict and ran both again one at a time: the line is
    // the writer's alone and the innocent case passes, as in a serial run.
    let r = results(&dir);
    assert_eq!(r["shared.long"]["outcome"], "pass", "{}", r["shared.long"]);
    assert_eq!(r["shared.writer"]["outcome"], "fail");
    assert_eq!(obs(&r["shared.writer"], "driver_log_shared_with"), None);
    // One thread: windows do not overlap, the line is the writer's alone.
    let serial = scratch("klog-serial");
    std::fs::write(&log, "").unwrap();
    let out = hil_run(
        &serial,
        &tables,
        &[("HIL_KERNEL_LOG", log.to_str().unwrap())],
        &["--test-threads", "1"],
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let r = results(&serial);
    assert_eq!(r["shared.long"]["outcome"], "pass", "{}", r["shared.long"]);
    assert_eq!(r["shared.writer"]["outcome"], "fail");
    assert_eq!(obs(&r["shared.writer"], "driver_log_shared_with"), None);
}

#[test]
fn an_unreadable_kernel_log_is_said_once_in_the_facts_and_the_summary_never_per_case() {
    let dir = scratch("klog-none");
    let tables = write_table(
        &dir,
        "t.yaml",
        "name: t\nbackend: host\ndoc: d\nrows:\n  - id: a\n    op: selftest_ok\n  - id: b\n    op: selftest_ok\n",
    );
    let missing = dir.join("no-such-dir/kernel.log");
    let out = hil_run(
        &dir,
        &tables,
        &[("HIL_KERNEL_LOG", missing.to_str().unwrap())],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let why = facts(&dir)["properties"]["kernel_log"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        why.starts_with("none: ")
            && why.contains("no-such-dir/kernel.log")
            && why.contains("No such file"),
        "{why}"
    );
    let summary = std::fs::read_to_string(dir.join("local/summary.txt")).unwrap();
    assert_eq!(
        summary.matches("driver faults are not seen").count(),
        1,
        "{summary}"
    );
    let xml = common::junit(&dir.join("local/junit.xml"));
    assert!(
        xml.contains("<property name=\"kernel_log\" value=\"none: "),
        "{xml}"
    );
    for r in results(&dir).values() {
        assert_eq!(r["outcome"], "pass");
        assert!(r
            .get("observations")
            .is_none_or(|o| !o.to_string().contains("kernel")));
    }
}

#[test]
fn driver_errors_logged_while_no_case_runs_are_kept_for_the_run_and_fail_it() {
    let dir = scratch("klog-outside");
    let log = dir.join("kernel.log");
    std::fs::write(&log, "").unwrap();
    let f = log.display();
    // One thread: each line is written once its case's window has closed, so it lands
    // between two cases (or after the last one). Device 0 is at 0000:18:00 (HIL_GPU_PCI:
    // this machine has no GPU); lines of another GPU, info lines and other kernel lines
    // are not the run's.
    let after = |id: &str, line: &str, level: u8| {
        format!(
            "  - id: {id}\n    op: selftest_driver_log\n    params: {{file: '{f}', line: '{line}', level: {level}, after_case: 1}}\n"
        )
    };
    let table = format!(
        "name: gap\nbackend: host\ndoc: d\ntimeout_s: 10\nrows:\n{}{}{}{}  - id: e_quiet\n    op: selftest_ok\n{}",
        after("a_xid", "NVRM: Xid (PCI:0000:18:00): 13, Graphics Exception between cases", 3),
        after("b_other_gpu", "NVRM: Xid (PCI:0000:99:00): 13, on a GPU not of this board", 3),
        after("c_info", "NVRM: GPU at PCI:0000:18:00 is fine", 6),
        after("d_not_driver", "usb 1-1: device descriptor read error PCI:0000:18:00", 3),
        after("f_last", "NVRM: Xid (PCI:0000:18:00.0): 79, fallen off the bus after the last case", 3),
    );
    let tables = write_table(&dir, "gap.yaml", &table);
    let out = hil_run(
        &dir,
        &tables,
        &[
            ("HIL_KERNEL_LOG", log.to_str().unwrap()),
            ("HIL_GPU_PCI", "0=0000:18:00.0"),
        ],
        &["--test-threads", "1"],
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "run-level Xids fail the run: {out:?}"
    );
    for (case, r) in results(&dir) {
        assert_eq!(r["outcome"], "pass", "{case}: no window held a line: {r}");
        assert_eq!(obs(&r, "driver_log"), None, "{case}: {r}");
    }
    let m = driver_messages(&dir);
    let lines: Vec<&str> = m.iter().map(|(l, _, _)| l.as_str()).collect();
    assert_eq!(
        lines,
        [
            "[err] NVRM: Xid (PCI:0000:18:00): 13, Graphics Exception between cases",
            "[err] NVRM: Xid (PCI:0000:18:00.0): 79, fallen off the bus after the last case",
        ],
        "{m:?}"
    );
    for (_, cases, when) in &m {
        assert!(cases.is_empty());
        assert!(
            when.starts_with("logged while no case it could belong to ran"),
            "{when}"
        );
    }
    let events = std::fs::read_to_string(dir.join("local/events-1.jsonl")).unwrap();
    assert_eq!(
        events.matches(r#""event":"driver-log""#).count(),
        2,
        "{events}"
    );
    shown_everywhere(&dir, lines[0]);
    shown_everywhere(&dir, lines[1]);
    let summary = std::fs::read_to_string(dir.join("local/summary.txt")).unwrap();
    assert!(
        summary.contains("(HIL_KERNEL_LOG): 2 driver message(s) outside any case's result"),
        "{summary}"
    );

    // Without HIL_GPU_PCI (and no GPU here) nothing says which GPU is where: a line naming
    // any GPU may be the board's, so it is kept, the other machine's GPU's line too.
    let plain = scratch("klog-outside-nogpu");
    std::fs::write(&log, "").unwrap();
    let out = hil_run(
        &plain,
        &tables,
        &[("HIL_KERNEL_LOG", log.to_str().unwrap())],
        &["--test-threads", "1"],
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert_eq!(driver_messages(&plain).len(), 3);

    // A malformed address list is refused before anything runs.
    let bad = scratch("klog-outside-bad");
    let out = hil_run(
        &bad,
        &tables,
        &[
            ("HIL_KERNEL_LOG", log.to_str().unwrap()),
            ("HIL_GPU_PCI", "0000:18:00"),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("HIL_GPU_PCI"),
        "{out:?}"
    );
}

#[test]
fn a_shared_line_that_does_not_recur_when_the_cases_run_alone_stays_in_the_results() {
    let dir = scratch("klog-once");
    let log = dir.join("kernel.log");
    std::fs::write(&log, "").unwrap();
    let marker = dir.join("written-once");
    // As in the test above it, two overlapping cases share a line naming no GPU and no
    // process; but this fault happens once only, so the serial rerun does not see it.
    let table = format!(
        "name: once\nbackend: host\ndoc: d\ntimeout_s: 10\nrows:
  - id: long
    op: selftest_sleep
    params: {{ms: 1500}}
    isolate: true
  - id: writer
    op: selftest_driver_log
    params: {{file: '{}', line: 'nvgpu: 17000000.gpu gk20a_fifo_handle_pbdma_intr [ERR] pbdma_intr_0', after_ms: 300, once: '{}'}}
",
        log.display(),
        marker.display()
    );
    let tables = write_table(&dir, "once.yaml", &table);
    let out = hil_run(
        &dir,
        &tables,
        &[("HIL_KERNEL_LOG", log.to_str().unwrap())],
        &["--test-threads", "2"],
    );
    let r = results(&dir);
    // The parallel attempt shared the line (and so was run again one at a time) ...
    let first = std::fs::read_to_string(dir.join("local/events-1.jsonl")).unwrap();
    assert!(
        first.contains("driver_log_shared_with"),
        "the two cases overlapped in the parallel attempt: {first}"
    );
    // ... where neither logged it: both pass, as they would serially ...
    assert_eq!(r["once.long"]["outcome"], "pass", "{}", r["once.long"]);
    assert_eq!(r["once.writer"]["outcome"], "pass", "{}", r["once.writer"]);
    // ... and the line is the run's, naming both, and fails it.
    let m = driver_messages(&dir);
    assert_eq!(m.len(), 1, "{m:?}");
    let (line, cases, when) = &m[0];
    assert_eq!(
        line,
        "[err] nvgpu: 17000000.gpu gk20a_fifo_handle_pbdma_intr [ERR] pbdma_intr_0"
    );
    assert_eq!(cases, &["once.long", "once.writer"]);
    assert!(
        when.contains("not logged again when they ran one at a time"),
        "{when}"
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    shown_everywhere(&dir, line);
}

/// A writable /dev/kmsg (root), or the test fails saying so (libtest cannot ignore at
/// run time, and a test that did nothing must not pass).
fn writable_kmsg() -> Option<()> {
    let ok = std::fs::OpenOptions::new()
        .append(true)
        .open("/dev/kmsg")
        .and_then(|_| std::fs::File::open("/dev/kmsg"))
        .map_err(|e| e.to_string());
    common::needs::require(
        ok.err().map(|e| {
            format!("the /dev/kmsg test needs /dev/kmsg readable and writable (root): {e}")
        }),
    );
    Some(())
}

#[test]
fn on_the_real_dev_kmsg_lines_between_cases_and_unpinned_lines_reach_the_results() {
    if writable_kmsg().is_none() {
        return;
    }
    // Marked lines that no other suite on this machine takes for its driver's: the
    // default patterns (NVRM, Xid, …) would put an "NVRM: Xid" line into the windows of
    // every hil-suite reading /dev/kmsg right now (other tests); this run adds the marker.
    let mark = format!(
        "hil-kmsg-test-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let dir = scratch("kmsg-real");
    let once = dir.join("written-once");
    let serial_tables = write_table(
        &dir.join("s"),
        "kmsg.yaml",
        &format!(
            "name: kmsg\nbackend: host\ndoc: d\ntimeout_s: 10\nrows:
  - id: a_in_case
    op: selftest_driver_log
    params: {{file: /dev/kmsg, line: '{mark} in case: 13, pid={{pid}}'}}
  - id: b_between
    op: selftest_driver_log
    params: {{file: /dev/kmsg, line: '{mark} between cases (PCI:0000:18:00): 13', after_case: 1}}
  - id: c_quiet
    op: selftest_ok
"
        ),
    );
    let parallel_tables = write_table(
        &dir.join("p"),
        "kmsg.yaml",
        &format!(
            "name: kmsg\nbackend: host\ndoc: d\ntimeout_s: 10\nrows:
  - id: d_long
    op: selftest_sleep
    params: {{ms: 1500}}
    isolate: true
  - id: e_once
    op: selftest_driver_log
    params: {{file: /dev/kmsg, line: '{mark} once, naming no GPU or process', after_ms: 300, once: '{}'}}
",
            once.display()
        ),
    );
    let env = [
        ("HIL_DRIVER_LOG_PATTERNS", mark.as_str()),
        ("HIL_GPU_PCI", "0=0000:18:00"),
    ];
    // Serially: a line in a case's window is that case's; one between cases is the run's.
    let serial = dir.join("serial");
    let out = hil_run(&serial, &serial_tables, &env, &["--test-threads", "1"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert_eq!(facts(&serial)["properties"]["kernel_log"], "/dev/kmsg");
    let r = results(&serial);
    assert_eq!(
        r["kmsg.a_in_case"]["outcome"], "fail",
        "{}",
        r["kmsg.a_in_case"]
    );
    assert!(obs(&r["kmsg.a_in_case"], "driver_log")
        .unwrap()
        .contains(&format!("[err] {mark} in case")));
    assert_eq!(
        r["kmsg.b_between"]["outcome"], "pass",
        "{}",
        r["kmsg.b_between"]
    );
    assert_eq!(
        r["kmsg.c_quiet"]["outcome"], "pass",
        "{}",
        r["kmsg.c_quiet"]
    );
    let m = driver_messages(&serial);
    assert_eq!(m.len(), 1, "{m:?}");
    assert_eq!(
        m[0].0,
        format!("[err] {mark} between cases (PCI:0000:18:00): 13")
    );
    shown_everywhere(&serial, &m[0].0);

    // In parallel: a line two overlapping cases share, which does not come back when they
    // run again one at a time, stays in the results as the run's.
    let parallel = dir.join("parallel");
    let out = hil_run(&parallel, &parallel_tables, &env, &["--test-threads", "2"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let r = results(&parallel);
    assert_eq!(r["kmsg.d_long"]["outcome"], "pass", "{}", r["kmsg.d_long"]);
    assert_eq!(r["kmsg.e_once"]["outcome"], "pass", "{}", r["kmsg.e_once"]);
    let m = driver_messages(&parallel);
    assert_eq!(m.len(), 1, "{m:?}");
    assert_eq!(
        m[0].0,
        format!("[err] {mark} once, naming no GPU or process")
    );
    assert_eq!(m[0].1, ["kmsg.d_long", "kmsg.e_once"]);
    shown_everywhere(&parallel, &m[0].0);

    // A line logged while a case hangs into the suite's watchdog: the next suite process
    // reads the real kernel log again from where the last one had settled it.
    let hang_tables = write_table(
        &dir.join("h"),
        "kmsg.yaml",
        "name: kmsg\nbackend: host\ndoc: d\ntimeout_s: 10\nrows:\n  - id: f_hang\n    op: selftest_hang\n    timeout_s: 2\n  - id: g_after\n    op: selftest_ok\n",
    );
    let hang = dir.join("hang");
    let text = format!("{mark} during a hang (PCI:0000:18:00): 109");
    let writer = {
        let (hang, text) = (hang.clone(), text.clone());
        std::thread::spawn(move || {
            append_when_started(&hang, "kmsg.f_hang", Path::new("/dev/kmsg"), &text)
        })
    };
    let out = hil_run(&hang, &hang_tables, &env, &["--test-threads", "1"]);
    writer.join().unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let m = driver_messages(&hang);
    assert_eq!(m.len(), 1, "{m:?}");
    assert_eq!(m[0].0, format!("[err] {text}"));
    assert!(m[0].2.contains("ended (exit status 124)"), "{}", m[0].2);
}

/// Appends a kmsg-shaped record to `log` as soon as `case` has started (its start event in
/// the first suite process's stream under `results`).
fn append_when_started(results: &Path, case: &str, log: &Path, text: &str) {
    let events = results.join("local/events-1.jsonl");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !std::fs::read_to_string(&events)
        .unwrap_or_default()
        .contains(&format!("\"case\":\"{case}\""))
    {
        assert!(std::time::Instant::now() < deadline, "{case} never started");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let mut f = std::fs::OpenOptions::new().append(true).open(log).unwrap();
    // /dev/kmsg takes a level prefix; a fed file takes the record as kmsg prints it.
    let record = if log == Path::new("/dev/kmsg") {
        format!("<3>{text}\n")
    } else {
        format!("3,0,0,-;{text}\n")
    };
    std::io::Write::write_all(&mut f, record.as_bytes()).unwrap();
}

#[test]
fn a_driver_line_while_a_suite_times_out_or_dies_is_read_again_by_the_next_one() {
    // The line names the board's GPU, which no case here uses: only the run can keep it.
    for (name, row, says) in [
        (
            "hang",
            "op: selftest_hang\n    timeout_s: 2",
            "ended (exit status 124)",
        ),
        ("abort", "op: selftest_abort", "ended (killed by signal 6"),
    ] {
        let dir = scratch(&format!("klog-{name}"));
        let log = dir.join("kernel.log");
        std::fs::write(&log, "").unwrap();
        let tables = write_table(
            &dir,
            "t.yaml",
            &format!(
                "name: t\nbackend: host\ndoc: d\ntimeout_s: 10\nrows:\n  - id: a_ok\n    op: selftest_ok\n  - id: b_{name}\n    {row}\n  - id: c_ok\n    op: selftest_ok\n"
            ),
        );
        let res = dir.join("results");
        let text = format!("NVRM: Xid (PCI:0000:18:00): 109, during {name}");
        let writer = {
            let (res, log, text) = (res.clone(), log.clone(), text.clone());
            std::thread::spawn(move || {
                append_when_started(&res, &format!("t.b_{name}"), &log, &text)
            })
        };
        let out = hil_run(
            &res,
            &tables,
            &[
                ("HIL_KERNEL_LOG", log.to_str().unwrap()),
                ("HIL_GPU_PCI", "0=0000:18:00"),
            ],
            &["--test-threads", "1"],
        );
        writer.join().unwrap();
        assert_eq!(out.status.code(), Some(1), "{out:?}");
        let dm = driver_messages(&res);
        assert_eq!(dm.len(), 1, "{name}: {dm:?}");
        assert!(dm[0].0.ends_with(&text), "{dm:?}");
        assert!(dm[0].2.contains(says), "{name}: {}", dm[0].2);
        assert_eq!(results(&res)["t.c_ok"]["outcome"], "pass");
    }
}

#[test]
fn a_line_naming_one_gpu_reads_the_same_at_any_thread_count_and_a_retry_keeps_it() {
    let dir = scratch("klog-gpu-threads");
    let log = dir.join("kernel.log");
    let tables = write_table(
        &dir,
        "t.yaml",
        &format!(
            "name: t\nbackend: host\ndoc: d\ntimeout_s: 10\nrows:
  - id: a_writer
    op: selftest_driver_log
    params: {{file: '{}', line: 'NVRM: Xid (PCI:0000:18:00): 13, after a on gpu0', after_case: 1}}
    matrix: {{dev: [0]}}
  - id: b_long
    op: selftest_sleep
    params: {{ms: 1200}}
    matrix: {{dev: [1]}}
",
            log.display()
        ),
    );
    let env = [
        ("HIL_KERNEL_LOG", log.to_str().unwrap()),
        ("HIL_GPU_PCI", "0=0000:18:00,1=0000:3b:00"),
    ];
    let mut seen = Vec::new();
    for threads in ["1", "2"] {
        std::fs::write(&log, "").unwrap();
        let res = dir.join(format!("t{threads}"));
        let out = hil_run(&res, &tables, &env, &["--test-threads", threads]);
        assert_eq!(out.status.code(), Some(1), "{out:?}");
        let outcomes: Vec<String> = results(&res)
            .values()
            .map(|r| format!("{} {}", r["case"], r["outcome"]))
            .collect();
        let lines: Vec<String> = driver_messages(&res).into_iter().map(|m| m.0).collect();
        seen.push((outcomes, lines));
    }
    assert_eq!(seen[0], seen[1], "verdicts depend on the thread count");
    assert_eq!(seen[0].1.len(), 1, "{seen:?}");

    // A retry that passes does not take a one-off fault of the failed attempt away.
    let once = dir.join("once");
    let tables = write_table(
        &dir.join("r"),
        "t.yaml",
        &format!(
            "name: t\nbackend: host\ndoc: d\ntimeout_s: 10\nrows:
  - id: b_once
    op: selftest_driver_log
    params: {{file: '{}', line: 'NVRM: Xid 13, pid={{pid}}, once', once: '{}'}}
",
            log.display(),
            once.display()
        ),
    );
    std::fs::write(&log, "").unwrap();
    let res = dir.join("retry");
    let out = hil_run(&res, &tables, &env, &["--retry", "1"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert_eq!(results(&res)["t.b_once"]["outcome"], "pass");
    let dm = driver_messages(&res);
    assert_eq!(dm.len(), 1, "{dm:?}");
    assert_eq!(dm[0].1, ["t.b_once"]);
    assert!(dm[0].2.contains("retry round 1"), "{}", dm[0].2);
}
