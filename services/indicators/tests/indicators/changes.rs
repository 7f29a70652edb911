//! Targets, data sets, indicators and data elements changed with an update mask and an etag,
//! and soft-deleted (AIP-134, AIP-154, AIP-164).

use fazhi_proto::indicators::v1 as pb;
use fazhi_testkit::replay::{assert_replays, field_violations};
use fazhi_testkit::with_token;
use tonic::Code;

use crate::{App, absolute, court_catalogue};

fn mask(paths: &[&str]) -> Option<prost_types::FieldMask> {
    Some(prost_types::FieldMask {
        paths: paths.iter().map(|path| (*path).to_owned()).collect(),
    })
}

#[tokio::test]
async fn a_target_changes_under_its_etag_and_a_part_is_not_deleted_from_under_its_whole() {
    let mut app = App::start().await;
    court_catalogue(&mut app).await;
    let (coordinator, staff) = (app.coordinator.clone(), app.staff.clone());
    app.approved("appearances", "ng-sfj", "2024", "", 6.0).await;
    app.approved("hearings", "ng-sfj", "2024", "", 10.0).await;
    let before = app
        .evaluate("appearance-rate-50", "ng-sfj", "2024", false)
        .await;
    assert_eq!(before.status, pb::TargetStatus::Met as i32);

    let current = app
        .client
        .get_target(with_token(
            pb::GetTargetRequest {
                name: "targets/appearance-rate-50".to_owned(),
            },
            &coordinator,
        ))
        .await
        .unwrap()
        .into_inner()
        .target
        .unwrap();
    let update =
        |value: f64, etag: &str, paths: &[&str], request_id: &str| pb::UpdateTargetRequest {
            target: Some(pb::Target {
                name: "targets/appearance-rate-50".to_owned(),
                display_name: "出庭应诉率不低于70%".to_owned(),
                kind: absolute(pb::Comparator::GreaterOrEqual, value),
                etag: etag.to_owned(),
                ..Default::default()
            }),
            update_mask: mask(paths),
            request_id: request_id.to_owned(),
        };
    let stale = app
        .client
        .update_target(with_token(
            update(70.0, "\"9\"", &["absolute"], ""),
            &coordinator,
        ))
        .await
        .unwrap_err();
    assert_eq!(stale.code(), Code::Aborted);
    let fixed = app
        .client
        .update_target(with_token(
            update(70.0, &current.etag, &["indicator"], ""),
            &coordinator,
        ))
        .await
        .unwrap_err();
    assert_eq!(
        field_violations(&fixed),
        [("update_mask".to_owned(), "UNKNOWN_FIELD".to_owned())]
    );
    let denied = app
        .client
        .update_target(with_token(
            update(70.0, &current.etag, &["absolute"], ""),
            &staff,
        ))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);

    let client = app.client.clone();
    let updated = assert_replays(
        "UpdateTarget",
        |request| {
            let mut client = client.clone();
            let coordinator = coordinator.clone();
            async move {
                client
                    .update_target(with_token(request, &coordinator))
                    .await
            }
        },
        (
            update(
                70.0,
                &current.etag,
                &["display_name", "absolute"],
                "r-update",
            ),
            update(80.0, &current.etag, &["absolute"], "r-update"),
        ),
        async || {},
    )
    .await
    .target
    .unwrap();
    assert_eq!(updated.display_name, "出庭应诉率不低于70%");
    assert_ne!(updated.etag, current.etag);
    let after = app
        .evaluate("appearance-rate-50", "ng-sfj", "2024", false)
        .await;
    assert_eq!(
        (after.status, after.explanation.as_str()),
        (
            pb::TargetStatus::NotMet as i32,
            "appearance-rate 60%,目标 ≥ 70%,未达标"
        )
    );

    // A composite over it: the part stays until the whole goes.
    app.target(
        "both",
        pb::Target {
            kind: Some(pb::target::Kind::AllOf(pb::CompositeTarget {
                targets: vec!["targets/appearance-rate-50".to_owned()],
            })),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let delete = |name: &str| pb::DeleteTargetRequest {
        name: format!("targets/{name}"),
        etag: String::new(),
        request_id: String::new(),
    };
    let in_use = app
        .client
        .delete_target(with_token(delete("appearance-rate-50"), &coordinator))
        .await
        .unwrap_err();
    assert_eq!(in_use.code(), Code::FailedPrecondition);
    app.client
        .delete_target(with_token(delete("both"), &coordinator))
        .await
        .unwrap();
    let deleted = app
        .client
        .delete_target(with_token(delete("appearance-rate-50"), &coordinator))
        .await
        .unwrap()
        .into_inner()
        .target
        .unwrap();
    assert!(deleted.delete_time.is_some());
    let listed = app
        .client
        .list_targets(with_token(pb::ListTargetsRequest::default(), &coordinator))
        .await
        .unwrap()
        .into_inner()
        .targets;
    assert!(listed.is_empty(), "{listed:?}");
    let gone = app
        .client
        .evaluate_target(with_token(
            pb::EvaluateTargetRequest {
                target: "targets/appearance-rate-50".to_owned(),
                unit: "units/ng-sfj".to_owned(),
                period: "2024".to_owned(),
                ..Default::default()
            },
            &coordinator,
        ))
        .await
        .unwrap_err();
    assert_eq!(gone.code(), Code::NotFound);
    let again = app
        .client
        .delete_target(with_token(delete("appearance-rate-50"), &coordinator))
        .await
        .unwrap_err();
    assert_eq!(again.code(), Code::NotFound);
}

#[tokio::test]
async fn a_data_set_changes_its_schedule_and_rules_and_once_deleted_asks_for_no_returns() {
    let mut app = App::start().await;
    app.element("lawsuits", "诉讼案件数", &[]).await;
    app.element("lost", "败诉数", &[]).await;
    let (coordinator, staff) = (app.coordinator.clone(), app.staff.clone());
    let created = app
        .client
        .create_data_set(with_token(
            pb::CreateDataSetRequest {
                data_set_id: "litigation".to_owned(),
                data_set: Some(pb::DataSet {
                    code: "行政诉讼情况".to_owned(),
                    display_name: "行政诉讼案件情况".to_owned(),
                    period_type: pb::PeriodType::Year as i32,
                    data_element_codes: vec!["诉讼案件数".to_owned()],
                    owner_unit: "units/ningguo".to_owned(),
                    reporting_group: "unitGroups/law-enforcement-units".to_owned(),
                    due_days: 15,
                    ..Default::default()
                }),
                request_id: String::new(),
            },
            &coordinator,
        ))
        .await
        .unwrap()
        .into_inner()
        .data_set
        .unwrap();
    let update = |set: pb::DataSet, paths: &[&str]| pb::UpdateDataSetRequest {
        data_set: Some(pb::DataSet {
            name: "dataSets/litigation".to_owned(),
            ..set
        }),
        update_mask: mask(paths),
        request_id: String::new(),
    };
    let rule = |right: &str| pb::ValidationRule {
        display_name: "败诉数不超过案件数".to_owned(),
        left: "败诉数".to_owned(),
        comparator: pb::Comparator::LessOrEqual as i32,
        right: right.to_owned(),
    };
    let bad = app
        .client
        .update_data_set(with_token(
            update(
                pb::DataSet {
                    data_element_codes: vec!["诉讼案件数".to_owned(), "败诉数".to_owned()],
                    validation_rules: vec![rule("诉讼案件数 *")],
                    ..Default::default()
                },
                &["data_element_codes", "validation_rules"],
            ),
            &coordinator,
        ))
        .await
        .unwrap_err();
    assert_eq!(
        field_violations(&bad),
        [(
            "data_set.validation_rules[0].right".to_owned(),
            "FORMULA_SYNTAX".to_owned()
        )]
    );
    let changed = app
        .client
        .update_data_set(with_token(
            update(
                pb::DataSet {
                    data_element_codes: vec!["诉讼案件数".to_owned(), "败诉数".to_owned()],
                    validation_rules: vec![rule("诉讼案件数")],
                    due_days: 30,
                    etag: created.etag.clone(),
                    // Not in the mask: kept.
                    display_name: "改名".to_owned(),
                    ..Default::default()
                },
                &["data_element_codes", "validation_rules", "due_days"],
            ),
            &coordinator,
        ))
        .await
        .unwrap()
        .into_inner()
        .data_set
        .unwrap();
    assert_eq!(
        (
            changed.display_name.as_str(),
            changed.due_days,
            changed.data_element_codes.len(),
            changed.validation_rules.len()
        ),
        ("行政诉讼案件情况", 30, 2, 1)
    );
    let returns = |app: &App| {
        let mut client = app.client.clone();
        let request = with_token(
            pb::ListReturnsRequest {
                data_set: "dataSets/litigation".to_owned(),
                unit: "units/ningguo".to_owned(),
                period: "2026".to_owned(),
                ..Default::default()
            },
            &coordinator,
        );
        async move { client.list_returns(request).await }
    };
    assert_eq!(
        returns(&app).await.unwrap().into_inner().due_date,
        "2027-01-30"
    );
    // The new rule runs on submit.
    app.report(&staff, "lawsuits", "ng-sfj", "2026", "", 1.0)
        .await
        .unwrap();
    let lost = app
        .report(&staff, "lost", "ng-sfj", "2026", "", 2.0)
        .await
        .unwrap();
    let refused = app.submit(&staff, &lost).await.unwrap_err();
    assert_eq!(
        field_violations(&refused),
        [(
            "dataSets/litigation.validation_rules[0]".to_owned(),
            "VALIDATION_RULE_FAILED".to_owned()
        )]
    );

    let deleted = app
        .client
        .delete_data_set(with_token(
            pb::DeleteDataSetRequest {
                name: "dataSets/litigation".to_owned(),
                etag: changed.etag.clone(),
                request_id: String::new(),
            },
            &coordinator,
        ))
        .await
        .unwrap()
        .into_inner()
        .data_set
        .unwrap();
    assert!(deleted.delete_time.is_some());
    let listed = app
        .client
        .list_data_sets(with_token(pb::ListDataSetsRequest::default(), &coordinator))
        .await
        .unwrap()
        .into_inner()
        .data_sets;
    assert!(listed.is_empty());
    assert_eq!(
        field_violations(&returns(&app).await.unwrap_err()),
        [("data_set".to_owned(), "NOT_FOUND".to_owned())]
    );
    // Its rules no longer hold the value back.
    app.submit(&staff, &lost).await.unwrap();
}

#[tokio::test]
async fn data_set_and_target_changes_replay_and_none_answers_without_a_token() {
    let mut app = App::start().await;
    court_catalogue(&mut app).await;
    let coordinator = app.coordinator.clone();
    let client = app.client.clone();
    let call = |token: &str| (client.clone(), token.to_owned());

    let set = |display_name: &str| pb::CreateDataSetRequest {
        data_set_id: "court".to_owned(),
        data_set: Some(pb::DataSet {
            code: "出庭应诉情况".to_owned(),
            display_name: display_name.to_owned(),
            period_type: pb::PeriodType::Year as i32,
            data_element_codes: vec!["出庭数".to_owned(), "应出庭数".to_owned()],
            owner_unit: "units/ningguo".to_owned(),
            due_days: 15,
            ..Default::default()
        }),
        request_id: "r-create-set".to_owned(),
    };
    let created = assert_replays(
        "CreateDataSet",
        |request| {
            let (mut client, token) = call(&coordinator);
            async move { client.create_data_set(with_token(request, &token)).await }
        },
        (set("出庭应诉情况"), set("另一个名字")),
        async || {},
    )
    .await
    .data_set
    .unwrap();

    let rename = |name: &str, request_id: &str| pb::UpdateDataSetRequest {
        data_set: Some(pb::DataSet {
            name: "dataSets/court".to_owned(),
            display_name: name.to_owned(),
            etag: created.etag.clone(),
            ..Default::default()
        }),
        update_mask: mask(&["display_name"]),
        request_id: request_id.to_owned(),
    };
    let renamed = assert_replays(
        "UpdateDataSet",
        |request| {
            let (mut client, token) = call(&coordinator);
            async move { client.update_data_set(with_token(request, &token)).await }
        },
        (
            rename("行政机关负责人出庭应诉", "r-update-set"),
            rename("别的", "r-update-set"),
        ),
        async || {},
    )
    .await
    .data_set
    .unwrap();
    assert_eq!(renamed.display_name, "行政机关负责人出庭应诉");

    let delete_set = |etag: &str| pb::DeleteDataSetRequest {
        name: "dataSets/court".to_owned(),
        etag: etag.to_owned(),
        request_id: "r-delete-set".to_owned(),
    };
    assert_replays(
        "DeleteDataSet",
        |request| {
            let (mut client, token) = call(&coordinator);
            async move { client.delete_data_set(with_token(request, &token)).await }
        },
        (delete_set(&renamed.etag), delete_set("\"1\"")),
        async || {},
    )
    .await;

    let delete_target = |name: &str| pb::DeleteTargetRequest {
        name: format!("targets/{name}"),
        etag: String::new(),
        request_id: "r-delete-target".to_owned(),
    };
    assert_replays(
        "DeleteTarget",
        |request| {
            let (mut client, token) = call(&coordinator);
            async move { client.delete_target(with_token(request, &token)).await }
        },
        (delete_target("appearance-rate-50"), delete_target("other")),
        async || {},
    )
    .await;

    // No token, no answer: every new call says UNAUTHENTICATED before anything else.
    let mut bare = app.client.clone();
    let codes = [
        bare.create_data_set(set("x")).await.unwrap_err().code(),
        bare.update_data_set(rename("x", ""))
            .await
            .unwrap_err()
            .code(),
        bare.delete_data_set(delete_set(""))
            .await
            .unwrap_err()
            .code(),
        bare.delete_target(delete_target("x"))
            .await
            .unwrap_err()
            .code(),
        bare.submit_return(pb::SubmitReturnRequest::default())
            .await
            .unwrap_err()
            .code(),
        bare.list_returns(pb::ListReturnsRequest::default())
            .await
            .unwrap_err()
            .code(),
        bare.export_data_entry_form(pb::ExportDataEntryFormRequest::default())
            .await
            .unwrap_err()
            .code(),
        bare.list_data_sets(pb::ListDataSetsRequest::default())
            .await
            .unwrap_err()
            .code(),
        bare.delete_data_element(pb::DeleteDataElementRequest::default())
            .await
            .unwrap_err()
            .code(),
        bare.delete_indicator(pb::DeleteIndicatorRequest::default())
            .await
            .unwrap_err()
            .code(),
    ];
    assert!(
        codes.iter().all(|code| *code == Code::Unauthenticated),
        "{codes:?}"
    );
}

#[tokio::test]
async fn an_indicator_changes_under_its_etag_unless_a_target_would_no_longer_fit() {
    let mut app = App::start().await;
    court_catalogue(&mut app).await;
    app.element("others", "其他数", &[]).await;
    let (admin, coordinator) = (app.admin.clone(), app.coordinator.clone());
    let update = |formula: &str, etag: &str, request_id: &str| pb::UpdateIndicatorRequest {
        indicator: Some(pb::Indicator {
            name: "indicators/appearance-rate".to_owned(),
            display_name: "负责人出庭率".to_owned(),
            formula: formula.to_owned(),
            etag: etag.to_owned(),
            ..Default::default()
        }),
        update_mask: mask(&["display_name", "formula"]),
        request_id: request_id.to_owned(),
    };
    let client = app.client.clone();
    let send = |request: pb::UpdateIndicatorRequest, token: String| {
        let mut client = client.clone();
        async move { client.update_indicator(with_token(request, &token)).await }
    };
    let stale = send(update("出庭数 / 应出庭数", "\"9\"", ""), admin.clone())
        .await
        .unwrap_err();
    assert_eq!(stale.code(), Code::Aborted);
    let denied = send(update("出庭数 / 应出庭数", "", ""), coordinator.clone())
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    let bad = send(update("出庭数 / 0", "", ""), admin.clone())
        .await
        .unwrap_err();
    assert_eq!(
        field_violations(&bad),
        [(
            "indicator.formula".to_owned(),
            "DIVISION_BY_ZERO".to_owned()
        )]
    );
    let updated = assert_replays(
        "UpdateIndicator",
        |request| send(request, admin.clone()),
        (
            update("出庭数 / (应出庭数 + 0)", "\"1\"", "indicator-1"),
            update("出庭数 / 应出庭数", "", "indicator-1"),
        ),
        async || {},
    )
    .await
    .indicator
    .unwrap();
    assert_eq!(
        (updated.display_name.as_str(), updated.etag.as_str()),
        ("负责人出庭率", "\"2\"")
    );
    assert_eq!(updated.data_element_codes, ["出庭数", "应出庭数"]);

    // A quota on the subset needs every element the indicator reads to have that option.
    app.target(
        "major-cases-quota",
        pb::Target {
            indicator: "indicators/appearance-rate".to_owned(),
            kind: Some(pb::target::Kind::Quota(pb::QuotaTarget {
                comparator: pb::Comparator::GreaterOrEqual as i32,
                thresholds: [("涉及重大公共利益".to_owned(), 100.0)].into(),
            })),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let breaks = send(update("出庭数 / 其他数", "", ""), admin.clone())
        .await
        .unwrap_err();
    assert_eq!(
        field_violations(&breaks),
        [("indicator.formula".to_owned(), "BREAKS_TARGET".to_owned())]
    );
}

#[tokio::test]
async fn a_data_element_gains_options_but_loses_none() {
    let mut app = App::start().await;
    court_catalogue(&mut app).await;
    let admin = app.admin.clone();
    let update = |options: &[&str], etag: &str| pb::UpdateDataElementRequest {
        data_element: Some(pb::DataElement {
            name: "dataElements/hearings".to_owned(),
            display_name: "应出庭案件数".to_owned(),
            category_options: options.iter().map(|option| (*option).to_owned()).collect(),
            etag: etag.to_owned(),
            ..Default::default()
        }),
        update_mask: mask(&["display_name", "category_options"]),
        request_id: String::new(),
    };
    let added = app
        .client
        .update_data_element(with_token(
            update(&["涉及重大公共利益", "社会高度关注"], "\"1\""),
            &admin,
        ))
        .await
        .unwrap()
        .into_inner()
        .data_element
        .unwrap();
    assert_eq!(added.category_options, ["涉及重大公共利益", "社会高度关注"]);
    assert_eq!(added.display_name, "应出庭案件数");
    let removed = app
        .client
        .update_data_element(with_token(update(&["社会高度关注"], ""), &admin))
        .await
        .unwrap_err();
    assert_eq!(
        field_violations(&removed),
        [(
            "data_element.category_options".to_owned(),
            "CATEGORY_OPTION_REMOVED".to_owned()
        )]
    );
    let stale = app
        .client
        .update_data_element(with_token(
            update(&["涉及重大公共利益", "社会高度关注"], "\"1\""),
            &admin,
        ))
        .await
        .unwrap_err();
    assert_eq!(stale.code(), Code::Aborted);
    let staff = app.staff.clone();
    let denied = app
        .client
        .update_data_element(with_token(update(&[], ""), &staff))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    let fixed = app
        .client
        .update_data_element(with_token(
            pb::UpdateDataElementRequest {
                update_mask: mask(&["value_type"]),
                ..update(&[], "")
            },
            &admin,
        ))
        .await
        .unwrap_err();
    assert_eq!(fixed.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn an_element_or_indicator_is_deleted_only_once_nothing_live_needs_it() {
    let mut app = App::start().await;
    court_catalogue(&mut app).await;
    let (admin, coordinator, staff) = (
        app.admin.clone(),
        app.coordinator.clone(),
        app.staff.clone(),
    );
    let client = app.client.clone();
    let delete_element = |name: &str, etag: &str, request_id: &str| {
        let (mut client, admin) = (client.clone(), admin.clone());
        let request = pb::DeleteDataElementRequest {
            name: format!("dataElements/{name}"),
            etag: etag.to_owned(),
            request_id: request_id.to_owned(),
        };
        async move {
            client
                .delete_data_element(with_token(request, &admin))
                .await
        }
    };
    let delete_indicator = |name: &str, etag: &str, token: &str| {
        let (mut client, token) = (client.clone(), token.to_owned());
        let request = pb::DeleteIndicatorRequest {
            name: format!("indicators/{name}"),
            etag: etag.to_owned(),
            request_id: String::new(),
        };
        async move { client.delete_indicator(with_token(request, &token)).await }
    };
    let reason = |status: tonic::Status| {
        (
            status.code(),
            fazhi_testkit::replay::reason(&status),
            status.message().to_owned(),
        )
    };

    // The formula of appearance-rate reads 出庭数; the target appearance-rate-50 is on it.
    let (code, why, message) = reason(delete_element("appearances", "", "").await.unwrap_err());
    assert_eq!(
        (code, why.as_str()),
        (Code::FailedPrecondition, "ELEMENT_IN_USE")
    );
    assert!(message.contains("indicators/appearance-rate"), "{message}");
    let (code, why, _) = reason(
        delete_indicator("appearance-rate", "", &admin)
            .await
            .unwrap_err(),
    );
    assert_eq!(
        (code, why.as_str()),
        (Code::FailedPrecondition, "INDICATOR_IN_USE")
    );
    // Catalogue entries are the admins'.
    let (code, _, _) = reason(
        delete_indicator("appearance-rate", "", &coordinator)
            .await
            .unwrap_err(),
    );
    assert_eq!(code, Code::PermissionDenied);

    app.client
        .delete_target(with_token(
            pb::DeleteTargetRequest {
                name: "targets/appearance-rate-50".to_owned(),
                ..Default::default()
            },
            &coordinator,
        ))
        .await
        .unwrap();
    let (code, why, _) = reason(
        delete_indicator("appearance-rate", "W/\"9\"", &admin)
            .await
            .unwrap_err(),
    );
    assert_eq!((code, why.as_str()), (Code::Aborted, "ETAG_MISMATCH"));
    let indicator = delete_indicator("appearance-rate", "", &admin)
        .await
        .unwrap()
        .into_inner()
        .indicator
        .unwrap();
    assert!(indicator.delete_time.is_some());

    // A value reported before stays; the element, once deleted, takes no more.
    let kept = app
        .report(&staff, "appearances", "ng-sfj", "2024", "", 3.0)
        .await
        .unwrap();
    let deleted = assert_replays(
        "DeleteDataElement",
        |request: (String, String)| delete_element("appearances", &request.0, &request.1),
        (
            (String::new(), "r-delete-element".to_owned()),
            ("W/\"1\"".to_owned(), "r-delete-element".to_owned()),
        ),
        async || {},
    )
    .await
    .data_element
    .unwrap();
    assert!(deleted.delete_time.is_some());
    let read = app
        .client
        .get_data_element(with_token(
            pb::GetDataElementRequest {
                name: "dataElements/appearances".to_owned(),
            },
            &staff,
        ))
        .await
        .unwrap()
        .into_inner()
        .data_element
        .unwrap();
    assert_eq!(read.delete_time, deleted.delete_time);
    let listed: Vec<String> = app
        .client
        .list_data_elements(with_token(pb::ListDataElementsRequest::default(), &staff))
        .await
        .unwrap()
        .into_inner()
        .data_elements
        .into_iter()
        .map(|element| element.code)
        .collect();
    assert_eq!(listed, ["应出庭数"]);
    let refused = app
        .report(&staff, "appearances", "ng-sfj", "2025", "", 1.0)
        .await
        .unwrap_err();
    assert_eq!(
        field_violations(&refused),
        [("data_element".to_owned(), "NOT_FOUND".to_owned())]
    );
    let formula = app
        .indicator(
            "appearance-rate-again",
            "出庭数 / 应出庭数",
            100.0,
            pb::Direction::HigherIsBetter,
        )
        .await
        .unwrap_err();
    assert_eq!(
        field_violations(&formula),
        [(
            "indicator.formula".to_owned(),
            "UNKNOWN_DATA_ELEMENT".to_owned()
        )]
    );
    assert_eq!(app.get_value(&staff, &kept.name).await.value, 3.0);
    let (code, _, _) = reason(delete_element("appearances", "", "").await.unwrap_err());
    assert_eq!(code, Code::NotFound);
}
