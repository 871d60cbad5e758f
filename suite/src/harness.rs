//! Turns cases into libtest-mimic trials. Each trial: `start` event, preflight probe,
//! the op (in-process, or isolated in a child for `ub` and `isolate` rows), verdict,
//! `result` event. Trials run on libtest's threads; `gate` keeps an in-process case
//! alone on its devices, so a verdict never depends on what runs beside it.

use crate::case::Case;
use crate::ops::Ctx;
use crate::verdict::{judge, Verdict};
use crate::{backend, events, ub, watchdog};
use hil_proto::{Event, Outcome};
use libtest_mimic::{Completion, Failed, Trial};
use std::time::Instant;

/// `reorder`: start the cases in child processes (long: UB hangs, process start-up)
/// first and spread in-process cases over their devices, so threads rarely wait on the
/// gate. Listing keeps table order.
pub fn trials(mut cases: Vec<Case>, reorder: bool) -> Vec<Trial> {
    if reorder {
        cases = run_order(cases);
    }
    cases
        .into_iter()
        // No `with_kind`: it prefixes `--list` lines, which cargo-nextest cannot parse.
        .map(|case| Trial::ignorable_test(case.name.clone(), move || run_trial(&case)))
        .collect()
}

/// Children first (rows expected to stall first: they wait out `stall_s`; then the
/// longest limit first), then in-process cases round-robin over their device sets.
pub fn run_order(cases: Vec<Case>) -> Vec<Case> {
    let (mut children, local): (Vec<Case>, Vec<Case>) =
        cases.into_iter().partition(|c| c.in_child());
    children.sort_by(|a, b| {
        (b.stall_s.is_some().cmp(&a.stall_s.is_some())).then(b.timeout_s.total_cmp(&a.timeout_s))
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

/// What a case holds while it runs (see `gate`).
fn enter_gate(case: &Case) -> crate::gate::Pass {
    use crate::gate::{self, Mode};
    let mut keys: Vec<u64> = case.devices().into_iter().map(gate::device).collect();
    if case.in_child() {
        return gate::enter(&keys, Mode::Shared);
    }
    if crate::fdcheck::supported().is_err() {
        keys.push(gate::PROCESS);
    }
    gate::enter(&keys, Mode::Exclusive)
}

fn run_trial(case: &Case) -> Result<Completion, Failed> {
    let _pass = enter_gate(case);
    events::emit(&Event::Start {
        case: case.name.clone(),
    });
    let started = Instant::now();
    // The kernel log window spans the whole case, a UB case's health probe included.
    let window = crate::kernel_log::begin(case);
    let (mut verdict, implementation) = run_case(case);
    if let Some(w) = window {
        crate::kernel_log::end(w, case, &mut verdict);
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

/// Runs one case to a verdict and names the implementation that produced it.
pub fn run_case(case: &Case) -> (Verdict, String) {
    if let Some(reason) = ub::board_needs_reset() {
        // Cases that name devices need a working board; the rest still run.
        if !case.devices().is_empty() {
            let v = Verdict {
                outcome: Outcome::Crash,
                message: format!("board needs reset: {reason}"),
                observations: vec![hil_proto::Observation::new("board_needs_reset", true)],
            };
            return (v, String::new());
        }
    }
    let implementation = match backend::preflight(case) {
        Ok(imp) => imp,
        Err(e) => return (judge(&case.expect, Err(e)), String::new()),
    };
    let verdict = if case.ub.is_some() {
        ub::run_isolated(case)
    } else if case.isolate {
        ub::run_judged_child(case)
    } else {
        let _guard = watchdog::watch(case);
        run_op(case)
    };
    (verdict, implementation)
}

/// The op itself, in this process.
pub fn run_op(case: &Case) -> Verdict {
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
    judge(&case.expect, (op.run)(&Ctx { case }))
}
