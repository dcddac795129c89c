//! Deployments, mutual exclusion groups and holdout groups: desired × live →
//! a [`GroupDiff`] each: the changes a plan shows and the calls the object
//! needs ([`GroupCall`]), in order ("unarchive first"); the plan turns the
//! calls into API calls (`plan::group_plan`).
//!
//! Groups name experiments (and a mutex slot names holdout groups) by key.
//! A key the project has resolves to its id; a key that only the manifests
//! declare (the plan creates it) becomes a placeholder, `{n:experiments/KEY}`,
//! whose place apply fills with the id once the object exists; a key that neither
//! has is an error naming both ends. What the API cannot change after
//! creation (a mutex's slot count and percentages, its evaluation mode and
//! bucketing key; a holdout's percentage, evaluation mode and bucketing key;
//! a deployment's type) is refused: the plan fails before any write.

use std::collections::BTreeSet;

use serde_json::{json, Map, Value};

use super::{opt_str, push, s, set_value, Action, Change, DiffError};
use crate::kind::Kind;
use crate::live::{Live, LiveFlag, LiveHoldout, LiveMutex};
use crate::manifest::{
    DeploymentSpec, HoldoutSpec, Located, Location, ManifestSet, MutexSpec, ObjectKind, SlotSpec,
};
use crate::ops::IdRef;

/// An id as the group endpoints take it: a number when it is one.
fn id_value(id: &str) -> Value {
    id.parse::<u64>()
        .map(Value::from)
        .unwrap_or_else(|_| Value::String(id.to_string()))
}

/// Everything that differs for one deployment or group: the object's
/// header (what it is, what happens to it, the changes and warnings a plan
/// shows) and the calls it needs, which the plan turns into API calls.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupDiff {
    pub kind: Kind,
    pub key: String,
    pub id: Option<String>,
    pub context: Vec<String>,
    pub action: Action,
    pub destructive: bool,
    pub changes: Vec<Change>,
    pub warnings: Vec<String>,
    pub calls: Vec<GroupCall>,
}

/// A call a deployment or group needs, in the API's terms but without its
/// paths and methods, which are the plan's.
#[derive(Debug, Clone, PartialEq)]
pub enum GroupCall {
    /// Create the object with this body.
    Create(Value),
    /// Archive (`true`) or restore (`false`) the object.
    Archive(bool),
    /// Set these fields of the object.
    Patch(Map<String, Value>),
    /// Set these fields of a mutex group's slot (by the API's 1-based
    /// index; `nth` counts from 1 in the manifest's order, for the reader).
    PatchSlot {
        index: i64,
        nth: usize,
        fields: Map<String, Value>,
    },
}

fn diff_of(kind: Kind, key: &str, id: Option<String>) -> GroupDiff {
    GroupDiff {
        kind,
        key: key.into(),
        id,
        context: Vec::new(),
        action: Action::Update,
        destructive: false,
        changes: Vec::new(),
        warnings: Vec::new(),
        calls: Vec::new(),
    }
}

fn project_number(set: &ManifestSet) -> Value {
    id_value(&set.project.spec.id)
}

// ----- deployments -----

