//! Break-glass emergency access.

use serde_json::{json, Value};
use somnium_tests::{jwt_parts, on_both_backends, SignedInUser, TestApp};
use time::Duration;

const REASON: &str = "Patient crashed on ECMO circuit 3, attending unreachable";

async fn request_access(app: &TestApp, user: &SignedInUser, body: Value) -> reqwest::Response {
    app.client
        .post(app.url("/api/v1/auth/emergency-access"))
        .bearer_auth(&user.access_token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

on_both_backends! {
    async fn only_physicians_and_above_break_glass(app: TestApp) {
        let admin = app.admin().await;
        for (role, expected) in [("PHYSICIAN", 201), ("ECMO_SPECIALIST", 201), ("NURSE", 403), ("PATIENT", 403)] {
            let user = app.user_with_role(&admin, role).await;
            let response = request_access(&app, &user, json!({ "reason": REASON, "patient_ref": "MRN-1234" })).await;
            assert_eq!(response.status(), expected, "{role}");
        }
        let denied = app.audit_events("access_denied").await;
        assert_eq!(denied.iter().filter(|event| event["detail"] == "requestEmergencyAccess").count(), 2);
    }

    async fn grant_carries_a_claim_and_is_audited(app: TestApp) {
        let admin = app.admin().await;
        let physician = app.user_with_role(&admin, "PHYSICIAN").await;

        let short = request_access(&app, &physician, json!({ "reason": "need it" })).await;
        assert_eq!(short.status(), 422);
        let bad_ref = request_access(&app, &physician, json!({ "reason": REASON, "patient_ref": "<b>" })).await;
        assert_eq!(bad_ref.status(), 422);

        let granted: Value = request_access(&app, &physician, json!({ "reason": REASON, "patient_ref": "MRN-1234" })).await.json().await.unwrap();
        let (_, claims) = jwt_parts(granted["access_token"].as_str().unwrap());
        assert_eq!(claims["emergency"]["scope"], "patient:MRN-1234");
        assert_eq!(claims["emergency"]["grant_id"], granted["grant"]["grant_id"]);
        let expires = claims["emergency"]["exp"].as_i64().unwrap();
        assert_eq!(expires - claims["iat"].as_i64().unwrap(), 3600);

        let refreshed: Value = app.refresh(&physician.refresh_token).await.json().await.unwrap();
        let (_, refreshed_claims) = jwt_parts(refreshed["access_token"].as_str().unwrap());
        assert_eq!(refreshed_claims["emergency"]["grant_id"], granted["grant"]["grant_id"], "refresh keeps the claim");

        let events = app.query("SELECT severity, detail FROM audit_events WHERE event_type = 'emergency_access_granted'").await;
        assert_eq!(events.len(), 1);
        assert_eq!(events[0]["severity"], "high");

        let listed: Value = app.client.get(app.url("/api/v1/admin/emergency-access")).bearer_auth(&admin.access_token).send().await.unwrap().json().await.unwrap();
        assert_eq!(listed[0]["reason"], REASON);
        assert_eq!(listed[0]["user_id"], physician.id.as_str());

        // Refreshing every 25 minutes keeps the session within its idle limit past the grant's end.
        let mut later = refreshed;
        for _ in 0..3 {
            app.clock.advance(Duration::minutes(25));
            later = app.refresh(later["refresh_token"].as_str().unwrap()).await.json().await.unwrap();
        }
        let (_, later_claims) = jwt_parts(later["access_token"].as_str().unwrap());
        assert!(later_claims.get("emergency").is_none(), "the claim ends with the grant");
    }

    async fn admin_ends_a_grant_early(app: TestApp) {
        let admin = app.admin().await;
        let physician = app.user_with_role(&admin, "PHYSICIAN").await;
        let granted: Value = request_access(&app, &physician, json!({ "reason": REASON })).await.json().await.unwrap();
        let token = granted["access_token"].as_str().unwrap().to_owned();
        assert_eq!(app.me(&token).await.status(), 200);

        let grant_id = granted["grant"]["grant_id"].as_str().unwrap();
        let end = |path: String| app.client.post(app.url(&path)).bearer_auth(&admin.access_token).send();
        let ended = end(format!("/api/v1/admin/emergency-access/{grant_id}/end")).await.unwrap();
        assert_eq!(ended.status(), 200);
        let body: Value = ended.json().await.unwrap();
        assert_eq!(body["ended_by"], admin.id.as_str());
        assert_eq!(app.me(&token).await.status(), 401, "the grant's session is revoked at once");
        assert_eq!(app.audit_events("emergency_access_ended").await.len(), 1);

        let unknown = uuid::Uuid::new_v4();
        assert_eq!(end(format!("/api/v1/admin/emergency-access/{unknown}/end")).await.unwrap().status(), 404);
        let physician_try = app.client.get(app.url("/api/v1/admin/emergency-access")).bearer_auth(&physician.access_token).send().await.unwrap();
        assert_eq!(physician_try.status(), 401, "the physician's session was revoked");
    }
}
