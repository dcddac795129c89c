//! One manifest set for several projects: `--env` picks the environment,
//! its Project's `apiKeyEnv` the key, and its overrides the values.

use crate::harness::{temp_dir, text, write, Ampx, Env, KEY};

const SET: &str = "apiVersion: ampx/v1
kind: Project
environment: staging
id: \"100001\"
apiKeyEnv: KEY_STAGING
---
apiVersion: ampx/v1
kind: Project
environment: prod
id: \"100002\"
apiKeyEnv: KEY_PROD
---
apiVersion: ampx/v1
kind: Flag
key: checkout
rolloutPercentage: 100
environments:
  prod:
    rolloutPercentage: 10
---
apiVersion: ampx/v1
kind: Flag
key: preview
onlyIn: [staging]
";

fn manifests(name: &str) -> String {
    let dir = temp_dir(name);
    write(&dir, "m.yaml", SET);
    dir.to_string_lossy().into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_environment_plans_and_applies_its_own_project_with_its_own_key() {
    let e = Env::builder().other_project("100002").start().await;
    let m = manifests("envs");
    let url = e.emu.base_url.clone();
    let run = |args: Vec<&str>| {
        Ampx::at(&url)
            .var("KEY_STAGING", KEY)
            .var("KEY_PROD", KEY)
            .args(&args)
            .run()
    };

    // Several environments and no --env: refused, naming them, before any call.
    let o = run(vec!["plan", &m]).await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    assert!(
        err.contains("several environments (staging, prod)"),
        "{err}"
    );
    assert!(e.emu.requests().is_empty());

    let o = run(vec!["--env", "prod", "plan", &m]).await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert!(
        out.starts_with(&format!(
            "Plan for environment prod, project 100002 on {url}"
        )),
        "{out}"
    );
    assert!(out.contains("+ rolloutPercentage: 10"), "{out}");
    assert!(!out.contains("preview"), "staging only: {out}");

    for env in ["prod", "staging"] {
        let o = run(vec!["--env", env, "apply", &m, "--auto-approve"]).await;
        assert_eq!(o.status.code(), Some(0), "{env}: {:?}", text(&o));
    }
    let flags = e.emu.requests();
    let created_in: Vec<String> = flags
        .iter()
        .filter(|r| r.method == "POST" && r.path == "/api/1/flags")
        .map(|r| r.body.as_ref().unwrap()["projectId"].to_string())
        .collect();
    assert_eq!(created_in.len(), 3, "{created_in:?}");
    assert!(created_in.iter().filter(|p| p.contains("100002")).count() == 1);

    // Each environment plans clean against its own project.
    for env in ["prod", "staging"] {
        let o = run(vec!["--env", env, "plan", &m, "--detailed-exitcode"]).await;
        assert_eq!(o.status.code(), Some(0), "{env}: {:?}", text(&o));
    }
}

#[tokio::test]
async fn the_key_comes_from_the_environments_variable_named_not_shown() {
    let m = manifests("envs-key");
    let o = Ampx::at("http://127.0.0.1:9")
        .var("AMPLITUDE_MANAGEMENT_API_KEY", KEY)
        .args(&["--env", "prod", "plan", &m])
        .run()
        .await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    assert!(err.contains("KEY_PROD is not set"), "{err}");
    assert!(!err.contains(KEY), "{err}");
}

#[tokio::test]
async fn validate_checks_every_environment() {
    let m = manifests("envs-validate");
    let o = Ampx::at("http://127.0.0.1:9")
        .args(&["validate", &m, "--all-envs"])
        .run()
        .await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert!(out.contains("valid in every environment"), "{out}");
    assert!(
        out.contains("  staging: project 100001, 2 flag(s)"),
        "{out}"
    );
    assert!(out.contains("  prod: project 100002, 1 flag(s)"), "{out}");
    let o = Ampx::at("http://127.0.0.1:9")
        .args(&["--env", "prod", "validate", &m])
        .run()
        .await;
    assert!(
        text(&o).0.contains("project 100002, 1 flag(s)"),
        "{:?}",
        text(&o)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_and_drift_cover_every_environment_with_one_summary() {
    let e = Env::builder().other_project("100002").start().await;
    let m = manifests("envs-all");
    let url = e.emu.base_url.clone();
    let run = |args: Vec<&str>| {
        Ampx::at(&url)
            .var("KEY_STAGING", KEY)
            .var("KEY_PROD", KEY)
            .args(&args)
            .run()
    };
    let o = run(vec!["plan", &m, "--all-envs", "--detailed-exitcode"]).await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}{err}");
    assert!(
        out.contains("Plan for environment staging, project 100001"),
        "{out}"
    );
    assert!(
        out.contains("Plan for environment prod, project 100002"),
        "{out}"
    );
    assert!(
        out.contains("Environments: staging: 2 to create, 0 to change, 0 to archive; prod: 1 to create, 0 to change, 0 to archive."),
        "{out}"
    );
    let o = run(vec!["plan", &m, "--all-envs", "--format", "json"]).await;
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let envs: Vec<&str> = doc["environments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["environment"].as_str().unwrap())
        .collect();
    assert_eq!(envs, ["staging", "prod"]);
    let o = run(vec!["plan", &m, "--all-envs", "--format", "markdown"]).await;
    assert!(
        text(&o).0.contains("## Environment `prod`"),
        "{}",
        text(&o).0
    );

    // Applied in staging only: drift says prod differs, and exits 2.
    let o = run(vec!["--env", "staging", "apply", &m, "--auto-approve"]).await;
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    let o = run(vec!["drift", &m, "--all-envs"]).await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}{err}");
    assert!(
        out.contains("staging: no changes; prod: 1 to create"),
        "{out}"
    );
}

/// The after-value of one planned change: `path` of the `kind` object `key`
/// in a JSON plan.
fn planned(doc: &serde_json::Value, kind: &str, key: &str, path: &str) -> serde_json::Value {
    let object = doc["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["kind"] == kind && o["key"] == key)
        .unwrap_or_else(|| panic!("no {kind} {key} in the plan: {doc}"));
    object["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["path"] == path)
        .unwrap_or_else(|| panic!("no change to {path} of {kind} {key}: {object}"))["after"]
        .clone()
}

/// The manifests in examples/environments: valid in every environment, and
/// each environment's plan, against its own project, carries that
/// environment's values; applied everywhere, every project matches.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_environments_plan_and_apply_each_project_with_its_values() {
    let m = "examples/environments";
    let envs = [("dev", "412001"), ("staging", "412002"), ("prod", "412003")];

    let o = Ampx::at("http://127.0.0.1:9")
        .args(&["validate", m, "--all-envs"])
        .run()
        .await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert!(out.contains("valid in every environment"), "{out}");
    for (env, project) in envs {
        assert!(
            out.contains(&format!("  {env}: project {project}, ")),
            "{out}"
        );
        let o = Ampx::at("http://127.0.0.1:9")
            .args(&["--env", env, "validate", m])
            .run()
            .await;
        assert_eq!(o.status.code(), Some(0), "{env}: {:?}", text(&o));
    }

    let e = Env::builder()
        .other_project("412001")
        .other_project("412002")
        .other_project("412003")
        .start()
        .await;
    let url = e.emu.base_url.clone();
    let run = |args: Vec<&str>| {
        Ampx::at(&url)
            .var("AMPLITUDE_MANAGEMENT_API_KEY_DEV", KEY)
            .var("AMPLITUDE_MANAGEMENT_API_KEY_STAGING", KEY)
            .var("AMPLITUDE_MANAGEMENT_API_KEY_PROD", KEY)
            .args(&args)
            .run()
    };

    let mut plans = std::collections::BTreeMap::new();
    for (env, project) in envs {
        let o = run(vec!["--env", env, "plan", m, "--detailed-exitcode"]).await;
        let (out, err) = text(&o);
        assert_eq!(o.status.code(), Some(2), "{env}: {out}{err}");
        assert!(
            out.starts_with(&format!(
                "Plan for environment {env}, project {project} on {url}"
            )),
            "{out}"
        );
        assert!(
            out.contains("+ flag checkout-redesign will be created"),
            "{out}"
        );
        // Only in dev and staging: the preview deployment and the flag on it.
        let preview = env != "prod";
        assert_eq!(out.contains("debug-panel"), preview, "{env}: {out}");
        assert_eq!(out.contains("web-preview"), preview, "{env}: {out}");
        let o = run(vec!["--env", env, "plan", m, "--format", "json"]).await;
        let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(doc["environment"], env);
        assert_eq!(doc["project"], project);
        plans.insert(env, doc);
    }

    // The rollout steps up from prod to dev.
    let rollout = |env: &str| {
        planned(
            &plans[env],
            "flag",
            "checkout-redesign",
            "rolloutPercentage",
        )
    };
    assert_eq!(
        [rollout("dev"), rollout("staging"), rollout("prod")],
        [100, 50, 10]
    );
    // Prod replaces the deployments list, and its override of variant `on`
    // changes the inclusions only: the payload stays.
    let flag = |env: &str, path: &str| planned(&plans[env], "flag", "checkout-redesign", path);
    assert_eq!(
        flag("staging", "deployments"),
        serde_json::json!(["web-staging"])
    );
    assert_eq!(
        flag("prod", "deployments"),
        serde_json::json!(["web-production"])
    );
    assert_eq!(
        flag("staging", "variants.on.inclusions"),
        serde_json::json!(["qa@example.com"])
    );
    assert_eq!(
        flag("prod", "variants.on.inclusions"),
        serde_json::json!([
            "pilot-customer-1042",
            "pilot-customer-2210",
            "qa@example.com"
        ])
    );
    assert_eq!(
        flag("prod", "variants.on")["payload"],
        serde_json::json!({"layout": "one-page", "steps": 1})
    );
    // The experiment sells the live price in prod (its payload merged key by
    // key) and waits there, off, while it runs elsewhere.
    let experiment =
        |env: &str, path: &str| planned(&plans[env], "experiment", "pricing-page-test", path);
    assert_eq!(
        experiment("staging", "variants.treatment")["payload"],
        serde_json::json!({"default_billing": "annual", "price_id": "price_test_annual"})
    );
    assert_eq!(
        experiment("prod", "variants.treatment")["payload"],
        serde_json::json!({"default_billing": "annual", "price_id": "price_live_annual"})
    );
    assert_eq!(experiment("staging", "enabled"), true);
    assert_eq!(experiment("prod", "enabled"), false);

    // Applied in every environment, each project matches its manifests.
    for (env, _) in envs {
        let o = run(vec!["--env", env, "apply", m, "--auto-approve"]).await;
        assert_eq!(o.status.code(), Some(0), "{env}: {:?}", text(&o));
    }
    let debug_panel_in: Vec<String> = e
        .emu
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path == "/api/1/flags")
        .filter_map(|r| r.body.as_ref())
        .filter(|b| b["key"] == "debug-panel")
        .map(|b| b["projectId"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(debug_panel_in, ["412001", "412002"]);
    let o = run(vec!["plan", m, "--all-envs", "--detailed-exitcode"]).await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert!(
        out.contains("Environments: dev: no changes; staging: no changes; prod: no changes."),
        "{out}"
    );
}
