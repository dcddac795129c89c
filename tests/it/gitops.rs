//! The GitOps workflow against the emulator: drift with attribution,
//! Markdown and JSON reports, ownership and prune.

use crate::harness::{manifests, patch, plan, Env};
use ampx::commands::drift::attribute;
use ampx::commands::plan::{plan_json, read_and_plan};
use ampx::diff::Action;
use ampx::manifest::ManifestSet;
use ampx::render::markdown::{self, GITHUB_LIMIT};
use ampx::render::text::{render, render_drift, Report, Style};
use serde_json::{json, Value};

async fn apply(e: &Env, set: &ManifestSet) {
    let p = plan(e, set).await;
    let report = ampx::apply::apply(e.client.clone(), &p).await;
    assert!(report.ok(), "{}", report.render(Style::plain()));
    assert!(plan(e, set).await.is_empty());
}

const THREE: &str = "\
apiVersion: ampx/v1
kind: Flag
key: alpha
name: Alpha
rolloutPercentage: 10
---
apiVersion: ampx/v1
kind: Flag
key: beta
name: Beta
---
apiVersion: ampx/v1
kind: Experiment
key: gamma-test
name: Gamma test
";

#[tokio::test]
async fn drift_names_what_changed_and_who_changed_it() {
    let e = Env::builder().start().await;
    let set = manifests(THREE);
    apply(&e, &set).await;
    let alpha = e.emu.flag_json("alpha").unwrap()["id"].to_string();
    let gamma = e.emu.experiment_json("gamma-test").unwrap()["id"].to_string();
    patch(
        &e,
        &format!("/api/1/flags/{alpha}"),
        json!({"rolloutPercentage": 50}),
    )
    .await;
    patch(
        &e,
        &format!("/api/1/experiments/{gamma}"),
        json!({"name": "Renamed in the UI"}),
    )
    .await;
    e.emu.clear_requests();

    let (mut report, live) = read_and_plan(&e.client, &set).await.unwrap();
    attribute(&e.client, &mut report, &live).await;
    let keys: Vec<&str> = report.objects.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(keys, ["alpha", "gamma-test"], "beta did not drift");

    // The list entries name who changed an object last (`lastModifiedBy`,
    // as documented): no history is read.
    for o in &report.objects {
        let a = o.last_modified.as_ref().unwrap();
        assert_eq!(a.source, "object");
        assert!(a.by.is_some() && a.at.is_some(), "{a:?}");
    }
    let version_reads = e
        .emu
        .requests()
        .iter()
        .filter(|r| r.path.contains("/versions"))
        .count();
    assert_eq!(version_reads, 0, "no history read");

    let text = render_drift(&report, Style::plain());
    assert!(
        text.contains("Drift: 2 object(s) differ from the manifests"),
        "{text}"
    );
    assert!(text.contains("~ flag alpha"), "{text}");
    assert!(text.contains("rolloutPercentage: 50 → 10"), "{text}");
    assert!(
        text.contains("name: Renamed in the UI → Gamma test"),
        "{text}"
    );
    assert!(text.contains("last changed by "), "{text}");

    let md = markdown::render(&report, Report::Drift);
    assert!(md.contains("### ampx drift: 2 object(s) differ"), "{md}");
    assert!(
        md.contains("`ampx apply` would bring them back (0 to create, 2 to change, 0 to archive)"),
        "{md}"
    );
    assert!(
        md.contains("| `~` | flag | `alpha` | differs | 1 | by ampx-emulator"),
        "{md}"
    );
}

#[tokio::test]
async fn no_drift_reads_no_history() {
    let e = Env::builder().start().await;
    let set = manifests(THREE);
    apply(&e, &set).await;
    e.emu.clear_requests();
    let (mut report, live) = read_and_plan(&e.client, &set).await.unwrap();
    attribute(&e.client, &mut report, &live).await;
    assert!(report.is_empty());
    assert_eq!(report.requests, 2, "one flag list, one experiment list");
    assert!(render_drift(&report, Style::plain()).starts_with("No drift."));
    assert!(markdown::render(&report, Report::Drift).contains("no drift"));
}

