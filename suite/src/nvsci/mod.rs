//! Safe layer over `libnvscisync.so.1`: every handle is owned and freed on drop; every
//! error is an `OpError::Api` with the NvSciError code, compared with table expectations.
//! Any NvSciSync 2.x library loads; its own version is probed and recorded, and rows that
//! need newer keys or entry points are gated by it (`needs.rs`).

pub mod ffi;
pub mod ipc;
pub mod needs;

use crate::error::Api;
use crate::error::OpError;
use nvsci_abi::{key, Fence as RawFence, KeyValuePair, NvSciError};
use std::ffi::c_void;
use std::sync::OnceLock;

pub const LIB_NAME: &str = "libnvscisync.so.1";
/// A library file to load instead of `libnvscisync.so.1` from the loader's path (what
/// `hil-run --board model` sets to hil's reference model).
pub const LIB_ENV: &str = "HIL_NVSCISYNC_LIB";
/// Version probing stops here: no 2.x minor this high exists.
const PROBE_MINOR_LIMIT: u32 = 64;

/// An NvSciSync library version, as the library itself answers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version {
    pub major: u32,
    pub minor: u32,
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

pub struct Lib {
    _lib: libloading::Library,
    pub fns: ffi::Fns,
    /// What produced the results: the real library (with its path) or the hil model.
    pub implementation: String,
    pub is_model: bool,
    /// The library's own version (probed: NvSciSync has no getter).
    pub version: Version,
}

/// Loads and checks the library once per process. `Err` is the not-supported reason.
pub fn lib() -> Result<&'static Lib, OpError> {
    static LIB: OnceLock<Result<Lib, String>> = OnceLock::new();
    LIB.get_or_init(load)
        .as_ref()
        .map_err(|r| OpError::NotSupported(r.clone()))
}

fn load() -> Result<Lib, String> {
    let (file, via) = match &crate::settings::get().nvscisync_lib {
        Some(p) => (p.clone().into_os_string(), format!(" (from ${LIB_ENV})")),
        None => (LIB_NAME.into(), String::new()),
    };
    let shown = std::path::Path::new(&file).display().to_string();
    let lib = unsafe { libloading::Library::new(&file) }
        .map_err(|e| format!("{shown}{via} not loadable: {e}"))?;
    let path = lib_path(&lib).unwrap_or(shown);
    let version = probe_version(&lib, &path)?;
    let fns = unsafe { ffi::load(&lib, version.minor) }?;
    let (implementation, is_model) = match fns.model_info {
        Some(info) => {
            let text = unsafe { std::ffi::CStr::from_ptr(info()) }
                .to_string_lossy()
                .into_owned();
            (format!("{text} [{path}]"), true)
        }
        None => (format!("NvSciSync {version} [{path}]"), false),
    };
    Ok(Lib {
        _lib: lib,
        fns,
        implementation,
        is_model,
        version,
    })
}

/// Asks for the oldest version the suite can use (2.0), then finds the library's own
/// minor: NvSciSync has no version getter, but from 2.3 on `NvSciSyncCheckVersionCompatibility`
/// accepts a minor exactly when it is at most the library's own (2.0 documents only its
/// own minor as valid), so the largest accepted minor is the library's.
fn probe_version(lib: &libloading::Library, path: &str) -> Result<Version, String> {
    let Some(check) = (unsafe { ffi::check_version(lib) }) else {
        return Err(refuse_without_version_check(lib, path));
    };
    let major = nvsci_abi::MAJOR_VERSION;
    let compatible = |minor: u32| -> Result<bool, String> {
        let mut ok = false;
        match unsafe { check(major, minor, &mut ok) } {
            0 => Ok(ok),
            code => Err(format!(
                "NvSciSyncCheckVersionCompatibility({major}, {minor}) returned {code:#x}"
            )),
        }
    };
    let oldest = nvsci_abi::OLDEST_MINOR;
    match compatible(oldest) {
        Ok(true) => {}
        Ok(false) => {
            return Err(format!(
                "{path} is not compatible with NvSciSync {major}.{oldest}, the oldest version \
                 these bindings use: NvSciSyncCheckVersionCompatibility({major}, {oldest}) answered \
                 incompatible (a different major version)"
            ))
        }
        Err(e) => return Err(format!("{path}: {e}")),
    }
    let mut minor = oldest;
    // An error above the library's own minor ends the probe like a "no" does.
    while minor < PROBE_MINOR_LIMIT && compatible(minor + 1) == Ok(true) {
        minor += 1;
    }
    Ok(Version { major, minor })
}

