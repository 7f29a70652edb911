//! Bearer-token authentication and the caller identity handlers see.
//!
//! Tokens are JWTs: RS256/ES256 verified against a JWKS document, or HS256 with a shared secret in
//! development. Authorisation rules that depend on the unit hierarchy live in each service; this
//! module answers "who is calling" and "may this caller act on a unit with this ancestry".

use std::collections::HashSet;
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};

use crate::error::PlatformError;
use crate::settings::AuthSettings;

/// What a caller may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything, everywhere.
    Admin,
    /// Manages everything at or below its unit (依法治市办, 司法局).
    Coordinator,
    /// Works on its own unit's tasks.
    UnitStaff,
    /// Reads.
    Viewer,
}

impl Role {
    /// The API name, as tokens carry it and audit rows record it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Coordinator => "coordinator",
            Self::UnitStaff => "unit_staff",
            Self::Viewer => "viewer",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "admin" => Some(Self::Admin),
            "coordinator" => Some(Self::Coordinator),
            "unit_staff" => Some(Self::UnitStaff),
            "viewer" => Some(Self::Viewer),
            _ => None,
        }
    }
}

/// The claims of the tokens Fazhi issues itself (`fazhi token`, tests). Tokens from an identity
/// provider are read more leniently, see [`Authenticator::authenticate`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub iss: String,
    pub aud: String,
    pub exp: u64,
    #[serde(default)]
    pub iat: u64,
    /// The caller's unit id (without the `units/` prefix).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    #[serde(default)]
    pub roles: Vec<Role>,
}

/// The authenticated caller of an RPC, put in the request extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub subject: String,
    pub unit: Option<String>,
    pub roles: HashSet<Role>,
}

impl Caller {
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// May manage a unit whose ancestry (the unit itself first, then its ancestors) is given:
    /// admins anywhere, coordinators at or below their own unit.
    pub fn may_manage(&self, ancestry: &[String]) -> bool {
        if self.has(Role::Admin) {
            return true;
        }
        self.has(Role::Coordinator)
            && self
                .unit
                .as_ref()
                .is_some_and(|own_unit| ancestry.iter().any(|unit| unit == own_unit))
    }

    /// Works for the unit itself: its staff, or anyone who may manage it.
    pub fn may_work_for(&self, unit: &str, ancestry: &[String]) -> bool {
        (self.has(Role::UnitStaff) && self.unit.as_deref() == Some(unit))
            || self.may_manage(ancestry)
    }

    /// May read a unit's work: whoever may work for it, and viewers at or above it (a region's
    /// leaders read their region).
    pub fn may_read(&self, unit: &str, ancestry: &[String]) -> bool {
        self.may_work_for(unit, ancestry)
            || (self.has(Role::Viewer)
                && self
                    .unit
                    .as_ref()
                    .is_some_and(|own_unit| ancestry.iter().any(|unit| unit == own_unit)))
    }

    /// A caller used by in-process maintenance (migrations, demo loading, imports from the CLI).
    pub fn system() -> Self {
        Self {
            subject: "system".to_owned(),
            unit: None,
            roles: HashSet::from([Role::Admin]),
        }
    }
}

/// Verifies bearer tokens. Cheap to clone.
#[derive(Clone)]
pub struct Authenticator {
    inner: Arc<AuthenticatorInner>,
}

/// A public key from a JWKS document: (key id, key, algorithm).
type JwksKey = (Option<String>, DecodingKey, Algorithm);

struct AuthenticatorInner {
    hs256: Option<DecodingKey>,
    /// Replaced whole when a JWKS URL is fetched again.
    jwks: RwLock<Arc<Vec<JwksKey>>>,
    issuer: String,
    audience: String,
    leeway_seconds: u64,
    unit_claim: String,
    roles_claim: String,
    /// Tokens whose signature and claims were checked, by their text: a caller sends one token
    /// with every call until it expires, and checking it again cost 7 % of the server's CPU per
    /// `GetUnit` with HS256 (RS256 and ES256 cost far more). Emptied when the keys change.
    verified: quick_cache::sync::Cache<String, Verified>,
}

/// How many verified tokens are kept (a few MB at most).
const VERIFIED_TOKENS: usize = 4096;

/// A token found valid, and the times that bound it.
#[derive(Clone)]
struct Verified {
    caller: Caller,
    expires: u64,
    not_before: Option<u64>,
}

