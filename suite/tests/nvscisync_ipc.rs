//! The cross-process NvSciSync rows (`nvscisync.ipc`): listed on any machine, run in two
//! processes against hil's reference model over an endpoint table the test writes, each
//! row ending as its header citation says; and not-supported, with the probed reason,
//! where the library, NvSciIpc or the endpoints are missing. No row may hang the suite.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

#[path = "../../nvsci-model/testing/model_library.rs"]
mod model_build;
use model_build::model_library;

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("hil-ipc-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

const CFG: &str = "INTER_PROCESS t_ipc_0 t_ipc_1 64 1536\nINTER_PROCESS t_ipc_2 t_ipc_3 64 1536\n";
const TWO_PAIRS: &str = "t_ipc_0:t_ipc_1,t_ipc_2:t_ipc_3";

/// One result: outcome, message, observations (key -> value).
type Results = BTreeMap<String, (String, String, BTreeMap<String, String>)>;

fn suite() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_hil-suite"));
    for v in [
        "HIL_NVSCISYNC_LIB",
        "HIL_NVSCIIPC_LIB",
        "HIL_IPC_ENDPOINTS",
        "HIL_NVSCIIPC_CFG",
        "HIL_NVSCIIPC_SOCKET_DIR",
        "HIL_NVSCISYNC_MODEL_VERSION",
        "LD_LIBRARY_PATH",
    ] {
        c.env_remove(v);
    }
    c
}

/// `hil-suite nvscisync.ipc` as `cmd` is set up, its results from the event stream.
fn run(mut cmd: Command, dir: &Path) -> (Results, Output) {
    let events = dir.join("events.jsonl");
    let _ = std::fs::remove_file(&events);
    let start = Instant::now();
    let out = cmd
        .args(["nvscisync.ipc", "--events"])
        .arg(&events)
        .output()
        .unwrap();
    assert!(
        start.elapsed() < Duration::from_secs(120),
        "the cross-process rows took {:?}",
        start.elapsed()
    );
    let mut results = Results::new();
    for line in std::fs::read_to_string(&events).unwrap_or_default().lines() {
        let e: serde_json::Value = serde_json::from_str(line).unwrap();
        if e["event"] != "result" {
            continue;
        }
        let s = |k: &str| e[k].as_str().unwrap_or_default().to_string();
        let obs = e["observations"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|o| {
                let v = |k: &str| o[k].as_str().unwrap_or_default().to_string();
                (v("key"), v("value"))
            })
            .collect();
        results.insert(s("case"), (s("outcome"), s("message"), obs));
    }
    (results, out)
}

fn with_model(dir: &Path, lib: &Path, endpoints: &str) -> Command {
    std::fs::write(dir.join("nvsciipc.cfg"), CFG).unwrap();
    let mut c = suite();
    c.env("HIL_NVSCISYNC_LIB", lib)
        .env("HIL_NVSCIIPC_CFG", dir.join("nvsciipc.cfg"))
        .args(["--nvsciipc-lib"])
        .arg(lib)
        .args(["--ipc-endpoints", endpoints]);
    c
}

/// `--tables DIR` holding one table, `nvscisync.ipc`, of the test's own `rows`.
fn own_table(dir: &Path, rows: &str) -> PathBuf {
    let t = dir.join("tables");
    let _ = std::fs::remove_dir_all(&t);
    std::fs::create_dir_all(&t).unwrap();
    let head =
        "name: nvscisync.ipc\nbackend: nvscisync\ndoc: rows of a test\ntimeout_s: 60\nrows:\n";
    std::fs::write(t.join("ipc.yaml"), format!("{head}{rows}")).unwrap();
    t
}