/// Plans one deployment manifest.
pub fn diff_deployment(
    d: &Located<DeploymentSpec>,
    set: &ManifestSet,
    live: &Live,
    errors: &mut Vec<DiffError>,
) -> Option<GroupDiff> {
    let spec = &d.spec;
    let label = &spec.label;
    let find = |l: &String| {
        live.deployments
            .iter()
            .flatten()
            .filter(|x| &x.label == l)
            .min_by_key(|x| x.deleted)
    };
    let from = spec.renamed_from.as_ref().and_then(&find);
    if let (Some(_), Some(old)) = (find(label), from) {
        errors.push(DiffError {
            at: d.at("renamedFrom"),
            message: format!(
                "cannot relabel deployment `{}` to `{label}`: both exist live; remove `renamedFrom` or archive one of them",
                old.label
            ),
        });
        return None;
    }
    let renamed = find(label).is_none() && from.is_some();
    let have = find(label).or(from);
    let Some(have) = have else {
        if spec.archived == Some(true) {
            return None;
        }
        let Some(kind) = spec.kind else {
            errors.push(DiffError {
                at: d.at("label"),
                message: format!(
                    "deployment `{label}` does not exist yet: `type` (client or server) is needed to create it"
                ),
            });
            return None;
        };
        let mut p = diff_of(Kind::Deployment, label, None);
        p.action = Action::Create;
        push(&mut p.changes, "label", None, Some(s(label)));
        push(&mut p.changes, "type", None, Some(s(kind.as_str())));
        p.calls.push(GroupCall::Create(
            json!({"projectId": set.project.spec.id, "label": label, "type": kind.as_str()}),
        ));
        return Some(p);
    };
    if let (Some(want), Some(is)) = (spec.kind, have.kind.as_deref()) {
        if want.as_str() != is {
            errors.push(DiffError {
                at: d.at("type"),
                message: format!(
                    "deployment `{label}` is a {is} deployment; its type cannot change after creation; create a new deployment with another label"
                ),
            });
            return None;
        }
    }
    let mut p = diff_of(Kind::Deployment, label, Some(have.id.clone()));
    if renamed {
        // PATCH `label`: the deployment, its SDK key and its flags stay.
        push(
            &mut p.changes,
            "label",
            Some(s(&have.label)),
            Some(s(label)),
        );
        let mut fields = Map::new();
        fields.insert("label".into(), s(label));
        p.calls.push(GroupCall::Patch(fields));
    }
    match (spec.archived == Some(true), have.deleted) {
        (true, false) => {
            p.action = Action::Archive;
            p.destructive = true;
            p.warnings.push(format!(
                "archiving deployment {label}: the flags and experiments assigned to it are no longer served through its SDK key"
            ));
            push(
                &mut p.changes,
                "archived",
                Some(json!(false)),
                Some(json!(true)),
            );
            p.calls.push(GroupCall::Archive(true));
        }
        (false, true) => {
            p.action = Action::Unarchive;
            push(
                &mut p.changes,
                "archived",
                Some(json!(true)),
                Some(json!(false)),
            );
            p.calls.push(GroupCall::Archive(false));
        }
        _ if renamed => {}
        _ => return None,
    }
    Some(p)
}

/// The live deployments, plus a placeholder entry for each deployment the
/// plan creates, so that a flag may name a deployment the same manifests
/// declare.
pub fn with_planned_deployments(set: &ManifestSet, live: &Live) -> Option<Live> {
    let missing: Vec<&DeploymentSpec> = set
        .deployments
        .iter()
        .map(|d| &d.spec)
        .filter(|d| d.archived != Some(true))
        .filter(|d| live.deployment_id(&d.label).is_none())
        .collect();
    if missing.is_empty() {
        return None;
    }
    let mut out = live.clone();
    let list = out.deployments.get_or_insert_with(Vec::new);
    for d in missing {
        // A relabelled deployment is the live one, under its new label.
        let relabelled = d
            .renamed_from
            .as_ref()
            .and_then(|old| live.deployment_id(old))
            .and_then(|id| list.iter().find(|x| x.id == id))
            .cloned();
        if let Some(mut x) = relabelled {
            x.label = d.label.clone();
            list.push(x);
            continue;
        }
        list.push(crate::live::LiveDeployment {
            id: IdRef::new(Kind::Deployment, &d.label).placeholder(false),
            project_id: None,
            label: d.label.clone(),
            deleted: false,
            kind: d.kind.map(|k| k.as_str().to_string()),
        });
    }
    Some(out)
}

// ----- group members -----

/// How the references of one group resolve.
struct Members<'a> {
    set: &'a ManifestSet,
    live: &'a Live,
}

