//! trolley's integration tests: one binary, real HTTP over sockets, real cookies,
//! a real redis-server per test (or `TROLLEY_TEST_REDIS_URL`), and one real Redis
//! Cluster shared by the contract suite's `…::cluster` trials.
//!
//! A custom harness (libtest-mimic) so that a machine without redis-server gets
//! one clear line (or an install, where possible) instead of a wall of failures.

// A test is a scenario, read top to bottom: no function-length limit here.
#![allow(clippy::too_many_lines)]

/// Trials of tests that run once, each named `<module>::<test>` after the
/// module that lists it: `tests![a_test, another]`, or `name = body` for a
/// body that is not a function of that name (`name = || check("grpc")`).
macro_rules! tests {
    (@trials [$($trial:expr,)*]) => {
        vec![$($trial),*]
    };
    (@trials [$($trial:expr,)*] $test:ident $(, $($rest:tt)*)?) => {
        tests!(@trials [$($trial,)* $crate::trial($crate::test_name(module_path!(), stringify!($test)), $test),] $($($rest)*)?)
    };
    (@trials [$($trial:expr,)*] $name:ident = $body:expr $(, $($rest:tt)*)?) => {
        tests!(@trials [$($trial,)* $crate::trial($crate::test_name(module_path!(), stringify!($name)), $body),] $($($rest)*)?)
    };
    ($($tests:tt)*) => {
        tests!(@trials [] $($tests)*)
    };
}

/// The contract suite: each test, an `async fn(Backend)`, is listed once and
/// stamped out for every backend as `<module>::<test>::<backend>` (as
/// tower-sessions-stores' `route_tests!` stamps its route tests out per store),
/// so the stores cannot drift apart. `on [Redis, Embedded]: …` leaves a backend
/// out, for tests that need what it does not have.
macro_rules! contract_suite {
    (on [$($backend:ident),+ $(,)?]: $($test:ident),+ $(,)?) => {{
        let backends = [$($crate::helpers::Backend::$backend),+];
        let mut trials = Vec::new();
        $(
            trials.extend($crate::per_backend(
                &$crate::test_name(module_path!(), stringify!($test)),
                &backends,
                $test,
            ));
        )+
        trials
    }};
    ($($test:ident),+ $(,)?) => {
        contract_suite!(on [Redis, Embedded, Cluster]: $($test),+)
    };
}

mod accounts;
mod cart;
mod catalog;
mod cluster;
mod contract;
mod faults;
mod grpc;
mod headers;
mod helpers;
mod hostile;
mod isolation;
mod lost_replies;
mod observability;
mod proxy;
mod replicas;
mod retries;
mod round_trips;
mod rules;
mod sentinel;
mod service;
mod session_copies;
mod stored_formats;
mod storefront;
mod tls;
mod topology;

use std::{
    future::Future,
    panic::AssertUnwindSafe,
    process::{Command, ExitCode, Stdio},
    time::Duration,
};

use helpers::Backend;
use libtest_mimic::{Arguments, Failed, Trial};

/// A test: an async body run on its own runtime; a panic is a failure.
pub fn trial<F, Fut>(name: impl Into<String>, body: F) -> Trial
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + 'static,
{
    Trial::test(name, move || run(body))
}

/// `<module>::<test>`, from the `module_path!()` of the module that lists the
/// test (the crate's own name left out).
pub fn test_name(module_path: &str, test: &str) -> String {
    let module = module_path
        .split_once("::")
        .map_or(module_path, |(_, module)| module);
    format!("{module}::{test}")
}

/// A test on each of `backends`, named `<name>::<backend>`; ignored on a
/// backend this machine cannot run (see [`Backend::available`]).
pub fn per_backend<F, Fut>(name: &str, backends: &[Backend], body: F) -> Vec<Trial>
where
    F: Fn(Backend) -> Fut + Send + Clone + 'static,
    Fut: Future<Output = ()> + 'static,
{
    backends
        .iter()
        .map(|&backend| {
            let body = body.clone();
            trial(format!("{name}::{}", backend.name()), move || body(backend))
                .with_ignored_flag(!backend.available())
        })
        .collect()
}

fn run<F, Fut>(body: F) -> Result<(), Failed>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = ()>,
{
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Failed::from(format!("runtime: {e}")))?;
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| runtime.block_on(body())));
    runtime.shutdown_timeout(Duration::from_secs(2));
    outcome.map_err(|panic| {
        let message = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "test panicked".into());
        Failed::from(message)
    })
}

/// Makes sure a redis-server can be started: present, or installed with apt-get
/// when running as root on Debian/Ubuntu. Otherwise one line says what to do.
fn ensure_redis_server() -> Result<(), String> {
    if std::env::var_os("TROLLEY_TEST_REDIS_URL").is_some() {
        return Ok(());
    }
    let present = || {
        Command::new("redis-server")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if present() {
        return Ok(());
    }
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    let has_apt = Command::new("apt-get")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if is_root && has_apt {
        eprintln!("redis-server is missing; installing it with apt-get ...");
        let install = || {
            Command::new("apt-get")
                .args(["install", "-y", "-qq", "redis-server"])
                .env("DEBIAN_FRONTEND", "noninteractive")
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        if !install() {
            let _ = Command::new("apt-get")
                .args(["update", "-qq"])
                .stdout(Stdio::null())
                .status();
            install();
        }
        if present() {
            return Ok(());
        }
    }
    Err("the tests need redis-server: install it (Debian/Ubuntu: `sudo apt-get install redis-server`, macOS: `brew install redis`) or set TROLLEY_TEST_REDIS_URL".into())
}

fn main() -> ExitCode {
    let mut args = Arguments::from_args();
    if let Err(message) = ensure_redis_server() {
        eprintln!("{message}");
        return ExitCode::FAILURE;
    }
    // The tests wait on sockets far more than on the CPU.
    if args.test_threads.is_none() {
        args.test_threads = Some(6);
    }
    let mut trials = Vec::new();
    trials.extend(cart::trials());
    trials.extend(rules::trials());
    trials.extend(catalog::trials());
    trials.extend(replicas::trials());
    trials.extend(faults::trials());
    trials.extend(headers::trials());
    trials.extend(isolation::trials());
    trials.extend(retries::trials());
    trials.extend(lost_replies::trials());
    trials.extend(hostile::trials());
    trials.extend(round_trips::trials());
    trials.extend(session_copies::trials());
    trials.extend(stored_formats::trials());
    trials.extend(contract::trials());
    trials.extend(storefront::trials());
    trials.extend(accounts::trials());
    trials.extend(observability::trials());
    trials.extend(topology::trials());
    trials.extend(tls::trials());
    trials.extend(sentinel::trials());
    trials.extend(cluster::trials());
    trials.extend(service::trials());
    trials.extend(grpc::trials());
    let conclusion = libtest_mimic::run(&args, trials);
    helpers::Cluster::stop_shared();
    conclusion.exit_code()
}
