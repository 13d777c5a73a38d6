use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;
use somnium_application::AuthService;

use super::cookies::CsrfGuard;
use somnium_domain::ports::{AccessTokenVerifier, Clock, RevocationList};

/// Whether the service's dependencies answer, for `/health/ready`.
#[async_trait]
pub trait ReadinessProbe: Send + Sync {
    async fn is_ready(&self) -> bool;
}

/// What the handlers need, attached to every request.
#[derive(Clone)]
pub struct HttpState {
    pub auth: AuthService,
    pub access_tokens: Arc<dyn AccessTokenVerifier>,
    pub clock: Arc<dyn Clock>,
    pub jwks: Arc<dyn Fn(time::OffsetDateTime) -> Value + Send + Sync>,
    pub readiness: Arc<dyn ReadinessProbe>,
    pub revocations: Arc<dyn RevocationList>,
    pub csrf: CsrfGuard,
}
