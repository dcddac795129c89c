//! Deployments, mutual exclusion groups, holdout groups and variant cohorts,
//! end to end against the emulator: what the plan shows, the calls apply
//! makes and in which order, what it refuses, and that a fresh plan is
//! empty afterwards.

use crate::harness::{ampx, manifests, patch, plan, temp_dir, text, write, Env, KEY};
use ampx::manifest::ManifestSet;
use ampx::plan::{ObjectPlan, Plan};
use ampx::render::text::{render, render_drift, Style};
use serde_json::{json, Value};

/// Applies and returns the fresh plan made afterwards.
async fn apply(e: &Env, set: &ManifestSet) -> Plan {
    let p = plan(e, set).await;
    let report = ampx::apply::apply(e.client.clone(), &p).await;
    assert!(report.ok(), "{}", report.render(Style::plain()));
    plan(e, set).await
}

async fn plan_error(e: &Env, set: &ManifestSet) -> String {
    match ampx::commands::plan::make_plan(&e.client, set).await {
        Ok(p) => panic!("expected an error, got:\n{}", render(&p, Style::plain())),
        Err(err) => format!("{err:#}"),
    }
}

fn object<'a>(p: &'a Plan, kind: &str, key: &str) -> &'a ObjectPlan {
    p.objects
        .iter()
        .find(|o| o.kind == kind && o.key == key)
        .unwrap_or_else(|| panic!("no {kind} {key} in\n{}", render(p, Style::plain())))
}

fn position(p: &Plan, kind: &str, key: &str) -> usize {
    p.objects
        .iter()
        .position(|o| o.kind == kind && o.key == key)
        .unwrap_or_else(|| panic!("no {kind} {key} in the plan"))
}

fn writes(e: &Env) -> Vec<(String, String, Option<Value>)> {
    e.emu
        .requests()
        .into_iter()
        .filter(|r| r.method != "GET")
        .map(|r| (r.method, r.path, r.body))
        .collect()
}

const EXPERIMENTS: &str = "\
apiVersion: ampx/v1
kind: Experiment
key: pricing-page-test
variants: [{key: control}, {key: treatment}]
---
apiVersion: ampx/v1
kind: Experiment
key: checkout-copy-test
variants: [{key: control}, {key: treatment}]
---
";

const GROUPS: &str = "\
apiVersion: ampx/v1
kind: HoldoutGroup
key: q1-holdout
name: Q1 holdout
holdoutPercentage: 5
experiments: [pricing-page-test]
individualInclusion: [bob@example.com]
individualExclusion: []
---
apiVersion: ampx/v1
kind: MutexGroup
key: checkout-mutex
name: Checkout experiments
description: Only one checkout test per user
slots:
  - percentage: 50
    experiments: [pricing-page-test]
    holdouts: [q1-holdout]
    individuals: [alice@example.com]
  - percentage: 50
    experiments: [checkout-copy-test]
";

/// A manifest directory with EXPERIMENTS and GROUPS (in groups.yaml),
/// applied through the binary.
async fn applied_dir(e: &Env, name: &str) -> std::path::PathBuf {
    let dir = temp_dir(name);
    write(
        &dir,
        "project.yaml",
        "apiVersion: ampx/v1\nkind: Project\nid: \"100001\"\n",
    );
    write(&dir, "groups.yaml", &format!("{EXPERIMENTS}{GROUPS}"));
    let d = dir.to_str().unwrap();
    let out = ampx(&e.emu.base_url, Some(KEY), &["apply", "--auto-approve", d]).await;
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    dir
}

fn groups_set() -> ManifestSet {
    manifests(&format!("{EXPERIMENTS}{GROUPS}"))
}

