//! The one-screen summary printed at the end (and saved as summary.txt).

use crate::journal::State;
use hil_proto::text::first_line;
use hil_proto::{key, Outcome};
use std::collections::BTreeMap;
use std::fmt::Write;

/// The summary header shows at most this many characters of each fact (and the board).
const HEADER_FIELD: usize = 40;

pub use crate::facts::fact;

/// How many results of each outcome (`outcomes::counts`).
pub use crate::outcomes::counts;

const MAX_LISTED: usize = 12;
/// The most of a message one summary line shows (junit.xml and the report hold the rest).
const LINE_CHARS: usize = 300;

/// The observation keys that carry kernel log lines of the GPU driver (suite `kernel_log`).
pub const DRIVER_LOG_KEYS: [&str; 2] =
    [key::DRIVER_LOG.as_str(), key::DRIVER_LOG_EXPECTED.as_str()];

/// Cases whose kernel log window held GPU driver lines, in plan order.
pub fn with_driver_messages(state: &State) -> Vec<&crate::journal::CaseResult> {
    state
        .ordered_results()
        .into_iter()
        .filter(|r| {
            r.observations
                .iter()
                .any(|o| DRIVER_LOG_KEYS.contains(&o.key.as_str()))
        })
        .collect()
}

pub fn render(
    state: &State,
    elapsed_s: f64,
    cmp: &crate::baseline::Comparison,
    baseline: Option<&str>,
) -> String {
    let state = &crate::from_board::shown(state);
    let cmp = &crate::from_board::shown_comparison(cmp);
    let mut s = String::new();
    header(&mut s, state, elapsed_s);
    // First: what this run tested less than its baseline, and how the board differs.
    coverage_section(&mut s, cmp, baseline);
    run_notes(&mut s, state);
    implementations(&mut s, state);
    let driver = with_driver_messages(state);
    kernel_log_line(&mut s, state, &driver);
    not_supported_by_reason(&mut s, state);
    if let Some(name) = baseline {
        against_baseline(&mut s, cmp, name);
    }
    flaky_section(&mut s, cmp);
    driver_messages_outside(&mut s, state, cmp);
    driver_section(&mut s, &driver);
    listed_outcomes(&mut s, state);
    s
}

/// The board, its facts and the counts: two lines, whatever the board's facts hold.
fn header(s: &mut String, state: &State, elapsed_s: f64) {
    let c = counts(state);
    // The header is one short line, whatever the board's facts hold.
    let prop = |k: &str| first_line(fact(state, k), HEADER_FIELD);
    let _ = writeln!(
        s,
        "board {}: {} cases in {:.1}s  (arch {}, driver {}, CUDA {})",
        first_line(&state.board, HEADER_FIELD),
        state.results.len(),
        elapsed_s,
        prop("arch"),
        prop("driver.version"),
        prop("cuda.version")
    );
    let line: Vec<String> = Outcome::ALL
        .iter()
        .map(|o| format!("{} {}", o, c[o]))
        .collect();
    let _ = writeln!(s, "  {}", line.join(" · "));
}

/// Settings changed, cases without a result, cases a case list skipped.
fn run_notes(s: &mut String, state: &State) {
    let settings = settings_changed(state);
    if !settings.is_empty() {
        let _ = writeln!(s, "  settings: {}", settings.join(", "));
    }
    let missing = state.remaining().len();
    if missing > 0 {
        let _ = writeln!(
            s,
            "  {missing} planned case(s) have no result yet: `hil-run --resume` completes them"
        );
    }
    if !state.skipped.is_empty() {
        let _ = writeln!(
            s,
            "  {} case(s) skipped by case lists, not run:",
            state.skipped.len()
        );
        for sk in state.skipped.iter().take(MAX_LISTED) {
            let _ = writeln!(s, "    {}  ({})", sk.case, sk.by);
        }
        if state.skipped.len() > MAX_LISTED {
            let _ = writeln!(
                s,
                "    … {} more in {}",
                state.skipped.len() - MAX_LISTED,
                crate::caselist::SKIPPED_FILE
            );
        }
    }
}

