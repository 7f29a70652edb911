//! The plans service over real gRPC, calling the real units service over loopback, each with a
//! fresh database.

#![allow(clippy::unwrap_used)]

use fazhi_platform::auth::Role;
use fazhi_platform::server::GrpcServer;
use fazhi_proto::plans::v1 as pb;
use fazhi_proto::plans::v1::plans_service_client::PlansServiceClient;
use fazhi_proto::units::v1 as units;
use fazhi_proto::units::v1::units_service_client::UnitsServiceClient;
use fazhi_testkit::{TestDatabase, TestServer, bearer, with_token};
use futures::StreamExt;
use tonic::Code;
use tonic::transport::Channel;

struct App {
    // Kept for the life of the test: dropping them drops the databases.
    _units_database: TestDatabase,
    plans_database: TestDatabase,
    evidence: tempfile::TempDir,
    endpoint: String,
    _server: TestServer,
    plans: PlansServiceClient<Channel>,
    admin: String,
}

impl App {
    /// The service's use cases on the test database, as the follower runs them.
    fn book(&self) -> fazhi_plans::PlanBook {
        fazhi_plans::PlanBook::new(
            fazhi_plans::Store::new(self.plans_database.pool.clone()),
            fazhi_plans::UnitsClient::new(&self.endpoint).unwrap(),
            std::sync::Arc::new(fazhi_plans::LocalBlobStore::new(std::env::temp_dir())),
        )
    }

    async fn start() -> Self {
        Self::start_at(fazhi_platform::call::Clock::System).await
    }

    /// With every call served as of `clock` ("today").
    async fn start_at(clock: fazhi_platform::call::Clock) -> Self {
        let units_database =
            TestDatabase::migrated(fazhi_units::store::SCHEMA, &fazhi_units::MIGRATOR).await;
        let plans_database =
            TestDatabase::migrated(fazhi_plans::store::SCHEMA, &fazhi_plans::MIGRATOR).await;
        let settings = fazhi_testkit::server_settings();
        let evidence = tempfile::tempdir().unwrap();
        let (listener, endpoint) = TestServer::listener().await;
        let server = GrpcServer::new()
            .with_clock(clock)
            .add_service(fazhi_units::grpc_service(
                fazhi_units::Store::new(units_database.pool.clone()),
                fazhi_testkit::authenticator(),
                &settings,
            ))
            .await
            .add_service(
                fazhi_plans::mount(fazhi_platform::service::Environment {
                    settings: &fazhi_platform::settings::Settings {
                        server: settings.clone(),
                        ..Default::default()
                    },
                    service_settings: fazhi_plans::PlansSettings {
                        clients: fazhi_plans::settings::ClientSettings {
                            units_endpoint: endpoint.clone(),
                            units_token: None,
                        },
                        evidence: fazhi_plans::settings::EvidenceSettings {
                            directory: evidence.path().to_owned(),
                        },
                    },
                    pool: plans_database.pool.clone(),
                    authenticator: fazhi_testkit::authenticator(),
                })
                .unwrap()
                .service,
            )
            .await;
        let server = TestServer::start_on(listener, server, settings).await;
        let admin = bearer("admin", None, &[Role::Admin]);
        fazhi_testkit::demo::import_registries(&server.channel, &admin).await;
        Self {
            plans: PlansServiceClient::new(server.channel.clone()),
            _units_database: units_database,
            plans_database,
            evidence,
            endpoint,
            _server: server,
            admin,
        }
    }

    async fn import(
        &mut self,
        fixture: &str,
        issuer: &str,
        token: &str,
    ) -> Result<pb::ImportPlanResponse, tonic::Status> {
        let content = fazhi_testkit::demo::plan_text(fixture).into_bytes();
        Ok(self
            .plans
            .import_plan(with_token(
                pb::ImportPlanRequest {
                    issuer: format!("units/{issuer}"),
                    content,
                    ..Default::default()
                },
                token,
            ))
            .await?
            .into_inner())
    }

    async fn tasks(&mut self, plan: &str) -> Vec<pb::Task> {
        let mut tasks = Vec::new();
        let mut token = String::new();
        loop {
            let page = self
                .plans
                .list_tasks(with_token(
                    pb::ListTasksRequest {
                        parent: plan.to_owned(),
                        page_size: 10,
                        page_token: token,
                    },
                    &self.admin,
                ))
                .await
                .unwrap()
                .into_inner();
            tasks.extend(page.tasks);
            if page.next_page_token.is_empty() {
                return tasks;
            }
            token = page.next_page_token;
        }
    }
}

