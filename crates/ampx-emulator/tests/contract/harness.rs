//! One harness for the contract tests: an emulator and a raw HTTP client
//! for it, and assertions on its answers.

pub use std::path::PathBuf;

pub use ampx_emulator::{self as emulator, EmulatorConfig, EmulatorHandle, Faults};
pub use reqwest::Method;
use serde_json::{json, Value};

pub const KEY: &str = "test-key";

pub async fn start_with(config: EmulatorConfig) -> (EmulatorHandle, Api) {
    let handle = emulator::start(config.clone(), "127.0.0.1:0".parse().expect("address"))
        .await
        .expect("emulator starts");
    let api = Api {
        http: reqwest::Client::new(),
        base: handle.base_url.clone(),
        key: config.api_key,
    };
    (handle, api)
}

pub async fn start() -> (EmulatorHandle, Api) {
    start_with(EmulatorConfig {
        api_key: KEY.to_owned(),
        ..EmulatorConfig::default()
    })
    .await
}

/// An emulator with the older, kinder answers (`EmulatorConfig::lenient`).
pub async fn start_lenient() -> (EmulatorHandle, Api) {
    start_with(EmulatorConfig {
        api_key: KEY.to_owned(),
        lenient: true,
        ..EmulatorConfig::default()
    })
    .await
}

/// An emulator whose key also sees `others`.
pub async fn start_with_projects(others: &[&str]) -> (EmulatorHandle, Api) {
    start_with(EmulatorConfig {
        api_key: KEY.to_owned(),
        other_projects: others.iter().map(|p| (*p).to_owned()).collect(),
        ..EmulatorConfig::default()
    })
    .await
}

/// Asserts that a JSON object has exactly these fields (in any order).
#[track_caller]
pub fn assert_keys(value: &Value, expected: &[&str]) {
    let mut got: Vec<&str> = value
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {value}"))
        .keys()
        .map(String::as_str)
        .collect();
    got.sort_unstable();
    let mut want = expected.to_vec();
    want.sort_unstable();
    assert_eq!(got, want, "fields of {value}");
}

/// Asserts that a JSON object has exactly these fields in this order.
#[track_caller]
pub fn assert_key_order(value: &Value, expected: &[&str]) {
    let got: Vec<&str> = value
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {value}"))
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(got, expected, "fields of {value}");
}

/// A JSON object without some of its fields.
pub fn without(value: &Value, fields: &[&str]) -> Value {
    let mut value = value.clone();
    if let Some(map) = value.as_object_mut() {
        for field in fields {
            map.remove(*field);
        }
    }
    value
}

pub struct Api {
    pub http: reqwest::Client,
    pub base: String,
    pub key: String,
}

pub struct Answer {
    pub status: u16,
    pub content_type: String,
    /// The `Retry-After` header, when there is one.
    pub retry_after: Option<String>,
    pub text: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text))
    }

    pub fn ok(&self) -> &Self {
        assert_eq!(self.status, 200, "{}", self.text);
        self
    }
}

impl Api {
    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Answer {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request is sent");
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .map(|v| v.to_str().expect("Retry-After is text").to_owned());
        let text = response.text().await.expect("body");
        Answer {
            status,
            content_type,
            retry_after,
            text,
        }
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.call(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Answer {
        self.call(Method::POST, path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Answer {
        self.call(Method::PATCH, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str, body: Option<Value>) -> Answer {
        self.call(Method::DELETE, path, body).await
    }

    /// Creates a flag and returns its id.
    pub async fn create_flag(&self, body: Value) -> String {
        let answer = self.post("/api/1/flags", body).await;
        let json = answer.ok().json();
        json["id"].as_str().expect("id is a string").to_owned()
    }
}

pub fn assert_ok_text(answer: &Answer) {
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.text, "OK");
    assert!(
        answer.content_type.starts_with("text/plain"),
        "{}",
        answer.content_type
    );
}

pub fn assert_error(answer: &Answer, status: u16) {
    assert_eq!(answer.status, status, "{}", answer.text);
    let body = answer.json();
    assert_eq!(body["error"]["code"], json!(status));
    assert!(body["error"]["message"].is_string());
}

pub fn scratch_dir(name: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!(
        "ampx-emulator-{name}-{}-{nanos}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

impl Api {
    /// Creates an experiment and returns its id.
    pub async fn create_experiment(&self, body: Value) -> String {
        let answer = self.post("/api/1/experiments", body).await;
        let json = answer.ok().json();
        json["id"].as_str().expect("id is a string").to_owned()
    }

    pub async fn experiment(&self, id: &str) -> Value {
        self.get(&format!("/api/1/experiments/{id}"))
            .await
            .ok()
            .json()
    }
}

impl Api {
    /// Creates a group (`/api/1/mutexes` or `/api/1/holdouts`) and returns its id.
    pub async fn create_group(&self, path: &str, body: Value) -> String {
        let answer = self.post(path, body).await;
        let json = answer.ok().json();
        assert_eq!(
            json["url"],
            json!("http://experiment.amplitude.com/amplitude/experiments/grouped-experiments")
        );
        json["id"].as_str().expect("id is a string").to_owned()
    }
}

/// An experiment id as the groups show it: a number.
pub fn num(id: &str) -> Value {
    json!(id.parse::<u64>().expect("numeric id"))
}

pub async fn start_faulty(faults: Faults) -> (EmulatorHandle, Api) {
    start_with(EmulatorConfig {
        api_key: KEY.to_owned(),
        faults,
        ..EmulatorConfig::default()
    })
    .await
}

/// The faults named in the request log, in order.
pub fn logged_faults(handle: &EmulatorHandle) -> Vec<Option<String>> {
    handle.requests().into_iter().map(|r| r.fault).collect()
}
