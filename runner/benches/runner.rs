//! `cargo build --release && cargo bench -p hil-run --bench runner` (the bench runs the
//! release hil-suite, another package, so build it first): the runner's costs as ratios measured side by
//! side in one run (targets from the SSH runner issue):
//! 1. hil-run --board local vs hil-suite directly, same cases     (target <= 1.05x)
//! 2. repeat deploy of an unchanged suite over SSH                 (target: no upload)
//! 3. 16 loopback SSH boards in parallel vs one board              (target <= 1.3x)
//!
//! Needs OpenSSH (`apt-get install -y openssh-server`); starts its own sshd on 127.0.0.1.
//! `HIL_SSHD`, `HIL_SSH_KEYGEN` and `HIL_BIN_DIR` (see tests/common) let the built binary run
//! elsewhere: scripts/bench16-kit and scripts/bench16-remote run it on a many-core machine
//! without cargo or sshd, where the 16 "boards" do not share the runner's cores.

#[path = "../tests/common/mod.rs"]
mod common;

use common::{bin, scratch, user, Sshd};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const REPEATS: usize = 3;

/// (busy, total) CPU jiffies of the whole machine, from /proc/stat.
fn cpu_jiffies() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let v: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let total: u64 = v.iter().sum();
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    (total - idle, total)
}

/// CPU seconds used so far by finished children (hil-run and what it started; not sshd).
fn children_cpu() -> f64 {
    let mut r: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut r) };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    t(r.ru_utime) + t(r.ru_stime)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn timed(mut cmd: Command) -> (Duration, String) {
    let t = Instant::now();
    let out = cmd.output().expect("command runs");
    let d = t.elapsed();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "benchmark command failed: {text}");
    (d, text)
}

/// `n` cases of `ms` milliseconds each: realistic lengths (GPU cases here take 0.1-1 s).
fn sleep_table(dir: &Path, n: usize, ms: u64) -> PathBuf {
    let t = dir.join("tables");
    std::fs::create_dir_all(&t).unwrap();
    let mut y = String::from("name: bench\nbackend: host\ndoc: benchmark cases\nrows:\n");
    for i in 0..n {
        y.push_str(&format!(
            "  - id: c{i:04}\n    op: selftest_sleep\n    params: {{ms: {ms}}}\n"
        ));
    }
    std::fs::write(t.join("bench.yaml"), y).unwrap();
    t
}

fn inventory(sshd: &Sshd, n: usize) -> PathBuf {
    let mut y = String::from("boards:\n");
    for i in 0..n {
        y.push_str(&format!(
            "  - name: bench{i:02}\n    host: 127.0.0.1\n    port: {}\n    user: {}\n    key: {}\n    known_hosts: {}\n    suite: {}\n    workdir: {}\n    tags: [{}]\n",
            sshd.port,
            user(),
            sshd.dir.join("client_key").display(),
            sshd.dir.join("known_hosts").display(),
            bin("hil-suite").display(),
            sshd.dir.join(format!("remote{i:02}")).display(),
            if i == 0 { "one, farm" } else { "farm" }
        ));
    }
    let p = sshd.dir.join("boards.yaml");
    std::fs::write(&p, y).unwrap();
    p
}

