//! One run over boards: open each board (whatever source it came from), plan, run the
//! cases with crash-resume and `--retry` rounds, write the reports, reset a board left
//! unusable, and merge the reports of several boards. `main` only parses arguments.

use crate::board::{self, Board, BoardKind};
use crate::journal::{self, Journal, Record, State};
use crate::reset::Reset;
use crate::session::{self, Progress};
use crate::transport::local::Local;
use crate::transport::ssh::{SshBoard, SshError};
use crate::transport::Transport;
use crate::{junit, summary};
use anyhow::Context as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

pub use crate::run_options::{Finished, RunOptions};

/// Errors in what the user asked for (exit status 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// Exit status 2: nothing was tested and the user must fix something (arguments, tables,
/// inventory, host keys, credentials, a board that cannot be reached at all, the farm's
/// coordinator); retrying as is cannot help.
pub fn is_config_error(e: &anyhow::Error) -> bool {
    e.downcast_ref::<ConfigError>().is_some()
        || e.downcast_ref::<crate::transport::SuiteRejected>()
            .is_some()
        // A suite built for another CPU than the board's: nothing can run.
        || e.downcast_ref::<crate::transport::arch::WrongArch>().is_some()
        || e.downcast_ref::<SshError>().is_some_and(SshError::is_fatal)
        // A board another run holds: nothing was tested, and it is no regression.
        || e.downcast_ref::<crate::transport::ssh::BoardLocked>().is_some()
        // The board was taken from the run while it ran: no verdict on the board, never 0.
        || e.downcast_ref::<crate::transport::BoardRevoked>().is_some()
        // The farm (coordinator down, place unknown or busy): infrastructure, never a result.
        || e.downcast_ref::<crate::labgrid::LabgridError>()
            .is_some_and(|l| !matches!(l, crate::labgrid::LabgridError::Interrupted(_)))
}

/// Runs `boards` (one thread each when several) and, for several, writes the merged
/// JUnit and summary into `opts.results`. A single board's error is returned as is.
pub fn run_boards(opts: &RunOptions, boards: &[Board]) -> anyhow::Result<Finished> {
    let bootstrap = crate::night::first_night(opts).map_err(ConfigError)?;
    // The first night runs unjudged; the proposal names the baseline it stands for.
    let unjudged = RunOptions {
        baseline: opts.baseline.clone().filter(|_| !bootstrap),
        ..opts.clone()
    };
    let finished = run_boards_judged(&unjudged, boards, bootstrap)?;
    Ok(crate::night::propose(opts, finished, bootstrap))
}

fn run_boards_judged(
    opts: &RunOptions,
    boards: &[Board],
    bootstrap: bool,
) -> anyhow::Result<Finished> {
    if let [b] = boards {
        return run_single_board(opts, b, bootstrap);
    }
    let results = run_in_parallel(opts, boards);
    merge_boards(opts, results, bootstrap)
}

/// One board: its own reports, and for a remote board the merged JUnit CI reads.
fn run_single_board(opts: &RunOptions, b: &Board, bootstrap: bool) -> anyhow::Result<Finished> {
    let remote = !matches!(b.kind, BoardKind::Local);
    let (state, code) = run_board(opts, b, "");
    if let Some(st) = &state {
        write_html_report(opts, &[st]);
    }
    if remote && !crate::interrupt::interrupted() {
        let why = code.as_ref().err().map(|e| format!("{e:#}"));
        let not_tested: Vec<(String, String)> = match (&state, why) {
            (None, Some(why)) => vec![(b.name.clone(), why)],
            _ => vec![],
        };
        write_merged_junit(opts, state.iter().collect(), &not_tested)?;
    }
    let code = crate::night::board_code(state.as_ref(), code?, bootstrap);
    let code = crate::night::exit_status(&[code], bootstrap);
    Ok(Finished {
        code,
        states: state.into_iter().collect(),
    })
}

/// Every board on a thread of its own; each board's run, by name.
fn run_in_parallel(opts: &RunOptions, boards: &[Board]) -> Vec<(String, BoardRun)> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = boards
            .iter()
            .map(|b| {
                (
                    b.name.clone(),
                    scope.spawn(move || run_board(opts, b, &format!("{}: ", b.name))),
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
    })
}