impl Members<'_> {
    /// An experiment key → its id (or a placeholder), or an error naming
    /// both ends.
    /// A member key → its live id (or a placeholder for one the plan
    /// creates), or an error naming both ends: `live` is the live object's
    /// (id, archived); `declared` whether a manifest declares the key, and
    /// `restored` whether that manifest keeps it unarchived. `known` lists
    /// the keys of that kind the manifests and the project have, asked for
    /// only to suggest one close to a key neither has.
    #[allow(clippy::too_many_arguments)]
    fn member<'k>(
        kind: Kind,
        live: Option<(&str, bool)>,
        declared: bool,
        restored: bool,
        key: &str,
        owner: &str,
        at: Location,
        known: impl FnOnce() -> Vec<&'k str>,
        errors: &mut Vec<DiffError>,
    ) -> Value {
        let problem = match live {
            Some((_, true)) if !restored => Some("which is archived in the project".to_string()),
            Some(_) => None,
            None if !declared => {
                let close = crate::manifest::nearest(key, &known())
                    .map(|n| format!("; did you mean `{n}`?"))
                    .unwrap_or_default();
                Some(format!(
                    "which neither the manifests nor the project has{close}"
                ))
            }
            None => None,
        };
        if let Some(p) = problem {
            errors.push(DiffError {
                at,
                message: format!("{owner} names {} `{key}`, {p}", kind.noun()),
            });
        }
        match live {
            Some((id, _)) => id_value(id),
            None => s(&IdRef::new(kind, key).placeholder(true)),
        }
    }

    fn experiment(
        &self,
        key: &str,
        owner: &str,
        at: Location,
        errors: &mut Vec<DiffError>,
    ) -> Value {
        let declared = self
            .set
            .flags
            .iter()
            .filter(|f| f.spec.kind == ObjectKind::Experiment && f.spec.key == key);
        Self::member(
            Kind::Experiment,
            self.live
                .experiments
                .get(key)
                .map(|e| (e.id.as_str(), e.is_archived())),
            declared.clone().next().is_some(),
            declared.clone().any(|f| f.spec.archived != Some(true)),
            key,
            owner,
            at,
            || {
                let live = self.live.experiments.iter();
                let live = live.filter(|(_, e)| !e.is_archived()).map(|(k, _)| k);
                self.set
                    .flags
                    .iter()
                    .filter(|f| f.spec.kind == ObjectKind::Experiment)
                    .map(|f| &f.spec.key)
                    .chain(live)
                    .map(String::as_str)
                    .collect()
            },
            errors,
        )
    }

    fn holdout(&self, key: &str, owner: &str, at: Location, errors: &mut Vec<DiffError>) -> Value {
        let declared = self.set.holdouts.iter().filter(|g| g.spec.key == key);
        Self::member(
            Kind::Holdout,
            self.live
                .holdouts
                .as_ref()
                .and_then(|hs| hs.get(key))
                .map(|h| (h.id.as_str(), h.deleted || h.archived)),
            declared.clone().next().is_some(),
            declared.clone().any(|g| g.spec.archived != Some(true)),
            key,
            owner,
            at,
            || {
                let live = self.live.holdouts.iter().flatten();
                let live = live
                    .filter(|(_, h)| !(h.deleted || h.archived))
                    .map(|(k, _)| k);
                self.set
                    .holdouts
                    .iter()
                    .map(|g| &g.spec.key)
                    .chain(live)
                    .map(String::as_str)
                    .collect()
            },
            errors,
        )
    }

    fn experiment_label(&self, id: &str) -> String {
        self.live
            .experiment_key(id)
            .map(str::to_string)
            .unwrap_or_else(|| format!("(experiment id {id})"))
    }

    fn holdout_label(&self, id: &str) -> String {
        self.live
            .holdout_key(id)
            .map(str::to_string)
            .unwrap_or_else(|| format!("(holdout group id {id})"))
    }

    fn running(&self, key: &str) -> Option<&LiveFlag> {
        self.live
            .experiments
            .get(key)
            .filter(|e| e.is_running() && !e.is_archived())
    }
}