/// Each case's `duration_s` in the event stream `run` left in `dir`.
fn durations(dir: &Path) -> BTreeMap<String, f64> {
    let text = std::fs::read_to_string(dir.join("events.jsonl")).unwrap();
    text.lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["event"] == "result")
        .map(|e| {
            let case = e["case"].as_str().unwrap_or_default().to_string();
            (case, e["duration_s"].as_f64().unwrap_or(f64::NAN))
        })
        .collect()
}

/// Whether a case has a GPU side (`dev0`, `cpu_dev1`, …).
fn names_a_device(case: &str) -> bool {
    case.split(['.', '_']).any(|p| {
        p.strip_prefix("dev")
            .is_some_and(|n| n.parse::<u32>().is_ok())
    })
}

/// Every CPU row against the model 2.8: (case, outcome, what its message says).
const ON_THE_MODEL: &[(&str, &str, &str)] = &[
    ("lists.unreconciled", "pass", ""),
    ("lists.reconciled", "pass", ""),
    (
        "lists.unsatisfied_input",
        "pass",
        "NvSciSyncAttrListIpcImportReconciled returned 65793 (NvSciError_AttrListValidationFailed)",
    ),
    (
        "lists.export_unreconciled_as_reconciled",
        "pass",
        "NvSciSyncAttrListIpcExportReconciled returned 256",
    ),
    (
        "desc.list_corrupt",
        "pass",
        "NvSciSyncAttrListIpcImportReconciled returned 256",
    ),
    (
        "desc.list_truncated",
        "pass",
        "NvSciSyncAttrListIpcImportReconciled returned 256",
    ),
    (
        "desc.list_other_endpoint",
        "pass",
        "NvSciSyncAttrListIpcImportReconciled returned 256",
    ),
    ("roundtrip.cpu_cpu", "pass", ""),
    ("roundtrip_importer_signals.cpu_cpu", "pass", ""),
    ("obj.import_timeout", "pass", ""),
    (
        "obj.waiter_signals",
        "pass",
        "NvSciSyncObjSignal returned 256",
    ),
    (
        "obj.waiter_generates_fence",
        "pass",
        "NvSciSyncObjGenerateFence returned 256",
    ),
    (
        "obj.input_list_mismatch",
        "pass",
        "NvSciSyncObjIpcImport returned 256",
    ),
    (
        "obj.export_more_perm",
        "pass",
        "NvSciSyncObjIpcExport returned 256",
    ),
    (
        "desc.obj_corrupt",
        "pass",
        "NvSciSyncObjIpcImport returned 256",
    ),
    (
        "desc.obj_other_endpoint",
        "pass",
        "NvSciSyncObjIpcImport returned 256",
    ),
    (
        "fence.wait_timeout",
        "pass",
        "NvSciSyncFenceWait returned 512 (NvSciError_Timeout)",
    ),
    (
        "fence.other_object",
        "pass",
        "NvSciSyncIpcImportFence returned 256",
    ),
    (
        "ub.exporter_frees_while_imported.cpu",
        "flagged",
        "NvSciSyncFenceWait returned 512",
    ),
    (
        "ub.exporter_exits_while_imported.cpu",
        "flagged",
        "NvSciSyncFenceWait returned 512",
    ),
];

