//! Device health after a UB scenario: a probe in a fresh process proves each device
//! still runs work. Probes are shared: a case whose child has ended waits for a probe of
//! its devices that *started after* that end, and one probe serves every case waiting
//! for it. Run serially, that is one probe per case, as before.
//!
//! In a parallel run the probe of a case whose child has ended also waits, up to
//! `HIL_HEALTH_DEFER_S` (default 10 s), while other UB children on its devices still run,
//! so that one probe started after they have all ended serves them all. Process start-up
//! with CUDA and Vulkan is serialized by the driver across the whole machine (measured on
//! 4×H100, 2026-11-27: 8 probes at once took 6.8 s on one GPU, one alone 0.85 s), so
//! fewer processes is what makes a parallel run shorter: the full suite at default threads
//! went from 37 s (13 probes for 32 UB cases) to 29 s (2 probes; docs/benchmarks.md).
//! Waiting changes which probe serves a case; a probe that then finds a device unusable
//! cannot tell which of the cases it serves broke it, so each names the UB children run
//! beside it (`children_beside`, the observation `health_shared_with`).

use crate::ub::{run_with_limit, signal_name, tail};
use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt;
use std::process::Command;
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

const HEALTH_TIMEOUT: Duration = Duration::from_secs(hil_proto::HEALTH_PROBE_LIMIT_S);

/// Replaces the built-in health probe with a site command (exit 0 = healthy), e.g. a
/// vendor diagnostic; `{devices}` in it becomes the device number (it runs once per device).
pub const HEALTH_CMD_ENV: &str = "HIL_HEALTH_PROBE_CMD";

/// What `hil-suite --health-probe` prints for a device that failed.
const DEVICE_MARK: &str = "device ";

/// Seconds a case's probe may wait for other UB children on its devices to end (see above).
pub const DEFER_ENV: &str = "HIL_HEALTH_DEFER_S";

const DEFER_DEFAULT: Duration = Duration::from_secs(10);

/// The most `DEFER_ENV` may ask: the runner's backstop for a UB case allows this much
/// beyond the case's limit and two probes (`hil_proto::UB_HEALTH_ALLOWANCE_S`).
const DEFER_MAX_S: f64 = hil_proto::HEALTH_DEFER_MAX_S as f64;

#[derive(Default)]
struct Dev {
    running: bool,
    /// The latest finished check of this device: when its process started, what it found.
    last: Option<(Instant, String)>,
    /// When every finished check of this device started, and when the latest one ended.
    check_starts: Vec<Instant>,
    last_end: Option<Instant>,
    /// UB children running on this device now.
    children: u32,
    /// Every UB child run on this device: its case, when it started, when it ended.
    history: Vec<(String, Instant, Option<Instant>)>,
}

struct Waiter {
    devices: Vec<u32>,
    /// The case's kernel log window: a shared probe's lines belong to every case it serves.
    window: Option<u64>,
}

#[derive(Default)]
struct Board {
    devs: BTreeMap<u32, Dev>,
    waiting: BTreeMap<u64, Waiter>,
    next_ticket: u64,
    waited: u64,
    probes: u64,
    /// How long a probe may wait for running UB children (parallel runs only).
    defer: Duration,
}

/// Sets how long probes wait for running UB children (`DEFER_ENV`): in parallel runs
/// only, as serially no other child runs. Err: `DEFER_ENV` is not a number of seconds.
pub fn configure(parallel: bool) -> Result<(), String> {
    let defer = match std::env::var(DEFER_ENV) {
        // Empty is unset, as for `HEALTH_CMD_ENV` (`VAR=${X:-}` in scripts).
        Err(_) => DEFER_DEFAULT,
        Ok(v) if v.trim().is_empty() => DEFER_DEFAULT,
        Ok(v) => v
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|s| (0.0..=DEFER_MAX_S).contains(s))
            .map(Duration::from_secs_f64)
            .ok_or_else(|| {
                format!("{DEFER_ENV}={v:?}: expected seconds from 0 (never wait) to {DEFER_MAX_S}")
            })?,
    };
    board().0.lock().unwrap_or_else(|p| p.into_inner()).defer =
        if parallel { defer } else { Duration::ZERO };
    Ok(())
}

