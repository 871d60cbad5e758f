//! `hil-run` against real OpenSSH: each test starts its own `sshd` on 127.0.0.1 with its
//! own host key and authorized_keys, writes an inventory, and injects faults for real
//! (sshd killed, wrong host key, wrong client key, hostile names, a board that never
//! comes back). No mocked transport.

mod common;

use common::{bin, keygen, scratch, spawn_hil_run, text, user, Sshd};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

struct BoardOpts<'a> {
    name: &'a str,
    workdir: String,
    key: PathBuf,
    extra: &'a str,
}

fn inventory(sshd: &Sshd, boards: &[BoardOpts]) -> PathBuf {
    let mut y = String::from("boards:\n");
    for b in boards {
        y.push_str(&format!(
            "  - name: {:?}\n    host: 127.0.0.1\n    port: {}\n    user: {}\n    key: {}\n    known_hosts: {}\n    suite: {}\n    workdir: {:?}\n    connect_timeout_s: 5\n{}",
            b.name,
            sshd.port,
            user(),
            b.key.display(),
            sshd.dir.join("known_hosts").display(),
            bin("hil-suite").display(),
            b.workdir,
            b.extra
        ));
    }
    let p = sshd.dir.join("boards.yaml");
    std::fs::write(&p, y).unwrap();
    p
}

fn board<'a>(sshd: &Sshd, name: &'a str) -> BoardOpts<'a> {
    BoardOpts {
        name,
        workdir: sshd
            .dir
            .join(format!("remote-{name}"))
            .display()
            .to_string(),
        key: sshd.dir.join("client_key"),
        extra: "",
    }
}

fn hil_run(results: &Path, inv: &Path, args: &[&str]) -> Output {
    spawn_hil_run(results, inv, args)
        .wait_with_output()
        .unwrap()
}

/// hil-run on board b1 of `inv` over `tables`, one case at a time, quiet, in the background.
fn spawn_serial(results: &Path, inv: &Path, tables: &str) -> std::process::Child {
    spawn_hil_run(
        results,
        inv,
        &[
            "--board",
            "b1",
            "--tables",
            tables,
            "--test-threads",
            "1",
            "-q",
        ],
    )
}

fn selftest_tables() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../suite/tests/tables")
        .display()
        .to_string()
}

fn outcomes(journal: &Path) -> BTreeMap<String, String> {
    common::journal_outcomes(journal).into_iter().collect()
}

/// The board's running hil-suite process, for pkill/pgrep.
fn suite_pattern(sshd: &Sshd, board: &str) -> String {
    format!(
        "{}/suite-.*/hil-suite .*--cases-from",
        sshd.dir.join(format!("remote-{board}")).display()
    )
}

