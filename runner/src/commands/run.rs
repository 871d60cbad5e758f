//! `hil-run` itself: run the suite on boards, then write the conformance bundle.

use crate::journal::State;
use crate::orchestrate::{self, ConfigError, RunOptions};
use anyhow::Context as _;
use std::path::{Path, PathBuf};

/// What a run was asked for, beyond what every board gets (`options`).
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// `--board` names (none and no tags: `local`).
    pub boards: Vec<String>,
    /// `--tag`s: inventory tags, or `key=value` labgrid place tags.
    pub tags: Vec<String>,
    pub inventory: Option<PathBuf>,
    /// Where the conformance bundle goes, if one is asked for.
    pub bundle: Option<PathBuf>,
    /// The SSH key that signs the bundle's manifest.
    pub sign_key: Option<PathBuf>,
    pub options: RunOptions,
}

/// Runs the boards `req` names; the exit status of the run.
pub fn run(req: &Request) -> anyhow::Result<i32> {
    let opts = &req.options;
    if opts.resume && !req.tags.is_empty() {
        return Err(resume_by_tag(&opts.results).into());
    }
    let mut names = req.boards.clone();
    if names.is_empty() && req.tags.is_empty() {
        names.push("local".into());
    }
    let boards = crate::board::resolve(&names, &req.tags, req.inventory.as_deref())
        .map_err(|e| ConfigError(e.to_string()))?;
    if let Some(key) = &req.sign_key {
        // A key that cannot sign must not surface after the whole run.
        crate::sshsig::sign(key, b"hil-run: can this key sign?")
            .map_err(|e| ConfigError(format!("--sign-key: {e}")))?;
    }
    let finished = orchestrate::run_boards(opts, &boards)?;
    if !finished.states.is_empty() {
        let states: Vec<&State> = finished.states.iter().collect();
        write_bundle(req, &states)?;
    }
    Ok(finished.code)
}

/// `--resume` with `--tag`: refused, naming the journals that could be resumed by name.
/// Tags pick whichever matching place is free: perhaps not the interrupted one.
fn resume_by_tag(results: &Path) -> ConfigError {
    let interrupted: Vec<String> = std::fs::read_dir(results)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().join("journal.jsonl").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    ConfigError(format!(
        "--resume with --tag could take another place than the one that was interrupted; \
         resume by name with --board (journals in {}: {})",
        results.display(),
        if interrupted.is_empty() {
            "none".to_string()
        } else {
            interrupted.join(", ")
        }
    ))
}

fn write_bundle(req: &Request, states: &[&State]) -> anyhow::Result<()> {
    if let Some(out) = &req.bundle {
        if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        crate::bundle::write(out, &req.options.results, states, req.sign_key.as_deref())
            .with_context(|| format!("writing bundle {}", out.display()))?;
        let check = match req.sign_key {
            Some(_) => " --allowed-signers FILE",
            None => "",
        };
        crate::outln!(
            "bundle: {} (check with `hil-run verify-bundle {}{check}`)",
            out.display(),
            out.display()
        );
    }
    Ok(())
}
