//! The registry of ops: the Rust checks that table rows name. An op does one scenario
//! and reports what it saw; whether that is a pass is decided by the row's `expect`
//! (see `verdict.rs`), so the same op serves many rows.

mod cuda;
mod host;
mod nvsci;
mod nvsci_utility;
mod selftest;
pub mod vulkan;

use crate::case::Case;
pub use crate::error::{check, OpError};
use crate::types::AxisValue;
use hil_proto::Observation;

pub use nvsci::{ipc_endpoints_offered, ipc_pairs_needed, ipc_peer_main, ipc_probe_endpoints};

pub type OpResult = Result<Vec<Observation>, OpError>;

pub struct OpDef {
    pub name: &'static str,
    /// The params a row may give it: any other is a table error, so a misspelt param
    /// can never silently fall back to its default and weaken the check.
    pub params: &'static [&'static str],
    pub doc: &'static str,
    pub run: fn(&Ctx) -> OpResult,
}

/// What an op may know about its case.
pub struct Ctx<'a> {
    pub case: &'a Case,
    /// The NvSciIpc endpoint pairs the executor gave the case (indices into
    /// `ipc_endpoints`; none for a case of another op).
    pub pairs: &'a [u32],
}

impl Ctx<'_> {
    /// The CUDA device on `axis`.
    pub fn device(&self, axis: &str) -> Result<u32, OpError> {
        match self.case.axis(axis) {
            Some(AxisValue::Device(d)) => Ok(d),
            Some(AxisValue::Cpu) => Err(OpError::Row(format!(
                "axis `{axis}` must be a device for op `{}`",
                self.case.op
            ))),
            None => Err(OpError::Row(format!(
                "op `{}` needs a matrix axis `{axis}`",
                self.case.op
            ))),
        }
    }

    pub fn param_u64(&self, name: &str, default: u64) -> Result<u64, OpError> {
        match self.case.params.get(name) {
            None => Ok(default),
            Some(v) => v.as_u64().ok_or_else(|| {
                OpError::Row(format!(
                    "param `{name}` must be a non-negative integer, got {v}"
                ))
            }),
        }
    }

    pub fn param_i64(&self, name: &str, default: i64) -> Result<i64, OpError> {
        match self.case.params.get(name) {
            None => Ok(default),
            Some(v) => v
                .as_i64()
                .ok_or_else(|| OpError::Row(format!("param `{name}` must be an integer, got {v}"))),
        }
    }

    pub fn param_str<'a>(&'a self, name: &str, default: &'a str) -> Result<&'a str, OpError> {
        match self.case.params.get(name) {
            None => Ok(default),
            Some(v) => v
                .as_str()
                .ok_or_else(|| OpError::Row(format!("param `{name}` must be a string, got {v}"))),
        }
    }
}

fn registry() -> impl Iterator<Item = &'static OpDef> {
    host::OPS
        .iter()
        .chain(cuda::OPS)
        .chain(vulkan::OPS)
        .chain(nvsci::OPS)
        .chain(nvsci::IPC_OPS)
        .chain(nvsci_utility::OPS)
        .chain(selftest::OPS)
}

pub fn find(name: &str) -> Option<&'static OpDef> {
    registry().find(|o| o.name == name)
}

pub fn names() -> impl Iterator<Item = &'static str> {
    registry().map(|o| o.name)
}

pub fn all() -> impl Iterator<Item = &'static OpDef> {
    registry()
}
