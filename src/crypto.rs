//! The process's TLS crypto provider.

/// Picks rustls' crypto backend for the whole process. Dependencies enable both
/// ring and aws-lc-rs, and rustls then refuses to guess: without this, the first
/// `rediss://` connection or HTTPS trace export would panic. Called where TLS
/// configs are first built: parsing a Redis URL, and at start-up before trace
/// export.
pub fn install_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