/// A library without `NvSciSyncCheckVersionCompatibility`: NvSciSync 1.x if it has the
/// rest of the API. Its permissions are encoded differently, so using it would be wrong.
fn refuse_without_version_check(lib: &libloading::Library, path: &str) -> String {
    if ffi::has(lib, b"NvSciSyncModuleOpen\0") {
        format!(
            "{path} is NvSciSync 1.x: it lacks NvSciSyncCheckVersionCompatibility, which every \
             2.x header declares. 1.x encodes NvSciSyncAccessPerm as a C enum (WaitOnly 0, \
             SignalOnly 1, WaitSignal 2; 4 bytes), 2.x as 64-bit bit flags (WaitOnly 1<<0, \
             SignalOnly 1<<1); these bindings use the 2.x encoding and refuse 1.x"
        )
    } else {
        format!("{path} is not NvSciSync: it has neither NvSciSyncCheckVersionCompatibility nor NvSciSyncModuleOpen")
    }
}

/// Where the dynamic loader found the library (so reports name the exact file).
fn lib_path(lib: &libloading::Library) -> Option<String> {
    let sym: libloading::Symbol<*const c_void> =
        unsafe { lib.get(b"NvSciSyncModuleOpen\0") }.ok()?;
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    if unsafe { libc::dladdr(*sym, &mut info) } == 0 || info.dli_fname.is_null() {
        return None;
    }
    Some(
        unsafe { std::ffi::CStr::from_ptr(info.dli_fname) }
            .to_string_lossy()
            .into_owned(),
    )
}

fn nv(call: &str, code: NvSciError) -> Result<(), OpError> {
    match code {
        0 => Ok(()),
        code => Err(OpError::Api {
            api: Api::Nvsci,
            call: call.to_string(),
            code: code.into(),
        }),
    }
}

pub struct Module {
    l: &'static Lib,
    raw: ffi::Module,
}

impl Module {
    pub fn open() -> Result<Module, OpError> {
        let l = lib()?;
        let mut raw = std::ptr::null_mut();
        nv("NvSciSyncModuleOpen", unsafe {
            (l.fns.ModuleOpen)(&mut raw)
        })?;
        Ok(Module { l, raw })
    }

    pub fn attr_list(&self) -> Result<AttrList, OpError> {
        let mut raw = std::ptr::null_mut();
        nv("NvSciSyncAttrListCreate", unsafe {
            (self.l.fns.AttrListCreate)(self.raw, &mut raw)
        })?;
        Ok(AttrList { l: self.l, raw })
    }

    pub fn cpu_wait_context(&self) -> Result<CpuWaitContext, OpError> {
        let mut raw = std::ptr::null_mut();
        nv("NvSciSyncCpuWaitContextAlloc", unsafe {
            (self.l.fns.CpuWaitContextAlloc)(self.raw, &mut raw)
        })?;
        Ok(CpuWaitContext { l: self.l, raw })
    }
}

impl Drop for Module {
    fn drop(&mut self) {
        unsafe { (self.l.fns.ModuleClose)(self.raw) }
    }
}

pub struct AttrList {
    l: &'static Lib,
    pub raw: ffi::AttrList,
}

impl AttrList {
    /// NvSciSyncAttrListSetAttrs with raw pairs (values as given, so invalid ones can be tested).
    pub fn set(&self, pairs: &[KeyValuePair]) -> Result<(), OpError> {
        nv("NvSciSyncAttrListSetAttrs", unsafe {
            (self.l.fns.AttrListSetAttrs)(self.raw, pairs.as_ptr(), pairs.len())
        })
    }

