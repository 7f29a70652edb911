//! The web console (法治政府建设工作台, `console/`): its built assets (`console/dist`, committed)
//! served under `/console/`, and the settings the page reads at `/console/config.json` — the
//! demo identities under `fazhi dev`, the identity provider otherwise. The console itself calls
//! the same public API as any other client, through this gateway.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::Serialize;

#[derive(rust_embed::Embed)]
#[folder = "../../console/dist"]
struct Assets;

/// What the console is told at `/console/config.json`.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsoleConfig {
    /// Identities to sign in as with one click (`fazhi dev` only: each carries its token).
    pub demo_identities: Vec<DemoIdentity>,
    /// The identity provider for authorization code with PKCE.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oidc: Option<ConsoleOidc>,
}

/// A ready-made identity of `fazhi dev`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DemoIdentity {
    /// 宁国市司法局 工作人员
    pub label: String,
    pub roles: Vec<String>,
    /// `units/{unit}`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    pub token: String,
}

/// The console's OIDC client at the identity provider.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsoleOidc {
    /// The issuer URL (its `/.well-known/openid-configuration` is read).
    pub authority: String,
    /// A public client (no secret), with `<gateway>/console/callback` as a redirect URI.
    pub client_id: String,
    pub scope: String,
    /// Where the access token carries the unit and the roles (`auth.unit_claim`, `roles_claim`).
    pub unit_claim: String,
    pub roles_claim: String,
}

/// The console's routes, each answering without a token (the page signs in, then calls the API
/// with one).
pub fn routes(config: ConsoleConfig) -> Router {
    let policy = content_security_policy(config.oidc.as_ref());
    Router::new()
        .route(
            "/console",
            get(|| async { Redirect::permanent("/console/") }),
        )
        .route("/console/", get(index))
        .route("/console/config.json", get(settings))
        .route("/console/{*path}", get(asset))
        .with_state(std::sync::Arc::new((config, policy)))
}

type Shared = std::sync::Arc<(ConsoleConfig, HeaderValue)>;

async fn settings(State(shared): State<Shared>) -> Response {
    (
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        axum::Json(shared.0.clone()),
    )
        .into_response()
}

async fn index(State(shared): State<Shared>) -> Response {
    page(&shared.1)
}

/// A built file, or the page itself for the console's own paths (`/console/plans/p-1`), which
/// its router resolves in the browser.
async fn asset(State(shared): State<Shared>, Path(path): Path<String>) -> Response {
    let Some(file) = Assets::get(&path) else {
        if path.starts_with("assets/") {
            return StatusCode::NOT_FOUND.into_response();
        }
        return page(&shared.1);
    };
    let content_type = HeaderValue::from_str(file.metadata.mimetype())
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    // Built names carry a content hash: they never change.
    let cache = if path.starts_with("assets/") {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
        ],
        file.data.into_owned(),
    )
        .into_response()
}

fn page(policy: &HeaderValue) -> Response {
    let Some(file) = Assets::get("index.html") else {
        return (
            StatusCode::NOT_FOUND,
            "the console is not built: console/dist",
        )
            .into_response();
    };
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (header::CONTENT_SECURITY_POLICY, policy.clone()),
            (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
        ],
        file.data.into_owned(),
    )
        .into_response()
}

/// Scripts from here only; calls to here and to the identity provider; the component library
/// sets inline styles.
fn content_security_policy(oidc: Option<&ConsoleOidc>) -> HeaderValue {
    let provider = oidc
        .and_then(|oidc| url::Url::parse(&oidc.authority).ok())
        .map(|url| format!(" {}", url.origin().ascii_serialization()))
        .unwrap_or_default();
    HeaderValue::from_str(&format!(
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
         img-src 'self' data:; font-src 'self' data:; connect-src 'self'{provider}; \
         frame-ancestors 'none'; base-uri 'self'; form-action 'self'{provider}"
    ))
    .unwrap_or(HeaderValue::from_static("default-src 'self'"))
}