/// Each backend's implementation (`host` aside: always the OS itself).
fn implementations(s: &mut String, state: &State) {
    if let Some(f) = &state.facts {
        // `host` is always the OS itself: a line that says nothing.
        for (backend, imp) in f
            .implementations
            .iter()
            .filter(|(b, _)| b.as_str() != "host")
        {
            // Every path a loader tried stays in the facts (journal, `hil-suite --facts`);
            // the summary keeps the line readable.
            let imp = match imp.split_once("; tried: ") {
                Some((why, _)) => format!("{why} (the paths tried are in the journal's facts)"),
                None => imp.clone(),
            };
            let imp = first_line(&imp, LINE_CHARS);
            let _ = writeln!(s, "  {backend:<10} {imp}");
        }
    }
}

/// Said once: where driver lines came from, or why no driver fault can be seen.
fn kernel_log_line(s: &mut String, state: &State, driver: &[&crate::journal::CaseResult]) {
    if let Some(src) = state
        .facts
        .as_ref()
        .and_then(|f| f.properties.get("kernel_log"))
    {
        let run_level = state.driver_messages.len();
        let what = if src.starts_with("none") {
            "driver faults are not seen".to_string()
        } else if driver.is_empty() && run_level == 0 {
            "no driver messages".to_string()
        } else if run_level == 0 {
            format!("driver messages in {} case(s)", driver.len())
        } else if driver.is_empty() {
            format!("{run_level} driver message(s) outside any case's result")
        } else {
            format!(
                "driver messages in {} case(s), {run_level} outside any case's result",
                driver.len()
            )
        };
        let _ = writeln!(s, "  kernel log {src}: {what}");
    }
}

/// not-supported: grouped by reason, which is what a reader wants to know.
fn not_supported_by_reason(s: &mut String, state: &State) {
    let mut reasons: BTreeMap<&str, usize> = BTreeMap::new();
    for r in state
        .results
        .values()
        .filter(|r| r.outcome == Outcome::NotSupported)
    {
        *reasons.entry(r.message.as_str()).or_default() += 1;
    }
    if !reasons.is_empty() {
        let _ = writeln!(s, "not-supported, by reason:");
        for (why, n) in &reasons {
            // A loader's list of every path it tried stays in the journal and JUnit.
            let why = match why.split_once("; tried: ") {
                Some((why, _)) => format!("{why} (the paths tried are in junit.xml)"),
                None => why.to_string(),
            };
            let _ = writeln!(s, "  {n:>4}  {}", first_line(&why, LINE_CHARS));
        }
    }
}

/// Counts against the baseline, then the regressions, newly covered cases and fixes.
fn against_baseline(s: &mut String, cmp: &crate::baseline::Comparison, name: &str) {
    let _ = writeln!(
        s,
        "against baseline {name}: {} regression(s) ({} failing, {} coverage lost, {} driver \
         message(s)), {} newly covered, {} fixed, {} expected failure(s), {} flaky",
        cmp.regressions.len() + cmp.coverage_lost.len() + cmp.driver_messages.len(),
        cmp.regressions.len(),
        cmp.coverage_lost.len(),
        cmp.driver_messages.len(),
        cmp.newly_covered.len(),
        cmp.fixes.len(),
        cmp.expected_failures.len(),
        cmp.flaky.len()
    );
    for (case, want, got) in cmp.regressions.iter().take(MAX_LISTED) {
        let want = want.map(|w| w.as_str()).unwrap_or("pass");
        let _ = writeln!(s, "  REGRESSION {case}: {got} (expected {want})");
    }
    for (case, now) in cmp.newly_covered.iter().take(MAX_LISTED) {
        let _ = writeln!(
            s,
            "  covered    {case}: {now} (not-supported in the baseline; update the baseline)"
        );
    }
    for (case, was) in cmp.fixes.iter().take(MAX_LISTED) {
        let _ = writeln!(
            s,
            "  fixed      {case}: pass (baseline says {was}; update the baseline)"
        );
    }
    if !cmp.unknown.is_empty() {
        let _ = writeln!(
            s,
            "  the baseline names {} case(s) not in this run, e.g. {}",
            cmp.unknown.len(),
            cmp.unknown[0]
        );
    }
}

