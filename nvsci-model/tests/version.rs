//! The model answers the version check as the header it presents documents, and knows the
//! keys of that header only. Each version runs in a child process: the model reads
//! `HIL_NVSCISYNC_MODEL_VERSION` once per process, as a real library has one version.
use nvsci_abi::{err, key, KeyValuePair};
use nvscisync as model;
use std::process::Command;

const EXPECT: &str = "HIL_MODEL_TEST_EXPECT_MINOR";

#[test]
fn the_default_is_2_8_and_only_2_x_up_to_minor_8_is_compatible() {
    if std::env::var_os(model::VERSION_ENV).is_some() {
        return; // a child of the test below, or a caller's choice: nothing to say about 2.8
    }
    let mut ok = false;
    for (major, minor, want) in [
        (2, 8, true),
        (2, 0, true),
        (2, 9, false),
        (1, 0, false),
        (3, 0, false),
    ] {
        assert_eq!(
            unsafe { model::NvSciSyncCheckVersionCompatibility(major, minor, &mut ok) },
            err::SUCCESS
        );
        assert_eq!(ok, want, "{major}.{minor}");
    }
    assert_eq!(
        unsafe { model::NvSciSyncCheckVersionCompatibility(2, 8, std::ptr::null_mut()) },
        err::BAD_PARAMETER
    );
}

#[test]
fn each_presented_version_answers_and_knows_keys_as_its_header() {
    for (text, minor) in [("2.0", 0), ("2.5", 5), ("2.8", 8)] {
        let out = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "child_checks_the_version_it_presents",
                "--nocapture",
            ])
            .env(model::VERSION_ENV, text)
            .env(EXPECT, minor.to_string())
            .output()
            .unwrap();
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "{text}: {all}");
        assert!(all.contains("1 passed"), "{text}: the child ran: {all}");
    }
    for bad in ["1.0", "2.9", "3.0", "two"] {
        assert_eq!(model::parse_version(bad), None, "{bad}");
    }
}

/// Runs only as a child of the test above (with the version in its environment).
#[test]
fn child_checks_the_version_it_presents() {
    let Some(minor) = std::env::var(EXPECT)
        .ok()
        .and_then(|m| m.parse::<u32>().ok())
    else {
        return;
    };
    let compatible = |m: u32| {
        let mut ok = false;
        let r = unsafe { model::NvSciSyncCheckVersionCompatibility(2, m, &mut ok) };
        assert_eq!(r, err::SUCCESS);
        ok
    };
    assert!(compatible(0) && compatible(minor) && !compatible(minor + 1));
    let info = unsafe { std::ffi::CStr::from_ptr(model::hil_nvscisync_model_info()) };
    let info = info.to_string_lossy();
    assert!(info.contains(&format!("NvSciSync 2.{minor} ")), "{info}");

    let mut m = std::ptr::null_mut();
    let mut l = std::ptr::null_mut();
    unsafe {
        assert_eq!(model::NvSciSyncModuleOpen(&mut m), err::SUCCESS);
        assert_eq!(model::NvSciSyncAttrListCreate(m, &mut l), err::SUCCESS);
    }
    let get = |k: i32| {
        let mut p = [KeyValuePair {
            attr_key: k,
            value: std::ptr::null(),
            len: 0,
        }];
        unsafe { model::NvSciSyncAttrListGetAttrs(l, p.as_mut_ptr(), 1) }
    };
    let bound = nvsci_abi::upper_bound(minor);
    assert_eq!(get(bound - 1), err::SUCCESS, "last key of 2.{minor}");
    assert_eq!(get(bound), err::BAD_PARAMETER, "UpperBound of 2.{minor}");
    let yes = true;
    let det = KeyValuePair {
        attr_key: key::REQUIRE_DETERMINISTIC_FENCES,
        value: &yes as *const bool as *const std::ffi::c_void,
        len: 1,
    };
    let want = if minor >= 3 {
        err::SUCCESS
    } else {
        err::BAD_PARAMETER
    };
    assert_eq!(
        unsafe { model::NvSciSyncAttrListSetAttrs(l, &det, 1) },
        want
    );
    unsafe {
        model::NvSciSyncAttrListFree(l);
        model::NvSciSyncModuleClose(m);
    }
}
