//! `ampx show KIND/KEY` (one live object as the manifest export writes for
//! it) and `ampx.toml` (defaults under the command line and the
//! environment).

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::harness::{temp_dir, text, write, Ampx, Env, KEY};

/// A project with one object of every kind.
fn seed(e: &Env) {
    let emu = &e.emu;
    emu.seed_flag(json!({
        "key": "checkout",
        "name": "Checkout",
        "description": "One page\nor two: a test",
        "deployments": ["web-production"],
        "variants": [
            {"key": "on", "payload": {"layout": "one-page"}, "inclusions": ["alice@example.com"]},
            {"key": "off"}
        ],
        "rolloutPercentage": 25
    }))
    .unwrap();
    emu.seed_flag(json!({"key": "retired", "archived": true, "variants": [{"key": "on"}]}))
        .unwrap();
    emu.seed_experiment(json!({
        "key": "pricing-test",
        "name": "Pricing",
        "variants": [{"key": "control"}, {"key": "treatment", "cohorts": ["cohort-a"]}],
        "enabled": true
    }))
    .unwrap();
    emu.seed_holdout(json!({
        "key": "q1-holdout", "holdoutPercentage": 5, "experiments": ["pricing-test"]
    }))
    .unwrap();
    emu.seed_mutex(json!({
        "key": "checkout-mutex",
        "slots": [{"percentage": 100, "experiments": ["pricing-test"]}]
    }))
    .unwrap();
}

fn ampx(e: &Env, dir: &Path) -> Ampx {
    Ampx::at(&e.emu.base_url).key(KEY).current_dir(dir)
}

