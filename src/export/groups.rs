//! Deployments, mutual exclusion groups and holdout groups as manifests.
//!
//! A deployment is written by label with its `type` when the list shows
//! one; its SDK key is never read (the live type has no field for it). A
//! group names its experiments (and a mutex slot its holdout groups) by key:
//! an id that does not resolve to a key the plan resolves back to the same
//! id (an id the lists do not show, an archived experiment, which a plan
//! refuses in a group) leaves its field out, with a note. As for flags,
//! empty lists and unset values are left out (unmanaged), and each document
//! is read back and planned against what was read: a field that would still
//! show as a change, or that does not load, is left out too.

use std::collections::BTreeSet;
use std::path::PathBuf;

use crate::api::live::{Live, LiveDeployment, LiveHoldout, LiveMutex, LiveSlot};
use crate::manifest::{
    self, DeploymentSpec, DeploymentType, EvaluationMode, HoldoutSpec, MutexSpec, SlotSpec,
    MAX_INCLUSIONS, MAX_SLOTS,
};

use super::settle::{Check, Settle};
use super::yaml_out::{self, Node};
use super::{non_empty, sorted_unique};

/// A deployment or group manifest being exported.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum GroupSpec {
    Deployment(DeploymentSpec),
    Mutex(MutexSpec),
    Holdout(HoldoutSpec),
}

fn evaluation_mode(live: &Option<String>, notes: &mut Vec<String>) -> Option<EvaluationMode> {
    match live.as_deref() {
        None | Some("") => None,
        Some("local") => Some(EvaluationMode::Local),
        Some("remote") => Some(EvaluationMode::Remote),
        Some(other) => {
            notes.push(format!(
                "evaluationMode is left out (unmanaged): the live value `{other}` is neither local nor remote"
            ));
            None
        }
    }
}

/// A set of user or device ids as a manifest writes it: sorted, each once,
/// left out when empty or longer than manifests accept.
fn user_ids(field: &str, ids: &[String], notes: &mut Vec<String>) -> Option<Vec<String>> {
    let ids = sorted_unique(ids);
    if ids.len() > MAX_INCLUSIONS {
        notes.push(format!(
            "{field} is left out (unmanaged): it has {} ids and manifests take at most {MAX_INCLUSIONS}",
            ids.len()
        ));
        return None;
    }
    Some(ids).filter(|i| !i.is_empty())
}

/// Member ids → keys, in live order, or why not every id resolves: an id
/// that `lookup` (id → key and whether archived) does not know, or one that
/// is archived (a plan refuses a group that names an archived member).
fn member_keys<'a>(
    field: &str,
    noun: &str,
    ids: &[String],
    lookup: impl Fn(&str) -> Option<(&'a str, bool)>,
) -> Result<Vec<String>, String> {
    let mut keys: Vec<String> = Vec::new();
    let (mut unknown, mut archived) = (Vec::new(), Vec::new());
    for id in ids {
        match lookup(id) {
            None => unknown.push(id.as_str()),
            Some((key, true)) => archived.push(format!("`{key}` (id {id})")),
            Some((key, false)) => {
                if !keys.iter().any(|k| k == key) {
                    keys.push(key.to_string())
                }
            }
        }
    }
    let mut why = Vec::new();
    if !unknown.is_empty() {
        why.push(format!(
            "{noun} id {} is not in the project's {noun} list",
            unknown.join(", ")
        ));
    }
    if !archived.is_empty() {
        why.push(format!(
            "{noun} {} is archived, and a plan refuses a group that names an archived {noun}",
            archived.join(", ")
        ));
    }
    if why.is_empty() {
        Ok(keys)
    } else {
        Err(format!(
            "{field} is left out (unmanaged): {}",
            why.join("; ")
        ))
    }
}

fn experiment_keys(field: &str, ids: &[String], live: &Live) -> Result<Vec<String>, String> {
    member_keys(field, "experiment", ids, |id| {
        live.experiments
            .values()
            .find(|e| e.id == id)
            .map(|e| (e.key.as_str(), e.is_archived()))
    })
}

