//! A reference model of NvSciSync 2.x's documented CPU semantics, exporting the C ABI
//! so it can stand where `libnvscisync.so.1` would for the suite's own tests:
//! attribute lists (set/get/clone, read-only keys), reconciliation (one signaler, at least
//! one waiter, ActualPerm = union of RequiredPerm, NeedCpuAccess = OR), validation,
//! objects (alloc gets WaitSignal, dup, free), fences (generate, dup, clear, CPU wait with
//! timeout) and CPU signal.
//!
//! It models CPU-accessible primitives only: a reconciliation in which no list needs CPU
//! access is `NvSciError_UnsupportedConfig` here. Handles are checked against a registry;
//! where the header says "Panics if … not valid", the model aborts, so misuse is observed
//! as a signal rather than as silent memory corruption. It exports
//! `hil_nvscisync_model_info`, which real NvSciSync does not, so every result the suite
//! produces with it names the model (docs/nvscisync.md).
//!
//! It presents itself as NvSciSync 2.8 unless `HIL_NVSCISYNC_MODEL_VERSION` names another
//! 2.x minor (e.g. `2.0`, `2.5`): its version answers and the keys it knows then follow that
//! header (`nvsci_abi::upper_bound`), so CI can show which rows each library version runs.
#![allow(clippy::missing_safety_doc, non_snake_case)]

use nvsci_abi::{err, key, perm, Fence, KeyValuePair, NvSciError, FENCE_MAX_TIMEOUT_US};
use std::collections::HashSet;
use std::ffi::{c_char, c_void};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Selects which 2.x header the model follows (default: the newest, 2.8).
pub const VERSION_ENV: &str = "HIL_NVSCISYNC_MODEL_VERSION";
/// Marks a fence filled by this model ("HILF").
const FENCE_MAGIC: u64 = 0x4849_4C46;

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Module,
    List,
    Obj,
    Ctx,
}

fn registry() -> &'static Mutex<HashSet<(usize, Kind)>> {
    static R: OnceLock<Mutex<HashSet<(usize, Kind)>>> = OnceLock::new();
    R.get_or_init(|| Mutex::new(HashSet::new()))
}

fn register<T>(b: Box<T>, kind: Kind) -> *mut T {
    let p = Box::into_raw(b);
    registry()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert((p as usize, kind));
    p
}

/// The documented "panic" for an invalid handle.
fn invalid(what: &str) -> ! {
    eprintln!("nvscisync model: invalid {what} (the real library panics here)");
    std::process::abort()
}

unsafe fn get<'a, T>(p: *mut T, kind: Kind, what: &str) -> &'a mut T {
    if p.is_null()
        || !registry()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&(p as usize, kind))
    {
        invalid(what)
    }
    &mut *p
}

unsafe fn release<T>(p: *mut T, kind: Kind, what: &str) {
    if p.is_null() {
        return;
    }
    if !registry()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&(p as usize, kind))
    {
        invalid(what)
    }
    drop(Box::from_raw(p));
}

pub struct ModuleRec {
    _id: u64,
}

#[derive(Clone)]
pub struct ListRec {
    module: usize,
    reconciled: bool,
    // Values live here so GetAttrs can hand out pointers to them.
    need_cpu: Option<bool>,
    required: Option<u64>,
    actual: Option<u64>,
    flags: [Option<bool>; 3], // keys 4, 5, 6: bool in/out keys
}

impl ListRec {
    fn new(module: usize) -> ListRec {
        ListRec {
            module,
            reconciled: false,
            need_cpu: None,
            required: None,
            actual: None,
            flags: [None; 3],
        }
    }
}

struct ObjInner {
    list: ListRec,
    counter: Mutex<u64>,
    cv: Condvar,
    next: AtomicU64,
}

pub struct ObjRec {
    inner: Arc<ObjInner>,
}

pub struct CtxRec {
    _module: usize,
}

