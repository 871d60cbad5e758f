//! A reference model of NvSciSync 2.x's documented CPU semantics, exporting the C ABI
//! so it can stand where `libnvscisync.so.1` would for the suite's own tests:
//! attribute lists (set/get/clone, read-only keys), reconciliation (one signaler, at least
//! one waiter, ActualPerm = union of RequiredPerm, NeedCpuAccess = OR, the output keys
//! of 2.3/2.5), validation, objects (alloc gets WaitSignal, reconcile-and-alloc, dup,
//! the object's list, free), fences (generate, dup, clear, extract/update, CPU wait with
//! timeout) and CPU signal. `tests/fidelity.rs` holds it to the headers' documented
//! conditions, version by version.
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

use nvsci_abi::{err, key, perm, KeyValuePair, NvSciError};
use std::collections::HashSet;
use std::ffi::{c_char, c_void};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

mod export;
mod fence;
pub mod ipc;
mod shared;
mod wire;

pub use export::*;
pub use fence::*;
pub use ipc::*;

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
    id: u64,
}

/// `NvSciSyncAttrValPrimitiveType` (2.5+ headers; a C enum): the CPU-accessible ones the
/// model can back an object with, in the order it prefers them.
const PRIM_SYSMEM_SEMAPHORE: i32 = 2;
const PRIM_SYSMEM_SEMAPHORE_64B: i32 = 4;
const PRIM_UPPER_BOUND: i32 = 6;
/// `sizeof(NvSciRmGpuId)` (nvscibuf.h: 16 bytes).
const GPU_ID_LEN: usize = 16;

#[derive(Clone)]
pub struct ListRec {
    /// The module instance (its id, not its address: a list keeps its module alive, and a
    /// new module may reuse a closed one's address).
    module: u64,
    reconciled: bool,
    /// Keys written on this list (bit per key): "non-writable" from then on. A clone of an
    /// unreconciled list starts with none, as the header's Clone postcondition allows.
    written: u32,
    // Values live here so GetAttrs can hand out pointers to them.
    need_cpu: Option<bool>,
    required: Option<u64>,
    actual: Option<u64>,
    flags: [Option<bool>; 3], // keys 4, 5, 6: bool in/out keys
    num_timestamp_slots: Option<u32>,
    num_task_status_slots: Option<u32>,
    max_primitive_value: Option<u64>,
    primitive_info: Option<Vec<i32>>,
    gpu_id: Option<Vec<u8>>,
    /// Imported lists: the local endpoint (its tag, `wire::tag`) it came through.
    via: Option<u64>,
    /// Reconciled lists: per endpoint that brought input lists, the permissions those
    /// lists required (what an export over that endpoint must grant).
    peers: Vec<(u64, u64)>,
}

impl ListRec {
    fn new(module: u64) -> ListRec {
        ListRec {
            module,
            reconciled: false,
            written: 0,
            need_cpu: None,
            required: None,
            actual: None,
            flags: [None; 3],
            num_timestamp_slots: None,
            num_task_status_slots: None,
            max_primitive_value: None,
            primitive_info: None,
            gpu_id: None,
            via: None,
            peers: Vec::new(),
        }
    }
}

struct ObjInner {
    list: ListRec,
    /// Counter and fence values, in memory an importing process maps too.
    tl: shared::Timeline,
}

