//! PCI addresses as text: what `HIL_GPU_PCI` and the driver's lines hold. Pure functions,
//! below the settings that parse the variable.

use std::collections::BTreeMap;

/// `0000:18:00` (domain:bus:device), lowercase; a function suffix (`.0`) is dropped.
pub fn normalize(addr: &str) -> Option<String> {
    let addr = addr.split('.').next()?.to_ascii_lowercase();
    let parts: Vec<&str> = addr.split(':').collect();
    (parts.len() == 3 && parts.iter().all(|p| !p.is_empty())).then_some(addr)
}

/// `N=dddd:bb:dd[.f]`, comma-separated (`HIL_GPU_PCI`): PCI address -> CUDA device. Empty
/// is an empty map; `name` leads each error.
pub fn parse_map(name: &str, v: &str) -> Result<BTreeMap<String, u32>, String> {
    let mut map = BTreeMap::new();
    for item in v.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let parsed = item.split_once('=').and_then(|(dev, addr)| {
            Some((normalize(addr.trim())?, dev.trim().parse::<u32>().ok()?))
        });
        let Some((addr, dev)) = parsed else {
            return Err(format!(
                "{name}: `{item}` is not `DEVICE=PCI-ADDRESS` (e.g. `0=0000:18:00`)"
            ));
        };
        if map.insert(addr, dev).is_some() {
            return Err(format!("{name}: `{item}`: that address is given twice"));
        }
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_normalized_and_a_map_is_checked() {
        assert_eq!(normalize("0000:18:00.0").as_deref(), Some("0000:18:00"));
        assert_eq!(normalize("18:00"), None);
        let m = parse_map("HIL_GPU_PCI", "0=0000:18:00.0, 1=0000:3B:00").unwrap();
        assert_eq!(m.get("0000:18:00"), Some(&0));
        assert_eq!(m.get("0000:3b:00"), Some(&1));
        assert!(parse_map("HIL_GPU_PCI", "").unwrap().is_empty());
        for bad in [
            "0000:18:00",
            "x=0000:18:00",
            "0=18:00",
            "0=0000:18:00,1=0000:18:00",
        ] {
            let e = parse_map("HIL_GPU_PCI", bad).unwrap_err();
            assert!(e.starts_with("HIL_GPU_PCI: "), "{bad}: {e}");
        }
    }
}
