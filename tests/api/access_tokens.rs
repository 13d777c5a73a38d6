use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use josekit::jwk::Jwk;
use josekit::jws::{JwsHeader, ES256, HS256};
use josekit::jwt::{self, JwtPayload};
use serde_json::{json, Value};
use somnium_tests::{jwt_parts, on_both_backends, TestApp};
use time::Duration;

const INVALID_TOKEN_CHALLENGE: &str = r#"Bearer realm="somnium", error="invalid_token""#;

async fn assert_rejected(app: &TestApp, token: &str, case: &str) {
    let response = app.me(token).await;
    assert_eq!(response.status(), 401, "{case}");
    assert_eq!(
        response.headers()["www-authenticate"],
        INVALID_TOKEN_CHALLENGE,
        "{case}"
    );
    assert_eq!(response.headers()["content-type"], "application/problem+json", "{case}");
}

fn encode_part(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap())
}

/// Signs `claims` with the app's own signing key, as a forger holding the key would.
fn sign_with_server_key(app: &TestApp, header_typ: &str, claims: &Value) -> String {
    let pem = app.signing_key_pem.clone();
    let signer = ES256.signer_from_pem(&pem).unwrap();
    let mut header = JwsHeader::new();
    header.set_token_type(header_typ);
    let payload = JwtPayload::from_map(claims.as_object().unwrap().clone()).unwrap();
    let kid = server_kid(app);
    header.set_key_id(kid);
    jwt::encode_with_signer(&payload, &header, &signer).unwrap()
}

fn server_kid(app: &TestApp) -> String {
    let pem = app.signing_key_pem.clone();
    let key_pair = ES256.key_pair_from_pem(&pem).unwrap();
    let jwk = josekit::jwk::KeyPair::to_jwk_public_key(&key_pair);
    let canonical = format!(
        r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
        jwk.parameter("crv").unwrap().as_str().unwrap(),
        jwk.parameter("x").unwrap().as_str().unwrap(),
        jwk.parameter("y").unwrap().as_str().unwrap()
    );
    use sha2::Digest;
    URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(canonical.as_bytes()))
}

