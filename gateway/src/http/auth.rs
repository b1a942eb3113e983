//! The bearer-token check in front of every SCIM route; it hands the token's name to the
//! handlers as an [`Actor`] (the author of changes in the audit trail).

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::Instrument;

use super::AppState;
use crate::scim::ScimError;

/// The configured name of the token a request was authenticated with (`env` for
/// `SCIM_GATEWAY_TOKEN`), set as a request extension by [`require_token`].
#[derive(Debug, Clone)]
pub struct Actor(pub String);

/// Answers `401` (with `WWW-Authenticate`) unless the request carries a known bearer token.
pub async fn require_token(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| token.trim().to_owned())
        });
    let Some(token) = presented else {
        return ScimError::new(StatusCode::UNAUTHORIZED, "a bearer token is required")
            .into_response();
    };
    let Some(name) = state.tokens.verify(&token) else {
        return ScimError::new(StatusCode::UNAUTHORIZED, "the bearer token is not valid")
            .into_response();
    };
    let span = tracing::debug_span!("scim", caller = name);
    req.extensions_mut().insert(Actor(name.to_owned()));
    next.run(req).instrument(span).await
}
