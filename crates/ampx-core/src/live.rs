//! The live state as the API shows it, read tolerantly: ids may be numbers or
//! strings, lists may be null, unknown fields are ignored. Deployment SDK keys
//! are never deserialised, so they cannot reach any output.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::manifest::ObjectKind;

/// Whether `text`, answered by the API as an id or a variant key, can stand
/// in a call's path: not empty, not `.` or `..` (which a URL reads as a step
/// up the path, whatever its encoding), no control characters, at most 256
/// bytes. Anything else is refused as it is read, before it can reach a call.
pub fn path_safe(text: &str) -> bool {
    !text.is_empty()
        && text != "."
        && text != ".."
        && text.len() <= 256
        && !text.chars().any(char::is_control)
}

fn checked_id<E: serde::de::Error>(id: String) -> Result<String, E> {
    if path_safe(&id) {
        Ok(id)
    } else {
        Err(E::custom(format!(
            "{id:?} cannot be an id (ids stand in call paths)"
        )))
    }
}

fn id_string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match Value::deserialize(d)? {
        Value::String(s) => checked_id(s),
        Value::Number(n) => Ok(n.to_string()),
        other => Err(serde::de::Error::custom(format!(
            "expected an id, found {other}"
        ))),
    }
}

fn opt_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        Some(Value::String(s)) if !s.is_empty() => Ok(Some(s)),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        _ => Ok(None),
    }
}

fn id_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let v: Option<Vec<Value>> = Option::deserialize(d)?;
    v.unwrap_or_default()
        .into_iter()
        .map(|x| match x {
            Value::String(s) => checked_id(s),
            Value::Number(n) => Ok(n.to_string()),
            Value::Object(o) => match o.get("id") {
                Some(Value::String(s)) => checked_id(s.clone()),
                Some(Value::Number(n)) => Ok(n.to_string()),
                _ => Err(serde::de::Error::custom("expected an id")),
            },
            other => Err(serde::de::Error::custom(format!(
                "expected an id, found {other}"
            ))),
        })
        .collect()
}

/// A variant key as the API answers it: it stands in call paths too.
fn variant_key<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let key = String::deserialize(d)?;
    if path_safe(&key) {
        Ok(key)
    } else {
        Err(serde::de::Error::custom(format!(
            "{key:?} cannot be a variant key (variant keys stand in call paths)"
        )))
    }
}

fn nullable<'de, D: Deserializer<'de>, T: Default + Deserialize<'de>>(d: D) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// A list the answer may leave out: absent is unknown (`None`, by the
/// field's default), `null` is empty.
fn known_list<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    Ok(Some(
        Option::<Vec<String>>::deserialize(d)?.unwrap_or_default(),
    ))
}

/// A flag the answer may leave out: absent or `null` is unknown.
fn known_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    Option::<bool>::deserialize(d)
}

/// A value the answer may leave out: absent is unknown (`None`), anything
/// shown, `null` included, is known.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Ok(Some(Value::deserialize(d)?))
}

