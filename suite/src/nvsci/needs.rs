//! What a table row needs from the NvSciSync library beyond 2.0, by C name
//! (`nvscisync_needs: [NvSciSyncAttrKey_RequireDeterministicFences]`). `nvsci-abi` knows
//! the first header that declares each key and entry point; a row whose needs the loaded
//! library's version lacks is not-supported with that version as the reason.

use super::Version;
use crate::error::OpError;
use nvsci_abi::Feature;
use serde::de::{self, Deserialize, Deserializer};

/// A key or entry point a row uses, checked against `nvsci_abi` when the table is parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Need(pub &'static Feature);

impl<'de> Deserialize<'de> for Need {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        nvsci_abi::feature(&name).map(Need).ok_or_else(|| {
            let known: Vec<&str> = nvsci_abi::KEYS
                .iter()
                .chain(nvsci_abi::FUNCTIONS)
                .filter(|f| f.since_minor > nvsci_abi::OLDEST_MINOR)
                .map(|f| f.name)
                .collect();
            de::Error::custom(format!(
                "`nvscisync_needs`: unknown NvSciSync key or function `{name}`; \
                 name one of {} (keys of 2.0 need no entry)",
                known.join(", ")
            ))
        })
    }
}

/// The first need that `version` lacks, as the not-supported reason.
pub fn check(version: Version, needs: &[Need]) -> Result<(), OpError> {
    // The newest need names the version; among equals, the first the row lists.
    match needs
        .iter()
        .rev()
        .filter(|n| n.0.since_minor > version.minor)
        .max_by_key(|n| n.0.since_minor)
    {
        None => Ok(()),
        Some(Need(f)) => Err(OpError::NotSupported(format!(
            "needs NvSciSync {}.{} ({} is declared from the {0}.{1} header); this library is NvSciSync {version}",
            nvsci_abi::MAJOR_VERSION,
            f.since_minor,
            f.name
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn need(name: &str) -> Need {
        Need(nvsci_abi::feature(name).unwrap())
    }

    #[test]
    fn a_row_runs_from_the_version_that_declares_what_it_needs() {
        let v = |minor| Version { major: 2, minor };
        let needs = [
            need("NvSciSyncAttrKey_RequireDeterministicFences"),
            need("NvSciSyncAttrKey_GpuId"),
        ];
        let e = check(v(0), &needs).unwrap_err().to_string();
        assert!(
            e.contains("needs NvSciSync 2.5")
                && e.contains("NvSciSyncAttrKey_GpuId")
                && e.contains("this library is NvSciSync 2.0"),
            "{e}"
        );
        assert!(check(v(3), &needs).is_err());
        assert!(check(v(5), &needs).is_ok());
        assert!(check(v(0), &[]).is_ok());
    }
}
