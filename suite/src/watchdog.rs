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

/// The first case in flight past its limit at `now`, and that limit.
fn expired(in_flight: &BTreeMap<String, InFlight>, now: Instant) -> Option<(String, Duration)> {
    in_flight
        .iter()
        .find(|(_, f)| now.saturating_duration_since(f.started) > f.limit)
        .map(|(n, f)| (n.clone(), f.limit))
}

fn watch_loop() {
    loop {
        std::thread::sleep(Duration::from_millis(50));
        let expired = expired(
            &table().lock().unwrap_or_else(|p| p.into_inner()),
            Instant::now(),
        );
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_case_past_its_limit_is_the_one_that_timed_out() {
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let f = |started, limit_ms| InFlight {
            started,
            limit: Duration::from_millis(limit_ms),
        };
        let table: BTreeMap<String, InFlight> = [
            ("a.long".to_string(), f(t0, 10_000)),
            ("b.short".to_string(), f(at(500), 1_000)),
        ]
        .into();
        assert_eq!(
            expired(&table, at(1_500)),
            None,
            "at its limit, not past it"
        );
        assert_eq!(
            expired(&table, at(1_501)),
            Some(("b.short".to_string(), Duration::from_millis(1_000)))
        );
    }
}
