//! NvSciSync across processes through the model's NvSciIpc: every test runs its two
//! halves in two real processes (this test binary, re-executed once per role) joined by an
//! INTER_PROCESS endpoint pair of a cfg file the test writes, over a real Unix socket.
//! Each test names the header condition it checks (`nvscisync.h` 2.0 = DRIVE OS 5.2.6,
//! 2.3 = 6.0.5, 2.8 = 6.0.10; `nvsciipc.h` of the same releases). "Interpretation" marks
//! a check where the header leaves the detail to the implementation (src/export.rs).
mod common;
use common::*;
use nvsci_abi::ipc::{
    event, EndpointInfo, FenceIpcExportDescriptor as FenceDesc, ObjIpcExportDescriptor as ObjDesc,
};
use nvscisync::{ListRec, ModuleRec, ObjRec};
use std::ffi::c_void;
use std::process::{Command, Stdio};
use std::ptr::null_mut;
use std::time::{Duration, Instant};

/// `<test>:<role>` in a child; absent in the test runner's own process.
const ROLE: &str = "HIL_IPC_TEST_ROLE";
const CFG: &str = "INTER_PROCESS ipc_a ipc_b 16 4096\n\
                   INTER_PROCESS ipc_c ipc_d 16 4096 # ipc_c is never opened\n\
                   INTER_THREAD  thr_a thr_b 16 4096\n";
const LIMIT: Duration = Duration::from_secs(10);

