//! Request and response examples for every operation, added to the generated spec so the portal
//! and generated SDKs show a realistic call. Redocly's `no-invalid-media-type-examples` rule,
//! run in CI, checks each example against its schema.

use serde_json::{json, Value};

const USER_ID: &str = "0b5f7a52-3d1c-4e1f-9a51-5c0e3d2a9f10";
const SESSION_ID: &str = "6f1d2c3b-4a59-4e8d-8c7b-1a2b3c4d5e6f";
const GRANT_ID: &str = "a3c9e0f1-52d4-4b7e-9f60-7d8e9fa0b1c2";
const CREATED_AT: &str = "2026-12-04T08:15:00Z";
const ACCESS_TOKEN: &str =
    "eyJhbGciOiJFUzI1NiIsImtpZCI6IjNxVi1rY0l4IiwidHlwIjoiYXQrand0In0.eyJzdWIiOiIwYjVmN2E1MiJ9.c2lnbmF0dXJl";
const REFRESH_TOKEN: &str = "Qk9nNnZ2b1p0X2xXcU9sU0VtT2hHdVJ6cGJ3VHFfQ1k";
const MFA_TOKEN: &str = "bXVsdGktZmFjdG9yLWNoYWxsZW5nZS10b2tlbg";
const SECRET: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";

fn user() -> Value {
    json!({
        "id": USER_ID,
        "email": "nurse.kim@hospital.example",
        "full_name": "Kim Nakamura",
        "role": "NURSE",
        "created_at": CREATED_AT,
    })
}

fn admin_user() -> Value {
    let mut user = user();
    user["status"] = json!("active");
    user["must_change_password"] = json!(false);
    user
}

fn bearer_tokens() -> Value {
    json!({
        "token_delivery": "bearer",
        "access_token": ACCESS_TOKEN,
        "refresh_token": REFRESH_TOKEN,
        "token_type": "Bearer",
        "expires_in": 900,
        "refresh_expires_in": 1800,
    })
}

fn grant() -> Value {
    json!({
        "grant_id": GRANT_ID,
        "user_id": USER_ID,
        "session_id": SESSION_ID,
        "scope": "patient:MRN-1234",
        "reason": "Patient crashed on ECMO circuit 3, attending unreachable",
        "created_at": CREATED_AT,
        "expires_at": "2026-12-04T09:15:00Z",
    })
}

fn recovery_codes() -> Value {
    json!([
        "k7mqz-2xfpa",
        "t3hwe-9qdnc",
        "p5vbr-4kmsa",
        "a8zxc-7ytgn",
        "m2lkj-6hgfd",
        "q9wer-3tyui",
        "z4xcv-8bnma",
        "s6dfg-2hjkl",
        "e7rty-5uiop",
        "c3vbn-9mlkj",
    ])
}

/// The example body of an operation's request, by operation id.
fn request_example(operation: &str) -> Option<Value> {
    let example = match operation {
        "register" => json!({ "email": "kim@example.org", "password": "Correct-Horse-9", "full_name": "Kim Nakamura" }),
        "login" => json!({ "email": "kim@example.org", "password": "Correct-Horse-9", "remember_me": false }),
        "refresh" => json!({ "refresh_token": REFRESH_TOKEN }),
        "confirmTotpEnrollment" | "regenerateRecoveryCodes" => json!({ "code": "492039" }),
        "startEnrollmentChallenge" => json!({ "mfa_token": MFA_TOKEN }),
        "confirmEnrollmentChallenge" => json!({ "mfa_token": MFA_TOKEN, "code": "492039" }),
        "verifyMfa" => json!({ "mfa_token": MFA_TOKEN, "code": "118231" }),
        "disableMfa" => json!({ "password": "Correct-Horse-9", "code": "118231" }),
        "changePassword" => json!({ "current_password": "Correct-Horse-9", "new_password": "Night-Shift-42!" }),
        "updateCurrentUser" => json!({ "full_name": "Kim Nakamura-Lee" }),
        "requestEmergencyAccess" => json!({
            "reason": "Patient crashed on ECMO circuit 3, attending unreachable",
            "patient_ref": "MRN-1234",
        }),
        "createUser" => json!({
            "email": "nurse.kim@hospital.example",
            "full_name": "Kim Nakamura",
            "role": "NURSE",
            "temporary_password": "Temp-Ward-7#Lumen",
        }),
        "updateUser" => json!({ "role": "PHYSICIAN" }),
        _ => return None,
    };
    Some(example)
}

