//! Flags (and what experiments share with them): create, lists, detail,
//! variants, inclusions, deployments, seeding and the state file.

use serde_json::{json, Value};

use crate::harness::*;

#[tokio::test]
async fn wrong_or_missing_key_is_401_and_still_recorded() {
    let (handle, api) = start().await;
    let wrong = Api {
        http: reqwest::Client::new(),
        base: api.base.clone(),
        key: "nope".to_owned(),
    };
    assert_error(&wrong.get("/api/1/flags?limit=1000").await, 401);
    let bare = reqwest::get(format!("{}/api/1/flags", api.base))
        .await
        .expect("sent");
    assert_eq!(bare.status().as_u16(), 401);
    api.get("/api/1/flags").await.ok();

    let log = handle.requests();
    assert_eq!(log.len(), 3);
    assert_eq!(log[0].method, "GET");
    assert_eq!(log[0].path, "/api/1/flags");
    assert_eq!(log[0].query, "limit=1000");
    assert_eq!(handle.count("GET", "/api/1/flags"), 3);
    handle.clear_requests();
    assert!(handle.requests().is_empty());
    handle.shutdown().await;
}

#[tokio::test]
async fn create_answers_id_and_url_and_detail_has_documented_shape() {
    let (handle, api) = start().await;
    let web = handle.deployment_id("web-production").expect("seeded");
    let answer = api
        .post(
            "/api/1/flags",
            json!({
                "projectId": "100001",
                "key": "checkout-redesign",
                "variants": [{"key": "on", "payload": {"layout": "one-page"}}, {"key": "off"}],
                "rolloutWeights": {"on": 1},
                "deployments": [web],
                "targetSegments": [{
                    "name": "US",
                    "conditions": [{"prop": "country", "op": "is", "values": ["United States"]}],
                    "percentage": 100,
                    "rolloutWeights": {"on": 1}
                }]
            }),
        )
        .await;
    let created = answer.ok().json();
    let id = created["id"].as_str().expect("string id").to_owned();
    assert_eq!(
        created["url"],
        json!(format!(
            "http://experiment.amplitude.com/amplitude/100001/config/{id}"
        ))
    );

    let flag = api.get(&format!("/api/1/flags/{id}")).await.ok().json();
    assert_eq!(flag["id"].to_string(), id, "numeric id in details");
    assert_eq!(flag["projectId"], json!("100001"));
    assert_eq!(flag["name"], json!("checkout-redesign"));
    assert_eq!(flag["description"], json!(""));
    assert_eq!(flag["evaluationMode"], json!("remote"));
    assert_eq!(flag["bucketingKey"], json!("amplitude_id"));
    assert_eq!(flag["bucketingUnit"], json!("User"));
    let salt = flag["bucketingSalt"].as_str().expect("salt");
    assert_eq!(salt.len(), 8);
    assert_eq!(flag["variants"], json!([{"key": "on"}, {"key": "off"}]));
    assert_eq!(flag["rolloutWeights"], json!({"on": 1, "off": 0}));
    assert_eq!(
        flag["deployments"],
        json!([web.parse::<u64>().expect("numeric")])
    );
    // Server defaults on stored segments.
    let segment = &flag["targetSegments"][0];
    assert_eq!(segment["conditions"][0]["type"], json!("property"));
    assert_eq!(segment["bucketingKey"], json!("amplitude_id"));
    assert_eq!(flag["deleted"], json!(false));
    // The detail example shows no archived, tags or times; the list does.
    for absent in ["archived", "tags", "createdAt", "createdBy"] {
        assert!(flag.get(absent).is_none(), "{absent}");
    }
    let listed = api.get("/api/1/flags").await.ok().json();
    let created_at = listed["flags"][0]["createdAt"].as_str().expect("createdAt");
    assert_eq!(created_at.len(), 24, "{created_at}");
    assert!(created_at.ends_with('Z'));

    let variants = api
        .get(&format!("/api/1/flags/{id}/variants"))
        .await
        .ok()
        .json();
    assert_eq!(
        variants,
        json!([
            {"key": "on", "name": "", "payload": {"layout": "one-page"}, "description": "", "rolloutWeight": 1},
            {"key": "off", "name": "", "payload": {}, "description": "", "rolloutWeight": 0}
        ])
    );
    assert_error(&api.get("/api/1/flags/999999").await, 404);
    assert_error(
        &api.get(&format!("/api/1/flags/{id}/variants/nope")).await,
        404,
    );
    handle.shutdown().await;
}

