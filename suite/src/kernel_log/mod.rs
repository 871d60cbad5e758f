//! The kernel log window of each case (as igt_runner keeps dmesg per test): GPU driver
//! lines (NVRM, Xid, nvgpu, nvhost, plus `HIL_DRIVER_LOG_PATTERNS`) logged between a
//! case's start and its end (the health probe after a UB case included) are what its
//! window saw (`Seen`); `verdict::with_driver_log` turns them into observations, and a
//! pass with a driver error line into a fail.
//!
//! Cases run in parallel and the kernel log does not say which process a line is for, so
//! attribution is by overlap: a line belongs to every case whose window holds it, and of
//! those only to the cases on the GPU it names (PCI address) and that ran the process it
//! names (`pid=`). The cases that still share a line are named with it
//! (`driver_log_shared_with`). One reader serves all cases: every window is a range of
//! positions in one ordered stream, so "which windows hold this line" is exact. A line no
//! case holds (read while no window is open, or naming a GPU or process no open case
//! has) is the run's: it is sent as a run-level `driver-log` event (`outside`), so what a
//! line is never depends on how many cases ran beside it.
//!
//! A suite process says how far its reading is settled after each result
//! (`kernel-log-pos`); the next suite process of the run reads again from there
//! (`@kernel-log-from` in its case list), so lines logged while a suite died, was stopped
//! by its watchdog, or was restarted are sent too, as run-level lines.

pub mod outside;
pub mod source;
pub mod windows;

use crate::pci::addr::normalize as normalize_pci;
use source::{Record, Source};
use std::cell::{Cell, RefCell};
use std::sync::{Mutex, OnceLock};
pub use windows::{attribute, Attributed, Seen, WindowRec, Windows};

/// A driver line and what it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub record: Record,
    /// `dddd:bb:dd` from `PCI:0000:18:00` (Xid and other NVRM lines).
    pub pci: Option<String>,
    /// From `pid=1234` (Xids raised for a channel name its process).
    pub pid: Option<u32>,
}

impl Line {
    pub fn new(record: Record) -> Line {
        Line {
            pci: pci_address(&record.text),
            pid: named_pid(&record.text),
            record,
        }
    }

    /// Warning or worse, an Xid, or a source without levels: turns a pass into a fail.
    pub fn is_error(&self) -> bool {
        self.record.level.is_none_or(|l| l <= 4) || self.record.text.contains("Xid")
    }

    pub fn render(&self) -> String {
        const NAMES: [&str; 8] = [
            "emerg", "alert", "crit", "err", "warn", "notice", "info", "debug",
        ];
        match self.record.level {
            Some(l) => format!("[{}] {}", NAMES[l as usize & 7], self.record.text),
            None => self.record.text.clone(),
        }
    }
}

fn pci_address(text: &str) -> Option<String> {
    let at = text.find("PCI:")? + 4;
    let addr: String = text[at..]
        .chars()
        .take_while(|c| c.is_ascii_hexdigit() || *c == ':')
        .collect();
    normalize_pci(addr.trim_end_matches(':'))
}

fn named_pid(text: &str) -> Option<u32> {
    let at = text.find("pid=")? + 4;
    let digits: String = text[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// What a PCI address a line names is to this board.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gpu {
    /// This CUDA device of the board.
    Board(u32),
    /// A GPU of the machine the board's devices do not include.
    Other,
    /// The driver does not say which GPU is where (no map): cannot tell.
    Unknown,
}

struct Log {
    source: Source,
    /// What is read, for the facts.
    desc: String,
    patterns: Vec<String>,
    windows: Windows,
    lost: u64,
    /// Read errors so far, and the last one.
    errors: u64,
    last_error: Option<String>,
    /// Run-level lines sent so far (`outside`).
    sent: outside::Sent,
}

/// Where an earlier suite process of the run left the kernel log (`@kernel-log-from`).
static FROM: OnceLock<u64> = OnceLock::new();

/// Reads the kernel log again from `pos` once it is opened (before any case runs): what
/// was logged since the earlier suite process's last settled reading is the run's.
pub fn start_from(pos: u64) {
    let _ = FROM.set(pos);
}

/// The reader, opened once per process: `Err` says why there is no kernel log.
fn log() -> &'static Result<Mutex<Log>, String> {
    static LOG: OnceLock<Result<Mutex<Log>, String>> = OnceLock::new();
    LOG.get_or_init(|| {
        Source::open(crate::exec::config::get().kernel_log.as_deref()).map(|(source, desc)| {
            let mut log = Log {
                source,
                desc,
                patterns: crate::exec::config::get().driver_log_patterns.clone(),
                windows: Windows::default(),
                lost: 0,
                errors: 0,
                last_error: None,
                sent: outside::Sent::default(),
            };
            if let Some(&pos) = FROM.get() {
                log.catch_up(pos);
            }
            Mutex::new(log)
        })
    })
}