/// The minor version the model presents (`Err`: the variable's unusable value).
fn minor_version() -> Result<u32, &'static str> {
    static V: OnceLock<Result<u32, String>> = OnceLock::new();
    V.get_or_init(|| match std::env::var(VERSION_ENV) {
        Err(_) => Ok(nvsci_abi::NEWEST_MINOR),
        Ok(text) => parse_version(&text).ok_or(text),
    })
    .as_ref()
    .map(|m| *m)
    .map_err(|text| text.as_str())
}

/// `2.N` with N up to the newest header the model knows.
pub fn parse_version(text: &str) -> Option<u32> {
    let (major, minor) = text.trim().split_once('.')?;
    let minor: u32 = minor.parse().ok()?;
    (major == "2" && minor <= nvsci_abi::NEWEST_MINOR).then_some(minor)
}

/// The keys this version's header declares end here.
fn upper_bound() -> i32 {
    nvsci_abi::upper_bound(minor_version().unwrap_or(nvsci_abi::NEWEST_MINOR))
}

#[no_mangle]
pub extern "C" fn hil_nvscisync_model_info() -> *const c_char {
    static INFO: OnceLock<std::ffi::CString> = OnceLock::new();
    INFO.get_or_init(|| {
        let version = match minor_version() {
            Ok(m) => format!("2.{m}"),
            Err(bad) => format!("(unusable {VERSION_ENV}={bad:?})"),
        };
        std::ffi::CString::new(format!(
            "hil reference model of NvSciSync {version} (CPU semantics only; not hardware)"
        ))
        .unwrap_or_default()
    })
    .as_ptr()
}

/// As the 2.3+ headers document it: compatible if `major` is the library's and `minor` is
/// at most the library's own (2.0 documents only its own minor as valid, which agrees).
#[no_mangle]
pub unsafe extern "C" fn NvSciSyncCheckVersionCompatibility(
    major: u32,
    minor: u32,
    ok: *mut bool,
) -> NvSciError {
    if ok.is_null() {
        return err::BAD_PARAMETER;
    }
    let own = match minor_version() {
        Ok(m) => m,
        Err(bad) => {
            eprintln!(
                "nvscisync model: {VERSION_ENV}={bad:?} is not a version it can present (2.0 … 2.{})",
                nvsci_abi::NEWEST_MINOR
            );
            *ok = false;
            return err::BAD_PARAMETER;
        }
    };
    *ok = major == nvsci_abi::MAJOR_VERSION && minor <= own;
    err::SUCCESS
}

#[no_mangle]
pub unsafe extern "C" fn NvSciSyncModuleOpen(out: *mut *mut ModuleRec) -> NvSciError {
    if out.is_null() {
        return err::BAD_PARAMETER;
    }
    static IDS: AtomicU64 = AtomicU64::new(1);
    *out = register(
        Box::new(ModuleRec {
            _id: IDS.fetch_add(1, Ordering::Relaxed),
        }),
        Kind::Module,
    );
    err::SUCCESS
}

#[no_mangle]
pub unsafe extern "C" fn NvSciSyncModuleClose(m: *mut ModuleRec) {
    release(m, Kind::Module, "NvSciSyncModule");
}

#[no_mangle]
pub unsafe extern "C" fn NvSciSyncAttrListCreate(
    m: *mut ModuleRec,
    out: *mut *mut ListRec,
) -> NvSciError {
    if m.is_null() || out.is_null() {
        return err::BAD_PARAMETER;
    }
    get(m, Kind::Module, "NvSciSyncModule");
    *out = register(Box::new(ListRec::new(m as usize)), Kind::List);
    err::SUCCESS
}

#[no_mangle]
pub unsafe extern "C" fn NvSciSyncAttrListFree(l: *mut ListRec) {
    release(l, Kind::List, "NvSciSyncAttrList");
}

#[no_mangle]
pub unsafe extern "C" fn NvSciSyncAttrListIsReconciled(
    l: *mut ListRec,
    out: *mut bool,
) -> NvSciError {
    if l.is_null() || out.is_null() {
        return err::BAD_PARAMETER;
    }
    *out = get(l, Kind::List, "NvSciSyncAttrList").reconciled;
    err::SUCCESS
}

