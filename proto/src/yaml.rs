//! Strict YAML parsing with errors that name file, line and column — shared by case
//! tables (hil-suite) and board inventories (hil-run).

use serde::de::DeserializeOwned;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl std::fmt::Display for YamlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.column, self.message
        )
    }
}

impl std::error::Error for YamlError {}

/// Deserializes `text`; `file` only names it in errors.
pub fn from_str<T: DeserializeOwned>(file: &str, text: &str) -> Result<T, YamlError> {
    serde_norway::from_str(text).map_err(|e| {
        let (line, column) = e
            .location()
            .map(|l| (l.line(), l.column()))
            .unwrap_or((0, 0));
        // serde_norway appends " at line L column C"; we lead with the location instead.
        let mut message = e.to_string();
        if let Some(i) = message.find(" at line ") {
            message.truncate(i);
        }
        let (line, column) = refine_location(text, line, column, &message);
        YamlError {
            file: file.to_string(),
            line,
            column,
            message,
        }
    })
}

/// serde_norway places errors raised by our own validation at the start of the enclosing
/// item; move them to the first later occurrence of the token the message quotes
/// (`like_this`), so the user is pointed at the offending line itself.
fn refine_location(text: &str, line: usize, column: usize, message: &str) -> (usize, usize) {
    let Some(token) = message.split('`').nth(1).filter(|t| !t.is_empty()) else {
        return (line, column);
    };
    for (i, l) in text.lines().enumerate().skip(line.saturating_sub(1)) {
        if let Some(c) = l.find(token) {
            return (i + 1, c + 1);
        }
    }
    (line, column)
}
