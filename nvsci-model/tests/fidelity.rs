//! Header fidelity: documented conditions of each NvSciSync function, each dated by the
//! first public `nvscisync.h` that states it (2.0 = DRIVE OS 5.2.6, 2.4 = 6.0.5,
//! 2.8 = 6.0.10; a key's text is dated by the header that introduced the key), checked
//! against the model presenting 2.0, 2.3, 2.5 and 2.8. Conditions are paraphrased; where
//! a header names several outcomes the check accepts each of them.
//!
//! The model reads its version once per process, so each version runs in a child.
mod common;
use common::*;
use std::process::Command;
use std::ptr::{null, null_mut};

const CHILD: &str = "HIL_MODEL_FIDELITY_CHILD";

struct Cond {
    func: &'static str,
    /// First header minor (of 2.x) that documents it.
    since: u32,
    says: &'static str,
    check: fn() -> R,
}

const fn c(func: &'static str, since: u32, says: &'static str, check: fn() -> R) -> Cond {
    Cond {
        func,
        since,
        says,
        check,
    }
}

const BP: NvSciError = err::BAD_PARAMETER;

fn conditions() -> Vec<Cond> {
    vec![
        // NvSciSyncCheckVersionCompatibility
        c("NvSciSyncCheckVersionCompatibility", 0, "NULL isCompatible is BadParameter", || {
            want("NULL", unsafe { model::NvSciSyncCheckVersionCompatibility(2, 0, null_mut()) }, &[BP])
        }),
        c("NvSciSyncCheckVersionCompatibility", 0, "the library's own major/minor is compatible", || {
            let mut ok = false;
            want("own", unsafe { model::NvSciSyncCheckVersionCompatibility(2, minor(), &mut ok) }, &[err::SUCCESS])?;
            ensure(ok, "own version answered incompatible")
        }),
        c("NvSciSyncCheckVersionCompatibility", 0, "another major version is not compatible", || {
            let mut ok = true;
            want("major 3", unsafe { model::NvSciSyncCheckVersionCompatibility(3, 0, &mut ok) }, &[err::SUCCESS])?;
            ensure(!ok, "major 3 answered compatible")
        }),
        c("NvSciSyncCheckVersionCompatibility", 0, "a minor above the library's is not compatible", || {
            let mut ok = true;
            want("minor+1", unsafe { model::NvSciSyncCheckVersionCompatibility(2, minor() + 1, &mut ok) }, &[err::SUCCESS])?;
            ensure(!ok, "a newer minor answered compatible")
        }),
        // NvSciSyncModuleOpen / CpuWaitContextAlloc / AttrListCreate
        c("NvSciSyncModuleOpen", 0, "NULL newModule is BadParameter", || {
            want("NULL", unsafe { model::NvSciSyncModuleOpen(null_mut()) }, &[BP])
        }),
        c("NvSciSyncCpuWaitContextAlloc", 0, "NULL module or NULL newContext is BadParameter", || {
            let mut x = null_mut();
            want("NULL module", unsafe { model::NvSciSyncCpuWaitContextAlloc(null_mut(), &mut x) }, &[BP])?;
            want("NULL out", unsafe { model::NvSciSyncCpuWaitContextAlloc(module(), null_mut()) }, &[BP])
        }),
        c("NvSciSyncAttrListCreate", 0, "any NULL argument is BadParameter", || {
            let mut x = null_mut();
            want("NULL module", unsafe { model::NvSciSyncAttrListCreate(null_mut(), &mut x) }, &[BP])?;
            want("NULL out", unsafe { model::NvSciSyncAttrListCreate(module(), null_mut()) }, &[BP])
        }),
        c("NvSciSyncAttrListCreate", 0, "a new list is single-slot, unreconciled, with empty keys", || {
            let l = empty(module());
            let mut rec = true;
            want("IsReconciled", unsafe { model::NvSciSyncAttrListIsReconciled(l, &mut rec) }, &[err::SUCCESS])?;
            ensure(!rec, "new list is reconciled")?;
            let (code, v, len) = get(l, key::NEED_CPU_ACCESS);
            want("GetAttrs", code, &[err::SUCCESS])?;
            ensure(v.is_null() && len == 0, "new list has NeedCpuAccess set")
        }),
        // NvSciSyncAttrListIsReconciled
        c("NvSciSyncAttrListIsReconciled", 0, "any NULL argument is BadParameter", || {
            let mut b = false;
            want("NULL list", unsafe { model::NvSciSyncAttrListIsReconciled(null_mut(), &mut b) }, &[BP])?;
            want("NULL out", unsafe { model::NvSciSyncAttrListIsReconciled(empty(module()), null_mut()) }, &[BP])
        }),
        c("NvSciSyncAttrListIsReconciled", 0, "a list from Reconcile reports reconciled", || {
            let (_, _, r) = reconciled(module());
            let mut b = false;
            want("IsReconciled", unsafe { model::NvSciSyncAttrListIsReconciled(r, &mut b) }, &[err::SUCCESS])?;
            ensure(b, "reconciled list reports unreconciled")
        }),
        // NvSciSyncAttrListSetAttrs
        c("NvSciSyncAttrListSetAttrs", 0, "NULL pairArray, NULL attrList or pairCount 0 is BadParameter", || {
            let l = empty(module());
            let p = [pb(key::NEED_CPU_ACCESS, &true)];
            want("NULL pairs", unsafe { model::NvSciSyncAttrListSetAttrs(l, null(), 1) }, &[BP])?;
            want("NULL list", unsafe { model::NvSciSyncAttrListSetAttrs(null_mut(), p.as_ptr(), 1) }, &[BP])?;
            want("count 0", unsafe { model::NvSciSyncAttrListSetAttrs(l, p.as_ptr(), 0) }, &[BP])
        }),
        c("NvSciSyncAttrListSetAttrs", 0, "a list that is not unreconciled is BadParameter", || {
            let (_, _, r) = reconciled(module());
            want("reconciled", set(r, &[pb(key::NEED_CPU_ACCESS, &true)]), &[BP])
        }),
        c("NvSciSyncAttrListSetAttrs", 0, "a key that is not a supported public key is BadParameter", || {
            let l = empty(module());
            want("UpperBound", set(l, &[pb(nvsci_abi::upper_bound(minor()), &true)]), &[BP])?;
            want("LowerBound", set(l, &[pb(key::LOWER_BOUND, &true)]), &[BP])
        }),
        c("NvSciSyncAttrListSetAttrs", 0, "a NULL value is BadParameter", || {
            let p = nvsci_abi::KeyValuePair { attr_key: key::NEED_CPU_ACCESS, value: null(), len: 1 };
            want("NULL value", set(empty(module()), &[p]), &[BP])
        }),
        c("NvSciSyncAttrListSetAttrs", 0, "a length invalid for the attribute is BadParameter", || {
            let four = 1u32;
            want("4-byte perm", set(empty(module()), &[praw(key::REQUIRED_PERM, std::slice::from_ref(&four))]), &[BP])
        }),
        c("NvSciSyncAttrListSetAttrs", 0, "writing an attribute already written (non-writable) is BadParameter", || {
            let l = cpu(module(), perm::WAIT_ONLY);
            want("again", set(l, &[pu(key::REQUIRED_PERM, &perm::WAIT_ONLY)]), &[BP])
        }),
        c("NvSciSyncAttrListSetAttrs", 0, "an output (read-only) key such as ActualPerm is BadParameter", || {
            want("ActualPerm", set(empty(module()), &[pu(key::ACTUAL_PERM, &perm::WAIT_ONLY)]), &[BP])
        }),
        c("NvSciSyncAttrListSetAttrs", 3, "pairArray with duplicate keys is BadParameter", || {
            let l = empty(module());
            want("duplicate", set(l, &[pb(key::NEED_CPU_ACCESS, &true), pb(key::NEED_CPU_ACCESS, &true)]), &[BP])?;
            ensure(get(l, key::NEED_CPU_ACCESS).1.is_null(), "a failed SetAttrs set the key")
        }),
        c("NvSciSyncAttrListSetAttrs", 3, "2.3 output keys (slot counts, MaxPrimitiveValue) are read-only", || {
            let l = empty(module());
            let n = 4u32;
            want("NumTimestampSlots", set(l, &[praw(key::NUM_TIMESTAMP_SLOTS, std::slice::from_ref(&n))]), &[BP])?;
            want("NumTaskStatusSlots", set(l, &[praw(key::NUM_TASK_STATUS_SLOTS, std::slice::from_ref(&n))]), &[BP])?;
            want("MaxPrimitiveValue", set(l, &[pu(key::MAX_PRIMITIVE_VALUE, &1)]), &[BP])
        }),
        c("NvSciSyncAttrListSetAttrs", 3, "RequireDeterministicFences is an inout bool", || {
            want("set", set(empty(module()), &[pb(key::REQUIRE_DETERMINISTIC_FENCES, &true)]), &[err::SUCCESS])
        }),
        c("NvSciSyncAttrListSetAttrs", 5, "PrimitiveInfo is an inout array of primitive types", || {
            want("set", set(empty(module()), &[praw(key::PRIMITIVE_INFO, &[2i32, 4])]), &[err::SUCCESS])
        }),
        c("NvSciSyncAttrListSetAttrs", 5, "GpuId is an inout array of NvSciRmGpuId", || {
            want("set", set(empty(module()), &[praw(key::GPU_ID, &[1u8; 32])]), &[err::SUCCESS])
        }),
        // NvSciSyncAttrListGetAttrs / GetAttr / SlotGetAttrs
        c("NvSciSyncAttrListGetAttrs", 0, "any NULL argument or pairCount 0 is BadParameter", || {
            let l = empty(module());
            let mut p = [pb(key::NEED_CPU_ACCESS, &true)];
            want("NULL list", unsafe { model::NvSciSyncAttrListGetAttrs(null_mut(), p.as_mut_ptr(), 1) }, &[BP])?;
            want("NULL pairs", unsafe { model::NvSciSyncAttrListGetAttrs(l, null_mut(), 1) }, &[BP])?;
            want("count 0", unsafe { model::NvSciSyncAttrListGetAttrs(l, p.as_mut_ptr(), 0) }, &[BP])
        }),
        c("NvSciSyncAttrListGetAttrs", 0, "a key outside (LowerBound, UpperBound) is BadParameter", || {
            let l = empty(module());
            want("UpperBound", get(l, nvsci_abi::upper_bound(minor())).0, &[BP])?;
            want("LowerBound", get(l, key::LOWER_BOUND).0, &[BP])
        }),
        c("NvSciSyncAttrListGetAttrs", 0, "a key never set reads NULL, length 0", || {
            let l = empty(module());
            for k in 1..nvsci_abi::upper_bound(minor()) {
                let (code, v, len) = get(l, k);
                want("GetAttrs", code, &[err::SUCCESS])?;
                ensure(v.is_null() && len == 0, &format!("key {k} reads a value"))?;
            }
            Ok(())
        }),
        c("NvSciSyncAttrListGetAttrs", 0, "a set key reads back its value", || {
            let l = cpu(module(), perm::WAIT_SIGNAL);
            ensure(get_u64(l, key::REQUIRED_PERM) == Some(perm::WAIT_SIGNAL), "RequiredPerm")?;
            ensure(get_bool(l, key::NEED_CPU_ACCESS) == Some(true), "NeedCpuAccess")
        }),
        c("NvSciSyncAttrListGetAttr", 0, "NULL attrList, value or len is BadParameter", || {
            let l = empty(module());
            let (mut v, mut n) = (null(), 0usize);
            want("NULL list", unsafe { model::NvSciSyncAttrListGetAttr(null_mut(), 1, &mut v, &mut n) }, &[BP])?;
            want("NULL value", unsafe { model::NvSciSyncAttrListGetAttr(l, 1, null_mut(), &mut n) }, &[BP])?;
            want("NULL len", unsafe { model::NvSciSyncAttrListGetAttr(l, 1, &mut v, null_mut()) }, &[BP])
        }),
        c("NvSciSyncAttrListGetAttr", 0, "an unsupported key is BadParameter; an unset key reads NULL/0", || {
            let l = empty(module());
            let (mut v, mut n) = (null(), 7usize);
            want("UpperBound", unsafe { model::NvSciSyncAttrListGetAttr(l, nvsci_abi::upper_bound(minor()), &mut v, &mut n) }, &[BP])?;
            want("unset", unsafe { model::NvSciSyncAttrListGetAttr(l, key::REQUIRED_PERM, &mut v, &mut n) }, &[err::SUCCESS])?;
            ensure(v.is_null() && n == 0, "unset key reads a value")
        }),
        c("NvSciSyncAttrListSlotGetAttrs", 0, "a slot index beyond the list's slots is BadParameter", || {
            let l = empty(module());
            let mut p = [pb(key::NEED_CPU_ACCESS, &true)];
            want("slot 1", unsafe { model::NvSciSyncAttrListSlotGetAttrs(l, 1, p.as_mut_ptr(), 1) }, &[BP])?;
            want("slot 0", unsafe { model::NvSciSyncAttrListSlotGetAttrs(l, 0, p.as_mut_ptr(), 1) }, &[err::SUCCESS])?;
            ensure(p[0].value.is_null() && p[0].len == 0, "unset key in slot 0 reads a value")
        }),
        c("NvSciSyncAttrListSlotGetAttrs", 0, "NULL attrList, NULL pairArray or pairCount 0 is BadParameter", || {
            let mut p = [pb(key::NEED_CPU_ACCESS, &true)];
            let l = empty(module());
            want("NULL list", unsafe { model::NvSciSyncAttrListSlotGetAttrs(null_mut(), 0, p.as_mut_ptr(), 1) }, &[BP])?;
            want("NULL pairs", unsafe { model::NvSciSyncAttrListSlotGetAttrs(l, 0, null_mut(), 1) }, &[BP])?;
            want("count 0", unsafe { model::NvSciSyncAttrListSlotGetAttrs(l, 0, p.as_mut_ptr(), 0) }, &[BP])
        }),
        // NvSciSyncAttrListClone
        c("NvSciSyncAttrListClone", 0, "NULL origAttrList or newAttrList is BadParameter", || {
            let mut x = null_mut();
            want("NULL orig", unsafe { model::NvSciSyncAttrListClone(null_mut(), &mut x) }, &[BP])?;
            want("NULL new", unsafe { model::NvSciSyncAttrListClone(empty(module()), null_mut()) }, &[BP])
        }),
        c("NvSciSyncAttrListClone", 0, "the clone has the original's values and reconciliation state", || {
            let (_, _, r) = reconciled(module());
            let mut x = null_mut();
            want("clone", unsafe { model::NvSciSyncAttrListClone(r, &mut x) }, &[err::SUCCESS])?;
            let mut rec = false;
            unsafe { model::NvSciSyncAttrListIsReconciled(x, &mut rec) };
            ensure(rec, "clone of a reconciled list is unreconciled")?;
            ensure(get_u64(x, key::ACTUAL_PERM) == get_u64(r, key::ACTUAL_PERM), "ActualPerm differs")
        }),
        c("NvSciSyncAttrListClone", 0, "an unreconciled clone may set keys the original set; neither affects the other", || {
            let l = cpu(module(), perm::WAIT_ONLY);
            let mut x = null_mut();
            unsafe { model::NvSciSyncAttrListClone(l, &mut x) };
            want("set on clone", set(x, &[pu(key::REQUIRED_PERM, &perm::SIGNAL_ONLY)]), &[err::SUCCESS])?;
            ensure(get_u64(l, key::REQUIRED_PERM) == Some(perm::WAIT_ONLY), "original changed")
        }),
        // NvSciSyncAttrListReconcile
        c("NvSciSyncAttrListReconcile", 0, "inputCount 0 or NULL inputArray is BadParameter", || {
            let l = empty(module());
            let (mut r, mut cf) = (null_mut(), null_mut());
            want("count 0", unsafe { model::NvSciSyncAttrListReconcile([l].as_ptr(), 0, &mut r, &mut cf) }, &[BP])?;
            want("NULL array", unsafe { model::NvSciSyncAttrListReconcile(null(), 1, &mut r, &mut cf) }, &[BP])
        }),
        c("NvSciSyncAttrListReconcile", 0, "NULL newReconciledList or (non-safety) newConflictList is BadParameter", || {
            let m = module();
            let ls = [cpu(m, perm::SIGNAL_ONLY), cpu(m, perm::WAIT_ONLY)];
            let mut x = null_mut();
            want("NULL out", unsafe { model::NvSciSyncAttrListReconcile(ls.as_ptr(), 2, null_mut(), &mut x) }, &[BP])?;
            want("NULL conflict", unsafe { model::NvSciSyncAttrListReconcile(ls.as_ptr(), 2, &mut x, null_mut()) }, &[BP])
        }),
        c("NvSciSyncAttrListReconcile", 0, "an input that is not unreconciled is BadParameter", || {
            let (s, _, r) = reconciled(module());
            want("reconciled input", reconcile(&[s, r]).0, &[BP])
        }),
        c("NvSciSyncAttrListReconcile", 0, "inputs bound to different module instances are BadParameter", || {
            want("two modules", reconcile(&[cpu(module(), perm::SIGNAL_ONLY), cpu(module(), perm::WAIT_ONLY)]).0, &[BP])
        }),
        c("NvSciSyncAttrListReconcile", 0, "a closed module's list and a new module's list are different instances", || {
            let old = module();
            let s = cpu(old, perm::SIGNAL_ONLY);
            unsafe { model::NvSciSyncModuleClose(old) };
            want("closed + new", reconcile(&[s, cpu(module(), perm::WAIT_ONLY)]).0, &[BP])
        }),
        c("NvSciSyncAttrListReconcile", 8, "a list appearing more than once is BadParameter", || {
            let (s, w, _) = reconciled(module());
            want("duplicate", reconcile(&[s, w, s]).0, &[BP])
        }),
        c("NvSciSyncAttrListReconcile", 0, "an invalid attribute value (Auto as RequiredPerm) fails: BadParameter at SetAttrs or Reconcile", || {
            let m = module();
            let l = empty(m);
            match set(l, &[pb(key::NEED_CPU_ACCESS, &true), pu(key::REQUIRED_PERM, &perm::AUTO)]) {
                err::SUCCESS => want("reconcile", reconcile(&[cpu(m, perm::SIGNAL_ONLY), l]).0, &[BP]),
                code => want("SetAttrs", code, &[BP]),
            }
        }),
        c("NvSciSyncAttrListReconcile", 0, "no signaler fails (ReconciliationFailed or UnsupportedConfig)", || {
            let m = module();
            want("no signaler", reconcile(&[cpu(m, perm::WAIT_ONLY), cpu(m, perm::WAIT_ONLY)]).0, &[err::RECONCILIATION_FAILED, err::UNSUPPORTED_CONFIG])
        }),
        c("NvSciSyncAttrListReconcile", 0, "two signalers fail (ReconciliationFailed or UnsupportedConfig)", || {
            let m = module();
            want("two signalers", reconcile(&[cpu(m, perm::SIGNAL_ONLY), cpu(m, perm::SIGNAL_ONLY), cpu(m, perm::WAIT_ONLY)]).0, &[err::RECONCILIATION_FAILED, err::UNSUPPORTED_CONFIG])
        }),
        c("NvSciSyncAttrListReconcile", 0, "no waiter fails (ReconciliationFailed or UnsupportedConfig)", || {
            want("no waiter", reconcile(&[cpu(module(), perm::SIGNAL_ONLY)]).0, &[err::RECONCILIATION_FAILED, err::UNSUPPORTED_CONFIG])
        }),
        c("NvSciSyncAttrListReconcile", 0, "ActualPerm is the union of the inputs' RequiredPerm", || {
            let (_, _, r) = reconciled(module());
            ensure(get_u64(r, key::ACTUAL_PERM) == Some(perm::WAIT_SIGNAL), "ActualPerm")
        }),
        c("NvSciSyncAttrListReconcile", 3, "NeedCpuAccess reconciles true if an input sets it", || {
            let m = module();
            let w = empty(m);
            set(w, &[pb(key::NEED_CPU_ACCESS, &false), pu(key::REQUIRED_PERM, &perm::WAIT_ONLY)]);
            let (code, r, _) = reconcile(&[cpu(m, perm::SIGNAL_ONLY), w]);
            want("reconcile", code, &[err::SUCCESS])?;
            ensure(get_bool(r, key::NEED_CPU_ACCESS) == Some(true), "NeedCpuAccess")
        }),
        c("NvSciSyncAttrListReconcile", 3, "WaiterContextInsensitiveFenceExports reconciles true if an input sets it", || {
            let m = module();
            let s = cpu(m, perm::SIGNAL_ONLY);
            set(s, &[pb(key::WAITER_CONTEXT_INSENSITIVE_FENCE_EXPORTS, &true)]);
            let (code, r, _) = reconcile(&[s, cpu(m, perm::WAIT_ONLY)]);
            want("reconcile", code, &[err::SUCCESS])?;
            ensure(get_bool(r, key::WAITER_CONTEXT_INSENSITIVE_FENCE_EXPORTS) == Some(true), "value")
        }),
        c("NvSciSyncAttrListReconcile", 3, "RequireDeterministicFences reconciles true if an input sets it", || {
            let m = module();
            let s = cpu(m, perm::SIGNAL_ONLY);
            set(s, &[pb(key::REQUIRE_DETERMINISTIC_FENCES, &true)]);
            let (code, r, _) = reconcile(&[s, cpu(m, perm::WAIT_ONLY)]);
            want("reconcile", code, &[err::SUCCESS])?;
            ensure(get_bool(r, key::REQUIRE_DETERMINISTIC_FENCES) == Some(true), "value")
        }),
        c("NvSciSyncAttrListReconcile", 3, "MaxPrimitiveValue is UINT64_MAX for a 64-bit semaphore, else UINT32_MAX", || {
            let (_, _, r) = reconciled(module());
            let v = get_u64(r, key::MAX_PRIMITIVE_VALUE);
            ensure(matches!(v, Some(u64::MAX) | Some(0xffff_ffff)), &format!("MaxPrimitiveValue {v:?}"))
        }),
        c("NvSciSyncAttrListReconcile", 3, "NumTaskStatusSlots is 0 when no task status is required", || {
            let (_, _, r) = reconciled(module());
            ensure(get_u32(r, key::NUM_TASK_STATUS_SLOTS) == Some(0), "NumTaskStatusSlots")
        }),
        c("NvSciSyncAttrListReconcile", 5, "PrimitiveInfo is set to the reconciled primitive type", || {
            let (_, _, r) = reconciled(module());
            let (code, v, len) = get(r, key::PRIMITIVE_INFO);
            want("GetAttrs", code, &[err::SUCCESS])?;
            ensure(len == 4 && (1..6).contains(&unsafe { *(v as *const i32) }), "PrimitiveInfo")
        }),
        c("NvSciSyncAttrListReconcile", 5, "PrimitiveInfo with no type in common with the library's fails", || {
            let m = module();
            let s = cpu(m, perm::SIGNAL_ONLY);
            set(s, &[praw(key::PRIMITIVE_INFO, &[3i32])]); // VidmemSemaphore: "not supported"
            let (code, _, _) = reconcile(&[s, cpu(m, perm::WAIT_ONLY)]);
            ensure(code != err::SUCCESS, "reconciled without a common primitive")
        }),
        // NvSciSyncAttrListValidateReconciled
        c("NvSciSyncAttrListValidateReconciled", 0, "NULL array, count 0 or NULL isReconciledListValid is BadParameter", || {
            let (s, _, r) = reconciled(module());
            let mut b = false;
            want("NULL array", unsafe { model::NvSciSyncAttrListValidateReconciled(r, null(), 1, &mut b) }, &[BP])?;
            want("count 0", unsafe { model::NvSciSyncAttrListValidateReconciled(r, [s].as_ptr(), 0, &mut b) }, &[BP])?;
            want("NULL out", unsafe { model::NvSciSyncAttrListValidateReconciled(r, [s].as_ptr(), 1, null_mut()) }, &[BP])
        }),
        c("NvSciSyncAttrListValidateReconciled", 0, "reconciledAttrList NULL or not reconciled is BadParameter", || {
            let (s, w, _) = reconciled(module());
            want("NULL", validate(null_mut(), &[s]).0, &[BP])?;
            want("unreconciled", validate(w, &[s]).0, &[BP])
        }),
        c("NvSciSyncAttrListValidateReconciled", 0, "an input that is not unreconciled is BadParameter", || {
            let (_, _, r) = reconciled(module());
            want("reconciled input", validate(r, &[r]).0, &[BP])
        }),
        c("NvSciSyncAttrListValidateReconciled", 0, "inputs of another module instance are BadParameter", || {
            let (_, _, r) = reconciled(module());
            want("other module", validate(r, &[cpu(module(), perm::WAIT_ONLY)]).0, &[BP])
        }),
        c("NvSciSyncAttrListValidateReconciled", 8, "a list appearing more than once is BadParameter", || {
            let (s, w, r) = reconciled(module());
            want("duplicate", validate(r, &[s, w, w]).0, &[BP])
        }),
        c("NvSciSyncAttrListValidateReconciled", 0, "the inputs a list was reconciled from are satisfied", || {
            let (s, w, r) = reconciled(module());
            ensure(validate(r, &[s, w]) == (err::SUCCESS, true), "own inputs rejected")
        }),
        c("NvSciSyncAttrListValidateReconciled", 0, "an unsatisfied input: BadParameter, or Success with false", || {
            let m = module();
            let (_, _, r) = reconciled(m);
            let l = empty(m);
            set(l, &[pb(key::NEED_CPU_ACCESS, &false), pu(key::REQUIRED_PERM, &perm::WAIT_ONLY)]);
            match validate(r, &[l]) {
                (err::SUCCESS, false) | (BP, _) => Ok(()),
                other => Err(format!("unsatisfied input answered {other:?}")),
            }
        }),
        // NvSciSyncObjAlloc / Dup / GetAttrList / ReconcileAndObjAlloc
        c("NvSciSyncObjAlloc", 0, "any NULL argument or an unreconciled list is BadParameter", || {
            let (s, _, r) = reconciled(module());
            let mut o = null_mut();
            want("NULL list", unsafe { model::NvSciSyncObjAlloc(null_mut(), &mut o) }, &[BP])?;
            want("NULL out", unsafe { model::NvSciSyncObjAlloc(r, null_mut()) }, &[BP])?;
            want("unreconciled", unsafe { model::NvSciSyncObjAlloc(s, &mut o) }, &[BP])
        }),
        c("NvSciSyncObjAlloc", 3, "the allocated object's reconciled list has ActualPerm WaitSignal", || {
            let m = module();
            let s = cpu(m, perm::SIGNAL_ONLY);
            let w = cpu(m, perm::WAIT_ONLY);
            let (_, r, _) = reconcile(&[s, w]);
            let mut l = null_mut();
            want("GetAttrList", unsafe { model::NvSciSyncObjGetAttrList(alloc(r), &mut l) }, &[err::SUCCESS])?;
            ensure(get_u64(l, key::ACTUAL_PERM) == Some(perm::WAIT_SIGNAL), "ActualPerm")
        }),
        c("NvSciSyncObjDup", 0, "any NULL argument is BadParameter", || {
            let (_, o, _) = object();
            let mut d = null_mut();
            want("NULL obj", unsafe { model::NvSciSyncObjDup(null_mut(), &mut d) }, &[BP])?;
            want("NULL out", unsafe { model::NvSciSyncObjDup(o, null_mut()) }, &[BP])
        }),
        c("NvSciSyncObjDup", 0, "a duplicate shares the object: signaling one completes the other's fence", || {
            let (_, o, cx) = object();
            let mut d = null_mut();
            want("dup", unsafe { model::NvSciSyncObjDup(o, &mut d) }, &[err::SUCCESS])?;
            let f = fence(o);
            want("signal dup", unsafe { model::NvSciSyncObjSignal(d) }, &[err::SUCCESS])?;
            want("wait", wait(&f, cx, 0), &[err::SUCCESS])
        }),
        c("NvSciSyncObjGetAttrList", 0, "NULL syncObj or syncAttrList is BadParameter", || {
            let (_, o, _) = object();
            let mut l = null_mut();
            want("NULL obj", unsafe { model::NvSciSyncObjGetAttrList(null_mut(), &mut l) }, &[BP])?;
            want("NULL out", unsafe { model::NvSciSyncObjGetAttrList(o, null_mut()) }, &[BP])
        }),
        c("NvSciSyncObjGetAttrList", 0, "the object's list is reconciled and read-only", || {
            let (_, o, _) = object();
            let mut l = null_mut();
            want("GetAttrList", unsafe { model::NvSciSyncObjGetAttrList(o, &mut l) }, &[err::SUCCESS])?;
            let mut rec = false;
            unsafe { model::NvSciSyncAttrListIsReconciled(l, &mut rec) };
            ensure(rec, "object's list is unreconciled")?;
            want("SetAttrs", set(l, &[pb(key::NEED_CPU_ACCESS, &true)]), &[BP])
        }),
        c("NvSciSyncAttrListReconcileAndObjAlloc", 0, "inputCount 0, NULL inputArray, NULL syncObj or NULL conflict list is BadParameter", || {
            let m = module();
            let ls = [cpu(m, perm::SIGNAL_ONLY), cpu(m, perm::WAIT_ONLY)];
            let (mut o, mut cf) = (null_mut(), null_mut());
            want("count 0", unsafe { model::NvSciSyncAttrListReconcileAndObjAlloc(ls.as_ptr(), 0, &mut o, &mut cf) }, &[BP])?;
            want("NULL array", unsafe { model::NvSciSyncAttrListReconcileAndObjAlloc(null(), 2, &mut o, &mut cf) }, &[BP])?;
            want("NULL obj", unsafe { model::NvSciSyncAttrListReconcileAndObjAlloc(ls.as_ptr(), 2, null_mut(), &mut cf) }, &[BP])?;
            want("NULL conflict", unsafe { model::NvSciSyncAttrListReconcileAndObjAlloc(ls.as_ptr(), 2, &mut o, null_mut()) }, &[BP])
        }),
        c("NvSciSyncAttrListReconcileAndObjAlloc", 0, "inputs of different modules or reconciled inputs are BadParameter", || {
            let (s, _, r) = reconciled(module());
            let (mut o, mut cf) = (null_mut(), null_mut());
            want("reconciled input", unsafe { model::NvSciSyncAttrListReconcileAndObjAlloc([s, r].as_ptr(), 2, &mut o, &mut cf) }, &[BP])?;
            let other = cpu(module(), perm::WAIT_ONLY);
            want("two modules", unsafe { model::NvSciSyncAttrListReconcileAndObjAlloc([s, other].as_ptr(), 2, &mut o, &mut cf) }, &[BP])
        }),
        c("NvSciSyncAttrListReconcileAndObjAlloc", 0, "a failed reconciliation fails (ReconciliationFailed or UnsupportedConfig)", || {
            let m = module();
            let (mut o, mut cf) = (null_mut(), null_mut());
            let ls = [cpu(m, perm::WAIT_ONLY)];
            want("no signaler", unsafe { model::NvSciSyncAttrListReconcileAndObjAlloc(ls.as_ptr(), 1, &mut o, &mut cf) }, &[err::RECONCILIATION_FAILED, err::UNSUPPORTED_CONFIG])
        }),
        c("NvSciSyncAttrListReconcileAndObjAlloc", 0, "success gives an object whose list is reconciled", || {
            let m = module();
            let ls = [cpu(m, perm::SIGNAL_ONLY), cpu(m, perm::WAIT_ONLY)];
            let (mut o, mut cf, mut l) = (null_mut(), null_mut(), null_mut());
            want("alloc", unsafe { model::NvSciSyncAttrListReconcileAndObjAlloc(ls.as_ptr(), 2, &mut o, &mut cf) }, &[err::SUCCESS])?;
            want("GetAttrList", unsafe { model::NvSciSyncObjGetAttrList(o, &mut l) }, &[err::SUCCESS])?;
            ensure(get_u64(l, key::ACTUAL_PERM).is_some(), "object's list has no ActualPerm")
        }),
        // NvSciSyncObjSignal / GenerateFence
        c("NvSciSyncObjSignal", 0, "NULL syncObj is BadParameter", || {
            want("NULL", unsafe { model::NvSciSyncObjSignal(null_mut()) }, &[BP])
        }),
        c("NvSciSyncObjGenerateFence", 0, "any NULL argument is BadParameter", || {
            let (_, o, _) = object();
            let mut f = Fence::default();
            want("NULL obj", unsafe { model::NvSciSyncObjGenerateFence(null_mut(), &mut f) }, &[BP])?;
            want("NULL fence", unsafe { model::NvSciSyncObjGenerateFence(o, null_mut()) }, &[BP])
        }),
        c("NvSciSyncObjGenerateFence", 0, "fills the next point on the timeline (not cleared, waits for a signal)", || {
            let (_, o, cx) = object();
            let f = fence(o);
            ensure(f != Fence::default(), "generated fence is cleared")?;
            want("before signal", wait(&f, cx, 0), &[err::TIMEOUT])
        }),
        // NvSciSyncFenceWait
        c("NvSciSyncFenceWait", 0, "NULL syncFence or NULL context is BadParameter", || {
            let (_, o, cx) = object();
            let f = fence(o);
            want("NULL fence", unsafe { model::NvSciSyncFenceWait(null(), cx, 0) }, &[BP])?;
            want("NULL ctx", wait(&f, null_mut(), 0), &[BP])
        }),
        c("NvSciSyncFenceWait", 0, "a timeout outside [-1, NvSciSyncFenceMaxTimeout] is BadParameter", || {
            let (_, o, cx) = object();
            let f = fence(o);
            want("-2", wait(&f, cx, -2), &[BP])?;
            want("max+1", wait(&f, cx, nvsci_abi::FENCE_MAX_TIMEOUT_US + 1), &[BP])
        }),
        c("NvSciSyncFenceWait", 0, "fence and context of different modules is BadParameter", || {
            let (_, o, _) = object();
            want("other module", wait(&fence(o), ctx(module()), 0), &[BP])
        }),
        c("NvSciSyncFenceWait", 0, "waiting on a cleared fence is Success and never blocks", || {
            let (_, _, cx) = object();
            want("cleared", wait(&Fence::default(), cx, -1), &[err::SUCCESS])
        }),
        c("NvSciSyncFenceWait", 0, "an unsignaled fence is Timeout when the timeout passes", || {
            let (_, o, cx) = object();
            want("unsignaled", wait(&fence(o), cx, 1000), &[err::TIMEOUT])
        }),
        c("NvSciSyncFenceWait", 0, "a signaled (expired) fence is Success", || {
            let (_, o, cx) = object();
            let f = fence(o);
            unsafe { model::NvSciSyncObjSignal(o) };
            want("signaled", wait(&f, cx, 0), &[err::SUCCESS])
        }),
        // NvSciSyncFenceDup / Clear
        c("NvSciSyncFenceDup", 0, "any NULL argument or both pointing to one fence is BadParameter", || {
            let (_, o, _) = object();
            let mut f = fence(o);
            let mut d = Fence::default();
            want("NULL src", unsafe { model::NvSciSyncFenceDup(null(), &mut d) }, &[BP])?;
            want("NULL dst", unsafe { model::NvSciSyncFenceDup(&f, null_mut()) }, &[BP])?;
            let p: *mut Fence = &mut f;
            want("same", unsafe { model::NvSciSyncFenceDup(p, p) }, &[BP])
        }),
        c("NvSciSyncFenceDup", 0, "a wait on the duplicate completes when one on the original does", || {
            let (_, o, cx) = object();
            let f = fence(o);
            let mut d = Fence::default();
            want("dup", unsafe { model::NvSciSyncFenceDup(&f, &mut d) }, &[err::SUCCESS])?;
            want("dup before", wait(&d, cx, 0), &[err::TIMEOUT])?;
            unsafe { model::NvSciSyncObjSignal(o) };
            want("dup after", wait(&d, cx, 0), &[err::SUCCESS])
        }),
        c("NvSciSyncFenceDup", 8, "a cleared source gives a cleared duplicate", || {
            let (_, o, _) = object();
            let mut d = fence(o);
            want("dup", unsafe { model::NvSciSyncFenceDup(&Fence::default(), &mut d) }, &[err::SUCCESS])?;
            ensure(d == Fence::default(), "duplicate of a cleared fence is not cleared")
        }),
        c("NvSciSyncFenceClear", 0, "a cleared fence is all zeroes", || {
            let (_, o, _) = object();
            let mut f = fence(o);
            unsafe { model::NvSciSyncFenceClear(&mut f) };
            ensure(f == Fence::default(), "fence not zeroed")
        }),
        // NvSciSyncFenceExtractFence / UpdateFence (2.3+)
        c("NvSciSyncFenceExtractFence", 3, "NULL fence, id or value is BadParameter", || {
            let (_, o, _) = object();
            let f = fence(o);
            let (mut i, mut v) = (0, 0);
            want("NULL fence", unsafe { model::NvSciSyncFenceExtractFence(null(), &mut i, &mut v) }, &[BP])?;
            want("NULL id", unsafe { model::NvSciSyncFenceExtractFence(&f, null_mut(), &mut v) }, &[BP])?;
            want("NULL value", unsafe { model::NvSciSyncFenceExtractFence(&f, &mut i, null_mut()) }, &[BP])
        }),
        c("NvSciSyncFenceExtractFence", 3, "a cleared fence is ClearedFence", || {
            let (mut i, mut v) = (0, 0);
            want("cleared", unsafe { model::NvSciSyncFenceExtractFence(&Fence::default(), &mut i, &mut v) }, &[err::CLEARED_FENCE])
        }),
        c("NvSciSyncFenceUpdateFence", 3, "NULL syncObj or syncFence is BadParameter", || {
            let (_, o, _) = object();
            let mut f = Fence::default();
            want("NULL obj", unsafe { model::NvSciSyncFenceUpdateFence(null_mut(), 0, 1, &mut f) }, &[BP])?;
            want("NULL fence", unsafe { model::NvSciSyncFenceUpdateFence(o, 0, 1, null_mut()) }, &[BP])
        }),
        c("NvSciSyncFenceUpdateFence", 3, "an id beyond the object's primitives is Overflow", || {
            let (_, o, _) = object();
            let mut f = Fence::default();
            want("id", unsafe { model::NvSciSyncFenceUpdateFence(o, u64::from(u32::MAX), 1, &mut f) }, &[err::OVERFLOW])
        }),
        c("NvSciSyncFenceUpdateFence", 5, "a value beyond a 32-bit primitive's range is Overflow", || {
            let m = module();
            let s = cpu(m, perm::SIGNAL_ONLY);
            set(s, &[praw(key::PRIMITIVE_INFO, &[2i32])]);
            let (_, r, _) = reconcile(&[s, cpu(m, perm::WAIT_ONLY)]);
            let mut f = Fence::default();
            want("value", unsafe { model::NvSciSyncFenceUpdateFence(alloc(r), 0, 1 << 32, &mut f) }, &[err::OVERFLOW])
        }),
        c("NvSciSyncFenceUpdateFence", 3, "the fence is associated with the object and extracts as the id and value given", || {
            let (_, o, cx) = object();
            let mut f = Fence::default();
            want("update", unsafe { model::NvSciSyncFenceUpdateFence(o, 0, 2, &mut f) }, &[err::SUCCESS])?;
            let (mut i, mut v) = (9, 9);
            want("extract", unsafe { model::NvSciSyncFenceExtractFence(&f, &mut i, &mut v) }, &[err::SUCCESS])?;
            ensure((i, v) == (0, 2), &format!("extracted ({i}, {v})"))?;
            unsafe { model::NvSciSyncObjSignal(o) };
            want("after one signal", wait(&f, cx, 0), &[err::TIMEOUT])?;
            unsafe { model::NvSciSyncObjSignal(o) };
            want("after two", wait(&f, cx, 0), &[err::SUCCESS])
        }),
        // Further conditions of the functions the suite binds beside the core (GetAttr,
        // SlotGetAttrs, ObjGetAttrList, ObjDup, ReconcileAndObjAlloc, UpdateFence) and of
        // FenceWait's context rule.
        c("NvSciSyncAttrListGetAttr", 0, "a set key reads back its value from slot 0", || {
            let l = cpu(module(), perm::WAIT_SIGNAL);
            let (mut v, mut n) = (null(), 0usize);
            want("GetAttr", unsafe { model::NvSciSyncAttrListGetAttr(l, key::REQUIRED_PERM, &mut v, &mut n) }, &[err::SUCCESS])?;
            ensure(n == 8 && unsafe { std::ptr::read_unaligned(v as *const u64) } == perm::WAIT_SIGNAL, "RequiredPerm")
        }),
        c("NvSciSyncAttrListGetAttr", 0, "an input/output key of a reconciled list reads its reconciled value", || {
            let (_, _, r) = reconciled(module());
            let (mut v, mut n) = (null(), 0usize);
            want("GetAttr", unsafe { model::NvSciSyncAttrListGetAttr(r, key::NEED_CPU_ACCESS, &mut v, &mut n) }, &[err::SUCCESS])?;
            ensure(n == 1 && unsafe { *(v as *const u8) } == 1, "reconciled NeedCpuAccess")
        }),
        c("NvSciSyncAttrListGetAttr", 0, "LowerBound is not a supported public key: BadParameter", || {
            let (mut v, mut n) = (null(), 0usize);
            want("LowerBound", unsafe { model::NvSciSyncAttrListGetAttr(empty(module()), key::LOWER_BOUND, &mut v, &mut n) }, &[BP])
        }),
        c("NvSciSyncAttrListSlotGetAttrs", 0, "slot 0 reads back the values set on the list", || {
            let l = cpu(module(), perm::SIGNAL_ONLY);
            let mut p = [pb(key::NEED_CPU_ACCESS, &false), pu(key::REQUIRED_PERM, &0)];
            p.iter_mut().for_each(|p| (p.value, p.len) = (null(), 0));
            want("slot 0", unsafe { model::NvSciSyncAttrListSlotGetAttrs(l, 0, p.as_mut_ptr(), 2) }, &[err::SUCCESS])?;
            ensure(p[0].len == 1 && unsafe { *(p[0].value as *const u8) } == 1, "NeedCpuAccess")?;
            ensure(p[1].len == 8 && unsafe { std::ptr::read_unaligned(p[1].value as *const u64) } == perm::SIGNAL_ONLY, "RequiredPerm")
        }),
        c("NvSciSyncAttrListSlotGetAttrs", 0, "a key in pairArray that is not an NvSciSyncAttrKey is BadParameter", || {
            let mut p = [pb(nvsci_abi::upper_bound(minor()), &true)];
            want("UpperBound", unsafe { model::NvSciSyncAttrListSlotGetAttrs(empty(module()), 0, p.as_mut_ptr(), 1) }, &[BP])
        }),
        c("NvSciSyncObjGetAttrList", 0, "the object's list holds the reconciled values", || {
            let (_, o, _) = object();
            let mut l = null_mut();
            want("GetAttrList", unsafe { model::NvSciSyncObjGetAttrList(o, &mut l) }, &[err::SUCCESS])?;
            ensure(get_bool(l, key::NEED_CPU_ACCESS) == Some(true), "NeedCpuAccess of the object's list")
        }),
        c("NvSciSyncObjDup", 0, "a fence generated from the duplicate completes when the original is signaled", || {
            let (_, o, cx) = object();
            let mut d = null_mut();
            want("dup", unsafe { model::NvSciSyncObjDup(o, &mut d) }, &[err::SUCCESS])?;
            let f = fence(d);
            want("before", wait(&f, cx, 0), &[err::TIMEOUT])?;
            unsafe { model::NvSciSyncObjSignal(o) };
            want("after", wait(&f, cx, 0), &[err::SUCCESS])
        }),
        c("NvSciSyncObjDup", 0, "the duplicate is freed separately: it works after the original is freed", || {
            let (_, o, cx) = object();
            let mut d = null_mut();
            want("dup", unsafe { model::NvSciSyncObjDup(o, &mut d) }, &[err::SUCCESS])?;
            unsafe { model::NvSciSyncObjFree(o) };
            let f = fence(d);
            want("signal", unsafe { model::NvSciSyncObjSignal(d) }, &[err::SUCCESS])?;
            want("wait", wait(&f, cx, 0), &[err::SUCCESS])
        }),
        c("NvSciSyncAttrListReconcileAndObjAlloc", 8, "a list appearing more than once is BadParameter", || {
            let (s, w, _) = reconciled(module());
            let (mut o, mut cf) = (null_mut(), null_mut());
            want("duplicate", unsafe { model::NvSciSyncAttrListReconcileAndObjAlloc([s, w, s].as_ptr(), 3, &mut o, &mut cf) }, &[BP])
        }),
        c("NvSciSyncAttrListReconcileAndObjAlloc", 0, "two signalers fail (ReconciliationFailed or UnsupportedConfig)", || {
            let m = module();
            let ls = [cpu(m, perm::SIGNAL_ONLY), cpu(m, perm::SIGNAL_ONLY), cpu(m, perm::WAIT_ONLY)];
            let (mut o, mut cf) = (null_mut(), null_mut());
            want("two signalers", unsafe { model::NvSciSyncAttrListReconcileAndObjAlloc(ls.as_ptr(), 3, &mut o, &mut cf) }, &[err::RECONCILIATION_FAILED, err::UNSUPPORTED_CONFIG])
        }),
        c("NvSciSyncAttrListReconcileAndObjAlloc", 0, "an invalid attribute value (Auto as RequiredPerm) fails: BadParameter at SetAttrs or here", || {
            let m = module();
            let l = empty(m);
            match set(l, &[pb(key::NEED_CPU_ACCESS, &true), pu(key::REQUIRED_PERM, &perm::AUTO)]) {
                err::SUCCESS => {
                    let (mut o, mut cf) = (null_mut(), null_mut());
                    want("ReconcileAndObjAlloc", unsafe { model::NvSciSyncAttrListReconcileAndObjAlloc([cpu(m, perm::SIGNAL_ONLY), l].as_ptr(), 2, &mut o, &mut cf) }, &[BP])
                }
                code => want("SetAttrs", code, &[BP]),
            }
        }),
        c("NvSciSyncAttrListReconcileAndObjAlloc", 0, "the object works as one from Reconcile and ObjAlloc: a CPU signal completes its fence", || {
            let m = module();
            let ls = [cpu(m, perm::SIGNAL_ONLY), cpu(m, perm::WAIT_ONLY)];
            let (mut o, mut cf) = (null_mut(), null_mut());
            want("alloc", unsafe { model::NvSciSyncAttrListReconcileAndObjAlloc(ls.as_ptr(), 2, &mut o, &mut cf) }, &[err::SUCCESS])?;
            let f = fence(o);
            want("signal", unsafe { model::NvSciSyncObjSignal(o) }, &[err::SUCCESS])?;
            want("wait", wait(&f, ctx(m), 0), &[err::SUCCESS])
        }),
        c("NvSciSyncAttrListReconcileAndObjAlloc", 0, "a closed module's list and a new module's list are different instances", || {
            let old = module();
            let s = cpu(old, perm::SIGNAL_ONLY);
            unsafe { model::NvSciSyncModuleClose(old) };
            let ls = [s, cpu(module(), perm::WAIT_ONLY)];
            let (mut o, mut cf) = (null_mut(), null_mut());
            want("closed + new", unsafe { model::NvSciSyncAttrListReconcileAndObjAlloc(ls.as_ptr(), 2, &mut o, &mut cf) }, &[BP])
        }),
        c("NvSciSyncFenceUpdateFence", 8, "the input fence is cleared first, then associated with the input object", || {
            let (m, a, cx) = object();
            let (_, _, r) = reconciled(m);
            let b = alloc(r);
            let mut f = fence(a); // a is never signaled
            let g = fence(b);
            unsafe { model::NvSciSyncObjSignal(b) };
            let (mut i, mut v) = (0, 0);
            want("extract", unsafe { model::NvSciSyncFenceExtractFence(&g, &mut i, &mut v) }, &[err::SUCCESS])?;
            want("update", unsafe { model::NvSciSyncFenceUpdateFence(b, i, v, &mut f) }, &[err::SUCCESS])?;
            want("wait", wait(&f, cx, 0), &[err::SUCCESS])
        }),
        c("NvSciSyncFenceUpdateFence", 3, "the updated fence holds a reference to its object, which outlives the handle", || {
            let (_, o, cx) = object();
            let mut d = null_mut();
            want("dup", unsafe { model::NvSciSyncObjDup(o, &mut d) }, &[err::SUCCESS])?;
            let mut f = Fence::default();
            want("update", unsafe { model::NvSciSyncFenceUpdateFence(o, 0, 1, &mut f) }, &[err::SUCCESS])?;
            unsafe { model::NvSciSyncObjFree(o) };
            unsafe { model::NvSciSyncObjSignal(d) };
            unsafe { model::NvSciSyncObjFree(d) };
            want("wait", wait(&f, cx, 0), &[err::SUCCESS])
        }),
        c("NvSciSyncFenceUpdateFence", 3, "a value at the object's reconciled MaxPrimitiveValue is valid", || {
            let (_, o, _) = object();
            let mut l = null_mut();
            want("GetAttrList", unsafe { model::NvSciSyncObjGetAttrList(o, &mut l) }, &[err::SUCCESS])?;
            let max = get_u64(l, key::MAX_PRIMITIVE_VALUE).ok_or("no MaxPrimitiveValue")?;
            let mut f = Fence::default();
            want("update", unsafe { model::NvSciSyncFenceUpdateFence(o, 0, max, &mut f) }, &[err::SUCCESS])
        }),
        c("NvSciSyncFenceWait", 8, "any wait context of the fence's module may be used", || {
            let (m, o, _) = object();
            let f = fence(o);
            unsafe { model::NvSciSyncObjSignal(o) };
            want("second context", wait(&f, ctx(m), 0), &[err::SUCCESS])
        }),
    ]
}