unsafe fn read_bool(p: &KeyValuePair) -> Option<bool> {
    (p.len == std::mem::size_of::<bool>()).then(|| *(p.value as *const u8) != 0)
}

unsafe fn read_u64(p: &KeyValuePair) -> Option<u64> {
    (p.len == 8).then(|| std::ptr::read_unaligned(p.value as *const u64))
}

#[no_mangle]
pub unsafe extern "C" fn NvSciSyncAttrListSetAttrs(
    l: *mut ListRec,
    pairs: *const KeyValuePair,
    n: usize,
) -> NvSciError {
    if l.is_null() || pairs.is_null() || n == 0 {
        return err::BAD_PARAMETER;
    }
    let list = get(l, Kind::List, "NvSciSyncAttrList");
    if list.reconciled {
        return err::BAD_PARAMETER;
    }
    let pairs = std::slice::from_raw_parts(pairs, n);
    // Check everything first: a failed call has no side effects.
    let mut staged = list.clone();
    for (i, p) in pairs.iter().enumerate() {
        if p.value.is_null()
            || p.attr_key >= upper_bound()
            || pairs[..i].iter().any(|q| q.attr_key == p.attr_key)
        {
            return err::BAD_PARAMETER;
        }
        let ok = match p.attr_key {
            key::NEED_CPU_ACCESS => {
                staged.need_cpu.is_none()
                    && read_bool(p).map(|v| staged.need_cpu = Some(v)).is_some()
            }
            key::REQUIRED_PERM => {
                staged.required.is_none()
                    && read_u64(p)
                        .filter(|v| {
                            matches!(*v, perm::WAIT_ONLY | perm::SIGNAL_ONLY | perm::WAIT_SIGNAL)
                        })
                        .map(|v| staged.required = Some(v))
                        .is_some()
            }
            k @ (key::WAITER_CONTEXT_INSENSITIVE_FENCE_EXPORTS
            | key::WAITER_REQUIRE_TIMESTAMPS
            | key::REQUIRE_DETERMINISTIC_FENCES) => {
                let slot = &mut staged.flags[(k - 4) as usize];
                slot.is_none() && read_bool(p).map(|v| *slot = Some(v)).is_some()
            }
            // ActualPerm is read-only; other keys are not modelled.
            _ => false,
        };
        if !ok {
            return err::BAD_PARAMETER;
        }
    }
    *list = staged;
    err::SUCCESS
}

#[no_mangle]
pub unsafe extern "C" fn NvSciSyncAttrListGetAttrs(
    l: *mut ListRec,
    pairs: *mut KeyValuePair,
    n: usize,
) -> NvSciError {
    if l.is_null() || pairs.is_null() || n == 0 {
        return err::BAD_PARAMETER;
    }
    let list = get(l, Kind::List, "NvSciSyncAttrList");
    let pairs = std::slice::from_raw_parts_mut(pairs, n);
    if pairs
        .iter()
        .any(|p| p.attr_key <= key::LOWER_BOUND || p.attr_key >= upper_bound())
    {
        return err::BAD_PARAMETER;
    }
    for p in pairs {
        let (ptr, len): (*const c_void, usize) = match p.attr_key {
            key::NEED_CPU_ACCESS => opt_ptr(&list.need_cpu),
            key::REQUIRED_PERM => opt_ptr(&list.required),
            key::ACTUAL_PERM => opt_ptr(&list.actual),
            k @ 4..=6 => opt_ptr(&list.flags[(k - 4) as usize]),
            _ => (std::ptr::null(), 0),
        };
        p.value = ptr;
        p.len = len;
    }
    err::SUCCESS
}

fn opt_ptr<T>(v: &Option<T>) -> (*const c_void, usize) {
    match v {
        Some(x) => (x as *const T as *const c_void, std::mem::size_of::<T>()),
        None => (std::ptr::null(), 0),
    }
}

#[no_mangle]
pub unsafe extern "C" fn NvSciSyncAttrListClone(
    l: *mut ListRec,
    out: *mut *mut ListRec,
) -> NvSciError {
    if l.is_null() || out.is_null() {
        return err::BAD_PARAMETER;
    }
    let copy = get(l, Kind::List, "NvSciSyncAttrList").clone();
    *out = register(Box::new(copy), Kind::List);
    err::SUCCESS
}

