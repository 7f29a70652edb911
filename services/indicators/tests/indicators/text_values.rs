//! Text and date elements, and the evidence a value links to.

use fazhi_proto::indicators::v1 as pb;
use fazhi_testkit::with_token;

use crate::App;
use crate::errors::{fields, refused};
use crate::ingest::{ACCEPTED, REJECTED, ingest, message, row};

const PLANS_EVIDENCE: &str = "plans/p1/tasks/t1/assignments/a1/evidence/\
     9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

fn element(code: &str, value_type: pb::ValueType, aggregation: pb::Aggregation) -> pb::DataElement {
    pb::DataElement {
        code: code.to_owned(),
        display_name: code.to_owned(),
        value_type: value_type as i32,
        aggregation: aggregation as i32,
        period_aggregation: pb::Aggregation::Last as i32,
        period_type: pb::PeriodType::Year as i32,
        ..Default::default()
    }
}

fn link(uri: &str, title: &str) -> pb::EvidenceLink {
    pb::EvidenceLink {
        uri: uri.to_owned(),
        title: title.to_owned(),
    }
}

impl App {
    async fn report_text(
        &mut self,
        element: &str,
        text: &str,
        value: f64,
        evidence: Vec<pb::EvidenceLink>,
    ) -> Result<pb::DataValue, tonic::Status> {
        let staff = self.staff.clone();
        Ok(self
            .client
            .report_data_value(with_token(
                pb::ReportDataValueRequest {
                    data_element: format!("dataElements/{element}"),
                    unit: "units/ng-sfj".to_owned(),
                    period: "2024".to_owned(),
                    value,
                    text: text.to_owned(),
                    evidence,
                    ..Default::default()
                },
                &staff,
            ))
            .await?
            .into_inner()
            .data_value
            .unwrap())
    }
}

#[tokio::test]
async fn text_and_date_values_are_kept_as_written_with_their_evidence_and_revisions() {
    let mut app = App::start().await;
    let summed_text = app
        .element_with(
            "reason-summed",
            element("未达标原因合计", pb::ValueType::Text, pb::Aggregation::Sum),
        )
        .await;
    assert_eq!(
        refused(summed_text).2,
        fields(&[("data_element.aggregation", "AGGREGATION_NOT_ALLOWED")])
    );
    app.element_with(
        "report-published",
        element(
            "年度报告公开日期",
            pb::ValueType::Date,
            pb::Aggregation::Max,
        ),
    )
    .await
    .unwrap();
    app.element_with(
        "shortfall-reason",
        element("未达标原因", pb::ValueType::Text, pb::Aggregation::Count),
    )
    .await
    .unwrap();
    app.element("hearings", "应出庭数", &[]).await;

    // A date is a day: its number orders days, its text is what people read.
    let published = app
        .report_text(
            "report-published",
            "2024-3-5",
            0.0,
            vec![
                link(
                    "https://www.ningguo.gov.cn/fzzf/2024.html",
                    "2024年度法治政府建设情况报告",
                ),
                link(PLANS_EVIDENCE, "报告印发文件"),
            ],
        )
        .await
        .unwrap();
    assert_eq!(
        (published.text.as_str(), published.value),
        ("2024-03-05", 19_787.0)
    );
    assert_eq!(
        published
            .evidence
            .iter()
            .map(|link| link.title.as_str())
            .collect::<Vec<_>>(),
        ["2024年度法治政府建设情况报告", "报告印发文件"]
    );

    let refusals = [
        (
            app.report_text("report-published", "2024-02-30", 0.0, vec![])
                .await,
            fields(&[("text", "INVALID_DATE")]),
        ),
        (
            app.report_text("report-published", "2024-03-05", 19_787.0, vec![])
                .await,
            fields(&[("value", "VALUE_NOT_ALLOWED")]),
        ),
        (
            app.report_text("shortfall-reason", " ", 0.0, vec![]).await,
            fields(&[("text", "REQUIRED")]),
        ),
        (
            app.report_text("hearings", "十二", 12.0, vec![]).await,
            fields(&[("text", "TEXT_NOT_ALLOWED")]),
        ),
        (
            app.report_text(
                "shortfall-reason",
                "人员不足",
                0.0,
                vec![
                    link("ftp://files.example/report.pdf", ""),
                    link("plans/p1/evidence/abc", ""),
                    link("https://example.cn/a", &"长".repeat(101)),
                ],
            )
            .await,
            fields(&[
                ("evidence[0].uri", "INVALID_URI"),
                ("evidence[1].uri", "INVALID_URI"),
                ("evidence[2].title", "TOO_LONG"),
            ]),
        ),
        (
            app.report_text(
                "shortfall-reason",
                "人员不足",
                0.0,
                vec![link("https://example.cn/a", ""); 21],
            )
            .await,
            fields(&[("evidence", "TOO_MANY")]),
        ),
    ];
    for (answer, expected) in refusals {
        assert_eq!(refused(answer).2, expected);
    }

    // A text is corrected like a number: the revision says what it was.
    app.report_text("shortfall-reason", "人员不足", 0.0, vec![])
        .await
        .unwrap();
    let corrected = app
        .report_text(
            "shortfall-reason",
            "案件复杂,专职律师不足",
            0.0,
            vec![link("https://example.cn/staffing.pdf", "人员编制说明")],
        )
        .await
        .unwrap();
    let staff = app.staff.clone();
    let submitted = app.submit(&staff, &corrected).await.unwrap();
    let coordinator = app.coordinator.clone();
    app.approve(&coordinator, &submitted).await.unwrap();
    let revisions = app.revisions(&coordinator, &corrected.name).await;
    let texts: Vec<_> = revisions
        .iter()
        .map(|revision| (revision.old_text.as_deref(), revision.text.as_str()))
        .collect();
    assert_eq!(
        texts,
        [
            (None, "人员不足"),
            (Some("人员不足"), "案件复杂,专职律师不足"),
            (Some("案件复杂,专职律师不足"), "案件复杂,专职律师不足"),
            (Some("案件复杂,专职律师不足"), "案件复杂,专职律师不足"),
        ]
    );
    let kept = app.get_value(&staff, &corrected.name).await;
    assert_eq!(
        (kept.text.as_str(), kept.evidence.len(), kept.state),
        (
            "案件复杂,专职律师不足",
            1,
            pb::DataValueState::Approved as i32
        )
    );

    // Formulas compute with numbers only.
    let over_text = app
        .indicator(
            "reasons",
            "未达标原因 / 应出庭数",
            1.0,
            pb::Direction::LowerIsBetter,
        )
        .await;
    assert_eq!(
        refused(over_text).2,
        fields(&[("indicator.formula", "NOT_NUMERIC")])
    );

    // Another system sends a text like a number, in `text`.
    let admin = app.admin.clone();
    let dated = |external_id: &str, period: &str, text: &str| pb::IngestRow {
        text: text.to_owned(),
        ..row(external_id, "report-published", "ng-gaj", period, 0.0)
    };
    let (results, error) = ingest(
        &mut app,
        &admin,
        vec![message(
            "annual-reports",
            false,
            vec![
                dated("gaj-2024", "2024", "2024-03-28"),
                dated("gaj-2023", "2023", "三月底"),
            ],
        )],
    )
    .await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(
        results,
        [
            (0, ACCEPTED, vec![]),
            (1, REJECTED, vec!["text:INVALID_DATE".to_owned()])
        ]
    );
    let listed = app.values_of(&admin, "ng-gaj").await;
    assert_eq!(
        listed
            .iter()
            .map(|value| value.text.as_str())
            .collect::<Vec<_>>(),
        ["2024-03-28"]
    );
}
