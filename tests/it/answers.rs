//! Live answers twisted by a hostile server in front of the emulator (see
//! `hostile_server`): whatever the server says, no call leaves for a path or
//! host nobody configured, no secret is printed, and an answer ampx cannot
//! trust stops the command before any write.

use std::process::Output;

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

use crate::harness::{temp_dir, text, write, Ampx, Env, KEY};
use crate::hostile_server::{first_item, Answer, Hostile, Reply, Seen};

/// Manifests that read the flag list, `f`'s variants and the deployment
/// list, and change `f`'s description.
fn manifests(name: &str) -> String {
    let dir = temp_dir(name);
    write(
        &dir,
        "m.yaml",
        "apiVersion: ampx/v1\nkind: Project\nid: \"100001\"\n---\napiVersion: ampx/v1\nkind: Flag\nkey: f\ndescription: changed\ndeployments: [web-production]\nvariants:\n  - key: \"on\"\n    payload: {a: 1}\n",
    );
    dir.to_string_lossy().into_owned()
}

async fn env() -> Env {
    Env::builder()
        .flag(json!({"key": "f", "description": "old", "variants": [{"key": "on"}]}))
        .start()
        .await
}

async fn run(url: &str, args: &[&str]) -> Output {
    Ampx::at(url)
        .key(KEY)
        .args(args)
        .var("RUST_LOG", "trace")
        .run()
        .await
}

/// An edit of an answer's JSON.
type Edit = fn(&mut Value);

fn writes(seen: &[Seen]) -> Vec<String> {
    seen.iter()
        .filter(|s| s.method != Method::GET)
        .map(Seen::call)
        .collect()
}

#[tokio::test]
async fn ids_and_variant_keys_that_cannot_be_path_segments_stop_the_plan() {
    let e = env().await;
    let m = manifests("dot-ids");
    let twists: Vec<(&str, &str, Edit)> = vec![
        ("flags", "GET /api/1/flags", |f| f["id"] = json!("..")),
        ("flags", "GET /api/1/flags", |f| {
            f["variants"][0]["key"] = json!("..")
        }),
        ("flags", "GET /api/1/flags", |f| f["id"] = json!(".")),
        ("deployments", "GET /api/1/deployments", |d| {
            d["id"] = json!("..")
        }),
    ];
    for (field, call, twist) in twists {
        let hostile = Hostile::in_front_of(&e.emu.base_url, move |seen, mut answer| {
            if seen.call() == format!("GET /api/1/{field}") {
                if let Some(item) = first_item(&mut answer, field) {
                    twist(item);
                }
            }
            answer
        })
        .await;
        for args in [vec!["plan", &m], vec!["apply", &m, "--auto-approve"]] {
            let o = run(&hostile.url, &args).await;
            let (out, err) = text(&o);
            assert_eq!(o.status.code(), Some(1), "{call} {args:?}: {out}{err}");
            assert!(
                err.contains(call) && err.contains("cannot be"),
                "{call} {args:?}: {err}"
            );
        }
        let seen = hostile.seen();
        assert!(writes(&seen).is_empty(), "{call}: {:?}", writes(&seen));
        assert!(
            seen.iter()
                .all(|s| !s.path.contains("/..") && !s.path.contains("/./")),
            "{call}: {seen:?}"
        );
    }
}

#[tokio::test]
async fn a_create_answered_with_a_dot_id_never_reaches_a_path() {
    let e = Env::builder().start().await;
    let m = manifests("dot-create");
    let hostile = Hostile::in_front_of(&e.emu.base_url, |seen, mut answer| {
        if seen.call() == "POST /api/1/flags" {
            if let Reply::Json(v) = &mut answer.body {
                v["id"] = json!("..");
            }
        }
        answer
    })
    .await;
    let o = run(&hostile.url, &["apply", &m, "--auto-approve"]).await;
    let (out, err) = text(&o);
    let seen = hostile.seen();
    assert!(
        seen.iter().all(|s| !s.path.contains("/..")),
        "{out}{err}{seen:?}"
    );
    assert!(
        writes(&seen).iter().all(|w| w == "POST /api/1/flags"),
        "only the create was sent: {:?}",
        writes(&seen)
    );
}

