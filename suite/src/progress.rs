//! Steps an op reports as it goes. In a child process (UB and `isolate` rows) each step
//! is a line on stdout, so the parent can tell a case that stopped making progress (a
//! hang: the row's `stall_s` passes without a new step) from one that is merely long,
//! and can say in which step it stopped. In-process cases ignore steps.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

/// Prefix of a step line on a child's stdout.
pub const STEP_MARK: &str = "HIL-STEP ";

static IN_CHILD: AtomicBool = AtomicBool::new(false);

/// Called by a child process before it runs its op.
pub fn enable() {
    IN_CHILD.store(true, Ordering::SeqCst);
}

/// Reports that the op is about to do `what` (e.g. the call it is about to make).
pub fn step(what: &str) {
    if IN_CHILD.load(Ordering::SeqCst) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{STEP_MARK}{what}");
        let _ = out.flush();
    }
}

/// A child that reported a step (`at`, `step`) and nothing since for `stall` is a hang:
/// the step it stopped in and the threshold it passed.
pub fn stalled(
    last: Option<&(std::time::Instant, String)>,
    stall: Option<std::time::Duration>,
) -> Option<(String, std::time::Duration)> {
    let (stall, (at, step)) = (stall?, last?);
    // The threshold, not the measured quiet: a message must not depend on how late the
    // watcher woke (the same case gives the same verdict text on a loaded machine).
    (at.elapsed() >= stall).then(|| (step.clone(), stall))
}
