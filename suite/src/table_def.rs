//! A YAML case table as written, parsed into plain types. See `docs/tables.md`.
//!
//! A table names its backend and optional matrix axes; each row names an op (the Rust
//! check it runs), its params and the expected result. Parsing is strict (unknown keys and
//! malformed names are errors) and every error carries file, line and column, because a
//! typo in a table must never silently drop a case. Which ops exist is not known here: the
//! caller passes a `Catalogue` (`table` passes the ops), so parsing needs no op.

use crate::types::{AxisValue, Backend, CudaApi, Expect};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

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

/// The name of a check implemented in `ops/`; the catalogue checks that it names one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpName(pub String);

thread_local! {
    /// While `op_error` re-reads a table: the op name to refuse and why, so that the YAML
    /// parser places that error exactly as it places any other.
    static REFUSED_OP: std::cell::RefCell<Option<(String, String)>> =
        const { std::cell::RefCell::new(None) };
}

impl<'de> Deserialize<'de> for OpName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let refused = REFUSED_OP.with(|r| {
            r.borrow()
                .as_ref()
                .filter(|(name, _)| *name == s)
                .map(|(_, why)| why.clone())
        });
        match refused {
            Some(why) => Err(de::Error::custom(why)),
            None => Ok(OpName(s)),
        }
    }
}

/// What rows are checked against: the ops that exist and the params each takes. `table`
/// passes the op registry; this module knows no op.
pub trait Catalogue {
    /// `None` when `op` names an op; else the text after "unknown op `op`; ".
    fn unknown_op(&self, op: &str) -> Option<String>;
    /// Why the row's params do not fit its (known) op.
    fn bad_params(&self, row: &Row) -> Option<String>;
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

/// Parses one table's text and checks its rows against `ops`; `file` is only used to
/// name it in errors.
pub fn parse(file: &str, text: &str, ops: &dyn Catalogue) -> Result<Table, TableError> {
    let mut table: Table = hil_proto::yaml::from_str(file, text).map_err(syntax)?;
    for row in &table.rows {
        if let Some(hint) = ops.unknown_op(&row.op.0) {
            let why = format!("unknown op `{}`; {hint}", row.op.0);
            return Err(op_error(file, text, &row.op.0, why));
        }
    }
    table.source = locate(file, text, &table);
    validate(&table, ops)?;
    Ok(table)
}

fn syntax(e: hil_proto::yaml::YamlError) -> TableError {
    TableError::Syntax {
        file: e.file,
        line: e.line,
        column: e.column,
        message: e.message,
    }
}

/// The error for a row naming no op, at the op's place: the text is read again with that
/// name refused, so the location is the one the YAML parser gives any value it refuses.
fn op_error(file: &str, text: &str, op: &str, why: String) -> TableError {
    REFUSED_OP.with(|r| *r.borrow_mut() = Some((op.to_string(), why.clone())));
    let again = hil_proto::yaml::from_str::<Table>(file, text);
    REFUSED_OP.with(|r| *r.borrow_mut() = None);
    match again {
        Err(e) => syntax(e),
        // Not reached (the name is in the text); still an error, never a pass.
        Ok(_) => TableError::Invalid {
            file: file.to_string(),
            message: why,
        },
    }
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

fn validate(t: &Table, ops: &dyn Catalogue) -> Result<(), TableError> {
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
        if let Some(why) = ops.bad_params(r) {
            return Err(invalid(why));
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