fn targets(task: &pb::Task, role: pb::AssignmentRole) -> Vec<String> {
    task.mentions
        .iter()
        .filter(|mention| mention.role == role as i32)
        .map(|mention| match &mention.target {
            Some(pb::task_mention::Target::Unit(unit)) => unit.clone(),
            Some(pb::task_mention::Target::UnitGroup(group)) => group.clone(),
            None => format!("unresolved {}", mention.mention),
        })
        .collect()
}

#[tokio::test]
async fn a_coordinator_imports_a_plan_with_every_unit_resolved() {
    let mut app = App::start().await;
    let coordinator = bearer("office", Some("ningguo"), &[Role::Coordinator]);
    let imported = app
        .import("ningguo-2024.txt", "ningguo", &coordinator)
        .await
        .unwrap();
    let plan = imported.plan.unwrap();
    let report = imported.report.unwrap();
    assert_eq!(plan.title, "宁国市政府系统依法行政能力提升行动方案");
    assert_eq!(plan.document_number, "宁政〔2024〕9号");
    assert_eq!(plan.state, pb::PlanState::Draft as i32);
    assert_eq!((plan.task_count, report.task_count), (37, 37));
    assert_eq!(
        report.resolved_mention_count, report.mention_count,
        "{:?}",
        report.warnings
    );
    println!(
        "宁国: {}/{} mentions resolved",
        report.resolved_mention_count, report.mention_count
    );

    let tasks = app.tasks(&plan.name).await;
    assert_eq!(tasks.len(), 37);
    let first = &tasks[0];
    assert_eq!(first.name, format!("{}/tasks/t1", plan.name));
    assert_eq!(
        (first.part_title.as_str(), first.section_title.as_str()),
        ("主要任务", "实施主体能力提升行动")
    );
    assert_eq!(
        targets(first, pb::AssignmentRole::Lead),
        vec!["units/ng-sfj"]
    );
    assert_eq!(
        targets(first, pb::AssignmentRole::Responsible),
        vec![
            "unitGroups/townships",
            "unitGroups/townships",
            "unitGroups/government-departments"
        ]
    );
    assert_eq!(first.targets[0].value, Some(40.0));

    let fetched = app
        .plans
        .get_plan(with_token(
            pb::GetPlanRequest {
                name: plan.name.clone(),
            },
            &coordinator,
        ))
        .await
        .unwrap()
        .into_inner()
        .plan
        .unwrap();
    assert_eq!(fetched, plan);
    let audited: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM plans.audit_log WHERE resource = $1 AND result = 'OK'",
    )
    .bind(&plan.name)
    .fetch_one(&app.plans_database.pool)
    .await
    .unwrap();
    assert_eq!(audited, 1);
}

#[tokio::test]
async fn the_three_fixtures_import_and_list() {
    let mut app = App::start().await;
    let admin = app.admin.clone();
    let mut rates = Vec::new();
    for (fixture, issuer, tasks) in [
        ("ningguo-2024.txt", "ningguo", 37),
        ("tongliao-2020.txt", "tongliao", 45),
        ("xuchang-2022-2025.txt", "xuchang", 25),
    ] {
        let report = app
            .import(fixture, issuer, &admin)
            .await
            .unwrap()
            .report
            .unwrap();
        assert_eq!(report.task_count, tasks, "{fixture}");
        assert_eq!(
            report.resolved_mention_count, report.mention_count,
            "{fixture}: {:?}",
            report.warnings
        );
        rates.push(format!(
            "{issuer} {}/{}",
            report.resolved_mention_count, report.mention_count
        ));
    }
    println!("mentions resolved: {}", rates.join(", "));
    let plans = app
        .plans
        .list_plans(with_token(pb::ListPlansRequest::default(), &admin))
        .await
        .unwrap()
        .into_inner()
        .plans;
    let issuers: Vec<&str> = plans.iter().map(|plan| plan.issuer.as_str()).collect();
    assert_eq!(
        issuers,
        vec!["units/xuchang", "units/tongliao", "units/ningguo"],
        "newest first"
    );
    let tongliao = app
        .plans
        .list_plans(with_token(
            pb::ListPlansRequest {
                issuer: "units/tongliao".to_owned(),
                ..Default::default()
            },
            &admin,
        ))
        .await
        .unwrap()
        .into_inner()
        .plans;
    assert_eq!(tongliao.len(), 1);
    let xuchang = &plans[0];
    let codes: Vec<&str> = xuchang
        .import_report
        .as_ref()
        .unwrap()
        .warnings
        .iter()
        .map(|warning| warning.code.as_str())
        .collect();
    assert_eq!(codes, vec!["NO_ASSIGNMENTS"]);
}

