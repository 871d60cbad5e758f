//! The same tables against NvSciSync libraries of different versions: hil's reference
//! model presenting itself as 2.0, 2.5 and 2.8 (as those headers define the keys), and a
//! 1.x-shaped library. Shows which rows run under each version and that the rest are
//! not-supported with the library's version as the reason.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

#[path = "../../nvsci-model/testing/model_library.rs"]
mod model_build;
use model_build::model_library;

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("hil-suite-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

struct Run {
    /// case -> (outcome, message, implementation)
    results: BTreeMap<String, (String, String, String)>,
    facts: serde_json::Value,
}

/// `hil-suite nvscisync.` with the given library (and model version), from its events.
fn run_suite(lib: &Path, model_version: Option<&str>, tag: &str) -> Run {
    let dir = scratch(tag);
    let events = dir.join("events.jsonl");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hil-suite"));
    cmd.args(["nvscisync.", "--test-threads", "1", "--events"])
        .arg(&events)
        .env("HIL_NVSCISYNC_LIB", lib)
        .env_remove("HIL_NVSCISYNC_MODEL_VERSION");
    if let Some(v) = model_version {
        cmd.env("HIL_NVSCISYNC_MODEL_VERSION", v);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{tag}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let mut run = Run {
        results: BTreeMap::new(),
        facts: serde_json::Value::Null,
    };
    for line in std::fs::read_to_string(&events).unwrap().lines() {
        let e: serde_json::Value = serde_json::from_str(line).unwrap();
        match e["event"].as_str() {
            Some("facts") => run.facts = e,
            Some("result") => {
                let s = |k: &str| e[k].as_str().unwrap_or_default().to_string();
                run.results
                    .insert(s("case"), (s("outcome"), s("message"), s("implementation")));
            }
            _ => {}
        }
    }
    run
}

/// Whether a case name carries a CUDA device label (`dev0`, `cpu_dev1`, …).
fn names_a_device(case: &str) -> bool {
    case.split(['.', '_']).any(|part| {
        part.strip_prefix("dev")
            .is_some_and(|n| n.parse::<u32>().is_ok())
    })
}

/// Rows that need more than NvSciSync 2.0, with the version that declares what they use.
const GATED: &[(&str, u32)] = &[
    ("nvscisync.keys.require_deterministic_fences", 3),
    ("nvscisync.keys.num_timestamp_slots", 3),
    ("nvscisync.keys.num_task_status_slots", 3),
    ("nvscisync.keys.max_primitive_value", 3),
    ("nvscisync.api.fence.deterministic_cpu_signaler", 3),
    ("nvscisync.cuda.deterministic_fences.dev0", 3),
    ("nvscisync.cuda.deterministic_fences.dev1", 3),
    ("nvscisync.cuda.deterministic_fences.dev0.runtime", 3),
    ("nvscisync.cuda.deterministic_fences.dev1.runtime", 3),
    ("nvscisync.keys.reconciled.max_primitive_value", 3),
    ("nvscisync.keys.reconciled.num_task_status_slots", 3),
    ("nvscisync.keys.primitive_info", 5),
    ("nvscisync.keys.reconciled.primitive_info", 5),
    ("nvscisync.keys.peer_location_info", 5),
    ("nvscisync.keys.gpu_id", 5),
    ("nvscisync.keys.peer_hw_engine_array", 8),
    ("nvscisync.api.fence.extract_cleared", 3),
    ("nvscisync.api.fence.update.next_point", 3),
    ("nvscisync.api.fence.update.replace", 3),
    ("nvscisync.api.fence.update.keeps_obj", 3),
    ("nvscisync.api.fence.update.bad_id", 3),
    ("nvscisync.api.fence.update.null_fence", 3),
    ("nvscisync.api.fence.update.value_over_32bit", 5),
];

/// Rows whose expectation rests on a reading of ambiguous header text (`header_ambiguous`).
const AMBIGUOUS: &[&str] = &[
    "nvscisync.api.set.auto_perm",
    "nvscisync.api.reconcile.one_wait_signal_list",
    "nvscisync.api.reconcile.no_signaler",
    "nvscisync.api.reconcile.two_signalers",
    "nvscisync.api.reconcile.no_waiter",
    "nvscisync.api.reconcile.duplicate_input",
    "nvscisync.api.validate.unsatisfied",
    "nvscisync.api.validate.duplicate_input",
    "nvscisync.api.reconcile_alloc.no_signaler",
    "nvscisync.api.reconcile_alloc.duplicate_input",
    "nvscisync.keys.actual_perm",
    "nvscisync.keys.num_timestamp_slots",
    "nvscisync.keys.num_task_status_slots",
    "nvscisync.keys.max_primitive_value",
];

/// Every row of every NvSciSync table cites the header it rests on: its own doc names
/// `nvscisync.h` (or its `ub` text does), or, in `nvscisync.keys`, the table's GetAttrs rule.
#[test]
fn every_nvscisync_api_row_cites_the_header() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/tables");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|f| f.starts_with("nvscisync_") && f.ends_with(".yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 5, "NvSciSync tables found: {files:?}");
    let mut rows = 0;
    for file in &files {
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        let t = hil_suite::table::parse(file, &text).unwrap();
        assert!(
            matches!(t.backend, hil_suite::table::Backend::Nvscisync),
            "{file}"
        );
        for row in &t.rows {
            rows += 1;
            let cites =
                |s: &Option<String>| s.as_deref().is_some_and(|d| d.contains("nvscisync.h"));
            let keys_rule = file == "nvscisync_keys.yaml" && row.op.0 == "nvsci_key_unset";
            assert!(
                cites(&row.doc) || cites(&row.ub) || keys_rule,
                "{file}: row `{}` cites no nvscisync.h line",
                row.id.0
            );
            if row.header_ambiguous.is_some() {
                assert!(
                    matches!(&row.expect, hil_suite::table::Expect::Error { codes, .. } if codes.len() > 1),
                    "{file}: ambiguous row `{}` accepts a single outcome",
                    row.id.0
                );
            }
        }
    }
    assert!(rows >= 90, "{rows} NvSciSync rows in {files:?}");
}

