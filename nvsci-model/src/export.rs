//! NvSciSync across processes: attribute lists, objects and fences exported through an
//! NvSciIpc endpoint and imported on its peer, with the conditions `nvscisync.h` documents
//! (2.0 … 2.8; every call here is declared from 2.0 on). An exported object's timeline
//! travels as a memfd on the endpoint's socket (`ipc::share`), so the importer's handle
//! signals and waits on the exporter's counter.
//!
//! Where the header leaves the check to the implementation, the model reads it so (each
//! marked "interpretation" below): a descriptor names the endpoint it was exported through
//! and the peer it is for, and carries a checksum; "desc is invalid" covers a corrupted
//! descriptor, one imported on an endpoint it was not sent to, and an object descriptor
//! imported a second time (2.8: "can be used to import NvSciSyncObj only once").
#![allow(clippy::missing_safety_doc)]

use crate::wire::{self, ListDesc, FENCE_MAGIC, OBJ_MAGIC};
use crate::{documented_from, duplicates, fence, get, ipc, obj_handle, register, shared};
use crate::{Kind, ListRec, ModuleRec, ObjInner, ObjRec};
use nvsci_abi::ipc::{
    Endpoint, FenceIpcExportDescriptor, ObjIpcExportDescriptor, SIGNAL_EXPORT_SINCE_MINOR,
};
use nvsci_abi::{err, perm, Fence, NvSciError};
use std::ffi::c_void;
use std::sync::Arc;

type R<T> = Result<T, NvSciError>;
const BP: NvSciError = err::BAD_PARAMETER;

fn done(r: R<()>) -> NvSciError {
    r.err().unwrap_or(err::SUCCESS)
}

fn check(ok: bool) -> R<()> {
    if ok {
        Ok(())
    } else {
        Err(BP)
    }
}

/// (this endpoint's tag, its peer's tag); BadParameter for an endpoint that is not open.
fn tags(ep: Endpoint) -> R<(u64, u64)> {
    let (me, peer) = ipc::names(ep)?;
    Ok((wire::tag(&me), wire::tag(&peer)))
}

/// A descriptor buffer the caller frees with NvSciSyncAttrListFreeDesc (libc's heap, so
/// any allocator can hand it back).
unsafe fn hand_out(bytes: &[u8], buf: *mut *mut c_void, len: *mut usize) -> R<()> {
    let p = libc::malloc(bytes.len()) as *mut u8;
    if p.is_null() {
        return Err(err::INSUFFICIENT_MEMORY);
    }
    std::ptr::copy_nonoverlapping(bytes.as_ptr(), p, bytes.len());
    *buf = p as *mut c_void;
    *len = bytes.len();
    Ok(())
}

unsafe fn lists<'a>(arr: *const *mut ListRec, n: usize) -> Vec<&'a ListRec> {
    if n == 0 {
        return Vec::new();
    }
    std::slice::from_raw_parts(arr, n)
        .iter()
        .map(|p| &*get(*p, Kind::List, "NvSciSyncAttrList"))
        .collect()
}

/// Unreconciled input lists of one module, none given twice (the duplicate rule is
/// written from the 2.8 header on, as for Reconcile).
unsafe fn unreconciled_inputs<'a>(
    arr: *const *mut ListRec,
    n: usize,
    module: Option<u64>,
) -> R<Vec<&'a ListRec>> {
    let ls = lists(arr, n);
    let module = module.or(ls.first().map(|l| l.module));
    check(ls.iter().all(|l| !l.reconciled && Some(l.module) == module))?;
    if n > 0 && documented_from(8) {
        check(!duplicates(std::slice::from_raw_parts(arr, n)))?;
    }
    Ok(ls)
}

#[no_mangle]
pub unsafe extern "C" fn NvSciSyncAttrListIpcExportUnreconciled(
    arr: *const *mut ListRec,
    n: usize,
    ep: Endpoint,
    buf: *mut *mut c_void,
    len: *mut usize,
) -> NvSciError {
    done((|| {
        check(!arr.is_null() && n > 0 && !buf.is_null() && !len.is_null())?;
        let (me, peer) = tags(ep)?;
        let ls = unreconciled_inputs(arr, n, None)?;
        if ls.len() > 1 {
            // The model's lists have one slot: it cannot build the multi-slot list the
            // importer would get.
            return Err(err::NOT_SUPPORTED);
        }
        let body = wire::encode_list(ls[0]);
        let d = ListDesc {
            reconciled: false,
            from: me,
            to: peer,
            perm: 0,
            body,
        };
        hand_out(&wire::encode_list_desc(&d), buf, len)
    })())
}