/// Once `first_case` is journaled (the suite is then in the next case), sends `signal`
/// (a pkill option such as -9 or -STOP) to the suite on the board.
fn signal_suite_after(journal: &Path, first_case: &str, pattern: &str, signal: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let started = outcomes(journal).contains_key(first_case);
        if started
            && Command::new("pkill")
                .args([signal, "-f", pattern])
                .status()
                .unwrap()
                .success()
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the remote suite never got past {first_case}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits (up to a minute) until `case` has a result in the journal: the fault comes next.
fn wait_for_result(journal: &Path, case: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !outcomes(journal).contains_key(case) {
        assert!(Instant::now() < deadline, "no progress before the fault");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// hil-run over the inventory in the background (for faults injected while it runs).
const SELFTEST_EXPECTED: [(&str, &str); 13] = [
    ("selftest.a_ok", "pass"),
    ("selftest.b_check_fails", "fail"),
    ("selftest.c_expected_error", "pass"),
    ("selftest.d_unexpected_error", "fail"),
    ("selftest.e_abort", "crash"),
    ("selftest.f_after_abort", "pass"),
    ("selftest.g_hang", "timeout"),
    ("selftest.h_after_hang", "pass"),
    ("selftest.ub_segv", "flagged"),
    ("selftest.ub_hang", "flagged"),
    ("selftest.ub_silent", "flagged"),
    ("selftest.ub_error", "flagged"),
    ("selftest.z_last", "pass"),
];

#[test]
fn a_board_over_ssh_runs_the_suite_like_local_and_deploys_only_once() {
    let dir = scratch("basic");
    let sshd = Sshd::start(&dir);
    let inv = inventory(&sshd, &[board(&sshd, "b1")]);
    let res = dir.join("results");
    let out = hil_run(
        &res,
        &inv,
        &["--board", "b1", "--tables", &selftest_tables()],
    );
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("uploaded suite"), "{all}");
    let got = outcomes(&res.join("b1/journal.jsonl"));
    for (case, want) in SELFTEST_EXPECTED {
        assert_eq!(
            got.get(case).map(String::as_str),
            Some(want),
            "{case}: {all}"
        );
    }
    let xml = common::junit(&res.join("b1/junit.xml"));
    assert!(
        xml.contains("killed by signal 6 (SIGABRT)"),
        "remote crash attributed with its signal"
    );
    assert!(xml.contains(r#"<property name="board" value="b1"/>"#));
    let log =
        std::fs::read_to_string(res.join("b1/suite-1.log")).expect("remote suite log copied home");
    assert!(log.contains("selftest: about to abort"), "{log}");
    assert!(
        res.join("b1/events-2.jsonl").is_file(),
        "every attempt's event stream comes home"
    );

    let again = hil_run(&res, &inv, &["--board", "b1", "--filter", "host.info"]);
    let all = text(&again);
    assert_eq!(again.status.code(), Some(0), "{all}");
    assert!(
        all.contains("suite up to date") && !all.contains("uploaded suite"),
        "unchanged suite is not re-sent: {all}"
    );

    // A suite cut short under its final name (a disk that filled up, a copy by hand) is
    // checked by its hash and sent again.
    let workdir = dir.join("remote-b1");
    let deployed = std::fs::read_dir(&workdir)
        .unwrap()
        .flatten()
        .map(|e| e.path().join("hil-suite"))
        .find(|p| p.is_file())
        .unwrap();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&deployed)
        .unwrap();
    f.set_len(1 << 20).unwrap();
    drop(f);
    let cut = hil_run(&res, &inv, &["--board", "b1", "--filter", "host.info"]);
    let all = text(&cut);
    assert_eq!(cut.status.code(), Some(0), "{all}");
    assert!(
        all.contains("uploaded suite"),
        "a truncated suite is re-sent: {all}"
    );
    assert_eq!(
        hil_run::transport::ssh::file_hash(&deployed).unwrap(),
        hil_run::transport::ssh::file_hash(&bin("hil-suite")).unwrap()
    );
}

#[test]
fn unknown_and_changed_host_keys_are_refused_with_the_fingerprint() {
    let dir = scratch("hostkey");
    let sshd = Sshd::start(&dir);
    let inv = inventory(&sshd, &[board(&sshd, "b1")]);
    let kh = dir.join("known_hosts");
    let good = std::fs::read_to_string(&kh).unwrap();
    let res = dir.join("results");

    std::fs::write(&kh, "").unwrap();
    let out = hil_run(&res, &inv, &["--board", "b1", "--filter", "host.info"]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert!(
        all.contains("is not in") && all.contains("SHA256:") && all.contains("ssh-keyscan -p"),
        "{all}"
    );
    assert!(all.contains("--accept-new-host-keys"), "{all}");

    let out = hil_run(
        &res,
        &inv,
        &[
            "--board",
            "b1",
            "--filter",
            "host.info",
            "--accept-new-host-keys",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(std::fs::read_to_string(&kh)
        .unwrap()
        .contains(&format!("[127.0.0.1]:{}", sshd.port)));

    // Another key recorded for this host: a changed key is refused even with accept-new.
    keygen(&dir.join("other_host_key"));
    let other = std::fs::read_to_string(dir.join("other_host_key.pub")).unwrap();
    let other: Vec<&str> = other.split_whitespace().take(2).collect();
    std::fs::write(
        &kh,
        format!("[127.0.0.1]:{} {}\n", sshd.port, other.join(" ")),
    )
    .unwrap();
    let out = hil_run(
        &res,
        &inv,
        &[
            "--board",
            "b1",
            "--filter",
            "host.info",
            "--accept-new-host-keys",
        ],
    );
    let all = text(&out);
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert!(
        all.contains("HAS CHANGED") && all.contains("ssh-keygen -R"),
        "{all}"
    );
    std::fs::write(&kh, good).unwrap();
}

#[test]
fn a_client_key_the_board_does_not_know_is_refused() {
    let dir = scratch("badkey");
    let sshd = Sshd::start(&dir);
    keygen(&dir.join("stranger_key"));
    let mut b = board(&sshd, "b1");
    b.key = dir.join("stranger_key");
    let inv = inventory(&sshd, &[b]);
    let out = hil_run(&dir.join("results"), &inv, &["--board", "b1"]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert!(
        all.contains(&format!("authentication as `{}` failed", user()))
            && all.contains("stranger_key"),
        "{all}"
    );
}

#[test]
fn names_and_paths_from_the_inventory_never_reach_the_shell() {
    let dir = scratch("hostile");
    let sshd = Sshd::start(&dir);
    let canary = dir.join("pwned");
    let mut b = board(&sshd, "b1");
    b.workdir = format!(
        "{}/w $(touch {}) `touch {}`",
        dir.display(),
        canary.display(),
        canary.display()
    );
    let extra = format!(
        "    env: {{HIL_X: \"$(touch {}); rm -rf /nonexistent\"}}\n",
        canary.display()
    );
    b.extra = &extra;
    let inv = inventory(&sshd, &[b]);
    let out = hil_run(
        &dir.join("results"),
        &inv,
        &["--board", "b1", "--filter", "host.info"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        !canary.exists(),
        "a command substitution from the inventory was executed"
    );
    assert!(
        dir.join(format!(
            "w $(touch {}) `touch {}`",
            canary.display(),
            canary.display()
        ))
        .is_dir(),
        "the odd directory name was used literally"
    );

    // A board name that is shell or path syntax is refused before anything runs.
    let inv = inventory(&sshd, &[board(&sshd, "b1;touch x")]);
    let out = hil_run(&dir.join("results"), &inv, &["--board", "b1;touch x"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("invalid board name"), "{}", text(&out));
}

#[test]
fn sshd_killed_mid_run_the_runner_reconnects_and_loses_nothing() {
    let dir = scratch("reconnect");
    let mut sshd = Sshd::start(&dir);
    let inv = inventory(&sshd, &[board(&sshd, "b1")]);
    let res = dir.join("results");
    let child = spawn_hil_run(
        &res,
        &inv,
        &["--board", "b1", "--tables", &selftest_tables(), "-q"],
    );
    let journal = res.join("b1/journal.jsonl");
    wait_for_result(&journal, "selftest.f_after_abort");
    sshd.kill(); // the board's sshd and the runner's sessions die; the suite runs on (setsid)
    std::thread::sleep(Duration::from_millis(1500));
    // It comes back refusing the key for a while (a board booting: sshd up before the
    // home directory): still a board coming back, not a wrong key (exit 2).
    let keys = dir.join("authorized_keys");
    let saved = std::fs::read(&keys).unwrap();
    std::fs::write(&keys, "").unwrap();
    sshd.restart();
    std::thread::sleep(Duration::from_millis(2500));
    std::fs::write(&keys, saved).unwrap();
    let out = child.wait_with_output().unwrap();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("reconnecting"), "{all}");
    let got = outcomes(&journal);
    for (case, want) in SELFTEST_EXPECTED {
        assert_eq!(
            got.get(case).map(String::as_str),
            Some(want),
            "{case}: {all}"
        );
    }
}

#[test]
fn a_board_that_never_comes_back_ends_with_its_cases_marked() {
    let dir = scratch("gone");
    let mut sshd = Sshd::start(&dir);
    let mut b = board(&sshd, "b1");
    b.extra = "    reconnect_timeout_s: 5\n";
    let inv = inventory(&sshd, &[b]);
    let res = dir.join("results");
    let child = spawn_hil_run(
        &res,
        &inv,
        &["--board", "b1", "--tables", &selftest_tables(), "-q"],
    );
    let journal = res.join("b1/journal.jsonl");
    wait_for_result(&journal, "selftest.c_expected_error");
    sshd.kill();
    let killed = Instant::now();
    let out = child.wait_with_output().unwrap();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert_eq!(
        all.matches("did not come back within 5 s").count(),
        1,
        "said once, with what happens next: {all}"
    );
    // The window is waited out once; restarting the suite, fetching logs, cleaning up and
    // releasing the lock then try once each (before: the full window again for each).
    assert!(
        killed.elapsed() < Duration::from_secs(15),
        "{:?}: {all}",
        killed.elapsed()
    );
    let got = outcomes(&journal);
    assert_eq!(
        got.len(),
        13,
        "every planned case has a result: {got:?}\n{all}"
    );
    assert!(got.values().any(|o| o == "crash"), "{got:?}");
    let xml = common::junit(&res.join("b1/junit.xml"));
    assert!(
        xml.contains("the board was lost")
            || xml.contains("could not start hil-suite on the board"),
        "{xml}"
    );
}

#[test]
fn a_board_lost_after_the_suite_started_never_reads_as_could_not_start() {
    let dir = scratch("lostafter");
    let mut sshd = Sshd::start(&dir);
    let mut b = board(&sshd, "b1");
    b.extra = "    reconnect_timeout_s: 3\n";
    let inv = inventory(&sshd, &[b]);
    let yaml = "name: l\nbackend: host\ndoc: d\nrows:\n  - id: a_ok\n    op: selftest_ok\n  - id: b_nap\n    op: selftest_sleep\n    params: {ms: 60000}\n    timeout_s: 120\n  - id: c_nap\n    op: selftest_sleep\n    params: {ms: 60000}\n    timeout_s: 120\n";
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
            "2",
            "-q",
        ],
    );
    let journal = res.join("b1/journal.jsonl");
    wait_for_result(&journal, "l.a_ok");
    // Both naps run on the board (in parallel: neither is blamed) when sshd dies for good.
    std::thread::sleep(Duration::from_millis(500));
    sshd.kill();
    let out = child.wait_with_output().unwrap();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    let got = outcomes(&journal);
    assert_eq!(
        got.get("l.b_nap").map(String::as_str),
        Some("crash"),
        "{all}"
    );
    assert_eq!(
        got.get("l.c_nap").map(String::as_str),
        Some("crash"),
        "{all}"
    );
    let xml = common::junit(&res.join("b1/junit.xml"));
    assert!(!xml.contains("could not start hil-suite"), "{xml}");
    assert!(
        xml.contains("the board was lost after hil-suite started"),
        "{xml}"
    );
    let _ = Command::new("pkill")
        .args(["-9", "-f", &suite_pattern(&sshd, "b1")])
        .status();
}

#[test]
fn several_boards_run_in_parallel_with_a_merged_report() {
    let dir = scratch("farm");
    let sshd = Sshd::start(&dir);
    let inv = inventory(
        &sshd,
        &[board(&sshd, "b1"), board(&sshd, "b2"), board(&sshd, "b3")],
    );
    let mut f = std::fs::OpenOptions::new().append(true).open(&inv).unwrap();
    // Tag two of them; select one by name and two by tag.
    drop(f.flush());
    let text_inv = std::fs::read_to_string(&inv)
        .unwrap()
        .replace("name: \"b2\"", "name: \"b2\"\n    tags: [nightly]")
        .replace("name: \"b3\"", "name: \"b3\"\n    tags: [nightly]");
    std::fs::write(&inv, text_inv).unwrap();
    let res = dir.join("results");
    let out = hil_run(
        &res,
        &inv,
        &[
            "--board",
            "b1",
            "--tag",
            "nightly",
            "--filter",
            "host.info",
            "-q",
        ],
    );
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    let merged = common::junit(&res.join("junit.xml"));
    for b in ["b1", "b2", "b3"] {
        assert!(
            merged.contains(&format!("<testsuite name=\"hil.{b}\"")),
            "{b} missing from merged JUnit"
        );
        assert!(res.join(b).join("junit.xml").is_file());
    }
    // One HTML report: the boards side by side, the same case in one row.
    let html = std::fs::read_to_string(res.join("report.html")).unwrap();
    for b in ["b1", "b2", "b3"] {
        assert!(
            html.contains(&format!("href=\"{b}/junit.xml\"")),
            "{b} not in report.html"
        );
    }
    let row = &html[html
        .find("<tr data-name=\"host.info\"")
        .expect("host.info row")..];
    let row = &row[..row.find("</tr>").unwrap()];
    assert_eq!(row.matches("chip o-pass").count(), 3, "{row}");
    assert!(
        std::fs::read_to_string(res.join("summary.txt"))
            .unwrap()
            .lines()
            .count()
            >= 4
    );
}

#[test]
fn a_remote_suite_killed_from_outside_is_a_crash_and_the_rest_still_runs() {
    let dir = scratch("killsuite");
    let sshd = Sshd::start(&dir);
    let inv = inventory(&sshd, &[board(&sshd, "b1")]);
    let tables = common::write_table(&dir, "k.yaml", "name: k\nbackend: host\ndoc: d\nrows:\n  - id: a_ok\n    op: selftest_ok\n  - id: b_long\n    op: selftest_hang\n    timeout_s: 60\n  - id: c_after\n    op: selftest_ok\n");
    let res = dir.join("results");
    let child = spawn_hil_run(
        &res,
        &inv,
        &["--board", "b1", "--tables", tables.to_str().unwrap(), "-q"],
    );
    let journal = res.join("b1/journal.jsonl");
    // While b_long sleeps on the board, kill the suite process there (as an OOM killer would).
    let pattern = suite_pattern(&sshd, "b1");
    signal_suite_after(&journal, "k.a_ok", &pattern, "-9");
    let out = child.wait_with_output().unwrap();
    let got = outcomes(&journal);
    assert_eq!(
        got.get("k.b_long").map(String::as_str),
        Some("crash"),
        "{got:?} {}",
        text(&out)
    );
    assert_eq!(
        got.get("k.c_after").map(String::as_str),
        Some("pass"),
        "the rest ran after the restart"
    );
    let xml = common::junit(&res.join("b1/junit.xml"));
    assert!(xml.contains("killed by signal 9"), "{xml}");
    // `-q` promises the summary only: no upload or clean-up chatter.
    let all = text(&out);
    assert!(
        !all.contains("uploaded suite") && !all.contains("old run director"),
        "{all}"
    );
}

#[test]
fn a_board_left_unusable_is_reset_with_the_inventory_command() {
    let dir = scratch("reset");
    let sshd = Sshd::start(&dir);
    let marker = dir.join("reset-ran");
    let mut b = board(&sshd, "b1");
    // The board's health probe reports a wedged device; the runner then resets the board.
    let extra = format!(
        "    env: {{HIL_HEALTH_PROBE_CMD: \"echo device {{devices}} wedged >&2; exit 1\"}}\n    reset: \"touch {}\"\n",
        marker.display()
    );
    b.extra = &extra;
    let inv = inventory(&sshd, &[b]);
    let tables = Path::new(env!("CARGO_MANIFEST_DIR")).join("../suite/tests/tables-health");
    let out = hil_run(
        &dir.join("results"),
        &inv,
        &["--board", "b1", "--tables", tables.to_str().unwrap()],
    );
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("board needed a reset"), "{all}");
    assert!(marker.exists(), "reset command did not run");
}

#[test]
fn a_board_in_use_by_another_run_is_refused_until_its_lock_goes() {
    let dir = scratch("lock");
    let sshd = Sshd::start(&dir);
    let b = board(&sshd, "b1");
    let lock = PathBuf::from(&b.workdir).join("lock");
    let inv = inventory(&sshd, &[b]);
    std::fs::create_dir_all(&lock).unwrap();
    std::fs::write(lock.join("owner"), "runner=ci-7 pid=4242 since_unix=1").unwrap();
    let res = dir.join("results");
    let out = hil_run(&res, &inv, &["--board", "b1", "--filter", "host.info"]);
    let all = text(&out);
    // A busy board: nothing was tested, and it is no regression.
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert!(
        all.contains("is locked by another run (runner=ci-7 pid=4242")
            && all.contains("--break-lock"),
        "{all}"
    );
    let out = hil_run(
        &res,
        &inv,
        &["--board", "b1", "--filter", "host.info", "--lock-wait", "3"],
    );
    let all = text(&out);
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert!(all.contains(" s of --lock-wait 3 s)"), "{all}");
    assert!(all.contains("still after waiting 3 s"), "{all}");
    // A lock left by a run on this host that is gone (its pid no longer exists) is stale.
    let mut gone = Command::new("true").spawn().unwrap();
    let dead = gone.id();
    gone.wait().unwrap();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap();
    let ns = std::fs::read_link("/proc/self/ns/pid").unwrap();
    let ns = ns.to_str().unwrap().trim_start_matches("pid:");
    // Without the boot and pid namespace, the same host name proves nothing (containers).
    std::fs::write(
        lock.join("owner"),
        format!("runner={} pid={dead} since_unix=1", host.trim()),
    )
    .unwrap();
    let out = hil_run(&res, &inv, &["--board", "b1", "--filter", "host.info"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    std::fs::write(
        lock.join("owner"),
        format!(
            "runner={} pid={dead} since_unix=1 boot={} pidns={ns}",
            host.trim(),
            boot.trim()
        ),
    )
    .unwrap();
    let out = hil_run(&res, &inv, &["--board", "b1", "--filter", "host.info"]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(
        all.contains(&format!(
            "(stale: its run (pid {dead} on this host) is gone)"
        )),
        "{all}"
    );
    std::fs::create_dir_all(&lock).unwrap();
    std::fs::write(lock.join("owner"), "runner=ci-7 pid=4242 since_unix=1").unwrap();
    // Interrupted while waiting for the lock: nothing ran, and it says so (no `--resume`).
    let waiting = Command::new(bin("hil-run"))
        .arg("--results")
        .arg(dir.join("r0"))
        .arg("--inventory")
        .arg(&inv)
        .args(["--board", "b1", "--lock-wait", "60"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    unsafe { libc::kill(waiting.id() as i32, libc::SIGINT) };
    let out = waiting.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", text(&out));
    assert!(
        text(&out).contains("nothing was run or written"),
        "{}",
        text(&out)
    );
    assert!(!dir.join("r0/b1/journal.jsonl").exists());
    let out = hil_run(
        &res,
        &inv,
        &["--board", "b1", "--filter", "host.info", "--break-lock"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(!lock.exists(), "the lock is released when the run ends");
    // While a run holds the board, a second one waits (--lock-wait) and then gets it.
    let first = Command::new(bin("hil-run"))
        .arg("--results")
        .arg(dir.join("r1"))
        .arg("--inventory")
        .arg(&inv)
        .args([
            "--board",
            "b1",
            "--tables",
            &selftest_tables(),
            "--filter",
            "g_hang",
            "-q",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !lock.exists() {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(20));
    }
    let second = hil_run(
        &dir.join("r2"),
        &inv,
        &[
            "--board",
            "b1",
            "--filter",
            "host.info",
            "--lock-wait",
            "60",
        ],
    );
    assert_eq!(second.status.code(), Some(0), "{}", text(&second));
    let first = first.wait_with_output().unwrap();
    assert_eq!(first.status.code(), Some(1), "g_hang times out");
}

#[test]
fn retries_on_a_remote_board_read_their_own_events() {
    let dir = scratch("retry");
    let sshd = Sshd::start(&dir);
    let inv = inventory(&sshd, &[board(&sshd, "b1")]);
    let tables = common::write_table(&dir, "r.yaml", "name: r\nbackend: host\ndoc: d\nrows:\n  - id: a_flaky\n    op: selftest_flaky\n    params: {marker: flaky.marker}\n  - id: b_fails\n    op: selftest_check_fails\n");
    let res = dir.join("results");
    let out = hil_run(
        &res,
        &inv,
        &[
            "--board",
            "b1",
            "--tables",
            tables.to_str().unwrap(),
            "--retry",
            "1",
        ],
    );
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    let got = outcomes(&res.join("b1/journal.jsonl"));
    assert_eq!(got["r.a_flaky"], "pass", "{all}");
    assert_eq!(got["r.b_fails"], "fail", "{all}");
    assert!(all.contains("r.a_flaky  (failed 1 time(s) first)"), "{all}");
}

#[test]
fn a_wedged_remote_suite_is_killed_by_the_runner_and_the_case_times_out() {
    let dir = scratch("wedged");
    let sshd = Sshd::start(&dir);
    let inv = inventory(&sshd, &[board(&sshd, "b1")]);
    let yaml = "name: w\nbackend: host\ndoc: d\nrows:\n  - id: a_ok\n    op: selftest_ok\n  - id: b_hang\n    op: selftest_hang\n    timeout_s: 5\n  - id: c_after\n    op: selftest_ok\n";
    let tables = common::write_table(&dir, "w.yaml", yaml);
    let res = dir.join("results");
    let child = spawn_hil_run(
        &res,
        &inv,
        &["--board", "b1", "--tables", tables.to_str().unwrap(), "-q"],
    );
    // Stop the whole remote suite (its watchdog thread too) while b_hang runs: only the
    // runner's backstop can end it, by killing the process group on the board.
    let pattern = suite_pattern(&sshd, "b1");
    let journal = res.join("b1/journal.jsonl");
    signal_suite_after(&journal, "w.a_ok", &pattern, "-STOP");
    let out = child.wait_with_output().unwrap();
    let got = outcomes(&journal);
    assert_eq!(
        got.get("w.b_hang").map(String::as_str),
        Some("timeout"),
        "{got:?} {}",
        text(&out)
    );
    assert_eq!(
        got.get("w.c_after").map(String::as_str),
        Some("pass"),
        "the run went on after the kill"
    );
    let xml = common::junit(&res.join("b1/junit.xml"));
    assert!(xml.contains("the runner killed the suite"), "{xml}");
    let left = Command::new("pgrep")
        .args(["-f", &pattern])
        .output()
        .unwrap();
    assert!(
        left.stdout.is_empty(),
        "the stopped suite was left on the board"
    );
}

/// An inventory of one board `b1` at `host:port` that nothing answers for.
fn unreachable_inventory(dir: &Path, host: &str, port: u16) -> PathBuf {
    let p = dir.join("boards.yaml");
    let y = format!(
        "boards:\n  - name: b1\n    host: {host}\n    port: {port}\n    user: ci\n    known_hosts: {}\n    suite: {}\n    workdir: /tmp/hil-never\n    reconnect_timeout_s: 600\n",
        dir.join("known_hosts").display(),
        bin("hil-suite").display()
    );
    std::fs::write(&p, y).unwrap();
    p
}

#[test]
fn a_board_never_reached_fails_at_once_with_exit_2_and_records_nothing() {
    let dir = scratch("never");
    // A loopback port nothing listens on (refused), and a name that cannot resolve.
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    for (host, port, why) in [
        ("no-such-host.invalid", 22, "no-such-host.invalid:22"),
        ("127.0.0.1", free, "refused"),
    ] {
        let inv = unreachable_inventory(&dir, host, port);
        let res = dir.join(format!("results-{port}"));
        let t = Instant::now();
        let out = hil_run(&res, &inv, &["--board", "b1"]);
        let all = text(&out);
        assert_eq!(out.status.code(), Some(2), "{all}");
        assert!(
            all.contains("board `b1` cannot be reached") && all.contains(why),
            "{all}"
        );
        // Not the 600 s reconnect window a board that dropped mid-run gets.
        assert!(t.elapsed() < Duration::from_secs(60), "{:?}", t.elapsed());
        assert!(!res.join("b1/journal.jsonl").exists(), "nothing recorded");
    }
}

/// Sends `sig` to a process.
fn signal(child: &std::process::Child, sig: i32) {
    unsafe { common_kill(child.id() as i32, sig) };
}

extern "C" {
    #[link_name = "kill"]
    fn common_kill(pid: i32, sig: i32) -> i32;
}

#[test]
fn sigterm_ends_the_reconnect_wait_with_journal_and_junit_and_resume_finishes() {
    let dir = scratch("sigterm");
    let mut sshd = Sshd::start(&dir);
    let mut b = board(&sshd, "b1");
    b.extra = "    reconnect_timeout_s: 600\n";
    let inv = inventory(&sshd, &[b]);
    let res = dir.join("results");
    let child = spawn_serial(&res, &inv, &selftest_tables());
    let journal = res.join("b1/journal.jsonl");
    wait_for_result(&journal, "selftest.c_expected_error");
    sshd.kill(); // the runner now waits for the board to come back (up to 600 s)
    std::thread::sleep(Duration::from_millis(1500));
    let t = Instant::now();
    signal(&child, 15);
    let out = child.wait_with_output().unwrap();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(130), "{all}");
    assert!(t.elapsed() < Duration::from_secs(60), "{:?}", t.elapsed());
    assert!(all.contains("reconnecting"), "{all}");
    assert!(res.join("b1/junit.xml").is_file(), "{all}");
    // What was reported is kept; the interruption itself is no verdict on any case.
    let got = outcomes(&journal);
    let expected: BTreeMap<&str, &str> = SELFTEST_EXPECTED.into_iter().collect();
    assert!(got.len() >= 3 && got.len() < 13, "{got:?}");
    for (case, outcome) in &got {
        assert_eq!(expected[case.as_str()], outcome, "{case}: {all}");
    }

    // The board comes back: the resume (taking over the lock the interrupted run could
    // not release) runs exactly the rest.
    sshd.restart();
    let out = hil_run(
        &res,
        &inv,
        &[
            "--board",
            "b1",
            "--tables",
            &selftest_tables(),
            "--resume",
            "--break-lock",
            "-q",
        ],
    );
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    let records = common::journal_outcomes(&journal);
    assert_eq!(records.len(), 13, "each case once: {records:?}");
    for (case, outcome) in records {
        assert_eq!(expected[case.as_str()], outcome, "{case}: {all}");
    }
}

#[test]
fn sigint_ends_a_wait_for_a_locked_board() {
    let dir = scratch("lockint");
    let sshd = Sshd::start(&dir);
    let b = board(&sshd, "b1");
    let lock = PathBuf::from(&b.workdir).join("lock");
    let inv = inventory(&sshd, &[b]);
    std::fs::create_dir_all(&lock).unwrap();
    std::fs::write(lock.join("owner"), "runner=ci-7 pid=4242 since_unix=1").unwrap();
    let child = spawn_hil_run(
        &dir.join("results"),
        &inv,
        &[
            "--board",
            "b1",
            "--lock-wait",
            "600",
            "--filter",
            "host.info",
        ],
    );
    std::thread::sleep(Duration::from_secs(2));
    let t = Instant::now();
    signal(&child, 2);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", text(&out));
    assert!(t.elapsed() < Duration::from_secs(60), "{:?}", t.elapsed());
    assert!(
        lock.join("owner").is_file(),
        "another run's lock is left alone"
    );
}

#[test]
fn inventory_mistakes_are_exit_2_with_file_line_and_column() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = scratch("invcheck");
    let sshd = Sshd::start(&dir);
    let inv = inventory(&sshd, &[board(&sshd, "b1")]);
    let good = std::fs::read_to_string(&inv).unwrap();
    let port_line = good.lines().position(|l| l.contains("port:")).unwrap() + 1;
    let workdir_line = good.lines().position(|l| l.contains("workdir:")).unwrap() + 1;
    let res = dir.join("results");
    let file = inv.display().to_string();
    let port = format!("port: {}", sshd.port);
    let cases = [
        (
            good.replace(&port, "port: 0"),
            format!("{file}:{port_line}:5: "),
            "0 is not a TCP port",
        ),
        (
            good.replace("workdir: \"/", "workdir: \"relative/"),
            format!("{file}:{workdir_line}:15: "),
            "must be an absolute path",
        ),
        (
            format!("{good}  - name: \"b1\"\n    host: h\n    user: u\n    suite: s\n"),
            format!("{file}:{}:11: ", good.lines().count() + 1),
            "board `b1` is defined twice",
        ),
    ];
    for (yaml, at, want) in cases {
        std::fs::write(&inv, &yaml).unwrap();
        let out = hil_run(&res, &inv, &["--board", "b1", "--filter", "host.info"]);
        let all = text(&out);
        assert_eq!(out.status.code(), Some(2), "{yaml}\n{all}");
        assert!(
            all.contains(&at) && all.contains(want),
            "{at} {want}: {all}"
        );
    }
    std::fs::write(&inv, &good).unwrap();

    // A private key others can read is refused as OpenSSH refuses it, before connecting.
    let key = dir.join("client_key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = hil_run(&res, &inv, &["--board", "b1", "--filter", "host.info"]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert!(
        all.contains("UNPROTECTED PRIVATE KEY FILE")
            && all.contains("permissions 0644")
            && all.contains("chmod 600"),
        "{all}"
    );
    assert!(!res.join("b1").exists(), "refused before anything ran");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = hil_run(&res, &inv, &["--board", "b1", "--filter", "host.info"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

/// This board's run directories on the board, oldest first.
fn remote_runs(workdir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(workdir.join("runs"))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn a_board_keeps_only_the_newest_runs_and_suites() {
    let dir = scratch("keep");
    let sshd = Sshd::start(&dir);
    let mut b = board(&sshd, "b1");
    b.extra = "    keep_runs: 2\n";
    let workdir = PathBuf::from(&b.workdir);
    let inv = inventory(&sshd, &[b]);
    // Suites deployed by earlier builds, the newer one used last.
    for (i, old) in ["suite-00000000000000a1", "suite-00000000000000a2"]
        .iter()
        .enumerate()
    {
        std::fs::create_dir_all(workdir.join(old)).unwrap();
        std::fs::write(workdir.join(old).join("hil-suite"), "old").unwrap();
        let t = std::time::SystemTime::now() - Duration::from_secs(3600 * (2 - i as u64));
        let f = std::fs::File::open(workdir.join(old)).unwrap();
        f.set_modified(t).unwrap();
    }
    let res = dir.join("results");
    let mut kept = Vec::new();
    for _ in 0..3 {
        let out = hil_run(&res, &inv, &["--board", "b1", "--filter", "host.info"]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        let runs = remote_runs(&workdir);
        assert!(runs.len() <= 2, "{runs:?}");
        kept.extend(runs);
    }
    kept.sort();
    kept.dedup();
    let left = remote_runs(&workdir);
    assert_eq!(left, kept[kept.len() - 2..], "the newest two are kept");
    let suites: Vec<String> = std::fs::read_dir(&workdir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("suite-"))
        .collect();
    assert_eq!(
        suites.len(),
        2,
        "the current suite and the last other: {suites:?}"
    );
    assert!(
        suites.contains(&"suite-00000000000000a2".to_string()),
        "{suites:?}"
    );

    // A run refused for its tables leaves no run directory behind.
    let bad = common::write_table(
        &dir,
        "x.yaml",
        "name: x\nbackend: host\ndoc: d\nrows:\n  - id: a\n    op: nope\n",
    );
    let out = hil_run(
        &res,
        &inv,
        &["--board", "b1", "--tables", bad.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert_eq!(remote_runs(&workdir), left);

    // keep_runs: 0 removes a run's directory once its logs are home.
    let text_inv = std::fs::read_to_string(&inv)
        .unwrap()
        .replace("keep_runs: 2", "keep_runs: 0");
    std::fs::write(&inv, text_inv).unwrap();
    let out = hil_run(&res, &inv, &["--board", "b1", "--filter", "host.info"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        remote_runs(&workdir).is_empty(),
        "{:?}",
        remote_runs(&workdir)
    );
    assert!(
        res.join("b1/suite-1.log").is_file(),
        "the logs came home first"
    );
}

#[test]
fn hil_trace_times_each_step_of_each_board() {
    let dir = scratch("trace");
    let sshd = Sshd::start(&dir);
    let inv = inventory(&sshd, &[board(&sshd, "b1")]);
    let run = |trace: &str| {
        Command::new(bin("hil-run"))
            .env("HIL_TRACE", trace)
            .arg("--inventory")
            .arg(&inv)
            .arg("--results")
            .arg(dir.join("results"))
            .args(["--board", "b1", "--filter", "host.info", "-q"])
            .output()
            .unwrap()
    };
    let out = run("1");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    // `hil-trace <ms since start> <board> <step> [<duration> ms]`, in time order.
    let lines: Vec<Vec<&str>> = err
        .lines()
        .filter(|l| l.starts_with("hil-trace "))
        .map(|l| l.split_whitespace().collect())
        .collect();
    let times: Vec<f64> = lines.iter().map(|w| w[1].parse().unwrap()).collect();
    assert!(times.windows(2).all(|t| t[0] <= t[1]), "{err}");
    for step in [
        "connect",
        "exec",
        "prepare",
        "list_cases",
        "start",
        "journal",
        "suite",
        "clean_up",
        "release",
    ] {
        assert!(
            lines.iter().any(|w| w[2] == "b1" && w[3] == step),
            "no `{step}` step traced: {err}"
        );
    }
    let quiet = run("");
    assert!(!text(&quiet).contains("hil-trace"), "{}", text(&quiet));
}

#[test]
fn a_remote_command_killed_by_a_signal_is_an_error_never_status_0() {
    // CI saw a board going away kill the shell that started the suite: it read as status
    // 0 with no pid, and the run ended without marking the cases it had not run.
    let dir = scratch("killedcmd");
    let sshd = Sshd::start(&dir);
    let inv = inventory(&sshd, &[board(&sshd, "b1")]);
    let inv = hil_run::inventory::load(&inv).unwrap();
    let sess = hil_run::transport::ssh::connect(&inv.boards[0], false).unwrap();
    let killed = hil_run::transport::ssh::exec(&sess, "echo started; kill -9 $$");
    let e = killed.expect_err("a killed command is not a success");
    assert!(
        matches!(&e, hil_run::transport::ssh::SshError::Killed { signal, .. } if signal == "KILL"),
        "{e:?}"
    );
    assert!(e.is_drop(), "reconnected and run again, like a drop: {e}");
    assert!(e.to_string().contains("started"), "{e}");
    let exited = hil_run::transport::ssh::exec(&sess, "exit 3").unwrap();
    assert_eq!(exited.0, 3, "the session is still usable");
    // A program that crashes (a suite built for another CPU) is its status, not a board
    // going away: bash would otherwise run the last command in place of itself.
    let crashed = hil_run::transport::ssh::exec(&sess, "echo x; sh -c 'kill -SEGV $$'").unwrap();
    assert_eq!(crashed.0, 139, "{crashed:?}");
    let alone = hil_run::transport::ssh::exec(&sess, "sh -c 'kill -SEGV $$'").unwrap();
    assert_eq!(alone.0, 139, "{alone:?}");
    // Stderr is the command's own, and a command may exit early (`|| exit 1`).
    let own =
        hil_run::transport::ssh::exec(&sess, "echo oops >&2; cd /nonexistent || exit 4").unwrap();
    assert_eq!(own.0, 4, "{own:?}");
    assert!(
        own.2.starts_with("oops\n") && !own.2.contains("hil-remote-status"),
        "{own:?}"
    );
    // The session closing under a command (its sshd process gone): no status came, so
    // it is a dropped connection, never status 0.
    let closed = hil_run::transport::ssh::exec(&sess, "kill -9 $PPID; sleep 5");
    let e = closed.expect_err("a command whose session died has no status");
    assert!(e.is_drop(), "{e:?}");
}

/// How many suites run in the board's workdir right now (pgrep).
fn suites_running(pattern: &str) -> usize {
    let out = Command::new("pgrep")
        .args(["-f", pattern])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).lines().count()
}

/// Samples `suites_running` every 20 ms on a thread until `stop` is set; the most seen.
fn watch_suites(
    pattern: String,
) -> (
    std::sync::Arc<std::sync::atomic::AtomicBool>,
    std::thread::JoinHandle<usize>,
) {
    use std::sync::atomic::{AtomicBool, Ordering};
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let h = std::thread::spawn(move || {
        let mut most = 0;
        while !flag.load(Ordering::SeqCst) {
            most = most.max(suites_running(&pattern));
            std::thread::sleep(Duration::from_millis(20));
        }
        most
    });
    (stop, h)
}

/// A table: `a_ok`, then `b_nap` sleeping `ms`, then `c_ok`.
fn nap_tables(dir: &Path, ms: u64) -> String {
    let yaml = format!("name: n\nbackend: host\ndoc: d\nrows:\n  - id: a_ok\n    op: selftest_ok\n  - id: b_nap\n    op: selftest_sleep\n    params: {{ms: {ms}}}\n    timeout_s: 120\n  - id: c_ok\n    op: selftest_ok\n");
    common::write_table(dir, "n.yaml", &yaml)
        .display()
        .to_string()
}

#[test]
fn break_lock_leaves_a_live_run_and_a_forced_break_stops_that_run_with_its_cases_marked() {
    let dir = scratch("livelock");
    let sshd = Sshd::start(&dir);
    let inv = inventory(&sshd, &[board(&sshd, "b1")]);
    let tables = nap_tables(&dir, 60_000);
    let first = spawn_serial(&dir.join("r1"), &inv, &tables);
    let journal = dir.join("r1/b1/journal.jsonl");
    wait_for_result(&journal, "n.a_ok");
    let quick = ["--board", "b1", "--filter", "host.info", "-q"];
    // --break-lock alone: the owner is a hil-run on this host that is alive.
    let out = hil_run(
        &dir.join("r2"),
        &inv,
        &[&quick[..], &["--break-lock"]].concat(),
    );
    let all = text(&out);
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert!(
        all.contains(&format!(
            "its run (pid {} on this host) is still alive",
            first.id()
        )) && all.contains("--break-live-lock"),
        "{all}"
    );
    assert!(!dir.join("r2/b1/journal.jsonl").exists(), "nothing ran");
    // The second flag takes the board: the first run's suite is ended first, and the first
    // run stops at once with its unfinished cases marked (exit 2, never 0).
    let (stop, most) = watch_suites(suite_pattern(&sshd, "b1"));
    let out = hil_run(
        &dir.join("r3"),
        &inv,
        &[&quick[..], &["--break-lock", "--break-live-lock"]].concat(),
    );
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(all.contains("ended the suite of an earlier run"), "{all}");
    let t = Instant::now();
    let first = first.wait_with_output().unwrap();
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    assert!(t.elapsed() < Duration::from_secs(30), "{:?}", t.elapsed());
    let all = text(&first);
    assert_eq!(first.status.code(), Some(2), "{all}");
    assert!(all.contains("is no longer held by this run"), "{all}");
    let got = outcomes(&journal);
    assert_eq!(got["n.a_ok"], "pass");
    for case in ["n.b_nap", "n.c_ok"] {
        assert_eq!(
            got.get(case).map(String::as_str),
            Some("crash"),
            "{case}: {all}"
        );
    }
    let xml = common::junit(&dir.join("r1/b1/junit.xml"));
    assert!(xml.contains("its lock on the board"), "{xml}");
    assert_eq!(most.join().unwrap(), 1, "never two suites on the board");
}

#[test]
fn a_run_killed_with_sigkill_then_resumed_never_has_two_suites_on_the_board() {
    let dir = scratch("kill9");
    let sshd = Sshd::start(&dir);
    let inv = inventory(&sshd, &[board(&sshd, "b1")]);
    let tables = nap_tables(&dir, 8_000);
    let args = [
        "--board",
        "b1",
        "--tables",
        &tables,
        "--test-threads",
        "1",
        "-q",
    ];
    let res = dir.join("results");
    let mut first = spawn_hil_run(&res, &inv, &args);
    let journal = res.join("b1/journal.jsonl");
    wait_for_result(&journal, "n.a_ok");
    std::thread::sleep(Duration::from_millis(500));
    signal(&first, 9);
    first.wait().unwrap();
    let pattern = suite_pattern(&sshd, "b1");
    assert_eq!(
        suites_running(&pattern),
        1,
        "the killed run's suite runs on"
    );
    let (stop, most) = watch_suites(pattern.clone());
    // Its lock is stale (its process is gone), and its suite is ended before the resume's.
    let out = hil_run(&res, &inv, &[&args[..], &["--resume"]].concat());
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(all.contains("ended the suite of an earlier run"), "{all}");
    assert_eq!(most.join().unwrap(), 1, "two suites ran at once: {all}");
    let got = outcomes(&journal);
    assert_eq!(got.len(), 3, "{got:?}");
    assert!(got.values().all(|o| o == "pass"), "{got:?}");
}

/// A tmpfs of `size` at `path` (root only), unmounted when dropped.
struct Tmpfs(PathBuf);
impl Tmpfs {
    fn mount(path: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(path).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(path)
            .output()
            .unwrap_or_else(|e| panic!("missing: mount(8), to mount a tmpfs: {e}"));
        if !out.status.success() {
            let why = format!(
                "cannot mount a tmpfs here (needs root with CAP_SYS_ADMIN): {}",
                text(&out)
            );
            // libtest cannot ignore at run time: a test that did nothing must not pass.
            common::needs::require(Some(why));
            return None;
        }
        Some(Tmpfs(path.to_path_buf()))
    }
}
impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Lazy: a session of the test's sshd may still have it open.
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn a_full_board_disk_is_said_at_once_and_leaves_no_partial_upload() {
    let dir = scratch("diskfull");
    let sshd = Sshd::start(&dir);
    let mut b = board(&sshd, "b1");
    let Some(fs) = Tmpfs::mount(&dir.join("small"), "5m") else {
        return;
    };
    b.workdir = fs.0.join("hil").display().to_string();
    let inv = inventory(&sshd, &[b]);
    let t = Instant::now();
    let out = hil_run(
        &dir.join("results"),
        &inv,
        &["--board", "b1", "--filter", "host.info"],
    );
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("no space left on the board"), "{all}");
    assert!(
        all.contains(&fs.0.join("hil").display().to_string()),
        "the path: {all}"
    );
    assert!(
        !all.contains("connection lost") && !all.contains("did not come back"),
        "{all}"
    );
    // Not the 120 s reconnect window.
    assert!(t.elapsed() < Duration::from_secs(30), "{:?}", t.elapsed());
    let left = Command::new("find")
        .arg(&fs.0)
        .args(["-name", "*.part-*"])
        .output()
        .unwrap();
    assert!(
        left.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&left.stdout)
    );
}

/// Empties a board's workdir as a reboot would. The suite's shell writes its exit status
/// just after the suite is killed, and a file created while the tree is being removed
/// fails `remove_dir_all` ("Directory not empty"): the wipe waits until no process works
/// in the workdir any more, and tries again if something still wrote there meanwhile.
fn wipe_once_quiet(workdir: &Path) {
    let dir = workdir.canonicalize().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let working_there = || {
        std::fs::read_dir("/proc").unwrap().flatten().any(|e| {
            e.file_name().to_string_lossy().parse::<u32>().is_ok()
                && std::fs::read_link(e.path().join("cwd")).is_ok_and(|c| c.starts_with(&dir))
        })
    };
    while working_there() {
        assert!(
            Instant::now() < deadline,
            "processes still work in {}",
            dir.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    loop {
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => return,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
            Err(e) => assert!(Instant::now() < deadline, "wiping {}: {e}", dir.display()),
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_board_rebooted_with_its_workdir_wiped_says_so_and_marks_the_rest() {
    let dir = scratch("wiped");
    let sshd = Sshd::start(&dir);
    let b = board(&sshd, "b1");
    let workdir = PathBuf::from(&b.workdir);
    let inv = inventory(&sshd, &[b]);
    let tables = nap_tables(&dir, 60_000);
    let res = dir.join("results");
    let child = spawn_serial(&res, &inv, &tables);
    let journal = res.join("b1/journal.jsonl");
    wait_for_result(&journal, "n.a_ok");
    // The "reboot": the suite dies and the workdir (a tmpfs on many boards) is empty.
    signal_suite_after(&journal, "n.a_ok", &suite_pattern(&sshd, "b1"), "-9");
    wipe_once_quiet(&workdir);
    let out = child.wait_with_output().unwrap();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    let got = outcomes(&journal);
    assert_eq!(got.len(), 3, "every case has a result: {got:?}\n{all}");
    assert_eq!(got["n.b_nap"], "crash");
    assert_eq!(got["n.c_ok"], "crash");
    let xml = common::junit(&res.join("b1/junit.xml"));
    let runs = workdir.join("runs").display().to_string();
    assert!(
        xml.contains("the run directory") && xml.contains(&runs) && xml.contains("is gone"),
        "{xml}"
    );
    assert!(!all.contains("[SFTP(2)]"), "{all}");
}

#[test]
fn two_names_for_one_board_in_one_run_never_run_two_suites() {
    let dir = scratch("twonames");
    let sshd = Sshd::start(&dir);
    // b1 and b2: one host, one port, one workdir; both boards' threads start in the same
    // second, so only a lock owner unique to each board tells them apart.
    let b2 = BoardOpts {
        name: "b2",
        ..board(&sshd, "b1")
    };
    let inv = inventory(&sshd, &[board(&sshd, "b1"), b2]);
    let tables = nap_tables(&dir, 3_000);
    let (stop, most) = watch_suites(suite_pattern(&sshd, "b1"));
    let out = hil_run(
        &dir.join("results"),
        &inv,
        &[
            "--board",
            "b1",
            "--board",
            "b2",
            "--tables",
            &tables,
            "--test-threads",
            "1",
            "-q",
        ],
    );
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let all = text(&out);
    // One name ran, the other was refused: some boards not tested (docs/outcomes.md).
    assert_eq!(out.status.code(), Some(3), "{all}");
    assert!(
        all.contains("held by this run for board b1: two names for one board?")
            || all.contains("held by this run for board b2: two names for one board?"),
        "{all}"
    );
    assert_eq!(most.join().unwrap(), 1, "two suites ran at once: {all}");
    let lock = dir.join("remote-b1/lock");
    assert!(!lock.exists(), "the run that held it released it");
}

#[test]
fn a_boards_suite_settings_reach_its_suite_as_options_never_the_shell() {
    let dir = scratch("suite-settings");
    let sshd = Sshd::start(&dir);
    let canary = dir.join("pwned");
    let extra = format!(
        "    suite_settings:\n      health_defer_s: 3\n      health_probe_cmd: \"$(touch {}); exit 0\"\n",
        canary.display()
    );
    let mut b = board(&sshd, "b1");
    b.extra = &extra;
    let inv = inventory(&sshd, &[b]);
    let results = dir.join("results");
    let out = hil_run(&results, &inv, &["--board", "b1", "--filter", "host.info"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(!canary.exists(), "a suite setting reached a shell");
    // The suite ran under them and said so in its facts.
    let journal = std::fs::read_to_string(results.join("b1/journal.jsonl")).unwrap();
    let facts = journal
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["record"] == "facts")
        .expect("a facts record");
    let p = &facts["properties"];
    assert_eq!(p["setting.HIL_HEALTH_DEFER_S"], "3", "{facts}");
    assert_eq!(
        p["setting.HIL_HEALTH_PROBE_CMD"],
        format!("$(touch {}); exit 0", canary.display())
    );
}