/// A UB child running on its devices, from just before its spawn until it has ended.
pub struct ChildRunning {
    /// Each device and this child's place in its `history`.
    slots: Vec<(u32, usize)>,
}

pub fn child_running(case: &str, devices: &[u32]) -> ChildRunning {
    let started = Instant::now();
    let mut b = board().0.lock().unwrap_or_else(|p| p.into_inner());
    let slots = devices
        .iter()
        .map(|d| {
            let dev = b.devs.entry(*d).or_default();
            dev.children += 1;
            dev.history.push((case.to_string(), started, None));
            (*d, dev.history.len() - 1)
        })
        .collect();
    ChildRunning { slots }
}

impl Drop for ChildRunning {
    fn drop(&mut self) {
        let (lock, changed) = board();
        let mut b = lock.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        for (d, slot) in &self.slots {
            if let Some(dev) = b.devs.get_mut(d) {
                dev.children = dev.children.saturating_sub(1);
                if let Some(h) = dev.history.get_mut(*slot) {
                    h.2 = Some(now);
                }
            }
        }
        changed.notify_all();
    }
}

/// The other UB cases whose children may have left one of `devices` as its latest check
/// found it, for a case whose child started at `started`: each that ran on it at some
/// time after the last check of it that started before `started` (when it was last known
/// as it was; the run's start if none) and before that latest check ended. Serially,
/// none: the previous case's check started after its child had ended.
pub fn children_beside(case: &str, devices: &[u32], started: Instant) -> Vec<String> {
    let b = board().0.lock().unwrap_or_else(|p| p.into_inner());
    let mut others: Vec<String> = Vec::new();
    for dev in devices.iter().filter_map(|d| b.devs.get(d)) {
        let from = dev.check_starts.iter().filter(|s| **s <= started).max();
        let until = dev.last_end;
        others.extend(
            dev.history
                .iter()
                .filter(|(c, s, e)| {
                    c != case
                        && until.is_none_or(|u| *s < u)
                        && from.is_none_or(|f| e.is_none_or(|e| e > *f))
                })
                .map(|(c, _, _)| c.clone()),
        );
    }
    others.sort();
    others.dedup();
    others
}

fn board() -> &'static (Mutex<Board>, Condvar) {
    static B: OnceLock<(Mutex<Board>, Condvar)> = OnceLock::new();
    B.get_or_init(Default::default)
}

