//! Environments: one manifest set for several projects (dev, staging,
//! prod). Each Project document names its `environment`; an object's
//! `environments.<name>` values are merged over its fields in that
//! environment (mappings key by key, `variants` by variant key, any other
//! list replaced whole), and `onlyIn` keeps it out of the others. Every
//! environment's effective manifests pass every check.

use serde::Serialize;

use super::*;

/// Merges `over` into `base`: mappings key by key, the object's own
/// `variants` by variant key, anything else replaced.
fn merge(base: &mut Value, over: &Value) {
    merge_at(base, over, true)
}

/// [`merge`], where `top` says whether `base` is the object itself: only
/// its own `variants` merge by key; a `variants` key deeper down (inside a
/// payload) is a value like any other.
fn merge_at(base: &mut Value, over: &Value, top: bool) {
    match (&mut *base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(k) {
                    Some(bv) if top && k == "variants" => merge_variants(bv, v),
                    Some(bv) if bv.is_object() && v.is_object() => merge_at(bv, v, false),
                    _ => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (b, o) => *b = o.clone(),
    }
}

/// Variants merged by their key (validation has refused an override that
/// names a variant the object does not have).
fn merge_variants(base: &mut Value, over: &Value) {
    let (Value::Array(b), Value::Array(o)) = (&mut *base, over) else {
        *base = over.clone();
        return;
    };
    for ov in o {
        let Some(key) = ov.get("key").filter(|k| !k.is_null()) else {
            continue;
        };
        if let Some(bv) = b.iter_mut().find(|bv| bv.get("key") == Some(key)) {
            merge_at(bv, ov, false);
        }
    }
}

/// Why an object's override does not read: the message, a hint when one
/// helps, and the top-level field it is about, when it is about one.
struct Unread {
    message: String,
    hint: Option<String>,
    field: Option<String>,
}

/// An object as it is in environment `env`: its `environments.<env>`
/// merged over its other fields; `environments` and `onlyIn` gone.
fn effective<T: Serialize + DeserializeOwned>(spec: &T, env: Option<&str>) -> Result<T, Unread> {
    let mut v = serde_json::to_value(spec).map_err(|e| Unread {
        message: e.to_string(),
        hint: None,
        field: None,
    })?;
    let over = env.and_then(|e| v.get("environments").and_then(|m| m.get(e)).cloned());
    if let Value::Object(m) = &mut v {
        // A `null` the type writes reads back as what it was.
        m.remove("environments");
        m.remove("onlyIn");
    }
    if let Some(o) = over {
        merge(&mut v, &o);
    }
    serde_path_to_error::deserialize(&v).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        // A field the type does not know, at the top level: where it
        // belongs if it is a variant's, or the name it is a typo of.
        if let Some((field, expected)) = unknown_field(&inner).filter(|(f, _)| *f == path) {
            let hint = if expected.iter().any(|f| f == "variants") {
                misplaced_variant_field(&field, &v, env)
            } else {
                None
            };
            let known: Vec<&str> = expected.iter().map(String::as_str).collect();
            let hint = hint.unwrap_or_else(|| match nearest(&field, &known) {
                Some(n) => format!("did you mean `{n}`?"),
                None => format!("known fields: {}", known.join(", ")),
            });
            return Unread {
                message: format!("`{field}`: unknown field `{field}`"),
                hint: Some(hint),
                field: Some(field),
            };
        }
        Unread {
            message: format!("`{path}`: {inner}"),
            hint: None,
            field: None,
        }
    })
}

/// Whether an object with this `onlyIn` exists in `env`.
fn exists_in(only_in: &Option<Vec<String>>, env: Option<&str>) -> bool {
    match (only_in, env) {
        (Some(list), Some(e)) => list.iter().any(|x| x == e),
        _ => true,
    }
}

/// The fields every kind of object shares for environments.
trait Scoped: Serialize + DeserializeOwned + Clone {
    fn environments(&self) -> &Option<BTreeMap<String, Value>>;
    fn only_in(&self) -> &Option<Vec<String>>;
    /// The identity an override may not change.
    const IDENTITY: &'static [&'static str];
    /// What the type's deserialisation leaves out and must be carried over.
    fn restore(&mut self, _from: &Self) {}
    /// Drops `environments` and `onlyIn`.
    fn clear(&mut self);
}

