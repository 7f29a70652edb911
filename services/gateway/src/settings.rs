//! The `[gateway]` settings of the gateway's own binary (`fazhi dev` sets its own).

use std::collections::BTreeMap;
use std::net::SocketAddr;

use axum::http::HeaderValue;
use fazhi_platform::settings::{AuthSettings, ServiceSettings, SettingsError};
use serde::Deserialize;
use tonic::transport::{Channel, Endpoint};

use crate::{ConsoleConfig, ConsoleOidc, EdgePolicy, Upstreams};

/// The bounded contexts whose services the gateway fronts.
const CONTEXTS: [&str; 4] = ["units", "plans", "indicators", "assessment"];

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GatewaySettings {
    /// Where the gateway listens for HTTP.
    pub listen_address: SocketAddr,
    /// Each context's gRPC address, e.g. `units = "http://fazhi-units:50051"`; every context
    /// must have one.
    pub upstreams: BTreeMap<String, String>,
    /// Origins whose pages may call the gateway, e.g. `https://fazhi.example.gov.cn`.
    pub cors_origins: Vec<String>,
    /// Calls per second each caller may make, sustained.
    pub requests_per_second: u32,
    /// Calls a caller may make at once before the rate applies.
    pub burst: u32,
    /// The web console's sign-in at the identity provider (`[gateway.console]`).
    pub console: ConsoleSettings,
}

/// How the web console signs users in: OIDC authorization code with PKCE, as a public client
/// whose redirect URI is `<gateway>/console/callback`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConsoleSettings {
    /// The identity provider's issuer URL; absent, the console cannot sign anyone in.
    pub oidc_authority: Option<String>,
    pub oidc_client_id: String,
    pub oidc_scope: String,
}

impl Default for ConsoleSettings {
    fn default() -> Self {
        Self {
            oidc_authority: None,
            oidc_client_id: "fazhi-console".to_owned(),
            oidc_scope: "openid profile".to_owned(),
        }
    }
}

impl Default for GatewaySettings {
    fn default() -> Self {
        let policy = EdgePolicy::default();
        Self {
            listen_address: SocketAddr::from(([0, 0, 0, 0], 8080)),
            upstreams: BTreeMap::new(),
            cors_origins: Vec::new(),
            requests_per_second: policy.requests_per_second,
            burst: policy.burst,
            console: ConsoleSettings::default(),
        }
    }
}

/// The gateway binary's token settings: the platform's checks, and a shared secret (HS256) only
/// in development: in front of every service, the gateway verifies the identity provider's keys.
pub fn check_auth(auth: &AuthSettings) -> Result<(), SettingsError> {
    auth.validate()?;
    if auth.hs256_secret.is_some() && !auth.development {
        return Err(SettingsError::Invalid {
            key: "auth.hs256_secret",
            reason: "a shared secret is for development (auth.development, as fazhi dev sets it); \
                     give the identity provider's keys with auth.jwks_url or auth.jwks_file"
                .to_owned(),
        });
    }
    Ok(())
}

/// What the gateway's binary reads besides the platform's sections.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct GatewaySections {
    pub gateway: GatewaySettings,
}

impl ServiceSettings for GatewaySections {
    const SECTIONS: &'static [&'static str] = &["gateway"];

    fn validate(&self) -> Result<(), SettingsError> {
        self.gateway.validate()
    }
}

