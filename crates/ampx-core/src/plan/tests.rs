use super::*;
use crate::diff::diff_flag;
use crate::kind::Kind;
use crate::live::{Live, LiveFlag};
use crate::manifest::load_sources;
use std::path::PathBuf;

fn plan_for(yaml: &str, live: Option<Value>, inclusions: &[(&str, usize)]) -> Vec<Op> {
    let text = format!(
        "apiVersion: ampx/v1\nkind: Project\nid: 1\n---\napiVersion: ampx/v1\nkind: Flag\n{yaml}"
    );
    let f = load_sources(&[(PathBuf::from("f.yaml"), text)])
        .unwrap()
        .flags
        .remove(0);
    let mut l = Live::default();
    if let Some(v) = live {
        let mut lf: LiveFlag = serde_json::from_value(v).unwrap();
        for (variant, n) in inclusions {
            lf.inclusions.insert(
                variant.to_string(),
                (0..*n).map(|i| format!("user{i:04}")).collect(),
            );
        }
        l.flags.insert(lf.key.clone(), lf);
    }
    let mut errors = Vec::new();
    let d = diff_flag(&f, &l, &mut errors);
    assert!(errors.is_empty());
    flag_ops(&d, "1")
}

fn summary(ops: &[Op]) -> Vec<String> {
    ops.iter()
        .map(|o| format!("{} {}", o.method, o.path))
        .collect()
}

#[test]
fn create_then_patch_what_create_ignores_and_enable_last() {
    let ops = plan_for(
        "key: a\nenabled: true\nrolloutPercentage: 5\ntags: [t]\nvariants: [{key: on, inclusions: [u]}]\n",
        None,
        &[],
    );
    assert_eq!(
        summary(&ops),
        vec![
            "POST /api/1/flags",
            "PATCH /api/1/flags/{id}",
            "POST /api/1/flags/{id}/variants/on/users",
            "PATCH /api/1/flags/{id}"
        ]
    );
    let create = ops[0].body.as_ref().unwrap();
    assert_eq!(create["projectId"], "1");
    assert!(create.get("enabled").is_none() && create.get("tags").is_none());
    assert_eq!(
        ops[1].body.as_ref().unwrap(),
        &json!({"rolloutPercentage": 5, "tags": ["t"]})
    );
    assert_eq!(ops[3].body.as_ref().unwrap(), &json!({"enabled": true}));
}

#[test]
fn segments_are_patched_before_the_variant_they_used_is_removed() {
    let ops = plan_for(
        "key: a\nenabled: false\nvariants: [{key: a}]\ntargetSegments: [{name: s, conditions: [], rolloutWeights: {a: 1}}]\n",
        Some(json!({"id": 9, "key": "a", "enabled": true, "variants": [{"key": "a"}, {"key": "b"}],
            "targetSegments": [{"name": "s", "conditions": [], "percentage": 100, "rolloutWeights": {"a": 1, "b": 1}}]})),
        &[],
    );
    assert_eq!(
        summary(&ops),
        vec![
            "PATCH /api/1/flags/9",
            "PATCH /api/1/flags/9",
            "DELETE /api/1/flags/9/variants/b"
        ]
    );
    assert_eq!(
        ops[0].body.as_ref().unwrap(),
        &json!({"enabled": false}),
        "disable goes first"
    );
    assert!(ops[1]
        .body
        .as_ref()
        .unwrap()
        .get("targetSegments")
        .is_some());
}

#[test]
fn inclusion_removal_is_chunked_by_100() {
    let ops = plan_for(
        "key: a\nvariants: [{key: on, inclusions: [user0000, new]}]\n",
        Some(json!({"id": 9, "key": "a", "variants": [{"key": "on"}]})),
        &[("on", 250)],
    );
    let deletes: Vec<&Op> = ops
        .iter()
        .filter(|o| o.path.to_string().ends_with("bulk-delete-users"))
        .collect();
    assert_eq!(deletes.len(), 3);
    let sizes: Vec<usize> = deletes
        .iter()
        .map(|o| o.body.as_ref().unwrap()["users"].as_array().unwrap().len())
        .collect();
    assert_eq!(sizes, vec![100, 100, 49]);
    let last = ops.last().unwrap();
    assert_eq!(last.method, "POST");
    assert_eq!(last.body.as_ref().unwrap(), &json!({"inclusions": ["new"]}));
}

#[test]
fn archive_is_a_single_call() {
    let ops = plan_for(
        "key: a\narchived: true\nname: ignored while archived\n",
        Some(json!({"id": 9, "key": "a", "name": "x"})),
        &[],
    );
    assert_eq!(summary(&ops), vec!["PATCH /api/1/flags/9"]);
    assert_eq!(ops[0].body.as_ref().unwrap(), &json!({"archive": true}));
}

