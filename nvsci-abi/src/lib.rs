//! The NvSciSync C ABI as the suite binds it and the reference model implements it.
//! Values are taken from public copies of NVIDIA's headers; `docs/nvscisync.md` records
//! which header and version each comes from:
//! - nvscisync.h, NvSciSync 2.8 (`NvSciSyncMajorVersion = 2U`, `NvSciSyncMinorVersion = 8U`,
//!   copyright 2019-2024),
//! - nvscierror.h (copyright 2019-2023).
//!
//! NvSciSync 1.x headers differ: `NvSciSyncAccessPerm` was a C enum (WaitOnly = 0,
//! SignalOnly = 1, WaitSignal = 2, 4 bytes). These bindings target 2.x only and check the
//! library with `NvSciSyncCheckVersionCompatibility` before use.
#![no_std]

use core::ffi::c_void;

pub const MAJOR_VERSION: u32 = 2;
pub const MINOR_VERSION: u32 = 8;

/// `NvSciError` (nvscierror.h).
pub type NvSciError = i32;
pub mod err {
    use super::NvSciError;
    pub const SUCCESS: NvSciError = 0x0000_0000;
    pub const UNKNOWN: NvSciError = 0x0000_0001;
    pub const NOT_SUPPORTED: NvSciError = 0x0000_0011;
    pub const INVALID_STATE: NvSciError = 0x0000_0022;
    pub const INSUFFICIENT_MEMORY: NvSciError = 0x0000_0030;
    pub const BAD_PARAMETER: NvSciError = 0x0000_0100;
    pub const OVERFLOW: NvSciError = 0x0000_0103;
    pub const TIMEOUT: NvSciError = 0x0000_0200;
    pub const RECONCILIATION_FAILED: NvSciError = 0x0001_0100;
    pub const ATTR_LIST_VALIDATION_FAILED: NvSciError = 0x0001_0101;
    pub const OBJ_VALIDATION_FAILED: NvSciError = 0x0001_0102;
    pub const UNSUPPORTED_CONFIG: NvSciError = 0x0200_0001;
    pub const CLEARED_FENCE: NvSciError = 0x0200_0002;

    pub fn name(e: NvSciError) -> Option<&'static str> {
        Some(match e {
            SUCCESS => "NvSciError_Success",
            UNKNOWN => "NvSciError_Unknown",
            NOT_SUPPORTED => "NvSciError_NotSupported",
            INVALID_STATE => "NvSciError_InvalidState",
            INSUFFICIENT_MEMORY => "NvSciError_InsufficientMemory",
            BAD_PARAMETER => "NvSciError_BadParameter",
            OVERFLOW => "NvSciError_Overflow",
            TIMEOUT => "NvSciError_Timeout",
            RECONCILIATION_FAILED => "NvSciError_ReconciliationFailed",
            ATTR_LIST_VALIDATION_FAILED => "NvSciError_AttrListValidationFailed",
            OBJ_VALIDATION_FAILED => "NvSciError_ObjValidationFailed",
            UNSUPPORTED_CONFIG => "NvSciError_UnsupportedConfig",
            CLEARED_FENCE => "NvSciError_ClearedFence",
            _ => return None,
        })
    }
}

/// `NvSciSyncAccessPerm` in 2.x: `typedef uint64_t`, bit flags.
pub type AccessPerm = u64;
pub mod perm {
    pub const WAIT_ONLY: u64 = 1 << 0;
    pub const SIGNAL_ONLY: u64 = 1 << 1;
    pub const WAIT_SIGNAL: u64 = WAIT_ONLY | SIGNAL_ONLY;
    /// Export/import only; not valid for RequiredPerm.
    pub const AUTO: u64 = 1 << 63;
}

/// `NvSciSyncAttrKey` (2.8): sequential from LowerBound = 0.
pub type AttrKey = i32;
pub mod key {
    pub const LOWER_BOUND: i32 = 0;
    pub const NEED_CPU_ACCESS: i32 = 1;
    pub const REQUIRED_PERM: i32 = 2;
    pub const ACTUAL_PERM: i32 = 3;
    pub const WAITER_CONTEXT_INSENSITIVE_FENCE_EXPORTS: i32 = 4;
    pub const WAITER_REQUIRE_TIMESTAMPS: i32 = 5;
    pub const REQUIRE_DETERMINISTIC_FENCES: i32 = 6;
    pub const NUM_TIMESTAMP_SLOTS: i32 = 7;
    pub const NUM_TASK_STATUS_SLOTS: i32 = 8;
    pub const MAX_PRIMITIVE_VALUE: i32 = 9;
    pub const PRIMITIVE_INFO: i32 = 10;
    pub const PEER_LOCATION_INFO: i32 = 11;
    pub const GPU_ID: i32 = 12;
    pub const PEER_HW_ENGINE_ARRAY: i32 = 13;
    pub const UPPER_BOUND: i32 = 14;
}

/// `NvSciSyncAttrKeyValuePair { NvSciSyncAttrKey attrKey; const void* value; size_t len; }`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct KeyValuePair {
    pub key: AttrKey,
    pub value: *const c_void,
    pub len: usize,
}

/// `NvSciSyncFence { uint64_t payload[6]; }`; all zeroes = cleared.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Fence {
    pub payload: [u64; 6],
}

/// `NvSciSyncFenceMaxTimeout`, microseconds; also "infinite".
pub const FENCE_MAX_TIMEOUT_US: i64 = 0x7fff_ffff_ffff_ffff / 1000;

/// CUDA flags for cuDeviceGetNvSciSyncAttributes (cuda.h).
pub const CUDA_NVSCISYNC_ATTR_SIGNAL: i32 = 0x1;
pub const CUDA_NVSCISYNC_ATTR_WAIT: i32 = 0x2;

/// Symbol the hil reference model exports (and real NvSciSync does not): a C string
/// naming the model, so no result from it can pass for a hardware result.
pub const MODEL_MARKER_SYMBOL: &[u8] = b"hil_nvscisync_model_info\0";
