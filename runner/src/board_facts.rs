//! A board's facts as the runner keeps them: within caps, whatever the board sent (below
//! both the transports, which read them with the listing, and the event stream).

use hil_proto::text::cap_start;
use hil_proto::Facts;

/// A fact's value is kept up to this many bytes (its start, saying how much more there was).
pub const MAX_FACT_VALUE: usize = 4096;
/// A fact's name is kept up to this many bytes.
const MAX_FACT_KEY: usize = 256;
/// All of a board's facts (names and values) are kept up to about this many bytes; the
/// facts past it are left out and counted in `FACTS_CUT`.
const MAX_FACTS: usize = 256 * 1024;
/// The property saying how many facts were left out, and how large they were.
pub const FACTS_CUT: &str = "hil-run.facts_cut";

/// `f` within its caps: each value's start up to `MAX_FACT_VALUE` bytes (saying how much
/// more there was), each name up to `MAX_FACT_KEY`, all of them up to about `MAX_FACTS`;
/// the facts left out are counted in the property `FACTS_CUT`. Real facts are far below
/// (a suite's are about 40 names of at most 1 KiB), so only a board sending nonsense
/// loses any: its journal records and reports stay small.
pub fn capped_facts(mut f: Facts) -> Facts {
    let mut budget = MAX_FACTS;
    let (mut cut, mut cut_bytes) = (0usize, 0usize);
    f.suite_version = keep(&f.suite_version, &mut budget, MAX_FACT_VALUE);
    let mut map = |m: std::collections::BTreeMap<String, String>| {
        let mut kept = std::collections::BTreeMap::new();
        for (k, v) in m {
            if budget < MAX_FACT_KEY + MAX_FACT_VALUE {
                cut += 1;
                cut_bytes += k.len() + v.len();
                continue;
            }
            let k = keep(&k, &mut budget, MAX_FACT_KEY);
            let v = keep(&v, &mut budget, MAX_FACT_VALUE);
            kept.insert(k, v);
        }
        kept
    };
    f.properties = map(std::mem::take(&mut f.properties));
    f.implementations = map(std::mem::take(&mut f.implementations));
    if cut > 0 {
        f.properties.insert(
            FACTS_CUT.into(),
            format!(
                "{cut} fact(s) of {} left out: the board's facts are kept up to {}",
                hil_proto::text::human_bytes(cut_bytes as u64),
                hil_proto::text::human_bytes(MAX_FACTS as u64)
            ),
        );
    }
    f
}

/// `s`'s start within `max` bytes, taken from `budget`.
fn keep(s: &str, budget: &mut usize, max: usize) -> String {
    let s = cap_start(s, max).into_owned();
    *budget = budget.saturating_sub(s.len());
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_are_kept_within_their_caps_and_say_what_went() {
        let real = Facts {
            suite_version: "0.1.0".into(),
            properties: [("arch".to_string(), "x86_64".to_string())].into(),
            implementations: [("cuda".to_string(), "libcuda.so.1".to_string())].into(),
        };
        assert_eq!(
            capped_facts(real.clone()),
            real,
            "real facts are kept as they are"
        );
        let big = "z".repeat(3_000_000);
        let mut f = Facts {
            suite_version: big.clone(),
            ..real
        };
        f.properties.insert(big.clone(), big.clone());
        for i in 0..100_000 {
            f.properties
                .insert(format!("fact{i:06}"), format!("value{i}"));
        }
        let f = capped_facts(f);
        assert!(f.suite_version.len() <= MAX_FACT_VALUE);
        assert!(
            f.suite_version.ends_with("more]"),
            "{}",
            &f.suite_version[4000..]
        );
        let total: usize = f
            .properties
            .iter()
            .chain(&f.implementations)
            .map(|(k, v)| k.len() + v.len())
            .sum();
        assert!(total <= MAX_FACTS + 1024, "{total}");
        assert!(f.properties.keys().all(|k| k.len() <= MAX_FACT_KEY));
        assert!(f.properties.values().all(|v| v.len() <= MAX_FACT_VALUE));
        assert!(
            f.properties[FACTS_CUT].contains("fact(s) of"),
            "{}",
            f.properties[FACTS_CUT]
        );
        assert_eq!(f.properties["arch"], "x86_64");
    }
}
