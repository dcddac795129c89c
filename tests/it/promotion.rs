//! Between environments: where a plan's values come from, `compare`,
//! `promote` (file edits that touch only the lines they must) and adoption
//! of a second project with `export --into`.

use serde_json::Value;

use crate::harness::{temp_dir, text, write, Ampx, Env, KEY};

const SET: &str = "# Checkout flags, one set for staging and prod.
apiVersion: ampx/v1
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
name: Checkout   # shown in the Amplitude UI
rolloutPercentage: 100
variants:
  - key: \"on\"
    payload: {layout: one-page}
environments:
  # prod runs behind staging
  prod:
    rolloutPercentage: 10
    variants:
      - key: \"on\"
        payload: {layout: two-page}
  dev:
    rolloutPercentage: 50   # dev tries things first
---
apiVersion: ampx/v1
kind: Flag
key: preview
onlyIn: [staging]
---
apiVersion: ampx/v1
kind: Flag
key: banner
name: Banner
---
apiVersion: ampx/v1
kind: Project
environment: dev
id: \"100003\"
apiKeyEnv: KEY_DEV
";

fn manifests(name: &str) -> (std::path::PathBuf, String) {
    let dir = temp_dir(name);
    write(&dir, "m.yaml", SET);
    let s = dir.to_string_lossy().into_owned();
    (dir, s)
}

fn ampx(url: &str) -> Ampx {
    Ampx::at(url).var("KEY_STAGING", KEY).var("KEY_PROD", KEY)
}

/// `ampx CMD M --from staging --to prod EXTRA…`, with no API to reach.
async fn between(cmd: &str, m: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec![cmd, m, "--from", "staging", "--to", "prod"];
    args.extend_from_slice(extra);
    ampx("http://127.0.0.1:9").args(&args).run().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_changed_field_names_the_line_and_override_it_comes_from() {
    let e = Env::builder().other_project("100002").start().await;
    let (_dir, m) = manifests("sources");
    let url = e.emu.base_url.clone();
    for format in ["text", "markdown"] {
        let o = ampx(&url)
            .args(&["--env", "prod", "plan", &m, "--format", format])
            .run()
            .await;
        let (out, err) = text(&o);
        assert_eq!(o.status.code(), Some(0), "{out}{err}");
        assert!(
            out.contains("+ rolloutPercentage: 10  # ")
                && out.contains("m.yaml:25 (environments.prod)"),
            "{format}: {out}"
        );
        // The variant from prod's override, the name from the base.
        assert!(
            out.contains("m.yaml:27 (environments.prod)"),
            "{format}: {out}"
        );
        assert!(out.contains("+ name: Checkout  # "), "{format}: {out}");
        assert!(out.contains("m.yaml:17\n"), "{format}: {out}");
    }
    let o = ampx(&url)
        .args(&["--env", "prod", "plan", &m, "--format", "json"])
        .run()
        .await;
    let doc: Value = serde_json::from_str(&text(&o).0).unwrap();
    let checkout = doc["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["key"] == "checkout")
        .unwrap();
    let rollout = checkout["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["path"] == "rolloutPercentage")
        .unwrap();
    assert_eq!(rollout["source"]["line"], 25);
    assert_eq!(rollout["source"]["environment"], "prod");
    // Staging's plan names the base line, no override.
    let o = ampx(&url)
        .args(&["--env", "staging", "plan", &m])
        .run()
        .await;
    let out = text(&o).0;
    assert!(out.contains("+ rolloutPercentage: 100  # "), "{out}");
    assert!(out.contains("m.yaml:18\n"), "{out}");
    assert!(!out.contains("environments."), "{out}");
}

#[tokio::test]
async fn compare_shows_per_object_and_field_how_two_environments_differ() {
    let (_dir, m) = manifests("compare");
    let o = between("compare", &m, &[]).await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}{err}");
    assert!(
        out.contains("~ flag checkout\n    ~ rolloutPercentage:\n"),
        "{out}"
    );
    assert!(out.contains("        staging  100   # "), "{out}");
    assert!(
        out.contains("        prod     10   # ") && out.contains("m.yaml:25 (environments.prod)"),
        "{out}"
    );
    assert!(out.contains("~ variants.on.payload:"), "{out}");
    assert!(out.contains("- flag preview: only in staging"), "{out}");
    assert!(!out.contains("banner"), "the same in both: {out}");

    let o = between("compare", &m, &["--format", "json"]).await;
    let doc: Value = serde_json::from_str(&text(&o).0).unwrap();
    let checkout = &doc["objects"][0];
    assert_eq!(checkout["key"], "checkout");
    assert_eq!(checkout["fields"][0]["path"], "rolloutPercentage");
    assert_eq!(checkout["fields"][0]["from"], 100);
    assert_eq!(checkout["fields"][0]["to"], 10);
    assert_eq!(checkout["fields"][0]["toSource"]["environment"], "prod");

    // An environment no Project names is refused.
    let o = ampx("http://127.0.0.1:9")
        .args(&["compare", &m, "--from", "staging", "--to", "qa"])
        .run()
        .await;
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).1.contains("`qa`"), "{:?}", text(&o));
}

