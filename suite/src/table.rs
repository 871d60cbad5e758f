//! YAML case tables: the data every case comes from. See `docs/tables.md`.
//!
//! A table names its backend and optional matrix axes; each row names an op (the Rust
//! check it runs), its params and the expected result. Parsing is strict (unknown keys,
//! unknown ops and malformed names are errors) and every error carries file, line and
//! column, because a typo in a table must never silently drop a case.

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

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

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Table {
    pub name: DottedName,
    pub backend: Backend,
    pub doc: String,
    #[serde(default)]
    pub matrix: Matrix,
    /// Default time limit of each case, seconds.
    #[serde(default = "default_timeout")]
    pub timeout_s: f64,
    /// CUDA frontends each case goes through (default `[driver]`): `driver` (`cu*`) keeps
    /// the plain case name, `runtime` (`cuda*`, libcudart) adds a `.runtime` segment.
    #[serde(default = "default_cuda_api")]
    pub cuda_api: Vec<CudaApi>,
    pub rows: Vec<Row>,
    /// Where the table came from, for errors found after parsing (duplicate case names).
    #[serde(skip)]
    pub source: Source,
}

/// The file a table was parsed from and the lines of its `name:` and row ids.
#[derive(Debug, Clone, Default)]
pub struct Source {
    pub file: String,
    pub name_line: usize,
    /// (line, column) of each row's `id`, in row order.
    pub row_at: Vec<(usize, usize)>,
}

impl Source {
    pub fn row(&self, i: usize) -> (usize, usize) {
        self.row_at.get(i).copied().unwrap_or((0, 0))
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

fn default_cuda_api() -> Vec<CudaApi> {
    vec![CudaApi::Driver]
}

fn default_timeout() -> f64 {
    30.0
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Row {
    pub id: DottedName,
    pub op: OpName,
    #[serde(default)]
    pub doc: Option<String>,
    #[serde(default, deserialize_with = "hil_proto::yaml::unique_keys")]
    pub params: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    pub expect: Expect,
    /// Marks an undefined-behaviour scenario; the text cites the rule that makes it so.
    #[serde(default)]
    pub ub: Option<String>,
    #[serde(default)]
    pub timeout_s: Option<f64>,
    /// For cases in a child process (`ub`, `isolate`): once the op has reported a step,
    /// this many seconds without another is a hang (killed and reported at once, naming
    /// the step), rather than waiting out `timeout_s`.
    #[serde(default)]
    pub stall_s: Option<f64>,
    /// Replaces the table's matrix for this row (`matrix: {}` for none).
    #[serde(default)]
    pub matrix: Option<Matrix>,
    /// Keeps only matrix points whose device axes are all `same` or not all `different`.
    #[serde(default)]
    pub devices: DeviceFilter,
    /// Replaces the table's `cuda_api` for this row.
    #[serde(default)]
    pub cuda_api: Option<Vec<CudaApi>>,
    /// Runs the case in its own process (judged as usual): for checks that look at
    /// process-wide state such as the fd table, which other cases running at the same
    /// time would disturb.
    #[serde(default)]
    pub isolate: bool,
    /// NvSciSync keys / entry points newer than 2.0 the row uses (C names); see nvsci/needs.rs.
    #[serde(default)]
    pub nvscisync_needs: Vec<crate::nvsci::needs::Need>,
    /// Driver log lines this scenario is expected to cause (substrings, e.g. `Xid 31`):
    /// kept as observations, never turn a pass into a fail (see `kernel_log`).
    #[serde(default)]
    pub expect_driver_log: Vec<String>,
    /// The documentation names several outcomes, or none, for this scenario: the text says
    /// which reading `expect` rests on, and every verdict of the row carries it.
    #[serde(default)]
    pub header_ambiguous: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceFilter {
    #[default]
    Any,
    Same,
    Different,
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

pub use crate::error::Api;

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

/// `[a-z0-9_]+` segments joined by dots: stable, greppable case names.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DottedName(pub String);

impl DottedName {
    pub fn is_valid(s: &str) -> bool {
        !s.is_empty()
            && s.split('.').all(|seg| {
                !seg.is_empty()
                    && seg
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            })
    }
}

impl<'de> Deserialize<'de> for DottedName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if DottedName::is_valid(&s) {
            Ok(DottedName(s))
        } else {
            Err(de::Error::custom(format!(
                "invalid name `{s}`: use lowercase letters, digits and `_`, in segments joined by `.`"
            )))
        }
    }
}

impl fmt::Display for DottedName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The name of a check implemented in `ops/`; checked against the registry at parse time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpName(pub String);

impl<'de> Deserialize<'de> for OpName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if crate::ops::find(&s).is_some() {
            return Ok(OpName(s));
        }
        let mut near: Vec<_> = crate::ops::names()
            .filter(|n| n.split('_').next() == s.split('_').next())
            .collect();
        near.truncate(8);
        let hint = if near.is_empty() {
            "see `hil-suite --list-ops`".to_string()
        } else {
            format!("ops with that prefix: {}", near.join(", "))
        };
        Err(de::Error::custom(format!("unknown op `{s}`; {hint}")))
    }
}

/// One entry of a matrix axis as written: a value, or `gpus` (every CUDA device of the
/// board, at least devices 0 and 1; see `case::listed_devices`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AxisItem {
    Value(AxisValue),
    AllGpus,
}

