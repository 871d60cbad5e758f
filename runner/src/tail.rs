//! Follows a growing JSON-lines file, yielding only complete lines.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;

pub struct Tail {
    path: PathBuf,
    offset: u64,
    partial: Vec<u8>,
}

impl Tail {
    pub fn new(path: PathBuf) -> Tail {
        Tail {
            path,
            offset: 0,
            partial: Vec::new(),
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
        f.read_to_end(&mut buf)?;
        Ok(self.feed(&buf))
    }

    /// Bytes read from `offset()` onwards (from any source); returns completed lines.
    pub fn feed(&mut self, buf: &[u8]) -> Vec<String> {
        self.offset += buf.len() as u64;
        self.partial.extend_from_slice(buf);
        let mut lines = Vec::new();
        while let Some(i) = self.partial.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=i).collect();
            let s = String::from_utf8_lossy(&line[..line.len() - 1])
                .trim()
                .to_string();
            if !s.is_empty() {
                lines.push(s);
            }
        }
        lines
    }

    pub fn offset(&self) -> u64 {
        self.offset
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
}
