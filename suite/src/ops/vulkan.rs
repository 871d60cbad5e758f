//! Ops for Vulkan-exported semaphores (OPAQUE_FD, binary and timeline) imported into
//! CUDA. Axes: `exporter` is the CUDA index of the Vulkan device that exports (matched
//! by UUID), `importer` the CUDA device that imports; single-device ops use `dev`.

use super::{check, Ctx, OpDef, OpError, OpResult};
use crate::cuda::ffi::{HANDLE_TYPE_OPAQUE_FD, HANDLE_TYPE_TIMELINE_SEMAPHORE_FD};
use crate::frontend::{Gpu, ImportDesc, Semaphore as CudaSemaphore};
use crate::latency;
use crate::types::CudaApi;
use crate::vulkan::{self, Device, SemKind, Semaphore};
use hil_proto::key as obs_key;
use hil_proto::Observation;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

pub static OPS: &[OpDef] = &[
    OpDef {
        name: "vk_capabilities",
        params: &["require"],
        doc: "Vulkan device matching CUDA `dev` by UUID; external semaphore features recorded; param `require` lists what must be export+importable.",
        run: capabilities,
    },
    OpDef {
        name: "vk_import",
        params: &["kind", "handle"],
        doc: "Export on `exporter`, import on CUDA `importer` (params kind, handle); CUDA must own (close) the fd on success.",
        run: import,
    },
    OpDef {
        name: "vk_roundtrip",
        params: &["kind", "handle", "count"],
        doc: "Import, then `count` signal/wait round trips CUDA->Vulkan and Vulkan->CUDA; timeline values checked on both sides.",
        run: roundtrip,
    },
    OpDef {
        name: "vk_import_invalid",
        params: &["kind", "handle", "defect", "type_value", "flags"],
        doc: "Import with param `defect` (bad_type, nonzero_flags, closed_fd, negative_fd); the fd stays with the caller and nothing leaks. Counts the process's fds: rows must set `isolate: true`.",
        run: import_invalid,
    },
    OpDef {
        name: "vk_reimport",
        params: &[],
        doc: "Two exports of one semaphore imported as two CUDA semaphores share one payload.",
        run: reimport,
    },
    OpDef {
        name: "vk_destroy_order",
        params: &["order"],
        doc: "Param `order` cuda_first | vulkan_first: each side's destroy succeeds and the other keeps working.",
        run: destroy_order,
    },
    OpDef {
        name: "vk_ub_close_owned_fd",
        params: &[],
        doc: "UB: close the fd CUDA owns after import, then signal/wait.",
        run: ub_close_owned_fd,
    },
    OpDef {
        name: "vk_ub_destroy_pending",
        params: &[],
        doc: "UB: destroy the CUDA external semaphore while a wait on it is pending in a stream.",
        run: ub_destroy_pending,
    },
];

const WAIT_NS: u64 = 5_000_000_000;

fn kind(c: &Ctx) -> Result<SemKind, OpError> {
    SemKind::parse(c.param_str("kind", "timeline")?)
}

/// The CUDA handle type: param `handle` (opaque_fd | timeline_fd), default by kind.
fn handle_type(c: &Ctx, kind: SemKind) -> Result<u32, OpError> {
    let default = match kind {
        SemKind::Binary => "opaque_fd",
        SemKind::Timeline => "timeline_fd",
    };
    match c.param_str("handle", default)? {
        "opaque_fd" => Ok(HANDLE_TYPE_OPAQUE_FD),
        "timeline_fd" => Ok(HANDLE_TYPE_TIMELINE_SEMAPHORE_FD),
        other => Err(OpError::Row(format!(
            "handle `{other}`: expected opaque_fd or timeline_fd"
        ))),
    }
}

fn vk_device(cuda_index: u32) -> Result<Device, OpError> {
    let vk = vulkan::instance()?;
    Device::new(vk.for_cuda(cuda_index)?)
}

fn fd_is_open(fd: RawFd) -> bool {
    unsafe { libc::fcntl(fd, libc::F_GETFD) != -1 }
}

