//! Turns cases into libtest-mimic trials. Each trial: `start` event, preflight probe,
//! the op (in-process, or isolated in a child for `ub` and `isolate` rows), verdict,
//! `result` event. Trials run on libtest's threads; the executor (`exec`) decides when a
//! case may use its devices, so a verdict never depends on what runs beside it.

use crate::case::Case;
use crate::ops::Ctx;
use crate::verdict::{judge, Verdict};
use crate::{backend, events, ub, watchdog};
use hil_proto::{Event, Outcome};
use libtest_mimic::{Completion, Failed, Trial};
use std::time::Instant;

/// The trials of a run, in `run_order` at any thread count (listing keeps table order).
/// The UB cases that `args` selects are registered with the executor, which holds the
/// other cases on their devices until they have finished.
pub fn trials(mut cases: Vec<Case>, args: &libtest_mimic::Arguments) -> Vec<Trial> {
    if !args.list {
        cases = run_order(cases);
    }
    // cargo-nextest asks `--list --ignored` which cases to show as skipped: those this
    // board cannot run (each case's preflight, the probe that makes it not-supported) and
    // the UB scenarios (flagged, never a pass). Probed the same with `--ignored`, so that
    // running one selects what the listing named; a plain run (hil-run's) runs them all.
    let probe = args.list || args.ignored;
    let mut wants_pairs = false;
    let trials = cases
        .into_iter()
        .map(|case| {
            let ub_devices = case.ub.as_ref().map(|_| case.devices());
            let pairs = crate::ops::ipc_pairs_needed(&case) > 0;
            let skip = probe && (case.ub.is_some() || backend::preflight(&case).is_err());
            // No `with_kind`: it prefixes `--list` lines, which cargo-nextest cannot parse.
            let trial = Trial::ignorable_test(case.name.clone(), move || run_trial(&case))
                .with_ignored_flag(skip);
            if !args.list && !args.is_filtered_out(&trial) {
                if let Some(devices) = ub_devices {
                    crate::exec::expect_ub(&devices);
                }
                wants_pairs |= pairs;
            }
            trial
        })
        .collect();
    if wants_pairs {
        withhold_busy_pairs();
    }
    trials
}

/// Before any case runs: the endpoints of `ipc_endpoints` are probed once; a pair another
/// process holds is never given to a case (each that needs one says why), so which pairs a
/// case can get does not depend on how many cases run at once.
fn withhold_busy_pairs() {
    let held = crate::ops::ipc_probe_endpoints();
    for why in held.values() {
        eprintln!(
            "hil-suite: endpoint pair {why}: another process has it open; this run does not \
             use it"
        );
    }
    crate::exec::withhold_pairs(&held);
}

/// UB cases first (rows expected to stall first: they wait out `stall_s`; then the
/// longest limit first: they are the long ones, hangs and process start-up), then the
/// other child cases, then in-process cases round-robin over their device sets.
pub fn run_order(cases: Vec<Case>) -> Vec<Case> {
    let (mut children, local): (Vec<Case>, Vec<Case>) =
        cases.into_iter().partition(|c| c.in_child());
    children.sort_by(|a, b| {
        (b.ub.is_some().cmp(&a.ub.is_some()))
            .then(b.stall_s.is_some().cmp(&a.stall_s.is_some()))
            .then(b.timeout_s.total_cmp(&a.timeout_s))
    });
    let mut groups: Vec<(Vec<u32>, std::collections::VecDeque<Case>)> = Vec::new();
    for c in local {
        let key = c.devices();
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, g)) => g.push_back(c),
            None => groups.push((key, [c].into())),
        }
    }
    let mut out = children;
    while groups.iter().any(|(_, g)| !g.is_empty()) {
        for (_, g) in groups.iter_mut() {
            out.extend(g.pop_front());
        }
    }
    out
}

/// What a case asks of the executor (`exec::core::Want`).
fn want(case: &Case) -> crate::exec::core::Want {
    use crate::exec::core::{Mode, Want};
    let devices = case.devices();
    let ub = case.ub.is_some();
    let pairs = crate::ops::ipc_pairs_needed(case);
    if ub || (case.isolate && !crate::worker::enabled()) {
        let mode = Mode::Shared;
        return Want {
            devices,
            mode,
            whole_process: false,
            ub,
            pairs,
        };
    }
    // In-process cases, and `isolate` cases in a worker: one worker per device set
    // (`worker`), so they take their devices alone rather than queue behind it.
    let whole_process = !case.in_child() && crate::fdcheck::supported().is_err();
    let mode = Mode::Exclusive;
    Want {
        devices,
        mode,
        whole_process,
        ub,
        pairs,
    }
}

