//! The Management API docs' own example answers, served verbatim: ampx reads
//! every one it asks for without error, and an export of them plans to no
//! change. The answers are `tests/fixtures/api-docs/<page>/<section>.json`,
//! made from the docs by `cargo run --example doc_fixtures -- DOCS
//! tests/fixtures/api-docs` (placeholders filled as one project would show
//! them; see that file's top comment).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use serde_json::Value;

use crate::harness::{temp_dir, text, Ampx, KEY};

/// One example answer, as the fixture file holds it.
#[derive(Debug, Clone)]
struct Fixture {
    /// `<page>/<section>.json`, for messages.
    file: String,
    method: String,
    /// `/api/1/flags/{id}/variants`: `{…}` matches one path segment.
    path: String,
    answer: Value,
}

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/api-docs")
}

/// Every fixture, in file order.
fn fixtures() -> Vec<Fixture> {
    let dir = fixture_dir();
    let mut files = Vec::new();
    for page in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let page = page.unwrap().path();
        if !page.is_dir() {
            continue;
        }
        for f in std::fs::read_dir(&page).unwrap() {
            let f = f.unwrap().path();
            if f.extension().is_some_and(|x| x == "json") {
                files.push(f);
            }
        }
    }
    files.sort();
    files
        .into_iter()
        .map(|f| {
            let name = f.strip_prefix(&dir).unwrap().display().to_string();
            let v: Value = serde_json::from_str(&std::fs::read_to_string(&f).unwrap())
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            let field = |k: &str| {
                v[k].as_str()
                    .unwrap_or_else(|| panic!("{name}: no `{k}`"))
                    .to_string()
            };
            assert!(v.get("answer").is_some(), "{name}: no `answer`");
            assert!(
                field("source").contains(" § "),
                "{name}: `source` names no section"
            );
            Fixture {
                file: name.clone(),
                method: field("method"),
                path: field("path"),
                answer: v["answer"].clone(),
            }
        })
        .collect()
}

/// How well `pattern` matches `path`: `None` when it does not, else the
/// number of literal segments (the more, the more specific).
fn matches(pattern: &str, path: &str) -> Option<usize> {
    let (p, q): (Vec<&str>, Vec<&str>) = (pattern.split('/').collect(), path.split('/').collect());
    if p.len() != q.len() {
        return None;
    }
    let mut literal = 0;
    for (a, b) in p.iter().zip(&q) {
        if a.starts_with('{') && a.ends_with('}') {
            if b.is_empty() {
                return None;
            }
        } else if a == b {
            literal += 1;
        } else {
            return None;
        }
    }
    Some(literal)
}

/// A pattern with its parameters' names dropped: `/api/1/flags/{}`.
fn shape(pattern: &str) -> String {
    pattern
        .split('/')
        .map(|s| if s.starts_with('{') { "{}" } else { s })
        .collect::<Vec<_>>()
        .join("/")
}

/// One request the docs server answered.
#[derive(Debug, Clone)]
struct Seen {
    method: Method,
    /// Path and query, as sent.
    uri: String,
    status: u16,
    /// The fixture that answered, if one did.
    fixture: Option<String>,
}

