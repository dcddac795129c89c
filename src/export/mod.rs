//! `ampx export`: the live project as manifests.
//!
//! Reading takes one list call per 1,000 flags, experiments, mutex groups
//! and holdout groups, one deployment list, then per exported flag or
//! experiment `GET …/variants` and per variant `GET …/variants/{key}/users`
//! and `GET …/variants/{key}/cohorts`, concurrently and bounded by the
//! client's parallelism. Deployments and groups need nothing beyond their
//! lists.
//!
//! Writing follows the diff's idea of equality, so that `ampx plan` on the
//! export shows no change: a field is written when it has a value, and left
//! out (unmanaged) when it is empty or unset (no description, no payload, no
//! inclusions or cohorts, no tags, no segments); deployments are written by
//! label, group members by key (see the `groups` module);
//! segments leave out what defaults to the flag's (weights, bucketing key);
//! read-only fields (ids, state, decision, authors, timestamps) and the
//! bucketing salt (changing it re-buckets users) are never written, nor is
//! any deployment SDK key (the live types never read it). A live value that
//! manifests cannot express (a cohort condition, a fractional percentage)
//! leaves its field out, with a note in the file and on stderr. Every
//! document is then read back with the manifest loader and diffed against
//! what was read: a field that would still show as a change is left out too.

mod groups;
pub mod yaml_out;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use serde_json::Value;

use crate::api::live::{Live, LiveDeployment, LiveFlag, LiveVariant};
use crate::api::Client;
use crate::diff::{norm_exposure, norm_payload, norm_weights, num_i64, DEFAULT_BUCKETING_KEY};
use crate::fetch::{read_details, read_lists, DetailOf, DetailRead, Lists};
use crate::manifest::{
    self, parse_instant, ConditionSpec, EvaluationMode, ExperimentType, ExposureEvent, FlagSpec,
    ObjectKind, Region, SegmentSpec, VariantSpec, OPS,
};
use yaml_out::Node;

/// The schema file written beside the manifests, for editors.
pub const SCHEMA_FILE: &str = "ampx.schema.json";

/// What export read from the API.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub project_id: String,
    /// Every listed object, with variants and inclusions filled in for the
    /// exported ones.
    pub live: Live,
    /// The objects to export, flags then experiments, each by key.
    pub selected: Vec<(ObjectKind, String)>,
    /// The deployments to export, one per label, in list order.
    pub deployments: Vec<LiveDeployment>,
    /// The mutual exclusion groups to export, by key.
    pub mutexes: Vec<String>,
    /// The holdout groups to export, by key.
    pub holdouts: Vec<String>,
    /// Variants of the exported objects, in live order.
    pub variants: BTreeMap<(ObjectKind, String), Vec<LiveVariant>>,
    /// Archived objects of every kind, left out.
    pub archived: usize,
    /// The keys given with `--key`, if any.
    pub keys: Vec<String>,
}

/// Every key and label `--key` can name, with whether that object is
/// archived (a key may name several objects).
fn named(live: &Live) -> Vec<(&str, bool)> {
    let objects = live
        .flags
        .values()
        .chain(live.experiments.values())
        .map(|f| (f.key.as_str(), f.is_archived()));
    let mutexes = live
        .mutexes
        .iter()
        .flat_map(|m| m.values())
        .map(|m| (m.key.as_str(), m.deleted || m.archived));
    let holdouts = live
        .holdouts
        .iter()
        .flat_map(|h| h.values())
        .map(|h| (h.key.as_str(), h.deleted || h.archived));
    let deployments = live
        .deployments
        .iter()
        .flatten()
        .map(|d| (d.label.as_str(), d.deleted));
    objects
        .chain(mutexes)
        .chain(holdouts)
        .chain(deployments)
        .collect()
}

fn unknown_keys_error(unknown: &[String], archived: &[String], live: &Live) -> anyhow::Error {
    let known: Vec<&str> = named(live)
        .into_iter()
        .filter(|(_, archived)| !archived)
        .map(|(k, _)| k)
        .collect();
    let mut lines = Vec::new();
    for k in unknown {
        let mut line = format!(
            "error: no flag, experiment or group of the project has key `{k}`, and no deployment has it as label"
        );
        if let Some(n) = manifest::nearest(k, &known) {
            line.push_str(&format!(" (did you mean `{n}`?)"));
        }
        lines.push(line);
    }
    for k in archived {
        lines.push(format!(
            "error: `{k}` is archived; export leaves archived objects out"
        ));
    }
    // main prefixes the first line with `error: `.
    let text = lines.join("\n");
    let text = text.strip_prefix("error: ").unwrap_or(&text);
    anyhow::anyhow!("{text}\nnothing was written")
}

/// The project id: `--project-id`, else the `projectId` the API shows on
/// the listed objects.
fn project_id(live: &Live, given: Option<&str>) -> anyhow::Result<String> {
    let listed = live
        .flags
        .values()
        .chain(live.experiments.values())
        .find_map(|f| f.project_id.clone())
        .or_else(|| {
            let groups = live
                .mutexes
                .iter()
                .flat_map(|m| m.values().map(|g| &g.project_id));
            let holdouts = live
                .holdouts
                .iter()
                .flat_map(|h| h.values().map(|g| &g.project_id));
            let deployments = live.deployments.iter().flatten().map(|d| &d.project_id);
            groups
                .chain(holdouts)
                .chain(deployments)
                .find_map(Clone::clone)
        });
    match (given, listed) {
        (Some(g), Some(l)) if g != l => anyhow::bail!(
            "--project-id is {g}, but the objects this API key reads belong to project {l}\n  hint: pass --project-id {l}, or use the Management API key of project {g}"
        ),
        (Some(g), _) => Ok(g.to_string()),
        (None, Some(l)) => Ok(l),
        (None, None) => anyhow::bail!(
            "cannot tell the project id: the API listed no flag, experiment, group or deployment that names its project\n  hint: pass --project-id ID (the id shown in the project's settings in Amplitude)"
        ),
    }
}

