//! Experiments' own endpoints and fields: activate, deactivate, rollout
//! weights (lenient only), web experiments, field validation and seeding.

use serde_json::{json, Value};

use crate::harness::*;

#[tokio::test]
async fn lenient_activate_moves_planning_to_running_and_deactivate_keeps_the_state() {
    let (handle, api) = start_lenient().await;
    let id = api
        .create_experiment(json!({"projectId": "100001", "key": "onoff"}))
        .await;
    let before = api.experiment(&id).await;
    assert_eq!(before["enabled"], json!(false));
    assert_eq!(before["state"], json!("planning"));

    assert_ok_text(
        &api.post(&format!("/api/1/experiments/{id}/activate"), json!({}))
            .await,
    );
    let on = api.experiment(&id).await;
    assert_eq!(on["enabled"], json!(true));
    assert_eq!(on["state"], json!("running"));

    // No body at all is fine too.
    assert_ok_text(
        &api.call(
            Method::POST,
            &format!("/api/1/experiments/{id}/deactivate"),
            None,
        )
        .await,
    );
    let off = api.experiment(&id).await;
    assert_eq!(off["enabled"], json!(false));
    assert_eq!(off["state"], json!("running"));

    // Only planning moves: a decided experiment keeps its state.
    let decided = handle
        .seed_experiment(json!({"key": "decided", "state": "decision-made"}))
        .expect("seeded");
    assert_ok_text(
        &api.post(&format!("/api/1/experiments/{decided}/activate"), json!({}))
            .await,
    );
    let decided = api.experiment(&decided).await;
    assert_eq!(decided["enabled"], json!(true));
    assert_eq!(decided["state"], json!("decision-made"));

    assert_error(
        &api.post("/api/1/experiments/999999/activate", json!({}))
            .await,
        404,
    );
    // Flags have no such endpoints.
    let flag = api
        .create_flag(json!({"projectId": "100001", "key": "a-flag"}))
        .await;
    assert_error(
        &api.post(&format!("/api/1/flags/{flag}/activate"), json!({}))
            .await,
        404,
    );
    assert_eq!(
        handle.count("POST", &format!("/api/1/experiments/{id}/")),
        2
    );
    handle.shutdown().await;
}

#[tokio::test]
async fn patch_enabled_moves_an_experiment_to_running() {
    let (handle, api) = start().await;
    let id = api
        .create_experiment(json!({"projectId": "100001", "key": "patched-on"}))
        .await;
    let path = format!("/api/1/experiments/{id}");
    assert_ok_text(&api.patch(&path, json!({"name": "Renamed"})).await);
    assert_eq!(api.experiment(&id).await["state"], json!("planning"));
    assert_ok_text(&api.patch(&path, json!({"enabled": true})).await);
    let on = api.experiment(&id).await;
    assert_eq!(on["enabled"], json!(true));
    assert_eq!(on["state"], json!("running"));
    assert_ok_text(&api.patch(&path, json!({"enabled": false})).await);
    let off = api.experiment(&id).await;
    assert_eq!(off["enabled"], json!(false));
    assert_eq!(off["state"], json!("running"));

    // Flags have no state.
    let flag = api
        .create_flag(json!({"projectId": "100001", "key": "plain"}))
        .await;
    api.patch(&format!("/api/1/flags/{flag}"), json!({"enabled": true}))
        .await
        .ok();
    let flag = api.get(&format!("/api/1/flags/{flag}")).await.ok().json();
    assert_eq!(flag["enabled"], json!(true));
    assert!(flag.get("state").is_none());
    handle.shutdown().await;
}

