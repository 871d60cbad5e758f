//! What a board sends is data: checked when it arrives (event lines, numbers, the case
//! listing), kept within its caps, and shown escaped. A board that sends nonsense gets a
//! warning, a refusal or a recorded verdict that says what it sent, never a panic.

use crate::baseline::Comparison;
use crate::journal::{CaseResult, DriverMessage, State};
use hil_proto::text::{cap_end, cap_start, escape_controls, escape_line, MAX_STORED};
use hil_proto::{key, CaseInfo, Event, Observation, Outcome, MAX_TIMEOUT_S};
use std::time::Duration;

pub use crate::board_facts::{capped_facts, FACTS_CUT, MAX_FACT_VALUE};

/// Warnings quoting a board's line show at most this many bytes of it.
const QUOTED: usize = 300;
/// Warnings about one board's lines shown per run of its suite; the rest are counted.
pub const MAX_WARNINGS: usize = 5;
/// Observations kept per result; a board sending more gets the rest counted.
const MAX_OBSERVATIONS: usize = 256;
/// The longest case name accepted from a listing; its table, backend and CUDA API too.
const MAX_NAME: usize = 512;
/// The longest undefined-behaviour rule accepted from a listing.
const MAX_UB: usize = 4096;
/// The most devices a listed case may name.
const MAX_DEVICES: usize = 1024;

/// A line of the event stream, read.
#[derive(Debug)]
pub enum Line {
    Event(Event),
    /// A result for `case` the runner cannot take as sent (an outcome it does not know):
    /// recorded as a crash whose message says what the board sent.
    Bogus(CaseResult),
    /// Not an event: the error, to warn about.
    Unreadable(String),
}

/// Reads one event line. A `result` naming a case whose outcome or fields are not the
/// runner's is kept as a `crash` saying so, rather than leaving the case to look as if
/// the suite had died in it.
pub fn read_line(line: &str) -> Line {
    let err = match Event::from_line(line) {
        Ok(Event::Facts(f)) => return Line::Event(Event::Facts(capped_facts(f))),
        Ok(e) => return Line::Event(e),
        Err(e) => e,
    };
    let v: serde_json::Value = match serde_json::from_str(line) {
        Ok(v) => v,
        Err(_) => return Line::Unreadable(err.to_string()),
    };
    let (Some("result"), Some(case)) = (
        v.get("event").and_then(|e| e.as_str()),
        v.get("case").and_then(|c| c.as_str()),
    ) else {
        return Line::Unreadable(err.to_string());
    };
    let sent = v.get("outcome").and_then(|o| o.as_str());
    let what = match sent {
        Some(o) if o.parse::<Outcome>().is_err() => format!(
            "the suite sent an unknown outcome `{}`",
            cap_start(o, QUOTED)
        ),
        _ => format!("the suite sent a result the runner cannot read ({err})"),
    };
    let text = |k: &str| v.get(k).and_then(|m| m.as_str()).unwrap_or("").to_string();
    let board_message = text("message");
    let message = if board_message.is_empty() {
        what
    } else {
        format!("{what}; its message: {board_message}")
    };
    let mut observations = vec![Observation::new(key::RESULT_SENT, cap_start(line, QUOTED))];
    if let Some(o) = sent {
        observations.insert(0, Observation::new(key::OUTCOME_SENT, o));
    }
    Line::Bogus(CaseResult {
        case: case.to_string(),
        outcome: Outcome::Crash,
        duration_s: v.get("duration_s").and_then(|d| d.as_f64()).unwrap_or(0.0),
        message,
        implementation: text("implementation"),
        observations,
        earlier: vec![],
    })
}

/// `r` as the runner keeps it: a duration the board could not have measured (negative,
/// not finite, beyond `MAX_TIMEOUT_S`) becomes the runner's own measure (`measured`, from
/// the case's start event, else 0) with `duration_sent` saying what the board sent; texts
/// are capped. Returns the warning, if any.
pub fn checked(mut r: CaseResult, measured: Option<Duration>) -> (CaseResult, Option<String>) {
    let mut warning = None;
    if !plausible_seconds(r.duration_s) {
        let sent = r.duration_s;
        r.duration_s = measured.map_or(0.0, |d| d.as_secs_f64());
        r.observations
            .push(Observation::new(key::DURATION_SENT, number(sent)));
        warning = Some(format!(
            "case {}: the suite sent duration_s {}, which no case can take; \
             recorded {:.3} s (the runner's own measure)",
            r.case,
            number(sent),
            r.duration_s
        ));
    }
    (capped(r), warning)
}

