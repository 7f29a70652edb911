//! Layered settings: defaults → optional TOML file → `FAZHI__SECTION__KEY` environment variables.
//!
//! The platform owns `server`, `database`, `telemetry` and `auth` ([`Settings`]); a service adds
//! its own sections ([`ServiceSettings`], e.g. plans' `clients` and `evidence`), so each binary
//! reads, checks and documents only what it uses. `fazhi dev` fills in what it starts itself.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde::de::DeserializeOwned;

/// The settings every Fazhi process has. Each section refuses keys it does not know; a section
/// no one knows is refused by [`Settings::load_with`].
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub telemetry: TelemetrySettings,
    pub auth: AuthSettings,
    pub events: EventsSettings,
}

/// The sections of [`Settings`].
const PLATFORM_SECTIONS: [&str; 5] = ["server", "database", "telemetry", "auth", "events"];

/// A service's own sections, read from the same layers as the platform's.
pub trait ServiceSettings: DeserializeOwned + Default {
    /// The top-level sections it reads, e.g. `["clients", "evidence"]`.
    const SECTIONS: &'static [&'static str];

    /// Checks what types cannot express.
    fn validate(&self) -> Result<(), SettingsError> {
        Ok(())
    }
}

/// For a service with no settings of its own.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct NoServiceSettings {}

impl ServiceSettings for NoServiceSettings {
    const SECTIONS: &'static [&'static str] = &[];
}

/// The gRPC listener and its limits.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSettings {
    pub listen_address: SocketAddr,
    /// Deadline applied to a call that carries none (or a longer one).
    pub request_timeout_ms: u64,
    /// Calls served at once; past this, calls are shed with `UNAVAILABLE`.
    pub concurrency_limit: usize,
    pub max_message_bytes: usize,
    /// Time given to in-flight calls after SIGTERM.
    pub shutdown_grace_ms: u64,
    /// `WatchEvents` streams one caller (token subject) may hold open at once, per service.
    pub max_streams_per_caller: usize,
    /// How often each service's database is probed; a service whose database does not answer
    /// within this reports NOT_SERVING and refuses calls at once until it answers again.
    pub database_probe_interval_ms: u64,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            listen_address: SocketAddr::from(([127, 0, 0, 1], 50051)),
            request_timeout_ms: 10_000,
            concurrency_limit: 256,
            max_message_bytes: 16 * 1024 * 1024,
            shutdown_grace_ms: 10_000,
            max_streams_per_caller: 16,
            database_probe_interval_ms: 1_000,
        }
    }
}

impl DatabaseSettings {
    pub fn request_id_retention(&self) -> Duration {
        Duration::from_secs(self.request_id_retention_hours * 3600)
    }
}

impl ServerSettings {
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }
}

/// Postgres connection and session limits.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `postgres://…`; when absent, `fazhi dev` starts a throwaway cluster and services refuse to start.
    pub url: Option<SecretString>,
    /// The schema owner's `postgres://…`, for migrations (at start or `fazhi migrate`); absent,
    /// migrations run as `url`'s role. With it, `url` can be the service's runtime role, which
    /// cannot alter its tables nor change its audit log (`docs/architecture.md`).
    pub migration_url: Option<SecretString>,
    pub max_connections: u32,
    /// Kept below the request timeout so a starved pool answers before the caller's deadline.
    pub acquire_timeout_ms: u64,
    pub statement_timeout_ms: u64,
    pub lock_timeout_ms: u64,
    pub idle_in_transaction_timeout_ms: u64,
    /// Run pending migrations at start (safe with several replicas: they take an advisory lock).
    pub migrate_on_start: bool,
    /// How long a request id is remembered for replays (AIP-155); older ones are forgotten.
    pub request_id_retention_hours: u64,
    /// The HMAC-SM3 key that seals the audit chain (`fazhi audit verify` needs the same);
    /// required unless `auth.development`.
    pub audit_key: Option<SecretString>,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            url: None,
            migration_url: None,
            max_connections: 16,
            acquire_timeout_ms: 3_000,
            statement_timeout_ms: 5_000,
            lock_timeout_ms: 2_000,
            idle_in_transaction_timeout_ms: 15_000,
            migrate_on_start: true,
            request_id_retention_hours: 7 * 24,
            audit_key: None,
        }
    }
}

