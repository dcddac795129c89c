//! Plans read like the manifests: values in YAML, a segment change names
//! its segment, a payload diff shows the fields that changed, a renamed
//! variant reads as a rename; and `--target` plans and applies a part.

use serde_json::Value;

use crate::harness::{manifests, plan, temp_dir, text, write, Ampx, Env, KEY};
use ampx::commands::plan::plan_json;
use ampx::render::text::{render, Report, Style};

const FLAG: &str = "apiVersion: ampx/v1
kind: Flag
key: checkout
name: Checkout redesign
variants:
  - key: treatment
    payload: {layout: one-page, steps: 3, colors: [red, blue]}
  - key: control
rolloutWeights: {treatment: 1, control: 1}
targetSegments:
  - name: Beta users
    conditions:
      - {prop: plan, op: is, values: [beta]}
    percentage: 100
  - name: Staff
    conditions:
      - {prop: email, op: contains, values: [\"@example.com\"]}
    percentage: 50
";

async fn applied(e: &Env, yaml: &str) {
    let set = manifests(yaml);
    let p = plan(e, &set).await;
    let report = ampx::apply::apply(e.client.clone(), &p).await;
    assert!(report.ok(), "{}", report.render(Style::plain()));
}

#[tokio::test]
async fn a_segment_change_names_its_segment_and_the_fields_that_changed() {
    let e = Env::builder().start().await;
    applied(&e, FLAG).await;
    let changed = FLAG.replace("percentage: 50", "percentage: 30");
    let p = plan(&e, &manifests(&changed)).await;
    let text = render(&p, Style::plain());
    assert!(
        text.contains("~ targetSegments.Staff:  # flags.yaml:"),
        "{text}"
    );
    assert!(text.contains("- percentage: 50"), "{text}");
    assert!(text.contains("+ percentage: 30"), "{text}");
    assert!(!text.contains("Beta users:"), "only Staff changed: {text}");
    let json: Value = serde_json::from_str(&plan_json(&p, Report::Plan)).unwrap();
    let paths: Vec<&str> = json["objects"][0]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["targetSegments.Staff"]);

    // A removed segment, and a reordering, each named.
    let reordered = FLAG.replace(
        "  - name: Beta users\n    conditions:\n      - {prop: plan, op: is, values: [beta]}\n    percentage: 100\n",
        "",
    ) + "  - name: Beta users\n    conditions:\n      - {prop: plan, op: is, values: [beta]}\n    percentage: 100\n";
    let text = render(&plan(&e, &manifests(&reordered)).await, Style::plain());
    assert!(
        text.contains("~ targetSegments: [Beta users, Staff] → [Staff, Beta users]"),
        "{text}"
    );
    let removed = FLAG.replace(
        "  - name: Staff\n    conditions:\n      - {prop: email, op: contains, values: [\"@example.com\"]}\n    percentage: 50\n",
        "",
    );
    let text = render(&plan(&e, &manifests(&removed)).await, Style::plain());
    assert!(text.contains("- targetSegments.Staff"), "{text}");
}

#[tokio::test]
async fn values_read_as_yaml_and_a_payload_diff_shows_its_fields() {
    let e = Env::builder().start().await;
    applied(&e, FLAG).await;
    let changed = FLAG
        .replace("name: Checkout redesign", "name: Checkout, redesigned")
        .replace("steps: 3", "steps: 4")
        .replace(
            "rolloutWeights: {treatment: 1, control: 1}",
            "rolloutWeights: {treatment: 3, control: 1}",
        );
    let text = render(&plan(&e, &manifests(&changed)).await, Style::plain());
    // Strings plain when YAML reads them back the same, quoted when not.
    assert!(
        text.contains("~ name: Checkout redesign → \"Checkout, redesigned\""),
        "{text}"
    );
    assert!(
        text.contains(
            "~ rolloutWeights: { control: 1, treatment: 1 } → { control: 1, treatment: 3 }"
        ) || text.contains(
            "~ rolloutWeights: { treatment: 1, control: 1 } → { treatment: 3, control: 1 }"
        ),
        "{text}"
    );
    // The payload as YAML lines: the changed field, with its neighbours as
    // context, not the whole document twice.
    assert!(text.contains("~ variants.treatment.payload:"), "{text}");
    assert!(
        text.contains("      - steps: 3\n      + steps: 4\n"),
        "{text}"
    );
    assert!(text.contains("        layout: one-page\n"), "{text}");
}

#[tokio::test]
async fn a_renamed_variant_reads_as_a_rename() {
    let e = Env::builder().start().await;
    applied(&e, FLAG).await;
    let renamed = FLAG
        .replace(
            "  - key: treatment\n",
            "  - key: \"on\"\n    renamedFrom: treatment\n",
        )
        .replace("{treatment: 1, control: 1}", "{\"on\": 1, control: 1}");
    let text = render(&plan(&e, &manifests(&renamed)).await, Style::plain());
    assert!(
        text.contains(
            "~ variant treatment renamed to \"on\" (its users, payload and history stay with it)"
        ),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn target_plans_and_applies_only_the_named_objects() {
    let e = Env::builder().start().await;
    let dir = temp_dir("target");
    write(
        &dir,
        "m.yaml",
        "apiVersion: ampx/v1\nkind: Project\nid: \"100001\"\n---\napiVersion: ampx/v1\nkind: Flag\nkey: alpha\n---\napiVersion: ampx/v1\nkind: Flag\nkey: beta\n",
    );
    let m = dir.to_string_lossy().into_owned();
    let url = e.emu.base_url.clone();
    let run = |args: Vec<&str>| {
        Ampx::at(&url)
            .var("AMPLITUDE_MANAGEMENT_API_KEY", KEY)
            .args(&args)
            .run()
    };

    let o = run(vec!["plan", &m, "--target", "flag/alpha"]).await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert!(out.contains("+ flag alpha will be created"), "{out}");
    assert!(!out.contains("flag beta"), "{out}");
    assert!(
        out.contains("Only the targets flag/alpha: 1 other object(s) that differ are left out, and prune is off."),
        "{out}"
    );

    // A target no manifest describes: refused before any call.
    let before = e.emu.requests().len();
    let o = run(vec!["plan", &m, "--target", "flag/alpah"]).await;
    let err = text(&o).1;
    assert_eq!(o.status.code(), Some(1));
    assert!(err.contains("did you mean `alpha`?"), "{err}");
    assert_eq!(e.emu.requests().len(), before);

    let o = run(vec![
        "apply",
        &m,
        "--target",
        "flag/alpha",
        "--auto-approve",
    ])
    .await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert!(e.emu.flag_json("alpha").is_some());
    assert!(e.emu.flag_json("beta").is_none());
    // The rest still differs, as it was left.
    let o = run(vec!["plan", &m, "--detailed-exitcode"]).await;
    let out = text(&o).0;
    assert_eq!(o.status.code(), Some(2), "{out}");
    assert!(out.contains("+ flag beta will be created"), "{out}");
    assert!(!out.contains("flag alpha"), "{out}");
}
