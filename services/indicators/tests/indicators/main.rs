//! The indicators service over real gRPC, calling the real units service over loopback, each
//! with a fresh database.

#![allow(clippy::unwrap_used)]

use fazhi_platform::auth::Role;
use fazhi_platform::server::GrpcServer;
use fazhi_proto::indicators::v1 as pb;
use fazhi_proto::indicators::v1::indicators_service_client::IndicatorsServiceClient;
use fazhi_testkit::replay::assert_replays;
use fazhi_testkit::{TestDatabase, TestServer, bearer, with_token};
use futures::StreamExt;
use tonic::transport::Channel;

mod catalogue;
mod changes;
mod datasets;
mod errors;
mod evaluation;
mod ingest;
mod proposals;
mod queue;
mod text_values;

pub struct App {
    // Kept for the life of the test: dropping them drops the databases and the server.
    _units_database: TestDatabase,
    _indicators_database: TestDatabase,
    _plans_database: Option<TestDatabase>,
    _server: TestServer,
    pub client: IndicatorsServiceClient<Channel>,
    pub admin: String,
    /// A coordinator of 宁国市人民政府.
    pub coordinator: String,
    /// Staff of 宁国市司法局.
    pub staff: String,
}

type Answer<T> = Result<T, tonic::Status>;

impl App {
    pub async fn start() -> Self {
        Self::start_with(false).await
    }

    /// With the plans service on the same server, for proposed targets.
    pub async fn start_with_plans() -> Self {
        Self::start_with(true).await
    }

