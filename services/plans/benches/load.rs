//! `ListAssignments` of a unit under load, over real gRPC, against pgbench running the very same
//! SQL on the same Postgres in the same run (docs/benchmarks.md): the plans service asks the
//! units service over loopback gRPC who the unit's ancestors are (`ListUnitAncestors`: the
//! unit's lifetime, the unit on that day, its ancestry), then reads the page of assignments.
//! Both schemas live in one database, as under `fazhi dev`, so one pgbench script runs all four
//! statements. Run: `cargo bench -p fazhi-plans --bench load` (needs the test Postgres and
//! `pgbench`, see docs/testing.md); `FAZHI_LOAD_SECONDS` (10) and `FAZHI_LOAD_CLIENTS` (16).

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use fazhi_platform::auth::Role;
use fazhi_platform::server::GrpcServer;
use fazhi_proto::plans::v1 as pb;
use fazhi_proto::plans::v1::plans_service_client::PlansServiceClient;
use fazhi_testkit::load::{LoadSettings, Rpc, channels, compare, pgbench, pgbench_statement};
use fazhi_testkit::{TestDatabase, TestServer, bearer, with_token};
use tonic::transport::Channel;

/// 宁国市司法局: 52 assignments in the 宁国市 plan.
const UNIT: &str = "ng-sfj";
const PAGE_SIZE: i32 = 50;

#[tokio::main]
async fn main() {
    let load = LoadSettings::from_env();
    let database = TestDatabase::migrated(fazhi_units::store::SCHEMA, &fazhi_units::MIGRATOR).await;
    database
        .add_schema(fazhi_plans::store::SCHEMA, &fazhi_plans::MIGRATOR)
        .await;
    let role_pool = async |schema: &str| {
        fazhi_platform::db::connect_as_role(
            &fazhi_platform::settings::DatabaseSettings {
                max_connections: load.clients as u32,
                ..database.settings()
            },
            "fazhi-bench",
            &fazhi_platform::db::runtime_role(schema),
        )
        .await
        .unwrap()
    };
    let units_pool = role_pool(fazhi_units::store::SCHEMA).await;
    let plans_pool = role_pool(fazhi_plans::store::SCHEMA).await;
    let settings = fazhi_testkit::server_settings();
    let evidence = tempfile::tempdir().unwrap();
    let (listener, endpoint) = TestServer::listener().await;
    let plans = fazhi_plans::mount(fazhi_platform::service::Environment {
        settings: &fazhi_platform::settings::Settings {
            server: settings.clone(),
            ..Default::default()
        },
        service_settings: fazhi_plans::PlansSettings {
            clients: fazhi_plans::settings::ClientSettings {
                units_endpoint: endpoint,
                units_token: None,
            },
            evidence: fazhi_plans::settings::EvidenceSettings {
                directory: evidence.path().to_owned(),
            },
        },
        pool: plans_pool.clone(),
        authenticator: fazhi_testkit::authenticator(),
    })
    .unwrap()
    .service;
    let server = GrpcServer::new()
        .add_database_service(
            fazhi_units::grpc_service(
                fazhi_units::Store::new(units_pool.clone()),
                fazhi_testkit::authenticator(),
                &settings,
            ),
            units_pool,
        )
        .await
        .add_database_service(plans, plans_pool)
        .await;
    let server = TestServer::start_on(listener, server, settings).await;
    let admin = bearer("admin", None, &[Role::Admin]);
    fazhi_testkit::demo::import_registries(&server.channel, &admin).await;
    let mut client = PlansServiceClient::new(server.channel.clone());
    let plan = client
        .import_plan(with_token(
            pb::ImportPlanRequest {
                issuer: "units/ningguo".to_owned(),
                content: fazhi_testkit::demo::plan_text("ningguo-2024.txt").into_bytes(),
                ..Default::default()
            },
            &admin,
        ))
        .await
        .unwrap()
        .into_inner()
        .plan
        .unwrap();
    client
        .publish_plan(with_token(
            pb::PublishPlanRequest {
                name: plan.name,
                etag: plan.etag,
                publish_date: "2024-02-08".to_owned(),
                ..Default::default()
            },
            &admin,
        ))
        .await
        .unwrap();
    sqlx::query("ANALYZE")
        .execute(&database.admin_pool)
        .await
        .unwrap();

    let clients: Vec<_> = channels(server.address, load.clients)
        .await
        .into_iter()
        .map(PlansServiceClient::new)
        .collect();
    let token: Arc<str> = Arc::from(bearer("staff", Some(UNIT), &[Role::UnitStaff]));
    let request = pb::ListAssignmentsRequest {
        unit: format!("units/{UNIT}"),
        page_size: PAGE_SIZE,
        ..Default::default()
    };
    let day = chrono::Utc::now().date_naive().to_string();
    let script = pgbench_statement(fazhi_units::store::LIFETIME_SQL, &[":id"])
        + &pgbench_statement(
            &fazhi_units::store::unit_on_day_sql(),
            &[":day::date", ":id"],
        )
        + &pgbench_statement(&fazhi_units::store::ancestry_sql(), &[":day::date", ":id"])
        + &pgbench_statement(
            &fazhi_plans::store::list_assignments_sql(),
            &[
                "NULL",
                ":id",
                "NULL",
                "NULL",
                "NULL",
                "NULL",
                &(PAGE_SIZE + 1).to_string(),
                "NULL",
            ],
        );
    let defines = [("id", UNIT), ("day", day.as_str())];
    let sql = || pgbench(&database.url, &script, &defines, load.length, load.clients);
    let call = {
        let (token, message) = (Arc::clone(&token), request.clone());
        move |mut client: PlansServiceClient<Channel>| {
            let (token, message) = (Arc::clone(&token), message.clone());
            async move {
                client
                    .list_assignments(with_token(message, &token))
                    .await
                    .unwrap();
            }
        }
    };
    let rpc = Rpc {
        method: "/fazhi.plans.v1.PlansService/ListAssignments",
        token: &token,
        message: &request,
    };
    let name = format!("ListAssignments of a unit (page of {PAGE_SIZE})");
    compare(&name, load, sql, server.address, &clients, rpc, call).await;
}
