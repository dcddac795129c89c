//! Strict mode (the default): every answer has exactly the fields of the
//! docs' example answer, in the docs' order. The expected field lists are
//! copied here from `shared/reference/amplitude-docs/*.md`, not from the
//! emulator.

use serde_json::{json, Value};

use crate::harness::*;

/// experiment-management-api-flags.md § List.
const FLAG_LIST: &[&str] = &[
    "id",
    "projectId",
    "deployments",
    "key",
    "name",
    "description",
    "enabled",
    "evaluationMode",
    "bucketingKey",
    "bucketingSalt",
    "bucketingUnit",
    "createdBy",
    "lastModifiedBy",
    "createdAt",
    "lastModifiedAt",
    "variants",
    "rolloutPercentage",
    "rolloutWeights",
    "targetSegments",
    "parentDependencies",
];

/// experiment-management-api-flags.md § Get details.
const FLAG_DETAIL: &[&str] = &[
    "id",
    "projectId",
    "deployments",
    "key",
    "name",
    "description",
    "enabled",
    "evaluationMode",
    "bucketingKey",
    "bucketingSalt",
    "bucketingUnit",
    "variants",
    "rolloutPercentage",
    "rolloutWeights",
    "targetSegments",
    "parentDependencies",
    "deleted",
];

/// experiment-management-api-flags.md § List versions / Get version
/// details, and experiment-management-api-version-endpoints.md: `flagConfig`.
const FLAG_VERSION: &[&str] = &[
    "id",
    "projectId",
    "deployments",
    "key",
    "name",
    "description",
    "enabled",
    "evaluationMode",
    "bucketingKey",
    "bucketingSalt",
    "bucketingUnit",
    "variants",
    "rolloutPercentage",
    "rolloutWeights",
    "targetSegments",
];

/// experiment-management-api-experiments.md § List.
const EXPERIMENT_LIST: &[&str] = &[
    "id",
    "projectId",
    "deployments",
    "key",
    "name",
    "decision",
    "decisionReason",
    "description",
    "enabled",
    "evaluationMode",
    "bucketingKey",
    "bucketingSalt",
    "bucketingUnit",
    "variants",
    "rolledOutVariant",
    "rolloutPercentage",
    "rolloutWeights",
    "targetSegments",
    "parentDependencies",
    "stickyBucketing",
    "state",
    "startDate",
    "endDate",
    "experimentType",
    "createdBy",
    "lastModifiedBy",
    "createdAt",
    "lastModifiedAt",
];

/// experiment-management-api-experiments.md § Get details.
const EXPERIMENT_DETAIL: &[&str] = &[
    "id",
    "projectId",
    "deployments",
    "key",
    "name",
    "decision",
    "decisionReason",
    "description",
    "enabled",
    "evaluationMode",
    "bucketingKey",
    "bucketingSalt",
    "bucketingUnit",
    "variants",
    "rolledOutVariant",
    "rolloutPercentage",
    "rolloutWeights",
    "targetSegments",
    "parentDependencies",
    "stickyBucketing",
    "state",
    "startDate",
    "endDate",
    "experimentType",
    "deleted",
    "tags",
    "createdBy",
];

/// experiment-management-api-experiments.md § List versions / Get version
/// details: `flagConfig`.
const EXPERIMENT_VERSION: &[&str] = &[
    "id",
    "projectId",
    "deployments",
    "key",
    "name",
    "description",
    "enabled",
    "bucketingKey",
    "variants",
    "rolloutWeights",
    "targetSegments",
    "stickyBucketing",
    "startDate",
    "endDate",
    "experimentType",
];

/// A version, on every versions page.
const VERSION: &[&str] = &["createdAt", "createdBy", "version", "flagConfig"];

/// experiment-management-api-mutexs.md § List and § Get details.
const MUTEX: &[&str] = &[
    "id",
    "projectId",
    "name",
    "key",
    "description",
    "evaluationMode",
    "bucketingKey",
    "bucketingSalt",
    "slots",
];

