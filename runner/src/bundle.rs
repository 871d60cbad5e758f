//! The conformance bundle for vendor checks: one tar holding every board's results,
//! facts (driver, CUDA, devices, implementations), suite version, table hashes and logs,
//! with a manifest that pins each file by SHA-256. `hil-run verify-bundle` checks it.

use crate::journal::State;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

pub const FORMAT: &str = "hil-bundle/1";
pub const MANIFEST: &str = "manifest.json";

#[derive(Debug, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub created_unix: u64,
    pub runner_host: String,
    pub hil_run_version: String,
    pub boards: Vec<BoardEntry>,
    /// path in the archive -> sha256 (hex)
    pub files: BTreeMap<String, String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct BoardEntry {
    pub name: String,
    pub suite_version: String,
    pub tables_sha256: String,
    pub properties: BTreeMap<String, String>,
    pub implementations: BTreeMap<String, String>,
    pub counts: BTreeMap<String, usize>,
    pub cases: usize,
    pub unfinished: usize,
}

fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Writes `out` from the boards' states and their result directories under `results`.
pub fn write(out: &Path, results: &Path, states: &[&State]) -> anyhow::Result<()> {
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    let mut boards = Vec::new();
    for st in states {
        let dir = results.join(&st.board);
        let mut names: Vec<_> = std::fs::read_dir(&dir)?
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.is_file())
            .collect();
        names.sort();
        for p in names {
            let name = p
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
                .to_string();
            files.push((format!("results/{}/{name}", st.board), std::fs::read(&p)?));
        }
        let facts = st.facts.clone().unwrap_or_default();
        boards.push(BoardEntry {
            name: st.board.clone(),
            suite_version: facts.suite_version.clone(),
            tables_sha256: facts
                .properties
                .get("tables.sha256")
                .cloned()
                .unwrap_or_default(),
            properties: facts.properties,
            implementations: facts.implementations,
            counts: crate::summary::counts(st)
                .into_iter()
                .map(|(o, n)| (o.as_str().to_string(), n))
                .collect(),
            cases: st.cases.len(),
            unfinished: st.remaining().len(),
        });
    }
    let manifest = Manifest {
        format: FORMAT.into(),
        created_unix: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
        runner_host: crate::facts_host(),
        hil_run_version: env!("CARGO_PKG_VERSION").into(),
        boards,
        files: files
            .iter()
            .map(|(p, d)| (p.clone(), sha256_hex(d)))
            .collect(),
    };
    let tmp = out.with_extension("tar.part");
    {
        let mut tar = tar::Builder::new(std::fs::File::create(&tmp)?);
        let mut add = |path: &str, data: &[u8]| -> std::io::Result<()> {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_mtime(manifest.created_unix);
            h.set_cksum();
            tar.append_data(&mut h, path, data)
        };
        add(MANIFEST, &serde_json::to_vec_pretty(&manifest)?)?;
        for (p, d) in &files {
            add(p, d)?;
        }
        tar.into_inner()?.sync_all()?;
    }
    std::fs::rename(&tmp, out)?;
    Ok(())
}

/// Checks every file against the manifest; returns a report, or what is wrong.
pub fn verify(path: &Path) -> Result<String, Vec<String>> {
    let open = std::fs::File::open(path).map_err(|e| vec![format!("{}: {e}", path.display())])?;
    let mut archive = tar::Archive::new(open);
    let mut contents: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let entries = archive
        .entries()
        .map_err(|e| vec![format!("not a tar archive: {e}")])?;
    for e in entries {
        let mut e = e.map_err(|e| vec![format!("unreadable entry: {e}")])?;
        let name = e
            .path()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut data = Vec::new();
        e.read_to_end(&mut data)
            .map_err(|err| vec![format!("{name}: {err}")])?;
        contents.insert(name, data);
    }
    let raw = contents
        .remove(MANIFEST)
        .ok_or_else(|| vec![format!("no {MANIFEST} in the bundle")])?;
    let m: Manifest = serde_json::from_slice(&raw).map_err(|e| vec![format!("{MANIFEST}: {e}")])?;
    let mut errors = Vec::new();
    if m.format != FORMAT {
        errors.push(format!("format `{}`, expected `{FORMAT}`", m.format));
    }
    for (p, want) in &m.files {
        match contents.get(p) {
            None => errors.push(format!("{p}: listed in the manifest but missing")),
            Some(d) if &sha256_hex(d) != want => {
                errors.push(format!("{p}: SHA-256 differs from the manifest (modified)"))
            }
            Some(_) => {}
        }
    }
    for p in contents.keys().filter(|p| !m.files.contains_key(*p)) {
        errors.push(format!("{p}: not listed in the manifest (added)"));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut report = format!(
        "{}: OK, {} files verified; hil-run {}\n",
        path.display(),
        m.files.len(),
        m.hil_run_version
    );
    for b in &m.boards {
        let counts: Vec<String> = b.counts.iter().map(|(o, n)| format!("{o} {n}")).collect();
        report.push_str(&format!(
            "  {}: suite {}, driver {}, CUDA {}, tables {}…; {} cases: {}{}\n",
            b.name,
            b.suite_version,
            b.properties
                .get("driver.version")
                .map(String::as_str)
                .unwrap_or("?"),
            b.properties
                .get("cuda.version")
                .map(String::as_str)
                .unwrap_or("?"),
            b.tables_sha256.get(..12).unwrap_or("?"),
            b.cases,
            counts.join(", "),
            if b.unfinished > 0 {
                format!(" ({} unfinished)", b.unfinished)
            } else {
                String::new()
            }
        ));
        for (backend, imp) in &b.implementations {
            report.push_str(&format!("      {backend}: {imp}\n"));
        }
    }
    Ok(report)
}
