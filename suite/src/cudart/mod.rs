//! Safe layer over the CUDA runtime API (`libcudart`), loaded at run time so the binary
//! starts anywhere: a board without it gets not-supported with every path that was tried.
//! Every handle is owned and released on drop; every failure is an `OpError::Api` with
//! `Api::Cudart` and the raw cudaError_t, compared with table expectations.
//!
//! The runtime's current device is per thread (`cudaSetDevice`): call [`set_device`] on
//! the thread that then creates streams and imports semaphores.

pub mod ffi;

use crate::error::{suffix, Api, OpError};
use std::ffi::{c_void, OsStr};
use std::path::Path;
use std::sync::OnceLock;

/// The descriptor is the driver binding's, so an op can hand the same one to either API.
pub use crate::cuda::ImportDesc;

/// Names a libcudart to use instead of searching (checked first; never falls back).
pub const ENV_VAR: &str = "HIL_CUDART";

/// Tried through the dynamic loader's own search path, newest first.
pub const SONAMES: [&str; 4] = [
    "libcudart.so.13",
    "libcudart.so.12",
    "libcudart.so.11.0",
    "libcudart.so",
];

/// Where CUDA toolkits put libcudart when it is not on the loader path: desktop
/// (lib64 is a link to targets/x86_64-linux/lib), Jetson/DRIVE (L4T: aarch64-linux)
/// and Arm servers (SBSA).
pub const DIRS: [&str; 4] = [
    "/usr/local/cuda/lib64",
    "/usr/local/cuda/targets/aarch64-linux/lib",
    "/usr/local/cuda/targets/sbsa-linux/lib",
    "/usr/local/cuda/targets/x86_64-linux/lib",
];

/// A loaded CUDA runtime library; lives for the whole process once probed.
pub struct Runtime {
    _lib: libloading::Library,
    fns: ffi::Fns,
    /// Which params struct the signal/wait entry points read.
    pub abi: ffi::ParamsAbi,
    /// The name it was found under (`libcudart.so.13`, or the file name of a path).
    pub soname: String,
    /// The file actually loaded, symbolic links resolved.
    pub path: String,
    /// cudaRuntimeGetVersion, e.g. 13000.
    pub version: i32,
    /// cudaDriverGetVersion: 0 when no driver is installed.
    pub driver_version: i32,
}

impl Runtime {
    /// e.g. `libcudart.so.13 13.0 (/usr/local/cuda-13.0/targets/x86_64-linux/lib/libcudart.so.13.0.96)`.
    pub fn implementation(&self) -> String {
        format!(
            "{} {} ({})",
            self.soname,
            crate::cuda::fmt_cuda_version(self.version),
            self.path
        )
    }

    /// The signal and wait entry points chosen for this version.
    pub fn semaphore_entry_points(&self) -> String {
        format!(
            "{}, {} ({:?} params)",
            self.fns.signal_symbol, self.fns.wait_symbol, self.abi
        )
    }

    /// cudaGetDeviceCount. Without a usable driver this is the runtime's error
    /// (35 cudaErrorInsufficientDriver, 100 cudaErrorNoDevice, ...).
    pub fn device_count(&self) -> Result<u32, OpError> {
        let mut n = 0;
        rt("cudaGetDeviceCount", unsafe {
            (self.fns.get_device_count)(&mut n)
        })?;
        Ok(n.max(0) as u32)
    }
}

fn rt(call: &str, code: ffi::cudaError_t) -> Result<(), OpError> {
    match code {
        0 => Ok(()),
        code => Err(OpError::cudart(call, code)),
    }
}

/// Probes once per process (`HIL_CUDART`, then [`SONAMES`], then [`DIRS`]).
/// `Err` is `NotSupported` with the reason, naming every path tried.
pub fn runtime() -> Result<&'static Runtime, OpError> {
    static RUNTIME: OnceLock<Result<Runtime, String>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            probe(
                crate::settings::get()
                    .cudart
                    .as_deref()
                    .map(|p| p.as_os_str()),
            )
        })
        .as_ref()
        .map_err(|reason| OpError::NotSupported(reason.clone()))
}

