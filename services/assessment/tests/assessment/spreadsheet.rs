//! A scheme read from the spreadsheet it is circulated in, then created.

use fazhi_proto::assessment::v1 as pb;
use fazhi_testkit::replay::field_violations;
use fazhi_testkit::with_token;
use rust_xlsxwriter::{Format, Workbook};

use super::App;

/// A 考核细则表 as offices circulate it: a title row, the header, 一级指标 cells merged over their
/// rows, points with and without 分, a top-level criterion without children.
fn spreadsheet() -> Vec<u8> {
    let mut workbook = Workbook::new();
    let sheet = workbook.add_worksheet();
    let plain = Format::new();
    sheet
        .merge_range(0, 0, 0, 4, "宁国市2024年度法治政府建设考核细则", &plain)
        .unwrap();
    for (column, head) in ["一级指标", "二级指标", "分值", "评分标准", "评分责任单位"]
        .iter()
        .enumerate()
    {
        sheet.write(1, column as u16, *head).unwrap();
    }
    sheet
        .merge_range(2, 0, 3, 0, "行政应诉工作(20分)", &plain)
        .unwrap();
    let rows: [(u32, &str, &str, &str, &str); 4] = [
        (
            2,
            "负责人出庭应诉",
            "15",
            "出庭应诉率低于50%的,每低一个百分点扣0.5分",
            "市司法局",
        ),
        (
            3,
            "行政诉讼败诉率",
            "5分",
            "败诉率高于全省平均的扣5分",
            "市司法局",
        ),
        (
            4,
            "合法性审查",
            "10",
            "未经合法性审查的,每件扣2分",
            "市司法局",
        ),
        (5, "", "8", "中心组学法每少一次扣2分", "市委依法治市办"),
    ];
    for (row, name, points, guidance, scorer) in rows {
        sheet.write(row, 1, name).unwrap();
        sheet.write(row, 2, points).unwrap();
        sheet.write(row, 3, guidance).unwrap();
        sheet.write(row, 4, scorer).unwrap();
    }
    sheet.write(4, 0, "依法决策").unwrap();
    sheet.write(5, 0, "学法用法").unwrap();
    workbook.save_to_buffer().unwrap()
}

fn convert(spreadsheet: Vec<u8>) -> pb::ConvertSchemeSpreadsheetRequest {
    pb::ConvertSchemeSpreadsheetRequest {
        spreadsheet,
        code: "ng-xlsx".to_owned(),
        title: "宁国市2024年度法治政府建设考核方案(表格导入)".to_owned(),
        year: 2024,
        owner_unit: "units/ningguo".to_owned(),
        peer_groups: vec![pb::PeerGroup {
            code: "departments".to_owned(),
            title: "市直部门".to_owned(),
            unit_group: "government-departments".to_owned(),
        }],
    }
}

#[tokio::test]
async fn a_circulated_spreadsheet_becomes_a_scheme_tree_with_its_points_and_scoring_rules() {
    let mut app = App::start().await;
    let coordinator = app.coordinator.clone();
    let mut client = app.client.clone();
    let converted = client
        .convert_scheme_spreadsheet(with_token(convert(spreadsheet()), &coordinator))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(converted.criterion_count, 6, "{}", converted.content);
    let created = app
        .create_scheme("ng-xlsx", &converted.content, &coordinator)
        .await
        .unwrap();
    let tree: Vec<(&str, &str, &str, f64, &str)> = created
        .criteria
        .iter()
        .map(|criterion| {
            (
                criterion.code.as_str(),
                criterion.parent.as_str(),
                criterion.title.as_str(),
                criterion.max_points,
                criterion.scorer.as_str(),
            )
        })
        .collect();
    assert_eq!(
        tree,
        [
            ("1", "", "行政应诉工作", 20.0, ""),
            ("1.1", "1", "负责人出庭应诉", 15.0, "市司法局"),
            ("1.2", "1", "行政诉讼败诉率", 5.0, "市司法局"),
            ("2", "", "依法决策", 10.0, ""),
            ("2.1", "2", "合法性审查", 10.0, "市司法局"),
            ("3", "", "学法用法", 8.0, "市委依法治市办"),
        ]
    );
    assert_eq!(
        created.criteria[1].guidance,
        "出庭应诉率低于50%的,每低一个百分点扣0.5分"
    );
    // Every leaf is scored by its reviewers until rules are written for it.
    assert!(
        converted.content.matches("then: manual").count() == 4,
        "{}",
        converted.content
    );

    let refused = client
        .convert_scheme_spreadsheet(with_token(
            convert(b"not a workbook".to_vec()),
            &coordinator,
        ))
        .await
        .unwrap_err();
    assert_eq!(
        field_violations(&refused),
        [("spreadsheet".to_owned(), "NOT_XLSX".to_owned())]
    );
    let mut headless = Workbook::new();
    headless.add_worksheet().write(0, 0, "考核细则").unwrap();
    let refused = client
        .convert_scheme_spreadsheet(with_token(
            convert(headless.save_to_buffer().unwrap()),
            &coordinator,
        ))
        .await
        .unwrap_err();
    assert_eq!(
        field_violations(&refused),
        [("spreadsheet".to_owned(), "NO_HEADER".to_owned())]
    );
}
