//! hil-suite must build for aarch64 boards (Jetson, DRIVE) and start there. Built with
//! Debian's cross gcc and run under qemu-user: same case list, honest facts, and no
//! glibc symbol newer than the oldest board userland we support.

use std::path::{Path, PathBuf};
use std::process::Command;

const TARGET: &str = "aarch64-unknown-linux-gnu";
/// Ubuntu 22.04 (JetPack 6) ships glibc 2.35; stay at or below 2.34 (crates notes).
const MAX_GLIBC: (u32, u32) = (2, 34);

fn tool_ok(cmd: &str, args: &[&str]) -> bool {
    Command::new(cmd)
        .args(args)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Missing tools: a loud skip on a developer machine, a failure in CI.
fn require_tools() -> bool {
    let target_installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .any(|l| l.trim() == TARGET)
        })
        .unwrap_or(false);
    let missing: Vec<&str> = [
        (!target_installed).then_some("rustup target add aarch64-unknown-linux-gnu"),
        (!tool_ok("aarch64-linux-gnu-gcc", &["--version"]))
            .then_some("apt-get install -y gcc-aarch64-linux-gnu libc6-dev-arm64-cross"),
        (!tool_ok("qemu-aarch64", &["--version"])).then_some("apt-get install -y qemu-user"),
    ]
    .into_iter()
    .flatten()
    .collect();
    if missing.is_empty() {
        return true;
    }
    let msg = format!("aarch64 cross-build test needs: {}", missing.join("; "));
    if std::env::var_os("CI").is_some() {
        panic!("{msg}");
    }
    eprintln!("WARNING: skipping: {msg}");
    false
}

fn build() -> PathBuf {
    let target_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cross");
    let status = Command::new(env!("CARGO"))
        .args([
            "build",
            "-p",
            "hil-suite",
            "--bin",
            "hil-suite",
            "--target",
            TARGET,
        ])
        .arg("--target-dir")
        .arg(&target_dir)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("cargo runs");
    assert!(status.success(), "cross build for {TARGET} failed");
    target_dir.join(TARGET).join("debug/hil-suite")
}

fn qemu(bin: &Path, args: &[&str]) -> std::process::Output {
    Command::new("qemu-aarch64")
        .arg("-L")
        .arg("/usr/aarch64-linux-gnu")
        .arg(bin)
        .args(args)
        .output()
        .expect("qemu-aarch64 runs")
}

fn newest_glibc(bin: &Path) -> (u32, u32) {
    let data = std::fs::read(bin).unwrap();
    let text = String::from_utf8_lossy(&data);
    text.split("GLIBC_2.")
        .skip(1)
        .filter_map(|rest| {
            let minor: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
            minor.parse().ok().map(|m| (2, m))
        })
        .max()
        .unwrap_or((2, 0))
}

#[test]
fn suite_cross_builds_for_aarch64_and_runs_under_qemu() {
    if !require_tools() {
        return;
    }
    let bin = build();
    let list = qemu(&bin, &["--list"]);
    assert!(
        list.status.success(),
        "{}",
        String::from_utf8_lossy(&list.stderr)
    );
    let names: Vec<String> = String::from_utf8_lossy(&list.stdout)
        .lines()
        .map(|l| l.trim_end_matches(": test").to_string())
        .collect();
    let golden = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/case-names.txt"),
    )
    .unwrap();
    assert_eq!(
        names,
        golden.lines().collect::<Vec<_>>(),
        "aarch64 build lists other cases"
    );

    let facts = qemu(&bin, &["--facts"]);
    let facts: serde_json::Value = serde_json::from_slice(&facts.stdout).expect("facts are JSON");
    assert_eq!(facts["properties"]["arch"], "aarch64");
    assert!(
        facts["implementations"]["cuda"]
            .as_str()
            .unwrap()
            .starts_with("none: "),
        "{facts}"
    );

    // A whole run: no CUDA under qemu, so GPU cases are not-supported, host.info passes.
    let events = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cross-events.jsonl");
    let _ = std::fs::remove_file(&events);
    let run = qemu(
        &bin,
        &["--events", events.to_str().unwrap(), "--test-threads", "1"],
    );
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stdout)
    );
    let ev = std::fs::read_to_string(&events).unwrap();
    assert!(
        ev.contains(r#""case":"host.info","outcome":"pass""#),
        "{ev}"
    );

    let newest = newest_glibc(&bin);
    assert!(
        newest <= MAX_GLIBC,
        "binary needs GLIBC_{}.{}; boards have {}.{}",
        newest.0,
        newest.1,
        MAX_GLIBC.0,
        MAX_GLIBC.1
    );
}