/// The search behind [`runtime`], uncached: `explicit` is the value of `HIL_CUDART`
/// (an empty value counts as unset). `Err` is the not-supported reason.
pub fn probe(explicit: Option<&OsStr>) -> Result<Runtime, String> {
    if let Some(p) = explicit.filter(|p| !p.is_empty()) {
        let path = Path::new(p);
        return open(p, file_name(path)).map_err(|e| {
            format!(
                "{ENV_VAR}={}: {e} (unset {ENV_VAR} to search the usual places)",
                path.display()
            )
        });
    }
    let mut tried = vec![format!("{ENV_VAR} unset")];
    for name in SONAMES {
        match open(OsStr::new(name), name.to_string()) {
            Ok(r) => return Ok(r),
            Err(e) => tried.push(format!("{name} via the loader path: {e}")),
        }
    }
    for dir in DIRS {
        let mut any = false;
        for name in SONAMES {
            let p = Path::new(dir).join(name);
            if !p.exists() {
                continue;
            }
            any = true;
            match open(p.as_os_str(), name.to_string()) {
                Ok(r) => return Ok(r),
                Err(e) => tried.push(format!("{}: {e}", p.display())),
            }
        }
        if !any {
            tried.push(format!("{dir}: no {} there", SONAMES.join("/")));
        }
    }
    Err(format!(
        "CUDA runtime library (libcudart) not found; tried: {}",
        tried.join("; ")
    ))
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| p.display().to_string())
}

/// Loads one candidate and checks it is a CUDA runtime that answers its version.
fn open(target: &OsStr, soname: String) -> Result<Runtime, String> {
    // SAFETY: loading runs the library's initialisers; libcudart's only set up its
    // own state. A non-CUDA library is rejected below before any call into it.
    let lib = unsafe { libloading::Library::new(target) }.map_err(|e| dl_reason(&e, target))?;
    // SAFETY: the names are the runtime's documented entry points (see ffi's table).
    let fns = unsafe { ffi::load(&lib) }?;
    let mut version = 0;
    // SAFETY: the signatures come from cuda_runtime_api.h; both only write an int.
    let r = unsafe { (fns.runtime_get_version)(&mut version) };
    if r != 0 {
        return Err(format!(
            "loaded, but cudaRuntimeGetVersion returned {r}{}",
            suffix(Api::Cudart, r.into())
        ));
    }
    let mut driver_version = 0;
    let r = unsafe { (fns.driver_get_version)(&mut driver_version) };
    if r != 0 {
        return Err(format!(
            "loaded, but cudaDriverGetVersion returned {r}{}",
            suffix(Api::Cudart, r.into())
        ));
    }
    let path = loaded_path(fns.runtime_get_version as *const c_void)
        .unwrap_or_else(|| target.to_string_lossy().into_owned());
    Ok(Runtime {
        abi: ffi::params_abi(fns.signal_symbol, version),
        _lib: lib,
        fns,
        soname,
        path,
        version,
        driver_version,
    })
}

/// dlerror's text without the leading `path: ` the caller already names.
fn dl_reason(e: &libloading::Error, target: &OsStr) -> String {
    let text = e.to_string();
    let prefix = format!("{}: ", target.to_string_lossy());
    text.strip_prefix(&prefix).unwrap_or(&text).to_string()
}

/// The file the loader mapped `addr` from, symbolic links resolved, so reports name
/// the exact library (e.g. libcudart.so.13.0.96).
fn loaded_path(addr: *const c_void) -> Option<String> {
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    // SAFETY: dladdr only reads the loader's tables and fills `info`.
    if unsafe { libc::dladdr(addr, &mut info) } == 0 || info.dli_fname.is_null() {
        return None;
    }
    let name = unsafe { std::ffi::CStr::from_ptr(info.dli_fname) }
        .to_string_lossy()
        .into_owned();
    Some(
        std::fs::canonicalize(&name)
            .map(|p| p.display().to_string())
            .unwrap_or(name),
    )
}

