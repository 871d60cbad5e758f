//! One board's run: start the suite on the cases not yet reported, journal results as
//! they stream in, and when the suite dies or hangs, record the case it died in and
//! start again with the rest (crash-resume, as deqp-runner does).

use crate::journal::{CaseResult, Journal, Record, State};
pub use crate::progress::Progress;
use crate::transport::{BoardRevoked, ExitInfo, Running, Transport};
use anyhow::Context as _;
use hil_proto::{key, Event, Observation, Outcome};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// Time past a case's own limit before the runner kills the suite itself. The suite's
/// watchdog normally reports the timeout first; this catches a suite too wedged to.
pub const BACKSTOP_GRACE: Duration = Duration::from_secs(15);
const OUTPUT_TAIL_LINES: usize = 15;

/// Runs every remaining case of `state` on `transport`, journaling as it goes.
/// `threads`: the suite's `--test-threads` (None: the suite's default, parallel).
pub fn run(
    transport: &mut dyn Transport,
    journal: &mut Journal,
    state: &mut State,
    progress: &mut Progress,
    threads: Option<u32>,
) -> anyhow::Result<()> {
    // Driver lines of parallel results not kept, until their cases' reruns have results.
    let mut unsettled = crate::driver_messages::Unsettled::default();
    let ran = rounds(transport, journal, state, progress, threads, &mut unsettled);
    // However the run ended, no line a case window saw is dropped.
    for m in unsettled.settle(&state.results, true) {
        progress.driver_message(&m);
        crate::driver_messages::record(journal, state, m)
            .with_context(|| format!("appending to {}", journal.path().display()))?;
    }
    ran
}

fn rounds(
    transport: &mut dyn Transport,
    journal: &mut Journal,
    state: &mut State,
    progress: &mut Progress,
    threads: Option<u32>,
    unsettled: &mut crate::driver_messages::Unsettled,
) -> anyhow::Result<()> {
    let timeouts = case_limits(state);
    // Results of an earlier invocation (`--resume`): the board may have been reset since.
    let earlier: BTreeSet<String> = state.results.keys().cloned().collect();
    // Cases in flight when a parallel suite died, to run again serially.
    let mut suspects: Vec<String> = Vec::new();
    let mut warnings = crate::from_board::Warnings::new(&state.board);
    // The board was lost while a suite ran (it had started): a later start that fails
    // says so, not that the suite could not be started.
    let mut lost_after_start: Option<String> = None;
    loop {
        let remaining: Vec<String> = state.remaining().into_iter().map(|c| c.name).collect();
        if remaining.is_empty() {
            return Ok(());
        }
        suspects.retain(|c| remaining.contains(c));
        let (cases, threads) = next_start(state, &earlier, &remaining, &suspects, threads);
        let before = state.results.len();
        let (attempt, started) = start(transport, state, &cases, threads);
        let mut run = match started {
            Ok(run) => run,
            Err(e) => {
                let lost = lost_after_start.as_deref();
                return not_started(journal, state, progress, e, remaining, lost);
            }
        };
        let serial = threads == Some(1);
        let mut along = Along {
            timeouts: &timeouts,
            defer_shared: !serial,
            warnings: &mut warnings,
            unsettled,
        };
        let ended = drive(run.as_mut(), journal, state, progress, &mut along)?;
        state.last_suite_end = suite_end(attempt, &ended);
        if let ExitInfo::Revoked(why) = &ended.exit {
            return revoked(journal, state, progress, why.clone());
        }
        if let ExitInfo::Lost(why) = &ended.exit {
            lost_after_start = Some(why.clone());
        }
        if let Some(e) = rejected(&ended, state.results.len() == before, run.as_ref()) {
            return Err(e.into());
        }
        let (blamed, others) = attribute(&ended, &timeouts);
        // Cases that were only running beside the one that took the suite down are not
        // blamed: they run again, one at a time, so each gets its own verdict.
        suspects = others;
        // A driver line several cases' windows held, in a parallel run: whose it was is
        // settled by running those cases again one at a time.
        suspects.extend(ended.shared.iter().cloned());
        let exit = &ended.exit;
        record_blamed(
            journal,
            state,
            progress,
            blamed,
            exit,
            &timeouts,
            run.as_ref(),
        )?;
        if !suspects.is_empty() {
            continue;
        }
        if state.results.len() == before {
            // The suite ran nothing at all: retrying would loop forever.
            return ran_nothing(journal, state, progress, remaining, &ended, run.as_ref());
        }
    }
}

