//! Raw CUDA runtime API pieces, resolved by name from whichever libcudart was found.
//!
//! Layouts and entry points come from NVIDIA's `driver_types.h` / `cuda_runtime_api.h`
//! as shipped in the CUDA runtime packages 11.8.89, 12.9.79 and 13.0.96, checked against
//! the symbols each `libcudart.so.*` exports (`nm -D`), and CUPTI's
//! `generated_cuda_runtime_api_meta.h`, which dates `cudaSignalExternalSemaphoresAsync_v2`
//! to 11.2 (`..._v2_ptsz_v11020_params`):
//!
//! | runtime       | `cudaSignal/WaitExternalSemaphoresAsync` takes | `_v2` symbol takes |
//! |---------------|------------------------------------------------|--------------------|
//! | 10.0 – 11.1   | `..._v1` params (no reserved words)            | absent             |
//! | 11.2 – 12.x   | `..._v1` params (kept for old binaries)        | current params     |
//! | 13.0          | current params (the header macro now maps the plain name to itself) | absent |
//!
//! The `_ptsz` variants (per-thread default stream) are not used: every call here names
//! an explicit non-blocking stream, where the default-stream semantics do not apply.
#![allow(non_camel_case_types)]

use std::ffi::c_void;

pub type cudaError_t = i32;
pub type cudaStream_t = *mut c_void;
pub type cudaExternalSemaphore_t = *mut c_void;

/// cudaStreamNonBlocking (driver_types.h): no implicit sync with the legacy NULL stream.
pub const STREAM_NON_BLOCKING: u32 = 0x01;

/// cudaExternalSemaphoreHandleType (driver_types.h): the driver's numbers.
pub use crate::cuda::ffi::{
    HANDLE_TYPE_NVSCISYNC, HANDLE_TYPE_OPAQUE_FD, HANDLE_TYPE_TIMELINE_SEMAPHORE_FD,
};

/// cudaNvSciSyncAttrSignal / cudaNvSciSyncAttrWait (driver_types.h).
pub const NVSCISYNC_ATTR_SIGNAL: i32 = 0x1;
pub const NVSCISYNC_ATTR_WAIT: i32 = 0x2;

/// cudaExternalSemaphoreHandleDesc, cudaExternalSemaphoreSignalParams and WaitParams (the
/// 11.2+ `_v2` entry points and 13.0's plain ones) have the driver structs' fields and
/// layout (CUDA 13.0 driver_types.h vs cuda.h): type, the handle union, flags,
/// reserved[16]; params {fence.value, nvSciSync.fence, keyedMutex}, flags, reserved[16].
/// Runtimes 10.0–12.x declare the handle descriptor without `reserved` (32 bytes) and read
/// only those fields, so the longer, zero-tailed struct is right for every version.
pub use crate::cuda::ffi::{SemHandleDesc, SignalParams, WaitParams};

/// cudaExternalSemaphoreSignalParams_v1: what the plain entry point of runtimes before
/// 13.0 reads. It has `flags`, but no reserved words, so `flags` sits at offset 24.
#[repr(C)]
pub struct SignalParamsV1 {
    pub value: u64,
    pub nvsci_fence: u64,
    pub key: u64,
    pub flags: u32,
    pub _pad: u32,
}

/// cudaExternalSemaphoreWaitParams_v1: params {value, nvSciSync.fence, keyedMutex
/// {key, timeoutMs}}, flags.
#[repr(C)]
pub struct WaitParamsV1 {
    pub value: u64,
    pub nvsci_fence: u64,
    pub key: u64,
    pub timeout_ms: u32,
    pub _pad: u32,
    pub flags: u32,
    pub _pad2: u32,
}

const _: () = assert!(std::mem::size_of::<SemHandleDesc>() == 96);
const _: () = assert!(std::mem::size_of::<SignalParams>() == 144);
const _: () = assert!(std::mem::size_of::<WaitParams>() == 144);
const _: () = assert!(std::mem::size_of::<SignalParamsV1>() == 32);
const _: () = assert!(std::mem::size_of::<WaitParamsV1>() == 40);
const _: () = assert!(std::mem::offset_of!(SignalParams, flags) == 72);
const _: () = assert!(std::mem::offset_of!(WaitParams, flags) == 72);
const _: () = assert!(std::mem::offset_of!(SignalParamsV1, flags) == 24);
const _: () = assert!(std::mem::offset_of!(WaitParamsV1, flags) == 32);

pub type GetIntFn = unsafe extern "C" fn(*mut i32) -> cudaError_t;
pub type SetDeviceFn = unsafe extern "C" fn(i32) -> cudaError_t;
pub type NoArgFn = unsafe extern "C" fn() -> cudaError_t;
pub type StreamCreateFn = unsafe extern "C" fn(*mut cudaStream_t, u32) -> cudaError_t;
pub type StreamFn = unsafe extern "C" fn(cudaStream_t) -> cudaError_t;
pub type ImportFn =
    unsafe extern "C" fn(*mut cudaExternalSemaphore_t, *const SemHandleDesc) -> cudaError_t;
