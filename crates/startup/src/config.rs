//! Typed configuration, checked as a whole: [`Config::from_settings`] returns either a valid
//! configuration or *every* problem found, each naming the variable and how to fix it.
//!
//! Only this crate reads the environment (through clap). Defaults are documented in README.md
//! and in `recon --help`.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use recon_storage::{Backend, DatabaseUrl};

use crate::cli::Settings;
use crate::secrets::{self, Secret, SecretSet};

/// Default HTTP port, continuous with the earlier backend.
pub const DEFAULT_PORT: u16 = 2000;
/// Default data directory, relative to the working directory.
pub const DEFAULT_DATA_DIR: &str = "./data";
/// The embedded database's file name inside the data directory.
pub const SQLITE_FILE: &str = "recon.db";

/// development or production.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    /// Local use: generated secrets allowed, loopback by default.
    Development,
    /// Deployed: every secret must be given and strong.
    Production,
}

/// text or json.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// One configuration problem: which variable, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The environment variable (the flag has the same name in kebab case).
    pub variable: &'static str,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.variable, self.message)
    }
}

/// Database settings.
#[derive(Debug, Clone)]
pub struct DatabaseConfig {
    /// The URL (may contain a password: print it with [`redact_url`]).
    pub url: String,
    /// Which backend the URL selects.
    pub backend: Backend,
    /// Attempts at startup.
    pub connect_attempts: u32,
    /// First retry delay.
    pub retry_initial: Duration,
    /// Retry delay cap.
    pub retry_max: Duration,
    /// Deadline per attempt.
    pub connect_timeout: Duration,
    /// Pool size.
    pub max_connections: u32,
    /// Pool acquire deadline.
    pub acquire_timeout: Duration,
}

/// Redis settings.
#[derive(Debug, Clone)]
pub struct RedisConfig {
    /// The URL (may contain a password).
    pub url: String,
    /// Attempts at startup.
    pub connect_attempts: u32,
    /// Deadline for connect and for each command.
    pub timeout: Duration,
    /// Background probe interval.
    pub check_interval: Duration,
}

/// Accounts, tokens and the browser-facing HTTP policy.
#[derive(Debug, Clone)]
pub struct AccessConfig {
    /// Still accepted for verifying access tokens (key rotation).
    pub jwt_previous_secret: Option<Secret>,
    /// The first admin's email.
    pub admin_email: String,
    /// The first admin's password; generated at bootstrap when `None`.
    pub admin_password: Option<Secret>,
    /// Self-registration of members.
    pub open_registration: bool,
    /// Proxies whose X-Forwarded-For is believed.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Origins allowed by CORS.
    pub cors_origins: Vec<String>,
    /// Send Strict-Transport-Security.
    pub hsts: bool,
    /// Access-token lifetime.
    pub access_token_ttl: Duration,
    /// Refresh-token lifetime.
    pub refresh_token_ttl: Duration,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// development or production.
    pub environment: Environment,
    /// Where SQLite and generated secrets live.
    pub data_dir: PathBuf,
    /// Listen address.
    pub host: IpAddr,
    /// Listen port.
    pub port: u16,
    /// Log format.
    pub log_format: LogFormat,
    /// Database.
    pub database: DatabaseConfig,
    /// Redis, when configured.
    pub redis: Option<RedisConfig>,
    /// The three secrets (possibly generated in development).
    pub secrets: SecretSet,
    /// Readiness check interval.
    pub health_interval: Duration,
    /// Readiness check deadline.
    pub health_timeout: Duration,
    /// Unready-but-serving delay after a stop signal.
    pub shutdown_drain: Duration,
    /// In-flight request deadline after the drain.
    pub shutdown_grace: Duration,
    /// Mount the development-only diagnostics routes.
    pub debug_routes: bool,
    /// Secrets that were generated for this run (development only), for the WARN at boot.
    pub generated_secrets: Vec<&'static str>,
    /// Accounts, tokens, CORS and HSTS.
    pub access: AccessConfig,
}

/// Collects problems while the settings are read.
struct Checker {
    problems: Vec<Problem>,
}