/// A manifest set of one Project (100001) and `docs`, loaded.
fn load(name: &str, docs: &str) -> Value {
    let set = ampx::manifest::load_sources(&[(
        PathBuf::from(name),
        format!("apiVersion: ampx/v1\nkind: Project\nid: \"100001\"\n---\n{docs}"),
    )])
    .unwrap_or_else(|d| panic!("{name} does not load: {d}\n{docs}"));
    json!({
        "flags": set.flags.iter().map(|f| serde_json::to_value(&f.spec).unwrap()).collect::<Vec<_>>(),
        "deployments": set.deployments.iter().map(|d| serde_json::to_value(&d.spec).unwrap()).collect::<Vec<_>>(),
        "mutexes": set.mutexes.iter().map(|m| serde_json::to_value(&m.spec).unwrap()).collect::<Vec<_>>(),
        "holdouts": set.holdouts.iter().map(|h| serde_json::to_value(&h.spec).unwrap()).collect::<Vec<_>>(),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn show_prints_what_export_writes_with_as_few_requests() {
    let e = Env::builder().start().await;
    seed(&e);
    // No manifests here: the project is the one the key sees.
    let here = temp_dir("show-bare");
    for (target, key, file) in [
        ("flag/checkout", "checkout", "flags/checkout.yaml"),
        (
            "experiment/pricing-test",
            "pricing-test",
            "experiments/pricing-test.yaml",
        ),
        (
            "deployment/web-production",
            "web-production",
            "deployments/web-production.yaml",
        ),
        (
            "mutex/checkout-mutex",
            "checkout-mutex",
            "mutexes/checkout-mutex.yaml",
        ),
        (
            "holdouts/q1-holdout",
            "q1-holdout",
            "holdouts/q1-holdout.yaml",
        ),
    ] {
        e.emu.clear_requests();
        let o = ampx(&e, &here).args(&["show", target]).run().await;
        let (shown, err) = text(&o);
        assert_eq!(o.status.code(), Some(0), "{target}: {shown}{err}");
        let show_requests: Vec<String> = e
            .emu
            .requests()
            .iter()
            .map(|r| format!("{} {}", r.method, r.path))
            .collect();

        e.emu.clear_requests();
        // Written elsewhere: manifests in `here` would be show's project.
        let out = temp_dir(&format!("show-export-{key}"));
        std::fs::remove_dir(&out).unwrap();
        let o = ampx(&e, &here)
            .args(&["export", "--key", key, "--out", out.to_str().unwrap()])
            .run()
            .await;
        assert_eq!(o.status.code(), Some(0), "{target}: {:?}", text(&o));
        assert_eq!(
            show_requests,
            e.emu
                .requests()
                .iter()
                .map(|r| format!("{} {}", r.method, r.path))
                .collect::<Vec<_>>(),
            "{target}: show reads what export --key reads"
        );
        let exported = std::fs::read_to_string(out.join(file)).unwrap();

        // The same text, less the editor modeline a file carries.
        let modeline = exported
            .lines()
            .find(|l| l.starts_with("# yaml-language-server:"))
            .unwrap();
        assert_eq!(
            shown,
            exported.replace(&format!("{modeline}\n"), ""),
            "{target}"
        );
        assert!(
            shown.starts_with("# Exported by ampx from project 100001."),
            "{shown}"
        );
        // And it loads back as the same manifest.
        assert_eq!(
            load("shown.yaml", &shown),
            load(file, &exported),
            "{target}"
        );
        std::fs::remove_dir_all(&out).unwrap();
    }
    std::fs::remove_dir_all(&here).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_or_archived_object_is_named_with_the_closest_key() {
    let e = Env::builder().start().await;
    seed(&e);
    let here = temp_dir("show-unknown");
    let refused = |o: &std::process::Output| {
        let (out, err) = text(o);
        assert_eq!(o.status.code(), Some(1), "{out}{err}");
        assert!(out.is_empty(), "{out}");
        err
    };
    e.emu.clear_requests();
    let err = refused(&ampx(&e, &here).args(&["show", "flag/chekout"]).run().await);
    assert!(
        err.contains(
            "no flag of project 100001 has the key `chekout` (did you mean `flag/checkout`?)"
        ),
        "{err}"
    );
    // The lists only: no object's details.
    assert!(
        e.emu
            .requests()
            .iter()
            .all(|r| !r.path.contains("/variants")),
        "{:?}",
        e.emu.requests()
    );
    let err = refused(
        &ampx(&e, &here)
            .args(&["show", "experiment/checkout"])
            .run()
            .await,
    );
    assert!(
        err.contains("(did you mean `flag/checkout`? a flag has it)"),
        "{err}"
    );
    let err = refused(&ampx(&e, &here).args(&["show", "flag/retired"]).run().await);
    assert!(
        err.contains("flag `retired` of project 100001 is archived"),
        "{err}"
    );
    let err = refused(
        &ampx(&e, &here)
            .args(&["show", "deployment/web-producton"])
            .run()
            .await,
    );
    assert!(
        err.contains("no deployment of project 100001 has the label `web-producton` (did you mean `deployment/web-production`?)"),
        "{err}"
    );
    let err = refused(&ampx(&e, &here).args(&["show", "widget/x"]).run().await);
    assert!(
        err.contains("`widget` in `widget/x` is not a kind"),
        "{err}"
    );
    let err = refused(&ampx(&e, &here).args(&["show", "nothing"]).run().await);
    assert!(err.contains("`nothing` is not KIND/KEY"), "{err}");
}

const ENVS: &str = "apiVersion: ampx/v1
kind: Project
environment: staging
id: \"100001\"
apiKeyEnv: KEY_STAGING
---
apiVersion: ampx/v1
kind: Project
environment: prod
id: \"100002\"
apiKeyEnv: KEY_PROD
---
apiVersion: ampx/v1
kind: Flag
key: checkout
rolloutPercentage: 100
environments:
  prod:
    rolloutPercentage: 10
";

/// Two projects with the same flag, at 100% and 10%.
async fn two_projects() -> Env {
    let e = Env::builder().other_project("100002").start().await;
    for (project, rollout) in [("100001", 100), ("100002", 10)] {
        e.emu
            .seed_flag(json!({
                "projectId": project, "key": "checkout", "name": "Checkout",
                "variants": [{"key": "on"}], "rolloutPercentage": rollout
            }))
            .unwrap();
    }
    e
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn show_reads_the_project_of_the_environment_the_manifests_name() {
    let e = two_projects().await;
    let dir = temp_dir("show-envs");
    write(&dir, "m.yaml", ENVS);
    let m = dir.to_str().unwrap();
    let run = |args: Vec<&str>, cwd: &Path| {
        Ampx::at(&e.emu.base_url)
            .var("KEY_STAGING", KEY)
            .var("KEY_PROD", KEY)
            .current_dir(cwd)
            .args(&args)
            .run()
    };
    let elsewhere = temp_dir("show-envs-elsewhere");

    let o = run(
        vec!["--env", "prod", "show", "flag/checkout", m],
        &elsewhere,
    )
    .await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert!(
        out.starts_with("# Exported by ampx from project 100002."),
        "{out}"
    );
    assert!(out.contains("rolloutPercentage: 10\n"), "{out}");

    // The manifests of the current directory, with no PATH.
    let o = run(vec!["--env", "staging", "show", "flag/checkout"], &dir).await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert!(
        out.starts_with("# Exported by ampx from project 100001."),
        "{out}"
    );
    assert!(out.contains("rolloutPercentage: 100\n"), "{out}");

    // Several environments and no --env: refused before any call.
    e.emu.clear_requests();
    let o = run(vec!["show", "flag/checkout"], &dir).await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    assert!(
        err.contains("several environments (staging, prod)"),
        "{err}"
    );
    assert!(e.emu.requests().is_empty());

    // Without manifests, a key that sees two projects needs --project-id.
    let o = run(vec!["show", "flag/checkout"], &elsewhere).await;
    assert_eq!(o.status.code(), Some(1), "{:?}", text(&o));
    let o = Ampx::at(&e.emu.base_url)
        .key(KEY)
        .current_dir(&elsewhere)
        .args(&["show", "flag/checkout"])
        .run()
        .await;
    let err = text(&o).1;
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("sees several projects (100001, 100002)"),
        "{err}"
    );
    let o = Ampx::at(&e.emu.base_url)
        .key(KEY)
        .current_dir(&elsewhere)
        .args(&["show", "flag/checkout", "--project-id", "100002"])
        .run()
        .await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert!(out.contains("rolloutPercentage: 10\n"), "{out}");
}

/// Manifests in `dir/m` and a config file beside them.
fn project_with_config(name: &str, config: &str) -> PathBuf {
    let dir = temp_dir(name);
    std::fs::create_dir_all(dir.join("m")).unwrap();
    write(&dir.join("m"), "m.yaml", ENVS);
    write(&dir, "ampx.toml", config);
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_defaults_apply_under_the_command_line_and_the_environment() {
    let e = two_projects().await;
    let dir = project_with_config(
        "config-defaults",
        "# Defaults for this repository\npaths = [\"m\"]\nformat = \"json\"\nenv = \"prod\"\nparallelism = 2\nmax_rps = 500\n",
    );
    let run = |args: Vec<&str>| {
        Ampx::at(&e.emu.base_url)
            .var("KEY_STAGING", KEY)
            .var("KEY_PROD", KEY)
            .current_dir(&dir)
            .args(&args)
            .run()
    };
    let rollout = |out: &str| -> Value {
        let doc: Value = serde_json::from_str(out).unwrap_or_else(|_| panic!("JSON: {out}"));
        let changes = doc["objects"][0]["changes"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        changes
            .iter()
            .find(|c| c["path"] == "rolloutPercentage")
            .map(|c| c["after"].clone())
            .unwrap_or(Value::Null)
    };

    // Every default from the file: prod's manifests in m/, as JSON. prod
    // already has 10%: nothing to change.
    let o = run(vec!["plan"]).await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    let doc: Value = serde_json::from_str(&out).unwrap_or_else(|_| panic!("JSON: {out}"));
    assert_eq!(doc["report"], "plan", "{out}");
    assert_eq!(doc["summary"]["change"], 0, "{out}");

    // A flag wins over the file.
    let o = run(vec!["plan", "--format", "text"]).await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert!(
        out.starts_with("Plan for environment prod, project 100002"),
        "{out}"
    );
    let o = run(vec!["--env", "staging", "plan", "--format", "text"]).await;
    assert!(
        text(&o)
            .0
            .starts_with("Plan for environment staging, project 100001"),
        "{:?}",
        text(&o)
    );

    // The environment wins over the file: staging's 100% against prod's
    // manifests would be a change; against staging's own, none.
    let o = Ampx::at(&e.emu.base_url)
        .var("KEY_STAGING", KEY)
        .var("KEY_PROD", KEY)
        .var("AMPX_ENV", "staging")
        .current_dir(&dir)
        .args(&["plan"])
        .run()
        .await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert_eq!(rollout(&out), Value::Null, "{out}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["summary"]["change"], 0, "{out}");

    // `show` takes its paths from the file too.
    let o = run(vec!["show", "flag/checkout"]).await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert!(
        out.starts_with("# Exported by ampx from project 100002."),
        "{out}"
    );

    // The server: the file's when no AMPX_SERVER, AMPX_SERVER's over it.
    let with_server = format!(
        "paths = [\"m\"]\nenv = \"staging\"\nserver = \"{}\"\n",
        e.emu.base_url
    );
    write(&dir, "ampx.toml", &with_server);
    let o = Ampx::at("http://127.0.0.1:9")
        .without("AMPX_SERVER")
        .var("KEY_STAGING", KEY)
        .current_dir(&dir)
        .args(&["plan", "--detailed-exitcode"])
        .run()
        .await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert!(out.contains(&e.emu.base_url), "{out}");
    write(
        &dir,
        "ampx.toml",
        "paths = [\"m\"]\nenv = \"staging\"\nserver = \"http://127.0.0.1:9\"\n",
    );
    let o = Ampx::at(&e.emu.base_url)
        .var("KEY_STAGING", KEY)
        .current_dir(&dir)
        .args(&["plan", "--detailed-exitcode"])
        .run()
        .await;
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));

    // Another file with --config or AMPX_CONFIG; its paths are relative to it.
    let other = dir.join("ci");
    std::fs::create_dir_all(&other).unwrap();
    write(
        &other,
        "ci.toml",
        "paths = [\"../m\"]\nenv = \"prod\"\nformat = \"markdown\"\n",
    );
    let ci = other.join("ci.toml");
    for how in ["flag", "variable"] {
        let mut a = Ampx::at(&e.emu.base_url)
            .var("KEY_STAGING", KEY)
            .var("KEY_PROD", KEY)
            .current_dir(&dir);
        a = match how {
            "flag" => a.args(&["--config", ci.to_str().unwrap()]),
            _ => a.var("AMPX_CONFIG", ci.to_str().unwrap()),
        };
        let o = a.args(&["plan"]).run().await;
        let (out, err) = text(&o);
        assert_eq!(o.status.code(), Some(0), "{how}: {out}{err}");
        assert!(out.contains("project `100002`"), "{how}: {out}");
        assert!(out.starts_with("### "), "{how}: markdown: {out}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_colour_yields_to_the_flag_and_to_no_color() {
    let e = Env::builder().start().await;
    let dir = temp_dir("config-colour");
    write(
        &dir,
        "m.yaml",
        "apiVersion: ampx/v1\nkind: Project\nid: \"100001\"\n---\napiVersion: ampx/v1\nkind: Flag\nkey: new-flag\n",
    );
    write(&dir, "ampx.toml", "color = \"always\"\n");
    let colours = |o: &std::process::Output| String::from_utf8_lossy(&o.stdout).contains('\u{1b}');
    let run = |args: &[&str], no_color: bool| {
        let a = ampx(&e, &dir).args(args);
        if no_color { a } else { a.without("NO_COLOR") }.run()
    };
    assert!(colours(&run(&["plan"], false).await), "the file's default");
    assert!(
        !colours(&run(&["plan", "--color", "never"], false).await),
        "the flag wins"
    );
    assert!(!colours(&run(&["plan"], true).await), "NO_COLOR wins");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_config_is_refused_with_its_line_before_any_call() {
    let e = Env::builder().start().await;
    let dir = temp_dir("config-bad");
    write(
        &dir,
        "m.yaml",
        "apiVersion: ampx/v1\nkind: Project\nid: \"100001\"\n",
    );
    let refused = |config: &'static str| {
        write(&dir, "ampx.toml", config);
        e.emu.clear_requests();
        ampx(&e, &dir).args(&["plan"]).run()
    };

    let o = refused("format = \"text\"\nparalelism = 4\n").await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    assert!(
        err.starts_with(
            "error: ampx.toml:2:1: unknown key `paralelism`\n  hint: did you mean `parallelism`?"
        ),
        "{err}"
    );
    assert!(e.emu.requests().is_empty());

    let o = refused("region = \"ap\"\nmax_rps = 0\n").await;
    let err = text(&o).1;
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("ampx.toml:1:10: `region` is \"ap\"; it takes one of: us, eu"),
        "{err}"
    );
    assert!(
        err.contains("ampx.toml:2:11: `max_rps`: `0` is not within 0.001 to 1000"),
        "{err}"
    );
    assert!(e.emu.requests().is_empty());

    // The key belongs in the environment only, and its value is never shown.
    let o = refused("paths = [\".\"]\n\n[amplitude]\napi_key = \"sekrit-0123\"\n").await;
    let err = text(&o).1;
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("error: ampx.toml:4:1: `api_key` looks like an API key setting"),
        "{err}"
    );
    assert!(err.contains("comes from the environment only"), "{err}");
    assert!(!err.contains("sekrit"), "{err}");
    assert!(e.emu.requests().is_empty());

    // A file --config names must exist.
    std::fs::remove_file(dir.join("ampx.toml")).unwrap();
    let o = ampx(&e, &dir)
        .args(&["--config", "nowhere.toml", "plan"])
        .run()
        .await;
    let err = text(&o).1;
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("cannot read the config file nowhere.toml"),
        "{err}"
    );
    assert!(e.emu.requests().is_empty());
}