#[tokio::test]
async fn groups_and_the_experiments_they_list_are_created_in_one_apply() {
    let e = Env::builder().start().await;
    let set = groups_set();
    let p = plan(&e, &set).await;
    // Experiments come before the groups that list them, the holdout before
    // the mutex whose slot names it.
    let holdout = position(&p, "holdout group", "q1-holdout");
    let mutex = position(&p, "mutex group", "checkout-mutex");
    assert!(position(&p, "experiment", "pricing-page-test") < holdout);
    assert!(position(&p, "experiment", "checkout-copy-test") < mutex);
    assert!(holdout < mutex);
    assert!(object(&p, "mutex group", "checkout-mutex")
        .after
        .contains(&"holdouts/q1-holdout".to_string()));
    let shown = render(&p, Style::plain());
    assert!(
        shown.contains("+ mutex group checkout-mutex will be created"),
        "{shown}"
    );
    assert!(
        shown.contains("slots[0].experiments: [pricing-page-test]"),
        "{shown}"
    );

    let after = apply(&e, &set).await;
    assert!(after.is_empty(), "{}", render(&after, Style::plain()));
    let pricing = e.emu.experiment_json("pricing-page-test").unwrap()["id"].clone();
    let copy = e.emu.experiment_json("checkout-copy-test").unwrap()["id"].clone();
    let h = e.emu.holdout_json("q1-holdout").unwrap();
    assert_eq!(h["holdoutPercentage"], 5);
    assert_eq!(h["experiments"], json!([pricing]));
    assert_eq!(h["individualInclusion"], json!(["bob@example.com"]));
    let m = e.emu.mutex_json("checkout-mutex").unwrap();
    assert_eq!(m["description"], "Only one checkout test per user");
    assert_eq!(m["slots"][0]["percentage"], 50);
    assert_eq!(m["slots"][0]["experiments"], json!([pricing]));
    assert_eq!(m["slots"][0]["holdouts"], json!([h["id"]]));
    assert_eq!(m["slots"][0]["individuals"], json!(["alice@example.com"]));
    assert_eq!(m["slots"][1]["experiments"], json!([copy]));
}

#[tokio::test]
async fn slot_membership_and_group_fields_change_through_their_own_calls() {
    let e = Env::builder().start().await;
    assert!(apply(&e, &groups_set()).await.is_empty());
    e.emu.clear_requests();
    // Swap the two experiments between the slots, rename, change people.
    let edited = "\
apiVersion: ampx/v1
kind: HoldoutGroup
key: q1-holdout
name: Q1 holdout (web)
holdoutPercentage: 5
experiments: [pricing-page-test]
individualInclusion: [bob@example.com]
individualExclusion: [dave@example.com]
---
apiVersion: ampx/v1
kind: MutexGroup
key: checkout-mutex
name: Checkout tests
description: Only one checkout test per user
slots:
  - percentage: 50
    experiments: [checkout-copy-test]
    holdouts: [q1-holdout]
    individuals: [alice@example.com]
  - percentage: 50
    experiments: [pricing-page-test]
    individuals: [carol@example.com]
";
    let set = manifests(&format!("{EXPERIMENTS}{edited}"));
    let p = plan(&e, &set).await;
    let m = object(&p, "mutex group", "checkout-mutex");
    let paths: Vec<String> = m
        .ops
        .iter()
        .map(|o| format!("{} {}", o.method, o.path))
        .collect();
    let id = e.emu.mutex_json("checkout-mutex").unwrap()["id"].to_string();
    assert_eq!(
        paths,
        [
            format!("PATCH /api/1/mutexes/{id}"),
            format!("PATCH /api/1/mutexes/{id}/slots/1"),
            format!("PATCH /api/1/mutexes/{id}/slots/2"),
        ]
    );
    let shown = render(&p, Style::plain());
    assert!(shown.contains("slots[1].experiments"), "{shown}");
    assert!(shown.contains("individualExclusion"), "{shown}");

    let after = apply(&e, &set).await;
    assert!(after.is_empty(), "{}", render(&after, Style::plain()));
    let pricing = e.emu.experiment_json("pricing-page-test").unwrap()["id"].clone();
    let copy = e.emu.experiment_json("checkout-copy-test").unwrap()["id"].clone();
    let m = e.emu.mutex_json("checkout-mutex").unwrap();
    assert_eq!(m["name"], "Checkout tests");
    assert_eq!(m["slots"][0]["experiments"], json!([copy]));
    assert_eq!(m["slots"][1]["experiments"], json!([pricing]));
    assert_eq!(m["slots"][1]["individuals"], json!(["carol@example.com"]));
    let h = e.emu.holdout_json("q1-holdout").unwrap();
    assert_eq!(h["name"], "Q1 holdout (web)");
    assert_eq!(h["individualExclusion"], json!(["dave@example.com"]));
    // Nothing was created or archived on the way.
    assert!(writes(&e).iter().all(|(m, _, _)| m == "PATCH"));
}

