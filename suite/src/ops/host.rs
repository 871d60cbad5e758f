//! Ops that need only the host OS: they run, and pass, everywhere.

use super::{Ctx, OpDef, OpResult};
use hil_proto::Observation;

pub static OPS: &[OpDef] = &[OpDef {
    name: "host_info",
    params: &[],
    doc: "Records architecture, kernel and C library of the board.",
    run: host_info,
}];

fn host_info(_: &Ctx) -> OpResult {
    let u = crate::os::uname();
    Ok(vec![
        Observation::new("arch", std::env::consts::ARCH),
        Observation::new("kernel", u.release),
        Observation::new("libc", crate::os::libc_version()),
    ])
}
