//! The manifest types: what a team writes in YAML (SPEC §1).
//!
//! Every field but the identity is optional, because an absent field is
//! unmanaged: it is neither diffed nor written. Unknown fields are errors.

use std::collections::BTreeMap;

use schemars::JsonSchema;
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProjectSpec {
    #[serde(deserialize_with = "string_like")]
    pub id: String,
    /// The environment this project is, among several Project documents
    /// (`dev`, `staging`, `prod`).
    #[serde(default)]
    pub environment: Option<String>,
    /// The environment variable holding this project's Management API key
    /// (default `AMPLITUDE_MANAGEMENT_API_KEY`).
    #[serde(default)]
    pub api_key_env: Option<String>,
    #[serde(default)]
    pub region: Option<Region>,
    #[serde(default)]
    pub server: Option<String>,
    #[serde(default)]
    pub owner_tag: Option<String>,
    #[serde(default)]
    pub prune: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
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

/// Which API collection an object lives in.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Default,
    Serialize,
    Deserialize,
    PartialOrd,
    Ord,
    JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum ObjectKind {
    #[default]
    Flag,
    Experiment,
}

impl ObjectKind {
    /// `flag` / `experiment`, as shown to users.
    pub fn noun(self) -> &'static str {
        match self {
            ObjectKind::Flag => "flag",
            ObjectKind::Experiment => "experiment",
        }
    }
    /// The API collection: `flags` / `experiments`.
    pub fn collection(self) -> &'static str {
        match self {
            ObjectKind::Flag => "flags",
            ObjectKind::Experiment => "experiments",
        }
    }
}

/// What was decided about an experiment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Decision {
    Rollout,
    Rollback,
    ContinueRunning,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Rollout => "rollout",
            Decision::Rollback => "rollback",
            Decision::ContinueRunning => "continue-running",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ExperimentType {
    ABTest,
    MultiArmBandit,
}

impl ExperimentType {
    pub fn as_str(self) -> &'static str {
        match self {
            ExperimentType::ABTest => "a-b-test",
            ExperimentType::MultiArmBandit => "multi-arm-bandit",
        }
    }
}

/// `exposureEvent: null` is a managed "the default exposure event", unlike
/// an absent one.
fn nullable_exposure<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<ExposureEvent>>, D::Error> {
    Ok(Some(Option::<ExposureEvent>::deserialize(d)?))
}

/// `endDate: null` is a managed "no date", unlike an absent one.
fn nullable_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(Some(None)),
        Value::String(s) => Ok(Some(Some(s))),
        other => Err(serde::de::Error::custom(format!(
            "expected a date-time like 2026-12-01T00:00:00Z or null, found {}",
            kind_of(&other)
        ))),
    }
}

/// The event that counts a user as exposed to an experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExposureEvent {
    pub event_type: String,
    /// Always sent: the API requires it (an empty list for no filters).
    #[serde(default)]
    pub filters: Vec<ExposureFilter>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExposureFilter {
    pub subprop_type: String,
    pub subprop_key: String,
    pub subprop_op: String,
    #[serde(default, deserialize_with = "string_vec")]
    pub subprop_value: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_type: Option<String>,
}

/// A flag or an experiment (an experiment is a flag with a few more fields).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FlagSpec {
    /// Set from the document's `kind`.
    #[serde(skip)]
    pub kind: ObjectKind,
    #[serde(deserialize_with = "string_like")]
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evaluation_mode: Option<EvaluationMode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucketing_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucketing_unit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucketing_salt: Option<String>,
    #[serde(
        default,
        deserialize_with = "string_list",
        skip_serializing_if = "Option::is_none"
    )]
    pub tags: Option<Vec<String>>,
    #[serde(
        default,
        deserialize_with = "string_list",
        skip_serializing_if = "Option::is_none"
    )]
    pub deployments: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variants: Option<Vec<VariantSpec>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout_percentage: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout_weights: Option<BTreeMap<String, i64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_segments: Option<Vec<SegmentSpec>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archived: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub experiment_type: Option<ExperimentType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sticky_bucketing: Option<bool>,
    #[serde(
        default,
        deserialize_with = "nullable_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub start_date: Option<Option<String>>,
    #[serde(
        default,
        deserialize_with = "nullable_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub end_date: Option<Option<String>>,
    /// `null`: back to Amplitude's default exposure event.
    #[serde(
        default,
        deserialize_with = "nullable_exposure",
        skip_serializing_if = "Option::is_none"
    )]
    pub exposure_event: Option<Option<ExposureEvent>>,
    /// The decision that concludes the experiment: `rollout`, `rollback`
    /// or `continue-running`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<Decision>,
    /// Why it was decided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision_reason: Option<String>,
    /// The variant rolled out (its key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rolled_out_variant: Option<String>,
    /// Per-environment values, merged over the fields above: mappings key by
    /// key, `variants` by variant key, other lists whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<BTreeMap<String, serde_json::Map<String, Value>>>")]
    pub environments: Option<BTreeMap<String, Value>>,
    /// The environments this object exists in (default: all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub only_in: Option<Vec<String>>,
    /// Who owns the flag (manifest-only: never sent to the API).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// When the flag should be gone, a date (manifest-only; the `expiry`
    /// policy rule reads it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    /// Policy rules this object is exempt from, each with its reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waive: Option<Vec<Waiver>>,
    /// `rolloutPercentage` over time: the latest step that is due sets it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<Vec<ScheduleStep>>,
}

