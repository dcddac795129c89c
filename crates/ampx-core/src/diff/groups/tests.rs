//! Deployments, mutual exclusion and holdout groups, diffed and ordered
//! without a server: manifests from text, the live state from the API's
//! answer shapes, and the plan `plan::make` builds from them.

use std::path::PathBuf;

use serde_json::{json, Value};

use crate::diff::{Action, DiffError};
use crate::kind::Kind;
use crate::live::{Live, LiveFlag, LiveHoldout, LiveMutex};
use crate::manifest::load_sources;
use crate::plan::{make, Plan, Recovery};

fn plan(yaml: &str, live: &Live) -> Result<Plan, Vec<DiffError>> {
    let text = format!("apiVersion: ampx/v1\nkind: Project\nid: 7\n---\n{yaml}");
    let set = load_sources(&[(PathBuf::from("m.yaml"), text)]).unwrap();
    make(&set, live, 0)
}

fn experiment(id: u64, key: &str, archived: bool) -> LiveFlag {
    serde_json::from_value(json!({
        "id": id, "key": key, "archived": archived,
        "variants": [{"key": "control"}, {"key": "treatment"}],
    }))
    .unwrap()
}

fn mutex(v: Value) -> LiveMutex {
    serde_json::from_value(v).unwrap()
}

fn holdout(v: Value) -> LiveHoldout {
    serde_json::from_value(v).unwrap()
}

fn live_with(experiments: &[LiveFlag]) -> Live {
    Live {
        experiments: experiments
            .iter()
            .map(|e| (e.key.clone(), e.clone()))
            .collect(),
        deployments: Some(Vec::new()),
        mutexes: Some(Default::default()),
        holdouts: Some(Default::default()),
        ..Live::default()
    }
}

fn calls(p: &Plan) -> Vec<String> {
    p.objects
        .iter()
        .flat_map(|o| o.ops.iter().map(|op| format!("{} {}", op.method, op.path)))
        .collect()
}

const EXPERIMENT: &str =
    "apiVersion: ampx/v1\nkind: Experiment\nkey: e1\nvariants: [{key: control}, {key: treatment}]\n---\n";

#[test]
fn a_new_deployment_is_created_once_and_found_again_after_a_lost_answer() {
    let p = plan(
        "apiVersion: ampx/v1\nkind: Deployment\nlabel: web\ntype: client\n",
        &live_with(&[]),
    )
    .unwrap();
    assert_eq!(calls(&p), ["POST /api/1/deployments"]);
    let op = &p.objects[0].ops[0];
    assert_eq!(op.recovery, Recovery::Create);
    assert_eq!(
        op.body.as_ref().unwrap(),
        &json!({"projectId": "7", "label": "web", "type": "client"})
    );
}

#[test]
fn a_deployments_type_cannot_change() {
    let mut live = live_with(&[]);
    live.deployments = Some(vec![serde_json::from_value(
        json!({"id": 5, "label": "web", "type": "server"}),
    )
    .unwrap()]);
    let errors = plan(
        "apiVersion: ampx/v1\nkind: Deployment\nlabel: web\ntype: client\n",
        &live,
    )
    .unwrap_err();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].at.file, PathBuf::from("m.yaml"));
    // At `type:`, after the Project (3 lines and `---`), `apiVersion`, `kind`, `label`.
    assert_eq!(errors[0].at.line, 8, "{}", errors[0].at);
    assert!(
        errors[0].message.contains("is a server deployment")
            && errors[0].message.contains("cannot change"),
        "{}",
        errors[0].message
    );
}

#[test]
fn a_mutex_slot_change_patches_that_slot_and_its_count_cannot_change() {
    let mut live = live_with(&[experiment(11, "e1", false), experiment(12, "e2", false)]);
    live.mutexes.as_mut().unwrap().insert(
        "m".into(),
        mutex(json!({
            "id": 40, "key": "m", "name": "m",
            "slots": [
                {"index": 1, "percentage": 50, "experiments": [11]},
                {"index": 2, "percentage": 50, "experiments": []},
            ],
        })),
    );
    let two = "apiVersion: ampx/v1\nkind: Experiment\nkey: e1\nvariants: [{key: control}]\n---\napiVersion: ampx/v1\nkind: Experiment\nkey: e2\nvariants: [{key: control}]\n---\n";
    let slots = |s: &str| {
        format!("{two}apiVersion: ampx/v1\nkind: MutexGroup\nkey: m\nname: m\nslots:\n{s}")
    };
    let p = plan(
        &slots(
            "  - {percentage: 50, experiments: [e1]}\n  - {percentage: 50, experiments: [e2]}\n",
        ),
        &live,
    )
    .unwrap();
    let m = p.objects.iter().find(|o| o.kind == Kind::Mutex).unwrap();
    assert_eq!(m.ops.len(), 1, "{:?}", m.ops);
    assert_eq!(m.ops[0].path.to_string(), "/api/1/mutexes/40/slots/2");
    assert_eq!(m.ops[0].body.as_ref().unwrap()["experiments"], json!([12]));

    let errors = plan(
        &slots("  - {percentage: 100, experiments: [e1, e2]}\n"),
        &live,
    )
    .unwrap_err();
    assert!(
        errors.iter().any(|e| e.message.contains("number of slots")),
        "{errors:?}"
    );
}

