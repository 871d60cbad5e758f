//! Compares what an op observed with what its row expects.

use crate::error::Api;
use crate::kernel_log::{Attributed, Seen};
use crate::ops::{OpError, OpResult};
use crate::table::Expect;
use hil_proto::key as obs_key;
use hil_proto::{Observation, Observed, Outcome};
use std::collections::{BTreeMap, BTreeSet};

/// Driver log lines kept per case in its observation; the rest are counted.
const MAX_LOG_LINES: usize = 20;

#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub outcome: Outcome,
    pub message: String,
    pub observations: Vec<Observation>,
}

pub fn judge(expect: &Expect, result: OpResult) -> Verdict {
    let v = |outcome, message: String, observations| Verdict {
        outcome,
        message,
        observations,
    };
    match (expect, result) {
        (_, Err(OpError::NotSupported(reason))) => v(Outcome::NotSupported, reason, vec![]),
        (_, Err(e @ (OpError::Check(_) | OpError::Row(_)))) => {
            v(Outcome::Fail, e.to_string(), vec![])
        }
        (Expect::Ok, Ok(obs)) => v(Outcome::Pass, String::new(), obs),
        (Expect::Ok, Err(e @ OpError::Api { .. })) => {
            let obs = api_observations(&e);
            v(Outcome::Fail, format!("expected success, but {e}"), obs)
        }
        // 0 among the codes: the documentation also allows success (the op's checks held).
        (Expect::Error { codes, .. }, Ok(obs)) if codes.contains(&0) => v(
            Outcome::Pass,
            "as allowed, every call succeeded".into(),
            obs,
        ),
        (Expect::Error { api, codes }, Ok(obs)) => v(
            Outcome::Fail,
            format!(
                "expected {api} error {}, but every call succeeded",
                alternatives(codes)
            ),
            obs,
        ),
        (Expect::Error { api, codes }, Err(e @ OpError::Api { .. })) => {
            let obs = api_observations(&e);
            let OpError::Api {
                api: got_api, code, ..
            } = &e
            else {
                unreachable!()
            };
            if api_matches(*api, *got_api) && codes.contains(code) {
                v(Outcome::Pass, format!("as expected, {e}"), obs)
            } else {
                v(
                    Outcome::Fail,
                    format!("expected {api} error {}, but {e}", alternatives(codes)),
                    obs,
                )
            }
        }
    }
}

/// Marks a pass or fail of a row whose expectation rests on a reading of ambiguous
/// documentation: the message says so first, and an observation carries the reading, so
/// a reader sees which verdicts are interpretation rather than documented fact.
pub fn rests_on_interpretation(mut v: Verdict, note: &str) -> Verdict {
    if matches!(v.outcome, Outcome::Pass | Outcome::Fail) {
        v.message = if v.message.is_empty() {
            format!("header ambiguous: {note}")
        } else {
            format!("header ambiguous: {note}; {}", v.message)
        };
        v.observations
            .push(Observation::new(obs_key::HEADER_AMBIGUOUS, note));
    }
    v
}

