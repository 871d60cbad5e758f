//! The model against the points where it once read the header differently. Each test names
//! the header (NvSciSync version as in DRIVE OS's nvscisync.h), the function and the
//! documented condition, paraphrased. Run at the model's default version, 2.8;
//! `tests/fidelity.rs` repeats these checks for every version whose header documents them.
mod common;
use common::*;
use std::ptr::null_mut;

/// 2.5+ NvSciSyncAttrKey_PrimitiveInfo is an inout key (an array of primitive types), so
/// NvSciSyncAttrListSetAttrs accepts it.
#[test]
fn h2_5_setattrs_accepts_primitive_info_an_inout_key() {
    let m = module();
    let l = empty(m);
    let types = [2i32, 4]; // SysmemSemaphore, SysmemSemaphorePayload64b
    assert_eq!(set(l, &[praw(key::PRIMITIVE_INFO, &types)]), err::SUCCESS);
    let (r, _, len) = get(l, key::PRIMITIVE_INFO);
    assert_eq!((r, len), (err::SUCCESS, 8));
    // A value outside the enum is an invalid value for the attribute.
    assert_eq!(
        set(empty(m), &[praw(key::PRIMITIVE_INFO, &[9i32])]),
        err::BAD_PARAMETER
    );
}

/// 2.5+ NvSciSyncAttrKey_GpuId is an inout key (an array of 16-byte NvSciRmGpuId).
#[test]
fn h2_5_setattrs_accepts_gpu_id_an_inout_key() {
    let m = module();
    let l = empty(m);
    let id = [7u8; 16];
    assert_eq!(set(l, &[praw(key::GPU_ID, &id)]), err::SUCCESS);
    assert_eq!(get(l, key::GPU_ID).2, 16);
    // A length that is not a whole number of ids is invalid for the attribute.
    assert_eq!(
        set(empty(m), &[praw(key::GPU_ID, &[0u8; 5])]),
        err::BAD_PARAMETER
    );
}

/// 2.0+ NvSciSyncAttrListClone: on a clone of an unreconciled list, setting attributes is
/// allowed even where the original had set them, and neither list affects the other.
#[test]
fn h2_0_clone_of_unreconciled_list_may_set_keys_the_original_set() {
    let m = module();
    let l = cpu(m, perm::WAIT_ONLY);
    let mut c = null_mut();
    assert_eq!(
        unsafe { model::NvSciSyncAttrListClone(l, &mut c) },
        err::SUCCESS
    );
    assert_eq!(
        get_u64(c, key::REQUIRED_PERM),
        Some(perm::WAIT_ONLY),
        "values are cloned"
    );
    assert_eq!(
        set(c, &[pu(key::REQUIRED_PERM, &perm::SIGNAL_ONLY)]),
        err::SUCCESS
    );
    assert_eq!(get_u64(c, key::REQUIRED_PERM), Some(perm::SIGNAL_ONLY));
    assert_eq!(
        get_u64(l, key::REQUIRED_PERM),
        Some(perm::WAIT_ONLY),
        "original untouched"
    );
    // The original stays non-writable for what it set.
    assert_eq!(
        set(l, &[pu(key::REQUIRED_PERM, &perm::SIGNAL_ONLY)]),
        err::BAD_PARAMETER
    );
}

/// 2.8 NvSciSyncAttrKey_MaxPrimitiveValue (key from 2.3): reconciliation sets it to
/// UINT64_MAX for a 64-bit sysmem semaphore, else UINT32_MAX.
#[test]
fn h2_8_reconciled_max_primitive_value_follows_the_primitive() {
    let m = module();
    let (_, _, r) = reconciled(m);
    assert_eq!(get_u64(r, key::MAX_PRIMITIVE_VALUE), Some(u64::MAX));
    let s = cpu(m, perm::SIGNAL_ONLY);
    assert_eq!(set(s, &[praw(key::PRIMITIVE_INFO, &[2i32])]), err::SUCCESS); // 32-bit payload
    let (code, r32, _) = reconcile(&[s, cpu(m, perm::WAIT_ONLY)]);
    assert_eq!(code, err::SUCCESS);
    assert_eq!(
        get_u64(r32, key::MAX_PRIMITIVE_VALUE),
        Some(u64::from(u32::MAX))
    );
}

/// 2.8 NvSciSyncAttrKey_NumTaskStatusSlots (key from 2.3): if task status is not
/// required, reconciliation sets it to 0.
#[test]
fn h2_8_reconciled_num_task_status_slots_is_zero_without_task_status() {
    let (_, _, r) = reconciled(module());
    assert_eq!(get_u32(r, key::NUM_TASK_STATUS_SLOTS), Some(0));
}

/// 2.5+ NvSciSyncAttrKey_PrimitiveInfo: reconciliation sets it to the reconciled type.
#[test]
fn h2_5_reconciled_primitive_info_is_the_reconciled_type() {
    let (_, _, r) = reconciled(module());
    let (code, v, len) = get(r, key::PRIMITIVE_INFO);
    assert_eq!((code, len), (err::SUCCESS, 4));
    assert_eq!(
        unsafe { *(v as *const i32) },
        4,
        "SysmemSemaphorePayload64b"
    );
}

/// 2.0+ NvSciSyncAttrListReconcile: BadParameter if the inputs are not all bound to the same
/// module instance — also when the other module was closed and a new one opened (a list
/// keeps its module instance alive; a new module is a new instance).
#[test]
fn h2_0_reconcile_lists_of_a_closed_and_a_new_module_is_bad_parameter() {
    let old = module();
    let s = cpu(old, perm::SIGNAL_ONLY);
    unsafe { model::NvSciSyncModuleClose(old) };
    let new = module();
    let w = cpu(new, perm::WAIT_ONLY);
    assert_eq!(reconcile(&[s, w]).0, err::BAD_PARAMETER);
}

/// 2.8 NvSciSyncAttrListValidateReconciled: BadParameter if an input list appears more than
/// once in the array.
#[test]
fn h2_8_validate_reconciled_with_a_list_twice_is_bad_parameter() {
    let (s, w, r) = reconciled(module());
    assert_eq!(validate(r, &[s, w, s]).0, err::BAD_PARAMETER);
}

/// 2.0+ NvSciSyncAttrListValidateReconciled: the boolean says whether the reconciled list
/// satisfies the inputs, and BadParameter is listed for a reconciled list that does not
/// satisfy them. The model answers BadParameter with the boolean false.
#[test]
fn h2_0_validate_reconciled_unsatisfied_inputs_is_bad_parameter_and_false() {
    let m = module();
    let (_, _, r) = reconciled(m);
    // NeedCpuAccess false in the input, true in the reconciled list (2.8 key text: valid
    // only if the reconciled value is false when every input sets false).
    let l = empty(m);
    assert_eq!(
        set(
            l,
            &[
                pb(key::NEED_CPU_ACCESS, &false),
                pu(key::REQUIRED_PERM, &perm::WAIT_ONLY)
            ]
        ),
        err::SUCCESS
    );
    assert_eq!(validate(r, &[l]), (err::BAD_PARAMETER, false));
}

/// 2.0+ NvSciSyncFenceWait: BadParameter if the fence and the context are associated with
/// different modules.
#[test]
fn h2_0_fence_wait_with_a_context_of_another_module_is_bad_parameter() {
    let (_, o, _) = object();
    let other = ctx(module());
    let f = fence(o);
    assert_eq!(wait(&f, other, 0), err::BAD_PARAMETER);
}
