//! Where kernel log records come from: `/dev/kmsg` (read non-blockingly, one record per
//! `read`, from the end at open), or a site-given file or FIFO (`HIL_KERNEL_LOG`) that
//! something else appends to — a serial console capture, `dmesg --follow`, a test.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::PathBuf;

/// A site-given log source instead of `/dev/kmsg`; `off` disables kernel log capture.
pub const SOURCE_ENV: &str = "HIL_KERNEL_LOG";
pub const KMSG: &str = "/dev/kmsg";

/// One kernel log line: its level (0 emerg … 7 debug) where the source says it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub level: Option<u8>,
    pub text: String,
    /// Where the record is in its source: a kmsg record's sequence number, a file line's
    /// byte offset. A suite started later reads again from here (`Source::rewind_to`).
    pub pos: Option<u64>,
}

/// Parses `prio,seq,usec,flags[,…];text` (the kmsg format); anything else is a plain text
/// line of unknown level. Continuation lines (` KEY=value`) after the text are dropped.
pub fn parse_record(raw: &str) -> Record {
    let first = raw.lines().next().unwrap_or("").trim_end();
    if let Some((head, text)) = first.split_once(';') {
        let mut fields = head.split(',');
        let prio = fields.next().and_then(|p| p.parse::<u32>().ok());
        let seq = fields.next().and_then(|s| s.parse::<u64>().ok());
        if let (Some(prio), Some(seq)) = (prio, seq) {
            return Record {
                level: Some((prio & 7) as u8),
                text: text.to_string(),
                pos: Some(seq),
            };
        }
    }
    Record {
        level: None,
        text: first.to_string(),
        pos: None,
    }
}

pub enum Source {
    /// `/dev/kmsg` (or another kmsg-like character device): whole records.
    Kmsg {
        file: File,
        /// The sequence number after the last record read.
        next_seq: Option<u64>,
        /// Records before this one are skipped (a rewind reads from the buffer's start).
        skip_below: u64,
    },
    /// A file or FIFO others append the kernel log to.
    Tail {
        file: File,
        partial: Vec<u8>,
        /// Bytes of whole lines read so far, from the file's start (a FIFO has none).
        offset: Option<u64>,
    },
}

/// What was read by one `drain`.
#[derive(Debug, Default)]
pub struct Drained {
    pub records: Vec<Record>,
    /// Records the kernel overwrote before they could be read (kmsg `EPIPE`).
    pub lost: u64,
    /// A read that failed for another reason (the source stopped working).
    pub error: Option<String>,
}

impl Source {
    /// Opens the source the site names (`SOURCE_ENV`, trimmed), or `/dev/kmsg`. `Ok`
    /// carries a description for the facts, `Err` why nothing can be read.
    pub fn open(given: Option<&str>) -> Result<(Source, String), String> {
        match given {
            Some("off") => Err(format!("disabled ({SOURCE_ENV}=off)")),
            Some(v) if !v.is_empty() => {
                let path = PathBuf::from(v);
                Self::open_tail(&path).map(|s| (s, format!("{} ({SOURCE_ENV})", path.display())))
            }
            _ => Self::open_kmsg().map(|s| (s, KMSG.to_string())),
        }
    }

