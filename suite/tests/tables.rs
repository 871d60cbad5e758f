//! Table parsing (good and malformed), matrix expansion and case-name stability.

use hil_suite::case::expand;
use hil_suite::table::{self, AxisValue, Expect, TableError};
use std::path::Path;

fn parse(text: &str) -> Result<table::Table, TableError> {
    table::parse("t.yaml", text)
}

/// (line, column, message) of a syntax error, or panic.
fn syntax_error(text: &str) -> (usize, usize, String) {
    match parse(text) {
        Err(TableError::Syntax {
            line,
            column,
            message,
            file,
        }) => {
            assert_eq!(file, "t.yaml");
            (line, column, message)
        }
        other => panic!("expected a located syntax error, got {other:?}"),
    }
}

const GOOD: &str = "\
name: demo.pairs
backend: cuda
doc: demo
matrix:
  signaler: [0, 1]
  waiter: [cpu, 0, 1]
rows:
  - id: plain
    op: cuda_device_count
  - id: same_only
    op: cuda_device_count
    devices: same
    expect: {cuda: [1, 999]}
  - id: single
    op: cuda_device_count
    matrix: {}
    timeout_s: 5
";

#[test]
fn a_good_table_expands_in_axis_order_with_stable_names() {
    let t = parse(GOOD).unwrap();
    let cases = expand(&[t], 2).unwrap();
    let names: Vec<_> = cases.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "demo.pairs.plain.dev0_cpu",
            "demo.pairs.plain.dev0_dev0",
            "demo.pairs.plain.dev0_dev1",
            "demo.pairs.plain.dev1_cpu",
            "demo.pairs.plain.dev1_dev0",
            "demo.pairs.plain.dev1_dev1",
            "demo.pairs.same_only.dev0_dev0",
            "demo.pairs.same_only.dev1_dev1",
            "demo.pairs.single",
        ]
    );
    let same = &cases[6];
    assert_eq!(same.axis("waiter"), Some(AxisValue::Device(0)));
    assert_eq!(
        same.expect,
        Expect::Error {
            api: table::Api::Cuda,
            codes: vec![1, 999]
        }
    );
    assert_eq!(cases[8].timeout_s, 5.0);
    assert_eq!(cases[0].timeout_s, 30.0, "default time limit");
}

#[test]
fn unknown_key_is_reported_with_line_and_column() {
    let (line, col, msg) = syntax_error(
        "name: a\nbackend: host\ndoc: d\nrows:\n  - id: x\n    op: host_info\n    expct: ok\n",
    );
    assert_eq!((line, col), (7, 5), "{msg}");
    assert!(msg.contains("unknown field `expct`"), "{msg}");
    assert!(
        msg.contains("expect"),
        "should list the valid fields: {msg}"
    );
}

#[test]
fn unknown_op_names_the_op_and_where() {
    let (line, _, msg) =
        syntax_error("name: a\nbackend: host\ndoc: d\nrows:\n  - id: x\n    op: vk_imprt\n");
    assert_eq!(line, 6, "{msg}");
    assert!(msg.contains("unknown op `vk_imprt`"), "{msg}");
    assert!(
        msg.contains("vk_import"),
        "should suggest ops with the same prefix: {msg}"
    );
}

#[test]
fn a_misspelt_or_repeated_param_is_an_error_never_a_silent_default() {
    // `cod` would leave the op at its default code 999 and fail the case for the wrong
    // reason; on hardware a misspelt `min` would silently weaken a check.
    let head = "name: a\nbackend: host\ndoc: d\nrows:\n  - id: x\n    op: selftest_api_error\n";
    let err = parse(&format!("{head}    params: {{cod: 801}}\n"))
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("t.yaml:5:"), "{err}");
    assert!(
        err.contains("op `selftest_api_error` takes no param `cod`; did you mean `code`?"),
        "{err}"
    );
    let err = parse("name: a\nbackend: host\ndoc: d\nrows:\n  - id: x\n    op: selftest_ok\n    params: {code: 1}\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("it takes none: remove `params`"), "{err}");
    let (line, _, msg) = syntax_error(&format!("{head}    params: {{code: 1, code: 2}}\n"));
    assert_eq!(line, 7, "{msg}");
    assert!(msg.contains("`code` is given twice"), "{msg}");
}

#[test]
fn an_unclosed_brace_names_where_it_was_opened() {
    let (line, _, msg) = syntax_error(
        "name: a\nbackend: host\ndoc: d\nrows:\n  - id: x\n    op: selftest_ok\n    params: {code: 1\n    expect: {cuda: 1}\n",
    );
    assert_eq!(line, 8, "{msg}");
    assert!(
        msg.contains("while parsing a flow mapping at line 7") && msg.contains("never closed"),
        "{msg}"
    );
}

