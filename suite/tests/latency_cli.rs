//! `hil-latency` as a user meets it: help that teaches, usage errors that exit 2, and on a
//! machine without what it needs, the probed reason with exit 3 instead of a panic.

use std::process::{Command, Output};

fn latency(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hil-latency"))
        .args(args)
        .output()
        .expect("hil-latency runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn help_names_the_pair_options_and_exit_statuses() {
    let o = latency(&["--help"]);
    assert_eq!(o.status.code(), Some(0));
    let text = String::from_utf8_lossy(&o.stdout);
    for want in [
        "--signal",
        "--wait",
        "--all-pairs",
        "--json",
        "host relay",
        "Exit status",
    ] {
        assert!(text.contains(want), "--help lacks {want:?}:\n{text}");
    }
}

#[test]
fn bad_usage_exits_2_before_touching_the_gpu() {
    for args in [
        &["--rounds", "0"][..],
        &["--rounds", "many"],
        &["--all-pairs", "--signal", "1"],
    ] {
        let o = latency(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains("error:"), "{args:?}: {}", stderr(&o));
    }
}

#[test]
fn a_missing_driver_or_device_is_named_not_panicked() {
    match hil_suite::cuda::driver() {
        // The CI machine: no NVIDIA driver.
        Err(reason) => {
            let o = latency(&[]);
            assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
            assert!(
                stderr(&o).contains(&format!("not supported: {reason}")),
                "{}",
                stderr(&o)
            );
        }
        // A GPU machine: one past the last device is a usage error naming the count.
        Ok(drv) => {
            let n = drv.devices.len().to_string();
            let o = latency(&["--wait", &n]);
            assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
            assert!(
                stderr(&o).contains(&format!("this machine has {n}")),
                "{}",
                stderr(&o)
            );
        }
    }
}
