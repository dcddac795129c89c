//! HTTP surface: the route table, the extractors that turn bad input into the
//! API's JSON errors, the middleware that records and authorizes, and the
//! one that injects faults.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::rejection::RawPathParamsRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, RawPathParams, Request, State};
use axum::http::header::{AUTHORIZATION, RETRY_AFTER};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch, post};
use axum::{Extension, Json, Router};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use super::faults::Verdict;
use super::store::{Collection, GroupKind, IdList, GROUPS_URL};
use super::support::ApiError;
use super::{RequestRecord, Shared};

/// Largest request body the emulator reads.
const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

type AppState = Arc<Shared>;
type ApiResult<T> = Result<T, ApiError>;

/// What every successful write other than a create answers.
const OK: &str = "OK";

pub(crate) fn router(shared: AppState) -> Router {
    Router::new()
        .merge(object_routes(&shared, "/api/1/flags", Collection::Flags))
        .merge(object_routes(
            &shared,
            "/api/1/experiments",
            Collection::Experiments,
        ))
        .route(
            "/api/1/deployments",
            get(list_deployments).post(create_deployment),
        )
        .route(
            "/api/1/deployments/{id}",
            get(get_deployment).patch(patch_deployment),
        )
        .route("/api/1/versions", get(list_all_versions))
        .merge(group_routes("/api/1/mutexes", GroupKind::Mutex))
        .merge(group_routes("/api/1/holdouts", GroupKind::Holdout))
        .fallback(not_found)
        .method_not_allowed_fallback(not_found)
        // Layers added later run first: record and authorize, then faults.
        .layer(middleware::from_fn_with_state(
            shared.clone(),
            inject_faults,
        ))
        .layer(middleware::from_fn_with_state(
            shared.clone(),
            record_and_authorize,
        ))
        .with_state(shared)
}

/// One route tree for flags or experiments; the handlers learn which from
/// the `Collection` extension. In lenient mode experiments also get
/// `activate`, `deactivate` and `rollout-weights`, which the current docs
/// pages do not show.
fn object_routes(shared: &AppState, base: &str, collection: Collection) -> Router<AppState> {
    let variant = format!("{base}/{{id}}/variants/{{variant}}");
    let mut routes = Router::new()
        .route(base, get(list_objects).post(create_object))
        .route(
            &format!("{base}/{{id}}"),
            get(get_object).patch(patch_object),
        )
        .route(
            &format!("{base}/{{id}}/variants"),
            get(list_variants).post(create_variant),
        )
        .route(
            &variant,
            get(get_variant).patch(patch_variant).delete(delete_variant),
        )
        .route(
            &format!("{variant}/users"),
            get(list_users).post(add_users).delete(clear_users),
        )
        .route(&format!("{variant}/users/{{index}}"), delete(remove_user))
        .route(
            &format!("{variant}/bulk-delete-users"),
            delete(bulk_delete_users),
        )
        .route(
            &format!("{variant}/cohorts"),
            get(list_cohorts).post(add_cohorts),
        )
        .route(
            &format!("{variant}/bulk-delete-cohorts"),
            delete(bulk_delete_cohorts),
        )
        .route(
            &format!("{base}/{{id}}/deployments"),
            get(list_object_deployments).post(add_object_deployments),
        )
        .route(
            &format!("{base}/{{id}}/deployments/{{deployment}}"),
            delete(remove_object_deployment),
        )
        .route(&format!("{base}/{{id}}/versions"), get(list_versions))
        .route(
            &format!("{base}/{{id}}/versions/{{version}}"),
            get(get_version),
        );
    if collection == Collection::Experiments && shared.lenient {
        routes = routes
            .route(&format!("{base}/{{id}}/activate"), post(activate))
            .route(&format!("{base}/{{id}}/deactivate"), post(deactivate))
            .route(
                &format!("{base}/{{id}}/rollout-weights"),
                post(set_rollout_weights),
            );
    }
    routes
        .route_layer(middleware::from_fn_with_state(
            shared.clone(),
            refuse_read_only_writes,
        ))
        .layer(Extension(collection))
}