/// Starts attempt `state.attempts + 1` of the suite on `cases`: its number, and the run.
fn start(
    transport: &mut dyn Transport,
    state: &mut State,
    cases: &[String],
    threads: Option<u32>,
) -> (u32, anyhow::Result<Box<dyn Running>>) {
    // Unique across retry rounds too: each start's files must never be reused.
    state.attempts += 1;
    let attempt = state.attempts;
    let started = crate::trace::timed(&state.board, "start", || {
        transport.start(cases, attempt, threads)
    });
    (attempt, started)
}

/// A suite that ended without running any case: every remaining case is a crash with
/// its output.
fn ran_nothing(
    journal: &mut Journal,
    state: &mut State,
    progress: &mut Progress,
    remaining: Vec<String>,
    ended: &Ended,
    run: &dyn Running,
) -> anyhow::Result<()> {
    let why = format!(
        "hil-suite ended ({}) without running any case; its output:\n{}",
        ended.exit,
        run.output_tail(OUTPUT_TAIL_LINES)
    );
    crash_all(journal, state, progress, remaining, &why)
}

/// Each case's limit as the runner waits for it: its own, and a UB case on a GPU also
/// waits for its health before its result.
fn case_limits(state: &State) -> BTreeMap<String, f64> {
    state
        .cases
        .iter()
        .map(|c| {
            let probe = if c.ub.is_some() && !c.devices.is_empty() {
                hil_proto::UB_HEALTH_ALLOWANCE_S as f64
            } else {
                0.0
            };
            (c.name.clone(), c.timeout_s + probe)
        })
        .collect()
}

/// The `--cases-from` lines of the next start, and its threads: the suspects of the last
/// start alone, one at a time, else every remaining case.
fn next_start(
    state: &State,
    earlier: &BTreeSet<String>,
    remaining: &[String],
    suspects: &[String],
    threads: Option<u32>,
) -> (Vec<String>, Option<u32>) {
    let (mut cases, threads) = if suspects.is_empty() {
        (remaining.to_vec(), threads)
    } else {
        (suspects.to_vec(), Some(1))
    };
    // A device a UB case left unusable in this run stays so in the restarted suite:
    // the verdicts must not depend on whether the suite was restarted.
    cases.splice(0..0, unusable_lines(state, earlier));
    // What the last suite process left unsettled in the kernel log (it died, its
    // watchdog stopped it, or it ended): read again, so no driver line is lost.
    if let Some(pos) = state.kernel_log_pos {
        cases.insert(0, format!("{}{pos}", hil_proto::KERNEL_LOG_FROM_LINE));
    }
    (cases, threads)
}

/// The suite could not be started: the board no longer this run's or lost (the cases
/// left are marked), else an error that is no verdict on the cases.
fn not_started(
    journal: &mut Journal,
    state: &mut State,
    progress: &mut Progress,
    e: anyhow::Error,
    remaining: Vec<String>,
    lost_after_start: Option<&str>,
) -> anyhow::Result<()> {
    // The board is no longer this run's: what is left is marked, and the run ends.
    if !interrupted() {
        if let Some(r) = e.downcast_ref::<BoardRevoked>() {
            let why = r.why.clone();
            return revoked(journal, state, progress, why);
        }
    }
    // A signal, or an error that is not a lost board: no verdict on the cases.
    if interrupted() || !crate::transport::board_lost(&e) {
        return Err(e);
    }
    // A board that cannot be reached again: its unfinished cases are marked, not dropped.
    let message = match lost_after_start {
        Some(why) if format!("{e:#}").contains(why) => {
            format!("no result: the board was lost after hil-suite started ({why})")
        }
        Some(why) => format!(
            "no result: the board was lost after hil-suite started ({why}); \
             starting it again failed: {e:#}"
        ),
        None => format!("could not start hil-suite on the board: {e:#}"),
    };
    crash_all(journal, state, progress, remaining, &message)
}

