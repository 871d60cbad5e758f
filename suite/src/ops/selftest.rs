//! Ops that misbehave on purpose, for testing the harness and runner themselves
//! (crash, hang, error, silent success). Used by the test tables under
//! `suite/tests/tables/`, never by the conformance tables.

use super::{Ctx, OpDef, OpError, OpResult};
use crate::types::Api;
use hil_proto::key as obs_key;
use hil_proto::Observation;

pub static OPS: &[OpDef] = &[
    OpDef {
        name: "selftest_ok",
        params: &[],
        doc: "Succeeds (harness self-test).",
        run: |_| Ok(vec![Observation::new(obs_key::SELFTEST, "ok")]),
    },
    OpDef {
        name: "selftest_check_fails",
        params: &[],
        doc: "Its own check fails (harness self-test).",
        run: |_| Err(OpError::Check("selftest: check failed on purpose".into())),
    },
    OpDef {
        name: "selftest_api_error",
        params: &["code"],
        doc: "An API call 'returns' param `code` (harness self-test).",
        run: api_error,
    },
    OpDef {
        name: "selftest_abort",
        params: &[],
        doc: "Aborts the process, SIGABRT (harness self-test).",
        run: |_| {
            eprintln!("selftest: about to abort");
            std::process::abort()
        },
    },
    OpDef {
        name: "selftest_segv",
        params: &[],
        doc: "Dies of SIGSEGV (harness self-test).",
        run: |_| {
            eprintln!("selftest: about to write through a null pointer");
            // A real fault, as a driver bug would cause: raise(SIGSEGV) alone is
            // swallowed by the Rust runtime's own handler.
            unsafe { std::ptr::null_mut::<u64>().write_volatile(1) };
            Ok(vec![])
        },
    },
    OpDef {
        name: "selftest_sleep",
        params: &["ms"],
        doc: "Sleeps param `ms` then succeeds: a case of realistic length (benchmarks).",
        run: |c| {
            std::thread::sleep(std::time::Duration::from_millis(c.param_u64("ms", 20)?));
            Ok(vec![])
        },
    },
    OpDef {
        name: "selftest_flaky",
        params: &["marker"],
        doc:
            "Fails the first time (creating file param `marker`), passes afterwards (retry tests).",
        run: |c| {
            let marker = c.param_str("marker", "selftest-flaky.marker")?;
            if std::path::Path::new(marker).exists() {
                return Ok(vec![]);
            }
            std::fs::write(marker, b"")
                .map_err(|e| OpError::Row(format!("marker {marker}: {e}")))?;
            Err(OpError::Check(
                "selftest: fails on the first attempt only".into(),
            ))
        },
    },
    OpDef {
        name: "selftest_hang",
        params: &["seconds"],
        doc: "Sleeps param `seconds` (default 3600) (harness self-test).",
        run: hang,
    },
    OpDef {
        name: "selftest_driver_log",
        params: &["file", "line", "level", "after_ms", "after_case", "once"],
        doc: "After param `after_ms` (default 0), writes param `line` at level param `level` (default 3, err) to the kernel log param `file`, standing in for the GPU driver: to /dev/kmsg as a new record, to any other file appended as a kmsg record; `{pid}` becomes this process's id, `{pci}` the PCI address of the case's first device. Param `after_case: 1` writes it once the case's kernel log window has closed (an in-process case), as a driver logging between cases; param `once: PATH` writes only if PATH does not exist, creating it (a fault that does not recur). Then succeeds (harness self-test).",
        run: driver_log,
    },
    OpDef {
        name: "selftest_not_supported",
        params: &["reason"],
        doc: "Reports not-supported with param `reason`, as a probe of what the board lacks would (harness self-test).",
        run: |c| {
            Err(OpError::NotSupported(
                c.param_str("reason", "selftest: the board lacks it")?.to_string(),
            ))
        },
    },
    OpDef {
        name: "selftest_device_alone",
        params: &["ms"],
        doc: "Holds the case's devices for param `ms` and fails if another in-process case holds one at the same time (harness self-test of the device gate).",
        run: device_alone,
    },
];

