//! `fazhi dev`: the whole system in one process, for a laptop or a demo.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use fazhi_plans::PlansSettings;
use fazhi_platform::audit::AuditKey;
use fazhi_platform::auth::{Authenticator, Role, issue_dev_token};
use fazhi_platform::call::{CallContext, Credentials};
use fazhi_platform::server::{GrpcServer, shutdown_signal};
use fazhi_platform::service::Environment;
use fazhi_platform::settings::{
    AuthSettings, LogFormat, NoServiceSettings, ServiceSettings, Settings,
};
use sqlx::PgPool;

use crate::local_postgres::LocalPostgres;

/// The HS256 secret `fazhi dev` and `fazhi token` use when none is configured. Dev only: the dev
/// server listens on loopback.
const DEV_SECRET: &str = "fazhi-dev-secret-not-for-production";

/// The demo registries: the issuers of the fixture plans, their units, and the standard groups.
pub const DEMO_REGISTRIES: [(&str, &str); 4] = [
    (
        "groups",
        include_str!("../../../services/units/registry/groups.yaml"),
    ),
    (
        "tongliao",
        include_str!("../../../services/units/registry/tongliao.yaml"),
    ),
    (
        "ningguo",
        include_str!("../../../services/units/registry/ningguo.yaml"),
    ),
    (
        "xuchang",
        include_str!("../../../services/units/registry/xuchang.yaml"),
    ),
];

#[derive(clap::Args)]
pub struct DevArgs {
    /// Where the throwaway cluster keeps its data (emptied at start).
    #[arg(long, default_value = "target/fazhi-dev/pgdata")]
    data_dir: PathBuf,
}

/// Where a developer's NATS server answers (with JetStream: `nats-server -js`).
const LOCAL_NATS: &str = "127.0.0.1:4222";

/// Relays events to the NATS server on [`LOCAL_NATS`] when one answers and `events.nats_url` is
/// not set, keeping them a week there; says where events go.
async fn use_local_nats(settings: &mut Settings) -> String {
    let prefix = settings.events.subject_prefix.clone();
    let subjects = format!("subjects {prefix}.<context>.<event_type>");
    if settings.events.nats_url.is_some() {
        return format!("relayed to the NATS of events.nats_url, {subjects}");
    }
    let answers = tokio::time::timeout(
        Duration::from_millis(500),
        tokio::net::TcpStream::connect(LOCAL_NATS),
    )
    .await
    .is_ok_and(|connected| connected.is_ok());
    if !answers {
        return format!(
            "kept in each outbox for WatchEvents (no NATS answers on {LOCAL_NATS}; set events.nats_url to relay them)"
        );
    }
    settings.events.nats_url = Some(format!("nats://{LOCAL_NATS}").into());
    settings.events.stream_max_age_days = 7;
    format!("relayed to NATS JetStream at nats://{LOCAL_NATS}, {subjects}, kept 7 days")
}

/// Fills in the dev secret when no key is configured.
pub fn with_dev_secret(mut settings: Settings) -> Settings {
    if settings.auth.hs256_secret.is_none() && settings.auth.jwks_file.is_none() {
        settings.auth.hs256_secret = Some(DEV_SECRET.into());
    }
    settings
}

/// The demo plans: the issuer and the text of each real plan.
const DEMO_PLANS: [(&str, &str); 3] = [
    ("ningguo", include_str!("../demo/plans/ningguo-2024.txt")),
    ("tongliao", include_str!("../demo/plans/tongliao-2020.txt")),
    (
        "xuchang",
        include_str!("../demo/plans/xuchang-2022-2025.txt"),
    ),
];

/// Every service's schema and the migrations that make it.
pub const SCHEMAS: [(&str, &sqlx::migrate::Migrator); 4] = [
    (fazhi_units::store::SCHEMA, &fazhi_units::MIGRATOR),
    (fazhi_plans::store::SCHEMA, &fazhi_plans::MIGRATOR),
    (fazhi_indicators::store::SCHEMA, &fazhi_indicators::MIGRATOR),
    (fazhi_assessment::store::SCHEMA, &fazhi_assessment::MIGRATOR),
];

/// Applies every service's migrations (`pool`: each schema's owner, or one role owning all).
pub async fn migrate_all(pool: &PgPool) -> anyhow::Result<()> {
    for (schema, migrator) in SCHEMAS {
        fazhi_platform::db::migrate(pool, schema, migrator).await?;
    }
    Ok(())
}

