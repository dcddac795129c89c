//! Changes → an ordered list of API calls per object.
//!
//! Per flag: unarchive or `enabled: false` first; then renames, new variants,
//! variant fields and weights; then the flag PATCH (segments are replaced
//! there, before any variant they used is removed); deployments; inclusion
//! removals (`bulk-delete-users`, ≤100 ids a call: index-based removal would
//! shift under concurrent edits) and additions in chunks; variant removals;
//! `enabled: true` last. Archiving is a single call. A new flag is created,
//! then PATCHed for what create does not take.

use serde_json::{json, Map, Value};

use crate::diff::groups::{self, GroupCall, GroupDiff};
use crate::diff::{Action, DiffError, FlagDiff, IdList};
use crate::kind::Kind;
use crate::live::Live;
use crate::manifest::ManifestSet;
pub use crate::ops::*;

/// Most ids per `bulk-delete-users` call (an API limit).
pub const BULK_DELETE_MAX: usize = 100;
/// Ids per inclusion-add call.
pub const ADD_CHUNK: usize = 500;

fn field_list(m: &Map<String, Value>) -> String {
    m.keys().cloned().collect::<Vec<_>>().join(", ")
}

/// Orders one flag's changes into API calls.
pub fn flag_ops(d: &FlagDiff, project_id: &str) -> Vec<Op> {
    let key = &d.key;
    let noun = d.kind.noun();
    let kind = Kind::from(d.kind);
    let base = ApiPath::object(kind, d.id.as_deref());
    let mut ops = Vec::new();
    match d.action {
        None => return ops,
        Some(Action::Archive) => {
            ops.push(Op::new(
                Method::Patch,
                base,
                Some(json!({"archive": true})),
                format!("archive {noun} {key}"),
            ));
            return ops;
        }
        Some(Action::Unarchive) => {
            ops.push(Op::new(
                Method::Patch,
                base.clone(),
                Some(json!({"archive": false})),
                format!("unarchive {noun} {key}"),
            ));
        }
        Some(Action::Create) => {
            let mut body = d.create.clone().unwrap_or_else(|| json!({"key": key}));
            if let Value::Object(m) = &mut body {
                let mut with_project = Map::new();
                with_project.insert("projectId".into(), json!(project_id));
                with_project.extend(std::mem::take(m));
                *m = with_project;
            }
            ops.push(
                Op::new(
                    Method::Post,
                    ApiPath::collection(kind),
                    Some(body),
                    format!("create {noun} {key}"),
                )
                .recovered(Recovery::Create),
            );
        }
        Some(Action::Update) => {}
    }
    if d.enabled == Some(false) {
        ops.push(Op::new(
            Method::Patch,
            base.clone(),
            Some(json!({"enabled": false})),
            format!("disable {noun} {key}"),
        ));
    }
    for (from, to) in &d.renames {
        ops.push(
            Op::new(
                Method::Patch,
                base.clone().join("variants").join(from),
                Some(json!({"key": to})),
                format!("rename variant {from} to {to}"),
            )
            .recovered(Recovery::GoneIsDone),
        );
    }
    for b in &d.variant_creates {
        let vk = b["key"].as_str().unwrap_or_default();
        ops.push(
            Op::new(
                Method::Post,
                base.clone().join("variants"),
                Some(b.clone()),
                format!("add variant {vk}"),
            )
            .recovered(Recovery::ConflictIsDone),
        );
    }
    for (vk, p) in &d.variant_patches {
        ops.push(Op::new(
            Method::Patch,
            base.clone().join("variants").join(vk),
            Some(Value::Object(p.clone())),
            format!("set {} of variant {vk}", field_list(p)),
        ));
    }
    if !d.patch.is_empty() {
        ops.push(Op::new(
            Method::Patch,
            base.clone(),
            Some(Value::Object(d.patch.clone())),
            format!("set {}", field_list(&d.patch)),
        ));
    }
    if !d.deployments_add.is_empty() {
        ops.push(Op::new(
            Method::Post,
            base.clone().join("deployments"),
            Some(json!({"deployments": d.deployments_add})),
            format!("add {} deployment(s)", d.deployments_add.len()),
        ));
    }
    for id in &d.deployments_remove {
        ops.push(
            Op::new(
                Method::Delete,
                base.clone().join("deployments").join(id),
                None,
                format!("remove deployment {id}"),
            )
            .recovered(Recovery::GoneIsDone),
        );
    }
    // Per list, removals before additions: a user moved between variants
    // is never in two at once.
    for list in IdList::ALL {
        let changes = || d.id_lists.iter().filter(move |c| c.list == list);
        let seg = list.segment();
        for c in changes() {
            let vk = &c.variant;
            for chunk in c.remove.chunks(BULK_DELETE_MAX) {
                ops.push(Op::new(
                    Method::Delete,
                    base.clone()
                        .join("variants")
                        .join(vk)
                        .join(&format!("bulk-delete-{seg}")),
                    Some(json!({"users": chunk})),
                    format!("remove {} {} from variant {vk}", chunk.len(), list.noun()),
                ));
            }
        }
        for c in changes() {
            let vk = &c.variant;
            for chunk in c.add.chunks(ADD_CHUNK) {
                ops.push(Op::new(
                    Method::Post,
                    base.clone().join("variants").join(vk).join(seg),
                    Some(json!({"inclusions": chunk})),
                    format!("add {} {} to variant {vk}", chunk.len(), list.noun()),
                ));
            }
        }
    }
    for vk in &d.variant_deletes {
        ops.push(
            Op::new(
                Method::Delete,
                base.clone().join("variants").join(vk),
                None,
                format!("remove variant {vk}"),
            )
            .recovered(Recovery::GoneIsDone),
        );
    }
    if d.enabled == Some(true) {
        ops.push(Op::new(
            Method::Patch,
            base,
            Some(json!({"enabled": true})),
            format!("enable {noun} {key}"),
        ));
    }
    ops
}