/// What a reconciled list grants the peer behind endpoint `me`: what that peer's lists
/// required in the reconciliation, or the list's ActualPerm if no list came from there.
fn granted_to(l: &ListRec, me: u64) -> u64 {
    l.peers
        .iter()
        .find(|p| p.0 == me)
        .map_or(l.actual.unwrap_or(0), |p| p.1)
}

fn export_reconciled(l: &ListRec, me: u64, peer: u64, grant: u64) -> R<Vec<u8>> {
    check(l.reconciled)?;
    // "reconciledAttrList does not correspond to a waiter or a signaler"
    check(grant & perm::WAIT_SIGNAL != 0)?;
    let body = wire::encode_list(l);
    let d = ListDesc {
        reconciled: true,
        from: me,
        to: peer,
        perm: grant,
        body,
    };
    Ok(wire::encode_list_desc(&d))
}

#[no_mangle]
pub unsafe extern "C" fn NvSciSyncAttrListIpcExportReconciled(
    l: *mut ListRec,
    ep: Endpoint,
    buf: *mut *mut c_void,
    len: *mut usize,
) -> NvSciError {
    done((|| {
        check(!l.is_null() && !buf.is_null() && !len.is_null())?;
        let (me, peer) = tags(ep)?;
        let l = get(l, Kind::List, "NvSciSyncAttrList");
        hand_out(
            &export_reconciled(l, me, peer, granted_to(l, me))?,
            buf,
            len,
        )
    })())
}

/// A list descriptor sent to endpoint `me` (interpretation: one sent to another endpoint,
/// or with a wrong checksum, does "not constitute a valid exported … descriptor").
unsafe fn list_desc(buf: *const c_void, len: usize, me: u64, reconciled: bool) -> R<ListDesc> {
    check(!buf.is_null() && len > 0)?;
    let d = wire::decode_list_desc(std::slice::from_raw_parts(buf as *const u8, len)).ok_or(BP)?;
    check(d.to == me && d.reconciled == reconciled)?;
    Ok(d)
}

#[no_mangle]
pub unsafe extern "C" fn NvSciSyncAttrListIpcImportUnreconciled(
    m: *mut ModuleRec,
    ep: Endpoint,
    buf: *const c_void,
    len: usize,
    out: *mut *mut ListRec,
) -> NvSciError {
    done((|| {
        check(!m.is_null() && !out.is_null())?;
        let (me, _) = tags(ep)?;
        let module = get(m, Kind::Module, "NvSciSyncModule").id;
        let d = list_desc(buf, len, me, false)?;
        let mut l = wire::decode_list(&d.body, module).ok_or(BP)?;
        check(!l.reconciled)?;
        l.via = Some(me);
        l.written = u32::MAX; // "Imported NvSciSyncAttrList is no longer writable"
        *out = register(Box::new(l), Kind::List);
        Ok(())
    })())
}

/// Whether reconciled `r` meets every input's constraints (as ValidateReconciled).
fn satisfies(r: &ListRec, inputs: &[&ListRec]) -> bool {
    let actual = r.actual.unwrap_or(0);
    inputs.iter().all(|l| {
        l.required.unwrap_or(0) & !actual == 0
            && (l.need_cpu != Some(true) || r.need_cpu == Some(true))
            && match (r.primitive_info.as_deref(), &l.primitive_info) {
                (Some([p]), Some(allowed)) => allowed.contains(p),
                _ => true,
            }
    })
}

unsafe fn import_reconciled(
    m: *mut ModuleRec,
    ep: Endpoint,
    buf: *const c_void,
    len: usize,
    arr: *const *mut ListRec,
    n: usize,
) -> R<ListRec> {
    check(!m.is_null() && (n == 0 || !arr.is_null()))?;
    let (me, _) = tags(ep)?;
    let module = get(m, Kind::Module, "NvSciSyncModule").id;
    let inputs = unreconciled_inputs(arr, n, Some(module))?;
    let d = list_desc(buf, len, me, true)?;
    let mut r = wire::decode_list(&d.body, module).ok_or(BP)?;
    r.actual = Some(d.perm);
    r.via = Some(me);
    r.peers.clear();
    // "would not be a reconciled NvSciSyncAttrList or would not meet at least one of
    // constraints in one of the input unreconciled NvSciSyncAttrLists"
    if !r.reconciled || !satisfies(&r, &inputs) {
        return Err(err::ATTR_LIST_VALIDATION_FAILED);
    }
    Ok(r)
}

