//! `libnvscisync.so.1` entry points, resolved at run time. Types and values come from
//! `nvsci-abi`; only what the suite calls is bound. Everything in [`Fns`] but the
//! `Option`s is declared by the 2.0 header; the `Option`s are bound only when the library's
//! version declares them (`nvsci_abi::FUNCTIONS`) or, for the 2.0 utility functions,
//! when the library has them.
#![allow(non_snake_case)]

use nvsci_abi::{Fence, KeyValuePair, NvSciError};
use std::ffi::{c_char, c_void};

pub type Module = *mut c_void;
pub type AttrList = *mut c_void;
pub type Obj = *mut c_void;
pub type CpuWaitContext = *mut c_void;

pub type CheckVersionFn = unsafe extern "C" fn(u32, u32, *mut bool) -> NvSciError;

pub struct Fns {
    pub ModuleOpen: unsafe extern "C" fn(*mut Module) -> NvSciError,
    pub ModuleClose: unsafe extern "C" fn(Module),
    pub AttrListCreate: unsafe extern "C" fn(Module, *mut AttrList) -> NvSciError,
    pub AttrListFree: unsafe extern "C" fn(AttrList),
    pub AttrListSetAttrs: unsafe extern "C" fn(AttrList, *const KeyValuePair, usize) -> NvSciError,
    pub AttrListGetAttrs: unsafe extern "C" fn(AttrList, *mut KeyValuePair, usize) -> NvSciError,
    pub AttrListReconcile:
        unsafe extern "C" fn(*const AttrList, usize, *mut AttrList, *mut AttrList) -> NvSciError,
    pub AttrListValidateReconciled:
        unsafe extern "C" fn(AttrList, *const AttrList, usize, *mut bool) -> NvSciError,
    pub AttrListClone: unsafe extern "C" fn(AttrList, *mut AttrList) -> NvSciError,
    pub ObjAlloc: unsafe extern "C" fn(AttrList, *mut Obj) -> NvSciError,
    pub ObjDup: unsafe extern "C" fn(Obj, *mut Obj) -> NvSciError,
    pub ObjFree: unsafe extern "C" fn(Obj),
    pub ObjSignal: unsafe extern "C" fn(Obj) -> NvSciError,
    pub ObjGenerateFence: unsafe extern "C" fn(Obj, *mut Fence) -> NvSciError,
    pub CpuWaitContextAlloc: unsafe extern "C" fn(Module, *mut CpuWaitContext) -> NvSciError,
    pub CpuWaitContextFree: unsafe extern "C" fn(CpuWaitContext),
    pub FenceWait: unsafe extern "C" fn(*const Fence, CpuWaitContext, i64) -> NvSciError,
    pub FenceClear: unsafe extern "C" fn(*mut Fence),
    pub FenceDup: unsafe extern "C" fn(*const Fence, *mut Fence) -> NvSciError,
    /// 2.3+.
    pub FenceExtractFence:
        Option<unsafe extern "C" fn(*const Fence, *mut u64, *mut u64) -> NvSciError>,
    /// 2.3+.
    pub FenceUpdateFence: Option<unsafe extern "C" fn(Obj, u64, u64, *mut Fence) -> NvSciError>,
    // Declared by the 2.0 header but bound only if present, so that a library lacking one
    // loses the rows that use it (not-supported) rather than every NvSciSync row.
    pub AttrListGetAttr:
        Option<unsafe extern "C" fn(AttrList, i32, *mut *const c_void, *mut usize) -> NvSciError>,
    pub AttrListSlotGetAttrs:
        Option<unsafe extern "C" fn(AttrList, usize, *mut KeyValuePair, usize) -> NvSciError>,
    pub ObjGetAttrList: Option<unsafe extern "C" fn(Obj, *mut AttrList) -> NvSciError>,
    pub AttrListReconcileAndObjAlloc:
        Option<unsafe extern "C" fn(*const AttrList, usize, *mut Obj, *mut AttrList) -> NvSciError>,
    /// Only the hil reference model has it.
    pub model_info: Option<unsafe extern "C" fn() -> *const c_char>,
    /// The export/import calls (every 2.x header declares them); `Err` names the first
    /// one the library lacks, and only the cross-process rows are not-supported for it.
    pub ipc: Result<SyncIpcFns, String>,
}

pub type Endpoint = nvsci_abi::ipc::Endpoint;
type ObjDesc = nvsci_abi::ipc::ObjIpcExportDescriptor;
type FenceDesc = nvsci_abi::ipc::FenceIpcExportDescriptor;