/// Builds the plan from the diffs.
pub fn build(diffs: Vec<FlagDiff>, project_id: &str, requests: usize) -> Plan {
    let unknown = crate::ops::group_unknown(diffs.iter().flat_map(|d| {
        d.unknown
            .iter()
            .map(|(field, note)| (d.kind.into(), d.key.clone(), field.clone(), note.clone()))
    }));
    let objects = diffs
        .into_iter()
        .filter_map(|d| {
            let action = d.action?;
            let ops = flag_ops(&d, project_id);
            Some(ObjectPlan {
                kind: d.kind.into(),
                key: d.key,
                id: d.id,
                context: d.context,
                action,
                destructive: action == Action::Archive || d.destructive,
                pruned: d.pruned,
                last_modified: None,
                changes: d.changes,
                warnings: d.warnings,
                ops,
                after: Vec::new(),
            })
        })
        .collect();
    Plan {
        objects,
        requests,
        unknown,
        target: None,
        unmanaged: Vec::new(),
        selected: None,
        schedules: Vec::new(),
    }
}

/// The calls of a deployment or group, in the order its diff asks for them.
pub fn group_plan(d: GroupDiff) -> ObjectPlan {
    let (kind, key) = (d.kind, d.key.as_str());
    let noun = kind.noun();
    let object = ApiPath::object(kind, d.id.as_deref());
    let ops = d
        .calls
        .into_iter()
        .map(|call| match call {
            GroupCall::Create(body) => Op::new(
                Method::Post,
                ApiPath::collection(kind),
                Some(body),
                format!("create {noun} {key}"),
            )
            .recovered(Recovery::Create),
            GroupCall::Archive(archive) => {
                let verb = match (archive, kind) {
                    (true, _) => "archive",
                    (false, Kind::Deployment) => "restore",
                    (false, _) => "unarchive",
                };
                Op::new(
                    Method::Patch,
                    object.clone(),
                    Some(json!({ "archive": archive })),
                    format!("{verb} {noun} {key}"),
                )
            }
            GroupCall::Patch(fields) => Op::new(
                Method::Patch,
                object.clone(),
                Some(Value::Object(fields.clone())),
                format!("set {}", field_list(&fields)),
            ),
            GroupCall::PatchSlot { index, nth, fields } => Op::new(
                Method::Patch,
                object.clone().join("slots").join(&index.to_string()),
                Some(Value::Object(fields.clone())),
                format!("set {} of slot {nth}", field_list(&fields)),
            ),
        })
        .collect();
    ObjectPlan {
        kind,
        key: d.key,
        id: d.id,
        context: d.context,
        action: d.action,
        destructive: d.destructive,
        pruned: false,
        last_modified: None,
        changes: d.changes,
        warnings: d.warnings,
        ops,
        after: Vec::new(),
    }
}

