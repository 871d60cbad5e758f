//! What a board may be called: its name names a results directory and shows in logs, so
//! only a safe alphabet is taken (below the inventory and the board selection alike).

/// A name safe to use as a directory and in logs.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}