pub type DestroyFn = unsafe extern "C" fn(cudaExternalSemaphore_t) -> cudaError_t;
/// Signal and wait share one shape; the params pointer is `SignalParams`/`WaitParams`
/// or their `_v1` forms depending on [`ParamsAbi`].
pub type SemOpFn = unsafe extern "C" fn(
    *const cudaExternalSemaphore_t,
    *const c_void,
    u32,
    cudaStream_t,
) -> cudaError_t;
/// cudaDeviceGetNvSciSyncAttributes(void *nvSciSyncAttrList, int device, int flags).
pub type NvSciAttrsFn = unsafe extern "C" fn(*mut c_void, i32, i32) -> cudaError_t;

/// Which params struct the resolved signal/wait entry points read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamsAbi {
    /// `cudaExternalSemaphoreSignalParams_v1` / `WaitParams_v1` (plain names before 13.0).
    V1,
    /// The current structs with reserved words (`_v2` names, or plain names from 13.0).
    Current,
}

pub struct Fns {
    pub runtime_get_version: GetIntFn,
    pub driver_get_version: GetIntFn,
    pub get_device_count: GetIntFn,
    pub set_device: SetDeviceFn,
    pub get_last_error: NoArgFn,
    pub peek_at_last_error: NoArgFn,
    pub device_synchronize: NoArgFn,
    pub stream_create_with_flags: StreamCreateFn,
    pub stream_synchronize: StreamFn,
    pub stream_destroy: StreamFn,
    pub import_semaphore: ImportFn,
    pub destroy_semaphore: DestroyFn,
    pub signal: SemOpFn,
    pub wait: SemOpFn,
    /// The exported names bound to `signal` and `wait`, for reports.
    pub signal_symbol: &'static str,
    pub wait_symbol: &'static str,
    /// Absent from a runtime is not fatal: only NvSciSync cases need it.
    pub nvsci_attributes: Option<NvSciAttrsFn>,
}

/// Looks `name` up; `None` when the library does not export it.
///
/// # Safety
/// `T` must be the symbol's true C signature.
unsafe fn get<T: Copy>(lib: &libloading::Library, name: &str) -> Option<T> {
    let mut z = Vec::with_capacity(name.len() + 1);
    z.extend_from_slice(name.as_bytes());
    z.push(0);
    lib.get::<T>(&z).ok().map(|s| *s)
}

/// Resolves every entry point the bindings use, naming the first one missing.
///
/// # Safety
/// `lib` must stay loaded while the returned pointers are used, and each name must have
/// the C signature given above (true for every libcudart from 10.0 on).
pub unsafe fn load(lib: &libloading::Library) -> Result<Fns, String> {
    let need = |name: &'static str| format!("lacks {name} (not a CUDA runtime library?)");
    macro_rules! sym {
        ($name:literal) => {
            get(lib, $name).ok_or_else(|| need($name))?
        };
    }
    let runtime_get_version: GetIntFn = sym!("cudaRuntimeGetVersion");
    // The one place where the symbol name changes across versions (see the module doc).
    let (signal, signal_symbol, wait, wait_symbol) = match (
        get::<SemOpFn>(lib, "cudaSignalExternalSemaphoresAsync_v2"),
        get::<SemOpFn>(lib, "cudaWaitExternalSemaphoresAsync_v2"),
    ) {
        (Some(s), Some(w)) => (
            s,
            "cudaSignalExternalSemaphoresAsync_v2",
            w,
            "cudaWaitExternalSemaphoresAsync_v2",
        ),
        _ => (
            sym!("cudaSignalExternalSemaphoresAsync"),
            "cudaSignalExternalSemaphoresAsync",
            sym!("cudaWaitExternalSemaphoresAsync"),
            "cudaWaitExternalSemaphoresAsync",
        ),
    };
    Ok(Fns {
        runtime_get_version,
        driver_get_version: sym!("cudaDriverGetVersion"),
        get_device_count: sym!("cudaGetDeviceCount"),
        set_device: sym!("cudaSetDevice"),
        get_last_error: sym!("cudaGetLastError"),
        peek_at_last_error: sym!("cudaPeekAtLastError"),
        device_synchronize: sym!("cudaDeviceSynchronize"),
        stream_create_with_flags: sym!("cudaStreamCreateWithFlags"),
        stream_synchronize: sym!("cudaStreamSynchronize"),
        stream_destroy: sym!("cudaStreamDestroy"),
        import_semaphore: sym!("cudaImportExternalSemaphore"),
        destroy_semaphore: sym!("cudaDestroyExternalSemaphore"),
        signal,
        wait,
        signal_symbol,
        wait_symbol,
        nvsci_attributes: get(lib, "cudaDeviceGetNvSciSyncAttributes"),
    })
}

/// The params layout the resolved entry points read: `_v2` names always take the
/// current structs; plain names take them from 13.0 on and the `_v1` forms before.
pub fn params_abi(signal_symbol: &str, runtime_version: i32) -> ParamsAbi {
    if signal_symbol.ends_with("_v2") || runtime_version >= 13000 {
        ParamsAbi::Current
    } else {
        ParamsAbi::V1
    }
}
