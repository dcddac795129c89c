//! Who changed each drifted object last. Attribution costs no request for
//! an object that did not drift, nor for one whose list entry names its last
//! modifier (experiments do); otherwise one `GET …/versions` for that object,
//! at most the client's parallelism at a time. Groups have no versions: their
//! own `lastModifiedBy`/`lastModifiedAt` say, when the API gives them.

use std::sync::Arc;

use serde_json::Value;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::api::{ApiError, Call, Client};
use crate::kind::Kind;
use crate::live::Live;
use crate::plan::{Attribution, Plan};

fn who(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) if s.is_empty() => None,
        Value::String(s) => Some(s.clone()),
        Value::Object(m) => ["email", "name", "id"]
            .iter()
            .find_map(|k| m.get(*k).and_then(who)),
        other => Some(other.to_string()),
    }
}

/// The newest entry of an object's version history (`call` is its `GET
/// …/versions`), whether the answer is a list or `{"versions": [...]}`.
pub async fn newest_version(client: &Client, call: &Call) -> Result<Option<Value>, ApiError> {
    Ok(match client.get_json(call).await? {
        Value::Array(vs) => vs.into_iter().next(),
        Value::Object(mut m) => match m.remove("versions") {
            Some(Value::Array(vs)) => vs.into_iter().next(),
            _ => None,
        },
        _ => None,
    })
}

/// Fills in `last_modified` for every object of the plan that exists live.
pub async fn attribute(client: &Arc<Client>, plan: &mut Plan, live: &Live) {
    let before = client.requests();
    let mut tasks = JoinSet::new();
    let permits = Arc::new(Semaphore::new(client.options.parallelism.max(1)));
    for (i, o) in plan.objects.iter_mut().enumerate() {
        let Some(kind) = o.kind.object_kind() else {
            // Groups have no versions: their own fields say, when they do.
            let (by, at) = match o.kind {
                Kind::Mutex => live
                    .mutexes
                    .as_ref()
                    .and_then(|ms| ms.get(&o.key))
                    .map(|m| (m.last_modified_by.clone(), m.last_modified_at.clone()))
                    .unwrap_or_default(),
                Kind::Holdout => live
                    .holdouts
                    .as_ref()
                    .and_then(|hs| hs.get(&o.key))
                    .map(|h| (h.last_modified_by.clone(), h.last_modified_at.clone()))
                    .unwrap_or_default(),
                _ => (None, None),
            };
            let by = by.as_ref().and_then(who);
            if by.is_some() || at.is_some() {
                o.last_modified = Some(Attribution {
                    by,
                    at,
                    source: "object".into(),
                });
            }
            continue;
        };
        let Some(lf) = live.objects(kind).get(&o.key) else {
            continue;
        };
        let by = lf.last_modified_by.as_ref().and_then(who);
        if by.is_some() {
            o.last_modified = Some(Attribution {
                by,
                at: lf.last_modified_at.clone(),
                source: "object".into(),
            });
            continue;
        }
        let call = Call::get(
            crate::plan::ApiPath::object(crate::kind::Kind::from(kind), Some(&lf.id))
                .join("versions")
                .to_string(),
            format!("history of {} {}", kind.noun(), o.key),
        );
        let fallback_at = lf.last_modified_at.clone();
        let (client, permits) = (client.clone(), permits.clone());
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await;
            let newest = match newest_version(&client, &call).await {
                Ok(v) => v,
                Err(e) => {
                    tracing::warn!("cannot read who changed it last: {e}");
                    None
                }
            };
            let attribution = match newest {
                Some(v) => Attribution {
                    by: v.get("createdBy").and_then(who),
                    at: v
                        .get("createdAt")
                        .and_then(Value::as_str)
                        .map(str::to_string)
                        .or(fallback_at),
                    source: "versions".into(),
                },
                None => Attribution {
                    by: None,
                    at: fallback_at,
                    source: "object".into(),
                },
            };
            (i, attribution)
        });
    }
    while let Some(done) = tasks.join_next().await {
        if let Ok((i, a)) = done {
            plan.objects[i].last_modified = Some(a);
        }
    }
    plan.requests += client.requests() - before;
}
