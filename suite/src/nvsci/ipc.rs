//! Safe layer over NvSciIpc (`libnvsciipc.so.1`, loaded at run time like NvSciSync) and
//! NvSciSync's export/import calls: endpoints are closed on drop, descriptors are copied
//! into owned bytes and the library's buffers freed, imports give owned handles.

use super::{ffi, lib, nv, AttrList, Fence, Lib, Module, Obj};
use crate::error::OpError;
use nvsci_abi::ipc::{EndpointInfo, FenceIpcExportDescriptor, ObjIpcExportDescriptor};
use std::ffi::c_void;
use std::sync::OnceLock;

pub const LIB_NAME: &str = "libnvsciipc.so.1";
/// A library file to load instead of `libnvsciipc.so.1` from the loader's path (what
/// `hil-run --board model` sets to hil's reference model, which answers NvSciIpc too).
pub const LIB_ENV: &str = "HIL_NVSCIIPC_LIB";

pub struct IpcLib {
    _lib: libloading::Library,
    fns: ffi::IpcFns,
}

/// Loads NvSciIpc and calls `NvSciIpcInit` once per process (never `NvSciIpcDeinit`: it
/// would close the endpoints of every case of this process). `Err` is the not-supported
/// reason.
pub fn ipc_lib() -> Result<&'static IpcLib, OpError> {
    static LIB: OnceLock<Result<IpcLib, String>> = OnceLock::new();
    LIB.get_or_init(load)
        .as_ref()
        .map_err(|r| OpError::NotSupported(r.clone()))
}

fn load() -> Result<IpcLib, String> {
    let (file, via) = match &crate::settings::get().nvsciipc_lib {
        Some(p) => (p.clone().into_os_string(), format!(" (from ${LIB_ENV})")),
        None => (LIB_NAME.into(), String::new()),
    };
    let shown = std::path::Path::new(&file).display().to_string();
    let lib = unsafe { libloading::Library::new(&file) }
        .map_err(|e| format!("{shown}{via} not loadable: {e}"))?;
    let fns = unsafe { ffi::load_ipc(&lib, &shown) }?;
    let code = unsafe { (fns.Init)() };
    if code != 0 {
        return Err(format!(
            "NvSciIpcInit returned {} ({code:#x}): the endpoint table could not be read \
             (/etc/nvsciipc.cfg, or the file named by HIL_NVSCIIPC_CFG for hil's model)",
            nvsci_abi::err::name(code).unwrap_or("unknown")
        ));
    }
    Ok(IpcLib { _lib: lib, fns })
}

/// NvSciSync's export/import calls, or not-supported naming the one the library lacks.
pub fn sync_ipc(l: &Lib) -> Result<&ffi::SyncIpcFns, OpError> {
    l.fns
        .ipc
        .as_ref()
        .map_err(|why| OpError::NotSupported(why.clone()))
}

/// An open NvSciIpc endpoint, closed on drop.
pub struct Endpoint {
    l: &'static IpcLib,
    pub raw: ffi::Endpoint,
    pub name: String,
}

impl Endpoint {
    /// NvSciIpcOpenEndpoint; the error keeps its code (Busy: another process has it).
    pub fn open(name: &str) -> Result<Endpoint, OpError> {
        let l = ipc_lib()?;
        let c = std::ffi::CString::new(name)
            .map_err(|_| OpError::Row(format!("endpoint name {name:?} holds a NUL")))?;
        let mut raw = 0;
        nv("NvSciIpcOpenEndpoint", unsafe {
            (l.fns.OpenEndpoint)(c.as_ptr(), &mut raw)
        })?;
        Ok(Endpoint {
            l,
            raw,
            name: name.to_string(),
        })
    }

    /// NvSciIpcResetEndpoint: required once before the endpoint is used.
    pub fn reset(&self) {
        unsafe { (self.l.fns.ResetEndpoint)(self.raw) }
    }

