//! `AppState`: what the handlers share: the stores, the catalog copy, and the
//! settings sections each part needs.

use std::{
    collections::HashSet,
    ops::Deref,
    sync::{
        Arc, Mutex,
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

/// What this replica's requests share: its stores, catalog and settings.
pub(crate) struct Replica {
    pub(crate) stores: Stores,
    pub(crate) catalog: Catalog,
    /// The settings the edge reads directly (cookie, session lifetimes, proxy trust).
    pub(crate) settings: Settings,
    pub(crate) cart: CartSettings,
    pub(crate) login: LoginSettings,
    /// The Idempotency-Keys being applied on this replica (API.md: a repeat
    /// while the first is in progress → 409).
    pub(crate) in_flight: InFlight,
    /// Set at shutdown, so readiness fails while in-flight requests drain.
    draining: AtomicBool,
}

#[derive(Clone)]
pub(crate) struct AppState(Arc<Replica>);

impl Deref for AppState {
    type Target = Replica;
    fn deref(&self) -> &Replica {
        &self.0
    }
}

impl AppState {
    pub(crate) fn new(stores: Stores, catalog: Catalog, settings: Settings) -> Self {
        AppState(Arc::new(Replica {
            stores,
            catalog,
            cart: settings.cart_settings(),
            login: settings.login_settings(),
            settings,
            in_flight: InFlight::default(),
            draining: AtomicBool::new(false),
        }))
    }

    pub(crate) fn carts(&self) -> &dyn CartStore {
        self.stores.carts.as_ref()
    }

    pub(crate) fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    pub(crate) fn start_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }
}

/// The Idempotency-Keys being applied on this replica, by cart.
#[derive(Clone, Default)]
pub(crate) struct InFlight(Arc<Mutex<HashSet<(String, String)>>>);

impl InFlight {
    /// Holds a cart's key, or `None` while another request holds it.
    pub(crate) fn hold(&self, cart_id: &str, key: &str) -> Option<KeyHold> {
        let slot = (cart_id.to_string(), key.to_string());
        let mut held = self.0.lock().unwrap_or_else(|p| p.into_inner());
        held.insert(slot.clone())
            .then(|| KeyHold(Some((self.clone(), slot))))
    }
}

/// Holds an Idempotency-Key on this replica; released when dropped.
pub(crate) struct KeyHold(Option<(InFlight, (String, String))>);

impl KeyHold {
    /// Holds nothing (a request without a key, or without a cart yet).
    pub(crate) fn none() -> KeyHold {
        KeyHold(None)
    }
}

impl Drop for KeyHold {
    fn drop(&mut self) {
        if let Some((in_flight, slot)) = self.0.take() {
            in_flight
                .0
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&slot);
        }
    }
}
