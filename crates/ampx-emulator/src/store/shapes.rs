//! The answer shapes of strict mode: exactly the fields of the docs' example
//! answers, in the docs' order, written out here from the pages in
//! `shared/reference/amplitude-docs/`.
//!
//! Strict answers are projections of the full (lenient) rendering: each
//! field the example shows is taken from it, except that authors
//! (`createdBy`, `lastModifiedBy`) are the emulator's email, as the list
//! examples show emails, and `startDate`/`endDate` are the UTC day of the
//! stored date-time, as the examples show bare dates. A field the full
//! rendering lacks (`parentDependencies` of an object without dependencies)
//! is left out.

use serde_json::{Map, Value};

use super::super::support::utc_day;
use super::Collection;

/// What strict answers show as every author.
pub(super) const AUTHOR_EMAIL: &str = "ampx-emulator@example.com";

/// Which answer an object is rendered for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum View {
    /// An entry of `GET /flags` or `GET /experiments`.
    List,
    /// `GET /flags/{id}` or `GET /experiments/{id}`.
    Detail,
    /// The `flagConfig` of a version.
    Version,
}

/// The flags page, `## List`.
const FLAG_LIST: &[&str] = &[
    "id",
    "projectId",
    "deployments",
    "key",
    "name",
    "description",
    "enabled",
    "evaluationMode",
    "bucketingKey",
    "bucketingSalt",
    "bucketingUnit",
    "createdBy",
    "lastModifiedBy",
    "createdAt",
    "lastModifiedAt",
    "variants",
    "rolloutPercentage",
    "rolloutWeights",
    "targetSegments",
    "parentDependencies",
];

/// The flags page, `## Get details`.
const FLAG_DETAIL: &[&str] = &[
    "id",
    "projectId",
    "deployments",
    "key",
    "name",
    "description",
    "enabled",
    "evaluationMode",
    "bucketingKey",
    "bucketingSalt",
    "bucketingUnit",
    "variants",
    "rolloutPercentage",
    "rolloutWeights",
    "targetSegments",
    "parentDependencies",
    "deleted",
];

/// The flags page, `## List versions` and `## Get version details`, and the
/// versions page: a version's `flagConfig`.
const FLAG_VERSION: &[&str] = &[
    "id",
    "projectId",
    "deployments",
    "key",
    "name",
    "description",
    "enabled",
    "evaluationMode",
    "bucketingKey",
    "bucketingSalt",
    "bucketingUnit",
    "variants",
    "rolloutPercentage",
    "rolloutWeights",
    "targetSegments",
];

/// The experiments page, `## List`.
const EXPERIMENT_LIST: &[&str] = &[
    "id",
    "projectId",
    "deployments",
    "key",
    "name",
    "decision",
    "decisionReason",
    "description",
    "enabled",
    "evaluationMode",
    "bucketingKey",
    "bucketingSalt",
    "bucketingUnit",
    "variants",
    "rolledOutVariant",
    "rolloutPercentage",
    "rolloutWeights",
    "targetSegments",
    "parentDependencies",
    "stickyBucketing",
    "state",
    "startDate",
    "endDate",
    "experimentType",
    "createdBy",
    "lastModifiedBy",
    "createdAt",
    "lastModifiedAt",
];

/// The experiments page, `## Get details`.
const EXPERIMENT_DETAIL: &[&str] = &[
    "id",
    "projectId",
    "deployments",
    "key",
    "name",
    "decision",
    "decisionReason",
    "description",
    "enabled",
    "evaluationMode",
    "bucketingKey",
    "bucketingSalt",
    "bucketingUnit",
    "variants",
    "rolledOutVariant",
    "rolloutPercentage",
    "rolloutWeights",
    "targetSegments",
    "parentDependencies",
    "stickyBucketing",
    "state",
    "startDate",
    "endDate",
    "experimentType",
    "deleted",
    "tags",
    "createdBy",
];

