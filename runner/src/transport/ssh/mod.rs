//! Boards reached over SSH (ssh2): strict host keys, key or agent auth, deploy of the
//! suite by content hash (atomic upload), and a remote suite that keeps running when the
//! connection drops, so the runner can reconnect and carry on. This file is the
//! `Transport`; its parts: `connection` (sessions, reconnect), `lock` (the board lock),
//! `deploy` (suite upload by hash), `remote_shell` (remote process control as generated
//! shell), `run` (the detached remote run), `error`.

mod connection;
mod deploy;
mod error;
mod lock;
mod remote_shell;
mod run;

pub use connection::{connect, exec, Conn};
pub use deploy::file_hash;
pub use error::SshError;
pub use lock::{BoardLocked, LockPolicy};
pub use remote_shell::quote;

use super::{Running, Transport};
use crate::inventory::BoardSpec;
use anyhow::Context as _;
use connection::Shared;
use deploy::upload;
use remote_shell::start_command;
use run::SshRun;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// A board reached over SSH: its shared connection, its lock, the suite deployed for this
/// run and the run's directory on the board.
pub struct SshBoard {
    pub spec: BoardSpec,
    pub accept_new: bool,
    pub lock: LockPolicy,
    locked: bool,
    /// `locked` by the on-board lock directory (removed again on drop).
    dir_lock: bool,
    /// What this run wrote into the lock: only a lock with this owner is removed.
    lock_owner: String,
    conn: Shared,
    /// Local tables to upload (`--tables`).
    tables: Option<PathBuf>,
    remote_suite: String,
    run_dir: String,
    /// A suite was started in `run_dir` (its logs are worth keeping until they are home).
    started: bool,
    /// `collect_logs` copied `run_dir`'s logs into the results.
    logs_home: bool,
    /// This run's hold on the board: revoked when its lock is taken, or by whoever else
    /// watches the board for it (a labgrid reservation's keep-alive).
    pub tenure: super::Tenure,
}

impl SshBoard {
    pub fn new(spec: BoardSpec, accept_new: bool, tables: Option<PathBuf>) -> SshBoard {
        let conn = Shared(std::sync::Arc::new(std::sync::Mutex::new(Conn::new(
            spec.clone(),
            accept_new,
        ))));
        SshBoard {
            spec,
            accept_new,
            lock: LockPolicy::default(),
            locked: false,
            dir_lock: false,
            lock_owner: String::new(),
            conn,
            tables,
            remote_suite: String::new(),
            run_dir: String::new(),
            started: false,
            logs_home: false,
            tenure: super::Tenure::default(),
        }
    }

    fn suite_cmd(&self) -> String {
        let mut cmd = String::from("env");
        for (k, v) in &self.spec.env {
            cmd.push_str(&format!(" {k}={}", quote(v)));
        }
        cmd.push(' ');
        cmd.push_str(&quote(&self.remote_suite));
        if self.tables.is_some() {
            cmd.push_str(" --tables tables");
        }
        for arg in self.spec.suite_settings.args() {
            cmd.push(' ');
            cmd.push_str(&quote(&arg));
        }
        cmd
    }
}

impl Transport for SshBoard {
    fn prepare(&mut self) -> anyhow::Result<Option<String>> {
        self.acquire()?;
        // The board's CPU picks its suite and refuses one built for another, before upload.
        super::arch::settle(&mut self.spec, &self.conn.lock().exec_ok("uname -m")?)?;
        self.deploy().map(Some)
    }

    fn collect_logs(&mut self, dir: &Path) -> anyhow::Result<usize> {
        if self.run_dir.is_empty() {
            return Ok(0);
        }
        let run_dir = self.run_dir.clone();
        // The run is over: a board that is gone gets a few seconds, not another full wait.
        self.conn.lock().spec.reconnect_timeout_s = self.spec.reconnect_timeout_s.min(5);
        let files = self.conn.lock().with_sftp(|sftp| {
            let mut out = Vec::new();
            let listed = match sftp.readdir(Path::new(&run_dir)) {
                Err(e) if matches!(e.code(), ssh2::ErrorCode::SFTP(2)) => {
                    return Err(SshError::RunDirGone {
                        path: run_dir.clone(),
                    })
                }
                r => r?,
            };
            for (path, _) in listed {
                let name = path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or_default()
                    .to_string();
                let wanted = (name.starts_with("suite-") && name.ends_with(".log"))
                    || (name.starts_with("events-") && name.ends_with(".jsonl"));
                if wanted {
                    let mut data = Vec::new();
                    sftp.open(&path)?.read_to_end(&mut data)?;
                    out.push((name, data));
                }
            }
            Ok(out)
        });
        let files = match files {
            Err(e @ SshError::RunDirGone { .. }) => return Err(e.into()),
            r => r.with_context(|| format!("reading {run_dir} on the board"))?,
        };
        for (name, data) in &files {
            std::fs::write(dir.join(name), data)?;
        }
        self.logs_home = true;
        Ok(files.len())
    }

