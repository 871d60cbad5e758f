//! How the runner reaches a board's `hil-suite`: here as a child process (`local`);
//! the session logic above it is the same for every transport.

pub mod arch;
pub mod keep;
pub mod local;
pub mod ssh;

use hil_proto::CaseInfo;

/// How a suite process ended.
#[derive(Debug, Clone)]
pub enum ExitInfo {
    Code(i32),
    Signal(i32),
    /// The runner killed it (backstop timeout).
    Killed,
    /// The connection to the board was lost.
    Lost(String),
    /// The run no longer holds the board (its lock or labgrid place was taken): the
    /// transport stopped the suite.
    Revoked(String),
}

impl std::fmt::Display for ExitInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExitInfo::Code(c) => write!(f, "exit status {c}"),
            ExitInfo::Signal(s) => write!(f, "killed by signal {s}{}", signal_suffix(*s)),
            ExitInfo::Killed => write!(f, "killed by the runner"),
            ExitInfo::Lost(why) => write!(f, "connection lost: {why}"),
            ExitInfo::Revoked(why) => write!(f, "stopped: {why}"),
        }
    }
}

fn signal_suffix(s: i32) -> &'static str {
    match s {
        libc::SIGSEGV => " (SIGSEGV)",
        libc::SIGABRT => " (SIGABRT)",
        libc::SIGBUS => " (SIGBUS)",
        libc::SIGKILL => " (SIGKILL)",
        libc::SIGTERM => " (SIGTERM)",
        libc::SIGILL => " (SIGILL)",
        libc::SIGFPE => " (SIGFPE)",
        _ => "",
    }
}

/// The suite refused its configuration (exit status 2): a user error, not a board fault.
#[derive(Debug, thiserror::Error)]
#[error("hil-suite rejected its configuration: {0}")]
pub struct SuiteRejected(pub String);

/// The board went away (a dropped connection that did not come back): the one failure to
/// start the suite that marks unfinished cases `crash`. Any other (a refused upload, a
/// local I/O error, a signal) is an error that leaves them for `--resume`, never a result.
pub fn board_lost(e: &anyhow::Error) -> bool {
    e.chain()
        .filter_map(|c| c.downcast_ref::<ssh::SshError>())
        .any(ssh::SshError::is_board_lost)
}

/// Whether this run still holds its board to itself. Whoever watches the hold (the
/// on-board lock check, a labgrid reservation's keep-alive) revokes it with the reason;
/// the running suite is then stopped and the run ends (`BoardRevoked`).
#[derive(Clone, Default)]
pub struct Tenure(std::sync::Arc<std::sync::Mutex<Option<String>>>);

impl Tenure {
    /// Records why the board is no longer this run's (the first reason stays).
    pub fn revoke(&self, why: String) {
        let mut g = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if g.is_none() {
            *g = Some(why);
        }
    }