#[no_mangle]
pub unsafe extern "C" fn NvSciSyncAttrListReconcile(
    inputs: *const *mut ListRec,
    n: usize,
    out: *mut *mut ListRec,
    conflict: *mut *mut ListRec,
) -> NvSciError {
    if inputs.is_null() || n == 0 || out.is_null() || conflict.is_null() {
        return err::BAD_PARAMETER;
    }
    let ptrs = std::slice::from_raw_parts(inputs, n);
    let lists: Vec<&ListRec> = ptrs
        .iter()
        .map(|p| &*get(*p, Kind::List, "NvSciSyncAttrList"))
        .collect();
    let duplicate = ptrs.iter().enumerate().any(|(i, p)| ptrs[..i].contains(p));
    let mixed_modules = lists.iter().any(|l| l.module != lists[0].module);
    if duplicate || mixed_modules || lists.iter().any(|l| l.reconciled) {
        return err::BAD_PARAMETER;
    }
    let required = |bit: u64| {
        lists
            .iter()
            .filter(|l| l.required.is_some_and(|r| r & bit != 0))
            .count()
    };
    let (signalers, waiters) = (required(perm::SIGNAL_ONLY), required(perm::WAIT_ONLY));
    // nvscisync.h, NvSciSyncAttrKey_ActualPerm: fails with no signaler, more than one
    // signaler, or no waiter.
    if signalers != 1 || waiters == 0 {
        let mut c = ListRec::new(lists[0].module);
        c.required = Some(
            lists
                .iter()
                .filter_map(|l| l.required)
                .fold(0, |a, b| a | b),
        );
        *conflict = register(Box::new(c), Kind::List);
        return err::RECONCILIATION_FAILED;
    }
    let need_cpu = lists.iter().any(|l| l.need_cpu == Some(true));
    if !need_cpu {
        return err::UNSUPPORTED_CONFIG; // the model has CPU-accessible primitives only
    }
    let mut r = ListRec::new(lists[0].module);
    r.reconciled = true;
    r.need_cpu = Some(true);
    r.actual = Some(
        lists
            .iter()
            .filter_map(|l| l.required)
            .fold(0, |a, b| a | b),
    );
    for i in 0..3 {
        r.flags[i] = Some(lists.iter().any(|l| l.flags[i] == Some(true)));
    }
    *out = register(Box::new(r), Kind::List);
    err::SUCCESS
}

#[no_mangle]
pub unsafe extern "C" fn NvSciSyncAttrListValidateReconciled(
    rec: *mut ListRec,
    inputs: *const *mut ListRec,
    n: usize,
    valid: *mut bool,
) -> NvSciError {
    if rec.is_null() || inputs.is_null() || n == 0 || valid.is_null() {
        return err::BAD_PARAMETER;
    }
    let r = get(rec, Kind::List, "NvSciSyncAttrList");
    let lists: Vec<&ListRec> = std::slice::from_raw_parts(inputs, n)
        .iter()
        .map(|p| &*get(*p, Kind::List, "NvSciSyncAttrList"))
        .collect();
    if !r.reconciled || lists.iter().any(|l| l.reconciled || l.module != r.module) {
        return err::BAD_PARAMETER;
    }
    let actual = r.actual.unwrap_or(0);
    let perms_ok = lists.iter().all(|l| l.required.unwrap_or(0) & !actual == 0);
    let cpu_ok = r.need_cpu == Some(lists.iter().any(|l| l.need_cpu == Some(true)));
    *valid = perms_ok && cpu_ok;
    err::SUCCESS
}

