//! NvSciSync ops for the entry points applications use beside the core: GetAttr,
//! SlotGetAttrs, ObjGetAttrList, ReconcileAndObjAlloc, ObjDup with a NULL output, and
//! the 2.3 fence functions ExtractFence / UpdateFence. CPU only; each scenario is one
//! documented condition of `nvscisync.h` (the rows cite which).

use super::{check, Ctx, OpDef, OpError, OpResult};
use crate::nvsci::{self, pair_bool, AttrList, Fence, Module, Obj};
use crate::types::Api;
use hil_proto::key as obs_key;
use hil_proto::Observation;
use nvsci_abi::{err, key, perm, KeyValuePair};

pub static OPS: &[OpDef] = &[
    OpDef {
        name: "nvsci_get_attr",
        params: &["scenario"],
        doc: "NvSciSyncAttrListGetAttr, param `scenario`: set_value (reads back NeedCpuAccess and RequiredPerm), unset (NULL, length 0), reconciled (NeedCpuAccess of a reconciled list), unsupported_key (the version's UpperBound), null_value, null_list.",
        run: get_attr,
    },
    OpDef {
        name: "nvsci_slot_get_attrs",
        params: &["scenario"],
        doc: "NvSciSyncAttrListSlotGetAttrs on a single-slot list, param `scenario`: slot0 (reads back what was set; an unset key NULL/0), bad_slot (slot 1), unsupported_key (the version's UpperBound), no_pairs (pairCount 0).",
        run: slot_get_attrs,
    },
    OpDef {
        name: "nvsci_obj_attr_list",
        params: &["scenario"],
        doc: "NvSciSyncObjGetAttrList, param `scenario`: reconciled_values (the object's list has NeedCpuAccess true and ActualPerm with wait and signal), read_only (SetAttrs on it), null_out (NULL syncAttrList).",
        run: obj_attr_list,
    },
    OpDef {
        name: "nvsci_reconcile_alloc",
        params: &["defect"],
        doc: "NvSciSyncAttrListReconcileAndObjAlloc of CPU lists, param `defect`: none (the object's list is reconciled with wait and signal; a CPU signal completes its fence), empty, reconciled_input, two_modules, null_obj, no_signaler, duplicate_input (BadParameter required from a 2.8 library).",
        run: reconcile_alloc,
    },
    OpDef {
        name: "nvsci_update_fence",
        params: &["scenario"],
        doc: "NvSciSyncFenceUpdateFence on a CPU object, param `scenario`: next_point (a fence set to the point after a generated one completes with the second signal, and extracts as set), replace (a fence of another object now waits on this one), keeps_obj (the fence keeps the object alive), bad_id (id UINT64_MAX), null_fence, value_over_32bit (a SysmemSemaphore object given a value above UINT32_MAX).",
        run: update_fence,
    },
    OpDef {
        name: "nvsci_fence_misc",
        params: &["scenario"],
        doc: "Param `scenario`: extract_cleared (NvSciSyncFenceExtractFence of a cleared fence), obj_dup_null_out (NvSciSyncObjDup with a NULL dupObj).",
        run: fence_misc,
    },
];

/// `SysmemSemaphore` of `NvSciSyncAttrValPrimitiveType` (2.5+ headers).
const PRIM_SYSMEM_SEMAPHORE: i32 = 2;

fn cpu_list(m: &Module, required: u64) -> Result<AttrList, OpError> {
    let l = m.attr_list()?;
    l.set_cpu(true, required)?;
    Ok(l)
}

fn cpu_obj(m: &Module) -> Result<Obj, OpError> {
    let s = cpu_list(m, perm::SIGNAL_ONLY)?;
    let w = cpu_list(m, perm::WAIT_ONLY)?;
    let r = nvsci::reconcile(&[&s, &w]).map_err(|f| f.error)?;
    Obj::alloc(&r)
}

/// The loaded version's UpperBound: the first key it does not support.
fn version_upper_bound() -> Result<i32, OpError> {
    let version = nvsci::lib()?.version;
    if version.minor > nvsci_abi::NEWEST_MINOR {
        return Err(OpError::NotSupported(format!(
            "NvSciSync {version} is newer than the newest header hil knows (2.{}): its UpperBound is unknown",
            nvsci_abi::NEWEST_MINOR
        )));
    }
    Ok(nvsci_abi::upper_bound(version.minor))
}