    fn open_kmsg() -> Result<Source, String> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(KMSG)
            .map_err(|e| {
                let hint = match e.raw_os_error() {
                    Some(libc::EACCES) | Some(libc::EPERM) => {
                        " (needs CAP_SYSLOG or kernel.dmesg_restrict=0)"
                    }
                    _ => "",
                };
                format!("{KMSG}: {e}{hint}; set {SOURCE_ENV} to a file or FIFO that receives the kernel log")
            })?;
        // Only what is logged from now on.
        Source::kmsg(file).map_err(|e| format!("{KMSG}: seek to end: {e}"))
    }

    fn open_tail(path: &std::path::Path) -> Result<Source, String> {
        let why = |e: std::io::Error| format!("{} ({SOURCE_ENV}): {e}", path.display());
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)
            .map_err(why)?;
        let meta = file.metadata().map_err(why)?;
        if meta.is_dir() {
            return Err(format!(
                "{} ({SOURCE_ENV}): is a directory; name a file or FIFO",
                path.display()
            ));
        }
        if meta.file_type().is_char_device() {
            // A kmsg-like device (`HIL_KERNEL_LOG=/dev/kmsg`): one record per read, from its end.
            return Source::kmsg(file).map_err(why);
        }
        let mut offset = None;
        if !meta.file_type().is_fifo() {
            use std::io::Seek;
            let mut f = &file;
            offset = Some(f.seek(std::io::SeekFrom::End(0)).map_err(why)?);
        }
        Ok(Source::Tail {
            file,
            partial: Vec::new(),
            offset,
        })
    }

    /// A kmsg source at its end, knowing the sequence number there: the records the ring
    /// buffer holds are read past once (only what is logged after the suite started
    /// counts), so a later suite process can be told where this one began.
    fn kmsg(file: File) -> std::io::Result<Source> {
        let mut s = Source::Kmsg {
            file,
            next_seq: None,
            skip_below: u64::MAX,
        };
        let read = s.drain();
        if let Source::Kmsg {
            file, skip_below, ..
        } = &mut s
        {
            *skip_below = 0;
            // Could not read through: at least start at the end.
            if read.error.is_some() {
                kmsg_from_end(file)?;
            }
        }
        Ok(s)
    }

    /// Where the next record will come from, if the source can be read again from there.
    pub fn position(&self) -> Option<u64> {
        match self {
            Source::Kmsg { next_seq, .. } => *next_seq,
            Source::Tail { offset, .. } => *offset,
        }
    }

    /// Reads again from `pos` (a `position` of an earlier suite process): what was logged
    /// since is not lost between two suite processes. A FIFO cannot go back.
    pub fn rewind_to(&mut self, pos: u64) -> std::io::Result<()> {
        use std::os::fd::AsRawFd;
        match self {
            Source::Kmsg {
                file, skip_below, ..
            } => {
                // kmsg: SEEK_SET 0 is the oldest record the ring buffer still holds.
                if unsafe { libc::lseek(file.as_raw_fd(), 0, libc::SEEK_SET) } < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                *skip_below = pos;
            }
            Source::Tail {
                file,
                partial,
                offset: Some(offset),
            } => {
                use std::io::Seek;
                let len = file.metadata()?.len();
                // A file truncated since is read from where it is.
                if pos <= len {
                    let mut f = &*file;
                    f.seek(std::io::SeekFrom::Start(pos))?;
                    *offset = pos;
                    partial.clear();
                }
            }
            Source::Tail { offset: None, .. } => {}
        }
        Ok(())
    }

    /// Everything available now, without blocking.
    pub fn drain(&mut self) -> Drained {
        let mut out = Drained::default();
        match self {
            Source::Kmsg {
                file,
                next_seq,
                skip_below,
            } => {
                // A kmsg record is at most about 8 KiB; a smaller buffer gets EINVAL.
                let mut buf = vec![0u8; 16 * 1024];
                loop {
                    match file.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => {
                            let r = parse_record(&String::from_utf8_lossy(&buf[..n]));
                            if let Some(seq) = r.pos {
                                *next_seq = Some(seq + 1);
                                if seq < *skip_below {
                                    continue;
                                }
                            }
                            out.records.push(r);
                        }
                        // The ring buffer overwrote records we had not read; the next
                        // read returns the oldest one still there.
                        Err(e) if e.raw_os_error() == Some(libc::EPIPE) => out.lost += 1,
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                        Err(e) => {
                            out.error = Some(format!("{KMSG}: {e}"));
                            break;
                        }
                    }
                }
            }
            Source::Tail {
                file,
                partial,
                offset,
            } => {
                let mut buf = [0u8; 8192];
                loop {
                    match file.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => partial.extend_from_slice(&buf[..n]),
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                        Err(e) => {
                            out.error = Some(format!("{SOURCE_ENV}: {e}"));
                            break;
                        }
                    }
                }
                while let Some(nl) = partial.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = partial.drain(..=nl).collect();
                    let at = *offset;
                    if let Some(o) = offset {
                        *o += line.len() as u64;
                    }
                    let line = String::from_utf8_lossy(&line);
                    if !line.trim().is_empty() {
                        // A file line's place is its offset, whatever its text says.
                        out.records.push(Record {
                            pos: at,
                            ..parse_record(&line)
                        });
                    }
                }
            }
        }
        out
    }
}

/// Moves a kmsg reader past every record logged so far (SEEK_END on kmsg is "after the
/// last record", not a byte offset).
fn kmsg_from_end(file: &File) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    if unsafe { libc::lseek(file.as_raw_fd(), 0, libc::SEEK_END) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// `/proc/sys/kernel/tainted`, where readable.
pub fn taint() -> Option<u64> {
    std::fs::read_to_string("/proc/sys/kernel/tainted")
        .ok()?
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kmsg_records_keep_level_and_text() {
        let r = parse_record(
            "3,1234,5678901,-;NVRM: Xid (PCI:0000:18:00): 31, pid=42, name=hil-suite, Ch 00000008\n SUBSYSTEM=pci\n",
        );
        assert_eq!(r.level, Some(3));
        assert_eq!(
            r.text,
            "NVRM: Xid (PCI:0000:18:00): 31, pid=42, name=hil-suite, Ch 00000008"
        );
        // facility user (1) << 3 | warning (4)
        assert_eq!(parse_record("12,7,1,-;hello").level, Some(4));
    }

    #[test]
    fn other_lines_are_plain_text_of_unknown_level() {
        let r = parse_record("[  12.5] nvgpu: 17000000.gpu gk20a_fifo_handle_pbdma_intr:2715 [ERR]  pbdma_intr_0(0):0x10000000");
        assert_eq!(r.level, None);
        assert!(r.text.starts_with("[  12.5] nvgpu:"), "{}", r.text);
        assert_eq!(parse_record("a;b").level, None, "not a kmsg header");
    }

    #[test]
    fn a_tailed_file_yields_only_new_whole_lines() {
        let path = std::env::temp_dir().join(format!("hil-klog-src-{}", std::process::id()));
        std::fs::write(&path, "3,1,1,-;old line\n").unwrap();
        let mut src = Source::open_tail(&path).unwrap();
        assert!(
            src.drain().records.is_empty(),
            "lines before open are not read"
        );
        use std::io::Write;
        let mut w = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        w.write_all(b"4,2,2,-;first\n3,3,3,-;sec").unwrap();
        let d = src.drain();
        assert_eq!(d.records.len(), 1);
        assert_eq!(d.records[0].text, "first");
        w.write_all(b"ond\n").unwrap();
        let d = src.drain();
        assert_eq!(d.records[0].text, "second");
        assert_eq!(d.records[0].level, Some(3));
        let _ = std::fs::remove_file(path);
    }
}