#[tokio::test]
async fn create_rejects_duplicates_even_archived_and_bad_input() {
    let (handle, api) = start().await;
    let body = json!({"projectId": "100001", "key": "dup"});
    let id = api.create_flag(body.clone()).await;
    assert_error(&api.post("/api/1/flags", body.clone()).await, 409);
    assert_ok_text(
        &api.patch(&format!("/api/1/flags/{id}"), json!({"archive": true}))
            .await,
    );
    assert_error(&api.post("/api/1/flags", body.clone()).await, 409);
    // One key space: not even the other collection may take it.
    assert_error(&api.post("/api/1/experiments", body).await, 409);

    for bad in [
        json!({"projectId": "100001"}),
        json!({"projectId": "100001", "key": ""}),
        json!({"projectId": "100001", "key": "has space"}),
        json!({"projectId": "100001", "key": "d", "deployments": ["424242"]}),
        json!({"projectId": "100001", "key": "w", "variants": [{"key": "on"}], "rolloutWeights": {"off": 1}}),
        json!({"projectId": "100001", "key": "s", "variants": [{"key": "on"}], "targetSegments": [
            {"name": "x", "conditions": [], "percentage": 10, "rolloutWeights": {"ghost": 1}}
        ]}),
    ] {
        assert_error(&api.post("/api/1/flags", bad).await, 400);
    }
    handle.shutdown().await;
}

#[tokio::test]
async fn create_ignores_enabled_rollout_percentage_and_tags() {
    let (handle, api) = start().await;
    let id = api
        .create_flag(json!({
            "projectId": "100001",
            "key": "ignored-fields",
            "enabled": true,
            "rolloutPercentage": 50,
            "tags": ["web"]
        }))
        .await;
    let flag = api.get(&format!("/api/1/flags/{id}")).await.ok().json();
    assert_eq!(flag["enabled"], json!(false));
    assert_eq!(flag["rolloutPercentage"], json!(0));
    // Flag answers show no tags: the stored flag does.
    assert!(flag.get("tags").is_none());
    assert_eq!(
        handle.flag_json("ignored-fields").expect("stored")["tags"],
        json!([])
    );

    assert_ok_text(
        &api.patch(
            &format!("/api/1/flags/{id}"),
            json!({"enabled": true, "rolloutPercentage": 50, "tags": ["web"]}),
        )
        .await,
    );
    let flag = api.get(&format!("/api/1/flags/{id}")).await.ok().json();
    assert_eq!(flag["enabled"], json!(true));
    assert_eq!(flag["rolloutPercentage"], json!(50));
    assert_eq!(
        handle.flag_json("ignored-fields").expect("stored")["tags"],
        json!(["web"])
    );
    assert_error(
        &api.patch(
            &format!("/api/1/flags/{id}"),
            json!({"rolloutPercentage": 101}),
        )
        .await,
        400,
    );
    handle.shutdown().await;
}

