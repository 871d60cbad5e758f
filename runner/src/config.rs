//! The configuration a run's results were produced under, and what `--resume` compares:
//! a journal holds results of one configuration only (one suite build, one set of tables,
//! one driver and its libraries, one set of verdict-changing settings).

use crate::journal::RunConfig;
use hil_proto::settings::VOLATILE_FACTS;
use hil_proto::Facts;
use std::collections::BTreeMap;

/// hil-run's setting keys (`setting.NAME` in the run configuration).
pub const TEST_THREADS: &str = "setting.test_threads";
pub const RETRY: &str = "setting.retry";
pub const FILTER: &str = "setting.filter";
pub const INCLUDE: &str = "setting.include";
pub const SKIP: &str = "setting.skip";
pub const SHARD: &str = "setting.shard";
pub const RERUN_FAILED: &str = "setting.rerun_failed";
pub const TABLES: &str = "setting.tables";

/// The value of a setting left at its default.
pub const DEFAULT: &str = "default";

/// A case-list file as recorded: its path and the SHA-256 of what it held.
pub fn file_setting(paths: &[std::path::PathBuf]) -> String {
    use sha2::{Digest, Sha256};
    if paths.is_empty() {
        return DEFAULT.to_string();
    }
    paths
        .iter()
        .map(|p| {
            let hash = match std::fs::read(p) {
                Ok(b) => Sha256::digest(&b)
                    .iter()
                    .map(|x| format!("{x:02x}"))
                    .collect::<String>(),
                Err(e) => format!("unreadable ({e})"),
            };
            format!("{} sha256:{hash}", p.display())
        })
        .collect::<Vec<_>>()
        .join("; ")
}

impl RunConfig {
    /// Whether the run planned every case the board listed (skip lists aside, whose cases
    /// are kept as skipped). Unknown for a journal older than the record: then no.
    pub fn planned_whole_listing(&self, planned: usize, skipped: usize) -> bool {
        self.listed == Some(planned + skipped)
    }

    /// A recorded hil-run setting, when the run changed it from its default.
    pub fn setting(&self, key: &str) -> Option<&str> {
        self.settings
            .get(key)
            .map(String::as_str)
            .filter(|v| *v != DEFAULT)
    }
}

/// `name=value` for each setting changed from its default: hil-run's (`runner`) and the
/// suite's (`setting.…` among the facts' `properties`).
pub fn changed<'a>(
    runner: impl Iterator<Item = (&'a String, &'a String)>,
    properties: impl Iterator<Item = (&'a String, &'a String)>,
) -> Vec<String> {
    use hil_proto::settings::{PREFIX, UNSET};
    runner
        .chain(properties.filter(|(k, _)| k.starts_with(PREFIX)))
        .filter(|(_, v)| v.as_str() != DEFAULT && v.as_str() != UNSET)
        .map(|(k, v)| format!("{}={v}", k.strip_prefix(PREFIX).unwrap_or(k)))
        .collect()
}

/// One difference between the configuration a run started under and the present one.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub key: String,
    pub then: String,
    pub now: String,
}