#[tokio::test]
async fn what_cannot_change_after_creation_is_refused_before_any_write() {
    let e = Env::builder().start().await;
    let deployment =
        "apiVersion: ampx/v1\nkind: Deployment\nlabel: web-production\ntype: client\n---\n";
    assert!(apply(
        &e,
        &manifests(&format!("{deployment}{EXPERIMENTS}{GROUPS}"))
    )
    .await
    .is_empty());
    let cases = [
        (
            GROUPS
                .replacen("percentage: 50", "percentage: 40", 1)
                .replacen(
                    "  - percentage: 50\n    experiments: [checkout-copy-test]",
                    "  - percentage: 60\n    experiments: [checkout-copy-test]",
                    1,
                ),
            "slot 1 percentage is 50 live and 40",
        ),
        (
            GROUPS.replace(
                "  - percentage: 50\n    experiments: [checkout-copy-test]\n",
                "  - percentage: 25\n    experiments: [checkout-copy-test]\n  - percentage: 25\n",
            ),
            "the number of slots is 2 live and 3",
        ),
        (
            GROUPS.replace("holdoutPercentage: 5", "holdoutPercentage: 10"),
            "`holdoutPercentage` is 5 live and 10",
        ),
        (
            GROUPS.replace(
                "holdoutPercentage: 5",
                "holdoutPercentage: 5\nevaluationMode: local",
            ),
            "`evaluationMode` is remote live and local",
        ),
        (
            GROUPS.replace(
                "name: Checkout experiments",
                "name: Checkout experiments\nbucketingKey: device_id",
            ),
            "`bucketingKey` is amplitude_id live and device_id",
        ),
    ];
    for (groups, expected) in cases {
        let set = manifests(&format!("{EXPERIMENTS}{groups}"));
        let err = plan_error(&e, &set).await;
        assert!(err.contains(expected), "{expected}: {err}");
        assert!(
            err.contains("cannot change after creation; create a new group with another key"),
            "{err}"
        );
        assert!(err.contains("flags.yaml:"), "no location: {err}");
    }
    let server = deployment.replace("type: client", "type: server");
    let err = plan_error(&e, &manifests(&format!("{server}{EXPERIMENTS}{GROUPS}"))).await;
    assert!(err.contains("deployment `web-production` is a client deployment; its type cannot change after creation"), "{err}");

    // As a user runs it: exit 1, and not a single write.
    let dir = temp_dir("immutable");
    write(
        &dir,
        "project.yaml",
        "apiVersion: ampx/v1\nkind: Project\nid: \"100001\"\n",
    );
    write(
        &dir,
        "groups.yaml",
        &format!(
            "{EXPERIMENTS}{}",
            GROUPS
                .replace("holdoutPercentage: 5", "holdoutPercentage: 10")
                .replace("name: Q1 holdout", "name: Renamed")
        ),
    );
    e.emu.clear_requests();
    let out = ampx(
        &e.emu.base_url,
        Some(KEY),
        &["apply", "--auto-approve", dir.to_str().unwrap()],
    )
    .await;
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stderr.contains("cannot change after creation"), "{stderr}");
    assert!(writes(&e).is_empty(), "{:?}", writes(&e));
    assert_eq!(
        e.emu.holdout_json("q1-holdout").unwrap()["name"],
        "Q1 holdout"
    );
}

