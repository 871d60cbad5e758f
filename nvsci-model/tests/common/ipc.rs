//! Two-process harness for the cross-process tests: each test's two roles run in two
//! children (the test binary re-executed) joined by an endpoint pair of a cfg file the
//! harness writes, plus the calls both roles repeat.
use super::*;
use nvsci_abi::ipc::{
    event, FenceIpcExportDescriptor as FenceDesc, ObjIpcExportDescriptor as ObjDesc,
};
use nvscisync::{ListRec, ModuleRec, ObjRec};
use std::ffi::c_void;
use std::process::{Command, Stdio};
use std::ptr::null_mut;
use std::time::{Duration, Instant};

/// `<test>:<role>` in a child; absent in the test runner's own process.
pub const ROLE: &str = "HIL_IPC_TEST_ROLE";
pub const CFG: &str = "INTER_PROCESS ipc_a ipc_b 16 4096\n\
                   INTER_PROCESS ipc_c ipc_d 16 4096 # ipc_c is never opened\n\
                   INTER_THREAD  thr_a thr_b 16 4096\n";
pub const LIMIT: Duration = Duration::from_secs(10);

/// Runs `role_a` and `role_b` of `test` in two child processes and fails unless both pass.
/// `env` goes to both (e.g. the model version).
pub fn two_processes(test: &str, env: &[(&str, &str)], role_a: fn(), role_b: fn()) {
    if let Ok(role) = std::env::var(ROLE) {
        match role.strip_prefix(test).and_then(|r| r.strip_prefix(':')) {
            Some("a") => role_a(),
            Some("b") => role_b(),
            _ => {}
        }
        return;
    }
    // Short: a socket path must fit sockaddr_un (108 bytes).
    let short = test
        .bytes()
        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    let dir = std::env::temp_dir().join(format!("hil-test-ipc-{}-{short:x}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("nvsciipc.cfg"), CFG).unwrap();
    let spawn = |role: &str| {
        let mut c = Command::new(std::env::current_exe().unwrap());
        c.args(["--exact", test, "--nocapture", "--test-threads=1"])
            .env(ROLE, format!("{test}:{role}"))
            .env(model::CFG_ENV, dir.join("nvsciipc.cfg"))
            .env_remove(model::SOCKET_DIR_ENV)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            c.env(k, v);
        }
        c.spawn().unwrap()
    };
    let children = [spawn("a"), spawn("b")];
    let deadline = Instant::now() + 4 * LIMIT;
    let mut failures = Vec::new();
    for (name, mut c) in ["a", "b"].into_iter().zip(children) {
        let status = loop {
            if let Some(s) = c.try_wait().unwrap() {
                break Some(s);
            }
            if Instant::now() > deadline {
                let _ = c.kill();
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let out = c.wait_with_output().unwrap();
        let ok = status.is_some_and(|s| s.success())
            && String::from_utf8_lossy(&out.stdout).contains("1 passed");
        if !ok {
            failures.push(format!(
                "role {name}: {status:?}\n{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Init, open `name`, reset, and wait for NV_SCI_IPC_EVENT_CONN_EST.
pub fn connect(name: &str) -> u64 {
    let ep = open(name);
    let deadline = Instant::now() + LIMIT;
    loop {
        let mut ev = 0;
        assert_eq!(
            unsafe { model::NvSciIpcGetEvent(ep, &mut ev) },
            err::SUCCESS
        );
        if ev & event::CONN_EST != 0 {
            assert!(
                ev & event::WRITE != 0,
                "CONN_EST is always combined with WRITE"
            );
            return ep;
        }
        assert!(Instant::now() < deadline, "{name}: no connection");
        std::thread::sleep(Duration::from_millis(2));
    }
}

pub fn open(name: &str) -> u64 {
    assert_eq!(model::NvSciIpcInit(), err::SUCCESS);
    let mut ep = 0;
    let c = std::ffi::CString::new(name).unwrap();
    assert_eq!(
        unsafe { model::NvSciIpcOpenEndpoint(c.as_ptr(), &mut ep) },
        err::SUCCESS
    );
    model::NvSciIpcResetEndpoint(ep);
    ep
}

pub fn send(ep: u64, b: &[u8]) {
    let mut n = 0;
    let r = unsafe { model::NvSciIpcWrite(ep, b.as_ptr() as *const c_void, b.len(), &mut n) };
    assert_eq!((r, n as usize), (err::SUCCESS, b.len()));
}

pub fn recv(ep: u64) -> Vec<u8> {
    let deadline = Instant::now() + LIMIT;
    let mut buf = vec![0u8; 4096];
    loop {
        let mut n = 0;
        match unsafe { model::NvSciIpcRead(ep, buf.as_mut_ptr() as *mut c_void, buf.len(), &mut n) }
        {
            err::SUCCESS => return buf[..n as usize].to_vec(),
            err::INSUFFICIENT_MEMORY => {} // "read channel is empty"
            other => panic!("NvSciIpcRead: {other:#x}"),
        }
        assert!(Instant::now() < deadline, "nothing to read");
        std::thread::sleep(Duration::from_millis(2));
    }
}

pub unsafe fn take(buf: *mut c_void, len: usize) -> Vec<u8> {
    let v = std::slice::from_raw_parts(buf as *const u8, len).to_vec();
    model::NvSciSyncAttrListFreeDesc(buf);
    v
}

pub fn export_unreconciled(l: *mut ListRec, ep: u64) -> Vec<u8> {
    let (mut buf, mut len) = (null_mut(), 0);
    assert_eq!(
        unsafe { model::NvSciSyncAttrListIpcExportUnreconciled(&l, 1, ep, &mut buf, &mut len) },
        err::SUCCESS
    );
    unsafe { take(buf, len) }
}

pub fn import_reconciled(
    m: *mut ModuleRec,
    ep: u64,
    d: &[u8],
    inputs: &[*mut ListRec],
) -> (NvSciError, *mut ListRec) {
    let mut r = null_mut();
    let code = unsafe {
        model::NvSciSyncAttrListIpcImportReconciled(
            m,
            ep,
            d.as_ptr() as *const c_void,
            d.len(),
            inputs.as_ptr(),
            inputs.len(),
            &mut r,
        )
    };
    (code, r)
}

/// The reconciler's half: its own CPU list `p`, the peer's list imported, reconciled, the
/// reconciled list sent back.
pub fn reconcile_with_peer(ep: u64, m: *mut ModuleRec, p: u64) -> *mut ListRec {
    let own = cpu(m, p);
    let d = recv(ep);
    let mut theirs = null_mut();
    let code = unsafe {
        model::NvSciSyncAttrListIpcImportUnreconciled(
            m,
            ep,
            d.as_ptr() as *const c_void,
            d.len(),
            &mut theirs,
        )
    };
    assert_eq!(code, err::SUCCESS);
    let (code, r, _) = reconcile(&[own, theirs]);
    assert_eq!(code, err::SUCCESS);
    let (mut buf, mut len) = (null_mut(), 0);
    assert_eq!(
        unsafe { model::NvSciSyncAttrListIpcExportReconciled(r, ep, &mut buf, &mut len) },
        err::SUCCESS
    );
    send(ep, &unsafe { take(buf, len) });
    r
}

/// The other half: its CPU list `p` sent, the reconciled list imported against it.
pub fn offer_and_import(ep: u64, m: *mut ModuleRec, p: u64) -> (*mut ListRec, *mut ListRec) {
    let own = cpu(m, p);
    send(ep, &export_unreconciled(own, ep));
    let (code, r) = import_reconciled(m, ep, &recv(ep), &[own]);
    assert_eq!(code, err::SUCCESS);
    (own, r)
}

pub fn export_obj(o: *mut ObjRec, p: u64, ep: u64) -> (NvSciError, ObjDesc) {
    let mut d = ObjDesc::default();
    (unsafe { model::NvSciSyncObjIpcExport(o, p, ep, &mut d) }, d)
}

pub fn import_obj(ep: u64, d: &ObjDesc, l: *mut ListRec, p: u64) -> (NvSciError, *mut ObjRec) {
    let mut o = null_mut();
    (
        unsafe { model::NvSciSyncObjIpcImport(ep, d, l, p, 0, &mut o) },
        o,
    )
}

pub fn obj_desc(b: &[u8]) -> ObjDesc {
    let mut d = ObjDesc::default();
    for (w, c) in d.payload.iter_mut().zip(b.chunks(8)) {
        *w = u64::from_le_bytes(c.try_into().unwrap());
    }
    d
}

pub fn bytes_of<T: Copy>(v: &T) -> Vec<u8> {
    unsafe {
        std::slice::from_raw_parts(v as *const T as *const u8, std::mem::size_of::<T>()).to_vec()
    }
}

pub fn fence_desc(b: &[u8]) -> FenceDesc {
    let mut d = FenceDesc::default();
    for (w, c) in d.payload.iter_mut().zip(b.chunks(8)) {
        *w = u64::from_le_bytes(c.try_into().unwrap());
    }
    d
}

pub fn export_fence(f: &Fence, ep: u64) -> Vec<u8> {
    let mut d = FenceDesc::default();
    assert_eq!(
        unsafe { model::NvSciSyncIpcExportFence(f, ep, &mut d) },
        err::SUCCESS
    );
    bytes_of(&d)
}

pub fn import_fence(o: *mut ObjRec, b: &[u8]) -> (NvSciError, Fence) {
    let mut f = Fence::default();
    (
        unsafe { model::NvSciSyncIpcImportFence(o, &fence_desc(b), &mut f) },
        f,
    )
}

/// Signaler side of the WaitOnly flow: object allocated and exported, descriptor sent.
pub fn signaler_exports_wait_only(ep: u64) -> *mut ObjRec {
    let m = module();
    let r = reconcile_with_peer(ep, m, perm::SIGNAL_ONLY);
    let o = alloc(r);
    let (code, d) = export_obj(o, perm::WAIT_ONLY, ep);
    assert_eq!(code, err::SUCCESS);
    send(ep, &bytes_of(&d));
    o
}
