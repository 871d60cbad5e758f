//! The aarch64 hil-suite that boards get (`scripts/build-jetson`) must start on the oldest
//! board userland we support: glibc 2.31 (JetPack 5, DRIVE OS 6.0; see docs/jetson.md).
//! Run under qemu-user against Debian bullseye's glibc 2.31 (`scripts/bullseye-arm64-sysroot`):
//! same case list, honest facts, a whole run, no glibc symbol newer than the floor, and the
//! uploaded file stripped with its DWARF kept beside it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Ubuntu 20.04 (JetPack 5.x, DRIVE OS 6.0) ships glibc 2.31.
const GLIBC_FLOOR: (u32, u32) = (2, 31);

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .expect("workspace root")
}

fn sysroot() -> PathBuf {
    std::env::var_os("HIL_ARM64_SYSROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target/sysroot/bullseye-arm64"))
}

#[path = "../../report/testing/needs.rs"]
mod needs;

fn main() {
    needs::main(vec![needs::needing(
        "jetson_build_starts_on_glibc_2_31",
        missing(),
        jetson_build_starts_on_glibc_2_31,
    )]);
}

/// What this machine lacks for the test, probed cheaply (the build itself says the rest).
fn missing() -> Option<String> {
    let mut missing = host_tools_missing();
    let tools = std::env::var_os("HIL_JETSON_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target/jetson-tools"));
    if !["zig", "cargo-zigbuild"]
        .iter()
        .all(|t| tools.join("bin").join(t).exists())
    {
        missing.push(format!(
            "scripts/build-jetson --tools (pinned zig and cargo-zigbuild in {})",
            tools.display()
        ));
    }
    if missing.is_empty() {
        return None;
    }
    Some(format!(
        "the aarch64 glibc-floor test needs: {} (scripts/test does all of it)",
        missing.join("; ")
    ))
}

fn tool_ok(cmd: &str, arg: &str) -> bool {
    Command::new(cmd)
        .arg(arg)
        .output()
        .is_ok_and(|o| o.status.success())
}

fn host_tools_missing() -> Vec<String> {
    let mut missing = Vec::new();
    if !tool_ok("qemu-aarch64", "--version") {
        missing.push("apt-get install -y qemu-user".into());
    }
    if !tool_ok("readelf", "--version") {
        missing.push("apt-get install -y binutils".into());
    }
    if !sysroot().join("lib/aarch64-linux-gnu/libc.so.6").exists() {
        missing.push(format!(
            "scripts/bullseye-arm64-sysroot (no glibc in {})",
            sysroot().display()
        ));
    }
    missing
}