#[tokio::test]
async fn a_deployment_the_manifests_create_is_created_before_the_flags_that_use_it() {
    let e = Env::builder().start().await;
    let set = manifests(
        "apiVersion: ampx/v1\nkind: Flag\nkey: ios-flag\ndeployments: [ios-production, web-production]\nvariants: [{key: \"on\"}]\n---\napiVersion: ampx/v1\nkind: Deployment\nlabel: ios-production\ntype: server\n",
    );
    let p = plan(&e, &set).await;
    assert!(position(&p, "deployment", "ios-production") < position(&p, "flag", "ios-flag"));
    assert_eq!(
        object(&p, "flag", "ios-flag").after,
        ["deployments/ios-production"]
    );
    let shown = render(&p, Style::plain());
    assert!(
        shown.contains("+ deployment ios-production will be created"),
        "{shown}"
    );
    assert!(
        shown.contains("(applied after deployments/ios-production)"),
        "{shown}"
    );
    assert!(
        shown.contains("deployments: [ios-production, web-production]"),
        "{shown}"
    );
    let after = apply(&e, &set).await;
    assert!(after.is_empty(), "{}", render(&after, Style::plain()));
    let ios = e.emu.deployment_id("ios-production").unwrap();
    let web = e.emu.deployment_id("web-production").unwrap();
    let mut assigned: Vec<String> = e.emu.flag_json("ios-flag").unwrap()["deployments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.to_string())
        .collect();
    assigned.sort();
    let mut want = vec![ios.clone(), web];
    want.sort();
    assert_eq!(assigned, want);
    // No SDK key in what a user sees.
    let json_out = ampx::commands::plan::plan_json(&p, ampx::render::text::Report::Plan);
    for k in crate::harness::sdk_keys(&e).await {
        assert!(!shown.contains(&k) && !json_out.contains(&k));
    }

    // Archive, then restore.
    let archive =
        manifests("apiVersion: ampx/v1\nkind: Deployment\nlabel: ios-production\narchived: true\n");
    let p = plan(&e, &archive).await;
    let o = object(&p, "deployment", "ios-production");
    assert!(o.destructive);
    assert!(o
        .warnings
        .iter()
        .any(|w| w.contains("archiving deployment ios-production")));
    assert!(apply(&e, &archive).await.is_empty());
    let restore = manifests("apiVersion: ampx/v1\nkind: Deployment\nlabel: ios-production\n");
    let p = plan(&e, &restore).await;
    assert_eq!(
        object(&p, "deployment", "ios-production").ops[0].body,
        Some(json!({"archive": false}))
    );
    assert!(apply(&e, &restore).await.is_empty());
    assert_eq!(e.emu.deployment_id("ios-production"), Some(ios));
}

#[tokio::test]
async fn an_experiment_leaves_its_groups_before_it_is_archived() {
    let e = Env::builder().start().await;
    assert!(apply(&e, &groups_set()).await.is_empty());
    let experiments = EXPERIMENTS.replace(
        "key: checkout-copy-test\n",
        "key: checkout-copy-test\narchived: true\n",
    );
    let groups = GROUPS.replace(
        "  - percentage: 50\n    experiments: [checkout-copy-test]\n",
        "  - percentage: 50\n    experiments: []\n",
    );
    let set = manifests(&format!("{experiments}{groups}"));
    let p = plan(&e, &set).await;
    assert!(
        position(&p, "mutex group", "checkout-mutex")
            < position(&p, "experiment", "checkout-copy-test")
    );
    assert_eq!(
        object(&p, "experiment", "checkout-copy-test").after,
        ["mutexes/checkout-mutex"]
    );
    e.emu.clear_requests();
    assert!(apply(&e, &set).await.is_empty());
    let w = writes(&e);
    let slot = w
        .iter()
        .position(|(_, path, _)| path.ends_with("/slots/2"))
        .unwrap();
    let archive = w
        .iter()
        .position(|(_, path, body)| {
            path.starts_with("/api/1/experiments/") && body == &Some(json!({"archive": true}))
        })
        .unwrap();
    assert!(slot < archive, "{w:?}");

    // An archived experiment still listed by a group is a validation error
    // naming both ends.
    let text =
        format!("apiVersion: ampx/v1\nkind: Project\nid: \"100001\"\n---\n{experiments}{GROUPS}");
    let err = ampx::manifest::load_sources(&[("g.yaml".into(), text)])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("mutex group `checkout-mutex` lists experiment `checkout-copy-test` in `slots[1].experiments`, which the manifests archive (at g.yaml:"),
        "{err}"
    );
}