#[test]
fn rename_precedes_patches_addressed_by_the_new_key() {
    let ops = plan_for(
        "key: a\nvariants: [{key: on, renamedFrom: enabled, name: On}]\n",
        Some(json!({"id": 9, "key": "a", "variants": [{"key": "enabled"}]})),
        &[],
    );
    assert_eq!(
        summary(&ops),
        vec![
            "PATCH /api/1/flags/9/variants/enabled",
            "PATCH /api/1/flags/9/variants/on"
        ]
    );
}

fn object(kind: Kind, key: &str) -> ObjectPlan {
    ObjectPlan {
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
    }
}

#[test]
fn objects_are_ordered_after_what_they_depend_on_and_cycles_name_their_objects() {
    let objects = vec![
        object(Kind::Mutex, "m"),
        object(Kind::Experiment, "e"),
        object(Kind::Flag, "f"),
        object(Kind::Deployment, "d"),
    ];
    let edges = [
        ("experiments/e".to_string(), "mutexes/m".to_string()),
        ("deployments/d".to_string(), "experiments/e".to_string()),
    ];
    let ordered = order(objects.clone(), &edges).unwrap();
    let names: Vec<String> = ordered.iter().map(object_name).collect();
    // Independent objects keep their place; dependants move after.
    assert_eq!(
        names,
        ["flags/f", "deployments/d", "experiments/e", "mutexes/m"]
    );
    assert_eq!(ordered[3].after, ["experiments/e"]);

    let cyclic = [
        ("mutexes/m".to_string(), "experiments/e".to_string()),
        ("experiments/e".to_string(), "mutexes/m".to_string()),
    ];
    let cycle = order(objects, &cyclic).unwrap_err();
    assert_eq!(cycle.first(), cycle.last());
    assert!(
        cycle.contains(&"mutexes/m".to_string()) && cycle.contains(&"experiments/e".to_string())
    );
}

#[test]
fn each_call_states_how_a_lost_answer_is_recognised() {
    let ops = plan_for(
        "key: a\nvariants: [{key: on, renamedFrom: enabled, name: On}, {key: new}]\n",
        Some(json!({
            "id": 9,
            "key": "a",
            "variants": [{"key": "enabled"}, {"key": "old"}],
        })),
        &[],
    );
    let recoveries: Vec<(String, Recovery)> = ops
        .iter()
        .map(|o| (format!("{} {}", o.method, o.path), o.recovery))
        .collect();
    assert_eq!(
        recoveries,
        vec![
            (
                "PATCH /api/1/flags/9/variants/enabled".into(),
                Recovery::GoneIsDone
            ),
            (
                "POST /api/1/flags/9/variants".into(),
                Recovery::ConflictIsDone
            ),
            ("PATCH /api/1/flags/9/variants/on".into(), Recovery::None),
            (
                "DELETE /api/1/flags/9/variants/old".into(),
                Recovery::GoneIsDone
            ),
        ]
    );
    let created = plan_for("key: b\n", None, &[]);
    assert_eq!(created[0].recovery, Recovery::Create);
    // A saved plan or JSON report names the recovery only where there is one.
    let json = serde_json::to_value(&ops).unwrap();
    assert_eq!(json[1]["recovery"], "conflictIsDone");
    assert!(json[2].get("recovery").is_none());
}

#[test]
fn only_the_apis_id_lists_hold_ids_to_fill() {
    let body = json!({
        "name": "{n:experiments/in-a-name}",
        "experiments": [12, "{n:experiments/new-test}"],
        "slots": [{"holdouts": ["{n:holdouts/h}"], "percentage": 100}],
        "variants": [{"key": "on", "payload": {"deployments": ["{id:deployments/not-an-id}"]}}],
        "deployments": ["{id:deployments/web}"],
    });
    let op = Op::new(
        Method::Post,
        ApiPath::collection(Kind::Mutex),
        Some(body),
        "create".into(),
    );
    let fills: Vec<(&str, String, bool)> = op
        .fills
        .iter()
        .map(|f| (f.at.as_str(), f.id.name(), f.numeric))
        .collect();
    assert_eq!(
        fills,
        vec![
            ("/deployments/0", "deployments/web".to_string(), false),
            ("/experiments/1", "experiments/new-test".to_string(), true),
            ("/slots/0/holdouts/0", "holdouts/h".to_string(), true),
        ]
    );
}

#[test]
fn path_segments_keep_only_unreserved_characters() {
    assert_eq!(enc("on-1_a.b~"), "on-1_a.b~");
    assert_eq!(enc("a b/é?#%@{id}"), "a%20b%2F%C3%A9%3F%23%25%40%7Bid%7D");
}
