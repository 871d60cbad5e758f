//! One SSH session to a board: strict host keys, key or agent auth, remote commands
//! with their exit status, and a connection (`Conn`) that reconnects after a drop.

use super::error::SshError;
use crate::inventory::BoardSpec;
use ssh2::{CheckResult, HashType, KnownHostFileKind, Session};
use std::io::Read;
use std::net::{TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn b64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in data.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..=c.len() {
            out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out // OpenSSH prints SHA256 fingerprints unpadded
}

/// One authenticated SSH session to a board, checked against known_hosts.
pub fn connect(spec: &BoardSpec, accept_new: bool) -> Result<Session, SshError> {
    let addr_s = format!("{}:{}", spec.host, spec.port);
    let connect_err = |why: String| SshError::Connect {
        addr: addr_s.clone(),
        why,
    };
    let addr = addr_s
        .to_socket_addrs()
        .map_err(|e| connect_err(e.to_string()))?
        .next()
        .ok_or_else(|| connect_err("no address".into()))?;
    let timeout = Duration::from_secs(spec.connect_timeout_s.max(1));
    let tcp = TcpStream::connect_timeout(&addr, timeout).map_err(|e| connect_err(e.to_string()))?;
    tcp_keepalive(&tcp);
    // Every SSH request here is a small write waiting on its answer: with Nagle's
    // algorithm each could wait for the board's delayed ACK (40 ms on Linux). Measured on
    // loopback: connect 105 -> 45 ms, an SFTP upload of the case list 33 -> 2 ms, closing
    // the session 96 -> 6 ms (HIL_TRACE=1).
    let _ = tcp.set_nodelay(true);
    let mut sess = Session::new()?;
    sess.set_tcp_stream(tcp);
    sess.set_timeout(timeout.as_millis() as u32);
    sess.handshake()
        .map_err(|e| connect_err(format!("handshake: {e}")))?;
    check_host_key(&sess, spec, accept_new)?;
    let how;
    let r = match &spec.key {
        Some(k) => {
            how = format!("key {}", k.display());
            sess.userauth_pubkey_file(&spec.user, None, k, None)
        }
        None => {
            how = "ssh-agent".to_string();
            sess.userauth_agent(&spec.user)
        }
    };
    if let Err(e) = r.and_then(|()| {
        if sess.authenticated() {
            Ok(())
        } else {
            Err(ssh2::Error::unknown())
        }
    }) {
        // LIBSSH2_ERROR_AUTHENTICATION_FAILED (-18), LIBSSH2_ERROR_PUBLICKEY_UNVERIFIED (-19).
        let refused = matches!(e.code(), ssh2::ErrorCode::Session(-18 | -19));
        return Err(SshError::Auth {
            user: spec.user.clone(),
            how,
            why: e.message().to_string(),
            refused,
        });
    }
    // Blocking calls give up after 15 s. No libssh2 keepalive: in blocking mode it cuts
    // waits short at the next keepalive and reports "Timed out waiting on socket"
    // (seen under load with 16 boards); TCP keepalive finds dead links instead.
    sess.set_timeout(15_000);
    Ok(sess)
}

/// Kernel keepalive probes after 10 s idle, every 5 s, 3 tries: a dead board is noticed
/// by the socket even when no SSH request is in flight.
fn tcp_keepalive(tcp: &TcpStream) {
    use std::os::fd::AsRawFd;
    let fd = tcp.as_raw_fd();
    let set = |level, name, v: libc::c_int| unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            &v as *const _ as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as u32,
        )
    };
    set(libc::SOL_SOCKET, libc::SO_KEEPALIVE, 1);
    set(libc::IPPROTO_TCP, libc::TCP_KEEPIDLE, 10);
    set(libc::IPPROTO_TCP, libc::TCP_KEEPINTVL, 5);
    set(libc::IPPROTO_TCP, libc::TCP_KEEPCNT, 3);
}

