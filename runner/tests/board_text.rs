//! What a board sends is data: fake suites (shell scripts standing in for hil-suite) list
//! cases and write crafted event lines; hil-run never panics on them, shows none of their
//! control characters raw, keeps every stored text within its cap, refuses listings it
//! cannot take, and verify-bundle refuses a manifest its journals contradict.

mod common;

use common::{bin, scratch, xmllint};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A fake hil-suite in `dir`: `--list-json` prints `listing` (JSON lines); a run sets
/// `$EV` (the event file) and `$CASES` (the case list) and runs the shell `body`, where
/// `ev 'JSON'` appends an event line.
fn fake_suite(dir: &Path, listing: &str, body: &str) -> PathBuf {
    let p = dir.join("fake-suite");
    let script = format!(
        "#!/bin/sh\n\
         if [ \"$1\" = --list-json ]; then cat <<'LISTING'\n{listing}\nLISTING\nexit 0; fi\n\
         while [ $# -gt 0 ]; do case \"$1\" in --events) EV=\"$2\"; shift;; \
         --cases-from) CASES=\"$2\"; shift;; esac; shift; done\n\
         ev() {{ printf '%s\\n' \"$1\" >> \"$EV\"; }}\n\
         {body}\n"
    );
    std::fs::write(&p, script).unwrap();
    let mut perm = std::fs::metadata(&p).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o755);
    std::fs::set_permissions(&p, perm).unwrap();
    p
}