/// Cases that passed only on retry.
fn flaky_section(s: &mut String, cmp: &crate::baseline::Comparison) {
    if !cmp.flaky.is_empty() {
        let _ = writeln!(s, "flaky ({}): passed only on retry", cmp.flaky.len());
        for (case, n) in cmp.flaky.iter().take(MAX_LISTED) {
            let _ = writeln!(s, "  {case}  (failed {n} time(s) first)");
        }
    }
}

/// Cases whose kernel log window held GPU driver lines, with the first line each.
fn driver_section(s: &mut String, driver: &[&crate::journal::CaseResult]) {
    if !driver.is_empty() {
        let _ = writeln!(s, "driver messages ({}):", driver.len());
        for r in driver.iter().take(MAX_LISTED) {
            let first = r
                .observations
                .iter()
                .find(|o| DRIVER_LOG_KEYS.contains(&o.key.as_str()))
                .map(|o| first_line(&o.value, LINE_CHARS))
                .unwrap_or_default();
            let _ = writeln!(s, "  {}  {}  {first}", r.case, r.outcome);
        }
        if driver.len() > MAX_LISTED {
            let _ = writeln!(s, "  … {} more in junit.xml", driver.len() - MAX_LISTED);
        }
    }
}

/// Each outcome the summary lists case by case (`outcomes::LISTED`), its first few cases.
fn listed_outcomes(s: &mut String, state: &State) {
    for o in crate::outcomes::LISTED {
        let list: Vec<_> = state
            .ordered_results()
            .into_iter()
            .filter(|r| r.outcome == o)
            .collect();
        if list.is_empty() {
            continue;
        }
        let _ = writeln!(s, "{o} ({}):", list.len());
        for r in list.iter().take(MAX_LISTED) {
            let _ = writeln!(s, "  {}  {}", r.case, first_line(&r.message, LINE_CHARS));
        }
        if list.len() > MAX_LISTED {
            let whole = crate::outcomes::listed_in_full(o);
            let _ = writeln!(s, "  … {} more in {whole}", list.len() - MAX_LISTED);
        }
    }
}

/// `name=value` for each hil-run and suite setting a run changed from its default.
pub fn settings_changed(st: &State) -> Vec<String> {
    crate::config::changed(
        st.config.iter().flat_map(|c| &c.settings),
        st.facts.iter().flat_map(|f| &f.properties),
    )
}

/// Coverage lost against the baseline and the facts the board differs in, at the top.
fn coverage_section(s: &mut String, cmp: &crate::baseline::Comparison, baseline: Option<&str>) {
    let name = baseline.unwrap_or("the baseline");
    if !cmp.fact_changes.is_empty() {
        let _ = writeln!(s, "  the board differs from {name}:");
        for c in &cmp.fact_changes {
            let short = crate::config::short;
            let _ = writeln!(s, "    {}: {} → {}", c.key, short(&c.then), short(&c.now));
        }
    }
    if cmp.coverage_lost.is_empty() {
        return;
    }
    let _ = writeln!(
        s,
        "COVERAGE LOST ({}): ran in {name}, not now (each a regression)",
        cmp.coverage_lost.len()
    );
    for l in cmp.coverage_lost.iter().take(MAX_LISTED) {
        let _ = writeln!(s, "  {}  {}", l.case, l.change());
    }
    if cmp.coverage_lost.len() > MAX_LISTED {
        let _ = writeln!(
            s,
            "  … {} more in junit.xml and failures.csv",
            cmp.coverage_lost.len() - MAX_LISTED
        );
    }
}

/// 0: no regression (without a baseline: no fail, crash or timeout); 1: a regression
/// (coverage lost and run-level driver messages the baseline does not expect included), or
/// cases left without a result.
pub fn exit_code(state: &State, cmp: &crate::baseline::Comparison) -> i32 {
    if cmp.has_regressions() || !state.remaining().is_empty() {
        1
    } else {
        0
    }
}