/// `Scoped` for a manifest type with `environments` and `only_in` fields.
macro_rules! scoped {
    ($ty:ty, [$($id:literal),*] $(, restore = $restore:expr)?) => {
        impl Scoped for $ty {
            fn environments(&self) -> &Option<BTreeMap<String, Value>> {
                &self.environments
            }
            fn only_in(&self) -> &Option<Vec<String>> {
                &self.only_in
            }
            fn clear(&mut self) {
                self.environments = None;
                self.only_in = None;
            }
            const IDENTITY: &'static [&'static str] = &[$($id),*];
            $(fn restore(&mut self, from: &Self) {
                let restore: fn(&mut Self, &Self) = $restore;
                restore(self, from)
            })?
        }
    };
}

// A flag's kind is not in its body: it comes from the document.
scoped!(
    FlagSpec,
    ["key", "kind"],
    restore = |to, from| to.kind = from.kind
);
scoped!(DeploymentSpec, ["label", "kind"]);
scoped!(MutexSpec, ["key", "kind"]);
scoped!(HoldoutSpec, ["key", "kind"]);

/// The objects of one kind in environment `env`, each as it is there;
/// an override that does not read is an error naming its place.
fn in_env<T: Scoped>(
    objects: &[Located<T>],
    env: Option<&str>,
    errors: &mut Vec<Diagnostic>,
) -> Vec<Located<T>> {
    let mut out = Vec::new();
    for o in objects.iter().filter(|o| exists_in(o.spec.only_in(), env)) {
        let overridden = env.is_some_and(|e| {
            o.spec
                .environments()
                .as_ref()
                .is_some_and(|m| m.contains_key(e))
        });
        if !overridden {
            // Nothing to merge: the object as it is.
            let mut spec = o.spec.clone();
            spec.clear();
            out.push(Located {
                spec,
                file: o.file.clone(),
                doc: o.doc.clone(),
                env_override: None,
            });
            continue;
        }
        match effective(&o.spec, env) {
            Ok(mut spec) => {
                spec.restore(&o.spec);
                let over = env.and_then(|e| {
                    let v = o.spec.environments().as_ref()?.get(e)?;
                    Some((e.to_string(), v.clone()))
                });
                out.push(Located {
                    spec,
                    file: o.file.clone(),
                    doc: o.doc.clone(),
                    env_override: over,
                });
            }
            Err(e) => {
                let at = format!("environments.{}", env.unwrap_or_default());
                let at = match &e.field {
                    Some(f) => format!("{at}.{f}"),
                    None => at,
                };
                errors.push(diag(
                    &o.file,
                    o.doc.pos(&at),
                    &format!(
                        "environment `{}`: the override does not read: {}",
                        env.unwrap_or_default(),
                        e.message
                    ),
                    e.hint,
                ))
            }
        }
    }
    out
}

