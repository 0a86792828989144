//! Test helpers: a real redis-server per test (or `TROLLEY_TEST_REDIS_URL`), a
//! real Redis Cluster (one per test, or the run's shared one), the real app on
//! port 0 in this process (or the real binary as a child process), and HTTP
//! clients that keep cookies like a browser.

use std::{
    fmt::Display,
    future::{Future, IntoFuture},
    net::TcpListener,
    path::{Path, PathBuf},
    pin::Pin,
    process::{Child, Command, Stdio},
    sync::{Mutex, OnceLock, PoisonError},
    time::{Duration, Instant},
};

use fred::prelude::*;
use reqwest::{Method, StatusCode, header};
use serde_json::Value;
use trolley::{
    config::Settings,
    testing::{RedisOptions, parse_config},
};

/// Which store an app under test runs on: the backends the contract suite
/// (`contract_suite!` in main.rs) is stamped out for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A redis-server of the test's own.
    Redis,
    /// The in-process store (no `TROLLEY_REDIS_URL`).
    Embedded,
    /// A 3-master Redis Cluster, one for the whole run (see [`Cluster::shared`]).
    Cluster,
}

impl Backend {
    /// The last segment of a contract test's name.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Redis => "redis",
            Backend::Embedded => "embedded",
            Backend::Cluster => "cluster",
        }
    }

    /// Whether this machine can run it: a Cluster needs redis-cli besides
    /// redis-server (its trials are listed as ignored otherwise).
    pub fn available(self) -> bool {
        static CLUSTER: OnceLock<bool> = OnceLock::new();
        match self {
            Backend::Redis | Backend::Embedded => true,
            Backend::Cluster => *CLUSTER.get_or_init(Cluster::tools_present),
        }
    }

    /// Starts this backend's store for one test: a fresh redis-server, nothing
    /// for the embedded store, or the run's shared Cluster.
    pub async fn start(self) -> Store {
        match self {
            Backend::Redis => Store::Redis(RedisServer::start().await),
            Backend::Embedded => Store::Embedded,
            Backend::Cluster => Store::Cluster(Cluster::shared().await),
        }
    }
}

/// A test's store, kept alive until the test ends.
pub enum Store {
    Redis(RedisServer),
    Embedded,
    /// Shared by every Cluster trial of the run: a test on it keeps to keys of
    /// its own (its carts, users and owners), and relies on no count of the
    /// whole server (its keys, or a limit per client address).
    Cluster(&'static Cluster),
}

impl Store {
    /// Settings for an app on this store.
    pub fn settings(&self) -> Settings {
        match self {
            Store::Redis(redis) => settings(Backend::Redis, Some(redis)),
            Store::Embedded => settings(Backend::Embedded, None),
            Store::Cluster(cluster) => cluster.settings(),
        }
    }

    /// The test's own redis-server, on the Redis backend.
    pub fn redis(&self) -> Option<&RedisServer> {
        match self {
            Store::Redis(redis) => Some(redis),
            Store::Embedded | Store::Cluster(_) => None,
        }
    }

    /// The shared Cluster, on the Cluster backend.
    pub fn cluster(&self) -> Option<&'static Cluster> {
        match self {
            Store::Cluster(cluster) => Some(cluster),
            Store::Redis(_) | Store::Embedded => None,
        }
    }
}