/// The cases blamed for the suite's end, each a timeout (the runner killed it) or a crash
/// saying how the suite ended, with the suite's last output.
fn record_blamed(
    journal: &mut Journal,
    state: &mut State,
    progress: &mut Progress,
    blamed: Vec<(String, Instant)>,
    exit: &ExitInfo,
    timeouts: &BTreeMap<String, f64>,
    run: &dyn Running,
) -> anyhow::Result<()> {
    for (case, started) in blamed {
        let message = match exit {
            ExitInfo::Killed => format!(
                "no result within {:.0}s (limit {:.0}s + {}s grace); the runner killed the suite",
                started.elapsed().as_secs_f64(),
                timeouts.get(&case).copied().unwrap_or(0.0),
                BACKSTOP_GRACE.as_secs()
            ),
            ExitInfo::Lost(why) => format!(
                "the board was lost while this case ran ({why}); \
                 hil-suite's fate there is unknown"
            ),
            exit => format!("hil-suite died while this case ran ({exit})"),
        };
        let outcome = if matches!(exit, ExitInfo::Killed) {
            Outcome::Timeout
        } else {
            Outcome::Crash
        };
        let r = CaseResult {
            case,
            outcome,
            duration_s: started.elapsed().as_secs_f64(),
            message,
            implementation: String::new(),
            observations: vec![Observation::new(
                key::OUTPUT_TAIL,
                run.output_tail(OUTPUT_TAIL_LINES),
            )],
            earlier: vec![],
        };
        record(journal, state, progress, r)?;
    }
    Ok(())
}

/// A result the runner recorded for a case that never ran in that attempt: the board was
/// gone before the suite reached it (or before a suite could start).
pub fn never_ran(r: &CaseResult) -> bool {
    r.message
        .starts_with("could not start hil-suite on the board")
        || r.message
            .starts_with("no result: the board was lost after hil-suite started")
}

/// Exit status 2 before any case started is the suite refusing its configuration
/// (tables, arguments): a user error, never a result for the cases it did not run.
fn rejected(
    ended: &Ended,
    nothing_reported: bool,
    run: &dyn Running,
) -> Option<crate::transport::SuiteRejected> {
    let refused = matches!(ended.exit, ExitInfo::Code(2)) && nothing_reported;
    (refused && ended.inflight.is_empty())
        .then(|| crate::transport::SuiteRejected(run.output_tail(OUTPUT_TAIL_LINES)))
}

struct Ended {
    exit: ExitInfo,
    inflight: Vec<(String, Instant)>,
    /// Cases whose results were not kept: a driver log line shared with other cases (see
    /// `drive`; their lines wait in `Unsettled`).
    shared: Vec<String>,
}

/// How a suite process ended, in words, for driver lines read again after it.
fn suite_end(attempt: u32, ended: &Ended) -> String {
    let running: Vec<&str> = ended.inflight.iter().map(|(c, _)| c.as_str()).collect();
    if running.is_empty() {
        format!("after hil-suite start {attempt} ended ({})", ended.exit)
    } else {
        format!(
            "while hil-suite start {attempt} ended ({}) with {} running",
            ended.exit,
            running.join(", ")
        )
    }
}

