//! The `ampx` binary as a user runs it: exit codes, refusals, and that bad
//! input never reaches the API.

use std::process::{Command, Output, Stdio};

use crate::harness::{ampx, temp_dir, text, write, Ampx};
use ampx::emulator::{self, EmulatorConfig, EmulatorHandle};

const KEY: &str = "cli-test-key-42";

async fn emulator() -> EmulatorHandle {
    let config = EmulatorConfig {
        api_key: KEY.into(),
        ..Default::default()
    };
    emulator::start(config, ([127, 0, 0, 1], 0).into())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_exit_codes_then_apply_then_clean() {
    let emu = emulator().await;
    let (url, ex) = (emu.base_url.clone(), "examples/manifests");
    let o = ampx(&url, Some(KEY), &["plan", ex, "--detailed-exitcode"]).await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}{err}");
    assert!(out.contains("+ flag dark-mode will be created"), "{out}");
    assert!(out.contains("Read the live state with"), "{out}");
    assert!(!out.contains('\x1b'), "no colour when not a terminal");
    // Every report says which project on which server it is about.
    assert!(
        out.starts_with(&format!("Plan for project 100001 on {url}\n")),
        "{out}"
    );
    let o = ampx(&url, Some(KEY), &["plan", ex, "--format", "json"]).await;
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        (doc["project"].as_str(), doc["server"].as_str()),
        (Some("100001"), Some(url.as_str()))
    );

    let o = ampx(&url, Some(KEY), &["plan", ex]).await;
    assert_eq!(
        o.status.code(),
        Some(0),
        "without --detailed-exitcode changes are not an error"
    );

    let o = ampx(&url, Some(KEY), &["drift", ex, "--format", "markdown"]).await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "drift found: {out}{err}");
    assert!(out.starts_with("### ampx drift: "), "{out}");
    assert!(
        out.contains(&format!("\n<sub>Project `100001` on `{url}`</sub>\n")),
        "{out}"
    );
    assert!(out.contains("missing live"), "{out}");

    let o = ampx(&url, Some(KEY), &["apply", ex, "--auto-approve"]).await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert!(out.starts_with("Plan for project 100001 on "), "{out}");
    assert!(
        out.contains("Verified: a fresh plan shows no changes"),
        "{out}"
    );

    let o = ampx(&url, Some(KEY), &["plan", ex, "--detailed-exitcode"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o).0);
    assert!(text(&o).0.contains("No changes."));
    let o = ampx(&url, Some(KEY), &["drift", ex]).await;
    assert_eq!(o.status.code(), Some(0), "no drift: {}", text(&o).0);
    assert!(
        text(&o).0.starts_with(&format!(
            "Drift check for project 100001 on {url}\n\nNo drift."
        )),
        "{}",
        text(&o).0
    );
    let (out, err) = text(&o);
    assert!(
        !out.contains(KEY) && !err.contains(KEY),
        "the key never appears"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_without_a_terminal_refuses_and_writes_nothing() {
    let emu = emulator().await;
    let o = ampx(&emu.base_url, Some(KEY), &["apply", "examples/manifests"]).await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1));
    assert!(err.contains("--auto-approve"), "{err}");
    assert!(
        out.contains("will be created"),
        "the plan is still shown: {out}"
    );
    assert!(
        emu.requests().iter().all(|r| r.method == "GET"),
        "no write was made"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_or_wrong_key_is_a_clear_error() {
    let emu = emulator().await;
    let o = ampx(&emu.base_url, None, &["plan", "examples/manifests"]).await;
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o)
            .1
            .contains("AMPLITUDE_MANAGEMENT_API_KEY is not set"),
        "{}",
        text(&o).1
    );
    assert!(emu.requests().is_empty());

    let o = ampx(
        &emu.base_url,
        Some("wrong-key"),
        &["plan", "examples/manifests"],
    )
    .await;
    let err = text(&o).1;
    assert_eq!(o.status.code(), Some(1));
    assert!(
        err.contains("401") && err.contains("AMPLITUDE_MANAGEMENT_API_KEY"),
        "{err}"
    );
    assert!(
        !err.contains("wrong-key"),
        "the key is never printed: {err}"
    );

    let o = ampx(
        &emu.base_url,
        Some("two words"),
        &["plan", "examples/manifests"],
    )
    .await;
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).1.contains("whitespace"), "{}", text(&o).1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_manifests_make_no_api_call() {
    let emu = emulator().await;
    let dir = temp_dir("invalid");
    write(
        &dir,
        "p.yaml",
        "apiVersion: ampx/v1\nkind: Project\nid: \"100001\"\n",
    );
    write(
        &dir,
        "f.yml",
        "apiVersion: ampx/v1\nkind: Flag\nkey: a\nrolloutPercentage: 101\nvariants: [{key: on}]\nrolloutWeights: {of: 1}\n",
    );
    let o = ampx(
        &emu.base_url,
        Some(KEY),
        &["apply", dir.to_str().unwrap(), "--auto-approve"],
    )
    .await;
    let err = text(&o).1;
    assert_eq!(o.status.code(), Some(1));
    assert!(err.contains("f.yml:4:"), "{err}");
    assert!(err.contains("f.yml:6:"), "{err}");
    assert!(err.contains("nothing was sent to the API"), "{err}");
    assert!(emu.requests().is_empty(), "no API call at all");

    let o = ampx(
        &emu.base_url,
        Some(KEY),
        &["validate", dir.to_str().unwrap()],
    )
    .await;
    assert_eq!(o.status.code(), Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_is_refused_for_remote_hosts() {
    let o = ampx(
        "http://example.com",
        Some(KEY),
        &["plan", "examples/manifests"],
    )
    .await;
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o).1.contains("refusing plain http://"),
        "{}",
        text(&o).1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_deployment_label_fails_before_any_write() {
    let emu = emulator().await;
    let dir = temp_dir("deploy");
    write(
        &dir,
        "p.yaml",
        "apiVersion: ampx/v1\nkind: Project\nid: \"100001\"\n",
    );
    write(
        &dir,
        "f.yaml",
        "apiVersion: ampx/v1\nkind: Flag\nkey: a\ndeployments: [nope]\n",
    );
    let o = ampx(
        &emu.base_url,
        Some(KEY),
        &["apply", dir.to_str().unwrap(), "--auto-approve"],
    )
    .await;
    let err = text(&o).1;
    assert_eq!(o.status.code(), Some(1));
    assert!(
        err.contains("f.yaml:4") && err.contains("deployment `nope`"),
        "{err}"
    );
    assert!(emu.requests().iter().all(|r| r.method == "GET"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deny_risky_turns_warnings_into_a_refusal() {
    let emu = emulator().await;
    emu.seed_experiment(serde_json::json!({
        "key": "pricing", "state": "running", "enabled": true,
        "variants": [{"key": "control"}, {"key": "treatment"}]
    }))
    .unwrap();
    let dir = temp_dir("risky");
    write(
        &dir,
        "p.yaml",
        "apiVersion: ampx/v1\nkind: Project\nid: \"100001\"\n",
    );
    write(
        &dir,
        "e.yaml",
        "apiVersion: ampx/v1\nkind: Experiment\nkey: pricing\nbucketingSalt: new\n",
    );
    let d = dir.to_str().unwrap();
    let o = ampx(&emu.base_url, Some(KEY), &["plan", d, "--deny-risky"]).await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    assert!(
        out.contains("WARNING") && err.contains("--deny-risky"),
        "{out}{err}"
    );

    let o = ampx(
        &emu.base_url,
        Some(KEY),
        &["apply", d, "--auto-approve", "--deny-risky"],
    )
    .await;
    assert_eq!(o.status.code(), Some(1));
    assert!(
        emu.requests().iter().all(|r| r.method == "GET"),
        "no write was made"
    );

    let o = ampx(&emu.base_url, Some(KEY), &["plan", d]).await;
    assert_eq!(
        o.status.code(),
        Some(0),
        "without the flag a warning is not an error"
    );
}

fn run_offline(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ampx"))
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("AMPLITUDE_MANAGEMENT_API_KEY")
        .env_remove("AMPX_SERVER")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn validate_reports_every_mistake_with_position_and_hint() {
    let o = run_offline(&["validate", "tests/fixtures/invalid.yaml"]);
    assert_eq!(o.status.code(), Some(1));
    insta::assert_snapshot!("validate_invalid", text(&o).1);
    // No Project: named at the first file in path order, with one to add.
    let o = run_offline(&["validate", "tests/fixtures/invalid-no-project"]);
    assert_eq!(o.status.code(), Some(1));
    insta::assert_snapshot!("validate_no_project", text(&o).1);
    // Names with a typo: the name meant.
    let o = run_offline(&["validate", "tests/fixtures/invalid-environments.yaml"]);
    assert_eq!(o.status.code(), Some(1));
    insta::assert_snapshot!("validate_names", text(&o).1);
}

#[test]
fn help_has_an_example_for_every_command() {
    let o = run_offline(&["--help"]);
    assert_eq!(o.status.code(), Some(0));
    insta::assert_snapshot!("help", text(&o).0);
    for cmd in [
        "validate",
        "plan",
        "apply",
        "export",
        "show",
        "emulator",
        "demo",
        "schema",
        "completions",
        "refs",
    ] {
        let o = run_offline(&[cmd, "--help"]);
        assert_eq!(o.status.code(), Some(0), "{cmd}");
        let help = text(&o).0;
        assert!(
            help.contains("Example: ") && help.contains(&format!("ampx {cmd}")),
            "`ampx {cmd} --help` shows an example:\n{help}"
        );
    }
    insta::assert_snapshot!("help_plan", text(&run_offline(&["plan", "--help"])).0);
}

/// The API's options are options of the commands that call it, and only
/// of those; given before the subcommand they still apply, and the
/// command's own win over them and over AMPX_SERVER.
#[test]
fn api_options_belong_to_the_commands_that_call_the_api() {
    for cmd in [
        "validate",
        "schema",
        "completions",
        "emulator",
        "promote",
        "demo",
    ] {
        let help = text(&run_offline(&[cmd, "--help"])).0;
        for option in ["--server", "--region", "--max-rps", "--parallelism"] {
            assert!(
                !help.contains(option),
                "`ampx {cmd} --help` shows {option}:\n{help}"
            );
        }
    }
    for cmd in ["plan", "apply", "drift", "export", "compare"] {
        let help = text(&run_offline(&[cmd, "--help"])).0;
        for option in ["--server", "--region", "--max-rps", "--parallelism"] {
            assert!(
                help.contains(option),
                "`ampx {cmd} --help` lacks {option}:\n{help}"
            );
        }
    }
    let o = run_offline(&["validate", "examples/manifests", "--max-rps", "5"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o).1.contains("unexpected argument '--max-rps'"),
        "{:?}",
        text(&o)
    );
}

/// Adopting an environment no Project declares names the manifests to add
/// it to, and the environment meant.
#[test]
fn adopting_an_undeclared_environment_names_where_to_declare_it() {
    let o = run_offline(&["--env", "prdo", "export", "--into", "examples/environments"]);
    let err = text(&o).1;
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("no Project document in examples/environments names the environment `prdo` (did you mean `prod`?): add one there first"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_is_taken_from_the_command_then_before_it_then_the_environment() {
    let emu = emulator().await;
    let url = emu.base_url.as_str();
    // Nothing listens there: a request to it fails at once.
    let nowhere = "http://127.0.0.1:9";
    let ex = "examples/manifests";
    for (env, args) in [
        (Some(nowhere), vec!["plan", "--server", url, ex]),
        (None, vec!["--server", url, "plan", ex]),
        (None, vec!["--server", nowhere, "plan", ex, "--server", url]),
        (
            Some(nowhere),
            vec![
                "--max-rps",
                "500",
                "plan",
                ex,
                "--server",
                url,
                "--parallelism",
                "2",
            ],
        ),
    ] {
        let run = Ampx::at(nowhere).key(KEY).args(&args);
        let run = match env {
            Some(e) => run.var("AMPX_SERVER", e),
            None => run.without("AMPX_SERVER"),
        };
        let o = run.run().await;
        let (out, err) = text(&o);
        assert_eq!(o.status.code(), Some(0), "{env:?} {args:?}: {out}{err}");
    }
    let o = Ampx::at(url)
        .key(KEY)
        .args(&["plan", ex, "--server", nowhere])
        .run()
        .await;
    assert_eq!(
        o.status.code(),
        Some(1),
        "the command's own --server wins over AMPX_SERVER"
    );
    assert!(text(&o).1.contains("cannot reach"), "{:?}", text(&o));
}

#[test]
fn completions_for_each_shell() {
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef ampx"),
        ("fish", "complete -c ampx"),
    ] {
        let o = run_offline(&["completions", shell]);
        assert_eq!(o.status.code(), Some(0));
        assert!(text(&o).0.contains(marker), "{shell}");
    }
}

/// Runs `ampx emulator` with these arguments and waits for it to exit; an
/// emulator that starts serving instead is stopped and reported.
fn emulator_refuses(args: &[&str]) -> (Option<i32>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ampx"))
        .arg("emulator")
        .args(["--port", "0"])
        .args(args)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A watchdog, not a timing assertion: a refused start takes no time at all.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            let o = child.wait_with_output().unwrap();
            panic!("`ampx emulator {args:?}` started serving: {:?}", text(&o));
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let o = child.wait_with_output().unwrap();
    (o.status.code(), text(&o).1)
}

#[test]
fn emulator_refuses_impossible_fault_settings() {
    for (args, flag) in [
        (&["--error-rate", "2"][..], "--error-rate"),
        (&["--lost-answer-rate", "-0.5"][..], "--lost-answer-rate"),
        (&["--error-rate", "NaN"][..], "--error-rate"),
        (&["--rate-limit-rps", "0"][..], "--rate-limit-rps"),
        (&["--rate-limit-rps", "-3"][..], "--rate-limit-rps"),
    ] {
        let (code, err) = emulator_refuses(args);
        assert_eq!(code, Some(1), "{args:?}: {err}");
        assert!(
            err.starts_with("error: ") && err.contains(flag) && err.contains(args[1]),
            "{args:?}: {err}"
        );
    }
    let o = run_offline(&["emulator", "--help"]);
    let help = text(&o).0;
    for flag in [
        "--latency-ms",
        "--error-rate",
        "--lost-answer-rate",
        "--rate-limit-rps",
        "--fault-seed",
    ] {
        assert!(help.contains(flag), "{flag} in:\n{help}");
    }
}

/// `ampx plan | head`: a reader that goes away is not an error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_pipe_ends_quietly() {
    let emu = emulator().await;
    let url = emu.base_url.clone();
    let output = tokio::task::spawn_blocking(move || {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ampx"))
            .args(["plan", "examples/manifests"])
            .env("AMPX_SERVER", &url)
            .env("AMPLITUDE_MANAGEMENT_API_KEY", KEY)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Close the read end before ampx has read the live state and written.
        drop(child.stdout.take());
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    let err = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{err}");
    assert!(err.is_empty(), "nothing on stderr: {err}");
    assert!(emu.count("GET", "/api/1/flags") > 0, "ampx did run");
}

/// One object failing stops only that object; apply reports each and exits 1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partial_failure_is_reported_per_object_and_exits_1() {
    let emu = emulator().await;
    emu.seed_experiment(serde_json::json!({"key": "web-test", "type": "web", "name": "Web"}))
        .unwrap();
    let dir = temp_dir("partial");
    write(
        &dir,
        "m.yaml",
        "apiVersion: ampx/v1\nkind: Project\nid: \"100001\"\n---\napiVersion: ampx/v1\nkind: Experiment\nkey: web-test\nname: Renamed\n---\napiVersion: ampx/v1\nkind: Flag\nkey: fine\nname: Fine\n",
    );
    let o = ampx(
        &emu.base_url,
        Some(KEY),
        &["apply", dir.to_str().unwrap(), "--auto-approve"],
    )
    .await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    assert!(out.contains("✓ flag fine"), "{out}");
    assert!(out.contains("✗ experiment web-test: FAILED"), "{out}");
    assert!(out.contains("405"), "the API's answer is shown: {out}");
    assert_eq!(emu.experiment_json("web-test").unwrap()["name"], "Web");
    assert!(emu.flag_json("fine").is_some());
}

#[test]
fn request_rate_and_parallelism_out_of_range_are_usage_errors() {
    for (args, says) in [
        (vec!["--max-rps", "1e-20"], "not within 0.001 to 1000"),
        (vec!["--max-rps", "0"], "not within 0.001 to 1000"),
        (vec!["--max-rps", "inf"], "not within 0.001 to 1000"),
        (vec!["--max-rps", "1001"], "not within 0.001 to 1000"),
        (vec!["--max-rps", "NaN"], "not within 0.001 to 1000"),
        (vec!["--parallelism", "0"], "from 1 to 64"),
        (vec!["--parallelism", "100"], "from 1 to 64"),
    ] {
        let mut all = vec!["plan", "examples/manifests"];
        all.extend(args.iter().copied());
        let o = run_offline(&all);
        let (_, err) = text(&o);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
}

/// A variant replaced without `renamedFrom`: the plan reads what it held,
/// shows it going, marks the change destructive, suggests `renamedFrom`, and
/// `--deny-risky` refuses it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_variant_removed_with_what_it_holds_is_destructive_and_named() {
    let emu = emulator().await;
    emu.seed_flag(serde_json::json!({
        "key": "f", "enabled": true,
        "variants": [{"key": "on", "payload": {"layout": "new"}, "inclusions": ["u1", "u2", "u3"], "rolloutWeight": 1}]
    }))
    .unwrap();
    let dir = temp_dir("destructive");
    write(
        &dir,
        "m.yaml",
        "apiVersion: ampx/v1\nkind: Project\nid: \"100001\"\n---\napiVersion: ampx/v1\nkind: Flag\nkey: f\nvariants: [{key: enabled}]\n",
    );
    let d = dir.to_str().unwrap();
    let o = ampx(&emu.base_url, Some(KEY), &["plan", d]).await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert!(out.contains("will be changed (destructive)"), "{out}");
    assert!(
        out.contains("3 inclusion(s)") && out.contains("payload"),
        "{out}"
    );
    assert!(out.contains("renamedFrom: on"), "{out}");
    let o = ampx(&emu.base_url, Some(KEY), &["plan", d, "--format", "json"]).await;
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["objects"][0]["destructive"], true, "{doc}");
    let o = ampx(
        &emu.base_url,
        Some(KEY),
        &["plan", d, "--format", "markdown"],
    )
    .await;
    assert!(
        text(&o).0.contains("**change (destructive)**"),
        "{}",
        text(&o).0
    );
    let o = ampx(
        &emu.base_url,
        Some(KEY),
        &["apply", d, "--auto-approve", "--deny-risky"],
    )
    .await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    assert!(err.contains("--deny-risky"), "{err}");
    assert_eq!(emu.count("DELETE", "/"), 0);
}

/// `apply --format json`: the report alone on stdout, as a document CI can
/// read: each object's outcome and calls, the API's message, verification.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_reports_as_json_for_ci() {
    let emu = emulator().await;
    emu.seed_experiment(serde_json::json!({"key": "web-test", "type": "web", "name": "Web"}))
        .unwrap();
    let dir = temp_dir("apply-json");
    write(
        &dir,
        "m.yaml",
        "apiVersion: ampx/v1\nkind: Project\nid: \"100001\"\n---\napiVersion: ampx/v1\nkind: Experiment\nkey: web-test\nname: Renamed\n---\napiVersion: ampx/v1\nkind: Flag\nkey: fine\nname: Fine\n",
    );
    let d = dir.to_str().unwrap();
    let o = ampx(
        &emu.base_url,
        Some(KEY),
        &["apply", d, "--auto-approve", "--format", "json"],
    )
    .await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).expect("stdout is one JSON document");
    assert_eq!(doc["formatVersion"], 1);
    assert_eq!(doc["report"], "apply");
    assert_eq!(doc["project"], "100001");
    assert_eq!(doc["ok"], false);
    let by_key = |k: &str| {
        doc["objects"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["key"] == k)
            .unwrap()
            .clone()
    };
    assert_eq!(by_key("fine")["outcome"], "applied");
    assert_eq!(by_key("fine")["applied"][0]["method"], "POST");
    let web = by_key("web-test");
    assert_eq!(web["outcome"], "failed");
    assert_eq!(web["failed"]["status"], 405);
    assert!(
        web["failed"]["error"]
            .as_str()
            .unwrap()
            .contains("cannot be edited through the API"),
        "{web}"
    );
    // Once the experiment leaves the manifests, the apply verifies.
    write(
        &dir,
        "m.yaml",
        "apiVersion: ampx/v1\nkind: Project\nid: \"100001\"\n---\napiVersion: ampx/v1\nkind: Flag\nkey: fine\nname: Fine again\n",
    );
    let o = ampx(
        &emu.base_url,
        Some(KEY),
        &["apply", d, "--auto-approve", "--format", "json"],
    )
    .await;
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(o.status.code(), Some(0), "{doc}");
    assert_eq!(
        (doc["ok"].as_bool(), doc["verified"].as_bool()),
        (Some(true), Some(true))
    );
}

/// `ampx demo` runs anywhere: outside a clone of the repository it uses the
/// example manifests built into the binary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_runs_outside_the_repository() {
    let elsewhere = temp_dir("demo-elsewhere");
    let o = crate::harness::Ampx::at("http://127.0.0.1:9")
        .current_dir(&elsewhere)
        .args(&["demo"])
        .run()
        .await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert!(
        out.contains("Verified: a fresh plan shows no changes"),
        "{out}"
    );
    // Then one manifest set planned for two environments, each against its
    // own project, with its own rollout.
    let (_, envs) = out
        .split_once("== Environments: one manifest set, a project each ==")
        .unwrap_or_else(|| panic!("no environments part: {out}"));
    let (staging, prod) = envs
        .split_once("== ampx --env prod plan ==")
        .unwrap_or_else(|| panic!("no prod plan: {envs}"));
    assert!(staging.contains("== ampx --env staging plan =="), "{envs}");
    assert!(
        staging.contains("Plan for environment staging, project 412002"),
        "{staging}"
    );
    assert!(staging.contains("+ rolloutPercentage: 50"), "{staging}");
    assert!(
        prod.contains("Plan for environment prod, project 412003"),
        "{prod}"
    );
    assert!(prod.contains("+ rolloutPercentage: 10"), "{prod}");
    assert!(prod.contains("pilot-customer-1042"), "{prod}");
    assert!(!staging.contains("pilot-customer-1042"), "{staging}");
}

/// A YAML file beside the manifests that does not say `apiVersion:
/// ampx/…` (a docker-compose.yml) is skipped, with a note at `-v`; named on
/// its own it is still read and refused; one that says it is a manifest is
/// checked strictly.
#[test]
fn a_stray_yaml_file_in_the_directory_is_skipped() {
    let dir = temp_dir("stray-yaml");
    write(
        &dir,
        "m.yaml",
        "apiVersion: ampx/v1\nkind: Project\nid: \"100001\"\n---\napiVersion: ampx/v1\nkind: Flag\nkey: f\n",
    );
    write(
        &dir,
        "docker-compose.yml",
        "services:\n  web:\n    image: nginx\n",
    );
    let d = dir.to_str().unwrap();
    let o = run_offline(&["validate", d]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert!(out.contains("1 flag(s)"), "{out}");
    assert!(err.is_empty(), "{err}");
    let o = run_offline(&["-v", "validate", d]);
    let (_, err) = text(&o);
    assert!(
        err.contains("docker-compose.yml: not an ampx manifest (no `apiVersion: ampx/…`): skipped"),
        "{err}"
    );
    let o = run_offline(&["validate", dir.join("docker-compose.yml").to_str().unwrap()]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "named on its own, it is read: {:?}",
        text(&o)
    );
    write(
        &dir,
        "docker-compose.yml",
        "apiVersion: ampx/v1\nkind: Flag\nkey: g\nrolloutPercentage: lots\n",
    );
    let o = run_offline(&["validate", d]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("docker-compose.yml:4:"), "{err}");
    // A flag whose apiVersion has a typo is refused, never dropped.
    write(
        &dir,
        "docker-compose.yml",
        "apiversion: ampx/v1\nkind: Flag\nkey: g\n",
    );
    let o = run_offline(&["validate", d]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("docker-compose.yml:1:"), "{err}");
}

/// What an `.ampxignore` matches is not loaded (a draft with a mistake in
/// it does not fail the set); named on the command line it is read.
#[test]
fn an_ampxignore_leaves_its_files_out() {
    let dir = temp_dir("ampxignore");
    write(
        &dir,
        "m.yaml",
        "apiVersion: ampx/v1\nkind: Project\nid: \"100001\"\n---\napiVersion: ampx/v1\nkind: Flag\nkey: f\n",
    );
    std::fs::create_dir_all(dir.join("drafts")).unwrap();
    let draft = dir.join("drafts/next.yaml");
    std::fs::write(
        &draft,
        "apiVersion: ampx/v1\nkind: Flag\nkey: g\nrolloutPercentage: lots\n",
    )
    .unwrap();
    let d = dir.to_str().unwrap();
    let o = run_offline(&["validate", d]);
    assert_eq!(o.status.code(), Some(1), "not ignored yet: {:?}", text(&o));
    write(&dir, ".ampxignore", "# work in progress\ndrafts/\n");
    let o = run_offline(&["validate", d]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert!(out.contains("1 flag(s)"), "{out}");
    let o = run_offline(&["validate", d, draft.to_str().unwrap()]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("next.yaml:4:"), "{err}");
}

/// A flag made in the UI that no manifest names: drift does not say
/// "matches" without naming it (and does not fail for it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_names_live_objects_no_manifest_names() {
    let emu = emulator().await;
    emu.seed_flag(serde_json::json!({"key": "made-in-the-ui"}))
        .unwrap();
    emu.seed_experiment(serde_json::json!({"key": "ui-test"}))
        .unwrap();
    let dir = temp_dir("unmanaged");
    write(
        &dir,
        "m.yaml",
        "apiVersion: ampx/v1\nkind: Project\nid: \"100001\"\n---\napiVersion: ampx/v1\nkind: Flag\nkey: managed\n",
    );
    let d = dir.to_str().unwrap();
    let o = ampx(&emu.base_url, Some(KEY), &["apply", d, "--auto-approve"]).await;
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    let o = ampx(&emu.base_url, Some(KEY), &["drift", d]).await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert!(
        out.contains("No drift in what the manifests name; 2 live object(s) are in no manifest"),
        "{out}"
    );
    assert!(out.contains("Not in any manifest (2):"), "{out}");
    assert!(out.contains("? 1 flag: made-in-the-ui"), "{out}");
    assert!(out.contains("? 1 experiment: ui-test"), "{out}");
    let o = ampx(&emu.base_url, Some(KEY), &["drift", d, "--format", "json"]).await;
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        doc["unmanaged"][0],
        serde_json::json!({"kind": "flag", "keys": ["made-in-the-ui"]}),
        "{doc}"
    );
}

/// A server that refuses connections is named at once, and the command
/// ends with the reason instead of a minute of retries.
#[tokio::test]
async fn an_unreachable_server_is_named_at_once() {
    let dir = temp_dir("unreachable");
    write(
        &dir,
        "m.yaml",
        "apiVersion: ampx/v1\nkind: Project\nid: \"100001\"\n---\napiVersion: ampx/v1\nkind: Flag\nkey: f\n",
    );
    let o = ampx(
        "http://127.0.0.1:9",
        Some(KEY),
        &["plan", dir.to_str().unwrap()],
    )
    .await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    assert!(err.contains("cannot reach http://127.0.0.1:9"), "{err}");
    assert!(err.contains("could not connect"), "{err}");
    assert!(
        !err.contains('\u{1b}'),
        "no colour codes in a redirected stderr: {err:?}"
    );
}

/// Messages a newcomer met: a server without its scheme, a file-wide problem
/// shown as `path:0:0`, `-q` still saying where the plan was saved.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_name_the_fix_and_quiet_is_quiet() {
    let dir = temp_dir("messages");
    write(
        &dir,
        "m.yaml",
        "apiVersion: ampx/v1\nkind: Project\nid: \"100001\"\n",
    );
    let d = dir.to_str().unwrap();
    let o = ampx("localhost:8080", Some(KEY), &["plan", d]).await;
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("hint: write the scheme: https://localhost:8080"),
        "{err}"
    );

    std::fs::write(dir.join("bad.yaml"), [0xff, 0xfe, b'\n']).unwrap();
    let o = run_offline(&["validate", d]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(!err.contains(":0:0"), "{err}");
    assert!(err.contains("bad.yaml: "), "{err}");
    std::fs::remove_file(dir.join("bad.yaml")).unwrap();

    let emu = emulator().await;
    let file = dir.join("plan.json");
    let o = ampx(
        &emu.base_url,
        Some(KEY),
        &["-q", "plan", d, "--out", file.to_str().unwrap()],
    )
    .await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert!(err.is_empty(), "-q: {err}");
    assert!(file.exists());
}

/// `--color always|never`, `CLICOLOR_FORCE` and `NO_COLOR`, on a redirected
/// standard output.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn colour_follows_the_flag_and_the_environment() {
    let emu = emulator().await;
    let ex = "examples/manifests";
    let colours = |o: &Output| String::from_utf8_lossy(&o.stdout).contains('\u{1b}');
    let run =
        |extra: Vec<&'static str>, vars: Vec<(&'static str, &'static str)>, no_color: bool| {
            let mut a = crate::harness::Ampx::at(&emu.base_url).key(KEY);
            if !no_color {
                a = a.without("NO_COLOR");
            }
            for (k, v) in vars {
                a = a.var(k, v);
            }
            let mut args = extra;
            args.extend(["plan", ex]);
            a.args(&args).run()
        };
    assert!(
        !colours(&run(vec![], vec![], true).await),
        "NO_COLOR, redirected"
    );
    assert!(!colours(&run(vec![], vec![], false).await), "redirected");
    assert!(colours(&run(vec!["--color", "always"], vec![], true).await));
    assert!(colours(
        &run(vec![], vec![("CLICOLOR_FORCE", "1")], false).await
    ));
    assert!(!colours(
        &run(
            vec!["--color", "never"],
            vec![("CLICOLOR_FORCE", "1")],
            false
        )
        .await
    ));
    assert!(
        !colours(&run(vec![], vec![("CLICOLOR_FORCE", "1")], true).await),
        "NO_COLOR wins"
    );
}
