//! Public keys and health checks.

use poem::Request;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use serde_json::Value;

use super::auth_api::state;
use super::ApiTags;

pub struct MetaApi;

/// Service status.
#[derive(Object)]
pub struct HealthBody {
    /// `ok` or `unavailable`.
    pub status: String,
}

#[derive(ApiResponse)]
pub enum JwksResponse {
    /// The JSON Web Key Set (RFC 7517) of the keys that sign access tokens.
    #[oai(status = 200)]
    Ok(Json<Value>),
}

#[derive(ApiResponse)]
pub enum HealthResponse {
    /// The check passed.
    #[oai(status = 200)]
    Ok(Json<HealthBody>),
    /// The check failed; the service should not receive traffic.
    #[oai(status = 503)]
    Unavailable(Json<HealthBody>),
}

#[OpenApi]
impl MetaApi {
    /// Get the access-token signing keys
    ///
    /// Resource servers verify access tokens with these keys, choosing one by the token's `kid`.
    /// Anyone may call it.
    #[oai(
        path = "/.well-known/jwks.json",
        method = "get",
        operation_id = "getJwks",
        tag = "ApiTags::Keys"
    )]
    async fn jwks(&self, request: &Request) -> JwksResponse {
        let state = state(request);
        JwksResponse::Ok(Json((state.jwks)(state.clock.now())))
    }

    /// Liveness
    ///
    /// Answers as long as the process serves HTTP.
    #[oai(
        path = "/health/live",
        method = "get",
        operation_id = "getLiveness",
        tag = "ApiTags::Health"
    )]
    async fn live(&self) -> HealthResponse {
        HealthResponse::Ok(Json(HealthBody { status: "ok".into() }))
    }

    /// Readiness
    ///
    /// Answers 200 when the database answers, 503 otherwise.
    #[oai(
        path = "/health/ready",
        method = "get",
        operation_id = "getReadiness",
        tag = "ApiTags::Health"
    )]
    async fn ready(&self, request: &Request) -> HealthResponse {
        if state(request).readiness.is_ready().await {
            HealthResponse::Ok(Json(HealthBody { status: "ok".into() }))
        } else {
            tracing::warn!("readiness check failed");
            HealthResponse::Unavailable(Json(HealthBody {
                status: "unavailable".into(),
            }))
        }
    }
}