fn holdout_keys(field: &str, ids: &[String], live: &Live) -> Result<Vec<String>, String> {
    member_keys(field, "holdout group", ids, |id| {
        live.holdouts
            .as_ref()?
            .values()
            .find(|h| h.id == id)
            .map(|h| (h.key.as_str(), h.deleted || h.archived))
    })
}

/// A list of ids as keys: `None` when empty, or (with a note) when an id
/// does not resolve.
fn members(resolved: Result<Vec<String>, String>, notes: &mut Vec<String>) -> Option<Vec<String>> {
    match resolved {
        Ok(keys) => Some(keys).filter(|k| !k.is_empty()),
        Err(note) => {
            notes.push(note);
            None
        }
    }
}

/// The manifest for a live deployment: its label and type.
pub(super) fn deployment_spec(d: &LiveDeployment, notes: &mut Vec<String>) -> GroupSpec {
    let kind = match d.kind.as_deref() {
        None | Some("") => None,
        Some("client") => Some(DeploymentType::Client),
        Some("server") => Some(DeploymentType::Server),
        Some(other) => {
            notes.push(format!(
                "type is left out (unmanaged): the live value `{other}` is neither client nor server"
            ));
            None
        }
    };
    GroupSpec::Deployment(DeploymentSpec {
        label: d.label.clone(),
        kind,
        archived: None,
        renamed_from: None,
        environments: None,
        only_in: None,
    })
}

/// Slots in the order the plan matches them: by their live index.
fn ordered_slots(m: &LiveMutex) -> Vec<&LiveSlot> {
    let mut slots: Vec<&LiveSlot> = m.slots.iter().collect();
    slots.sort_by_key(|s| s.index);
    slots
}

/// Why a mutex group's live slots cannot be written as they are, if so.
fn slots_problem(slots: &[&LiveSlot]) -> Option<String> {
    if slots.is_empty() || slots.len() > MAX_SLOTS {
        return Some(format!(
            "the group has {} slots, and manifests take 1 to {MAX_SLOTS}",
            slots.len()
        ));
    }
    let mut sum = 0;
    for (i, s) in slots.iter().enumerate() {
        match s.percentage {
            Some(p) if (1..=100).contains(&p) => sum += p,
            Some(p) => return Some(format!("slot {} has the percentage {p}", i + 1)),
            None => return Some(format!("the list shows no percentage for slot {}", i + 1)),
        }
    }
    (sum != 100).then(|| format!("the slot percentages add up to {sum}, not 100"))
}

/// The manifest for a live mutual exclusion group.
pub(super) fn mutex_spec(m: &LiveMutex, live: &Live, notes: &mut Vec<String>) -> GroupSpec {
    let slots = ordered_slots(m);
    let written = match slots_problem(&slots) {
        Some(why) => {
            notes.push(format!("slots is left out (unmanaged): {why}"));
            None
        }
        None => Some(
            slots
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    let at = format!("slots[{i}]");
                    if !s.cohorts.is_empty() {
                        notes.push(format!(
                            "{at} includes cohort {}: manifests cannot hold a slot's cohorts (the API cannot set them), so they stay as they are",
                            s.cohorts.join(", ")
                        ));
                    }
                    SlotSpec {
                        percentage: s.percentage.unwrap_or_default(),
                        experiments: members(
                            experiment_keys(&format!("{at}.experiments"), &s.experiments, live),
                            notes,
                        ),
                        holdouts: members(
                            holdout_keys(&format!("{at}.holdouts"), &s.holdouts, live),
                            notes,
                        ),
                        individuals: user_ids(&format!("{at}.individuals"), &s.individuals, notes),
                    }
                })
                .collect(),
        ),
    };
    GroupSpec::Mutex(MutexSpec {
        key: m.key.clone(),
        name: non_empty(&m.name),
        description: non_empty(&m.description),
        evaluation_mode: evaluation_mode(&m.evaluation_mode, notes),
        bucketing_key: non_empty(&m.bucketing_key),
        slots: written,
        archived: None,
        environments: None,
        only_in: None,
    })
}

