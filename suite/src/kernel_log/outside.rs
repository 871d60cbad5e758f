//! Driver lines logged while no case's window was open (before the first case, between
//! two cases of a serial run, after the last): no case holds them, so the suite sends the
//! errors among them that concern the board's GPUs to the runner as run-level
//! `driver-log` events, which fail the run unless expected. Bounded per suite process: a
//! storm of lines must not flood the event stream.

use super::Line;
use hil_proto::Event;

/// At most this many lines per suite process …
pub const MAX_LINES: usize = 100;
/// … and this many bytes of them; then one line says that more were not sent.
pub const MAX_BYTES: usize = 64 * 1024;
/// A longer line is cut here (a kmsg record's text is about 1 KiB at most).
const MAX_LINE_BYTES: usize = 2048;

/// Whether a line no case holds is the run's: an error (as a case's verdict counts one)
/// that names one of the board's GPUs, names no GPU at all (Jetson's `nvgpu` lines name
/// none), or names one where the driver does not say which GPU is where. A line naming
/// another GPU of the machine is not this board's.
pub fn counts(line: &Line, gpu: impl Fn(&str) -> super::Gpu) -> bool {
    line.is_error() && line.pci.as_deref().map(gpu) != Some(super::Gpu::Other)
}

/// What this process has sent so far.
#[derive(Debug, Default)]
pub struct Sent {
    lines: usize,
    bytes: usize,
    capped: bool,
}

impl Sent {
    /// The event for `line`, or `None` once the caps are reached (the first line past
    /// them is replaced by one saying so).
    pub fn event(&mut self, line: &Line, seen_unix: u64, recovered: bool) -> Option<Event> {
        if self.capped {
            return None;
        }
        let mut text = line.render();
        if text.len() > MAX_LINE_BYTES {
            let mut cut = MAX_LINE_BYTES;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
            text.push_str(" …");
        }
        if self.lines + 1 > MAX_LINES || self.bytes + text.len() > MAX_BYTES {
            self.capped = true;
            text = format!(
                "… further driver lines logged outside every case were not sent \
                 (at most {MAX_LINES} lines, {} KiB per suite process); the kernel log has them",
                MAX_BYTES / 1024
            );
        } else {
            self.lines += 1;
            self.bytes += text.len();
        }
        Some(Event::DriverLog {
            line: text,
            seen_unix,
            recovered,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel_log::source::parse_record;

    fn line(raw: &str) -> Line {
        Line::new(parse_record(raw))
    }

    #[test]
    fn errors_naming_a_board_gpu_or_none_count_others_do_not() {
        use crate::kernel_log::Gpu;
        let board = |p: &str| {
            if p == "0000:18:00" {
                Gpu::Board(0)
            } else {
                Gpu::Other
            }
        };
        assert!(counts(
            &line("3,1,1,-;NVRM: Xid (PCI:0000:18:00): 13, x"),
            board
        ));
        assert!(counts(&line("4,1,1,-;nvgpu: 17000000.gpu [ERR] x"), board));
        assert!(
            !counts(&line("3,1,1,-;NVRM: Xid (PCI:0000:99:00): 13, x"), board),
            "another GPU of the machine"
        );
        assert!(
            !counts(&line("6,1,1,-;NVRM: GPU at PCI:0000:18:00 info"), board),
            "info is not an error"
        );
        // Where the driver does not say which GPU is where, a line naming one counts.
        assert!(counts(
            &line("3,1,1,-;NVRM: Xid (PCI:0000:99:00): 13, x"),
            |_| Gpu::Unknown
        ));
    }

    #[test]
    fn lines_are_capped_by_count_and_bytes_and_the_cap_is_said_once() {
        let l = line("3,1,1,-;NVRM: Xid (PCI:0000:18:00): 13, x");
        let mut s = Sent::default();
        let sent: Vec<Event> = (0..MAX_LINES + 5)
            .filter_map(|_| s.event(&l, 7, false))
            .collect();
        assert_eq!(sent.len(), MAX_LINES + 1);
        let Event::DriverLog {
            line, seen_unix, ..
        } = &sent[MAX_LINES]
        else {
            panic!("{:?}", sent[MAX_LINES])
        };
        assert!(line.starts_with("… further driver lines"), "{line}");
        assert_eq!(*seen_unix, 7);

        let long = line_of(5000);
        let mut s = Sent::default();
        let sent: Vec<Event> = (0..100).filter_map(|_| s.event(&long, 0, false)).collect();
        let bytes: usize = sent
            .iter()
            .map(|e| match e {
                Event::DriverLog { line, .. } => line.len(),
                _ => 0,
            })
            .sum();
        assert!(bytes <= MAX_BYTES + 200, "{bytes}");
        assert!(sent.len() < 40, "{}", sent.len());
    }

    fn line_of(n: usize) -> Line {
        line(&format!(
            "3,1,1,-;NVRM: Xid (PCI:0000:18:00): 13, {}",
            "é".repeat(n)
        ))
    }
}
