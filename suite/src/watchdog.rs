//! Per-case time limit for in-process cases. libtest has none, and a hung driver call
//! cannot be cancelled, so on expiry the case is recorded as `timeout` and the process
//! exits at once; the runner restarts the suite with the cases not yet reported.

use crate::case::Case;
use hil_proto::{Event, Outcome};
use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Exit status when a case timed out (as `timeout(1)` uses).
pub const TIMEOUT_EXIT: i32 = 124;

struct InFlight {
    started: Instant,
    limit: Duration,
}

fn table() -> &'static Mutex<BTreeMap<String, InFlight>> {
    static T: OnceLock<Mutex<BTreeMap<String, InFlight>>> = OnceLock::new();
    T.get_or_init(|| {
        std::thread::spawn(watch_loop);
        Mutex::new(BTreeMap::new())
    })
}

pub struct Guard(String);

impl Drop for Guard {
    fn drop(&mut self) {
        table()
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.0);
    }
}

pub fn watch(case: &Case) -> Guard {
    let f = InFlight {
        started: Instant::now(),
        limit: Duration::from_secs_f64(case.timeout_s),
    };
    table()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(case.name.clone(), f);
    Guard(case.name.clone())
}

fn watch_loop() {
    loop {
        std::thread::sleep(Duration::from_millis(50));
        let expired: Option<(String, Duration)> = {
            let t = table().lock().unwrap_or_else(|p| p.into_inner());
            t.iter()
                .find(|(_, f)| f.started.elapsed() > f.limit)
                .map(|(n, f)| (n.clone(), f.limit))
        };
        if let Some((name, limit)) = expired {
            crate::events::emit(&Event::Result {
                case: name.clone(),
                outcome: Outcome::Timeout,
                duration_s: limit.as_secs_f64(),
                message: format!(
                    "no result within {:.1}s; suite process stopped",
                    limit.as_secs_f64()
                ),
                implementation: String::new(),
                observations: vec![],
            });
            eprintln!(
                "hil-suite: {name} timed out after {:.1}s; exiting (status {TIMEOUT_EXIT})",
                limit.as_secs_f64()
            );
            // _exit: a wedged driver call may hold locks that exit handlers would wait on.
            unsafe { libc::_exit(TIMEOUT_EXIT) };
        }
    }
}