/// The manifest for a live holdout group.
pub(super) fn holdout_spec(h: &LiveHoldout, live: &Live, notes: &mut Vec<String>) -> GroupSpec {
    let percentage = match h.holdout_percentage {
        Some(p) if (1..=99).contains(&p) => Some(p),
        Some(p) => {
            notes.push(format!(
                "holdoutPercentage is left out (unmanaged): the live value {p} is not from 1 to 99"
            ));
            None
        }
        None => None,
    };
    GroupSpec::Holdout(HoldoutSpec {
        key: h.key.clone(),
        name: non_empty(&h.name),
        description: non_empty(&h.description),
        holdout_percentage: percentage,
        evaluation_mode: evaluation_mode(&h.evaluation_mode, notes),
        bucketing_key: non_empty(&h.bucketing_key),
        experiments: members(experiment_keys("experiments", &h.experiments, live), notes),
        individual_inclusion: user_ids("individualInclusion", &h.individual_inclusion, notes),
        individual_exclusion: user_ids("individualExclusion", &h.individual_exclusion, notes),
        archived: None,
        environments: None,
        only_in: None,
    })
}

impl GroupSpec {
    /// `Deployment`, `MutexGroup` or `HoldoutGroup`.
    pub(super) fn kind(&self) -> &'static str {
        match self {
            GroupSpec::Deployment(_) => "Deployment",
            GroupSpec::Mutex(_) => "MutexGroup",
            GroupSpec::Holdout(_) => "HoldoutGroup",
        }
    }

    /// The document, keys in the manifest order of SPEC §1.
    pub(super) fn entries(&self) -> Vec<(String, Node)> {
        let mut e: Vec<(String, Node)> = Vec::new();
        let mut put = |k: &str, v: Node| e.push((k.to_string(), v));
        put("apiVersion", Node::str("ampx/v1"));
        put("kind", Node::str(self.kind()));
        let list = |v: &Option<Vec<String>>| v.as_ref().map(Node::strs);
        match self {
            GroupSpec::Deployment(d) => {
                put("label", Node::str(&d.label));
                if let Some(t) = d.kind {
                    put("type", Node::str(t.as_str()));
                }
            }
            GroupSpec::Mutex(m) => {
                put("key", Node::str(&m.key));
                for (k, v) in [("name", &m.name), ("description", &m.description)] {
                    if let Some(x) = v {
                        put(k, Node::str(x));
                    }
                }
                if let Some(x) = m.evaluation_mode {
                    put("evaluationMode", Node::str(x.as_str()));
                }
                if let Some(x) = &m.bucketing_key {
                    put("bucketingKey", Node::str(x));
                }
                if let Some(slots) = &m.slots {
                    let items = slots
                        .iter()
                        .map(|s| {
                            let mut m = vec![("percentage".to_string(), Node::int(s.percentage))];
                            for (k, v) in [
                                ("experiments", &s.experiments),
                                ("holdouts", &s.holdouts),
                                ("individuals", &s.individuals),
                            ] {
                                if let Some(n) = list(v) {
                                    m.push((k.to_string(), n));
                                }
                            }
                            Node::Map(m)
                        })
                        .collect();
                    put("slots", Node::Seq(items));
                }
            }
            GroupSpec::Holdout(h) => {
                put("key", Node::str(&h.key));
                for (k, v) in [("name", &h.name), ("description", &h.description)] {
                    if let Some(x) = v {
                        put(k, Node::str(x));
                    }
                }
                if let Some(x) = h.holdout_percentage {
                    put("holdoutPercentage", Node::int(x));
                }
                if let Some(x) = h.evaluation_mode {
                    put("evaluationMode", Node::str(x.as_str()));
                }
                if let Some(x) = &h.bucketing_key {
                    put("bucketingKey", Node::str(x));
                }
                for (k, v) in [
                    ("experiments", &h.experiments),
                    ("individualInclusion", &h.individual_inclusion),
                    ("individualExclusion", &h.individual_exclusion),
                ] {
                    if let Some(n) = list(v) {
                        put(k, n);
                    }
                }
            }
        }
        e
    }

    /// Leaves out a field (`slot`: of that slot, 0-based); false when it was
    /// not there or is the identity, which cannot be left out.
    fn unmanage(&mut self, field: &str, slot: Option<usize>) -> bool {
        match self {
            GroupSpec::Deployment(d) => match field {
                "type" => d.kind.take().is_some(),
                "archived" => d.archived.take().is_some(),
                _ => false,
            },
            GroupSpec::Mutex(m) => match (field, slot) {
                ("slots", _) => m.slots.take().is_some(),
                (f, Some(i)) => {
                    let Some(s) = m.slots.as_mut().and_then(|s| s.get_mut(i)) else {
                        return false;
                    };
                    match f {
                        "experiments" => s.experiments.take().is_some(),
                        "holdouts" => s.holdouts.take().is_some(),
                        "individuals" => s.individuals.take().is_some(),
                        // A slot's percentage cannot be left out: the slots go.
                        _ => m.slots.take().is_some(),
                    }
                }
                ("name", None) => m.name.take().is_some(),
                ("description", None) => m.description.take().is_some(),
                ("evaluationMode", None) => m.evaluation_mode.take().is_some(),
                ("bucketingKey", None) => m.bucketing_key.take().is_some(),
                ("archived", None) => m.archived.take().is_some(),
                _ => false,
            },
            GroupSpec::Holdout(h) => match field {
                "name" => h.name.take().is_some(),
                "description" => h.description.take().is_some(),
                "holdoutPercentage" => h.holdout_percentage.take().is_some(),
                "evaluationMode" => h.evaluation_mode.take().is_some(),
                "bucketingKey" => h.bucketing_key.take().is_some(),
                "experiments" => h.experiments.take().is_some(),
                "individualInclusion" => h.individual_inclusion.take().is_some(),
                "individualExclusion" => h.individual_exclusion.take().is_some(),
                "archived" => h.archived.take().is_some(),
                _ => false,
            },
        }
    }
}