/// The documented build, into a target dir of its own that later runs reuse.
fn build() -> PathBuf {
    let target_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("aarch64");
    let out = Command::new(workspace().join("scripts/build-jetson"))
        .arg("--offline")
        .env("CARGO_TARGET_DIR", &target_dir)
        .output()
        .expect("scripts/build-jetson runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Exit 3 names tools `missing()` did not probe for.
    assert!(
        out.status.success(),
        "scripts/build-jetson failed:\n{stderr}"
    );
    target_dir.join("jetson")
}

fn qemu(bin: &Path, args: &[&str]) -> Output {
    let out = Command::new("qemu-aarch64")
        .arg("-L")
        .arg(sysroot())
        .arg(bin)
        .args(args)
        .output()
        .expect("qemu-aarch64 runs");
    assert!(
        out.status.success(),
        "hil-suite {args:?} under qemu with glibc 2.31: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn readelf(args: &[&str], file: &Path) -> String {
    let out = Command::new("readelf")
        .args(args)
        .arg(file)
        .output()
        .expect("readelf runs");
    assert!(out.status.success(), "readelf {args:?} {}", file.display());
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Every `symbol@GLIBC_2.N` the binary imports, with its version.
fn glibc_imports(bin: &Path) -> Vec<((u32, u32), String)> {
    readelf(&["--dyn-syms", "-W"], bin)
        .split_whitespace()
        .filter_map(|word| {
            let (sym, ver) = word.split_once("@GLIBC_")?;
            let (major, minor) = ver.split_once('.')?;
            let minor: String = minor.chars().take_while(char::is_ascii_digit).collect();
            Some(((major.parse().ok()?, minor.parse().ok()?), sym.to_string()))
        })
        .collect()
}

fn section_names(file: &Path) -> Vec<String> {
    readelf(&["-S", "-W"], file)
        .lines()
        .filter_map(|l| Some(l.split_once("] ")?.1.split_whitespace().next()?.to_string()))
        .collect()
}

fn build_id(file: &Path) -> String {
    readelf(&["-n"], file)
        .lines()
        .find_map(|l| l.trim().strip_prefix("Build ID: ").map(str::to_string))
        .unwrap_or_else(|| panic!("{} has no build id", file.display()))
}

fn jetson_build_starts_on_glibc_2_31() {
    let out = build();
    let bin = out.join("hil-suite");

    let list = qemu(&bin, &["--list"]);
    let names: Vec<String> = String::from_utf8_lossy(&list.stdout)
        .lines()
        .map(|l| l.trim_end_matches(": test").to_string())
        .collect();
    let golden = std::fs::read_to_string(workspace().join("fixtures/case-names.txt")).unwrap();
    assert_eq!(
        names,
        golden.lines().collect::<Vec<_>>(),
        "aarch64 build lists other cases"
    );

    // The libc it reports is the sysroot's: it really ran on 2.31, not on a host library.
    let facts = qemu(&bin, &["--facts"]);
    let facts: serde_json::Value = serde_json::from_slice(&facts.stdout).expect("facts are JSON");
    assert_eq!(facts["properties"]["arch"], "aarch64", "{facts}");
    assert_eq!(facts["properties"]["libc"], "glibc 2.31", "{facts}");
    assert!(
        facts["implementations"]["cuda"]
            .as_str()
            .is_some_and(|c| c.starts_with("none: ")),
        "{facts}"
    );

    // A whole run: no CUDA under qemu, so every GPU case is not-supported; host.info passes.
    let events = Path::new(env!("CARGO_TARGET_TMPDIR")).join("aarch64-events.jsonl");
    let _ = std::fs::remove_file(&events);
    qemu(
        &bin,
        &["--events", events.to_str().unwrap(), "--test-threads", "1"],
    );
    let results: Vec<serde_json::Value> = std::fs::read_to_string(&events)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|e: &serde_json::Value| e["event"] == "result")
        .collect();
    assert_eq!(results.len(), names.len(), "one result per case");
    for r in &results {
        let want = if r["case"] == "host.info" {
            "pass"
        } else {
            "not-supported"
        };
        assert_eq!(r["outcome"], want, "{r}");
    }

    let imports = glibc_imports(&bin);
    assert!(
        imports.iter().any(|(_, s)| s == "__libc_start_main"),
        "readelf found no glibc imports: {imports:?}"
    );
    let too_new: Vec<_> = imports.iter().filter(|(v, _)| *v > GLIBC_FLOOR).collect();
    assert!(
        too_new.is_empty(),
        "boards with glibc {}.{} lack: {too_new:?}",
        GLIBC_FLOOR.0,
        GLIBC_FLOOR.1
    );

    // What hil-run uploads carries no DWARF; the file kept here has it, for the same build.
    let debug = out.join("hil-suite.debug");
    let uploaded = section_names(&bin);
    assert!(
        !uploaded.iter().any(|s| s.starts_with(".debug_")),
        "{uploaded:?}"
    );
    assert!(
        uploaded.iter().any(|s| s == ".gnu_debuglink"),
        "{uploaded:?}"
    );
    assert!(
        section_names(&debug).iter().any(|s| s == ".debug_line"),
        "hil-suite.debug has no line tables"
    );
    assert_eq!(build_id(&bin), build_id(&debug));
}