fn weights<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, i64>, D::Error> {
    let m: Option<BTreeMap<String, Value>> = Option::deserialize(d)?;
    Ok(m.unwrap_or_default()
        .into_iter()
        .filter_map(|(k, v)| v.as_f64().map(|w| (k, w.round() as i64)))
        .collect())
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct VariantRef {
    #[serde(deserialize_with = "variant_key")]
    pub key: String,
}

/// A flag as the list and detail endpoints show it.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LiveFlag {
    #[serde(deserialize_with = "id_string")]
    pub id: String,
    pub key: String,
    /// The project the object belongs to, when the API says.
    #[serde(default, deserialize_with = "opt_id")]
    pub project_id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub enabled: bool,
    #[serde(default)]
    pub evaluation_mode: Option<String>,
    #[serde(default)]
    pub bucketing_key: Option<String>,
    #[serde(default)]
    pub bucketing_salt: Option<String>,
    #[serde(default)]
    pub bucketing_unit: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub variants: Vec<VariantRef>,
    #[serde(default)]
    pub rollout_percentage: Option<f64>,
    #[serde(default, deserialize_with = "weights")]
    pub rollout_weights: BTreeMap<String, i64>,
    #[serde(default, deserialize_with = "nullable")]
    pub target_segments: Vec<Value>,
    #[serde(default, deserialize_with = "id_list")]
    pub deployments: Vec<String>,
    /// The tags, when the answer shows them (`None`: unknown; no documented
    /// flag answer shows them, only the experiment detail).
    #[serde(default, deserialize_with = "known_list")]
    pub tags: Option<Vec<String>>,
    /// Archived, when the answer says (`archived`, or `deleted`, which only
    /// detail answers show); the reader fills it in from the lists otherwise.
    #[serde(default, deserialize_with = "known_bool")]
    pub archived: Option<bool>,
    #[serde(default, deserialize_with = "known_bool")]
    pub deleted: Option<bool>,
    /// Experiments only, read-only: `planning`, `running`, `decision-made`…
    #[serde(default)]
    pub state: Option<String>,
    /// The decision fields: `None` when the answer does not show them,
    /// `Some(Null)` when no decision was made.
    #[serde(default, deserialize_with = "present")]
    pub decision: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    pub decision_reason: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    pub rolled_out_variant: Option<Value>,
    #[serde(default)]
    pub experiment_type: Option<String>,
    #[serde(default)]
    pub sticky_bucketing: Option<bool>,
    #[serde(default)]
    pub start_date: Option<String>,
    #[serde(default)]
    pub end_date: Option<String>,
    /// `None`: the answer does not show it (no documented answer does);
    /// `Some(Null)`: the default exposure event.
    #[serde(default, deserialize_with = "present")]
    pub exposure_event: Option<Value>,
    /// What kind of experiment, where an answer says (`web` for Web
    /// Experimentation); not documented, so used only to leave out of an
    /// export what the API would refuse to edit.
    #[serde(default, rename = "type", skip_serializing)]
    pub object_type: Option<String>,
    /// Who changed the object last, when the API says (experiments do).
    /// Not part of a saved plan's fingerprint.
    #[serde(default, skip_serializing)]
    pub last_modified_by: Option<Value>,
    #[serde(default, skip_serializing)]
    pub last_modified_at: Option<String>,
    /// Full variant details, when the manifests need them.
    #[serde(skip_deserializing, skip_serializing_if = "Option::is_none")]
    pub variant_details: Option<BTreeMap<String, LiveVariant>>,
    /// Inclusions by variant key, for the variants whose manifests manage them.
    #[serde(skip_deserializing, skip_serializing_if = "BTreeMap::is_empty")]
    pub inclusions: BTreeMap<String, Vec<String>>,
    /// Cohort ids by variant key, for the variants whose manifests manage them.
    #[serde(skip_deserializing, skip_serializing_if = "BTreeMap::is_empty")]
    pub cohorts: BTreeMap<String, Vec<String>>,
    /// Read-only: the groups the object depends on,
    /// `{"flags": {"<group id>": [variant keys]}, "operator": "all"}`.
    #[serde(default, skip_serializing)]
    pub parent_dependencies: Option<Value>,
}

impl LiveFlag {
    /// Archived as far as the answers say; an object whose state is unknown
    /// counts as active (the reader settles the state before any plan).
    pub fn is_archived(&self) -> bool {
        self.archived == Some(true) || self.deleted == Some(true)
    }
    /// Whether an answer said if the object is archived.
    pub fn archive_known(&self) -> bool {
        self.archived.is_some() || self.deleted.is_some()
    }
    pub fn has_variant(&self, key: &str) -> bool {
        self.variants.iter().any(|v| v.key == key)
    }
    /// An experiment the answer marks as made outside Feature Experiment
    /// (Web Experimentation, Guides & Surveys): the API answers 405 to
    /// every edit of one.
    pub fn is_not_editable(&self) -> bool {
        self.object_type.as_deref().is_some_and(|t| {
            let t = t.to_ascii_lowercase();
            t.contains("web") || t.contains("guide") || t.contains("survey")
        })
    }
    /// A running experiment: changes to it can bias results.
    pub fn is_running(&self) -> bool {
        self.state.as_deref() == Some("running") && self.enabled
    }
}

/// A variant as `GET …/variants` shows it.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LiveVariant {
    #[serde(deserialize_with = "variant_key")]
    pub key: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub payload: Option<Value>,
    #[serde(default)]
    pub rollout_weight: Option<f64>,
}

/// A deployment. Its SDK `key` is deliberately not read.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LiveDeployment {
    #[serde(deserialize_with = "id_string")]
    pub id: String,
    /// The project it belongs to, when the API says.
    #[serde(default, deserialize_with = "opt_id", skip_serializing)]
    pub project_id: Option<String>,
    #[serde(default)]
    pub label: String,
    #[serde(default, deserialize_with = "nullable")]
    pub deleted: bool,
    /// `client` or `server`, when the API shows it.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

fn percentage<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Ok(Option::<Value>::deserialize(d)?
        .and_then(|v| v.as_f64())
        .map(|f| f.round() as i64))
}

fn string_ids<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let v: Option<Vec<Value>> = Option::deserialize(d)?;
    v.unwrap_or_default()
        .into_iter()
        .map(|x| match x {
            Value::String(s) => Ok(s),
            Value::Number(n) => Ok(n.to_string()),
            other => Err(serde::de::Error::custom(format!(
                "expected a user id, found {other}"
            ))),
        })
        .collect()
}

/// One slot of a mutual exclusion group.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LiveSlot {
    /// The index the slot PATCH takes (the docs show the first as 1).
    #[serde(default, deserialize_with = "percentage")]
    pub index: Option<i64>,
    #[serde(default, deserialize_with = "percentage")]
    pub percentage: Option<i64>,
    /// Experiment ids.
    #[serde(default, deserialize_with = "id_list")]
    pub experiments: Vec<String>,
    /// Holdout group ids.
    #[serde(default, deserialize_with = "id_list")]
    pub holdouts: Vec<String>,
    #[serde(default, deserialize_with = "string_ids")]
    pub individuals: Vec<String>,
    #[serde(default, deserialize_with = "string_ids")]
    pub cohorts: Vec<String>,
    /// The slot's variant of the group flag (`slot-1`).
    #[serde(default)]
    pub variant_key: Option<String>,
}

