//! What each process does in each cross-process op: `*_main` in the suite's process,
//! `peer_half` in the peer. The messages both halves exchange are named here, in order.

use super::super::cuda_side::{cuda_import, cuda_wait, GpuSide};
use super::super::pairs::{party_list, signal_once};
use super::super::{cpu_list, cpu_pair, perm_name};
use super::link::Link;
use super::{unknown, Ctx, OpResult};
use crate::error::OpError;
use crate::nvsci::ipc::{desc_bytes, desc_from, export_reconciled, export_unreconciled};
use crate::nvsci::{self, pair_bool, AttrList, Fence, Module, Obj};
use crate::types::AxisValue;
use hil_proto::key as obs_key;
use hil_proto::Observation;
use nvsci_abi::ipc::{FenceIpcExportDescriptor as FenceDesc, ObjIpcExportDescriptor as ObjDesc};
use nvsci_abi::{err, key, perm};
use std::time::{Duration, Instant};

/// How long a CPU wait on a fence the other process signals may take.
const WAIT_US: i64 = 5_000_000;

/// The peer half of the case's op.
pub(super) fn peer_half(c: &Ctx, l: &Link) -> OpResult {
    match c.case.op.as_str() {
        "nvsci_ipc_lists" => lists_peer(c, l),
        "nvsci_ipc_roundtrip" => roundtrip_peer(c, l),
        "nvsci_ipc_obj" => obj_peer(c, l),
        "nvsci_ipc_exporter_gone" => gone_peer(c, l),
        other => Err(OpError::Row(format!("op `{other}` has no peer half"))),
    }
}

fn axis(c: &Ctx, name: &str) -> Result<AxisValue, OpError> {
    c.case
        .axis(name)
        .ok_or_else(|| OpError::Row(format!("op `{}` needs axis `{name}`", c.case.op)))
}

/// The GPU's view of `obj` on a device side; none on the CPU.
fn gpu(c: &Ctx, side: AxisValue, obj: &Obj) -> Result<Option<GpuSide>, OpError> {
    match side {
        AxisValue::Device(d) => cuda_import(c.case.api, d, obj).map(Some),
        AxisValue::Cpu => Ok(None),
    }
}

/// Waits on `f` on the waiter's side: the CPU (NvSciSyncFenceWait) or the GPU.
fn wait_on(f: &mut Fence, g: Option<&GpuSide>, ctx: &nvsci::CpuWaitContext) -> OpResult {
    match g {
        None => f.wait(ctx, WAIT_US)?,
        Some(g) => cuda_wait(g, f)?,
    }
    Ok(vec![])
}

// --- the exchange every op starts with ---

/// Exporter: imports the peer's unreconciled list, reconciles it with `own` and sends
/// the reconciled list back. Returns the imported and the reconciled list.
fn reconcile_with_peer(l: &Link, m: &Module, own: &AttrList) -> Result<[AttrList; 2], OpError> {
    let theirs = m.import_unreconciled(l.ep(), &l.recv()?)?;
    let r = nvsci::reconcile(&[own, &theirs]).map_err(|f| f.error)?;
    l.send(&export_reconciled(&r, l.ep())?)?;
    Ok([theirs, r])
}

/// Importer: sends `own` and imports the reconciled list against it.
fn offer(l: &Link, m: &Module, own: &AttrList) -> Result<AttrList, OpError> {
    l.send(&export_unreconciled(&[own], l.ep())?)?;
    m.import_reconciled(l.ep(), &l.recv()?, &[own])
}

fn send_obj(l: &Link, obj: &Obj, p: u64) -> Result<(), OpError> {
    l.send(&desc_bytes(&obj.ipc_export(p, l.ep())?))
}

fn send_fence(l: &Link, f: &Fence) -> Result<(), OpError> {
    l.send(&desc_bytes(&f.ipc_export(l.ep())?))
}

fn recv_obj(l: &Link) -> Result<ObjDesc, OpError> {
    Ok(desc_from(&l.recv()?))
}

fn recv_fence(l: &Link) -> Result<FenceDesc, OpError> {
    Ok(desc_from(&l.recv()?))
}

/// `e` must be NvSciError `code`; success is a failed check naming `what`.
fn refused(r: Result<(), OpError>, code: i32, what: &str) -> Result<(), OpError> {
    match r {
        Err(OpError::Api { code: c, .. }) if c == i64::from(code) => Ok(()),
        Ok(()) => Err(OpError::Check(format!("{what} succeeded"))),
        Err(e) => Err(e),
    }
}

// --- nvsci_ipc_lists ---

