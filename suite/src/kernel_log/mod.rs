//! The kernel log window of each case (as igt_runner keeps dmesg per test): GPU driver
//! lines (NVRM, Xid, nvgpu, nvhost, plus `HIL_DRIVER_LOG_PATTERNS`) logged between a
//! case's start and its end (the health probe after a UB case included) become its
//! observations, and a pass with a driver error line becomes a fail (`verdict`).
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

use crate::case::Case;
use crate::verdict::Verdict;
use hil_proto::{Observation, Outcome};
use source::{Record, Source};
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Mutex, OnceLock};

/// Extra substrings (separated by `|`) that mark a kernel log line as the GPU driver's.
pub const PATTERNS_ENV: &str = "HIL_DRIVER_LOG_PATTERNS";
/// The PCI address of each CUDA device (`0=0000:18:00,1=0000:3b:00`), replacing what
/// `/proc/driver/nvidia/gpus` says: for a machine whose driver does not list them there,
/// and for tests on a machine without a GPU.
pub const GPU_PCI_ENV: &str = "HIL_GPU_PCI";
pub const DEFAULT_PATTERNS: &[&str] = &["NVRM", "Xid", "nvgpu", "nvhost"];
/// Lines kept per case in its observation; the rest are counted.
const MAX_LINES: usize = 20;

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

/// `0000:18:00` (domain:bus:device), lowercase; a function suffix (`.0`) is dropped.
pub fn normalize_pci(addr: &str) -> Option<String> {
    let addr = addr.split('.').next()?.to_ascii_lowercase();
    let parts: Vec<&str> = addr.split(':').collect();
    (parts.len() == 3 && parts.iter().all(|p| !p.is_empty())).then_some(addr)
}

fn named_pid(text: &str) -> Option<u32> {
    let at = text.find("pid=")? + 4;
    let digits: String = text[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// The patterns in force: the defaults plus `HIL_DRIVER_LOG_PATTERNS`.
pub fn patterns() -> Vec<String> {
    let mut p: Vec<String> = DEFAULT_PATTERNS.iter().map(|s| s.to_string()).collect();
    if let Ok(extra) = std::env::var(PATTERNS_ENV) {
        p.extend(
            extra
                .split('|')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from),
        );
    }
    p
}

/// One case's window: positions `[start, end)` of the stream of driver lines.
#[derive(Debug, Clone)]
pub struct WindowRec {
    pub id: u64,
    pub case: String,
    pub devices: Vec<u32>,
    /// Processes the case ran in: this one for an in-process case; a child-process case's
    /// child and health probe.
    pub pids: Vec<u32>,
    pub start: u64,
    pub end: Option<u64>,
}

impl WindowRec {
    fn holds(&self, pos: u64) -> bool {
        self.start <= pos && self.end.is_none_or(|e| pos < e)
    }
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

/// Which of `windows` a line at `pos` belongs to: those holding it, of those the cases on
/// the GPU it names (`gpu` says what a PCI address is) and then the cases that ran the
/// process it names. `None` if `me` is not among them, else the other cases that share
/// it. A line naming a GPU or process no holding case has belongs to none of them.
pub fn attribute(
    pos: u64,
    line: &Line,
    me: u64,
    windows: &[WindowRec],
    gpu: impl Fn(&str) -> Gpu,
) -> Option<Vec<String>> {
    let cands = claimants(pos, line, windows, gpu);
    cands.iter().any(|w| w.id == me).then(|| {
        cands
            .iter()
            .filter(|w| w.id != me)
            .map(|w| w.case.clone())
            .collect()
    })
}

/// The windows a line at `pos` belongs to (see `attribute`).
fn claimants<'w>(
    pos: u64,
    line: &Line,
    windows: &'w [WindowRec],
    gpu: impl Fn(&str) -> Gpu,
) -> Vec<&'w WindowRec> {
    let mut cands: Vec<&WindowRec> = windows.iter().filter(|w| w.holds(pos)).collect();
    match line.pci.as_deref().map(gpu) {
        Some(Gpu::Board(dev)) => cands.retain(|w| w.devices.contains(&dev)),
        Some(Gpu::Other) => cands.clear(),
        Some(Gpu::Unknown) | None => {}
    }
    if let Some(pid) = line.pid {
        cands.retain(|w| w.pids.contains(&pid));
    }
    cands
}

