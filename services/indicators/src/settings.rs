//! The indicators service's own settings: where it finds the units service.

use fazhi_platform::settings::{ServiceSettings, SettingsError};
use serde::Deserialize;

/// What only the indicators service reads.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct IndicatorsSettings {
    pub clients: ClientSettings,
}

/// The services indicators calls.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClientSettings {
    /// e.g. `http://fazhi-units:50051`.
    pub units_endpoint: String,
}

impl Default for ClientSettings {
    fn default() -> Self {
        Self {
            units_endpoint: "http://127.0.0.1:50051".to_owned(),
        }
    }
}

impl ServiceSettings for IndicatorsSettings {
    const SECTIONS: &'static [&'static str] = &["clients"];

    fn validate(&self) -> Result<(), SettingsError> {
        if self.clients.units_endpoint.trim().is_empty() {
            return Err(SettingsError::Invalid {
                key: "clients.units_endpoint",
                reason: "must name the units service, e.g. http://fazhi-units:50051".to_owned(),
            });
        }
        Ok(())
    }
}
