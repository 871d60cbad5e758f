//! Compares what an op observed with what its row expects.

use crate::error::Api;
use crate::ops::{OpError, OpResult};
use crate::table::Expect;
use hil_proto::{Observation, Outcome};

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
            .push(Observation::new("header_ambiguous", note));
    }
    v
}

/// `cuda:` expectations hold for both CUDA frontends: the runtime's cudaError_t has the
/// driver's number for every code the tables name (1, 101, 304, 400, 801, 999), and a
/// row that needs a runtime-only code says `cudart:`.
fn api_matches(expected: Api, got: Api) -> bool {
    expected == got || (expected == Api::Cuda && got == Api::Cudart)
}

fn api_observations(e: &OpError) -> Vec<Observation> {
    match e {
        OpError::Api { call, code, .. } => vec![
            Observation::new("call", call),
            Observation::new("code", code),
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

    fn cuda_err(code: i64) -> OpResult {
        Err(OpError::Api {
            api: Api::Cuda,
            call: "cuX".into(),
            code,
        })
    }

    #[test]
    fn success_against_ok_passes_and_keeps_observations() {
        let v = judge(&Expect::Ok, Ok(vec![Observation::new("n", 2)]));
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
}
