//! `hil-suite`'s own options, as the other binaries have them.

use std::process::Command;

#[test]
fn version_prints_the_suite_version_and_exits_0() {
    let out = Command::new(env!("CARGO_BIN_EXE_hil-suite"))
        .arg("--version")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("hil-suite {}", env!("CARGO_PKG_VERSION"))
    );
}

/// `hil-suite --facts` with `args` and `env`: (exit code, stdout, stderr).
fn facts(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hil-suite"));
    cmd.arg("--facts").args(args);
    for name in ["HIL_HEALTH_DEFER_S", "HIL_ISOLATE_WORKERS", "HIL_DEVICES"] {
        cmd.env_remove(name);
    }
    cmd.envs(env.iter().copied());
    let out = cmd.output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn settings_come_from_options_a_file_or_the_environment_and_reach_the_facts() {
    let dir = std::env::temp_dir().join(format!("hil-test-settings-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("settings.yaml");
    std::fs::write(&file, "health_defer_s: 4\nisolate_workers: false\n").unwrap();
    let file_arg = file.to_str().unwrap();
    // The option wins over the file, the file over the environment variable.
    let (code, out, err) = facts(
        &[
            "--settings",
            file_arg,
            "--health-defer-s",
            "2",
            "--devices",
            "3",
        ],
        &[("HIL_ISOLATE_WORKERS", "1")],
    );
    assert_eq!(code, Some(0), "{err}");
    let f: serde_json::Value = serde_json::from_str(&out).unwrap();
    let p = &f["properties"];
    assert_eq!(p["setting.HIL_HEALTH_DEFER_S"], "2", "{out}");
    assert_eq!(p["setting.HIL_ISOLATE_WORKERS"], "0", "{out}");
    assert_eq!(p["setting.HIL_DEVICES"], "3", "{out}");
    assert!(p["suite.test_threads"]
        .as_str()
        .is_some_and(|t| t.ends_with("(one per CPU)")));
    let (_, out, _) = facts(&["--test-threads", "3"], &[("HIL_HEALTH_DEFER_S", "5")]);
    let f: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(f["properties"]["suite.test_threads"], "3");
    assert_eq!(f["properties"]["setting.HIL_HEALTH_DEFER_S"], "5");
    // A bad value: exit 2, naming the setting as it was given and what it takes.
    let (code, _, err) = facts(&[], &[("HIL_HEALTH_DEFER_S", "soon")]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("HIL_HEALTH_DEFER_S=\"soon\": expected seconds from 0 (never wait) to 20"),
        "{err}"
    );
    let (code, _, err) = facts(&["--isolate-workers", "yes"], &[]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("--isolate-workers=\"yes\": expected 1"),
        "{err}"
    );
    std::fs::write(&file, "health_defer_s: 4\nworkers: 0\n").unwrap();
    let (code, _, err) = facts(&["--settings", file_arg], &[]);
    assert_eq!(code, Some(2));
    let want = format!(
        "{}:2:1: unknown setting `workers`; the settings are: tables",
        file.display()
    );
    assert!(err.contains(&want), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}
