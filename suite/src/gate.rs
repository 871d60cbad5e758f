//! Which cases may use a device at the same time. A case running in this process has its
//! devices to itself among the cases of this process: its checks (current context, stream
//! state, fds) must not see what another in-process case does. Cases isolated in a child
//! process share a device with each other and with an in-process case: a process cannot
//! see another's context, streams or fds, and separate processes on one GPU were measured
//! to be independent (4×H100, 2026-11-27: the dev0 cases gave identical outcomes alone,
//! as 4 processes at once, and beside a process hung on that GPU). Children are capped at
//! `SHARERS` per device: with 64 threads, 16 children per GPU creating CUDA contexts and
//! Vulkan devices together took over 30 s each.

use std::collections::BTreeMap;
use std::sync::{Condvar, Mutex, OnceLock};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// No other in-process case on these devices (in-process cases).
    Exclusive,
    /// Up to `SHARERS` at once, beside one in-process case (child-process cases).
    Shared,
}

#[derive(Default)]
struct Slot {
    exclusive: bool,
    shared: u32,
}

struct Gate {
    slots: Mutex<BTreeMap<u64, Slot>>,
    changed: Condvar,
}

fn gate() -> &'static Gate {
    static G: OnceLock<Gate> = OnceLock::new();
    G.get_or_init(|| Gate {
        slots: Mutex::new(BTreeMap::new()),
        changed: Condvar::new(),
    })
}

/// A resource key: CUDA device `n`, or the whole process (see `PROCESS`).
pub fn device(n: u32) -> u64 {
    u64::from(n)
}

/// Child-process cases on one device at once.
pub const SHARERS: u32 = 4;

/// Held by in-process cases when fd ownership cannot be judged by identity
/// (no kcmp): then in-process cases run one at a time.
pub const PROCESS: u64 = u64::MAX;

/// Held until dropped.
pub struct Pass {
    keys: Vec<u64>,
    mode: Mode,
}

/// Waits until every key is free for `mode`, then takes all of them at once (taking them
/// one by one could deadlock two cases that need the same pair).
pub fn enter(keys: &[u64], mode: Mode) -> Pass {
    let mut keys = keys.to_vec();
    keys.sort_unstable();
    keys.dedup();
    let g = gate();
    let mut slots = g.slots.lock().unwrap_or_else(|p| p.into_inner());
    loop {
        let free = keys.iter().all(|k| {
            let s = slots.entry(*k).or_default();
            match mode {
                Mode::Exclusive => !s.exclusive,
                Mode::Shared => s.shared < SHARERS,
            }
        });
        if free {
            break;
        }
        slots = g.changed.wait(slots).unwrap_or_else(|p| p.into_inner());
    }
    for k in &keys {
        let s = slots.entry(*k).or_default();
        match mode {
            Mode::Exclusive => s.exclusive = true,
            Mode::Shared => s.shared += 1,
        }
    }
    Pass { keys, mode }
}

impl Drop for Pass {
    fn drop(&mut self) {
        let g = gate();
        let mut slots = g.slots.lock().unwrap_or_else(|p| p.into_inner());
        for k in &self.keys {
            if let Some(s) = slots.get_mut(k) {
                match self.mode {
                    Mode::Exclusive => s.exclusive = false,
                    Mode::Shared => s.shared = s.shared.saturating_sub(1),
                }
            }
        }
        g.changed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;

    #[test]
    fn exclusive_holders_of_one_device_never_overlap_and_disjoint_ones_do() {
        // Keys far from real devices: tests in this binary share the gate.
        let (a, b) = (1000, 1001);
        let on_a = Arc::new(AtomicU32::new(0));
        let max_a = Arc::new(AtomicU32::new(0));
        let both = Arc::new(AtomicU32::new(0));
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let (on_a, max_a, both) = (on_a.clone(), max_a.clone(), both.clone());
                std::thread::spawn(move || {
                    let key = if i % 2 == 0 { a } else { b };
                    let _p = enter(&[key], Mode::Exclusive);
                    if key == a {
                        let n = on_a.fetch_add(1, Ordering::SeqCst) + 1;
                        max_a.fetch_max(n, Ordering::SeqCst);
                    } else {
                        both.fetch_add(1, Ordering::SeqCst);
                    }
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    if key == a {
                        on_a.fetch_sub(1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(
            max_a.load(Ordering::SeqCst),
            1,
            "two exclusive holders of one device"
        );
        assert_eq!(both.load(Ordering::SeqCst), 4);
    }

    #[test]
    fn children_share_a_device_with_one_in_process_case_up_to_the_cap() {
        let k = 2000;
        let in_process = enter(&[k], Mode::Exclusive);
        // Children enter beside it, up to SHARERS.
        let children: Vec<Pass> = (0..SHARERS).map(|_| enter(&[k], Mode::Shared)).collect();
        let got = Arc::new(AtomicU32::new(0));
        let (g2, g3) = (got.clone(), got.clone());
        let t = std::thread::spawn(move || {
            let _p = enter(&[k], Mode::Shared);
            g2.fetch_add(1, Ordering::SeqCst);
        });
        let u = std::thread::spawn(move || {
            let _p = enter(&[k], Mode::Exclusive);
            g3.fetch_add(10, Ordering::SeqCst);
        });
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert_eq!(
            got.load(Ordering::SeqCst),
            0,
            "a child beyond the cap or a second in-process case entered"
        );
        drop(children);
        t.join().unwrap();
        assert_eq!(got.load(Ordering::SeqCst), 1, "the waiting child entered");
        drop(in_process);
        u.join().unwrap();
        assert_eq!(got.load(Ordering::SeqCst), 11);
    }
}