/// Process-wide: meaningful only in a case isolated in its own process (`isolate: true`).
fn open_fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Imports `fd` (ownership handed over). On success CUDA must have closed it; on
/// failure it must still be open, and is closed here.
fn import_fd(
    gpu: &Gpu,
    fd: OwnedFd,
    handle_type: u32,
    flags: u32,
) -> Result<(CudaSemaphore, Duration), OpError> {
    let raw = fd.into_raw_fd();
    let watched = crate::fdcheck::watch(raw);
    let t = Instant::now();
    let r = gpu.import(ImportDesc {
        handle_type,
        handle: raw as u32 as u64,
        flags,
    });
    let took = t.elapsed();
    match r {
        Ok(sem) => {
            check(!watched.still_open(), || {
                format!("import succeeded but fd {raw} is still open: CUDA must take ownership of the fd")
            })?;
            Ok((sem, took))
        }
        Err(e) => {
            check(watched.still_open(), || {
                format!("import failed ({e}) yet fd {raw} was closed: ownership must stay with the caller")
            })?;
            drop(unsafe { OwnedFd::from_raw_fd(raw) });
            Err(e)
        }
    }
}

fn capabilities(c: &Ctx) -> OpResult {
    let dev = c.device("dev")?;
    let vk = vulkan::instance()?;
    let p = vk.for_cuda(dev)?;
    let caps = [
        (obs_key::BINARY_OPAQUE_FD, p.binary_opaque_fd),
        (obs_key::TIMELINE_OPAQUE_FD, p.timeline_opaque_fd),
        (obs_key::BINARY_SYNC_FD, p.binary_sync_fd),
    ];
    let mut obs = vec![
        Observation::new(obs_key::VK_DEVICE, format!("{} ({})", p.index, p.name)),
        Observation::new(
            obs_key::VK_API,
            format!(
                "{}.{}",
                ash::vk::api_version_major(p.api_version),
                ash::vk::api_version_minor(p.api_version)
            ),
        ),
        Observation::new(obs_key::VK_DRIVER, &p.driver),
        Observation::new(obs_key::UUID, crate::cuda::fmt_uuid(&p.uuid)),
    ];
    for (name, cap) in caps {
        obs.push(Observation::new(
            name,
            format!("export={} import={}", cap.exportable, cap.importable),
        ));
    }
    let required = match c.case.params.get("require") {
        None => vec![],
        Some(v) => v
            .as_array()
            .ok_or_else(|| OpError::Row("param `require` must be a list".into()))?
            .iter()
            .map(|x| x.as_str().unwrap_or("").to_string())
            .collect(),
    };
    for r in required {
        let cap = caps
            .iter()
            .find(|(n, _)| r == *n)
            .map(|(_, c)| *c)
            .ok_or_else(|| OpError::Row(format!("unknown capability `{r}` in `require`")))?;
        check(cap.exportable && cap.importable, || {
            format!(
                "{r}: vkGetPhysicalDeviceExternalSemaphoreProperties says export={} import={}",
                cap.exportable, cap.importable
            )
        })?;
    }
    Ok(obs)
}

fn import(c: &Ctx) -> OpResult {
    let (exporter, importer) = (c.device("exporter")?, c.device("importer")?);
    let kind = kind(c)?;
    let ty = handle_type(c, kind)?;
    let vkdev = vk_device(exporter)?;
    let sem = Semaphore::exportable(&vkdev, kind)?;
    let gpu = Gpu::open(c.case.api, importer)?;
    let (ext, took) = import_fd(&gpu, sem.export_fd()?, ty, 0)?;
    ext.destroy()?;
    Ok(vec![
        Observation::new(obs_key::IMPORT_US, took.as_micros()),
        Observation::new(obs_key::FD_AFTER_IMPORT, "closed by CUDA"),
    ])
}

fn roundtrip(c: &Ctx) -> OpResult {
    let (exporter, importer) = (c.device("exporter")?, c.device("importer")?);
    let kind = kind(c)?;
    let ty = handle_type(c, kind)?;
    let count = c.param_u64("count", 16)?.max(1);
    roundtrip_on(c.case.api, exporter, importer, kind, ty, count)
}