    /// The usual CPU list: NeedCpuAccess and RequiredPerm.
    pub fn set_cpu(&self, need_cpu: bool, required: u64) -> Result<(), OpError> {
        self.set(&[
            pair_bool(key::NEED_CPU_ACCESS, &need_cpu),
            pair_u64(key::REQUIRED_PERM, &required),
        ])
    }

    /// NvSciSyncAttrListGetAttrs for one key, the pair as the library filled it.
    pub fn get_raw(&self, k: i32) -> Result<KeyValuePair, OpError> {
        let mut p = [KeyValuePair {
            attr_key: k,
            value: std::ptr::null(),
            len: 0,
        }];
        nv("NvSciSyncAttrListGetAttrs", unsafe {
            (self.l.fns.AttrListGetAttrs)(self.raw, p.as_mut_ptr(), 1)
        })?;
        Ok(p[0])
    }

    /// A bool key, `None` if never set. A wrong length is a conformance failure.
    pub fn get_bool(&self, k: i32) -> Result<Option<bool>, OpError> {
        let p = self.get_raw(k)?;
        match (p.value.is_null(), p.len) {
            (true, _) => Ok(None),
            (false, 1) => Ok(Some(unsafe { *(p.value as *const u8) } != 0)),
            (false, n) => Err(OpError::Check(format!("key {k}: bool value with len {n}"))),
        }
    }

    /// A u64 key (permissions in 2.x), `None` if never set.
    pub fn get_u64(&self, k: i32) -> Result<Option<u64>, OpError> {
        let p = self.get_raw(k)?;
        match (p.value.is_null(), p.len) {
            (true, _) => Ok(None),
            (false, 8) => Ok(Some(unsafe {
                std::ptr::read_unaligned(p.value as *const u64)
            })),
            (false, n) => Err(OpError::Check(format!(
                "key {k}: 64-bit value with len {n}"
            ))),
        }
    }

    /// NvSciSyncAttrListGetAttr (slot 0, one key): the value pointer and length.
    pub fn get_attr(&self, k: i32) -> Result<(*const c_void, usize), OpError> {
        let f = utility(
            self.l,
            self.l.fns.AttrListGetAttr,
            "NvSciSyncAttrListGetAttr",
        )?;
        let (mut value, mut len) = (std::ptr::null(), usize::MAX);
        nv("NvSciSyncAttrListGetAttr", unsafe {
            f(self.raw, k, &mut value, &mut len)
        })?;
        Ok((value, len))
    }

    /// NvSciSyncAttrListGetAttr with a NULL `value` (documented BadParameter).
    pub fn get_attr_null_value(&self, k: i32) -> Result<(), OpError> {
        let f = utility(
            self.l,
            self.l.fns.AttrListGetAttr,
            "NvSciSyncAttrListGetAttr",
        )?;
        let mut len = 0;
        nv("NvSciSyncAttrListGetAttr", unsafe {
            f(self.raw, k, std::ptr::null_mut(), &mut len)
        })
    }

    /// NvSciSyncAttrListSlotGetAttrs for the given pairs (their keys as given, so invalid
    /// keys and a count of 0 can be tested).
    pub fn slot_get(&self, slot: usize, pairs: &mut [KeyValuePair]) -> Result<(), OpError> {
        let f = utility(
            self.l,
            self.l.fns.AttrListSlotGetAttrs,
            "NvSciSyncAttrListSlotGetAttrs",
        )?;
        nv("NvSciSyncAttrListSlotGetAttrs", unsafe {
            f(self.raw, slot, pairs.as_mut_ptr(), pairs.len())
        })
    }

    pub fn try_clone(&self) -> Result<AttrList, OpError> {
        let mut raw = std::ptr::null_mut();
        nv("NvSciSyncAttrListClone", unsafe {
            (self.l.fns.AttrListClone)(self.raw, &mut raw)
        })?;
        Ok(AttrList { l: self.l, raw })
    }
}

