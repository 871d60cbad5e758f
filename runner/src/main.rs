//! `hil-run`'s command line: parses the arguments and calls the library's commands
//! (`hil_run::commands`), which hold every command's body.

use clap::Parser;
use hil_run::commands;
use hil_run::orchestrate::RunOptions;
use hil_run::transport::ssh::LockPolicy;
use std::path::PathBuf;

/// hil-run: run the hil conformance suite on boards and collect the results.
///
/// For each board, hil-run starts `hil-suite` (on this machine for the built-in board
/// `local`; `model` is this machine with NvSciSync answered by hil's reference model,
/// every result saying so), streams its progress, and writes into RESULTS/<board>/:
///   journal.jsonl  every result as it arrived (append-only; survives crashes)
///   junit.xml      for CI (properties: board, driver, CUDA, suite version, implementations)
///   summary.txt    the summary printed at the end
///   results.csv    deqp-runner's format (test,status,duration); failures.csv its failures
///   flagged.md     each undefined-behaviour scenario and what the board did
///   suite-N.log    the suite's own output, one per (re)start
/// and RESULTS/report.html: every board of the run on one page (docs/report.md).
///
/// A case that crashes or hangs the suite is recorded (crash / timeout) and the suite is
/// restarted with the cases not yet reported. Outcomes: pass, fail, not-supported,
/// flagged, crash, timeout (docs/outcomes.md).
///
/// Exit status (docs/outcomes.md):
///   0    every result acceptable (with --baseline: no regression)
///   1    a regression on any board that was tested: a fail/crash/timeout (with --baseline:
///        one it does not expect, or coverage lost), or cases left unfinished; 1 whatever
///        else happened to the other boards
///   2    nothing tested: usage or configuration error, or no board could be tested (never
///        reached, held by another run, a suite for another CPU); results left as they were
///   3    some boards could not be tested (each named, and an error in RESULTS/junit.xml);
///        no regression on those that were
///   4    no baseline yet (--propose-baseline, --baseline FILE missing): the boards ran
///        unjudged and RESULTS/proposed-baseline.yaml is written: commit it as FILE
///   130  interrupted (SIGINT/SIGTERM)
#[derive(Parser)]
#[command(name = "hil-run", version, after_help = EXAMPLES, args_conflicts_with_subcommands = true, verbatim_doc_comment)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Board to run on (repeatable; several run in parallel). `local` (the default) is
    /// built in; other names come from the inventory (or are places of its labgrid farm).
    #[arg(long = "board", value_name = "NAME")]
    boards: Vec<String>,
    /// Also run every inventory board with this tag (repeatable). A `key=value` tag
    /// reserves any labgrid place with those tags (docs/farm.md).
    #[arg(long = "tag", value_name = "TAG")]
    tags: Vec<String>,
    /// Board inventory (default: $HIL_INVENTORY, else ~/.config/hil/boards.yaml).
    #[arg(long, value_name = "FILE")]
    inventory: Option<PathBuf>,
    /// Trust and record host keys not yet in known_hosts (never a changed key).
    #[arg(long)]
    accept_new_host_keys: bool,
    /// Wait up to SECS for a board (or labgrid place) that another run holds (default:
    /// fail at once).
    #[arg(long, value_name = "SECS", default_value_t = 0)]
    lock_wait: u64,
    /// Remove a board lock left behind by a run that is gone. A lock whose run is alive
    /// (a hil-run on this host whose process still exists) is left: wait with
    /// --lock-wait, or add --break-live-lock.
    #[arg(long)]
    break_lock: bool,
    /// With --break-lock: break the lock even though its run is alive. That run notices
    /// within seconds, stops its suite and marks its unfinished cases (exit 2); this run
    /// first ends any suite it left on the board.
    #[arg(long, requires = "break_lock")]
    break_live_lock: bool,
    /// Where results go: RESULTS/<board>/.
    #[arg(long, value_name = "DIR", default_value = "results")]
    results: PathBuf,
    /// Run only cases whose name contains one of these (repeatable).
    #[arg(long = "filter", value_name = "SUBSTR")]
    filters: Vec<String>,
    /// Continue an interrupted run: keep the journal, run only the cases without a result.
    #[arg(long, conflicts_with_all = ["rerun_failed", "include", "skip"])]
    resume: bool,
    /// Run only the cases that failed, crashed or timed out in the last run's journal
    /// (a fresh run: that journal is kept as journal.prev.jsonl).
    #[arg(long, conflicts_with = "shard")]
    rerun_failed: bool,
    /// Run only cases matching a pattern of FILE (repeatable; deqp-runner's include list:
    /// a regex per line, `#` comments; see docs/farm.md).
    #[arg(long, value_name = "FILE")]
    include: Vec<PathBuf>,
    /// Skip cases matching a pattern of FILE (repeatable; deqp-runner's --skips format);
    /// skipped cases are listed in the summary and in skipped.txt.
    #[arg(long, value_name = "FILE")]
    skip: Vec<PathBuf>,
    /// The hil-suite binary for `local` (default: $HIL_SUITE, else next to hil-run).
    #[arg(long, value_name = "PATH")]
    suite: Option<PathBuf>,
    /// Case tables to use instead of those built into hil-suite.
    #[arg(long, value_name = "DIR")]
    tables: Option<PathBuf>,
    /// Cases the suite runs at once. Default: one per CPU of the board; a case running in
    /// the suite's process still has its GPUs to itself, and cases in flight when the suite
    /// dies run again one at a time, so verdicts and crash attribution do not depend on
    /// this. 1 runs everything serially.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    test_threads: Option<u32>,
    /// Expected results (YAML `expect: {case: outcome}`): the exit status then reports
    /// regressions only, and the summary lists fixes and expected failures.
    #[arg(long, value_name = "FILE")]
    baseline: Option<PathBuf>,
    /// Also write RESULTS/proposed-baseline.yaml from every board's journal (what
    /// `baseline-from` writes from them). With a --baseline file that does not exist yet,
    /// the boards run unjudged (a group's first night) and the exit status is 4.
    #[arg(long)]
    propose_baseline: bool,
    /// Re-run failing cases up to N more times; a case that then passes is `flaky`
    /// (listed, and a flakyFailure in JUnit), never silently green.
    #[arg(long, value_name = "N", default_value_t = 0)]
    retry: u32,
    /// Run shard K of N (1-based): every N-th case of the list, for splitting a run across
    /// jobs or boards deterministically. `hash:K/N` shards by a stable hash of the case
    /// name instead: a case stays in its shard when cases are added.
    #[arg(long, value_name = "[hash:]K/N")]
    shard: Option<String>,
    /// Also write a conformance bundle (tar): every board's results, logs, facts, suite
    /// version and table hashes, pinned by SHA-256 in a manifest.
    #[arg(long, value_name = "FILE")]
    bundle: Option<PathBuf>,
    /// Sign the bundle's manifest with this SSH private key (SSHSIG, namespace
    /// `hil-bundle`, by ssh-keygen).
    #[arg(long, value_name = "KEY", requires = "bundle")]
    sign_key: Option<PathBuf>,
    /// Print only the summary: no progress line, no line per case. (Without -q: a live
    /// line per board on a terminal, plain lines in a log; docs/report.md.)
    #[arg(short, long)]
    quiet: bool,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Check a conformance bundle: every file against the manifest's SHA-256, nothing
    /// missing or added; prints the boards, drivers and counts it vouches for.
    VerifyBundle {
        /// The bundle (.tar) written by --bundle.
        file: PathBuf,
        /// Require a signature by a key this OpenSSH allowed_signers file lists, and say
        /// who signed.
        #[arg(long, value_name = "FILE")]
        allowed_signers: Option<PathBuf>,
    },
    /// Print what changed from run to run, for each board: the last run against the one
    /// before (new fails, fixes, coverage lost or gained, new driver messages), the facts
    /// that changed, and each case whose outcome was not constant, since when.
    History {
        /// Journals, or directories of results (every journal.jsonl under them); runs of
        /// a board are ordered by start time.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Write the HTML report (as every run writes to RESULTS/report.html) from journals:
    /// again after the fact, or several runs side by side.
    Report {
        /// Journals, RESULTS/<board>/journal.jsonl (each board's files are linked from beside
        /// it), or directories of results. Several runs of one board add their history.
        #[arg(required = true)]
        journals: Vec<PathBuf>,
        /// Judge against these expected results, as `--baseline` does.
        #[arg(long, value_name = "FILE")]
        baseline: Option<PathBuf>,
        /// Where the page goes.
        #[arg(short, long, value_name = "FILE", default_value = "report.html")]
        out: PathBuf,
    },
    /// Print a baseline (YAML for --baseline) that expects what a run did: its fail, crash
    /// and timeout cases. Several journals (the boards of a group) give one baseline for
    /// all: expected to fail where any board failed, `ran` where every board ran; facts
    /// that differ between boards are listed, not recorded (docs/farm.md).
    BaselineFrom {
        /// The runs' journals, RESULTS/<board>/journal.jsonl.
        #[arg(required = true)]
        journals: Vec<PathBuf>,
    },
}

