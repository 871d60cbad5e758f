//! The conformance bundle for vendor checks: one tar holding every board's results,
//! facts (driver, CUDA, devices, implementations), suite version, table hashes, logs and
//! the run's `report.html`,
//! with a manifest that pins each file by SHA-256. `hil-run verify-bundle` checks it.
//! The manifest proves integrity, not origin (whoever edits a file can rewrite it too), so
//! it can be signed with an SSH key (`manifest.json.sig`, see `sshsig`): then
//! verify-bundle says who signed, checked against an allowed_signers file.

use crate::journal::State;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

pub const FORMAT: &str = "hil-bundle/1";
pub const MANIFEST: &str = "manifest.json";
/// The SSHSIG signature of the manifest's bytes, when the bundle is signed.
pub const SIGNATURE: &str = "manifest.json.sig";

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
    /// Cases skip lists removed (listed in the board's skipped.txt).
    #[serde(default)]
    pub skipped: usize,
    /// hil-run's settings of the run (`setting.test_threads`, …; the suite's own are
    /// among the properties), as its journal records them.
    #[serde(default)]
    pub settings: BTreeMap<String, String>,
}

fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Writes `out` from the boards' states and their result directories under `results`;
/// with `sign_key`, the manifest is signed with that SSH key.
pub fn write(
    out: &Path,
    results: &Path,
    states: &[&State],
    sign_key: Option<&Path>,
) -> anyhow::Result<()> {
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    let mut boards = Vec::new();
    for st in states {
        files.extend(board_files(results, st)?);
        boards.push(board_entry(st));
    }
    // The run's HTML report links into the boards' directories, as it does beside them.
    let report = results.join(crate::report::FILE);
    if report.is_file() {
        files.push((
            format!("results/{}", crate::report::FILE),
            std::fs::read(&report)?,
        ));
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
    let manifest_bytes = serde_json::to_vec_pretty(&manifest)?;
    let signature = sign_key
        .map(|k| crate::sshsig::sign(k, &manifest_bytes))
        .transpose()?;
    let mut entries = vec![(MANIFEST.to_string(), manifest_bytes)];
    if let Some(sig) = signature {
        entries.push((SIGNATURE.to_string(), sig));
    }
    entries.extend(files);
    write_tar(out, &entries, manifest.created_unix)?;
    Ok(())
}

/// Every file of a board's results directory, as `results/<board>/<name>`, by name.
fn board_files(results: &Path, st: &State) -> std::io::Result<Vec<(String, Vec<u8>)>> {
    let dir = results.join(&st.board);
    let mut names: Vec<_> = std::fs::read_dir(&dir)?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    names.sort();
    let mut files = Vec::new();
    for p in names {
        let name = p
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        files.push((format!("results/{}/{name}", st.board), std::fs::read(&p)?));
    }
    Ok(files)
}

/// What the manifest says of a board: its facts, counts and settings, from its state.
fn board_entry(st: &State) -> BoardEntry {
    let facts = st.facts.clone().unwrap_or_default();
    BoardEntry {
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
        skipped: st.skipped.len(),
        settings: st
            .config
            .as_ref()
            .map(|c| c.settings.clone())
            .unwrap_or_default(),
    }
}

/// The tar at `out`, written whole under a temporary name and then renamed into place.
fn write_tar(out: &Path, entries: &[(String, Vec<u8>)], mtime: u64) -> std::io::Result<()> {
    let tmp = out.with_extension("tar.part");
    {
        let mut tar = tar::Builder::new(std::fs::File::create(&tmp)?);
        for (path, data) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_mtime(mtime);
            h.set_cksum();
            tar.append_data(&mut h, path, data.as_slice())?;
        }
        tar.into_inner()?.sync_all()?;
    }
    std::fs::rename(&tmp, out)
}

/// The bundled journal of each board, read as `journal::read` does (every line whole).
fn bundled_state(path: &str, data: &[u8]) -> Result<State, String> {
    let text = std::str::from_utf8(data).map_err(|e| format!("{path}: not UTF-8: {e}"))?;
    let mut st = State::default();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let r = serde_json::from_str::<crate::journal::Record>(line)
            .map_err(|e| format!("{path}:{}: unreadable journal record: {e}", i + 1))?;
        st.apply(r);
    }
    Ok(st)
}