fn id_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Warns about running experiments that join or leave a group: their users
/// move between variants.
fn warn_moves(
    p: &mut GroupDiff,
    m: &Members,
    where_: &str,
    before: &BTreeSet<String>,
    after: &BTreeSet<String>,
) {
    for key in after.difference(before) {
        if m.running(key).is_some() {
            p.warnings.push(format!(
                "experiment {key} is running: adding it to {where_} moves users who are already in it"
            ));
        }
    }
    for key in before.difference(after) {
        if m.running(key).is_some() {
            p.warnings.push(format!(
                "experiment {key} is running: removing it from {where_} moves users who are already in it"
            ));
        }
    }
}

fn keys(v: &[String]) -> BTreeSet<String> {
    v.iter().cloned().collect()
}

fn immutable(
    errors: &mut Vec<DiffError>,
    at: Location,
    noun: &str,
    key: &str,
    what: &str,
    live: &str,
    want: &str,
) {
    errors.push(DiffError {
        at,
        message: format!(
            "{noun} `{key}`: {what} is {live} live and {want} in the manifest; it cannot change after creation; create a new group with another key"
        ),
    });
}

fn check_fixed(
    errors: &mut Vec<DiffError>,
    at: impl Fn(&str) -> Location,
    noun: &str,
    key: &str,
    fields: [(&str, Option<&str>, Option<&str>); 2],
) {
    for (field, want, is) in fields {
        if let (Some(w), Some(i)) = (want, is) {
            if w != i {
                immutable(errors, at(field), noun, key, &format!("`{field}`"), i, w);
            }
        }
    }
}

/// Name and description: a PATCH each shares with the other fields.
fn name_and_description(
    body: &mut Map<String, Value>,
    ch: &mut Vec<Change>,
    name: &Option<String>,
    description: &Option<String>,
    live_name: &Option<String>,
    live_description: &Option<String>,
) {
    if let Some(n) = name {
        if n != opt_str(live_name) {
            body.insert("name".into(), s(n));
            push(ch, "name", live_name.as_deref().map(s), Some(s(n)));
        }
    }
    if let Some(x) = description {
        if x != opt_str(live_description) {
            body.insert("description".into(), s(x));
            push(
                ch,
                "description",
                live_description.as_deref().map(s),
                Some(s(x)),
            );
        }
    }
}

/// Archive or unarchive of a live group; `None` when the manifest keeps it
/// as it is (then the caller diffs the fields).
fn archive_ops(
    p: &mut GroupDiff,
    archived_live: bool,
    want_archived: bool,
    noun: &str,
    members: Vec<String>,
) -> Option<bool> {
    match (want_archived, archived_live) {
        (true, true) => Some(true),
        (true, false) => {
            p.action = Action::Archive;
            p.destructive = true;
            push(
                &mut p.changes,
                "archived",
                Some(json!(false)),
                Some(json!(true)),
            );
            p.warnings.push(if members.is_empty() {
                format!("archiving {noun} {}", p.key)
            } else {
                format!(
                    "archiving {noun} {}: its experiments lose the dependency on it ({})",
                    p.key,
                    members.join(", ")
                )
            });
            p.calls.push(GroupCall::Archive(true));
            Some(true)
        }
        (false, true) => {
            p.action = Action::Unarchive;
            push(
                &mut p.changes,
                "archived",
                Some(json!(true)),
                Some(json!(false)),
            );
            p.calls.push(GroupCall::Archive(false));
            None
        }
        (false, false) => None,
    }
}

fn finish(mut p: GroupDiff) -> Option<GroupDiff> {
    if p.calls.is_empty() {
        return None;
    }
    if p.action == Action::Update && p.changes.is_empty() {
        return None;
    }
    p.context.sort();
    p.context.dedup();
    Some(p)
}

// ----- mutual exclusion groups -----