/// Diffs a manifest set against the live state and orders the result: the
/// plan of every object, each after the objects it depends on (see
/// `order::edges`). A dependency cycle is an error naming its objects.
pub fn make(set: &ManifestSet, live: &Live, requests: usize) -> Result<Plan, Vec<DiffError>> {
    let planned = groups::with_planned_deployments(set, live);
    let flags_view = planned.as_ref().unwrap_or(live);
    let mut errors = Vec::new();
    // A declared deployment type that no answer showed cannot be checked.
    let mut deployment_types: Vec<crate::ops::Unknown> = crate::ops::group_unknown(set
        .deployments
        .iter()
        .filter(|d| d.spec.kind.is_some() && d.spec.archived != Some(true))
        .filter(|d| {
            let label = d.spec.renamed_from.as_ref().unwrap_or(&d.spec.label);
            live.deployments.iter().flatten().any(|x| {
                !x.deleted && x.kind.is_none() && (&x.label == label || x.label == d.spec.label)
            })
        })
        .map(|d| (
            Kind::Deployment,
            d.spec.label.clone(),
            "type".to_string(),
            "the API shows no type for these deployments, so a change of `type` cannot be found; nothing was written (a type is fixed once created)".to_string(),
        )));
    let mut unknown = Vec::new();
    let mut objects: Vec<ObjectPlan> = set
        .deployments
        .iter()
        .filter_map(|d| groups::diff_deployment(d, set, live, &mut errors))
        .map(group_plan)
        .collect();
    match crate::diff::diff_all(set, flags_view) {
        Ok(diffs) => {
            let built = build(diffs, &set.project.spec.id, 0);
            objects.extend(built.objects);
            unknown = built.unknown;
        }
        Err(e) => errors.extend(e),
    }
    for g in &set.holdouts {
        objects.extend(groups::diff_holdout(g, set, live, &mut errors).map(group_plan));
    }
    for g in &set.mutexes {
        objects.extend(groups::diff_mutex(g, set, live, &mut errors).map(group_plan));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut objects = order::ordered(objects, set, live).map_err(|e| vec![e])?;
    add_sources(&mut objects, set);
    deployment_types.append(&mut unknown);
    let unknown = deployment_types;
    Ok(Plan {
        objects,
        requests,
        unknown,
        target: None,
        unmanaged: Vec::new(),
        selected: None,
        schedules: set.schedules.clone(),
    })
}

/// Names, for every change of an object a manifest describes, the line its
/// desired value comes from (and the environment override that sets it).
fn add_sources(objects: &mut [ObjectPlan], set: &ManifestSet) {
    use crate::manifest::ObjectKind;
    use std::collections::HashMap;
    if objects.iter().all(|o| o.changes.is_empty()) {
        return;
    }
    let flags: HashMap<(ObjectKind, &str), usize> = set
        .flags
        .iter()
        .enumerate()
        .map(|(i, f)| ((f.spec.kind, f.spec.key.as_str()), i))
        .collect();
    for o in objects
        .iter_mut()
        .filter(|o| !o.changes.is_empty() && !o.pruned)
    {
        let paths: Vec<&str> = o.changes.iter().map(|c| c.path.as_str()).collect();
        let sources = match o.kind {
            Kind::Flag | Kind::Experiment => {
                let kind = match o.kind {
                    Kind::Flag => ObjectKind::Flag,
                    _ => ObjectKind::Experiment,
                };
                flags.get(&(kind, o.key.as_str())).map(|&i| {
                    let f = &set.flags[i];
                    let variants: Vec<&str> = f
                        .spec
                        .variants
                        .iter()
                        .flatten()
                        .map(|v| v.key.as_str())
                        .collect();
                    let segments: Vec<&str> = f
                        .spec
                        .target_segments
                        .iter()
                        .flatten()
                        .map(|s| s.name.as_str())
                        .collect();
                    f.sources(&paths, &variants, &segments)
                })
            }
            // Few enough that a search each is cheaper than an index.
            Kind::Deployment => set
                .deployments
                .iter()
                .find(|d| d.spec.label == o.key)
                .map(|d| d.sources(&paths, &[], &[])),
            Kind::Mutex => set
                .mutexes
                .iter()
                .find(|g| g.spec.key == o.key)
                .map(|g| g.sources(&paths, &[], &[])),
            Kind::Holdout => set
                .holdouts
                .iter()
                .find(|g| g.spec.key == o.key)
                .map(|g| g.sources(&paths, &[], &[])),
        };
        for (c, s) in o.changes.iter_mut().zip(sources.into_iter().flatten()) {
            c.source = Some(s);
        }
    }
}

/// What [`enc`] leaves as it is: the unreserved characters of RFC 3986.
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Percent-encodes a path segment (variant keys are user text).
pub fn enc(segment: &str) -> String {
    percent_encoding::utf8_percent_encode(segment, SEGMENT).to_string()
}

mod order;

pub use order::order;

#[cfg(test)]
mod tests;
