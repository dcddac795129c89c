use super::*;
use crate::live::{LiveDeployment, LiveVariant, VariantRef};
use crate::manifest::load_sources;
use std::path::PathBuf;

fn flag(yaml: &str) -> Located<FlagSpec> {
    let text = format!(
        "apiVersion: ampx/v1\nkind: Project\nid: 1\n---\napiVersion: ampx/v1\nkind: Flag\n{yaml}"
    );
    load_sources(&[(PathBuf::from("f.yaml"), text)])
        .unwrap()
        .flags
        .remove(0)
}

fn live_flag(v: Value) -> LiveFlag {
    serde_json::from_value(v).unwrap()
}

fn live_with(f: LiveFlag) -> Live {
    let mut live = Live::default();
    live.flags.insert(f.key.clone(), f);
    live
}

fn diff(f: &Located<FlagSpec>, live: &Live) -> FlagDiff {
    let mut errors = Vec::new();
    let d = diff_flag(f, live, &mut errors);
    assert!(errors.is_empty(), "{errors:?}");
    d
}

#[test]
fn server_defaults_are_not_changes() {
    let f = flag(
        "key: a
description: ''
bucketingKey: amplitude_id
variants:
  - key: on
    payload: {}
    description: ''
tags: [y, x]
rolloutWeights: {on: 1}
targetSegments:
  - name: s
    conditions: [{prop: country, op: is, values: [B, A]}]
    percentage: 10
    rolloutWeights: {on: 1}
",
    );
    let mut lf = live_flag(json!({
        "id": 7, "key": "a", "description": null, "variants": [{"key": "on"}],
        "rolloutWeights": {"on": 1, "off": 0}, "tags": ["x", "y"],
        "targetSegments": [{
            "name": "s", "percentage": 10, "bucketingKey": "amplitude_id",
            "conditions": [{"prop": "country", "op": "is", "type": "property", "values": ["A", "B"]}],
            "rolloutWeights": {"on": 1, "off": 0}
        }]
    }));
    lf.variant_details = Some(
        [(
            "on".to_string(),
            LiveVariant {
                key: "on".into(),
                name: Some(String::new()),
                description: None,
                payload: Some(json!({})),
                rollout_weight: Some(1.0),
            },
        )]
        .into_iter()
        .collect(),
    );
    let d = diff(&f, &live_with(lf));
    assert!(d.is_empty(), "{:#?}", d.changes);
}

#[test]
fn absent_fields_are_unmanaged() {
    let f = flag("key: a\nname: New\n");
    let lf = live_flag(json!({
        "id": 7, "key": "a", "name": "Old", "description": "keep", "enabled": true,
        "tags": ["t"], "rolloutPercentage": 40, "variants": [{"key": "x"}], "bucketingSalt": "salt"
    }));
    let d = diff(&f, &live_with(lf));
    assert_eq!(d.changes.len(), 1);
    assert_eq!(d.patch.keys().collect::<Vec<_>>(), vec!["name"]);
    assert!(d.variant_deletes.is_empty() && d.enabled.is_none());
}

#[test]
fn segment_bucketing_key_follows_the_flag() {
    let f = flag("key: a\nbucketingKey: device_id\ntargetSegments: [{name: s, conditions: []}]\n");
    let lf = live_flag(json!({
        "id": 7, "key": "a", "bucketingKey": "amplitude_id",
        "targetSegments": [{"name": "s", "conditions": [], "percentage": 100, "bucketingKey": "amplitude_id"}]
    }));
    let d = diff(&f, &live_with(lf));
    assert!(d.patch.contains_key("bucketingKey"));
    assert_eq!(d.patch["targetSegments"][0]["bucketingKey"], "device_id");
    assert!(
        d.warnings.iter().any(|w| w.contains("re-bucketed")),
        "{:?}",
        d.warnings
    );
}

