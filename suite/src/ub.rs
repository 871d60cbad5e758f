//! Undefined-behaviour scenarios: each runs in a sacrificial child process under a
//! watchdog, and what it did (error code, signal, hang, silent success) is recorded as
//! `flagged`, never judged. A health probe in a fresh process follows (`health`); a
//! device left unusable stops the remaining GPU cases with "board needs reset".

use crate::case::Case;
use crate::verdict::Verdict;
use hil_proto::text::{cap_end, TailBuffer, MAX_STORED};
use hil_proto::{Observation, Outcome};
use std::io::{BufRead, Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Marks the child's verdict line on its stdout.
pub const RESULT_MARK: &str = "HIL-UB-RESULT ";
const TAIL_LINES: usize = 12;

/// A child of this suite (isolation child, health probe) for a case on `devices`, seeing
/// the same tables as this process.
pub(crate) fn child_command(devices: &[u32]) -> Command {
    let exe = std::env::current_exe().unwrap_or_else(|_| "hil-suite".into());
    let mut cmd = Command::new(exe);
    if let Some(env) = crate::cuda::visible_only(devices) {
        cmd.envs(env);
    }
    if let Some(dir) = crate::tables_dir() {
        cmd.arg("--tables").arg(dir);
    }
    cmd.arg("--devices")
        .arg(crate::listed_devices().to_string());
    cmd
}

/// How a child process ended.
#[derive(Debug)]
pub struct ChildEnd {
    pub status: Option<std::process::ExitStatus>,
    /// Killed: when, capped at its limit (a verdict's text must not carry how late the
    /// watcher woke).
    pub killed_after: Option<Duration>,
    /// Killed for making no progress: the last step it reported and the stall threshold.
    pub stalled: Option<(String, Duration)>,
    pub stdout: String,
    pub stderr: String,
    /// When the child started, and when it was seen to end (or was killed).
    pub started: Instant,
    pub ended: Instant,
}

/// Runs `cmd` with a time limit, collecting its output; kills it (and its process group)
/// at the limit, or once it has reported a step (`progress`) and then none for `stall`.
/// Its pid joins the current case's kernel log window and the windows in `also`.
pub fn run_with_limit(
    mut cmd: Command,
    limit: Duration,
    stall: Option<Duration>,
    also: &[u64],
) -> std::io::Result<ChildEnd> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    own_group_dying_with_us(&mut cmd);
    let mut child = crate::kernel_log::spawn(&mut cmd, also)?;
    let mut out = child.stdout.take().expect("piped");
    let mut err = child.stderr.take().expect("piped");
    // Drain pipes in threads so a chatty child cannot block on a full pipe; the stdout
    // reader notes when each step line arrives.
    let last_step: Arc<Mutex<Option<(Instant, String)>>> = Arc::new(Mutex::new(None));
    let steps = last_step.clone();
    let t_out = std::thread::spawn(move || {
        let mut s = ChildOutput::default();
        let mut reader = std::io::BufReader::new(&mut out);
        let mut line = Vec::new();
        while matches!(reader.read_until(b'\n', &mut line), Ok(n) if n > 0) {
            let text = String::from_utf8_lossy(&line);
            let text = text.trim_end();
            if let Some(step) = text.strip_prefix(crate::progress::STEP_MARK) {
                *steps.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some((Instant::now(), step.to_string()));
            }
            s.push_line(text);
            line.clear();
        }
        s.text()
    });
    let t_err = std::thread::spawn(move || {
        let mut s = TailBuffer::new(MAX_STORED);
        let mut buf = [0u8; 8192];
        while let Ok(n) = err.read(&mut buf) {
            if n == 0 {
                break;
            }
            s.push(&buf[..n]);
        }
        s.text()
    });
    let start = Instant::now();
    let mut killed_after = None;
    let mut stalled = None;
    let status = loop {
        if let Some(st) = child.try_wait()? {
            break Some(st);
        }
        let stuck = crate::progress::stalled(
            last_step.lock().unwrap_or_else(|p| p.into_inner()).as_ref(),
            stall,
        );
        if let Some(stuck) = stuck {
            unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
            killed_after = Some(start.elapsed().min(limit));
            stalled = Some(stuck);
            let _ = child.wait();
            break None;
        }
        if start.elapsed() >= limit {
            unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
            killed_after = Some(start.elapsed().min(limit));
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    // Before the pipes are drained: a probe waiting for this child must not start before
    // the end this case is judged by.
    let ended = Instant::now();
    let stdout = t_out.join().unwrap_or_default();
    let stderr = t_err.join().unwrap_or_default();
    Ok(ChildEnd {
        status,
        killed_after,
        stalled,
        stdout,
        stderr,
        started: start,
        ended,
    })
}

/// A child of this suite gets a process group of its own (killed whole on a hang) and dies
/// with the suite: a hung UB child must never outlive a suite that aborted or was killed
/// (it would hold its GPU into the next run). PR_SET_PDEATHSIG fires when the spawning
/// thread exits; the suite's threads wait for their children, so that is the suite dying.
pub(crate) fn own_group_dying_with_us(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    let parent = std::process::id() as libc::pid_t;
    cmd.process_group(0);
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The suite died before the line above: nobody would kill this child.
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            Ok(())
        });
    }
}

