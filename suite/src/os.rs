//! What the host OS is: kernel, host name, C library. A leaf: the facts and the
//! `host_info` op both name it.

pub struct Uname {
    pub release: String,
    pub nodename: String,
}

pub fn uname() -> Uname {
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    let field = |f: &[libc::c_char]| unsafe {
        std::ffi::CStr::from_ptr(f.as_ptr())
            .to_string_lossy()
            .into_owned()
    };
    if unsafe { libc::uname(&mut u) } != 0 {
        return Uname {
            release: "unknown".into(),
            nodename: "unknown".into(),
        };
    }
    Uname {
        release: field(&u.release),
        nodename: field(&u.nodename),
    }
}

pub fn libc_version() -> String {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let v = unsafe { std::ffi::CStr::from_ptr(libc::gnu_get_libc_version()) };
        format!("glibc {}", v.to_string_lossy())
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        "unknown".to_string()
    }
}
