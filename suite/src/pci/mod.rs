//! Which CUDA device sits at which PCI address: the NVIDIA driver lists each GPU's UUID
//! under `/proc/driver/nvidia/gpus/<pci>/information`, CUDA gives each device's UUID;
//! `HIL_GPU_PCI` replaces that listing. Used by ops and the kernel log reader alike.

pub mod addr;

use std::collections::BTreeMap;
use std::sync::OnceLock;

/// The PCI address (`0000:18:00`) of a CUDA device, where the driver lists it.
pub fn pci_of(device: u32) -> Option<String> {
    map()
        .iter()
        .find(|(_, d)| **d == device)
        .map(|(a, _)| a.clone())
}

/// The CUDA device at a PCI address.
pub fn device_of(pci: &str) -> Option<u32> {
    map().get(pci).copied()
}

/// PCI address -> CUDA device: `HIL_GPU_PCI` when given, else what the driver lists.
pub fn map() -> &'static BTreeMap<String, u32> {
    static MAP: OnceLock<BTreeMap<String, u32>> = OnceLock::new();
    MAP.get_or_init(|| match &crate::settings::get().gpu_pci {
        Some(given) => given.clone(),
        None => listed(),
    })
}

fn listed() -> BTreeMap<String, u32> {
    let mut map = BTreeMap::new();
    let Ok(driver) = crate::cuda::driver() else {
        return map;
    };
    let Ok(dirs) = std::fs::read_dir("/proc/driver/nvidia/gpus") else {
        return map;
    };
    for d in dirs.flatten() {
        let name = d.file_name().to_string_lossy().into_owned();
        let Some(addr) = addr::normalize(&name) else {
            continue;
        };
        let info = std::fs::read_to_string(d.path().join("information")).unwrap_or_default();
        let uuid = info
            .lines()
            .find_map(|l| l.strip_prefix("GPU UUID:"))
            .map(|u| u.trim().to_ascii_lowercase());
        if let Some(dev) = driver.devices.iter().find(|dev| {
            uuid.as_deref() == Some(&crate::cuda::fmt_uuid(&dev.uuid).to_ascii_lowercase())
        }) {
            map.insert(addr, dev.index);
        }
    }
    map
}