/// Which of the cases without a result caused the suite's end, and which only ran beside
/// it. A lone case is blamed, as with one thread. Of several, only one the runner killed
/// for being overdue is blamed; a suite whose watchdog exited (124) already reported the
/// case that timed out; otherwise nobody can tell which case crashed, so none is blamed
/// and all run again one at a time.
fn attribute(
    ended: &Ended,
    timeouts: &BTreeMap<String, f64>,
) -> (Vec<(String, Instant)>, Vec<String>) {
    let watchdog_exit = matches!(ended.exit, ExitInfo::Code(c) if c == WATCHDOG_EXIT);
    if ended.inflight.len() == 1 && !watchdog_exit {
        return (ended.inflight.clone(), vec![]);
    }
    let mut blamed = Vec::new();
    let mut others = Vec::new();
    for (case, started) in &ended.inflight {
        let overdue = started.elapsed() > limit(timeouts, case) + BACKSTOP_GRACE;
        if matches!(ended.exit, ExitInfo::Killed) && overdue {
            blamed.push((case.clone(), *started));
        } else {
            others.push(case.clone());
        }
    }
    (blamed, others)
}

/// Polls after the suite exited before its events count as read (each reads at most a
/// bounded slice; 1024 of them are gigabytes, far past anything a suite writes).
const MAX_DRAIN_POLLS: u32 = 1024;

/// hil-suite's exit status after its watchdog recorded a timeout (as `timeout(1)`).
const WATCHDOG_EXIT: i32 = 124;

/// What one suite process's drive works with, beside the journal and state.
struct Along<'a> {
    timeouts: &'a BTreeMap<String, f64>,
    /// A parallel attempt: results whose driver line was shared are run again.
    defer_shared: bool,
    warnings: &'a mut crate::from_board::Warnings,
    /// Lines of results run again, kept until their reruns have results.
    unsettled: &'a mut crate::driver_messages::Unsettled,
}

fn drive(
    run: &mut dyn Running,
    journal: &mut Journal,
    state: &mut State,
    progress: &mut Progress,
    along: &mut Along,
) -> anyhow::Result<Ended> {
    let board = state.board.clone();
    let mut d = Driving {
        journal,
        state,
        progress,
        along,
        inflight: BTreeMap::new(),
        shared: Vec::new(),
    };
    // Once the suite has exited, its events are read to the end (a poll reads a bounded
    // slice): polls since, and how many of the last came back empty.
    let mut exited: Option<ExitInfo> = None;
    let (mut drained, mut empty) = (0u32, 0u32);
    loop {
        // Read events before checking exit, and after it until none is left.
        let exit = match &exited {
            Some(e) => Some(e.clone()),
            None => crate::trace::timed(&board, "try_wait", || run.try_wait())
                .context("waiting for hil-suite")?,
        };
        let lines = crate::trace::timed(&board, "poll_events", || run.poll_events())
            .context("reading the event stream")?;
        let lines_read = lines.len();
        if !lines.is_empty() {
            crate::trace::note(&board, format_args!("{} event(s)", lines.len()));
        }
        if exit.is_some() {
            crate::trace::note(&board, format_args!("suite exited"));
        }
        for line in lines {
            d.take(&line)?;
        }
        if interrupted() {
            run.kill();
            return Err(crate::interrupt::Interrupted.into());
        }
        if let Some(exit) = exit {
            empty = if lines_read == 0 { empty + 1 } else { 0 };
            drained += 1;
            // Two empty polls in a row: the file is read to its end.
            if empty >= 2 || drained > MAX_DRAIN_POLLS {
                return Ok(d.ended(exit));
            }
            exited = Some(exit);
            continue;
        }
        if d.overdue() {
            run.kill();
            return Ok(d.ended(ExitInfo::Killed));
        }
        d.progress.tick();
        std::thread::sleep(run.poll_interval());
    }
}

