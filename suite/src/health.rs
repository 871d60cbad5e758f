//! Device health after a UB scenario: a probe in a fresh process (`hil-suite
//! --health-probe`, or a site command) proves each device still runs work. When a probe
//! runs and which cases it serves is the executor's decision (`exec::core`): probes are
//! shared, and in a parallel run they wait for the UB children still running on their
//! devices, since process start-up with CUDA and Vulkan is serialized by the driver across
//! the whole machine (measured on 4×H100, 2026-11-27: 8 probes at once took 6.8 s on one
//! GPU, one alone 0.85 s; docs/benchmarks.md).

use crate::child::{run_with_limit, signal_name, tail};
use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt;
use std::process::Command;
use std::time::Duration;

const HEALTH_TIMEOUT: Duration = Duration::from_secs(hil_proto::HEALTH_PROBE_LIMIT_S);

/// What `hil-suite --health-probe` prints for a device that failed.
const DEVICE_MARK: &str = "device ";

/// How many UB cases waited for health and what served them (the suite's log).
pub fn tally() -> Option<String> {
    crate::exec::health_tally()
}

/// One probe of `devices` (the site command if one is set, else the built-in probe), its
/// pid noted in the kernel log `windows` of the cases it serves; what it found per device.
pub fn probe(devices: &[u32], windows: &[u64]) -> BTreeMap<u32, String> {
    probe_with(
        crate::exec::config::get().health_probe_cmd.as_deref(),
        devices,
        windows,
    )
}

/// One probe process for `devices` (its pid noted in `windows`); what it found per device.
/// `site`: a site command instead of the built-in probe.
fn probe_with(site: Option<&str>, devices: &[u32], windows: &[u64]) -> BTreeMap<u32, String> {
    let list = devices
        .iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join(",");
    if site.is_some() && devices.len() > 1 {
        // A site command says healthy or not, for all its devices at once: run it per
        // device, so which devices it finds unusable never depends on which were probed
        // together (timing, in a parallel run). One after another: a vendor diagnostic
        // may not expect to run beside itself.
        return (devices.iter())
            .flat_map(|d| probe_with(site, &[*d], windows))
            .collect();
    }
    let cmd = match site {
        Some(site) => {
            let mut c = Command::new("/bin/sh");
            c.arg("-c").arg(site.replace("{devices}", &list));
            c
        }
        None => {
            let mut c = crate::child::child_command(devices);
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

    #[test]
    fn a_site_command_runs_once_per_device() {
        let log = std::env::temp_dir().join(format!("hil-health-{}", std::process::id()));
        let _ = std::fs::remove_file(&log);
        let site = format!("echo {{devices}} >> {}", log.display());
        let found = probe_with(Some(&site), &[900, 901], &[]);
        assert_eq!(crate::verdict::health_summary(found.values()), "ok");
        let probes = std::fs::read_to_string(&log).unwrap();
        assert_eq!(probes.lines().collect::<Vec<_>>(), ["900", "901"]);
        let _ = std::fs::remove_file(&log);
        let found = probe_with(Some("echo broken; exit 3"), &[900], &[]);
        assert_eq!(found[&900], "health probe failed: broken");
    }

    #[test]
    fn a_failing_device_is_named_and_the_others_are_ok() {
        let err = "noise\ndevice 1: cuCtxCreate returned 999\n";
        let got = per_device(err, &[0, 1]);
        assert_eq!(got.len(), 1);
        assert!(got[&1].contains("999"));
        let (ok, bad) = ("ok".to_string(), "bad".to_string());
        assert_eq!(crate::verdict::health_summary([&ok, &ok].into_iter()), "ok");
        assert_eq!(
            crate::verdict::health_summary([&ok, &bad, &bad].into_iter()),
            "bad"
        );
    }
}