/// Several boards' runs as one: the merged JUnit, summary and report, and the exit status
/// of them all.
fn merge_boards(
    opts: &RunOptions,
    results: Vec<(String, BoardRun)>,
    bootstrap: bool,
) -> anyhow::Result<Finished> {
    let mut verdicts = Vec::new();
    let mut not_tested = Vec::new();
    let mut states = Vec::new();
    let mut text = String::from("all boards:\n");
    for (name, (state, r)) in results {
        match &r {
            Ok(code) => verdicts.push(crate::night::board_code(state.as_ref(), *code, bootstrap)),
            Err(e) => {
                // Nothing tested there (unreachable, held by another run, refused its
                // suite): said, and never hiding a regression of another board.
                verdicts.push(if is_config_error(e) { 2 } else { 1 });
                if state.is_none() {
                    not_tested.push((name.clone(), format!("{e:#}")));
                }
                // On stderr as well: CI logs often show only that for a failing step.
                crate::errln!("hil-run: error: board {name}: {e:#}");
                // A multi-line error stays inside its board's row.
                let e = format!("{e:#}").replace('\n', "\n                         ");
                text.push_str(&format!("  {name:<16} ERROR: {e}\n"));
            }
        }
        if let Some(st) = state {
            let c = summary::counts(&st);
            let line: Vec<String> = c.iter().map(|(o, n)| format!("{o} {n}")).collect();
            text.push_str(&format!("  {:<16} {}\n", st.board, line.join(" · ")));
            states.push(st);
        }
    }
    let interrupted = crate::interrupt::interrupted();
    let worst = crate::night::exit_status(&verdicts, bootstrap);
    if states.is_empty() {
        // No board got as far as a plan: each board's results of an earlier run stay as
        // they were; the merged JUnit says why each board was not tested.
        crate::out!("\n{text}");
        if !interrupted {
            write_merged_junit(opts, vec![], &not_tested)?;
            std::fs::write(opts.results.join("summary.txt"), &text)?;
        }
        let code = if interrupted { 130 } else { worst };
        return Ok(Finished { code, states });
    }
    let refs: Vec<&State> = states.iter().collect();
    let merged = write_merged_junit(opts, refs.clone(), &not_tested)?;
    std::fs::write(opts.results.join("summary.txt"), &text)?;
    crate::outln!("\n{text}merged junit: {}", merged.display());
    write_html_report(opts, &refs);
    if interrupted {
        return Ok(Finished {
            code: 130,
            states: vec![],
        });
    }
    Ok(Finished {
        code: worst,
        states,
    })
}

/// `RESULTS/junit.xml`: a `<testsuite>` per board that ran, and one holding an error test
/// case for each board that could not be tested, naming why (so CI's test report shows
/// an unreachable board). Returns its path.
fn write_merged_junit(
    opts: &RunOptions,
    states: Vec<&State>,
    not_tested: &[(String, String)],
) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(&opts.results)?;
    let merged = opts.results.join("junit.xml");
    let baseline = load_baseline_again(opts);
    let cmps: Vec<_> = states
        .iter()
        .map(|st| crate::baseline::compare(baseline.as_ref(), st))
        .collect();
    let judged: Vec<junit::Judged> = states
        .iter()
        .zip(&cmps)
        .map(|(state, cmp)| junit::Judged {
            state,
            cmp,
            baseline: opts.baseline.as_ref().and_then(|p| p.to_str()),
        })
        .collect();
    let mut report = junit::merged(&judged, "hil");
    for (board, why) in not_tested {
        report.add_test_suite(crate::night::not_tested_suite(board, why));
    }
    junit::write(&report, &merged)?;
    Ok(merged)
}

/// The run's baseline for the merged reports. Validated before the run started; a file
/// changed since then only loses the judgements, never a result.
fn load_baseline_again(opts: &RunOptions) -> Option<crate::baseline::Baseline> {
    opts.baseline
        .as_ref()
        .and_then(|p| crate::baseline::load(p).ok())
}

/// `results/report.html` for the boards of this run. The report only shows what the
/// journals hold, so failing to write it loses nothing: a warning, not a changed verdict.
fn write_html_report(opts: &RunOptions, states: &[&State]) {
    let baseline = load_baseline_again(opts);
    let views: Vec<crate::report::BoardView> = states
        .iter()
        .map(|st| {
            crate::report::BoardView::new(
                st,
                crate::baseline::compare(baseline.as_ref(), st),
                &opts.results.join(&st.board).join("journal.jsonl"),
                &opts.results,
            )
        })
        .collect();
    match crate::report::write(&opts.results, &views) {
        Ok(path) => crate::outln!("report: {}", path.display()),
        Err(e) => crate::errln!(
            "hil-run: warning: could not write {}: {e}",
            opts.results.join(crate::report::FILE).display()
        ),
    }
}

