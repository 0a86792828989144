//! Typed settings: every knob is a CLI flag and a `TROLLEY_*` environment variable,
//! parsed and validated once at start-up so the rest of the program never re-checks.

use std::{net::SocketAddr, time::Duration};

use clap::{Args, ValueEnum, builder::PossibleValuesParser, builder::TypedValueParser};

use crate::{
    accounts::login::LoginSettings,
    cart::{
        ops::CartSettings,
        rules::{Limits, MergeRule},
    },
    store::{redis::RedisOptions, stores::StoreOptions},
};

/// Settings of `trolley serve` (and of the commands that reach Redis).
#[derive(Debug, Clone, Args)]
pub struct Settings {
    /// Address of the public cart API.
    #[arg(long, env = "TROLLEY_LISTEN", default_value = "0.0.0.0:9080")]
    pub listen: SocketAddr,

    /// Address of the admin port: /metrics, /livez, /readyz.
    #[arg(long, env = "TROLLEY_ADMIN_LISTEN", default_value = "0.0.0.0:9464")]
    pub admin_listen: SocketAddr,

    /// Address of the service API (other services: carts by owner, checkout
    /// claims); never the public port. Opens only with TROLLEY_SERVICE_TOKENS
    /// or TROLLEY_SERVICE_AUTH=none.
    #[arg(long, env = "TROLLEY_SERVICE_LISTEN", default_value = "0.0.0.0:9090")]
    pub service_listen: SocketAddr,

    /// Bearer tokens the service API accepts (comma-separated: several, so a
    /// token can be rotated).
    #[arg(
        long,
        env = "TROLLEY_SERVICE_TOKENS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub service_tokens: Vec<String>,

    /// `token` (callers need one of TROLLEY_SERVICE_TOKENS) or `none` (for a
    /// mesh that authenticates callers itself).
    #[arg(long, env = "TROLLEY_SERVICE_AUTH", default_value = "token", value_parser = ["token", "none"])]
    pub service_auth: String,

    /// How long a checkout claim holds a cart unless the request asks (at most 1h).
    #[arg(long, env = "TROLLEY_CHECKOUT_TTL", default_value = "15m", value_parser = parse_duration)]
    pub checkout_ttl: Duration,

    #[command(flatten)]
    pub redis: RedisSettings,

    /// Inactivity expiry of the session cookie, the session record and a guest cart.
    #[arg(long, env = "TROLLEY_SESSION_TTL", default_value = "30m", value_parser = parse_duration)]
    pub session_ttl: Duration,

    /// Session records each replica keeps a copy of, so a cart request makes one
    /// Redis round trip instead of two: its cart script checks that Redis still
    /// holds the very record the copy was taken from (0: no copies; a Redis
    /// Cluster keeps none, the record being in another slot). About 0.6 KB each;
    /// a copy serves for a tenth of the TTL after the record's last slide.
    #[arg(long, env = "TROLLEY_SESSION_COPIES", default_value_t = 20_000)]
    pub session_copies: usize,

    /// Absolute lifetime of a session, however active it is.
    #[arg(long, env = "TROLLEY_SESSION_MAX_AGE", default_value = "12h", value_parser = parse_duration)]
    pub session_max_age: Duration,

    /// How long a signed-in user's cart lives after its last touch.
    #[arg(long, env = "TROLLEY_USER_CART_TTL", default_value = "30d", value_parser = parse_duration)]
    pub user_cart_ttl: Duration,

    /// How long a cart change's Idempotency-Key record is kept (never longer than
    /// the cart lives).
    #[arg(long, env = "TROLLEY_IDEMPOTENCY_TTL", default_value = "24h", value_parser = parse_duration)]
    pub idempotency_ttl: Duration,

    /// Name of the session cookie.
    #[arg(long, env = "TROLLEY_COOKIE_NAME", default_value = "trolley_session")]
    pub cookie_name: String,

    /// Mark the session cookie `Secure` (set this behind HTTPS).
    #[arg(long, env = "TROLLEY_COOKIE_SECURE", default_value_t = false, action = clap::ArgAction::Set)]
    pub cookie_secure: bool,

