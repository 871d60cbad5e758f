//! The NvSciSync C ABI as the suite binds it and the reference model implements it.
//! Values are taken from public copies of NVIDIA's headers; `docs/nvscisync.md` records
//! which header and version each comes from. Checked against the `nvscisync.h` of
//! DRIVE OS 5.2.6 (NvSciSync 2.0), 6.0.5 (2.3 and 2.4), 6.0.6 (2.5), 6.0.8.1 (2.5 and 2.8)
//! and 6.0.10 (2.8), and `nvscierror.h` (copyright 2019-2023).
//!
//! Every 2.x header has the same ABI for what the suite calls: `NvSciSyncAccessPerm` holds
//! 64-bit bit flags (2.0 and 2.3 declare it as an enum of `(uint64_t)1U << n` values,
//! 2.4 and later as `typedef uint64_t`), and `NvSciSyncAttrKey` only grows: a key keeps
//! its value, each minor version appends keys before `UpperBound` ([`KEYS`]).
//!
//! NvSciSync 1.x differs: `NvSciSyncAccessPerm` is a plain C enum (WaitOnly = 0,
//! SignalOnly = 1, WaitSignal = 2, 4 bytes) and there is no
//! `NvSciSyncCheckVersionCompatibility`. These bindings speak 2.x only and refuse 1.x.
#![no_std]

use core::ffi::c_void;

pub mod ipc;

/// The major version these bindings speak.
pub const MAJOR_VERSION: u32 = 2;
/// The minor version the suite asks `NvSciSyncCheckVersionCompatibility` for: every
/// entry point its core binds is in the 2.0 header, so any 2.x library can run it.
pub const OLDEST_MINOR: u32 = 0;
/// The newest header these constants were checked against (2.8).
pub const NEWEST_MINOR: u32 = 8;

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
    // Codes the NvSciIpc calls and the NvSciSync export/import calls document
    // (nvscierror.h, the same values in every copy checked, 2019-2023).
    pub const NOT_PERMITTED: NvSciError = 0x0000_0021;
    pub const INVALID_OPERATION: NvSciError = 0x0000_0023;
    pub const NOT_INITIALIZED: NvSciError = 0x0000_0024;
    pub const RESOURCE_ERROR: NvSciError = 0x0000_0032;
    pub const TRY_IT_AGAIN: NvSciError = 0x0000_0201;
    pub const BUSY: NvSciError = 0x0000_0202;
    pub const NO_SPACE: NvSciError = 0x0000_1001;
    pub const NO_SUCH_ENTRY: NvSciError = 0x0000_1100;
    pub const CONNECTION_RESET: NvSciError = 0x0000_1200;

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
            NOT_PERMITTED => "NvSciError_NotPermitted",
            INVALID_OPERATION => "NvSciError_InvalidOperation",
            NOT_INITIALIZED => "NvSciError_NotInitialized",
            RESOURCE_ERROR => "NvSciError_ResourceError",
            TRY_IT_AGAIN => "NvSciError_TryItAgain",
            BUSY => "NvSciError_Busy",
            NO_SPACE => "NvSciError_NoSpace",
            NO_SUCH_ENTRY => "NvSciError_NoSuchEntry",
            CONNECTION_RESET => "NvSciError_ConnectionReset",
            _ => return None,
        })
    }
}

/// `NvSciSyncAccessPerm` in 2.x: 64-bit bit flags (an enum of 64-bit values in 2.0 and
/// 2.3, `typedef uint64_t` from 2.4; the same 8 bytes either way).
pub type AccessPerm = u64;
pub mod perm {
    pub const WAIT_ONLY: u64 = 1 << 0;
    pub const SIGNAL_ONLY: u64 = 1 << 1;
    pub const WAIT_SIGNAL: u64 = WAIT_ONLY | SIGNAL_ONLY;
    /// Export/import only; not valid for RequiredPerm.
    pub const AUTO: u64 = 1 << 63;
}

/// `NvSciSyncAttrKey`: sequential from LowerBound = 0. Values as in the 2.8 header; an
/// older library knows only the keys below its own UpperBound ([`upper_bound`]).
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
    /// UpperBound of the 2.8 header; see [`super::upper_bound`] for older libraries.
    pub const UPPER_BOUND: i32 = 14;
}

/// Something a row can need from the library: an attribute key or an entry point, and the
/// first NvSciSync 2.x minor version whose header declares it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Feature {
    /// The C name, e.g. `NvSciSyncAttrKey_RequireDeterministicFences`.
    pub name: &'static str,
    /// The key's value, for keys.
    pub key: Option<AttrKey>,
    /// First minor version (of major 2) whose header has it.
    pub since_minor: u32,
}