pub(super) fn lists_main(c: &Ctx, l: &Link) -> OpResult {
    let m = Module::open()?;
    let scenario = c.param_str("scenario", "")?;
    match scenario {
        "unreconciled" => {
            let theirs = m.import_unreconciled(l.ep(), &l.recv()?)?;
            let required = theirs.get_u64(key::REQUIRED_PERM)?;
            let need = theirs.get_bool(key::NEED_CPU_ACCESS)?;
            if required != Some(perm::WAIT_ONLY) || need != Some(true) {
                return Err(OpError::Check(format!(
                    "the imported list reads RequiredPerm {required:?}, NeedCpuAccess {need:?}; \
                     the peer set WaitOnly and true"
                )));
            }
            // "Imported NvSciSyncAttrList is no longer writable."
            refused(
                theirs.set(&[pair_bool(key::WAITER_REQUIRE_TIMESTAMPS, &true)]),
                err::BAD_PARAMETER,
                "NvSciSyncAttrListSetAttrs on the imported list",
            )?;
            l.expect("done")?;
            Ok(vec![Observation::new(
                obs_key::REQUIRED_PERM,
                perm_name(perm::WAIT_ONLY),
            )])
        }
        "export_unreconciled_as_reconciled" => {
            let own = cpu_list(&m, perm::SIGNAL_ONLY)?;
            export_reconciled(&own, l.ep())?;
            Ok(vec![])
        }
        "reconciled" | "unsatisfied_input" | "corrupt" | "truncated" | "other_endpoint" => {
            let own = cpu_list(&m, perm::SIGNAL_ONLY)?;
            let _lists = reconcile_with_peer(l, &m, &own)?;
            l.expect("done")?;
            Ok(vec![])
        }
        other => Err(unknown("scenario", other)),
    }
}

fn lists_peer(c: &Ctx, l: &Link) -> OpResult {
    let m = Module::open()?;
    let own = cpu_list(&m, perm::WAIT_ONLY)?;
    let scenario = c.param_str("scenario", "")?;
    if scenario == "export_unreconciled_as_reconciled" {
        return Ok(vec![]);
    }
    l.send(&export_unreconciled(&[&own], l.ep())?)?;
    if scenario == "unreconciled" {
        l.send(b"done")?;
        return Ok(vec![]);
    }
    let mut desc = l.recv()?;
    let mut obs = vec![];
    match scenario {
        "reconciled" => {
            let r = m.import_reconciled(l.ep(), &desc, &[&own])?;
            let actual = r.get_u64(key::ACTUAL_PERM)?.unwrap_or(0);
            let need = r.get_bool(key::NEED_CPU_ACCESS)?;
            if actual & perm::WAIT_ONLY == 0 || need != Some(true) {
                return Err(OpError::Check(format!(
                    "the imported reconciled list has ActualPerm {}, NeedCpuAccess {need:?}: \
                     it does not satisfy this process's CPU waiter list",
                    perm_name(actual)
                )));
            }
            obs.push(Observation::new(obs_key::ACTUAL_PERM, perm_name(actual)));
        }
        "unsatisfied_input" => {
            let signaler = cpu_list(&m, perm::SIGNAL_ONLY)?;
            m.import_reconciled(l.ep(), &desc, &[&signaler])?;
        }
        "corrupt" => {
            let at = desc.len() / 2;
            desc[at] ^= 0x40;
            m.import_reconciled(l.ep(), &desc, &[&own])?;
        }
        "truncated" => {
            m.import_reconciled(l.ep(), &desc[..desc.len().saturating_sub(1)], &[&own])?;
        }
        "other_endpoint" => {
            m.import_reconciled(l.other()?, &desc, &[&own])?;
        }
        other => return Err(unknown("scenario", other)),
    }
    l.send(b"done")?;
    Ok(obs)
}

// --- nvsci_ipc_roundtrip ---

/// `export_perm` signal: the importer signals, which the headers allow from 2.3.
fn importer_signals(c: &Ctx) -> Result<bool, OpError> {
    match c.param_str("export_perm", "wait")? {
        "wait" => Ok(false),
        "signal" => {
            let v = nvsci::lib()?.version;
            if v.minor < nvsci_abi::ipc::SIGNAL_EXPORT_SINCE_MINOR {
                return Err(OpError::NotSupported(format!(
                    "needs NvSciSync 2.{} (NvSciSyncObjIpcExport takes signaling rights from \
                     the 2.{0} header; 2.0 refuses them); this library is NvSciSync {v}",
                    nvsci_abi::ipc::SIGNAL_EXPORT_SINCE_MINOR
                )));
            }
            Ok(true)
        }
        other => Err(unknown("export_perm", other)),
    }
}