/// The slot PATCH (or create) fields of one manifest slot, members resolved
/// to ids, for the fields the manifest manages.
fn slot_members(
    m: &Members,
    g: &Located<MutexSpec>,
    i: usize,
    slot: &SlotSpec,
    errors: &mut Vec<DiffError>,
) -> Map<String, Value> {
    let owner = format!("mutex group `{}` slot {}", g.spec.key, i + 1);
    let mut body = Map::new();
    for (field, keys) in [
        ("experiments", &slot.experiments),
        ("holdouts", &slot.holdouts),
    ] {
        let Some(keys) = keys else { continue };
        let ids: Vec<Value> = keys
            .iter()
            .enumerate()
            .map(|(j, k)| {
                let at = g.at(&format!("slots[{i}].{field}[{j}]"));
                if field == "holdouts" {
                    m.holdout(k, &owner, at, errors)
                } else {
                    m.experiment(k, &owner, at, errors)
                }
            })
            .collect();
        body.insert(field.into(), Value::Array(ids));
    }
    if let Some(people) = &slot.individuals {
        body.insert("individuals".into(), json!(people));
    }
    body
}

/// Plans one mutual exclusion group manifest.
pub fn diff_mutex(
    g: &Located<MutexSpec>,
    set: &ManifestSet,
    live: &Live,
    errors: &mut Vec<DiffError>,
) -> Option<GroupDiff> {
    let spec = &g.spec;
    let key = &spec.key;
    let m = Members { set, live };
    let have = live.mutexes.as_ref().and_then(|ms| ms.get(key));
    let Some(have) = have else {
        if spec.archived == Some(true) {
            return None;
        }
        return create_mutex(g, set, &m, errors);
    };
    let mut p = diff_of(Kind::Mutex, key, Some(have.id.clone()));
    let members = mutex_members(have, &m);
    if archive_ops(
        &mut p,
        have.deleted || have.archived,
        spec.archived == Some(true),
        Kind::Mutex.noun(),
        members,
    )
    .is_some()
    {
        return finish(p);
    }
    check_fixed(
        errors,
        |f| g.at(f),
        Kind::Mutex.noun(),
        key,
        [
            (
                "evaluationMode",
                spec.evaluation_mode.map(|e| e.as_str()),
                have.evaluation_mode.as_deref(),
            ),
            (
                "bucketingKey",
                spec.bucketing_key.as_deref(),
                have.bucketing_key.as_deref(),
            ),
        ],
    );
    let mut body = Map::new();
    name_and_description(
        &mut body,
        &mut p.changes,
        &spec.name,
        &spec.description,
        &have.name,
        &have.description,
    );
    if !body.is_empty() {
        p.calls.push(GroupCall::Patch(body));
    }
    if let Some(slots) = &spec.slots {
        let mut live_slots = have.slots.clone();
        live_slots.sort_by_key(|s| s.index);
        if slots.len() != live_slots.len() {
            immutable(
                errors,
                g.at("slots"),
                Kind::Mutex.noun(),
                key,
                "the number of slots",
                &live_slots.len().to_string(),
                &slots.len().to_string(),
            );
            return None;
        }
        for (i, (want, is)) in slots.iter().zip(&live_slots).enumerate() {
            if is.percentage.is_some_and(|lp| lp != want.percentage) {
                immutable(
                    errors,
                    g.at(&format!("slots[{i}].percentage")),
                    Kind::Mutex.noun(),
                    key,
                    &format!("slot {} percentage", i + 1),
                    &is.percentage.unwrap_or_default().to_string(),
                    &want.percentage.to_string(),
                );
                continue;
            }
            let wanted = slot_members(&m, g, i, want, errors);
            let mut patch = Map::new();
            let where_ = format!("slot {} of mutex group {key}", i + 1);
            for (field, ids, label) in [
                ("experiments", &is.experiments, true),
                ("holdouts", &is.holdouts, false),
            ] {
                let Some(Value::Array(w)) = wanted.get(field) else {
                    continue;
                };
                let want_ids: BTreeSet<String> = w.iter().map(id_text).collect();
                let have_ids: BTreeSet<String> = ids.iter().cloned().collect();
                if want_ids == have_ids {
                    continue;
                }
                let name = |id: &String| {
                    if let Some((r, _)) = IdRef::from_placeholder(id) {
                        r.key
                    } else if label {
                        m.experiment_label(id)
                    } else {
                        m.holdout_label(id)
                    }
                };
                let before: Vec<String> = have_ids.iter().map(name).collect();
                let after = if field == "experiments" {
                    want.experiments.clone().unwrap_or_default()
                } else {
                    want.holdouts.clone().unwrap_or_default()
                };
                if field == "experiments" {
                    warn_moves(&mut p, &m, &where_, &keys(&before), &keys(&after));
                }
                push(
                    &mut p.changes,
                    &format!("slots[{i}].{field}"),
                    Some(set_value(&before)),
                    Some(set_value(&after)),
                );
                patch.insert(field.into(), Value::Array(w.clone()));
            }
            if let Some(people) = &want.individuals {
                let w: BTreeSet<&String> = people.iter().collect();
                let h: BTreeSet<&String> = is.individuals.iter().collect();
                if w != h {
                    push(
                        &mut p.changes,
                        &format!("slots[{i}].individuals"),
                        Some(set_value(&is.individuals)),
                        Some(set_value(people)),
                    );
                    patch.insert("individuals".into(), json!(people));
                }
            }
            if !patch.is_empty() {
                let index = is.index.unwrap_or(i as i64 + 1);
                p.calls.push(GroupCall::PatchSlot {
                    index,
                    nth: i + 1,
                    fields: patch,
                });
            }
        }
    }
    finish(p)
}