fn run_trial(case: &Case) -> Result<Completion, Failed> {
    // Admitted before its start is reported, so that waiting for a device never counts
    // against its time limit.
    let (place, unusable) = crate::exec::admit(want(case));
    events::emit(&Event::Start {
        case: case.name.clone(),
    });
    let started = Instant::now();
    // The kernel log window spans the whole case, a UB case's health probe included.
    let window = crate::kernel_log::begin(&case.name, case.devices(), case.in_child());
    let (mut verdict, implementation) = match unusable {
        // A device a UB case left unusable gives no trustworthy verdict until it is reset;
        // UB cases still run (the executor never says so to them), as do cases on other
        // devices.
        Some(u) => {
            let v = crate::verdict::board_needs_reset(&u.message, &u.after, &u.health);
            (v, String::new())
        }
        None => run_case(case, &place),
    };
    if let Some(w) = window {
        let seen = crate::kernel_log::end(w);
        verdict = crate::verdict::with_driver_log(verdict, &seen, &case.expect_driver_log);
    }
    let e = Event::Result {
        case: case.name.clone(),
        outcome: verdict.outcome,
        duration_s: started.elapsed().as_secs_f64(),
        message: verdict.message.clone(),
        implementation,
        observations: verdict.observations.clone(),
    };
    events::emit(&e);
    // After the result: a suite that dies now has lost none of this case's lines.
    crate::kernel_log::emit_position();
    drop(place);
    // libtest has pass/fail/ignored only: the event stream carries the real outcome.
    match verdict.outcome {
        Outcome::Pass => Ok(Completion::Completed),
        Outcome::NotSupported | Outcome::Flagged => Ok(Completion::ignored_with(format!(
            "{}: {}",
            verdict.outcome, verdict.message
        ))),
        Outcome::Fail | Outcome::Crash | Outcome::Timeout => {
            Err(format!("{}: {}", verdict.outcome, verdict.message).into())
        }
    }
}

/// Runs one case to a verdict and names the implementation that produced it. `place`: its
/// place with the executor, which a UB case gives back when its child ends.
pub fn run_case(case: &Case, place: &crate::exec::Place) -> (Verdict, String) {
    let implementation = match backend::preflight(case) {
        Ok(imp) => imp,
        Err(e) => return (judge(&case.expect, Err(e)), String::new()),
    };
    if let Some(e) = pairs_refused(case, place) {
        return (judge(&case.expect, Err(e)), implementation);
    }
    let verdict = if case.ub.is_some() {
        ub::run_isolated(case, place)
    } else if case.isolate {
        ub::run_judged_child(case, place.pairs())
    } else {
        let _guard = watchdog::watch(case);
        run_op(case, place.pairs())
    };
    let verdict = match &case.header_ambiguous {
        Some(note) => crate::verdict::rests_on_interpretation(verdict, note),
        None => verdict,
    };
    (verdict, implementation)
}

/// Why a cross-process case cannot have its endpoint pairs: known only to this process
/// (its start probe, its executor), so said here, for a case of any kind, before it starts
/// a child.
fn pairs_refused(case: &Case, place: &crate::exec::Place) -> Option<crate::error::OpError> {
    if crate::ops::ipc_pairs_needed(case) == 0 {
        return None;
    }
    if let Err(e) = crate::ops::ipc_endpoints_offered() {
        return Some(e);
    }
    let short = place.pairs_short()?;
    Some(crate::error::OpError::NotSupported(short.to_string()))
}

/// The op itself, in this process, with the endpoint pairs the executor gave it.
pub fn run_op(case: &Case, pairs: &[u32]) -> Verdict {
    let op = match crate::ops::find(&case.op) {
        Some(op) => op,
        None => {
            return judge(
                &case.expect,
                Err(crate::error::OpError::Row(format!(
                    "unknown op `{}`",
                    case.op
                ))),
            )
        }
    };
    judge(&case.expect, (op.run)(&Ctx { case, pairs }))
}
