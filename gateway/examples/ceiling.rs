//! The ceiling for the gateway's read benchmarks: a bare axum server that answers `GET` on any
//! path with one fixed SCIM User (a body of about the size of the gateway's `GET /Users/{id}`
//! answer for the users `bench/load.sh` creates), as `application/scim+json`. No auth, no store,
//! no JSON work per request: whatever the gateway does beyond this is its own cost.
//!
//! It uses the gateway's axum and tokio (same versions, multi-thread runtime, default worker
//! count), so `gateway req/s / ceiling req/s` is the share of the HTTP stack's throughput that
//! the gateway keeps.
//!
//! Run: `cargo run --release -p scim-gateway --example ceiling -- 127.0.0.1:PORT`
//! (default `127.0.0.1:8081`). It prints `listening on http://ADDR` once bound, then serves
//! until killed. `bench/load.sh` starts and stops it.

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;
use axum::routing::get;

/// A User as the gateway renders it for `GET /Users/{id}` (same attributes, similar lengths).
const USER: &str = r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"id":"0b7f3c5e-9a41-4d2b-8f6e-2c1d9e8a7b65","userName":"bench-0-123456@example.com","name":{"givenName":"Bench","familyName":"User 0-123456","formatted":"Bench User 0-123456"},"displayName":"Bench User 0-123456","emails":[{"value":"bench-0-123456@example.com","type":"work","primary":true}],"active":true,"externalId":"ext-0-123456","meta":{"resourceType":"User","created":"2025-01-01T12:00:00.123Z","lastModified":"2025-01-01T12:00:00.123Z","version":"W/\"123457\"","location":"http://127.0.0.1:40000/scim/v2/Users/0b7f3c5e-9a41-4d2b-8f6e-2c1d9e8a7b65"}}"#;

async fn user() -> impl IntoResponse {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/scim+json"),
            ),
            (header::ETAG, HeaderValue::from_static("W/\"123457\"")),
        ],
        USER,
    )
}

fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8081".to_owned());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&addr).await?;
        println!("listening on http://{}", listener.local_addr()?);
        let app = Router::new().fallback_service(get(user));
        axum::serve(listener, app).await
    })
}
