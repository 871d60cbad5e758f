//! The executor's state machine: everything the suite knows about its devices, and every
//! decision taken from it. Pure: no threads, no clock (callers pass the time), no
//! processes; `exec` does the waiting, spawning and probing it decides.
//!
//! The rules, each a method here and a unit test in `exec::tests`:
//! - a case in the suite's process holds its devices alone; cases in child processes
//!   share a device with each other, at most `SHARERS` at once; a case waiting to hold a
//!   device alone holds back new sharers; devices are taken all at once (`admit`);
//! - a case on a device that is not a UB case runs only once every UB case of the run on
//!   that device has finished, its health probe included, and only then does it hold back
//!   sharers (else it would hold back the UB children it waits for); it then learns whether
//!   a UB case left the device unusable (`admit`, `Admit::Run`);
//! - a UB case's health is told by a probe of its devices that started after its child
//!   ended; one probe serves every case waiting when it starts, and in a parallel run it
//!   waits up to `defer` for the UB children still running there (`health_poll`);
//! - a cross-process case holds its NvSciIpc endpoint pairs (`Want::pairs`) from the
//!   executor, taken with its devices: the executor names which pairs (`pairs_of`), no
//!   pair is held by two cases, so a case never waits inside its time limit for a pair
//!   another case holds; pairs another process held when the run started are never given
//!   (`withhold_pair`), so which pairs a case may get is the same at any thread count; a
//!   case that wants more pairs than exist, or than are left, runs without them and says
//!   why (`admit`, `pairs_short`);
//! - a probe that finds a device unusable makes it unusable for the rest of the run and
//!   names the UB children run on it since it was last known good (`health_found`).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// A case's or a health request's number with the executor.
pub type Ticket = u64;

/// Child-process cases on one device at once: separate processes on one GPU were measured
/// to be independent (4 at once on an H100, 2026-11-27), but on 4×H100 with 64 threads,
/// 16 children per GPU creating CUDA contexts and Vulkan devices together took over 30 s
/// each.
pub const SHARERS: u32 = 4;

/// The resource key of the whole process: held by in-process cases when fd ownership
/// cannot be judged by identity (no kcmp), so that they run one at a time.
pub const PROCESS: u64 = u64::MAX;

/// How long a health request waits before it looks again while a probe of its devices
/// runs (a probe's end wakes it anyway).
const PROBE_POLL: Duration = Duration::from_millis(250);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// No other case on these devices (in-process cases).
    Exclusive,
    /// Other `Shared` cases may use them too (child-process cases).
    Shared,
}

/// What a case asks of the devices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Want {
    pub devices: Vec<u32>,
    pub mode: Mode,
    /// Also the whole process (`PROCESS`): an in-process case without kcmp.
    pub whole_process: bool,
    /// An undefined-behaviour case: it runs whatever its devices' state, and other cases
    /// on them wait for it.
    pub ub: bool,
    /// How many NvSciIpc endpoint pairs it holds while it runs (a cross-process case).
    pub pairs: u32,
}

/// Why a case's devices give no trustworthy verdict until the board is reset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unusable {
    /// The same at any thread count: in a parallel run which UB case a shared probe found
    /// the device broken after, and what that probe said, are timing.
    pub message: String,
    /// The UB cases after which a probe found one of the devices unusable (sorted).
    pub after: Vec<String>,
    /// What those probes said (distinct, sorted).
    pub health: Vec<String>,
}

/// The answer to a case that asks to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admit {
    /// Not yet: ask again when the state has changed.
    Wait,
    /// It holds its devices now. `Some`: a UB case of this run left one unusable (never
    /// said to a UB case: those always run).
    Run(Option<Unusable>),
}

/// What a health request is to do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HealthStep {
    /// Each device's health: "ok" or what the probe found.
    Ready(BTreeMap<u32, String>),
    /// Ask again when the state has changed, or at this time.
    Wait(Instant),
    /// Run this probe now, then report it with `probe_done`.
    Probe(Probe),
}

/// A probe the executor has started: on `devices`, from `start`; `windows` are the kernel
/// log windows of the cases it serves (its lines belong to each of them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub devices: Vec<u32>,
    pub windows: Vec<u64>,
    pub start: Instant,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for the run's UB cases on its devices to finish.
    AwaitUb,
    /// Waiting for its devices.
    AwaitPlace,
    /// Holding its devices.
    Holding,
    /// Gave its devices back before finishing (a UB case whose child has ended).
    GaveBack,
}

