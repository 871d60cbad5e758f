//! Board inventory: which boards exist and how to reach them. YAML, found at
//! `--inventory FILE`, else `$HIL_INVENTORY`, else `~/.config/hil/boards.yaml`.
//! Example: `fixtures/inventories/farm.yaml`.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Suite paths from the inventory, one per arch, for `transport::arch::settle` to pick from.
pub type ByArch = BTreeMap<String, PathBuf>;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Inventory {
    #[serde(default)]
    pub boards: Vec<BoardSpec>,
    /// Boards from a labgrid farm (docs/farm.md): places by name or tags.
    #[serde(default)]
    pub labgrid: Option<LabgridSection>,
    /// File name and text, for locating errors found after parsing.
    #[serde(skip)]
    source: Source,
}

#[derive(Debug, Clone, Default)]
struct Source {
    file: String,
    text: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BoardSpec {
    #[serde(deserialize_with = "checked::name")]
    pub name: String,
    #[serde(deserialize_with = "checked::host")]
    pub host: String,
    #[serde(default = "default_port", deserialize_with = "checked::port")]
    pub port: u16,
    pub user: String,
    /// Private key file; without it the SSH agent is used.
    #[serde(default)]
    pub key: Option<PathBuf>,
    /// `key` as the inventory writes it, to point at it in errors.
    #[serde(skip)]
    key_written: Option<PathBuf>,
    /// known_hosts file checked strictly (default ~/.ssh/known_hosts).
    #[serde(default)]
    pub known_hosts: Option<PathBuf>,
    /// The board's arch (`uname -m`: aarch64 for Jetson/DRIVE); checked against the board,
    /// and it picks the suite from a `suite:` map when the board does not answer.
    #[serde(default)]
    pub arch: Option<String>,
    /// `suite:` as written: one path, or one per arch; `${VAR}` expanded.
    #[serde(rename = "suite")]
    suite_written: SuiteField,
    /// The hil-suite binary to deploy (built for the board's arch). With a map by arch,
    /// empty until the board's arch is known (`transport::arch::settle`).
    #[serde(skip)]
    pub suite: PathBuf,
    /// `suite:` as a map by arch (empty for one path).
    #[serde(skip)]
    pub suites: ByArch,
    /// Remote directory for deployed suites and run files.
    #[serde(default = "default_workdir", deserialize_with = "checked::workdir")]
    pub workdir: String,
    /// Environment for the remote suite (e.g. LD_LIBRARY_PATH).
    #[serde(default, deserialize_with = "checked::env")]
    pub env: BTreeMap<String, String>,
    /// The suite's settings on this board, passed to it as options.
    #[serde(default)]
    pub suite_settings: SuiteSettings,
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
    /// Run directories of this board kept on the board (`<workdir>/runs/`), newest first;
    /// older ones are removed when a run ends (docs/boards.md).
    #[serde(default = "default_keep_runs")]
    pub keep_runs: usize,
    /// Case lists for this board (files of patterns, as `--include` / `--skip`; relative
    /// to the inventory). Skipped cases are listed in the summary and in skipped.txt.
    #[serde(default)]
    pub include: Vec<PathBuf>,
    #[serde(default)]
    pub skip: Vec<PathBuf>,
}

/// A labgrid coordinator, and how hil runs on any place it hands out. The place's
/// `NetworkService` gives address, port and user; the rest is what a board entry says.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabgridSection {
    /// `host:port` of the coordinator (else `$LG_COORDINATOR`).
    #[serde(default)]
    pub coordinator: Option<String>,
    /// `labgrid-client` to run (else `$LG_CLIENT`, else on PATH).
    #[serde(default)]
    pub client: Option<PathBuf>,
    pub board: PlaceTemplate,
}

