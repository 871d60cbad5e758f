//! hil-run's junit.xml as a real JUnit consumer reads it: junitparser (PyPI, pinned, in
//! target/junit-venv, installed by `scripts/test`), after xmllint checked it against
//! Jenkins' junit-10.xsd.

mod common;

use common::{hil_run_local, needs, scratch, write_table};
use std::path::PathBuf;
use std::process::Command;

const JUNITPARSER: &str = "5.0.3";

/// `harness = false` (libtest-mimic): every test is listed here; one whose need is
/// missing is listed ignored with the reason (report/testing/needs.rs has the rule).
fn main() {
    needs::main(vec![needs::needing(
        "junitparser_reads_every_outcome_with_its_type_details_and_board_facts",
        venv_missing(),
        junitparser_reads_every_outcome_with_its_type_details_and_board_facts,
    )]);
}

fn python() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/junit-venv/bin/python")
}

fn venv_missing() -> Option<String> {
    let ok = Command::new(python())
        .args([
            "-c",
            &format!(
                "import importlib.metadata as m; assert m.version('junitparser') == '{JUNITPARSER}'"
            ),
        ])
        .output()
        .is_ok_and(|o| o.status.success());
    (!ok).then(|| {
        format!(
            "junitparser {JUNITPARSER} in target/junit-venv: python3 -m venv target/junit-venv \
             && target/junit-venv/bin/pip install junitparser=={JUNITPARSER}"
        )
    })
}

/// What junitparser makes of a report: a line per suite and per case.
const READ: &str = r#"
import sys
from junitparser import JUnitXml
xml = JUnitXml.fromfile(sys.argv[1])
for suite in xml:
    props = {p.name: p.value for p in suite.properties()}
    print(f"suite {suite.name} tests={suite.tests} failures={suite.failures} "
          f"errors={suite.errors} skipped={suite.skipped} board={props.get('board')}")
    for case in suite:
        kinds = ",".join(f"{type(r).__name__}:{r.type}" for r in case.result) or "passed"
        first = (case.system_out or "").splitlines()[:1]
        print(f"case {case.name} {kinds} out={first[0] if first else ''}")
"#;

fn junitparser_reads_every_outcome_with_its_type_details_and_board_facts() {
    let dir = scratch("junit-consumer");
    let marker = dir.join("flaky.marker");
    let tables = write_table(
        &dir,
        "j.yaml",
        &format!("name: j\nbackend: host\ndoc: d\nrows:\n  - id: a_ok\n    op: selftest_ok\n  \
         - id: b_fails\n    op: selftest_check_fails\n  - id: c_ns\n    op: selftest_not_supported\n    \
         params: {{reason: 'no such thing'}}\n  - id: d_ub\n    op: selftest_ok\n    ub: 'self-test'\n  \
         - id: e_crash\n    op: selftest_abort\n    isolate: true\n  - id: f_flaky\n    op: selftest_flaky\n    \
         params: {{marker: '{}'}}\n",
            marker.display()
        ),
    );
    let res = dir.join("results");
    let out = hil_run_local(
        &res,
        &["--tables", tables.to_str().unwrap(), "--retry", "1", "-q"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", common::text(&out));
    let junit = res.join("local/junit.xml");
    common::xmllint(&junit);
    let read = Command::new(python())
        .arg("-c")
        .arg(READ)
        .arg(&junit)
        .output()
        .unwrap();
    let seen = common::text(&read);
    assert!(read.status.success(), "{seen}");
    for line in [
        "suite hil.local tests=6 failures=1 errors=1 skipped=2 board=local",
        "case j.a_ok passed out=outcome: pass",
        "case j.b_fails Failure:fail out=outcome: fail",
        "case j.c_ns Skipped:not-supported out=outcome: not-supported",
        "case j.d_ub Skipped:flagged out=outcome: flagged",
        "case j.e_crash Error:crash out=outcome: crash",
        "case j.f_flaky passed out=outcome: pass",
    ] {
        assert!(seen.lines().any(|l| l == line), "no `{line}` in:\n{seen}");
    }
}