#[test]
fn the_model_as_2_0_2_5_and_2_8_runs_the_rows_each_version_has() {
    let lib = model_library();
    let mut passed_by_version = Vec::new();
    for (text, minor) in [("2.0", 0u32), ("2.5", 5), ("2.8", 8)] {
        let run = run_suite(&lib, Some(text), &format!("model-{text}"));
        assert_eq!(run.facts["properties"]["nvscisync.version"], text);
        assert_eq!(
            run.facts["properties"]["nvscisync.source"],
            "hil reference model (not hardware)"
        );
        let mut passed = 0;
        for (case, (outcome, message, implementation)) in &run.results {
            let gate = GATED.iter().find(|(c, _)| c == case).map(|(_, m)| *m);
            match gate {
                Some(needs) if needs > minor => {
                    assert_eq!(outcome, "not-supported", "{text}: {case}");
                    assert!(
                        message.contains(&format!("needs NvSciSync 2.{needs}"))
                            && message.ends_with(&format!("this library is NvSciSync {text}")),
                        "{text}: {case}: {message}"
                    );
                }
                // Cross-process rows need NvSciIpc and endpoints too (nvscisync_ipc.rs).
                _ if case.starts_with("nvscisync.ipc.") => {
                    assert_eq!(outcome, "not-supported", "{text}: {case}: {message}");
                    assert!(
                        message.starts_with("libnvsciipc.so.1 not loadable")
                            || names_a_device(case),
                        "{text}: {case}: {message}"
                    );
                }
                // Rows naming a CUDA device: no GPU with NvSciSync next to the model.
                _ if names_a_device(case) => {
                    assert_eq!(outcome, "not-supported", "{text}: {case}: {message}");
                }
                _ if case.contains("alloc_from_freed_list")
                    || case.contains("free_obj_after_import") =>
                {
                    assert_eq!(outcome, "flagged", "{text}: {case}");
                }
                _ => {
                    assert_eq!(outcome, "pass", "{text}: {case}: {message}");
                    assert!(
                        implementation
                            .starts_with(&format!("hil reference model of NvSciSync {text} "))
                            && implementation.contains("not hardware"),
                        "{text}: {case}: {implementation}"
                    );
                    // A verdict resting on an interpretation says so first.
                    assert_eq!(
                        message.starts_with("header ambiguous: "),
                        AMBIGUOUS.contains(&case.as_str()),
                        "{text}: {case}: {message}"
                    );
                    passed += 1;
                }
            }
        }
        passed_by_version.push((text, passed));
    }
    // 2.0: the core and the 2.0 utility functions; 2.5 adds the 2.3 keys (unreconciled
    // and reconciled), deterministic fences, ExtractFence / UpdateFence and the 2.5 keys;
    // 2.8 adds PeerHwEngineArray.
    assert_eq!(
        passed_by_version,
        [("2.0", 63), ("2.5", 81), ("2.8", 82)],
        "rows that run per version"
    );
}

