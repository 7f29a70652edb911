//! Data sets: validation rules on submit, a return submitted whole, and the list of returns a
//! coordinating office chases (催报), with late and overdue marking.

use fazhi_proto::indicators::v1 as pb;
use fazhi_testkit::replay::{assert_replays, field_violations};
use fazhi_testkit::with_token;
use tonic_types::StatusExt;

use crate::App;

const RULE: &str = "dataSets/litigation.validation_rules[0]";

/// 诉讼案件数 and 败诉数, reported yearly by the law-enforcement units of 宁国市 by 15 January,
/// with 败诉数 ≤ 诉讼案件数.
async fn litigation(app: &mut App) {
    app.element("lawsuits", "诉讼案件数", &[]).await;
    app.element("lost", "败诉数", &[]).await;
    let coordinator = app.coordinator.clone();
    app.client
        .create_data_set(with_token(data_set_request(litigation_set()), &coordinator))
        .await
        .unwrap();
}

fn litigation_set() -> pb::DataSet {
    pb::DataSet {
        code: "行政诉讼情况".to_owned(),
        display_name: "行政诉讼案件情况".to_owned(),
        period_type: pb::PeriodType::Year as i32,
        data_element_codes: vec!["诉讼案件数".to_owned(), "败诉数".to_owned()],
        owner_unit: "units/ningguo".to_owned(),
        reporting_group: "unitGroups/law-enforcement-units".to_owned(),
        due_days: 15,
        validation_rules: vec![pb::ValidationRule {
            display_name: "败诉数不超过案件数".to_owned(),
            left: "败诉数".to_owned(),
            comparator: pb::Comparator::LessOrEqual as i32,
            right: "诉讼案件数".to_owned(),
        }],
        ..Default::default()
    }
}

fn data_set_request(set: pb::DataSet) -> pb::CreateDataSetRequest {
    pb::CreateDataSetRequest {
        data_set_id: "litigation".to_owned(),
        data_set: Some(set),
        request_id: String::new(),
    }
}

fn submit_return(unit: &str, period: &str, request_id: &str) -> pb::SubmitReturnRequest {
    pb::SubmitReturnRequest {
        data_set: "dataSets/litigation".to_owned(),
        unit: format!("units/{unit}"),
        period: period.to_owned(),
        request_id: request_id.to_owned(),
    }
}

async fn returns(
    app: &mut App,
    period: &str,
    outstanding_only: bool,
    page: (i32, &str),
) -> pb::ListReturnsResponse {
    let coordinator = app.coordinator.clone();
    app.client
        .list_returns(with_token(
            pb::ListReturnsRequest {
                data_set: "dataSets/litigation".to_owned(),
                unit: "units/ningguo".to_owned(),
                period: period.to_owned(),
                outstanding_only,
                page_size: page.0,
                page_token: page.1.to_owned(),
            },
            &coordinator,
        ))
        .await
        .unwrap()
        .into_inner()
}

fn state_of(found: &pb::ListReturnsResponse, unit: &str) -> Option<(pb::ReturnState, bool, bool)> {
    found
        .returns
        .iter()
        .find(|found| found.unit == format!("units/{unit}"))
        .map(|found| (found.state(), found.late, found.overdue))
}

