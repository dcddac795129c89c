//! Reliability against an unreliable API: the emulator injects 5xx errors
//! and lost answers (the change is made, the answer never arrives), and ampx
//! must still converge without duplicates and without touching anything the
//! manifests do not name.

use std::time::Duration;

use crate::harness::{examples, plan, Env};
use ampx::api::ClientOptions;
use ampx::emulator::Faults;
use ampx::manifest::ManifestSet;
use ampx::render::text::{render, Style};
use proptest::prelude::*;
use serde_json::{json, Value};

fn faults(seed: u64) -> Faults {
    Faults {
        error_rate: 0.15,
        lost_answer_rate: 0.3,
        seed,
        ..Faults::default()
    }
}

/// Quick retries: the faults are injected at once, there is nothing to wait for.
async fn fast_env() -> Env {
    Env::builder()
        .options(ClientOptions {
            first_backoff: Duration::from_millis(2),
            ..ClientOptions::default()
        })
        .start()
        .await
}

/// Applies until a fresh plan is empty (at most three runs, as a CI job
/// re-run would), with faults on; returns how many runs it took.
async fn converge(e: &Env, set: &ManifestSet, seed: u64) -> usize {
    e.emu.set_faults(faults(seed));
    for run in 1..=3 {
        let Ok(p) = ampx::commands::plan::make_plan(&e.client, set).await else {
            continue;
        };
        let report = ampx::apply::apply(e.client.clone(), &p).await;
        if report.ok() {
            e.emu.set_faults(Faults::default());
            let after = plan(e, set).await;
            assert!(
                after.is_empty(),
                "run {run}: {}",
                render(&after, Style::plain())
            );
            return run;
        }
    }
    panic!("no convergence after three applies with faults (seed {seed})");
}

#[tokio::test]
async fn examples_converge_under_errors_and_lost_answers() {
    for seed in 1..=4 {
        let e = fast_env().await;
        let set = examples();
        converge(&e, &set, seed).await;
        assert!(e.emu.faults_injected() > 0, "faults were injected");
        let lost = e
            .emu
            .requests()
            .iter()
            .filter(|r| {
                r.fault
                    .as_deref()
                    .is_some_and(|f| f.starts_with("lost answer"))
            })
            .count();
        assert!(lost > 0, "seed {seed}: some answers were lost");
        // Exactly one object per key: a lost create was never repeated.
        for key in ["checkout-redesign", "dark-mode"] {
            let creates = e
                .emu
                .requests()
                .iter()
                .filter(|r| {
                    r.method == "POST"
                        && r.path == "/api/1/flags"
                        && r.body.as_ref().is_some_and(|b| b["key"] == key)
                        && r.fault.is_none()
                })
                .count();
            assert!(creates <= 1, "seed {seed}: {key} created {creates} times");
        }
    }
}

/// The client's limiter keeps it under the API's rate limit: against an
/// emulator that answers 429 beyond 25 requests a second, a client held to
/// 20 a second is never refused, and one without a limit is.
#[tokio::test]
async fn the_rate_limiter_keeps_requests_under_the_api_limit() {
    let limited = Faults {
        rate_limit_rps: Some(25.0),
        ..Faults::default()
    };
    let run = |max_rps: f64| {
        let limited = limited.clone();
        async move {
            let e = Env::builder().start().await;
            let e = Env {
                client: std::sync::Arc::new(
                    ampx::api::Client::new(
                        &e.emu.base_url,
                        ampx::api::ApiKey::new(crate::harness::KEY.into()).unwrap(),
                        ClientOptions {
                            max_rps,
                            parallelism: 8,
                            first_backoff: Duration::from_millis(2),
                            ..ClientOptions::default()
                        },
                    )
                    .unwrap(),
                ),
                emu: e.emu,
            };
            e.emu.set_faults(limited);
            let mut tasks = tokio::task::JoinSet::new();
            for _ in 0..60 {
                let c = e.client.clone();
                tasks.spawn(async move {
                    c.get_json(&ampx::api::Call::get("/api/1/flags", "flags"))
                        .await
                        .is_ok()
                });
            }
            let mut ok = 0;
            while let Some(r) = tasks.join_next().await {
                ok += usize::from(r.unwrap());
            }
            (ok, e.emu.faults_injected())
        }
    };
    let (ok, refused) = run(20.0).await;
    assert_eq!((ok, refused), (60, 0), "held to 20/s: no 429 at all");
    let (ok, refused) = run(100_000.0).await;
    assert!(refused > 0, "unlimited: the API refuses some ({ok} ok)");
}

