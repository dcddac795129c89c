use super::*;

fn load_str(text: &str) -> Result<ManifestSet, Diagnostics> {
    load_sources(&[(PathBuf::from("m.yaml"), text.to_string())])
}

const PROJECT: &str = "apiVersion: ampx/v1\nkind: Project\nid: 100001\n---\n";

#[test]
fn loads_a_flag_with_every_field() {
    let set = load_str(&format!(
        "{PROJECT}apiVersion: ampx/v1
kind: Flag
key: checkout
name: Checkout
description: New
enabled: true
evaluationMode: local
bucketingKey: device_id
bucketingUnit: User
bucketingSalt: abc
tags: [a, b]
deployments: [web-production]
variants:
  - key: on
    name: On
    payload: {{layout: one-page}}
    inclusions: [alice, 1234567]
  - key: off
    renamedFrom: disabled
    payload: null
rolloutPercentage: 25
rolloutWeights: {{on: 1, off: 0}}
targetSegments:
  - name: US
    conditions:
      - prop: country
        op: is
        values: [United States]
    percentage: 100
    rolloutWeights: {{on: 1}}
archived: false
"
    ))
    .unwrap();
    assert_eq!(set.project.spec.id, "100001");
    let f = &set.flags[0].spec;
    let vs = f.variants.as_ref().unwrap();
    assert_eq!(vs[0].key, "on");
    assert_eq!(vs[1].key, "off");
    assert_eq!(vs[0].inclusions.as_ref().unwrap(), &["alice", "1234567"]);
    assert_eq!(vs[1].payload, Some(Value::Null));
    assert_eq!(vs[0].description, None);
    assert_eq!(f.rollout_weights.as_ref().unwrap()["on"], 1);
    assert_eq!(f.evaluation_mode, Some(EvaluationMode::Local));
}

#[test]
fn errors_carry_file_line_and_hints() {
    let err = load_str(&format!(
        "{PROJECT}apiVersion: ampx/v1
kind: Flag
key: f
nmae: typo
---
apiVersion: ampx/v1
kind: Flag
key: g
rolloutPercentage: 150
variants: [{{key: a}}]
rolloutWeights: {{b: -1}}
targetSegments:
  - name: s
    conditions: [{{prop: x, op: equals, values: [1]}}]
"
    ))
    .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("m.yaml:8:1: `nmae`: unknown field `nmae`"),
        "{text}"
    );
    assert!(text.contains("did you mean `name`?"), "{text}");
    assert!(
        text.contains("m.yaml:13:1: `rolloutPercentage` is 150"),
        "{text}"
    );
    assert!(text.contains("between 0 and 100"), "{text}");
    assert!(text.contains("must not be negative"), "{text}");
    assert!(text.contains("names `b`, which is not a variant"), "{text}");
    assert!(text.contains("unknown condition op `equals`"), "{text}");
    assert!(text.contains("valid ops: is, is not"), "{text}");
}

#[test]
fn missing_project_and_duplicate_keys() {
    let err = load_str("apiVersion: ampx/v1\nkind: Flag\nkey: a\n").unwrap_err();
    assert!(err.to_string().contains("no `kind: Project`"));
    let err = load_str(&format!(
        "{PROJECT}apiVersion: ampx/v1\nkind: Flag\nkey: a\n---\napiVersion: ampx/v1\nkind: Flag\nkey: a\n"
    ))
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("duplicate key `a` (first defined at m.yaml:7)"),
        "{err}"
    );
}