#[tokio::test]
async fn a_data_set_is_refused_with_every_bad_field_named() {
    let mut app = App::start().await;
    app.element("lawsuits", "诉讼案件数", &[]).await;
    let mut bad = litigation_set();
    bad.validation_rules[0].right = "诉讼案件数 +".to_owned();
    bad.due_days = 500;
    bad.period_type = pb::PeriodType::Quarter as i32;
    let coordinator = app.coordinator.clone();
    let refused = app
        .client
        .create_data_set(with_token(data_set_request(bad), &coordinator))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    let fields: Vec<(String, String)> = field_violations(&refused);
    for expected in [
        ("data_set.data_element_codes[0]", "WRONG_PERIOD_TYPE"),
        ("data_set.data_element_codes[1]", "UNKNOWN_DATA_ELEMENT"),
        ("data_set.due_days", "OUT_OF_RANGE"),
        ("data_set.validation_rules[0].left", "UNKNOWN_DATA_ELEMENT"),
        ("data_set.validation_rules[0].right", "FORMULA_SYNTAX"),
    ] {
        assert!(
            fields.contains(&(expected.0.to_owned(), expected.1.to_owned())),
            "{expected:?} in {fields:?}"
        );
    }
    // A unit's staff do not define what the city collects.
    let staff = app.staff.clone();
    let denied = app
        .client
        .create_data_set(with_token(data_set_request(litigation_set()), &staff))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), tonic::Code::PermissionDenied);
}

