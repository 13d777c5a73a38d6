//! Transport hardening: security headers on every response, CORS for listed origins, and HTTPS
//! enforcement in production.

use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;
use poem::http::{header, HeaderValue, Method, StatusCode};
use poem::{Request, Response};

use super::problem::{Problem, ProblemKind};

/// Content-Security-Policy of API responses: they are JSON and must never render as a page.
const API_CSP: &str = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

const CORS_METHODS: &str = "GET, POST, PUT, DELETE, PATCH";
const CORS_HEADERS: &str = "Authorization, Content-Type, Accept, X-CSRF-Token";
const CORS_EXPOSED: &str = "RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, Retry-After, X-Request-Id";
/// How long a browser may cache a preflight response, in seconds (10 minutes).
const CORS_MAX_AGE: &str = "600";

/// Transport settings shared by every request.
#[derive(Clone, Debug)]
pub struct TransportSettings {
    /// Production sends HSTS and refuses plain HTTP.
    pub production: bool,
    /// Exact origins (`https://ward.example.org`) allowed to call the API from a browser.
    pub cors_origins: Arc<Vec<String>>,
    pub trusted_proxies: Arc<Vec<IpNet>>,
    /// Content-Security-Policy of the `/docs` portal: the minimum its scripts and styles need.
    pub docs_csp: Arc<String>,
}

impl TransportSettings {
    pub fn allows_origin(&self, origin: &str) -> bool {
        self.cors_origins.iter().any(|allowed| allowed == origin)
    }

    /// Tells whether the request arrived over TLS: directly, or per `X-Forwarded-Proto` from a
    /// trusted proxy. The header from anyone else is ignored.
    pub fn arrived_over_tls(&self, request: &Request) -> bool {
        if request.scheme() == &poem::http::uri::Scheme::HTTPS {
            return true;
        }
        let peer: Option<IpAddr> = request.remote_addr().as_socket_addr().map(|address| address.ip());
        let trusted = peer.is_some_and(|ip| self.trusted_proxies.iter().any(|network| network.contains(&ip)));
        trusted
            && request
                .headers()
                .get("x-forwarded-proto")
                .and_then(|value| value.to_str().ok())
                .is_some_and(|proto| {
                    proto
                        .split(',')
                        .next_back()
                        .unwrap_or_default()
                        .trim()
                        .eq_ignore_ascii_case("https")
                })
    }

    /// In production, responds to a plain-HTTP request before it is processed. A GET or HEAD (a
    /// browser navigating) is redirected to HTTPS with 308. Anything else gets a 400, because
    /// redirecting an API call would hide that its credentials already crossed the network in
    /// the clear.
    pub fn reject_plain_http(&self, request: &Request) -> Option<Response> {
        if !self.production || self.arrived_over_tls(request) {
            return None;
        }
        // Health probes come from the orchestrator over plain HTTP to the pod itself; they carry
        // no credentials and must not be redirected.
        if request.uri().path().starts_with("/health/") {
            return None;
        }
        if matches!(*request.method(), Method::GET | Method::HEAD) {
            let host = request
                .headers()
                .get(header::HOST)
                .and_then(|value| value.to_str().ok())
                .filter(|host| {
                    host.chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
                })?;
            let path = request.uri().path_and_query().map_or("/", |path| path.as_str());
            let location = HeaderValue::from_str(&format!("https://{host}{path}")).ok()?;
            return Some(
                Response::builder()
                    .status(StatusCode::PERMANENT_REDIRECT)
                    .header(header::LOCATION, location)
                    .finish(),
            );
        }
        tracing::warn!(method = %request.method(), path = request.uri().path(), "plain-HTTP request rejected");
        Some(
            Problem::new(
                ProblemKind::MalformedRequest,
                "this service accepts only HTTPS; resend the request over TLS and replace any credential it carried",
            )
            .into_response(),
        )
    }

