//! Safe layer over the CUDA driver API (cudarc's dynamically loaded `sys`, plus `ffi`
//! for what cudarc leaves out). Every handle is owned and released on drop.

pub mod ffi;

use crate::error::OpError;
use cudarc::driver::sys;
use std::ffi::c_void;
use std::sync::OnceLock;

#[derive(Debug, Clone)]
pub struct DeviceInfo {
    /// The device's number in the suite: the board's CUDA ordinal, also in a child that
    /// sees fewer devices (see [`ORDINALS_ENV`]).
    pub index: u32,
    pub name: String,
    pub uuid: [u8; 16],
}

#[derive(Debug, Clone)]
pub struct Driver {
    /// cuDriverGetVersion, e.g. 13000.
    pub cuda_version: i32,
    /// The kernel driver's version string where the OS says it (e.g. `580.159.04`).
    pub driver_version: Option<String>,
    pub devices: Vec<DeviceInfo>,
}

impl Driver {
    pub fn implementation(&self) -> String {
        let v = self.driver_version.as_deref().unwrap_or("version unknown");
        format!(
            "libcuda.so.1 (NVIDIA driver {v}, CUDA {})",
            fmt_cuda_version(self.cuda_version)
        )
    }

    pub fn device(&self, index: u32) -> Result<&DeviceInfo, OpError> {
        self.devices
            .iter()
            .find(|d| d.index == index)
            .ok_or_else(|| {
                OpError::NotSupported(format!(
                    "case needs CUDA device {index}; this board has {} CUDA device(s)",
                    self.devices.len()
                ))
            })
    }
}

pub fn fmt_cuda_version(v: i32) -> String {
    format!("{}.{}", v / 1000, (v % 1000) / 10)
}

pub fn fmt_uuid(u: &[u8; 16]) -> String {
    let h: String = u.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "GPU-{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// Set by the suite for a child process that sees only its case's devices
/// (`CUDA_VISIBLE_DEVICES` by UUID): the board ordinal of each device it sees, in order.
/// Every process initialises each GPU it can see, serialized by the driver across the
/// machine (measured on 4×H100, 2026-11-27: a health probe took 0.8 s seeing one GPU,
/// 1.0 s seeing two, 1.7 s seeing four), so children see only what they use.
pub const ORDINALS_ENV: &str = "HIL_DEVICE_ORDINALS";

fn board_ordinals() -> &'static Option<Vec<u32>> {
    &crate::settings::get().device_ordinals
}

/// The ordinal this process passes to CUDA for board device `index` (the same number
/// unless this is a child that sees fewer devices).
pub fn local_ordinal(index: u32) -> i32 {
    board_ordinals()
        .as_ref()
        .and_then(|o| o.iter().position(|d| *d == index))
        .map_or(index as i32, |p| p as i32)
}

/// The environment that lets a child process see only board devices `devices`, in that
/// order: `CUDA_VISIBLE_DEVICES` by UUID and [`ORDINALS_ENV`]. `None` (the child sees
/// what this process sees) when a device is unknown or the devices are MIG instances.
pub fn visible_only(devices: &[u32]) -> Option<[(&'static str, String); 2]> {
    let drv = driver().ok()?;
    if devices.is_empty()
        || board_ordinals().is_some()
        || std::env::var("CUDA_VISIBLE_DEVICES").is_ok_and(|v| v.contains("MIG"))
    {
        return None;
    }
    let uuids = devices
        .iter()
        .map(|d| drv.device(*d).ok().map(|i| fmt_uuid(&i.uuid)))
        .collect::<Option<Vec<_>>>()?;
    let ordinals = devices.iter().map(|d| d.to_string()).collect::<Vec<_>>();
    Some([
        ("CUDA_VISIBLE_DEVICES", uuids.join(",")),
        (ORDINALS_ENV, ordinals.join(",")),
    ])
}

/// Probes the driver once per process. `Err` is the not-supported reason.
pub fn driver() -> Result<&'static Driver, OpError> {
    static DRIVER: OnceLock<Result<Driver, String>> = OnceLock::new();
    DRIVER
        .get_or_init(probe)
        .as_ref()
        .map_err(|reason| OpError::NotSupported(reason.clone()))
}

fn cu(call: &str, r: sys::CUresult) -> Result<(), OpError> {
    match r as i32 {
        0 => Ok(()),
        code => Err(OpError::cuda(call, code)),
    }
}

