use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// What happened to one case. Documented for users in `docs/outcomes.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// The implementation behaved as the table row expects.
    Pass,
    /// It did not: the message says what was expected and what was seen.
    Fail,
    /// The platform lacks what the case needs; the message is the probed reason.
    NotSupported,
    /// An undefined-behaviour scenario ran in isolation; the observation is recorded, never judged.
    Flagged,
    /// The suite process died while the case ran (signal, abort, lost connection).
    Crash,
    /// The case ran past its time limit and was killed.
    Timeout,
}

impl Outcome {
    pub const ALL: [Outcome; 6] = [
        Outcome::Pass,
        Outcome::Fail,
        Outcome::NotSupported,
        Outcome::Flagged,
        Outcome::Crash,
        Outcome::Timeout,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Fail => "fail",
            Outcome::NotSupported => "not-supported",
            Outcome::Flagged => "flagged",
            Outcome::Crash => "crash",
            Outcome::Timeout => "timeout",
        }
    }

    /// Outcomes that make a run unsuccessful when no baseline says otherwise.
    pub fn is_failure(self) -> bool {
        matches!(self, Outcome::Fail | Outcome::Crash | Outcome::Timeout)
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Outcome {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Outcome::ALL
            .into_iter()
            .find(|o| o.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<_> = Outcome::ALL.iter().map(|o| o.as_str()).collect();
                format!(
                    "unknown outcome `{s}`; expected one of: {}",
                    names.join(", ")
                )
            })
    }
}