/// A free TCP port on 127.0.0.1, below the ephemeral range.
///
/// Ports the OS hands out for `bind(0)` and for outgoing connections come from
/// the ephemeral range (32768 and up); a test that stops and restarts its Redis
/// on the same port must not find that port taken meanwhile by some client's
/// connection, so test servers live in 20000..32000 instead.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let start = 20_000 + (std::process::id() * 131) % 12_000;
    loop {
        let port = 20_000 + (start - 20_000 + NEXT.fetch_add(1, Ordering::Relaxed)) % 12_000;
        let port = port as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// A redis-server this test owns (or the shared one of `TROLLEY_TEST_REDIS_URL`).
pub struct RedisServer {
    pub url: String,
    pub port: u16,
    child: Option<Child>,
    dir: Option<tempfile::TempDir>,
}

impl RedisServer {
    pub async fn start() -> RedisServer {
        if let Ok(url) = std::env::var("TROLLEY_TEST_REDIS_URL") {
            return RedisServer {
                url,
                port: 0,
                child: None,
                dir: None,
            };
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let mut server = RedisServer {
            url: format!("redis://127.0.0.1:{port}"),
            port,
            child: None,
            dir: Some(dir),
        };
        server.spawn().await;
        server
    }

    /// The server's process id, when this test owns it.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether this test owns the server (and may stop it).
    pub fn is_owned(&self) -> bool {
        self.dir.is_some()
    }

    async fn spawn(&mut self) {
        let dir = self.dir.as_ref().expect("owned server").path();
        // AOF on, so a restart keeps the data as a production Redis would.
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args([
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
            ])
            .arg("--dir")
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let exited = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            assert!(
                exited.is_none(),
                "redis-server exited ({exited:?}): port {} taken?",
                self.port
            );
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                break;
            }
            assert!(Instant::now() < deadline, "redis-server did not start");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops the server (SIGKILL: as abrupt as a crash or a network cut).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port.
    pub async fn restart(&mut self) {
        self.stop();
        self.spawn().await;
    }

    /// Starts it again on the same port with its data lost (as a restart without
    /// persistence, or a disk that did not keep the AOF).
    pub async fn restart_empty(&mut self) {
        self.stop();
        let dir = self
            .dir
            .as_ref()
            .expect("owned server")
            .path()
            .to_path_buf();
        for entry in std::fs::read_dir(&dir).expect("redis dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                std::fs::remove_dir_all(&path).expect("remove AOF dir");
            } else {
                std::fs::remove_file(&path).expect("remove data file");
            }
        }
        self.spawn().await;
    }

    /// A plain client for inspecting what the app wrote.
    pub async fn client(&self) -> Client {
        let config = Config::from_url(&self.url).expect("redis url");
        let client = Builder::from_config(config).build().expect("client");
        client.init().await.expect("connect to test redis");
        client
    }

    /// trolley's Redis store on this server, connected, for store-level tests:
    /// one connection, a 2 s command timeout, no `WAIT`.
    pub async fn store(&self) -> trolley::testing::RedisStore {
        let store = trolley::testing::RedisStore::new(&trolley::testing::RedisOptions {
            url: self.url.clone(),
            password: None,
            ca_file: None,
            pool_size: 1,
            timeout: Duration::from_secs(2),
            wait_replicas: 0,
        })
        .expect("store");
        store
            .wait_connected(Duration::from_secs(10))
            .await
            .expect("connected");
        store
    }
}

/// Two replicas with the default settings, both on `redis`: what a load
/// balancer spreads one shopper's requests over.
pub async fn two_replicas(redis: &RedisServer) -> (TestApp, TestApp) {
    let a = TestApp::spawn(settings(Backend::Redis, Some(redis))).await;
    let b = TestApp::spawn(settings(Backend::Redis, Some(redis))).await;
    (a, b)
}

/// The cart policy of store-level tests: a 60 s TTL, 99 a line, 100 lines.
pub fn store_test_policy() -> trolley::testing::CartPolicy {
    trolley::testing::CartPolicy {
        ttl: Duration::from_secs(60),
        limits: trolley::testing::rules::Limits {
            max_quantity: 99,
            max_lines: 100,
        },
    }
}

/// One of product 42 at `price`, added at 1 ms: store-level tests' item.
pub fn store_test_item(price: rust_decimal::Decimal) -> trolley::testing::rules::NewItem {
    trolley::testing::rules::NewItem {
        product_id: trolley::testing::model::ProductId(42),
        quantity: 1,
        price,
        now_ms: 1,
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Settings for an app under test: ephemeral ports, defaults otherwise.
pub fn settings(backend: Backend, redis: Option<&RedisServer>) -> Settings {
    use clap::Parser;
    #[derive(Parser)]
    struct Wrapper {
        #[command(flatten)]
        settings: Settings,
    }
    let mut settings = Wrapper::parse_from(["trolley"]).settings;
    settings.listen = "127.0.0.1:0".parse().expect("addr");
    settings.admin_listen = "127.0.0.1:0".parse().expect("addr");
    settings.service_listen = "127.0.0.1:0".parse().expect("addr");
    settings.service_tokens = vec![SERVICE_TOKEN.to_string(), ROTATED_TOKEN.to_string()];
    settings.redis.url = match backend {
        Backend::Redis => Some(redis.expect("a redis server").url.clone()),
        Backend::Embedded => None,
        Backend::Cluster => panic!("a Cluster app's settings come from Store::settings"),
    };
    settings.users_file = std::env::temp_dir().join(format!(
        "trolley-test-users-{}-{}.json",
        std::process::id(),
        free_port()
    ));
    settings
}

/// The service API's bearer tokens in tests (two, as during a rotation).
pub const SERVICE_TOKEN: &str = "test-service-token";
pub const ROTATED_TOKEN: &str = "next-service-token";

/// The real app, serving on ephemeral ports in this process.
pub struct TestApp {
    pub base: String,
    pub admin: String,
    /// The service port's base URL; empty when it is closed.
    pub service: String,
    redis_url: Option<String>,
    users_file: PathBuf,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl TestApp {
    pub async fn spawn(settings: Settings) -> TestApp {
        init_test_log();
        let redis_url = settings.redis.url.clone();
        let users_file = settings.users_file.clone();
        let app = trolley::app::App::build(settings)
            .await
            .expect("app builds");
        let base = format!("http://127.0.0.1:{}", app.port());
        let admin = format!("http://127.0.0.1:{}", app.admin_port());
        let service = match app.service_port() {
            0 => String::new(),
            port => format!("http://127.0.0.1:{port}"),
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(app.run_until_stopped(async move {
            let _ = stopped.await;
        }));
        TestApp {
            base,
            admin,
            service,
            redis_url,
            users_file,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// The app on a backend, with default settings, and its store (returned so
    /// the test keeps it alive): see [`Backend::start`].
    pub async fn on(backend: Backend) -> (TestApp, Store) {
        let store = backend.start().await;
        let app = TestApp::spawn(store.settings()).await;
        (app, store)
    }

    /// `trolley user add NAME` with the password on stdin, on this app's store.
    pub fn add_user(&self, name: &str, password: &str) {
        let output = self.cli(&["user", "add", name], Some(password));
        assert!(
            output.status.success(),
            "user add: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// Runs the `trolley` binary against this app's store.
    pub fn cli(&self, args: &[&str], stdin: Option<&str>) -> std::process::Output {
        use std::io::Write;
        let mut command = Command::new(binary());
        command
            .args(args)
            .env("TROLLEY_USERS_FILE", &self.users_file)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        match &self.redis_url {
            Some(url) => command.env("TROLLEY_REDIS_URL", url),
            None => command.env_remove("TROLLEY_REDIS_URL"),
        };
        let mut child = command.spawn().expect("trolley runs");
        if let Some(mut input) = child.stdin.take() {
            input
                .write_all(stdin.unwrap_or_default().as_bytes())
                .expect("stdin");
        }
        child.wait_with_output().expect("trolley finishes")
    }

    pub fn browser(&self) -> Browser {
        Browser::new(&self.base)
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

fn init_test_log() {
    if std::env::var_os("TEST_LOG").is_some() {
        // The subscriber is process-wide, and so is its guard. In-process apps
        // export no traces (the OTLP tests run the binary).
        static TELEMETRY: std::sync::OnceLock<trolley::logs::TelemetryGuard> =
            std::sync::OnceLock::new();
        TELEMETRY.get_or_init(|| {
            let log = trolley::config::LogSettings {
                format: trolley::config::LogFormat::Pretty,
                access_log: trolley::config::AccessLog::All,
                access_log_slow: Duration::from_secs(1),
            };
            trolley::logs::init(&log, None)
        });
    }
}

/// An HTTP response, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: header::HeaderMap,
    pub text: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text))
    }

    /// The `Set-Cookie` header for `name`, if any.
    pub fn set_cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with(&format!("{name}=")))
            .map(str::to_string)
    }
}

/// A client that keeps the session cookie the way a browser does, and whose
/// cookie a test can read, copy or replace (for "old cookie" scenarios).
#[derive(Clone)]
pub struct Browser {
    pub base: String,
    pub cookie_name: String,
    pub cookie: Option<String>,
    client: reqwest::Client,
}

impl Browser {
    pub fn new(base: &str) -> Browser {
        Browser {
            base: base.to_string(),
            cookie_name: "trolley_session".into(),
            cookie: None,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("client"),
        }
    }

    /// The same visitor, talking to another replica.
    pub fn via(&self, base: &str) -> Browser {
        Browser {
            base: base.to_string(),
            ..self.clone()
        }
    }

    /// A request, sent when awaited (add headers to it first with
    /// [`Call::header`] and friends).
    pub fn send(&mut self, method: Method, path: &str, body: Option<&str>) -> Call<'_> {
        Call {
            browser: self,
            method,
            path: path.to_string(),
            body: body.map(str::to_string),
            headers: Vec::new(),
        }
    }

    pub fn get(&mut self, path: &str) -> Call<'_> {
        self.send(Method::GET, path, None)
    }

    pub fn post(&mut self, path: &str, body: &str) -> Call<'_> {
        self.send(Method::POST, path, Some(body))
    }

    pub fn put(&mut self, path: &str) -> Call<'_> {
        self.send(Method::PUT, path, None)
    }

    pub fn delete(&mut self, path: &str) -> Call<'_> {
        self.send(Method::DELETE, path, None)
    }

    /// `PUT /api/cart/item/{line}?quantity={quantity}`: any text as either, so
    /// malformed ones can be sent too.
    pub fn put_quantity(&mut self, line: impl Display, quantity: impl Display) -> Call<'_> {
        self.put(&format!("/api/cart/item/{line}?quantity={quantity}"))
    }

    /// `DELETE /api/cart/item/{line}`.
    pub fn remove(&mut self, line: impl Display) -> Call<'_> {
        self.delete(&format!("/api/cart/item/{line}"))
    }

    /// `DELETE /api/cart`.
    pub fn clear(&mut self) -> Call<'_> {
        self.delete("/api/cart")
    }

    /// Sends a request with this browser's cookie, and keeps the cookie the
    /// answer sets (or removes).
    async fn execute(
        &mut self,
        method: Method,
        path: String,
        body: Option<String>,
        headers: Vec<(String, String)>,
    ) -> Reply {
        let mut request = self
            .client
            .request(method, format!("{}{}", self.base, path));
        for (name, value) in headers {
            request = request.header(name, value);
        }
        if let Some(cookie) = &self.cookie {
            request = request.header(header::COOKIE, format!("{}={}", self.cookie_name, cookie));
        }
        if let Some(body) = body {
            request = request
                .header(header::CONTENT_TYPE, "application/json")
                .body(body);
        }
        let response = request.send().await.expect("request is answered");
        let reply = Reply {
            status: response.status(),
            headers: response.headers().clone(),
            text: response.text().await.expect("body"),
        };
        if let Some(set) = reply.set_cookie(&self.cookie_name) {
            let value = set
                .split(';')
                .next()
                .and_then(|kv| kv.split_once('='))
                .map(|(_, v)| v.to_string())
                .unwrap_or_default();
            let removed = set.to_ascii_lowercase().contains("max-age=0") || value.is_empty();
            self.cookie = if removed { None } else { Some(value) };
        }
        reply
    }

    /// `POST /api/cart/add`, asserting success; returns the line id.
    pub async fn add(&mut self, product_id: i64, quantity: i64) -> u64 {
        let reply = self
            .post(
                "/api/cart/add",
                &format!(r#"{{"productId": {product_id}, "quantity": {quantity}}}"#),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "add failed: {}", reply.text);
        reply.json()["cartItem"]["id"].as_u64().expect("line id")
    }

    /// Whether `GET /api/cart` answers 200 within `within` (polling): the
    /// service has recovered from a storage outage.
    pub async fn cart_answers_within(&self, within: Duration) -> bool {
        eventually(within, || {
            let mut visitor = self.clone();
            async move { visitor.get("/api/cart").await.status == StatusCode::OK }
        })
        .await
    }

    /// `GET /api/cart` as JSON.
    pub async fn cart(&mut self) -> Value {
        let reply = self.get("/api/cart").await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        reply.json()
    }

    /// Logs in, asserting success; returns the response body.
    pub async fn login(&mut self, username: &str, password: &str) -> Value {
        let reply = self.login_reply(username, password).await;
        assert_eq!(reply.status, StatusCode::OK, "login failed: {}", reply.text);
        reply.json()
    }

    pub async fn login_reply(&mut self, username: &str, password: &str) -> Reply {
        let body = serde_json::json!({"username": username, "password": password}).to_string();
        self.post("/api/auth/login", &body).await
    }
}

/// A request of a [`Browser`], sent (with the browser's cookie) when awaited.
#[must_use = "a request is sent when awaited"]
pub struct Call<'a> {
    browser: &'a mut Browser,
    method: Method,
    path: String,
    body: Option<String>,
    headers: Vec<(String, String)>,
}