impl<'de> Deserialize<'de> for AxisItem {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            N(u32),
            S(String),
        }
        match Repr::deserialize(d) {
            Ok(Repr::N(n)) => Ok(AxisItem::Value(AxisValue::Device(n))),
            Ok(Repr::S(s)) if s == "cpu" => Ok(AxisItem::Value(AxisValue::Cpu)),
            Ok(Repr::S(s)) if s == "gpus" => Ok(AxisItem::AllGpus),
            _ => Err(de::Error::custom(
                "axis value must be a CUDA device index (0, 1, …), `cpu`, or `gpus` (every CUDA device of the board)",
            )),
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

/// Ordered axes; the order fixes the case-name suffix (`dev0_dev1`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Matrix(pub Vec<(String, Vec<AxisItem>)>);

impl<'de> Deserialize<'de> for Matrix {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Matrix;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a map of axis name to a list of values, e.g. `{signaler: [0, 1], waiter: [cpu, 0, 1]}`")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Matrix, A::Error> {
                let mut axes: Vec<(String, Vec<AxisItem>)> = Vec::new();
                while let Some(name) = m.next_key::<String>()? {
                    if !DottedName::is_valid(&name) || name.contains('.') {
                        return Err(de::Error::custom(format!("invalid axis name `{name}`")));
                    }
                    if axes.iter().any(|(n, _)| *n == name) {
                        return Err(de::Error::custom(format!("axis `{name}` given twice")));
                    }
                    let values: Vec<AxisItem> = m.next_value()?;
                    if values.is_empty() {
                        return Err(de::Error::custom(format!("axis `{name}` has no values")));
                    }
                    // A value listed twice would produce the same case twice.
                    for (i, v) in values.iter().enumerate() {
                        if values[..i].contains(v) {
                            let what = match v {
                                AxisItem::Value(x) => format!("`{}`", x.label()),
                                AxisItem::AllGpus => "`gpus`".into(),
                            };
                            return Err(de::Error::custom(format!(
                                "axis `{name}` lists {what} twice: each value makes its own cases, remove one"
                            )));
                        }
                        if let (AxisItem::Value(AxisValue::Device(n)), true) =
                            (v, values.contains(&AxisItem::AllGpus))
                        {
                            return Err(de::Error::custom(format!(
                                "axis `{name}` lists device {n} and `gpus`, which already includes every device: remove {n}"
                            )));
                        }
                    }
                    axes.push((name, values));
                }
                Ok(Matrix(axes))
            }
        }
        d.deserialize_map(V)
    }
}

/// A table that failed to load, with where and why.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error("{file}:{line}:{column}: {message}")]
    Syntax {
        file: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{file}: {message}")]
    Invalid { file: String, message: String },
    /// A semantic error with the place it comes from.
    #[error("{file}:{line}:{column}: {message}")]
    Located {
        file: String,
        line: usize,
        column: usize,
        message: String,
    },
    // The io error is in the message, not a `source`: shown once, not twice by `{:#}`.
    #[error("{path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
}

/// Parses one table's text; `file` is only used to name it in errors.
pub fn parse(file: &str, text: &str) -> Result<Table, TableError> {
    let mut table: Table =
        hil_proto::yaml::from_str(file, text).map_err(|e| TableError::Syntax {
            file: e.file,
            line: e.line,
            column: e.column,
            message: e.message,
        })?;
    table.source = locate(file, text, &table);
    validate(&table)?;
    Ok(table)
}

/// Finds the `name:` line and each row's `id:` in the text, in order, so that errors
/// found after parsing still point at a line.
fn locate(file: &str, text: &str, t: &Table) -> Source {
    let mut src = Source {
        file: file.to_string(),
        ..Source::default()
    };
    let lines: Vec<&str> = text.lines().collect();
    src.name_line = lines
        .iter()
        .position(|l| l.starts_with("name:"))
        .map_or(0, |i| i + 1);
    let mut from = 0;
    for row in &t.rows {
        let found = lines.iter().enumerate().skip(from).find_map(|(i, l)| {
            let c = l.find("id:")?;
            let rest = l[c + 3..].trim().trim_matches(|ch| ch == '"' || ch == '\'');
            (rest == row.id.0).then_some((i, c))
        });
        match found {
            Some((i, c)) => {
                src.row_at.push((i + 1, c + 1));
                from = i + 1;
            }
            None => src.row_at.push((0, 0)),
        }
    }
    src
}

impl Table {
    /// An error at row `i` (its `id:` line).
    pub fn row_error(&self, i: usize, message: String) -> TableError {
        let (line, column) = self.source.row(i);
        TableError::Located {
            file: self.source.file.clone(),
            line,
            column,
            message,
        }
    }
}