/// A fresh directory for a test, with `files` (relative path, text) in it.
fn tree(name: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ampx-core-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for (path, text) in files {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    dir
}

#[test]
fn an_ignore_file_leaves_out_what_it_matches_below_its_directory() {
    let dir = tree(
        "ampxignore",
        &[
            (".ampxignore", "# drafts are not planned\ndrafts/\n*.local.yaml\n!keep.local.yaml\n/top-only.yaml\n"),
            ("p.yaml", ""),
            ("top-only.yaml", ""),
            ("a.local.yaml", ""),
            ("keep.local.yaml", ""),
            ("drafts/d.yaml", ""),
            ("flags/drafts/d.yaml", ""),
            ("flags/top-only.yaml", ""),
            ("flags/.ampxignore", "old.yaml\n!b.local.yaml\n"),
            ("flags/old.yaml", ""),
            ("flags/b.local.yaml", ""),
            ("flags/c.local.yaml", ""),
            ("other/old.yaml", ""),
            (".hidden/h.yaml", ""),
        ],
    );
    let found = find_files(std::slice::from_ref(&dir)).unwrap();
    let rel: Vec<String> = found
        .iter()
        .map(|p| p.strip_prefix(&dir).unwrap().display().to_string())
        .collect();
    assert_eq!(
        rel,
        [
            "flags/b.local.yaml",
            "flags/top-only.yaml",
            "keep.local.yaml",
            "other/old.yaml",
            "p.yaml"
        ],
        "a deeper file's `!pattern` brings back what an outer one leaves out; a pattern with a leading / is anchored to its own directory"
    );

    // A file named on the command line is read all the same; a directory
    // given below an ignore file does not read that file.
    let named = dir.join("drafts/d.yaml");
    let found = find_files(&[dir.clone(), named.clone()]).unwrap();
    assert!(found.contains(&named), "{found:?}");
    let found = find_files(&[dir.join("flags")]).unwrap();
    assert!(found.contains(&dir.join("flags/c.local.yaml")), "{found:?}");
    assert!(!found.contains(&dir.join("flags/old.yaml")), "{found:?}");

    // Everything left out: the error says why.
    let all = tree("ampxignore-all", &[(".ampxignore", "*\n"), ("p.yaml", "")]);
    let err = find_files(std::slice::from_ref(&all))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("1 file(s) or directories were left out by .ampxignore"),
        "{err}"
    );

    // A pattern that does not read is an error at its line.
    let bad = tree(
        "ampxignore-bad",
        &[(".ampxignore", "ok.yaml\n[z-a].yaml\n"), ("p.yaml", "")],
    );
    let err = find_files(std::slice::from_ref(&bad))
        .unwrap_err()
        .to_string();
    assert!(err.contains(".ampxignore:2:1: invalid pattern"), "{err}");
    for d in [dir, all, bad] {
        let _ = std::fs::remove_dir_all(d);
    }
}

#[test]
fn a_variant_field_at_the_top_level_says_where_it_belongs() {
    let err = load_str(&format!(
        "{PROJECT}apiVersion: ampx/v1
kind: Flag
key: f
variants:
  - key: treatment
inclusions: [alice]
payload: {{a: 1}}
zeta: 1
alpha: 2
"
    ))
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("m.yaml:10:1: `inclusions`: unknown field `inclusions`"),
        "{err}"
    );
    assert!(
        err.contains("`inclusions` belongs to a variant: indent it under one, as in\n          variants:\n            - key: treatment\n              inclusions: [...]"),
        "{err}"
    );
    assert!(err.contains("`payload` belongs to a variant"), "{err}");
    // The known fields are listed once, on the first field they are for.
    assert_eq!(err.matches("known fields:").count(), 1, "{err}");
    assert!(
        err.contains("m.yaml:12:1: `zeta`: unknown field `zeta`\n  hint: known fields: key,"),
        "{err}"
    );
    assert!(
        err.contains("m.yaml:13:1: `alpha`: unknown field `alpha`\n4 errors"),
        "{err}"
    );
}

#[test]
fn no_project_is_named_at_the_first_file_in_path_order() {
    let flag = |k: &str| format!("apiVersion: ampx/v1\nkind: Flag\nkey: {k}\n");
    for order in [["b/z.yaml", "a.yaml"], ["a.yaml", "b/z.yaml"]] {
        let sources: Vec<(PathBuf, String)> =
            order.iter().map(|f| (PathBuf::from(f), flag(f))).collect();
        let err = load_sources(&sources).unwrap_err().to_string();
        assert!(
            err.starts_with("error: a.yaml:1:1: no `kind: Project` document"),
            "{err}"
        );
        assert!(err.contains("add one, e.g. as project.yaml:\n          apiVersion: ampx/v1\n          kind: Project\n"), "{err}");
    }
}

