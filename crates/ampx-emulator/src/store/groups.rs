//! Mutual exclusion groups (`/mutexes`) and holdout groups (`/holdouts`),
//! and the `parentDependencies` of experiments that follow from them.
//!
//! Both kinds share one id sequence with deployments, flags and experiments,
//! and one key space (per project) with flags and experiments. A group
//! belongs to one project, and names only experiments and holdouts of it.
//! Neither has a DELETE: `PATCH {"archive": true}` drops a group from its
//! experiments' dependencies (its own lists are kept, so unarchiving brings
//! the dependencies back). Lists leave archived groups out, except that a
//! strict holdout list shows them with `deleted: true` (lenient lists show
//! them with `includeArchived=true`). What a group cannot change after creation (a
//! mutex's slots and their percentages, a holdout's percentage, the
//! evaluation mode, the bucketing key and salt) is refused with a 400 that
//! names the field, and nothing changes. Groups have no versions.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::super::support::{now_iso8601, ApiError};
use super::input::{bool_param, check_cohort_ids, dedup, is_valid_key, Fields, Page};
use super::{shapes, Collection, Object, Store, AUTHOR};

/// A mutex group has at most this many slots.
const MAX_SLOTS: usize = 20;

/// What a group create answers as its `url`, verbatim from the docs.
pub(crate) const GROUPS_URL: &str =
    "http://experiment.amplitude.com/amplitude/experiments/grouped-experiments";

/// Which kind of group a route serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum GroupKind {
    Mutex,
    Holdout,
}

impl GroupKind {
    fn noun(self) -> &'static str {
        match self {
            Self::Mutex => "mutex group",
            Self::Holdout => "holdout group",
        }
    }

    fn list_field(self) -> &'static str {
        match self {
            Self::Mutex => "mutexes",
            Self::Holdout => "holdouts",
        }
    }

    /// Fields a `PATCH` must not touch: they are fixed at creation.
    fn immutable(self) -> &'static [&'static str] {
        match self {
            Self::Mutex => &["slots", "evaluationMode", "bucketingKey", "bucketingSalt"],
            Self::Holdout => &[
                "holdoutPercentage",
                "evaluationMode",
                "bucketingKey",
                "bucketingSalt",
            ],
        }
    }
}

/// One slot of a mutex group; its place in `slots` gives its index (1-based).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Slot {
    percentage: u64,
    experiments: Vec<u64>,
    holdouts: Vec<u64>,
    individuals: Vec<String>,
    /// Only seeding sets them: the API shows slot cohorts but takes none.
    #[serde(default)]
    cohorts: Vec<String>,
}

/// What only a holdout group has.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Holdout {
    holdout_percentage: u64,
    experiments: Vec<u64>,
    individual_inclusion: Vec<String>,
    individual_exclusion: Vec<String>,
}

/// A mutex group (with `slots`) or a holdout group (with `holdout`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Group {
    pub(super) id: u64,
    /// Older state files lack it: the default project's, then.
    #[serde(default)]
    pub(super) project_id: String,
    kind: GroupKind,
    pub(super) key: String,
    name: String,
    description: Option<String>,
    evaluation_mode: String,
    bucketing_key: String,
    bucketing_salt: String,
    archived: bool,
    created_at: String,
    last_modified_at: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    slots: Vec<Slot>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    holdout: Option<Holdout>,
}

