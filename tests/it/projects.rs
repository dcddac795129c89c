//! A key that sees several projects, objects that the API lets nobody edit,
//! and deployments read and relabelled as the docs describe them.

use serde_json::json;

use crate::harness::{ampx, temp_dir, text, write, Env, KEY};

fn project(id: &str, extra: &str) -> String {
    format!("apiVersion: ampx/v1\nkind: Project\nid: \"{id}\"\n{extra}---\n")
}

fn flag(key: &str, name: &str) -> String {
    format!("apiVersion: ampx/v1\nkind: Flag\nkey: {key}\nname: {name}\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_of_other_projects_are_never_planned_pruned_or_exported() {
    let e = Env::builder().other_project("100002").start().await;
    e.emu
        .seed_flag(json!({"key": "shared", "name": "Ours"}))
        .unwrap();
    e.emu
        .seed_flag(json!({"key": "shared", "name": "Theirs", "projectId": "100002"}))
        .unwrap();
    e.emu
        .seed_flag(json!({"key": "theirs-only", "projectId": "100002"}))
        .unwrap();
    let dir = temp_dir("projects");
    write(
        &dir,
        "m.yaml",
        &format!(
            "{}{}",
            project("100001", "prune: true\n"),
            flag("shared", "Renamed")
        ),
    );
    let m = dir.to_string_lossy().into_owned();
    let url = e.emu.base_url.clone();
    let o = ampx(&url, Some(KEY), &["plan", &m]).await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    // The key of another project is not this flag, and the other
    // project's flags are not prune's to archive.
    assert!(out.contains("name: Ours → Renamed"), "{out}");
    assert!(
        !out.contains("theirs-only") && !out.contains("Theirs"),
        "{out}"
    );
    let o = ampx(&url, Some(KEY), &["apply", &m, "--auto-approve"]).await;
    assert_eq!(o.status.code(), Some(0), "{}{}", text(&o).0, text(&o).1);
    let calls = e.emu.requests();
    let lists: Vec<&str> = calls
        .iter()
        .filter(|r| r.path == "/api/1/flags")
        .map(|r| r.query.as_str())
        .collect();
    assert!(
        lists.iter().all(|q| q.contains("projectId=100001")),
        "every flag list is scoped: {lists:?}"
    );

    // Export reads one project: it must be named when the key sees two.
    let o = ampx(&url, Some(KEY), &["export"]).await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    assert!(
        err.contains("sees several projects (100001, 100002)") && err.contains("--project-id"),
        "{err}"
    );
    let o = ampx(&url, Some(KEY), &["export", "--project-id", "100002"]).await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(
        out.contains("key: theirs-only") && out.contains("name: Theirs"),
        "{out}"
    );
    assert!(!out.contains("name: Renamed"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_that_does_not_see_the_project_is_refused_before_any_write() {
    let e = Env::builder().other_project("100002").start().await;
    e.emu.seed_flag(json!({"key": "f"})).unwrap();
    let dir = temp_dir("wrong-project");
    write(
        &dir,
        "m.yaml",
        &format!("{}{}", project("555", ""), flag("f", "New")),
    );
    let m = dir.to_string_lossy().into_owned();
    for args in [vec!["plan", &m], vec!["apply", &m, "--auto-approve"]] {
        e.emu.clear_requests();
        let o = ampx(&e.emu.base_url, Some(KEY), &args).await;
        let (out, err) = text(&o);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {out}{err}");
        assert!(
            err.contains("sees project(s) 100001, 100002, not project 555"),
            "{args:?}: {err}"
        );
        // The hint names the key's variable and where the `id` is written.
        assert!(
            err.contains("in AMPLITUDE_MANAGEMENT_API_KEY, or correct the Project's `id` at ")
                && err.contains("m.yaml:3"),
            "{args:?}: {err}"
        );
        assert!(
            e.emu.requests().iter().all(|r| r.method == "GET"),
            "no write"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_reports_a_web_experiment_it_cannot_archive_without_failing() {
    let e = Env::builder().start().await;
    e.emu
        .seed_experiment(json!({"key": "web-test", "type": "web"}))
        .unwrap();
    e.emu.seed_flag(json!({"key": "orphan"})).unwrap();
    let dir = temp_dir("prune-web");
    write(
        &dir,
        "m.yaml",
        &format!(
            "{}{}",
            project("100001", "prune: true\n"),
            flag("kept", "Kept")
        ),
    );
    let m = dir.to_string_lossy().into_owned();
    let o = ampx(&e.emu.base_url, Some(KEY), &["apply", &m, "--auto-approve"]).await;
    let (out, err) = text(&o);
    // The documented answers do not mark web experiments: prune tries,
    // the API answers 405, and the run still succeeds and verifies.
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert!(
        out.contains("! experiment web-test: not archived: it cannot be edited through the API"),
        "{out}"
    );
    assert!(out.contains("Verified"), "{out}");
    assert_eq!(e.emu.flag_json("orphan").unwrap()["archived"], true);
    assert_eq!(
        e.emu.experiment_json("web-test").unwrap()["archived"],
        false
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployments_are_typed_from_their_detail_and_relabelled_in_place() {
    let e = Env::builder().start().await;
    let sdk_before = crate::harness::sdk_keys(&e).await;
    let staging = e.emu.deployment_id("web-staging").unwrap();
    let dir = temp_dir("deployments");
    let url = e.emu.base_url.clone();
    // The list shows no type; the detail says web-production is a client
    // deployment, so `type: server` is refused.
    write(
        &dir,
        "m.yaml",
        &format!(
            "{}apiVersion: ampx/v1\nkind: Deployment\nlabel: web-production\ntype: server\n",
            project("100001", "")
        ),
    );
    let m = dir.to_string_lossy().into_owned();
    let o = ampx(&url, Some(KEY), &["plan", &m]).await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    assert!(err.contains("is a client deployment"), "{err}");
    assert!(
        e.emu.count(
            "GET",
            &format!(
                "/api/1/deployments/{}",
                e.emu.deployment_id("web-production").unwrap()
            )
        ) >= 1
    );

    // renamedFrom relabels the deployment: same id, same SDK key, and a
    // flag may name it by its new label at once.
    write(
        &dir,
        "m.yaml",
        &format!(
            "{}apiVersion: ampx/v1\nkind: Deployment\nlabel: web-preview\nrenamedFrom: web-staging\n---\napiVersion: ampx/v1\nkind: Flag\nkey: f\ndeployments: [web-preview]\n",
            project("100001", "")
        ),
    );
    let o = ampx(&url, Some(KEY), &["plan", &m]).await;
    let (out, _) = text(&o);
    assert!(out.contains("label: web-staging → web-preview"), "{out}");
    assert!(
        out.contains(&format!("PATCH  /api/1/deployments/{staging}")),
        "{out}"
    );
    let o = ampx(&url, Some(KEY), &["apply", &m, "--auto-approve"]).await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert_eq!(e.emu.deployment_id("web-preview"), Some(staging.clone()));
    assert_eq!(e.emu.count("POST", "/api/1/deployments"), 0);
    assert_eq!(crate::harness::sdk_keys(&e).await, sdk_before);
    let f = e.emu.flag_json("f").unwrap();
    assert_eq!(f["deployments"], json!([staging.parse::<u64>().unwrap()]));
}