/// The experiments page, `## List versions` and `## Get version details`:
/// a version's `flagConfig` (which shows no evaluation mode, bucketing salt
/// or unit, rollout percentage or state).
const EXPERIMENT_VERSION: &[&str] = &[
    "id",
    "projectId",
    "deployments",
    "key",
    "name",
    "description",
    "enabled",
    "bucketingKey",
    "variants",
    "rolloutWeights",
    "targetSegments",
    "stickyBucketing",
    "startDate",
    "endDate",
    "experimentType",
];

/// The mutex page, `## List` and `## Get details` (the same fields).
pub(super) const MUTEX: &[&str] = &[
    "id",
    "projectId",
    "name",
    "key",
    "description",
    "evaluationMode",
    "bucketingKey",
    "bucketingSalt",
    "slots",
];

/// The holdouts page, `## List` and `## Get details` (the same fields).
pub(super) const HOLDOUT: &[&str] = &[
    "id",
    "projectId",
    "name",
    "key",
    "description",
    "holdoutPercentage",
    "evaluationMode",
    "bucketingKey",
    "bucketingSalt",
    "variantName",
    "experiments",
    "individualInclusion",
    "individualExclusion",
    "deleted",
    "createdBy",
    "lastModifiedBy",
    "createdAt",
    "lastModifiedAt",
];

/// The deployments page, `## List deployments`, and the flag and experiment
/// pages' `## List deployments`: no `type`.
pub(super) const DEPLOYMENT_LIST: &[&str] = &["id", "projectId", "label", "key", "deleted"];

/// `GET /deployments/{id}`, which the docs do not show: the list's fields
/// and the `type` (what a client reads it for).
pub(super) const DEPLOYMENT_DETAIL: &[&str] =
    &["id", "projectId", "label", "key", "type", "deleted"];

/// The fields of an object's answer in strict mode.
pub(super) fn object_keys(collection: Collection, view: View) -> &'static [&'static str] {
    match (collection, view) {
        (Collection::Flags, View::List) => FLAG_LIST,
        (Collection::Flags, View::Detail) => FLAG_DETAIL,
        (Collection::Flags, View::Version) => FLAG_VERSION,
        (Collection::Experiments, View::List) => EXPERIMENT_LIST,
        (Collection::Experiments, View::Detail) => EXPERIMENT_DETAIL,
        (Collection::Experiments, View::Version) => EXPERIMENT_VERSION,
    }
}

/// `full` (a JSON object) cut down to `keys`, in their order, with authors
/// as the emulator's email and dates as UTC days.
pub(super) fn project(full: &Value, keys: &[&str]) -> Value {
    let Some(map) = full.as_object() else {
        return full.clone();
    };
    let mut out = Map::new();
    for key in keys {
        let value = match *key {
            "createdBy" | "lastModifiedBy" => Some(Value::from(AUTHOR_EMAIL)),
            "startDate" | "endDate" => map.get(*key).map(bare_date),
            _ => map.get(*key).cloned(),
        };
        if let Some(value) = value {
            out.insert((*key).to_owned(), value);
        }
    }
    Value::Object(out)
}

/// A date-time as the UTC day it falls on (`"2023-07-29"`); `null`, a bare
/// date and anything unreadable stay as they are.
pub(super) fn bare_date(value: &Value) -> Value {
    match value {
        Value::String(s) => utc_day(s).map_or_else(|| value.clone(), Value::String),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn projection_keeps_the_docs_fields_in_order() {
        let full = json!({
            "tags": ["x"], "key": "k", "id": 1, "archived": true, "deleted": true,
            "startDate": "2023-07-30T01:00:00+02:00", "endDate": null,
            "createdBy": "someone"
        });
        let out = project(
            &full,
            &[
                "id",
                "key",
                "startDate",
                "endDate",
                "createdBy",
                "parentDependencies",
            ],
        );
        assert_eq!(
            out,
            json!({"id": 1, "key": "k", "startDate": "2023-07-29", "endDate": null,
                   "createdBy": AUTHOR_EMAIL})
        );
        let order: Vec<&String> = out
            .as_object()
            .map(|m| m.keys().collect())
            .unwrap_or_default();
        assert_eq!(order, ["id", "key", "startDate", "endDate", "createdBy"]);
    }
}
