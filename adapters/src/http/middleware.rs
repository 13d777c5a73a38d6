//! Request-wide behaviour: request ids, the body guard, and turning every error into a problem.

use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures_util::{FutureExt, StreamExt};
use poem::http::{header, HeaderValue, Method, StatusCode};
use poem::middleware::PanicHandler;
use poem::{Body, Endpoint, IntoResponse, Middleware, Request, Response};
use poem_openapi::error::{AuthorizationError, ParseParamError, ParsePathError, ParseRequestPayloadError};
use rand::rngs::OsRng;
use rand::RngCore;
use tracing::Instrument;

use super::client_ip::{resolve_client_ip, ClientIp};
use super::cookies::CsrfError;
use super::problem::{Problem, ProblemKind, RequestInfo, CURRENT_REQUEST};
use super::rate_limit::{add_headers as add_rate_limit_headers, too_many_requests, RateLimitGuard};
use super::security::{enforce_csrf, InvalidAccessToken};
use super::transport::TransportSettings;

/// Largest request body accepted, checked before any parsing or hashing.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The id of the request being served.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

/// What every request passes before its handler.
#[derive(Clone)]
pub struct GuardSettings {
    /// Security headers, CORS, HTTPS enforcement, and the proxies whose `X-Forwarded-For` and
    /// `X-Forwarded-Proto` are believed.
    pub transport: TransportSettings,
    pub rate_limits: RateLimitGuard,
}

/// Assigns a request id, resolves the client IP, applies rate limits, guards the body, and
/// turns every error into problem+json.
pub struct RequestGuard(pub GuardSettings);

impl<E: Endpoint> Middleware<E> for RequestGuard {
    type Output = RequestGuardEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        RequestGuardEndpoint {
            inner,
            settings: self.0.clone(),
        }
    }
}

pub struct RequestGuardEndpoint<E> {
    inner: E,
    settings: GuardSettings,
}

impl<E: Endpoint> Endpoint for RequestGuardEndpoint<E> {
    type Output = Response;

    async fn call(&self, mut request: Request) -> poem::Result<Self::Output> {
        let started = std::time::Instant::now();
        let request_id = accepted_request_id(&request).unwrap_or_else(new_request_id);
        request.extensions_mut().insert(RequestId(request_id.clone()));
        let client_ip = resolve_client_ip(&request, &self.settings.transport.trusted_proxies);
        request.extensions_mut().insert(ClientIp(client_ip));
        let set_cookies = Arc::new(std::sync::Mutex::new(Vec::new()));
        let info = RequestInfo {
            request_id: request_id.clone(),
            path: request.uri().path().to_owned(),
            set_cookies: set_cookies.clone(),
        };
        let method = request.method().clone();
        let path = info.path.clone();
        let origin = request
            .headers()
            .get(header::ORIGIN)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let transport = &self.settings.transport;

        let span = tracing::info_span!(
            "request",
            http.request.method = %method,
            url.path = %path,
            http.response.status_code = tracing::field::Empty,
            request_id = %request_id,
        );
        let response = CURRENT_REQUEST
            .scope(info, async {
                // A panic anywhere below, in a handler or in a guard, becomes a 500 problem and
                // the connection keeps serving.
                if let Some(response) = transport.reject_plain_http(&request) {
                    return response;
                }
                if let Some(response) = transport.preflight(&request) {
                    return response;
                }
                let guarded = AssertUnwindSafe(self.guarded(request)).catch_unwind().await;
                guarded.unwrap_or_else(|panic| PanicToProblem.get_response(panic))
            })
            .instrument(span.clone())
            .await;

        let mut response = response;
        let queued = std::mem::take(&mut *set_cookies.lock().unwrap_or_else(|poisoned| poisoned.into_inner()));
        for cookie in queued {
            if let Ok(value) = HeaderValue::from_str(&cookie) {
                response.headers_mut().append(header::SET_COOKIE, value);
            }
        }
        transport.decorate(origin.as_deref(), &path, &mut response);
        if path.starts_with("/api/") {
            // API responses carry tokens or personal data; no cache may keep them.
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        }
        if let Ok(value) = HeaderValue::from_str(&request_id) {
            response.headers_mut().insert(REQUEST_ID_HEADER, value);
        }
        let status = response.status().as_u16();
        let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
        span.record("http.response.status_code", status);
        tracing::info!(target: "somnium::metrics", method = %method, status, monotonic_counter.somnium_http_requests = 1_u64, histogram.somnium_http_request_duration_ms = latency_ms);
        if response.status().is_server_error() {
            tracing::error!(%request_id, %method, %path, status, latency_ms, "request failed");
        } else {
            tracing::info!(%request_id, %method, %path, status, latency_ms, "request");
        }
        Ok(response)
    }
}