/// The health of each of `devices` after a case whose child ended at `ended`: "ok", or
/// what went wrong (see `summary`).
pub fn after_case(devices: &[u32], ended: Instant) -> BTreeMap<u32, String> {
    let (lock, changed) = board();
    let mut b = lock.lock().unwrap_or_else(|p| p.into_inner());
    let ticket = b.next_ticket;
    b.next_ticket += 1;
    b.waited += 1;
    b.waiting.insert(
        ticket,
        Waiter {
            devices: devices.to_vec(),
            window: crate::kernel_log::current_window(),
        },
    );
    loop {
        let fresh = |d: &Dev| d.last.as_ref().is_some_and(|(s, _)| *s >= ended);
        let need: Vec<u32> = devices
            .iter()
            .copied()
            .filter(|d| !b.devs.get(d).is_some_and(fresh))
            .collect();
        if need.is_empty() {
            b.waiting.remove(&ticket);
            return devices
                .iter()
                .map(|d| {
                    let r = b.devs[d]
                        .last
                        .as_ref()
                        .map_or_else(String::new, |(_, r)| r.clone());
                    (*d, r)
                })
                .collect();
        }
        // A probe running now (it may have started before this case ended: then wait for
        // the next) will tell.
        let idle: Vec<u32> = need
            .into_iter()
            .filter(|d| !b.devs.get(d).is_some_and(|d| d.running))
            .collect();
        if idle.is_empty() {
            b = changed
                .wait_timeout(b, Duration::from_millis(250))
                .unwrap_or_else(|p| p.into_inner())
                .0;
            continue;
        }
        let waited = ended.elapsed();
        // Other UB children still running here: a probe after them serves them too. Each
        // such child ends by its own limit, and the wait by `defer`.
        if waited < b.defer
            && idle
                .iter()
                .any(|d| b.devs.get(d).is_some_and(|d| d.children > 0))
        {
            let rest = b.defer - waited;
            b = changed
                .wait_timeout(b, rest)
                .unwrap_or_else(|p| p.into_inner())
                .0;
            continue;
        }
        let start = Instant::now();
        for d in &idle {
            b.devs.entry(*d).or_default().running = true;
        }
        // Every case waiting now on these devices ended before this start: it shares it.
        let windows: Vec<u64> = b
            .waiting
            .values()
            .filter(|w| w.devices.iter().any(|d| idle.contains(d)))
            .filter_map(|w| w.window)
            .collect();
        b.probes += 1;
        drop(b);
        // Whatever happens, the devices must not stay marked as being probed: every later
        // UB case on them would wait forever.
        let found =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| probe(&idle, &windows)))
                .unwrap_or_else(|_| {
                    idle.iter()
                        .map(|d| (*d, "health probe could not run (hil-suite panicked)".into()))
                        .collect()
                });
        b = lock.lock().unwrap_or_else(|p| p.into_inner());
        for (d, r) in found {
            let dev = b.devs.entry(d).or_default();
            dev.running = false;
            dev.last = Some((start, r));
            dev.check_starts.push(start);
            dev.last_end = Some(Instant::now());
        }
        changed.notify_all();
    }
}

/// How many cases waited for health and what served them (the suite's log).
pub fn tally() -> Option<String> {
    let b = board().0.lock().unwrap_or_else(|p| p.into_inner());
    (b.waited > 0).then(|| format!("{} health probe(s) for {} UB case(s)", b.probes, b.waited))
}

/// "ok" when every device is, else the distinct problems.
pub fn summary<'a>(results: impl Iterator<Item = &'a String>) -> String {
    let mut bad: Vec<String> = Vec::new();
    for r in results {
        if r != "ok" && !bad.contains(r) {
            bad.push(r.clone());
        }
    }
    if bad.is_empty() {
        "ok".into()
    } else {
        bad.join("; ")
    }
}

/// One probe process for `devices` (its pid noted in `windows`); what it found per device.
fn probe(devices: &[u32], windows: &[u64]) -> BTreeMap<u32, String> {
    let list = devices
        .iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join(",");
    let site = std::env::var(HEALTH_CMD_ENV)
        .ok()
        .filter(|s| !s.trim().is_empty());
    if site.is_some() && devices.len() > 1 {
        // A site command says healthy or not, for all its devices at once: run it per
        // device, so which devices it finds unusable never depends on which were probed
        // together (timing, in a parallel run). One after another: a vendor diagnostic
        // may not expect to run beside itself.
        return devices.iter().flat_map(|d| probe(&[*d], windows)).collect();
    }
    let cmd = match &site {
        Some(site) => {
            let mut c = Command::new("/bin/sh");
            c.arg("-c").arg(site.replace("{devices}", &list));
            c
        }
        None => {
            let mut c = crate::ub::child_command(devices);
            c.arg("--health-probe").arg(&list);
            c
        }
    };
    let all = |r: String| devices.iter().map(|d| (*d, r.clone())).collect();
    let end = match run_with_limit(cmd, HEALTH_TIMEOUT, None, windows) {
        Err(e) => return all(format!("health probe did not start: {e}")),
        Ok(end) => end,
    };
    if end.killed_after.is_some() {
        return all(format!(
            "health probe hung for {}s",
            HEALTH_TIMEOUT.as_secs()
        ));
    }
    if end.status.is_some_and(|s| s.success()) {
        return all("ok".into());
    }
    if let Some(sig) = end.status.and_then(|s| s.signal()) {
        return all(format!("health probe died by {}", signal_name(sig)));
    }
    // The built-in probe names each device that failed; the others passed.
    let named = per_device(&end.stderr, devices);
    if !named.is_empty() && site.is_none() {
        return devices
            .iter()
            .map(|d| {
                let r = named
                    .get(d)
                    .map_or_else(|| "ok".into(), |e| format!("health probe failed: {e}"));
                (*d, r)
            })
            .collect();
    }
    // One line: the result travels in observations and in `@unusable-device` lines.
    let why = tail(&format!("{}{}", end.stdout, end.stderr), 3).replace('\n', " / ");
    let why = why.trim();
    if why.is_empty() {
        let code = end.status.and_then(|s| s.code()).unwrap_or(-1);
        return all(format!("health probe failed (exit {code}, no output)"));
    }
    all(format!("health probe failed: {why}"))
}

