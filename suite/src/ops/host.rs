//! Ops that need only the host OS: they run, and pass, everywhere.

use super::{Ctx, OpDef, OpResult};
use hil_proto::key as obs_key;
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
        Observation::new(obs_key::ARCH, std::env::consts::ARCH),
        Observation::new(obs_key::KERNEL, u.release),
        Observation::new(obs_key::LIBC, crate::os::libc_version()),
    ])
}
