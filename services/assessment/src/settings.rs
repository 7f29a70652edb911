//! The assessment service's own settings: where it finds the services a round gathers from,
//! and how often the ledger is swept.

use fazhi_platform::settings::{ServiceSettings, SettingsError};
use secrecy::SecretString;
use serde::Deserialize;

/// What only the assessment service reads.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct AssessmentSettings {
    pub clients: ClientSettings,
    pub ledger: LedgerSettings,
}

/// The rectification ledger's background sweep.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LedgerSettings {
    /// How often items past their deadline are looked for (`rectification.overdue`).
    pub sweep_seconds: u64,
}

impl Default for LedgerSettings {
    fn default() -> Self {
        Self {
            sweep_seconds: 3600,
        }
    }
}

/// The services a round calls, as the caller who runs it.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClientSettings {
    /// e.g. `http://fazhi-units:50051`: peer groups' members and who may do what.
    pub units_endpoint: String,
    /// e.g. `http://fazhi-plans:50051`: the units' assignments.
    pub plans_endpoint: String,
    /// e.g. `http://fazhi-indicators:50051`: targets' verdicts and figures.
    pub indicators_endpoint: String,
    /// A bearer token the service presents when it follows the indicators and plans
    /// services' events to mark rounds stale; without one, rounds are not marked.
    pub service_token: Option<SecretString>,
}

impl Default for ClientSettings {
    fn default() -> Self {
        let local = "http://127.0.0.1:50051".to_owned();
        Self {
            units_endpoint: local.clone(),
            plans_endpoint: local.clone(),
            indicators_endpoint: local,
            service_token: None,
        }
    }
}

impl ServiceSettings for AssessmentSettings {
    const SECTIONS: &'static [&'static str] = &["clients", "ledger"];

    fn validate(&self) -> Result<(), SettingsError> {
        for (key, endpoint) in [
            ("clients.units_endpoint", &self.clients.units_endpoint),
            ("clients.plans_endpoint", &self.clients.plans_endpoint),
            (
                "clients.indicators_endpoint",
                &self.clients.indicators_endpoint,
            ),
        ] {
            if endpoint.trim().is_empty() {
                return Err(SettingsError::Invalid {
                    key,
                    reason: "must name a service, e.g. http://fazhi-units:50051".to_owned(),
                });
            }
        }
        if self.ledger.sweep_seconds == 0 {
            return Err(SettingsError::Invalid {
                key: "ledger.sweep_seconds",
                reason: "must be at least 1".to_owned(),
            });
        }
        Ok(())
    }
}