#[no_mangle]
pub unsafe extern "C" fn NvSciSyncAttrListIpcImportReconciled(
    m: *mut ModuleRec,
    ep: Endpoint,
    buf: *const c_void,
    len: usize,
    arr: *const *mut ListRec,
    n: usize,
    out: *mut *mut ListRec,
) -> NvSciError {
    if out.is_null() {
        return BP;
    }
    done(
        import_reconciled(m, ep, buf, len, arr, n)
            .map(|r| *out = register(Box::new(r), Kind::List)),
    )
}

#[no_mangle]
pub unsafe extern "C" fn NvSciSyncAttrListFreeDesc(buf: *mut c_void) {
    libc::free(buf);
}

#[no_mangle]
pub unsafe extern "C" fn NvSciSyncAttrListAndObjFreeDesc(buf: *mut c_void) {
    libc::free(buf);
}

fn valid_perm(p: u64) -> bool {
    matches!(
        p,
        perm::WAIT_ONLY | perm::SIGNAL_ONLY | perm::WAIT_SIGNAL | perm::AUTO
    )
}

/// The endpoints an object reached or came from: export elsewhere "does not lead to a
/// peer in the topology tree of this NvSciSyncObj" (2.3+).
fn in_topology(l: &ListRec, me: u64) -> bool {
    l.via == Some(me) || l.peers.iter().any(|p| p.0 == me)
}

/// The permissions an export of `inner` over endpoint `me` grants, by the rules of the
/// presented header (`nvsci_abi::ipc::SIGNAL_EXPORT_SINCE_MINOR`).
fn grant(inner: &ObjInner, p: u64, me: u64) -> R<u64> {
    check(valid_perm(p))?;
    let signal_ok = documented_from(SIGNAL_EXPORT_SINCE_MINOR);
    // 2.0: "permissions flag contains signaling rights" is BadParameter.
    check(signal_ok || p & perm::SIGNAL_ONLY == 0)?;
    check(!signal_ok || in_topology(&inner.list, me))?;
    let actual = inner.list.actual.unwrap_or(0);
    let requested = inner.list.peers.iter().find(|q| q.0 == me).map(|q| q.1);
    let g = if p == perm::AUTO {
        let g = requested.unwrap_or(actual) & actual;
        if signal_ok {
            g
        } else {
            g & perm::WAIT_ONLY
        }
    } else {
        // "larger permissions than those set on NvSciSyncAttrKey_ActualPerm"
        check(p & !actual == 0)?;
        // "smaller permissions than the expected permissions requested by the receiving peer"
        check(!signal_ok || requested.is_none_or(|r| r & !p == 0))?;
        p
    };
    check(g != 0)?;
    Ok(g)
}

unsafe fn export_obj(o: *mut ObjRec, p: u64, ep: Endpoint) -> R<(ObjIpcExportDescriptor, u64)> {
    check(!o.is_null())?;
    let inner = &get(o, Kind::Obj, "NvSciSyncObj").inner;
    let (me, peer) = tags(ep)?;
    let g = grant(inner, p, me)?;
    let body = wire::encode_list(&inner.list);
    check(body.len() <= 120 * 8).map_err(|_| err::OVERFLOW)?;
    let token = shared::random_u64();
    ipc::share(ep, token, inner.tl.fd())?;
    let mut d = ObjIpcExportDescriptor::default();
    d.payload[..7].copy_from_slice(&[
        OBJ_MAGIC,
        token,
        inner.tl.id(),
        g,
        me,
        peer,
        body.len() as u64,
    ]);
    for (i, c) in body.chunks(8).enumerate() {
        let mut w = [0u8; 8];
        w[..c.len()].copy_from_slice(c);
        d.payload[7 + i] = u64::from_le_bytes(w);
    }
    d.payload[127] = wire::fnv(&wire::words_bytes(&d.payload[..127]));
    Ok((d, g))
}

