//! The CUDA side of the NvSciSync ops: every CUDA call they make is here, through the
//! case's frontend (`cuda_api`: the driver API, or the runtime API the CUDA guide shows).

use super::*;

/// A CUDA device's view of one NvSciSyncObj. Fields drop in order: semaphore, stream, device.
pub(super) struct GpuSide {
    sem: Semaphore,
    st: Stream,
    gpu: Gpu,
}

/// cuDeviceGetNvSciSyncAttributes / cudaDeviceGetNvSciSyncAttributes on `list` (NULL for
/// `None`); the raw code, and the device to name an error with.
pub(super) fn cuda_attributes_code(
    api: CudaApi,
    list: Option<&AttrList>,
    dev: u32,
    flags: i32,
) -> Result<(i32, Gpu), OpError> {
    let gpu = Gpu::open(api, dev)?;
    let raw = list.map_or(std::ptr::null_mut(), |l| l.raw);
    // SAFETY: NULL (a documented input) or a live NvSciSyncAttrList the list owns.
    let code = unsafe { gpu.nvsci_attributes(raw, flags) }?;
    Ok((code, gpu))
}

/// Fills `list` with the device's attributes; a CUDA without NvSciSync (801, NOT_SUPPORTED
/// in both APIs) is not-supported with that answer.
pub(super) fn cuda_attributes(
    api: CudaApi,
    list: &AttrList,
    dev: u32,
    flags: i32,
) -> Result<(), OpError> {
    match cuda_attributes_code(api, Some(list), dev, flags)? {
        (0, _) => Ok(()),
        (801, gpu) => Err(OpError::NotSupported(format!(
            "{} for device {dev}: this CUDA has no NvSciSync support",
            gpu.error(Call::NvSciSyncAttributes, 801)
        ))),
        (code, gpu) => Err(gpu.error(Call::NvSciSyncAttributes, code)),
    }
}

/// Probes that CUDA supports NvSciSync on `dev`, before a row checks its error paths.
pub(super) fn cuda_support(api: CudaApi, m: &Module, dev: u32) -> Result<(), OpError> {
    cuda_attributes(api, &m.attr_list()?, dev, CUDA_NVSCISYNC_ATTR_SIGNAL)
}

/// Imports `obj` (handle type NvSciSync) on `dev`, with a stream to use it on.
pub(super) fn cuda_import(api: CudaApi, dev: u32, obj: &Obj) -> Result<GpuSide, OpError> {
    let gpu = Gpu::open(api, dev)?;
    let st = gpu.stream()?;
    let sem = gpu.import(ImportDesc {
        handle_type: HANDLE_TYPE_NVSCISYNC,
        handle: obj.raw as u64,
        flags: 0,
    })?;
    Ok(GpuSide { sem, st, gpu })
}

/// Pairs use two devices: the driver API acts in the current context (the runtime
/// frontend sets its device before each call itself).
pub(super) fn current(g: &GpuSide) -> Result<(), OpError> {
    match &g.gpu {
        Gpu::Driver(cx) => cx.make_current(),
        Gpu::Runtime(_) => Ok(()),
    }
}

/// Enqueues a signal; CUDA fills `fence`.
pub(super) fn cuda_signal(g: &GpuSide, fence: &mut Fence) -> Result<(), OpError> {
    current(g)?;
    g.sem.signal_nvsci(&g.st, &mut fence.raw)
}

/// Enqueues a wait on `fence`, then waits for the stream.
pub(super) fn cuda_wait(g: &GpuSide, fence: &mut Fence) -> Result<(), OpError> {
    current(g)?;
    g.sem.wait_nvsci(&g.st, &mut fence.raw)?;
    g.st.synchronize()
}

/// Destroys the semaphore, reporting the result.
pub(super) fn cuda_destroy(g: GpuSide) -> Result<(), OpError> {
    current(&g)?;
    let GpuSide { sem, st, gpu } = g;
    let r = sem.destroy();
    drop((st, gpu));
    r
}