#[derive(Debug)]
struct CaseState {
    want: Want,
    keys: Vec<u64>,
    phase: Phase,
    /// The endpoint pairs it holds (indices into `ipc_endpoints`).
    pairs: Vec<u32>,
}

#[derive(Debug, Default)]
struct Slot {
    exclusive: bool,
    shared: u32,
    exclusive_waiting: u32,
}

#[derive(Debug, Default)]
struct Dev {
    probing: bool,
    /// The latest finished probe of this device: when it started, what it found.
    last: Option<(Instant, String)>,
    /// When every finished probe of this device started, and when the latest one ended.
    probe_starts: Vec<Instant>,
    last_end: Option<Instant>,
    /// UB children running on this device now.
    children: u32,
    /// Every UB child run on this device: its case, when it started, when it ended.
    history: Vec<(String, Instant, Option<Instant>)>,
}

#[derive(Debug)]
struct HealthWait {
    devices: Vec<u32>,
    /// When the case's child ended: only a probe started since then tells its health.
    ended: Instant,
    window: Option<u64>,
}

/// A UB child registered with `child_started`: each device and its place in its history.
#[derive(Debug)]
pub struct ChildSlots(Vec<(u32, usize)>);

/// The executor's state (see the module's rules).
#[derive(Debug)]
pub struct Core {
    defer: Duration,
    /// The endpoint pairs there are (`ipc_endpoints`); which case holds each.
    pairs: u32,
    pair_holder: BTreeMap<u32, Ticket>,
    /// Pairs another process held when the run started, and what their opening said.
    withheld: BTreeMap<u32, String>,
    slots: BTreeMap<u64, Slot>,
    cases: BTreeMap<Ticket, CaseState>,
    /// UB cases of this run on each device that have not finished yet.
    pending_ub: BTreeMap<u32, u32>,
    /// The UB cases after which each device was found unusable, and what the probe said.
    unusable: BTreeMap<u32, BTreeMap<String, String>>,
    devs: BTreeMap<u32, Dev>,
    health: BTreeMap<Ticket, HealthWait>,
    next: Ticket,
    /// Health requests and probes so far (the suite's log).
    waited: u64,
    probes: u64,
}

impl Core {
    /// `defer`: how long a probe may wait for running UB children (zero serially);
    /// `pairs`: the NvSciIpc endpoint pairs cross-process cases may hold.
    pub fn new(defer: Duration, pairs: u32) -> Core {
        Core {
            defer,
            pairs,
            pair_holder: BTreeMap::new(),
            withheld: BTreeMap::new(),
            slots: BTreeMap::new(),
            cases: BTreeMap::new(),
            pending_ub: BTreeMap::new(),
            unusable: BTreeMap::new(),
            devs: BTreeMap::new(),
            health: BTreeMap::new(),
            next: 0,
            waited: 0,
            probes: 0,
        }
    }

    fn ticket(&mut self) -> Ticket {
        self.next += 1;
        self.next
    }

    /// Registers a UB case that this run will start (a case that will not run must not be
    /// counted: the cases waiting for it would wait forever).
    pub fn expect_ub(&mut self, devices: &[u32]) {
        for d in devices {
            *self.pending_ub.entry(*d).or_default() += 1;
        }
    }

    /// A case asks to run; `admit` answers. Every ticket ends with `finish`.
    pub fn arrive(&mut self, want: Want) -> Ticket {
        let mut keys: Vec<u64> = want.devices.iter().map(|d| u64::from(*d)).collect();
        if want.whole_process {
            keys.push(PROCESS);
        }
        keys.sort_unstable();
        keys.dedup();
        let t = self.ticket();
        let phase = Phase::AwaitUb;
        let pairs = Vec::new();
        self.cases.insert(
            t,
            CaseState {
                want,
                keys,
                phase,
                pairs,
            },
        );
        t
    }

    /// Pair `index` is never given to a case: another process had one of its endpoints
    /// open when the run started (`why`: which, and what opening it returned). Called
    /// before any case is admitted.
    pub fn withhold_pair(&mut self, index: u32, why: &str) {
        if index < self.pairs && !self.pair_holder.contains_key(&index) {
            self.withheld.insert(index, why.to_string());
        }
    }

