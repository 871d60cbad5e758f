//! What surrounds a verdict never vanishes: coverage judged against a baseline (YAML from
//! `baseline-from`, or deqp-runner's CSVs), one configuration per journal (`--resume`
//! refuses another and touches nothing), and a JUnit that says what did not run.

mod common;

use common::{bin, scratch, snapshot, text, xmllint};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// `hil-run --board model` into `results`, the model presenting NvSciSync `version`.
fn model_run(results: &Path, version: &str, args: &[&str]) -> Output {
    Command::new(bin("hil-run"))
        .arg("--suite")
        .arg(bin("hil-suite"))
        .arg("--results")
        .arg(results)
        .args(["--board", "model", "-q"])
        .args(args)
        .env("HIL_NVSCISYNC_MODEL", common::model_library())
        .env("HIL_NVSCISYNC_MODEL_VERSION", version)
        .env_remove("HIL_NVSCISYNC_LIB")
        .env_remove("LD_LIBRARY_PATH")
        .output()
        .expect("hil-run starts")
}

fn baseline_from(journal: &Path, out: &Path) {
    let o = Command::new(bin("hil-run"))
        .arg("baseline-from")
        .arg(journal)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    std::fs::write(out, &o.stdout).unwrap();
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The NvSciSync rows the model gates on a version after 2.0 (keys and entry points declared
/// from the 2.3, 2.5 and 2.8 headers): they run at 2.8 and are not-supported at 2.0.
const GATED_AFTER_2_0: [&str; 20] = [
    "nvscisync.api.fence.deterministic_cpu_signaler",
    "nvscisync.api.fence.extract_cleared",
    "nvscisync.api.fence.update.bad_id",
    "nvscisync.api.fence.update.keeps_obj",
    "nvscisync.api.fence.update.next_point",
    "nvscisync.api.fence.update.null_fence",
    "nvscisync.api.fence.update.replace",
    "nvscisync.api.fence.update.value_over_32bit",
    "nvscisync.ipc.roundtrip_importer_signals.cpu_cpu",
    "nvscisync.keys.gpu_id",
    "nvscisync.keys.max_primitive_value",
    "nvscisync.keys.num_task_status_slots",
    "nvscisync.keys.num_timestamp_slots",
    "nvscisync.keys.peer_hw_engine_array",
    "nvscisync.keys.peer_location_info",
    "nvscisync.keys.primitive_info",
    "nvscisync.keys.reconciled.max_primitive_value",
    "nvscisync.keys.reconciled.num_task_status_slots",
    "nvscisync.keys.reconciled.primitive_info",
    "nvscisync.keys.require_deterministic_fences",
];

#[test]
fn coverage_lost_against_a_baseline_is_a_regression_and_a_baseline_round_trips_to_green() {
    let dir = scratch("coverage");
    let first = model_run(&dir.join("a"), "2.8", &[]);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first));
    let base = dir.join("model-2.8.yaml");
    baseline_from(&dir.join("a/model/journal.jsonl"), &base);
    let yaml = read(&base);
    assert!(yaml.contains("  nvscisync.version: \"2.8\"\n"), "{yaml}");
    assert!(yaml.contains("\nran:\n"), "{yaml}");
    assert!(yaml.contains("\nnot-supported:\n"), "{yaml}");

    // The same board again: green against its own baseline.
    let again = model_run(
        &dir.join("b"),
        "2.8",
        &["--baseline", base.to_str().unwrap()],
    );
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    let summary = read(&dir.join("b/model/summary.txt"));
    assert!(
        summary.contains("0 regression(s) (0 failing, 0 coverage lost"),
        "{summary}"
    );
    assert!(!summary.contains("differs from"), "{summary}");

    // The library now presents 2.0: twenty rows stop running. That is a regression.
    let older = model_run(
        &dir.join("c"),
        "2.0",
        &["--baseline", base.to_str().unwrap()],
    );
    assert_eq!(older.status.code(), Some(1), "{}", text(&older));
    let res = dir.join("c/model");
    let summary = read(&res.join("summary.txt"));
    let lost_at = summary.find("COVERAGE LOST (20)").expect(&summary);
    // Said before the implementations, the reasons and the lists.
    assert!(lost_at < summary.find("nvscisync ").unwrap(), "{summary}");
    assert!(
        summary.contains("    nvscisync.version: 2.8 → 2.0\n"),
        "{summary}"
    );
    // The summary lists the first twelve (by name) and points at the files for the rest.
    for case in GATED_AFTER_2_0.iter().take(12) {
        assert!(
            summary.contains(&format!(
                "  {case}  was pass, now not-supported: needs NvSciSync"
            )),
            "{case} missing from\n{summary}"
        );
    }
    assert!(
        summary.contains("  … 8 more in junit.xml and failures.csv\n"),
        "{summary}"
    );
    assert!(
        summary.contains("20 regression(s) (0 failing, 20 coverage lost"),
        "{summary}"
    );
    // JUnit: twenty failures of type coverage-lost, first in the suite; valid XML.
    let junit = res.join("junit.xml");
    xmllint(&junit);
    let xml = read(&junit);
    assert_eq!(xml.matches("type=\"coverage-lost\"").count(), 20, "{xml}");
    let first_case = xml.find("<testcase").unwrap();
    assert!(
        xml[first_case..].find("coverage-lost").unwrap()
            < xml[first_case..].find("</testcase>").unwrap(),
        "the first test case is a coverage loss"
    );
    assert!(
        xml.contains("name=\"baseline.differs.nvscisync.version\" value=\"2.8 -&gt; 2.0\""),
        "{xml}"
    );
    // deqp-runner's CSVs: Missing, as deqp-runner says of a case without its run.
    let failures = read(&res.join("failures.csv"));
    for case in GATED_AFTER_2_0 {
        assert!(
            failures.contains(&format!("{case},Missing\n")),
            "{failures}"
        );
    }
    let report = read(&dir.join("c/report.html"));
    assert!(report.contains("coverage lost: was pass, now not-supported"));

    // A case removed from the tables is coverage lost too ("missing"): simulate a
    // baseline that knows one more case than the suite lists.
    let extra = dir.join("extra.yaml");
    std::fs::write(
        &extra,
        yaml.replace("\nran:\n", "\nran:\n  nvscisync.api.gone_row: pass\n"),
    )
    .unwrap();
    let gone = model_run(
        &dir.join("d"),
        "2.8",
        &["--baseline", extra.to_str().unwrap()],
    );
    assert_eq!(gone.status.code(), Some(1), "{}", text(&gone));
    let summary = read(&dir.join("d/model/summary.txt"));
    assert!(
        summary.contains("nvscisync.api.gone_row  was pass, now missing: the suite does not list"),
        "{summary}"
    );
    // …unless the run picked a part of the tables on purpose.
    let part = model_run(
        &dir.join("e"),
        "2.8",
        &[
            "--baseline",
            extra.to_str().unwrap(),
            "--filter",
            "nvscisync.api.",
        ],
    );
    assert_eq!(part.status.code(), Some(0), "{}", text(&part));
}

