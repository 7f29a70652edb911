//! RS256 tokens verified against a JWKS file and a JWKS URL served over real HTTP.

#![allow(clippy::unwrap_used)]

use std::time::{SystemTime, UNIX_EPOCH};

use fazhi_platform::auth::{Authenticator, Claims, Role};
use fazhi_platform::settings::AuthSettings;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PRIVATE_KEY: &str = include_str!("fixtures/rs256-test-private.pem");
const JWKS: &str = include_str!("fixtures/jwks.json");

fn token(key_id: &str, expires_in: i64) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let claims = Claims {
        sub: "zhang.san".to_owned(),
        iss: "https://sso.example.gov.cn".to_owned(),
        aud: "fazhi".to_owned(),
        exp: (now + expires_in) as u64,
        iat: now as u64,
        unit: Some("ng-sfj".to_owned()),
        roles: vec![Role::UnitStaff],
    };
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(key_id.to_owned());
    let key = EncodingKey::from_rsa_pem(PRIVATE_KEY.as_bytes()).unwrap();
    format!(
        "Bearer {}",
        jsonwebtoken::encode(&header, &claims, &key).unwrap()
    )
}

fn settings() -> AuthSettings {
    AuthSettings {
        issuer: "https://sso.example.gov.cn".to_owned(),
        leeway_seconds: 0,
        ..AuthSettings::default()
    }
}

fn assert_verifies(authenticator: &Authenticator) {
    let caller = authenticator
        .authenticate(Some(&token("test-key-1", 600)))
        .unwrap();
    assert_eq!(caller.subject, "zhang.san");
    assert_eq!(caller.unit.as_deref(), Some("ng-sfj"));
    assert!(caller.has(Role::UnitStaff));
    assert!(
        authenticator
            .authenticate(Some(&token("test-key-1", -60)))
            .is_err(),
        "expired"
    );
    assert!(
        authenticator
            .authenticate(Some(&token("other-key", 600)))
            .is_err(),
        "unknown key id"
    );
}

#[tokio::test]
async fn rs256_with_a_jwks_file() {
    let path = std::env::temp_dir().join(format!("fazhi-jwks-{}.json", std::process::id()));
    std::fs::write(&path, JWKS).unwrap();
    let authenticator = Authenticator::new(&AuthSettings {
        jwks_file: Some(path),
        ..settings()
    })
    .unwrap();
    assert_verifies(&authenticator);
}

/// Serves each of `bodies` in turn as the JWKS, over HTTP/1.1 on a loopback port.
async fn serve_jwks(bodies: Vec<&'static str>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        for body in bodies {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buffer = [0u8; 4096];
            let _ = socket.read(&mut buffer).await.unwrap();
            let response = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            socket.write_all(response.as_bytes()).await.unwrap();
        }
    });
    format!("http://{address}/.well-known/jwks.json")
}

#[tokio::test]
async fn rs256_with_a_jwks_url() {
    let url = serve_jwks(vec![JWKS]).await;
    let authenticator = Authenticator::connect(&AuthSettings {
        jwks_url: Some(url),
        ..settings()
    })
    .await
    .unwrap();
    assert_verifies(&authenticator);
}

/// Verified tokens are kept so that a caller's every call does not check the signature again;
/// a kept token still expires.
#[tokio::test]
async fn a_kept_token_still_expires() {
    let path = std::env::temp_dir().join(format!("fazhi-jwks-kept-{}.json", std::process::id()));
    std::fs::write(&path, JWKS).unwrap();
    let authenticator = Authenticator::new(&AuthSettings {
        jwks_file: Some(path),
        ..settings()
    })
    .unwrap();
    let short_lived = token("test-key-1", 1);
    assert!(authenticator.authenticate(Some(&short_lived)).is_ok());
    assert!(authenticator.authenticate(Some(&short_lived)).is_ok());
    tokio::time::sleep(std::time::Duration::from_millis(2_100)).await;
    assert!(authenticator.authenticate(Some(&short_lived)).is_err());
}

