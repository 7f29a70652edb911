//! Test-only helpers shared by every service's tests: a fresh Postgres database per test, an
//! in-process gRPC server on `127.0.0.1:0`, and tokens for each role.
//!
//! The server is found through `FAZHI_TEST_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`); `scripts/test` sets it to a throwaway cluster
//! when none is running.

#![allow(clippy::unwrap_used, clippy::missing_panics_doc)]

pub mod bench;
pub mod demo;
pub mod link;
pub mod load;
pub mod replay;

use std::net::SocketAddr;
use std::time::Duration;

use fazhi_platform::auth::{Authenticator, Role, issue_dev_token};
use fazhi_platform::server::GrpcServer;
use fazhi_platform::settings::{AuthSettings, DatabaseSettings, ServerSettings};
use sqlx::{Connection, Executor, PgConnection, PgPool};

/// Databases made here start with this, so `scripts/test` can sweep leftovers.
pub const DATABASE_PREFIX: &str = "fazhi_test_";

fn admin_url() -> String {
    std::env::var("FAZHI_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A database of its own for one test; dropped (forcibly) when the value is.
pub struct TestDatabase {
    pub name: String,
    pub url: String,
    /// What a service gets: after [`TestDatabase::migrated`], sessions acting as the schema's
    /// runtime role, with its grants and no more, as `fazhi dev` and a deployment run it.
    pub pool: PgPool,
    /// The administrator's pool, for what a test does behind the service's back (tampering).
    pub admin_pool: PgPool,
}

impl TestDatabase {
    /// Creates an empty database.
    pub async fn new() -> Self {
        let admin = admin_url();
        let name = format!("{DATABASE_PREFIX}{}", uuid::Uuid::now_v7().simple());
        let mut connection = PgConnection::connect(&admin).await.unwrap_or_else(|error| {
            panic!("cannot reach the test Postgres at {admin}: {error}; run scripts/test")
        });
        connection
            .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .await
            .unwrap();
        let url = match admin.rsplit_once('/') {
            Some((server, _)) => format!("{server}/{name}"),
            None => panic!("FAZHI_TEST_DATABASE_URL needs a database path"),
        };
        let settings = database_settings(&url);
        let pool = fazhi_platform::db::connect(&settings, "fazhi-test")
            .await
            .unwrap();
        Self {
            name,
            url,
            admin_pool: pool.clone(),
            pool,
        }
    }

    /// Creates a database with a service's schema and roles (as `fazhi dev` does), runs its
    /// migrations as the schema's owner, and serves [`TestDatabase::pool`] as its runtime role.
    pub async fn migrated(schema: &'static str, migrator: &sqlx::migrate::Migrator) -> Self {
        let mut database = Self::new().await;
        database.add_schema(schema, migrator).await;
        database.pool = database
            .role_pool(&fazhi_platform::db::runtime_role(schema))
            .await;
        database
    }

    /// Provisions and migrates another service's schema in this database (its pool acting as
    /// its runtime role is [`TestDatabase::role_pool`]).
    pub async fn add_schema(&self, schema: &'static str, migrator: &sqlx::migrate::Migrator) {
        fazhi_platform::db::provision(&self.admin_pool, schema)
            .await
            .unwrap();
        let owner = self
            .role_pool(&fazhi_platform::db::owner_role(schema))
            .await;
        fazhi_platform::db::migrate(&owner, schema, migrator)
            .await
            .unwrap();
        owner.close().await;
    }

    /// A pool whose sessions act as `role`.
    pub async fn role_pool(&self, role: &str) -> PgPool {
        fazhi_platform::db::connect_as_role(&self.settings(), "fazhi-test", role)
            .await
            .unwrap()
    }

    pub fn settings(&self) -> DatabaseSettings {
        database_settings(&self.url)
    }
}

fn database_settings(url: &str) -> DatabaseSettings {
    DatabaseSettings {
        url: Some(url.into()),
        max_connections: 8,
        ..DatabaseSettings::default()
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop cannot await; a thread with its own runtime drops the database. FORCE ends the
        // pool's sessions, so the pool (bound to the test's runtime) is left alone.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                if let Ok(mut connection) = PgConnection::connect(&admin_url()).await {
                    let _ = connection
                        .execute(sqlx::AssertSqlSafe(format!(
                            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                        )))
                        .await;
                }
            });
        })
        .join();
    }
}

/// Auth settings every test server and token share.
pub fn auth_settings() -> AuthSettings {
    AuthSettings {
        hs256_secret: Some("fazhi-test-secret".into()),
        ..AuthSettings::default()
    }
}

/// An authenticator for [`auth_settings`].
pub fn authenticator() -> Authenticator {
    Authenticator::new(&auth_settings()).unwrap()
}

/// A bearer header value for a caller with these roles at this unit.
pub fn bearer(subject: &str, unit: Option<&str>, roles: &[Role]) -> String {
    let token = issue_dev_token(
        &auth_settings(),
        subject,
        unit,
        roles,
        Duration::from_secs(3600),
    )
    .unwrap();
    format!("Bearer {token}")
}

/// Server settings for tests: short timeouts, small limits.
pub fn server_settings() -> ServerSettings {
    ServerSettings {
        listen_address: SocketAddr::from(([127, 0, 0, 1], 0)),
        shutdown_grace_ms: 100,
        ..ServerSettings::default()
    }
}

/// A server running in the background on a loopback port.
pub struct TestServer {
    pub address: SocketAddr,
    pub channel: tonic::transport::Channel,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl TestServer {
    /// Serves `server` on `127.0.0.1:0` with `settings` and connects a channel to it.
    pub async fn start(server: GrpcServer, settings: ServerSettings) -> Self {
        let listener = tokio::net::TcpListener::bind(settings.listen_address)
            .await
            .unwrap();
        Self::start_on(listener, server, settings).await
    }

    /// A loopback listener and its `http://` endpoint, for services that call each other through
    /// the server they are about to be added to.
    pub async fn listener() -> (tokio::net::TcpListener, String) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        (listener, endpoint)
    }

    /// Serves `server` on a listener from [`TestServer::listener`].
    pub async fn start_on(
        listener: tokio::net::TcpListener,
        server: GrpcServer,
        settings: ServerSettings,
    ) -> Self {
        let address = listener.local_addr().unwrap();
        let (sender, receiver) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = server
                .serve(&settings, listener, async move {
                    let _ = receiver.await;
                })
                .await;
        });
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{address}"))
            .unwrap()
            .connect()
            .await
            .unwrap();
        Self {
            address,
            channel,
            shutdown: Some(sender),
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(sender) = self.shutdown.take() {
            let _ = sender.send(());
        }
    }
}

/// Adds a bearer token to a request.
pub fn with_token<T>(message: T, bearer: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", bearer.parse().unwrap());
    request
}
