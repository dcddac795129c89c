//! The emulator's data (deployments, flags, experiments, mutex and holdout
//! groups) and every rule the Management API applies when it is read or
//! changed.
//!
//! Flags and experiments share one code path: every operation takes a
//! [`Collection`]. Each operation validates its whole input before changing
//! anything, so a rejected request leaves the store as it was.
//!
//! Every object belongs to one project of the [`Setup`]. Answers take the
//! shapes of the docs' examples ([`shapes`]) unless the setup is lenient,
//! which keeps the emulator's older, fuller answers.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Number, Value};

use super::support::{epoch_millis, now_iso8601, ApiError, Rng};
// The API's limits and operators, as its documentation states them.
use crate::limits::{CONDITION_OPS, MAX_INCLUSIONS, SUBPROP_OPS};

mod deployments;
mod groups;
mod input;
mod shapes;
mod variants;

use shapes::View;

use groups::Group;
pub(crate) use groups::{GroupKind, GROUPS_URL};

use input::{
    bool_param, check_cohort_ids, check_range, create_variants, dedup, is_valid_key,
    normalize_payload, parse_exposure_event, parse_parent_dependencies, parse_segments,
    parse_variant, parse_weights, resolve_deployments, Fields, Page,
};

/// Ids one `bulk-delete-users` or `bulk-delete-cohorts` request may name.
const MAX_BULK_DELETE: usize = 100;
/// The documented cap on `limit`.
const MAX_PAGE: usize = 1000;
/// The first id handed out; deployments, flags and experiments share the sequence.
const FIRST_ID: u64 = 1001;
/// What lenient answers show as the author of versions, experiments and
/// holdout groups (strict ones show [`shapes::AUTHOR_EMAIL`]).
const AUTHOR: &str = "ampx-emulator";
/// The experiment types the API takes.
const EXPERIMENT_TYPES: &[&str] = &["a-b-test", "multi-arm-bandit"];
/// The documented options of an experiment's `decision`.
const DECISIONS: &[&str] = &["rollout", "rollback", "continue-running"];
/// What every write to a web experiment answers (with a 405).
const WEB_READ_ONLY: &str = "web experiments cannot be edited through the Management API";

/// What a store is set up with: the projects the API key sees and the
/// answer shapes.
#[derive(Clone, Debug, Default)]
pub(crate) struct Setup {
    /// The default project: objects seeded without `projectId` go there.
    pub(crate) project_id: String,
    /// The other projects the key sees.
    pub(crate) other_projects: Vec<String>,
    /// The older, fuller answers instead of the docs' shapes.
    pub(crate) lenient: bool,
}

impl Setup {
    /// Every project, the default one first.
    fn projects(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.project_id.as_str())
            .chain(self.other_projects.iter().map(String::as_str))
    }

    fn sees(&self, project: &str) -> bool {
        self.projects().any(|p| p == project)
    }
}

/// A `projectId` as a body gives it: a string or a number.
fn project_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Which route tree an object lives in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Collection {
    Flags,
    Experiments,
}

