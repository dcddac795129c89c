//! Cohorts on variants: add, list and bulk delete.

use serde_json::json;

use crate::harness::*;

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

#[tokio::test]
async fn inclusions_are_added_once_each_and_a_huge_add_is_refused_whole() {
    let (_handle, api) = start().await;
    let id = api
        .create_flag(json!({"projectId": "100001", "key": "incl", "variants": [{"key": "on"}]}))
        .await;
    let users = format!("/api/1/flags/{id}/variants/on/users");
    assert_ok_text(&api.post(&users, json!({"inclusions": ["a"]})).await);
    assert_ok_text(
        &api.post(&users, json!({"inclusions": ["b", "a", "c", "b"]}))
            .await,
    );
    assert_eq!(api.get(&users).await.ok().json(), json!(["a", "b", "c"]));
    // 200,000 ids (far past the limit of 2,000): refused, nothing added.
    let many: Vec<String> = (0..200_000).map(|n| format!("u{n}")).collect();
    let refused = api.post(&users, json!({ "inclusions": many })).await;
    assert_error(&refused, 400);
    assert_eq!(api.get(&users).await.ok().json(), json!(["a", "b", "c"]));
}