impl Verified {
    /// Still valid at `now` (Unix seconds), by the rules `jsonwebtoken` applied when it checked.
    fn is_valid_at(&self, now: u64, leeway: u64) -> bool {
        self.expires.saturating_add(leeway) >= now
            && self
                .not_before
                .is_none_or(|not_before| not_before <= now.saturating_add(leeway))
    }
}

/// A claim at a dotted path (`realm_access.roles`), or at the top level.
fn claim_at<'a>(claims: &'a serde_json::Value, path: &str) -> Option<&'a serde_json::Value> {
    claims.get(path).or_else(|| {
        path.split('.')
            .try_fold(claims, |value, key| value.get(key))
    })
}

/// Roles from a claim that is an array of names or one space-separated string; names Fazhi does
/// not know (`offline_access`, another system's roles) are ignored, not a reason to refuse.
fn roles_of(claim: Option<&serde_json::Value>) -> HashSet<Role> {
    let names: Vec<&str> = match claim {
        Some(serde_json::Value::Array(items)) => {
            items.iter().filter_map(serde_json::Value::as_str).collect()
        }
        Some(serde_json::Value::String(text)) => text.split_whitespace().collect(),
        _ => Vec::new(),
    };
    names.into_iter().filter_map(Role::parse).collect()
}

/// Why the authenticator could not be built.
#[derive(Debug, thiserror::Error)]
pub enum AuthSetupError {
    #[error("cannot read auth.jwks_file {path}: {source}")]
    ReadJwks {
        path: String,
        source: std::io::Error,
    },
    #[error("the JWKS is not a JWKS document: {0}")]
    ParseJwks(String),
    #[error("cannot fetch auth.jwks_url {url}: {reason}")]
    FetchJwks { url: String, reason: String },
}

/// Reads the RS256/ES256 keys of a JWKS document; other key types are skipped.
fn parse_jwks(text: &str) -> Result<Vec<JwksKey>, AuthSetupError> {
    let set: jsonwebtoken::jwk::JwkSet =
        serde_json::from_str(text).map_err(|error| AuthSetupError::ParseJwks(error.to_string()))?;
    let mut keys = Vec::new();
    for jwk in &set.keys {
        let algorithm = match &jwk.algorithm {
            jsonwebtoken::jwk::AlgorithmParameters::RSA(_) => Algorithm::RS256,
            jsonwebtoken::jwk::AlgorithmParameters::EllipticCurve(_) => Algorithm::ES256,
            _ => continue,
        };
        let key = DecodingKey::from_jwk(jwk)
            .map_err(|error| AuthSetupError::ParseJwks(error.to_string()))?;
        keys.push((jwk.common.key_id.clone(), key, algorithm));
    }
    Ok(keys)
}

async fn fetch_jwks(client: &reqwest::Client, url: &str) -> Result<Vec<JwksKey>, AuthSetupError> {
    let failed = |reason: String| AuthSetupError::FetchJwks {
        url: url.to_owned(),
        reason,
    };
    let text = client
        .get(url)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|error| failed(error.to_string()))?
        .text()
        .await
        .map_err(|error| failed(error.to_string()))?;
    parse_jwks(&text)
}

impl Authenticator {
    pub fn new(settings: &AuthSettings) -> Result<Self, AuthSetupError> {
        let hs256 = settings
            .hs256_secret
            .as_ref()
            .map(|secret| DecodingKey::from_secret(secret.expose_secret().as_bytes()));
        let jwks = match &settings.jwks_file {
            Some(path) => parse_jwks(&std::fs::read_to_string(path).map_err(|source| {
                AuthSetupError::ReadJwks {
                    path: path.display().to_string(),
                    source,
                }
            })?)?,
            None => Vec::new(),
        };
        Ok(Self {
            inner: Arc::new(AuthenticatorInner {
                hs256,
                jwks: RwLock::new(Arc::new(jwks)),
                issuer: settings.issuer.clone(),
                audience: settings.audience.clone(),
                leeway_seconds: settings.leeway_seconds,
                unit_claim: settings.unit_claim.clone(),
                roles_claim: settings.roles_claim.clone(),
                verified: quick_cache::sync::Cache::new(VERIFIED_TOKENS),
            }),
        })
    }

