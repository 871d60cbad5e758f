//! Strict YAML parsing with errors that name file, line and column — shared by case
//! tables (hil-suite) and board inventories (hil-run).

use serde::de::{self, DeserializeOwned};
use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;

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
        // serde_norway appends " at line L column C"; we lead with the location instead,
        // keeping what follows it (", while parsing a flow mapping at line 7 column 13":
        // where the unclosed `{` is).
        let mut message = e.to_string();
        if let Some(i) = message.find(" at line ") {
            let context = message[i..]
                .find(", while ")
                .map(|j| message[i + j + 2..].to_string());
            message.truncate(i);
            if let Some(context) = context {
                message.push_str(&format!(" ({context})"));
                if context.contains("parsing a flow") {
                    message.push_str(": is a { or [ opened there and never closed?");
                }
            }
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

/// `deserialize_with` for a map whose keys must be unique: YAML lets the last of two equal
/// keys win silently (`params: {code: 1, code: 2}`, a baseline naming a case twice).
pub fn unique_keys<'de, D, K, V>(d: D) -> Result<BTreeMap<K, V>, D::Error>
where
    D: Deserializer<'de>,
    K: Deserialize<'de> + Ord + std::fmt::Display,
    V: Deserialize<'de>,
{
    struct Unique<K, V>(std::marker::PhantomData<(K, V)>);
    impl<'de, K, V> de::Visitor<'de> for Unique<K, V>
    where
        K: Deserialize<'de> + Ord + std::fmt::Display,
        V: Deserialize<'de>,
    {
        type Value = BTreeMap<K, V>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a map")
        }
        fn visit_map<A: de::MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
            let mut out = BTreeMap::new();
            while let Some((k, v)) = m.next_entry::<K, V>()? {
                if out.contains_key(&k) {
                    return Err(de::Error::custom(format!("`{k}` is given twice: keep one")));
                }
                out.insert(k, v);
            }
            Ok(out)
        }
    }
    d.deserialize_map(Unique(std::marker::PhantomData))
}