/// A value the library handed out as (pointer, length), copied.
fn bytes(value: *const std::ffi::c_void, len: usize) -> Vec<u8> {
    if value.is_null() {
        return Vec::new();
    }
    // SAFETY: the library hands out `len` readable bytes owned by a list still alive.
    unsafe { std::slice::from_raw_parts(value as *const u8, len) }.to_vec()
}

fn get_attr(c: &Ctx) -> OpResult {
    let m = Module::open()?;
    match c.param_str("scenario", "")? {
        "set_value" => {
            let l = cpu_list(&m, perm::WAIT_SIGNAL)?;
            let (v, n) = l.get_attr(key::NEED_CPU_ACCESS)?;
            check(bytes(v, n) == [1], || {
                format!("NeedCpuAccess (set true) reads {:?}", bytes(v, n))
            })?;
            let (v, n) = l.get_attr(key::REQUIRED_PERM)?;
            let want = perm::WAIT_SIGNAL.to_ne_bytes();
            check(bytes(v, n) == want, || {
                format!("RequiredPerm (set WaitSignal) reads {:?}", bytes(v, n))
            })?;
        }
        "unset" => {
            let (v, n) = m.attr_list()?.get_attr(key::REQUIRED_PERM)?;
            check(v.is_null() && n == 0, || {
                format!("a RequiredPerm never set reads a value of length {n}")
            })?;
        }
        "reconciled" => {
            let s = cpu_list(&m, perm::SIGNAL_ONLY)?;
            let w = cpu_list(&m, perm::WAIT_ONLY)?;
            let r = nvsci::reconcile(&[&s, &w]).map_err(|f| f.error)?;
            let (v, n) = r.get_attr(key::NEED_CPU_ACCESS)?;
            check(bytes(v, n) == [1], || {
                format!("reconciled NeedCpuAccess reads {:?}", bytes(v, n))
            })?;
        }
        "unsupported_key" => {
            m.attr_list()?.get_attr(version_upper_bound()?)?;
            return Ok(vec![Observation::new(obs_key::GET_ATTR, "accepted")]);
        }
        "null_value" => {
            m.attr_list()?.get_attr_null_value(key::NEED_CPU_ACCESS)?;
            return Ok(vec![Observation::new(obs_key::GET_ATTR, "accepted")]);
        }
        "null_list" => {
            nvsci::get_attr_null_list(key::NEED_CPU_ACCESS)?;
            return Ok(vec![Observation::new(obs_key::GET_ATTR, "accepted")]);
        }
        other => return Err(OpError::Row(format!("scenario `{other}`"))),
    }
    Ok(vec![])
}

fn pair(k: i32) -> KeyValuePair {
    KeyValuePair {
        attr_key: k,
        value: std::ptr::null(),
        len: 0,
    }
}

fn slot_get_attrs(c: &Ctx) -> OpResult {
    let m = Module::open()?;
    let l = cpu_list(&m, perm::WAIT_ONLY)?;
    match c.param_str("scenario", "")? {
        "slot0" => {
            let mut p = [
                pair(key::NEED_CPU_ACCESS),
                pair(key::REQUIRED_PERM),
                pair(key::WAITER_REQUIRE_TIMESTAMPS),
            ];
            l.slot_get(0, &mut p)?;
            check(bytes(p[0].value, p[0].len) == [1], || {
                format!(
                    "slot 0 NeedCpuAccess reads {:?}",
                    bytes(p[0].value, p[0].len)
                )
            })?;
            check(
                bytes(p[1].value, p[1].len) == perm::WAIT_ONLY.to_ne_bytes(),
                || {
                    format!(
                        "slot 0 RequiredPerm reads {:?}",
                        bytes(p[1].value, p[1].len)
                    )
                },
            )?;
            check(p[2].value.is_null() && p[2].len == 0, || {
                format!(
                    "slot 0 WaiterRequireTimestamps (never set) reads a value of length {}",
                    p[2].len
                )
            })?;
            Ok(vec![])
        }
        scenario => {
            let r = match scenario {
                "bad_slot" => l.slot_get(1, &mut [pair(key::NEED_CPU_ACCESS)]),
                "unsupported_key" => l.slot_get(0, &mut [pair(version_upper_bound()?)]),
                "no_pairs" => l.slot_get(0, &mut []),
                other => return Err(OpError::Row(format!("scenario `{other}`"))),
            };
            r.map(|()| vec![Observation::new(obs_key::SLOT_GET_ATTRS, "accepted")])
        }
    }
}

