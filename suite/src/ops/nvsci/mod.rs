//! NvSciSync ops: the attribute-list / reconciliation / object / fence API on the CPU,
//! and signaler x waiter pairs where each side is the CPU or a CUDA device (attribute
//! lists from cuDeviceGetNvSciSyncAttributes, objects imported into CUDA).
//!
//! Here: the op table and the CPU-only ops. `pairs.rs`: the ops with a CUDA side. Every
//! CUDA call is in the few `cuda_*` functions of `cuda_side.rs` (attributes, import,
//! signal, wait, destroy); they go through the case's CUDA frontend (`cuda_api`: the
//! driver API, or the runtime API the CUDA guide shows).

use super::{check, Ctx, OpDef, OpError, OpResult};
use crate::cuda::ffi::HANDLE_TYPE_NVSCISYNC;
use crate::frontend::{Call, Gpu, ImportDesc, Semaphore, Stream};
use crate::nvsci::{self, pair_bool, pair_u64, AttrList, CpuWaitContext, Fence, Module, Obj};
use crate::types::{Api, AxisValue, CudaApi};
use hil_proto::key as obs_key;
use hil_proto::Observation;

mod cuda_side;
mod ipc;
mod pairs;

pub use ipc::{
    endpoints_offered as ipc_endpoints_offered, pairs_needed as ipc_pairs_needed,
    peer_main as ipc_peer_main, probe_endpoints as ipc_probe_endpoints, OPS as IPC_OPS,
};

use cuda_side::*;
use nvsci_abi::{err, key, perm, CUDA_NVSCISYNC_ATTR_SIGNAL, CUDA_NVSCISYNC_ATTR_WAIT};
use pairs::*;