/// A 2.0 utility entry point, or not-supported naming it when the library lacks it.
fn utility<F>(l: &Lib, f: Option<F>, name: &str) -> Result<F, OpError> {
    f.ok_or_else(|| {
        OpError::NotSupported(format!(
            "this NvSciSync {} library lacks {name}, which the 2.0 header declares",
            l.version
        ))
    })
}

/// NvSciSyncAttrListGetAttr with a NULL list (documented BadParameter).
pub fn get_attr_null_list(k: i32) -> Result<(), OpError> {
    let l = lib()?;
    let f = utility(l, l.fns.AttrListGetAttr, "NvSciSyncAttrListGetAttr")?;
    let (mut value, mut len) = (std::ptr::null(), 0);
    nv("NvSciSyncAttrListGetAttr", unsafe {
        f(std::ptr::null_mut(), k, &mut value, &mut len)
    })
}

/// The reconciled list an object holds (NvSciSyncObjGetAttrList): read-only, owned by
/// the object, so it is never freed here.
pub struct ObjAttrList<'a> {
    list: std::mem::ManuallyDrop<AttrList>,
    _obj: std::marker::PhantomData<&'a Obj>,
}

impl std::ops::Deref for ObjAttrList<'_> {
    type Target = AttrList;
    fn deref(&self) -> &AttrList {
        &self.list
    }
}

impl Drop for AttrList {
    fn drop(&mut self) {
        unsafe { (self.l.fns.AttrListFree)(self.raw) }
    }
}

pub fn pair_bool(k: i32, v: &bool) -> KeyValuePair {
    KeyValuePair {
        attr_key: k,
        value: v as *const bool as *const c_void,
        len: std::mem::size_of::<bool>(),
    }
}

pub fn pair_u64(k: i32, v: &u64) -> KeyValuePair {
    KeyValuePair {
        attr_key: k,
        value: v as *const u64 as *const c_void,
        len: 8,
    }
}

/// A failed reconciliation: the error and the conflict list, when the library gave one.
pub struct ReconcileFailure {
    pub error: OpError,
    pub conflict: Option<AttrList>,
}

/// NvSciSyncAttrListReconcile over raw handles (so NULL/empty/duplicate inputs can be tested).
pub fn reconcile_raw(inputs: &[ffi::AttrList]) -> Result<AttrList, ReconcileFailure> {
    let l = lib().map_err(|error| ReconcileFailure {
        error,
        conflict: None,
    })?;
    let (mut out, mut conflict) = (std::ptr::null_mut(), std::ptr::null_mut());
    let ptr = if inputs.is_empty() {
        std::ptr::null()
    } else {
        inputs.as_ptr()
    };
    let r = unsafe { (l.fns.AttrListReconcile)(ptr, inputs.len(), &mut out, &mut conflict) };
    match nv("NvSciSyncAttrListReconcile", r) {
        Ok(()) => Ok(AttrList { l, raw: out }),
        Err(error) => Err(ReconcileFailure {
            error,
            conflict: (!conflict.is_null()).then_some(AttrList { l, raw: conflict }),
        }),
    }
}

pub fn reconcile(inputs: &[&AttrList]) -> Result<AttrList, ReconcileFailure> {
    reconcile_raw(&inputs.iter().map(|a| a.raw).collect::<Vec<_>>())
}

