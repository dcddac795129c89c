//! Hostile input: arbitrary bytes and YAML into the manifest loader, and
//! malformed API answers into the live-state reader. Never a panic, never
//! unbounded work: a clear error instead.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::harness::Env;
use ampx::api::{ApiKey, Client, ClientOptions};
use ampx::manifest::{load, load_sources};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use proptest::prelude::*;

fn load_text(text: &str) -> Result<ampx::manifest::ManifestSet, String> {
    load_sources(&[(PathBuf::from("x.yaml"), text.to_string())]).map_err(|d| d.to_string())
}

const FLAG: &str = "apiVersion: ampx/v1\nkind: Project\nid: \"100001\"\n---\napiVersion: ampx/v1\nkind: Flag\nkey: k\nname: n\nvariants:\n  - key: \"on\"\n    payload: {a: [1, 2]}\n";

/// Cases per fuzz property: 512 in the suite; `PROPTEST_CASES=200000 cargo
/// test --release hostile::` runs them longer.
fn fuzz_config() -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(512),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(fuzz_config())]

    /// Any text at all: loads or fails with a diagnostic naming the file.
    #[test]
    fn arbitrary_text_never_panics(text in ".{0,400}") {
        if let Err(e) = load_text(&text) {
            prop_assert!(e.contains("x.yaml"), "{}", e);
        }
    }

    /// YAML-shaped noise built from the tokens that matter to a parser.
    #[test]
    fn yaml_token_soup_never_panics(parts in proptest::collection::vec(prop_oneof![
        Just("---\n"), Just("apiVersion: ampx/v1\n"), Just("kind: Flag\n"), Just("kind: Project\n"),
        Just("key: "), Just("&a "), Just("*a"), Just("<<: *a\n"), Just("[ "), Just("]"), Just("{ "),
        Just("}"), Just(", "), Just("- "), Just("  "), Just("\n"), Just(": "), Just("!!str "), Just("!custom "),
        Just("? "), Just("|\n  "), Just(">-\n  "), Just("\"\\u00e9\""), Just("'x'"), Just("~"), Just("1e999"),
        Just("-0"), Just("0x1F"), Just(".inf"), Just("%YAML 1.2\n"), Just("#c\n"), Just("\t"), Just("\u{feff}"),
    ], 0..60)) {
        let text: String = parts.concat();
        if let Err(e) = load_text(&text) {
            prop_assert!(e.contains("x.yaml"), "{}", e);
        }
    }

    /// A valid manifest with one byte changed anywhere.
    #[test]
    fn a_valid_manifest_with_one_byte_changed_never_panics(at in 0..FLAG.len(), byte in any::<u8>()) {
        let mut bytes = FLAG.as_bytes().to_vec();
        bytes[at] = byte;
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let _ = load_text(&text);
    }
}

// ----- API answers, fuzzed -----

/// Field names the API uses; the first twelve are a flag list item's.
const FIELDS: &[&str] = &[
    "id",
    "key",
    "variants",
    "rolloutWeights",
    "segments",
    "deployments",
    "enabled",
    "tags",
    "rolloutPercentage",
    "archived",
    "bucketingKey",
    "evaluationMode",
    "deleted",
    "payload",
    "name",
    "description",
    "conditions",
    "percentage",
    "values",
    "op",
    "prop",
    "type",
    "experiments",
    "slots",
    "label",
    "holdoutPercentage",
    "state",
    "startDate",
    "exposureEvent",
    "parentDependencies",
    "flags",
    "operator",
    "projectId",
];

/// Any JSON, with the field names the API uses, so that the readers meet
/// every field with every type.
fn any_json() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        prop_oneof![
            Just(".."),
            Just("on"),
            Just("k"),
            Just("7"),
            Just(""),
            Just("\u{1b}[2J"),
            Just("all")
        ]
        .prop_map(Value::from),
        ".{0,8}".prop_map(Value::from),
    ];
    let name = proptest::sample::select(FIELDS).prop_map(str::to_string);
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            proptest::collection::btree_map(name.clone(), inner, 0..7)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A valid flag list item with some fields replaced by anything.
fn twisted_flag() -> impl Strategy<Value = serde_json::Value> {
    let base = serde_json::json!({
        "id": 7, "key": "k", "enabled": true, "rolloutPercentage": 50,
        "variants": [{"key": "on"}, {"key": "off"}],
        "rolloutWeights": {"on": 1, "off": 1},
        "segments": [{"name": "s", "conditions": [{"type": "property", "prop": "country", "op": "is", "values": ["DE"]}], "percentage": 10, "rolloutWeights": {"on": 1}}],
        "deployments": ["1"], "tags": ["t"], "bucketingKey": "user_id", "evaluationMode": "remote"
    });
    proptest::collection::btree_map(proptest::sample::select(&FIELDS[..12]), any_json(), 0..4)
        .prop_map(move |changes| {
            let mut flag = base.clone();
            for (field, value) in changes {
                flag[field] = value;
            }
            flag
        })
}