/// NvSciSync's export/import calls (`nvsci_abi::ipc::SYNC_FUNCTIONS`), as the cross-process
/// rows use them.
pub struct SyncIpcFns {
    pub AttrListIpcExportUnreconciled: unsafe extern "C" fn(
        *const AttrList,
        usize,
        Endpoint,
        *mut *mut c_void,
        *mut usize,
    ) -> NvSciError,
    pub AttrListIpcExportReconciled:
        unsafe extern "C" fn(AttrList, Endpoint, *mut *mut c_void, *mut usize) -> NvSciError,
    pub AttrListIpcImportUnreconciled:
        unsafe extern "C" fn(Module, Endpoint, *const c_void, usize, *mut AttrList) -> NvSciError,
    pub AttrListIpcImportReconciled: unsafe extern "C" fn(
        Module,
        Endpoint,
        *const c_void,
        usize,
        *const AttrList,
        usize,
        *mut AttrList,
    ) -> NvSciError,
    pub AttrListFreeDesc: unsafe extern "C" fn(*mut c_void),
    pub ObjIpcExport: unsafe extern "C" fn(Obj, u64, Endpoint, *mut ObjDesc) -> NvSciError,
    pub ObjIpcImport:
        unsafe extern "C" fn(Endpoint, *const ObjDesc, AttrList, u64, i64, *mut Obj) -> NvSciError,
    pub IpcExportFence: unsafe extern "C" fn(*const Fence, Endpoint, *mut FenceDesc) -> NvSciError,
    pub IpcImportFence: unsafe extern "C" fn(Obj, *const FenceDesc, *mut Fence) -> NvSciError,
}

/// `libnvsciipc.so.1` (`nvsci_abi::ipc::IPC_FUNCTIONS`): what moves descriptors between
/// processes. `NvSciIpcDeinit` is not bound: it closes every endpoint of the process, and
/// cases in this process use endpoints at the same time.
pub struct IpcFns {
    pub Init: unsafe extern "C" fn() -> NvSciError,
    pub OpenEndpoint: unsafe extern "C" fn(*const c_char, *mut Endpoint) -> NvSciError,
    pub CloseEndpoint: unsafe extern "C" fn(Endpoint),
    pub ResetEndpoint: unsafe extern "C" fn(Endpoint),
    pub GetEndpointInfo:
        unsafe extern "C" fn(Endpoint, *mut nvsci_abi::ipc::EndpointInfo) -> NvSciError,
    pub GetEvent: unsafe extern "C" fn(Endpoint, *mut u32) -> NvSciError,
    pub Read: unsafe extern "C" fn(Endpoint, *mut c_void, usize, *mut i32) -> NvSciError,
    pub Write: unsafe extern "C" fn(Endpoint, *const c_void, usize, *mut i32) -> NvSciError,
}

/// Resolves the NvSciIpc calls, naming the first one missing.
///
/// # Safety
/// `lib` must be an NvSciIpc library (or one exporting its calls with their signatures).
pub unsafe fn load_ipc(lib: &libloading::Library, shown: &str) -> Result<IpcFns, String> {
    macro_rules! sym {
        ($name:literal) => {
            *lib.get(concat!($name, "\0").as_bytes())
                .map_err(|e| format!("{shown} lacks {}: {e}", $name))?
        };
    }
    Ok(IpcFns {
        Init: sym!("NvSciIpcInit"),
        OpenEndpoint: sym!("NvSciIpcOpenEndpoint"),
        CloseEndpoint: sym!("NvSciIpcCloseEndpoint"),
        ResetEndpoint: sym!("NvSciIpcResetEndpoint"),
        GetEndpointInfo: sym!("NvSciIpcGetEndpointInfo"),
        GetEvent: sym!("NvSciIpcGetEvent"),
        Read: sym!("NvSciIpcRead"),
        Write: sym!("NvSciIpcWrite"),
    })
}

/// The export/import calls of an NvSciSync 2.x library, naming the first one missing.
unsafe fn load_sync_ipc(lib: &libloading::Library) -> Result<SyncIpcFns, String> {
    macro_rules! sym {
        ($name:literal) => {
            *lib.get(concat!($name, "\0").as_bytes()).map_err(|_| {
                format!(
                    "this NvSciSync library lacks {}, which every 2.x header declares",
                    $name
                )
            })?
        };
    }
    Ok(SyncIpcFns {
        AttrListIpcExportUnreconciled: sym!("NvSciSyncAttrListIpcExportUnreconciled"),
        AttrListIpcExportReconciled: sym!("NvSciSyncAttrListIpcExportReconciled"),
        AttrListIpcImportUnreconciled: sym!("NvSciSyncAttrListIpcImportUnreconciled"),
        AttrListIpcImportReconciled: sym!("NvSciSyncAttrListIpcImportReconciled"),
        AttrListFreeDesc: sym!("NvSciSyncAttrListFreeDesc"),
        ObjIpcExport: sym!("NvSciSyncObjIpcExport"),
        ObjIpcImport: sym!("NvSciSyncObjIpcImport"),
        IpcExportFence: sym!("NvSciSyncIpcExportFence"),
        IpcImportFence: sym!("NvSciSyncIpcImportFence"),
    })
}