/// The manifest's board entries against the bundled journals (`results/<board>/journal.jsonl`):
/// the same boards, and for each the counts, cases, unfinished and skipped cases, suite
/// version, tables hash, properties and implementations its journal gives. Each
/// disagreement names the board and field.
fn disagreements(m: &Manifest, contents: &BTreeMap<String, Vec<u8>>) -> Vec<String> {
    let mut errors = Vec::new();
    let journals: BTreeMap<&str, &str> = contents
        .keys()
        .filter_map(|p| {
            let board = p.strip_prefix("results/")?.strip_suffix("/journal.jsonl")?;
            (!board.contains('/')).then_some((board, p.as_str()))
        })
        .collect();
    let mut listed: BTreeMap<&str, usize> = BTreeMap::new();
    for b in &m.boards {
        *listed.entry(b.name.as_str()).or_default() += 1;
    }
    // Each board once: a second entry would vouch for the same journal again.
    for (board, n) in listed.iter().filter(|(_, n)| **n > 1) {
        errors.push(format!(
            "{MANIFEST}: boards: board `{board}` is listed {n} times; a manifest lists each \
             board once"
        ));
    }
    for board in journals.keys().filter(|b| !listed.contains_key(*b)) {
        errors.push(format!(
            "{MANIFEST}: boards: results/{board}/journal.jsonl is in the bundle, but the manifest lists no board `{board}`"
        ));
    }
    let mut checked = std::collections::BTreeSet::new();
    for b in m.boards.iter().filter(|b| checked.insert(b.name.as_str())) {
        let Some(&path) = journals.get(b.name.as_str()) else {
            errors.push(format!(
                "{MANIFEST}: boards: board `{}` has no journal in the bundle (results/{}/journal.jsonl)",
                b.name, b.name
            ));
            continue;
        };
        let st = match bundled_state(path, &contents[path]) {
            Ok(st) => st,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        errors.extend(board_disagreements(b, path, &st));
    }
    errors
}

/// What the manifest's entry `b` says against what the board's bundled journal (at
/// `path`, read as `st`) gives, one line per field that differs.
fn board_disagreements(b: &BoardEntry, path: &str, st: &State) -> Vec<String> {
    let mut errors = Vec::new();
    let mut differs = |field: &str, says: String, has: String| {
        if says != has {
            errors.push(format!(
                "{MANIFEST}: board {}: {field} says {says}, the bundled journal {path} gives {has}",
                b.name
            ));
        }
    };
    let counts = crate::summary::counts(st);
    for o in hil_proto::Outcome::ALL {
        let says = b.counts.get(o.as_str()).copied().unwrap_or(0);
        differs(
            &format!("counts.{o}"),
            says.to_string(),
            counts[&o].to_string(),
        );
    }
    for k in b
        .counts
        .keys()
        .filter(|k| k.parse::<hil_proto::Outcome>().is_err())
    {
        differs(
            &format!("counts.{k}"),
            b.counts[k].to_string(),
            "no such outcome".into(),
        );
    }
    differs("cases", b.cases.to_string(), st.cases.len().to_string());
    differs(
        "unfinished",
        b.unfinished.to_string(),
        st.remaining().len().to_string(),
    );
    differs(
        "skipped",
        b.skipped.to_string(),
        st.skipped.len().to_string(),
    );
    let facts = st.facts.clone().unwrap_or_default();
    let tables = facts.properties.get("tables.sha256").cloned();
    differs(
        "suite_version",
        format!("`{}`", b.suite_version),
        format!("`{}`", facts.suite_version),
    );
    differs(
        "tables_sha256",
        format!("`{}`", b.tables_sha256),
        format!("`{}`", tables.unwrap_or_default()),
    );
    let settings = st
        .config
        .as_ref()
        .map(|c| c.settings.clone())
        .unwrap_or_default();
    for (field, says, has) in [
        ("properties", &b.properties, &facts.properties),
        ("settings", &b.settings, &settings),
        (
            "implementations",
            &b.implementations,
            &facts.implementations,
        ),
    ] {
        let keys: std::collections::BTreeSet<&String> = says.keys().chain(has.keys()).collect();
        let shown = |v: Option<&String>| v.map_or("nothing".into(), |v| format!("`{v}`"));
        for k in keys {
            differs(
                &format!("{field}.{k}"),
                shown(says.get(k)),
                shown(has.get(k)),
            );
        }
    }
    errors
}

/// Checks every file against the manifest and, when the bundle is signed, the signature
/// (against `allowed` when given; then an unsigned bundle is refused). Returns a report,
/// or everything that is wrong.
pub fn verify(path: &Path, allowed: Option<&Path>) -> Result<String, Vec<String>> {
    let (mut contents, twice) = read_bundle(path)?;
    let raw = contents
        .remove(MANIFEST)
        .ok_or_else(|| vec![format!("no {MANIFEST} in the bundle")])?;
    let signature = contents.remove(SIGNATURE);
    let m: Manifest = serde_json::from_slice(&raw).map_err(|e| vec![format!("{MANIFEST}: {e}")])?;
    let mut errors = twice;
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
    // What the manifest says of each board must be what its journal holds: an unsigned
    // manifest can be rewritten with matching hashes, its counts cannot disagree.
    errors.extend(disagreements(&m, &contents));
    let origin = match origin(&raw, signature.as_deref(), allowed) {
        Ok(o) => o,
        Err(e) => {
            errors.push(e);
            String::new()
        }
    };
    if !errors.is_empty() {
        // Paths and values come from the bundle: written out, never acting on a terminal.
        return Err(errors
            .iter()
            .map(|e| hil_proto::text::escape_line(e).into_owned())
            .collect());
    }
    Ok(report(path, &m, &origin, signature.is_some()))
}

/// A bundle's files by path, whole.
type Contents = BTreeMap<String, Vec<u8>>;

/// The bundle's files, and the paths found in it more than once.
fn read_bundle(path: &Path) -> Result<(Contents, Vec<String>), Vec<String>> {
    let raw = std::fs::read(path).map_err(|e| vec![format!("{}: {e}", path.display())])?;
    // A tar ends with two zero blocks: without them, whatever was cut off is unknown.
    let ends_whole = raw.len() % 512 == 0
        && raw.len() >= 1024
        && raw[raw.len() - 1024..].iter().all(|&b| b == 0);
    if !ends_whole {
        return Err(vec![format!(
            "truncated: {} ends without the tar end-of-archive blocks ({} bytes); the bundle \
             is incomplete, copy it again",
            path.display(),
            raw.len()
        )]);
    }
    let mut archive = tar::Archive::new(raw.as_slice());
    let mut contents = Contents::new();
    let mut twice = Vec::new();
    let entries = archive
        .entries()
        .map_err(|e| vec![format!("not a tar archive: {e}")])?;
    for e in entries {
        let mut e = e.map_err(|e| vec![format!("truncated or corrupt tar: {e}")])?;
        let name = e
            .path()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut data = Vec::new();
        e.read_to_end(&mut data)
            .map_err(|err| vec![format!("truncated or corrupt tar: {name}: {err}")])?;
        // A path twice: which copy a reader gets depends on the tool; neither is vouched for.
        if contents.insert(name.clone(), data).is_some() {
            twice.push(format!("{name}: in the archive more than once"));
        }
    }
    Ok((contents, twice))
}

/// Who vouches for the manifest's bytes `raw`: its signature, checked against `allowed`
/// when given (which then requires one), in words; or why that fails.
fn origin(raw: &[u8], signature: Option<&[u8]>, allowed: Option<&Path>) -> Result<String, String> {
    match (signature, allowed) {
        (None, None) => Ok(
            "unsigned: contents match the manifest, but anyone who edits a file \
                            can rewrite the manifest too (sign with --sign-key)"
                .to_string(),
        ),
        (None, Some(a)) => Err(format!(
            "unsigned: {} lists who may sign, and this bundle has no signature",
            a.display()
        )),
        (Some(sig), _) => match crate::sshsig::verify(raw, sig, allowed) {
            Ok(crate::sshsig::Signer {
                principal: Some(who),
                key,
            }) => Ok(format!("verified: signed by {who} ({key})")),
            Ok(crate::sshsig::Signer { key, .. }) => Ok(format!(
                "signed by {key}, signer not checked: pass --allowed-signers FILE to check who \
                 signed"
            )),
            Err(e) => Err(format!("signature: {e}")),
        },
    }
}

/// What a bundle that checked out vouches for: its origin, then each board.
fn report(path: &Path, m: &Manifest, origin: &str, signed: bool) -> String {
    // No journal records these: what the manifest says of them is its word alone (and the
    // signer's, when signed).
    let word = if signed {
        "the signed manifest's word"
    } else {
        "the manifest's word only"
    };
    let mut report = format!(
        "{}: {origin}\n  {} files match the manifest; each board's counts, cases and facts \
         match its journal\n  not in any journal, {word}: hil-run {}, runner host {}, \
         created {} (unix time)\n",
        path.display(),
        m.files.len(),
        m.hil_run_version,
        m.runner_host,
        m.created_unix
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
        if b.skipped > 0 {
            report.push_str(&format!(
                "      {} case(s) skipped by case lists (results/{}/skipped.txt)\n",
                b.skipped, b.name
            ));
        }
        // What the results were produced under, where it is not the default.
        let changed = crate::config::changed(b.settings.iter(), b.properties.iter());
        if !changed.is_empty() {
            report.push_str(&format!("      settings: {}\n", changed.join(", ")));
        }
        for (backend, imp) in &b.implementations {
            report.push_str(&format!("      {backend}: {imp}\n"));
        }
    }
    hil_proto::text::escape_controls(&report).into_owned()
}