/// A library shaped like NvSciSync 1.x: the API without NvSciSyncCheckVersionCompatibility.
/// Built from C with the system compiler, as the real 1.0 header declares that function's absence.
#[test]
fn a_1_x_library_is_refused_naming_1_x_and_the_permission_encoding() {
    let dir = scratch("nvsci-1x");
    let src = dir.join("fake1x.c");
    std::fs::write(
        &src,
        "typedef struct M* NvSciSyncModule;\n\
         int NvSciSyncModuleOpen(NvSciSyncModule* m) { *m = 0; return 0; }\n",
    )
    .unwrap();
    let lib = dir.join("libnvscisync.so.1");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let st = Command::new(&cc)
        .args(["-shared", "-fPIC", "-o"])
        .arg(&lib)
        .arg(&src)
        .status()
        .unwrap_or_else(|e| {
            panic!("{cc} not runnable ({e}): install a C compiler (apt-get install -y gcc)")
        });
    assert!(st.success());
    let run = run_suite(&lib, None, "run-1x");
    let imp = run.facts["implementations"]["nvscisync"].as_str().unwrap();
    assert!(
        imp.starts_with("none: ")
            && imp.contains("is NvSciSync 1.x")
            && imp.contains("lacks NvSciSyncCheckVersionCompatibility")
            && imp.contains("WaitOnly 0")
            && imp.contains("bit flags"),
        "{imp}"
    );
    assert_eq!(run.facts["properties"]["nvscisync.version"], "none");
    assert!(!run.results.is_empty());
    for (case, (outcome, message, _)) in &run.results {
        assert_eq!(outcome, "not-supported", "{case}");
        assert!(message.contains("NvSciSync 1.x"), "{case}: {message}");
    }
}

#[test]
fn a_row_needing_an_unknown_key_is_a_located_table_error() {
    let text = "name: a\nbackend: nvscisync\ndoc: d\nrows:\n  - id: x\n    op: nvsci_clone\n    nvscisync_needs: [NvSciSyncAttrKey_Bogus]\n";
    match hil_suite::table::parse("t.yaml", text) {
        Err(hil_suite::table::TableError::Syntax { line, message, .. }) => {
            assert_eq!(line, 7, "{message}");
            assert!(
                message.contains("unknown NvSciSync key or function `NvSciSyncAttrKey_Bogus`")
                    && message.contains("NvSciSyncAttrKey_RequireDeterministicFences"),
                "{message}"
            );
        }
        other => panic!("expected a located error, got {other:?}"),
    }
}