/// A board's state (whenever a plan was made, even on error, so the merged report and an
/// interrupted run still show what was reported) and its exit status or error.
type BoardRun = (Option<State>, anyhow::Result<i32>);

/// One board: take it from its source, run, leave it tidy, let it go.
pub fn run_board(opts: &RunOptions, b: &Board, prefix: &str) -> BoardRun {
    // Configuration first: a bad baseline or shard must not surface after an hour of
    // testing, nor after a farm's board was taken for it.
    let baseline = match &opts.baseline {
        Some(p) => match crate::baseline::load(p) {
            Ok(b) => Some(b),
            Err(e) => return (None, Err(ConfigError(e).into())),
        },
        None => None,
    };
    if let Some(Err(e)) = opts.shard.as_deref().map(crate::shard::parse) {
        return (None, Err(ConfigError(e).into()));
    }
    let Opened {
        mut transport,
        board,
        held,
    } = match open_board(opts, b) {
        Ok(o) => o,
        Err(e) => return (None, Err(e)),
    };
    let reset = match (&held, &b.kind) {
        (Some(h), _) => Reset::Labgrid(h),
        (None, BoardKind::Ssh(spec)) => Reset::Command(spec),
        _ => Reset::None,
    };
    let r = run_on_board(opts, &board, prefix, transport.as_mut(), &reset, baseline);
    // Whatever happened, the board is left tidy (before its lock goes with the transport).
    match crate::trace::timed(&b.name, "clean_up", || transport.clean_up()) {
        Ok(Some(note)) => crate::infoln!("hil-run: {}: {note}", board.name),
        Ok(None) => {}
        // A board that could not be reached, or was lost: its error was said already.
        Err(e)
            if r.1.as_ref().is_err_and(|re| {
                crate::transport::board_lost(re) || format!("{re:#}") == format!("{e:#}")
            }) => {}
        Err(e) => crate::errln!(
            "hil-run: {}: could not clean up the board: {e:#}",
            board.name
        ),
    }
    crate::trace::timed(&b.name, "release", || drop(transport));
    // Last: the farm's lock and reservation (also after an error or a signal).
    drop(held);
    r
}

/// A board ready to run on: its transport, its name (a labgrid reservation by tags is
/// named after the place it got), and the labgrid place held for the run.
struct Opened {
    transport: Box<dyn Transport>,
    board: Board,
    held: Option<crate::labgrid::Held>,
}

fn open_board(opts: &RunOptions, b: &Board) -> anyhow::Result<Opened> {
    let ssh = |spec: crate::inventory::BoardSpec, tenure: Option<crate::transport::Tenure>| {
        let mut ssh = SshBoard::new(spec, opts.accept_new_host_keys, opts.tables.clone());
        // The on-board lock is taken for every board, labgrid places too.
        ssh.lock = opts.lock;
        if let Some(t) = tenure {
            ssh.tenure = t;
        }
        Box::new(ssh)
    };
    let (transport, board, held): (Box<dyn Transport>, Board, _) = match &b.kind {
        BoardKind::Local => (
            Box::new(Local {
                suite: board::find_suite(opts.suite.clone()).map_err(ConfigError)?,
                tables: opts.tables.clone(),
                dir: opts.results.join(&b.name),
            }),
            b.clone(),
            None,
        ),
        BoardKind::Ssh(spec) => (ssh((**spec).clone(), None), b.clone(), None),
        BoardKind::Labgrid(lg) => {
            let held = crate::labgrid::Held::take(&lg.client, &lg.select, opts.lock.wait_s)?;
            let svc = held.network_service()?;
            let spec = lg
                .template
                .spec_for(held.place(), &svc.address, svc.port, &svc.username)
                .map_err(ConfigError)?;
            crate::infoln!(
                "hil-run: labgrid place {} locked as {}/{} (reservation {}); ssh {}@{}:{}",
                held.place(),
                crate::facts_host(),
                lg.client.owner,
                held.token(),
                spec.user,
                spec.host,
                spec.port
            );
            let board = Board {
                name: held.place().to_string(),
                kind: b.kind.clone(),
            };
            (ssh(spec, Some(held.tenure())), board, Some(held))
        }
    };
    Ok(Opened {
        transport,
        board,
        held,
    })
}