/// The exporter allocates; with `export_perm: wait` it is the signaler, else the waiter.
pub(super) fn roundtrip_main(c: &Ctx, l: &Link) -> OpResult {
    let count = c.param_u64("count", 8)?.max(1);
    let peer_signals = importer_signals(c)?;
    let (signaler, waiter) = (axis(c, "signaler")?, axis(c, "waiter")?);
    let m = Module::open()?;
    let side = if peer_signals { waiter } else { signaler };
    let own = party_list(c.case.api, &m, side, !peer_signals)?;
    let [_theirs, r] = reconcile_with_peer(l, &m, &own)?;
    let obj = Obj::alloc(&r)?;
    let granted = if peer_signals {
        perm::SIGNAL_ONLY
    } else {
        perm::WAIT_ONLY
    };
    send_obj(l, &obj, granted)?;
    let g = gpu(c, side, &obj)?;
    let ctx = m.cpu_wait_context()?;
    for i in 1..=count {
        if peer_signals {
            let mut f = obj.import_fence(&recv_fence(l)?)?;
            wait_on(&mut f, g.as_ref(), &ctx)
                .map_err(|e| OpError::Check(format!("round {i}: wait here: {e}")))?;
            l.send(b"waited")?;
        } else {
            let f = signal_once(&obj, g.as_ref())?;
            send_fence(l, &f)?;
            l.expect("waited")?;
        }
    }
    Ok(vec![
        Observation::new(obs_key::ROUNDS, count),
        Observation::new(
            obs_key::SIGNAL,
            if peer_signals { "peer" } else { "exporter" },
        ),
    ])
}

fn roundtrip_peer(c: &Ctx, l: &Link) -> OpResult {
    let count = c.param_u64("count", 8)?.max(1);
    let peer_signals = importer_signals(c)?;
    let (signaler, waiter) = (axis(c, "signaler")?, axis(c, "waiter")?);
    let m = Module::open()?;
    let side = if peer_signals { signaler } else { waiter };
    let own = party_list(c.case.api, &m, side, peer_signals)?;
    let r = offer(l, &m, &own)?;
    let granted = if peer_signals {
        perm::SIGNAL_ONLY
    } else {
        perm::WAIT_ONLY
    };
    let obj = Obj::ipc_import(l.ep(), &recv_obj(l)?, &r, granted, 0)?;
    let g = gpu(c, side, &obj)?;
    let ctx = m.cpu_wait_context()?;
    for i in 1..=count {
        if peer_signals {
            let f = signal_once(&obj, g.as_ref())?;
            send_fence(l, &f)?;
            l.expect("waited")?;
        } else {
            let mut f = obj.import_fence(&recv_fence(l)?)?;
            wait_on(&mut f, g.as_ref(), &ctx)
                .map_err(|e| OpError::Check(format!("round {i}: wait in the peer: {e}")))?;
            l.send(b"waited")?;
        }
    }
    Ok(vec![])
}

// --- nvsci_ipc_obj ---

/// The CPU signaler: exports its object WaitOnly (and, for the fence scenarios, a fence
/// it never signals), and keeps both until the peer is done with them.
pub(super) fn obj_main(c: &Ctx, l: &Link) -> OpResult {
    let scenario = c.param_str("scenario", "")?;
    let m = Module::open()?;
    let own = cpu_list(&m, perm::SIGNAL_ONLY)?;
    let [_theirs, r] = reconcile_with_peer(l, &m, &own)?;
    let obj = Obj::alloc(&r)?;
    send_obj(l, &obj, perm::WAIT_ONLY)?;
    let _fence = if scenario.starts_with("fence_") {
        let f = obj.generate_fence()?;
        send_fence(l, &f)?;
        Some(f)
    } else {
        None
    };
    l.expect("done")?;
    Ok(vec![])
}