#[test]
fn malformed_names_axes_and_expectations_are_located() {
    let cases = [
        ("name: Bad-Name\nbackend: host\ndoc: d\nrows: []\n", 1, "invalid name `Bad-Name`"),
        ("name: a\nbackend: gpu\ndoc: d\nrows: []\n", 2, "unknown variant `gpu`"),
        ("name: a\nbackend: host\ndoc: d\nmatrix:\n  dev: [0, gpu]\nrows: []\n", 5, "device index"),
        ("name: a\nbackend: host\ndoc: d\nmatrix:\n  dev: []\nrows: []\n", 5, "has no values"),
        (
            "name: a\nbackend: host\ndoc: d\nrows:\n  - id: x\n    op: host_info\n    expect: {cuda: []}\n",
            7,
            "empty code list",
        ),
        (
            "name: a\nbackend: host\ndoc: d\nrows:\n  - id: x\n    op: host_info\n    expect: passes\n",
            7,
            "expected `ok`",
        ),
        ("name: a\nbackend: host\ndoc: d\nrows:\n  - id: x\n  op: host_info\n", 6, ""),
    ];
    for (text, want_line, want) in cases {
        let (line, col, msg) = syntax_error(text);
        assert_eq!(line, want_line, "{text:?}: {msg}");
        assert!(col >= 1, "{text:?}: column must be given");
        assert!(msg.contains(want), "{text:?}: {msg}");
    }
}

#[test]
fn semantic_errors_name_the_table_and_row() {
    let dup = "name: a\nbackend: host\ndoc: d\nrows:\n  - id: x\n    op: host_info\n  - id: x\n    op: host_info\n";
    let e = parse(dup).unwrap_err().to_string();
    // The second `id: x` is line 7, column 5; the message points back at the first.
    assert!(
        e.starts_with("t.yaml:7:5: ")
            && e.contains("row id `x` appears twice")
            && e.contains("first at line 5"),
        "{e}"
    );
    let empty = "name: a\nbackend: host\ndoc: d\nrows: []\n";
    assert!(parse(empty)
        .unwrap_err()
        .to_string()
        .contains("has no rows"));
    let ub = "name: a\nbackend: host\ndoc: d\nrows:\n  - id: x\n    op: host_info\n    ub: ' '\n";
    assert!(parse(ub)
        .unwrap_err()
        .to_string()
        .contains("must cite the rule"));
    let neg =
        "name: a\nbackend: host\ndoc: d\nrows:\n  - id: x\n    op: host_info\n    timeout_s: 0\n";
    assert!(parse(neg).unwrap_err().to_string().contains("timeout_s"));
}

#[test]
fn the_same_case_name_from_two_tables_is_refused() {
    let a =
        parse("name: a.b\nbackend: host\ndoc: d\nrows:\n  - id: c\n    op: host_info\n").unwrap();
    let b =
        parse("name: a\nbackend: host\ndoc: d\nrows:\n  - id: b.c\n    op: host_info\n").unwrap();
    let e = expand(&[a, b], 2).unwrap_err().to_string();
    assert!(
        e.starts_with("t.yaml:5:5: ")
            && e.contains("case `a.b.c` is also produced by table `a.b` (t.yaml:1)")
            && e.contains("rename one table"),
        "{e}"
    );
}

#[test]
fn an_axis_value_listed_twice_is_located_and_blamed_on_the_axis() {
    for (axis, want) in [
        ("[0, 0]", "axis `dev` lists `dev0` twice"),
        ("[cpu, gpus, cpu]", "axis `dev` lists `cpu` twice"),
        ("[1, gpus]", "lists device 1 and `gpus`"),
    ] {
        let text = format!("name: a\nbackend: host\ndoc: d\nmatrix:\n  dev: {axis}\nrows:\n  - id: x\n    op: host_info\n");
        let (line, _, msg) = syntax_error(&text);
        assert_eq!(line, 5, "{msg}");
        assert!(msg.contains(want), "{axis}: {msg}");
    }
    let twice = "name: a\nbackend: cuda\ndoc: d\ncuda_api: [driver, runtime, driver]\nmatrix:\n  dev: [0]\nrows:\n  - id: x\n    op: host_info\n";
    let e = expand(&[parse(twice).unwrap()], 2).unwrap_err().to_string();
    assert!(
        e.starts_with("t.yaml:8:5: ") && e.contains("`cuda_api` lists a frontend twice"),
        "{e}"
    );
}

