use crate::{Key, Outcome};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One line of the event stream (`hil-suite --events FILE`).
///
/// `start` is written before a case runs so that a reader who sees the process die can
/// name the case that killed it (crash-resume, as in deqp-runner).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Event {
    Facts(Facts),
    Start {
        case: String,
    },
    Result {
        case: String,
        outcome: Outcome,
        duration_s: f64,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        message: String,
        /// Which implementation produced this result (e.g. `libcuda.so.1 580.159.04`,
        /// `hil reference model`): results from a model never pass for hardware results.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        implementation: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        observations: Vec<Observation>,
    },
    /// A GPU driver error line no case holds (logged while no case's kernel log window was
    /// open, or naming a GPU or process no running case has): the run keeps it itself.
    /// `line` is as the suite read it, level first (`[err] NVRM: Xid …`).
    DriverLog {
        line: String,
        /// When the suite read it (seconds since the epoch).
        seen_unix: u64,
        /// Read again from where an earlier suite process of the run stopped (it died, its
        /// watchdog stopped it, or the run restarted it): logged while that one ran or
        /// between the two.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        recovered: bool,
    },
    /// How far the suite's kernel log reading is settled (a kmsg sequence number, a file
    /// offset): every driver line before it is in a result or a `driver-log` event. The
    /// runner gives it to the next suite process of the run (`KERNEL_LOG_FROM_LINE`).
    KernelLogPos {
        pos: u64,
    },
}

/// A named fact seen while a case ran (error code, signal, value read back, …).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Observation {
    pub key: String,
    pub value: String,
}

impl Observation {
    /// An observation the protocol names (a `key::*`). What a check reports under a
    /// name of its own (an attribute) goes through `attribute`.
    pub fn new(key: Key, value: impl ToString) -> Self {
        Observation {
            key: key.as_str().to_string(),
            value: value.to_string(),
        }
    }

    /// An observation named by an external API's own name for what it holds (an
    /// NvSciSync attribute key as its header spells it, given by a table row), not by
    /// hil: the one kind of key that is not in [`crate::key`].
    pub fn attribute(name: &str, value: impl ToString) -> Self {
        Observation {
            key: name.to_string(),
            value: value.to_string(),
        }
    }

    /// Whether this observation is `key`.
    pub fn is(&self, key: Key) -> bool {
        self.key == key.as_str()
    }
}

/// The value of the first observation named `key`.
pub fn find(observations: &[Observation], key: Key) -> Option<&str> {
    observations
        .iter()
        .find(|o| o.is(key))
        .map(|o| o.value.as_str())
}

/// What the board is, as the suite probed it. Keys become JUnit properties.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Facts {
    pub suite_version: String,
    /// e.g. `arch`, `cuda.driver_version`, `cuda.version`, `cuda.device.0.name`.
    pub properties: BTreeMap<String, String>,
    /// backend name -> implementation that produced its results, or why there is none.
    pub implementations: BTreeMap<String, String>,
}

/// One case as `hil-suite --list-json` describes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseInfo {
    pub name: String,
    pub table: String,
    pub backend: String,
    pub timeout_s: f64,
    /// The rule that makes the scenario undefined, for `ub` rows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ub: Option<String>,
    /// CUDA devices the case touches: cases on disjoint devices may run at once.
    #[serde(default)]
    pub devices: Vec<u32>,
    /// `driver` or `runtime`: the CUDA frontend the case goes through.
    #[serde(default)]
    pub cuda_api: String,
    /// Runs in a process of its own (UB and `isolate` rows).
    #[serde(default)]
    pub isolated: bool,
}

impl Event {
    pub fn to_line(&self) -> String {
        // Serialising these plain types cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn from_line(line: &str) -> Result<Event, serde_json::Error> {
        serde_json::from_str(line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_event_round_trips_through_a_line() {
        let e = Event::Result {
            case: "cuda.probe.driver".into(),
            outcome: Outcome::NotSupported,
            duration_s: 0.5,
            message: "libcuda.so.1 not found".into(),
            implementation: String::new(),
            observations: vec![Observation::new(crate::key::CODE, 2)],
        };
        let line = e.to_line();
        assert!(line.contains(r#""event":"result""#), "{line}");
        assert!(line.contains(r#""outcome":"not-supported""#), "{line}");
        assert_eq!(Event::from_line(&line).unwrap(), e);
    }

    #[test]
    fn a_driver_log_event_is_one_line_named_driver_log() {
        let e = Event::DriverLog {
            recovered: false,
            line: "[err] NVRM: Xid (PCI:0000:18:00): 13, \"quoted\"\nsecond".into(),
            seen_unix: 1_700_000_000,
        };
        let line = e.to_line();
        assert!(line.starts_with(r#"{"event":"driver-log","#), "{line}");
        assert!(!line.contains('\n'), "{line}");
        assert_eq!(Event::from_line(&line).unwrap(), e);
    }

    #[test]
    fn outcome_names_parse_back() {
        for o in Outcome::ALL {
            assert_eq!(o.as_str().parse::<Outcome>().unwrap(), o);
        }
        assert!("passed"
            .parse::<Outcome>()
            .unwrap_err()
            .contains("not-supported"));
    }
}