    /// Like [`Authenticator::new`], and with `auth.jwks_url` set, fetches the keys (failing start
    /// when it cannot) and refreshes them every `auth.jwks_refresh_seconds` in the background;
    /// a failed refresh keeps the keys it has.
    pub async fn connect(settings: &AuthSettings) -> Result<Self, AuthSetupError> {
        let authenticator = Self::new(settings)?;
        let Some(url) = settings.jwks_url.clone() else {
            return Ok(authenticator);
        };
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|error| AuthSetupError::FetchJwks {
                url: url.clone(),
                reason: error.to_string(),
            })?;
        authenticator.replace_jwks(fetch_jwks(&client, &url).await?);
        let weak: Weak<AuthenticatorInner> = Arc::downgrade(&authenticator.inner);
        let interval = Duration::from_secs(settings.jwks_refresh_seconds);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(interval).await;
                let Some(inner) = weak.upgrade() else { return };
                match fetch_jwks(&client, &url).await {
                    Ok(keys) => Self { inner }.replace_jwks(keys),
                    Err(error) => {
                        tracing::warn!(%error, "JWKS refresh failed; keeping the current keys")
                    }
                }
            }
        });
        Ok(authenticator)
    }

    fn replace_jwks(&self, keys: Vec<JwksKey>) {
        let mut current = self
            .inner
            .jwks
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *current = Arc::new(keys);
        // A token signed by a key no longer published must not stay accepted.
        self.inner.verified.clear();
    }

    /// Verifies an `authorization` header value (`Bearer <jwt>`).
    pub fn authenticate(&self, header: Option<&str>) -> Result<Caller, PlatformError> {
        let unauthenticated = |why: &str| PlatformError::Unauthenticated(why.to_owned());
        let header = header.ok_or_else(|| unauthenticated("no authorization header"))?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .ok_or_else(|| unauthenticated("authorization is not a bearer token"))?;
        let inner = &self.inner;
        if let Some(verified) = inner.verified.get(token)
            && verified.is_valid_at(jsonwebtoken::get_current_timestamp(), inner.leeway_seconds)
        {
            return Ok(verified.caller);
        }
        let token_header =
            jsonwebtoken::decode_header(token).map_err(|_| unauthenticated("malformed token"))?;
        let jwks = Arc::clone(
            &inner
                .jwks
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        let key = match token_header.alg {
            Algorithm::HS256 => inner.hs256.as_ref(),
            algorithm => jwks
                .iter()
                .find(|(key_id, _, key_algorithm)| {
                    *key_algorithm == algorithm
                        && (token_header.kid.is_none() || *key_id == token_header.kid)
                })
                .map(|(_, key, _)| key),
        }
        .ok_or_else(|| unauthenticated("no key for this token"))?;
        let mut validation = Validation::new(token_header.alg);
        validation.set_issuer(&[&inner.issuer]);
        validation.set_audience(&[&inner.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = inner.leeway_seconds;
        // `aud` may be a string or an array (checked by `validation`); the rest is read by name.
        let claims = jsonwebtoken::decode::<serde_json::Value>(token, key, &validation)
            .map_err(|error| unauthenticated(&format!("invalid token: {}", error.kind_name())))?
            .claims;
        let subject = claims
            .get("sub")
            .and_then(serde_json::Value::as_str)
            .map(str::trim)
            .filter(|subject| !subject.is_empty())
            .ok_or_else(|| unauthenticated("invalid token: empty subject"))?;
        let unit = claim_at(&claims, &inner.unit_claim)
            .and_then(serde_json::Value::as_str)
            .map(|unit| unit.strip_prefix("units/").unwrap_or(unit).to_owned());
        let caller = Caller {
            subject: subject.to_owned(),
            unit,
            roles: roles_of(claim_at(&claims, &inner.roles_claim)),
        };
        // `validation` required `exp` as a number and checked `nbf` when present.
        if let Some(expires) = claims.get("exp").and_then(serde_json::Value::as_u64) {
            let not_before = claims.get("nbf").and_then(serde_json::Value::as_u64);
            inner.verified.insert(
                token.to_owned(),
                Verified {
                    caller: caller.clone(),
                    expires,
                    not_before,
                },
            );
        }
        Ok(caller)
    }
}

trait KindName {
    fn kind_name(&self) -> &'static str;
}

impl KindName for jsonwebtoken::errors::Error {
    fn kind_name(&self) -> &'static str {
        use jsonwebtoken::errors::ErrorKind;
        match self.kind() {
            ErrorKind::ExpiredSignature => "expired",
            ErrorKind::InvalidIssuer => "wrong issuer",
            ErrorKind::InvalidAudience => "wrong audience",
            ErrorKind::InvalidSignature => "bad signature",
            ErrorKind::ImmatureSignature => "not yet valid",
            _ => "rejected",
        }
    }
}

/// Issues an HS256 token; for `fazhi token` and tests, never for production identities.
pub fn issue_dev_token(
    settings: &AuthSettings,
    subject: &str,
    unit: Option<&str>,
    roles: &[Role],
    valid_for: std::time::Duration,
) -> Result<String, PlatformError> {
    let secret = settings
        .hs256_secret
        .as_ref()
        .ok_or_else(|| PlatformError::Internal("auth.hs256_secret is not set".to_owned()))?;
    let now = chrono::Utc::now().timestamp().max(0) as u64;
    let claims = Claims {
        sub: subject.to_owned(),
        iss: settings.issuer.clone(),
        aud: settings.audience.clone(),
        exp: now + valid_for.as_secs(),
        iat: now,
        unit: unit.map(str::to_owned),
        roles: roles.to_vec(),
    };
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.expose_secret().as_bytes()),
    )
    .map_err(|error| PlatformError::Internal(error.to_string()))
}

