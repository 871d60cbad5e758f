//! Fences (generate, dup, clear, extract/update), CPU wait contexts and the CPU wait.
//! A fence holds a reference on its object's state and the value it waits for.

use crate::{get, invalid, register, release, Kind, ModuleRec, ObjInner, ObjRec, FENCE_MAGIC};
use nvsci_abi::{err, perm, Fence, NvSciError, FENCE_MAX_TIMEOUT_US};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct CtxRec {
    module: u64,
}

pub(crate) unsafe fn fence_obj(f: &Fence) -> Option<*const ObjInner> {
    if *f == Fence::default() {
        return None;
    }
    if f.payload[0] != FENCE_MAGIC {
        invalid("NvSciSyncFence")
    }
    Some(f.payload[1] as usize as *const ObjInner)
}

pub(crate) unsafe fn fence_release(f: &mut Fence) {
    if let Some(p) = fence_obj(f) {
        drop(Arc::from_raw(p));
    }
    *f = Fence::default();
}

#[no_mangle]
pub unsafe extern "C" fn NvSciSyncObjGenerateFence(o: *mut ObjRec, f: *mut Fence) -> NvSciError {
    if o.is_null() || f.is_null() {
        return err::BAD_PARAMETER;
    }
    let inner = get(o, Kind::Obj, "NvSciSyncObj").inner.clone();
    // "syncObj is not a CPU signaler" (2.0+): e.g. an object imported with WaitOnly.
    if inner.list.need_cpu != Some(true) || inner.list.actual.unwrap_or(0) & perm::SIGNAL_ONLY == 0
    {
        return err::BAD_PARAMETER;
    }
    let value = inner.tl.next_value();
    fence_set(&mut *f, inner, value);
    err::SUCCESS
}

/// `f` now holds `value` of the object `inner` (whatever it held before is released).
pub(crate) unsafe fn fence_set(f: &mut Fence, inner: Arc<ObjInner>, value: u64) {
    fence_release(f);
    f.payload = [
        FENCE_MAGIC,
        Arc::into_raw(inner) as usize as u64,
        0,
        value,
        0,
        0,
    ];
}

#[no_mangle]
pub unsafe extern "C" fn NvSciSyncFenceClear(f: *mut Fence) {
    if !f.is_null() {
        fence_release(&mut *f);
    }
}

#[no_mangle]
pub unsafe extern "C" fn NvSciSyncFenceDup(src: *const Fence, dst: *mut Fence) -> NvSciError {
    if src.is_null() || dst.is_null() || std::ptr::eq(src, dst) {
        return err::BAD_PARAMETER;
    }
    let s = *src;
    fence_release(&mut *dst);
    if let Some(p) = fence_obj(&s) {
        Arc::increment_strong_count(p);
    }
    *dst = s;
    err::SUCCESS
}

/// 2.3+: the fence's primitive id and value. The model has one primitive (id 0) whose
/// value counts signals, so fence N of an object has value N.
#[no_mangle]
pub unsafe extern "C" fn NvSciSyncFenceExtractFence(
    f: *const Fence,
    id: *mut u64,
    value: *mut u64,
) -> NvSciError {
    if f.is_null() || id.is_null() || value.is_null() {
        return err::BAD_PARAMETER;
    }
    if fence_obj(&*f).is_none() {
        return err::CLEARED_FENCE;
    }
    *id = 0;
    *value = (*f).payload[3];
    err::SUCCESS
}

/// 2.3+: fills `f` with (id, value) on `o`'s primitive, clearing it first. The model has
/// one primitive (id 0); a value above the reconciled MaxPrimitiveValue is Overflow.
#[no_mangle]
pub unsafe extern "C" fn NvSciSyncFenceUpdateFence(
    o: *mut ObjRec,
    id: u64,
    value: u64,
    f: *mut Fence,
) -> NvSciError {
    if o.is_null() || f.is_null() {
        return err::BAD_PARAMETER;
    }
    let inner = get(o, Kind::Obj, "NvSciSyncObj").inner.clone();
    let max = inner.list.max_primitive_value.unwrap_or(u64::MAX);
    if id != 0 || value > max {
        return err::OVERFLOW;
    }
    fence_set(&mut *f, inner, value);
    err::SUCCESS
}

#[no_mangle]
pub unsafe extern "C" fn NvSciSyncCpuWaitContextAlloc(
    m: *mut ModuleRec,
    out: *mut *mut CtxRec,
) -> NvSciError {
    if m.is_null() || out.is_null() {
        return err::BAD_PARAMETER;
    }
    let module = get(m, Kind::Module, "NvSciSyncModule").id;
    *out = register(Box::new(CtxRec { module }), Kind::Ctx);
    err::SUCCESS
}

#[no_mangle]
pub unsafe extern "C" fn NvSciSyncCpuWaitContextFree(c: *mut CtxRec) {
    release(c, Kind::Ctx, "NvSciSyncCpuWaitContext");
}

#[no_mangle]
pub unsafe extern "C" fn NvSciSyncFenceWait(
    f: *const Fence,
    ctx: *mut CtxRec,
    timeout_us: i64,
) -> NvSciError {
    if f.is_null() || ctx.is_null() || !(-1..=FENCE_MAX_TIMEOUT_US).contains(&timeout_us) {
        return err::BAD_PARAMETER;
    }
    let ctx_module = get(ctx, Kind::Ctx, "NvSciSyncCpuWaitContext").module;
    let Some(p) = fence_obj(&*f) else {
        return err::SUCCESS; // "Waiting on a cleared … NvSciSyncFence is always not blocking"
    };
    let inner = &*p;
    if inner.list.module != ctx_module {
        return err::BAD_PARAMETER; // fence and context of different modules
    }
    if inner.list.need_cpu != Some(true) || inner.list.actual.unwrap_or(0) & perm::WAIT_ONLY == 0 {
        return err::BAD_PARAMETER; // no CPU wait permission
    }
    let target = (*f).payload[3];
    let deadline =
        (timeout_us >= 0).then(|| Instant::now() + Duration::from_micros(timeout_us as u64));
    if !inner.tl.wait(target, deadline) {
        return err::TIMEOUT;
    }
    err::SUCCESS
}
