//! Starting and stopping a gateway.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::admin::AdminState;
use crate::admin::catalog::Catalog;
use crate::admin::reconcile::Reconciler;
use crate::app::{Outbound, PassThrough, Persisted, Provisioning, Resources};
use crate::auth::{Bootstrap, TokenSet};
use crate::config::Config;
use crate::delivery::Dispatcher;
use crate::delivery::connector::SetupError;
use crate::delivery::registry::{Lookup, Registry};
use crate::delivery::retry::RetryPolicy;
use crate::http::{self, App, AppState};
use crate::metrics::{DeliveryMetrics, Metrics};
use crate::runtime::{Runtime, RuntimeConfig};
use crate::store::Store;
use crate::store::redb::{RedbStore, StoreOptions};
use crate::vault::{KeySource, Vault};
use tokio::sync::Notify;

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
    /// The plugin runtime could not start.
    #[error("plugin runtime: {0}")]
    Runtime(#[from] crate::runtime::RuntimeError),
    /// A connector could not be set up.
    #[error(transparent)]
    Connector(#[from] SetupError),
    /// The operator's key could not be loaded.
    #[error("the operator's key: {0}")]
    Key(#[from] crate::vault::VaultError),
    /// A declared extension schema is not valid.
    #[error("[[schemas]]: {0}")]
    Schema(#[from] crate::scim::schema::DeclareError),
}

/// Loads the connectors (the config file's and those made through the admin API) and starts
/// the delivery dispatcher, which reports to `metrics`. Answers what the service needs to
/// record delivery jobs and the catalogue the admin API changes.
async fn start_delivery(
    config: &Config,
    store: Arc<dyn Store>,
    metrics: Arc<DeliveryMetrics>,
    vault: Arc<Vault>,
) -> Result<(Outbound, Arc<Catalog>), StartError> {
    let runtime = Runtime::new(RuntimeConfig {
        cache_dir: Some(config.data_dir.join("plugin-cache")),
        ..RuntimeConfig::default()
    })?;
    let registry = Arc::new(Registry::default());
    let committed = Arc::new(Notify::new());
    let mut catalog = Catalog::new(
        store.clone(),
        runtime,
        registry.clone(),
        committed.clone(),
        vault.clone(),
    );
    if config.pass_through.is_some() {
        catalog = catalog.in_pass_through_mode();
    }
    let catalog = Arc::new(catalog);
    catalog.start(&config.connectors).await?;
    if let Some(pt) = &config.pass_through {
        let readable =
            matches!(registry.lookup(&pt.system_of_record), Lookup::Ready(c) if c.can_read());
        if !readable {
            return Err(StartError::Connector(SetupError {
                name: pt.system_of_record.clone(),
                reason: "the system of record's plugin must be a `readable-connector` (it is \
                         asked for every read), and this one cannot read"
                    .into(),
            }));
        }
    }
    let metrics_for_outbound = metrics.clone();
    // Runs even without connectors: jobs left for a connector that was removed are
    // dead-lettered with that reason instead of waiting forever.
    tokio::spawn(
        Dispatcher {
            store,
            connectors: registry.clone(),
            policy: RetryPolicy::from(&config.delivery),
            committed: committed.clone(),
            workers: config.delivery.workers.max(1),
            member_linger_ms: config.delivery.member_linger_ms,
            metrics,
            system_of_record: config
                .pass_through
                .as_ref()
                .map(|p| p.system_of_record.clone()),
            vault: vault.clone(),
        }
        .run(),
    );
    Ok((
        Outbound {
            registry,
            committed,
            metrics: metrics_for_outbound,
            vault,
        },
        catalog,
    ))
}

/// Tokens from the environment: `SCIM_GATEWAY_TOKEN` and `SCIM_GATEWAY_ADMIN_TOKEN`.
#[derive(Debug, Clone, Default)]
pub struct EnvTokens {
    /// One SCIM client token, named `env`.
    pub scim: Option<String>,
    /// One admin token, named `env`.
    pub admin: Option<String>,
    /// The operator's key, `SCIM_GATEWAY_KEY` (see [`crate::vault`]).
    pub key: Option<String>,
}

/// Shows a generated SCIM token once: printed on a terminal, otherwise written to a file only
/// its owner can read (stdout may be a collected log), whose path is printed and logged. Only
/// its hash is kept beyond that.
fn show_generated(data_dir: &std::path::Path, token: &str) -> std::io::Result<()> {
    use std::io::IsTerminal;

    use crate::model::private::{Existing, write_line};
    if std::io::stdout().is_terminal() {
        println!(
            "No SCIM token was configured; generated one. Save it now, it is not shown again:"
        );
        println!("SCIM_TOKEN={token}");
        return Ok(());
    }
    let path = data_dir.join(GENERATED_TOKEN);
    write_line(&path, token, Existing::Replace)?;
    let shown = path.display();
    tracing::warn!(path = %shown, "no SCIM token was configured: generated one, written to this file (owner only); read it, then delete the file");
    println!(
        "No SCIM token was configured; generated one and wrote it to {shown} (readable by its owner only). Read it, then delete the file."
    );
    Ok(())
}

/// Where a generated SCIM token is written when there is no terminal to show it on.
pub const GENERATED_TOKEN: &str = "generated-token";

/// Runs a gateway until `shutdown` resolves.
pub async fn serve(
    config: Config,
    env_tokens: EnvTokens,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    crate::scim::schema::install(crate::scim::schema::Registry::build(&config.schemas)?);
    let dir = config.data_dir.display().to_string();
    crate::model::private::private_dir(&config.data_dir)
        .map_err(|e| StartError::DataDir(dir.clone(), e))?;
    let (tokens, bootstrap) =
        TokenSet::load(&config.tokens, env_tokens.scim.as_deref(), &config.data_dir)
            .map_err(|e| StartError::DataDir(dir.clone(), e))?;
    if let Bootstrap::Generated(token) = bootstrap {
        show_generated(&config.data_dir, &token)
            .map_err(|e| StartError::DataDir(dir.clone(), e))?;
    }
    let options = StoreOptions {
        keep_delivered: config.delivery.keep_delivered,
        cache_bytes: config.store.cache_mib.saturating_mul(1 << 20),
    };
    let store: Arc<dyn Store> = Arc::new(RedbStore::open_with(&config.data_dir, options)?);
    let vault = Vault::load(
        env_tokens.key.as_deref(),
        config.store.key_file.as_deref(),
        &config.data_dir,
    )?;
    match vault.source() {
        KeySource::DataDir(path, true) => {
            tracing::warn!(path = %path.display(), key_id = %vault.key_id(),
            "no key was given (SCIM_GATEWAY_KEY or [store] key_file): made one in the data directory; \
             keep a copy apart from the data, since what the store seals opens with it only")
        }
        source => tracing::info!(?source, key_id = %vault.key_id(), "the operator's key"),
    }
    let vault = Arc::new(vault);
    crate::store::audit::spawn_pruning(store.clone(), config.audit.retention_days);
    let metrics = Metrics::new(config.connectors.iter().map(|c| c.name.as_str()));
    let (outbound, catalog) =
        start_delivery(&config, store.clone(), metrics.delivery.clone(), vault).await?;
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|e| StartError::Bind(config.listen, e))?;
    let local = listener.local_addr().map_err(StartError::Serve)?;
    let tokens = Arc::new(tokens);
    let mut reconciler = Reconciler::new(
        store.clone(),
        outbound.registry.clone(),
        outbound.committed.clone(),
    );
    if let Some(pt) = &config.pass_through {
        reconciler = reconciler.reading_from(&pt.system_of_record);
    }
    let admin = AdminState {
        store: store.clone(),
        admin_tokens: Arc::new(TokenSet::configured(
            &config.admin_tokens,
            env_tokens.admin.as_deref(),
        )),
        scim_tokens: tokens.clone(),
        catalog,
        reconciler: Arc::new(reconciler),
        delivery: metrics.delivery.clone(),
        committed: outbound.committed.clone(),
    };
    // The mode is chosen here, once: the handlers never ask which it is.
    let max_results = config.scim.max_results;
    let resources: Arc<dyn Resources> = match &config.pass_through {
        None => Arc::new(Persisted::new(store, outbound, max_results)),
        Some(pt) => {
            tracing::info!(system_of_record = %pt.system_of_record,
                "pass-through mode: identities are read from and written to the system of record");
            let sor = &pt.system_of_record;
            Arc::new(PassThrough::new(store, outbound, sor, max_results))
        }
    };
    let provisioning = Provisioning::new(
        resources,
        config.scim.unknown_attributes,
        config.bulk.max_operations,
    );
    let limits = crate::listen::Limits {
        max_connections: config.http.max_connections,
        header_timeout: Duration::from_millis(config.http.header_timeout_ms),
        body_timeout: Duration::from_millis(config.http.body_timeout_ms),
    };
    let state = AppState::new(App {
        provisioning,
        bulk_turns: tokio::sync::Semaphore::new(config.bulk.max_concurrent),
        config: Arc::new(config),
        tokens,
    });
    tracing::info!(%local, data_dir = %dir, "scim-gateway listening");
    // A line tests and scripts can wait for (the port is known even when 0 was asked for).
    println!("listening on http://{local}{}", http::BASE_PATH);
    // Path normalisation wraps the router: as one of its layers it would run after routing.
    let app = tower::Layer::layer(
        &axum::middleware::from_fn(http::trim_trailing_slash),
        http::router(state, admin, metrics),
    );
    crate::listen::serve(listener, app, limits, shutdown)
        .await
        .map_err(StartError::Serve)
}
