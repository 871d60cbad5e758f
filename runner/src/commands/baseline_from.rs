//! `hil-run baseline-from JOURNAL…`: a baseline that expects what the runs did.

use crate::journal::{self, State};
use crate::orchestrate::ConfigError;
use std::path::PathBuf;

/// Prints the baseline the runs of `journals` propose (one for a group of boards).
pub fn run(journals: &[PathBuf]) -> anyhow::Result<i32> {
    let states: Vec<State> = journals
        .iter()
        .map(|j| {
            if j.is_dir() {
                return Err(ConfigError(format!(
                    "{} is a directory: give a board's journal, e.g. {}",
                    j.display(),
                    j.join("<board>").join("journal.jsonl").display()
                )));
            }
            journal::read(j).map_err(ConfigError)
        })
        .collect::<Result<_, _>>()?;
    let runs: Vec<(&State, String)> = states
        .iter()
        .zip(journals)
        .map(|(st, j)| (st, j.display().to_string()))
        .collect();
    crate::out!("{}", crate::propose::from_states(&runs));
    Ok(0)
}
