//! The CUDA runtime bindings' loader: what a board without libcudart reports, what a
//! bad `HIL_CUDART` reports, and the struct layouts. `gpu_probe` (ignored) checks the
//! bindings against a real runtime and GPU; see its comment for how to run it.

use hil_suite::cudart::{self, ffi, DIRS, SONAMES};
use hil_suite::error::{Api, OpError};
use std::ffi::OsStr;
use std::path::PathBuf;

#[test]
fn search_without_override_names_every_place_tried() {
    match cudart::probe(None) {
        Err(reason) => {
            assert!(reason.contains("HIL_CUDART unset"), "{reason}");
            for name in SONAMES {
                assert!(
                    reason.contains(&format!("{name} via the loader path")),
                    "{name} missing from: {reason}"
                );
            }
            for dir in DIRS {
                assert!(reason.contains(dir), "{dir} missing from: {reason}");
            }
        }
        // A machine with CUDA installed: the search found a real runtime.
        Ok(rt) => {
            assert!(rt.version >= 10000, "{}", rt.implementation());
            assert!(PathBuf::from(&rt.path).is_file(), "{}", rt.path);
        }
    }
}

#[test]
fn cached_probe_is_not_supported_with_the_same_reason_never_a_panic() {
    let direct = cudart::probe(std::env::var_os(cudart::ENV_VAR).as_deref());
    match (cudart::runtime(), direct) {
        (Err(OpError::NotSupported(a)), Err(b)) => assert_eq!(a, b),
        (Ok(a), Ok(b)) => assert_eq!(a.path, b.path),
        (a, b) => panic!(
            "runtime() and probe() disagree: {:?} vs {:?}",
            a.err(),
            b.err()
        ),
    }
    // Entry points without a runtime are not-supported too.
    if cudart::runtime().is_err() {
        for r in [
            cudart::set_device(0),
            cudart::device_synchronize(),
            cudart::Stream::new().map(drop),
        ] {
            assert!(matches!(r, Err(OpError::NotSupported(_))), "{r:?}");
        }
        assert!(matches!(
            cudart::last_error(),
            Err(OpError::NotSupported(_))
        ));
    }
}

#[test]
fn empty_override_counts_as_unset() {
    let unset = cudart::probe(None).err();
    let empty = cudart::probe(Some(OsStr::new(""))).err();
    assert_eq!(unset, empty);
}

#[test]
fn override_naming_a_missing_file_says_so() {
    let reason = cudart::probe(Some(OsStr::new("/nonexistent/libcudart.so.13")))
        .err()
        .expect("a missing file cannot load");
    assert!(
        reason.starts_with("HIL_CUDART=/nonexistent/libcudart.so.13: "),
        "{reason}"
    );
    assert!(reason.contains("No such file or directory"), "{reason}");
}

