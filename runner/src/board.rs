//! Boards the runner knows. `local` is built in: this machine, no SSH, no inventory.

use std::path::PathBuf;

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
}

#[derive(Debug, thiserror::Error)]
pub enum BoardError {
    #[error(
        "unknown board `{0}`: this version of hil-run knows only the built-in board `local` \
         (this machine); boards reached over SSH from an inventory file are not supported yet"
    )]
    Unknown(String),
    #[error("invalid board name `{0}`: use letters, digits, `-`, `_` and `.` (it names a results directory)")]
    BadName(String),
}

/// A name safe to use as a directory and in logs.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

pub fn resolve(name: &str) -> Result<Board, BoardError> {
    if !valid_name(name) {
        return Err(BoardError::BadName(name.to_string()));
    }
    match name {
        "local" => Ok(Board {
            name: "local".into(),
            kind: BoardKind::Local,
        }),
        other => Err(BoardError::Unknown(other.to_string())),
    }
}

/// The `hil-suite` binary to run locally: explicit path, `$HIL_SUITE`, or next to `hil-run`.
pub fn find_suite(explicit: Option<PathBuf>) -> Result<PathBuf, String> {
    let candidate = explicit
        .or_else(|| std::env::var_os("HIL_SUITE").map(PathBuf::from))
        .or_else(|| {
            std::env::current_exe()
                .ok()
                .and_then(|p| p.parent().map(|d| d.join("hil-suite")))
        });
    match candidate {
        Some(p) if p.is_file() => Ok(p),
        Some(p) => Err(format!(
            "hil-suite not found at {}: build it with `cargo build --release` (it sits next to hil-run), \
             or pass --suite PATH / set HIL_SUITE",
            p.display()
        )),
        None => Err("cannot locate hil-suite: pass --suite PATH".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_could_escape_the_results_dir_are_refused() {
        for bad in ["", ".", "..", "../x", "a/b", "a b", "x;rm -rf", "$(id)"] {
            assert!(
                matches!(resolve(bad), Err(BoardError::BadName(_))),
                "{bad:?}"
            );
        }
        assert!(matches!(resolve("orin01"), Err(BoardError::Unknown(_))));
        assert!(resolve("local").is_ok());
    }
}