/// A tonic interceptor: authenticates and puts the [`Caller`] in the request extensions.
#[derive(Clone)]
pub struct AuthInterceptor {
    pub authenticator: Authenticator,
    pub error_domain: &'static str,
}

impl tonic::service::Interceptor for AuthInterceptor {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        let header = request
            .metadata()
            .get("authorization")
            .and_then(|value| value.to_str().ok());
        match self.authenticator.authenticate(header) {
            Ok(caller) => {
                if let Some(root) = request.extensions().get::<crate::call::RootSpan>() {
                    root.0.record("subject", caller.subject.as_str());
                }
                request.extensions_mut().insert(caller);
                Ok(request)
            }
            Err(error) => Err(crate::error::into_status(self.error_domain, &error)),
        }
    }
}

/// The caller of a request that went through [`AuthInterceptor`].
pub fn caller_of<T>(request: &tonic::Request<T>) -> Result<Caller, PlatformError> {
    request
        .extensions()
        .get::<Caller>()
        .cloned()
        .ok_or_else(|| PlatformError::Unauthenticated("no caller".to_owned()))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn settings() -> AuthSettings {
        AuthSettings {
            hs256_secret: Some("test-secret".into()),
            ..AuthSettings::default()
        }
    }

    #[test]
    fn round_trip_dev_token() {
        let token = issue_dev_token(
            &settings(),
            "alice",
            Some("ningguo"),
            &[Role::Coordinator],
            Duration::from_secs(60),
        )
        .expect("token");
        let caller = Authenticator::new(&settings())
            .expect("authenticator")
            .authenticate(Some(&format!("Bearer {token}")))
            .expect("valid");
        assert_eq!(caller.subject, "alice");
        assert_eq!(caller.unit.as_deref(), Some("ningguo"));
        assert!(caller.has(Role::Coordinator));
    }

    #[test]
    fn rejects_other_secret_and_audience() {
        let mut other = settings();
        other.hs256_secret = Some("other".into());
        let token = issue_dev_token(
            &other,
            "mallory",
            None,
            &[Role::Admin],
            Duration::from_secs(60),
        )
        .expect("token");
        let authenticator = Authenticator::new(&settings()).expect("authenticator");
        assert!(
            authenticator
                .authenticate(Some(&format!("Bearer {token}")))
                .is_err()
        );
        let mut wrong_audience = settings();
        wrong_audience.audience = "elsewhere".to_owned();
        let token = issue_dev_token(
            &wrong_audience,
            "x",
            None,
            &[Role::Admin],
            Duration::from_secs(60),
        )
        .expect("token");
        assert!(
            authenticator
                .authenticate(Some(&format!("Bearer {token}")))
                .is_err()
        );
        assert!(authenticator.authenticate(None).is_err());
        assert!(authenticator.authenticate(Some("Basic abc")).is_err());
    }

    #[test]
    fn coordinator_manages_its_subtree_only() {
        let caller = Caller {
            subject: "c".to_owned(),
            unit: Some("ningguo".to_owned()),
            roles: HashSet::from([Role::Coordinator]),
        };
        assert!(caller.may_manage(&["ningguo-sfj".to_owned(), "ningguo".to_owned()]));
        assert!(!caller.may_manage(&["tongliao".to_owned()]));
        let staff = Caller {
            roles: HashSet::from([Role::UnitStaff]),
            unit: Some("ningguo-sfj".to_owned()),
            ..caller
        };
        assert!(staff.may_work_for("ningguo-sfj", &["ningguo-sfj".to_owned()]));
        assert!(!staff.may_manage(&["ningguo-sfj".to_owned()]));
        assert!(!staff.may_work_for("ningguo-czj", &["ningguo-czj".to_owned()]));
    }
}