#[tokio::test]
async fn references_to_unknown_keys_or_the_wrong_kind_name_both_ends() {
    let e = Env::builder().start().await;
    let set = manifests(&GROUPS.replace(
        "experiments: [checkout-copy-test]",
        "experiments: [no-such-test]",
    ));
    let err = plan_error(&e, &set).await;
    assert!(
        err.contains("mutex group `checkout-mutex` slot 2 names experiment `no-such-test`, which neither the manifests nor the project has"),
        "{err}"
    );
    assert!(err.contains("flags.yaml:"), "{err}");
    assert!(writes(&e).is_empty());

    // A key close to one the manifests declare is suggested.
    let typos = format!("{EXPERIMENTS}{GROUPS}")
        .replace(
            "experiments: [checkout-copy-test]",
            "experiments: [checkout-copy-tst]",
        )
        .replace("holdouts: [q1-holdout]", "holdouts: [q1-holdot]");
    let err = plan_error(&e, &manifests(&typos)).await;
    assert!(
        err.contains("names experiment `checkout-copy-tst`, which neither the manifests nor the project has; did you mean `checkout-copy-test`?"),
        "{err}"
    );
    assert!(
        err.contains("names holdout group `q1-holdot`, which neither the manifests nor the project has; did you mean `q1-holdout`?"),
        "{err}"
    );

    let text = format!(
        "apiVersion: ampx/v1\nkind: Project\nid: \"100001\"\n---\napiVersion: ampx/v1\nkind: Flag\nkey: checkout-copy-test\n---\n{}",
        EXPERIMENTS.split("---\n").next().unwrap().to_string() + "---\n" + GROUPS
    );
    let err = ampx::manifest::load_sources(&[("g.yaml".into(), text)])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("mutex group `checkout-mutex` lists `checkout-copy-test` in `slots[1].experiments`, but `checkout-copy-test` is a flag (at g.yaml:7)"),
        "{err}"
    );
}

#[test]
fn offline_checks_of_groups_and_deployments() {
    let text = "\
apiVersion: ampx/v1
kind: Project
id: \"1\"
---
apiVersion: ampx/v1
kind: Deployment
label: web production
---
apiVersion: ampx/v1
kind: MutexGroup
key: m
slots:
  - percentage: 70
  - percentage: 0
---
apiVersion: ampx/v1
kind: HoldoutGroup
key: m
holdoutPercentage: 100
experiments: [a, a]
";
    let err = ampx::manifest::load_sources(&[("g.yaml".into(), text.into())])
        .unwrap_err()
        .to_string();
    for expected in [
        "g.yaml:7:1: deployment label `web production` is invalid",
        "`slots[1].percentage` is 0; a slot takes 1 to 100 percent",
        "g.yaml:18:1: duplicate key `m` (first defined at g.yaml:11)",
        "`holdoutPercentage` is 100; it must be between 1 and 99",
        "`experiments` lists `a` twice",
    ] {
        assert!(err.contains(expected), "{expected}\n{err}");
    }
    let sum = text.replace("percentage: 0", "percentage: 20");
    let err = ampx::manifest::load_sources(&[("g.yaml".into(), sum)])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("the slots of mutex group `m` add up to 90 percent, not 100"),
        "{err}"
    );
}

fn running(key: &str) -> Value {
    json!({
        "key": key, "name": key, "state": "running", "enabled": true,
        "variants": [{"key": "control"}, {"key": "treatment"}],
    })
}