#[tokio::test]
async fn markdown_plan_is_a_table_with_collapsible_diffs() {
    let e = Env::builder().start().await;
    let set = manifests(THREE);
    let p = plan(&e, &set).await;
    let md = markdown::render(&p, Report::Plan);
    assert!(
        md.starts_with("### ampx plan: 3 to create, 0 to change, 0 to archive"),
        "{md}"
    );
    assert!(md.contains("| `+` | flag | `alpha` | create |"), "{md}");
    assert_eq!(md.matches("<details>").count(), 3, "{md}");
    assert!(md.contains("```diff\n+ name: Alpha  # "), "{md}");
    assert!(
        md.contains("POST /api/1/flags  (create flag alpha)"),
        "{md}"
    );
}

#[tokio::test]
async fn markdown_stays_under_the_github_comment_limit() {
    let e = Env::builder().start().await;
    // 300 new flags with large multi-line descriptions: far over 65,536 characters.
    let description = "A long description line that goes on and on.\n".repeat(20);
    let docs: Vec<String> = (0..300)
        .map(|i| {
            format!(
                "apiVersion: ampx/v1\nkind: Flag\nkey: flag-{i:03}\ndescription: {}\n",
                serde_json::to_string(&description).unwrap()
            )
        })
        .collect();
    let set = manifests(&docs.join("---\n"));
    let p = plan(&e, &set).await;
    let full = render(&p, Style::plain());
    assert!(full.len() > GITHUB_LIMIT, "the text plan is long");
    let md = markdown::render(&p, Report::Plan);
    assert!(md.chars().count() < GITHUB_LIMIT, "{}", md.len());
    assert!(md.contains("more object(s) not shown"), "the cut is said");
    assert!(md.contains("flag-000"));
    assert!(
        md.ends_with("<sub>Read the live state with 3 API requests.</sub>\n"),
        "the footer survives the cut"
    );
}

#[tokio::test]
async fn json_report_has_field_paths_values_and_calls() {
    let e = Env::builder().start().await;
    let set = manifests(THREE);
    apply(&e, &set).await;
    let alpha = e.emu.flag_json("alpha").unwrap()["id"].to_string();
    patch(
        &e,
        &format!("/api/1/flags/{alpha}"),
        json!({"name": "Other"}),
    )
    .await;
    let p = plan(&e, &set).await;
    let doc: Value = serde_json::from_str(&plan_json(&p, Report::Plan)).unwrap();
    assert_eq!(doc["formatVersion"], 2);
    assert_eq!(doc["report"], "plan");
    assert_eq!(doc["summary"]["change"], 1);
    let o = &doc["objects"][0];
    assert_eq!(o["key"], "alpha");
    assert_eq!(o["destructive"], false);
    let change = &o["changes"][0];
    assert_eq!(
        (&change["path"], &change["before"], &change["after"]),
        (&json!("name"), &json!("Other"), &json!("Alpha"))
    );
    // Where the desired value is written: alpha's `name` line, after the
    // Project document the file starts with.
    assert_eq!(change["source"]["line"], 8, "{change}");
    assert_eq!(change["source"]["file"], "flags.yaml");
    assert!(change["source"].get("environment").is_none());
    assert_eq!(o["ops"][0]["method"], "PATCH");
    assert_eq!(o["ops"][0]["path"], format!("/api/1/flags/{alpha}"));
    assert_eq!(o["ops"][0]["body"], json!({"name": "Alpha"}));
}

fn project(extra: &str) -> String {
    format!("apiVersion: ampx/v1\nkind: Project\nid: \"100001\"\n{extra}---\n")
}

fn set_of(text: String) -> ManifestSet {
    ampx::manifest::load_sources(&[(std::path::PathBuf::from("m.yaml"), text)]).unwrap()
}