/// A line attributed to a case, with the other cases that share it.
#[derive(Debug, Clone)]
pub struct Attributed {
    pub line: Line,
    pub shared_with: Vec<String>,
}

/// What a case's window saw.
#[derive(Debug, Default)]
pub struct Seen {
    pub lines: Vec<Attributed>,
    pub taint: Option<(u64, u64)>,
    pub lost: u64,
    /// A read error during the window: its lines may be missing.
    pub error: Option<String>,
}

/// Adds what the window saw to the verdict: observations always; a pass with an
/// unexpected driver error line becomes a fail quoting it, and a UB scenario's "silent
/// success" becomes "driver-logged". `expected`: the row's `expect_driver_log`.
pub fn apply(v: &mut Verdict, seen: &Seen, expected: &[String]) {
    let (ok, unexpected): (Vec<&Attributed>, Vec<&Attributed>) = seen.lines.iter().partition(|a| {
        expected
            .iter()
            .any(|p| a.line.record.text.contains(p.as_str()))
    });
    let listing = |lines: &[&Attributed]| {
        let mut s: Vec<String> = lines
            .iter()
            .take(MAX_LINES)
            .map(|a| a.line.render())
            .collect();
        if lines.len() > MAX_LINES {
            s.push(format!("… {} more line(s)", lines.len() - MAX_LINES));
        }
        s.join("\n")
    };
    if !unexpected.is_empty() {
        v.observations
            .push(Observation::new("driver_log", listing(&unexpected)));
    }
    if !ok.is_empty() {
        v.observations
            .push(Observation::new("driver_log_expected", listing(&ok)));
    }
    let shared: BTreeSet<&str> = seen
        .lines
        .iter()
        .flat_map(|a| a.shared_with.iter().map(String::as_str))
        .collect();
    if !shared.is_empty() {
        let names: Vec<&str> = shared.into_iter().collect();
        v.observations.push(Observation::new(
            hil_proto::DRIVER_LOG_SHARED_WITH,
            names.join(", "),
        ));
    }
    if let Some((before, after)) = seen.taint {
        v.observations.push(Observation::new(
            "kernel_taint",
            format!("{before} -> {after}"),
        ));
    }
    if let Some(e) = &seen.error {
        v.observations.push(Observation::new(
            "kernel_log_error",
            format!("reading the kernel log failed during the case: {e}"),
        ));
    }
    if seen.lost > 0 {
        v.observations.push(Observation::new(
            "kernel_log_lost",
            format!("{} record(s) overwritten before they were read", seen.lost),
        ));
    }
    let Some(first) = unexpected.iter().find(|a| a.line.is_error()) else {
        return;
    };
    let errors = unexpected.iter().filter(|a| a.line.is_error()).count();
    let mut quote = first.line.record.text.clone();
    if errors > 1 {
        quote.push_str(&format!(" (and {} more line(s))", errors - 1));
    }
    if !first.shared_with.is_empty() {
        quote.push_str(&format!(
            "; logged while {} also ran, the line may be theirs",
            first.shared_with.join(", ")
        ));
    }
    match v.outcome {
        Outcome::Pass => {
            v.outcome = Outcome::Fail;
            // A pass on an expected error code keeps saying so.
            let what = if v.message.is_empty() {
                "every call succeeded"
            } else {
                v.message.as_str()
            };
            v.message = format!("{what}, but the driver logged: {quote}");
        }
        Outcome::Flagged => {
            let silent = v
                .observations
                .iter()
                .any(|o| o.key == "observed" && o.value == "silent-success");
            if silent {
                let detail = format!("every call returned success, but the driver logged: {quote}");
                for o in v.observations.iter_mut() {
                    match o.key.as_str() {
                        "observed" => o.value = "driver-logged".into(),
                        "detail" => o.value = detail.clone(),
                        _ => {}
                    }
                }
                v.message = format!("driver-logged: {detail}");
            }
        }
        _ => {}
    }
}

