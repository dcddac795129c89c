//! Offline checks of deployments, mutual exclusion groups and holdout
//! groups, and of the references between manifests: a group lists
//! experiments (and a mutex slot holdout groups) by key, a flag names
//! deployments by label. A reference to a key that no manifest declares is
//! checked against the live project later, when the plan is made.

use std::collections::{HashMap, HashSet};

use super::{diag, Diagnostic, Located};
use crate::manifest::{
    DeploymentSpec, FlagSpec, HoldoutSpec, MutexSpec, ObjectKind, MAX_INCLUSIONS, MAX_SLOTS,
};

fn push<T>(
    o: &Located<T>,
    path: &str,
    message: String,
    hint: Option<&str>,
    errors: &mut Vec<Diagnostic>,
) {
    errors.push(diag(
        &o.file,
        o.doc.pos(path),
        &message,
        hint.map(str::to_string),
    ));
}

/// Letters, digits, `_` and `-` only (the API's rule for labels).
pub fn is_valid_label(label: &str) -> bool {
    !label.is_empty()
        && label
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

pub(super) fn validate_deployment(d: &Located<DeploymentSpec>, errors: &mut Vec<Diagnostic>) {
    if !is_valid_label(&d.spec.label) {
        push(
            d,
            "label",
            format!("deployment label `{}` is invalid", d.spec.label),
            Some("use letters, digits, `_` and `-` only"),
            errors,
        );
    }
    if let Some(from) = &d.spec.renamed_from {
        if from == &d.spec.label || !is_valid_label(from) {
            push(
                d,
                "renamedFrom",
                format!(
                    "`renamedFrom` is `{from}`: it must name the deployment's live label, another valid label than `{}`",
                    d.spec.label
                ),
                Some("use letters, digits, `_` and `-` only"),
                errors,
            );
        }
    }
}

fn check_key<T>(o: &Located<T>, key: &str, errors: &mut Vec<Diagnostic>) {
    if key.trim().is_empty() {
        push(o, "key", "`key` must not be empty".into(), None, errors);
    }
}

fn check_ids<T>(
    o: &Located<T>,
    path: &str,
    ids: Option<&Vec<String>>,
    errors: &mut Vec<Diagnostic>,
) {
    let Some(ids) = ids else { return };
    let mut seen = HashSet::new();
    for (i, id) in ids.iter().enumerate() {
        if id.trim().is_empty() {
            push(
                o,
                &format!("{path}[{i}]"),
                format!("`{path}[{i}]` is empty"),
                None,
                errors,
            );
        } else if !seen.insert(id.as_str()) {
            push(
                o,
                &format!("{path}[{i}]"),
                format!("`{path}` lists `{id}` twice"),
                None,
                errors,
            );
        }
    }
    if seen.len() > MAX_INCLUSIONS {
        push(
            o,
            path,
            format!(
                "`{path}` has {} ids; at most {MAX_INCLUSIONS} are kept",
                seen.len()
            ),
            Some("target a cohort instead"),
            errors,
        );
    }
}

pub(super) fn validate_mutex(g: &Located<MutexSpec>, errors: &mut Vec<Diagnostic>) {
    check_key(g, &g.spec.key, errors);
    let Some(slots) = &g.spec.slots else { return };
    if slots.is_empty() || slots.len() > MAX_SLOTS {
        push(
            g,
            "slots",
            format!(
                "mutex group `{}` has {} slots; it takes 1 to {MAX_SLOTS}",
                g.spec.key,
                slots.len()
            ),
            None,
            errors,
        );
    }
    let mut sum = 0;
    let mut all_in_range = true;
    for (i, slot) in slots.iter().enumerate() {
        let p = format!("slots[{i}]");
        if !(1..=100).contains(&slot.percentage) {
            all_in_range = false;
            push(
                g,
                &format!("{p}.percentage"),
                format!(
                    "`{p}.percentage` is {}; a slot takes 1 to 100 percent",
                    slot.percentage
                ),
                None,
                errors,
            );
        }
        sum += slot.percentage;
        check_ids(
            g,
            &format!("{p}.individuals"),
            slot.individuals.as_ref(),
            errors,
        );
        check_ids(
            g,
            &format!("{p}.experiments"),
            slot.experiments.as_ref(),
            errors,
        );
        check_ids(g, &format!("{p}.holdouts"), slot.holdouts.as_ref(), errors);
    }
    if all_in_range && !slots.is_empty() && sum != 100 {
        push(
            g,
            "slots",
            format!(
                "the slots of mutex group `{}` add up to {sum} percent, not 100",
                g.spec.key
            ),
            None,
            errors,
        );
    }
}

pub(super) fn validate_holdout(g: &Located<HoldoutSpec>, errors: &mut Vec<Diagnostic>) {
    check_key(g, &g.spec.key, errors);
    if let Some(p) = g.spec.holdout_percentage {
        if !(1..=99).contains(&p) {
            push(
                g,
                "holdoutPercentage",
                format!("`holdoutPercentage` is {p}; it must be between 1 and 99"),
                None,
                errors,
            );
        }
    }
    check_ids(g, "experiments", g.spec.experiments.as_ref(), errors);
    check_ids(
        g,
        "individualInclusion",
        g.spec.individual_inclusion.as_ref(),
        errors,
    );
    check_ids(
        g,
        "individualExclusion",
        g.spec.individual_exclusion.as_ref(),
        errors,
    );
}

/// What a manifest key is declared as, and where.
struct Declared<'a> {
    noun: &'static str,
    file: &'a std::path::Path,
    doc: &'a super::Doc,
    archived: bool,
}

