//! A configuration error is exit 2 and never becomes a result, and no file of an earlier
//! run is touched before the new run's input is validated (issue 13, items 1 and 2).

mod common;

use common::{bin, hil_run_local, journal_outcomes, scratch, snapshot, write_table};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// `n` cases of `ms` each; `op` for the row `bad_row` (to mistype it).
fn table(n: usize, ms: u64, bad_row: Option<usize>) -> String {
    let mut y = String::from("name: r\nbackend: host\ndoc: d\nrows:\n");
    for i in 0..n {
        let op = if Some(i) == bad_row {
            "selftest_slep"
        } else {
            "selftest_sleep"
        };
        y.push_str(&format!(
            "  - id: c{i:02}\n    op: {op}\n    params: {{ms: {ms}}}\n"
        ));
    }
    y
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

#[test]
fn a_resume_with_a_bad_table_records_nothing_and_the_fixed_resume_finishes() {
    let dir = scratch("resume-bad-table");
    let good = write_table(&dir.join("good"), "r.yaml", &table(30, 150, None));
    let bad = write_table(&dir.join("bad"), "r.yaml", &table(30, 150, Some(29)));
    let res = dir.join("results");
    let journal = res.join("local/journal.jsonl");
    let mut child = Command::new(bin("hil-run"))
        .arg("--suite")
        .arg(bin("hil-suite"))
        .arg("--results")
        .arg(&res)
        // One at a time: the interrupt must come with cases still to run.
        .args([
            "--tables",
            good.to_str().unwrap(),
            "--test-threads",
            "1",
            "-q",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while journal_outcomes(&journal).len() < 10 {
        assert!(Instant::now() < deadline, "hil-run made no progress");
        std::thread::sleep(Duration::from_millis(20));
    }
    unsafe { libc_kill(child.id() as i32, 2) };
    assert_eq!(child.wait().unwrap().code(), Some(130));
    let reported = journal_outcomes(&journal).len();
    assert!((10..30).contains(&reported), "{reported}");
    let before = snapshot(&res);

    // The mistyped op: a configuration error, so exit 2 and not one byte changes.
    let out = hil_run_local(&res, &["--tables", bad.to_str().unwrap(), "--resume"]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert!(
        all.contains("r.yaml:") && all.contains("unknown op `selftest_slep`"),
        "{all}"
    );
    assert!(
        snapshot(&res) == before,
        "a rejected resume changed the results"
    );

    // Fixed: the resume runs exactly the cases that had no result.
    let out = hil_run_local(&res, &["--tables", good.to_str().unwrap(), "--resume"]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(
        all.contains(&format!("{reported} of 30 cases already reported")),
        "{all}"
    );
    let results = journal_outcomes(&journal);
    assert_eq!(results.len(), 30, "each case once: {results:?}");
    assert!(results.iter().all(|(_, o)| o == "pass"), "{results:?}");
    // The resume's suite logs are numbered after the first run's: none overwritten.
    assert!(
        before.contains_key(&res.join("local/suite-1.log"))
            && res.join("local/suite-2.log").is_file(),
        "{:?}",
        std::fs::read_dir(res.join("local"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect::<Vec<_>>()
    );
    assert_eq!(
        std::fs::read(res.join("local/suite-1.log")).unwrap(),
        before[&res.join("local/suite-1.log")]
    );
}

#[test]
fn a_fresh_run_with_bad_input_leaves_the_previous_run_untouched() {
    let dir = scratch("fresh-bad-input");
    let good = write_table(&dir.join("good"), "r.yaml", &table(3, 1, None));
    let bad = write_table(&dir.join("bad"), "r.yaml", &table(3, 1, Some(1)));
    let res = dir.join("results");
    let out = hil_run_local(&res, &["--tables", good.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let before = snapshot(&res);
    for name in [
        "journal.jsonl",
        "suite-1.log",
        "events-1.jsonl",
        "cases-1.txt",
    ] {
        assert!(before.contains_key(&res.join("local").join(name)), "{name}");
    }
    let attempts: [(&[&str], &str); 4] = [
        (&["--tables", bad.to_str().unwrap()], "unknown op"),
        (
            &["--tables", good.to_str().unwrap(), "--filter", "nothing"],
            "no case matches",
        ),
        (
            &["--tables", good.to_str().unwrap(), "--shard", "4/3"],
            "--shard",
        ),
        (
            &[
                "--tables",
                good.to_str().unwrap(),
                "--baseline",
                "missing.yaml",
            ],
            "missing.yaml",
        ),
    ];
    for (args, want) in attempts {
        let out = hil_run_local(&res, args);
        let all = text(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {all}");
        assert!(all.contains(want), "{args:?}: {all}");
        assert!(
            snapshot(&res) == before,
            "{args:?} touched the previous run's files"
        );
    }
    // So the previous run can still be resumed (here: nothing left to do).
    let out = hil_run_local(&res, &["--tables", good.to_str().unwrap(), "--resume"]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(all.contains("3 of 3 cases already reported"), "{all}");
}