#[test]
fn override_naming_a_file_that_is_no_library_says_so() {
    let dir = std::env::temp_dir().join(format!("hil-cudart-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("libcudart.so.13");
    std::fs::write(&path, "not an ELF file, just text\n").unwrap();
    let reason = cudart::probe(Some(path.as_os_str()))
        .err()
        .expect("a text file cannot load");
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(
        reason.starts_with(&format!("HIL_CUDART={}: ", path.display())),
        "{reason}"
    );
    assert!(
        reason.contains("invalid ELF header") || reason.contains("file too short"),
        "{reason}"
    );
}

/// A real shared library that is not CUDA (the C library this test runs on): loading
/// works, and the reason names the first runtime entry point it lacks.
#[test]
fn override_naming_a_non_cuda_library_names_the_missing_symbol() {
    let libc_path = {
        let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
        let addr = libc::getpid as *const libc::c_void;
        assert_ne!(unsafe { libc::dladdr(addr, &mut info) }, 0);
        unsafe { std::ffi::CStr::from_ptr(info.dli_fname) }
            .to_string_lossy()
            .into_owned()
    };
    let reason = cudart::probe(Some(OsStr::new(&libc_path)))
        .err()
        .expect("libc is not a CUDA runtime");
    assert!(
        reason.starts_with(&format!("HIL_CUDART={libc_path}: ")),
        "{reason}"
    );
    assert!(
        reason.contains("lacks cudaRuntimeGetVersion (not a CUDA runtime library?)"),
        "{reason}"
    );
}

/// The sizes cuda_runtime_api.h / driver_types.h give (13.0 for the current structs,
/// 11.x/12.x for the `_v1` ones); also asserted at compile time in `ffi`.
#[test]
fn struct_layouts_match_the_headers() {
    use std::mem::{offset_of, size_of};
    assert_eq!(size_of::<ffi::SemHandleDesc>(), 96);
    assert_eq!(offset_of!(ffi::SemHandleDesc, handle), 8);
    assert_eq!(offset_of!(ffi::SemHandleDesc, flags), 24);
    assert_eq!(size_of::<ffi::SignalParams>(), 144);
    assert_eq!(size_of::<ffi::WaitParams>(), 144);
    assert_eq!(offset_of!(ffi::WaitParams, timeout_ms), 24);
    assert_eq!(size_of::<ffi::SignalParamsV1>(), 32);
    assert_eq!(size_of::<ffi::WaitParamsV1>(), 40);
    assert_eq!(ffi::HANDLE_TYPE_OPAQUE_FD, 1);
    assert_eq!(ffi::HANDLE_TYPE_NVSCISYNC, 6);
    assert_eq!(ffi::HANDLE_TYPE_TIMELINE_SEMAPHORE_FD, 9);
}

fn api_code(r: Result<(), OpError>) -> Option<i64> {
    match r {
        Ok(()) => Some(0),
        Err(OpError::Api {
            api: Api::Cudart,
            code,
            ..
        }) => Some(code),
        Err(e) => panic!("not a runtime API result: {e}"),
    }
}

/// Dev-only check on a GPU machine (needs libcudart and a device; run with
/// `--ignored --nocapture --test-threads 1`; `HIL_CUDART=PATH` selects another runtime).
#[test]
#[ignore = "needs a CUDA runtime and a GPU"]
fn gpu_probe() {
    let rt = cudart::runtime().unwrap_or_else(|e| panic!("no runtime: {e}"));
    println!("implementation: {}", rt.implementation());
    println!("entry points:   {}", rt.semaphore_entry_points());
    println!(
        "version {} driver_version {}",
        rt.version, rt.driver_version
    );
    let n = rt.device_count().expect("cudaGetDeviceCount");
    println!("devices: {n}");
    assert!(n >= 1);
    cudart::set_device(0).expect("cudaSetDevice(0)");
    let s = cudart::Stream::new().expect("cudaStreamCreateWithFlags");
    s.synchronize().expect("cudaStreamSynchronize");

    let r = cudart::ExternalSemaphore::import(cudart::ImportDesc {
        handle_type: ffi::HANDLE_TYPE_NVSCISYNC,
        handle: 0,
        flags: 0,
    })
    .map(drop);
    println!("import NvSciSync NULL object: {r:?}");
    println!(
        "  last_error {} then {}",
        cudart::last_error().unwrap(),
        cudart::last_error().unwrap()
    );
    assert_eq!(api_code(r), Some(1));

    let code = unsafe { cudart::nvsci_attributes(std::ptr::null_mut(), 0, 1) }.unwrap();
    println!("cudaDeviceGetNvSciSyncAttributes(NULL, 0, 1) = {code}");
    assert_eq!(code, 400);

    let r = cudart::set_device(9999);
    println!("cudaSetDevice(9999): {r:?}");
    println!(
        "  peek {} last_error {} then {}",
        cudart::peek_last_error().unwrap(),
        cudart::last_error().unwrap(),
        cudart::last_error().unwrap()
    );
    assert_eq!(api_code(r), Some(101));

    cudart::set_device(0).expect("cudaSetDevice(0)");
    cudart::device_synchronize().expect("cudaDeviceSynchronize");
    drop(s);
    println!("gpu_probe: all checks held");
}
