use anyhow::Context as _;
use clap::Parser;
use hil_run::board::{self, Board, BoardKind};
use hil_run::journal::{self, Journal, Record, State};
use hil_run::session::{self, Progress};
use hil_run::transport::local::Local;
use hil_run::transport::ssh::{LockPolicy, SshBoard, SshError};
use hil_run::transport::Transport;
use hil_run::{junit, summary};
use std::path::{Path, PathBuf};
use std::time::Instant;

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
///
/// A case that crashes or hangs the suite is recorded (crash / timeout) and the suite is
/// restarted with the cases not yet reported. Outcomes: pass, fail, not-supported,
/// flagged, crash, timeout (docs/outcomes.md).
///
/// Exit status: 0 every result acceptable, 1 a fail/crash/timeout (or cases left
/// unfinished), 2 nothing tested: usage or configuration error, or a board never reached
/// (the results directory is left as it was), 130 interrupted (SIGINT/SIGTERM).
#[derive(Parser)]
#[command(name = "hil-run", version, after_help = EXAMPLES, args_conflicts_with_subcommands = true, verbatim_doc_comment)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Board to run on (repeatable; several run in parallel). `local` (the default) is
    /// built in; other names come from the inventory.
    #[arg(long = "board", value_name = "NAME")]
    boards: Vec<String>,
    /// Also run every inventory board with this tag (repeatable).
    #[arg(long = "tag", value_name = "TAG")]
    tags: Vec<String>,
    /// Board inventory (default: $HIL_INVENTORY, else ~/.config/hil/boards.yaml).
    #[arg(long, value_name = "FILE")]
    inventory: Option<PathBuf>,
    /// Trust and record host keys not yet in known_hosts (never a changed key).
    #[arg(long)]
    accept_new_host_keys: bool,
    /// Wait up to SECS for a board that another run holds (default: fail at once).
    #[arg(long, value_name = "SECS", default_value_t = 0)]
    lock_wait: u64,
    /// Remove a board lock left behind by a run that is gone.
    #[arg(long)]
    break_lock: bool,
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
    #[arg(long, value_name = "N")]
    test_threads: Option<u32>,
    /// Expected results (YAML `expect: {case: outcome}`): the exit status then reports
    /// regressions only, and the summary lists fixes and expected failures.
    #[arg(long, value_name = "FILE")]
    baseline: Option<PathBuf>,
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
    /// Print only the summary, not a line per case.
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
    /// Print a baseline (YAML for --baseline) that expects what a run did: its fail, crash
    /// and timeout cases.
    BaselineFrom {
        /// The run's journal, RESULTS/<board>/journal.jsonl.
        journal: PathBuf,
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
  hil-run baseline-from results/local/journal.jsonl > expected.yaml";

fn main() {
    let cli = Cli::parse();
    hil_run::interrupt::install();
    let code = match run(&cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("hil-run: error: {e:#}");
            if hil_run::interrupt::interrupted() {
                130
            } else if is_config_error(&e) {
                2
            } else {
                1
            }
        }
    };
    std::process::exit(code);
}

/// Exit status 2: nothing was tested and the user must fix something (arguments, tables,
/// inventory, host keys, credentials, a board that cannot be reached at all); retrying
/// as is cannot help.
fn is_config_error(e: &anyhow::Error) -> bool {
    e.downcast_ref::<ConfigError>().is_some()
        || e.downcast_ref::<hil_run::transport::SuiteRejected>()
            .is_some()
        || e.downcast_ref::<SshError>().is_some_and(SshError::is_fatal)
}

/// Errors in what the user asked for (exit status 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct ConfigError(String);

