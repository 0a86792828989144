//! Building and running the service: `App::build(settings)` opens the store, binds
//! both ports and reports them; `run_until_stopped(shutdown)` serves until the
//! shutdown future resolves, then drains within the configured timeout.

use std::{
    future::{Future, IntoFuture},
    time::Duration,
};

use axum::{Router, serve::ListenerExt};
use tokio::{net::TcpListener, sync::watch, task::JoinHandle};

use crate::{
    accounts::{error::LoginError, login::MERGE_OUTCOMES},
    cart::{error::CartError, model::Product, ops::CartSettings},
    catalog::{self, Catalog},
    config::Settings,
    http::{
        admin,
        openapi::OtherPorts,
        routes,
        serve::{Timeouts, serve},
    },
    metrics, service,
    sessions::SessionBackend,
    state::AppState,
    store::{
        StoreError,
        stores::{Backend, Stores},
    },
};

/// A built service, bound to its ports, not yet serving.
pub struct App {
    public: TcpListener,
    admin: TcpListener,
    /// The service port, when callers are configured (API.md v1.2).
    service: Option<(TcpListener, Router)>,
    router: Router,
    admin_router: Router,
    state: AppState,
}

impl App {
    pub async fn build(settings: Settings) -> Result<App, String> {
        settings.validate()?;
        let metrics_handle = metrics::install();
        metrics::spawn_upkeep(metrics_handle.clone());
        register_counters();
        let stores = Stores::open(&settings.store_options(), Duration::from_secs(5)).await?;
        if matches!(stores.backend, Backend::Memory(_)) {
            tracing::warn!(
                "no TROLLEY_REDIS_URL: serving from the embedded in-process store, single replica only \
                 (carts and sessions are lost on restart and not shared between replicas)"
            );
        }
        let catalog = Catalog::new(
            stores.catalog.clone(),
            settings.catalog_refresh,
            demo_seed(&settings),
        );
        // Warm the copy now; if Redis is down, the first request after it returns will.
        if let Err(error) = catalog.current().await {
            tracing::warn!(%error, "could not load the catalog yet");
        }
        let sessions = SessionBackend::new(&stores, settings.session_copies, settings.session_ttl);
        let state = AppState::new(stores, catalog, settings);
        let public = TcpListener::bind(state.settings.listen)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", state.settings.listen))?;
        let admin = TcpListener::bind(state.settings.admin_listen)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", state.settings.admin_listen))?;
        // The document names the ports the admin and service routes are on.
        let admin_port = admin.local_addr().map_err(|e| e.to_string())?.port();
        let service = open_service_port(&state).await?;
        let ports = OtherPorts {
            admin: admin_port,
            service: match &service {
                Some((listener, _)) => listener.local_addr().map_err(|e| e.to_string())?.port(),
                None => state.settings.service_listen.port(),
            },
            service_paths: service::document(),
        };
        let router = routes::router(state.clone(), sessions, ports);
        let admin_router = admin::router(state.clone(), metrics_handle);
        Ok(App {
            public,
            admin,
            service,
            router,
            admin_router,
            state,
        })
    }