/// A listing line for case `name` with `timeout_s`.
fn case(name: &str, timeout_s: &str) -> String {
    format!(r#"{{"name":"{name}","table":"t","backend":"host","timeout_s":{timeout_s}}}"#)
}

fn run(suite: &Path, results: &Path, args: &[&str]) -> Output {
    Command::new(bin("hil-run"))
        .arg("--suite")
        .arg(suite)
        .arg("--results")
        .arg(results)
        .args(args)
        .output()
        .expect("hil-run starts")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Exit 0, 1 or 2: anything else (101 is a panic) is the runner failing.
fn no_panic(o: &Output) {
    assert!(
        matches!(o.status.code(), Some(0..=2)),
        "{:?}: {}",
        o.status,
        text(o)
    );
    assert!(!text(o).contains("panicked"), "{}", text(o));
}

fn size(p: &Path) -> u64 {
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .len()
}

#[test]
fn numbers_out_of_range_are_warned_about_never_a_panic_and_old_journals_resume() {
    let dir = scratch("board-numbers");
    let listing = [case("t.a", "5"), case("t.b", "5"), case("t.c", "5")].join("\n");
    let suite = fake_suite(
        &dir,
        &listing,
        r#"ev '{"event":"start","case":"t.a"}'
ev '{"event":"result","case":"t.a","outcome":"pass","duration_s":1e300}'
ev '{"event":"result","case":"t.b","outcome":"fail","duration_s":-5,"message":"m"}'
ev '{"event":"result","case":"t.c","outcome":"pass","duration_s":1e999}'
ev '{"event":"result","case":"t.c","outcome":"pass","duration_s":0.5}'"#,
    );
    let results = dir.join("results");
    let out = run(&suite, &results, &[]);
    no_panic(&out);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("t.a: the suite sent duration_s 1e300"),
        "{err}"
    );
    assert!(err.contains("unreadable event line"), "{err}");
    let b = results.join("local");
    xmllint(&b.join("junit.xml"));
    let journal = std::fs::read_to_string(b.join("journal.jsonl")).unwrap();
    assert!(
        journal.contains(r#""key":"duration_sent","value":"1e300""#),
        "{journal}"
    );
    assert!(
        journal.contains(r#""key":"duration_sent","value":"-5""#),
        "{journal}"
    );

    // A journal written before durations and limits were checked: a plan limit of -1 and
    // NaN-free but absurd numbers. It resumes, runs what is missing and reports.
    let old = dir.join("old");
    std::fs::create_dir_all(old.join("local")).unwrap();
    let plan = format!(
        r#"{{"record":"plan","board":"local","started_unix":1,"cases":[{},{},{}]}}"#,
        case("t.a", "-1"),
        case("t.b", "1e300"),
        case("t.c", "5")
    );
    let results_old = [
        r#"{"record":"result","case":"t.a","outcome":"pass","duration_s":1e300}"#,
        r#"{"record":"result","case":"t.b","outcome":"pass","duration_s":-3,"earlier":[{"outcome":"fail","duration_s":1e300}]}"#,
    ];
    std::fs::write(
        old.join("local/journal.jsonl"),
        format!("{plan}\n{}\n", results_old.join("\n")),
    )
    .unwrap();
    let out = run(&suite, &old, &["--resume"]);
    no_panic(&out);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    xmllint(&old.join("local/junit.xml"));
    let report = Command::new(bin("hil-run"))
        .arg("report")
        .arg(old.join("local/journal.jsonl"))
        .arg("--out")
        .arg(dir.join("old.html"))
        .output()
        .unwrap();
    no_panic(&report);
}

#[test]
fn listings_with_a_bad_limit_or_name_are_refused_naming_board_and_case() {
    let dir = scratch("board-listing");
    for (listing, says) in [
        (case("t.a", "-1"), "case `t.a` with timeout_s -1"),
        (case("t.a", "1e300"), "with timeout_s 1e300"),
        (case("t.a", "0"), "with timeout_s 0"),
        (case("t,a", "5"), "a case named `t,a`"),
        (case("t a", "5"), "a case named `t a`"),
        (case("t\\na", "5"), "a case named `t\\u{a}a`"),
        (case("t\\u001b[2Ja", "5"), "a case named `t\\u{1b}[2Ja`"),
        (case(".", "5"), "a case named `.`"),
        (case("..", "5"), "a case named `..`"),
        (case("-rf", "5"), "a case named `-rf`"),
        (case("t..a", "5"), "a case named `t..a`"),
        (
            [case("t.a", "5"), case("t.b", "5"), case("t.a", "5")].join("\n"),
            "case `t.a` twice",
        ),
        // Lines that are not cases at all: a number JSON cannot hold, a string.
        (
            case("t.a", "1e999"),
            "a line that is not a case (number out of range",
        ),
        (
            case("t.a", "\"5\""),
            "a line that is not a case (invalid type: string",
        ),
    ] {
        let suite = fake_suite(&dir, &listing, "exit 0");
        let results = dir.join("results");
        let out = run(&suite, &results, &[]);
        no_panic(&out);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{listing}: {err}");
        assert!(err.contains("board local: the suite listed"), "{err}");
        assert!(err.contains(says), "{says}: {err}");
        assert!(!err.contains('\u{1b}'), "{err}");
        assert!(!results.join("local/journal.jsonl").exists());
    }
}

/// Every output of the run, with its name.
fn outputs(b: &Path, run: &Output) -> Vec<(String, String)> {
    let mut all = vec![
        (
            "stdout".to_string(),
            String::from_utf8_lossy(&run.stdout).into_owned(),
        ),
        (
            "stderr".to_string(),
            String::from_utf8_lossy(&run.stderr).into_owned(),
        ),
    ];
    for f in [
        "summary.txt",
        "flagged.md",
        "junit.xml",
        "results.csv",
        "failures.csv",
    ] {
        all.push((f.into(), std::fs::read_to_string(b.join(f)).unwrap()));
    }
    let report = b.parent().unwrap().join("report.html");
    all.push((
        "report.html".into(),
        std::fs::read_to_string(report).unwrap(),
    ));
    all
}

#[test]
fn control_characters_from_the_board_reach_no_output_raw_and_junit_stays_valid() {
    let dir = scratch("board-escapes");
    let listing = [case("t.fail", "5"), case("t.flag", "5"), case("t.ns", "5")].join("\n");
    let nasty = r"\u001b]0;title\u0007\u001b[2J\u001b[?1049h\ufffe\uffff\u009b1m";
    let body = format!(
        r#"ev '{{"event":"facts","suite_version":"0.1\u001b[2J","properties":{{"arch":"x\u0007"}},"implementations":{{"cuda":"lib{nasty}"}}}}'
ev '{{"event":"start","case":"t.fail"}}'
ev '{{"event":"result","case":"t.fail","outcome":"fail","duration_s":0.1,"message":"bad {nasty}\nline two {nasty}","implementation":"i{nasty}","observations":[{{"key":"k{nasty}","value":"v{nasty}"}},{{"key":"output_tail","value":"o{nasty}"}}]}}'
ev '{{"event":"result","case":"t.flag","outcome":"flagged","duration_s":0.1,"message":"f {nasty}","observations":[{{"key":"observed","value":"sig {nasty}"}},{{"key":"detail","value":"d {nasty}"}}]}}'
ev '{{"event":"result","case":"t.ns","outcome":"not-supported","duration_s":0.1,"message":"ns {nasty}"}}'
ev '{{"event":"start","case":"t.{nasty}"}}'
ev 'unreadable {nasty}'"#
    );
    let suite = fake_suite(&dir, &listing, &body);
    let results = dir.join("results");
    let out = run(&suite, &results, &[]);
    no_panic(&out);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let b = results.join("local");
    xmllint(&b.join("junit.xml"));
    for (name, t) in outputs(&b, &out) {
        for c in ['\u{1b}', '\u{7}', '\u{fffe}', '\u{ffff}', '\u{9b}'] {
            assert!(!t.contains(c), "{name} holds {c:?} raw:\n{t}");
        }
        // JSON in the report carries the escaped text, not the character (stderr quotes
        // the unreadable line as sent, JSON escapes and all).
        assert!(name == "stderr" || !t.contains("\\u001b"), "{name}:\n{t}");
    }
    let summary = std::fs::read_to_string(b.join("summary.txt")).unwrap();
    // A start for a case not listed is a warning, never a result.
    assert!(summary.starts_with("board local: 3 cases"), "{summary}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("which is not a case of this run"),
        "{}",
        text(&out)
    );
    assert!(
        summary.contains("t.fail  bad \\u{1b}]0;title\\u{7}\\u{1b}[2J"),
        "{summary}"
    );
    let flagged = std::fs::read_to_string(b.join("flagged.md")).unwrap();
    assert!(flagged.contains("sig \\u{1b}]0;title"), "{flagged}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("bad \\u{1b}]0;title"), "{stdout}");
}

#[test]
fn a_driver_line_from_the_board_reaches_no_output_raw_and_still_fails_the_run() {
    let dir = scratch("board-driver-line");
    let body = r#"ev '{"event":"driver-log","line":"[err] NVRM: Xid \u001b]0;PWN\u0007\u001b[2J\u009b1m\ufffe\u202e\r\u0000X","seen_unix":1}'
ev '{"event":"start","case":"t.a"}'
ev '{"event":"result","case":"t.a","outcome":"pass","duration_s":0.1}'"#;
    let suite = fake_suite(&dir, &case("t.a", "5"), body);
    let results = dir.join("results");
    let out = run(&suite, &results, &[]);
    no_panic(&out);
    // A driver line outside any case fails the run unless a baseline expects it.
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let b = results.join("local");
    xmllint(&b.join("junit.xml"));
    for (name, t) in outputs(&b, &out) {
        for c in [
            '\u{1b}', '\u{7}', '\u{9b}', '\u{fffe}', '\u{202e}', '\r', '\0',
        ] {
            assert!(!t.contains(c), "{name} holds {c:?} raw:\n{t}");
        }
    }
    let summary = std::fs::read_to_string(b.join("summary.txt")).unwrap();
    assert!(
        summary.contains("1 not expected")
            && summary.contains(
                "  [err] NVRM: Xid \\u{1b}]0;PWN\\u{7}\\u{1b}[2J\\u{9b}1m\\u{fffe}\\u{202e}\\u{d}\\u{0}X\n"
            ),
        "{summary}"
    );
    let report = std::fs::read_to_string(results.join("report.html")).unwrap();
    assert!(
        report.contains("\\u{1b}]0;PWN")
            && report.contains("</code></td><td>logged while no case it could belong to ran (none open, or none on its GPU or process)</td><td>no</td>"),
        "{report}"
    );
}

#[test]
fn huge_facts_are_capped_and_huge_listing_fields_refused() {
    let dir = scratch("board-huge-facts");
    let big = "z".repeat(3_000_000);
    // Facts with 3 MB values at listing time, and 1 MB values and 100 000 facts from the
    // run.
    let facts = format!(
        r#"{{"event":"facts","suite_version":"{big}","properties":{{"arch":"{big}","cuda.version":"13.0\n{big}"}},"implementations":{{"cuda":"{big}"}}}}"#
    );
    // The run's facts event stays under 8 MB: the runner reads that much per poll, and
    // (an issue of its own) reads once after the suite's exit.
    let body = r#"big=$(head -c 1000000 /dev/zero | tr '\0' z)
many=$(seq 1 100000 | sed 's/.*/"fact&":"value&"/' | paste -sd, -)
ev "{\"event\":\"facts\",\"suite_version\":\"$big\",\"properties\":{\"arch\":\"$big\",\"cuda.version\":\"13.0\\n$big\",$many},\"implementations\":{\"cuda\":\"$big\"}}"
ev '{"event":"start","case":"t.a"}'
ev '{"event":"result","case":"t.a","outcome":"pass","duration_s":0.1}'"#;
    let suite = fake_suite(&dir, &format!("{facts}\n{}", case("t.a", "5")), body);
    let results = dir.join("results");
    let out = run(&suite, &results, &[]);
    no_panic(&out);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let b = results.join("local");
    let journal = std::fs::read_to_string(b.join("journal.jsonl")).unwrap();
    for l in journal.lines() {
        assert!(l.len() < 600_000, "a journal record of {} bytes", l.len());
    }
    assert!(journal.contains("more]"), "a cut value says so");
    assert!(
        journal.contains(r#""hil-run.facts_cut":""#),
        "the facts left out are counted"
    );
    assert!(size(&results.join("report.html")) < 2_000_000);
    assert!(size(&b.join("junit.xml")) < 2_000_000);
    xmllint(&b.join("junit.xml"));
    let summary = std::fs::read_to_string(b.join("summary.txt")).unwrap();
    let header = summary.lines().next().unwrap();
    assert!(header.len() < 200, "{header}");
    assert!(
        header.contains("(arch zzzz") && header.contains("CUDA 13.0…)"),
        "{header}"
    );

    // Listing fields no suite writes: refused before anything is journaled.
    for (field, line) in [
        (
            "table",
            format!(r#"{{"name":"t.a","table":"{big}","backend":"host","timeout_s":5}}"#),
        ),
        (
            "backend",
            format!(r#"{{"name":"t.a","table":"t","backend":"{big}","timeout_s":5}}"#),
        ),
        (
            "cuda_api",
            format!(
                r#"{{"name":"t.a","table":"t","backend":"host","timeout_s":5,"cuda_api":"{big}"}}"#
            ),
        ),
        (
            "ub",
            format!(r#"{{"name":"t.a","table":"t","backend":"host","timeout_s":5,"ub":"{big}"}}"#),
        ),
    ] {
        let suite = fake_suite(&dir, &line, "exit 0");
        let results = dir.join(format!("r-{field}"));
        let out = run(&suite, &results, &[]);
        no_panic(&out);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{field}: {err:.2000}");
        assert!(
            err.contains(&format!(
                "board local: the suite listed case `t.a` with a {field} of 3.0 MB"
            )),
            "{err:.2000}"
        );
        assert!(err.len() < 4096, "{field}: {} bytes of stderr", err.len());
        assert!(!results.join("local/journal.jsonl").exists());
    }
}

/// The largest resident set of any child this process has waited for, in KiB.
fn children_max_rss_kib() -> i64 {
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage fills the struct it is given.
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru) };
    ru.ru_maxrss
}

#[test]
fn huge_output_and_huge_lines_stay_within_their_caps() {
    let dir = scratch("board-huge");
    let listing = [case("t.a", "60"), case("t.b", "60"), case("t.c", "60")].join("\n");
    // First start: t.a crashes after 50 MB of output. Second: two 3 MB unreadable event
    // lines, a 3 MB message and a 3 MB observation, then results.
    let suite = fake_suite(
        &dir,
        &listing,
        r#"if grep -qx t.a "$CASES"; then
  ev '{"event":"start","case":"t.a"}'
  echo "the crash says this first"
  head -c 50000000 /dev/zero | tr '\0' y
  echo
  echo "and this last"
  kill -SEGV $$
fi
big=$(head -c 3000000 /dev/zero | tr '\0' z)
ev "{\"event\":\"result\",\"case\":\"t.x\",$big"
ev "{\"event\":\"bogus\",\"x\":\"$big\"}"
ev "{\"event\":\"result\",\"case\":\"t.b\",\"outcome\":\"fail\",\"duration_s\":0.1,\"message\":\"$big\",\"observations\":[{\"key\":\"o\",\"value\":\"$big\"}]}"
ev '{"event":"result","case":"t.c","outcome":"pass","duration_s":0.1}'"#,
    );
    let results = dir.join("results");
    let out = run(&suite, &results, &[]);
    no_panic(&out);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let b = results.join("local");
    const MB: u64 = 1_000_000;
    for f in [
        "journal.jsonl",
        "junit.xml",
        "summary.txt",
        "flagged.md",
        "results.csv",
    ] {
        assert!(size(&b.join(f)) < MB, "{f}: {} bytes", size(&b.join(f)));
    }
    assert!(size(&results.join("report.html")) < MB);
    assert!(size(&b.join("summary.txt")) < 64 * 1024);
    assert!(
        out.stderr.len() < 64 * 1024,
        "stderr: {} bytes",
        out.stderr.len()
    );
    assert!(
        out.stdout.len() < 64 * 1024,
        "stdout: {} bytes",
        out.stdout.len()
    );
    xmllint(&b.join("junit.xml"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("skipping an unreadable event line"), "{err}");
    assert!(
        err.contains("3.0 MB"),
        "the size of what was skipped: {err}"
    );
    // The crash keeps the end of its output and says how much went before it.
    let journal = std::fs::read_to_string(b.join("journal.jsonl")).unwrap();
    let crash: serde_json::Value = journal
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["case"] == "t.a" && v["record"] == "result")
        .expect("t.a recorded");
    assert_eq!(crash["outcome"], "crash");
    let tail = crash["observations"][0]["value"].as_str().unwrap();
    assert!(
        tail.starts_with("[… 49.9 MB cut …]\nyyy"),
        "{}",
        &tail[..60]
    );
    assert!(tail.ends_with("and this last"), "{tail:.60}");
    let rss = children_max_rss_kib();
    assert!(rss < 100 * 1024, "a child of this test reached {rss} KiB");
}

#[test]
fn an_unknown_outcome_is_a_crash_that_says_what_the_board_sent() {
    let dir = scratch("board-outcome");
    let suite = fake_suite(
        &dir,
        &case("t.a", "5"),
        r#"ev '{"event":"start","case":"t.a"}'
ev '{"event":"result","case":"t.a","outcome":"xyz","duration_s":0.2,"message":"hello"}'"#,
    );
    let results = dir.join("results");
    let out = run(&suite, &results, &[]);
    no_panic(&out);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let junit = common::junit(&results.join("local/junit.xml"));
    assert!(
        junit.contains("the suite sent an unknown outcome `xyz`; its message: hello"),
        "{junit}"
    );
    assert!(!junit.contains("hil-suite died"), "{junit}");
}

/// `tar` with `manifest.json` replaced by `edit` applied to it.
fn with_manifest(tar: &Path, out: &Path, edit: impl Fn(&mut serde_json::Value)) {
    let mut a = tar::Archive::new(std::fs::File::open(tar).unwrap());
    let mut b = tar::Builder::new(std::fs::File::create(out).unwrap());
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let path = e.path().unwrap().to_string_lossy().into_owned();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut data).unwrap();
        if path == "manifest.json" {
            let mut v: serde_json::Value = serde_json::from_slice(&data).unwrap();
            edit(&mut v);
            data = serde_json::to_vec_pretty(&v).unwrap();
        }
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, &path, data.as_slice()).unwrap();
    }
    b.into_inner().unwrap();
}

fn verify(tar: &Path) -> Output {
    Command::new(bin("hil-run"))
        .arg("verify-bundle")
        .arg(tar)
        .output()
        .unwrap()
}

/// A change to a manifest.
type Edit = dyn Fn(&mut serde_json::Value);

#[test]
fn verify_bundle_refuses_a_manifest_its_journals_contradict() {
    let dir = scratch("board-bundle");
    let listing = [case("t.a", "5"), case("t.b", "5")].join("\n");
    let suite = fake_suite(
        &dir,
        &listing,
        r#"ev '{"event":"result","case":"t.a","outcome":"pass","duration_s":0.1}'
ev '{"event":"result","case":"t.b","outcome":"fail","duration_s":0.1,"message":"no"}'"#,
    );
    let tar = dir.join("b.tar");
    let out = run(
        &suite,
        &dir.join("results"),
        &["--bundle", tar.to_str().unwrap(), "-q"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let ok = verify(&tar);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok));
    // Rewritten through the same tar writer, unchanged: still verifies.
    let same = dir.join("same.tar");
    with_manifest(&tar, &same, |_| {});
    assert_eq!(
        verify(&same).status.code(),
        Some(0),
        "{}",
        text(&verify(&same))
    );

    let cases: [(&str, &Edit); 5] = [
        (
            "board local: counts.fail says 0, the bundled journal results/local/journal.jsonl gives 1",
            &|m| {
                m["boards"][0]["counts"]["fail"] = 0.into();
                m["boards"][0]["counts"]["pass"] = 2.into();
            },
        ),
        ("board local: cases says 3", &|m| {
            m["boards"][0]["cases"] = 3.into()
        }),
        (
            "boards: results/local/journal.jsonl is in the bundle, but the manifest lists no board `local`",
            &|m| m["boards"][0]["name"] = "other".into(),
        ),
        ("board local: properties.arch says `arm`", &|m| {
            m["boards"][0]["properties"]["arch"] = "arm".into()
        }),
        // The same board twice: the journal would vouch for two entries.
        ("boards: board `local` is listed 2 times", &|m| {
            let b = m["boards"][0].clone();
            m["boards"].as_array_mut().unwrap().push(b);
        }),
    ];
    for (i, (says, edit)) in cases.into_iter().enumerate() {
        let bad = dir.join(format!("bad{i}.tar"));
        with_manifest(&tar, &bad, edit);
        let out = verify(&bad);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{says}: {err}");
        assert!(err.contains(says), "{says}: {err}");
    }
    // What no journal records passes, and verify-bundle says it is the manifest's word.
    let host = dir.join("host.tar");
    with_manifest(&tar, &host, |m| {
        m["runner_host"] = "trusted-lab\u{1b}]0;x\u{7}".into();
        m["hil_run_version"] = "9.9.9".into();
    });
    let out = verify(&host);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(
        all.contains(
            "not in any journal, the manifest's word only: hil-run 9.9.9, runner host \
             trusted-lab\\u{1b}]0;x\\u{7}, created"
        ),
        "{all}"
    );
    assert!(!all.contains('\u{1b}'), "{all}");
    // A file twice in the archive: whichever copy a reader takes, neither is vouched for.
    let twice = dir.join("twice.tar");
    {
        let mut a = tar::Archive::new(std::fs::File::open(&same).unwrap());
        let mut b = tar::Builder::new(std::fs::File::create(&twice).unwrap());
        for e in a.entries().unwrap() {
            let mut e = e.unwrap();
            let path = e.path().unwrap().to_string_lossy().into_owned();
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut e, &mut data).unwrap();
            let copies = if path.ends_with("summary.txt") { 2 } else { 1 };
            for _ in 0..copies {
                let mut h = tar::Header::new_gnu();
                h.set_size(data.len() as u64);
                h.set_mode(0o644);
                h.set_cksum();
                b.append_data(&mut h, &path, data.as_slice()).unwrap();
            }
        }
        b.into_inner().unwrap();
    }
    let out = verify(&twice);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("results/local/summary.txt: in the archive more than once"),
        "{err}"
    );
}