    /// The endpoint pairs case `t` holds (indices into `ipc_endpoints`).
    pub fn pairs_of(&self, t: Ticket) -> Vec<u32> {
        self.cases
            .get(&t)
            .map(|c| c.pairs.clone())
            .unwrap_or_default()
    }

    /// Why a case wanting `want` runs without its pairs though the configuration names
    /// enough: pairs were withheld (`withhold_pair`). `None` when it gets them, or when it
    /// wants more than are configured (its op says so, in every process alike).
    pub fn pairs_short(&self, want: &Want) -> Option<String> {
        if want.pairs == 0 || want.pairs > self.pairs || want.pairs <= self.usable_pairs() {
            return None;
        }
        let whys: Vec<&str> = self.withheld.values().map(String::as_str).collect();
        Some(format!(
            "this row needs {} endpoint pair(s); {} of the {} pair(s) of ipc_endpoints had an \
             endpoint open in another process when the run started ({}), and the run uses \
             no pair another process holds",
            want.pairs,
            self.withheld.len(),
            self.pairs,
            whys.join("; ")
        ))
    }

    fn usable_pairs(&self) -> u32 {
        self.pairs
            .saturating_sub(u32::try_from(self.withheld.len()).unwrap_or(u32::MAX))
    }

    /// Whether case `t` may run now (see the module's rules).
    pub fn admit(&mut self, t: Ticket) -> Admit {
        let Some(c) = self.cases.get(&t) else {
            return Admit::Wait;
        };
        if c.phase == Phase::AwaitUb {
            let waits = !c.want.ub
                && c.want
                    .devices
                    .iter()
                    .any(|d| self.pending_ub.get(d).is_some_and(|n| *n > 0));
            if waits {
                return Admit::Wait;
            }
            // Only now does it hold back sharers: waiting for UB cases, it would hold
            // back the UB children it waits for.
            if c.want.mode == Mode::Exclusive {
                for k in &c.keys {
                    self.slots.entry(*k).or_default().exclusive_waiting += 1;
                }
            }
            self.set_phase(t, Phase::AwaitPlace);
        }
        let Some(c) = self.cases.get(&t) else {
            return Admit::Wait;
        };
        match c.phase {
            Phase::AwaitUb => Admit::Wait,
            Phase::AwaitPlace => {
                let n = self.pairs_for(&c.want) as usize;
                let pairs: Vec<u32> = (0..self.pairs)
                    .filter(|i| !self.withheld.contains_key(i) && !self.pair_holder.contains_key(i))
                    .take(n)
                    .collect();
                if !self.free(&c.keys, c.want.mode) || pairs.len() < n {
                    return Admit::Wait;
                }
                for i in &pairs {
                    self.pair_holder.insert(*i, t);
                }
                let (keys, mode) = (c.keys.clone(), c.want.mode);
                if let Some(c) = self.cases.get_mut(&t) {
                    c.pairs = pairs;
                }
                for k in &keys {
                    let s = self.slots.entry(*k).or_default();
                    match mode {
                        Mode::Exclusive => {
                            s.exclusive_waiting -= 1;
                            s.exclusive = true;
                        }
                        Mode::Shared => s.shared += 1,
                    }
                }
                self.set_phase(t, Phase::Holding);
                Admit::Run(self.unusable_for(t))
            }
            Phase::Holding | Phase::GaveBack => Admit::Run(self.unusable_for(t)),
        }
    }

    fn set_phase(&mut self, t: Ticket, phase: Phase) {
        if let Some(c) = self.cases.get_mut(&t) {
            c.phase = phase;
        }
    }

    fn unusable_for(&self, t: Ticket) -> Option<Unusable> {
        let c = self.cases.get(&t)?;
        if c.want.ub {
            return None;
        }
        self.unusable(&c.want.devices)
    }

    /// How many pairs a case takes: none when it wants more than there are to give (it
    /// would wait forever; it runs and says why, `pairs_short`).
    fn pairs_for(&self, want: &Want) -> u32 {
        if want.pairs <= self.usable_pairs() {
            want.pairs
        } else {
            0
        }
    }

    fn free(&self, keys: &[u64], mode: Mode) -> bool {
        keys.iter().all(|k| {
            let Some(s) = self.slots.get(k) else {
                return true;
            };
            match mode {
                Mode::Exclusive => !s.exclusive && s.shared == 0,
                Mode::Shared => !s.exclusive && s.exclusive_waiting == 0 && s.shared < SHARERS,
            }
        })
    }