/// `x` as a person reads it: `-5`, `0.25`, `1e300`.
fn number(x: f64) -> String {
    if x.is_finite() && x.abs() < 1e9 {
        x.to_string()
    } else {
        format!("{x:e}")
    }
}

/// A duration or limit a case can have: finite, not negative, at most `MAX_TIMEOUT_S`.
pub fn plausible_seconds(s: f64) -> bool {
    s.is_finite() && (0.0..=MAX_TIMEOUT_S).contains(&s)
}

/// Seconds as a `Duration`, for any number: implausible ones (a journal written before
/// they were checked) read as `default`.
pub fn seconds(s: f64, default: Duration) -> Duration {
    if plausible_seconds(s) {
        Duration::from_secs_f64(s)
    } else {
        default
    }
}

/// Every text of `r` within `MAX_STORED` (the end kept), and at most `MAX_OBSERVATIONS`.
pub fn capped(mut r: CaseResult) -> CaseResult {
    let cap = |s: &mut String| {
        if s.len() > MAX_STORED {
            *s = cap_end(s, MAX_STORED).into_owned();
        }
    };
    cap(&mut r.message);
    cap(&mut r.implementation);
    if r.observations.len() > MAX_OBSERVATIONS {
        let cut = r.observations.len() - MAX_OBSERVATIONS;
        r.observations.truncate(MAX_OBSERVATIONS);
        r.observations
            .push(Observation::new(key::OBSERVATIONS_CUT, cut));
    }
    for o in &mut r.observations {
        if o.key.len() > QUOTED {
            o.key = cap_start(&o.key, QUOTED).into_owned();
        }
        cap(&mut o.value);
    }
    for e in &mut r.earlier {
        cap(&mut e.message);
    }
    r
}

/// Refuses a listing the runner cannot run as given: a case name outside the table-name
/// alphabet (it becomes a file line, a CSV field, a JUnit name) or a time limit that is
/// not a positive number of seconds up to a week. The error names the board and case.
pub fn check_listing(board: &str, cases: &[CaseInfo]) -> Result<(), String> {
    let mut seen = std::collections::BTreeSet::new();
    for c in cases {
        if !valid_name(&c.name) {
            return Err(format!(
                "board {board}: the suite listed a case named `{}`: a case name is parts \
                 joined by `.`, each of ASCII letters, digits, `_` and `-` and not starting \
                 with `-` (at most {MAX_NAME} bytes); is the suite on the board hil-suite?",
                escape_line(&cap_start(&c.name, QUOTED))
            ));
        }
        // A name is the identity of its results: two cases under one would share them.
        if !seen.insert(c.name.as_str()) {
            return Err(format!(
                "board {board}: the suite listed case `{}` twice: a case name names one \
                 case; is the suite on the board hil-suite?",
                c.name
            ));
        }
        let fields = [
            ("table", c.table.len(), MAX_NAME),
            ("backend", c.backend.len(), MAX_NAME),
            ("cuda_api", c.cuda_api.len(), MAX_NAME),
            ("ub", c.ub.as_deref().map_or(0, str::len), MAX_UB),
        ];
        if let Some((field, len, max)) = fields.iter().find(|(_, len, max)| len > max) {
            return Err(format!(
                "board {board}: the suite listed case `{}` with a {field} of {}: at most {} \
                 is taken; is the suite on the board hil-suite?",
                c.name,
                hil_proto::text::human_bytes(*len as u64),
                hil_proto::text::human_bytes(*max as u64)
            ));
        }
        if c.devices.len() > MAX_DEVICES {
            return Err(format!(
                "board {board}: the suite listed case `{}` with {} devices: at most \
                 {MAX_DEVICES} are taken; is the suite on the board hil-suite?",
                c.name,
                c.devices.len()
            ));
        }
        if !(c.timeout_s > 0.0 && plausible_seconds(c.timeout_s)) {
            return Err(format!(
                "board {board}: the suite listed case `{}` with timeout_s {}: a time limit \
                 is a positive number of seconds, at most {MAX_TIMEOUT_S} (a week)",
                c.name,
                number(c.timeout_s)
            ));
        }
    }
    Ok(())
}