pub static OPS: &[OpDef] = &[
    OpDef {
        name: "nvsci_attrs_roundtrip",
        params: &["perm"],
        doc: "Set NeedCpuAccess and RequiredPerm (param `perm`) on a new list; read both back.",
        run: attrs_roundtrip,
    },
    OpDef {
        name: "nvsci_set_invalid",
        params: &["defect"],
        doc: "SetAttrs with param `defect` (actual_perm_readonly, set_twice, auto_perm, bad_len, unknown_key, duplicate_key); no side effect on failure.",
        run: set_invalid,
    },
    OpDef {
        name: "nvsci_reconcile",
        params: &["lists", "need_cpu", "actual"],
        doc: "Reconcile CPU lists with params `lists` (perms) and `need_cpu`; checks ActualPerm (param `actual`), NeedCpuAccess, validation and the conflict list.",
        run: reconcile_cpu,
    },
    OpDef {
        name: "nvsci_reconcile_invalid",
        params: &["defect"],
        doc: "Reconcile with param `defect` (empty, reconciled_input, duplicate_input: BadParameter required from a 2.8 library, closed_module: a list of a closed module with one of a new module).",
        run: reconcile_invalid,
    },
    OpDef {
        name: "nvsci_clone",
        params: &[],
        doc: "Clones keep attributes and reconciliation state; an unreconciled clone may set a key the original set, and neither list affects the other.",
        run: clone,
    },
    OpDef {
        name: "nvsci_obj_alloc",
        params: &["from"],
        doc: "ObjAlloc from a reconciled list (param `from`: reconciled | unreconciled); the object's list has ActualPerm WaitSignal.",
        run: obj_alloc,
    },
    OpDef {
        name: "nvsci_fence_cpu",
        params: &["scenario", "count"],
        doc: "CPU fences, param `scenario`: signal_wait, timeout, sequence, dup_clear, obj_dup, fence_keeps_obj, bad_timeout, wait_after_clear (Success at once, no signal ever), wait_other_module (a context of another module), free_list_then_alloc.",
        run: fence_cpu,
    },
    OpDef {
        name: "nvsci_key_unset",
        params: &["key"],
        doc: "GetAttrs of key param `key` (C name) on a new list: Success, value NULL, length 0.",
        run: key_unset,
    },
    OpDef {
        name: "nvsci_key_upper_bound",
        params: &[],
        doc: "GetAttrs of the loaded version's NvSciSyncAttrKey_UpperBound (from nvsci-abi's key table).",
        run: key_upper_bound,
    },
    OpDef {
        name: "nvsci_validate",
        params: &[],
        doc: "ValidateReconciled of a reconciled CPU signaler/waiter list against its own inputs, then each input alone.",
        run: validate_own_inputs,
    },
    OpDef {
        name: "nvsci_validate_invalid",
        params: &["defect"],
        doc: "ValidateReconciled with param `defect`: unsatisfied (an input with NeedCpuAccess false against a reconciled list with true: BadParameter, or Success with false), duplicate_input (BadParameter required from a 2.8 library).",
        run: validate_invalid,
    },
    OpDef {
        name: "nvsci_reconciled_key",
        params: &["key"],
        doc: "The output key param `key` (C name) of a reconciled CPU signaler/waiter list: MaxPrimitiveValue UINT32_MAX or UINT64_MAX (as the reconciled PrimitiveInfo says, where the version has it), NumTaskStatusSlots 0, PrimitiveInfo one primitive type.",
        run: reconciled_key,
    },
    OpDef {
        name: "nvsci_deterministic",
        params: &["count"],
        doc: "RequireDeterministicFences on the signaler (the CPU, or the device on axis `dev`): reconciled true; `count` signals each move the fence value by one (NvSciSyncFenceExtractFence).",
        run: deterministic,
    },
    OpDef {
        name: "nvsci_cuda_attrs",
        params: &["defect"],
        doc: "cuDeviceGetNvSciSyncAttributes on axis `dev` where NvSciSync is supported, param `defect`: required_perm_set, no_flags, null_list.",
        run: cuda_attrs_defect,
    },
    OpDef {
        name: "nvsci_cuda_wrong_direction",
        params: &["use"],
        doc: "Axis `dev`, param `use`: signal on an object whose GPU list came only from the WAIT flag, or wait on one whose GPU list came only from SIGNAL.",
        run: cuda_wrong_direction,
    },
    OpDef {
        name: "nvsci_cuda_cleanup",
        params: &["cycles"],
        doc: "Axis `dev`: `cycles` times import, signal, CPU wait, then destroy semaphore, free object, free lists, close module; no file descriptor left per cycle.",
        run: cuda_cleanup,
    },
    OpDef {
        name: "nvsci_cuda_import_twice",
        params: &[],
        doc: "Axis `dev`: one NvSciSyncObj imported twice on the device; each semaphore signals; destroying one leaves the other working.",
        run: cuda_import_twice,
    },
    OpDef {
        name: "nvsci_pair_reconcile",
        params: &[],
        doc: "Axes `signaler`, `waiter` (cpu or CUDA device): lists from the CPU or cuDeviceGetNvSciSyncAttributes; reconcile and check permissions.",
        run: pair_reconcile,
    },
    OpDef {
        name: "nvsci_pair_roundtrip",
        params: &["count", "free_obj_early"],
        doc: "Axes `signaler`, `waiter`: alloc, import on GPU sides, `count` times signal on the signaler and wait on the waiter through the fence.",
        run: pair_roundtrip,
    },
];

fn parse_perm(s: &str) -> Result<u64, OpError> {
    match s {
        "wait" => Ok(perm::WAIT_ONLY),
        "signal" => Ok(perm::SIGNAL_ONLY),
        "wait_signal" => Ok(perm::WAIT_SIGNAL),
        "auto" => Ok(perm::AUTO),
        other => Err(OpError::Row(format!(
            "perm `{other}`: expected wait, signal, wait_signal or auto"
        ))),
    }
}

fn perm_name(p: u64) -> String {
    match p {
        perm::WAIT_ONLY => "WaitOnly".into(),
        perm::SIGNAL_ONLY => "SignalOnly".into(),
        perm::WAIT_SIGNAL => "WaitSignal".into(),
        other => format!("{other:#x}"),
    }
}

fn cpu_list(m: &Module, required: u64) -> Result<AttrList, OpError> {
    let l = m.attr_list()?;
    l.set_cpu(true, required)?;
    Ok(l)
}

