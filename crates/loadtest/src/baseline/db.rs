//! The baseline's database: connection options, the durability check at
//! start, the schema, and conversions between SQL and Rust values.
//!
//! This is the baseline (the design Boxoffice replaces), not the product.

use anyhow::Context as _;
use jiff::tz::TimeZone;
use mysql_async::prelude::Queryable;
use mysql_async::{Opts, OptsBuilder, Pool, PoolConstraints, PoolOpts, Value};

/// Every table, created at start when missing. InnoDB throughout. No
/// foreign keys: their checks take shared locks on the parent rows (a
/// user, a performance) inside every booking transaction, which would add
/// contention the design does not need; the application keeps the links.
const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS cities (
        id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
        name VARCHAR(200) NOT NULL,
        country CHAR(2) NOT NULL,
        time_zone VARCHAR(64) NOT NULL,
        currency CHAR(3) NOT NULL,
        currency_exponent TINYINT UNSIGNED NOT NULL
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
    "CREATE TABLE IF NOT EXISTS venues (
        id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
        city_id INT UNSIGNED NOT NULL,
        name VARCHAR(200) NOT NULL,
        capacity INT UNSIGNED NOT NULL,
        layout MEDIUMTEXT NOT NULL,
        KEY by_city (city_id, id)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
    "CREATE TABLE IF NOT EXISTS performances (
        id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
        venue_id INT UNSIGNED NOT NULL,
        title VARCHAR(300) NOT NULL,
        start_local VARCHAR(40) NOT NULL,
        start_text VARCHAR(40) NOT NULL,
        start_at DATETIME(6) NOT NULL,
        on_sale DATETIME(6) NOT NULL,
        order_max INT UNSIGNED NOT NULL,
        user_max INT UNSIGNED NOT NULL,
        KEY by_venue (venue_id, id)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
    "CREATE TABLE IF NOT EXISTS users (
        id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
        name VARCHAR(200) NOT NULL,
        email VARCHAR(254) NOT NULL,
        phone VARCHAR(32) NOT NULL,
        token_sha256 BINARY(32) NOT NULL,
        UNIQUE KEY by_email (email)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
    "CREATE TABLE IF NOT EXISTS orders (
        id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
        performance_id INT UNSIGNED NOT NULL,
        user_id INT UNSIGNED NOT NULL,
        amount_minor BIGINT NOT NULL,
        payment_token VARCHAR(200) NOT NULL,
        created_at DATETIME(6) NOT NULL,
        KEY by_user (user_id)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
    // `by_state` serves the reserve by quantity (equality on all three,
    // then the primary key's order), the availability counts and the
    // filtered ticket list; `by_expiry` the poller; `by_holder` the
    // per-user limit and a user's own tickets. `lapsed_holder` remembers
    // whose hold expired, to answer 410 rather than 409 as Boxoffice does.
    "CREATE TABLE IF NOT EXISTS tickets (
        performance_id INT UNSIGNED NOT NULL,
        ticket_index INT UNSIGNED NOT NULL,
        section SMALLINT UNSIGNED NOT NULL,
        row_no INT UNSIGNED NULL,
        seat_no INT UNSIGNED NULL,
        price_minor BIGINT NOT NULL,
        state ENUM('available', 'reserved', 'purchased') NOT NULL DEFAULT 'available',
        holder INT UNSIGNED NULL,
        reserved_until DATETIME(6) NULL,
        lapsed_holder INT UNSIGNED NULL,
        order_id BIGINT UNSIGNED NULL,
        PRIMARY KEY (performance_id, ticket_index),
        KEY by_state (performance_id, state, section),
        KEY by_expiry (state, reserved_until),
        KEY by_holder (holder, performance_id)
    ) ENGINE=InnoDB",
];

/// What every connection runs once: UTC, so `NOW(6)` and the instants we
/// write agree; READ COMMITTED, so locking reads take no gap locks and a
/// row that does not match is unlocked at once (what a booking workload on
/// InnoDB is usually tuned to); a bounded lock wait.
const SESSION_SETUP: &[&str] = &[
    "SET time_zone = '+00:00'",
    "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
    "SET SESSION innodb_lock_wait_timeout = 10",
];