#[tokio::test]
async fn a_redirect_is_not_followed_and_takes_the_key_nowhere() {
    let e = env().await;
    let m = manifests("redirect");
    let elsewhere = Hostile::in_front_of(&e.emu.base_url, |_, answer| answer).await;
    for status in [
        StatusCode::TEMPORARY_REDIRECT,
        StatusCode::MOVED_PERMANENTLY,
    ] {
        let to = format!("{}/api/1/flags", elsewhere.url);
        let hostile = Hostile::in_front_of(&e.emu.base_url, move |seen, answer| {
            if seen.call() == "GET /api/1/flags" {
                return Answer {
                    status,
                    headers: vec![("location".into(), to.clone())],
                    body: Reply::Text(String::new()),
                };
            }
            answer
        })
        .await;
        let o = run(&hostile.url, &["plan", &m]).await;
        let (out, err) = text(&o);
        assert_eq!(o.status.code(), Some(1), "{out}{err}");
        assert!(
            err.contains("GET /api/1/flags") && err.contains("redirect"),
            "{err}"
        );
    }
    assert!(
        elsewhere.seen().is_empty(),
        "the redirect was followed: {:?}",
        elsewhere.seen()
    );
}

#[tokio::test]
async fn sdk_keys_a_server_echoes_are_never_printed_logged_or_saved() {
    let e = env().await;
    let sdk = crate::harness::sdk_keys(&e).await;
    let m = manifests("sdk-echo");
    let echoed = sdk.join(", ");
    let hostile = Hostile::in_front_of(&e.emu.base_url, move |seen, mut answer| {
        if seen.call() == "GET /api/1/flags" {
            // A description carrying an SDK key reaches the plan's diff…
            if let Some(f) = first_item(&mut answer, "flags") {
                f["description"] = json!(format!("keys: {echoed}"));
            }
        } else if seen.method == Method::PATCH {
            // …and an error body carrying all of them, the apply's report.
            return Answer {
                status: StatusCode::BAD_REQUEST,
                headers: Vec::new(),
                body: Reply::Text(format!("{{\"error\": \"bad: {echoed}\"}}")),
            };
        }
        answer
    })
    .await;
    let dir = temp_dir("sdk-echo-out");
    let plan_file = dir.join("plan.json").to_string_lossy().into_owned();
    let runs = [
        vec!["-vv", "plan", &m, "--out", &plan_file],
        vec!["-vv", "plan", &m, "--format", "json"],
        vec!["-vv", "drift", &m, "--format", "markdown"],
        vec!["-vv", "apply", &m, "--auto-approve"],
    ];
    for args in runs {
        let o = run(&hostile.url, &args).await;
        let (out, err) = text(&o);
        for k in &sdk {
            assert!(!out.contains(k) && !err.contains(k), "{args:?}: {out}{err}");
        }
        assert!(
            out.contains("[an SDK key]") || err.contains("[an SDK key]"),
            "{args:?}: the echo is shown, scrubbed: {out}{err}"
        );
    }
    let saved = std::fs::read_to_string(&plan_file).unwrap();
    assert!(sdk.iter().all(|k| !saved.contains(k.as_str())), "{saved}");
}

#[tokio::test]
async fn a_deployment_or_group_listed_twice_stops_the_plan() {
    let e = env().await;
    e.emu
        .seed_mutex(json!({"key": "m1", "name": "M", "slots": [{"percentage": 100}]}))
        .unwrap();
    let m = manifests("dup-lists");
    write(
        std::path::Path::new(&m),
        "g.yaml",
        "apiVersion: ampx/v1\nkind: MutexGroup\nkey: m1\nname: M\nslots:\n  - percentage: 100\n",
    );
    let cases: Vec<(&str, Edit, &str)> = vec![
        (
            "deployments",
            |d| {
                let mut copy = d["deployments"][0].clone();
                copy["id"] = json!("999999");
                d["deployments"].as_array_mut().unwrap().push(copy);
            },
            "two active objects with label `web-production`",
        ),
        (
            "deployments",
            |d| {
                let mut copy = d["deployments"][0].clone();
                copy["label"] = json!("another");
                d["deployments"].as_array_mut().unwrap().push(copy);
            },
            "twice (labels `web-production` and `another`)",
        ),
        (
            "mutexes",
            |d| {
                let mut copy = d["mutexes"][0].clone();
                copy["key"] = json!("m2");
                d["mutexes"].as_array_mut().unwrap().push(copy);
            },
            "twice (keys `m1` and `m2`)",
        ),
    ];
    for (field, twist, says) in cases {
        let hostile = Hostile::in_front_of(&e.emu.base_url, move |seen, mut answer| {
            if seen.call() == format!("GET /api/1/{field}") {
                if let Reply::Json(v) = &mut answer.body {
                    twist(v);
                }
            }
            answer
        })
        .await;
        let o = run(&hostile.url, &["apply", &m, "--auto-approve"]).await;
        let (out, err) = text(&o);
        assert_eq!(o.status.code(), Some(1), "{field}: {out}{err}");
        assert!(
            err.contains(&format!("GET /api/1/{field}")) && err.contains(says),
            "{field}: {err}"
        );
        assert!(writes(&hostile.seen()).is_empty(), "{field}");
    }
}