pub fn signal_name(sig: i32) -> String {
    let name = match sig {
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGILL => "SIGILL",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGTERM => "SIGTERM",
        libc::SIGTRAP => "SIGTRAP",
        _ => return format!("signal {sig}"),
    };
    format!("{name} ({sig})")
}

/// The last `n` lines of a child's output, verdict lines left out, in at most
/// `MAX_STORED` bytes (the end kept, the cut said).
pub(crate) fn tail(s: &str, n: usize) -> String {
    let lines: Vec<_> = s.lines().filter(|l| !l.starts_with(RESULT_MARK)).collect();
    let text = lines[lines.len().saturating_sub(n)..].join("\n");
    cap_end(&text, MAX_STORED).into_owned()
}

/// A child's stdout as it is kept: its verdict lines whole (they are read back), the rest
/// as the last `MAX_STORED` bytes. A child printing 50 MB costs 64 KiB.
#[derive(Default)]
pub(crate) struct ChildOutput {
    verdicts: Vec<String>,
    rest: Option<TailBuffer>,
}

impl ChildOutput {
    pub(crate) fn push_line(&mut self, line: &str) {
        if line.starts_with(RESULT_MARK) {
            self.verdicts.push(line.to_string());
        } else {
            let rest = self.rest.get_or_insert_with(|| TailBuffer::new(MAX_STORED));
            rest.push(line.as_bytes());
            rest.push(b"\n");
        }
    }

    /// The kept output, then the verdict lines.
    pub(crate) fn text(&self) -> String {
        let mut s = self.rest.as_ref().map(TailBuffer::text).unwrap_or_default();
        for v in &self.verdicts {
            s.push_str(v);
            s.push('\n');
        }
        s
    }
}

/// Runs `case`'s op in a child process (`--ub-child`) under the case's time limit.
/// `pass`, the case's place on its devices (see `gate`), is given back when the child ends:
/// a UB case's health check after it needs none.
fn run_case_child(case: &Case, pass: Option<crate::gate::Pass>) -> Result<ChildEnd, Verdict> {
    let devices = case.devices();
    let mut cmd = child_command(&devices);
    cmd.arg("--ub-child").arg(&case.name);
    // Counted as running on its devices until it has ended (`health` defers probes).
    let _running = case
        .ub
        .is_some()
        .then(|| crate::health::child_running(&case.name, &devices));
    let stall = case.stall_s.map(Duration::from_secs_f64);
    let limit = Duration::from_secs_f64(case.timeout_s);
    let ended = run_with_limit(cmd, limit, stall, &[]);
    drop(pass);
    ended.map_err(|e| Verdict {
        outcome: Outcome::Fail,
        message: format!("could not start the isolation child: {e}"),
        observations: vec![],
    })
}

/// Runs a `ub` case in a child and classifies what happened. Always `flagged`.
pub fn run_isolated(case: &Case, pass: Option<crate::gate::Pass>) -> Verdict {
    let end = match run_case_child(case, pass) {
        Ok(end) => end,
        Err(v) => return v,
    };
    let rule = case.ub.as_ref().map(|r| Observation::new("ub_rule", r));
    // The scenario was never reached: not-supported as its non-UB twin, and nothing for a
    // health probe to check.
    if let Some(reason) = precondition_not_supported(&end) {
        return Verdict {
            outcome: Outcome::NotSupported,
            message: reason,
            observations: rule.into_iter().collect(),
        };
    }
    let mut v = classify(&end);
    if let Some(rule) = rule {
        v.observations.insert(0, rule);
    }
    if !case.devices().is_empty() {
        let per_device = crate::health::after_case(&case.devices(), end.ended);
        let health = crate::health::summary(per_device.values());
        v.observations
            .push(Observation::new("health_after", &health));
        let failed: Vec<u32> = per_device
            .iter()
            .filter(|(_, r)| *r != "ok")
            .map(|(d, _)| *d)
            .collect();
        // In a parallel run other UB children may have run on the device between this
        // child's start and its probe: any of them may have left it as the probe found
        // it. Said, never guessed (serially there are none).
        let beside = if failed.is_empty() {
            vec![]
        } else {
            crate::health::children_beside(&case.name, &failed, end.started)
        };
        if !beside.is_empty() {
            v.observations.push(Observation::new(
                hil_proto::HEALTH_SHARED_WITH,
                beside.join(", "),
            ));
        }
        for (d, r) in per_device.iter().filter(|(_, r)| *r != "ok") {
            crate::device_state::mark_unusable(*d, &case.name, r);
            // For hil-run: a suite it restarts on this board is told (`--cases-from`).
            v.observations.push(Observation::new(
                hil_proto::DEVICE_UNUSABLE,
                format!("{d}: {r}"),
            ));
        }
        if health != "ok" {
            v.message
                .push_str(&format!("; board needs reset ({health})"));
            if !beside.is_empty() {
                v.message.push_str(&format!(
                    "; {} other UB case(s) ran on the device before its probe, so which \
                     case left it so is not known (`{}`)",
                    beside.len(),
                    hil_proto::HEALTH_SHARED_WITH
                ));
            }
        }
    }
    v
}

