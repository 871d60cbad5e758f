//! An object's timeline in memory another process can map: a page of a memfd holding the
//! signal counter, the next fence value and a futex word. Exporting an object passes the
//! memfd over the endpoint's socket (SCM_RIGHTS), so the importer's handle signals and
//! waits on the same counter as the exporter's.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Instant;

#[repr(C)]
struct Page {
    /// Identifies the object across processes: fences and descriptors name it.
    id: AtomicU64,
    /// Signals so far; fence N is reached once this is at least N.
    counter: AtomicU64,
    /// The last fence value handed out (NvSciSyncObjGenerateFence).
    next: AtomicU64,
    /// Bumped on every signal, after `counter`: waiters sleep on it (a futex is 32 bits).
    seq: AtomicU32,
}

const PAGE: usize = 4096;

pub struct Timeline {
    fd: OwnedFd,
    page: *mut Page,
}

// The page is only reached through atomics.
unsafe impl Send for Timeline {}
unsafe impl Sync for Timeline {}

pub fn random_u64() -> u64 {
    let mut v = 0u64;
    // getrandom(2) of 8 bytes does not fail short on Linux; a zero id is still usable.
    unsafe { libc::getrandom(&mut v as *mut u64 as *mut libc::c_void, 8, 0) };
    v
}

impl Timeline {
    /// A new timeline, counter 0, with a fresh random id.
    pub fn new() -> io::Result<Timeline> {
        let raw = unsafe { libc::memfd_create(c"nvscisync-model-obj".as_ptr(), libc::MFD_CLOEXEC) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        if unsafe { libc::ftruncate(fd.as_raw_fd(), PAGE as libc::off_t) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let t = Timeline::map(fd)?;
        t.page().id.store(random_u64(), Ordering::SeqCst);
        Ok(t)
    }

    /// The timeline behind a memfd received from another process.
    pub fn map(fd: OwnedFd) -> io::Result<Timeline> {
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        if unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } != 0 {
            return Err(io::Error::last_os_error());
        }
        if st.st_size < PAGE as libc::off_t {
            return Err(io::Error::from(io::ErrorKind::InvalidData));
        }
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                PAGE,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Timeline {
            fd,
            page: p as *mut Page,
        })
    }

    fn page(&self) -> &Page {
        unsafe { &*self.page }
    }

    pub fn id(&self) -> u64 {
        self.page().id.load(Ordering::SeqCst)
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// The next fence value on this timeline (shared by every process that has it).
    pub fn next_value(&self) -> u64 {
        self.page().next.fetch_add(1, Ordering::SeqCst) + 1
    }

    pub fn signal(&self) {
        let p = self.page();
        p.counter.fetch_add(1, Ordering::SeqCst);
        p.seq.fetch_add(1, Ordering::SeqCst);
        // Shared (not FUTEX_PRIVATE) wake: waiters may be in another process.
        unsafe {
            libc::syscall(
                libc::SYS_futex,
                &p.seq as *const AtomicU32,
                libc::FUTEX_WAKE,
                i32::MAX,
            );
        }
    }

    /// Waits until the counter reaches `target`; `false` once `deadline` has passed.
    pub fn wait(&self, target: u64, deadline: Option<Instant>) -> bool {
        let p = self.page();
        loop {
            let seq = p.seq.load(Ordering::SeqCst);
            if p.counter.load(Ordering::SeqCst) >= target {
                return true;
            }
            let ts = match deadline {
                None => None,
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return false;
                    }
                    Some(libc::timespec {
                        tv_sec: left.as_secs() as libc::time_t,
                        tv_nsec: left.subsec_nanos() as libc::c_long,
                    })
                }
            };
            let tsp = ts
                .as_ref()
                .map_or(std::ptr::null(), |t| t as *const libc::timespec);
            // Returns at once if `seq` moved since it was read: no lost wake-up.
            unsafe {
                libc::syscall(
                    libc::SYS_futex,
                    &p.seq as *const AtomicU32,
                    libc::FUTEX_WAIT,
                    seq,
                    tsp,
                );
            }
        }
    }
}

impl Drop for Timeline {
    fn drop(&mut self) {
        unsafe { libc::munmap(self.page as *mut libc::c_void, PAGE) };
    }
}
