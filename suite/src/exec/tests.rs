//! The executor's rules, driven with fake cases, fake children and a fake clock: no
//! process, GPU or sleep. Each test fails when the rule it names is broken.

use super::core::{Admit, ChildSlots, Core, HealthStep, Mode, Probe, Unusable, Want, SHARERS};
use crate::verdict::{board_needs_reset, with_health, Verdict};
use hil_proto::Outcome;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

fn want(devices: &[u32], mode: Mode, ub: bool) -> Want {
    let devices = devices.to_vec();
    Want {
        devices,
        mode,
        whole_process: false,
        ub,
        pairs: 0,
    }
}

fn inproc(devices: &[u32]) -> Want {
    want(devices, Mode::Exclusive, false)
}

fn child(devices: &[u32]) -> Want {
    want(devices, Mode::Shared, false)
}

fn ub(devices: &[u32]) -> Want {
    want(devices, Mode::Shared, true)
}

fn runs(c: &mut Core, w: Want) -> u64 {
    let t = c.arrive(w);
    assert_eq!(c.admit(t), Admit::Run(None), "case {t} should run now");
    t
}

fn waits(c: &mut Core, w: Want) -> u64 {
    let t = c.arrive(w);
    assert_eq!(c.admit(t), Admit::Wait, "case {t} should wait");
    t
}

fn ms(t0: Instant, n: u64) -> Instant {
    t0 + Duration::from_millis(n)
}

fn ok(devices: &[u32]) -> BTreeMap<u32, String> {
    devices.iter().map(|d| (*d, "ok".to_string())).collect()
}

#[test]
fn an_in_process_case_holds_its_devices_alone_and_children_share_up_to_the_limit() {
    let mut c = Core::new(Duration::ZERO, 0);
    let a = runs(&mut c, inproc(&[0]));
    let b = waits(&mut c, inproc(&[0]));
    runs(&mut c, inproc(&[1]));
    let s = waits(&mut c, child(&[0]));
    c.finish(a);
    assert_eq!(c.admit(b), Admit::Run(None), "the device is free again");
    assert_eq!(
        c.admit(s),
        Admit::Wait,
        "no child beside an in-process case"
    );
    c.finish(b);
    assert_eq!(c.admit(s), Admit::Run(None));
    // Children share a device, up to SHARERS at once.
    let mut sharers = vec![s];
    for _ in 1..SHARERS {
        sharers.push(runs(&mut c, child(&[0])));
    }
    let extra = waits(&mut c, child(&[0]));
    // A case waiting to hold the device alone holds back new sharers, so it is not starved.
    let alone = waits(&mut c, inproc(&[0]));
    c.finish(sharers.pop().unwrap());
    assert_eq!(c.admit(extra), Admit::Wait, "held back by the waiting case");
    for s in sharers {
        c.finish(s);
    }
    assert_eq!(c.admit(alone), Admit::Run(None));
    assert_eq!(c.admit(extra), Admit::Wait);
    c.finish(alone);
    assert_eq!(c.admit(extra), Admit::Run(None));
}

#[test]
fn devices_are_taken_all_at_once_so_pair_cases_never_deadlock() {
    let mut c = Core::new(Duration::ZERO, 0);
    let one = runs(&mut c, inproc(&[1]));
    let pair = waits(&mut c, inproc(&[0, 1]));
    // Waiting for device 1, the pair holds nothing on device 0 (it only holds back sharers).
    let zero = runs(&mut c, inproc(&[0]));
    c.finish(one);
    assert_eq!(c.admit(pair), Admit::Wait, "device 0 is taken");
    c.finish(zero);
    assert_eq!(c.admit(pair), Admit::Run(None));
}

