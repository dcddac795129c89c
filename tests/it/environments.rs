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