/// Reads what an export of `keys` (all objects when empty) needs. Unknown
/// or archived keys are an error before any per-object call.
///
/// `keys` name flags, experiments, mutex groups and holdout groups by key
/// and deployments by label: with keys, only the objects they name are
/// exported, deployments included.
pub async fn read(
    client: &Arc<Client>,
    keys: &[String],
    given_project_id: Option<&str>,
) -> anyhow::Result<Snapshot> {
    let mut live = read_lists(client, Lists::ALL).await?;
    let archived = named(&live).iter().filter(|(_, a)| *a).count();

    let wanted: BTreeSet<&str> = keys.iter().map(String::as_str).collect();
    let (mut unknown, mut archived_named) = (Vec::new(), Vec::new());
    let all = named(&live);
    for k in &wanted {
        let found: Vec<bool> = all
            .iter()
            .filter(|(n, _)| n == k)
            .map(|(_, a)| *a)
            .collect();
        if found.is_empty() {
            unknown.push(k.to_string());
        } else if found.iter().all(|a| *a) {
            archived_named.push(k.to_string());
        }
    }
    if !unknown.is_empty() || !archived_named.is_empty() {
        return Err(unknown_keys_error(&unknown, &archived_named, &live));
    }
    let chosen = |k: &str| wanted.is_empty() || wanted.contains(k);
    let mut selected = Vec::new();
    for kind in [ObjectKind::Flag, ObjectKind::Experiment] {
        for (key, f) in live.objects(kind) {
            if !f.is_archived() && chosen(key) {
                selected.push((kind, key.clone()));
            }
        }
    }
    // One deployment per label: the active one the plan matches first.
    let mut labels = HashSet::new();
    let selected_deployments: Vec<LiveDeployment> = live
        .deployments
        .iter()
        .flatten()
        .filter(|d| !d.deleted && chosen(&d.label) && labels.insert(d.label.clone()))
        .cloned()
        .collect();
    let selected_mutexes: Vec<String> = live
        .mutexes
        .iter()
        .flat_map(|m| m.values())
        .filter(|m| !(m.deleted || m.archived) && chosen(&m.key))
        .map(|m| m.key.clone())
        .collect();
    let selected_holdouts: Vec<String> = live
        .holdouts
        .iter()
        .flat_map(|h| h.values())
        .filter(|h| !(h.deleted || h.archived) && chosen(&h.key))
        .map(|h| h.key.clone())
        .collect();
    let project_id = project_id(&live, given_project_id)?;

    let mut reads = Vec::new();
    for (kind, key) in &selected {
        let lf = &live.objects(*kind)[key];
        let read = |what| DetailRead {
            kind: *kind,
            key: key.clone(),
            id: lf.id.clone(),
            what,
        };
        reads.push(read(DetailOf::Variants));
        for v in &lf.variants {
            reads.push(read(DetailOf::Users(v.key.clone())));
            reads.push(read(DetailOf::Cohorts(v.key.clone())));
        }
    }
    let variants = read_details(client, reads, &mut live).await?;
    Ok(Snapshot {
        project_id,
        live,
        selected,
        deployments: selected_deployments,
        mutexes: selected_mutexes,
        holdouts: selected_holdouts,
        variants,
        archived,
        keys: wanted.into_iter().map(str::to_string).collect(),
    })
}

/// One exported document.
#[derive(Debug, Clone)]
pub struct Document {
    /// `Project`, `Flag`, `Experiment`, `Deployment`, `MutexGroup` or
    /// `HoldoutGroup`.
    pub kind: &'static str,
    /// The object's key (a deployment's label, the project id for the
    /// Project).
    pub key: String,
    /// Path inside the export directory.
    pub path: PathBuf,
    /// Comment lines above the document (without the schema modeline).
    pub header: String,
    /// The YAML document itself.
    pub body: String,
}