/// For the board facts: what is read (`/dev/kmsg`, a site file) or `none: <reason>`.
pub fn describe() -> String {
    match log() {
        Ok(l) => l.lock().unwrap_or_else(|p| p.into_inner()).desc.clone(),
        Err(why) => format!("none: {why}"),
    }
}

impl Log {
    fn pump(&mut self) {
        let d = self.source.drain();
        self.lost += d.lost;
        if let Some(e) = d.error {
            self.errors += 1;
            self.last_error = Some(e);
        }
        let lines = (d.records.into_iter())
            .filter(|r| self.patterns.iter().any(|p| r.text.contains(p.as_str())))
            .map(Line::new)
            .collect();
        for line in self.windows.read(lines) {
            self.send(&line, false);
        }
    }

    /// A line no case holds, to the runner as the run's (within `outside`'s caps).
    fn send(&mut self, line: &Line, recovered: bool) {
        if !outside::counts(line, board_gpu) {
            return;
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        if let Some(e) = self.sent.event(line, now, recovered) {
            crate::events::emit(&e);
        }
    }

    /// Lines logged since `pos`, where an earlier suite process of the run stopped
    /// reading with them unsettled: sent as the run's (that process's cases are gone).
    fn catch_up(&mut self, pos: u64) {
        if let Err(e) = self.source.rewind_to(pos) {
            self.errors += 1;
            self.last_error = Some(format!("reading the kernel log again from {pos}: {e}"));
            return;
        }
        let d = self.source.drain();
        self.lost += d.lost;
        for r in d.records {
            if self.patterns.iter().any(|p| r.text.contains(p.as_str())) {
                self.send(&Line::new(r), true);
            }
        }
    }

    /// Drops windows and lines no open window can still need (`Windows::prune`).
    fn prune(&mut self) {
        for line in self.windows.prune(board_gpu) {
            self.send(&line, false);
        }
    }

    /// How far the reading is settled: every line before it is in a result or was sent.
    fn settled(&self) -> Option<u64> {
        match self.windows.oldest_unsettled() {
            Some(line) => line.record.pos,
            None => self.source.position(),
        }
    }
}

thread_local! {
    /// The window of the case this thread runs, for `spawn`.
    static CURRENT: Cell<Option<u64>> = const { Cell::new(None) };
    /// What runs once this thread's window has closed (`after_window`).
    static AFTER: RefCell<Vec<Box<dyn FnOnce()>>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` on this thread once the current case's window has closed, before this thread
/// opens another: the self-test stand-in for a driver that logs between two cases.
/// `false` where no window is open (a child process, no kernel log).
pub fn after_window(f: Box<dyn FnOnce()>) -> bool {
    if current_window().is_none() {
        return false;
    }
    AFTER.with(|a| a.borrow_mut().push(f));
    true
}

/// Reads the kernel log once more after the last case, so lines logged after every window
/// closed reach the run too (`outside`).
pub fn finish() {
    if let Ok(log) = log() {
        let mut l = log.lock().unwrap_or_else(|p| p.into_inner());
        l.pump();
        l.prune();
    }
    emit_position();
}

/// Tells the runner how far this process's reading is settled (after a case's result is
/// out): a later suite process of the run reads again from there.
pub fn emit_position() {
    let Ok(log) = log() else { return };
    let pos = log.lock().unwrap_or_else(|p| p.into_inner()).settled();
    if let Some(pos) = pos {
        crate::events::emit(&hil_proto::Event::KernelLogPos { pos });
    }
}

/// An open window; `end` closes it.
pub struct Window {
    id: u64,
    lost_at_start: u64,
    errors_at_start: u64,
    taint: Option<u64>,
}

/// Opens the window of `case` on `devices` (`None` without a kernel log; the facts say
/// why, once). `in_child`: its op runs in a child process, not in this one.
pub fn begin(case: &str, devices: Vec<u32>, in_child: bool) -> Option<Window> {
    let log = log().as_ref().ok()?;
    let mut l = log.lock().unwrap_or_else(|p| p.into_inner());
    l.pump();
    // A child-process case's op runs in its child (`spawn`), not here.
    let pids = if in_child {
        vec![]
    } else {
        vec![std::process::id()]
    };
    let id = l.windows.open(case, devices, pids);
    CURRENT.with(|c| c.set(Some(id)));
    Some(Window {
        id,
        lost_at_start: l.lost,
        errors_at_start: l.errors,
        taint: source::taint(),
    })
}

/// The window of the case running on this thread.
pub fn current_window() -> Option<u64> {
    CURRENT.with(Cell::get)
}

/// Starts a process of the current case (its isolation child, health probe) and notes its
/// pid, so lines naming that pid are attributed to the case, and to the cases of `also`
/// (a health probe shared by several cases). The pid is noted under the log's lock,
/// before any window can close: a line the child logs at once is never judged while its
/// pid is still unknown.
pub fn spawn(
    cmd: &mut std::process::Command,
    also: &[u64],
) -> std::io::Result<std::process::Child> {
    let Ok(log) = log() else {
        return cmd.spawn();
    };
    let mut ids: Vec<u64> = also.to_vec();
    ids.extend(current_window());
    if ids.is_empty() {
        return cmd.spawn();
    }
    let mut l = log.lock().unwrap_or_else(|p| p.into_inner());
    let child = cmd.spawn()?;
    l.windows.add_pid(&ids, child.id());
    Ok(child)
}

/// Notes that process `pid` (a reused isolation worker) now runs the current case.
pub fn join_current(pid: u32) {
    let (Ok(log), Some(id)) = (log(), current_window()) else {
        return;
    };
    let mut l = log.lock().unwrap_or_else(|p| p.into_inner());
    l.windows.add_pid(&[id], pid);
}

/// Closes the window: what it saw (`verdict::with_driver_log` applies it).
pub fn end(w: Window) -> Seen {
    CURRENT.with(|c| c.set(None));
    let Ok(log) = log() else {
        return Seen::default();
    };
    let seen = {
        let mut l = log.lock().unwrap_or_else(|p| p.into_inner());
        l.pump();
        let seen = Seen {
            lines: l.windows.close(w.id, board_gpu),
            lost: l.lost - w.lost_at_start,
            error: (l.errors > w.errors_at_start)
                .then(|| l.last_error.clone())
                .flatten(),
            ..Seen::default()
        };
        l.prune();
        seen
    };
    for f in AFTER.with(|a| std::mem::take(&mut *a.borrow_mut())) {
        f();
    }
    Seen {
        taint: match (w.taint, source::taint()) {
            (Some(a), Some(b)) if a != b => Some((a, b)),
            _ => None,
        },
        ..seen
    }
}

/// What a PCI address is to this board (see `Gpu`).
fn board_gpu(pci: &str) -> Gpu {
    match crate::pci::device_of(pci) {
        Some(d) => Gpu::Board(d),
        None if crate::pci::map().is_empty() => Gpu::Unknown,
        None => Gpu::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const XID: &str = "3,812,4017721337,-;NVRM: Xid (PCI:0000:18:00): 31, pid=4242, name=hil-suite, Ch 00000008, intr 00000000. MMU Fault: ENGINE GRAPHICS GPC0 GPCCLIENT_T1_0 faulted @ 0x7f12_34560000. Fault is of type FAULT_PDE ACCESS_TYPE_VIRT_READ";

    fn line(raw: &str) -> Line {
        Line::new(source::parse_record(raw))
    }

    #[test]
    fn an_xid_line_names_its_gpu_and_process() {
        let l = line(XID);
        assert_eq!(l.pci.as_deref(), Some("0000:18:00"));
        assert_eq!(l.pid, Some(4242));
        assert!(l.is_error());
        assert!(l.render().starts_with("[err] NVRM: Xid"), "{}", l.render());
        assert_eq!(
            line("6,1,1,-;NVRM: Xid (PCI:0000:3b:00): 79, pid='<unknown>', name=<unknown>").pid,
            None
        );
        assert!(
            !line("6,1,1,-;NVRM: loading module").is_error(),
            "info is not an error"
        );
        assert_eq!(normalize_pci("0000:18:00.0").as_deref(), Some("0000:18:00"));
    }
}