/// Every fact in which `now` differs from `then` (volatile facts aside): the suite's
/// version, hash and settings, the tables, the driver and libraries, the board.
pub fn fact_changes(then: &Facts, now: &Facts) -> Vec<Change> {
    let flat = |f: &Facts| {
        let mut m: BTreeMap<String, String> = f
            .properties
            .iter()
            .filter(|(k, _)| !VOLATILE_FACTS.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        m.insert("suite_version".into(), f.suite_version.clone());
        for (b, imp) in &f.implementations {
            m.insert(format!("implementation.{b}"), imp.clone());
        }
        m
    };
    let (a, b) = (flat(then), flat(now));
    // A fact only one side records (an older suite or journal) cannot be compared; table
    // files present on one side only are named below.
    let mut changes: Vec<Change> = a
        .iter()
        .filter_map(|(k, then)| {
            let now = b.get(k)?;
            (then != now).then(|| Change {
                key: k.clone(),
                then: then.clone(),
                now: now.clone(),
            })
        })
        .collect();
    // Table files present on one side only: one line naming them, not a hash each.
    let table = |k: &str| {
        k.strip_prefix("table.")
            .and_then(|t| t.strip_suffix(".sha256"))
            .map(str::to_string)
    };
    let names = |side: &BTreeMap<String, String>, other: &BTreeMap<String, String>| {
        side.keys()
            .filter(|k| !other.contains_key(*k))
            .filter_map(|k| table(k))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let (gone, added) = (names(&a, &b), names(&b, &a));
    if !gone.is_empty() || !added.is_empty() {
        changes.retain(|c| {
            table(&c.key).is_none() || (a.contains_key(&c.key) && b.contains_key(&c.key))
        });
        let or_none = |s: String| if s.is_empty() { "none".to_string() } else { s };
        changes.push(Change {
            key: "table files".into(),
            then: or_none(gone),
            now: or_none(added),
        });
    }
    changes
}

/// hil-run settings given now that differ from those recorded (a setting not given now is
/// taken from the record, so it is no change).
pub fn setting_changes(
    then: &BTreeMap<String, String>,
    given: &BTreeMap<String, String>,
) -> Vec<Change> {
    given
        .iter()
        .filter(|(_, v)| v.as_str() != DEFAULT)
        .filter_map(|(k, now)| {
            let then = then.get(k).cloned().unwrap_or_else(|| DEFAULT.into());
            (&then != now).then(|| Change {
                key: k.clone(),
                then,
                now: now.clone(),
            })
        })
        .collect()
}

/// A value short enough for one line of an error message.
pub fn short(v: &str) -> String {
    const MAX: usize = 160;
    // Board text: written out, never a line break (a YAML comment must stay one).
    let one_line = hil_proto::text::escape_line(v).into_owned();
    if one_line.chars().count() <= MAX {
        one_line
    } else {
        format!("{}…", one_line.chars().take(MAX).collect::<String>())
    }
}

/// The lines of an error or summary that list changes, `  key: then → now`.
pub fn describe(changes: &[Change]) -> String {
    changes
        .iter()
        .map(|c| format!("  {}: {} → {}\n", c.key, short(&c.then), short(&c.now)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(props: &[(&str, &str)]) -> Facts {
        Facts {
            suite_version: "0.1.0".into(),
            properties: props
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            implementations: Default::default(),
        }
    }

    #[test]
    fn facts_differ_by_tables_driver_and_settings_but_not_by_taint() {
        let then = facts(&[
            ("tables.sha256", "aa"),
            ("driver.version", "580"),
            ("kernel.tainted", "0"),
        ]);
        let now = facts(&[
            ("tables.sha256", "bb"),
            ("driver.version", "580"),
            ("kernel.tainted", "4096"),
            ("setting.HIL_HEALTH_DEFER_S", "5"),
        ]);
        let keys: Vec<String> = fact_changes(&then, &now)
            .into_iter()
            .map(|c| format!("{}:{}>{}", c.key, c.then, c.now))
            .collect();
        // A setting the journal predates is not compared; one recorded on both sides is.
        assert_eq!(keys, ["tables.sha256:aa>bb"]);
        let mut later = now.clone();
        later
            .properties
            .insert("setting.HIL_HEALTH_DEFER_S".into(), "3".into());
        let c = fact_changes(&now, &later);
        assert_eq!((c[0].then.as_str(), c[0].now.as_str()), ("5", "3"));
        assert!(fact_changes(&then, &then).is_empty());
        // Other tables: named once, not a hash line each.
        let a = facts(&[("table.x.yaml.sha256", "1"), ("table.y.yaml.sha256", "2")]);
        let b = facts(&[("table.y.yaml.sha256", "3"), ("table.z.yaml.sha256", "4")]);
        let lines: Vec<String> = fact_changes(&a, &b)
            .into_iter()
            .map(|c| format!("{}:{}>{}", c.key, c.then, c.now))
            .collect();
        assert_eq!(
            lines,
            ["table.y.yaml.sha256:2>3", "table files:x.yaml>z.yaml"]
        );
    }

    #[test]
    fn a_setting_not_given_on_resume_is_no_change_and_a_different_one_is() {
        let then: BTreeMap<String, String> = [(TEST_THREADS.to_string(), "4".to_string())].into();
        let not_given: BTreeMap<String, String> =
            [(TEST_THREADS.to_string(), DEFAULT.to_string())].into();
        assert!(setting_changes(&then, &not_given).is_empty());
        let other: BTreeMap<String, String> = [(TEST_THREADS.to_string(), "1".to_string())].into();
        assert_eq!(setting_changes(&then, &other)[0].now, "1");
    }
}
