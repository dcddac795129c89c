//! The live state as the API shows it, read tolerantly: ids may be numbers or
//! strings, lists may be null, unknown fields are ignored. Deployment SDK keys
//! are never deserialised, so they cannot reach any output.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::manifest::ObjectKind;

fn id_string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match Value::deserialize(d)? {
        Value::String(s) => Ok(s),
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
            Value::String(s) => Ok(s),
            Value::Number(n) => Ok(n.to_string()),
            Value::Object(o) => match o.get("id") {
                Some(Value::String(s)) => Ok(s.clone()),
                Some(Value::Number(n)) => Ok(n.to_string()),
                _ => Err(serde::de::Error::custom("expected an id")),
            },
            other => Err(serde::de::Error::custom(format!(
                "expected an id, found {other}"
            ))),
        })
        .collect()
}

fn nullable<'de, D: Deserializer<'de>, T: Default + Deserialize<'de>>(d: D) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
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
    #[serde(default, deserialize_with = "nullable")]
    pub tags: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub archived: bool,
    #[serde(default, deserialize_with = "nullable")]
    pub deleted: bool,
    /// Experiments only, read-only: `planning`, `running`, `decision-made`…
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub decision: Option<Value>,
    #[serde(default)]
    pub rolled_out_variant: Option<Value>,
    #[serde(default)]
    pub experiment_type: Option<String>,
    #[serde(default)]
    pub sticky_bucketing: Option<bool>,
    #[serde(default)]
    pub start_date: Option<String>,
    #[serde(default)]
    pub end_date: Option<String>,
    #[serde(default)]
    pub exposure_event: Option<Value>,
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
}

impl LiveFlag {
    pub fn is_archived(&self) -> bool {
        self.archived || self.deleted
    }
    pub fn has_variant(&self, key: &str) -> bool {
        self.variants.iter().any(|v| v.key == key)
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
pub struct LiveDeployment {
    #[serde(deserialize_with = "id_string")]
    pub id: String,
    #[serde(default)]
    pub label: String,
    #[serde(default, deserialize_with = "nullable")]
    pub deleted: bool,
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

    /// Label of a deployment id, or the id itself when unknown.
    pub fn deployment_label(&self, id: &str) -> String {
        self.deployments
            .as_ref()
            .and_then(|ds| ds.iter().find(|d| d.id == id))
            .map(|d| d.label.clone())
            .unwrap_or_else(|| format!("(deployment id {id})"))
    }
}