#[test]
fn rename_keeps_inclusions_and_moves_weights() {
    let f = flag(
        "key: a
variants:
  - key: on
    renamedFrom: enabled
    inclusions: [u1, u2]
rolloutWeights: {on: 2}
",
    );
    let mut lf = live_flag(
        json!({"id": 7, "key": "a", "variants": [{"key": "enabled"}], "rolloutWeights": {"enabled": 1}}),
    );
    lf.inclusions
        .insert("enabled".into(), vec!["u1".into(), "u3".into()]);
    let d = diff(&f, &live_with(lf));
    assert_eq!(d.renames, vec![("enabled".to_string(), "on".to_string())]);
    assert!(d.variant_creates.is_empty() && d.variant_deletes.is_empty());
    assert_eq!(
        d.id_lists,
        vec![IdListChange {
            list: IdList::Users,
            variant: "on".to_string(),
            remove: vec!["u3".to_string()],
            add: vec!["u2".to_string()],
        }]
    );
    assert_eq!(
        d.variant_patches,
        vec![(
            "on".to_string(),
            json!({"rolloutWeight": 2}).as_object().unwrap().clone()
        )]
    );
}

#[test]
fn unknown_deployment_label_is_an_error_with_location() {
    let f = flag("key: a\ndeployments: [nope]\n");
    let live = Live {
        deployments: Some(vec![LiveDeployment {
            id: "1".into(),
            label: "web".into(),
            deleted: false,
            kind: None,
            project_id: None,
        }]),
        ..Default::default()
    };
    let mut errors = Vec::new();
    diff_flag(&f, &live, &mut errors);
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].at.to_string(), "f.yaml:8");
    assert!(errors[0].message.contains("deployment `nope`") && errors[0].message.contains("web"));
    assert!(
        !errors[0].message.contains("did you mean"),
        "{}",
        errors[0].message
    );

    // A label close to one the project has is suggested.
    let f = flag("key: a\ndeployments: [web-prodution]\n");
    let mut live = live;
    live.deployments.as_mut().unwrap()[0].label = "web-production".into();
    let mut errors = Vec::new();
    diff_flag(&f, &live, &mut errors);
    assert!(
        errors[0].message.contains("did you mean `web-production`?"),
        "{}",
        errors[0].message
    );
}

#[test]
fn archived_live_flag_is_unarchived_not_created() {
    let f = flag("key: a\nname: A\n");
    let lf = live_flag(json!({"id": 7, "key": "a", "name": "A", "archived": true}));
    let d = diff(&f, &live_with(lf));
    assert_eq!(d.action, Some(Action::Unarchive));
    assert!(d.create.is_none());
}

#[test]
fn variant_ref_is_matched_by_key_not_position() {
    let f = flag("key: a\nvariants: [{key: b}, {key: a}]\n");
    let lf = live_flag(json!({"id": 7, "key": "a", "variants": [{"key": "a"}, {"key": "b"}]}));
    let live = live_with(lf);
    assert!(diff(&f, &live).is_empty());
    let _ = VariantRef { key: String::new() };
}

#[test]
fn exposure_event_without_filters_equals_empty_filters() {
    use super::norm_exposure;
    let manifest = json!({"event_type": "viewed"});
    let live = json!({"event_type": "viewed", "filters": [], "group_type": null});
    assert_eq!(norm_exposure(&manifest), norm_exposure(&live));
    let filtered = json!({"event_type": "viewed", "filters": [{"subprop_key": "plan"}]});
    assert_ne!(norm_exposure(&manifest), norm_exposure(&filtered));
}

/// A manifest set with `project` fields added to the Project document.
fn set_with(project: &str, yaml: &str) -> ManifestSet {
    let text = format!(
        "apiVersion: ampx/v1\nkind: Project\nid: 1\n{project}---\napiVersion: ampx/v1\n{yaml}"
    );
    load_sources(&[(PathBuf::from("f.yaml"), text)]).unwrap()
}