/// One route tree for mutex or holdout groups; the handlers learn which from
/// the `GroupKind` extension. Mutex groups also get their slots.
fn group_routes(base: &str, kind: GroupKind) -> Router<AppState> {
    let mut routes = Router::new()
        .route(base, get(list_groups).post(create_group))
        .route(&format!("{base}/{{id}}"), get(get_group).patch(patch_group));
    if kind == GroupKind::Mutex {
        routes = routes.route(&format!("{base}/{{id}}/slots/{{index}}"), patch(patch_slot));
    }
    routes.layer(Extension(kind))
}

/// Answers every write to a web experiment with a 405 before its body is
/// read, so that the 405 comes first whatever the body holds. (The store
/// refuses such writes too; this only sets the order.)
async fn refuse_read_only_writes(
    State(sh): State<AppState>,
    Extension(coll): Coll,
    params: Result<RawPathParams, RawPathParamsRejection>,
    request: Request,
    next: Next,
) -> Response {
    if request.method() != Method::GET {
        let id = params.ok().and_then(|p| {
            p.iter()
                .find(|(name, _)| *name == "id")
                .map(|(_, v)| v.to_owned())
        });
        if let Some(id) = id {
            if let Err(e) = sh.read(|s| s.check_writable(coll, &id)) {
                return e.into_response();
            }
        }
    }
    next.run(request).await
}

/// Records every request (before authorization, so 401s are seen too), then
/// lets through only `Authorization: Bearer <api_key>`.
async fn record_and_authorize(
    State(shared): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_BODY_BYTES).await;
    let json = bytes
        .as_ref()
        .ok()
        .filter(|b| !b.is_empty())
        .and_then(|b| serde_json::from_slice(b).ok());
    tracing::debug!(method = %parts.method, path = parts.uri.path(), "emulator request");
    let seq = shared.record(RequestRecord {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().unwrap_or("").to_owned(),
        body: json,
        fault: None,
    });
    let authorized = parts
        .headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|key| key == shared.api_key);
    if !authorized {
        return ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid or missing API key: send `Authorization: Bearer <management-api-key>`",
        )
        .into_response();
    }
    match bytes {
        Ok(bytes) => {
            let mut request = Request::from_parts(parts, Body::from(bytes));
            request.extensions_mut().insert(seq);
            next.run(request).await
        }
        Err(_) => {
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "request body too large").into_response()
        }
    }
}

/// Injects the configured faults into authorized `/api/1` requests (see the
/// module documentation of `emulator` for what and in which order).
async fn inject_faults(State(shared): State<AppState>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    if path != "/api/1" && !path.starts_with("/api/1/") {
        return next.run(request).await;
    }
    if let Some(latency) = shared.fault_latency() {
        tokio::time::sleep(latency).await;
    }
    let is_write = matches!(
        *request.method(),
        Method::POST | Method::PATCH | Method::DELETE | Method::PUT
    );
    let seq = request.extensions().get().copied();
    match shared.judge(is_write) {
        Verdict::RateLimited { retry_after, json } => {
            shared.note_fault(seq, "rate-limited".to_owned());
            let mut answer = fault_answer(
                StatusCode::TOO_MANY_REQUESTS,
                json,
                "rate limit exceeded (fault injected by the ampx emulator)",
            );
            if let Some(seconds) = retry_after {
                answer.headers_mut().insert(RETRY_AFTER, seconds.into());
            }
            answer
        }
        Verdict::Fail { status, json } => {
            shared.note_fault(seq, format!("error {}", status.as_u16()));
            fault_answer(
                status,
                json,
                "server error (fault injected by the ampx emulator; nothing was changed)",
            )
        }
        Verdict::Pass { lose } => {
            let answer = next.run(request).await;
            match lose {
                Some((status, json)) if answer.status().is_success() => {
                    shared.note_fault(seq, format!("lost answer {}", status.as_u16()));
                    fault_answer(
                        status,
                        json,
                        "upstream answer lost (fault injected by the ampx emulator; the change WAS made)",
                    )
                }
                _ => answer,
            }
        }
    }
}

