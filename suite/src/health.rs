//! Device health after a UB scenario: a probe in a fresh process proves each device
//! still runs work. Probes are shared: a case whose child has ended waits for a probe of
//! its devices that *started after* that end, and one probe serves every case waiting
//! for it. Run serially, that is one probe per case, as before; run in parallel, cases
//! that end together share one. Process start-up with CUDA and Vulkan is serialized
//! by the driver across the whole machine (measured on 4×H100, 2026-11-27: 8 probes at
//! once took 6.8 s on one GPU and 5.5 s spread over two, one alone 0.85 s), so fewer
//! processes is what makes a parallel run shorter.

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

#[derive(Default)]
struct Dev {
    running: bool,
    /// The latest finished probe of this device: when it started, what it found.
    last: Option<(Instant, String)>,
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
    probes: u64,
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
        let idle: Vec<u32> = need
            .into_iter()
            .filter(|d| !b.devs.get(d).is_some_and(|s| s.running))
            .collect();
        if idle.is_empty() {
            // A probe that started before this case ended is running: wait for the next.
            b = changed.wait(b).unwrap_or_else(|p| p.into_inner());
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

/// How many cases waited for health and how many probes served them (the suite's log).
pub fn tally() -> Option<String> {
    let b = board().0.lock().unwrap_or_else(|p| p.into_inner());
    (b.next_ticket > 0).then(|| {
        format!(
            "{} health probe(s) for {} UB case(s)",
            b.probes, b.next_ticket
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
    let why = tail(&format!("{}{}", end.stdout, end.stderr), 3);
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
            .and_then(|d| {
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
            });
        if let Err(e) = r {
            eprintln!("{DEVICE_MARK}{d}: {e}");
            bad = true;
        }
    }
    std::process::exit(if bad { 1 } else { 0 })
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
        std::thread::sleep(Duration::from_millis(150));
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