impl Declared<'_> {
    /// `file:line` of the key, read only for an error message: a released
    /// document parses its text again to answer.
    fn at(&self) -> String {
        format!("{}:{}", self.file.display(), self.doc.pos("key").line)
    }
}

/// Checks every reference between manifests: a group's experiments must be
/// experiments, a mutex slot's holdouts holdout groups; an object that the
/// manifests archive cannot be listed by one that stays.
pub(super) fn check_references(
    flags: &[Located<FlagSpec>],
    deployments: &[Located<DeploymentSpec>],
    mutexes: &[Located<MutexSpec>],
    holdouts: &[Located<HoldoutSpec>],
    errors: &mut Vec<Diagnostic>,
) {
    let mut keys: HashMap<&str, Declared> = HashMap::new();
    for f in flags {
        keys.entry(&f.spec.key).or_insert(Declared {
            noun: f.spec.kind.noun(),
            file: &f.file,
            doc: &f.doc,
            archived: f.spec.archived == Some(true),
        });
    }
    for g in mutexes {
        keys.entry(&g.spec.key).or_insert(Declared {
            noun: "mutex group",
            file: &g.file,
            doc: &g.doc,
            archived: g.spec.archived == Some(true),
        });
    }
    for g in holdouts {
        keys.entry(&g.spec.key).or_insert(Declared {
            noun: "holdout group",
            file: &g.file,
            doc: &g.doc,
            archived: g.spec.archived == Some(true),
        });
    }
    let mut refs = |o_noun: &str,
                    o_key: &str,
                    o_archived: bool,
                    at: &dyn Fn() -> (std::path::PathBuf, super::Pos),
                    field: &str,
                    want: &str,
                    key: &str| {
        let Some(d) = keys.get(key) else { return };
        let (file, pos) = at();
        if d.noun != want {
            errors.push(diag(
                &file,
                pos,
                &format!(
                    "{o_noun} `{o_key}` lists `{key}` in `{field}`, but `{key}` is a {} (at {})",
                    d.noun,
                    d.at()
                ),
                Some(format!("`{field}` takes {want} keys")),
            ));
        } else if d.archived && !o_archived {
            errors.push(diag(
                &file,
                pos,
                &format!(
                    "{o_noun} `{o_key}` lists {want} `{key}` in `{field}`, which the manifests archive (at {})",
                    d.at()
                ),
                Some(format!(
                    "remove `{key}` from the group: it leaves the group before it is archived"
                )),
            ));
        }
    };
    for g in mutexes {
        let archived = g.spec.archived == Some(true);
        for (i, slot) in g.spec.slots.iter().flatten().enumerate() {
            for (list, field, want) in [
                (
                    &slot.experiments,
                    "experiments",
                    ObjectKind::Experiment.noun(),
                ),
                (&slot.holdouts, "holdouts", "holdout group"),
            ] {
                for (j, key) in list.iter().flatten().enumerate() {
                    let path = format!("slots[{i}].{field}[{j}]");
                    let at = || (g.file.clone(), g.doc.pos(&path));
                    let field = format!("slots[{i}].{field}");
                    refs("mutex group", &g.spec.key, archived, &at, &field, want, key);
                }
            }
        }
    }
    for g in holdouts {
        let archived = g.spec.archived == Some(true);
        for (j, key) in g.spec.experiments.iter().flatten().enumerate() {
            let path = format!("experiments[{j}]");
            let at = || (g.file.clone(), g.doc.pos(&path));
            refs(
                "holdout group",
                &g.spec.key,
                archived,
                &at,
                "experiments",
                ObjectKind::Experiment.noun(),
                key,
            );
        }
    }
    let archived_labels: HashMap<&str, &Located<DeploymentSpec>> = deployments
        .iter()
        .filter(|d| d.spec.archived == Some(true))
        .map(|d| (d.spec.label.as_str(), d))
        .collect();
    for f in flags {
        if f.spec.archived == Some(true) {
            continue;
        }
        for (i, label) in f.spec.deployments.iter().flatten().enumerate() {
            if let Some(d) = archived_labels.get(label.as_str()) {
                let at = d.at("label");
                push(
                    f,
                    &format!("deployments[{i}]"),
                    format!(
                        "{} `{}` names deployment `{label}`, which the manifests archive (at {at})",
                        f.spec.kind.noun(),
                        f.spec.key
                    ),
                    Some("remove the deployment from the flag, or keep the deployment"),
                    errors,
                );
            }
        }
    }
}