/// A verdict amended by what its case's kernel log window saw: observations always; a
/// pass with an unexpected driver error line becomes a fail quoting it, and a UB
/// scenario's "silent success" becomes "driver-logged". `expected`: the row's
/// `expect_driver_log`.
pub fn with_driver_log(mut v: Verdict, seen: &Seen, expected: &[String]) -> Verdict {
    let (ok, unexpected): (Vec<&Attributed>, Vec<&Attributed>) = seen.lines.iter().partition(|a| {
        expected
            .iter()
            .any(|p| a.line.record.text.contains(p.as_str()))
    });
    v.observations
        .extend(driver_log_observations(seen, &ok, &unexpected));
    let errors: Vec<&&Attributed> = unexpected.iter().filter(|a| a.line.is_error()).collect();
    let Some(first) = errors.first() else {
        return v;
    };
    let mut quote = first.line.record.text.clone();
    if errors.len() > 1 {
        quote.push_str(&format!(" (and {} more line(s))", errors.len() - 1));
    }
    if !first.shared_with.is_empty() {
        quote.push_str(&format!(
            "; logged while {} also ran, the line may be theirs",
            first.shared_with.join(", ")
        ));
    }
    match v.outcome {
        Outcome::Pass => {
            v.outcome = Outcome::Fail;
            // A pass on an expected error code keeps saying so.
            let what = if v.message.is_empty() {
                "every call succeeded"
            } else {
                v.message.as_str()
            };
            v.message = format!("{what}, but the driver logged: {quote}");
        }
        Outcome::Flagged => {
            let silent = v
                .observations
                .iter()
                .any(|o| o.key == obs_key::OBSERVED && o.value == Observed::SilentSuccess.as_str());
            if silent {
                let detail = format!("every call returned success, but the driver logged: {quote}");
                for o in v.observations.iter_mut() {
                    if o.key == obs_key::OBSERVED {
                        o.value = Observed::DriverLogged.as_str().into();
                    } else if o.key == obs_key::DETAIL {
                        o.value = detail.clone();
                    }
                }
                v.message = format!("{}: {detail}", Observed::DriverLogged);
            }
        }
        _ => {}
    }
    v
}

/// What a window saw, as observations: the lines (`ok`: expected by the row), the cases
/// they are shared with, a taint change, a read error, records lost.
fn driver_log_observations(
    seen: &Seen,
    ok: &[&Attributed],
    unexpected: &[&Attributed],
) -> Vec<Observation> {
    let listing = |lines: &[&Attributed]| {
        let mut s: Vec<String> = lines
            .iter()
            .take(MAX_LOG_LINES)
            .map(|a| a.line.render())
            .collect();
        if lines.len() > MAX_LOG_LINES {
            s.push(format!("… {} more line(s)", lines.len() - MAX_LOG_LINES));
        }
        s.join("\n")
    };
    let mut obs = Vec::new();
    if !unexpected.is_empty() {
        obs.push(Observation::new(obs_key::DRIVER_LOG, listing(unexpected)));
    }
    if !ok.is_empty() {
        obs.push(Observation::new(obs_key::DRIVER_LOG_EXPECTED, listing(ok)));
    }
    let shared: BTreeSet<&str> = seen
        .lines
        .iter()
        .flat_map(|a| a.shared_with.iter().map(String::as_str))
        .collect();
    if !shared.is_empty() {
        let names: Vec<&str> = shared.into_iter().collect();
        obs.push(Observation::new(
            hil_proto::key::DRIVER_LOG_SHARED_WITH,
            names.join(", "),
        ));
    }
    if let Some((before, after)) = seen.taint {
        obs.push(Observation::new(
            obs_key::KERNEL_TAINT,
            format!("{before} -> {after}"),
        ));
    }
    if let Some(e) = &seen.error {
        obs.push(Observation::new(
            obs_key::KERNEL_LOG_ERROR,
            format!("reading the kernel log failed during the case: {e}"),
        ));
    }
    if seen.lost > 0 {
        obs.push(Observation::new(
            obs_key::KERNEL_LOG_LOST,
            format!("{} record(s) overwritten before they were read", seen.lost),
        ));
    }
    obs
}

/// The verdict of a case on a device a UB case of this run left unusable: no trustworthy
/// verdict until the board is reset. `why` says which devices; `after`, the UB cases whose
/// probes found them so, and `health`, what those probes said (in a parallel run a probe
/// shared by cases run together names them all).
pub fn board_needs_reset(why: &str, after: &[String], health: &[String]) -> Verdict {
    Verdict {
        outcome: Outcome::Crash,
        message: format!("board needs reset: {why}"),
        observations: vec![
            Observation::new(obs_key::BOARD_NEEDS_RESET, true),
            Observation::new(obs_key::UNUSABLE_AFTER, after.join(", ")),
            Observation::new(obs_key::UNUSABLE_HEALTH, health.join(" / ")),
        ],
    }
}