/// One suite process's events as they arrive: results journaled, starts timed.
struct Driving<'r, 'a> {
    journal: &'r mut Journal,
    state: &'r mut State,
    progress: &'r mut Progress,
    along: &'r mut Along<'a>,
    /// Cases started and not yet reported, since when.
    inflight: BTreeMap<String, Instant>,
    /// Results not kept: their driver line was shared (see `Ended::shared`).
    shared: Vec<String>,
}

impl Driving<'_, '_> {
    /// One line of the event stream.
    fn take(&mut self, line: &str) -> anyhow::Result<()> {
        use crate::from_board::Line;
        match crate::from_board::read_line(line) {
            Line::Event(e) => self.event(e),
            Line::Bogus(r) => {
                let case = r.case.clone();
                let measured = self.inflight.remove(&case).map(|t| t.elapsed());
                if self.state.results.contains_key(&case)
                    || !self.along.timeouts.contains_key(&case)
                {
                    return Ok(());
                }
                self.along.warnings.warn(&r.message);
                let (r, _) = crate::from_board::checked(r, measured);
                record(self.journal, self.state, self.progress, r)
            }
            Line::Unreadable(e) => {
                self.along.warnings.unreadable(&e, line);
                Ok(())
            }
        }
    }

    fn event(&mut self, event: Event) -> anyhow::Result<()> {
        match event {
            Event::Facts(f) => {
                self.journal.append(&Record::Facts(f.clone()))?;
                self.state.facts = Some(f);
            }
            Event::Start { case } => {
                if !self.along.timeouts.contains_key(&case) {
                    // Not a case of the plan: never waited for, never blamed.
                    self.along.warnings.warn(&format!(
                        "the suite started `{}`, which is not a case of this run",
                        hil_proto::text::escape_line(&hil_proto::text::cap_start(&case, 300))
                    ));
                    return Ok(());
                }
                self.progress.started(&case);
                self.inflight.insert(case, Instant::now());
            }
            Event::Result {
                case,
                outcome,
                duration_s,
                message,
                implementation,
                observations,
            } => {
                let r = CaseResult {
                    case,
                    outcome,
                    duration_s,
                    message,
                    implementation,
                    observations,
                    earlier: vec![],
                };
                self.result(r)?;
            }
            Event::KernelLogPos { pos } => self.state.kernel_log_pos = Some(pos),
            Event::DriverLog {
                line,
                seen_unix,
                recovered,
            } => self.driver_log(line, seen_unix, recovered)?,
        }
        Ok(())
    }

    /// A result the suite sent: kept, unless it is not this run's, already recorded, or
    /// (in a parallel attempt) holds a driver line other cases' windows shared.
    fn result(&mut self, r: CaseResult) -> anyhow::Result<()> {
        let measured = self.inflight.remove(&r.case).map(|t| t.elapsed());
        if self.state.results.contains_key(&r.case) || !self.along.timeouts.contains_key(&r.case) {
            return Ok(()); // not ours, or already recorded
        }
        let ambiguous = r
            .observations
            .iter()
            .any(|o| o.key == hil_proto::key::DRIVER_LOG_SHARED_WITH);
        if self.along.defer_shared && ambiguous {
            // Kept at once: an error or a signal later must not lose its lines.
            self.along
                .unsettled
                .defer(&r.case, &r.observations, unix_now());
            self.shared.push(r.case);
            return Ok(());
        }
        let (r, warning) = crate::from_board::checked(r, measured);
        if let Some(w) = warning {
            self.along.warnings.warn(&w);
        }
        record(self.journal, self.state, self.progress, r)
    }

    /// A driver line no case holds: a run-level driver message.
    fn driver_log(&mut self, line: String, seen_unix: u64, recovered: bool) -> anyhow::Result<()> {
        // Read again after a suite process ended: what a result or an earlier message
        // already holds is no new line.
        if recovered && crate::driver_messages::already_kept(self.state, &line) {
            return Ok(());
        }
        let when = if recovered {
            format!(
                "logged where no case's result could hold it, {}",
                self.state.last_suite_end
            )
        } else {
            "logged while no case it could belong to ran (none open, or none on its GPU or process)"
                .into()
        };
        let m = crate::journal::DriverMessage {
            line,
            seen_unix,
            cases: vec![],
            when,
        };
        self.progress.driver_message(&m);
        crate::driver_messages::record(self.journal, self.state, m)
            .with_context(|| format!("appending to {}", self.journal.path().display()))
    }