/// Checks the `environments` and `onlyIn` of one object against the
/// environments the Projects declare.
fn check_scoped<T: Scoped>(o: &Located<T>, declared: &[String], errors: &mut Vec<Diagnostic>) {
    let names = |name: &str| {
        if declared.is_empty() {
            return "no Project names an `environment`".to_string();
        }
        let known: Vec<&str> = declared.iter().map(String::as_str).collect();
        let close = did_you_mean(name, &known);
        format!("{close}the Projects declare {}", known.join(", "))
    };
    for (name, over) in o.spec.environments().iter().flatten() {
        let at = format!("environments.{name}");
        if !declared.contains(name) {
            errors.push(diag(
                &o.file,
                o.doc.pos(&at),
                &format!("`environments.{name}` names an unknown environment"),
                Some(names(name)),
            ));
            continue;
        }
        let Value::Object(m) = over else {
            errors.push(diag(
                &o.file,
                o.doc.pos(&at),
                &format!("`environments.{name}` must be a mapping of fields"),
                None,
            ));
            continue;
        };
        for field in T::IDENTITY {
            if m.contains_key(*field) {
                errors.push(diag(
                    &o.file,
                    o.doc.pos(&format!("{at}.{field}")),
                    &format!("`environments.{name}` changes `{field}`, which is the object's identity in every environment"),
                    Some("declare a separate object (with `onlyIn`) instead".into()),
                ));
            }
        }
        for field in ["environments", "onlyIn"] {
            if m.contains_key(field) {
                errors.push(diag(
                    &o.file,
                    o.doc.pos(&format!("{at}.{field}")),
                    &format!("`environments.{name}` cannot hold `{field}`"),
                    None,
                ));
            }
        }
        // Variants merge by key: an override names variants the object has.
        if let Some(Value::Array(vs)) = m.get("variants") {
            let base = serde_json::to_value(&o.spec).unwrap_or(Value::Null);
            let known: Vec<&Value> = base["variants"]
                .as_array()
                .map(|a| a.iter().filter_map(|v| v.get("key")).collect())
                .unwrap_or_default();
            let keys: Vec<&str> = known.iter().filter_map(|k| k.as_str()).collect();
            for (i, v) in vs.iter().enumerate() {
                match v.get("key") {
                    Some(k) if known.contains(&k) => {}
                    Some(k) => errors.push(diag(
                        &o.file,
                        o.doc.pos(&format!("{at}.variants[{i}].key")),
                        &format!("`environments.{name}` names variant {k}, which the object does not declare"),
                        Some(format!(
                            "{}overrides merge variants by key: declare the variant in the object's own `variants`",
                            did_you_mean(k.as_str().unwrap_or_default(), &keys)
                        )),
                    )),
                    None => errors.push(diag(
                        &o.file,
                        o.doc.pos(&format!("{at}.variants[{i}]")),
                        &format!("`environments.{name}`: a variant needs its `key` to be merged"),
                        None,
                    )),
                }
            }
        }
    }
    for (i, name) in o.spec.only_in().iter().flatten().enumerate() {
        if !declared.contains(name) {
            errors.push(diag(
                &o.file,
                o.doc.pos(&format!("onlyIn[{i}]")),
                &format!("`onlyIn` names an unknown environment `{name}`"),
                Some(names(name)),
            ));
        }
    }
}

impl ManifestSet {
    /// [`for_env`](Self::for_env), taking the set: one Project and no
    /// override or `onlyIn` anywhere is the set as it is, with no copy.
    pub fn into_env(self, env: Option<&str>) -> Result<ManifestSet, Diagnostics> {
        let plain = self.projects.len() == 1
            && env.is_none_or(|e| self.project.spec.environment.as_deref() == Some(e))
            && self
                .flags
                .iter()
                .all(|f| f.spec.environments.is_none() && f.spec.only_in.is_none())
            && self
                .deployments
                .iter()
                .all(|d| d.spec.environments.is_none() && d.spec.only_in.is_none())
            && self
                .mutexes
                .iter()
                .all(|g| g.spec.environments.is_none() && g.spec.only_in.is_none())
            && self
                .holdouts
                .iter()
                .all(|g| g.spec.environments.is_none() && g.spec.only_in.is_none());
        if plain {
            Ok(self)
        } else {
            self.for_env(env)
        }
    }

    /// The environments the Project documents name, in their order.
    pub fn environments(&self) -> Vec<String> {
        self.projects
            .iter()
            .filter_map(|p| p.spec.environment.clone())
            .collect()
    }