#[tokio::test]
async fn promote_edits_only_the_lines_it_must_and_then_nothing_differs() {
    let (dir, m) = manifests("promote");
    let file = dir.join("m.yaml");

    // A dry run shows the edit and writes nothing.
    let o = between("promote", &m, &["--target", "flag/checkout", "--dry-run"]).await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert!(out.contains("-    rolloutPercentage: 10"), "{out}");
    assert!(out.contains("nothing was written"), "{out}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), SET);

    let o = between("promote", &m, &["--target", "flag/checkout"]).await;
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    let edited = std::fs::read_to_string(&file).unwrap();
    insta::assert_snapshot!("promote_one_flag", edited);

    let o = between("compare", &m, &[]).await;
    let out = text(&o).0;
    assert!(!out.contains("checkout"), "{out}");

    // Everything: preview joins prod through its `onlyIn`.
    let o = between("promote", &m, &[]).await;
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    insta::assert_snapshot!(
        "promote_everything",
        std::fs::read_to_string(&file).unwrap()
    );
    let o = between("compare", &m, &[]).await;
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));

    // Nothing left to do, and an unknown target is refused.
    let o = between("promote", &m, &[]).await;
    assert!(text(&o).0.contains("nothing to edit"), "{:?}", text(&o));
    let o = between("promote", &m, &["--target", "flag/nope"]).await;
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).1.contains("flag `nope`"), "{:?}", text(&o));
}

