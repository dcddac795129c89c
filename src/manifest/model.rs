//! The manifest types: what a team writes in YAML (SPEC §1).
//!
//! Every field but the identity is optional, because an absent field is
//! unmanaged: it is neither diffed nor written. Unknown fields are errors.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// Accepts a YAML scalar of any type as a string (`1234567` is a user id, not
/// a number to the user who wrote it).
pub fn string_like<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match Value::deserialize(d)? {
        Value::String(s) => Ok(s),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        other => Err(serde::de::Error::custom(format!(
            "expected a string, found {}",
            kind_of(&other)
        ))),
    }
}

fn string_list<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    #[derive(Deserialize)]
    struct S(#[serde(deserialize_with = "string_like")] String);
    let v: Option<Vec<S>> = Option::deserialize(d)?;
    Ok(v.map(|v| v.into_iter().map(|s| s.0).collect()))
}

fn string_vec<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(string_list(d)?.unwrap_or_default())
}

/// `payload: null` is a managed "no payload", unlike an absent payload.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Ok(Some(Value::deserialize(d)?))
}

pub fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Region {
    Us,
    Eu,
}

impl Region {
    pub fn base_url(self) -> &'static str {
        match self {
            Region::Us => "https://experiment.amplitude.com",
            Region::Eu => "https://experiment.eu.amplitude.com",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProjectSpec {
    #[serde(deserialize_with = "string_like")]
    pub id: String,
    #[serde(default)]
    pub region: Option<Region>,
    #[serde(default)]
    pub server: Option<String>,
    #[serde(default)]
    pub owner_tag: Option<String>,
    #[serde(default)]
    pub prune: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EvaluationMode {
    Local,
    Remote,
}

impl EvaluationMode {
    pub fn as_str(self) -> &'static str {
        match self {
            EvaluationMode::Local => "local",
            EvaluationMode::Remote => "remote",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FlagSpec {
    #[serde(deserialize_with = "string_like")]
    pub key: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub enabled: Option<bool>,
    #[serde(default)]
    pub evaluation_mode: Option<EvaluationMode>,
    #[serde(default)]
    pub bucketing_key: Option<String>,
    #[serde(default)]
    pub bucketing_unit: Option<String>,
    #[serde(default)]
    pub bucketing_salt: Option<String>,
    #[serde(default, deserialize_with = "string_list")]
    pub tags: Option<Vec<String>>,
    #[serde(default, deserialize_with = "string_list")]
    pub deployments: Option<Vec<String>>,
    #[serde(default)]
    pub variants: Option<Vec<VariantSpec>>,
    #[serde(default)]
    pub rollout_percentage: Option<i64>,
    #[serde(default)]
    pub rollout_weights: Option<BTreeMap<String, i64>>,
    #[serde(default)]
    pub target_segments: Option<Vec<SegmentSpec>>,
    #[serde(default)]
    pub archived: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VariantSpec {
    #[serde(deserialize_with = "string_like")]
    pub key: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub payload: Option<Value>,
    #[serde(default, deserialize_with = "string_list")]
    pub inclusions: Option<Vec<String>>,
    #[serde(default)]
    pub renamed_from: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SegmentSpec {
    pub name: String,
    #[serde(default)]
    pub conditions: Vec<ConditionSpec>,
    #[serde(default)]
    pub percentage: Option<i64>,
    #[serde(default)]
    pub rollout_weights: Option<BTreeMap<String, i64>>,
    #[serde(default)]
    pub bucketing_key: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConditionSpec {
    pub prop: String,
    pub op: String,
    #[serde(default, deserialize_with = "string_vec")]
    pub values: Vec<String>,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
}

/// Condition operators the API accepts.
pub const OPS: &[&str] = &[
    "is",
    "is not",
    "contains",
    "does not contain",
    "less",
    "less or equal",
    "greater",
    "greater or equal",
    "set is",
    "set is not",
    "set contains",
    "set does not contain",
    "glob match",
    "glob does not match",
];

/// Most inclusions the API keeps on one variant.
pub const MAX_INCLUSIONS: usize = 2000;
