//! Building and running the service: `App::build(settings)` opens the store, binds
//! both ports and reports them; `run_until_stopped(shutdown)` serves until the
//! shutdown future resolves, then drains within the configured timeout.

use std::{
    future::{Future, IntoFuture},
    net::SocketAddr,
    ops::Deref,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use axum::Router;
use fred::{clients::Pool, interfaces::ClientLike};
use tokio::{net::TcpListener, sync::watch};

use crate::{
    catalog::{self, Catalog},
    config::Settings,
    health, metrics, routes,
    store::{CartStore, SessionBackend, memory::MemoryStore, redis::RedisStore},
};

/// What every handler shares.
pub struct AppInner {
    pub store: Arc<dyn CartStore>,
    pub catalog: Catalog,
    pub settings: Settings,
    redis_pool: Option<Pool>,
    /// Set at shutdown, so readiness fails while in-flight requests drain.
    draining: AtomicBool,
}

#[derive(Clone)]
pub struct AppState(Arc<AppInner>);

impl Deref for AppState {
    type Target = AppInner;
    fn deref(&self) -> &AppInner {
        &self.0
    }
}

impl AppState {
    /// (connected, total) connections of the Redis pool; `None` when embedded.
    pub fn redis_pool_state(&self) -> Option<(usize, usize)> {
        self.redis_pool.as_ref().map(|pool| {
            let connected = pool.clients().iter().filter(|c| c.is_connected()).count();
            (connected, pool.size())
        })
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }
}

/// The configured store and its session store.
pub struct Backend {
    pub store: Arc<dyn CartStore>,
    pub sessions: SessionBackend,
    pub redis_pool: Option<Pool>,
}

/// Opens Redis (when `TROLLEY_REDIS_URL` is set) or the embedded store. Redis is
/// connected in the background: a replica starts even while Redis is down and
/// reports not-ready until it answers.
pub async fn open_backend(settings: &Settings, wait: Duration) -> Result<Backend, String> {
    match &settings.redis.url {
        Some(url) => {
            let store = RedisStore::new(url, &settings.redis)?;
            if let Err(error) = store.wait_connected(wait).await {
                tracing::warn!(%error, "Redis is not reachable yet; retrying in the background");
            }
            let pool = store.pool();
            Ok(Backend {
                sessions: SessionBackend::Redis(tower_sessions_redis_store::RedisStore::new(
                    pool.clone(),
                )),
                store: Arc::new(store),
                redis_pool: Some(pool),
            })
        }
        None => {
            let store = MemoryStore::new(Some(settings.users_file.clone()));
            Ok(Backend {
                sessions: SessionBackend::Memory(store.sessions()),
                store: Arc::new(store),
                redis_pool: None,
            })
        }
    }
}

/// Picks rustls' crypto backend for the whole process. Dependencies enable both
/// ring and aws-lc-rs, and rustls then refuses to guess: without this, the first
/// `rediss://` connection or HTTPS trace export would panic. Called where TLS
/// configs are first built: parsing a Redis URL, and `main` before trace export.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A built service, bound to its ports, not yet serving.
pub struct App {
    public: TcpListener,
    admin: TcpListener,
    router: Router,
    admin_router: Router,
    state: AppState,
}

impl App {
    pub async fn build(settings: Settings) -> Result<App, String> {
        settings.validate()?;
        let metrics_handle = metrics::install();
        metrics::spawn_upkeep(metrics_handle.clone());
        let backend = open_backend(&settings, Duration::from_secs(5)).await?;
        if backend.redis_pool.is_none() {
            tracing::warn!(
                "no TROLLEY_REDIS_URL: serving from the embedded in-process store, single replica only \
                 (carts and sessions are lost on restart and not shared between replicas)"
            );
        }
        let catalog = Catalog::new(settings.catalog_refresh, demo_seed(&settings));
        // Warm the copy now; if Redis is down, the first request after it returns will.
        if let Err(error) = catalog.current(backend.store.as_ref()).await {
            tracing::warn!(%error, "could not load the catalog yet");
        }

        let state = AppState(Arc::new(AppInner {
            store: backend.store,
            catalog,
            settings,
            redis_pool: backend.redis_pool,
            draining: AtomicBool::new(false),
        }));
        let router = routes::router(state.clone(), backend.sessions);
        let admin_router = health::router(state.clone(), metrics_handle);
        let public = TcpListener::bind(state.settings.listen)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", state.settings.listen))?;
        let admin = TcpListener::bind(state.settings.admin_listen)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", state.settings.admin_listen))?;
        Ok(App {
            public,
            admin,
            router,
            admin_router,
            state,
        })
    }

    /// The bound public port (useful when configured as port 0).
    pub fn port(&self) -> u16 {
        self.public.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// The bound admin port.
    pub fn admin_port(&self) -> u16 {
        self.admin.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// Serves until `shutdown` resolves; then stops accepting, lets in-flight
    /// requests finish within `TROLLEY_SHUTDOWN_TIMEOUT`, and returns.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let (stop_tx, stop_rx) = watch::channel(false);
        let stopped = |mut rx: watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|stop| *stop).await;
        };
        tracing::info!(
            public = %self.public.local_addr()?,
            admin = %self.admin.local_addr()?,
            "trolley is serving"
        );
        let mut public = tokio::spawn(
            axum::serve(
                self.public,
                self.router
                    .into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(stopped(stop_rx.clone()))
            .into_future(),
        );
        let admin = tokio::spawn(
            axum::serve(self.admin, self.admin_router)
                .with_graceful_shutdown(stopped(stop_rx))
                .into_future(),
        );
        tokio::select! {
            () = shutdown => {}
            result = &mut public => {
                admin.abort();
                return result.map_err(std::io::Error::other)?;
            }
        }
        self.state.draining.store(true, Ordering::Relaxed);
        let _ = stop_tx.send(true);
        let drain = self.state.settings.shutdown_timeout;
        let result = match tokio::time::timeout(drain, &mut public).await {
            Ok(result) => result.map_err(std::io::Error::other)?,
            Err(_) => {
                tracing::warn!(
                    ?drain,
                    "in-flight requests did not finish in time; stopping anyway"
                );
                public.abort();
                Ok(())
            }
        };
        admin.abort();
        tracing::info!("trolley stopped");
        result
    }
}

/// The demo catalog, when it should be stored into an empty store: always for the
/// embedded store, per `TROLLEY_SEED_DEMO_CATALOG` for Redis.
fn demo_seed(settings: &Settings) -> Option<Vec<crate::cart::model::Product>> {
    if settings.redis.url.is_some() && !settings.seed_demo_catalog {
        return None;
    }
    match catalog::parse_catalog(catalog::DEMO_CATALOG) {
        Ok(products) => Some(products),
        Err(error) => {
            tracing::error!(%error, "the built-in demo catalog is invalid");
            None
        }
    }
}