#[tokio::test]
async fn lenient_rollout_weights_endpoint_sets_the_weights() {
    let (handle, api) = start_lenient().await;
    let id = api
        .create_experiment(json!({
            "projectId": "100001",
            "key": "weighted",
            "variants": [{"key": "control"}, {"key": "treatment"}, {"key": "extra"}]
        }))
        .await;
    let path = format!("/api/1/experiments/{id}/rollout-weights");
    assert_ok_text(
        &api.post(
            &path,
            json!({"rolloutWeights": {"control": 3, "treatment": 1, "extra": 2}}),
        )
        .await,
    );
    let listed = api.get("/api/1/experiments").await.ok().json();
    assert_eq!(
        listed["experiments"][0]["rolloutWeights"],
        json!({"control": 3, "treatment": 1, "extra": 2})
    );
    let variants = api
        .get(&format!("/api/1/experiments/{id}/variants"))
        .await
        .ok()
        .json();
    assert_eq!(variants[0]["rolloutWeight"], json!(3));

    for bad in [
        json!({"rolloutWeights": {"control": 1, "ghost": 1}}),
        json!({"rolloutWeights": {"control": -1}}),
        json!({"rolloutWeights": {"control": "1"}}),
        json!({"rolloutWeights": [1, 2]}),
        json!({}),
    ] {
        assert_error(&api.post(&path, bad).await, 400);
    }
    // Rejected requests change nothing.
    assert_eq!(
        api.experiment(&id).await["rolloutWeights"],
        json!({"control": 3, "treatment": 1, "extra": 2})
    );

    // The map replaces the weights, as on create: left out weighs 0.
    assert_ok_text(
        &api.post(&path, json!({"rolloutWeights": {"treatment": 5}}))
            .await,
    );
    assert_eq!(
        api.experiment(&id).await["rolloutWeights"],
        json!({"control": 0, "treatment": 5, "extra": 0})
    );
    assert_error(
        &api.post(
            "/api/1/experiments/999999/rollout-weights",
            json!({"rolloutWeights": {}}),
        )
        .await,
        404,
    );
    handle.shutdown().await;
}

#[tokio::test]
async fn lenient_web_experiments_are_read_only_and_show_their_type() {
    let (handle, api) = start_lenient().await;
    let web = handle.deployment_id("web-production").expect("seeded");
    let id = handle
        .seed_experiment(json!({
            "key": "hero-banner",
            "type": "web",
            "enabled": true,
            "deployments": ["web-production"],
            "variants": [
                {"key": "control", "rolloutWeight": 1, "inclusions": ["a", "b"]},
                {"key": "treatment", "rolloutWeight": 1}
            ]
        }))
        .expect("seeded");
    let before = handle.experiment_json("hero-banner").expect("stored");
    assert_eq!(before["type"], json!("web"));

    let base = format!("/api/1/experiments/{id}");
    let control = format!("{base}/variants/control");
    let writes: Vec<(Method, String, Option<Value>)> = vec![
        (Method::PATCH, base.clone(), Some(json!({"name": "x"}))),
        (Method::PATCH, base.clone(), Some(json!({"enabled": false}))),
        (Method::PATCH, base.clone(), Some(json!({"archive": true}))),
        // The 405 comes before any look at the body.
        (
            Method::PATCH,
            base.clone(),
            Some(json!({"experimentType": "?"})),
        ),
        (Method::PATCH, base.clone(), None),
        (
            Method::POST,
            format!("{base}/variants"),
            Some(json!({"key": "new"})),
        ),
        (Method::PATCH, control.clone(), Some(json!({"name": "C"}))),
        (Method::DELETE, format!("{base}/variants/treatment"), None),
        (
            Method::POST,
            format!("{control}/users"),
            Some(json!({"inclusions": ["c"]})),
        ),
        (Method::DELETE, format!("{control}/users"), None),
        (Method::DELETE, format!("{control}/users/0"), None),
        (
            Method::DELETE,
            format!("{control}/bulk-delete-users"),
            Some(json!({"users": ["a"]})),
        ),
        (
            Method::POST,
            format!("{control}/cohorts"),
            Some(json!({"inclusions": ["c"]})),
        ),
        (
            Method::DELETE,
            format!("{control}/bulk-delete-cohorts"),
            Some(json!({"users": ["c"]})),
        ),
        (
            Method::POST,
            format!("{base}/deployments"),
            Some(json!({"deployments": [web]})),
        ),
        (Method::DELETE, format!("{base}/deployments/{web}"), None),
        (Method::POST, format!("{base}/activate"), None),
        (Method::POST, format!("{base}/deactivate"), None),
        (
            Method::POST,
            format!("{base}/rollout-weights"),
            Some(json!({"rolloutWeights": {"control": 2}})),
        ),
    ];
    for (method, path, body) in writes {
        let answer = api.call(method.clone(), &path, body).await;
        assert_error(&answer, 405);
        assert_eq!(
            answer.json()["error"]["message"],
            json!("web experiments cannot be edited through the Management API"),
            "{method} {path}"
        );
    }
    assert_eq!(
        handle.experiment_json("hero-banner"),
        Some(before),
        "nothing changed"
    );

    // Reads work and show the type.
    let detail = api.experiment(&id).await;
    assert_eq!(detail["type"], json!("web"));
    assert_eq!(detail["enabled"], json!(true));
    let listed = api.get("/api/1/experiments").await.ok().json();
    assert_eq!(listed["experiments"][0]["type"], json!("web"));
    assert_eq!(
        api.get(&format!("{control}/users")).await.ok().json(),
        json!(["a", "b"])
    );
    api.get(&format!("{base}/variants")).await.ok();
    api.get(&format!("{base}/deployments")).await.ok();
    api.get(&format!("{base}/versions")).await.ok();

    // Other experiments carry no `type` and stay writable.
    let feature = api
        .create_experiment(json!({"projectId": "100001", "key": "feature-exp"}))
        .await;
    assert!(api.experiment(&feature).await.get("type").is_none());
    assert_ok_text(
        &api.patch(
            &format!("/api/1/experiments/{feature}"),
            json!({"name": "x"}),
        )
        .await,
    );
    // A missing experiment is still a 404, not a 405.
    assert_error(
        &api.patch("/api/1/experiments/999999", json!({"name": "x"}))
            .await,
        404,
    );
    handle.shutdown().await;
}

