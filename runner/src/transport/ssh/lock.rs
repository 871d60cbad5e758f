//! The on-board lock: a directory `mkdir` takes atomically, with an owner that says which
//! run holds it; waited for, broken when stale or asked to, and removed only by its owner.

use super::connection::exec;
use super::remote_shell::quote;
use super::SshBoard;
use std::time::{Duration, Instant};

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

/// Removes the lock at `path` if `owner` still holds it ("unknown": one with no owner).
pub(super) fn remove_lock_if_owned(path: &str, owner: &str) -> String {
    format!(
        "if [ \"$(cat {l}/owner 2>/dev/null || echo unknown)\" = {o} ]; then rm -rf {l}; fi",
        l = quote(path),
        o = quote(owner)
    )
}

impl SshBoard {
    pub(super) fn lock_path(&self) -> String {
        format!("{}/lock", self.spec.workdir)
    }

    /// Takes the board: `mkdir` is atomic on the board's filesystem, whoever runs it.
    /// Every board, a labgrid place too: one host under two place names, or a place whose
    /// reservation was lost, must still never run two suites.
    pub(super) fn acquire(&mut self) -> anyhow::Result<()> {
        let path = self.lock_path();
        let owner = self.new_owner();
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
            let holder = Holder::seen(out.trim());
            if let Some(why) = self.breaks(&holder) {
                crate::errln!(
                    "hil-run: {}: breaking the lock held by {} ({why})",
                    self.spec.name,
                    holder.owner
                );
                // Only the lock just seen: a rerun after a dropped answer must not remove
                // a lock another run took in between.
                self.conn
                    .lock()
                    .exec_ok(&remove_lock_if_owned(&path, &holder.owner))?;
                self.lock.break_stale = false;
                continue;
            }
            if Instant::now() >= deadline {
                return Err(self.refusal(holder, path).into());
            }
            // A wait of up to 30 min must not look like a hang.
            if told.is_none_or(|t| t.elapsed() >= Duration::from_secs(60)) {
                crate::errln!(
                    "hil-run: {}: {} ({}); waiting ({} s of --lock-wait {} s)",
                    self.spec.name,
                    holder.held(),
                    holder.owner,
                    started.elapsed().as_secs(),
                    self.lock.wait_s
                );
                told = Some(Instant::now());
            }
            crate::interrupt::sleep(Duration::from_secs(2))?;
        }
    }

    /// The owner this board of this run writes into the lock. Unique per board of this
    /// process: a second board of the same run (two names for one host) that finds it
    /// must see a lock it does not hold.
    fn new_owner(&self) -> String {
        format!(
            "runner={} pid={} since_unix={} board={} session={} {}",
            crate::facts_host(),
            std::process::id(),
            now_ms() / 1000,
            self.spec.name,
            LOCK_SESSIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            pid_scope()
        )
    }

    /// Why the lock `holder` holds is broken now, if it is: a stale one always, another
    /// run's with `--break-lock` (a live one only with `--break-live-lock`).
    fn breaks(&self, holder: &Holder) -> Option<String> {
        let forced = holder.mine.is_none()
            && self.lock.break_stale
            && (holder.alive.is_none() || self.lock.break_live);
        if !forced && holder.stale.is_none() {
            return None;
        }
        Some(match (holder.stale, holder.alive) {
            (Some(pid), _) => format!("stale: its run (pid {pid} on this host) is gone"),
            (None, Some(pid)) => format!(
                "--break-live-lock: its run (pid {pid} on this host) is still alive and \
                 will stop with its unfinished cases marked"
            ),
            (None, None) => "--break-lock".to_string(),
        })
    }

    /// The lock at `path` stays `holder`'s: what the user is told, and can do.
    fn refusal(&self, holder: Holder, path: String) -> BoardLocked {
        let waited = if self.lock.wait_s > 0 {
            format!(", still after waiting {} s", self.lock.wait_s)
        } else {
            String::new()
        };
        let advice = match holder.alive {
            _ if holder.mine.is_some() => "the inventory gives both names the same host and \
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
        BoardLocked {
            board: self.spec.name.clone(),
            held: holder.held(),
            owner: holder.owner,
            path,
            waited,
            advice,
        }
    }
}

/// Whoever holds a lock this run found taken, as far as this host can tell.
struct Holder {
    /// What its owner file says ("unknown": none).
    owner: String,
    /// Its run's pid, when that run is certainly gone.
    stale: Option<u32>,
    /// Its run's pid, when that run is certainly alive.
    alive: Option<u32>,
    /// The board this very run holds it for, under another name.
    mine: Option<String>,
}

impl Holder {
    fn seen(owner: &str) -> Holder {
        Holder {
            owner: owner.to_string(),
            stale: stale_here(owner),
            alive: alive_here(owner),
            // This run's own lock for another board name is never broken: that board runs.
            mine: held_by_this_run(owner),
        }
    }

    /// Who holds it, in words.
    fn held(&self) -> String {
        match &self.mine {
            Some(b) => format!("held by this run for board {b}: two names for one board?"),
            None => "locked by another run".to_string(),
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
