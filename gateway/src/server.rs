//! Starting and stopping a gateway.

use std::sync::Arc;

use tokio::net::TcpListener;

use crate::auth::{Bootstrap, TokenSet};
use crate::config::Config;
use crate::http::{self, AppState};
use crate::scim::service::{Outbound, Service};
use crate::store::redb::RedbStore;

/// Why a gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The data directory or the token file could not be used.
    #[error("data directory {0}: {1}")]
    DataDir(String, std::io::Error),
    /// The store could not be opened.
    #[error("store: {0}")]
    Store(#[from] crate::store::StoreError),
    /// The listen address could not be bound.
    #[error("cannot listen on {0}: {1}")]
    Bind(std::net::SocketAddr, std::io::Error),
    /// The server failed while running.
    #[error("server: {0}")]
    Serve(std::io::Error),
}

/// Runs a gateway until `shutdown` resolves. `env_token` is `SCIM_GATEWAY_TOKEN`, if set.
pub async fn serve(
    config: Config,
    env_token: Option<String>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    let dir = config.data_dir.display().to_string();
    std::fs::create_dir_all(&config.data_dir).map_err(|e| StartError::DataDir(dir.clone(), e))?;
    let (tokens, bootstrap) =
        TokenSet::load(&config.tokens, env_token.as_deref(), &config.data_dir)
            .map_err(|e| StartError::DataDir(dir.clone(), e))?;
    if let Bootstrap::Generated(token) = bootstrap {
        // Printed once, on stdout, and never again: only its hash is kept.
        println!(
            "No SCIM token was configured; generated one. Save it now, it is not shown again:"
        );
        println!("SCIM_TOKEN={token}");
    }
    let store = Arc::new(RedbStore::open(&config.data_dir)?);
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|e| StartError::Bind(config.listen, e))?;
    let local = listener.local_addr().map_err(StartError::Serve)?;
    let state = AppState {
        service: Service::new(
            store,
            Outbound::default(),
            config.scim.max_results,
            config.scim.unknown_attributes,
        ),
        config: Arc::new(config),
        tokens: Arc::new(tokens),
    };
    tracing::info!(%local, data_dir = %dir, "scim-gateway listening");
    // A line tests and scripts can wait for (the port is known even when 0 was asked for).
    println!("listening on http://{local}{}", http::BASE_PATH);
    // Path normalisation wraps the router: as one of its layers it would run after routing.
    let app = tower::Layer::layer(
        &axum::middleware::from_fn(http::trim_trailing_slash),
        http::router(state),
    );
    axum::serve(
        listener,
        axum::ServiceExt::<axum::extract::Request>::into_make_service(app),
    )
    .with_graceful_shutdown(shutdown)
    .await
    .map_err(StartError::Serve)
}