on_both_backends! {
    async fn jwks_verifies_issued_tokens(app: TestApp) {
        let user = app.signed_in_user().await;
        let jwks: Value = app.client.get(app.url("/.well-known/jwks.json")).send().await.unwrap().json().await.unwrap();
        let keys = jwks["keys"].as_array().unwrap();
        assert_eq!(keys.len(), 1);
        assert!(keys[0].get("d").is_none(), "JWKS must not publish the private key");

        let (header, _) = jwt_parts(&user.access_token);
        assert_eq!(keys[0]["kid"], header["kid"]);
        let jwk = Jwk::from_map(keys[0].as_object().unwrap().clone()).unwrap();
        let verifier = ES256.verifier_from_jwk(&jwk).unwrap();
        let (payload, _) = jwt::decode_with_verifier(&user.access_token, &verifier).unwrap();
        assert_eq!(payload.subject(), Some(user.id.as_str()));
    }

    async fn alg_none_is_rejected(app: TestApp) {
        let user = app.signed_in_user().await;
        let (mut header, claims) = jwt_parts(&user.access_token);
        header["alg"] = json!("none");
        let token = format!("{}.{}.", encode_part(&header), encode_part(&claims));
        assert_rejected(&app, &token, "alg none").await;
    }

    async fn hmac_signed_with_the_public_key_is_rejected(app: TestApp) {
        let user = app.signed_in_user().await;
        let jwks: Value = app.client.get(app.url("/.well-known/jwks.json")).send().await.unwrap().json().await.unwrap();
        let public_jwk_text = serde_json::to_string(&jwks["keys"][0]).unwrap();
        let (header, claims) = jwt_parts(&user.access_token);

        let mut hs_header = JwsHeader::new();
        hs_header.set_token_type("at+jwt");
        hs_header.set_key_id(header["kid"].as_str().unwrap());
        let payload = JwtPayload::from_map(claims.as_object().unwrap().clone()).unwrap();
        let pem = app.signing_key_pem.clone();
        let key_pair = ES256.key_pair_from_pem(&pem).unwrap();
        let public_pem = josekit::jwk::KeyPair::to_pem_public_key(&key_pair);
        for secret in [public_jwk_text.as_bytes(), public_pem.as_slice()] {
            let signer = HS256.signer_from_bytes(secret).unwrap();
            let token = jwt::encode_with_signer(&payload, &hs_header, &signer).unwrap();
            assert_rejected(&app, &token, "HS256 with the public key").await;
        }
    }

    async fn unknown_kid_is_rejected(app: TestApp) {
        let user = app.signed_in_user().await;
        let (_, claims) = jwt_parts(&user.access_token);
        let other_key = ES256.generate_key_pair().unwrap();
        let signer = ES256.signer_from_der(josekit::jwk::KeyPair::to_der_private_key(&other_key)).unwrap();
        let payload = JwtPayload::from_map(claims.as_object().unwrap().clone()).unwrap();

        let mut header = JwsHeader::new();
        header.set_token_type("at+jwt");
        header.set_key_id("someone-elses-key");
        let token = jwt::encode_with_signer(&payload, &header, &signer).unwrap();
        assert_rejected(&app, &token, "unknown kid").await;

        header.set_key_id(server_kid(&app));
        let token = jwt::encode_with_signer(&payload, &header, &signer).unwrap();
        assert_rejected(&app, &token, "known kid, foreign key").await;

        let mut header = JwsHeader::new();
        header.set_token_type("at+jwt");
        let token = jwt::encode_with_signer(&payload, &header, &signer).unwrap();
        assert_rejected(&app, &token, "no kid").await;
    }

    async fn tampered_payload_is_rejected(app: TestApp) {
        let user = app.signed_in_user().await;
        let (_, mut claims) = jwt_parts(&user.access_token);
        claims["role"] = json!("ADMIN");
        let parts: Vec<&str> = user.access_token.split('.').collect();
        let token = format!("{}.{}.{}", parts[0], encode_part(&claims), parts[2]);
        assert_rejected(&app, &token, "tampered payload").await;
    }

    async fn expired_token_is_rejected(app: TestApp) {
        let user = app.signed_in_user().await;
        app.clock.advance(Duration::minutes(15) + Duration::seconds(20));
        assert_eq!(app.me(&user.access_token).await.status(), 200, "within the leeway");
        app.clock.advance(Duration::seconds(45));
        assert_rejected(&app, &user.access_token, "expired").await;
    }

    async fn refresh_token_is_not_an_access_token(app: TestApp) {
        let user = app.signed_in_user().await;
        assert_rejected(&app, &user.refresh_token, "refresh token as access token").await;
        assert_rejected(&app, "not-a-jwt", "garbage").await;
        assert_rejected(&app, "a.b.c", "three garbage parts").await;
    }

    async fn claims_are_checked_after_the_signature(app: TestApp) {
        let user = app.signed_in_user().await;
        let (_, claims) = jwt_parts(&user.access_token);
        let cases: Vec<(&str, Value)> = vec![
            ("type refresh", json!({ "type": "refresh" })),
            ("foreign issuer", json!({ "iss": "someone-else" })),
            ("foreign audience", json!({ "aud": ["another-api"] })),
            ("no exp", json!({ "exp": null })),
            ("exp long past", json!({ "exp": 1_000_000 })),
        ];
        for (case, change) in cases {
            let mut forged = claims.clone();
            for (name, value) in change.as_object().unwrap() {
                if value.is_null() {
                    forged.as_object_mut().unwrap().remove(name);
                } else {
                    forged[name] = value.clone();
                }
            }
            let token = sign_with_server_key(&app, "at+jwt", &forged);
            assert_rejected(&app, &token, case).await;
        }

        let token = sign_with_server_key(&app, "JWT", &claims);
        assert_rejected(&app, &token, "typ JWT").await;
        let token = sign_with_server_key(&app, "at+jwt", &claims);
        assert_eq!(app.me(&token).await.status(), 200, "the unchanged claims are accepted");
    }

    async fn token_in_query_string_is_ignored(app: TestApp) {
        let user = app.signed_in_user().await;
        let url = app.url(&format!("/api/v1/users/me?access_token={}", user.access_token));
        let response = app.client.get(url).send().await.unwrap();
        assert_eq!(response.status(), 401);
        assert_eq!(response.headers()["www-authenticate"], r#"Bearer realm="somnium""#);
    }
}