/// A 429 or 5xx is retried, honouring Retry-After, until the retry budget
/// runs out; the error then names the call.
#[tokio::test]
async fn retries_honour_retry_after_and_give_up_naming_the_call() {
    use axum::http::{HeaderMap, StatusCode};
    use std::sync::atomic::{AtomicUsize, Ordering};
    let hits = std::sync::Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    let app = axum::Router::new()
        .route(
            "/api/1/flags",
            axum::routing::get(move || {
                let n = h.fetch_add(1, Ordering::SeqCst);
                async move {
                    let mut headers = HeaderMap::new();
                    if n == 0 {
                        headers.insert("retry-after", "1".parse().unwrap());
                        (
                            StatusCode::TOO_MANY_REQUESTS,
                            headers,
                            "slow down".to_string(),
                        )
                    } else {
                        (StatusCode::OK, headers, "{\"flags\": []}".to_string())
                    }
                }
            }),
        )
        .route(
            "/api/1/experiments",
            axum::routing::get(|| async {
                (StatusCode::SERVICE_UNAVAILABLE, "down for maintenance")
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let client = ampx::api::Client::new(
        &url,
        ampx::api::ApiKey::new("k".into()).unwrap(),
        ClientOptions {
            max_retry_time: Duration::from_secs(2),
            first_backoff: Duration::from_millis(5),
            ..ClientOptions::default()
        },
    )
    .unwrap();
    let started = std::time::Instant::now();
    let flags = client
        .get_json(&ampx::api::Call::get("/api/1/flags", "the flag list"))
        .await
        .unwrap();
    assert_eq!(flags, json!({"flags": []}));
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited as told"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 2);

    let before = client.requests();
    let e = client
        .get_json(&ampx::api::Call::get(
            "/api/1/experiments",
            "the experiment list",
        ))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("GET /api/1/experiments") && e.contains("down for maintenance"),
        "{e}"
    );
    assert!(client.requests() - before > 1, "retried before giving up");
}

/// With every write's answer lost, the writes that are not idempotent must
/// still succeed in one run: their retries answer 409 or 404, read as done.
#[tokio::test]
async fn lost_answers_of_creates_renames_and_removals_count_as_done() {
    let e = fast_env().await;
    e.emu
        .seed_flag(
            json!({"key": "v", "variants": [{"key": "old"}, {"key": "keep"}, {"key": "gone"}]}),
        )
        .unwrap();
    let set = crate::harness::manifests(
        "apiVersion: ampx/v1\nkind: Flag\nkey: v\nvariants:\n  - {key: new, renamedFrom: old}\n  - {key: keep}\n  - {key: added}\n---\napiVersion: ampx/v1\nkind: Flag\nkey: fresh\n",
    );
    let p = plan(&e, &set).await;
    e.emu.set_faults(Faults {
        lost_answer_rate: 1.0,
        ..Faults::default()
    });
    let report = ampx::apply::apply(e.client.clone(), &p).await;
    e.emu.set_faults(Faults::default());
    assert!(report.ok(), "{}", report.render(Style::plain()));
    assert!(
        e.emu.faults_injected() >= 4,
        "every write's answer was lost"
    );
    assert!(plan(&e, &set).await.is_empty());
    let keys: Vec<String> = e.emu.flag_json("v").unwrap()["variants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["key"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(keys, ["new", "keep", "added"]);
}

// ----- property: random manifests × random live states, with faults -----

const KEYS: [&str; 4] = ["f0", "f1", "f2", "f3"];
const VARIANTS: [&str; 3] = ["on", "off", "b"];
const USERS: [&str; 4] = ["u1", "u2", "u3", "u4"];

fn subset<T: Clone + std::fmt::Debug + 'static>(
    items: &'static [T],
) -> impl Strategy<Value = Vec<T>> {
    proptest::sample::subsequence(items.to_vec(), 0..=items.len())
}

fn payload() -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        Just(None),
        (0i64..5).prop_map(|n| Some(json!(n))),
        "[a-z ]{0,6}".prop_map(|s| Some(json!(s))),
        (0i64..3).prop_map(|n| Some(json!({"layout": n, "list": [n, "x"]}))),
    ]
}