fn names(text: &str, devices: u32) -> Vec<String> {
    expand(&[parse(text).unwrap()], devices)
        .unwrap()
        .into_iter()
        .map(|c| c.name)
        .collect()
}

#[test]
fn gpus_axes_cover_every_device_and_runtime_cases_get_their_own_names() {
    let t = "name: p\nbackend: nvscisync\ndoc: d\ncuda_api: [driver, runtime]\nmatrix:\n  s: [cpu, gpus]\n  w: [cpu, gpus]\nrows:\n  - id: r\n    op: host_info\n";
    let four = names(t, 4);
    // 5 x 5 points; cpu_cpu touches no CUDA (one case), the other 24 go through both APIs.
    assert_eq!(four.len(), 1 + 24 * 2, "{four:?}");
    assert_eq!(four[0], "p.r.cpu_cpu");
    assert!(four.contains(&"p.r.dev3_dev2".to_string()));
    assert!(four.contains(&"p.r.dev3_dev2.runtime".to_string()));
    assert!(four.contains(&"p.r.cpu_dev3.runtime".to_string()));
    assert!(!four.contains(&"p.r.cpu_cpu.runtime".to_string()));
    // Every ordered GPU pair, i = j included: 16 on a 4-GPU board.
    let gpu_pairs = four
        .iter()
        .filter(|n| n.matches("dev").count() == 2 && !n.ends_with(".runtime"))
        .count();
    assert_eq!(gpu_pairs, 16);
}

#[test]
fn boards_with_0_1_or_2_gpus_list_the_same_cases_and_4_gpus_list_more() {
    let tables = table::embedded().unwrap();
    let list = |present: u32| -> Vec<String> {
        expand(&tables, hil_suite::case::listed_devices(present))
            .unwrap()
            .into_iter()
            .map(|c| c.name)
            .collect()
    };
    let (none, one, two, four) = (list(0), list(1), list(2), list(4));
    assert_eq!(none, one);
    assert_eq!(one, two);
    // Listing again gives the same list (names are the identity of results).
    assert_eq!(four, list(4));
    // A 4-GPU board keeps every 2-GPU name (baselines keep working) and adds dev2/dev3.
    for n in &two {
        assert!(four.contains(n), "{n} missing on a 4-GPU board");
    }
    let extra: Vec<_> = four.iter().filter(|n| !two.contains(n)).collect();
    assert!(!extra.is_empty());
    assert!(
        extra
            .iter()
            .all(|n| n.contains("dev2") || n.contains("dev3")),
        "{extra:?}"
    );
    for pair in ["dev0_dev3", "dev3_dev0", "dev2_dev2"] {
        assert!(
            four.contains(&format!("nvscisync.seed.roundtrip.{pair}.runtime")),
            "seed row for {pair}"
        );
    }
    assert!(four.contains(&"vulkan.roundtrip.timeline.dev3_dev3.runtime".to_string()));
}

#[test]
fn load_dir_names_the_file_that_is_wrong() {
    let dir = std::env::temp_dir().join(format!("hil-tables-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("ok.yaml"),
        "name: a\nbackend: host\ndoc: d\nrows:\n  - id: x\n    op: host_info\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("zz_bad.yaml"),
        "name: b\nbackend: host\ndoc: d\nrows:\n  - id: x\n    op: nope\n",
    )
    .unwrap();
    let e = table::load_dir(&dir).unwrap_err().to_string();
    assert!(e.contains("zz_bad.yaml:6:"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Case names are the identity of results (journals, baselines, JUnit history):
/// they must not change by accident, and must not depend on the hardware present.
#[test]
fn shipped_case_names_match_the_committed_list() {
    let cases = hil_suite::table::embedded()
        .and_then(|t| expand(&t, 2))
        .expect("shipped tables must parse");
    let got: Vec<_> = cases.iter().map(|c| c.name.clone()).collect();
    let golden_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/case-names.txt");
    let golden = std::fs::read_to_string(&golden_path).unwrap();
    let want: Vec<_> = golden.lines().map(str::to_string).collect();
    assert_eq!(
        got, want,
        "case names changed. If intended (renamed or added rows), regenerate with\n  \
         cargo run -p hil-suite --bin hil-suite -- --list | sed 's/: test$//' > fixtures/case-names.txt\n\
         and mention it in the change: baselines and CI history key on these names."
    );
}

#[test]
fn every_shipped_table_file_parses_from_disk_too() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/tables");
    let from_disk = table::load_dir(&dir).unwrap();
    assert_eq!(from_disk.len(), table::embedded().unwrap().len());
}