/// As a deployment runs them, from one administrator's login: each service's roles and schema
/// made, its migrations run as the schema's owner, and a pool per service acting as its runtime
/// role, which reaches its own schema only (`docs/architecture.md`). Units' pool first.
async fn service_pools(
    settings: &fazhi_platform::settings::DatabaseSettings,
    admin: &PgPool,
) -> anyhow::Result<Vec<PgPool>> {
    use fazhi_platform::db;
    let mut pools = Vec::with_capacity(SCHEMAS.len());
    for (schema, migrator) in SCHEMAS {
        db::provision(admin, schema).await?;
        let owner = db::connect_as_role(settings, "fazhi-dev-migrate", &db::owner_role(schema))
            .await
            .context("the dev database login must be able to SET ROLE (a superuser)")?;
        db::migrate(&owner, schema, migrator).await?;
        owner.close().await;
        pools.push(
            db::connect_as_role(
                settings,
                &format!("fazhi-{schema}"),
                &db::runtime_role(schema),
            )
            .await?,
        );
    }
    Ok(pools)
}

/// Imports and publishes the demo plans through the running server, as an operator would; a
/// request id per call makes a restart on the same database replay instead of doing it twice.
/// Answers the names of the plans.
async fn import_demo_plans(
    channel: tonic::transport::Channel,
    admin_token: String,
) -> anyhow::Result<Vec<String>> {
    use fazhi_proto::plans::v1 as pb;
    let mut plans = pb::plans_service_client::PlansServiceClient::new(channel);
    let mut tongliao = String::new();
    let mut names = Vec::new();
    for (issuer, text) in DEMO_PLANS {
        let mut request = tonic::Request::new(pb::ImportPlanRequest {
            issuer: format!("units/{issuer}"),
            content: text.as_bytes().to_vec(),
            request_id: format!("fazhi-dev-demo-plan-{issuer}"),
            validate_only: false,
            parent_plan: String::new(),
        });
        request
            .metadata_mut()
            .insert("authorization", format!("Bearer {admin_token}").parse()?);
        let response = plans.import_plan(request).await?.into_inner();
        let (plan, report) = (
            response.plan.unwrap_or_default(),
            response.report.unwrap_or_default(),
        );
        let mut publish = tonic::Request::new(pb::PublishPlanRequest {
            name: plan.name.clone(),
            etag: String::new(),
            request_id: format!("fazhi-dev-demo-publish-{issuer}"),
            publish_date: String::new(),
        });
        publish
            .metadata_mut()
            .insert("authorization", format!("Bearer {admin_token}").parse()?);
        let published = plans.publish_plan(publish).await?.into_inner();
        if issuer == "tongliao" {
            tongliao.clone_from(&plan.name);
        }
        names.push(plan.name.clone());
        println!(
            "  demo plan       {} ({}): {} tasks, {}/{} unit mentions resolved, published with {} assignments",
            plan.title,
            plan.name,
            report.task_count,
            report.resolved_mention_count,
            report.mention_count,
            published.assignment_count
        );
    }
    // 对标对表: 科尔沁区 answers the city's plan with a draft of its own.
    let mut cascade = tonic::Request::new(pb::CascadePlanRequest {
        parent_plan: tongliao,
        issuer: "units/tl-keqq".to_owned(),
        title: String::new(),
        request_id: "fazhi-dev-demo-cascade-tl-keqq".to_owned(),
    });
    cascade
        .metadata_mut()
        .insert("authorization", format!("Bearer {admin_token}").parse()?);
    let child = plans.cascade_plan(cascade).await?.into_inner();
    let (plan, report) = (
        child.plan.unwrap_or_default(),
        child.report.unwrap_or_default(),
    );
    println!(
        "  demo plan       {} ({}): cascaded from the 通辽 plan as a draft, {}/{} unit mentions resolved",
        plan.title, plan.name, report.resolved_mention_count, report.mention_count
    );
    Ok(names)
}

/// Proposes the targets each demo plan states against the demo catalogue, as a coordinator
/// would once both are in.
async fn propose_demo_targets(
    channel: tonic::transport::Channel,
    admin_token: &str,
    plans: &[String],
) -> anyhow::Result<()> {
    use fazhi_proto::indicators::v1 as pb;
    let mut indicators = pb::indicators_service_client::IndicatorsServiceClient::new(channel);
    for plan in plans {
        let mut request = tonic::Request::new(pb::ProposeTargetsRequest {
            plan: plan.clone(),
            request_id: format!("fazhi-dev-demo-propose-{plan}"),
        });
        request
            .metadata_mut()
            .insert("authorization", format!("Bearer {admin_token}").parse()?);
        let proposed = indicators.propose_targets(request).await?.into_inner();
        println!(
            "  proposed targets {plan}: {}, {} typed without editing (ListProposedTargets)",
            proposed.proposed_targets.len(),
            proposed.suggested_count
        );
    }
    Ok(())
}