const MANAGED: &str = "apiVersion: ampx/v1\nkind: Project\nid: \"100001\"\n---\napiVersion: ampx/v1\nkind: Flag\nkey: k\nenabled: true\nrolloutPercentage: 30\ntags: [t]\nvariants:\n  - key: \"on\"\n    payload: {a: 1}\n    inclusions: [u1]\n  - key: off\ntargetSegments:\n  - name: s\n    percentage: 20\n    conditions:\n      - {prop: country, op: is, values: [FR]}\n";

proptest! {
    #![proptest_config(fuzz_config())]

    /// Whatever a list, a variant read or a group list answers: it is read
    /// or refused, and what is read plans and renders, never panics.
    #[test]
    fn any_answer_is_read_or_refused_never_a_panic(
        flag in twisted_flag(),
        variants in any_json(),
        group in any_json(),
    ) {
        use ampx::live::{Live, LiveDeployment, LiveFlag, LiveHoldout, LiveMutex, LiveVariant};
        let set = load_text(MANAGED).unwrap();
        let Ok(mut lf) = serde_json::from_value::<LiveFlag>(flag) else {
            return Ok(());
        };
        if let Ok(vs) = serde_json::from_value::<Vec<LiveVariant>>(variants) {
            lf.variant_details = Some(vs.into_iter().map(|v| (v.key.clone(), v)).collect());
        }
        for v in &lf.variants {
            prop_assert!(ampx::live::path_safe(&v.key), "{:?}", v.key);
        }
        prop_assert!(ampx::live::path_safe(&lf.id), "{:?}", lf.id);
        let _ = serde_json::from_value::<LiveDeployment>(group.clone());
        let _ = serde_json::from_value::<LiveMutex>(group.clone());
        let _ = serde_json::from_value::<LiveHoldout>(group);
        let mut live = Live::default();
        live.flags.insert("k".into(), lf);
        if let Ok(plan) = ampx::plan::make(&set, &live, 0) {
            let _ = ampx::render::text::render(&plan, ampx::render::text::Style::plain());
            let _ = ampx::render::markdown::render(&plan, ampx::render::text::Report::Drift);
            let _ = serde_json::to_string(&plan);
        }
    }
}

