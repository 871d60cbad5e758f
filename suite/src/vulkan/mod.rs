//! Safe layer over the Vulkan pieces the suite needs: an instance (loader found at run
//! time by ash), physical devices matched to CUDA by UUID, logical devices with
//! VK_KHR_external_semaphore_fd, and exportable binary / timeline semaphores.

use crate::error::Api;
use crate::error::OpError;
use ash::vk;
use std::os::fd::{FromRawFd, OwnedFd};
use std::sync::OnceLock;

fn vk_err(call: &str, r: vk::Result) -> OpError {
    OpError::Api {
        api: Api::Vulkan,
        call: call.to_string(),
        code: r.as_raw().into(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SemKind {
    Binary,
    Timeline,
}

impl SemKind {
    pub fn parse(s: &str) -> Result<SemKind, OpError> {
        match s {
            "binary" => Ok(SemKind::Binary),
            "timeline" => Ok(SemKind::Timeline),
            _ => Err(OpError::Row(format!(
                "semaphore kind `{s}`: expected binary or timeline"
            ))),
        }
    }
    fn vk(self) -> vk::SemaphoreType {
        match self {
            SemKind::Binary => vk::SemaphoreType::BINARY,
            SemKind::Timeline => vk::SemaphoreType::TIMELINE,
        }
    }
}

/// External semaphore capabilities of one handle type on one physical device.
#[derive(Debug, Clone, Copy, Default)]
pub struct ExtCaps {
    pub exportable: bool,
    pub importable: bool,
}

#[derive(Debug, Clone)]
pub struct PhysInfo {
    pub index: usize,
    pub pd: vk::PhysicalDevice,
    pub name: String,
    pub uuid: [u8; 16],
    pub api_version: u32,
    pub driver: String,
    pub queue_family: u32,
    pub binary_opaque_fd: ExtCaps,
    pub timeline_opaque_fd: ExtCaps,
    pub binary_sync_fd: ExtCaps,
}

pub struct Vk {
    _entry: ash::Entry,
    pub instance: ash::Instance,
    pub physical: Vec<PhysInfo>,
}

impl Vk {
    pub fn implementation(&self) -> String {
        match self.physical.first() {
            Some(p) => format!(
                "Vulkan {}.{} ({})",
                vk::api_version_major(p.api_version),
                vk::api_version_minor(p.api_version),
                p.driver
            ),
            None => "Vulkan loader (no physical devices)".into(),
        }
    }

    /// The Vulkan device that is CUDA device `cuda_index` (same UUID).
    pub fn for_cuda(&self, cuda_index: u32) -> Result<&PhysInfo, OpError> {
        let drv = crate::cuda::driver()?;
        let uuid = drv.device(cuda_index)?.uuid;
        self.physical
            .iter()
            .find(|p| p.uuid == uuid)
            .ok_or_else(|| {
                OpError::NotSupported(format!(
                    "no Vulkan physical device has CUDA device {cuda_index}'s UUID {}",
                    crate::cuda::fmt_uuid(&uuid)
                ))
            })
    }
}

/// Probes the loader and driver once per process. `Err` is the not-supported reason.
pub fn instance() -> Result<&'static Vk, OpError> {
    static VK: OnceLock<Result<Vk, String>> = OnceLock::new();
    VK.get_or_init(probe)
        .as_ref()
        .map_err(|r| OpError::NotSupported(r.clone()))
}

fn probe() -> Result<Vk, String> {
    let entry = unsafe { ash::Entry::load() }
        .map_err(|e| format!("Vulkan loader libvulkan.so.1 not loadable: {e}"))?;
    let app = vk::ApplicationInfo::default().api_version(vk::API_VERSION_1_2);
    let instance = unsafe {
        entry.create_instance(
            &vk::InstanceCreateInfo::default().application_info(&app),
            None,
        )
    }
    .map_err(|e| format!("vkCreateInstance failed: {e} (no Vulkan driver/ICD found?)"))?;
    let pds = unsafe { instance.enumerate_physical_devices() }
        .map_err(|e| format!("vkEnumeratePhysicalDevices: {e}"))?;
    let mut physical = Vec::new();
    for (index, pd) in pds.into_iter().enumerate() {
        let mut id = vk::PhysicalDeviceIDProperties::default();
        let mut drv = vk::PhysicalDeviceDriverProperties::default();
        let mut p2 = vk::PhysicalDeviceProperties2::default()
            .push_next(&mut id)
            .push_next(&mut drv);
        unsafe { instance.get_physical_device_properties2(pd, &mut p2) };
        let props = p2.properties;
        let cstr = |s: &[std::ffi::c_char]| unsafe {
            std::ffi::CStr::from_ptr(s.as_ptr())
                .to_string_lossy()
                .into_owned()
        };
        let name = cstr(&props.device_name);
        let driver = format!("{} {}", cstr(&drv.driver_name), cstr(&drv.driver_info));
        let families = unsafe { instance.get_physical_device_queue_family_properties(pd) };
        let queue_family = families
            .iter()
            .position(|f| {
                f.queue_flags
                    .intersects(vk::QueueFlags::GRAPHICS | vk::QueueFlags::COMPUTE)
            })
            .unwrap_or(0) as u32;
        let caps = |kind: SemKind, handle: vk::ExternalSemaphoreHandleTypeFlags| {
            let mut sti = vk::SemaphoreTypeCreateInfo::default().semaphore_type(kind.vk());
            let info = vk::PhysicalDeviceExternalSemaphoreInfo::default()
                .handle_type(handle)
                .push_next(&mut sti);
            let mut p = vk::ExternalSemaphoreProperties::default();
            unsafe {
                instance.get_physical_device_external_semaphore_properties(pd, &info, &mut p)
            };
            ExtCaps {
                exportable: p
                    .external_semaphore_features
                    .contains(vk::ExternalSemaphoreFeatureFlags::EXPORTABLE),
                importable: p
                    .external_semaphore_features
                    .contains(vk::ExternalSemaphoreFeatureFlags::IMPORTABLE),
            }
        };
        physical.push(PhysInfo {
            index,
            pd,
            name,
            uuid: id.device_uuid,
            api_version: props.api_version,
            driver: driver.trim().to_string(),
            queue_family,
            binary_opaque_fd: caps(
                SemKind::Binary,
                vk::ExternalSemaphoreHandleTypeFlags::OPAQUE_FD,
            ),
            timeline_opaque_fd: caps(
                SemKind::Timeline,
                vk::ExternalSemaphoreHandleTypeFlags::OPAQUE_FD,
            ),
            binary_sync_fd: caps(
                SemKind::Binary,
                vk::ExternalSemaphoreHandleTypeFlags::SYNC_FD,
            ),
        });
    }
    if physical.is_empty() {
        return Err("Vulkan loader found no physical devices".into());
    }
    Ok(Vk {
        _entry: entry,
        instance,
        physical,
    })
}

/// A logical device with one queue and external-semaphore-fd + timeline support.
pub struct Device {
    pub device: ash::Device,
    fd_ext: ash::khr::external_semaphore_fd::Device,
    queue: vk::Queue,
}

impl Device {
    pub fn new(phys: &PhysInfo) -> Result<Device, OpError> {
        let vk_ = instance()?;
        let prio = [1.0f32];
        let qci = [vk::DeviceQueueCreateInfo::default()
            .queue_family_index(phys.queue_family)
            .queue_priorities(&prio)];
        let exts = [ash::khr::external_semaphore_fd::NAME.as_ptr()];
        let mut f12 = vk::PhysicalDeviceVulkan12Features::default().timeline_semaphore(true);
        let info = vk::DeviceCreateInfo::default()
            .queue_create_infos(&qci)
            .enabled_extension_names(&exts)
            .push_next(&mut f12);
        let device = unsafe { vk_.instance.create_device(phys.pd, &info, None) }
            .map_err(|e| vk_err("vkCreateDevice", e))?;
        let fd_ext = ash::khr::external_semaphore_fd::Device::new(&vk_.instance, &device);
        let queue = unsafe { device.get_device_queue(phys.queue_family, 0) };
        Ok(Device {
            device,
            fd_ext,
            queue,
        })
    }
}

impl Drop for Device {
    fn drop(&mut self) {
        unsafe {
            let _ = self.device.device_wait_idle();
            self.device.destroy_device(None);
        }
    }
}

/// An exportable semaphore; destroyed on drop unless `destroy` was called.
pub struct Semaphore<'d> {
    dev: &'d Device,
    pub raw: vk::Semaphore,
    pub kind: SemKind,
}

impl<'d> Semaphore<'d> {
    pub fn exportable(dev: &'d Device, kind: SemKind) -> Result<Semaphore<'d>, OpError> {
        let mut exp = vk::ExportSemaphoreCreateInfo::default()
            .handle_types(vk::ExternalSemaphoreHandleTypeFlags::OPAQUE_FD);
        let mut sti = vk::SemaphoreTypeCreateInfo::default()
            .semaphore_type(kind.vk())
            .initial_value(0);
        let info = vk::SemaphoreCreateInfo::default()
            .push_next(&mut exp)
            .push_next(&mut sti);
        let raw = unsafe { dev.device.create_semaphore(&info, None) }
            .map_err(|e| vk_err("vkCreateSemaphore", e))?;
        Ok(Semaphore { dev, raw, kind })
    }

    /// A new OPAQUE_FD handle to the payload; the caller owns it.
    pub fn export_fd(&self) -> Result<OwnedFd, OpError> {
        let info = vk::SemaphoreGetFdInfoKHR::default()
            .semaphore(self.raw)
            .handle_type(vk::ExternalSemaphoreHandleTypeFlags::OPAQUE_FD);
        let fd = unsafe { self.dev.fd_ext.get_semaphore_fd(&info) }
            .map_err(|e| vk_err("vkGetSemaphoreFdKHR", e))?;
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    }

    pub fn counter(&self) -> Result<u64, OpError> {
        unsafe { self.dev.device.get_semaphore_counter_value(self.raw) }
            .map_err(|e| vk_err("vkGetSemaphoreCounterValue", e))
    }

    pub fn signal_host(&self, value: u64) -> Result<(), OpError> {
        let info = vk::SemaphoreSignalInfo::default()
            .semaphore(self.raw)
            .value(value);
        unsafe { self.dev.device.signal_semaphore(&info) }
            .map_err(|e| vk_err("vkSignalSemaphore", e))
    }

    /// Host wait for a timeline value; `Ok(false)` on timeout.
    pub fn wait_host(&self, value: u64, timeout_ns: u64) -> Result<bool, OpError> {
        let sems = [self.raw];
        let vals = [value];
        let info = vk::SemaphoreWaitInfo::default()
            .semaphores(&sems)
            .values(&vals);
        match unsafe { self.dev.device.wait_semaphores(&info, timeout_ns) } {
            Ok(()) => Ok(true),
            Err(vk::Result::TIMEOUT) => Ok(false),
            Err(e) => Err(vk_err("vkWaitSemaphores", e)),
        }
    }

    /// Binary semaphore: a queue submission that signals it.
    pub fn signal_queue(&self) -> Result<(), OpError> {
        let sems = [self.raw];
        let submit = [vk::SubmitInfo::default().signal_semaphores(&sems)];
        unsafe {
            self.dev
                .device
                .queue_submit(self.dev.queue, &submit, vk::Fence::null())
        }
        .map_err(|e| vk_err("vkQueueSubmit", e))
    }

    /// Binary semaphore: a queue submission that waits on it, then a fence wait on the host.
    /// `Ok(false)` if the fence did not signal within the timeout.
    pub fn wait_queue(&self, timeout_ns: u64) -> Result<bool, OpError> {
        let d = &self.dev.device;
        let fence = unsafe { d.create_fence(&vk::FenceCreateInfo::default(), None) }
            .map_err(|e| vk_err("vkCreateFence", e))?;
        let sems = [self.raw];
        let stages = [vk::PipelineStageFlags::ALL_COMMANDS];
        let submit = [vk::SubmitInfo::default()
            .wait_semaphores(&sems)
            .wait_dst_stage_mask(&stages)];
        let r = unsafe { d.queue_submit(self.dev.queue, &submit, fence) }
            .map_err(|e| vk_err("vkQueueSubmit", e))
            .and_then(
                |()| match unsafe { d.wait_for_fences(&[fence], true, timeout_ns) } {
                    Ok(()) => Ok(true),
                    Err(vk::Result::TIMEOUT) => Ok(false),
                    Err(e) => Err(vk_err("vkWaitForFences", e)),
                },
            );
        if r.as_ref().is_ok_and(|reached| *reached) {
            unsafe { d.destroy_fence(fence, None) };
        } else {
            // The submission may still reference the fence: idle first.
            unsafe {
                let _ = d.queue_wait_idle(self.dev.queue);
                d.destroy_fence(fence, None);
            }
        }
        r
    }

    /// Destroys the Vulkan handle now (the payload lives on while CUDA holds it).
    pub fn destroy(self) {
        unsafe { self.dev.device.destroy_semaphore(self.raw, None) };
        std::mem::forget(self);
    }
}

impl Drop for Semaphore<'_> {
    fn drop(&mut self) {
        unsafe {
            let _ = self.dev.device.queue_wait_idle(self.dev.queue);
            self.dev.device.destroy_semaphore(self.raw, None);
        }
    }
}
