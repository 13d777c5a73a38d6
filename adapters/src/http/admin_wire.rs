//! Request and response bodies of the administration and audit operations.

use super::strict::JsonString;
use poem_openapi::{Enum, Object};
use secrecy::SecretString;
use somnium_application::{CreateUserRequest, UpdateUserRequest};
use somnium_domain::audit::{AuditEventPage, ChainVerification};
use somnium_domain::{AuditEvent, Email, FullName, Password, Role, User, UserStatus};
use time::format_description::well_known::Rfc3339;

use super::problem::FieldProblem;
use super::wire::RoleBody;

/// Whether an account may sign in.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[oai(rename = "UserStatus", rename_all = "lowercase")]
pub enum StatusBody {
    Active,
    Disabled,
}

impl From<UserStatus> for StatusBody {
    fn from(status: UserStatus) -> Self {
        match status {
            UserStatus::Active => StatusBody::Active,
            UserStatus::Disabled => StatusBody::Disabled,
        }
    }
}

impl From<StatusBody> for UserStatus {
    fn from(status: StatusBody) -> Self {
        match status {
            StatusBody::Active => UserStatus::Active,
            StatusBody::Disabled => UserStatus::Disabled,
        }
    }
}

pub fn role_from_body(role: RoleBody) -> Role {
    match role {
        RoleBody::Admin => Role::Admin,
        RoleBody::EcmoSpecialist => Role::EcmoSpecialist,
        RoleBody::Physician => Role::Physician,
        RoleBody::Nurse => Role::Nurse,
        RoleBody::Patient => Role::Patient,
    }
}

fn rfc3339(time: time::OffsetDateTime) -> String {
    // RFC 3339 formatting fails only for years outside 0000 to 9999, which no stored time
    // reaches.
    time.format(&Rfc3339).unwrap_or_default()
}

/// An account as an administrator sees it.
#[derive(Object)]
#[oai(rename = "AdminUser")]
pub struct AdminUserBody {
    pub id: uuid::Uuid,
    pub email: String,
    pub full_name: String,
    pub role: RoleBody,
    pub status: StatusBody,
    /// The account still has the temporary password an administrator set.
    pub must_change_password: bool,
    /// RFC 3339 time of creation.
    pub created_at: String,
}

impl From<User> for AdminUserBody {
    fn from(user: User) -> Self {
        Self {
            id: user.id.as_uuid(),
            email: user.email.as_str().to_owned(),
            full_name: user.full_name.as_str().to_owned(),
            role: user.role.into(),
            status: user.status.into(),
            must_change_password: user.must_change_password,
            created_at: rfc3339(user.created_at),
        }
    }
}

/// A page of accounts.
#[derive(Object)]
#[oai(rename = "UserPage")]
pub struct UserPageBody {
    pub items: Vec<AdminUserBody>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[oai(skip_serializing_if_is_none)]
    pub next_cursor: Option<String>,
}

/// A new account created by an administrator.
#[derive(Object)]
#[oai(rename = "CreateUserRequest", deny_unknown_fields)]
pub struct CreateUserBody {
    pub email: JsonString,
    pub full_name: JsonString,
    pub role: RoleBody,
    /// Must meet the password policy; the user must change it at first login.
    #[oai(write_only)]
    pub temporary_password: JsonString,
}

impl CreateUserBody {
    pub fn try_into_domain(self) -> Result<CreateUserRequest, Vec<FieldProblem>> {
        let problem = |field: &str, code: &str, message: String| FieldProblem {
            field: field.into(),
            code: code.into(),
            message,
        };
        let email = Email::parse(&self.email).map_err(|error| problem("email", "invalid", error.to_string()));
        let full_name =
            FullName::parse(&self.full_name).map_err(|error| problem("full_name", "invalid", error.to_string()));
        // Length is one rule of the password policy, checked with the others by the use case.
        let password: Result<Password, FieldProblem> = Ok(Password::presented(SecretString::from(
            self.temporary_password.into_inner(),
        )));
        match (email, full_name, password) {
            (Ok(email), Ok(full_name), Ok(temporary_password)) => Ok(CreateUserRequest {
                email,
                full_name,
                role: role_from_body(self.role),
                temporary_password,
            }),
            (email, full_name, password) => Err([email.err(), full_name.err(), password.err()]
                .into_iter()
                .flatten()
                .collect()),
        }
    }
}

/// Changes to an account; omitted fields stay as they are.
#[derive(Object)]
#[oai(rename = "UpdateUserRequest", deny_unknown_fields)]
pub struct UpdateUserBody {
    pub role: Option<RoleBody>,
    pub status: Option<StatusBody>,
}

