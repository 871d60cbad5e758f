//! Which journals a history reads: files as given, directories searched.

use std::path::{Path, PathBuf};

/// The file every run writes into `RESULTS/<board>/`.
const JOURNAL: &str = "journal.jsonl";

/// The journals to read for `paths`: a file is a journal; a directory (a night's results,
/// or a tree of nights) gives every `journal.jsonl` under it, sorted by path. Links are
/// not followed into directories (a loop must not hang a CI job).
pub fn journals(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut found = Vec::new();
            walk(p, &mut found).map_err(|e| format!("{}: {e}", p.display()))?;
            if found.is_empty() {
                return Err(format!("{}: no {JOURNAL} under it", p.display()));
            }
            found.sort();
            out.extend(found);
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

fn walk(dir: &Path, found: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let t = e.file_type()?;
        if t.is_dir() {
            walk(&e.path(), found)?;
        } else if e.file_name() == JOURNAL {
            found.push(e.path());
        }
    }
    Ok(())
}
