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

/// Serves the JWKS over HTTP/1.1 on a loopback port, `requests` times.
async fn serve_jwks(requests: usize) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        for _ in 0..requests {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buffer = [0u8; 4096];
            let _ = socket.read(&mut buffer).await.unwrap();
            let response = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{JWKS}",
                JWKS.len()
            );
            socket.write_all(response.as_bytes()).await.unwrap();
        }
    });
    format!("http://{address}/.well-known/jwks.json")
}

#[tokio::test]
async fn rs256_with_a_jwks_url() {
    let url = serve_jwks(1).await;
    let authenticator = Authenticator::connect(&AuthSettings {
        jwks_url: Some(url),
        ..settings()
    })
    .await
    .unwrap();
    assert_verifies(&authenticator);
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
