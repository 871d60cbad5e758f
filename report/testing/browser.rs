//! A real headless browser for the reports' tests (included with `#[path]` by the runner's
//! and the suite's tests): Debian's `chromium`, run as root in a container, with a profile
//! of its own. Console messages go to stderr (`--enable-logging=stderr`), script errors
//! also into the page (`#js-errors`, see hil_report::html).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const NAMES: [&str; 3] = ["chromium", "chromium-browser", "google-chrome"];
const LIMIT: Duration = Duration::from_secs(60);

/// The browser, or what to install (see `needs.rs` for what a test does without it).
pub fn find() -> Result<PathBuf, String> {
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .flat_map(|d| NAMES.iter().map(move |n| d.join(n)))
                .find(|p| p.is_file())
        })
        .ok_or_else(|| {
            "a headless browser for the report tests: apt-get install -y chromium".to_string()
        })
}

/// What is missing for a browser test, if anything.
pub fn missing() -> Option<String> {
    find().err()
}

/// The browser; a test that calls it was listed as needing it (`missing`).
pub fn chromium() -> PathBuf {
    find().unwrap_or_else(|why| panic!("missing: {why}"))
}

/// What the browser did with one page.
pub struct Loaded {
    /// The DOM after the page's scripts ran (`--dump-dom`).
    pub dom: String,
    /// Console messages the page logged (errors included), one per line.
    pub console: Vec<String>,
}

fn run(exe: &Path, profile: &Path, args: &[String]) -> (String, String) {
    std::fs::create_dir_all(profile).unwrap();
    let mut child = Command::new(exe)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--hide-scrollbars",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{} does not start: {e}", exe.display()));
    // Read both pipes on threads: a full pipe must not stall the browser.
    let mut so = child.stdout.take().unwrap();
    let mut se = child.stderr.take().unwrap();
    let t1 = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut so, &mut s).ok();
        s
    });
    let t2 = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut se, &mut s).ok();
        s
    });
    let deadline = Instant::now() + LIMIT;
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{} did not finish within {LIMIT:?}", exe.display());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    (t1.join().unwrap(), t2.join().unwrap())
}

/// Loads `page` (plus `fragment`, e.g. `#case=x`) and returns its DOM and console.
pub fn load(exe: &Path, page: &Path, fragment: &str, profile: &Path) -> Loaded {
    let url = format!(
        "file://{}{fragment}",
        page.canonicalize().unwrap().display()
    );
    let (dom, err) = run(exe, profile, &["--dump-dom".into(), url]);
    let console = err
        .lines()
        .filter(|l| l.contains(":CONSOLE"))
        .map(String::from)
        .collect();
    Loaded { dom, console }
}

/// A screenshot of `page` into `png` (`width` × `height` CSS pixels).
pub fn screenshot(exe: &Path, page: &Path, png: &Path, size: (u32, u32), profile: &Path) {
    let url = format!("file://{}", page.canonicalize().unwrap().display());
    let (_, err) = run(
        exe,
        profile,
        &[
            format!("--screenshot={}", png.display()),
            format!("--window-size={},{}", size.0, size.1),
            url,
        ],
    );
    let bytes = std::fs::read(png).unwrap_or_else(|e| panic!("no screenshot ({e}): {err}"));
    assert!(
        bytes.len() > 1000 && bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
        "{} is not a PNG of a page ({} bytes)",
        png.display(),
        bytes.len()
    );
}

/// Checks what every report page must do in a browser: its script ran to the end, no
/// script error, nothing on the console.
pub fn assert_clean(l: &Loaded) {
    assert!(
        l.dom.contains("data-ready=\"1\""),
        "the page's script did not finish:\n{}",
        &l.dom[..l.dom.len().min(3000)]
    );
    assert!(
        l.dom
            .contains("<pre id=\"js-errors\" class=\"js-errors\" hidden=\"\"></pre>"),
        "script errors on the page: {}",
        l.dom
            .split("id=\"js-errors\"")
            .nth(1)
            .map(|s| &s[..s.len().min(500)])
            .unwrap_or("")
    );
    assert!(l.console.is_empty(), "console messages: {:#?}", l.console);
}