const EXAMPLES: &str = "Examples:
  hil-run                                   run everything on this machine (board `local`)
  hil-run --filter vulkan.import            only the Vulkan import cases
  hil-run --filter .runtime                 only the CUDA runtime-API cases
  hil-run --board model                     NvSciSync rows against the reference model
  hil-run --test-threads 1                  one case at a time (verdicts are the same)
  hil-run --resume                          finish a run that was interrupted
  hil-run --suite ./hil-suite --tables fixtures/tables
  hil-run --board orin01 --inventory boards.yaml   a board over SSH (deploys hil-suite)
  hil-run --tag nightly                     every board tagged `nightly`, in parallel
  hil-run --baseline expected.yaml --retry 2 --bundle conformance.tar
  hil-run --rerun-failed                    only what failed, crashed or timed out last time
  hil-run --shard hash:2/4 --skip skips.txt
  hil-run --bundle c.tar --sign-key ~/.ssh/farm_ed25519
  hil-run verify-bundle c.tar --allowed-signers allowed_signers
  hil-run baseline-from results/local/journal.jsonl > expected.yaml
  hil-run baseline-from results/orin-a/journal.jsonl results/orin-b/journal.jsonl > orin.yaml
  hil-run report a/orin01/journal.jsonl b/orin01/journal.jsonl -o compare.html
  hil-run history nightly/                  what changed since last night, per board";