/// NvSciSyncAttrListReconcileAndObjAlloc over raw handles; `null_obj` passes a NULL
/// `syncObj` (documented BadParameter).
pub fn reconcile_and_alloc_raw(
    inputs: &[ffi::AttrList],
    null_obj: bool,
) -> Result<Obj, ReconcileFailure> {
    let fail = |error| ReconcileFailure {
        error,
        conflict: None,
    };
    let l = lib().map_err(fail)?;
    let f = utility(
        l,
        l.fns.AttrListReconcileAndObjAlloc,
        "NvSciSyncAttrListReconcileAndObjAlloc",
    )
    .map_err(fail)?;
    let (mut out, mut conflict) = (std::ptr::null_mut(), std::ptr::null_mut());
    let ptr = if inputs.is_empty() {
        std::ptr::null()
    } else {
        inputs.as_ptr()
    };
    let obj_out: *mut ffi::Obj = if null_obj {
        std::ptr::null_mut()
    } else {
        &mut out
    };
    let r = unsafe { f(ptr, inputs.len(), obj_out, &mut conflict) };
    match nv("NvSciSyncAttrListReconcileAndObjAlloc", r) {
        Ok(()) if null_obj => Err(fail(OpError::Check(
            "NvSciSyncAttrListReconcileAndObjAlloc accepted a NULL syncObj".into(),
        ))),
        Ok(()) => Ok(Obj { l, raw: out }),
        Err(error) => Err(ReconcileFailure {
            error,
            conflict: (!conflict.is_null()).then_some(AttrList { l, raw: conflict }),
        }),
    }
}

pub fn validate(reconciled: &AttrList, inputs: &[&AttrList]) -> Result<bool, OpError> {
    let raw: Vec<_> = inputs.iter().map(|a| a.raw).collect();
    let mut ok = false;
    nv("NvSciSyncAttrListValidateReconciled", unsafe {
        (reconciled.l.fns.AttrListValidateReconciled)(
            reconciled.raw,
            raw.as_ptr(),
            raw.len(),
            &mut ok,
        )
    })?;
    Ok(ok)
}

pub struct Obj {
    l: &'static Lib,
    pub raw: ffi::Obj,
}

impl Obj {
    pub fn alloc(reconciled: &AttrList) -> Result<Obj, OpError> {
        let mut raw = std::ptr::null_mut();
        nv("NvSciSyncObjAlloc", unsafe {
            (reconciled.l.fns.ObjAlloc)(reconciled.raw, &mut raw)
        })?;
        Ok(Obj {
            l: reconciled.l,
            raw,
        })
    }

    pub fn dup(&self) -> Result<Obj, OpError> {
        let mut raw = std::ptr::null_mut();
        nv("NvSciSyncObjDup", unsafe {
            (self.l.fns.ObjDup)(self.raw, &mut raw)
        })?;
        Ok(Obj { l: self.l, raw })
    }

    /// NvSciSyncObjDup with a NULL `dupObj` (documented BadParameter).
    pub fn dup_null_out(&self) -> Result<(), OpError> {
        nv("NvSciSyncObjDup", unsafe {
            (self.l.fns.ObjDup)(self.raw, std::ptr::null_mut())
        })
    }

    /// NvSciSyncObjGetAttrList: the object's reconciled list, borrowed from it.
    pub fn attr_list(&self) -> Result<ObjAttrList<'_>, OpError> {
        let f = utility(self.l, self.l.fns.ObjGetAttrList, "NvSciSyncObjGetAttrList")?;
        let mut raw = std::ptr::null_mut();
        nv("NvSciSyncObjGetAttrList", unsafe { f(self.raw, &mut raw) })?;
        Ok(ObjAttrList {
            list: std::mem::ManuallyDrop::new(AttrList { l: self.l, raw }),
            _obj: std::marker::PhantomData,
        })
    }

    /// NvSciSyncObjGetAttrList with a NULL `syncAttrList` (documented BadParameter).
    pub fn attr_list_null_out(&self) -> Result<(), OpError> {
        let f = utility(self.l, self.l.fns.ObjGetAttrList, "NvSciSyncObjGetAttrList")?;
        nv("NvSciSyncObjGetAttrList", unsafe {
            f(self.raw, std::ptr::null_mut())
        })
    }

    /// NvSciSyncFenceUpdateFence (2.3+): `fence` (cleared first by the library) now
    /// waits for `value` on primitive `id` of this object. `fence: None` passes NULL.
    pub fn update_fence(
        &self,
        id: u64,
        value: u64,
        fence: Option<&mut Fence>,
    ) -> Result<(), OpError> {
        let f = self.l.fns.FenceUpdateFence.ok_or_else(|| {
            OpError::NotSupported(format!(
                "NvSciSync {} has no NvSciSyncFenceUpdateFence (declared from 2.3)",
                self.l.version
            ))
        })?;
        let p = fence.map_or(std::ptr::null_mut(), |f| &mut f.raw as *mut RawFence);
        nv("NvSciSyncFenceUpdateFence", unsafe {
            f(self.raw, id, value, p)
        })
    }

    pub fn signal(&self) -> Result<(), OpError> {
        nv("NvSciSyncObjSignal", unsafe {
            (self.l.fns.ObjSignal)(self.raw)
        })
    }

    pub fn generate_fence(&self) -> Result<Fence, OpError> {
        let mut f = Fence::cleared(self.l);
        nv("NvSciSyncObjGenerateFence", unsafe {
            (self.l.fns.ObjGenerateFence)(self.raw, &mut f.raw)
        })?;
        Ok(f)
    }
}

