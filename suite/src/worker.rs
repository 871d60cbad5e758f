//! `isolate` rows in worker processes (`HIL_ISOLATE_WORKERS=0`: a child each instead).
//! A worker runs one case at a time and nothing else, so a check of process-wide
//! state (the fd table) sees only its case, as in a child of its own; but the next
//! `isolate` case on the same devices reuses it, saving a process start-up (CUDA and
//! Vulkan initialisation, serialized machine-wide by the driver: benchmarks.md). Which
//! worker a case gets, and whether it is kept after the case, is `exec::workers::Pool`'s
//! rule; this module holds the processes.

use crate::case::Case;
use crate::child::ChildEnd;
use crate::exec::workers::Take;
use hil_proto::text::{TailBuffer, MAX_STORED};
use std::io::{BufRead, Read, Write};
use std::process::{Child, ChildStdin, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Whether `isolate` rows run in reused workers (`HIL_ISOLATE_WORKERS`, the default) or
/// in a child each.
pub fn enabled() -> bool {
    crate::exec::config::get().isolate_workers
}

struct Worker {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
    /// The last bytes of its stderr since the last case took them.
    stderr: Arc<Mutex<TailBuffer>>,
}

impl Worker {
    fn start(devices: &[u32]) -> std::io::Result<Worker> {
        let mut cmd = crate::child::child_command(devices);
        cmd.arg("--isolate-worker")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        crate::child::own_group_dying_with_us(&mut cmd);
        let mut child = spawn_from_keeper(cmd)?;
        change(Pool::note_started);
        let stdin = child.stdin.take().expect("piped");
        let out = child.stdout.take().expect("piped");
        let mut err = child.stderr.take().expect("piped");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(TailBuffer::new(MAX_STORED)));
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(&buf[..n]);
            }
        });
        Ok(Worker {
            child,
            stdin,
            lines,
            stderr,
        })
    }

    fn kill(mut self) {
        crate::child::kill_group(&mut self.child);
    }

    fn take_stderr(&self) -> String {
        let mut e = self.stderr.lock().unwrap_or_else(|p| p.into_inner());
        std::mem::replace(&mut *e, TailBuffer::new(MAX_STORED)).text()
    }
}

/// Spawns `cmd` from a thread that lives as long as the suite. A worker outlives the case
/// (and the libtest thread) that started it, and PR_SET_PDEATHSIG fires when the
/// *spawning thread* exits: spawned from a libtest thread, it would be killed mid-case
/// when that thread ran out of cases before the others. Its pid joins the calling case's
/// kernel log window.
fn spawn_from_keeper(cmd: std::process::Command) -> std::io::Result<Child> {
    type Request = (
        std::process::Command,
        Vec<u64>,
        mpsc::Sender<std::io::Result<Child>>,
    );
    static KEEPER: OnceLock<Mutex<mpsc::Sender<Request>>> = OnceLock::new();
    let keeper = KEEPER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Request>();
        std::thread::spawn(move || {
            for (mut cmd, windows, reply) in rx {
                let _ = reply.send(crate::kernel_log::spawn(&mut cmd, &windows));
            }
        });
        Mutex::new(tx)
    });
    let windows: Vec<u64> = crate::kernel_log::current_window().into_iter().collect();
    let (reply, answer) = mpsc::channel();
    let sent = keeper
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .send((cmd, windows, reply));
    if sent.is_err() {
        return Err(std::io::Error::other("the worker spawner thread is gone"));
    }
    answer
        .recv()
        .unwrap_or_else(|_| Err(std::io::Error::other("the worker spawner thread is gone")))
}

type Pool = crate::exec::workers::Pool<Worker>;

fn pool() -> &'static (Mutex<Pool>, Condvar) {
    static P: OnceLock<(Mutex<Pool>, Condvar)> = OnceLock::new();
    P.get_or_init(Default::default)
}

/// Runs `f` on the pool and wakes every case waiting for a worker.
fn change<R>(f: impl FnOnce(&mut Pool) -> R) -> R {
    let r = f(&mut pool().0.lock().unwrap_or_else(|p| p.into_inner()));
    pool().1.notify_all();
    r
}

/// "N isolate case(s) in M worker process(es)", if any ran.
pub fn tally() -> Option<String> {
    pool().0.lock().unwrap_or_else(|p| p.into_inner()).tally()
}

/// An idle worker for `devices`, or leave to start one (`None`), waiting while the
/// device set has its workers busy.
fn take(devices: &[u32]) -> Option<Worker> {
    let (lock, changed) = pool();
    let mut p = lock.lock().unwrap_or_else(|p| p.into_inner());
    loop {
        match p.take(devices) {
            Take::Reuse(w) => return Some(w),
            Take::Start => return None,
            Take::Wait => p = changed.wait(p).unwrap_or_else(|e| e.into_inner()),
        }
    }
}

