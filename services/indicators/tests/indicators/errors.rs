//! Every RPC's refusals: no token, bad fields named, unknown resources, stale etags, wrong
//! states, and another unit's data.

use fazhi_platform::auth::Role;
use fazhi_proto::indicators::v1 as pb;
use fazhi_testkit::replay::{field_violations, reason};
use fazhi_testkit::{bearer, with_token};
use tonic::Code;

use crate::{App, absolute, court_catalogue};

pub fn refused<T: std::fmt::Debug>(
    answer: Result<T, tonic::Status>,
) -> (Code, String, Vec<(String, String)>) {
    let status = answer.expect_err("refused");
    (status.code(), reason(&status), field_violations(&status))
}

pub fn fields(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(field, reason)| ((*field).to_owned(), (*reason).to_owned()))
        .collect()
}

#[tokio::test]
async fn the_catalogue_refuses_bad_definitions_naming_each_field() {
    let mut app = App::start().await;
    court_catalogue(&mut app).await;

    let no_type = app
        .element_with(
            "bad",
            pb::DataElement {
                code: "1x".to_owned(),
                category_options: vec!["甲".into(), "甲".into()],
                ..Default::default()
            },
        )
        .await;
    let (code, _, violations) = refused(no_type);
    assert_eq!(code, Code::InvalidArgument);
    assert_eq!(
        violations,
        fields(&[
            ("data_element.value_type", "REQUIRED"),
            ("data_element.aggregation", "REQUIRED"),
            ("data_element.period_aggregation", "REQUIRED"),
            ("data_element.period_type", "REQUIRED"),
        ])
    );
    let mut good = app.element("study", "学法次数", &[]).await;
    good.code = "学法次数".to_owned();
    let duplicate = app.element_with("study-2", good.clone()).await;
    assert_eq!(
        refused(duplicate).2,
        fields(&[("data_element.code", "DUPLICATE_CODE")])
    );
    let same_id = app
        .element_with(
            "study",
            pb::DataElement {
                code: "其他".to_owned(),
                ..good
            },
        )
        .await;
    assert_eq!(
        refused(same_id).2,
        fields(&[("data_element_id", "ALREADY_EXISTS")])
    );

    let syntax = app
        .indicator("broken", "出庭数 / ", 100.0, pb::Direction::HigherIsBetter)
        .await
        .expect_err("syntax");
    assert_eq!(
        field_violations(&syntax),
        fields(&[("indicator.formula", "FORMULA_SYNTAX")])
    );
    assert!(
        syntax.message().contains("character 5"),
        "{}",
        syntax.message()
    );
    let unknown = app
        .indicator(
            "unknown",
            "出庭数[其他] / 未知数",
            1.0,
            pb::Direction::HigherIsBetter,
        )
        .await;
    assert_eq!(
        refused(unknown).2,
        fields(&[
            ("indicator.formula", "UNKNOWN_CATEGORY_OPTION"),
            ("indicator.formula", "UNKNOWN_DATA_ELEMENT")
        ])
    );
    let zero = app
        .indicator(
            "zero",
            "出庭数 / (2 - 2)",
            1.0,
            pb::Direction::HigherIsBetter,
        )
        .await;
    assert_eq!(
        refused(zero).2,
        fields(&[("indicator.formula", "DIVISION_BY_ZERO")])
    );
    let no_direction = app
        .indicator("nodir", "出庭数", 1.0, pb::Direction::Unspecified)
        .await;
    assert_eq!(
        refused(no_direction).2,
        fields(&[("indicator.direction", "REQUIRED")])
    );

    let missing_indicator = app
        .target(
            "t1",
            pb::Target {
                indicator: "indicators/none".to_owned(),
                kind: absolute(pb::Comparator::Less, 1.0),
                first_period: "2024Q5".to_owned(),
                ..Default::default()
            },
        )
        .await;
    assert_eq!(
        refused(missing_indicator).2,
        fields(&[
            ("target.first_period", "INVALID_PERIOD"),
            ("target.indicator", "NOT_FOUND")
        ])
    );
    let no_element = app
        .target(
            "t2",
            pb::Target {
                indicator: "indicators/appearance-rate".to_owned(),
                kind: Some(pb::target::Kind::Reference(pb::ReferenceTarget {
                    comparator: pb::Comparator::Less as i32,
                    reference_code: "未知数".to_owned(),
                })),
                ..Default::default()
            },
        )
        .await;
    assert_eq!(
        refused(no_element).2,
        fields(&[("target.reference.reference_code", "UNKNOWN_DATA_ELEMENT")])
    );
    let no_kind = app
        .target(
            "t3",
            pb::Target {
                indicator: "indicators/appearance-rate".to_owned(),
                ..Default::default()
            },
        )
        .await;
    assert_eq!(refused(no_kind).2, fields(&[("target.kind", "REQUIRED")]));

    // Only admins write the catalogue; only the owner unit's coordinators set its targets.
    let coordinator = app.coordinator.clone();
    let element = app
        .client
        .get_data_element(with_token(
            pb::GetDataElementRequest {
                name: "dataElements/study".to_owned(),
            },
            &coordinator,
        ))
        .await
        .unwrap()
        .into_inner()
        .data_element;
    let denied = app
        .client
        .create_data_element(with_token(
            pb::CreateDataElementRequest {
                data_element_id: "x".to_owned(),
                data_element: element.map(|element| pb::DataElement {
                    code: "新编码".to_owned(),
                    ..element
                }),
                request_id: String::new(),
            },
            &coordinator,
        ))
        .await;
    assert_eq!(refused(denied).0, Code::PermissionDenied);
    let xuchang = bearer("xc-office", Some("xuchang"), &[Role::Coordinator]);
    let foreign = app
        .client
        .create_target(with_token(
            pb::CreateTargetRequest {
                target_id: "foreign".to_owned(),
                target: Some(pb::Target {
                    display_name: "x".to_owned(),
                    owner_unit: "units/ningguo".to_owned(),
                    indicator: "indicators/appearance-rate".to_owned(),
                    kind: absolute(pb::Comparator::Less, 1.0),
                    ..Default::default()
                }),
                request_id: String::new(),
            },
            &xuchang,
        ))
        .await;
    assert_eq!(refused(foreign).0, Code::PermissionDenied);
}

