//! NvSciIpc (`nvsciipc.h`) and the NvSciSync export/import layouts (`nvscisync.h`), as
//! the public headers give them. Headers checked: `nvsciipc.h` of DRIVE OS 5.2.6
//! (copyright 2018-2020, no version constants), 6.0.5 and 6.0.6 (NvSciIpc 1.0) and 6.0.10
//! (NvSciIpc 1.4); `nvscisync.h` 2.0 (5.2.6) … 2.8 (6.0.10). Every NvSciSync export/import
//! call below is declared in each of these `nvscisync.h` copies, 2.0 included: none is
//! gated by version, only some of their documented conditions are (see `docs/nvscisync.md`).

/// `typedef uint64_t NvSciIpcEndpoint;` (nvsciipc.h, every copy: 5.2.6 line 222,
/// 6.0.10 line 302).
pub type Endpoint = u64;

/// `struct NvSciIpcEndpointInfo { uint32_t nframes; uint32_t frame_size; }`
/// (nvsciipc.h, every copy: 5.2.6 line 227, 6.0.10 line 309).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EndpointInfo {
    pub nframes: u32,
    pub frame_size: u32,
}

/// `#define NVSCIIPC_MAX_ENDPOINT_NAME 64U`: "maximum Endpoint name length including null
/// terminator" (nvsciipc.h, every copy).
pub const MAX_ENDPOINT_NAME: usize = 64;

/// `NV_SCI_IPC_EVENT_*` (nvsciipc.h, every copy from 5.2.6 line 242 / 6.0.10 line 324 on;
/// WRITE_EMPTY and CONN_EST_ALL from 6.0.5).
pub mod event {
    pub const READ: u32 = 0x01;
    pub const WRITE: u32 = 0x02;
    pub const CONN_EST: u32 = 0x04;
    pub const CONN_RESET: u32 = 0x08;
    pub const WRITE_EMPTY: u32 = 0x10;
    /// `NV_SCI_IPC_EVENT_CONN_EST_ALL`: CONN_EST | WRITE | WRITE_EMPTY | READ.
    pub const CONN_EST_ALL: u32 = CONN_EST | WRITE | WRITE_EMPTY | READ;
}

/// The backend keyword of an `/etc/nvsciipc.cfg` line for endpoints between processes of
/// one OS: `INTER_PROCESS <endpoint1_name> <endpoint2_name> <nframes> <frame_size>`
/// (the cfg file's own header comment, DRIVE OS 6.0.5 … 6.0.8.1; its sample pairs use
/// 64 frames of 1536 bytes, e.g. `INTER_PROCESS ipc_test_0 ipc_test_1 64 1536`).
pub const CFG_INTER_PROCESS: &str = "INTER_PROCESS";

/// `typedef struct { uint64_t payload[7]; } NvSciSyncFenceIpcExportDescriptor;`
/// (nvscisync.h, 2.0 line 254 … 2.8 line 276).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FenceIpcExportDescriptor {
    pub payload: [u64; 7],
}

/// `typedef struct { uint64_t payload[128]; } NvSciSyncObjIpcExportDescriptor;`
/// (nvscisync.h, 2.0 line 265 … 2.8 line 287: "Exported data (blob) for NvSciSyncObj").
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ObjIpcExportDescriptor {
    pub payload: [u64; 128],
}

impl Default for ObjIpcExportDescriptor {
    fn default() -> Self {
        ObjIpcExportDescriptor { payload: [0; 128] }
    }
}

/// Export and import permissions, as the headers' "Valid value" lines say.
///
/// `NvSciSyncObjIpcExport` / `NvSciSyncObjIpcImport`: 2.0 "valid if it is set to
/// NvSciSyncAccessPerm_WaitOnly or NvSciSyncAccessPerm_Auto" and, for export, BadParameter
/// if "permissions flag contains signaling rights"; 2.3 and later "any value of
/// NvSciSyncAccessPerm", with BadParameter if the permissions are "larger … than those
/// set on NvSciSyncAttrKey_ActualPerm" or "smaller … than the expected permissions
/// requested by the receiving peer". `NvSciSyncIpcExportAttrListAndObj` keeps the 2.0
/// rule in every header ("permissions flag contains signaling rights" is BadParameter).
pub const SIGNAL_EXPORT_SINCE_MINOR: u32 = 3;

/// `timeoutUs` of `NvSciSyncObjIpcImport` and `NvSciSyncIpcImportAttrListAndObj` is
/// "Unused" in every header (2.0 … 2.8): neither call documents `NvSciError_Timeout`.
pub const IMPORT_TIMEOUT_USED: bool = false;

/// An entry point and the line declaring it in the oldest and the newest header read
/// (`nvscisync.h` 2.0 of DRIVE OS 5.2.6 / 2.8 of 6.0.10; `nvsciipc.h` of the same releases).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Declared {
    pub name: &'static str,
    pub line_oldest: u32,
    pub line_newest: u32,
}

const fn d(name: &'static str, line_oldest: u32, line_newest: u32) -> Declared {
    Declared {
        name,
        line_oldest,
        line_newest,
    }
}

/// The NvSciSync export/import calls: each is in every 2.x header (since minor 0), so none
/// is gated by version.
pub const SYNC_FUNCTIONS: &[Declared] = &[
    d("NvSciSyncAttrListIpcExportUnreconciled", 927, 1506),
    d("NvSciSyncAttrListIpcExportReconciled", 961, 1557),
    d("NvSciSyncAttrListIpcImportUnreconciled", 997, 1612),
    d("NvSciSyncAttrListIpcImportReconciled", 1060, 1697),
    d("NvSciSyncAttrListFreeDesc", 1077, 1733),
    d("NvSciSyncObjIpcExport", 1231, 2242),
    d("NvSciSyncObjIpcImport", 1283, 2318),
    d("NvSciSyncIpcExportFence", 1314, 2365),
    d("NvSciSyncIpcImportFence", 1342, 2413),
    d("NvSciSyncIpcExportAttrListAndObj", 1577, 2895),
    d("NvSciSyncAttrListAndObjFreeDesc", 1592, 2931),
    d("NvSciSyncIpcImportAttrListAndObj", 1649, 3016),
];

/// The NvSciIpc calls an application needs to move descriptors between two processes
/// (the non-"Safe" forms: the only ones in the 5.2.6 header, still declared in 6.0.10).
pub const IPC_FUNCTIONS: &[Declared] = &[
    d("NvSciIpcInit", 279, 381),
    d("NvSciIpcDeinit", 305, 412),
    d("NvSciIpcOpenEndpoint", 350, 472),
    d("NvSciIpcCloseEndpoint", 466, 589),
    d("NvSciIpcResetEndpoint", 500, 646),
    d("NvSciIpcRead", 554, 699),
    d("NvSciIpcWrite", 701, 862),
    d("NvSciIpcGetEndpointInfo", 830, 1052),
    d("NvSciIpcGetEvent", 951, 1098),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptor_sizes_are_the_headers() {
        assert_eq!(core::mem::size_of::<FenceIpcExportDescriptor>(), 56);
        assert_eq!(core::mem::size_of::<ObjIpcExportDescriptor>(), 1024);
        assert_eq!(core::mem::size_of::<EndpointInfo>(), 8);
        assert_eq!(event::CONN_EST_ALL, 0x17);
    }
}
