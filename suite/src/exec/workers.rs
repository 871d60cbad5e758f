//! Leases of reused worker processes for `isolate` rows, as a pure pool over any worker
//! handle `W` (`worker` holds the processes). The rules: one worker per device set at a
//! time (an `isolate` case takes tens of milliseconds in a warm worker, against most of
//! a second to start another); a worker goes back to the pool only after a case that
//! passed, so no case's verdict can depend on what a failing case left behind.

use std::collections::BTreeMap;

/// Workers alive at once per device set.
const PER_DEVICE_SET: usize = 1;

/// What a case that needs a worker for its devices is to do.
#[derive(Debug, PartialEq, Eq)]
pub enum Take<W> {
    /// Use this idle worker.
    Reuse(W),
    /// Start one: it is counted as alive from now until `gone` (or `release`).
    Start,
    /// Every worker for the device set is busy: ask again when one comes back.
    Wait,
}

#[derive(Debug)]
pub struct Pool<W> {
    idle: Vec<(Vec<u32>, W)>,
    /// Workers alive (idle or busy) per device set.
    live: BTreeMap<Vec<u32>, usize>,
    started: u64,
    ran: u64,
}

impl<W> Default for Pool<W> {
    fn default() -> Self {
        Pool {
            idle: Vec::new(),
            live: BTreeMap::new(),
            started: 0,
            ran: 0,
        }
    }
}

impl<W> Pool<W> {
    /// A worker for a case on `devices` (see `Take`).
    pub fn take(&mut self, devices: &[u32]) -> Take<W> {
        if let Some(i) = self.idle.iter().position(|(d, _)| d == devices) {
            return Take::Reuse(self.idle.swap_remove(i).1);
        }
        let live = self.live.entry(devices.to_vec()).or_default();
        if *live < PER_DEVICE_SET {
            *live += 1;
            return Take::Start;
        }
        Take::Wait
    }

    /// The worker a case on `devices` ran in, after the case: kept after a pass, else
    /// handed back to be ended (`Some`). `None` for `worker`: it never started or died.
    pub fn release(&mut self, devices: &[u32], worker: Option<W>, passed: bool) -> Option<W> {
        match worker {
            Some(w) if passed => {
                self.idle.push((devices.to_vec(), w));
                None
            }
            w => {
                self.gone(devices);
                w
            }
        }
    }

    /// A worker for `devices` has ended (or never started).
    pub fn gone(&mut self, devices: &[u32]) {
        if let Some(n) = self.live.get_mut(devices) {
            *n = n.saturating_sub(1);
        }
    }

    /// A worker process has started.
    pub fn note_started(&mut self) {
        self.started += 1;
    }

    /// A case runs in a worker.
    pub fn note_ran(&mut self) {
        self.ran += 1;
    }

    /// The idle workers, taken out (the end of the run).
    pub fn drain_idle(&mut self) -> Vec<W> {
        std::mem::take(&mut self.idle)
            .into_iter()
            .map(|(_, w)| w)
            .collect()
    }

    /// "N isolate case(s) in M worker process(es)", if any ran.
    pub fn tally(&self) -> Option<String> {
        (self.ran > 0).then(|| {
            format!(
                "{} isolate case(s) in {} worker process(es)",
                self.ran, self.started
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_worker_per_device_set_reused_only_after_a_pass() {
        let mut p: Pool<&str> = Pool::default();
        assert_eq!(p.take(&[0]), Take::Start);
        assert_eq!(p.take(&[0]), Take::Wait, "one worker per device set");
        assert_eq!(p.take(&[0, 1]), Take::Start, "another device set");
        assert_eq!(p.release(&[0], Some("w0"), true), None, "kept after a pass");
        assert_eq!(p.take(&[0]), Take::Reuse("w0"));
        assert_eq!(
            p.release(&[0], Some("w0"), false),
            Some("w0"),
            "ended after a case that did not pass"
        );
        assert_eq!(p.take(&[0]), Take::Start, "its place is free again");
        // A worker that died in its case is gone too.
        assert_eq!(p.release(&[0], None, false), None);
        assert_eq!(p.take(&[0]), Take::Start);
        p.note_started();
        p.note_ran();
        assert_eq!(
            p.tally().as_deref(),
            Some("1 isolate case(s) in 1 worker process(es)")
        );
        p.release(&[0, 1], Some("w01"), true);
        assert_eq!(p.drain_idle(), ["w01"]);
    }
}
