//! Board inventory: which boards exist and how to reach them. YAML, found at
//! `--inventory FILE`, else `$HIL_INVENTORY`, else `~/.config/hil/boards.yaml`.
//! Example: `fixtures/inventories/farm.yaml`.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Inventory {
    pub boards: Vec<BoardSpec>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BoardSpec {
    pub name: String,
    pub host: String,
    #[serde(default = "default_port")]
    pub port: u16,
    pub user: String,
    /// Private key file; without it the SSH agent is used.
    #[serde(default)]
    pub key: Option<PathBuf>,
    /// known_hosts file checked strictly (default ~/.ssh/known_hosts).
    #[serde(default)]
    pub known_hosts: Option<PathBuf>,
    /// Informational (aarch64 for Jetson/DRIVE); the suite binary must match it.
    #[serde(default)]
    pub arch: Option<String>,
    /// The hil-suite binary to deploy (built for the board's arch).
    pub suite: PathBuf,
    /// Remote directory for deployed suites and run files.
    #[serde(default = "default_workdir")]
    pub workdir: String,
    /// Environment for the remote suite (e.g. LD_LIBRARY_PATH).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(default)]
    pub tags: Vec<String>,
    /// Local command that power-cycles or resets the board (run on "board needs reset").
    #[serde(default)]
    pub reset: Option<String>,
    /// Seconds to connect / to keep trying to reconnect after a drop.
    #[serde(default = "default_connect")]
    pub connect_timeout_s: u64,
    #[serde(default = "default_reconnect")]
    pub reconnect_timeout_s: u64,
}

fn default_port() -> u16 {
    22
}
fn default_workdir() -> String {
    "/tmp/hil".into()
}
fn default_connect() -> u64 {
    10
}
fn default_reconnect() -> u64 {
    120
}

#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    #[error("{0}")]
    Yaml(#[from] hil_proto::yaml::YamlError),
    #[error("{file}: {message}")]
    Invalid { file: String, message: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "no inventory: board `{0}` needs one. Pass --inventory FILE, set HIL_INVENTORY, or create \
         ~/.config/hil/boards.yaml (example: fixtures/inventories/farm.yaml). The built-in board \
         `local` needs none."
    )]
    Missing(String),
}

/// Where to read the inventory from, by precedence.
pub fn locate(explicit: Option<&Path>) -> Option<PathBuf> {
    if let Some(p) = explicit {
        return Some(p.to_path_buf());
    }
    if let Some(p) = std::env::var_os("HIL_INVENTORY") {
        return Some(PathBuf::from(p));
    }
    let home = std::env::var_os("HOME")?;
    let p = Path::new(&home).join(".config/hil/boards.yaml");
    p.is_file().then_some(p)
}

pub fn load(path: &Path) -> Result<Inventory, InventoryError> {
    let text = std::fs::read_to_string(path).map_err(|source| InventoryError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let file = path.display().to_string();
    let mut inv: Inventory = hil_proto::yaml::from_str(&file, &text)?;
    let base = path.parent().unwrap_or(Path::new("."));
    validate(&file, &inv)?;
    for b in &mut inv.boards {
        // Relative paths are relative to the inventory file, ~ to $HOME.
        b.suite = resolve(base, &b.suite);
        b.key = b.key.as_ref().map(|k| resolve(base, k));
        b.known_hosts = Some(match &b.known_hosts {
            Some(k) => resolve(base, k),
            None => resolve(base, Path::new("~/.ssh/known_hosts")),
        });
    }
    Ok(inv)
}

fn resolve(base: &Path, p: &Path) -> PathBuf {
    if let Ok(rest) = p.strip_prefix("~") {
        if let Some(home) = std::env::var_os("HOME") {
            return Path::new(&home).join(rest);
        }
    }
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

fn validate(file: &str, inv: &Inventory) -> Result<(), InventoryError> {
    let bad = |message: String| InventoryError::Invalid {
        file: file.to_string(),
        message,
    };
    let mut seen = std::collections::BTreeSet::new();
    for b in &inv.boards {
        if !crate::board::valid_name(&b.name) || b.name == "local" {
            return Err(bad(format!(
                "board name `{}` is not allowed: use letters, digits, `-`, `_`, `.` (and not `local`, which is built in)",
                b.name
            )));
        }
        if !seen.insert(&b.name) {
            return Err(bad(format!("board `{}` is defined twice", b.name)));
        }
        if b.host.is_empty() || b.host.starts_with('-') || b.host.chars().any(|c| c.is_whitespace())
        {
            return Err(bad(format!(
                "board `{}`: invalid host `{}`",
                b.name, b.host
            )));
        }
        if !b.workdir.starts_with('/') {
            return Err(bad(format!(
                "board `{}`: workdir `{}` must be an absolute path",
                b.name, b.workdir
            )));
        }
        for k in b.env.keys() {
            let ok = k
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !ok {
                return Err(bad(format!(
                    "board `{}`: invalid environment variable name `{k}`",
                    b.name
                )));
            }
        }
    }
    Ok(())
}

impl Inventory {
    /// Boards named, plus boards carrying any of the tags; in inventory order.
    pub fn select(&self, names: &[String], tags: &[String]) -> Result<Vec<BoardSpec>, String> {
        for n in names {
            if !self.boards.iter().any(|b| &b.name == n) {
                let known: Vec<_> = self.boards.iter().map(|b| b.name.as_str()).collect();
                return Err(format!(
                    "unknown board `{n}`; the inventory has: {}",
                    known.join(", ")
                ));
            }
        }
        let picked: Vec<BoardSpec> = self
            .boards
            .iter()
            .filter(|b| names.contains(&b.name) || b.tags.iter().any(|t| tags.contains(t)))
            .cloned()
            .collect();
        if picked.is_empty() && !tags.is_empty() {
            return Err(format!("no board has tag(s) {tags:?}"));
        }
        Ok(picked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Inventory, InventoryError> {
        let inv: Inventory = hil_proto::yaml::from_str("inv.yaml", text)?;
        validate("inv.yaml", &inv)?;
        Ok(inv)
    }

    const ONE: &str = "boards:\n  - name: orin01\n    host: 10.1.2.3\n    user: ci\n    suite: hil-suite\n    tags: [orin]\n";

    #[test]
    fn a_minimal_board_gets_defaults() {
        let inv = parse(ONE).unwrap();
        let b = &inv.boards[0];
        assert_eq!(
            (b.port, b.workdir.as_str(), b.reconnect_timeout_s),
            (22, "/tmp/hil", 120)
        );
        assert_eq!(inv.select(&[], &["orin".into()]).unwrap().len(), 1);
        assert!(inv
            .select(&["nx02".into()], &[])
            .unwrap_err()
            .contains("the inventory has: orin01"));
    }

    #[test]
    fn hostile_or_mistyped_entries_are_refused_with_location() {
        let e = parse(&ONE.replace("name: orin01", "name: 'x; rm -rf /'"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("not allowed"), "{e}");
        let e = parse(&ONE.replace("user: ci", "usr: ci"))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("inv.yaml:4:5: ") && e.contains("unknown field `usr`"),
            "{e}"
        );
        let e = parse(&format!("{ONE}    workdir: relative/dir\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("must be an absolute path"), "{e}");
        let e = parse(&format!("{ONE}    env: {{\"A=1; id\": x}}\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("invalid environment variable name"), "{e}");
        let e = parse(&ONE.replace("10.1.2.3", "-oProxyCommand=sh"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("invalid host"), "{e}");
    }
}
