//! What both benches need: the units and indicators services on one loopback server, each on a
//! fresh database, with a generated province registered.

use fazhi_platform::auth::Role;
use fazhi_platform::server::GrpcServer;
use fazhi_proto::units::v1 as units;
use fazhi_testkit::demo::Province;
use fazhi_testkit::{TestDatabase, TestServer, bearer, with_token};

pub struct Bench {
    pub _units_database: TestDatabase,
    pub database: TestDatabase,
    pub server: TestServer,
    pub admin: String,
    pub unit_count: usize,
}

/// Starts both services and registers `province`.
pub async fn start(province: Province) -> Bench {
    let units_database =
        TestDatabase::migrated(fazhi_units::store::SCHEMA, &fazhi_units::MIGRATOR).await;
    let database =
        TestDatabase::migrated(fazhi_indicators::store::SCHEMA, &fazhi_indicators::MIGRATOR).await;
    let settings = fazhi_testkit::server_settings();
    let (listener, endpoint) = TestServer::listener().await;
    let server = GrpcServer::new()
        .add_service(fazhi_units::grpc_service(
            fazhi_units::Store::new(units_database.pool.clone()),
            fazhi_testkit::authenticator(),
            &settings,
        ))
        .await
        .add_service(
            fazhi_indicators::mount(fazhi_platform::service::Environment {
                settings: &fazhi_platform::settings::Settings {
                    server: settings.clone(),
                    ..Default::default()
                },
                service_settings: fazhi_indicators::IndicatorsSettings {
                    clients: fazhi_indicators::settings::ClientSettings {
                        units_endpoint: endpoint,
                        ..Default::default()
                    },
                    ..Default::default()
                },
                pool: database.pool.clone(),
                authenticator: fazhi_testkit::authenticator(),
            })
            .unwrap()
            .service,
        )
        .await;
    let server = TestServer::start_on(listener, server, settings).await;
    let admin = bearer("admin", None, &[Role::Admin]);
    let (registry, unit_count) = province.registry_yaml();
    units::units_service_client::UnitsServiceClient::new(server.channel.clone())
        .max_decoding_message_size(64 << 20)
        .import_units(with_token(
            units::ImportUnitsRequest {
                format: units::RegistryFormat::Yaml as i32,
                content: registry.into_bytes(),
                ..Default::default()
            },
            &admin,
        ))
        .await
        .unwrap();
    Bench {
        _units_database: units_database,
        database,
        server,
        admin,
        unit_count,
    }
}