fn variant() -> impl Strategy<Value = (Option<String>, Option<Value>, Option<Vec<&'static str>>)> {
    (
        proptest::option::of("[A-Z][a-z]{0,5}"),
        payload(),
        proptest::option::of(subset(&USERS)),
    )
}

/// One flag's fields, shared by manifests and seeded live flags.
fn flag() -> impl Strategy<Value = Value> {
    (
        proptest::option::of("[A-Z][a-z ]{0,8}"),
        proptest::option::of(any::<bool>()),
        proptest::option::of(0u32..=100),
        proptest::option::of(subset(&["x", "y", "z"])),
        proptest::option::of(proptest::collection::vec(variant(), 1..=3)),
    )
        .prop_map(|(name, enabled, rollout, tags, variants)| {
            let mut f = serde_json::Map::new();
            if let Some(n) = name {
                f.insert("name".into(), json!(n));
            }
            if let Some(e) = enabled {
                f.insert("enabled".into(), json!(e));
            }
            if let Some(r) = rollout {
                f.insert("rolloutPercentage".into(), json!(r));
            }
            if let Some(t) = tags {
                f.insert("tags".into(), json!(t));
            }
            if let Some(vs) = variants {
                let vs: Vec<Value> = vs
                    .into_iter()
                    .enumerate()
                    .map(|(i, (name, payload, inclusions))| {
                        let mut v = serde_json::Map::new();
                        v.insert("key".into(), json!(VARIANTS[i]));
                        if let Some(n) = name {
                            v.insert("name".into(), json!(n));
                        }
                        if let Some(p) = payload {
                            v.insert("payload".into(), p);
                        }
                        if let Some(u) = inclusions {
                            v.insert("inclusions".into(), json!(u));
                        }
                        Value::Object(v)
                    })
                    .collect();
                f.insert("variants".into(), json!(vs));
            }
            Value::Object(f)
        })
}

#[derive(Debug, Clone)]
struct Case {
    manifests: Vec<(usize, Value)>,
    live: Vec<(usize, Value, bool)>,
    foreign: Vec<Value>,
    seed: u64,
}

fn case() -> impl Strategy<Value = Case> {
    (
        proptest::collection::vec((0..KEYS.len(), flag()), 0..=3),
        proptest::collection::vec(
            (0..KEYS.len(), flag(), proptest::bool::weighted(0.2)),
            0..=3,
        ),
        proptest::collection::vec(flag(), 1..=2),
        any::<u64>(),
    )
        .prop_map(|(manifests, live, foreign, seed)| Case {
            manifests,
            live,
            foreign,
            seed,
        })
}

/// The seed body of a live flag: the manifest shape, with `inclusions` as
/// the emulator's seeding takes them (per variant).
fn seed_body(key: &str, f: &Value, archived: bool) -> Value {
    let mut b = f.clone();
    b["key"] = json!(key);
    b["archived"] = json!(archived);
    b
}