impl<E: Endpoint> RequestGuardEndpoint<E> {
    async fn guarded(&self, request: Request) -> Response {
        let decision = self.settings.rate_limits.check(&request).await;
        let mut response = match decision {
            Some(decision) if !decision.allowed => too_many_requests(&decision).into_response(),
            _ => match enforce_csrf(&request).await {
                Some(error) => problem_for(&error.into()).into_response(),
                None => self.serve(request).await,
            },
        };
        if let Some(decision) = decision {
            add_rate_limit_headers(&mut response, &decision);
        }
        response
    }

    async fn serve(&self, mut request: Request) -> Response {
        if let Err(problem) = guard_body(&mut request).await {
            return problem.into_response();
        }
        match self.inner.call(request).await {
            Ok(output) => output.into_response(),
            Err(error) => problem_for(&error).into_response(),
        }
    }
}

/// Keeps a client's `X-Request-Id` when it is short and plain, so it can be correlated across
/// services without letting arbitrary text into logs.
fn accepted_request_id(request: &Request) -> Option<String> {
    let value = request.headers().get(REQUEST_ID_HEADER)?.to_str().ok()?;
    let plain = !value.is_empty()
        && value.len() <= 128
        && value
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b':'));
    plain.then(|| value.to_owned())
}

fn new_request_id() -> String {
    let mut bytes = [0_u8; 16];
    OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// Reads the body once, bounded, and checks it is JSON before any handler parses it.
///
/// The size is checked on the bytes received, not only on `Content-Length`, so a chunked body
/// cannot slip past the limit. Syntax errors get their 400 here, which leaves every
/// later payload error to be a schema violation (422).
async fn guard_body(request: &mut Request) -> Result<(), Problem> {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<usize>().ok());
    if declared.is_some_and(|length| length > MAX_BODY_BYTES) {
        return Err(too_large());
    }

    let bytes = read_bounded(request.take_body()).await?;
    if bytes.is_empty() {
        return Ok(());
    }

    if !matches!(*request.method(), Method::POST | Method::PUT | Method::PATCH) {
        request.set_body(Body::from_bytes(bytes));
        return Ok(());
    }
    if !is_json_content_type(request) {
        return Err(Problem::new(
            ProblemKind::UnsupportedMediaType,
            "send the request body as JSON with Content-Type: application/json",
        ));
    }
    if let Err(error) = serde_json::from_slice::<serde::de::IgnoredAny>(&bytes) {
        return Err(Problem::new(
            ProblemKind::MalformedRequest,
            format!("the request body is not valid JSON: {error}"),
        ));
    }
    request.set_body(Body::from_bytes(bytes));
    Ok(())
}

/// Most bytes read and thrown away after a body passes the limit, so that a client still
/// sending gets the 413 instead of a reset connection, without letting it make the server read
/// without end.
const MAX_DRAIN_BYTES: usize = 1024 * 1024;

async fn read_bounded(body: Body) -> Result<Bytes, Problem> {
    let mut stream = std::pin::pin!(body.into_bytes_stream());
    let mut collected = BytesMut::new();
    let unreadable = || Problem::new(ProblemKind::MalformedRequest, "the request body could not be read");
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| unreadable())?;
        if collected.len() + chunk.len() > MAX_BODY_BYTES {
            let mut drained = chunk.len();
            while let Some(Ok(rest)) = stream.next().await {
                drained += rest.len();
                if drained > MAX_DRAIN_BYTES {
                    break;
                }
            }
            return Err(too_large());
        }
        collected.extend_from_slice(&chunk);
    }
    Ok(collected.freeze())
}