#[test]
fn every_machine_lists_the_cross_process_rows() {
    let out = suite().args(["--list"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let ipc: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_suffix(": test"))
        .filter(|c| c.starts_with("nvscisync.ipc."))
        .collect();
    assert_eq!(ipc.len(), 60, "{ipc:?}");
    assert_eq!(ipc.iter().filter(|c| !names_a_device(c)).count(), 20);
    for (row, _, _) in ON_THE_MODEL {
        assert!(
            ipc.contains(&format!("nvscisync.ipc.{row}").as_str()),
            "{row}"
        );
    }
    let ops = suite().arg("--list-ops").output().unwrap();
    let ops = String::from_utf8_lossy(&ops.stdout);
    for op in [
        "nvsci_ipc_lists",
        "nvsci_ipc_roundtrip",
        "nvsci_ipc_obj",
        "nvsci_ipc_exporter_gone",
    ] {
        assert!(ops.contains(op), "--list-ops lacks {op}");
    }
}

#[test]
fn against_the_model_each_row_ends_as_its_header_says_in_two_processes() {
    let lib = model_library();
    let dir = scratch("model");
    let (results, out) = run(with_model(&dir, &lib, TWO_PAIRS), &dir);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(results.len(), 60, "{results:?}");
    for (row, outcome, says) in ON_THE_MODEL {
        let case = format!("nvscisync.ipc.{row}");
        let (got, message, obs) = &results[&case];
        assert_eq!(
            (got.as_str(), message.contains(says)),
            (*outcome, true),
            "{case}: {message}"
        );
        if *got == "pass" && says.is_empty() {
            // The case's own process used the first end of a pair; the peer, a process
            // of its own, the second.
            assert!(obs["endpoints"].starts_with("t_ipc_"), "{case}: {obs:?}");
            assert_eq!(obs["peer"], "a process of its own, exit status 0", "{case}");
        }
        // What makes a descriptor invalid is the library's: the verdict says the row
        // rests on a reading of the header.
        assert_eq!(
            row.starts_with("desc."),
            obs.contains_key("header_ambiguous"),
            "{case}: {obs:?}"
        );
    }
    assert_eq!(results["nvscisync.ipc.roundtrip.cpu_cpu"].2["rounds"], "8");
    let passed = results.values().filter(|r| r.0 == "pass").count();
    assert!(passed >= 8, "{passed} passed");
    // GPU sides need a CUDA with NvSciSync: not-supported here, with CUDA's reason.
    for (case, (outcome, message, _)) in results.iter().filter(|(c, _)| names_a_device(c)) {
        assert_eq!(outcome, "not-supported", "{case}: {message}");
        assert!(
            message.contains("CUDA") || message.contains("libcuda"),
            "{case}: {message}"
        );
    }
}

#[test]
fn a_half_that_has_read_the_other_halfs_end_does_not_wait_for_it_again() {
    // The main half fails before it sends anything (a scenario the op does not know); the
    // peer, waiting for the reconciled list, reads the main half's abort instead. Nothing
    // more will come: the peer ends at once rather than wait out its 10 s message limit.
    let lib = model_library();
    let dir = scratch("end-seen");
    let rows =
        "  - id: lists.unknown\n    op: nvsci_ipc_lists\n    params: {scenario: unknown}\n    \
                doc: a scenario the op does not know\n";
    let mut cmd = with_model(&dir, &lib, TWO_PAIRS);
    cmd.arg("--tables").arg(own_table(&dir, rows));
    let (results, _) = run(cmd, &dir);
    let (outcome, message, _) = &results["nvscisync.ipc.lists.unknown"];
    assert_eq!(
        (outcome.as_str(), message.as_str()),
        (
            "fail",
            "bad row: scenario `unknown` is not one this op knows"
        )
    );
    let took = durations(&dir)["nvscisync.ipc.lists.unknown"];
    assert!(took < 10.0, "the case waited {took} s for the peer");
}

#[test]
fn cases_holding_the_only_pair_long_never_fail_another_for_want_of_it() {
    // Three cases of about 6 s each on one endpoint pair at 8 threads: the executor gives
    // the pair to one case at a time, so the last one waits about 12 s for it outside its
    // time limit, longer than a case waits for a pair another process holds (10 s).
    let lib = model_library();
    let dir = scratch("one-pair");
    let rows: String = ["a", "b", "c"]
        .iter()
        .map(|n| {
            format!(
                "  - id: long_{n}\n    op: nvsci_ipc_roundtrip\n    \
                 params: {{count: 2500, export_perm: wait}}\n    \
                 matrix: {{signaler: [cpu], waiter: [cpu]}}\n    doc: many rounds\n"
            )
        })
        .collect();
    let mut cmd = with_model(&dir, &lib, "t_ipc_0:t_ipc_1");
    cmd.arg("--tables")
        .arg(own_table(&dir, &rows))
        .args(["--test-threads", "8"]);
    let (results, _) = run(cmd, &dir);
    assert_eq!(results.len(), 3, "{results:?}");
    for (case, (outcome, message, obs)) in &results {
        assert_eq!(outcome, "pass", "{case}: {message}");
        assert_eq!(obs["rounds"], "2500", "{case}");
    }
}

/// Endpoint `name` of the model's table in `dir`, held open as another process would hold
/// it: the model opens an endpoint in one process at a time by a flock of
/// `<dir>/<name>.lock` (nvsci-model/src/ipc.rs). Held until dropped.
fn held_elsewhere(dir: &Path, name: &str) -> std::fs::File {
    use std::os::fd::AsRawFd;
    let f = std::fs::File::create(dir.join(format!("{name}.lock"))).unwrap();
    // SAFETY: flock on a descriptor this function owns.
    let r = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    assert_eq!(r, 0, "could not lock {name}.lock");
    f
}

#[test]
fn a_pair_another_process_holds_is_never_used_and_verdicts_do_not_depend_on_threads() {
    // Two pairs; another process holds one end of one of them (the first end, then the
    // second). Only one pair is usable: the one-pair rows take turns on it, the two-pair
    // row is not-supported naming the held end, the same at 1 and at 8 threads; no row
    // waits out a limit for the held pair.
    let lib = model_library();
    let rows = r#"  - id: lists
    op: nvsci_ipc_lists
    params: {scenario: unreconciled}
    doc: one pair
  - id: rounds
    op: nvsci_ipc_roundtrip
    params: {count: 200, export_perm: wait}
    matrix: {signaler: [cpu], waiter: [cpu]}
    doc: one pair
  - id: other_endpoint
    op: nvsci_ipc_lists
    params: {scenario: other_endpoint}
    expect: {nvsci: [0, 0x100]}
    doc: two pairs
"#;
    for (held, free) in [
        ("t_ipc_0", "t_ipc_2:t_ipc_3"),
        ("t_ipc_3", "t_ipc_0:t_ipc_1"),
    ] {
        let dir = scratch(&format!("held-{held}"));
        let _holder = held_elsewhere(&dir, held);
        let mut seen = Vec::new();
        for threads in ["1", "8"] {
            let mut cmd = with_model(&dir, &lib, TWO_PAIRS);
            cmd.arg("--tables")
                .arg(own_table(&dir, rows))
                .args(["--test-threads", threads]);
            let (results, out) = run(cmd, &dir);
            assert_eq!(results.len(), 3, "{results:?}");
            for case in ["nvscisync.ipc.lists", "nvscisync.ipc.rounds.cpu_cpu"] {
                let (outcome, message, obs) = &results[case];
                assert_eq!(
                    outcome, "pass",
                    "{held} held, {threads} threads, {case}: {message}"
                );
                assert_eq!(obs["endpoints"], free, "{case}");
            }
            let (outcome, message, _) = &results["nvscisync.ipc.other_endpoint"];
            assert_eq!(
                outcome, "not-supported",
                "{held} held, {threads} threads: {message}"
            );
            assert!(
                message.contains(&format!(
                    "opening `{held}`: NvSciIpcOpenEndpoint returned 514"
                )),
                "names the held endpoint: {message}"
            );
            let slowest = durations(&dir).into_values().fold(0.0, f64::max);
            assert!(slowest < 10.0, "a case took {slowest} s");
            let verdicts: Vec<(String, String, String)> = results
                .into_iter()
                .map(|(c, (o, m, _))| (c, o, m))
                .collect();
            seen.push(verdicts);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                stderr.contains(&format!(
                    "opening `{held}`: NvSciIpcOpenEndpoint returned 514"
                )),
                "the suite's log names the held endpoint: {stderr}"
            );
        }
        assert_eq!(seen[0], seen[1], "{held} held: 1 thread vs 8");
    }
}

