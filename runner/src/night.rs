//! What a farm's night adds to a run over boards: the first night of a group without its
//! baseline (the boards run, and the run proposes one), the exit status of several boards
//! (a regression on any board is never hidden by another board that could not be tested),
//! and an error test case in the merged JUnit for each board that could not be tested.

use crate::journal::State;
use crate::run_options::{Finished, RunOptions};
use quick_junit::{NonSuccessKind, Property, TestCase, TestCaseStatus, TestSuite};

/// Exit status: every board that was tested has no regression, and some boards could not
/// be tested at all (unreachable, held by another run, refused their suite).
pub const SOME_NOT_TESTED: i32 = 3;
/// Exit status: no baseline yet (`--propose-baseline` with a `--baseline` file that does
/// not exist): the boards ran unjudged and the run wrote the baseline it proposes.
pub const NO_BASELINE_YET: i32 = 4;

/// Whether this run is a group's first night: its `--baseline` file does not exist yet and
/// `--propose-baseline` asks to run anyway. Without that flag, a missing baseline is a
/// configuration error that says how to make one.
pub fn first_night(opts: &RunOptions) -> Result<bool, String> {
    let Some(path) = opts.baseline.as_ref().filter(|p| !p.exists()) else {
        return Ok(false);
    };
    let proposed = opts.results.join(crate::propose::FILE);
    if !opts.propose_baseline {
        return Err(format!(
            "the baseline {p} does not exist. A group's first baseline comes from a run: add \
             --propose-baseline to run the boards anyway and write {proposed}, or run without \
             --baseline and write it with `hil-run baseline-from RESULTS/BOARD/journal.jsonl … \
             > {p}` (one journal per board of the group); review it and commit it as {p} \
             (docs/farm.md, \"The first night\")",
            p = path.display(),
            proposed = proposed.display()
        ));
    }
    crate::errln!(
        "hil-run: no baseline {} yet: running the boards unjudged; this run writes the one it \
         proposes to {} (exit {NO_BASELINE_YET})",
        path.display(),
        proposed.display()
    );
    Ok(true)
}

/// A board's status as the night counts it (0 or 1; 2: not tested), from its own. On a
/// first night nothing is judged: only cases left without a result fail the board.
pub fn board_code(state: Option<&State>, code: i32, first_night: bool) -> i32 {
    match state {
        Some(st) if first_night => i32::from(!st.remaining().is_empty()),
        _ => code,
    }
}

/// The run's exit status from its boards' (0 clean, 1 regressed or failed, 2 not tested):
/// 1 if any board regressed, whatever else happened; 2 if no board was tested; on a first
/// night 4; 3 if some boards could not be tested; else 0.
pub fn exit_status(boards: &[i32], first_night: bool) -> i32 {
    let tested = boards.iter().filter(|c| **c != 2).count();
    if boards.contains(&1) {
        1
    } else if tested == 0 {
        2
    } else if first_night {
        NO_BASELINE_YET
    } else if tested < boards.len() {
        SOME_NOT_TESTED
    } else {
        0
    }
}

/// A board that could not be tested, as CI's test report shows it: its own `<testsuite>`
/// with one error test case naming why.
pub fn not_tested_suite(board: &str, why: &str) -> TestSuite {
    let mut suite = TestSuite::new(format!("hil.{board}"));
    suite.add_property(Property::new("board", board));
    let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
    status.set_type("not-tested");
    let first = why.lines().next().unwrap_or("");
    status.set_message(format!("board {board} was not tested: {first}"));
    status.set_description(why);
    let mut tc = TestCase::new("board-not-tested", status);
    tc.set_classname(format!("hil.{board}"));
    suite.add_test_case(tc);
    suite
}

/// After the boards ran: with `--propose-baseline`, `RESULTS/proposed-baseline.yaml` from
/// their journals (what `hil-run baseline-from` writes from them), said with what to do.
pub fn propose(opts: &RunOptions, mut finished: Finished, first_night: bool) -> Finished {
    if !opts.propose_baseline || finished.code == 130 {
        return finished;
    }
    let states: Vec<&State> = finished.states.iter().collect();
    if states.is_empty() {
        return finished;
    }
    let journals = crate::propose::journals(&opts.results, &states);
    let runs: Vec<(&State, String)> = states.iter().copied().zip(journals.clone()).collect();
    let path = opts.results.join(crate::propose::FILE);
    if let Err(e) = std::fs::write(&path, crate::propose::from_states(&runs)) {
        crate::errln!("hil-run: error: writing {}: {e}", path.display());
        finished.code = finished.code.max(1);
        return finished;
    }
    let target = opts
        .baseline
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "fixtures/baselines/GROUP.yaml".into());
    let verb = if first_night {
        "no baseline yet: the boards ran unjudged. Proposed"
    } else {
        "proposed"
    };
    crate::errln!(
        "hil-run: {verb} baseline: {} (`hil-run baseline-from {}` writes the same). Review \
         it, say why each expected failure fails, and commit it as {target}",
        path.display(),
        journals.join(" ")
    );
    finished
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_regression_on_any_board_is_never_hidden() {
        // (clean 0, regressed 1, not tested 2) per board -> exit status.
        assert_eq!(exit_status(&[1, 2], false), 1);
        assert_eq!(exit_status(&[2, 1, 0], false), 1);
        assert_eq!(exit_status(&[0, 2], false), SOME_NOT_TESTED);
        assert_eq!(exit_status(&[2, 2], false), 2);
        assert_eq!(exit_status(&[0, 0], false), 0);
        assert_eq!(exit_status(&[0, 2], true), NO_BASELINE_YET);
        assert_eq!(exit_status(&[2], true), 2);
        assert_eq!(exit_status(&[1, 0], true), 1);
    }
}
