//! Turns cases into libtest-mimic trials. Each trial: `start` event, preflight probe,
//! the op (in-process, or isolated in a child for `ub` rows), verdict, `result` event.

use crate::case::Case;
use crate::ops::Ctx;
use crate::verdict::{judge, Verdict};
use crate::{backend, events, ub, watchdog};
use hil_proto::{Event, Outcome};
use libtest_mimic::{Completion, Failed, Trial};
use std::time::Instant;

pub fn trials(cases: Vec<Case>) -> Vec<Trial> {
    cases
        .into_iter()
        // No `with_kind`: it prefixes `--list` lines, which cargo-nextest cannot parse.
        .map(|case| Trial::ignorable_test(case.name.clone(), move || run_trial(&case)))
        .collect()
}

fn run_trial(case: &Case) -> Result<Completion, Failed> {
    events::emit(&Event::Start {
        case: case.name.clone(),
    });
    let started = Instant::now();
    let (verdict, implementation) = run_case(case);
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