#[test]
fn too_many_inclusions_and_unknown_kind() {
    let ids: Vec<String> = (0..2001).map(|i| format!("u{i}")).collect();
    let err = load_str(&format!(
        "{PROJECT}apiVersion: ampx/v1\nkind: Flgа\nkey: x\n---\napiVersion: ampx/v1\nkind: Flag\nkey: a\nvariants:\n  - key: on\n    inclusions: [{}]\n",
        ids.join(", ")
    ))
    .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("unknown kind"), "{text}");
    assert!(text.contains("2001 inclusions"), "{text}");
}

/// `n` flag documents in one file after the Project; `dup` makes every
/// flag's key the same as the one before it.
fn many_documents(n: usize, dup: bool) -> String {
    let mut text = String::from(PROJECT);
    for i in 0..n {
        let key = if dup { i / 2 } else { i };
        text.push_str(&format!(
            "apiVersion: ampx/v1\nkind: Flag\nkey: flag-{key}\nenabled: true\nvariants:\n  - key: on\n    payload: {{n: {i}}}\n---\n"
        ));
    }
    text
}

#[test]
fn one_file_of_many_documents_is_parsed_once() {
    let before = yaml::parse_counts();
    let set = load_str(&many_documents(400, false)).unwrap();
    let after = yaml::parse_counts();
    assert_eq!(set.flags.len(), 400);
    assert_eq!(
        after.files - before.files,
        1,
        "the file was parsed more than once"
    );
    assert_eq!(
        after.documents - before.documents,
        0,
        "a valid manifest set read documents again for positions"
    );
}

#[test]
fn errors_in_many_documents_read_each_document_a_bounded_number_of_times() {
    let before = yaml::parse_counts();
    let err = load_str(&many_documents(400, true)).unwrap_err();
    let after = yaml::parse_counts();
    assert_eq!(err.0.len(), 200, "{err}");
    // The error names both documents at their lines, the first one at the
    // line of its own `key:` (flag i's key is on line 7 + 8i).
    let second = &err.0[1];
    assert_eq!(second.pos.line, 7 + 8 * 3, "{second}");
    assert!(
        second.message.contains(&format!("m.yaml:{}", 7 + 8 * 2)),
        "{second}"
    );
    assert_eq!(
        after.files - before.files,
        1,
        "the file was parsed more than once"
    );
    // One read of each document in a duplicate pair: the first for where it
    // was defined, the second for where the error is.
    assert!(after.documents - before.documents <= 2 * err.0.len());
}

#[test]
fn a_nul_in_a_comment_is_an_error_not_the_end_of_the_manifests() {
    // Read up to the NUL, the file would hold one flag, and prune would
    // archive the two after it.
    let text = format!(
        "{PROJECT}apiVersion: ampx/v1\nkind: Flag # first\u{0}\nkey: a\n---\napiVersion: ampx/v1\nkind: Flag\nkey: b\n---\napiVersion: ampx/v1\nkind: Flag\nkey: c\n"
    );
    let err = load_str(&text).unwrap_err();
    assert_eq!(err.0.len(), 1, "{err}");
    assert_eq!((err.0[0].pos.line, err.0[0].pos.col), (6, 19), "{err}");
    assert!(err.to_string().contains("U+0000"), "{err}");
}

#[test]
fn variant_keys_that_cannot_be_a_path_segment_are_refused() {
    // `…/variants/..` would address the flag itself once a URL parser
    // resolves the dot segment.
    for (key, why) in [
        ("\"..\"", "cannot be `..`"),
        ("\".\"", "cannot be `.`"),
        ("a/b", "cannot contain `/`"),
        ("\"a\\tb\"", "U+0009"),
    ] {
        let err = load_str(&format!(
            "{PROJECT}apiVersion: ampx/v1\nkind: Flag\nkey: f\nvariants:\n  - key: {key}\n"
        ))
        .unwrap_err();
        assert!(err.to_string().contains(why), "{key}: {err}");
        assert_eq!(err.0[0].pos.line, 9, "{err}");
    }
    let err = load_str(&format!(
        "{PROJECT}apiVersion: ampx/v1\nkind: Flag\nkey: f\nvariants:\n  - key: on\n    renamedFrom: \"..\"\n"
    ))
    .unwrap_err();
    assert!(err.to_string().contains("cannot be `..`"), "{err}");
}

