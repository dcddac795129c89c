//! The emulator against the documented behaviour of the Management API.

use std::path::PathBuf;

use ampx_emulator::{self as emulator, EmulatorConfig, EmulatorHandle, Faults};
use reqwest::Method;
use serde_json::{json, Value};

const KEY: &str = "test-key";

async fn start_with(config: EmulatorConfig) -> (EmulatorHandle, Api) {
    let handle = emulator::start(config.clone(), "127.0.0.1:0".parse().expect("address"))
        .await
        .expect("emulator starts");
    let api = Api {
        http: reqwest::Client::new(),
        base: handle.base_url.clone(),
        key: config.api_key,
    };
    (handle, api)
}

async fn start() -> (EmulatorHandle, Api) {
    start_with(EmulatorConfig {
        api_key: KEY.to_owned(),
        ..EmulatorConfig::default()
    })
    .await
}

struct Api {
    http: reqwest::Client,
    base: String,
    key: String,
}

struct Answer {
    status: u16,
    content_type: String,
    /// The `Retry-After` header, when there is one.
    retry_after: Option<String>,
    text: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text))
    }

    fn ok(&self) -> &Self {
        assert_eq!(self.status, 200, "{}", self.text);
        self
    }
}

impl Api {
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Answer {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request is sent");
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .map(|v| v.to_str().expect("Retry-After is text").to_owned());
        let text = response.text().await.expect("body");
        Answer {
            status,
            content_type,
            retry_after,
            text,
        }
    }