impl Checker {
    fn problem(&mut self, variable: &'static str, message: impl Into<String>) {
        self.problems.push(Problem {
            variable,
            message: message.into(),
        });
    }

    fn number<T: std::str::FromStr + Copy + PartialOrd + std::fmt::Display>(
        &mut self,
        variable: &'static str,
        value: Option<&str>,
        default: T,
        min: T,
        max: T,
    ) -> T {
        let Some(text) = value.map(str::trim).filter(|text| !text.is_empty()) else {
            return default;
        };
        match text.parse::<T>() {
            Ok(parsed) if parsed >= min && parsed <= max => parsed,
            _ => {
                self.problem(
                    variable,
                    format!(
                        "{text:?} is not a whole number from {min} to {max}; \
                         set {variable} to one, or unset it for the default ({default})"
                    ),
                );
                default
            }
        }
    }

    fn millis(&mut self, variable: &'static str, value: Option<&str>, default: u64) -> Duration {
        Duration::from_millis(self.number(variable, value, default, 0, 86_400_000))
    }

    fn flag(&mut self, variable: &'static str, value: Option<&str>, default: bool) -> bool {
        match value.map(str::trim) {
            None | Some("") => default,
            Some("true") | Some("1") => true,
            Some("false") | Some("0") => false,
            Some(other) => {
                self.problem(
                    variable,
                    format!("{other:?} is not a boolean; use true or false"),
                );
                default
            }
        }
    }

    fn list<T>(
        &mut self,
        variable: &'static str,
        value: Option<&str>,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Vec<T> {
        let mut items = Vec::new();
        for item in value
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|i| !i.is_empty())
        {
            match parse(item) {
                Ok(parsed) => items.push(parsed),
                Err(why) => self.problem(variable, format!("{item:?} {why}")),
            }
        }
        items
    }
}

fn parse_proxy(item: &str) -> Result<ipnet::IpNet, String> {
    item.parse::<ipnet::IpNet>()
        .or_else(|_| item.parse::<IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| "is not an IP address or CIDR range; e.g. 10.0.0.0/8 or 192.0.2.10".to_owned())
}

fn parse_origin(item: &str) -> Result<String, String> {
    let why =
        "is not an origin; write scheme://host[:port] with no path, e.g. https://recon.example.com";
    let (scheme, rest) = item.split_once("://").ok_or_else(|| why.to_owned())?;
    let host_ok = !rest.is_empty()
        && !rest.contains(['/', '?', '#', '*', ' '])
        && rest.parse::<axum::http::uri::Authority>().is_ok();
    if (scheme == "https" || scheme == "http") && host_ok {
        Ok(item.to_owned())
    } else {
        Err(why.to_owned())
    }
}

fn access_config(
    check: &mut Checker,
    settings: &Settings,
    environment: Environment,
) -> AccessConfig {
    let value = |option: &Option<String>| option.clone().filter(|text| !text.trim().is_empty());
    let jwt_previous_secret = value(&settings.jwt_secret_previous).map(|text| {
        let strong = match environment {
            Environment::Production => secrets::check_production(&text),
            Environment::Development if text.len() < secrets::MIN_SECRET_BYTES => Err(format!(
                "is {} bytes; at least {} are needed",
                text.len(),
                secrets::MIN_SECRET_BYTES
            )),
            Environment::Development => Ok(()),
        };
        if let Err(why) = strong {
            check.problem(
                "JWT_SECRET_PREVIOUS",
                format!("{why}; it must be the secret JWT_SECRET had before the rotation"),
            );
        }
        Secret::new(text)
    });
    let admin_email = value(&settings.admin_email).unwrap_or_else(|| "admin@localhost".to_owned());
    let admin_email = match recon_domain::credentials::check_email(&admin_email) {
        Ok(email) => email.to_owned(),
        Err(why) => {
            check.problem("RECON_ADMIN_EMAIL", why.to_string());
            admin_email
        }
    };
    let admin_password = value(&settings.admin_password).map(|text| {
        if let Err(why) = recon_domain::credentials::check_password(&text, &[&admin_email]) {
            check.problem(
                "RECON_ADMIN_PASSWORD",
                format!("{why}; or unset it to have one generated (and logged once)"),
            );
        }
        Secret::new(text)
    });
    let ttl_s = check.number(
        "RECON_ACCESS_TOKEN_TTL_S",
        value(&settings.access_token_ttl_s).as_deref(),
        900u64,
        60,
        3600,
    );
    let ttl_h = check.number(
        "RECON_REFRESH_TOKEN_TTL_H",
        value(&settings.refresh_token_ttl_h).as_deref(),
        336u64,
        1,
        2160,
    );
    AccessConfig {
        jwt_previous_secret,
        admin_password,
        open_registration: check.flag(
            "RECON_OPEN_REGISTRATION",
            value(&settings.open_registration).as_deref(),
            false,
        ),
        trusted_proxies: check.list(
            "RECON_TRUSTED_PROXIES",
            value(&settings.trusted_proxies).as_deref(),
            parse_proxy,
        ),
        cors_origins: check.list(
            "RECON_CORS_ORIGINS",
            value(&settings.cors_origins).as_deref(),
            parse_origin,
        ),
        hsts: check.flag("RECON_HSTS", value(&settings.hsts).as_deref(), false),
        access_token_ttl: Duration::from_secs(ttl_s),
        refresh_token_ttl: Duration::from_secs(ttl_h * 3600),
        admin_email,
    }
}