/// `count` rounds: CUDA signals and Vulkan observes, then Vulkan signals and CUDA waits.
/// Also the health probe's signal/wait check after undefined-behaviour cases.
pub fn roundtrip_on(
    api: CudaApi,
    exporter: u32,
    importer: u32,
    kind: SemKind,
    ty: u32,
    count: u64,
) -> OpResult {
    let vkdev = vk_device(exporter)?;
    let sem = Semaphore::exportable(&vkdev, kind)?;
    let gpu = Gpu::open(api, importer)?;
    let stream = gpu.stream()?;
    let (ext, _) = import_fd(&gpu, sem.export_fd()?, ty, 0)?;
    let mut rtt = Vec::with_capacity(count as usize);
    for i in 1..=count {
        let t = Instant::now();
        let (to_vk, to_cuda) = (2 * i - 1, 2 * i);
        // CUDA signals, Vulkan observes.
        ext.signal(&stream, to_vk)?;
        let reached = match kind {
            SemKind::Timeline => sem.wait_host(to_vk, WAIT_NS)?,
            SemKind::Binary => sem.wait_queue(WAIT_NS)?,
        };
        check(reached, || {
            format!("round {i}: Vulkan did not see CUDA's signal {to_vk} within 5s")
        })?;
        if kind == SemKind::Timeline {
            let v = sem.counter()?;
            check(v == to_vk, || {
                format!("round {i}: Vulkan counter {v} after CUDA signalled {to_vk}")
            })?;
        }
        // Vulkan signals, CUDA observes.
        match kind {
            SemKind::Timeline => sem.signal_host(to_cuda)?,
            SemKind::Binary => sem.signal_queue()?,
        }
        ext.wait(&stream, to_cuda)?;
        stream.synchronize()?;
        if kind == SemKind::Timeline {
            let v = sem.counter()?;
            check(v == to_cuda, || {
                format!("round {i}: counter {v} after Vulkan signalled {to_cuda} and CUDA waited")
            })?;
        }
        rtt.push(t.elapsed());
    }
    ext.destroy()?;
    let st = latency::stats(rtt).ok_or_else(|| OpError::Check("no round trips ran".into()))?;
    Ok(vec![
        Observation::new(obs_key::ROUNDS, count),
        Observation::new(obs_key::RTT_MIN_US, format!("{:.1}", st.min_us)),
        Observation::new(obs_key::RTT_P50_US, format!("{:.1}", st.p50_us)),
        Observation::new(obs_key::RTT_MAX_US, format!("{:.1}", st.max_us)),
    ])
}

fn import_invalid(c: &Ctx) -> OpResult {
    let dev = c.device("dev")?;
    let kind = kind(c)?;
    let ty = handle_type(c, kind)?;
    let defect = c.param_str("defect", "")?;
    if !c.case.in_child() {
        return Err(OpError::Row(
            "vk_import_invalid counts the process's open fds: set `isolate: true` on the row"
                .into(),
        ));
    }
    let vkdev = vk_device(dev)?;
    let sem = Semaphore::exportable(&vkdev, kind)?;
    let gpu = Gpu::open(c.case.api, dev)?;
    let fd = sem.export_fd()?;
    let before = open_fd_count();
    let (handle_type, handle, flags, keep_fd) = match defect {
        "bad_type" => (
            c.param_u64("type_value", 0x7fff)? as u32,
            fd.as_raw_fd() as u32 as u64,
            0,
            true,
        ),
        "nonzero_flags" => (
            ty,
            fd.as_raw_fd() as u32 as u64,
            c.param_u64("flags", 7)? as u32,
            true,
        ),
        "negative_fd" => (ty, (-1i32) as u32 as u64, 0, false),
        "closed_fd" => {
            // A descriptor number nothing has open.
            let n = (1000..60000).find(|n| !fd_is_open(*n)).unwrap_or(9999);
            (ty, n as u32 as u64, 0, false)
        }
        other => {
            return Err(OpError::Row(format!(
                "defect `{other}`: expected bad_type, nonzero_flags, closed_fd or negative_fd"
            )))
        }
    };
    let r = gpu.import(ImportDesc {
        handle_type,
        handle,
        flags,
    });
    let after = open_fd_count();
    match r {
        Ok(sem) => {
            sem.destroy()?;
            Ok(vec![Observation::new(obs_key::IMPORT, "accepted")])
        }
        Err(e) => {
            if keep_fd {
                check(fd_is_open(fd.as_raw_fd()), || {
                    format!("failed import ({e}) closed the caller's fd")
                })?;
            }
            check(after <= before, || {
                format!("failed import ({e}) left {} more fds open", after - before)
            })?;
            Err(e)
        }
    }
}

