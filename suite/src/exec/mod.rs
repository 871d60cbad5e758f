//! The executor: one owner of the suite's per-device state (as cargo-nextest's dispatcher
//! and igt_runner's executor). Its rules are in `core::Core`, a pure state machine; this
//! module is the thin part that waits on it, runs the health probes it asks for, and
//! tells it what happened. Callers ask the executor (`admit`, `child_running`,
//! `health_after`) instead of calling coordinators in a careful order.

pub mod config;
pub mod core;
pub mod workers;

#[cfg(test)]
mod tests;

use self::core::{Admit, Core, HealthStep, Ticket, Unusable, Want};
use std::collections::BTreeMap;
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock};
use std::time::Instant;

struct Shared {
    core: Mutex<Core>,
    changed: Condvar,
}

fn shared() -> &'static Shared {
    static S: OnceLock<Shared> = OnceLock::new();
    S.get_or_init(|| Shared {
        core: Mutex::new(Core::new(
            config::get().health_defer,
            config::get().ipc_pairs,
        )),
        changed: Condvar::new(),
    })
}

fn lock() -> MutexGuard<'static, Core> {
    shared().core.lock().unwrap_or_else(|p| p.into_inner())
}

/// Runs `f` on the state and wakes every waiter: the state may have changed.
fn change<R>(f: impl FnOnce(&mut Core) -> R) -> R {
    let r = f(&mut lock());
    shared().changed.notify_all();
    r
}

/// Registers a UB case that this run will start (see `Core::expect_ub`).
pub fn expect_ub(devices: &[u32]) {
    change(|c| c.expect_ub(devices));
}

/// A case's place with the executor, from its admission until it is dropped.
pub struct Place {
    ticket: Ticket,
    /// The endpoint pairs it holds (indices into `ipc_endpoints`).
    pairs: Vec<u32>,
    /// Why it holds fewer pairs than it wants (`Core::pairs_short`).
    short: Option<String>,
}

/// Waits until a case that wants `want` may run; then it holds its devices. `Some`
/// unusable: a UB case of this run left one of them unusable.
pub fn admit(want: Want) -> (Place, Option<Unusable>) {
    let s = shared();
    let mut core = lock();
    let short = core.pairs_short(&want);
    let ticket = core.arrive(want);
    let mut place = Place {
        ticket,
        pairs: Vec::new(),
        short,
    };
    loop {
        match core.admit(ticket) {
            // Taking a place or waiting for one only ever holds others back: nobody to wake.
            Admit::Run(unusable) => {
                place.pairs = core.pairs_of(ticket);
                return (place, unusable);
            }
            Admit::Wait => core = s.changed.wait(core).unwrap_or_else(|p| p.into_inner()),
        }
    }
}

/// Pairs of `ipc_endpoints` (index, and which endpoint was open elsewhere) never given to
/// a case in this run: another process had them open when it started.
pub fn withhold_pairs(held: &BTreeMap<u32, String>) {
    change(|c| {
        for (i, why) in held {
            c.withhold_pair(*i, why);
        }
    });
}

impl Place {
    /// The endpoint pairs this case holds (indices into `ipc_endpoints`).
    pub fn pairs(&self) -> &[u32] {
        &self.pairs
    }

    /// Why this case holds fewer endpoint pairs than it needs though `ipc_endpoints` names
    /// enough (another process holds the rest).
    pub fn pairs_short(&self) -> Option<&str> {
        self.short.as_deref()
    }

    /// Gives the case's devices back before it finishes (a UB case whose child ended).
    pub fn give_back(&self) {
        change(|c| c.give_back(self.ticket));
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        change(|c| c.finish(self.ticket));
    }
}

/// A UB child running on its devices, from just before its spawn until it is dropped.
pub struct ChildRunning(self::core::ChildSlots);

pub fn child_running(case: &str, devices: &[u32]) -> ChildRunning {
    ChildRunning(change(|c| c.child_started(case, devices, Instant::now())))
}

impl Drop for ChildRunning {
    fn drop(&mut self) {
        change(|c| c.child_ended(&self.0, Instant::now()));
    }
}

/// What probes devices: given the devices and the kernel log windows of the cases the
/// probe serves, what it found on each ("ok" or the problem). `health::probe` in the suite.
pub type ProbeFn = fn(&[u32], &[u64]) -> BTreeMap<u32, String>;

/// A UB case's child, for its health: its case, devices, when it started and ended, and
/// the case's kernel log window (a shared probe's lines belong to every case it serves).
pub struct EndedChild<'a> {
    pub case: &'a str,
    pub devices: &'a [u32],
    pub started: Instant,
    pub ended: Instant,
    pub window: Option<u64>,
}

/// What the health probe after a UB case found on each of its devices ("ok" or what went
/// wrong), from a probe (`probe_fn`) shared as `Core::health_poll` decides; and the other
/// UB cases run beside it on a device found unusable (`Core::health_found`), which is
/// unusable for the rest of the run from now on.
pub fn health_after(child: &EndedChild, probe_fn: ProbeFn) -> (BTreeMap<u32, String>, Vec<String>) {
    let s = shared();
    let mut core = lock();
    let t = core.health_wait(child.devices, child.ended, child.window);
    loop {
        match core.health_poll(t, Instant::now()) {
            HealthStep::Ready(found) => {
                let beside = core.health_found(child.case, child.started, &found);
                s.changed.notify_all();
                return (found, beside);
            }
            HealthStep::Wait(until) => {
                let rest = until.saturating_duration_since(Instant::now());
                core = (s.changed.wait_timeout(core, rest))
                    .unwrap_or_else(|p| p.into_inner())
                    .0;
            }
            HealthStep::Probe(probe) => {
                drop(core);
                // Whatever happens, the devices must not stay marked as being probed:
                // every later UB case on them would wait forever.
                let run = || probe_fn(&probe.devices, &probe.windows);
                let found = std::panic::catch_unwind(std::panic::AssertUnwindSafe(run))
                    .unwrap_or_else(|_| {
                        let why = "health probe could not run (hil-suite panicked)";
                        probe.devices.iter().map(|d| (*d, why.into())).collect()
                    });
                core = lock();
                core.probe_done(&probe, found, Instant::now());
                s.changed.notify_all();
            }
        }
    }
}

/// Records that `device` failed its health probe after UB case `case`.
pub fn mark_unusable(device: u32, case: &str, health: &str) {
    change(|c| c.mark_unusable(device, case, health));
}

/// Applies a `hil_proto::UNUSABLE_LINE` (without its prefix); false if it is malformed.
pub fn apply_unusable_line(rest: &str) -> bool {
    match self::core::parse_unusable_line(rest) {
        Some((d, case, what)) => {
            mark_unusable(d, &case, &what);
            true
        }
        None => false,
    }
}

/// How many UB cases waited for health and what served them (the suite's log).
pub fn health_tally() -> Option<String> {
    lock().health_tally()
}