impl Group {
    /// The lenient list and detail shape: the docs' fields, plus `deleted`
    /// on mutex groups (the docs show it on holdouts only) so that archived
    /// ones can be told apart in an `includeArchived=true` list.
    fn render(&self) -> Value {
        let mut out = Map::new();
        out.insert("id".into(), json!(self.id));
        out.insert("projectId".into(), json!(self.project_id));
        out.insert("name".into(), json!(self.name));
        out.insert("key".into(), json!(self.key));
        out.insert("description".into(), json!(self.description));
        if let Some(h) = &self.holdout {
            out.insert("holdoutPercentage".into(), json!(h.holdout_percentage));
        }
        out.insert("evaluationMode".into(), json!(self.evaluation_mode));
        out.insert("bucketingKey".into(), json!(self.bucketing_key));
        out.insert("bucketingSalt".into(), json!(self.bucketing_salt));
        match (&self.kind, &self.holdout) {
            (GroupKind::Holdout, Some(h)) => {
                out.insert("variantName".into(), json!("on"));
                out.insert("experiments".into(), json!(h.experiments));
                out.insert("individualInclusion".into(), json!(h.individual_inclusion));
                out.insert("individualExclusion".into(), json!(h.individual_exclusion));
                out.insert("deleted".into(), json!(self.archived));
                out.insert("createdBy".into(), json!(AUTHOR));
                out.insert("lastModifiedBy".into(), json!(AUTHOR));
                out.insert("createdAt".into(), json!(self.created_at));
                out.insert("lastModifiedAt".into(), json!(self.last_modified_at));
            }
            _ => {
                let slots: Vec<Value> = self
                    .slots
                    .iter()
                    .enumerate()
                    .map(|(i, slot)| {
                        let index = i + 1;
                        json!({
                            "name": format!("SLOT {index}"),
                            "index": index,
                            "variantKey": slot_variant(index),
                            "percentage": slot.percentage,
                            "experiments": slot.experiments,
                            "holdouts": slot.holdouts,
                            "individuals": slot.individuals,
                            "cohorts": slot.cohorts,
                        })
                    })
                    .collect();
                out.insert("slots".into(), Value::Array(slots));
                out.insert("deleted".into(), json!(self.archived));
            }
        }
        Value::Object(out)
    }

    /// A list entry or detail answer: the docs' fields unless lenient.
    fn answer(&self, lenient: bool) -> Value {
        if lenient {
            return self.render();
        }
        let keys = match self.kind {
            GroupKind::Mutex => shapes::MUTEX,
            GroupKind::Holdout => shapes::HOLDOUT,
        };
        shapes::project(&self.render(), keys)
    }

    /// The variants of this group's flag that an experiment depends on.
    fn variants_for(&self, experiment: u64) -> Vec<String> {
        match &self.holdout {
            Some(h) if h.experiments.contains(&experiment) => vec!["on".to_owned()],
            Some(_) => Vec::new(),
            None => self
                .slots
                .iter()
                .enumerate()
                .filter(|(_, slot)| slot.experiments.contains(&experiment))
                .map(|(i, _)| slot_variant(i + 1))
                .collect(),
        }
    }
}

/// The variant key of the slot at a (1-based) index.
fn slot_variant(index: usize) -> String {
    format!("slot-{index}")
}

/// An integer percentage within `range`.
fn percentage(
    value: Option<&Value>,
    what: &str,
    range: std::ops::RangeInclusive<u64>,
) -> Result<u64, ApiError> {
    let value = value.ok_or_else(|| ApiError::bad_request(format!("`{what}` is required")))?;
    value.as_u64().filter(|n| range.contains(n)).ok_or_else(|| {
        ApiError::bad_request(format!(
            "`{what}` must be an integer from {} to {}, got {value}",
            range.start(),
            range.end()
        ))
    })
}

/// A list of user or device ids: strings (numbers are taken as their digits,
/// since the create docs type mutex `individuals` as numbers).
fn individuals(value: Option<&Value>, what: &str) -> Result<Option<Vec<String>>, ApiError> {
    let Some(value) = value else { return Ok(None) };
    let error =
        || ApiError::bad_request(format!("`{what}` must be an array of user or device ids"));
    let items = value.as_array().ok_or_else(error)?;
    let ids = items
        .iter()
        .map(|item| match item {
            Value::String(s) if !s.is_empty() => Ok(s.clone()),
            Value::Number(n) if n.is_u64() => Ok(n.to_string()),
            _ => Err(error()),
        })
        .collect::<Result<Vec<String>, ApiError>>()?;
    Ok(Some(dedup(ids)))
}

impl Store {
    fn group_position(&self, kind: GroupKind, raw_id: &str) -> Result<usize, ApiError> {
        let not_found = || ApiError::not_found(format!("{} {raw_id} not found", kind.noun()));
        let id: u64 = raw_id.parse().map_err(|_| not_found())?;
        self.groups
            .iter()
            .position(|g| g.kind == kind && g.id == id)
            .ok_or_else(not_found)
    }