async fn load_demo_registries(pool: &PgPool, audit_key: AuditKey) -> anyhow::Result<()> {
    let store = fazhi_units::Store::new(pool.clone()).with_audit_key(audit_key);
    let registry = fazhi_units::UnitRegistry::new(store);
    let context = CallContext::system("fazhi dev: load demo registry", Credentials::default());
    for (name, content) in DEMO_REGISTRIES {
        registry
            .import(
                &context,
                fazhi_units::registry_file::Format::Yaml,
                content.as_bytes(),
                false,
            )
            .await
            .map_err(|error| anyhow::anyhow!("demo registry {name}: {error}"))?;
    }
    Ok(())
}

pub async fn run(
    (settings, mut plans_settings): (Settings, PlansSettings),
    args: DevArgs,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut settings = with_dev_secret(settings);
    settings.auth.development = true;
    if std::env::var_os("FAZHI__TELEMETRY__LOG_FORMAT").is_none() {
        settings.telemetry.log_format = LogFormat::Pretty;
    }
    let _telemetry = fazhi_platform::telemetry::init(&settings.telemetry, "fazhi-dev")?;
    let events = use_local_nats(&mut settings).await;
    // From here on Ctrl-C stops the server and the throwaway cluster with it.
    let shutdown = shutdown_signal();
    // First, before a database is made for nothing: the port may be taken.
    let address = settings.server.listen_address;
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {address} (server.listen_address): choose another with \
             FAZHI__SERVER__LISTEN_ADDRESS=127.0.0.1:{}",
                address.port().wrapping_add(1)
            )
        })?;
    // Kept alive until the server stops; dropping it stops the cluster.
    let mut cluster = None;
    if settings.database.url.is_none() {
        // Evidence goes with the throwaway database, next to it.
        plans_settings.evidence.directory = args.data_dir.with_file_name("evidence");
        let local =
            tokio::task::spawn_blocking(move || LocalPostgres::start(&args.data_dir)).await??;
        settings.database.url = Some(local.url.clone().into());
        cluster = Some(local);
    }
    settings.validate()?;
    plans_settings.validate()?;
    let pool = fazhi_platform::db::connect(&settings.database, "fazhi-dev")
        .await
        .context("cannot connect to the database")?;
    let [units_pool, plans_pool, indicators_pool, assessment_pool]: [PgPool; 4] =
        service_pools(&settings.database, &pool)
            .await?
            .try_into()
            .map_err(|_| anyhow::anyhow!("one pool per service"))?;
    pool.close().await;
    let audit_key = AuditKey::from_settings(settings.database.audit_key.as_ref());
    load_demo_registries(&units_pool, audit_key).await?;

    let authenticator = Authenticator::connect(&settings.auth).await?;
    let address = listener.local_addr()?;
    let endpoint = format!("http://{address}");
    // The plans and indicators services call the units service through this very server, each
    // with a token of its own for its background work (following reorganisations, chasing
    // overdue returns).
    let service_token = |subject: &str| {
        issue_dev_token(
            &settings.auth,
            subject,
            None,
            &[Role::Admin],
            Duration::from_secs(30 * 24 * 3600),
        )
        .map(Into::into)
    };
    plans_settings.clients.units_endpoint.clone_from(&endpoint);
    plans_settings.clients.units_token = Some(service_token("fazhi-plans")?);
    let units = fazhi_units::mount(Environment {
        settings: &settings,
        service_settings: NoServiceSettings {},
        pool: units_pool.clone(),
        authenticator: authenticator.clone(),
    });
    let plans = fazhi_plans::mount(Environment {
        settings: &settings,
        service_settings: plans_settings,
        pool: plans_pool.clone(),
        authenticator: authenticator.clone(),
    })?;
    let indicators = fazhi_indicators::mount(Environment {
        settings: &settings,
        service_settings: fazhi_indicators::IndicatorsSettings {
            clients: fazhi_indicators::settings::ClientSettings {
                units_endpoint: endpoint.clone(),
                plans_endpoint: endpoint.clone(),
                units_token: Some(service_token("fazhi-indicators")?),
            },
            ..Default::default()
        },
        pool: indicators_pool.clone(),
        authenticator: authenticator.clone(),
    })?;
    let assessment = fazhi_assessment::mount(Environment {
        settings: &settings,
        service_settings: fazhi_assessment::AssessmentSettings {
            clients: fazhi_assessment::settings::ClientSettings {
                units_endpoint: endpoint.clone(),
                plans_endpoint: endpoint.clone(),
                indicators_endpoint: endpoint.clone(),
                service_token: Some(service_token("fazhi-assessment")?),
            },
            ..Default::default()
        },
        pool: assessment_pool.clone(),
        authenticator: authenticator.clone(),
    })?;
    for task in units
        .background
        .into_iter()
        .chain(plans.background)
        .chain(indicators.background)
        .chain(assessment.background)
    {
        tokio::spawn(task);
    }
    for (schema, pool) in [
        (fazhi_units::SPEC.schema, &units_pool),
        (fazhi_plans::SPEC.schema, &plans_pool),
        (fazhi_indicators::SPEC.schema, &indicators_pool),
        (fazhi_assessment::SPEC.schema, &assessment_pool),
    ] {
        tokio::spawn(fazhi_platform::service::housekeeping(
            pool.clone(),
            schema,
            settings.database.request_id_retention(),
        ));
    }
    let server = GrpcServer::new()
        .add_database_service(units.service, units_pool.clone())
        .await
        .add_database_service(plans.service, plans_pool.clone())
        .await
        .add_database_service(indicators.service, indicators_pool.clone())
        .await
        .add_database_service(assessment.service, assessment_pool.clone())
        .await;
    let admin = issue_dev_token(
        &settings.auth,
        "dev-admin",
        None,
        &[Role::Admin],
        Duration::from_secs(3600),
    )?;
    let gateway = serve_gateway(
        address,
        &endpoint,
        authenticator,
        console_identities(&settings.auth)?,
    )
    .await?;
    print_banner(
        &settings,
        (address, gateway),
        (cluster.as_ref(), &events),
        started.elapsed(),
    )?;
    // The plans and the indicators go in through the server itself, once it listens.
    let auth = settings.auth.clone();
    tokio::spawn(async move {
        let channel = match tonic::transport::Endpoint::from_shared(endpoint) {
            Ok(endpoint) => endpoint.connect_lazy(),
            Err(error) => return tracing::error!(%error, "demo data not loaded"),
        };
        let plans = import_demo_plans(channel.clone(), admin.clone())
            .await
            .unwrap_or_else(|error| {
                tracing::error!(%error, "demo plans not imported");
                Vec::new()
            });
        if let Err(error) = crate::indicators::load_demo(channel.clone(), &auth, &admin).await {
            tracing::error!(%error, "demo indicators not loaded");
        }
        if let Err(error) = propose_demo_targets(channel.clone(), &admin, &plans).await {
            tracing::error!(%error, "demo targets not proposed");
        }
        // The schemes' task criteria read 宁国市's and 通辽市's plans, the first two demo plans.
        match (plans.first(), plans.get(1)) {
            (Some(ningguo_plan), Some(tongliao_plan)) => {
                if let Err(error) =
                    crate::assessment::load_demo(channel, &admin, (ningguo_plan, tongliao_plan))
                        .await
                {
                    tracing::error!(%error, "demo assessment not run");
                }
            }
            _ => tracing::error!("demo plans missing: demo assessment not run"),
        }
    });
    let served = server.serve(&settings.server, listener, shutdown).await;
    units_pool.close().await;
    plans_pool.close().await;
    indicators_pool.close().await;
    assessment_pool.close().await;
    drop(cluster);
    served?;
    Ok(())
}