/// cudaSetDevice: makes `dev` this thread's current device (101 cudaErrorInvalidDevice
/// for a device that does not exist).
pub fn set_device(dev: u32) -> Result<(), OpError> {
    let r = runtime()?;
    rt("cudaSetDevice", unsafe {
        (r.fns.set_device)(crate::cuda::local_ordinal(dev))
    })
}

/// cudaGetLastError: the last error of this thread's runtime calls, which it resets
/// (sticky errors stay). `Err` only when no runtime is loaded.
pub fn last_error() -> Result<i32, OpError> {
    let r = runtime()?;
    Ok(unsafe { (r.fns.get_last_error)() })
}

/// cudaPeekAtLastError: as [`last_error`] without resetting it.
pub fn peek_last_error() -> Result<i32, OpError> {
    let r = runtime()?;
    Ok(unsafe { (r.fns.peek_at_last_error)() })
}

/// cudaDeviceSynchronize on this thread's current device.
pub fn device_synchronize() -> Result<(), OpError> {
    let r = runtime()?;
    rt("cudaDeviceSynchronize", unsafe {
        (r.fns.device_synchronize)()
    })
}

/// cudaDeviceGetNvSciSyncAttributes(list, dev, flags); returns the raw code (0 is
/// success), so tables can expect errors. `Err` only when the runtime or the entry
/// point is missing.
///
/// # Safety
/// `list` must be NULL or an NvSciSyncAttrList handle that stays alive for the call
/// (the runtime writes attributes into it).
pub unsafe fn nvsci_attributes(list: *mut c_void, dev: u32, flags: i32) -> Result<i32, OpError> {
    let r = runtime()?;
    let f = r.fns.nvsci_attributes.ok_or_else(|| {
        OpError::NotSupported(format!(
            "{} has no cudaDeviceGetNvSciSyncAttributes",
            r.implementation()
        ))
    })?;
    Ok(unsafe { f(list, crate::cuda::local_ordinal(dev), flags) })
}

/// A non-blocking stream (cudaStreamNonBlocking) on the device current at creation;
/// destroyed on drop.
pub struct Stream {
    r: &'static Runtime,
    pub raw: ffi::cudaStream_t,
}

impl Stream {
    pub fn new() -> Result<Stream, OpError> {
        let r = runtime()?;
        let mut raw = std::ptr::null_mut();
        rt("cudaStreamCreateWithFlags", unsafe {
            (r.fns.stream_create_with_flags)(&mut raw, ffi::STREAM_NON_BLOCKING)
        })?;
        Ok(Stream { r, raw })
    }

    pub fn synchronize(&self) -> Result<(), OpError> {
        rt("cudaStreamSynchronize", unsafe {
            (self.r.fns.stream_synchronize)(self.raw)
        })
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        unsafe {
            (self.r.fns.stream_destroy)(self.raw);
        }
    }
}

/// An external semaphore imported through the runtime; destroyed on drop.
pub struct ExternalSemaphore {
    r: &'static Runtime,
    raw: ffi::cudaExternalSemaphore_t,
}

impl ExternalSemaphore {
    /// cudaImportExternalSemaphore on this thread's current device, with the descriptor
    /// exactly as given (so malformed ones can be tested). On success CUDA owns an fd.
    pub fn import(desc: ImportDesc) -> Result<ExternalSemaphore, OpError> {
        let r = runtime()?;
        let d = desc.raw();
        let mut raw = std::ptr::null_mut();
        rt("cudaImportExternalSemaphore", unsafe {
            (r.fns.import_semaphore)(&mut raw, &d)
        })?;
        Ok(ExternalSemaphore { r, raw })
    }

    /// Enqueues a signal of `value` (ignored for binary semaphores).
    pub fn signal(&self, stream: &Stream, value: u64) -> Result<(), OpError> {
        self.signal_raw(stream, value, 0)
    }