/// A whole export, ready to write.
#[derive(Debug, Clone)]
pub struct Export {
    pub project_id: String,
    /// The Project first, then flags and experiments by key, deployments
    /// in list order, mutex groups and holdout groups by key.
    pub documents: Vec<Document>,
    /// What was left out and why, one line each, for stderr.
    pub warnings: Vec<String>,
    pub flags: usize,
    pub experiments: usize,
    pub deployments: usize,
    pub mutexes: usize,
    pub holdouts: usize,
    pub archived: usize,
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// A file name for a key: letters, digits, `_`, `-` and `.` kept, anything
/// else (and a leading `.`, which the loader would skip as hidden) as `_`.
fn file_stem(key: &str) -> String {
    let mut s: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_-.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() || s.starts_with('.') {
        s.insert(0, '_');
    }
    s
}

/// The header of an object's document: where it came from, then its notes.
fn object_header(project_id: &str, notes: &[String]) -> String {
    let mut header = format!(
        "Exported by ampx from project {project_id}. Fields left out are unmanaged: plan neither compares nor writes them."
    );
    for note in notes {
        header.push('\n');
        header.push_str(note);
    }
    header
}

/// A path `dir/<stem>.yaml` for `key` that no earlier document took (file
/// systems may ignore case).
fn unique_path(taken: &mut HashSet<String>, dir: &str, key: &str) -> PathBuf {
    let mut stem = file_stem(key);
    let mut n = 2;
    while !taken.insert(format!("{dir}/{}", stem.to_lowercase())) {
        stem = format!("{}-{n}", file_stem(key));
        n += 1;
    }
    PathBuf::from(dir).join(format!("{stem}.yaml"))
}

/// Builds the manifests for a snapshot. `region` is written into the
/// Project unless the API was reached through a server URL.
pub fn build(snap: &Snapshot, region: Option<Region>) -> Export {
    let mut warnings = Vec::new();
    let project_body = project_document(&snap.project_id, region);
    let mut documents = Vec::new();
    let mut taken: HashSet<String> = HashSet::new();
    let (mut flags, mut experiments) = (0, 0);
    for (kind, key) in &snap.selected {
        let lf = &snap.live.objects(*kind)[key];
        let variants = snap
            .variants
            .get(&(*kind, key.clone()))
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let mut notes = Vec::new();
        let mut spec = spec_of(*kind, lf, variants, &snap.live, &mut notes);
        let body = settle(&mut spec, variants, &project_body, &snap.live, &mut notes);
        let noun = kind.noun();
        for note in &notes {
            warnings.push(format!("{noun} `{key}`: {note}"));
        }
        match kind {
            ObjectKind::Flag => flags += 1,
            ObjectKind::Experiment => experiments += 1,
        }
        documents.push(Document {
            kind: match kind {
                ObjectKind::Flag => "Flag",
                ObjectKind::Experiment => "Experiment",
            },
            key: key.clone(),
            path: unique_path(&mut taken, kind.collection(), key),
            header: object_header(&snap.project_id, &notes),
            body,
        });
    }

    let (mut deployments, mut mutexes, mut holdouts) = (0, 0, 0);
    let live = &snap.live;
    let mut others: Vec<(&str, &str, &String, groups::GroupSpec, Vec<String>)> = Vec::new();
    for d in &snap.deployments {
        let mut notes = Vec::new();
        let shared = live
            .deployments
            .iter()
            .flatten()
            .filter(|x| !x.deleted && x.label == d.label)
            .count();
        if shared > 1 {
            notes.push(format!(
                "{shared} active deployments share this label; plan matches the first one the list shows (id {})",
                d.id
            ));
        }
        let spec = groups::deployment_spec(d, &mut notes);
        others.push(("deployment", "deployments", &d.label, spec, notes));
    }
    for key in &snap.mutexes {
        let Some(m) = live.mutexes.as_ref().and_then(|ms| ms.get(key)) else {
            continue;
        };
        let mut notes = Vec::new();
        let spec = groups::mutex_spec(m, live, &mut notes);
        others.push(("mutex group", "mutexes", key, spec, notes));
    }
    for key in &snap.holdouts {
        let Some(h) = live.holdouts.as_ref().and_then(|hs| hs.get(key)) else {
            continue;
        };
        let mut notes = Vec::new();
        let spec = groups::holdout_spec(h, live, &mut notes);
        others.push(("holdout group", "holdouts", key, spec, notes));
    }
    for (noun, dir, key, mut spec, mut notes) in others {
        let body = match groups::settle(&mut spec, &project_body, live, &mut notes) {
            Ok(body) => body,
            Err(why) => {
                warnings.push(format!(
                    "{noun} `{key}` is left out: its document does not read back: {why}"
                ));
                continue;
            }
        };
        for note in &notes {
            warnings.push(format!("{noun} `{key}`: {note}"));
        }
        match dir {
            "deployments" => deployments += 1,
            "mutexes" => mutexes += 1,
            _ => holdouts += 1,
        }
        documents.push(Document {
            kind: spec.kind(),
            key: key.clone(),
            path: unique_path(&mut taken, dir, key),
            header: object_header(&snap.project_id, &notes),
            body,
        });
    }

    let mut header = format!(
        "Exported by ampx from project {}: {}, {}, {}, {}, {}.",
        snap.project_id,
        plural(flags, "flag", "flags"),
        plural(experiments, "experiment", "experiments"),
        plural(deployments, "deployment", "deployments"),
        plural(mutexes, "mutex group", "mutex groups"),
        plural(holdouts, "holdout group", "holdout groups"),
    );
    if !snap.keys.is_empty() {
        header.push_str(&format!(
            "\nOnly the keys (and deployment labels) given with --key: {}.",
            snap.keys.join(", ")
        ));
    }
    header.push_str(&format!(
        "\nArchived flags, experiments, deployments and groups are left out: {} skipped.",
        snap.archived
    ));
    header.push_str("\nCheck it with `ampx plan <this directory> --detailed-exitcode` (exit 0: the live project matches).");
    documents.insert(
        0,
        Document {
            kind: "Project",
            key: snap.project_id.clone(),
            path: PathBuf::from("project.yaml"),
            header,
            body: project_body,
        },
    );
    Export {
        project_id: snap.project_id.clone(),
        documents,
        warnings,
        flags,
        experiments,
        deployments,
        mutexes,
        holdouts,
        archived: snap.archived,
    }
}

fn project_document(id: &str, region: Option<Region>) -> String {
    let mut entries = vec![
        ("apiVersion".to_string(), Node::str("ampx/v1")),
        ("kind".to_string(), Node::str("Project")),
        ("id".to_string(), Node::str(id)),
    ];
    if let Some(r) = region {
        let r = match r {
            Region::Us => "us",
            Region::Eu => "eu",
        };
        entries.push(("region".into(), Node::str(r)));
    }
    yaml_out::document(&entries)
}

/// Writes the spec, reads it back and diffs it against the live object;
/// fields that would still show a change (or that did not read back as
/// written) are left out and noted. Returns the final document.
fn settle(
    spec: &mut FlagSpec,
    variants: &[LiveVariant],
    project_body: &str,
    live: &Live,
    notes: &mut Vec<String>,
) -> String {
    for _ in 0..4 {
        let body = yaml_out::document(&flag_entries(spec, variants));
        let text = format!("{project_body}---\n{body}");
        let set = match manifest::load_sources(&[(PathBuf::from("export.yaml"), text)]) {
            Ok(set) => set,
            Err(diags) => {
                let why = diags
                    .0
                    .first()
                    .map(|d| d.message.clone())
                    .unwrap_or_default();
                // Payloads are the only free-form structure (one nested
                // deeper than the reader allows, say): leave them out.
                let mut dropped = Vec::new();
                for v in spec.variants.iter_mut().flatten() {
                    if v.payload.take().is_some() {
                        dropped.push(format!("variants.{}.payload", v.key));
                    }
                }
                if dropped.is_empty() {
                    notes.push(format!(
                        "the exported document does not read back (please report this): {why}"
                    ));
                    return body;
                }
                notes.push(format!(
                    "{} left out (unmanaged): the document did not read back: {why}",
                    dropped
                        .iter()
                        .map(|p| format!("`{p}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
                continue;
            }
        };
        let Some(read_back) = set.flags.first() else {
            return body;
        };
        let mut errors = Vec::new();
        let d = crate::diff::diff_flag(read_back, live, &mut errors);
        let mut paths: Vec<String> = d.changes.iter().map(|c| c.path.clone()).collect();
        if read_back.spec != *spec {
            paths.extend(differing_fields(&read_back.spec, spec));
        }
        if errors.is_empty() && paths.is_empty() {
            return body;
        }
        paths.sort();
        paths.dedup();
        let mut dropped = false;
        for p in &paths {
            if unmanage(spec, p) {
                notes.push(format!(
                    "`{p}` is left out (unmanaged): its live value does not read back unchanged"
                ));
                dropped = true;
            }
        }
        for e in errors {
            notes.push(format!("{} (please report this)", e.message));
        }
        if !dropped {
            notes.push(format!(
                "plan may still show a change to {} (please report this)",
                paths.join(", ")
            ));
            return body;
        }
    }
    yaml_out::document(&flag_entries(spec, variants))
}

/// Top-level fields whose values differ between two specs.
fn differing_fields(a: &FlagSpec, b: &FlagSpec) -> Vec<String> {
    let (Ok(Value::Object(a)), Ok(Value::Object(b))) =
        (serde_json::to_value(a), serde_json::to_value(b))
    else {
        return Vec::new();
    };
    a.iter()
        .filter(|(k, v)| b.get(*k) != Some(*v))
        .map(|(k, _)| k.clone())
        .collect()
}

/// Leaves out the field a diff path points at; false when nothing was left.
fn unmanage(spec: &mut FlagSpec, path: &str) -> bool {
    let mut parts = path.splitn(2, '.');
    let field = parts.next().unwrap_or("");
    if field == "variants" {
        if let Some(rest) = parts.next() {
            for (sub, clear) in [
                (".name", 0),
                (".description", 1),
                (".payload", 2),
                (".inclusions", 3),
                (".cohorts", 4),
            ] {
                if let Some(vkey) = rest.strip_suffix(sub) {
                    if let Some(v) = spec.variants.iter_mut().flatten().find(|v| v.key == vkey) {
                        let was = match clear {
                            0 => v.name.take().is_some(),
                            1 => v.description.take().is_some(),
                            2 => v.payload.take().is_some(),
                            3 => v.inclusions.take().is_some(),
                            _ => v.cohorts.take().is_some(),
                        };
                        if was {
                            return true;
                        }
                    }
                }
            }
        }
        // The variant set itself differs: leave variants and what names them out.
        let was = spec.variants.take().is_some();
        return was;
    }
    match field {
        "name" => spec.name.take().is_some(),
        "description" => spec.description.take().is_some(),
        "enabled" => spec.enabled.take().is_some(),
        "evaluationMode" => spec.evaluation_mode.take().is_some(),
        "bucketingKey" => spec.bucketing_key.take().is_some(),
        "bucketingUnit" => spec.bucketing_unit.take().is_some(),
        "bucketingSalt" => spec.bucketing_salt.take().is_some(),
        "tags" => spec.tags.take().is_some(),
        "deployments" => spec.deployments.take().is_some(),
        "rolloutPercentage" => spec.rollout_percentage.take().is_some(),
        "rolloutWeights" => spec.rollout_weights.take().is_some(),
        "targetSegments" => spec.target_segments.take().is_some(),
        "experimentType" => spec.experiment_type.take().is_some(),
        "stickyBucketing" => spec.sticky_bucketing.take().is_some(),
        "startDate" => spec.start_date.take().is_some(),
        "endDate" => spec.end_date.take().is_some(),
        "exposureEvent" => spec.exposure_event.take().is_some(),
        _ => false,
    }
}

pub(super) fn non_empty(s: &Option<String>) -> Option<String> {
    s.clone().filter(|x| !x.is_empty())
}

pub(super) fn sorted_unique(v: &[String]) -> Vec<String> {
    let set: BTreeSet<&String> = v.iter().collect();
    set.into_iter().cloned().collect()
}

/// A date as a manifest writes it: `null`, an RFC 3339 date-time, or a
/// bare date as midnight UTC (the same instant). `None`: not a date.
fn manifest_date(d: &Option<String>) -> Option<Option<String>> {
    match d.as_deref().map(str::trim) {
        None | Some("") => Some(None),
        Some(t) if parse_instant(t).is_some() && t.len() > 10 => Some(Some(t.to_string())),
        Some(t) if parse_instant(t).is_some() => Some(Some(format!("{t}T00:00:00Z"))),
        Some(_) => None,
    }
}

/// The manifest for a live flag or experiment; what it cannot hold is
/// left out with a note.
fn spec_of(
    kind: ObjectKind,
    lf: &LiveFlag,
    variants: &[LiveVariant],
    live: &Live,
    notes: &mut Vec<String>,
) -> FlagSpec {
    let bk = lf
        .bucketing_key
        .clone()
        .unwrap_or_else(|| DEFAULT_BUCKETING_KEY.to_string());
    let mut spec = FlagSpec {
        kind,
        key: lf.key.clone(),
        name: non_empty(&lf.name),
        description: non_empty(&lf.description),
        enabled: Some(lf.enabled),
        evaluation_mode: match lf.evaluation_mode.as_deref().unwrap_or("remote") {
            "local" => Some(EvaluationMode::Local),
            "remote" => Some(EvaluationMode::Remote),
            other => {
                notes.push(format!(
                    "evaluationMode is left out (unmanaged): the live value `{other}` is neither local nor remote"
                ));
                None
            }
        },
        bucketing_key: Some(bk.clone()),
        bucketing_unit: Some(
            lf.bucketing_unit
                .clone()
                .unwrap_or_else(|| "User".to_string()),
        ),
        bucketing_salt: None,
        tags: Some(sorted_unique(&lf.tags)).filter(|t| !t.is_empty()),
        deployments: None,
        variants: None,
        rollout_percentage: None,
        rollout_weights: None,
        target_segments: None,
        archived: None,
        experiment_type: None,
        sticky_bucketing: None,
        start_date: None,
        end_date: None,
        exposure_event: None,
    };

    if !lf.deployments.is_empty() {
        let mut labels = Vec::new();
        let mut unknown = Vec::new();
        for id in &lf.deployments {
            let d = live.deployments.iter().flatten().find(|d| &d.id == id);
            match d {
                Some(d) if !d.label.is_empty() && live.deployment_id(&d.label) == Some(id) => {
                    labels.push(d.label.clone())
                }
                _ => unknown.push(id.clone()),
            }
        }
        if unknown.is_empty() {
            spec.deployments = Some(sorted_unique(&labels));
        } else {
            notes.push(format!(
                "deployments is left out (unmanaged): deployment id {} has no label of its own in the project's deployment list",
                unknown.join(", ")
            ));
        }
    }

    let keys: HashSet<&str> = variants.iter().map(|v| v.key.as_str()).collect();
    if !variants.is_empty() {
        spec.variants = Some(
            variants
                .iter()
                .map(|v| VariantSpec {
                    key: v.key.clone(),
                    name: non_empty(&v.name),
                    description: non_empty(&v.description),
                    payload: norm_payload(v.payload.as_ref()),
                    inclusions: lf
                        .inclusions
                        .get(&v.key)
                        .map(|i| sorted_unique(i))
                        .filter(|i| !i.is_empty()),
                    cohorts: lf
                        .cohorts
                        .get(&v.key)
                        .map(|c| sorted_unique(c))
                        .filter(|c| !c.is_empty()),
                    renamed_from: None,
                })
                .collect(),
        );
    }

    match lf.rollout_percentage {
        None => spec.rollout_percentage = Some(0),
        Some(p) if p.fract() == 0.0 && (0.0..=100.0).contains(&p) => {
            spec.rollout_percentage = Some(p as i64)
        }
        Some(p) => notes.push(format!(
            "rolloutPercentage is left out (unmanaged): the live value {p} is not a whole number from 0 to 100"
        )),
    }

    if !lf.rollout_weights.is_empty() {
        let stray: Vec<&String> = lf
            .rollout_weights
            .iter()
            .filter(|(k, w)| (!keys.contains(k.as_str()) && **w != 0) || **w < 0)
            .map(|(k, _)| k)
            .collect();
        if stray.is_empty() {
            spec.rollout_weights = Some(
                lf.rollout_weights
                    .iter()
                    .filter(|(k, _)| keys.contains(k.as_str()))
                    .map(|(k, w)| (k.clone(), *w))
                    .collect(),
            );
        } else {
            notes.push(format!(
                "rolloutWeights is left out (unmanaged): the live weights of {} name no variant or are negative",
                stray
                    .iter()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }

    if !lf.target_segments.is_empty() {
        let flag_weights = spec
            .rollout_weights
            .clone()
            .unwrap_or_else(|| lf.rollout_weights.clone());
        let segments: Result<Vec<SegmentSpec>, String> = lf
            .target_segments
            .iter()
            .map(|s| segment_of(s, &bk, &flag_weights, &keys))
            .collect();
        match segments {
            Ok(s) => spec.target_segments = Some(s),
            Err(why) => notes.push(format!(
                "targetSegments is left out (unmanaged): {why}, which manifests cannot express"
            )),
        }
    }

    if kind == ObjectKind::Experiment {
        match lf.experiment_type.as_deref().unwrap_or("a-b-test") {
            "a-b-test" => spec.experiment_type = Some(ExperimentType::ABTest),
            "multi-arm-bandit" => spec.experiment_type = Some(ExperimentType::MultiArmBandit),
            other => notes.push(format!(
                "experimentType is left out (unmanaged): the live value `{other}` is not a-b-test or multi-arm-bandit"
            )),
        }
        spec.sticky_bucketing = Some(lf.sticky_bucketing.unwrap_or(false));
        for (field, live_value, slot) in [
            ("startDate", &lf.start_date, &mut spec.start_date),
            ("endDate", &lf.end_date, &mut spec.end_date),
        ] {
            match manifest_date(live_value) {
                Some(d) => *slot = Some(d),
                None => notes.push(format!(
                    "{field} is left out (unmanaged): the live value `{}` is not a date",
                    live_value.as_deref().unwrap_or("")
                )),
            }
        }
        match &lf.exposure_event {
            None | Some(Value::Null) => {}
            Some(v) => {
                let parsed = serde_json::from_value::<ExposureEvent>(v.clone())
                    .ok()
                    .filter(|e| {
                        serde_json::to_value(e)
                            .map(|x| norm_exposure(&x) == norm_exposure(v))
                            .unwrap_or(false)
                    });
                match parsed {
                    Some(e) => spec.exposure_event = Some(e),
                    None => notes.push(
                        "exposureEvent is left out (unmanaged): its live shape has fields or values that manifests cannot express".to_string(),
                    ),
                }
            }
        }
    }
    spec
}

/// A live segment as a manifest writes it, or why it cannot be.
fn segment_of(
    seg: &Value,
    bucketing_key: &str,
    flag_weights: &BTreeMap<String, i64>,
    variants: &HashSet<&str>,
) -> Result<SegmentSpec, String> {
    let name = match seg.get("name") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => return Err(format!("a segment has the name {other}")),
    };
    let shown = format!("segment `{name}`");
    let mut conditions = Vec::new();
    match seg.get("conditions") {
        None | Some(Value::Null) => {}
        Some(Value::Array(cs)) => {
            for c in cs {
                let text = |f: &str| c.get(f).and_then(Value::as_str).unwrap_or("").to_string();
                let kind = text("type");
                if !kind.is_empty() && kind != "property" {
                    return Err(format!("{shown} has a `{kind}` condition"));
                }
                let op = text("op");
                if !OPS.contains(&op.as_str()) {
                    return Err(format!("{shown} has a condition with the operator `{op}`"));
                }
                let mut values = Vec::new();
                match c.get("values") {
                    None | Some(Value::Null) => {}
                    Some(Value::Array(vs)) => {
                        for v in vs {
                            match v {
                                Value::String(s) => values.push(s.clone()),
                                Value::Number(n) => values.push(n.to_string()),
                                Value::Bool(b) => values.push(b.to_string()),
                                other => {
                                    return Err(format!("{shown} has a condition value {other}"))
                                }
                            }
                        }
                    }
                    Some(other) => return Err(format!("{shown} has condition values {other}")),
                }
                conditions.push(ConditionSpec {
                    prop: text("prop"),
                    op,
                    values,
                    kind: None,
                });
            }
        }
        Some(other) => return Err(format!("{shown} has conditions {other}")),
    }
    let percentage = seg.get("percentage").and_then(num_i64).unwrap_or(0);
    if !(0..=100).contains(&percentage) {
        return Err(format!("{shown} has the percentage {percentage}"));
    }
    let weights = crate::diff::segment_weights(seg);
    if let Some((k, _)) = weights
        .iter()
        .find(|(k, w)| **w < 0 || (**w != 0 && !variants.contains(k.as_str())))
    {
        return Err(format!("{shown} weighs `{k}`, which is not a variant"));
    }
    let rollout_weights = if norm_weights(&weights) == norm_weights(flag_weights) {
        None
    } else {
        Some(
            weights
                .into_iter()
                .filter(|(k, _)| variants.contains(k.as_str()))
                .collect(),
        )
    };
    let bk = seg
        .get("bucketingKey")
        .and_then(Value::as_str)
        .filter(|b| !b.is_empty() && *b != bucketing_key)
        .map(str::to_string);
    Ok(SegmentSpec {
        name,
        conditions,
        percentage: Some(percentage),
        rollout_weights,
        bucketing_key: bk,
    })
}

/// Weights in variant order, then any others by key.
fn weights_node(w: &BTreeMap<String, i64>, variants: &[LiveVariant]) -> Node {
    let mut entries: Vec<(String, Node)> = variants
        .iter()
        .filter_map(|v| w.get(&v.key).map(|x| (v.key.clone(), Node::int(*x))))
        .collect();
    for (k, x) in w {
        if !variants.iter().any(|v| &v.key == k) {
            entries.push((k.clone(), Node::int(*x)));
        }
    }
    Node::Map(entries)
}

fn date_node(d: &Option<String>) -> Node {
    match d {
        Some(s) => Node::str(s),
        None => Node::Null,
    }
}

/// A flag or experiment document, keys in the manifest order of SPEC §1.
fn flag_entries(s: &FlagSpec, variants: &[LiveVariant]) -> Vec<(String, Node)> {
    let mut e: Vec<(String, Node)> = Vec::new();
    let mut put = |k: &str, v: Node| e.push((k.to_string(), v));
    put("apiVersion", Node::str("ampx/v1"));
    put(
        "kind",
        Node::str(match s.kind {
            ObjectKind::Flag => "Flag",
            ObjectKind::Experiment => "Experiment",
        }),
    );
    put("key", Node::str(&s.key));
    if let Some(x) = &s.name {
        put("name", Node::str(x));
    }
    if let Some(x) = &s.description {
        put("description", Node::str(x));
    }
    if let Some(x) = s.enabled {
        put("enabled", Node::Bool(x));
    }
    if let Some(x) = s.evaluation_mode {
        put("evaluationMode", Node::str(x.as_str()));
    }
    if let Some(x) = &s.bucketing_key {
        put("bucketingKey", Node::str(x));
    }
    if let Some(x) = &s.bucketing_unit {
        put("bucketingUnit", Node::str(x));
    }
    if let Some(x) = &s.bucketing_salt {
        put("bucketingSalt", Node::str(x));
    }
    if let Some(x) = &s.tags {
        put("tags", Node::strs(x));
    }
    if let Some(x) = &s.deployments {
        put("deployments", Node::strs(x));
    }
    if let Some(vs) = &s.variants {
        let items = vs
            .iter()
            .map(|v| {
                let mut m = vec![("key".to_string(), Node::str(&v.key))];
                if let Some(x) = &v.name {
                    m.push(("name".into(), Node::str(x)));
                }
                if let Some(x) = &v.description {
                    m.push(("description".into(), Node::str(x)));
                }
                if let Some(x) = &v.payload {
                    m.push(("payload".into(), Node::from(x)));
                }
                if let Some(x) = &v.inclusions {
                    m.push(("inclusions".into(), Node::strs(x)));
                }
                if let Some(x) = &v.cohorts {
                    m.push(("cohorts".into(), Node::strs(x)));
                }
                Node::Map(m)
            })
            .collect();
        put("variants", Node::Seq(items));
    }
    if let Some(x) = s.rollout_percentage {
        put("rolloutPercentage", Node::int(x));
    }
    if let Some(w) = &s.rollout_weights {
        put("rolloutWeights", weights_node(w, variants));
    }
    if let Some(segs) = &s.target_segments {
        let items = segs
            .iter()
            .map(|sg| {
                let conditions = sg
                    .conditions
                    .iter()
                    .map(|c| {
                        let mut m = vec![
                            ("prop".to_string(), Node::str(&c.prop)),
                            ("op".to_string(), Node::str(&c.op)),
                            ("values".to_string(), Node::strs(&c.values)),
                        ];
                        if let Some(t) = &c.kind {
                            m.push(("type".into(), Node::str(t)));
                        }
                        Node::Map(m)
                    })
                    .collect();
                let mut m = vec![
                    ("name".to_string(), Node::str(&sg.name)),
                    ("conditions".to_string(), Node::Seq(conditions)),
                ];
                if let Some(p) = sg.percentage {
                    m.push(("percentage".into(), Node::int(p)));
                }
                if let Some(w) = &sg.rollout_weights {
                    m.push(("rolloutWeights".into(), weights_node(w, variants)));
                }
                if let Some(b) = &sg.bucketing_key {
                    m.push(("bucketingKey".into(), Node::str(b)));
                }
                Node::Map(m)
            })
            .collect();
        put("targetSegments", Node::Seq(items));
    }
    if let Some(x) = s.archived {
        put("archived", Node::Bool(x));
    }
    if let Some(x) = s.experiment_type {
        put("experimentType", Node::str(x.as_str()));
    }
    if let Some(x) = s.sticky_bucketing {
        put("stickyBucketing", Node::Bool(x));
    }
    if let Some(x) = &s.start_date {
        put("startDate", date_node(x));
    }
    if let Some(x) = &s.end_date {
        put("endDate", date_node(x));
    }
    if let Some(x) = &s.exposure_event {
        let mut m = vec![("event_type".to_string(), Node::str(&x.event_type))];
        if !x.filters.is_empty() {
            let filters = x
                .filters
                .iter()
                .map(|f| {
                    let mut fm = vec![
                        ("subprop_type".to_string(), Node::str(&f.subprop_type)),
                        ("subprop_key".to_string(), Node::str(&f.subprop_key)),
                        ("subprop_op".to_string(), Node::str(&f.subprop_op)),
                        ("subprop_value".to_string(), Node::strs(&f.subprop_value)),
                    ];
                    if let Some(g) = &f.group_type {
                        fm.push(("group_type".into(), Node::str(g)));
                    }
                    Node::Map(fm)
                })
                .collect();
            m.push(("filters".into(), Node::Seq(filters)));
        }
        put("exposureEvent", Node::Map(m));
    }
    e
}

/// The schema modeline for a file at `path` inside the export directory.
fn modeline(path: &Path) -> String {
    let depth = path.components().count().saturating_sub(1);
    format!(
        "# yaml-language-server: $schema={}{SCHEMA_FILE}\n",
        "../".repeat(depth)
    )
}

impl Export {
    /// A document as a file: header comment, schema modeline, body.
    pub fn file_text(&self, doc: &Document) -> String {
        format!(
            "{}{}{}",
            yaml_out::comment(&doc.header),
            modeline(&doc.path),
            doc.body
        )
    }

    /// Every document in one stream, separated by `---` (for stdout).
    pub fn stream(&self) -> String {
        let mut out = String::new();
        for (i, doc) in self.documents.iter().enumerate() {
            if i == 0 {
                out.push_str(&yaml_out::comment(&format!(
                    "{}\nFor editor checks, save the schema beside this file: ampx schema > {SCHEMA_FILE}",
                    doc.header
                )));
                out.push_str(&modeline(Path::new(SCHEMA_FILE)));
            } else {
                out.push_str("---\n");
                out.push_str(&yaml_out::comment(&doc.header));
            }
            out.push_str(&doc.body);
        }
        out
    }

    /// Writes every document under `dir`, plus the schema. Returns the
    /// manifests found under `dir` that this export did not write (with
    /// `force`, older files stay; plan would read them too).
    pub fn write_to(&self, dir: &Path, force: bool) -> anyhow::Result<Vec<PathBuf>> {
        check_out_dir(dir, force)?;
        let mut files: Vec<(PathBuf, String)> = self
            .documents
            .iter()
            .map(|d| (dir.join(&d.path), self.file_text(d)))
            .collect();
        files.push((dir.join(SCHEMA_FILE), crate::schema::schema_json()));
        for (path, text) in &files {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("creating directory {}", parent.display()))?;
            }
            let mut temp = path.as_os_str().to_owned();
            temp.push(".tmp");
            let temp = PathBuf::from(temp);
            std::fs::write(&temp, text).with_context(|| format!("writing {}", temp.display()))?;
            std::fs::rename(&temp, path).with_context(|| format!("writing {}", path.display()))?;
        }
        let written: HashSet<&PathBuf> = files.iter().map(|(p, _)| p).collect();
        let mut others = Vec::new();
        if let Ok(found) = manifest::find_files(&[dir.to_path_buf()]) {
            others = found.into_iter().filter(|f| !written.contains(f)).collect();
        }
        Ok(others)
    }
}

/// Refuses an output directory that exists and holds anything but hidden
/// entries (`.git`), unless `force`.
pub fn check_out_dir(dir: &Path, force: bool) -> anyhow::Result<()> {
    if !dir.exists() {
        return Ok(());
    }
    if !dir.is_dir() {
        anyhow::bail!("{} exists and is not a directory", dir.display());
    }
    if force {
        return Ok(());
    }
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("reading directory {}", dir.display()))?;
    let mut shown: Vec<String> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    if shown.is_empty() {
        return Ok(());
    }
    shown.sort();
    let more = shown.len().saturating_sub(5);
    shown.truncate(5);
    anyhow::bail!(
        "{} is not empty ({}{}): export writes only into a new or empty directory, so that no file is overwritten by accident\n  hint: choose a new directory, or pass --force to replace the files export writes (project.yaml, flags/<key>.yaml, experiments/<key>.yaml, deployments/<label>.yaml, mutexes/<key>.yaml, holdouts/<key>.yaml, {SCHEMA_FILE}) and keep the rest",
        dir.display(),
        shown.join(", "),
        if more > 0 { format!(" and {more} more") } else { String::new() }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_stay_inside_their_directory_and_visible() {
        assert_eq!(file_stem("checkout-redesign"), "checkout-redesign");
        assert_eq!(file_stem("../etc/passwd"), "_.._etc_passwd");
        assert_eq!(file_stem(".hidden"), "_.hidden");
        assert_eq!(file_stem(""), "_");
        assert_eq!(file_stem("a b/c"), "a_b_c");
    }

    #[test]
    fn modelines_point_at_the_schema_beside_the_project() {
        assert_eq!(
            modeline(Path::new("project.yaml")),
            "# yaml-language-server: $schema=ampx.schema.json\n"
        );
        assert_eq!(
            modeline(Path::new("flags/x.yaml")),
            "# yaml-language-server: $schema=../ampx.schema.json\n"
        );
    }

    fn snapshot(flag: Value, variants: Value) -> Snapshot {
        let lf: LiveFlag = serde_json::from_value(flag).unwrap();
        let vs: Vec<LiveVariant> = serde_json::from_value(variants).unwrap();
        let kind = if lf.experiment_type.is_some() {
            ObjectKind::Experiment
        } else {
            ObjectKind::Flag
        };
        let key = lf.key.clone();
        let mut live = Live {
            deployments: Some(Vec::new()),
            ..Default::default()
        };
        let mut lf = lf;
        lf.variant_details = Some(vs.iter().map(|v| (v.key.clone(), v.clone())).collect());
        live.objects_mut(kind).insert(key.clone(), lf);
        Snapshot {
            project_id: "7".into(),
            live,
            selected: vec![(kind, key.clone())],
            deployments: Vec::new(),
            mutexes: Vec::new(),
            holdouts: Vec::new(),
            variants: [((kind, key), vs)].into_iter().collect(),
            archived: 0,
            keys: Vec::new(),
        }
    }

    #[test]
    fn what_manifests_cannot_hold_is_left_out_with_a_note() {
        let snap = snapshot(
            serde_json::json!({
                "id": 1, "key": "odd", "enabled": true, "rolloutPercentage": 12.5,
                "variants": [{"key": "on"}], "rolloutWeights": {"on": 1},
                "experimentType": "a-b-test", "startDate": "next week",
                "exposureEvent": {"event_type": "x", "extra": 1},
                "targetSegments": [{"name": "cohort users", "percentage": 100,
                    "conditions": [{"type": "cohort", "op": "is", "prop": "userdata_cohort", "values": ["abc"]}]}]
            }),
            serde_json::json!([{"key": "on", "name": "On"}]),
        );
        let ex = build(&snap, Some(Region::Eu));
        let doc = &ex.documents[1];
        let text = ex.file_text(doc);
        for (field, why) in [
            (
                "targetSegments",
                "segment `cohort users` has a `cohort` condition",
            ),
            ("rolloutPercentage", "12.5"),
            ("startDate", "`next week` is not a date"),
            ("exposureEvent", "cannot express"),
        ] {
            assert!(
                text.contains(&format!("# {field} is left out (unmanaged)")) && text.contains(why),
                "{field}:\n{text}"
            );
            assert!(!doc.body.contains(&format!("{field}:")), "{field}:\n{text}");
            assert!(
                ex.warnings
                    .iter()
                    .any(|w| w.starts_with("experiment `odd`: ") && w.contains(field)),
                "{:?}",
                ex.warnings
            );
        }
        assert!(doc.body.contains("endDate: null\n"), "{text}");
        assert!(ex.documents[0].body.contains("region: eu\n"));
        // What is written still loads.
        let stream = ex.stream();
        manifest::load_sources(&[(PathBuf::from("x.yaml"), stream)]).unwrap();
    }

    #[test]
    fn a_payload_too_deep_to_read_back_is_left_out() {
        let mut deep = serde_json::json!("bottom");
        for _ in 0..80 {
            deep = serde_json::json!([deep]);
        }
        let snap = snapshot(
            serde_json::json!({"id": 1, "key": "deep", "variants": [{"key": "on"}, {"key": "off"}]}),
            serde_json::json!([{"key": "on", "payload": deep}, {"key": "off", "name": "Off"}]),
        );
        let ex = build(&snap, None);
        let text = ex.file_text(&ex.documents[1]);
        assert!(
            text.contains("# `variants.on.payload` left out (unmanaged)"),
            "{text}"
        );
        assert!(text.contains("name: \"Off\""), "the rest stays: {text}");
        manifest::load_sources(&[(PathBuf::from("x.yaml"), ex.stream())]).unwrap();
    }

    #[test]
    fn a_field_that_does_not_read_back_is_left_out() {
        let mut spec = FlagSpec {
            kind: ObjectKind::Flag,
            key: "k".into(),
            name: Some("n".into()),
            description: None,
            enabled: Some(true),
            evaluation_mode: None,
            bucketing_key: None,
            bucketing_unit: None,
            bucketing_salt: None,
            tags: Some(vec!["t".into()]),
            deployments: None,
            variants: Some(vec![VariantSpec {
                key: "on".into(),
                name: None,
                description: None,
                payload: Some(serde_json::json!(1)),
                inclusions: None,
                cohorts: None,
                renamed_from: None,
            }]),
            rollout_percentage: None,
            rollout_weights: None,
            target_segments: None,
            archived: None,
            experiment_type: None,
            sticky_bucketing: None,
            start_date: None,
            end_date: None,
            exposure_event: None,
        };
        assert!(unmanage(&mut spec, "variants.on.payload"));
        assert_eq!(spec.variants.as_ref().unwrap()[0].payload, None);
        assert!(unmanage(&mut spec, "tags"));
        assert_eq!(spec.tags, None);
        assert!(!unmanage(&mut spec, "tags"), "nothing left to leave out");
        assert!(unmanage(&mut spec, "variants.gone"));
        assert_eq!(spec.variants, None);
    }

    #[test]
    fn bare_dates_become_midnight_utc() {
        assert_eq!(
            manifest_date(&Some("2026-12-01".into())),
            Some(Some("2026-12-01T00:00:00Z".into()))
        );
        assert_eq!(manifest_date(&None), Some(None));
        assert_eq!(manifest_date(&Some("soon".into())), None);
    }

    #[test]
    fn the_project_id_comes_from_any_object_that_names_it() {
        let err = project_id(&Live::default(), None).unwrap_err().to_string();
        assert!(err.contains("--project-id"), "{err}");
        let mut live = Live::default();
        let group: crate::api::live::LiveHoldout =
            serde_json::from_value(serde_json::json!({"id": 7, "key": "h", "projectId": 42}))
                .unwrap();
        live.holdouts = Some([("h".to_string(), group)].into_iter().collect());
        assert_eq!(project_id(&live, None).unwrap(), "42");
        let err = project_id(&live, Some("41")).unwrap_err().to_string();
        assert!(err.contains("belong to project 42"), "{err}");
    }
}