/// Serves the HTTP gateway in front of the gRPC server, on the next port when it is free or
/// else on one the system picks; answers where it listens.
async fn serve_gateway(
    grpc: std::net::SocketAddr,
    endpoint: &str,
    authenticator: Authenticator,
    console: fazhi_gateway::ConsoleConfig,
) -> anyhow::Result<std::net::SocketAddr> {
    let next = std::net::SocketAddr::new(grpc.ip(), grpc.port().wrapping_add(1));
    let listener = match tokio::net::TcpListener::bind(next).await {
        Ok(listener) => listener,
        Err(_) => tokio::net::TcpListener::bind((grpc.ip(), 0)).await?,
    };
    let address = listener.local_addr()?;
    let channel = tonic::transport::Endpoint::from_shared(endpoint.to_owned())?.connect_lazy();
    let policy = fazhi_gateway::EdgePolicy {
        // A console's dev server (Vite) may call it from the browser.
        cors_origins: vec![
            axum::http::HeaderValue::from_static("http://localhost:5173"),
            axum::http::HeaderValue::from_static("http://127.0.0.1:5173"),
        ],
        // One developer, a console and the test suite's clients all share a few identities.
        requests_per_second: 1_000,
        burst: 2_000,
    };
    let router =
        fazhi_gateway::Gateway::new(fazhi_gateway::Upstreams::single(channel), authenticator)?
            .with_console(console)
            .router(&policy);
    tokio::spawn(async move {
        let service = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
        if let Err(error) = axum::serve(listener, service).await {
            tracing::error!(%error, "the HTTP gateway stopped");
        }
    });
    Ok(address)
}

