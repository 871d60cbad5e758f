//! `hil-suite`'s own options, as the other binaries have them.

use std::process::Command;

#[test]
fn version_prints_the_suite_version_and_exits_0() {
    let out = Command::new(env!("CARGO_BIN_EXE_hil-suite"))
        .arg("--version")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("hil-suite {}", env!("CARGO_PKG_VERSION"))
    );
}