#[tokio::test]
async fn an_override_in_flow_style_is_refused_and_the_file_left_alone() {
    let dir = temp_dir("promote-flow");
    let set = SET.replace(
        "environments:\n  # prod runs behind staging\n  prod:\n    rolloutPercentage: 10\n    variants:\n      - key: \"on\"\n        payload: {layout: two-page}\n  dev:\n    rolloutPercentage: 50   # dev tries things first\n",
        "environments: {prod: {rolloutPercentage: 10}}\n",
    );
    assert_ne!(set, SET);
    write(&dir, "m.yaml", &set);
    let o = ampx("http://127.0.0.1:9")
        .args(&[
            "promote",
            dir.to_str().unwrap(),
            "--from",
            "staging",
            "--to",
            "prod",
        ])
        .run()
        .await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    assert!(err.contains("flow style"), "{err}");
    assert_eq!(std::fs::read_to_string(dir.join("m.yaml")).unwrap(), set);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_into_adopts_a_second_project_as_its_differences_only() {
    let e = Env::builder().other_project("100002").start().await;
    let url = e.emu.base_url.clone();
    // Staging is described; prod exists only live, made by hand: the same
    // checkout flag at 5%, a flag of its own, and no banner.
    let dir = temp_dir("adopt");
    let staging = "apiVersion: ampx/v1
kind: Project
environment: staging
id: \"100001\"
apiKeyEnv: KEY_STAGING
---
apiVersion: ampx/v1
kind: Flag
key: checkout
name: Checkout  # kept
rolloutPercentage: 100
---
apiVersion: ampx/v1
kind: Flag
key: banner
name: Banner
";
    write(&dir, "m.yaml", staging);
    let prod_by_hand = temp_dir("adopt-prod");
    write(
        &prod_by_hand,
        "p.yaml",
        "apiVersion: ampx/v1
kind: Project
id: \"100002\"
---
apiVersion: ampx/v1
kind: Flag
key: checkout
name: Checkout
rolloutPercentage: 5
---
apiVersion: ampx/v1
kind: Flag
key: prod-only
name: Prod only
",
    );
    let o = Ampx::at(&url)
        .var("AMPLITUDE_MANAGEMENT_API_KEY", KEY)
        .args(&["apply", prod_by_hand.to_str().unwrap(), "--auto-approve"])
        .run()
        .await;
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    let m = dir.to_string_lossy().into_owned();
    let o = ampx(&url)
        .args(&["--env", "staging", "apply", &m, "--auto-approve"])
        .run()
        .await;
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));

    // Prod's Project added by hand, then its project adopted.
    let with_prod = format!(
        "{staging}---\napiVersion: ampx/v1\nkind: Project\nenvironment: prod\nid: \"100002\"\napiKeyEnv: KEY_PROD\n"
    );
    write(&dir, "m.yaml", &with_prod);
    let o = ampx(&url)
        .args(&["--env", "prod", "export", "--into", &m])
        .run()
        .await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    insta::assert_snapshot!(
        "adopted_manifest",
        std::fs::read_to_string(dir.join("m.yaml")).unwrap()
    );
    let added = std::fs::read_to_string(dir.join("flags/prod-only.yaml")).unwrap();
    assert!(added.contains("key: prod-only"), "{added}");
    assert!(added.contains("onlyIn: [prod]"), "{added}");

    // Both environments now plan clean.
    for env in ["prod", "staging"] {
        let o = ampx(&url)
            .args(&["--env", env, "plan", &m, "--detailed-exitcode"])
            .run()
            .await;
        assert_eq!(o.status.code(), Some(0), "{env}: {:?}", text(&o));
    }
    // And their live projects differ exactly as the manifests say.
    let o = ampx(&url)
        .args(&["compare", &m, "--from", "staging", "--to", "prod", "--live"])
        .run()
        .await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}{err}");
    assert!(
        out.contains("~ flag checkout\n    ~ rolloutPercentage:"),
        "{out}"
    );
    assert!(out.contains("- flag banner: only in staging"), "{out}");
    assert!(out.contains("+ flag prod-only: only in prod"), "{out}");

    // Adopted into one file, an object only prod has becomes a document of
    // that file, which the next run reads.
    let one = temp_dir("adopt-one-file");
    write(&one, "m.yaml", &with_prod);
    let file = one.join("m.yaml").to_string_lossy().into_owned();
    let o = ampx(&url)
        .args(&["--env", "prod", "export", "--into", &file])
        .run()
        .await;
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    let written = std::fs::read_to_string(&file).unwrap();
    assert!(
        written.contains("environments:\n  prod:\n    rolloutPercentage: 5\n"),
        "{written}"
    );
    let doc = written
        .split("\n---\n")
        .find(|d| d.contains("key: prod-only"))
        .unwrap_or_default();
    assert!(doc.contains("onlyIn: [prod]"), "{written}");
    assert!(!one.join("flags").exists());
    for env in ["prod", "staging"] {
        let o = ampx(&url)
            .args(&["--env", env, "plan", &file, "--detailed-exitcode"])
            .run()
            .await;
        assert_eq!(o.status.code(), Some(0), "{env}: {:?}", text(&o));
    }
}
