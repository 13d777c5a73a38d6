//! Roles, the administration API and the permission matrix.

use serde_json::{json, Value};
use somnium_tests::{on_both_backends, unique_email, SignedInUser, TestApp};

const ROLES: [&str; 5] = ["ADMIN", "ECMO_SPECIALIST", "PHYSICIAN", "NURSE", "PATIENT"];

async fn call(app: &TestApp, method: &str, path: &str, token: &str, body: Option<Value>) -> u16 {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = app.client.request(method, app.url(path)).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap().status().as_u16()
}

async fn access_denied_events(app: &TestApp, operation: &str) -> Vec<Value> {
    app.audit_events("access_denied")
        .await
        .into_iter()
        .filter(|event| event["detail"] == operation)
        .collect()
}

async fn users_by_role(app: &TestApp, admin: &SignedInUser) -> Vec<(String, SignedInUser)> {
    let mut users = Vec::new();
    for role in ROLES {
        let user = if role == "ADMIN" {
            app.user_with_role(admin, "ADMIN").await
        } else {
            app.user_with_role(admin, role).await
        };
        users.push((role.to_owned(), user));
    }
    users
}

on_both_backends! {
    async fn every_role_gets_exactly_its_permissions(app: TestApp) {
        let admin = app.admin().await;
        let target = app.user_with_role(&admin, "PATIENT").await;
        let users = users_by_role(&app, &admin).await;

        for (role, user) in &users {
            let is_admin = role == "ADMIN";
            let admin_status = |ok: u16| if is_admin { ok } else { 403 };
            let cases: Vec<(&str, String, Option<Value>, u16, &str)> = vec![
                ("GET", "/api/v1/users/me".into(), None, 200, "getCurrentUser"),
                ("GET", "/api/v1/auth/sessions".into(), None, 200, "listSessions"),
                ("GET", format!("/api/v1/users/{}", user.id), None, 200, "getUserById"),
                ("GET", format!("/api/v1/users/{}", target.id), None, if is_admin { 200 } else { 404 }, "getUserById"),
                ("GET", "/api/v1/admin/users".into(), None, admin_status(200), "listUsers"),
                ("GET", format!("/api/v1/admin/users/{}", target.id), None, admin_status(200), "getUser"),
                ("POST", format!("/api/v1/admin/users/{}/unlock", target.id), None, admin_status(204), "unlockUser"),
                ("DELETE", format!("/api/v1/admin/users/{}/sessions", target.id), None, admin_status(204), "endUserSessions"),
                ("GET", "/api/v1/admin/audit-events".into(), None, admin_status(200), "listAuditEvents"),
                ("GET", "/api/v1/admin/audit/verify".into(), None, admin_status(200), "verifyAuditTrail"),
                (
                    "POST",
                    "/api/v1/admin/users".into(),
                    Some(json!({ "email": unique_email(), "full_name": "New Nurse", "role": "NURSE", "temporary_password": "Temp-Ward-7#Lumen" })),
                    admin_status(201),
                    "createUser",
                ),
                (
                    "PATCH",
                    format!("/api/v1/admin/users/{}", target.id),
                    Some(json!({ "status": "active" })),
                    admin_status(200),
                    "updateUser",
                ),
            ];
            for (method, path, body, expected, operation) in cases {
                let status = call(&app, method, &path, &user.access_token, body).await;
                assert_eq!(status, expected, "{role} {method} {path}");
                if expected == 403 {
                    let denied = access_denied_events(&app, operation).await;
                    assert!(
                        denied.iter().any(|event| event["user_id"] == user.id.as_str() && event["resource"] == path.as_str()),
                        "no access_denied event for {role} {operation}"
                    );
                }
            }
        }
    }

    async fn missing_or_bad_token_stays_401(app: TestApp) {
        for path in ["/api/v1/admin/users", "/api/v1/admin/audit/verify"] {
            let response = app.client.get(app.url(path)).send().await.unwrap();
            assert_eq!(response.status(), 401, "{path}");
            let response = app.client.get(app.url(path)).bearer_auth("forged").send().await.unwrap();
            assert_eq!(response.status(), 401, "{path}");
        }
    }

    async fn patients_see_only_themselves(app: TestApp) {
        let admin = app.admin().await;
        let patient = app.signed_in_user().await;
        let other = app.signed_in_user().await;

        assert_eq!(call(&app, "GET", &format!("/api/v1/users/{}", other.id), &patient.access_token, None).await, 404);
        assert_eq!(call(&app, "GET", &format!("/api/v1/users/{}", admin.id), &patient.access_token, None).await, 404);
        let unknown = uuid::Uuid::new_v4();
        assert_eq!(call(&app, "GET", &format!("/api/v1/users/{unknown}"), &patient.access_token, None).await, 404);
        assert_eq!(call(&app, "GET", &format!("/api/v1/users/{}", patient.id), &patient.access_token, None).await, 200);

        let renamed = app
            .client
            .patch(app.url("/api/v1/users/me"))
            .bearer_auth(&patient.access_token)
            .json(&json!({ "full_name": "Pat Renamed" }))
            .send()
            .await
            .unwrap();
        assert_eq!(renamed.status(), 200);
        let body: Value = renamed.json().await.unwrap();
        assert_eq!(body["full_name"], "Pat Renamed");
        assert_eq!(body["role"], "PATIENT");
        let escalate = call(&app, "PATCH", "/api/v1/users/me", &patient.access_token, Some(json!({ "full_name": "Pat", "role": "ADMIN" }))).await;
        assert_eq!(escalate, 422, "only the name can change");
    }

    async fn temporary_password_must_be_changed_first(app: TestApp) {
        let admin = app.admin().await;
        let email = unique_email();
        let body = json!({ "email": email, "full_name": "Nia Nurse", "role": "NURSE", "temporary_password": "Temp-Ward-7#Lumen" });
        let created = app.client.post(app.url("/api/v1/admin/users")).bearer_auth(&admin.access_token).json(&body).send().await.unwrap();
        assert_eq!(created.status(), 201);
        let created: Value = created.json().await.unwrap();
        assert_eq!(created["role"], "NURSE");
        assert_eq!(created["must_change_password"], true);

        let first = app.sign_in(&email, "Temp-Ward-7#Lumen").await;
        assert_eq!(call(&app, "GET", "/api/v1/auth/sessions", &first.access_token, None).await, 403);
        assert_eq!(call(&app, "GET", "/api/v1/users/me", &first.access_token, None).await, 200);
        let change = json!({ "current_password": "Temp-Ward-7#Lumen", "new_password": "Own-Ward-8#Lumen" });
        assert_eq!(call(&app, "POST", "/api/v1/auth/password", &first.access_token, Some(change)).await, 204);
        let refreshed: Value = app.refresh(&first.refresh_token).await.json().await.unwrap();
        let token = refreshed["access_token"].as_str().unwrap();
        assert_eq!(call(&app, "GET", "/api/v1/auth/sessions", token, None).await, 200);

        assert_eq!(app.client.post(app.url("/api/v1/admin/users")).bearer_auth(&admin.access_token).json(&body).send().await.unwrap().status(), 409);
        let weak = json!({ "email": unique_email(), "full_name": "Nia Nurse", "role": "NURSE", "temporary_password": "password1" });
        assert_eq!(call(&app, "POST", "/api/v1/admin/users", &admin.access_token, Some(weak)).await, 422);
    }

    async fn role_change_and_disable_end_sessions(app: TestApp) {
        let admin = app.admin().await;
        let nurse = app.user_with_role(&admin, "NURSE").await;
        let promote = json!({ "role": "PHYSICIAN" });
        let response = app.client.patch(app.url(&format!("/api/v1/admin/users/{}", nurse.id))).bearer_auth(&admin.access_token).json(&promote).send().await.unwrap();
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["role"], "PHYSICIAN");
        assert_eq!(app.me(&nurse.access_token).await.status(), 401, "tokens with the old role stop at once");

        let updates = app.audit_events("user_updated").await;
        let update = updates.last().unwrap();
        assert_eq!(update["user_id"], nurse.id.as_str());
        let changes = app.query("SELECT changes, CAST(actor_id AS TEXT) AS actor_id FROM audit_events WHERE event_type = 'user_updated'").await;
        assert_eq!(changes[0]["changes"], "role: NURSE -> PHYSICIAN");
        assert_eq!(changes[0]["actor_id"], admin.id.as_str());

        let physician = app.sign_in(&nurse.email, &nurse.password).await;
        let disable = json!({ "status": "disabled" });
        assert_eq!(call(&app, "PATCH", &format!("/api/v1/admin/users/{}", nurse.id), &admin.access_token, Some(disable)).await, 200);
        assert_eq!(app.me(&physician.access_token).await.status(), 401);
        assert_eq!(app.login(&nurse.email, &nurse.password).await.status(), 401, "a disabled user cannot sign in");
        assert_eq!(app.refresh(&physician.refresh_token).await.status(), 401);
    }

    async fn last_admin_cannot_be_removed(app: TestApp) {
        let admin = app.admin().await;
        let demote = json!({ "role": "NURSE" });
        let disable = json!({ "status": "disabled" });
        let path = format!("/api/v1/admin/users/{}", admin.id);
        assert_eq!(call(&app, "PATCH", &path, &admin.access_token, Some(demote.clone())).await, 409);
        assert_eq!(call(&app, "PATCH", &path, &admin.access_token, Some(disable)).await, 409);

        let second = app.user_with_role(&admin, "ADMIN").await;
        let second_path = format!("/api/v1/admin/users/{}", second.id);
        assert_eq!(call(&app, "PATCH", &second_path, &admin.access_token, Some(demote.clone())).await, 200);
        assert_eq!(call(&app, "PATCH", &path, &admin.access_token, Some(demote)).await, 409);
    }

    async fn unlock_and_end_sessions(app: TestApp) {
        let admin = app.admin().await;
        let user = app.signed_in_user().await;
        for _ in 0..5 {
            app.login(&user.email, "Wrong-7#Lumen").await;
        }
        assert_eq!(app.login(&user.email, &user.password).await.status(), 401, "locked");
        assert_eq!(call(&app, "POST", &format!("/api/v1/admin/users/{}/unlock", user.id), &admin.access_token, None).await, 204);
        assert_eq!(app.login(&user.email, &user.password).await.status(), 200, "unlocked");
        assert_eq!(app.audit_events("user_unlocked").await.len(), 1);

        assert_eq!(call(&app, "DELETE", &format!("/api/v1/admin/users/{}/sessions", user.id), &admin.access_token, None).await, 204);
        assert_eq!(app.me(&user.access_token).await.status(), 401);
        let unknown = uuid::Uuid::new_v4();
        assert_eq!(call(&app, "POST", &format!("/api/v1/admin/users/{unknown}/unlock"), &admin.access_token, None).await, 404);
    }

    async fn users_are_listed_with_filters(app: TestApp) {
        let admin = app.admin().await;
        for _ in 0..3 {
            app.user_with_role(&admin, "NURSE").await;
        }
        let page = |query: &str| {
            let url = app.url(&format!("/api/v1/admin/users{query}"));
            let token = admin.access_token.clone();
            let client = app.client.clone();
            async move {
                let response = client.get(url).bearer_auth(token).send().await.unwrap();
                assert_eq!(response.status(), 200);
                response.json::<Value>().await.unwrap()
            }
        };
        let nurses = page("?role=NURSE").await;
        assert_eq!(nurses["items"].as_array().unwrap().len(), 3);
        let first = page("?role=NURSE&limit=2").await;
        assert_eq!(first["items"].as_array().unwrap().len(), 2);
        let cursor = first["next_cursor"].as_str().unwrap();
        let second = page(&format!("?role=NURSE&limit=2&cursor={cursor}")).await;
        assert_eq!(second["items"].as_array().unwrap().len(), 1);
        assert!(second.get("next_cursor").is_none());
        assert_ne!(first["items"][0]["id"], second["items"][0]["id"]);

        let by_prefix = page(&format!("?email_prefix={}", &admin.email[..12].to_uppercase())).await;
        assert_eq!(by_prefix["items"].as_array().unwrap().len(), 1);
        assert_eq!(page("?status=disabled").await["items"].as_array().unwrap().len(), 0);
        assert_eq!(call(&app, "GET", "/api/v1/admin/users?cursor=bogus", &admin.access_token, None).await, 422);
        assert_eq!(call(&app, "GET", "/api/v1/admin/users?limit=0", &admin.access_token, None).await, 422);
        assert_eq!(call(&app, "GET", "/api/v1/admin/users?role=KING", &admin.access_token, None).await, 400);
    }
}
