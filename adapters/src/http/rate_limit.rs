//! Per-route rate limits, checked before the body is read or a password hashed.

use std::sync::Arc;

use poem::http::{header, HeaderValue, Method};
use poem::{Request, Response};
use somnium_domain::lockout::client_key;
use somnium_domain::ports::{AccessTokenVerifier, Clock, RateLimiter};
use somnium_domain::rate_limit::{RateDecision, RateLimit};
use time::Duration;

use super::client_ip::ClientIp;
use super::problem::{Problem, ProblemKind};

/// The limit of each class of route.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RateLimits {
    /// `POST /api/v1/auth/login`, per client IP.
    pub login: RateLimit,
    /// `POST /api/v1/auth/register`, per client IP.
    pub register: RateLimit,
    /// `POST /api/v1/auth/refresh`, per client IP.
    pub refresh: RateLimit,
    /// Every other `/api/` route, per user when a valid access token is sent, else per client IP.
    pub default: RateLimit,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            login: RateLimit::per_minute(5),
            register: RateLimit::per_hour(3),
            refresh: RateLimit::per_minute(10),
            default: RateLimit::per_hour(100),
        }
    }
}

/// The rate-limit check and its dependencies.
#[derive(Clone)]
pub struct RateLimitGuard {
    pub limits: RateLimits,
    pub limiter: Arc<dyn RateLimiter>,
    pub access_tokens: Arc<dyn AccessTokenVerifier>,
    pub clock: Arc<dyn Clock>,
}

impl RateLimitGuard {
    /// Checks the request's limit. Returns `None` for routes without a limit (health, keys, the
    /// spec and its portal).
    pub async fn check(&self, request: &Request) -> Option<RateDecision> {
        let (class, limit) = self.classify(request)?;
        let key = format!("{class}:{}", self.subject(request, class));
        let now = self.clock.now();
        match self.limiter.check(&key, &limit, now).await {
            Ok(decision) => {
                if !decision.allowed {
                    tracing::info!(route_class = class, "rate limit exceeded");
                    tracing::info!(target: "somnium::metrics", route_class = class, monotonic_counter.somnium_rate_limit_rejections = 1_u64);
                }
                Some(decision)
            }
            Err(error) => {
                // The Redis adapter falls back by itself; this is reached only if even the
                // fallback failed, and then serving beats refusing everyone.
                tracing::error!(%error, "rate limiter failed; request allowed");
                None
            }
        }
    }

    fn classify(&self, request: &Request) -> Option<(&'static str, RateLimit)> {
        let path = request.uri().path();
        if !path.starts_with("/api/") {
            return None;
        }
        let post = request.method() == Method::POST;
        let class = match path {
            "/api/v1/auth/login" if post => ("login", self.limits.login),
            "/api/v1/auth/register" if post => ("register", self.limits.register),
            "/api/v1/auth/refresh" if post => ("refresh", self.limits.refresh),
            // The steps that take an mfa_token instead of an access token get the login limit,
            // in a bucket of their own so finishing a sign-in does not spend the password step's.
            "/api/v1/auth/mfa/verify" | "/api/v1/auth/mfa/enroll" | "/api/v1/auth/mfa/enroll/confirm" if post => {
                ("mfa", self.limits.login)
            }
            _ => ("default", self.limits.default),
        };
        Some(class)
    }

    /// Keys authenticated requests of the default class by user, because a hospital ward shares
    /// one IP; everything else by client IP (an IPv6 client by its /64).
    fn subject(&self, request: &Request, class: &str) -> String {
        if class == "default" {
            if let Some(user_id) = self.bearer_user(request) {
                return format!("user:{user_id}");
            }
        }
        let ip = request.extensions().get::<ClientIp>().and_then(|client| client.0);
        ip.map_or_else(|| "ip:unknown".to_owned(), |ip| format!("ip:{}", client_key(ip)))
    }

    fn bearer_user(&self, request: &Request) -> Option<String> {
        let value = request.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))?;
        let claims = self.access_tokens.verify(token.trim(), self.clock.now()).ok()?;
        Some(claims.user_id.to_string())
    }
}

/// Adds the `RateLimit-*` headers (IETF draft "RateLimit header fields for HTTP").
pub fn add_headers(response: &mut Response, decision: &RateDecision) {
    let headers = response.headers_mut();
    headers.insert("ratelimit-limit", HeaderValue::from(decision.limit));
    headers.insert("ratelimit-remaining", HeaderValue::from(decision.remaining));
    headers.insert("ratelimit-reset", HeaderValue::from(ceil_seconds(decision.reset_after)));
    if let Some(retry_after) = decision.retry_after {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(ceil_seconds(retry_after).max(1)));
    }
}

/// Builds the 429 problem for a rejected request.
pub fn too_many_requests(decision: &RateDecision) -> Problem {
    let wait = decision.retry_after.map_or(1, ceil_seconds).max(1);
    Problem::new(
        ProblemKind::TooManyRequests,
        format!(
            "rate limit of {} requests exceeded; retry in {wait} seconds",
            decision.limit
        ),
    )
}

fn ceil_seconds(duration: Duration) -> i64 {
    let millis = duration.whole_milliseconds().max(0) as i64;
    (millis + 999) / 1000
}
