//! The plan's vocabulary, as data: a call (`Op`: its method, path, body,
//! the ids apply fills in and how apply recognises a lost answer), everything
//! a plan does to one object (`ObjectPlan`), and the plan. The diff builds
//! calls from these; apply, saved plans, rendering and drift read them and
//! never parse a string back.

use serde_json::Value;

use crate::change::{Action, Change};
use crate::kind::Kind;

/// A call's path, as segments after `/api/1`: words of the API
/// (`flags`, `variants`), and keys and ids, which are percent-encoded when
/// the path is shown or sent; and, for an object the plan creates, its own
/// id, which apply learns from the create's answer (shown as `{id}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiPath(Vec<Seg>);

/// One segment of an [`ApiPath`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    /// Text as it is meant (a word of the API, a key, an id).
    Text(String),
    /// The id of the object this plan entry creates.
    OwnId,
}

impl ApiPath {
    /// `/api/1/<collection>`.
    pub fn collection(kind: Kind) -> ApiPath {
        ApiPath(vec![Seg::Text(kind.collection().to_string())])
    }

    /// `/api/1/<collection>/<id>`; without an id, the id the plan entry's
    /// create will answer.
    pub fn object(kind: Kind, id: Option<&str>) -> ApiPath {
        let mut p = ApiPath::collection(kind);
        p.0.push(id.map_or(Seg::OwnId, |i| Seg::Text(i.to_string())));
        p
    }

    /// The path with one more segment: `text` as it is meant; it is
    /// percent-encoded when shown or sent.
    pub fn join(mut self, text: &str) -> ApiPath {
        self.0.push(Seg::Text(text.to_string()));
        self
    }

    /// Whether the path names the id its entry's create will answer.
    pub fn needs_own_id(&self) -> bool {
        self.0.contains(&Seg::OwnId)
    }

    /// The path with the entry's own id in place.
    pub fn with_own_id(&self, id: &str) -> ApiPath {
        ApiPath(
            self.0
                .iter()
                .map(|s| match s {
                    Seg::OwnId => Seg::Text(id.to_string()),
                    other => other.clone(),
                })
                .collect(),
        )
    }

    /// The path as sent, with the entry's own id shown as `own_id`.
    pub fn render(&self, own_id: &str) -> String {
        let mut out = String::from("/api/1");
        for s in &self.0 {
            out.push('/');
            match s {
                Seg::Text(t) => out.push_str(&crate::plan::enc(t)),
                Seg::OwnId => out.push_str(own_id),
            }
        }
        out
    }

    /// Reads a path as [`Display`](std::fmt::Display) writes it (a saved
    /// plan's): `/api/1/` and then percent-encoded segments or `{id}`.
    /// Anything else is refused: a path can only name this API's resources.
    pub fn parse(text: &str) -> Result<ApiPath, String> {
        let rest = text
            .strip_prefix("/api/1/")
            .ok_or_else(|| format!("`{text}` is not a path under /api/1/"))?;
        let mut segs = Vec::new();
        for raw in rest.split('/') {
            if raw == "{id}" {
                segs.push(Seg::OwnId);
                continue;
            }
            let plain = raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.~%".contains(&b));
            let decoded = percent_encoding::percent_decode_str(raw)
                .decode_utf8()
                .map_err(|_| format!("`{text}`: a segment is not UTF-8"))?;
            if !plain || decoded.is_empty() || decoded == "." || decoded == ".." {
                return Err(format!("`{text}`: `{raw}` is not a path segment"));
            }
            segs.push(Seg::Text(decoded.into_owned()));
        }
        Ok(ApiPath(segs))
    }
}

impl std::fmt::Display for ApiPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.render("{id}"))
    }
}