#[test]
fn cross_process_cases_take_endpoint_pairs_with_their_devices_and_never_more_than_exist() {
    let mut c = Core::new(Duration::ZERO, 2);
    let ipc = |d: &[u32], pairs: u32| Want { pairs, ..inproc(d) };
    let a = runs(&mut c, ipc(&[], 1));
    let b = runs(&mut c, ipc(&[], 1));
    // Both pairs are held: a third case waits for one, on no device or on a free one.
    let third = waits(&mut c, ipc(&[], 1));
    let on_dev = waits(&mut c, ipc(&[0], 1));
    // A case without pairs is not held back by them.
    runs(&mut c, inproc(&[1]));
    c.finish(a);
    assert_eq!(c.admit(third), Admit::Run(None), "a pair is free again");
    assert_eq!(c.admit(on_dev), Admit::Wait, "the freed pair is taken");
    // A case wanting both pairs waits until neither is held.
    let both = waits(&mut c, ipc(&[], 2));
    c.finish(b);
    assert_eq!(c.admit(on_dev), Admit::Run(None));
    assert_eq!(c.admit(both), Admit::Wait);
    c.finish(third);
    assert_eq!(c.admit(both), Admit::Wait, "one pair is still held");
    c.finish(on_dev);
    assert_eq!(c.admit(both), Admit::Run(None));
    // More pairs than exist: it runs (and its op says the board gives too few) rather
    // than wait forever, holding none.
    let many = runs(&mut c, ipc(&[], 3));
    c.finish(both);
    let after = runs(&mut c, ipc(&[], 2));
    c.finish(many);
    c.finish(after);
    // A UB child case gives its pairs back with its devices when its child has ended.
    let u = runs(
        &mut c,
        Want {
            pairs: 2,
            ..ub(&[0])
        },
    );
    let next = waits(&mut c, ipc(&[], 1));
    c.give_back(u);
    assert_eq!(c.admit(next), Admit::Run(None));
    c.finish(u);
    c.finish(next);
    runs(&mut c, ipc(&[], 2));
}

#[test]
fn no_endpoint_pair_is_given_to_two_cases_or_to_any_case_when_another_process_held_it() {
    let mut c = Core::new(Duration::ZERO, 3);
    let ipc = |pairs: u32| Want {
        pairs,
        ..inproc(&[])
    };
    // Pair 0 was held by another process at the start: never given, at any thread count.
    c.withhold_pair(0, "t_0:t_1: opening `t_1`: Busy");
    let a = runs(&mut c, ipc(1));
    let b = runs(&mut c, ipc(1));
    assert_eq!((c.pairs_of(a), c.pairs_of(b)), (vec![1], vec![2]));
    let third = waits(&mut c, ipc(1));
    c.finish(a);
    assert_eq!(c.admit(third), Admit::Run(None));
    assert_eq!(c.pairs_of(third), vec![1], "the pair `a` gave back");
    c.finish(b);
    c.finish(third);
    // Two pairs are left to give: a case wanting two gets both, and none is short.
    let two = ipc(2);
    assert_eq!(c.pairs_short(&two), None);
    let t = runs(&mut c, two);
    assert_eq!(c.pairs_of(t), vec![1, 2]);
    c.finish(t);
    // A pair more withheld: a case wanting two runs at once without any (it would wait
    // forever), and is told why, naming the held endpoints.
    c.withhold_pair(2, "t_4:t_5: opening `t_4`: Busy");
    let two = ipc(2);
    let why = c.pairs_short(&two).expect("short of pairs");
    assert!(
        why.contains("opening `t_1`: Busy") && why.contains("opening `t_4`: Busy"),
        "{why}"
    );
    let t = runs(&mut c, two);
    assert!(c.pairs_of(t).is_empty());
    // It holds none: a one-pair case still gets the last pair.
    let one = runs(&mut c, ipc(1));
    assert_eq!(c.pairs_of(one), vec![1]);
    // More than the configuration names: not short of withheld pairs; its op says so.
    assert_eq!(c.pairs_short(&ipc(4)), None);
}

#[test]
fn without_kcmp_in_process_cases_run_one_at_a_time() {
    let mut c = Core::new(Duration::ZERO, 0);
    let whole = |d: &[u32]| Want {
        whole_process: true,
        ..inproc(d)
    };
    let a = runs(&mut c, whole(&[0]));
    let b = waits(&mut c, whole(&[1]));
    // Children are in other processes: only the devices count for them.
    let iso = runs(&mut c, child(&[2]));
    c.finish(a);
    assert_eq!(c.admit(b), Admit::Run(None));
    c.finish(iso);
}

