//! A suite running detached on the board: its events and exit status read over SFTP,
//! its liveness and the board's lock checked every few seconds, and its group killed.

use super::connection::{exec, Conn, Shared};
use super::error::SshError;
use super::remote_shell::{kill_our_group, leads_our_session, quote};
use crate::inventory::BoardSpec;
use crate::tail::Tail;
use crate::transport::{ExitInfo, Running};
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::time::{Duration, Instant};

/// One start of the suite on the board, running detached in its own session
/// (`remote_shell::start_command`).
pub(super) struct SshRun {
    pub(super) conn: Shared,
    pub(super) spec: BoardSpec,
    /// `kill -0` costs a remote process: only every few seconds.
    pub(super) last_alive_check: Instant,
    pub(super) dir: String,
    pub(super) attempt: u32,
    pub(super) pid: u32,
    pub(super) tail: Tail,
    /// Why the board could not be reached any more.
    pub(super) lost: Option<String>,
    /// The run's hold on the board (see `SshBoard::tenure`).
    pub(super) tenure: crate::transport::Tenure,
    /// The board's lock and the owner this run wrote into it (checked with each liveness
    /// check: a lock taken by another run revokes the tenure).
    pub(super) lock: (String, String),
}

impl SshRun {
    fn note_loss(&mut self, e: SshError) {
        if self.lost.is_none() {
            self.lost = Some(e.to_string());
        }
    }

    /// No exit status yet: whether the suite's shell is still there (killed -9, board
    /// rebooted) and the board's lock still this run's. A run that broke the lock
    /// (--break-live-lock) ends this run's suite.
    fn check_alive(&mut self, exit_file: &str) -> std::io::Result<Option<ExitInfo>> {
        let (lock, owner) = &self.lock;
        let cmd = format!(
            "o=; read -r o 2>/dev/null < {l}/owner; [ \"$o\" = {o} ] || echo \"lock-lost $o\"; \
             if cd {d} 2>/dev/null; then {leads} && echo running || echo gone; else echo nodir; fi",
            l = quote(lock),
            o = quote(owner),
            d = quote(&self.dir),
            leads = leads_our_session(&self.pid.to_string())
        );
        let alive = self.conn.lock().with(|s| exec(s, &cmd));
        if let Ok((_, out, _)) = &alive {
            if out.lines().any(|l| l == "nodir") {
                let gone = SshError::RunDirGone {
                    path: self.dir.clone(),
                };
                return Ok(Some(ExitInfo::Lost(gone.to_string())));
            }
            if let Some(now) = out.lines().find_map(|l| l.strip_prefix("lock-lost")) {
                let now = match now.trim() {
                    "" => "nobody".to_string(),
                    o => o.to_string(),
                };
                self.tenure.revoke(format!(
                    "its lock on the board ({lock}) was taken: it is now held by {now}"
                ));
                return self.try_wait();
            }
        }
        match alive {
            Ok((_, out, _)) if out.trim() == "gone" => {
                // It may have finished between the two checks.
                let again = self
                    .conn
                    .lock()
                    .with_sftp(|sftp| read_from(sftp, exit_file, 0));
                Ok(match again {
                    Ok(Some(b)) if b.ends_with(b"\n") => None, // read next poll
                    _ => Some(ExitInfo::Lost(
                        "the remote suite vanished without an exit status".into(),
                    )),
                })
            }
            Ok(_) => Ok(None),
            Err(e) => {
                self.note_loss(e);
                Ok(self.lost.clone().map(ExitInfo::Lost))
            }
        }
    }
}

impl Running for SshRun {
    fn poll_events(&mut self) -> std::io::Result<Vec<String>> {
        if self.lost.is_some() {
            return Ok(vec![]);
        }
        let path = format!("{}/events-{}.jsonl", self.dir, self.attempt);
        let offset = self.tail.offset();
        let r = self
            .conn
            .lock()
            .with_sftp(|sftp| read_from(sftp, &path, offset));
        match r {
            Ok(buf) => Ok(self.tail.feed(&buf.unwrap_or_default())),
            Err(e) => {
                self.note_loss(e);
                Ok(vec![])
            }
        }
    }

    fn try_wait(&mut self) -> std::io::Result<Option<ExitInfo>> {
        if let Some(why) = &self.lost {
            return Ok(Some(ExitInfo::Lost(why.clone())));
        }
        if let Some(why) = self.tenure.revoked() {
            // Not this run's board any more: its suite must not run on beside another's.
            self.kill();
            return Ok(Some(ExitInfo::Revoked(why)));
        }
        let exit_file = format!("{}/exit-{}", self.dir, self.attempt);
        let read = self
            .conn
            .lock()
            .with_sftp(|sftp| read_from(sftp, &exit_file, 0));
        let status = match read {
            Ok(s) => s,
            Err(e) => {
                self.note_loss(e);
                return Ok(self.lost.clone().map(ExitInfo::Lost));
            }
        };
        if let Some(bytes) = status.filter(|b| b.ends_with(b"\n")) {
            let n = String::from_utf8_lossy(&bytes).trim().to_string();
            return Ok(Some(match n.parse::<i32>() {
                Ok(c) if c > 128 => ExitInfo::Signal(c - 128),
                Ok(c) => ExitInfo::Code(c),
                Err(_) => ExitInfo::Lost(format!("unreadable exit status `{n}`")),
            }));
        }
        // No exit file yet: is the suite's shell still there (killed -9, board rebooted)?
        if self.last_alive_check.elapsed() < Duration::from_secs(2) {
            return Ok(None);
        }
        self.last_alive_check = Instant::now();
        self.check_alive(&exit_file)
    }

    fn kill(&mut self) {
        // Only our suite: after a reboot or once it ended, the number may be another's.
        let cmd = format!(
            "cd {} 2>/dev/null && {{ {}; }}; true",
            quote(&self.dir),
            kill_our_group(&self.pid.to_string())
        );
        let _ = self.conn.lock().with(|s| exec(s, &cmd));
    }

    fn output_tail(&self, lines: usize) -> String {
        let log = format!("{}/suite-{}.log", self.dir, self.attempt);
        // At most 64 KiB of it, however long its lines (tail.rs).
        let cmd = crate::tail::tail_command(&quote(&log), lines);
        // A fresh, single-try connection: the run may have lost the board.
        let mut spec = self.spec.clone();
        spec.reconnect_timeout_s = 0;
        let mut c = Conn::new(spec, false);
        c.with(|s| exec(s, &cmd))
            .map(|(_, out, _)| crate::tail::remote_tail(&out))
            .unwrap_or_else(|e| format!("(suite log unavailable: {e})"))
    }

    fn poll_interval(&self) -> Duration {
        // Two SFTP reads over the open channel per poll. The suite's end is seen this much
        // late at most, and a farm run waits for its slowest board: 16 boards at 200 ms
        // lost ~190 ms (the expected maximum) against one board's ~100 ms.
        Duration::from_millis(100)
    }
}

/// Bytes of a remote file from `offset`; `None` if it does not exist (yet).
fn read_from(sftp: &ssh2::Sftp, path: &str, offset: u64) -> Result<Option<Vec<u8>>, SshError> {
    let mut f = match sftp.open(Path::new(path)) {
        Ok(f) => f,
        // SFTP "no such file" (2): not written yet. Anything else is a real error.
        Err(e) if matches!(e.code(), ssh2::ErrorCode::SFTP(2)) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    f.seek(SeekFrom::Start(offset))?;
    let mut buf = Vec::new();
    f.read_to_end(&mut buf)?;
    Ok(Some(buf))
}
