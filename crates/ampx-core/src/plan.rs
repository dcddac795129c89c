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

use std::collections::{BTreeSet, HashMap};

use crate::diff::{groups, Action, Change, DiffError, FlagDiff, IdList};
use crate::kind::Kind;
use crate::live::Live;
use crate::manifest::{Location, ManifestSet};

/// Most ids per `bulk-delete-users` call (an API limit).
pub const BULK_DELETE_MAX: usize = 100;
/// Ids per inclusion-add call.
pub const ADD_CHUNK: usize = 500;
/// Placeholder for the id of an object that the plan itself creates.
pub const ID: &str = "{id}";

/// The HTTP method of a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    Get,
    Post,
    Patch,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

impl PartialEq<&str> for Method {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// How apply recognises, when a retry after a lost answer is refused, that
/// the lost attempt was carried out. The diff that makes a call knows what
/// it does, so it says; apply never guesses from the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Recovery {
    /// Repeating the call is harmless (or a refusal is a real error).
    #[default]
    None,
    /// Creates the object: a 409 means it exists, and apply looks its id up
    /// by key (also when the answer carries no id).
    Create,
    /// Adds something a retry then finds present: a 409 means done.
    ConflictIsDone,
    /// Removes or renames something a retry then no longer finds: a 404
    /// means done.
    GoneIsDone,
}

impl Recovery {
    pub fn is_none(&self) -> bool {
        *self == Recovery::None
    }
}

/// The id of an object the plan creates, which apply learns from the
/// create's answer and writes into the calls that name that object.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IdRef {
    pub kind: Kind,
    pub key: String,
}

impl IdRef {
    /// `COLL/KEY`, as plans name objects ([`object_name`]).
    pub fn name(&self) -> String {
        format!("{}/{}", self.kind.collection(), self.key)
    }
}

/// A place in a call's body where apply writes an id it learned.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Fill {
    /// Where, as a JSON pointer into the body (RFC 6901).
    pub at: String,
    pub id: IdRef,
    /// Written as a number when the id is one (the group endpoints take
    /// numbers), else as a string.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub numeric: bool,
}

/// The body fields that hold lists of object ids: a flag's `deployments`,
/// a group's `experiments` and `holdouts`, a mutex slot's lists.
const ID_LISTS: [&str; 3] = ["deployments", "experiments", "holdouts"];

/// The places in `body` where the plan put the id of an object it creates
/// (see [`crate::diff::groups::placeholder`]). Only the API's id lists are
/// looked at: text a user wrote (a payload, a name) is never an id to fill.
fn id_fills(body: &Value) -> Vec<Fill> {
    let mut out = Vec::new();
    let mut lists = |v: &Value, prefix: &str| {
        for field in ID_LISTS {
            let Some(Value::Array(items)) = v.get(field) else {
                continue;
            };
            for (i, item) in items.iter().enumerate() {
                let Some((numeric, name)) = item.as_str().and_then(groups::parse_placeholder)
                else {
                    continue;
                };
                let Some((coll, key)) = name.split_once('/') else {
                    continue;
                };
                if let Some(kind) = Kind::from_collection(coll) {
                    out.push(Fill {
                        at: format!("{prefix}/{field}/{i}"),
                        id: IdRef {
                            kind,
                            key: key.to_string(),
                        },
                        numeric,
                    });
                }
            }
        }
    };
    lists(body, "");
    if let Some(Value::Array(slots)) = body.get("slots") {
        for (i, slot) in slots.iter().enumerate() {
            lists(slot, &format!("/slots/{i}"));
        }
    }
    out
}

/// One API call of a plan.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Op {
    pub method: Method,
    /// Path; `{id}` stands for the id of an object created earlier in the plan.
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
    pub summary: String,
    #[serde(default, skip_serializing_if = "Recovery::is_none")]
    pub recovery: Recovery,
    /// Ids apply writes into the body once it knows them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fills: Vec<Fill>,
}

impl Op {
    /// A call that repeating is harmless (see [`Recovery`]).
    pub fn new(method: Method, path: String, body: Option<Value>, summary: String) -> Op {
        Op {
            method,
            fills: body.as_ref().map(id_fills).unwrap_or_default(),
            path,
            body,
            summary,
            recovery: Recovery::None,
        }
    }

    /// The same call, recovered as `recovery` says after a lost answer.
    pub fn recovered(mut self, recovery: Recovery) -> Op {
        self.recovery = recovery;
        self
    }
}

