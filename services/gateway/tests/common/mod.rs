//! What the gateway's tests share: the real units service on a fresh database, and the gateway
//! in front of it over loopback HTTP.

#![allow(clippy::unwrap_used, dead_code)]

use fazhi_platform::auth::Role;
use fazhi_platform::server::GrpcServer;
use fazhi_testkit::{TestDatabase, TestServer, bearer};

pub struct Running {
    _database: TestDatabase,
    _server: TestServer,
    pub base: String,
    pub grpc_address: std::net::SocketAddr,
    pub http: reqwest::Client,
}

pub async fn start() -> Running {
    start_with(fazhi_gateway::EdgePolicy {
        cors_origins: vec![axum::http::HeaderValue::from_static(
            "http://localhost:5173",
        )],
        ..fazhi_gateway::EdgePolicy::default()
    })
    .await
}

pub async fn start_with(policy: fazhi_gateway::EdgePolicy) -> Running {
    let database = TestDatabase::migrated(fazhi_units::store::SCHEMA, &fazhi_units::MIGRATOR).await;
    let settings = fazhi_testkit::server_settings();
    let (listener, _) = TestServer::listener().await;
    let grpc = GrpcServer::new()
        .add_service(fazhi_units::grpc_service(
            fazhi_units::Store::new(database.pool.clone()),
            fazhi_testkit::authenticator(),
            &settings,
        ))
        .await;
    let server = TestServer::start_on(listener, grpc, settings).await;
    let admin = bearer("admin", None, &[Role::Admin]);
    fazhi_testkit::demo::import_registries(&server.channel, &admin).await;
    let gateway = fazhi_gateway::Gateway::new(
        fazhi_gateway::Upstreams::single(server.channel.clone()),
        fazhi_testkit::authenticator(),
    )
    .unwrap();
    let http_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", http_listener.local_addr().unwrap());
    tokio::spawn(async move {
        let service = gateway
            .router(&policy)
            .into_make_service_with_connect_info::<std::net::SocketAddr>();
        axum::serve(http_listener, service).await.unwrap();
    });
    let grpc_address = server.address;
    Running {
        _database: database,
        _server: server,
        base,
        grpc_address,
        http: reqwest::Client::new(),
    }
}
