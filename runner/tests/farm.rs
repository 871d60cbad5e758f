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

const TABLE: &str = "name: n\nbackend: host\ndoc: d\nrows:\n  - id: a_ok\n    op: selftest_ok\n  - id: b_fails\n    op: selftest_check_fails\n";

/// A port on 127.0.0.1 nothing listens on: a board there is refused at once.
fn refused_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn the_first_night_runs_the_group_and_proposes_its_baseline() {
    let dir = scratch("first-night");
    let sshd = Sshd::start(&dir);
    let tables = common::write_table(&dir, "n.yaml", TABLE);
    let tags = "    tags: [orin]\n";
    let suite = bin("hil-suite").display().to_string();
    let inv = write_inventory(
        &dir,
        &[
            entry(&sshd, "orin-a", &suite, tags),
            entry(&sshd, "orin-b", &suite, tags),
        ],
    );
    let baseline = dir.join("baselines/orin.yaml");
    let res = dir.join("results");
    let args = [
        "--tag",
        "orin",
        "--tables",
        tables.to_str().unwrap(),
        "--baseline",
        baseline.to_str().unwrap(),
        "-q",
    ];
    // Without --propose-baseline: what to do, once, not a board's fault.
    let out = hil_run(&res, &inv, &args);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert!(
        all.contains(&format!(
            "the baseline {} does not exist",
            baseline.display()
        )) && all.contains("baseline-from")
            && all.contains("--propose-baseline")
            && !all.contains("board orin-a:"),
        "{all}"
    );
    assert!(!res.exists(), "nothing ran, nothing written");

    // The pipeline's way: the boards run, the baseline is proposed, the job fails (4).
    let mut first = args.to_vec();
    first.push("--propose-baseline");
    let out = hil_run(&res, &inv, &first);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(4), "{all}");
    let proposed = res.join("proposed-baseline.yaml");
    assert!(
        all.contains(&format!("Proposed baseline: {}", proposed.display()))
            && all.contains("hil-run baseline-from")
            && all.contains(&format!("commit it as {}", baseline.display())),
        "{all}"
    );
    for b in ["orin-a", "orin-b"] {
        assert!(res.join(b).join("journal.jsonl").is_file());
    }
    let text_proposed = std::fs::read_to_string(&proposed).unwrap();
    assert!(
        text_proposed.contains("n.b_fails: fail") && text_proposed.contains("orin-a, orin-b"),
        "{text_proposed}"
    );
    // baseline-from over both journals writes the same.
    let from = std::process::Command::new(bin("hil-run"))
        .arg("baseline-from")
        .arg(res.join("orin-a/journal.jsonl"))
        .arg(res.join("orin-b/journal.jsonl"))
        .output()
        .unwrap();
    assert_eq!(from.status.code(), Some(0), "{}", text(&from));
    let from_text = String::from_utf8_lossy(&from.stdout);
    assert_eq!(
        from_text.lines().skip(1).collect::<Vec<_>>(),
        text_proposed.lines().skip(1).collect::<Vec<_>>(),
        "only the header's journal paths may differ"
    );

    // Committed, the next night is green: the failure is expected on both boards.
    std::fs::create_dir_all(baseline.parent().unwrap()).unwrap();
    std::fs::copy(&proposed, &baseline).unwrap();
    let out = hil_run(&res, &inv, &first);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
}