fn cpu_pair(m: &Module) -> Result<(AttrList, AttrList, AttrList), OpError> {
    let s = cpu_list(m, perm::SIGNAL_ONLY)?;
    let w = cpu_list(m, perm::WAIT_ONLY)?;
    let r = nvsci::reconcile(&[&s, &w]).map_err(|f| f.error)?;
    Ok((s, w, r))
}

fn attrs_roundtrip(c: &Ctx) -> OpResult {
    let p = parse_perm(c.param_str("perm", "wait")?)?;
    let m = Module::open()?;
    let l = m.attr_list()?;
    l.set_cpu(true, p)?;
    let need = l.get_bool(key::NEED_CPU_ACCESS)?;
    let got = l.get_u64(key::REQUIRED_PERM)?;
    check(need == Some(true), || {
        format!("NeedCpuAccess read back as {need:?}")
    })?;
    check(got == Some(p), || {
        format!("RequiredPerm read back as {got:?}, set {}", perm_name(p))
    })?;
    // ActualPerm, an output key, is read from reconciled lists (nvscisync.keys.actual_perm
    // reads it from an unreconciled one, where the header leaves the answer open).
    Ok(vec![Observation::new(obs_key::REQUIRED_PERM, perm_name(p))])
}

fn set_invalid(c: &Ctx) -> OpResult {
    let m = Module::open()?;
    let l = m.attr_list()?;
    let (yes, wait, auto, four) = (true, perm::WAIT_ONLY, perm::AUTO, 4u32);
    let bad_len = nvsci_abi::KeyValuePair {
        attr_key: key::REQUIRED_PERM,
        value: &four as *const u32 as *const std::ffi::c_void,
        len: 4, // the 1.x enum size
    };
    let r = match c.param_str("defect", "")? {
        "actual_perm_readonly" => l.set(&[pair_u64(key::ACTUAL_PERM, &wait)]),
        "set_twice" => {
            l.set(&[pair_u64(key::REQUIRED_PERM, &wait)])?;
            l.set(&[pair_u64(key::REQUIRED_PERM, &wait)])
        }
        "auto_perm" => l.set(&[pair_u64(key::REQUIRED_PERM, &auto)]),
        "bad_len" => l.set(&[bad_len]),
        "unknown_key" => l.set(&[pair_bool(key::UPPER_BOUND, &yes)]),
        "duplicate_key" => l.set(&[
            pair_bool(key::NEED_CPU_ACCESS, &yes),
            pair_bool(key::NEED_CPU_ACCESS, &yes),
        ]),
        other => return Err(OpError::Row(format!("defect `{other}`"))),
    };
    if let Err(e) = r {
        // "an NvSciSync API call will not return an error code if it has caused any side effects"
        let need = l.get_bool(key::NEED_CPU_ACCESS)?;
        check(need.is_none(), || {
            format!("failed SetAttrs ({e}) still set NeedCpuAccess")
        })?;
        return Err(e);
    }
    Ok(vec![Observation::new(obs_key::SET, "accepted")])
}

fn reconcile_cpu(c: &Ctx) -> OpResult {
    let perms: Vec<u64> = match c.case.params.get("lists") {
        Some(serde_json::Value::Array(v)) => v
            .iter()
            .map(|x| parse_perm(x.as_str().unwrap_or("")))
            .collect::<Result<_, _>>()?,
        _ => {
            return Err(OpError::Row(
                "param `lists` must list perms, e.g. [signal, wait]".into(),
            ))
        }
    };
    let need_cpu = c
        .case
        .params
        .get("need_cpu")
        .and_then(|v| v.as_bool())
        .unwrap_or(true);
    let m = Module::open()?;
    let lists: Vec<AttrList> = perms
        .iter()
        .map(|p| {
            let l = m.attr_list()?;
            l.set_cpu(need_cpu, *p)?;
            Ok(l)
        })
        .collect::<Result<_, OpError>>()?;
    let refs: Vec<&AttrList> = lists.iter().collect();
    match nvsci::reconcile(&refs) {
        Ok(r) => {
            let actual = r.get_u64(key::ACTUAL_PERM)?;
            let union = perms.iter().fold(0, |a, b| a | b);
            let want = match c.case.params.get("actual").and_then(|v| v.as_str()) {
                Some(s) => parse_perm(s)?,
                None => union,
            };
            check(actual == Some(want), || {
                format!("ActualPerm {actual:?}, expected {}", perm_name(want))
            })?;
            let need = r.get_bool(key::NEED_CPU_ACCESS)?;
            check(need == Some(need_cpu), || {
                format!("reconciled NeedCpuAccess {need:?}, inputs {need_cpu}")
            })?;
            check(nvsci::validate(&r, &refs)?, || {
                "ValidateReconciled rejects the list it was reconciled from".into()
            })?;
            Ok(vec![Observation::new(
                obs_key::ACTUAL_PERM,
                perm_name(want),
            )])
        }
        // A conflict list exists only outside safety builds; the verdict is the code.
        Err(f) => Err(f.error),
    }
}

