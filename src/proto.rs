//! The service port's gRPC messages and services, generated from `proto/` by
//! `build.rs` (tonic and prost; see proto/README.md). Clients are generated
//! too, for the tests and for callers written in Rust.

#![allow(clippy::all, clippy::pedantic, missing_docs)]

/// trolley's own service: `trolley.cart.v1.CartService`.
pub mod trolley {
    pub mod cart {
        pub mod v1 {
            tonic::include_proto!("trolley.cart.v1");
        }
    }
}

/// Online Boutique's `hipstershop` package (its `CartService` is served).
pub mod hipstershop {
    tonic::include_proto!("hipstershop");
}

/// The OpenTelemetry demo's `oteldemo` package (its `CartService` is served).
pub mod oteldemo {
    tonic::include_proto!("oteldemo");
}

/// The encoded descriptors of every file, for server reflection.
pub const DESCRIPTORS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/descriptors.bin"));