/// The pid of a live process whose command line holds every one of `words`.
fn pid_of(words: &[&str]) -> Option<i32> {
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: i32 = e.file_name().to_str()?.parse().ok()?;
        let cmd = std::fs::read(e.path().join("cmdline")).ok()?;
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        words.iter().all(|w| cmd.contains(w)).then_some(pid)
    })
}

#[test]
fn a_peer_killed_mid_exchange_is_said_as_its_death_not_as_a_library_code() {
    // Thousands of rounds; the peer process is killed (SIGKILL) while they run. The main
    // half's next write or read meets the reset endpoint: the case fails saying that the
    // peer closed its endpoint and how the peer ended, never as if NvSciIpcWrite's
    // ConnectionReset were the row's answer. Whether the main half is writing or reading
    // when the peer dies is timing: several kills meet both.
    let lib = model_library();
    let dir = scratch("killed-peer");
    let rows = r#"  - id: peer_killed
    op: nvsci_ipc_roundtrip
    params: {count: 1000000, export_perm: wait}
    matrix: {signaler: [cpu], waiter: [cpu]}
    doc: many rounds
"#;
    for _ in 0..4 {
        let events = dir.join("events.jsonl");
        let _ = std::fs::remove_file(&events);
        let mut cmd = with_model(&dir, &lib, "t_ipc_0:t_ipc_1");
        cmd.arg("--tables")
            .arg(own_table(&dir, rows))
            .arg("--events")
            .arg(&events)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        let mut suite = cmd.spawn().unwrap();
        let case = "nvscisync.ipc.peer_killed.cpu_cpu";
        let until = Instant::now() + Duration::from_secs(30);
        let peer = loop {
            if let Some(pid) = pid_of(&["--ipc-peer", case]) {
                break pid;
            }
            assert!(Instant::now() < until, "no peer process started");
            std::thread::sleep(Duration::from_millis(20));
        };
        // Some rounds in: both halves are exchanging frames.
        std::thread::sleep(Duration::from_millis(500));
        // SAFETY: a signal to the peer process this test saw start.
        unsafe { libc::kill(peer, libc::SIGKILL) };
        let status = suite.wait().unwrap();
        assert_eq!(status.code(), Some(101), "the case fails");
        let text = std::fs::read_to_string(&events).unwrap();
        let result = text
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .find(|e| e["event"] == "result")
            .expect("a result");
        let message = result["message"].as_str().unwrap_or_default();
        assert_eq!(result["outcome"], "fail", "{message}");
        assert!(
            message.contains("the peer closed its endpoint")
                && message.contains("the peer process ended without a result (killed by SIGKILL"),
            "{message}"
        );
        assert!(!message.contains("returned"), "{message}");
    }
}