fn too_large() -> Problem {
    Problem::new(
        ProblemKind::PayloadTooLarge,
        format!("the request body exceeds {MAX_BODY_BYTES} bytes"),
    )
}

fn is_json_content_type(request: &Request) -> bool {
    let Some(value) = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
    else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Maps an error raised by routing, extraction or authentication to its problem.
fn problem_for(error: &poem::Error) -> ProblemResponse {
    if let Some(csrf) = error.downcast_ref::<CsrfError>() {
        return Problem::new(ProblemKind::Forbidden, format!("cross-site request refused: {csrf}")).into();
    }
    if let Some(invalid) = error.downcast_ref::<InvalidAccessToken>() {
        tracing::info!(reason = %invalid.0, "access token rejected");
        return ProblemResponse::unauthorized(
            Problem::new(ProblemKind::InvalidToken, "the access token is invalid or expired"),
            r#"Bearer realm="somnium", error="invalid_token""#,
        );
    }
    if error.is::<AuthorizationError>() {
        // No token was sent, so RFC 6750 section 3.1 calls for a challenge without an error attribute.
        return ProblemResponse::unauthorized(
            Problem::new(
                ProblemKind::InvalidToken,
                "send an access token in the Authorization header (Bearer <token>) or, in cookie mode, the __Host-somnium_access cookie",
            ),
            r#"Bearer realm="somnium""#,
        );
    }
    if let Some(parse) = error.downcast_ref::<ParseRequestPayloadError>() {
        return Problem::new(
            ProblemKind::ValidationFailed,
            format!("the request body does not match the schema: {}", parse.reason),
        )
        .into();
    }
    if error.is::<ParseParamError>() || error.is::<ParsePathError>() {
        return Problem::new(ProblemKind::MalformedRequest, error.to_string()).into();
    }

    let kind = match error.status() {
        StatusCode::NOT_FOUND => ProblemKind::NotFound,
        StatusCode::METHOD_NOT_ALLOWED => ProblemKind::MethodNotAllowed,
        StatusCode::PAYLOAD_TOO_LARGE => ProblemKind::PayloadTooLarge,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ProblemKind::UnsupportedMediaType,
        status if status.is_client_error() => ProblemKind::MalformedRequest,
        _ => {
            tracing::error!(error = %error, "unhandled error");
            return Problem::new(ProblemKind::Internal, "an unexpected error occurred").into();
        }
    };
    let detail = match kind {
        ProblemKind::NotFound => "no resource at this path".to_owned(),
        ProblemKind::MethodNotAllowed => "this path does not accept this method".to_owned(),
        _ => error.to_string(),
    };
    Problem::new(kind, detail).into()
}

struct ProblemResponse {
    problem: Problem,
    www_authenticate: Option<&'static str>,
}

impl ProblemResponse {
    fn unauthorized(problem: Problem, challenge: &'static str) -> Self {
        Self {
            problem,
            www_authenticate: Some(challenge),
        }
    }

    fn into_response(self) -> Response {
        let mut response = self.problem.into_response();
        if let Some(challenge) = self.www_authenticate {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
        }
        response
    }
}

impl From<Problem> for ProblemResponse {
    fn from(problem: Problem) -> Self {
        Self {
            problem,
            www_authenticate: None,
        }
    }
}

/// Turns a panic in a handler into a 500 problem, and the server keeps serving.
#[derive(Clone, Copy, Debug)]
pub struct PanicToProblem;

impl poem::middleware::PanicHandler for PanicToProblem {
    type Response = Response;

    fn get_response(&self, panic: Box<dyn Any + Send + 'static>) -> Self::Response {
        let message = panic
            .downcast_ref::<&str>()
            .map(|text| (*text).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        tracing::error!(panic = %message, "handler panicked");
        Problem::new(ProblemKind::Internal, "an unexpected error occurred").into_response()
    }
}
