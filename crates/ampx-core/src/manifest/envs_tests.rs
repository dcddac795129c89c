use super::*;

fn load_str(text: &str) -> Result<ManifestSet, Diagnostics> {
    load_sources(&[(PathBuf::from("m.yaml"), text.to_string())])
}

const TWO: &str = "apiVersion: ampx/v1\nkind: Project\nenvironment: staging\nid: \"100001\"\n---\napiVersion: ampx/v1\nkind: Project\nenvironment: prod\nid: \"200002\"\napiKeyEnv: AMPLITUDE_MANAGEMENT_API_KEY_PROD\n---\n";

const FLAG: &str = "apiVersion: ampx/v1
kind: Flag
key: checkout
rolloutPercentage: 100
tags: [web]
variants:
  - key: \"on\"
    payload: {layout: new}
    inclusions: [a@example.com]
  - key: \"off\"
environments:
  prod:
    rolloutPercentage: 10
    variants:
      - key: \"on\"
        inclusions: [qa@example.com]
---
apiVersion: ampx/v1
kind: Flag
key: staging-only
onlyIn: [staging]
---
apiVersion: ampx/v1
kind: Deployment
label: web
type: client
environments:
  prod: {archived: true}
---
apiVersion: ampx/v1
kind: MutexGroup
key: m
slots: [{percentage: 100}]
environments:
  prod: {description: In prod}
---
apiVersion: ampx/v1
kind: HoldoutGroup
key: h
holdoutPercentage: 5
environments:
  prod: {individualInclusion: [qa@example.com]}
";

#[test]
fn each_environment_gets_its_overrides_merged_and_its_objects() {
    let all = load_str(&format!("{TWO}{FLAG}")).unwrap();
    assert_eq!(all.environments(), ["staging", "prod"]);
    let prod = all.for_env(Some("prod")).unwrap();
    assert_eq!(prod.project.spec.id, "200002");
    assert_eq!(
        prod.project.spec.api_key_env.as_deref(),
        Some("AMPLITUDE_MANAGEMENT_API_KEY_PROD")
    );
    let f = &prod.flags[0].spec;
    assert_eq!(f.rollout_percentage, Some(10));
    // Variants merge by key: `on` takes prod's inclusions and keeps its
    // payload; `off` stays; other fields stay.
    let vs = f.variants.as_ref().unwrap();
    assert_eq!(vs.len(), 2);
    assert_eq!(
        vs[0].inclusions.as_deref(),
        Some(&["qa@example.com".to_string()][..])
    );
    assert_eq!(vs[0].payload, Some(serde_json::json!({"layout": "new"})));
    assert_eq!(f.tags.as_deref(), Some(&["web".to_string()][..]));
    assert!(f.environments.is_none() && f.only_in.is_none());
    assert_eq!(prod.flags.len(), 1, "staging-only is not in prod");
    assert_eq!(prod.deployments[0].spec.archived, Some(true));
    assert_eq!(prod.mutexes[0].spec.description.as_deref(), Some("In prod"));
    let h = &prod.holdouts[0].spec;
    assert_eq!(
        h.individual_inclusion.as_deref(),
        Some(&["qa@example.com".to_string()][..])
    );
    assert_eq!(
        (h.holdout_percentage, h.experiments.as_ref()),
        (Some(5), None)
    );

    let staging = all.for_env(Some("staging")).unwrap();
    assert_eq!(staging.project.spec.id, "100001");
    assert_eq!(staging.flags.len(), 2);
    assert_eq!(staging.flags[0].spec.rollout_percentage, Some(100));
    assert_eq!(staging.deployments[0].spec.archived, None);
    assert_eq!(staging.mutexes[0].spec.description, None);

    // Without a name, a set of several environments is refused, naming them.
    let err = all.for_env(None).unwrap_err().to_string();
    assert!(
        err.contains("several environments (staging, prod)"),
        "{err}"
    );
    let err = all.for_env(Some("dev")).unwrap_err().to_string();
    assert!(err.contains("known environments: staging, prod"), "{err}");
}

#[test]
fn a_single_project_set_is_unchanged() {
    let set = load_str(
        "apiVersion: ampx/v1\nkind: Project\nid: \"1\"\n---\napiVersion: ampx/v1\nkind: Flag\nkey: f\nrolloutPercentage: 5\n",
    )
    .unwrap();
    assert!(set.environments().is_empty());
    let same = set.for_env(None).unwrap();
    assert_eq!(same.flags[0].spec, set.flags[0].spec);
}

