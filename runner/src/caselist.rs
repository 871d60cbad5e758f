//! Which cases a run takes: shards, `--filter`, include and skip lists (deqp-runner's
//! `--include-tests` / `--skips` files, from the command line and the inventory per
//! board), and `--rerun-failed`. Skipped cases are kept with the pattern that skipped
//! them, for the summary, `skipped.txt` and `results.csv`; they are never silently dropped.
//!
//! A list file holds one pattern per line; blank lines and lines starting with `#` are
//! ignored. As in deqp-runner, a pattern is a regular expression searched anywhere in the
//! case name (anchor it with `^…$`), and a line without regex characters
//! (`*+?()[]{}|^$\`) matches literally, dots included.

use crate::journal::SkippedCase;
use crate::shard::Shard;
use hil_proto::CaseInfo;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum CaseListError {
    #[error("case list {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}:{line}: {message}")]
    Pattern {
        file: String,
        line: usize,
        message: String,
    },
}

#[derive(Debug, Clone)]
enum Matcher {
    Literal(String),
    Regex(regex_lite::Regex),
}

/// One line of a list file.
#[derive(Debug, Clone)]
pub struct Pattern {
    pub text: String,
    /// `file:line`, to say which line skipped a case.
    pub origin: String,
    matcher: Matcher,
}

impl Pattern {
    pub fn matches(&self, name: &str) -> bool {
        match &self.matcher {
            Matcher::Literal(s) => name.contains(s.as_str()),
            Matcher::Regex(r) => r.is_match(name),
        }
    }
}

/// The patterns of one or more list files (a case matches the list if any pattern matches).
#[derive(Debug, Clone, Default)]
pub struct List {
    pub patterns: Vec<Pattern>,
    /// The files it was read from, for messages.
    pub files: Vec<String>,
}

const REGEX_CHARS: &str = "*+?()[]{}|^$\\";
/// deqp-runner's status names: a line ending in one is a results line, not a pattern.
const DEQP_STATUSES: [&str; 10] = [
    "Pass",
    "Fail",
    "Skip",
    "Crash",
    "Flake",
    "KnownFlake",
    "Warn",
    "Missing",
    "ExpectedFail",
    "Timeout",
];

impl List {
    pub fn parse(file: &str, text: &str) -> Result<List, CaseListError> {
        let mut patterns = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let err = |message: String| CaseListError::Pattern {
                file: file.to_string(),
                line: i + 1,
                message,
            };
            if let Some((_, status)) = line.rsplit_once(',') {
                if DEQP_STATUSES.contains(&status) || status.starts_with("UnexpectedImprovement(") {
                    return Err(err(format!(
                        "`{line}` is a results line (test,status); a case list holds one \
                         pattern per line: remove `,{status}`"
                    )));
                }
            }
            let matcher = if line.chars().any(|c| REGEX_CHARS.contains(c)) {
                Matcher::Regex(regex_lite::Regex::new(line).map_err(|e| {
                    err(format!(
                        "`{line}` is not a valid regular expression: {e}; escape a literal \
                         character with `\\`"
                    ))
                })?)
            } else {
                Matcher::Literal(line.to_string())
            };
            patterns.push(Pattern {
                text: line.to_string(),
                origin: format!("{file}:{}", i + 1),
                matcher,
            });
        }
        Ok(List {
            patterns,
            files: vec![file.to_string()],
        })
    }

    /// The patterns of every file, in order.
    pub fn load(paths: &[PathBuf]) -> Result<List, CaseListError> {
        let mut all = List::default();
        for p in paths {
            let text = std::fs::read_to_string(p).map_err(|source| CaseListError::Io {
                path: p.clone(),
                source,
            })?;
            let l = List::parse(&p.display().to_string(), &text)?;
            all.patterns.extend(l.patterns);
            all.files.extend(l.files);
        }
        Ok(all)
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    pub fn first_match(&self, name: &str) -> Option<&Pattern> {
        self.patterns.iter().find(|p| p.matches(name))
    }
}

/// What a fresh run selects from the listed cases.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub shard: Option<Shard>,
    /// `--filter`: a case whose name contains any of these.
    pub filters: Vec<String>,
    /// Include lists (command line, board): a case must match every non-empty one.
    pub include: Vec<List>,
    /// Skip lists (command line and board together).
    pub skip: List,
    /// `--rerun-failed`: only these cases, and where they came from.
    pub only: Option<(BTreeSet<String>, String)>,
}

