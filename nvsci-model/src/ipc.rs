//! NvSciIpc INTER_PROCESS endpoints between processes of one machine, as `nvsciipc.h`
//! documents them (5.2.6 … 6.0.10), over Unix sequenced-packet sockets.
//!
//! `NvSciIpcInit` reads the endpoint table from the file named by `HIL_NVSCIIPC_CFG`
//! (default `/etc/nvsciipc.cfg`, the real library's path), in that file's syntax:
//! `INTER_PROCESS <name_0> <name_1> [<nframes> <frame_size> [<gid>]]`, `#` comments.
//! Sockets live in `HIL_NVSCIIPC_SOCKET_DIR` (default: the cfg file's directory): the first
//! endpoint of a pair listens on `<dir>/<name_0>.sock`, the second connects to it, in any
//! order of opening; `<dir>/<name>.lock` (flock) makes an endpoint open in one process at a
//! time (`NvSciError_Busy`). Each `NvSciIpcWrite` is one packet (one frame); NvSciSync
//! export also sends packets of its own on the same socket (an object's memfd, SCM_RIGHTS),
//! which `NvSciIpcRead` never returns.
//!
//! The model connects without the real library's reset handshake: `NvSciIpcResetEndpoint`
//! is required before Read/Write/GetEvent (InvalidState otherwise) but only marks the
//! endpoint ready. There is no `NvSciIpcGetLinuxEventFd`: applications poll `NvSciIpcGetEvent`.
#![allow(clippy::missing_safety_doc)]

use nvsci_abi::ipc::{
    event, Endpoint as Handle, EndpointInfo, CFG_INTER_PROCESS, MAX_ENDPOINT_NAME,
};
use nvsci_abi::{err, NvSciError};
use std::collections::{HashMap, VecDeque};
use std::ffi::{c_char, c_void, CStr};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

pub const CFG_ENV: &str = "HIL_NVSCIIPC_CFG";
pub const SOCKET_DIR_ENV: &str = "HIL_NVSCIIPC_SOCKET_DIR";
const DEFAULT_CFG: &str = "/etc/nvsciipc.cfg";
/// Used when a cfg line leaves out `<nframes> <frame_size>`.
const DEFAULT_INFO: EndpointInfo = EndpointInfo {
    nframes: 64,
    frame_size: 1536,
};
/// The largest frame the model takes from a cfg line (it buffers a frame per read): a
/// larger one makes the cfg malformed. The model's own bound, not the library's.
const MAX_FRAME_SIZE: u32 = 1 << 20;
/// First byte of every packet: application data, or an object's memfd for NvSciSync.
const DATA: u8 = b'D';
const SHARE: u8 = b'F';

struct CfgEntry {
    peer: String,
    /// The first name of its pair: it listens, its peer connects.
    listens: bool,
    /// Only INTER_PROCESS is modelled; other backends' names answer NotSupported.
    inter_process: bool,
    info: EndpointInfo,
}

struct Endpoint {
    name: String,
    peer: String,
    entry_info: EndpointInfo,
    sock_path: PathBuf,
    _lock: OwnedFd,
    listener: Option<OwnedFd>,
    conn: Option<OwnedFd>,
    reset_called: bool,
    est_reported: bool,
    peer_closed: bool,
    reset_reported: bool,
    frames: VecDeque<Vec<u8>>,
    shares: Vec<(u64, OwnedFd)>,
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        if self.listener.is_some() {
            let _ = std::fs::remove_file(&self.sock_path);
        }
    }
}

struct State {
    cfg: HashMap<String, CfgEntry>,
    dir: PathBuf,
    eps: HashMap<Handle, Endpoint>,
    next: Handle,
}

static STATE: Mutex<Option<State>> = Mutex::new(None);

fn state() -> std::sync::MutexGuard<'static, Option<State>> {
    STATE.lock().unwrap_or_else(|e| e.into_inner())
}

