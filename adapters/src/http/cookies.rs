//! Cookie mode for browsers: the tokens travel only in HttpOnly cookies, and every
//! state-changing request authenticated by cookie carries a CSRF token bound to its session
//! (signed double submit).

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use poem::http::{header, Method};
use poem::Request;
use sha2::Sha256;
use somnium_domain::SessionId;

use super::problem::CURRENT_REQUEST;

pub const ACCESS_COOKIE: &str = "__Host-somnium_access";
pub const REFRESH_COOKIE: &str = "__Secure-somnium_refresh";
pub const CSRF_COOKIE: &str = "__Host-somnium_csrf";
pub const DEVICE_COOKIE: &str = "__Host-somnium_device";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The refresh cookie is sent only to these routes.
pub const REFRESH_COOKIE_PATHS: [&str; 2] = ["/api/v1/auth/refresh", "/api/v1/auth/logout"];

/// The reason a cookie-authenticated request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CsrfError {
    #[error("the X-CSRF-Token header is missing")]
    MissingToken,
    #[error("the X-CSRF-Token header does not match the session")]
    WrongToken,
    #[error("the Origin is not allowed")]
    ForeignOrigin,
}

impl CsrfError {
    pub fn reason(self) -> &'static str {
        match self {
            CsrfError::MissingToken => "missing_csrf_token",
            CsrfError::WrongToken => "wrong_csrf_token",
            CsrfError::ForeignOrigin => "foreign_origin",
        }
    }
}

impl poem::error::ResponseError for CsrfError {
    fn status(&self) -> poem::http::StatusCode {
        poem::http::StatusCode::FORBIDDEN
    }
}

/// CSRF tokens: HMAC-SHA256 of the session id under a server secret, so a token is valid for
/// exactly one session and cannot be forged without the secret.
#[derive(Clone)]
pub struct CsrfGuard {
    key: Arc<[u8; 32]>,
    allowed_origins: Arc<Vec<String>>,
}

impl CsrfGuard {
    pub fn new(key: [u8; 32], allowed_origins: Arc<Vec<String>>) -> Self {
        Self {
            key: Arc::new(key),
            allowed_origins,
        }
    }

    fn mac(&self, session_id: SessionId) -> Hmac<Sha256> {
        // HMAC accepts keys of any length, so this cannot fail.
        let mut mac = Hmac::<Sha256>::new_from_slice(self.key.as_slice()).expect("HMAC takes keys of any length");
        mac.update(b"somnium csrf v1:");
        mac.update(session_id.as_uuid().as_bytes());
        mac
    }

    pub fn token(&self, session_id: SessionId) -> String {
        URL_SAFE_NO_PAD.encode(self.mac(session_id).finalize().into_bytes())
    }

    /// Checks a state-changing request authenticated by cookie: the `Origin`, when present,
    /// must be allowed or the service's own, and `X-CSRF-Token` must match the session.
    ///
    /// # Errors
    /// [`CsrfError`] naming the check that failed.
    pub fn check(&self, request: &Request, session_id: SessionId) -> Result<(), CsrfError> {
        if let Some(origin) = request
            .headers()
            .get(header::ORIGIN)
            .and_then(|value| value.to_str().ok())
        {
            if !self.allowed_origins.iter().any(|allowed| allowed == origin) && !is_same_origin(request, origin) {
                return Err(CsrfError::ForeignOrigin);
            }
        }
        let presented = request
            .headers()
            .get(CSRF_HEADER)
            .and_then(|value| value.to_str().ok())
            .ok_or(CsrfError::MissingToken)?;
        let decoded = URL_SAFE_NO_PAD
            .decode(presented.trim())
            .map_err(|_| CsrfError::WrongToken)?;
        // verify_slice compares in constant time.
        self.mac(session_id)
            .verify_slice(&decoded)
            .map_err(|_| CsrfError::WrongToken)
    }
}

/// Methods that change state and so need CSRF protection.
pub fn is_state_changing(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

fn is_same_origin(request: &Request, origin: &str) -> bool {
    let Some(host) = request
        .headers()
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
    else {
        return false;
    };
    origin == format!("https://{host}") || origin == format!("http://{host}")
}

/// Reads a cookie of the request.
pub fn cookie(request: &Request, name: &str) -> Option<String> {
    request
        .headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
}

/// Queues a `Set-Cookie` header for the response of the current request. Cookies are always
/// `Secure` and `SameSite=Strict`; browsers accept `Secure` cookies from `http://localhost`, so
/// development over plain HTTP still works, and production serves only HTTPS.
pub fn set_cookie(name: &str, value: &str, path: &str, max_age_seconds: i64, http_only: bool) {
    let mut cookie = format!("{name}={value}; Path={path}; Max-Age={max_age_seconds}; Secure; SameSite=Strict");
    if http_only {
        cookie.push_str("; HttpOnly");
    }
    let _ = CURRENT_REQUEST.try_with(|request| {
        request
            .set_cookies
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(cookie);
    });
}

/// Queues cookies that delete every session cookie.
pub fn clear_session_cookies() {
    set_cookie(ACCESS_COOKIE, "", "/", 0, true);
    for path in REFRESH_COOKIE_PATHS {
        set_cookie(REFRESH_COOKIE, "", path, 0, true);
    }
    set_cookie(CSRF_COOKIE, "", "/", 0, false);
}
