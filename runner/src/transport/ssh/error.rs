//! What can go wrong reaching a board over SSH, and which failures are a drop worth
//! waiting out, a refusal, or the user's to fix.

#[derive(Debug, thiserror::Error)]
pub enum SshError {
    #[error("cannot connect to {addr}: {why}")]
    Connect { addr: String, why: String },
    #[error(
        "host key of {host} is not in {known_hosts} (fingerprint {fingerprint}). Verify the \
         fingerprint with the board's owner, then add it: `ssh-keyscan -p {port} {host} >> {known_hosts}`, \
         or run once with --accept-new-host-keys"
    )]
    HostKeyUnknown {
        host: String,
        port: u16,
        fingerprint: String,
        known_hosts: String,
    },
    #[error(
        "HOST KEY OF {host} HAS CHANGED (now {fingerprint}); refusing to connect. If the change is \
         expected (board reinstalled), remove the old entry with `ssh-keygen -R '[{host}]:{port}' -f {known_hosts}` \
         and add the new one"
    )]
    HostKeyChanged {
        host: String,
        port: u16,
        fingerprint: String,
        known_hosts: String,
    },
    /// The board was never reached in this run: not waited for (a typo in the inventory or
    /// a board that is off does not come back by itself within a reconnect window).
    #[error(
        "board `{board}` cannot be reached at {addr}: {why}. Nothing was run. Check `host` and \
         `port` in the inventory and that the board is up and runs sshd"
    )]
    Unreachable {
        board: String,
        addr: String,
        why: String,
    },
    #[error("interrupted (SIGINT/SIGTERM)")]
    Interrupted,
    #[error("authentication as `{user}` failed ({how}): {why}")]
    Auth {
        user: String,
        how: String,
        why: String,
        /// The board said no to the key (not a key file or agent problem here).
        refused: bool,
    },
    /// The remote command ended on a signal (the board killing its sessions as it goes
    /// down): a drop like any other, so every command run through `Conn::with` must be
    /// safe to run again.
    #[error("the remote command was killed by signal {signal}{}", if output.is_empty() { String::new() } else { format!("; its output: {output}") })]
    Killed { signal: String, output: String },
    /// A file on this machine could not be read: no fault of the board, and no retry helps.
    #[error("reading {path}: {source}")]
    Local {
        path: String,
        source: std::io::Error,
    },
    /// The remote command ended without reporting its status: its session closed under it.
    #[error("the remote command ended without its exit status (its session closed under it){}", if output.is_empty() { String::new() } else { format!("; its output: {output}") })]
    NoStatus { output: String },
    /// An upload the board refused for lack of space (its `.part` file is removed).
    #[error("no space left on the board ({path}: its filesystem filled up after {written} of {need} bytes, {free} bytes free; the partial upload was removed)")]
    NoSpace {
        path: String,
        written: u64,
        need: u64,
        free: u64,
    },
    /// The board answered a write with an error (the connection itself is fine).
    #[error("the board refused the upload of {path}: {why}")]
    UploadRefused { path: String, why: String },
    /// The run's directory on the board is gone (a reboot that wiped it, or someone removed
    /// it): the suite, its events and its exit status with it.
    #[error("the run directory {path} is gone from the board (rebooted with its workdir wiped, or removed)")]
    RunDirGone { path: String },
    #[error("ssh: {0}")]
    Ssh(#[from] ssh2::Error),
    #[error("ssh i/o: {0}")]
    Io(#[from] std::io::Error),
}

impl SshError {
    /// Errors that retrying cannot fix (and that a user must act on).
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            SshError::HostKeyUnknown { .. }
                | SshError::HostKeyChanged { .. }
                | SshError::Auth { .. }
                | SshError::Unreachable { .. }
        )
    }
}

impl SshError {
    /// The connection failed (and reconnecting did not help): not an answer from the board,
    /// not the user's configuration, not a signal.
    pub fn is_drop(&self) -> bool {
        !self.is_fatal()
            && !self.is_refusal()
            && !matches!(
                self,
                SshError::Interrupted | SshError::Local { .. } | SshError::RunDirGone { .. }
            )
    }

    /// The board is gone for this run: a drop that did not come back, or a board that came
    /// back without the run's directory. Its unfinished cases are marked, not dropped.
    pub fn is_board_lost(&self) -> bool {
        self.is_drop() || matches!(self, SshError::RunDirGone { .. })
    }

    /// The board answered and said no (an SFTP status such as permission denied): the
    /// connection is fine, so reconnecting would only repeat the answer.
    pub fn is_refusal(&self) -> bool {
        // SSH_FX_NO_CONNECTION (6) and SSH_FX_CONNECTION_LOST (7) are drops, not answers.
        matches!(self, SshError::Ssh(e)
            if matches!(e.code(), ssh2::ErrorCode::SFTP(c) if c != 6 && c != 7))
            || matches!(
                self,
                SshError::NoSpace { .. } | SshError::UploadRefused { .. }
            )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_dropped_connection_counts_as_a_lost_board() {
        let connect = SshError::Connect {
            addr: "h:22".into(),
            why: "refused".into(),
        };
        assert!(connect.is_drop());
        let never = SshError::Unreachable {
            board: "b".into(),
            addr: "h:22".into(),
            why: "refused".into(),
        };
        assert!(never.is_fatal() && !never.is_drop());
        assert!(!SshError::Interrupted.is_drop());
        let killed = SshError::Killed {
            signal: "KILL".into(),
            output: String::new(),
        };
        assert!(killed.is_drop() && !killed.is_refusal() && !killed.is_fatal());
        // A file here that cannot be read is no lost board: no reconnect window, no crash.
        let local = SshError::Local {
            path: "/x".into(),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        };
        assert!(!local.is_drop());
        assert!(!crate::transport::board_lost(&anyhow::Error::from(local)));
        let denied = SshError::Ssh(ssh2::Error::new(ssh2::ErrorCode::SFTP(3), "denied"));
        assert!(denied.is_refusal() && !denied.is_drop());
        let lost = SshError::Ssh(ssh2::Error::new(ssh2::ErrorCode::SFTP(7), "lost"));
        assert!(!lost.is_refusal() && lost.is_drop());
        let e = anyhow::Error::from(connect).context("starting the suite");
        assert!(crate::transport::board_lost(&e));
        assert!(!crate::transport::board_lost(&anyhow::anyhow!("disk full")));
    }
}