impl serde::Serialize for ApiPath {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for ApiPath {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        ApiPath::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// The HTTP method of a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    Get,
    Post,
    Patch,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

impl PartialEq<&str> for Method {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// How apply recognises, when a retry after a lost answer is refused, that
/// the lost attempt was carried out. The diff that makes a call knows what
/// it does, so it says; apply never guesses from the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Recovery {
    /// Repeating the call is harmless (or a refusal is a real error).
    #[default]
    None,
    /// Creates the object: a 409 means it exists, and apply looks its id up
    /// by key (also when the answer carries no id).
    Create,
    /// Adds something a retry then finds present: a 409 means done.
    ConflictIsDone,
    /// Removes or renames something a retry then no longer finds: a 404
    /// means done.
    GoneIsDone,
}

impl Recovery {
    pub fn is_none(&self) -> bool {
        *self == Recovery::None
    }
}

/// The id of an object the plan creates, which apply learns from the
/// create's answer and writes into the calls that name that object.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IdRef {
    pub kind: Kind,
    pub key: String,
}

impl IdRef {
    pub fn new(kind: Kind, key: &str) -> IdRef {
        IdRef {
            kind,
            key: key.to_string(),
        }
    }

    /// `COLL/KEY`, as plans name objects ([`object_name`]).
    pub fn name(&self) -> String {
        format!("{}/{}", self.kind.collection(), self.key)
    }

    /// How a body shows the id until apply knows it: `{id:COLL/KEY}` for the
    /// id as a string, `{n:COLL/KEY}` for it as a number. Calls carry the
    /// places to fill ([`Fill`]); the text is for the reader.
    pub fn placeholder(&self, numeric: bool) -> String {
        format!("{{{}:{}}}", if numeric { "n" } else { "id" }, self.name())
    }

    /// The object and numeric flag a [`placeholder`](Self::placeholder)
    /// stands for.
    pub fn from_placeholder(text: &str) -> Option<(IdRef, bool)> {
        let inner = text.strip_prefix('{')?.strip_suffix('}')?;
        let (numeric, name) = match inner.strip_prefix("n:") {
            Some(name) => (true, name),
            None => (false, inner.strip_prefix("id:")?),
        };
        let (coll, key) = name.split_once('/')?;
        Some((IdRef::new(Kind::from_collection(coll)?, key), numeric))
    }
}

/// A place in a call's body where apply writes an id it learned.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Fill {
    /// Where, as a JSON pointer into the body (RFC 6901).
    pub at: String,
    pub id: IdRef,
    /// Written as a number when the id is one (the group endpoints take
    /// numbers), else as a string.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub numeric: bool,
}

/// The body fields that hold lists of object ids: a flag's `deployments`,
/// a group's `experiments` and `holdouts`, a mutex slot's lists.
const ID_LISTS: [&str; 3] = ["deployments", "experiments", "holdouts"];

/// The places in `body` where the plan put the id of an object it creates
/// (see [`crate::diff::groups::placeholder`]). Only the API's id lists are
/// looked at: text a user wrote (a payload, a name) is never an id to fill.
fn id_fills(body: &Value) -> Vec<Fill> {
    let mut out = Vec::new();
    let mut lists = |v: &Value, prefix: &str| {
        for field in ID_LISTS {
            let Some(Value::Array(items)) = v.get(field) else {
                continue;
            };
            for (i, item) in items.iter().enumerate() {
                if let Some((id, numeric)) = item.as_str().and_then(IdRef::from_placeholder) {
                    out.push(Fill {
                        at: format!("{prefix}/{field}/{i}"),
                        id,
                        numeric,
                    });
                }
            }
        }
    };
    lists(body, "");
    if let Some(Value::Array(slots)) = body.get("slots") {
        for (i, slot) in slots.iter().enumerate() {
            lists(slot, &format!("/slots/{i}"));
        }
    }
    out
}

/// One API call of a plan.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Op {
    pub method: Method,
    pub path: ApiPath,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
    pub summary: String,
    #[serde(default, skip_serializing_if = "Recovery::is_none")]
    pub recovery: Recovery,
    /// Ids apply writes into the body once it knows them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fills: Vec<Fill>,
}

