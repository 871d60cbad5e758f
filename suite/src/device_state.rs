//! Which devices an undefined-behaviour case left unusable, and the order that makes the
//! "board needs reset" verdicts the same at any thread count.
//!
//! UB cases run first (see `harness::run_order`), and every other case on a device waits
//! until all UB cases on that device, their health probes included, have finished. So a
//! case's verdict never depends on whether it happened to start before or after a probe
//! found its device unusable: if any UB case of this run breaks device N, every non-UB
//! case on N reports `crash: board needs reset`, with the same message, serially or at 64
//! threads (the UB cases whose probes found the device so are an observation,
//! `unusable_after`). UB cases themselves always run, each flagged with what it observed
//! and its own `health_after`; in a parallel run other UB children may run on the device
//! before a case's probe, so which of them broke it is timing: a failed `health_after` then
//! names them (`health_shared_with`) instead of standing alone.

use std::collections::BTreeMap;
use std::sync::{Condvar, Mutex, OnceLock};

#[derive(Default)]
struct State {
    /// UB cases of this run on each device that have not finished yet.
    pending_ub: BTreeMap<u32, u32>,
    /// The UB cases after which each device was found unusable, and what the probe said.
    unusable: BTreeMap<u32, BTreeMap<String, String>>,
}

fn state() -> &'static (Mutex<State>, Condvar) {
    static S: OnceLock<(Mutex<State>, Condvar)> = OnceLock::new();
    S.get_or_init(Default::default)
}

fn lock() -> std::sync::MutexGuard<'static, State> {
    state().0.lock().unwrap_or_else(|p| p.into_inner())
}

/// Registers a UB case that this run will start (filtered-out cases must not be counted:
/// the cases waiting for them would wait forever).
pub fn expect_ub(devices: &[u32]) {
    let mut s = lock();
    for d in devices {
        *s.pending_ub.entry(*d).or_default() += 1;
    }
}

/// A UB case registered with `expect_ub` has finished, health probe included.
pub fn ub_finished(devices: &[u32]) {
    let mut s = lock();
    for d in devices {
        if let Some(n) = s.pending_ub.get_mut(d) {
            *n = n.saturating_sub(1);
        }
    }
    state().1.notify_all();
}

/// Releases its UB registration even if the case panics.
pub struct UbRunning(Vec<u32>);

impl UbRunning {
    /// A UB case starts.
    pub fn new(devices: Vec<u32>) -> Self {
        UbRunning(devices)
    }
}

impl Drop for UbRunning {
    fn drop(&mut self) {
        ub_finished(&self.0);
    }
}

/// Blocks until no UB case of this run is still to finish on `devices`.
pub fn wait_for_ub(devices: &[u32]) {
    let (_, changed) = state();
    let mut s = lock();
    while devices
        .iter()
        .any(|d| s.pending_ub.get(d).is_some_and(|n| *n > 0))
    {
        s = changed.wait(s).unwrap_or_else(|p| p.into_inner());
    }
}

/// Applies a `hil_proto::UNUSABLE_LINE` (without its prefix); false if it is malformed.
pub fn apply_line(rest: &str) -> bool {
    let mut parts = rest.splitn(3, ' ');
    match (
        parts.next().and_then(|d| d.parse::<u32>().ok()),
        parts.next(),
        parts.next(),
    ) {
        (Some(d), Some(case), Some(what)) => {
            mark_unusable(d, case, what);
            true
        }
        _ => false,
    }
}

/// Records that `device` failed its health probe after `case`.
pub fn mark_unusable(device: u32, case: &str, health: &str) {
    lock()
        .unusable
        .entry(device)
        .or_default()
        .insert(case.to_string(), health.to_string());
}

/// Why one of `devices` is unusable, if one is.
pub struct Unusable {
    /// The same at any thread count: in a parallel run which UB case a shared probe found
    /// the device broken after, and what that probe said, are timing.
    pub message: String,
    /// The UB cases after which a probe found one of the devices unusable (sorted).
    pub after: Vec<String>,
    /// What those probes said (distinct, sorted).
    pub health: Vec<String>,
}

pub fn unusable(devices: &[u32]) -> Option<Unusable> {
    let s = lock();
    let mut broken = Vec::new();
    let mut after = Vec::new();
    let mut health = Vec::new();
    for d in devices {
        let Some(found) = s.unusable.get(d) else {
            continue;
        };
        broken.push(format!("device {d}"));
        after.extend(found.keys().cloned());
        health.extend(found.values().cloned());
    }
    if broken.is_empty() {
        return None;
    }
    for v in [&mut after, &mut health] {
        v.sort();
        v.dedup();
    }
    Some(Unusable {
        message: format!(
            "{} left unusable by an undefined-behaviour case of this run",
            broken.join(" and ")
        ),
        after,
        health,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_case_on_a_device_waits_for_its_ub_cases_and_sees_what_they_left() {
        // Devices far from real ones: the state is process-wide.
        expect_ub(&[700]);
        expect_ub(&[700, 701]);
        let waiter = std::thread::spawn(|| {
            wait_for_ub(&[700]);
            unusable(&[700])
        });
        std::thread::sleep(Duration::from_millis(50));
        ub_finished(&[700]);
        std::thread::sleep(Duration::from_millis(50));
        assert!(!waiter.is_finished(), "one UB case on 700 is still running");
        mark_unusable(700, "x.ub", "device 700 wedged");
        mark_unusable(700, "a.ub", "device 700 wedged");
        drop(UbRunning::new(vec![700, 701]));
        let got = waiter.join().unwrap().expect("700 is unusable");
        assert_eq!(
            got.message,
            "device 700 left unusable by an undefined-behaviour case of this run"
        );
        assert_eq!(got.after, ["a.ub", "x.ub"]);
        assert_eq!(got.health, ["device 700 wedged"]);
        assert!(unusable(&[701]).is_none(), "the other device is not blamed");
        wait_for_ub(&[701]);
    }
}