pub struct ObjRec {
    inner: Arc<ObjInner>,
    /// What NvSciSyncObjGetAttrList returns for this handle.
    list: *mut ListRec,
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
            id: IDS.fetch_add(1, Ordering::Relaxed),
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
    let id = get(m, Kind::Module, "NvSciSyncModule").id;
    *out = register(Box::new(ListRec::new(id)), Kind::List);
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

/// `(NvSciSyncAttrValPrimitiveType[], inout)`: a non-empty array of 4-byte enum values,
/// each a primitive type between the bounds.
unsafe fn read_primitives(p: &KeyValuePair) -> Option<Vec<i32>> {
    if p.len == 0 || !p.len.is_multiple_of(4) {
        return None;
    }
    let v: Vec<i32> = (0..p.len / 4)
        .map(|i| std::ptr::read_unaligned((p.value as *const i32).add(i)))
        .collect();
    v.iter()
        .all(|t| (1..PRIM_UPPER_BOUND).contains(t))
        .then_some(v)
}

/// `(NvSciRmGpuId[], inout)`: a non-empty array of 16-byte ids.
unsafe fn read_gpu_ids(p: &KeyValuePair) -> Option<Vec<u8>> {
    (p.len > 0 && p.len.is_multiple_of(GPU_ID_LEN))
        .then(|| std::slice::from_raw_parts(p.value as *const u8, p.len).to_vec())
}

/// Whether 2.`minor` (the version the model presents) or newer documents a rule.
fn documented_from(minor: u32) -> bool {
    minor_version().unwrap_or(nvsci_abi::NEWEST_MINOR) >= minor
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
            || p.attr_key <= key::LOWER_BOUND
            || p.attr_key >= upper_bound()
            || pairs[..i].iter().any(|q| q.attr_key == p.attr_key)
        {
            return err::BAD_PARAMETER;
        }
        // "any of the attributes to be written is non-writable in attrList"
        let bit = 1u32 << p.attr_key;
        if staged.written & bit != 0 {
            return err::BAD_PARAMETER;
        }
        let ok = match p.attr_key {
            key::NEED_CPU_ACCESS => read_bool(p).map(|v| staged.need_cpu = Some(v)).is_some(),
            key::REQUIRED_PERM => read_u64(p)
                .filter(|v| matches!(*v, perm::WAIT_ONLY | perm::SIGNAL_ONLY | perm::WAIT_SIGNAL))
                .map(|v| staged.required = Some(v))
                .is_some(),
            k @ (key::WAITER_CONTEXT_INSENSITIVE_FENCE_EXPORTS
            | key::WAITER_REQUIRE_TIMESTAMPS
            | key::REQUIRE_DETERMINISTIC_FENCES) => {
                let slot = &mut staged.flags[(k - 4) as usize];
                read_bool(p).map(|v| *slot = Some(v)).is_some()
            }
            key::PRIMITIVE_INFO => read_primitives(p)
                .map(|v| staged.primitive_info = Some(v))
                .is_some(),
            key::GPU_ID => read_gpu_ids(p).map(|v| staged.gpu_id = Some(v)).is_some(),
            // Output keys (ActualPerm, the slot counts, MaxPrimitiveValue) are read-only;
            // PeerLocationInfo and PeerHwEngineArray (late peers) are not modelled.
            _ => false,
        };
        if !ok {
            return err::BAD_PARAMETER;
        }
        staged.written |= bit;
    }
    *list = staged;
    err::SUCCESS
}

/// Where GetAttrs / GetAttr / SlotGetAttrs find a key's value: (pointer, length), or
/// (NULL, 0) if it was never set.
fn value_of(list: &ListRec, k: i32) -> (*const c_void, usize) {
    match k {
        key::NEED_CPU_ACCESS => opt_ptr(&list.need_cpu),
        key::REQUIRED_PERM => opt_ptr(&list.required),
        key::ACTUAL_PERM => opt_ptr(&list.actual),
        k @ 4..=6 => opt_ptr(&list.flags[(k - 4) as usize]),
        key::NUM_TIMESTAMP_SLOTS => opt_ptr(&list.num_timestamp_slots),
        key::NUM_TASK_STATUS_SLOTS => opt_ptr(&list.num_task_status_slots),
        key::MAX_PRIMITIVE_VALUE => opt_ptr(&list.max_primitive_value),
        key::PRIMITIVE_INFO => vec_ptr(&list.primitive_info),
        key::GPU_ID => vec_ptr(&list.gpu_id),
        _ => (std::ptr::null(), 0),
    }
}