/// A kept token signed by a key the provider stopped publishing is refused from the next
/// refresh of the keys on.
#[tokio::test]
async fn a_kept_token_is_refused_once_its_key_is_withdrawn() {
    let url = serve_jwks(vec![JWKS, r#"{"keys": []}"#]).await;
    let authenticator = Authenticator::connect(&AuthSettings {
        jwks_url: Some(url),
        jwks_refresh_seconds: 1,
        ..settings()
    })
    .await
    .unwrap();
    let caller_token = token("test-key-1", 600);
    assert!(authenticator.authenticate(Some(&caller_token)).is_ok());
    assert!(authenticator.authenticate(Some(&caller_token)).is_ok());
    tokio::time::sleep(std::time::Duration::from_millis(1_500)).await;
    assert!(authenticator.authenticate(Some(&caller_token)).is_err());
}

#[tokio::test]
async fn an_unreachable_jwks_url_fails_at_start() {
    let error = Authenticator::connect(&AuthSettings {
        jwks_url: Some("http://127.0.0.1:9/jwks.json".to_owned()),
        ..settings()
    })
    .await
    .err()
    .expect("no keys, no start");
    assert!(error.to_string().contains("auth.jwks_url"), "{error}");
}

/// A token as an identity provider such as Keycloak issues it: `aud` an array, roles nested and
/// mixed with roles of other systems, the unit as a resource name.
fn provider_token(claims: serde_json::Value) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("test-key-1".to_owned());
    let key = EncodingKey::from_rsa_pem(PRIVATE_KEY.as_bytes()).unwrap();
    format!(
        "Bearer {}",
        jsonwebtoken::encode(&header, &claims, &key).unwrap()
    )
}

#[tokio::test]
async fn provider_tokens_with_a_claim_mapping() {
    let path = std::env::temp_dir().join(format!("fazhi-jwks-map-{}.json", std::process::id()));
    std::fs::write(&path, JWKS).unwrap();
    let authenticator = Authenticator::new(&AuthSettings {
        jwks_file: Some(path),
        unit_claim: "fazhi_unit".to_owned(),
        roles_claim: "realm_access.roles".to_owned(),
        ..settings()
    })
    .unwrap();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = |sub: &str, roles: serde_json::Value, nbf: u64| {
        serde_json::json!({
            "sub": sub,
            "iss": "https://sso.example.gov.cn",
            "aud": ["account", "fazhi"],
            "exp": now + 600,
            "nbf": nbf,
            "fazhi_unit": "units/ningguo",
            "realm_access": { "roles": roles },
        })
    };
    let caller = authenticator
        .authenticate(Some(&provider_token(claims(
            "li.si",
            serde_json::json!(["offline_access", "coordinator", "uma_authorization"]),
            now,
        ))))
        .unwrap();
    assert_eq!(caller.subject, "li.si");
    assert_eq!(caller.unit.as_deref(), Some("ningguo"));
    assert_eq!(
        caller.roles.iter().copied().collect::<Vec<_>>(),
        vec![Role::Coordinator],
        "unknown roles are ignored"
    );
    let no_fazhi_role = authenticator
        .authenticate(Some(&provider_token(claims(
            "wang.wu",
            serde_json::json!(["offline_access"]),
            now,
        ))))
        .unwrap();
    assert!(
        no_fazhi_role.roles.is_empty(),
        "authenticated, but no rights"
    );

    let empty_subject = authenticator.authenticate(Some(&provider_token(claims(
        " ",
        serde_json::json!(["viewer"]),
        now,
    ))));
    assert!(empty_subject.is_err(), "an empty sub is refused");
    let not_yet = authenticator.authenticate(Some(&provider_token(claims(
        "zhao.liu",
        serde_json::json!(["viewer"]),
        now + 86_400,
    ))));
    assert!(not_yet.is_err(), "nbf a day ahead is refused");
    let other_audience = authenticator.authenticate(Some(&provider_token(serde_json::json!({
        "sub": "li.si", "iss": "https://sso.example.gov.cn", "aud": ["account"], "exp": now + 600,
    }))));
    assert!(
        other_audience.is_err(),
        "an aud array without ours is refused"
    );
}