    /// Responds to a CORS preflight (`OPTIONS` with `Access-Control-Request-Method`).
    pub fn preflight(&self, request: &Request) -> Option<Response> {
        if request.method() != Method::OPTIONS || !request.headers().contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
        {
            return None;
        }
        let origin = request
            .headers()
            .get(header::ORIGIN)
            .and_then(|value| value.to_str().ok());
        let requested_method = request
            .headers()
            .get(header::ACCESS_CONTROL_REQUEST_METHOD)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default();
        let method_allowed = CORS_METHODS.split(", ").any(|method| method == requested_method);
        let headers_allowed = request
            .headers()
            .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .all(|name| {
                CORS_HEADERS
                    .split(", ")
                    .any(|allowed| allowed.eq_ignore_ascii_case(name))
            });

        match origin {
            Some(origin) if self.allows_origin(origin) && method_allowed && headers_allowed => {
                let mut response = Response::builder().status(StatusCode::NO_CONTENT).finish();
                let headers = response.headers_mut();
                headers.insert(
                    header::ACCESS_CONTROL_ALLOW_METHODS,
                    HeaderValue::from_static(CORS_METHODS),
                );
                headers.insert(
                    header::ACCESS_CONTROL_ALLOW_HEADERS,
                    HeaderValue::from_static(CORS_HEADERS),
                );
                headers.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static(CORS_MAX_AGE));
                Some(response)
            }
            _ => {
                tracing::info!(
                    origin = origin.unwrap_or_default(),
                    requested_method,
                    "CORS preflight rejected"
                );
                Some(
                    Problem::new(ProblemKind::Forbidden, "this origin, method or header is not allowed")
                        .into_response(),
                )
            }
        }
    }

    /// Adds the security headers every response carries, and the CORS headers when the origin
    /// is allowed.
    pub fn decorate(&self, request_origin: Option<&str>, path: &str, response: &mut Response) {
        let headers = response.headers_mut();
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
        // Kept for old browsers; current ones ignore it and rely on the CSP.
        headers.insert(header::X_XSS_PROTECTION, HeaderValue::from_static("1; mode=block"));
        headers.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("strict-origin-when-cross-origin"),
        );
        headers.insert(
            "permissions-policy",
            HeaderValue::from_static("geolocation=(), microphone=(), camera=(), payment=()"),
        );
        let csp = if path == "/docs" || path.starts_with("/docs/") {
            HeaderValue::from_str(&self.docs_csp).unwrap_or_else(|_| HeaderValue::from_static(API_CSP))
        } else {
            HeaderValue::from_static(API_CSP)
        };
        headers.insert(header::CONTENT_SECURITY_POLICY, csp);
        if self.production {
            headers.insert(
                header::STRICT_TRANSPORT_SECURITY,
                HeaderValue::from_static("max-age=31536000; includeSubDomains; preload"),
            );
        }

        headers.append(header::VARY, HeaderValue::from_static("Origin"));
        let Some(origin) = request_origin.filter(|origin| self.allows_origin(origin)) else {
            return;
        };
        if let Ok(value) = HeaderValue::from_str(origin) {
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
            headers.insert(
                header::ACCESS_CONTROL_EXPOSE_HEADERS,
                HeaderValue::from_static(CORS_EXPOSED),
            );
        }
    }
}

/// Builds the `/docs` Content-Security-Policy from the portal's HTML: each inline script is
/// allowed by its SHA-256 hash, so no other script can run on the page.
pub fn docs_csp(html: &str) -> String {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;
    use sha2::{Digest, Sha256};

    let mut hashes = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find("<script") {
        let after_tag = &rest[start..];
        let Some(open_end) = after_tag.find('>') else { break };
        let body = &after_tag[open_end + 1..];
        let Some(close) = body.find("</script>") else { break };
        hashes.push(format!(
            "'sha256-{}'",
            STANDARD.encode(Sha256::digest(&body.as_bytes()[..close]))
        ));
        rest = &body[close..];
    }
    format!(
        "default-src 'none'; script-src {} blob:; worker-src blob:; style-src 'unsafe-inline'; img-src 'self' data:; \
         font-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
        hashes.join(" ")
    )
}