#[test]
fn a_regression_is_never_hidden_by_a_board_that_could_not_be_tested() {
    let dir = scratch("never-hidden");
    let sshd = Sshd::start(&dir);
    let tables = common::write_table(&dir, "n.yaml", TABLE);
    let suite = bin("hil-suite").display().to_string();
    let mut gone = entry(&sshd, "gone", &suite, "");
    gone = gone.replace(
        &format!("port: {}", sshd.port),
        &format!("port: {}", refused_port()),
    );
    let inv = write_inventory(&dir, &[entry(&sshd, "ok", &suite, ""), gone]);
    let tables = tables.to_str().unwrap();
    let run = |res: &Path, filter: &str, boards: &[&str]| {
        let mut args = vec!["--tables", tables, "--filter", filter, "-q"];
        for b in boards {
            args.extend(["--board", b]);
        }
        hil_run(res, &inv, &args)
    };
    // A regression on the board that ran, one board unreachable: 1, never 2.
    let res = dir.join("results-regressed");
    let out = run(&res, "n.", &["ok", "gone"]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    let merged = res.join("junit.xml");
    common::xmllint(&merged);
    let xml = std::fs::read_to_string(&merged).unwrap();
    assert!(
        xml.contains("<testsuite name=\"hil.gone\"")
            && xml.contains("type=\"not-tested\"")
            && xml.contains("board gone was not tested: board `gone` cannot be reached"),
        "{xml}"
    );
    assert!(xml.contains("n.b_fails"), "{xml}");

    // No regression where it ran, one board unreachable: 3.
    let res = dir.join("results-partly");
    let out = run(&res, "n.a_ok", &["ok", "gone"]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(3), "{all}");
    assert!(
        all.contains("board gone: board `gone` cannot be reached"),
        "{all}"
    );
    let xml = std::fs::read_to_string(res.join("junit.xml")).unwrap();
    assert!(
        xml.contains("board-not-tested") && xml.contains("hil.ok"),
        "{xml}"
    );

    // Nothing tested at all: 2, and CI's report still says why.
    let res = dir.join("results-none");
    let out = run(&res, "n.a_ok", &["gone"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let xml = std::fs::read_to_string(res.join("junit.xml")).unwrap();
    assert!(xml.contains("board gone was not tested"), "{xml}");
    assert!(
        !res.join("gone").exists(),
        "nothing of the board is written"
    );
}

#[test]
fn a_retry_on_a_lost_board_keeps_the_first_cause_and_counts_cases_not_attempts() {
    let dir = scratch("lost-retry");
    let mut sshd = Sshd::start(&dir);
    let suite = bin("hil-suite").display().to_string();
    let inv = write_inventory(
        &dir,
        &[entry(&sshd, "b1", &suite, "    reconnect_timeout_s: 3\n")],
    );
    let yaml = "name: l\nbackend: host\ndoc: d\nrows:\n  - id: a_ok\n    op: selftest_ok\n  - id: b_nap\n    op: selftest_sleep\n    params: {ms: 60000}\n    timeout_s: 120\n  - id: c_after\n    op: selftest_ok\n";
    let tables = common::write_table(&dir, "l.yaml", yaml);
    let res = dir.join("results");
    let child = spawn_hil_run(
        &res,
        &inv,
        &[
            "--board",
            "b1",
            "--tables",
            tables.to_str().unwrap(),
            "--test-threads",
            "1",
            "--retry",
            "2",
        ],
    );
    let journal = res.join("b1/journal.jsonl");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !common::journal_outcomes(&journal)
        .iter()
        .any(|(c, _)| c == "l.a_ok")
    {
        assert!(Instant::now() < deadline, "no progress before the fault");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    sshd.kill();
    let out = child.wait_with_output().unwrap();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    // The cause, not the retries' "could not start", is what JUnit and the summary say.
    let xml = std::fs::read_to_string(res.join("b1/junit.xml")).unwrap();
    let nap = &xml[xml.find("name=\"l.b_nap\"").expect("b_nap in JUnit")..];
    let nap = &nap[..nap.find("</testcase>").unwrap()];
    assert!(
        nap.contains("<error message=\"the board was lost while this case ran"),
        "{nap}"
    );
    assert!(
        nap.contains("<rerunError") && nap.contains("could not start hil-suite"),
        "{nap}"
    );
    let summary = std::fs::read_to_string(res.join("b1/summary.txt")).unwrap();
    assert!(
        summary.contains("the board was lost while this case ran"),
        "{summary}"
    );
    // [done/total]: cases, never attempts.
    let counters: Vec<(usize, usize)> = all
        .lines()
        .filter_map(|l| {
            let inner = l.split_once('[')?.1.split_once(']')?.0;
            let (d, t) = inner.split_once('/')?;
            Some((d.trim().parse().ok()?, t.trim().parse().ok()?))
        })
        .collect();
    assert!(counters.len() >= 4, "{all}");
    for (done, total) in &counters {
        assert!(total == &3 && done <= total, "[{done}/{total}]: {all}");
    }
}
