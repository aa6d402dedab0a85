//! The error a writer returns when the target runtime could not write the value as JSON.

use std::fmt;
use std::fmt::Write as _;

use super::parse::{Node, Tree};

/// Why the payload has no faithful re-serialization in the chosen mode.
///
/// Returned where the runtime would silently change the data (JavaScript writes
/// `null` for a number that overflowed), write non-JSON (Python's `Infinity`) or raise
/// (Python's 4300-digit integer limit), and for input that is not JSON at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unwritable {
    path: String,
    reason: String,
}

impl Unwritable {
    /// Error for the value at node `node` of `tree`, located by a path such as `data.a[3]`.
    pub(super) fn at(tree: &Tree<'_>, node: usize, reason: String) -> Self {
        Self {
            path: path_to(tree, node),
            reason,
        }
    }

    /// Error for input that is not a JSON text the parser accepts.
    pub(super) fn invalid(offset: usize, what: &str) -> Self {
        Self {
            path: "data".to_owned(),
            reason: format!("invalid JSON at byte {offset}: {what}"),
        }
    }

    /// Error for nesting deeper than the parser follows (the runtimes would go deeper).
    pub(super) fn too_deep(offset: usize, limit: usize) -> Self {
        Self {
            path: "data".to_owned(),
            reason: format!("nested deeper than {limit} levels at byte {offset}"),
        }
    }

    /// Where the offending value sits, starting at `data` (the payload root).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// What is wrong with that value, in words.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for Unwritable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.reason)
    }
}

impl std::error::Error for Unwritable {}

/// Source text of a number, cut short for a message.
pub(super) fn excerpt(text: &str) -> String {
    const MAX: usize = 32;
    if text.len() <= MAX {
        text.to_owned()
    } else {
        // Number text is ASCII, so any byte offset is a char boundary.
        format!("{}...({} chars)", &text[..MAX], text.len())
    }
}

/// Builds `data.key[3]...` for node `target` by descending from the root; runs only on error.
fn path_to(tree: &Tree<'_>, target: usize) -> String {
    let mut path = String::from("data");
    let mut at = 0;
    while at != target {
        let mut next = None;
        match tree.node(at) {
            Node::Array { count, .. } => {
                let mut child = at + 1;
                for n in 0..count {
                    let end = tree.end(child);
                    if target < end {
                        let _ = write!(path, "[{n}]");
                        next = Some(child);
                        break;
                    }
                    child = end;
                }
            }
            Node::Object { count, .. } => {
                let mut key = at + 1;
                for _ in 0..count {
                    let value = key + 1;
                    let end = tree.end(value);
                    if target < end {
                        push_key(&mut path, tree.str_bytes(key));
                        next = Some(value);
                        break;
                    }
                    key = end;
                }
            }
            _ => {}
        }
        match next {
            Some(n) => at = n,
            None => break,
        }
    }
    path
}

fn push_key(path: &mut String, key: &[u8]) {
    let key = String::from_utf8_lossy(key);
    let ident = key
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$')
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$');
    if ident {
        path.push('.');
        path.push_str(&key);
    } else {
        let _ = write!(path, "[{key:?}]");
    }
}
