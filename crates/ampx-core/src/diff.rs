//! Desired × live → changes, semantically.
//!
//! An absent manifest field is unmanaged and never compared. Server defaults
//! are normalised on both sides before comparing (a condition's implicit
//! `type: property`, `""` versus no description, an empty payload, a
//! segment's `bucketingKey` defaulting to the flag's, zero weights), and sets
//! (tags, deployments, inclusions, condition values) compare without order,
//! so that applying a plan and planning again gives no changes.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use serde_json::{json, Map, Value};

use crate::live::{Live, LiveFlag};
use crate::manifest::{
    parse_instant, FlagSpec, Located, ManifestSet, ObjectKind, SegmentSpec, VariantSpec,
};

pub use crate::change::{Action, Change, DiffError};

/// Default bucketing key of a new flag.
pub const DEFAULT_BUCKETING_KEY: &str = "amplitude_id";

/// Everything that differs for one flag, structured for the planner.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FlagDiff {
    pub kind: ObjectKind,
    pub key: String,
    /// Read-only live facts shown in the plan header (an experiment's state).
    pub context: Vec<String>,
    pub id: Option<String>,
    pub action: Option<Action>,
    pub changes: Vec<Change>,
    pub warnings: Vec<String>,
    /// Body of the create call.
    pub create: Option<Value>,
    /// Flag fields to PATCH (never `enabled` or `archive`).
    pub patch: Map<String, Value>,
    /// `enabled` to set: `false` goes first, `true` last.
    pub enabled: Option<bool>,
    pub renames: Vec<(String, String)>,
    pub variant_creates: Vec<Value>,
    pub variant_patches: Vec<(String, Map<String, Value>)>,
    pub variant_deletes: Vec<String>,
    pub deployments_add: Vec<String>,
    pub deployments_remove: Vec<String>,
    /// Ids to remove from and add to variants' lists, by list and variant.
    pub id_lists: Vec<IdListChange>,
}

/// A variant's list of ids that the API changes by additions and bulk
/// removals: its users (manifest `inclusions`) and its cohorts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum IdList {
    Users,
    Cohorts,
}

impl IdList {
    pub const ALL: [IdList; 2] = [IdList::Users, IdList::Cohorts];

    /// The variant's manifest field: `inclusions` or `cohorts`.
    pub fn field(self) -> &'static str {
        match self {
            IdList::Users => "inclusions",
            IdList::Cohorts => "cohorts",
        }
    }

    /// The list's path under the variant: `users` or `cohorts`.
    pub fn segment(self) -> &'static str {
        match self {
            IdList::Users => "users",
            IdList::Cohorts => "cohorts",
        }
    }

    /// What one id is, as calls' summaries count them.
    pub fn noun(self) -> &'static str {
        match self {
            IdList::Users => "inclusion(s)",
            IdList::Cohorts => "cohort(s)",
        }
    }

    /// The manifest variant's list of this kind.
    fn wanted(self, v: &VariantSpec) -> &Option<Vec<String>> {
        match self {
            IdList::Users => &v.inclusions,
            IdList::Cohorts => &v.cohorts,
        }
    }

    /// The live flag's lists of this kind, by variant.
    fn live(self, lf: &LiveFlag) -> &BTreeMap<String, Vec<String>> {
        match self {
            IdList::Users => &lf.inclusions,
            IdList::Cohorts => &lf.cohorts,
        }
    }
}

/// What changes in one variant's list of ids.
#[derive(Debug, Clone, PartialEq)]
pub struct IdListChange {
    pub list: IdList,
    pub variant: String,
    pub remove: Vec<String>,
    pub add: Vec<String>,
}

impl FlagDiff {
    pub fn is_empty(&self) -> bool {
        self.action.is_none()
    }
}

fn s(v: &str) -> Value {
    Value::String(v.to_string())
}

/// The text of an optional field, empty when absent.
fn opt_str(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("")
}

/// An empty payload (`null`, `{}`) is no payload.
pub fn norm_payload(p: Option<&Value>) -> Option<Value> {
    match p {
        None | Some(Value::Null) => None,
        Some(Value::Object(m)) if m.is_empty() => None,
        Some(v) => Some(v.clone()),
    }
}

/// Weights without zeros (zero and absent are the same).
pub fn norm_weights(w: &BTreeMap<String, i64>) -> BTreeMap<String, i64> {
    w.iter()
        .filter(|(_, v)| **v != 0)
        .map(|(k, v)| (k.clone(), *v))
        .collect()
}

