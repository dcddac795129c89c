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
//!
//! One idea a file: `read` (the live project), `to_spec` (live flags and
//! experiments → specs), `to_yaml` (specs → document entries, emitted by
//! `yaml_out`), `settle` (read back and leave out what does not round-trip),
//! `write` (files or a stream), `groups` (deployments and groups, each step);
//! this file names documents and builds the export.

mod groups;
mod read;
mod settle;
mod to_spec;
mod to_yaml;
mod write;
pub mod yaml_out;

pub use read::{project_id, read, read_from, Snapshot};
use settle::{settle, FlagDoc};
use to_spec::*;
use to_yaml::*;
pub use write::check_out_dir;

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
    self, parse_instant, ConditionSpec, Decision, EvaluationMode, ExperimentType, ExposureEvent,
    FlagSpec, ObjectKind, Region, SegmentSpec, VariantSpec, OPS,
};
use yaml_out::Node;

/// The schema file written beside the manifests, for editors.
pub const SCHEMA_FILE: &str = "ampx.schema.json";

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
    // File systems take names of 255 bytes: a longer key keeps its first
    // 200 characters and a hash of the whole, so that names stay distinct.
    if s.len() > 200 {
        let hash = key.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
        s.truncate(200);
        s.push_str(&format!("-{hash:016x}"));
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
    let mut warnings: Vec<String> = snap
        .not_editable
        .iter()
        .map(|key| format!("experiment `{key}` is left out: a web or Guides & Surveys experiment, which the API does not let anyone edit"))
        .collect();
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
        let mut doc = FlagDoc {
            spec: &mut spec,
            variants,
        };
        // A flag's document is always kept (`FlagDoc::stuck` never refuses).
        let body = settle(&mut doc, &project_body, &snap.live, &mut notes, 4).unwrap_or_default();
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
        let body = match settle(&mut spec, &project_body, live, &mut notes, 6) {
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

#[cfg(test)]
mod tests {
    use super::settle::unmanage;
    use super::write::modeline;
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
            not_editable: Vec::new(),
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
            decision: None,
            decision_reason: None,
            rolled_out_variant: None,
            environments: None,
            only_in: None,
            owner: None,
            expires: None,
            waive: None,
            schedule: None,
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
}
