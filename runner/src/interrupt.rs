//! Ctrl-C and SIGTERM (a CI cancel): one process-wide flag that every wait in the runner
//! checks, so a run ends within a poll interval with its journal and JUnit written.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// How often an interruptible sleep looks at the flag.
const SLICE: Duration = Duration::from_millis(50);

/// The run was interrupted (SIGINT / SIGTERM) while it waited.
#[derive(Debug, thiserror::Error)]
#[error("interrupted: reported results are in the journal; `hil-run --resume` runs the rest")]
pub struct Interrupted;

extern "C" fn on_signal(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// Routes SIGINT and SIGTERM to the flag (call once, from `main`).
pub fn install() {
    let handler: extern "C" fn(libc::c_int) = on_signal;
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, handler as libc::sighandler_t);
        libc::signal(libc::SIGTERM, handler as libc::sighandler_t);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signal_cuts_a_long_sleep_short() {
        install();
        let t = Instant::now();
        assert!(sleep(Duration::from_millis(30)).is_ok());
        std::thread::spawn(|| {
            std::thread::sleep(Duration::from_millis(100));
            // SAFETY: raising a signal we handle.
            unsafe { libc::raise(libc::SIGTERM) };
        });
        assert!(sleep(Duration::from_secs(60)).is_err());
        assert!(t.elapsed() < Duration::from_secs(10));
        INTERRUPTED.store(false, Ordering::SeqCst);
    }
}
