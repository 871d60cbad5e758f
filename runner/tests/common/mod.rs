//! A real OpenSSH daemon on 127.0.0.1 with its own host key, client key and
//! authorized_keys, for tests and benchmarks (no mocked transport).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// The OpenSSH daemon: `HIL_SSHD` (an absolute path: sshd re-executes itself) or the
/// distribution's. The env lets a machine without openssh-server run the benchmark from
/// an unpacked .deb (scripts/bench16-remote).
fn sshd_path() -> PathBuf {
    std::env::var_os("HIL_SSHD").map_or_else(|| PathBuf::from("/usr/sbin/sshd"), PathBuf::from)
}

/// `HIL_SSH_KEYGEN` or `ssh-keygen` from PATH.
fn ssh_keygen() -> PathBuf {
    std::env::var_os("HIL_SSH_KEYGEN").map_or_else(|| PathBuf::from("ssh-keygen"), PathBuf::from)
}

/// A binary built next to hil-run (hil-suite, the model library, …), or in `HIL_BIN_DIR`
/// when set (the benchmark binary copied to another machine with the release binaries).
pub fn bin(name: &str) -> PathBuf {
    let dir = std::env::var_os("HIL_BIN_DIR").map_or_else(
        || {
            PathBuf::from(env!("CARGO_BIN_EXE_hil-run"))
                .parent()
                .unwrap()
                .to_path_buf()
        },
        PathBuf::from,
    );
    let p = dir.join(name);
    assert!(
        p.is_file(),
        "{} missing: run `cargo test --workspace` (or set HIL_BIN_DIR to the folder holding it)",
        p.display()
    );
    p
}

pub fn require_openssh() {
    let (sshd, keygen) = (sshd_path(), ssh_keygen());
    let ok =
        sshd.is_absolute() && sshd.is_file() && Command::new(&keygen).arg("-?").output().is_ok();
    assert!(
        ok,
        "SSH tests need OpenSSH's sshd at {} (HIL_SSHD, an absolute path) and ssh-keygen at {} \
         (HIL_SSH_KEYGEN): apt-get install -y openssh-server",
        sshd.display(),
        keygen.display()
    );
}

pub fn keygen(path: &Path) {
    let st = Command::new(ssh_keygen())
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(path)
        .status()
        .unwrap();
    assert!(st.success());
}

