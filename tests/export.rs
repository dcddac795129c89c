//! `ampx export` against the in-process emulator: the export plans clean,
//! YAML-ambiguous text survives, archived objects and SDK keys stay out,
//! `--key` limits, and the request count is what the API budget allows.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use ampx::export::{self, Export};
use ampx::render::text::{render, Style};
use common::{env, Env, KEY};
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
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ampx"));
    cmd.args(args)
        .env("AMPX_SERVER", &e.emu.base_url)
        .env("AMPLITUDE_MANAGEMENT_API_KEY", KEY)
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null());
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
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
        "tags": ["pricing"]
    }))
    .unwrap();
    emu.seed_flag(json!({"key": "old-banner", "archived": true}))
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_plans_clean_through_the_binary() {
    let e = env().await;
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
        project.starts_with("# Exported by ampx from project 100001: 2 flags, 1 experiment.\n"),
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
    assert!(
        flag.contains("tags: [\"#x\", \"1.0\", \"a: b\", \"no\", \"null\", web]\n"),
        "tags sorted and quoted:\n{flag}"
    );
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
        "tags:",
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
        "endDate: \"2027-01-01T00:00:00.000Z\"\n",
        "  event_type: viewed pricing page\n",
    ] {
        assert!(exp.contains(want), "{want}\n{exp}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn export_reads_back_as_the_live_values_and_plans_empty() {
    let e = env().await;
    seed_tricky(&e);
    let ex = export_lib(&e, &[]).await.unwrap();
    assert!(ex.warnings.is_empty(), "{:?}", ex.warnings);
    let dir = temp_dir("lib");
    ex.write_to(&dir, false).unwrap();
    let set = ampx::manifest::load(std::slice::from_ref(&dir)).unwrap();
    let p = common::plan(&e, &set).await;
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
    let e = env().await;
    seed_tricky(&e);
    let ex = export_lib(&e, &[]).await.unwrap();
    let stream = ex.stream();
    assert_eq!(stream.matches("\n---\n").count(), 3, "{stream}");
    let set =
        ampx::manifest::load_sources(&[(PathBuf::from("stdout.yaml"), stream.clone())]).unwrap();
    assert_eq!(set.flags.len(), 3);
    let p = common::plan(&e, &set).await;
    assert!(p.is_empty(), "{}", render(&p, Style::plain()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_limits_the_export_and_an_unknown_key_writes_nothing() {
    let e = env().await;
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
        .contains("Only the keys given with --key: null, pricing-test."));

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
        out.contains("no flag or experiment of the project has key `checkout-redesing` (did you mean `checkout-redesign`?)"),
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
    let e = env().await;
    seed_tricky(&e);
    let sdk_keys = common::sdk_keys(&e).await;
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
        project.contains("# Archived flags and experiments are left out: 1 skipped.\n"),
        "{project}"
    );
    assert!(
        stdout.contains("1 skipped"),
        "the stream says so too: {stdout}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn request_count_is_lists_plus_variants_plus_users() {
    let e = env().await;
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
    assert_eq!(exact("/api/1/flags"), 1, "one flag list call");
    assert_eq!(exact("/api/1/experiments"), 1, "one experiment list call");
    assert_eq!(exact("/api/1/deployments"), 1, "one deployment list call");
    let variants = reqs
        .iter()
        .filter(|r| r.path.ends_with("/variants"))
        .count();
    let users = reqs.iter().filter(|r| r.path.ends_with("/users")).count();
    assert_eq!(variants, 5, "one variants call per flag");
    assert_eq!(users, variant_total, "one users call per variant");
    assert_eq!(reqs.len(), 3 + 5 + variant_total, "and nothing else");
    assert!(reqs.iter().all(|r| r.method == "GET"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_empty_directory_needs_force_and_force_keeps_other_files() {
    let e = env().await;
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
    let e = env().await;
    let o = ampx(&e, &["export"]).await;
    assert_eq!(o.status.code(), Some(1), "an empty project names no id");
    assert!(text(&o).contains("--project-id"), "{}", text(&o));

    let o = ampx(&e, &["export", "--project-id", "100001", "--region", "eu"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(out.contains("id: \"100001\"\n"), "{out}");

    e.emu.seed_flag(json!({"key": "f"})).unwrap();
    let o = ampx(&e, &["export", "--project-id", "999"]).await;
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o).contains("belong to project 100001"),
        "{}",
        text(&o)
    );
}