/// Parts joined by `.`, none empty (no `.`, `..`, leading or doubled dot), each of ASCII
/// letters, digits, `_` and `-` and none starting with `-` (never read as an option):
/// every name the suite's tables make (`[a-z0-9_]` parts) and more.
fn valid_name(name: &str) -> bool {
    name.len() <= MAX_NAME
        && name.split('.').all(|part| {
            part.bytes().next().is_some_and(|b| b != b'-')
                && part
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'))
        })
}

/// Warnings about what one board sent: the first `MAX_WARNINGS` shown (each quoting at
/// most `QUOTED` bytes), the rest counted in one line when the run of its suite ends.
pub struct Warnings {
    board: String,
    shown: usize,
    more: usize,
}

impl Warnings {
    pub fn new(board: &str) -> Warnings {
        Warnings {
            board: board.to_string(),
            shown: 0,
            more: 0,
        }
    }

    pub fn warn(&mut self, what: &str) {
        if self.shown < MAX_WARNINGS {
            self.shown += 1;
            crate::errln!("hil-run: {}: warning: {what}", self.board);
        } else {
            self.more += 1;
        }
    }

    /// An event line that is not an event: its error, first bytes and size.
    pub fn unreadable(&mut self, error: &str, line: &str) {
        let size = hil_proto::text::human_bytes(line.len() as u64);
        self.warn(&format!(
            "skipping an unreadable event line ({error}; {size}): {}",
            cap_start(line, QUOTED)
        ));
    }
}

impl Drop for Warnings {
    fn drop(&mut self) {
        if self.more > 0 {
            crate::errln!(
                "hil-run: {}: {} more warning(s) about what the board sent, not shown",
                self.board,
                self.more
            );
        }
    }
}

/// Text fit to show: escaped (`escape_controls`) and within `MAX_STORED`, its end kept.
fn esc(s: &str) -> String {
    let e = escape_controls(&cap_end(s, MAX_STORED)).into_owned();
    cap_end(&e, MAX_STORED).into_owned()
}

/// A run-level driver message fit to show: its line on one line (newlines written out),
/// escaped and within `MAX_STORED`, its start kept (where the driver says what happened).
fn shown_driver_message(m: &DriverMessage) -> DriverMessage {
    let line = escape_line(&cap_start(&m.line, MAX_STORED)).into_owned();
    DriverMessage {
        line: cap_start(&line, MAX_STORED).into_owned(),
        seen_unix: m.seen_unix,
        cases: m.cases.iter().map(|c| esc(c)).collect(),
        when: esc(&m.when),
    }
}

/// `cmp` as `shown` shows its state: the run-level driver messages and facts it names
/// escaped the same way, so that a shown message is still found among the unexpected.
pub fn shown_comparison(cmp: &Comparison) -> Comparison {
    let mut c = cmp.clone();
    c.driver_messages = c.driver_messages.iter().map(shown_driver_message).collect();
    for f in &mut c.fact_changes {
        f.key = esc(&f.key);
        f.then = esc(&f.then);
        f.now = esc(&f.now);
    }
    for l in &mut c.coverage_lost {
        l.why = esc(&l.why);
    }
    c
}

