//! Saved plans as a user runs them: `ampx plan --out FILE`, then
//! `ampx apply --plan FILE`, applied exactly, or refused when stale.

use crate::harness::{ampx, patch, temp_dir, text, write, Env, KEY};
use serde_json::{json, Value};

const FLAGS: &str = "\
apiVersion: ampx/v1
kind: Project
id: \"100001\"
---
apiVersion: ampx/v1
kind: Flag
key: alpha
name: Alpha
rolloutPercentage: 10
variants:
  - key: \"on\"
    payload: {a: 1}
    inclusions: [u1, u2]
---
apiVersion: ampx/v1
kind: Flag
key: beta
name: Beta
";

fn writes(e: &crate::harness::Env) -> Vec<(String, String)> {
    e.emu
        .requests()
        .into_iter()
        .filter(|r| r.method != "GET")
        .map(|r| (r.method, r.path))
        .collect()
}

/// An emulator with FLAGS applied through the binary; the manifest
/// directory and a plan file path in it.
async fn applied(name: &str) -> (crate::harness::Env, std::path::PathBuf, std::path::PathBuf) {
    let e = Env::builder().start().await;
    let dir = temp_dir(name);
    write(&dir, "flags.yaml", FLAGS);
    let m = dir.to_str().unwrap();
    let o = ampx(&e.emu.base_url, Some(KEY), &["apply", m, "--auto-approve"]).await;
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    let file = dir.join("plan.json");
    (e, dir, file)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saved_plan_applies_exactly_its_operations() {
    let (e, dir, file) = applied("saved-exact").await;
    let (m, f) = (dir.to_str().unwrap(), file.to_str().unwrap());

    // Change what was applied, so that the saved plan holds updates.
    write(
        &dir,
        "flags.yaml",
        &FLAGS
            .replace("rolloutPercentage: 10", "rolloutPercentage: 30")
            .replace("[u1, u2]", "[u2, u3]"),
    );

    let o = ampx(&e.emu.base_url, Some(KEY), &["plan", m, "--out", f]).await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert!(err.contains("Saved the plan to"), "{err}");
    let saved = std::fs::read_to_string(&file).unwrap();
    assert!(!saved.contains(KEY), "a saved plan holds no secret");
    let doc: Value = serde_json::from_str(&saved).unwrap();
    let ops: Vec<(String, String)> = doc["plan"]["objects"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|o| o["ops"].as_array().unwrap().clone())
        .map(|op| {
            (
                op["method"].as_str().unwrap().into(),
                op["path"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert!(!ops.is_empty());

    // The manifests change after the plan was saved: the saved plan still
    // applies what was reviewed, not the new files.
    write(
        &dir,
        "flags.yaml",
        &FLAGS.replace("rolloutPercentage: 10", "rolloutPercentage: 99"),
    );
    e.emu.clear_requests();
    let o = ampx(
        &e.emu.base_url,
        Some(KEY),
        &["apply", "--plan", f, "--auto-approve"],
    )
    .await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert!(
        out.contains("Verified: a fresh plan shows no changes"),
        "{out}"
    );
    assert_eq!(writes(&e), ops, "exactly the saved operations, in order");
    assert_eq!(e.emu.flag_json("alpha").unwrap()["rolloutPercentage"], 30);
    assert!(!out.contains(KEY) && !err.contains(KEY));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_saved_plan_is_refused_naming_what_changed() {
    let (e, dir, file) = applied("saved-stale").await;
    let (m, f) = (dir.to_str().unwrap(), file.to_str().unwrap());
    write(
        &dir,
        "flags.yaml",
        &FLAGS.replace("name: Beta", "name: Beta two"),
    );
    let o = ampx(&e.emu.base_url, Some(KEY), &["plan", m, "--out", f]).await;
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));

    // Someone edits alpha in the UI after the review.
    let id = e.emu.flag_json("alpha").unwrap()["id"].to_string();
    patch(
        &e,
        &format!("/api/1/flags/{id}"),
        json!({"rolloutPercentage": 75}),
    )
    .await;
    e.emu.clear_requests();

    let o = ampx(
        &e.emu.base_url,
        Some(KEY),
        &["apply", "--plan", f, "--auto-approve"],
    )
    .await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    assert!(
        err.contains("the live project changed since the plan was made"),
        "{err}"
    );
    assert!(
        err.contains("flag alpha: rolloutPercentage changed"),
        "{err}"
    );
    assert!(writes(&e).is_empty(), "no write: {:?}", writes(&e));
    assert_eq!(e.emu.flag_json("beta").unwrap()["name"], "Beta");

    // A flag created since the plan (the plan would have created it) is named too.
    write(
        &dir,
        "flags.yaml",
        &format!("{FLAGS}---\napiVersion: ampx/v1\nkind: Flag\nkey: gamma\n"),
    );
    let o = ampx(&e.emu.base_url, Some(KEY), &["plan", m, "--out", f]).await;
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    e.emu.seed_flag(json!({"key": "gamma"})).unwrap();
    let o = ampx(
        &e.emu.base_url,
        Some(KEY),
        &["apply", "--plan", f, "--auto-approve"],
    )
    .await;
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        err.contains("flag gamma: created since the plan was made"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saved_plan_is_refused_elsewhere_or_when_not_a_plan() {
    let e = Env::builder().start().await;
    let other = Env::builder().start().await;
    let dir = temp_dir("saved-elsewhere");
    write(&dir, "flags.yaml", FLAGS);
    let file = dir.join("plan.json");
    let (m, f) = (dir.to_str().unwrap(), file.to_str().unwrap());
    let o = ampx(&e.emu.base_url, Some(KEY), &["plan", m, "--out", f]).await;
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));

    let o = ampx(
        &other.emu.base_url,
        Some(KEY),
        &["apply", "--plan", f, "--auto-approve"],
    )
    .await;
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1));
    assert!(err.contains("the plan was made against"), "{err}");
    assert_eq!(other.emu.count("POST", "/"), 0);

    let o = ampx(
        &e.emu.base_url,
        Some(KEY),
        &["apply", "--plan", m, "--auto-approve"],
    )
    .await;
    assert_eq!(o.status.code(), Some(1), "a directory is not a plan");
    write(&dir, "other.json", "{\"formatVersion\": 1}");
    let o = ampx(
        &e.emu.base_url,
        Some(KEY),
        &[
            "apply",
            "--plan",
            dir.join("other.json").to_str().unwrap(),
            "--auto-approve",
        ],
    )
    .await;
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1));
    assert!(err.contains("is not a saved plan"), "{err}");
    assert_eq!(e.emu.count("POST", "/"), 0);
}

