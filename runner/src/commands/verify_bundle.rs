//! `hil-run verify-bundle FILE`: a conformance bundle checked against its manifest.

use std::path::Path;

/// Checks the bundle at `file` (and its signature, with `allowed_signers`): 0 and what it
/// vouches for, or 1 and every problem found.
pub fn run(file: &Path, allowed_signers: Option<&Path>) -> i32 {
    match crate::bundle::verify(file, allowed_signers) {
        Ok(report) => {
            crate::out!("{report}");
            0
        }
        Err(errors) => {
            for e in errors {
                eprintln!("hil-run: verify-bundle: {e}");
            }
            1
        }
    }
}
