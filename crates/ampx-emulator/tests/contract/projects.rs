//! Several projects behind one key: every object belongs to one, keys are
//! unique per project, flag and experiment lists filter by `projectId`, the
//! other lists show every project's objects.

use serde_json::{json, Value};

use crate::harness::*;

const OTHER: &str = "200002";

fn keys_and_projects(list: &Value, field: &str) -> Vec<(String, String)> {
    list[field]
        .as_array()
        .unwrap_or_else(|| panic!("no {field} in {list}"))
        .iter()
        .map(|x| {
            (
                x["key"].as_str().unwrap_or("").to_owned(),
                x["projectId"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

/// The id of `project`'s deployment with this label.
async fn deployment_of(api: &Api, project: &str, label: &str) -> u64 {
    let list = api.get("/api/1/deployments").await.ok().json();
    list["deployments"]
        .as_array()
        .expect("deployments")
        .iter()
        .find(|d| d["projectId"] == json!(project) && d["label"] == json!(label))
        .and_then(|d| d["id"].as_u64())
        .unwrap_or_else(|| panic!("no {label} in {project}"))
}

#[tokio::test]
async fn flags_and_experiments_belong_to_a_project_and_lists_filter_by_it() {
    let (handle, api) = start_with_projects(&[OTHER]).await;
    let answer = api
        .post("/api/1/flags", json!({"projectId": OTHER, "key": "shared"}))
        .await;
    let created = answer.ok().json();
    let id = created["id"].as_str().expect("id");
    assert_eq!(
        created["url"],
        json!(format!(
            "http://experiment.amplitude.com/amplitude/{OTHER}/config/{id}"
        ))
    );
    // The same key in another project is another flag; twice in one is a 409.
    api.create_flag(json!({"projectId": 100001, "key": "shared"}))
        .await;
    assert_error(
        &api.post("/api/1/flags", json!({"projectId": OTHER, "key": "shared"}))
            .await,
        409,
    );
    assert_error(
        &api.post("/api/1/flags", json!({"projectId": "999", "key": "x"}))
            .await,
        403,
    );
    assert_error(&api.post("/api/1/flags", json!({"key": "x"})).await, 400);
    api.create_experiment(json!({"projectId": OTHER, "key": "other-exp"}))
        .await;
    handle
        .seed_experiment(json!({"key": "home-exp"}))
        .expect("seeded");
    // One key space per project: not even an experiment may take it there.
    assert_error(
        &api.post(
            "/api/1/experiments",
            json!({"projectId": OTHER, "key": "shared"}),
        )
        .await,
        409,
    );

    let all = api.get("/api/1/flags").await.ok().json();
    assert_eq!(
        keys_and_projects(&all, "flags"),
        pairs(&[("shared", "100001"), ("shared", OTHER)])
    );
    let other = api
        .get(&format!("/api/1/flags?projectId={OTHER}"))
        .await
        .ok()
        .json();
    assert_eq!(
        keys_and_projects(&other, "flags"),
        pairs(&[("shared", OTHER)])
    );
    let home = api.get("/api/1/flags?projectId=100001").await.ok().json();
    assert_eq!(
        keys_and_projects(&home, "flags"),
        pairs(&[("shared", "100001")])
    );
    assert_error(&api.get("/api/1/flags?projectId=999").await, 403);
    let experiments = api
        .get(&format!("/api/1/experiments?projectId={OTHER}"))
        .await
        .ok()
        .json();
    assert_eq!(
        keys_and_projects(&experiments, "experiments"),
        pairs(&[("other-exp", OTHER)])
    );
    assert_eq!(
        api.get("/api/1/experiments").await.ok().json()["experiments"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    // The flag of the default project is the one the helpers find.
    assert_eq!(
        handle.flag_json("shared").expect("stored")["projectId"],
        json!("100001")
    );
    // Versions of every project.
    let versions = api.get("/api/1/versions").await.ok().json();
    let projects: Vec<&Value> = versions["versions"]
        .as_array()
        .expect("versions")
        .iter()
        .map(|v| &v["flagConfig"]["projectId"])
        .collect();
    assert!(projects.contains(&&json!(OTHER)) && projects.contains(&&json!("100001")));
    handle.shutdown().await;
}

#[tokio::test]
async fn deployments_are_per_project_and_a_flag_uses_its_own() {
    let (handle, api) = start_with_projects(&[OTHER]).await;
    let list = api.get("/api/1/deployments").await.ok().json();
    let labels: Vec<(String, String)> = list["deployments"]
        .as_array()
        .expect("deployments")
        .iter()
        .map(|d| {
            (
                d["label"].as_str().unwrap_or("").to_owned(),
                d["projectId"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    assert_eq!(
        labels,
        pairs(&[
            ("web-production", "100001"),
            ("web-staging", "100001"),
            ("api-production", "100001"),
            ("web-production", OTHER),
            ("web-staging", OTHER),
            ("api-production", OTHER),
        ]),
        "every project starts with the same three"
    );
    let home_web = deployment_of(&api, "100001", "web-production").await;
    let other_web = deployment_of(&api, OTHER, "web-production").await;
    assert_eq!(
        handle.deployment_id("web-production"),
        Some(home_web.to_string())
    );
    assert_eq!(
        api.get(&format!("/api/1/deployments/{other_web}"))
            .await
            .ok()
            .json()["projectId"],
        json!(OTHER)
    );

    // A flag's deployments must be of the flag's project.
    let refused = api
        .post(
            "/api/1/flags",
            json!({"projectId": OTHER, "key": "f", "deployments": [home_web]}),
        )
        .await;
    assert_error(&refused, 400);
    assert!(
        refused.text.contains(&home_web.to_string()),
        "{}",
        refused.text
    );
    let flag = api
        .create_flag(json!({"projectId": OTHER, "key": "f", "deployments": [other_web]}))
        .await;
    assert_error(
        &api.post(
            &format!("/api/1/flags/{flag}/deployments"),
            json!({"deployments": [home_web]}),
        )
        .await,
        400,
    );
    // Seeding reads labels in the flag's project.
    let seeded = handle
        .seed_flag(json!({"projectId": OTHER, "key": "seeded", "deployments": ["web-production"]}))
        .expect("seeded");
    assert_eq!(
        api.get(&format!("/api/1/flags/{seeded}")).await.ok().json()["deployments"],
        json!([other_web])
    );
    assert!(handle
        .seed_flag(json!({"projectId": "999", "key": "nowhere"}))
        .is_err());

    // Labels are unique per project; a project the key does not see is a 403.
    assert_error(
        &api.post(
            "/api/1/deployments",
            json!({"projectId": OTHER, "label": "web-production", "type": "client"}),
        )
        .await,
        409,
    );
    let created = api
        .post(
            "/api/1/deployments",
            json!({"projectId": OTHER, "label": "edge", "type": "server"}),
        )
        .await
        .ok()
        .json();
    let edge = created["id"].as_str().expect("id");
    assert_eq!(
        api.get(&format!("/api/1/deployments/{edge}"))
            .await
            .ok()
            .json()["projectId"],
        json!(OTHER)
    );
    api.post(
        "/api/1/deployments",
        json!({"projectId": "100001", "label": "edge", "type": "server"}),
    )
    .await
    .ok();
    assert_error(
        &api.post(
            "/api/1/deployments",
            json!({"projectId": "999", "label": "x", "type": "server"}),
        )
        .await,
        403,
    );
    handle.shutdown().await;
}

#[tokio::test]
async fn groups_belong_to_a_project_and_name_only_its_experiments() {
    let (handle, api) = start_with_projects(&[OTHER]).await;
    let home = api
        .create_experiment(json!({"projectId": "100001", "key": "home"}))
        .await;
    let away = api
        .create_experiment(json!({"projectId": OTHER, "key": "away"}))
        .await;
    let refused = api
        .post(
            "/api/1/mutexes",
            json!({"projectId": 200002, "name": "M", "key": "m",
                   "slots": [{"percentage": 100, "experiments": [num(&home)]}]}),
        )
        .await;
    assert_error(&refused, 400);
    assert!(refused.text.contains(&home), "{}", refused.text);
    api.create_group(
        "/api/1/mutexes",
        json!({"projectId": 200002, "name": "M", "key": "m",
               "slots": [{"percentage": 100, "experiments": [num(&away)]}]}),
    )
    .await;
    // Keys are per project: `m` is free in the default project.
    let holdout = api
        .create_group(
            "/api/1/holdouts",
            json!({"projectId": 100001, "name": "H", "key": "m", "holdoutPercentage": 5,
                   "experiments": [num(&home)]}),
        )
        .await;
    assert_error(
        &api.patch(
            &format!("/api/1/holdouts/{holdout}"),
            json!({"experiments": [num(&away)]}),
        )
        .await,
        400,
    );
    assert_error(
        &api.post(
            "/api/1/holdouts",
            json!({"projectId": 200002, "name": "H", "key": "away", "holdoutPercentage": 5}),
        )
        .await,
        409,
    );
    assert_error(
        &api.post(
            "/api/1/holdouts",
            json!({"projectId": 999, "name": "H", "holdoutPercentage": 5}),
        )
        .await,
        403,
    );
    // Group lists take no projectId: every project's groups, each with its own.
    let mutexes = api.get("/api/1/mutexes").await.ok().json();
    assert_eq!(
        keys_and_projects(&mutexes, "mutexes"),
        pairs(&[("m", OTHER)])
    );
    let holdouts = api.get("/api/1/holdouts").await.ok().json();
    assert_eq!(
        keys_and_projects(&holdouts, "holdouts"),
        pairs(&[("m", "100001")])
    );
    assert!(handle
        .seed_holdout(json!({"projectId": OTHER, "key": "h2", "holdoutPercentage": 5, "experiments": ["home"]}))
        .is_err());
    handle
        .seed_holdout(
            json!({"projectId": OTHER, "key": "h2", "holdoutPercentage": 5, "experiments": ["away"]}),
        )
        .expect("seeded");
    handle.shutdown().await;
}

#[tokio::test]
async fn projects_must_be_named_once_each() {
    for others in [
        vec!["100001".to_owned()],
        vec![String::new()],
        vec!["2".to_owned(), "2".to_owned()],
    ] {
        let started = emulator::start(
            EmulatorConfig {
                other_projects: others.clone(),
                ..EmulatorConfig::default()
            },
            "127.0.0.1:0".parse().expect("address"),
        )
        .await;
        assert!(started.is_err(), "{others:?}");
    }
}

#[tokio::test]
async fn state_files_keep_projects_and_older_ones_load_into_the_default_project() {
    let dir = scratch_dir("projects-state");
    let state_file = dir.join("state.json");
    let config = EmulatorConfig {
        api_key: KEY.to_owned(),
        other_projects: vec![OTHER.to_owned()],
        state_file: Some(state_file.clone()),
        ..EmulatorConfig::default()
    };
    let (handle, api) = start_with(config.clone()).await;
    api.create_flag(json!({"projectId": OTHER, "key": "away"}))
        .await;
    handle.shutdown().await;
    let (handle, api) = start_with(config.clone()).await;
    let listed = api.get("/api/1/flags").await.ok().json();
    assert_eq!(
        keys_and_projects(&listed, "flags"),
        pairs(&[("away", OTHER)])
    );
    handle.shutdown().await;

    // A file from before projects: no `projectId`, no version order.
    let mut saved: Value =
        serde_json::from_str(&std::fs::read_to_string(&state_file).expect("read")).expect("json");
    saved
        .as_object_mut()
        .expect("object")
        .remove("nextVersionSeq");
    for list in ["deployments", "objects"] {
        for item in saved[list].as_array_mut().expect("list") {
            let item = item.as_object_mut().expect("object");
            item.remove("projectId");
            for version in item
                .get_mut("versions")
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
            {
                version.as_object_mut().expect("version").remove("seq");
            }
        }
    }
    std::fs::write(&state_file, saved.to_string()).expect("write");
    let (handle, api) = start_with(config).await;
    let listed = api.get("/api/1/flags").await.ok().json();
    assert_eq!(
        keys_and_projects(&listed, "flags"),
        pairs(&[("away", "100001")])
    );
    let id = api
        .create_flag(json!({"projectId": "100001", "key": "next"}))
        .await;
    assert_ok_text(
        &api.patch(&format!("/api/1/flags/{id}"), json!({"name": "Next"}))
            .await,
    );
    let versions = api.get("/api/1/versions").await.ok().json();
    let keys: Vec<&Value> = versions["versions"]
        .as_array()
        .expect("versions")
        .iter()
        .map(|v| &v["flagConfig"]["key"])
        .collect();
    assert_eq!(keys, [&json!("next"), &json!("next"), &json!("away")]);
    handle.shutdown().await;
    std::fs::remove_dir_all(&dir).ok();
}