impl UpdateUserBody {
    pub fn into_domain(self) -> UpdateUserRequest {
        UpdateUserRequest {
            role: self.role.map(role_from_body),
            status: self.status.map(Into::into),
        }
    }
}

/// Changes to one's own profile: only the name.
#[derive(Object)]
#[oai(rename = "UpdateProfileRequest", deny_unknown_fields)]
pub struct UpdateProfileBody {
    /// 1 to 200 characters, without control characters or HTML markup.
    pub full_name: JsonString,
}

/// One audit event.
#[derive(Object)]
#[oai(rename = "AuditEvent")]
pub struct AuditEventBody {
    /// Position in the hash chain.
    pub sequence: i64,
    pub id: uuid::Uuid,
    /// RFC 3339 time of the event.
    pub occurred_at: String,
    pub event_type: String,
    // Each optional field is left out when the event has no value for it: the spec declares
    // these fields as strings, which a JSON null would not match.
    /// The user the event is about.
    #[oai(skip_serializing_if_is_none)]
    pub user_id: Option<uuid::Uuid>,
    /// The user who acted, when it is another user (an administrator).
    #[oai(skip_serializing_if_is_none)]
    pub actor_id: Option<uuid::Uuid>,
    #[oai(skip_serializing_if_is_none)]
    pub resource: Option<String>,
    /// `success` or `failure`.
    pub outcome: String,
    /// `info`, `warning` or `high`.
    pub severity: String,
    #[oai(skip_serializing_if_is_none)]
    pub detail: Option<String>,
    /// What changed, one `field: before -> after` per line.
    #[oai(skip_serializing_if_is_none)]
    pub changes: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub client_ip: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub user_agent: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub request_id: Option<String>,
}

impl AuditEventBody {
    pub fn new(sequence: i64, event: AuditEvent) -> Self {
        Self {
            sequence,
            id: event.id.as_uuid(),
            occurred_at: rfc3339(event.occurred_at),
            event_type: event.event_type.as_str().to_owned(),
            user_id: event.user_id.map(|id| id.as_uuid()),
            actor_id: event.actor_id.map(|id| id.as_uuid()),
            resource: event.resource,
            outcome: event.outcome.as_str().to_owned(),
            severity: event.severity.as_str().to_owned(),
            detail: event.detail,
            changes: event.changes,
            client_ip: event.context.client_ip,
            user_agent: event.context.user_agent,
            request_id: event.context.request_id,
        }
    }
}

/// A page of audit events, newest first.
#[derive(Object)]
#[oai(rename = "AuditEventPage")]
pub struct AuditPageBody {
    pub items: Vec<AuditEventBody>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[oai(skip_serializing_if_is_none)]
    pub next_cursor: Option<String>,
}

impl From<AuditEventPage> for AuditPageBody {
    fn from(page: AuditEventPage) -> Self {
        Self {
            items: page
                .events
                .into_iter()
                .map(|(sequence, event)| AuditEventBody::new(sequence, event))
                .collect(),
            next_cursor: page.next_before.map(|sequence| sequence.to_string()),
        }
    }
}

/// The result of walking the audit trail's hash chain.
#[derive(Object)]
#[oai(rename = "AuditVerification")]
pub struct VerificationBody {
    pub intact: bool,
    /// Events whose links were checked.
    pub events_checked: u64,
    /// The last sequence number checked, when intact.
    #[oai(skip_serializing_if_is_none)]
    pub last_sequence: Option<i64>,
    /// The first sequence number after the latest prune, if the trail was pruned.
    #[oai(skip_serializing_if_is_none)]
    pub checkpoint_sequence: Option<i64>,
    /// The sequence number of the first broken link.
    #[oai(skip_serializing_if_is_none)]
    pub broken_at: Option<i64>,
    /// Why the link is broken.
    #[oai(skip_serializing_if_is_none)]
    pub reason: Option<String>,
}

impl From<ChainVerification> for VerificationBody {
    fn from(verification: ChainVerification) -> Self {
        match verification {
            ChainVerification::Intact {
                events,
                last_sequence,
                checkpoint_sequence,
            } => Self {
                intact: true,
                events_checked: events,
                last_sequence: Some(last_sequence),
                checkpoint_sequence,
                broken_at: None,
                reason: None,
            },
            ChainVerification::Broken {
                sequence,
                reason,
                checked,
            } => Self {
                intact: false,
                events_checked: checked,
                last_sequence: None,
                checkpoint_sequence: None,
                broken_at: Some(sequence),
                reason: Some(reason),
            },
        }
    }
}
