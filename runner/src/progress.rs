//! What `hil-run` shows while boards run. On a terminal: a live line per board at the
//! bottom (cases done/total, elapsed, failures so far, the case running), redrawn in
//! place as cargo-nextest does, with a line above it for every case that did not pass.
//! Otherwise (CI logs) plain lines: the same line per case that did not pass, and a status
//! line every `STATUS_EVERY`. With `-q`: nothing until the summary.
//!
//! Every line `hil-run` prints goes through `print` (`out!`, `outln!`, `errln!`), which
//! lifts the live lines off the screen, writes, and puts them back, so they never mix.

use crate::journal::CaseResult;
use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A status line this often when output is not a terminal.
pub const STATUS_EVERY: Duration = Duration::from_secs(10);
/// The live lines are redrawn at most this often (the elapsed time ticks between results).
const REDRAW_EVERY: Duration = Duration::from_millis(200);
/// Longest message shown under a case's line.
const MESSAGE_CHARS: usize = 110;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// A terminal: live lines redrawn in place.
    Live,
    /// Not a terminal: plain lines only, a status line every `STATUS_EVERY`.
    Lines,
    /// `-q`: nothing per case.
    Quiet,
}

static QUIET: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// `-q` was given (see `infoln!`).
pub fn quiet() -> bool {
    QUIET.load(std::sync::atomic::Ordering::Relaxed)
}

pub fn set_quiet(q: bool) {
    QUIET.store(q, std::sync::atomic::Ordering::Relaxed);
}

impl Style {
    /// Live only where stdout is a terminal that understands cursor movement.
    pub fn detect(quiet: bool) -> Style {
        let dumb = std::env::var("TERM").map_or(true, |t| t.is_empty() || t == "dumb");
        if quiet {
            Style::Quiet
        } else if std::io::stdout().is_terminal() && !dumb {
            Style::Live
        } else {
            Style::Lines
        }
    }
}

/// The bottom of the terminal: one live line per board, and how many are drawn now.
struct Screen {
    slots: Vec<Option<String>>,
    drawn: usize,
    /// The last text written ended a line (live lines are only drawn below whole lines).
    at_line_start: bool,
}

static SCREEN: Mutex<Screen> = Mutex::new(Screen {
    slots: Vec::new(),
    drawn: 0,
    at_line_start: true,
});

fn screen() -> std::sync::MutexGuard<'static, Screen> {
    SCREEN.lock().unwrap_or_else(|p| p.into_inner())
}

impl Screen {
    fn lift(&mut self, out: &mut impl Write) {
        if self.drawn > 0 {
            // Up to the first live line, then clear to the end of the screen.
            let _ = write!(out, "\x1b[{}A\r\x1b[J", self.drawn);
            self.drawn = 0;
        }
    }

    fn draw(&mut self, out: &mut impl Write) {
        if !self.at_line_start {
            return;
        }
        let width = terminal_width().saturating_sub(1).max(20);
        for line in self.slots.iter().flatten() {
            let _ = writeln!(out, "{}", fit(line, width));
            self.drawn += 1;
        }
    }
}

/// Writes `args` to stdout (or stderr) without tearing the live lines. Never panics: a
/// closed stdout (`hil-run | head`) must not abort a run whose results are being written.
pub fn print(to_stderr: bool, args: std::fmt::Arguments) {
    // Lines often quote a board's text: none of it may act on the terminal.
    let text = args.to_string();
    let text = hil_proto::text::escape_controls(&text);
    let mut s = screen();
    let live = s.drawn > 0;
    let mut out = std::io::stdout().lock();
    s.lift(&mut out);
    if to_stderr {
        let _ = out.flush();
        let _ = std::io::stderr().write_all(text.as_bytes());
    } else {
        let _ = out.write_all(text.as_bytes());
    }
    if !text.is_empty() {
        s.at_line_start = text.ends_with('\n');
    }
    if live {
        s.draw(&mut out);
    }
    let _ = out.flush();
}