async fn run_case(c: Case) {
    let e = fast_env().await;
    let mut seeded = std::collections::BTreeSet::new();
    for (i, f, archived) in &c.live {
        if seeded.insert(*i) {
            e.emu.seed_flag(seed_body(KEYS[*i], f, *archived)).unwrap();
        }
    }
    for (n, f) in c.foreign.iter().enumerate() {
        e.emu
            .seed_flag(seed_body(&format!("foreign-{n}"), f, false))
            .unwrap();
    }
    let before: Vec<Value> = (0..c.foreign.len())
        .map(|n| e.emu.flag_json(&format!("foreign-{n}")).unwrap())
        .collect();

    // JSON is YAML: each manifest document is written as JSON text.
    let mut named = std::collections::BTreeSet::new();
    let mut docs = vec![
        "{\"apiVersion\": \"ampx/v1\", \"kind\": \"Project\", \"id\": \"100001\"}".to_string(),
    ];
    for (i, f) in &c.manifests {
        if named.insert(*i) {
            let mut d = f.clone();
            d["apiVersion"] = json!("ampx/v1");
            d["kind"] = json!("Flag");
            d["key"] = json!(KEYS[*i]);
            docs.push(d.to_string());
        }
    }
    let text = docs.join("\n---\n");
    let set = ampx::manifest::load_sources(&[("m.yaml".into(), text.clone())])
        .unwrap_or_else(|d| panic!("{d}\n{text}"));
    converge(&e, &set, c.seed).await;
    let after: Vec<Value> = (0..c.foreign.len())
        .map(|n| e.emu.flag_json(&format!("foreign-{n}")).unwrap())
        .collect();
    assert_eq!(before, after, "objects no manifest names are untouched");
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 24,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_manifests_over_random_live_states_converge_under_faults(c in case()) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(run_case(c));
    }
}

/// `--parallelism`: reads of the live state run concurrently, never more at
/// once than allowed; and a request slower than the timeout fails.
#[tokio::test]
async fn parallelism_bounds_requests_in_flight_and_slow_requests_time_out() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let (now, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let flags: Vec<Value> = (0..12)
        .map(|i| json!({"id": i, "projectId": 100001, "key": format!("f{i}"), "variants": [{"key": "on"}]}))
        .collect();
    let list = json!({ "flags": flags }).to_string();
    let (n, m) = (now.clone(), most.clone());
    let app = axum::Router::new()
        .route(
            "/api/1/flags",
            axum::routing::get(move || async move { list }),
        )
        .route(
            "/api/1/flags/{id}/variants",
            axum::routing::get(move || {
                let (n, m) = (n.clone(), m.clone());
                async move {
                    let in_flight = n.fetch_add(1, Ordering::SeqCst) + 1;
                    m.fetch_max(in_flight, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(40)).await;
                    n.fetch_sub(1, Ordering::SeqCst);
                    "[{\"key\": \"on\", \"payload\": 1}]"
                }
            }),
        )
        .route(
            "/api/1/experiments",
            axum::routing::get(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                "{\"experiments\": []}"
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let client = |parallelism: usize, timeout: Duration| {
        Arc::new(
            ampx::api::Client::new(
                &url,
                ampx::api::ApiKey::new("k".into()).unwrap(),
                ClientOptions {
                    parallelism,
                    timeout,
                    max_retry_time: Duration::from_millis(500),
                    first_backoff: Duration::from_millis(5),
                    ..ClientOptions::default()
                },
            )
            .unwrap(),
        )
    };
    let docs: Vec<String> = (0..12)
        .map(|i| format!("apiVersion: ampx/v1\nkind: Flag\nkey: f{i}\nvariants: [{{key: \"on\", payload: 1}}]\n"))
        .collect();
    let set = crate::harness::manifests(&docs.join("---\n"));
    let p = ampx::commands::plan::make_plan(&client(3, Duration::from_secs(30)), &set)
        .await
        .unwrap();
    assert!(p.is_empty());
    let most = most.load(Ordering::SeqCst);
    assert!(most <= 3, "at most 3 in flight, saw {most}");
    assert!(most >= 2, "the reads do overlap, saw {most}");

    let e = client(3, Duration::from_millis(100))
        .get_json(&ampx::api::Call::get(
            "/api/1/experiments",
            "the experiment list",
        ))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("GET /api/1/experiments"), "{e}");
    assert!(
        e.contains("did not complete"),
        "a timeout, not an answer: {e}"
    );
}