/// "ok" when every device is, else the distinct problems.
pub fn health_summary<'a>(results: impl Iterator<Item = &'a String>) -> String {
    let mut bad: Vec<String> = Vec::new();
    for r in results {
        if r != "ok" && !bad.contains(r) {
            bad.push(r.clone());
        }
    }
    if bad.is_empty() {
        "ok".into()
    } else {
        bad.join("; ")
    }
}

/// A UB case's verdict amended by the health probe after it: `per_device` is what the
/// probe found on each device ("ok" or the problem), `beside` the other UB cases whose
/// children ran on a failed device before the probe (in a parallel run; serially none):
/// any of them may have left it so, which is said, never guessed.
pub fn with_health(
    mut v: Verdict,
    per_device: &BTreeMap<u32, String>,
    beside: &[String],
) -> Verdict {
    let health = health_summary(per_device.values());
    v.observations
        .push(Observation::new(obs_key::HEALTH_AFTER, &health));
    if !beside.is_empty() {
        v.observations.push(Observation::new(
            hil_proto::key::HEALTH_SHARED_WITH,
            beside.join(", "),
        ));
    }
    for (d, r) in per_device.iter().filter(|(_, r)| *r != "ok") {
        // For hil-run: a suite it restarts on this board is told (`--cases-from`).
        v.observations.push(Observation::new(
            hil_proto::key::DEVICE_UNUSABLE,
            format!("{d}: {r}"),
        ));
    }
    if health != "ok" {
        v.message
            .push_str(&format!("; board needs reset ({health})"));
        if !beside.is_empty() {
            v.message.push_str(&format!(
                "; {} other UB case(s) ran on the device before its probe, so which \
                 case left it so is not known (`{}`)",
                beside.len(),
                hil_proto::key::HEALTH_SHARED_WITH
            ));
        }
    }
    v
}

/// `cuda:` expectations hold for both CUDA frontends: the runtime's cudaError_t has the
/// driver's number for every code the tables name (1, 101, 304, 400, 801, 999), and a
/// row that needs a runtime-only code says `cudart:`.
fn api_matches(expected: Api, got: Api) -> bool {
    expected == got || (expected == Api::Cuda && got == Api::Cudart)
}

/// The call and code of an API error, as observations.
pub(crate) fn api_observations(e: &OpError) -> Vec<Observation> {
    match e {
        OpError::Api { call, code, .. } => vec![
            Observation::new(obs_key::CALL, call),
            Observation::new(obs_key::CODE, code),
        ],
        _ => vec![],
    }
}