    /// Why the board is no longer this run's, if it is not.
    pub fn revoked(&self) -> Option<String> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// The run lost its hold on the board while it ran: its unfinished cases are marked
/// `crash` with the reason, and the run ends with exit 2 (no verdict on the board).
#[derive(Debug, thiserror::Error)]
#[error("board `{board}` is no longer held by this run: {why}; the run was stopped and its unfinished cases marked crash")]
pub struct BoardRevoked {
    pub board: String,
    pub why: String,
}

/// What listing the suite on a board gives: its cases and, before them, its facts.
#[derive(Debug, Clone, Default)]
pub struct Listing {
    pub cases: Vec<CaseInfo>,
    /// The board's facts at listing time (a suite older than `--list-json --facts` gives none).
    pub facts: Option<hil_proto::Facts>,
}

/// The arguments that list a suite's cases, facts first.
pub const LIST_ARGS: [&str; 2] = ["--list-json", "--facts"];

/// `hil-suite --list-json --facts` output of `board`: a facts event line, then one case
/// per line. A line that is not a case is a refusal naming the board (exit 2), as is a
/// suite older than hil-run.
pub fn parse_case_listing(board: &str, stdout: &str) -> anyhow::Result<Listing> {
    // A suite built before facts came with the listing prints only its facts, whole.
    if serde_json::from_str::<hil_proto::Facts>(stdout).is_ok() {
        return Err(SuiteRejected(
            "this hil-suite is older than hil-run: asked for its cases and facts, it printed \
             only its facts. Use the hil-suite built with this hil-run (for a board: the \
             inventory's `suite`, e.g. a new scripts/build-jetson build)"
                .into(),
        )
        .into());
    }
    let mut listing = Listing::default();
    for l in stdout.lines().filter(|l| !l.trim().is_empty()) {
        if listing.cases.is_empty() && listing.facts.is_none() && l.starts_with("{\"event\"") {
            if let Ok(hil_proto::Event::Facts(f)) = hil_proto::Event::from_line(l) {
                listing.facts = Some(crate::board_facts::capped_facts(f));
                continue;
            }
        }
        let case = serde_json::from_str(l).map_err(|e| {
            let l = hil_proto::text::escape_line(&hil_proto::text::cap_start(l, 300)).into_owned();
            SuiteRejected(format!(
                "board {board}: the suite listed a line that is not a case ({e}): {l}; is the \
                 suite on the board the hil-suite built with this hil-run?"
            ))
        })?;
        listing.cases.push(case);
    }
    Ok(listing)
}

/// The suite's `--test-threads` arguments (none: its default, one per CPU).
pub fn threads_args(threads: Option<u32>) -> Vec<String> {
    match threads {
        Some(n) => vec!["--test-threads".into(), n.max(1).to_string()],
        None => vec![],
    }
}

pub trait Transport {
    /// Gets the board ready (deploy); returns a line for the user, if any.
    fn prepare(&mut self) -> anyhow::Result<Option<String>> {
        Ok(None)
    }
    /// Copies the board's suite logs and event streams into `dir` (local: already there).
    fn collect_logs(&mut self, _dir: &std::path::Path) -> anyhow::Result<usize> {
        Ok(0)
    }
    /// Removes what the run leaves on the board beyond what the board keeps (see
    /// docs/boards.md); returns a line for the user, if any. Called once, at the end.
    fn clean_up(&mut self) -> anyhow::Result<Option<String>> {
        Ok(None)
    }
    /// `hil-suite --list-json --facts` on the board.
    fn list_cases(&mut self) -> anyhow::Result<Listing>;
    /// Starts `hil-suite` on exactly these cases; `attempt` numbers its log; `threads`
    /// is its `--test-threads` (None: the suite's default).
    fn start(
        &mut self,
        cases: &[String],
        attempt: u32,
        threads: Option<u32>,
    ) -> anyhow::Result<Box<dyn Running>>;
}

pub trait Running {
    /// Event lines completed since the last call.
    fn poll_events(&mut self) -> std::io::Result<Vec<String>>;
    fn try_wait(&mut self) -> std::io::Result<Option<ExitInfo>>;
    /// Kills the suite and everything it started.
    fn kill(&mut self);
    /// The last lines the suite printed, for crash messages.
    fn output_tail(&self, lines: usize) -> String;
    /// How often to poll; remote boards cost a round trip per poll.
    fn poll_interval(&self) -> std::time::Duration {
        std::time::Duration::from_millis(20)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_older_suite_that_prints_only_its_facts_is_refused_as_such() {
        let facts = serde_json::to_string_pretty(&hil_proto::Facts::default()).unwrap();
        let e = super::parse_case_listing("b1", &facts).unwrap_err();
        assert!(e.downcast_ref::<super::SuiteRejected>().is_some(), "{e:#}");
        assert!(format!("{e:#}").contains("older than hil-run"), "{e:#}");
        let listing = super::parse_case_listing(
            "b1",
            &format!(
                "{}\n{}\n",
                hil_proto::Event::Facts(hil_proto::Facts::default()).to_line(),
                serde_json::to_string(&crate::test_case("t.a")).unwrap()
            ),
        )
        .unwrap();
        assert!(listing.facts.is_some());
        assert_eq!(listing.cases.len(), 1);
    }

    #[test]
    fn a_listing_line_that_is_not_a_case_is_a_refusal_naming_the_board() {
        for bad in [
            r#"{"name":"t.a","table":"t","backend":"host","timeout_s":1e999}"#,
            r#"{"name":"t.a","table":"t","backend":"host","timeout_s":"5"}"#,
            "not json \u{1b}[2J",
        ] {
            let e = super::parse_case_listing("b1", bad).unwrap_err();
            assert!(e.downcast_ref::<super::SuiteRejected>().is_some(), "{e:#}");
            let e = format!("{e:#}");
            assert!(
                e.contains("board b1: the suite listed a line that is not a case"),
                "{e}"
            );
            assert!(!e.contains('\u{1b}'), "{e}");
        }
    }
}