/// A number as an integer, a fraction rounded (the API may answer `50.0`).
pub fn num_i64(v: &Value) -> Option<i64> {
    v.as_i64().or_else(|| v.as_f64().map(|f| f.round() as i64))
}

/// The segment body sent to the API for a manifest segment.
pub fn segment_body(
    seg: &SegmentSpec,
    flag_weights: &BTreeMap<String, i64>,
    bucketing_key: &str,
) -> Value {
    let conditions: Vec<Value> = seg
        .conditions
        .iter()
        .map(|c| {
            json!({
                "type": c.kind.clone().unwrap_or_else(|| "property".into()),
                "prop": c.prop,
                "op": c.op,
                "values": c.values,
            })
        })
        .collect();
    json!({
        "name": seg.name,
        "conditions": conditions,
        "percentage": seg.percentage.unwrap_or(100),
        "bucketingKey": seg.bucketing_key.clone().unwrap_or_else(|| bucketing_key.to_string()),
        "rolloutWeights": seg.rollout_weights.clone().unwrap_or_else(|| flag_weights.clone()),
    })
}

/// A live segment's `rolloutWeights`, as integers (absent: none).
pub fn segment_weights(seg: &Value) -> BTreeMap<String, i64> {
    seg.get("rolloutWeights")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| num_i64(v).map(|w| (k.clone(), w)))
                .collect()
        })
        .unwrap_or_default()
}