fn probe() -> Result<Driver, String> {
    // cudarc panics at the first call when libcuda is missing: ask first.
    if !unsafe { sys::is_culib_present() } {
        return Err(
            "CUDA driver library libcuda.so.1 not found (no NVIDIA driver on this machine)".into(),
        );
    }
    let fail = |e: OpError| format!("CUDA driver present but unusable: {e}");
    unsafe {
        cu("cuInit", sys::cuInit(0)).map_err(fail)?;
        let mut cuda_version = 0;
        cu(
            "cuDriverGetVersion",
            sys::cuDriverGetVersion(&mut cuda_version),
        )
        .map_err(fail)?;
        let mut count = 0;
        cu("cuDeviceGetCount", sys::cuDeviceGetCount(&mut count)).map_err(fail)?;
        let mut devices = Vec::new();
        for i in 0..count {
            let mut dev = 0;
            cu("cuDeviceGet", sys::cuDeviceGet(&mut dev, i)).map_err(fail)?;
            let mut name = [0 as std::ffi::c_char; 256];
            cu(
                "cuDeviceGetName",
                sys::cuDeviceGetName(name.as_mut_ptr(), 256, dev),
            )
            .map_err(fail)?;
            let name = std::ffi::CStr::from_ptr(name.as_ptr())
                .to_string_lossy()
                .into_owned();
            let mut uuid = sys::CUuuid { bytes: [0; 16] };
            cu("cuDeviceGetUuid", sys::cuDeviceGetUuid_v2(&mut uuid, dev)).map_err(fail)?;
            devices.push(DeviceInfo {
                index: match board_ordinals() {
                    Some(o) => *o.get(i as usize).ok_or_else(|| {
                        format!(
                            "{ORDINALS_ENV} names {} device(s) but CUDA shows {count}",
                            o.len()
                        )
                    })?,
                    None => i as u32,
                },
                name,
                uuid: uuid.bytes.map(|b| b as u8),
            });
        }
        Ok(Driver {
            cuda_version,
            driver_version: kernel_driver_version(),
            devices,
        })
    }
}

/// The kernel driver's version: /proc/driver/nvidia/version on desktop GPUs,
/// /etc/nv_tegra_release on Jetson.
fn kernel_driver_version() -> Option<String> {
    if let Ok(text) = std::fs::read_to_string("/proc/driver/nvidia/version") {
        // "NVRM version: NVIDIA UNIX [Open ]Kernel Module [for x86_64]  580.159.04  ..."
        return version_token(text.lines().next()?);
    }
    let tegra = std::fs::read_to_string("/etc/nv_tegra_release").ok()?;
    Some(
        tegra
            .lines()
            .next()?
            .trim_start_matches('#')
            .trim()
            .to_string(),
    )
}

/// The first whitespace-separated token shaped like `580.159.04`.
pub fn version_token(line: &str) -> Option<String> {
    line.split_whitespace()
        .find(|t| {
            t.contains('.')
                && t.split('.')
                    .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        })
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    #[test]
    fn driver_version_is_found_in_both_kernel_module_banners() {
        let open = "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  580.159.04  Release Build  (nixbld@)";
        let closed = "NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.104.05  Sat Aug 19 01:15:15 UTC 2023";
        assert_eq!(super::version_token(open).as_deref(), Some("580.159.04"));
        assert_eq!(super::version_token(closed).as_deref(), Some("535.104.05"));
        assert_eq!(super::version_token("no version here"), None);
    }
}

/// The device's primary context, retained for the guard's life and made current.
pub struct Context {
    index: u32,
    dev: sys::CUdevice,
    ctx: sys::CUcontext,
}

impl Context {
    pub fn primary(index: u32) -> Result<Context, OpError> {
        let drv = driver()?;
        drv.device(index)?;
        unsafe {
            let mut dev = 0;
            cu(
                "cuDeviceGet",
                sys::cuDeviceGet(&mut dev, local_ordinal(index)),
            )?;
            let mut ctx = std::ptr::null_mut();
            cu(
                "cuDevicePrimaryCtxRetain",
                sys::cuDevicePrimaryCtxRetain(&mut ctx, dev),
            )?;
            let c = Context { index, dev, ctx };
            c.make_current()?;
            Ok(c)
        }
    }

    /// The CUDA device ordinal.
    pub fn index(&self) -> u32 {
        self.index
    }

    pub fn make_current(&self) -> Result<(), OpError> {
        cu("cuCtxSetCurrent", unsafe { sys::cuCtxSetCurrent(self.ctx) })
    }
}

impl Drop for Context {
    fn drop(&mut self) {
        unsafe {
            sys::cuDevicePrimaryCtxRelease_v2(self.dev);
        }
    }
}