/// A mutual exclusion group.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LiveMutex {
    #[serde(deserialize_with = "id_string")]
    pub id: String,
    pub key: String,
    #[serde(default, deserialize_with = "opt_id", skip_serializing)]
    pub project_id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub evaluation_mode: Option<String>,
    #[serde(default)]
    pub bucketing_key: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub slots: Vec<LiveSlot>,
    #[serde(default, deserialize_with = "nullable")]
    pub deleted: bool,
    #[serde(default, deserialize_with = "nullable")]
    pub archived: bool,
    #[serde(default, skip_serializing)]
    pub last_modified_by: Option<Value>,
    #[serde(default, skip_serializing)]
    pub last_modified_at: Option<String>,
}

/// A holdout group.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LiveHoldout {
    #[serde(deserialize_with = "id_string")]
    pub id: String,
    pub key: String,
    #[serde(default, deserialize_with = "opt_id", skip_serializing)]
    pub project_id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default, deserialize_with = "percentage")]
    pub holdout_percentage: Option<i64>,
    #[serde(default)]
    pub evaluation_mode: Option<String>,
    #[serde(default)]
    pub bucketing_key: Option<String>,
    /// Experiment ids.
    #[serde(default, deserialize_with = "id_list")]
    pub experiments: Vec<String>,
    #[serde(default, deserialize_with = "string_ids")]
    pub individual_inclusion: Vec<String>,
    #[serde(default, deserialize_with = "string_ids")]
    pub individual_exclusion: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub deleted: bool,
    #[serde(default, deserialize_with = "nullable")]
    pub archived: bool,
    #[serde(default, skip_serializing)]
    pub last_modified_by: Option<Value>,
    #[serde(default, skip_serializing)]
    pub last_modified_at: Option<String>,
}

/// Everything the plan read from the API.
#[derive(Debug, Clone, Default)]
pub struct Live {
    /// Flags by key, archived ones included.
    pub flags: BTreeMap<String, LiveFlag>,
    /// Experiments by key, archived ones included (read only when the
    /// manifests hold an experiment).
    pub experiments: BTreeMap<String, LiveFlag>,
    /// The project's deployments, when the manifests name any.
    pub deployments: Option<Vec<LiveDeployment>>,
    /// Mutual exclusion groups by key, when the manifests hold any.
    pub mutexes: Option<BTreeMap<String, LiveMutex>>,
    /// Holdout groups by key, when the manifests hold or name any.
    pub holdouts: Option<BTreeMap<String, LiveHoldout>>,
}

impl Live {
    pub fn objects(&self, kind: ObjectKind) -> &BTreeMap<String, LiveFlag> {
        match kind {
            ObjectKind::Flag => &self.flags,
            ObjectKind::Experiment => &self.experiments,
        }
    }
    pub fn objects_mut(&mut self, kind: ObjectKind) -> &mut BTreeMap<String, LiveFlag> {
        match kind {
            ObjectKind::Flag => &mut self.flags,
            ObjectKind::Experiment => &mut self.experiments,
        }
    }

    /// Id of the deployment with this label (active ones first).
    pub fn deployment_id(&self, label: &str) -> Option<&str> {
        let ds = self.deployments.as_ref()?;
        ds.iter()
            .filter(|d| d.label == label)
            .min_by_key(|d| d.deleted)
            .map(|d| d.id.as_str())
    }

    /// Key of the experiment with this id.
    pub fn experiment_key(&self, id: &str) -> Option<&str> {
        self.experiments
            .values()
            .find(|e| e.id == id)
            .map(|e| e.key.as_str())
    }

    /// Key of the holdout group with this id.
    pub fn holdout_key(&self, id: &str) -> Option<&str> {
        self.holdouts
            .as_ref()?
            .values()
            .find(|h| h.id == id)
            .map(|h| h.key.as_str())
    }

    /// Key and kind of the group with this id (for `parentDependencies`).
    pub fn group_name(&self, id: &str) -> Option<String> {
        let mutex = self
            .mutexes
            .as_ref()
            .and_then(|ms| ms.values().find(|m| m.id == id));
        if let Some(m) = mutex {
            return Some(format!("mutex group {}", m.key));
        }
        self.holdout_key(id).map(|k| format!("holdout group {k}"))
    }

    /// Label of a deployment id, or the id itself when unknown.
    pub fn deployment_label(&self, id: &str) -> String {
        self.deployments
            .as_ref()
            .and_then(|ds| ds.iter().find(|d| d.id == id))
            .map(|d| d.label.clone())
            .unwrap_or_else(|| format!("(deployment id {id})"))
    }
}