/// Whether the loaded library's header (2.`minor` or newer) documents a rule.
fn documented_from(minor: u32) -> Result<bool, OpError> {
    Ok(nvsci::lib()?.version.minor >= minor)
}

fn reconcile_invalid(c: &Ctx) -> OpResult {
    let m = Module::open()?;
    let (s, w, r) = cpu_pair(&m)?;
    let defect = c.param_str("defect", "")?;
    let (closed, fresh);
    let inputs = match defect {
        "empty" => vec![],
        "reconciled_input" => vec![s.raw, r.raw],
        "duplicate_input" => vec![s.raw, w.raw, s.raw],
        "closed_module" => {
            // A list keeps its module instance alive; a new module is another instance.
            let old = Module::open()?;
            closed = cpu_list(&old, perm::SIGNAL_ONLY)?;
            drop(old);
            let new = Module::open()?;
            fresh = cpu_list(&new, perm::WAIT_ONLY)?;
            vec![closed.raw, fresh.raw]
        }
        other => return Err(OpError::Row(format!("defect `{other}`"))),
    };
    let result = nvsci::reconcile_raw(&inputs).map_err(|f| f.error);
    // nvscisync.h 2.8 names BadParameter for a list given twice; older headers do not.
    if defect == "duplicate_input" && documented_from(8)? {
        if let Err(OpError::Api { code, .. }) = &result {
            check(*code == i64::from(err::BAD_PARAMETER), || {
                format!("a list given twice: NvSciSync 2.8+ documents BadParameter, got {code:#x}")
            })?;
        }
    }
    match result {
        Ok(_) => Ok(vec![Observation::new(obs_key::RECONCILE, "accepted")]),
        Err(e) => Err(e),
    }
}

fn clone(_: &Ctx) -> OpResult {
    let m = Module::open()?;
    let (s, _w, r) = cpu_pair(&m)?;
    let rc = r.try_clone()?;
    let (a, b) = (r.get_u64(key::ACTUAL_PERM)?, rc.get_u64(key::ACTUAL_PERM)?);
    check(a == b && a.is_some(), || {
        format!("reconciled clone has ActualPerm {b:?}, original {a:?}")
    })?;
    let u = cpu_list(&m, perm::WAIT_ONLY)?;
    let uc = u.try_clone()?;
    check(
        uc.get_u64(key::REQUIRED_PERM)? == Some(perm::WAIT_ONLY),
        || "the clone lacks the original's RequiredPerm".into(),
    )?;
    // nvscisync.h 2.0+, NvSciSyncAttrListClone: on a clone of an unreconciled list,
    // setting is allowed even for attributes set in the original; neither affects the other.
    uc.set(&[pair_u64(key::REQUIRED_PERM, &perm::SIGNAL_ONLY)])?;
    check(
        u.get_u64(key::REQUIRED_PERM)? == Some(perm::WAIT_ONLY),
        || "setting the clone changed the original".into(),
    )?;
    check(
        uc.get_u64(key::REQUIRED_PERM)? == Some(perm::SIGNAL_ONLY),
        || "the clone does not read back what was set on it".into(),
    )?;
    check(
        s.get_u64(key::REQUIRED_PERM)? == Some(perm::SIGNAL_ONLY),
        || "input list changed by reconcile".into(),
    )?;
    Ok(vec![])
}