fn reimport(c: &Ctx) -> OpResult {
    let dev = c.device("dev")?;
    let vkdev = vk_device(dev)?;
    let sem = Semaphore::exportable(&vkdev, SemKind::Timeline)?;
    let gpu = Gpu::open(c.case.api, dev)?;
    let stream = gpu.stream()?;
    let (a, _) = import_fd(&gpu, sem.export_fd()?, HANDLE_TYPE_TIMELINE_SEMAPHORE_FD, 0)?;
    let (b, _) = import_fd(&gpu, sem.export_fd()?, HANDLE_TYPE_TIMELINE_SEMAPHORE_FD, 0)?;
    a.signal(&stream, 1)?;
    b.wait(&stream, 1)?;
    stream.synchronize()?;
    check(sem.counter()? == 1, || {
        "signal through import A not seen by Vulkan".into()
    })?;
    b.signal(&stream, 2)?;
    stream.synchronize()?;
    check(sem.wait_host(2, WAIT_NS)?, || {
        "signal through import B not seen by Vulkan".into()
    })?;
    a.destroy()?;
    b.destroy()?;
    Ok(vec![Observation::new(obs_key::COUNTER, sem.counter()?)])
}

fn destroy_order(c: &Ctx) -> OpResult {
    let dev = c.device("dev")?;
    let order = c.param_str("order", "cuda_first")?;
    let vkdev = vk_device(dev)?;
    let sem = Semaphore::exportable(&vkdev, SemKind::Timeline)?;
    let gpu = Gpu::open(c.case.api, dev)?;
    let stream = gpu.stream()?;
    let (ext, _) = import_fd(&gpu, sem.export_fd()?, HANDLE_TYPE_TIMELINE_SEMAPHORE_FD, 0)?;
    match order {
        "cuda_first" => {
            ext.destroy()?;
            sem.signal_host(1)?;
            check(sem.counter()? == 1, || {
                "Vulkan semaphore unusable after CUDA destroyed its import".into()
            })?;
        }
        "vulkan_first" => {
            // The imported payload is referenced by CUDA; it outlives the Vulkan handle.
            sem.destroy();
            ext.signal(&stream, 1)?;
            stream.synchronize()?;
            ext.destroy()?;
        }
        other => {
            return Err(OpError::Row(format!(
                "order `{other}`: expected cuda_first or vulkan_first"
            )))
        }
    }
    Ok(vec![])
}

fn ub_close_owned_fd(c: &Ctx) -> OpResult {
    let dev = c.device("dev")?;
    let vkdev = vk_device(dev)?;
    let sem = Semaphore::exportable(&vkdev, SemKind::Timeline)?;
    let gpu = Gpu::open(c.case.api, dev)?;
    let stream = gpu.stream()?;
    let fd = sem.export_fd()?.into_raw_fd();
    let ext = gpu.import(ImportDesc {
        handle_type: HANDLE_TYPE_TIMELINE_SEMAPHORE_FD,
        handle: fd as u32 as u64,
        flags: 0,
    })?;
    let rc = unsafe { libc::close(fd) };
    let errno = std::io::Error::last_os_error();
    let mut obs = vec![Observation::new(
        obs_key::CLOSE_AFTER_IMPORT,
        if rc == 0 {
            "0 (fd was still open)".to_string()
        } else {
            format!("-1 ({errno})")
        },
    )];
    ext.signal(&stream, 1)?;
    stream.synchronize()?;
    obs.push(Observation::new(
        obs_key::VK_COUNTER_AFTER_SIGNAL,
        sem.counter()?,
    ));
    ext.destroy()?;
    Ok(obs)
}

fn ub_destroy_pending(c: &Ctx) -> OpResult {
    let dev = c.device("dev")?;
    let vkdev = vk_device(dev)?;
    let sem = Semaphore::exportable(&vkdev, SemKind::Timeline)?;
    let gpu = Gpu::open(c.case.api, dev)?;
    let stream = gpu.stream()?;
    let (ext, _) = import_fd(&gpu, sem.export_fd()?, HANDLE_TYPE_TIMELINE_SEMAPHORE_FD, 0)?;
    ext.wait(&stream, 1)?;
    let destroyed = ext.destroy();
    let mut obs = vec![Observation::new(
        obs_key::DESTROY_WITH_PENDING_WAIT,
        match &destroyed {
            Ok(()) => "0".to_string(),
            Err(e) => e.to_string(),
        },
    )];
    sem.signal_host(1)?;
    stream.synchronize()?;
    obs.push(Observation::new(obs_key::STREAM_AFTER_SIGNAL, "completed"));
    Ok(obs)
}
