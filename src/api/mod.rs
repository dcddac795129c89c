//! The Management API client: authentication, base URL, paging, rate limit,
//! retries, and errors that name the call and the object in plain words.
//!
//! The key is held in [`ApiKey`], whose `Debug` is redacted and which is only
//! ever written into the `Authorization` header: no error, log line or report
//! can carry it.

/// The live state's model is pure data and lives in the core.
pub use ampx_core::live;

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::Value;
use tokio::sync::Mutex;

/// The environment variable that holds the Management API key.
pub const KEY_ENV: &str = "AMPLITUDE_MANAGEMENT_API_KEY";
/// Page size for every list call (the API caps it at 1000).
pub const PAGE_LIMIT: usize = 1000;
/// The largest answer read by default: 64 MiB, some 60 times a full page of
/// 1,000 flags.
pub const MAX_ANSWER_BYTES: usize = 64 * 1024 * 1024;
/// Most pages one list is read to: a million objects of a kind, far above
/// any real project, and 1% of the API's daily request quota. A server
/// whose cursors never end stops here instead of spending the quota.
pub const MAX_PAGES: usize = 1000;

/// The Management API key. Never printed: `Debug` shows `ApiKey(***)`.
#[derive(Clone)]
pub struct ApiKey(String);

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(***)")
    }
}

impl ApiKey {
    /// Reads the key from [`KEY_ENV`].
    pub fn from_env() -> anyhow::Result<ApiKey> {
        ApiKey::from_var(KEY_ENV)
    }

    /// Reads the key from the environment variable `var` (a Project's
    /// `apiKeyEnv`); errors name the variable, never the key.
    pub fn from_var(var: &str) -> anyhow::Result<ApiKey> {
        match std::env::var(var) {
            Ok(k) => ApiKey::checked(k, var),
            Err(std::env::VarError::NotPresent) => anyhow::bail!(
                "{var} is not set: export the Management API key of the project in {var} (the key is read from the environment only)"
            ),
            Err(std::env::VarError::NotUnicode(_)) => {
                anyhow::bail!("{var} is not valid text")
            }
        }
    }

    pub fn new(key: String) -> anyhow::Result<ApiKey> {
        ApiKey::checked(key, KEY_ENV)
    }

    fn checked(key: String, var: &str) -> anyhow::Result<ApiKey> {
        if key.is_empty() {
            anyhow::bail!("{var} is empty: set it to the project's Management API key");
        }
        if key.chars().any(|c| c.is_whitespace() || c.is_control()) {
            anyhow::bail!(
                "{var} contains whitespace or a line break; copy the key again without spaces or newlines"
            );
        }
        if !key.chars().all(|c| c.is_ascii_graphic()) {
            anyhow::bail!(
                "{var} contains characters that cannot be part of an API key (only printable ASCII can); copy the key again"
            );
        }
        crate::secrets::register(&key, "[the API key]");
        Ok(ApiKey(key))
    }

    /// `text` from a server (an error body, an unexpected answer) with the
    /// key taken out: a server or proxy may echo the request's
    /// `Authorization` back, and what it says is printed and logged.
    pub fn scrub(&self, text: &str) -> String {
        text.replace(&self.0, "[the API key]")
    }

    /// The `Authorization` value, marked sensitive so that the HTTP stack
    /// never shows it in its own logs.
    fn header(&self) -> reqwest::header::HeaderValue {
        let mut v = reqwest::header::HeaderValue::from_str(&format!("Bearer {}", self.0))
            .unwrap_or_else(|_| reqwest::header::HeaderValue::from_static("Bearer invalid"));
        v.set_sensitive(true);
        v
    }
}

