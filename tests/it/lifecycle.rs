//! Flag lifecycle: the Policy's rules in `lint` (text, JSON, SARIF), as a
//! gate in `plan` and `apply`, and rollout schedules, with "now" given by
//! AMPX_NOW (never the wall clock).

use serde_json::Value;

use crate::harness::{temp_dir, text, write, Ampx, Env, KEY};

const PROJECT: &str = "apiVersion: ampx/v1
kind: Project
id: \"100001\"
---
apiVersion: ampx/v1
kind: Policy
rules:
  requireDescription: error
  keyPattern: { severity: error, pattern: \"^[a-z][a-z0-9-]*$\" }
  requireTags: { severity: warning, anyOf: [\"team:*\"] }
  maxRolloutStep: { severity: error, points: 25 }
  expiry: { severity: warning, maxDays: 90 }
  stale: { severity: warning, days: 30 }
";

fn dir_with(name: &str, flags: &str) -> String {
    let dir = temp_dir(name);
    write(&dir, "m.yaml", &format!("{PROJECT}---\n{flags}"));
    dir.to_string_lossy().into_owned()
}

/// `ampx ARGS…` at the time `now`, with the key.
async fn at(url: &str, now: &str, args: &[&str]) -> std::process::Output {
    Ampx::at(url)
        .var("AMPX_NOW", now)
        .var("AMPLITUDE_MANAGEMENT_API_KEY", KEY)
        .args(args)
        .run()
        .await
}

fn ampx(url: &str) -> Ampx {
    Ampx::at(url).var("AMPX_NOW", "2026-12-02T00:00:00Z")
}

const GOOD: &str = "apiVersion: ampx/v1
kind: Flag
key: checkout
description: The new checkout
tags: [\"team:web\"]
expires: 2027-01-15
rolloutPercentage: 20
";

#[tokio::test]
async fn lint_names_each_broken_rule_at_its_line_and_fails_on_errors() {
    let m = dir_with(
        "lint",
        "apiVersion: ampx/v1\nkind: Flag\nkey: Checkout_V2\ntags: [web]\nexpires: 2026-11-30\n---\napiVersion: ampx/v1\nkind: Flag\nkey: legacy\ntags: [\"team:web\"]\nexpires: 2027-01-01\nwaive:\n  - rule: requireDescription\n    reason: made by the billing service, which writes none\n",
    );
    let o = ampx("http://127.0.0.1:9").args(&["lint", &m]).run().await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    assert!(
        out.contains("m.yaml:17: error [requireDescription] flag `Checkout_V2` has no description"),
        "{out}"
    );
    assert!(
        out.contains("error [keyPattern] key `Checkout_V2` does not match"),
        "{out}"
    );
    assert!(out.contains("m.yaml:18: warning [requireTags]"), "{out}");
    assert!(
        out.contains("m.yaml:19: warning [expiry] flag `Checkout_V2` expired on 2026-11-30"),
        "{out}"
    );
    assert!(
        out.contains("waived [requireDescription] flag `legacy` has no description (waived: made by the billing service, which writes none)"),
        "{out}"
    );
    assert!(
        out.contains("2 error(s), 2 warning(s), 1 waived; checked against the manifests only (AMPLITUDE_MANAGEMENT_API_KEY is not set"),
        "{out}"
    );

    let o = ampx("http://127.0.0.1:9")
        .args(&["lint", &m, "--format", "json"])
        .run()
        .await;
    let doc: Value = serde_json::from_str(&text(&o).0).unwrap();
    assert_eq!(doc["errors"], 2);
    assert_eq!(doc["violations"][0]["rule"], "requireDescription");
    assert_eq!(doc["violations"][0]["line"], 17);

    let good = dir_with("lint-good", GOOD);
    let o = ampx("http://127.0.0.1:9")
        .args(&["lint", &good])
        .run()
        .await;
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
}

#[tokio::test]
async fn sarif_output_is_a_sarif_2_1_0_log_with_a_result_per_finding() {
    let m = dir_with(
        "sarif",
        "apiVersion: ampx/v1\nkind: Flag\nkey: Bad_Key\ndescription: d\ntags: [\"team:a\"]\nexpires: 2027-01-01\nwaive: [{rule: keyPattern, reason: predates the policy}]\n---\napiVersion: ampx/v1\nkind: Flag\nkey: no-description\ntags: [\"team:a\"]\nexpires: 2027-01-01\n",
    );
    let o = ampx("http://127.0.0.1:9")
        .args(&["lint", &m, "--format", "sarif"])
        .run()
        .await;
    let doc: Value = serde_json::from_str(&text(&o).0).unwrap();
    assert_eq!(doc["version"], "2.1.0");
    let run = &doc["runs"][0];
    assert_eq!(run["tool"]["driver"]["name"], "ampx");
    let results = run["results"].as_array().unwrap();
    assert_eq!(results.len(), 2, "{results:?}");
    let waived = results
        .iter()
        .find(|r| r["ruleId"] == "keyPattern")
        .unwrap();
    assert_eq!(
        waived["suppressions"][0]["justification"],
        "predates the policy"
    );
    let error = results
        .iter()
        .find(|r| r["ruleId"] == "requireDescription")
        .unwrap();
    assert_eq!(error["level"], "error");
    let loc = &error["locations"][0]["physicalLocation"];
    assert!(loc["artifactLocation"]["uri"]
        .as_str()
        .unwrap()
        .ends_with("m.yaml"));
    assert_eq!(loc["region"]["startLine"], 25);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_and_apply_refuse_an_error_level_violation_before_any_write() {
    let e = Env::builder()
        .flag(serde_json::json!({"key": "checkout", "description": "The new checkout", "rolloutPercentage": 10}))
        .start()
        .await;
    let url = e.emu.base_url.clone();
    // 10% live to 50%: a step of 40 points, over the 25 allowed.
    let m = dir_with(
        "gate",
        &GOOD.replace("rolloutPercentage: 20", "rolloutPercentage: 50"),
    );
    for args in [vec!["plan", &m], vec!["apply", &m, "--auto-approve"]] {
        let o = ampx(&url)
            .var("AMPLITUDE_MANAGEMENT_API_KEY", KEY)
            .args(&args)
            .run()
            .await;
        let (out, err) = text(&o);
        assert_eq!(o.status.code(), Some(1), "{out}{err}");
        assert!(err.contains("the Policy refuses this plan"), "{err}");
        assert!(
            err.contains("[maxRolloutStep] flag `checkout` would go from 10% to 50% in one apply"),
            "{err}"
        );
    }
    assert!(e.emu.requests().iter().all(|r| r.method == "GET"));

    // Waived, with a reason: planned and applied.
    let waived = dir_with(
        "gate-waived",
        &GOOD.replace(
            "rolloutPercentage: 20",
            "rolloutPercentage: 50\nwaive: [{rule: maxRolloutStep, reason: incident fix}]",
        ),
    );
    let o = ampx(&url)
        .var("AMPLITUDE_MANAGEMENT_API_KEY", KEY)
        .args(&["apply", &waived, "--auto-approve"])
        .run()
        .await;
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    assert_eq!(
        e.emu.flag_json("checkout").unwrap()["rolloutPercentage"],
        50
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schedule_moves_the_rollout_on_as_its_steps_come_due() {
    let e = Env::builder().start().await;
    let url = e.emu.base_url.clone();
    let m = dir_with(
        "schedule",
        &GOOD.replace(
            "rolloutPercentage: 20\n",
            "rolloutPercentage: 5\nschedule:\n  - {at: 2026-12-05T09:00:00Z, rolloutPercentage: 25}\n  - {at: 2026-12-12T09:00:00Z, rolloutPercentage: 50}\n",
        ),
    );
    // Before the first step: the manifest's own 5%.
    let o = at(&url, "2026-12-05T08:59:59Z", &["plan", &m]).await;
    let out = text(&o).0;
    assert!(out.contains("+ rolloutPercentage: 5"), "{out}");
    assert!(
        out.contains("flag checkout: 5% until its first step; next 25% at 2026-12-05 09:00 UTC"),
        "{out}"
    );
    let o = at(
        &url,
        "2026-12-05T08:59:59Z",
        &["apply", "--auto-approve", &m],
    )
    .await;
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    assert_eq!(e.emu.flag_json("checkout").unwrap()["rolloutPercentage"], 5);

    // From the step's very second, the step's 25%: a scheduled apply moves it.
    let o = at(&url, "2026-12-05T09:00:00Z", &["plan", &m]).await;
    let out = text(&o).0;
    assert!(out.contains("~ rolloutPercentage: 5 → 25"), "{out}");
    assert!(
        out.contains(
            "flag checkout: 25% since 2026-12-05 09:00 UTC; next 50% at 2026-12-12 09:00 UTC"
        ),
        "{out}"
    );
    let o = at(
        &url,
        "2026-12-05T09:00:00Z",
        &["plan", "--format", "json", &m],
    )
    .await;
    let doc: Value = serde_json::from_str(&text(&o).0).unwrap();
    assert_eq!(
        doc["schedules"][0],
        serde_json::json!({"kind": "flag", "key": "checkout",
            "current": {"at": "2026-12-05T09:00:00Z", "rolloutPercentage": 25},
            "next": {"at": "2026-12-12T09:00:00Z", "rolloutPercentage": 50}})
    );
    let o = at(
        &url,
        "2026-12-05T09:00:00Z",
        &["apply", "--auto-approve", &m],
    )
    .await;
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    assert_eq!(
        e.emu.flag_json("checkout").unwrap()["rolloutPercentage"],
        25
    );
    // Drift sees the schedule too: nothing drifted until the next step.
    let o = at(&url, "2026-12-12T08:59:59Z", &["drift", &m]).await;
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    let o = at(&url, "2026-12-12T09:00:00Z", &["drift", &m]).await;
    assert_eq!(o.status.code(), Some(2), "{:?}", text(&o));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lint_with_a_key_finds_a_flag_that_served_one_variant_too_long() {
    let e = Env::builder().start().await;
    let url = e.emu.base_url.clone();
    let m = dir_with(
        "stale",
        "apiVersion: ampx/v1\nkind: Flag\nkey: legacy-banner\ndescription: Rolled out\ntags: [\"team:web\"]\nexpires: 2027-01-01\nenabled: true\nrolloutPercentage: 100\nvariants:\n  - key: \"on\"\nwaive: [{rule: maxRolloutStep, reason: created at 100% on purpose}]\n",
    );
    let o = Ampx::at(&url)
        .var("AMPLITUDE_MANAGEMENT_API_KEY", KEY)
        .args(&["apply", &m, "--auto-approve"])
        .run()
        .await;
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    // The flag was last changed just now; 40 days on, it is stale.
    let later = {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
            + 40 * 86_400;
        ampx::time::format_date(secs)
    };
    let o = Ampx::at(&url)
        .var("AMPLITUDE_MANAGEMENT_API_KEY", KEY)
        .var("AMPX_NOW", &format!("{later}T12:00:00Z"))
        .args(&["lint", &m])
        .run()
        .await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert!(
        out.contains(
            "warning [stale] flag `legacy-banner` has served one variant to everyone for 40 days"
        ),
        "{out}"
    );
    assert!(
        out.contains("checked against the manifests and the live project 100001"),
        "{out}"
    );

    // With the source code: referenced, it stays; referenced nowhere, it is
    // ready to archive, with the manifest edit that does it.
    let src = temp_dir("stale-src");
    write(
        &src,
        "banner.ts",
        "if (client.variant('legacy-banner').value === 'on') show();\n",
    );
    let lint = |src: std::path::PathBuf| {
        Ampx::at(&url)
            .var("AMPLITUDE_MANAGEMENT_API_KEY", KEY)
            .var("AMPX_NOW", &format!("{later}T12:00:00Z"))
            .args(&["lint", &m, "--src", src.to_str().unwrap()])
            .run()
    };
    let out = text(&lint(src.clone()).await).0;
    assert!(!out.contains("ready to archive"), "{out}");
    write(
        &src,
        "banner.ts",
        "show(); // the banner is always on now\n",
    );
    let out = text(&lint(src.clone()).await).0;
    assert!(
        out.contains("no code references it: ready to archive (`archived: true` in "),
        "{out}"
    );
    assert!(out.contains("Ready to archive (1)"), "{out}");
    assert!(out.contains("+archived: true"), "{out}");
}
