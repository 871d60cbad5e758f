//! Follows a growing JSON-lines file, yielding only complete lines.

use hil_proto::text::{human_bytes, MAX_STORED};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

pub struct Tail {
    path: PathBuf,
    offset: u64,
    partial: Vec<u8>,
    /// Bytes of an over-long line dropped so far (its newline has not come yet).
    dropped: u64,
}

/// The longest event line kept: far above what the suite writes (each text it sends is
/// capped), so only a broken or hostile board reaches it, and memory stays bounded.
const MAX_LINE: usize = 32 << 20;

/// At most this much is read per poll: a board that writes a gigabyte at once is read a
/// slice at a time, never into memory whole.
const MAX_READ: u64 = 8 << 20;

impl Tail {
    pub fn new(path: PathBuf) -> Tail {
        Tail {
            path,
            offset: 0,
            partial: Vec::new(),
            dropped: 0,
        }
    }

    /// Lines completed since the last call (a missing file reads as empty).
    pub fn poll(&mut self) -> std::io::Result<Vec<String>> {
        let mut f = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
            Err(e) => return Err(e),
        };
        f.seek(SeekFrom::Start(self.offset))?;
        let mut buf = Vec::new();
        f.take(MAX_READ).read_to_end(&mut buf)?;
        Ok(self.feed(&buf))
    }

    /// Bytes read from `offset()` onwards (from any source); returns completed lines.
    pub fn feed(&mut self, buf: &[u8]) -> Vec<String> {
        self.offset += buf.len() as u64;
        self.partial.extend_from_slice(buf);
        let mut lines = Vec::new();
        while let Some(i) = self.partial.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=i).collect();
            if self.dropped > 0 {
                // Unreadable by design: the session warns about it, bounded.
                lines.push(format!(
                    "[an event line of {} was too long to read]",
                    human_bytes(self.dropped + line.len() as u64)
                ));
                self.dropped = 0;
                continue;
            }
            let s = String::from_utf8_lossy(&line[..line.len() - 1])
                .trim()
                .to_string();
            if !s.is_empty() {
                lines.push(s);
            }
        }
        if self.partial.len() > MAX_LINE {
            self.dropped += self.partial.len() as u64;
            self.partial.clear();
        }
        lines
    }

    pub fn offset(&self) -> u64 {
        self.offset
    }
}

/// The last `lines` lines of the file at `path`, in at most `MAX_STORED` bytes: a suite
/// that printed 50 MB after a crash costs 64 KiB here, and a note says how much of those
/// lines was cut (`[… 49.9 MB cut …]`). Reads only the file's end.
pub fn file_tail(path: &Path, lines: usize) -> std::io::Result<String> {
    let mut f = File::open(path)?;
    let len = f.metadata()?.len();
    // Room for the note, so the whole stays within the cap.
    let window = (MAX_STORED - 64) as u64;
    let from = len.saturating_sub(window);
    f.seek(SeekFrom::Start(from))?;
    let mut buf = Vec::new();
    f.read_to_end(&mut buf)?;
    let body = buf.strip_suffix(b"\n").unwrap_or(&buf);
    let nl: Vec<usize> = body
        .iter()
        .enumerate()
        .filter(|(_, &b)| b == b'\n')
        .map(|(i, _)| i)
        .collect();
    if nl.len() >= lines {
        let start = if lines == 0 {
            body.len()
        } else {
            nl[nl.len() - lines] + 1
        };
        return Ok(String::from_utf8_lossy(&body[start..]).into_owned());
    }
    // The first line shown began before the window: how far before.
    let cut = from - line_start(&mut f, from)?;
    let text = String::from_utf8_lossy(body);
    Ok(if cut == 0 {
        text.into_owned()
    } else {
        format!("[… {} cut …]\n{text}", human_bytes(cut))
    })
}

