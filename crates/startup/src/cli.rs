//! The command line. Every setting is a flag and an environment variable of the same meaning;
//! the flag wins. Values are taken as text here and checked in [`crate::config`], so that every
//! problem can be reported at once instead of clap stopping at the first.
// The flags' docs are clap's help text, written for a terminal: "[default: …]" and bare URLs
// are meant as they read, not as rustdoc links.
#![allow(rustdoc::broken_intra_doc_links, rustdoc::bare_urls)]

use clap::{Args, Parser, Subcommand};

/// Recon: reconcile two datasets, explain every match, review the rest.
#[derive(Debug, Parser)]
#[command(name = "recon", version = crate::VERSION_LINE, about, long_about = None)]
pub struct Cli {
    /// What to run (default: serve).
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Server settings, also accepted before the subcommand.
    #[command(flatten)]
    pub settings: Settings,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP service (the default).
    Serve,
    /// Reconcile two files with a rules file; write matches, unmatched records, breaks and a
    /// summary to a directory.
    Reconcile(crate::reconcile::ReconcileArgs),
    /// Audit-trail tools.
    Audit {
        /// What to do.
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Probe a running service's liveness endpoint; exit 0 when it answers 200.
    /// Used by the container HEALTHCHECK, so no curl is needed in the image.
    Healthcheck {
        /// Give up after this many milliseconds.
        #[arg(long, default_value_t = 2000)]
        timeout_ms: u64,
    },
}

/// `recon audit …`.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the audit trail's hash chain in DATABASE_URL; exit 0 when intact, 65 naming the
    /// first broken entry otherwise.
    Verify,
}

