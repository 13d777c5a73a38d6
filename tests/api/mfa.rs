use serde_json::{json, Value};
use somnium::ClockPort;
use somnium_domain::mfa::MfaPolicy;
use somnium_tests::{jwt_parts, on_both_backends, totp_code, unique_email, Backend, SignedInUser, TestApp};
use time::Duration;

const PASSWORD: &str = "Correct-Horse-9";

/// The TOTP step of the app's clock.
fn step(app: &TestApp) -> i64 {
    app.clock.now().unix_timestamp().div_euclid(30)
}

/// Moves the app's clock to the start of a later step, so a code computed now is still of the
/// same step when the app checks it.
fn next_step(app: &TestApp) {
    let into_step = app.clock.now().unix_timestamp().rem_euclid(30);
    app.clock.advance(Duration::seconds(30 - into_step + 1));
}

async fn post(app: &TestApp, path: &str, token: Option<&str>, body: Value) -> reqwest::Response {
    let mut request = app.client.post(app.url(path)).json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

async fn status(app: &TestApp, token: &str) -> Value {
    let response = app
        .client
        .get(app.url("/api/v1/auth/mfa"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// Turns TOTP on for a signed-in user; returns the secret and the recovery codes.
async fn enroll(app: &TestApp, user: &SignedInUser) -> (String, Vec<String>) {
    let started = post(app, "/api/v1/auth/mfa/totp", Some(&user.access_token), json!({})).await;
    assert_eq!(started.status(), 200);
    let started: Value = started.json().await.unwrap();
    let secret = started["secret"].as_str().unwrap().to_owned();
    next_step(app);
    let code = totp_code(&secret, step(app));
    let confirmed = post(
        app,
        "/api/v1/auth/mfa/totp/confirm",
        Some(&user.access_token),
        json!({ "code": code }),
    )
    .await;
    assert_eq!(confirmed.status(), 200);
    let confirmed: Value = confirmed.json().await.unwrap();
    let codes = confirmed["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|code| code.as_str().unwrap().to_owned())
        .collect();
    // The confirming code's step is spent; sign-ins use the next one.
    next_step(app);
    (secret, codes)
}

/// Signs in with the password and returns the `mfa_token` of the second step.
async fn challenge(app: &TestApp, email: &str) -> String {
    let response = app.login(email, PASSWORD).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["mfa_required"], true, "{body}");
    assert!(body.get("access_token").is_none());
    body["mfa_token"].as_str().unwrap().to_owned()
}

async fn verify(app: &TestApp, mfa_token: &str, factor: Value) -> reqwest::Response {
    let mut body = factor;
    body["mfa_token"] = json!(mfa_token);
    post(app, "/api/v1/auth/mfa/verify", None, body).await
}

fn amr(access_token: &str) -> Value {
    jwt_parts(access_token).1["amr"].clone()
}

async fn problem_type(response: reqwest::Response) -> String {
    let body: Value = response.json().await.unwrap();
    body["type"].as_str().unwrap_or_default().to_owned()
}

on_both_backends! {
    async fn enrollment_then_a_two_step_login(app: TestApp) {
        let user = app.signed_in_user().await;
        assert_eq!(amr(&user.access_token), json!(["pwd"]));

        let started = post(&app, "/api/v1/auth/mfa/totp", Some(&user.access_token), json!({})).await;
        assert_eq!(started.status(), 200);
        let started: Value = started.json().await.unwrap();
        let secret = started["secret"].as_str().unwrap().to_owned();
        assert_eq!(secret.len(), 32, "160 bits in base32");
        let uri = started["otpauth_uri"].as_str().unwrap();
        assert!(uri.starts_with("otpauth://totp/Somnium:"), "{uri}");
        assert!(uri.contains(&format!("secret={secret}")) && uri.contains("digits=6") && uri.contains("period=30"), "{uri}");
        assert!(started["qr_code_svg"].as_str().unwrap().contains("<svg"));
        assert_eq!(status(&app, &user.access_token).await["pending"], true);

        // Until confirmed nothing changes at sign-in.
        let login: Value = app.login(&user.email, PASSWORD).await.json().await.unwrap();
        assert!(login["access_token"].is_string(), "{login}");

        let wrong = post(&app, "/api/v1/auth/mfa/totp/confirm", Some(&user.access_token), json!({ "code": "000000" })).await;
        assert_eq!(wrong.status(), 422);
        assert_eq!(problem_type(wrong).await, "urn:somnium:problem:invalid-mfa-code");
        let code = totp_code(&secret, step(&app));
        let confirmed = post(&app, "/api/v1/auth/mfa/totp/confirm", Some(&user.access_token), json!({ "code": code })).await;
        assert_eq!(confirmed.status(), 200);
        let confirmed: Value = confirmed.json().await.unwrap();
        let codes: Vec<&str> = confirmed["recovery_codes"].as_array().unwrap().iter().map(|code| code.as_str().unwrap()).collect();
        assert_eq!(codes.len(), 10);
        assert_eq!(codes.iter().collect::<std::collections::HashSet<_>>().len(), 10);
        let state = status(&app, &user.access_token).await;
        assert_eq!((state["enabled"].clone(), state["recovery_codes_remaining"].clone()), (json!(true), json!(10)));
        let again = post(&app, "/api/v1/auth/mfa/totp", Some(&user.access_token), json!({})).await;
        assert_eq!(again.status(), 409);

        // The secret and the recovery codes never reach the database in the clear.
        for row in app.query("SELECT * FROM user_mfa").await.iter().chain(app.query("SELECT * FROM mfa_recovery_codes").await.iter()) {
            let text = row.to_string().to_uppercase();
            assert!(!text.contains(&secret), "{row}");
            for code in &codes {
                assert!(!text.contains(&code.to_uppercase()), "{row}");
            }
        }

        next_step(&app);
        let response = app.login(&user.email, PASSWORD).await;
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["token_delivery"], "none");
        assert_eq!(body["enrollment_required"], false);
        let mfa_token = body["mfa_token"].as_str().unwrap().to_owned();
        // The mfa_token is good for nothing but the second step.
        assert_eq!(app.me(&mfa_token).await.status(), 401);
        assert_eq!(app.refresh(&mfa_token).await.status(), 401);

        let signed = verify(&app, &mfa_token, json!({ "code": totp_code(&secret, step(&app)) })).await;
        assert_eq!(signed.status(), 200);
        let tokens: Value = signed.json().await.unwrap();
        let access_token = tokens["access_token"].as_str().unwrap();
        assert_eq!(amr(access_token), json!(["pwd", "otp"]));
        assert_eq!(app.me(access_token).await.status(), 200);
        let refreshed: Value = app.refresh(tokens["refresh_token"].as_str().unwrap()).await.json().await.unwrap();
        assert_eq!(amr(refreshed["access_token"].as_str().unwrap()), json!(["pwd", "otp"]));

        // Single use.
        next_step(&app);
        let reused = verify(&app, &mfa_token, json!({ "code": totp_code(&secret, step(&app)) })).await;
        assert_eq!(reused.status(), 401);
        assert_eq!(app.audit_events("mfa_verified").await.len(), 1);
        assert_eq!(app.audit_events("mfa_enabled").await.len(), 1);
    }

    async fn one_step_of_drift_is_accepted_and_codes_never_replay(app: TestApp) {
        let user = app.signed_in_user().await;
        let (secret, _) = enroll(&app, &user).await;
        let now = step(&app);

        let mfa_token = challenge(&app, &user.email).await;
        for far in [now - 2, now + 2] {
            let response = verify(&app, &mfa_token, json!({ "code": totp_code(&secret, far) })).await;
            assert_eq!(response.status(), 422, "step {far}");
        }
        assert_eq!(verify(&app, &mfa_token, json!({ "code": totp_code(&secret, now + 1) })).await.status(), 200);

        // The accepted code, and every code of an older step, are replays from now on, on
        // this instance and on any other.
        let sibling = app.spawn_sibling().await;
        sibling.clock.advance(app.clock.now() - time::OffsetDateTime::now_utc());
        for (instance, code_step) in [(&app, now + 1), (&sibling, now + 1), (&app, now)] {
            let mfa_token = challenge(instance, &user.email).await;
            let response = verify(instance, &mfa_token, json!({ "code": totp_code(&secret, code_step) })).await;
            assert_eq!(response.status(), 422, "step {code_step}");
        }
        app.clock.advance(Duration::seconds(60));
        let mfa_token = challenge(&app, &user.email).await;
        assert_eq!(verify(&app, &mfa_token, json!({ "code": totp_code(&secret, step(&app)) })).await.status(), 200);
        let previous = json!({ "code": totp_code(&secret, now + 1) });
        let mfa_token = challenge(&app, &user.email).await;
        assert_eq!(verify(&app, &mfa_token, previous).await.status(), 422);
        assert!(app.audit_events("mfa_failed").await.iter().any(|event| event["detail"] == "replayed_code"));
    }

    async fn recovery_codes_are_single_use_and_regenerable(app: TestApp) {
        let user = app.signed_in_user().await;
        let (secret, codes) = enroll(&app, &user).await;

        let mfa_token = challenge(&app, &user.email).await;
        let typed = codes[0].to_uppercase().replace('-', " ");
        let signed = verify(&app, &mfa_token, json!({ "recovery_code": typed })).await;
        assert_eq!(signed.status(), 200);
        let tokens: Value = signed.json().await.unwrap();
        let access_token = tokens["access_token"].as_str().unwrap().to_owned();
        assert_eq!(status(&app, &access_token).await["recovery_codes_remaining"], 9);

        let mfa_token = challenge(&app, &user.email).await;
        assert_eq!(verify(&app, &mfa_token, json!({ "recovery_code": codes[0] })).await.status(), 422);
        let both = verify(&app, &mfa_token, json!({ "code": "123456", "recovery_code": codes[1] })).await;
        assert_eq!(both.status(), 422);

        let wrong = post(&app, "/api/v1/auth/mfa/recovery-codes", Some(&access_token), json!({ "code": "000000" })).await;
        assert_eq!(wrong.status(), 422);
        let code = totp_code(&secret, step(&app));
        let renewed = post(&app, "/api/v1/auth/mfa/recovery-codes", Some(&access_token), json!({ "code": code })).await;
        assert_eq!(renewed.status(), 200);
        let renewed: Value = renewed.json().await.unwrap();
        let fresh = renewed["recovery_codes"][0].as_str().unwrap().to_owned();
        assert_eq!(status(&app, &access_token).await["recovery_codes_remaining"], 10);

        let mfa_token = challenge(&app, &user.email).await;
        assert_eq!(verify(&app, &mfa_token, json!({ "recovery_code": codes[1] })).await.status(), 422, "old codes are void");
        assert_eq!(verify(&app, &mfa_token, json!({ "recovery_code": fresh })).await.status(), 200);
        assert_eq!(app.audit_events("recovery_codes_regenerated").await.len(), 1);
    }

    async fn wrong_codes_void_the_challenge_then_block_the_account(app: TestApp) {
        let user = app.signed_in_user().await;
        let (secret, _) = enroll(&app, &user).await;

        let mfa_token = challenge(&app, &user.email).await;
        for attempt in 0..5 {
            let response = verify(&app, &mfa_token, json!({ "code": format!("{:06}", attempt) })).await;
            assert_eq!(response.status(), 422);
        }
        let correct = json!({ "code": totp_code(&secret, step(&app)) });
        assert_eq!(verify(&app, &mfa_token, correct.clone()).await.status(), 401, "five wrong codes void the token");
        assert_eq!(app.audit_events("mfa_failed").await.len(), 5);
        assert!(app.audit_events("mfa_blocked").await.iter().any(|event| event["detail"] == "challenge_void"));

        // The password step is untouched by wrong codes.
        let mfa_token = challenge(&app, &user.email).await;
        for attempt in 0..5 {
            verify(&app, &mfa_token, json!({ "code": format!("{:06}", attempt) })).await;
        }
        let mfa_token = challenge(&app, &user.email).await;
        let blocked = verify(&app, &mfa_token, correct).await;
        assert_eq!(blocked.status(), 429);
        assert_eq!(problem_type(blocked).await, "urn:somnium:problem:mfa-blocked");

        // Wrong passwords meanwhile do not lift or extend the second-factor block, and the
        // hour's end does.
        assert_eq!(app.login(&user.email, "Wrong-Horse-9").await.status(), 401);
        app.clock.advance(Duration::minutes(61));
        let mfa_token = challenge(&app, &user.email).await;
        assert_eq!(verify(&app, &mfa_token, json!({ "code": totp_code(&secret, step(&app)) })).await.status(), 200);
    }

    async fn disabling_needs_the_password_and_a_current_code(app: TestApp) {
        let user = app.signed_in_user().await;
        let (secret, _) = enroll(&app, &user).await;
        let mfa_token = challenge(&app, &user.email).await;
        let tokens: Value = verify(&app, &mfa_token, json!({ "code": totp_code(&secret, step(&app)) })).await.json().await.unwrap();
        let access_token = tokens["access_token"].as_str().unwrap().to_owned();
        next_step(&app);

        let code = totp_code(&secret, step(&app));
        let wrong_password = post(&app, "/api/v1/auth/mfa/totp/disable", Some(&access_token), json!({ "password": "Wrong-Horse-9", "code": code })).await;
        assert_eq!(wrong_password.status(), 422);
        let problem: Value = wrong_password.json().await.unwrap();
        assert_eq!(problem["errors"][0]["field"], "password");
        assert_eq!(problem["errors"][0]["code"], "incorrect");
        let wrong_code = post(&app, "/api/v1/auth/mfa/totp/disable", Some(&access_token), json!({ "password": PASSWORD, "code": "000000" })).await;
        assert_eq!(wrong_code.status(), 422);
        let disabled = post(&app, "/api/v1/auth/mfa/totp/disable", Some(&access_token), json!({ "password": PASSWORD, "code": code })).await;
        assert_eq!(disabled.status(), 204);
        assert_eq!(status(&app, &access_token).await["enabled"], false);
        let login: Value = app.login(&user.email, PASSWORD).await.json().await.unwrap();
        assert!(login["access_token"].is_string(), "{login}");
        assert_eq!(app.audit_events("mfa_disabled").await.len(), 1);
    }
}

/// Creates a user with `role` through the admin API, with `PASSWORD` as the temporary password.
async fn create_staff(app: &TestApp, admin: &SignedInUser, role: &str) -> (String, String) {
    let email = unique_email();
    let body = json!({ "email": email, "full_name": "Staff Member", "role": role, "temporary_password": PASSWORD });
    let created = post(app, "/api/v1/admin/users", Some(&admin.access_token), body).await;
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    (email, created["id"].as_str().unwrap().to_owned())
}

async fn required_roles(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, |config| {
        config.mfa = MfaPolicy {
            required_roles: vec![somnium_domain::Role::Nurse],
        };
    })
    .await
    else {
        return;
    };
    let admin = app.admin().await;
    let (email, id) = create_staff(&app, &admin, "NURSE").await;

    let response = app.login(&email, PASSWORD).await;
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        (body["mfa_required"].clone(), body["enrollment_required"].clone()),
        (json!(true), json!(true))
    );
    let mfa_token = body["mfa_token"].as_str().unwrap().to_owned();
    assert_eq!(app.me(&mfa_token).await.status(), 401);
    assert_eq!(
        verify(&app, &mfa_token, json!({ "code": "123456" })).await.status(),
        401,
        "not a verify challenge"
    );

    let started = post(&app, "/api/v1/auth/mfa/enroll", None, json!({ "mfa_token": mfa_token })).await;
    assert_eq!(started.status(), 200);
    let secret = started.json::<Value>().await.unwrap()["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    next_step(&app);
    let confirm = json!({ "mfa_token": mfa_token, "code": totp_code(&secret, step(&app)) });
    let confirmed = post(&app, "/api/v1/auth/mfa/enroll/confirm", None, confirm.clone()).await;
    assert_eq!(confirmed.status(), 200);
    let confirmed: Value = confirmed.json().await.unwrap();
    assert_eq!(confirmed["recovery_codes"].as_array().unwrap().len(), 10);
    let access_token = confirmed["tokens"]["access_token"].as_str().unwrap().to_owned();
    let (_, claims) = jwt_parts(&access_token);
    assert_eq!(claims["amr"], json!(["pwd", "otp"]));
    assert_eq!(claims["pwd_change"], true, "the temporary password still has to change");
    assert_eq!(
        post(&app, "/api/v1/auth/mfa/enroll/confirm", None, confirm)
            .await
            .status(),
        401,
        "single use"
    );

    // A nurse may not turn the required factor off.
    next_step(&app);
    let change = json!({ "current_password": PASSWORD, "new_password": "Night-Shift-42!" });
    assert_eq!(
        post(&app, "/api/v1/auth/password", Some(&access_token), change)
            .await
            .status(),
        204
    );
    let mfa_token = {
        let body: Value = app.login(&email, "Night-Shift-42!").await.json().await.unwrap();
        assert_eq!(body["enrollment_required"], false);
        body["mfa_token"].as_str().unwrap().to_owned()
    };
    let signed: Value = verify(&app, &mfa_token, json!({ "code": totp_code(&secret, step(&app)) }))
        .await
        .json()
        .await
        .unwrap();
    let access_token = signed["access_token"].as_str().unwrap().to_owned();
    next_step(&app);
    let disable = json!({ "password": "Night-Shift-42!", "code": totp_code(&secret, step(&app)) });
    assert_eq!(
        post(&app, "/api/v1/auth/mfa/totp/disable", Some(&access_token), disable)
            .await
            .status(),
        409
    );

    // Patients are not required; they sign in with the password alone.
    let patient = app.signed_in_user().await;
    assert_eq!(amr(&patient.access_token), json!(["pwd"]));

    // An administrator resets the nurse's factor; the next sign-in leads to enrollment again.
    let reset = |caller: String| {
        let app = &app;
        let id = id.clone();
        async move {
            app.client
                .delete(app.url(&format!("/api/v1/admin/users/{id}/mfa")))
                .bearer_auth(caller)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(reset(patient.access_token.clone()).await, 403);
    assert_eq!(reset(admin.access_token.clone()).await, 204);
    assert_eq!(reset(admin.access_token.clone()).await, 404);
    let events = app.audit_events("mfa_reset").await;
    assert_eq!(events.len(), 1);
    let severity = app
        .query("SELECT severity FROM audit_events WHERE event_type = 'mfa_reset'")
        .await;
    assert_eq!(severity[0]["severity"], "high");
    let body: Value = app.login(&email, "Night-Shift-42!").await.json().await.unwrap();
    assert_eq!(body["enrollment_required"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn required_roles_enroll_at_sign_in_and_admins_reset_sqlite() {
    required_roles(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn required_roles_enroll_at_sign_in_and_admins_reset_postgres() {
    required_roles(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookie_mode_carries_through_the_second_step() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let user = app.signed_in_user().await;
    let (secret, _) = enroll(&app, &user).await;
    let login = post(
        &app,
        "/api/v1/auth/login",
        None,
        json!({ "email": user.email, "password": PASSWORD, "token_delivery": "cookie" }),
    )
    .await;
    assert_eq!(login.status(), 200);
    assert!(
        login.headers().get("set-cookie").is_none(),
        "no cookies before the second factor"
    );
    let body: Value = login.json().await.unwrap();
    let factor = json!({ "code": totp_code(&secret, step(&app)), "token_delivery": "cookie" });
    let signed = verify(&app, body["mfa_token"].as_str().unwrap(), factor).await;
    assert_eq!(signed.status(), 200);
    assert!(signed
        .headers()
        .get_all("set-cookie")
        .iter()
        .any(|cookie| cookie.to_str().unwrap().starts_with("__Host-somnium_access=")));
    let body: Value = signed.json().await.unwrap();
    assert_eq!(body["token_delivery"], "cookie");
    assert!(body.get("access_token").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emergency_access_needs_a_session_with_the_second_factor() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let admin = app.admin().await;
    let (email, _) = create_staff(&app, &admin, "PHYSICIAN").await;
    let first: Value = app.login(&email, PASSWORD).await.json().await.unwrap();
    let new_password = "Night-Shift-42!";
    let change = json!({ "current_password": PASSWORD, "new_password": new_password });
    let changed = post(&app, "/api/v1/auth/password", first["access_token"].as_str(), change).await;
    assert_eq!(changed.status(), 204);
    let physician = app.sign_in(&email, new_password).await;
    let (secret, _) = enroll(&app, &physician).await;

    // A second instance that requires a second factor of staff: the physician's current
    // session began with a password alone, so it may not break the glass there.
    let mut strict_config = app.config.clone();
    strict_config.mfa = MfaPolicy::staff();
    let strict = app.spawn_sibling_with(strict_config).await;
    strict.clock.advance(app.clock.now() - time::OffsetDateTime::now_utc());
    let reason = json!({ "reason": "Patient crashing on ECMO, attending unreachable", "patient_ref": "MRN-1234" });
    let refused = post(
        &strict,
        "/api/v1/auth/emergency-access",
        Some(&physician.access_token),
        reason.clone(),
    )
    .await;
    assert_eq!(refused.status(), 403);

    let login: Value = strict.login(&email, new_password).await.json().await.unwrap();
    let mfa_token = login["mfa_token"].as_str().unwrap();
    let tokens: Value = verify(&strict, mfa_token, json!({ "code": totp_code(&secret, step(&strict)) }))
        .await
        .json()
        .await
        .unwrap();
    let with_otp = tokens["access_token"].as_str().unwrap();
    let granted = post(&strict, "/api/v1/auth/emergency-access", Some(with_otp), reason).await;
    assert_eq!(granted.status(), 201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_second_step_has_the_login_rate_limit() {
    let app = TestApp::spawn_with(Backend::Sqlite, |config| {
        config.rate_limits.login = somnium_domain::rate_limit::RateLimit::per_minute(2);
    })
    .await
    .unwrap();
    let guess = json!({ "code": "123456" });
    for _ in 0..2 {
        assert_eq!(verify(&app, "not-a-token", guess.clone()).await.status(), 401);
    }
    let limited = verify(&app, "not-a-token", guess).await;
    assert_eq!(limited.status(), 429);
    assert!(limited.headers().contains_key("retry-after"));
    // The password step keeps its own budget.
    assert_eq!(app.login(&unique_email(), PASSWORD).await.status(), 401);
}
