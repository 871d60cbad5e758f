//! Device health after a UB scenario: a probe in a fresh process proves each device
//! still runs work. Probes are shared: a case whose child has ended waits for a probe of
//! its devices that *started after* that end, and one probe serves every case waiting
//! for it. Run serially, that is one probe per case, as before; run in parallel, cases
//! that end together share one.
//!
//! With `HIL_HEALTH_HOSTED=1`, in a parallel run the next UB child on a device serves as
//! the probe, being a fresh process too: before its scenario it runs the same checks as
//! a probe and reports them (`HOSTED_MARK`), and that serves every case whose child ended
//! before it started. A case waits a moment (`GRACE`) for such a child when UB cases on
//! its devices are still to start, and starts a probe of its own otherwise. Opt-in until
//! it is measured on GPUs: it changes what a UB child has done before its scenario. Process start-up with CUDA and Vulkan is
//! serialized by the driver across the whole machine (measured on 4×H100, 2026-11-27: 8
//! probes at once took 6.8 s on one GPU and 5.5 s spread over two, one alone 0.85 s), so
//! fewer processes is what makes a parallel run shorter.

use crate::ub::{run_with_limit, signal_name, tail};
use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt;
use std::process::Command;
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

const HEALTH_TIMEOUT: Duration = Duration::from_secs(hil_proto::HEALTH_PROBE_LIMIT_S);

/// Replaces the built-in health probe with a site command (exit 0 = healthy), e.g. a
/// vendor diagnostic; `{devices}` in it becomes the comma-separated device list.
pub const HEALTH_CMD_ENV: &str = "HIL_HEALTH_PROBE_CMD";

/// What `hil-suite --health-probe` prints for a device that failed.
const DEVICE_MARK: &str = "device ";

/// A UB child's report of the checks it ran before its scenario: `HIL-HEALTH <dev> <result>`.
pub const HOSTED_MARK: &str = "HIL-HEALTH ";

/// The line a UB child prints once its checks are done and its scenario starts.
pub const HOSTED_DONE: &str = "HIL-HEALTH-DONE";

/// Tells a UB child to run the checks first (the value: its devices).
pub const HOSTED_ENV: &str = "HIL_HEALTH_FIRST";

/// `1` lets UB children serve as health probes (see above).
pub const HOSTING_ENV: &str = "HIL_HEALTH_HOSTED";

/// How long a case whose child ended waits for the next UB child on its devices to start
/// before it starts a probe of its own.
const GRACE: Duration = Duration::from_millis(1000);

/// How long a UB child's checks may take before cases stop waiting for them (a probe
/// alone takes about 1 s); the child's own limit is extended by as much.
pub const HOSTED_LIMIT: Duration = Duration::from_secs(10);

#[derive(Default)]
struct Dev {
    running: bool,
    /// The latest finished check of this device: when its process started, what it found.
    last: Option<(Instant, String)>,
    /// UB children on this device that will report checks: ticket, when started.
    hosted: Vec<(u64, Instant)>,
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
    hosted_served: u64,
    /// Whether UB children run the checks (parallel runs with the built-in probe).
    hosting: bool,
}

/// Lets UB children host the checks where `HOSTING_ENV` asks: for parallel runs only
/// (serially no other child could serve a case, so each would only wait out `GRACE`),
/// and not with a site probe command.
pub fn enable_hosting(parallel: bool) {
    let site = std::env::var(HEALTH_CMD_ENV).is_ok_and(|s| !s.trim().is_empty());
    let asked = std::env::var(HOSTING_ENV).is_ok_and(|v| v == "1");
    board().0.lock().unwrap_or_else(|p| p.into_inner()).hosting = asked && parallel && !site;
}

/// A UB child that runs the checks before its scenario; dropped when the child has ended.
pub struct Hosted {
    ticket: u64,
    started: Instant,
    devices: Vec<u32>,
}

/// Registers a UB child about to start on `devices`, if children host the checks; the
/// child is told with `HOSTED_ENV`.
pub fn host(cmd: &mut Command, devices: &[u32]) -> Option<Hosted> {
    let (lock, _) = board();
    let mut b = lock.lock().unwrap_or_else(|p| p.into_inner());
    if !b.hosting || devices.is_empty() {
        return None;
    }
    let ticket = b.next_ticket;
    b.next_ticket += 1;
    // Taken before the spawn: the process starts later still, so "started after" holds.
    let started = Instant::now();
    for d in devices {
        b.devs.entry(*d).or_default().hosted.push((ticket, started));
    }
    let list: Vec<String> = devices.iter().map(u32::to_string).collect();
    cmd.env(HOSTED_ENV, list.join(","));
    Some(Hosted {
        ticket,
        started,
        devices: devices.to_vec(),
    })
}

