//! Raw driver-API pieces cudarc does not bind for us, resolved from the libcuda that
//! cudarc already loaded. Layouts follow cuda.h (CUDA 13.0); sizes are asserted below
//! against what we measured on driver 580 (96 / 144 / 144 bytes).
#![allow(non_camel_case_types)]

use std::ffi::c_void;

pub type CUresult = i32;
pub type CUexternalSemaphore = *mut c_void;
pub type CUstream = *mut c_void;

pub const HANDLE_TYPE_OPAQUE_FD: u32 = 1;
pub const HANDLE_TYPE_NVSCISYNC: u32 = 6;
pub const HANDLE_TYPE_TIMELINE_SEMAPHORE_FD: u32 = 9;

/// CUDA_EXTERNAL_SEMAPHORE_HANDLE_DESC. `handle` is the union of fd / win32 pair / NvSciSyncObj.
#[repr(C)]
pub struct SemHandleDesc {
    pub ty: u32,
    pub _pad: u32,
    pub handle: [u64; 2],
    pub flags: u32,
    pub reserved: [u32; 16],
}

/// CUDA_EXTERNAL_SEMAPHORE_SIGNAL_PARAMS: fence.value, nvSciSync.fence (a pointer), keyedMutex.key.
#[repr(C)]
pub struct SignalParams {
    pub value: u64,
    pub nvsci_fence: u64,
    pub key: u64,
    pub reserved: [u32; 12],
    pub flags: u32,
    pub reserved2: [u32; 16],
}

/// CUDA_EXTERNAL_SEMAPHORE_WAIT_PARAMS: fence.value, nvSciSync.fence, keyedMutex {key, timeoutMs}.
#[repr(C)]
pub struct WaitParams {
    pub value: u64,
    pub nvsci_fence: u64,
    pub key: u64,
    pub timeout_ms: u32,
    pub _pad: u32,
    pub reserved: [u32; 10],
    pub flags: u32,
    pub reserved2: [u32; 16],
}

const _: () = assert!(std::mem::size_of::<SemHandleDesc>() == 96);
const _: () = assert!(std::mem::size_of::<SignalParams>() == 144);
const _: () = assert!(std::mem::size_of::<WaitParams>() == 144);

pub type ImportFn =
    unsafe extern "C" fn(*mut CUexternalSemaphore, *const SemHandleDesc) -> CUresult;
pub type SignalFn = unsafe extern "C" fn(
    *const CUexternalSemaphore,
    *const SignalParams,
    u32,
    CUstream,
) -> CUresult;
pub type WaitFn =
    unsafe extern "C" fn(*const CUexternalSemaphore, *const WaitParams, u32, CUstream) -> CUresult;
pub type DestroyFn = unsafe extern "C" fn(CUexternalSemaphore) -> CUresult;
/// cuDeviceGetNvSciSyncAttributes(void *nvSciSyncAttrList, CUdevice dev, int flags).
pub type NvSciAttrsFn = unsafe extern "C" fn(*mut c_void, i32, i32) -> CUresult;

pub struct ExtSemFns {
    pub import: ImportFn,
    pub signal: SignalFn,
    pub wait: WaitFn,
    pub destroy: DestroyFn,
}

/// Looks a symbol up in the loaded libcuda.
///
/// # Safety
/// `T` must be the symbol's true C signature, and libcuda must be present
/// (`cudarc::driver::sys::is_culib_present`), or cudarc panics.
pub unsafe fn symbol<T: Copy>(name: &[u8]) -> Option<T> {
    cudarc::driver::sys::culib().get::<T>(name).ok().map(|s| *s)
}

/// # Safety
/// libcuda must be present.
pub unsafe fn ext_sem_fns() -> Option<ExtSemFns> {
    Some(ExtSemFns {
        import: symbol(b"cuImportExternalSemaphore\0")?,
        signal: symbol(b"cuSignalExternalSemaphoresAsync\0")?,
        wait: symbol(b"cuWaitExternalSemaphoresAsync\0")?,
        destroy: symbol(b"cuDestroyExternalSemaphore\0")?,
    })
}