/// Checks a base URL: https anywhere, plain http only to this machine.
pub fn check_base_url(url: &str) -> anyhow::Result<String> {
    let url = url.trim_end_matches('/').to_string();
    let parsed = reqwest::Url::parse(&url)
        .map_err(|e| anyhow::anyhow!("invalid server URL `{url}`: {e}"))?;
    match parsed.scheme() {
        "https" => Ok(url),
        "http" => {
            let loopback = match parsed.host() {
                Some(url::Host::Domain(d)) => d == "localhost",
                Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                None => false,
            };
            if loopback {
                Ok(url)
            } else {
                anyhow::bail!(
                    "refusing plain http:// for `{url}`: the API key would cross the network unencrypted; use https:// (http is allowed only for localhost)"
                )
            }
        }
        other if !url.contains("://") => anyhow::bail!(
            "`{url}` is not a URL (`{other}` reads as its scheme)\n  hint: write the scheme: https://{url}, or http://{url} for a server on this machine"
        ),
        other => anyhow::bail!("unsupported URL scheme `{other}` in `{url}`"),
    }
}

/// Client settings.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    pub max_rps: f64,
    pub parallelism: usize,
    pub timeout: Duration,
    pub max_retry_time: Duration,
    /// The first retry's backoff ceiling; it doubles per attempt, up to 8 s.
    pub first_backoff: Duration,
    /// The largest answer read, in bytes; a longer one is an error naming
    /// the call, not memory spent.
    pub max_answer_bytes: usize,
    /// The project every read is scoped to: flag and experiment lists are
    /// asked for it (`projectId`), and every list item that names another
    /// project is dropped, whatever the list (a key may see several).
    pub project: Option<String>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            max_rps: 100.0,
            parallelism: 8,
            timeout: Duration::from_secs(30),
            max_retry_time: Duration::from_secs(60),
            first_backoff: Duration::from_millis(250),
            max_answer_bytes: MAX_ANSWER_BYTES,
            project: None,
        }
    }
}

/// The project an answered object belongs to, when it says.
pub fn project_of(item: &Value) -> Option<String> {
    match item.get("projectId")? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// One API call: what is sent, and what it is for (`flag `checkout``), so
/// that an error can say both.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: Method,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub body: Option<Value>,
    pub what: String,
    /// A write that must not be sent twice blindly (a create the API might
    /// accept twice): after an attempt that may have been carried out, the
    /// client returns instead of retrying, so that the caller can look first.
    pub once: bool,
}

impl Call {
    pub fn get(path: impl Into<String>, what: impl Into<String>) -> Call {
        Call {
            method: Method::GET,
            path: path.into(),
            query: Vec::new(),
            body: None,
            what: what.into(),
            once: false,
        }
    }
}

/// An API failure, worded for the person reading it.
#[derive(Debug, Clone, thiserror::Error)]
pub struct ApiError {
    pub method: String,
    pub path: String,
    pub what: String,
    pub status: Option<u16>,
    pub message: String,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let meaning = match self.status {
            None => "the request did not complete",
            Some(400) => "the API rejected the request as invalid (400)",
            Some(401) => "the API key was rejected (401): check AMPLITUDE_MANAGEMENT_API_KEY (invalid or revoked key)",
            Some(403) => "the API key has no access to this project (403)",
            Some(404) => "not found (404)",
            Some(405) => "the API does not allow this change (405; web experiments cannot be edited through the API)",
            Some(409) => "conflict (409): the key is already taken, possibly by an archived object",
            Some(429) => "rate limited (429) and retries ran out",
            Some(s) if s >= 500 => "the API failed (server error) and retries ran out",
            Some(_) => "unexpected answer",
        };
        write!(
            f,
            "{} {} for {}: {}",
            self.method, self.path, self.what, meaning
        )?;
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        Ok(())
    }
}

/// A successful answer: JSON, or the plain text (`OK`) that writes return.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Json(Value),
    Text(String),
}

impl Answer {
    pub fn json(self) -> Option<Value> {
        match self {
            Answer::Json(v) => Some(v),
            Answer::Text(t) => serde_json::from_str(&t).ok(),
        }
    }
}

struct RateLimiter {
    interval: Duration,
    next: Mutex<Instant>,
}

impl RateLimiter {
    fn new(rps: f64) -> RateLimiter {
        let rps = if rps.is_finite() && rps > 0.0 {
            rps
        } else {
            100.0
        };
        RateLimiter {
            interval: Duration::from_secs_f64(1.0 / rps),
            next: Mutex::new(Instant::now()),
        }
    }