/// The endpoint table of a cfg file (`None`: a line it cannot read).
fn parse_cfg(text: &str) -> Option<HashMap<String, CfgEntry>> {
    let mut out = HashMap::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("");
        let f: Vec<&str> = line.split_whitespace().collect();
        let Some(backend) = f.first() else { continue };
        match *backend {
            "INTER_PROCESS" | "INTER_THREAD" => {
                let (a, b) = (f.get(1)?, f.get(2)?);
                let info = match (f.get(3), f.get(4)) {
                    (Some(n), Some(s)) => EndpointInfo {
                        nframes: n.parse().ok()?,
                        frame_size: s.parse().ok().filter(|s| *s <= MAX_FRAME_SIZE)?,
                    },
                    _ => DEFAULT_INFO,
                };
                let inter_process = *backend == CFG_INTER_PROCESS;
                for (me, peer, listens) in [(a, b, true), (b, a, false)] {
                    let e = CfgEntry {
                        peer: peer.to_string(),
                        listens,
                        inter_process,
                        info,
                    };
                    out.insert(me.to_string(), e);
                }
            }
            "INTER_VM" | "INTER_CHIP" => {
                let e = CfgEntry {
                    peer: String::new(),
                    listens: false,
                    inter_process: false,
                    info: DEFAULT_INFO,
                };
                out.insert(f.get(1)?.to_string(), e);
            }
            _ => return None,
        }
    }
    Some(out)
}

/// "Parses the NvSciIpc configuration file"; `NvSciError_NotPermitted` ("initialization
/// has failed") when the file cannot be read or parsed. A second call keeps the table.
#[no_mangle]
pub extern "C" fn NvSciIpcInit() -> NvSciError {
    let mut st = state();
    if st.is_some() {
        return err::SUCCESS;
    }
    let cfg_path = PathBuf::from(std::env::var_os(CFG_ENV).unwrap_or(DEFAULT_CFG.into()));
    let Some(cfg) = std::fs::read_to_string(&cfg_path)
        .ok()
        .and_then(|t| parse_cfg(&t))
    else {
        eprintln!(
            "nvsciipc model: cannot read an endpoint table from {}",
            cfg_path.display()
        );
        return err::NOT_PERMITTED;
    };
    let dir = match std::env::var_os(SOCKET_DIR_ENV) {
        Some(d) => PathBuf::from(d),
        None => cfg_path.parent().unwrap_or(Path::new(".")).to_path_buf(),
    };
    if std::fs::create_dir_all(&dir).is_err() {
        return err::NOT_PERMITTED;
    }
    *st = Some(State {
        cfg,
        dir,
        eps: HashMap::new(),
        next: 0x4849_4c00_0000_0001,
    });
    err::SUCCESS
}

/// Closes every endpoint still open and forgets the table.
#[no_mangle]
pub extern "C" fn NvSciIpcDeinit() {
    *state() = None;
}

fn seqpacket() -> Option<OwnedFd> {
    let fd = unsafe {
        libc::socket(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    };
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd) })
}

fn sockaddr(path: &Path) -> Option<(libc::sockaddr_un, libc::socklen_t)> {
    let mut a: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    a.sun_family = libc::AF_UNIX as libc::sa_family_t;
    let bytes = path.as_os_str().as_encoded_bytes();
    if bytes.len() >= a.sun_path.len() {
        return None;
    }
    for (d, s) in a.sun_path.iter_mut().zip(bytes) {
        *d = *s as c_char;
    }
    Some((
        a,
        std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t,
    ))
}

fn listen_on(path: &Path) -> Option<OwnedFd> {
    let (a, len) = sockaddr(path)?;
    let fd = seqpacket()?;
    let _ = std::fs::remove_file(path); // a stale socket of an earlier holder of the lock
    let ok = unsafe {
        libc::bind(fd.as_raw_fd(), &a as *const _ as *const libc::sockaddr, len) == 0
            && libc::listen(fd.as_raw_fd(), 1) == 0
    };
    ok.then_some(fd)
}