fn run(cli: &Cli) -> anyhow::Result<i32> {
    if let Some(Command::BaselineFrom { journal }) = &cli.command {
        let st = journal::read(journal).map_err(ConfigError)?;
        print!(
            "{}",
            hil_run::baseline::from_state(&st, &journal.display().to_string())
        );
        return Ok(0);
    }
    if let Some(Command::VerifyBundle {
        file,
        allowed_signers,
    }) = &cli.command
    {
        return Ok(
            match hil_run::bundle::verify(file, allowed_signers.as_deref()) {
                Ok(report) => {
                    print!("{report}");
                    0
                }
                Err(errors) => {
                    for e in errors {
                        eprintln!("hil-run: verify-bundle: {e}");
                    }
                    1
                }
            },
        );
    }
    let mut names = cli.boards.clone();
    if names.is_empty() && cli.tags.is_empty() {
        names.push("local".into());
    }
    let boards = board::resolve(&names, &cli.tags, cli.inventory.as_deref())
        .map_err(|e| ConfigError(e.to_string()))?;
    if let Some(key) = &cli.sign_key {
        // A key that cannot sign must not surface after the whole run.
        hil_run::sshsig::sign(key, b"hil-run: can this key sign?")
            .map_err(|e| ConfigError(format!("--sign-key: {e}")))?;
    }
    if let [b] = boards.as_slice() {
        let (state, code) = run_board(cli, b, "");
        let code = code?;
        if let Some(st) = &state {
            write_bundle(cli, &[st])?;
        }
        return Ok(code);
    }
    // Several boards: one thread each, then a merged report.
    let results: Vec<(String, BoardRun)> = std::thread::scope(|scope| {
        let handles: Vec<_> = boards
            .iter()
            .map(|b| {
                (
                    b.name.clone(),
                    scope.spawn(move || run_board(cli, b, &format!("{}: ", b.name))),
                )
            })
            .collect();
        handles
            .into_iter()
            .map(|(n, h)| {
                let r = h
                    .join()
                    .unwrap_or_else(|_| (None, Err(anyhow::anyhow!("runner thread panicked"))));
                (n, r)
            })
            .collect()
    });
    let mut worst = 0;
    let mut states = Vec::new();
    let mut text = String::from("all boards:\n");
    for (name, (state, r)) in &results {
        match r {
            Ok(code) => worst = worst.max(*code),
            Err(e) => {
                worst = worst.max(if is_config_error(e) { 2 } else { 1 });
                text.push_str(&format!("  {name:<16} ERROR: {e:#}\n"));
            }
        }
        if let Some(st) = state {
            let c = summary::counts(st);
            let line: Vec<String> = c.iter().map(|(o, n)| format!("{o} {n}")).collect();
            text.push_str(&format!("  {name:<16} {}\n", line.join(" · ")));
            states.push(st);
        }
    }
    if states.is_empty() {
        // No board got as far as a plan: the merged report of an earlier run stays as it was.
        print!("\n{text}");
        return Ok(if hil_run::interrupt::interrupted() {
            130
        } else {
            worst
        });
    }
    std::fs::create_dir_all(&cli.results)?;
    let merged = cli.results.join("junit.xml");
    junit::write(&junit::merged(&states, "hil"), &merged)?;
    std::fs::write(cli.results.join("summary.txt"), &text)?;
    println!("\n{text}merged junit: {}", merged.display());
    if hil_run::interrupt::interrupted() {
        return Ok(130);
    }
    write_bundle(cli, &states)?;
    Ok(worst)
}

fn write_bundle(cli: &Cli, states: &[&State]) -> anyhow::Result<()> {
    if let Some(out) = &cli.bundle {
        if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        hil_run::bundle::write(out, &cli.results, states, cli.sign_key.as_deref())
            .with_context(|| format!("writing bundle {}", out.display()))?;
        let check = match cli.sign_key {
            Some(_) => " --allowed-signers FILE",
            None => "",
        };
        println!(
            "bundle: {} (check with `hil-run verify-bundle {}{check}`)",
            out.display(),
            out.display()
        );
    }
    Ok(())
}