#[test]
fn messages_say_number_not_a_rust_type() {
    let err = load_str(&format!(
        "{PROJECT}apiVersion: ampx/v1\nkind: Flag\nkey: f\nrolloutPercentage: ten\n"
    ))
    .unwrap_err()
    .to_string();
    assert!(err.contains("expected a whole number"), "{err}");
    assert!(!err.contains("i64"), "{err}");
}

#[test]
fn a_flag_is_told_only_of_flag_fields_and_once() {
    let err = load_str(&format!(
        "{PROJECT}apiVersion: ampx/v1\nkind: Flag\nkey: f\nzzzzzzzz: 1\n"
    ))
    .unwrap_err()
    .to_string();
    assert!(err.contains("unknown field `zzzzzzzz`\n"), "{err}");
    assert!(err.contains("known fields: key, name"), "{err}");
    assert!(!err.contains("experimentType"), "{err}");
    assert_eq!(err.matches("rolloutPercentage").count(), 1, "{err}");
    let err = load_str(&format!(
        "{PROJECT}apiVersion: ampx/v1\nkind: Experiment\nkey: e\nzzzzzzzz: 1\n"
    ))
    .unwrap_err()
    .to_string();
    assert!(err.contains("experimentType"), "{err}");
}

#[test]
fn a_plan_path_maps_to_its_manifest_line_or_the_override_that_sets_it() {
    let over = (
        "prod".to_string(),
        serde_json::json!({
            "rolloutPercentage": 5,
            "variants": [{"key": "on", "inclusions": ["a"]}, {"key": "off", "payload": {"x": 1}}]
        }),
    );
    let variants = ["off", "on"];
    let at = |p: &str| super::manifest_path(p, &variants, &[], Some(&over));
    let prod = Some("prod".to_string());
    assert_eq!(
        at("rolloutPercentage"),
        ("environments.prod.rolloutPercentage".into(), prod.clone())
    );
    assert_eq!(at("name"), ("name".into(), None));
    assert_eq!(
        at("variants.on.inclusions"),
        (
            "environments.prod.variants[0].inclusions".into(),
            prod.clone()
        )
    );
    // The override gives `on` only inclusions: its body is the base's.
    assert_eq!(at("variants.on"), ("variants[1]".into(), None));
    assert_eq!(
        at("variants.on.payload"),
        ("variants[1].payload".into(), None)
    );
    assert_eq!(
        at("variants.off"),
        ("environments.prod.variants[1]".into(), prod)
    );
    // Without an override, the base's lines.
    assert_eq!(
        super::manifest_path("variants.off.payload", &variants, &[], None),
        ("variants[0].payload".into(), None)
    );
}

#[test]
fn a_segment_is_found_by_name_in_the_list_that_sets_it() {
    let segments = ["beta", "staff"];
    let at = |p: &str, over: Option<&(String, serde_json::Value)>| {
        super::manifest_path(p, &[], &segments, over)
    };
    assert_eq!(
        at("targetSegments.staff", None),
        ("targetSegments[1]".into(), None)
    );
    assert_eq!(
        at("targetSegments[0]", None),
        ("targetSegments[0]".into(), None)
    );
    let over = (
        "prod".to_string(),
        serde_json::json!({"targetSegments": [{"name": "staff"}]}),
    );
    assert_eq!(
        at("targetSegments.staff", Some(&over)),
        (
            "environments.prod.targetSegments[0]".into(),
            Some("prod".into())
        )
    );
    assert_eq!(
        at("targetSegments[1]", Some(&over)),
        (
            "environments.prod.targetSegments[1]".into(),
            Some("prod".into())
        )
    );
}
