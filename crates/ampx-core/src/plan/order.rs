//! The order of a plan's objects: which must come before which (the
//! edges: an object after the objects it names that the plan creates or
//! restores; a group's removal of a member before that member is archived),
//! and a stable order that respects them, or the cycle that rules one out.

use std::collections::{BTreeSet, HashMap};

use crate::change::{Action, DiffError};
use crate::kind::Kind;
use crate::live::Live;
use crate::manifest::{Location, ManifestSet};
use crate::ops::{object_name, ObjectPlan};

/// Ordering edges between object plans, as `(before, after)` pairs of
/// `COLL/KEY`: an object that uses another the plan creates or restores
/// comes after it (its calls' fills say which); a group that drops an
/// experiment (or a mutex slot a holdout group) comes before that object is
/// archived.
pub fn edges(objects: &[ObjectPlan], set: &ManifestSet, live: &Live) -> Vec<(String, String)> {
    let name = crate::plan::object_name;
    let by_name: HashMap<String, &ObjectPlan> = objects.iter().map(|o| (name(o), o)).collect();
    let restored: BTreeSet<String> = objects
        .iter()
        .filter(|o| o.action == Action::Unarchive)
        .map(name)
        .collect();
    let references = (!restored.is_empty()).then(|| reference_index(set));
    let mut out = Vec::new();
    for o in objects {
        let me = name(o);
        let mut uses: BTreeSet<String> = o
            .ops
            .iter()
            .flat_map(|op| op.fills.iter().map(|f| f.id.name()))
            .collect();
        // References to live objects that the plan restores.
        if let Some(refs) = references.as_ref().and_then(|r| r.get(&me)) {
            uses.extend(refs.iter().filter(|r| restored.contains(*r)).cloned());
        }
        for u in uses {
            if by_name.contains_key(&u) && u != me {
                out.push((u, me.clone()));
            }
        }
    }
    // Removal from groups before archiving.
    let groups: Vec<&ObjectPlan> = objects
        .iter()
        .filter(|g| matches!(g.kind, Kind::Mutex | Kind::Holdout))
        .collect();
    if groups.is_empty() {
        return out;
    }
    for o in objects.iter().filter(|o| o.action == Action::Archive) {
        let me = name(o);
        let Some(id) = o.id.as_deref() else { continue };
        for g in groups.iter().copied() {
            if g.action == Action::Archive || name(g) == me {
                continue;
            }
            let listed = match g.kind {
                Kind::Mutex => live
                    .mutexes
                    .as_ref()
                    .and_then(|ms| ms.get(&g.key))
                    .is_some_and(|m| {
                        m.slots.iter().any(|s| {
                            s.experiments.iter().any(|e| e == id) && o.kind == Kind::Experiment
                                || s.holdouts.iter().any(|h| h == id) && o.kind == Kind::Holdout
                        })
                    }),
                _ => live
                    .holdouts
                    .as_ref()
                    .and_then(|hs| hs.get(&g.key))
                    .is_some_and(|h| {
                        o.kind == Kind::Experiment && h.experiments.iter().any(|e| e == id)
                    }),
            };
            if listed {
                out.push((name(g), me.clone()));
            }
        }
    }
    out
}

/// The `COLL/KEY` names each manifest refers to, by the manifest's own
/// `COLL/KEY`.
fn reference_index(set: &ManifestSet) -> HashMap<String, Vec<String>> {
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    for g in &set.mutexes {
        let refs = out.entry(format!("mutexes/{}", g.spec.key)).or_default();
        for slot in g.spec.slots.iter().flatten() {
            refs.extend(
                slot.experiments
                    .iter()
                    .flatten()
                    .map(|e| format!("experiments/{e}")),
            );
            refs.extend(
                slot.holdouts
                    .iter()
                    .flatten()
                    .map(|h| format!("holdouts/{h}")),
            );
        }
    }
    for g in &set.holdouts {
        out.entry(format!("holdouts/{}", g.spec.key))
            .or_default()
            .extend(
                g.spec
                    .experiments
                    .iter()
                    .flatten()
                    .map(|e| format!("experiments/{e}")),
            );
    }
    for f in &set.flags {
        out.entry(format!("{}/{}", f.spec.kind.collection(), f.spec.key))
            .or_default()
            .extend(
                f.spec
                    .deployments
                    .iter()
                    .flatten()
                    .map(|d| format!("deployments/{d}")),
            );
    }
    out
}

/// The objects in an order that respects every edge between them, or the
/// cycle that rules one out, placed where its first object is declared.
pub(super) fn ordered(
    objects: Vec<ObjectPlan>,
    set: &ManifestSet,
    live: &Live,
) -> Result<Vec<ObjectPlan>, DiffError> {
    let edges = edges(&objects, set, live);
    order(objects, &edges).map_err(|cycle| DiffError {
        at: locate(set, &cycle[0]),
        message: format!(
            "dependency cycle between manifests: {} (each must be applied before the next)",
            cycle.join(" → ")
        ),
    })
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