#[test]
fn alias_bombs_deep_nesting_and_huge_files_are_clear_errors() {
    // A billion laughs: nine levels of ten aliases each.
    let mut bomb = String::from("apiVersion: ampx/v1\nkind: Project\nid: \"100001\"\n---\na0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..9 {
        let p = i - 1;
        bomb.push_str(&format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    let e = load_text(&bomb).unwrap_err();
    assert!(e.contains("x.yaml:"), "{e}");
    assert!(
        e.to_lowercase().contains("alias") || e.contains("too"),
        "{e}"
    );

    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let e = load_text(&deep).unwrap_err();
    assert!(e.contains("nest") || e.contains("recursion limit"), "{e}");
    let deep_maps = "a:\n".to_string()
        + &(1..2000)
            .map(|i| format!("{}a:\n", " ".repeat(i)))
            .collect::<String>();
    assert!(load_text(&deep_maps).is_err());

    let dir = crate::harness::temp_dir("huge");
    let huge = dir.join("huge.yaml");
    let line = "# padding padding padding padding padding padding padding\n";
    let lines = ampx::manifest::MAX_FILE_BYTES as usize / line.len() + 1;
    std::fs::write(&huge, line.repeat(lines)).unwrap();
    let e = load(&[huge]).unwrap_err().to_string();
    assert!(e.contains("huge.yaml") && e.contains("bytes"), "{e}");

    let binary = dir.join("binary.yaml");
    std::fs::write(&binary, [0xff, 0xfe, 0x00, 0x01, 0x80]).unwrap();
    let e = load(&[binary]).unwrap_err().to_string();
    assert!(e.contains("UTF-8"), "{e}");
}

// ----- malformed API answers -----

/// Serves `app` on a free loopback port; its base URL.
async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

/// A server answering every flag-list request with `list`, variant reads
/// with `variants`, user reads with `users`.
async fn server(
    list: (StatusCode, &'static str),
    variants: &'static str,
    users: &'static str,
) -> String {
    let app = Router::new()
        .route(
            "/api/1/flags",
            get(move || async move { list.into_response() }),
        )
        .route(
            "/api/1/flags/{id}/variants",
            get(move || async move { variants.into_response() }),
        )
        .route(
            "/api/1/flags/{id}/variants/{key}/users",
            get(move || async move { users.into_response() }),
        );
    let url = serve(app).await;
    url
}

async fn plan_against(url: &str) -> Result<ampx::plan::Plan, String> {
    let client = Arc::new(
        Client::new(
            url,
            ApiKey::new("k".into()).unwrap(),
            ClientOptions {
                max_retry_time: Duration::from_millis(300),
                first_backoff: Duration::from_millis(5),
                ..ClientOptions::default()
            },
        )
        .unwrap(),
    );
    let set = crate::harness::manifests(
        "apiVersion: ampx/v1\nkind: Flag\nkey: k\nvariants:\n  - key: \"on\"\n    payload: 1\n    inclusions: [a]\n",
    );
    ampx::commands::plan::make_plan(&client, &set)
        .await
        .map_err(|e| format!("{e:#}"))
}

const GOOD_LIST: &str =
    r#"{"flags": [{"id": 7, "projectId": 100001, "key": "k", "variants": [{"key": "on"}]}]}"#;

#[tokio::test]
async fn malformed_answers_are_errors_naming_the_call() {
    let ok = StatusCode::OK;
    let cases: Vec<((StatusCode, &'static str), &'static str, &'static str, &str)> = vec![
        (
            (ok, "<html>not json</html>"),
            "[]",
            "[]",
            "GET /api/1/flags",
        ),
        ((ok, "{\"flags\": 5}"), "[]", "[]", "GET /api/1/flags"),
        (
            (ok, "{\"flags\": [{\"id\": 1}]}"),
            "[]",
            "[]",
            "GET /api/1/flags",
        ),
        (
            (ok, "{\"flags\": [{\"id\": [], \"key\": \"k\"}]}"),
            "[]",
            "[]",
            "GET /api/1/flags",
        ),
        (
            (ok, "{\"flags\": [], \"nextCursor\": {}}"),
            "[]",
            "[]",
            "GET /api/1/flags",
        ),
        ((ok, "{\"flags\": [tru"), "[]", "[]", "GET /api/1/flags"),
        (
            (StatusCode::INTERNAL_SERVER_ERROR, "<h1>oops</h1>"),
            "[]",
            "[]",
            "GET /api/1/flags",
        ),
        (
            (ok, GOOD_LIST),
            "{\"oops\": true}",
            "[]",
            "GET /api/1/flags/7/variants",
        ),
        (
            (ok, GOOD_LIST),
            "[{\"name\": \"no key\"}]",
            "[]",
            "GET /api/1/flags/7/variants",
        ),
        ((ok, GOOD_LIST), "OK", "[]", "GET /api/1/flags/7/variants"),
        (
            (ok, GOOD_LIST),
            "[]",
            "[1, {\"a\": 2, \"b\": 3}]",
            "GET /api/1/flags/7/variants/on/users",
        ),
        (
            (ok, GOOD_LIST),
            "[]",
            "{\"users\": \"a\"}",
            "GET /api/1/flags/7/variants/on/users",
        ),
    ];
    for (list, variants, users, call) in cases {
        let url = server(list, variants, users).await;
        let e = plan_against(&url).await.err().unwrap_or_else(|| {
            panic!("{list:?} {variants} {users}: a plan from a malformed answer")
        });
        assert!(e.contains(call), "{list:?} {variants} {users}: {e}");
    }
}

/// Runs `f` on a thread and fails the test if it has not returned within a
/// minute: the input at hand used to make the loader block or walk forever,
/// and a test must fail, not hang.
#[cfg(unix)]
fn returns<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|_| panic!("{what} did not return"))
}

/// A new directory holding a Project manifest.
#[cfg(unix)]
fn project_dir(name: &str) -> PathBuf {
    let dir = crate::harness::temp_dir(name);
    crate::harness::write(
        &dir,
        "project.yaml",
        "apiVersion: ampx/v1\nkind: Project\nid: \"100001\"\n",
    );
    dir
}

#[cfg(unix)]
#[test]
fn a_fifo_named_like_a_manifest_is_refused_not_waited_on() {
    let dir = project_dir("fifo");
    let fifo = dir.join("f.yaml");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let e = returns("loading a FIFO", move || {
        load(&[dir]).unwrap_err().to_string()
    });
    assert!(
        e.contains("f.yaml") && e.contains("not a regular file"),
        "{e}"
    );
}

#[cfg(unix)]
#[test]
fn directory_links_back_up_the_tree_are_walked_once() {
    let dir = project_dir("links");
    std::os::unix::fs::symlink(".", dir.join("again")).unwrap();
    std::os::unix::fs::symlink(".", dir.join("and-again")).unwrap();
    let found = returns("walking two links to `.`", move || {
        ampx::manifest::find_files(&[dir]).unwrap()
    });
    assert_eq!(found.len(), 1, "{found:?}");
}

/// A server (or proxy) that answers every request with a 400 whose body
/// echoes the request's `Authorization` header, and a 503 on odd requests,
/// so that retries are logged too.
async fn echoing_server() -> crate::hostile_server::Hostile {
    use crate::hostile_server::{Answer, Hostile, Reply};
    use std::sync::atomic::{AtomicUsize, Ordering};
    let emu = Env::builder().start().await.emu;
    let calls = AtomicUsize::new(0);
    Hostile::in_front_of(&emu.base_url.clone(), move |seen, _| {
        let _keep = &emu;
        let auth = seen.authorization.clone().unwrap_or_default();
        Answer {
            status: if calls.fetch_add(1, Ordering::Relaxed) % 2 == 0 {
                StatusCode::SERVICE_UNAVAILABLE
            } else {
                StatusCode::BAD_REQUEST
            },
            headers: Vec::new(),
            body: Reply::Text(format!(
                "{{\"error\": {{\"message\": \"bad request; you sent Authorization: {auth}\\u001b[2J\"}}}}"
            )),
        }
    })
    .await
}

#[tokio::test]
async fn a_key_echoed_in_an_error_body_is_never_printed_or_logged() {
    let key = "echoed-secret-key-5f4e3d2c1b";
    let url = echoing_server().await.url;
    let dir = crate::harness::temp_dir("echo");
    crate::harness::write(
        &dir,
        "m.yaml",
        "apiVersion: ampx/v1\nkind: Project\nid: \"100001\"\n---\napiVersion: ampx/v1\nkind: Flag\nkey: f\n",
    );
    let m = dir.to_string_lossy().into_owned();
    for args in [
        vec!["plan", m.as_str()],
        vec!["-vv", "plan", m.as_str(), "--format", "json"],
        vec!["-vv", "drift", m.as_str()],
        vec!["-vv", "apply", m.as_str(), "--auto-approve"],
        vec!["-vv", "export"],
    ] {
        let o = crate::harness::Ampx::at(&url)
            .key(key)
            .args(&args)
            .var("RUST_LOG", "trace")
            .run()
            .await;
        let (out, err) = crate::harness::text(&o);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {out}{err}");
        assert!(
            !out.contains(key) && !err.contains(key),
            "{args:?}: {out}{err}"
        );
        assert!(
            err.contains("you sent Authorization: Bearer [the API key]"),
            "{args:?}: {err}"
        );
        // The body's escape sequence (clear screen) is shown, not sent.
        assert!(
            !err.contains('\u{1b}') && !out.contains('\u{1b}'),
            "{args:?}: {err:?}"
        );
    }
}

/// A server whose flag list never ends: each page names the next cursor
/// `next(n)` for the request's cursor `n` (absent for the first page).
async fn endless_list(next: fn(u64) -> u64) -> (String, Arc<std::sync::atomic::AtomicUsize>) {
    use axum::extract::Query;
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let app = Router::new().route(
        "/api/1/flags",
        get(move |Query(q): Query<HashMap<String, String>>| {
            let counted = counted.clone();
            async move {
                counted.fetch_add(1, Ordering::Relaxed);
                let at: u64 = q.get("cursor").and_then(|c| c.parse().ok()).unwrap_or(0);
                format!("{{\"flags\": [], \"nextCursor\": \"{}\"}}", next(at)).into_response()
            }
        }),
    );
    let url = serve(app).await;
    (url, calls)
}

/// The error of reading the flag list; a failure, not a hang, if the read
/// has not ended within a minute.
async fn read_list(client: Client) -> String {
    let read = client.list_all("/api/1/flags", "flags", &[], "the flag list");
    tokio::time::timeout(Duration::from_secs(60), read)
        .await
        .expect("the list read did not end")
        .unwrap_err()
        .to_string()
}

#[tokio::test]
async fn a_list_that_never_ends_stops_with_an_error_naming_the_call() {
    use std::sync::atomic::Ordering;
    let client = |url: &str| {
        Client::new(
            url,
            ApiKey::new("k".into()).unwrap(),
            ClientOptions {
                max_rps: 10_000.0,
                ..ClientOptions::default()
            },
        )
        .unwrap()
    };
    // Cursors that come back: 1, 2, 1, …
    let (url, calls) = endless_list(|n| if n == 2 { 1 } else { n + 1 }).await;
    let e = read_list(client(&url)).await;
    assert!(
        e.contains("GET /api/1/flags") && e.contains("returned before"),
        "{e}"
    );
    assert_eq!(calls.load(Ordering::Relaxed), 3);
    // A new cursor every time: stopped at the page bound.
    let (url, calls) = endless_list(|n| n + 1).await;
    let e = read_list(client(&url)).await;
    assert!(e.contains("GET /api/1/flags") && e.contains("pages"), "{e}");
    assert_eq!(calls.load(Ordering::Relaxed), ampx::api::MAX_PAGES);
}

#[tokio::test]
async fn an_answer_past_the_size_cap_is_an_error_read_once() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    // Two megabytes of a list, sent with a length and then streamed without.
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let app = Router::new()
        .route(
            "/api/1/flags",
            get(|| async { format!("{{\"flags\": [\"{}\"]}}", "x".repeat(2_000_000)) }),
        )
        .route(
            "/api/1/experiments",
            get(move || {
                counted.fetch_add(1, Ordering::Relaxed);
                async {
                    let chunks = (0..200).map(|_| Ok::<_, std::io::Error>("y".repeat(10_000)));
                    axum::body::Body::from_stream(futures_util::stream::iter(chunks))
                }
            }),
        );
    let url = serve(app).await;
    let client = Client::new(
        &url,
        ApiKey::new("k".into()).unwrap(),
        ClientOptions {
            max_rps: 10_000.0,
            max_answer_bytes: 1_000_000,
            ..ClientOptions::default()
        },
    )
    .unwrap();
    for (path, what) in [
        ("/api/1/flags", "flags"),
        ("/api/1/experiments", "experiments"),
    ] {
        let e = client
            .list_all(path, what, &[], "the list")
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains(&format!("GET {path}")), "{e}");
        assert!(e.contains("longer than 1000000 bytes"), "{e}");
    }
    assert_eq!(
        calls.load(Ordering::Relaxed),
        1,
        "an answer too long is not retried"
    );
}

#[tokio::test]
async fn a_list_naming_a_key_or_an_id_twice_stops_the_plan() {
    let ok = StatusCode::OK;
    for (list, says) in [
        (
            r#"{"flags": [{"id": 7, "key": "k"}, {"id": 8, "key": "k"}]}"#,
            "flag key `k` twice (ids 7 and 8)",
        ),
        (
            r#"{"flags": [{"id": 7, "key": "k"}, {"id": 7, "key": "j"}]}"#,
            "id 7 twice (keys `k` and `j`)",
        ),
    ] {
        let url = server((ok, list), "[]", "[]").await;
        let e = plan_against(&url).await.unwrap_err();
        assert!(e.contains("GET /api/1/flags") && e.contains(says), "{e}");
    }
}
