//! NvSciSync across processes: each case runs its two halves in two processes, this one
//! and a peer (`hil-suite --ipc-peer CASE`), joined by an NvSciIpc endpoint pair of the
//! `ipc_endpoints` setting. Lists, objects and fences are exported on one side and
//! imported on the other (into CUDA there, on GPU sides). `link.rs`: endpoints, the peer
//! process and the messages; `halves.rs`: what each side of each op does.

use super::{Ctx, OpDef, OpResult};
use crate::case::Case;
use crate::error::OpError;

mod halves;
mod link;

pub use link::{endpoints_offered, probe_endpoints};

pub static OPS: &[OpDef] = &[
    OpDef {
        name: "nvsci_ipc_lists",
        params: &["scenario"],
        doc: "Two processes: attribute lists exported and imported over NvSciIpc, param `scenario`: unreconciled (the peer's list, imported read-only), reconciled (the reconciled list, imported against the peer's input), unsatisfied_input (imported against an input it does not satisfy), export_unreconciled_as_reconciled, corrupt, truncated, other_endpoint (the reconciled list's descriptor with a flipped byte, one byte short, or imported on a second pair).",
        run: |c| link::run_main(c, |l| halves::lists_main(c, l)),
    },
    OpDef {
        name: "nvsci_ipc_roundtrip",
        params: &["count", "export_perm"],
        doc: "Two processes, axes `signaler`, `waiter` (cpu or CUDA device): the exporter reconciles with the peer's list, allocates and exports the object with param `export_perm` (wait: the exporter signals; signal, 2.3+: the importer signals), both import it into CUDA on GPU sides, then `count` fences are exported per signal and waited on in the other process.",
        run: |c| link::run_main(c, |l| halves::roundtrip_main(c, l)),
    },
    OpDef {
        name: "nvsci_ipc_obj",
        params: &["scenario"],
        doc: "Two processes: a CPU signaler exports its object WaitOnly; the peer, param `scenario`: import_timeout (imports with timeoutUs 5 s, \"Unused\"), waiter_signals, waiter_generates_fence, input_list_mismatch (another reconciled list as inputAttrList), export_more_perm (re-exports WaitSignal), corrupt, other_endpoint (the object descriptor with a flipped byte, or imported on a second pair), fence_wait_timeout (a fence never signalled, waited 100 ms), fence_other_object (a fence imported into an object of its own).",
        run: |c| link::run_main(c, |l| halves::obj_main(c, l)),
    },
    OpDef {
        name: "nvsci_ipc_exporter_gone",
        params: &["how"],
        doc: "Two processes, axis `waiter` (cpu or CUDA device): this process imports the peer's object (into CUDA on a GPU) and a fence never signalled; the exporter then, param `how`, frees its object (free) or exits (exit); the importer waits on the fence. Undefined: for `ub` rows.",
        run: |c| link::run_main(c, |l| halves::gone_main(c, l)),
    },
];

/// The endpoint pairs a row holds while it runs: 0 for a row of another op, 2 for the
/// rows that replay a descriptor on a second pair, else 1. The executor gives pairs out
/// (`exec::core::Want::pairs`), so that a case never waits inside its time limit for a
/// pair another case of this suite holds.
pub fn pairs_needed(case: &Case) -> u32 {
    if !OPS.iter().any(|op| op.name == case.op) {
        return 0;
    }
    match case.params.get("scenario").and_then(|v| v.as_str()) {
        Some("other_endpoint") => 2,
        _ => 1,
    }
}

/// `hil-suite --ipc-peer CASE --ipc-peer-endpoints NAMES`: the peer half of `case` on
/// the named endpoints; prints its result line (as an isolation child does) and exits 0.
pub fn peer_main(case: &Case, ends: &str) -> ! {
    let c = Ctx { case, pairs: &[] };
    // Known before any endpoint is opened: a row of another op has no peer to wait for.
    let r = if OPS.iter().any(|op| op.name == case.op) {
        link::run_peer(case, ends, |l| halves::peer_half(&c, l))
    } else {
        Err(OpError::Row(format!(
            "`{}` is not a cross-process row (op `{}`): it has no peer half",
            case.name, case.op
        )))
    };
    crate::child::report(r);
    std::process::exit(0)
}

/// A row naming a scenario the op does not know.
fn unknown(param: &str, value: &str) -> OpError {
    OpError::Row(format!("{param} `{value}` is not one this op knows"))
}