struct Log {
    source: Source,
    /// What is read, for the facts.
    desc: String,
    patterns: Vec<String>,
    /// Position of the next driver line read.
    next: u64,
    lines: VecDeque<(u64, Line)>,
    windows: Vec<WindowRec>,
    lost: u64,
    /// Read errors so far, and the last one.
    errors: u64,
    last_error: Option<String>,
    next_id: u64,
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
        Source::open().map(|(source, desc)| {
            let mut log = Log {
                source,
                desc,
                patterns: patterns(),
                next: 0,
                lines: VecDeque::new(),
                windows: Vec::new(),
                lost: 0,
                errors: 0,
                last_error: None,
                next_id: 0,
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
        // What is read now was logged since the last read: with no window open then (a
        // window opens and closes with a read), no case can hold it.
        let outside = !self.windows.iter().any(|w| w.end.is_none());
        for r in d.records {
            if self.patterns.iter().any(|p| r.text.contains(p.as_str())) {
                let line = Line::new(r);
                if outside {
                    self.send(&line, false);
                } else {
                    self.lines.push_back((self.next, line));
                }
                self.next += 1;
            }
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

    /// Drops windows and lines no open window can still need; a dropped line no window
    /// claimed is sent as the run's.
    fn prune(&mut self) {
        let oldest_open = self
            .windows
            .iter()
            .filter(|w| w.end.is_none())
            .map(|w| w.start)
            .min()
            .unwrap_or(self.next);
        while self.lines.front().is_some_and(|(p, _)| *p < oldest_open) {
            let Some((pos, line)) = self.lines.pop_front() else {
                break;
            };
            if claimants(pos, &line, &self.windows, board_gpu).is_empty() {
                self.send(&line, false);
            }
        }
        self.windows
            .retain(|w| w.end.is_none_or(|e| e > oldest_open));
    }

    /// How far the reading is settled: every line before it is in a result or was sent.
    fn settled(&self) -> Option<u64> {
        match self.lines.front() {
            Some((_, line)) => line.record.pos,
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

/// Opens `case`'s window (`None` without a kernel log; the facts say why, once).
pub fn begin(case: &Case) -> Option<Window> {
    let log = log().as_ref().ok()?;
    let mut l = log.lock().unwrap_or_else(|p| p.into_inner());
    l.pump();
    let id = l.next_id;
    l.next_id += 1;
    let start = l.next;
    l.windows.push(WindowRec {
        id,
        case: case.name.clone(),
        devices: case.devices(),
        // A child-process case's op runs in its child (`spawn`), not here.
        pids: if case.in_child() {
            vec![]
        } else {
            vec![std::process::id()]
        },
        start,
        end: None,
    });
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
    for w in l.windows.iter_mut().filter(|w| ids.contains(&w.id)) {
        w.pids.push(child.id());
    }
    Ok(child)
}

/// Notes that process `pid` (a reused isolation worker) now runs the current case.
pub fn join_current(pid: u32) {
    let (Ok(log), Some(id)) = (log(), current_window()) else {
        return;
    };
    let mut l = log.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(w) = l.windows.iter_mut().find(|w| w.id == id) {
        w.pids.push(pid);
    }
}

/// Closes the window and applies what it saw to the case's verdict.
pub fn end(w: Window, case: &Case, v: &mut Verdict) {
    CURRENT.with(|c| c.set(None));
    let Ok(log) = log() else { return };
    let seen = {
        let mut l = log.lock().unwrap_or_else(|p| p.into_inner());
        l.pump();
        let end = l.next;
        if let Some(me) = l.windows.iter_mut().find(|me| me.id == w.id) {
            me.end = Some(end);
        }
        let mut seen = Seen {
            lost: l.lost - w.lost_at_start,
            error: (l.errors > w.errors_at_start)
                .then(|| l.last_error.clone())
                .flatten(),
            ..Seen::default()
        };
        for (pos, line) in &l.lines {
            if let Some(shared_with) = attribute(*pos, line, w.id, &l.windows, board_gpu) {
                seen.lines.push(Attributed {
                    line: line.clone(),
                    shared_with,
                });
            }
        }
        l.prune();
        seen
    };
    for f in AFTER.with(|a| std::mem::take(&mut *a.borrow_mut())) {
        f();
    }
    let seen = Seen {
        taint: match (w.taint, source::taint()) {
            (Some(a), Some(b)) if a != b => Some((a, b)),
            _ => None,
        },
        ..seen
    };
    apply(v, &seen, &case.expect_driver_log);
}

/// The CUDA device at a PCI address: the NVIDIA driver lists each GPU's UUID under
/// `/proc/driver/nvidia/gpus/<pci>/information`, CUDA gives each device's UUID.
fn device_of(pci: &str) -> Option<u32> {
    pci_map().get(pci).copied()
}

/// What a PCI address is to this board (see `Gpu`).
fn board_gpu(pci: &str) -> Gpu {
    match device_of(pci) {
        Some(d) => Gpu::Board(d),
        None if pci_map().is_empty() => Gpu::Unknown,
        None => Gpu::Other,
    }
}

/// The PCI address (`0000:18:00`) of a CUDA device, where the driver lists it.
pub fn pci_of(device: u32) -> Option<String> {
    pci_map()
        .iter()
        .find(|(_, d)| **d == device)
        .map(|(a, _)| a.clone())
}

fn pci_map() -> &'static BTreeMap<String, u32> {
    static MAP: OnceLock<BTreeMap<String, u32>> = OnceLock::new();
    MAP.get_or_init(|| {
        let given = std::env::var(GPU_PCI_ENV)
            .ok()
            .filter(|v| !v.trim().is_empty());
        if let Some(Ok(map)) = given.map(|v| parse_gpu_pci(&v)) {
            return map;
        }
        let mut map = BTreeMap::new();
        let Ok(driver) = crate::cuda::driver() else {
            return map;
        };
        let Ok(dirs) = std::fs::read_dir("/proc/driver/nvidia/gpus") else {
            return map;
        };
        for d in dirs.flatten() {
            let name = d.file_name().to_string_lossy().into_owned();
            let Some(addr) = normalize_pci(&name) else {
                continue;
            };
            let info = std::fs::read_to_string(d.path().join("information")).unwrap_or_default();
            let uuid = info
                .lines()
                .find_map(|l| l.strip_prefix("GPU UUID:"))
                .map(|u| u.trim().to_ascii_lowercase());
            if let Some(dev) = driver.devices.iter().find(|dev| {
                uuid.as_deref() == Some(&crate::cuda::fmt_uuid(&dev.uuid).to_ascii_lowercase())
            }) {
                map.insert(addr, dev.index);
            }
        }
        map
    })
}

/// `HIL_GPU_PCI`: `N=dddd:bb:dd[.f]`, comma-separated; empty is unset.
fn parse_gpu_pci(v: &str) -> Result<BTreeMap<String, u32>, String> {
    let mut map = BTreeMap::new();
    for item in v.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let parsed = item.split_once('=').and_then(|(dev, addr)| {
            Some((normalize_pci(addr.trim())?, dev.trim().parse::<u32>().ok()?))
        });
        let Some((addr, dev)) = parsed else {
            return Err(format!(
                "{GPU_PCI_ENV}: `{item}` is not `DEVICE=PCI-ADDRESS` (e.g. `0=0000:18:00`)"
            ));
        };
        if map.insert(addr, dev).is_some() {
            return Err(format!(
                "{GPU_PCI_ENV}: `{item}`: that address is given twice"
            ));
        }
    }
    Ok(map)
}

/// Refuses a malformed `HIL_GPU_PCI` before any case runs (exit 2).
pub fn check_env() -> Result<(), String> {
    match std::env::var(GPU_PCI_ENV) {
        Ok(v) => parse_gpu_pci(&v).map(|_| ()),
        Err(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gpu_pci_addresses_can_be_given() {
        let m = parse_gpu_pci("0=0000:18:00.0, 1=0000:3B:00").unwrap();
        assert_eq!(m.get("0000:18:00"), Some(&0));
        assert_eq!(m.get("0000:3b:00"), Some(&1));
        assert!(parse_gpu_pci("").unwrap().is_empty());
        for bad in [
            "0000:18:00",
            "x=0000:18:00",
            "0=18:00",
            "0=0000:18:00,1=0000:18:00",
        ] {
            let e = parse_gpu_pci(bad).unwrap_err();
            assert!(e.starts_with("HIL_GPU_PCI: "), "{bad}: {e}");
        }
    }

    const XID: &str = "3,812,4017721337,-;NVRM: Xid (PCI:0000:18:00): 31, pid=4242, name=hil-suite, Ch 00000008, intr 00000000. MMU Fault: ENGINE GRAPHICS GPC0 GPCCLIENT_T1_0 faulted @ 0x7f12_34560000. Fault is of type FAULT_PDE ACCESS_TYPE_VIRT_READ";

    fn line(raw: &str) -> Line {
        Line::new(source::parse_record(raw))
    }

    fn win(
        id: u64,
        case: &str,
        devices: &[u32],
        pids: &[u32],
        start: u64,
        end: Option<u64>,
    ) -> WindowRec {
        WindowRec {
            id,
            case: case.into(),
            devices: devices.to_vec(),
            pids: pids.to_vec(),
            start,
            end,
        }
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

    #[test]
    fn a_line_goes_to_the_cases_on_its_gpu_and_process_and_to_none_else() {
        let dev = |pci: &str| match pci {
            "0000:18:00" => Gpu::Board(1),
            "0000:3b:00" => Gpu::Board(0),
            _ => Gpu::Other,
        };
        let ws = [
            win(0, "a.dev0", &[0], &[10], 0, Some(5)),
            win(1, "b.dev1", &[1], &[10], 2, None),
            win(2, "c.host", &[], &[10], 3, Some(4)),
            win(3, "d.later", &[1], &[10], 6, None),
        ];
        let xid = line("3,1,1,-;NVRM: Xid (PCI:0000:18:00): 13, Graphics Exception");
        assert_eq!(
            attribute(3, &xid, 1, &ws, dev),
            Some(vec![]),
            "device 1: b only"
        );
        assert_eq!(attribute(3, &xid, 0, &ws, dev), None);
        assert_eq!(attribute(3, &xid, 2, &ws, dev), None);
        assert_eq!(
            attribute(3, &xid, 3, &ws, dev),
            None,
            "d's window opened later"
        );
        // Naming device 0 while no case on device 0 holds it: no case's, at any overlap
        // (so the same line reads the same at any thread count; the run keeps it).
        let dev0 = line("3,1,1,-;NVRM: Xid (PCI:0000:3b:00): 13, x");
        assert!(claimants(5, &dev0, &ws, dev).is_empty());
        assert_eq!(attribute(3, &dev0, 0, &ws, dev), Some(vec![]), "a holds it");
        // No GPU named: every case whose window holds it.
        let plain = line("4,1,1,-;nvgpu: 17000000.gpu [ERR] pbdma intr");
        assert_eq!(
            attribute(3, &plain, 1, &ws, dev),
            Some(vec!["a.dev0".to_string(), "c.host".to_string()])
        );
        // Another GPU of the machine: no case of this board.
        let other_gpu = line("3,1,1,-;NVRM: Xid (PCI:0000:99:00): 13, x");
        assert!(claimants(3, &other_gpu, &ws, dev).is_empty());
        // Where the driver does not say which GPU is where: every holding case.
        assert_eq!(claimants(3, &other_gpu, &ws, |_| Gpu::Unknown).len(), 3);
    }

    #[test]
    fn a_named_pid_picks_the_case_that_ran_that_process_and_a_foreign_one_none() {
        let ws = [
            win(0, "iso", &[0], &[10, 77], 0, None),
            win(1, "inproc", &[0], &[10], 0, None),
        ];
        let l = line("3,1,1,-;NVRM: Xid (PCI:0000:18:00): 31, pid=77, name=hil-suite");
        assert_eq!(attribute(0, &l, 0, &ws, |_| Gpu::Unknown), Some(vec![]));
        assert_eq!(attribute(0, &l, 1, &ws, |_| Gpu::Unknown), None);
        let foreign = line("3,1,1,-;NVRM: Xid (PCI:0000:18:00): 31, pid=555, name=other");
        assert!(claimants(0, &foreign, &ws, |_| Gpu::Unknown).is_empty());
    }

    fn verdict(outcome: Outcome, obs: Vec<Observation>) -> Verdict {
        Verdict {
            outcome,
            message: String::new(),
            observations: obs,
        }
    }

    fn seen(raw: &[&str], shared: &[&str]) -> Seen {
        Seen {
            lines: raw
                .iter()
                .map(|r| Attributed {
                    line: line(r),
                    shared_with: shared.iter().map(|s| s.to_string()).collect(),
                })
                .collect(),
            ..Seen::default()
        }
    }

    #[test]
    fn a_pass_with_a_driver_error_fails_quoting_it_unless_expected() {
        let mut v = verdict(Outcome::Pass, vec![]);
        apply(&mut v, &seen(&[XID], &["other.case"]), &[]);
        assert_eq!(v.outcome, Outcome::Fail);
        assert!(
            v.message.contains("NVRM: Xid (PCI:0000:18:00): 31"),
            "{}",
            v.message
        );
        assert!(v.message.contains("other.case"), "{}", v.message);
        let obs = |v: &Verdict, k: &str| {
            v.observations
                .iter()
                .find(|o| o.key == k)
                .map(|o| o.value.clone())
        };
        assert_eq!(
            obs(&v, "driver_log_shared_with").as_deref(),
            Some("other.case")
        );

        let mut v = verdict(Outcome::Pass, vec![]);
        apply(
            &mut v,
            &seen(&[XID], &[]),
            &["Xid (PCI:0000:18:00): 31".into()],
        );
        assert_eq!(v.outcome, Outcome::Pass);
        assert!(obs(&v, "driver_log_expected").is_some());
        assert!(obs(&v, "driver_log").is_none());

        let mut v = verdict(Outcome::Pass, vec![]);
        v.message = "as expected, cuX returned 700".into();
        apply(&mut v, &seen(&[XID], &[]), &[]);
        assert!(
            v.message
                .starts_with("as expected, cuX returned 700, but the driver logged: NVRM: Xid"),
            "{}",
            v.message
        );

        let mut v = verdict(Outcome::Pass, vec![]);
        apply(
            &mut v,
            &seen(&["6,1,1,-;NVRM: GPU at PCI:0000:18:00 info"], &[]),
            &[],
        );
        assert_eq!(v.outcome, Outcome::Pass, "an info line is kept, not judged");
        assert!(obs(&v, "driver_log").is_some());
    }

    #[test]
    fn silent_success_becomes_driver_logged() {
        let mut v = verdict(
            Outcome::Flagged,
            vec![
                Observation::new("observed", "silent-success"),
                Observation::new("detail", "every call returned success"),
            ],
        );
        apply(&mut v, &seen(&[XID], &[]), &[]);
        assert_eq!(v.outcome, Outcome::Flagged);
        assert_eq!(v.observations[0].value, "driver-logged");
        assert!(v.observations[1]
            .value
            .contains("but the driver logged: NVRM: Xid"));
        assert!(v.message.starts_with("driver-logged: "), "{}", v.message);
    }
}