    pub fn info(&self) -> Result<EndpointInfo, OpError> {
        let mut info = EndpointInfo::default();
        nv("NvSciIpcGetEndpointInfo", unsafe {
            (self.l.fns.GetEndpointInfo)(self.raw, &mut info)
        })?;
        Ok(info)
    }

    /// NvSciIpcGetEvent: the `NV_SCI_IPC_EVENT_*` bits pending.
    pub fn events(&self) -> Result<u32, OpError> {
        let mut ev = 0;
        nv("NvSciIpcGetEvent", unsafe {
            (self.l.fns.GetEvent)(self.raw, &mut ev)
        })?;
        Ok(ev)
    }

    /// NvSciIpcRead of one frame into `buf`: its length, or the error code.
    pub fn read(&self, buf: &mut [u8]) -> Result<usize, OpError> {
        let mut n = 0;
        nv("NvSciIpcRead", unsafe {
            (self.l.fns.Read)(self.raw, buf.as_mut_ptr() as *mut c_void, buf.len(), &mut n)
        })?;
        Ok(n.max(0) as usize)
    }

    /// NvSciIpcWrite of one frame.
    pub fn write(&self, frame: &[u8]) -> Result<(), OpError> {
        let mut n = 0;
        nv("NvSciIpcWrite", unsafe {
            (self.l.fns.Write)(
                self.raw,
                frame.as_ptr() as *const c_void,
                frame.len(),
                &mut n,
            )
        })?;
        if n as usize != frame.len() {
            return Err(OpError::Check(format!(
                "NvSciIpcWrite wrote {n} of {} bytes",
                frame.len()
            )));
        }
        Ok(())
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        unsafe { (self.l.fns.CloseEndpoint)(self.raw) }
    }
}

/// A descriptor the library allocated, copied out and freed (`NvSciSyncAttrListFreeDesc`).
unsafe fn take_desc(f: &ffi::SyncIpcFns, buf: *mut c_void, len: usize) -> Vec<u8> {
    if buf.is_null() {
        return Vec::new();
    }
    let v = std::slice::from_raw_parts(buf as *const u8, len).to_vec();
    (f.AttrListFreeDesc)(buf);
    v
}

/// NvSciSyncAttrListIpcExportUnreconciled of `lists` for the peer behind `ep`.
pub fn export_unreconciled(lists: &[&AttrList], ep: &Endpoint) -> Result<Vec<u8>, OpError> {
    let l = lib()?;
    let f = sync_ipc(l)?;
    let raw: Vec<_> = lists.iter().map(|a| a.raw).collect();
    let (mut buf, mut len) = (std::ptr::null_mut(), 0);
    nv("NvSciSyncAttrListIpcExportUnreconciled", unsafe {
        (f.AttrListIpcExportUnreconciled)(raw.as_ptr(), raw.len(), ep.raw, &mut buf, &mut len)
    })?;
    Ok(unsafe { take_desc(f, buf, len) })
}

/// NvSciSyncAttrListIpcExportReconciled of `list` for the peer behind `ep`.
pub fn export_reconciled(list: &AttrList, ep: &Endpoint) -> Result<Vec<u8>, OpError> {
    let f = sync_ipc(list.l)?;
    let (mut buf, mut len) = (std::ptr::null_mut(), 0);
    nv("NvSciSyncAttrListIpcExportReconciled", unsafe {
        (f.AttrListIpcExportReconciled)(list.raw, ep.raw, &mut buf, &mut len)
    })?;
    Ok(unsafe { take_desc(f, buf, len) })
}

impl Module {
    /// NvSciSyncAttrListIpcImportUnreconciled of `desc` as it arrived on `ep`.
    pub fn import_unreconciled(&self, ep: &Endpoint, desc: &[u8]) -> Result<AttrList, OpError> {
        let f = sync_ipc(self.l)?;
        let mut raw = std::ptr::null_mut();
        nv("NvSciSyncAttrListIpcImportUnreconciled", unsafe {
            (f.AttrListIpcImportUnreconciled)(
                self.raw,
                ep.raw,
                desc.as_ptr() as *const c_void,
                desc.len(),
                &mut raw,
            )
        })?;
        Ok(AttrList { l: self.l, raw })
    }

