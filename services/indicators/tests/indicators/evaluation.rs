//! Targets of every kind evaluated on real values: monthly counts rolled up to a year, a
//! category subset, a central reference series, a trend, a composite (双下降), a group the target
//! applies to, and the periods it is in force.

use fazhi_proto::indicators::v1 as pb;
use fazhi_testkit::with_token;
use futures::StreamExt;

use crate::{App, absolute, court_catalogue};

fn target_on(indicator: &str, kind: Option<pb::target::Kind>) -> pb::Target {
    pb::Target {
        indicator: format!("indicators/{indicator}"),
        kind,
        ..Default::default()
    }
}

#[tokio::test]
async fn targets_of_every_kind_say_whether_they_hold_and_why() {
    let mut app = App::start().await;
    court_catalogue(&mut app).await;

    // 中心组学法 ≥ 4 次/年, reported monthly and summed into the year.
    app.element_with(
        "study-sessions",
        pb::DataElement {
            code: "学法次数".to_owned(),
            display_name: "中心组学法次数".to_owned(),
            value_type: pb::ValueType::Count as i32,
            aggregation: pb::Aggregation::Sum as i32,
            period_aggregation: pb::Aggregation::Sum as i32,
            period_type: pb::PeriodType::Month as i32,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    app.indicator("study", "学法次数", 1.0, pb::Direction::HigherIsBetter)
        .await
        .unwrap();
    app.target(
        "study-4",
        target_on("study", absolute(pb::Comparator::GreaterOrEqual, 4.0)),
    )
    .await
    .unwrap();
    for month in ["2024-03", "2024-06", "2024-09"] {
        app.approved("study-sessions", "ng-sfj", month, "", 1.0)
            .await;
    }
    let three = app.evaluate("study-4", "ng-sfj", "2024", false).await;
    assert_eq!(
        (three.status, three.value),
        (pb::TargetStatus::NotMet as i32, Some(3.0)),
        "{three:?}"
    );
    assert_eq!(three.values[0].inputs[0].value_count, 3);
    app.approved("study-sessions", "ng-sfj", "2024-12", "", 1.0)
        .await;
    assert_eq!(
        app.evaluate("study-4", "ng-sfj", "2024", false)
            .await
            .status,
        pb::TargetStatus::Met as i32
    );
    // A quarter holds its own months only.
    assert_eq!(
        app.evaluate("study-4", "ng-sfj", "2024Q1", false)
            .await
            .value,
        Some(1.0)
    );

    // 学法学时 per person: ≥ 40 for 领导干部, ≥ 50 for 工作人员, ≥ 60 for 行政执法人员.
    let classes = ["领导干部", "工作人员", "行政执法人员"];
    app.element("training-hours", "学时", &classes).await;
    app.element("staff-count", "人数", &classes).await;
    app.indicator(
        "hours-per-person",
        "学时 / 人数",
        1.0,
        pb::Direction::HigherIsBetter,
    )
    .await
    .unwrap();
    let quota = |thresholds: &[(&str, f64)]| {
        target_on(
            "hours-per-person",
            Some(pb::target::Kind::Quota(pb::QuotaTarget {
                comparator: pb::Comparator::GreaterOrEqual as i32,
                thresholds: thresholds
                    .iter()
                    .map(|(option, value)| ((*option).to_owned(), *value))
                    .collect(),
            })),
        )
    };
    app.target(
        "training-quota",
        quota(&[
            ("领导干部", 40.0),
            ("工作人员", 50.0),
            ("行政执法人员", 60.0),
        ]),
    )
    .await
    .unwrap();
    let unknown_class = app
        .target("bad-quota", quota(&[("临时工", 10.0)]))
        .await
        .expect_err("unknown option");
    assert_eq!(
        fazhi_testkit::replay::field_violations(&unknown_class),
        [(
            "target.quota.thresholds[临时工]".to_owned(),
            "UNKNOWN_CATEGORY_OPTION".to_owned()
        )]
    );
    for (class, hours, people) in [("领导干部", 90.0, 2.0), ("工作人员", 200.0, 5.0)] {
        app.approved("training-hours", "ng-sfj", "2024", class, hours)
            .await;
        app.approved("staff-count", "ng-sfj", "2024", class, people)
            .await;
    }
    let training = app
        .evaluate("training-quota", "ng-sfj", "2024", false)
        .await;
    let parts: Vec<_> = training
        .parts
        .iter()
        .map(|part| (part.category_option.as_str(), part.status, part.value))
        .collect();
    assert_eq!(
        parts,
        [
            ("工作人员", pb::TargetStatus::NotMet as i32, Some(40.0)),
            ("行政执法人员", pb::TargetStatus::NoData as i32, None),
            ("领导干部", pb::TargetStatus::Met as i32, Some(45.0)),
        ]
    );
    assert_eq!(training.status, pb::TargetStatus::NotMet as i32);
    assert_eq!(
        training.parts[2].values[0].inputs[0].category_option,
        "领导干部"
    );

    // 涉及重大公共利益 cases: 100 % of them attended, read through the category option.
    app.indicator(
        "major-rate",
        "出庭数[涉及重大公共利益] / 应出庭数[涉及重大公共利益]",
        100.0,
        pb::Direction::HigherIsBetter,
    )
    .await
    .unwrap();
    app.target(
        "major-100",
        target_on("major-rate", absolute(pb::Comparator::Equal, 100.0)),
    )
    .await
    .unwrap();
    app.approved("appearances", "ng-sfj", "2024", "涉及重大公共利益", 1.0)
        .await;
    let missing = app.evaluate("major-100", "ng-sfj", "2024", false).await;
    assert_eq!(missing.status, pb::TargetStatus::NoData as i32);
    assert_eq!(missing.explanation, "缺少数据:应出庭数[涉及重大公共利益]");
    app.approved("hearings", "ng-sfj", "2024", "涉及重大公共利益", 2.0)
        .await;
    let half = app.evaluate("major-100", "ng-sfj", "2024", false).await;
    assert_eq!(
        (half.status, half.value),
        (pb::TargetStatus::NotMet as i32, Some(50.0))
    );

    // 败诉率 below the provincial average (a central reference series), and 双下降 year on year.
    for (id, code, central) in [
        ("lawsuits", "诉讼案件数", false),
        ("losses", "败诉数", false),
        ("province-loss-rate", "全省平均败诉率", true),
    ] {
        app.element_with(
            id,
            pb::DataElement {
                code: code.to_owned(),
                display_name: code.to_owned(),
                value_type: if central {
                    pb::ValueType::Percentage
                } else {
                    pb::ValueType::Count
                } as i32,
                aggregation: pb::Aggregation::Sum as i32,
                period_aggregation: pb::Aggregation::Sum as i32,
                period_type: pb::PeriodType::Year as i32,
                central,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    }
    app.indicator(
        "lawsuit-count",
        "诉讼案件数",
        1.0,
        pb::Direction::LowerIsBetter,
    )
    .await
    .unwrap();
    app.indicator(
        "loss-rate",
        "败诉数 / 诉讼案件数",
        100.0,
        pb::Direction::LowerIsBetter,
    )
    .await
    .unwrap();
    app.target(
        "loss-below-province",
        target_on(
            "loss-rate",
            Some(pb::target::Kind::Reference(pb::ReferenceTarget {
                comparator: pb::Comparator::Less as i32,
                reference_code: "全省平均败诉率".to_owned(),
            })),
        ),
    )
    .await
    .unwrap();
    app.target(
        "fewer-lawsuits",
        target_on(
            "lawsuit-count",
            Some(pb::target::Kind::Trend(pb::TrendTarget {})),
        ),
    )
    .await
    .unwrap();
    app.target(
        "lower-loss-rate",
        target_on(
            "loss-rate",
            Some(pb::target::Kind::Trend(pb::TrendTarget {})),
        ),
    )
    .await
    .unwrap();
    app.target(
        "double-fall",
        pb::Target {
            kind: Some(pb::target::Kind::AllOf(pb::CompositeTarget {
                targets: vec![
                    "targets/fewer-lawsuits".to_owned(),
                    "targets/lower-loss-rate".to_owned(),
                ],
            })),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    for (period, lawsuits, losses) in [("2023", 20.0, 4.0), ("2024", 16.0, 2.0)] {
        app.approved("lawsuits", "ng-sfj", period, "", lawsuits)
            .await;
        app.approved("losses", "ng-sfj", period, "", losses).await;
    }
    let no_reference = app
        .evaluate("loss-below-province", "ng-sfj", "2024", false)
        .await;
    assert_eq!(no_reference.status, pb::TargetStatus::NoData as i32);
    app.approved("province-loss-rate", "", "2024", "", 15.0)
        .await;
    let below = app
        .evaluate("loss-below-province", "ng-sfj", "2024", false)
        .await;
    assert_eq!(
        (below.status, below.value),
        (pb::TargetStatus::Met as i32, Some(12.5)),
        "{below:?}"
    );
    assert!(
        below.explanation.contains("< 全省平均败诉率 15%"),
        "{}",
        below.explanation
    );
    let both = app.evaluate("double-fall", "ng-sfj", "2024", false).await;
    assert_eq!(both.status, pb::TargetStatus::Met as i32, "{both:?}");
    assert_eq!(both.parts.len(), 2);
    assert_eq!(both.parts[1].values[1].period, "2023");
    // 2025 has no figures at all; and lawsuits rising in 2023 against nothing reported for 2022.
    assert_eq!(
        app.evaluate("double-fall", "ng-sfj", "2025", false)
            .await
            .status,
        pb::TargetStatus::NoData as i32
    );
    assert_eq!(
        app.evaluate("fewer-lawsuits", "ng-sfj", "2023", false)
            .await
            .status,
        pb::TargetStatus::NoData as i32
    );

    // A target for 乡(镇、街道) from 2025 on: not for the 司法局, not before 2025.
    app.target(
        "townships-only",
        pb::Target {
            applies_to_group: "unitGroups/townships".to_owned(),
            first_period: "2025".to_owned(),
            ..target_on("study", absolute(pb::Comparator::GreaterOrEqual, 1.0))
        },
    )
    .await
    .unwrap();
    let early = app
        .evaluate("townships-only", "ng-gkz", "2024", false)
        .await;
    assert_eq!(early.status, pb::TargetStatus::NotApplicable as i32);
    let department = app
        .evaluate("townships-only", "ng-sfj", "2025", false)
        .await;
    assert_eq!(
        department.status,
        pb::TargetStatus::NotApplicable as i32,
        "{department:?}"
    );
    app.approved("study-sessions", "ng-gkz", "2025-01", "", 2.0)
        .await;
    let township = app
        .evaluate("townships-only", "ng-gkz", "2025", false)
        .await;
    assert_eq!(
        township.status,
        pb::TargetStatus::Met as i32,
        "{township:?}"
    );
    // The region counts only its townships: ng-sfj's 2025 sessions would not count.
    app.approved("study-sessions", "ng-sfj", "2025-02", "", 5.0)
        .await;
    let region = app
        .evaluate("townships-only", "ningguo", "2025", true)
        .await;
    assert_eq!(region.value, Some(2.0), "{region:?}");

    // The indicator alone, for the region, with submitted values counted on request.
    let staff = app.staff.clone();
    let pending = app
        .report(&staff, "study-sessions", "ng-sfj", "2025-03", "", 1.0)
        .await
        .unwrap();
    app.submit(&staff, &pending).await.unwrap();
    let coordinator = app.coordinator.clone();
    let value = |include_submitted| pb::EvaluateIndicatorRequest {
        indicator: "indicators/study".to_owned(),
        unit: "units/ningguo".to_owned(),
        period: "2025".to_owned(),
        include_descendants: true,
        include_submitted,
    };
    let approved_only = app
        .client
        .evaluate_indicator(fazhi_testkit::with_token(value(false), &coordinator))
        .await
        .unwrap()
        .into_inner()
        .value
        .unwrap();
    let with_submitted = app
        .client
        .evaluate_indicator(fazhi_testkit::with_token(value(true), &coordinator))
        .await
        .unwrap()
        .into_inner()
        .value
        .unwrap();
    assert_eq!(
        (approved_only.value, with_submitted.value),
        (Some(7.0), Some(8.0))
    );
}

#[tokio::test]
async fn a_unit_declared_target_compares_each_unit_with_its_own_plan() {
    let mut app = App::start().await;
    court_catalogue(&mut app).await;
    // Each unit declares the rate it plans to reach (计划出庭应诉率); the target holds when the
    // actual rate reaches the unit's own plan.
    app.element_with(
        "planned-rate",
        pb::DataElement {
            code: "计划出庭率".to_owned(),
            display_name: "计划出庭应诉率".to_owned(),
            value_type: pb::ValueType::Percentage as i32,
            aggregation: pb::Aggregation::Average as i32,
            period_aggregation: pb::Aggregation::Last as i32,
            period_type: pb::PeriodType::Year as i32,
            unit_of_measure: "%".to_owned(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    app.target(
        "reach-own-plan",
        target_on(
            "appearance-rate",
            Some(pb::target::Kind::Reference(pb::ReferenceTarget {
                comparator: pb::Comparator::GreaterOrEqual as i32,
                reference_code: "计划出庭率".to_owned(),
            })),
        ),
    )
    .await
    .unwrap();
    for (unit, planned) in [("ng-sfj", 80.0), ("ng-gaj", 50.0)] {
        app.approved("appearances", unit, "2024", "", 6.0).await;
        app.approved("hearings", unit, "2024", "", 10.0).await;
        app.approved("planned-rate", unit, "2024", "", planned)
            .await;
    }
    let short = app
        .evaluate("reach-own-plan", "ng-sfj", "2024", false)
        .await;
    assert_eq!(
        (short.status, short.explanation.as_str()),
        (
            pb::TargetStatus::NotMet as i32,
            "appearance-rate 60%,目标 ≥ 计划出庭率 80%,未达标"
        )
    );
    let reached = app
        .evaluate("reach-own-plan", "ng-gaj", "2024", false)
        .await;
    assert_eq!(reached.status, pb::TargetStatus::Met as i32, "{reached:?}");
    // A unit that declared nothing has nothing to be compared with.
    app.approved("appearances", "ng-rsj", "2024", "", 1.0).await;
    app.approved("hearings", "ng-rsj", "2024", "", 1.0).await;
    let undeclared = app
        .evaluate("reach-own-plan", "ng-rsj", "2024", false)
        .await;
    assert_eq!(
        undeclared.status,
        pb::TargetStatus::NoData as i32,
        "{undeclared:?}"
    );
}

#[tokio::test]
async fn a_verdict_that_changes_with_an_approval_or_a_reopening_is_published() {
    let mut app = App::start().await;
    court_catalogue(&mut app).await;
    // The follower as the background task runs it, on the service's own token and database.
    let book = fazhi_indicators::IndicatorBook::new(
        fazhi_indicators::Store::new(app._indicators_database.pool.clone()),
        fazhi_indicators::UnitsClient::new(&format!("http://{}", app._server.address)).unwrap(),
        fazhi_indicators::PlansClient::new(&format!("http://{}", app._server.address)).unwrap(),
    );
    let context = fazhi_platform::call::CallContext::system(
        "test/FollowTargetStatuses",
        fazhi_platform::call::Credentials::bearer(fazhi_testkit::bearer(
            "fazhi-indicators",
            None,
            &[fazhi_platform::auth::Role::Admin],
        )),
    );
    let follow = async || while book.follow_target_statuses(&context).await.unwrap() > 0 {};

    app.approved("appearances", "ng-sfj", "2024", "", 4.0).await;
    follow().await; // no data yet: not news
    let hearings = app.approved("hearings", "ng-sfj", "2024", "", 10.0).await;
    follow().await; // 40 %: not met
    let admin = app.admin.clone();
    let reopened = app
        .client
        .reopen_data_value(with_token(
            pb::ReopenDataValueRequest {
                name: hearings.name.clone(),
                etag: hearings.etag.clone(),
                reason: "应出庭数有误".to_owned(),
                request_id: String::new(),
            },
            &admin,
        ))
        .await
        .unwrap()
        .into_inner()
        .data_value
        .unwrap();
    assert_eq!(reopened.state, pb::DataValueState::Draft as i32);
    follow().await; // no data again
    app.approved("hearings", "ng-sfj", "2024", "", 6.0).await;
    follow().await; // 66.67 %: met
    follow().await; // nothing new

    let mut events = app
        .client
        .watch_events(with_token(
            pb::WatchEventsRequest { after_sequence: 0 },
            &admin,
        ))
        .await
        .unwrap()
        .into_inner();
    let mut changes = Vec::new();
    while changes.len() < 3 {
        let event = events.next().await.unwrap().unwrap().event.unwrap();
        if event.r#type == "target.status_changed" {
            assert_eq!(
                event.resource,
                "targets/appearance-rate-50/units/ng-sfj/periods/2024"
            );
            let change = event.status_change.unwrap();
            changes.push((change.previous_status(), change.status()));
        }
    }
    // The first "no data" was recorded, not published: it is what the first news changed from.
    use pb::TargetStatus::{Met, NoData, NotMet};
    assert_eq!(changes, [(NoData, NotMet), (NotMet, NoData), (NoData, Met)]);
    let statuses: Vec<String> = sqlx::query_scalar(
        "SELECT status FROM indicators.target_statuses WHERE unit_id = 'ng-sfj' AND period = '2024'",
    )
    .fetch_all(&app._indicators_database.pool)
    .await
    .unwrap();
    assert_eq!(statuses, ["met"]);
}

/// A region's own units compared with the region: 3 units at 90 %, 60 % and 0 % of appearances.
async fn three_units(app: &mut App) {
    court_catalogue(app).await;
    for (unit, appearances, hearings) in [
        ("ng-sfj", 9.0, 10.0),
        ("ng-rsj", 3.0, 5.0),
        ("ng-gaj", 0.0, 5.0),
    ] {
        app.approved("appearances", unit, "2024", "", appearances)
            .await;
        app.approved("hearings", unit, "2024", "", hearings).await;
    }
}

fn relative(basis: pb::RelativeBasis) -> Option<pb::target::Kind> {
    Some(pb::target::Kind::Relative(pb::RelativeTarget {
        comparator: pb::Comparator::GreaterOrEqual as i32,
        basis: basis as i32,
    }))
}

#[tokio::test]
async fn a_relative_target_compares_each_unit_with_the_region_or_its_peers() {
    let mut app = App::start().await;
    three_units(&mut app).await;
    for (id, basis) in [
        ("at-least-region", pb::RelativeBasis::Region),
        ("at-least-peers", pb::RelativeBasis::PeerAverage),
    ] {
        app.target(
            id,
            pb::Target {
                indicator: "indicators/appearance-rate".to_owned(),
                kind: relative(basis),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    }
    // The region: 12 of 20 = 60 %; the peers' average: (90 + 60 + 0) / 3 = 50 %.
    let sfj = app
        .evaluate("at-least-region", "ng-sfj", "2024", false)
        .await;
    assert_eq!(sfj.status, pb::TargetStatus::Met as i32);
    assert_eq!(
        sfj.explanation,
        "appearance-rate 90%,目标 ≥ 60%(适用单位汇总,3 个单位),达标"
    );
    let rsj = app
        .evaluate("at-least-region", "ng-rsj", "2024", false)
        .await;
    assert_eq!(rsj.status, pb::TargetStatus::Met as i32, "{rsj:?}");
    let gaj = app
        .evaluate("at-least-region", "ng-gaj", "2024", false)
        .await;
    assert_eq!(gaj.status, pb::TargetStatus::NotMet as i32);
    let peers = app
        .evaluate("at-least-peers", "ng-rsj", "2024", false)
        .await;
    assert_eq!(
        peers.explanation,
        "appearance-rate 60%,目标 ≥ 50%(同类单位平均,3 个单位),达标"
    );
    // A unit with no value of its own has no verdict; the same in a whole region's batch.
    let none = app
        .evaluate("at-least-peers", "ng-zfb", "2024", false)
        .await;
    assert_eq!(none.status, pb::TargetStatus::NoData as i32);
    let coordinator = app.coordinator.clone();
    let mut pages = app
        .client
        .evaluate_region(with_token(
            pb::EvaluateRegionRequest {
                unit: "units/ningguo".to_owned(),
                period: "2024".to_owned(),
                targets: vec!["targets/at-least-peers".to_owned()],
                view: pb::EvaluationView::Full as i32,
                ..Default::default()
            },
            &coordinator,
        ))
        .await
        .unwrap()
        .into_inner();
    let mut statuses = std::collections::BTreeMap::new();
    while let Some(page) = pages.next().await {
        for evaluation in page.unwrap().evaluations {
            statuses.insert(evaluation.unit.clone(), evaluation.status);
        }
    }
    assert_eq!(statuses["units/ng-rsj"], pb::TargetStatus::Met as i32);
    assert_eq!(statuses["units/ng-gaj"], pb::TargetStatus::NotMet as i32);
    assert_eq!(statuses["units/ng-zfb"], pb::TargetStatus::NoData as i32);
    // Each unit's own figure for the whole region in one stream, as EvaluateIndicator gives it.
    let region_indicators = |indicators: &[&str]| pb::EvaluateRegionIndicatorsRequest {
        unit: "units/ningguo".to_owned(),
        period: "2024".to_owned(),
        indicators: indicators.iter().map(|name| (*name).to_owned()).collect(),
        include_submitted: false,
    };
    let mut pages = app
        .client
        .evaluate_region_indicators(with_token(
            region_indicators(&["indicators/appearance-rate"]),
            &coordinator,
        ))
        .await
        .unwrap()
        .into_inner();
    let mut values = std::collections::BTreeMap::new();
    while let Some(page) = pages.next().await {
        for found in page.unwrap().values {
            assert_eq!(found.indicator, "indicators/appearance-rate");
            values.insert(found.unit.clone(), found.value);
        }
    }
    assert_eq!(
        (
            values["units/ng-sfj"],
            values["units/ng-rsj"],
            values["units/ng-zfb"]
        ),
        (Some(90.0), Some(60.0), None)
    );
    let staff = fazhi_testkit::bearer(
        "ng-sfj-clerk",
        Some("ng-sfj"),
        &[fazhi_platform::auth::Role::UnitStaff],
    );
    let refused = app
        .client
        .evaluate_region_indicators(with_token(
            region_indicators(&["indicators/appearance-rate"]),
            &staff,
        ))
        .await
        .map(|_| ())
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::PermissionDenied);
    let refused = app
        .client
        .evaluate_region_indicators(with_token(region_indicators(&[]), &coordinator))
        .await
        .map(|_| ())
        .unwrap_err();
    assert_eq!(
        fazhi_testkit::replay::field_violations(&refused),
        [("indicators".to_owned(), "REQUIRED".to_owned())]
    );
    let missing = app
        .client
        .evaluate_region_indicators(with_token(
            region_indicators(&["indicators/no-such"]),
            &coordinator,
        ))
        .await
        .map(|_| ())
        .unwrap_err();
    assert_eq!(missing.code(), tonic::Code::NotFound);
    // A relative target without its basis is refused with the field named.
    let refused = app
        .target(
            "no-basis",
            pb::Target {
                indicator: "indicators/appearance-rate".to_owned(),
                kind: relative(pb::RelativeBasis::Unspecified),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(
        fazhi_testkit::replay::field_violations(&refused),
        [("target.relative.basis".to_owned(), "REQUIRED".to_owned())]
    );
}

#[tokio::test]
async fn a_term_of_office_sums_the_years_inside_it() {
    let mut app = App::start().await;
    three_units(&mut app).await;
    app.approved("appearances", "ng-sfj", "2025", "", 1.0).await;
    app.approved("hearings", "ng-sfj", "2025", "", 10.0).await;
    // 2024 and 2025 lie inside the term; 10 of 20 = 50 %.
    let term = app
        .evaluate(
            "appearance-rate-50",
            "ng-sfj",
            "2024-01-01~2025-12-31",
            false,
        )
        .await;
    assert_eq!(
        (term.status, term.value),
        (pb::TargetStatus::Met as i32, Some(50.0)),
        "{term:?}"
    );
    // A term starting mid-2024 holds 2025 only.
    let later = app
        .evaluate(
            "appearance-rate-50",
            "ng-sfj",
            "2024-07-01~2026-06-30",
            false,
        )
        .await;
    assert_eq!(later.value, Some(10.0));
    let admin = app.admin.clone();
    let reversed = app
        .client
        .evaluate_target(with_token(
            pb::EvaluateTargetRequest {
                target: "targets/appearance-rate-50".to_owned(),
                unit: "units/ng-sfj".to_owned(),
                period: "2025-12-31~2024-01-01".to_owned(),
                ..Default::default()
            },
            &admin,
        ))
        .await
        .unwrap_err();
    assert_eq!(
        fazhi_testkit::replay::field_violations(&reversed),
        [("period".to_owned(), "INVALID_PERIOD".to_owned())]
    );
}

#[tokio::test]
async fn a_formula_counts_the_units_of_a_group() {
    let mut app = App::start().await;
    app.element("advised", "有法律顾问的乡镇数", &[]).await;
    app.indicator(
        "adviser-coverage",
        "有法律顾问的乡镇数 / count(townships)",
        100.0,
        pb::Direction::HigherIsBetter,
    )
    .await
    .unwrap();
    app.approved("advised", "ningguo", "2024", "", 7.0).await;
    let coordinator = app.coordinator.clone();
    let client = app.client.clone();
    let coverage = async |region: bool| {
        client
            .clone()
            .evaluate_indicator(with_token(
                pb::EvaluateIndicatorRequest {
                    indicator: "indicators/adviser-coverage".to_owned(),
                    unit: "units/ningguo".to_owned(),
                    period: "2024".to_owned(),
                    include_descendants: region,
                    ..Default::default()
                },
                &coordinator,
            ))
            .await
            .unwrap()
            .into_inner()
            .value
            .unwrap()
    };
    let evaluated = coverage(true).await;
    // 宁国市 has 14 乡镇、街道 directly under it: 7 of 14.
    assert_eq!(evaluated.value, Some(50.0), "{evaluated:?}");
    let count = evaluated
        .inputs
        .iter()
        .find(|input| input.data_element_code == "count(townships)")
        .unwrap();
    assert_eq!(count.value, Some(14.0));
    // One unit alone that is no township counts none: a zero denominator.
    let alone = coverage(false).await;
    assert_eq!(alone.value, None);
}
