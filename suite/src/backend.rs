//! Per-backend availability, probed (never assumed) once per process. A case whose backend
//! or devices are missing is not-supported with the probed reason.

use crate::case::Case;
use crate::ops::OpError;
use crate::table::Backend;

/// Checks the case's backend and devices; `Ok` is the implementation that will produce
/// the result, named in the event stream.
pub fn preflight(case: &Case) -> Result<String, OpError> {
    match case.backend {
        Backend::Host => Ok("host OS".into()),
        Backend::Cuda => {
            let d = crate::cuda::driver()?;
            for dev in case.devices() {
                d.device(dev)?;
            }
            Ok(d.implementation())
        }
        Backend::Vulkan => {
            let d = crate::cuda::driver()?;
            for dev in case.devices() {
                d.device(dev)?;
            }
            let vk = crate::vulkan::instance()?;
            Ok(format!("{} + {}", vk.implementation(), d.implementation()))
        }
        Backend::Nvscisync => Err(OpError::NotSupported(nvscisync_reason())),
    }
}

pub fn nvscisync_present() -> bool {
    unsafe { libloading::Library::new("libnvscisync.so.1") }.is_ok()
}

fn nvscisync_reason() -> String {
    match unsafe { libloading::Library::new("libnvscisync.so.1") } {
        Ok(_) => {
            "libnvscisync.so.1 is present but this suite build has no NvSciSync backend yet".into()
        }
        Err(e) => format!("libnvscisync.so.1 not loadable: {e}"),
    }
}

/// backend -> implementation (or `none: reason`), for the facts event.
pub fn implementations() -> Vec<(&'static str, String)> {
    let vk = match crate::vulkan::instance() {
        Ok(v) => v.implementation(),
        Err(e) => format!("none: {e}"),
    };
    vec![
        ("host", "host OS".to_string()),
        ("vulkan", vk),
        ("nvscisync", format!("none: {}", nvscisync_reason())),
    ]
}