fn obj_attr_list(c: &Ctx) -> OpResult {
    let m = Module::open()?;
    let o = cpu_obj(&m)?;
    match c.param_str("scenario", "")? {
        "reconciled_values" => {
            let l = o.attr_list()?;
            let need = l.get_bool(key::NEED_CPU_ACCESS)?;
            check(need == Some(true), || {
                format!("the object's NeedCpuAccess is {need:?}; both inputs set true")
            })?;
            let actual = l.get_u64(key::ACTUAL_PERM)?.unwrap_or(0);
            check(actual & perm::WAIT_SIGNAL == perm::WAIT_SIGNAL, || {
                format!("the object's ActualPerm {actual:#x} lacks wait or signal")
            })?;
            Ok(vec![Observation::new(
                obs_key::ACTUAL_PERM,
                format!("{actual:#x}"),
            )])
        }
        "read_only" => {
            let l = o.attr_list()?;
            l.set(&[pair_bool(key::WAITER_REQUIRE_TIMESTAMPS, &true)])?;
            Ok(vec![Observation::new(obs_key::SET, "accepted")])
        }
        "null_out" => {
            o.attr_list_null_out()?;
            Ok(vec![Observation::new(obs_key::GET_ATTR_LIST, "accepted")])
        }
        other => Err(OpError::Row(format!("scenario `{other}`"))),
    }
}

fn reconcile_alloc(c: &Ctx) -> OpResult {
    let m = Module::open()?;
    let s = cpu_list(&m, perm::SIGNAL_ONLY)?;
    let w = cpu_list(&m, perm::WAIT_ONLY)?;
    let defect = c.param_str("defect", "none")?;
    let (other, reconciled);
    let (inputs, null_obj) = match defect {
        "none" => (vec![s.raw, w.raw], false),
        "empty" => (vec![], false),
        "reconciled_input" => {
            reconciled = nvsci::reconcile(&[&s, &w]).map_err(|f| f.error)?;
            (vec![s.raw, reconciled.raw], false)
        }
        "two_modules" => {
            let m2 = Module::open()?;
            other = cpu_list(&m2, perm::WAIT_ONLY)?;
            (vec![s.raw, other.raw], false)
        }
        "null_obj" => (vec![s.raw, w.raw], true),
        "no_signaler" => (vec![w.raw], false),
        "duplicate_input" => (vec![s.raw, w.raw, s.raw], false),
        other => return Err(OpError::Row(format!("defect `{other}`"))),
    };
    let result = nvsci::reconcile_and_alloc_raw(&inputs, null_obj).map_err(|f| f.error);
    // nvscisync.h 2.8 names BadParameter for a list given twice; older headers do not.
    if defect == "duplicate_input" && nvsci::lib()?.version.minor >= 8 {
        if let Err(OpError::Api { code, .. }) = &result {
            check(*code == i64::from(err::BAD_PARAMETER), || {
                format!("a list given twice: NvSciSync 2.8+ documents BadParameter, got {code:#x}")
            })?;
        }
    }
    let obj = result?;
    if defect != "none" {
        return Ok(vec![Observation::new(
            obs_key::RECONCILE_AND_ALLOC,
            "accepted",
        )]);
    }
    let l = obj.attr_list()?;
    let actual = l.get_u64(key::ACTUAL_PERM)?.unwrap_or(0);
    check(actual & perm::WAIT_SIGNAL == perm::WAIT_SIGNAL, || {
        format!("the object's ActualPerm {actual:#x} lacks wait or signal")
    })?;
    let ctx = m.cpu_wait_context()?;
    let f = obj.generate_fence()?;
    obj.signal()?;
    f.wait(&ctx, 1_000_000)?;
    Ok(vec![Observation::new(
        obs_key::ACTUAL_PERM,
        format!("{actual:#x}"),
    )])
}

fn timeout_is(e: &OpError) -> bool {
    matches!(e, OpError::Api { api: Api::Nvsci, code, .. } if *code == i64::from(err::TIMEOUT))
}