    /// NvSciSyncAttrListIpcImportReconciled of `desc`, validated against `inputs`.
    pub fn import_reconciled(
        &self,
        ep: &Endpoint,
        desc: &[u8],
        inputs: &[&AttrList],
    ) -> Result<AttrList, OpError> {
        let f = sync_ipc(self.l)?;
        let raw_in: Vec<_> = inputs.iter().map(|a| a.raw).collect();
        let mut raw = std::ptr::null_mut();
        nv("NvSciSyncAttrListIpcImportReconciled", unsafe {
            (f.AttrListIpcImportReconciled)(
                self.raw,
                ep.raw,
                desc.as_ptr() as *const c_void,
                desc.len(),
                raw_in.as_ptr(),
                raw_in.len(),
                &mut raw,
            )
        })?;
        Ok(AttrList { l: self.l, raw })
    }
}

impl Obj {
    /// NvSciSyncObjIpcExport with permission `perm` for the peer behind `ep`.
    pub fn ipc_export(&self, perm: u64, ep: &Endpoint) -> Result<ObjIpcExportDescriptor, OpError> {
        let f = sync_ipc(self.l)?;
        let mut d = ObjIpcExportDescriptor::default();
        nv("NvSciSyncObjIpcExport", unsafe {
            (f.ObjIpcExport)(self.raw, perm, ep.raw, &mut d)
        })?;
        Ok(d)
    }

    /// NvSciSyncObjIpcImport of `desc` as it arrived on `ep`, against the reconciled list
    /// imported for it; `timeout_us` is passed as given (the headers call it "Unused").
    pub fn ipc_import(
        ep: &Endpoint,
        desc: &ObjIpcExportDescriptor,
        input: &AttrList,
        perm: u64,
        timeout_us: i64,
    ) -> Result<Obj, OpError> {
        let f = sync_ipc(input.l)?;
        let mut raw = std::ptr::null_mut();
        nv("NvSciSyncObjIpcImport", unsafe {
            (f.ObjIpcImport)(ep.raw, desc, input.raw, perm, timeout_us, &mut raw)
        })?;
        Ok(Obj { l: input.l, raw })
    }

    /// NvSciSyncIpcImportFence of `desc` for this object.
    pub fn import_fence(&self, desc: &FenceIpcExportDescriptor) -> Result<Fence, OpError> {
        let f = sync_ipc(self.l)?;
        let mut fence = Fence::cleared(self.l);
        nv("NvSciSyncIpcImportFence", unsafe {
            (f.IpcImportFence)(self.raw, desc, &mut fence.raw)
        })?;
        Ok(fence)
    }
}

impl Fence {
    /// NvSciSyncIpcExportFence for the peer behind `ep`.
    pub fn ipc_export(&self, ep: &Endpoint) -> Result<FenceIpcExportDescriptor, OpError> {
        let f = sync_ipc(self.l)?;
        let mut d = FenceIpcExportDescriptor::default();
        nv("NvSciSyncIpcExportFence", unsafe {
            (f.IpcExportFence)(&self.raw, ep.raw, &mut d)
        })?;
        Ok(d)
    }
}

/// A `#[repr(C)]` descriptor as the bytes sent between processes, and back.
pub fn desc_bytes<T: Copy>(d: &T) -> Vec<u8> {
    // SAFETY: the descriptors are plain arrays of u64.
    unsafe { std::slice::from_raw_parts(d as *const T as *const u8, std::mem::size_of::<T>()) }
        .to_vec()
}

/// The descriptor in `bytes`; shorter input leaves the rest zero, longer is cut.
pub fn desc_from<T: Copy + Default>(bytes: &[u8]) -> T {
    let mut d = T::default();
    let n = bytes.len().min(std::mem::size_of::<T>());
    // SAFETY: the descriptors are plain arrays of u64: any bytes are a value.
    unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), &mut d as *mut T as *mut u8, n) };
    d
}