/// An injected error: the API's JSON error shape, or plain text like a
/// gateway's.
fn fault_answer(status: StatusCode, json: bool, message: &str) -> Response {
    if json {
        ApiError::new(status, message).into_response()
    } else {
        let reason = status.canonical_reason().unwrap_or("Error");
        (status, format!("{} {reason}: {message}", status.as_u16())).into_response()
    }
}

async fn not_found(request: Request) -> ApiError {
    ApiError::not_found(format!(
        "no such endpoint: {} {}",
        request.method(),
        request.uri().path()
    ))
}

/// A JSON request body; malformed or missing JSON is a 400 with a message.
/// Unlike axum's `Json`, it does not insist on a `Content-Type`.
struct JsonBody(Value);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(request, state).await.map_err(|e| {
            ApiError::bad_request(format!("could not read the body: {}", e.body_text()))
        })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::bad_request("a JSON request body is required"));
        }
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|e| ApiError::bad_request(format!("malformed JSON body: {e}")))
    }
}

/// Path parameters, with a JSON 400 when they cannot be read.
struct Params<T>(T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(value)| Params(value))
            .map_err(|e| ApiError::bad_request(e.body_text()))
    }
}

/// Query parameters as a map, with a JSON 400 when they cannot be read.
struct QueryMap(HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for QueryMap {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Query::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map(|Query(map)| QueryMap(map))
            .map_err(|e| ApiError::bad_request(e.body_text()))
    }
}

type Coll = Extension<Collection>;

// ----- flags and experiments -----

async fn list_objects(
    State(sh): State<AppState>,
    Extension(coll): Coll,
    QueryMap(query): QueryMap,
) -> ApiResult<Json<Value>> {
    sh.read(|s| s.list(coll, &query, sh.page_size)).map(Json)
}

async fn create_object(
    State(sh): State<AppState>,
    Extension(coll): Coll,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    let (id, project) = sh.write(|s| {
        let id = s.create(coll, &body, false)?;
        let project = s.object_project(coll, id).unwrap_or_default().to_owned();
        Ok((id, project))
    })?;
    Ok(Json(json!({
        "id": id.to_string(),
        "url": format!("http://experiment.amplitude.com/amplitude/{project}/config/{id}"),
    })))
}

async fn get_object(
    State(sh): State<AppState>,
    Extension(coll): Coll,
    Params(id): Params<String>,
) -> ApiResult<Json<Value>> {
    sh.read(|s| s.detail(coll, &id)).map(Json)
}

async fn patch_object(
    State(sh): State<AppState>,
    Extension(coll): Coll,
    Params(id): Params<String>,
    JsonBody(body): JsonBody,
) -> ApiResult<&'static str> {
    sh.write(|s| s.patch(coll, &id, &body)).map(|()| OK)
}

// ----- experiments only -----

async fn activate(
    State(sh): State<AppState>,
    Extension(coll): Coll,
    Params(id): Params<String>,
) -> ApiResult<&'static str> {
    sh.write(|s| s.set_enabled(coll, &id, true)).map(|()| OK)
}

async fn deactivate(
    State(sh): State<AppState>,
    Extension(coll): Coll,
    Params(id): Params<String>,
) -> ApiResult<&'static str> {
    sh.write(|s| s.set_enabled(coll, &id, false)).map(|()| OK)
}

async fn set_rollout_weights(
    State(sh): State<AppState>,
    Extension(coll): Coll,
    Params(id): Params<String>,
    JsonBody(body): JsonBody,
) -> ApiResult<&'static str> {
    sh.write(|s| s.set_rollout_weights(coll, &id, &body))
        .map(|()| OK)
}

// ----- variants -----

async fn list_variants(
    State(sh): State<AppState>,
    Extension(coll): Coll,
    Params(id): Params<String>,
) -> ApiResult<Json<Value>> {
    sh.read(|s| s.variants(coll, &id)).map(Json)
}

