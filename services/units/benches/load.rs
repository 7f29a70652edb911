//! The read path under load, each RPC over real gRPC against pgbench running the very same SQL
//! statements on the same Postgres in the same run (docs/benchmarks.md):
//! - `GetUnit` (the unit's lifetime, then the unit on the day shown);
//! - `ResolveUnitMentions` of a plan's responsible-unit line for 宁国市 (the unit's ancestry,
//!   everything below its government, the groups; then matching off the runtime).
//!
//! For each: closed-loop tonic clients (each its own connection), then three rounds of pgbench
//! each followed by h2load when on PATH (a C client as light on the shared CPU as pgbench), then
//! the tonic clients at half the rate reached, for latency. Run:
//! `cargo bench -p fazhi-units --bench load` (needs the test Postgres and `pgbench`, see
//! docs/testing.md); `FAZHI_LOAD_SECONDS` (10) and `FAZHI_LOAD_CLIENTS` (16).

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use fazhi_platform::auth::Role;
use fazhi_platform::server::GrpcServer;
use fazhi_proto::units::v1 as pb;
use fazhi_proto::units::v1::units_service_client::UnitsServiceClient;
use fazhi_testkit::load::{LoadSettings, Rpc, channels, compare, pgbench, pgbench_statement};
use fazhi_testkit::{TestDatabase, TestServer, bearer, with_token};
use fazhi_units::store;
use tonic::transport::Channel;

const UNIT: &str = "ng-sfj";
const CONTEXT: &str = "ningguo";
const DAY: &str = "2024-06-01";
/// A responsible-unit line as the 宁国市 plan writes it, and single departments by short name.
const MENTIONS: [&str; 6] = [
    "各乡镇、街道",
    "市政府各部门",
    "市司法局",
    "市公安局",
    "市人社局",
    "市委组织部",
];

#[tokio::main]
async fn main() {
    let load = LoadSettings::from_env();
    let database = TestDatabase::migrated(store::SCHEMA, &fazhi_units::MIGRATOR).await;
    // As many sessions as pgbench has clients.
    let pool = fazhi_platform::db::connect_as_role(
        &fazhi_platform::settings::DatabaseSettings {
            max_connections: load.clients as u32,
            ..database.settings()
        },
        "fazhi-units",
        &fazhi_platform::db::runtime_role(store::SCHEMA),
    )
    .await
    .unwrap();
    let settings = fazhi_testkit::server_settings();
    let server = GrpcServer::new()
        .add_database_service(
            fazhi_units::grpc_service(
                fazhi_units::Store::new(pool.clone()),
                fazhi_testkit::authenticator(),
                &settings,
            ),
            pool,
        )
        .await;
    let server = TestServer::start(server, settings).await;
    let admin = bearer("admin", None, &[Role::Admin]);
    fazhi_testkit::demo::import_registries(&server.channel, &admin).await;
    sqlx::query("ANALYZE")
        .execute(&database.admin_pool)
        .await
        .unwrap();
    let clients: Vec<_> = channels(server.address, load.clients)
        .await
        .into_iter()
        .map(UnitsServiceClient::new)
        .collect();
    let token: Arc<str> = Arc::from(bearer("viewer", None, &[Role::Viewer]));
    let defines = [("id", UNIT), ("context", CONTEXT), ("day", DAY)];

    let get_unit = pb::GetUnitRequest {
        name: format!("units/{UNIT}"),
        ..Default::default()
    };
    let script = pgbench_statement(store::LIFETIME_SQL, &[":id"])
        + &pgbench_statement(&store::unit_on_day_sql(), &[":day::date", ":id"]);
    let sql = || pgbench(&database.url, &script, &defines, load.length, load.clients);
    let call = {
        let (token, message) = (Arc::clone(&token), get_unit.clone());
        move |mut client: UnitsServiceClient<Channel>| {
            let (token, message) = (Arc::clone(&token), message.clone());
            async move {
                client.get_unit(with_token(message, &token)).await.unwrap();
            }
        }
    };
    let rpc = Rpc {
        method: "/fazhi.units.v1.UnitsService/GetUnit",
        token: &token,
        message: &get_unit,
    };
    compare("GetUnit", load, sql, server.address, &clients, rpc, call).await;

    let resolve = pb::ResolveUnitMentionsRequest {
        context_unit: format!("units/{CONTEXT}"),
        mentions: MENTIONS.map(str::to_owned).to_vec(),
        as_of: DAY.to_owned(),
    };
    // The unit's ancestry, then everything below its government (宁国市人民政府 is the unit itself
    // here), then every group; no keyset position, unpaged as the service reads them.
    let script = pgbench_statement(&store::ancestry_sql(), &[":day::date", ":context"])
        + &pgbench_statement(
            &store::descendants_sql(),
            &[
                ":day::date",
                ":context",
                "0",
                "NULL",
                "NULL",
                "NULL",
                "10000001",
            ],
        )
        + &pgbench_statement(&store::groups_sql(), &["NULL", "10000001"]);
    let sql = || pgbench(&database.url, &script, &defines, load.length, load.clients);
    let call = {
        let (token, message) = (Arc::clone(&token), resolve.clone());
        move |mut client: UnitsServiceClient<Channel>| {
            let (token, message) = (Arc::clone(&token), message.clone());
            async move {
                client
                    .resolve_unit_mentions(with_token(message, &token))
                    .await
                    .unwrap();
            }
        }
    };
    let rpc = Rpc {
        method: "/fazhi.units.v1.UnitsService/ResolveUnitMentions",
        token: &token,
        message: &resolve,
    };
    let name = format!("ResolveUnitMentions ({} mentions)", MENTIONS.len());
    compare(&name, load, sql, server.address, &clients, rpc, call).await;
}