    /// Gives back what case `t` holds: its devices and its endpoint pairs.
    fn release(&mut self, t: Ticket, mode: Mode, keys: &[u64]) {
        self.pair_holder.retain(|_, holder| *holder != t);
        for k in keys {
            if let Some(s) = self.slots.get_mut(k) {
                match mode {
                    Mode::Exclusive => s.exclusive = false,
                    Mode::Shared => s.shared = s.shared.saturating_sub(1),
                }
            }
        }
    }

    /// Case `t` gives its devices back before it finishes (a UB case whose child has
    /// ended: its health probe needs no place on them).
    pub fn give_back(&mut self, t: Ticket) {
        let Some(c) = self.cases.get(&t) else {
            return;
        };
        if c.phase == Phase::Holding {
            let (mode, keys) = (c.want.mode, c.keys.clone());
            self.release(t, mode, &keys);
            self.set_phase(t, Phase::GaveBack);
        }
    }

    /// Case `t` has finished (or panicked): whatever it holds is free, and a UB case no
    /// longer holds back the other cases on its devices.
    pub fn finish(&mut self, t: Ticket) {
        let Some(c) = self.cases.remove(&t) else {
            return;
        };
        match c.phase {
            Phase::Holding => self.release(t, c.want.mode, &c.keys),
            Phase::AwaitPlace if c.want.mode == Mode::Exclusive => {
                for k in &c.keys {
                    if let Some(s) = self.slots.get_mut(k) {
                        s.exclusive_waiting = s.exclusive_waiting.saturating_sub(1);
                    }
                }
            }
            _ => {}
        }
        if c.want.ub {
            for d in &c.want.devices {
                if let Some(n) = self.pending_ub.get_mut(d) {
                    *n = n.saturating_sub(1);
                }
            }
        }
    }

    /// Records that `device` failed its health probe after UB case `case`.
    pub fn mark_unusable(&mut self, device: u32, case: &str, health: &str) {
        self.unusable
            .entry(device)
            .or_default()
            .insert(case.to_string(), health.to_string());
    }