    /// The manifests as they are in environment `env` (`None`: the only
    /// Project's): that Project, and every object that exists there with
    /// its overrides merged in.
    pub fn for_env(&self, env: Option<&str>) -> Result<ManifestSet, Diagnostics> {
        let project = match env {
            None if self.projects.len() > 1 => {
                return Err(Diagnostics(vec![diag(
                    &self.project.file,
                    self.project.doc.start,
                    &format!(
                        "the manifests describe several environments ({}): name one with --env",
                        self.environments().join(", ")
                    ),
                    Some("or use --all-envs where the command takes it".into()),
                )]))
            }
            None => self.project.clone(),
            Some(name) => match self
                .projects
                .iter()
                .find(|p| p.spec.environment.as_deref() == Some(name))
            {
                Some(p) => p.clone(),
                None => {
                    return Err(Diagnostics(vec![diag(
                        &self.project.file,
                        self.project.doc.start,
                        &format!("no Project document names the environment `{name}`"),
                        Some(if self.environments().is_empty() {
                            "add `environment: NAME` to the Project".to_string()
                        } else {
                            let known = self.environments();
                            let known: Vec<&str> = known.iter().map(String::as_str).collect();
                            let close = did_you_mean(name, &known);
                            format!("{close}known environments: {}", known.join(", "))
                        }),
                    )]))
                }
            },
        };
        let env = project.spec.environment.clone();
        let env = env.as_deref();
        let mut errors = Vec::new();
        let set = ManifestSet {
            flags: in_env(&self.flags, env, &mut errors),
            deployments: in_env(&self.deployments, env, &mut errors),
            mutexes: in_env(&self.mutexes, env, &mut errors),
            holdouts: in_env(&self.holdouts, env, &mut errors),
            projects: vec![project.clone()],
            project,
            policy: self.policy.clone(),
            schedules: Vec::new(),
            sources: self.sources.clone(),
            skipped: self.skipped.clone(),
            elsewhere: self
                .flags
                .iter()
                .filter(|f| !exists_in(&f.spec.only_in, env))
                .map(|f| (f.spec.kind, f.spec.key.clone()))
                .collect(),
        };
        if errors.is_empty() {
            Ok(set)
        } else {
            Err(Diagnostics(errors))
        }
    }
}

/// The environment checks of a loaded set: Project documents with distinct
/// environments, overrides and `onlyIn` that name them, and every
/// environment's effective manifests passing every check.
pub(super) fn check(set: &ManifestSet, errors: &mut Vec<Diagnostic>) {
    let mut declared: Vec<String> = Vec::new();
    for p in &set.projects {
        match &p.spec.environment {
            Some(e) if declared.contains(e) => errors.push(diag(
                &p.file,
                p.doc.pos("environment"),
                &format!("a second Project for environment `{e}`"),
                Some("each Project document names a different environment".into()),
            )),
            Some(e) if e.trim().is_empty() => errors.push(diag(
                &p.file,
                p.doc.pos("environment"),
                "`environment` must not be empty",
                None,
            )),
            Some(e) => declared.push(e.clone()),
            None if set.projects.len() > 1 => errors.push(diag(
                &p.file,
                p.doc.pos("id"),
                "with several Project documents, each names its `environment`",
                Some("add `environment: NAME` (dev, staging, prod…)".into()),
            )),
            None => {}
        }
    }
    for f in &set.flags {
        check_scoped(f, &declared, errors);
    }
    for d in &set.deployments {
        check_scoped(d, &declared, errors);
    }
    for g in &set.mutexes {
        check_scoped(g, &declared, errors);
    }
    for g in &set.holdouts {
        check_scoped(g, &declared, errors);
    }
    if !errors.is_empty() {
        return;
    }
    let scoped = set
        .flags
        .iter()
        .any(|f| f.spec.environments.is_some() || f.spec.only_in.is_some())
        || set
            .deployments
            .iter()
            .any(|d| d.spec.environments.is_some() || d.spec.only_in.is_some())
        || set
            .mutexes
            .iter()
            .any(|g| g.spec.environments.is_some() || g.spec.only_in.is_some())
        || set
            .holdouts
            .iter()
            .any(|g| g.spec.environments.is_some() || g.spec.only_in.is_some());
    if !scoped {
        return;
    }
    // Every environment's effective manifests pass every check.
    for env in &declared {
        let effective = match set.for_env(Some(env)) {
            Ok(e) => e,
            Err(d) => {
                errors.extend(d.0);
                continue;
            }
        };
        let mut found = Vec::new();
        for f in &effective.flags {
            validate_flag(f, &mut found);
        }
        for d in &effective.deployments {
            groups::validate_deployment(d, &mut found);
        }
        for g in &effective.mutexes {
            groups::validate_mutex(g, &mut found);
        }
        for g in &effective.holdouts {
            groups::validate_holdout(g, &mut found);
        }
        groups::check_references(
            &effective.flags,
            &effective.deployments,
            &effective.mutexes,
            &effective.holdouts,
            &mut found,
        );
        for mut d in found {
            d.message = format!("environment `{env}`: {}", d.message);
            if !errors
                .iter()
                .any(|e| e.file == d.file && e.pos == d.pos && e.message == d.message)
            {
                errors.push(d);
            }
        }
    }
}

#[cfg(test)]
#[path = "envs_tests.rs"]
mod tests;