impl GatewaySettings {
    fn validate(&self) -> Result<(), SettingsError> {
        let invalid =
            |key: &'static str, reason: String| Err(SettingsError::Invalid { key, reason });
        for context in CONTEXTS {
            match self.upstreams.get(context) {
                None => return invalid("gateway.upstreams", format!("{context} has no address")),
                Some(address) if Endpoint::from_shared(address.clone()).is_err() => {
                    return invalid(
                        "gateway.upstreams",
                        format!("{context}: {address} is not a URL"),
                    );
                }
                Some(_) => {}
            }
        }
        if let Some(unknown) = self
            .upstreams
            .keys()
            .find(|context| !CONTEXTS.contains(&context.as_str()))
        {
            return invalid(
                "gateway.upstreams",
                format!("{unknown} is not one of {}", CONTEXTS.join(", ")),
            );
        }
        if let Some(origin) = self
            .cors_origins
            .iter()
            .find(|origin| HeaderValue::from_str(origin).is_err())
        {
            return invalid(
                "gateway.cors_origins",
                format!("{origin:?} is not an origin"),
            );
        }
        if let Some(authority) = &self.console.oidc_authority
            && url::Url::parse(authority).is_err()
        {
            return invalid(
                "gateway.console.oidc_authority",
                format!("{authority} is not a URL"),
            );
        }
        if self.requests_per_second == 0 || self.burst == 0 {
            return invalid(
                "gateway.requests_per_second",
                "the rate and the burst must be positive".to_owned(),
            );
        }
        Ok(())
    }

    /// A channel per context, connected on first use (a service may start after the gateway).
    pub fn upstreams(&self) -> Result<Upstreams, tonic::transport::Error> {
        let channels = self
            .upstreams
            .iter()
            .map(|(context, address)| {
                Ok::<(String, Channel), tonic::transport::Error>((
                    context.clone(),
                    Endpoint::from_shared(address.clone())?.connect_lazy(),
                ))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Upstreams::per_context(channels))
    }

    /// What the console is told (validated settings); the claims are the token settings'.
    pub fn console(&self, auth: &AuthSettings) -> ConsoleConfig {
        ConsoleConfig {
            demo_identities: Vec::new(),
            oidc: self
                .console
                .oidc_authority
                .as_ref()
                .map(|authority| ConsoleOidc {
                    authority: authority.clone(),
                    client_id: self.console.oidc_client_id.clone(),
                    scope: self.console.oidc_scope.clone(),
                    unit_claim: auth.unit_claim.clone(),
                    roles_claim: auth.roles_claim.clone(),
                }),
        }
    }

    /// What the edge allows (validated settings).
    pub fn edge_policy(&self) -> EdgePolicy {
        EdgePolicy {
            cors_origins: self
                .cors_origins
                .iter()
                .filter_map(|origin| HeaderValue::from_str(origin).ok())
                .collect(),
            requests_per_second: self.requests_per_second,
            burst: self.burst,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn every_context() -> GatewaySettings {
        GatewaySettings {
            upstreams: CONTEXTS
                .iter()
                .map(|context| {
                    (
                        (*context).to_owned(),
                        format!("http://fazhi-{context}:50051"),
                    )
                })
                .collect(),
            ..GatewaySettings::default()
        }
    }

    #[test]
    fn every_context_needs_an_address_and_nothing_else_is_taken() {
        assert!(every_context().validate().is_ok());
        let mut missing = every_context();
        missing.upstreams.remove("assessment");
        let error = missing.validate().unwrap_err().to_string();
        assert!(error.contains("assessment has no address"), "{error}");
        let mut unknown = every_context();
        unknown
            .upstreams
            .insert("budget".to_owned(), "http://budget:50051".to_owned());
        let error = unknown.validate().unwrap_err().to_string();
        assert!(error.contains("budget is not one of"), "{error}");
        let mut origin = every_context();
        origin.cors_origins = vec!["https://a.example\n".to_owned()];
        assert!(origin.validate().is_err());
        let mut rate = every_context();
        rate.requests_per_second = 0;
        assert!(rate.validate().is_err());
    }

    #[test]
    fn a_shared_secret_is_for_development_only() {
        let mut auth = AuthSettings {
            hs256_secret: Some("a-secret-for-the-gateway-tests".into()),
            ..AuthSettings::default()
        };
        let error = check_auth(&auth).unwrap_err().to_string();
        assert!(error.contains("auth.hs256_secret"), "{error}");
        auth.development = true;
        assert!(check_auth(&auth).is_ok());
        let none = AuthSettings::default();
        assert!(check_auth(&none).is_err(), "no way to verify a token");
    }
}
