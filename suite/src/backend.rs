//! Per-backend availability, probed (never assumed) once per process. A case whose backend
//! or devices are missing is not-supported with the probed reason.

use crate::case::Case;
use crate::error::OpError;
use crate::types::{Backend, CudaApi};

/// Checks the case's backend, devices and CUDA frontend; `Ok` is the implementation that
/// will produce the result, named in the event stream.
pub fn preflight(case: &Case) -> Result<String, OpError> {
    match case.backend {
        Backend::Host => Ok("host OS".into()),
        Backend::Cuda => cuda_side(case),
        Backend::Vulkan => {
            let cuda = cuda_side(case)?;
            let vk = crate::vulkan::instance()?;
            Ok(format!("{} + {cuda}", vk.implementation()))
        }
        Backend::Nvscisync => {
            let l = crate::nvsci::lib()?;
            crate::nvsci::needs::check(l.version, &case.nvscisync_needs)?;
            // Cases with a CUDA device on an axis need CUDA too.
            if case.devices().is_empty() {
                return Ok(l.implementation.clone());
            }
            Ok(format!("{} + {}", l.implementation, cuda_side(case)?))
        }
    }
}

/// The driver (always: devices are enumerated through it) and, for runtime cases, libcudart.
fn cuda_side(case: &Case) -> Result<String, OpError> {
    let d = crate::cuda::driver()?;
    for dev in case.devices() {
        d.device(dev)?;
    }
    match case.api {
        CudaApi::Driver => Ok(d.implementation()),
        CudaApi::Runtime => Ok(format!(
            "{} over {}",
            crate::frontend::implementation(CudaApi::Runtime)?,
            d.implementation()
        )),
    }
}

/// backend -> implementation (or `none: reason`), for the facts event.
pub fn implementations() -> Vec<(&'static str, String)> {
    let vk = match crate::vulkan::instance() {
        Ok(v) => v.implementation(),
        Err(e) => format!("none: {e}"),
    };
    let cudart = match crate::cudart::runtime() {
        Ok(r) => r.implementation(),
        Err(e) => format!("none: {e}"),
    };
    vec![
        ("host", "host OS".to_string()),
        ("cudart", cudart),
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