/// A non-blocking stream on the context current at creation.
pub struct Stream {
    pub raw: sys::CUstream,
}

impl Stream {
    pub fn new(ctx: &Context) -> Result<Stream, OpError> {
        ctx.make_current()?;
        let mut raw = std::ptr::null_mut();
        cu("cuStreamCreate", unsafe {
            sys::cuStreamCreate(&mut raw, 1)
        })?;
        Ok(Stream { raw })
    }

    pub fn synchronize(&self) -> Result<(), OpError> {
        cu("cuStreamSynchronize", unsafe {
            sys::cuStreamSynchronize(self.raw)
        })
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        unsafe {
            sys::cuStreamDestroy_v2(self.raw);
        }
    }
}

impl Stream {
    /// Makes later work on this stream wait for `ev` (recorded on any stream).
    pub fn wait_event(&self, ev: &Event) -> Result<(), OpError> {
        cu("cuStreamWaitEvent", unsafe {
            sys::cuStreamWaitEvent(self.raw, ev.raw, 0)
        })
    }
}

/// A CUDA event with timing; destroyed on drop.
pub struct Event {
    raw: sys::CUevent,
}

impl Event {
    pub fn new(ctx: &Context) -> Result<Event, OpError> {
        ctx.make_current()?;
        let mut raw = std::ptr::null_mut();
        cu("cuEventCreate", unsafe { sys::cuEventCreate(&mut raw, 0) })?;
        Ok(Event { raw })
    }

    pub fn record(&self, stream: &Stream) -> Result<(), OpError> {
        cu("cuEventRecord", unsafe {
            sys::cuEventRecord(self.raw, stream.raw)
        })
    }

    pub fn synchronize(&self) -> Result<(), OpError> {
        cu("cuEventSynchronize", unsafe {
            sys::cuEventSynchronize(self.raw)
        })
    }

    /// Done yet? (cuEventQuery: 0 done, 600 CUDA_ERROR_NOT_READY).
    pub fn is_done(&self) -> Result<bool, OpError> {
        match unsafe { sys::cuEventQuery(self.raw) } as i32 {
            0 => Ok(true),
            600 => Ok(false),
            code => Err(OpError::cuda("cuEventQuery", code)),
        }
    }

    /// Milliseconds from `start` to `self`, both completed.
    pub fn elapsed_since(&self, start: &Event) -> Result<f32, OpError> {
        let mut ms = 0f32;
        cu("cuEventElapsedTime", unsafe {
            sys::cuEventElapsedTime_v2(&mut ms, start.raw, self.raw)
        })?;
        Ok(ms)
    }
}

impl Drop for Event {
    fn drop(&mut self) {
        unsafe {
            sys::cuEventDestroy_v2(self.raw);
        }
    }
}

/// Allocates, fills and reads back a small buffer: proof the device executes work.
pub fn memset_roundtrip(ctx: &Context, value: u32) -> Result<(), OpError> {
    ctx.make_current()?;
    const N: usize = 1024;
    unsafe {
        let mut ptr = 0;
        cu("cuMemAlloc", sys::cuMemAlloc_v2(&mut ptr, N * 4))?;
        let r = (|| {
            cu("cuMemsetD32", sys::cuMemsetD32_v2(ptr, value, N))?;
            let mut host = vec![0u32; N];
            cu(
                "cuMemcpyDtoH",
                sys::cuMemcpyDtoH_v2(host.as_mut_ptr() as *mut c_void, ptr, N * 4),
            )?;
            crate::error::check(host.iter().all(|&x| x == value), || {
                format!("device memory read back wrong values after cuMemsetD32({value:#x})")
            })
        })();
        sys::cuMemFree_v2(ptr);
        r
    }
}

pub fn can_access_peer(a: u32, b: u32) -> Result<bool, OpError> {
    driver()?;
    let mut v = 0;
    cu("cuDeviceCanAccessPeer", unsafe {
        sys::cuDeviceCanAccessPeer(&mut v, a as i32, b as i32)
    })?;
    Ok(v != 0)
}

fn ext_fns() -> Result<&'static ffi::ExtSemFns, OpError> {
    static FNS: OnceLock<Option<ffi::ExtSemFns>> = OnceLock::new();
    driver()?;
    FNS.get_or_init(|| unsafe { ffi::ext_sem_fns() })
        .as_ref()
        .ok_or_else(|| OpError::NotSupported("libcuda lacks the external semaphore API".into()))
}

/// An imported external semaphore; destroyed on drop.
pub struct ExternalSemaphore {
    raw: ffi::CUexternalSemaphore,
}