/// `NvSciSyncCheckVersionCompatibility`, which every 2.x header declares and 1.0 lacks.
///
/// # Safety
/// `lib` must be a library whose symbol of that name has the 2.x signature.
pub unsafe fn check_version(lib: &libloading::Library) -> Option<CheckVersionFn> {
    lib.get::<CheckVersionFn>(b"NvSciSyncCheckVersionCompatibility\0")
        .ok()
        .map(|s| *s)
}

/// Whether the library has a symbol (to tell NvSciSync 1.x from something else).
pub fn has(lib: &libloading::Library, name: &[u8]) -> bool {
    unsafe { lib.get::<*const c_void>(name) }.is_ok()
}

/// Resolves every symbol of NvSciSync 2.`minor` the suite uses, naming the first one missing.
///
/// # Safety
/// `lib` must be an NvSciSync 2.x library whose version check answered for 2.`minor`.
pub unsafe fn load(lib: &libloading::Library, minor: u32) -> Result<Fns, String> {
    macro_rules! sym {
        ($name:literal) => {
            *lib.get(concat!($name, "\0").as_bytes())
                .map_err(|e| format!("{} lacks {}: {e}", "libnvscisync.so.1", $name))?
        };
    }
    let since = |name: &str| nvsci_abi::feature(name).map_or(u32::MAX, |f| f.since_minor);
    Ok(Fns {
        ModuleOpen: sym!("NvSciSyncModuleOpen"),
        ModuleClose: sym!("NvSciSyncModuleClose"),
        AttrListCreate: sym!("NvSciSyncAttrListCreate"),
        AttrListFree: sym!("NvSciSyncAttrListFree"),
        AttrListSetAttrs: sym!("NvSciSyncAttrListSetAttrs"),
        AttrListGetAttrs: sym!("NvSciSyncAttrListGetAttrs"),
        AttrListReconcile: sym!("NvSciSyncAttrListReconcile"),
        AttrListValidateReconciled: sym!("NvSciSyncAttrListValidateReconciled"),
        AttrListClone: sym!("NvSciSyncAttrListClone"),
        ObjAlloc: sym!("NvSciSyncObjAlloc"),
        ObjDup: sym!("NvSciSyncObjDup"),
        ObjFree: sym!("NvSciSyncObjFree"),
        ObjSignal: sym!("NvSciSyncObjSignal"),
        ObjGenerateFence: sym!("NvSciSyncObjGenerateFence"),
        CpuWaitContextAlloc: sym!("NvSciSyncCpuWaitContextAlloc"),
        CpuWaitContextFree: sym!("NvSciSyncCpuWaitContextFree"),
        FenceWait: sym!("NvSciSyncFenceWait"),
        FenceClear: sym!("NvSciSyncFenceClear"),
        FenceDup: sym!("NvSciSyncFenceDup"),
        FenceExtractFence: if minor >= since("NvSciSyncFenceExtractFence") {
            Some(sym!("NvSciSyncFenceExtractFence"))
        } else {
            None
        },
        FenceUpdateFence: if minor >= since("NvSciSyncFenceUpdateFence") {
            Some(sym!("NvSciSyncFenceUpdateFence"))
        } else {
            None
        },
        AttrListGetAttr: lib.get(b"NvSciSyncAttrListGetAttr\0").ok().map(|s| *s),
        AttrListSlotGetAttrs: lib.get(b"NvSciSyncAttrListSlotGetAttrs\0").ok().map(|s| *s),
        ObjGetAttrList: lib.get(b"NvSciSyncObjGetAttrList\0").ok().map(|s| *s),
        AttrListReconcileAndObjAlloc: lib
            .get(b"NvSciSyncAttrListReconcileAndObjAlloc\0")
            .ok()
            .map(|s| *s),
        model_info: lib.get(nvsci_abi::MODEL_MARKER_SYMBOL).ok().map(|s| *s),
        ipc: load_sync_ipc(lib),
    })
}