fn main() {
    hil_run::trace::enabled(); // HIL_TRACE's clock starts with the process
    let cli = Cli::parse();
    hil_run::interrupt::install();
    hil_run::progress::set_quiet(cli.quiet);
    std::process::exit(commands::exit_code(dispatch(&cli)));
}

fn dispatch(cli: &Cli) -> anyhow::Result<i32> {
    match &cli.command {
        Some(Command::BaselineFrom { journals }) => commands::baseline_from::run(journals),
        Some(Command::Report {
            journals,
            baseline,
            out,
        }) => commands::report::run(journals, baseline.as_deref(), out),
        Some(Command::History { paths }) => commands::history::run(paths),
        Some(Command::VerifyBundle {
            file,
            allowed_signers,
        }) => Ok(commands::verify_bundle::run(
            file,
            allowed_signers.as_deref(),
        )),
        None => commands::run::run(&request(cli)),
    }
}

fn request(cli: &Cli) -> commands::run::Request {
    commands::run::Request {
        boards: cli.boards.clone(),
        tags: cli.tags.clone(),
        inventory: cli.inventory.clone(),
        bundle: cli.bundle.clone(),
        sign_key: cli.sign_key.clone(),
        options: options(cli),
    }
}

fn options(cli: &Cli) -> RunOptions {
    RunOptions {
        results: cli.results.clone(),
        suite: cli.suite.clone(),
        tables: cli.tables.clone(),
        filters: cli.filters.clone(),
        include: cli.include.clone(),
        skip: cli.skip.clone(),
        rerun_failed: cli.rerun_failed,
        resume: cli.resume,
        test_threads: cli.test_threads,
        baseline: cli.baseline.clone(),
        retry: cli.retry,
        shard: cli.shard.clone(),
        quiet: cli.quiet,
        accept_new_host_keys: cli.accept_new_host_keys,
        propose_baseline: cli.propose_baseline,
        lock: LockPolicy {
            wait_s: cli.lock_wait,
            break_stale: cli.break_lock,
            break_live: cli.break_live_lock,
        },
    }
}