    /// Enqueues a wait for `value` (ignored for binary semaphores).
    pub fn wait(&self, stream: &Stream, value: u64) -> Result<(), OpError> {
        self.wait_raw(stream, value, 0)
    }

    /// Enqueues a signal of an imported NvSciSync object; CUDA fills `fence`, which
    /// must stay valid until this returns.
    pub fn signal_nvsci(
        &self,
        stream: &Stream,
        fence: *mut nvsci_abi::Fence,
    ) -> Result<(), OpError> {
        self.signal_raw(stream, 0, fence as u64)
    }

    /// Enqueues a wait on `fence` of an imported NvSciSync object.
    pub fn wait_nvsci(&self, stream: &Stream, fence: *mut nvsci_abi::Fence) -> Result<(), OpError> {
        self.wait_raw(stream, 0, fence as u64)
    }

    fn signal_raw(&self, stream: &Stream, value: u64, nvsci_fence: u64) -> Result<(), OpError> {
        let f = self.r.fns.signal;
        let call = |p: *const c_void| unsafe { f(&self.raw, p, 1, stream.raw) };
        let code = match self.r.abi {
            ffi::ParamsAbi::Current => call(&ffi::SignalParams {
                value,
                nvsci_fence,
                key: 0,
                reserved: [0; 12],
                flags: 0,
                reserved2: [0; 16],
            } as *const _ as *const c_void),
            ffi::ParamsAbi::V1 => call(&ffi::SignalParamsV1 {
                value,
                nvsci_fence,
                key: 0,
                flags: 0,
                _pad: 0,
            } as *const _ as *const c_void),
        };
        rt(self.r.fns.signal_symbol, code)
    }

    fn wait_raw(&self, stream: &Stream, value: u64, nvsci_fence: u64) -> Result<(), OpError> {
        let f = self.r.fns.wait;
        let call = |p: *const c_void| unsafe { f(&self.raw, p, 1, stream.raw) };
        let code = match self.r.abi {
            ffi::ParamsAbi::Current => call(&ffi::WaitParams {
                value,
                nvsci_fence,
                key: 0,
                timeout_ms: 0,
                _pad: 0,
                reserved: [0; 10],
                flags: 0,
                reserved2: [0; 16],
            } as *const _ as *const c_void),
            ffi::ParamsAbi::V1 => call(&ffi::WaitParamsV1 {
                value,
                nvsci_fence,
                key: 0,
                timeout_ms: 0,
                _pad: 0,
                flags: 0,
                _pad2: 0,
            } as *const _ as *const c_void),
        };
        rt(self.r.fns.wait_symbol, code)
    }

    /// Destroys now, reporting the result (drop ignores it).
    pub fn destroy(self) -> Result<(), OpError> {
        let (r, raw) = (self.r, self.raw);
        std::mem::forget(self);
        rt("cudaDestroyExternalSemaphore", unsafe {
            (r.fns.destroy_semaphore)(raw)
        })
    }
}

impl Drop for ExternalSemaphore {
    fn drop(&mut self) {
        unsafe {
            (self.r.fns.destroy_semaphore)(self.raw);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ffi::{params_abi, ParamsAbi};

    #[test]
    fn params_layout_follows_the_entry_point_and_version() {
        assert_eq!(
            params_abi("cudaSignalExternalSemaphoresAsync_v2", 12090),
            ParamsAbi::Current
        );
        assert_eq!(
            params_abi("cudaSignalExternalSemaphoresAsync_v2", 11020),
            ParamsAbi::Current
        );
        // 13.0 exports no _v2; its plain name reads the current structs.
        assert_eq!(
            params_abi("cudaSignalExternalSemaphoresAsync", 13000),
            ParamsAbi::Current
        );
        // Before 11.2 only the plain name exists and it reads the _v1 structs.
        assert_eq!(
            params_abi("cudaSignalExternalSemaphoresAsync", 11010),
            ParamsAbi::V1
        );
    }
}