/// A field of the document: top level, or of one slot (0-based).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Target {
    field: String,
    slot: Option<usize>,
}

impl Target {
    fn shown(&self) -> String {
        match self.slot {
            Some(i) => format!("slots[{i}].{}", self.field),
            None => self.field.clone(),
        }
    }
}

/// The field a 1-based line of `body` belongs to.
fn target_at_line(body: &str, line: usize) -> Option<Target> {
    let lines: Vec<&str> = body.lines().collect();
    let idx = line.checked_sub(1).filter(|i| *i < lines.len())?;
    let top = (0..=idx)
        .rev()
        .find(|&j| !lines[j].starts_with([' ', '-', '#']) && lines[j].contains(':'))?;
    let field = lines[top].split(':').next()?.trim().to_string();
    if field != "slots" || top == idx {
        return Some(Target { field, slot: None });
    }
    let starts = lines[top + 1..=idx]
        .iter()
        .filter(|l| l.starts_with("  - "))
        .count();
    let Some(slot) = starts.checked_sub(1) else {
        return Some(Target { field, slot: None });
    };
    // The slot's own key: the nearest line at the slot's indentation.
    let sub = (top + 1..=idx).rev().find_map(|j| {
        let l = lines[j];
        let rest = l.strip_prefix("  - ").or_else(|| {
            l.strip_prefix("    ")
                .filter(|r| !r.starts_with([' ', '-']))
        })?;
        rest.split_once(':').map(|(k, _)| k.trim().to_string())
    });
    Some(Target {
        field: sub.unwrap_or(field),
        slot: Some(slot),
    })
}

/// The target a plan change path points at: `slots[1].experiments` is the
/// first slot's (the plan numbers slots from 1).
fn target_of_change(path: &str) -> Target {
    if let Some(rest) = path.strip_prefix("slots[") {
        if let Some((n, tail)) = rest.split_once("].") {
            if let Ok(n) = n.parse::<usize>() {
                return Target {
                    field: tail.split('.').next().unwrap_or(tail).to_string(),
                    slot: Some(n.saturating_sub(1)),
                };
            }
        }
    }
    let field = path.split(['.', '[']).next().unwrap_or(path).to_string();
    Target { field, slot: None }
}

