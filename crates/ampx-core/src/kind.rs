//! The kinds of object a plan changes, and the API collection each lives in.

use serde::{Deserialize, Serialize};

use crate::manifest::ObjectKind;

/// What an object plan is about. Serialised as its noun (`flag`, `mutex
/// group`, …), as the JSON report and saved plans have always shown it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Kind {
    #[serde(rename = "flag")]
    Flag,
    #[serde(rename = "experiment")]
    Experiment,
    #[serde(rename = "deployment")]
    Deployment,
    #[serde(rename = "mutex group")]
    Mutex,
    #[serde(rename = "holdout group")]
    Holdout,
}

impl Kind {
    pub const ALL: [Kind; 5] = [
        Kind::Flag,
        Kind::Experiment,
        Kind::Deployment,
        Kind::Mutex,
        Kind::Holdout,
    ];

    /// As shown to users: `flag`, `experiment`, `deployment`, `mutex
    /// group`, `holdout group`.
    pub fn noun(self) -> &'static str {
        match self {
            Kind::Flag => "flag",
            Kind::Experiment => "experiment",
            Kind::Deployment => "deployment",
            Kind::Mutex => "mutex group",
            Kind::Holdout => "holdout group",
        }
    }

    /// The noun, as [`noun`](Self::noun).
    pub fn as_str(self) -> &'static str {
        self.noun()
    }

    /// The API collection: `flags`, `experiments`, `deployments`,
    /// `mutexes`, `holdouts`.
    pub fn collection(self) -> &'static str {
        match self {
            Kind::Flag => "flags",
            Kind::Experiment => "experiments",
            Kind::Deployment => "deployments",
            Kind::Mutex => "mutexes",
            Kind::Holdout => "holdouts",
        }
    }

    /// The kind whose [`collection`](Self::collection) this is.
    pub fn from_collection(collection: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.collection() == collection)
    }

    /// Flags and experiments, which share their manifests and calls.
    pub fn object_kind(self) -> Option<ObjectKind> {
        match self {
            Kind::Flag => Some(ObjectKind::Flag),
            Kind::Experiment => Some(ObjectKind::Experiment),
            _ => None,
        }
    }
}

impl From<ObjectKind> for Kind {
    fn from(k: ObjectKind) -> Kind {
        match k {
            ObjectKind::Flag => Kind::Flag,
            ObjectKind::Experiment => Kind::Experiment,
        }
    }
}

/// Compares with a noun, as tests and messages name kinds.
impl PartialEq<&str> for Kind {
    fn eq(&self, other: &&str) -> bool {
        self.noun() == *other
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.noun())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nouns_and_collections_round_trip() {
        for k in Kind::ALL {
            assert_eq!(Kind::from_collection(k.collection()), Some(k));
            let json = serde_json::to_value(k).unwrap();
            assert_eq!(json, serde_json::Value::String(k.noun().into()));
            assert_eq!(serde_json::from_value::<Kind>(json).unwrap(), k);
        }
        assert_eq!(
            Kind::from(ObjectKind::Experiment).object_kind(),
            Some(ObjectKind::Experiment)
        );
    }
}
