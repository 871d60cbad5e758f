//! `hil-run --board model`: the NvSciSync rows of this machine against hil's reference
//! model, with no library path set by hand; every output of the run says *model*.

mod common;

use common::{bin, journal_outcomes, scratch};
use std::path::Path;
use std::process::{Command, Output};

fn run_model_board(results: &Path, model: &Path) -> Output {
    run_model_board_with(results, model, &[])
}

fn run_model_board_with(results: &Path, model: &Path, args: &[&str]) -> Output {
    Command::new(bin("hil-run"))
        .args(args)
        .arg("--suite")
        .arg(bin("hil-suite"))
        .arg("--results")
        .arg(results)
        .args(["--board", "model", "-q"])
        .env("HIL_NVSCISYNC_MODEL", model)
        .env_remove("HIL_NVSCISYNC_MODEL_VERSION")
        .env_remove("HIL_NVSCISYNC_LIB")
        .env_remove("HIL_NVSCIIPC_LIB")
        .env_remove("HIL_NVSCIIPC_CFG")
        .env_remove("HIL_IPC_ENDPOINTS")
        .env_remove("LD_LIBRARY_PATH")
        .output()
        .expect("hil-run starts")
}

#[test]
fn the_model_board_runs_only_nvscisync_rows_and_every_output_names_the_model() {
    let dir = scratch("model-board");
    let model = common::model_library();
    let out = run_model_board(&dir, &model);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let board = dir.join("model");
    let outcomes = journal_outcomes(&board.join("journal.jsonl"));
    assert!(outcomes.len() > 40, "{outcomes:?}");
    assert!(
        outcomes.iter().all(|(c, _)| c.starts_with("nvscisync.")),
        "only NvSciSync rows run on the model board: {outcomes:?}"
    );
    let passed = outcomes.iter().filter(|(_, o)| o == "pass").count();
    assert!(passed >= 40, "{passed} NvSciSync rows passed on the model");

    // Each result names the model as its implementation (not-supported ones name none).
    let journal = std::fs::read_to_string(board.join("journal.jsonl")).unwrap();
    for r in journal
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["record"] == "result" && v["outcome"] == "pass")
    {
        let imp = r["implementation"].as_str().unwrap_or_default();
        assert!(
            imp.starts_with("hil reference model of NvSciSync 2.8") && imp.contains("not hardware"),
            "{}: {imp}",
            r["case"]
        );
    }
    let summary = std::fs::read_to_string(board.join("summary.txt")).unwrap();
    assert!(summary.starts_with("board model:"), "{summary}");
    assert!(
        summary.contains(
            "nvscisync  hil reference model of NvSciSync 2.8 (CPU semantics only; not hardware)"
        ),
        "{summary}"
    );
    let xml = common::junit(&board.join("junit.xml"));
    for prop in [
        r#"<property name="board" value="model"/>"#,
        r#"<property name="nvscisync.version" value="2.8"/>"#,
        r#"<property name="nvscisync.source" value="hil reference model (not hardware)"/>"#,
        r#"<property name="implementation.nvscisync" value="hil reference model of NvSciSync 2.8"#,
    ] {
        assert!(xml.contains(prop), "JUnit lacks {prop}");
    }
}

#[test]
fn the_model_board_runs_the_cross_process_rows_in_two_processes() {
    let dir = scratch("model-board-ipc");
    let out = run_model_board_with(&dir, &common::model_library(), &["--filter", "ipc"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let board = dir.join("model");
    // The board's endpoint table, in nvsciipc.cfg's syntax.
    let cfg = std::fs::read_to_string(board.join("nvsciipc/nvsciipc.cfg")).unwrap();
    assert!(
        cfg.contains("INTER_PROCESS hil_ipc_0 hil_ipc_1 64 1536"),
        "{cfg}"
    );
    let outcomes = journal_outcomes(&board.join("journal.jsonl"));
    assert_eq!(outcomes.len(), 60, "{outcomes:?}");
    assert!(outcomes
        .iter()
        .all(|(c, _)| c.starts_with("nvscisync.ipc.")));
    let count = |o: &str| outcomes.iter().filter(|(_, x)| x == o).count();
    assert_eq!(count("pass"), 18, "{outcomes:?}");
    assert_eq!(count("fail") + count("crash") + count("timeout"), 0);
    let mut flagged: Vec<&str> = outcomes
        .iter()
        .filter(|(_, o)| o == "flagged")
        .map(|(c, _)| c.as_str())
        .collect();
    flagged.sort();
    assert_eq!(
        flagged,
        [
            "nvscisync.ipc.ub.exporter_exits_while_imported.cpu",
            "nvscisync.ipc.ub.exporter_frees_while_imported.cpu"
        ]
    );
    let journal = std::fs::read_to_string(board.join("journal.jsonl")).unwrap();
    for r in journal
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["record"] == "result" && v["outcome"] == "pass")
    {
        let imp = r["implementation"].as_str().unwrap_or_default();
        assert!(
            imp.starts_with("hil reference model of NvSciSync"),
            "{}: {imp}",
            r["case"]
        );
    }
    // The endpoints are a recorded setting of the run.
    assert!(
        journal.contains("hil_ipc_0:hil_ipc_1,hil_ipc_2:hil_ipc_3"),
        "the journal's facts name the endpoints"
    );
    let flagged_md = std::fs::read_to_string(board.join("flagged.md")).unwrap();
    assert!(
        flagged_md.contains("exporter_exits_while_imported"),
        "{flagged_md}"
    );
}

#[test]
fn a_missing_model_is_a_configuration_error_that_says_how_to_build_it() {
    let dir = scratch("model-missing");
    let out = run_model_board(&dir, &dir.join("no-such-libnvscisync.so"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("board `model` needs hil's NvSciSync reference model")
            && err.contains("cargo build --release"),
        "{err}"
    );
    assert!(
        !dir.join("model").exists(),
        "nothing is written before the board is usable"
    );
}