#[tokio::test]
async fn running_experiments_moving_between_groups_and_group_archives_are_warned() {
    let e = Env::builder().start().await;
    e.emu.seed_experiment(running("live-test")).unwrap();
    let group = "apiVersion: ampx/v1\nkind: HoldoutGroup\nkey: h\nholdoutPercentage: 5\nexperiments: [live-test]\n";
    let p = plan(&e, &manifests(group)).await;
    let o = object(&p, "holdout group", "h");
    assert!(
        o.warnings.iter().any(|w| w
            .contains("experiment live-test is running: adding it to holdout group h moves users")),
        "{:?}",
        o.warnings
    );
    // --deny-risky refuses it as a user runs it.
    let dir = temp_dir("risky-group");
    write(
        &dir,
        "m.yaml",
        &format!("apiVersion: ampx/v1\nkind: Project\nid: \"100001\"\n---\n{group}"),
    );
    let out = ampx(
        &e.emu.base_url,
        Some(KEY),
        &["plan", "--deny-risky", dir.to_str().unwrap()],
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{:?}", text(&out));

    assert!(apply(&e, &manifests(group)).await.is_empty());
    let removed = group.replace("experiments: [live-test]", "experiments: []");
    let p = plan(&e, &manifests(&removed)).await;
    assert!(object(&p, "holdout group", "h")
        .warnings
        .iter()
        .any(|w| w.contains("removing it from holdout group h")));

    let archived = format!("{group}archived: true\n");
    let p = plan(&e, &manifests(&archived)).await;
    let o = object(&p, "holdout group", "h");
    assert!(o.destructive);
    assert!(
        o.warnings.iter().any(|w| w.contains(
            "archiving holdout group h: its experiments lose the dependency on it (live-test)"
        )),
        "{:?}",
        o.warnings
    );
    assert!(apply(&e, &manifests(&archived)).await.is_empty());
    assert_eq!(e.emu.holdout_json("h").unwrap()["deleted"], true);
}

#[tokio::test]
async fn parent_dependencies_show_read_only_in_plan_headers_and_drift() {
    let e = Env::builder().start().await;
    assert!(apply(&e, &groups_set()).await.is_empty());
    let renamed = EXPERIMENTS.replacen(
        "key: pricing-page-test\n",
        "key: pricing-page-test\nname: Pricing v2\n",
        1,
    );
    let set = manifests(&format!("{renamed}{GROUPS}"));
    let p = plan(&e, &set).await;
    let o = object(&p, "experiment", "pricing-page-test");
    assert!(
        o.context
            .contains(&"depends on mutex group checkout-mutex (slot-1)".to_string()),
        "{:?}",
        o.context
    );
    assert!(
        o.context
            .contains(&"depends on holdout group q1-holdout (on)".to_string()),
        "{:?}",
        o.context
    );
    assert!(render(&p, Style::plain()).contains("depends on mutex group checkout-mutex (slot-1)"));
    assert!(render_drift(&p, Style::plain()).contains("depends on holdout group q1-holdout"));
    // Never written: no call carries parentDependencies.
    assert!(p.objects.iter().flat_map(|o| &o.ops).all(|op| op
        .body
        .as_ref()
        .is_none_or(|b| b.get("parentDependencies").is_none())));
}

#[tokio::test]
async fn variant_cohorts_are_managed_as_an_exact_set_in_chunks() {
    let e = Env::builder().start().await;
    let cohorts = |ids: &[String]| {
        manifests(&format!(
            "apiVersion: ampx/v1\nkind: Flag\nkey: promo\nvariants:\n  - key: \"on\"\n    cohorts: [{}]\n",
            ids.join(", ")
        ))
    };
    let first: Vec<String> = (0..150).map(|i| format!("coh{i:03}")).collect();
    assert!(apply(&e, &cohorts(&first)).await.is_empty());
    let stored = |e: &Env| -> Vec<String> {
        let mut v: Vec<String> = e.emu.flag_json("promo").unwrap()["cohorts"]["on"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap().to_string())
            .collect();
        v.sort();
        v
    };
    assert_eq!(stored(&e), first);

    // Keep 20 of them, add one: 130 removals in two bulk deletes of ≤100.
    let mut second: Vec<String> = first[..20].to_vec();
    second.push("coh-new".into());
    let p = plan(&e, &cohorts(&second)).await;
    let ops = &object(&p, "flag", "promo").ops;
    let deletes: Vec<usize> = ops
        .iter()
        .filter(|o| {
            o.path
                .to_string()
                .ends_with("/variants/on/bulk-delete-cohorts")
        })
        .map(|o| o.body.as_ref().unwrap()["users"].as_array().unwrap().len())
        .collect();
    assert_eq!(deletes, [100, 30]);
    let adds: Vec<&Value> = ops
        .iter()
        .filter(|o| o.method == "POST" && o.path.to_string().ends_with("/variants/on/cohorts"))
        .map(|o| o.body.as_ref().unwrap())
        .collect();
    assert_eq!(adds, [&json!({"inclusions": ["coh-new"]})]);
    assert!(render(&p, Style::plain()).contains("variants.on.cohorts"));
    assert!(apply(&e, &cohorts(&second)).await.is_empty());
    let mut want = second.clone();
    want.sort();
    assert_eq!(stored(&e), want);
    // An unmanaged cohorts field is never read.
    e.emu.clear_requests();
    let p = plan(
        &e,
        &manifests("apiVersion: ampx/v1\nkind: Flag\nkey: promo\n"),
    )
    .await;
    assert!(p.is_empty());
    assert_eq!(e.emu.count("GET", "/api/1/flags/"), 0);
}

#[tokio::test]
async fn saved_plans_and_json_cover_groups() {
    let e = Env::builder().start().await;
    let dir = applied_dir(&e, "saved-groups").await;
    let d = dir.to_str().unwrap();

    write(
        &dir,
        "groups.yaml",
        &format!(
            "{EXPERIMENTS}{}",
            GROUPS.replace("name: Q1 holdout", "name: Q1")
        ),
    );
    let plan_file = dir.join("plan.json");
    let out = ampx(
        &e.emu.base_url,
        Some(KEY),
        &[
            "plan",
            "--format",
            "json",
            "--out",
            plan_file.to_str().unwrap(),
            d,
        ],
    )
    .await;
    let (stdout, _) = text(&out);
    let doc: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(doc["objects"][0]["kind"], "holdout group");
    assert_eq!(doc["objects"][0]["changes"][0]["path"], "name");

    // Someone edits the group in the UI: the saved plan is refused, naming it.
    let id = e.emu.holdout_json("q1-holdout").unwrap()["id"].to_string();
    patch(
        &e,
        &format!("/api/1/holdouts/{id}"),
        json!({"description": "edited in the UI"}),
    )
    .await;
    e.emu.clear_requests();
    let out = ampx(
        &e.emu.base_url,
        Some(KEY),
        &[
            "apply",
            "--auto-approve",
            "--plan",
            plan_file.to_str().unwrap(),
        ],
    )
    .await;
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("holdout group q1-holdout: description changed"),
        "{stderr}"
    );
    assert!(writes(&e).is_empty());

    // Markdown names the new kinds too.
    let out = ampx(
        &e.emu.base_url,
        Some(KEY),
        &["plan", "--format", "markdown", d],
    )
    .await;
    assert!(text(&out).0.contains("q1-holdout"));
}