/// Everything a plan does to one object.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ObjectPlan {
    pub kind: Kind,
    pub key: String,
    pub id: Option<String>,
    /// Read-only live facts (an experiment's state, decision).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub context: Vec<String>,
    pub action: Action,
    /// Archiving: the object stops serving (and leaves its groups).
    pub destructive: bool,
    /// Who changed the live object last and when (drift reports only).
    #[serde(
        rename = "lastModified",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub last_modified: Option<Attribution>,
    pub changes: Vec<Change>,
    pub warnings: Vec<String>,
    pub ops: Vec<Op>,
    /// Objects of the plan (`COLL/KEY`, e.g. `deployments/web`) whose calls
    /// must all succeed before this object's calls start.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub after: Vec<String>,
}

/// The last change of a live object, as the API records it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Attribution {
    /// The user (id or email) the API names; `None` when it names nobody.
    pub by: Option<String>,
    /// When, as the API gives it (RFC 3339).
    pub at: Option<String>,
    /// Where it came from: `object` (its lastModified fields) or `versions`
    /// (its newest version entry).
    pub source: String,
}

/// A whole plan.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Plan {
    pub objects: Vec<ObjectPlan>,
    /// API requests made to read the live state.
    pub requests: usize,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }
    pub fn op_count(&self) -> usize {
        self.objects.iter().map(|o| o.ops.len()).sum()
    }
    pub fn count(&self, action: Action) -> usize {
        self.objects.iter().filter(|o| o.action == action).count()
    }
    pub fn warnings(&self) -> impl Iterator<Item = &String> {
        self.objects.iter().flat_map(|o| o.warnings.iter())
    }
}

fn field_list(m: &Map<String, Value>) -> String {
    m.keys().cloned().collect::<Vec<_>>().join(", ")
}

/// Orders one flag's changes into API calls.
pub fn flag_ops(d: &FlagDiff, project_id: &str) -> Vec<Op> {
    let key = &d.key;
    let noun = d.kind.noun();
    let coll = d.kind.collection();
    let base = format!("/api/1/{coll}/{}", d.id.as_deref().unwrap_or(ID));
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
                    format!("/api/1/{coll}"),
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
                format!("{base}/variants/{}", enc(from)),
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
                format!("{base}/variants"),
                Some(b.clone()),
                format!("add variant {vk}"),
            )
            .recovered(Recovery::ConflictIsDone),
        );
    }
    for (vk, p) in &d.variant_patches {
        ops.push(Op::new(
            Method::Patch,
            format!("{base}/variants/{}", enc(vk)),
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
            format!("{base}/deployments"),
            Some(json!({"deployments": d.deployments_add})),
            format!("add {} deployment(s)", d.deployments_add.len()),
        ));
    }
    for id in &d.deployments_remove {
        ops.push(
            Op::new(
                Method::Delete,
                format!("{base}/deployments/{id}"),
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
                    format!("{base}/variants/{}/bulk-delete-{seg}", enc(vk)),
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
                    format!("{base}/variants/{}/{seg}", enc(vk)),
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
                format!("{base}/variants/{}", enc(vk)),
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
                destructive: action == Action::Archive,
                last_modified: None,
                changes: d.changes,
                warnings: d.warnings,
                ops,
                after: Vec::new(),
            })
        })
        .collect();
    Plan { objects, requests }
}

