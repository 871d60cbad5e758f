//! Ctrl-C and SIGTERM (a CI cancel): one process-wide flag that every wait in the runner
//! checks, so a run ends within a poll interval with its journal and JUnit written.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

/// Set by SIGINT or SIGTERM. Every signal only sets it: the run stops at its next check
/// and still writes its journal and reports.
static INTERRUPTED: LazyLock<Arc<AtomicBool>> = LazyLock::new(Arc::default);

/// How often an interruptible sleep looks at the flag.
const SLICE: Duration = Duration::from_millis(50);

/// The run was interrupted (SIGINT / SIGTERM) while it waited.
#[derive(Debug, thiserror::Error)]
#[error("{}", interrupted_message())]
pub struct Interrupted;

/// What an interruption left: results to resume, or nothing at all (stopped while waiting
/// for a board or its lock, before any board's journal existed).
pub fn interrupted_message() -> &'static str {
    if crate::journal::any_opened() {
        "interrupted: reported results are in the journal; `hil-run --resume` runs the rest"
    } else {
        "interrupted before any board started (waiting for a board or its lock): nothing was \
         run or written; run the same command again"
    }
}

/// Routes SIGINT and SIGTERM to the flag (call once, from `main`).
pub fn install() {
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        if let Err(e) = signal_hook::flag::register(sig, Arc::clone(&INTERRUPTED)) {
            // Never seen for these signals; the run still goes on, without a clean stop.
            crate::errln!("hil-run: warning: signal {sig} will not stop the run cleanly: {e}");
        }
    }
}

pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// `Err(Interrupted)` once a signal has come.
pub fn check() -> Result<(), Interrupted> {
    if interrupted() {
        Err(Interrupted)
    } else {
        Ok(())
    }
}

/// Sleeps `d`, or less if a signal comes: every wait in the runner goes through here.
pub fn sleep(d: Duration) -> Result<(), Interrupted> {
    let end = Instant::now() + d;
    loop {
        check()?;
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(());
        }
        std::thread::sleep(left.min(SLICE));
    }
}

/// How a waited-for child process ended.
#[derive(Debug)]
pub enum ChildEnd {
    Exited(std::process::ExitStatus),
    /// Killed (with its process group) after `limit`.
    TimedOut,
    /// Killed (with its process group) because a signal came.
    Interrupted,
}

/// Waits for `child` (started in its own process group) for at most `limit`, checking
/// for signals; a child past its limit or outliving a signal is killed with its group.
pub fn wait_child(child: &mut std::process::Child, limit: Duration) -> std::io::Result<ChildEnd> {
    wait_child_until(child, limit, &interrupted)
}

/// As `wait_child`, but the child is cut short when `give_up` says so (not by a signal
/// unless `give_up` checks for one): clean-up commands that must run after a Ctrl-C
/// pass `&|| false`, a background helper passes its stop flag.
pub fn wait_child_until(
    child: &mut std::process::Child,
    limit: Duration,
    give_up: &dyn Fn() -> bool,
) -> std::io::Result<ChildEnd> {
    let end = Instant::now() + limit;
    loop {
        if let Some(st) = child.try_wait()? {
            return Ok(ChildEnd::Exited(st));
        }
        let why = if give_up() {
            ChildEnd::Interrupted
        } else if Instant::now() >= end {
            ChildEnd::TimedOut
        } else {
            std::thread::sleep(SLICE);
            continue;
        };
        // SAFETY: signalling the child's own process group.
        unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
        child.wait()?;
        return Ok(why);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The flag is process-wide: tests that raise or read it take turns.
    static FLAG: std::sync::Mutex<()> = std::sync::Mutex::new(());

    #[test]
    fn a_signal_cuts_a_long_sleep_short() {
        let _turn = FLAG.lock().unwrap_or_else(|e| e.into_inner());
        install();
        let t = Instant::now();
        assert!(sleep(Duration::from_millis(30)).is_ok());
        std::thread::spawn(|| {
            std::thread::sleep(Duration::from_millis(100));
            signal_hook::low_level::raise(signal_hook::consts::SIGTERM).unwrap();
        });
        assert!(sleep(Duration::from_secs(60)).is_err());
        assert!(t.elapsed() < Duration::from_secs(10));
        INTERRUPTED.store(false, Ordering::SeqCst);
    }

    #[test]
    fn a_child_past_its_limit_is_killed_with_its_group() {
        use std::os::unix::process::CommandExt as _;
        let _turn = FLAG.lock().unwrap_or_else(|e| e.into_inner());
        let mut quick = std::process::Command::new("true").spawn().unwrap();
        let r = wait_child(&mut quick, Duration::from_secs(60)).unwrap();
        assert!(matches!(r, ChildEnd::Exited(s) if s.success()), "{r:?}");
        let mut slow = std::process::Command::new("/bin/sh")
            .args(["-c", "sleep 60; true"])
            .process_group(0)
            .spawn()
            .unwrap();
        let r = wait_child(&mut slow, Duration::from_millis(200)).unwrap();
        assert!(matches!(r, ChildEnd::TimedOut), "{r:?}");
    }
}