#[tokio::test]
async fn a_slow_body_times_out_naming_the_call() {
    let e = env().await;
    let hostile = Hostile::in_front_of(&e.emu.base_url, |seen, answer| {
        if seen.call() == "GET /api/1/flags" {
            return Answer {
                status: StatusCode::OK,
                headers: Vec::new(),
                body: Reply::Slow(
                    b"{\"flags\": []}".to_vec(),
                    std::time::Duration::from_secs(1),
                ),
            };
        }
        answer
    })
    .await;
    let client = ampx::api::Client::new(
        &hostile.url,
        ampx::api::ApiKey::new(KEY.into()).unwrap(),
        ampx::api::ClientOptions {
            timeout: std::time::Duration::from_millis(1500),
            max_retry_time: std::time::Duration::from_millis(100),
            ..Default::default()
        },
    )
    .unwrap();
    let err = client
        .list_all("/api/1/flags", "flags", &[], "the flag list")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("GET /api/1/flags"), "{err}");
    assert!(err.contains("timed out"), "{err}");
}

/// Takes out of every flag and experiment answer the fields the docs'
/// examples never show there: `tags` (except on the experiment detail),
/// `archived`, `deleted` (except on details) and `exposureEvent`.
fn documented_shapes(seen: &Seen, mut answer: Answer) -> Answer {
    let path = seen.path.split('?').next().unwrap_or_default().to_string();
    let segments: Vec<&str> = path.trim_start_matches("/api/1/").split('/').collect();
    let Reply::Json(v) = &mut answer.body else {
        return answer;
    };
    let strip = |item: &mut Value, keep: &[&str]| {
        if let Some(m) = item.as_object_mut() {
            for field in ["tags", "archived", "deleted", "exposureEvent"] {
                if !keep.contains(&field) {
                    m.remove(field);
                }
            }
        }
    };
    match segments.as_slice() {
        [coll @ ("flags" | "experiments")] => {
            for item in v[*coll].as_array_mut().into_iter().flatten() {
                strip(item, &[]);
            }
        }
        ["flags", _] => strip(v, &["deleted"]),
        ["experiments", _] => strip(v, &["deleted", "tags"]),
        _ => {}
    }
    answer
}

#[tokio::test]
async fn fields_the_documented_answers_lack_are_read_elsewhere_or_reported_unknown() {
    let e = Env::builder()
        .flag(json!({"key": "old", "archived": true, "variants": [{"key": "on"}]}))
        .flag(json!({"key": "tagged", "tags": ["x"], "variants": [{"key": "on"}]}))
        .start()
        .await;
    e.emu
        .seed_experiment(json!({"key": "exp", "tags": ["t"], "variants": [{"key": "control"}, {"key": "treatment"}]}))
        .unwrap();
    let hostile = Hostile::in_front_of(&e.emu.base_url, documented_shapes).await;
    let dir = temp_dir("documented-shapes");
    write(
        &dir,
        "m.yaml",
        "apiVersion: ampx/v1\nkind: Project\nid: \"100001\"\n---\napiVersion: ampx/v1\nkind: Flag\nkey: old\narchived: true\n---\napiVersion: ampx/v1\nkind: Flag\nkey: tagged\ntags: [x]\n---\napiVersion: ampx/v1\nkind: Experiment\nkey: exp\ntags: [t]\nexposureEvent: {event_type: viewed}\n",
    );
    let m = dir.to_string_lossy().into_owned();
    let o = run(&hostile.url, &["plan", &m, "--detailed-exitcode"]).await;
    let (out, err) = text(&o);
    // The archived flag is recognised as archived (no unarchive, no
    // re-archive), the experiment's tags are read from its detail: nothing
    // to change; the flag's tags and the exposure event are reported.
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert!(out.contains("No changes."), "{out}");
    assert!(out.contains("Not planned (2)"), "{out}");
    assert!(out.contains("flag tagged: tags:"), "{out}");
    assert!(out.contains("experiment exp: exposureEvent:"), "{out}");
    let calls: Vec<String> = hostile.seen().iter().map(Seen::call).collect();
    let exp_id = e.emu.experiment_json("exp").unwrap()["id"].to_string();
    assert!(
        calls.contains(&format!(
            "GET /api/1/experiments/{}",
            exp_id.trim_matches('"')
        )),
        "{calls:?}"
    );
    let lists = hostile
        .seen()
        .iter()
        .filter(|s| s.call() == "GET /api/1/flags")
        .map(|s| s.path.contains("includeArchived=true"))
        .collect::<Vec<_>>();
    // The list of active flags, then the archived ones (`old` is not among
    // the active ones).
    assert_eq!(lists, [false, true], "both flag lists were read");
    // The JSON report lists what was not compared.
    let o = run(&hostile.url, &["plan", &m, "--format", "json"]).await;
    let doc: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["unknown"].as_array().map(Vec::len), Some(2), "{doc}");
}

