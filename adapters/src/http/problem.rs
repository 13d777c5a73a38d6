//! RFC 9457 problem details, the body of every error response.

use poem_openapi::Object;

pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

tokio::task_local! {
    /// The id and path of the request being served, so a problem made anywhere in its handler
    /// can name them.
    pub(crate) static CURRENT_REQUEST: RequestInfo;
}

#[derive(Clone, Debug)]
pub(crate) struct RequestInfo {
    pub request_id: String,
    pub path: String,
    /// `Set-Cookie` values a handler queued; the guard adds them to the response, which lets one
    /// response set a cookie name on more than one path.
    pub set_cookies: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

/// A problem detail (RFC 9457).
#[derive(Object, Clone, Debug)]
#[oai(rename = "Problem")]
pub struct Problem {
    /// A URI naming the kind of problem; stable, so clients may branch on it.
    #[oai(rename = "type")]
    pub problem_type: String,
    /// A short summary of the kind of problem.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// Explanation of this occurrence, in plain words.
    #[oai(skip_serializing_if_is_none)]
    pub detail: Option<String>,
    /// The request path.
    #[oai(skip_serializing_if_is_none)]
    pub instance: Option<String>,
    /// The request id, also sent as `X-Request-Id`; quote it when reporting a problem.
    #[oai(skip_serializing_if_is_none)]
    pub request_id: Option<String>,
    /// One entry per invalid field, present on 422 responses.
    #[oai(skip_serializing_if_is_none)]
    pub errors: Option<Vec<FieldProblem>>,
}

/// One invalid field of a request.
#[derive(Object, Clone, Debug, PartialEq, Eq)]
pub struct FieldProblem {
    /// The JSON field name.
    pub field: String,
    /// A stable machine-readable code, such as `too_short`.
    pub code: String,
    /// A message that can be shown next to the field.
    pub message: String,
}

/// The kinds of problems Somnium returns, each with a stable type URI and title.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProblemKind {
    MalformedRequest,
    InvalidCredentials,
    InvalidToken,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    EmailTaken,
    Conflict,
    PayloadTooLarge,
    UnsupportedMediaType,
    ValidationFailed,
    TooManyRequests,
    Internal,
    Unavailable,
    /// A second-factor code that is wrong, outside the accepted drift, replayed or spent.
    InvalidMfaCode,
    /// Too many wrong second-factor codes for the account within the hour.
    MfaBlocked,
}

impl ProblemKind {
    pub fn status(self) -> u16 {
        match self {
            ProblemKind::MalformedRequest => 400,
            ProblemKind::InvalidCredentials | ProblemKind::InvalidToken => 401,
            ProblemKind::Forbidden => 403,
            ProblemKind::NotFound => 404,
            ProblemKind::MethodNotAllowed => 405,
            ProblemKind::EmailTaken | ProblemKind::Conflict => 409,
            ProblemKind::PayloadTooLarge => 413,
            ProblemKind::UnsupportedMediaType => 415,
            ProblemKind::ValidationFailed => 422,
            ProblemKind::TooManyRequests => 429,
            ProblemKind::Internal => 500,
            ProblemKind::Unavailable => 503,
            ProblemKind::InvalidMfaCode => 422,
            ProblemKind::MfaBlocked => 429,
        }
    }

    fn slug(self) -> &'static str {
        match self {
            ProblemKind::MalformedRequest => "malformed-request",
            ProblemKind::InvalidCredentials => "invalid-credentials",
            ProblemKind::InvalidToken => "invalid-token",
            ProblemKind::Forbidden => "forbidden",
            ProblemKind::NotFound => "not-found",
            ProblemKind::MethodNotAllowed => "method-not-allowed",
            ProblemKind::EmailTaken => "email-taken",
            ProblemKind::Conflict => "conflict",
            ProblemKind::PayloadTooLarge => "payload-too-large",
            ProblemKind::UnsupportedMediaType => "unsupported-media-type",
            ProblemKind::ValidationFailed => "validation-failed",
            ProblemKind::TooManyRequests => "rate-limited",
            ProblemKind::Internal => "internal-error",
            ProblemKind::Unavailable => "service-unavailable",
            ProblemKind::InvalidMfaCode => "invalid-mfa-code",
            ProblemKind::MfaBlocked => "mfa-blocked",
        }
    }

    fn title(self) -> &'static str {
        match self {
            ProblemKind::MalformedRequest => "Malformed request",
            ProblemKind::InvalidCredentials => "Invalid email or password",
            ProblemKind::InvalidToken => "Invalid or missing token",
            ProblemKind::Forbidden => "Forbidden",
            ProblemKind::NotFound => "Not found",
            ProblemKind::MethodNotAllowed => "Method not allowed",
            ProblemKind::EmailTaken => "Email already registered",
            ProblemKind::Conflict => "Conflict",
            ProblemKind::PayloadTooLarge => "Request body too large",
            ProblemKind::UnsupportedMediaType => "Unsupported media type",
            ProblemKind::ValidationFailed => "Validation failed",
            ProblemKind::TooManyRequests => "Too many requests",
            ProblemKind::Internal => "Internal server error",
            ProblemKind::Unavailable => "Service unavailable",
            ProblemKind::InvalidMfaCode => "Invalid second-factor code",
            ProblemKind::MfaBlocked => "Too many wrong second-factor codes",
        }
    }
}

impl Problem {
    pub fn new(kind: ProblemKind, detail: impl Into<String>) -> Self {
        let request = CURRENT_REQUEST.try_with(Clone::clone).ok();
        Self {
            problem_type: format!("urn:somnium:problem:{}", kind.slug()),
            title: kind.title().to_owned(),
            status: kind.status(),
            detail: Some(detail.into()),
            instance: request.as_ref().map(|request| request.path.clone()),
            request_id: request.map(|request| request.request_id),
            errors: None,
        }
    }

    pub fn validation(errors: Vec<FieldProblem>) -> Self {
        let mut fields: Vec<&str> = Vec::new();
        for error in &errors {
            if !fields.contains(&error.field.as_str()) {
                fields.push(error.field.as_str());
            }
        }
        let detail = format!("invalid fields: {}", fields.join(", "));
        Self {
            errors: Some(errors),
            ..Self::new(ProblemKind::ValidationFailed, detail)
        }
    }

    /// Serializes the problem into a complete response, for errors raised outside a handler.
    pub fn into_response(self) -> poem::Response {
        let status =
            poem::http::StatusCode::from_u16(self.status).unwrap_or(poem::http::StatusCode::INTERNAL_SERVER_ERROR);
        let body = poem_openapi::types::ToJSON::to_json_string(&self);
        poem::Response::builder()
            .status(status)
            .content_type(PROBLEM_CONTENT_TYPE)
            .body(body)
    }
}
