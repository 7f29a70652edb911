//! The plans service's own settings, next to the platform's: where it finds the units service
//! and where evidence files are kept.

use std::path::PathBuf;

use fazhi_platform::settings::{ServiceSettings, SettingsError};
use secrecy::SecretString;
use serde::Deserialize;

/// What only the plans service reads.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct PlansSettings {
    pub clients: ClientSettings,
    pub evidence: EvidenceSettings,
}

impl ServiceSettings for PlansSettings {
    const SECTIONS: &'static [&'static str] = &["clients", "evidence"];

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

/// Where the plans service finds the services it calls.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClientSettings {
    /// The units service, e.g. `http://fazhi-units:50051`.
    pub units_endpoint: String,
    /// A bearer token the plans service presents for its own calls to the units service
    /// (following reorganisations); without one, open assignments are not re-pointed.
    pub units_token: Option<SecretString>,
}

impl Default for ClientSettings {
    fn default() -> Self {
        Self {
            units_endpoint: "http://127.0.0.1:50051".to_owned(),
            units_token: None,
        }
    }
}

/// Where evidence files (佐证材料) are kept.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EvidenceSettings {
    /// A directory of content-addressed files; on Kubernetes, a persistent volume.
    pub directory: PathBuf,
}

impl Default for EvidenceSettings {
    fn default() -> Self {
        Self {
            directory: PathBuf::from("data/evidence"),
        }
    }
}
