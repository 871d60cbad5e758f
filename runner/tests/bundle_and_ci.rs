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
        // The first night proposes the group's baseline instead of testing nothing.
        assert!(runs.join(" ").contains("--propose-baseline"), "{file}");
        // A suite for every board arch, each stripped with its DWARF kept apart, kept as
        // artifacts where the build puts them.
        for (arch, dir) in [("", "target/jetson/"), ("x86_64", "target/x86_64/")] {
            let built = text.lines().any(|l| {
                let l = l.trim_end();
                l.ends_with(" scripts/build-jetson")
                    && match arch {
                        "" => !l.contains("HIL_SUITE_ARCH"),
                        a => l.contains(&format!("HIL_SUITE_ARCH={a} ")),
                    }
            });
            assert!(built, "{file}: no build for `{dir}`");
            for f in ["hil-suite", "hil-suite.debug"] {
                assert!(
                    text.lines()
                        .any(|l| l.trim().trim_start_matches("- ") == format!("{dir}{f}")
                            || l.trim().starts_with(&format!("- {dir}{f} "))),
                    "{file}: {dir}{f} is not kept"
                );
            }
        }
        // Bundles are signed when the key is given, and the file says how to verify.
        assert!(
            text.contains("if [ -n \"$HIL_SIGN_KEY\" ]")
                && text.contains("--sign-key $")
                && text.contains("verify-bundle FILE --allowed-signers"),
            "{file}: bundles are not signed with HIL_SIGN_KEY"
        );
        // The merged JUnit: every board, and an error for each board not tested.
        assert!(text.contains("results/junit.xml"), "{file}");
        assert!(
            !text.contains("results/*/junit.xml"),
            "{file}: boards twice"
        );
    }
    let verify = Command::new(bin("hil-run"))
        .args(["verify-bundle", "--help"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&verify.stdout).contains("--allowed-signers"));
    // The build script serves both arches and refuses others.
    let script = root.join("scripts/build-jetson");
    let s = std::fs::read_to_string(&script).unwrap();
    assert!(s.contains("out=$target_dir/$ARCH") && s.contains("aarch64 | x86_64"));
    let out = Command::new(&script)
        .arg("--offline")
        .env("HIL_SUITE_ARCH", "sparc")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("aarch64 (the default) or x86_64"));
}