#[tokio::test]
async fn drift_reports_a_group_edited_out_of_band_with_who_changed_it() {
    let e = Env::builder().start().await;
    let dir = applied_dir(&e, "drift-groups").await;
    let d = dir.to_str().unwrap();
    let out = ampx(&e.emu.base_url, Some(KEY), &["drift", d]).await;
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));

    let h = e.emu.holdout_json("q1-holdout").unwrap()["id"].to_string();
    patch(
        &e,
        &format!("/api/1/holdouts/{h}"),
        json!({"individualInclusion": []}),
    )
    .await;
    let m = e.emu.mutex_json("checkout-mutex").unwrap()["id"].to_string();
    patch(
        &e,
        &format!("/api/1/mutexes/{m}/slots/2"),
        json!({"experiments": []}),
    )
    .await;
    e.emu.clear_requests();
    let out = ampx(&e.emu.base_url, Some(KEY), &["drift", d]).await;
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}{stderr}");
    assert!(stdout.contains("holdout group q1-holdout"), "{stdout}");
    assert!(stdout.contains("last changed by ampx-emulator"), "{stdout}");
    assert!(stdout.contains("individualInclusion"), "{stdout}");
    assert!(stdout.contains("mutex group checkout-mutex"), "{stdout}");
    assert!(stdout.contains("slots[1].experiments"), "{stdout}");
    assert!(writes(&e).is_empty());
}

