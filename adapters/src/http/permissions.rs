//! The permission each operation requires, enforced in the handlers and published in the spec
//! as the `x-somnium-permission` extension.

use poem::Request;
use poem_openapi::payload::Json;
use somnium_domain::{AccessTokenClaims, Permission};

use super::auth_api::state;
use super::context::request_context;
use super::problem::{Problem, ProblemKind};

/// Every operation of the API with the permission it requires; `None` marks a public
/// operation. A test checks that the spec lists exactly these operations.
pub const OPERATION_PERMISSIONS: &[(&str, Option<Permission>)] = &[
    ("register", None),
    ("login", None),
    ("refresh", None),
    ("getPasswordPolicy", None),
    ("getJwks", None),
    ("getLiveness", None),
    ("getReadiness", None),
    ("logout", Some(Permission::ProfileRead)),
    ("getCurrentUser", Some(Permission::ProfileRead)),
    ("updateCurrentUser", Some(Permission::ProfileUpdate)),
    ("getUserById", Some(Permission::ProfileRead)),
    ("listSessions", Some(Permission::ProfileRead)),
    ("endSession", Some(Permission::ProfileUpdate)),
    ("logoutAll", Some(Permission::ProfileUpdate)),
    ("changePassword", Some(Permission::ProfileUpdate)),
    ("startEnrollmentChallenge", None),
    ("confirmEnrollmentChallenge", None),
    ("verifyMfa", None),
    ("getMfaStatus", Some(Permission::ProfileRead)),
    ("startTotpEnrollment", Some(Permission::ProfileUpdate)),
    ("confirmTotpEnrollment", Some(Permission::ProfileUpdate)),
    ("disableMfa", Some(Permission::ProfileUpdate)),
    ("regenerateRecoveryCodes", Some(Permission::ProfileUpdate)),
    ("listUsers", Some(Permission::UsersRead)),
    ("getUser", Some(Permission::UsersRead)),
    ("createUser", Some(Permission::UsersManage)),
    ("updateUser", Some(Permission::UsersManage)),
    ("unlockUser", Some(Permission::UsersManage)),
    ("endUserSessions", Some(Permission::UsersManage)),
    ("resetUserMfa", Some(Permission::UsersManage)),
    ("requestEmergencyAccess", Some(Permission::EmergencyAccess)),
    ("listEmergencyGrants", Some(Permission::EmergencyReview)),
    ("endEmergencyGrant", Some(Permission::EmergencyReview)),
    ("listAuditEvents", Some(Permission::AuditRead)),
    ("verifyAuditTrail", Some(Permission::AuditRead)),
];

/// Operations an account with a temporary password may still call: just enough to set a
/// password of its own.
const ALLOWED_BEFORE_PASSWORD_CHANGE: [&str; 3] = ["changePassword", "logout", "getCurrentUser"];

pub fn permission_of(operation: &str) -> Option<Permission> {
    OPERATION_PERMISSIONS
        .iter()
        .find(|(name, _)| *name == operation)
        .and_then(|(_, permission)| *permission)
}

/// Checks that the caller may run `operation`. A refusal is a 403 problem and an
/// `access_denied` audit event naming the operation and the resource.
pub async fn authorize(
    request: &Request,
    caller: &AccessTokenClaims,
    operation: &'static str,
) -> Result<(), Json<Problem>> {
    let resource = request.uri().path().to_owned();
    let refusal = if caller.password_change_required && !ALLOWED_BEFORE_PASSWORD_CHANGE.contains(&operation) {
        Some("change the temporary password with POST /api/v1/auth/password first".to_owned())
    } else {
        match permission_of(operation) {
            Some(permission) if !caller.role.has(permission) => Some(format!(
                "this operation requires the {permission} permission, which the {} role does not have",
                caller.role
            )),
            _ => None,
        }
    };
    let Some(detail) = refusal else {
        return Ok(());
    };
    state(request)
        .auth
        .record_access_denied(caller, operation, resource, &request_context(request))
        .await;
    Err(Json(Problem::new(ProblemKind::Forbidden, detail)))
}

/// Adds `x-somnium-permission` to every operation of the spec and states the requirement in
/// its description.
pub fn annotate_spec(spec: &mut serde_json::Value) {
    let Some(paths) = spec.get_mut("paths").and_then(|paths| paths.as_object_mut()) else {
        return;
    };
    for operations in paths.values_mut() {
        let Some(operations) = operations.as_object_mut() else {
            continue;
        };
        for operation in operations.values_mut() {
            let Some(id) = operation
                .get("operationId")
                .and_then(|id| id.as_str())
                .map(str::to_owned)
            else {
                continue;
            };
            let Some((_, permission)) = OPERATION_PERMISSIONS.iter().find(|(name, _)| *name == id) else {
                continue;
            };
            let (value, sentence) = match permission {
                Some(permission) => (
                    permission.as_str().to_owned(),
                    format!(
                        "Required permission: `{permission}` (role {} or above).",
                        permission.minimum_role()
                    ),
                ),
                None => ("none".to_owned(), "Required permission: none (public).".to_owned()),
            };
            if permission.is_none() {
                // An empty list states that the operation needs no authentication at all.
                operation["security"] = serde_json::json!([]);
            }
            operation["x-somnium-permission"] = serde_json::Value::String(value);
            let description = operation
                .get("description")
                .and_then(|d| d.as_str())
                .unwrap_or_default()
                .to_owned();
            operation["description"] = serde_json::Value::String(if description.is_empty() {
                sentence
            } else {
                format!("{description}\n\n{sentence}")
            });
        }
    }
}