#[test]
fn pairs_whose_names_are_not_one_cfg_line_fail_as_configuration_not_as_library_codes() {
    // t_ipc_0 and t_ipc_1 are the two ends of one line, and t_ipc_2 and t_ipc_3 of the
    // other: crossed, two cases at once join their main halves (and their peers) to each
    // other. Each half names its case and role first, so no case reads the other's bytes
    // as an answer of the library.
    let lib = model_library();
    let dir = scratch("crossed");
    let rows = r#"  - id: a
    op: nvsci_ipc_lists
    params: {scenario: reconciled}
    doc: one pair
  - id: b
    op: nvsci_ipc_lists
    params: {scenario: reconciled}
    doc: one pair
"#;
    let mut cmd = with_model(&dir, &lib, "t_ipc_0:t_ipc_2,t_ipc_1:t_ipc_3");
    cmd.arg("--tables")
        .arg(own_table(&dir, rows))
        .args(["--test-threads", "8"]);
    let (results, _) = run(cmd, &dir);
    assert_eq!(results.len(), 2, "{results:?}");
    for (case, (outcome, message, _)) in &results {
        assert_eq!(outcome, "fail", "{case}: {message}");
        assert!(
            message.contains("two ends of one INTER_PROCESS line") && !message.contains("returned"),
            "{case}: {message}"
        );
    }
}

