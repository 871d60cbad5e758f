//! The JSON-lines event sink. Each line is written whole and flushed at once, so a
//! reader tailing the file never sees half an event even if the process dies next.

use hil_proto::text::{cap_end, MAX_STORED};
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
        let mut line = bounded(e).to_line();
        line.push('\n');
        let mut f = sink.lock().unwrap_or_else(|p| p.into_inner());
        // One write call per line keeps lines whole under O_APPEND.
        let _ = f.write_all(line.as_bytes());
        let _ = f.flush();
    }
}

/// `e` with every text of a result within `MAX_STORED` bytes (the end kept, the cut said):
/// an event line stays small whatever a case or its child printed.
fn bounded(e: &Event) -> std::borrow::Cow<'_, Event> {
    let Event::Result {
        message,
        observations,
        ..
    } = e
    else {
        return std::borrow::Cow::Borrowed(e);
    };
    let long = |s: &String| s.len() > MAX_STORED;
    if !long(message) && !observations.iter().any(|o| long(&o.value)) {
        return std::borrow::Cow::Borrowed(e);
    }
    let mut e = e.clone();
    if let Event::Result {
        message,
        observations,
        ..
    } = &mut e
    {
        *message = cap_end(message, MAX_STORED).into_owned();
        for o in observations {
            o.value = cap_end(&o.value, MAX_STORED).into_owned();
        }
    }
    std::borrow::Cow::Owned(e)
}
