//! The JSON-lines event sink. Each line is written whole and flushed at once, so a
//! reader tailing the file never sees half an event even if the process dies next.

use hil_proto::Event;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::{Mutex, OnceLock};

static SINK: OnceLock<Mutex<File>> = OnceLock::new();

pub fn open(path: &Path) -> std::io::Result<()> {
    let f = OpenOptions::new().create(true).append(true).open(path)?;
    let _ = SINK.set(Mutex::new(f));
    Ok(())
}

pub fn emit(e: &Event) {
    if let Some(sink) = SINK.get() {
        let mut line = e.to_line();
        line.push('\n');
        let mut f = sink.lock().unwrap_or_else(|p| p.into_inner());
        // One write call per line keeps lines whole under O_APPEND.
        let _ = f.write_all(line.as_bytes());
        let _ = f.flush();
    }
}
