//! `hil-run history PATH…`: every board's history as text, for a terminal or a CI post.

use crate::journal::State;
use crate::orchestrate::ConfigError;
use std::path::{Path, PathBuf};

/// Prints what changed from run to run of each board found under `paths`.
pub fn run(paths: &[PathBuf]) -> anyhow::Result<i32> {
    let journals = crate::history::journals(paths).map_err(ConfigError)?;
    let states = super::read_journals(&journals)?;
    let runs: Vec<(&State, &Path)> = states
        .iter()
        .zip(&journals)
        .map(|(s, j)| (s, j.as_path()))
        .collect();
    let text: Vec<String> = crate::history::build(&runs)
        .iter()
        .map(crate::history::text)
        .collect();
    crate::out!("{}", text.join("\n"));
    Ok(0)
}