/// A board entry without name, host, port and reset: those come from the place.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlaceTemplate {
    /// Overrides the NetworkService's `username`.
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub key: Option<PathBuf>,
    #[serde(default)]
    pub known_hosts: Option<PathBuf>,
    #[serde(default)]
    pub arch: Option<String>,
    #[serde(rename = "suite")]
    suite_written: SuiteField,
    #[serde(skip)]
    pub suite: PathBuf,
    #[serde(skip)]
    pub suites: ByArch,
    #[serde(default = "default_workdir", deserialize_with = "checked::workdir")]
    pub workdir: String,
    #[serde(default, deserialize_with = "checked::env")]
    pub env: BTreeMap<String, String>,
    #[serde(default)]
    pub suite_settings: SuiteSettings,
    #[serde(default = "default_connect")]
    pub connect_timeout_s: u64,
    #[serde(default = "default_reconnect")]
    pub reconnect_timeout_s: u64,
    #[serde(default = "default_keep_runs")]
    pub keep_runs: usize,
    /// Case lists, as for a board entry.
    #[serde(default)]
    pub include: Vec<PathBuf>,
    #[serde(default)]
    pub skip: Vec<PathBuf>,
}

impl PlaceTemplate {
    /// The board spec for labgrid place `name`, reached as its NetworkService says. A
    /// NetworkService address is checked like an inventory `host`.
    pub fn spec_for(
        &self,
        name: &str,
        host: &str,
        port: u16,
        user: &str,
    ) -> Result<BoardSpec, String> {
        if host.is_empty()
            || host.starts_with('-')
            || host.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(format!(
                "labgrid place `{name}`: NetworkService address `{host}` is not a host"
            ));
        }
        Ok(BoardSpec {
            name: name.to_string(),
            host: host.to_string(),
            port,
            user: self.user.clone().unwrap_or_else(|| user.to_string()),
            key: self.key.clone(),
            key_written: None,
            known_hosts: self.known_hosts.clone(),
            arch: self.arch.clone(),
            suite_written: self.suite_written.clone(),
            suite: self.suite.clone(),
            suites: self.suites.clone(),
            workdir: self.workdir.clone(),
            env: self.env.clone(),
            suite_settings: self.suite_settings.clone(),
            tags: vec![],
            reset: None,
            connect_timeout_s: self.connect_timeout_s,
            reconnect_timeout_s: self.reconnect_timeout_s,
            keep_runs: self.keep_runs,
            include: self.include.clone(),
            skip: self.skip.clone(),
        })
    }
}

/// A board's `suite_settings:`: the hil-suite settings (`hil-suite --help`) that are the
/// board's to choose, typed and strict (an unknown key is a located error naming the
/// known ones). `env:` stays for real environment variables.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuiteSettings {
    /// The CUDA runtime library to load first.
    #[serde(default)]
    pub cudart: Option<String>,
    /// The NvSciSync library instead of libnvscisync.so.1.
    #[serde(default)]
    pub nvscisync_lib: Option<String>,
    /// The NvSciIpc library instead of libnvsciipc.so.1.
    #[serde(default)]
    pub nvsciipc_lib: Option<String>,
    /// NvSciIpc endpoint pairs of the board's nvsciipc.cfg (`name_0:name_1` each) for the
    /// cross-process NvSciSync rows; the suite checks them.
    #[serde(default)]
    pub ipc_endpoints: Vec<String>,
    /// A file or FIFO the kernel log is appended to, or `off`.
    #[serde(default)]
    pub kernel_log: Option<String>,
    /// Extra substrings that mark a kernel log line as the GPU driver's.
    #[serde(default)]
    pub driver_log_patterns: Vec<String>,
    /// CUDA device -> PCI address, instead of what the driver lists.
    #[serde(default)]
    pub gpu_pci: BTreeMap<u32, String>,
    /// A site command replacing the built-in health probe.
    #[serde(default)]
    pub health_probe_cmd: Option<String>,
    /// Seconds a health probe waits for other UB children (0-20).
    #[serde(default, deserialize_with = "checked::health_defer_s")]
    pub health_defer_s: Option<f64>,
    /// `isolate` rows in reused workers (true, the suite's default) or a child each.
    #[serde(default)]
    pub isolate_workers: Option<bool>,
}

