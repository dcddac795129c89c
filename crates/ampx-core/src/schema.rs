//! The manifests' JSON Schema, generated from the manifest types (schemars),
//! for editors (yaml-language-server) and CI linters. One document schema per
//! kind, chosen by `kind`; unknown fields are refused, as `ampx validate` does.

use schemars::schema_for;
use serde_json::{json, Map, Value};

use crate::manifest::{
    DeploymentSpec, FlagSpec, HoldoutSpec, MutexSpec, PolicySpec, ProjectSpec, EXPERIMENT_FIELDS,
};

/// Turns a struct's schema into a document schema for `kind`.
fn document(mut schema: Value, kind: &str, drop: &[&str], defs: &mut Map<String, Value>) -> Value {
    if let Some(Value::Object(d)) = schema.get_mut("$defs").map(Value::take) {
        defs.extend(d);
    }
    let obj = schema
        .as_object_mut()
        .expect("a struct schema is an object");
    obj.remove("$schema");
    obj.remove("$defs");
    obj.remove("title");
    let mut props = Map::new();
    props.insert("apiVersion".into(), json!({"const": "ampx/v1"}));
    props.insert("kind".into(), json!({"const": kind}));
    if let Some(Value::Object(p)) = obj.remove("properties") {
        for (k, v) in p {
            if !drop.contains(&k.as_str()) {
                props.insert(k, v);
            }
        }
    }
    let mut required = vec![json!("apiVersion"), json!("kind")];
    if let Some(Value::Array(r)) = obj.remove("required") {
        required.extend(r);
    }
    json!({
        "title": format!("ampx {kind}"),
        "type": "object",
        "properties": props,
        "required": required,
        "additionalProperties": false,
    })
}

/// The whole schema, as pretty JSON with a trailing newline.
pub fn schema_json() -> String {
    let mut defs = Map::new();
    let project = document(
        serde_json::to_value(schema_for!(ProjectSpec)).unwrap_or_default(),
        "Project",
        &[],
        &mut defs,
    );
    let flag_schema = serde_json::to_value(schema_for!(FlagSpec)).unwrap_or_default();
    let flag = document(flag_schema.clone(), "Flag", EXPERIMENT_FIELDS, &mut defs);
    let experiment = document(flag_schema, "Experiment", &[], &mut defs);
    let deployment = document(
        serde_json::to_value(schema_for!(DeploymentSpec)).unwrap_or_default(),
        "Deployment",
        &[],
        &mut defs,
    );
    let mutex = document(
        serde_json::to_value(schema_for!(MutexSpec)).unwrap_or_default(),
        "MutexGroup",
        &[],
        &mut defs,
    );
    let holdout = document(
        serde_json::to_value(schema_for!(HoldoutSpec)).unwrap_or_default(),
        "HoldoutGroup",
        &[],
        &mut defs,
    );
    let policy = document(
        serde_json::to_value(schema_for!(PolicySpec)).unwrap_or_default(),
        "Policy",
        &[],
        &mut defs,
    );
    let doc = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "ampx manifest",
        "description": "One document of an ampx manifest set (apiVersion ampx/v1).",
        "type": "object",
        "required": ["apiVersion", "kind"],
        "oneOf": [project, flag, experiment, deployment, mutex, holdout, policy],
        "$defs": defs,
    });
    format!(
        "{}\n",
        serde_json::to_string_pretty(&doc).unwrap_or_default()
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn committed_schema_is_fresh() {
        let committed = include_str!("../../../schemas/ampx.schema.json");
        assert!(
            committed == super::schema_json(),
            "schemas/ampx.schema.json is stale: run `cargo run -- schema > schemas/ampx.schema.json`"
        );
    }
}
