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

mod create;
mod fields;
mod normalise;
mod prune;
mod segments;
mod update;

use create::*;
use fields::*;
use normalise::*;
pub use normalise::{norm_exposure, norm_payload, norm_weights, num_i64};
use prune::*;
pub use segments::{segment_body, segment_weights};
use update::*;

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
    /// Fields the diff could not compare (no answer shows them), with what
    /// it did about each: `(field, note)`.
    pub unknown: Vec<(String, String)>,
    /// An archive that prune asks for.
    pub pruned: bool,
    /// Something goes that cannot be brought back by the manifests alone: a
    /// variant with what it held, a deployment, every target segment.
    pub destructive: bool,
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

fn set_value(v: &[String]) -> Value {
    Value::Array(sorted_set(v).into_iter().map(Value::String).collect())
}

fn push(changes: &mut Vec<Change>, path: &str, before: Option<Value>, after: Option<Value>) {
    changes.push(Change {
        path: path.to_string(),
        before,
        after,
        source: None,
    });
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

/// Diffs every flag and experiment of a manifest set, plus the archives that
/// `prune` asks for. Objects without changes are left out.
pub fn diff_all(set: &ManifestSet, live: &Live) -> Result<Vec<FlagDiff>, Vec<DiffError>> {
    let mut errors = Vec::new();
    let owner = set.project.spec.owner_tag.as_deref();
    let mut out: Vec<FlagDiff> = set
        .flags
        .iter()
        .map(|f| match owner {
            Some(o) => {
                let owned = with_owner_tag(f, o, live);
                let mut d = diff_flag(&owned, live, &mut errors);
                if owned.spec.tags.is_none() && f.spec.archived != Some(true) {
                    d.unknown.push((
                        "tags".into(),
                        format!("the API does not show a {}'s tags, so the owner tag `{o}` was not added: replacing tags nobody could read would drop them", f.spec.kind.noun()),
                    ));
                }
                d
            }
            None => diff_flag(f, live, &mut errors),
        })
        .filter(|d| !d.is_empty() || !d.unknown.is_empty())
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
