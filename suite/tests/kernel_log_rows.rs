//! `expect_driver_log` in tables: carried to each case; an empty pattern is refused.

use hil_suite::case::expand;
use hil_suite::table::{self, TableError};

const ROW: &str = "name: k\nbackend: host\ndoc: d\nmatrix:\n  dev: [0, 1]\nrows:\n  - id: mmu_fault\n    op: selftest_ok\n";

#[test]
fn expected_driver_lines_reach_every_case_of_the_row() {
    let t = table::parse(
        "k.yaml",
        &format!("{ROW}    expect_driver_log: ['Xid (PCI:', '): 31,']\n  - id: plain\n    op: selftest_ok\n"),
    )
    .unwrap();
    let cases = expand(&[t], 2).unwrap();
    assert_eq!(cases.len(), 4);
    for c in &cases[..2] {
        assert_eq!(c.expect_driver_log, ["Xid (PCI:", "): 31,"], "{}", c.name);
    }
    assert!(cases[2].expect_driver_log.is_empty(), "the default is none");
}

#[test]
fn an_empty_pattern_is_refused_where_it_is_written() {
    match table::parse(
        "k.yaml",
        &format!("{ROW}    expect_driver_log: ['Xid', ' ']\n"),
    ) {
        Err(TableError::Located { line, message, .. }) => {
            assert_eq!(line, 7, "{message}");
            assert!(message.contains("empty pattern"), "{message}");
        }
        other => panic!("expected a located error, got {other:?}"),
    }
}
