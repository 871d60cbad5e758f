//! The bodies of hil-run's commands: `main.rs` only parses the arguments and calls one of
//! these, then exits with `exit_code` of what it returned.

pub mod baseline_from;
pub mod history;
pub mod report;
pub mod run;
pub mod verify_bundle;

/// The process's exit status for a command's result: its own, else 130 after a signal, 2
/// for an error the user must fix (`orchestrate::is_config_error`), 1 for any other. An
/// error is said on stderr.
pub fn exit_code(result: anyhow::Result<i32>) -> i32 {
    match result {
        Ok(code) => code,
        Err(_) if crate::interrupt::interrupted() => {
            // Whatever was being waited for, say what the interruption left.
            eprintln!("hil-run: {}", crate::interrupt::interrupted_message());
            130
        }
        Err(e) => {
            // An error may quote a board (its listing, its refusal): escaped, bounded.
            let why = format!("{e:#}");
            let why = hil_proto::text::cap_start(&why, 16 * 1024);
            eprintln!("hil-run: error: {}", hil_proto::text::escape_controls(&why));
            if crate::orchestrate::is_config_error(&e) {
                2
            } else {
                1
            }
        }
    }
}

/// The runs' journals at `journals`, read (a journal that cannot be read is the user's to
/// fix).
fn read_journals(
    journals: &[std::path::PathBuf],
) -> Result<Vec<crate::journal::State>, crate::orchestrate::ConfigError> {
    journals
        .iter()
        .map(|j| crate::journal::read(j).map_err(crate::orchestrate::ConfigError))
        .collect()
}