fn check_host_key(sess: &Session, spec: &BoardSpec, accept_new: bool) -> Result<(), SshError> {
    let (key, key_type) = sess.host_key().ok_or_else(|| SshError::Connect {
        addr: spec.host.clone(),
        why: "server sent no host key".into(),
    })?;
    let fingerprint = format!(
        "SHA256:{}",
        b64(sess.host_key_hash(HashType::Sha256).unwrap_or(&[]))
    );
    let kh_path = spec
        .known_hosts
        .clone()
        .unwrap_or_else(|| PathBuf::from("known_hosts"));
    let mut kh = sess.known_hosts()?;
    if kh_path.is_file() {
        kh.read_file(&kh_path, KnownHostFileKind::OpenSSH)?;
    }
    let known_hosts = kh_path.display().to_string();
    match kh.check_port(&spec.host, spec.port, key) {
        CheckResult::Match => Ok(()),
        CheckResult::Mismatch => Err(SshError::HostKeyChanged {
            host: spec.host.clone(),
            port: spec.port,
            fingerprint,
            known_hosts,
        }),
        CheckResult::NotFound | CheckResult::Failure if accept_new => {
            let entry = if spec.port == 22 {
                spec.host.clone()
            } else {
                format!("[{}]:{}", spec.host, spec.port)
            };
            kh.add(
                &entry,
                key,
                "added by hil-run --accept-new-host-keys",
                key_type.into(),
            )?;
            kh.write_file(&kh_path, KnownHostFileKind::OpenSSH)?;
            crate::errln!(
                "hil-run: {}: accepted new host key {fingerprint} into {known_hosts}",
                spec.name
            );
            Ok(())
        }
        CheckResult::NotFound | CheckResult::Failure => Err(SshError::HostKeyUnknown {
            host: spec.host.clone(),
            port: spec.port,
            fingerprint,
            known_hosts,
        }),
    }
}

/// Runs `cmd` remotely: (exit status, stdout, stderr).
pub fn exec(sess: &Session, cmd: &str) -> Result<(i32, String, String), SshError> {
    let mut ch = sess.channel_session()?;
    // The command runs in a subshell, and the shell then reports its status on stderr:
    // - a command that crashes is a status (139), never the shell's own end (bash would
    //   otherwise exec the last command in its place, and its signal would read as the
    //   board taking the session down);
    // - a command whose session closed under it, with no report, is a dropped connection
    //   (libssh2 gives status 0 when no status came).
    ch.exec(&format!(
        "( {cmd}\n)\nc=$?; echo {STATUS_MARK}$c >&2; exit $c"
    ))?;
    // Bytes, not text: a board may print anything (a binary run as a script), and that is
    // its answer, never a lost connection.
    let (mut out, mut err) = (Vec::new(), Vec::new());
    ch.read_to_end(&mut out)?;
    ch.stderr().read_to_end(&mut err)?;
    let (out, mut err) = (
        String::from_utf8_lossy(&out).into_owned(),
        String::from_utf8_lossy(&err).into_owned(),
    );
    ch.wait_close()?;
    let output = |err: &str| format!("{}{}", out.trim(), err.trim());
    // A killed shell: libssh2 gives status 0 for it too.
    if let Some(signal) = ch.exit_signal()?.exit_signal {
        let output = output(err.split(STATUS_MARK).next().unwrap_or(""));
        return Err(SshError::Killed { signal, output });
    }
    let Some(at) = err.rfind(STATUS_MARK) else {
        return Err(SshError::NoStatus {
            output: output(&err),
        });
    };
    let reported = err[at + STATUS_MARK.len()..].trim().parse::<i32>();
    err.truncate(at);
    match reported {
        Ok(code) => Ok((code, out, err)),
        Err(_) => Err(SshError::NoStatus {
            output: output(&err),
        }),
    }
}

/// Ends a remote command's stderr, with its exit status after it.
const STATUS_MARK: &str = "hil-remote-status:";

/// A connection that comes back: once the board has been reached, a failure reconnects
/// with backoff for up to the board's `reconnect_timeout_s`, then gives up. A board never
/// reached is not waited for, and a signal ends every wait.
pub struct Conn {
    pub(super) spec: BoardSpec,
    accept_new: bool,
    sess: Option<Session>,
    /// Connected at least once: a later failure is a drop worth waiting out.
    reached: bool,
    /// One SFTP channel kept open: opening one per poll costs the board a process.
    sftp: Option<ssh2::Sftp>,
    /// The board did not come back within its window once: later steps (logs, clean-up,
    /// the lock) try once each instead of waiting the whole window again.
    gave_up: bool,
    /// When the connection dropped, while reconnecting.
    dropped_at: Option<Instant>,
}

impl Conn {
    pub fn new(spec: BoardSpec, accept_new: bool) -> Conn {
        Conn {
            spec,
            accept_new,
            sess: None,
            reached: false,
            sftp: None,
            gave_up: false,
            dropped_at: None,
        }
    }

    /// Like `with`, on the connection's SFTP channel.
    pub fn with_sftp<R>(
        &mut self,
        mut f: impl FnMut(&ssh2::Sftp) -> Result<R, SshError>,
    ) -> Result<R, SshError> {
        let mut cached = self.sftp.take();
        let r = self.with(|s| {
            if cached.is_none() {
                cached = Some(s.sftp()?);
            }
            let r = f(cached.as_ref().expect("just set"));
            if r.is_err() {
                cached = None; // reopen after any failure
            }
            r
        });
        self.sftp = cached;
        r
    }