/// The cases to run and those a skip list removed.
#[derive(Debug, Clone, Default)]
pub struct Selected {
    pub cases: Vec<CaseInfo>,
    pub skipped: Vec<SkippedCase>,
    /// Skip patterns that matched no case (lists rot when cases are renamed).
    pub unused_skips: Vec<String>,
}

/// Options of the command line that choose cases (each board adds its inventory lists).
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub shard: Option<String>,
    pub filters: Vec<String>,
    pub include: Vec<PathBuf>,
    pub skip: Vec<PathBuf>,
    pub rerun_failed: bool,
}

/// The include and skip lists the inventory gives one board (none for the built-in
/// boards), with the board's name for errors about them.
#[derive(Debug, Clone, Default)]
pub struct BoardLists {
    pub board: String,
    pub include: Vec<PathBuf>,
    pub skip: Vec<PathBuf>,
}

impl Selection {
    /// Reads and checks everything the options and the board's lists name; errors are
    /// the user's to fix (exit 2), found before any file of an earlier run is touched.
    pub fn prepare(
        opts: &Options,
        board: &BoardLists,
        journal: &Path,
    ) -> Result<Selection, String> {
        let (b_include, b_skip) = (board.include.clone(), board.skip.clone());
        let load = |paths: &[PathBuf]| List::load(paths).map_err(|e| e.to_string());
        // Lists the inventory names: say so, and where to fix it.
        let from_inventory = |key: &str, e: String| {
            format!(
                "{e} (listed under `{key}:` of board `{}` in the inventory; paths are relative to the inventory file)",
                board.board
            )
        };
        let board_include = load(&b_include).map_err(|e| from_inventory("include", e))?;
        load(&b_skip).map_err(|e| from_inventory("skip", e))?;
        let mut skip_files = opts.skip.clone();
        skip_files.extend(b_skip);
        Ok(Selection {
            shard: opts.shard.as_deref().map(crate::shard::parse).transpose()?,
            filters: opts.filters.clone(),
            include: vec![load(&opts.include)?, board_include],
            skip: load(&skip_files)?,
            only: if opts.rerun_failed {
                Some((failed_in(journal)?, journal.display().to_string()))
            } else {
                None
            },
        })
    }

    pub fn apply(&self, listed: Vec<CaseInfo>) -> Result<Selected, String> {
        if listed.is_empty() {
            // A suite that lists nothing is broken; a run of nothing would "pass".
            return Err("hil-suite listed no cases at all: check its tables (--tables)".into());
        }
        let mut cases = match self.shard {
            Some(sh) => sh.take(listed, |c| c.name.as_str()),
            None => listed,
        };
        if let Some((only, from)) = &self.only {
            let known: BTreeSet<&str> = cases.iter().map(|c| c.name.as_str()).collect();
            if let Some(gone) = only.iter().find(|n| !known.contains(n.as_str())) {
                return Err(format!(
                    "--rerun-failed: case `{gone}`, which failed in {from}, is not in the tables \
                     any more; pass the tables of that run, or run without --rerun-failed"
                ));
            }
            cases.retain(|c| only.contains(&c.name));
        }
        if !self.filters.is_empty() {
            cases.retain(|c| self.filters.iter().any(|f| c.name.contains(f.as_str())));
            if cases.is_empty() {
                return Err(format!("no case matches --filter {:?}", self.filters));
            }
        }
        for inc in self.include.iter().filter(|l| !l.is_empty()) {
            cases.retain(|c| inc.first_match(&c.name).is_some());
            if cases.is_empty() {
                return Err(format!(
                    "no case matches the include list {}",
                    inc.files.join(", ")
                ));
            }
        }
        let mut used = BTreeSet::new();
        let mut skipped = Vec::new();
        cases.retain(|c| match self.skip.first_match(&c.name) {
            Some(p) => {
                used.insert(p.origin.clone());
                skipped.push(SkippedCase {
                    case: c.name.clone(),
                    by: format!("{} `{}`", p.origin, p.text),
                });
                false
            }
            None => true,
        });
        let unused_skips = self
            .skip
            .patterns
            .iter()
            .filter(|p| !used.contains(&p.origin))
            .map(|p| format!("{} `{}`", p.origin, p.text))
            .collect();
        Ok(Selected {
            cases,
            skipped,
            unused_skips,
        })
    }
}