/// experiment-management-api-holdouts.md § List and § Get details.
const HOLDOUT: &[&str] = &[
    "id",
    "projectId",
    "name",
    "key",
    "description",
    "holdoutPercentage",
    "evaluationMode",
    "bucketingKey",
    "bucketingSalt",
    "variantName",
    "experiments",
    "individualInclusion",
    "individualExclusion",
    "deleted",
    "createdBy",
    "lastModifiedBy",
    "createdAt",
    "lastModifiedAt",
];

/// experiment-management-api-deployments.md § List deployments, and the
/// flag and experiment pages' § List deployments.
const DEPLOYMENT_LIST: &[&str] = &["id", "projectId", "label", "key", "deleted"];

/// `GET /deployments/{id}`: not on the docs page; SPEC §3 reads the type
/// there.
const DEPLOYMENT_DETAIL: &[&str] = &["id", "projectId", "label", "key", "type", "deleted"];

fn but(fields: &[&'static str], left_out: &str) -> Vec<&'static str> {
    fields.iter().copied().filter(|f| *f != left_out).collect()
}

fn is_email(value: &Value) -> bool {
    value
        .as_str()
        .is_some_and(|s| s.contains('@') && !s.starts_with('@') && !s.ends_with('@'))
}

fn entry<'a>(list: &'a Value, field: &str, key: &str) -> &'a Value {
    list[field]
        .as_array()
        .unwrap_or_else(|| panic!("no {field} in {list}"))
        .iter()
        .find(|x| x["key"] == json!(key))
        .unwrap_or_else(|| panic!("{key} is not listed in {list}"))
}

#[tokio::test]
async fn flag_list_entries_and_details_have_exactly_the_docs_fields() {
    let (handle, api) = start().await;
    let dependent = handle
        .seed_flag(json!({
            "key": "dependent",
            "tags": ["web"],
            "deployments": ["web-production"],
            "parentDependencies": {"flags": {"12345": ["on"]}, "operator": "all"}
        }))
        .expect("seeded");
    let plain = api
        .create_flag(json!({"projectId": "100001", "key": "plain"}))
        .await;

    let list = api.get("/api/1/flags").await.ok().json();
    let with_dependencies = entry(&list, "flags", "dependent");
    assert_key_order(with_dependencies, FLAG_LIST);
    assert_eq!(
        with_dependencies["parentDependencies"],
        json!({"flags": {"12345": ["on"]}, "operator": "all"})
    );
    assert!(is_email(&with_dependencies["createdBy"]));
    assert!(is_email(&with_dependencies["lastModifiedBy"]));
    // `parentDependencies` only when the flag has some.
    assert_key_order(
        entry(&list, "flags", "plain"),
        &but(FLAG_LIST, "parentDependencies"),
    );

    let detail = api
        .get(&format!("/api/1/flags/{dependent}"))
        .await
        .ok()
        .json();
    assert_key_order(&detail, FLAG_DETAIL);
    assert_eq!(detail["deleted"], json!(false));
    let plain_detail = api.get(&format!("/api/1/flags/{plain}")).await.ok().json();
    assert_key_order(&plain_detail, &but(FLAG_DETAIL, "parentDependencies"));

    // Archived: the detail says `deleted`; an `includeArchived` list entry
    // keeps the list's fields.
    assert_ok_text(
        &api.patch(&format!("/api/1/flags/{plain}"), json!({"archive": true}))
            .await,
    );
    let archived = api.get(&format!("/api/1/flags/{plain}")).await.ok().json();
    assert_eq!(archived["deleted"], json!(true));
    let all = api
        .get("/api/1/flags?includeArchived=true")
        .await
        .ok()
        .json();
    assert_key_order(
        entry(&all, "flags", "plain"),
        &but(FLAG_LIST, "parentDependencies"),
    );
    // What answers leave out is still held.
    let stored = handle.flag_json("dependent").expect("stored");
    assert_eq!(stored["tags"], json!(["web"]));
    handle.shutdown().await;
}