/// A board's state (whenever a plan was made, even on error, so the merged report and an
/// interrupted run still show what was reported) and its exit status or error.
type BoardRun = (Option<State>, anyhow::Result<i32>);

fn run_board(cli: &Cli, b: &Board, prefix: &str) -> BoardRun {
    let mut transport = match open_board(cli, b) {
        Ok(t) => t,
        Err(e) => return (None, Err(e)),
    };
    let r = run_on_board(cli, b, prefix, transport.as_mut());
    // Whatever happened, the board is left tidy (before its lock goes with the transport).
    match transport.clean_up() {
        Ok(Some(note)) => println!("hil-run: {}: {note}", b.name),
        Ok(None) => {}
        Err(e) => eprintln!("hil-run: {}: could not clean up the board: {e:#}", b.name),
    }
    r
}

fn open_board(cli: &Cli, b: &Board) -> anyhow::Result<Box<dyn Transport>> {
    Ok(match &b.kind {
        BoardKind::Local => Box::new(Local {
            suite: board::find_suite(cli.suite.clone()).map_err(ConfigError)?,
            tables: cli.tables.clone(),
            dir: cli.results.join(&b.name),
        }),
        BoardKind::Ssh(spec) => {
            let mut ssh = SshBoard::new(
                (**spec).clone(),
                cli.accept_new_host_keys,
                cli.tables.clone(),
            );
            ssh.lock = LockPolicy {
                wait_s: cli.lock_wait,
                break_stale: cli.break_lock,
            };
            Box::new(ssh)
        }
    })
}

/// The plan: everything the user gave (baseline, shard, journal to resume, tables, filters)
/// is checked before any file of an earlier run is touched; a bad input is exit 2 with
/// the results directory exactly as it was.
fn plan(
    cli: &Cli,
    b: &Board,
    transport: &mut dyn Transport,
    journal_path: &Path,
) -> anyhow::Result<State> {
    let selection = if cli.resume {
        None
    } else {
        let opts = hil_run::caselist::Options {
            shard: cli.shard.clone(),
            filters: cli.filters.clone(),
            include: cli.include.clone(),
            skip: cli.skip.clone(),
            rerun_failed: cli.rerun_failed,
        };
        Some(hil_run::caselist::Selection::prepare(&opts, b, journal_path).map_err(ConfigError)?)
    };
    let resumed = if cli.resume {
        let st =
            journal::read(journal_path).map_err(|e| ConfigError(format!("cannot resume: {e}")))?;
        if st.cases.is_empty() {
            return Err(ConfigError(format!(
                "cannot resume: {} holds no plan",
                journal_path.display()
            ))
            .into());
        }
        Some(st)
    } else {
        None
    };
    if let Some(note) = transport.prepare()? {
        println!("hil-run: {}: {note}", b.name);
    }
    // Listing is how the suite validates its tables (exit 2: SuiteRejected).
    let listed = transport.list_cases()?;
    if let Some(st) = resumed {
        let known: std::collections::BTreeSet<&str> =
            listed.iter().map(|c| c.name.as_str()).collect();
        if let Some(gone) = st
            .remaining()
            .iter()
            .find(|c| !known.contains(c.name.as_str()))
        {
            return Err(ConfigError(format!(
                "cannot resume: case `{}` of the plan in {} is not in the tables any more; \
                 pass the tables the run started with, or start a new run without --resume",
                gone.name,
                journal_path.display()
            ))
            .into());
        }
        println!(
            "hil-run: resuming {}: {} of {} cases already reported",
            b.name,
            st.results.len(),
            st.cases.len()
        );
        return Ok(st);
    }
    let selected = selection
        .unwrap_or_default()
        .apply(listed)
        .map_err(ConfigError)?;
    for p in &selected.unused_skips {
        println!("hil-run: {}: skip pattern {p} matches no case", b.name);
    }
    Ok(State {
        board: b.name.clone(),
        cases: selected.cases,
        skipped: selected.skipped,
        ..State::default()
    })
}

