//! The conformance bundle verifies and catches tampering; the farm pipelines in ci/ are
//! valid YAML and use only hil-run options that exist.

mod common;

use common::{bin, scratch};
use std::process::Command;

#[test]
fn a_bundle_verifies_and_any_modified_byte_is_caught() {
    let dir = scratch("bundle");
    let tar = dir.join("conformance.tar");
    let out = common::hil_run_local(
        &dir.join("results"),
        &["--bundle", tar.to_str().unwrap(), "-q"],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ok = Command::new(bin("hil-run"))
        .arg("verify-bundle")
        .arg(&tar)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&ok.stdout);
    assert_eq!(ok.status.code(), Some(0), "{report}");
    assert!(
        report.contains("unsigned: contents match the manifest")
            && !report.contains("verified")
            && report.contains("local: suite 0.1.0")
            && report.contains("tables "),
        "{report}"
    );

    // The run's report travels with the results it links to (and is pinned like them).
    let entries: Vec<String> = tar::Archive::new(std::fs::File::open(&tar).unwrap())
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect();
    for want in [
        "results/report.html",
        "results/local/junit.xml",
        "manifest.json",
    ] {
        assert!(
            entries.iter().any(|e| e == want),
            "{want} not in {entries:?}"
        );
    }

    // Change one byte of a result inside the archive (in the first file holding it, the
    // event log or the journal): the manifest no longer matches.
    let mut bytes = std::fs::read(&tar).unwrap();
    let needle = b"\"case\":\"host.info\",\"outcome\":\"pass\"";
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("journal inside the tar");
    bytes[at + needle.len() - 5] = b'f'; // "pass" -> "fass"
    let bad = dir.join("tampered.tar");
    std::fs::write(&bad, bytes).unwrap();
    let out = Command::new(bin("hil-run"))
        .arg("verify-bundle")
        .arg(&bad)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("results/local/")
            && err.contains(".jsonl: SHA-256 differs from the manifest (modified)"),
        "{err}"
    );
}

#[test]
fn farm_pipelines_are_valid_and_use_existing_options() {
    let help = Command::new(bin("hil-run")).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout).to_string();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for file in ["ci/gitlab/nightly.yml", "ci/github/nightly.yml"] {
        let text = std::fs::read_to_string(root.join(file)).unwrap();
        let _: serde_norway::Value =
            serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
        let runs: Vec<&str> = text
            .lines()
            .skip_while(|l| !l.contains("hil-run --"))
            .take(4)
            .collect();
        assert!(!runs.is_empty(), "{file} never runs hil-run");
        for flag in runs
            .join(" ")
            .split_whitespace()
            .filter(|w| w.starts_with("--"))
        {
            assert!(
                help.contains(&format!("{flag} ")) || help.contains(&format!("{flag}\n")),
                "{file}: hil-run has no option {flag}"
            );
        }
        for line in text.lines().filter(|l| l.contains("fixtures/baselines/")) {
            assert!(
                line.contains("$GROUP") || line.contains("matrix.group"),
                "{file}: the baseline should follow the group: {line}"
            );
        }
    }
}