fn validate(t: &Table) -> Result<(), TableError> {
    if t.rows.is_empty() {
        return Err(TableError::Located {
            file: t.source.file.clone(),
            line: t.source.name_line,
            column: 1,
            message: format!("table `{}` has no rows", t.name),
        });
    }
    if t.cuda_api.is_empty() {
        return Err(TableError::Invalid {
            file: t.source.file.clone(),
            message: "`cuda_api` is empty: list `driver`, `runtime` or both".into(),
        });
    }
    let mut seen = BTreeMap::new();
    for (i, r) in t.rows.iter().enumerate() {
        let invalid = |message: String| t.row_error(i, message);
        if let Some(first) = seen.insert(&r.id, i) {
            let (line, _) = t.source.row(first);
            return Err(invalid(format!(
                "row id `{}` appears twice in table `{}` (first at line {line}): give this row another id",
                r.id, t.name
            )));
        }
        if r.cuda_api.as_ref().is_some_and(|a| a.is_empty()) {
            return Err(invalid(format!(
                "row `{}`: `cuda_api` is empty: list `driver`, `runtime` or both",
                r.id
            )));
        }
        if let Some(limit) = r.timeout_s.or(Some(t.timeout_s)) {
            if !(limit > 0.0 && limit <= hil_proto::MAX_TIMEOUT_S) {
                return Err(invalid(format!(
                    "row `{}`: timeout_s must be a positive number of seconds, at most {} (a week)",
                    r.id,
                    hil_proto::MAX_TIMEOUT_S
                )));
            }
        }
        if let Some(stall) = r.stall_s {
            if !(stall > 0.0 && stall <= hil_proto::MAX_TIMEOUT_S) || !(r.ub.is_some() || r.isolate)
            {
                return Err(invalid(format!(
                    "row `{}`: stall_s must be a positive number of seconds, on a `ub` or `isolate` row (only a child process reports progress)",
                    r.id
                )));
            }
        }
        if r.expect_driver_log.iter().any(|p| p.trim().is_empty()) {
            return Err(invalid(format!(
                "row `{}`: `expect_driver_log` has an empty pattern, which would match every line: remove it",
                r.id
            )));
        }
        if let Some(op) = crate::ops::find(&r.op.0) {
            if let Some(bad) = r.params.keys().find(|k| !op.params.contains(&k.as_str())) {
                return Err(invalid(unknown_param(&r.id, op, bad)));
            }
        }
        if r.ub.as_deref().is_some_and(|s| s.trim().is_empty()) {
            return Err(invalid(format!(
                "row `{}`: `ub` must cite the rule that makes the scenario undefined",
                r.id
            )));
        }
    }
    Ok(())
}

/// "row `r`: op `o` takes no param `p`", with the params it does take and the nearest one.
fn unknown_param(row: &DottedName, op: &crate::ops::OpDef, bad: &str) -> String {
    let takes = if op.params.is_empty() {
        "it takes none: remove `params`".to_string()
    } else {
        let near = op
            .params
            .iter()
            .min_by_key(|p| edit_distance(p, bad))
            .filter(|p| edit_distance(p, bad) <= 2)
            .map(|p| format!("did you mean `{p}`? "))
            .unwrap_or_default();
        format!("{near}it takes: {}", op.params.join(", "))
    };
    format!(
        "row `{row}`: op `{}` takes no param `{bad}`; {takes} (see `hil-suite --list-ops`)",
        op.name
    )
}

/// Levenshtein distance, for "did you mean".
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

include!(concat!(env!("OUT_DIR"), "/tables.rs"));

/// The tables built into the binary (from `fixtures/tables/` at build time).
pub fn embedded() -> Result<Vec<Table>, TableError> {
    EMBEDDED
        .iter()
        .map(|(file, text)| parse(&format!("fixtures/tables/{file}"), text))
        .collect()
}

/// (file name, text) of the tables in use: `--tables DIR` or the embedded ones.
pub fn sources(dir: Option<&Path>) -> Result<Vec<(String, String)>, TableError> {
    match dir {
        None => Ok(EMBEDDED
            .iter()
            .map(|(f, t)| (f.to_string(), t.to_string()))
            .collect()),
        Some(dir) => table_files(dir)?
            .into_iter()
            .map(|p| {
                let text = std::fs::read_to_string(&p).map_err(|error| TableError::Io {
                    path: p.clone(),
                    error,
                })?;
                Ok((
                    p.file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                    text,
                ))
            })
            .collect(),
    }
}

fn table_files(dir: &Path) -> Result<Vec<PathBuf>, TableError> {
    let io = |error| TableError::Io {
        path: dir.to_path_buf(),
        error,
    };
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    paths.sort();
    Ok(paths)
}

/// Every `*.yaml` table in `dir`, sorted by file name.
pub fn load_dir(dir: &Path) -> Result<Vec<Table>, TableError> {
    let paths = table_files(dir)?;
    if paths.is_empty() {
        return Err(TableError::Invalid {
            file: dir.display().to_string(),
            message: "no *.yaml tables in this directory".into(),
        });
    }
    paths
        .iter()
        .map(|p| {
            let text = std::fs::read_to_string(p).map_err(|error| TableError::Io {
                path: p.clone(),
                error,
            })?;
            parse(&p.display().to_string(), &text)
        })
        .collect()
}