fn obj_peer(c: &Ctx, l: &Link) -> OpResult {
    let scenario = c.param_str("scenario", "")?;
    let m = Module::open()?;
    let own = cpu_list(&m, perm::WAIT_ONLY)?;
    let r = offer(l, &m, &own)?;
    let mut d = recv_obj(l)?;
    let import = |d: &ObjDesc| Obj::ipc_import(l.ep(), d, &r, perm::WAIT_ONLY, 0);
    let mut obs = vec![];
    match scenario {
        "import_timeout" => {
            let t = Instant::now();
            let o = Obj::ipc_import(l.ep(), &d, &r, perm::WAIT_ONLY, WAIT_US)?;
            let took = t.elapsed();
            // "timeoutUs: Unused": a valid import never waits it out.
            if took >= Duration::from_micros(WAIT_US as u64) {
                return Err(OpError::Check(format!(
                    "NvSciSyncObjIpcImport took {took:?}, the timeoutUs given (documented \"Unused\")"
                )));
            }
            drop(o);
            obs.push(Observation::new(
                obs_key::IMPORT_US,
                took.as_micros() as u64,
            ));
        }
        "waiter_signals" => import(&d)?.signal()?,
        "waiter_generates_fence" => drop(import(&d)?.generate_fence()?),
        "input_list_mismatch" => {
            // A list of this process reconciled from other inputs: it asks for timestamps,
            // which the exported object's list does not have.
            let s = cpu_list(&m, perm::SIGNAL_ONLY)?;
            let w = cpu_list(&m, perm::WAIT_ONLY)?;
            w.set(&[pair_bool(key::WAITER_REQUIRE_TIMESTAMPS, &true)])?;
            let other = nvsci::reconcile(&[&s, &w]).map_err(|f| f.error)?;
            Obj::ipc_import(l.ep(), &d, &other, perm::WAIT_ONLY, 0)?;
        }
        "export_more_perm" => {
            import(&d)?.ipc_export(perm::WAIT_SIGNAL, l.ep())?;
        }
        "corrupt" => {
            d.payload[64] ^= 1;
            import(&d)?;
        }
        "other_endpoint" => {
            Obj::ipc_import(l.other()?, &d, &r, perm::WAIT_ONLY, 0)?;
        }
        "fence_wait_timeout" => {
            let o = import(&d)?;
            let f = o.import_fence(&recv_fence(l)?)?;
            let ctx = m.cpu_wait_context()?;
            let t = Instant::now();
            let r = f.wait(&ctx, 100_000);
            let took = t.elapsed();
            if took > Duration::from_secs(5) {
                return Err(OpError::Check(format!(
                    "NvSciSyncFenceWait with a 100 ms timeout returned after {took:?}"
                )));
            }
            r?;
        }
        "fence_other_object" => {
            let fd = recv_fence(l)?;
            let _ours = import(&d)?;
            let (_s, _w, local_r) = cpu_pair(&m)?;
            let local = Obj::alloc(&local_r)?;
            drop(local.import_fence(&fd)?);
        }
        other => return Err(unknown("scenario", other)),
    }
    l.send(b"done")?;
    Ok(obs)
}

// --- nvsci_ipc_exporter_gone (undefined: `ub` rows) ---

/// The importer: imports the object (into CUDA on a GPU waiter) and a fence never
/// signalled, lets the exporter free its object or exit, then waits on the fence.
pub(super) fn gone_main(c: &Ctx, l: &Link) -> OpResult {
    let how = c.param_str("how", "")?;
    if !matches!(how, "free" | "exit") {
        return Err(unknown("how", how));
    }
    let waiter = axis(c, "waiter")?;
    let m = Module::open()?;
    let own = party_list(c.case.api, &m, waiter, false)?;
    let r = offer(l, &m, &own)?;
    let obj = Obj::ipc_import(l.ep(), &recv_obj(l)?, &r, perm::WAIT_ONLY, 0)?;
    let g = gpu(c, waiter, &obj)?;
    let mut f = obj.import_fence(&recv_fence(l)?)?;
    let ctx = m.cpu_wait_context()?;
    l.send(b"imported")?;
    if how == "free" {
        l.expect("freed")?;
    } else {
        l.wait_reset()?;
    }
    crate::progress::step("wait on the fence of the object its exporter dropped");
    match &g {
        None => f.wait(&ctx, 1_000_000)?,
        Some(g) => cuda_wait(g, &mut f)?,
    }
    Ok(vec![Observation::new(obs_key::WAIT, "returned")])
}

fn gone_peer(c: &Ctx, l: &Link) -> OpResult {
    let m = Module::open()?;
    let own = cpu_list(&m, perm::SIGNAL_ONLY)?;
    let [theirs, r] = reconcile_with_peer(l, &m, &own)?;
    let obj = Obj::alloc(&r)?;
    send_obj(l, &obj, perm::WAIT_ONLY)?;
    let f = obj.generate_fence()?;
    send_fence(l, &f)?;
    l.expect("imported")?;
    if c.param_str("how", "")? == "exit" {
        // Gone without a word: the importer sees only the endpoint reset.
        crate::child::report(Ok(vec![]));
        std::process::exit(0);
    }
    drop((f, obj, r, theirs, own));
    l.send(b"freed")?;
    Ok(vec![])
}
