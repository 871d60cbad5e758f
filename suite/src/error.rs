//! The error every check and binding reports, and the API a code belongs to. It lives
//! below the bindings (`cuda/`, `vulkan/`, `nvsci/`) and the ops, so both can name it
//! without the bindings depending on the ops.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Which API a code belongs to, so 1 from CUDA is never confused with 1 from NvSciSync.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Api {
    /// The CUDA driver API (`cu*`, CUresult).
    Cuda,
    /// The CUDA runtime API (`cuda*`, cudaError_t).
    Cudart,
    Vulkan,
    Nvsci,
}

impl fmt::Display for Api {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Api::Cuda => "CUDA",
            Api::Cudart => "CUDA runtime",
            Api::Vulkan => "Vulkan",
            Api::Nvsci => "NvSci",
        })
    }
}

/// Why an op did not simply succeed. Serializable: a case isolated in a child process
/// sends it to the parent, which judges it exactly as an in-process result.
#[derive(Debug, Clone, PartialEq, thiserror::Error, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpError {
    /// The platform lacks something; the text is the probed reason.
    #[error("{0}")]
    NotSupported(String),
    /// An API call returned an error code (compared with the row's `expect`).
    #[error("{call} returned {code}{}", suffix(*.api, *.code))]
    Api { api: Api, call: String, code: i64 },
    /// The op's own check did not hold.
    #[error("{0}")]
    Check(String),
    /// The row is wrong for this op (missing param, wrong axis kind).
    #[error("bad row: {0}")]
    Row(String),
}

impl OpError {
    pub fn cudart(call: &str, code: i32) -> OpError {
        OpError::Api {
            api: Api::Cudart,
            call: call.to_string(),
            code: code.into(),
        }
    }

    pub fn cuda(call: &str, code: i32) -> OpError {
        OpError::Api {
            api: Api::Cuda,
            call: call.to_string(),
            code: code.into(),
        }
    }
}

/// Turns a boolean check into an op error with a message saying what was expected.
pub fn check(ok: bool, msg: impl FnOnce() -> String) -> Result<(), OpError> {
    if ok {
        Ok(())
    } else {
        Err(OpError::Check(msg()))
    }
}

pub fn cuda_name(code: i64) -> Option<&'static str> {
    Some(match code {
        0 => "CUDA_SUCCESS",
        1 => "CUDA_ERROR_INVALID_VALUE",
        2 => "CUDA_ERROR_OUT_OF_MEMORY",
        3 => "CUDA_ERROR_NOT_INITIALIZED",
        4 => "CUDA_ERROR_DEINITIALIZED",
        34 => "CUDA_ERROR_STUB_LIBRARY",
        35 => "CUDA_ERROR_INSUFFICIENT_DRIVER",
        100 => "CUDA_ERROR_NO_DEVICE",
        101 => "CUDA_ERROR_INVALID_DEVICE",
        200 => "CUDA_ERROR_INVALID_IMAGE",
        201 => "CUDA_ERROR_INVALID_CONTEXT",
        304 => "CUDA_ERROR_OPERATING_SYSTEM",
        400 => "CUDA_ERROR_INVALID_HANDLE",
        401 => "CUDA_ERROR_ILLEGAL_STATE",
        500 => "CUDA_ERROR_NOT_FOUND",
        600 => "CUDA_ERROR_NOT_READY",
        700 => "CUDA_ERROR_ILLEGAL_ADDRESS",
        719 => "CUDA_ERROR_LAUNCH_FAILED",
        800 => "CUDA_ERROR_NOT_PERMITTED",
        801 => "CUDA_ERROR_NOT_SUPPORTED",
        802 => "CUDA_ERROR_SYSTEM_NOT_READY",
        803 => "CUDA_ERROR_SYSTEM_DRIVER_MISMATCH",
        804 => "CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE",
        909 => "CUDA_ERROR_TIMEOUT",
        999 => "CUDA_ERROR_UNKNOWN",
        _ => return None,
    })
}

/// cudaError_t names (driver_types.h). Where a driver error has a runtime twin the
/// number is the same (1, 101, 304, 400, 801, 999), which tables rely on.
pub fn cudart_name(code: i64) -> Option<&'static str> {
    Some(match code {
        0 => "cudaSuccess",
        1 => "cudaErrorInvalidValue",
        2 => "cudaErrorMemoryAllocation",
        3 => "cudaErrorInitializationError",
        4 => "cudaErrorCudartUnloading",
        35 => "cudaErrorInsufficientDriver",
        34 => "cudaErrorStubLibrary",
        100 => "cudaErrorNoDevice",
        101 => "cudaErrorInvalidDevice",
        201 => "cudaErrorDeviceUninitialized",
        304 => "cudaErrorOperatingSystem",
        400 => "cudaErrorInvalidResourceHandle",
        401 => "cudaErrorIllegalState",
        500 => "cudaErrorSymbolNotFound",
        600 => "cudaErrorNotReady",
        700 => "cudaErrorIllegalAddress",
        719 => "cudaErrorLaunchFailure",
        800 => "cudaErrorNotPermitted",
        801 => "cudaErrorNotSupported",
        802 => "cudaErrorSystemNotReady",
        803 => "cudaErrorSystemDriverMismatch",
        909 => "cudaErrorTimeout",
        999 => "cudaErrorUnknown",
        _ => return None,
    })
}

pub fn vk_name(code: i64) -> Option<&'static str> {
    Some(match code {
        0 => "VK_SUCCESS",
        1 => "VK_NOT_READY",
        2 => "VK_TIMEOUT",
        -1 => "VK_ERROR_OUT_OF_HOST_MEMORY",
        -2 => "VK_ERROR_OUT_OF_DEVICE_MEMORY",
        -3 => "VK_ERROR_INITIALIZATION_FAILED",
        -4 => "VK_ERROR_DEVICE_LOST",
        -7 => "VK_ERROR_EXTENSION_NOT_PRESENT",
        -8 => "VK_ERROR_FEATURE_NOT_PRESENT",
        -9 => "VK_ERROR_INCOMPATIBLE_DRIVER",
        -1000072003 => "VK_ERROR_INVALID_EXTERNAL_HANDLE",
        _ => return None,
    })
}

/// ` (NAME)` for a known code, empty otherwise.
pub fn suffix(api: Api, code: i64) -> String {
    let name = match api {
        Api::Cuda => cuda_name(code),
        Api::Cudart => cudart_name(code),
        Api::Vulkan => vk_name(code),
        Api::Nvsci => nvsci_abi::err::name(code as i32),
    };
    name.map(|n| format!(" ({n})")).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_crosses_the_process_boundary_intact() {
        // An isolated case's child sends its error as JSON; every variant must survive.
        for e in [
            OpError::NotSupported("801 here".into()),
            OpError::Check("fd still open".into()),
            OpError::Row("bad param".into()),
            OpError::cudart("cudaImportExternalSemaphore", 999),
        ] {
            let json = serde_json::to_string(&e).expect("serializes");
            assert_eq!(serde_json::from_str::<OpError>(&json).unwrap(), e, "{json}");
        }
    }
}
