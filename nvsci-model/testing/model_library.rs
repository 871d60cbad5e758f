//! Builds hil's NvSciSync reference model as a shared library, for the integration tests
//! of other crates (included with `#[path]`). `cargo test` builds only the model's rlib,
//! so build the cdylib here, in a target dir of its own (the outer cargo holds the main one).

use std::path::{Path, PathBuf};
use std::process::Command;

pub fn model_library() -> PathBuf {
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("nvsci-model");
    let st = Command::new(env!("CARGO"))
        .args(["build", "-q", "-p", "nvsci-model", "--target-dir"])
        .arg(&target)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("cargo runs");
    assert!(st.success(), "building nvsci-model failed");
    let lib = target.join("debug/libnvscisync.so");
    assert!(lib.is_file(), "{} not built", lib.display());
    lib
}
