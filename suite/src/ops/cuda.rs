//! Ops over the CUDA driver alone: the probing cases that say what a board has.

use super::{check, Ctx, OpDef, OpResult};
use crate::cuda::{self, fmt_cuda_version, fmt_uuid, Context};
use crate::frontend::{Call, Gpu};
use hil_proto::key as obs_key;
use hil_proto::Observation;

pub static OPS: &[OpDef] = &[
    OpDef {
        name: "cuda_driver_version",
        params: &["min"],
        doc: "cuInit and cuDriverGetVersion succeed; version >= param `min` (e.g. 11040).",
        run: driver_version,
    },
    OpDef {
        name: "cuda_device_count",
        params: &["min"],
        doc: "cuDeviceGetCount reports at least param `min` devices (default 1).",
        run: device_count,
    },
    OpDef {
        name: "cuda_device_identity",
        params: &[],
        doc: "Device on axis `dev` has a name and a non-zero UUID unique on the board.",
        run: device_identity,
    },
    OpDef {
        name: "cuda_device_executes",
        params: &[],
        doc: "Primary context on axis `dev`, a stream, and a memset read back correctly.",
        run: device_executes,
    },
    OpDef {
        name: "cuda_nvsci_attrs_absent",
        params: &["list", "flags"],
        doc: "Where libnvscisync is absent: cu/cudaDeviceGetNvSciSyncAttributes on axis `dev` with param `list` null | buffer and `flags`.",
        run: nvsci_attrs_absent,
    },
    OpDef {
        name: "cuda_peer_access",
        params: &[],
        doc: "cuDeviceCanAccessPeer between axes `a` and `b` answers (value recorded).",
        run: peer_access,
    },
];

fn driver_version(c: &Ctx) -> OpResult {
    let d = cuda::driver()?;
    let min = c.param_u64("min", 0)? as i32;
    check(d.cuda_version >= min, || {
        format!(
            "driver supports CUDA {}, the row needs >= {}",
            fmt_cuda_version(d.cuda_version),
            fmt_cuda_version(min)
        )
    })?;
    Ok(vec![
        Observation::new(obs_key::CUDA_VERSION, fmt_cuda_version(d.cuda_version)),
        Observation::new(
            obs_key::DRIVER_VERSION,
            d.driver_version.as_deref().unwrap_or("unknown"),
        ),
    ])
}

fn device_count(c: &Ctx) -> OpResult {
    let d = cuda::driver()?;
    let min = c.param_u64("min", 1)? as usize;
    check(d.devices.len() >= min, || {
        format!("{} CUDA device(s), the row needs >= {min}", d.devices.len())
    })?;
    Ok(vec![Observation::new(obs_key::DEVICES, d.devices.len())])
}

fn device_identity(c: &Ctx) -> OpResult {
    let d = cuda::driver()?;
    let dev = d.device(c.device("dev")?)?;
    check(!dev.name.is_empty(), || {
        "cuDeviceGetName returned an empty name".into()
    })?;
    check(dev.uuid != [0; 16], || {
        "cuDeviceGetUuid returned an all-zero UUID".into()
    })?;
    let twins: Vec<_> = d
        .devices
        .iter()
        .filter(|o| o.index != dev.index && o.uuid == dev.uuid)
        .map(|o| o.index)
        .collect();
    check(twins.is_empty(), || {
        format!("UUID also reported for device(s) {twins:?}")
    })?;
    Ok(vec![
        Observation::new(obs_key::NAME, &dev.name),
        Observation::new(obs_key::UUID, fmt_uuid(&dev.uuid)),
    ])
}

fn device_executes(c: &Ctx) -> OpResult {
    let ctx = Context::primary(c.device("dev")?)?;
    let stream = cuda::Stream::new(&ctx)?;
    cuda::memset_roundtrip(&ctx, 0xC0FFEE)?;
    stream.synchronize()?;
    Ok(vec![])
}

fn peer_access(c: &Ctx) -> OpResult {
    let (a, b) = (c.device("a")?, c.device("b")?);
    let d = cuda::driver()?;
    d.device(a)?;
    d.device(b)?;
    Ok(vec![Observation::new(
        obs_key::CAN_ACCESS_PEER,
        cuda::can_access_peer(a, b)?,
    )])
}

/// Real NvSciSync is present (the hil model does not count: it has no GPU side).
fn nvscisync_present() -> bool {
    crate::nvsci::lib().is_ok_and(|l| !l.is_model)
}

/// CUDA's answer when NvSciSync is not on the platform. With NvSciSync present the
/// argument would have to be a real NvSciSyncAttrList, so the row does not apply there.
fn nvsci_attrs_absent(c: &Ctx) -> OpResult {
    if nvscisync_present() {
        return Err(super::OpError::NotSupported(
            "libnvscisync.so.1 is present: this row checks CUDA's behaviour without NvSciSync"
                .into(),
        ));
    }
    let dev = c.device("dev")?;
    let flags = c.param_i64("flags", 1)? as i32;
    let with_list = match c.param_str("list", "buffer")? {
        "null" => false,
        "buffer" => true,
        other => {
            return Err(super::OpError::Row(format!(
                "list `{other}`: expected null or buffer"
            )))
        }
    };
    let gpu = Gpu::open(c.case.api, dev)?;
    // Without NvSciSync there is no real list to pass: a zeroed 4 KiB buffer stands in.
    let mut buf = vec![0u8; 4096];
    let list = if with_list {
        buf.as_mut_ptr() as *mut std::ffi::c_void
    } else {
        std::ptr::null_mut()
    };
    // SAFETY: NULL or a live 4 KiB buffer; only called where libnvscisync is absent.
    let code = unsafe { gpu.nvsci_attributes(list, flags) }?;
    if code != 0 {
        return Err(gpu.error(Call::NvSciSyncAttributes, code));
    }
    Ok(vec![])
}