/// The keys of a live mutex group's experiments.
fn mutex_members(have: &LiveMutex, m: &Members) -> Vec<String> {
    let ids: BTreeSet<&String> = have.slots.iter().flat_map(|s| &s.experiments).collect();
    ids.into_iter().map(|id| m.experiment_label(id)).collect()
}

fn create_mutex(
    g: &Located<MutexSpec>,
    set: &ManifestSet,
    m: &Members,
    errors: &mut Vec<DiffError>,
) -> Option<GroupDiff> {
    let spec = &g.spec;
    let key = &spec.key;
    let Some(slots) = &spec.slots else {
        errors.push(DiffError {
            at: g.at("key"),
            message: format!(
                "mutex group `{key}` does not exist yet: `slots` is needed to create it"
            ),
        });
        return None;
    };
    let mut p = diff_of(Kind::Mutex, key, None);
    p.action = Action::Create;
    let mut body = Map::new();
    body.insert("projectId".into(), project_number(set));
    let name = spec.name.clone().unwrap_or_else(|| key.clone());
    body.insert("name".into(), s(&name));
    push(&mut p.changes, "name", None, Some(s(&name)));
    body.insert("key".into(), s(key));
    if let Some(x) = &spec.description {
        body.insert("description".into(), s(x));
        push(&mut p.changes, "description", None, Some(s(x)));
    }
    if let Some(e) = spec.evaluation_mode {
        body.insert("evaluationMode".into(), s(e.as_str()));
        push(&mut p.changes, "evaluationMode", None, Some(s(e.as_str())));
    }
    if let Some(b) = &spec.bucketing_key {
        body.insert("bucketingKey".into(), s(b));
        push(&mut p.changes, "bucketingKey", None, Some(s(b)));
    }
    let mut out_slots = Vec::new();
    for (i, slot) in slots.iter().enumerate() {
        let mut sb = slot_members(m, g, i, slot, errors);
        sb.insert("percentage".into(), json!(slot.percentage));
        push(
            &mut p.changes,
            &format!("slots[{i}].percentage"),
            None,
            Some(json!(slot.percentage)),
        );
        for (field, v) in [
            ("experiments", &slot.experiments),
            ("holdouts", &slot.holdouts),
            ("individuals", &slot.individuals),
        ] {
            if let Some(v) = v.as_ref().filter(|v| !v.is_empty()) {
                push(
                    &mut p.changes,
                    &format!("slots[{i}].{field}"),
                    None,
                    Some(set_value(v)),
                );
            }
        }
        if let Some(es) = &slot.experiments {
            warn_moves(
                &mut p,
                m,
                &format!("slot {} of mutex group {key}", i + 1),
                &BTreeSet::new(),
                &keys(es),
            );
        }
        out_slots.push(Value::Object(sb));
    }
    body.insert("slots".into(), Value::Array(out_slots));
    p.calls.push(GroupCall::Create(Value::Object(body)));
    Some(p)
}