fn set_slot(slot: usize, line: Option<String>) {
    let mut s = screen();
    let mut out = std::io::stdout().lock();
    s.lift(&mut out);
    if s.slots.len() <= slot {
        s.slots.resize(slot + 1, None);
    }
    s.slots[slot] = line;
    s.draw(&mut out);
    let _ = out.flush();
}

fn new_slot() -> usize {
    let mut s = screen();
    s.slots.push(None);
    s.slots.len() - 1
}

/// `line` cut to `width` visible characters (escape sequences do not count).
fn fit(line: &str, width: usize) -> String {
    let mut out = String::new();
    let mut shown = 0;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            out.push(c);
            for e in chars.by_ref() {
                out.push(e);
                if e.is_ascii_alphabetic() {
                    break;
                }
            }
            continue;
        }
        if shown == width {
            out.push('…');
            out.push_str("\x1b[0m");
            break;
        }
        out.push(c);
        shown += 1;
    }
    out
}

fn terminal_width() -> usize {
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: TIOCGWINSZ fills a winsize; on failure it is left zeroed.
    let ok = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut ws) } == 0;
    if ok && ws.ws_col > 0 {
        ws.ws_col as usize
    } else {
        100
    }
}

/// `1m05s`, `12.3s`.
fn elapsed(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 60.0 {
        format!("{s:.1}s")
    } else {
        format!("{}m{:02}s", d.as_secs() / 60, d.as_secs() % 60)
    }
}

/// One board's progress.
pub struct Progress {
    style: Style,
    board: String,
    /// Board name before each line when several boards run at once.
    prefix: String,
    pub total: usize,
    pub done: usize,
    failing: usize,
    /// Cases started and not yet reported, oldest first.
    running: Vec<String>,
    started: Instant,
    shown: Instant,
    slot: Option<usize>,
}

impl Progress {
    /// `done` and `failing`: what a resumed run already has.
    pub fn new(
        style: Style,
        board: &str,
        prefix: &str,
        total: usize,
        done: usize,
        failing: usize,
    ) -> Self {
        let now = Instant::now();
        Progress {
            style,
            board: board.to_string(),
            prefix: prefix.to_string(),
            total,
            done,
            failing,
            running: Vec::new(),
            started: now,
            shown: now,
            slot: (style == Style::Live).then(new_slot),
        }
    }

    /// The suite started `case`.
    pub fn started(&mut self, case: &str) {
        // The live line is drawn raw (it holds its own colours): the board's name is escaped.
        let case = hil_proto::text::cap_start(case, 200);
        self.running
            .push(hil_proto::text::escape_controls(&case).into_owned());
        self.tick();
    }

    /// A case's result arrived (from the suite or the runner itself).
    pub fn report(&mut self, r: &CaseResult) {
        self.done += 1;
        let case = hil_proto::text::cap_start(&r.case, 200);
        let case = hil_proto::text::escape_controls(&case);
        self.running.retain(|c| c != &*case);
        if r.outcome.is_failure() {
            self.failing += 1;
        }
        if self.style == Style::Quiet {
            return;
        }
        // Passes and not-supported cases (grouped by reason in the summary) are counted;
        // the rest deserve a line now.
        if crate::outcomes::gets_a_progress_line(r.outcome) {
            let width = self.total.to_string().len();
            let mut line = format!(
                "{}[{:>w$}/{}] {:<13} {} ({:.2}s)",
                self.prefix,
                self.done,
                self.total,
                r.outcome.as_str(),
                r.case,
                crate::from_board::seconds(r.duration_s, Duration::ZERO).as_secs_f64(),
                w = width
            );
            if !r.message.is_empty() {
                let msg: String = r.message.chars().take(MESSAGE_CHARS).collect();
                let msg = msg.lines().next().unwrap_or("");
                line.push_str(&format!("\n{:w$}   {msg}", "", w = 2 * width + 3));
            }
            print(false, format_args!("{line}\n"));
        }
        self.show(true);
    }

