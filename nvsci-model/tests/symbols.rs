//! The built `libnvscisync.so` exports every NvSciIpc and NvSciSync export/import entry
//! point that `nvsci_abi::ipc` lists from the headers, under the headers' names, so the
//! suite can bind them from the model as from the real libraries.
#[path = "../testing/model_library.rs"]
mod model_build;

#[test]
fn the_library_exports_every_ipc_entry_point_the_headers_declare() {
    let lib = model_build::model_library();
    let path = std::ffi::CString::new(lib.as_os_str().as_encoded_bytes()).unwrap();
    let h = unsafe { libc::dlopen(path.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
    assert!(!h.is_null(), "dlopen {}", lib.display());
    let all = nvsci_abi::ipc::SYNC_FUNCTIONS
        .iter()
        .chain(nvsci_abi::ipc::IPC_FUNCTIONS);
    let missing: Vec<&str> = all
        .filter(|f| {
            let name = std::ffi::CString::new(f.name).unwrap();
            unsafe { libc::dlsym(h, name.as_ptr()) }.is_null()
        })
        .map(|f| f.name)
        .collect();
    assert!(missing.is_empty(), "not exported: {missing:?}");
    assert_eq!(nvsci_abi::ipc::SYNC_FUNCTIONS.len(), 12);
}
