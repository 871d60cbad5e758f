//! Whether a file descriptor handed to a driver was closed by it, judged by the identity
//! of the open file, not by the descriptor number: in a process where other cases open
//! and close fds at the same time, a number closed by CUDA can be reused at once, and
//! "fd 130 is still open" would then be a false failure.
//!
//! We keep a duplicate of the descriptor and ask the kernel (kcmp(2), KCMP_FILE) whether
//! the number still refers to the same open file description as the duplicate.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::OnceLock;

const KCMP_FILE: libc::c_long = 0;

fn kcmp_file(a: RawFd, b: RawFd) -> std::io::Result<bool> {
    let pid = std::process::id() as libc::c_long;
    // SAFETY: kcmp reads only the two descriptor numbers of this process.
    let r = unsafe {
        libc::syscall(
            libc::SYS_kcmp,
            pid,
            pid,
            KCMP_FILE,
            a as libc::c_long,
            b as libc::c_long,
        )
    };
    if r < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(r == 0)
    }
}

/// `Ok` when kcmp works here (probed once on a pipe); `Err` says why not. Without it,
/// in-process cases run one at a time (see `exec::core`).
pub fn supported() -> Result<(), &'static str> {
    static S: OnceLock<Result<(), String>> = OnceLock::new();
    S.get_or_init(|| {
        let mut fds = [0; 2];
        // SAFETY: pipe2 fills two descriptors we then own.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return Err(format!("pipe2: {}", std::io::Error::last_os_error()));
        }
        let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        let d = r.try_clone().map_err(|e| format!("dup: {e}"))?;
        match (
            kcmp_file(r.as_raw_fd(), d.as_raw_fd()),
            kcmp_file(r.as_raw_fd(), w.as_raw_fd()),
        ) {
            (Ok(true), Ok(false)) => Ok(()),
            (Err(e), _) | (_, Err(e)) => Err(format!("kcmp(KCMP_FILE) unavailable: {e}")),
            _ => Err("kcmp(KCMP_FILE) gave wrong answers on a pipe".into()),
        }
    })
    .as_ref()
    .map(|_| ())
    .map_err(|s| s.as_str())
}

/// A descriptor number and a private duplicate of what it refers to.
pub struct Watched {
    raw: RawFd,
    keep: Option<OwnedFd>,
}

/// Remembers what `raw` refers to now. Call before handing `raw` over.
pub fn watch(raw: RawFd) -> Watched {
    // SAFETY: F_DUPFD_CLOEXEC only duplicates; a failure leaves nothing to close.
    let d = unsafe { libc::fcntl(raw, libc::F_DUPFD_CLOEXEC, 0) };
    let keep = (d >= 0 && supported().is_ok()).then(|| unsafe { OwnedFd::from_raw_fd(d) });
    if keep.is_none() && d >= 0 {
        unsafe { libc::close(d) };
    }
    Watched { raw, keep }
}

impl Watched {
    /// Does the number still refer to the file it referred to when watched?
    pub fn still_open(&self) -> bool {
        match &self.keep {
            Some(k) => kcmp_file(self.raw, k.as_raw_fd()).unwrap_or(false),
            // No kcmp: in-process cases run one at a time, so the number is enough.
            None => unsafe { libc::fcntl(self.raw, libc::F_GETFD) != -1 },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reused_number_is_not_mistaken_for_the_original_file() {
        supported().expect("kcmp works on the development and CI machines");
        let f = std::fs::File::open("/dev/null").unwrap();
        let raw = std::os::fd::IntoRawFd::into_raw_fd(f);
        let w = watch(raw);
        assert!(w.still_open());
        // Close it, then occupy the same number with another file, as another thread could.
        unsafe { libc::close(raw) };
        let other = std::fs::File::open("/proc/self/stat").unwrap();
        let other_raw = other.as_raw_fd();
        if other_raw == raw {
            assert!(
                !w.still_open(),
                "reused fd number judged to be the original file"
            );
        }
        drop(other);
        assert!(!w.still_open());
    }
}
