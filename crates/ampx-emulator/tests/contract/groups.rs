//! Mutual exclusion and holdout groups, their slots, and the dependencies
//! they give experiments.

use serde_json::{json, Value};

use crate::harness::*;

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
    // The docs' mutex answers show no `deleted`; the stored group does.
    assert!(group.get("deleted").is_none());
    let stored = handle.mutex_json("checkout-mutex").expect("stored");
    assert_eq!(stored["deleted"], json!(false));
    assert_eq!(without(&stored, &["deleted"]), group);

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
    // No field of a mutex entry could mark it archived: the list leaves it
    // out, `includeArchived` (undocumented for groups) or not.
    for list in ["/api/1/mutexes", "/api/1/mutexes?includeArchived=true"] {
        let live = api.get(list).await.ok().json();
        assert!(live["mutexes"]
            .as_array()
            .expect("mutexes")
            .iter()
            .all(|g| g["key"] != json!("checkout-mutex")));
    }
    assert!(api.get(&path).await.ok().json().get("deleted").is_none());
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
    assert_eq!(group["createdBy"], json!("ampx-emulator@example.com"));
    assert_eq!(group["lastModifiedBy"], json!("ampx-emulator@example.com"));
    let authors = ["createdBy", "lastModifiedBy"];
    assert_eq!(
        handle
            .holdout_json("q3-holdout")
            .map(|h| without(&h, &authors)),
        Some(without(&group, &authors))
    );

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
    // A holdout entry shows `deleted`: the list keeps archived groups, and
    // takes no `includeArchived` (any value is ignored).
    for list in [
        "/api/1/holdouts",
        "/api/1/holdouts?includeArchived=false",
        "/api/1/holdouts?includeArchived=maybe",
    ] {
        let listed = api.get(list).await.ok().json();
        assert!(listed["holdouts"]
            .as_array()
            .expect("holdouts")
            .iter()
            .any(|g| g["id"] == num(&id) && g["deleted"] == json!(true)));
    }
    assert_eq!(api.get(&path).await.ok().json()["deleted"], json!(true));
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
async fn flags_and_experiments_share_one_key_space() {
    let (handle, api) = start().await;
    let flag = api
        .create_flag(json!({"projectId": "100001", "key": "only-flag"}))
        .await;
    let experiment = api
        .create_experiment(json!({"projectId": "100001", "key": "only-exp"}))
        .await;
    let taken = api
        .post(
            "/api/1/experiments",
            json!({"projectId": "100001", "key": "only-flag"}),
        )
        .await;
    assert_error(&taken, 409);
    assert!(taken.text.contains(&flag), "{}", taken.text);
    let taken = api
        .post(
            "/api/1/flags",
            json!({"projectId": "100001", "key": "only-exp"}),
        )
        .await;
    assert_error(&taken, 409);
    assert!(taken.text.contains(&experiment), "{}", taken.text);
    // Archived keys stay taken, across the collections too.
    assert_ok_text(
        &api.patch(&format!("/api/1/flags/{flag}"), json!({"archive": true}))
            .await,
    );
    assert_error(
        &api.post(
            "/api/1/experiments",
            json!({"projectId": "100001", "key": "only-flag"}),
        )
        .await,
        409,
    );
    assert!(handle.seed_experiment(json!({"key": "only-flag"})).is_err());
    assert!(handle.seed_flag(json!({"key": "only-exp"})).is_err());
    assert!(handle.experiment_json("only-flag").is_none());
    assert!(handle.flag_json("only-exp").is_none());
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
