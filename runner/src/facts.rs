//! A board's facts as the reports show them: one helper below the summary, the baseline,
//! the report and the history, which all name the board by its facts.

use crate::journal::State;

/// A board fact from the suite's facts event, `?` when unknown.
pub fn fact<'a>(state: &'a State, key: &str) -> &'a str {
    state
        .facts
        .as_ref()
        .and_then(|f| f.properties.get(key))
        .map(String::as_str)
        .unwrap_or("?")
}