/// Options for a pool of at most `size` connections.
///
/// Connections are not reset when they go back to the pool: a reset
/// (`COM_RESET_CONNECTION`, mysql_async's default) drops every prepared
/// statement, which would turn each statement into a prepare, an execute
/// and a close. Nothing we do leaves session state behind.
pub fn pool_opts(url: &str, size: usize) -> anyhow::Result<Opts> {
    let opts = Opts::from_url(url).context("parsing --database-url")?;
    let constraints = PoolConstraints::new(0, size.max(1)).context("the pool size")?;
    let pool = PoolOpts::default().with_constraints(constraints).with_reset_connection(false);
    let builder = OptsBuilder::from_opts(opts)
        .setup(SESSION_SETUP.to_vec())
        .pool_opts(pool)
        .stmt_cache_size(256)
        .tcp_nodelay(true);
    Ok(builder.into())
}

/// The server's durability settings, checked at start.
pub struct Durability {
    pub flush_log_at_trx_commit: u32,
    pub sync_binlog: u32,
    pub log_bin: bool,
    pub buffer_pool_bytes: u64,
    pub version: String,
}

impl Durability {
    /// Whether an acknowledged commit survives a crash, as Boxoffice's do:
    /// the redo log is fsynced at every commit, and the binary log too if
    /// there is one (with a binlog, recovery rolls back what it lacks).
    pub fn is_full(&self) -> bool {
        self.flush_log_at_trx_commit == 1 && (!self.log_bin || self.sync_binlog == 1)
    }
}

pub async fn durability(pool: &Pool) -> anyhow::Result<Durability> {
    let mut conn = pool.get_conn().await.context("connecting to the database")?;
    let row: Option<(u32, u32, u32, u64, String)> = conn
        .query_first(
            "SELECT @@innodb_flush_log_at_trx_commit, @@sync_binlog, @@log_bin, \
             @@innodb_buffer_pool_size, @@version",
        )
        .await
        .context("reading the durability settings")?;
    let (flush, sync_binlog, log_bin, buffer_pool_bytes, version) =
        row.context("the server answered no settings")?;
    Ok(Durability {
        flush_log_at_trx_commit: flush,
        sync_binlog,
        log_bin: log_bin != 0,
        buffer_pool_bytes,
        version,
    })
}

pub async fn create_schema(pool: &Pool) -> anyhow::Result<()> {
    let mut conn = pool.get_conn().await.context("connecting to the database")?;
    for statement in SCHEMA {
        conn.query_drop(*statement).await.context("creating the schema")?;
    }
    Ok(())
}

/// Deadlocks and lock wait timeouts: InnoDB rolled the transaction back
/// (or the statement), and running it again is the documented answer.
pub fn is_retryable(error: &mysql_async::Error) -> bool {
    matches!(error, mysql_async::Error::Server(e) if e.code == 1213 || e.code == 1205)
}

/// A duplicate key, such as a second user with one email.
pub fn is_duplicate(error: &mysql_async::Error) -> bool {
    matches!(error, mysql_async::Error::Server(e) if e.code == 1062)
}

/// How often a transaction that InnoDB rolled back is tried again.
pub const ATTEMPTS: u32 = 5;

/// An instant as a `DATETIME(6)` in UTC (the sessions' zone).
pub fn sql_instant(at: jiff::Timestamp) -> Value {
    let civil = at.to_zoned(TimeZone::UTC).datetime();
    Value::Date(
        civil.year() as u16,
        civil.month() as u8,
        civil.day() as u8,
        civil.hour() as u8,
        civil.minute() as u8,
        civil.second() as u8,
        (civil.subsec_nanosecond() / 1000) as u32,
    )
}

/// A `DATETIME(6)` in UTC as an instant.
pub fn instant_of(value: &Value) -> Option<jiff::Timestamp> {
    let Value::Date(year, month, day, hour, minute, second, micros) = *value else {
        return None;
    };
    let civil = jiff::civil::DateTime::new(
        year as i16,
        month as i8,
        day as i8,
        hour as i8,
        minute as i8,
        second as i8,
        micros as i32 * 1000,
    )
    .ok()?;
    civil.to_zoned(TimeZone::UTC).ok().map(|zoned| zoned.timestamp())
}

/// `?, ?, …` for an `IN` list of `n`.
pub fn placeholders(n: usize) -> String {
    vec!["?"; n].join(", ")
}
