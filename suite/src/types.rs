//! Value types that tables, cases and ops all name: which backend, which CUDA frontend,
//! which device an axis picks and what a row expects. A leaf: it knows no table, case or op.

use serde::de::{self, Deserializer};
use serde::Deserialize;
use std::collections::BTreeMap;

pub use crate::error::Api;

/// Backends a table can need. The probe for each decides not-supported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// Needs nothing but the host OS.
    Host,
    /// Needs the CUDA driver (libcuda).
    Cuda,
    /// Needs a Vulkan loader and driver plus CUDA.
    Vulkan,
    /// Needs libnvscisync plus CUDA for GPU axes.
    Nvscisync,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Host => "host",
            Backend::Cuda => "cuda",
            Backend::Vulkan => "vulkan",
            Backend::Nvscisync => "nvscisync",
        }
    }
}

/// Which CUDA API a case uses to import, signal and wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CudaApi {
    /// The driver API (libcuda, `cuImportExternalSemaphore`).
    Driver,
    /// The runtime API the CUDA guide shows (libcudart, `cudaImportExternalSemaphore`).
    Runtime,
}

impl CudaApi {
    pub fn as_str(self) -> &'static str {
        match self {
            CudaApi::Driver => "driver",
            CudaApi::Runtime => "runtime",
        }
    }
}

/// One value on a matrix axis: a CUDA device index or the CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AxisValue {
    Device(u32),
    Cpu,
}

impl AxisValue {
    /// The fragment used in case names: `dev0`, `cpu`.
    pub fn label(self) -> String {
        match self {
            AxisValue::Device(n) => format!("dev{n}"),
            AxisValue::Cpu => "cpu".into(),
        }
    }
}

/// What a row expects the op to produce.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Expect {
    /// The op succeeds and its own checks hold.
    #[default]
    Ok,
    /// The op's API call fails with one of these codes.
    Error { api: Api, codes: Vec<i64> },
}

impl<'de> Deserialize<'de> for Expect {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Codes {
            One(i64),
            Many(Vec<i64>),
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Word(String),
            Map(BTreeMap<Api, Codes>),
        }
        const HELP: &str = "`expect`: expected `ok` or a map like `{cuda: 801}` / `{cuda: [1, 999]}` (apis: cuda, cudart, vulkan, nvsci)";
        let repr = Repr::deserialize(d).map_err(|_| de::Error::custom(HELP))?;
        match repr {
            Repr::Word(w) if w == "ok" => Ok(Expect::Ok),
            Repr::Word(w) => Err(de::Error::custom(format!("{HELP}; got `{w}`"))),
            Repr::Map(m) if m.len() == 1 => {
                let (api, codes) = m.into_iter().next().expect("len checked");
                let codes = match codes {
                    Codes::One(c) => vec![c],
                    Codes::Many(v) if !v.is_empty() => v,
                    Codes::Many(_) => {
                        return Err(de::Error::custom(
                            "`expect`: empty code list: name at least one code",
                        ))
                    }
                };
                Ok(Expect::Error { api, codes })
            }
            Repr::Map(_) => Err(de::Error::custom(format!(
                "{HELP} (one api per expectation)"
            ))),
        }
    }
}
