//! A board's results directory, `results/<board>/`: what a fresh run sets aside and how a
//! resume numbers its suite starts after the earlier ones.

use std::path::Path;

/// Files of one suite start: `suite-N.log`, `events-N.jsonl`, `cases-N.txt`.
fn attempt_of(name: &str) -> Option<u32> {
    let (stem, ext) = [
        ("suite-", ".log"),
        ("events-", ".jsonl"),
        ("cases-", ".txt"),
    ]
    .into_iter()
    .find(|(p, x)| name.starts_with(p) && name.ends_with(x))?;
    name[stem.len()..name.len() - ext.len()].parse().ok()
}

/// A new run starts with an empty journal; the previous one is kept beside it
/// (`journal.prev.jsonl`) and the previous run's per-start files are removed. Call only
/// once the new run's input is validated.
pub fn start_fresh(dir: &Path) -> std::io::Result<()> {
    let j = dir.join("journal.jsonl");
    if j.exists() {
        std::fs::rename(&j, dir.join("journal.prev.jsonl"))?;
    }
    for entry in std::fs::read_dir(dir)? {
        let p = entry?.path();
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if attempt_of(name).is_some() && p.is_file() {
            std::fs::remove_file(&p)?;
        }
    }
    Ok(())
}

/// The highest suite start already in `dir` (0 if none): a resume numbers its own starts
/// after it, so no earlier log is overwritten when the board's logs come home.
pub fn last_attempt(dir: &Path) -> u32 {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| attempt_of(e.file_name().to_str()?))
                .max()
                .unwrap_or(0)
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_per_start_files_count_as_attempts() {
        assert_eq!(attempt_of("suite-12.log"), Some(12));
        assert_eq!(attempt_of("events-3.jsonl"), Some(3));
        assert_eq!(attempt_of("cases-1.txt"), Some(1));
        for other in ["suite-x.log", "journal.jsonl", "summary.txt", "suite-1.txt"] {
            assert_eq!(attempt_of(other), None, "{other}");
        }
    }
}