#[test]
fn a_case_waits_for_the_ub_cases_of_its_devices_without_holding_back_their_children() {
    let mut c = Core::new(Duration::ZERO, 0);
    c.expect_ub(&[0]);
    c.expect_ub(&[0, 1]);
    let on0 = waits(&mut c, inproc(&[0]));
    let iso0 = waits(&mut c, child(&[0]));
    // Waiting for them, it must not hold back the UB children it waits for.
    let u1 = runs(&mut c, ub(&[0]));
    let u2 = runs(&mut c, ub(&[0, 1]));
    let host = runs(&mut c, inproc(&[]));
    c.give_back(u1);
    c.finish(u1);
    assert_eq!(
        c.admit(on0),
        Admit::Wait,
        "one UB case on 0 is still to finish"
    );
    // A UB case whose child has ended gives its place back, but still holds the others
    // back until its health probe is done and it has finished.
    c.give_back(u2);
    assert_eq!(c.admit(on0), Admit::Wait);
    c.mark_unusable(0, "x.ub", "device 0 wedged");
    c.mark_unusable(0, "a.ub", "device 0 wedged");
    c.finish(u2);
    let broken = Unusable {
        message: "device 0 left unusable by an undefined-behaviour case of this run".into(),
        after: vec!["a.ub".into(), "x.ub".into()],
        health: vec!["device 0 wedged".into()],
    };
    assert_eq!(c.admit(on0), Admit::Run(Some(broken.clone())));
    c.finish(on0);
    assert_eq!(c.admit(iso0), Admit::Run(Some(broken)));
    // UB cases always run; cases on other devices are not blamed.
    runs(&mut c, ub(&[0]));
    runs(&mut c, inproc(&[1]));
    c.finish(host);
    c.mark_unusable(1, "y.ub", "gone");
    let both = c.unusable(&[0, 1]).unwrap();
    assert_eq!(
        both.message,
        "device 0 and device 1 left unusable by an undefined-behaviour case of this run"
    );
}

#[test]
fn an_unusable_line_from_an_earlier_suite_process_is_read_back() {
    assert_eq!(
        super::core::parse_unusable_line("1 a.ub health probe hung for 60s"),
        Some((1, "a.ub".into(), "health probe hung for 60s".into()))
    );
    assert_eq!(super::core::parse_unusable_line("x a.ub what"), None);
    assert_eq!(super::core::parse_unusable_line("1 a.ub"), None);
}

fn probe_of(step: HealthStep) -> Probe {
    match step {
        HealthStep::Probe(p) => p,
        other => panic!("expected a probe, got {other:?}"),
    }
}

#[test]
fn a_probe_serves_the_cases_that_ended_before_it_started_and_no_other() {
    let t0 = Instant::now();
    let mut c = Core::new(Duration::ZERO, 0);
    let a = c.health_wait(&[0], t0, Some(10));
    let cw = c.health_wait(&[0], t0, Some(11));
    let first = probe_of(c.health_poll(a, ms(t0, 1)));
    assert_eq!(first.devices, [0]);
    assert_eq!(
        first.windows,
        [10, 11],
        "its lines belong to every case it serves"
    );
    // C ended before that probe started: it waits for it. B ended after: the next one.
    assert!(matches!(c.health_poll(cw, ms(t0, 2)), HealthStep::Wait(_)));
    let b = c.health_wait(&[0], ms(t0, 3), Some(12));
    assert!(matches!(c.health_poll(b, ms(t0, 3)), HealthStep::Wait(_)));
    c.probe_done(&first, ok(&[0]), ms(t0, 5));
    assert_eq!(c.health_poll(a, ms(t0, 6)), HealthStep::Ready(ok(&[0])));
    assert_eq!(c.health_poll(cw, ms(t0, 6)), HealthStep::Ready(ok(&[0])));
    let second = probe_of(c.health_poll(b, ms(t0, 6)));
    assert_eq!(second.windows, [12]);
    c.probe_done(&second, ok(&[0]), ms(t0, 8));
    assert_eq!(c.health_poll(b, ms(t0, 9)), HealthStep::Ready(ok(&[0])));
    assert_eq!(
        c.health_tally().as_deref(),
        Some("2 health probe(s) for 3 UB case(s)")
    );
    // A case on two devices, one fresh: only the other is probed.
    let d = c.health_wait(&[0, 1], ms(t0, 6), None);
    assert_eq!(probe_of(c.health_poll(d, ms(t0, 10))).devices, [1]);
}