fn obj_alloc(c: &Ctx) -> OpResult {
    let m = Module::open()?;
    let (s, _w, r) = cpu_pair(&m)?;
    match c.param_str("from", "reconciled")? {
        "reconciled" => {
            let o = Obj::alloc(&r)?;
            let f = o.generate_fence()?;
            check(!f.is_cleared(), || "generated fence is cleared".into())?;
            Ok(vec![])
        }
        "unreconciled" => Obj::alloc(&s).map(|_| vec![]),
        other => Err(OpError::Row(format!("from `{other}`"))),
    }
}

fn timeout_is(e: &OpError) -> bool {
    matches!(e, OpError::Api { api: Api::Nvsci, code, .. } if *code == i64::from(err::TIMEOUT))
}

fn fence_cpu(c: &Ctx) -> OpResult {
    let m = Module::open()?;
    let (_s, _w, r) = cpu_pair(&m)?;
    let ctx = m.cpu_wait_context()?;
    let obj = Obj::alloc(&r)?;
    let short = 2_000; // µs
    match c.param_str("scenario", "")? {
        "signal_wait" => {
            let f = obj.generate_fence()?;
            obj.signal()?;
            f.wait(&ctx, 1_000_000)?;
        }
        "timeout" => {
            let f = obj.generate_fence()?;
            return f
                .wait(&ctx, short)
                .map(|()| vec![Observation::new(obs_key::WAIT, "returned without a signal")]);
        }
        "sequence" => return fence_sequence(c, &obj, &ctx),
        "dup_clear" => {
            let mut f = obj.generate_fence()?;
            let d = f.try_dup()?;
            f.clear();
            check(f.is_cleared(), || "FenceClear left the fence set".into())?;
            obj.signal()?;
            d.wait(&ctx, 1_000_000)?;
        }
        "obj_dup" => {
            let dup = obj.dup()?;
            let f = obj.generate_fence()?;
            dup.signal()?;
            f.wait(&ctx, 1_000_000)?;
        }
        "fence_keeps_obj" => {
            // "Every NvSciSyncFence not in a cleared state holds a reference to the
            // NvSciSyncObj it is related to, preventing that NvSciSyncObj from being deleted."
            let dup = obj.dup()?;
            let f = obj.generate_fence()?;
            drop(obj);
            dup.signal()?;
            drop(dup);
            f.wait(&ctx, 1_000_000)?;
        }
        "bad_timeout" => {
            let f = obj.generate_fence()?;
            obj.signal()?;
            f.wait(&ctx, -2)?;
        }
        "wait_after_clear" => {
            // nvscisync.h 2.0+, NvSciSyncFenceWait: a cleared fence is Success and never
            // blocks. The object is never signalled, so a blocking wait ends in Timeout.
            let mut f = obj.generate_fence()?;
            f.clear();
            f.wait(&ctx, 1_000_000)?;
        }
        "wait_other_module" => {
            let f = obj.generate_fence()?;
            obj.signal()?;
            let other = Module::open()?;
            f.wait(&other.cpu_wait_context()?, 1_000_000)?;
            return Ok(vec![Observation::new(obs_key::WAIT, "accepted")]);
        }
        // Undefined-behaviour scenarios (rows mark them `ub`): observed, not judged.
        "free_list_then_alloc" => {
            let res = nvsci::ub_alloc_from_freed_list(r);
            return Ok(vec![Observation::new(
                obs_key::ALLOC_FROM_FREED_LIST,
                format!("{res:?}"),
            )]);
        }
        other => return Err(OpError::Row(format!("scenario `{other}`"))),
    }
    Ok(vec![])
}

/// `count` fences generated at once, each reached only after its own signal.
fn fence_sequence(c: &Ctx, obj: &Obj, ctx: &CpuWaitContext) -> OpResult {
    let n = c.param_u64("count", 32)?;
    let fences: Vec<Fence> = (0..n)
        .map(|_| obj.generate_fence())
        .collect::<Result<_, _>>()?;
    for (i, f) in fences.iter().enumerate() {
        let early = f.wait(ctx, 0);
        check(early.as_ref().is_err_and(timeout_is), || {
            format!("fence {i} reached before its signal: {early:?}")
        })?;
        obj.signal()?;
        f.wait(ctx, 1_000_000)?;
    }
    Ok(vec![Observation::new(obs_key::FENCES, n)])
}

