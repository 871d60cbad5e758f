//! Text a board sent is data: made harmless before it is shown, and bounded before it is
//! kept. Both sides use these (the suite caps its children's output, the runner what it
//! stores and shows), so there is one rule for each.

use std::borrow::Cow;

/// The most bytes of one stored text (a message, an observation, an output tail): the end
/// is kept, since that is where a crash's output says what happened.
pub const MAX_STORED: usize = 64 * 1024;

/// Whether `c` could act on a terminal, break a format (XML 1.0 has no U+FFFE, U+FFFF nor
/// most C0 controls; YAML and JSON readers take U+2028/U+2029 as line breaks) or reorder
/// what is read (bidirectional overrides), rather than show.
fn acts(c: char) -> bool {
    matches!(c,
        '\0'..='\x08' | '\x0b'..='\x1f' | '\x7f'..='\u{9f}'
        | '\u{fffe}' | '\u{ffff}' | '\u{2028}' | '\u{2029}'
        | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `s` with every control character written out (`ESC` as `\u{1b}`), so a board's text
/// never moves the cursor, sets a title, clears the screen or makes XML invalid. Newline
/// and tab stay; `\r\n` reads as `\n`. The one escaping for every place board text is
/// shown: terminal, summary, flagged.md, report, CSV and JUnit. Escaping twice changes
/// nothing more.
pub fn escape_controls(s: &str) -> Cow<'_, str> {
    escape(s, acts)
}

/// `escape_controls` for text that must stay on one line (a name in a message): newline
/// and tab are written out too.
pub fn escape_line(s: &str) -> Cow<'_, str> {
    escape(s, |c| acts(c) || c == '\n' || c == '\t')
}

fn escape(s: &str, acts: impl Fn(char) -> bool) -> Cow<'_, str> {
    if !s.chars().any(&acts) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\r' && chars.peek() == Some(&'\n') && !acts('\n') {
            continue;
        }
        if acts(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// `n` bytes as a person reads them: `812 bytes`, `64.0 KB`, `49.9 MB`.
pub fn human_bytes(n: u64) -> String {
    match n {
        0..=999 => format!("{n} bytes"),
        1_000..=999_999 => format!("{:.1} KB", n as f64 / 1e3),
        1_000_000..=999_999_999 => format!("{:.1} MB", n as f64 / 1e6),
        _ => format!("{:.1} GB", n as f64 / 1e9),
    }
}

/// Room the note about a cut takes, so the result stays within its cap.
const NOTE_ROOM: usize = 48;

/// `s` cut to at most `max` bytes by dropping its beginning, which a note replaces:
/// `[… 49.9 MB cut …]`.
pub fn cap_end(s: &str, max: usize) -> Cow<'_, str> {
    if s.len() <= max {
        return Cow::Borrowed(s);
    }
    let mut start = s.len() - max.saturating_sub(NOTE_ROOM);
    while !s.is_char_boundary(start) {
        start += 1;
    }
    Cow::Owned(format!(
        "[… {} cut …]\n{}",
        human_bytes(start as u64),
        &s[start..]
    ))
}

/// `s` cut to at most `max` bytes by dropping its end: `… [49.9 MB more]`. For warnings
/// that quote what a board sent.
pub fn cap_start(s: &str, max: usize) -> Cow<'_, str> {
    if s.len() <= max {
        return Cow::Borrowed(s);
    }
    let mut end = max.saturating_sub(NOTE_ROOM);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!(
        "{} … [{} more]",
        &s[..end],
        human_bytes((s.len() - end) as u64)
    ))
}

/// The first line of `s`, escaped, in at most `max_chars` characters (`…` says more
/// followed): what a one-line listing shows of a message.
pub fn first_line(s: &str, max_chars: usize) -> String {
    let line = s.lines().next().unwrap_or("");
    let shown = escape_controls(line);
    let mut out: String = shown.chars().take(max_chars).collect();
    if out.len() < shown.len() || line.len() < s.trim_end().len() {
        out.push('…');
    }
    out
}