impl SuiteSettings {
    /// The suite's options for these settings (`--key value`, `_` as `-`), in key order.
    pub fn args(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut put = |key: &str, v: Option<String>| {
            if let Some(v) = v {
                out.push(format!("--{}", key.replace('_', "-")));
                out.push(v);
            }
        };
        put("cudart", self.cudart.clone());
        put("nvscisync_lib", self.nvscisync_lib.clone());
        put("nvsciipc_lib", self.nvsciipc_lib.clone());
        let pairs = self.ipc_endpoints.join(",");
        put("ipc_endpoints", (!pairs.is_empty()).then_some(pairs));
        put("kernel_log", self.kernel_log.clone());
        let patterns = self.driver_log_patterns.join("|");
        put(
            "driver_log_patterns",
            (!patterns.is_empty()).then_some(patterns),
        );
        let pci: Vec<String> = self
            .gpu_pci
            .iter()
            .map(|(d, a)| format!("{d}={a}"))
            .collect();
        put("gpu_pci", (!pci.is_empty()).then(|| pci.join(",")));
        put("health_probe_cmd", self.health_probe_cmd.clone());
        put("health_defer_s", self.health_defer_s.map(|s| s.to_string()));
        put(
            "isolate_workers",
            self.isolate_workers
                .map(|on| if on { "1" } else { "0" }.to_string()),
        );
        out
    }
}

/// A `suite:` value: the path of one suite, or a suite per arch (`{aarch64: …, x86_64: …}`),
/// picked by the board's arch.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum SuiteField {
    One(String),
    ByArch(BTreeMap<String, String>),
}

impl Default for SuiteField {
    fn default() -> Self {
        SuiteField::One(String::new())
    }
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
fn default_keep_runs() -> usize {
    3
}

#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    #[error("{0}")]
    Yaml(#[from] hil_proto::yaml::YamlError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "no inventory: {0}. Pass --inventory FILE, set HIL_INVENTORY, or create \
         ~/.config/hil/boards.yaml (example: fixtures/inventories/farm.yaml). The built-in boards \
         `local` (this machine) and `model` (the NvSciSync reference model) need none."
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
    parse(
        &path.display().to_string(),
        &text,
        path.parent().unwrap_or(Path::new(".")),
    )
}

/// Parses and checks an inventory; relative paths in it are relative to `base`.
fn parse(file: &str, text: &str, base: &Path) -> Result<Inventory, InventoryError> {
    let mut inv: Inventory = hil_proto::yaml::from_str(file, text)?;
    inv.source = Source {
        file: file.to_string(),
        text: text.to_string(),
    };
    let mut seen = std::collections::BTreeSet::new();
    for b in &inv.boards {
        if !seen.insert(&b.name) {
            return Err(inv.located(
                "name",
                &b.name,
                2,
                format!(
                    "board `{}` is defined twice; board names must be unique",
                    b.name
                ),
            ));
        }
    }
    let suites: Vec<_> = inv
        .boards
        .iter()
        .map(|b| &b.suite_written)
        .chain(inv.labgrid.iter().map(|l| &l.board.suite_written))
        .map(|w| inv.suites(w, base))
        .collect::<Result<_, _>>()?;
    let mut suites = suites.into_iter();
    for b in &mut inv.boards {
        (b.suite, b.suites) = suites.next().unwrap_or_default();
        // Relative paths are relative to the inventory file, ~ to $HOME.
        b.key_written = b.key.clone();
        b.key = b.key.as_ref().map(|k| resolve(base, k));
        for p in b.include.iter_mut().chain(b.skip.iter_mut()) {
            *p = resolve(base, p);
        }
        b.known_hosts = Some(match &b.known_hosts {
            Some(k) => resolve(base, k),
            None => resolve(base, Path::new("~/.ssh/known_hosts")),
        });
    }
    if let Some(t) = inv.labgrid.as_mut().map(|l| &mut l.board) {
        (t.suite, t.suites) = suites.next().unwrap_or_default();
        t.key = t.key.as_ref().map(|k| resolve(base, k));
        for p in t.include.iter_mut().chain(t.skip.iter_mut()) {
            *p = resolve(base, p);
        }
        t.known_hosts = Some(match &t.known_hosts {
            Some(k) => resolve(base, k),
            None => resolve(base, Path::new("~/.ssh/known_hosts")),
        });
    }
    if let Some(c) = inv.labgrid.as_mut().and_then(|l| l.client.as_mut()) {
        // A bare name is looked up on PATH; a path is relative to the inventory.
        if c.components().count() > 1 {
            *c = resolve(base, c);
        }
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

/// Field checks run while parsing, so serde_norway locates their errors (file, line,
/// column). Each message quotes the offending text first: the location is refined to it.
mod checked {
    use serde::de::{Deserialize, Deserializer, Error};
    use std::collections::BTreeMap;

    pub fn name<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        let n = String::deserialize(d)?;
        if !crate::board_name::valid_name(&n) || n == "local" {
            return Err(D::Error::custom(format!(
                "`{n}`: board name not allowed; use letters, digits, `-`, `_`, `.` (it names a \
                 results directory; `local` is built in)"
            )));
        }
        Ok(n)
    }

    pub fn host<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        let h = String::deserialize(d)?;
        if h.is_empty() {
            return Err(D::Error::custom(
                "`host` is empty: give a name or an address",
            ));
        }
        if h.starts_with('-') || h.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(D::Error::custom(format!(
                "`{h}`: invalid host (a name or an address; no spaces, no leading `-`)"
            )));
        }
        Ok(h)
    }