/// The reason, when a UB child reported its op not-supported. An op says not-supported only
/// from a probe of what the board offers (a library, an entry point, a CUDA answering 801
/// to cuDeviceGetNvSciSyncAttributes), before its scenario's undefined step: such a case
/// never ran its scenario. Any other error is what the scenario did, or may be: flagged.
fn precondition_not_supported(end: &ChildEnd) -> Option<String> {
    if end.killed_after.is_some() {
        return None;
    }
    let line = end
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix(RESULT_MARK))?;
    match serde_json::from_str::<ChildVerdict>(line).ok()?.error? {
        crate::error::OpError::NotSupported(reason) => Some(reason),
        _ => None,
    }
}

/// Maps a child's end to a flagged verdict with observations.
pub fn classify(end: &ChildEnd) -> Verdict {
    let mut obs = Vec::new();
    let (kind, detail) = if let Some((step, quiet)) = &end.stalled {
        (
            "hang",
            format!(
                "no progress for {:.1}s in step `{step}`; killed",
                quiet.as_secs_f64()
            ),
        )
    } else if let Some(after) = end.killed_after {
        (
            "hang",
            format!("no exit within {:.1}s; killed", after.as_secs_f64()),
        )
    } else if let Some(line) = end.stdout.lines().find_map(|l| l.strip_prefix(RESULT_MARK)) {
        match serde_json::from_str::<ChildVerdict>(line) {
            Ok(cv) if cv.outcome == Outcome::Pass => {
                obs.extend(cv.observations);
                ("silent-success", "every call returned success".to_string())
            }
            Ok(cv) => {
                obs.extend(cv.observations);
                ("error", cv.message)
            }
            Err(e) => ("exit", format!("unreadable child verdict ({e})")),
        }
    } else {
        match end.status {
            Some(st) if st.signal().is_some() => (
                "signal",
                format!("killed by {}", signal_name(st.signal().unwrap_or(0))),
            ),
            Some(st) => (
                "exit",
                format!(
                    "exited with status {} before reporting",
                    st.code().unwrap_or(-1)
                ),
            ),
            None => ("exit", "vanished".to_string()),
        }
    };
    let mut observations = vec![
        Observation::new("observed", kind),
        Observation::new("detail", &detail),
    ];
    observations.extend(obs);
    let out = tail(&format!("{}{}", end.stdout, end.stderr), TAIL_LINES);
    if !out.is_empty() {
        observations.push(Observation::new("output_tail", out));
    }
    Verdict {
        outcome: Outcome::Flagged,
        message: format!("{kind}: {detail}"),
        observations,
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct ChildVerdict {
    outcome: Outcome,
    message: String,
    observations: Vec<hil_proto::Observation>,
    /// The op's own error, so an isolated (non-UB) case is judged as in-process.
    #[serde(default)]
    error: Option<crate::error::OpError>,
}

/// Runs an `isolate` row in a child and judges its result against the row, as if it had
/// run here; a child that dies is that case's crash, one that hangs its timeout.
pub fn run_judged_child(case: &Case) -> Verdict {
    if !crate::worker::enabled() {
        // Its place on the devices is held by the caller until the verdict.
        return match run_case_child(case, None) {
            Ok(end) => judge_child(case, end),
            Err(v) => v,
        };
    }
    match crate::worker::run(case) {
        Ok((end, lease)) => {
            let v = judge_child(case, end);
            lease.release(v.outcome == Outcome::Pass);
            v
        }
        Err(e) => Verdict {
            outcome: Outcome::Fail,
            message: format!("could not start or reach the isolation worker: {e}"),
            observations: vec![],
        },
    }
}

/// Judges an `isolate` case by how its process ended.
fn judge_child(case: &Case, end: ChildEnd) -> Verdict {
    let out = tail(&format!("{}{}", end.stdout, end.stderr), TAIL_LINES);
    let with_tail = |mut v: Verdict| {
        if !out.is_empty() && v.outcome != Outcome::Pass {
            v.observations.push(Observation::new("output_tail", &out));
        }
        v
    };
    if let Some(after) = end.killed_after {
        let message = match &end.stalled {
            Some((step, quiet)) => format!(
                "no progress for {:.1}s in step `{step}`; its process was killed",
                quiet.as_secs_f64()
            ),
            None => format!(
                "no result within {:.1}s; its process was killed",
                after.as_secs_f64()
            ),
        };
        return with_tail(Verdict {
            outcome: Outcome::Timeout,
            message,
            observations: vec![],
        });
    }
    let reported = end
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix(RESULT_MARK))
        .map(serde_json::from_str::<ChildVerdict>);
    match reported {
        Some(Ok(cv)) => {
            let result = match cv.error {
                Some(e) => Err(e),
                None if cv.outcome == Outcome::Pass => Ok(cv.observations),
                None => Err(crate::error::OpError::Check(cv.message)),
            };
            with_tail(crate::verdict::judge(&case.expect, result))
        }
        Some(Err(e)) => with_tail(Verdict {
            outcome: Outcome::Crash,
            message: format!("unreadable result from the case's process ({e})"),
            observations: vec![],
        }),
        None => {
            let how = match end.status {
                Some(st) if st.signal().is_some() => {
                    format!("killed by {}", signal_name(st.signal().unwrap_or(0)))
                }
                Some(st) => format!("exit status {}", st.code().unwrap_or(-1)),
                None => "vanished".into(),
            };
            with_tail(Verdict {
                outcome: Outcome::Crash,
                message: format!("the case's process ended without a result ({how})"),
                observations: vec![],
            })
        }
    }
}

/// `hil-suite --ub-child CASE`: run the op here, print the verdict line, exit 0.
/// Whatever the op does to this process (signal, hang) is the observation.
pub fn child_main(case: &Case) -> ! {
    crate::progress::enable();
    run_and_report(case);
    std::process::exit(0)
}

/// Runs `case`'s op in this (child) process and prints its verdict line.
pub fn run_and_report(case: &Case) {
    let result = match crate::ops::find(&case.op) {
        Some(op) => (op.run)(&crate::ops::Ctx { case }),
        None => Err(crate::error::OpError::Row(format!(
            "unknown op `{}`",
            case.op
        ))),
    };
    let cv = match result {
        Ok(observations) => ChildVerdict {
            outcome: Outcome::Pass,
            message: String::new(),
            observations,
            error: None,
        },
        Err(e) => {
            let observations = match &e {
                crate::error::OpError::Api { call, code, .. } => {
                    vec![
                        Observation::new("call", call),
                        Observation::new("code", code),
                    ]
                }
                _ => vec![],
            };
            ChildVerdict {
                outcome: Outcome::Fail,
                message: e.to_string(),
                observations,
                error: Some(e),
            }
        }
    };
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "{RESULT_MARK}{}",
        serde_json::to_string(&cv).unwrap_or_default()
    );
    let _ = out.flush();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::OpError;

    fn ended(error: OpError) -> ChildEnd {
        let cv = ChildVerdict {
            outcome: Outcome::Fail,
            message: error.to_string(),
            observations: vec![],
            error: Some(error),
        };
        let now = Instant::now();
        ChildEnd {
            status: None,
            killed_after: None,
            stalled: None,
            stdout: format!("{RESULT_MARK}{}\n", serde_json::to_string(&cv).unwrap()),
            stderr: String::new(),
            started: now,
            ended: now,
        }
    }

    #[test]
    fn a_ub_child_whose_precondition_is_not_supported_never_reached_its_scenario() {
        let why = "cuDeviceGetNvSciSyncAttributes returned 801 (CUDA_ERROR_NOT_SUPPORTED) for device 0: this CUDA has no NvSciSync support";
        assert_eq!(
            precondition_not_supported(&ended(OpError::NotSupported(why.into()))).as_deref(),
            Some(why)
        );
        // An API error is what the scenario did (or may be): flagged, as before.
        let api = ended(OpError::Api {
            api: crate::error::Api::Cuda,
            call: "cuImportExternalSemaphore".into(),
            code: 999,
        });
        assert_eq!(precondition_not_supported(&api), None);
        assert_eq!(classify(&api).outcome, Outcome::Flagged);
        let mut killed = ended(OpError::NotSupported(why.into()));
        killed.killed_after = Some(Duration::from_secs(1));
        assert_eq!(precondition_not_supported(&killed), None);
    }
}
