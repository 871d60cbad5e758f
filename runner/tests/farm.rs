//! A farm's night, against real OpenSSH boards on 127.0.0.1: each board gets the suite for
//! its CPU (a suite for another CPU is exit 2 in seconds, naming both), the first night
//! without a baseline proposes one, and the exit status never hides a regression behind
//! a board that could not be tested.

mod common;

use common::{bin, scratch, spawn_hil_run, text, user, Sshd};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

/// One inventory entry for a board served by `sshd`; `suite` is the YAML value.
fn entry(sshd: &Sshd, name: &str, suite: &str, extra: &str) -> String {
    format!(
        "  - name: {name}\n    host: 127.0.0.1\n    port: {}\n    user: {}\n    key: {}\n    known_hosts: {}\n    suite: {suite}\n    workdir: {}\n    connect_timeout_s: 5\n{extra}",
        sshd.port,
        user(),
        sshd.dir.join("client_key").display(),
        sshd.dir.join("known_hosts").display(),
        workdir(sshd, name).display(),
    )
}

fn workdir(sshd: &Sshd, name: &str) -> PathBuf {
    sshd.dir.join(format!("remote-{name}"))
}

fn write_inventory(dir: &Path, entries: &[String]) -> PathBuf {
    let p = dir.join("boards.yaml");
    std::fs::write(&p, format!("boards:\n{}", entries.concat())).unwrap();
    p
}

fn hil_run(results: &Path, inv: &Path, args: &[&str]) -> Output {
    spawn_hil_run(results, inv, args)
        .wait_with_output()
        .unwrap()
}

/// A file with an ELF header for `machine` (183 AArch64, 62 x86-64) and then bytes that are
/// no text: what a suite built for that CPU looks like before the board runs it.
fn elf_file(path: &Path, machine: u16) -> PathBuf {
    let mut bytes = hil_run::transport::arch::elf_header_for_tests(machine);
    bytes.extend((128u8..=255).cycle().take(4096));
    std::fs::write(path, bytes).unwrap();
    path.to_path_buf()
}

/// Deployed suites in a board's workdir (`suite-<hash>/`).
fn deployed(workdir: &Path) -> Vec<String> {
    std::fs::read_dir(workdir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("suite-"))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_suite_for_another_cpu_is_exit_2_in_seconds_naming_both_arches() {
    let dir = scratch("wrong-arch");
    let sshd = Sshd::start(&dir);
    let arm = elf_file(&dir.join("hil-suite-aarch64"), 183);
    let inv = write_inventory(&dir, &[entry(&sshd, "x86", arm.to_str().unwrap(), "")]);
    let res = dir.join("results");
    let t = Instant::now();
    let out = hil_run(&res, &inv, &["--board", "x86"]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert!(t.elapsed() < Duration::from_secs(20), "{:?}", t.elapsed());
    assert!(
        all.contains("is built for aarch64 (ELF machine 183), the board `x86` is x86_64"),
        "{all}"
    );
    assert!(!all.contains("connection lost"), "{all}");
    // Refused before upload: nothing deployed, nothing journaled.
    assert!(deployed(&workdir(&sshd, "x86")).is_empty());
    assert!(!res.join("x86/journal.jsonl").exists());

    // A file the board's kernel refuses though its header says x86-64 (a damaged build):
    // the board's shell then runs it as a script and prints its bytes back. That is an
    // answer, said as such at once, never a lost connection waited out.
    let damaged = elf_file(&dir.join("hil-suite-damaged"), 62);
    let inv = write_inventory(
        &dir,
        &[entry(
            &sshd,
            "x86",
            damaged.to_str().unwrap(),
            "    reconnect_timeout_s: 120\n",
        )],
    );
    let t = Instant::now();
    let out = hil_run(&res, &inv, &["--board", "x86"]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert!(t.elapsed() < Duration::from_secs(20), "{:?}", t.elapsed());
    assert!(
        all.contains("board `x86` cannot execute the suite")
            && all.contains("refused it as a program (ELF machine 62)"),
        "{all}"
    );
    assert!(!all.contains("connection lost"), "{all}");
}

#[test]
fn boards_of_one_group_each_get_the_suite_for_their_arch() {
    // Two boards of one group: `x86` is this machine; `arm` answers `uname -m` with
    // aarch64 (a `uname` first on its PATH), so it gets the aarch64 entry of the map: here
    // a script that runs this machine's suite (a script is not judged by its ELF header).
    let dir = scratch("per-arch");
    let sshd = Sshd::start(&dir);
    let arm_dir = dir.join("arm");
    let mut arm_sshd = Sshd::start(&arm_dir);
    let fake = arm_dir.join("fakebin");
    std::fs::create_dir_all(&fake).unwrap();
    let uname = fake.join("uname");
    std::fs::write(&uname, "#!/bin/sh\necho aarch64\n").unwrap();
    let wrapper = dir.join("hil-suite-aarch64.sh");
    std::fs::write(
        &wrapper,
        format!("#!/bin/sh\nexec {} \"$@\"\n", bin("hil-suite").display()),
    )
    .unwrap();
    for f in [&uname, &wrapper] {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(f, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let config = arm_dir.join("sshd_config");
    let c = std::fs::read_to_string(&config).unwrap().replace(
        "SetEnv ",
        &format!("SetEnv PATH={}:/usr/bin:/bin ", fake.display()),
    );
    std::fs::write(&config, c).unwrap();
    arm_sshd.kill();
    arm_sshd.restart();
    // `${VAR}` names the job's artifact; the map picks by the board's `uname -m`.
    let suite = "{aarch64: \"${HIL_TEST_ARM_SUITE}\", x86_64: \"${HIL_TEST_X86_SUITE}\"}";
    let tags = "    tags: [orin]\n";
    let inv = write_inventory(
        &dir,
        &[
            entry(&sshd, "x86", suite, tags),
            entry(&arm_sshd, "arm", suite, tags),
        ],
    );
    let res = dir.join("results");
    let out = std::process::Command::new(bin("hil-run"))
        .args(["--results", res.to_str().unwrap(), "--inventory"])
        .arg(&inv)
        .args(["--tag", "orin", "--filter", "host.info", "-q"])
        .env("HIL_TEST_ARM_SUITE", &wrapper)
        .env("HIL_TEST_X86_SUITE", bin("hil-suite"))
        .output()
        .unwrap();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    for (board, arch) in [("x86", "x86_64"), ("arm", "aarch64")] {
        let junit = std::fs::read_to_string(res.join(board).join("junit.xml")).unwrap();
        assert!(junit.contains("host.info"), "{board}: {junit}");
        // Each board's deployed suite is the file of its arch.
        let suite_dir = deployed(&workdir(
            if board == "x86" { &sshd } else { &arm_sshd },
            board,
        ));
        assert_eq!(suite_dir.len(), 1, "{board}: {suite_dir:?}");
        let got = std::fs::read(
            workdir(if board == "x86" { &sshd } else { &arm_sshd }, board)
                .join(&suite_dir[0])
                .join("hil-suite"),
        )
        .unwrap();
        let want = if arch == "aarch64" {
            std::fs::read(&wrapper).unwrap()
        } else {
            std::fs::read(bin("hil-suite")).unwrap()
        };
        assert!(got == want, "{board} got another arch's suite");
    }
    // Without the variable, the inventory says which one and where.
    let out = hil_run(&res, &inv, &["--tag", "orin"]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert!(
        all.contains("boards.yaml:")
            && all.contains("environment variable `HIL_TEST_ARM_SUITE` is not set"),
        "{all}"
    );
}