    pub fn port<'de, D: Deserializer<'de>>(d: D) -> Result<u16, D::Error> {
        let p = u16::deserialize(d)?;
        if p == 0 {
            return Err(D::Error::custom(
                "`port` 0 is not a TCP port: give the board's sshd port (1-65535; 22 if omitted)",
            ));
        }
        Ok(p)
    }

    pub fn workdir<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        let w = String::deserialize(d)?;
        let why = if !w.starts_with('/') {
            Some("must be an absolute path")
        } else if w.trim_end_matches('/').is_empty() {
            Some("must not be `/` itself: the runner creates and removes files in it")
        } else if w.split('/').any(|part| part == "..") {
            Some("must not contain `..`")
        } else if w.chars().any(char::is_control) {
            Some("must not contain control characters")
        } else {
            None
        };
        match why {
            Some(why) => Err(D::Error::custom(format!("`{w}`: workdir {why}"))),
            None => Ok(w),
        }
    }

    pub fn health_defer_s<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
        let s = f64::deserialize(d)?;
        let max = hil_proto::HEALTH_DEFER_MAX_S as f64;
        if !(0.0..=max).contains(&s) {
            return Err(D::Error::custom(format!(
                "`health_defer_s` {s}: expected seconds from 0 (never wait) to {max}"
            )));
        }
        Ok(Some(s))
    }

    pub fn env<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
        let env: BTreeMap<String, String> = hil_proto::yaml::unique_keys(d)?;
        for k in env.keys() {
            let ok = k
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !ok {
                return Err(D::Error::custom(format!(
                    "`{k}`: invalid environment variable name (letters, digits, `_`)"
                )));
            }
        }
        Ok(env)
    }
}

/// OpenSSH ignores a private key that others can read ("UNPROTECTED PRIVATE KEY FILE");
/// so does hil-run, before connecting anywhere.
fn key_problem(key: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt as _;
    let meta = match std::fs::metadata(key) {
        Ok(m) => m,
        Err(e) => return Some(format!("private key {}: {e}", key.display())),
    };
    // SAFETY: getuid has no preconditions.
    let mine = meta.uid() == unsafe { libc::getuid() };
    let mode = meta.mode() & 0o777;
    (mine && mode & 0o077 != 0).then(|| {
        format!(
            "UNPROTECTED PRIVATE KEY FILE: permissions {mode:04o} for {} are too open; a private \
             key must not be accessible by others, so it is refused. Fix: chmod 600 {}",
            key.display(),
            key.display()
        )
    })
}

/// Line and column (1-based) of the value in the `n`-th line reading `key: value`
/// (block style, value plain or quoted).
fn find_entry(text: &str, key: &str, value: &str, n: usize) -> Option<(usize, usize)> {
    text.lines()
        .enumerate()
        .filter_map(|(i, l)| {
            let body = l.trim_start().trim_start_matches("- ").trim_start();
            let rest = body.strip_prefix(key)?.trim_start().strip_prefix(':')?;
            let v = rest.split(" #").next().unwrap_or("").trim();
            let unquoted = v.trim_matches(|c| c == '"' || c == '\'');
            (unquoted == value).then(|| (i + 1, l.len() - rest.trim_start().len() + 1))
        })
        .nth(n.saturating_sub(1))
}