#[test]
fn a_probe_waits_for_the_ub_children_still_running_on_its_devices_within_the_limit() {
    let t0 = Instant::now();
    let mut c = Core::new(Duration::from_secs(60), 0);
    let (first, second) = (
        c.child_started("a", &[960], t0),
        c.child_started("b", &[960], t0),
    );
    c.child_ended(&first, ms(t0, 10));
    let a = c.health_wait(&[960], ms(t0, 10), None);
    assert_eq!(
        c.health_poll(a, ms(t0, 300)),
        HealthStep::Wait(ms(t0, 60_010)),
        "probed while a UB child still ran on the device"
    );
    // B's child ends before A's probe can start, so that probe serves both.
    c.child_ended(&second, ms(t0, 400));
    let b = c.health_wait(&[960], ms(t0, 400), None);
    let p = probe_of(c.health_poll(a, ms(t0, 400)));
    c.probe_done(&p, ok(&[960]), ms(t0, 500));
    assert_eq!(c.health_poll(b, ms(t0, 500)), HealthStep::Ready(ok(&[960])));
    assert_eq!(c.health_poll(a, ms(t0, 500)), HealthStep::Ready(ok(&[960])));
    // A child that keeps running holds a probe back no longer than the limit.
    let _stuck = c.child_started("stuck", &[961], ms(t0, 600));
    let me = ms(t0, 700);
    let h = c.health_wait(&[961], me, None);
    assert!(matches!(c.health_poll(h, ms(t0, 800)), HealthStep::Wait(_)));
    let p = probe_of(c.health_poll(h, me + Duration::from_secs(60)));
    c.probe_done(&p, ok(&[961]), me + Duration::from_secs(61));
    // The child that kept running is named as one that ran beside a case of 961; one on
    // another device is not; the case itself is not.
    let _other = c.child_started("elsewhere", &[962], ms(t0, 700));
    assert_eq!(c.children_beside("me", &[961], me), ["stuck"]);
    // On 960 no probe had started before a's child: b, which ran beside it before the
    // shared probe ended, is named.
    assert_eq!(c.children_beside("a", &[960], t0), ["b"]);
    // A case started after that probe: b ended before the probe started, so it was
    // already known as it was; no other child is named.
    assert!(c.children_beside("later", &[960], ms(t0, 450)).is_empty());
    assert_eq!(
        c.health_tally().as_deref(),
        Some("2 health probe(s) for 3 UB case(s)")
    );
    // Serially (no wait) a probe never waits for children.
    let mut serial = Core::new(Duration::ZERO, 0);
    let _running = serial.child_started("b", &[0], t0);
    let h = serial.health_wait(&[0], t0, None);
    probe_of(serial.health_poll(h, t0));
}

// A run of fake cases on a fake board, at any number of threads: each thread takes the
// next case in run order and drives it through the executor as `harness` and `ub` do;
// time only moves when every thread waits.

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Ub { breaks: bool },
    Isolate,
    InProcess,
}

struct FakeCase {
    name: &'static str,
    devices: &'static [u32],
    kind: Kind,
    /// How long its child or op runs (ms).
    len: u64,
}

/// A UB case after its child: `place` with the executor, when its child `started`, its
/// health request.
struct After {
    case: usize,
    place: u64,
    started: Instant,
    ticket: u64,
}

/// What a fake thread is doing.
enum Th {
    Idle,
    Admitting(usize, u64),
    Running(u64, u64),
    Child(usize, u64, Instant, ChildSlots, u64),
    /// Waiting for health, next looking at this time.
    Health(After, u64),
    Probing(After, Probe, u64),
    Done,
}

const PROBE_MS: u64 = 5;

struct Sim<'a> {
    cases: &'a [FakeCase],
    core: Core,
    t0: Instant,
    now: u64,
    queue: VecDeque<usize>,
    /// Devices a UB child has broken: a probe finds them so, a case on them fails.
    broken: BTreeSet<u32>,
    verdicts: BTreeMap<&'static str, Verdict>,
}

fn verdict(outcome: Outcome, message: &str) -> Verdict {
    let message = message.into();
    Verdict {
        outcome,
        message,
        observations: vec![],
    }
}