#[tokio::test]
async fn import_refusals() {
    let mut app = App::start().await;
    let staff = bearer("clerk", Some("ng-sfj"), &[Role::UnitStaff]);
    let other_coordinator = bearer("office", Some("tongliao"), &[Role::Coordinator]);
    for token in [&staff, &other_coordinator] {
        let error = app
            .import("ningguo-2024.txt", "ningguo", token)
            .await
            .unwrap_err();
        assert_eq!(error.code(), Code::PermissionDenied);
    }
    let error = app
        .import("ningguo-2024.txt", "nowhere", &app.admin.clone())
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::InvalidArgument);
    let error = app
        .import("ningguo-2024.txt", "ningguo", "Bearer nonsense")
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::Unauthenticated);
    let garbage = app
        .plans
        .import_plan(with_token(
            pb::ImportPlanRequest {
                issuer: "units/ningguo".to_owned(),
                content: b"PK\x03\x04broken".to_vec(),
                ..Default::default()
            },
            &app.admin.clone(),
        ))
        .await
        .unwrap_err();
    use tonic_types::StatusExt;
    let fields: Vec<String> = garbage
        .get_error_details()
        .bad_request()
        .unwrap()
        .field_violations
        .iter()
        .map(|violation| violation.field.clone())
        .collect();
    assert_eq!(fields, vec!["content"]);
    let missing = app
        .plans
        .get_plan(with_token(
            pb::GetPlanRequest {
                name: "plans/p-nothing".to_owned(),
            },
            &app.admin.clone(),
        ))
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM plans.plans")
        .fetch_one(&app.plans_database.pool)
        .await
        .unwrap();
    assert_eq!(stored, 0, "nothing half-written");
}