#[tokio::test]
async fn a_return_passes_its_rules_is_submitted_whole_and_is_chased_until_it_is() {
    let mut app = App::start().await;
    litigation(&mut app).await;
    let (staff, admin) = (app.staff.clone(), app.admin.clone());

    // 2026 is due on 2027-01-15: nothing is late or overdue yet.
    app.report(&staff, "lawsuits", "ng-sfj", "2026", "", 3.0)
        .await
        .unwrap();
    let lost = app
        .report(&staff, "lost", "ng-sfj", "2026", "", 5.0)
        .await
        .unwrap();
    // The rule reads the unit's drafts too: 5 lost of 3 cases is refused on submit.
    let refused = app.submit(&staff, &lost).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    assert_eq!(
        field_violations(&refused),
        [(RULE.to_owned(), "VALIDATION_RULE_FAILED".to_owned())]
    );
    assert!(
        refused.get_details_bad_request().unwrap().field_violations[0]
            .localized_message
            .as_ref()
            .unwrap()
            .message
            .contains("败诉数 = 5 ≤ 诉讼案件数 = 3"),
        "{refused:?}"
    );
    let whole = app
        .client
        .submit_return(with_token(submit_return("ng-sfj", "2026", ""), &staff))
        .await
        .unwrap_err();
    assert_eq!(
        field_violations(&whole),
        [(RULE.to_owned(), "VALIDATION_RULE_FAILED".to_owned())]
    );
    let listed = returns(&mut app, "2026", false, (0, "")).await;
    assert_eq!(
        state_of(&listed, "ng-sfj"),
        Some((pb::ReturnState::NotSubmitted, false, false)),
        "nothing was submitted by the refused return"
    );

    app.report(&staff, "lost", "ng-sfj", "2026", "", 1.0)
        .await
        .unwrap();
    let client = app.client.clone();
    let submitted = assert_replays(
        "SubmitReturn",
        |request| {
            let mut client = client.clone();
            let staff = staff.clone();
            async move { client.submit_return(with_token(request, &staff)).await }
        },
        (
            submit_return("ng-sfj", "2026", "r-return"),
            submit_return("ng-rsj", "2026", "r-return"),
        ),
        async || {},
    )
    .await;
    assert_eq!(submitted.data_values.len(), 2);
    assert!(
        submitted
            .data_values
            .iter()
            .all(|value| value.state() == pb::DataValueState::Submitted)
    );

    // A unit with one element missing, and a unit that does not report this data set.
    app.report(&admin, "lawsuits", "ng-rsj", "2026", "", 2.0)
        .await
        .unwrap();
    let missing = app
        .client
        .submit_return(with_token(submit_return("ng-rsj", "2026", ""), &admin))
        .await
        .unwrap_err();
    assert_eq!(
        field_violations(&missing),
        [("data_values[败诉数]".to_owned(), "MISSING_VALUE".to_owned())]
    );
    let township = app
        .client
        .submit_return(with_token(submit_return("ng-xjjd", "2026", ""), &admin))
        .await
        .unwrap_err();
    assert_eq!(
        field_violations(&township),
        [("unit".to_owned(), "NOT_A_REPORTER".to_owned())]
    );

    let listed = returns(&mut app, "2026", false, (0, "")).await;
    assert_eq!(listed.due_date, "2027-01-15");
    assert_eq!(
        state_of(&listed, "ng-sfj"),
        Some((pb::ReturnState::Submitted, false, false))
    );
    assert_eq!(
        state_of(&listed, "ng-rsj"),
        Some((pb::ReturnState::Incomplete, false, false))
    );
    assert_eq!(
        state_of(&listed, "ng-gaj"),
        Some((pb::ReturnState::Missing, false, false))
    );
    assert_eq!(
        state_of(&listed, "ng-xjjd"),
        None,
        "a township does not report it"
    );
    assert_eq!((listed.on_time_count, listed.late_count), (1, 0));
    let expected = listed.expected_count;
    assert!(expected > 3, "{listed:?}");
    assert_eq!(listed.returns.len() as i32, expected);

    // The data-entry form: locked values are shown but not read back; open ones are.
    let form = |unit: &str, token: &str| {
        let mut client = app.client.clone();
        let request = with_token(
            pb::ExportDataEntryFormRequest {
                data_set: "dataSets/litigation".to_owned(),
                unit: format!("units/{unit}"),
                period: "2026".to_owned(),
            },
            token,
        );
        async move { client.export_data_entry_form(request).await }
    };
    let submitted_form = form("ng-sfj", &staff).await.unwrap().into_inner();
    assert_eq!(
        submitted_form.file_name,
        "行政诉讼案件情况-宁国市司法局-2026.xlsx"
    );
    let read = fazhi_indicators::form::read(&submitted_form.content).unwrap();
    assert_eq!(
        (
            read.data_set.as_str(),
            read.unit.as_str(),
            read.period.as_str()
        ),
        ("litigation", "ng-sfj", "2026")
    );
    assert!(read.rows.is_empty(), "submitted values are locked");
    let open_form = form("ng-rsj", &admin).await.unwrap().into_inner();
    let read = fazhi_indicators::form::read(&open_form.content).unwrap();
    let rows: Vec<(&str, &str, f64)> = read
        .rows
        .iter()
        .map(|row| (row.data_element.as_str(), row.unit.as_str(), row.value))
        .collect();
    assert_eq!(rows, [("dataElements/lawsuits", "units/ng-rsj", 2.0)]);
    assert_eq!(
        form("ng-rsj", &staff).await.unwrap_err().code(),
        tonic::Code::PermissionDenied
    );

    // The 催报 list, a page at a time: every outstanding unit once, ng-sfj not among them.
    let mut chased = Vec::new();
    let mut token = String::new();
    loop {
        let page = returns(&mut app, "2026", true, (2, &token)).await;
        assert!(page.returns.len() <= 2);
        chased.extend(page.returns.into_iter().map(|found| found.unit));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(chased.len() as i32, expected - 1);
    assert!(!chased.contains(&"units/ng-sfj".to_owned()));

    // 2024 was due on 2025-01-15: a return submitted now is late, the others overdue.
    app.report(&staff, "lawsuits", "ng-sfj", "2024", "", 4.0)
        .await
        .unwrap();
    app.report(&staff, "lost", "ng-sfj", "2024", "", 0.0)
        .await
        .unwrap();
    app.client
        .submit_return(with_token(submit_return("ng-sfj", "2024", ""), &staff))
        .await
        .unwrap();
    let past = returns(&mut app, "2024", false, (0, "")).await;
    assert_eq!(
        state_of(&past, "ng-sfj"),
        Some((pb::ReturnState::Submitted, true, false))
    );
    assert_eq!(
        state_of(&past, "ng-gaj"),
        Some((pb::ReturnState::Missing, false, true))
    );
    assert_eq!((past.on_time_count, past.late_count), (0, 1));

    // The list is the region's coordinators' (and viewers'): not a unit's staff.
    let denied = app
        .client
        .list_returns(with_token(
            pb::ListReturnsRequest {
                data_set: "dataSets/litigation".to_owned(),
                unit: "units/ningguo".to_owned(),
                period: "2026".to_owned(),
                ..Default::default()
            },
            &staff,
        ))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), tonic::Code::PermissionDenied);
    let wrong_period = app
        .client
        .list_returns(with_token(
            pb::ListReturnsRequest {
                data_set: "dataSets/litigation".to_owned(),
                unit: "units/ningguo".to_owned(),
                period: "2026Q1".to_owned(),
                ..Default::default()
            },
            &admin,
        ))
        .await
        .unwrap_err();
    assert_eq!(
        field_violations(&wrong_period),
        [("period".to_owned(), "WRONG_PERIOD_TYPE".to_owned())]
    );
}