#[tokio::test]
async fn lists_page_newest_first_with_string_cursor_for_flags() {
    let (handle, api) = start_with(EmulatorConfig {
        api_key: KEY.to_owned(),
        page_size: 2,
        ..EmulatorConfig::default()
    })
    .await;
    for n in 1..=5 {
        api.create_flag(json!({"projectId": "100001", "key": format!("f{n}")}))
            .await;
        api.post(
            "/api/1/experiments",
            json!({"projectId": "100001", "key": format!("e{n}")}),
        )
        .await
        .ok();
    }
    let mut keys = Vec::new();
    let mut cursors = Vec::new();
    let mut path = "/api/1/flags?limit=1000".to_owned();
    loop {
        let page = api.get(&path).await.ok().json();
        let flags = page["flags"].as_array().expect("flags");
        assert!(flags.len() <= 2);
        keys.extend(
            flags
                .iter()
                .map(|f| f["key"].as_str().unwrap_or("").to_owned()),
        );
        match page.get("nextCursor") {
            Some(Value::String(cursor)) => {
                cursors.push(cursor.clone());
                path = format!("/api/1/flags?limit=1000&cursor={cursor}");
            }
            None => break,
            Some(other) => panic!("flags nextCursor must be a string, got {other}"),
        }
    }
    assert_eq!(keys, ["f5", "f4", "f3", "f2", "f1"]);
    assert_eq!(cursors, ["2", "4"]);

    let experiments = api.get("/api/1/experiments?limit=1").await.ok().json();
    assert_eq!(experiments["experiments"].as_array().map(Vec::len), Some(1));
    assert_eq!(experiments["nextCursor"], json!(1));
    assert_eq!(experiments["experiments"][0]["key"], json!("e5"));

    let filtered = api.get("/api/1/flags?key=f3").await.ok().json();
    assert_eq!(filtered["flags"].as_array().map(Vec::len), Some(1));
    assert!(filtered.get("nextCursor").is_none());

    assert_error(&api.get("/api/1/flags?cursor=abc").await, 400);

    let deployments = api.get("/api/1/deployments?limit=1000").await.ok().json();
    assert_eq!(deployments["deployments"].as_array().map(Vec::len), Some(2));
    assert_eq!(deployments["nextCursor"], json!(2));
    handle.shutdown().await;
}

#[tokio::test]
async fn archived_objects_are_hidden_unless_asked_for() {
    let (handle, api) = start().await;
    let id = api
        .create_flag(json!({"projectId": "100001", "key": "old"}))
        .await;
    api.create_flag(json!({"projectId": "100001", "key": "new"}))
        .await;
    api.patch(&format!("/api/1/flags/{id}"), json!({"archive": true}))
        .await
        .ok();
    let live = api.get("/api/1/flags").await.ok().json();
    assert_eq!(live["flags"].as_array().map(Vec::len), Some(1));
    assert_eq!(live["flags"][0]["key"], json!("new"));
    let all = api
        .get("/api/1/flags?includeArchived=true")
        .await
        .ok()
        .json();
    assert_eq!(all["flags"].as_array().map(Vec::len), Some(2));
    // No field of a list entry marks it archived; the detail's `deleted` does.
    assert_eq!(all["flags"][1]["key"], json!("old"));
    assert!(all["flags"][1].get("archived").is_none());
    assert!(all["flags"][1].get("deleted").is_none());
    let detail = api.get(&format!("/api/1/flags/{id}")).await.ok().json();
    assert_eq!(detail["deleted"], json!(true));
    assert!(detail.get("archived").is_none());
    assert_eq!(
        handle.flag_json("old").expect("stored")["archived"],
        json!(true)
    );
    handle.shutdown().await;
}

#[tokio::test]
async fn inclusion_limits_and_removals() {
    let (handle, api) = start().await;
    let id = api
        .create_flag(json!({"projectId": "100001", "key": "incl", "variants": [{"key": "on"}]}))
        .await;
    let users = format!("/api/1/flags/{id}/variants/on/users");
    assert_ok_text(
        &api.post(&users, json!({"inclusions": ["a", "b", "a", "c"]}))
            .await,
    );
    assert_eq!(api.get(&users).await.ok().json(), json!(["a", "b", "c"]));

    let too_many: Vec<String> = (0..2000).map(|n| format!("user-{n}")).collect();
    assert_error(
        &api.post(&users, json!({"inclusions": too_many})).await,
        400,
    );
    assert_eq!(api.get(&users).await.ok().json(), json!(["a", "b", "c"]));

    assert_ok_text(&api.delete(&format!("{users}/1"), None).await);
    assert_eq!(api.get(&users).await.ok().json(), json!(["a", "c"]));
    assert_error(&api.delete(&format!("{users}/7"), None).await, 404);

    let bulk = format!("/api/1/flags/{id}/variants/on/bulk-delete-users");
    let hundred_one: Vec<String> = (0..101).map(|n| format!("u{n}")).collect();
    assert_error(
        &api.delete(&bulk, Some(json!({"users": hundred_one}))).await,
        400,
    );
    assert_ok_text(
        &api.delete(&bulk, Some(json!({"users": ["a", "zzz"]})))
            .await,
    );
    assert_eq!(api.get(&users).await.ok().json(), json!(["c"]));

    assert_ok_text(&api.delete(&users, None).await);
    assert_eq!(api.get(&users).await.ok().json(), json!([]));
    handle.shutdown().await;
}

