//! Which devices an undefined-behaviour case left unusable, and the order that makes the
//! "board needs reset" verdicts the same at any thread count.
//!
//! UB cases run first (see `harness::run_order`), and every other case on a device waits
//! until all UB cases on that device, their health probes included, have finished. So a
//! case's verdict never depends on whether it happened to start before or after a probe
//! found its device unusable: if any UB case of this run breaks device N, every non-UB
//! case on N reports `crash: board needs reset`, serially or at 64 threads. UB cases
//! themselves always run (each is flagged with what it observed and its own
//! `health_after`), since which of two concurrent UB cases "came first" is timing.

use std::collections::BTreeMap;
use std::sync::{Condvar, Mutex, OnceLock};

#[derive(Default)]
struct State {
    /// UB cases of this run on each device that have not finished yet.
    pending_ub: BTreeMap<u32, u32>,
    /// Why each device is unusable.
    unusable: BTreeMap<u32, String>,
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
        .or_insert_with(|| format!("device {device} unusable after `{case}`: {health}"));
}

/// Why one of `devices` is unusable, if one is.
pub fn unusable(devices: &[u32]) -> Option<String> {
    let s = lock();
    let why: Vec<&str> = devices
        .iter()
        .filter_map(|d| s.unusable.get(d).map(String::as_str))
        .collect();
    (!why.is_empty()).then(|| why.join("; "))
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
        drop(UbRunning::new(vec![700, 701]));
        let got = waiter.join().unwrap();
        assert_eq!(
            got.as_deref(),
            Some("device 700 unusable after `x.ub`: device 700 wedged")
        );
        assert_eq!(unusable(&[701]), None, "the other device is not blamed");
        wait_for_ub(&[701]);
    }
}