impl Drop for Obj {
    fn drop(&mut self) {
        unsafe { (self.l.fns.ObjFree)(self.raw) }
    }
}

pub struct CpuWaitContext {
    l: &'static Lib,
    raw: ffi::CpuWaitContext,
}

impl Drop for CpuWaitContext {
    fn drop(&mut self) {
        unsafe { (self.l.fns.CpuWaitContextFree)(self.raw) }
    }
}

/// An NvSciSyncFence the application owns; cleared (reference released) on drop.
pub struct Fence {
    l: &'static Lib,
    pub raw: RawFence,
}

impl Fence {
    pub fn cleared(l: &'static Lib) -> Fence {
        Fence {
            l,
            raw: RawFence::default(),
        }
    }

    pub fn is_cleared(&self) -> bool {
        self.raw == RawFence::default()
    }

    pub fn wait(&self, ctx: &CpuWaitContext, timeout_us: i64) -> Result<(), OpError> {
        nv("NvSciSyncFenceWait", unsafe {
            (self.l.fns.FenceWait)(&self.raw, ctx.raw, timeout_us)
        })
    }

    pub fn try_dup(&self) -> Result<Fence, OpError> {
        let mut f = Fence::cleared(self.l);
        nv("NvSciSyncFenceDup", unsafe {
            (self.l.fns.FenceDup)(&self.raw, &mut f.raw)
        })?;
        Ok(f)
    }

    pub fn clear(&mut self) {
        unsafe { (self.l.fns.FenceClear)(&mut self.raw) }
    }

    /// NvSciSyncFenceExtractFence (2.3+): the primitive id and value the fence waits for.
    pub fn extract(&self) -> Result<(u64, u64), OpError> {
        let f = self.l.fns.FenceExtractFence.ok_or_else(|| {
            OpError::NotSupported(format!(
                "NvSciSync {} has no NvSciSyncFenceExtractFence (declared from 2.3)",
                self.l.version
            ))
        })?;
        let (mut id, mut value) = (0, 0);
        nv("NvSciSyncFenceExtractFence", unsafe {
            f(&self.raw, &mut id, &mut value)
        })?;
        Ok((id, value))
    }
}

impl Drop for Fence {
    fn drop(&mut self) {
        self.clear()
    }
}

/// Undefined behaviour on purpose (a `ub` row): frees a reconciled list, then allocates
/// an object from the freed handle. Only ever run in an isolation child.
pub fn ub_alloc_from_freed_list(list: AttrList) -> Result<(), OpError> {
    let (l, raw) = (list.l, list.raw);
    drop(list);
    let mut out = std::ptr::null_mut();
    nv("NvSciSyncObjAlloc", unsafe {
        (l.fns.ObjAlloc)(raw, &mut out)
    })
}

/// Undefined behaviour on purpose (a `ub` row): frees the object now but keeps the
/// handle usable by the caller, as an application that frees it too early would.
pub fn ub_free_now(obj: Obj) -> std::mem::ManuallyDrop<Obj> {
    unsafe { (obj.l.fns.ObjFree)(obj.raw) };
    std::mem::ManuallyDrop::new(obj)
}