// ----- holdout groups -----

/// Plans one holdout group manifest.
pub fn diff_holdout(
    g: &Located<HoldoutSpec>,
    set: &ManifestSet,
    live: &Live,
    errors: &mut Vec<DiffError>,
) -> Option<GroupDiff> {
    let spec = &g.spec;
    let key = &spec.key;
    let m = Members { set, live };
    let owner = format!("holdout group `{key}`");
    // Members are resolved only for a group that stays: an archived group's
    // list may name experiments archived with it.
    let resolve = |errors: &mut Vec<DiffError>| -> Option<Vec<Value>> {
        spec.experiments.as_ref().map(|es| {
            es.iter()
                .enumerate()
                .map(|(j, k)| m.experiment(k, &owner, g.at(&format!("experiments[{j}]")), errors))
                .collect()
        })
    };
    let have = live.holdouts.as_ref().and_then(|hs| hs.get(key));
    let Some(have) = have else {
        if spec.archived == Some(true) {
            return None;
        }
        let wanted_experiments = resolve(errors);
        return create_holdout(g, set, &m, wanted_experiments, errors);
    };
    let mut p = diff_of(Kind::Holdout, key, Some(have.id.clone()));
    let members: Vec<String> = have
        .experiments
        .iter()
        .map(|id| m.experiment_label(id))
        .collect();
    if archive_ops(
        &mut p,
        have.deleted || have.archived,
        spec.archived == Some(true),
        Kind::Holdout.noun(),
        members.clone(),
    )
    .is_some()
    {
        return finish(p);
    }
    check_holdout_fixed(g, have, errors);
    let wanted_experiments = resolve(errors);
    let mut body = Map::new();
    name_and_description(
        &mut body,
        &mut p.changes,
        &spec.name,
        &spec.description,
        &have.name,
        &have.description,
    );
    if let (Some(w), Some(after)) = (&wanted_experiments, &spec.experiments) {
        let want_ids: BTreeSet<String> = w.iter().map(id_text).collect();
        let have_ids: BTreeSet<String> = have.experiments.iter().cloned().collect();
        if want_ids != have_ids {
            warn_moves(
                &mut p,
                &m,
                &format!("holdout group {key}"),
                &keys(&members),
                &keys(after),
            );
            push(
                &mut p.changes,
                "experiments",
                Some(set_value(&members)),
                Some(set_value(after)),
            );
            body.insert("experiments".into(), Value::Array(w.clone()));
        }
    }
    for (field, want, is) in [
        (
            "individualInclusion",
            &spec.individual_inclusion,
            &have.individual_inclusion,
        ),
        (
            "individualExclusion",
            &spec.individual_exclusion,
            &have.individual_exclusion,
        ),
    ] {
        if let Some(w) = want {
            let ws: BTreeSet<&String> = w.iter().collect();
            let hs: BTreeSet<&String> = is.iter().collect();
            if ws != hs {
                push(
                    &mut p.changes,
                    field,
                    Some(set_value(is)),
                    Some(set_value(w)),
                );
                body.insert(field.into(), json!(w));
            }
        }
    }
    if !body.is_empty() {
        p.calls.push(GroupCall::Patch(body));
    }
    finish(p)
}

