//! The append-only results journal: `results/<board>/journal.jsonl`. Every record is
//! written and flushed as it arrives, so Ctrl-C, a runner crash or a lost board never
//! loses a reported result; `hil-run --resume` continues from it.

use hil_proto::{CaseInfo, Facts, Observation, Outcome};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "record", rename_all = "kebab-case")]
pub enum Record {
    /// The case list the run set out to do (written once, at the start).
    Plan {
        board: String,
        started_unix: u64,
        cases: Vec<CaseInfo>,
        /// Cases a skip list removed from the plan (never run, never silently dropped).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        skipped: Vec<SkippedCase>,
    },
    Facts(Facts),
    /// What the run was started under (written once, after the plan): `--resume`
    /// continues only under the same.
    Config(RunConfig),
    Result(CaseResult),
    /// A GPU driver line that belongs to no case's result (see `DriverMessage`).
    DriverMessage(DriverMessage),
}

/// A run-level GPU driver line: logged while no case it could belong to ran, read again
/// after a suite process ended, or seen in a parallel attempt
/// whose verdicts were redone one case at a time and not seen again then. Kept so that no
/// driver line a case window saw, or the board logged between cases, vanishes; it fails
/// the run unless a baseline expects it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriverMessage {
    /// The line, level first (`[err] NVRM: Xid (PCI:0000:18:00): 13, …`).
    pub line: String,
    /// When the suite read it (seconds since the epoch; 0: not known).
    #[serde(default)]
    pub seen_unix: u64,
    /// The cases whose windows held it in a parallel attempt; empty: no case was running.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cases: Vec<String>,
    /// Where it was seen, in words (`logged while no case ran`, …).
    #[serde(default)]
    pub when: String,
}

/// The configuration a run's results were produced under.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunConfig {
    /// hil-run's own settings that decide what runs and how (`setting.test_threads`, …).
    #[serde(default)]
    pub settings: BTreeMap<String, String>,
    /// The board's facts when the run was planned: suite version and hash, tables, driver,
    /// libraries, and the settings the suite runs under (`setting.HIL_…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub facts: Option<Facts>,
    /// How many cases the board listed: a plan of fewer (a filter, shard, include or skip
    /// list, the inventory's too) tests a part of the tables on purpose.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listed: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseResult {
    pub case: String,
    pub outcome: Outcome,
    pub duration_s: f64,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub implementation: String,
    #[serde(default)]
    pub observations: Vec<Observation>,
    /// Earlier attempts of this case in this run (`--retry`); non-empty with `pass` = flaky.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub earlier: Vec<EarlierRun>,
}

/// A case a skip list removed, and the list line that did (`file:line `pattern``).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SkippedCase {
    pub case: String,
    pub by: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EarlierRun {
    pub outcome: Outcome,
    #[serde(default)]
    pub message: String,
    pub duration_s: f64,
}

pub struct Journal {
    path: PathBuf,
    file: File,
}

/// Whether this process has opened a board's journal: after that, an interrupted run has
/// something for `--resume`; before it, nothing was run or written.
static OPENED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

pub fn any_opened() -> bool {
    OPENED.load(std::sync::atomic::Ordering::SeqCst)
}