fn vec_ptr<T>(v: &Option<Vec<T>>) -> (*const c_void, usize) {
    match v {
        Some(x) => (
            x.as_ptr() as *const c_void,
            std::mem::size_of_val(x.as_slice()),
        ),
        None => (std::ptr::null(), 0),
    }
}

fn key_known(k: i32) -> bool {
    k > key::LOWER_BOUND && k < upper_bound()
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
    if pairs.iter().any(|p| !key_known(p.attr_key)) {
        return err::BAD_PARAMETER;
    }
    for p in pairs {
        (p.value, p.len) = value_of(list, p.attr_key);
    }
    err::SUCCESS
}

/// Slot 0 of a list, one key (2.0+ utility function).
#[no_mangle]
pub unsafe extern "C" fn NvSciSyncAttrListGetAttr(
    l: *mut ListRec,
    k: i32,
    value: *mut *const c_void,
    len: *mut usize,
) -> NvSciError {
    if l.is_null() || value.is_null() || len.is_null() {
        return err::BAD_PARAMETER;
    }
    let list = get(l, Kind::List, "NvSciSyncAttrList");
    if !key_known(k) {
        return err::BAD_PARAMETER;
    }
    (*value, *len) = value_of(list, k);
    err::SUCCESS
}

/// The model's lists are single-slot (it has no AppendUnreconciled): slot 0 only.
#[no_mangle]
pub unsafe extern "C" fn NvSciSyncAttrListSlotGetAttrs(
    l: *mut ListRec,
    slot: usize,
    pairs: *mut KeyValuePair,
    n: usize,
) -> NvSciError {
    if l.is_null() || pairs.is_null() || n == 0 {
        return err::BAD_PARAMETER;
    }
    get(l, Kind::List, "NvSciSyncAttrList");
    if slot != 0 {
        return err::BAD_PARAMETER; // "slotIndex is not a valid slot in attrList"
    }
    NvSciSyncAttrListGetAttrs(l, pairs, n)
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
    let mut copy = get(l, Kind::List, "NvSciSyncAttrList").clone();
    if !copy.reconciled {
        // Clone postcondition (2.0+): keys set in the original may be set on the clone.
        copy.written = 0;
    }
    *out = register(Box::new(copy), Kind::List);
    err::SUCCESS
}

/// The primitive the model backs an object with: the first CPU-accessible type every
/// input that sets PrimitiveInfo allows (`None`: no common one).
fn reconcile_primitive(lists: &[&ListRec]) -> Option<i32> {
    [PRIM_SYSMEM_SEMAPHORE_64B, PRIM_SYSMEM_SEMAPHORE]
        .into_iter()
        .find(|t| {
            lists
                .iter()
                .all(|l| l.primitive_info.as_ref().is_none_or(|v| v.contains(t)))
        })
}

fn duplicates(ptrs: &[*mut ListRec]) -> bool {
    ptrs.iter().enumerate().any(|(i, p)| ptrs[..i].contains(p))
}