#[test]
fn an_in_process_case_past_its_limit_is_a_timeout_however_busy_the_machine() {
    // The case's peer outlives the case's limit by a grace: the suite's watchdog, not the
    // peer's kill, ends a case that runs too long, so it is a timeout whether or not other
    // cases load the machine (a peer killed first read as a failed check under load).
    let lib = model_library();
    let dir = scratch("past-limit");
    let row = |id: &str, extra: &str| {
        format!(
            "  - id: {id}\n    op: nvsci_ipc_roundtrip\n    \
             params: {{count: 100000000, export_perm: wait}}\n    \
             matrix: {{signaler: [cpu], waiter: [cpu]}}\n    timeout_s: 3\n{extra}    \
             doc: rounds past the limit\n"
        )
    };
    let rows = [
        row("load_ub", "    ub: \"load\"\n"),
        row("load_isolate", "    isolate: true\n"),
        row("in_process", ""),
    ]
    .concat();
    for _ in 0..2 {
        let mut cmd = with_model(&dir, &lib, TWO_PAIRS);
        cmd.arg("--tables")
            .arg(own_table(&dir, &rows))
            .args(["--test-threads", "8"]);
        let (results, _) = run(cmd, &dir);
        let (outcome, message, _) = &results["nvscisync.ipc.in_process.cpu_cpu"];
        assert_eq!(outcome, "timeout", "{message}");
    }
}

#[test]
fn a_2_0_library_has_no_signal_export_and_still_refuses_more_permission() {
    let lib = model_library();
    let dir = scratch("model-2.0");
    let mut cmd = with_model(&dir, &lib, TWO_PAIRS);
    cmd.env("HIL_NVSCISYNC_MODEL_VERSION", "2.0");
    let (results, _) = run(cmd, &dir);
    let (outcome, message, _) = &results["nvscisync.ipc.roundtrip_importer_signals.cpu_cpu"];
    assert_eq!(outcome, "not-supported");
    assert!(
        message.starts_with("needs NvSciSync 2.3 (NvSciSyncObjIpcExport takes signaling rights")
            && message.ends_with("this library is NvSciSync 2.0"),
        "{message}"
    );
    for row in [
        "roundtrip.cpu_cpu",
        "obj.export_more_perm",
        "lists.reconciled",
    ] {
        let r = &results[&format!("nvscisync.ipc.{row}")];
        assert_eq!(r.0, "pass", "{row}: {}", r.1);
    }
}