/// Who a developer signs in as (the first three printed with their tokens; all offered by the
/// console): a label, the token's subject, unit and role.
const DEMO_IDENTITIES: [(&str, &str, Option<&str>, Role); 4] = [
    ("系统管理员", "dev-admin", None, Role::Admin),
    (
        "宁国市人民政府 协调员（依法治市办）",
        "ningguo-coordinator",
        Some("ningguo"),
        Role::Coordinator,
    ),
    (
        "宁国市司法局 工作人员",
        "ningguo-sfj-clerk",
        Some("ng-sfj"),
        Role::UnitStaff,
    ),
    (
        "宁国市人民政府 领导（查阅）",
        "ningguo-leader",
        Some("ningguo"),
        Role::Viewer,
    ),
];

/// A development token for each demo identity, valid 12 hours.
fn demo_tokens(auth: &AuthSettings) -> anyhow::Result<Vec<String>> {
    DEMO_IDENTITIES
        .iter()
        .map(|(_, subject, unit, role)| {
            issue_dev_token(
                auth,
                subject,
                *unit,
                &[*role],
                Duration::from_secs(12 * 3600),
            )
            .map_err(anyhow::Error::from)
        })
        .collect()
}

/// The console's one-click sign-in under `fazhi dev`.
fn console_identities(auth: &AuthSettings) -> anyhow::Result<fazhi_gateway::ConsoleConfig> {
    let tokens = demo_tokens(auth)?;
    Ok(fazhi_gateway::ConsoleConfig {
        demo_identities: DEMO_IDENTITIES
            .iter()
            .zip(tokens)
            .map(
                |((label, _, unit, role), token)| fazhi_gateway::DemoIdentity {
                    label: (*label).to_owned(),
                    roles: vec![role.as_str().to_owned()],
                    unit: unit.map(|unit| format!("units/{unit}")),
                    token,
                },
            )
            .collect(),
        oidc: None,
    })
}

fn print_banner(
    settings: &Settings,
    (address, gateway): (std::net::SocketAddr, std::net::SocketAddr),
    (cluster, events): (Option<&LocalPostgres>, &str),
    elapsed: Duration,
) -> anyhow::Result<()> {
    let tokens = demo_tokens(&settings.auth)?;
    let [admin, coordinator, staff] = [&tokens[0], &tokens[1], &tokens[2]];
    let database = match cluster {
        Some(local) => format!("{} (throwaway cluster)", local.url),
        None => "configured database.url".to_owned(),
    };
    println!(
        "\nFazhi dev is ready in {:.1} s\n\
         \n  gRPC endpoint   {address}  (grpc.health.v1, reflection v1/v1alpha)\
         \n  HTTP gateway    http://{gateway}  (Connect, JSON or protobuf: POST /fazhi.units.v1.UnitsService/GetUnit)\
         \n  services        fazhi.units.v1.UnitsService, fazhi.plans.v1.PlansService, fazhi.indicators.v1.IndicatorsService,\
         \n                  fazhi.assessment.v1.AssessmentService\
         \n  database        {database}\
         \n  events          {events}\
         \n  demo data       通辽市, 宁国市, 许昌市 registries and unit groups; their three plans, published; 科尔沁区's draft cascaded from 通辽's; an indicators catalogue from the plans' targets with 宁国市's values for 2023–2024 and 通辽市's for 2024; 宁国市's and 通辽市's assessment schemes with an annual round each\
         \n\n  tokens (valid 12 h):\
         \n    admin                              {admin}\
         \n    coordinator of 宁国市人民政府      {coordinator}\
         \n    unit staff of 宁国市司法局         {staff}\
         \n\n  try:\
         \n    buf curl --protocol grpc --http2-prior-knowledge -H \"authorization: Bearer $TOKEN\" \\\
         \n      -d '{{\"context_unit\":\"units/ningguo\",\"mentions\":[\"市司法局\",\"各乡镇、街道\"]}}' \\\
         \n      http://{address}/fazhi.units.v1.UnitsService/ResolveUnitMentions\n",
        elapsed.as_secs_f64()
    );
    Ok(())
}