    async fn get(&self, path: &str) -> Answer {
        self.call(Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> Answer {
        self.call(Method::POST, path, Some(body)).await
    }

    async fn patch(&self, path: &str, body: Value) -> Answer {
        self.call(Method::PATCH, path, Some(body)).await
    }

    async fn delete(&self, path: &str, body: Option<Value>) -> Answer {
        self.call(Method::DELETE, path, body).await
    }

    /// Creates a flag and returns its id.
    async fn create_flag(&self, body: Value) -> String {
        let answer = self.post("/api/1/flags", body).await;
        let json = answer.ok().json();
        json["id"].as_str().expect("id is a string").to_owned()
    }
}

fn assert_ok_text(answer: &Answer) {
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.text, "OK");
    assert!(
        answer.content_type.starts_with("text/plain"),
        "{}",
        answer.content_type
    );
}

fn assert_error(answer: &Answer, status: u16) {
    assert_eq!(answer.status, status, "{}", answer.text);
    let body = answer.json();
    assert_eq!(body["error"]["code"], json!(status));
    assert!(body["error"]["message"].is_string());
}

fn scratch_dir(name: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!(
        "ampx-emulator-{name}-{}-{nanos}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

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
    assert_eq!(flag["archived"], json!(false));
    assert_eq!(flag["deleted"], json!(false));
    let created_at = flag["createdAt"].as_str().expect("createdAt");
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
    // Same key is fine in the other collection.
    api.post("/api/1/experiments", body).await.ok();

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
    assert_eq!(flag["tags"], json!([]));

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
    assert_eq!(flag["tags"], json!(["web"]));
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
    assert_eq!(all["flags"][1]["archived"], json!(true));
    assert_eq!(all["flags"][1]["deleted"], json!(true));
    // Details still work for archived flags.
    api.get(&format!("/api/1/flags/{id}")).await.ok();
    assert!(handle.flag_json("old").is_some());
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
    assert_eq!(versions[0]["createdBy"], json!("ampx-emulator"));
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

impl Api {
    /// Creates an experiment and returns its id.
    async fn create_experiment(&self, body: Value) -> String {
        let answer = self.post("/api/1/experiments", body).await;
        let json = answer.ok().json();
        json["id"].as_str().expect("id is a string").to_owned()
    }

    async fn experiment(&self, id: &str) -> Value {
        self.get(&format!("/api/1/experiments/{id}"))
            .await
            .ok()
            .json()
    }
}

#[tokio::test]
async fn activate_moves_planning_to_running_and_deactivate_keeps_the_state() {
    let (handle, api) = start().await;
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
async fn rollout_weights_endpoint_sets_the_weights() {
    let (handle, api) = start().await;
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
async fn web_experiments_are_read_only() {
    let (handle, api) = start().await;
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
    assert_eq!(patched["startDate"], json!("2023-07-31T10:26:00.996+02:00"));
    assert_eq!(patched["endDate"], json!("2023-09-23T10:26:00Z"));
    assert_eq!(patched["stickyBucketing"], json!(true));
    assert_eq!(patched["exposureEvent"]["event_type"], json!("_active"));
    assert_ok_text(
        &api.patch(&path, json!({"endDate": null, "exposureEvent": null}))
            .await,
    );
    let cleared = api.experiment(&id).await;
    assert_eq!(cleared["endDate"], Value::Null);
    assert_eq!(cleared["exposureEvent"], Value::Null);

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
        ("endDate", json!("2023-08-29T00:00:00Z")),
        (
            "exposureEvent",
            json!({"event_type": "viewed", "filters": []}),
        ),
        ("experimentType", json!("multi-arm-bandit")),
        ("stickyBucketing", json!(true)),
        ("archived", json!(false)),
        ("tags", json!(["pricing"])),
        ("rolloutWeights", json!({"control": 1, "treatment": 4})),
    ] {
        assert_eq!(detail[field], value, "{field}");
    }
    assert!(detail.get("type").is_none());
    let listed = api.get("/api/1/experiments").await.ok().json();
    assert_eq!(listed["experiments"][0], detail);
    let stored = handle.experiment_json("concluded").expect("stored");
    assert_eq!(
        stored["inclusions"],
        json!({"control": [], "treatment": ["qa@example.com"]})
    );

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

// ----- fault injection -----

async fn start_faulty(faults: Faults) -> (EmulatorHandle, Api) {
    start_with(EmulatorConfig {
        api_key: KEY.to_owned(),
        faults,
        ..EmulatorConfig::default()
    })
    .await
}

/// The faults named in the request log, in order.
fn logged_faults(handle: &EmulatorHandle) -> Vec<Option<String>> {
    handle.requests().into_iter().map(|r| r.fault).collect()
}

#[tokio::test]
async fn error_rate_answers_5xx_and_changes_nothing() {
    let (handle, api) = start_faulty(Faults {
        error_rate: 1.0,
        ..Faults::default()
    })
    .await;
    let (mut json_bodies, mut text_bodies) = (0, 0);
    for i in 0..20 {
        let answer = api
            .post(
                "/api/1/flags",
                json!({"projectId": "100001", "key": format!("never-{i}")}),
            )
            .await;
        assert!(
            [500, 502, 503].contains(&answer.status),
            "{} {}",
            answer.status,
            answer.text
        );
        if answer.content_type.starts_with("application/json") {
            assert_error(&answer, answer.status);
            json_bodies += 1;
        } else {
            assert!(
                answer.content_type.starts_with("text/plain"),
                "{}",
                answer.content_type
            );
            text_bodies += 1;
        }
        assert!(handle.flag_json(&format!("never-{i}")).is_none());
    }
    assert!(
        json_bodies > 0 && text_bodies > 0,
        "{json_bodies} JSON, {text_bodies} text"
    );
    assert_eq!(handle.faults_injected(), 20);
    for record in handle.requests() {
        let fault = record.fault.expect("every request got a fault");
        assert!(
            ["error 500", "error 502", "error 503"].contains(&fault.as_str()),
            "{fault}"
        );
    }
    // A wrong key is still a 401, with no fault.
    handle.clear_requests();
    let wrong = Api {
        http: reqwest::Client::new(),
        base: api.base.clone(),
        key: "nope".to_owned(),
    };
    assert_error(&wrong.get("/api/1/flags").await, 401);
    assert_eq!(logged_faults(&handle), vec![None]);
    handle.shutdown().await;
}

#[tokio::test]
async fn lost_answers_hide_writes_that_were_made_and_saved() {
    let dir = scratch_dir("lost");
    let state_file = dir.join("state.json");
    let (handle, api) = start_with(EmulatorConfig {
        api_key: KEY.to_owned(),
        state_file: Some(state_file.clone()),
        faults: Faults {
            lost_answer_rate: 1.0,
            ..Faults::default()
        },
        ..EmulatorConfig::default()
    })
    .await;
    let saved_flag = |key: &str| -> bool {
        let saved: Value =
            serde_json::from_str(&std::fs::read_to_string(&state_file).expect("read"))
                .expect("json");
        saved.to_string().contains(&format!("\"key\":\"{key}\""))
    };

    let answer = api
        .post(
            "/api/1/flags",
            json!({"projectId": "100001", "key": "made-anyway", "variants": [{"key": "on"}]}),
        )
        .await;
    assert!(
        [502, 504].contains(&answer.status),
        "{} {}",
        answer.status,
        answer.text
    );
    let stored = handle
        .flag_json("made-anyway")
        .expect("the flag was created");
    assert!(saved_flag("made-anyway"), "and saved");
    let id = stored["id"].to_string();

    let answer = api
        .patch(&format!("/api/1/flags/{id}"), json!({"name": "Renamed"}))
        .await;
    assert!(
        [502, 504].contains(&answer.status),
        "{} {}",
        answer.status,
        answer.text
    );
    assert_eq!(
        handle.flag_json("made-anyway").expect("stored")["name"],
        json!("Renamed")
    );

    // Reads are answered; a write that fails anyway answers its own error.
    let detail = api.get(&format!("/api/1/flags/{id}")).await.ok().json();
    assert_eq!(detail["name"], json!("Renamed"));
    assert_error(
        &api.post(
            "/api/1/flags",
            json!({"projectId": "100001", "key": "made-anyway"}),
        )
        .await,
        409,
    );
    let faults = logged_faults(&handle);
    assert_eq!(faults.len(), 4);
    for fault in &faults[..2] {
        let fault = fault.as_deref().expect("a lost answer");
        assert!(
            ["lost answer 502", "lost answer 504"].contains(&fault),
            "{fault}"
        );
    }
    assert_eq!(faults[2..], [None, None]);
    handle.shutdown().await;
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn rate_limit_answers_429_beyond_the_bucket_and_changes_nothing() {
    let (handle, api) = start_faulty(Faults {
        rate_limit_rps: Some(5.0),
        ..Faults::default()
    })
    .await;
    let mut statuses = Vec::new();
    let (mut with_retry_after, mut without) = (0, 0);
    for _ in 0..40 {
        let answer = api.get("/api/1/flags").await;
        if answer.status == 429 {
            match &answer.retry_after {
                Some(value) => {
                    let seconds: u64 = value
                        .parse()
                        .unwrap_or_else(|e| panic!("Retry-After {value:?}: {e}"));
                    assert!(seconds >= 1, "{seconds}");
                    with_retry_after += 1;
                }
                None => without += 1,
            }
        } else {
            assert_eq!(answer.status, 200, "{}", answer.text);
        }
        statuses.push(answer.status);
    }
    let ok = statuses.iter().filter(|s| **s == 200).count();
    assert!(ok >= 5, "the first 5 fit in the bucket: {statuses:?}");
    assert!(
        statuses[..5].iter().all(|s| *s == 200),
        "a full bucket: {statuses:?}"
    );
    assert!(with_retry_after > 0 && without > 0, "{statuses:?}");
    assert_eq!(handle.faults_injected(), 40 - ok);
    assert!(logged_faults(&handle)
        .iter()
        .flatten()
        .all(|f| f == "rate-limited"));

    // Rate-limited writes change nothing: only the answered creates made flags.
    handle.set_faults(Faults {
        rate_limit_rps: Some(5.0),
        ..Faults::default()
    });
    let mut created = 0;
    for i in 0..20 {
        let answer = api
            .post(
                "/api/1/flags",
                json!({"projectId": "100001", "key": format!("burst-{i}")}),
            )
            .await;
        match answer.status {
            200 => created += 1,
            429 => assert!(handle.flag_json(&format!("burst-{i}")).is_none()),
            other => panic!("{other}: {}", answer.text),
        }
    }
    assert!((5..20).contains(&created), "{created}");
    handle.set_faults(Faults::default());
    let listed = api.get("/api/1/flags").await.ok().json();
    assert_eq!(listed["flags"].as_array().map(Vec::len), Some(created));
    handle.shutdown().await;
}

/// The statuses of 40 reads with a 50% error rate and this seed.
async fn outcomes(handle: &EmulatorHandle, api: &Api, seed: u64) -> Vec<u16> {
    handle.set_faults(Faults {
        error_rate: 0.5,
        seed,
        ..Faults::default()
    });
    let mut statuses = Vec::new();
    for _ in 0..40 {
        statuses.push(api.get("/api/1/flags").await.status);
    }
    statuses
}

#[tokio::test]
async fn the_same_seed_gives_the_same_faults() {
    let (handle, api) = start().await;
    let first = outcomes(&handle, &api, 1).await;
    let ok = first.iter().filter(|s| **s == 200).count();
    assert!(ok > 0 && ok < 40, "a mix of answers: {first:?}");
    assert!(first.iter().all(|s| [200, 500, 502, 503].contains(s)));
    assert_eq!(outcomes(&handle, &api, 1).await, first);
    assert_ne!(outcomes(&handle, &api, 2).await, first);

    // A fresh emulator with the seed in its config agrees.
    let (other, other_api) = start_faulty(Faults {
        error_rate: 0.5,
        seed: 1,
        ..Faults::default()
    })
    .await;
    let mut again = Vec::new();
    for _ in 0..40 {
        again.push(other_api.get("/api/1/flags").await.status);
    }
    assert_eq!(again, first);
    other.shutdown().await;
    handle.shutdown().await;
}

#[tokio::test]
async fn latency_delays_every_request() {
    let (handle, api) = start_faulty(Faults {
        latency_ms: 50,
        ..Faults::default()
    })
    .await;
    let started = std::time::Instant::now();
    for _ in 0..4 {
        api.get("/api/1/flags").await.ok();
    }
    let elapsed = started.elapsed();
    assert!(
        elapsed >= std::time::Duration::from_millis(200),
        "{elapsed:?}"
    );
    // Latency alone is not a fault in the log.
    assert_eq!(handle.faults_injected(), 0);
    handle.shutdown().await;
}

#[tokio::test]
async fn set_faults_switches_faults_on_and_off() {
    let (handle, api) = start().await;
    let id = handle
        .seed_flag(json!({"key": "seeded", "variants": [{"key": "on"}]}))
        .expect("seeded");

    handle.set_faults(Faults {
        error_rate: 1.0,
        ..Faults::default()
    });
    let failed = api
        .patch(
            &format!("/api/1/flags/{id}"),
            json!({"name": "Not applied"}),
        )
        .await;
    assert!(failed.status >= 500, "{}", failed.status);
    assert_ne!(
        handle.flag_json("seeded").expect("stored")["name"],
        json!("Not applied")
    );

    handle.set_faults(Faults {
        lost_answer_rate: 1.0,
        ..Faults::default()
    });
    let lost = api
        .patch(&format!("/api/1/flags/{id}"), json!({"name": "Applied"}))
        .await;
    assert!(lost.status >= 500, "{}", lost.status);
    assert_eq!(
        handle.flag_json("seeded").expect("stored")["name"],
        json!("Applied")
    );

    // A bucket holds at least one request; this one refills in 10 s.
    handle.set_faults(Faults {
        rate_limit_rps: Some(0.1),
        ..Faults::default()
    });
    api.get("/api/1/flags").await.ok();
    assert_eq!(api.get("/api/1/flags").await.status, 429);

    handle.set_faults(Faults::default());
    assert_ok_text(
        &api.patch(&format!("/api/1/flags/{id}"), json!({"name": "Calm"}))
            .await,
    );

    let faults = logged_faults(&handle);
    assert_eq!(faults.len(), 5);
    assert!(
        faults[0]
            .as_deref()
            .is_some_and(|f| f.starts_with("error 5")),
        "{faults:?}"
    );
    assert!(
        faults[1]
            .as_deref()
            .is_some_and(|f| f.starts_with("lost answer 50")),
        "{faults:?}"
    );
    assert_eq!(faults[2], None);
    assert_eq!(faults[3].as_deref(), Some("rate-limited"));
    assert_eq!(faults[4], None);
    assert_eq!(handle.faults_injected(), 3);
    handle.shutdown().await;
}

// ----- cohorts on variants -----

#[tokio::test]
async fn variant_cohorts_add_list_and_bulk_delete() {
    let (handle, api) = start().await;
    let id = api
        .create_flag(json!({"projectId": "100001", "key": "cohorted", "variants": [{"key": "on"}, {"key": "off"}]}))
        .await;
    let cohorts = format!("/api/1/flags/{id}/variants/on/cohorts");
    assert_eq!(api.get(&cohorts).await.ok().json(), json!([]));
    assert_ok_text(
        &api.post(&cohorts, json!({"inclusions": ["c1", "c2", "c1"]}))
            .await,
    );
    // Adding again is harmless: ids already there are not repeated.
    assert_ok_text(
        &api.post(&cohorts, json!({"inclusions": ["c2", "c3"]}))
            .await,
    );
    assert_eq!(
        api.get(&cohorts).await.ok().json(),
        json!(["c1", "c2", "c3"])
    );
    // Cohorts are not inclusions, and belong to one variant.
    assert_eq!(
        api.get(&format!("/api/1/flags/{id}/variants/on/users"))
            .await
            .ok()
            .json(),
        json!([])
    );
    assert_eq!(
        api.get(&format!("/api/1/flags/{id}/variants/off/cohorts"))
            .await
            .ok()
            .json(),
        json!([])
    );

    for bad in [
        json!({}),
        json!({"inclusions": "c1"}),
        json!({"inclusions": [1, 2]}),
        json!({"inclusions": [""]}),
        json!({"cohorts": ["c9"]}),
    ] {
        assert_error(&api.post(&cohorts, bad).await, 400);
    }
    assert_error(
        &api.post(
            &format!("/api/1/flags/{id}/variants/ghost/cohorts"),
            json!({"inclusions": ["c1"]}),
        )
        .await,
        404,
    );
    assert_error(
        &api.get("/api/1/flags/999999/variants/on/cohorts").await,
        404,
    );

    let bulk = format!("/api/1/flags/{id}/variants/on/bulk-delete-cohorts");
    let hundred_one: Vec<String> = (0..101).map(|n| format!("c{n}")).collect();
    assert_error(
        &api.delete(&bulk, Some(json!({"users": hundred_one}))).await,
        400,
    );
    assert_error(
        &api.delete(&bulk, Some(json!({"cohorts": ["c1"]}))).await,
        400,
    );
    assert_eq!(
        api.get(&cohorts).await.ok().json(),
        json!(["c1", "c2", "c3"])
    );
    let mut hundred = vec!["c1".to_owned(), "c2".to_owned()];
    hundred.extend((2..100).map(|n| format!("x{n}")));
    assert_ok_text(&api.delete(&bulk, Some(json!({"users": hundred}))).await);
    assert_eq!(api.get(&cohorts).await.ok().json(), json!(["c3"]));
    assert_ok_text(&api.delete(&bulk, Some(json!({"users": ["nope"]}))).await);

    let stored = handle.flag_json("cohorted").expect("stored");
    assert_eq!(stored["cohorts"], json!({"on": ["c3"], "off": []}));
    // Every cohort write is a version, like any other write.
    let versions = api
        .get(&format!("/api/1/flags/{id}/versions"))
        .await
        .ok()
        .json();
    assert_eq!(versions.as_array().map(Vec::len), Some(5));

    // Experiments have the same endpoints; a renamed variant keeps its cohorts.
    let exp = handle
        .seed_experiment(json!({
            "key": "exp-cohorts",
            "variants": [{"key": "control", "cohorts": ["k1", "k1", "k2"]}, {"key": "treatment"}]
        }))
        .expect("seeded");
    let stored = handle.experiment_json("exp-cohorts").expect("stored");
    assert_eq!(
        stored["cohorts"],
        json!({"control": ["k1", "k2"], "treatment": []})
    );
    assert_ok_text(
        &api.patch(
            &format!("/api/1/experiments/{exp}/variants/control"),
            json!({"key": "baseline"}),
        )
        .await,
    );
    assert_eq!(
        api.get(&format!(
            "/api/1/experiments/{exp}/variants/baseline/cohorts"
        ))
        .await
        .ok()
        .json(),
        json!(["k1", "k2"])
    );
    assert!(handle
        .seed_flag(json!({"key": "bad-cohorts", "variants": [{"key": "on", "cohorts": "k1"}]}))
        .is_err());
    assert_eq!(
        handle.count("POST", &format!("/api/1/flags/{id}/variants/on/cohorts")),
        7
    );
    handle.shutdown().await;
}

// ----- mutual exclusion and holdout groups -----

impl Api {
    /// Creates a group (`/api/1/mutexes` or `/api/1/holdouts`) and returns its id.
    async fn create_group(&self, path: &str, body: Value) -> String {
        let answer = self.post(path, body).await;
        let json = answer.ok().json();
        assert_eq!(
            json["url"],
            json!("http://experiment.amplitude.com/amplitude/experiments/grouped-experiments")
        );
        json["id"].as_str().expect("id is a string").to_owned()
    }
}

/// An experiment id as the groups show it: a number.
fn num(id: &str) -> Value {
    json!(id.parse::<u64>().expect("numeric id"))
}

#[tokio::test]
async fn mutex_groups_create_list_get_patch_and_archive() {
    let (handle, api) = start().await;
    let e1 = api
        .create_experiment(json!({"projectId": "100001", "key": "mx-e1"}))
        .await;
    let e2 = api
        .create_experiment(json!({"projectId": "100001", "key": "mx-e2"}))
        .await;
    let id = api
        .create_group(
            "/api/1/mutexes",
            json!({
                "projectId": 100001,
                "name": "Checkout",
                "key": "checkout-mutex",
                "description": "one test at a time",
                "slots": [
                    {"percentage": 40, "experiments": [num(&e1)]},
                    {"percentage": 60, "experiments": [e2.clone()], "individuals": ["x@amplitude.com"]}
                ]
            }),
        )
        .await;
    let group = api.get(&format!("/api/1/mutexes/{id}")).await.ok().json();
    assert_eq!(group["id"], num(&id));
    assert_eq!(group["key"], json!("checkout-mutex"));
    assert_eq!(group["name"], json!("Checkout"));
    assert_eq!(group["description"], json!("one test at a time"));
    assert_eq!(group["evaluationMode"], json!("remote"));
    assert_eq!(group["bucketingKey"], json!("amplitude_id"));
    assert_eq!(group["bucketingSalt"].as_str().map(str::len), Some(8));
    assert_eq!(
        group["slots"],
        json!([
            {"name": "SLOT 1", "index": 1, "variantKey": "slot-1", "percentage": 40,
             "experiments": [num(&e1)], "holdouts": [], "individuals": [], "cohorts": []},
            {"name": "SLOT 2", "index": 2, "variantKey": "slot-2", "percentage": 60,
             "experiments": [num(&e2)], "holdouts": [], "individuals": ["x@amplitude.com"], "cohorts": []}
        ])
    );
    assert_eq!(handle.mutex_json("checkout-mutex"), Some(group.clone()));

    let second = api
        .create_group(
            "/api/1/mutexes",
            json!({"projectId": "100001", "name": "Solo", "evaluationMode": "local",
                   "bucketingKey": "device_id", "slots": [{"percentage": 100}]}),
        )
        .await;
    let solo = api
        .get(&format!("/api/1/mutexes/{second}"))
        .await
        .ok()
        .json();
    assert!(
        solo["key"]
            .as_str()
            .is_some_and(|k| k.starts_with("mutex-")),
        "a key is generated: {}",
        solo["key"]
    );
    assert_eq!(solo["description"], json!(null));
    assert_eq!(solo["evaluationMode"], json!("local"));
    assert_eq!(solo["bucketingKey"], json!("device_id"));

    let list = api.get("/api/1/mutexes?limit=1000").await.ok().json();
    let keys: Vec<&Value> = list["mutexes"]
        .as_array()
        .expect("mutexes")
        .iter()
        .map(|g| &g["key"])
        .collect();
    assert_eq!(
        keys,
        [&solo["key"], &json!("checkout-mutex")],
        "newest first"
    );
    assert!(list.get("nextCursor").is_none());
    let paged = api.get("/api/1/mutexes?limit=1").await.ok().json();
    assert_eq!(paged["mutexes"].as_array().map(Vec::len), Some(1));
    assert_eq!(paged["nextCursor"], json!(1));

    for bad in [
        json!({"projectId": 100001, "slots": [{"percentage": 100}]}),
        json!({"projectId": 100001, "name": "n"}),
        json!({"projectId": 100001, "name": "n", "slots": []}),
        json!({"projectId": 100001, "name": "n", "slots": [{"percentage": 50}, {"percentage": 40}]}),
        json!({"projectId": 100001, "name": "n", "slots": [{"percentage": 0}, {"percentage": 100}]}),
        json!({"projectId": 100001, "name": "n", "slots": [{"percentage": 50.5}, {"percentage": 49.5}]}),
        json!({"projectId": 100001, "name": "n", "slots": [{"percentage": 100, "experiments": [424242]}]}),
        json!({"projectId": 100001, "name": "n", "slots": [{"percentage": 100, "holdouts": [424242]}]}),
        json!({"projectId": 100001, "name": "n", "slots": [{"percentage": 100}], "evaluationMode": "edge"}),
        json!({"projectId": 100001, "name": "n", "key": "has space", "slots": [{"percentage": 100}]}),
        json!({"name": "n", "slots": [{"percentage": 100}]}),
    ] {
        assert_error(&api.post("/api/1/mutexes", bad).await, 400);
    }
    let unknown = api
        .post(
            "/api/1/mutexes",
            json!({"projectId": 100001, "name": "n", "slots": [{"percentage": 100, "experiments": [424242]}]}),
        )
        .await;
    assert!(unknown.text.contains("424242"), "{}", unknown.text);
    let slots: Vec<Value> = (0..21).map(|_| json!({"percentage": 1})).collect();
    assert_error(
        &api.post(
            "/api/1/mutexes",
            json!({"projectId": 100001, "name": "n", "slots": slots}),
        )
        .await,
        400,
    );
    let mut twenty: Vec<Value> = (0..19).map(|_| json!({"percentage": 5})).collect();
    twenty.push(json!({"percentage": 5}));
    api.post(
        "/api/1/mutexes",
        json!({"projectId": 100001, "name": "twenty", "key": "twenty", "slots": twenty}),
    )
    .await
    .ok();
    assert_error(
        &api.post(
            "/api/1/mutexes",
            json!({"projectId": 999, "name": "n", "slots": [{"percentage": 100}]}),
        )
        .await,
        403,
    );

    // Name and description change; the rest is fixed at creation.
    let path = format!("/api/1/mutexes/{id}");
    assert_ok_text(
        &api.patch(
            &path,
            json!({"name": "Checkout tests", "description": "renamed"}),
        )
        .await,
    );
    let before = handle.mutex_json("checkout-mutex").expect("stored");
    assert_eq!(before["name"], json!("Checkout tests"));
    assert_eq!(before["description"], json!("renamed"));
    for immutable in [
        json!({"slots": [{"percentage": 50}, {"percentage": 50}]}),
        json!({"evaluationMode": "local"}),
        json!({"bucketingKey": "device_id"}),
        json!({"name": "sneaky", "evaluationMode": "remote"}),
    ] {
        assert_error(&api.patch(&path, immutable).await, 400);
    }
    assert_eq!(handle.mutex_json("checkout-mutex"), Some(before.clone()));
    assert_error(&api.patch(&path, json!({"name": 7})).await, 400);
    assert_error(&api.get("/api/1/mutexes/424242").await, 404);
    assert_error(
        &api.patch("/api/1/mutexes/424242", json!({"name": "x"}))
            .await,
        404,
    );
    // A holdout's id is not a mutex's.
    assert_error(&api.get(&format!("/api/1/holdouts/{id}")).await, 404);
    // No DELETE.
    assert_error(&api.delete(&path, None).await, 404);

    // Archiving ignores everything else, hides the group and keeps its key.
    assert_ok_text(
        &api.patch(&path, json!({"archive": true, "name": "ignored"}))
            .await,
    );
    let archived = handle.mutex_json("checkout-mutex").expect("stored");
    assert_eq!(archived["deleted"], json!(true));
    assert_eq!(archived["name"], json!("Checkout tests"));
    let live = api.get("/api/1/mutexes").await.ok().json();
    assert!(live["mutexes"]
        .as_array()
        .expect("mutexes")
        .iter()
        .all(|g| g["key"] != json!("checkout-mutex")));
    let all = api
        .get("/api/1/mutexes?includeArchived=true")
        .await
        .ok()
        .json();
    assert!(all["mutexes"]
        .as_array()
        .expect("mutexes")
        .iter()
        .any(|g| g["key"] == json!("checkout-mutex") && g["deleted"] == json!(true)));
    api.get(&path).await.ok();
    assert_error(
        &api.post(
            "/api/1/mutexes",
            json!({"projectId": 100001, "name": "again", "key": "checkout-mutex", "slots": [{"percentage": 100}]}),
        )
        .await,
        409,
    );
    assert_ok_text(&api.patch(&path, json!({"archive": false})).await);
    assert_eq!(
        handle.mutex_json("checkout-mutex").expect("stored")["deleted"],
        json!(false)
    );
    handle.shutdown().await;
}

#[tokio::test]
async fn mutex_slots_are_patched_by_their_one_based_index() {
    let (handle, api) = start().await;
    let e1 = api
        .create_experiment(json!({"projectId": "100001", "key": "slot-e1"}))
        .await;
    let e2 = api
        .create_experiment(json!({"projectId": "100001", "key": "slot-e2"}))
        .await;
    let holdout = api
        .create_group(
            "/api/1/holdouts",
            json!({"projectId": 100001, "name": "H", "key": "slot-holdout", "holdoutPercentage": 5}),
        )
        .await;
    let id = api
        .create_group(
            "/api/1/mutexes",
            json!({"projectId": 100001, "name": "M", "key": "slotted",
                   "slots": [{"percentage": 50}, {"percentage": 50, "experiments": [num(&e2)]}]}),
        )
        .await;
    let slot = |n: &str| format!("/api/1/mutexes/{id}/slots/{n}");
    assert_ok_text(
        &api.patch(
            &slot("1"),
            json!({"experiments": [num(&e1), num(&e2)], "holdouts": [num(&holdout)], "individuals": ["x@amplitude.com", "abcde-12345"]}),
        )
        .await,
    );
    let group = handle.mutex_json("slotted").expect("stored");
    assert_eq!(group["slots"][0]["index"], json!(1));
    assert_eq!(
        group["slots"][0]["experiments"],
        json!([num(&e1), num(&e2)])
    );
    assert_eq!(group["slots"][0]["holdouts"], json!([num(&holdout)]));
    assert_eq!(
        group["slots"][0]["individuals"],
        json!(["x@amplitude.com", "abcde-12345"])
    );
    assert_eq!(group["slots"][0]["percentage"], json!(50));
    // Slot 2 is untouched; a list given replaces the slot's list, one left out stays.
    assert_eq!(group["slots"][1]["experiments"], json!([num(&e2)]));
    assert_ok_text(&api.patch(&slot("2"), json!({"experiments": []})).await);
    assert_ok_text(&api.patch(&slot("1"), json!({"individuals": []})).await);
    let group = handle.mutex_json("slotted").expect("stored");
    assert_eq!(group["slots"][1]["experiments"], json!([]));
    assert_eq!(group["slots"][0]["individuals"], json!([]));
    assert_eq!(
        group["slots"][0]["experiments"],
        json!([num(&e1), num(&e2)])
    );

    let before = handle.mutex_json("slotted").expect("stored");
    assert_error(
        &api.patch(&slot("0"), json!({"experiments": []})).await,
        404,
    );
    assert_error(
        &api.patch(&slot("3"), json!({"experiments": []})).await,
        404,
    );
    assert_error(
        &api.patch(&slot("one"), json!({"experiments": []})).await,
        400,
    );
    let unknown = api
        .patch(&slot("1"), json!({"experiments": [num(&e1), 424242]}))
        .await;
    assert_error(&unknown, 400);
    assert!(unknown.text.contains("424242"), "{}", unknown.text);
    assert_error(
        &api.patch(&slot("1"), json!({"holdouts": [num(&e1)]})).await,
        400,
    );
    assert_error(&api.patch(&slot("1"), json!({"percentage": 60})).await, 400);
    assert_error(
        &api.patch(&slot("1"), json!({"experiments": "all"})).await,
        400,
    );
    assert_error(
        &api.patch("/api/1/mutexes/424242/slots/1", json!({"experiments": []}))
            .await,
        404,
    );
    // Holdouts have no slots.
    assert_error(
        &api.patch(
            &format!("/api/1/holdouts/{holdout}/slots/1"),
            json!({"experiments": []}),
        )
        .await,
        404,
    );
    assert_eq!(handle.mutex_json("slotted"), Some(before));
    handle.shutdown().await;
}

#[tokio::test]
async fn holdout_groups_create_list_get_patch_and_archive() {
    let (handle, api) = start().await;
    let e1 = api
        .create_experiment(json!({"projectId": "100001", "key": "ho-e1"}))
        .await;
    let e2 = api
        .create_experiment(json!({"projectId": "100001", "key": "ho-e2"}))
        .await;
    let local = api
        .create_experiment(
            json!({"projectId": "100001", "key": "ho-local", "evaluationMode": "local"}),
        )
        .await;
    let id = api
        .create_group(
            "/api/1/holdouts",
            json!({
                "projectId": 100001,
                "name": "Q3 holdout",
                "key": "q3-holdout",
                "description": "keep 5% out",
                "holdoutPercentage": 5,
                "experiments": [num(&e1)],
                "individualInclusion": ["x@amplitude.com"],
                "individualExclusion": ["y@amplitude.com"]
            }),
        )
        .await;
    let group = api.get(&format!("/api/1/holdouts/{id}")).await.ok().json();
    assert_eq!(group["id"], num(&id));
    assert_eq!(group["key"], json!("q3-holdout"));
    assert_eq!(group["holdoutPercentage"], json!(5));
    assert_eq!(group["evaluationMode"], json!("remote"));
    assert_eq!(group["bucketingKey"], json!("amplitude_id"));
    assert_eq!(group["variantName"], json!("on"));
    assert_eq!(group["experiments"], json!([num(&e1)]));
    assert_eq!(group["individualInclusion"], json!(["x@amplitude.com"]));
    assert_eq!(group["individualExclusion"], json!(["y@amplitude.com"]));
    assert_eq!(group["deleted"], json!(false));
    assert!(group["createdAt"].is_string() && group["lastModifiedAt"].is_string());
    assert!(group.get("slots").is_none());
    assert_eq!(handle.holdout_json("q3-holdout"), Some(group));

    let generated = api
        .create_group(
            "/api/1/holdouts",
            json!({"projectId": 100001, "name": "Auto", "holdoutPercentage": 99}),
        )
        .await;
    let auto = api
        .get(&format!("/api/1/holdouts/{generated}"))
        .await
        .ok()
        .json();
    assert!(
        auto["key"]
            .as_str()
            .is_some_and(|k| k.starts_with("holdout-")),
        "{}",
        auto["key"]
    );
    let list = api.get("/api/1/holdouts").await.ok().json();
    assert_eq!(list["holdouts"].as_array().map(Vec::len), Some(2));
    assert_eq!(list["holdouts"][0]["id"], num(&generated), "newest first");
    assert!(api.get("/api/1/mutexes").await.ok().json()["mutexes"]
        .as_array()
        .is_some_and(Vec::is_empty));

    for bad in [
        json!({"projectId": 100001, "name": "n"}),
        json!({"projectId": 100001, "name": "n", "holdoutPercentage": 0}),
        json!({"projectId": 100001, "name": "n", "holdoutPercentage": 100}),
        json!({"projectId": 100001, "name": "n", "holdoutPercentage": 2.5}),
        json!({"projectId": 100001, "name": "n", "holdoutPercentage": "5"}),
        json!({"projectId": 100001, "holdoutPercentage": 5}),
        json!({"projectId": 100001, "name": "n", "holdoutPercentage": 5, "experiments": [424242]}),
        json!({"projectId": 100001, "name": "n", "holdoutPercentage": 5, "individualInclusion": "x"}),
        // A local experiment cannot depend on a remote holdout.
        json!({"projectId": 100001, "name": "n", "holdoutPercentage": 5, "experiments": [num(&local)]}),
    ] {
        assert_error(&api.post("/api/1/holdouts", bad).await, 400);
    }
    api.post(
        "/api/1/holdouts",
        json!({"projectId": 100001, "name": "local", "key": "local-holdout",
               "holdoutPercentage": 5, "evaluationMode": "local", "experiments": [num(&local)]}),
    )
    .await
    .ok();

    let path = format!("/api/1/holdouts/{id}");
    assert_ok_text(
        &api.patch(
            &path,
            json!({"name": "updated", "description": "updated description",
                   "experiments": [num(&e1), num(&e2)], "individualInclusion": ["z@amplitude.com"]}),
        )
        .await,
    );
    let before = handle.holdout_json("q3-holdout").expect("stored");
    assert_eq!(before["name"], json!("updated"));
    assert_eq!(before["description"], json!("updated description"));
    assert_eq!(before["experiments"], json!([num(&e1), num(&e2)]));
    assert_eq!(before["individualInclusion"], json!(["z@amplitude.com"]));
    assert_eq!(before["individualExclusion"], json!(["y@amplitude.com"]));
    for refused in [
        json!({"holdoutPercentage": 10}),
        json!({"evaluationMode": "local"}),
        json!({"bucketingKey": "device_id"}),
        json!({"name": "sneaky", "holdoutPercentage": 5}),
        json!({"name": "sneaky", "experiments": [424242]}),
        json!({"name": "sneaky", "experiments": [num(&local)]}),
    ] {
        assert_error(&api.patch(&path, refused).await, 400);
    }
    assert_eq!(handle.holdout_json("q3-holdout"), Some(before));

    assert_ok_text(&api.patch(&path, json!({"archive": true})).await);
    let live = api.get("/api/1/holdouts").await.ok().json();
    assert!(live["holdouts"]
        .as_array()
        .expect("holdouts")
        .iter()
        .all(|g| g["id"] != num(&id)));
    let all = api
        .get("/api/1/holdouts?includeArchived=true")
        .await
        .ok()
        .json();
    assert!(all["holdouts"]
        .as_array()
        .expect("holdouts")
        .iter()
        .any(|g| g["id"] == num(&id) && g["deleted"] == json!(true)));
    assert_eq!(api.get(&path).await.ok().json()["deleted"], json!(true));
    assert_error(&api.get("/api/1/holdouts?includeArchived=maybe").await, 400);
    handle.shutdown().await;
}

#[tokio::test]
async fn parent_dependencies_follow_the_groups_and_go_on_archive() {
    let (handle, api) = start().await;
    let e1 = api
        .create_experiment(json!({"projectId": "100001", "key": "dep-e1"}))
        .await;
    let e2 = api
        .create_experiment(json!({"projectId": "100001", "key": "dep-e2"}))
        .await;
    let flag = api
        .create_flag(json!({"projectId": "100001", "key": "dep-flag"}))
        .await;
    assert!(api
        .experiment(&e1)
        .await
        .get("parentDependencies")
        .is_none());

    let mutex = api
        .create_group(
            "/api/1/mutexes",
            json!({"projectId": 100001, "name": "M", "key": "dep-mutex",
                   "slots": [{"percentage": 50, "experiments": [num(&e1)]},
                             {"percentage": 50, "experiments": [num(&e1)]}]}),
        )
        .await;
    let holdout = api
        .create_group(
            "/api/1/holdouts",
            json!({"projectId": 100001, "name": "H", "key": "dep-holdout",
                   "holdoutPercentage": 10, "experiments": [num(&e1)]}),
        )
        .await;
    let both = json!({
        "flags": {mutex.clone(): ["slot-1", "slot-2"], holdout.clone(): ["on"]},
        "operator": "all"
    });
    assert_eq!(api.experiment(&e1).await["parentDependencies"], both);
    assert!(api
        .experiment(&e2)
        .await
        .get("parentDependencies")
        .is_none());
    assert_eq!(
        handle.experiment_json("dep-e1").expect("stored")["parentDependencies"],
        both
    );
    let listed = api.get("/api/1/experiments").await.ok().json();
    let in_list = listed["experiments"]
        .as_array()
        .expect("experiments")
        .iter()
        .find(|x| x["key"] == json!("dep-e1"))
        .expect("listed")
        .clone();
    assert_eq!(in_list["parentDependencies"], both);

    // Moving experiments between slots moves their dependencies.
    assert_ok_text(
        &api.patch(
            &format!("/api/1/mutexes/{mutex}/slots/2"),
            json!({"experiments": [num(&e2)]}),
        )
        .await,
    );
    assert_eq!(
        api.experiment(&e1).await["parentDependencies"],
        json!({"flags": {mutex.clone(): ["slot-1"], holdout.clone(): ["on"]}, "operator": "all"})
    );
    assert_eq!(
        api.experiment(&e2).await["parentDependencies"],
        json!({"flags": {mutex.clone(): ["slot-2"]}, "operator": "all"})
    );

    // Read-only: a PATCH that names it changes nothing.
    assert_ok_text(
        &api.patch(
            &format!("/api/1/flags/{flag}"),
            json!({"parentDependencies": {"flags": {mutex.clone(): ["slot-1"]}, "operator": "all"}}),
        )
        .await,
    );
    assert!(api
        .get(&format!("/api/1/flags/{flag}"))
        .await
        .ok()
        .json()
        .get("parentDependencies")
        .is_none());
    assert_ok_text(
        &api.patch(
            &format!("/api/1/experiments/{e2}"),
            json!({"parentDependencies": null}),
        )
        .await,
    );
    assert!(api
        .experiment(&e2)
        .await
        .get("parentDependencies")
        .is_some());

    // Archiving a group drops it from its experiments' dependencies.
    assert_ok_text(
        &api.patch(&format!("/api/1/mutexes/{mutex}"), json!({"archive": true}))
            .await,
    );
    assert_eq!(
        api.experiment(&e1).await["parentDependencies"],
        json!({"flags": {holdout.clone(): ["on"]}, "operator": "all"})
    );
    assert!(api
        .experiment(&e2)
        .await
        .get("parentDependencies")
        .is_none());
    assert_ok_text(
        &api.patch(
            &format!("/api/1/holdouts/{holdout}"),
            json!({"archive": true}),
        )
        .await,
    );
    assert!(api
        .experiment(&e1)
        .await
        .get("parentDependencies")
        .is_none());
    assert!(handle
        .experiment_json("dep-e1")
        .expect("stored")
        .get("parentDependencies")
        .is_none());
    handle.shutdown().await;
}

#[tokio::test]
async fn keys_are_unique_across_flags_experiments_and_groups() {
    let (handle, api) = start().await;
    api.create_flag(json!({"projectId": "100001", "key": "k-flag"}))
        .await;
    api.create_experiment(json!({"projectId": "100001", "key": "k-exp"}))
        .await;
    api.create_group(
        "/api/1/mutexes",
        json!({"projectId": 100001, "name": "m", "key": "k-mutex", "slots": [{"percentage": 100}]}),
    )
    .await;
    let holdout = api
        .create_group(
            "/api/1/holdouts",
            json!({"projectId": 100001, "name": "h", "key": "k-holdout", "holdoutPercentage": 5}),
        )
        .await;
    // An archived group keeps its key.
    assert_ok_text(
        &api.patch(
            &format!("/api/1/holdouts/{holdout}"),
            json!({"archive": true}),
        )
        .await,
    );
    for key in ["k-flag", "k-exp", "k-mutex", "k-holdout"] {
        let mutex = api
            .post(
                "/api/1/mutexes",
                json!({"projectId": 100001, "name": "x", "key": key, "slots": [{"percentage": 100}]}),
            )
            .await;
        assert_error(&mutex, 409);
        assert_error(
            &api.post(
                "/api/1/holdouts",
                json!({"projectId": 100001, "name": "x", "key": key, "holdoutPercentage": 5}),
            )
            .await,
            409,
        );
    }
    for key in ["k-mutex", "k-holdout"] {
        for path in ["/api/1/flags", "/api/1/experiments"] {
            assert_error(
                &api.post(path, json!({"projectId": "100001", "key": key}))
                    .await,
                409,
            );
        }
    }
    assert!(handle.flag_json("k-mutex").is_none());
    assert!(handle.experiment_json("k-holdout").is_none());
    assert!(handle
        .seed_mutex(json!({"key": "k-flag", "slots": [{"percentage": 100}]}))
        .is_err());
    handle.shutdown().await;
}

#[tokio::test]
async fn seed_groups_and_read_them_back() {
    let (handle, api) = start().await;
    let e1 = handle
        .seed_experiment(json!({"key": "seed-e1"}))
        .expect("seeded");
    handle
        .seed_experiment(json!({"key": "seed-e2"}))
        .expect("seeded");
    let holdout = handle
        .seed_holdout(json!({
            "key": "seed-holdout",
            "holdoutPercentage": 3,
            "bucketingSalt": "SALTSALT",
            "experiments": ["seed-e1", e1.clone()],
            "individualExclusion": ["y"]
        }))
        .expect("seeded");
    let mutex = handle
        .seed_mutex(json!({
            "key": "seed-mutex",
            "name": "Seeded",
            "archived": true,
            "bucketingSalt": "abcdEFGH",
            "slots": [
                {"percentage": 70, "experiments": ["seed-e2"], "holdouts": ["seed-holdout"], "cohorts": ["coh1"]},
                {"percentage": 30, "experiments": [num(&e1)]}
            ]
        }))
        .expect("seeded");
    let h = handle.holdout_json("seed-holdout").expect("stored");
    assert_eq!(h["id"], num(&holdout));
    assert_eq!(
        h["name"],
        json!("seed-holdout"),
        "the name defaults to the key"
    );
    assert_eq!(h["bucketingSalt"], json!("SALTSALT"));
    assert_eq!(h["experiments"], json!([num(&e1)]));
    assert_eq!(h["individualExclusion"], json!(["y"]));
    let m = handle.mutex_json("seed-mutex").expect("stored");
    assert_eq!(m["id"], num(&mutex));
    assert_eq!(m["deleted"], json!(true));
    assert_eq!(m["bucketingSalt"], json!("abcdEFGH"));
    assert_eq!(m["slots"][0]["holdouts"], json!([num(&holdout)]));
    assert_eq!(m["slots"][0]["cohorts"], json!(["coh1"]));
    assert_eq!(m["slots"][1]["experiments"], json!([num(&e1)]));
    // The seeded mutex is archived, so only the holdout shows in dependencies.
    assert_eq!(
        handle.experiment_json("seed-e1").expect("stored")["parentDependencies"],
        json!({"flags": {holdout.clone(): ["on"]}, "operator": "all"})
    );
    assert!(handle.mutex_json("seed-holdout").is_none());
    assert!(handle.holdout_json("seed-mutex").is_none());
    assert!(handle.mutex_json("missing").is_none());
    for bad in [
        json!({"key": "b1", "slots": [{"percentage": 100, "experiments": ["no-such-experiment"]}]}),
        json!({"key": "b2", "slots": [{"percentage": 90}]}),
        json!({"key": "b3"}),
    ] {
        assert!(handle.seed_mutex(bad).is_err());
    }
    assert!(handle.seed_holdout(json!({"key": "b4"})).is_err());
    assert!(handle
        .seed_holdout(json!({"key": "b5", "holdoutPercentage": 5, "experiments": ["nope"]}))
        .is_err());
    assert!(handle.requests().is_empty());
    let listed = api.get("/api/1/mutexes").await.ok().json();
    assert_eq!(listed["mutexes"], json!([]));
    handle.shutdown().await;
}

#[tokio::test]
async fn state_file_keeps_groups_and_cohorts() {
    let dir = scratch_dir("groups-state");
    let state_file = dir.join("state.json");
    let config = EmulatorConfig {
        api_key: KEY.to_owned(),
        state_file: Some(state_file.clone()),
        ..EmulatorConfig::default()
    };
    let (handle, api) = start_with(config.clone()).await;
    let e1 = api
        .create_experiment(json!({"projectId": "100001", "key": "st-e1"}))
        .await;
    api.post(
        &format!("/api/1/experiments/{e1}/variants/control/cohorts"),
        json!({"inclusions": ["coh-a", "coh-b"]}),
    )
    .await
    .ok();
    let mutex = api
        .create_group(
            "/api/1/mutexes",
            json!({"projectId": 100001, "name": "M", "key": "st-mutex",
                   "slots": [{"percentage": 20}, {"percentage": 80}]}),
        )
        .await;
    assert_ok_text(
        &api.patch(
            &format!("/api/1/mutexes/{mutex}/slots/2"),
            json!({"experiments": [num(&e1)], "individuals": ["u1"]}),
        )
        .await,
    );
    let holdout = api
        .create_group(
            "/api/1/holdouts",
            json!({"projectId": 100001, "name": "H", "key": "st-holdout",
                   "holdoutPercentage": 7, "experiments": [num(&e1)]}),
        )
        .await;
    assert_ok_text(
        &api.patch(
            &format!("/api/1/holdouts/{holdout}"),
            json!({"archive": true}),
        )
        .await,
    );
    let experiment = handle.experiment_json("st-e1").expect("stored");
    assert_eq!(experiment["cohorts"]["control"], json!(["coh-a", "coh-b"]));
    assert_eq!(
        experiment["parentDependencies"],
        json!({"flags": {mutex.clone(): ["slot-2"]}, "operator": "all"})
    );
    let mutex_before = handle.mutex_json("st-mutex").expect("stored");
    let holdout_before = handle.holdout_json("st-holdout").expect("stored");
    handle.shutdown().await;

    let (handle, api) = start_with(config).await;
    assert_eq!(handle.experiment_json("st-e1"), Some(experiment));
    assert_eq!(handle.mutex_json("st-mutex"), Some(mutex_before));
    assert_eq!(handle.holdout_json("st-holdout"), Some(holdout_before));
    assert_eq!(
        api.get(&format!("/api/1/experiments/{e1}/variants/control/cohorts"))
            .await
            .ok()
            .json(),
        json!(["coh-a", "coh-b"])
    );
    // Ids go on past the groups', and their keys stay taken.
    let next = api
        .create_flag(json!({"projectId": "100001", "key": "st-next"}))
        .await;
    let highest = [&e1, &mutex, &holdout]
        .iter()
        .map(|id| id.parse::<u64>().expect("numeric"))
        .max();
    assert!(next.parse::<u64>().ok() > highest, "{next}");
    assert_error(
        &api.post(
            "/api/1/holdouts",
            json!({"projectId": 100001, "name": "again", "key": "st-holdout", "holdoutPercentage": 5}),
        )
        .await,
        409,
    );
    handle.shutdown().await;
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn group_requests_are_logged_and_meet_faults() {
    let (handle, api) = start_faulty(Faults {
        lost_answer_rate: 1.0,
        ..Faults::default()
    })
    .await;
    let lost = api
        .post(
            "/api/1/mutexes",
            json!({"projectId": 100001, "name": "M", "key": "lost-mutex", "slots": [{"percentage": 100}]}),
        )
        .await;
    assert!([502, 504].contains(&lost.status), "{}", lost.status);
    assert!(handle.mutex_json("lost-mutex").is_some(), "made anyway");
    let lost = api
        .post(
            "/api/1/holdouts",
            json!({"projectId": 100001, "name": "H", "key": "lost-holdout", "holdoutPercentage": 5}),
        )
        .await;
    assert!([502, 504].contains(&lost.status), "{}", lost.status);
    assert!(handle.holdout_json("lost-holdout").is_some(), "made anyway");
    // A read is never lost; a refused write answers its real error.
    api.get("/api/1/holdouts").await.ok();
    assert_error(
        &api.post("/api/1/holdouts", json!({"projectId": 100001, "name": "x"}))
            .await,
        400,
    );
    assert_eq!(handle.count("POST", "/api/1/mutexes"), 1);
    assert_eq!(handle.count("POST", "/api/1/holdouts"), 2);
    assert_eq!(handle.count("GET", "/api/1/holdouts"), 1);
    let faults = logged_faults(&handle);
    assert_eq!(faults.len(), 4);
    assert!(
        faults[..2]
            .iter()
            .all(|f| f.as_deref().is_some_and(|f| f.starts_with("lost answer"))),
        "{faults:?}"
    );
    assert_eq!(faults[2..], [None, None]);
    handle.set_faults(Faults {
        error_rate: 1.0,
        ..Faults::default()
    });
    let failed = api
        .post(
            "/api/1/holdouts",
            json!({"projectId": 100001, "name": "H", "key": "never-holdout", "holdoutPercentage": 5}),
        )
        .await;
    assert!(
        [500, 502, 503].contains(&failed.status),
        "{}",
        failed.status
    );
    assert!(handle.holdout_json("never-holdout").is_none());
    handle.shutdown().await;
}
