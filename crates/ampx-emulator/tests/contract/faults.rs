//! Fault injection: errors, lost answers, the rate limit, latency, seeds.

use serde_json::{json, Value};

use crate::harness::*;

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