fn run_on_board(cli: &Cli, b: &Board, prefix: &str, transport: &mut dyn Transport) -> BoardRun {
    // Configuration first: a bad baseline must not surface after an hour of testing.
    let baseline = match &cli.baseline {
        Some(p) => match hil_run::baseline::load(p) {
            Ok(b) => Some(b),
            Err(e) => return (None, Err(ConfigError(e).into())),
        },
        None => None,
    };
    let dir = cli.results.join(&b.name);
    let journal_path = dir.join("journal.jsonl");
    let mut state = match plan(cli, b, transport, &journal_path) {
        Ok(st) => st,
        Err(e) => return (None, Err(e)),
    };
    // Validated: only now does the results directory change.
    let journal = std::fs::create_dir_all(&dir)
        .and_then(|()| {
            if cli.resume {
                state.attempts = hil_run::results_dir::last_attempt(&dir);
                Ok(())
            } else {
                hil_run::results_dir::start_fresh(&dir)
            }
        })
        .with_context(|| format!("preparing {}", dir.display()))
        .and_then(|()| {
            Journal::open(&journal_path)
                .with_context(|| format!("opening {}", journal_path.display()))
        });
    let mut journal = match journal {
        Ok(j) => j,
        Err(e) => return (None, Err(e)),
    };
    let started = Instant::now();
    let outcome = execute(cli, b, prefix, transport, &mut journal, &mut state);
    let cmp = hil_run::baseline::compare(baseline.as_ref(), &state);
    let baseline_name = cli.baseline.as_ref().map(|p| p.display().to_string());
    // Remote logs come home with the results (a lost board keeps what it had sent).
    if let Err(e) = transport.collect_logs(&dir) {
        eprintln!(
            "hil-run: {}: could not copy the suite logs from the board: {e:#}",
            b.name
        );
    }
    // Whatever happened, report what we have: nothing reported is ever dropped.
    let written = write_reports(&dir, &state, started, &cmp, baseline_name.as_deref());
    if let BoardKind::Ssh(spec) = &b.kind {
        reset_if_needed(spec, &state);
    }
    let code = summary::exit_code(&state, &cmp);
    (Some(state), outcome.and(written).map(|()| code))
}

/// The plan into the journal, then the cases and any `--retry` rounds.
fn execute(
    cli: &Cli,
    b: &Board,
    prefix: &str,
    transport: &mut dyn Transport,
    journal: &mut Journal,
    state: &mut State,
) -> anyhow::Result<()> {
    if !cli.resume {
        let started_unix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        journal.append(&Record::Plan {
            board: b.name.clone(),
            started_unix,
            cases: state.cases.clone(),
            skipped: state.skipped.clone(),
        })?;
    }
    let mut progress = Progress {
        quiet: cli.quiet,
        prefix: prefix.to_string(),
        total: state.cases.len(),
        done: state.results.len(),
    };
    println!("hil-run: board {}: {} cases", b.name, state.cases.len());
    session::run(transport, journal, state, &mut progress, cli.test_threads)?;
    for round in 1..=cli.retry {
        retry_failures(transport, journal, state, &mut progress, round)?;
    }
    Ok(())
}

fn write_reports(
    dir: &Path,
    state: &State,
    started: Instant,
    cmp: &hil_run::baseline::Comparison,
    baseline_name: Option<&str>,
) -> anyhow::Result<()> {
    let junit_path = dir.join("junit.xml");
    junit::write(&junit::build(state), &junit_path)
        .with_context(|| format!("writing {}", junit_path.display()))?;
    let text = summary::render(state, started.elapsed().as_secs_f64(), cmp, baseline_name);
    std::fs::write(dir.join("summary.txt"), &text)?;
    std::fs::write(dir.join("flagged.md"), summary::flagged_table(state))?;
    hil_run::deqp::write(dir, state, cmp)?;
    hil_run::caselist::write_skipped(dir, &state.skipped)?;
    println!("\n{text}");
    println!(
        "junit: {}\njournal: {}",
        junit_path.display(),
        dir.join("journal.jsonl").display()
    );
    Ok(())
}

