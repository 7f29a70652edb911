//! Bulk ingest over a real bidirectional stream: a result per row, re-sent rows recognised by
//! source and external id, corrections, refusals naming the field, and locked values kept.

use fazhi_proto::indicators::v1 as pb;
use fazhi_testkit::with_token;
use futures::StreamExt;
use tonic::Code;

use crate::{App, court_catalogue};

pub fn row(
    external_id: &str,
    element: &str,
    unit: &str,
    period: &str,
    value: f64,
) -> pb::IngestRow {
    pb::IngestRow {
        external_id: external_id.to_owned(),
        data_element: format!("dataElements/{element}"),
        unit: format!("units/{unit}"),
        period: period.to_owned(),
        value,
        ..Default::default()
    }
}

pub fn message(
    source: &str,
    submit: bool,
    rows: Vec<pb::IngestRow>,
) -> pb::IngestDataValuesRequest {
    pb::IngestDataValuesRequest {
        source: source.to_owned(),
        submit,
        rows,
    }
}

/// Streams the messages and collects the answers: (index, outcome, reasons) per row, and the
/// stream's error if it ended with one.
pub async fn ingest(
    app: &mut App,
    token: &str,
    messages: Vec<pb::IngestDataValuesRequest>,
) -> (Vec<(i64, i32, Vec<String>)>, Option<tonic::Status>) {
    let mut answers = app
        .client
        .ingest_data_values(with_token(futures::stream::iter(messages), token))
        .await
        .unwrap()
        .into_inner();
    let mut results = Vec::new();
    while let Some(answer) = answers.next().await {
        match answer {
            Ok(answer) => results.extend(answer.results.into_iter().map(|result| {
                (
                    result.index,
                    result.outcome,
                    result
                        .violations
                        .into_iter()
                        .map(|violation| format!("{}:{}", violation.field, violation.reason))
                        .collect(),
                )
            })),
            Err(status) => return (results, Some(status)),
        }
    }
    (results, None)
}

pub const ACCEPTED: i32 = pb::IngestOutcome::Accepted as i32;
const UNCHANGED: i32 = pb::IngestOutcome::Unchanged as i32;
pub const REJECTED: i32 = pb::IngestOutcome::Rejected as i32;

#[tokio::test]
async fn a_court_system_pushes_counts_row_by_row_and_sends_them_again() {
    let mut app = App::start().await;
    court_catalogue(&mut app).await;
    let coordinator = app.coordinator.clone();

    let (results, error) = ingest(
        &mut app,
        &coordinator,
        vec![
            message(
                "court",
                false,
                vec![
                    row("c-1", "hearings", "ng-sfj", "2024", 10.0),
                    row("c-2", "appearances", "ng-sfj", "2024", 6.0),
                    row("c-3", "hearings", "ng-gaj", "2024", 4.0),
                    row("c-4", "hearings", "ng-gaj", "2024-01", 4.0),
                    row("c-5", "hearings", "xc-sfj", "2024", 4.0),
                    row("c-6", "hearings", "ng-sfj", "2024", 11.0),
                    row("", "nothing", "ng-sfj", "2024", 1.0),
                ],
            ),
            message(
                "",
                false,
                vec![
                    row("c-1", "hearings", "ng-sfj", "2024", 10.0),
                    row("c-3", "hearings", "ng-gaj", "2024", 5.0),
                    row("c-2", "hearings", "ng-rsj", "2024", 1.0),
                ],
            ),
            message(
                "hr-system",
                false,
                vec![row("h-1", "hearings", "ng-rsj", "2024", 1.0)],
            ),
        ],
    )
    .await;
    let no_reasons = Vec::<String>::new;
    assert_eq!(
        results,
        [
            (0, ACCEPTED, no_reasons()),
            (1, ACCEPTED, no_reasons()),
            (2, ACCEPTED, no_reasons()),
            (3, REJECTED, vec!["period:WRONG_PERIOD_TYPE".to_owned()]),
            (4, REJECTED, vec!["unit:PERMISSION_DENIED".to_owned()]),
            (5, REJECTED, vec!["external_id:DUPLICATE_ROW".to_owned()]),
            (
                6,
                REJECTED,
                vec![
                    "external_id:REQUIRED".to_owned(),
                    "data_element:NOT_FOUND".to_owned()
                ]
            ),
            (7, UNCHANGED, no_reasons()),
            (8, ACCEPTED, no_reasons()),
            (
                9,
                REJECTED,
                vec!["external_id:EXTERNAL_ID_REUSED".to_owned()]
            ),
        ]
    );
    let error = error.expect("a second source ends the stream");
    assert_eq!(error.code(), Code::InvalidArgument);
    assert_eq!(
        fazhi_testkit::replay::field_violations(&error),
        [("source".to_owned(), "SOURCE_CHANGED".to_owned())]
    );

    // The values are there as drafts; the correction is a revision of the same value.
    let listed = app.values_of(&coordinator, "ng-gaj").await;
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].value, listed[0].state),
        (5.0, pb::DataValueState::Draft as i32)
    );
    let revisions = app.revisions(&coordinator, &listed[0].name).await;
    let history: Vec<_> = revisions
        .iter()
        .map(|revision| (revision.action.as_str(), revision.value, revision.old_value))
        .collect();
    assert_eq!(
        history,
        [("ingested", 4.0, None), ("ingested", 5.0, Some(4.0))]
    );

    // Sent for review, then approved: a re-sent, changed row does not overwrite it.
    let (results, _) = ingest(
        &mut app,
        &coordinator,
        vec![message(
            "court",
            true,
            vec![row("c-3", "hearings", "ng-gaj", "2024", 5.0)],
        )],
    )
    .await;
    assert_eq!(results, [(0, ACCEPTED, no_reasons())]);
    let submitted = app.get_value(&coordinator, &listed[0].name).await;
    assert_eq!(submitted.state, pb::DataValueState::Submitted as i32);
    let approved = app.approve(&coordinator, &submitted).await.unwrap();
    let (results, error) = ingest(
        &mut app,
        &coordinator,
        vec![message(
            "court",
            true,
            vec![row("c-3", "hearings", "ng-gaj", "2024", 6.0)],
        )],
    )
    .await;
    assert!(error.is_none());
    assert_eq!(
        results,
        [(0, REJECTED, vec!["value:VALUE_LOCKED".to_owned()])]
    );
    let kept = app.get_value(&coordinator, &approved.name).await;
    assert_eq!(
        (kept.value, kept.state),
        (5.0, pb::DataValueState::Approved as i32)
    );

    // Unit staff ingest for their own unit only; a missing source ends the stream at once.
    let staff = app.staff.clone();
    let (results, _) = ingest(
        &mut app,
        &staff,
        vec![message(
            "hr",
            false,
            vec![
                row("s-1", "hearings", "ng-sfj", "2023", 3.0),
                row("s-2", "hearings", "ng-gaj", "2023", 3.0),
            ],
        )],
    )
    .await;
    assert_eq!(
        results.iter().map(|result| result.1).collect::<Vec<_>>(),
        [ACCEPTED, REJECTED]
    );
    let (_, error) = ingest(&mut app, &staff, vec![message("", false, vec![])]).await;
    assert_eq!(
        fazhi_testkit::replay::field_violations(&error.expect("refused")),
        [("source".to_owned(), "REQUIRED".to_owned())]
    );
}
