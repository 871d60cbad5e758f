//! `hil-run report JOURNAL…`: the HTML report from journals, after the fact or several
//! runs side by side.

use crate::journal::State;
use crate::orchestrate::ConfigError;
use anyhow::Context as _;
use std::path::{Path, PathBuf};

/// Writes the report of `journals` to `out`: every input is read and checked before the
/// page is written.
pub fn run(journals: &[PathBuf], baseline: Option<&Path>, out: &Path) -> anyhow::Result<i32> {
    let baseline = baseline
        .map(crate::baseline::load)
        .transpose()
        .map_err(ConfigError)?;
    let journals = &crate::history::journals(journals).map_err(ConfigError)?;
    let mut states = super::read_journals(journals)?;
    let runs: Vec<(&State, &Path)> = states
        .iter()
        .zip(journals)
        .map(|(s, j)| (s, j.as_path()))
        .collect();
    let history = crate::history::build(&runs);
    // Runs of one board (`local` here and there) are told apart by the journal they came from.
    let names: Vec<String> = states.iter().map(|s| s.board.clone()).collect();
    for (st, j) in states.iter_mut().zip(journals) {
        if names.iter().filter(|n| **n == st.board).count() > 1 {
            st.board = format!("{} ({})", st.board, j.display());
        }
    }
    let out_dir = match out.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(d) => d.to_path_buf(),
        None => PathBuf::from("."),
    };
    let views: Vec<crate::report::BoardView> = states
        .iter()
        .zip(journals)
        .map(|(st, j)| {
            crate::report::BoardView::new(
                st,
                crate::baseline::compare(baseline.as_ref(), st),
                j,
                &out_dir,
            )
        })
        .collect();
    std::fs::write(out, crate::report::render_with_history(&views, &history))
        .with_context(|| format!("writing {}", out.display()))?;
    crate::outln!("report: {}", out.display());
    Ok(0)
}