const VERSIONS: [(&str, u32); 4] = [("2.0", 0), ("2.3", 3), ("2.5", 5), ("2.8", 8)];

#[test]
fn every_documented_condition_holds_at_each_version() {
    if std::env::var_os(CHILD).is_some() {
        return;
    }
    let mut total = 0;
    for (text, minor) in VERSIONS {
        let out = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "child_checks_its_version", "--nocapture"])
            .env(model::VERSION_ENV, text)
            .env(CHILD, "1")
            .output()
            .unwrap();
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "{text}: {all}");
        let n: usize = all
            .lines()
            .find_map(|l| l.strip_prefix("fidelity: checked "))
            .and_then(|n| n.split_whitespace().next()?.parse().ok())
            .unwrap_or_else(|| panic!("{text}: no count in {all}"));
        let documented = conditions().iter().filter(|c| c.since <= minor).count();
        assert_eq!(n, documented, "{text}");
        total += n;
    }
    assert!(total >= 100, "{total} conditions checked across versions");
    let distinct: std::collections::BTreeSet<(&str, &str)> =
        conditions().iter().map(|c| (c.func, c.says)).collect();
    assert_eq!(
        distinct.len(),
        conditions().len(),
        "a condition is listed twice"
    );
    assert!(
        distinct.len() >= 100,
        "{} distinct documented conditions",
        distinct.len()
    );
}

/// Runs only as a child of the test above, with the model presenting one version.
#[test]
fn child_checks_its_version() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    let mut failed = Vec::new();
    let mut n = 0;
    for cond in conditions().iter().filter(|c| c.since <= minor()) {
        n += 1;
        if let Err(e) = (cond.check)() {
            failed.push(format!("2.{} {} ({}): {e}", minor(), cond.func, cond.says));
        }
    }
    println!(
        "fidelity: checked {n} conditions of NvSciSync 2.{}",
        minor()
    );
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}