#[test]
fn without_library_nvsciipc_or_endpoints_they_are_not_supported_with_the_probed_reason() {
    let lib = model_library();
    let dir = scratch("missing");
    let reason = |results: &Results| -> Vec<String> {
        let mut r: Vec<String> = results
            .values()
            .map(|v| format!("{} {}", v.0, v.1))
            .collect();
        r.sort();
        r.dedup();
        r
    };
    // No NvSciSync at all.
    let (results, _) = run(suite(), &dir);
    assert_eq!(results.len(), 60);
    let r = reason(&results);
    assert!(
        r.iter()
            .all(|m| m.starts_with("not-supported libnvscisync.so.1 not loadable")),
        "{r:?}"
    );
    // NvSciSync, no NvSciIpc.
    let mut cmd = suite();
    cmd.env("HIL_NVSCISYNC_LIB", &lib)
        .args(["--ipc-endpoints", TWO_PAIRS]);
    let (results, _) = run(cmd, &dir);
    let (o, m, _) = &results["nvscisync.ipc.roundtrip.cpu_cpu"];
    assert_eq!((o.as_str(), m.as_str()), ("not-supported", "libnvsciipc.so.1 not loadable: libnvsciipc.so.1: cannot open shared object file: No such file or directory"));
    // Both libraries, no endpoints: never guessed.
    std::fs::write(dir.join("nvsciipc.cfg"), CFG).unwrap();
    let mut cmd2 = suite();
    cmd2.env("HIL_NVSCISYNC_LIB", &lib)
        .env("HIL_NVSCIIPC_LIB", &lib)
        .env("HIL_NVSCIIPC_CFG", dir.join("nvsciipc.cfg"));
    let (results, _) = run(cmd2, &dir);
    let (o, m, _) = &results["nvscisync.ipc.lists.reconciled"];
    assert_eq!(o, "not-supported");
    assert!(
        m.starts_with("no NvSciIpc endpoint pair given: set ipc_endpoints"),
        "{m}"
    );
    // One pair: the rows replaying on another pair say so; an endpoint the cfg lacks.
    let (results, _) = run(with_model(&dir, &lib, "t_ipc_0:t_ipc_1"), &dir);
    let (o, m, _) = &results["nvscisync.ipc.desc.obj_other_endpoint"];
    assert_eq!(
        (o.as_str(), m.as_str()),
        (
            "not-supported",
            "this row needs 2 endpoint pairs; ipc_endpoints gives 1"
        )
    );
    assert_eq!(results["nvscisync.ipc.obj.waiter_signals"].0, "pass");
    let (results, _) = run(with_model(&dir, &lib, "nope_0:nope_1"), &dir);
    let (o, m, _) = &results["nvscisync.ipc.lists.reconciled"];
    assert_eq!(o, "not-supported");
    assert!(m.contains("NoSuchEntry") && m.contains("`nope_0`"), "{m}");
    // A missing name anywhere in the setting, first or second end, makes every row
    // not-supported at any thread count: never a fail, never the free pair's pass.
    for (endpoints, missing) in [
        ("t_ipc_0:t_ipc_1,gone_0:gone_1", "`gone_0`"),
        ("t_ipc_0:nosuch", "`nosuch`"),
    ] {
        let mut seen = Vec::new();
        for threads in ["1", "4"] {
            let mut cmd = with_model(&dir, &lib, endpoints);
            cmd.args(["--test-threads", threads]);
            let (results, _) = run(cmd, &dir);
            assert_eq!(results.len(), 60, "{endpoints} at {threads}: {results:?}");
            for (case, (o, m, _)) in &results {
                let named = m.contains("NoSuchEntry") && m.contains(missing)
                    || m.starts_with("this row needs 2 endpoint pairs");
                assert!(
                    o == "not-supported" && (named || names_a_device(case)),
                    "{endpoints} at {threads}: {case}: {o} {m}"
                );
            }
            seen.push(results);
        }
        assert_eq!(seen[0], seen[1], "{endpoints}: 1 vs 4 threads");
    }
    // A peer for a row of another op says so at once, never waiting for a connection.
    let start = Instant::now();
    let out = suite()
        .args(["--ipc-peer", "host.info", "--ipc-peer-endpoints", "t_ipc_1"])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("is not a cross-process row") && start.elapsed() < Duration::from_secs(5),
        "{said}"
    );
    // A malformed setting: exit 2 with the fix, before any case.
    let out = suite()
        .args(["--ipc-endpoints", "a_0;a_1", "--list"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--ipc-endpoints=\"a_0;a_1\": `a_0;a_1` is not a pair NAME_0:NAME_1; expected INTER_PROCESS endpoint pairs"),
        "{err}"
    );
    let out = suite()
        .env("HIL_IPC_ENDPOINTS", "a:a")
        .arg("--list")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("HIL_IPC_ENDPOINTS=\"a:a\": endpoint `a` is named twice"));
    let _ = std::fs::remove_dir_all(&dir);
}