/// Every server setting. See README.md for the table with defaults.
#[derive(Debug, Clone, Default, Args)]
pub struct Settings {
    /// Database URL: sqlite:PATH or postgres://USER@HOST/DB [default: sqlite in RECON_DATA_DIR]
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true)]
    pub database_url: Option<String>,
    /// Directory for the embedded database and generated development secrets [default: ./data]
    #[arg(long, env = "RECON_DATA_DIR", global = true)]
    pub data_dir: Option<String>,
    /// Redis URL (optional); without it, cache, rate limits and events stay in this process
    #[arg(long, env = "REDIS_URL", global = true, hide_env_values = true)]
    pub redis_url: Option<String>,
    /// Address to listen on [default: 127.0.0.1 in development, 0.0.0.0 in production]
    #[arg(long, env = "HOST", global = true)]
    pub host: Option<String>,
    /// Port to listen on (0 picks a free one) [default: 2000]
    #[arg(long, env = "PORT", global = true)]
    pub port: Option<String>,
    /// Access-token signing secret (at least 32 bytes of random material)
    #[arg(long, env = "JWT_SECRET", global = true, hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// Refresh-token hashing secret (at least 32 bytes)
    #[arg(
        long,
        env = "JWT_REFRESH_SECRET",
        global = true,
        hide_env_values = true
    )]
    pub jwt_refresh_secret: Option<String>,
    /// The previous access-token secret, still accepted while tokens signed with it live (key rotation)
    #[arg(
        long,
        env = "JWT_SECRET_PREVIOUS",
        global = true,
        hide_env_values = true
    )]
    pub jwt_secret_previous: Option<String>,
    /// CSRF token signing secret (at least 32 bytes)
    #[arg(long, env = "CSRF_SECRET", global = true, hide_env_values = true)]
    pub csrf_secret: Option<String>,
    /// Log format: text or json [default: text]
    #[arg(long, env = "LOG_FORMAT", global = true)]
    pub log_format: Option<String>,
    /// Environment: development or production [default: development]
    #[arg(long = "env", env = "RECON_ENV", global = true)]
    pub environment: Option<String>,
    /// Database connection attempts at startup before giving up [default: 10]
    #[arg(long, env = "RECON_DB_CONNECT_ATTEMPTS", global = true)]
    pub db_connect_attempts: Option<String>,
    /// First delay between database attempts, doubling each time, in ms [default: 200]
    #[arg(long, env = "RECON_DB_RETRY_INITIAL_MS", global = true)]
    pub db_retry_initial_ms: Option<String>,
    /// Longest delay between database attempts, in ms [default: 5000]
    #[arg(long, env = "RECON_DB_RETRY_MAX_MS", global = true)]
    pub db_retry_max_ms: Option<String>,
    /// Deadline for one database connection attempt, in ms [default: 5000]
    #[arg(long, env = "RECON_DB_CONNECT_TIMEOUT_MS", global = true)]
    pub db_connect_timeout_ms: Option<String>,
    /// Pooled database connections [default: 10]
    #[arg(long, env = "RECON_DB_MAX_CONNECTIONS", global = true)]
    pub db_max_connections: Option<String>,
    /// How long a request waits for a pooled connection, in ms [default: 3000]
    #[arg(long, env = "RECON_DB_ACQUIRE_TIMEOUT_MS", global = true)]
    pub db_acquire_timeout_ms: Option<String>,
    /// Redis connection attempts at startup before running degraded [default: 3]
    #[arg(long, env = "RECON_REDIS_CONNECT_ATTEMPTS", global = true)]
    pub redis_connect_attempts: Option<String>,
    /// Deadline for connecting to Redis and for each Redis command, in ms [default: 1000]
    #[arg(long, env = "RECON_REDIS_TIMEOUT_MS", global = true)]
    pub redis_timeout_ms: Option<String>,
    /// How often Redis is probed in the background, in ms [default: 2000]
    #[arg(long, env = "RECON_REDIS_CHECK_INTERVAL_MS", global = true)]
    pub redis_check_interval_ms: Option<String>,
    /// How often the database is checked for readiness, in ms [default: 1000]
    #[arg(long, env = "RECON_HEALTH_INTERVAL_MS", global = true)]
    pub health_interval_ms: Option<String>,
    /// Deadline for one readiness check of the database, in ms [default: 1000]
    #[arg(long, env = "RECON_HEALTH_TIMEOUT_MS", global = true)]
    pub health_timeout_ms: Option<String>,
    /// After a stop signal: how long to keep serving while unready, for load balancers, in ms [default: 0]
    #[arg(long, env = "RECON_SHUTDOWN_DRAIN_MS", global = true)]
    pub shutdown_drain_ms: Option<String>,
    /// Development only: mount /api/debug/sleep and /api/debug/panic to rehearse drains and crashes [default: false]
    #[arg(long, env = "RECON_DEBUG_ROUTES", global = true)]
    pub debug_routes: Option<String>,
    /// Email of the admin created on first start when no account exists [default: admin@localhost]
    #[arg(long, env = "RECON_ADMIN_EMAIL", global = true)]
    pub admin_email: Option<String>,
    /// Password of that first admin [default: generated, logged once, must be changed at first sign-in]
    #[arg(
        long,
        env = "RECON_ADMIN_PASSWORD",
        global = true,
        hide_env_values = true
    )]
    pub admin_password: Option<String>,
    /// Let anyone create a member account at /api/v1/auth/register [default: false]
    #[arg(long, env = "RECON_OPEN_REGISTRATION", global = true)]
    pub open_registration: Option<String>,
    /// Proxies (IPs or CIDRs, comma-separated) whose X-Forwarded-For is believed [default: none]
    #[arg(long, env = "RECON_TRUSTED_PROXIES", global = true)]
    pub trusted_proxies: Option<String>,
    /// Browser origins allowed to call the API (comma-separated, e.g. https://recon.example.com) [default: none: CORS off]
    #[arg(long, env = "RECON_CORS_ORIGINS", global = true)]
    pub cors_origins: Option<String>,
    /// Send Strict-Transport-Security (set when clients reach the service over HTTPS) [default: false]
    #[arg(long, env = "RECON_HSTS", global = true)]
    pub hsts: Option<String>,
    /// Access-token lifetime in seconds, 60 to 3600 [default: 900]
    #[arg(long, env = "RECON_ACCESS_TOKEN_TTL_S", global = true)]
    pub access_token_ttl_s: Option<String>,
    /// Refresh-token lifetime in hours, 1 to 2160 [default: 336]
    #[arg(long, env = "RECON_REFRESH_TOKEN_TTL_H", global = true)]
    pub refresh_token_ttl_h: Option<String>,
    /// After the drain: how long in-flight requests may take to finish, in ms [default: 20000]
    #[arg(long, env = "RECON_SHUTDOWN_GRACE_MS", global = true)]
    pub shutdown_grace_ms: Option<String>,
}