impl Call<'_> {
    /// With a request header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// With each of `headers`.
    pub fn headers(self, headers: &[(&str, &str)]) -> Self {
        headers
            .iter()
            .fold(self, |call, (name, value)| call.header(name, value))
    }

    pub fn idempotency_key(self, key: &str) -> Self {
        self.header("Idempotency-Key", key)
    }

    pub fn if_match(self, etags: &str) -> Self {
        self.header("If-Match", etags)
    }

    pub fn if_none_match(self, etags: &str) -> Self {
        self.header("If-None-Match", etags)
    }
}

impl<'a> IntoFuture for Call<'a> {
    type Output = Reply;
    type IntoFuture = Pin<Box<dyn Future<Output = Reply> + Send + 'a>>;

    fn into_future(self) -> Self::IntoFuture {
        let Call {
            browser,
            method,
            path,
            body,
            headers,
        } = self;
        Box::pin(browser.execute(method, path, body, headers))
    }
}

/// Quantity of a product in a cart body (`/api/cart` shape), 0 when absent.
pub fn quantity_of(cart: &Value, product_id: i64) -> u64 {
    cart["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|item| item["productId"].as_i64() == Some(product_id))
        .map(|item| item["quantity"].as_u64().expect("quantity"))
        .sum()
}

/// The real `trolley` binary as a child process (for process-wide concerns:
/// metrics, signals, the CLI).
pub struct Process {
    pub child: Child,
    pub base: String,
    pub admin: String,
}

pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_trolley"))
}