#[tokio::test]
async fn variant_used_by_a_segment_cannot_be_removed() {
    let (handle, api) = start().await;
    let id = api
        .create_flag(json!({
            "projectId": "100001",
            "key": "seg",
            "variants": [{"key": "on"}, {"key": "off"}],
            "targetSegments": [{
                "name": "beta",
                "conditions": [{"prop": "gp:beta", "op": "is", "type": "property", "values": ["true"]}],
                "percentage": 100,
                "rolloutWeights": {"off": 1}
            }]
        }))
        .await;
    let off = format!("/api/1/flags/{id}/variants/off");
    assert_error(&api.delete(&off, None).await, 400);
    assert_ok_text(
        &api.patch(&format!("/api/1/flags/{id}"), json!({"targetSegments": []}))
            .await,
    );
    assert_ok_text(&api.delete(&off, None).await);
    let flag = api.get(&format!("/api/1/flags/{id}")).await.ok().json();
    assert_eq!(flag["variants"], json!([{"key": "on"}]));
    handle.shutdown().await;
}

#[tokio::test]
async fn patch_ignores_rollout_weights_but_variant_patch_sets_them() {
    let (handle, api) = start().await;
    let id = api
        .create_flag(json!({
            "projectId": "100001",
            "key": "weights",
            "variants": [{"key": "on"}, {"key": "off"}],
            "rolloutWeights": {"on": 1, "off": 1}
        }))
        .await;
    assert_ok_text(
        &api.patch(
            &format!("/api/1/flags/{id}"),
            json!({"rolloutWeights": {"on": 3, "off": 0}, "name": "Weights"}),
        )
        .await,
    );
    let flag = api.get(&format!("/api/1/flags/{id}")).await.ok().json();
    assert_eq!(flag["rolloutWeights"], json!({"on": 1, "off": 1}));
    assert_eq!(flag["name"], json!("Weights"));

    assert_ok_text(
        &api.patch(
            &format!("/api/1/flags/{id}/variants/on"),
            json!({"rolloutWeight": 3}),
        )
        .await,
    );
    let flag = api.get(&format!("/api/1/flags/{id}")).await.ok().json();
    assert_eq!(flag["rolloutWeights"], json!({"on": 3, "off": 1}));
    handle.shutdown().await;
}

#[tokio::test]
async fn variant_rename_keeps_inclusions_and_segment_weights() {
    let (handle, api) = start().await;
    let id = api
        .create_flag(json!({
            "projectId": "100001",
            "key": "rename",
            "variants": [{"key": "enabled", "name": "Enabled"}, {"key": "off"}],
            "targetSegments": [{
                "name": "all",
                "conditions": [],
                "percentage": 100,
                "rolloutWeights": {"enabled": 1, "off": 2}
            }]
        }))
        .await;
    api.post(
        &format!("/api/1/flags/{id}/variants/enabled/users"),
        json!({"inclusions": ["alice@example.com"]}),
    )
    .await
    .ok();
    assert_error(
        &api.patch(
            &format!("/api/1/flags/{id}/variants/enabled"),
            json!({"key": "off"}),
        )
        .await,
        409,
    );
    assert_ok_text(
        &api.patch(
            &format!("/api/1/flags/{id}/variants/enabled"),
            json!({"key": "on"}),
        )
        .await,
    );
    assert_eq!(
        api.get(&format!("/api/1/flags/{id}/variants/on/users"))
            .await
            .ok()
            .json(),
        json!(["alice@example.com"])
    );
    let stored = handle.flag_json("rename").expect("stored");
    assert_eq!(
        stored["inclusions"],
        json!({"on": ["alice@example.com"], "off": []})
    );
    assert_eq!(stored["variants"][0]["name"], json!("Enabled"));
    assert_eq!(
        stored["targetSegments"][0]["rolloutWeights"],
        json!({"on": 1, "off": 2})
    );
    assert_error(
        &api.get(&format!("/api/1/flags/{id}/variants/enabled"))
            .await,
        404,
    );
    handle.shutdown().await;
}