    /// Largest quantity of one cart line.
    #[arg(long, env = "TROLLEY_MAX_QUANTITY", default_value_t = 99, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_quantity: u32,

    /// Largest number of lines in one cart.
    #[arg(long, env = "TROLLEY_MAX_LINES", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub max_lines: u32,

    /// What login does with a product found in both the guest's and the user's cart.
    #[arg(long, env = "TROLLEY_MERGE_RULE", default_value = "sum", value_parser = merge_rule_parser())]
    pub merge_rule: MergeRule,

    /// Failed logins allowed per username within the window (then 429).
    #[arg(long, env = "TROLLEY_LOGIN_MAX_FAILURES", default_value_t = 5)]
    pub login_max_failures: u32,

    /// Failed logins allowed per client address within the window (then 429);
    /// higher, since many shoppers may share one address.
    #[arg(
        long,
        env = "TROLLEY_LOGIN_MAX_FAILURES_PER_ADDRESS",
        default_value_t = 50
    )]
    pub login_max_failures_per_address: u32,

    /// The window of the failed-login limit.
    #[arg(long, env = "TROLLEY_LOGIN_FAILURE_WINDOW", default_value = "15m", value_parser = parse_duration)]
    pub login_failure_window: Duration,

    /// Take the client address for login limits from the last `X-Forwarded-For`
    /// entry (the one your load balancer appends). Only behind a trusted proxy.
    #[arg(long, env = "TROLLEY_TRUST_FORWARDED_FOR", default_value_t = false, action = clap::ArgAction::Set)]
    pub trust_forwarded_for: bool,

    /// Origins, besides the request's own, whose pages may change carts and log
    /// in (comma-separated, e.g. `https://shop.example,https://m.shop.example`).
    /// A state-changing request from any other origin is refused with 403.
    #[arg(long, env = "TROLLEY_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,

    /// Origins allowed to call the API from the browser with CORS (credentials
    /// included); empty: CORS off. They are allowed origins too.
    #[arg(long, env = "TROLLEY_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,

    /// A request's headers must be complete within this, or it gets 408 and
    /// the connection closes.
    #[arg(long, env = "TROLLEY_HEADER_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub header_timeout: Duration,

    /// A request's body must be complete within this (from its headers), or it
    /// gets 408 and the connection closes.
    #[arg(long, env = "TROLLEY_BODY_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub body_timeout: Duration,

    /// An idle keep-alive connection closes after this.
    #[arg(long, env = "TROLLEY_IDLE_TIMEOUT", default_value = "60s", value_parser = parse_duration)]
    pub idle_timeout: Duration,

    /// New sessions one client address may start per minute (then 429 with
    /// `Retry-After`); requests of existing sessions are never limited. 0: off
    /// (behind a proxy every client has the proxy's address unless
    /// TROLLEY_TRUST_FORWARDED_FOR is set).
    #[arg(long, env = "TROLLEY_NEW_SESSIONS_PER_MINUTE", default_value_t = 0)]
    pub new_sessions_per_minute: u32,

    /// Where the embedded store (no TROLLEY_REDIS_URL) keeps accounts.
    #[arg(
        long,
        env = "TROLLEY_USERS_FILE",
        default_value = ".trolley/users.json"
    )]
    pub users_file: std::path::PathBuf,

    /// At start, store the demo catalog if Redis holds no catalog at all (an
    /// import is never overwritten). Set false in production.
    #[arg(long, env = "TROLLEY_SEED_DEMO_CATALOG", default_value_t = true, action = clap::ArgAction::Set)]
    pub seed_demo_catalog: bool,

    /// Serve the storefront (`GET /`, a demo shop page on the public API) and the
    /// API docs (`GET /api/docs`). Unset: on with the embedded store, off with Redis.
    #[arg(long, env = "TROLLEY_STOREFRONT", action = clap::ArgAction::Set)]
    pub storefront: Option<bool>,

    /// How long a replica keeps its in-process copy of the catalog before revalidating it.
    #[arg(long, env = "TROLLEY_CATALOG_REFRESH", default_value = "2s", value_parser = parse_duration)]
    pub catalog_refresh: Duration,

    /// How long in-flight requests may take to finish after SIGTERM.
    #[arg(long, env = "TROLLEY_SHUTDOWN_TIMEOUT", default_value = "20s", value_parser = parse_duration)]
    pub shutdown_timeout: Duration,

    #[command(flatten)]
    pub log: LogSettings,
}

