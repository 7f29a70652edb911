//! What the benches need: the units and indicators services on one loopback server, each on a
//! fresh database, with a generated province registered; the evaluation catalogue and its
//! values (the assessment service's gathering bench includes this module too). Each bench uses
//! part of it.
#![allow(dead_code)]

use std::fmt::Write;

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

pub const ELEMENTS: usize = 10;
pub const YEARS: [i32; 2] = [2023, 2024];

/// 10 elements; 5 ratios (e1/e0 … e9/e8) and 5 counts (e0, e2 … e8); for each indicator an
/// absolute target, a trend, and a second threshold: 30 targets.
pub fn catalogue() -> String {
    let mut yaml = String::from("data_elements:\n");
    for element in 0..ELEMENTS {
        writeln!(yaml, "  - {{id: e{element}, code: e{element}, display_name: 数据项{element}, value_type: count, period_type: year}}").unwrap();
    }
    yaml.push_str("indicators:\n");
    for pair in 0..ELEMENTS / 2 {
        let (denominator, numerator) = (2 * pair, 2 * pair + 1);
        writeln!(yaml, "  - {{id: r{pair}, code: r{pair}, display_name: 比率{pair}, formula: e{numerator} / e{denominator}, factor: 100, unit_of_measure: \"%\", direction: higher_is_better}}").unwrap();
        writeln!(yaml, "  - {{id: c{pair}, code: c{pair}, display_name: 次数{pair}, formula: e{denominator}, direction: lower_is_better}}").unwrap();
    }
    yaml.push_str("targets:\n");
    for pair in 0..ELEMENTS / 2 {
        for (indicator, first, second) in
            [(format!("r{pair}"), 50, 100), (format!("c{pair}"), 40, 10)]
        {
            writeln!(yaml, "  - {{id: {indicator}-a, display_name: {indicator} ≥ {first}, indicator: {indicator}, owner_unit: p, kind: {{absolute: {{comparator: greater_or_equal, value: {first}}}}}}}").unwrap();
            writeln!(yaml, "  - {{id: {indicator}-b, display_name: {indicator} = {second}, indicator: {indicator}, owner_unit: p, kind: {{absolute: {{comparator: less_or_equal, value: {second}}}}}}}").unwrap();
            writeln!(yaml, "  - {{id: {indicator}-t, display_name: {indicator} 趋势, indicator: {indicator}, owner_unit: p, kind: trend}}").unwrap();
        }
    }
    yaml
}

pub fn units(province: &Province) -> Vec<String> {
    let (registry, _) = province.registry_yaml();
    registry
        .lines()
        .filter_map(|line| line.strip_prefix("  - {id: "))
        .filter_map(|rest| rest.split(',').next())
        .filter(|id| !["townships", "government-departments"].contains(id))
        .map(str::to_owned)
        .collect()
}

/// Every unit of `province` reports every element for both years, approved: `COPY`, for the
/// set-up only. Answers how many values.
pub async fn approve_values(bench: &Bench, province: &Province) -> usize {
    let all_units = units(province);
    let mut text = String::new();
    let mut count = 0;
    for (index, unit) in all_units.iter().enumerate() {
        for year in YEARS {
            for element in 0..ELEMENTS {
                let value = (index * 7 + element * 13 + year as usize) % 60;
                writeln!(text, "v-{unit}-{year}-{element}\te{element}\t{unit}\t{year}\t{year}-01-01\t{year}-12-31\t\t{value}\t\tapproved\tapproved\tbench").unwrap();
                count += 1;
            }
        }
    }
    let mut connection = bench.database.admin_pool.acquire().await.unwrap();
    sqlx::query("SET statement_timeout = 0")
        .execute(&mut *connection)
        .await
        .unwrap();
    let mut copy = connection
        .copy_in_raw(
            "COPY indicators.data_values (id, data_element_id, unit_id, period, period_start, period_end,
                 category_option, value, comment, state, action, update_subject) FROM STDIN",
        )
        .await
        .unwrap();
    copy.send(text.as_bytes()).await.unwrap();
    copy.finish().await.unwrap();
    sqlx::query("VACUUM ANALYZE indicators.data_values")
        .execute(&mut *connection)
        .await
        .unwrap();
    drop(connection);
    count
}