async fn create_variant(
    State(sh): State<AppState>,
    Extension(coll): Coll,
    Params(id): Params<String>,
    JsonBody(body): JsonBody,
) -> ApiResult<&'static str> {
    sh.write(|s| s.add_variant(coll, &id, &body)).map(|()| OK)
}

async fn get_variant(
    State(sh): State<AppState>,
    Extension(coll): Coll,
    Params((id, variant)): Params<(String, String)>,
) -> ApiResult<Json<Value>> {
    sh.read(|s| s.variant(coll, &id, &variant)).map(Json)
}

async fn patch_variant(
    State(sh): State<AppState>,
    Extension(coll): Coll,
    Params((id, variant)): Params<(String, String)>,
    JsonBody(body): JsonBody,
) -> ApiResult<&'static str> {
    sh.write(|s| s.patch_variant(coll, &id, &variant, &body))
        .map(|()| OK)
}

async fn delete_variant(
    State(sh): State<AppState>,
    Extension(coll): Coll,
    Params((id, variant)): Params<(String, String)>,
) -> ApiResult<&'static str> {
    sh.write(|s| s.delete_variant(coll, &id, &variant))
        .map(|()| OK)
}

// ----- inclusions -----

async fn list_users(
    State(sh): State<AppState>,
    Extension(coll): Coll,
    Params((id, variant)): Params<(String, String)>,
) -> ApiResult<Json<Value>> {
    sh.read(|s| s.inclusions(coll, &id, &variant)).map(Json)
}

async fn add_users(
    State(sh): State<AppState>,
    Extension(coll): Coll,
    Params((id, variant)): Params<(String, String)>,
    JsonBody(body): JsonBody,
) -> ApiResult<&'static str> {
    sh.write(|s| s.add_inclusions(coll, &id, &variant, &body))
        .map(|()| OK)
}

async fn clear_users(
    State(sh): State<AppState>,
    Extension(coll): Coll,
    Params((id, variant)): Params<(String, String)>,
) -> ApiResult<&'static str> {
    sh.write(|s| s.clear_inclusions(coll, &id, &variant))
        .map(|()| OK)
}

async fn remove_user(
    State(sh): State<AppState>,
    Extension(coll): Coll,
    Params((id, variant, index)): Params<(String, String, String)>,
) -> ApiResult<&'static str> {
    sh.write(|s| s.remove_inclusion_at(coll, &id, &variant, &index))
        .map(|()| OK)
}

async fn bulk_delete_users(
    State(sh): State<AppState>,
    Extension(coll): Coll,
    Params((id, variant)): Params<(String, String)>,
    JsonBody(body): JsonBody,
) -> ApiResult<&'static str> {
    sh.write(|s| s.bulk_remove(IdList::Users, coll, &id, &variant, &body))
        .map(|()| OK)
}

// ----- cohorts -----

async fn list_cohorts(
    State(sh): State<AppState>,
    Extension(coll): Coll,
    Params((id, variant)): Params<(String, String)>,
) -> ApiResult<Json<Value>> {
    sh.read(|s| s.cohorts(coll, &id, &variant)).map(Json)
}

async fn add_cohorts(
    State(sh): State<AppState>,
    Extension(coll): Coll,
    Params((id, variant)): Params<(String, String)>,
    JsonBody(body): JsonBody,
) -> ApiResult<&'static str> {
    sh.write(|s| s.add_cohorts(coll, &id, &variant, &body))
        .map(|()| OK)
}

async fn bulk_delete_cohorts(
    State(sh): State<AppState>,
    Extension(coll): Coll,
    Params((id, variant)): Params<(String, String)>,
    JsonBody(body): JsonBody,
) -> ApiResult<&'static str> {
    sh.write(|s| s.bulk_remove(IdList::Cohorts, coll, &id, &variant, &body))
        .map(|()| OK)
}

// ----- deployments of a flag or experiment -----