/// An exemption from one policy rule, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Waiver {
    pub rule: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// One step of a rollout schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScheduleStep {
    /// When the step is due (RFC 3339, e.g. `2026-12-05T09:00:00Z`).
    #[serde(deserialize_with = "string_like")]
    pub at: String,
    pub rollout_percentage: i64,
}

/// How much a policy rule's violation counts.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Off,
    Warning,
    Error,
}

/// `kind: Policy`: rules every flag and experiment is checked against.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PolicySpec {
    pub rules: PolicyRules,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PolicyRules {
    /// Every flag and experiment has a description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_description: Option<Severity>,
    /// Keys match a regular expression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_pattern: Option<KeyPatternRule>,
    /// Every flag and experiment has a tag matching one of the patterns
    /// (`*` matches any run of characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_tags: Option<RequireTagsRule>,
    /// `rolloutPercentage` rises at most this many points per apply (and
    /// per schedule step).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_rollout_step: Option<MaxRolloutStepRule>,
    /// Flags carry `expires`, at most this many days ahead, and are gone by
    /// then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiry: Option<ExpiryRule>,
    /// A flag serving one variant to everyone for this many days is stale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stale: Option<StaleRule>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KeyPatternRule {
    pub severity: Severity,
    pub pattern: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RequireTagsRule {
    pub severity: Severity,
    pub any_of: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MaxRolloutStepRule {
    pub severity: Severity,
    pub points: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExpiryRule {
    pub severity: Severity,
    pub max_days: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StaleRule {
    pub severity: Severity,
    pub days: i64,
}

/// Fields only an experiment has.
pub const EXPERIMENT_FIELDS: &[&str] = &[
    "experimentType",
    "stickyBucketing",
    "startDate",
    "endDate",
    "exposureEvent",
    "decision",
    "decisionReason",
    "rolledOutVariant",
];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VariantSpec {
    #[serde(deserialize_with = "string_like")]
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub payload: Option<Value>,
    #[serde(
        default,
        deserialize_with = "string_list",
        skip_serializing_if = "Option::is_none"
    )]
    pub inclusions: Option<Vec<String>>,
    /// The exact set of cohort ids included in the variant.
    #[serde(
        default,
        deserialize_with = "string_list",
        skip_serializing_if = "Option::is_none"
    )]
    pub cohorts: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renamed_from: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SegmentSpec {
    pub name: String,
    #[serde(default)]
    pub conditions: Vec<ConditionSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percentage: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout_weights: Option<BTreeMap<String, i64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucketing_key: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConditionSpec {
    pub prop: String,
    pub op: String,
    #[serde(default, deserialize_with = "string_vec")]
    pub values: Vec<String>,
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

/// A deployment's type; fixed once created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeploymentType {
    Client,
    Server,
}

impl DeploymentType {
    pub fn as_str(self) -> &'static str {
        match self {
            DeploymentType::Client => "client",
            DeploymentType::Server => "server",
        }
    }
}

/// A deployment, identified by its label. Its SDK key is never read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeploymentSpec {
    /// Letters, digits, `_` and `-` only.
    #[serde(deserialize_with = "string_like")]
    pub label: String,
    /// `client` or `server`: required to create, fixed once created.
    #[serde(default, rename = "type")]
    pub kind: Option<DeploymentType>,
    #[serde(default)]
    pub archived: Option<bool>,
    /// The label the deployment has live, to relabel it in place (keeping
    /// its SDK key) instead of creating a new deployment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renamed_from: Option<String>,
    /// Per-environment values, merged over the fields above: mappings key by
    /// key, `variants` by variant key, other lists whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<BTreeMap<String, serde_json::Map<String, Value>>>")]
    pub environments: Option<BTreeMap<String, Value>>,
    /// The environments this object exists in (default: all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub only_in: Option<Vec<String>>,
}

/// One slot of a mutual exclusion group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SlotSpec {
    /// An integer from 1 to 100; the slots add up to 100. Fixed once created.
    pub percentage: i64,
    /// Experiment keys.
    #[serde(default, deserialize_with = "string_list")]
    pub experiments: Option<Vec<String>>,
    /// Holdout group keys.
    #[serde(default, deserialize_with = "string_list")]
    pub holdouts: Option<Vec<String>>,
    /// User or device ids.
    #[serde(default, deserialize_with = "string_list")]
    pub individuals: Option<Vec<String>>,
}

