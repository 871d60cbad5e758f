//! What the board is: collected once per run and sent as the first event.

use hil_proto::Facts;

/// Probes every backend; a missing one is recorded with its reason, never an error.
pub fn collect() -> Facts {
    let mut f = Facts {
        suite_version: env!("CARGO_PKG_VERSION").to_string(),
        ..Facts::default()
    };
    host(&mut f.properties);
    cuda(&mut f);
    cudart(&mut f);
    tables(&mut f.properties);
    nvscisync_and_kernel_log(&mut f.properties);
    for (backend, imp) in crate::backend::implementations() {
        f.implementations.insert(backend.into(), imp);
    }
    // What the results were produced under: the runner records these and refuses to
    // resume a run under others (docs/environment.md).
    f.properties.extend(crate::settings::get().facts());
    f.properties.insert("suite.sha256".into(), self_sha256());
    f
}

type Properties = std::collections::BTreeMap<String, String>;

fn host(p: &mut Properties) {
    let u = crate::os::uname();
    p.insert("arch".into(), std::env::consts::ARCH.into());
    p.insert("hostname".into(), u.nodename);
    p.insert("kernel".into(), u.release);
    p.insert("libc".into(), crate::os::libc_version());
    // How fd ownership is judged decides whether in-process cases may run side by side.
    p.insert(
        "parallel.fd_identity".into(),
        match crate::fdcheck::supported() {
            Ok(()) => "kcmp".into(),
            Err(why) => format!("none ({why}): in-process cases run one at a time"),
        },
    );
}

fn cuda(f: &mut Facts) {
    let p = &mut f.properties;
    match crate::cuda::driver() {
        Ok(d) => {
            p.insert(
                "cuda.version".into(),
                crate::cuda::fmt_cuda_version(d.cuda_version),
            );
            p.insert(
                "driver.version".into(),
                d.driver_version.clone().unwrap_or_else(|| "unknown".into()),
            );
            p.insert("cuda.devices".into(), d.devices.len().to_string());
            for dev in &d.devices {
                p.insert(format!("cuda.device.{}.name", dev.index), dev.name.clone());
                p.insert(
                    format!("cuda.device.{}.uuid", dev.index),
                    crate::cuda::fmt_uuid(&dev.uuid),
                );
            }
            f.implementations.insert("cuda".into(), d.implementation());
        }
        Err(e) => {
            p.insert("cuda.version".into(), "none".into());
            p.insert("driver.version".into(), "none".into());
            f.implementations
                .insert("cuda".into(), format!("none: {e}"));
        }
    }
}

fn cudart(f: &mut Facts) {
    let p = &mut f.properties;
    match crate::cudart::runtime() {
        Ok(rt) => {
            p.insert(
                "cudart.version".into(),
                crate::cuda::fmt_cuda_version(rt.version),
            );
            p.insert(
                "cudart.semaphore_entry_points".into(),
                rt.semaphore_entry_points(),
            );
            f.implementations
                .insert("cudart".into(), rt.implementation());
        }
        Err(e) => {
            p.insert("cudart.version".into(), "none".into());
            f.implementations
                .insert("cudart".into(), format!("none: {e}"));
        }
    }
}

/// Which tables produced the results: a conformance bundle pins them by hash.
fn tables(p: &mut Properties) {
    let Ok(sources) = crate::table::sources(crate::tables_dir().map(|p| p.as_path())) else {
        return;
    };
    use sha2::{Digest, Sha256};
    let mut all = Sha256::new();
    for (file, text) in &sources {
        let h: String = Sha256::digest(text.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        all.update(file.as_bytes());
        all.update(h.as_bytes());
        p.insert(format!("table.{file}.sha256"), h);
    }
    p.insert(
        "tables.sha256".into(),
        all.finalize().iter().map(|b| format!("{b:02x}")).collect(),
    );
}

fn nvscisync_and_kernel_log(p: &mut Properties) {
    // The NvSciSync version the library answers (rows are gated by it), and whether it is
    // hil's model: a model result must never read as a hardware one.
    let (version, source) = match crate::nvsci::lib() {
        Ok(l) if l.is_model => (l.version.to_string(), "hil reference model (not hardware)"),
        Ok(l) => (l.version.to_string(), "library"),
        Err(_) => ("none".to_string(), "none"),
    };
    p.insert("nvscisync.version".into(), version);
    p.insert("nvscisync.source".into(), source.into());
    // Said once here, never per case: where driver lines come from, or why there are none.
    p.insert("kernel_log".into(), crate::kernel_log::describe());
    if let Some(t) = crate::kernel_log::source::taint() {
        p.insert("kernel.tainted".into(), t.to_string());
    }
}

/// The running binary's SHA-256: two builds of one version are told apart.
fn self_sha256() -> String {
    use sha2::{Digest, Sha256};
    let hash = || -> std::io::Result<String> {
        let mut file = std::fs::File::open("/proc/self/exe")?;
        let mut h = Sha256::new();
        std::io::copy(&mut file, &mut h)?;
        Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
    };
    hash().unwrap_or_else(|e| format!("unknown ({e})"))
}
