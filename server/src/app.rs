//! The HTTP routes: PostHog's capture paths, the persons query, health, and the two
//! answers posthog-js asks for before it sends (its remote config, feature flags).

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use idgraph::{
    Arrival, CaptureReader, Captured, EventError, PersonRecord, Project, RequestError, Timestamp,
};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::{mpsc, oneshot};
use tower_http::cors::CorsLayer;

use crate::decode::{self, DecodeError};
use crate::writer::Job;
use idgraph::EngineReader;

/// PostHog's capture paths (`rust/capture` `router.rs`), each with and without the
/// trailing slash. All take POST and GET.
const CAPTURE_PATHS: [&str; 6] = ["/e", "/i/v0/e", "/batch", "/capture", "/track", "/engage"];

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub jobs: mpsc::Sender<Job>,
    pub reader: EngineReader,
    pub capture: CaptureReader,
    /// The largest body taken, before and after decompression.
    pub max_body_bytes: usize,
}

/// The router with every route of the server.
pub fn router(state: AppState) -> Router {
    let limit = state.max_body_bytes;
    let mut router = Router::new();
    for path in CAPTURE_PATHS {
        router = router
            .route(path, get(capture).post(capture))
            .route(&format!("{path}/"), get(capture).post(capture));
    }
    router
        .route("/persons/{distinct_id}", get(person))
        .route("/health", get(health))
        .route("/array/{token}/config", get(remote_config))
        .route("/flags", post(flags).get(flags))
        .route("/flags/", post(flags).get(flags))
        .route("/decide", post(flags).get(flags))
        .route("/decide/", post(flags).get(flags))
        .layer(DefaultBodyLimit::max(limit))
        // posthog-js runs on the page's origin, not ours: answer preflights and let it
        // read the answers, credentials included, as PostHog does.
        .layer(CorsLayer::very_permissive())
        .with_state(state)
}

/// A 400 (or other) answer with a JSON reason, as capture's `{"type", "code", "detail"}`.
fn refuse(status: StatusCode, code: &str, detail: impl std::fmt::Display) -> Response {
    let body = json!({"type": "validation_error", "code": code, "detail": detail.to_string()});
    (status, axum::Json(body)).into_response()
}

fn accepted() -> Response {
    (StatusCode::OK, axum::Json(json!({"status": 1}))).into_response()
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

/// One capture request: unwrapped, read as capture reads it, refused whole if any event
/// is (capture answers 400 for the request), applied by the writer and published before
/// the 200.
async fn capture(
    State(state): State<AppState>,
    uri: Uri,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let now = Arrival::At(Timestamp::now());
    let request = decode::Request {
        query: query.as_deref(),
        content_type: header_str(&headers, header::CONTENT_TYPE),
        content_encoding: header_str(&headers, header::CONTENT_ENCODING),
    };
    let payload = match decode::payload(&request, &body) {
        Ok(payload) => payload,
        Err(DecodeError::Empty) => {
            return refuse(StatusCode::BAD_REQUEST, "empty_payload", DecodeError::Empty);
        }
        Err(error) => return refuse(StatusCode::BAD_REQUEST, "invalid_payload", error),
    };
    let mut read = state.capture.read(&payload, now);
    if uri.path().starts_with("/engage")
        && is_nameless_single(&read)
        && let Some(named) = decode::engage(&payload, state.max_body_bytes)
    {
        read = state.capture.read(&named, now);
    }
    let request = match read {
        Ok(request) => request,
        Err(RequestError::TooLarge { limit }) => {
            return refuse(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                RequestError::TooLarge { limit },
            );
        }
        Err(error) => return refuse(StatusCode::BAD_REQUEST, "invalid_payload", error),
    };
    if request.is_empty() {
        return refuse(
            StatusCode::BAD_REQUEST,
            "empty_batch",
            "request holds no event",
        );
    }
    let batch = request.is_batch();
    let mut events = Vec::with_capacity(request.len());
    for (index, captured) in request.into_iter().enumerate() {
        match captured {
            Captured::Event(event) => events.push(event),
            Captured::Dropped => {}
            Captured::Rejected(reason) if batch => {
                return refuse(
                    StatusCode::BAD_REQUEST,
                    "invalid_event",
                    format!("event {index}: {reason}"),
                );
            }
            Captured::Rejected(reason) => {
                return refuse(StatusCode::BAD_REQUEST, "invalid_event", reason);
            }
        }
    }
    if events.is_empty() {
        // Only events capture drops ($performance_event): nothing to do, and not an error.
        return accepted();
    }
    let (reply, answer) = oneshot::channel();
    if state.jobs.send(Job::Apply { events, reply }).await.is_err() {
        return refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting_down",
            "the server is stopping",
        );
    }
    match answer.await {
        Ok(Ok(())) => accepted(),
        Ok(Err((index, reason))) => refuse(
            StatusCode::BAD_REQUEST,
            "not_applied",
            format!("event {index}: {reason}"),
        ),
        Err(_) => refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting_down",
            "the server is stopping",
        ),
    }
}