    /// A 409 when any flag, experiment or group of `project`, archived or
    /// not, holds `key`.
    pub(super) fn check_key_free(&self, project: &str, key: &str) -> Result<(), ApiError> {
        let holder = self
            .objects
            .iter()
            .find(|o| o.project_id == project && o.key == key)
            .map(|o| (o.collection.noun(), o.id))
            .or_else(|| {
                self.groups
                    .iter()
                    .find(|g| g.project_id == project && g.key == key)
                    .map(|g| (g.kind.noun(), g.id))
            });
        match holder {
            Some((noun, id)) => Err(ApiError::conflict(format!(
                "key {key:?} is already used by {noun} {id}; keys are unique across \
                 flags, experiments, mutex groups and holdout groups"
            ))),
            None => Ok(()),
        }
    }

    /// A 409 when a group of `project` holds `key` (flags and experiments
    /// check their own collections themselves).
    pub(super) fn check_key_not_a_group(&self, project: &str, key: &str) -> Result<(), ApiError> {
        match self
            .groups
            .iter()
            .find(|g| g.project_id == project && g.key == key)
        {
            Some(g) => Err(ApiError::conflict(format!(
                "key {key:?} is already used by {} {}",
                g.kind.noun(),
                g.id
            ))),
            None => Ok(()),
        }
    }

    /// An object's `parentDependencies`: those it was seeded with, then
    /// those of the live groups that list it (experiments only):
    /// `{"flags": {"<group id>": [variant keys]}, "operator": "all"}`, or
    /// `None` when there are none.
    pub(super) fn parent_dependencies(&self, object: &Object) -> Option<Value> {
        let seeded = object.parent_dependencies.as_ref();
        let mut flags: Map<String, Value> = seeded
            .and_then(|d| d.get("flags"))
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        if object.collection == Collection::Experiments {
            flags.extend(self.groups.iter().filter(|g| !g.archived).filter_map(|g| {
                let variants = g.variants_for(object.id);
                (!variants.is_empty()).then(|| (g.id.to_string(), json!(variants)))
            }));
        }
        let operator = seeded
            .and_then(|d| d.get("operator"))
            .cloned()
            .unwrap_or_else(|| json!("all"));
        (!flags.is_empty()).then(|| json!({"flags": flags, "operator": operator}))
    }

    /// Experiment ids as numbers or numeric strings (with `by_key`, also as
    /// keys); each must name an experiment. A 400 names the first that does
    /// not.
    fn experiment_ids(
        &self,
        project: &str,
        value: Option<&Value>,
        what: &str,
        by_key: bool,
    ) -> Result<Option<Vec<u64>>, ApiError> {
        let experiments = self
            .objects
            .iter()
            .filter(move |o| o.collection == Collection::Experiments && o.project_id == project)
            .map(|o| (o.id, o.key.as_str()));
        resolve_ids(value, what, by_key, "experiment", project, experiments)
    }

    /// Holdout group ids, as [`experiment_ids`](Self::experiment_ids) reads
    /// experiment ids.
    fn holdout_ids(
        &self,
        project: &str,
        value: Option<&Value>,
        what: &str,
        by_key: bool,
    ) -> Result<Option<Vec<u64>>, ApiError> {
        let holdouts = self
            .groups
            .iter()
            .filter(move |g| g.kind == GroupKind::Holdout && g.project_id == project)
            .map(|g| (g.id, g.key.as_str()));
        resolve_ids(value, what, by_key, "holdout group", project, holdouts)
    }

    /// A holdout's experiments must be evaluable where the holdout is: a
    /// local-evaluation experiment cannot depend on a remote-evaluation
    /// holdout (the docs ask for "compatible" modes; this is the emulator's
    /// reading).
    fn check_modes(&self, group_mode: &str, experiments: &[u64]) -> Result<(), ApiError> {
        if group_mode != "remote" {
            return Ok(());
        }
        if let Some(o) = self
            .objects
            .iter()
            .find(|o| experiments.contains(&o.id) && o.evaluation_mode == "local")
        {
            return Err(ApiError::bad_request(format!(
                "experiment {} ({:?}) uses local evaluation and cannot join a \
                 remote-evaluation holdout group",
                o.id, o.key
            )));
        }
        Ok(())
    }

