//! Break-glass emergency access, and its review by administrators.

use super::strict::JsonString;
use poem::Request;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use secrecy::ExposeSecret;
use somnium_application::EndGrantError;
use somnium_application::GrantError;
use somnium_domain::emergency::{EmergencyGrant, EmergencyRequest};
use time::format_description::well_known::Rfc3339;

use super::auth_api::{internal, state};
use super::context::request_context;
use super::permissions::authorize;
use super::problem::{FieldProblem, Problem, ProblemKind};
use super::security::Caller;
use super::ApiTags;

pub struct EmergencyApi;

/// A request for break-glass access.
#[derive(Object)]
#[oai(rename = "EmergencyAccessRequest", deny_unknown_fields)]
pub struct EmergencyRequestBody {
    /// Justification of the access, at least 20 characters; kept for review.
    pub reason: JsonString,
    /// The clinical system's patient identifier to scope the access to; omit for all patients.
    pub patient_ref: Option<JsonString>,
}

/// A granted break-glass access.
#[derive(Object)]
#[oai(rename = "EmergencyAccessGrant")]
pub struct GrantBody {
    pub grant_id: uuid::Uuid,
    pub user_id: uuid::Uuid,
    pub session_id: uuid::Uuid,
    /// `patient:<ref>` or `all`.
    pub scope: String,
    pub reason: String,
    /// RFC 3339 times.
    pub created_at: String,
    pub expires_at: String,
    #[oai(skip_serializing_if_is_none)]
    pub ended_at: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub ended_by: Option<uuid::Uuid>,
}

impl From<EmergencyGrant> for GrantBody {
    fn from(grant: EmergencyGrant) -> Self {
        let time = |value: time::OffsetDateTime| value.format(&Rfc3339).unwrap_or_default();
        Self {
            grant_id: grant.id,
            user_id: grant.user_id.as_uuid(),
            session_id: grant.session_id.as_uuid(),
            scope: grant.scope(),
            reason: grant.reason,
            created_at: time(grant.created_at),
            expires_at: time(grant.expires_at),
            ended_at: grant.ended_at.map(time),
            ended_by: grant.ended_by.map(|id| id.as_uuid()),
        }
    }
}

/// The grant and an access token carrying its `emergency` claim.
#[derive(Object)]
#[oai(rename = "EmergencyAccessResponse")]
pub struct GrantedBody {
    pub grant: GrantBody,
    /// An access token with the `emergency` claim (grant id, scope, expiry); refreshing the
    /// session keeps the claim until the grant ends.
    pub access_token: String,
    pub token_type: String,
    pub expires_in: i64,
}