fn main() {
    common::require_openssh();
    let dir = scratch("bench");
    let mut rows = Vec::new();

    // 1. Runner overhead, local board, serial like the direct run.
    let tables = sleep_table(&dir, 100, 20);
    let (mut direct, mut runner) = (Vec::new(), Vec::new());
    for i in 0..REPEATS {
        let mut c = Command::new(bin("hil-suite"));
        c.arg("--tables")
            .arg(&tables)
            .args(["--test-threads", "1", "--events"])
            .arg(dir.join(format!("ev{i}.jsonl")));
        direct.push(timed(c).0);
        let mut c = Command::new(bin("hil-run"));
        c.arg("--suite")
            .arg(bin("hil-suite"))
            .arg("--tables")
            .arg(&tables)
            .arg("--results")
            .arg(dir.join("res-local"))
            .args(["--test-threads", "1", "-q"]);
        runner.push(timed(c).0);
    }
    let (d, r) = (median(direct), median(runner));
    rows.push(format!(
        "| runner overhead, local, 100 cases x 20 ms | hil-suite {:.3} s | hil-run {:.3} s | {:.3}x | <= 1.05x |",
        d.as_secs_f64(),
        r.as_secs_f64(),
        r.as_secs_f64() / d.as_secs_f64()
    ));

    // 2. Repeat deploy over SSH. Every run is serial on its board (`--test-threads 1`): the
    // default, one case per CPU of the board, would make the rows depend on the machine's
    // core count (the boards here are this machine) instead of on the runner.
    let sshd = Sshd::start(&dir.join("sshd"));
    let small = sleep_table(&dir.join("small"), 10, 50);
    let inv = inventory(&sshd, 16);
    // `-q` everywhere but the deploy rows, which read the deploy line that `-q` silences.
    let run_env = |args: &[&str], res: &str, env: &[(&str, &str)], quiet: bool| {
        let mut c = Command::new(bin("hil-run"));
        c.envs(env.iter().copied());
        c.arg("--inventory")
            .arg(&inv)
            .arg("--tables")
            .arg(&small)
            .arg("--results")
            .arg(dir.join(res))
            .args(["--test-threads", "1"])
            .args(args);
        if quiet {
            c.arg("-q");
        }
        timed(c)
    };
    let run = |args: &[&str], res: &str| run_env(args, res, &[], true);
    let (first, t1) = run_env(&["--board", "bench00"], "res-deploy1", &[], false);
    let (second, t2) = run_env(&["--board", "bench00"], "res-deploy2", &[], false);
    let uploaded_again = t2.contains("uploaded suite");
    assert!(
        t1.contains("uploaded suite"),
        "first run should upload: {t1}"
    );
    rows.push(format!(
        "| repeat deploy of an unchanged suite | first run {:.3} s (uploaded) | second run {:.3} s ({}) | {:.3}x | no upload |",
        first.as_secs_f64(),
        second.as_secs_f64(),
        if uploaded_again { "UPLOADED AGAIN" } else { "no upload" },
        second.as_secs_f64() / first.as_secs_f64()
    ));

    // 3. 16 boards in parallel vs one (suite already deployed on bench00; deploy the rest first).
    run(&["--tag", "farm"], "res-warm");
    let (mut one, mut farm) = (Vec::new(), Vec::new());
    let (mut busy_one, mut busy_farm) = ((0, 0), (0, 0));
    let (mut runner_one, mut runner_farm) = (0.0, 0.0);
    for _ in 0..REPEATS {
        let c0 = cpu_jiffies();
        let r0 = children_cpu();
        one.push(run(&["--tag", "one"], "res-one").0);
        let c1 = cpu_jiffies();
        let r1 = children_cpu();
        let (t, out) = run(&["--tag", "farm"], "res-farm");
        if std::env::var_os("HIL_BENCH_VERBOSE").is_some() {
            eprintln!("{out}");
        }
        farm.push(t);
        let c2 = cpu_jiffies();
        runner_one += r1 - r0;
        runner_farm += children_cpu() - r1;
        busy_one = (busy_one.0 + c1.0 - c0.0, busy_one.1 + c1.1 - c0.1);
        busy_farm = (busy_farm.0 + c2.0 - c1.0, busy_farm.1 + c2.1 - c1.1);
    }
    let pct = |(b, t): (u64, u64)| 100.0 * b as f64 / t.max(1) as f64;
    let (o, f) = (median(one), median(farm));
    rows.push(format!(
        "| 16 loopback SSH boards in parallel vs 1, 10 cases x 50 ms each, serial per board | 1 board {:.3} s (machine CPU {:.0}% busy) | 16 boards {:.3} s (machine CPU {:.0}% busy) | {:.3}x | <= 1.3x |",
        o.as_secs_f64(),
        pct(busy_one),
        f.as_secs_f64(),
        pct(busy_farm),
        f.as_secs_f64() / o.as_secs_f64()
    ));
    rows.push(format!(
        "| runner's own CPU (hil-run + local children) per run | 1 board {:.3} CPU-s | 16 boards {:.3} CPU-s | {:.3}x per board | (context) |",
        runner_one / REPEATS as f64,
        runner_farm / REPEATS as f64,
        (runner_farm / 16.0) / runner_one.max(1e-9)
    ));

    // Where each board's time goes, 1 board against 16 (one more run each, traced, not
    // timed above): a phase that grows with the number of boards is what they wait on.
    let trace = [("HIL_TRACE", "1")];
    let (_, one_trace) = run_env(&["--tag", "one"], "res-trace-one", &trace, true);
    let (_, farm_trace) = run_env(&["--tag", "farm"], "res-trace-farm", &trace, true);

    println!("| measure | baseline | measured | ratio | target |");
    println!("| --- | --- | --- | --- | --- |");
    for r in rows {
        println!("{r}");
    }
    println!();
    println!("{}", phase_table(&one_trace, &farm_trace));
    println!(
        "(median of {REPEATS}; {} cores)",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
}

/// Per board, the milliseconds of each traced phase (`hil-trace T BOARD WHAT D ms`, remote
/// commands summed as one phase) and when its suite ended and its run was done.
fn phases(trace: &str) -> BTreeMap<String, BTreeMap<String, f64>> {
    let mut boards: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
    for line in trace.lines() {
        let w: Vec<&str> = line.split_whitespace().collect();
        let ["hil-trace", t, board, what @ ..] = w.as_slice() else {
            continue;
        };
        let (Ok(t), Some(first)) = (t.parse::<f64>(), what.first()) else {
            continue;
        };
        let b = boards.entry(board.to_string()).or_default();
        match what {
            [.., d, "ms"] => {
                let name = if *first == "exec" {
                    "remote commands".to_string()
                } else {
                    what[..what.len() - 2].join(" ")
                };
                *b.entry(name).or_default() += d.parse::<f64>().unwrap_or(0.0);
                if *first == "release" {
                    b.insert("(done at)".into(), t);
                }
            }
            [_, "event(s)"] => {
                b.entry("(first event at)".into()).or_insert(t);
            }
            ["suite", "exited"] => {
                b.insert("(suite ended at)".into(), t);
            }
            _ => {}
        }
    }
    boards
}

/// Markdown: each phase for 1 board, and its median and maximum over the 16 boards.
fn phase_table(one: &str, farm: &str) -> String {
    let (one, farm) = (phases(one), phases(farm));
    let mut names: Vec<String> = farm.values().flat_map(|b| b.keys().cloned()).collect();
    names.sort();
    names.dedup();
    let mut t = String::from(
        "| phase (HIL_TRACE=1, ms per board) | 1 board | 16 boards, median | 16 boards, max |\n| --- | --- | --- | --- |\n",
    );
    for n in names {
        let mut v: Vec<f64> = farm
            .values()
            .map(|b| b.get(&n).copied().unwrap_or(0.0))
            .collect();
        v.sort_by(f64::total_cmp);
        let o = one
            .values()
            .next()
            .and_then(|b| b.get(&n))
            .copied()
            .unwrap_or(0.0);
        t.push_str(&format!(
            "| {n} | {o:.1} | {:.1} | {:.1} |\n",
            v[v.len() / 2],
            v[v.len() - 1]
        ));
    }
    t
}