    fn clean_up(&mut self) -> anyhow::Result<Option<String>> {
        // Only under our own lock: another run's files are never ours to remove (nor once
        // the board was taken from this run).
        if !self.locked || self.run_dir.is_empty() || self.tenure.revoked().is_some() {
            return Ok(None);
        }
        let workdir = self.spec.workdir.clone();
        let runs_dir = format!("{workdir}/runs");
        let listed = self.conn.lock().with_sftp(|sftp| {
            let names = |dir: &str| -> Result<Vec<(String, u64)>, SshError> {
                let listed = match sftp.readdir(Path::new(dir)) {
                    // Wiped (a reboot): nothing of the board's to clean up there.
                    Err(e) if matches!(e.code(), ssh2::ErrorCode::SFTP(2)) => vec![],
                    r => r?,
                };
                Ok(listed
                    .into_iter()
                    .filter(|(_, st)| st.is_dir())
                    .filter_map(|(p, st)| {
                        let n = p.file_name()?.to_str()?.to_string();
                        Some((n, st.mtime.unwrap_or(0)))
                    })
                    .collect())
            };
            Ok((names(&runs_dir)?, names(&workdir)?))
        });
        let (runs, suites) =
            listed.with_context(|| format!("listing {runs_dir} and {workdir} on the board"))?;
        let current = self.run_dir.rsplit('/').next().unwrap_or_default();
        let needed = (self.started && !self.logs_home).then_some(current);
        // A run that never started the suite (bad tables, interrupted) left nothing to keep.
        let run_names: Vec<String> = runs
            .into_iter()
            .map(|(n, _)| n)
            .filter(|n| self.started || n != current)
            .collect();
        let mut old_runs =
            super::keep::stale_runs(&run_names, &self.spec.name, self.spec.keep_runs, needed);
        let own = !self.started && !current.is_empty();
        let older = old_runs.len();
        if own {
            old_runs.push(current.to_string());
        }
        let suite_dir = Path::new(&self.remote_suite)
            .parent()
            .and_then(|d| d.file_name())
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        let old_suites = super::keep::stale_suites(&suites, &suite_dir);
        if old_runs.is_empty() && old_suites.is_empty() {
            return Ok(None);
        }
        let paths: Vec<String> = old_runs
            .iter()
            .map(|n| quote(&format!("{runs_dir}/{n}")))
            .chain(old_suites.iter().map(|n| quote(&format!("{workdir}/{n}"))))
            .collect();
        self.conn
            .lock()
            .exec_ok(&format!("rm -rf {}", paths.join(" ")))?;
        Ok(Some(format!(
            "removed {}{older} old run director{} and {} old suite(s) from the board (keep_runs: {})",
            if own {
                "this run's directory (its suite never started), "
            } else {
                ""
            },
            if older == 1 { "y" } else { "ies" },
            old_suites.len(),
            self.spec.keep_runs
        )))
    }

    fn list_cases(&mut self) -> anyhow::Result<super::Listing> {
        let cmd = format!(
            "cd {} && {} {}",
            quote(&self.run_dir),
            self.suite_cmd(),
            super::LIST_ARGS.join(" ")
        );
        let (code, out, err) = self.conn.lock().with(|s| exec(s, &cmd))?;
        let (suite, arch) = (&self.spec.suite, self.spec.arch.as_deref());
        if let Some(why) = super::arch::not_runnable(suite, &self.spec.name, arch, code, &err) {
            return Err(super::arch::WrongArch(why).into());
        }
        if code == 2 {
            let mut why = err
                .trim()
                .trim_start_matches("hil-suite: error: ")
                .to_string();
            // The suite names its uploaded copy (`tables/x.yaml:5:9`): name the user's file.
            if let (Some(local), Some(rest)) = (&self.tables, why.strip_prefix("tables/")) {
                why = format!("{}/{rest}", local.display());
            }
            return Err(super::SuiteRejected(why).into());
        }
        if code == 126 || code == 127 {
            // The shell could not run it: a build for another arch, or a missing library.
            return Err(super::SuiteRejected(format!(
                "{} cannot run on board `{}` (status {code}: {}); check `suite` and `arch` in the \
                 inventory, and `env` for library paths",
                self.spec.suite.display(),
                self.spec.name,
                err.trim()
            ))
            .into());
        }
        if code != 0 {
            anyhow::bail!(
                "{}: hil-suite --list-json failed (status {code}): {}",
                self.spec.name,
                err.trim()
            );
        }
        super::parse_case_listing(&self.spec.name, &out)
    }

