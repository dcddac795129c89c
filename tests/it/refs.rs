//! `ampx refs`: the managed keys' references in a source tree, in several
//! languages and case forms, with what a walk must leave out (ignored,
//! hidden and binary files, the manifests) and the findings CI fails on.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::harness::{temp_dir, text, write, Ampx};

const MANIFESTS: &str = "apiVersion: ampx/v1
kind: Project
id: \"100001\"
---
apiVersion: ampx/v1
kind: Flag
key: checkout-redesign
---
apiVersion: ampx/v1
kind: Flag
key: new_onboarding
---
apiVersion: ampx/v1
kind: Flag
key: checkout
---
apiVersion: ampx/v1
kind: Flag
key: old-banner
---
apiVersion: ampx/v1
kind: Experiment
key: pricing-test
archived: true
";

/// A source tree beside the manifests: every key form in some language,
/// and the files a search must not count.
fn fixture(name: &str) -> PathBuf {
    let dir = temp_dir(&format!("refs-{name}"));
    let file = |rel: &str, body: &[u8]| {
        let path = dir.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, body).unwrap();
    };
    file("manifests/flags.yaml", MANIFESTS.as_bytes());
    file(
        "src/web/checkout.ts",
        b"import { experiment } from './experiment';\n\
          const variant = experiment.variant('checkout-redesign');\n\
          if (flags.checkoutRedesign) { render(); }\n\
          const unknown = experiment.variant(\"mystery-flag\");\n\
          experiment.exposure(`pricing-test`);\n",
    );
    file(
        "src/android/Flags.kt",
        b"object Flags {\n    const val CHECKOUT_REDESIGN = \"on\"\n}\nclass CheckoutRedesign\n",
    );
    file(
        "src/py/app.py",
        b"def checkout_redesign():\n\treturn client.variant(\"checkout-redesign\")\n",
    );
    file("src/styles.css", b".new-onboarding { display: none; }\n");
    // `checkout` only ever inside longer identifiers.
    file(
        "src/legacy.js",
        b"let checkout_v2 = mycheckout + checkoutCart;\nconst url = '/new-checkout-v2';\n",
    );
    // A terminal escape and a bidirectional override on a referencing
    // line, and in a file name.
    file(
        "src/go/main\x1b[2J.go",
        b"var on = \x1b[31m flags[\"checkout-redesign\"] \xe2\x80\xae// done\r\n",
    );
    // What the walk leaves out: an ignored file, a hidden file, a binary
    // file, each naming a key nothing else references.
    file(".gitignore", b"generated/\n");
    file(
        "src/generated/flags.ts",
        b"export const OLD_BANNER = 'old-banner';\n",
    );
    file("src/.env.js", b"variant('old-banner')\n");
    file(
        "src/assets/logo.bin",
        b"PNG\x00\x01\x02 old-banner variant('old-banner')\n",
    );
    dir
}

async fn refs(dir: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["refs", "--src", "src", "manifests"];
    args.extend_from_slice(extra);
    Ampx::at("http://127.0.0.1:9")
        .args(&args)
        .current_dir(dir)
        .run()
        .await
}

fn json(o: &std::process::Output) -> Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", text(o).0, text(o).1))
}