#[tokio::test]
async fn experiment_fields_are_validated_on_create_and_patch() {
    let (handle, api) = start().await;
    for bad in [
        json!({"experimentType": "no-harm"}),
        json!({"experimentType": 1}),
        json!({"startDate": "2026-12-01"}),
        json!({"startDate": "next week"}),
        json!({"endDate": 20261201}),
        json!({"stickyBucketing": "yes"}),
        json!({"exposureEvent": "viewed"}),
    ] {
        let mut body = json!({"projectId": "100001", "key": "validated"});
        body.as_object_mut()
            .expect("object")
            .extend(bad.as_object().expect("object").clone());
        assert_error(&api.post("/api/1/experiments", body).await, 400);
    }
    // Create checks the dates but, like `enabled`, does not take them.
    let id = api
        .create_experiment(json!({
            "projectId": "100001",
            "key": "validated",
            "experimentType": "multi-arm-bandit",
            "startDate": "2026-12-01T00:00:00Z",
            "stickyBucketing": true
        }))
        .await;
    let created = api.experiment(&id).await;
    assert_eq!(created["experimentType"], json!("multi-arm-bandit"));
    assert_eq!(created["startDate"], Value::Null);
    assert_eq!(created["stickyBucketing"], json!(false));

    let path = format!("/api/1/experiments/{id}");
    for bad in [
        json!({"experimentType": "a-b"}),
        json!({"startDate": "2026-12-01"}),
        json!({"startDate": "2026-12-01T00:00:00"}),
        json!({"endDate": "2026-12-01 10:00:00Z"}),
        json!({"stickyBucketing": 1}),
        json!({"exposureEvent": ["viewed"]}),
        json!({"name": "fine", "startDate": "bad"}),
    ] {
        assert_error(&api.patch(&path, bad).await, 400);
    }
    assert_eq!(api.experiment(&id).await["name"], json!("validated"));

    assert_ok_text(
        &api.patch(
            &path,
            json!({
                "experimentType": "a-b-test",
                "startDate": "2023-07-31T10:26:00.996+02:00",
                "endDate": "2023-09-23T10:26:00Z",
                "stickyBucketing": true,
                "exposureEvent": {"event_type": "_active", "filters": []}
            }),
        )
        .await,
    );
    let patched = api.experiment(&id).await;
    assert_eq!(patched["experimentType"], json!("a-b-test"));
    // Answers show the UTC day; the stored date-time is kept.
    assert_eq!(patched["startDate"], json!("2023-07-31"));
    assert_eq!(patched["endDate"], json!("2023-09-23"));
    assert_eq!(patched["stickyBucketing"], json!(true));
    assert!(patched.get("exposureEvent").is_none());
    let stored = handle.experiment_json("validated").expect("stored");
    assert_eq!(stored["startDate"], json!("2023-07-31T10:26:00.996+02:00"));
    assert_eq!(stored["exposureEvent"]["event_type"], json!("_active"));
    assert_ok_text(
        &api.patch(&path, json!({"endDate": null, "exposureEvent": null}))
            .await,
    );
    let cleared = api.experiment(&id).await;
    assert_eq!(cleared["endDate"], Value::Null);
    let stored = handle.experiment_json("validated").expect("stored");
    assert_eq!(stored["exposureEvent"], Value::Null);

    // Flags ignore the experiment fields, as before.
    let flag = api
        .create_flag(json!({"projectId": "100001", "key": "f", "experimentType": "bogus"}))
        .await;
    assert_ok_text(
        &api.patch(
            &format!("/api/1/flags/{flag}"),
            json!({"experimentType": "bogus", "startDate": "never"}),
        )
        .await,
    );
    let flag = api.get(&format!("/api/1/flags/{flag}")).await.ok().json();
    assert!(flag.get("experimentType").is_none());
    assert!(flag.get("startDate").is_none());
    handle.shutdown().await;
}

