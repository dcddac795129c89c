//! A hostile server for the tests: it stands in front of the in-process
//! emulator, forwards every request to it, and hands each answer to a
//! twist the test chooses (echo the key, rename an id to `..`, list an
//! object twice, redirect elsewhere, dribble the body…) before the client
//! sees it. It records every request it was sent.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::Value;

/// One request as the hostile server received it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: Method,
    /// The path and query, as sent.
    pub path: String,
    /// The request's `Authorization` value, if any.
    pub authorization: Option<String>,
}

impl Seen {
    /// `GET /api/1/flags`, without the query.
    pub fn call(&self) -> String {
        let path = self.path.split('?').next().unwrap_or_default();
        format!("{} {path}", self.method)
    }
}

/// The emulator's answer, for a twist to change or replace.
pub struct Answer {
    pub status: StatusCode,
    pub headers: Vec<(String, String)>,
    pub body: Reply,
}

/// What the hostile server sends back as the body.
pub enum Reply {
    /// JSON (the emulator's answers are read as JSON when they are).
    Json(Value),
    Text(String),
    /// `bytes`, one at a time, `gap` apart: a body that never quite ends.
    Slow(Vec<u8>, Duration),
}

/// The hostile server: its base URL and the requests it was sent.
pub struct Hostile {
    pub url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

type Twist = dyn Fn(&Seen, Answer) -> Answer + Send + Sync;

impl Hostile {
    /// Starts a server in front of `upstream` that answers each request with
    /// `twist(request, upstream's answer)`.
    pub async fn in_front_of(
        upstream: &str,
        twist: impl Fn(&Seen, Answer) -> Answer + Send + Sync + 'static,
    ) -> Hostile {
        Hostile::in_front_of_with(upstream, |_| async {}, twist).await
    }

    /// Like [`in_front_of`](Self::in_front_of), awaiting `before(request)`
    /// before the request is forwarded (to hold it back, say).
    pub async fn in_front_of_with<F: std::future::Future<Output = ()> + Send + 'static>(
        upstream: &str,
        before: impl Fn(&Seen) -> F + Send + Sync + 'static,
        twist: impl Fn(&Seen, Answer) -> Answer + Send + Sync + 'static,
    ) -> Hostile {
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let twist: Arc<Twist> = Arc::new(twist);
        let before = Arc::new(before);
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let (upstream, log) = (upstream.to_string(), seen.clone());
        let app = Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: axum::body::Bytes| {
                let (http, upstream, log, twist, before) = (
                    http.clone(),
                    upstream.clone(),
                    log.clone(),
                    twist.clone(),
                    before.clone(),
                );
                async move {
                    let request = Seen {
                        method: method.clone(),
                        path: uri.to_string(),
                        authorization: headers
                            .get("authorization")
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_string),
                    };
                    log.lock().unwrap().push(request.clone());
                    before(&request).await;
                    let mut forward = http
                        .request(method, format!("{upstream}{uri}"))
                        .body(body.to_vec());
                    for (name, value) in &headers {
                        if name != "host" {
                            forward = forward.header(name, value);
                        }
                    }
                    let answer = match forward.send().await {
                        Ok(resp) => {
                            let status = resp.status();
                            let text = resp.text().await.unwrap_or_default();
                            Answer {
                                status,
                                headers: Vec::new(),
                                body: serde_json::from_str(&text)
                                    .map(Reply::Json)
                                    .unwrap_or(Reply::Text(text)),
                            }
                        }
                        Err(e) => Answer {
                            status: StatusCode::BAD_GATEWAY,
                            headers: Vec::new(),
                            body: Reply::Text(e.to_string()),
                        },
                    };
                    respond(twist(&request, answer))
                }
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Hostile { url, seen }
    }

    /// Every request sent so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

fn respond(answer: Answer) -> Response {
    let mut resp = match answer.body {
        Reply::Json(v) => (answer.status, axum::Json(v)).into_response(),
        Reply::Text(t) => (answer.status, t).into_response(),
        Reply::Slow(bytes, gap) => {
            let stream =
                futures_util::stream::unfold(bytes.into_iter(), move |mut rest| async move {
                    let b = rest.next()?;
                    tokio::time::sleep(gap).await;
                    Some((Ok::<_, std::io::Error>(vec![b]), rest))
                });
            (answer.status, Body::from_stream(stream)).into_response()
        }
    };
    for (name, value) in answer.headers {
        resp.headers_mut().insert(
            axum::http::HeaderName::try_from(name).unwrap(),
            value.parse().unwrap(),
        );
    }
    resp
}

/// The first object in `answer[field]` (a list page), for a twist to edit.
pub fn first_item<'a>(answer: &'a mut Answer, field: &str) -> Option<&'a mut Value> {
    match &mut answer.body {
        Reply::Json(v) => v.get_mut(field)?.as_array_mut()?.first_mut(),
        _ => None,
    }
}
