//! Boards the runner knows. `local` is built in: this machine, no SSH, no inventory.
//! `model` is built in too: this machine running only the NvSciSync rows, answered by
//! hil's NvSciSync reference model (never hardware; every result says so).

use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct Board {
    pub name: String,
    /// Where results for this board go: `<results>/<name>/`.
    pub kind: BoardKind,
}

#[derive(Debug, Clone)]
pub enum BoardKind {
    /// Runs `hil-suite` as a child process here.
    Local,
    /// Reached over SSH, as the inventory describes it.
    Ssh(Box<crate::inventory::BoardSpec>),
    /// A labgrid place, reserved and locked for the run; reached over SSH as its
    /// NetworkService says.
    Labgrid(Box<LabgridBoard>),
}

/// A board that a labgrid coordinator hands out.
#[derive(Debug, Clone)]
pub struct LabgridBoard {
    pub client: crate::labgrid::Client,
    pub select: crate::labgrid::Selector,
    pub template: crate::inventory::PlaceTemplate,
}

#[derive(Debug, thiserror::Error)]
pub enum BoardError {
    #[error("{0}")]
    Inventory(#[from] crate::inventory::InventoryError),
    #[error("{0}")]
    Select(String),
    #[error("{0}")]
    Labgrid(#[from] crate::labgrid::LabgridError),
    #[error("invalid board name `{0}`: use letters, digits, `-`, `_` and `.` (it names a results directory)")]
    BadName(String),
}

impl Board {
    /// The include and skip lists the inventory gives this board (none for the built-in
    /// boards).
    pub fn case_lists(&self) -> crate::caselist::BoardLists {
        let (include, skip) = match &self.kind {
            BoardKind::Ssh(spec) => (spec.include.clone(), spec.skip.clone()),
            BoardKind::Labgrid(lg) => (lg.template.include.clone(), lg.template.skip.clone()),
            BoardKind::Local => (Vec::new(), Vec::new()),
        };
        crate::caselist::BoardLists {
            board: self.name.clone(),
            include,
            skip,
        }
    }
}

/// The built-in board whose NvSciSync is hil's reference model.
pub const MODEL: &str = "model";
/// Overrides where the `model` board finds the model library.
pub const MODEL_ENV: &str = "HIL_NVSCISYNC_MODEL";

/// hil's NvSciSync reference model for the `model` board: `$HIL_NVSCISYNC_MODEL`, else
/// `libnvscisync.so` next to hil-run (`cargo build --release` builds both there).
pub fn find_model() -> Result<PathBuf, String> {
    match env_or_beside_hil_run(MODEL_ENV, "libnvscisync.so") {
        Some(p) if p.is_file() => Ok(p),
        Some(p) => Err(format!(
            "board `model` needs hil's NvSciSync reference model, not found at {}: build it with \
             `cargo build --release` (it sits next to hil-run as libnvscisync.so), or set {MODEL_ENV}",
            p.display()
        )),
        None => Err(format!("cannot locate hil's NvSciSync reference model: set {MODEL_ENV}")),
    }
}

/// `$env` when set, else `file` in the directory of the running hil-run.
fn env_or_beside_hil_run(env: &str, file: &str) -> Option<PathBuf> {
    std::env::var_os(env).map(PathBuf::from).or_else(|| {
        std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(|d| d.join(file)))
    })
}

pub use crate::board_name::valid_name;

/// The boards to run: `local` is built in; others come from the inventory, by name or tag.
pub fn resolve(
    names: &[String],
    tags: &[String],
    inventory: Option<&Path>,
) -> Result<Vec<Board>, BoardError> {
    for n in names {
        if !valid_name(n) {
            return Err(BoardError::BadName(n.clone()));
        }
    }
    let mut out = Vec::new();
    for builtin in ["local", MODEL] {
        if names.iter().any(|n| n == builtin) {
            if builtin == MODEL {
                find_model().map_err(BoardError::Select)?;
            }
            out.push(Board {
                name: builtin.into(),
                kind: BoardKind::Local,
            });
        }
    }
    let remote: Vec<String> = names
        .iter()
        .filter(|n| *n != "local" && *n != MODEL)
        .cloned()
        .collect();
    if remote.is_empty() && tags.is_empty() {
        return Ok(out);
    }
    let path = crate::inventory::locate(inventory)
        .ok_or_else(|| crate::inventory::InventoryError::Missing(needs_inventory(&remote, tags)))?;
    let inv = crate::inventory::load(&path)?;
    // Names the inventory does not list, and `key=value` tags, are labgrid's (when the
    // inventory has a `labgrid:` section): places by name, or any place with those tags.
    let (lg_names, inv_names): (Vec<String>, Vec<String>) = remote
        .into_iter()
        .partition(|n| inv.labgrid.is_some() && !inv.boards.iter().any(|b| &b.name == n));
    let (lg_tags, inv_tags): (Vec<String>, Vec<String>) =
        tags.iter().cloned().partition(|t| t.contains('='));
    if !inv_names.is_empty() || !inv_tags.is_empty() {
        for spec in inv
            .select(&inv_names, &inv_tags)
            .map_err(BoardError::Select)?
        {
            out.push(Board {
                name: spec.name.clone(),
                kind: BoardKind::Ssh(Box::new(spec)),
            });
        }
    }
    if !lg_names.is_empty() || !lg_tags.is_empty() {
        out.extend(labgrid_boards(&inv, &path, lg_names, lg_tags)?);
    }
    Ok(out)
}

/// The labgrid places `names` and a place with `tags`, from the inventory's `labgrid:`
/// section (a `key=value` tag without one is refused).
fn labgrid_boards(
    inv: &crate::inventory::Inventory,
    path: &Path,
    lg_names: Vec<String>,
    lg_tags: Vec<String>,
) -> Result<Vec<Board>, BoardError> {
    let mut out = Vec::new();
    let Some(section) = &inv.labgrid else {
        return Err(BoardError::Select(format!(
            "--tag {}: a `key=value` tag selects labgrid places, and {} has no `labgrid:` \
             section (docs/farm.md)",
            lg_tags.join(" "),
            path.display()
        )));
    };
    let client = crate::labgrid::Client::new(section.client.clone(), section.coordinator.clone())?;
    let labgrid = |name: String, select| Board {
        name,
        kind: BoardKind::Labgrid(Box::new(LabgridBoard {
            client: client.clone(),
            select,
            template: section.board.clone(),
        })),
    };
    for n in lg_names {
        out.push(labgrid(n.clone(), crate::labgrid::Selector::Place(n)));
    }
    if !lg_tags.is_empty() {
        // Named after the tags until the coordinator allocates a place; results go under
        // the place's name.
        let name: String = lg_tags.join("_").replace('=', "-");
        if !valid_name(&name) {
            return Err(BoardError::BadName(name));
        }
        out.push(labgrid(name, crate::labgrid::Selector::Tags(lg_tags)));
    }
    Ok(out)
}

/// The `hil-suite` binary to run locally: explicit path, `$HIL_SUITE`, or next to `hil-run`.
pub fn find_suite(explicit: Option<PathBuf>) -> Result<PathBuf, String> {
    match explicit.or_else(|| env_or_beside_hil_run("HIL_SUITE", "hil-suite")) {
        Some(p) if p.is_file() => Ok(p),
        Some(p) => Err(format!(
            "hil-suite not found at {}: build it with `cargo build --release` (it sits next to hil-run), \
             or pass --suite PATH / set HIL_SUITE",
            p.display()
        )),
        None => Err("cannot locate hil-suite: pass --suite PATH".into()),
    }
}

/// What needs an inventory, for the error when there is none: the first board name (with
/// the built-in board it differs from only in case, if any), or the first tag.
fn needs_inventory(remote: &[String], tags: &[String]) -> String {
    match remote.first() {
        Some(n) => match ["local", MODEL]
            .into_iter()
            .find(|b| b.eq_ignore_ascii_case(n))
        {
            Some(b) => format!(
                "board `{n}` needs one (did you mean `{b}`? board names are case-sensitive)"
            ),
            None => format!("board `{n}` needs one"),
        },
        None => format!(
            "`--tag {}` needs one (tags select an inventory's boards)",
            tags[0]
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_could_escape_the_results_dir_are_refused() {
        for bad in ["", ".", "..", "../x", "a/b", "a b", "x;rm -rf", "$(id)"] {
            let r = resolve(&[bad.to_string()], &[], None);
            assert!(matches!(r, Err(BoardError::BadName(_))), "{bad:?}");
        }
        assert_eq!(resolve(&["local".into()], &[], None).unwrap().len(), 1);
    }
}