#[no_mangle]
pub unsafe extern "C" fn NvSciSyncObjAlloc(l: *mut ListRec, out: *mut *mut ObjRec) -> NvSciError {
    if l.is_null() || out.is_null() {
        return err::BAD_PARAMETER;
    }
    let list = get(l, Kind::List, "NvSciSyncAttrList");
    if !list.reconciled {
        return err::BAD_PARAMETER;
    }
    let mut own = list.clone();
    own.actual = Some(perm::WAIT_SIGNAL); // "allocated NvSciSyncObj gets wait-signal permissions"
    let inner = Arc::new(ObjInner {
        list: own,
        counter: Mutex::new(0),
        cv: Condvar::new(),
        next: AtomicU64::new(0),
    });
    *out = register(Box::new(ObjRec { inner }), Kind::Obj);
    err::SUCCESS
}

#[no_mangle]
pub unsafe extern "C" fn NvSciSyncObjDup(o: *mut ObjRec, out: *mut *mut ObjRec) -> NvSciError {
    if o.is_null() || out.is_null() {
        return err::BAD_PARAMETER;
    }
    let inner = get(o, Kind::Obj, "NvSciSyncObj").inner.clone();
    *out = register(Box::new(ObjRec { inner }), Kind::Obj);
    err::SUCCESS
}

#[no_mangle]
pub unsafe extern "C" fn NvSciSyncObjFree(o: *mut ObjRec) {
    release(o, Kind::Obj, "NvSciSyncObj");
}

#[no_mangle]
pub unsafe extern "C" fn NvSciSyncObjSignal(o: *mut ObjRec) -> NvSciError {
    if o.is_null() {
        return err::BAD_PARAMETER;
    }
    let inner = &get(o, Kind::Obj, "NvSciSyncObj").inner;
    let cpu_signal = inner.list.need_cpu == Some(true)
        && inner.list.actual.unwrap_or(0) & perm::SIGNAL_ONLY != 0;
    if !cpu_signal {
        return err::BAD_PARAMETER;
    }
    let mut c = inner.counter.lock().unwrap_or_else(|e| e.into_inner());
    *c += 1;
    inner.cv.notify_all();
    err::SUCCESS
}

unsafe fn fence_obj(f: &Fence) -> Option<*const ObjInner> {
    if *f == Fence::default() {
        return None;
    }
    if f.payload[0] != FENCE_MAGIC {
        invalid("NvSciSyncFence")
    }
    Some(f.payload[1] as usize as *const ObjInner)
}

unsafe fn fence_release(f: &mut Fence) {
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
    let value = inner.next.fetch_add(1, Ordering::SeqCst) + 1;
    fence_release(&mut *f);
    (*f).payload = [
        FENCE_MAGIC,
        Arc::into_raw(inner) as usize as u64,
        0,
        value,
        0,
        0,
    ];
    err::SUCCESS
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

#[no_mangle]
pub unsafe extern "C" fn NvSciSyncCpuWaitContextAlloc(
    m: *mut ModuleRec,
    out: *mut *mut CtxRec,
) -> NvSciError {
    if m.is_null() || out.is_null() {
        return err::BAD_PARAMETER;
    }
    get(m, Kind::Module, "NvSciSyncModule");
    *out = register(
        Box::new(CtxRec {
            _module: m as usize,
        }),
        Kind::Ctx,
    );
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
    get(ctx, Kind::Ctx, "NvSciSyncCpuWaitContext");
    let Some(p) = fence_obj(&*f) else {
        return err::SUCCESS; // a cleared fence has nothing to wait for
    };
    let inner = &*p;
    if inner.list.need_cpu != Some(true) || inner.list.actual.unwrap_or(0) & perm::WAIT_ONLY == 0 {
        return err::BAD_PARAMETER; // no CPU wait permission
    }
    let target = (*f).payload[3];
    let deadline =
        (timeout_us >= 0).then(|| Instant::now() + Duration::from_micros(timeout_us as u64));
    let mut c = inner.counter.lock().unwrap_or_else(|e| e.into_inner());
    while *c < target {
        match deadline {
            None => c = inner.cv.wait(c).unwrap_or_else(|e| e.into_inner()),
            Some(d) => {
                let now = Instant::now();
                if now >= d {
                    return err::TIMEOUT;
                }
                c = inner
                    .cv
                    .wait_timeout(c, d - now)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
        }
    }
    err::SUCCESS
}
