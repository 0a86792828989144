//! `AppState`: what the handlers share: the stores, the catalog copy, and the
//! settings sections each part needs.

use std::{
    ops::Deref,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use crate::{
    accounts::login::LoginSettings,
    cart::ops::CartSettings,
    catalog::Catalog,
    config::Settings,
    store::{CartStore, stores::Stores},
};

pub(crate) struct Shared {
    pub(crate) stores: Stores,
    pub(crate) catalog: Catalog,
    /// The settings the edge reads directly (cookie, session lifetimes, proxy trust).
    pub(crate) settings: Settings,
    pub(crate) cart: CartSettings,
    pub(crate) login: LoginSettings,
    /// Set at shutdown, so readiness fails while in-flight requests drain.
    draining: AtomicBool,
}

#[derive(Clone)]
pub(crate) struct AppState(Arc<Shared>);

impl Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    pub(crate) fn new(stores: Stores, catalog: Catalog, settings: Settings) -> Self {
        AppState(Arc::new(Shared {
            stores,
            catalog,
            cart: settings.cart_settings(),
            login: settings.login_settings(),
            settings,
            draining: AtomicBool::new(false),
        }))
    }

    pub(crate) fn carts(&self) -> &dyn CartStore {
        self.stores.carts.as_ref()
    }

    /// (connected, total) connections of the Redis pool; `None` when embedded.
    pub(crate) fn redis_pool_state(&self) -> Option<(usize, usize)> {
        self.stores.pool_state()
    }

    pub(crate) fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    pub(crate) fn start_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }
}