/// What to put in the import descriptor: exact values, so malformed descriptors can be tested.
#[derive(Debug, Clone, Copy)]
pub struct ImportDesc {
    pub handle_type: u32,
    /// fd for the FD types, pointer bits for NvSciSync.
    pub handle: u64,
    pub flags: u32,
}

impl ImportDesc {
    /// The C descriptor (driver and runtime share its layout), exactly these values.
    pub fn raw(&self) -> ffi::SemHandleDesc {
        ffi::SemHandleDesc {
            ty: self.handle_type,
            _pad: 0,
            handle: [self.handle, 0],
            flags: self.flags,
            reserved: [0; 16],
        }
    }
}

impl ExternalSemaphore {
    /// cuImportExternalSemaphore in the current context. On success CUDA owns an fd handle.
    pub fn import(ctx: &Context, desc: ImportDesc) -> Result<ExternalSemaphore, OpError> {
        let fns = ext_fns()?;
        ctx.make_current()?;
        let d = desc.raw();
        let mut raw = std::ptr::null_mut();
        match unsafe { (fns.import)(&mut raw, &d) } {
            0 => Ok(ExternalSemaphore { raw }),
            code => Err(OpError::cuda("cuImportExternalSemaphore", code)),
        }
    }

    /// Enqueues a signal of `value` (ignored for binary semaphores).
    pub fn signal(&self, stream: &Stream, value: u64) -> Result<(), OpError> {
        self.signal_raw(stream, value, 0)
    }

    /// Enqueues a wait for `value` (ignored for binary semaphores).
    pub fn wait(&self, stream: &Stream, value: u64) -> Result<(), OpError> {
        self.wait_raw(stream, value, 0)
    }

    /// Enqueues a signal of an imported NvSciSync object; CUDA fills `fence`.
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
        let fns = ext_fns()?;
        let p = ffi::SignalParams {
            value,
            nvsci_fence,
            key: 0,
            reserved: [0; 12],
            flags: 0,
            reserved2: [0; 16],
        };
        match unsafe { (fns.signal)(&self.raw, &p, 1, stream.raw as ffi::CUstream) } {
            0 => Ok(()),
            code => Err(OpError::cuda("cuSignalExternalSemaphoresAsync", code)),
        }
    }

    fn wait_raw(&self, stream: &Stream, value: u64, nvsci_fence: u64) -> Result<(), OpError> {
        let fns = ext_fns()?;
        let p = ffi::WaitParams {
            value,
            nvsci_fence,
            key: 0,
            timeout_ms: 0,
            _pad: 0,
            reserved: [0; 10],
            flags: 0,
            reserved2: [0; 16],
        };
        match unsafe { (fns.wait)(&self.raw, &p, 1, stream.raw as ffi::CUstream) } {
            0 => Ok(()),
            code => Err(OpError::cuda("cuWaitExternalSemaphoresAsync", code)),
        }
    }

    /// Destroys now, reporting the result (drop ignores it).
    pub fn destroy(self) -> Result<(), OpError> {
        let fns = ext_fns()?;
        let raw = self.raw;
        std::mem::forget(self);
        match unsafe { (fns.destroy)(raw) } {
            0 => Ok(()),
            code => Err(OpError::cuda("cuDestroyExternalSemaphore", code)),
        }
    }
}

impl Drop for ExternalSemaphore {
    fn drop(&mut self) {
        if let Ok(fns) = ext_fns() {
            unsafe {
                (fns.destroy)(self.raw);
            }
        }
    }
}

/// cuDeviceGetNvSciSyncAttributes filling an NvSciSyncAttrList; returns the raw code.
pub fn fill_nvsci_attributes(
    list: &crate::nvsci::AttrList,
    dev: u32,
    flags: i32,
) -> Result<i32, OpError> {
    // SAFETY: `list` owns a live NvSciSyncAttrList handle.
    unsafe { nvsci_attributes_raw(list.raw, dev, flags) }
}

/// # Safety
/// `list` must be NULL or point to what the driver may read/write as an NvSciSyncAttrList.
pub unsafe fn nvsci_attributes_raw(
    list: *mut c_void,
    dev: u32,
    flags: i32,
) -> Result<i32, OpError> {
    driver()?;
    let f: ffi::NvSciAttrsFn = unsafe { ffi::symbol(b"cuDeviceGetNvSciSyncAttributes\0") }
        .ok_or_else(|| {
            OpError::NotSupported("libcuda has no cuDeviceGetNvSciSyncAttributes".into())
        })?;
    Ok(unsafe { f(list, local_ordinal(dev), flags) })
}