/// The reconciled list, or the failure code and the conflict list to hand back.
unsafe fn reconcile(ptrs: &[*mut ListRec]) -> Result<ListRec, (NvSciError, Option<Box<ListRec>>)> {
    let lists: Vec<&ListRec> = ptrs
        .iter()
        .map(|p| &*get(*p, Kind::List, "NvSciSyncAttrList"))
        .collect();
    // A list given twice: BadParameter from the 2.8 header on; older headers do not name
    // it, and the model then counts it twice like any other input.
    let duplicate = documented_from(8) && duplicates(ptrs);
    let mixed_modules = lists.iter().any(|l| l.module != lists[0].module);
    if duplicate || mixed_modules || lists.iter().any(|l| l.reconciled) {
        return Err((err::BAD_PARAMETER, None));
    }
    let required = |bit: u64| {
        lists
            .iter()
            .filter(|l| l.required.is_some_and(|r| r & bit != 0))
            .count()
    };
    let union = lists
        .iter()
        .filter_map(|l| l.required)
        .fold(0, |a, b| a | b);
    let (signalers, waiters) = (required(perm::SIGNAL_ONLY), required(perm::WAIT_ONLY));
    // nvscisync.h, NvSciSyncAttrKey_ActualPerm: fails with no signaler, more than one
    // signaler, or no waiter.
    if signalers != 1 || waiters == 0 {
        let mut c = ListRec::new(lists[0].module);
        c.required = Some(union);
        return Err((err::RECONCILIATION_FAILED, Some(Box::new(c))));
    }
    let need_cpu = lists.iter().any(|l| l.need_cpu == Some(true));
    if !need_cpu {
        return Err((err::UNSUPPORTED_CONFIG, None)); // CPU-accessible primitives only
    }
    // PrimitiveInfo: "The reconciliation will fail if this key is set to value which does
    // not intersect with values of primitive type set internally".
    let Some(prim) = reconcile_primitive(&lists) else {
        let mut c = ListRec::new(lists[0].module);
        c.primitive_info = lists.iter().find_map(|l| l.primitive_info.clone());
        return Err((err::RECONCILIATION_FAILED, Some(Box::new(c))));
    };
    let mut r = ListRec::new(lists[0].module);
    r.reconciled = true;
    r.need_cpu = Some(true);
    r.actual = Some(union);
    for l in &lists {
        if let Some(t) = l.via {
            match r.peers.iter_mut().find(|p| p.0 == t) {
                Some(p) => p.1 |= l.required.unwrap_or(0),
                None => r.peers.push((t, l.required.unwrap_or(0))),
            }
        }
    }
    for i in 0..3 {
        r.flags[i] = Some(lists.iter().any(|l| l.flags[i] == Some(true)));
    }
    if upper_bound() > key::MAX_PRIMITIVE_VALUE {
        // 2.3+ output keys: no task status is requested, so 0 slots; the maximum value
        // follows the primitive. NumTimestampSlots is undefined without timestamps.
        r.num_task_status_slots = Some(0);
        r.max_primitive_value = Some(if prim == PRIM_SYSMEM_SEMAPHORE_64B {
            u64::MAX
        } else {
            u64::from(u32::MAX)
        });
    }
    if upper_bound() > key::PRIMITIVE_INFO {
        // 2.5+: "the reconciler sets the value of this key to the reconciled primitive type"
        r.primitive_info = Some(vec![prim]);
    }
    Ok(r)
}

#[no_mangle]
pub unsafe extern "C" fn NvSciSyncAttrListReconcile(
    inputs: *const *mut ListRec,
    n: usize,
    out: *mut *mut ListRec,
    conflict: *mut *mut ListRec,
) -> NvSciError {
    if out.is_null() {
        return err::BAD_PARAMETER;
    }
    reconcile_then(inputs, n, conflict, |r| {
        *out = register(Box::new(r), Kind::List)
    })
}

/// Reconcile's argument checks and conflict list, shared by the calls that reconcile:
/// `done` takes the reconciled list.
unsafe fn reconcile_then(
    inputs: *const *mut ListRec,
    n: usize,
    conflict: *mut *mut ListRec,
    done: impl FnOnce(ListRec),
) -> NvSciError {
    if inputs.is_null() || n == 0 || conflict.is_null() {
        return err::BAD_PARAMETER;
    }
    match reconcile(std::slice::from_raw_parts(inputs, n)) {
        Ok(r) => {
            done(r);
            err::SUCCESS
        }
        Err((code, c)) => {
            if let Some(c) = c {
                *conflict = register(c, Kind::List);
            }
            code
        }
    }
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
    let ptrs = std::slice::from_raw_parts(inputs, n);
    let lists: Vec<&ListRec> = ptrs
        .iter()
        .map(|p| &*get(*p, Kind::List, "NvSciSyncAttrList"))
        .collect();
    if !r.reconciled
        || lists.iter().any(|l| l.reconciled || l.module != r.module)
        || (documented_from(8) && duplicates(ptrs))
    {
        return err::BAD_PARAMETER;
    }
    let actual = r.actual.unwrap_or(0);
    let perms_ok = lists.iter().all(|l| l.required.unwrap_or(0) & !actual == 0);
    let cpu_ok = r.need_cpu == Some(lists.iter().any(|l| l.need_cpu == Some(true)));
    let prim_ok = match r.primitive_info.as_deref() {
        Some([prim]) => lists
            .iter()
            .all(|l| l.primitive_info.as_ref().is_none_or(|v| v.contains(prim))),
        _ => true,
    };
    *valid = perms_ok && cpu_ok && prim_ok;
    // Both headers name BadParameter when the reconciled list "does not satisfy" the
    // inputs, besides the boolean: the model answers with both.
    if *valid {
        err::SUCCESS
    } else {
        err::BAD_PARAMETER
    }
}