/// The example body of an operation's successful response, by operation id and status.
fn response_example(operation: &str, status: &str) -> Option<Value> {
    let example = match (operation, status) {
        ("register", "201") => {
            let mut user = user();
            user["role"] = json!("PATIENT");
            user["email"] = json!("kim@example.org");
            user
        }
        ("login", "200") | ("refresh", "200") | ("verifyMfa", "200") => bearer_tokens(),
        ("getPasswordPolicy", "200") => json!({
            "preset": "hospital",
            "min_length": 8,
            "min_length_with_mfa": 8,
            "max_length": 128,
            "require_uppercase": true,
            "require_lowercase": true,
            "require_digit": true,
            "require_symbol": true,
            "forbid_sequences": false,
            "forbid_repeats": false,
            "blocklist_size": 10000,
            "forbid_personal_info": true,
        }),
        ("getMfaStatus", "200") => {
            json!({ "enabled": true, "pending": false, "required": true, "recovery_codes_remaining": 9 })
        }
        ("startTotpEnrollment" | "startEnrollmentChallenge", "200") => json!({
            "secret": SECRET,
            "otpauth_uri": format!(
                "otpauth://totp/Somnium:nurse.kim%40hospital.example?secret={SECRET}&issuer=Somnium&algorithm=SHA1&digits=6&period=30"
            ),
            "qr_code_svg": "<?xml version=\"1.0\" standalone=\"yes\"?><svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"232\" height=\"232\">…</svg>",
        }),
        ("confirmTotpEnrollment", "200") => json!({ "recovery_codes": recovery_codes() }),
        ("confirmEnrollmentChallenge", "200") => {
            json!({ "recovery_codes": recovery_codes(), "tokens": bearer_tokens() })
        }
        ("regenerateRecoveryCodes", "200") => json!({ "recovery_codes": recovery_codes() }),
        ("listSessions", "200") => json!([{
            "id": SESSION_ID,
            "started_at": CREATED_AT,
            "last_used_at": "2026-12-04T08:40:12Z",
            "expires_at": "2027-01-03T08:15:00Z",
            "ip_address": "10.20.30.40",
            "user_agent": "Mozilla/5.0 (X11; Linux x86_64)",
            "current": true,
        }]),
        ("updateCurrentUser" | "getCurrentUser" | "getUserById", "200") => user(),
        ("requestEmergencyAccess", "201") => json!({
            "grant": grant(),
            "access_token": ACCESS_TOKEN,
            "token_type": "Bearer",
            "expires_in": 900,
        }),
        ("listEmergencyGrants", "200") => json!([grant()]),
        ("endEmergencyGrant", "200") => {
            let mut grant = grant();
            grant["ended_at"] = json!("2026-12-04T08:45:00Z");
            grant["ended_by"] = json!("5e2d1c0b-9a87-4654-8321-0fedcba98765");
            grant
        }
        ("listUsers", "200") => {
            json!({ "items": [admin_user()], "next_cursor": "MjAyNi0xMi0wNFQwODoxNTowMFp8MGI1ZjdhNTI" })
        }
        ("createUser", "201") => {
            let mut user = admin_user();
            user["must_change_password"] = json!(true);
            user
        }
        ("getUser" | "updateUser", "200") => admin_user(),
        ("listAuditEvents", "200") => json!({
            "items": [{
                "sequence": 4211,
                "id": "9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a",
                "occurred_at": "2026-12-04T08:15:02Z",
                "event_type": "login_succeeded",
                "user_id": USER_ID,
                "resource": format!("session:{SESSION_ID}"),
                "outcome": "success",
                "severity": "info",
                "detail": "mfa",
                "client_ip": "10.20.30.40",
                "user_agent": "Mozilla/5.0 (X11; Linux x86_64)",
                "request_id": "c2f51bab8134e52361b1aa9e9cd61775",
            }],
        }),
        ("verifyAuditTrail", "200") => json!({ "intact": true, "events_checked": 4211, "last_sequence": 4211 }),
        ("getJwks", "200") => json!({
            "keys": [{
                "kty": "EC",
                "crv": "P-256",
                "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
                "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
                "kid": "3qV-kcIx0Jm7lU3cXhK0yZ8o7Q1w2e3r4t5y6u7i8o9",
                "alg": "ES256",
                "use": "sig",
            }],
        }),
        ("getLiveness" | "getReadiness", "200") => json!({ "status": "ok" }),
        ("getLiveness" | "getReadiness", "503") => json!({ "status": "unavailable" }),
        _ => return None,
    };
    Some(example)
}