#[tokio::test]
async fn variants_and_deployments_endpoints() {
    let (handle, api) = start().await;
    let id = api
        .create_flag(json!({"projectId": "100001", "key": "v", "variants": [{"key": "on"}]}))
        .await;
    let variants = format!("/api/1/flags/{id}/variants");
    assert_ok_text(
        &api.post(
            &variants,
            json!({"key": "blue", "name": "Blue", "payload": {"c": "#00f"}, "rolloutWeight": 2}),
        )
        .await,
    );
    assert_error(&api.post(&variants, json!({"key": "blue"})).await, 409);
    assert_error(&api.post(&variants, json!({"name": "no key"})).await, 400);
    assert_eq!(
        api.get(&format!("{variants}/blue")).await.ok().json(),
        json!({"key": "blue", "name": "Blue", "payload": {"c": "#00f"}, "description": "", "rolloutWeight": 2})
    );

    let web = handle.deployment_id("web-production").expect("seeded");
    let api_prod = handle.deployment_id("api-production").expect("seeded");
    let deployments = format!("/api/1/flags/{id}/deployments");
    assert_ok_text(
        &api.post(
            &deployments,
            json!({"deployments": [web, api_prod.parse::<u64>().expect("numeric")]}),
        )
        .await,
    );
    assert_error(
        &api.post(&deployments, json!({"deployments": ["1"]})).await,
        400,
    );
    let listed = api.get(&deployments).await.ok().json();
    assert_eq!(listed[0]["label"], json!("web-production"));
    assert_eq!(listed[1]["label"], json!("api-production"));
    assert!(listed[1]["key"]
        .as_str()
        .is_some_and(|k| k.starts_with("server-") && k.len() == 39));
    assert_ok_text(&api.delete(&format!("{deployments}/{web}"), None).await);
    let flag = api.get(&format!("/api/1/flags/{id}")).await.ok().json();
    assert_eq!(
        flag["deployments"],
        json!([api_prod.parse::<u64>().expect("numeric")])
    );

    let versions = api
        .get(&format!("/api/1/flags/{id}/versions"))
        .await
        .ok()
        .json();
    let numbers: Vec<u64> = versions
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|v| v["version"].as_u64())
        .collect();
    assert_eq!(numbers, [4, 3, 2, 1]);
    assert_eq!(versions[0]["createdBy"], json!("ampx-emulator@example.com"));
    assert_eq!(versions[3]["flagConfig"]["deployments"], json!([]));
    handle.shutdown().await;
}

#[tokio::test]
async fn experiments_share_the_code_path_with_their_own_fields() {
    let (handle, api) = start().await;
    let answer = api
        .post(
            "/api/1/experiments",
            json!({"projectId": "100001", "key": "pricing", "experimentType": "multi-arm-bandit"}),
        )
        .await;
    let id = answer.ok().json()["id"].as_str().expect("id").to_owned();
    let experiment = api
        .get(&format!("/api/1/experiments/{id}"))
        .await
        .ok()
        .json();
    assert_eq!(experiment["experimentType"], json!("multi-arm-bandit"));
    assert_eq!(experiment["state"], json!("planning"));
    assert_eq!(experiment["stickyBucketing"], json!(false));
    assert_eq!(experiment["startDate"], Value::Null);
    assert_eq!(
        experiment["variants"],
        json!([{"key": "control"}, {"key": "treatment"}])
    );
    assert_ok_text(
        &api.patch(
            &format!("/api/1/experiments/{id}"),
            json!({"stickyBucketing": true, "startDate": "2026-12-01T00:00:00Z",
                   "exposureEvent": {"event_type": "viewed", "filters": []}}),
        )
        .await,
    );
    let stored = handle.experiment_json("pricing").expect("stored");
    assert_eq!(stored["stickyBucketing"], json!(true));
    assert_eq!(stored["startDate"], json!("2026-12-01T00:00:00Z"));
    assert_eq!(stored["exposureEvent"]["event_type"], json!("viewed"));
    // An experiment id is not a flag id.
    assert_error(&api.get(&format!("/api/1/flags/{id}")).await, 404);
    handle.shutdown().await;
}