#[test]
fn tags_no_answer_shows_are_unknown_and_never_written() {
    // The documented flag answers carry no `tags`.
    let live = live_with(live_flag(
        json!({"id": 7, "key": "a", "variants": [{"key": "on"}]}),
    ));
    let d = diff(&flag("key: a\ntags: [x]\n"), &live);
    assert!(d.is_empty(), "{:?}", d.changes);
    assert!(!d.patch.contains_key("tags"));
    assert_eq!(d.unknown.len(), 1);
    assert_eq!(d.unknown[0].0, "tags");
    // Shown, they are compared as before.
    let live = live_with(live_flag(
        json!({"id": 7, "key": "a", "variants": [{"key": "on"}], "tags": ["y"]}),
    ));
    let d = diff(&flag("key: a\ntags: [x]\n"), &live);
    assert_eq!(d.patch["tags"], json!(["x"]));
    assert!(d.unknown.is_empty());
}

#[test]
fn the_owner_tag_never_replaces_tags_nobody_could_read() {
    let set = set_with("ownerTag: ampx\n", "kind: Flag\nkey: a\n");
    let live = live_with(live_flag(
        json!({"id": 7, "key": "a", "variants": [{"key": "on"}]}),
    ));
    let diffs = diff_all(&set, &live).unwrap();
    assert!(
        diffs.iter().all(|d| !d.patch.contains_key("tags")),
        "{diffs:?}"
    );
    // Known live tags keep theirs and gain the owner tag.
    let live = live_with(live_flag(
        json!({"id": 7, "key": "a", "variants": [{"key": "on"}], "tags": ["team"]}),
    ));
    let diffs = diff_all(&set, &live).unwrap();
    assert_eq!(diffs[0].patch["tags"], json!(["ampx", "team"]));
    // A new flag gets the owner tag.
    let diffs = diff_all(&set, &Live::default()).unwrap();
    assert_eq!(diffs[0].patch["tags"], json!(["ampx"]));
}

#[test]
fn prune_with_an_owner_tag_leaves_objects_of_unknown_tags_alone() {
    let set = set_with("ownerTag: ampx\nprune: true\n", "kind: Flag\nkey: a\n");
    let mut live = live_with(live_flag(
        json!({"id": 7, "key": "a", "variants": [{"key": "on"}], "tags": ["ampx"]}),
    ));
    for (key, tags) in [
        ("unknown", None),
        ("owned", Some(json!(["ampx"]))),
        ("other", Some(json!(["x"]))),
    ] {
        let mut f = json!({"id": key.len() + 100, "key": key, "variants": [{"key": "on"}]});
        if let Some(t) = tags {
            f["tags"] = t;
        }
        live.flags.insert(key.into(), live_flag(f));
    }
    let diffs = diff_all(&set, &live).unwrap();
    let archived: Vec<&str> = diffs
        .iter()
        .filter(|d| d.action == Some(Action::Archive))
        .map(|d| d.key.as_str())
        .collect();
    assert_eq!(archived, ["owned"]);
    let unknown: Vec<&str> = diffs
        .iter()
        .filter(|d| !d.unknown.is_empty())
        .map(|d| d.key.as_str())
        .collect();
    assert_eq!(unknown, ["unknown"]);
}

fn experiment(yaml: &str) -> Located<FlagSpec> {
    set_with("", &format!("kind: Experiment\n{yaml}"))
        .flags
        .remove(0)
}

fn live_experiment(v: Value) -> Live {
    let mut live = Live::default();
    let e = live_flag(v);
    live.experiments.insert(e.key.clone(), e);
    live
}