#[tokio::test]
async fn values_are_refused_with_reasons_and_nobody_touches_another_units_data() {
    let mut app = App::start().await;
    court_catalogue(&mut app).await;
    let staff = app.staff.clone();

    let no_token = app
        .client
        .list_data_elements(pb::ListDataElementsRequest::default())
        .await;
    assert_eq!(refused(no_token).0, Code::Unauthenticated);

    let bad = app
        .report(&staff, "appearances", "ng-sfj", "2024-03", "其他", 2.5)
        .await;
    assert_eq!(
        refused(bad).2,
        fields(&[
            ("period", "WRONG_PERIOD_TYPE"),
            ("category_option", "UNKNOWN_CATEGORY_OPTION"),
            ("value", "NOT_WHOLE")
        ])
    );
    let unreadable = app
        .report(&staff, "appearances", "ng-sfj", "2024年", "", -1.0)
        .await;
    assert_eq!(
        refused(unreadable).2,
        fields(&[("period", "INVALID_PERIOD"), ("value", "NEGATIVE")])
    );
    let unknown = app
        .report(&staff, "nothing", "ng-sfj", "2024", "", 1.0)
        .await;
    assert_eq!(refused(unknown).2, fields(&[("data_element", "NOT_FOUND")]));
    let no_unit = app.report(&staff, "appearances", "", "2024", "", 1.0).await;
    assert_eq!(refused(no_unit).2, fields(&[("unit", "REQUIRED")]));

    // Another unit's staff, and a unit that does not exist, are refused alike (AIP-211).
    let other = app
        .report(&staff, "appearances", "ng-gaj", "2024", "", 1.0)
        .await;
    assert_eq!(refused(other).0, Code::PermissionDenied);
    let missing_unit = app
        .report(&staff, "appearances", "no-such-unit", "2024", "", 1.0)
        .await;
    assert_eq!(refused(missing_unit).0, Code::PermissionDenied);

    let value = app
        .report(&staff, "appearances", "ng-sfj", "2024", "", 3.0)
        .await
        .unwrap();
    let stale = pb::DataValue {
        etag: "W/\"41\"".to_owned(),
        ..value.clone()
    };
    assert_eq!(refused(app.submit(&staff, &stale).await).1, "ETAG_MISMATCH");
    let submitted = app.submit(&staff, &value).await.unwrap();
    // Locked once submitted; staff cannot approve their own unit's value.
    assert_eq!(
        refused(
            app.report(&staff, "appearances", "ng-sfj", "2024", "", 4.0)
                .await
        )
        .1,
        "VALUE_LOCKED"
    );
    assert_eq!(
        refused(app.approve(&staff, &submitted).await).0,
        Code::PermissionDenied
    );
    let own_coordinator = bearer("sfj-head", Some("ng-sfj"), &[Role::Coordinator]);
    assert_eq!(
        refused(app.approve(&own_coordinator, &submitted).await).0,
        Code::PermissionDenied
    );
    let coordinator = app.coordinator.clone();
    let approved = app.approve(&coordinator, &submitted).await.unwrap();
    assert_eq!(
        refused(app.approve(&coordinator, &approved).await).1,
        "VALUE_WRONG_STATE"
    );
    let no_reason = app
        .client
        .reopen_data_value(with_token(
            pb::ReopenDataValueRequest {
                name: approved.name.clone(),
                etag: approved.etag.clone(),
                reason: " ".to_owned(),
                request_id: String::new(),
            },
            &coordinator,
        ))
        .await;
    assert_eq!(refused(no_reason).2, fields(&[("reason", "REQUIRED")]));

    // Reading: another unit's staff is refused, a missing value looks the same except to admins.
    let police = bearer("gaj-clerk", Some("ng-gaj"), &[Role::UnitStaff]);
    let peek = app
        .client
        .get_data_value(with_token(
            pb::GetDataValueRequest {
                name: approved.name.clone(),
            },
            &police,
        ))
        .await;
    assert_eq!(refused(peek).0, Code::PermissionDenied);
    let missing = app
        .client
        .get_data_value(with_token(
            pb::GetDataValueRequest {
                name: "dataValues/v-none".to_owned(),
            },
            &police,
        ))
        .await;
    assert_eq!(refused(missing).0, Code::PermissionDenied);
    let admin = app.admin.clone();
    let missing = app
        .client
        .get_data_value(with_token(
            pb::GetDataValueRequest {
                name: "dataValues/v-none".to_owned(),
            },
            &admin,
        ))
        .await;
    assert_eq!(refused(missing).0, Code::NotFound);
    let viewer = bearer("leader", Some("xuancheng"), &[Role::Viewer]);
    let read = app
        .client
        .get_data_value(with_token(
            pb::GetDataValueRequest {
                name: approved.name.clone(),
            },
            &viewer,
        ))
        .await;
    assert!(read.is_ok(), "{read:?}");
    let evaluation = app
        .client
        .evaluate_target(with_token(
            pb::EvaluateTargetRequest {
                target: "targets/appearance-rate-50".to_owned(),
                unit: "units/ng-sfj".to_owned(),
                period: "2024".to_owned(),
                ..Default::default()
            },
            &police,
        ))
        .await;
    assert_eq!(refused(evaluation).0, Code::PermissionDenied);
    let bad_scope = app
        .client
        .evaluate_target(with_token(
            pb::EvaluateTargetRequest {
                target: "targets/appearance-rate-50".to_owned(),
                unit: "ng-sfj".to_owned(),
                period: "2024".to_owned(),
                ..Default::default()
            },
            &admin,
        ))
        .await;
    assert_eq!(refused(bad_scope).2, fields(&[("unit", "INVALID_NAME")]));
}