#[test]
fn a_holdout_percentage_cannot_change() {
    let mut live = live_with(&[experiment(11, "e1", false)]);
    live.holdouts.as_mut().unwrap().insert(
        "h".into(),
        holdout(
            json!({"id": 50, "key": "h", "name": "h", "holdoutPercentage": 5, "experiments": [11]}),
        ),
    );
    let errors = plan(
        &format!("{EXPERIMENT}apiVersion: ampx/v1\nkind: HoldoutGroup\nkey: h\nname: h\nholdoutPercentage: 10\nexperiments: [e1]\n"),
        &live,
    )
    .unwrap_err();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].message.starts_with("holdout group `h`: ")
            && errors[0]
                .message
                .contains(" is 5 live and 10 in the manifest; it cannot change"),
        "{}",
        errors[0].message
    );
}

#[test]
fn an_experiment_is_created_before_the_group_that_lists_it() {
    let p = plan(
        &format!("{EXPERIMENT}apiVersion: ampx/v1\nkind: HoldoutGroup\nkey: h\nname: h\nholdoutPercentage: 5\nexperiments: [e1]\n"),
        &live_with(&[]),
    )
    .unwrap();
    let order: Vec<(Kind, &str)> = p.objects.iter().map(|o| (o.kind, o.key.as_str())).collect();
    assert_eq!(order, [(Kind::Experiment, "e1"), (Kind::Holdout, "h")]);
    let h = &p.objects[1];
    assert_eq!(h.after, ["experiments/e1"]);
    let fill = &h.ops[0].fills[0];
    assert_eq!(
        (fill.at.as_str(), fill.id.name(), fill.numeric),
        ("/experiments/0", "experiments/e1".to_string(), true)
    );
}

#[test]
fn a_group_drops_an_experiment_before_the_experiment_is_archived() {
    let mut live = live_with(&[experiment(11, "e1", false), experiment(12, "e2", false)]);
    live.holdouts.as_mut().unwrap().insert(
        "h".into(),
        holdout(json!({"id": 50, "key": "h", "name": "h", "holdoutPercentage": 5, "experiments": [11, 12]})),
    );
    let p = plan(
        "apiVersion: ampx/v1\nkind: Experiment\nkey: e1\narchived: true\n---\napiVersion: ampx/v1\nkind: Experiment\nkey: e2\nvariants: [{key: control}, {key: treatment}]\n---\napiVersion: ampx/v1\nkind: HoldoutGroup\nkey: h\nname: h\nholdoutPercentage: 5\nexperiments: [e2]\n",
        &live,
    )
    .unwrap();
    let at = |kind: Kind, key: &str| {
        p.objects
            .iter()
            .position(|o| o.kind == kind && o.key == key)
            .unwrap_or_else(|| panic!("no {kind} {key}: {:?}", calls(&p)))
    };
    assert!(
        at(Kind::Holdout, "h") < at(Kind::Experiment, "e1"),
        "{:?}",
        calls(&p)
    );
    assert_eq!(
        p.objects[at(Kind::Experiment, "e1")].action,
        Action::Archive
    );
    assert_eq!(p.objects[at(Kind::Experiment, "e1")].after, ["holdouts/h"]);
}

#[test]
fn a_cycle_is_an_error_naming_its_objects_in_order() {
    use crate::plan::{order, ObjectPlan};
    let object = |kind: Kind, key: &str| ObjectPlan {
        kind,
        key: key.into(),
        id: None,
        context: Vec::new(),
        action: Action::Create,
        destructive: false,
        pruned: false,
        last_modified: None,
        changes: Vec::new(),
        warnings: Vec::new(),
        ops: Vec::new(),
        after: Vec::new(),
    };
    let objects = vec![
        object(Kind::Mutex, "m"),
        object(Kind::Holdout, "h"),
        object(Kind::Experiment, "e"),
    ];
    let edges = [
        ("holdouts/h".to_string(), "mutexes/m".to_string()),
        ("mutexes/m".to_string(), "experiments/e".to_string()),
        ("experiments/e".to_string(), "holdouts/h".to_string()),
    ];
    // The cycle comes back closed, each object before the one it must
    // precede: e → h → m → e.
    let cycle = order(objects, &edges).unwrap_err();
    assert_eq!(cycle.len(), 4, "{cycle:?}");
    assert_eq!(cycle.first(), cycle.last(), "{cycle:?}");
    for pair in cycle.windows(2) {
        assert!(
            edges.iter().any(|(a, b)| *a == pair[0] && *b == pair[1]),
            "{cycle:?}: {} → {} is no edge",
            pair[0],
            pair[1]
        );
    }
}