    async fn start_with(with_plans: bool) -> Self {
        let plans_database = if with_plans {
            Some(TestDatabase::migrated(fazhi_plans::store::SCHEMA, &fazhi_plans::MIGRATOR).await)
        } else {
            None
        };
        let units_database =
            TestDatabase::migrated(fazhi_units::store::SCHEMA, &fazhi_units::MIGRATOR).await;
        let indicators_database =
            TestDatabase::migrated(fazhi_indicators::store::SCHEMA, &fazhi_indicators::MIGRATOR)
                .await;
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
                            units_endpoint: endpoint.clone(),
                            plans_endpoint: endpoint.clone(),
                            ..Default::default()
                        },
                        ..Default::default()
                    },
                    pool: indicators_database.pool.clone(),
                    authenticator: fazhi_testkit::authenticator(),
                })
                .unwrap()
                .service,
            )
            .await;
        let server = match &plans_database {
            Some(database) => {
                server
                    .add_service(
                        fazhi_plans::mount(fazhi_platform::service::Environment {
                            settings: &fazhi_platform::settings::Settings {
                                server: settings.clone(),
                                ..Default::default()
                            },
                            service_settings: fazhi_plans::PlansSettings {
                                clients: fazhi_plans::settings::ClientSettings {
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
                    .await
            }
            None => server,
        };
        let server = TestServer::start_on(listener, server, settings).await;
        let admin = bearer("admin", None, &[Role::Admin]);
        fazhi_testkit::demo::import_registries(&server.channel, &admin).await;
        Self {
            client: IndicatorsServiceClient::new(server.channel.clone()),
            _units_database: units_database,
            _indicators_database: indicators_database,
            _plans_database: plans_database,
            _server: server,
            admin,
            coordinator: bearer("ng-office", Some("ningguo"), &[Role::Coordinator]),
            staff: bearer("ng-sfj-clerk", Some("ng-sfj"), &[Role::UnitStaff]),
        }
    }

    /// A yearly count element, with the category options given.
    pub async fn element(&mut self, id: &str, code: &str, options: &[&str]) -> pb::DataElement {
        self.element_with(
            id,
            pb::DataElement {
                code: code.to_owned(),
                display_name: code.to_owned(),
                value_type: pb::ValueType::Count as i32,
                aggregation: pb::Aggregation::Sum as i32,
                period_aggregation: pb::Aggregation::Sum as i32,
                period_type: pb::PeriodType::Year as i32,
                category: if options.is_empty() {
                    String::new()
                } else {
                    "分类".to_owned()
                },
                category_options: options.iter().map(|option| (*option).to_owned()).collect(),
                unit_of_measure: "件".to_owned(),
                ..Default::default()
            },
        )
        .await
        .unwrap()
    }

    pub async fn element_with(
        &mut self,
        id: &str,
        element: pb::DataElement,
    ) -> Answer<pb::DataElement> {
        Ok(self
            .client
            .create_data_element(with_token(
                pb::CreateDataElementRequest {
                    data_element_id: id.to_owned(),
                    data_element: Some(element),
                    request_id: String::new(),
                },
                &self.admin,
            ))
            .await?
            .into_inner()
            .data_element
            .unwrap())
    }

    pub async fn indicator(
        &mut self,
        id: &str,
        formula: &str,
        factor: f64,
        direction: pb::Direction,
    ) -> Answer<pb::Indicator> {
        Ok(self
            .client
            .create_indicator(with_token(
                pb::CreateIndicatorRequest {
                    indicator_id: id.to_owned(),
                    indicator: Some(pb::Indicator {
                        code: id.replace('-', "_"),
                        display_name: id.to_owned(),
                        formula: formula.to_owned(),
                        factor,
                        unit_of_measure: if factor == 100.0 {
                            "%".to_owned()
                        } else {
                            String::new()
                        },
                        direction: direction as i32,
                        ..Default::default()
                    }),
                    request_id: String::new(),
                },
                &self.admin,
            ))
            .await?
            .into_inner()
            .indicator
            .unwrap())
    }

    pub async fn target(&mut self, id: &str, target: pb::Target) -> Answer<pb::Target> {
        let token = self.coordinator.clone();
        Ok(self
            .client
            .create_target(with_token(
                pb::CreateTargetRequest {
                    target_id: id.to_owned(),
                    target: Some(pb::Target {
                        owner_unit: "units/ningguo".to_owned(),
                        display_name: id.to_owned(),
                        ..target
                    }),
                    request_id: String::new(),
                },
                &token,
            ))
            .await?
            .into_inner()
            .target
            .unwrap())
    }

    pub async fn report(
        &mut self,
        token: &str,
        element: &str,
        unit: &str,
        period: &str,
        option: &str,
        value: f64,
    ) -> Answer<pb::DataValue> {
        Ok(self
            .client
            .report_data_value(with_token(
                pb::ReportDataValueRequest {
                    data_element: format!("dataElements/{element}"),
                    unit: if unit.is_empty() {
                        String::new()
                    } else {
                        format!("units/{unit}")
                    },
                    period: period.to_owned(),
                    category_option: option.to_owned(),
                    value,
                    ..Default::default()
                },
                token,
            ))
            .await?
            .into_inner()
            .data_value
            .unwrap())
    }

    pub async fn submit(&mut self, token: &str, value: &pb::DataValue) -> Answer<pb::DataValue> {
        Ok(self
            .client
            .submit_data_value(with_token(
                pb::SubmitDataValueRequest {
                    name: value.name.clone(),
                    etag: value.etag.clone(),
                    request_id: String::new(),
                },
                token,
            ))
            .await?
            .into_inner()
            .data_value
            .unwrap())
    }

    pub async fn approve(&mut self, token: &str, value: &pb::DataValue) -> Answer<pb::DataValue> {
        Ok(self
            .client
            .approve_data_value(with_token(
                pb::ApproveDataValueRequest {
                    name: value.name.clone(),
                    etag: value.etag.clone(),
                    request_id: String::new(),
                },
                token,
            ))
            .await?
            .into_inner()
            .data_value
            .unwrap())
    }

    pub async fn get_value(&mut self, token: &str, name: &str) -> pb::DataValue {
        self.client
            .get_data_value(with_token(
                pb::GetDataValueRequest {
                    name: name.to_owned(),
                },
                token,
            ))
            .await
            .unwrap()
            .into_inner()
            .data_value
            .unwrap()
    }

    /// A unit's values (the first page).
    pub async fn values_of(&mut self, token: &str, unit: &str) -> Vec<pb::DataValue> {
        self.values_where(
            token,
            pb::ListDataValuesRequest {
                unit: format!("units/{unit}"),
                ..Default::default()
            },
        )
        .await
        .unwrap()
    }

    /// The first page of `ListDataValues` as `token`'s caller asks it.
    pub async fn values_where(
        &mut self,
        token: &str,
        request: pb::ListDataValuesRequest,
    ) -> Result<Vec<pb::DataValue>, tonic::Status> {
        Ok(self
            .client
            .list_data_values(with_token(request, token))
            .await?
            .into_inner()
            .data_values)
    }

    /// A value's revisions, oldest first.
    pub async fn revisions(&mut self, token: &str, name: &str) -> Vec<pb::DataValueRevision> {
        self.client
            .list_data_value_revisions(with_token(
                pb::ListDataValueRevisionsRequest {
                    parent: name.to_owned(),
                },
                token,
            ))
            .await
            .unwrap()
            .into_inner()
            .revisions
    }

    /// Reports a value for a unit as its staff would, and has it approved by the admin.
    pub async fn approved(
        &mut self,
        element: &str,
        unit: &str,
        period: &str,
        option: &str,
        value: f64,
    ) -> pb::DataValue {
        let admin = self.admin.clone();
        let reported = self
            .report(&admin, element, unit, period, option, value)
            .await
            .unwrap();
        let submitted = self.submit(&admin, &reported).await.unwrap();
        self.approve(&admin, &submitted).await.unwrap()
    }

    /// Evaluates as the coordinator of 宁国市.
    pub async fn evaluate(
        &mut self,
        target: &str,
        unit: &str,
        period: &str,
        region: bool,
    ) -> pb::TargetEvaluation {
        let token = self.coordinator.clone();
        self.evaluate_as(&token, target, unit, period, region).await
    }

    pub async fn evaluate_as(
        &mut self,
        token: &str,
        target: &str,
        unit: &str,
        period: &str,
        region: bool,
    ) -> pb::TargetEvaluation {
        self.client
            .evaluate_target(with_token(
                pb::EvaluateTargetRequest {
                    target: format!("targets/{target}"),
                    unit: format!("units/{unit}"),
                    period: period.to_owned(),
                    include_descendants: region,
                    include_submitted: false,
                },
                token,
            ))
            .await
            .unwrap()
            .into_inner()
            .evaluation
            .unwrap()
    }
}

pub fn absolute(comparator: pb::Comparator, value: f64) -> Option<pb::target::Kind> {
    Some(pb::target::Kind::Absolute(pb::AbsoluteTarget {
        comparator: comparator as i32,
        value,
    }))
}

/// 出庭应诉率 = 出庭数 / 应出庭数 × 100, with the 涉及重大公共利益 subset, and a target ≥ 50 %.
pub async fn court_catalogue(app: &mut App) {
    app.element("appearances", "出庭数", &["涉及重大公共利益"])
        .await;
    app.element("hearings", "应出庭数", &["涉及重大公共利益"])
        .await;
    app.indicator(
        "appearance-rate",
        "出庭数 / 应出庭数",
        100.0,
        pb::Direction::HigherIsBetter,
    )
    .await
    .unwrap();
    app.target(
        "appearance-rate-50",
        pb::Target {
            indicator: "indicators/appearance-rate".to_owned(),
            kind: absolute(pb::Comparator::GreaterOrEqual, 50.0),
            ..Default::default()
        },
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn a_unit_reports_a_coordinator_reviews_and_the_region_is_evaluated() {
    let mut app = App::start().await;
    court_catalogue(&mut app).await;
    let (staff, coordinator) = (app.staff.clone(), app.coordinator.clone());

    let appearances = app
        .report(&staff, "appearances", "ng-sfj", "2024", "", 9.0)
        .await
        .unwrap();
    assert_eq!(appearances.state, pb::DataValueState::Draft as i32);
    let hearings = app
        .report(&staff, "hearings", "ng-sfj", "2024", "", 12.0)
        .await
        .unwrap();
    let appearances = app.submit(&staff, &appearances).await.unwrap();
    let hearings = app.submit(&staff, &hearings).await.unwrap();
    // Submitted but not approved: nothing counts yet.
    let pending = app
        .evaluate("appearance-rate-50", "ng-sfj", "2024", false)
        .await;
    assert_eq!(
        pending.status,
        pb::TargetStatus::NoData as i32,
        "{pending:?}"
    );

    app.approve(&coordinator, &appearances).await.unwrap();
    let returned = app
        .client
        .return_data_value(with_token(
            pb::ReturnDataValueRequest {
                name: hearings.name.clone(),
                etag: hearings.etag.clone(),
                reason: "应出庭数应为 10 件".to_owned(),
                request_id: String::new(),
            },
            &coordinator,
        ))
        .await
        .unwrap()
        .into_inner()
        .data_value
        .unwrap();
    assert_eq!(
        (returned.state, returned.reason.as_str()),
        (pb::DataValueState::Returned as i32, "应出庭数应为 10 件")
    );
    let corrected = app
        .report(&staff, "hearings", "ng-sfj", "2024", "", 10.0)
        .await
        .unwrap();
    assert_eq!(
        (corrected.name.as_str(), corrected.state),
        (hearings.name.as_str(), pb::DataValueState::Draft as i32)
    );
    let resubmitted = app.submit(&staff, &corrected).await.unwrap();
    app.approve(&coordinator, &resubmitted).await.unwrap();

    let unit = app
        .evaluate("appearance-rate-50", "ng-sfj", "2024", false)
        .await;
    assert_eq!(unit.status, pb::TargetStatus::Met as i32, "{unit:?}");
    assert_eq!(unit.value, Some(90.0));
    assert_eq!(unit.explanation, "appearance-rate 90%,目标 ≥ 50%,达标");
    let inputs: Vec<_> = unit.values[0]
        .inputs
        .iter()
        .map(|input| {
            (
                input.data_element_code.as_str(),
                input.value,
                input.states.clone(),
            )
        })
        .collect();
    assert_eq!(
        inputs,
        [
            ("出庭数", Some(9.0), vec!["approved".to_owned()]),
            ("应出庭数", Some(10.0), vec!["approved".to_owned()])
        ]
    );

    // The region: a ratio of sums (9 + 0) / (10 + 2) = 75 %, never an average of ratios (45 %).
    app.approved("appearances", "ng-gaj", "2024", "", 0.0).await;
    app.approved("hearings", "ng-gaj", "2024", "", 2.0).await;
    let region = app
        .evaluate("appearance-rate-50", "ningguo", "2024", true)
        .await;
    assert_eq!(
        (region.status, region.value),
        (pb::TargetStatus::Met as i32, Some(75.0)),
        "{region:?}"
    );
    assert_eq!(region.values[0].inputs[1].unit_count, 2);
    // Another county's unit is outside the region that set the target.
    let admin = app.admin.clone();
    let elsewhere = app
        .evaluate_as(&admin, "appearance-rate-50", "xuchang", "2024", false)
        .await;
    assert_eq!(elsewhere.status, pb::TargetStatus::NotApplicable as i32);

    // Every unit of the region at once, each judged on its own figures.
    let mut pages = app
        .client
        .evaluate_region(with_token(
            pb::EvaluateRegionRequest {
                unit: "units/ningguo".to_owned(),
                period: "2024".to_owned(),
                view: pb::EvaluationView::Full as i32,
                ..Default::default()
            },
            &coordinator,
        ))
        .await
        .unwrap()
        .into_inner();
    let mut by_unit = std::collections::HashMap::new();
    while let Some(page) = pages.next().await {
        for evaluation in page.unwrap().evaluations {
            by_unit.insert(evaluation.unit.clone(), evaluation);
        }
    }
    let sfj = &by_unit["units/ng-sfj"];
    assert_eq!(
        (sfj.status, sfj.value),
        (pb::TargetStatus::Met as i32, Some(90.0))
    );
    assert_eq!(sfj.explanation, "appearance-rate 90%,目标 ≥ 50%,达标");
    let gaj = &by_unit["units/ng-gaj"];
    assert_eq!(
        (gaj.status, gaj.value),
        (pb::TargetStatus::NotMet as i32, Some(0.0))
    );
    assert_eq!(
        by_unit["units/ng-gkz"].status,
        pb::TargetStatus::NoData as i32
    );
    assert_eq!(by_unit.len(), 33, "ningguo and its 32 units");
    let denied = app
        .client
        .evaluate_region(with_token(
            pb::EvaluateRegionRequest {
                unit: "units/ningguo".to_owned(),
                period: "2024".to_owned(),
                ..Default::default()
            },
            &staff,
        ))
        .await
        .expect_err("staff do not read the region");
    assert_eq!(denied.code(), tonic::Code::PermissionDenied);

    // Every change is kept, oldest first.
    let revisions = app.revisions(&staff, &hearings.name).await;
    let history: Vec<_> = revisions
        .iter()
        .map(|revision| (revision.action.as_str(), revision.value, revision.old_value))
        .collect();
    assert_eq!(
        history,
        [
            ("reported", 12.0, None),
            ("submitted", 12.0, Some(12.0)),
            ("returned", 12.0, Some(12.0)),
            ("reported", 10.0, Some(12.0)),
            ("submitted", 10.0, Some(10.0)),
            ("approved", 10.0, Some(10.0)),
        ]
    );

    // The unit lists its own values; the events say what happened.
    let listed = app
        .client
        .list_data_values(with_token(
            pb::ListDataValuesRequest {
                unit: "units/ng-sfj".to_owned(),
                period: "2024".to_owned(),
                page_size: 1,
                ..Default::default()
            },
            &staff,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.data_values.len(), 1);
    assert!(!listed.next_page_token.is_empty());
    let mut events = app
        .client
        .watch_events(with_token(
            pb::WatchEventsRequest { after_sequence: 0 },
            &app.admin,
        ))
        .await
        .unwrap()
        .into_inner();
    let mut types = Vec::new();
    while types.len() < 14 {
        let event = events.next().await.unwrap().unwrap().event.unwrap();
        types.push(event.r#type);
    }
    assert_eq!(
        &types[..5],
        [
            "data_element.created",
            "data_element.created",
            "indicator.created",
            "target.created",
            "data_value.reported"
        ]
    );
    assert!(types.contains(&"data_value.returned".to_owned()));
}

#[tokio::test]
async fn every_mutation_replays_its_first_answer() {
    let mut app = App::start().await;
    court_catalogue(&mut app).await;
    let admin = app.admin.clone();
    let client = app.client.clone();

    let element = |id: &str, request_id: &str| pb::CreateDataElementRequest {
        data_element_id: id.to_owned(),
        data_element: Some(pb::DataElement {
            code: id.replace('-', "_"),
            display_name: "学法次数".to_owned(),
            value_type: pb::ValueType::Count as i32,
            aggregation: pb::Aggregation::Sum as i32,
            period_aggregation: pb::Aggregation::Sum as i32,
            period_type: pb::PeriodType::Month as i32,
            ..Default::default()
        }),
        request_id: request_id.to_owned(),
    };
    assert_replays(
        "CreateDataElement",
        |request| {
            let mut client = client.clone();
            let admin = admin.clone();
            async move {
                client
                    .create_data_element(with_token(request, &admin))
                    .await
            }
        },
        (element("study", "r-element"), element("other", "r-element")),
        async || {},
    )
    .await;

    let indicator = |formula: &str| pb::CreateIndicatorRequest {
        indicator_id: "study-count".to_owned(),
        indicator: Some(pb::Indicator {
            code: "学法".to_owned(),
            display_name: "中心组学法次数".to_owned(),
            formula: formula.to_owned(),
            direction: pb::Direction::HigherIsBetter as i32,
            ..Default::default()
        }),
        request_id: "r-indicator".to_owned(),
    };
    assert_replays(
        "CreateIndicator",
        |request| {
            let mut client = client.clone();
            let admin = admin.clone();
            async move { client.create_indicator(with_token(request, &admin)).await }
        },
        (indicator("study"), indicator("study * 2")),
        async || {},
    )
    .await;

    let coordinator = app.coordinator.clone();
    let target = |value: f64| pb::CreateTargetRequest {
        target_id: "study-4".to_owned(),
        target: Some(pb::Target {
            display_name: "每年中心组学法不少于4次".to_owned(),
            indicator: "indicators/study-count".to_owned(),
            owner_unit: "units/ningguo".to_owned(),
            kind: absolute(pb::Comparator::GreaterOrEqual, value),
            ..Default::default()
        }),
        request_id: "r-target".to_owned(),
    };
    assert_replays(
        "CreateTarget",
        |request| {
            let mut client = client.clone();
            let token = coordinator.clone();
            async move { client.create_target(with_token(request, &token)).await }
        },
        (target(4.0), target(5.0)),
        async || {},
    )
    .await;

    let staff = app.staff.clone();
    let report = |value: f64| pb::ReportDataValueRequest {
        data_element: "dataElements/appearances".to_owned(),
        unit: "units/ng-sfj".to_owned(),
        period: "2024".to_owned(),
        value,
        request_id: "r-report".to_owned(),
        ..Default::default()
    };
    let reported = assert_replays(
        "ReportDataValue",
        |request| {
            let mut client = client.clone();
            let token = staff.clone();
            async move { client.report_data_value(with_token(request, &token)).await }
        },
        (report(3.0), report(4.0)),
        async || {
            let mut request = report(7.0);
            request.request_id = String::new();
            client
                .clone()
                .report_data_value(with_token(request, &staff))
                .await
                .unwrap();
        },
    )
    .await
    .data_value
    .unwrap();

    // Each review step replays after the value moved on (its etag stale, its state changed).
    let name = reported.name.clone();
    let get = async |name: &str| {
        client
            .clone()
            .get_data_value(with_token(
                pb::GetDataValueRequest {
                    name: name.to_owned(),
                },
                &admin,
            ))
            .await
            .unwrap()
            .into_inner()
            .data_value
            .unwrap()
    };
    let etag = get(&name).await.etag;
    let submitted = assert_replays(
        "SubmitDataValue",
        |request| {
            let mut client = client.clone();
            let token = staff.clone();
            async move { client.submit_data_value(with_token(request, &token)).await }
        },
        (
            pb::SubmitDataValueRequest {
                name: name.clone(),
                etag: etag.clone(),
                request_id: "r-submit".to_owned(),
            },
            pb::SubmitDataValueRequest {
                name: name.clone(),
                etag: "W/\"99\"".to_owned(),
                request_id: "r-submit".to_owned(),
            },
        ),
        async || {},
    )
    .await
    .data_value
    .unwrap();
    let returned = assert_replays(
        "ReturnDataValue",
        |request| {
            let mut client = client.clone();
            let token = coordinator.clone();
            async move { client.return_data_value(with_token(request, &token)).await }
        },
        (
            pb::ReturnDataValueRequest {
                name: name.clone(),
                etag: submitted.etag.clone(),
                reason: "请核对".to_owned(),
                request_id: "r-return".to_owned(),
            },
            pb::ReturnDataValueRequest {
                name: name.clone(),
                etag: submitted.etag.clone(),
                reason: "另一个原因".to_owned(),
                request_id: "r-return".to_owned(),
            },
        ),
        async || {
            let mut client = client.clone();
            client
                .submit_data_value(with_token(
                    pb::SubmitDataValueRequest {
                        name: name.clone(),
                        etag: String::new(),
                        request_id: String::new(),
                    },
                    &staff,
                ))
                .await
                .map(|_| ())
                .unwrap_or_else(|status| panic!("resubmit: {status:?}"));
        },
    )
    .await
    .data_value
    .unwrap();
    assert_eq!(returned.state, pb::DataValueState::Returned as i32);
    let current = get(&name).await;
    let approved = assert_replays(
        "ApproveDataValue",
        |request| {
            let mut client = client.clone();
            let token = coordinator.clone();
            async move { client.approve_data_value(with_token(request, &token)).await }
        },
        (
            pb::ApproveDataValueRequest {
                name: name.clone(),
                etag: current.etag.clone(),
                request_id: "r-approve".to_owned(),
            },
            pb::ApproveDataValueRequest {
                name: name.clone(),
                etag: String::new(),
                request_id: "r-approve".to_owned(),
            },
        ),
        async || {},
    )
    .await
    .data_value
    .unwrap();
    let reopened = assert_replays(
        "ReopenDataValue",
        |request| {
            let mut client = client.clone();
            let token = coordinator.clone();
            async move { client.reopen_data_value(with_token(request, &token)).await }
        },
        (
            pb::ReopenDataValueRequest {
                name: name.clone(),
                etag: approved.etag.clone(),
                reason: "法院更正".to_owned(),
                request_id: "r-reopen".to_owned(),
            },
            pb::ReopenDataValueRequest {
                name: name.clone(),
                etag: approved.etag.clone(),
                reason: "其他".to_owned(),
                request_id: "r-reopen".to_owned(),
            },
        ),
        async || {
            let mut client = client.clone();
            let mut request = report(5.0);
            request.request_id = String::new();
            client
                .report_data_value(with_token(request, &staff))
                .await
                .unwrap();
        },
    )
    .await
    .data_value
    .unwrap();
    assert_eq!(reopened.state, pb::DataValueState::Draft as i32);
}
