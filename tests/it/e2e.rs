//! End-to-end: manifests → plan → apply → verify against the in-process
//! emulator, asserting what a user sees (plan text, exit codes) and what the
//! API saw (the emulator's request log and state).

use crate::harness::{examples, manifests, plan, Env};
use ampx::manifest::ManifestSet;
use ampx::plan::Plan;
use ampx::render::text::{render, Style};
use serde_json::{json, Value};

/// Applies and returns the fresh plan made afterwards.
async fn apply(e: &Env, set: &ManifestSet) -> Plan {
    let p = plan(e, set).await;
    let report = ampx::apply::apply(e.client.clone(), &p).await;
    assert!(report.ok(), "{}", report.render(Style::plain()));
    plan(e, set).await
}

fn variant<'a>(flag: &'a Value, key: &str) -> &'a Value {
    flag["variants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["key"] == key)
        .unwrap_or_else(|| panic!("no variant {key} in {flag:#}"))
}

fn inclusions(flag: &Value, variant: &str) -> Vec<String> {
    let mut v: Vec<String> = flag["inclusions"][variant]
        .as_array()
        .map(|a| a.iter().map(|x| x.as_str().unwrap().to_string()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

#[tokio::test]
async fn creates_from_scratch_and_converges() {
    let e = Env::builder().start().await;
    let set = examples();
    let after = apply(&e, &set).await;
    assert!(after.is_empty(), "{}", render(&after, Style::plain()));
    let f = e.emu.flag_json("checkout-redesign").unwrap();
    assert_eq!(f["enabled"], true);
    assert_eq!(f["rolloutPercentage"], 25);
    assert_eq!(f["name"], "Checkout redesign");
    let mut tags: Vec<&str> = f["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    tags.sort();
    assert_eq!(tags, ["checkout", "web"]);
    assert_eq!(
        variant(&f, "on")["payload"],
        json!({"layout": "one-page", "steps": 1})
    );
    assert_eq!(inclusions(&f, "on"), ["1234567", "alice@example.com"]);
    let web = e.emu.deployment_id("web-production").unwrap();
    assert_eq!(
        f["deployments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>(),
        [web]
    );
    assert_eq!(f["targetSegments"][0]["percentage"], 50);
    // legacy-banner is archived in the manifests and absent live: nothing is created.
    assert!(e.emu.flag_json("legacy-banner").is_none());
    let dark = e.emu.flag_json("dark-mode").unwrap();
    assert_eq!(dark["rolloutPercentage"], 10);
    assert_eq!(dark["enabled"], true);
}

#[tokio::test]
async fn demo_plan_text_snapshot() {
    let e = Env::builder().start().await;
    ampx::commands::demo::seed(&e.emu).unwrap();
    let set = examples();
    let p = plan(&e, &set).await;
    insta::assert_snapshot!("demo_plan", render(&p, Style::plain()));
    // The same plan as a pull-request comment and as the JSON report.
    insta::assert_snapshot!(
        "demo_plan_markdown",
        ampx::render::markdown::render(&p, ampx::render::text::Report::Plan)
    );
    insta::assert_snapshot!(
        "demo_plan_json",
        ampx::commands::plan::plan_json(&p, ampx::render::text::Report::Plan)
    );
    let after = apply(&e, &set).await;
    insta::assert_snapshot!("demo_replan", render(&after, Style::plain()));
    // The project the apply left, exported: every file export writes.
    let snap = ampx::export::read(&e.client, &[], None).await.unwrap();
    let exported = ampx::export::build(&snap, None);
    let tree: String = exported
        .documents
        .iter()
        .map(|d| format!("==> {} <==\n{}", d.path.display(), exported.file_text(d)))
        .collect::<Vec<_>>()
        .join("\n");
    insta::assert_snapshot!("demo_exported_tree", tree);
}

#[tokio::test]
async fn changes_every_managed_field() {
    let e = Env::builder().start().await;
    e.emu
        .seed_flag(json!({
            "key": "f", "name": "Old", "description": "old", "evaluationMode": "remote",
            "bucketingKey": "amplitude_id", "bucketingSalt": "oldsalt", "bucketingUnit": "User",
            "variants": [
                {"key": "a", "name": "A", "description": "a", "payload": {"x": 1}, "rolloutWeight": 1, "inclusions": ["u1"]},
                {"key": "gone", "rolloutWeight": 1}
            ],
            "rolloutPercentage": 0, "tags": ["old"], "enabled": false,
            "deployments": [e.emu.deployment_id("web-staging").unwrap()],
            "targetSegments": [{"name": "old", "conditions": [{"prop": "city", "op": "is", "values": ["Paris"]}], "percentage": 10, "rolloutWeights": {"a": 1}}]
        }))
        .unwrap();
    let set = manifests(
        "apiVersion: ampx/v1
kind: Flag
key: f
name: New
description: new
enabled: true
evaluationMode: local
bucketingKey: device_id
bucketingUnit: Org
bucketingSalt: newsalt
tags: [new, other]
deployments: [web-production]
variants:
  - key: a
    name: A2
    description: a2
    payload: [1, \"two\", {three: 3}]
    inclusions: [u2, u3]
  - key: b
    payload: \"just a string\"
rolloutPercentage: 75
rolloutWeights: {a: 3, b: 1}
targetSegments:
  - name: new
    conditions: [{prop: gp:plan, op: set contains, values: [pro]}]
    percentage: 20
    rolloutWeights: {b: 1}
",
    );
    let p = plan(&e, &set).await;
    let text = render(&p, Style::plain());
    assert!(
        text.contains("WARNING"),
        "bucketing changes must warn loudly:\n{text}"
    );
    let after = apply(&e, &set).await;
    assert!(after.is_empty(), "{}", render(&after, Style::plain()));
    let f = e.emu.flag_json("f").unwrap();
    assert_eq!(f["name"], "New");
    assert_eq!(f["description"], "new");
    assert_eq!(f["enabled"], true);
    assert_eq!(f["evaluationMode"], "local");
    assert_eq!(f["bucketingKey"], "device_id");
    assert_eq!(f["bucketingUnit"], "Org");
    assert_eq!(f["bucketingSalt"], "newsalt");
    assert_eq!(f["rolloutPercentage"], 75);
    assert_eq!(variant(&f, "a")["name"], "A2");
    assert_eq!(variant(&f, "a")["payload"], json!([1, "two", {"three": 3}]));
    assert_eq!(variant(&f, "a")["rolloutWeight"], 3);
    assert_eq!(variant(&f, "b")["payload"], json!("just a string"));
    assert!(f["variants"]
        .as_array()
        .unwrap()
        .iter()
        .all(|v| v["key"] != "gone"));
    assert_eq!(inclusions(&f, "a"), ["u2", "u3"]);
    assert_eq!(f["targetSegments"][0]["name"], "new");
    let web = e.emu.deployment_id("web-production").unwrap();
    assert_eq!(
        f["deployments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>(),
        [web]
    );
}

#[tokio::test]
async fn removes_many_inclusions_with_several_bulk_deletes() {
    let e = Env::builder().start().await;
    let users: Vec<String> = (0..250).map(|i| format!("user{i:03}")).collect();
    e.emu
        .seed_flag(json!({"key": "f", "variants": [{"key": "on", "inclusions": users}]}))
        .unwrap();
    let set = manifests("apiVersion: ampx/v1\nkind: Flag\nkey: f\nvariants:\n  - key: on\n    inclusions: [user000, user001, new-user]\n");
    e.emu.clear_requests();
    let after = apply(&e, &set).await;
    assert!(after.is_empty());
    let deletes: Vec<_> = e
        .emu
        .requests()
        .into_iter()
        .filter(|r| r.method == "DELETE" && r.path.ends_with("/bulk-delete-users"))
        .collect();
    assert_eq!(deletes.len(), 3, "248 removals need 3 calls of at most 100");
    assert!(deletes
        .iter()
        .all(|r| r.body.as_ref().unwrap()["users"].as_array().unwrap().len() <= 100));
    assert_eq!(
        e.emu.count("DELETE", "/api/1/flags/") - deletes.len(),
        0,
        "no index-based removal"
    );
    let f = e.emu.flag_json("f").unwrap();
    assert_eq!(inclusions(&f, "on"), ["new-user", "user000", "user001"]);
}

#[tokio::test]
async fn removes_a_variant_that_a_segment_uses() {
    let e = Env::builder()
        .flag(json!({
            "key": "f",
            "variants": [{"key": "a"}, {"key": "b"}],
            "targetSegments": [{"name": "s", "conditions": [], "percentage": 100, "rolloutWeights": {"a": 1, "b": 1}}]
        }))
        .start()
        .await;
    let set = manifests(
        "apiVersion: ampx/v1\nkind: Flag\nkey: f\nvariants: [{key: a}]\ntargetSegments: [{name: s, conditions: [], rolloutWeights: {a: 1}}]\n",
    );
    e.emu.clear_requests();
    let after = apply(&e, &set).await;
    assert!(after.is_empty());
    let writes: Vec<String> = e
        .emu
        .requests()
        .into_iter()
        .filter(|r| r.method != "GET")
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    let patch = writes
        .iter()
        .position(|w| w.starts_with("PATCH") && !w.contains("/variants"))
        .unwrap();
    let delete = writes
        .iter()
        .position(|w| w.starts_with("DELETE") && w.ends_with("/variants/b"))
        .unwrap();
    assert!(
        patch < delete,
        "segments must be patched before the variant goes: {writes:?}"
    );
}

#[tokio::test]
async fn renames_a_variant_in_place() {
    let e = Env::builder()
        .flag(json!({"key": "f", "variants": [{"key": "enabled", "payload": {"p": 1}, "rolloutWeight": 1, "inclusions": ["alice"]}]}))
        .start()
        .await;
    let set = manifests(
        "apiVersion: ampx/v1\nkind: Flag\nkey: f\nvariants: [{key: on, renamedFrom: enabled}]\n",
    );
    e.emu.clear_requests();
    let after = apply(&e, &set).await;
    assert!(after.is_empty());
    assert_eq!(
        e.emu.count("POST", "/api/1/flags/"),
        0,
        "no variant re-created"
    );
    assert_eq!(
        e.emu.count("DELETE", "/api/1/flags/"),
        0,
        "no variant removed"
    );
    let f = e.emu.flag_json("f").unwrap();
    assert_eq!(variant(&f, "on")["payload"], json!({"p": 1}));
    assert_eq!(inclusions(&f, "on"), ["alice"]);
}

#[tokio::test]
async fn pages_through_small_pages() {
    let e = Env::builder().page_size(2).start().await;
    for i in 0..7 {
        e.emu
            .seed_flag(json!({"key": format!("flag-{i}"), "name": "x"}))
            .unwrap();
    }
    let set = manifests("apiVersion: ampx/v1\nkind: Flag\nkey: flag-0\nname: renamed\n");
    e.emu.clear_requests();
    let p = plan(&e, &set).await;
    assert_eq!(
        e.emu.count("GET", "/api/1/flags"),
        4,
        "7 flags in pages of 2"
    );
    assert_eq!(p.requests, 4);
    assert_eq!(p.objects.len(), 1);
    assert_eq!(p.objects[0].key, "flag-0");
    assert!(apply(&e, &set).await.is_empty());
}

#[tokio::test]
async fn unmanaged_fields_are_never_sent_nor_changed() {
    let e = Env::builder()
        .flag(json!({
            "key": "f", "name": "Old", "description": "keep me", "tags": ["keep"], "enabled": true,
            "rolloutPercentage": 33, "bucketingSalt": "keepsalt",
            "variants": [{"key": "v", "payload": {"keep": true}, "inclusions": ["keep-user"]}]
        }))
        .start()
        .await;
    let set = manifests("apiVersion: ampx/v1\nkind: Flag\nkey: f\nname: New\n");
    e.emu.clear_requests();
    let after = apply(&e, &set).await;
    assert!(after.is_empty());
    let writes: Vec<_> = e
        .emu
        .requests()
        .into_iter()
        .filter(|r| r.method != "GET")
        .collect();
    assert_eq!(writes.len(), 1);
    assert_eq!(writes[0].body.as_ref().unwrap(), &json!({"name": "New"}));
    let f = e.emu.flag_json("f").unwrap();
    assert_eq!(f["description"], "keep me");
    assert_eq!(f["tags"], json!(["keep"]));
    assert_eq!(f["enabled"], true);
    assert_eq!(f["rolloutPercentage"], 33);
    assert_eq!(f["bucketingSalt"], "keepsalt");
    assert_eq!(variant(&f, "v")["payload"], json!({"keep": true}));
    assert_eq!(inclusions(&f, "v"), ["keep-user"]);
}

#[tokio::test]
async fn reads_only_what_the_manifests_manage() {
    let e = Env::builder().start().await;
    for i in 0..5 {
        e.emu
            .seed_flag(json!({"key": format!("f{i}"), "variants": [{"key": "on", "inclusions": ["u"]}, {"key": "off"}]}))
            .unwrap();
    }
    let count = |set: ManifestSet| {
        let e = &e;
        async move {
            e.emu.clear_requests();
            let p = plan(e, &set).await;
            (e.emu.requests().len(), p.requests)
        }
    };
    // Keys only: the list is enough.
    assert_eq!(
        count(manifests(
            "apiVersion: ampx/v1\nkind: Flag\nkey: f0\nvariants: [{key: on}, {key: off}]\n"
        ))
        .await,
        (1, 1)
    );
    // A payload: the flag's variants, once.
    assert_eq!(count(manifests("apiVersion: ampx/v1\nkind: Flag\nkey: f0\nvariants: [{key: on, payload: 1}, {key: off, payload: 2}]\n")).await, (2, 2));
    // Inclusions of one variant: that variant's users.
    assert_eq!(count(manifests("apiVersion: ampx/v1\nkind: Flag\nkey: f0\nvariants: [{key: on, inclusions: [u]}, {key: off}]\n")).await, (2, 2));
    // Deployments: one deployment list.
    assert_eq!(
        count(manifests(
            "apiVersion: ampx/v1\nkind: Flag\nkey: f0\ndeployments: []\n"
        ))
        .await,
        (2, 2)
    );
    // Weights come with the flag list.
    assert_eq!(count(manifests("apiVersion: ampx/v1\nkind: Flag\nkey: f0\nrolloutWeights: {on: 1}\nvariants: [{key: on}, {key: off}]\n")).await, (1, 1));
    // A new flag needs no detail, only a look among the archived flags (an
    // archived flag may hold its key).
    assert_eq!(count(manifests("apiVersion: ampx/v1\nkind: Flag\nkey: brand-new\nvariants: [{key: on, payload: 1, inclusions: [x]}]\n")).await, (2, 2));
}

#[tokio::test]
async fn archived_key_is_unarchived_not_recreated() {
    let e = Env::builder()
        .flag(json!({"key": "f", "name": "A", "archived": true}))
        .start()
        .await;
    let set = manifests("apiVersion: ampx/v1\nkind: Flag\nkey: f\nname: B\n");
    e.emu.clear_requests();
    assert!(apply(&e, &set).await.is_empty());
    assert_eq!(e.emu.count("POST", "/api/1/flags"), 0);
    let f = e.emu.flag_json("f").unwrap();
    assert_eq!(f["archived"], false);
    assert_eq!(f["name"], "B");
}

#[tokio::test]
async fn create_that_meets_an_existing_flag_carries_on() {
    let e = Env::builder().start().await;
    let set =
        manifests("apiVersion: ampx/v1\nkind: Flag\nkey: f\nenabled: true\nrolloutPercentage: 5\n");
    let p = plan(&e, &set).await;
    // The flag appears between plan and apply (as after a lost create answer).
    e.emu.seed_flag(json!({"key": "f"})).unwrap();
    let report = ampx::apply::apply(e.client.clone(), &p).await;
    assert!(report.ok(), "{}", report.render(Style::plain()));
    assert!(plan(&e, &set).await.is_empty());
    let all: Vec<_> = e
        .emu
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path == "/api/1/flags")
        .collect();
    assert_eq!(all.len(), 1);
    assert_eq!(e.emu.flag_json("f").unwrap()["rolloutPercentage"], 5);
}

#[tokio::test]
async fn a_failure_stops_that_flag_and_reports_the_rest() {
    let e = Env::builder().start().await;
    e.emu.seed_flag(json!({"key": "ok", "name": "x"})).unwrap();
    e.emu
        .seed_flag(json!({"key": "bad", "variants": [{"key": "a"}]}))
        .unwrap();
    // A weight for a variant that exists only in the plan: the API refuses the segment.
    let set = manifests(
        "apiVersion: ampx/v1\nkind: Flag\nkey: ok\nname: y\n---\napiVersion: ampx/v1\nkind: Flag\nkey: bad\ntargetSegments: [{name: s, conditions: [], rolloutWeights: {zzz: 1}}]\nenabled: true\n",
    );
    let p = plan(&e, &set).await;
    let report = ampx::apply::apply(e.client.clone(), &p).await;
    assert!(!report.ok());
    let text = report.render(Style::plain());
    assert!(text.contains("✓ flag ok"), "{text}");
    assert!(text.contains("✗ flag bad: FAILED"), "{text}");
    assert!(
        text.contains("flag `bad`"),
        "the error names the flag: {text}"
    );
    assert!(text.contains("not attempted: PATCH"), "{text}");
    assert_eq!(e.emu.flag_json("ok").unwrap()["name"], "y");
    assert_eq!(e.emu.flag_json("bad").unwrap()["enabled"], false);
}

#[tokio::test]
async fn payload_text_that_looks_like_an_id_placeholder_is_sent_as_written() {
    // Placeholders for ids learned during apply are the plan's own; text a
    // user wrote is never one, even when it reads like one.
    let e = Env::builder().start().await;
    let set = manifests(
        "apiVersion: ampx/v1\nkind: Flag\nkey: templated\nvariants:\n  - key: on\n    payload:\n      url: \"https://x.example/{id:flags/templated}\"\n      exact: \"{n:experiments/other}\"\n",
    );
    let after = apply(&e, &set).await;
    assert!(after.is_empty(), "{}", render(&after, Style::plain()));
    let f = e.emu.flag_json("templated").unwrap();
    assert_eq!(
        variant(&f, "on")["payload"],
        json!({"url": "https://x.example/{id:flags/templated}", "exact": "{n:experiments/other}"})
    );
}

#[tokio::test]
async fn control_characters_from_the_live_project_are_escaped_in_the_text_plan() {
    let e = Env::builder()
        .flag(json!({
            "key": "f", "description": "ring\u{7}bell",
            "name": "red\u{1b}[31m", "variants": [{"key": "on"}]
        }))
        .start()
        .await;
    let set = manifests("apiVersion: ampx/v1\nkind: Flag\nkey: f\ndescription: fine\nname: ok\n");
    let p = plan(&e, &set).await;
    for text in [
        render(&p, Style::plain()),
        ampx::render::text::render_drift(&p, Style::plain()),
    ] {
        assert!(
            !text.chars().any(|c| c.is_control() && c != '\n'),
            "{text:?}"
        );
        assert!(text.contains("red␛[31m"), "{text}");
        assert!(text.contains("ring␇bell"), "{text}");
    }
}