/// The cases that failed, crashed or timed out in the journal of the last run.
pub fn failed_in(journal: &Path) -> Result<BTreeSet<String>, String> {
    if !journal.is_file() {
        return Err(format!(
            "--rerun-failed: no previous run: {} does not exist (run without --rerun-failed first, \
             with the same --results)",
            journal.display()
        ));
    }
    let st = crate::journal::read(journal).map_err(|e| format!("--rerun-failed: {e}"))?;
    let failed: BTreeSet<String> = st
        .results
        .values()
        .filter(|r| r.outcome.is_failure())
        .map(|r| r.case.clone())
        .collect();
    if failed.is_empty() {
        return Err(format!(
            "--rerun-failed: nothing to rerun: the last run ({}) has no fail, crash or timeout",
            journal.display()
        ));
    }
    Ok(failed)
}

/// `skipped.txt` in the board's results: every case a skip list removed and the line that
/// did (removed when nothing was skipped, so it never describes an earlier run).
pub fn write_skipped(dir: &Path, skipped: &[SkippedCase]) -> std::io::Result<()> {
    let path = dir.join(SKIPPED_FILE);
    if skipped.is_empty() {
        return match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        };
    }
    let mut text = String::from("# case\tskipped by (list file:line `pattern`)\n");
    for s in skipped {
        text.push_str(&format!("{}\t{}\n", s.case, s.by));
    }
    std::fs::write(path, text)
}

pub const SKIPPED_FILE: &str = "skipped.txt";

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_case as case;

    fn names(s: &Selected) -> Vec<&str> {
        s.cases.iter().map(|c| c.name.as_str()).collect()
    }

    #[test]
    fn literal_lines_match_dots_literally_and_regex_lines_search() {
        let l = List::parse(
            "skips.txt",
            "# comment\n\n  vulkan.import  \n^cuda\\.probe\\..*runtime$\n",
        )
        .unwrap();
        assert_eq!(l.patterns.len(), 2);
        assert_eq!(l.patterns[0].origin, "skips.txt:3");
        assert!(l.first_match("x.vulkan.import_errors").is_some());
        assert!(l.first_match("vulkanXimport").is_none(), "a dot is literal");
        assert!(l.first_match("cuda.probe.a.dev0.runtime").is_some());
        assert!(l.first_match("cuda.probe.a.dev0").is_none());
    }

    #[test]
    fn bad_lines_name_file_line_and_fix() {
        let e = List::parse("s.txt", "ok\nvulkan.(\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("s.txt:2: `vulkan.(` is not a valid regular expression"),
            "{e}"
        );
        let e = List::parse("s.txt", "a.b,Fail\n").unwrap_err().to_string();
        assert!(
            e.starts_with("s.txt:1: ") && e.contains("results line"),
            "{e}"
        );
    }

    #[test]
    fn skipped_cases_are_kept_with_the_line_that_skipped_them() {
        let sel = Selection {
            skip: List::parse("s.txt", "t.b\nt.never\n").unwrap(),
            include: vec![List::parse("i.txt", "^t\\.").unwrap()],
            ..Selection::default()
        };
        let got = sel
            .apply(vec![case("t.a"), case("t.b"), case("u.c")])
            .unwrap();
        assert_eq!(names(&got), ["t.a"]);
        assert_eq!(
            got.skipped,
            [SkippedCase {
                case: "t.b".into(),
                by: "s.txt:1 `t.b`".into()
            }]
        );
        assert_eq!(got.unused_skips, ["s.txt:2 `t.never`"]);
        let none = Selection {
            include: vec![List::parse("i.txt", "zzz").unwrap()],
            ..Selection::default()
        };
        assert!(none
            .apply(vec![case("t.a")])
            .unwrap_err()
            .contains("no case matches the include list i.txt"));
    }

    #[test]
    fn rerun_takes_only_failed_cases_and_refuses_vanished_ones() {
        let only: BTreeSet<String> = ["t.b".to_string()].into();
        let sel = Selection {
            only: Some((only, "j".into())),
            ..Selection::default()
        };
        let got = sel.apply(vec![case("t.a"), case("t.b")]).unwrap();
        assert_eq!(names(&got), ["t.b"]);
        let e = sel.apply(vec![case("t.a")]).unwrap_err();
        assert!(
            e.contains("case `t.b`, which failed in j, is not in the tables"),
            "{e}"
        );
    }
}