/// One `--retry` round: re-runs the cases that failed, crashed or timed out, and records
/// each with its earlier attempts (a pass after a failure is flaky).
fn retry_failures(
    transport: &mut dyn Transport,
    journal: &mut Journal,
    state: &mut State,
    progress: &mut Progress,
    round: u32,
) -> anyhow::Result<()> {
    let failing: Vec<_> = state
        .cases
        .iter()
        .filter(|c| {
            state
                .results
                .get(&c.name)
                .is_some_and(|r| r.outcome.is_failure())
        })
        .cloned()
        .collect();
    if failing.is_empty() {
        return Ok(());
    }
    println!(
        "hil-run: {}: retry round {round}: {} case(s)",
        state.board,
        failing.len()
    );
    let mut sub = State {
        board: state.board.clone(),
        cases: failing.clone(),
        facts: state.facts.clone(),
        attempts: state.attempts,
        ..State::default()
    };
    progress.total += failing.len();
    // Few cases: one at a time, so a retry never overlaps another failing case.
    let r = session::run(transport, journal, &mut sub, progress, Some(1));
    state.attempts = sub.attempts;
    for c in &failing {
        let (Some(prev), Some(new)) = (state.results.get(&c.name), sub.results.get(&c.name)) else {
            continue;
        };
        let mut merged = new.clone();
        merged.earlier = prev.earlier.clone();
        merged.earlier.push(hil_run::journal::EarlierRun {
            outcome: prev.outcome,
            message: prev.message.clone(),
            duration_s: prev.duration_s,
        });
        // Last record wins on replay, so the journal keeps the whole history.
        journal.append(&Record::Result(merged.clone()))?;
        state.results.insert(c.name.clone(), merged);
    }
    r
}

/// Longest a board's `reset` command may take (a power cycle and boot fit well inside).
const RESET_LIMIT: std::time::Duration = std::time::Duration::from_secs(600);

/// A device left unusable (health probe after an undefined-behaviour case): run the
/// inventory's reset command, here on the runner host, so the next run finds a working board.
fn reset_if_needed(spec: &hil_run::inventory::BoardSpec, state: &State) {
    let needs = state.results.values().any(|r| {
        r.observations
            .iter()
            .any(|o| o.key == "board_needs_reset" && o.value == "true")
    });
    match (&spec.reset, needs) {
        (Some(cmd), true) => {
            use hil_run::interrupt::{wait_child, ChildEnd};
            use std::os::unix::process::CommandExt as _;
            // Its own process group: a hung PDU command is killed whole, not waited for forever.
            let ended = std::process::Command::new("/bin/sh")
                .arg("-c")
                .arg(cmd)
                .process_group(0)
                .spawn()
                .and_then(|mut child| wait_child(&mut child, RESET_LIMIT));
            match ended {
                Ok(ChildEnd::Exited(s)) if s.success() => {
                    println!("hil-run: {}: board needed a reset; ran `{cmd}`", spec.name)
                }
                other => eprintln!(
                    "hil-run: {}: board needs a reset; `{cmd}` failed: {}",
                    spec.name,
                    match other {
                        Ok(ChildEnd::Exited(s)) => s.to_string(),
                        Ok(ChildEnd::TimedOut) =>
                            format!("no exit within {} s; killed", RESET_LIMIT.as_secs()),
                        Ok(ChildEnd::Interrupted) => "interrupted; killed".into(),
                        Err(e) => e.to_string(),
                    }
                ),
            }
        }
        (None, true) => eprintln!(
            "hil-run: {}: board needs a reset and the inventory has no `reset` command",
            spec.name
        ),
        _ => {}
    }
}
