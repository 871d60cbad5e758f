//! The one rule for tests that need something a machine may lack (labgrid, qemu and the
//! aarch64 sysroot, a browser, root): such a test never reports "ok" without having run.
//! Included with `#[path]` by the runner's tests (`common::needs`) and the suite's.
//!
//! - In a test target with this harness (`harness = false`, `main` below), a test whose
//!   need is missing is listed **ignored** (cargo test: `ignored`, the reason printed
//!   before the results; cargo-nextest: SKIP), and fails with the reason if run anyway
//!   (`--ignored`, `--include-ignored`).
//! - Strict mode — `CI` set to anything but empty, `0` or `false`, as CI services do and
//!   `scripts/test` does — never ignores: the test fails with what to install.
//! - In a plain libtest target (no run-time ignore there), `require` fails the test with
//!   the reason, strict or not.
#![allow(dead_code)]

use libtest_mimic::{Arguments, Failed, Trial};

/// Strict mode: nothing may be ignored for a missing need.
pub fn strict() -> bool {
    std::env::var("CI").is_ok_and(|v| !matches!(v.trim(), "" | "0" | "false"))
}

/// A test and what it needs: `missing` is None when everything is there, else what is
/// missing and how to install it.
pub struct Needs {
    name: &'static str,
    missing: Option<String>,
    test: fn(),
}

/// A test that needs nothing optional.
pub fn test(name: &'static str, test: fn()) -> Needs {
    Needs {
        name,
        missing: None,
        test,
    }
}

/// A test that needs what `missing` probed (None: it is all there).
pub fn needing(name: &'static str, missing: Option<String>, test: fn()) -> Needs {
    Needs {
        name,
        missing,
        test,
    }
}

/// The harness `main` of a test target: libtest's options and output (libtest-mimic),
/// with each missing need handled by the rule above.
pub fn main(tests: Vec<Needs>) {
    let args = Arguments::from_args();
    let strict = strict();
    let mut notes: Vec<String> = Vec::new();
    let trials = tests
        .into_iter()
        .map(|t| match t.missing {
            None => Trial::test(t.name, move || {
                (t.test)();
                Ok(())
            }),
            Some(why) => {
                if !notes.contains(&why) {
                    notes.push(why.clone());
                }
                let msg = format!("missing: {why}");
                Trial::test(t.name, move || Err(Failed::from(msg))).with_ignored_flag(!strict)
            }
        })
        .collect();
    if !args.list && !strict {
        for why in &notes {
            eprintln!("note: tests needing this are ignored (CI=true fails them): {why}");
        }
    }
    libtest_mimic::run(&args, trials).exit();
}

/// For a plain libtest test: fails with the reason when something is missing.
pub fn require(missing: Option<String>) {
    if let Some(why) = missing {
        panic!("missing: {why}");
    }
}