    /// `f` on the board's session, reconnecting after a drop within the board's window.
    pub fn with<R>(
        &mut self,
        mut f: impl FnMut(&Session) -> Result<R, SshError>,
    ) -> Result<R, SshError> {
        let window = if self.gave_up {
            0
        } else {
            self.spec.reconnect_timeout_s
        };
        let deadline = Instant::now() + Duration::from_secs(window);
        let mut backoff = Duration::from_millis(250);
        loop {
            match self.attempt(&mut f) {
                Ok(r) => {
                    self.say_back();
                    return Ok(r);
                }
                Err(e) if !e.is_drop() && !matches!(e, SshError::Interrupted) => return Err(e),
                Err(e) if Instant::now() >= deadline => {
                    self.give_up(window);
                    return Err(e);
                }
                Err(_) if crate::interrupt::interrupted() => return Err(SshError::Interrupted),
                Err(e) => {
                    self.drop_session(&e, window);
                    crate::interrupt::sleep(
                        backoff.min(deadline.saturating_duration_since(Instant::now())),
                    )
                    .map_err(|_| SshError::Interrupted)?;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    /// One try of `f`: on the open session, or on a new one.
    fn attempt<R>(
        &mut self,
        f: &mut impl FnMut(&Session) -> Result<R, SshError>,
    ) -> Result<R, SshError> {
        if let Some(s) = &self.sess {
            return f(s);
        }
        let s = crate::trace::timed_result(&self.spec.name, "connect", || {
            connect(&self.spec, self.accept_new)
        })
        .map_err(|e| self.connect_failed(e))?;
        self.reached = true;
        let r = f(&s);
        self.sess = Some(s);
        r
    }

    /// A failed connect as `with` treats it: a board never reached is not waited for.
    fn connect_failed(&self, e: SshError) -> SshError {
        match e {
            SshError::Connect { addr, why } if !self.reached => SshError::Unreachable {
                board: self.spec.name.clone(),
                addr,
                why,
            },
            // A board that took this key before and refuses it now is likely still
            // booting (sshd up before the home directory): waited for like a drop.
            // (A key file or agent gone here is no board booting: not waited for.)
            SshError::Auth {
                user,
                how,
                why,
                refused: true,
            } if self.reached => SshError::Connect {
                addr: format!("{}:{}", self.spec.host, self.spec.port),
                why: format!("authentication as `{user}` failed ({how}): {why}, though it worked earlier in this run"),
            },
            e => e,
        }
    }

    /// After a drop: the connection is back, said once.
    fn say_back(&mut self) {
        if let Some(at) = self.dropped_at.take() {
            crate::errln!(
                "hil-run: {}: connection back after {:.1} s",
                self.spec.name,
                at.elapsed().as_secs_f64()
            );
        }
    }

    /// The board did not come back within `window` s: said once, and later steps try
    /// once each.
    fn give_up(&mut self, window: u64) {
        if self.dropped_at.take().is_some() && !self.gave_up {
            self.gave_up = true;
            crate::errln!(
                "hil-run: {}: the board did not come back within {} s (reconnect_timeout_s); \
                 later steps try once each. Its on-board lock may stay: a later run from \
                 this host breaks it once this run has ended, or use --break-lock",
                self.spec.name,
                window
            );
        }
    }

    /// A drop: the session and its SFTP channel go, said once per drop.
    fn drop_session(&mut self, e: &SshError, window: u64) {
        self.sftp = None;
        if self.sess.take().is_some() {
            crate::errln!(
                "hil-run: {}: connection lost ({e}); reconnecting for up to {} s",
                self.spec.name,
                window
            );
            self.dropped_at.get_or_insert_with(Instant::now);
        }
    }

    pub fn exec_ok(&mut self, cmd: &str) -> Result<String, anyhow::Error> {
        let name = self.spec.name.clone();
        let what = format!("exec {}", cmd.split_whitespace().next().unwrap_or(""));
        let (code, out, err) =
            crate::trace::timed_result(&name, &what, || self.with(|s| exec(s, cmd)))?;
        if code != 0 {
            anyhow::bail!("remote command failed (status {code}): {}", err.trim());
        }
        Ok(out)
    }
}

/// One connection per board, shared by the board and its runs.
#[derive(Clone)]
pub(super) struct Shared(pub(super) std::sync::Arc<std::sync::Mutex<Conn>>);

impl Shared {
    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, Conn> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_unpadded_base64() {
        assert_eq!(b64(b"f"), "Zg");
        assert_eq!(b64(b"fo"), "Zm8");
        assert_eq!(b64(b"foo"), "Zm9v");
        assert_eq!(b64(b"foob"), "Zm9vYg");
    }
}