/// A deployment or group document, settled by planning it against the live
/// state: fields that would still show a change, or that do not load, are
/// left out and noted; a document whose identity does not load cannot be
/// written at all.
impl Settle for GroupSpec {
    type Target = Target;

    fn document(&self) -> String {
        yaml_out::document(&self.entries())
    }

    fn check(&self, project_body: &str, body: &str, live: &Live) -> Option<Check<Target>> {
        let text = format!("{project_body}---\n{body}");
        // The document starts after the project and the `---` line.
        let offset = project_body.lines().count() + 1;
        let line_of = |l: usize| l.checked_sub(offset).and_then(|l| target_at_line(body, l));
        let (found, loads): (Vec<(Option<Target>, String)>, bool) =
            match manifest::load_sources(&[(PathBuf::from("export.yaml"), text)]) {
                Err(diags) => (
                    diags
                        .0
                        .iter()
                        .map(|d| (line_of(d.pos.line), d.message.clone()))
                        .collect(),
                    false,
                ),
                Ok(set) => match crate::plan::make(&set, live, 0) {
                    Err(errors) => (
                        errors
                            .iter()
                            .map(|e| (line_of(e.at.line), e.message.clone()))
                            .collect(),
                        true,
                    ),
                    Ok(plan) if plan.objects.is_empty() => return None,
                    Ok(plan) => (
                        plan.objects
                            .iter()
                            .flat_map(|o| &o.changes)
                            .map(|c| {
                                (
                                    Some(target_of_change(&c.path)),
                                    "its live value does not read back unchanged".to_string(),
                                )
                            })
                            .collect(),
                        true,
                    ),
                },
            };
        // Each field once, at its first problem.
        let mut seen = BTreeSet::new();
        let found = found
            .into_iter()
            .map(|(t, why)| (t.filter(|t| seen.insert(t.clone())), why))
            .collect();
        Some(Check {
            found,
            loads,
            notes: Vec::new(),
        })
    }

    fn leave_out(&mut self, t: &Target, why: &str) -> Option<String> {
        self.unmanage(&t.field, t.slot)
            .then(|| format!("{} is left out (unmanaged): {why}", t.shown()))
    }