    /// The slots of a mutex create body: 1 to 20, integer percentages from 1
    /// to 100 that add up to 100.
    fn parse_slots(
        &self,
        project: &str,
        value: Option<&Value>,
        seed: bool,
    ) -> Result<Vec<Slot>, ApiError> {
        let items = match value {
            None | Some(Value::Null) => {
                return Err(ApiError::bad_request("`slots` is required"));
            }
            Some(Value::Array(items)) => items,
            Some(_) => return Err(ApiError::bad_request("`slots` must be an array")),
        };
        if items.is_empty() || items.len() > MAX_SLOTS {
            return Err(ApiError::bad_request(format!(
                "a mutex group has 1 to {MAX_SLOTS} slots, got {}",
                items.len()
            )));
        }
        let mut slots = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let what = format!("slots[{i}]");
            let fields = Fields::of(item, &what)?;
            let cohorts = if seed {
                let cohorts = dedup(fields.strings("cohorts")?.unwrap_or_default());
                check_cohort_ids(&cohorts)?;
                cohorts
            } else {
                Vec::new()
            };
            slots.push(Slot {
                percentage: percentage(
                    fields.get("percentage"),
                    &format!("{what}.percentage"),
                    1..=100,
                )?,
                experiments: self
                    .experiment_ids(
                        project,
                        fields.get("experiments"),
                        &format!("{what}.experiments"),
                        seed,
                    )?
                    .unwrap_or_default(),
                holdouts: self
                    .holdout_ids(
                        project,
                        fields.get("holdouts"),
                        &format!("{what}.holdouts"),
                        seed,
                    )?
                    .unwrap_or_default(),
                individuals: individuals(
                    fields.get("individuals"),
                    &format!("{what}.individuals"),
                )?
                .unwrap_or_default(),
                cohorts,
            });
        }
        let total: u64 = slots.iter().map(|s| s.percentage).sum();
        if total != 100 {
            return Err(ApiError::bad_request(format!(
                "the slots' percentages must add up to 100, got {total}"
            )));
        }
        Ok(slots)
    }

    // ----- the endpoints -----

    pub(crate) fn list_groups(
        &self,
        kind: GroupKind,
        query: &HashMap<String, String>,
        page_size: usize,
    ) -> Result<Value, ApiError> {
        // Strict lists take only the documented `limit` and `cursor`: a
        // mutex list leaves archived groups out (no field of its entries
        // could mark them), a holdout list shows them as `deleted`.
        let include_archived = if self.lenient() {
            bool_param(query, "includeArchived")?
        } else {
            kind == GroupKind::Holdout
        };
        let mut matching: Vec<&Group> = self
            .groups
            .iter()
            .filter(|g| g.kind == kind && (include_archived || !g.archived))
            .collect();
        // Ids grow with creation time, so this is newest first.
        matching.sort_by_key(|g| std::cmp::Reverse(g.id));
        let page = Page::of(query, page_size, matching.len())?;
        let items: Vec<Value> = matching[page.start..page.end]
            .iter()
            .map(|g| g.answer(self.lenient()))
            .collect();
        let mut out = Map::new();
        out.insert(kind.list_field().into(), Value::Array(items));
        if let Some(next) = page.next {
            out.insert("nextCursor".into(), Value::from(next));
        }
        Ok(Value::Object(out))
    }

    pub(crate) fn group_detail(&self, kind: GroupKind, raw_id: &str) -> Result<Value, ApiError> {
        let index = self.group_position(kind, raw_id)?;
        Ok(self.groups[index].answer(self.lenient()))
    }

    /// The stored group with this key, archived or not, in the lenient
    /// detail shape (with `deleted`); the default project's first.
    pub(crate) fn group_json(&self, kind: GroupKind, key: &str) -> Option<Value> {
        let keyed = || {
            self.groups
                .iter()
                .filter(move |g| g.kind == kind && g.key == key)
        };
        keyed()
            .find(|g| g.project_id == self.setup.project_id)
            .or_else(|| keyed().next())
            .map(Group::render)
    }

    /// `POST /mutexes` or `POST /holdouts`. With `seed`, `projectId` and
    /// `name` (which then defaults to the key) may be left out, experiments
    /// and holdouts may be named by key, and `archived`, `bucketingSalt`
    /// (holdouts too) and slot `cohorts` are taken.
    pub(crate) fn create_group(
        &mut self,
        kind: GroupKind,
        body: &Value,
        seed: bool,
    ) -> Result<u64, ApiError> {
        let fields = Fields::of(body, "request body")?;
        let project = self.project_for(&fields, seed)?;
        let key = match fields.string("key")? {
            Some(key) => {
                if !is_valid_key(key) {
                    return Err(ApiError::bad_request(format!(
                        "`key` {key:?} is invalid: use letters, digits, `_`, `-` and `.`"
                    )));
                }
                self.check_key_free(&project, key)?;
                key.to_owned()
            }
            None => loop {
                let prefix = match kind {
                    GroupKind::Mutex => "mutex",
                    GroupKind::Holdout => "holdout",
                };
                let key = format!("{prefix}-{}", self.rng.hex(8));
                if self.check_key_free(&project, &key).is_ok() {
                    break key;
                }
            },
        };
        let name = match fields.string("name")? {
            Some(name) if !name.is_empty() => name.to_owned(),
            Some(_) => return Err(ApiError::bad_request("`name` must not be empty")),
            None if seed => key.clone(),
            None => return Err(ApiError::bad_request("`name` is required")),
        };
        let description = fields
            .nullable_string("description")?
            .and_then(|d| d.as_str().map(str::to_owned));
        let evaluation_mode = fields
            .one_of("evaluationMode", &["local", "remote"])?
            .unwrap_or("remote")
            .to_owned();
        let bucketing_key = match fields.string("bucketingKey")? {
            Some("") => return Err(ApiError::bad_request("`bucketingKey` must not be empty")),
            Some(bucketing_key) => bucketing_key.to_owned(),
            None => "amplitude_id".to_owned(),
        };
        let salt = if kind == GroupKind::Mutex || seed {
            fields.string("bucketingSalt")?.filter(|s| !s.is_empty())
        } else {
            None
        };
        let bucketing_salt = match salt {
            Some(salt) => salt.to_owned(),
            None => self.rng.alphanumeric(8),
        };
        let archived = if seed {
            fields.boolean("archived")?.unwrap_or(false)
        } else {
            false
        };
        let (slots, holdout) = match kind {
            GroupKind::Mutex => (self.parse_slots(&project, fields.get("slots"), seed)?, None),
            GroupKind::Holdout => {
                let holdout = Holdout {
                    holdout_percentage: percentage(
                        fields.get("holdoutPercentage"),
                        "holdoutPercentage",
                        1..=99,
                    )?,
                    experiments: self
                        .experiment_ids(&project, fields.get("experiments"), "experiments", seed)?
                        .unwrap_or_default(),
                    individual_inclusion: individuals(
                        fields.get("individualInclusion"),
                        "individualInclusion",
                    )?
                    .unwrap_or_default(),
                    individual_exclusion: individuals(
                        fields.get("individualExclusion"),
                        "individualExclusion",
                    )?
                    .unwrap_or_default(),
                };
                self.check_modes(&evaluation_mode, &holdout.experiments)?;
                (Vec::new(), Some(holdout))
            }
        };
        let now = now_iso8601();
        let id = self.allocate_id();
        self.groups.push(Group {
            id,
            project_id: project,
            kind,
            key,
            name,
            description,
            evaluation_mode,
            bucketing_key,
            bucketing_salt,
            archived,
            created_at: now.clone(),
            last_modified_at: now,
            slots,
            holdout,
        });
        Ok(id)
    }

    /// `PATCH /mutexes/{id}` (`name`, `description`, `archive`; with `archive:
    /// true` the rest is ignored, as the docs say) and `PATCH /holdouts/{id}`
    /// (also `experiments`, `individualInclusion`, `individualExclusion`).
    pub(crate) fn patch_group(
        &mut self,
        kind: GroupKind,
        raw_id: &str,
        body: &Value,
    ) -> Result<(), ApiError> {
        let fields = Fields::of(body, "request body")?;
        let index = self.group_position(kind, raw_id)?;
        for field in kind.immutable() {
            if fields.get(field).is_some() {
                return Err(ApiError::bad_request(format!(
                    "`{field}` of a {} cannot change after it is created",
                    kind.noun()
                )));
            }
        }
        let mut group = self.groups[index].clone();
        let archive = fields.boolean("archive")?;
        if let Some(archive) = archive {
            group.archived = archive;
        }
        if !(kind == GroupKind::Mutex && archive == Some(true)) {
            match fields.string("name")? {
                Some("") => return Err(ApiError::bad_request("`name` must not be empty")),
                Some(name) => name.clone_into(&mut group.name),
                None => {}
            }
            if let Some(description) = fields.nullable_string("description")? {
                group.description = description.as_str().map(str::to_owned);
            }
        }
        if let Some(h) = group.holdout.as_mut() {
            if let Some(experiments) = self.experiment_ids(
                &group.project_id,
                fields.get("experiments"),
                "experiments",
                false,
            )? {
                self.check_modes(&group.evaluation_mode, &experiments)?;
                h.experiments = experiments;
            }
            if let Some(ids) =
                individuals(fields.get("individualInclusion"), "individualInclusion")?
            {
                h.individual_inclusion = ids;
            }
            if let Some(ids) =
                individuals(fields.get("individualExclusion"), "individualExclusion")?
            {
                h.individual_exclusion = ids;
            }
        }
        group.last_modified_at = now_iso8601();
        self.groups[index] = group;
        Ok(())
    }

    /// `PATCH /mutexes/{id}/slots/{slotIndex}`: the index is 1-based, as the
    /// slots show it; `experiments`, `holdouts` and `individuals` each
    /// replace the slot's list when given. A slot's percentage cannot change
    /// and its cohorts cannot be set (400).
    pub(crate) fn patch_slot(
        &mut self,
        raw_id: &str,
        raw_index: &str,
        body: &Value,
    ) -> Result<(), ApiError> {
        let fields = Fields::of(body, "request body")?;
        let position = self.group_position(GroupKind::Mutex, raw_id)?;
        let index: usize = raw_index.parse().map_err(|_| {
            ApiError::bad_request(format!(
                "slot index {raw_index:?} is not a positive integer"
            ))
        })?;
        let count = self.groups[position].slots.len();
        if index == 0 || index > count {
            return Err(ApiError::not_found(format!(
                "mutex group {raw_id} has no slot {index}: its slots are numbered 1 to {count}"
            )));
        }
        if fields.get("percentage").is_some() {
            return Err(ApiError::bad_request(
                "a slot's `percentage` cannot change after the mutex group is created",
            ));
        }
        if fields.get("cohorts").is_some() {
            return Err(ApiError::bad_request(
                "a slot's `cohorts` cannot be set through the Management API",
            ));
        }
        let project = self.groups[position].project_id.clone();
        let experiments =
            self.experiment_ids(&project, fields.get("experiments"), "experiments", false)?;
        let holdouts = self.holdout_ids(&project, fields.get("holdouts"), "holdouts", false)?;
        let people = individuals(fields.get("individuals"), "individuals")?;
        let group = &mut self.groups[position];
        let slot = &mut group.slots[index - 1];
        if let Some(experiments) = experiments {
            slot.experiments = experiments;
        }
        if let Some(holdouts) = holdouts {
            slot.holdouts = holdouts;
        }
        if let Some(people) = people {
            slot.individuals = people;
        }
        group.last_modified_at = now_iso8601();
        Ok(())
    }
}