/// The worker a case ran in: `release` it.
pub struct Lease {
    worker: Option<Worker>,
    devices: Vec<u32>,
}

impl Lease {
    /// Back to the pool after a pass; ended otherwise.
    pub fn release(mut self, passed: bool) {
        let devices = std::mem::take(&mut self.devices);
        if let Some(w) = change(|p| p.release(&devices, self.worker.take(), passed)) {
            w.kill();
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(w) = self.worker.take() {
            w.kill();
        }
        if !self.devices.is_empty() {
            change(|p| p.gone(&self.devices));
        }
    }
}

/// Runs `case` in a worker for its devices under the case's limits; how it ended, as for
/// a child of its own (`status` is `None` while the worker lives on).
pub fn run(case: &Case, pairs: &[u32]) -> std::io::Result<(ChildEnd, Lease)> {
    let devices = case.devices();
    // Counted in `live` from here until the lease is released or dropped.
    let mut lease = Lease {
        worker: None,
        devices: devices.clone(),
    };
    let mut w = match take(&devices) {
        Some(mut w) => {
            if matches!(w.child.try_wait(), Ok(None)) {
                crate::kernel_log::join_current(w.child.id());
                w
            } else {
                // It died while idle: replaced.
                w.kill();
                Worker::start(&devices)?
            }
        }
        None => Worker::start(&devices)?,
    };
    change(Pool::note_ran);
    let pairs = crate::child::pairs_text(pairs);
    let line = writeln!(w.stdin, "{}\t{pairs}", case.name);
    if let Err(e) = line.and_then(|()| w.stdin.flush()) {
        w.kill();
        return Err(e);
    }
    let limit = Duration::from_secs_f64(case.timeout_s);
    let stall = case.stall_s.map(Duration::from_secs_f64);
    let start = Instant::now();
    let mut last_step: Option<(Instant, String)> = None;
    let mut stdout = crate::child::ChildOutput::default();
    let ended =
        |w: &Worker, stdout: crate::child::ChildOutput, status, killed_after, stalled| ChildEnd {
            status,
            killed_after,
            stalled,
            stdout: stdout.text(),
            stderr: w.take_stderr(),
            started: start,
            ended: Instant::now(),
        };
    loop {
        match w.lines.recv_timeout(Duration::from_millis(10)) {
            Ok(line) => {
                if let Some(step) = line.strip_prefix(crate::progress::STEP_MARK) {
                    last_step = Some((Instant::now(), step.to_string()));
                }
                let done = line.starts_with(crate::child::RESULT_MARK);
                stdout.push_line(&line);
                if done {
                    // Its stderr for this case may still be in the pipe: a moment for it.
                    std::thread::sleep(Duration::from_millis(5));
                    let end = ended(&w, stdout, None, None, None);
                    lease.worker = Some(w);
                    return Ok((end, lease));
                }
            }
            Err(RecvTimeoutError::Disconnected) => {
                // The worker died in this case.
                let status = w.child.wait().ok();
                std::thread::sleep(Duration::from_millis(20));
                let end = ended(&w, stdout, status, None, None);
                return Ok((end, lease));
            }
            Err(RecvTimeoutError::Timeout) => {}
        }
        let stuck = crate::progress::stalled(last_step.as_ref(), stall);
        if stuck.is_some() || start.elapsed() >= limit {
            let end = ended(&w, stdout, None, Some(start.elapsed().min(limit)), stuck);
            w.kill();
            return Ok((end, lease));
        }
    }
}

/// Ends the idle workers (the end of the run): their input closes and they exit.
pub fn shutdown() {
    for mut w in change(Pool::drain_idle) {
        drop(w.stdin);
        let _ = w.child.wait();
    }
}

/// `hil-suite --isolate-worker`: runs the cases named on stdin one at a time (a line:
/// the case, a tab, its endpoint pairs), each reported as a child of its own would; exits
/// at the end of stdin.
pub fn worker_main(cases: &[Case]) -> ! {
    crate::progress::enable();
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let (name, pairs) = line
            .trim_end()
            .split_once('\t')
            .unwrap_or((line.trim(), ""));
        let found = cases.iter().find(|c| c.name == name);
        match (found, crate::child::parse_pairs(pairs)) {
            (Some(case), Some(pairs)) => crate::child::run_and_report(case, &pairs),
            _ => {
                eprintln!("hil-suite: no case named `{name}` with endpoint pairs `{pairs}`");
                std::process::exit(2)
            }
        }
    }
    std::process::exit(0)
}