#[tokio::test]
async fn lost_answers_of_group_and_deployment_writes_leave_no_duplicates() {
    let e = Env::builder().start().await;
    let deployment =
        "apiVersion: ampx/v1\nkind: Deployment\nlabel: tv-production\ntype: client\n---\n";
    let set = manifests(&format!("{deployment}{EXPERIMENTS}{GROUPS}"));
    let p = plan(&e, &set).await;
    e.emu.set_faults(ampx::emulator::Faults {
        lost_answer_rate: 1.0,
        ..Default::default()
    });
    let report = ampx::apply::apply(e.client.clone(), &p).await;
    e.emu.set_faults(ampx::emulator::Faults::default());
    assert!(report.ok(), "{}", report.render(Style::plain()));
    assert!(
        e.emu.faults_injected() >= 5,
        "every write's answer was lost"
    );
    let after = plan(&e, &set).await;
    assert!(after.is_empty(), "{}", render(&after, Style::plain()));
    let count = |path: &str, field: &str, key: &str| {
        let call = ampx::api::Call::get(path, "count");
        let client = e.client.clone();
        let (field, key, path) = (field.to_string(), key.to_string(), path.to_string());
        async move {
            let mut call = call;
            call.query = vec![("includeArchived".into(), "true".into())];
            let v = client.get_json(&call).await.unwrap();
            let list = path.trim_start_matches("/api/1/").to_string();
            v[list.as_str()]
                .as_array()
                .unwrap()
                .iter()
                .filter(|i| i[field.as_str()] == key.as_str())
                .count()
        }
    };
    assert_eq!(
        count("/api/1/deployments", "label", "tv-production").await,
        1
    );
    assert_eq!(count("/api/1/mutexes", "key", "checkout-mutex").await, 1);
    assert_eq!(count("/api/1/holdouts", "key", "q1-holdout").await, 1);
}

#[tokio::test]
async fn a_group_archived_with_its_experiment_plans_empty_afterwards() {
    let e = Env::builder().start().await;
    assert!(apply(&e, &groups_set()).await.is_empty());
    let experiments = EXPERIMENTS.replace(
        "key: pricing-page-test\n",
        "key: pricing-page-test\narchived: true\n",
    );
    let groups = format!("{GROUPS}archived: true\n").replace(
        "individualExclusion: []\n",
        "individualExclusion: []\narchived: true\n",
    );
    let set = manifests(&format!("{experiments}{groups}"));
    let after = apply(&e, &set).await;
    assert!(after.is_empty(), "{}", render(&after, Style::plain()));
    assert_eq!(e.emu.holdout_json("q1-holdout").unwrap()["deleted"], true);
    assert_eq!(e.emu.mutex_json("checkout-mutex").unwrap()["deleted"], true);

    // A group that stays may not name an archived holdout group.
    let e = Env::builder().start().await;
    assert!(apply(&e, &groups_set()).await.is_empty());
    let h = e.emu.holdout_json("q1-holdout").unwrap()["id"].to_string();
    patch(
        &e,
        &format!("/api/1/holdouts/{h}"),
        json!({"archive": true}),
    )
    .await;
    let mutex_only = GROUPS.split("---\n").nth(1).unwrap();
    let err = plan_error(&e, &manifests(&format!("{EXPERIMENTS}{mutex_only}"))).await;
    assert!(
        err.contains("mutex group `checkout-mutex` slot 1 names holdout group `q1-holdout`, which is archived in the project"),
        "{err}"
    );
}

/// The group lists document only `limit` and `cursor`: no other query goes
/// out with them.
#[tokio::test]
async fn group_lists_are_read_with_the_documented_parameters_only() {
    let e = Env::builder().start().await;
    e.emu.clear_requests();
    let _ = plan(&e, &groups_set()).await;
    let lists: Vec<String> = e
        .emu
        .requests()
        .into_iter()
        .filter(|r| r.path == "/api/1/mutexes" || r.path == "/api/1/holdouts")
        .map(|r| r.query)
        .collect();
    assert_eq!(lists.len(), 2, "{lists:?}");
    for q in &lists {
        assert!(
            q.split('&')
                .all(|p| p.starts_with("limit=") || p.starts_with("cursor=")),
            "{q}"
        );
    }
}