/// Reads `value`, an array of ids (numbers or numeric strings; with
/// `by_key`, also keys) of the `candidates` (id, key) of `project`, without
/// repeats. A 400 names the first item that is no candidate's.
fn resolve_ids<'a>(
    value: Option<&Value>,
    what: &str,
    by_key: bool,
    noun: &str,
    project: &str,
    candidates: impl Iterator<Item = (u64, &'a str)> + Clone,
) -> Result<Option<Vec<u64>>, ApiError> {
    let Some(value) = value else { return Ok(None) };
    let items = value
        .as_array()
        .ok_or_else(|| ApiError::bad_request(format!("`{what}` must be an array of {noun} ids")))?;
    let mut ids = Vec::with_capacity(items.len());
    for item in items {
        let mut all = candidates.clone();
        let found = match item {
            Value::Number(n) => n.as_u64().and_then(|id| all.find(|(i, _)| *i == id)),
            Value::String(s) => candidates
                .clone()
                .find(|(i, _)| s.parse::<u64>().ok() == Some(*i))
                .or_else(|| by_key.then(|| all.find(|(_, k)| k == s)).flatten()),
            _ => None,
        };
        let (id, _) = found.ok_or_else(|| {
            ApiError::bad_request(format!(
                "`{what}`: {noun} {item} does not exist in project {project}"
            ))
        })?;
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    Ok(Some(ids))
}
