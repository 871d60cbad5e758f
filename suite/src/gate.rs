//! Which cases may use a device at the same time. A case running in this process has its
//! devices to itself: its checks (current context, stream state, fds) must not see what
//! another case does. Cases isolated in a child process share a device with each other,
//! as separate processes on one GPU were measured to be independent (4 at once on an
//! H100, 2026-11-27), but at most `SHARERS` at once: on 4×H100 with 64 threads, 16
//! children per GPU creating CUDA contexts and Vulkan devices together took over 30 s each. A case waiting for a device
//! to itself holds back new sharers, so it is not starved.

use std::collections::BTreeMap;
use std::sync::{Condvar, Mutex, OnceLock};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// No other case on these devices (in-process cases).
    Exclusive,
    /// Other `Shared` cases may use them too (child-process cases).
    Shared,
}

#[derive(Default)]
struct Slot {
    exclusive: bool,
    shared: u32,
    exclusive_waiting: u32,
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
    if mode == Mode::Exclusive {
        for k in &keys {
            slots.entry(*k).or_default().exclusive_waiting += 1;
        }
    }
    loop {
        let free = keys.iter().all(|k| {
            let s = slots.entry(*k).or_default();
            match mode {
                Mode::Exclusive => !s.exclusive && s.shared == 0,
                Mode::Shared => !s.exclusive && s.exclusive_waiting == 0 && s.shared < SHARERS,
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
            Mode::Exclusive => {
                s.exclusive_waiting -= 1;
                s.exclusive = true;
            }
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
    fn sharers_overlap_but_never_with_an_exclusive_holder() {
        let k = 2000;
        let shared = enter(&[k], Mode::Shared);
        let shared2 = enter(&[k], Mode::Shared); // does not block: SHARERS is 4
        let got = Arc::new(AtomicU32::new(0));
        let g2 = got.clone();
        let t = std::thread::spawn(move || {
            let _p = enter(&[k], Mode::Exclusive);
            g2.store(1, Ordering::SeqCst);
        });
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert_eq!(
            got.load(Ordering::SeqCst),
            0,
            "exclusive entered beside sharers"
        );
        drop(shared);
        drop(shared2);
        t.join().unwrap();
        assert_eq!(got.load(Ordering::SeqCst), 1);
    }
}