/// A saved plan edited by hand: every kind of edit to its calls is refused
/// before any write, naming the first call that differs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_saved_plan_is_refused_naming_the_call() {
    let (e, dir, file) = applied("saved-tampered").await;
    write(
        &dir,
        "flags.yaml",
        &FLAGS
            .replace("rolloutPercentage: 10", "rolloutPercentage: 30")
            .replace("name: Beta", "name: Beta two")
            .replace("[u1, u2]", "[u2, u3]"),
    );
    let (m, f) = (dir.to_str().unwrap(), file.to_str().unwrap());
    let o = ampx(&e.emu.base_url, Some(KEY), &["plan", m, "--out", f]).await;
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    let original: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let ops = |doc: &mut Value, object: usize| -> Vec<Value> {
        doc["plan"]["objects"][object]["ops"]
            .as_array()
            .unwrap()
            .clone()
    };
    let first_ops = ops(&mut original.clone(), 0);
    assert!(first_ops.len() >= 2, "{first_ops:?}");
    type Tamper = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(&str, Tamper, &str)> = vec![
        (
            "body",
            Box::new(|d| {
                d["plan"]["objects"][0]["ops"][0]["body"] = json!({"rolloutPercentage": 99})
            }),
            "call 1 (",
        ),
        (
            "method",
            Box::new(|d| d["plan"]["objects"][0]["ops"][0]["method"] = json!("DELETE")),
            "call 1 is `DELETE",
        ),
        (
            "path",
            Box::new(|d| {
                let p = d["plan"]["objects"][0]["ops"][0]["path"]
                    .as_str()
                    .unwrap()
                    .to_string();
                d["plan"]["objects"][0]["ops"][0]["path"] =
                    json!(p.replace("/api/1/flags/", "/api/1/experiments/"));
            }),
            "call 1 is `",
        ),
        (
            "order",
            Box::new(|d| {
                let a = d["plan"]["objects"][0]["ops"].as_array_mut().unwrap();
                a.swap(0, 1);
            }),
            "call 1 is `",
        ),
        (
            "an added call",
            Box::new(|d| {
                let mut extra = d["plan"]["objects"][0]["ops"][0].clone();
                extra["body"] = json!({"archive": true});
                d["plan"]["objects"][0]["ops"]
                    .as_array_mut()
                    .unwrap()
                    .push(extra);
            }),
            "does not hold the plan its manifests make: call 4 is `PATCH",
        ),
        (
            "a removed call",
            Box::new(|d| {
                d["plan"]["objects"][0]["ops"]
                    .as_array_mut()
                    .unwrap()
                    .remove(0);
            }),
            "call 1 is `",
        ),
        (
            "a call to another host",
            Box::new(|d| {
                let mut extra = d["plan"]["objects"][0]["ops"][0].clone();
                extra["method"] = json!("GET");
                extra["path"] = json!("@127.0.0.1:9/steal");
                d["plan"]["objects"][0]["ops"]
                    .as_array_mut()
                    .unwrap()
                    .push(extra);
            }),
            "is not a path under /api/1/",
        ),
        (
            "the format version",
            Box::new(|d| d["ampxSavedPlan"] = json!(99)),
            "of format 99",
        ),
    ];
    for (what, tamper, says) in cases {
        let mut doc = original.clone();
        tamper(&mut doc);
        let bad = dir.join("tampered.json");
        std::fs::write(&bad, serde_json::to_string_pretty(&doc).unwrap()).unwrap();
        e.emu.clear_requests();
        let o = ampx(
            &e.emu.base_url,
            Some(KEY),
            &["apply", "--plan", bad.to_str().unwrap(), "--auto-approve"],
        )
        .await;
        let (out, err) = text(&o);
        assert_eq!(o.status.code(), Some(1), "{what}: {out}{err}");
        assert!(err.contains(says), "{what}: {err}");
        assert!(writes(&e).is_empty(), "{what}: {:?}", writes(&e));
    }
    // Untouched, it applies.
    let o = ampx(
        &e.emu.base_url,
        Some(KEY),
        &["apply", "--plan", f, "--auto-approve"],
    )
    .await;
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
}