    /// A case running past its limit plus the grace: the runner kills the suite.
    fn overdue(&self) -> bool {
        let timeouts = self.along.timeouts;
        self.inflight
            .iter()
            .any(|(case, started)| started.elapsed() > limit(timeouts, case) + BACKSTOP_GRACE)
    }

    fn ended(self, exit: ExitInfo) -> Ended {
        Ended {
            exit,
            inflight: self.inflight.into_iter().collect(),
            shared: self.shared,
        }
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `--cases-from` lines for the devices that UB cases of this invocation left unusable.
fn unusable_lines(state: &State, earlier: &BTreeSet<String>) -> Vec<String> {
    let mut lines = Vec::new();
    for r in state
        .results
        .values()
        .filter(|r| !earlier.contains(&r.case))
    {
        for o in r
            .observations
            .iter()
            .filter(|o| o.key == hil_proto::key::DEVICE_UNUSABLE)
        {
            if let Some((d, what)) = o.value.split_once(": ") {
                // One line each, whatever the suite wrote: others would read as case names.
                let what = what.replace(['\n', '\r'], " / ");
                lines.push(format!("{}{d} {} {what}", hil_proto::UNUSABLE_LINE, r.case));
            }
        }
    }
    lines
}

/// The run lost its hold on the board (the transport stopped the suite): every case
/// without a result is marked with the reason, and the run ends with `BoardRevoked`.
fn revoked(
    journal: &mut Journal,
    state: &mut State,
    progress: &mut Progress,
    why: String,
) -> anyhow::Result<()> {
    let remaining: Vec<String> = state.remaining().into_iter().map(|c| c.name).collect();
    let message = format!(
        "not finished: the board is no longer held by this run ({why}); hil-run stopped its suite"
    );
    crash_all(journal, state, progress, remaining, &message)?;
    Err(BoardRevoked {
        board: state.board.clone(),
        why,
    }
    .into())
}

/// Records every case in `cases` as a crash with `message` (nothing is ever dropped).
fn crash_all(
    journal: &mut Journal,
    state: &mut State,
    progress: &mut Progress,
    cases: Vec<String>,
    message: &str,
) -> anyhow::Result<()> {
    for case in cases {
        let r = CaseResult {
            case,
            outcome: Outcome::Crash,
            duration_s: 0.0,
            message: message.to_string(),
            implementation: String::new(),
            observations: vec![],
            earlier: vec![],
        };
        record(journal, state, progress, r)?;
    }
    Ok(())
}

/// The limit for `case`, whatever number it has (a journal's plan from before listings
/// were checked may hold any): an implausible one reads as 60 s.
fn limit(timeouts: &BTreeMap<String, f64>, case: &str) -> Duration {
    let default = Duration::from_secs(60);
    crate::from_board::seconds(timeouts.get(case).copied().unwrap_or(60.0), default)
}

fn record(
    journal: &mut Journal,
    state: &mut State,
    progress: &mut Progress,
    r: CaseResult,
) -> anyhow::Result<()> {
    // Every text within its cap, whoever made it (a crash's output tail included).
    let r = crate::from_board::capped(r);
    crate::trace::timed(&state.board, "journal", || {
        journal.append(&Record::Result(r.clone()))
    })
    .with_context(|| format!("appending to {}", journal.path().display()))?;
    progress.report(&r);
    state.results.insert(r.case.clone(), r);
    Ok(())
}

// The flag lives in `crate::interrupt` (transports wait on it too); these names stay for callers.
pub use crate::interrupt::{install as install_interrupt_handler, interrupted};
