//! The assessment service over real gRPC, gathering from the real units, plans and indicators
//! services on the same loopback server, each with a fresh database.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use fazhi_platform::auth::Role;
use fazhi_platform::server::GrpcServer;
use fazhi_platform::service::Environment;
use fazhi_proto::assessment::v1 as pb;
use fazhi_proto::assessment::v1::assessment_service_client::AssessmentServiceClient;
use fazhi_proto::indicators::v1 as indicators;
use fazhi_proto::indicators::v1::indicators_service_client::IndicatorsServiceClient;
use fazhi_proto::plans::v1 as plans;
use fazhi_proto::plans::v1::plans_service_client::PlansServiceClient;
use fazhi_testkit::replay::{assert_replays, field_violations, reason};
use fazhi_testkit::{TestDatabase, TestServer, bearer, with_token};
use tonic::Code;
use tonic::transport::Channel;

mod claims;
mod events;
mod revisions;
mod spreadsheet;
mod supervision;

struct App {
    databases: Vec<TestDatabase>,
    server: TestServer,
    channel: Channel,
    client: AssessmentServiceClient<Channel>,
    admin: String,
    /// A coordinator of 宁国市人民政府.
    coordinator: String,
}

impl App {
    pub(crate) async fn start() -> Self {
        let units =
            TestDatabase::migrated(fazhi_units::store::SCHEMA, &fazhi_units::MIGRATOR).await;
        let plans_db =
            TestDatabase::migrated(fazhi_plans::store::SCHEMA, &fazhi_plans::MIGRATOR).await;
        let indicators_db =
            TestDatabase::migrated(fazhi_indicators::store::SCHEMA, &fazhi_indicators::MIGRATOR)
                .await;
        let assessment_db =
            TestDatabase::migrated(fazhi_assessment::store::SCHEMA, &fazhi_assessment::MIGRATOR)
                .await;
        let settings = fazhi_testkit::server_settings();
        let platform = fazhi_platform::settings::Settings {
            server: settings.clone(),
            ..Default::default()
        };
        let (listener, endpoint) = TestServer::listener().await;
        let server = GrpcServer::new()
            .add_service(fazhi_units::grpc_service(
                fazhi_units::Store::new(units.pool.clone()),
                fazhi_testkit::authenticator(),
                &settings,
            ))
            .await
            .add_service(
                fazhi_plans::mount(Environment {
                    settings: &platform,
                    service_settings: fazhi_plans::PlansSettings {
                        clients: fazhi_plans::settings::ClientSettings {
                            units_endpoint: endpoint.clone(),
                            ..Default::default()
                        },
                        ..Default::default()
                    },
                    pool: plans_db.pool.clone(),
                    authenticator: fazhi_testkit::authenticator(),
                })
                .unwrap()
                .service,
            )
            .await
            .add_service(
                fazhi_indicators::mount(Environment {
                    settings: &platform,
                    service_settings: fazhi_indicators::IndicatorsSettings {
                        clients: fazhi_indicators::settings::ClientSettings {
                            units_endpoint: endpoint.clone(),
                            plans_endpoint: endpoint.clone(),
                            ..Default::default()
                        },
                        ..Default::default()
                    },
                    pool: indicators_db.pool.clone(),
                    authenticator: fazhi_testkit::authenticator(),
                })
                .unwrap()
                .service,
            )
            .await
            .add_service(
                fazhi_assessment::mount(Environment {
                    settings: &platform,
                    service_settings: fazhi_assessment::AssessmentSettings {
                        clients: fazhi_assessment::settings::ClientSettings {
                            units_endpoint: endpoint.clone(),
                            plans_endpoint: endpoint.clone(),
                            indicators_endpoint: endpoint,
                            service_token: None,
                        },
                        ..Default::default()
                    },
                    pool: assessment_db.pool.clone(),
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
            channel: server.channel.clone(),
            client: AssessmentServiceClient::new(server.channel.clone()),
            databases: vec![units, plans_db, indicators_db, assessment_db],
            server,
            admin,
            coordinator: bearer("ng-office", Some("ningguo"), &[Role::Coordinator]),
        }
    }

    /// 出庭应诉率 ≥ 50 % (a target of 宁国市) and 中心组学法次数 (a figure), with values approved
    /// for two departments: 司法局 9/10 and 4 sessions, 公安局 0/2 and 1 session.
    async fn indicators(&self) {
        let mut client = IndicatorsServiceClient::new(self.channel.clone());
        let admin = &self.admin;
        for (id, code) in [
            ("appearances", "出庭数"),
            ("hearings", "应出庭数"),
            ("sessions", "学法次数"),
        ] {
            client
                .create_data_element(with_token(
                    indicators::CreateDataElementRequest {
                        data_element_id: id.to_owned(),
                        data_element: Some(indicators::DataElement {
                            code: code.to_owned(),
                            display_name: code.to_owned(),
                            value_type: indicators::ValueType::Count as i32,
                            aggregation: indicators::Aggregation::Sum as i32,
                            period_aggregation: indicators::Aggregation::Sum as i32,
                            period_type: indicators::PeriodType::Year as i32,
                            ..Default::default()
                        }),
                        request_id: String::new(),
                    },
                    admin,
                ))
                .await
                .unwrap();
        }
        for (id, formula, factor) in [
            ("appearance-rate", "出庭数 / 应出庭数", 100.0),
            ("study-sessions", "学法次数", 1.0),
        ] {
            client
                .create_indicator(with_token(
                    indicators::CreateIndicatorRequest {
                        indicator_id: id.to_owned(),
                        indicator: Some(indicators::Indicator {
                            code: id.replace('-', "_"),
                            display_name: id.to_owned(),
                            formula: formula.to_owned(),
                            factor,
                            direction: indicators::Direction::HigherIsBetter as i32,
                            ..Default::default()
                        }),
                        request_id: String::new(),
                    },
                    admin,
                ))
                .await
                .unwrap();
        }
        client
            .create_target(with_token(
                indicators::CreateTargetRequest {
                    target_id: "appearance-rate-50".to_owned(),
                    target: Some(indicators::Target {
                        display_name: "出庭应诉率不低于50%".to_owned(),
                        indicator: "indicators/appearance-rate".to_owned(),
                        owner_unit: "units/ningguo".to_owned(),
                        kind: Some(indicators::target::Kind::Absolute(
                            indicators::AbsoluteTarget {
                                comparator: indicators::Comparator::GreaterOrEqual as i32,
                                value: 50.0,
                            },
                        )),
                        ..Default::default()
                    }),
                    request_id: String::new(),
                },
                &self.coordinator,
            ))
            .await
            .unwrap();
        for (element, unit, value) in [
            ("appearances", "ng-sfj", 9.0),
            ("hearings", "ng-sfj", 10.0),
            ("sessions", "ng-sfj", 4.0),
            ("appearances", "ng-gaj", 0.0),
            ("hearings", "ng-gaj", 2.0),
            ("sessions", "ng-gaj", 1.0),
        ] {
            self.approve(element, unit, value).await;
        }
    }

    /// A 2024 value of `element` for `unit`, reported, submitted and approved.
    async fn approve(&self, element: &str, unit: &str, value: f64) {
        let mut client = IndicatorsServiceClient::new(self.channel.clone());
        let admin = &self.admin;
        let reported = client
            .report_data_value(with_token(
                indicators::ReportDataValueRequest {
                    data_element: format!("dataElements/{element}"),
                    unit: format!("units/{unit}"),
                    period: "2024".to_owned(),
                    value,
                    ..Default::default()
                },
                admin,
            ))
            .await
            .unwrap()
            .into_inner()
            .data_value
            .unwrap();
        let submitted = client
            .submit_data_value(with_token(
                indicators::SubmitDataValueRequest {
                    name: reported.name,
                    etag: reported.etag,
                    request_id: String::new(),
                },
                admin,
            ))
            .await
            .unwrap()
            .into_inner()
            .data_value
            .unwrap();
        client
            .approve_data_value(with_token(
                indicators::ApproveDataValueRequest {
                    name: submitted.name,
                    etag: submitted.etag,
                    request_id: String::new(),
                },
                admin,
            ))
            .await
            .unwrap();
    }

    /// 宁国's real plan, published; answers its name and each unit's assignment count.
    async fn plan(&self) -> (String, BTreeMap<String, usize>) {
        let mut client = PlansServiceClient::new(self.channel.clone());
        let plan = client
            .import_plan(with_token(
                plans::ImportPlanRequest {
                    issuer: "units/ningguo".to_owned(),
                    content: fazhi_testkit::demo::plan_text("ningguo-2024.txt").into_bytes(),
                    ..Default::default()
                },
                &self.admin,
            ))
            .await
            .unwrap()
            .into_inner()
            .plan
            .unwrap()
            .name;
        client
            .publish_plan(with_token(
                plans::PublishPlanRequest {
                    name: plan.clone(),
                    ..Default::default()
                },
                &self.admin,
            ))
            .await
            .unwrap();
        let assignments = client
            .list_assignments(with_token(
                plans::ListAssignmentsRequest {
                    plan: plan.clone(),
                    page_size: 1000,
                    ..Default::default()
                },
                &self.admin,
            ))
            .await
            .unwrap()
            .into_inner()
            .assignments;
        let mut counts = BTreeMap::new();
        for assignment in assignments {
            *counts
                .entry(assignment.unit.trim_start_matches("units/").to_owned())
                .or_default() += 1;
        }
        (plan, counts)
    }

    async fn create_scheme(
        &mut self,
        id: &str,
        content: &str,
        token: &str,
    ) -> Result<pb::Scheme, tonic::Status> {
        Ok(self
            .client
            .create_scheme(with_token(
                pb::CreateSchemeRequest {
                    scheme_id: id.to_owned(),
                    content: content.to_owned(),
                    request_id: String::new(),
                },
                token,
            ))
            .await?
            .into_inner()
            .scheme
            .unwrap())
    }

    /// Runs a round (or a revision) as `token`, answering it.
    async fn run(
        &mut self,
        request: pb::RunRoundRequest,
        token: &str,
    ) -> Result<pb::Round, tonic::Status> {
        Ok(self
            .client
            .run_round(with_token(request, token))
            .await?
            .into_inner()
            .round
            .unwrap())
    }

    /// Publishes a round as `token`, answering how many items it opened.
    async fn publish(&mut self, round: &str, token: &str) -> Result<i32, tonic::Status> {
        Ok(self
            .client
            .publish_round(with_token(
                pb::PublishRoundRequest {
                    name: round.to_owned(),
                    request_id: String::new(),
                },
                token,
            ))
            .await?
            .into_inner()
            .items_opened)
    }

    /// Moves a round's publication `days` into the past, behind the service's back.
    async fn publish_earlier(&self, round: &str, days: i32) {
        sqlx::query(
            "UPDATE assessment.rounds SET publish_time = publish_time - make_interval(days => $2)
             WHERE id = $1",
        )
        .bind(round.trim_start_matches("rounds/"))
        .bind(days)
        .execute(&self.databases[3].admin_pool)
        .await
        .unwrap();
    }

    async fn scores(
        &mut self,
        round: &str,
        token: &str,
    ) -> Result<Vec<pb::UnitScore>, tonic::Status> {
        Ok(self
            .client
            .list_scores(with_token(
                pb::ListScoresRequest {
                    round: round.to_owned(),
                    ..Default::default()
                },
                token,
            ))
            .await?
            .into_inner()
            .scores)
    }

    async fn explain(
        &mut self,
        round: &str,
        unit: &str,
        token: &str,
    ) -> Result<pb::ExplainScoreResponse, tonic::Status> {
        Ok(self
            .client
            .explain_score(with_token(
                pb::ExplainScoreRequest {
                    round: round.to_owned(),
                    unit: format!("units/{unit}"),
                },
                token,
            ))
            .await?
            .into_inner())
    }
}

/// An annual 2024 round of `schemes/ng-2024`.
fn annual(request_id: &str) -> pb::RunRoundRequest {
    pb::RunRoundRequest {
        scheme: "schemes/ng-2024".to_owned(),
        kind: pb::RoundKind::Annual as i32,
        period: "2024".to_owned(),
        request_id: request_id.to_owned(),
        revises: String::new(),
    }
}

fn scheme(plan: &str) -> String {
    format!(
        "code: ng-2024
title: 宁国市2024年度法治政府建设考核方案(测试)
year: 2024
owner_unit: ningguo
peer_groups:
  - {{code: departments, title: 市直部门, unit_group: government-departments}}
  - {{code: townships, title: 乡镇(街道), unit_group: townships}}
grades:
  - {{grade: excellent, min: 24}}
  - {{grade: good, min: 20}}
  - {{grade: pass, min: 15}}
  - {{grade: fail, min: 0}}
criteria:
  - code: '1'
    title: 行政应诉
    points: 10
    scorer: 市司法局
    guidance: 行政机关负责人出庭应诉率低于50%的扣4分
    rules:
      - when: {{target: targets/appearance-rate-50}}
        then: {{deduct: 4}}
  - code: '2'
    title: 中心组学法
    points: 6
    guidance: 全年不少于4次,每少一次扣1分,最多扣3分
    rules:
      - when: {{count: {{input: indicators/study-sessions, at_least: 4}}}}
        then: {{per_occurrence: {{deduct_each: 1, cap: 3}}}}
  - code: '3'
    title: 重点任务落实
    points: 10
    guidance: 按时完成率不低于50%,每低10个百分点扣1分
    rules:
      - when: {{tasks_on_time: {{plan: {plan}, at_least: 50}}}}
        then: {{shortfall: {{deduct_per_step: 1, step: 10}}}}
"
    )
}

#[tokio::test]
async fn a_round_scores_every_unit_from_what_the_other_services_say_and_explains_each_point() {
    let mut app = App::start().await;
    app.indicators().await;
    let (plan, assignments) = app.plan().await;
    let coordinator = app.coordinator.clone();
    let created = app
        .create_scheme("ng-2024", &scheme(&plan), &coordinator)
        .await
        .unwrap();
    assert_eq!(
        (
            created.version,
            created.owner_unit.as_str(),
            created.criteria.len()
        ),
        (1, "units/ningguo", 3)
    );
    assert_eq!(
        created.criteria[0].guidance,
        "行政机关负责人出庭应诉率低于50%的扣4分"
    );

    let run = annual;
    let client = app.client.clone();
    let round = assert_replays(
        "RunRound",
        |request| {
            let (mut client, token) = (client.clone(), coordinator.clone());
            async move { client.run_round(with_token(request, &token)).await }
        },
        (
            run("r-round-1"),
            pb::RunRoundRequest {
                period: "2024Q1".to_owned(),
                ..run("r-round-1")
            },
        ),
        async || {},
    )
    .await
    .round
    .unwrap();
    assert_eq!((round.scheme_version, round.period.as_str()), (1, "2024"));

    // Worked out by hand: 1 — 司法局 met (90 %) keeps 10, everyone else (公安局 0 %, the rest
    // without data) loses 4; 2 — 司法局 held 4 sessions, 公安局 1 (3 short), the rest none (4
    // short), 1 each up to 3; 3 — nothing is completed yet, so a unit with assignments is 50
    // points short of 50 % (5 steps of 10), one without has nothing to answer for.
    let scores = app.scores(&round.name, &coordinator).await.unwrap();
    assert!(scores.len() > 20, "{}", scores.len());
    assert_eq!(round.unit_count as usize, scores.len());
    for score in &scores {
        let unit = score.unit.trim_start_matches("units/");
        let appearance = if unit == "ng-sfj" { 10.0 } else { 6.0 };
        let study = if unit == "ng-sfj" { 6.0 } else { 3.0 };
        let tasks = if assignments.contains_key(unit) {
            5.0
        } else {
            10.0
        };
        assert_eq!(score.total, appearance + study + tasks, "{unit}: {score:?}");
        assert_eq!(score.full, 26.0);
    }
    let sfj = scores
        .iter()
        .find(|score| score.unit == "units/ng-sfj")
        .unwrap();
    assert_eq!(
        (sfj.peer_group.as_str(), sfj.unit_display_name.as_str()),
        ("departments", "宁国市司法局")
    );
    assert_eq!((sfj.rank, sfj.rank_shared), (1, false));
    // Ranks within each group follow the totals, ties shared.
    for group in ["departments", "townships"] {
        let ranked: Vec<&pb::UnitScore> = scores
            .iter()
            .filter(|score| score.peer_group == group)
            .collect();
        assert!(!ranked.is_empty(), "{group}");
        for score in &ranked {
            let above = ranked
                .iter()
                .filter(|other| other.total > score.total)
                .count();
            assert_eq!(score.rank as usize, above + 1, "{score:?}");
        }
    }

    // 公安局's trace, line by line, names the inputs it read and where they came from.
    let explained = app
        .explain(&round.name, "ng-gaj", &coordinator)
        .await
        .unwrap();
    let lines: Vec<(&str, f64)> = explained
        .lines
        .iter()
        .map(|line| (line.criterion.as_str(), line.points))
        .collect();
    assert_eq!(lines[0], ("1", -4.0));
    assert_eq!(lines[1], ("2", -3.0));
    assert!(
        explained.lines[0].text.contains("未达标"),
        "{:?}",
        explained.lines[0]
    );
    assert_eq!(
        explained.lines[0].inputs[0].name,
        "targets/appearance-rate-50"
    );
    assert!(
        explained.lines[1].inputs[0]
            .source
            .contains("indicators/study-sessions units/ng-gaj 2024"),
        "{:?}",
        explained.lines[1]
    );
    assert!(
        explained.lines[2].inputs[0].source.starts_with(&plan),
        "{:?}",
        explained.lines[2]
    );

    // A unit sees its own score and trace, not another's.
    let staff = bearer("ng-sfj-clerk", Some("ng-sfj"), &[Role::UnitStaff]);
    let own = app.scores(&round.name, &staff).await.unwrap();
    assert_eq!(
        own.iter()
            .map(|score| score.unit.as_str())
            .collect::<Vec<_>>(),
        ["units/ng-sfj"]
    );
    app.explain(&round.name, "ng-sfj", &staff).await.unwrap();
    let other = app
        .explain(&round.name, "ng-gaj", &staff)
        .await
        .unwrap_err();
    assert_eq!(other.code(), Code::PermissionDenied);
    let stranger = bearer("tl-office", Some("tongliao"), &[Role::Coordinator]);
    assert_eq!(
        app.scores(&round.name, &stranger).await.unwrap_err().code(),
        Code::PermissionDenied
    );

    // A new version of the scheme leaves the round as it was run.
    let changed = scheme(&plan).replace("then: {deduct: 4}", "then: {deduct: 5}");
    let stale = app
        .client
        .update_scheme(with_token(
            pb::UpdateSchemeRequest {
                name: "schemes/ng-2024".to_owned(),
                content: changed.clone(),
                etag: "\"7\"".to_owned(),
                request_id: String::new(),
            },
            &coordinator,
        ))
        .await
        .unwrap_err();
    assert_eq!(
        (stale.code(), reason(&stale).as_str()),
        (Code::Aborted, "ETAG_MISMATCH")
    );
    let updated = app
        .client
        .update_scheme(with_token(
            pb::UpdateSchemeRequest {
                name: "schemes/ng-2024".to_owned(),
                content: changed,
                etag: created.etag.clone(),
                request_id: String::new(),
            },
            &coordinator,
        ))
        .await
        .unwrap()
        .into_inner()
        .scheme
        .unwrap();
    assert_eq!(updated.version, 2);
    let again = app
        .explain(&round.name, "ng-gaj", &coordinator)
        .await
        .unwrap();
    assert_eq!(again.lines[0].points, -4.0);
    let rounds = app
        .client
        .list_rounds(with_token(
            pb::ListRoundsRequest {
                scheme: "schemes/ng-2024".to_owned(),
                ..Default::default()
            },
            &coordinator,
        ))
        .await
        .unwrap()
        .into_inner()
        .rounds;
    assert_eq!(
        rounds
            .iter()
            .map(|round| round.scheme_version)
            .collect::<Vec<_>>(),
        [1]
    );
}

#[tokio::test]
async fn schemes_and_rounds_refuse_bad_input_strangers_and_callers_without_a_token() {
    let mut app = App::start().await;
    let coordinator = app.coordinator.clone();
    let bad = app
        .create_scheme(
            "ng-bad",
            "code: x\ntitle: 坏方案\nyear: 2024\nowner_unit: ningguo\npeer_groups: []\ncriteria: []\n",
            &coordinator,
        )
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
    assert_eq!(
        field_violations(&bad),
        [
            ("peer_groups".to_owned(), "REQUIRED".to_owned()),
            ("criteria".to_owned(), "REQUIRED".to_owned())
        ]
    );
    let bad_id = app
        .create_scheme("Bad Id", &scheme("plans/p"), &coordinator)
        .await
        .unwrap_err();
    assert_eq!(field_violations(&bad_id)[0].0, "scheme_id");
    // Another city's coordinator may not make 宁国's scheme; 宁国's may.
    let stranger = bearer("tl-office", Some("tongliao"), &[Role::Coordinator]);
    let refused = app
        .create_scheme("ng-2024", &scheme("plans/p"), &stranger)
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    app.create_scheme("ng-2024", &scheme("plans/p"), &coordinator)
        .await
        .unwrap();
    let again = app
        .create_scheme("ng-2024", &scheme("plans/p"), &coordinator)
        .await
        .unwrap_err();
    assert_eq!(
        field_violations(&again),
        [("scheme_id".to_owned(), "ALREADY_EXISTS".to_owned())]
    );

    let run = |period: &str, kind: pb::RoundKind| pb::RunRoundRequest {
        scheme: "schemes/ng-2024".to_owned(),
        kind: kind as i32,
        period: period.to_owned(),
        ..Default::default()
    };
    let outside = app
        .client
        .run_round(with_token(run("2023", pb::RoundKind::Annual), &coordinator))
        .await
        .unwrap_err();
    assert_eq!(
        field_violations(&outside),
        [("period".to_owned(), "PERIOD_OUTSIDE_YEAR".to_owned())]
    );
    let no_kind = app
        .client
        .run_round(with_token(
            run("2024", pb::RoundKind::Unspecified),
            &coordinator,
        ))
        .await
        .unwrap_err();
    assert_eq!(
        field_violations(&no_kind),
        [("kind".to_owned(), "REQUIRED".to_owned())]
    );
    let strangers_round = app
        .client
        .run_round(with_token(run("2024", pb::RoundKind::Annual), &stranger))
        .await
        .unwrap_err();
    assert_eq!(strangers_round.code(), Code::PermissionDenied);
    let missing = app
        .client
        .get_round(with_token(
            pb::GetRoundRequest {
                name: "rounds/nothing".to_owned(),
            },
            &coordinator,
        ))
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);

    let mut bare = app.client.clone();
    let codes = [
        bare.create_scheme(pb::CreateSchemeRequest::default())
            .await
            .unwrap_err()
            .code(),
        bare.get_scheme(pb::GetSchemeRequest::default())
            .await
            .unwrap_err()
            .code(),
        bare.list_schemes(pb::ListSchemesRequest::default())
            .await
            .unwrap_err()
            .code(),
        bare.update_scheme(pb::UpdateSchemeRequest::default())
            .await
            .unwrap_err()
            .code(),
        bare.run_round(pb::RunRoundRequest::default())
            .await
            .unwrap_err()
            .code(),
        bare.get_round(pb::GetRoundRequest::default())
            .await
            .unwrap_err()
            .code(),
        bare.list_rounds(pb::ListRoundsRequest::default())
            .await
            .unwrap_err()
            .code(),
        bare.list_scores(pb::ListScoresRequest::default())
            .await
            .unwrap_err()
            .code(),
        bare.explain_score(pb::ExplainScoreRequest::default())
            .await
            .unwrap_err()
            .code(),
        bare.list_audit_records(pb::ListAuditRecordsRequest::default())
            .await
            .unwrap_err()
            .code(),
    ];
    let ledger = [
        bare.record_manual_score(pb::RecordManualScoreRequest::default())
            .await
            .unwrap_err()
            .code(),
        bare.diff_round(pb::DiffRoundRequest::default())
            .await
            .unwrap_err()
            .code(),
        bare.convert_scheme_spreadsheet(pb::ConvertSchemeSpreadsheetRequest::default())
            .await
            .unwrap_err()
            .code(),
        bare.watch_events(pb::WatchEventsRequest::default())
            .await
            .map(|_| ())
            .unwrap_err()
            .code(),
        bare.record_supervision(pb::RecordSupervisionRequest::default())
            .await
            .unwrap_err()
            .code(),
        bare.get_supervision_record(pb::GetSupervisionRecordRequest::default())
            .await
            .unwrap_err()
            .code(),
        bare.list_supervision_records(pb::ListSupervisionRecordsRequest::default())
            .await
            .unwrap_err()
            .code(),
        bare.export_bulletin(pb::ExportBulletinRequest::default())
            .await
            .unwrap_err()
            .code(),
        bare.file_appeal(pb::FileAppealRequest::default())
            .await
            .unwrap_err()
            .code(),
        bare.decide_appeal(pb::DecideAppealRequest::default())
            .await
            .unwrap_err()
            .code(),
        bare.get_appeal(pb::GetAppealRequest::default())
            .await
            .unwrap_err()
            .code(),
        bare.list_appeals(pb::ListAppealsRequest::default())
            .await
            .unwrap_err()
            .code(),
        bare.submit_self_assessment(pb::SubmitSelfAssessmentRequest::default())
            .await
            .unwrap_err()
            .code(),
        bare.review_self_assessment(pb::ReviewSelfAssessmentRequest::default())
            .await
            .unwrap_err()
            .code(),
        bare.get_self_assessment(pb::GetSelfAssessmentRequest::default())
            .await
            .unwrap_err()
            .code(),
        bare.list_self_assessments(pb::ListSelfAssessmentsRequest::default())
            .await
            .unwrap_err()
            .code(),
        bare.record_falsification(pb::RecordFalsificationRequest::default())
            .await
            .unwrap_err()
            .code(),
        bare.get_bulletin(pb::GetBulletinRequest::default())
            .await
            .unwrap_err()
            .code(),
        bare.publish_round(pb::PublishRoundRequest::default())
            .await
            .unwrap_err()
            .code(),
        bare.list_rectification_items(pb::ListRectificationItemsRequest::default())
            .await
            .unwrap_err()
            .code(),
        bare.get_rectification_item(pb::GetRectificationItemRequest::default())
            .await
            .unwrap_err()
            .code(),
        bare.take_up_rectification_item(pb::TakeUpRectificationItemRequest::default())
            .await
            .unwrap_err()
            .code(),
        bare.submit_rectification_item(pb::SubmitRectificationItemRequest::default())
            .await
            .unwrap_err()
            .code(),
        bare.close_rectification_item(pb::CloseRectificationItemRequest::default())
            .await
            .unwrap_err()
            .code(),
        bare.reopen_rectification_item(pb::ReopenRectificationItemRequest::default())
            .await
            .unwrap_err()
            .code(),
    ];
    assert!(
        codes
            .iter()
            .chain(&ledger)
            .all(|code| *code == Code::Unauthenticated),
        "{codes:?}"
    );

    // Every refusal and change is audited.
    let audit = app
        .client
        .list_audit_records(with_token(
            pb::ListAuditRecordsRequest::default(),
            &app.admin.clone(),
        ))
        .await
        .unwrap()
        .into_inner()
        .audit_records;
    assert!(audit.len() >= 6, "{}", audit.len());
}

#[tokio::test]
async fn a_published_round_opens_items_its_units_answer_and_the_office_closes() {
    let mut app = App::start().await;
    app.indicators().await;
    let (plan, _) = app.plan().await;
    let coordinator = app.coordinator.clone();
    app.create_scheme("ng-2024", &scheme(&plan), &coordinator)
        .await
        .unwrap();
    let round = app
        .client
        .run_round(with_token(annual(""), &coordinator))
        .await
        .unwrap()
        .into_inner()
        .round
        .unwrap();
    let publish = |request_id: &str| pb::PublishRoundRequest {
        name: round.name.clone(),
        request_id: request_id.to_owned(),
    };
    let client = app.client.clone();
    let published = assert_replays(
        "PublishRound",
        |request| {
            let (mut client, token) = (client.clone(), coordinator.clone());
            async move { client.publish_round(with_token(request, &token)).await }
        },
        (
            publish("r-publish"),
            pb::PublishRoundRequest {
                name: "rounds/another".to_owned(),
                ..publish("r-publish")
            },
        ),
        async || {},
    )
    .await;
    assert!(published.round.unwrap().publish_time.is_some());
    let again = app
        .client
        .publish_round(with_token(publish("r-publish-2"), &coordinator))
        .await
        .unwrap_err();
    assert_eq!(
        (again.code(), reason(&again).as_str()),
        (Code::FailedPrecondition, "ROUND_PUBLISHED")
    );

    // 公安局 lost points on 1 (the target), 2 (sessions) and 3 (its assignments, none done):
    // an item each, in the trace's words.
    let list = |owner: &str, unit: &str| pb::ListRectificationItemsRequest {
        owner_unit: owner.to_owned(),
        unit: unit.to_owned(),
        round: round.name.clone(),
        ..Default::default()
    };
    let ledger = app
        .client
        .list_rectification_items(with_token(list("units/ningguo", ""), &coordinator))
        .await
        .unwrap()
        .into_inner()
        .items;
    assert_eq!(ledger.len() as i32, published.items_opened);
    let gaj_staff = bearer("ng-gaj-clerk", Some("ng-gaj"), &[Role::UnitStaff]);
    let own = app
        .client
        .list_rectification_items(with_token(list("", "units/ng-gaj"), &gaj_staff))
        .await
        .unwrap()
        .into_inner()
        .items;
    assert_eq!(
        own.iter()
            .map(|item| item.criterion.as_str())
            .collect::<Vec<_>>(),
        ["1", "2", "3"]
    );
    let item = own[0].clone();
    assert!(item.problem.contains("扣 4 分"), "{}", item.problem);
    assert_eq!(
        (item.state, item.warning),
        (
            pb::RectificationState::Open as i32,
            pb::RectificationWarning::None as i32
        )
    );
    // Another unit's staff see none of it, and may not list the office's ledger.
    let sfj_staff = bearer("ng-sfj-clerk", Some("ng-sfj"), &[Role::UnitStaff]);
    let refused = app
        .client
        .list_rectification_items(with_token(list("", "units/ng-gaj"), &sfj_staff))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    let neither = app
        .client
        .list_rectification_items(with_token(list("", ""), &coordinator))
        .await
        .unwrap_err();
    assert_eq!(
        field_violations(&neither),
        [("owner_unit".to_owned(), "ONE_OF_OWNER_OR_UNIT".to_owned())]
    );

    // 公安局 takes it up and submits it; the office closes it (销号), and may reopen it.
    let mut client = app.client.clone();
    let take_up = |person: &str, etag: &str| pb::TakeUpRectificationItemRequest {
        name: item.name.clone(),
        measures: "主要负责人带头出庭,建立出庭应诉台账".to_owned(),
        responsible_person: person.to_owned(),
        etag: etag.to_owned(),
        request_id: "r-take-up".to_owned(),
    };
    let stale = client
        .take_up_rectification_item(with_token(
            pb::TakeUpRectificationItemRequest {
                request_id: String::new(),
                ..take_up("王某某", "\"9\"")
            },
            &gaj_staff,
        ))
        .await
        .unwrap_err();
    assert_eq!(reason(&stale), "ETAG_MISMATCH");
    let taken = assert_replays(
        "TakeUpRectificationItem",
        |request| {
            let (mut client, token) = (client.clone(), gaj_staff.clone());
            async move {
                client
                    .take_up_rectification_item(with_token(request, &token))
                    .await
            }
        },
        (take_up("王某某", &item.etag), take_up("李某某", &item.etag)),
        async || {},
    )
    .await
    .item
    .unwrap();
    assert_eq!(taken.state, pb::RectificationState::InProgress as i32);
    let submit = |uris: &[&str], etag: &str| pb::SubmitRectificationItemRequest {
        name: item.name.clone(),
        evidence_uris: uris.iter().map(|uri| (*uri).to_owned()).collect(),
        etag: etag.to_owned(),
        request_id: String::new(),
    };
    let bad = client
        .submit_rectification_item(with_token(submit(&["ftp://x/y"], &taken.etag), &gaj_staff))
        .await
        .unwrap_err();
    assert_eq!(
        field_violations(&bad),
        [("evidence_uris[0]".to_owned(), "INVALID_URI".to_owned())]
    );
    let submitted = client
        .submit_rectification_item(with_token(
            submit(&["https://www.ningguo.gov.cn/zgbg.pdf"], &taken.etag),
            &gaj_staff,
        ))
        .await
        .unwrap()
        .into_inner()
        .item
        .unwrap();
    let close = |token: &str, etag: &str| {
        let mut client = client.clone();
        let request = with_token(
            pb::CloseRectificationItemRequest {
                name: item.name.clone(),
                reason: "整改到位,予以销号".to_owned(),
                etag: etag.to_owned(),
                request_id: String::new(),
            },
            token,
        );
        async move { client.close_rectification_item(request).await }
    };
    // The unit cannot close its own item.
    assert_eq!(
        close(&gaj_staff, &submitted.etag).await.unwrap_err().code(),
        Code::PermissionDenied
    );
    let closed = close(&coordinator, &submitted.etag)
        .await
        .unwrap()
        .into_inner()
        .item
        .unwrap();
    assert_eq!(
        (closed.state, closed.evidence_uris.len()),
        (pb::RectificationState::Closed as i32, 1)
    );
    let twice = close(&coordinator, &closed.etag).await.unwrap_err();
    assert_eq!(reason(&twice), "ITEM_WRONG_STATE");
    let reopened = client
        .reopen_rectification_item(with_token(
            pb::ReopenRectificationItemRequest {
                name: item.name.clone(),
                reason: "复查发现未落实".to_owned(),
                etag: closed.etag.clone(),
                request_id: String::new(),
            },
            &coordinator,
        ))
        .await
        .unwrap()
        .into_inner()
        .item
        .unwrap();
    assert_eq!(reopened.state, pb::RectificationState::Reopened as i32);
    let open_now = client
        .list_rectification_items(with_token(
            pb::ListRectificationItemsRequest {
                state: pb::RectificationState::Reopened as i32,
                ..list("units/ningguo", "")
            },
            &coordinator,
        ))
        .await
        .unwrap()
        .into_inner()
        .items;
    assert_eq!(
        open_now
            .iter()
            .map(|item| item.name.as_str())
            .collect::<Vec<_>>(),
        [item.name.as_str()]
    );
    // The bulletin: each group's ranking and grades, the failed targets, the ledger; a unit of a
    // published round reads it too.
    let bulletin = client
        .get_bulletin(with_token(
            pb::GetBulletinRequest {
                round: round.name.clone(),
            },
            &sfj_staff,
        ))
        .await
        .unwrap()
        .into_inner()
        .bulletin
        .unwrap();
    assert_eq!(
        bulletin
            .groups
            .iter()
            .map(|group| group.code.as_str())
            .collect::<Vec<_>>(),
        ["departments", "townships"]
    );
    let departments = &bulletin.groups[0];
    assert_eq!(departments.scores[0].unit, "units/ng-sfj");
    assert_eq!(
        departments
            .grades
            .iter()
            .map(|grade| grade.count)
            .sum::<i32>() as usize,
        departments.scores.len()
    );
    let failed = bulletin
        .failed_targets
        .iter()
        .find(|failed| failed.target == "targets/appearance-rate-50")
        .unwrap();
    assert!(failed.units.contains(&"units/ng-gaj".to_owned()));
    assert!(!failed.units.contains(&"units/ng-sfj".to_owned()));
    let ledger = bulletin.ledger.unwrap();
    assert_eq!(
        (ledger.open, ledger.reopened, ledger.closed),
        (published.items_opened - 1, 1, 0)
    );
}

#[tokio::test]
async fn a_reviewers_score_is_checked_and_frozen_into_the_next_round() {
    let mut app = App::start().await;
    let coordinator = app.coordinator.clone();
    app.create_scheme("ng-manual", revisions::MANUAL_SCHEME, &coordinator)
        .await
        .unwrap();
    let record = |criterion: &str, score: f64, justification: &str| pb::RecordManualScoreRequest {
        scheme: "schemes/ng-manual".to_owned(),
        period: "2024".to_owned(),
        unit: "units/ng-gaj".to_owned(),
        criterion: criterion.to_owned(),
        score,
        justification: justification.to_owned(),
        request_id: String::new(),
    };
    let mut client = app.client.clone();
    for (request, expected) in [
        (record("1", 12.0, "超额"), ("score", "OUT_OF_RANGE")),
        (record("9", 5.0, "无此项"), ("criterion", "NOT_FOUND")),
        (
            record("2", 5.0, "非人工评分项"),
            ("criterion", "NOT_MANUAL"),
        ),
        (record("1", 5.0, " "), ("justification", "REQUIRED")),
    ] {
        let refused = client
            .record_manual_score(with_token(request, &coordinator))
            .await
            .unwrap_err();
        assert_eq!(
            field_violations(&refused),
            [(expected.0.to_owned(), expected.1.to_owned())]
        );
    }
    let stranger = bearer("tl-office", Some("tongliao"), &[Role::Coordinator]);
    let refused = client
        .record_manual_score(with_token(record("1", 5.0, "理由"), &stranger))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    let recorded = assert_replays(
        "RecordManualScore",
        |request| {
            let (mut client, token) = (client.clone(), coordinator.clone());
            async move {
                client
                    .record_manual_score(with_token(request, &token))
                    .await
            }
        },
        (
            pb::RecordManualScoreRequest {
                request_id: "r-manual".to_owned(),
                ..record("1", 7.5, "建立行政执法案卷评查机制,成效明显")
            },
            pb::RecordManualScoreRequest {
                request_id: "r-manual".to_owned(),
                ..record("1", 3.0, "另一个评分")
            },
        ),
        async || {},
    )
    .await;
    assert_eq!(
        (recorded.scorer.as_str(), recorded.score),
        ("ng-office", 7.5)
    );

    let round = client
        .run_round(with_token(
            pb::RunRoundRequest {
                scheme: "schemes/ng-manual".to_owned(),
                ..annual("")
            },
            &coordinator,
        ))
        .await
        .unwrap()
        .into_inner()
        .round
        .unwrap();
    let explained = app
        .explain(&round.name, "ng-gaj", &coordinator)
        .await
        .unwrap();
    let score = explained.score.unwrap();
    assert_eq!((score.base, score.full), (14.5, 17.0));
    assert!(
        explained.lines[0].text.contains("成效明显"),
        "{:?}",
        explained.lines
    );
    assert!(
        explained.lines[0].inputs[0]
            .source
            .starts_with("ng-office 评分于")
    );
    // A unit no one scored has nothing for the criterion.
    let other = app
        .explain(&round.name, "ng-sfj", &coordinator)
        .await
        .unwrap();
    assert_eq!(other.score.unwrap().base, 7.0);
}