/// Where Redis is and how hard to try.
#[derive(Debug, Clone, Args)]
pub struct RedisSettings {
    /// redis://, rediss:// (TLS), redis-sentinel:// or redis-cluster:// URL.
    /// Unset: an embedded in-process store (one replica only).
    #[arg(long = "redis-url", env = "TROLLEY_REDIS_URL")]
    pub url: Option<String>,

    /// Password that overrides the URL's, so the URL can live in a ConfigMap.
    #[arg(
        long = "redis-password",
        env = "TROLLEY_REDIS_PASSWORD",
        hide_env_values = true
    )]
    pub password: Option<String>,

    /// PEM file of the CA(s) that signed the Redis server's TLS certificate, for
    /// `rediss://` with a private CA (default: the system's trusted roots).
    #[arg(long = "redis-ca-file", env = "TROLLEY_REDIS_CA_FILE")]
    pub ca_file: Option<std::path::PathBuf>,

    /// Connections per replica. Unset: one, which fred pipelines (every
    /// request's commands share its writes and reads, so Redis and trolley make
    /// far fewer syscalls per command than over several); four with
    /// `TROLLEY_REDIS_WAIT`, because a `WAIT` holds its connection until the
    /// replicas answer and the other requests must not queue behind it.
    #[arg(long = "redis-pool-size", env = "TROLLEY_REDIS_POOL_SIZE", value_parser = clap::value_parser!(u32).range(1..=64))]
    pub pool_size: Option<u32>,

    /// Command timeout: past it a request answers 503 instead of hanging.
    #[arg(long = "redis-timeout", env = "TROLLEY_REDIS_TIMEOUT", default_value = "1s", value_parser = parse_duration)]
    pub timeout: Duration,

    /// Replicas every cart change must reach before it is acknowledged (a
    /// pipelined `WAIT`, bounded by half the command timeout; fewer → 503). 0:
    /// acknowledged once the primary has it.
    #[arg(long = "redis-wait", env = "TROLLEY_REDIS_WAIT", default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=16))]
    pub wait_replicas: u32,
}

/// Log output.
#[derive(Debug, Clone, Args)]
pub struct LogSettings {
    /// `json` for log shippers, `pretty` for people.
    #[arg(long = "log-format", env = "TROLLEY_LOG_FORMAT", value_enum, default_value_t = LogFormat::Pretty)]
    pub format: LogFormat,

    /// Which requests get an access-log line: `errors` (a 5xx, or slower than
    /// TROLLEY_ACCESS_LOG_SLOW), `all`, or `off`. The HTTP metrics count every
    /// request whichever is set.
    #[arg(long = "access-log", env = "TROLLEY_ACCESS_LOG", value_enum, default_value_t = AccessLog::Errors)]
    pub access_log: AccessLog,

    /// A request at least this slow gets its access-log line under `errors`.
    #[arg(long = "access-log-slow", env = "TROLLEY_ACCESS_LOG_SLOW", default_value = "500ms", value_parser = parse_duration)]
    pub access_log_slow: Duration,
}

/// Which requests get an access-log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AccessLog {
    All,
    Errors,
    Off,
}