impl Journal {
    pub fn open(path: &Path) -> std::io::Result<Journal> {
        OPENED.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        cut_torn_tail(path)?;
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(Journal {
            path: path.to_path_buf(),
            file,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn append(&mut self, r: &Record) -> std::io::Result<()> {
        let mut line = serde_json::to_string(r).map_err(std::io::Error::other)?;
        line.push('\n');
        self.file.write_all(line.as_bytes())?;
        self.file.flush()?;
        // A power cut on the runner host must not lose what a board reported.
        self.file.sync_data()
    }
}

/// A writer that died mid-record leaves a last line without its newline; appending
/// after it would corrupt the next record too. A whole record that only lacks its newline
/// is kept (reading counts it, so cutting it would lose a result); a fragment is dropped
/// (it was never whole, and its case runs again).
fn cut_torn_tail(path: &Path) -> std::io::Result<()> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if bytes.last().is_some_and(|&b| b != b'\n') {
        let keep = bytes
            .iter()
            .rposition(|&b| b == b'\n')
            .map(|i| i + 1)
            .unwrap_or(0);
        if serde_json::from_slice::<Record>(&bytes[keep..]).is_ok() {
            return OpenOptions::new().append(true).open(path)?.write_all(b"\n");
        }
        OpenOptions::new()
            .write(true)
            .open(path)?
            .set_len(keep as u64)?;
    }
    Ok(())
}

/// What a journal holds: the plan, the facts and the latest result of each case.
#[derive(Debug, Default, Clone)]
pub struct State {
    pub board: String,
    pub cases: Vec<CaseInfo>,
    /// Cases a skip list removed (not in `cases`).
    pub skipped: Vec<SkippedCase>,
    pub facts: Option<Facts>,
    /// What the run was started under (None: a journal older than the record).
    pub config: Option<RunConfig>,
    pub results: BTreeMap<String, CaseResult>,
    /// Run-level driver lines, in the order they were journaled.
    pub driver_messages: Vec<DriverMessage>,
    pub started_unix: u64,
    /// Suite starts so far in this invocation; numbers each start's files uniquely.
    pub attempts: u32,
    /// How far the last suite process's kernel log reading was settled (its last
    /// `kernel-log-pos`): the next one reads again from there. Not journaled.
    pub kernel_log_pos: Option<u64>,
    /// How the last suite process of this invocation ended, for lines read again after it.
    pub last_suite_end: String,
}

impl State {
    pub fn apply(&mut self, r: Record) {
        match r {
            Record::Plan {
                board,
                started_unix,
                cases,
                skipped,
            } => {
                self.board = board;
                self.started_unix = started_unix;
                self.cases = cases;
                self.skipped = skipped;
            }
            Record::Facts(f) => self.facts = Some(f),
            Record::Config(c) => {
                // Until the suite reports its own, the facts it listed with.
                if self.facts.is_none() {
                    self.facts = c.facts.clone();
                }
                self.config = Some(c);
            }
            Record::Result(res) => {
                self.results.insert(res.case.clone(), res);
            }
            Record::DriverMessage(m) => self.driver_messages.push(m),
        }
    }

    /// Planned cases with no result yet, in plan order.
    pub fn remaining(&self) -> Vec<CaseInfo> {
        self.cases
            .iter()
            .filter(|c| !self.results.contains_key(&c.name))
            .cloned()
            .collect()
    }

    /// Results in plan order.
    pub fn ordered_results(&self) -> Vec<&CaseResult> {
        self.cases
            .iter()
            .filter_map(|c| self.results.get(&c.name))
            .collect()
    }
}

/// Reads a journal back. A torn last line (the writer died mid-write) is ignored;
/// any other unreadable line is an error naming its line number.
pub fn read(path: &Path) -> Result<State, String> {
    let f = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let lines: Vec<String> = BufReader::new(f)
        .lines()
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let mut st = State::default();
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Record>(line) {
            Ok(r) => st.apply(r),
            Err(_) if i + 1 == lines.len() => {} // torn tail
            Err(e) => {
                return Err(format!(
                    "{}:{}: unreadable journal record: {e}",
                    path.display(),
                    i + 1
                ))
            }
        }
    }
    Ok(st)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("hil-journal-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("journal.jsonl")
    }

    fn result_line(case: &str) -> String {
        serde_json::to_string(&Record::Result(crate::test_result(
            case,
            Outcome::Fail,
            "x",
        )))
        .unwrap()
    }

    #[test]
    fn a_whole_last_record_without_its_newline_is_kept_and_counted_once() {
        let path = temp("whole");
        let text = format!("{}\n{}", result_line("t.a"), result_line("t.b"));
        std::fs::write(&path, &text).unwrap();
        assert_eq!(read(&path).unwrap().results.len(), 2);
        let mut j = Journal::open(&path).unwrap();
        j.append(&Record::Result(crate::test_result(
            "t.c",
            Outcome::Pass,
            "",
        )))
        .unwrap();
        let st = read(&path).unwrap();
        assert_eq!(
            st.results.keys().collect::<Vec<_>>(),
            ["t.a", "t.b", "t.c"],
            "the record that lacked its newline left the journal"
        );
    }

    #[test]
    fn a_torn_fragment_is_cut_and_never_counted() {
        let path = temp("torn");
        let line = result_line("t.b");
        let text = format!("{}\n{}", result_line("t.a"), &line[..line.len() / 2]);
        std::fs::write(&path, &text).unwrap();
        assert_eq!(read(&path).unwrap().results.len(), 1);
        Journal::open(&path).unwrap();
        let st = read(&path).unwrap();
        assert_eq!(st.results.keys().collect::<Vec<_>>(), ["t.a"]);
        assert!(std::fs::read_to_string(&path).unwrap().ends_with('\n'));
    }
}