fn lock(path: &Path) -> Result<OwnedFd, NvSciError> {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())
        .map_err(|_| err::BAD_PARAMETER)?;
    let fd = unsafe {
        libc::open(
            c.as_ptr(),
            libc::O_RDWR | libc::O_CREAT | libc::O_CLOEXEC,
            0o600,
        )
    };
    if fd < 0 {
        return Err(err::INVALID_STATE);
    }
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    if unsafe { libc::flock(fd.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        return Err(err::BUSY); // "the endpoint is already in use"
    }
    Ok(fd)
}

#[no_mangle]
pub unsafe extern "C" fn NvSciIpcOpenEndpoint(
    name: *const c_char,
    handle: *mut Handle,
) -> NvSciError {
    if name.is_null() || handle.is_null() {
        return err::BAD_PARAMETER;
    }
    let mut st = state();
    let Some(st) = st.as_mut() else {
        return err::NOT_INITIALIZED;
    };
    let name = CStr::from_ptr(name);
    if name.to_bytes().len() >= MAX_ENDPOINT_NAME {
        return err::BAD_PARAMETER;
    }
    let Ok(name) = name.to_str() else {
        return err::BAD_PARAMETER;
    };
    let Some(e) = st.cfg.get(name) else {
        return err::NO_SUCH_ENTRY;
    };
    if !e.inter_process {
        return err::NOT_SUPPORTED;
    }
    if st.eps.values().any(|ep| ep.name == name) {
        return err::BUSY;
    }
    let lock = match lock(&st.dir.join(format!("{name}.lock"))) {
        Ok(l) => l,
        Err(code) => return code,
    };
    let listens_on = if e.listens { name } else { e.peer.as_str() };
    let sock_path = st.dir.join(format!("{listens_on}.sock"));
    let listener = if e.listens {
        match listen_on(&sock_path) {
            Some(l) => Some(l),
            None => return err::INVALID_STATE,
        }
    } else {
        None
    };
    let h = st.next;
    st.next += 1;
    let ep = Endpoint {
        name: name.to_string(),
        peer: e.peer.clone(),
        entry_info: e.info,
        sock_path,
        _lock: lock,
        listener,
        conn: None,
        reset_called: false,
        est_reported: false,
        peer_closed: false,
        reset_reported: false,
        frames: VecDeque::new(),
        shares: Vec::new(),
    };
    st.eps.insert(h, ep);
    *handle = h;
    err::SUCCESS
}

#[no_mangle]
pub extern "C" fn NvSciIpcCloseEndpoint(handle: Handle) {
    if let Some(st) = state().as_mut() {
        st.eps.remove(&handle);
    }
}

#[no_mangle]
pub extern "C" fn NvSciIpcResetEndpoint(handle: Handle) {
    if let Some(ep) = state().as_mut().and_then(|st| st.eps.get_mut(&handle)) {
        ep.reset_called = true;
    }
}

/// Connects if the peer is there, then moves every packet waiting on the socket into
/// the endpoint's queues.
fn progress(ep: &mut Endpoint) {
    if ep.conn.is_none() && !ep.peer_closed {
        ep.conn = match &ep.listener {
            Some(l) => {
                let fd = unsafe {
                    libc::accept4(
                        l.as_raw_fd(),
                        std::ptr::null_mut(),
                        std::ptr::null_mut(),
                        libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                    )
                };
                (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd) })
            }
            None => connect(&ep.sock_path),
        };
    }
    let Some(conn) = &ep.conn else { return };
    let mut buf = vec![0u8; ep.entry_info.frame_size as usize + 64];
    while let Some((n, fd)) = recv(conn.as_raw_fd(), &mut buf) {
        match (n, buf.first(), fd) {
            (0, _, _) => {
                ep.peer_closed = true; // EOF: the peer closed or exited
                break;
            }
            (_, Some(&DATA), None) => ep.frames.push_back(buf[1..n].to_vec()),
            (9, Some(&SHARE), Some(fd)) => {
                let mut t = [0u8; 8];
                t.copy_from_slice(&buf[1..9]);
                ep.shares.push((u64::from_le_bytes(t), fd));
            }
            _ => {} // not a packet this model sends: dropped (its fd closes)
        }
    }
}

