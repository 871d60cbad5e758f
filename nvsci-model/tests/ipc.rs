//! NvSciSync across processes through the model's NvSciIpc: every test runs its two
//! halves in two real processes (this test binary, re-executed once per role) joined by an
//! INTER_PROCESS endpoint pair of a cfg file the test writes, over a real Unix socket.
//! Each test names the header condition it checks (`nvscisync.h` 2.0 = DRIVE OS 5.2.6,
//! 2.3 = 6.0.5, 2.8 = 6.0.10; `nvsciipc.h` of the same releases). "Interpretation" marks
//! a check where the header leaves the detail to the implementation (src/export.rs).
mod common;
use common::ipc::*;
use common::*;
use nvsci_abi::ipc::{event, EndpointInfo};
use std::ffi::c_void;
use std::ptr::null_mut;
use std::time::{Duration, Instant};

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

#[test]
fn an_exporter_that_exits_leaves_the_importer_waiting_only_to_its_timeout() {
    // Model behaviour where the headers leave it undefined (the exporter frees its object
    // and exits while the importer holds it): nvsciipc.h's CONN_RESET event and
    // ConnectionReset ("the endpoint is being reset") on the importer's side, and a wait on
    // the imported fence that ends by its timeout, never by a crash.
    two_processes(
        "an_exporter_that_exits_leaves_the_importer_waiting_only_to_its_timeout",
        &[],
        || {
            let ep = connect("ipc_a");
            let o = signaler_exports_wait_only(ep);
            send(ep, &export_fence(&fence(o), ep));
            unsafe { model::NvSciSyncObjFree(o) };
        },
        || {
            let ep = connect("ipc_b");
            let m = module();
            let (_, r) = offer_and_import(ep, m, perm::WAIT_ONLY);
            let (code, o) = import_obj(ep, &obj_desc(&recv(ep)), r, perm::WAIT_ONLY);
            assert_eq!(code, err::SUCCESS);
            let (code, f) = import_fence(o, &recv(ep));
            assert_eq!(code, err::SUCCESS);
            let deadline = Instant::now() + LIMIT;
            let mut ev = 0;
            while ev != event::CONN_RESET {
                assert_eq!(
                    unsafe { model::NvSciIpcGetEvent(ep, &mut ev) },
                    err::SUCCESS
                );
                assert!(
                    Instant::now() < deadline,
                    "no CONN_RESET after the peer exited"
                );
                std::thread::sleep(Duration::from_millis(2));
            }
            let (mut buf, mut n) = ([0u8; 8], 0);
            let code =
                unsafe { model::NvSciIpcRead(ep, buf.as_mut_ptr() as *mut c_void, 8, &mut n) };
            assert_eq!(code, err::CONNECTION_RESET);
            let t = Instant::now();
            assert_eq!(wait(&f, ctx(m), 100_000), err::TIMEOUT);
            assert!(
                t.elapsed() < Duration::from_secs(5),
                "waited {:?}",
                t.elapsed()
            );
        },
    );
}
