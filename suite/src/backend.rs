//! Per-backend availability, probed (never assumed) once per process. A case whose backend
//! or devices are missing is not-supported with the probed reason.

use crate::case::Case;
use crate::error::OpError;
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
        Backend::Nvscisync => {
            let l = crate::nvsci::lib()?;
            crate::nvsci::needs::check(l.version, &case.nvscisync_needs)?;
            // Cases with a CUDA device on an axis need the driver too.
            if !case.devices().is_empty() {
                let d = crate::cuda::driver()?;
                for dev in case.devices() {
                    d.device(dev)?;
                }
                return Ok(format!("{} + {}", l.implementation, d.implementation()));
            }
            Ok(l.implementation.clone())
        }
    }
}

/// Real NvSciSync is present (the hil model does not count: it has no GPU side).
pub fn nvscisync_present() -> bool {
    crate::nvsci::lib().is_ok_and(|l| !l.is_model)
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
        (
            "nvscisync",
            match crate::nvsci::lib() {
                Ok(l) => l.implementation.clone(),
                Err(e) => format!("none: {e}"),
            },
        ),
    ]
}