fn check_holdout_fixed(g: &Located<HoldoutSpec>, have: &LiveHoldout, errors: &mut Vec<DiffError>) {
    let spec = &g.spec;
    if let (Some(w), Some(i)) = (spec.holdout_percentage, have.holdout_percentage) {
        if w != i {
            immutable(
                errors,
                g.at("holdoutPercentage"),
                Kind::Holdout.noun(),
                &spec.key,
                "`holdoutPercentage`",
                &i.to_string(),
                &w.to_string(),
            );
        }
    }
    check_fixed(
        errors,
        |f| g.at(f),
        Kind::Holdout.noun(),
        &spec.key,
        [
            (
                "evaluationMode",
                spec.evaluation_mode.map(|e| e.as_str()),
                have.evaluation_mode.as_deref(),
            ),
            (
                "bucketingKey",
                spec.bucketing_key.as_deref(),
                have.bucketing_key.as_deref(),
            ),
        ],
    );
}

fn create_holdout(
    g: &Located<HoldoutSpec>,
    set: &ManifestSet,
    m: &Members,
    experiments: Option<Vec<Value>>,
    errors: &mut Vec<DiffError>,
) -> Option<GroupDiff> {
    let spec = &g.spec;
    let key = &spec.key;
    let Some(percentage) = spec.holdout_percentage else {
        errors.push(DiffError {
            at: g.at("key"),
            message: format!(
                "holdout group `{key}` does not exist yet: `holdoutPercentage` is needed to create it"
            ),
        });
        return None;
    };
    let mut p = diff_of(Kind::Holdout, key, None);
    p.action = Action::Create;
    let ch = &mut p.changes;
    let mut body = Map::new();
    body.insert("projectId".into(), project_number(set));
    let name = spec.name.clone().unwrap_or_else(|| key.clone());
    body.insert("name".into(), s(&name));
    push(ch, "name", None, Some(s(&name)));
    body.insert("key".into(), s(key));
    if let Some(x) = &spec.description {
        body.insert("description".into(), s(x));
        push(ch, "description", None, Some(s(x)));
    }
    body.insert("holdoutPercentage".into(), json!(percentage));
    push(ch, "holdoutPercentage", None, Some(json!(percentage)));
    if let Some(e) = spec.evaluation_mode {
        body.insert("evaluationMode".into(), s(e.as_str()));
        push(ch, "evaluationMode", None, Some(s(e.as_str())));
    }
    if let Some(b) = &spec.bucketing_key {
        body.insert("bucketingKey".into(), s(b));
        push(ch, "bucketingKey", None, Some(s(b)));
    }
    if let (Some(ids), Some(keys_)) = (experiments, &spec.experiments) {
        if !keys_.is_empty() {
            push(ch, "experiments", None, Some(set_value(keys_)));
        }
        body.insert("experiments".into(), Value::Array(ids));
    }
    for (field, v) in [
        ("individualInclusion", &spec.individual_inclusion),
        ("individualExclusion", &spec.individual_exclusion),
    ] {
        if let Some(v) = v {
            if !v.is_empty() {
                push(ch, field, None, Some(set_value(v)));
            }
            body.insert(field.into(), json!(v));
        }
    }
    if let Some(es) = &spec.experiments {
        warn_moves(
            &mut p,
            m,
            &format!("holdout group {key}"),
            &BTreeSet::new(),
            &keys(es),
        );
    }
    p.calls.push(GroupCall::Create(Value::Object(body)));
    Some(p)
}

/// The read-only `parentDependencies` of a live object, for its plan header:
/// `in mutex group checkout-mutex (slot-1)`.
pub fn dependency_context(lf: &LiveFlag, live: &Live) -> Vec<String> {
    let Some(flags) = lf
        .parent_dependencies
        .as_ref()
        .and_then(|p| p.get("flags"))
        .and_then(Value::as_object)
    else {
        return Vec::new();
    };
    flags
        .iter()
        .map(|(id, variants)| {
            let group = live.group_name(id).unwrap_or_else(|| format!("group {id}"));
            let vs: Vec<String> = variants
                .as_array()
                .into_iter()
                .flatten()
                .map(id_text)
                .collect();
            if vs.is_empty() {
                format!("depends on {group}")
            } else {
                format!("depends on {group} ({})", vs.join(", "))
            }
        })
        .collect()
}

#[cfg(test)]
mod tests;