/// A mutual exclusion group: each user falls in at most one slot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MutexSpec {
    #[serde(deserialize_with = "string_like")]
    pub key: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// Fixed once created.
    #[serde(default)]
    pub evaluation_mode: Option<EvaluationMode>,
    /// Fixed once created.
    #[serde(default)]
    pub bucketing_key: Option<String>,
    /// Up to 20; their count and percentages are fixed once created.
    #[serde(default)]
    pub slots: Option<Vec<SlotSpec>>,
    #[serde(default)]
    pub archived: Option<bool>,
    /// Per-environment values, merged over the fields above: mappings key by
    /// key, `variants` by variant key, other lists whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<BTreeMap<String, serde_json::Map<String, Value>>>")]
    pub environments: Option<BTreeMap<String, Value>>,
    /// The environments this object exists in (default: all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub only_in: Option<Vec<String>>,
}

/// A holdout group: a share of users who see none of its experiments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HoldoutSpec {
    #[serde(deserialize_with = "string_like")]
    pub key: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// 1-99; fixed once created.
    #[serde(default)]
    pub holdout_percentage: Option<i64>,
    /// Fixed once created.
    #[serde(default)]
    pub evaluation_mode: Option<EvaluationMode>,
    /// Fixed once created.
    #[serde(default)]
    pub bucketing_key: Option<String>,
    /// Experiment keys.
    #[serde(default, deserialize_with = "string_list")]
    pub experiments: Option<Vec<String>>,
    #[serde(default, deserialize_with = "string_list")]
    pub individual_inclusion: Option<Vec<String>>,
    #[serde(default, deserialize_with = "string_list")]
    pub individual_exclusion: Option<Vec<String>>,
    #[serde(default)]
    pub archived: Option<bool>,
    /// Per-environment values, merged over the fields above: mappings key by
    /// key, `variants` by variant key, other lists whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<BTreeMap<String, serde_json::Map<String, Value>>>")]
    pub environments: Option<BTreeMap<String, Value>>,
    /// The environments this object exists in (default: all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub only_in: Option<Vec<String>>,
}

/// Most slots a mutex group has.
pub const MAX_SLOTS: usize = 20;

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

/// Parses an RFC 3339 date-time (or a plain date, as midnight UTC) to
/// milliseconds since the epoch, so that dates compare as instants.
pub fn parse_instant(s: &str) -> Option<i64> {
    let s = s.trim();
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        if t.bytes().all(|c| c.is_ascii_digit()) && !t.is_empty() {
            t.parse().ok()
        } else {
            None
        }
    };
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return None;
    }
    let (mut h, mut mi, mut sec, mut ms, mut offset) = (0, 0, 0, 0i64, 0i64);
    if b.len() > 10 {
        if b[10] != b'T' && b[10] != b't' && b[10] != b' ' {
            return None;
        }
        if b.len() < 16 || b[13] != b':' {
            return None;
        }
        h = num(11..13)?;
        mi = num(14..16)?;
        let mut i = 16;
        if b.get(16) == Some(&b':') {
            sec = num(17..19)?;
            i = 19;
        }
        if b.get(i) == Some(&b'.') {
            let start = i + 1;
            let mut end = start;
            while end < b.len() && b[end].is_ascii_digit() {
                end += 1;
            }
            let frac = s.get(start..end)?;
            if frac.is_empty() {
                return None;
            }
            let padded: String = format!("{frac:0<3}").chars().take(3).collect();
            ms = padded.parse().ok()?;
            i = end;
        }
        match b.get(i) {
            None => {}
            Some(b'Z') | Some(b'z') if i + 1 == b.len() => {}
            Some(sign @ (b'+' | b'-')) if b.len() == i + 6 && b[i + 3] == b':' => {
                let oh = num(i + 1..i + 3)?;
                let om = num(i + 4..i + 6)?;
                offset = (oh * 60 + om) * if *sign == b'+' { 1 } else { -1 };
            }
            _ => return None,
        }
    }
    if h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 86_400 + h * 3600 + mi * 60 + sec) - offset * 60) * 1000 + ms)
}

#[cfg(test)]
mod instant_tests {
    use super::parse_instant;

    #[test]
    fn instants_compare_across_notations() {
        assert_eq!(parse_instant("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_instant("2026-12-01T00:00:00Z"),
            parse_instant("2026-12-01T01:00:00+01:00")
        );
        assert_eq!(
            parse_instant("2026-12-01T00:00:00.000Z"),
            parse_instant("2026-12-01")
        );
        assert_eq!(
            parse_instant("2024-02-29T12:30:15.5Z").map(|m| m % 1000),
            Some(500)
        );
        assert!(parse_instant("2026-13-01").is_none());
        assert!(parse_instant("next tuesday").is_none());
        assert!(parse_instant("2026-12-01T00:00:00Q").is_none());
    }
}
