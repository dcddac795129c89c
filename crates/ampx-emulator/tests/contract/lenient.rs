//! Lenient mode (`EmulatorConfig::lenient`): the emulator's older, kinder
//! answers, kept for demos and for the CLI's tests until the client reads
//! the documented shapes. (Its activate, deactivate, rollout-weights and web
//! experiment behaviour is in `experiments.rs`.)

use serde_json::json;

use crate::harness::*;

#[tokio::test]
async fn lenient_answers_show_every_field_as_stored() {
    let (handle, api) = start_lenient().await;
    let flag = handle
        .seed_flag(json!({"key": "f", "tags": ["web"], "archived": true}))
        .expect("seeded");
    let experiment = handle
        .seed_experiment(json!({
            "key": "e",
            "tags": ["t"],
            "startDate": "2023-07-29T23:30:00-02:00",
            "exposureEvent": {"event_type": "viewed", "filters": []}
        }))
        .expect("seeded");
    let listed = api
        .get("/api/1/flags?includeArchived=true")
        .await
        .ok()
        .json();
    let entry = &listed["flags"][0];
    assert_eq!(entry["tags"], json!(["web"]));
    assert_eq!(entry["archived"], json!(true));
    assert_eq!(entry["deleted"], json!(true));
    assert!(entry.get("createdBy").is_none());
    let detail = api.get(&format!("/api/1/flags/{flag}")).await.ok().json();
    assert_eq!(&detail, entry, "lists and details share one shape");
    let stored = handle.flag_json("f").expect("stored");
    for (field, value) in detail.as_object().expect("object") {
        if field != "variants" {
            assert_eq!(&stored[field], value, "{field}");
        }
    }

    let shown = api.experiment(&experiment).await;
    assert_eq!(shown["startDate"], json!("2023-07-29T23:30:00-02:00"));
    assert_eq!(shown["exposureEvent"]["event_type"], json!("viewed"));
    assert_eq!(shown["tags"], json!(["t"]));
    assert_eq!(shown["archived"], json!(false));
    assert_eq!(shown["createdBy"], json!("ampx-emulator"));

    let versions = api
        .get(&format!("/api/1/experiments/{experiment}/versions"))
        .await
        .ok()
        .json();
    assert_eq!(versions[0]["createdBy"], json!("ampx-emulator"));
    let config = &versions[0]["flagConfig"];
    for field in [
        "tags",
        "archived",
        "deleted",
        "exposureEvent",
        "state",
        "rolloutPercentage",
    ] {
        assert!(config.get(field).is_some(), "{field}");
    }
    let all = api.get("/api/1/versions").await.ok().json();
    assert_eq!(all["versions"][0], versions[0]);

    let deployments = api.get("/api/1/deployments").await.ok().json();
    assert_eq!(deployments["deployments"][0]["type"], json!("client"));
    handle.shutdown().await;
}

#[tokio::test]
async fn lenient_group_lists_take_include_archived_and_mutexes_show_deleted() {
    let (handle, api) = start_lenient().await;
    let mutex = api
        .create_group(
            "/api/1/mutexes",
            json!({"projectId": 100001, "name": "M", "key": "m", "slots": [{"percentage": 100}]}),
        )
        .await;
    let holdout = api
        .create_group(
            "/api/1/holdouts",
            json!({"projectId": 100001, "name": "H", "key": "h", "holdoutPercentage": 5}),
        )
        .await;
    assert_eq!(
        api.get(&format!("/api/1/mutexes/{mutex}"))
            .await
            .ok()
            .json()["deleted"],
        json!(false)
    );
    assert_eq!(
        api.get(&format!("/api/1/holdouts/{holdout}"))
            .await
            .ok()
            .json()["createdBy"],
        json!("ampx-emulator")
    );
    for (path, id) in [("mutexes", &mutex), ("holdouts", &holdout)] {
        assert_ok_text(
            &api.patch(&format!("/api/1/{path}/{id}"), json!({"archive": true}))
                .await,
        );
        let live = api.get(&format!("/api/1/{path}")).await.ok().json();
        assert_eq!(live[path], json!([]));
        let all = api
            .get(&format!("/api/1/{path}?includeArchived=true"))
            .await
            .ok()
            .json();
        assert_eq!(all[path][0]["deleted"], json!(true));
        assert_error(
            &api.get(&format!("/api/1/{path}?includeArchived=maybe"))
                .await,
            400,
        );
    }
    handle.shutdown().await;
}

#[tokio::test]
async fn lenient_lets_a_flag_and_an_experiment_share_a_key_and_ignores_project_filters() {
    let (handle, api) = start_lenient().await;
    let body = json!({"projectId": "100001", "key": "both"});
    api.create_flag(body.clone()).await;
    api.create_experiment(body).await;
    // Groups still may not take it.
    assert_error(
        &api.post(
            "/api/1/mutexes",
            json!({"projectId": 100001, "name": "M", "key": "both", "slots": [{"percentage": 100}]}),
        )
        .await,
        409,
    );
    let listed = api.get("/api/1/flags?projectId=424242").await.ok().json();
    assert_eq!(listed["flags"].as_array().map(Vec::len), Some(1));
    // A deployment may still name any project (it goes to the default one).
    let created = api
        .post(
            "/api/1/deployments",
            json!({"projectId": 424242, "label": "anywhere", "type": "client"}),
        )
        .await
        .ok()
        .json();
    let detail = api
        .get(&format!(
            "/api/1/deployments/{}",
            created["id"].as_str().expect("id")
        ))
        .await
        .ok()
        .json();
    assert_eq!(detail["projectId"], json!("100001"));
    assert_eq!(detail["type"], json!("client"));
    handle.shutdown().await;
}