fn connect(path: &Path) -> Option<OwnedFd> {
    let (a, len) = sockaddr(path)?;
    let fd = seqpacket()?;
    let r = unsafe { libc::connect(fd.as_raw_fd(), &a as *const _ as *const libc::sockaddr, len) };
    (r == 0).then_some(fd)
}

/// One packet: its length and the fd it carried; `None` when nothing is waiting.
fn recv(fd: i32, buf: &mut [u8]) -> Option<(usize, Option<OwnedFd>)> {
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr() as *mut c_void,
        iov_len: buf.len(),
    };
    let mut cbuf = [0u64; 8];
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr() as *mut c_void;
    msg.msg_controllen = std::mem::size_of_val(&cbuf) as _;
    let n = unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_DONTWAIT | libc::MSG_CMSG_CLOEXEC) };
    if n < 0 {
        return None;
    }
    let mut got = None;
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                let raw = std::ptr::read_unaligned(libc::CMSG_DATA(c) as *const i32);
                got = Some(OwnedFd::from_raw_fd(raw));
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    Some((n as usize, got))
}

fn send(fd: i32, bytes: &[u8], share: Option<BorrowedFd>) -> std::io::Result<()> {
    let mut iov = libc::iovec {
        iov_base: bytes.as_ptr() as *mut c_void,
        iov_len: bytes.len(),
    };
    let mut cbuf = [0u64; 8];
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    if let Some(s) = share {
        msg.msg_control = cbuf.as_mut_ptr() as *mut c_void;
        msg.msg_controllen = unsafe { libc::CMSG_SPACE(4) } as _;
        unsafe {
            let c = libc::CMSG_FIRSTHDR(&msg);
            (*c).cmsg_level = libc::SOL_SOCKET;
            (*c).cmsg_type = libc::SCM_RIGHTS;
            (*c).cmsg_len = libc::CMSG_LEN(4) as _;
            std::ptr::write_unaligned(libc::CMSG_DATA(c) as *mut i32, s.as_raw_fd());
        }
    }
    let n = unsafe { libc::sendmsg(fd, &msg, libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL) };
    if n < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// The open endpoint `handle`, for a call documented with NotInitialized and
/// BadParameter ("an invalid handle").
fn with<T>(
    handle: Handle,
    f: impl FnOnce(&mut Endpoint) -> Result<T, NvSciError>,
) -> Result<T, NvSciError> {
    let mut st = state();
    let st = st.as_mut().ok_or(err::NOT_INITIALIZED)?;
    let ep = st.eps.get_mut(&handle).ok_or(err::BAD_PARAMETER)?;
    f(ep)
}

fn code(r: Result<(), NvSciError>) -> NvSciError {
    r.err().unwrap_or(err::SUCCESS)
}

#[no_mangle]
pub unsafe extern "C" fn NvSciIpcGetEndpointInfo(
    handle: Handle,
    info: *mut EndpointInfo,
) -> NvSciError {
    if info.is_null() {
        return err::BAD_PARAMETER;
    }
    code(with(handle, |ep| {
        *info = ep.entry_info;
        Ok(())
    }))
}

#[no_mangle]
pub unsafe extern "C" fn NvSciIpcGetEvent(handle: Handle, events: *mut u32) -> NvSciError {
    if events.is_null() {
        return err::BAD_PARAMETER;
    }
    code(with(handle, |ep| {
        if !ep.reset_called {
            return Err(err::INVALID_STATE); // "@pre NvSciIpcResetEndpoint() must be called"
        }
        progress(ep);
        let mut ev = 0;
        if ep.conn.is_some() && !ep.est_reported {
            ep.est_reported = true;
            // "CONN_EST is always combined with WRITE"
            ev |= event::CONN_EST | event::WRITE | event::WRITE_EMPTY;
        }
        if !ep.frames.is_empty() {
            ev |= event::READ;
        }
        if ep.peer_closed && ep.frames.is_empty() && !ep.reset_reported {
            ep.reset_reported = true;
            ev = event::CONN_RESET; // "CONN_RESET cannot be combined with any other events"
        }
        *events = ev;
        Ok(())
    }))
}

#[no_mangle]
pub unsafe extern "C" fn NvSciIpcRead(
    handle: Handle,
    buf: *mut c_void,
    size: usize,
    bytes: *mut i32,
) -> NvSciError {
    if buf.is_null() || bytes.is_null() {
        return err::BAD_PARAMETER;
    }
    code(with(handle, |ep| {
        if !ep.reset_called {
            return Err(err::INVALID_STATE);
        }
        if size == 0 || size > ep.entry_info.frame_size as usize {
            return Err(err::BAD_PARAMETER); // "an invalid … size"
        }
        progress(ep);
        let Some(frame) = ep.frames.pop_front() else {
            return Err(if ep.peer_closed {
                err::CONNECTION_RESET
            } else {
                err::INSUFFICIENT_MEMORY // "read channel is empty"
            });
        };
        let n = size.min(frame.len());
        std::ptr::copy_nonoverlapping(frame.as_ptr(), buf as *mut u8, n);
        *bytes = n as i32;
        Ok(())
    }))
}

#[no_mangle]
pub unsafe extern "C" fn NvSciIpcWrite(
    handle: Handle,
    buf: *const c_void,
    size: usize,
    bytes: *mut i32,
) -> NvSciError {
    if buf.is_null() || bytes.is_null() {
        return err::BAD_PARAMETER;
    }
    code(with(handle, |ep| {
        if !ep.reset_called {
            return Err(err::INVALID_STATE);
        }
        if size == 0 || size > ep.entry_info.frame_size as usize {
            return Err(err::BAD_PARAMETER);
        }
        progress(ep);
        let Some(conn) = &ep.conn else {
            return Err(err::CONNECTION_RESET); // not (or no longer) connected
        };
        let mut packet = Vec::with_capacity(size + 1);
        packet.push(DATA);
        packet.extend_from_slice(std::slice::from_raw_parts(buf as *const u8, size));
        match send(conn.as_raw_fd(), &packet, None) {
            Ok(()) => {
                *bytes = size as i32;
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Err(err::INSUFFICIENT_MEMORY),
            Err(_) => Err(err::CONNECTION_RESET),
        }
    }))
}

/// The local and the peer endpoint's names, for NvSciSync's checks ("ipcEndpoint is not a
/// valid NvSciIpcEndpoint" is BadParameter there).
pub(crate) fn names(handle: Handle) -> Result<(String, String), NvSciError> {
    with(handle, |ep| Ok((ep.name.clone(), ep.peer.clone()))).map_err(|_| err::BAD_PARAMETER)
}

/// Sends an object's memfd to the peer under `token` ("something went wrong with
/// NvSciIpc" is ResourceError for the export calls).
pub(crate) fn share(handle: Handle, token: u64, fd: BorrowedFd) -> Result<(), NvSciError> {
    with(handle, |ep| {
        progress(ep);
        let conn = ep.conn.as_ref().ok_or(err::RESOURCE_ERROR)?;
        let mut packet = vec![SHARE];
        packet.extend_from_slice(&token.to_le_bytes());
        send(conn.as_raw_fd(), &packet, Some(fd)).map_err(|_| err::RESOURCE_ERROR)
    })
    .map_err(|e| {
        if e == err::NOT_INITIALIZED {
            err::BAD_PARAMETER
        } else {
            e
        }
    })
}

/// The memfd the peer sent under `token` on this endpoint, taken (an export descriptor
/// imports once).
pub(crate) fn take_share(handle: Handle, token: u64) -> Option<OwnedFd> {
    with(handle, |ep| {
        progress(ep);
        let i = ep
            .shares
            .iter()
            .position(|s| s.0 == token)
            .ok_or(err::BAD_PARAMETER)?;
        Ok(ep.shares.remove(i).1)
    })
    .ok()
}