/// Diffs a manifest set against the live state and orders the result: the
/// plan of every object, each after the objects it depends on (see
/// [`groups::edges`]). A dependency cycle is an error naming its objects.
pub fn make(set: &ManifestSet, live: &Live, requests: usize) -> Result<Plan, Vec<DiffError>> {
    let planned = groups::with_planned_deployments(set, live);
    let flags_view = planned.as_ref().unwrap_or(live);
    let mut errors = Vec::new();
    let mut objects: Vec<ObjectPlan> = set
        .deployments
        .iter()
        .filter_map(|d| groups::diff_deployment(d, set, live, &mut errors))
        .collect();
    match crate::diff::diff_all(set, flags_view) {
        Ok(diffs) => objects.extend(build(diffs, &set.project.spec.id, 0).objects),
        Err(e) => errors.extend(e),
    }
    for g in &set.holdouts {
        objects.extend(groups::diff_holdout(g, set, live, &mut errors));
    }
    for g in &set.mutexes {
        objects.extend(groups::diff_mutex(g, set, live, &mut errors));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let edges = groups::edges(&objects, set, live);
    let objects = order(objects, &edges).map_err(|cycle| {
        vec![DiffError {
            at: locate(set, &cycle[0]),
            message: format!(
                "dependency cycle between manifests: {} (each must be applied before the next)",
                cycle.join(" → ")
            ),
        }]
    })?;
    Ok(Plan { objects, requests })
}

/// `COLL/KEY` of an object plan.
pub fn object_name(o: &ObjectPlan) -> String {
    format!("{}/{}", o.kind.collection(), o.key)
}

/// Where a `COLL/KEY` is declared, for an error message.
fn locate(set: &ManifestSet, name: &str) -> Location {
    let (coll, key) = name.split_once('/').unwrap_or(("", name));
    let found = match Kind::from_collection(coll) {
        Some(Kind::Deployment) => set
            .deployments
            .iter()
            .find(|d| d.spec.label == key)
            .map(|d| d.at("label")),
        Some(Kind::Mutex) => set
            .mutexes
            .iter()
            .find(|g| g.spec.key == key)
            .map(|g| g.at("key")),
        Some(Kind::Holdout) => set
            .holdouts
            .iter()
            .find(|g| g.spec.key == key)
            .map(|g| g.at("key")),
        Some(kind) => set
            .flags
            .iter()
            .find(|f| Kind::from(f.spec.kind) == kind && f.spec.key == key)
            .map(|f| f.at("key")),
        None => None,
    };
    // An object the manifests do not name (one prune archives): the project.
    found.unwrap_or_else(|| set.project.at("."))
}

/// Orders object plans so that every edge's first object comes before its
/// second, keeping the given order otherwise; records each object's
/// prerequisites in `after`. A cycle comes back as its objects' names.
pub fn order(
    mut objects: Vec<ObjectPlan>,
    edges: &[(String, String)],
) -> Result<Vec<ObjectPlan>, Vec<String>> {
    let names: Vec<String> = objects.iter().map(object_name).collect();
    let index: HashMap<&str, usize> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i))
        .collect();
    let mut preds: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); objects.len()];
    for (a, b) in edges {
        if let (Some(&i), Some(&j)) = (index.get(a.as_str()), index.get(b.as_str())) {
            if i != j {
                preds[j].insert(i);
            }
        }
    }
    for (j, o) in objects.iter_mut().enumerate() {
        o.after = preds[j].iter().map(|&i| names[i].clone()).collect();
    }
    // Kahn's algorithm, taking the earliest ready object each time.
    let mut waiting: Vec<usize> = preds.iter().map(BTreeSet::len).collect();
    let mut succs: Vec<Vec<usize>> = vec![Vec::new(); objects.len()];
    for (j, ps) in preds.iter().enumerate() {
        for &i in ps {
            succs[i].push(j);
        }
    }
    let mut ready: BTreeSet<usize> = (0..objects.len()).filter(|&j| waiting[j] == 0).collect();
    let mut done = vec![false; objects.len()];
    let mut out_order = Vec::with_capacity(objects.len());
    while let Some(j) = ready.pop_first() {
        done[j] = true;
        out_order.push(j);
        for &k in &succs[j] {
            waiting[k] -= 1;
            if waiting[k] == 0 {
                ready.insert(k);
            }
        }
    }
    if out_order.len() < objects.len() {
        return Err(cycle(&preds, &done, &names));
    }
    let mut slots: Vec<Option<ObjectPlan>> = objects.into_iter().map(Some).collect();
    Ok(out_order
        .into_iter()
        .filter_map(|j| slots[j].take())
        .collect())
}

/// A cycle among the objects not yet ordered, as names (first repeated last).
fn cycle(preds: &[BTreeSet<usize>], done: &[bool], names: &[String]) -> Vec<String> {
    let start = (0..names.len()).find(|&j| !done[j]).unwrap_or(0);
    let mut path = vec![start];
    let mut cur = start;
    while let Some(&p) = preds[cur].iter().find(|&&i| !done[i]) {
        if let Some(pos) = path.iter().position(|&x| x == p) {
            let mut c: Vec<String> = path[pos..]
                .iter()
                .rev()
                .map(|&i| names[i].clone())
                .collect();
            // Each object comes before the next; the first closes the loop.
            c.push(c[0].clone());
            return c;
        }
        path.push(p);
        cur = p;
    }
    vec![names[start].clone()]
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

#[cfg(test)]
mod tests;