/// A plan file whose recorded server and manifests both name another host
/// sends nothing anywhere: the server is settled without the file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saved_plan_cannot_choose_where_the_key_goes() {
    let e = Env::builder().start().await;
    let elsewhere = crate::hostile_server::Hostile::in_front_of(&e.emu.base_url, |_, a| a).await;
    let dir = temp_dir("saved-server");
    write(&dir, "flags.yaml", FLAGS);
    let (m, file) = (dir.to_str().unwrap(), dir.join("plan.json"));
    let o = ampx(
        &e.emu.base_url,
        Some(KEY),
        &["plan", m, "--out", file.to_str().unwrap()],
    )
    .await;
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    let mut doc: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    doc["server"] = json!(elsewhere.url);
    let text0 = doc["manifests"][0]["text"].as_str().unwrap().to_string();
    doc["manifests"][0]["text"] = json!(text0.replace(
        "id: \"100001\"\n",
        &format!("id: \"100001\"\nserver: {}\n", elsewhere.url)
    ));
    std::fs::write(&file, serde_json::to_string(&doc).unwrap()).unwrap();
    // No --server: the default region's API is what ampx would talk to; the
    // file's record differs, so nothing is sent at all.
    let o = crate::harness::Ampx::at("")
        .key(KEY)
        .args(&["apply", "--plan", file.to_str().unwrap(), "--auto-approve"])
        .without("AMPX_SERVER")
        .run()
        .await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    assert!(err.contains("the plan was made against"), "{err}");
    assert!(elsewhere.seen().is_empty(), "{:?}", elsewhere.seen());
}