#[test]
fn exposure_events_are_sent_with_filters_and_compared_only_when_shown() {
    let e = experiment("key: e\nexposureEvent: {event_type: viewed}\n");
    // A new experiment: the PATCH after create carries `filters: []`.
    let d = diff(&e, &Live::default());
    assert_eq!(
        d.patch["exposureEvent"],
        json!({"event_type": "viewed", "filters": []})
    );
    // Live, without the field (as every documented answer): unknown.
    let base = json!({"id": 7, "key": "e", "variants": [{"key": "control"}, {"key": "treatment"}]});
    let d = diff(&e, &live_experiment(base.clone()));
    assert!(!d.patch.contains_key("exposureEvent"));
    assert_eq!(d.unknown[0].0, "exposureEvent");
    // Shown: compared (an empty `filters` equals none).
    let mut shown = base.clone();
    shown["exposureEvent"] = json!({"event_type": "viewed", "filters": []});
    assert!(diff(&e, &live_experiment(shown.clone())).patch.is_empty());
    shown["exposureEvent"] = json!({"event_type": "clicked", "filters": []});
    assert!(diff(&e, &live_experiment(shown.clone()))
        .patch
        .contains_key("exposureEvent"));
    // `exposureEvent: null` goes back to the default event.
    let d = diff(
        &experiment("key: e\nexposureEvent: null\n"),
        &live_experiment(shown),
    );
    assert_eq!(d.patch["exposureEvent"], Value::Null);
}

#[test]
fn dates_are_compared_at_the_precision_of_the_answer() {
    let base = json!({"id": 7, "key": "e", "variants": [{"key": "control"}, {"key": "treatment"}]});
    let with = |start: &str| {
        let mut v = base.clone();
        v["startDate"] = json!(start);
        live_experiment(v)
    };
    let e = experiment("key: e\nstartDate: 2023-07-29T10:30:00Z\n");
    // The API answers the day only: the same day is no change.
    assert!(diff(&e, &with("2023-07-29")).patch.is_empty());
    assert!(diff(&e, &with("2023-07-30"))
        .patch
        .contains_key("startDate"));
    // An answer with a time is compared as an instant.
    assert!(diff(&e, &with("2023-07-29T10:30:00.000Z")).patch.is_empty());
    assert!(diff(&e, &with("2023-07-29T11:30:00Z"))
        .patch
        .contains_key("startDate"));
}

#[test]
fn a_manifest_time_that_would_be_dropped_is_a_warning_with_its_position() {
    let set = set_with(
        "",
        "kind: Experiment\nkey: e\nstartDate: 2023-07-29T10:30:00Z\nendDate: 2023-08-01T00:00:00Z\n",
    );
    let w = set.warnings();
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].starts_with("f.yaml:") && w[0].contains("startDate"),
        "{w:?}"
    );
}

#[test]
fn a_decision_in_the_manifest_concludes_the_experiment_with_a_warning() {
    let e = experiment(
        "key: e\nvariants: [{key: control}, {key: treatment}]\ndecision: rollout\ndecisionReason: treatment won\nrolledOutVariant: treatment\n",
    );
    let mut live = json!({
        "id": 7, "key": "e", "variants": [{"key": "control"}, {"key": "treatment"}],
        "decision": null, "decisionReason": null, "rolledOutVariant": null
    });
    let d = diff(&e, &live_experiment(live.clone()));
    assert_eq!(d.patch["decision"], json!("rollout"));
    assert_eq!(d.patch["decisionReason"], json!("treatment won"));
    assert_eq!(d.patch["rolledOutVariant"], json!("treatment"));
    assert!(
        d.warnings.iter().any(|w| w.contains("concludes it")),
        "{:?}",
        d.warnings
    );
    // Once recorded, nothing to do.
    live["decision"] = json!("rollout");
    live["decisionReason"] = json!("treatment won");
    live["rolledOutVariant"] = json!("treatment");
    let d = diff(&e, &live_experiment(live.clone()));
    assert!(d.is_empty() && d.warnings.is_empty(), "{d:?}");
    // An answer without the fields: unknown, nothing written.
    for field in ["decision", "decisionReason", "rolledOutVariant"] {
        live.as_object_mut().unwrap().remove(field);
    }
    let d = diff(&e, &live_experiment(live));
    assert!(d.patch.is_empty(), "{:?}", d.patch);
    assert_eq!(d.unknown.len(), 3);
}