#[tokio::test]
async fn experiment_list_entries_and_details_have_exactly_the_docs_fields() {
    let (handle, api) = start().await;
    let id = handle
        .seed_experiment(json!({
            "key": "shaped",
            "tags": ["pricing"],
            "enabled": true,
            "startDate": "2023-07-29T10:00:00Z",
            "exposureEvent": {"event_type": "viewed", "filters": []},
            "type": "web"
        }))
        .expect("seeded");
    let plain = api
        .create_experiment(json!({"projectId": "100001", "key": "plain-exp"}))
        .await;
    handle
        .seed_mutex(json!({"key": "shaping-mutex", "slots": [{"percentage": 100, "experiments": ["shaped"]}]}))
        .expect("seeded");

    let list = api.get("/api/1/experiments").await.ok().json();
    let shaped = entry(&list, "experiments", "shaped");
    assert_key_order(shaped, EXPERIMENT_LIST);
    assert!(is_email(&shaped["createdBy"]));
    assert!(is_email(&shaped["lastModifiedBy"]));
    assert_eq!(shaped["state"], json!("running"));
    assert_key_order(
        entry(&list, "experiments", "plain-exp"),
        &but(EXPERIMENT_LIST, "parentDependencies"),
    );

    let detail = api.experiment(&id).await;
    assert_key_order(&detail, EXPERIMENT_DETAIL);
    assert_eq!(detail["deleted"], json!(false));
    assert_eq!(detail["tags"], json!(["pricing"]));
    assert!(is_email(&detail["createdBy"]));
    assert_key_order(
        &api.experiment(&plain).await,
        &but(EXPERIMENT_DETAIL, "parentDependencies"),
    );
    // Held, but shown nowhere: the exposure event and the web type.
    let stored = handle.experiment_json("shaped").expect("stored");
    assert_eq!(stored["exposureEvent"]["event_type"], json!("viewed"));
    assert_eq!(stored["type"], json!("web"));
    handle.shutdown().await;
}

#[tokio::test]
async fn answers_show_dates_as_the_utc_day_of_the_date_time_sent() {
    let (handle, api) = start().await;
    let id = api
        .create_experiment(json!({"projectId": "100001", "key": "dated"}))
        .await;
    let path = format!("/api/1/experiments/{id}");
    assert_ok_text(
        &api.patch(
            &path,
            json!({"startDate": "2023-07-29T23:30:00-02:00", "endDate": "2023-08-01T00:30:00.500+01:00"}),
        )
        .await,
    );
    let detail = api.experiment(&id).await;
    assert_eq!(detail["startDate"], json!("2023-07-30"));
    assert_eq!(detail["endDate"], json!("2023-07-31"));
    let listed = api.get("/api/1/experiments").await.ok().json();
    assert_eq!(listed["experiments"][0]["startDate"], json!("2023-07-30"));
    assert_eq!(listed["experiments"][0]["endDate"], json!("2023-07-31"));
    let versions = api.get(&format!("{path}/versions")).await.ok().json();
    assert_eq!(versions[0]["flagConfig"]["startDate"], json!("2023-07-30"));
    assert_eq!(versions[1]["flagConfig"]["startDate"], Value::Null);
    // Requests still send date-times.
    assert_error(
        &api.patch(&path, json!({"startDate": "2023-07-30"})).await,
        400,
    );
    assert_ok_text(&api.patch(&path, json!({"endDate": null})).await);
    assert_eq!(api.experiment(&id).await["endDate"], Value::Null);
    // A seeded bare date is shown as it is.
    let seeded = handle
        .seed_experiment(json!({"key": "seeded-date", "startDate": "2024-02-29"}))
        .expect("seeded");
    assert_eq!(
        api.experiment(&seeded).await["startDate"],
        json!("2024-02-29")
    );
    handle.shutdown().await;
}