    async fn wait(&self) {
        let slot = {
            let mut next = self.next.lock().await;
            let now = Instant::now();
            let slot = (*next).max(now);
            *next = slot + self.interval;
            slot
        };
        tokio::time::sleep_until(slot.into()).await;
    }
}

/// The Management API client. Cheap to share behind an `Arc`.
pub struct Client {
    http: reqwest::Client,
    base: String,
    /// `base`, parsed once: every request's URL is checked against it.
    origin: reqwest::Url,
    key: ApiKey,
    requests: AtomicUsize,
    limiter: RateLimiter,
    pub options: ClientOptions,
    /// Every project a list item named so far.
    projects_seen: std::sync::Mutex<std::collections::BTreeSet<String>>,
    /// Whether "cannot reach the server" was said already.
    unreachable_said: std::sync::atomic::AtomicBool,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

fn jitter(max: Duration) -> Duration {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    let mut h = RandomState::new().build_hasher();
    h.write_u128(Instant::now().elapsed().as_nanos());
    let r = h.finish() as f64 / u64::MAX as f64;
    max.mul_f64(r)
}

fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let v = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(v).ok()?;
    Some(
        when.duration_since(std::time::SystemTime::now())
            .unwrap_or_default(),
    )
}

/// Pulls a readable message out of an error body (JSON or plain text).
/// An answer's body as text, read chunk by chunk up to `cap` bytes. An
/// error says whether to retry (a broken read) or not (an answer too long).
async fn read_capped(mut resp: reqwest::Response, cap: usize) -> Result<String, (bool, String)> {
    let too_long = || {
        (
            false,
            format!("the answer is longer than {cap} bytes; stopped reading it"),
        )
    };
    if resp.content_length().is_some_and(|n| n > cap as u64) {
        return Err(too_long());
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| {
        (
            true,
            format!("reading the answer failed: {}", strip_url(&e)),
        )
    })? {
        if body.len() + chunk.len() > cap {
            return Err(too_long());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(String::from_utf8_lossy(&body).into_owned())
}

fn error_message(body: &str) -> String {
    let body = body.trim();
    if let Ok(v) = serde_json::from_str::<Value>(body) {
        for ptr in ["/error/message", "/message", "/error", "/detail"] {
            if let Some(Value::String(s)) = v.pointer(ptr) {
                return s.clone();
            }
        }
        return v.to_string();
    }
    body.chars().take(500).collect()
}

impl Client {
    pub fn new(base: &str, key: ApiKey, options: ClientOptions) -> anyhow::Result<Client> {
        let base = check_base_url(base)?;
        let http = reqwest::Client::builder()
            .timeout(options.timeout)
            // The API never redirects; a redirect would carry the call (and,
            // to the same host, the key) to an address nobody configured.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("ampx/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let origin = reqwest::Url::parse(&base)?;
        Ok(Client {
            http,
            base,
            origin,
            key,
            requests: AtomicUsize::new(0),
            limiter: RateLimiter::new(options.max_rps),
            options,
            projects_seen: Default::default(),
            unreachable_said: Default::default(),
        })
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// Every project the list items read so far named: the projects the key
    /// is known to see.
    pub fn projects_seen(&self) -> std::collections::BTreeSet<String> {
        self.projects_seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// How many HTTP requests this client has sent, retries included.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::Relaxed)
    }

    /// Sends a call, retrying 429, 5xx and transport failures with
    /// exponential backoff and full jitter (honouring `Retry-After`).
    pub async fn send(&self, call: &Call) -> Result<Answer, ApiError> {
        self.send_tracked(call).await.0
    }

    /// Like [`send`](Self::send), also telling whether an earlier attempt of
    /// this write may have been carried out although its answer was lost (a
    /// 5xx other than a 429, or a connection that broke after sending). The
    /// caller can then read a 409 or 404 of a retry as "already done".
    pub async fn send_tracked(&self, call: &Call) -> (Result<Answer, ApiError>, bool) {
        self.send_inner(call, true).await
    }

    /// GET whose successful answer is returned as its text, unparsed: for a
    /// caller that reads it straight into its own types.
    pub async fn get_text(&self, call: &Call) -> Result<String, ApiError> {
        let text = match self.send_inner(call, false).await.0? {
            Answer::Text(t) => t,
            Answer::Json(v) => v.to_string(),
        };
        if call.path.starts_with("/api/1/deployments") {
            if let Ok(v) = serde_json::from_str::<Value>(&text) {
                crate::secrets::register_sdk_keys(&v);
            }
        }
        Ok(text)
    }

    async fn send_inner(&self, call: &Call, parse_json: bool) -> (Result<Answer, ApiError>, bool) {
        let started = Instant::now();
        let mut attempt: u32 = 0;
        let mut maybe_applied = false;
        let write = call.method != Method::GET;
        // The one gate every request passes: a path that is not this API's
        // (`..`, `@host`, a query, a `{id}` never filled in), or a URL whose
        // scheme, host, port or userinfo are not the base URL's, is refused
        // here, whatever built it.
        let same_origin = |url: &str| {
            let (Ok(a), b) = (reqwest::Url::parse(url), &self.origin) else {
                return false;
            };
            a.scheme() == b.scheme()
                && a.host() == b.host()
                && a.port_or_known_default() == b.port_or_known_default()
                && a.username() == b.username()
                && a.password() == b.password()
        };
        if let Err(e) = crate::plan::ApiPath::parse(&call.path)
            .and_then(|p| match p.needs_own_id() {
                true => Err(format!(
                    "`{}` names an id that was never filled in",
                    call.path
                )),
                false => Ok(p),
            })
            .and_then(
                |p| match same_origin(&format!("{}{}", self.base, call.path)) {
                    true => Ok(p),
                    false => Err(format!("`{}` would leave {}", call.path, self.base)),
                },
            )
        {
            let err = ApiError {
                method: call.method.to_string(),
                path: call.path.clone(),
                what: call.what.clone(),
                status: None,
                message: format!("refused to send the call: {e}"),
            };
            return (Err(err), false);
        }
        let result = loop {
            let mut not_sent = false;
            self.limiter.wait().await;
            self.requests.fetch_add(1, Ordering::Relaxed);
            let mut req = self
                .http
                .request(call.method.clone(), format!("{}{}", self.base, call.path))
                .header(reqwest::header::AUTHORIZATION, self.key.header())
                .header(reqwest::header::ACCEPT, "application/json");
            if !call.query.is_empty() {
                req = req.query(&call.query);
            }
            if let Some(body) = &call.body {
                req = req.json(body);
            }
            let fail = |status: Option<u16>, message: String| ApiError {
                method: call.method.to_string(),
                path: call.path.clone(),
                what: call.what.clone(),
                status,
                message,
            };
            let (retryable, err, wait_hint) = match req.send().await {
                Ok(resp) => {
                    let status = resp.status();
                    let hint = retry_after(resp.headers());
                    let location = status
                        .is_redirection()
                        .then(|| resp.headers().get(reqwest::header::LOCATION).cloned())
                        .flatten();
                    // A read that broke is retried; an answer too long is not.
                    let text = read_capped(resp, self.options.max_answer_bytes)
                        .await
                        .map_err(|(retry, m)| (retry, fail(Some(status.as_u16()), m)));
                    match (status, text) {
                        (s, Ok(text)) if s.is_success() => {
                            let trimmed = text.trim();
                            if parse_json && (trimmed.starts_with('{') || trimmed.starts_with('['))
                            {
                                let answer = serde_json::from_str(trimmed).map_err(|e| {
                                    fail(
                                        Some(s.as_u16()),
                                        format!("the answer is not valid JSON: {e}"),
                                    )
                                });
                                if let Ok(v) = &answer {
                                    if call.path.starts_with("/api/1/deployments") {
                                        crate::secrets::register_sdk_keys(v);
                                    }
                                }
                                break answer.map(Answer::Json);
                            }
                            break Ok(Answer::Text(text));
                        }
                        (s, Ok(_)) if s.is_redirection() => {
                            let to = location
                                .as_ref()
                                .and_then(|l| l.to_str().ok())
                                .map(|l| format!(" to {}", self.key.scrub(l)))
                                .unwrap_or_default();
                            let message = crate::render::text::printable_text(&format!(
                                "the server answered with a redirect{to}; ampx follows no redirect, so that neither the call nor the key goes to an address nobody configured: point --server (or AMPX_SERVER) at the API itself"
                            ));
                            (false, fail(Some(s.as_u16()), message), None)
                        }
                        (s, Ok(text)) => {
                            let retry = s == StatusCode::TOO_MANY_REQUESTS || s.is_server_error();
                            let message = crate::render::text::printable_text(&error_message(
                                &self.key.scrub(&text),
                            ));
                            (retry, fail(Some(s.as_u16()), message), hint)
                        }
                        (_, Err((retry, e))) => (retry, e, hint),
                    }
                }
                Err(e) => {
                    // A connection never made carried nothing.
                    not_sent = e.is_connect();
                    (true, fail(None, strip_url(&e)), None)
                }
            };
            let backoff = self
                .options
                .first_backoff
                .saturating_mul(1 << attempt.min(6))
                .min(Duration::from_secs(8));
            let wait = wait_hint.unwrap_or_else(|| jitter(backoff));
            if write && err.status != Some(429) && !not_sent && retryable {
                maybe_applied = true;
                if call.once {
                    break Err(err);
                }
            }
            // A server that refuses connections is most likely down or the
            // wrong address: say so at once, and give up after two retries
            // rather than a minute of silence.
            if not_sent {
                if attempt >= 2 {
                    break Err(err);
                }
                if attempt == 0 && !self.unreachable_said.swap(true, Ordering::Relaxed) {
                    tracing::warn!("cannot reach {} ({}); trying again", self.base, err.message);
                }
            }
            if !retryable || started.elapsed() + wait > self.options.max_retry_time || attempt >= 8
            {
                break Err(err);
            }
            attempt += 1;
            tracing::debug!(
                call = %format!("{} {}", call.method, call.path),
                what = %call.what,
                attempt,
                wait_ms = wait.as_millis() as u64,
                "retrying: {}",
                err.message
            );
            tokio::time::sleep(wait).await;
        };
        (result, maybe_applied)
    }

    /// GET returning JSON; a plain-text answer is an error naming the call.
    pub async fn get_json(&self, call: &Call) -> Result<Value, ApiError> {
        match self.send(call).await? {
            Answer::Json(v) => Ok(v),
            Answer::Text(t) => Err(ApiError {
                method: call.method.to_string(),
                path: call.path.clone(),
                what: call.what.clone(),
                status: Some(200),
                message: format!(
                    "expected JSON, got `{}`",
                    crate::render::text::printable_text(&self.key.scrub(&t))
                        .chars()
                        .take(80)
                        .collect::<String>()
                ),
            }),
        }
    }

    /// Reads every page of a list endpoint (`limit=1000`, following
    /// `nextCursor`, which may be a string or a number; absent, null or ""
    /// ends the list). Returns the items under `field`.
    pub async fn list_all(
        &self,
        path: &str,
        field: &str,
        extra: &[(&str, &str)],
        what: &str,
    ) -> Result<Vec<Value>, ApiError> {
        let mut items = Vec::new();
        self.list_pages(path, field, extra, what, |page| {
            items.extend(page);
            Ok(())
        })
        .await?;
        Ok(items)
    }

    /// The items of a list page that belong to the client's project (all of
    /// them when it has none, or when an item does not say); notes every
    /// project an item names.
    fn in_project<T: ListItem>(&self, items: Vec<T>) -> Vec<T> {
        let mut seen = self.projects_seen.lock().unwrap_or_else(|e| e.into_inner());
        items
            .into_iter()
            .filter(|item| match item.project() {
                Some(p) => {
                    let mine = self.options.project.as_ref().is_none_or(|own| *own == p);
                    seen.insert(p);
                    mine
                }
                None => true,
            })
            .collect()
    }

    /// Like [`list_all`](Self::list_all), handing each page's items to
    /// `each_page` as it arrives, so that a caller can convert them and
    /// never hold more than one page of raw JSON (at 10,000 flags the raw
    /// items weigh several times what the converted ones do).
    pub async fn list_pages(
        &self,
        path: &str,
        field: &str,
        extra: &[(&str, &str)],
        what: &str,
        each_page: impl FnMut(Vec<Value>) -> Result<(), ApiError>,
    ) -> Result<(), ApiError> {
        self.list_pages_as(path, field, extra, what, each_page)
            .await
    }

    /// Like [`list_pages`](Self::list_pages), reading each page's text
    /// straight into `T` (a flag list into `LiveFlag`s): no tree of JSON
    /// values is built on the way.
    pub async fn list_pages_as<T: ListItem>(
        &self,
        path: &str,
        field: &str,
        extra: &[(&str, &str)],
        what: &str,
        mut each_page: impl FnMut(Vec<T>) -> Result<(), ApiError>,
    ) -> Result<(), ApiError> {
        let malformed = |m: &str| ApiError {
            method: "GET".into(),
            path: path.to_string(),
            what: what.to_string(),
            status: Some(200),
            message: m.to_string(),
        };
        let mut cursor: Option<String> = None;
        // Every cursor answered so far: one answered again would loop.
        let mut seen: std::collections::HashSet<String> = std::collections::HashSet::new();
        for _ in 0..MAX_PAGES {
            let mut call = Call::get(path, what);
            call.query.push(("limit".into(), PAGE_LIMIT.to_string()));
            for (k, v) in extra {
                call.query.push((k.to_string(), v.to_string()));
            }
            if let Some(c) = &cursor {
                call.query.push(("cursor".into(), c.clone()));
            }
            let scoped = matches!(path, "/api/1/flags" | "/api/1/experiments");
            if let (true, Some(p)) = (scoped, &self.options.project) {
                call.query.push(("projectId".into(), p.clone()));
            }
            let text = self.get_text(&call).await?;
            let page = read_page::<T>(&text, field).map_err(|e| malformed(&e))?;
            if let Some(items) = page.items {
                each_page(self.in_project(items))?;
            }
            let next = match &page.next_cursor {
                Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
                Some(Value::Number(n)) => Some(n.to_string()),
                None | Some(Value::Null) | Some(Value::String(_)) => None,
                Some(other) => {
                    return Err(malformed(&format!(
                        "`nextCursor` is neither a string nor a number: {other}"
                    )))
                }
            };
            match next {
                Some(n) if !seen.insert(n.clone()) => return Err(malformed(
                    "the API returned a cursor it had returned before; the list would never end",
                )),
                Some(n) => cursor = Some(n),
                None => return Ok(()),
            }
        }
        Err(malformed(&format!(
            "the list went on past {MAX_PAGES} pages of {PAGE_LIMIT}; stopped reading it"
        )))
    }
}

/// An item of a list answer: JSON as it is, or a type read straight from
/// the text; it names the project it belongs to, when it says.
pub trait ListItem: serde::de::DeserializeOwned {
    fn project(&self) -> Option<String>;
}

impl ListItem for Value {
    fn project(&self) -> Option<String> {
        project_of(self)
    }
}

impl ListItem for crate::live::LiveFlag {
    fn project(&self) -> Option<String> {
        self.project_id.clone()
    }
}

/// One page of a list: the items under the list's field, and the cursor.
struct Page<T> {
    items: Option<Vec<T>>,
    next_cursor: Option<Value>,
}

/// Reads a list page from its text: `{"<field>": [items], "nextCursor": …}`,
/// other fields ignored; the items go straight into `T`.
fn read_page<T: serde::de::DeserializeOwned>(text: &str, field: &str) -> Result<Page<T>, String> {
    use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, Visitor};
    struct Seed<'a, T>(&'a str, std::marker::PhantomData<T>);
    impl<'de, T: serde::de::DeserializeOwned> DeserializeSeed<'de> for Seed<'_, T> {
        type Value = Page<T>;
        fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Page<T>, D::Error> {
            d.deserialize_map(self)
        }
    }
    impl<'de, T: serde::de::DeserializeOwned> Visitor<'de> for Seed<'_, T> {
        type Value = Page<T>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            write!(f, "an object with `{}`", self.0)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Page<T>, A::Error> {
            let mut page = Page {
                items: None,
                next_cursor: None,
            };
            while let Some(key) = map.next_key::<String>()? {
                if key == self.0 {
                    page.items = map.next_value::<Option<Vec<T>>>()?;
                } else if key == "nextCursor" {
                    page.next_cursor = map.next_value()?;
                } else {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            Ok(page)
        }
    }
    let mut de = serde_json::Deserializer::from_str(text.trim());
    let page = Seed::<T>(field, std::marker::PhantomData)
        .deserialize(&mut de)
        .and_then(|p| de.end().map(|()| p))
        .map_err(|e| format!("unexpected answer shape: `{field}`: {e}"))?;
    Ok(page)
}

/// reqwest errors may print the URL; keep only the reason.
fn strip_url(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_decode() || e.is_body() {
        "could not read the answer"
    } else {
        "request failed"
    };
    let mut source = std::error::Error::source(e);
    let mut detail = String::new();
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    if detail.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}: {detail}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};

    fn headers(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_str(v).unwrap());
        h
    }

    /// Paths that are not this API's never leave: the port below has no
    /// server, so a call that was sent would fail to connect instead.
    #[tokio::test]
    async fn a_call_to_a_path_outside_the_api_is_refused_unsent() {
        let client = Client::new(
            "http://127.0.0.1:9",
            ApiKey::new("k".into()).unwrap(),
            ClientOptions::default(),
        )
        .unwrap();
        for path in [
            "/api/1/flags/..",
            "/api/1/flags/%2E%2E/x",
            "/api/1/flags/./users",
            "@evil.example/steal",
            "/api/1/flags/1?x=1",
            "/api/1/flags/{id}",
            "/api/2/flags",
        ] {
            let e = client.send(&Call::get(path, "a call")).await.unwrap_err();
            assert!(
                e.message.contains("refused to send the call"),
                "{path}: {e}"
            );
        }
        assert_eq!(client.requests(), 0);
    }

    #[test]
    fn retry_after_takes_seconds_or_an_http_date() {
        assert_eq!(retry_after(&headers("3")), Some(Duration::from_secs(3)));
        let later = std::time::SystemTime::now() + Duration::from_secs(120);
        let wait = retry_after(&headers(&httpdate::fmt_http_date(later))).unwrap();
        assert!(wait > Duration::from_secs(100) && wait <= Duration::from_secs(120));
        let past = httpdate::fmt_http_date(std::time::SystemTime::UNIX_EPOCH);
        assert_eq!(retry_after(&headers(&past)), Some(Duration::ZERO));
        assert_eq!(retry_after(&headers("soon")), None);
        assert_eq!(retry_after(&HeaderMap::new()), None);
    }

    #[test]
    fn keys_are_checked_and_never_shown() {
        let k = ApiKey::new("abc123".into()).unwrap();
        assert_eq!(format!("{k:?}"), "ApiKey(***)");
        assert!(k.header().is_sensitive());
        for bad in ["", "a b", "a\n", "ключ"] {
            let e = ApiKey::new(bad.into()).unwrap_err().to_string();
            assert!(e.contains(KEY_ENV), "{e}");
        }
    }

    #[test]
    fn error_bodies_json_or_text() {
        assert_eq!(error_message(r#"{"error": {"message": "bad"}}"#), "bad");
        assert_eq!(error_message(r#"{"message": "nope"}"#), "nope");
        assert_eq!(error_message("plain words\n"), "plain words");
    }
}