#[tokio::test]
async fn a_return_that_fell_due_is_chased_once_with_an_event_per_unit_that_did_not_submit() {
    let mut app = App::start().await;
    litigation(&mut app).await;
    let staff = app.staff.clone();
    // 宁国市司法局 submits its 2026 return; the other law-enforcement units do not.
    app.report(&staff, "lawsuits", "ng-sfj", "2026", "", 3.0)
        .await
        .unwrap();
    app.report(&staff, "lost", "ng-sfj", "2026", "", 1.0)
        .await
        .unwrap();
    app.client
        .submit_return(with_token(submit_return("ng-sfj", "2026", ""), &staff))
        .await
        .unwrap();

    // The sweep as the background task runs it, on the service's own token and database, on
    // days before and after 2026's due day (2027-01-15, 北京时间).
    let book = fazhi_indicators::IndicatorBook::new(
        fazhi_indicators::Store::new(app._indicators_database.pool.clone()),
        fazhi_indicators::UnitsClient::new(&format!("http://{}", app._server.address)).unwrap(),
        fazhi_indicators::PlansClient::new(&format!("http://{}", app._server.address)).unwrap(),
    );
    let token = fazhi_testkit::bearer(
        "fazhi-indicators",
        None,
        &[fazhi_platform::auth::Role::Admin],
    );
    let sweep_on = |day: &str| {
        let mut context = fazhi_platform::call::CallContext::system(
            "test/ChaseOverdueReturns",
            fazhi_platform::call::Credentials::bearer(token.clone()),
        );
        context.clock = fazhi_platform::call::Clock::Fixed(day.parse().unwrap());
        context
    };
    // Before the due day ends in Beijing: nothing is overdue yet (2025's fell due before the
    // data set existed).
    let early = book
        .chase_overdue_returns(&sweep_on("2027-01-15T15:00:00Z"))
        .await
        .unwrap();
    assert_eq!(early, 0);
    let overdue = book
        .chase_overdue_returns(&sweep_on("2027-01-15T16:30:00Z"))
        .await
        .unwrap();
    let listed = returns(&mut app, "2026", false, (0, "")).await;
    assert_eq!(overdue as i32, listed.expected_count - 1);
    let again = book
        .chase_overdue_returns(&sweep_on("2027-01-20T00:00:00Z"))
        .await
        .unwrap();
    assert_eq!(again, 0, "a period is chased once");

    let mut events = app
        .client
        .watch_events(with_token(
            pb::WatchEventsRequest { after_sequence: 0 },
            &app.admin,
        ))
        .await
        .unwrap()
        .into_inner();
    let mut chased = Vec::new();
    while chased.len() < overdue {
        let event = futures::StreamExt::next(&mut events)
            .await
            .unwrap()
            .unwrap()
            .event
            .unwrap();
        if event.r#type == "return.overdue" {
            chased.push(event.resource);
        }
    }
    assert!(chased.contains(&"dataSets/litigation/returns/2026/units/ng-gaj".to_owned()));
    assert!(!chased.contains(&"dataSets/litigation/returns/2026/units/ng-sfj".to_owned()));
}
