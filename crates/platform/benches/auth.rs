//! What checking a caller's token costs per call: each token seen for the first time (its
//! signature and claims checked) against the same token again (kept from its first check), for
//! HS256 (`fazhi dev`, tests) and RS256 (an identity provider's JWKS), in the same run.
//! Run: `cargo bench -p fazhi-platform --bench auth`.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use fazhi_platform::auth::{Authenticator, Claims, Role};
use fazhi_platform::settings::AuthSettings;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use secrecy::SecretString;

const PRIVATE_KEY: &str = include_str!("../tests/fixtures/rs256-test-private.pem");
const JWKS: &str = include_str!("../tests/fixtures/jwks.json");

fn claims(subject: usize) -> Claims {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    Claims {
        sub: format!("user-{subject}"),
        iss: "https://sso.example.gov.cn".to_owned(),
        aud: "fazhi".to_owned(),
        exp: now + 600,
        iat: now,
        unit: Some("ng-sfj".to_owned()),
        roles: vec![Role::UnitStaff],
    }
}

/// Mean time per `authenticate`, over `tokens` in turn.
fn per_call(authenticator: &Authenticator, tokens: &[String]) -> Duration {
    let started = Instant::now();
    for token in tokens {
        authenticator.authenticate(Some(token)).unwrap();
    }
    started.elapsed() / tokens.len() as u32
}

fn compare(name: &str, authenticator: &Authenticator, distinct: Vec<String>) {
    let repeated = vec![distinct[0].clone(); distinct.len()];
    let first_seen = per_call(authenticator, &distinct);
    let kept = per_call(authenticator, &repeated);
    println!(
        "{name:<6} {} tokens: each seen first {:>8.1} µs/call, the same token again {:>6.2} µs/call ({:.0}×)",
        distinct.len(),
        first_seen.as_secs_f64() * 1e6,
        kept.as_secs_f64() * 1e6,
        first_seen.as_secs_f64() / kept.as_secs_f64()
    );
}

fn main() {
    let settings = AuthSettings {
        issuer: "https://sso.example.gov.cn".to_owned(),
        hs256_secret: Some(SecretString::from("a development secret of 32 bytes!")),
        ..AuthSettings::default()
    };
    let hs256 = EncodingKey::from_secret(b"a development secret of 32 bytes!");
    let tokens = (0..20_000)
        .map(|subject| {
            let token =
                jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims(subject), &hs256);
            format!("Bearer {}", token.unwrap())
        })
        .collect();
    compare("HS256", &Authenticator::new(&settings).unwrap(), tokens);

    let path = std::env::temp_dir().join(format!("fazhi-bench-jwks-{}.json", std::process::id()));
    std::fs::write(&path, JWKS).unwrap();
    let rs256 = EncodingKey::from_rsa_pem(PRIVATE_KEY.as_bytes()).unwrap();
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("test-key-1".to_owned());
    let tokens = (0..2_000)
        .map(|subject| {
            let token = jsonwebtoken::encode(&header, &claims(subject), &rs256);
            format!("Bearer {}", token.unwrap())
        })
        .collect();
    let authenticator = Authenticator::new(&AuthSettings {
        jwks_file: Some(path.clone()),
        hs256_secret: None,
        ..settings
    })
    .unwrap();
    compare("RS256", &authenticator, tokens);
    let _ = std::fs::remove_file(path);
}