#[test]
fn a_rolled_out_variant_must_be_a_variant_of_the_experiment() {
    let text = "apiVersion: ampx/v1\nkind: Project\nid: 1\n---\napiVersion: ampx/v1\nkind: Experiment\nkey: e\nvariants: [{key: a}, {key: b}]\nrolledOutVariant: c\n---\napiVersion: ampx/v1\nkind: Flag\nkey: f\ndecision: rollout\n";
    let err = load_sources(&[(PathBuf::from("x.yaml"), text.into())])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("x.yaml:9:1") && err.contains("not a variant of this experiment"),
        "{err}"
    );
    assert!(
        err.contains("`decision` is only for `kind: Experiment`"),
        "{err}"
    );
}

#[test]
fn removing_what_a_variant_deployment_or_segment_holds_is_destructive() {
    // A variant that holds a payload, inclusions and a weight, replaced by a
    // new key without `renamedFrom`.
    let mut lf = live_flag(json!({
        "id": 7, "key": "a", "enabled": true,
        "variants": [{"key": "on"}], "rolloutWeights": {"on": 1},
        "deployments": ["11"],
        "targetSegments": [{"name": "s", "conditions": [], "percentage": 10}]
    }));
    lf.variant_details = Some(
        [(
            "on".to_string(),
            serde_json::from_value::<LiveVariant>(json!({"key": "on", "payload": {"x": 1}}))
                .unwrap(),
        )]
        .into_iter()
        .collect(),
    );
    lf.inclusions
        .insert("on".into(), vec!["u1".into(), "u2".into()]);
    let mut live = live_with(lf);
    live.deployments = Some(vec![serde_json::from_value::<LiveDeployment>(
        json!({"id": 11, "label": "web"}),
    )
    .unwrap()]);
    let d = diff(
        &flag("key: a\nvariants: [{key: enabled}]\ndeployments: []\ntargetSegments: []\n"),
        &live,
    );
    assert!(d.destructive);
    let all = d.warnings.join("\n");
    assert!(
        all.contains(
            "removing variant `on` of flag a drops its payload, 2 inclusion(s), rollout weight 1"
        ),
        "{all}"
    );
    assert!(all.contains("write `renamedFrom: on`"), "{all}");
    assert!(all.contains("removing deployment(s) web from a"), "{all}");
    assert!(
        all.contains("removing every target segment of enabled flag a"),
        "{all}"
    );
    let removed = d.changes.iter().find(|c| c.path == "variants.on").unwrap();
    assert_eq!(
        removed.before,
        Some(json!({"key": "on", "payload": {"x": 1}, "inclusions": 2, "rolloutWeight": 1}))
    );
    // With renamedFrom, nothing is lost and nothing is destructive.
    let d = diff(
        &flag("key: a\nvariants: [{key: enabled, renamedFrom: on}]\n"),
        &live,
    );
    assert!(!d.destructive && d.warnings.is_empty(), "{:?}", d.warnings);
}

#[test]
fn prune_leaves_an_experiment_an_answer_marks_as_web_and_says_so() {
    let set = set_with("prune: true\n", "kind: Flag\nkey: kept\n");
    let mut live = Live::default();
    for (key, kind) in [("web-test", Some("web")), ("old-test", None)] {
        let mut e = json!({"id": key.len(), "key": key});
        if let Some(t) = kind {
            e["type"] = json!(t);
        }
        live.experiments.insert(key.into(), live_flag(e));
    }
    let diffs = diff_all(&set, &live).unwrap();
    let archived: Vec<&str> = diffs
        .iter()
        .filter(|d| d.action == Some(Action::Archive))
        .map(|d| d.key.as_str())
        .collect();
    assert_eq!(archived, ["old-test"]);
    let web = diffs.iter().find(|d| d.key == "web-test").unwrap();
    assert!(
        web.unknown[0].1.contains("web or Guides & Surveys"),
        "{web:?}"
    );
}
