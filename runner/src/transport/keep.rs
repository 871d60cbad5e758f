//! What a board keeps between runs (`<workdir>/` on the board): the newest `keep_runs`
//! run directories of each board name, and the suite in use plus the one used before it.
//! Everything else is removed when a run ends, so a nightly board's disk stays bounded.

/// A run directory's name: `<board>-<unix ms>`.
pub fn run_dir_name(board: &str, unix_ms: u128) -> String {
    format!("{board}-{unix_ms}")
}

/// When `name` is one of `board`'s run directories, its time stamp. Another board whose
/// name starts the same (`b1` and `b1-x`) never matches: the rest must be all digits.
fn run_stamp(name: &str, board: &str) -> Option<u128> {
    let rest = name.strip_prefix(board)?.strip_prefix('-')?;
    if rest.is_empty() || !rest.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    rest.parse().ok()
}

/// `board`'s run directories to remove from `names`: all but the `keep` newest. `needed`
/// (a run whose logs have not come home) is never removed and counts as one kept.
pub fn stale_runs(names: &[String], board: &str, keep: usize, needed: Option<&str>) -> Vec<String> {
    let mut runs: Vec<(u128, &String)> = names
        .iter()
        .filter_map(|n| Some((run_stamp(n, board)?, n)))
        .collect();
    runs.sort_by(|a, b| b.cmp(a));
    let keep = keep.max(usize::from(needed.is_some()));
    runs.into_iter()
        .skip(keep)
        .map(|(_, n)| n)
        .filter(|n| Some(n.as_str()) != needed)
        .cloned()
        .collect()
}

/// Deployed suites (`suite-<hash>`, with their last use) to remove: all but `current` and
/// the most recently used other one (two builds taking turns are not re-sent every run).
pub fn stale_suites(suites: &[(String, u64)], current: &str) -> Vec<String> {
    let mut others: Vec<&(String, u64)> = suites
        .iter()
        .filter(|(n, _)| n != current && is_suite_dir(n))
        .collect();
    others.sort_by(|a, b| b.1.cmp(&a.1).then(b.0.cmp(&a.0)));
    others.into_iter().skip(1).map(|(n, _)| n.clone()).collect()
}

/// `suite-` and 16 hex digits, as `prepare` names them.
pub fn is_suite_dir(name: &str) -> bool {
    name.strip_prefix("suite-")
        .is_some_and(|h| h.len() == 16 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn only_the_newest_runs_of_this_board_are_kept() {
        let dirs = names(&[
            "b1-100", "b1-300", "b1-200", "b1-x-50", "b10-1", "b1-", "b1-400",
        ]);
        assert_eq!(stale_runs(&dirs, "b1", 2, None), ["b1-200", "b1-100"]);
        assert_eq!(stale_runs(&dirs, "b1", 0, None).len(), 4);
        // The run whose logs are still on the board stays, even with keep 0.
        assert_eq!(
            stale_runs(&dirs, "b1", 0, Some("b1-400")),
            ["b1-300", "b1-200", "b1-100"]
        );
        assert!(stale_runs(&dirs, "b1", 9, None).is_empty());
        assert_eq!(stale_runs(&dirs, "b1-x", 0, None), ["b1-x-50"]);
    }

    #[test]
    fn the_current_suite_and_the_last_one_used_before_it_are_kept() {
        let s = |n: &str, t| (n.to_string(), t);
        let suites = [
            s("suite-00000000000000aa", 5),
            s("suite-00000000000000bb", 9),
            s("suite-00000000000000cc", 7),
            s("suite-00000000000000dd", 1),
            s("suite-notahash", 0),
        ];
        let mut gone = stale_suites(&suites, "suite-00000000000000bb");
        gone.sort();
        assert_eq!(gone, ["suite-00000000000000aa", "suite-00000000000000dd"]);
    }
}