    /// The bound public port (useful when configured as port 0).
    pub fn port(&self) -> u16 {
        self.public.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// The bound service port; 0 when it is closed (no token configured).
    pub fn service_port(&self) -> u16 {
        self.service
            .as_ref()
            .and_then(|(listener, _)| listener.local_addr().ok())
            .map_or(0, |a| a.port())
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
        let timeouts = Timeouts {
            header: self.state.settings.header_timeout,
            idle: self.state.settings.idle_timeout,
        };
        let mut public = tokio::spawn(serve(
            self.public,
            self.router,
            timeouts,
            stopped(stop_rx.clone()),
        ));
        // HTTP/1.1 and h2c (gRPC) on the one service port: axum::serve speaks
        // both. Without TCP_NODELAY a gRPC answer's last frame waits for the
        // caller's delayed ACK (about 40 ms).
        let service = self.service.map(|(listener, router)| {
            let listener = listener.tap_io(|socket| {
                let _ = socket.set_nodelay(true);
            });
            tokio::spawn(
                axum::serve(listener, router)
                    .with_graceful_shutdown(stopped(stop_rx.clone()))
                    .into_future(),
            )
        });
        let admin = tokio::spawn(
            axum::serve(self.admin, self.admin_router)
                .with_graceful_shutdown(stopped(stop_rx))
                .into_future(),
        );
        tokio::select! {
            () = shutdown => {}
            result = &mut public => {
                admin.abort();
                service.inspect(JoinHandle::abort);
                return result.map_err(std::io::Error::other)?;
            }
        }
        self.state.start_draining();
        let _ = stop_tx.send(true);
        let result = drain(self.state.settings.shutdown_timeout, public, service).await;
        admin.abort();
        tracing::info!("trolley stopped");
        result
    }
}

/// Lets both request ports, which stopped accepting, finish what is in flight
/// within one timeout `within`; past it, stops them anyway.
async fn drain(
    within: Duration,
    mut public: JoinHandle<std::io::Result<()>>,
    mut service: Option<JoinHandle<std::io::Result<()>>>,
) -> std::io::Result<()> {
    let drained = tokio::time::timeout(within, async {
        let public = (&mut public).await;
        if let Some(service) = service.as_mut() {
            let _ = service.await;
        }
        public
    })
    .await;
    match drained {
        Ok(result) => result.map_err(std::io::Error::other)?,
        Err(_) => {
            tracing::warn!(
                ?within,
                "in-flight requests did not finish in time; stopping anyway"
            );
            public.abort();
            service.inspect(JoinHandle::abort);
            Ok(())
        }
    }
}

/// The service port bound and its router, or `None` when no caller is
/// configured (the port stays closed; one log line says so).
async fn open_service_port(state: &AppState) -> Result<Option<(TcpListener, Router)>, String> {
    let Some(callers) = service::Callers::from_settings(&state.settings) else {
        tracing::warn!(
            "the service port stays closed: no TROLLEY_SERVICE_TOKENS (set TROLLEY_SERVICE_AUTH=none to open it without tokens)"
        );
        return Ok(None);
    };
    let listen = state.settings.service_listen;
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    Ok(Some((
        listener,
        service::router(state.clone(), callers).await,
    )))
}

/// The demo catalog, when it should be stored into an empty store: always for the
/// embedded store, per `TROLLEY_SEED_DEMO_CATALOG` for Redis.
fn demo_seed(settings: &Settings) -> Option<Vec<Product>> {
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

/// Every labelled counter starts at 0 for its known labels, so `rate()` and the
/// alerts see a series before the first event.
fn register_counters() {
    metrics::register_counter(
        metrics::CART_OPERATIONS,
        &[
            ("operation", &CartSettings::OPERATIONS),
            ("outcome", &CartError::OUTCOMES),
        ],
    );
    metrics::register_counter(metrics::LOGIN_MERGES, &[("outcome", &MERGE_OUTCOMES)]);
    metrics::register_counter(metrics::LOGINS, &[("outcome", &LoginError::OUTCOMES)]);
    metrics::register_counter(metrics::REDIS_ERRORS, &[("kind", &StoreError::KINDS)]);
    metrics::register_counter(
        metrics::CHECKOUT_CLAIMS,
        &[("outcome", &metrics::CHECKOUT_CLAIM_OUTCOMES)],
    );
    for name in [metrics::CHECKOUT_COMPLETIONS, metrics::CHECKOUT_RELEASES] {
        metrics::register_counter(name, &[("outcome", &metrics::CHECKOUT_END_OUTCOMES)]);
    }
    metrics::register_counter(metrics::CHECKOUT_EXPIRIES, &[]);
    metrics::register_counter(
        metrics::GRPC_HANDLED,
        &[
            ("grpc_method", &service::GRPC_METHODS),
            ("grpc_code", &metrics::GRPC_CODES),
        ],
    );
    metrics::register_histogram(
        metrics::GRPC_DURATION,
        "grpc_method",
        &service::GRPC_METHODS,
    );
    metrics::register_counter(metrics::MERGE_LINES_MOVED, &[]);
    metrics::register_counter(metrics::SESSIONS_CREATED, &[]);
    metrics::register_counter(metrics::IDEMPOTENT_REPLAYS, &[]);
    metrics::register_counter(metrics::SESSION_SLIDE_FAILURES, &[]);
    metrics::register_counter(
        metrics::SESSION_COPIES,
        &[("outcome", &metrics::SESSION_COPY_OUTCOMES)],
    );
    metrics::register_counter(
        metrics::CART_CHANGE_RERUNS,
        &[("operation", &crate::store::CART_CHANGES)],
    );
}
