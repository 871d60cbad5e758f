//! Links from the report to the boards' files: relative, so results copied or unpacked
//! together keep working.

use std::fmt::Write as _;
use std::path::Path;

/// `dir` as a link from a page in `from`: relative (`orin01`, `../runs/orin01`), so the
/// report keeps working when the results are copied or unpacked from a bundle together.
pub(super) fn relative_link(from: &Path, dir: &Path) -> String {
    let abs = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
    let (from, dir) = (abs(from), abs(dir));
    let a: Vec<_> = from.components().collect();
    let b: Vec<_> = dir.components().collect();
    let common = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut parts: Vec<String> = vec!["..".into(); a.len() - common];
    parts.extend(
        b[common..]
            .iter()
            .map(|c| href_segment(&c.as_os_str().to_string_lossy())),
    );
    parts.join("/")
}

/// A path segment for an `href`: anything but unreserved characters percent-encoded.
pub(super) fn href_segment(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}