/// A segment with server defaults and ordering noise removed.
pub fn norm_segment(seg: &Value, bucketing_key: &str) -> Value {
    let name = seg.get("name").and_then(Value::as_str).unwrap_or("");
    let conditions: Vec<Value> = seg
        .get("conditions")
        .and_then(Value::as_array)
        .map(|cs| {
            cs.iter()
                .map(|c| {
                    let mut values: Vec<String> = c
                        .get("values")
                        .and_then(Value::as_array)
                        .map(|vs| {
                            vs.iter()
                                .map(|v| {
                                    v.as_str()
                                        .map(str::to_string)
                                        .unwrap_or_else(|| v.to_string())
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    values.sort();
                    values.dedup();
                    json!({
                        "type": c.get("type").and_then(Value::as_str).unwrap_or("property"),
                        "prop": c.get("prop").and_then(Value::as_str).unwrap_or(""),
                        "op": c.get("op").and_then(Value::as_str).unwrap_or(""),
                        "values": values,
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let weights = segment_weights(seg);
    let mut out = json!({
        "name": name,
        "conditions": conditions,
        "percentage": seg.get("percentage").and_then(num_i64).unwrap_or(0),
        "rolloutWeights": norm_weights(&weights),
    });
    if let Some(bk) = seg.get("bucketingKey").and_then(Value::as_str) {
        if !bk.is_empty() && bk != bucketing_key {
            out["bucketingKey"] = s(bk);
        }
    }
    out
}

/// The managed fields of a new variant, as create bodies take them.
fn variant_body(v: &VariantSpec) -> Map<String, Value> {
    let mut b = Map::new();
    b.insert("key".into(), s(&v.key));
    if let Some(n) = &v.name {
        b.insert("name".into(), s(n));
    }
    if let Some(x) = &v.description {
        b.insert("description".into(), s(x));
    }
    if let Some(p) = norm_payload(v.payload.as_ref()) {
        b.insert("payload".into(), p);
    }
    b
}

fn sorted_set(v: &[String]) -> Vec<String> {
    let set: BTreeSet<&String> = v.iter().collect();
    set.into_iter().cloned().collect()
}

fn set_value(v: &[String]) -> Value {
    Value::Array(sorted_set(v).into_iter().map(Value::String).collect())
}

fn push(changes: &mut Vec<Change>, path: &str, before: Option<Value>, after: Option<Value>) {
    changes.push(Change {
        path: path.to_string(),
        before,
        after,
    });
}

/// Resolves deployment labels to ids.
fn deployment_ids(
    f: &Located<FlagSpec>,
    live: &Live,
    errors: &mut Vec<DiffError>,
) -> Option<Vec<String>> {
    let labels = f.spec.deployments.as_ref()?;
    let mut ids = Vec::new();
    for (i, label) in labels.iter().enumerate() {
        match live.deployment_id(label) {
            Some(id) => ids.push(id.to_string()),
            None => {
                let mut known: Vec<String> = live
                    .deployments
                    .iter()
                    .flatten()
                    .filter(|d| !d.deleted)
                    .map(|d| d.label.clone())
                    .collect();
                known.sort();
                errors.push(DiffError {
                    at: f.at(&format!("deployments[{i}]")),
                    message: format!(
                        "{} `{}` names deployment `{label}`, which the project does not have (deployments: {})",
                        f.spec.kind.noun(),
                        f.spec.key,
                        if known.is_empty() { "none".to_string() } else { known.join(", ") }
                    ),
                });
            }
        }
    }
    Some(ids)
}

fn warn_rebucket(d: &mut FlagDiff, field: &str, running: bool) {
    d.warnings.push(if running {
        format!(
            "experiment `{}` is running: changing {field} re-buckets its users mid-experiment (variant jumping) and invalidates its results",
            d.key
        )
    } else {
        format!(
            "{} `{}`: {field} changes: users are re-bucketed and may see a different variant",
            d.kind.noun(),
            d.key
        )
    });
}

/// Risk warnings for changes to a running experiment, one reason each.
fn warn_running(d: &mut FlagDiff, lf: &LiveFlag) {
    if !lf.is_running() {
        return;
    }
    let key = d.key.clone();
    if !d.renames.is_empty() || !d.variant_creates.is_empty() || !d.variant_deletes.is_empty() {
        d.warnings.push(format!(
            "experiment `{key}` is running: adding, removing or renaming variants moves users between variants and biases its results"
        ));
    }
    if d.changes.iter().any(|c| c.path == "rolloutWeights") {
        d.warnings.push(format!(
            "experiment `{key}` is running: changing rolloutWeights shifts traffic between variants mid-experiment and biases its results"
        ));
    }
    if d.enabled == Some(false) {
        d.warnings.push(format!(
            "experiment `{key}` is running: turning it off ends its data collection"
        ));
    }
}

/// An exposure event without nulls, for comparison.
pub fn norm_exposure(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                // `filters: []` is the server's way of saying "no filters".
                .filter(|(_, x)| !x.is_null() && x.as_array().is_none_or(|a| !a.is_empty()))
                .map(|(k, x)| (k.clone(), norm_exposure(x)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(norm_exposure).collect()),
        other => other.clone(),
    }
}

fn date_value(d: &Option<String>) -> Value {
    d.as_ref().map(|x| s(x)).unwrap_or(Value::Null)
}

/// Experiment-only fields; `create` marks a new experiment (everything
/// present is written, `experimentType` through the create body).
fn diff_experiment_fields(
    spec: &FlagSpec,
    lf: Option<&LiveFlag>,
    d: &mut FlagDiff,
    ch: &mut Vec<Change>,
    create_body: Option<&mut Map<String, Value>>,
) {
    if spec.kind != ObjectKind::Experiment {
        return;
    }
    if let Some(t) = spec.experiment_type {
        let have = lf.map(|l| {
            l.experiment_type
                .clone()
                .unwrap_or_else(|| "a-b-test".into())
        });
        if have.as_deref() != Some(t.as_str()) {
            push(
                ch,
                "experimentType",
                have.map(Value::String),
                Some(s(t.as_str())),
            );
            match &create_body {
                Some(_) => {}
                None => {
                    d.patch.insert("experimentType".into(), s(t.as_str()));
                }
            }
        }
    }
    if let (Some(t), Some(body)) = (spec.experiment_type, create_body) {
        body.insert("experimentType".into(), s(t.as_str()));
    }
    if let Some(sb) = spec.sticky_bucketing {
        let have = lf.map(|l| l.sticky_bucketing.unwrap_or(false));
        // A new experiment starts without sticky bucketing: only `true` is written.
        if (sb || lf.is_some()) && have != Some(sb) {
            d.patch.insert("stickyBucketing".into(), json!(sb));
            push(
                ch,
                "stickyBucketing",
                have.map(|h| json!(h)),
                Some(json!(sb)),
            );
        }
    }
    for (field, want, have) in [
        ("startDate", &spec.start_date, lf.map(|l| &l.start_date)),
        ("endDate", &spec.end_date, lf.map(|l| &l.end_date)),
    ] {
        let Some(want) = want else { continue };
        let want_t = want.as_deref().and_then(parse_instant);
        let have_t = have.and_then(|h| h.as_deref().and_then(parse_instant));
        let same = match have {
            Some(_) => want_t == have_t,
            None => want.is_none(),
        };
        if !same {
            d.patch.insert(field.into(), date_value(want));
            push(ch, field, have.map(date_value), Some(date_value(want)));
        }
    }
    if let Some(e) = &spec.exposure_event {
        let want = norm_exposure(&serde_json::to_value(e).unwrap_or(Value::Null));
        let have = lf
            .and_then(|l| l.exposure_event.as_ref())
            .map(norm_exposure);
        if have.as_ref() != Some(&want) {
            d.patch.insert("exposureEvent".into(), want.clone());
            push(ch, "exposureEvent", have, Some(want));
        }
    }
}

/// Diffs one flag manifest against its live flag (if any).
pub fn diff_flag(f: &Located<FlagSpec>, live: &Live, errors: &mut Vec<DiffError>) -> FlagDiff {
    let spec = &f.spec;
    let mut d = FlagDiff {
        key: spec.key.clone(),
        ..Default::default()
    };
    d.kind = spec.kind;
    let deployments = deployment_ids(f, live, errors);
    match live.objects(spec.kind).get(&spec.key) {
        None => {
            if spec.archived != Some(true) {
                diff_create(spec, deployments, live, &mut d);
            }
        }
        Some(lf) => {
            d.id = Some(lf.id.clone());
            d.context.extend(groups::dependency_context(lf, live));
            if let Some(state) = &lf.state {
                d.context.push(format!("state: {state}"));
            }
            for (name, v) in [
                ("decision", &lf.decision),
                ("rolledOutVariant", &lf.rolled_out_variant),
            ] {
                match v {
                    None | Some(Value::Null) => {}
                    Some(Value::String(x)) => d.context.push(format!("{name}: {x}")),
                    Some(other) => d.context.push(format!("{name}: {other}")),
                }
            }
            if spec.archived == Some(true) {
                if !lf.is_archived() {
                    d.action = Some(Action::Archive);
                    push(
                        &mut d.changes,
                        "archived",
                        Some(json!(false)),
                        Some(json!(true)),
                    );
                }
            } else {
                diff_update(f, lf, deployments, live, &mut d, errors);
            }
        }
    }
    d
}

fn diff_create(spec: &FlagSpec, deployments: Option<Vec<String>>, live: &Live, d: &mut FlagDiff) {
    d.action = Some(Action::Create);
    let mut body = Map::new();
    body.insert("key".into(), s(&spec.key));
    let ch = &mut d.changes;
    if let Some(n) = &spec.name {
        body.insert("name".into(), s(n));
        push(ch, "name", None, Some(s(n)));
    }
    if let Some(x) = &spec.description {
        body.insert("description".into(), s(x));
        push(ch, "description", None, Some(s(x)));
    }
    if let Some(m) = spec.evaluation_mode {
        body.insert("evaluationMode".into(), s(m.as_str()));
        push(ch, "evaluationMode", None, Some(s(m.as_str())));
    }
    if let Some(b) = &spec.bucketing_key {
        body.insert("bucketingKey".into(), s(b));
        push(ch, "bucketingKey", None, Some(s(b)));
    }
    let bucketing_key = spec
        .bucketing_key
        .as_deref()
        .unwrap_or(DEFAULT_BUCKETING_KEY);
    if let Some(vs) = &spec.variants {
        let bodies: Vec<Value> = vs.iter().map(|v| Value::Object(variant_body(v))).collect();
        for b in &bodies {
            let key = b["key"].as_str().unwrap_or_default();
            push(ch, &format!("variants.{key}"), None, Some(b.clone()));
        }
        body.insert("variants".into(), Value::Array(bodies));
    }
    let weights = spec.rollout_weights.clone().unwrap_or_default();
    if let Some(w) = &spec.rollout_weights {
        // Every variant gets an explicit weight (0 when unlisted), so the
        // server's default for unlisted variants never matters.
        let mut full = w.clone();
        for v in spec.variants.iter().flatten() {
            full.entry(v.key.clone()).or_insert(0);
        }
        body.insert("rolloutWeights".into(), json!(full));
        push(ch, "rolloutWeights", None, Some(json!(w)));
    }
    if let Some(segs) = &spec.target_segments {
        let bodies: Vec<Value> = segs
            .iter()
            .map(|sg| segment_body(sg, &weights, bucketing_key))
            .collect();
        push(
            ch,
            "targetSegments",
            None,
            Some(Value::Array(bodies.clone())),
        );
        body.insert("targetSegments".into(), Value::Array(bodies));
    }
    if let Some(ids) = deployments {
        let labels: Vec<String> = ids.iter().map(|i| live.deployment_label(i)).collect();
        push(ch, "deployments", None, Some(set_value(&labels)));
        body.insert("deployments".into(), json!(ids));
    }
    // Create does not take these: they follow in a PATCH.
    if let Some(p) = spec.rollout_percentage {
        d.patch.insert("rolloutPercentage".into(), json!(p));
        push(ch, "rolloutPercentage", None, Some(json!(p)));
    }
    if let Some(t) = &spec.tags {
        d.patch.insert("tags".into(), json!(sorted_set(t)));
        push(ch, "tags", None, Some(set_value(t)));
    }
    if let Some(u) = &spec.bucketing_unit {
        d.patch.insert("bucketingUnit".into(), s(u));
        push(ch, "bucketingUnit", None, Some(s(u)));
    }
    if let Some(x) = &spec.bucketing_salt {
        d.patch.insert("bucketingSalt".into(), s(x));
        push(ch, "bucketingSalt", None, Some(s(x)));
    }
    for v in spec.variants.iter().flatten() {
        for list in IdList::ALL {
            let Some(ids) = list.wanted(v).as_ref().filter(|i| !i.is_empty()) else {
                continue;
            };
            let add = dedup_in_order(ids);
            push(
                ch,
                &format!("variants.{}.{}", v.key, list.field()),
                None,
                Some(set_value(&add)),
            );
            d.id_lists.push(IdListChange {
                list,
                variant: v.key.clone(),
                remove: Vec::new(),
                add,
            });
        }
    }
    let mut ch_exp = Vec::new();
    diff_experiment_fields(spec, None, d, &mut ch_exp, Some(&mut body));
    d.changes.extend(ch_exp);
    let ch = &mut d.changes;
    if let Some(e) = spec.enabled {
        push(ch, "enabled", None, Some(json!(e)));
        if e {
            d.enabled = Some(true);
        }
    }
    d.create = Some(Value::Object(body));
}

/// The change from one set of ids to another, recorded under `path`:
/// (ids to add, in the manifest's order; ids to remove, sorted), or `None`
/// when the sets are equal.
pub fn id_set_change(
    ch: &mut Vec<Change>,
    path: &str,
    have: &[String],
    want: &[String],
) -> Option<(Vec<String>, Vec<String>)> {
    let want = dedup_in_order(want);
    let have_set: HashSet<&str> = have.iter().map(String::as_str).collect();
    let want_set: HashSet<&str> = want.iter().map(String::as_str).collect();
    let add: Vec<String> = want
        .iter()
        .filter(|x| !have_set.contains(x.as_str()))
        .cloned()
        .collect();
    let mut remove: Vec<String> = have
        .iter()
        .filter(|x| !want_set.contains(x.as_str()))
        .cloned()
        .collect();
    remove.sort();
    remove.dedup();
    if add.is_empty() && remove.is_empty() {
        return None;
    }
    push(ch, path, Some(set_value(have)), Some(set_value(&want)));
    Some((add, remove))
}

fn dedup_in_order(v: &[String]) -> Vec<String> {
    let mut seen = HashSet::new();
    v.iter()
        .filter(|x| seen.insert(x.as_str()))
        .cloned()
        .collect()
}

fn diff_update(
    f: &Located<FlagSpec>,
    lf: &LiveFlag,
    deployments: Option<Vec<String>>,
    live: &Live,
    d: &mut FlagDiff,
    errors: &mut Vec<DiffError>,
) {
    let spec = &f.spec;
    let mut changes = Vec::new();
    let ch = &mut changes;
    if lf.is_archived() {
        push(ch, "archived", Some(json!(true)), Some(json!(false)));
    }
    let text_field =
        |d: &mut FlagDiff, ch: &mut Vec<Change>, field: &str, want: &Option<String>, have: &str| {
            if let Some(w) = want {
                if w != have {
                    d.patch.insert(field.into(), s(w));
                    push(ch, field, Some(s(have)), Some(s(w)));
                }
            }
        };
    text_field(d, ch, "name", &spec.name, opt_str(&lf.name));
    text_field(
        d,
        ch,
        "description",
        &spec.description,
        opt_str(&lf.description),
    );
    let mode = spec.evaluation_mode.map(|m| m.as_str().to_string());
    text_field(
        d,
        ch,
        "evaluationMode",
        &mode,
        lf.evaluation_mode.as_deref().unwrap_or("remote"),
    );
    let live_bk = lf.bucketing_key.as_deref().unwrap_or(DEFAULT_BUCKETING_KEY);
    text_field(d, ch, "bucketingKey", &spec.bucketing_key, live_bk);
    text_field(
        d,
        ch,
        "bucketingUnit",
        &spec.bucketing_unit,
        lf.bucketing_unit.as_deref().unwrap_or("User"),
    );
    text_field(
        d,
        ch,
        "bucketingSalt",
        &spec.bucketing_salt,
        opt_str(&lf.bucketing_salt),
    );
    if d.patch.contains_key("bucketingKey") {
        warn_rebucket(d, "bucketingKey", lf.is_running());
    }
    if d.patch.contains_key("bucketingSalt") {
        warn_rebucket(d, "bucketingSalt", lf.is_running());
    }
    if let Some(p) = spec.rollout_percentage {
        let have = lf.rollout_percentage.unwrap_or(0.0);
        if (have - p as f64).abs() > f64::EPSILON {
            d.patch.insert("rolloutPercentage".into(), json!(p));
            push(ch, "rolloutPercentage", Some(num(have)), Some(json!(p)));
        }
    }
    if let Some(t) = &spec.tags {
        if sorted_set(t) != sorted_set(&lf.tags) {
            d.patch.insert("tags".into(), json!(sorted_set(t)));
            push(ch, "tags", Some(set_value(&lf.tags)), Some(set_value(t)));
        }
    }

    // Variants: matched by key, or by `renamedFrom` for an in-place rename.
    // `source[k]` is the live key that manifest variant `k` maps to.
    let mut source: BTreeMap<String, Option<String>> = BTreeMap::new();
    if let Some(vs) = &spec.variants {
        for (i, v) in vs.iter().enumerate() {
            let src = if lf.has_variant(&v.key) {
                if let Some(from) = v.renamed_from.as_ref().filter(|fr| lf.has_variant(fr)) {
                    errors.push(DiffError {
                        at: f.at(&format!("variants[{i}].renamedFrom")),
                        message: format!(
                            "{} `{}`: cannot rename variant `{from}` to `{}`: both exist live; remove one of them first",
                            spec.kind.noun(),
                            spec.key, v.key
                        ),
                    });
                }
                Some(v.key.clone())
            } else if let Some(from) = v.renamed_from.as_ref().filter(|fr| lf.has_variant(fr)) {
                d.renames.push((from.clone(), v.key.clone()));
                push(
                    ch,
                    &format!("variants.{}", v.key),
                    Some(s(from)),
                    Some(s(&v.key)),
                );
                Some(from.clone())
            } else {
                None
            };
            source.insert(v.key.clone(), src);
        }
        let kept: HashSet<&str> = source.values().flatten().map(String::as_str).collect();
        for lv in &lf.variants {
            if !kept.contains(lv.key.as_str()) {
                d.variant_deletes.push(lv.key.clone());
                push(
                    ch,
                    &format!("variants.{}", lv.key),
                    Some(json!({"key": lv.key})),
                    None,
                );
            }
        }
    }
    let mut variant_patch: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    for v in spec.variants.iter().flatten() {
        match source.get(&v.key).cloned().flatten() {
            None => {
                let mut b = variant_body(v);
                if let Some(w) = &spec.rollout_weights {
                    b.insert(
                        "rolloutWeight".into(),
                        json!(w.get(&v.key).copied().unwrap_or(0)),
                    );
                }
                push(
                    ch,
                    &format!("variants.{}", v.key),
                    None,
                    Some(Value::Object(b.clone())),
                );
                d.variant_creates.push(Value::Object(b));
            }
            Some(src) => {
                let details = lf.variant_details.as_ref().and_then(|m| m.get(&src));
                let mut p = Map::new();
                let base = format!("variants.{}", v.key);
                if let Some(n) = &v.name {
                    let have = details.map(|x| opt_str(&x.name)).unwrap_or("");
                    if n != have {
                        p.insert("name".into(), s(n));
                        push(ch, &format!("{base}.name"), Some(s(have)), Some(s(n)));
                    }
                }
                if let Some(x) = &v.description {
                    let have = details.map(|x| opt_str(&x.description)).unwrap_or("");
                    if x != have {
                        p.insert("description".into(), s(x));
                        push(
                            ch,
                            &format!("{base}.description"),
                            Some(s(have)),
                            Some(s(x)),
                        );
                    }
                }
                if v.payload.is_some() {
                    let want = norm_payload(v.payload.as_ref());
                    let have = norm_payload(details.and_then(|x| x.payload.as_ref()));
                    if want != have {
                        p.insert("payload".into(), want.clone().unwrap_or(Value::Null));
                        push(ch, &format!("{base}.payload"), have, want);
                    }
                }
                if !p.is_empty() {
                    variant_patch.insert(src.clone(), p);
                }
            }
        }
    }
    // Weights: exact map when managed; zero and absent are the same.
    if let Some(w) = &spec.rollout_weights {
        let want = norm_weights(w);
        let have = norm_weights(&lf.rollout_weights);
        let renamed_to: BTreeMap<&str, &str> = d
            .renames
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        // Live weights, keyed by the manifest's (post-rename) variant keys.
        let have_by_new: BTreeMap<String, i64> = have
            .iter()
            .map(|(k, v)| {
                (
                    renamed_to
                        .get(k.as_str())
                        .map(|x| x.to_string())
                        .unwrap_or(k.clone()),
                    *v,
                )
            })
            .collect();
        let created: HashSet<String> = d
            .variant_creates
            .iter()
            .filter_map(|b| b["key"].as_str().map(str::to_string))
            .collect();
        let deleted: HashSet<&str> = d.variant_deletes.iter().map(String::as_str).collect();
        if want != have_by_new {
            push(
                ch,
                "rolloutWeights",
                Some(json!(have_by_new)),
                Some(json!(want)),
            );
        }
        let keys: BTreeSet<&String> = want.keys().chain(have_by_new.keys()).collect();
        for k in keys {
            let (wv, hv) = (
                want.get(k).copied().unwrap_or(0),
                have_by_new.get(k).copied().unwrap_or(0),
            );
            if wv == hv || created.contains(k) {
                continue;
            }
            // The live key of manifest variant k.
            let src = source
                .get(k)
                .cloned()
                .flatten()
                .unwrap_or_else(|| k.clone());
            if deleted.contains(src.as_str()) {
                continue;
            }
            if !lf.has_variant(&src) {
                continue;
            }
            variant_patch
                .entry(src)
                .or_default()
                .insert("rolloutWeight".into(), json!(wv));
        }
    }
    // Patches address the variant by its live key, which a rename changes:
    // renames run first, so address by the new key.
    let renamed_to: BTreeMap<String, String> = d.renames.iter().cloned().collect();
    for (src, p) in variant_patch {
        let addr = renamed_to.get(&src).cloned().unwrap_or(src);
        d.variant_patches.push((addr, p));
    }

    if let Some(segs) = &spec.target_segments {
        let bk = spec.bucketing_key.as_deref().unwrap_or(live_bk);
        let weights = spec
            .rollout_weights
            .clone()
            .unwrap_or_else(|| lf.rollout_weights.clone());
        let want: Vec<Value> = segs
            .iter()
            .map(|sg| segment_body(sg, &weights, bk))
            .collect();
        let want_n: Vec<Value> = want.iter().map(|x| norm_segment(x, bk)).collect();
        let have_n: Vec<Value> = lf
            .target_segments
            .iter()
            .map(|x| norm_segment(x, bk))
            .collect();
        if want_n != have_n {
            push(
                ch,
                "targetSegments",
                Some(Value::Array(have_n)),
                Some(Value::Array(want_n)),
            );
            d.patch.insert("targetSegments".into(), Value::Array(want));
        }
    }

    if let Some(ids) = deployments {
        let want: BTreeSet<&String> = ids.iter().collect();
        let have: BTreeSet<&String> = lf.deployments.iter().collect();
        if want != have {
            d.deployments_add = want.difference(&have).map(|x| x.to_string()).collect();
            d.deployments_remove = have.difference(&want).map(|x| x.to_string()).collect();
            let label = |ids: &[String]| -> Vec<String> {
                ids.iter().map(|i| live.deployment_label(i)).collect()
            };
            push(
                ch,
                "deployments",
                Some(set_value(&label(&lf.deployments))),
                Some(set_value(&label(&ids))),
            );
        }
    }

    for v in spec.variants.iter().flatten() {
        let src = source.get(&v.key).cloned().flatten();
        for list in IdList::ALL {
            let Some(want) = list.wanted(v) else { continue };
            let have: Vec<String> = src
                .as_ref()
                .and_then(|s| list.live(lf).get(s))
                .cloned()
                .unwrap_or_default();
            let path = format!("variants.{}.{}", v.key, list.field());
            let Some((add, remove)) = id_set_change(ch, &path, &have, want) else {
                continue;
            };
            // A variant new to the flag has nothing to remove.
            let remove = if src.is_some() { remove } else { Vec::new() };
            if !remove.is_empty() || !add.is_empty() {
                d.id_lists.push(IdListChange {
                    list,
                    variant: v.key.clone(),
                    remove,
                    add,
                });
            }
        }
    }

    diff_experiment_fields(spec, Some(lf), d, ch, None);
    if let Some(e) = spec.enabled {
        if e != lf.enabled {
            d.enabled = Some(e);
            push(ch, "enabled", Some(json!(lf.enabled)), Some(json!(e)));
        }
    }
    d.changes = changes;
    warn_running(d, lf);
    if !d.changes.is_empty() {
        d.action = Some(if lf.is_archived() {
            Action::Unarchive
        } else {
            Action::Update
        });
    }
}

fn num(f: f64) -> Value {
    if f.fract() == 0.0 && f.abs() < 1e15 {
        json!(f as i64)
    } else {
        json!(f)
    }
}

/// A manifest with the project's `ownerTag` added to its tags. With `tags`
/// absent the live tags stay as they are, plus the owner tag.
fn with_owner_tag(f: &Located<FlagSpec>, owner: &str, live: &Live) -> Located<FlagSpec> {
    let mut g = f.clone();
    let mut tags = match &f.spec.tags {
        Some(t) => t.clone(),
        None => live
            .objects(f.spec.kind)
            .get(&f.spec.key)
            .map(|lf| lf.tags.clone())
            .unwrap_or_default(),
    };
    if !tags.iter().any(|t| t == owner) {
        tags.push(owner.to_string());
    }
    g.spec.tags = Some(tags);
    g
}

/// Archives for `prune: true`: live, unarchived flags and experiments that no
/// manifest names (with an `ownerTag`, only those that carry it).
fn prune_diffs(set: &ManifestSet, live: &Live) -> Vec<FlagDiff> {
    let owner = set.project.spec.owner_tag.as_deref();
    let mut out = Vec::new();
    for kind in [ObjectKind::Flag, ObjectKind::Experiment] {
        // A key a group lists is named too: prune never archives it.
        let listed = set
            .mutexes
            .iter()
            .flat_map(|g| g.spec.slots.iter().flatten())
            .flat_map(|slot| slot.experiments.iter().flatten())
            .chain(
                set.holdouts
                    .iter()
                    .flat_map(|g| g.spec.experiments.iter().flatten()),
            )
            .filter(|_| kind == ObjectKind::Experiment)
            .map(String::as_str);
        let named: HashSet<&str> = set
            .flags
            .iter()
            .filter(|f| f.spec.kind == kind)
            .map(|f| f.spec.key.as_str())
            .chain(listed)
            .collect();
        for (key, lf) in live.objects(kind) {
            if lf.is_archived()
                || named.contains(key.as_str())
                || owner.is_some_and(|o| !lf.tags.iter().any(|t| t == o))
            {
                continue;
            }
            let mut d = FlagDiff {
                kind,
                key: key.clone(),
                id: Some(lf.id.clone()),
                action: Some(Action::Archive),
                ..Default::default()
            };
            d.context.push("prune: no manifest names it".into());
            if lf.is_running() {
                d.warnings.push(format!(
                    "{} {key} is running: archiving it ends the experiment for every user in it",
                    kind.noun()
                ));
            }
            d.changes.push(Change {
                path: "archived".into(),
                before: Some(Value::Bool(false)),
                after: Some(Value::Bool(true)),
            });
            out.push(d);
        }
    }
    out
}

/// Diffs every flag and experiment of a manifest set, plus the archives that
/// `prune` asks for. Objects without changes are left out.
pub fn diff_all(set: &ManifestSet, live: &Live) -> Result<Vec<FlagDiff>, Vec<DiffError>> {
    let mut errors = Vec::new();
    let owner = set.project.spec.owner_tag.as_deref();
    let mut out: Vec<FlagDiff> = set
        .flags
        .iter()
        .map(|f| match owner {
            Some(o) => diff_flag(&with_owner_tag(f, o, live), live, &mut errors),
            None => diff_flag(f, live, &mut errors),
        })
        .filter(|d| !d.is_empty())
        .collect();
    if !errors.is_empty() {
        return Err(errors);
    }
    if set.project.spec.prune == Some(true) {
        out.extend(prune_diffs(set, live));
    }
    out.sort_by(|a, b| (&a.key, a.kind.noun()).cmp(&(&b.key, b.kind.noun())));
    Ok(out)
}

pub mod groups;
#[cfg(test)]
mod tests;