    /// `n` failing cases are run again (`--retry`): until their new results they count as
    /// not done, so the counter counts cases, never attempts.
    pub fn again(&mut self, n: usize) {
        self.done = self.done.saturating_sub(n);
        self.failing = self.failing.saturating_sub(n);
    }

    /// A GPU driver line in no case's result: said at once, as a failure is.
    pub fn driver_message(&mut self, m: &crate::journal::DriverMessage) {
        if self.style == Style::Quiet {
            return;
        }
        // The board's text: escaped, so it never acts on the terminal.
        let line: String = hil_proto::text::escape_line(&m.line)
            .chars()
            .take(MESSAGE_CHARS)
            .collect();
        print(
            false,
            format_args!("{}driver message outside any case: {line}\n", self.prefix),
        );
        self.show(true);
    }

    /// Time passed: the live line's clock, or a status line when one is due.
    pub fn tick(&mut self) {
        self.show(false);
    }

    fn show(&mut self, changed: bool) {
        let now = Instant::now();
        match self.style {
            Style::Quiet => {}
            Style::Live => {
                if changed || now - self.shown >= REDRAW_EVERY {
                    self.shown = now;
                    if let Some(slot) = self.slot {
                        set_slot(slot, Some(self.live_line()));
                    }
                }
            }
            Style::Lines => {
                if now - self.shown >= STATUS_EVERY {
                    self.shown = now;
                    let line = self.status_line();
                    print(false, format_args!("{}{line}\n", self.prefix));
                }
            }
        }
    }

    /// `[ 120/596] 45.2s, 3 failing, running: vulkan.import.binary.dev0_dev0 (+3)`
    pub fn status_line(&self) -> String {
        let mut line = format!(
            "[{:>w$}/{}] {}, {} failing",
            self.done,
            self.total,
            elapsed(self.started.elapsed()),
            self.failing,
            w = self.total.to_string().len()
        );
        if let Some(first) = self.running.first() {
            line.push_str(&format!(", running: {first}"));
            if self.running.len() > 1 {
                line.push_str(&format!(" (+{})", self.running.len() - 1));
            }
        }
        line
    }

    fn live_line(&self) -> String {
        const BAR: usize = 20;
        let filled = (self.done * BAR)
            .checked_div(self.total)
            .unwrap_or(0)
            .min(BAR);
        let failing = if self.failing > 0 {
            format!("\x1b[1;31m{} failing\x1b[0m", self.failing)
        } else {
            "0 failing".into()
        };
        let mut line = format!(
            "\x1b[1m{}\x1b[0m [{}{}] {}/{} {} {failing}",
            self.board,
            "=".repeat(filled),
            " ".repeat(BAR - filled),
            self.done,
            self.total,
            elapsed(self.started.elapsed())
        );
        if let Some(first) = self.running.first() {
            line.push_str(&format!(" {first}"));
            if self.running.len() > 1 {
                line.push_str(&format!(" (+{})", self.running.len() - 1));
            }
        }
        line
    }

    /// The board is done: its live line goes.
    pub fn finish(&mut self) {
        if let Some(slot) = self.slot.take() {
            set_slot(slot, None);
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hil_proto::Outcome;

    #[test]
    fn a_live_line_is_cut_to_the_terminal_without_counting_colours() {
        let line = "\x1b[1mboard\x1b[0m 12345";
        assert_eq!(fit(line, 20), line);
        assert_eq!(fit(line, 7), "\x1b[1mboard\x1b[0m 1…\x1b[0m");
    }

    #[test]
    fn the_status_line_says_progress_time_failures_and_what_runs() {
        let mut p = Progress::new(Style::Quiet, "b", "", 120, 0, 0);
        p.started("t.a");
        p.started("t.b");
        p.report(&crate::test_result("t.a", Outcome::Crash, ""));
        let line = p.status_line();
        assert!(line.starts_with("[  1/120] "), "{line}");
        assert!(line.ends_with("s, 1 failing, running: t.b"), "{line}");
        assert_eq!(elapsed(Duration::from_secs(65)), "1m05s");
    }
}