/// The plan: everything the user gave (baseline, shard, journal to resume, tables, filters)
/// is checked before any file of an earlier run is touched; a bad input is exit 2 with
/// the results directory exactly as it was.
fn plan(
    opts: &RunOptions,
    b: &Board,
    transport: &mut dyn Transport,
    journal_path: &Path,
) -> anyhow::Result<State> {
    let selection = if opts.resume {
        None
    } else {
        let sel = crate::caselist::Options {
            shard: opts.shard.clone(),
            filters: opts.filters.clone(),
            include: opts.include.clone(),
            skip: opts.skip.clone(),
            rerun_failed: opts.rerun_failed,
        };
        Some(
            crate::caselist::Selection::prepare(&sel, &b.case_lists(), journal_path)
                .map_err(ConfigError)?,
        )
    };
    let resumed = if opts.resume {
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
    let prepared = crate::trace::timed(&b.name, "prepare", || transport.prepare())?;
    if let Some(note) = prepared {
        crate::infoln!("hil-run: {}: {note}", b.name);
    }
    // Listing is how the suite validates its tables (exit 2: SuiteRejected).
    let crate::transport::Listing {
        cases: listed,
        facts,
    } = crate::trace::timed(&b.name, "list_cases", || transport.list_cases())?;
    let settings = recorded_settings(opts, b);
    // Names and limits the runner can take as they are, or a refusal naming the board.
    crate::from_board::check_listing(&b.name, &listed).map_err(ConfigError)?;
    if let Some(st) = resumed {
        return resume_checked(
            st,
            &listed,
            &settings,
            facts.as_ref(),
            journal_path,
            &b.name,
        );
    }
    let listed_count = listed.len();
    let selected = selection
        .unwrap_or_default()
        .apply(listed)
        .map_err(ConfigError)?;
    for p in &selected.unused_skips {
        crate::outln!("hil-run: {}: skip pattern {p} matches no case", b.name);
    }
    Ok(State {
        board: b.name.clone(),
        cases: selected.cases,
        skipped: selected.skipped,
        facts: facts.clone(),
        config: Some(crate::journal::RunConfig {
            settings,
            facts,
            listed: Some(listed_count),
        }),
        ..State::default()
    })
}

/// The plan of the run `--resume` continues, once the configuration it started under and
/// the cases left to run are checked against what the board lists now.
fn resume_checked(
    st: State,
    listed: &[hil_proto::CaseInfo],
    settings: &std::collections::BTreeMap<String, String>,
    facts: Option<&hil_proto::Facts>,
    journal_path: &Path,
    board: &str,
) -> anyhow::Result<State> {
    check_same_config(&st, settings, facts, journal_path)?;
    let known: std::collections::BTreeSet<&str> = listed.iter().map(|c| c.name.as_str()).collect();
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
    crate::outln!(
        "hil-run: resuming {}: {} of {} cases already reported",
        board,
        st.results.len(),
        st.cases.len()
    );
    Ok(st)
}

/// A resumed run goes on with the settings it started with where this invocation gives
/// none (`--test-threads`, `--retry`; a different one was refused by the plan).
fn inherit_settings(opts: &RunOptions, st: &State) -> RunOptions {
    let mut o = opts.clone();
    let Some(c) = st.config.as_ref().filter(|_| opts.resume) else {
        return o;
    };
    let recorded = |k| c.setting(k).and_then(|v| v.parse::<u32>().ok());
    o.test_threads = o.test_threads.or(recorded(crate::config::TEST_THREADS));
    if o.retry == 0 {
        o.retry = recorded(crate::config::RETRY).unwrap_or(0);
    }
    o
}

/// hil-run's settings that decide what a run does, as the journal records them.
fn recorded_settings(opts: &RunOptions, b: &Board) -> std::collections::BTreeMap<String, String> {
    use crate::config::{self as c, DEFAULT};
    // The inventory's lists for this board choose cases as much as the command line's.
    let lists = b.case_lists();
    let include: Vec<PathBuf> = opts.include.iter().chain(&lists.include).cloned().collect();
    let skip: Vec<PathBuf> = opts.skip.iter().chain(&lists.skip).cloned().collect();
    let or_default = |v: Option<String>| v.unwrap_or_else(|| DEFAULT.to_string());
    [
        (
            c::TEST_THREADS,
            or_default(opts.test_threads.map(|n| n.to_string())),
        ),
        (
            c::RETRY,
            or_default((opts.retry > 0).then(|| opts.retry.to_string())),
        ),
        (
            c::FILTER,
            or_default((!opts.filters.is_empty()).then(|| opts.filters.join(" | "))),
        ),
        (c::INCLUDE, c::file_setting(&include)),
        (c::SKIP, c::file_setting(&skip)),
        (c::SHARD, or_default(opts.shard.clone())),
        (
            c::RERUN_FAILED,
            or_default(opts.rerun_failed.then(|| "true".into())),
        ),
        (
            c::TABLES,
            or_default(opts.tables.as_ref().map(|t| t.display().to_string())),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// `--resume` continues a run only under the configuration it started with: the same
/// suite, tables, driver and libraries, and settings. Checked before anything is touched.
fn check_same_config(
    st: &State,
    given: &std::collections::BTreeMap<String, String>,
    facts: Option<&hil_proto::Facts>,
    journal_path: &Path,
) -> anyhow::Result<()> {
    use crate::config;
    let recorded = st.config.as_ref();
    // A journal older than the record says nothing of its settings: none is compared.
    let mut changes = match recorded {
        Some(c) => config::setting_changes(
            &c.settings,
            // Only what the run's plan depends on: the plan is taken from the journal.
            &given
                .iter()
                .filter(|(k, _)| k.as_str() != config::TABLES)
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        None => Vec::new(),
    };
    let then = recorded
        .and_then(|c| c.facts.as_ref())
        .or(st.facts.as_ref());
    if let (Some(then), Some(now)) = (then, facts) {
        changes.extend(config::fact_changes(then, now));
    }
    if changes.is_empty() {
        return Ok(());
    }
    let tables = recorded
        .and_then(|c| c.setting(config::TABLES))
        .map(|t| format!(" (it used --tables {t})"))
        .unwrap_or_default();
    Err(ConfigError(format!(
        "cannot resume {}: the run started under another configuration, and one journal \
         holds the results of one configuration only:\n{}\
         Resume with what the run started with{tables}, or start a new run without --resume \
         (the earlier results are then set aside as journal.prev.jsonl).",
        journal_path.display(),
        config::describe(&changes)
    ))
    .into())
}

fn run_on_board(
    opts: &RunOptions,
    b: &Board,
    prefix: &str,
    transport: &mut dyn Transport,
    reset: &Reset,
    baseline: Option<crate::baseline::Baseline>,
) -> BoardRun {
    let dir = opts.results.join(&b.name);
    let journal_path = dir.join("journal.jsonl");
    let mut state = match plan(opts, b, transport, &journal_path) {
        Ok(st) => st,
        Err(e) => return (None, Err(e)),
    };
    let inherited = inherit_settings(opts, &state);
    let opts = &inherited;
    // Validated: only now does the results directory change.
    let journal = std::fs::create_dir_all(&dir)
        .and_then(|()| {
            if opts.resume {
                state.attempts = crate::results_dir::last_attempt(&dir);
                Ok(())
            } else {
                crate::results_dir::start_fresh(&dir)
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
    let outcome = execute(opts, b, prefix, transport, &mut journal, &mut state);
    let cmp = crate::baseline::compare(baseline.as_ref(), &state);
    let baseline_name = opts.baseline.as_ref().map(|p| p.display().to_string());
    // Remote logs come home with the results (a lost board keeps what it had sent).
    if let Err(e) = crate::trace::timed(&b.name, "collect_logs", || transport.collect_logs(&dir)) {
        crate::errln!(
            "hil-run: {}: could not copy the suite logs from the board: {e:#}",
            b.name
        );
    }
    // Whatever happened, report what we have: nothing reported is ever dropped.
    let written = crate::trace::timed(&b.name, "write_reports", || {
        write_reports(&dir, &state, started, &cmp, baseline_name.as_deref())
    });
    reset.if_needed(&b.name, &state);
    let code = summary::exit_code(&state, &cmp);
    (Some(state), outcome.and(written).map(|()| code))
}

/// The plan into the journal, then the cases and any `--retry` rounds.
fn execute(
    opts: &RunOptions,
    b: &Board,
    prefix: &str,
    transport: &mut dyn Transport,
    journal: &mut Journal,
    state: &mut State,
) -> anyhow::Result<()> {
    if !opts.resume {
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
        if let Some(c) = &state.config {
            journal.append(&Record::Config(c.clone()))?;
        }
    }
    let style = crate::progress::Style::detect(opts.quiet);
    let failing = state
        .results
        .values()
        .filter(|r| r.outcome.is_failure())
        .count();
    let mut progress = Progress::new(
        style,
        &b.name,
        prefix,
        state.cases.len(),
        state.results.len(),
        failing,
    );
    if style != crate::progress::Style::Quiet {
        crate::outln!("hil-run: board {}: {} cases", b.name, state.cases.len());
    }
    session::run(transport, journal, state, &mut progress, opts.test_threads)?;
    for round in 1..=opts.retry {
        retry_failures(transport, journal, state, &mut progress, round)?;
    }
    progress.finish();
    Ok(())
}

fn write_reports(
    dir: &Path,
    state: &State,
    started: Instant,
    cmp: &crate::baseline::Comparison,
    baseline_name: Option<&str>,
) -> anyhow::Result<()> {
    let junit_path = dir.join("junit.xml");
    let judged = junit::Judged {
        state,
        cmp,
        baseline: baseline_name,
    };
    junit::write(&junit::build(&judged), &junit_path)
        .with_context(|| format!("writing {}", junit_path.display()))?;
    let text = summary::render(state, started.elapsed().as_secs_f64(), cmp, baseline_name);
    std::fs::write(dir.join("summary.txt"), &text)?;
    std::fs::write(dir.join("flagged.md"), summary::flagged_table(state))?;
    crate::deqp::write(dir, state, cmp)?;
    crate::caselist::write_skipped(dir, &state.skipped)?;
    crate::outln!("\n{text}");
    crate::outln!(
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
    crate::outln!(
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
    progress.again(failing.len());
    // Few cases: one at a time, so a retry never overlaps another failing case.
    let r = session::run(transport, journal, &mut sub, progress, Some(1));
    state.attempts = sub.attempts;
    for c in &failing {
        let (Some(prev), Some(new)) = (state.results.get(&c.name), sub.results.get(&c.name)) else {
            continue;
        };
        let (prev, new) = (prev.clone(), new.clone());
        record_retry(journal, state, progress, round, &c.name, prev, new)?;
    }
    r
}

/// A case's retry into the journal and state: the new result with the earlier attempts
/// (a pass after a failure is flaky), keeping the driver lines the failed attempt saw.
fn record_retry(
    journal: &mut Journal,
    state: &mut State,
    progress: &mut Progress,
    round: u32,
    case: &str,
    prev: crate::journal::CaseResult,
    new: crate::journal::CaseResult,
) -> anyhow::Result<()> {
    // A driver fault the failed attempt saw stays in the results when the retry
    // passes without it: a one-off Xid is what a nightly run exists to catch.
    if !new.outcome.is_failure() {
        for line in crate::driver_messages::not_again(&prev, &new) {
            let m = crate::journal::DriverMessage {
                line,
                seen_unix: 0,
                cases: vec![case.to_string()],
                when: format!(
                    "logged while {} ran and failed it; not logged again when it ran \
                     again (retry round {round}) and passed",
                    case
                ),
            };
            progress.driver_message(&m);
            crate::driver_messages::record(journal, state, m)?;
        }
    }
    let mut merged = new.clone();
    merged.earlier = prev.earlier.clone();
    merged.earlier.push(crate::journal::EarlierRun {
        outcome: prev.outcome,
        message: prev.message.clone(),
        duration_s: prev.duration_s,
    });
    // A retry the board was gone for never ran the case: the first cause stays the
    // result (what CI shows), and the retry is listed as another attempt.
    if new.outcome.is_failure() && session::never_ran(&new) && prev.outcome.is_failure() {
        merged = prev.clone();
        merged.earlier.push(crate::journal::EarlierRun {
            outcome: new.outcome,
            message: new.message.clone(),
            duration_s: new.duration_s,
        });
    }
    // Last record wins on replay, so the journal keeps the whole history.
    journal.append(&Record::Result(merged.clone()))?;
    state.results.insert(case.to_string(), merged);
    Ok(())
}