    /// Why one of `devices` is unusable, if one is.
    pub fn unusable(&self, devices: &[u32]) -> Option<Unusable> {
        let mut broken = Vec::new();
        let mut after = Vec::new();
        let mut health = Vec::new();
        for d in devices {
            let Some(found) = self.unusable.get(d) else {
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

    /// A UB child of `case` starts on `devices` at `at`.
    pub fn child_started(&mut self, case: &str, devices: &[u32], at: Instant) -> ChildSlots {
        ChildSlots(
            devices
                .iter()
                .map(|d| {
                    let dev = self.devs.entry(*d).or_default();
                    dev.children += 1;
                    dev.history.push((case.to_string(), at, None));
                    (*d, dev.history.len() - 1)
                })
                .collect(),
        )
    }

    /// That child has ended at `at`.
    pub fn child_ended(&mut self, child: &ChildSlots, at: Instant) {
        for (d, slot) in &child.0 {
            if let Some(dev) = self.devs.get_mut(d) {
                dev.children = dev.children.saturating_sub(1);
                if let Some(h) = dev.history.get_mut(*slot) {
                    h.2 = Some(at);
                }
            }
        }
    }

    /// A UB case whose child ended at `ended` asks for the health of `devices`; `window`:
    /// its kernel log window. `health_poll` answers.
    pub fn health_wait(&mut self, devices: &[u32], ended: Instant, window: Option<u64>) -> Ticket {
        let t = self.ticket();
        self.waited += 1;
        let devices = devices.to_vec();
        self.health.insert(
            t,
            HealthWait {
                devices,
                ended,
                window,
            },
        );
        t
    }

    /// What health request `t` is to do at `now` (see the module's rules).
    pub fn health_poll(&mut self, t: Ticket, now: Instant) -> HealthStep {
        let Some(w) = self.health.get(&t) else {
            return HealthStep::Ready(BTreeMap::new());
        };
        let ended = w.ended;
        let fresh = |d: &Dev| d.last.as_ref().is_some_and(|(s, _)| *s >= ended);
        let need: Vec<u32> = (w.devices.iter().copied())
            .filter(|d| !self.devs.get(d).is_some_and(fresh))
            .collect();
        if need.is_empty() {
            let w = self
                .health
                .remove(&t)
                .map(|w| w.devices)
                .unwrap_or_default();
            let found = |d: &u32| self.devs.get(d).and_then(|d| d.last.as_ref());
            return HealthStep::Ready(
                w.iter()
                    .map(|d| (*d, found(d).map_or_else(String::new, |(_, r)| r.clone())))
                    .collect(),
            );
        }
        // A probe running now (it may have started before this case ended: then wait for
        // the next) will tell.
        let idle: Vec<u32> = (need.into_iter())
            .filter(|d| !self.devs.get(d).is_some_and(|d| d.probing))
            .collect();
        if idle.is_empty() {
            return HealthStep::Wait(now + PROBE_POLL);
        }
        // Other UB children still running here: a probe after them serves them too. Each
        // such child ends by its own limit, and the wait by `defer`.
        let children = |d: &u32| self.devs.get(d).is_some_and(|d| d.children > 0);
        if now.saturating_duration_since(ended) < self.defer && idle.iter().any(children) {
            return HealthStep::Wait(ended + self.defer);
        }
        for d in &idle {
            self.devs.entry(*d).or_default().probing = true;
        }
        // Every case waiting now on these devices ended before this start: it shares it.
        let windows: Vec<u64> = (self.health.values())
            .filter(|w| w.devices.iter().any(|d| idle.contains(d)))
            .filter_map(|w| w.window)
            .collect();
        self.probes += 1;
        HealthStep::Probe(Probe {
            devices: idle,
            windows,
            start: now,
        })
    }

    /// `probe` has ended at `end`, finding `found` per device.
    pub fn probe_done(&mut self, probe: &Probe, found: BTreeMap<u32, String>, end: Instant) {
        for d in &probe.devices {
            self.devs.entry(*d).or_default().probing = false;
        }
        for (d, r) in found {
            let dev = self.devs.entry(d).or_default();
            dev.last = Some((probe.start, r));
            dev.probe_starts.push(probe.start);
            dev.last_end = Some(end);
        }
    }

    /// The other UB cases whose children may have left one of `devices` as its latest
    /// probe found it, for a case whose child started at `started`: each that ran on it at
    /// some time after the last probe of it that started before `started` (when it was last
    /// known as it was; the run's start if none) and before that latest probe ended.
    /// Serially, none: the previous case's probe started after its child had ended.
    pub fn children_beside(&self, case: &str, devices: &[u32], started: Instant) -> Vec<String> {
        let mut others: Vec<String> = Vec::new();
        for dev in devices.iter().filter_map(|d| self.devs.get(d)) {
            let from = dev.probe_starts.iter().filter(|s| **s <= started).max();
            let until = dev.last_end;
            others.extend(
                (dev.history.iter())
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

    /// UB case `case`, whose child started at `started`, learnt its devices' health
    /// (`found`): each failed device is unusable from now on, and the result names the
    /// other UB cases run beside it there (`children_beside`; none when all is well).
    pub fn health_found(
        &mut self,
        case: &str,
        started: Instant,
        found: &BTreeMap<u32, String>,
    ) -> Vec<String> {
        let failed: Vec<u32> = (found.iter())
            .filter(|(_, r)| *r != "ok")
            .map(|(d, _)| *d)
            .collect();
        for d in &failed {
            self.mark_unusable(*d, case, &found[d]);
        }
        match failed.is_empty() {
            true => vec![],
            false => self.children_beside(case, &failed, started),
        }
    }

    /// How many UB cases waited for health and how many probes served them.
    pub fn health_tally(&self) -> Option<String> {
        (self.waited > 0).then(|| {
            format!(
                "{} health probe(s) for {} UB case(s)",
                self.probes, self.waited
            )
        })
    }
}

/// A `hil_proto::UNUSABLE_LINE` (without its prefix): device, UB case, what its probe
/// found. `None` if it is malformed.
pub fn parse_unusable_line(rest: &str) -> Option<(u32, String, String)> {
    let mut parts = rest.splitn(3, ' ');
    match (
        parts.next().and_then(|d| d.parse::<u32>().ok()),
        parts.next(),
        parts.next(),
    ) {
        (Some(d), Some(case), Some(what)) => Some((d, case.to_string(), what.to_string())),
        _ => None,
    }
}