/// A new object handle on `inner`, with the read-only reconciled list that
/// NvSciSyncObjGetAttrList hands out for it (freed with the handle).
fn obj_handle(inner: Arc<ObjInner>) -> *mut ObjRec {
    let list = register(Box::new(inner.list.clone()), Kind::List);
    register(Box::new(ObjRec { inner, list }), Kind::Obj)
}

fn alloc_from(list: &ListRec) -> Result<*mut ObjRec, NvSciError> {
    let mut own = list.clone();
    own.actual = Some(perm::WAIT_SIGNAL); // "allocated NvSciSyncObj gets wait-signal permissions"
    let tl = shared::Timeline::new().map_err(|_| err::INSUFFICIENT_MEMORY)?;
    Ok(obj_handle(Arc::new(ObjInner { list: own, tl })))
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
    match alloc_from(list) {
        Ok(o) => {
            *out = o;
            err::SUCCESS
        }
        Err(e) => e,
    }
}

/// Reconcile + ObjAlloc in one call (2.0+): the reconciled list lives only in the object.
#[no_mangle]
pub unsafe extern "C" fn NvSciSyncAttrListReconcileAndObjAlloc(
    inputs: *const *mut ListRec,
    n: usize,
    out: *mut *mut ObjRec,
    conflict: *mut *mut ListRec,
) -> NvSciError {
    if out.is_null() {
        return err::BAD_PARAMETER;
    }
    let mut code = err::SUCCESS;
    let r = reconcile_then(inputs, n, conflict, |r| match alloc_from(&r) {
        Ok(o) => *out = o,
        Err(e) => code = e,
    });
    if r == err::SUCCESS {
        code
    } else {
        r
    }
}

#[no_mangle]
pub unsafe extern "C" fn NvSciSyncObjDup(o: *mut ObjRec, out: *mut *mut ObjRec) -> NvSciError {
    if o.is_null() || out.is_null() {
        return err::BAD_PARAMETER;
    }
    let inner = get(o, Kind::Obj, "NvSciSyncObj").inner.clone();
    *out = obj_handle(inner);
    err::SUCCESS
}

/// The object's reconciled list: owned by the object, read-only, never freed by the caller.
#[no_mangle]
pub unsafe extern "C" fn NvSciSyncObjGetAttrList(
    o: *mut ObjRec,
    out: *mut *mut ListRec,
) -> NvSciError {
    if o.is_null() || out.is_null() {
        return err::BAD_PARAMETER;
    }
    *out = get(o, Kind::Obj, "NvSciSyncObj").list;
    err::SUCCESS
}

#[no_mangle]
pub unsafe extern "C" fn NvSciSyncObjFree(o: *mut ObjRec) {
    let list = get(o, Kind::Obj, "NvSciSyncObj").list;
    release(o, Kind::Obj, "NvSciSyncObj");
    release(list, Kind::List, "NvSciSyncAttrList of an NvSciSyncObj");
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
    inner.tl.signal();
    err::SUCCESS
}
