//! The administration API: the user base, lockouts, sessions and the audit trail. Every
//! operation here needs the ADMIN role.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use futures_util::stream::{self, StreamExt};
use poem::http::header;
use poem::{Body, Request};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::{Binary, Json};
use poem_openapi::{ApiResponse, OpenApi, ResponseContent};
use somnium_application::AdminError;
use somnium_application::MfaError;
use somnium_domain::audit::AuditFilter;
use somnium_domain::ports::UserFilter;
use somnium_domain::{AuditEventType, AuditOutcome, UserId};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::admin_wire::{
    role_from_body, AdminUserBody, AuditEventBody, AuditPageBody, CreateUserBody, StatusBody, UpdateUserBody,
    UserPageBody, VerificationBody,
};
use super::auth_api::{internal, state};
use super::context::request_context;
use super::permissions::authorize;
use super::problem::{FieldProblem, Problem, ProblemKind};
use super::security::Caller;
use super::wire::{policy_problems, RoleBody};
use super::ApiTags;

pub struct AdminApi;

/// Largest page of users or audit events.
const MAX_PAGE: u64 = 500;

macro_rules! admin_response {
    ($(#[$meta:meta])* $name:ident { $($(#[$variant_meta:meta])* $variant:ident($($payload:ty),*) = $status:literal,)* }) => {
        $(#[$meta])*
        #[derive(ApiResponse)]
        pub enum $name {
            $(
                $(#[$variant_meta])*
                #[oai(status = $status)]
                $variant($($payload),*),
            )*
            /// A query parameter, path parameter or body is malformed.
            #[oai(status = 400, content_type = "application/problem+json")]
            Malformed(Json<Problem>),
            /// The access token is missing, invalid or expired.
            #[oai(status = 401, content_type = "application/problem+json")]
            Unauthorized(Json<Problem>, #[oai(header = "WWW-Authenticate")] String),
            /// The caller is not an ADMIN, or (cookie mode) the CSRF check failed.
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

admin_response!(UserListResponse {
    /// A page of accounts, oldest first.
    Ok(Json<UserPageBody>) = 200,
    /// A filter or the cursor is invalid.
    #[oai(content_type = "application/problem+json")]
    Invalid(Json<Problem>) = 422,
});

admin_response!(UserResponse {
    /// The account.
    Ok(Json<AdminUserBody>) = 200,
    /// No account has this id.
    #[oai(content_type = "application/problem+json")]
    NotFound(Json<Problem>) = 404,
});

admin_response!(UpdateUserResponse {
    /// The account after the change.
    Ok(Json<AdminUserBody>) = 200,
    /// No account has this id.
    #[oai(content_type = "application/problem+json")]
    NotFound(Json<Problem>) = 404,
    /// The change would leave no active ADMIN.
    #[oai(content_type = "application/problem+json")]
    Conflict(Json<Problem>) = 409,
    /// The body is larger than 64 KiB.
    #[oai(content_type = "application/problem+json")]
    TooLarge(Json<Problem>) = 413,
    /// The body is not `application/json`.
    #[oai(content_type = "application/problem+json")]
    UnsupportedMediaType(Json<Problem>) = 415,
    /// A field is invalid or unknown.
    #[oai(content_type = "application/problem+json")]
    Invalid(Json<Problem>) = 422,
});

admin_response!(CreateUserResponse {
    /// The account was created; the user must change the temporary password at first login.
    Created(Json<AdminUserBody>) = 201,
    /// An account with the same normalized email exists.
    #[oai(content_type = "application/problem+json")]
    EmailTaken(Json<Problem>) = 409,
    /// The body is larger than 64 KiB.
    #[oai(content_type = "application/problem+json")]
    TooLarge(Json<Problem>) = 413,
    /// The body is not `application/json`.
    #[oai(content_type = "application/problem+json")]
    UnsupportedMediaType(Json<Problem>) = 415,
    /// A field is invalid or unknown, or the temporary password breaks the policy.
    #[oai(content_type = "application/problem+json")]
    Invalid(Json<Problem>) = 422,
});

#[derive(ApiResponse)]
pub enum UserActionResponse {
    /// Done.
    #[oai(status = 204)]
    Done,
    /// The path parameter is not a UUID.
    #[oai(status = 400, content_type = "application/problem+json")]
    Malformed(Json<Problem>),
    /// The access token is missing, invalid or expired.
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(Json<Problem>, #[oai(header = "WWW-Authenticate")] String),
    /// The caller is not an ADMIN, or (cookie mode) the CSRF check failed.
    #[oai(status = 403, content_type = "application/problem+json")]
    Forbidden(Json<Problem>),
    /// No account has this id.
    #[oai(status = 404, content_type = "application/problem+json")]
    NotFound(Json<Problem>),
    /// The client exceeded the rate limit of this route; see `Retry-After`.
    #[oai(status = 429, content_type = "application/problem+json")]
    TooManyRequests(Json<Problem>),
    /// An unexpected server error.
    #[oai(status = 500, content_type = "application/problem+json")]
    Internal(Json<Problem>),
}

/// An audit page as JSON, or the whole selection streamed as NDJSON or CSV.
#[derive(ResponseContent)]
pub enum AuditListContent {
    Json(Json<AuditPageBody>),
    #[oai(content_type = "application/x-ndjson")]
    Ndjson(Binary<Body>),
    #[oai(content_type = "text/csv")]
    Csv(Binary<Body>),
}

admin_response!(AuditListResponse {
    /// A page of events, newest first (JSON), or every matching event (`Accept:
    /// application/x-ndjson` or `text/csv`).
    Ok(AuditListContent) = 200,
    /// A filter or the cursor is invalid.
    #[oai(content_type = "application/problem+json")]
    Invalid(Json<Problem>) = 422,
});

admin_response!(VerifyResponse {
    /// The result of the walk; `intact: false` names the first broken link.
    Ok(Json<VerificationBody>) = 200,
});

#[OpenApi(prefix_path = "/api/v1/admin", tag = "ApiTags::Administration")]
impl AdminApi {
    /// List users
    ///
    /// Returns accounts oldest first, `limit` at a time (1 to 500, default 50), filtered by
    /// role, status and email prefix. Pass `next_cursor` back as `cursor` for the next page.
    #[oai(path = "/users", method = "get", operation_id = "listUsers")]
    #[allow(clippy::too_many_arguments)] // Each query parameter is an argument of the operation.
    async fn list_users(
        &self,
        request: &Request,
        auth: Caller,
        role: Query<Option<RoleBody>>,
        status: Query<Option<StatusBody>>,
        email_prefix: Query<Option<String>>,
        cursor: Query<Option<String>>,
        limit: Query<Option<u64>>,
    ) -> UserListResponse {
        if let Err(problem) = authorize(request, auth.claims(), "listUsers").await {
            return UserListResponse::Forbidden(problem);
        }
        let after = match cursor.0.as_deref().map(decode_user_cursor).transpose() {
            Ok(after) => after,
            Err(problem) => return UserListResponse::Invalid(problem),
        };
        let limit = match page_limit(limit.0, 50) {
            Ok(limit) => limit,
            Err(problem) => return UserListResponse::Invalid(problem),
        };
        let filter = UserFilter {
            role: role.0.map(role_from_body),
            status: status.0.map(Into::into),
            email_prefix: email_prefix
                .0
                .map(|prefix| somnium_domain::user::normalize_email(&prefix)),
            after,
        };
        match state(request).auth.list_users(&filter, limit).await {
            Ok(page) => UserListResponse::Ok(Json(UserPageBody {
                items: page.users.into_iter().map(Into::into).collect(),
                next_cursor: page.next_after.map(encode_user_cursor),
            })),
            Err(error) => UserListResponse::Internal(internal(&error)),
        }
    }

    /// Get a user
    #[oai(path = "/users/:id", method = "get", operation_id = "getUser")]
    async fn get_user(&self, request: &Request, auth: Caller, id: Path<uuid::Uuid>) -> UserResponse {
        if let Err(problem) = authorize(request, auth.claims(), "getUser").await {
            return UserResponse::Forbidden(problem);
        }
        user_response(state(request).auth.get_user(UserId::from_uuid(id.0)).await)
    }

    /// Create a user
    ///
    /// Creates an account with any role and a temporary password. Until the user changes it,
    /// their tokens allow only changing the password, reading their profile and signing out.
    #[oai(path = "/users", method = "post", operation_id = "createUser")]
    async fn create_user(&self, request: &Request, auth: Caller, body: Json<CreateUserBody>) -> CreateUserResponse {
        if let Err(problem) = authorize(request, auth.claims(), "createUser").await {
            return CreateUserResponse::Forbidden(problem);
        }
        let creation = match body.0.try_into_domain() {
            Ok(creation) => creation,
            Err(errors) => return CreateUserResponse::Invalid(Json(Problem::validation(errors))),
        };
        let outcome = state(request)
            .auth
            .create_user(Some(auth.claims()), creation, &request_context(request))
            .await;
        match outcome {
            Ok(user) => CreateUserResponse::Created(Json(user.into())),
            Err(AdminError::EmailTaken) => CreateUserResponse::EmailTaken(Json(Problem::new(
                ProblemKind::EmailTaken,
                "an account with this email already exists",
            ))),
            Err(AdminError::WeakPassword(violations)) => {
                let errors = policy_problems(violations)
                    .into_iter()
                    .map(|problem| FieldProblem {
                        field: "temporary_password".into(),
                        ..problem
                    })
                    .collect();
                CreateUserResponse::Invalid(Json(Problem::validation(errors)))
            }
            Err(AdminError::Unexpected(error)) => CreateUserResponse::Internal(internal(&error)),
            Err(other) => CreateUserResponse::Internal(unexpected_admin_error(other)),
        }
    }

    /// Change a user's role or status
    ///
    /// A disabled user cannot sign in. Changing the role or status ends all of the user's
    /// sessions at once. The last active ADMIN cannot be demoted or disabled (409).
    #[oai(path = "/users/:id", method = "patch", operation_id = "updateUser")]
    async fn update_user(
        &self,
        request: &Request,
        auth: Caller,
        id: Path<uuid::Uuid>,
        body: Json<UpdateUserBody>,
    ) -> UpdateUserResponse {
        if let Err(problem) = authorize(request, auth.claims(), "updateUser").await {
            return UpdateUserResponse::Forbidden(problem);
        }
        let outcome = state(request)
            .auth
            .update_user(
                auth.claims(),
                UserId::from_uuid(id.0),
                body.0.into_domain(),
                &request_context(request),
            )
            .await;
        match outcome {
            Ok(user) => UpdateUserResponse::Ok(Json(user.into())),
            Err(AdminError::NotFound) => UpdateUserResponse::NotFound(no_such_user()),
            Err(AdminError::LastAdmin) => UpdateUserResponse::Conflict(Json(Problem::new(
                ProblemKind::Conflict,
                "this change would leave no active administrator; promote another user to ADMIN first",
            ))),
            Err(AdminError::Unexpected(error)) => UpdateUserResponse::Internal(internal(&error)),
            Err(other) => UpdateUserResponse::Internal(unexpected_admin_error(other)),
        }
    }

    /// Clear a user's lockout
    #[oai(path = "/users/:id/unlock", method = "post", operation_id = "unlockUser")]
    async fn unlock_user(&self, request: &Request, auth: Caller, id: Path<uuid::Uuid>) -> UserActionResponse {
        if let Err(problem) = authorize(request, auth.claims(), "unlockUser").await {
            return UserActionResponse::Forbidden(problem);
        }
        let outcome = state(request)
            .auth
            .unlock_user(auth.claims(), UserId::from_uuid(id.0), &request_context(request))
            .await;
        action_response(outcome.map(|()| 0))
    }

    /// End all of a user's sessions
    ///
    /// Their access tokens are rejected within a second on every instance.
    #[oai(path = "/users/:id/sessions", method = "delete", operation_id = "endUserSessions")]
    async fn end_user_sessions(&self, request: &Request, auth: Caller, id: Path<uuid::Uuid>) -> UserActionResponse {
        if let Err(problem) = authorize(request, auth.claims(), "endUserSessions").await {
            return UserActionResponse::Forbidden(problem);
        }
        let outcome = state(request)
            .auth
            .end_user_sessions(auth.claims(), UserId::from_uuid(id.0), &request_context(request))
            .await;
        action_response(outcome)
    }

    /// Reset a user's second factor
    ///
    /// Removes the user's TOTP and recovery codes, for a user who lost their device; with a
    /// role that requires a second factor, their next sign-in leads to enrollment again. A
    /// high-severity audit event. A user without a second factor is answered with 404.
    #[oai(path = "/users/:id/mfa", method = "delete", operation_id = "resetUserMfa")]
    async fn reset_user_mfa(&self, request: &Request, auth: Caller, id: Path<uuid::Uuid>) -> UserActionResponse {
        if let Err(problem) = authorize(request, auth.claims(), "resetUserMfa").await {
            return UserActionResponse::Forbidden(problem);
        }
        let outcome = state(request)
            .auth
            .reset_mfa(auth.claims(), UserId::from_uuid(id.0), &request_context(request))
            .await;
        match outcome {
            Ok(()) => UserActionResponse::Done,
            Err(MfaError::NotFound) => {
                UserActionResponse::NotFound(Json(Problem::new(ProblemKind::NotFound, "no user has this id")))
            }
            Err(MfaError::NotEnabled) => UserActionResponse::NotFound(Json(Problem::new(
                ProblemKind::NotFound,
                "this user has no second factor to reset",
            ))),
            Err(MfaError::Unexpected(error)) => UserActionResponse::Internal(internal(&error)),
            Err(other) => {
                tracing::error!(error = %other, "resetting a second factor returned an error it cannot produce");
                UserActionResponse::Internal(Json(Problem::new(
                    ProblemKind::Internal,
                    "an unexpected error occurred",
                )))
            }
        }
    }

    /// List or export audit events
    ///
    /// Filters by user (about or by), event type, outcome, time range (`from` inclusive,
    /// `until` exclusive, RFC 3339) and client IP. JSON returns one page, newest first;
    /// `Accept: application/x-ndjson` or `text/csv` streams every matching event. Reading the
    /// trail is itself an audit event.
    #[oai(path = "/audit-events", method = "get", operation_id = "listAuditEvents")]
    #[allow(clippy::too_many_arguments)]
    async fn list_audit_events(
        &self,
        request: &Request,
        auth: Caller,
        user_id: Query<Option<uuid::Uuid>>,
        event_type: Query<Option<String>>,
        outcome: Query<Option<String>>,
        from: Query<Option<String>>,
        until: Query<Option<String>>,
        ip: Query<Option<String>>,
        cursor: Query<Option<i64>>,
        limit: Query<Option<u64>>,
    ) -> AuditListResponse {
        if let Err(problem) = authorize(request, auth.claims(), "listAuditEvents").await {
            return AuditListResponse::Forbidden(problem);
        }
        let filter = match audit_filter(user_id.0, event_type.0, outcome.0, from.0, until.0, ip.0, cursor.0) {
            Ok(filter) => filter,
            Err(problem) => return AuditListResponse::Invalid(problem),
        };
        let limit = match page_limit(limit.0, 100) {
            Ok(limit) => limit,
            Err(problem) => return AuditListResponse::Invalid(problem),
        };
        let accept = request
            .headers()
            .get(header::ACCEPT)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_ascii_lowercase();
        let export = if accept.contains("application/x-ndjson") {
            Some(ExportFormat::Ndjson)
        } else if accept.contains("text/csv") {
            Some(ExportFormat::Csv)
        } else {
            None
        };

        let state = state(request);
        let detail = if export.is_some() { "export" } else { "page" };
        let first = state
            .auth
            .read_audit_trail(
                auth.claims(),
                &filter,
                if export.is_some() { MAX_PAGE } else { limit },
                detail,
                &request_context(request),
            )
            .await;
        let first = match first {
            Ok(page) => page,
            Err(error) => return AuditListResponse::Internal(internal(&error)),
        };
        match export {
            None => AuditListResponse::Ok(AuditListContent::Json(Json(first.into()))),
            Some(format) => {
                let body = export_body(state.auth.clone(), filter, first, format);
                match format {
                    ExportFormat::Ndjson => AuditListResponse::Ok(AuditListContent::Ndjson(Binary(body))),
                    ExportFormat::Csv => AuditListResponse::Ok(AuditListContent::Csv(Binary(body))),
                }
            }
        }
    }

    /// Verify the audit trail
    ///
    /// Walks the hash chain from the first event (or the latest prune checkpoint) and reports
    /// the first broken link, with its sequence number and the reason, or that it is intact.
    #[oai(path = "/audit/verify", method = "get", operation_id = "verifyAuditTrail")]
    async fn verify_audit_trail(&self, request: &Request, auth: Caller) -> VerifyResponse {
        if let Err(problem) = authorize(request, auth.claims(), "verifyAuditTrail").await {
            return VerifyResponse::Forbidden(problem);
        }
        match state(request)
            .auth
            .verify_audit_trail(Some(auth.claims()), &request_context(request))
            .await
        {
            Ok(verification) => VerifyResponse::Ok(Json(verification.into())),
            Err(error) => VerifyResponse::Internal(internal(&error)),
        }
    }
}

fn user_response(outcome: Result<somnium_domain::User, AdminError>) -> UserResponse {
    match outcome {
        Ok(user) => UserResponse::Ok(Json(user.into())),
        Err(AdminError::NotFound) => UserResponse::NotFound(no_such_user()),
        Err(AdminError::Unexpected(error)) => UserResponse::Internal(internal(&error)),
        Err(other) => UserResponse::Internal(unexpected_admin_error(other)),
    }
}

fn no_such_user() -> Json<Problem> {
    Json(Problem::new(ProblemKind::NotFound, "no user has this id"))
}

fn action_response(outcome: Result<usize, AdminError>) -> UserActionResponse {
    match outcome {
        Ok(_) => UserActionResponse::Done,
        Err(AdminError::NotFound) => {
            UserActionResponse::NotFound(Json(Problem::new(ProblemKind::NotFound, "no user has this id")))
        }
        Err(AdminError::Unexpected(error)) => UserActionResponse::Internal(internal(&error)),
        Err(other) => UserActionResponse::Internal(unexpected_admin_error(other)),
    }
}

/// Logs an administration error that the operation cannot produce (reaching it is a bug) and
/// returns the fixed 500 problem.
fn unexpected_admin_error(error: AdminError) -> Json<Problem> {
    tracing::error!(%error, "administration operation returned an error it cannot produce");
    Json(Problem::new(ProblemKind::Internal, "an unexpected error occurred"))
}

fn invalid(field: &str, message: &str) -> Json<Problem> {
    Json(Problem::validation(vec![FieldProblem {
        field: field.into(),
        code: "invalid".into(),
        message: message.into(),
    }]))
}

fn page_limit(limit: Option<u64>, default: u64) -> Result<u64, Json<Problem>> {
    match limit {
        None => Ok(default),
        Some(limit) if (1..=MAX_PAGE).contains(&limit) => Ok(limit),
        Some(_) => Err(invalid("limit", "limit must be between 1 and 500")),
    }
}

fn encode_user_cursor((created_at, id): (OffsetDateTime, UserId)) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}|{id}", created_at.unix_timestamp_nanos()))
}

fn decode_user_cursor(cursor: &str) -> Result<(OffsetDateTime, UserId), Json<Problem>> {
    let bad = || invalid("cursor", "cursor is not one returned by this API");
    let decoded = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    let text = String::from_utf8(decoded).map_err(|_| bad())?;
    let (nanos, id) = text.split_once('|').ok_or_else(bad)?;
    let nanos: i128 = nanos.parse().map_err(|_| bad())?;
    let created_at = OffsetDateTime::from_unix_timestamp_nanos(nanos).map_err(|_| bad())?;
    let id = uuid::Uuid::parse_str(id).map_err(|_| bad())?;
    Ok((created_at, UserId::from_uuid(id)))
}

#[allow(clippy::too_many_arguments)]
fn audit_filter(
    user_id: Option<uuid::Uuid>,
    event_type: Option<String>,
    outcome: Option<String>,
    from: Option<String>,
    until: Option<String>,
    ip: Option<String>,
    cursor: Option<i64>,
) -> Result<AuditFilter, Json<Problem>> {
    let time = |field: &str, value: Option<String>| -> Result<Option<OffsetDateTime>, Json<Problem>> {
        value
            .map(|text| {
                OffsetDateTime::parse(&text, &Rfc3339)
                    .map_err(|_| invalid(field, "expected an RFC 3339 time such as 2026-12-04T10:00:00Z"))
            })
            .transpose()
    };
    Ok(AuditFilter {
        user_id: user_id.map(UserId::from_uuid),
        event_type: event_type
            .map(|name| AuditEventType::parse(&name).ok_or_else(|| invalid("event_type", "unknown event type")))
            .transpose()?,
        outcome: outcome
            .map(|name| {
                AuditOutcome::parse(&name).ok_or_else(|| invalid("outcome", "outcome must be success or failure"))
            })
            .transpose()?,
        client_ip: ip,
        from: time("from", from)?,
        until: time("until", until)?,
        before_sequence: cursor,
    })
}

#[derive(Clone, Copy)]
enum ExportFormat {
    Ndjson,
    Csv,
}

const CSV_HEADER: &str = "sequence,id,occurred_at,event_type,user_id,actor_id,resource,outcome,severity,detail,changes,client_ip,user_agent,request_id\n";

fn csv_field(value: Option<&str>) -> String {
    let value = value.unwrap_or_default();
    // A leading formula character is neutralised so a spreadsheet never evaluates a cell.
    let value = if value.starts_with(['=', '+', '-', '@']) {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    format!("\"{}\"", value.replace('"', "\"\""))
}

fn render(format: ExportFormat, event: AuditEventBody) -> String {
    match format {
        ExportFormat::Ndjson => {
            let mut line = poem_openapi::types::ToJSON::to_json_string(&event);
            line.push('\n');
            line
        }
        ExportFormat::Csv => {
            let ids = [event.id.to_string()];
            let fields = [
                Some(event.sequence.to_string()),
                Some(ids[0].clone()),
                Some(event.occurred_at),
                Some(event.event_type),
                event.user_id.map(|id| id.to_string()),
                event.actor_id.map(|id| id.to_string()),
                event.resource,
                Some(event.outcome),
                Some(event.severity),
                event.detail,
                event.changes,
                event.client_ip,
                event.user_agent,
                event.request_id,
            ];
            let mut line = fields
                .iter()
                .map(|field| csv_field(field.as_deref()))
                .collect::<Vec<_>>()
                .join(",");
            line.push('\n');
            line
        }
    }
}

/// Streams every matching event, a page at a time, so an export of years of events never sits
/// in memory whole.
fn export_body(
    auth: somnium_application::AuthService,
    filter: AuditFilter,
    first: somnium_domain::audit::AuditEventPage,
    format: ExportFormat,
) -> Body {
    let header = match format {
        ExportFormat::Csv => Some(CSV_HEADER.to_owned()),
        ExportFormat::Ndjson => None,
    };
    let pages = stream::unfold(Some(first), move |page| {
        let auth = auth.clone();
        let mut filter = filter.clone();
        async move {
            let page = page?;
            let chunk: String = page
                .events
                .into_iter()
                .map(|(sequence, event)| render(format, AuditEventBody::new(sequence, event)))
                .collect();
            let next = match page.next_before {
                None => None,
                Some(before) => {
                    filter.before_sequence = Some(before);
                    match auth.audit_trail_page(&filter, MAX_PAGE).await {
                        Ok(next) => Some(next),
                        Err(error) => {
                            tracing::error!(%error, "audit export stopped early");
                            None
                        }
                    }
                }
            };
            Some((Ok::<_, std::io::Error>(chunk.into_bytes()), next))
        }
    });
    let header = stream::iter(header.map(|text| Ok::<_, std::io::Error>(text.into_bytes())));
    Body::from_bytes_stream(header.chain(pages).map(|chunk| chunk.map(bytes::Bytes::from)))
}