#[tokio::test]
async fn owner_tag_is_added_to_every_managed_object_whose_tags_are_known() {
    let e = Env::builder()
        .flag(json!({"key": "existing", "tags": ["team-a"]}))
        .start()
        .await;
    e.emu
        .seed_experiment(json!({"key": "exp", "tags": ["team-b"]}))
        .unwrap();
    let set = set_of(format!(
        "{}apiVersion: ampx/v1\nkind: Flag\nkey: existing\n---\napiVersion: ampx/v1\nkind: Flag\nkey: fresh\ntags: [web]\n---\napiVersion: ampx/v1\nkind: Experiment\nkey: exp\n",
        project("ownerTag: ampx\n")
    ));
    let p = plan(&e, &set).await;
    apply(&e, &set).await;
    let tags = |json: Value| {
        let mut t: Vec<String> = json["tags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_str().unwrap().to_string())
            .collect();
        t.sort();
        t
    };
    // The experiment detail shows tags: kept, owner tag added.
    assert_eq!(
        tags(e.emu.experiment_json("exp").unwrap()),
        ["ampx", "team-b"]
    );
    // A new flag gets its tags and the owner tag.
    assert_eq!(tags(e.emu.flag_json("fresh").unwrap()), ["ampx", "web"]);
    // No answer shows an existing flag's tags: they are never replaced by
    // the owner tag alone, and the plan says so.
    assert_eq!(tags(e.emu.flag_json("existing").unwrap()), ["team-a"]);
    assert!(
        p.unknown
            .iter()
            .any(|u| u.keys == ["existing"] && u.field == "tags"),
        "{:?}",
        p.unknown
    );
}

#[tokio::test]
async fn prune_archives_only_owned_unnamed_objects() {
    let e = Env::builder()
        .flag(json!({"key": "kept", "tags": ["ampx"]}))
        .start()
        .await;
    e.emu
        .seed_flag(json!({"key": "orphan", "tags": ["ampx"]}))
        .unwrap();
    e.emu
        .seed_flag(json!({"key": "foreign", "tags": ["other-team"]}))
        .unwrap();
    e.emu
        .seed_experiment(json!({"key": "old-test", "tags": ["ampx"]}))
        .unwrap();
    e.emu
        .seed_flag(json!({"key": "gone", "tags": ["ampx"], "archived": true}))
        .unwrap();
    let set = set_of(format!(
        "{}apiVersion: ampx/v1\nkind: Flag\nkey: kept\n",
        project("ownerTag: ampx\nprune: true\n")
    ));
    let p = plan(&e, &set).await;
    let archived: Vec<(&str, &str)> = p
        .objects
        .iter()
        .filter(|o| o.action == Action::Archive)
        .map(|o| (o.kind.as_str(), o.key.as_str()))
        .collect();
    // No answer shows a flag's tags: whether `orphan` carries the owner tag
    // cannot be known, so prune leaves it (and `foreign`) alone and says so.
    assert_eq!(archived, [("experiment", "old-test")]);
    let mut unknown: Vec<&str> = p
        .unknown
        .iter()
        .flat_map(|u| u.keys.iter().map(String::as_str))
        .collect();
    unknown.sort();
    assert_eq!(unknown, ["foreign", "kept", "orphan"]);
    assert!(p
        .objects
        .iter()
        .all(|o| o.action != Action::Archive || o.destructive));
    let text = render(&p, Style::plain());
    assert!(text.contains("- experiment old-test (id "), "{text}");
    assert!(
        text.contains("? 2 flags foreign, orphan: tags: prune:"),
        "{text}"
    );
    assert!(text.contains("will be archived (destructive)"), "{text}");
    assert!(text.contains("prune: no manifest names it"), "{text}");
    apply(&e, &set).await;
    assert_eq!(e.emu.flag_json("orphan").unwrap()["archived"], false);
    assert_eq!(e.emu.experiment_json("old-test").unwrap()["archived"], true);
    assert_eq!(
        e.emu.flag_json("foreign").unwrap()["archived"],
        false,
        "foreign objects untouched"
    );
    assert_eq!(e.emu.flag_json("kept").unwrap()["archived"], false);

    // Without an owner tag, prune considers every live flag and experiment.
    let set = set_of(format!(
        "{}apiVersion: ampx/v1\nkind: Flag\nkey: kept\n",
        project("prune: true\n")
    ));
    let p = plan(&e, &set).await;
    let keys: Vec<&str> = p.objects.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(keys, ["foreign", "orphan"]);

    // Without prune, nothing unnamed is touched.
    let set = set_of(format!(
        "{}apiVersion: ampx/v1\nkind: Flag\nkey: kept\n",
        project("")
    ));
    assert!(plan(&e, &set).await.is_empty());
}