/// Where the line holding byte `at` of `f` begins, read backwards a block at a time.
fn line_start(f: &mut File, at: u64) -> std::io::Result<u64> {
    const BLOCK: u64 = 64 * 1024;
    let mut end = at;
    let mut buf = vec![0u8; BLOCK as usize];
    while end > 0 {
        let start = end.saturating_sub(BLOCK);
        let n = (end - start) as usize;
        f.seek(SeekFrom::Start(start))?;
        f.read_exact(&mut buf[..n])?;
        if let Some(i) = buf[..n].iter().rposition(|&b| b == b'\n') {
            return Ok(start + i as u64 + 1);
        }
        end = start;
    }
    Ok(0)
}

/// A shell command printing the last `lines` lines of `file` (quoted already) as
/// `file_tail` does: their size on the first line, then at most `MAX_STORED` bytes of
/// them. `remote_tail` reads its output.
pub fn tail_command(file: &str, lines: usize) -> String {
    format!(
        "tail -n {lines} {file} | wc -c; tail -n {lines} {file} | tail -c {}",
        MAX_STORED - 64
    )
}

/// The output of `tail_command`, with the note `file_tail` writes when lines were cut.
pub fn remote_tail(out: &str) -> String {
    let (size, text) = out.split_once('\n').unwrap_or((out, ""));
    let text = text.strip_suffix('\n').unwrap_or(text);
    match size.trim().parse::<u64>() {
        Ok(n) if n > text.len() as u64 + 1 => {
            format!(
                "[… {} cut …]\n{text}",
                human_bytes(n - text.len() as u64 - 1)
            )
        }
        Ok(_) => text.to_string(),
        // Not the command's output (an old shell, an error): what there is, capped.
        Err(_) => hil_proto::text::cap_end(out, MAX_STORED).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn half_written_lines_wait_for_their_newline() {
        let dir = std::env::temp_dir().join(format!("hil-tail-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("ev.jsonl");
        let mut t = Tail::new(p.clone());
        assert!(t.poll().unwrap().is_empty());
        let mut f = std::fs::File::create(&p).unwrap();
        f.write_all(b"{\"a\":1}\n{\"b\":").unwrap();
        assert_eq!(t.poll().unwrap(), vec!["{\"a\":1}"]);
        f.write_all(b"2}\n").unwrap();
        assert_eq!(t.poll().unwrap(), vec!["{\"b\":2}"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_file_tail_is_bounded_and_says_what_it_cut() {
        let dir = std::env::temp_dir().join(format!("hil-tail-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("log");
        std::fs::write(&p, "a\nb\nc\n").unwrap();
        assert_eq!(file_tail(&p, 2).unwrap(), "b\nc");
        assert_eq!(file_tail(&p, 5).unwrap(), "a\nb\nc");
        // 5 MB on one line after a crash line: the end is kept, the cut said.
        let mut big = b"crash\n".to_vec();
        big.extend(std::iter::repeat_n(b'x', 5_000_000));
        big.extend(b"\nlast\n");
        std::fs::write(&p, &big).unwrap();
        let t = file_tail(&p, 3).unwrap();
        assert!(t.len() <= MAX_STORED, "{}", t.len());
        assert!(t.starts_with("[… 4.9 MB cut …]\nxxx"), "{}", &t[..40]);
        assert!(t.ends_with("x\nlast"));
        std::fs::remove_dir_all(&dir).unwrap();
        // The remote form reads the same.
        assert_eq!(remote_tail("4\nb\nc\n"), "b\nc");
        assert_eq!(remote_tail("5000000\nxyz\n"), "[… 5.0 MB cut …]\nxyz");
    }

    #[test]
    fn a_line_without_end_is_dropped_at_its_cap_and_said_once_it_ends() {
        let mut t = Tail::new(PathBuf::from("/nonexistent"));
        let chunk = vec![b'x'; 1 << 20];
        for _ in 0..40 {
            assert!(t.feed(&chunk).is_empty());
            assert!(t.partial.len() <= MAX_LINE + chunk.len());
        }
        let lines = t.feed(b"x\n{\"event\":\"start\",\"case\":\"t.a\"}\n");
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines[0].contains("too long to read"), "{}", lines[0]);
        assert_eq!(lines[1], "{\"event\":\"start\",\"case\":\"t.a\"}");
    }
}