fn key_unset(c: &Ctx) -> OpResult {
    let name = c.param_str("key", "")?;
    let k = nvsci_abi::feature(name)
        .and_then(|f| f.key)
        .ok_or_else(|| OpError::Row(format!("param `key`: `{name}` is not an NvSciSyncAttrKey")))?;
    let m = Module::open()?;
    let l = m.attr_list()?;
    // "If an attribute was never set, the corresponding value will be set to NULL and length to 0."
    let p = l.get_raw(k)?;
    check(p.value.is_null() && p.len == 0, || {
        format!(
            "{name} ({k}) on a new list reads back a value of length {}",
            p.len
        )
    })?;
    Ok(vec![Observation::new(obs_key::KEY, k)])
}

fn key_upper_bound(_: &Ctx) -> OpResult {
    let version = nvsci::lib()?.version;
    if version.minor > nvsci_abi::NEWEST_MINOR {
        return Err(OpError::NotSupported(format!(
            "NvSciSync {version} is newer than the newest header hil knows (2.{}): its UpperBound is unknown",
            nvsci_abi::NEWEST_MINOR
        )));
    }
    let k = nvsci_abi::upper_bound(version.minor);
    let m = Module::open()?;
    let l = m.attr_list()?;
    l.get_raw(k)?;
    Ok(vec![Observation::new(obs_key::UPPER_BOUND_ACCEPTED, k)])
}

fn validate_own_inputs(_: &Ctx) -> OpResult {
    let m = Module::open()?;
    let (s, w, r) = cpu_pair(&m)?;
    for (what, inputs) in [
        ("both inputs", vec![&s, &w]),
        ("the signaler's list", vec![&s]),
        ("the waiter's list", vec![&w]),
    ] {
        check(nvsci::validate(&r, &inputs)?, || {
            format!("ValidateReconciled rejects the reconciled list against {what}")
        })?;
    }
    Ok(vec![])
}

fn validate_invalid(c: &Ctx) -> OpResult {
    let m = Module::open()?;
    let (s, w, r) = cpu_pair(&m)?;
    let defect = c.param_str("defect", "")?;
    let valid = match defect {
        "unsatisfied" => {
            let l = m.attr_list()?;
            l.set_cpu(false, perm::WAIT_ONLY)?;
            nvsci::validate(&r, &[&l])?
        }
        "duplicate_input" => {
            let v = nvsci::validate(&r, &[&s, &w, &w])?;
            check(!documented_from(8)?, || {
                "a list given twice: NvSciSync 2.8+ documents BadParameter, got Success".into()
            })?;
            return Ok(vec![Observation::new(obs_key::VALID, v)]);
        }
        other => return Err(OpError::Row(format!("defect `{other}`"))),
    };
    check(!valid, || {
        "ValidateReconciled calls a list valid against an input it does not satisfy".into()
    })?;
    Ok(vec![Observation::new(obs_key::VALID, valid)])
}