/// Run-level driver messages (in no case's result), each with where it was seen, and
/// whether the baseline expects it.
fn driver_messages_outside(s: &mut String, state: &State, cmp: &crate::baseline::Comparison) {
    let all = &state.driver_messages;
    if all.is_empty() {
        return;
    }
    let unexpected = cmp.driver_messages.len();
    let _ = writeln!(
        s,
        "driver messages outside any case's result ({}; {unexpected} not expected: they fail the run):",
        all.len()
    );
    for m in all.iter().take(MAX_LISTED) {
        let expected = if cmp.driver_messages.contains(m) {
            ""
        } else {
            " [expected]"
        };
        let _ = writeln!(s, "  {}{expected}\n    ({})", m.line, m.when);
    }
    if all.len() > MAX_LISTED {
        let _ = writeln!(
            s,
            "  … {} more in junit.xml and the journal",
            all.len() - MAX_LISTED
        );
    }
}

/// A flagged case's driver lines in one table cell, with the cases sharing its window.
fn driver_cell(r: &crate::journal::CaseResult) -> String {
    let get = |k: &str| {
        r.observations
            .iter()
            .find(|o| o.key == k)
            .map(|o| o.value.as_str())
    };
    let mut lines: Vec<String> = DRIVER_LOG_KEYS
        .iter()
        .filter_map(|k| get(k))
        .flat_map(|v| v.lines().map(String::from))
        .collect();
    if let Some(with) = get(key::DRIVER_LOG_SHARED_WITH.as_str()) {
        lines.push(format!("(window shared with {with})"));
    }
    lines.join("; ")
}

/// A flagged case's device health, with the UB cases that ran beside it before its probe
/// when that probe found a device unusable (which of them left it so is not known).
pub(crate) fn health_cell(health: &str, beside: &str) -> String {
    if beside.is_empty() {
        health.to_string()
    } else {
        format!("{health} (UB cases run beside it before the probe: {beside})")
    }
}

/// Every flagged (undefined-behaviour) scenario and what this board did, as Markdown.
pub fn flagged_table(state: &State) -> String {
    let state = &crate::from_board::shown(state);
    let mut s = String::new();
    let prop = |k: &str| fact(state, k);
    let _ = writeln!(
        s,
        "# Flagged scenarios on `{}` (driver {}, CUDA {}, {})\n",
        state.board,
        prop("driver.version"),
        prop("cuda.version"),
        prop("arch")
    );
    let _ = writeln!(
        s,
        "| case | observed | detail | device health after | driver log | undefined because |"
    );
    let _ = writeln!(s, "| --- | --- | --- | --- | --- | --- |");
    let cell = |t: &str| t.replace('|', "\\|").replace('\n', " ");
    let mut any = false;
    for r in state
        .ordered_results()
        .into_iter()
        .filter(|r| r.outcome == Outcome::Flagged)
    {
        any = true;
        let obs = |k: &str| {
            r.observations
                .iter()
                .find(|o| o.key == k)
                .map(|o| o.value.as_str())
                .unwrap_or("")
        };
        let _ = writeln!(
            s,
            "| `{}` | {} | {} | {} | {} | {} |",
            r.case,
            cell(obs(key::OBSERVED.as_str())),
            cell(obs(key::DETAIL.as_str())),
            cell(&health_cell(
                obs(key::HEALTH_AFTER.as_str()),
                obs(key::HEALTH_SHARED_WITH.as_str())
            )),
            cell(&driver_cell(r)),
            cell(obs(key::UB_RULE.as_str()))
        );
    }
    if !any {
        let _ = writeln!(s, "| (none) | | | | | |");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::health_cell;

    #[test]
    fn a_health_cell_names_the_ub_cases_run_beside_only_when_there_were_some() {
        assert_eq!(health_cell("ok", ""), "ok");
        assert_eq!(
            health_cell("health probe failed: x", "t.b.dev0"),
            "health probe failed: x (UB cases run beside it before the probe: t.b.dev0)"
        );
    }
}