#[no_mangle]
pub unsafe extern "C" fn NvSciSyncObjIpcExport(
    o: *mut ObjRec,
    p: u64,
    ep: Endpoint,
    desc: *mut ObjIpcExportDescriptor,
) -> NvSciError {
    if desc.is_null() {
        return BP;
    }
    done(export_obj(o, p, ep).map(|(d, _)| *desc = d))
}

/// Import of an object descriptor. `timeoutUs` is "Unused" in every header: the import
/// never waits (the object's memfd was sent before the descriptor could be).
unsafe fn import_obj(
    ep: Endpoint,
    d: &ObjIpcExportDescriptor,
    input: *mut ListRec,
    p: u64,
) -> R<*mut ObjRec> {
    let (me, _) = tags(ep)?;
    check(!input.is_null())?;
    let signal_ok = documented_from(SIGNAL_EXPORT_SINCE_MINOR);
    // 2.0: "Valid value: NvSciSyncAccessPerm_WaitOnly and NvSciSyncAccessPerm_Auto"
    check(valid_perm(p) && (signal_ok || matches!(p, perm::WAIT_ONLY | perm::AUTO)))?;
    let input = get(input, Kind::List, "NvSciSyncAttrList");
    check(input.reconciled)?;
    // Interpretation of "desc is invalid": the checksum, the magic and the endpoint it was
    // sent to must all match.
    let w = &d.payload;
    check(w[127] == wire::fnv(&wire::words_bytes(&w[..127])) && w[0] == OBJ_MAGIC && w[5] == me)?;
    let (token, id, granted, body_len) = (w[1], w[2], w[3], w[6] as usize);
    check(body_len <= 120 * 8)?;
    let body = &wire::words_bytes(&w[7..127])[..body_len];
    let theirs = wire::decode_list(body, input.module).ok_or(BP)?;
    // Interpretation: inputAttrList must be the reconciled list this object was allocated
    // from (2.0: "input unreconciled NvSciSyncAttrLists' constraints are not satisfied by
    // attributes of imported NvSciSyncObj"); every attribute but ActualPerm, which is
    // per peer, must agree.
    let same = theirs.need_cpu == input.need_cpu
        && theirs.flags == input.flags
        && theirs.primitive_info == input.primitive_info
        && theirs.max_primitive_value == input.max_primitive_value
        && theirs.gpu_id == input.gpu_id;
    check(same)?;
    let actual = if p == perm::AUTO {
        // "permissions is NvSciSyncAccessPerm_Auto but permissions granted in desc are not
        // enough to satisfy expected permissions stored in inputAttrList"
        check(input.actual.unwrap_or(0) & !granted == 0)?;
        granted
    } else {
        check(p & !granted == 0)?; // interpretation: more than the descriptor grants
        p
    };
    let fd = ipc::take_share(ep, token).ok_or(BP)?;
    let tl = shared::Timeline::map(fd).map_err(|_| err::RESOURCE_ERROR)?;
    check(tl.id() == id)?;
    let mut list = input.clone();
    list.actual = Some(actual);
    list.via = Some(me);
    Ok(obj_handle(Arc::new(ObjInner { list, tl })))
}

#[no_mangle]
pub unsafe extern "C" fn NvSciSyncObjIpcImport(
    ep: Endpoint,
    desc: *const ObjIpcExportDescriptor,
    input: *mut ListRec,
    p: u64,
    _timeout_us: i64,
    out: *mut *mut ObjRec,
) -> NvSciError {
    if desc.is_null() || out.is_null() {
        return BP;
    }
    done(import_obj(ep, &*desc, input, p).map(|o| *out = o))
}

#[no_mangle]
pub unsafe extern "C" fn NvSciSyncIpcExportFence(
    f: *const Fence,
    ep: Endpoint,
    desc: *mut FenceIpcExportDescriptor,
) -> NvSciError {
    done((|| {
        check(!f.is_null() && !desc.is_null())?;
        let (me, peer) = tags(ep)?;
        let Some(inner) = fence::fence_obj(&*f) else {
            *desc = FenceIpcExportDescriptor::default(); // a cleared fence
            return Ok(());
        };
        let mut w = [
            FENCE_MAGIC,
            (*inner).tl.id(),
            (*f).payload[3],
            me,
            peer,
            0,
            0,
        ];
        w[6] = wire::fnv(&wire::words_bytes(&w[..6]));
        (*desc).payload = w;
        Ok(())
    })())
}

