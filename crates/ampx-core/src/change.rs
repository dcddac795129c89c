//! The vocabulary of differences: what happens to an object (`Action`), one
//! field's change (`Change`), and a problem only the live state reveals
//! (`DiffError`). It depends on nothing but where a manifest says a thing.

use serde_json::Value;

use crate::manifest::{Location, Source};

/// One field-level change, as shown in the plan.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Change {
    /// Field path, e.g. `name`, `variants.on.payload`.
    pub path: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
    /// Where the desired value is written (absent for what no manifest
    /// says, such as a prune's archive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<Source>,
}

/// What happens to an object as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Create,
    Update,
    Unarchive,
    Archive,
}

/// A problem that only the live state reveals (an unknown deployment label,
/// a rename whose both ends exist): the diff and plan layer's error, shown
/// as `file:line: message`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{at}: {message}")]
pub struct DiffError {
    pub at: Location,
    pub message: String,
}
