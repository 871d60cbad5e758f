//! Undefined-behaviour scenarios: each runs in a sacrificial child process under a
//! watchdog, and what it did (error code, signal, hang, silent success) is recorded as
//! `flagged`, never judged. A health probe in a fresh process follows (`health`); a
//! device left unusable stops the remaining GPU cases with "board needs reset".

use crate::case::Case;
use crate::child::{child_command, run_and_report, run_with_limit, signal_name, tail, ChildEnd};
use crate::verdict::Verdict;
use hil_proto::key as obs_key;
use hil_proto::{Observation, Observed, Outcome};
use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

const TAIL_LINES: usize = 12;

/// Runs `case`'s op in a child process (`--ub-child`) under the case's time limit.
/// `place`, a UB case's place with the executor, gives its devices back when the child
/// ends: its health check after it needs none. (An `isolate` case keeps them until its
/// verdict.)
fn run_case_child(
    case: &Case,
    pairs: &[u32],
    place: Option<&crate::exec::Place>,
) -> Result<ChildEnd, Verdict> {
    let devices = case.devices();
    let mut cmd = child_command(&devices);
    cmd.arg("--ub-child").arg(&case.name);
    if !pairs.is_empty() {
        cmd.arg("--ipc-pairs").arg(crate::child::pairs_text(pairs));
    }
    // Counted as running on its devices until it has ended (probes wait for it).
    let running = case
        .ub
        .is_some()
        .then(|| crate::exec::child_running(&case.name, &devices));
    let stall = case.stall_s.map(Duration::from_secs_f64);
    let limit = Duration::from_secs_f64(case.timeout_s);
    let ended = run_with_limit(cmd, limit, stall, &[]);
    if let Some(place) = place {
        place.give_back();
    }
    drop(running);
    ended.map_err(|e| Verdict {
        outcome: Outcome::Fail,
        message: format!("could not start the isolation child: {e}"),
        observations: vec![],
    })
}

/// Runs a `ub` case in a child and classifies what happened. Always `flagged`.
pub fn run_isolated(case: &Case, place: &crate::exec::Place) -> Verdict {
    let end = match run_case_child(case, place.pairs(), Some(place)) {
        Ok(end) => end,
        Err(v) => return v,
    };
    let rule = case
        .ub
        .as_ref()
        .map(|r| Observation::new(obs_key::UB_RULE, r));
    // The scenario was never reached: not-supported as its non-UB twin, and nothing for a
    // health probe to check.
    if let Some(reason) = precondition_not_supported(&end) {
        return Verdict {
            outcome: Outcome::NotSupported,
            message: reason,
            observations: rule.into_iter().collect(),
        };
    }
    let mut v = classify(&end);
    if let Some(rule) = rule {
        v.observations.insert(0, rule);
    }
    if !case.devices().is_empty() {
        // In a parallel run other UB children may have run on the device between this
        // child's start and its probe: any of them may have left it as the probe found
        // it (`beside`; serially there are none).
        let child = crate::exec::EndedChild {
            case: &case.name,
            devices: &case.devices(),
            started: end.started,
            ended: end.ended,
            window: crate::kernel_log::current_window(),
        };
        let (per_device, beside) = crate::exec::health_after(&child, crate::health::probe);
        v = crate::verdict::with_health(v, &per_device, &beside);
    }
    v
}

/// The reason, when a UB child reported its op not-supported. An op says not-supported only
/// from a probe of what the board offers (a library, an entry point, a CUDA answering 801
/// to cuDeviceGetNvSciSyncAttributes), before its scenario's undefined step: such a case
/// never ran its scenario. Any other error is what the scenario did, or may be: flagged.
fn precondition_not_supported(end: &ChildEnd) -> Option<String> {
    if end.killed_after.is_some() {
        return None;
    }
    match crate::child::reported(&end.stdout)?.ok()?.error? {
        crate::error::OpError::NotSupported(reason) => Some(reason),
        _ => None,
    }
}

/// Maps a child's end to a flagged verdict with observations.
pub fn classify(end: &ChildEnd) -> Verdict {
    let mut obs = Vec::new();
    let (kind, detail) = if let Some((step, quiet)) = &end.stalled {
        (
            Observed::Hang,
            format!(
                "no progress for {:.1}s in step `{step}`; killed",
                quiet.as_secs_f64()
            ),
        )
    } else if let Some(after) = end.killed_after {
        (
            Observed::Hang,
            format!("no exit within {:.1}s; killed", after.as_secs_f64()),
        )
    } else if let Some(reported) = crate::child::reported(&end.stdout) {
        match reported {
            Ok(cv) if cv.outcome == Outcome::Pass => {
                obs.extend(cv.observations);
                (
                    Observed::SilentSuccess,
                    "every call returned success".to_string(),
                )
            }
            Ok(cv) => {
                obs.extend(cv.observations);
                (Observed::Error, cv.message)
            }
            Err(e) => (Observed::Exit, format!("unreadable child verdict ({e})")),
        }
    } else {
        match end.status {
            Some(st) if st.signal().is_some() => (
                Observed::Signal,
                format!("killed by {}", signal_name(st.signal().unwrap_or(0))),
            ),
            Some(st) => (
                Observed::Exit,
                format!(
                    "exited with status {} before reporting",
                    st.code().unwrap_or(-1)
                ),
            ),
            None => (Observed::Exit, "vanished".to_string()),
        }
    };
    let mut observations = vec![
        Observation::new(obs_key::OBSERVED, kind.as_str()),
        Observation::new(obs_key::DETAIL, &detail),
    ];
    observations.extend(obs);
    let out = tail(&format!("{}{}", end.stdout, end.stderr), TAIL_LINES);
    if !out.is_empty() {
        observations.push(Observation::new(obs_key::OUTPUT_TAIL, out));
    }
    Verdict {
        outcome: Outcome::Flagged,
        message: format!("{kind}: {detail}"),
        observations,
    }
}