/// A server that answers each GET with the example answer of the endpoint
/// it matches, verbatim (queries ignored), anything else 404, and every
/// write 405, so that a test notices it.
struct DocsServer {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl DocsServer {
    async fn start(fixtures: Vec<Fixture>) -> DocsServer {
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let log = seen.clone();
        let fixtures = Arc::new(fixtures);
        let app = Router::new().fallback(move |method: Method, uri: Uri| {
            let (log, fixtures) = (log.clone(), fixtures.clone());
            async move {
                let path = uri.path().to_string();
                let found = (method == Method::GET)
                    .then(|| {
                        fixtures
                            .iter()
                            .filter(|f| f.method == "GET")
                            .filter_map(|f| matches(&f.path, &path).map(|n| (n, f)))
                            // The most specific; the first file among equals.
                            .max_by_key(|(n, f)| (*n, std::cmp::Reverse(f.file.clone())))
                            .map(|(_, f)| f)
                    })
                    .flatten();
                let (status, fixture, resp): (StatusCode, Option<String>, Response) =
                    if method != Method::GET {
                        let s = StatusCode::METHOD_NOT_ALLOWED;
                        (s, None, (s, "writes are not served").into_response())
                    } else if let Some(f) = found {
                        let r = Json(f.answer.clone()).into_response();
                        (StatusCode::OK, Some(f.file.clone()), r)
                    } else {
                        let s = StatusCode::NOT_FOUND;
                        (
                            s,
                            None,
                            (s, "no example answer in the docs").into_response(),
                        )
                    };
                log.lock().unwrap().push(Seen {
                    method,
                    uri: uri.to_string(),
                    status: status.as_u16(),
                    fixture,
                });
                resp
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        DocsServer { url, seen }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// The requests so far, one a line, for failure messages.
    fn log(&self) -> String {
        self.seen()
            .iter()
            .map(|s| {
                format!(
                    "  {} {} -> {}{}",
                    s.method,
                    s.uri,
                    s.status,
                    s.fixture
                        .as_ref()
                        .map(|f| format!(" ({f})"))
                        .unwrap_or_default()
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn writes(&self) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|s| s.method != Method::GET)
            .collect()
    }
}

/// Runs `ampx args` against the docs server; panics naming `step` unless
/// it exits `code`.
async fn step(server: &DocsServer, step: &str, args: &[&str], code: i32) -> String {
    let o = Ampx::at(&server.url).key(KEY).args(args).run().await;
    let (out, err) = text(&o);
    assert_eq!(
        o.status.code(),
        Some(code),
        "step `{step}` (ampx {}) exited {:?}, expected {code}\n--- stderr:\n{err}\n--- stdout:\n{out}\n--- requests:\n{}",
        args.join(" "),
        o.status.code(),
        server.log()
    );
    out
}

/// Export of the docs' examples, then plan and drift of that export: no
/// error, no change proposed, no write.
#[tokio::test]
async fn the_documented_answers_export_and_plan_to_no_change() {
    let server = DocsServer::start(fixtures()).await;
    let dir = temp_dir("docs-examples");
    let out = dir.join("export");
    let out_s = out.to_str().unwrap();

    step(&server, "export", &["export", "--out", out_s], 0).await;
    step(&server, "plan", &["plan", out_s, "--detailed-exitcode"], 0).await;
    step(&server, "drift", &["drift", out_s], 0).await;

    let writes = server.writes();
    assert!(
        writes.is_empty(),
        "the server was sent writes: {writes:?}\n--- requests:\n{}",
        server.log()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The fixtures hold an answer for every endpoint whose shape ampx relies on.
#[test]
fn the_fixtures_cover_every_endpoint_ampx_reads() {
    let have: Vec<String> = fixtures()
        .iter()
        .filter(|f| f.method == "GET")
        .map(|f| shape(&f.path))
        .collect();
    let want = [
        ("flag list", "/api/1/flags"),
        ("flag detail", "/api/1/flags/{}"),
        ("flag variants", "/api/1/flags/{}/variants"),
        ("flag inclusions", "/api/1/flags/{}/variants/{}/users"),
        ("flag versions", "/api/1/flags/{}/versions"),
        ("experiment list", "/api/1/experiments"),
        ("experiment detail", "/api/1/experiments/{}"),
        ("deployment list", "/api/1/deployments"),
        ("mutex list", "/api/1/mutexes"),
        ("holdout list", "/api/1/holdouts"),
        ("versions", "/api/1/versions"),
    ];
    let missing: Vec<String> = want
        .iter()
        .filter(|(_, p)| !have.iter().any(|h| h == p))
        .map(|(what, p)| format!("{what} (GET {p})"))
        .collect();
    assert!(
        missing.is_empty(),
        "no example answer in {} for: {}",
        fixture_dir().display(),
        missing.join(", ")
    );
}

/// Every object of every documented GET answer reads as ampx's live model,
/// whether or not a command asks for that endpoint; a documented GET answer
/// that no reader is mapped to here fails the test, so that a newer docs
/// snapshot's endpoint is not passed over.
#[test]
fn every_documented_object_reads_as_the_live_model() {
    use ampx::api::live::{LiveDeployment, LiveFlag, LiveHoldout, LiveMutex, LiveVariant};
    use serde::de::DeserializeOwned;

    fn read<T: DeserializeOwned>(f: &Fixture, at: &str, v: &Value, errors: &mut Vec<String>) {
        if let Err(e) = serde_json::from_value::<T>(v.clone()) {
            errors.push(format!(
                "{} (GET {}) {at}: not read as {}: {e}",
                f.file,
                f.path,
                std::any::type_name::<T>()
            ));
        }
    }
    fn each<T: DeserializeOwned>(f: &Fixture, at: &str, v: &Value, errors: &mut Vec<String>) {
        match v.as_array() {
            Some(items) => {
                for (i, item) in items.iter().enumerate() {
                    read::<T>(f, &format!("{at}[{i}]"), item, errors);
                }
            }
            None => errors.push(format!("{} (GET {}) {at}: not a list", f.file, f.path)),
        }
    }
    fn configs(f: &Fixture, at: &str, v: &Value, errors: &mut Vec<String>) {
        match v.as_array() {
            Some(items) => {
                for (i, item) in items.iter().enumerate() {
                    read::<LiveFlag>(
                        f,
                        &format!("{at}[{i}].flagConfig"),
                        &item["flagConfig"],
                        errors,
                    );
                }
            }
            None => errors.push(format!("{} (GET {}) {at}: not a list", f.file, f.path)),
        }
    }

    let mut errors = Vec::new();
    let mut read_any = 0;
    for f in fixtures().iter().filter(|f| f.method == "GET") {
        let a = &f.answer;
        let e = &mut errors;
        read_any += 1;
        match shape(&f.path).as_str() {
            "/api/1/flags" => each::<LiveFlag>(f, ".flags", &a["flags"], e),
            "/api/1/experiments" => each::<LiveFlag>(f, ".experiments", &a["experiments"], e),
            "/api/1/flags/{}" | "/api/1/experiments/{}" => read::<LiveFlag>(f, "", a, e),
            "/api/1/flags/{}/versions" | "/api/1/experiments/{}/versions" => configs(f, "", a, e),
            "/api/1/flags/{}/versions/{}" | "/api/1/experiments/{}/versions/{}" => {
                read::<LiveFlag>(f, ".flagConfig", &a["flagConfig"], e)
            }
            "/api/1/versions" => configs(f, ".versions", &a["versions"], e),
            "/api/1/flags/{}/variants" | "/api/1/experiments/{}/variants" => {
                each::<LiveVariant>(f, "", a, e)
            }
            "/api/1/flags/{}/variants/{}" | "/api/1/experiments/{}/variants/{}" => {
                read::<LiveVariant>(f, "", a, e)
            }
            // Ids: what the reader makes of each is for the export test.
            "/api/1/flags/{}/variants/{}/users"
            | "/api/1/experiments/{}/variants/{}/users"
            | "/api/1/flags/{}/variants/{}/cohorts"
            | "/api/1/experiments/{}/variants/{}/cohorts" => each::<Value>(f, "", a, e),
            "/api/1/flags/{}/deployments" | "/api/1/experiments/{}/deployments" => {
                each::<LiveDeployment>(f, "", a, e)
            }
            "/api/1/deployments" => each::<LiveDeployment>(f, ".deployments", &a["deployments"], e),
            "/api/1/mutexes" => each::<LiveMutex>(f, ".mutexes", &a["mutexes"], e),
            "/api/1/mutexes/{}" => read::<LiveMutex>(f, "", a, e),
            "/api/1/holdouts" => each::<LiveHoldout>(f, ".holdouts", &a["holdouts"], e),
            "/api/1/holdouts/{}" => read::<LiveHoldout>(f, "", a, e),
            other => {
                read_any -= 1;
                e.push(format!(
                    "{}: GET {other} has no reader mapped in this test; map it to the live model type ampx reads it as",
                    f.file
                ))
            }
        }
    }
    assert!(
        read_any > 0,
        "no GET fixture in {}",
        fixture_dir().display()
    );
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}