    fn stuck(&self, check: &Check<Target>) -> Result<String, String> {
        let why: Vec<&str> = check.found.iter().map(|(_, w)| w.as_str()).collect();
        let why = why.join("; ");
        if !check.loads {
            return Err(why);
        }
        Ok(format!(
            "plan may still show a change or refuse this document: {why} (please report this)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::super::settle::settle;
    use super::*;

    #[test]
    fn lines_point_at_their_field() {
        let body = "apiVersion: ampx/v1\nkind: MutexGroup\nkey: m\nslots:\n  - percentage: 50\n    experiments: [a]\n  - percentage: 50\n    individuals:\n      - x\n      - y\n";
        let t = |l| target_at_line(body, l).map(|t| t.shown());
        assert_eq!(t(3).as_deref(), Some("key"));
        assert_eq!(t(4).as_deref(), Some("slots"));
        assert_eq!(t(5).as_deref(), Some("slots[0].percentage"));
        assert_eq!(t(6).as_deref(), Some("slots[0].experiments"));
        assert_eq!(t(9).as_deref(), Some("slots[1].individuals"));
        assert_eq!(t(11), None);
        assert_eq!(
            target_of_change("slots[2].holdouts").shown(),
            "slots[1].holdouts"
        );
        assert_eq!(target_of_change("name").shown(), "name");
    }

    fn live() -> Live {
        let holdout: LiveHoldout = serde_json::from_value(serde_json::json!({
            "id": 20, "key": "h", "name": "Holdout", "holdoutPercentage": 5,
            "experiments": [999], "individualInclusion": ["b", "a", "b"]
        }))
        .unwrap();
        Live {
            deployments: Some(Vec::new()),
            mutexes: Some(Default::default()),
            holdouts: Some([("h".to_string(), holdout)].into_iter().collect()),
            ..Default::default()
        }
    }

    #[test]
    fn ids_the_lists_do_not_show_leave_their_field_out_with_a_note() {
        let live = live();
        let mut notes = Vec::new();
        let h = &live.holdouts.as_ref().unwrap()["h"];
        let GroupSpec::Holdout(spec) = holdout_spec(h, &live, &mut notes) else {
            unreachable!()
        };
        assert_eq!(spec.experiments, None);
        assert_eq!(
            spec.individual_inclusion,
            Some(vec!["a".to_string(), "b".to_string()])
        );
        assert_eq!(
            notes,
            ["experiments is left out (unmanaged): experiment id 999 is not in the project's experiment list"]
        );

        let m: LiveMutex = serde_json::from_value(serde_json::json!({
            "id": 30, "key": "m",
            "slots": [{"index": 2, "percentage": 20, "holdouts": [21]},
                      {"index": 1, "percentage": 70, "holdouts": [20]},
                      {"index": 3, "percentage": 10, "holdouts": [22]}]
        }))
        .unwrap();
        let mut live = live;
        let gone: LiveHoldout = serde_json::from_value(serde_json::json!({
            "id": 22, "key": "gone", "deleted": true
        }))
        .unwrap();
        live.holdouts
            .as_mut()
            .unwrap()
            .insert("gone".to_string(), gone);
        let mut notes = Vec::new();
        let GroupSpec::Mutex(spec) = mutex_spec(&m, &live, &mut notes) else {
            unreachable!()
        };
        let slots = spec.slots.unwrap();
        assert_eq!(slots[0].percentage, 70, "slots by their live index");
        assert_eq!(slots[0].holdouts, Some(vec!["h".to_string()]));
        assert_eq!(slots[1].holdouts, None);
        assert_eq!(slots[2].holdouts, None);
        assert_eq!(
            notes,
            [
                "slots[1].holdouts is left out (unmanaged): holdout group id 21 is not in the project's holdout group list",
                "slots[2].holdouts is left out (unmanaged): holdout group `gone` (id 22) is archived, and a plan refuses a group that names an archived holdout group",
            ]
        );

        let odd: LiveMutex = serde_json::from_value(serde_json::json!({
            "id": 31, "key": "odd", "slots": [{"index": 1, "percentage": 60}]
        }))
        .unwrap();
        let mut notes = Vec::new();
        let GroupSpec::Mutex(spec) = mutex_spec(&odd, &live, &mut notes) else {
            unreachable!()
        };
        assert_eq!(spec.slots, None);
        assert!(notes[0].contains("add up to 60"), "{notes:?}");
    }

    #[test]
    fn a_field_that_does_not_read_back_is_left_out_and_a_bad_label_leaves_the_object_out() {
        let live = live();
        let project = super::super::project_document("7", None);
        let mut notes = Vec::new();
        let h = &live.holdouts.as_ref().unwrap()["h"];
        let mut spec = holdout_spec(h, &live, &mut notes);
        if let GroupSpec::Holdout(s) = &mut spec {
            // As if the written name did not read back as the live one.
            s.name = Some("Something else".into());
        }
        let body = settle(&mut spec, &project, &live, &mut notes, 6).unwrap();
        assert!(!body.contains("name:"), "{body}");
        assert!(body.contains("holdoutPercentage: 5\n"), "{body}");
        assert!(
            notes
                .iter()
                .any(|n| n.starts_with("name is left out (unmanaged)")),
            "{notes:?}"
        );

        let d: LiveDeployment = serde_json::from_value(
            serde_json::json!({"id": 1, "label": "web production", "type": "client", "key": "secret"}),
        )
        .unwrap();
        let mut notes = Vec::new();
        let mut spec = deployment_spec(&d, &mut notes);
        let why = settle(&mut spec, &project, &live, &mut notes, 6).unwrap_err();
        assert!(why.contains("invalid"), "{why}");
    }
}