#[tokio::test]
async fn seed_experiment_takes_every_experiment_field() {
    let (handle, api) = start().await;
    let id = handle
        .seed_experiment(json!({
            "key": "concluded",
            "state": "decision-made",
            "decision": "rollout",
            "decisionReason": "treatment won",
            "rolledOutVariant": "treatment",
            "enabled": true,
            "startDate": "2023-07-29",
            "endDate": "2023-08-29T00:00:00Z",
            "exposureEvent": {"event_type": "viewed", "filters": []},
            "experimentType": "multi-arm-bandit",
            "stickyBucketing": true,
            "type": "feature",
            "archived": false,
            "tags": ["pricing"],
            "variants": [
                {"key": "control", "rolloutWeight": 1},
                {"key": "treatment", "rolloutWeight": 4, "inclusions": ["qa@example.com"]}
            ]
        }))
        .expect("seeded");
    let detail = api.experiment(&id).await;
    for (field, value) in [
        ("state", json!("decision-made")),
        ("decision", json!("rollout")),
        ("decisionReason", json!("treatment won")),
        ("rolledOutVariant", json!("treatment")),
        ("enabled", json!(true)),
        ("startDate", json!("2023-07-29")),
        ("endDate", json!("2023-08-29")),
        ("experimentType", json!("multi-arm-bandit")),
        ("stickyBucketing", json!(true)),
        ("deleted", json!(false)),
        ("tags", json!(["pricing"])),
        ("rolloutWeights", json!({"control": 1, "treatment": 4})),
    ] {
        assert_eq!(detail[field], value, "{field}");
    }
    assert!(detail.get("type").is_none());
    let listed = api.get("/api/1/experiments").await.ok().json();
    let entry = &listed["experiments"][0];
    // The list and the detail share what both show.
    for (field, value) in detail.as_object().expect("object") {
        if !["deleted", "tags"].contains(&field.as_str()) {
            assert_eq!(&entry[field], value, "{field}");
        }
    }
    let stored = handle.experiment_json("concluded").expect("stored");
    assert_eq!(
        stored["inclusions"],
        json!({"control": [], "treatment": ["qa@example.com"]})
    );
    assert_eq!(
        stored["exposureEvent"],
        json!({"event_type": "viewed", "filters": []})
    );
    assert_eq!(stored["endDate"], json!("2023-08-29T00:00:00Z"));
    assert_eq!(stored["archived"], json!(false));

    // Without `state`, `enabled: true` means it was started.
    handle
        .seed_experiment(json!({"key": "started", "enabled": true}))
        .expect("seeded");
    let started = handle.experiment_json("started").expect("stored");
    assert_eq!(started["state"], json!("running"));
    // An archived seed is hidden from the list.
    handle
        .seed_experiment(json!({"key": "gone", "archived": true}))
        .expect("seeded");
    let listed = api.get("/api/1/experiments").await.ok().json();
    assert_eq!(listed["experiments"].as_array().map(Vec::len), Some(2));

    for bad in [
        json!({"key": "b1", "rolledOutVariant": "ghost"}),
        json!({"key": "b2", "type": "guide"}),
        json!({"key": "b3", "state": 3}),
        json!({"key": "b4", "startDate": "someday"}),
        json!({"key": "b5", "experimentType": "no-harm"}),
    ] {
        assert!(handle.seed_experiment(bad.clone()).is_err(), "{bad}");
    }
    handle.shutdown().await;
}

