//! `isolate` rows in worker processes (`HIL_ISOLATE_WORKERS=0`: a child each instead). A worker runs one case at a time and nothing else, so a check of process-wide
//! state (the fd table) sees only its case, as in a child of its own; but the next
//! `isolate` case on the same devices reuses it, saving a process start-up (CUDA and
//! Vulkan initialisation, serialized machine-wide by the driver: benchmarks.md). A worker
//! is reused only after a case that passed; one that failed, crashed or hung is ended, so
//! no case's verdict can depend on what a failing case left behind.

use crate::case::Case;
use crate::ub::ChildEnd;
use hil_proto::text::{TailBuffer, MAX_STORED};
use std::io::{BufRead, Read, Write};
use std::process::{Child, ChildStdin, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// `0` runs `isolate` rows in a child each instead of reused workers (the default).
pub const WORKERS_ENV: &str = "HIL_ISOLATE_WORKERS";

pub fn enabled() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var(WORKERS_ENV).map_or(true, |v| v.trim() != "0"))
}

/// Err: `WORKERS_ENV` is set to something other than `0` or `1`.
pub fn check_env() -> Result<(), String> {
    match std::env::var(WORKERS_ENV) {
        Ok(v) if !matches!(v.trim(), "" | "0" | "1") => Err(format!(
            "{WORKERS_ENV}={v:?}: expected 1 (isolate rows in reused workers, the default) \
             or 0 (a child process each)"
        )),
        _ => Ok(()),
    }
}

struct Worker {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
    /// The last bytes of its stderr since the last case took them.
    stderr: Arc<Mutex<TailBuffer>>,
    devices: Vec<u32>,
}

impl Worker {
    fn start(devices: &[u32]) -> std::io::Result<Worker> {
        let mut cmd = crate::ub::child_command(devices);
        cmd.arg("--isolate-worker")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        crate::ub::own_group_dying_with_us(&mut cmd);
        let mut child = spawn_from_keeper(cmd)?;
        STARTED.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
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
            devices: devices.to_vec(),
        })
    }

    fn kill(mut self) {
        unsafe { libc::kill(-(self.child.id() as i32), libc::SIGKILL) };
        let _ = self.child.wait();
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

/// Workers started and cases run in them (the suite's log).
static STARTED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
static RAN: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// "N isolate case(s) in M worker process(es)", if any ran.
pub fn tally() -> Option<String> {
    use std::sync::atomic::Ordering::SeqCst;
    let ran = RAN.load(SeqCst);
    (ran > 0).then(|| {
        format!(
            "{ran} isolate case(s) in {} worker process(es)",
            STARTED.load(SeqCst)
        )
    })
}

/// One worker per device set at a time: an `isolate` case takes tens of milliseconds in a
/// warm worker, against most of a second to start another.
const PER_DEVICE_SET: usize = 1;

#[derive(Default)]
struct Pool {
    idle: Vec<Worker>,
    /// Workers alive (idle or busy) per device set.
    live: std::collections::BTreeMap<Vec<u32>, usize>,
}

fn pool() -> &'static (Mutex<Pool>, Condvar) {
    static P: OnceLock<(Mutex<Pool>, Condvar)> = OnceLock::new();
    P.get_or_init(Default::default)
}

fn lock() -> std::sync::MutexGuard<'static, Pool> {
    pool().0.lock().unwrap_or_else(|p| p.into_inner())
}

/// An idle worker for `devices`, or leave to start one (`None`), waiting while the
/// device set has its workers busy.
fn take(devices: &[u32]) -> Option<Worker> {
    let mut p = lock();
    loop {
        if let Some(i) = p.idle.iter().position(|w| w.devices == devices) {
            return Some(p.idle.swap_remove(i));
        }
        let live = p.live.entry(devices.to_vec()).or_default();
        if *live < PER_DEVICE_SET {
            *live += 1;
            return None;
        }
        p = pool().1.wait(p).unwrap_or_else(|e| e.into_inner());
    }
}

/// A worker for `devices` has ended (or never started).
fn gone(devices: &[u32]) {
    let mut p = lock();
    if let Some(n) = p.live.get_mut(devices) {
        *n = n.saturating_sub(1);
    }
    pool().1.notify_all();
}

/// The worker a case ran in: `release` it.
pub struct Lease {
    worker: Option<Worker>,
    devices: Vec<u32>,
}

impl Lease {
    /// Back to the pool after a pass; ended otherwise.
    pub fn release(mut self, passed: bool) {
        match self.worker.take() {
            Some(w) if passed => {
                lock().idle.push(w);
                pool().1.notify_all();
            }
            Some(w) => {
                w.kill();
                gone(&self.devices);
            }
            None => gone(&self.devices),
        }
        self.devices.clear();
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(w) = self.worker.take() {
            w.kill();
        }
        if !self.devices.is_empty() {
            gone(&self.devices);
        }
    }
}

/// Runs `case` in a worker for its devices under the case's limits; how it ended, as for
/// a child of its own (`status` is `None` while the worker lives on).
pub fn run(case: &Case) -> std::io::Result<(ChildEnd, Lease)> {
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
    RAN.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    if let Err(e) = writeln!(w.stdin, "{}", case.name).and_then(|()| w.stdin.flush()) {
        w.kill();
        return Err(e);
    }
    let limit = Duration::from_secs_f64(case.timeout_s);
    let stall = case.stall_s.map(Duration::from_secs_f64);
    let start = Instant::now();
    let mut last_step: Option<(Instant, String)> = None;
    let mut stdout = crate::ub::ChildOutput::default();
    let ended =
        |w: &Worker, stdout: crate::ub::ChildOutput, status, killed_after, stalled| ChildEnd {
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
                let done = line.starts_with(crate::ub::RESULT_MARK);
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
    let idle = std::mem::take(&mut lock().idle);
    for mut w in idle {
        drop(w.stdin);
        let _ = w.child.wait();
    }
}

/// `hil-suite --isolate-worker`: runs the cases named on stdin one at a time, each
/// reported as a child of its own would; exits at the end of stdin.
pub fn worker_main(cases: &[Case]) -> ! {
    crate::progress::enable();
    for line in std::io::stdin().lock().lines() {
        let Ok(name) = line else { break };
        match cases.iter().find(|c| c.name == name.trim()) {
            Some(case) => crate::ub::run_and_report(case),
            None => {
                eprintln!("hil-suite: no case named `{name}`");
                std::process::exit(2)
            }
        }
    }
    std::process::exit(0)
}