const fn k(name: &'static str, value: AttrKey, since_minor: u32) -> Feature {
    Feature {
        name,
        key: Some(value),
        since_minor,
    }
}

const fn f(name: &'static str, since_minor: u32) -> Feature {
    Feature {
        name,
        key: None,
        since_minor,
    }
}

/// Every public key, with the first header that declares it. Headers checked: 2.0 ends at
/// WaiterRequireTimestamps (UpperBound 6); 2.3 and 2.4 add RequireDeterministicFences …
/// MaxPrimitiveValue (UpperBound 10); 2.5 adds PrimitiveInfo, PeerLocationInfo, GpuId
/// (UpperBound 13); 2.8 adds PeerHwEngineArray (UpperBound 14). No 2.1, 2.2, 2.6 or 2.7
/// header was found, so a key is dated by the first header seen with it.
pub const KEYS: &[Feature] = &[
    k("NvSciSyncAttrKey_NeedCpuAccess", key::NEED_CPU_ACCESS, 0),
    k("NvSciSyncAttrKey_RequiredPerm", key::REQUIRED_PERM, 0),
    k("NvSciSyncAttrKey_ActualPerm", key::ACTUAL_PERM, 0),
    k(
        "NvSciSyncAttrKey_WaiterContextInsensitiveFenceExports",
        key::WAITER_CONTEXT_INSENSITIVE_FENCE_EXPORTS,
        0,
    ),
    k(
        "NvSciSyncAttrKey_WaiterRequireTimestamps",
        key::WAITER_REQUIRE_TIMESTAMPS,
        0,
    ),
    k(
        "NvSciSyncAttrKey_RequireDeterministicFences",
        key::REQUIRE_DETERMINISTIC_FENCES,
        3,
    ),
    k(
        "NvSciSyncAttrKey_NumTimestampSlots",
        key::NUM_TIMESTAMP_SLOTS,
        3,
    ),
    k(
        "NvSciSyncAttrKey_NumTaskStatusSlots",
        key::NUM_TASK_STATUS_SLOTS,
        3,
    ),
    k(
        "NvSciSyncAttrKey_MaxPrimitiveValue",
        key::MAX_PRIMITIVE_VALUE,
        3,
    ),
    k("NvSciSyncAttrKey_PrimitiveInfo", key::PRIMITIVE_INFO, 5),
    k(
        "NvSciSyncAttrKey_PeerLocationInfo",
        key::PEER_LOCATION_INFO,
        5,
    ),
    k("NvSciSyncAttrKey_GpuId", key::GPU_ID, 5),
    k(
        "NvSciSyncAttrKey_PeerHwEngineArray",
        key::PEER_HW_ENGINE_ARRAY,
        8,
    ),
];

/// Entry points the suite binds only when the library is new enough (absent from 2.0,
/// declared from the 2.3 header on).
pub const FUNCTIONS: &[Feature] = &[
    f("NvSciSyncFenceExtractFence", 3),
    f("NvSciSyncFenceUpdateFence", 3),
];

/// A key or entry point by its C name.
pub fn feature(name: &str) -> Option<&'static Feature> {
    KEYS.iter().chain(FUNCTIONS).find(|f| f.name == name)
}

/// `NvSciSyncAttrKey_UpperBound` of a 2.`minor` library: the first key value it does not know.
pub fn upper_bound(minor: u32) -> AttrKey {
    KEYS.iter()
        .filter(|f| f.since_minor <= minor)
        .filter_map(|f| f.key)
        .max()
        .unwrap_or(key::LOWER_BOUND)
        + 1
}

/// `NvSciSyncAttrKeyValuePair { NvSciSyncAttrKey attrKey; const void* value; size_t len; }`
/// (the same in every header, 1.0 included).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct KeyValuePair {
    pub attr_key: AttrKey,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upper_bound_follows_each_header() {
        // nvscisync.h: 2.0 (DRIVE OS 5.2.6), 2.3/2.4 (6.0.5), 2.5 (6.0.6), 2.8 (6.0.8.1, 6.0.10).
        assert_eq!(upper_bound(0), 6);
        assert_eq!(upper_bound(3), 10);
        assert_eq!(upper_bound(4), 10);
        assert_eq!(upper_bound(5), 13);
        assert_eq!(upper_bound(8), key::UPPER_BOUND);
    }

    #[test]
    fn every_key_below_the_2_8_upper_bound_is_dated_once() {
        for v in 1..key::UPPER_BOUND {
            assert_eq!(
                KEYS.iter().filter(|f| f.key == Some(v)).count(),
                1,
                "key {v}"
            );
        }
        assert_eq!(
            feature("NvSciSyncFenceExtractFence").map(|f| f.since_minor),
            Some(3)
        );
        assert!(feature("NvSciSyncAttrKey_Bogus").is_none());
    }
}