fn update_fence(c: &Ctx) -> OpResult {
    let m = Module::open()?;
    let l = nvsci::lib()?;
    let ctx = m.cpu_wait_context()?;
    match c.param_str("scenario", "")? {
        "next_point" => {
            let o = cpu_obj(&m)?;
            let g = o.generate_fence()?;
            let (id, v) = g.extract()?;
            let mut f = Fence::cleared(l);
            o.update_fence(id, v.wrapping_add(1), Some(&mut f))?;
            let got = f.extract()?;
            check(got == (id, v.wrapping_add(1)), || {
                format!(
                    "updated to (id {id}, value {}), extracts as {got:?}",
                    v.wrapping_add(1)
                )
            })?;
            o.signal()?;
            g.wait(&ctx, 1_000_000)?;
            let early = f.wait(&ctx, 0);
            check(early.as_ref().is_err_and(timeout_is), || {
                format!("the point after the first signal's was reached by it: {early:?}")
            })?;
            o.signal()?;
            f.wait(&ctx, 1_000_000)?;
            Ok(vec![Observation::new(obs_key::VALUE, v.wrapping_add(1))])
        }
        "replace" => {
            let (a, b) = (cpu_obj(&m)?, cpu_obj(&m)?);
            let mut f = a.generate_fence()?; // a is never signalled
            let g = b.generate_fence()?;
            b.signal()?;
            let (id, v) = g.extract()?;
            b.update_fence(id, v, Some(&mut f))?;
            f.wait(&ctx, 1_000_000)?;
            Ok(vec![])
        }
        "keeps_obj" => {
            let o = cpu_obj(&m)?;
            let d = o.dup()?;
            let (id, v) = o.generate_fence()?.extract()?;
            let mut f = Fence::cleared(l);
            o.update_fence(id, v, Some(&mut f))?;
            drop(o);
            d.signal()?;
            drop(d);
            f.wait(&ctx, 1_000_000)?;
            Ok(vec![])
        }
        "bad_id" => {
            let o = cpu_obj(&m)?;
            let mut f = Fence::cleared(l);
            o.update_fence(u64::MAX, 0, Some(&mut f))?;
            Ok(vec![Observation::new(obs_key::UPDATE, "accepted")])
        }
        "null_fence" => {
            cpu_obj(&m)?.update_fence(0, 0, None)?;
            Ok(vec![Observation::new(obs_key::UPDATE, "accepted")])
        }
        "value_over_32bit" => update_over_32bit(&m),
        other => Err(OpError::Row(format!("scenario `{other}`"))),
    }
}

/// An update to a value past 32 bits on an object backed by a SysmemSemaphore.
fn update_over_32bit(m: &Module) -> OpResult {
    let l = nvsci::lib()?;
    let prim = [PRIM_SYSMEM_SEMAPHORE];
    let info = KeyValuePair {
        attr_key: key::PRIMITIVE_INFO,
        value: prim.as_ptr() as *const std::ffi::c_void,
        len: std::mem::size_of_val(&prim),
    };
    let s = cpu_list(m, perm::SIGNAL_ONLY)?;
    let w = cpu_list(m, perm::WAIT_ONLY)?;
    s.set(&[info])?;
    w.set(&[info])?;
    let r = nvsci::reconcile(&[&s, &w]).map_err(|f| match f.error {
        // The premise (a SysmemSemaphore CPU object) is the library's to refuse.
        OpError::Api { code, .. } if code == i64::from(err::RECONCILIATION_FAILED) => {
            OpError::NotSupported(
                "this library does not back a CPU signaler/waiter object with a SysmemSemaphore (PrimitiveInfo reconciliation failed)".into(),
            )
        }
        e => e,
    })?;
    let o = Obj::alloc(&r)?;
    let (id, _) = o.generate_fence()?.extract()?;
    let mut f = Fence::cleared(l);
    o.update_fence(id, u64::from(u32::MAX) + 1, Some(&mut f))?;
    Ok(vec![Observation::new(obs_key::UPDATE, "accepted")])
}

fn fence_misc(c: &Ctx) -> OpResult {
    let l = nvsci::lib()?;
    match c.param_str("scenario", "")? {
        "extract_cleared" => {
            let got = Fence::cleared(l).extract()?;
            Ok(vec![Observation::new(
                obs_key::EXTRACTED,
                format!("{got:?}"),
            )])
        }
        "obj_dup_null_out" => {
            let m = Module::open()?;
            cpu_obj(&m)?.dup_null_out()?;
            Ok(vec![Observation::new(obs_key::DUP, "accepted")])
        }
        other => Err(OpError::Row(format!("scenario `{other}`"))),
    }
}