#[tokio::test]
async fn malformed_bodies_and_unknown_routes_answer_json_errors() {
    let (handle, api) = start().await;
    let answer = api
        .http
        .post(format!("{}/api/1/flags", api.base))
        .bearer_auth(KEY)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("sent");
    assert_eq!(answer.status().as_u16(), 400);
    let body: Value = answer.json().await.expect("json error");
    assert_eq!(body["error"]["code"], json!(400));
    assert_error(&api.get("/api/1/nothing").await, 404);
    assert_error(&api.delete("/api/1/flags", None).await, 404);
    handle.shutdown().await;
}

#[tokio::test]
async fn seed_flag_and_flag_json() {
    let (handle, api) = start().await;
    let id = handle
        .seed_flag(json!({
            "key": "seeded",
            "enabled": true,
            "rolloutPercentage": 25,
            "tags": ["ampx"],
            "archived": true,
            "bucketingSalt": "abcdEFGH",
            "deployments": ["web-production"],
            "variants": [{"key": "on", "rolloutWeight": 3, "inclusions": ["x", "y"]}]
        }))
        .expect("seeded");
    let stored = handle.flag_json("seeded").expect("stored");
    assert_eq!(stored["id"].to_string(), id);
    assert_eq!(stored["enabled"], json!(true));
    assert_eq!(stored["archived"], json!(true));
    assert_eq!(stored["bucketingSalt"], json!("abcdEFGH"));
    assert_eq!(stored["rolloutWeights"], json!({"on": 3}));
    assert_eq!(stored["inclusions"], json!({"on": ["x", "y"]}));
    assert_eq!(stored["variants"][0]["payload"], json!({}));
    assert!(handle.seed_flag(json!({"key": "seeded"})).is_err());
    assert!(handle.flag_json("missing").is_none());
    // Seeding goes through no HTTP request.
    assert!(handle.requests().is_empty());
    let listed = api.get("/api/1/flags").await.ok().json();
    assert_eq!(listed["flags"], json!([]));
    handle.shutdown().await;
}

#[tokio::test]
async fn state_file_round_trip() {
    let dir = scratch_dir("state");
    let state_file = dir.join("nested").join("state.json");
    let config = EmulatorConfig {
        api_key: KEY.to_owned(),
        state_file: Some(state_file.clone()),
        ..EmulatorConfig::default()
    };
    let (handle, api) = start_with(config.clone()).await;
    assert!(state_file.exists(), "written at start");
    let id = api
        .create_flag(json!({"projectId": "100001", "key": "kept", "variants": [{"key": "on"}]}))
        .await;
    api.post(
        &format!("/api/1/flags/{id}/variants/on/users"),
        json!({"inclusions": ["alice"]}),
    )
    .await
    .ok();
    let before = handle.flag_json("kept").expect("stored");
    let web = handle.deployment_id("web-production");
    let keys = api.get("/api/1/deployments").await.ok().json();
    handle.shutdown().await;

    let saved: Value =
        serde_json::from_str(&std::fs::read_to_string(&state_file).expect("read")).expect("json");
    assert!(saved.is_object());

    let (handle, api) = start_with(config).await;
    assert_eq!(handle.flag_json("kept"), Some(before));
    assert_eq!(handle.deployment_id("web-production"), web);
    assert_eq!(api.get("/api/1/deployments").await.ok().json(), keys);
    let second = api
        .create_flag(json!({"projectId": "100001", "key": "next"}))
        .await;
    assert_ne!(second, id);
    assert_error(
        &api.post(
            "/api/1/flags",
            json!({"projectId": "100001", "key": "kept"}),
        )
        .await,
        409,
    );
    handle.shutdown().await;
    std::fs::remove_dir_all(&dir).ok();
}