async fn list_object_deployments(
    State(sh): State<AppState>,
    Extension(coll): Coll,
    Params(id): Params<String>,
) -> ApiResult<Json<Value>> {
    sh.read(|s| s.object_deployments(coll, &id)).map(Json)
}

async fn add_object_deployments(
    State(sh): State<AppState>,
    Extension(coll): Coll,
    Params(id): Params<String>,
    JsonBody(body): JsonBody,
) -> ApiResult<&'static str> {
    sh.write(|s| s.add_object_deployments(coll, &id, &body))
        .map(|()| OK)
}

async fn remove_object_deployment(
    State(sh): State<AppState>,
    Extension(coll): Coll,
    Params((id, deployment)): Params<(String, String)>,
) -> ApiResult<&'static str> {
    sh.write(|s| s.remove_object_deployment(coll, &id, &deployment))
        .map(|()| OK)
}

// ----- versions -----

async fn list_versions(
    State(sh): State<AppState>,
    Extension(coll): Coll,
    Params(id): Params<String>,
) -> ApiResult<Json<Value>> {
    sh.read(|s| s.versions(coll, &id)).map(Json)
}

async fn get_version(
    State(sh): State<AppState>,
    Extension(coll): Coll,
    Params((id, version)): Params<(String, String)>,
) -> ApiResult<Json<Value>> {
    sh.read(|s| s.version(coll, &id, &version)).map(Json)
}

/// `GET /versions`: every flag's and experiment's versions, newest first.
async fn list_all_versions(
    State(sh): State<AppState>,
    QueryMap(query): QueryMap,
) -> ApiResult<Json<Value>> {
    sh.read(|s| s.all_versions(&query, sh.page_size)).map(Json)
}

// ----- deployments -----

async fn list_deployments(
    State(sh): State<AppState>,
    QueryMap(query): QueryMap,
) -> ApiResult<Json<Value>> {
    sh.read(|s| s.list_deployments(&query, sh.page_size))
        .map(Json)
}

async fn create_deployment(
    State(sh): State<AppState>,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    let id = sh.write(|s| s.create_deployment(&body))?;
    Ok(Json(json!({"id": id.to_string()})))
}

async fn get_deployment(
    State(sh): State<AppState>,
    Params(id): Params<String>,
) -> ApiResult<Json<Value>> {
    sh.read(|s| s.deployment_detail(&id)).map(Json)
}

async fn patch_deployment(
    State(sh): State<AppState>,
    Params(id): Params<String>,
    JsonBody(body): JsonBody,
) -> ApiResult<&'static str> {
    sh.write(|s| s.patch_deployment(&id, &body)).map(|()| OK)
}

// ----- mutex and holdout groups -----

type Kind = Extension<GroupKind>;

async fn list_groups(
    State(sh): State<AppState>,
    Extension(kind): Kind,
    QueryMap(query): QueryMap,
) -> ApiResult<Json<Value>> {
    sh.read(|s| s.list_groups(kind, &query, sh.page_size))
        .map(Json)
}

async fn create_group(
    State(sh): State<AppState>,
    Extension(kind): Kind,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    let id = sh.write(|s| s.create_group(kind, &body, false))?;
    Ok(Json(json!({"id": id.to_string(), "url": GROUPS_URL})))
}

async fn get_group(
    State(sh): State<AppState>,
    Extension(kind): Kind,
    Params(id): Params<String>,
) -> ApiResult<Json<Value>> {
    sh.read(|s| s.group_detail(kind, &id)).map(Json)
}

async fn patch_group(
    State(sh): State<AppState>,
    Extension(kind): Kind,
    Params(id): Params<String>,
    JsonBody(body): JsonBody,
) -> ApiResult<&'static str> {
    sh.write(|s| s.patch_group(kind, &id, &body)).map(|()| OK)
}

async fn patch_slot(
    State(sh): State<AppState>,
    Params((id, index)): Params<(String, String)>,
    JsonBody(body): JsonBody,
) -> ApiResult<&'static str> {
    sh.write(|s| s.patch_slot(&id, &index, &body)).map(|()| OK)
}