fn key<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["key"] == name)
        .unwrap_or_else(|| panic!("no key {name} in {report:#}"))
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn every_form_of_a_key_is_found_in_every_language() {
    let dir = fixture("forms");
    let o = refs(&dir, &["--format", "json", "--locations", "0"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o).1);
    let r = json(&o);
    let k = key(&r, "checkout-redesign");
    let found: Vec<(String, i64, String, String)> = k["locations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["file"].as_str().unwrap().to_string(),
                l["line"].as_i64().unwrap(),
                l["as"].as_str().unwrap().to_string(),
                l["form"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expected = [
        (
            "src/android/Flags.kt",
            2,
            "CHECKOUT_REDESIGN",
            "SCREAMING_SNAKE_CASE",
        ),
        ("src/android/Flags.kt", 4, "CheckoutRedesign", "PascalCase"),
        ("src/go/main␛[2J.go", 1, "checkout-redesign", "written"),
        ("src/py/app.py", 1, "checkout_redesign", "snake_case"),
        ("src/py/app.py", 2, "checkout-redesign", "written"),
        ("src/web/checkout.ts", 2, "checkout-redesign", "written"),
        ("src/web/checkout.ts", 3, "checkoutRedesign", "camelCase"),
    ];
    let expected: Vec<(String, i64, String, String)> = expected
        .iter()
        .map(|(f, l, a, form)| (f.to_string(), *l, a.to_string(), form.to_string()))
        .collect();
    assert_eq!(found, expected);
    assert_eq!(k["references"], 7);
    assert_eq!(k["kind"], "flag");
    assert_eq!(k["declaredAt"], "manifests/flags.yaml:7");
    // A snake_case key in a stylesheet, as kebab-case.
    let l = &key(&r, "new_onboarding")["locations"][0];
    assert_eq!(
        (&l["file"], &l["as"], &l["form"]),
        (
            &Value::from("src/styles.css"),
            &Value::from("new-onboarding"),
            &Value::from("kebab-case")
        )
    );
    let l = &k["locations"][5];
    assert_eq!(
        (&l["column"], &l["text"]),
        (
            &Value::from(37),
            &Value::from("const variant = experiment.variant('checkout-redesign');")
        )
    );
}

#[tokio::test]
async fn ignored_hidden_binary_files_and_longer_identifiers_are_not_references() {
    let dir = fixture("skipped");
    let o = refs(&dir, &["--format", "json", "--locations", "0"]).await;
    let r = json(&o);
    // `checkout` appears only inside longer identifiers; `old-banner` only
    // in an ignored, a hidden and a binary file.
    assert_eq!(strings(&r["unreferenced"]), ["checkout", "old-banner"]);
    assert_eq!(key(&r, "checkout")["references"], 0);
    assert_eq!(r["scanned"]["binaryFilesSkipped"], 1);
    // Seven files: the manifests, the ignored and the hidden file are not
    // searched; the binary one is, and left out.
    assert_eq!(r["scanned"]["files"], 7, "{r:#}");
    let all = r.to_string();
    for left_out in ["generated", ".env.js", "logo.bin"] {
        assert!(!all.contains(left_out), "{left_out} in {r:#}");
    }
    // The whole tree: the manifests themselves are not searched (and
    // .gitignore is a hidden file).
    let o = Ampx::at("http://127.0.0.1:9")
        .args(&["refs", "--src", ".", "manifests", "--format", "json"])
        .current_dir(&dir)
        .run()
        .await;
    let r = json(&o);
    assert_eq!(r["scanned"]["files"], 7, "{r:#}");
    assert_eq!(strings(&r["unreferenced"]), ["checkout", "old-banner"]);
}

#[tokio::test]
async fn undeclared_calls_and_archived_keys_still_referenced_are_reported() {
    let dir = fixture("findings");
    let o = refs(&dir, &["--format", "json"]).await;
    let r = json(&o);
    let undeclared = r["undeclared"].as_array().unwrap();
    assert_eq!(undeclared.len(), 1, "{r:#}");
    assert_eq!(undeclared[0]["key"], "mystery-flag");
    assert_eq!(undeclared[0]["references"], 1);
    assert_eq!(undeclared[0]["locations"][0]["file"], "src/web/checkout.ts");
    assert_eq!(undeclared[0]["locations"][0]["line"], 4);
    assert_eq!(strings(&r["archivedReferenced"]), ["pricing-test"]);
    let k = key(&r, "pricing-test");
    assert_eq!(
        (&k["kind"], &k["archived"]),
        (&Value::from("experiment"), &Value::from(true))
    );
    assert_eq!(
        k["locations"][0]["text"],
        "experiment.exposure(`pricing-test`);"
    );
    assert_eq!(
        r["summary"],
        serde_json::json!({"keys": 5, "referenced": 3, "unreferenced": 2, "undeclared": 1, "archivedReferenced": 1})
    );
}

#[tokio::test]
async fn the_json_report_has_its_documented_shape() {
    let dir = fixture("shape");
    let r = json(&refs(&dir, &["--format", "json", "--locations", "2"]).await);
    let names = |v: &Value| -> Vec<String> { v.as_object().unwrap().keys().cloned().collect() };
    assert_eq!(
        names(&r),
        [
            "version",
            "src",
            "scanned",
            "keys",
            "unreferenced",
            "undeclared",
            "archivedReferenced",
            "summary"
        ]
    );
    assert_eq!(r["version"], 1);
    assert_eq!(strings(&r["src"]), ["src"]);
    assert_eq!(
        names(&r["scanned"]),
        ["files", "bytes", "binaryFilesSkipped", "unreadable"]
    );
    let k = key(&r, "checkout-redesign");
    assert_eq!(
        names(k),
        [
            "key",
            "kind",
            "declaredAt",
            "archived",
            "references",
            "locations"
        ]
    );
    // --locations caps the list, not the count.
    assert_eq!(k["locations"].as_array().unwrap().len(), 2);
    assert_eq!(k["references"], 7);
    assert_eq!(
        names(&k["locations"][0]),
        ["file", "line", "column", "as", "form", "text"]
    );
    assert_eq!(
        names(&r["undeclared"][0]),
        ["key", "references", "locations"]
    );
    let keys: Vec<&str> = r["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["key"].as_str().unwrap())
        .collect();
    assert_eq!(
        keys,
        [
            "checkout",
            "checkout-redesign",
            "new_onboarding",
            "old-banner",
            "pricing-test"
        ]
    );
}

#[tokio::test]
async fn the_text_report_lists_each_finding_and_shows_no_control_character() {
    let dir = fixture("text");
    let o = refs(&dir, &[]).await;
    assert_eq!(o.status.code(), Some(0));
    let (out, _) = text(&o);
    for expected in [
        "Code references in src (manifests: manifests): 7 file(s), ",
        "; 1 binary file(s) skipped",
        "checkout-redesign (flag): 7 references\n",
        "    src/android/Flags.kt:2 (as CHECKOUT_REDESIGN): const val CHECKOUT_REDESIGN = \"on\"\n",
        "    … and 2 more\n",
        "pricing-test (experiment, archived): 1 reference\n",
        "Unreferenced (2): declared, referenced nowhere:\n    checkout, old-banner\n",
        "  mystery-flag: 1 call(s)\n    src/web/checkout.ts:4: const unknown = experiment.variant(\"mystery-flag\");\n",
        "Archived but still referenced (1):\n  pricing-test (experiment, manifests/flags.yaml:23): 1 reference(s), first at src/web/checkout.ts:5\n",
        "5 key(s): 3 referenced, 2 unreferenced; 1 undeclared; 1 archived but still referenced.\n",
    ] {
        assert!(out.contains(expected), "{expected:?} in:\n{out}");
    }
    // The file name and the line with an escape sequence, a carriage
    // return and a bidirectional override, made printable.
    assert!(
        out.contains(
            "src/go/main␛[2J.go:1: var on = ␛[31m flags[\"checkout-redesign\"] �// done\n"
        ),
        "{out}"
    );
    assert!(!out.chars().any(|c| c.is_control() && c != '\n'), "{out:?}");
}

#[tokio::test]
async fn fail_on_exits_2_only_when_that_finding_exists() {
    let dir = fixture("fail-on");
    for (finding, src, code) in [
        ("unreferenced", "src", 2),
        ("undeclared", "src", 2),
        ("archived", "src", 2),
        // The Android sources alone call no undeclared key and reference
        // no archived one.
        ("undeclared", "src/android", 0),
        ("archived", "src/android", 0),
    ] {
        let o = Ampx::at("http://127.0.0.1:9")
            .args(&["refs", "--src", src, "manifests", "--fail-on", finding])
            .current_dir(&dir)
            .run()
            .await;
        assert_eq!(
            o.status.code(),
            Some(code),
            "--fail-on {finding} --src {src}: {}",
            text(&o).1
        );
        if code == 2 {
            assert!(text(&o).1.contains("--fail-on: "), "{}", text(&o).1);
        }
    }
    // Several at once, in JSON: still the whole report on stdout.
    let o = refs(
        &dir,
        &[
            "--format",
            "json",
            "--fail-on",
            "undeclared",
            "--fail-on",
            "archived",
        ],
    )
    .await;
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(json(&o)["summary"]["undeclared"], 1);
    assert!(
        text(&o)
            .1
            .contains("1 undeclared key(s); 1 archived key(s) still referenced"),
        "{}",
        text(&o).1
    );
}

#[tokio::test]
async fn a_pattern_per_language_and_custom_calls() {
    let dir = fixture("patterns");
    // In TypeScript, only SDK calls count.
    let r = json(
        &refs(
            &dir,
            &[
                "--format",
                "json",
                "--locations",
                "0",
                "--pattern",
                r#"ts=variant\(\s*['"]{key}['"]"#,
            ],
        )
        .await,
    );
    let ts: Vec<i64> = key(&r, "checkout-redesign")["locations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["file"] == "src/web/checkout.ts")
        .map(|l| l["line"].as_i64().unwrap())
        .collect();
    assert_eq!(ts, [2]);
    // A call of the team's own wrapper replaces the SDK's.
    write(
        &dir.join("src"),
        "wrapper.rb",
        "if Features.on?(:beta_search)\n",
    );
    let r = json(
        &refs(
            &dir,
            &["--format", "json", "--call", r"Features\.on\?\(:{key}\)"],
        )
        .await,
    );
    assert_eq!(r["undeclared"][0]["key"], "beta_search");
    assert_eq!(r["undeclared"].as_array().unwrap().len(), 1);
    // A regex without the placeholder is refused.
    let o = refs(&dir, &["--pattern", "ts=variant"]).await;
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o).1.contains("--pattern `ts=variant`: no {key}"),
        "{}",
        text(&o).1
    );
}
