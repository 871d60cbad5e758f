//! Process plumbing for the suite's children (UB and `isolate` children, health probes,
//! workers): the command that starts one, a time limit and stall watching, the kill of its
//! whole process group, what it printed, and the result line a child reports its op's
//! result on. What a child's end means for a case is policy (`ub`, `health`).

use crate::case::Case;
use hil_proto::text::{cap_end, TailBuffer, MAX_STORED};
use hil_proto::Outcome;
use std::io::{BufRead, Read, Write};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Marks the child's verdict line on its stdout.
pub const RESULT_MARK: &str = "HIL-UB-RESULT ";

/// A child of this suite (isolation child, health probe) for a case on `devices`, seeing
/// the same tables as this process.
/// Endpoint pairs as a child's `--ipc-pairs` and a worker's input give them: `0,2`.
pub fn pairs_text(pairs: &[u32]) -> String {
    let text: Vec<String> = pairs.iter().map(u32::to_string).collect();
    text.join(",")
}

/// The pairs of `pairs_text`; `None` if it is not such a list, or names a pair twice (no
/// case holds a pair twice: its second opening would wait for its first).
pub fn parse_pairs(text: &str) -> Option<Vec<u32>> {
    if text.is_empty() {
        return Some(Vec::new());
    }
    let pairs: Vec<u32> = text
        .split(',')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let distinct: std::collections::BTreeSet<u32> = pairs.iter().copied().collect();
    (distinct.len() == pairs.len()).then_some(pairs)
}

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

impl ChildEnd {
    /// How it ended, for a message: killed by a signal, an exit status, or vanished.
    pub fn exit_text(&self) -> String {
        use std::os::unix::process::ExitStatusExt;
        match self.status {
            Some(st) if st.signal().is_some() => {
                format!("killed by {}", signal_name(st.signal().unwrap_or(0)))
            }
            Some(st) => format!("exit status {}", st.code().unwrap_or(-1)),
            None => "vanished".into(),
        }
    }
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
    let t_out = std::thread::spawn({
        let steps = last_step.clone();
        move || read_stdout(&mut out, &steps)
    });
    let t_err = std::thread::spawn(move || read_tail(&mut err));
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
            killed_after = Some(start.elapsed().min(limit));
            kill_group(&mut child);
            stalled = Some(stuck);
            break None;
        }
        if start.elapsed() >= limit {
            killed_after = Some(start.elapsed().min(limit));
            kill_group(&mut child);
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

/// A child's stdout as it is kept (`ChildOutput`), noting in `steps` when each step line
/// (`progress`) arrives.
fn read_stdout(out: &mut impl Read, steps: &Mutex<Option<(Instant, String)>>) -> String {
    let mut s = ChildOutput::default();
    let mut reader = std::io::BufReader::new(out);
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
}

/// The last `MAX_STORED` bytes of what `from` gives until its end.
fn read_tail(from: &mut impl Read) -> String {
    let mut s = TailBuffer::new(MAX_STORED);
    let mut buf = [0u8; 8192];
    while let Ok(n) = from.read(&mut buf) {
        if n == 0 {
            break;
        }
        s.push(&buf[..n]);
    }
    s.text()
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

/// What a child reports on its result line (`RESULT_MARK` then this as JSON).
#[derive(serde::Serialize, serde::Deserialize)]
pub struct ChildVerdict {
    pub outcome: Outcome,
    pub message: String,
    pub observations: Vec<hil_proto::Observation>,
    /// The op's own error, so an isolated (non-UB) case is judged as in-process.
    #[serde(default)]
    pub error: Option<crate::error::OpError>,
}

/// The result line in a child's stdout, read back: `None` if it printed none.
pub fn reported(stdout: &str) -> Option<Result<ChildVerdict, serde_json::Error>> {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix(RESULT_MARK))
        .map(serde_json::from_str::<ChildVerdict>)
}

/// Kills `child`'s whole process group (a hung op may have started processes of its own)
/// and reaps it.
pub fn kill_group(child: &mut std::process::Child) {
    // SAFETY: a signal to the group this child leads (`own_group_dying_with_us`).
    unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
    let _ = child.wait();
}

/// Runs `case`'s op in this (child) process, with the endpoint pairs its parent's
/// executor gave it, and prints its verdict line.
pub fn run_and_report(case: &Case, pairs: &[u32]) {
    let result = match crate::ops::find(&case.op) {
        Some(op) => (op.run)(&crate::ops::Ctx { case, pairs }),
        None => Err(crate::error::OpError::Row(format!(
            "unknown op `{}`",
            case.op
        ))),
    };
    report(result);
}

/// Prints an op's result as the line the parent reads back (`reported`).
pub fn report(result: crate::ops::OpResult) {
    let cv = match result {
        Ok(observations) => ChildVerdict {
            outcome: Outcome::Pass,
            message: String::new(),
            observations,
            error: None,
        },
        Err(e) => ChildVerdict {
            outcome: Outcome::Fail,
            message: e.to_string(),
            observations: crate::verdict::api_observations(&e),
            error: Some(e),
        },
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
    use super::{pairs_text, parse_pairs};

    #[test]
    fn pair_lists_read_back_and_a_pair_named_twice_or_a_bad_index_is_refused() {
        assert_eq!(parse_pairs(&pairs_text(&[0, 2])), Some(vec![0, 2]));
        assert_eq!(parse_pairs(""), Some(vec![]));
        for bad in ["0,0", "abc", "0,", ",1", "-1", "4294967296"] {
            assert_eq!(parse_pairs(bad), None, "{bad}");
        }
    }
}