#[tokio::test]
async fn exposure_events_need_event_type_and_filters() {
    for lenient in [false, true] {
        let (handle, api) = start_with(EmulatorConfig {
            api_key: KEY.to_owned(),
            lenient,
            ..EmulatorConfig::default()
        })
        .await;
        let id = api
            .create_experiment(json!({"projectId": "100001", "key": "exposed"}))
            .await;
        let path = format!("/api/1/experiments/{id}");
        let filter = json!({"group_type": "User", "subprop_key": "plan", "subprop_op": "is",
                            "subprop_type": "event", "subprop_value": ["pro"]});
        for (bad, named) in [
            (json!({"filters": []}), "event_type"),
            (json!({"event_type": "", "filters": []}), "event_type"),
            (json!({"event_type": 7, "filters": []}), "event_type"),
            (json!({"event_type": "viewed"}), "filters"),
            (json!({"event_type": "viewed", "filters": null}), "filters"),
            (json!({"event_type": "viewed", "filters": {}}), "filters"),
            (
                json!({"event_type": "viewed", "filters": ["plan"]}),
                "filters[0]",
            ),
            (
                json!({"event_type": "viewed", "filters": [without(&filter, &["subprop_type"])]}),
                "subprop_type",
            ),
            (
                json!({"event_type": "viewed", "filters": [without(&filter, &["subprop_key"])]}),
                "subprop_key",
            ),
            (
                json!({"event_type": "viewed", "filters": [without(&filter, &["subprop_value"])]}),
                "subprop_value",
            ),
            (
                json!({"event_type": "viewed", "filters": [filter.clone(), {
                    "subprop_key": "plan", "subprop_op": "set is", "subprop_type": "event",
                    "subprop_value": ["pro"]}]}),
                "filters[1].subprop_op",
            ),
            (json!("viewed"), "exposureEvent"),
        ] {
            let answer = api.patch(&path, json!({ "exposureEvent": bad })).await;
            assert_error(&answer, 400);
            assert!(answer.text.contains(named), "{named}: {}", answer.text);
        }
        assert_eq!(
            handle.experiment_json("exposed").expect("stored")["exposureEvent"],
            Value::Null
        );
        let good = json!({"event_type": "viewed", "filters": [filter.clone(),
            {"subprop_key": null, "subprop_op": "glob match", "subprop_type": "user",
             "subprop_value": []}]});
        assert_ok_text(&api.patch(&path, json!({ "exposureEvent": good })).await);
        assert_eq!(
            handle.experiment_json("exposed").expect("stored")["exposureEvent"],
            good
        );
        assert_ok_text(
            &api.patch(
                &path,
                json!({"exposureEvent": {"event_type": "_active", "filters": []}}),
            )
            .await,
        );
        // `null` goes back to the default exposure event.
        assert_ok_text(&api.patch(&path, json!({ "exposureEvent": null })).await);
        assert_eq!(
            handle.experiment_json("exposed").expect("stored")["exposureEvent"],
            Value::Null
        );
        // Create checks it too (and, as for every experiment field, does not take it).
        assert_error(
            &api.post(
                "/api/1/experiments",
                json!({"projectId": "100001", "key": "e2", "exposureEvent": {"event_type": "x"}}),
            )
            .await,
            400,
        );
        assert!(handle
            .seed_experiment(json!({"key": "e3", "exposureEvent": {"filters": []}}))
            .is_err());
        handle.shutdown().await;
    }
}

#[tokio::test]
async fn a_patch_records_a_decision_as_documented() {
    let (_handle, api) = start().await;
    let id = api
        .create_experiment(json!({"projectId": "100001", "key": "decided"}))
        .await;
    let path = format!("/api/1/experiments/{id}");
    for bad in [
        json!({"decision": "ship-it"}),
        json!({"rolledOutVariant": "nope"}),
        json!({"decisionReason": 5}),
    ] {
        assert_error(&api.patch(&path, bad).await, 400);
    }
    api.patch(
        &path,
        json!({"decision": "rollout", "decisionReason": "won", "rolledOutVariant": "treatment"}),
    )
    .await
    .ok();
    let detail = api.experiment(&id).await;
    assert_eq!(detail["decision"], "rollout");
    assert_eq!(detail["decisionReason"], "won");
    assert_eq!(detail["rolledOutVariant"], "treatment");
}