#[no_mangle]
pub unsafe extern "C" fn NvSciSyncIpcImportFence(
    o: *mut ObjRec,
    desc: *const FenceIpcExportDescriptor,
    f: *mut Fence,
) -> NvSciError {
    done((|| {
        check(!o.is_null() && !desc.is_null() && !f.is_null())?;
        let inner = get(o, Kind::Obj, "NvSciSyncObj").inner.clone();
        let w = (*desc).payload;
        if w == [0; 7] {
            fence::fence_release(&mut *f);
            return Ok(());
        }
        // Interpretation: a descriptor "produced by NvSciSyncIpcExportFence" has its
        // checksum; one sent through an endpoint this object did not travel is
        // "associated with an NvSciSyncObj different from syncObj".
        check(w[6] == wire::fnv(&wire::words_bytes(&w[..6])) && w[0] == FENCE_MAGIC)?;
        check(w[1] == inner.tl.id() && in_topology(&inner.list, w[4]))?;
        // 2.3+: "fence descriptor's value exceeds allowed range for syncObj's primitive"
        let max = inner.list.max_primitive_value.unwrap_or(u64::MAX);
        check(!documented_from(3) || w[2] <= max)?;
        fence::fence_set(&mut *f, inner, w[2]);
        Ok(())
    })())
}

#[no_mangle]
pub unsafe extern "C" fn NvSciSyncIpcExportAttrListAndObj(
    o: *mut ObjRec,
    p: u64,
    ep: Endpoint,
    buf: *mut *mut c_void,
    len: *mut usize,
) -> NvSciError {
    done((|| {
        check(!o.is_null() && !buf.is_null() && !len.is_null())?;
        // Every header: "permissions flag contains signaling rights" is BadParameter.
        check(matches!(p, perm::WAIT_ONLY | perm::AUTO))?;
        let (me, peer) = tags(ep)?;
        let list = &get(o, Kind::Obj, "NvSciSyncObj").inner.list;
        let (d, g) = export_obj(o, p, ep)?;
        check(g & perm::SIGNAL_ONLY == 0)?;
        let mut bytes = export_reconciled(list, me, peer, g)?;
        bytes.extend_from_slice(&wire::words_bytes(&d.payload));
        hand_out(&bytes, buf, len)
    })())
}

#[no_mangle]
pub unsafe extern "C" fn NvSciSyncIpcImportAttrListAndObj(
    m: *mut ModuleRec,
    ep: Endpoint,
    buf: *const c_void,
    len: usize,
    arr: *const *mut ListRec,
    n: usize,
    min_perm: u64,
    _timeout_us: i64,
    out: *mut *mut ObjRec,
) -> NvSciError {
    let obj_len = std::mem::size_of::<ObjIpcExportDescriptor>();
    done((|| {
        // "valid if it is bigger or equal sizeof(NvSciSyncObjIpcExportDescriptor)"
        check(!buf.is_null() && len >= obj_len && !out.is_null())?;
        check(matches!(min_perm, perm::WAIT_ONLY | perm::AUTO))?;
        let bytes = std::slice::from_raw_parts(buf as *const u8, len);
        let (list_part, obj_part) = bytes.split_at(len - obj_len);
        let r = import_reconciled(
            m,
            ep,
            list_part.as_ptr() as *const c_void,
            list_part.len(),
            arr,
            n,
        )
        // "input unreconciled NvSciSyncAttrLists' constraints are not satisfied by
        // attributes of imported NvSciSyncObj" is BadParameter here
        .map_err(|e| {
            if e == err::ATTR_LIST_VALIDATION_FAILED {
                BP
            } else {
                e
            }
        })?;
        let mut d = ObjIpcExportDescriptor::default();
        for (w, c) in d.payload.iter_mut().zip(obj_part.chunks(8)) {
            *w = u64::from_le_bytes(c.try_into().map_err(|_| BP)?);
        }
        let l = register(Box::new(r), Kind::List);
        let res = import_obj(ep, &d, l, min_perm);
        crate::NvSciSyncAttrListFree(l);
        *out = res?;
        Ok(())
    })())
}