/// Runs `role_a` and `role_b` of `test` in two child processes and fails unless both pass.
/// `env` goes to both (e.g. the model version).
fn two_processes(test: &str, env: &[(&str, &str)], role_a: fn(), role_b: fn()) {
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
fn connect(name: &str) -> u64 {
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

fn open(name: &str) -> u64 {
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

fn send(ep: u64, b: &[u8]) {
    let mut n = 0;
    let r = unsafe { model::NvSciIpcWrite(ep, b.as_ptr() as *const c_void, b.len(), &mut n) };
    assert_eq!((r, n as usize), (err::SUCCESS, b.len()));
}

fn recv(ep: u64) -> Vec<u8> {
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

unsafe fn take(buf: *mut c_void, len: usize) -> Vec<u8> {
    let v = std::slice::from_raw_parts(buf as *const u8, len).to_vec();
    model::NvSciSyncAttrListFreeDesc(buf);
    v
}

fn export_unreconciled(l: *mut ListRec, ep: u64) -> Vec<u8> {
    let (mut buf, mut len) = (null_mut(), 0);
    assert_eq!(
        unsafe { model::NvSciSyncAttrListIpcExportUnreconciled(&l, 1, ep, &mut buf, &mut len) },
        err::SUCCESS
    );
    unsafe { take(buf, len) }
}

fn import_reconciled(
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
fn reconcile_with_peer(ep: u64, m: *mut ModuleRec, p: u64) -> *mut ListRec {
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
fn offer_and_import(ep: u64, m: *mut ModuleRec, p: u64) -> (*mut ListRec, *mut ListRec) {
    let own = cpu(m, p);
    send(ep, &export_unreconciled(own, ep));
    let (code, r) = import_reconciled(m, ep, &recv(ep), &[own]);
    assert_eq!(code, err::SUCCESS);
    (own, r)
}

fn export_obj(o: *mut ObjRec, p: u64, ep: u64) -> (NvSciError, ObjDesc) {
    let mut d = ObjDesc::default();
    (unsafe { model::NvSciSyncObjIpcExport(o, p, ep, &mut d) }, d)
}

fn import_obj(ep: u64, d: &ObjDesc, l: *mut ListRec, p: u64) -> (NvSciError, *mut ObjRec) {
    let mut o = null_mut();
    (
        unsafe { model::NvSciSyncObjIpcImport(ep, d, l, p, 0, &mut o) },
        o,
    )
}

fn obj_desc(b: &[u8]) -> ObjDesc {
    let mut d = ObjDesc::default();
    for (w, c) in d.payload.iter_mut().zip(b.chunks(8)) {
        *w = u64::from_le_bytes(c.try_into().unwrap());
    }
    d
}

fn bytes_of<T: Copy>(v: &T) -> Vec<u8> {
    unsafe {
        std::slice::from_raw_parts(v as *const T as *const u8, std::mem::size_of::<T>()).to_vec()
    }
}

fn fence_desc(b: &[u8]) -> FenceDesc {
    let mut d = FenceDesc::default();
    for (w, c) in d.payload.iter_mut().zip(b.chunks(8)) {
        *w = u64::from_le_bytes(c.try_into().unwrap());
    }
    d
}

fn export_fence(f: &Fence, ep: u64) -> Vec<u8> {
    let mut d = FenceDesc::default();
    assert_eq!(
        unsafe { model::NvSciSyncIpcExportFence(f, ep, &mut d) },
        err::SUCCESS
    );
    bytes_of(&d)
}

fn import_fence(o: *mut ObjRec, b: &[u8]) -> (NvSciError, Fence) {
    let mut f = Fence::default();
    (
        unsafe { model::NvSciSyncIpcImportFence(o, &fence_desc(b), &mut f) },
        f,
    )
}

/// Signaler side of the WaitOnly flow: object allocated and exported, descriptor sent.
fn signaler_exports_wait_only(ep: u64) -> *mut ObjRec {
    let m = module();
    let r = reconcile_with_peer(ep, m, perm::SIGNAL_ONLY);
    let o = alloc(r);
    let (code, d) = export_obj(o, perm::WAIT_ONLY, ep);
    assert_eq!(code, err::SUCCESS);
    send(ep, &bytes_of(&d));
    o
}

#[test]
fn lists_cross_unreconciled_and_reconciled() {
    // ExportUnreconciled/ImportUnreconciled (2.0+; the import "is no longer writable"),
    // ExportReconciled/ImportReconciled "validates that the reconciled NvSciSyncAttrList
    // … is consistent with the constraints" of the inputs, else AttrListValidationFailed.
    two_processes(
        "lists_cross_unreconciled_and_reconciled",
        &[],
        || {
            let ep = connect("ipc_a");
            let m = module();
            let own = cpu(m, perm::SIGNAL_ONLY);
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
            assert_eq!(get_u64(theirs, key::REQUIRED_PERM), Some(perm::WAIT_ONLY));
            assert_eq!(
                set(theirs, &[pb(key::WAITER_REQUIRE_TIMESTAMPS, &true)]),
                err::BAD_PARAMETER,
                "imported list writable"
            );
            let (code, r, _) = reconcile(&[own, theirs]);
            assert_eq!(code, err::SUCCESS);
            let (mut buf, mut len) = (null_mut(), 0);
            assert_eq!(
                unsafe { model::NvSciSyncAttrListIpcExportReconciled(own, ep, &mut buf, &mut len) },
                err::BAD_PARAMETER,
                "unreconciled list exported as reconciled"
            );
            assert_eq!(
                unsafe { model::NvSciSyncAttrListIpcExportReconciled(r, ep, &mut buf, &mut len) },
                err::SUCCESS
            );
            send(ep, &unsafe { take(buf, len) });
        },
        || {
            let ep = connect("ipc_b");
            let m = module();
            let own = cpu(m, perm::WAIT_ONLY);
            send(ep, &export_unreconciled(own, ep));
            let d = recv(ep);
            let (code, r) = import_reconciled(m, ep, &d, &[own]);
            assert_eq!(code, err::SUCCESS);
            let mut rec = false;
            assert_eq!(
                unsafe { model::NvSciSyncAttrListIsReconciled(r, &mut rec) },
                err::SUCCESS
            );
            assert!(rec);
            assert_eq!(
                get_u64(r, key::ACTUAL_PERM),
                Some(perm::WAIT_ONLY),
                "ActualPerm granted to this peer"
            );
            assert_eq!(get_bool(r, key::NEED_CPU_ACCESS), Some(true));
            let signaler = cpu(m, perm::SIGNAL_ONLY);
            assert_eq!(
                import_reconciled(m, ep, &d, &[signaler]).0,
                err::ATTR_LIST_VALIDATION_FAILED
            );
        },
    );
}

#[test]
fn fences_signalled_in_one_process_are_seen_in_the_other() {
    // ObjIpcExport with WaitOnly / ObjIpcImport (2.0+); IpcExportFence/IpcImportFence per
    // signal; NvSciSyncFenceWait: Timeout "if wait did not complete in the given timeout".
    two_processes(
        "fences_signalled_in_one_process_are_seen_in_the_other",
        &[],
        || {
            let ep = connect("ipc_a");
            let o = signaler_exports_wait_only(ep);
            for _ in 0..3 {
                send(ep, &export_fence(&fence(o), ep));
                assert_eq!(recv(ep), b"waiting");
                std::thread::sleep(Duration::from_millis(20));
                assert_eq!(unsafe { model::NvSciSyncObjSignal(o) }, err::SUCCESS);
            }
            send(ep, &export_fence(&fence(o), ep)); // never signalled
            assert_eq!(recv(ep), b"done");
        },
        || {
            let ep = connect("ipc_b");
            let m = module();
            let (_, r) = offer_and_import(ep, m, perm::WAIT_ONLY);
            let (code, o) = import_obj(ep, &obj_desc(&recv(ep)), r, perm::WAIT_ONLY);
            assert_eq!(code, err::SUCCESS);
            let c = ctx(m);
            for _ in 0..3 {
                let (code, f) = import_fence(o, &recv(ep));
                assert_eq!(code, err::SUCCESS);
                assert_eq!(
                    wait(&f, c, 0),
                    err::TIMEOUT,
                    "signalled before the exporter signalled"
                );
                send(ep, b"waiting");
                assert_eq!(wait(&f, c, 10_000_000), err::SUCCESS);
            }
            let (_, f) = import_fence(o, &recv(ep));
            let t = Instant::now();
            assert_eq!(wait(&f, c, 100_000), err::TIMEOUT);
            assert!(
                t.elapsed() < Duration::from_secs(5),
                "the timed wait overran: {:?}",
                t.elapsed()
            );
            send(ep, b"done");
        },
    );
}

#[test]
fn a_waiter_only_importer_cannot_signal() {
    // NvSciSyncObjSignal: BadParameter if "syncObj is not a CPU Signaler";
    // NvSciSyncObjGenerateFence: BadParameter if "syncObj is not a CPU signaler" (2.0+).
    two_processes(
        "a_waiter_only_importer_cannot_signal",
        &[],
        || {
            let ep = connect("ipc_a");
            signaler_exports_wait_only(ep);
            assert_eq!(recv(ep), b"done");
        },
        || {
            let ep = connect("ipc_b");
            let (_, r) = offer_and_import(ep, module(), perm::WAIT_ONLY);
            let (code, o) = import_obj(ep, &obj_desc(&recv(ep)), r, perm::WAIT_ONLY);
            assert_eq!(code, err::SUCCESS);
            assert_eq!(unsafe { model::NvSciSyncObjSignal(o) }, err::BAD_PARAMETER);
            let mut f = Fence::default();
            assert_eq!(
                unsafe { model::NvSciSyncObjGenerateFence(o, &mut f) },
                err::BAD_PARAMETER
            );
            send(ep, b"done");
        },
    );
}

#[test]
fn an_object_exported_with_signal_permission_signals_the_exporter() {
    // 2.3+: ObjIpcExport "Valid value: any value of NvSciSyncAccessPerm"; BadParameter if
    // permissions "contains smaller permissions than the expected permissions requested
    // by the receiving peer".
    two_processes(
        "an_object_exported_with_signal_permission_signals_the_exporter",
        &[],
        || {
            let ep = connect("ipc_a");
            let m = module();
            let o = alloc(reconcile_with_peer(ep, m, perm::WAIT_ONLY));
            assert_eq!(
                export_obj(o, perm::WAIT_ONLY, ep).0,
                err::BAD_PARAMETER,
                "less than the peer requested"
            );
            let (code, d) = export_obj(o, perm::SIGNAL_ONLY, ep);
            assert_eq!(code, err::SUCCESS);
            send(ep, &bytes_of(&d));
            let (code, f) = import_fence(o, &recv(ep));
            assert_eq!(code, err::SUCCESS);
            assert_eq!(wait(&f, ctx(m), 10_000_000), err::SUCCESS);
        },
        || {
            let ep = connect("ipc_b");
            let (_, r) = offer_and_import(ep, module(), perm::SIGNAL_ONLY);
            let (code, o) = import_obj(ep, &obj_desc(&recv(ep)), r, perm::SIGNAL_ONLY);
            assert_eq!(code, err::SUCCESS);
            send(ep, &export_fence(&fence(o), ep));
            std::thread::sleep(Duration::from_millis(20));
            assert_eq!(unsafe { model::NvSciSyncObjSignal(o) }, err::SUCCESS);
        },
    );
}

#[test]
fn version_2_0_refuses_signal_permission_in_export() {
    // 2.0: ObjIpcExport "valid if it is set to NvSciSyncAccessPerm_WaitOnly or
    // NvSciSyncAccessPerm_Auto"; BadParameter if "permissions flag contains signaling rights".
    let v = [(model::VERSION_ENV, "2.0")];
    two_processes(
        "version_2_0_refuses_signal_permission_in_export",
        &v,
        || {
            let ep = connect("ipc_a");
            let o = alloc(reconcile_with_peer(ep, module(), perm::SIGNAL_ONLY));
            assert_eq!(export_obj(o, perm::WAIT_SIGNAL, ep).0, err::BAD_PARAMETER);
            assert_eq!(export_obj(o, perm::SIGNAL_ONLY, ep).0, err::BAD_PARAMETER);
            assert_eq!(export_obj(o, perm::WAIT_ONLY, ep).0, err::SUCCESS);
            send(ep, b"done");
        },
        || {
            let ep = connect("ipc_b");
            offer_and_import(ep, module(), perm::WAIT_ONLY);
            assert_eq!(recv(ep), b"done");
        },
    );
}

#[test]
fn export_with_more_permission_than_the_object_has_is_refused() {
    // 2.3+: ObjIpcExport BadParameter if permissions "contains larger permissions than
    // those set on NvSciSyncAttrKey_ActualPerm"; interpretation: an import asking for more
    // than the descriptor grants is "permissions is invalid".
    two_processes(
        "export_with_more_permission_than_the_object_has_is_refused",
        &[],
        || {
            let ep = connect("ipc_a");
            signaler_exports_wait_only(ep);
            assert_eq!(recv(ep), b"done");
        },
        || {
            let ep = connect("ipc_b");
            let (_, r) = offer_and_import(ep, module(), perm::WAIT_ONLY);
            let d = obj_desc(&recv(ep));
            assert_eq!(
                import_obj(ep, &d, r, perm::WAIT_SIGNAL).0,
                err::BAD_PARAMETER
            );
            let (code, o) = import_obj(ep, &d, r, perm::WAIT_ONLY);
            assert_eq!(code, err::SUCCESS);
            assert_eq!(export_obj(o, perm::WAIT_SIGNAL, ep).0, err::BAD_PARAMETER);
            send(ep, b"done");
        },
    );
}

#[test]
fn an_import_whose_input_list_does_not_match_is_refused() {
    // ObjIpcImport: inputAttrList is "the reconciled NvSciSyncAttrList returned by
    // NvSciSyncAttrListIpcImportReconciled"; 2.0: BadParameter if the input constraints
    // "are not satisfied by attributes of imported NvSciSyncObj" (interpretation: any
    // attribute but ActualPerm differs).
    two_processes(
        "an_import_whose_input_list_does_not_match_is_refused",
        &[],
        || {
            let ep = connect("ipc_a");
            signaler_exports_wait_only(ep);
            assert_eq!(recv(ep), b"done");
        },
        || {
            let ep = connect("ipc_b");
            let m = module();
            let (own, r) = offer_and_import(ep, m, perm::WAIT_ONLY);
            let d = obj_desc(&recv(ep));
            let (s, w) = (cpu(m, perm::SIGNAL_ONLY), cpu(m, perm::WAIT_ONLY));
            assert_eq!(
                set(w, &[pb(key::WAITER_REQUIRE_TIMESTAMPS, &true)]),
                err::SUCCESS
            );
            let (code, other, _) = reconcile(&[s, w]);
            assert_eq!(code, err::SUCCESS);
            assert_eq!(
                import_obj(ep, &d, other, perm::WAIT_ONLY).0,
                err::BAD_PARAMETER,
                "another reconciled list"
            );
            assert_eq!(
                import_obj(ep, &d, own, perm::WAIT_ONLY).0,
                err::BAD_PARAMETER,
                "an unreconciled list"
            );
            assert_eq!(
                import_obj(ep, &d, null_mut(), perm::WAIT_ONLY).0,
                err::BAD_PARAMETER,
                "inputAttrList is NULL"
            );
            assert_eq!(import_obj(ep, &d, r, perm::WAIT_ONLY).0, err::SUCCESS);
            send(ep, b"done");
        },
    );
}

#[test]
fn corrupted_and_replayed_descriptors_are_bad_parameters() {
    // "desc is invalid" / "do not constitute a valid exported NvSciSyncAttrList
    // descriptor" (2.0+) -> BadParameter; 2.8: a descriptor "can be used to import
    // NvSciSyncObj only once"; ImportFence BadParameter if the fence "is associated with
    // an NvSciSyncObj different from syncObj". Interpretation: a checksum mismatch, or a
    // descriptor imported on an endpoint it was not sent to, is such an invalid descriptor.
    // timeoutUs is "Unused": a bad import returns at once whatever the timeout.
    two_processes(
        "corrupted_and_replayed_descriptors_are_bad_parameters",
        &[],
        || {
            let ep = connect("ipc_a");
            let o = signaler_exports_wait_only(ep);
            send(ep, &export_fence(&fence(o), ep));
            let local = alloc(reconciled(module()).2);
            let code = export_obj(local, perm::WAIT_ONLY, ep).0;
            assert_eq!(
                code,
                err::BAD_PARAMETER,
                "an endpoint outside the object's topology (2.3+)"
            );
            assert_eq!(recv(ep), b"done");
        },
        || {
            let ep = connect("ipc_b");
            let elsewhere = open("ipc_d"); // open, never connected: its peer ipc_c is not opened
            let m = module();
            let own = cpu(m, perm::WAIT_ONLY);
            send(ep, &export_unreconciled(own, ep));
            let mut lr = recv(ep);
            assert_eq!(
                import_reconciled(m, elsewhere, &lr, &[own]).0,
                err::BAD_PARAMETER,
                "list replayed"
            );
            assert_eq!(
                import_reconciled(m, ep, &lr[..lr.len() - 1], &[own]).0,
                err::BAD_PARAMETER,
                "list truncated"
            );
            lr[20] ^= 0x40;
            assert_eq!(
                import_reconciled(m, ep, &lr, &[own]).0,
                err::BAD_PARAMETER,
                "list corrupted"
            );
            lr[20] ^= 0x40;
            let (code, r) = import_reconciled(m, ep, &lr, &[own]);
            assert_eq!(code, err::SUCCESS);

            let d = obj_desc(&recv(ep));
            let mut bad = d;
            bad.payload[3] ^= 0x2; // WaitOnly -> WaitSignal without the checksum
            assert_eq!(
                import_obj(ep, &bad, r, perm::AUTO).0,
                err::BAD_PARAMETER,
                "object corrupted"
            );
            let t = Instant::now();
            let mut o = null_mut();
            let code = unsafe {
                model::NvSciSyncObjIpcImport(elsewhere, &d, r, perm::WAIT_ONLY, 5_000_000, &mut o)
            };
            assert_eq!(
                code,
                err::BAD_PARAMETER,
                "object replayed on another endpoint"
            );
            assert!(
                t.elapsed() < Duration::from_secs(1),
                "a bad import waited {:?}",
                t.elapsed()
            );
            let (code, o) = import_obj(ep, &d, r, perm::WAIT_ONLY);
            assert_eq!(code, err::SUCCESS);
            assert_eq!(
                import_obj(ep, &d, r, perm::WAIT_ONLY).0,
                err::BAD_PARAMETER,
                "imported twice"
            );

            let mut fd = recv(ep);
            fd[16] ^= 1;
            assert_eq!(
                import_fence(o, &fd).0,
                err::BAD_PARAMETER,
                "fence corrupted"
            );
            fd[16] ^= 1;
            let (_, _, local_r) = reconciled(m);
            assert_eq!(
                import_fence(alloc(local_r), &fd).0,
                err::BAD_PARAMETER,
                "fence of another object"
            );
            assert_eq!(import_fence(o, &fd).0, err::SUCCESS);
            let cleared = import_fence(o, &[0u8; 56]);
            assert_eq!(
                cleared,
                (err::SUCCESS, Fence::default()),
                "a cleared fence's descriptor"
            );
            send(ep, b"done");
        },
    );
}

#[test]
fn list_and_object_cross_in_one_descriptor() {
    // IpcExportAttrListAndObj: BadParameter if "permissions flag contains signaling rights";
    // IpcImportAttrListAndObj: size "valid if it is bigger or equal
    // sizeof(NvSciSyncObjIpcExportDescriptor)", combines ImportReconciled and ObjIpcImport.
    two_processes(
        "list_and_object_cross_in_one_descriptor",
        &[],
        || {
            let ep = connect("ipc_a");
            let m = module();
            let own = cpu(m, perm::SIGNAL_ONLY);
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
            let o = alloc(r);
            let (mut buf, mut len) = (null_mut(), 0);
            let code = unsafe {
                model::NvSciSyncIpcExportAttrListAndObj(
                    o,
                    perm::WAIT_SIGNAL,
                    ep,
                    &mut buf,
                    &mut len,
                )
            };
            assert_eq!(code, err::BAD_PARAMETER);
            let code = unsafe {
                model::NvSciSyncIpcExportAttrListAndObj(o, perm::WAIT_ONLY, ep, &mut buf, &mut len)
            };
            assert_eq!(code, err::SUCCESS);
            let bytes = unsafe { std::slice::from_raw_parts(buf as *const u8, len).to_vec() };
            unsafe { model::NvSciSyncAttrListAndObjFreeDesc(buf) };
            send(ep, &bytes);
            send(ep, &export_fence(&fence(o), ep));
            assert_eq!(recv(ep), b"waiting");
            assert_eq!(unsafe { model::NvSciSyncObjSignal(o) }, err::SUCCESS);
        },
        || {
            let ep = connect("ipc_b");
            let m = module();
            let own = cpu(m, perm::WAIT_ONLY);
            send(ep, &export_unreconciled(own, ep));
            let d = recv(ep);
            let mut o = null_mut();
            let short = unsafe {
                model::NvSciSyncIpcImportAttrListAndObj(
                    m,
                    ep,
                    d.as_ptr() as *const c_void,
                    1023,
                    &own,
                    1,
                    perm::WAIT_ONLY,
                    0,
                    &mut o,
                )
            };
            assert_eq!(short, err::BAD_PARAMETER);
            let code = unsafe {
                model::NvSciSyncIpcImportAttrListAndObj(
                    m,
                    ep,
                    d.as_ptr() as *const c_void,
                    d.len(),
                    &own,
                    1,
                    perm::WAIT_ONLY,
                    0,
                    &mut o,
                )
            };
            assert_eq!(code, err::SUCCESS);
            let (code, f) = import_fence(o, &recv(ep));
            assert_eq!(code, err::SUCCESS);
            send(ep, b"waiting");
            assert_eq!(wait(&f, ctx(m), 10_000_000), err::SUCCESS);
        },
    );
}

#[test]
fn endpoints_open_read_and_write_as_nvsciipc_documents() {
    // nvsciipc.h: OpenEndpoint NotInitialized before NvSciIpcInit, NoSuchEntry for a name
    // not in the cfg, Busy if "already in use", NotSupported for another backend; Read
    // InsufficientMemory if "read channel is empty", BadParameter for an invalid size;
    // GetEvent READ when a frame arrived; "@pre NvSciIpcResetEndpoint() must be called".
    two_processes(
        "endpoints_open_read_and_write_as_nvsciipc_documents",
        &[],
        || {
            let mut ep = 0;
            assert_eq!(
                unsafe { model::NvSciIpcOpenEndpoint(c"ipc_a".as_ptr(), &mut ep) },
                err::NOT_INITIALIZED
            );
            assert_eq!(model::NvSciIpcInit(), err::SUCCESS);
            assert_eq!(
                unsafe { model::NvSciIpcOpenEndpoint(c"nope".as_ptr(), &mut ep) },
                err::NO_SUCH_ENTRY
            );
            assert_eq!(
                unsafe { model::NvSciIpcOpenEndpoint(c"thr_a".as_ptr(), &mut ep) },
                err::NOT_SUPPORTED
            );
            assert_eq!(
                unsafe { model::NvSciIpcOpenEndpoint(c"ipc_a".as_ptr(), null_mut()) },
                err::BAD_PARAMETER
            );
            assert_eq!(
                unsafe { model::NvSciIpcOpenEndpoint(c"ipc_a".as_ptr(), &mut ep) },
                err::SUCCESS
            );
            let mut again = 0;
            assert_eq!(
                unsafe { model::NvSciIpcOpenEndpoint(c"ipc_a".as_ptr(), &mut again) },
                err::BUSY
            );
            let mut info = EndpointInfo::default();
            assert_eq!(
                unsafe { model::NvSciIpcGetEndpointInfo(ep, &mut info) },
                err::SUCCESS
            );
            assert_eq!(
                info,
                EndpointInfo {
                    nframes: 16,
                    frame_size: 4096
                }
            );
            let (mut buf, mut n) = ([0u8; 8], 0);
            let read = |ep, buf: &mut [u8; 8], n: &mut i32| unsafe {
                model::NvSciIpcRead(ep, buf.as_mut_ptr() as *mut c_void, 8, n)
            };
            assert_eq!(
                read(ep, &mut buf, &mut n),
                err::INVALID_STATE,
                "read before reset"
            );
            model::NvSciIpcResetEndpoint(ep);
            assert_eq!(read(ep, &mut buf, &mut n), err::INSUFFICIENT_MEMORY);
            let big = vec![0u8; 4097];
            let code = unsafe {
                model::NvSciIpcWrite(ep, big.as_ptr() as *const c_void, big.len(), &mut n)
            };
            assert_eq!(code, err::BAD_PARAMETER, "a frame larger than frame_size");
            let deadline = Instant::now() + LIMIT;
            let mut ev = 0;
            while ev & event::CONN_EST == 0 {
                assert_eq!(
                    unsafe { model::NvSciIpcGetEvent(ep, &mut ev) },
                    err::SUCCESS
                );
                assert!(Instant::now() < deadline, "no connection");
                std::thread::sleep(Duration::from_millis(2));
            }
            send(ep, b"go"); // the peer writes only now: the read above met an empty channel
            ev = 0;
            while ev & event::READ == 0 {
                assert_eq!(
                    unsafe { model::NvSciIpcGetEvent(ep, &mut ev) },
                    err::SUCCESS
                );
                assert!(Instant::now() < deadline, "no READ event");
                std::thread::sleep(Duration::from_millis(2));
            }
            assert_eq!(read(ep, &mut buf, &mut n), err::SUCCESS);
            assert_eq!(&buf[..n as usize], b"ping");
            send(ep, b"pong");
            assert_eq!(recv(ep), b"bye");
            model::NvSciIpcCloseEndpoint(ep);
            model::NvSciIpcDeinit();
        },
        || {
            let ep = connect("ipc_b");
            assert_eq!(recv(ep), b"go");
            assert_eq!(model::NvSciIpcInit(), err::SUCCESS, "a second NvSciIpcInit");
            let mut other = 0;
            let code = unsafe { model::NvSciIpcOpenEndpoint(c"ipc_a".as_ptr(), &mut other) };
            assert_eq!(code, err::BUSY, "ipc_a is open in the other process");
            send(ep, b"ping");
            assert_eq!(recv(ep), b"pong");
            send(ep, b"bye");
        },
    );
}