/// Whether a read is one event object refused for having no name: what `/engage/`
/// names `$identify`.
fn is_nameless_single(read: &Result<idgraph::CaptureRequest, RequestError>) -> bool {
    matches!(read, Ok(request) if !request.is_batch()
        && matches!(request.iter().next(), Some(Captured::Rejected(EventError::Missing("event")))))
}

/// The project of a query: `token` (as capture names projects), else `team_id`, else the
/// default project.
#[derive(Deserialize)]
pub struct ProjectQuery {
    token: Option<String>,
    team_id: Option<String>,
}

impl ProjectQuery {
    fn project(self) -> Result<Project, String> {
        match (self.token, self.team_id) {
            (Some(token), _) => Ok(Project::Token(token.into())),
            (None, Some(team)) => team
                .parse()
                .map(Project::Team)
                .map_err(|_| format!("team_id {team:?} is not a number")),
            (None, None) => Ok(Project::Default),
        }
    }
}

/// `GET /persons/{distinct_id}`: the person of an id in the published state, without
/// waiting for the writer.
async fn person(
    State(state): State<AppState>,
    Path(distinct_id): Path<String>,
    axum::extract::Query(query): axum::extract::Query<ProjectQuery>,
) -> Response {
    let project = match query.project() {
        Ok(project) => project,
        Err(reason) => return refuse(StatusCode::BAD_REQUEST, "invalid_team_id", reason),
    };
    let view = state.reader.read();
    let Some(person) = view.resolve(&project, &distinct_id) else {
        let body = json!({"type": "not_found", "code": "not_found",
            "detail": format!("{distinct_id:?} has no person in project {project}")});
        return (StatusCode::NOT_FOUND, axum::Json(body)).into_response();
    };
    let record = PersonRecord::of(person);
    let body = json!({
        "uuid": record.uuid,
        "distinct_ids": record.distinct_ids,
        "is_identified": record.is_identified,
        "properties": record.properties,
    });
    (StatusCode::OK, axum::Json(body)).into_response()
}

/// `GET /health`: the server answers, and how far the published state is.
async fn health(State(state): State<AppState>) -> Response {
    let view = state.reader.read();
    let events = <[u8; 8]>::try_from(view.position()).map_or(0, u64::from_le_bytes);
    (
        StatusCode::OK,
        axum::Json(json!({"status": "ok", "events": events})),
    )
        .into_response()
}

/// posthog-js's remote config: no extensions, and gzip, as PostHog announces it.
async fn remote_config() -> Response {
    let body = json!({
        "supportedCompression": ["gzip", "gzip-js"],
        "hasFeatureFlags": false,
        "autocapture_opt_out": true,
        "sessionRecording": false,
        "heatmaps": false,
        "surveys": false,
    });
    (StatusCode::OK, axum::Json(body)).into_response()
}

/// Feature flags: this server has none.
async fn flags() -> Response {
    let body = json!({
        "flags": {},
        "featureFlags": {},
        "featureFlagPayloads": {},
        "errorsWhileComputingFlags": false,
    });
    (StatusCode::OK, axum::Json(body)).into_response()
}
