//! The model answers the version check the bindings make before using it.
use nvscisync::NvSciSyncCheckVersionCompatibility as check;

#[test]
fn only_the_2_x_abi_up_to_minor_8_is_compatible() {
    let mut ok = false;
    for (major, minor, want) in [
        (2, 8, true),
        (2, 0, true),
        (2, 9, false),
        (1, 0, false),
        (3, 0, false),
    ] {
        assert_eq!(
            unsafe { check(major, minor, &mut ok) },
            nvsci_abi::err::SUCCESS
        );
        assert_eq!(ok, want, "{major}.{minor}");
    }
    assert_eq!(
        unsafe { check(2, 8, std::ptr::null_mut()) },
        nvsci_abi::err::BAD_PARAMETER
    );
}
