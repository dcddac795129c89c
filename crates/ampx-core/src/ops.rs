//! The plan's vocabulary, as data: a call (`Op`: its method, path, body,
//! the ids apply fills in and how apply recognises a lost answer), everything
//! a plan does to one object (`ObjectPlan`), and the plan. The diff builds
//! calls from these; apply, saved plans, rendering and drift read them and
//! never parse a string back.

use serde_json::Value;

use crate::change::{Action, Change};
use crate::kind::Kind;

/// Placeholder for the id of an object that the plan itself creates.
pub const ID: &str = "{id}";

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
    /// Path; `{id}` stands for the id of an object created earlier in the plan.
    pub path: String,
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
    pub fn new(method: Method, path: String, body: Option<Value>, summary: String) -> Op {
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
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
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
