//! The indicators service's own settings: where it finds the units and plans services, and how often it
//! chases overdue returns.

use fazhi_platform::settings::{ServiceSettings, SettingsError};
use secrecy::SecretString;
use serde::Deserialize;

/// What only the indicators service reads.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct IndicatorsSettings {
    pub clients: ClientSettings,
    pub returns: ReturnSettings,
}

/// 催报: how often the data sets are swept for returns that fell due.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReturnSettings {
    pub sweep_seconds: u64,
}

impl Default for ReturnSettings {
    fn default() -> Self {
        Self { sweep_seconds: 300 }
    }
}

/// The services indicators calls.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClientSettings {
    /// e.g. `http://fazhi-units:50051`.
    pub units_endpoint: String,
    /// e.g. `http://fazhi-plans:50051`: where proposed targets are read from.
    pub plans_endpoint: String,
    /// A bearer token the service presents for its own calls to the units and plans services
    /// (chasing overdue returns, following target statuses, proposing the targets of published
    /// plans); without one, that background work is off.
    pub units_token: Option<SecretString>,
}

impl Default for ClientSettings {
    fn default() -> Self {
        Self {
            units_endpoint: "http://127.0.0.1:50051".to_owned(),
            plans_endpoint: "http://127.0.0.1:50051".to_owned(),
            units_token: None,
        }
    }
}

impl ServiceSettings for IndicatorsSettings {
    const SECTIONS: &'static [&'static str] = &["clients", "returns"];

    fn validate(&self) -> Result<(), SettingsError> {
        if self.clients.units_endpoint.trim().is_empty() {
            return Err(SettingsError::Invalid {
                key: "clients.units_endpoint",
                reason: "must name the units service, e.g. http://fazhi-units:50051".to_owned(),
            });
        }
        if self.clients.plans_endpoint.trim().is_empty() {
            return Err(SettingsError::Invalid {
                key: "clients.plans_endpoint",
                reason: "must name the plans service, e.g. http://fazhi-plans:50051".to_owned(),
            });
        }
        if self.returns.sweep_seconds == 0 {
            return Err(SettingsError::Invalid {
                key: "returns.sweep_seconds",
                reason: "must be at least 1".to_owned(),
            });
        }
        Ok(())
    }
}