/// The last bytes a process wrote, kept as it runs: never more than about twice `max`
/// in memory, however much it writes.
#[derive(Debug, Default, Clone)]
pub struct TailBuffer {
    bytes: Vec<u8>,
    cut: u64,
    max: usize,
}

impl TailBuffer {
    pub fn new(max: usize) -> TailBuffer {
        TailBuffer {
            bytes: Vec::new(),
            cut: 0,
            max,
        }
    }

    pub fn push(&mut self, b: &[u8]) {
        self.bytes.extend_from_slice(b);
        if self.bytes.len() > 2 * self.max {
            let drop = self.bytes.len() - self.max;
            self.bytes.drain(..drop);
            self.cut += drop as u64;
        }
    }

    /// The text kept, at most `max` bytes, with a note saying how much was cut before it.
    pub fn text(&self) -> String {
        let drop = self.bytes.len().saturating_sub(self.max);
        let kept = String::from_utf8_lossy(&self.bytes[drop..]);
        let cut = self.cut + drop as u64;
        let kept = cap_end(&kept, self.max).into_owned();
        if cut == 0 {
            kept
        } else {
            format!("[… {} cut …]\n{kept}", human_bytes(cut))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_are_written_out_and_text_stays() {
        let s =
            "a\u{1b}]0;title\u{7}\u{1b}[2J\u{1b}[?1049h\u{fffe}\u{ffff}\u{202e}\tb\r\nc\rd\u{9b}é";
        let e = escape_controls(s);
        assert_eq!(
            e,
            "a\\u{1b}]0;title\\u{7}\\u{1b}[2J\\u{1b}[?1049h\\u{fffe}\\u{ffff}\\u{202e}\tb\nc\\u{d}d\\u{9b}é"
        );
        assert_eq!(escape_controls(&e), e, "escaping twice changes nothing");
        assert!(matches!(escape_controls("plain\ttext\n"), Cow::Borrowed(_)));
        assert_eq!(escape_line("a,b\r\nc\td"), "a,b\\u{d}\\u{a}c\\u{9}d");
    }

    #[test]
    fn a_long_text_keeps_its_end_within_the_cap_and_says_how_much_went() {
        let s = format!("{}THE END", "x".repeat(50_000_000));
        let c = cap_end(&s, MAX_STORED);
        assert!(c.len() <= MAX_STORED, "{}", c.len());
        assert!(c.starts_with("[… 49.9 MB cut …]\n"), "{}", &c[..40]);
        assert!(c.ends_with("THE END"));
        // Never cut inside a character.
        let multi = "é".repeat(100);
        assert!(cap_end(&multi, 61).len() <= 61);
        assert!(cap_start(&multi, 61).len() <= 61 + 3);
        let head = cap_start(&s, 200);
        assert!(head.ends_with(" … [50.0 MB more]"), "{head}");
        assert!(head.len() <= 200);
    }

    #[test]
    fn first_line_is_short_escaped_and_says_when_more_followed() {
        assert_eq!(first_line("one\ntwo", 80), "one…");
        assert_eq!(first_line("\u{1b}[2Jabc", 80), "\\u{1b}[2Jabc");
        assert_eq!(first_line(&"y".repeat(3_000_000), 10), "yyyyyyyyyy…");
        assert_eq!(first_line("whole\n", 80), "whole");
    }

    #[test]
    fn a_tail_buffer_holds_the_end_of_any_amount_of_output() {
        let mut t = TailBuffer::new(1000);
        for i in 0..100_000 {
            t.push(format!("line {i}\n").as_bytes());
        }
        assert!(t.bytes.len() <= 2000);
        let text = t.text();
        assert!(text.len() <= 1000 + 40, "{}", text.len());
        assert!(text.starts_with("[… "), "{}", &text[..30]);
        assert!(text.ends_with("line 99999\n"));
        let mut small = TailBuffer::new(1000);
        small.push(b"short");
        assert_eq!(small.text(), "short");
    }
}