#[tokio::test]
async fn versions_hold_the_docs_version_fields() {
    let (handle, api) = start().await;
    let flag = handle
        .seed_flag(json!({"key": "versioned", "tags": ["t"], "archived": true}))
        .expect("seeded");
    let experiment = handle
        .seed_experiment(json!({
            "key": "versioned-exp",
            "tags": ["t"],
            "startDate": "2023-07-29T10:00:00Z",
            "exposureEvent": {"event_type": "viewed", "filters": []}
        }))
        .expect("seeded");
    for (path, config) in [
        (format!("/api/1/flags/{flag}"), FLAG_VERSION),
        (
            format!("/api/1/experiments/{experiment}"),
            EXPERIMENT_VERSION,
        ),
    ] {
        let versions = api.get(&format!("{path}/versions")).await.ok().json();
        let first = &versions[0];
        assert_key_order(first, VERSION);
        assert_key_order(&first["flagConfig"], config);
        assert!(is_email(&first["createdBy"]));
        let one = api.get(&format!("{path}/versions/1")).await.ok().json();
        assert_key_order(&one, VERSION);
        assert_key_order(&one["flagConfig"], config);
        assert_error(&api.get(&format!("{path}/versions/9")).await, 404);
    }
    handle.shutdown().await;
}

#[tokio::test]
async fn versions_of_every_object_page_newest_first_within_start_and_end() {
    let (handle, api) = start().await;
    let flag = api
        .create_flag(json!({"projectId": "100001", "key": "vf"}))
        .await;
    assert_ok_text(
        &api.patch(&format!("/api/1/flags/{flag}"), json!({"name": "VF"}))
            .await,
    );
    let experiment = api
        .create_experiment(json!({"projectId": "100001", "key": "ve"}))
        .await;
    assert_ok_text(
        &api.patch(
            &format!("/api/1/experiments/{experiment}"),
            json!({"archive": true}),
        )
        .await,
    );

    let all = api.get("/api/1/versions").await.ok().json();
    assert_keys(&all, &["versions"]);
    let versions = all["versions"].as_array().expect("versions");
    let seen: Vec<(String, u64)> = versions
        .iter()
        .map(|v| {
            (
                v["flagConfig"]["key"].as_str().unwrap_or("").to_owned(),
                v["version"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    let expected = [("ve", 2), ("ve", 1), ("vf", 2), ("vf", 1)];
    assert_eq!(
        seen,
        expected.map(|(k, v)| (k.to_owned(), v)),
        "newest first, archived objects too"
    );
    assert_key_order(&versions[0], VERSION);
    assert_key_order(&versions[0]["flagConfig"], EXPERIMENT_VERSION);
    assert_key_order(&versions[3]["flagConfig"], FLAG_VERSION);

    // Paged like the other lists, with a numeric cursor.
    let first = api.get("/api/1/versions?limit=3").await.ok().json();
    assert_eq!(first["versions"].as_array().map(Vec::len), Some(3));
    assert_eq!(first["nextCursor"], json!(3));
    let rest = api
        .get("/api/1/versions?limit=3&cursor=3")
        .await
        .ok()
        .json();
    assert_eq!(rest["versions"], json!([versions[3].clone()]));
    assert!(rest.get("nextCursor").is_none());
    let capped = api.get("/api/1/versions?limit=5000").await.ok().json();
    assert_eq!(capped["versions"].as_array().map(Vec::len), Some(4));

    // `start` is inclusive, `end` exclusive.
    let at = versions[1]["createdAt"].as_str().expect("createdAt");
    let created = |v: &Value| v["createdAt"].as_str().unwrap_or("").to_owned();
    let from: Vec<Value> = versions
        .iter()
        .filter(|v| created(v).as_str() >= at)
        .cloned()
        .collect();
    let before: Vec<Value> = versions
        .iter()
        .filter(|v| created(v).as_str() < at)
        .cloned()
        .collect();
    assert_eq!(
        api.get(&format!("/api/1/versions?start={at}"))
            .await
            .ok()
            .json()["versions"],
        json!(from)
    );
    assert_eq!(
        api.get(&format!("/api/1/versions?end={at}"))
            .await
            .ok()
            .json()["versions"],
        json!(before)
    );
    let none = api
        .get("/api/1/versions?start=2000-01-01T00:00:00Z&end=2000-01-02T00:00:00Z")
        .await
        .ok()
        .json();
    assert_eq!(none["versions"], json!([]));
    assert_error(&api.get("/api/1/versions?start=yesterday").await, 400);
    assert_error(&api.get("/api/1/versions?cursor=x").await, 400);
    handle.shutdown().await;
}

#[tokio::test]
async fn deployments_list_without_type_and_show_it_in_their_detail() {
    let (handle, api) = start().await;
    let list = api.get("/api/1/deployments").await.ok().json();
    assert_keys(&list, &["deployments"]);
    for deployment in list["deployments"].as_array().expect("deployments") {
        assert_key_order(deployment, DEPLOYMENT_LIST);
    }
    let server = handle.deployment_id("api-production").expect("seeded");
    let detail = api
        .get(&format!("/api/1/deployments/{server}"))
        .await
        .ok()
        .json();
    assert_key_order(&detail, DEPLOYMENT_DETAIL);
    assert_eq!(detail["type"], json!("server"));
    assert_eq!(detail["label"], json!("api-production"));
    assert_eq!(detail["projectId"], json!("100001"));
    assert_error(&api.get("/api/1/deployments/424242").await, 404);
    assert_error(&api.get("/api/1/deployments/nope").await, 404);

    // A flag's deployments: the list's fields too.
    let flag = handle
        .seed_flag(json!({"key": "deployed", "deployments": ["api-production"]}))
        .expect("seeded");
    let assigned = api
        .get(&format!("/api/1/flags/{flag}/deployments"))
        .await
        .ok()
        .json();
    assert_key_order(&assigned[0], DEPLOYMENT_LIST);

    // A PATCH with a label renames it; the SDK key stays.
    let path = format!("/api/1/deployments/{server}");
    assert_ok_text(&api.patch(&path, json!({"label": "api-prod"})).await);
    let renamed = api.get(&path).await.ok().json();
    assert_eq!(renamed["label"], json!("api-prod"));
    assert_eq!(renamed["key"], detail["key"]);
    assert_eq!(renamed["type"], json!("server"));
    let created = api
        .post(
            "/api/1/deployments",
            json!({"projectId": "100001", "label": "edge", "type": "client"}),
        )
        .await
        .ok()
        .json();
    assert_keys(&created, &["id"]);
    handle.shutdown().await;
}

#[tokio::test]
async fn group_lists_and_details_have_exactly_the_docs_fields() {
    let (handle, api) = start().await;
    let e1 = handle
        .seed_experiment(json!({"key": "g-e1"}))
        .expect("seeded");
    let mutex = api
        .create_group(
            "/api/1/mutexes",
            json!({"projectId": 100001, "name": "M", "key": "shape-mutex",
                   "slots": [{"percentage": 100, "experiments": [num(&e1)]}]}),
        )
        .await;
    let old_mutex = api
        .create_group(
            "/api/1/mutexes",
            json!({"projectId": 100001, "name": "Old", "key": "old-mutex", "slots": [{"percentage": 100}]}),
        )
        .await;
    let holdout = api
        .create_group(
            "/api/1/holdouts",
            json!({"projectId": 100001, "name": "H", "key": "shape-holdout", "holdoutPercentage": 5}),
        )
        .await;
    let old_holdout = api
        .create_group(
            "/api/1/holdouts",
            json!({"projectId": 100001, "name": "Old", "key": "old-holdout", "holdoutPercentage": 5}),
        )
        .await;
    for (path, id) in [("mutexes", &old_mutex), ("holdouts", &old_holdout)] {
        assert_ok_text(
            &api.patch(&format!("/api/1/{path}/{id}"), json!({"archive": true}))
                .await,
        );
    }

    for query in ["", "?includeArchived=true", "?includeArchived=nonsense"] {
        let mutexes = api.get(&format!("/api/1/mutexes{query}")).await.ok().json();
        let keys: Vec<&Value> = mutexes["mutexes"]
            .as_array()
            .expect("mutexes")
            .iter()
            .map(|m| &m["key"])
            .collect();
        assert_eq!(keys, [&json!("shape-mutex")], "{query}");
        assert_key_order(&mutexes["mutexes"][0], MUTEX);
        let holdouts = api
            .get(&format!("/api/1/holdouts{query}"))
            .await
            .ok()
            .json();
        let listed: Vec<(&Value, &Value)> = holdouts["holdouts"]
            .as_array()
            .expect("holdouts")
            .iter()
            .map(|h| (&h["key"], &h["deleted"]))
            .collect();
        assert_eq!(
            listed,
            [
                (&json!("old-holdout"), &json!(true)),
                (&json!("shape-holdout"), &json!(false))
            ],
            "{query}"
        );
        for h in holdouts["holdouts"].as_array().expect("holdouts") {
            assert_key_order(h, HOLDOUT);
            assert!(is_email(&h["createdBy"]) && is_email(&h["lastModifiedBy"]));
        }
    }
    for id in [&mutex, &old_mutex] {
        assert_key_order(
            &api.get(&format!("/api/1/mutexes/{id}")).await.ok().json(),
            MUTEX,
        );
    }
    for id in [&holdout, &old_holdout] {
        assert_key_order(
            &api.get(&format!("/api/1/holdouts/{id}")).await.ok().json(),
            HOLDOUT,
        );
    }
    handle.shutdown().await;
}

#[tokio::test]
async fn experiments_have_no_activate_deactivate_or_rollout_weights_routes() {
    let (handle, api) = start().await;
    let id = api
        .create_experiment(json!({"projectId": "100001", "key": "no-routes"}))
        .await;
    for tail in ["activate", "deactivate", "rollout-weights"] {
        let answer = api
            .post(
                &format!("/api/1/experiments/{id}/{tail}"),
                json!({"rolloutWeights": {"control": 1}}),
            )
            .await;
        assert_error(&answer, 404);
    }
    let detail = api.experiment(&id).await;
    assert_eq!(detail["enabled"], json!(false));
    assert_eq!(detail["state"], json!("planning"));
    assert_eq!(
        detail["rolloutWeights"],
        json!({"control": 1, "treatment": 1})
    );
    // PATCH is the way: `enabled` starts it.
    assert_ok_text(
        &api.patch(
            &format!("/api/1/experiments/{id}"),
            json!({"enabled": true}),
        )
        .await,
    );
    assert_eq!(api.experiment(&id).await["state"], json!("running"));
    handle.shutdown().await;
}

#[tokio::test]
async fn web_experiments_are_read_only_and_nothing_marks_them() {
    let (handle, api) = start().await;
    let id = handle
        .seed_experiment(json!({"key": "web-exp", "type": "web", "variants": [{"key": "control"}]}))
        .expect("seeded");
    let before = handle.experiment_json("web-exp").expect("stored");
    let base = format!("/api/1/experiments/{id}");
    for (method, path, body) in [
        (Method::PATCH, base.clone(), Some(json!({"name": "x"}))),
        (Method::PATCH, base.clone(), None),
        (
            Method::POST,
            format!("{base}/variants"),
            Some(json!({"key": "new"})),
        ),
        (
            Method::POST,
            format!("{base}/variants/control/users"),
            Some(json!({"inclusions": ["u"]})),
        ),
    ] {
        assert_error(&api.call(method, &path, body).await, 405);
    }
    assert_error(&api.post(&format!("{base}/activate"), json!({})).await, 404);
    assert_eq!(handle.experiment_json("web-exp"), Some(before));
    let detail = api.experiment(&id).await;
    assert!(detail.get("type").is_none());
    assert_key_order(&detail, &but(EXPERIMENT_DETAIL, "parentDependencies"));
    handle.shutdown().await;
}