#[tokio::test]
async fn retries_and_events() {
    let mut app = App::start().await;
    let admin = app.admin.clone();
    let request = pb::ImportPlanRequest {
        issuer: "units/xuchang".to_owned(),
        content: fazhi_testkit::demo::plan_text("xuchang-2022-2025.txt").into_bytes(),
        request_id: "3f1e8a52-0b7c-4f8e-9d4a-1c2b3d4e5f60".to_owned(),
        ..Default::default()
    };
    let first = app
        .plans
        .import_plan(with_token(request.clone(), &admin))
        .await
        .unwrap()
        .into_inner();
    let again = app
        .plans
        .import_plan(with_token(request.clone(), &admin))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.plan, again.plan, "a retry returns the first draft");
    let checked = app
        .plans
        .import_plan(with_token(
            pb::ImportPlanRequest {
                request_id: String::new(),
                validate_only: true,
                ..request
            },
            &admin,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(checked.plan.is_none());
    assert_eq!(checked.report.unwrap().task_count, 25);

    let mut events = app
        .plans
        .watch_events(with_token(
            pb::WatchEventsRequest { after_sequence: 0 },
            &admin,
        ))
        .await
        .unwrap()
        .into_inner();
    let event = events.next().await.unwrap().unwrap().event.unwrap();
    let Some(pb::plan_event::Payload::PlanImported(imported)) = event.payload else {
        panic!("expected plan.imported");
    };
    assert_eq!(imported.plan, first.plan);
    let plans: i64 = sqlx::query_scalar("SELECT count(*) FROM plans.plans")
        .fetch_one(&app.plans_database.pool)
        .await
        .unwrap();
    assert_eq!(plans, 1, "validate_only and the retry stored nothing");
}

impl App {
    async fn publish(
        &mut self,
        plan: &str,
        token: &str,
    ) -> Result<pb::PublishPlanResponse, tonic::Status> {
        Ok(self
            .plans
            .publish_plan(with_token(
                pb::PublishPlanRequest {
                    name: plan.to_owned(),
                    publish_date: "2024-02-08".to_owned(),
                    ..Default::default()
                },
                token,
            ))
            .await?
            .into_inner())
    }

    /// 通辽 task 7 (清单 published by the end of March) is led by 政务服务局: its assignment,
    /// as that unit's staff (`token`) sees it.
    async fn task_seven_lead(&mut self, token: &str) -> pb::Assignment {
        self.assignments_of("tl-zwfwj", token)
            .await
            .unwrap()
            .into_iter()
            .find(|assignment| {
                assignment.task_number == "7" && assignment.role == pb::AssignmentRole::Lead as i32
            })
            .unwrap()
    }

    async fn assignments_of(
        &mut self,
        unit: &str,
        token: &str,
    ) -> Result<Vec<pb::Assignment>, tonic::Status> {
        let mut all = Vec::new();
        let mut page_token = String::new();
        loop {
            let page = self
                .plans
                .list_assignments(with_token(
                    pb::ListAssignmentsRequest {
                        unit: format!("units/{unit}"),
                        page_size: 7,
                        page_token,
                        ..Default::default()
                    },
                    token,
                ))
                .await?
                .into_inner();
            all.extend(page.assignments);
            if page.next_page_token.is_empty() {
                return Ok(all);
            }
            page_token = page.next_page_token;
        }
    }
}

#[tokio::test]
async fn publishing_gives_every_unit_its_own_assignments() {
    let mut app = App::start().await;
    let coordinator = bearer("office", Some("ningguo"), &[Role::Coordinator]);
    let plan = app
        .import("ningguo-2024.txt", "ningguo", &coordinator)
        .await
        .unwrap()
        .plan
        .unwrap();
    let staff = bearer("clerk", Some("ng-sfj"), &[Role::UnitStaff]);
    let refused = app.publish(&plan.name, &staff).await.unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);

    let published = app.publish(&plan.name, &coordinator).await.unwrap();
    let plan = published.plan.unwrap();
    assert_eq!(plan.state, pb::PlanState::Published as i32);
    assert_eq!(plan.publish_date, "2024-02-08");
    assert!(
        published.assignment_count > 37 * 14,
        "{}",
        published.assignment_count
    );

    // 市司法局 sees its own work: it leads task 1, and is responsible for it as a department.
    let own = app.assignments_of("ng-sfj", &staff).await.unwrap();
    let task_one: Vec<i32> = own
        .iter()
        .filter(|assignment| assignment.task_number == "1")
        .map(|assignment| assignment.role)
        .collect();
    assert_eq!(
        task_one,
        vec![
            pb::AssignmentRole::Lead as i32,
            pb::AssignmentRole::Responsible as i32
        ]
    );
    assert!(
        own.iter()
            .all(|assignment| assignment.unit == "units/ng-sfj"
                && assignment.state == pb::AssignmentState::Open as i32)
    );
    // A township named twice (各乡镇 and 街道) has one assignment per task and role.
    let township = app.assignments_of("ng-gkz", &coordinator).await.unwrap();
    let first: Vec<&pb::Assignment> = township
        .iter()
        .filter(|assignment| assignment.task_number == "1")
        .collect();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].mention, "各乡镇");
    // …and nobody else's.
    let error = app.assignments_of("ng-czj", &staff).await.unwrap_err();
    assert_eq!(error.code(), Code::PermissionDenied);

    let again = app.publish(&plan.name, &coordinator).await.unwrap_err();
    assert_eq!(again.code(), Code::FailedPrecondition);

    let mut events = app
        .plans
        .watch_events(with_token(
            pb::WatchEventsRequest { after_sequence: 1 },
            &coordinator,
        ))
        .await
        .unwrap()
        .into_inner();
    let published_event = events.next().await.unwrap().unwrap().event.unwrap();
    assert!(matches!(
        published_event.payload,
        Some(pb::plan_event::Payload::PlanPublished(_))
    ));
    let assignment_event = events.next().await.unwrap().unwrap().event.unwrap();
    assert!(matches!(
        assignment_event.payload,
        Some(pb::plan_event::Payload::AssignmentCreated(_))
    ));
}

#[tokio::test]
async fn unresolved_mentions_block_publishing() {
    let mut app = App::start().await;
    let admin = app.admin.clone();
    let text = "宁国市气象工作方案\n一、主要任务\n1.做好气象服务。\n牵头单位:市气象局\n责任单位:各乡镇、街道\n";
    let imported = app
        .plans
        .import_plan(with_token(
            pb::ImportPlanRequest {
                issuer: "units/ningguo".to_owned(),
                content: text.as_bytes().to_vec(),
                ..Default::default()
            },
            &admin,
        ))
        .await
        .unwrap()
        .into_inner();
    let report = imported.report.unwrap();
    assert_eq!(
        (report.mention_count, report.resolved_mention_count),
        (3, 2)
    );
    assert!(report.warnings.iter().any(
        |warning| warning.code == "UNRESOLVED_MENTION" && warning.message.contains("市气象局")
    ));
    let error = app
        .publish(&imported.plan.unwrap().name, &admin)
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::FailedPrecondition);
    assert!(error.message().contains("市气象局"), "{}", error.message());
}