impl Sim<'_> {
    fn at(&self, n: u64) -> Instant {
        ms(self.t0, n)
    }

    /// `th` one step further at this time, if it can move (`None`: it waits).
    fn step(&mut self, th: &Th) -> Option<Th> {
        let now = self.now;
        Some(match th {
            Th::Idle => match self.queue.pop_front() {
                Some(i) => {
                    let c = &self.cases[i];
                    let w = match c.kind {
                        Kind::Ub { .. } => ub(c.devices),
                        Kind::Isolate => child(c.devices),
                        Kind::InProcess => inproc(c.devices),
                    };
                    Th::Admitting(i, self.core.arrive(w))
                }
                None => Th::Done,
            },
            Th::Admitting(i, place) => match self.core.admit(*place) {
                Admit::Wait => return None,
                Admit::Run(unusable) => self.admitted(*i, *place, unusable),
            },
            Th::Running(place, until) if *until <= now => {
                self.core.finish(*place);
                Th::Idle
            }
            Th::Child(case, place, started, slots, until) if *until <= now => {
                let c = &self.cases[*case];
                if c.kind == (Kind::Ub { breaks: true }) {
                    self.broken.extend(c.devices);
                }
                self.core.give_back(*place);
                self.core.child_ended(slots, self.at(now));
                let ticket = self.core.health_wait(c.devices, self.at(now), None);
                let (case, place, started) = (*case, *place, *started);
                Th::Health(
                    After {
                        case,
                        place,
                        started,
                        ticket,
                    },
                    now,
                )
            }
            Th::Health(after, wake) => match self.core.health_poll(after.ticket, self.at(now)) {
                HealthStep::Wait(until) => {
                    let until = until.duration_since(self.t0).as_millis() as u64;
                    if until > *wake {
                        return Some(Th::Health(self.same(after), until));
                    }
                    return None;
                }
                HealthStep::Probe(probe) => Th::Probing(self.same(after), probe, now + PROBE_MS),
                HealthStep::Ready(found) => self.healthy(after, &found),
            },
            Th::Probing(after, probe, until) if *until <= now => {
                // What the probe finds: the devices as they are when it ends.
                let found = (probe.devices.iter())
                    .map(|d| {
                        let r = if self.broken.contains(d) {
                            "device wedged"
                        } else {
                            "ok"
                        };
                        (*d, r.to_string())
                    })
                    .collect();
                self.core.probe_done(probe, found, self.at(now));
                Th::Health(self.same(after), now)
            }
            _ => return None,
        })
    }

    fn same(&self, a: &After) -> After {
        After { ..*a }
    }

    /// Case `i` holds its place now.
    fn admitted(&mut self, i: usize, place: u64, unusable: Option<Unusable>) -> Th {
        let c = &self.cases[i];
        if let Some(u) = unusable {
            let v = board_needs_reset(&u.message, &u.after, &u.health);
            self.verdicts.insert(c.name, v);
            self.core.finish(place);
            return Th::Idle;
        }
        let until = self.now + c.len;
        if let Kind::Ub { .. } = c.kind {
            let started = self.at(self.now);
            let slots = self.core.child_started(c.name, c.devices, started);
            return Th::Child(i, place, started, slots, until);
        }
        // A case that ran on a device a UB child broke would fail.
        let v = if c.devices.iter().any(|d| self.broken.contains(d)) {
            verdict(Outcome::Fail, "the device did not answer")
        } else {
            verdict(Outcome::Pass, "")
        };
        self.verdicts.insert(c.name, v);
        Th::Running(place, until)
    }

    /// A UB case's health is known: its verdict, as `ub::run_isolated` makes it.
    fn healthy(&mut self, after: &After, found: &BTreeMap<u32, String>) -> Th {
        let c = &self.cases[after.case];
        let beside = self.core.health_found(c.name, after.started, found);
        let v = with_health(verdict(Outcome::Flagged, "silent-success"), found, &beside);
        self.verdicts.insert(c.name, v);
        self.core.finish(after.place);
        Th::Idle
    }
}

/// When a waiting thread next needs to look.
fn wake(th: &Th) -> Option<u64> {
    match th {
        Th::Running(_, until) | Th::Child(.., until) | Th::Probing(_, _, until) => Some(*until),
        Th::Health(_, wake) => Some(*wake),
        _ => None,
    }
}

/// Every case's verdict after a run on `threads` threads.
fn run_fake(cases: &[FakeCase], threads: usize) -> BTreeMap<&'static str, Verdict> {
    let defer = match threads {
        1 => Duration::ZERO,
        _ => Duration::from_secs(10),
    };
    let mut sim = Sim {
        cases,
        core: Core::new(defer, 0),
        t0: Instant::now(),
        now: 0,
        queue: (0..cases.len()).collect(),
        broken: BTreeSet::new(),
        verdicts: BTreeMap::new(),
    };
    for c in cases.iter().filter(|c| matches!(c.kind, Kind::Ub { .. })) {
        sim.core.expect_ub(c.devices);
    }
    let mut th: Vec<Th> = (0..threads).map(|_| Th::Idle).collect();
    loop {
        let mut moved = false;
        for slot in th.iter_mut() {
            if let Some(next) = sim.step(slot) {
                *slot = next;
                moved = true;
            }
        }
        if th.iter().all(|t| matches!(t, Th::Done)) {
            return sim.verdicts;
        }
        if !moved {
            // Every thread waits: time moves to the next thing that ends.
            let next = th.iter().filter_map(wake).filter(|w| *w > sim.now).min();
            sim.now = next.expect("every thread waits for another: a deadlock");
        }
    }
}