/// `${NAME}` in `s` replaced by the environment variable's value; Err(NAME) for the first
/// one that is not set. `$` alone, or not followed by `{`, stays as it is.
fn expand(s: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = s;
    while let Some(at) = rest.find("${") {
        out.push_str(&rest[..at]);
        let after = &rest[at + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[at..]);
            return Ok(out);
        };
        let name = &after[..end];
        match std::env::var(name) {
            Ok(v) if !name.is_empty() => out.push_str(&v),
            _ => return Err(name.to_string()),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// For tests of other modules: an inventory parsed from text, relative to `/base`.
#[cfg(test)]
pub(crate) fn parse_for_tests(text: &str) -> Inventory {
    parse("inv.yaml", text, Path::new("/base")).expect("test inventory parses")
}

/// Line and column (1-based) of the first occurrence of `value` (a value in flow style).
fn find_text(text: &str, value: &str) -> Option<(usize, usize)> {
    text.lines()
        .enumerate()
        .find_map(|(i, l)| l.find(value).map(|c| (i + 1, c + 1)))
}

impl Inventory {
    /// A `suite:` value as paths: one suite, or a suite per arch; `${VAR}` expanded, then
    /// relative to the inventory. An unset variable is refused at its line.
    fn suites(
        &self,
        written: &SuiteField,
        base: &Path,
    ) -> Result<(PathBuf, ByArch), InventoryError> {
        let path = |key: &str, raw: &str| -> Result<PathBuf, InventoryError> {
            let expanded = expand(raw).map_err(|var| {
                self.located(
                    key,
                    raw,
                    1,
                    format!(
                        "`{raw}`: environment variable `{var}` is not set (`suite:` expands                          ${{VAR}} from hil-run's environment: set it, e.g. in the CI job)"
                    ),
                )
            })?;
            Ok(resolve(base, Path::new(&expanded)))
        };
        match written {
            SuiteField::One(p) => Ok((path("suite", p)?, Default::default())),
            SuiteField::ByArch(m) => {
                if m.is_empty() {
                    return Err(self.located(
                        "suite",
                        "{}",
                        1,
                        "`suite:` names no suite: give a path, or a map by arch                          ({aarch64: PATH, x86_64: PATH})"
                            .into(),
                    ));
                }
                let by_arch = m
                    .iter()
                    .map(|(a, p)| Ok((a.clone(), path(a, p)?)))
                    .collect::<Result<_, InventoryError>>()?;
                Ok((PathBuf::new(), by_arch))
            }
        }
    }

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
        // Only the boards this run uses: another board's key is not this run's business.
        for b in &picked {
            if let (Some(key), Some(written)) = (&b.key, &b.key_written) {
                if let Some(why) = key_problem(key) {
                    let token = written.display().to_string();
                    return Err(self.located("key", &token, 1, why).to_string());
                }
            }
        }
        Ok(picked)
    }

    /// An error at the `n`-th `key: value` line of the inventory (or its first line).
    fn located(&self, key: &str, value: &str, n: usize, message: String) -> InventoryError {
        let (line, column) = find_entry(&self.source.text, key, value, n)
            .or_else(|| find_text(&self.source.text, value))
            .unwrap_or((1, 1));
        InventoryError::Yaml(hil_proto::yaml::YamlError {
            file: self.source.file.clone(),
            line,
            column,
            message,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Inventory, InventoryError> {
        super::parse("inv.yaml", text, Path::new("/base"))
    }

    fn err(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    const ONE: &str = "boards:\n  - name: orin01\n    host: 10.1.2.3\n    user: ci\n    suite: hil-suite\n    tags: [orin]\n";
    const TWO: &str = "boards:\n  - name: a\n    host: h\n    user: ci\n    suite: s\n  - name: b10\n    host: h\n    user: ci\n    suite: s\n";

    #[test]
    fn a_minimal_board_gets_defaults() {
        let inv = parse(ONE).unwrap();
        let b = &inv.boards[0];
        assert!(b.include.is_empty() && b.skip.is_empty());
        assert_eq!(
            (
                b.port,
                b.workdir.as_str(),
                b.reconnect_timeout_s,
                b.keep_runs
            ),
            (22, "/tmp/hil", 120, 3)
        );
        assert_eq!(inv.select(&[], &["orin".into()]).unwrap().len(), 1);
        assert!(inv
            .select(&["nx02".into()], &[])
            .unwrap_err()
            .contains("the inventory has: orin01"));
    }

    #[test]
    fn hostile_or_mistyped_entries_are_refused_with_location() {
        let e = err(&ONE.replace("name: orin01", "name: 'x; rm -rf /'"));
        assert!(
            e.starts_with("inv.yaml:2:12: ") && e.contains("not allowed"),
            "{e}"
        );
        let e = err(&ONE.replace("user: ci", "usr: ci"));
        assert!(
            e.starts_with("inv.yaml:4:5: ") && e.contains("unknown field `usr`"),
            "{e}"
        );
        let e = err(&format!("{ONE}    workdir: relative/dir\n"));
        assert!(
            e.starts_with("inv.yaml:7:14: ") && e.contains("must be an absolute path"),
            "{e}"
        );
        let e = err(&format!("{ONE}    workdir: /tmp/../etc\n"));
        assert!(
            e.starts_with("inv.yaml:7:14: ") && e.contains("`..`"),
            "{e}"
        );
        let e = err(&format!("{ONE}    env: {{\"A=1; id\": x}}\n"));
        assert!(
            e.starts_with("inv.yaml:7:12: ") && e.contains("invalid environment variable name"),
            "{e}"
        );
        let e = err(&format!("{ONE}    env: {{A: x, A: y}}\n"));
        assert!(
            e.starts_with("inv.yaml:7:") && e.contains("`A` is given twice"),
            "{e}"
        );
        let e = err(&ONE.replace("10.1.2.3", "-oProxyCommand=sh"));
        assert!(
            e.starts_with("inv.yaml:3:11: ") && e.contains("invalid host"),
            "{e}"
        );
    }

    #[test]
    fn the_example_inventory_parses() {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/inventories/farm.yaml");
        let inv = load(&p).unwrap();
        assert_eq!(inv.boards[0].keep_runs, 3);
        assert_eq!(inv.boards[0].suite_settings.health_defer_s, Some(5.0));
        let skips = p.parent().unwrap().join("skips/orin.txt");
        assert_eq!(inv.boards[0].skip, std::slice::from_ref(&skips));
        let x86 = &inv.boards[2];
        assert!(x86.suites["x86_64"].ends_with("target/x86_64/hil-suite"));
        // Every list the example names exists and parses.
        crate::caselist::List::load(&[skips]).unwrap();
        let p = p.with_file_name("labgrid-farm.yaml");
        let lg = load(&p).unwrap().labgrid.unwrap();
        let spec = lg
            .board
            .spec_for("orin-07", "10.0.0.7", 22, "root")
            .unwrap();
        assert_eq!(
            (spec.user.as_str(), spec.reconnect_timeout_s),
            ("root", 300)
        );
        assert!(spec.suite.ends_with("target/jetson/hil-suite"));
        assert!(lg
            .board
            .spec_for("x", "-oProxyCommand=sh", 22, "u")
            .is_err());
    }

    #[test]
    fn suite_expands_variables_and_may_name_a_suite_per_arch() {
        let home = std::env::var("HOME").unwrap();
        let inv = parse(&ONE.replace("suite: hil-suite", "suite: ${HOME}/x86/hil-suite")).unwrap();
        assert_eq!(inv.boards[0].suite, Path::new(&home).join("x86/hil-suite"));
        let e = err(&ONE.replace("suite: hil-suite", "suite: ${HIL_UNSET_29}/hil-suite"));
        assert!(
            e.starts_with("inv.yaml:5:12: ") && e.contains("`HIL_UNSET_29` is not set"),
            "{e}"
        );
        let map = "suite:\n      aarch64: jetson/hil-suite\n      x86_64: ${HOME}/hil-suite";
        let inv = parse(&ONE.replace("suite: hil-suite", map)).unwrap();
        let b = &inv.boards[0];
        assert_eq!(b.suites["aarch64"], Path::new("/base/jetson/hil-suite"));
        assert_eq!(b.suites["x86_64"], Path::new(&home).join("hil-suite"));
        let flow = "suite: {aarch64: a, x86_64: \"${HIL_UNSET_29}\"}";
        let e = err(&ONE.replace("suite: hil-suite", flow));
        assert!(
            e.starts_with("inv.yaml:5:") && e.contains("HIL_UNSET_29"),
            "{e}"
        );
        let e = err(&ONE.replace("suite: hil-suite", "suite: {}"));
        assert!(e.contains("names no suite"), "{e}");
    }

    #[test]
    fn suite_settings_are_typed_strict_and_become_suite_options() {
        let text = format!(
            "{ONE}    suite_settings:\n      health_defer_s: 5\n      isolate_workers: false\n      gpu_pci: {{0: \"0000:18:00\"}}\n      driver_log_patterns: [a, b]\n"
        );
        let b = &parse(&text).unwrap().boards[0];
        assert_eq!(
            b.suite_settings.args(),
            [
                "--driver-log-patterns",
                "a|b",
                "--gpu-pci",
                "0=0000:18:00",
                "--health-defer-s",
                "5",
                "--isolate-workers",
                "0"
            ]
        );
        let e = err(&format!(
            "{ONE}    suite_settings:\n      health_defer: 5\n"
        ));
        assert!(
            e.starts_with("inv.yaml:8:7: ")
                && e.contains("unknown field `health_defer`, expected one of `cudart`"),
            "{e}"
        );
        let e = err(&format!(
            "{ONE}    suite_settings: {{health_defer_s: 30}}\n"
        ));
        assert!(
            e.starts_with("inv.yaml:7:")
                && e.contains("expected seconds from 0 (never wait) to 20"),
            "{e}"
        );
        assert!(parse(ONE).unwrap().boards[0]
            .suite_settings
            .args()
            .is_empty());
        let text = format!(
            "{ONE}    suite_settings:\n      ipc_endpoints: [ipc_test_0:ipc_test_1, ipc_test_a_0:ipc_test_a_1]\n"
        );
        assert_eq!(
            parse(&text).unwrap().boards[0].suite_settings.args(),
            [
                "--ipc-endpoints",
                "ipc_test_0:ipc_test_1,ipc_test_a_0:ipc_test_a_1"
            ]
        );
    }

    #[test]
    fn port_zero_and_duplicate_names_point_at_the_line() {
        // `b10` holds a `0` before the port line: the location must still be the port.
        let e = err(&TWO.replace("  - name: b10\n", "  - name: b10\n    port: 0\n"));
        assert!(
            e.starts_with("inv.yaml:7:5: ") && e.contains("0 is not a TCP port"),
            "{e}"
        );
        let e = err(&TWO.replace("name: b10", "name: \"a\""));
        assert!(
            e.starts_with("inv.yaml:6:11: ") && e.contains("board `a` is defined twice"),
            "{e}"
        );
    }

    #[test]
    fn a_private_key_others_can_read_is_refused_like_openssh_does() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = std::env::temp_dir().join(format!("hil-inv-key-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let key = dir.join("id");
        std::fs::write(&key, "not really a key").unwrap();
        let text = format!("{ONE}    key: {}\n", key.display());
        for (mode, refused) in [(0o644, true), (0o640, true), (0o600, false), (0o400, false)] {
            std::fs::set_permissions(&key, std::fs::Permissions::from_mode(mode)).unwrap();
            let r = parse(&text).unwrap().select(&["orin01".into()], &[]);
            assert_eq!(r.is_err(), refused, "{mode:o}: {r:?}");
            if let Err(e) = r {
                let want = format!("permissions {mode:04o} for {} are too open", key.display());
                assert!(e.starts_with("inv.yaml:7:10: ") && e.contains(&want), "{e}");
                assert!(e.contains("UNPROTECTED PRIVATE KEY FILE"), "{e}");
            }
        }
        // Another board's key is not checked when that board is not used.
        let other = format!("{TWO}    key: {}\n", dir.join("missing").display());
        let inv = parse(&other).unwrap();
        assert!(inv.select(&["a".into()], &[]).is_ok());
        let e = inv.select(&["b10".into()], &[]).unwrap_err();
        assert!(
            e.contains("missing") && e.starts_with("inv.yaml:10:10: "),
            "{e}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