/// Devices held by in-process self-test cases right now.
fn held() -> &'static std::sync::Mutex<Vec<u32>> {
    static H: std::sync::OnceLock<std::sync::Mutex<Vec<u32>>> = std::sync::OnceLock::new();
    H.get_or_init(Default::default)
}

fn device_alone(c: &Ctx) -> OpResult {
    let devs = c.case.devices();
    {
        let mut h = held().lock().unwrap_or_else(|p| p.into_inner());
        if let Some(d) = devs.iter().find(|d| h.contains(d)) {
            return Err(OpError::Check(format!(
                "another in-process case was using device {d} at the same time"
            )));
        }
        h.extend(&devs);
    }
    std::thread::sleep(std::time::Duration::from_millis(c.param_u64("ms", 30)?));
    held()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .retain(|d| !devs.contains(d));
    Ok(vec![Observation::new(
        obs_key::DEVICES,
        format!("{devs:?}"),
    )])
}

fn api_error(c: &Ctx) -> OpResult {
    Err(OpError::Api {
        api: Api::Cuda,
        call: "selftestCall".into(),
        code: c.param_i64("code", 999)?,
    })
}

fn hang(c: &Ctx) -> OpResult {
    let s = c.param_u64("seconds", 3600)?;
    crate::progress::step("selftest sleep");
    std::thread::sleep(std::time::Duration::from_secs(s));
    Ok(vec![])
}

fn driver_log(c: &Ctx) -> OpResult {
    use std::io::Write;
    use std::os::unix::fs::FileTypeExt;
    let file = c.param_str("file", "/dev/kmsg")?;
    let mut text = c
        .param_str(
            "line",
            "NVRM: Xid (PCI:0000:00:00): 31, pid={pid}, name=hil-suite",
        )?
        .replace("{pid}", &std::process::id().to_string());
    if text.contains("{pci}") {
        let dev = c.case.devices().first().copied().ok_or_else(|| {
            OpError::Row("`{pci}` in `line` needs a case with a device axis".into())
        })?;
        let pci = crate::pci::pci_of(dev).ok_or_else(|| {
            OpError::NotSupported(format!(
                "no PCI address known for CUDA device {dev} (/proc/driver/nvidia/gpus)"
            ))
        })?;
        text = text.replace("{pci}", &pci);
    }
    let level = c.param_u64("level", 3)?.min(7);
    let once = c.param_str("once", "")?;
    if !once.is_empty() {
        if std::path::Path::new(once).exists() {
            return Ok(vec![Observation::new(
                obs_key::WROTE,
                "nothing (once: written before)",
            )]);
        }
        std::fs::write(once, b"").map_err(|e| OpError::Row(format!("once {once}: {e}")))?;
    }
    std::thread::sleep(std::time::Duration::from_millis(
        c.param_u64("after_ms", 0)?,
    ));
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(file)
        .map_err(|e| OpError::Check(format!("kernel log {file}: {e}")))?;
    let is_kmsg = f.metadata().is_ok_and(|m| m.file_type().is_char_device());
    // One write: /dev/kmsg takes each write as one record (the newline finalizes it: a
    // record without one stays open for continuation and readers do not see it yet).
    let record = if is_kmsg {
        format!("<{level}>{text}\n")
    } else {
        format!("{level},0,0,-;{text}\n")
    };
    if c.param_u64("after_case", 0)? != 0 {
        let later = Box::new(move || {
            if let Err(e) = f.write_all(record.as_bytes()) {
                eprintln!("selftest_driver_log: writing after the case: {e}");
            }
        });
        if !crate::kernel_log::after_window(later) {
            return Err(OpError::Row(
                "`after_case` needs an in-process case and a readable kernel log".into(),
            ));
        }
        return Ok(vec![Observation::new(obs_key::WILL_WRITE_AFTER_CASE, text)]);
    }
    f.write_all(record.as_bytes())
        .map_err(|e| OpError::Check(format!("kernel log {file}: {e}")))?;
    Ok(vec![Observation::new(obs_key::WROTE, text)])
}
