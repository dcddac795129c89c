//! `ampx export` against the in-process emulator: the export plans clean,
//! YAML-ambiguous text survives, deployments, groups and cohorts round-trip
//! with group members named by key, archived objects and SDK keys stay out,
//! `--key` limits, and the request count is what the API budget allows.

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::harness::{Ampx, Env, KEY};
use ampx::export::{self, Export};
use ampx::render::text::{render, Style};
use serde_json::{json, Value};

/// Strings that YAML 1.1 or 1.2 readers take for something else.
const AMBIGUOUS: &[&str] = &[
    "on", "no", "yes", "off", "1.0", "null", "~", "#x", "a: b", "- x", " padded ", "",
];

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ampx-export-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

async fn ampx(e: &Env, args: &[&str]) -> Output {
    Ampx::at(&e.emu.base_url).key(KEY).args(args).run().await
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

async fn export_lib(e: &Env, keys: &[&str]) -> anyhow::Result<Export> {
    let keys: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
    let snap = export::read(&e.client, &keys, None).await?;
    Ok(export::build(&snap, None))
}

/// Every file under `dir`, by path relative to it.
fn files(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().display().to_string();
                out.push((rel, std::fs::read_to_string(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// A project with every kind of value that is easy to get wrong in YAML.
fn seed_tricky(e: &Env) {
    let emu = &e.emu;
    emu.seed_flag(json!({
        "key": "checkout-redesign",
        "name": "on",
        "description": "Line one\nLine two: with a colon\n\n# not a comment\n",
        "enabled": true,
        "evaluationMode": "local",
        "bucketingKey": "device_id",
        "bucketingUnit": "Org",
        "tags": ["web", "no", "1.0", "#x", "a: b", "null"],
        "deployments": ["web-production", "api-production"],
        "variants": [
            {"key": "on", "name": "null", "description": "- x",
             "payload": {"layout": "one-page", "on": "off", "ratio": 1.5, "big": 1e20,
                         "list": [1, "2", null, true, "yes"], "nested": {"k": "a: b", "empty": ""}},
             "rolloutWeight": 3, "inclusions": AMBIGUOUS.iter().filter(|s| !s.is_empty()).chain(["alice@example.com", "1234567"].iter()).collect::<Vec<_>>()},
            {"key": "no", "name": "No", "description": "two\nlines", "payload": ["a", 1, false, "~"], "rolloutWeight": 1},
            {"key": "1.0", "name": "#x", "payload": "yes", "rolloutWeight": 0},
            {"key": "off", "payload": 42},
            {"key": "flag-off", "payload": false},
            {"key": "nothing", "payload": null},
            {"key": "text", "payload": "multi\nline\npayload"}
        ],
        "rolloutPercentage": 25,
        "targetSegments": [
            {"name": "US customers", "conditions": [
                {"prop": "country", "op": "is", "values": ["United States", "on"]},
                {"prop": "gp:plan", "op": "is not", "values": ["null", "1.0", "a: b"]}
            ], "percentage": 50, "rolloutWeights": {"on": 1}},
            {"name": "a: b", "conditions": [{"prop": "city", "op": "contains", "values": ["#x"]}],
             "percentage": 0, "rolloutWeights": {"on": 3, "no": 1, "off": 1, "flag-off": 1, "nothing": 1, "text": 1},
             "bucketingKey": "amplitude_id"},
            {"name": "by device", "conditions": [], "percentage": 100,
             "rolloutWeights": {"no": 1}, "bucketingKey": "device_id"}
        ]
    }))
    .unwrap();
    emu.seed_flag(json!({
        "key": "null", "name": " padded ", "description": "", "enabled": false,
        "variants": [{"key": "on"}]
    }))
    .unwrap();
    emu.seed_experiment(json!({
        "key": "pricing-test",
        "name": "Pricing: annual first?",
        "description": "Does an annual-first page\nraise conversion?\n",
        "experimentType": "multi-arm-bandit",
        "stickyBucketing": true,
        "startDate": "2026-12-01",
        "endDate": "2027-01-01T00:00:00.000Z",
        "exposureEvent": {"event_type": "viewed pricing page", "filters": [
            {"subprop_type": "event", "subprop_key": "plan", "subprop_op": "is",
             "subprop_value": ["pro", "on"], "group_type": "User"}
        ]},
        "deployments": ["web-production"],
        "variants": [
            {"key": "control", "name": "Monthly first", "rolloutWeight": 1},
            {"key": "treatment", "payload": {"default_billing": "annual"}, "rolloutWeight": 1,
             "inclusions": ["qa@example.com", "off"]}
        ],
        "rolloutPercentage": 100,
        "enabled": true,
        "tags": ["web", "no", "1.0", "#x", "a: b", "null"]
    }))
    .unwrap();
    emu.seed_flag(json!({"key": "old-banner", "archived": true}))
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_plans_clean_through_the_binary() {
    let e = Env::builder().start().await;
    seed_tricky(&e);
    let dir = temp_dir("roundtrip");
    let d = dir.to_str().unwrap();

    let o = ampx(&e, &["export", "--out", d]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        !String::from_utf8_lossy(&o.stderr).contains("warning"),
        "nothing was left out: {}",
        text(&o)
    );
    let written: Vec<String> = files(&dir).into_iter().map(|(p, _)| p).collect();
    assert_eq!(
        written,
        [
            "ampx.schema.json",
            "deployments/api-production.yaml",
            "deployments/web-production.yaml",
            "deployments/web-staging.yaml",
            "experiments/pricing-test.yaml",
            "flags/checkout-redesign.yaml",
            "flags/null.yaml",
            "project.yaml"
        ]
    );

    let o = ampx(&e, &["plan", d, "--detailed-exitcode"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("No changes."), "{}", text(&o));

    // The files are what a person would write by hand.
    let project = std::fs::read_to_string(dir.join("project.yaml")).unwrap();
    assert!(
        project.starts_with("# Exported by ampx from project 100001: 2 flags, 1 experiment, 3 deployments, 0 mutex groups, 0 holdout groups.\n"),
        "{project}"
    );
    assert!(
        project.contains("# yaml-language-server: $schema=ampx.schema.json\n"),
        "{project}"
    );
    assert!(project.contains("id: \"100001\"\n"), "{project}");
    assert!(
        !project.contains("region:"),
        "no region when the server is given: {project}"
    );
    let flag = std::fs::read_to_string(dir.join("flags/checkout-redesign.yaml")).unwrap();
    assert!(
        flag.contains("# yaml-language-server: $schema=../ampx.schema.json\n"),
        "{flag}"
    );
    assert!(
        flag.contains(
            "description: |\n  Line one\n  Line two: with a colon\n\n  # not a comment\n"
        ),
        "a multi-line description is a literal block:\n{flag}"
    );
    assert!(flag.contains("name: \"on\"\n"), "{flag}");
    // No documented answer shows a flag's tags: they stay unmanaged.
    assert!(!flag.contains("tags:"), "{flag}");
    assert!(
        flag.contains("deployments: [api-production, web-production]\n"),
        "by label, sorted:\n{flag}"
    );
    let order: Vec<usize> = [
        "key:",
        "name:",
        "description:",
        "enabled:",
        "evaluationMode:",
        "bucketingKey:",
        "bucketingUnit:",
        "deployments:",
        "variants:",
        "rolloutPercentage:",
        "rolloutWeights:",
        "targetSegments:",
    ]
    .iter()
    .map(|k| {
        flag.find(&format!("\n{k}"))
            .unwrap_or_else(|| panic!("{k}\n{flag}"))
    })
    .collect();
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "fields in manifest order:\n{flag}"
    );
    let v: Vec<usize> = [
        "- key: \"on\"",
        "- key: \"no\"",
        "- key: \"1.0\"",
        "- key: \"off\"",
    ]
    .iter()
    .map(|k| flag.find(k).unwrap_or_else(|| panic!("{k}\n{flag}")))
    .collect();
    assert!(v.windows(2).all(|w| w[0] < w[1]), "live variant order");
    for absent in [
        "bucketingSalt",
        "createdAt",
        "lastModified",
        "\nid:",
        "archived",
        "state",
    ] {
        assert!(!flag.contains(absent), "{absent} is not written:\n{flag}");
    }
    assert!(
        !flag.contains("experimentType") && !flag.contains("stickyBucketing"),
        "experiment fields only for experiments"
    );
    let exp = std::fs::read_to_string(dir.join("experiments/pricing-test.yaml")).unwrap();
    for want in [
        "kind: Experiment\n",
        "experimentType: multi-arm-bandit\n",
        "stickyBucketing: true\n",
        "startDate: \"2026-12-01T00:00:00Z\"\n",
        // The API answers dates as bare days.
        "endDate: \"2027-01-01T00:00:00Z\"\n",
        // The experiment detail shows tags.
        "tags: [\"#x\", \"1.0\", \"a: b\", \"no\", \"null\", web]\n",
    ] {
        assert!(exp.contains(want), "{want}\n{exp}");
    }
    // No documented answer shows the exposure event: it stays unmanaged.
    assert!(!exp.contains("exposureEvent"), "{exp}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn export_reads_back_as_the_live_values_and_plans_empty() {
    let e = Env::builder().start().await;
    seed_tricky(&e);
    let ex = export_lib(&e, &[]).await.unwrap();
    assert!(ex.warnings.is_empty(), "{:?}", ex.warnings);
    let dir = temp_dir("lib");
    ex.write_to(&dir, false).unwrap();
    let set = ampx::manifest::load(std::slice::from_ref(&dir)).unwrap();
    let p = crate::harness::plan(&e, &set).await;
    assert!(p.is_empty(), "{}", render(&p, Style::plain()));

    // The values themselves, not only the absence of a diff.
    let flag = set
        .flags
        .iter()
        .find(|f| f.spec.key == "checkout-redesign")
        .unwrap();
    let s = &flag.spec;
    assert_eq!(s.name.as_deref(), Some("on"));
    assert_eq!(
        s.description.as_deref(),
        Some("Line one\nLine two: with a colon\n\n# not a comment\n")
    );
    let variants = s.variants.as_ref().unwrap();
    let on = &variants[0];
    assert_eq!(on.name.as_deref(), Some("null"));
    assert_eq!(on.description.as_deref(), Some("- x"));
    assert_eq!(
        on.payload,
        Some(
            json!({"layout": "one-page", "on": "off", "ratio": 1.5, "big": 1e20,
                    "list": [1, "2", null, true, "yes"], "nested": {"k": "a: b", "empty": ""}})
        )
    );
    let mut want_inc: Vec<String> = AMBIGUOUS
        .iter()
        .filter(|s| !s.is_empty())
        .map(|s| s.to_string())
        .chain(["alice@example.com".into(), "1234567".into()])
        .collect();
    want_inc.sort();
    assert_eq!(on.inclusions.as_ref(), Some(&want_inc));
    assert_eq!(variants[1].payload, Some(json!(["a", 1, false, "~"])));
    assert_eq!(variants[1].description.as_deref(), Some("two\nlines"));
    assert_eq!(variants[2].key, "1.0");
    assert_eq!(variants[2].payload, Some(json!("yes")));
    assert_eq!(variants[3].payload, Some(json!(42)));
    assert_eq!(variants[4].payload, Some(json!(false)));
    assert_eq!(variants[5].payload, None, "a null payload is no payload");
    assert_eq!(variants[6].payload, Some(json!("multi\nline\npayload")));
    let segs = s.target_segments.as_ref().unwrap();
    assert_eq!(segs[0].conditions[1].prop, "gp:plan");
    assert_eq!(segs[0].conditions[1].values, ["null", "1.0", "a: b"]);
    assert_eq!(segs[1].name, "a: b");
    assert_eq!(segs[1].percentage, Some(0));
    assert_eq!(
        segs[1].rollout_weights, None,
        "weights equal to the flag's are left to default"
    );
    assert_eq!(segs[1].bucketing_key.as_deref(), Some("amplitude_id"));
    assert_eq!(segs[2].rollout_weights.as_ref().map(|w| w.len()), Some(1));
    assert_eq!(
        segs[2].bucketing_key, None,
        "the flag's bucketing key is left to default"
    );
    let null_flag = set.flags.iter().find(|f| f.spec.key == "null").unwrap();
    assert_eq!(null_flag.spec.name.as_deref(), Some(" padded "));
    assert_eq!(
        null_flag.spec.description, None,
        "an empty description is left out"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn stdout_export_is_one_stream_that_loads() {
    let e = Env::builder().start().await;
    seed_tricky(&e);
    let ex = export_lib(&e, &[]).await.unwrap();
    let stream = ex.stream();
    assert_eq!(
        stream.matches("\n---\n").count(),
        3 + 3,
        "three flags and experiments, three deployments: {stream}"
    );
    let set =
        ampx::manifest::load_sources(&[(PathBuf::from("stdout.yaml"), stream.clone())]).unwrap();
    assert_eq!(set.flags.len(), 3);
    let p = crate::harness::plan(&e, &set).await;
    assert!(p.is_empty(), "{}", render(&p, Style::plain()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_limits_the_export_and_an_unknown_key_writes_nothing() {
    let e = Env::builder().start().await;
    seed_tricky(&e);
    let ex = export_lib(&e, &["null", "pricing-test"]).await.unwrap();
    let keys: Vec<(&str, &str)> = ex
        .documents
        .iter()
        .map(|d| (d.kind, d.key.as_str()))
        .collect();
    assert_eq!(
        keys,
        [
            ("Project", "100001"),
            ("Flag", "null"),
            ("Experiment", "pricing-test")
        ]
    );
    assert!(ex.documents[0]
        .header
        .contains("Only the keys (and deployment labels) given with --key: null, pricing-test."));

    e.emu.clear_requests();
    let dir = temp_dir("unknown-key");
    let o = ampx(
        &e,
        &[
            "export",
            "--out",
            dir.to_str().unwrap(),
            "--key",
            "null",
            "--key",
            "checkout-redesing",
            "--key",
            "old-banner",
        ],
    )
    .await;
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("no flag, experiment or group of the project has key `checkout-redesing`, and no deployment has it as label (did you mean `checkout-redesign`?)"),
        "{out}"
    );
    assert!(out.contains("`old-banner` is archived"), "{out}");
    assert!(out.contains("nothing was written"), "{out}");
    assert!(!out.contains("error: error:"), "{out}");
    assert!(!dir.exists(), "no directory, no files");
    assert_eq!(
        e.emu.count("GET", "/api/1/flags/"),
        0,
        "no per-object reads after a bad key"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archived_objects_are_skipped_and_sdk_keys_never_written() {
    let e = Env::builder().start().await;
    seed_tricky(&e);
    let sdk_keys = crate::harness::sdk_keys(&e).await;
    assert_eq!(sdk_keys.len(), 3, "the emulator shows SDK keys");

    let dir = temp_dir("secrets");
    let o = ampx(&e, &["export", "--out", dir.to_str().unwrap()]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o2 = ampx(&e, &["export"]).await;
    assert_eq!(o2.status.code(), Some(0), "{}", text(&o2));
    let stdout = String::from_utf8_lossy(&o2.stdout).into_owned();

    let all = files(&dir);
    for (path, body) in all
        .iter()
        .chain([("stdout".to_string(), stdout.clone())].iter())
    {
        for k in &sdk_keys {
            assert!(!body.contains(k.as_str()), "SDK key in {path}");
        }
        assert!(!body.contains("old-banner"), "archived flag in {path}");
    }
    assert!(!text(&o).contains(&sdk_keys[2]) && !text(&o2).contains(&sdk_keys[2]));
    let project = &all.iter().find(|(p, _)| p == "project.yaml").unwrap().1;
    assert!(
        project.contains(
            "# Archived flags, experiments, deployments and groups are left out: 1 skipped.\n"
        ),
        "{project}"
    );
    assert!(
        stdout.contains("1 skipped"),
        "the stream says so too: {stdout}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn request_count_is_lists_plus_variants_plus_users_and_cohorts() {
    let e = Env::builder().start().await;
    let mut variant_total = 0;
    for i in 0..5 {
        let variants: Vec<Value> = (0..=i % 3)
            .map(|j| json!({"key": format!("v{j}"), "inclusions": [format!("user{i}-{j}")]}))
            .collect();
        variant_total += variants.len();
        e.emu
            .seed_flag(json!({"key": format!("flag-{i}"), "variants": variants}))
            .unwrap();
    }
    e.emu.clear_requests();
    let ex = export_lib(&e, &[]).await.unwrap();
    assert_eq!(ex.flags, 5);
    let reqs = e.emu.requests();
    let exact = |p: &str| reqs.iter().filter(|r| r.path == p).count();
    // The documented list entries do not say which objects are archived:
    // the list of active objects, then the list with archived ones.
    assert_eq!(exact("/api/1/flags"), 2, "two flag list calls");
    assert_eq!(exact("/api/1/experiments"), 2, "two experiment list calls");
    assert_eq!(exact("/api/1/deployments"), 1, "one deployment list call");
    // The list shows no deployment type: each exported deployment's detail.
    let types = reqs
        .iter()
        .filter(|r| r.path.starts_with("/api/1/deployments/"))
        .count();
    assert!(types >= 1, "{reqs:?}");
    assert_eq!(exact("/api/1/mutexes"), 1, "one mutex group list call");
    assert_eq!(exact("/api/1/holdouts"), 1, "one holdout group list call");
    let variants = reqs
        .iter()
        .filter(|r| r.path.ends_with("/variants"))
        .count();
    let users = reqs.iter().filter(|r| r.path.ends_with("/users")).count();
    let cohorts = reqs.iter().filter(|r| r.path.ends_with("/cohorts")).count();
    assert_eq!(variants, 5, "one variants call per flag");
    assert_eq!(users, variant_total, "one users call per variant");
    assert_eq!(cohorts, variant_total, "one cohorts call per variant");
    assert_eq!(
        reqs.len(),
        7 + types + 5 + 2 * variant_total,
        "and nothing else: groups need only their lists"
    );
    assert!(reqs.iter().all(|r| r.method == "GET"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_empty_directory_needs_force_and_force_keeps_other_files() {
    let e = Env::builder().start().await;
    seed_tricky(&e);
    let dir = temp_dir("force");
    std::fs::create_dir_all(dir.join("flags")).unwrap();
    std::fs::write(dir.join("flags/old.yaml"), "# mine\n").unwrap();
    std::fs::write(dir.join("flags/null.yaml"), "# stale\n").unwrap();
    let d = dir.to_str().unwrap();

    let o = ampx(&e, &["export", "--out", d]).await;
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("is not empty"), "{}", text(&o));
    assert!(text(&o).contains("--force"), "{}", text(&o));
    assert!(e.emu.requests().is_empty(), "refused before any API call");
    assert_eq!(
        std::fs::read_to_string(dir.join("flags/null.yaml")).unwrap(),
        "# stale\n"
    );

    let o = ampx(&e, &["export", "--out", d, "--force"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(std::fs::read_to_string(dir.join("flags/null.yaml"))
        .unwrap()
        .contains("key: \"null\""));
    assert_eq!(
        std::fs::read_to_string(dir.join("flags/old.yaml")).unwrap(),
        "# mine\n",
        "other files are kept"
    );
    assert!(
        text(&o).contains("old.yaml was not written by this export"),
        "{}",
        text(&o)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn project_id_comes_from_the_api_or_the_flag() {
    let e = Env::builder().start().await;
    // No flag or experiment yet: the deployment list names the project.
    let o = ampx(&e, &["export"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("id: \"100001\"\n"),
        "{}",
        text(&o)
    );

    let o = ampx(&e, &["export", "--project-id", "100001", "--region", "eu"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(out.contains("id: \"100001\"\n"), "{out}");

    e.emu.seed_flag(json!({"key": "f"})).unwrap();
    let o = ampx(&e, &["export", "--project-id", "999"]).await;
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o).contains("no access to project 999"),
        "{}",
        text(&o)
    );
}

/// A project with a deployment archived, a mutex group whose two slots name
/// experiments and a holdout group, a holdout group, variants with cohorts,
/// and an archived mutex group.
fn seed_groups(e: &Env) {
    let emu = &e.emu;
    emu.seed_experiment(json!({
        "key": "pricing-test",
        "variants": [
            {"key": "control"},
            {"key": "treatment", "cohorts": ["cohort-b", "cohort-a"]}
        ],
        "enabled": true
    }))
    .unwrap();
    emu.seed_experiment(json!({"key": "checkout-copy", "variants": [{"key": "on"}]}))
        .unwrap();
    emu.seed_experiment(json!({"key": "search-ranking", "variants": [{"key": "on"}]}))
        .unwrap();
    emu.seed_flag(json!({
        "key": "new-nav",
        "deployments": ["web-production"],
        "variants": [
            {"key": "on", "cohorts": ["power-users"], "inclusions": ["alice@example.com"]},
            {"key": "off"}
        ]
    }))
    .unwrap();
    emu.seed_holdout(json!({
        "key": "q1-holdout",
        "name": "Q1 holdout",
        "description": "Five percent see nothing new",
        "holdoutPercentage": 5,
        "experiments": ["search-ranking"],
        "individualInclusion": ["bob@example.com"],
        "individualExclusion": ["carol@example.com"]
    }))
    .unwrap();
    emu.seed_mutex(json!({
        "key": "checkout-mutex",
        "name": "Checkout experiments",
        "description": "Only one checkout test per user",
        "evaluationMode": "remote",
        "bucketingKey": "device_id",
        "slots": [
            {"percentage": 60, "experiments": ["pricing-test"], "holdouts": ["q1-holdout"],
             "individuals": ["dave@example.com", "alice@example.com"]},
            {"percentage": 40, "experiments": ["checkout-copy"]}
        ]
    }))
    .unwrap();
    emu.seed_mutex(json!({
        "key": "old-mutex", "archived": true,
        "slots": [{"percentage": 100, "experiments": ["checkout-copy"]}]
    }))
    .unwrap();
}

fn experiment_id(e: &Env, key: &str) -> String {
    e.emu.experiment_json(key).unwrap()["id"].to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployments_groups_and_cohorts_round_trip_by_key_without_sdk_keys() {
    let e = Env::builder().start().await;
    seed_groups(&e);
    let staging = e.emu.deployment_id("web-staging").unwrap();
    crate::harness::patch(
        &e,
        &format!("/api/1/deployments/{staging}"),
        json!({"archive": true}),
    )
    .await;
    let sdk_keys = crate::harness::sdk_keys(&e).await;
    assert_eq!(sdk_keys.len(), 3, "the emulator shows SDK keys");

    let ex = export_lib(&e, &[]).await.unwrap();
    assert!(ex.warnings.is_empty(), "{:?}", ex.warnings);
    assert_eq!(
        (ex.deployments, ex.mutexes, ex.holdouts, ex.archived),
        (2, 1, 1, 1),
        "web-staging is archived (the mutex group list, as documented, shows no archived group)"
    );
    let dir = temp_dir("groups");
    ex.write_to(&dir, false).unwrap();
    let written = files(&dir);
    let paths: Vec<&str> = written.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        paths,
        [
            "ampx.schema.json",
            "deployments/api-production.yaml",
            "deployments/web-production.yaml",
            "experiments/checkout-copy.yaml",
            "experiments/pricing-test.yaml",
            "experiments/search-ranking.yaml",
            "flags/new-nav.yaml",
            "holdouts/q1-holdout.yaml",
            "mutexes/checkout-mutex.yaml",
            "project.yaml"
        ]
    );

    // Round trip: the export plans empty against the project it came from.
    let set = ampx::manifest::load(std::slice::from_ref(&dir)).unwrap();
    let p = crate::harness::plan(&e, &set).await;
    assert!(p.is_empty(), "{}", render(&p, Style::plain()));

    // Groups name experiments and holdout groups by key, never by id.
    let ids: Vec<String> = ["pricing-test", "checkout-copy", "search-ranking"]
        .iter()
        .map(|k| experiment_id(&e, k))
        .chain([e.emu.holdout_json("q1-holdout").unwrap()["id"].to_string()])
        .collect();
    let text_of = |p: &str| &written.iter().find(|(w, _)| w == p).unwrap().1;
    let mutex = text_of("mutexes/checkout-mutex.yaml");
    let holdout = text_of("holdouts/q1-holdout.yaml");
    for body in [mutex, holdout] {
        for id in &ids {
            assert!(!body.contains(id.as_str()), "id {id} in:\n{body}");
        }
        assert!(!body.contains("archived"), "{body}");
    }
    assert!(
        mutex.contains(
            "slots:\n  - percentage: 60\n    experiments: [pricing-test]\n    holdouts: [q1-holdout]\n    individuals: [alice@example.com, dave@example.com]\n  - percentage: 40\n    experiments: [checkout-copy]\n"
        ),
        "{mutex}"
    );
    assert!(
        holdout.contains("experiments: [search-ranking]\n"),
        "{holdout}"
    );
    let m = &set.mutexes[0].spec;
    assert_eq!(m.key, "checkout-mutex");
    assert_eq!(m.name.as_deref(), Some("Checkout experiments"));
    assert_eq!(
        m.description.as_deref(),
        Some("Only one checkout test per user")
    );
    assert_eq!(m.evaluation_mode.map(|x| x.as_str()), Some("remote"));
    assert_eq!(m.bucketing_key.as_deref(), Some("device_id"));
    let slots = m.slots.as_ref().unwrap();
    assert_eq!(slots.len(), 2);
    assert_eq!(
        (slots[0].percentage, slots[1].percentage),
        (60, 40),
        "slots in live order"
    );
    assert_eq!(slots[1].holdouts, None, "an empty list is left out");
    assert_eq!(slots[1].individuals, None);
    let h = &set.holdouts[0].spec;
    assert_eq!(
        (h.key.as_str(), h.name.as_deref(), h.holdout_percentage),
        ("q1-holdout", Some("Q1 holdout"), Some(5))
    );
    assert_eq!(h.evaluation_mode.map(|x| x.as_str()), Some("remote"));
    assert_eq!(h.bucketing_key.as_deref(), Some("amplitude_id"));
    assert_eq!(
        h.individual_inclusion.as_deref(),
        Some(&["bob@example.com".to_string()][..])
    );
    assert_eq!(
        h.individual_exclusion.as_deref(),
        Some(&["carol@example.com".to_string()][..])
    );

    // Deployments: label and type, never the SDK key, archived ones left out.
    let deployments: Vec<(String, Option<&str>, Option<bool>)> = set
        .deployments
        .iter()
        .map(|d| {
            (
                d.spec.label.clone(),
                d.spec.kind.map(|k| k.as_str()),
                d.spec.archived,
            )
        })
        .collect();
    assert_eq!(
        deployments,
        [
            ("api-production".to_string(), Some("server"), None),
            ("web-production".to_string(), Some("client"), None)
        ]
    );
    assert!(
        text_of("deployments/api-production.yaml")
            .ends_with("kind: Deployment\nlabel: api-production\ntype: server\n"),
        "{}",
        text_of("deployments/api-production.yaml")
    );

    // Cohorts: the exact set on each variant; none is left out.
    let variant_cohorts = |key: &str| -> Vec<(String, Option<Vec<String>>)> {
        let f = set.flags.iter().find(|f| f.spec.key == key).unwrap();
        f.spec
            .variants
            .iter()
            .flatten()
            .map(|v| (v.key.clone(), v.cohorts.clone()))
            .collect()
    };
    assert_eq!(
        variant_cohorts("pricing-test"),
        [
            ("control".to_string(), None),
            (
                "treatment".to_string(),
                Some(vec!["cohort-a".to_string(), "cohort-b".to_string()])
            )
        ]
    );
    assert_eq!(
        variant_cohorts("new-nav"),
        [
            ("on".to_string(), Some(vec!["power-users".to_string()])),
            ("off".to_string(), None)
        ]
    );
    let project = text_of("project.yaml");
    assert!(
        project
            .contains(": 1 flag, 3 experiments, 2 deployments, 1 mutex group, 1 holdout group.\n"),
        "{project}"
    );
    assert!(project.contains(": 1 skipped.\n"), "{project}");

    // No SDK key in any file, on stdout or on stderr.
    let o = ampx(&e, &["export"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    for (path, body) in written
        .iter()
        .chain([("the binary's output".to_string(), text(&o))].iter())
    {
        for k in &sdk_keys {
            assert!(!body.contains(k.as_str()), "SDK key in {path}");
        }
        assert!(
            !body.contains("web-staging"),
            "archived deployment in {path}"
        );
        assert!(!body.contains("old-mutex"), "archived group in {path}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn key_selects_groups_by_key_and_deployments_by_label() {
    let e = Env::builder().start().await;
    seed_groups(&e);
    let ex = export_lib(&e, &["checkout-mutex", "q1-holdout", "web-production"])
        .await
        .unwrap();
    let keys: Vec<(&str, &str)> = ex
        .documents
        .iter()
        .map(|d| (d.kind, d.key.as_str()))
        .collect();
    assert_eq!(
        keys,
        [
            ("Project", "100001"),
            ("Deployment", "web-production"),
            ("MutexGroup", "checkout-mutex"),
            ("HoldoutGroup", "q1-holdout")
        ]
    );
    // The groups' experiments are only read: they plan clean on their own.
    let set = ampx::manifest::load_sources(&[(PathBuf::from("stdout.yaml"), ex.stream())]).unwrap();
    let p = crate::harness::plan(&e, &set).await;
    assert!(p.is_empty(), "{}", render(&p, Style::plain()));

    // An archived mutex group is not in the list at all.
    let err = export_lib(&e, &["old-mutex"])
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("has key `old-mutex`"), "{err}");
    let err = export_lib(&e, &["checkout-mutx"])
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("did you mean `checkout-mutex`?"), "{err}");
}

#[tokio::test]
async fn group_members_that_do_not_resolve_are_left_out_with_a_note() {
    let e = Env::builder().start().await;
    seed_groups(&e);
    e.emu
        .seed_experiment(json!({"key": "retired-test", "variants": [{"key": "on"}]}))
        .unwrap();
    e.emu
        .seed_holdout(json!({
            "key": "h2", "holdoutPercentage": 10,
            "experiments": ["retired-test", "checkout-copy"]
        }))
        .unwrap();
    e.emu
        .seed_mutex(json!({
            "key": "m2",
            "slots": [{"percentage": 100, "experiments": ["retired-test"],
                       "individuals": ["erin@example.com"], "cohorts": ["vip"]}]
        }))
        .unwrap();
    let retired = experiment_id(&e, "retired-test");
    crate::harness::patch(
        &e,
        &format!("/api/1/experiments/{retired}"),
        json!({"archive": true}),
    )
    .await;

    let ex = export_lib(&e, &["h2", "m2"]).await.unwrap();
    let doc = |k: &str| ex.documents.iter().find(|d| d.key == k).unwrap();
    let h2 = ex.file_text(doc("h2"));
    assert!(
        h2.contains("# experiments is left out (unmanaged): experiment `retired-test` (id ")
            && h2.contains("is archived"),
        "{h2}"
    );
    assert!(!doc("h2").body.contains("experiments:"), "{h2}");
    assert!(doc("h2").body.contains("holdoutPercentage: 10\n"), "{h2}");
    let m2 = ex.file_text(doc("m2"));
    assert!(
        m2.contains("# slots[0].experiments is left out (unmanaged)"),
        "{m2}"
    );
    assert!(
        m2.contains("# slots[0] includes cohort vip: manifests cannot hold a slot's cohorts"),
        "{m2}"
    );
    assert!(
        doc("m2")
            .body
            .contains("  - percentage: 100\n    individuals: [erin@example.com]\n"),
        "the rest of the slot stays:\n{m2}"
    );
    for (who, what) in [
        ("holdout group `h2`: ", "experiments"),
        ("mutex group `m2`: ", "slots[0].experiments"),
    ] {
        assert!(
            ex.warnings
                .iter()
                .any(|w| w.starts_with(who) && w.contains(what)),
            "{:?}",
            ex.warnings
        );
    }
    let set = ampx::manifest::load_sources(&[(PathBuf::from("stdout.yaml"), ex.stream())]).unwrap();
    let p = crate::harness::plan(&e, &set).await;
    assert!(p.is_empty(), "{}", render(&p, Style::plain()));
}

#[cfg(unix)]
#[tokio::test]
async fn export_never_writes_through_a_symbolic_link_in_the_output_directory() {
    let e = Env::builder()
        .flag(json!({"key": "f", "variants": [{"key": "on"}]}))
        .start()
        .await;
    let base = temp_dir("links");
    let (out, outside) = (base.join("out"), base.join("outside"));
    std::fs::create_dir_all(&out).unwrap();
    std::fs::create_dir_all(outside.join("dir")).unwrap();
    std::fs::write(outside.join("precious.txt"), "keep me").unwrap();
    std::os::unix::fs::symlink(outside.join("precious.txt"), out.join("project.yaml")).unwrap();
    let o = ampx(&e, &["export", "--out", out.to_str().unwrap(), "--force"]).await;
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("project.yaml is a symbolic link"),
        "{}",
        text(&o)
    );
    assert_eq!(
        std::fs::read_to_string(outside.join("precious.txt")).unwrap(),
        "keep me"
    );
    std::fs::remove_file(out.join("project.yaml")).unwrap();
    std::os::unix::fs::symlink(outside.join("dir"), out.join("flags")).unwrap();
    let o = ampx(&e, &["export", "--out", out.to_str().unwrap(), "--force"]).await;
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("flags is a symbolic link"),
        "{}",
        text(&o)
    );
    assert_eq!(std::fs::read_dir(outside.join("dir")).unwrap().count(), 0);
    assert!(
        !out.join("project.yaml").exists(),
        "nothing is written when a link is found"
    );
}

#[tokio::test]
async fn a_key_too_long_for_a_file_name_is_written_under_a_shortened_name() {
    let long = "k".repeat(300);
    let e = Env::builder()
        .flag(json!({"key": long, "variants": [{"key": "on"}]}))
        .flag(json!({"key": format!("{long}-2"), "variants": [{"key": "on"}]}))
        .start()
        .await;
    let out = temp_dir("long");
    let d = out.to_str().unwrap();
    let o = ampx(&e, &["export", "--out", d]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let names: Vec<String> = std::fs::read_dir(out.join("flags"))
        .unwrap()
        .map(|f| f.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names.iter().all(|n| n.len() < 255), "{names:?}");
    let o = ampx(&e, &["plan", d, "--detailed-exitcode"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

/// The entries of `dir`, sorted: what a user sees with `ls -A`.
fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|f| f.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn an_export_that_fails_leaves_the_directory_as_it_found_it() {
    let e = Env::builder()
        .flag(json!({"key": "a", "variants": [{"key": "on"}]}))
        .flag(json!({"key": "b", "variants": [{"key": "on"}]}))
        .start()
        .await;
    let out = temp_dir("half");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("project.yaml"), "# an older export\n").unwrap();
    // Where export would write flags/b.yaml stands a directory: the export
    // cannot finish, and must not have replaced project.yaml or written
    // flags/a.yaml by then.
    std::fs::create_dir_all(out.join("flags/b.yaml")).unwrap();
    let before = files(&out);
    let o = ampx(&e, &["export", "--out", out.to_str().unwrap(), "--force"]).await;
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("b.yaml is not a regular file"),
        "{}",
        text(&o)
    );
    assert_eq!(files(&out), before);
    assert_eq!(entries(&out), ["flags", "project.yaml"]);
    assert_eq!(entries(&out.join("flags")), ["b.yaml"]);
    // Once the obstacle is gone, the same export writes everything.
    std::fs::remove_dir(out.join("flags/b.yaml")).unwrap();
    let o = ampx(&e, &["export", "--out", out.to_str().unwrap(), "--force"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(entries(&out.join("flags")), ["a.yaml", "b.yaml"]);
    assert!(
        entries(&out).iter().all(|n| !n.starts_with(".ampx-export")),
        "{:?}",
        entries(&out)
    );
}

/// An answer that marks an experiment as made in Web Experimentation (the
/// kinder emulator shows `type: web`): export leaves it out, with a note.
#[tokio::test]
async fn export_leaves_out_an_experiment_an_answer_marks_as_web() {
    let config = ampx::emulator::EmulatorConfig {
        api_key: KEY.into(),
        lenient: true,
        ..Default::default()
    };
    let emu = ampx::emulator::start(config, ([127, 0, 0, 1], 0).into())
        .await
        .unwrap();
    emu.seed_experiment(json!({"key": "web-test", "type": "web"}))
        .unwrap();
    emu.seed_experiment(json!({"key": "feature-test"})).unwrap();
    let o = Ampx::at(&emu.base_url)
        .key(KEY)
        .args(&["export"])
        .run()
        .await;
    let (out, err) = (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    );
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert!(
        out.contains("key: feature-test") && !out.contains("key: web-test"),
        "{out}"
    );
    assert!(
        err.contains("experiment `web-test` is left out: a web or Guides & Surveys experiment"),
        "{err}"
    );
}