impl Op {
    /// A call that repeating is harmless (see [`Recovery`]).
    pub fn new(method: Method, path: ApiPath, body: Option<Value>, summary: String) -> Op {
        Op {
            method,
            fills: body.as_ref().map(id_fills).unwrap_or_default(),
            path,
            body,
            summary,
            recovery: Recovery::None,
        }
    }

    /// The same call, recovered as `recovery` says after a lost answer.
    pub fn recovered(mut self, recovery: Recovery) -> Op {
        self.recovery = recovery;
        self
    }
}

/// Everything a plan does to one object.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ObjectPlan {
    pub kind: Kind,
    pub key: String,
    pub id: Option<String>,
    /// Read-only live facts (an experiment's state, decision).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub context: Vec<String>,
    pub action: Action,
    /// Archiving: the object stops serving (and leaves its groups).
    pub destructive: bool,
    /// An archive that prune asks for: no manifest names the object.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pruned: bool,
    /// Who changed the live object last and when (drift reports only).
    #[serde(
        rename = "lastModified",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub last_modified: Option<Attribution>,
    pub changes: Vec<Change>,
    pub warnings: Vec<String>,
    pub ops: Vec<Op>,
    /// Objects of the plan (`COLL/KEY`, e.g. `deployments/web`) whose calls
    /// must all succeed before this object's calls start.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub after: Vec<String>,
}

/// The last change of a live object, as the API records it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Attribution {
    /// The user (id or email) the API names; `None` when it names nobody.
    pub by: Option<String>,
    /// When, as the API gives it (RFC 3339).
    pub at: Option<String>,
    /// Where it came from: `object` (its lastModified fields) or `versions`
    /// (its newest version entry).
    pub source: String,
}

/// A whole plan.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Plan {
    pub objects: Vec<ObjectPlan>,
    /// API requests made to read the live state.
    pub requests: usize,
    /// What the plan could not compare, because no answer shows it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unknown: Vec<Unknown>,
    /// The server and project the plan was made against, for its header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Target>,
    /// Drift: live objects no manifest names, which ampx leaves alone
    /// unless prune is on (then they are archives in `objects`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unmanaged: Vec<Unmanaged>,
    /// `--target`: the plan holds only the named objects and what they need.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selected: Option<Selection>,
    /// Where each rollout schedule stands: the step in force and the next.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub schedules: Vec<crate::policy::Scheduled>,
}

/// What `--target` kept of a plan.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Selection {
    /// The objects named, as `KIND/KEY`.
    pub targets: Vec<String>,
    /// Objects of the plan the targets need first (`COLL/KEY`), kept too.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub needed: Vec<String>,
    /// Objects that differ but were left out, prune's archives included.
    #[serde(rename = "leftOut")]
    pub left_out: usize,
}

/// Live objects of one kind that no manifest names.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Unmanaged {
    pub kind: Kind,
    pub keys: Vec<String>,
}

/// Where a plan's calls go: the API's base URL and the project.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Target {
    pub server: String,
    pub project: String,
    /// The environment, when the manifests describe several.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(e) = &self.environment {
            write!(f, "environment {e}, ")?;
        }
        write!(f, "project {} on {}", self.project, self.server)
    }
}

/// A field the plan could not compare (no answer of the API shows it) or
/// an object it left alone, for every object of one kind it holds for:
/// the plan writes nothing computed from it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Unknown {
    pub kind: Kind,
    pub field: String,
    /// What ampx did about it.
    pub note: String,
    /// The objects, by key (a deployment by label).
    pub keys: Vec<String>,
}

