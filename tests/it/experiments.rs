//! Experiments through plan → apply → verify, against the in-process emulator.

use std::path::PathBuf;

use crate::harness::{manifests, plan, Env};
use ampx::manifest::load_sources;
use ampx::render::text::{render, Style};
use serde_json::json;

fn running_experiment() -> serde_json::Value {
    json!({
        "key": "pricing", "name": "Pricing", "state": "running", "enabled": true,
        "decision": null, "rolledOutVariant": null, "bucketingSalt": "salt-1",
        "experimentType": "a-b-test", "startDate": "2026-12-01T00:00:00.000Z",
        "variants": [{"key": "control", "rolloutWeight": 1}, {"key": "treatment", "rolloutWeight": 1}]
    })
}

#[tokio::test]
async fn creates_and_starts_an_experiment_then_converges() {
    let e = Env::builder().start().await;
    let (emu, client) = (&e.emu, &e.client);
    let set = crate::harness::examples();
    let p = plan(&e, &set).await;
    let report = ampx::apply::apply(client.clone(), &p).await;
    assert!(report.ok(), "{}", report.render(Style::plain()));
    let again = plan(&e, &set).await;
    assert!(again.is_empty(), "{}", render(&again, Style::plain()));
    let e = emu.experiment_json("pricing-page-test").unwrap();
    assert_eq!(e["enabled"], true);
    assert_eq!(
        e["state"], "running",
        "enabled: true starts a planning experiment"
    );
    assert_eq!(e["experimentType"], "a-b-test");
    assert_eq!(e["exposureEvent"]["event_type"], "viewed pricing page");
    assert_eq!(
        e["exposureEvent"]["filters"][0]["subprop_value"],
        json!(["pro"])
    );
    assert_eq!(e["rolloutPercentage"], 100);
    assert_eq!(e["inclusions"]["treatment"], json!(["qa@example.com"]));
    assert_eq!(e["deployments"].as_array().unwrap().len(), 1);
    assert!(
        emu.flag_json("pricing-page-test").is_none(),
        "created as an experiment, not a flag"
    );
}

#[tokio::test]
async fn dates_compare_as_instants_and_read_only_fields_are_never_written() {
    let e = Env::builder().start().await;
    let (emu, client) = (&e.emu, &e.client);
    emu.seed_experiment(running_experiment()).unwrap();
    let set = manifests(
        "apiVersion: ampx/v1\nkind: Experiment\nkey: pricing\nstartDate: 2026-12-01T01:00:00+01:00\nendDate: null\nexperimentType: a-b-test\n",
    );
    assert!(plan(&e, &set).await.is_empty());

    let set = manifests("apiVersion: ampx/v1\nkind: Experiment\nkey: pricing\nname: Pricing v2\nendDate: 2027-01-01T00:00:00Z\n");
    let p = plan(&e, &set).await;
    let text = render(&p, Style::plain());
    assert!(
        text.contains("(state: running)"),
        "state is shown for context:\n{text}"
    );
    emu.clear_requests();
    let report = ampx::apply::apply(client.clone(), &p).await;
    assert!(report.ok());
    for r in emu.requests() {
        if let Some(body) = &r.body {
            for field in ["state", "decision", "rolledOutVariant"] {
                assert!(body.get(field).is_none(), "{field} written in {body}");
            }
        }
    }
    assert!(plan(&e, &set).await.is_empty());
    assert_eq!(
        emu.experiment_json("pricing").unwrap()["name"],
        "Pricing v2"
    );
}

#[tokio::test]
async fn risky_changes_to_a_running_experiment_are_flagged() {
    let e = Env::builder().start().await;
    let emu = &e.emu;
    emu.seed_experiment(running_experiment()).unwrap();
    let set = manifests(
        "apiVersion: ampx/v1
kind: Experiment
key: pricing
bucketingSalt: salt-2
variants: [{key: control}, {key: treatment}, {key: treatment-2}]
rolloutWeights: {control: 1, treatment: 1, treatment-2: 2}
enabled: false
",
    );
    let p = plan(&e, &set).await;
    insta::assert_snapshot!("running_experiment_risks", render(&p, Style::plain()));
    assert_eq!(p.warnings().count(), 4);
}