    fn start(
        &mut self,
        cases: &[String],
        attempt: u32,
        threads: Option<u32>,
    ) -> anyhow::Result<Box<dyn Running>> {
        if let Some(why) = self.tenure.revoked() {
            return Err(super::BoardRevoked {
                board: self.spec.name.clone(),
                why,
            }
            .into());
        }
        self.started = true;
        let list = format!("{}/cases-{attempt}.txt", self.run_dir);
        let tmp = std::env::temp_dir().join(format!(
            "hil-cases-{}-{}-{attempt}",
            self.spec.name,
            std::process::id()
        ));
        std::fs::write(&tmp, cases.join("\n") + "\n")?;
        let sent = crate::trace::timed(&self.spec.name, "upload case list", || {
            self.conn
                .lock()
                .with_sftp(|s| upload(s, &tmp, &list, 0o644))
        });
        let _ = std::fs::remove_file(&tmp);
        if let Err(e) = sent {
            return Err(self.why_not_started(e.into()));
        }
        // The suite runs detached in its own session (setsid): a dropped connection does
        // not stop it, and its process group can be killed as a whole.
        let suite = format!(
            "{} --cases-from cases-{attempt}.txt --events events-{attempt}.jsonl {}",
            self.suite_cmd(),
            super::threads_args(threads).join(" ")
        );
        let cmd = start_command(&self.run_dir, &suite, attempt);
        // The start runs only the shell, mkdir, setsid and sleep: a status past 128 is its
        // shell killed by a signal (a board killing its sessions as it goes down), a drop
        // like any other, and the start is safe to run again.
        let started = self.conn.lock().with(|s| match exec(s, &cmd)? {
            (c, out, _) if c > 128 => Err(SshError::Killed {
                signal: format!("{}", c - 128),
                output: out,
            }),
            r => Ok(r),
        });
        let printed = match started {
            Ok((0, out, _)) => Ok(out),
            Ok((c, _, err)) => Err(anyhow::anyhow!(
                "remote command failed (status {c}): {}",
                err.trim()
            )),
            Err(e) => Err(e.into()),
        };
        let printed = match printed {
            Ok(p) => p,
            Err(e) => return Err(self.why_not_started(e)),
        };
        let pid: u32 = printed
            .trim()
            .parse()
            .with_context(|| format!("the start command printed no pid: {printed:?}"))?;
        Ok(Box::new(SshRun {
            conn: self.conn.clone(),
            spec: self.spec.clone(),
            last_alive_check: Instant::now(),
            dir: self.run_dir.clone(),
            attempt,
            pid,
            tail: crate::tail::Tail::new(PathBuf::new()),
            lost: None,
            tenure: self.tenure.clone(),
            lock: (self.lock_path(), self.lock_owner.clone()),
        }))
    }
}

impl SshBoard {
    /// A start that failed on a board that answers: if the run's directory is gone (a
    /// reboot that wiped the workdir), that is what is said, with the path.
    fn why_not_started(&mut self, e: anyhow::Error) -> anyhow::Error {
        if crate::transport::board_lost(&e) || crate::interrupt::interrupted() {
            return e;
        }
        let check = format!("test -d {} && echo here || echo gone", quote(&self.run_dir));
        match self.conn.lock().exec_ok(&check) {
            Ok(out) if out.trim() == "gone" => SshError::RunDirGone {
                path: self.run_dir.clone(),
            }
            .into(),
            _ => e,
        }
    }
}

/// A shell command's stdout, for the tests of the generated shell.
#[cfg(test)]
fn sh_out(cmd: &str) -> String {
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .output()
        .expect("sh runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}