#[tokio::test]
async fn today_is_the_servers_clock() {
    let noon = chrono::DateTime::parse_from_rfc3339("2020-04-15T04:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    let mut app = App::start_at(fazhi_platform::call::Clock::Fixed(noon)).await;
    let admin = app.admin.clone();
    let plan = app
        .import("tongliao-2020.txt", "tongliao", &admin)
        .await
        .unwrap()
        .plan
        .unwrap();
    let published = app
        .plans
        .publish_plan(with_token(
            pb::PublishPlanRequest {
                name: plan.name.clone(),
                ..Default::default()
            },
            &admin,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(published.plan.unwrap().publish_date, "2020-04-15");
    // Task 7 was due on 2020-03-31: fifteen days overdue "today".
    let overdue = app
        .plans
        .list_overdue_assignments(with_token(
            pb::ListOverdueAssignmentsRequest {
                unit: "units/tl-zwfwj".to_owned(),
                ..Default::default()
            },
            &admin,
        ))
        .await
        .unwrap()
        .into_inner()
        .overdue_assignments;
    let task_seven = overdue
        .iter()
        .find(|overdue| overdue.assignment.as_ref().unwrap().task_number == "7")
        .unwrap();
    assert_eq!(task_seven.days_overdue, 15);
}

fn work_plan(due_date: &str) -> pb::WorkPlan {
    pb::WorkPlan {
        leader_in_charge: "王副局长".to_owned(),
        person_responsible: "李科长".to_owned(),
        measures: "梳理权力事项清单,报市政府审定后公布".to_owned(),
        due_date: due_date.to_owned(),
    }
}

#[tokio::test]
async fn a_unit_claims_its_assignment_with_a_work_plan() {
    let mut app = App::start().await;
    let admin = app.admin.clone();
    let plan = app
        .import("tongliao-2020.txt", "tongliao", &admin)
        .await
        .unwrap()
        .plan
        .unwrap();
    app.publish(&plan.name, &admin).await.unwrap();
    let staff = bearer("clerk", Some("tl-zwfwj"), &[Role::UnitStaff]);
    let lead = app.task_seven_lead(&staff).await;
    let claim = |due_date: &str, etag: &str| pb::ClaimAssignmentRequest {
        name: lead.name.clone(),
        work_plan: Some(work_plan(due_date)),
        etag: etag.to_owned(),
        ..Default::default()
    };

    // Later than the task's deadline (2020-03-31), or missing fields: refused, naming the field.
    let late = app
        .plans
        .claim_assignment(with_token(claim("2020-05-01", &lead.etag), &staff))
        .await
        .unwrap_err();
    assert_eq!(late.code(), Code::InvalidArgument);
    use tonic_types::StatusExt;
    let fields: Vec<String> = late
        .get_error_details()
        .bad_request()
        .unwrap()
        .field_violations
        .iter()
        .map(|violation| violation.field.clone())
        .collect();
    assert_eq!(fields, vec!["work_plan.due_date"]);
    let empty = app
        .plans
        .claim_assignment(with_token(
            pb::ClaimAssignmentRequest {
                name: lead.name.clone(),
                ..Default::default()
            },
            &staff,
        ))
        .await
        .unwrap_err();
    assert_eq!(empty.code(), Code::InvalidArgument);

    // Another unit's staff may not claim it.
    let other = bearer("clerk", Some("tl-sfj"), &[Role::UnitStaff]);
    let denied = app
        .plans
        .claim_assignment(with_token(claim("2020-03-20", ""), &other))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);

    let claimed = app
        .plans
        .claim_assignment(with_token(claim("2020-03-20", &lead.etag), &staff))
        .await
        .unwrap()
        .into_inner()
        .assignment
        .unwrap();
    assert_eq!(claimed.state, pb::AssignmentState::Claimed as i32);
    assert_eq!(
        claimed.work_plan.as_ref().unwrap().person_responsible,
        "李科长"
    );
    assert!(claimed.claim_time.is_some());
    assert_ne!(claimed.etag, lead.etag);

    let twice = app
        .plans
        .claim_assignment(with_token(claim("2020-03-20", ""), &staff))
        .await
        .unwrap_err();
    assert_eq!(twice.code(), Code::FailedPrecondition);
    let stale = app
        .plans
        .claim_assignment(with_token(claim("2020-03-20", &lead.etag), &staff))
        .await
        .unwrap_err();
    assert_eq!(stale.code(), Code::Aborted);
    let audited: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM plans.audit_log WHERE resource = $1 AND result = 'OK'",
    )
    .bind(&lead.name)
    .fetch_one(&app.plans_database.pool)
    .await
    .unwrap();
    assert_eq!(audited, 1);
}

mod replay;
mod work;

/// Least privilege, as `fazhi dev` and a deployment run it: in one database, each service's
/// role reaches its own schema only, and may only insert into and read its audit log.
#[tokio::test]
async fn each_service_role_reaches_only_its_own_schema() {
    let database = TestDatabase::migrated(fazhi_plans::store::SCHEMA, &fazhi_plans::MIGRATOR).await;
    database
        .add_schema(fazhi_units::store::SCHEMA, &fazhi_units::MIGRATOR)
        .await;
    let plans_role = &database.pool;
    let units_role = database
        .role_pool(&fazhi_platform::db::runtime_role("units"))
        .await;
    let refused = async |pool: &sqlx::PgPool, statement: &str| {
        sqlx::raw_sql(sqlx::AssertSqlSafe(statement.to_owned()))
            .execute(pool)
            .await
            .expect_err(statement)
            .to_string()
    };
    for statement in [
        "SELECT * FROM units.units",
        "SELECT * FROM units.audit_log",
        "INSERT INTO units.events (event_type, resource, payload) VALUES ('x', 'y', '{}')",
    ] {
        let error = refused(plans_role, statement).await;
        assert!(
            error.contains("permission denied for schema units"),
            "{statement}: {error}"
        );
    }
    let error = refused(&units_role, "SELECT * FROM plans.plans").await;
    assert!(
        error.contains("permission denied for schema plans"),
        "{error}"
    );
    for statement in [
        "UPDATE plans.audit_log SET subject = 'x'",
        "DELETE FROM plans.audit_log",
        "TRUNCATE plans.audit_log",
        "DROP TABLE plans.plans",
        "CREATE TABLE plans.extra (id int)",
    ] {
        let error = refused(plans_role, statement).await;
        assert!(
            error.contains("permission denied") || error.contains("must be owner"),
            "{statement}: {error}"
        );
    }
    // What the service does need, it has.
    sqlx::raw_sql(
        "SELECT count(*) FROM plans.plans;
         SELECT count(*) FROM plans.audit_log;
         INSERT INTO plans.events (event_type, resource, payload) VALUES ('x', 'y', '{}');",
    )
    .execute(plans_role)
    .await
    .unwrap();
}

/// The plans audit log: a coordinator sees the calls of its own region (found through the units
/// service), not another city's; a unit's staff is refused.
#[tokio::test]
async fn the_plans_audit_log_is_listed_by_region() {
    let mut app = App::start().await;
    let tongliao = bearer("tl-office", Some("tongliao"), &[Role::Coordinator]);
    let ningguo = bearer("ng-office", Some("ningguo"), &[Role::Coordinator]);
    app.import("tongliao-2020.txt", "tongliao", &tongliao)
        .await
        .unwrap();
    let list = async |app: &mut App, bearer: &str| {
        app.plans
            .list_audit_records(with_token(
                pb::ListAuditRecordsRequest {
                    filter: Some(fazhi_proto::audit::v1::AuditRecordFilter {
                        method: "ImportPlan".to_owned(),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
                bearer,
            ))
            .await
            .map(|response| response.into_inner().audit_records)
    };
    let own = list(&mut app, &tongliao).await.unwrap();
    assert_eq!(own.len(), 1);
    assert_eq!(own[0].subject, "tl-office");
    assert_eq!(own[0].result, "OK");
    assert!(list(&mut app, &ningguo).await.unwrap().is_empty());
    let staff = bearer("clerk", Some("tl-sfj"), &[Role::UnitStaff]);
    assert_eq!(
        list(&mut app, &staff).await.unwrap_err().code(),
        Code::PermissionDenied
    );
}
