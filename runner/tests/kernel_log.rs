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
        .env_remove("HIL_DRIVER_LOG_PATTERNS");
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

    let xml = std::fs::read_to_string(dir.join("local/junit.xml")).unwrap();
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
    let xml = std::fs::read_to_string(dir.join("local/junit.xml")).unwrap();
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
