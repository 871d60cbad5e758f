//! `HIL_TRACE=1`: a timestamped line on stderr for each step of each board (connect,
//! remote commands, SFTP reads, journal writes, first and last event), to see where a
//! run's time goes, and whether boards wait for each other. Off by default: one atomic
//! load per step.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// 0: not looked up yet, 1: off, 2: on.
static STATE: AtomicU8 = AtomicU8::new(0);
static START: OnceLock<Instant> = OnceLock::new();

pub fn enabled() -> bool {
    match STATE.load(Ordering::Relaxed) {
        0 => {
            let on = std::env::var_os("HIL_TRACE").is_some_and(|v| !v.is_empty() && v != "0");
            START.get_or_init(Instant::now);
            STATE.store(if on { 2 } else { 1 }, Ordering::Relaxed);
            on
        }
        s => s == 2,
    }
}

/// One line: milliseconds since the first trace call, the board, what happened.
pub fn note(board: &str, what: std::fmt::Arguments) {
    if enabled() {
        let t = START.get_or_init(Instant::now).elapsed();
        // One write per line: lines of several boards (and stdout) never mix.
        let line = format!("hil-trace {:9.1} {board} {what}\n", ms(t));
        let _ = std::io::Write::write_all(&mut std::io::stderr(), line.as_bytes());
    }
}

/// Runs `f`; with tracing on, notes how long it took.
pub fn timed<R>(board: &str, what: &str, f: impl FnOnce() -> R) -> R {
    if !enabled() {
        return f();
    }
    let t = Instant::now();
    let r = f();
    note(board, format_args!("{what} {:.1} ms", ms(t.elapsed())));
    r
}

/// `timed` for a step that can fail: a failed step says so, and why.
pub fn timed_result<T, E: std::fmt::Display>(
    board: &str,
    what: &str,
    f: impl FnOnce() -> Result<T, E>,
) -> Result<T, E> {
    if !enabled() {
        return f();
    }
    let t = Instant::now();
    let r = f();
    match &r {
        Ok(_) => note(board, format_args!("{what} {:.1} ms", ms(t.elapsed()))),
        Err(e) => note(
            board,
            format_args!("{what} {:.1} ms FAILED: {e}", ms(t.elapsed())),
        ),
    }
    r
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