/// Where the outbox relay (`crate::relay`) publishes each service's events for the rest of the
/// platform. Off unless `nats_url` is set.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EventsSettings {
    /// `nats://host:4222` (credentials in the URL when the server asks for them); absent, events
    /// stay in the outbox and reach consumers through `WatchEvents` only.
    pub nats_url: Option<SecretString>,
    /// First subject token: events go to `<prefix>.<context>.<event_type>`, in the stream
    /// `<PREFIX>_<CONTEXT>`. Another prefix lets two deployments share one NATS.
    pub subject_prefix: String,
    /// Replicas of a stream the relay creates (3 on a clustered JetStream); an existing stream
    /// is left as its operators set it.
    pub stream_replicas: usize,
    /// How long a stream the relay creates keeps events.
    pub stream_max_age_days: u64,
}

impl Default for EventsSettings {
    fn default() -> Self {
        Self {
            nats_url: None,
            subject_prefix: "fazhi".to_owned(),
            stream_replicas: 1,
            stream_max_age_days: 365,
        }
    }
}

/// Log format.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Json,
    Pretty,
}

/// Logs, traces and metrics.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TelemetrySettings {
    pub log_format: LogFormat,
    /// An `EnvFilter` directive, e.g. `info,fazhi_units=debug`; `RUST_LOG` wins when set.
    pub log_filter: String,
    /// OpenTelemetry `service.name`; by default the binary's own name (`fazhi-plans`).
    /// `OTEL_SERVICE_NAME` wins when set.
    pub service_name: Option<String>,
}

impl Default for TelemetrySettings {
    fn default() -> Self {
        Self {
            log_format: LogFormat::Json,
            log_filter: "info".to_owned(),
            service_name: None,
        }
    }
}

/// How bearer tokens are verified.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthSettings {
    /// Expected `iss` claim.
    pub issuer: String,
    /// Expected `aud` claim.
    pub audience: String,
    /// HS256 shared secret; for development only.
    pub hs256_secret: Option<SecretString>,
    /// A JWKS document (RS256/ES256 public keys) on disk.
    pub jwks_file: Option<PathBuf>,
    /// A JWKS document served by the identity provider; fetched at start, then refreshed.
    pub jwks_url: Option<String>,
    /// How often the JWKS URL is fetched again (key rotation).
    pub jwks_refresh_seconds: u64,
    /// Seconds of clock skew tolerated on `exp` and `nbf`.
    pub leeway_seconds: u64,
    /// The claim carrying the caller's unit id (a dotted path reaches into objects).
    pub unit_claim: String,
    /// The claim carrying the caller's roles: an array of names, or one space-separated string
    /// (`realm_access.roles` for Keycloak). Names Fazhi does not know are ignored.
    pub roles_claim: String,
    /// Development only (`fazhi dev`): HS256 tokens are accepted next to a JWKS.
    pub development: bool,
}

impl AuthSettings {
    /// Checks that tokens can be verified, and that a shared secret does not sit next to a JWKS
    /// outside development.
    pub fn validate(&self) -> Result<(), SettingsError> {
        let invalid = |key, reason: &str| {
            Err(SettingsError::Invalid {
                key,
                reason: reason.to_owned(),
            })
        };
        if self.hs256_secret.is_none() && self.jwks_file.is_none() && self.jwks_url.is_none() {
            return invalid(
                "auth",
                "set auth.jwks_url or auth.jwks_file, or auth.hs256_secret for development",
            );
        }
        if self.hs256_secret.is_some()
            && (self.jwks_file.is_some() || self.jwks_url.is_some())
            && !self.development
        {
            return invalid(
                "auth.hs256_secret",
                "a shared secret next to a JWKS would let anyone holding it mint tokens; remove it (it is for development)",
            );
        }
        if self.jwks_url.is_some() && self.jwks_refresh_seconds == 0 {
            return invalid("auth.jwks_refresh_seconds", "must be positive");
        }
        Ok(())
    }
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            issuer: "fazhi".to_owned(),
            audience: "fazhi".to_owned(),
            hs256_secret: None,
            jwks_file: None,
            jwks_url: None,
            jwks_refresh_seconds: 600,
            leeway_seconds: 30,
            unit_claim: "unit".to_owned(),
            roles_claim: "roles".to_owned(),
            development: false,
        }
    }
}