pub fn user() -> String {
    let out = Command::new("id").arg("-un").output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

pub struct Sshd {
    pub dir: PathBuf,
    pub port: u16,
    child: Option<Child>,
}

impl Sshd {
    pub fn start(dir: &Path) -> Sshd {
        require_openssh();
        std::fs::create_dir_all("/run/sshd").ok(); // privilege separation directory
        std::fs::create_dir_all(dir).unwrap();
        keygen(&dir.join("host_key"));
        keygen(&dir.join("client_key"));
        std::fs::copy(dir.join("client_key.pub"), dir.join("authorized_keys")).unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let d = dir.display();
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\nPidFile {d}/sshd.pid\n\
             AuthorizedKeysFile {d}/authorized_keys\nStrictModes no\nUsePAM no\nPasswordAuthentication no\n\
             KbdInteractiveAuthentication no\nPubkeyAuthentication yes\nPermitRootLogin prohibit-password\n\
             Subsystem sftp internal-sftp\nMaxStartups 100\nLogLevel ERROR\n"
        );
        // Sessions get a HOME of their own, empty: the login shell runs every remote command
        // and sources ~/.bashrc there, and the host user's rc is not the board's. On the
        // project's own machine root's .bashrc runs `pyenv init`: ~175 processes and a
        // machine-wide lock (`pyenv rehash`) per command, which serialized the loopback
        // "boards" of the 16-board benchmark (8 boards: 2.2x with it, 1.1x with this HOME;
        // docs/benchmarks.md).
        // HIL_SSHD_USER_HOME=1 keeps the user's HOME (to measure what it costs).
        let home = dir.join("home");
        std::fs::create_dir_all(&home).unwrap();
        let home = match std::env::var_os("HIL_SSHD_USER_HOME") {
            Some(_) => String::new(),
            None => format!("HOME=\"{}\"", home.display()),
        };
        // HIL_SSHD_SETENV="NAME=value …": also set in every session (e.g. hide a GPU from
        // "boards"), on the same SetEnv line.
        let extra = std::env::var("HIL_SSHD_SETENV").unwrap_or_default();
        let config = match format!("{home} {extra}").trim() {
            "" => config,
            env => format!("{config}SetEnv {env}\n"),
        };
        std::fs::write(dir.join("sshd_config"), config).unwrap();
        let host_pub = std::fs::read_to_string(dir.join("host_key.pub")).unwrap();
        let key: Vec<&str> = host_pub.split_whitespace().take(2).collect();
        std::fs::write(
            dir.join("known_hosts"),
            format!("[127.0.0.1]:{port} {}\n", key.join(" ")),
        )
        .unwrap();
        let mut s = Sshd {
            dir: dir.to_path_buf(),
            port,
            child: None,
        };
        s.restart();
        s
    }

    pub fn restart(&mut self) {
        let log = std::fs::File::create(self.dir.join("sshd.log")).unwrap();
        let child = Command::new(sshd_path())
            .args(["-D", "-e", "-f"])
            .arg(self.dir.join("sshd_config"))
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "sshd did not start: {}",
                std::fs::read_to_string(self.dir.join("sshd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the daemon and every session it started (as a crashed board would). The
    /// suite itself was detached with setsid and re-parented, so it runs on, as on a board.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            for pid in descendants(c.id()) {
                unsafe { kill(pid as i32, 9) };
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Every process below `root`, from /proc (children first).
fn descendants(root: u32) -> Vec<u32> {
    let mut parent = BTreeMap::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        // "pid (comm) state ppid ...": comm may hold spaces, so split after ')'.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<u32>().ok());
        if let Some(pp) = ppid {
            parent.insert(pid, pp);
        }
    }
    let mut out = Vec::new();
    let mut frontier = vec![root];
    while let Some(p) = frontier.pop() {
        for (c, pp) in &parent {
            if *pp == p {
                out.push(*c);
                frontier.push(*c);
            }
        }
    }
    out.reverse();
    out
}

extern "C" {
    fn kill(pid: i32, sig: i32) -> i32;
}

impl Drop for Sshd {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A fresh scratch directory for one test.
pub fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("hil-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The rule for tests whose tools are missing (libtest-mimic harness, `CI` strictness).
#[path = "../../../report/testing/needs.rs"]
pub mod needs;

#[path = "../../../nvsci-model/testing/model_library.rs"]
mod model_build;
#[allow(unused_imports)] // not every test binary that includes `common` builds the model
pub use model_build::model_library;

/// (case, outcome) of every result record in a journal, in order (repeats kept).
pub fn journal_outcomes(path: &Path) -> Vec<(String, String)> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["record"] == "result")
        .map(|v| {
            (
                v["case"].as_str().unwrap_or_default().to_string(),
                v["outcome"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// hil-run on the built-in board with the hil-suite built beside it.
pub fn hil_run_local(results: &Path, args: &[&str]) -> std::process::Output {
    Command::new(bin("hil-run"))
        .arg("--suite")
        .arg(bin("hil-suite"))
        .arg("--results")
        .arg(results)
        .args(args)
        .output()
        .expect("hil-run starts")
}

/// `dir/tables/<file>` holding `yaml`; returns the tables directory.
pub fn write_table(dir: &Path, file: &str, yaml: &str) -> PathBuf {
    let tables = dir.join("tables");
    std::fs::create_dir_all(&tables).unwrap();
    std::fs::write(tables.join(file), yaml).unwrap();
    tables
}

/// hil-run with an inventory, its output captured, not waited for.
pub fn spawn_hil_run(results: &Path, inv: &Path, args: &[&str]) -> Child {
    Command::new(bin("hil-run"))
        .arg("--results")
        .arg(results)
        .arg("--inventory")
        .arg(inv)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// A process's stdout then stderr.
pub fn text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Jenkins' junit-10.xsd (tests/fixtures/README.md says where it comes from).
pub fn junit_schema() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/junit-10.xsd")
}

/// `xmllint --noout` accepts the file, and a JUnit report (root `<testsuites>`) is valid
/// against junit-10.xsd (xmllint must be installed: it is no optional tool).
pub fn xmllint(path: &Path) {
    let head = std::fs::read(path).unwrap_or_default();
    let head = String::from_utf8_lossy(&head[..head.len().min(512)]).into_owned();
    let mut cmd = Command::new("xmllint");
    cmd.arg("--noout");
    if head.contains("<testsuites") {
        cmd.arg("--schema").arg(junit_schema());
    }
    let out = cmd.arg(path).output().unwrap_or_else(|e| {
        panic!("xmllint not runnable ({e}): install it with `apt-get install -y libxml2-utils`")
    });
    assert!(
        out.status.success(),
        "xmllint rejects {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A junit.xml the run wrote, checked by `xmllint` (junit-10.xsd) before a test reads it.
pub fn junit(path: &Path) -> String {
    xmllint(path);
    std::fs::read_to_string(path).unwrap()
}

/// Every file of a directory tree with its bytes: "touched" means this changes.
pub fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else {
                out.insert(p.clone(), std::fs::read(&p).unwrap());
            }
        }
    }
    out
}
