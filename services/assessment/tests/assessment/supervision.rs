//! Supervision (督察) in its escalation order, and the bulletin that reports it, as data and as
//! files.

use calamine::{Data, Reader, Xlsx};
use fazhi_platform::auth::Role;
use fazhi_proto::assessment::v1 as pb;
use fazhi_testkit::replay::{assert_replays, field_violations};
use fazhi_testkit::{bearer, with_token};
use tonic::Code;

use super::revisions::MANUAL_SCHEME;
use super::{App, annual};

#[tokio::test]
async fn supervision_escalates_in_order_and_the_bulletin_reports_it_as_data_xlsx_and_html() {
    let mut app = App::start().await;
    let coordinator = app.coordinator.clone();
    app.create_scheme("ng-manual", MANUAL_SCHEME, &coordinator)
        .await
        .unwrap();
    let round = app
        .run(
            pb::RunRoundRequest {
                scheme: "schemes/ng-manual".to_owned(),
                ..annual("")
            },
            &coordinator,
        )
        .await
        .unwrap();
    app.publish(&round.name, &coordinator).await.unwrap();
    let mut client = app.client.clone();
    let items = |unit: &str| pb::ListRectificationItemsRequest {
        unit: format!("units/{unit}"),
        ..Default::default()
    };
    let gaj_item = client
        .list_rectification_items(with_token(items("ng-gaj"), &coordinator))
        .await
        .unwrap()
        .into_inner()
        .items[0]
        .name
        .clone();
    let sfj_item = client
        .list_rectification_items(with_token(items("ng-sfj"), &coordinator))
        .await
        .unwrap()
        .into_inner()
        .items[0]
        .name
        .clone();
    let step =
        |unit: &str, action: pb::SupervisionAction, cites: &[&str]| pb::RecordSupervisionRequest {
            owner_unit: "units/ningguo".to_owned(),
            unit: format!("units/{unit}"),
            action: action as i32,
            round: round.name.clone(),
            items: Vec::new(),
            cites: cites.iter().map(|cite| (*cite).to_owned()).collect(),
            finding: "行政机关负责人出庭应诉率连续两年低于50%".to_owned(),
            demand: "30日内提交整改报告".to_owned(),
            open_item: false,
            request_id: String::new(),
        };
    let staff = bearer("ng-gaj-clerk", Some("ng-gaj"), &[Role::UnitStaff]);
    let stranger = bearer("tl-office", Some("tongliao"), &[Role::Coordinator]);
    for token in [&staff, &stranger] {
        let refused = client
            .record_supervision(with_token(
                step("ng-gaj", pb::SupervisionAction::Talk, &[]),
                token,
            ))
            .await
            .unwrap_err();
        assert_eq!(refused.code(), Code::PermissionDenied);
    }
    let recorder = client.clone();
    let record = |request| {
        let (mut client, token) = (recorder.clone(), coordinator.clone());
        async move {
            client
                .record_supervision(with_token(request, &token))
                .await
                .map(|response| response.into_inner().record.unwrap())
        }
    };
    let talk = assert_replays(
        "RecordSupervision",
        |request| {
            let (mut client, token) = (client.clone(), coordinator.clone());
            async move { client.record_supervision(with_token(request, &token)).await }
        },
        (
            pb::RecordSupervisionRequest {
                items: vec![gaj_item.clone()],
                request_id: "r-talk".to_owned(),
                ..step("ng-gaj", pb::SupervisionAction::Talk, &[])
            },
            pb::RecordSupervisionRequest {
                request_id: "r-talk".to_owned(),
                ..step("ng-sfj", pb::SupervisionAction::Letter, &[])
            },
        ),
        async || {},
    )
    .await
    .record
    .unwrap();
    assert_eq!(talk.opened_item, "", "a 约谈 opens no item unless asked");
    let sfj_talk = record(step("ng-sfj", pb::SupervisionAction::Talk, &[]))
        .await
        .unwrap();

    for (request, expected) in [
        (
            step("ng-gaj", pb::SupervisionAction::Order, &[]),
            vec![("cites", "ESCALATION_ORDER")],
        ),
        (
            step("ng-gaj", pb::SupervisionAction::Order, &[&sfj_talk.name]),
            vec![("cites[0]", "OTHER_UNIT"), ("cites", "ESCALATION_ORDER")],
        ),
        (
            step(
                "ng-gaj",
                pb::SupervisionAction::Order,
                &["supervisionRecords/v-missing"],
            ),
            vec![("cites[0]", "NOT_FOUND"), ("cites", "ESCALATION_ORDER")],
        ),
        (
            pb::RecordSupervisionRequest {
                items: vec![sfj_item.clone()],
                ..step("ng-gaj", pb::SupervisionAction::Order, &[&talk.name])
            },
            vec![("items[0]", "OTHER_UNIT")],
        ),
        (
            step("ng-gaj", pb::SupervisionAction::Criticism, &[&talk.name]),
            vec![("cites", "ESCALATION_ORDER")],
        ),
        (
            pb::RecordSupervisionRequest {
                finding: " ".to_owned(),
                ..step("ng-gaj", pb::SupervisionAction::Talk, &[])
            },
            vec![("finding", "REQUIRED")],
        ),
    ] {
        let refused = record(request).await.unwrap_err();
        let expected: Vec<(String, String)> = expected
            .into_iter()
            .map(|(field, reason)| (field.to_owned(), reason.to_owned()))
            .collect();
        assert_eq!(field_violations(&refused), expected);
    }
    let order = record(step("ng-gaj", pb::SupervisionAction::Order, &[&talk.name]))
        .await
        .unwrap();
    let opened = client
        .get_rectification_item(with_token(
            pb::GetRectificationItemRequest {
                name: order.opened_item.clone(),
            },
            &staff,
        ))
        .await
        .unwrap()
        .into_inner()
        .item
        .unwrap();
    assert_eq!(opened.source(), pb::RectificationSource::Supervision);
    assert!(opened.problem.contains("30日内提交整改报告"));
    let criticism = record(step(
        "ng-gaj",
        pb::SupervisionAction::Criticism,
        &[&order.name],
    ))
    .await
    .unwrap();
    assert_eq!(criticism.cites, std::slice::from_ref(&order.name));

    let list = |owner: &str, unit: &str| pb::ListSupervisionRecordsRequest {
        owner_unit: owner.to_owned(),
        unit: unit.to_owned(),
        ..Default::default()
    };
    let all = client
        .list_supervision_records(with_token(list("units/ningguo", ""), &coordinator))
        .await
        .unwrap()
        .into_inner()
        .records;
    assert_eq!(all.len(), 4);
    let own = client
        .list_supervision_records(with_token(list("", "units/ng-gaj"), &staff))
        .await
        .unwrap()
        .into_inner()
        .records;
    assert_eq!(
        own.iter().map(|record| record.action()).collect::<Vec<_>>(),
        [
            pb::SupervisionAction::Talk,
            pb::SupervisionAction::Order,
            pb::SupervisionAction::Criticism
        ]
    );
    let refused = client
        .list_supervision_records(with_token(list("units/ningguo", ""), &staff))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    let other_staff = bearer("ng-sfj-clerk", Some("ng-sfj"), &[Role::UnitStaff]);
    let get = |name: &str| pb::GetSupervisionRecordRequest {
        name: name.to_owned(),
    };
    let refused = client
        .get_supervision_record(with_token(get(&order.name), &other_staff))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    let read = client
        .get_supervision_record(with_token(get(&order.name), &staff))
        .await
        .unwrap()
        .into_inner()
        .record
        .unwrap();
    assert_eq!(read, order);
    let missing = client
        .get_supervision_record(with_token(
            get("supervisionRecords/v-missing"),
            &coordinator,
        ))
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);

    let bulletin = client
        .get_bulletin(with_token(
            pb::GetBulletinRequest {
                round: round.name.clone(),
            },
            &coordinator,
        ))
        .await
        .unwrap()
        .into_inner()
        .bulletin
        .unwrap();
    assert_eq!(bulletin.supervision.len(), 4);
    let ledger = bulletin.ledger.unwrap();
    assert_eq!(ledger.open as usize, round.unit_count as usize + 1);

    let export = |format: pb::BulletinFormat| pb::ExportBulletinRequest {
        round: round.name.clone(),
        format: format as i32,
    };
    let xlsx = client
        .export_bulletin(with_token(export(pb::BulletinFormat::Xlsx), &staff))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (xlsx.content_type.as_str(), xlsx.file_name.as_str()),
        (
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "宁国市工作创新评分(测试)年度考核通报.xlsx"
        )
    );
    let mut workbook: Xlsx<_> =
        calamine::open_workbook_from_rs(std::io::Cursor::new(xlsx.content)).unwrap();
    assert_eq!(
        workbook.sheet_names(),
        [
            "市直部门排名",
            "等次分布",
            "未达标指标",
            "一票否决",
            "逾期任务",
            "整改情况",
            "督察情况"
        ]
    );
    let ranking = workbook.worksheet_range("市直部门排名").unwrap();
    let first: Vec<String> = ranking
        .rows()
        .nth(4)
        .unwrap()
        .iter()
        .map(Data::to_string)
        .collect();
    assert_eq!(first.len(), 7, "{first:?}");
    let supervision = workbook.worksheet_range("督察情况").unwrap();
    let actions: Vec<String> = supervision
        .rows()
        .skip(4)
        .map(|row| row[2].to_string())
        .collect();
    assert_eq!(actions, ["约谈", "约谈", "责令整改", "通报批评"]);

    let html = client
        .export_bulletin(with_token(export(pb::BulletinFormat::Html), &coordinator))
        .await
        .unwrap()
        .into_inner();
    let page = String::from_utf8(html.content).unwrap();
    assert_eq!(html.content_type, "text/html; charset=utf-8");
    assert!(page.contains("<h1>宁国市工作创新评分(测试)年度考核通报</h1>"));
    assert!(page.contains("@page { size: A4"));
    assert!(page.contains("<td>通报批评</td>"));
    let refused = client
        .export_bulletin(with_token(
            export(pb::BulletinFormat::Unspecified),
            &coordinator,
        ))
        .await
        .unwrap_err();
    assert_eq!(
        field_violations(&refused),
        [("format".to_owned(), "REQUIRED".to_owned())]
    );
}