impl Process {
    pub async fn spawn(envs: &[(&str, String)]) -> Process {
        Process::spawn_logging_to(envs, Stdio::null()).await
    }

    /// [`Process::spawn`] with its stdout (the log stream) going to `logs`.
    pub async fn spawn_logging_to(envs: &[(&str, String)], logs: Stdio) -> Process {
        let port = free_port();
        let admin_port = free_port();
        let mut command = Command::new(binary());
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("TROLLEY_LISTEN", format!("127.0.0.1:{port}"))
            .env("TROLLEY_ADMIN_LISTEN", format!("127.0.0.1:{admin_port}"))
            .env("TROLLEY_LOG_FORMAT", "json")
            .env("RUST_LOG", "warn")
            .stdout(logs)
            .stderr(if std::env::var_os("TEST_LOG").is_some() {
                Stdio::inherit()
            } else {
                Stdio::null()
            });
        for (key, value) in envs {
            command.env(key, value);
        }
        let child = command.spawn().expect("trolley starts");
        let process = Process {
            child,
            base: format!("http://127.0.0.1:{port}"),
            admin: format!("http://127.0.0.1:{admin_port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(r) = reqwest::get(format!("{}/livez", process.admin)).await
                && r.status().is_success()
            {
                break;
            }
            assert!(Instant::now() < deadline, "trolley did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        process
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    /// Waits for the process to exit, up to `within`.
    pub async fn wait_exit(&mut self, within: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(Instant::now() < deadline, "trolley did not exit in time");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `check` until it is true or `within` passes.
pub async fn eventually<F, Fut>(within: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    loop {
        if check().await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Child processes of a test (redis-server nodes, Sentinels), killed on drop.
pub struct Children(pub Vec<Child>);

impl Drop for Children {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Whether a command-line tool is installed (it answers `--version`).
pub fn tool_present(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `redis-cli -p PORT ARGS…`, its output trimmed.
pub fn redis_cli(port: u16, args: &[&str]) -> String {
    let output = Command::new("redis-cli")
        .args(["-p", &port.to_string()])
        .args(args)
        .output()
        .expect("redis-cli runs");
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// The commands clients send to a redis-server, as `redis-cli MONITOR` logs
/// them (commands a script runs are logged too, marked `[… lua]`).
pub struct Monitor {
    child: std::process::Child,
    log: tempfile::NamedTempFile,
}

impl Monitor {
    /// Starts watching the redis-server on `port`; returns once the monitor
    /// logs a command sent after it started.
    pub async fn start(port: u16) -> Monitor {
        let log = tempfile::NamedTempFile::new().expect("log");
        let child = Command::new("redis-cli")
            .args(["-p", &port.to_string(), "monitor"])
            .stdout(log.reopen().expect("log"))
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-cli monitor");
        let watching = eventually(Duration::from_secs(10), || async {
            redis_cli(port, &["echo", "MONITOR-READY"]);
            tokio::time::sleep(Duration::from_millis(50)).await;
            std::fs::read_to_string(log.path()).is_ok_and(|text| text.contains("MONITOR-READY"))
        })
        .await;
        assert!(watching, "MONITOR never attached");
        Monitor { child, log }
    }

    /// Stops watching (after the last commands had time to be logged) and
    /// answers the log.
    pub async fn stop(mut self) -> String {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::fs::read_to_string(self.log.path()).expect("monitor log")
    }
}

/// Waits (up to 30 s) until `check` holds, failing the test with `what` otherwise.
pub async fn until(what: &str, check: impl Fn() -> bool) {
    let done = eventually(Duration::from_secs(30), || {
        let result = check();
        async move { result }
    })
    .await;
    assert!(done, "timed out waiting for {what}");
}

/// The test users' password.
pub const PASSWORD: &str = "correct horse battery";

/// The lines of a cart body (`/api/cart` shape).
pub fn items(cart: &Value) -> &Vec<Value> {
    cart["items"].as_array().expect("items")
}

/// The line of a product in a cart body; the test fails if there is none.
pub fn line_of(cart: &Value, product: i64) -> Value {
    items(cart)
        .iter()
        .find(|item| item["productId"] == serde_json::json!(product))
        .cloned()
        .unwrap_or_else(|| panic!("no line of product {product} in {cart}"))
}

/// Creates `name` with the CLI, gives it a cart holding `products` (product,
/// quantity), logs out, and returns that cart.
pub async fn user_with_cart(app: &TestApp, name: &str, products: &[(i64, i64)]) -> Value {
    app.add_user(name, PASSWORD);
    let mut user = app.browser();
    user.login(name, PASSWORD).await;
    for &(product, quantity) in products {
        user.add(product, quantity).await;
    }
    let cart = user.cart().await;
    assert_eq!(
        user.post("/api/auth/logout", "{}").await.status,
        StatusCode::OK
    );
    cart
}

/// A cart's hash in Redis.
pub fn cart_key(no: u64) -> String {
    format!("trolley:{{cart:{no}}}")
}

/// The cart number of a line id (the id names the cart that created it).
pub fn cart_no_of(line: u64) -> u64 {
    line >> 20
}

/// Three redis-server masters in cluster mode, stopped on drop (or by
/// [`Cluster::stop`], for the shared one).
pub struct Cluster {
    /// `redis-cluster://` URL listing every node, comma-separated (as the README
    /// and the Helm chart write it).
    pub url: String,
    pub ports: Vec<u16>,
    /// The nodes and their directory, until stopped.
    running: Mutex<Option<(Children, tempfile::TempDir)>>,
}

/// The run's shared Cluster, once a test has asked for it.
static SHARED_CLUSTER: tokio::sync::OnceCell<Cluster> = tokio::sync::OnceCell::const_new();

fn spawn_node(dir: &Path, port: u16, bus_port: u16) -> Child {
    Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        // The bus port is chosen too: port + 10000 could be another test's server.
        .args(["--cluster-enabled", "yes"])
        .args(["--cluster-port", &bus_port.to_string()])
        .args(["--cluster-config-file", &format!("nodes-{port}.conf")])
        .args(["--save", "", "--appendonly", "no"])
        .arg("--dir")
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server starts")
}

impl Cluster {
    /// Whether redis-server and redis-cli (which creates the cluster) are here.
    pub fn tools_present() -> bool {
        tool_present("redis-cli") && tool_present("redis-server")
    }

    /// A fresh cluster, or `None` (after a note) when redis-cli or redis-server
    /// is missing.
    pub async fn start() -> Option<Cluster> {
        if !Cluster::tools_present() {
            eprintln!(
                "skipped: the Cluster tests need redis-server and redis-cli (Debian package redis-tools)"
            );
            return None;
        }
        let dir = tempfile::tempdir().expect("dir");
        let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
        let mut nodes = Children(Vec::new());
        for &port in &ports {
            nodes.0.push(spawn_node(dir.path(), port, free_port()));
        }
        let cluster = Cluster {
            url: format!(
                "redis-cluster://127.0.0.1:{},127.0.0.1:{},127.0.0.1:{}",
                ports[0], ports[1], ports[2]
            ),
            ports: ports.clone(),
            running: Mutex::new(Some((nodes, dir))),
        };
        for &port in &ports {
            until(&format!("node {port} to answer"), || {
                redis_cli(port, &["ping"]) == "PONG"
            })
            .await;
        }
        let addresses: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
        let create = tokio::task::spawn_blocking(move || {
            Command::new("redis-cli")
                .args(["--cluster", "create"])
                .args(&addresses)
                .args(["--cluster-replicas", "0", "--cluster-yes"])
                .stdin(Stdio::null())
                .output()
                .expect("redis-cli runs")
        })
        .await
        .expect("cluster create");
        assert!(
            create.status.success(),
            "redis-cli --cluster create failed: {}{}",
            String::from_utf8_lossy(&create.stdout),
            String::from_utf8_lossy(&create.stderr)
        );
        for &port in &ports {
            until(&format!("node {port} to see the whole cluster"), || {
                let info = redis_cli(port, &["cluster", "info"]);
                info.contains("cluster_state:ok")
                    && info.contains("cluster_slots_ok:16384")
                    && info.contains("cluster_known_nodes:3")
            })
            .await;
        }
        Some(cluster)
    }

    /// The run's one Cluster for the contract suite, started by the first test
    /// that asks (the others wait for it): starting one takes seconds, and every
    /// test keeps to keys of its own anyway. main stops it after the last test.
    pub async fn shared() -> &'static Cluster {
        SHARED_CLUSTER
            .get_or_init(|| async {
                Cluster::start()
                    .await
                    .expect("the Cluster trials run only where redis-cli is")
            })
            .await
    }

    /// Stops the shared Cluster, if one was started.
    pub fn stop_shared() {
        if let Some(cluster) = SHARED_CLUSTER.get() {
            cluster.stop();
        }
    }

    /// Kills the nodes and removes their directory.
    pub fn stop(&self) {
        drop(
            self.running
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
    }

    /// Settings for an app on this cluster.
    pub fn settings(&self) -> Settings {
        let mut config = settings(Backend::Embedded, None);
        config.redis.url = Some(self.url.clone());
        config
    }

    /// trolley's Redis options for this cluster, as its settings give them.
    pub fn options(&self) -> RedisOptions {
        let settings = self.settings();
        RedisOptions {
            pool_size: settings.redis.connections(),
            url: self.url.clone(),
            password: settings.redis.password,
            ca_file: settings.redis.ca_file,
            timeout: settings.redis.timeout,
            wait_replicas: 0,
        }
    }

    pub async fn app(&self) -> TestApp {
        TestApp::spawn(self.settings()).await
    }

    /// A cluster client for inspecting what the app wrote.
    pub async fn client(&self) -> Client {
        // trolley's own URL parsing, which accepts the comma-separated form.
        let mut config = parse_config(&self.options()).expect("cluster url");
        // A test client fails at once rather than retrying in the background.
        config.fail_fast = true;
        assert!(config.server.is_clustered());
        let client = Builder::from_config(config).build().expect("client");
        client.init().await.expect("connect to the cluster");
        client
    }

    /// The hash slot of a key, as the cluster computes it.
    pub fn slot(&self, key: &str) -> u16 {
        redis_cli(self.ports[0], &["cluster", "keyslot", key])
            .parse()
            .expect("slot")
    }

    /// The port of the master that holds `key` (only that master answers it
    /// without a redirection).
    pub fn master_holding(&self, key: &str) -> Option<u16> {
        self.ports
            .iter()
            .copied()
            .find(|&port| redis_cli(port, &["exists", key]) == "1")
    }
}