/// Runs an `isolate` row in a child and judges its result against the row, as if it had
/// run here; a child that dies is that case's crash, one that hangs its timeout. `pairs`:
/// the endpoint pairs the executor gave it.
pub fn run_judged_child(case: &Case, pairs: &[u32]) -> Verdict {
    if !crate::worker::enabled() {
        // Its place on the devices is held by the caller until the verdict.
        return match run_case_child(case, pairs, None) {
            Ok(end) => judge_child(case, end),
            Err(v) => v,
        };
    }
    match crate::worker::run(case, pairs) {
        Ok((end, lease)) => {
            let v = judge_child(case, end);
            lease.release(v.outcome == Outcome::Pass);
            v
        }
        Err(e) => Verdict {
            outcome: Outcome::Fail,
            message: format!("could not start or reach the isolation worker: {e}"),
            observations: vec![],
        },
    }
}

/// Judges an `isolate` case by how its process ended.
fn judge_child(case: &Case, end: ChildEnd) -> Verdict {
    let out = tail(&format!("{}{}", end.stdout, end.stderr), TAIL_LINES);
    let with_tail = |mut v: Verdict| {
        if !out.is_empty() && v.outcome != Outcome::Pass {
            v.observations
                .push(Observation::new(obs_key::OUTPUT_TAIL, &out));
        }
        v
    };
    if let Some(after) = end.killed_after {
        let message = match &end.stalled {
            Some((step, quiet)) => format!(
                "no progress for {:.1}s in step `{step}`; its process was killed",
                quiet.as_secs_f64()
            ),
            None => format!(
                "no result within {:.1}s; its process was killed",
                after.as_secs_f64()
            ),
        };
        return with_tail(Verdict {
            outcome: Outcome::Timeout,
            message,
            observations: vec![],
        });
    }
    let reported = crate::child::reported(&end.stdout);
    match reported {
        Some(Ok(cv)) => {
            let result = match cv.error {
                Some(e) => Err(e),
                None if cv.outcome == Outcome::Pass => Ok(cv.observations),
                None => Err(crate::error::OpError::Check(cv.message)),
            };
            with_tail(crate::verdict::judge(&case.expect, result))
        }
        Some(Err(e)) => with_tail(Verdict {
            outcome: Outcome::Crash,
            message: format!("unreadable result from the case's process ({e})"),
            observations: vec![],
        }),
        None => {
            let how = end.exit_text();
            with_tail(Verdict {
                outcome: Outcome::Crash,
                message: format!("the case's process ended without a result ({how})"),
                observations: vec![],
            })
        }
    }
}

/// `hil-suite --ub-child CASE [--ipc-pairs LIST]`: run the op here, print the verdict
/// line, exit 0. Whatever the op does to this process (signal, hang) is the observation.
pub fn child_main(case: &Case, pairs: &[u32]) -> ! {
    crate::progress::enable();
    run_and_report(case, pairs);
    std::process::exit(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::child::{ChildVerdict, RESULT_MARK};
    use crate::error::OpError;
    use std::time::Instant;

    fn ended(error: OpError) -> ChildEnd {
        let cv = ChildVerdict {
            outcome: Outcome::Fail,
            message: error.to_string(),
            observations: vec![],
            error: Some(error),
        };
        let now = Instant::now();
        ChildEnd {
            status: None,
            killed_after: None,
            stalled: None,
            stdout: format!("{RESULT_MARK}{}\n", serde_json::to_string(&cv).unwrap()),
            stderr: String::new(),
            started: now,
            ended: now,
        }
    }

    #[test]
    fn a_ub_child_whose_precondition_is_not_supported_never_reached_its_scenario() {
        let why = "cuDeviceGetNvSciSyncAttributes returned 801 (CUDA_ERROR_NOT_SUPPORTED) for device 0: this CUDA has no NvSciSync support";
        assert_eq!(
            precondition_not_supported(&ended(OpError::NotSupported(why.into()))).as_deref(),
            Some(why)
        );
        // An API error is what the scenario did (or may be): flagged, as before.
        let api = ended(OpError::Api {
            api: crate::error::Api::Cuda,
            call: "cuImportExternalSemaphore".into(),
            code: 999,
        });
        assert_eq!(precondition_not_supported(&api), None);
        assert_eq!(classify(&api).outcome, Outcome::Flagged);
        let mut killed = ended(OpError::NotSupported(why.into()));
        killed.killed_after = Some(Duration::from_secs(1));
        assert_eq!(precondition_not_supported(&killed), None);
    }
}