#[test]
fn a_deqp_runner_csv_is_a_baseline_and_a_bad_one_is_refused_naming_its_line() {
    let dir = scratch("deqp-baseline");
    let first = model_run(&dir.join("a"), "2.8", &[]);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first));
    let results_csv = dir.join("a/model/results.csv");
    let failures_csv = dir.join("a/model/failures.csv");
    for csv in [&results_csv, &failures_csv] {
        let o = model_run(
            &dir.join("b"),
            "2.8",
            &["--baseline", csv.to_str().unwrap()],
        );
        assert_eq!(o.status.code(), Some(0), "{}: {}", csv.display(), text(&o));
    }
    // results.csv knows what ran: coverage is judged from it as well.
    let o = model_run(
        &dir.join("c"),
        "2.0",
        &["--baseline", results_csv.to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(read(&dir.join("c/model/summary.txt")).contains("COVERAGE LOST (20)"));

    let bad = dir.join("bad.csv");
    std::fs::write(
        &bad,
        "nvscisync.keys.gpu_id,Fail\nnvscisync.keys.x,Broken\n",
    )
    .unwrap();
    let before = std::fs::read(dir.join("b/model/journal.jsonl")).unwrap();
    let o = model_run(
        &dir.join("b"),
        "2.8",
        &["--baseline", bad.to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!(
            "{}:2: unknown deqp-runner status `Broken`",
            bad.display()
        )),
        "{err}"
    );
    assert_eq!(
        std::fs::read(dir.join("b/model/journal.jsonl")).unwrap(),
        before,
        "a refused baseline touches no earlier result"
    );
}

fn selftest_copy(dir: &Path) -> PathBuf {
    let tables = dir.join("tables");
    std::fs::create_dir_all(&tables).unwrap();
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../suite/tests/tables/selftest.yaml"),
        tables.join("selftest.yaml"),
    )
    .unwrap();
    tables
}