/// A setting that failed to load or validate; names the key.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("cannot read settings: {0}")]
    Load(#[from] config::ConfigError),
    #[error("invalid setting `{key}`: {reason}")]
    Invalid { key: &'static str, reason: String },
    #[error("unknown setting section `{0}` (this binary reads: {1})")]
    UnknownSection(String, String),
}

impl Settings {
    /// Loads defaults, then `file` when given, then `FAZHI__…` variables, and validates.
    pub fn load(file: Option<&Path>) -> Result<Self, SettingsError> {
        Ok(Self::load_with::<NoServiceSettings>(file)?.0)
    }

    /// Like [`Settings::load`], with a service's own sections.
    pub fn load_with<S: ServiceSettings>(file: Option<&Path>) -> Result<(Self, S), SettingsError> {
        let (settings, service) = Self::load_unvalidated_with::<S>(file)?;
        settings.validate()?;
        service.validate()?;
        Ok((settings, service))
    }

    /// Loads like [`Settings::load_with`] without validating, for callers that fill in defaults
    /// of their own first (`fazhi dev`); they must validate both.
    pub fn load_unvalidated_with<S: ServiceSettings>(
        file: Option<&Path>,
    ) -> Result<(Self, S), SettingsError> {
        let mut builder = config::Config::builder();
        if let Some(path) = file {
            builder = builder.add_source(config::File::from(path).required(true));
        }
        let layered = builder
            .add_source(
                config::Environment::with_prefix("FAZHI")
                    .prefix_separator("__")
                    .separator("__"),
            )
            .build()?;
        let sections: std::collections::HashMap<String, serde::de::IgnoredAny> =
            layered.clone().try_deserialize()?;
        let known: Vec<&str> = PLATFORM_SECTIONS
            .iter()
            .chain(S::SECTIONS)
            .copied()
            .collect();
        if let Some(unknown) = sections.keys().find(|key| !known.contains(&key.as_str())) {
            return Err(SettingsError::UnknownSection(
                unknown.clone(),
                known.join(", "),
            ));
        }
        Ok((
            layered.clone().try_deserialize()?,
            layered.try_deserialize()?,
        ))
    }

    /// Checks the relations between values that types cannot express.
    pub fn validate(&self) -> Result<(), SettingsError> {
        let invalid = |key, reason: &str| {
            Err(SettingsError::Invalid {
                key,
                reason: reason.to_owned(),
            })
        };
        if self.server.request_timeout_ms == 0 {
            return invalid("server.request_timeout_ms", "must be positive");
        }
        if self.server.concurrency_limit == 0 {
            return invalid("server.concurrency_limit", "must be positive");
        }
        if self.server.database_probe_interval_ms == 0 {
            return invalid("server.database_probe_interval_ms", "must be positive");
        }
        if self.database.acquire_timeout_ms >= self.server.request_timeout_ms {
            return invalid(
                "database.acquire_timeout_ms",
                "must be below server.request_timeout_ms so a busy pool fails before the deadline",
            );
        }
        if self.database.request_id_retention_hours == 0 {
            return invalid(
                "database.request_id_retention_hours",
                "must be positive: a retry must find its first answer",
            );
        }
        if self.database.max_connections == 0 {
            return invalid("database.max_connections", "must be positive");
        }
        self.auth.validate()?;
        match &self.database.audit_key {
            None if !self.auth.development => {
                return invalid(
                    "database.audit_key",
                    "must be set (from a secret): it seals the audit chain; only development may go without",
                );
            }
            Some(key) if key.expose_secret().len() < 32 => {
                return invalid("database.audit_key", "must be at least 32 characters");
            }
            _ => {}
        }
        self.events.validate()
    }
}

impl EventsSettings {
    fn validate(&self) -> Result<(), SettingsError> {
        let invalid = |key, reason: &str| {
            Err(SettingsError::Invalid {
                key,
                reason: reason.to_owned(),
            })
        };
        // One subject token of letters, digits, `-` and `_`: dots, wildcards and spaces would
        // change which subjects the stream holds.
        let token_ok = !self.subject_prefix.is_empty()
            && self
                .subject_prefix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !token_ok {
            return invalid(
                "events.subject_prefix",
                "must be one NATS subject token (letters, digits, - and _)",
            );
        }
        if self.stream_replicas == 0 || self.stream_replicas > 5 {
            return invalid("events.stream_replicas", "must be between 1 and 5");
        }
        if self.stream_max_age_days == 0 {
            return invalid("events.stream_max_age_days", "must be positive");
        }
        if let Some(url) = &self.nats_url
            && url.expose_secret().trim().is_empty()
        {
            return invalid(
                "events.nats_url",
                "must not be empty; leave it out to relay nothing",
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_timeout_must_be_below_request_timeout() {
        let mut settings = Settings::default();
        settings.auth.hs256_secret = Some("dev".into());
        settings.database.acquire_timeout_ms = settings.server.request_timeout_ms;
        let error = settings.validate().expect_err("must be rejected");
        assert!(error.to_string().contains("database.acquire_timeout_ms"));
    }

    #[test]
    fn a_settings_file_is_read_and_unknown_keys_are_named() {
        let directory = std::env::temp_dir().join(format!("fazhi-settings-{}", std::process::id()));
        std::fs::create_dir_all(&directory).expect("temp dir");
        let good = directory.join("good.toml");
        std::fs::write(
            &good,
            "[server]\nconcurrency_limit = 7\n[auth]\nhs256_secret = \"s\"\n[database]\naudit_key = \"0123456789abcdef0123456789abcdef\"\n",
        )
        .expect("write");
        assert_eq!(
            Settings::load(Some(&good))
                .expect("valid")
                .server
                .concurrency_limit,
            7
        );
        let section = directory.join("section.toml");
        std::fs::write(&section, "[clients]\nunits_endpoint = \"x\"\n").expect("write");
        let error = Settings::load(Some(&section)).expect_err("not a section of this binary");
        assert!(error.to_string().contains("`clients`"), "{error}");
        let bad = directory.join("bad.toml");
        std::fs::write(&bad, "[server]\nconcurency_limit = 7\n").expect("write");
        let error = Settings::load(Some(&bad)).expect_err("unknown key");
        assert!(error.to_string().contains("concurency_limit"), "{error}");
    }

    #[test]
    fn a_shared_secret_next_to_a_jwks_is_for_development_only() {
        let mut settings = Settings::default();
        settings.auth.hs256_secret = Some("dev".into());
        settings.auth.jwks_url = Some("https://sso.example.gov.cn/jwks".to_owned());
        let error = settings.validate().expect_err("must be rejected");
        assert!(error.to_string().contains("auth.hs256_secret"), "{error}");
        settings.auth.development = true;
        assert!(settings.validate().is_ok());
    }

    #[test]
    fn the_audit_chain_needs_a_key_outside_development() {
        let mut settings = Settings::default();
        settings.auth.hs256_secret = Some("dev".into());
        let error = settings.validate().expect_err("no key");
        assert!(error.to_string().contains("database.audit_key"), "{error}");
        settings.database.audit_key = Some("short".into());
        let error = settings.validate().expect_err("a short key");
        assert!(error.to_string().contains("32"), "{error}");
        settings.database.audit_key = Some("0123456789abcdef0123456789abcdef".into());
        assert!(settings.validate().is_ok());
        settings.database.audit_key = None;
        settings.auth.development = true;
        assert!(settings.validate().is_ok());
    }

    #[test]
    fn auth_must_be_configured() {
        let error = Settings::default()
            .validate()
            .expect_err("must be rejected");
        assert!(error.to_string().contains("`auth`"));
    }
}