impl Collection {
    fn noun(self) -> &'static str {
        match self {
            Self::Flags => "flag",
            Self::Experiments => "experiment",
        }
    }

    fn list_field(self) -> &'static str {
        match self {
            Self::Flags => "flags",
            Self::Experiments => "experiments",
        }
    }

    /// The `nextCursor` of a list answer: a string for flags, a number for
    /// experiments, as the live API does (clients must cope with both).
    fn cursor(self, offset: usize) -> Value {
        match self {
            Self::Flags => Value::String(offset.to_string()),
            Self::Experiments => Value::from(offset),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Deployment {
    id: u64,
    /// Older state files lack it: the default project's, then.
    #[serde(default)]
    project_id: String,
    label: String,
    /// The SDK key: a secret for server deployments. Shown in answers, as the
    /// real API does, and never logged.
    key: String,
    #[serde(rename = "type")]
    kind: String,
    deleted: bool,
}

impl Deployment {
    /// The full shape, which lenient lists show too. The docs' list example
    /// shows no `type`: strict lists leave it out ([`Self::render_list`]),
    /// and `GET /deployments/{id}` shows it.
    fn render(&self) -> Value {
        json!({
            "id": self.id,
            "projectId": self.project_id,
            "label": self.label,
            "key": self.key,
            "type": self.kind,
            "deleted": self.deleted,
        })
    }

    /// A list entry (of `GET /deployments` or `GET …/{id}/deployments`).
    fn render_list(&self, lenient: bool) -> Value {
        if lenient {
            self.render()
        } else {
            shapes::project(&self.render(), shapes::DEPLOYMENT_LIST)
        }
    }
}

/// The id lists of a variant that a bulk delete shrinks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IdList {
    /// User and device ids (inclusions).
    Users,
    /// Cohort ids.
    Cohorts,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Variant {
    key: String,
    name: String,
    description: String,
    payload: Value,
    rollout_weight: Number,
    inclusions: Vec<String>,
    /// Cohort ids included in this variant; older state files lack them.
    #[serde(default)]
    cohorts: Vec<String>,
}

impl Variant {
    fn render(&self) -> Value {
        json!({
            "key": self.key,
            "name": self.name,
            "payload": self.payload,
            "description": self.description,
            "rolloutWeight": self.rollout_weight,
        })
    }
}

/// Where an experiment was made: a feature experiment (the Management API's
/// own kind) or a Web Experimentation one, which the API only reads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum ExperimentKind {
    #[default]
    Feature,
    Web,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExperimentFields {
    /// Only seeding sets it; older state files lack it.
    #[serde(default)]
    kind: ExperimentKind,
    experiment_type: String,
    sticky_bucketing: bool,
    state: String,
    start_date: Value,
    end_date: Value,
    exposure_event: Value,
    decision: Value,
    decision_reason: Value,
    rolled_out_variant: Value,
}

impl ExperimentFields {
    fn new(experiment_type: String) -> Self {
        Self {
            kind: ExperimentKind::Feature,
            experiment_type,
            sticky_bucketing: false,
            state: "planning".to_owned(),
            start_date: Value::Null,
            end_date: Value::Null,
            exposure_event: Value::Null,
            decision: Value::Null,
            decision_reason: Value::Null,
            rolled_out_variant: Value::Null,
        }
    }

    /// The experiment fields of a PATCH. `startDate` and `endDate` must be
    /// date-times; when `seed`ing, a bare date (as answers show) is fine too.
    fn apply_patch(&mut self, fields: &Fields, seed: bool) -> Result<(), ApiError> {
        if let Some(kind) = fields.one_of("experimentType", EXPERIMENT_TYPES)? {
            self.experiment_type = kind.to_owned();
        }
        if let Some(sticky) = fields.boolean("stickyBucketing")? {
            self.sticky_bucketing = sticky;
        }
        if let Some(start) = fields.date_time("startDate", seed)? {
            self.start_date = start;
        }
        if let Some(end) = fields.date_time("endDate", seed)? {
            self.end_date = end;
        }
        if let Some(event) = fields.get("exposureEvent") {
            self.exposure_event = parse_exposure_event(event)?;
        }
        Ok(())
    }

    /// The decision fields of a PATCH (and of a seed): `decision` (one of
    /// the documented options, or null), `decisionReason`, and
    /// `rolledOutVariant` ("the variant key or name that you rolled out").
    fn apply_decision(&mut self, fields: &Fields, variants: &[Variant]) -> Result<(), ApiError> {
        if let Some(decision) = fields.nullable_string("decision")? {
            if let Value::String(d) = &decision {
                if !DECISIONS.contains(&d.as_str()) {
                    return Err(ApiError::bad_request(format!(
                        "`decision` {d:?} is not one of {}",
                        DECISIONS.join(", ")
                    )));
                }
            }
            self.decision = decision;
        }
        if let Some(reason) = fields.nullable_string("decisionReason")? {
            self.decision_reason = reason;
        }
        if let Some(rolled_out) = fields.nullable_string("rolledOutVariant")? {
            if let Value::String(key) = &rolled_out {
                if !variants.iter().any(|v| &v.key == key || &v.name == key) {
                    return Err(ApiError::bad_request(format!(
                        "`rolledOutVariant` names variant {key:?}, which does not exist"
                    )));
                }
            }
            self.rolled_out_variant = rolled_out;
        }
        Ok(())
    }

    /// What only seeding sets: `state` and `type`, and the decision fields.
    fn apply_seed(&mut self, fields: &Fields, variants: &[Variant]) -> Result<(), ApiError> {
        if let Some(state) = fields.string("state")? {
            if state.is_empty() {
                return Err(ApiError::bad_request("`state` must not be empty"));
            }
            self.state = state.to_owned();
        }
        self.apply_decision(fields, variants)?;
        match fields.one_of("type", &["feature", "web"])? {
            Some("web") => self.kind = ExperimentKind::Web,
            Some(_) => self.kind = ExperimentKind::Feature,
            None => {}
        }
        Ok(())
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Version {
    version: u64,
    /// The store-wide order of versions, which orders versions made in the
    /// same millisecond; older state files lack it (0).
    #[serde(default)]
    seq: u64,
    created_at: String,
    /// The object's full (lenient) shape when the version was made.
    config: Value,
}

impl Version {
    /// A version answer; in strict mode its `flagConfig` holds the fields
    /// of the docs' version example only.
    fn render(&self, collection: Collection, lenient: bool) -> Value {
        if lenient {
            json!({
                "createdAt": self.created_at,
                "createdBy": AUTHOR,
                "version": self.version,
                "flagConfig": self.config,
            })
        } else {
            json!({
                "createdAt": self.created_at,
                "createdBy": shapes::AUTHOR_EMAIL,
                "version": self.version,
                "flagConfig": shapes::project(
                    &self.config,
                    shapes::object_keys(collection, View::Version),
                ),
            })
        }
    }
}

/// A flag or an experiment.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Object {
    id: u64,
    collection: Collection,
    /// Older state files lack it: the default project's, then.
    #[serde(default)]
    project_id: String,
    key: String,
    name: String,
    description: String,
    enabled: bool,
    evaluation_mode: String,
    bucketing_key: String,
    bucketing_salt: String,
    bucketing_unit: String,
    variants: Vec<Variant>,
    rollout_percentage: Number,
    target_segments: Vec<Value>,
    deployments: Vec<u64>,
    tags: Vec<String>,
    archived: bool,
    created_at: String,
    last_modified_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    experiment: Option<ExperimentFields>,
    /// Dependencies only seeding gives (`{"flags": {id: [variant keys]},
    /// "operator": …}`), shown with those the groups give.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    parent_dependencies: Option<Value>,
    #[serde(default)]
    versions: Vec<Version>,
}

impl Object {
    /// The full shape: what lenient lists and details show (with
    /// `parentDependencies`, which [`Store::render`] adds) and what a
    /// version keeps.
    fn render(&self) -> Value {
        let mut out = Map::new();
        out.insert("id".into(), json!(self.id));
        out.insert("projectId".into(), json!(self.project_id));
        out.insert("deployments".into(), json!(self.deployments));
        out.insert("key".into(), json!(self.key));
        out.insert("name".into(), json!(self.name));
        out.insert("description".into(), json!(self.description));
        out.insert("enabled".into(), json!(self.enabled));
        out.insert("evaluationMode".into(), json!(self.evaluation_mode));
        out.insert("bucketingKey".into(), json!(self.bucketing_key));
        out.insert("bucketingSalt".into(), json!(self.bucketing_salt));
        out.insert("bucketingUnit".into(), json!(self.bucketing_unit));
        let keys: Vec<Value> = self
            .variants
            .iter()
            .map(|v| json!({"key": v.key}))
            .collect();
        out.insert("variants".into(), Value::Array(keys));
        out.insert("rolloutPercentage".into(), json!(self.rollout_percentage));
        let weights: Map<String, Value> = self
            .variants
            .iter()
            .map(|v| (v.key.clone(), Value::Number(v.rollout_weight.clone())))
            .collect();
        out.insert("rolloutWeights".into(), Value::Object(weights));
        out.insert("targetSegments".into(), json!(self.target_segments));
        if let Some(x) = &self.experiment {
            out.insert("decision".into(), x.decision.clone());
            out.insert("decisionReason".into(), x.decision_reason.clone());
            out.insert("rolledOutVariant".into(), x.rolled_out_variant.clone());
            out.insert("stickyBucketing".into(), json!(x.sticky_bucketing));
            out.insert("state".into(), json!(x.state));
            out.insert("startDate".into(), x.start_date.clone());
            out.insert("endDate".into(), x.end_date.clone());
            out.insert("experimentType".into(), json!(x.experiment_type));
            out.insert("exposureEvent".into(), x.exposure_event.clone());
            if x.kind == ExperimentKind::Web {
                out.insert("type".into(), json!("web"));
            }
            out.insert("createdBy".into(), json!(AUTHOR));
            out.insert("lastModifiedBy".into(), json!(AUTHOR));
        }
        out.insert("tags".into(), json!(self.tags));
        out.insert("archived".into(), json!(self.archived));
        out.insert("deleted".into(), json!(self.archived));
        out.insert("createdAt".into(), json!(self.created_at));
        out.insert("lastModifiedAt".into(), json!(self.last_modified_at));
        Value::Object(out)
    }

    /// Stamps a write: the modification time and a version snapshot, `seq`
    /// in the store's order of versions.
    fn record_version(&mut self, at: String, seq: u64) {
        self.last_modified_at.clone_from(&at);
        let config = self.render();
        let version = self.versions.len() as u64 + 1;
        self.versions.push(Version {
            version,
            seq,
            created_at: at,
            config,
        });
    }

    fn variant_index(&self, key: &str) -> Result<usize, ApiError> {
        self.variants
            .iter()
            .position(|v| v.key == key)
            .ok_or_else(|| ApiError::not_found(format!("variant {key:?} not found")))
    }

    fn variant_mut(&mut self, key: &str) -> Result<&mut Variant, ApiError> {
        let index = self.variant_index(key)?;
        Ok(&mut self.variants[index])
    }

    /// Web experiments answer every write with a 405.
    fn check_writable(&self) -> Result<(), ApiError> {
        match &self.experiment {
            Some(x) if x.kind == ExperimentKind::Web => {
                Err(ApiError::method_not_allowed(WEB_READ_ONLY))
            }
            _ => Ok(()),
        }
    }

    /// Turns the object on or off; turning an experiment on moves it from
    /// `planning` to `running` (other states stay as they are).
    fn set_enabled(&mut self, enabled: bool) {
        self.enabled = enabled;
        if let Some(x) = self.experiment.as_mut() {
            if enabled && x.state == "planning" {
                x.state = "running".to_owned();
            }
        }
    }

    /// Applies the fields a flag/experiment `PATCH` takes; ignores the rest
    /// (notably `rolloutWeights`, which the API does not take there). With
    /// `seed`, experiment dates may also be bare dates.
    fn apply_patch(&mut self, fields: &Fields, seed: bool) -> Result<(), ApiError> {
        if let Some(name) = fields.string("name")? {
            self.name = name.to_owned();
        }
        if let Some(description) = fields.string("description")? {
            self.description = description.to_owned();
        }
        if let Some(bucketing_key) = fields.string("bucketingKey")? {
            self.bucketing_key = bucketing_key.to_owned();
        }
        if let Some(salt) = fields.string("bucketingSalt")? {
            self.bucketing_salt = salt.to_owned();
        }
        if let Some(unit) = fields.string("bucketingUnit")? {
            self.bucketing_unit = unit.to_owned();
        }
        if let Some(mode) = fields.one_of("evaluationMode", &["local", "remote"])? {
            self.evaluation_mode = mode.to_owned();
        }
        if let Some(percentage) = fields.number("rolloutPercentage")? {
            self.rollout_percentage = check_range(percentage, "rolloutPercentage", Some(100.0))?;
        }
        if let Some(segments) = fields.get("targetSegments") {
            self.target_segments = parse_segments(segments, &self.variants, &self.bucketing_key)?;
        }
        if let Some(enabled) = fields.boolean("enabled")? {
            self.set_enabled(enabled);
        }
        if let Some(archive) = fields.boolean("archive")? {
            self.archived = archive;
        }
        if let Some(tags) = fields.strings("tags")? {
            self.tags = dedup(tags);
        }
        if let Some(x) = self.experiment.as_mut() {
            x.apply_patch(fields, seed)?;
            x.apply_decision(fields, &self.variants)?;
        }
        Ok(())
    }
}

/// Everything the emulator holds; this is also the state file's shape.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Store {
    next_id: u64,
    /// The next version's `seq`; older state files lack it.
    #[serde(default)]
    next_version_seq: u64,
    deployments: Vec<Deployment>,
    objects: Vec<Object>,
    /// Mutex and holdout groups; older state files lack them.
    #[serde(default)]
    groups: Vec<Group>,
    #[serde(skip)]
    setup: Setup,
    #[serde(skip)]
    rng: Rng,
}

impl Store {
    /// Fresh projects, each with the three deployments every project starts
    /// with.
    pub(crate) fn seeded(setup: &Setup) -> Self {
        let mut store = Self {
            next_id: FIRST_ID,
            next_version_seq: 0,
            deployments: Vec::new(),
            objects: Vec::new(),
            groups: Vec::new(),
            setup: setup.clone(),
            rng: Rng::from_entropy(),
        };
        let projects: Vec<String> = setup.projects().map(str::to_owned).collect();
        for project in &projects {
            for (label, kind) in [
                ("web-production", "client"),
                ("web-staging", "client"),
                ("api-production", "server"),
            ] {
                store.add_deployment(project, label, kind);
            }
        }
        store
    }

    /// A store read back from a state file; what it holds without a project
    /// belongs to the default one.
    pub(crate) fn from_json(text: &str, setup: &Setup) -> serde_json::Result<Self> {
        let mut store: Self = serde_json::from_str(text)?;
        store.setup = setup.clone();
        let default = &setup.project_id;
        for project in store
            .deployments
            .iter_mut()
            .map(|d| &mut d.project_id)
            .chain(store.objects.iter_mut().map(|o| &mut o.project_id))
            .chain(store.groups.iter_mut().map(|g| &mut g.project_id))
        {
            if project.is_empty() {
                project.clone_from(default);
            }
        }
        let highest_seq = store
            .objects
            .iter()
            .flat_map(|o| o.versions.iter().map(|v| v.seq))
            .max()
            .unwrap_or(0);
        store.next_version_seq = store.next_version_seq.max(highest_seq.saturating_add(1));
        let highest = store
            .deployments
            .iter()
            .map(|d| d.id)
            .chain(store.objects.iter().map(|o| o.id))
            .chain(store.groups.iter().map(|g| g.id))
            .max()
            .unwrap_or(0);
        store.next_id = store.next_id.max(highest.saturating_add(1)).max(FIRST_ID);
        Ok(store)
    }

    pub(crate) fn to_json(&self) -> serde_json::Result<String> {
        serde_json::to_string_pretty(self)
    }

    fn allocate_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    fn stamp(&mut self, object: &mut Object, at: String) {
        let seq = self.next_version_seq;
        self.next_version_seq += 1;
        object.record_version(at, seq);
    }

    fn lenient(&self) -> bool {
        self.setup.lenient
    }

    /// The project a create (or, with `seed`, a seeding) body names. A
    /// create must name one the key sees (400 without one, 403 for another);
    /// a seed may leave it out (the default project) and must name a known
    /// one.
    fn project_for(&self, fields: &Fields, seed: bool) -> Result<String, ApiError> {
        match fields.get("projectId") {
            None | Some(Value::Null) if seed => Ok(self.setup.project_id.clone()),
            None | Some(Value::Null) => Err(ApiError::bad_request("`projectId` is required")),
            Some(given) => {
                let project = project_text(given).ok_or_else(|| {
                    ApiError::bad_request("`projectId` must be a string or a number")
                })?;
                if self.setup.sees(&project) {
                    Ok(project)
                } else if seed {
                    Err(ApiError::bad_request(format!(
                        "`projectId` {project:?} is none of the emulator's projects"
                    )))
                } else {
                    Err(ApiError::forbidden(format!(
                        "the API key has no access to project {given}"
                    )))
                }
            }
        }
    }

    fn position(&self, collection: Collection, raw_id: &str) -> Result<usize, ApiError> {
        let not_found = || ApiError::not_found(format!("{} {raw_id} not found", collection.noun()));
        let id: u64 = raw_id.parse().map_err(|_| not_found())?;
        self.objects
            .iter()
            .position(|o| o.collection == collection && o.id == id)
            .ok_or_else(not_found)
    }

    fn object(&self, collection: Collection, raw_id: &str) -> Result<&Object, ApiError> {
        self.position(collection, raw_id).map(|i| &self.objects[i])
    }

    /// An object's full shape, with the `parentDependencies` its groups (and
    /// its seed) give it (left out when it has none).
    fn render(&self, object: &Object) -> Value {
        let mut out = object.render();
        if let (Some(dependencies), Value::Object(map)) =
            (self.parent_dependencies(object), &mut out)
        {
            map.insert("parentDependencies".into(), dependencies);
        }
        out
    }

    /// An object as a list or a detail answers it: the full shape when
    /// lenient, else the docs' fields.
    fn answer(&self, object: &Object, view: View) -> Value {
        let full = self.render(object);
        if self.lenient() {
            full
        } else {
            shapes::project(&full, shapes::object_keys(object.collection, view))
        }
    }

    /// The project of an object, by id.
    pub(crate) fn object_project(&self, collection: Collection, id: u64) -> Option<&str> {
        self.objects
            .iter()
            .find(|o| o.collection == collection && o.id == id)
            .map(|o| o.project_id.as_str())
    }

    /// A 409 when `key` is taken in `project` for a new flag or experiment:
    /// by one of the same collection, by a group and, unless lenient, by one
    /// of the other collection (one key space, as the group pages say).
    fn check_object_key(
        &self,
        collection: Collection,
        project: &str,
        key: &str,
    ) -> Result<(), ApiError> {
        let in_project = || {
            self.objects
                .iter()
                .filter(move |o| o.project_id == project && o.key == key)
        };
        if in_project().any(|o| o.collection == collection) {
            return Err(ApiError::conflict(format!(
                "a {} with key {key:?} already exists",
                collection.noun()
            )));
        }
        if !self.lenient() {
            if let Some(other) = in_project().next() {
                return Err(ApiError::conflict(format!(
                    "key {key:?} is already used by {} {}; keys are unique across \
                     flags, experiments, mutex groups and holdout groups",
                    other.collection.noun(),
                    other.id
                )));
            }
        }
        self.check_key_not_a_group(project, key)
    }

    /// A 405 when the object is a web experiment. An unknown id passes: the
    /// operation itself answers the 404.
    pub(crate) fn check_writable(
        &self,
        collection: Collection,
        raw_id: &str,
    ) -> Result<(), ApiError> {
        match self.object(collection, raw_id) {
            Ok(object) => object.check_writable(),
            Err(_) => Ok(()),
        }
    }

    /// Runs `change` on a copy of the object and keeps the copy only when the
    /// change succeeds, stamping it with a new version.
    fn modify<T>(
        &mut self,
        collection: Collection,
        raw_id: &str,
        change: impl FnOnce(&mut Object, &[Deployment]) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let index = self.position(collection, raw_id)?;
        self.objects[index].check_writable()?;
        let mut object = self.objects[index].clone();
        let out = change(&mut object, &self.deployments)?;
        self.stamp(&mut object, now_iso8601());
        self.objects[index] = object;
        Ok(out)
    }

    pub(crate) fn list(
        &self,
        collection: Collection,
        query: &HashMap<String, String>,
        page_size: usize,
    ) -> Result<Value, ApiError> {
        let include_archived = bool_param(query, "includeArchived")?;
        let key = query.get("key").filter(|k| !k.is_empty());
        // Lenient lists ignore `projectId`, as the emulator always did.
        let project = query
            .get("projectId")
            .filter(|p| !p.is_empty() && !self.lenient());
        if let Some(project) = project {
            if !self.setup.sees(project) {
                return Err(ApiError::forbidden(format!(
                    "the API key has no access to project {project}"
                )));
            }
        }
        let mut matching: Vec<&Object> = self
            .objects
            .iter()
            .filter(|o| o.collection == collection)
            .filter(|o| include_archived || !o.archived)
            .filter(|o| key.is_none() || key == Some(&o.key))
            .filter(|o| project.is_none() || project == Some(&o.project_id))
            .collect();
        // Ids grow with creation time, so this is newest first.
        matching.sort_by_key(|o| std::cmp::Reverse(o.id));
        let page = Page::of(query, page_size, matching.len())?;
        let items: Vec<Value> = matching[page.start..page.end]
            .iter()
            .map(|o| self.answer(o, View::List))
            .collect();
        let mut out = Map::new();
        out.insert(collection.list_field().into(), Value::Array(items));
        if let Some(next) = page.next {
            out.insert("nextCursor".into(), collection.cursor(next));
        }
        Ok(Value::Object(out))
    }

    pub(crate) fn detail(&self, collection: Collection, raw_id: &str) -> Result<Value, ApiError> {
        Ok(self.answer(self.object(collection, raw_id)?, View::Detail))
    }

    /// `POST /{flags,experiments}`. With `seed`, also takes what only a PATCH
    /// or a variant call could set (`enabled`, `rolloutPercentage`, `tags`,
    /// `archived`, per-variant `rolloutWeight` and `inclusions`, ...), what
    /// no request sets (`parentDependencies`) and deployment labels besides
    /// ids; `projectId` becomes optional.
    pub(crate) fn create(
        &mut self,
        collection: Collection,
        body: &Value,
        seed: bool,
    ) -> Result<u64, ApiError> {
        let fields = Fields::of(body, "request body")?;
        let project = self.project_for(&fields, seed)?;
        let key = fields
            .string("key")?
            .ok_or_else(|| ApiError::bad_request("`key` is required"))?;
        if !is_valid_key(key) {
            return Err(ApiError::bad_request(format!(
                "`key` {key:?} is invalid: use letters, digits, `_`, `-` and `.`"
            )));
        }
        self.check_object_key(collection, &project, key)?;
        let name = fields.string("name")?.unwrap_or(key).to_owned();
        let description = fields.string("description")?.unwrap_or("").to_owned();
        let bucketing_key = fields
            .string("bucketingKey")?
            .unwrap_or("amplitude_id")
            .to_owned();
        let evaluation_mode = fields
            .one_of("evaluationMode", &["local", "remote"])?
            .unwrap_or("remote")
            .to_owned();
        let experiment = match collection {
            Collection::Flags => None,
            Collection::Experiments => {
                // Every experiment field is checked, but create takes only
                // `experimentType`: the rest needs a PATCH after, as
                // `enabled` does.
                let mut checked = ExperimentFields::new("a-b-test".to_owned());
                checked.apply_patch(&fields, seed)?;
                Some(ExperimentFields::new(checked.experiment_type))
            }
        };
        let variants = create_variants(collection, &fields, seed)?;
        let target_segments = match fields.get("targetSegments") {
            None | Some(Value::Null) => Vec::new(),
            Some(segments) => parse_segments(segments, &variants, &bucketing_key)?,
        };
        let deployments = match fields.get("deployments") {
            None | Some(Value::Null) => Vec::new(),
            Some(refs) => {
                resolve_deployments(&self.deployments, &project, refs, "deployments", seed)?
            }
        };
        let parent_dependencies = match fields.get("parentDependencies") {
            Some(value) if seed => parse_parent_dependencies(value)?,
            _ => None,
        };
        let now = now_iso8601();
        let mut object = Object {
            id: 0,
            collection,
            project_id: project,
            key: key.to_owned(),
            name,
            description,
            enabled: false,
            evaluation_mode,
            bucketing_key,
            bucketing_salt: self.rng.alphanumeric(8),
            bucketing_unit: "User".to_owned(),
            variants,
            rollout_percentage: Number::from(0),
            target_segments,
            deployments,
            tags: Vec::new(),
            archived: false,
            created_at: now.clone(),
            last_modified_at: now.clone(),
            experiment,
            parent_dependencies,
            versions: Vec::new(),
        };
        if seed {
            let mut patch = fields.0.clone();
            if let Some(archived) = patch.remove("archived") {
                patch.insert("archive".into(), archived);
            }
            object.apply_patch(&Fields(&patch), true)?;
            // After the patch, so that an explicit `state` wins over the
            // planning → running move that `enabled: true` makes.
            if let Some(x) = object.experiment.as_mut() {
                x.apply_seed(&fields, &object.variants)?;
            }
        }
        object.id = self.allocate_id();
        self.stamp(&mut object, now);
        let id = object.id;
        self.objects.push(object);
        Ok(id)
    }

    pub(crate) fn patch(
        &mut self,
        collection: Collection,
        raw_id: &str,
        body: &Value,
    ) -> Result<(), ApiError> {
        let fields = Fields::of(body, "request body")?;
        self.modify(collection, raw_id, |object, _| {
            object.apply_patch(&fields, false)
        })
    }

    /// `POST /experiments/{id}/activate` and `/deactivate`: like `PATCH
    /// {"enabled": true|false}` (activating a planning experiment starts it;
    /// deactivating leaves the state as it is).
    pub(crate) fn set_enabled(
        &mut self,
        collection: Collection,
        raw_id: &str,
        enabled: bool,
    ) -> Result<(), ApiError> {
        self.modify(collection, raw_id, |object, _| {
            object.set_enabled(enabled);
            Ok(())
        })
    }

    /// `POST /experiments/{id}/rollout-weights` with `{"rolloutWeights":
    /// {variant key: weight}}`. The map replaces the weights, as it does on
    /// create: a variant it leaves out weighs 0.
    pub(crate) fn set_rollout_weights(
        &mut self,
        collection: Collection,
        raw_id: &str,
        body: &Value,
    ) -> Result<(), ApiError> {
        let fields = Fields::of(body, "request body")?;
        let value = fields
            .get("rolloutWeights")
            .filter(|v| !v.is_null())
            .ok_or_else(|| ApiError::bad_request("`rolloutWeights` is required"))?;
        self.modify(collection, raw_id, |object, _| {
            let weights = parse_weights(value, "rolloutWeights", &object.variants)?;
            for variant in &mut object.variants {
                variant.rollout_weight = weights
                    .get(&variant.key)
                    .cloned()
                    .unwrap_or_else(|| Number::from(0));
            }
            Ok(())
        })
    }

    /// The stored object by key, archived or not, with full variants, their
    /// inclusions and their cohorts: what tests want to assert on.
    /// A key held in several projects finds the default project's object first.
    pub(crate) fn full_json(&self, collection: Collection, key: &str) -> Option<Value> {
        let keyed = || {
            self.objects
                .iter()
                .filter(|o| o.collection == collection && o.key == key)
        };
        let object = keyed()
            .find(|o| o.project_id == self.setup.project_id)
            .or_else(|| keyed().next())?;
        let mut out = self.render(object);
        let variants: Vec<Value> = object.variants.iter().map(Variant::render).collect();
        let inclusions: Map<String, Value> = object
            .variants
            .iter()
            .map(|v| (v.key.clone(), json!(v.inclusions)))
            .collect();
        let cohorts: Map<String, Value> = object
            .variants
            .iter()
            .map(|v| (v.key.clone(), json!(v.cohorts)))
            .collect();
        if let Value::Object(map) = &mut out {
            map.insert("variants".into(), Value::Array(variants));
            map.insert("inclusions".into(), Value::Object(inclusions));
            map.insert("cohorts".into(), Value::Object(cohorts));
        }
        Some(out)
    }

    pub(crate) fn versions(&self, collection: Collection, raw_id: &str) -> Result<Value, ApiError> {
        let object = self.object(collection, raw_id)?;
        Ok(Value::Array(
            object
                .versions
                .iter()
                .rev()
                .map(|v| v.render(collection, self.lenient()))
                .collect(),
        ))
    }

    pub(crate) fn version(
        &self,
        collection: Collection,
        raw_id: &str,
        raw_version: &str,
    ) -> Result<Value, ApiError> {
        let object = self.object(collection, raw_id)?;
        raw_version
            .parse::<u64>()
            .ok()
            .and_then(|n| object.versions.iter().find(|v| v.version == n))
            .map(|v| v.render(collection, self.lenient()))
            .ok_or_else(|| ApiError::not_found(format!("version {raw_version} not found")))
    }

    /// `GET /versions`: the versions of every flag and experiment of every
    /// project, archived or not, newest first; `start` (inclusive) and `end`
    /// (exclusive) bound their creation times; paged by a numeric cursor.
    pub(crate) fn all_versions(
        &self,
        query: &HashMap<String, String>,
        page_size: usize,
    ) -> Result<Value, ApiError> {
        let bound = |name: &str| -> Result<Option<i64>, ApiError> {
            match query.get(name).filter(|s| !s.is_empty()) {
                None => Ok(None),
                Some(raw) => epoch_millis(raw).map(Some).ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "`{name}` must be an ISO 8601 date-time such as \
                         2023-01-01T00:00:00Z, got {raw:?}"
                    ))
                }),
            }
        };
        let (start, end) = (bound("start")?, bound("end")?);
        let mut matching: Vec<(&Object, &Version, i64)> = self
            .objects
            .iter()
            .flat_map(|o| {
                o.versions
                    .iter()
                    .map(move |v| (o, v, epoch_millis(&v.created_at).unwrap_or(0)))
            })
            .filter(|(_, _, at)| start.is_none_or(|s| *at >= s) && end.is_none_or(|e| *at < e))
            .collect();
        matching.sort_by_key(|(o, v, at)| std::cmp::Reverse((*at, v.seq, o.id, v.version)));
        let page = Page::of(query, page_size, matching.len())?;
        let items: Vec<Value> = matching[page.start..page.end]
            .iter()
            .map(|(o, v, _)| v.render(o.collection, self.lenient()))
            .collect();
        let mut out = Map::new();
        if let Some(next) = page.next {
            out.insert("nextCursor".into(), Value::from(next));
        }
        out.insert("versions".into(), Value::Array(items));
        Ok(Value::Object(out))
    }
}