/// A board's run: UB cases first (as `harness::run_order`), one that ends at once and one
/// that breaks device 0 later; then child cases; then in-process cases.
fn board_cases() -> Vec<FakeCase> {
    let c = |name, devices, kind, len| FakeCase {
        name,
        devices,
        kind,
        len,
    };
    vec![
        c("ub.quick.dev0", &[0], Kind::Ub { breaks: false }, 1),
        c("ub.breaks.dev0", &[0], Kind::Ub { breaks: true }, 300),
        c("ub.fine.dev1", &[1], Kind::Ub { breaks: false }, 20),
        c("iso.dev0", &[0], Kind::Isolate, 30),
        c("iso.dev1", &[1], Kind::Isolate, 30),
        c("iso.dev1_dev1", &[1], Kind::Isolate, 30),
        c("inproc.a.dev0", &[0], Kind::InProcess, 10),
        c("inproc.a.dev1", &[1], Kind::InProcess, 10),
        c("inproc.dev0_dev1", &[0, 1], Kind::InProcess, 10),
        c("inproc.b.dev0", &[0], Kind::InProcess, 10),
        c("inproc.b.dev1", &[1], Kind::InProcess, 10),
        c("host", &[], Kind::InProcess, 10),
    ]
}

#[test]
fn every_case_that_is_not_ub_reads_the_same_at_any_thread_count() {
    let cases = board_cases();
    let serial = run_fake(&cases, 1);
    let reset =
        "board needs reset: device 0 left unusable by an undefined-behaviour case of this run";
    for c in cases.iter().filter(|c| !matches!(c.kind, Kind::Ub { .. })) {
        let v = &serial[c.name];
        if c.devices.contains(&0) {
            assert_eq!(
                (v.outcome, v.message.as_str()),
                (Outcome::Crash, reset),
                "{}",
                c.name
            );
        } else {
            assert_eq!(v.outcome, Outcome::Pass, "{}: {}", c.name, v.message);
        }
    }
    for threads in [2, 3, 4, 8, 16] {
        let par = run_fake(&cases, threads);
        assert_eq!(par.len(), cases.len());
        for c in cases.iter().filter(|c| !matches!(c.kind, Kind::Ub { .. })) {
            let (s, p) = (&serial[c.name], &par[c.name]);
            assert_eq!(
                (s.outcome, &s.message),
                (p.outcome, &p.message),
                "{} at {threads} threads",
                c.name
            );
        }
        for c in cases.iter().filter(|c| matches!(c.kind, Kind::Ub { .. })) {
            assert_eq!(par[c.name].outcome, Outcome::Flagged, "{}", c.name);
        }
    }
}

fn obs<'a>(v: &'a Verdict, key: &str) -> Option<&'a str> {
    v.observations
        .iter()
        .find(|o| o.key == key)
        .map(|o| o.value.as_str())
}

#[test]
fn a_device_broken_beside_other_ub_cases_is_said_and_blamed_only_serially() {
    let cases = board_cases();
    let serial = run_fake(&cases, 1);
    // Serially each UB case has its own probe: only the breaking case is found broken.
    assert_eq!(obs(&serial["ub.quick.dev0"], "health_after"), Some("ok"));
    assert_eq!(
        obs(&serial["ub.breaks.dev0"], "health_after"),
        Some("device wedged")
    );
    assert_eq!(obs(&serial["ub.breaks.dev0"], "health_shared_with"), None);
    assert_eq!(
        obs(&serial["inproc.a.dev0"], "unusable_after"),
        Some("ub.breaks.dev0")
    );
    // In parallel the quick case's probe waits for the breaking child and is shared: the
    // probe cannot tell which broke it, so each names the other.
    let par = run_fake(&cases, 4);
    let quick = &par["ub.quick.dev0"];
    assert_eq!(obs(quick, "health_after"), Some("device wedged"));
    assert_eq!(obs(quick, "health_shared_with"), Some("ub.breaks.dev0"));
    assert!(
        quick.message.contains("which case left it so is not known"),
        "{}",
        quick.message
    );
    assert_eq!(
        obs(&par["ub.breaks.dev0"], "health_shared_with"),
        Some("ub.quick.dev0")
    );
    assert_eq!(
        obs(&par["inproc.a.dev0"], "unusable_after"),
        Some("ub.breaks.dev0, ub.quick.dev0")
    );
    assert_eq!(obs(&par["ub.fine.dev1"], "health_after"), Some("ok"));
}
