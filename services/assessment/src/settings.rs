//! The assessment service's own settings: where it finds the services a round gathers from.

use fazhi_platform::settings::{ServiceSettings, SettingsError};
use serde::Deserialize;

/// What only the assessment service reads.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct AssessmentSettings {
    pub clients: ClientSettings,
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
}

impl Default for ClientSettings {
    fn default() -> Self {
        let local = "http://127.0.0.1:50051".to_owned();
        Self {
            units_endpoint: local.clone(),
            plans_endpoint: local.clone(),
            indicators_endpoint: local,
        }
    }
}

impl ServiceSettings for AssessmentSettings {
    const SECTIONS: &'static [&'static str] = &["clients"];

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
        Ok(())
    }
}