fn local(results: &Path, tables: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(bin("hil-run"));
    c.arg("--suite")
        .arg(bin("hil-suite"))
        .arg("--results")
        .arg(results)
        .arg("--tables")
        .arg(tables)
        .arg("-q")
        .args(args)
        .env_remove("HIL_HEALTH_DEFER_S");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

#[test]
fn resume_refuses_another_configuration_naming_it_and_touches_nothing() {
    let dir = scratch("resume-config");
    let tables = selftest_copy(&dir);
    let results = dir.join("results");
    let bundle = dir.join("run.tar");
    let first = local(
        &results,
        &tables,
        &["--test-threads", "2", "--bundle", bundle.to_str().unwrap()],
        &[],
    );
    assert_eq!(first.status.code(), Some(1), "{}", text(&first));
    // The bundle vouches for the settings too.
    let verified = Command::new(bin("hil-run"))
        .arg("verify-bundle")
        .arg(&bundle)
        .output()
        .unwrap();
    assert!(verified.status.success(), "{}", text(&verified));
    assert!(
        String::from_utf8_lossy(&verified.stdout).contains("settings: tables="),
        "{}",
        text(&verified)
    );
    let journal = read(&results.join("local/journal.jsonl"));
    let config = journal
        .lines()
        .find(|l| l.starts_with("{\"record\":\"config\""))
        .expect("the journal records the run's configuration");
    for key in [
        "\"setting.test_threads\":\"2\"",
        "\"setting.HIL_HEALTH_DEFER_S\":\"unset\"",
        "\"tables.sha256\":",
        "\"suite.sha256\":",
    ] {
        assert!(config.contains(key), "{key} not in {config}");
    }
    let junit = read(&results.join("local/junit.xml"));
    assert!(
        junit.contains("<property name=\"setting.test_threads\" value=\"2\"/>"),
        "the JUnit shows the settings"
    );
    let summary = read(&results.join("local/summary.txt"));
    assert!(summary.contains("  settings: tables="), "{summary}");
    assert!(summary.contains("test_threads=2"), "{summary}");
    assert!(read(&results.join("report.html")).contains("test_threads=2"));
    let before = snapshot(&results);
    let refused = |args: &[&str], env: &[(&str, &str)], tables: &Path, says: &str| {
        let o = local(&results, tables, args, env);
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("cannot resume"), "{err}");
        assert!(err.contains(says), "`{says}` not in {err}");
        assert!(
            err.contains("without --resume"),
            "says how to start afresh: {err}"
        );
        assert!(
            snapshot(&results) == before,
            "a refused resume changed the results"
        );
    };
    refused(
        &["--resume", "--test-threads", "1"],
        &[],
        &tables,
        "setting.test_threads: 2 → 1",
    );
    refused(
        &["--resume"],
        &[("HIL_HEALTH_DEFER_S", "3")],
        &tables,
        "setting.HIL_HEALTH_DEFER_S: unset → 3",
    );
    let yaml = read(&tables.join("selftest.yaml"));
    std::fs::write(tables.join("selftest.yaml"), format!("{yaml}\n# edited\n")).unwrap();
    refused(&["--resume"], &[], &tables, "table.selftest.yaml.sha256: ");
    std::fs::write(tables.join("selftest.yaml"), &yaml).unwrap();

    // The same configuration resumes; settings not given again are the run's own.
    let o = local(&results, &tables, &["--resume"], &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("resuming local"));
}
