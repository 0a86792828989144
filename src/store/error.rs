//! Storage trouble, in one small enum converted at the boundary.

/// Storage trouble. Every variant becomes a 503 at the HTTP edge, which logs the
/// cause once; [`StoreError::kind`] is its bounded label.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Redis did not answer in time, the connection is down, or it answered an error.
    #[error("redis: {0}")]
    Redis(#[from] fred::error::Error),
    /// The session store could not load or save a record (its errors carry only text).
    #[error("session store: {0}")]
    SessionStore(String),
    /// The embedded store's users file could not be read or written.
    #[error("users file: {0}")]
    UsersFile(String),
    /// Stored data is not in the shape this version writes.
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
    /// Redis answers but does not take writes: a replica (a demoted primary after a
    /// failover) or a Cluster that is not `ok`.
    #[error("redis does not take writes: {0}")]
    NotWritable(&'static str),
    /// A change whose reply was lost is known to have applied, but what it
    /// answered cannot be told any more (a later change of the cart removed its
    /// line): the client retries with its Idempotency-Key or reads the cart.
    #[error("a change applied but its answer is lost")]
    AnswerLost,
    /// A change applied on the primary did not reach `TROLLEY_REDIS_WAIT`
    /// replicas in time: not acknowledged (it may survive or not a failover).
    #[error("a change reached {acked} of {wanted} replicas")]
    NotReplicated { wanted: u32, acked: i64 },
    /// Every cart number a line id can hold is used up.
    #[error("cart numbers exhausted")]
    CartNumbersExhausted,
}

impl StoreError {
    /// A short, bounded label for metrics and logs (`trolley_redis_errors_total`).
    pub fn kind(&self) -> &'static str {
        match self {
            StoreError::Redis(e) => match e.kind() {
                fred::error::ErrorKind::Timeout => "timeout",
                fred::error::ErrorKind::IO | fred::error::ErrorKind::Canceled => "io",
                fred::error::ErrorKind::Auth => "auth",
                fred::error::ErrorKind::Tls => "tls",
                _ => "other",
            },
            StoreError::SessionStore(_) => "session_store",
            StoreError::UsersFile(_) => "io",
            StoreError::Corrupt(_) => "corrupt",
            StoreError::NotWritable(_)
            | StoreError::CartNumbersExhausted
            | StoreError::AnswerLost
            | StoreError::NotReplicated { .. } => "other",
        }
    }

    /// Every label [`StoreError::kind`] can give, for registering the counter at 0.
    pub const KINDS: [&'static str; 7] = [
        "timeout",
        "io",
        "auth",
        "tls",
        "session_store",
        "corrupt",
        "other",
    ];
}

pub type StoreResult<T> = Result<T, StoreError>;