#[test]
fn overrides_that_cannot_hold_are_errors_with_their_place() {
    let bad = format!(
        "{TWO}apiVersion: ampx/v1
kind: Flag
key: f
variants: [{{key: a}}]
environments:
  dev: {{rolloutPercentage: 5}}
  prod:
    key: g
    variants: [{{key: b, payload: 1}}]
onlyIn: [qa]
---
apiVersion: ampx/v1
kind: Flag
key: h
environments:
  staging: {{rolloutPercentage: 150}}
"
    );
    let err = load_str(&bad).unwrap_err().to_string();
    for want in [
        "m.yaml:17:3: `environments.dev` names an unknown environment",
        "the Projects declare staging, prod",
        "m.yaml:19:5: `environments.prod` changes `key`",
        "m.yaml:20:17: `environments.prod` names variant \"b\"",
        "m.yaml:21:10: `onlyIn` names an unknown environment `qa`",
    ] {
        assert!(err.contains(want), "{want}\n{err}");
    }
    // Each environment's effective manifests pass every check.
    let err = load_str(&format!(
        "{TWO}apiVersion: ampx/v1\nkind: Flag\nkey: h\nenvironments:\n  staging: {{rolloutPercentage: 150}}\n"
    ))
    .unwrap_err()
    .to_string();
    assert!(err.contains("environment `staging`: "), "{err}");
    assert!(err.contains("rolloutPercentage"), "{err}");
}

#[test]
fn an_override_with_a_variant_field_at_its_top_says_where_it_belongs() {
    let err = load_str(&format!(
        "{TWO}apiVersion: ampx/v1
kind: Flag
key: f
variants:
  - key: treatment
environments:
  prod:
    inclusions: [qa@example.com]
"
    ))
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("m.yaml:19:5: environment `prod`: the override does not read: `inclusions`: unknown field `inclusions`"),
        "{err}"
    );
    assert!(
        err.contains("environments:\n            prod:\n              variants:\n                - key: treatment\n                  inclusions: [...]"),
        "{err}"
    );
}

#[test]
fn several_projects_each_name_a_distinct_environment() {
    let err = load_str(
        "apiVersion: ampx/v1\nkind: Project\nid: \"1\"\n---\napiVersion: ampx/v1\nkind: Project\nid: \"2\"\nenvironment: prod\n---\napiVersion: ampx/v1\nkind: Project\nid: \"3\"\nenvironment: prod\n",
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("m.yaml:3:1: with several Project documents, each names its `environment`"),
        "{err}"
    );
    assert!(
        err.contains("a second Project for environment `prod`"),
        "{err}"
    );
}

#[test]
fn a_plain_set_is_taken_as_it_is_and_a_named_environment_must_exist() {
    let text = "apiVersion: ampx/v1\nkind: Project\nid: \"1\"\n---\napiVersion: ampx/v1\nkind: Flag\nkey: f\n";
    let set = load_str(text).unwrap();
    let flags = set.flags.clone();
    let same = set.into_env(None).unwrap();
    assert_eq!(same.flags[0].spec, flags[0].spec);
    let err = load_str(text)
        .unwrap()
        .into_env(Some("prod"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no Project document names the environment `prod`"),
        "{err}"
    );
    // With environments, into_env merges as for_env does.
    let all = load_str(&format!("{TWO}{FLAG}")).unwrap();
    let prod = all.into_env(Some("prod")).unwrap();
    assert_eq!(prod.flags[0].spec.rollout_percentage, Some(10));
}

#[test]
fn prune_in_one_environment_leaves_objects_declared_for_another() {
    let text = "apiVersion: ampx/v1\nkind: Project\nenvironment: staging\nid: \"1\"\nprune: true\n---\napiVersion: ampx/v1\nkind: Project\nenvironment: prod\nid: \"2\"\nprune: true\n---\napiVersion: ampx/v1\nkind: Flag\nkey: preview\nonlyIn: [staging]\n";
    let prod = load_str(text).unwrap().for_env(Some("prod")).unwrap();
    assert!(prod.flags.is_empty());
    let mut live = crate::live::Live::default();
    for key in ["preview", "stray"] {
        let f: crate::live::LiveFlag = serde_json::from_value(
            serde_json::json!({"id": key.len(), "key": key, "archived": false}),
        )
        .unwrap();
        live.flags.insert(key.into(), f);
    }
    let diffs = crate::diff::diff_all(&prod, &live).unwrap();
    let archived: Vec<&str> = diffs.iter().map(|d| d.key.as_str()).collect();
    assert_eq!(archived, ["stray"], "preview is staging's, not prune's");
}

#[test]
fn a_payload_key_named_variants_is_replaced_like_any_list() {
    let all = load_str(&format!(
        "{TWO}apiVersion: ampx/v1\nkind: Flag\nkey: f\nvariants:\n  - key: \"on\"\n    payload: {{variants: [a, b]}}\nenvironments:\n  prod:\n    variants:\n      - key: \"on\"\n        payload: {{variants: [x, y]}}\n"
    ))
    .unwrap();
    let prod = all.for_env(Some("prod")).unwrap();
    let v = &prod.flags[0].spec.variants.as_ref().unwrap()[0];
    assert_eq!(v.payload, Some(serde_json::json!({"variants": ["x", "y"]})));
}
