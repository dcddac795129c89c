//! Shared harness for the end-to-end tests: an in-process emulator and a
//! client pointed at it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

use ampx::api::{ApiKey, Client, ClientOptions};
use ampx::emulator::{self, EmulatorConfig, EmulatorHandle};
use ampx::manifest::{load_sources, ManifestSet};
use ampx::plan::Plan;

pub const KEY: &str = "test-key-0123456789";

pub struct Env {
    pub emu: EmulatorHandle,
    pub client: Arc<Client>,
}

impl Env {
    /// A test environment, set up by the builder's calls and started by
    /// [`EnvBuilder::start`]: `Env::builder().page_size(2).flag(json!(..)).start().await`.
    pub fn builder() -> EnvBuilder {
        EnvBuilder {
            page_size: 1000,
            options: ClientOptions::default(),
            flags: Vec::new(),
            other_projects: Vec::new(),
        }
    }
}

/// How an [`Env`] is set up: an in-process emulator (its page size and live
/// flags) and a client for it (its options, with the rate limit lifted).
pub struct EnvBuilder {
    page_size: usize,
    options: ClientOptions,
    flags: Vec<serde_json::Value>,
    other_projects: Vec<String>,
}

impl EnvBuilder {
    /// Items per list page.
    pub fn page_size(mut self, n: usize) -> Self {
        self.page_size = n;
        self
    }

    /// The client's options.
    pub fn options(mut self, options: ClientOptions) -> Self {
        self.options = options;
        self
    }

    /// One more project the key sees, besides 100001.
    pub fn other_project(mut self, id: &str) -> Self {
        self.other_projects.push(id.to_string());
        self
    }

    /// A live flag, as `EmulatorHandle::seed_flag` takes it.
    pub fn flag(mut self, flag: serde_json::Value) -> Self {
        self.flags.push(flag);
        self
    }

    pub async fn start(self) -> Env {
        let config = EmulatorConfig {
            api_key: KEY.into(),
            page_size: self.page_size,
            other_projects: self.other_projects,
            ..Default::default()
        };
        let emu = emulator::start(config, ([127, 0, 0, 1], 0).into())
            .await
            .unwrap();
        for f in self.flags {
            emu.seed_flag(f).unwrap();
        }
        // Tests do not wait on the API's rate limit: the emulator has none
        // unless faults set one.
        let options = ClientOptions {
            max_rps: 10_000.0,
            ..self.options
        };
        let client = Arc::new(
            Client::new(&emu.base_url, ApiKey::new(KEY.into()).unwrap(), options).unwrap(),
        );
        Env { emu, client }
    }
}

/// A manifest set: a Project document followed by `yaml`.
pub fn manifests(yaml: &str) -> ManifestSet {
    let text = format!("apiVersion: ampx/v1\nkind: Project\nid: \"100001\"\n---\n{yaml}");
    load_sources(&[(PathBuf::from("flags.yaml"), text)]).unwrap()
}

pub fn examples() -> ManifestSet {
    ampx::manifest::load(&[PathBuf::from("examples/manifests")]).unwrap()
}

pub async fn plan(e: &Env, set: &ManifestSet) -> Plan {
    ampx::commands::plan::make_plan(&e.client, set)
        .await
        .unwrap()
}

// ----- the binary, as a user runs it -----

/// The binary, run as a user runs it, against `server`:
/// `Ampx::at(&url).key(KEY).args(&["plan", dir]).var("RUST_LOG", "trace").run()`.
/// Colour is off and no `RUST_LOG` or key is inherited.
pub struct Ampx {
    cmd: Command,
}

impl Ampx {
    pub fn at(server: &str) -> Ampx {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ampx"));
        cmd.env("AMPX_SERVER", server)
            .env("NO_COLOR", "1")
            .env_remove("RUST_LOG")
            .env_remove("AMPLITUDE_MANAGEMENT_API_KEY")
            .stdin(Stdio::null());
        Ampx { cmd }
    }

    /// The Management API key in the environment.
    pub fn key(mut self, key: &str) -> Ampx {
        self.cmd.env("AMPLITUDE_MANAGEMENT_API_KEY", key);
        self
    }

    pub fn args(mut self, args: &[&str]) -> Ampx {
        self.cmd.args(args);
        self
    }

    /// The working directory the binary runs in.
    pub fn current_dir(mut self, dir: &Path) -> Ampx {
        self.cmd.current_dir(dir);
        self
    }

    /// An environment variable taken away.
    pub fn without(mut self, name: &str) -> Ampx {
        self.cmd.env_remove(name);
        self
    }

    /// One more environment variable.
    pub fn var(mut self, name: &str, value: &str) -> Ampx {
        self.cmd.env(name, value);
        self
    }

    pub async fn run(mut self) -> Output {
        tokio::task::spawn_blocking(move || self.cmd.output().unwrap())
            .await
            .unwrap()
    }
}

/// Runs `ampx args` against `server`, with the key (or none) in the
/// environment: the shorthand most tests use.
pub async fn ampx(server: &str, key: Option<&str>, args: &[&str]) -> Output {
    let run = Ampx::at(server).args(args);
    match key {
        Some(k) => run.key(k),
        None => run,
    }
    .run()
    .await
}

pub fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

pub fn write(dir: &Path, name: &str, body: &str) {
    std::fs::write(dir.join(name), body).unwrap();
}

pub fn temp_dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("ampx-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The SDK keys of the emulator's deployments, as the API shows them.
pub async fn sdk_keys(e: &Env) -> Vec<String> {
    let call = ampx::api::Call::get("/api/1/deployments", "deployments");
    let answer = e.client.get_json(&call).await.unwrap();
    answer["deployments"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d.get("key").and_then(|k| k.as_str()).map(str::to_string))
        .collect()
}

/// A change made outside ampx, as a person in the Amplitude UI would.
pub async fn patch(e: &Env, path: &str, body: serde_json::Value) {
    let call = ampx::api::Call {
        method: reqwest::Method::PATCH,
        path: path.to_string(),
        query: Vec::new(),
        body: Some(body),
        what: "an out-of-band edit".into(),
        once: false,
    };
    e.client.send(&call).await.unwrap();
}