#[tokio::test]
async fn a_create_whose_answer_is_lost_is_looked_up_not_sent_again() {
    let e = Env::builder().start().await;
    let lost = std::sync::Arc::new(std::sync::Mutex::new(std::collections::HashSet::new()));
    let hostile = Hostile::in_front_of(&e.emu.base_url, move |seen, answer| {
        // The first answer to each create is lost after the emulator made
        // the object: a gateway's 502.
        if seen.method == Method::POST
            && matches!(
                seen.call().as_str(),
                "POST /api/1/deployments" | "POST /api/1/flags"
            )
            && lost.lock().unwrap().insert(seen.call())
        {
            return Answer {
                status: StatusCode::BAD_GATEWAY,
                headers: Vec::new(),
                body: Reply::Text("bad gateway".into()),
            };
        }
        answer
    })
    .await;
    let dir = temp_dir("lost-create");
    write(
        &dir,
        "m.yaml",
        "apiVersion: ampx/v1\nkind: Project\nid: \"100001\"\n---\napiVersion: ampx/v1\nkind: Deployment\nlabel: mobile\ntype: client\n---\napiVersion: ampx/v1\nkind: Flag\nkey: new-flag\ndeployments: [mobile]\n",
    );
    let m = dir.to_string_lossy().into_owned();
    let o = run(&hostile.url, &["apply", &m, "--auto-approve"]).await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert!(out.contains("Verified"), "{out}");
    let creates: Vec<String> = hostile
        .seen()
        .iter()
        .map(Seen::call)
        .filter(|c| c.starts_with("POST /api/1/deployments") || c == "POST /api/1/flags")
        .collect();
    assert_eq!(
        creates,
        ["POST /api/1/deployments", "POST /api/1/flags"],
        "each create sent once"
    );
    let mobile = e.emu.deployment_id("mobile").unwrap();
    let flag = e.emu.flag_json("new-flag").unwrap();
    assert_eq!(flag["deployments"], json!([mobile.parse::<u64>().unwrap()]));
}

/// Another writer (the UI, another apply) changes a flag right after this
/// apply's call to it: the verify step fails and names who changed it, and
/// when.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_verify_step_names_an_object_another_writer_changed() {
    let e = env().await;
    let upstream = e.emu.base_url.clone();
    let patched = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (seen_patch, was_patched) = (patched.clone(), patched);
    let hostile = Hostile::in_front_of_with(
        &e.emu.base_url,
        // The verification's read waits for the other writer.
        move |seen: &Seen| {
            let wait = seen.call() == "GET /api/1/flags"
                && was_patched.load(std::sync::atomic::Ordering::SeqCst);
            async move {
                if wait {
                    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
                }
            }
        },
        move |seen, answer| {
            if seen.method == Method::PATCH
                && seen.path.starts_with("/api/1/flags/")
                && !seen_patch.swap(true, std::sync::atomic::Ordering::SeqCst)
            {
                // The other writer's change lands just after this answer.
                let (url, auth) = (
                    format!("{upstream}{}", seen.path),
                    seen.authorization.clone().unwrap_or_default(),
                );
                tokio::spawn(async move {
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    reqwest::Client::new()
                        .patch(url)
                        .header("authorization", auth)
                        .json(&json!({"description": "changed in the UI"}))
                        .send()
                        .await
                        .unwrap();
                });
            }
            answer
        },
    )
    .await;
    let dir = temp_dir("other-writer");
    write(
        &dir,
        "m.yaml",
        "apiVersion: ampx/v1\nkind: Project\nid: \"100001\"\n---\napiVersion: ampx/v1\nkind: Flag\nkey: f\nname: Mine\ndescription: mine\n",
    );
    let m = dir.to_string_lossy().into_owned();
    let o = run(&hostile.url, &["apply", &m, "--auto-approve"]).await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    assert!(out.contains("Verification FAILED"), "{out}");
    assert!(
        out.contains("description: changed in the UI → mine"),
        "{out}"
    );
    assert!(
        out.contains("flag f was changed by ")
            && out.contains("while this apply ran, after its calls"),
        "{out}"
    );
}