/// `device N: …` lines of the built-in probe, for devices in `devices`.
fn per_device(stderr: &str, devices: &[u32]) -> BTreeMap<u32, String> {
    stderr
        .lines()
        .filter_map(|l| {
            let rest = l.strip_prefix(DEVICE_MARK)?;
            let (n, _) = rest.split_once(':')?;
            let d: u32 = n.trim().parse().ok()?;
            devices.contains(&d).then(|| (d, l.to_string()))
        })
        .collect()
}

/// `hil-suite --health-probe 0,1`: on each device a fresh context, a stream, a memset read
/// back, and, where Vulkan works, two CUDA<->Vulkan signal/wait round trips.
pub fn health_main(devices: &str) -> ! {
    let mut bad = false;
    for d in devices.split(',').filter(|s| !s.is_empty()) {
        let r = d
            .parse::<u32>()
            .map_err(|e| crate::error::OpError::Row(format!("device `{d}`: {e}")))
            .and_then(check_device);
        if let Err(e) = r {
            eprintln!("{DEVICE_MARK}{d}: {e}");
            bad = true;
        }
    }
    std::process::exit(if bad { 1 } else { 0 })
}

/// What a probe checks on one device.
fn check_device(d: u32) -> Result<(), crate::error::OpError> {
    let ctx = crate::cuda::Context::primary(d)?;
    let s = crate::cuda::Stream::new(&ctx)?;
    crate::cuda::memset_roundtrip(&ctx, 0x5A5A_5A5A)?;
    s.synchronize()?;
    if crate::vulkan::instance().is_ok() {
        crate::ops::vulkan::roundtrip_on(
            crate::table::CudaApi::Driver,
            d,
            d,
            crate::vulkan::SemKind::Timeline,
            crate::cuda::ffi::HANDLE_TYPE_TIMELINE_SEMAPHORE_FD,
            2,
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tests that set `HEALTH_CMD_ENV` run one at a time (the environment is process-wide).
    static PROBE_CMD: Mutex<()> = Mutex::new(());

    #[test]
    fn a_probe_serves_the_cases_that_ended_before_it_started_and_no_other() {
        let _one = PROBE_CMD.lock().unwrap_or_else(|p| p.into_inner());
        // Devices far from real ones: the board of probes is process-wide.
        let log = std::env::temp_dir().join(format!("hil-health-{}", std::process::id()));
        let _ = std::fs::remove_file(&log);
        std::env::set_var(
            HEALTH_CMD_ENV,
            format!("echo {{devices}} >> {}; sleep 0.6", log.display()),
        );
        let t0 = Instant::now();
        let call = |ended: Instant, delay_ms: u64| {
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(delay_ms));
                after_case(&[900], ended)
            })
        };
        // A starts a probe at once; C ended before it started, so it shares it; B ended
        // after it started, so it needs the next one.
        let a = call(t0, 0);
        // A's probe has started once it wrote its line (not after a fixed sleep: a loaded
        // machine may start A's thread late).
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::fs::read_to_string(&log).unwrap_or_default().is_empty() {
            assert!(Instant::now() < deadline, "A's probe never started");
            std::thread::sleep(Duration::from_millis(5));
        }
        let c = call(t0, 0);
        let b = call(Instant::now(), 0);
        for h in [a, b, c] {
            assert_eq!(summary(h.join().unwrap().values()), "ok");
        }
        let probes = std::fs::read_to_string(&log).unwrap();
        assert_eq!(
            probes.lines().collect::<Vec<_>>(),
            ["900", "900"],
            "{probes}"
        );
        // Serially, each case has a probe of its own.
        let _ = std::fs::remove_file(&log);
        for _ in 0..2 {
            assert_eq!(
                summary(after_case(&[900, 901], Instant::now()).values()),
                "ok"
            );
        }
        // A site command runs once per device.
        let probes = std::fs::read_to_string(&log).unwrap();
        assert_eq!(
            probes.lines().collect::<Vec<_>>(),
            ["900", "901", "900", "901"]
        );
        std::env::remove_var(HEALTH_CMD_ENV);
        let _ = std::fs::remove_file(&log);
    }

    #[test]
    fn a_probe_waits_for_the_ub_children_still_running_on_its_devices_within_the_limit() {
        let _one = PROBE_CMD.lock().unwrap_or_else(|p| p.into_inner());
        let log = std::env::temp_dir().join(format!("hil-health-defer-{}", std::process::id()));
        let _ = std::fs::remove_file(&log);
        std::env::set_var(
            HEALTH_CMD_ENV,
            format!("echo {{devices}} >> {}", log.display()),
        );
        board().0.lock().unwrap().defer = Duration::from_secs(60);
        let (first, second) = (child_running("a", &[960]), child_running("b", &[960]));
        drop(first);
        let a_ended = Instant::now();
        let a = std::thread::spawn(move || after_case(&[960], a_ended));
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(
            std::fs::read_to_string(&log).unwrap_or_default(),
            "",
            "probed while a UB child still ran on the device"
        );
        // B's child ends before A's probe can start, so that probe serves both.
        let b_ended = Instant::now();
        drop(second);
        let b = std::thread::spawn(move || after_case(&[960], b_ended));
        for h in [a, b] {
            assert_eq!(summary(h.join().unwrap().values()), "ok");
        }
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "960\n");
        assert!(a_ended.elapsed() < Duration::from_secs(30));
        // A child that keeps running holds a probe back no longer than the limit.
        board().0.lock().unwrap().defer = Duration::from_millis(300);
        let _stuck = child_running("stuck", &[961]);
        let me = Instant::now();
        assert_eq!(summary(after_case(&[961], Instant::now()).values()), "ok");
        // The child that kept running is named as one that ran beside a case of 961; one
        // on another device is not; the case itself is not.
        let _other = child_running("elsewhere", &[962]);
        assert_eq!(children_beside("me", &[961], me), ["stuck"]);
        // On 960 no check had started before a's child: b, which ran beside it before the
        // shared check ended, is named.
        assert_eq!(children_beside("a", &[960], a_ended), ["b"]);
        // A case started after that check: b ended before the check started, so it was
        // already known as it was; no other child is named.
        assert_eq!(
            children_beside("later", &[960], Instant::now()),
            Vec::<String>::new(),
            "b ended before the check that a later case's child started after"
        );
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "960\n961\n");
        board().0.lock().unwrap().defer = Duration::ZERO;
        std::env::remove_var(HEALTH_CMD_ENV);
        let _ = std::fs::remove_file(&log);
    }

    #[test]
    fn a_failing_device_is_named_and_the_others_are_ok() {
        let err = "noise\ndevice 1: cuCtxCreate returned 999\n";
        let got = per_device(err, &[0, 1]);
        assert_eq!(got.len(), 1);
        assert!(got[&1].contains("999"));
        let (ok, bad) = ("ok".to_string(), "bad".to_string());
        assert_eq!(summary([&ok, &ok].into_iter()), "ok");
        assert_eq!(summary([&ok, &bad, &bad].into_iter()), "bad");
    }
}
