//! Boards reached over SSH (ssh2): strict host keys, key or agent auth, deploy of the
//! suite by content hash (atomic upload), and a remote suite that keeps running when the
//! connection drops, so the runner can reconnect and carry on.

use super::{ExitInfo, Running, Transport};
use crate::inventory::BoardSpec;
use crate::tail::Tail;
use anyhow::Context as _;
use sha2::{Digest, Sha256};
use ssh2::{CheckResult, HashType, KnownHostFileKind, Session};
use std::io::{Read, Seek, SeekFrom, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Quotes one word for the remote POSIX shell: nothing from the inventory or the case
/// list is ever interpreted by it.
pub fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

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
    spec: BoardSpec,
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
            let attempt = match &self.sess {
                Some(s) => f(s),
                None => match crate::trace::timed_result(&self.spec.name, "connect", || {
                    connect(&self.spec, self.accept_new)
                }) {
                    Ok(s) => {
                        self.reached = true;
                        let r = f(&s);
                        self.sess = Some(s);
                        r
                    }
                    Err(SshError::Connect { addr, why }) if !self.reached => {
                        return Err(SshError::Unreachable {
                            board: self.spec.name.clone(),
                            addr,
                            why,
                        })
                    }
                    // A board that took this key before and refuses it now is likely still
                    // booting (sshd up before the home directory): waited for like a drop.
                    // (A key file or agent gone here is no board booting: not waited for.)
                    Err(SshError::Auth {
                        user,
                        how,
                        why,
                        refused: true,
                    }) if self.reached => {
                        Err(SshError::Connect {
                            addr: format!("{}:{}", self.spec.host, self.spec.port),
                            why: format!("authentication as `{user}` failed ({how}): {why}, though it worked earlier in this run"),
                        })
                    }
                    Err(e) => Err(e),
                },
            };
            match attempt {
                Ok(r) => {
                    if let Some(at) = self.dropped_at.take() {
                        crate::errln!(
                            "hil-run: {}: connection back after {:.1} s",
                            self.spec.name,
                            at.elapsed().as_secs_f64()
                        );
                    }
                    return Ok(r);
                }
                Err(e) if !e.is_drop() && !matches!(e, SshError::Interrupted) => return Err(e),
                Err(e) if Instant::now() >= deadline => {
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
                    return Err(e);
                }
                Err(_) if crate::interrupt::interrupted() => return Err(SshError::Interrupted),
                Err(e) => {
                    self.sftp = None;
                    if self.sess.take().is_some() {
                        crate::errln!(
                            "hil-run: {}: connection lost ({e}); reconnecting for up to {} s",
                            self.spec.name,
                            window
                        );
                        self.dropped_at.get_or_insert_with(Instant::now);
                    }
                    crate::interrupt::sleep(
                        backoff.min(deadline.saturating_duration_since(Instant::now())),
                    )
                    .map_err(|_| SshError::Interrupted)?;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
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
struct Shared(std::sync::Arc<std::sync::Mutex<Conn>>);

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Conn> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// How `prepare` treats another run's lock on the board.
#[derive(Debug, Clone, Copy, Default)]
pub struct LockPolicy {
    /// Seconds to wait for the lock (0: fail at once).
    pub wait_s: u64,
    /// `--break-lock`: remove another run's lock, unless its run is seen alive (a run on
    /// this host whose process still exists).
    pub break_stale: bool,
    /// `--break-live-lock`: with `break_stale`, also a lock whose run is alive (that run
    /// notices within seconds and stops, its unfinished cases marked).
    pub break_live: bool,
}

/// The board is in use by another run, or by this run under another name.
#[derive(Debug, thiserror::Error)]
#[error("board `{board}` is {held} ({owner}){waited}; {advice} (lock: {path})")]
pub struct BoardLocked {
    pub board: String,
    /// "locked by another run", or "held by this run for board b1: two names for one board?".
    pub held: String,
    pub owner: String,
    pub path: String,
    /// ", still after waiting N s" when --lock-wait ran out.
    pub waited: String,
    /// What the user can do.
    pub advice: String,
}

/// Where this process's pids mean something: the kernel boot and the pid namespace (two
/// containers can share a host name, not both of these).
fn pid_scope() -> String {
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap_or_default();
    let ns = std::fs::read_link("/proc/self/ns/pid")
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    format!(
        "boot={} pidns={}",
        boot.trim(),
        ns.trim_start_matches("pid:")
    )
}

/// Lock owners this process has written: each board of a run has its own, so two names
/// for one board (same host and workdir) never read the other's lock as their own.
static LOCK_SESSIONS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The board a lock owner written by this process holds the lock for: `Some` only when
/// the owner is this very process.
fn held_by_this_run(owner: &str) -> Option<String> {
    (owner_here(owner)? == std::process::id()).then(|| {
        owner
            .split_whitespace()
            .find_map(|w| w.strip_prefix("board="))
            .unwrap_or("another board")
            .to_string()
    })
}

/// The pid of a lock's owner when that owner is a run on this host, in this kernel boot
/// and pid namespace: only there does a pid say anything.
fn owner_here(owner: &str) -> Option<u32> {
    let field = |k: &str| {
        owner
            .split_whitespace()
            .find_map(|w| w.strip_prefix(k).map(str::to_string))
    };
    let (host, pid) = (field("runner=")?, field("pid=")?.parse::<u32>().ok()?);
    let scope = format!("boot={} pidns={}", field("boot=")?, field("pidns=")?);
    (host == crate::facts_host() && scope == pid_scope()).then_some(pid)
}

/// A lock whose owner is a run in this host's kernel boot and pid namespace that no longer
/// exists (no process with its pid). Only then is it certainly stale: a pid seen from
/// anywhere else says nothing here, and an owner without the scope is never judged.
fn stale_here(owner: &str) -> Option<u32> {
    let pid = owner_here(owner)?;
    if pid == std::process::id() {
        return None;
    }
    // kill(pid, 0): ESRCH means no such process.
    let gone = unsafe { libc::kill(pid as libc::pid_t, 0) } != 0
        && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH);
    gone.then_some(pid)
}

/// A lock whose owner is a run in this host's kernel boot and pid namespace that still
/// exists (its pid is there): certainly alive, so `--break-lock` alone leaves it. A pid
/// seen from anywhere else says nothing here.
fn alive_here(owner: &str) -> Option<u32> {
    let pid = owner_here(owner)?;
    // kill(pid, 0) succeeds, or fails only for want of permission: the process exists.
    let alive = unsafe { libc::kill(pid as libc::pid_t, 0) } == 0
        || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
    alive.then_some(pid)
}

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

    fn lock_path(&self) -> String {
        format!("{}/lock", self.spec.workdir)
    }

    /// Takes the board: `mkdir` is atomic on the board's filesystem, whoever runs it.
    /// Every board, a labgrid place too: one host under two place names, or a place whose
    /// reservation was lost, must still never run two suites.
    fn acquire(&mut self) -> anyhow::Result<()> {
        let path = self.lock_path();
        let host = crate::facts_host();
        // Unique per board of this process: a second board of the same run (two names
        // for one host) that finds it must see a lock it does not hold.
        let owner = format!(
            "runner={host} pid={} since_unix={} board={} session={} {}",
            std::process::id(),
            now_ms() / 1000,
            self.spec.name,
            LOCK_SESSIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            pid_scope()
        );
        let cmd = format!(
            "mkdir -p {wd} && if mkdir {l} 2>/dev/null; then printf %s {o} > {l}/owner; echo acquired; else cat {l}/owner 2>/dev/null || echo unknown; fi",
            wd = quote(&self.spec.workdir),
            l = quote(&path),
            o = quote(&owner)
        );
        let started = Instant::now();
        let deadline = started + Duration::from_secs(self.lock.wait_s);
        let mut told = None::<Instant>;
        loop {
            let out = self.conn.lock().exec_ok(&cmd)?;
            // A retry after a dropped answer finds the lock it took itself.
            if out.trim() == "acquired" || out.trim() == owner {
                self.locked = true;
                self.dir_lock = true;
                self.lock_owner = owner.clone();
                return Ok(());
            }
            let owner = out.trim().to_string();
            let stale = stale_here(&owner);
            let alive = alive_here(&owner);
            // This run's own lock for another board name is never broken: that board runs.
            let mine = held_by_this_run(&owner);
            let held = match &mine {
                Some(b) => format!("held by this run for board {b}: two names for one board?"),
                None => "locked by another run".to_string(),
            };
            let forced = mine.is_none()
                && self.lock.break_stale
                && (alive.is_none() || self.lock.break_live);
            if forced || stale.is_some() {
                let why = match (stale, alive) {
                    (Some(pid), _) => format!("stale: its run (pid {pid} on this host) is gone"),
                    (None, Some(pid)) => format!(
                        "--break-live-lock: its run (pid {pid} on this host) is still alive and \
                         will stop with its unfinished cases marked"
                    ),
                    (None, None) => "--break-lock".to_string(),
                };
                crate::errln!(
                    "hil-run: {}: breaking the lock held by {owner} ({why})",
                    self.spec.name
                );
                // Only the lock just seen: a rerun after a dropped answer must not remove
                // a lock another run took in between.
                self.conn
                    .lock()
                    .exec_ok(&remove_lock_if_owned(&path, &owner))?;
                self.lock.break_stale = false;
                continue;
            }
            if Instant::now() >= deadline {
                let waited = if self.lock.wait_s > 0 {
                    format!(", still after waiting {} s", self.lock.wait_s)
                } else {
                    String::new()
                };
                let advice = match alive {
                    _ if mine.is_some() => "the inventory gives both names the same host and \
                         workdir; run one of them, or wait with --lock-wait SECS to run them \
                         one after the other"
                        .to_string(),
                    Some(pid) if self.lock.break_stale => format!(
                        "--break-lock leaves it, as its run (pid {pid} on this host) is still \
                         alive: wait for it with --lock-wait SECS, or stop that run; \
                         --break-lock --break-live-lock takes the board from it anyway"
                    ),
                    Some(pid) => format!(
                        "its run (pid {pid} on this host) is still alive: wait (longer) for it \
                         with --lock-wait SECS"
                    ),
                    None => "wait (longer) with --lock-wait SECS, or if that run is gone, \
                             rerun with --break-lock"
                        .to_string(),
                };
                return Err(BoardLocked {
                    board: self.spec.name.clone(),
                    held,
                    owner,
                    path,
                    waited,
                    advice,
                }
                .into());
            }
            // A wait of up to 30 min must not look like a hang.
            if told.is_none_or(|t| t.elapsed() >= Duration::from_secs(60)) {
                crate::errln!(
                    "hil-run: {}: {held} ({owner}); waiting ({} s of --lock-wait {} s)",
                    self.spec.name,
                    started.elapsed().as_secs(),
                    self.lock.wait_s
                );
                told = Some(Instant::now());
            }
            crate::interrupt::sleep(Duration::from_secs(2))?;
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

/// Hex SHA-256 of a file: the deploy directory's name, so an unchanged suite is not re-sent.
pub fn file_hash(p: &Path) -> std::io::Result<String> {
    let mut h = Sha256::new();
    let mut f = std::fs::File::open(p)?;
    std::io::copy(&mut f, &mut h)?;
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// `file_hash`, once per run for a file that has not changed since (same size and mtime):
/// boards of a farm usually share one suite, and hashing 20 MB per board cost the runner
/// host 16 × 25 ms of CPU at every start.
fn suite_hash(p: &Path) -> std::io::Result<String> {
    type Key = (PathBuf, u64, Option<std::time::SystemTime>);
    static CACHE: std::sync::Mutex<Vec<(Key, String)>> = std::sync::Mutex::new(Vec::new());
    let meta = std::fs::metadata(p)?;
    let key = (p.to_path_buf(), meta.len(), meta.modified().ok());
    // Held while hashing: the other boards wait for the one result instead of each
    // computing it.
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, h)) = cache.iter().find(|(k, _)| *k == key) {
        return Ok(h.clone());
    }
    let h = file_hash(p)?;
    cache.push((key, h.clone()));
    Ok(h)
}

/// Uploads `local` to `remote` atomically: a temporary name, then rename. A write the
/// board refuses (a full disk) is an answer, not a lost connection: the `.part` file is
/// removed and the error says why, at once (no reconnect window).
fn upload(sftp: &ssh2::Sftp, local: &Path, remote: &str, mode: u32) -> Result<u64, SshError> {
    let tmp = format!("{remote}.part-{}", std::process::id());
    let local_err = |source| SshError::Local {
        path: local.display().to_string(),
        source,
    };
    let mut src = std::fs::File::open(local).map_err(local_err)?;
    let need = src.metadata().map_err(local_err)?.len();
    let mut dst = sftp.create(Path::new(&tmp))?;
    // In pieces, so a signal does not wait for a large suite to cross a slow link.
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    loop {
        if crate::interrupt::interrupted() {
            return Err(SshError::Interrupted);
        }
        let got = src.read(&mut buf).map_err(local_err)?;
        if got == 0 {
            break;
        }
        if let Err(e) = dst.write_all(&buf[..got]) {
            let why = e.to_string();
            return Err(refused_write(sftp, dst, &tmp, remote, (n, need), why));
        }
        n += got as u64;
    }
    // Closed explicitly: libssh2 pipelines writes, and a refusal may only come with the
    // last acknowledgements (a drop would lose it).
    if let Err(e) = dst.close() {
        if !matches!(e.code(), ssh2::ErrorCode::SFTP(_)) {
            return Err(e.into());
        }
    }
    // A write refused at the end leaves a short file: never renamed into place.
    let written = sftp.stat(Path::new(&tmp))?.size.unwrap_or(0);
    if written != n {
        let dst = sftp.open(Path::new(&tmp))?;
        let why = format!("{written} of {n} bytes arrived");
        return Err(refused_write(sftp, dst, &tmp, remote, (written, need), why));
    }
    sftp.setstat(
        Path::new(&tmp),
        ssh2::FileStat {
            size: None,
            uid: None,
            gid: None,
            perm: Some(mode),
            atime: None,
            mtime: None,
        },
    )?;
    let flags =
        ssh2::RenameFlags::OVERWRITE | ssh2::RenameFlags::ATOMIC | ssh2::RenameFlags::NATIVE;
    // OpenSSH renames with link(), which fails on an existing target (libssh2 sends no
    // overwrite flag at SFTP v3): a retry after a dropped answer would be refused.
    let _ = sftp.unlink(Path::new(remote));
    sftp.rename(Path::new(&tmp), Path::new(remote), Some(flags))?;
    Ok(n)
}

/// A write to `tmp` failed with `why`. If the board still answers on this channel (the
/// free space of the file's filesystem, `statvfs@openssh.com`), the board refused it:
/// `tmp` is removed and the error says whether the disk is full. If it does not answer,
/// the connection dropped (waited for as a drop).
fn refused_write(
    sftp: &ssh2::Sftp,
    mut dst: ssh2::File,
    tmp: &str,
    remote: &str,
    (written, need): (u64, u64),
    why: String,
) -> SshError {
    let space = dst.statvfs();
    drop(dst);
    let free = match space {
        Ok(v) => Some(v.f_bavail.saturating_mul(v.f_frsize)),
        // The server answered (no statvfs extension): still a refusal, space unknown.
        Err(e) if matches!(e.code(), ssh2::ErrorCode::SFTP(_)) => None,
        Err(_) => return SshError::Io(std::io::Error::other(why)),
    };
    let _ = sftp.unlink(Path::new(tmp));
    match free {
        // Measured with the partial file still there: less than the rest of the file.
        Some(free) if free < need.saturating_sub(written).max(1) => SshError::NoSpace {
            path: remote.to_string(),
            written,
            need,
            free,
        },
        _ => SshError::UploadRefused {
            path: remote.to_string(),
            why,
        },
    }
}

/// Removes the lock at `path` if `owner` still holds it ("unknown": one with no owner).
fn remove_lock_if_owned(path: &str, owner: &str) -> String {
    format!(
        "if [ \"$(cat {l}/owner 2>/dev/null || echo unknown)\" = {o} ]; then rm -rf {l}; fi",
        l = quote(path),
        o = quote(owner)
    )
}

/// The board's boot: a pid or a start from before a reboot is not this boot's.
const BOOT_ID: &str = "$(cat /proc/sys/kernel/random/boot_id 2>/dev/null)";

/// Shell, builtins only: reads `/proc/<proc>/stat` into `$1…` from the state on (so `$3`
/// is the process group, `$4` the session); fails if there is no such process.
fn stat_fields(proc_dir: &str) -> String {
    format!("read -r s 2>/dev/null < {proc_dir}/stat && set -- ${{s##*) }}")
}

/// Shell test, with builtins only (it runs every few seconds): `pid` leads a session and
/// works in the run's directory (the current one). That is a suite shell of this run: not
/// a process that reuses the number, nor a suite's own child (those lead groups only).
fn leads_our_session(pid: &str) -> String {
    format!(
        "[ -n \"{pid}\" ] && [ /proc/{pid}/cwd -ef . ] && {} && [ \"$4\" = \"{pid}\" ]",
        stat_fields(&format!("/proc/{pid}"))
    )
}

/// Shell: kills process group `pgid` if a process in it belongs to session `pgid` and
/// works in the run's directory (the current one). A suite whose shell died still has its
/// other processes there, so the group is found without its leader. Builtins only.
fn kill_our_group(pgid: &str) -> String {
    kill_our_group_then(pgid, ":")
}

/// `kill_our_group`, running the shell command `then` after a kill.
fn kill_our_group_then(pgid: &str, then: &str) -> String {
    let g = pgid;
    format!(
        "if [ -n \"{g}\" ]; then for d in /proc/[0-9]*; do {stat} || continue; \
         if [ \"$3\" = \"{g}\" ] && [ \"$4\" = \"{g}\" ] && [ $d/cwd -ef . ]; then \
         kill -9 -{g} 2>/dev/null || kill -9 -- -{g} 2>/dev/null; {then}; break; fi; done; fi",
        stat = stat_fields("$d")
    )
}

/// Shell: ends every suite still running in another run directory under `runs_dir` (one
/// of an earlier run of any board sharing the workdir whose hil-run was killed, or whose
/// lock was broken), printing `ended RUN` for each. Run only under the board's lock: the
/// runs it ends hold no lock any more, and two suites must never share the GPUs.
fn end_earlier_runs(runs_dir: &str, own_run: &str) -> String {
    format!(
        "b={BOOT_ID}; for r in {runs}/*/; do [ -d \"$r\" ] || continue; \
         [ \"$r\" -ef {own} ] && continue; cd \"$r\" 2>/dev/null || continue; \
         for f in start-*-\"$b\".pid; do [ -f \"$f\" ] || continue; k=; \
         read -r k 2>/dev/null < \"$f\"; {kill}; done; done; cd /",
        runs = quote(runs_dir),
        own = quote(own_run),
        kill = kill_our_group_then("$k", "r=${r%/}; echo \"ended ${r##*/}\"")
    )
}

/// What `hil-suite.ok` remembers of the checked file: size, mtime, ctime (both to the
/// nanosecond where the filesystem keeps them) and inode. Any write or replacement changes
/// the ctime or the inode, and neither can be set back (`touch -d` puts back the mtime
/// only, and itself moves the ctime), so an edit of the same size is hashed again too.
const SUITE_STAMP: &str = "stat -c '%s %y %z %i' hil-suite";

/// Shell, in the suite's directory: prints `present` if `hil-suite` there is the file with
/// SHA-256 `hash`, else `absent`. The hash is checked once (`sha256sum`) and remembered
/// with the file's `SUITE_STAMP` in `hil-suite.ok`: a file changed in any way since is
/// hashed again, and re-sent when it differs.
fn suite_present(hash: &str) -> String {
    format!(
        "now=\"$({SUITE_STAMP} 2>/dev/null)\"; \
         if test -x hil-suite && [ \"$(cat hil-suite.ok 2>/dev/null)\" = \"{hash} $now\" ]; then echo present; \
         elif test -x hil-suite && set -- $(sha256sum hil-suite 2>/dev/null) && [ \"$1\" = {hash} ]; then \
         echo \"{hash} $now\" > hil-suite.ok 2>/dev/null; echo present; else echo absent; fi"
    )
}

/// The shell command that starts attempt `attempt` of the suite (`suite`: its command
/// line) detached, in its own session, and prints its pid.
/// - Safe to run again (a dropped connection reruns it): only the first run in this boot
///   starts the suite; every run prints that suite's pid, which the suite's shell writes
///   itself before the suite runs. After a reboot a rerun starts it afresh, with no exit
///   status or events of the attempt left from before.
/// - Earlier attempts' suites still running are killed first: two never share the GPUs.
///   `kill -9 -PGID` is what dash accepts; bash and procps kill also take `-- -PGID`.
/// - Only setsid goes to the background: `cd X && setsid … &` would background a subshell
///   holding the channel open until the suite ends.
fn start_command(run_dir: &str, suite: &str, attempt: u32) -> String {
    let a = attempt;
    let inner = format!(
        "b={BOOT_ID}; {{ echo $$ > start-{a}-$b.pid.t && mv start-{a}-$b.pid.t start-{a}-$b.pid; }} || exit 1; \
         {suite} > suite-{a}.log 2>&1; echo $? > exit-{a}"
    );
    format!(
        "cd {dir} || exit 1; b={BOOT_ID}; \
         for f in start-*-\"$b\".pid; do [ \"$f\" = start-{a}-\"$b\".pid ] && continue; \
         k=; read -r k 2>/dev/null < \"$f\"; {earlier}; done; \
         new=; if [ ! -d start-{a}-\"$b\".lock ]; then mkdir start-{a}-\"$b\".lock || exit 1; new=1; \
         rm -f exit-{a}; : > events-{a}.jsonl; \
         setsid sh -c {inner} < /dev/null > /dev/null 2> start-{a}-\"$b\".err & fi; \
         i=0; until [ -s start-{a}-\"$b\".pid ] || [ $i -ge 50 ]; do sleep 0.1; i=$((i+1)); done; \
         if [ ! -s start-{a}-\"$b\".pid ]; then if [ -n \"$new\" ]; then \
         echo \"the suite's shell did not start: $(cat start-{a}-\"$b\".err 2>/dev/null)\" >&2; \
         else echo \"attempt {a} was started before, but its suite never wrote its pid\" >&2; fi; exit 1; fi; \
         cat start-{a}-\"$b\".pid",
        dir = quote(run_dir),
        earlier = kill_our_group("$k"),
        inner = quote(&inner)
    )
}

impl Drop for SshBoard {
    fn drop(&mut self) {
        if self.dir_lock {
            let cmd = remove_lock_if_owned(&self.lock_path(), &self.lock_owner);
            let _ = self.conn.lock().with(|s| exec(s, &cmd));
        }
    }
}

fn now_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}

impl Transport for SshBoard {
    fn prepare(&mut self) -> anyhow::Result<Option<String>> {
        self.acquire()?;
        // The board's CPU picks its suite and refuses one built for another, before upload.
        super::arch::settle(&mut self.spec, &self.conn.lock().exec_ok("uname -m")?)?;
        let hash = crate::trace::timed(&self.spec.name, "hash suite", || {
            suite_hash(&self.spec.suite)
        })
        .with_context(|| format!("reading suite {}", self.spec.suite.display()))?;
        let dir = format!("{}/suite-{}", self.spec.workdir, &hash[..16]);
        self.remote_suite = format!("{dir}/hil-suite");
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        self.run_dir = format!(
            "{}/runs/{}",
            self.spec.workdir,
            super::keep::run_dir_name(&self.spec.name, stamp)
        );
        // One round trip: create the directories, end suites of earlier runs still running
        // (we hold the lock: theirs is gone), drop uploads a dead run left half done (none
        // is in progress), mark the suite used (`clean_up` keeps the last used), and ask
        // whether it is there, whole.
        let probe = format!(
            "mkdir -p {d} {r} && {{ {end}; }} && rm -f {d}/hil-suite.part-* && touch {d} && cd {d} && {present}",
            d = quote(&dir),
            r = quote(&self.run_dir),
            end = end_earlier_runs(&format!("{}/runs", self.spec.workdir), &self.run_dir),
            present = suite_present(&hash),
        );
        let out = self.conn.lock().exec_ok(&probe)?;
        for run in out.lines().filter_map(|l| l.strip_prefix("ended ")) {
            crate::errln!(
                "hil-run: {}: ended the suite of an earlier run still running on the board (runs/{run}): \
                 its run no longer holds the board",
                self.spec.name
            );
        }
        let present = out.lines().last().is_some_and(|l| l.trim() == "present");
        let mut note = if present {
            format!("suite up to date ({})", self.remote_suite)
        } else {
            let (suite, remote) = (self.spec.suite.clone(), self.remote_suite.clone());
            let n = self
                .conn
                .lock()
                .with_sftp(|s| upload(s, &suite, &remote, 0o755))?;
            // Remembered as checked: the next run compares the stamp, not the hash.
            let stamp = format!(
                "cd {} && echo \"{hash} $({SUITE_STAMP})\" > hil-suite.ok 2>/dev/null; true",
                quote(&dir)
            );
            self.conn.lock().exec_ok(&stamp)?;
            format!("uploaded suite, {n} bytes -> {remote}")
        };
        if let Some(t) = &self.tables {
            let tdir = format!("{}/tables", self.run_dir);
            self.conn
                .lock()
                .exec_ok(&format!("mkdir -p {}", quote(&tdir)))?;
            let mut files: Vec<_> = std::fs::read_dir(t)?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .collect();
            files.retain(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"));
            for f in &files {
                let name = f
                    .file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or("table.yaml")
                    .to_string();
                let remote = format!("{tdir}/{name}");
                self.conn
                    .lock()
                    .with_sftp(|s| upload(s, f, &remote, 0o644))?;
            }
            note.push_str(&format!("; {} table file(s)", files.len()));
        }
        Ok(Some(note))
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
            tail: Tail::new(PathBuf::new()),
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

struct SshRun {
    conn: Shared,
    spec: BoardSpec,
    /// `kill -0` costs a remote process: only every few seconds.
    last_alive_check: Instant,
    dir: String,
    attempt: u32,
    pid: u32,
    tail: Tail,
    /// Why the board could not be reached any more.
    lost: Option<String>,
    /// The run's hold on the board (see `SshBoard::tenure`).
    tenure: super::Tenure,
    /// The board's lock and the owner this run wrote into it (checked with each liveness
    /// check: a lock taken by another run revokes the tenure).
    lock: (String, String),
}

impl SshRun {
    fn note_loss(&mut self, e: SshError) {
        if self.lost.is_none() {
            self.lost = Some(e.to_string());
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
        // The lock too: a run that broke it (--break-live-lock) ends this run's suite.
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
                    .with_sftp(|sftp| read_from(sftp, &exit_file, 0));
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

#[cfg(test)]
mod tests {
    #[test]
    fn a_lock_is_removed_only_while_the_owner_seen_still_holds_it() {
        let dir = std::env::temp_dir().join(format!("hil-lockrm-{}", std::process::id()));
        let lock = dir.join("lock");
        let sh = |cmd: String| {
            let st = std::process::Command::new("sh")
                .arg("-c")
                .arg(cmd)
                .status()
                .unwrap();
            assert!(st.success());
        };
        let path = lock.display().to_string();
        std::fs::create_dir_all(&lock).unwrap();
        std::fs::write(lock.join("owner"), "runner=b pid=2").unwrap();
        sh(remove_lock_if_owned(&path, "runner=a pid=1"));
        assert!(lock.exists(), "another run's lock stays");
        sh(remove_lock_if_owned(&path, "runner=b pid=2"));
        assert!(!lock.exists());
        std::fs::create_dir_all(&lock).unwrap();
        sh(remove_lock_if_owned(&path, "unknown"));
        assert!(!lock.exists(), "a lock without owner, seen as such");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_start_command_starts_one_suite_per_attempt_and_ends_earlier_ones() {
        // Boards' login shells differ: dash and bash at least (they differ on `kill --`).
        for shell in ["sh", "bash"] {
            start_command_scenario(shell);
        }
    }

    fn start_command_scenario(shell: &str) {
        let dir = std::env::temp_dir().join(format!("hil-start-{}-{shell}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let run = |attempt: u32| {
            let suite = format!("echo {attempt} >> started; sleep 30");
            let cmd = start_command(&dir.display().to_string(), &suite, attempt);
            let out = std::process::Command::new(shell)
                .arg("-c")
                .arg(&cmd)
                .output()
                .unwrap();
            let pid = String::from_utf8(out.stdout).unwrap().trim().to_string();
            pid.parse::<i32>()
                .unwrap_or_else(|_| panic!("{pid:?} {}", String::from_utf8_lossy(&out.stderr)))
        };
        // Running, not a zombie (reaping it is init's business).
        let alive = |pid: i32| {
            std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|st| {
                st.rsplit(')')
                    .next()
                    .is_some_and(|r| !r.trim_start().starts_with('Z'))
            })
        };
        // Live processes of group `g` (zombies excluded).
        let group = |g: i32| -> Vec<i32> {
            let mut out = Vec::new();
            for e in std::fs::read_dir("/proc").unwrap().flatten() {
                let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
                    continue;
                };
                let Ok(st) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                    continue;
                };
                let f: Vec<&str> = st
                    .rsplit(')')
                    .next()
                    .unwrap_or("")
                    .split_whitespace()
                    .collect();
                if f.len() > 2 && f[0] != "Z" && f[2] == g.to_string() {
                    out.push(pid);
                }
            }
            out
        };
        let gone = |g: i32| {
            // kill(2) is asynchronous: poll.
            let t = std::time::Instant::now();
            while !group(g).is_empty() && t.elapsed() < std::time::Duration::from_secs(10) {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            group(g).is_empty()
        };
        let first = run(1);
        assert_eq!(run(1), first, "a rerun reports the suite it started");
        assert!(alive(first));
        // Only attempt 1's shell dies; its suite (`sleep`) lives on in the group.
        unsafe { libc::kill(first, libc::SIGKILL) };
        assert!(!group(first).is_empty());
        // A process of the run's directory leading its own group (as a suite's UB child
        // does), whose number an old pid file names: not a suite, never signalled.
        use std::os::unix::process::CommandExt as _;
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .current_dir(&dir)
            .process_group(0)
            .spawn()
            .unwrap();
        let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap();
        std::fs::write(
            dir.join(format!("start-9-{}.pid", boot.trim())),
            format!("{}\n", child.id()),
        )
        .unwrap();
        let second = run(2);
        assert_ne!(second, first);
        assert!(
            gone(first),
            "attempt 1's suite is ended before attempt 2 runs"
        );
        assert!(alive(second));
        assert!(
            alive(child.id() as i32),
            "a process that is no suite of the run"
        );
        // The runner's kill of a suite: its group, and nothing that only reuses a number.
        let kill = |pid: i32| {
            let cmd = format!(
                "cd {} && {{ {}; }}",
                quote(&dir.display().to_string()),
                kill_our_group(&pid.to_string())
            );
            std::process::Command::new(shell)
                .arg("-c")
                .arg(cmd)
                .status()
                .unwrap();
        };
        let state = |pid: i32| {
            let cmd = format!(
                "cd {} && {} && echo running || echo gone",
                quote(&dir.display().to_string()),
                leads_our_session(&pid.to_string())
            );
            let out = std::process::Command::new(shell)
                .arg("-c")
                .arg(cmd)
                .output()
                .unwrap();
            String::from_utf8(out.stdout).unwrap().trim().to_string()
        };
        assert_eq!(state(second), "running");
        assert_eq!(state(child.id() as i32), "gone", "no suite of the run");
        kill(child.id() as i32);
        assert!(alive(child.id() as i32));
        kill(second);
        assert!(gone(second));
        std::thread::sleep(std::time::Duration::from_millis(200));
        let started = std::fs::read_to_string(dir.join("started")).unwrap();
        assert_eq!(started, "1\n2\n", "one suite per attempt");
        let _ = child.kill();
        let _ = child.wait();
        let _ = std::fs::remove_dir_all(&dir);
    }

    use super::*;

    fn sh_out(cmd: &str) -> String {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(cmd)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    #[test]
    fn a_new_run_ends_suites_other_runs_left_running_but_not_its_own() {
        let dir = std::env::temp_dir().join(format!("hil-earlier-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let runs = dir.join("runs");
        let (old, own) = (runs.join("b1-1"), runs.join("b1-2"));
        for d in [&old, &own] {
            std::fs::create_dir_all(d).unwrap();
        }
        let start = |d: &Path| -> i32 {
            let cmd = start_command(&d.display().to_string(), "sleep 30", 1);
            sh_out(&cmd).trim().parse().unwrap()
        };
        let (a, b) = (start(&old), start(&own));
        let alive = |pid: i32| unsafe { libc::kill(pid, 0) } == 0;
        let end = end_earlier_runs(&runs.display().to_string(), &own.display().to_string());
        let out = sh_out(&end);
        assert_eq!(out.trim(), "ended b1-1", "{out}");
        // kill(2) is asynchronous, and init reaps the shell: poll.
        let t = Instant::now();
        while alive(a) && t.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(20));
        }
        let zombie = std::fs::read_to_string(format!("/proc/{a}/stat")).map_or(true, |st| {
            st.rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        });
        assert!(zombie, "the other run's suite was ended");
        assert!(alive(b), "this run's own suite is left");
        assert_eq!(sh_out(&end).trim(), "", "nothing left to end");
        unsafe { libc::kill(-b, libc::SIGKILL) };
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_deployed_suite_counts_only_when_its_hash_matches() {
        let dir = std::env::temp_dir().join(format!("hil-present-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let suite = dir.join("hil-suite");
        std::fs::write(&suite, vec![7u8; 100_000]).unwrap();
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&suite, std::fs::Permissions::from_mode(0o755)).unwrap();
        let hash = file_hash(&suite).unwrap();
        let check = || {
            sh_out(&format!(
                "cd {} && {}",
                quote(&dir.display().to_string()),
                suite_present(&hash)
            ))
            .trim()
            .to_string()
        };
        assert_eq!(check(), "present");
        assert!(
            std::fs::read_to_string(dir.join("hil-suite.ok"))
                .unwrap()
                .starts_with(&hash),
            "the checked hash is remembered"
        );
        assert_eq!(check(), "present", "from the stamp");
        // Edited in place, same size, its mtime put back: the ctime still moved.
        let mtime = std::fs::metadata(&suite).unwrap().modified().unwrap();
        let mut edited = vec![7u8; 100_000];
        edited[50_000] = 8;
        std::fs::write(&suite, &edited).unwrap();
        std::fs::File::options()
            .write(true)
            .open(&suite)
            .unwrap()
            .set_modified(mtime)
            .unwrap();
        assert_eq!(std::fs::metadata(&suite).unwrap().len(), 100_000);
        assert_eq!(
            check(),
            "absent",
            "a same-size edit with its mtime put back"
        );
        std::fs::write(&suite, vec![7u8; 100_000]).unwrap();
        assert_eq!(check(), "present", "the original again, hashed again");
        // Cut short under its final name (a full disk, a copy interrupted by hand).
        std::fs::write(&suite, vec![7u8; 50_000]).unwrap();
        assert_eq!(check(), "absent");
        std::fs::remove_file(&suite).unwrap();
        assert_eq!(check(), "absent");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn quoting_neutralises_shell_syntax() {
        assert_eq!(quote("plain"), "'plain'");
        assert_eq!(quote("a'b"), r"'a'\''b'");
        let hostile = "$(touch /tmp/x); `id` & rm -rf / 'q'";
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("printf %s {}", quote(hostile)))
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), hostile);
    }

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

    #[test]
    fn fingerprints_are_unpadded_base64() {
        assert_eq!(b64(b"f"), "Zg");
        assert_eq!(b64(b"fo"), "Zm8");
        assert_eq!(b64(b"foo"), "Zm9v");
        assert_eq!(b64(b"foob"), "Zm9vYg");
    }
}
