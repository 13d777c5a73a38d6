use poem::Request;
use somnium_domain::RequestContext;

use super::client_ip::ClientIp;
use super::middleware::RequestId;

/// Longest user agent kept in sessions and audit events; longer ones are cut at a character
/// boundary.
const MAX_USER_AGENT_CHARS: usize = 512;

/// The client's address, user agent and request id, as passed to every use case.
pub fn request_context(request: &Request) -> RequestContext {
    let client_ip = request
        .extensions()
        .get::<ClientIp>()
        .and_then(|client| client.0)
        .map(|ip| ip.to_string());
    let user_agent = request
        .headers()
        .get(poem::http::header::USER_AGENT)
        .and_then(|value| value.to_str().ok())
        .map(|agent| agent.chars().take(MAX_USER_AGENT_CHARS).collect());
    let request_id = request.extensions().get::<RequestId>().map(|id| id.0.clone());
    RequestContext {
        client_ip,
        user_agent,
        request_id,
    }
}