/// A copy of `state` fit to show: every text escaped (`escape_controls`) and within
/// `MAX_STORED`, every duration plausible (else 0), whatever the journal holds (one
/// written before these checks, say). Summary, flagged.md, JUnit, CSV and the report
/// all show this copy (with `shown_comparison` of its comparison).
pub fn shown(state: &State) -> State {
    let secs = |s: f64| if plausible_seconds(s) { s } else { 0.0 };
    let mut st = state.clone();
    st.board = esc(&st.board);
    for c in &mut st.cases {
        c.name = esc(&c.name);
        c.table = esc(&c.table);
        c.backend = esc(&c.backend);
        c.cuda_api = esc(&c.cuda_api);
        c.ub = c.ub.as_deref().map(esc);
        c.timeout_s = secs(c.timeout_s);
    }
    for s in &mut st.skipped {
        s.case = esc(&s.case);
        s.by = esc(&s.by);
    }
    if let Some(f) = &mut st.facts {
        f.suite_version = esc(&f.suite_version);
        let map = |m: &std::collections::BTreeMap<String, String>| {
            m.iter().map(|(k, v)| (esc(k), esc(v))).collect()
        };
        f.properties = map(&f.properties);
        f.implementations = map(&f.implementations);
    }
    st.results = std::mem::take(&mut st.results)
        .into_values()
        .map(|r| {
            let mut r = capped(r);
            r.case = esc(&r.case);
            r.duration_s = secs(r.duration_s);
            r.message = esc(&r.message);
            r.implementation = esc(&r.implementation);
            for o in &mut r.observations {
                o.key = esc(&o.key);
                o.value = esc(&o.value);
            }
            for e in &mut r.earlier {
                e.message = esc(&e.message);
                e.duration_s = secs(e.duration_s);
            }
            (r.case.clone(), r)
        })
        .collect();
    st.driver_messages = st
        .driver_messages
        .iter()
        .map(shown_driver_message)
        .collect();
    st
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_outcome_is_a_crash_that_says_what_was_sent() {
        let line =
            r#"{"event":"result","case":"t.a","outcome":"xyz","duration_s":0.5,"message":"hi"}"#;
        let Line::Bogus(r) = read_line(line) else {
            panic!("not bogus")
        };
        assert_eq!(r.outcome, Outcome::Crash);
        assert_eq!(r.case, "t.a");
        assert_eq!(
            r.message,
            "the suite sent an unknown outcome `xyz`; its message: hi"
        );
        assert!(r
            .observations
            .contains(&Observation::new(hil_proto::key::OUTCOME_SENT, "xyz")));
        assert!(matches!(
            read_line("{\"event\":\"start\"}"),
            Line::Unreadable(_)
        ));
        assert!(matches!(read_line("not json"), Line::Unreadable(_)));
        assert!(matches!(
            read_line(r#"{"event":"start","case":"t.a"}"#),
            Line::Event(_)
        ));
    }

    #[test]
    fn implausible_durations_are_replaced_and_said() {
        for bad in [1e300, -1.0, f64::NAN, f64::INFINITY, MAX_TIMEOUT_S * 2.0] {
            let r = CaseResult {
                duration_s: bad,
                ..crate::test_result("t.a", Outcome::Pass, "")
            };
            let (r, warning) = checked(r, Some(Duration::from_millis(1500)));
            assert_eq!(r.duration_s, 1.5, "{bad}");
            assert!(warning.is_some_and(|w| w.contains("duration_s")), "{bad}");
            assert!(r.observations.iter().any(|o| o.key == "duration_sent"));
        }
        let (r, warning) = checked(crate::test_result("t.a", Outcome::Pass, ""), None);
        assert!(warning.is_none());
        assert_eq!(r.duration_s, 0.1);
        assert_eq!(
            seconds(-1.0, Duration::from_secs(60)),
            Duration::from_secs(60)
        );
        assert_eq!(seconds(f64::NAN, Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn stored_texts_are_capped() {
        let big = "z".repeat(3_000_000);
        let mut r = crate::test_result("t.a", Outcome::Fail, &big);
        r.observations = (0..1000)
            .map(|i| Observation::attribute(&format!("k{i}"), &big[..100]))
            .collect();
        r.observations[0].value = big.clone();
        let r = capped(r);
        assert!(r.message.len() <= MAX_STORED);
        assert!(r.message.starts_with("[… "));
        assert_eq!(r.observations.len(), MAX_OBSERVATIONS + 1);
        assert!(r.observations[0].value.len() <= MAX_STORED);
    }

    #[test]
    fn listings_with_names_or_limits_the_runner_cannot_take_are_refused() {
        let ok = crate::test_case("vulkan.import.dev0_dev1.runtime");
        assert!(check_listing("b1", std::slice::from_ref(&ok)).is_ok());
        for name in [
            "a,b",
            "a\nb",
            "a b",
            "a\u{1b}[2Jb",
            "",
            "é",
            ".",
            "..",
            "-rf",
            "t.-x",
            "a..b",
            ".a",
            "a.",
            "t/../x",
        ] {
            let c = CaseInfo {
                name: name.into(),
                ..ok.clone()
            };
            let e = check_listing("b1", &[c]).unwrap_err();
            assert!(e.starts_with("board b1: "), "{e}");
            assert!(!e.contains('\u{1b}') && !e.contains('\n'), "{e}");
        }
        for name in [
            "host.info",
            "T-1.x_y.dev0_dev1.runtime",
            "_a.b",
            "dEQP-VK.api.smoke",
        ] {
            let c = CaseInfo {
                name: name.into(),
                ..ok.clone()
            };
            assert!(check_listing("b1", &[c]).is_ok(), "{name}");
        }
        let other = crate::test_case("host.info");
        let e = check_listing("b1", &[ok.clone(), other, ok.clone()]).unwrap_err();
        assert_eq!(
            e,
            "board b1: the suite listed case `vulkan.import.dev0_dev1.runtime` twice: a case \
             name names one case; is the suite on the board hil-suite?"
        );
        let big = "x".repeat(MAX_UB + 1);
        for (c, says) in [
            (
                CaseInfo {
                    table: big.clone(),
                    ..ok.clone()
                },
                "with a table of 4.1 KB",
            ),
            (
                CaseInfo {
                    backend: big.clone(),
                    ..ok.clone()
                },
                "with a backend of",
            ),
            (
                CaseInfo {
                    cuda_api: big.clone(),
                    ..ok.clone()
                },
                "with a cuda_api of",
            ),
            (
                CaseInfo {
                    ub: Some(big.clone()),
                    ..ok.clone()
                },
                "with a ub of 4.1 KB",
            ),
            (
                CaseInfo {
                    devices: vec![0; MAX_DEVICES + 1],
                    ..ok.clone()
                },
                "with 1025 devices",
            ),
        ] {
            let e = check_listing("b1", &[c]).unwrap_err();
            assert!(
                e.starts_with("board b1: the suite listed case `vulkan.import"),
                "{e}"
            );
            assert!(e.contains(says), "{says}: {e}");
        }
        let c = CaseInfo {
            ub: Some("x".repeat(MAX_UB)),
            ..ok.clone()
        };
        assert!(check_listing("b1", &[c]).is_ok());
        for t in [-1.0, 0.0, f64::NAN, 1e300] {
            let c = CaseInfo {
                timeout_s: t,
                ..ok.clone()
            };
            let e = check_listing("b1", &[c]).unwrap_err();
            assert!(e.contains("vulkan.import.dev0_dev1.runtime"), "{e}");
            assert!(e.contains("timeout_s"), "{e}");
        }
    }

    #[test]
    fn the_shown_copy_escapes_caps_and_keeps_lookups_by_name() {
        let mut st = State::default();
        st.cases.push(crate::test_case("t.a"));
        let mut r = crate::test_result("t.a", Outcome::Fail, "\u{1b}]0;x\u{7}\u{fffe}");
        r.duration_s = 1e300;
        r.observations.push(Observation::new(
            hil_proto::key::OUTPUT_TAIL,
            "y".repeat(1_000_000),
        ));
        st.results.insert("t.a".into(), r);
        let shown = shown(&st);
        let r = shown.ordered_results()[0];
        assert_eq!(r.message, "\\u{1b}]0;x\\u{7}\\u{fffe}");
        assert_eq!(r.duration_s, 0.0);
        assert!(r.observations[0].value.len() <= MAX_STORED);
    }

    #[test]
    fn shown_driver_lines_are_escaped_capped_and_still_found_unexpected() {
        let mut st = State::default();
        let m = DriverMessage {
            line: format!("[err] Xid \u{1b}[2J\u{fffe}\r\n\0{}", "z".repeat(1_000_000)),
            seen_unix: 1,
            cases: vec!["t.\u{7}".into()],
            when: "logged while no case ran".into(),
        };
        st.driver_messages.push(m.clone());
        let cmp = Comparison {
            driver_messages: vec![m],
            ..Comparison::default()
        };
        let (st, cmp) = (shown(&st), shown_comparison(&cmp));
        let shown = &st.driver_messages[0];
        assert!(shown
            .line
            .starts_with("[err] Xid \\u{1b}[2J\\u{fffe}\\u{d}\\u{a}\\u{0}z"));
        assert!(shown.line.len() <= MAX_STORED, "{}", shown.line.len());
        assert_eq!(shown.cases, ["t.\\u{7}"]);
        assert!(cmp.driver_messages.contains(shown));
    }
}