/// `(kind, key, field, note)` entries grouped by kind, field and note.
pub fn group_unknown(
    entries: impl IntoIterator<Item = (Kind, String, String, String)>,
) -> Vec<Unknown> {
    let mut groups: std::collections::BTreeMap<(Kind, String, String), Vec<String>> =
        std::collections::BTreeMap::new();
    for (kind, key, field, note) in entries {
        groups.entry((kind, field, note)).or_default().push(key);
    }
    groups
        .into_iter()
        .map(|((kind, field, note), keys)| Unknown {
            kind,
            field,
            note,
            keys,
        })
        .collect()
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    /// Keeps only the objects `targets` names (kind and key; a deployment
    /// by label) and the objects of the plan they must wait for, in the
    /// plan's order. Prune's archives are never kept: prune is off under a
    /// selection.
    pub fn select(&mut self, targets: &[(Kind, String)]) {
        use std::collections::HashSet;
        let name = |o: &ObjectPlan| format!("{}/{}", o.kind.collection(), o.key);
        let mut keep: HashSet<String> = self
            .objects
            .iter()
            .filter(|o| !o.pruned && targets.iter().any(|(k, key)| *k == o.kind && *key == o.key))
            .map(name)
            .collect();
        let in_plan: HashSet<String> = self.objects.iter().map(name).collect();
        let mut needed = Vec::new();
        loop {
            let more: Vec<String> = self
                .objects
                .iter()
                .filter(|o| keep.contains(&name(o)))
                .flat_map(|o| o.after.iter())
                .filter(|a| in_plan.contains(*a) && !keep.contains(*a))
                .cloned()
                .collect();
            if more.is_empty() {
                break;
            }
            for a in more {
                if keep.insert(a.clone()) {
                    needed.push(a);
                }
            }
        }
        let before = self.objects.len();
        self.objects.retain(|o| keep.contains(&name(o)));
        self.selected = Some(Selection {
            targets: targets
                .iter()
                .map(|(k, key)| format!("{}/{key}", k.noun().replace(' ', "-")))
                .collect(),
            needed,
            left_out: before - self.objects.len(),
        });
    }
    pub fn op_count(&self) -> usize {
        self.objects.iter().map(|o| o.ops.len()).sum()
    }
    pub fn count(&self, action: Action) -> usize {
        self.objects.iter().filter(|o| o.action == action).count()
    }
    pub fn warnings(&self) -> impl Iterator<Item = &String> {
        self.objects.iter().flat_map(|o| o.warnings.iter())
    }
}

/// `COLL/KEY` of an object plan.
pub fn object_name(o: &ObjectPlan) -> String {
    format!("{}/{}", o.kind.collection(), o.key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_encode_keys_and_fill_in_the_own_id() {
        let p = ApiPath::object(Kind::Flag, None)
            .join("variants")
            .join("a b/é");
        assert_eq!(p.to_string(), "/api/1/flags/{id}/variants/a%20b%2F%C3%A9");
        assert!(p.needs_own_id());
        let sent = p.with_own_id("1001");
        assert!(!sent.needs_own_id());
        assert_eq!(
            sent.to_string(),
            "/api/1/flags/1001/variants/a%20b%2F%C3%A9"
        );
        assert_eq!(
            p.render("<id of f>"),
            "/api/1/flags/<id of f>/variants/a%20b%2F%C3%A9"
        );
    }

    #[test]
    fn a_saved_path_reads_back_and_nothing_else_does() {
        let p = ApiPath::object(Kind::Mutex, Some("40"))
            .join("slots")
            .join("2");
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(json, "/api/1/mutexes/40/slots/2");
        assert_eq!(serde_json::from_value::<ApiPath>(json).unwrap(), p);
        let own = ApiPath::object(Kind::Flag, None)
            .join("variants")
            .join("on x");
        assert_eq!(ApiPath::parse(&own.to_string()).unwrap(), own);
        for bad in [
            "@127.0.0.1:38722/steal",
            "/api/1/flags/../../steal",
            "/api/1/flags/./x",
            "/api/2/flags",
            "/api/1/flags//x",
            "/api/1/flags/a b",
            "/api/1/flags/x?y=1",
            "/api/1/flags/%2E%2E",
        ] {
            assert!(ApiPath::parse(bad).is_err(), "{bad} was read as a path");
        }
    }
}