/// The database URL the settings name: `DATABASE_URL`, or the embedded file in the data
/// directory.
pub fn database_url(settings: &Settings) -> String {
    let value = |option: &Option<String>| option.clone().filter(|text| !text.trim().is_empty());
    let data_dir =
        PathBuf::from(value(&settings.data_dir).unwrap_or_else(|| DEFAULT_DATA_DIR.to_owned()));
    value(&settings.database_url)
        .map(|url| url.trim().to_owned())
        .unwrap_or_else(|| format!("sqlite://{}", data_dir.join(SQLITE_FILE).display()))
}

impl Config {
    /// Validates `settings`, reporting every problem at once.
    pub fn from_settings(settings: &Settings) -> Result<Self, Vec<Problem>> {
        let mut check = Checker {
            problems: Vec::new(),
        };
        let value = |option: &Option<String>| option.clone().filter(|text| !text.trim().is_empty());

        let environment = match value(&settings.environment).as_deref().map(str::trim) {
            None | Some("development") => Environment::Development,
            Some("production") => Environment::Production,
            Some(other) => {
                check.problem(
                    "RECON_ENV",
                    format!("{other:?} is not an environment; use development or production"),
                );
                Environment::Development
            }
        };
        let log_format =
            parse_log_format(value(&settings.log_format).as_deref()).unwrap_or_else(|message| {
                check.problem("LOG_FORMAT", message);
                LogFormat::Text
            });
        let default_host = match environment {
            Environment::Development => "127.0.0.1",
            Environment::Production => "0.0.0.0",
        };
        let host_text = value(&settings.host).unwrap_or_else(|| default_host.to_owned());
        let host = host_text.trim().parse::<IpAddr>().unwrap_or_else(|_| {
            check.problem(
                "HOST",
                format!("{host_text:?} is not an IP address; use e.g. 127.0.0.1 or 0.0.0.0"),
            );
            IpAddr::from([127, 0, 0, 1])
        });
        let port = check.number(
            "PORT",
            value(&settings.port).as_deref(),
            DEFAULT_PORT,
            0,
            u16::MAX,
        );

        let data_dir =
            PathBuf::from(value(&settings.data_dir).unwrap_or_else(|| DEFAULT_DATA_DIR.to_owned()));
        let database_url = database_url(settings);
        let backend = match DatabaseUrl::parse(database_url.trim()) {
            Ok(parsed) => parsed.backend(),
            Err(error) => {
                check.problem(
                    "DATABASE_URL",
                    format!(
                        "{error}; e.g. sqlite://./data/recon.db or postgres://recon@localhost/recon"
                    ),
                );
                Backend::Sqlite
            }
        };
        let connect_attempts = check.number(
            "RECON_DB_CONNECT_ATTEMPTS",
            value(&settings.db_connect_attempts).as_deref(),
            10,
            1,
            1000,
        );
        let database = DatabaseConfig {
            url: database_url.trim().to_owned(),
            backend,
            // A local file does not come up later, so SQLite gets one attempt.
            connect_attempts: if backend == Backend::Sqlite {
                1
            } else {
                connect_attempts
            },
            retry_initial: check.millis(
                "RECON_DB_RETRY_INITIAL_MS",
                value(&settings.db_retry_initial_ms).as_deref(),
                200,
            ),
            retry_max: check.millis(
                "RECON_DB_RETRY_MAX_MS",
                value(&settings.db_retry_max_ms).as_deref(),
                5000,
            ),
            connect_timeout: check.millis(
                "RECON_DB_CONNECT_TIMEOUT_MS",
                value(&settings.db_connect_timeout_ms).as_deref(),
                5000,
            ),
            max_connections: check.number(
                "RECON_DB_MAX_CONNECTIONS",
                value(&settings.db_max_connections).as_deref(),
                10,
                1,
                1000,
            ),
            acquire_timeout: check.millis(
                "RECON_DB_ACQUIRE_TIMEOUT_MS",
                value(&settings.db_acquire_timeout_ms).as_deref(),
                3000,
            ),
        };

        let redis_attempts = check.number(
            "RECON_REDIS_CONNECT_ATTEMPTS",
            value(&settings.redis_connect_attempts).as_deref(),
            3,
            1,
            100,
        );
        let redis_timeout = check.millis(
            "RECON_REDIS_TIMEOUT_MS",
            value(&settings.redis_timeout_ms).as_deref(),
            1000,
        );
        let redis_interval = check.millis(
            "RECON_REDIS_CHECK_INTERVAL_MS",
            value(&settings.redis_check_interval_ms).as_deref(),
            2000,
        );
        let redis = value(&settings.redis_url).map(|url| {
            let url = url.trim().to_owned();
            if !(url.starts_with("redis://")
                || url.starts_with("rediss://")
                || url.starts_with("redis+unix://"))
                || recon_storage::redis::RedisLink::new(recon_storage::redis::RedisSettings {
                    url: url.clone(),
                    connect_timeout: redis_timeout,
                    op_timeout: redis_timeout,
                    pool_size: 1,
                    check_interval: redis_interval,
                })
                .is_err()
            {
                check.problem(
                    "REDIS_URL",
                    "not a valid Redis URL; use redis://HOST:6379 or unset it to run without Redis",
                );
            }
            RedisConfig {
                url,
                connect_attempts: redis_attempts,
                timeout: redis_timeout,
                check_interval: redis_interval,
            }
        });

        let health_interval = check.millis(
            "RECON_HEALTH_INTERVAL_MS",
            value(&settings.health_interval_ms).as_deref(),
            1000,
        );
        let health_timeout = check.millis(
            "RECON_HEALTH_TIMEOUT_MS",
            value(&settings.health_timeout_ms).as_deref(),
            1000,
        );
        if health_interval.is_zero() {
            check.problem("RECON_HEALTH_INTERVAL_MS", "must be at least 1 ms");
        }
        let shutdown_drain = check.millis(
            "RECON_SHUTDOWN_DRAIN_MS",
            value(&settings.shutdown_drain_ms).as_deref(),
            0,
        );
        let debug_routes = check.flag(
            "RECON_DEBUG_ROUTES",
            value(&settings.debug_routes).as_deref(),
            false,
        );
        if debug_routes && environment == Environment::Production {
            check.problem(
                "RECON_DEBUG_ROUTES",
                "diagnostics routes are refused in production; unset RECON_DEBUG_ROUTES",
            );
        }
        let shutdown_grace = check.millis(
            "RECON_SHUTDOWN_GRACE_MS",
            value(&settings.shutdown_grace_ms).as_deref(),
            20_000,
        );

        // The data directory matters when the embedded database or generated secrets live there.
        let given = [
            ("JWT_SECRET", value(&settings.jwt_secret)),
            ("JWT_REFRESH_SECRET", value(&settings.jwt_refresh_secret)),
            ("CSRF_SECRET", value(&settings.csrf_secret)),
        ];
        let needs_generated =
            environment == Environment::Development && given.iter().any(|(_, v)| v.is_none());
        let sqlite_in_data_dir =
            backend == Backend::Sqlite && value(&settings.database_url).is_none();
        let data_dir_usable = if needs_generated || sqlite_in_data_dir {
            match ensure_writable_dir(&data_dir) {
                Ok(()) => true,
                Err(message) => {
                    check.problem("RECON_DATA_DIR", message);
                    false
                }
            }
        } else {
            true
        };

        let mut secret_values: Vec<(&'static str, Option<Secret>)> = Vec::new();
        for (variable, given) in given {
            let secret = match (given, environment) {
                (Some(text), Environment::Production) => match secrets::check_production(&text) {
                    Ok(()) => Some(Secret::new(text)),
                    Err(why) => {
                        check.problem(
                            variable,
                            format!("{why}; generate one with: openssl rand -base64 32"),
                        );
                        None
                    }
                },
                (Some(text), Environment::Development) => {
                    if text.len() < secrets::MIN_SECRET_BYTES {
                        check.problem(variable, format!("is {} bytes; at least {} are needed; generate one with: openssl rand -base64 32, or unset it to use a generated development secret", text.len(), secrets::MIN_SECRET_BYTES));
                    }
                    Some(Secret::new(text))
                }
                (None, Environment::Production) => {
                    check.problem(
                        variable,
                        "is required in production; generate one with: openssl rand -base64 32",
                    );
                    None
                }
                (None, Environment::Development) => None,
            };
            secret_values.push((variable, secret));
        }
        if environment == Environment::Production {
            let texts: Vec<&str> = secret_values
                .iter()
                .filter_map(|(_, s)| s.as_ref().map(Secret::expose))
                .collect();
            if texts.len() == 3
                && (texts[0] == texts[1] || texts[0] == texts[2] || texts[1] == texts[2])
            {
                check.problem(
                    "JWT_SECRET",
                    "JWT_SECRET, JWT_REFRESH_SECRET and CSRF_SECRET must all differ",
                );
            }
        }

        let access = access_config(&mut check, settings, environment);

        if !check.problems.is_empty() {
            return Err(check.problems);
        }
        let mut generated_secrets = Vec::new();
        let secrets = if secret_values.iter().all(|(_, s)| s.is_some()) {
            SecretSet::from_values(secret_values)
        } else if data_dir_usable {
            for (variable, secret) in &secret_values {
                if secret.is_none() {
                    generated_secrets.push(*variable);
                }
            }
            match secrets::fill_from_dev_store(&data_dir, secret_values) {
                Ok(set) => set,
                Err(message) => {
                    return Err(vec![Problem {
                        variable: "RECON_DATA_DIR",
                        message,
                    }]);
                }
            }
        } else {
            return Err(check.problems);
        };

        if access.jwt_previous_secret.as_ref() == Some(&secrets.jwt) {
            return Err(vec![Problem {
                variable: "JWT_SECRET_PREVIOUS",
                message: "equals JWT_SECRET; during a rotation it holds the old secret, otherwise unset it".to_owned(),
            }]);
        }

        Ok(Self {
            access,
            environment,
            data_dir,
            host,
            port,
            log_format,
            database,
            redis,
            secrets,
            health_interval,
            health_timeout,
            shutdown_drain,
            shutdown_grace,
            debug_routes,
            generated_secrets,
        })
    }
}

/// Reads LOG_FORMAT on its own, so telemetry can start before the rest is validated.
pub fn parse_log_format(value: Option<&str>) -> Result<LogFormat, String> {
    match value.map(str::trim) {
        None | Some("") | Some("text") => Ok(LogFormat::Text),
        Some("json") => Ok(LogFormat::Json),
        Some(other) => Err(format!("{other:?} is not a log format; use text or json")),
    }
}

/// Creates `dir` if needed and proves it writable by writing and removing a probe file.
fn ensure_writable_dir(dir: &Path) -> Result<(), String> {
    let shown = dir.display();
    std::fs::create_dir_all(dir).map_err(|error| {
        format!("cannot create data directory {shown}: {error}; point RECON_DATA_DIR at a writable directory")
    })?;
    let probe = dir.join(format!(".recon-write-probe-{}", std::process::id()));
    std::fs::write(&probe, b"probe").map_err(|error| {
        format!("data directory {shown} is not writable: {error}; fix its permissions or point RECON_DATA_DIR elsewhere")
    })?;
    let _ = std::fs::remove_file(probe);
    Ok(())
}

/// The URL with any password replaced by `***`, for logs and error messages.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((authority, tail)) = rest.split_once('@') else {
        return url.to_owned();
    };
    match authority.split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}:***@{tail}"),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> (Settings, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("tempdir");
        let settings = Settings {
            data_dir: Some(dir.path().display().to_string()),
            ..Settings::default()
        };
        (settings, dir)
    }

    const STRONG: [&str; 3] = [
        "q8Zt1v0xX3kq9Lw2bQ7nR4sY6uJ5mE0pA1cD2fG3hK4=",
        "Vb7Nn2Qe5Rt8Yu1Io4Pa6Sd9Fg3Hj0Kl2Zx5Cv8Bn1M=",
        "Lm3Kj6Hg9Fd2Sa5Po8Iu1Yt4Re7Wq0Az3Sx6Dc9Fv2G=",
    ];

    fn production() -> (Settings, tempfile::TempDir) {
        let (mut settings, dir) = settings();
        settings.environment = Some("production".into());
        settings.database_url = Some("postgres://recon@localhost/recon".into());
        settings.jwt_secret = Some(STRONG[0].into());
        settings.jwt_refresh_secret = Some(STRONG[1].into());
        settings.csrf_secret = Some(STRONG[2].into());
        (settings, dir)
    }

    #[test]
    fn no_configuration_gives_the_documented_defaults() {
        let (settings, dir) = settings();
        let config = Config::from_settings(&settings).expect("defaults are valid");
        assert_eq!(config.port, 2000);
        assert_eq!(config.host.to_string(), "127.0.0.1");
        assert_eq!(config.database.backend, Backend::Sqlite);
        assert_eq!(
            config.database.url,
            format!("sqlite://{}", dir.path().join("recon.db").display())
        );
        assert_eq!(
            config.generated_secrets,
            vec!["JWT_SECRET", "JWT_REFRESH_SECRET", "CSRF_SECRET"]
        );
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let (mut settings, _dir) = settings();
        settings.port = Some("abc".into());
        settings.database_url = Some("mysql://nope".into());
        settings.log_format = Some("xml".into());
        settings.environment = Some("staging".into());
        settings.db_connect_attempts = Some("-1".into());
        let problems = Config::from_settings(&settings).expect_err("invalid");
        let variables: Vec<_> = problems.iter().map(|p| p.variable).collect();
        assert_eq!(
            variables,
            vec![
                "RECON_ENV",
                "LOG_FORMAT",
                "PORT",
                "DATABASE_URL",
                "RECON_DB_CONNECT_ATTEMPTS"
            ]
        );
        assert!(problems[2].message.contains("\"abc\""), "{}", problems[2]);
    }

    #[test]
    fn production_requires_every_secret() {
        let (mut settings, _dir) = production();
        settings.jwt_secret = None;
        settings.csrf_secret = None;
        let problems = Config::from_settings(&settings).expect_err("missing secrets");
        let variables: Vec<_> = problems.iter().map(|p| p.variable).collect();
        assert_eq!(variables, vec!["JWT_SECRET", "CSRF_SECRET"]);
    }

    #[test]
    fn production_refuses_short_placeholder_and_repeated_secrets() {
        for (bad, expected) in [
            ("short", "bytes"),
            ("change-me-change-me-change-me-change-me", "placeholder"),
            ("my-super-secret-jwt-key-for-production-use", "placeholder"),
            (&"a".repeat(48), "one repeated character"),
            ("abababababababababababababababababab", "too few distinct"),
        ] {
            let (mut settings, _dir) = production();
            settings.jwt_secret = Some(bad.into());
            let problems = Config::from_settings(&settings).expect_err(bad);
            assert_eq!(problems.len(), 1, "{problems:?}");
            assert_eq!(problems[0].variable, "JWT_SECRET");
            assert!(
                problems[0].message.contains(expected),
                "{bad}: {}",
                problems[0]
            );
        }
    }

    #[test]
    fn production_accepts_strong_distinct_secrets_and_listens_on_all_interfaces() {
        let (settings, _dir) = production();
        let config = Config::from_settings(&settings).expect("valid");
        assert_eq!(config.host.to_string(), "0.0.0.0");
        assert!(config.generated_secrets.is_empty());
    }

    #[test]
    fn production_refuses_identical_secrets() {
        let (mut settings, _dir) = production();
        settings.csrf_secret = settings.jwt_secret.clone();
        let problems = Config::from_settings(&settings).expect_err("same secrets");
        assert!(problems[0].message.contains("must all differ"));
    }

    #[test]
    fn an_unwritable_data_directory_is_named() {
        let (mut settings, dir) = settings();
        let file = dir.path().join("a-file");
        std::fs::write(&file, b"x").expect("write");
        settings.data_dir = Some(file.join("sub").display().to_string());
        let problems = Config::from_settings(&settings).expect_err("unwritable");
        assert_eq!(problems[0].variable, "RECON_DATA_DIR");
    }

    #[test]
    fn passwords_are_redacted_from_urls() {
        assert_eq!(
            redact_url("postgres://u:hunter2@db/recon"),
            "postgres://u:***@db/recon"
        );
        assert_eq!(redact_url("redis://db:6379"), "redis://db:6379");
        assert_eq!(
            redact_url("sqlite://./data/recon.db"),
            "sqlite://./data/recon.db"
        );
    }

    #[test]
    fn access_settings_have_safe_defaults() {
        let (settings, _dir) = settings();
        let access = Config::from_settings(&settings).expect("valid").access;
        assert_eq!(access.admin_email, "admin@localhost");
        assert!(
            access.admin_password.is_none(),
            "generated at bootstrap, never built in"
        );
        assert!(!access.open_registration && !access.hsts);
        assert!(access.trusted_proxies.is_empty() && access.cors_origins.is_empty());
        assert_eq!(access.access_token_ttl, Duration::from_secs(900));
    }

    #[test]
    fn every_access_problem_is_named_at_once() {
        let (mut settings, _dir) = settings();
        settings.admin_email = Some("not an email".into());
        settings.admin_password = Some("password".into());
        settings.trusted_proxies = Some("10.0.0.0/8, proxy.local".into());
        settings.cors_origins =
            Some("https://ok.example.com, *, https://x.example.com/path".into());
        settings.hsts = Some("yes".into());
        settings.access_token_ttl_s = Some("86400".into());
        let problems = Config::from_settings(&settings).expect_err("invalid");
        let named: Vec<&str> = problems.iter().map(|p| p.variable).collect();
        for variable in [
            "RECON_ADMIN_EMAIL",
            "RECON_ADMIN_PASSWORD",
            "RECON_TRUSTED_PROXIES",
            "RECON_HSTS",
            "RECON_ACCESS_TOKEN_TTL_S",
        ] {
            assert!(named.contains(&variable), "{variable} not in {named:?}");
        }
        assert_eq!(
            named.iter().filter(|v| **v == "RECON_CORS_ORIGINS").count(),
            2,
            "{problems:?}"
        );
        assert!(problems.iter().any(|p| p.message.contains("proxy.local")));
    }

    #[test]
    fn the_previous_jwt_secret_must_differ_from_the_current_one() {
        let (mut settings, _dir) = production();
        settings.jwt_secret_previous = settings.jwt_secret.clone();
        let problems = Config::from_settings(&settings).expect_err("same secret");
        assert_eq!(problems[0].variable, "JWT_SECRET_PREVIOUS");
        let (mut settings, _dir) = production();
        settings.jwt_secret_previous = Some("short".into());
        let problems = Config::from_settings(&settings).expect_err("weak");
        assert_eq!(problems[0].variable, "JWT_SECRET_PREVIOUS");
        let (mut settings, _dir) = production();
        settings.jwt_secret_previous = Some("Zx9Cv8Bn7Mq1We2Rt3Yu4Io5Pa6Sd7Fg8Hj9Kl0=".into());
        let config = Config::from_settings(&settings).expect("valid rotation");
        assert!(config.access.jwt_previous_secret.is_some());
    }
}