/// The problem an error status of an operation returns, as an example.
fn problem_example(operation: &str, status: &str, path: &str) -> Value {
    let (slug, title, detail) = match (operation, status) {
        ("login", "401") => (
            "invalid-credentials",
            "Invalid email or password",
            "the email or password is incorrect",
        ),
        (_, "400") if path.contains("{id}") => (
            "malformed-request",
            "Malformed request",
            "failed to parse path `id`: not a UUID",
        ),
        (_, "400") if operation.starts_with("list") => (
            "malformed-request",
            "Malformed request",
            "failed to parse query `limit`: expected an integer",
        ),
        (_, "400") => (
            "malformed-request",
            "Malformed request",
            "the request body is not valid JSON: expected value at line 1 column 1",
        ),
        (_, "401") => (
            "invalid-token",
            "Invalid or missing token",
            "the access token is missing, invalid or expired",
        ),
        (_, "403") => (
            "forbidden",
            "Forbidden",
            "this operation requires the users:manage permission, which the NURSE role does not have",
        ),
        (_, "404") => ("not-found", "Not found", "no user has this id"),
        (_, "409") => ("conflict", "Conflict", "the request conflicts with the current state"),
        (_, "413") => (
            "payload-too-large",
            "Request body too large",
            "the request body exceeds 65536 bytes",
        ),
        (_, "415") => (
            "unsupported-media-type",
            "Unsupported media type",
            "send the body as application/json",
        ),
        (_, "422") => ("validation-failed", "Validation failed", "invalid fields: email"),
        (_, "429") => (
            "rate-limited",
            "Too many requests",
            "too many requests; retry after 12 seconds",
        ),
        (_, "503") => (
            "service-unavailable",
            "Service unavailable",
            "the database does not answer",
        ),
        _ => (
            "internal-error",
            "Internal server error",
            "an unexpected error occurred",
        ),
    };
    let mut problem = json!({
        "type": format!("urn:somnium:problem:{slug}"),
        "title": title,
        "status": status.parse::<u16>().unwrap_or(500),
        "detail": detail,
        "instance": path,
        "request_id": "c2f51bab8134e52361b1aa9e9cd61775",
    });
    if status == "422" {
        problem["errors"] = json!([{ "field": "email", "code": "invalid_format", "message": "not an email address" }]);
    }
    if operation == "register" && status == "409" {
        problem["type"] = json!("urn:somnium:problem:email-taken");
        problem["title"] = json!("Email already registered");
        problem["detail"] = json!("an account with this email already exists; sign in instead");
    }
    problem
}

/// Adds an example to every request body and to every JSON or problem response of every
/// operation that does not have one yet.
pub fn add_examples(spec: &mut Value) {
    let Some(paths) = spec.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let Some(operations) = item.as_object_mut() else {
            continue;
        };
        for operation in operations.values_mut() {
            let id = operation["operationId"].as_str().unwrap_or_default().to_owned();
            if let Some(example) = request_example(&id) {
                if let Some(contents) = operation["requestBody"]["content"].as_object_mut() {
                    for content in contents.values_mut() {
                        content["example"] = example.clone();
                    }
                }
            }
            let Some(responses) = operation.get_mut("responses").and_then(Value::as_object_mut) else {
                continue;
            };
            for (status, response) in responses.iter_mut() {
                let Some(contents) = response.get_mut("content").and_then(Value::as_object_mut) else {
                    continue;
                };
                for (media_type, content) in contents.iter_mut() {
                    let example = if media_type == "application/problem+json" {
                        Some(problem_example(&id, status, path))
                    } else if media_type.starts_with("application/json") {
                        response_example(&id, status)
                    } else {
                        None
                    };
                    if let Some(example) = example {
                        content["example"] = example;
                    }
                }
            }
        }
    }
}

/// The request and response media types of every operation that lack an example, as
/// `operationId status media-type`, for the test that keeps the spec complete.
pub fn missing_examples(spec: &Value) -> Vec<String> {
    let mut missing = Vec::new();
    let Some(paths) = spec["paths"].as_object() else {
        return missing;
    };
    for item in paths.values() {
        let Some(operations) = item.as_object() else { continue };
        for operation in operations.values() {
            let id = operation["operationId"].as_str().unwrap_or_default();
            if let Some(contents) = operation["requestBody"]["content"].as_object() {
                for (media_type, content) in contents {
                    if content.get("example").is_none() {
                        missing.push(format!("{id} request {media_type}"));
                    }
                }
            }
            for (status, response) in operation["responses"].as_object().into_iter().flatten() {
                for (media_type, content) in response["content"].as_object().into_iter().flatten() {
                    let binary = content["schema"]["format"] == "binary";
                    if content.get("example").is_none() && !binary {
                        missing.push(format!("{id} {status} {media_type}"));
                    }
                }
            }
        }
    }
    missing
}