fn alternatives(codes: &[i64]) -> String {
    let v: Vec<_> = codes.iter().map(|c| c.to_string()).collect();
    v.join(" or ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel_log;

    const XID: &str = "3,812,4017721337,-;NVRM: Xid (PCI:0000:18:00): 31, pid=4242, name=hil-suite, Ch 00000008, intr 00000000. MMU Fault: ENGINE GRAPHICS GPC0 GPCCLIENT_T1_0 faulted @ 0x7f12_34560000. Fault is of type FAULT_PDE ACCESS_TYPE_VIRT_READ";

    fn line(raw: &str) -> kernel_log::Line {
        kernel_log::Line::new(kernel_log::source::parse_record(raw))
    }

    fn verdict(outcome: Outcome, obs: Vec<Observation>) -> Verdict {
        Verdict {
            outcome,
            message: String::new(),
            observations: obs,
        }
    }

    fn seen(raw: &[&str], shared: &[&str]) -> kernel_log::Seen {
        kernel_log::Seen {
            lines: raw
                .iter()
                .map(|r| kernel_log::Attributed {
                    line: line(r),
                    shared_with: shared.iter().map(|s| s.to_string()).collect(),
                })
                .collect(),
            ..kernel_log::Seen::default()
        }
    }

    #[test]
    fn a_pass_with_a_driver_error_fails_quoting_it_unless_expected() {
        let mut v = verdict(Outcome::Pass, vec![]);
        v = with_driver_log(v, &seen(&[XID], &["other.case"]), &[]);
        assert_eq!(v.outcome, Outcome::Fail);
        assert!(
            v.message.contains("NVRM: Xid (PCI:0000:18:00): 31"),
            "{}",
            v.message
        );
        assert!(v.message.contains("other.case"), "{}", v.message);
        let obs = |v: &Verdict, k: &str| {
            v.observations
                .iter()
                .find(|o| o.key == k)
                .map(|o| o.value.clone())
        };
        assert_eq!(
            obs(&v, "driver_log_shared_with").as_deref(),
            Some("other.case")
        );

        let mut v = verdict(Outcome::Pass, vec![]);
        v = with_driver_log(v, &seen(&[XID], &[]), &["Xid (PCI:0000:18:00): 31".into()]);
        assert_eq!(v.outcome, Outcome::Pass);
        assert!(obs(&v, "driver_log_expected").is_some());
        assert!(obs(&v, "driver_log").is_none());

        let mut v = verdict(Outcome::Pass, vec![]);
        v.message = "as expected, cuX returned 700".into();
        v = with_driver_log(v, &seen(&[XID], &[]), &[]);
        assert!(
            v.message
                .starts_with("as expected, cuX returned 700, but the driver logged: NVRM: Xid"),
            "{}",
            v.message
        );

        let mut v = verdict(Outcome::Pass, vec![]);
        v = with_driver_log(
            v,
            &seen(&["6,1,1,-;NVRM: GPU at PCI:0000:18:00 info"], &[]),
            &[],
        );
        assert_eq!(v.outcome, Outcome::Pass, "an info line is kept, not judged");
        assert!(obs(&v, "driver_log").is_some());
    }

    #[test]
    fn silent_success_becomes_driver_logged() {
        let mut v = verdict(
            Outcome::Flagged,
            vec![
                Observation::new(hil_proto::key::OBSERVED, "silent-success"),
                Observation::new(hil_proto::key::DETAIL, "every call returned success"),
            ],
        );
        v = with_driver_log(v, &seen(&[XID], &[]), &[]);
        assert_eq!(v.outcome, Outcome::Flagged);
        assert_eq!(v.observations[0].value, "driver-logged");
        assert!(v.observations[1]
            .value
            .contains("but the driver logged: NVRM: Xid"));
        assert!(v.message.starts_with("driver-logged: "), "{}", v.message);
    }

    fn cuda_err(code: i64) -> OpResult {
        Err(OpError::Api {
            api: Api::Cuda,
            call: "cuX".into(),
            code,
        })
    }

    #[test]
    fn success_against_ok_passes_and_keeps_observations() {
        let v = judge(
            &Expect::Ok,
            Ok(vec![Observation::new(hil_proto::key::N, 2)]),
        );
        assert_eq!(v.outcome, Outcome::Pass);
        assert_eq!(v.observations[0].value, "2");
    }

    #[test]
    fn expected_error_code_passes_and_other_code_fails() {
        let e = Expect::Error {
            api: Api::Cuda,
            codes: vec![1, 999],
        };
        assert_eq!(judge(&e, cuda_err(999)).outcome, Outcome::Pass);
        let v = judge(&e, cuda_err(801));
        assert_eq!(v.outcome, Outcome::Fail);
        assert!(
            v.message.contains("expected CUDA error 1 or 999"),
            "{}",
            v.message
        );
        assert!(v.message.contains("801"), "{}", v.message);
    }

    #[test]
    fn same_code_from_another_api_is_not_a_match() {
        let e = Expect::Error {
            api: Api::Nvsci,
            codes: vec![1],
        };
        assert_eq!(judge(&e, cuda_err(1)).outcome, Outcome::Fail);
    }

    #[test]
    fn success_where_an_error_was_expected_fails() {
        let e = Expect::Error {
            api: Api::Cuda,
            codes: vec![1],
        };
        assert_eq!(judge(&e, Ok(vec![])).outcome, Outcome::Fail);
    }

    #[test]
    fn zero_among_expected_codes_accepts_success() {
        let e = Expect::Error {
            api: Api::Nvsci,
            codes: vec![0, 0x100],
        };
        let v = judge(&e, Ok(vec![]));
        assert_eq!(v.outcome, Outcome::Pass, "{}", v.message);
        let nvsci = |code| {
            Err(OpError::Api {
                api: Api::Nvsci,
                call: "NvSciSyncX".into(),
                code,
            })
        };
        assert_eq!(judge(&e, nvsci(0x100)).outcome, Outcome::Pass);
        assert_eq!(judge(&e, nvsci(0x10100)).outcome, Outcome::Fail);
        // The op's own checks still decide: a failed check is a fail.
        let v = judge(&e, Err(OpError::Check("valid=true".into())));
        assert_eq!(v.outcome, Outcome::Fail);
    }

    #[test]
    fn an_interpreted_verdict_says_so_and_keeps_its_outcome() {
        let pass = judge(&Expect::Ok, Ok(vec![]));
        let v = rests_on_interpretation(pass, "2.0 names no code");
        assert_eq!(v.outcome, Outcome::Pass);
        assert_eq!(v.message, "header ambiguous: 2.0 names no code");
        assert!(v
            .observations
            .iter()
            .any(|o| o.key == "header_ambiguous" && o.value == "2.0 names no code"));
        let ns = judge(&Expect::Ok, Err(OpError::NotSupported("no lib".into())));
        assert_eq!(rests_on_interpretation(ns, "x").message, "no lib");
    }

    #[test]
    fn not_supported_wins_over_any_expectation() {
        let e = Expect::Error {
            api: Api::Cuda,
            codes: vec![1],
        };
        let v = judge(
            &e,
            Err(OpError::NotSupported("libcuda.so.1 not found".into())),
        );
        assert_eq!(v.outcome, Outcome::NotSupported);
        assert_eq!(v.message, "libcuda.so.1 not found");
    }

    #[test]
    fn a_failed_probe_says_board_needs_reset_and_names_the_cases_run_beside() {
        let flagged = || verdict(Outcome::Flagged, vec![]);
        let ok: BTreeMap<u32, String> = [(0, "ok".to_string())].into();
        let v = with_health(flagged(), &ok, &[]);
        assert_eq!(v.message, "");
        assert_eq!(
            v.observations,
            [Observation::new(hil_proto::key::HEALTH_AFTER, "ok")]
        );
        let bad: BTreeMap<u32, String> = [
            (0, "ok".to_string()),
            (1, "health probe hung for 60s".to_string()),
        ]
        .into();
        let v = with_health(flagged(), &bad, &["b.ub".to_string()]);
        assert_eq!(
            v.message,
            "; board needs reset (health probe hung for 60s); 1 other UB case(s) ran on the \
             device before its probe, so which case left it so is not known \
             (`health_shared_with`)"
        );
        let keys: Vec<&str> = v.observations.iter().map(|o| o.key.as_str()).collect();
        assert_eq!(
            keys,
            ["health_after", "health_shared_with", "device_unusable"]
        );
        assert_eq!(v.observations[2].value, "1: health probe hung for 60s");
        let r = board_needs_reset("device 1 left unusable", &["b.ub".into()], &["x".into()]);
        assert_eq!(r.outcome, Outcome::Crash);
        assert_eq!(r.message, "board needs reset: device 1 left unusable");
    }
}