macro_rules! problems {
    ($(#[$meta:meta])* $name:ident { $($(#[$variant_meta:meta])* $variant:ident($payload:ty) = $status:literal,)* }) => {
        $(#[$meta])*
        #[derive(ApiResponse)]
        pub enum $name {
            $(
                $(#[$variant_meta])*
                #[oai(status = $status)]
                $variant($payload),
            )*
            /// The access token is missing, invalid or expired.
            #[oai(status = 401, content_type = "application/problem+json")]
            Unauthorized(Json<Problem>, #[oai(header = "WWW-Authenticate")] String),
            /// The caller's role lacks the permission, a break-glass request comes from a
            /// session without the second factor the role requires, or (cookie mode) the CSRF
            /// check failed.
            #[oai(status = 403, content_type = "application/problem+json")]
            Forbidden(Json<Problem>),
            /// The client exceeded the rate limit of this route; see `Retry-After`.
            #[oai(status = 429, content_type = "application/problem+json")]
            TooManyRequests(Json<Problem>),
            /// An unexpected server error.
            #[oai(status = 500, content_type = "application/problem+json")]
            Internal(Json<Problem>),
        }
    };
}

problems!(GrantResponse {
    /// Access granted for 60 minutes (configurable).
    Created(Json<GrantedBody>) = 201,
    /// The body is not valid JSON.
    #[oai(content_type = "application/problem+json")]
    Malformed(Json<Problem>) = 400,
    /// The body is larger than 64 KiB.
    #[oai(content_type = "application/problem+json")]
    TooLarge(Json<Problem>) = 413,
    /// The body is not `application/json`.
    #[oai(content_type = "application/problem+json")]
    UnsupportedMediaType(Json<Problem>) = 415,
    /// The reason is shorter than 20 characters, or `patient_ref` is invalid.
    #[oai(content_type = "application/problem+json")]
    Invalid(Json<Problem>) = 422,
});

problems!(GrantListResponse {
    /// Recent grants, newest first.
    Ok(Json<Vec<GrantBody>>) = 200,
    /// `limit` is not an integer.
    #[oai(content_type = "application/problem+json")]
    Malformed(Json<Problem>) = 400,
    /// `limit` is outside 1 to 500.
    #[oai(content_type = "application/problem+json")]
    Invalid(Json<Problem>) = 422,
});

problems!(EndGrantResponse {
    /// The grant ended and its session was revoked.
    Ok(Json<GrantBody>) = 200,
    /// The path parameter is not a UUID.
    #[oai(content_type = "application/problem+json")]
    Malformed(Json<Problem>) = 400,
    /// No grant has this id.
    #[oai(content_type = "application/problem+json")]
    NotFound(Json<Problem>) = 404,
});

#[OpenApi(tag = "ApiTags::EmergencyAccess")]
impl EmergencyApi {
    /// Request emergency access (break glass)
    ///
    /// Grants the caller, for 60 minutes by default, access tokens with an `emergency` claim
    /// (grant id, scope, expiry) that resource servers can honour for patient data beyond the
    /// caller's usual scope. The justification is kept, the grant is a high-severity audit
    /// event, and administrators review and can end it. PHYSICIAN and ECMO_SPECIALIST (and
    /// ADMIN) may call it; NURSE and PATIENT get 403.
    #[oai(
        path = "/api/v1/auth/emergency-access",
        method = "post",
        operation_id = "requestEmergencyAccess"
    )]
    async fn request_access(&self, request: &Request, auth: Caller, body: Json<EmergencyRequestBody>) -> GrantResponse {
        if let Err(problem) = authorize(request, auth.claims(), "requestEmergencyAccess").await {
            return GrantResponse::Forbidden(problem);
        }
        let parsed = EmergencyRequest::parse(&body.0.reason, body.0.patient_ref.as_deref().map(String::as_str));
        let parsed = match parsed {
            Ok(parsed) => parsed,
            Err(error) => {
                let field = if matches!(
                    error,
                    somnium_domain::emergency::EmergencyRequestError::InvalidPatientRef
                ) {
                    "patient_ref"
                } else {
                    "reason"
                };
                return GrantResponse::Invalid(Json(Problem::validation(vec![FieldProblem {
                    field: field.into(),
                    code: "invalid".into(),
                    message: error.to_string(),
                }])));
            }
        };
        match state(request)
            .auth
            .grant_emergency_access(auth.claims(), parsed, &request_context(request))
            .await
        {
            Ok((grant, token)) => GrantResponse::Created(Json(GrantedBody {
                grant: grant.into(),
                access_token: token.token.expose_secret().to_owned(),
                token_type: "Bearer".into(),
                expires_in: token.expires_in_seconds,
            })),
            Err(GrantError::SecondFactorRequired) => GrantResponse::Forbidden(Json(Problem::new(
                ProblemKind::Forbidden,
                "emergency access needs a session that began with a second factor; sign in again with your code",
            ))),
            Err(GrantError::Unexpected(error)) => GrantResponse::Internal(internal(&error)),
        }
    }

    /// List emergency-access grants
    ///
    /// Returns recent grants, newest first, with their justification, for review.
    #[oai(
        path = "/api/v1/admin/emergency-access",
        method = "get",
        operation_id = "listEmergencyGrants"
    )]
    async fn list(&self, request: &Request, auth: Caller, limit: Query<Option<u64>>) -> GrantListResponse {
        if let Err(problem) = authorize(request, auth.claims(), "listEmergencyGrants").await {
            return GrantListResponse::Forbidden(problem);
        }
        let limit = limit.0.unwrap_or(100);
        if !(1..=500).contains(&limit) {
            return GrantListResponse::Invalid(Json(Problem::new(
                ProblemKind::ValidationFailed,
                "limit must be between 1 and 500",
            )));
        }
        match state(request).auth.list_emergency_grants(limit).await {
            Ok(grants) => GrantListResponse::Ok(Json(grants.into_iter().map(Into::into).collect())),
            Err(error) => GrantListResponse::Internal(internal(&error)),
        }
    }

    /// End an emergency-access grant early
    ///
    /// Ends the grant and revokes the session that holds it, so its tokens stop working within
    /// a second on every instance.
    #[oai(
        path = "/api/v1/admin/emergency-access/:id/end",
        method = "post",
        operation_id = "endEmergencyGrant"
    )]
    async fn end(&self, request: &Request, auth: Caller, id: Path<uuid::Uuid>) -> EndGrantResponse {
        if let Err(problem) = authorize(request, auth.claims(), "endEmergencyGrant").await {
            return EndGrantResponse::Forbidden(problem);
        }
        match state(request)
            .auth
            .end_emergency_grant(auth.claims(), id.0, &request_context(request))
            .await
        {
            Ok(grant) => EndGrantResponse::Ok(Json(grant.into())),
            Err(EndGrantError::NotFound) => EndGrantResponse::NotFound(Json(Problem::new(
                ProblemKind::NotFound,
                "no emergency grant has this id",
            ))),
            Err(EndGrantError::Unexpected(error)) => EndGrantResponse::Internal(internal(&error)),
        }
    }
}