#[tokio::test]
async fn stopping_and_archiving_an_experiment() {
    let e = Env::builder().start().await;
    let (emu, client) = (&e.emu, &e.client);
    emu.seed_experiment(running_experiment()).unwrap();
    let set = manifests("apiVersion: ampx/v1\nkind: Experiment\nkey: pricing\nenabled: false\n");
    let p = plan(&e, &set).await;
    assert!(ampx::apply::apply(client.clone(), &p).await.ok());
    assert_eq!(emu.experiment_json("pricing").unwrap()["enabled"], false);

    let set = manifests("apiVersion: ampx/v1\nkind: Experiment\nkey: pricing\narchived: true\n");
    let p = plan(&e, &set).await;
    assert!(ampx::apply::apply(client.clone(), &p).await.ok());
    assert_eq!(emu.experiment_json("pricing").unwrap()["archived"], true);
    assert!(plan(&e, &set).await.is_empty());

    // Back in the manifests: unarchived, not re-created.
    let set = manifests("apiVersion: ampx/v1\nkind: Experiment\nkey: pricing\nname: Back\n");
    let p = plan(&e, &set).await;
    emu.clear_requests();
    assert!(ampx::apply::apply(client.clone(), &p).await.ok());
    assert_eq!(emu.count("POST", "/api/1/experiments"), 0);
    assert_eq!(emu.experiment_json("pricing").unwrap()["archived"], false);
    assert!(plan(&e, &set).await.is_empty());
}

#[tokio::test]
async fn a_web_experiment_fails_clearly_and_the_rest_still_applies() {
    let e = Env::builder().start().await;
    let (emu, client) = (&e.emu, &e.client);
    let mut web = running_experiment();
    web["key"] = json!("web-test");
    web["type"] = json!("web");
    emu.seed_experiment(web).unwrap();
    emu.seed_flag(json!({"key": "plain", "name": "x"})).unwrap();
    let set = manifests(
        "apiVersion: ampx/v1\nkind: Experiment\nkey: web-test\nname: Renamed\n---\napiVersion: ampx/v1\nkind: Flag\nkey: plain\nname: y\n",
    );
    let p = plan(&e, &set).await;
    let report = ampx::apply::apply(client.clone(), &p).await;
    assert!(!report.ok());
    let text = report.render(Style::plain());
    assert!(text.contains("✗ experiment web-test: FAILED"), "{text}");
    assert!(
        text.contains("experiment `web-test`") && text.contains("405"),
        "{text}"
    );
    assert!(
        text.contains("cannot be edited through the API (web or Guides & Surveys experiment)"),
        "{text}"
    );
    assert!(text.contains("remove it from flags.yaml:"), "{text}");
    assert!(text.contains("✓ flag plain"), "{text}");
    assert_eq!(emu.flag_json("plain").unwrap()["name"], "y");
}

#[test]
fn experiment_fields_are_checked_offline() {
    let text = "apiVersion: ampx/v1\nkind: Project\nid: \"100001\"\n---\napiVersion: ampx/v1\nkind: Experiment\nkey: e\nexperimentType: a-b-c\n---\napiVersion: ampx/v1\nkind: Experiment\nkey: f\nstartDate: tomorrow\nendDate: 2027-01-01\n---\napiVersion: ampx/v1\nkind: Flag\nkey: g\nstickyBucketing: true\n";
    let err = load_sources(&[(PathBuf::from("x.yaml"), text.to_string())])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("x.yaml:8:") && err.contains("a-b-c") && err.contains("multi-arm-bandit"),
        "{err}"
    );
    assert!(
        err.contains("x.yaml:13:") && err.contains("not a date-time"),
        "{err}"
    );
    assert!(
        err.contains("x.yaml:19:") && err.contains("only for `kind: Experiment`"),
        "{err}"
    );
}

#[tokio::test]
async fn an_experiment_is_concluded_from_the_manifests() {
    let e = Env::builder().start().await;
    e.emu.seed_experiment(running_experiment()).unwrap();
    let set = manifests(
        "apiVersion: ampx/v1\nkind: Experiment\nkey: pricing\ndecision: rollout\ndecisionReason: treatment raised conversion\nrolledOutVariant: treatment\n",
    );
    let p = plan(&e, &set).await;
    let text = render(&p, Style::plain());
    assert!(text.contains("~ decision: null → rollout"), "{text}");
    assert!(
        p.warnings()
            .any(|w| w.contains("recording a decision concludes it")),
        "a risk warning, so --deny-risky refuses it: {text}"
    );
    let report = ampx::apply::apply(e.client.clone(), &p).await;
    assert!(report.ok(), "{}", report.render(Style::plain()));
    let live = e.emu.experiment_json("pricing").unwrap();
    assert_eq!(live["decision"], "rollout");
    assert_eq!(live["decisionReason"], "treatment raised conversion");
    assert_eq!(live["rolledOutVariant"], "treatment");
    assert!(plan(&e, &set).await.is_empty());
}