impl Hosted {
    /// A `HOSTED_MARK` line from the child.
    pub fn line(&self, line: &str) {
        let Some((d, result)) = line
            .strip_prefix(HOSTED_MARK)
            .and_then(|r| r.split_once(' '))
            .and_then(|(d, r)| Some((d.parse::<u32>().ok()?, r)))
        else {
            return;
        };
        if !self.devices.contains(&d) {
            return;
        }
        let (lock, changed) = board();
        let mut b = lock.lock().unwrap_or_else(|p| p.into_inner());
        b.hosted_served += 1;
        let dev = b.devs.entry(d).or_default();
        dev.hosted.retain(|(t, _)| *t != self.ticket);
        if dev.last.as_ref().is_none_or(|(s, _)| *s < self.started) {
            let r = if result == "ok" {
                "ok".to_string()
            } else {
                format!("health probe failed: {result}")
            };
            dev.last = Some((self.started, r));
        }
        changed.notify_all();
    }
}

impl Drop for Hosted {
    fn drop(&mut self) {
        let (lock, changed) = board();
        let mut b = lock.lock().unwrap_or_else(|p| p.into_inner());
        for d in &self.devices {
            if let Some(dev) = b.devs.get_mut(d) {
                dev.hosted.retain(|(t, _)| *t != self.ticket);
            }
        }
        changed.notify_all();
    }
}

/// In a UB child told by `HOSTED_ENV`: the probe's checks on each device, reported.
pub fn run_hosted_checks() {
    let Ok(list) = std::env::var(HOSTED_ENV) else {
        return;
    };
    for d in list.split(',').filter_map(|d| d.parse::<u32>().ok()) {
        match check_device(d) {
            Ok(()) => println!("{HOSTED_MARK}{d} ok"),
            Err(e) => println!(
                "{HOSTED_MARK}{d} {DEVICE_MARK}{d}: {}",
                e.to_string().replace('\n', " / ")
            ),
        }
    }
    println!("{HOSTED_DONE}");
    use std::io::Write;
    let _ = std::io::stdout().flush();
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
        // the next), or a UB child started after this case ended, will tell.
        // A child whose checks hang (a wedged GPU) is not waited for past HOSTED_LIMIT.
        let coming = |d: &Dev| {
            d.running
                || d.hosted
                    .iter()
                    .any(|(_, s)| *s >= ended && s.elapsed() < HOSTED_LIMIT)
        };
        let idle: Vec<u32> = need
            .into_iter()
            .filter(|d| !b.devs.get(d).is_some_and(coming))
            .collect();
        if idle.is_empty() {
            b = changed
                .wait_timeout(b, Duration::from_millis(250))
                .unwrap_or_else(|p| p.into_inner())
                .0;
            continue;
        }
        let waited = ended.elapsed();
        if b.hosting && waited < GRACE && crate::device_state::ub_to_start(&idle) {
            b = changed
                .wait_timeout(b, GRACE - waited)
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
        }
        changed.notify_all();
    }
}

/// How many cases waited for health and what served them (the suite's log).
pub fn tally() -> Option<String> {
    let b = board().0.lock().unwrap_or_else(|p| p.into_inner());
    (b.waited > 0).then(|| {
        let hosted = if b.hosting {
            format!(" and {} check(s) by later UB children", b.hosted_served)
        } else {
            String::new()
        };
        format!(
            "{} health probe(s){hosted} for {} UB case(s)",
            b.probes, b.waited
        )
    })
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
    let end = match run_with_limit(cmd, HEALTH_TIMEOUT, None, windows, None) {
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

    #[test]
    fn a_probe_serves_the_cases_that_ended_before_it_started_and_no_other() {
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
        let probes = std::fs::read_to_string(&log).unwrap();
        assert_eq!(probes.lines().collect::<Vec<_>>(), ["900,901", "900,901"]);
        std::env::remove_var(HEALTH_CMD_ENV);
        let _ = std::fs::remove_file(&log);
    }

    #[test]
    fn the_next_ub_childs_checks_serve_cases_that_ended_before_it_started() {
        // Devices far from real ones: the board of probes is process-wide.
        board().0.lock().unwrap().hosting = true;
        crate::device_state::expect_ub(&[950, 951]);
        let ended = Instant::now();
        let waiter = std::thread::spawn(move || after_case(&[950, 951], ended));
        std::thread::sleep(Duration::from_millis(100));
        // The next UB case on those devices starts: its child reports its checks.
        let mut cmd = Command::new("true");
        let hosted = host(&mut cmd, &[950, 951]).expect("hosting is on");
        let env: Vec<_> = cmd.get_envs().collect();
        assert_eq!(
            env,
            [(
                std::ffi::OsStr::new(HOSTED_ENV),
                Some(std::ffi::OsStr::new("950,951"))
            )]
        );
        crate::device_state::ub_child_starting(&[950, 951]);
        hosted.line("HIL-HEALTH 950 ok");
        hosted.line("HIL-HEALTH 951 device 951: cuCtxCreate returned 999");
        hosted.line("HIL-HEALTH 7 ok");
        let got = waiter.join().unwrap();
        assert_eq!(got[&950], "ok");
        assert_eq!(
            got[&951],
            "health probe failed: device 951: cuCtxCreate returned 999"
        );
        assert!(ended.elapsed() < GRACE, "served without a probe of its own");
        drop(hosted);
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
