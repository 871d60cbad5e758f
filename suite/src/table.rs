//! The tables the suite runs: read (`table_def`, plain types), then checked against the
//! ops (the catalogue step: every row names an op that exists, with params it takes). The
//! errors of both carry file, line and column. See `docs/tables.md`.

pub use crate::table_def::*;
pub use crate::types::{Api, AxisValue, Backend, CudaApi, Expect};
use std::path::{Path, PathBuf};

/// The op registry as the tables see it.
struct Ops;

impl Catalogue for Ops {
    fn unknown_op(&self, op: &str) -> Option<String> {
        if crate::ops::find(op).is_some() {
            return None;
        }
        let mut near: Vec<_> = crate::ops::names()
            .filter(|n| n.split('_').next() == op.split('_').next())
            .collect();
        near.truncate(8);
        Some(if near.is_empty() {
            "see `hil-suite --list-ops`".to_string()
        } else {
            format!("ops with that prefix: {}", near.join(", "))
        })
    }

    fn bad_params(&self, row: &Row) -> Option<String> {
        let op = crate::ops::find(&row.op.0)?;
        let bad = row
            .params
            .keys()
            .find(|k| !op.params.contains(&k.as_str()))?;
        Some(unknown_param(&row.id, op, bad))
    }
}

/// Parses one table's text and checks it against the ops; `file` only names it in errors.
pub fn parse(file: &str, text: &str) -> Result<Table, TableError> {
    crate::table_def::parse(file, text, &Ops)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The catalogue step places an unknown op where the YAML parser would: at the op's
    /// text, found from the start of its row, in block and flow style alike.
    #[test]
    fn an_unknown_op_is_located_at_its_row_in_any_layout() {
        let head = "name: a\nbackend: host\ndoc: d\nrows:\n";
        for (rows, at) in [
            ("  - id: x\n    op: vk_imprt\n", (0, 6, 9)),
            ("  - op: vk_imprt\n    id: x\n", (0, 5, 9)),
            ("  - {id: x, op: vk_imprt}\n", (0, 5, 17)),
            (
                "  - id: y\n    op: host_info\n  - id: x\n    op: \"vk_imprt\"\n",
                (1, 8, 10),
            ),
            (
                "  - id: x\n    op: vk_imprt\n  - id: x\n    op: host_info\n",
                (0, 6, 9),
            ),
        ] {
            match parse("t.yaml", &format!("{head}{rows}")) {
                Err(TableError::Syntax {
                    line,
                    column,
                    message,
                    ..
                }) => {
                    let want = format!(
                        "rows[{}]: unknown op `vk_imprt`; ops with that prefix:",
                        at.0
                    );
                    assert_eq!((line, column), (at.1, at.2), "{rows}: {message}");
                    assert!(message.starts_with(&want), "{message}");
                }
                other => panic!("{rows}: {other:?}"),
            }
        }
    }
}
