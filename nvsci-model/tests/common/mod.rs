//! Small helpers over the model's C entry points for its header tests.
#![allow(dead_code)]

pub use nvsci_abi::{err, key, perm, Fence, KeyValuePair, NvSciError};
pub use nvscisync as model;
use nvscisync::{CtxRec, ListRec, ModuleRec, ObjRec};
use std::ffi::c_void;
use std::ptr::{null, null_mut};

pub mod ipc;

pub type R = Result<(), String>;

/// The minor version this process's model presents.
pub fn minor() -> u32 {
    std::env::var(model::VERSION_ENV)
        .ok()
        .and_then(|v| model::parse_version(&v))
        .unwrap_or(nvsci_abi::NEWEST_MINOR)
}

pub fn want(what: &str, got: NvSciError, expected: &[NvSciError]) -> R {
    if expected.contains(&got) {
        Ok(())
    } else {
        Err(format!(
            "{what}: returned {got:#x}, header allows {expected:#x?}"
        ))
    }
}

pub fn ensure(ok: bool, what: &str) -> R {
    ok.then_some(()).ok_or_else(|| what.to_string())
}

pub fn module() -> *mut ModuleRec {
    let mut m = null_mut();
    assert_eq!(unsafe { model::NvSciSyncModuleOpen(&mut m) }, err::SUCCESS);
    m
}

pub fn ctx(m: *mut ModuleRec) -> *mut CtxRec {
    let mut c = null_mut();
    assert_eq!(
        unsafe { model::NvSciSyncCpuWaitContextAlloc(m, &mut c) },
        err::SUCCESS
    );
    c
}

pub fn empty(m: *mut ModuleRec) -> *mut ListRec {
    let mut l = null_mut();
    assert_eq!(
        unsafe { model::NvSciSyncAttrListCreate(m, &mut l) },
        err::SUCCESS
    );
    l
}

pub fn pb(k: i32, v: &bool) -> KeyValuePair {
    KeyValuePair {
        attr_key: k,
        value: v as *const bool as *const c_void,
        len: 1,
    }
}

pub fn pu(k: i32, v: &u64) -> KeyValuePair {
    KeyValuePair {
        attr_key: k,
        value: v as *const u64 as *const c_void,
        len: 8,
    }
}

pub fn praw<T>(k: i32, v: &[T]) -> KeyValuePair {
    KeyValuePair {
        attr_key: k,
        value: v.as_ptr() as *const c_void,
        len: std::mem::size_of_val(v),
    }
}

pub fn set(l: *mut ListRec, pairs: &[KeyValuePair]) -> NvSciError {
    unsafe { model::NvSciSyncAttrListSetAttrs(l, pairs.as_ptr(), pairs.len()) }
}

/// A CPU list with NeedCpuAccess true and RequiredPerm `p`.
pub fn cpu(m: *mut ModuleRec, p: u64) -> *mut ListRec {
    let l = empty(m);
    assert_eq!(
        set(
            l,
            &[pb(key::NEED_CPU_ACCESS, &true), pu(key::REQUIRED_PERM, &p)]
        ),
        err::SUCCESS
    );
    l
}

/// GetAttrs of one key: (code, value, len).
pub fn get(l: *mut ListRec, k: i32) -> (NvSciError, *const c_void, usize) {
    let mut p = [KeyValuePair {
        attr_key: k,
        value: null(),
        len: 0,
    }];
    let r = unsafe { model::NvSciSyncAttrListGetAttrs(l, p.as_mut_ptr(), 1) };
    (r, p[0].value, p[0].len)
}

pub fn get_u64(l: *mut ListRec, k: i32) -> Option<u64> {
    let (r, v, len) = get(l, k);
    (r == err::SUCCESS && len == 8).then(|| unsafe { std::ptr::read_unaligned(v as *const u64) })
}

pub fn get_u32(l: *mut ListRec, k: i32) -> Option<u32> {
    let (r, v, len) = get(l, k);
    (r == err::SUCCESS && len == 4).then(|| unsafe { std::ptr::read_unaligned(v as *const u32) })
}

pub fn get_bool(l: *mut ListRec, k: i32) -> Option<bool> {
    let (r, v, len) = get(l, k);
    (r == err::SUCCESS && len == 1).then(|| unsafe { *(v as *const u8) != 0 })
}

/// Reconcile: (code, reconciled, conflict).
pub fn reconcile(inputs: &[*mut ListRec]) -> (NvSciError, *mut ListRec, *mut ListRec) {
    let (mut r, mut c) = (null_mut(), null_mut());
    let code =
        unsafe { model::NvSciSyncAttrListReconcile(inputs.as_ptr(), inputs.len(), &mut r, &mut c) };
    (code, r, c)
}

pub fn reconciled(m: *mut ModuleRec) -> (*mut ListRec, *mut ListRec, *mut ListRec) {
    let (s, w) = (cpu(m, perm::SIGNAL_ONLY), cpu(m, perm::WAIT_ONLY));
    let (code, r, _) = reconcile(&[s, w]);
    assert_eq!(code, err::SUCCESS);
    (s, w, r)
}

pub fn validate(r: *mut ListRec, inputs: &[*mut ListRec]) -> (NvSciError, bool) {
    let mut ok = false;
    let code = unsafe {
        model::NvSciSyncAttrListValidateReconciled(r, inputs.as_ptr(), inputs.len(), &mut ok)
    };
    (code, ok)
}

pub fn alloc(r: *mut ListRec) -> *mut ObjRec {
    let mut o = null_mut();
    assert_eq!(unsafe { model::NvSciSyncObjAlloc(r, &mut o) }, err::SUCCESS);
    o
}

/// A CPU signaler/waiter object of a new module, its module and a wait context.
pub fn object() -> (*mut ModuleRec, *mut ObjRec, *mut CtxRec) {
    let m = module();
    let (_, _, r) = reconciled(m);
    (m, alloc(r), ctx(m))
}

pub fn fence(o: *mut ObjRec) -> Fence {
    let mut f = Fence::default();
    assert_eq!(
        unsafe { model::NvSciSyncObjGenerateFence(o, &mut f) },
        err::SUCCESS
    );
    f
}

pub fn wait(f: &Fence, c: *mut CtxRec, timeout_us: i64) -> NvSciError {
    unsafe { model::NvSciSyncFenceWait(f, c, timeout_us) }
}