impl LogSettings {
    /// Whether a request that ended after `elapsed`, failed on the server's
    /// side (an HTTP 5xx, a gRPC server error) or not, gets an access-log line.
    pub(crate) fn logs_access(&self, server_error: bool, elapsed: Duration) -> bool {
        match self.access_log {
            AccessLog::All => true,
            AccessLog::Errors => server_error || elapsed >= self.access_log_slow,
            AccessLog::Off => false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Json,
    Pretty,
}

impl RedisSettings {
    /// Connections per replica: `TROLLEY_REDIS_POOL_SIZE`, or its default for
    /// the `TROLLEY_REDIS_WAIT` setting (see the field).
    pub fn connections(&self) -> u32 {
        match (self.pool_size, self.wait_replicas) {
            (Some(size), _) => size,
            (None, 0) => 1,
            (None, _) => 4,
        }
    }
}

impl Settings {
    /// The cart limits these settings describe.
    fn limits(&self) -> Limits {
        Limits {
            max_quantity: self.max_quantity,
            max_lines: self.max_lines,
        }
    }

    /// The cart domain's section.
    pub(crate) fn cart_settings(&self) -> CartSettings {
        CartSettings {
            limits: self.limits(),
            guest_ttl: self.session_ttl,
            user_ttl: self.user_cart_ttl,
        }
    }

    /// The login's section.
    pub(crate) fn login_settings(&self) -> LoginSettings {
        LoginSettings {
            max_failures: self.login_max_failures,
            max_failures_per_address: self.login_max_failures_per_address,
            failure_window: self.login_failure_window,
            merge_rule: self.merge_rule,
            user_cart_ttl: self.user_cart_ttl,
            limits: self.limits(),
        }
    }

    /// Whether the storefront and the API docs page are served (see the field).
    pub fn storefront_enabled(&self) -> bool {
        self.storefront.unwrap_or(self.redis.url.is_none())
    }

    /// Where the stores live.
    pub(crate) fn store_options(&self) -> StoreOptions {
        StoreOptions {
            redis: self.redis.url.as_ref().map(|url| RedisOptions {
                url: url.clone(),
                password: self.redis.password.clone(),
                ca_file: self.redis.ca_file.clone(),
                pool_size: self.redis.connections(),
                timeout: self.redis.timeout,
                wait_replicas: self.redis.wait_replicas,
            }),
            users_file: self.users_file.clone(),
            session_max_age: self.session_max_age,
        }
    }

    /// Cross-field checks clap cannot express; an error is one line for the operator.
    pub fn validate(&self) -> Result<(), String> {
        if self.listen == self.admin_listen && self.listen.port() != 0 {
            return Err("TROLLEY_LISTEN and TROLLEY_ADMIN_LISTEN must differ: metrics never share the public port".into());
        }
        if self.service_listen == self.listen && self.listen.port() != 0 {
            return Err("TROLLEY_SERVICE_LISTEN must differ from TROLLEY_LISTEN: the service API never shares the public port".into());
        }
        if self.checkout_ttl < Duration::from_secs(1)
            || self.checkout_ttl > crate::cart::claim::MAX_CLAIM_TTL
        {
            return Err("TROLLEY_CHECKOUT_TTL must be from 1s to 1h".into());
        }
        if self.session_ttl < Duration::from_secs(1) {
            return Err("TROLLEY_SESSION_TTL must be at least 1s".into());
        }
        if self.session_max_age < self.session_ttl {
            return Err(
                "TROLLEY_SESSION_MAX_AGE must not be shorter than TROLLEY_SESSION_TTL".into(),
            );
        }
        if self.user_cart_ttl < self.session_ttl {
            return Err(
                "TROLLEY_USER_CART_TTL must not be shorter than TROLLEY_SESSION_TTL".into(),
            );
        }
        if self.redis.timeout < Duration::from_millis(10) {
            return Err("TROLLEY_REDIS_TIMEOUT must be at least 10ms".into());
        }
        if self.cookie_name.is_empty()
            || !self
                .cookie_name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err("TROLLEY_COOKIE_NAME must be letters, digits, '_' or '-'".into());
        }
        // The Redis URL is checked where it is parsed, when the store opens.
        Ok(())
    }
}

/// Parses `30m`, `12h`, `30d`, `1s`, `250ms`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text).map_err(|e| format!("{e} (expected e.g. 30m, 12h, 1s, 250ms)"))
}

/// `sum`, `max` or `guest` (the domain's names), listed in `--help`.
fn merge_rule_parser() -> impl TypedValueParser<Value = MergeRule> {
    PossibleValuesParser::new(MergeRule::ALL.map(MergeRule::as_str))
        .try_map(|name| name.parse::<MergeRule>())
}
