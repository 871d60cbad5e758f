//! Which case a driver line belongs to. Every window is a range of positions in one
//! ordered stream of driver lines, so "which windows hold this line" is exact; of those,
//! a line belongs only to the cases on the GPU it names and that ran the process it names.
//! A line no case holds is the run's. Pure: `Windows` is fed the lines read and says which
//! are the run's; the reading is `super`'s.

use super::{Gpu, Line};
use std::collections::VecDeque;

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

/// Every open window and the closed ones an open window overlaps, with the driver lines
/// they may still claim.
#[derive(Debug, Default)]
pub struct Windows {
    /// Position of the next driver line read.
    next: u64,
    lines: VecDeque<(u64, Line)>,
    windows: Vec<WindowRec>,
    next_id: u64,
}

impl Windows {
    /// Driver lines just read, in order. Returned: the ones no case can hold, the run's.
    /// What is read now was logged since the last read: with no window open then (a window
    /// opens and closes with a read), no case holds it.
    pub fn read(&mut self, lines: Vec<Line>) -> Vec<Line> {
        let outside = !self.windows.iter().any(|w| w.end.is_none());
        let mut run = Vec::new();
        for line in lines {
            if outside {
                run.push(line);
            } else {
                self.lines.push_back((self.next, line));
            }
            self.next += 1;
        }
        run
    }

    /// Opens a window for `case` on `devices`, run in the processes `pids` so far.
    pub fn open(&mut self, case: &str, devices: Vec<u32>, pids: Vec<u32>) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.windows.push(WindowRec {
            id,
            case: case.to_string(),
            devices,
            pids,
            start: self.next,
            end: None,
        });
        id
    }

    /// Process `pid` runs for the cases of windows `ids` too.
    pub fn add_pid(&mut self, ids: &[u64], pid: u32) {
        for w in self.windows.iter_mut().filter(|w| ids.contains(&w.id)) {
            w.pids.push(pid);
        }
    }

    /// Closes window `id` after the last read: the lines that are its case's, each with
    /// the other cases that share it.
    pub fn close(&mut self, id: u64, gpu: impl Fn(&str) -> Gpu + Copy) -> Vec<Attributed> {
        let end = self.next;
        if let Some(me) = self.windows.iter_mut().find(|me| me.id == id) {
            me.end = Some(end);
        }
        (self.lines.iter())
            .filter_map(|(pos, line)| {
                let shared_with = attribute(*pos, line, id, &self.windows, gpu)?;
                let line = line.clone();
                Some(Attributed { line, shared_with })
            })
            .collect()
    }

    /// Drops windows and lines no open window can still need. Returned: the dropped lines
    /// no window claimed, the run's.
    pub fn prune(&mut self, gpu: impl Fn(&str) -> Gpu + Copy) -> Vec<Line> {
        let oldest_open = (self.windows.iter())
            .filter(|w| w.end.is_none())
            .map(|w| w.start)
            .min()
            .unwrap_or(self.next);
        let mut run = Vec::new();
        while self.lines.front().is_some_and(|(p, _)| *p < oldest_open) {
            let Some((pos, line)) = self.lines.pop_front() else {
                break;
            };
            if claimants(pos, &line, &self.windows, gpu).is_empty() {
                run.push(line);
            }
        }
        self.windows
            .retain(|w| w.end.is_none_or(|e| e > oldest_open));
        run
    }

    /// The oldest line not yet settled (in a result or sent), if any.
    pub fn oldest_unsettled(&self) -> Option<&Line> {
        self.lines.front().map(|(_, l)| l)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(raw: &str) -> Line {
        Line::new(super::super::source::parse_record(raw))
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
    /// Device 0 at `0000:3b:00`, device 1 at `0000:18:00`, anything else another GPU.
    fn board(pci: &str) -> Gpu {
        match pci {
            "0000:3b:00" => Gpu::Board(0),
            "0000:18:00" => Gpu::Board(1),
            _ => Gpu::Other,
        }
    }

    fn texts(lines: &[Line]) -> Vec<&str> {
        lines.iter().map(|l| l.record.text.as_str()).collect()
    }

    #[test]
    fn a_line_read_while_no_window_is_open_is_the_runs() {
        let mut w = Windows::default();
        let run = w.read(vec![line("3,1,1,-;NVRM: Xid (PCI:0000:3b:00): 13, before")]);
        assert_eq!(texts(&run), ["NVRM: Xid (PCI:0000:3b:00): 13, before"]);
        let a = w.open("a.dev0", vec![0], vec![10]);
        assert!(w
            .read(vec![line("3,2,1,-;NVRM: Xid (PCI:0000:3b:00): 13, during")])
            .is_empty());
        let seen = w.close(a, board);
        assert_eq!(seen.len(), 1);
        assert!(seen[0].shared_with.is_empty());
        assert!(w.prune(board).is_empty(), "a's line is in its result");
        assert!(w.oldest_unsettled().is_none());
        let after = w.read(vec![line("3,3,1,-;NVRM: Xid (PCI:0000:3b:00): 13, after")]);
        assert_eq!(after.len(), 1, "logged after every window closed");
    }

    #[test]
    fn a_line_that_cannot_be_pinned_to_one_case_is_shared_or_the_runs() {
        let mut w = Windows::default();
        let a = w.open("a.dev0", vec![0], vec![10]);
        let b = w.open("b.dev1", vec![1], vec![10, 77]);
        w.read(vec![
            // No GPU named: both open cases hold it, each names the other.
            line("4,1,1,-;nvgpu: 17000000.gpu [ERR] pbdma intr"),
            // Another GPU of the machine, or a process no case ran: no case's.
            line("3,2,1,-;NVRM: Xid (PCI:0000:99:00): 13, other gpu"),
            line("3,3,1,-;NVRM: Xid (PCI:0000:18:00): 31, pid=555, name=other"),
            // Device 1 and b's child: b's alone.
            line("3,4,1,-;NVRM: Xid (PCI:0000:18:00): 31, pid=77, name=hil-suite"),
        ]);
        let seen_a = w.close(a, board);
        assert_eq!(
            texts(&seen_a.iter().map(|s| s.line.clone()).collect::<Vec<_>>()),
            ["nvgpu: 17000000.gpu [ERR] pbdma intr"]
        );
        assert_eq!(seen_a[0].shared_with, ["b.dev1"]);
        // b is still open: nothing is settled yet, nothing is the run's yet.
        assert!(w.prune(board).is_empty());
        assert!(w.oldest_unsettled().is_some());
        let seen_b = w.close(b, board);
        let shared: Vec<&[String]> = seen_b.iter().map(|s| s.shared_with.as_slice()).collect();
        assert_eq!(shared, [&["a.dev0".to_string()][..], &[][..]]);
        let run = w.prune(board);
        assert_eq!(
            texts(&run),
            [
                "NVRM: Xid (PCI:0000:99:00): 13, other gpu",
                "NVRM: Xid (PCI:0000:18:00): 31, pid=555, name=other"
            ]
        );
        assert!(w.oldest_unsettled().is_none());
    }
}