fn reconciled_key(c: &Ctx) -> OpResult {
    let name = c.param_str("key", "")?;
    let k = nvsci_abi::feature(name)
        .and_then(|f| f.key)
        .ok_or_else(|| OpError::Row(format!("param `key`: `{name}` is not an NvSciSyncAttrKey")))?;
    let m = Module::open()?;
    let (_s, _w, r) = cpu_pair(&m)?;
    let p = r.get_raw(k)?;
    let bytes: &[u8] = if p.value.is_null() {
        &[]
    } else {
        // SAFETY: GetAttrs hands out `len` readable bytes owned by the live list `r`.
        unsafe { std::slice::from_raw_parts(p.value as *const u8, p.len) }
    };
    let word = |n: usize| -> Option<u64> {
        (bytes.len() == n).then(|| {
            let mut b = [0u8; 8];
            b[..n].copy_from_slice(bytes);
            u64::from_ne_bytes(b)
        })
    };
    // Primitive types of nvscisync.h 2.5+: SysmemSemaphorePayload64b is 4.
    const PAYLOAD_64B: u64 = 4;
    let prim = || -> Result<Option<u64>, OpError> {
        match nvsci_abi::upper_bound(nvsci::lib()?.version.minor) > key::PRIMITIVE_INFO {
            true => {
                let p = r.get_raw(key::PRIMITIVE_INFO)?;
                Ok((p.len == 4).then(|| unsafe { *(p.value as *const u32) } as u64))
            }
            false => Ok(None),
        }
    };
    let value = match k {
        // nvscisync.h 2.8: UINT64_MAX for a 64-bit sysmem semaphore, else UINT32_MAX.
        key::MAX_PRIMITIVE_VALUE => {
            let v = word(8);
            let want: &[u64] = match prim()? {
                Some(PAYLOAD_64B) => &[u64::MAX],
                Some(_) => &[u32::MAX as u64],
                None => &[u32::MAX as u64, u64::MAX],
            };
            check(v.is_some_and(|v| want.contains(&v)), || {
                format!(
                    "reconciled {name} is {v:?} ({} bytes), expected {want:#x?}",
                    bytes.len()
                )
            })?;
            v
        }
        // nvscisync.h 2.8: 0 when task status is not required.
        key::NUM_TASK_STATUS_SLOTS => {
            let v = word(4);
            check(v == Some(0), || {
                format!(
                    "reconciled {name} is {v:?} ({} bytes), expected 0 (no task status requested)",
                    bytes.len()
                )
            })?;
            v
        }
        // nvscisync.h 2.5+: set to the reconciled primitive type.
        key::PRIMITIVE_INFO => {
            let v = word(4);
            check(v.is_some_and(|t| (1..6).contains(&t)), || {
                format!(
                    "reconciled {name} is {v:?} ({} bytes), expected one primitive type",
                    bytes.len()
                )
            })?;
            v
        }
        _ => {
            return Err(OpError::Row(format!(
                "param `key`: {name} is not an output key this op checks"
            )))
        }
    };
    Ok(vec![Observation::attribute(name, format!("{value:?}"))])
}

fn deterministic(c: &Ctx) -> OpResult {
    let count = c.param_u64("count", 8)?.max(2);
    let side = c.case.axis("dev").unwrap_or(AxisValue::Cpu);
    let m = Module::open()?;
    let s = party_list(c.case.api, &m, side, true)?;
    s.set(&[pair_bool(key::REQUIRE_DETERMINISTIC_FENCES, &true)])?;
    let w = cpu_list(&m, perm::WAIT_ONLY)?;
    let r = nvsci::reconcile(&[&s, &w]).map_err(|f| f.error)?;
    // "this key is set to true in the reconciled NvSciSyncAttrList if any one of the input
    // NvSciSyncAttrList(s) has this set to true"
    let det = r.get_bool(key::REQUIRE_DETERMINISTIC_FENCES)?;
    check(det == Some(true), || {
        format!("reconciled RequireDeterministicFences is {det:?}, an input set true")
    })?;
    let obj = Obj::alloc(&r)?;
    let ctx = m.cpu_wait_context()?;
    let gpu = match side {
        AxisValue::Device(d) => Some(cuda_import(c.case.api, d, &obj)?),
        AxisValue::Cpu => None,
    };
    let mut prev: Option<(u64, u64)> = None;
    for i in 1..=count {
        let fence = signal_once(&obj, gpu.as_ref())?;
        let (id, value) = fence.extract()?;
        if let Some((pid, pvalue)) = prev {
            // "the Signaler will increment the instance 0 of the primitive … by 1 at each submission"
            check(id == pid && value == pvalue.wrapping_add(1), || {
                format!("signal {i}: fence (id {id}, value {value}) after (id {pid}, value {pvalue}); deterministic fences move by one")
            })?;
        }
        prev = Some((id, value));
        fence
            .wait(&ctx, 5_000_000)
            .map_err(|e| OpError::Check(format!("signal {i}: CPU wait: {e}")))?;
    }
    Ok(vec![Observation::new(obs_key::SIGNALS, count)])
}
