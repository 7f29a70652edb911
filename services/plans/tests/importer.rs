//! The importer on the three real plans (`crates/fazhi/demo/plans/`), on the noise real pages
//! carry, and on arbitrary input.

#![allow(clippy::unwrap_used)]

use fazhi_plans::domain::import::{ParsedPlan, Task, parse};

use fazhi_testkit::demo::plan_text as fixture;

fn mentions(list: &[fazhi_plans::domain::import::Mention]) -> Vec<&str> {
    list.iter()
        .map(|mention| mention.mention.as_str())
        .collect()
}

fn task<'a>(plan: &'a ParsedPlan, number: &str) -> &'a Task {
    plan.tasks
        .iter()
        .find(|task| task.number == number)
        .unwrap()
}

fn numbers(plan: &ParsedPlan) -> Vec<String> {
    plan.tasks.iter().map(|task| task.number.clone()).collect()
}

fn one_to(count: usize) -> Vec<String> {
    (1..=count).map(|number| number.to_string()).collect()
}

fn warning_codes(plan: &ParsedPlan) -> Vec<&str> {
    plan.warnings.iter().map(|warning| warning.code).collect()
}

#[test]
fn ningguo_tasks_with_their_units() {
    let plan = parse(&fixture("ningguo-2024.txt"));
    assert_eq!(plan.title, "宁国市政府系统依法行政能力提升行动方案");
    assert_eq!(plan.document_number.as_deref(), Some("宁政〔2024〕9号"));
    assert_eq!(plan.period, Some((2024, 2024)));
    assert_eq!(numbers(&plan), one_to(37));
    let parts: Vec<(&str, &str, usize)> = plan
        .parts
        .iter()
        .map(|part| {
            (
                part.number.as_str(),
                part.title.as_str(),
                part.sections.len(),
            )
        })
        .collect();
    assert_eq!(
        parts,
        vec![
            ("一", "主要目标", 0),
            ("二", "主要任务", 6),
            ("三", "工作要求", 3)
        ]
    );
    assert_eq!(plan.parts[1].sections[0].title, "实施主体能力提升行动");

    let first = task(&plan, "1");
    assert_eq!(
        (first.part.as_deref(), first.section.as_deref()),
        (Some("二"), Some("(一)"))
    );
    assert_eq!(
        first.title,
        "把习近平法治思想作为市政府及其部门理论学习的重要内容"
    );
    assert_eq!(mentions(&first.lead), vec!["市司法局"]);
    assert_eq!(
        mentions(&first.responsible),
        vec!["各乡镇", "街道", "市政府各部门"]
    );
    let hours: Vec<(Option<f64>, &str)> = first
        .targets
        .iter()
        .map(|target| (target.value, target.unit.as_str()))
        .collect();
    assert_eq!(
        hours,
        vec![
            (Some(40.0), "学时"),
            (Some(50.0), "学时"),
            (Some(60.0), "学时")
        ]
    );

    assert_eq!(
        mentions(&task(&plan, "3").lead),
        vec!["市政府办公室", "市司法局"]
    );
    assert_eq!(
        mentions(&task(&plan, "6").lead),
        vec!["市司法局", "市委组织部", "市委编办", "市人社局"]
    );
    assert_eq!(
        mentions(&task(&plan, "16").responsible),
        vec![
            "市交运局",
            "市农业农村局",
            "市文旅局",
            "市应急局",
            "市市场监管局",
            "市城管执法局",
            "市生态环境分局"
        ]
    );
    assert_eq!(
        mentions(&task(&plan, "22").responsible),
        vec!["市政府相关部门"]
    );
    assert_eq!(
        mentions(&task(&plan, "37").lead),
        vec!["市政府办公室", "市数据资源局"]
    );
    assert_eq!(task(&plan, "30").section.as_deref(), Some("(五)"));
    assert_eq!(warning_codes(&plan), vec!["NOISE_DROPPED"]);
}

#[test]
fn xuchang_tasks_without_units() {
    let plan = parse(&fixture("xuchang-2022-2025.txt"));
    assert_eq!(plan.title, "许昌市法治政府建设实施方案");
    assert_eq!(plan.period, Some((2022, 2025)));
    assert_eq!(
        plan.document_number, None,
        "豫发〔2021〕31号 is a cited document"
    );
    assert_eq!(numbers(&plan), one_to(25));
    assert_eq!(plan.parts[1].sections.len(), 8);
    assert_eq!(task(&plan, "1").title, "推进政府机构职能优化协同高效");
    assert_eq!(task(&plan, "25").title, "深入推进“互联网+”监管执法");
    assert_eq!(task(&plan, "25").section.as_deref(), Some("(八)"));
    let deadline = &task(&plan, "17").deadlines[0];
    assert_eq!(
        (
            deadline.text.as_str(),
            deadline.date.map(|date| date.to_string())
        ),
        ("2022年年底前", Some("2022-12-31".to_owned()))
    );
    assert!(
        plan.tasks
            .iter()
            .all(|task| task.lead.is_empty() && task.responsible.is_empty())
    );
    assert_eq!(warning_codes(&plan), vec!["NO_ASSIGNMENTS"]);
}

#[test]
fn tongliao_tasks_from_the_annexed_table() {
    let plan = parse(&fixture("tongliao-2020.txt"));
    assert_eq!(plan.title, "通辽市2020年度法治政府建设工作实施方案");
    assert_eq!(plan.period, Some((2020, 2020)));
    assert_eq!(numbers(&plan), one_to(45));
    let first = task(&plan, "1");
    assert_eq!(mentions(&first.lead), vec!["市委办", "政府办"]);
    assert_eq!(
        mentions(&first.responsible),
        vec!["市委依法治市办", "市直单位", "旗县市区"]
    );
    let ninth = task(&plan, "9");
    assert_eq!(ninth.title, "全面清理于法无据的资质、资格准入行政许可");
    assert_eq!(mentions(&ninth.lead), vec!["政务服务局"]);
    assert_eq!(
        mentions(&ninth.responsible),
        vec![
            "发改委",
            "市人社局等有职业资格、资质许可和认定事项的各相关部门",
            "旗县市区"
        ]
    );
    assert_eq!(
        mentions(&task(&plan, "13").responsible),
        vec![
            "市委办",
            "政府办",
            "统战部",
            "工商联",
            "各相关部门",
            "旗县市区"
        ]
    );
    let dates: Vec<String> = task(&plan, "7")
        .deadlines
        .iter()
        .filter_map(|deadline| deadline.date.map(|date| date.to_string()))
        .collect();
    assert_eq!(dates, vec!["2020-03-31", "2020-04-30"]);
    assert_eq!(mentions(&task(&plan, "45").lead), vec!["司法局"]);
    assert!(
        plan.tasks
            .iter()
            .all(|task| !task.lead.is_empty() && !task.responsible.is_empty())
    );
    // The stages of 三、具体方法步骤, whose dates lost 年 and 月 in extraction, read back.
    let phases: Vec<(&str, String, String)> = plan
        .phases
        .iter()
        .map(|phase| {
            (
                phase.title.as_str(),
                phase.start_date.to_string(),
                phase.end_date.to_string(),
            )
        })
        .collect();
    let expected = [
        ("制定方案", "2020-03-01", "2020-03-20"),
        ("自查自评", "2020-03-21", "2020-04-30"),
        ("整改推进", "2020-05-01", "2020-07-31"),
        ("组织验收", "2020-08-01", "2020-10-31"),
        ("全面总结", "2020-11-01", "2020-12-05"),
    ]
    .map(|(title, start, end)| (title, start.to_owned(), end.to_owned()));
    assert_eq!(phases, expected);
    let mut codes = vec!["NOISE_DROPPED"];
    codes.extend(["PHASE_DATES_RECOVERED"; 5]);
    assert_eq!(warning_codes(&plan), codes);
}

#[test]
fn noise_inside_the_text_changes_nothing() {
    let clean = parse(&fixture("ningguo-2024.txt"));
    // Page numbers inside sentences, full-width spaces, a chunk marker line, navigation text.
    let noisy: String = fixture("ningguo-2024.txt")
        .lines()
        .enumerate()
        .map(|(index, line)| match index % 7 {
            0 => format!("{line}\n- {} -\n", index / 7),
            3 => line.replacen('。', "。 -12 - ", 1),
            5 => format!("\u{3000}{line}\u{3000}\n分享到:"),
            _ => line.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    let plan = parse(&noisy);
    assert_eq!(numbers(&plan), numbers(&clean));
    for (noisy_task, clean_task) in plan.tasks.iter().zip(&clean.tasks) {
        assert_eq!(
            mentions(&noisy_task.lead),
            mentions(&clean_task.lead),
            "task {}",
            clean_task.number
        );
        assert_eq!(
            mentions(&noisy_task.responsible),
            mentions(&clean_task.responsible)
        );
    }
}

#[test]
fn numbering_problems_are_reported_not_guessed() {
    let text = "某县依法行政工作方案\n一、重点任务\n1.甲任务。\n牵头单位:县司法局\n3.乙任务。\n3.丙任务。\n2.丁任务。\n";
    let plan = parse(text);
    assert_eq!(numbers(&plan), vec!["1", "3", "3", "2"]);
    let codes = warning_codes(&plan);
    for code in [
        "NUMBER_GAP",
        "DUPLICATE_NUMBER",
        "NUMBER_OUT_OF_ORDER",
        "TASK_WITHOUT_UNITS",
    ] {
        assert!(codes.contains(&code), "{code} in {codes:?}");
    }
    let units_in_brackets =
        parse("某县方案\n一、主要任务\n1.开展执法检查。(牵头单位:县司法局;责任单位:各乡镇)\n");
    assert_eq!(mentions(&units_in_brackets.tasks[0].lead), vec!["县司法局"]);
    assert_eq!(units_in_brackets.tasks[0].text, "开展执法检查。");
}

#[test]
fn json_has_the_documented_shape() {
    let plan = parse(&fixture("tongliao-2020.txt"));
    let json = serde_json::to_value(&plan).unwrap();
    for key in ["title", "parts", "tasks", "warnings"] {
        assert!(json.get(key).is_some(), "{key}");
    }
    let first = &json["tasks"][0];
    for key in [
        "number",
        "title",
        "text",
        "part",
        "section",
        "lead",
        "responsible",
        "participating",
        "deadlines",
        "targets",
    ] {
        assert!(first.get(key).is_some(), "{key}");
    }
    assert_eq!(first["lead"][0]["mention"], "市委办");
}

proptest::proptest! {
    #[test]
    fn never_panics_on_arbitrary_text(text in "\\PC{0,400}") {
        let _ = parse(&text);
    }

    #[test]
    fn never_panics_on_cut_or_reordered_plans(cut in 0usize..18_000, swap in 0usize..180) {
        let text = fixture("ningguo-2024.txt");
        let boundary = (0..=cut.min(text.len())).rev().find(|index| text.is_char_boundary(*index)).unwrap_or(0);
        let _ = parse(&text[..boundary]);
        let mut lines: Vec<&str> = text.lines().collect();
        let last = lines.len() - 1;
        lines.swap(swap.min(last), last - swap.min(last));
        let _ = parse(&lines.join("\n"));
    }
}

fn docx_paragraph(text: &str) -> String {
    let escaped = text
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    format!(r#"<w:p><w:r><w:t xml:space="preserve">{escaped}</w:t></w:r></w:p>"#)
}

/// A minimal Word document with this body.
fn docx_of(body: &str) -> Vec<u8> {
    use std::io::Write;
    let document = format!(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>{body}</w:body></w:document>"#
    );
    let mut archive = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default();
    archive.start_file("[Content_Types].xml", options).unwrap();
    archive
        .write_all(br#"<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>"#)
        .unwrap();
    archive.start_file("word/document.xml", options).unwrap();
    archive.write_all(document.as_bytes()).unwrap();
    archive.finish().unwrap().into_inner()
}

/// Every line a paragraph; the lines after `table_from` in one-column table cells, as Word
/// keeps a task breakdown table.
fn docx(lines: &[&str], table_from: usize) -> Vec<u8> {
    let mut body: String = lines[..table_from]
        .iter()
        .map(|line| docx_paragraph(line))
        .collect();
    body.push_str("<w:tbl>");
    for line in &lines[table_from..] {
        body.push_str(&format!(
            "<w:tr><w:tc>{}</w:tc></w:tr>",
            docx_paragraph(line)
        ));
    }
    body.push_str("</w:tbl>");
    docx_of(&body)
}

#[test]
fn docx_reads_like_the_text() {
    use fazhi_plans::domain::import::document_text;
    let text = fixture("tongliao-2020.txt");
    let lines: Vec<&str> = text.lines().collect();
    let annex = lines
        .iter()
        .rposition(|line| line.contains("重点工作任务分解表"))
        .unwrap();
    let from_docx = parse(&document_text(&docx(&lines, annex + 1)).unwrap());
    let from_text = parse(&text);
    assert_eq!(from_docx.title, from_text.title);
    assert_eq!(numbers(&from_docx), one_to(45));
    for (docx_task, text_task) in from_docx.tasks.iter().zip(&from_text.tasks) {
        assert_eq!(docx_task.text, text_task.text);
        assert_eq!(
            mentions(&docx_task.responsible),
            mentions(&text_task.responsible)
        );
    }
    // Entities in runs come back as characters.
    let small = parse(
        &document_text(&docx(
            &[
                "某县方案",
                "一、主要任务",
                "1.落实“放管服”&改革。",
                "牵头单位:县司法局",
            ],
            4,
        ))
        .unwrap(),
    );
    assert_eq!(small.tasks[0].text, "落实“放管服”&改革。");
    assert!(document_text(b"PK\x03\x04 not really a zip").is_err());
    assert!(document_text(&[0xff, 0xfe, 0x00]).is_err());
}

/// A task's number with its lead, responsible and participating mentions.
type Roles<'a> = (&'a str, Vec<&'a str>, Vec<&'a str>, Vec<&'a str>);

/// Layouts other than the fixtures': each file in `tests/layouts/` as the importer reads it.
fn roles(plan: &ParsedPlan) -> Vec<Roles<'_>> {
    plan.tasks
        .iter()
        .map(|task| {
            (
                task.number.as_str(),
                mentions(&task.lead),
                mentions(&task.responsible),
                mentions(&task.participating),
            )
        })
        .collect()
}

fn layout(name: &str) -> ParsedPlan {
    parse(
        &std::fs::read_to_string(format!(
            "{}/tests/layouts/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap(),
    )
}

#[test]
fn units_in_brackets_after_each_item() {
    let plan = layout("bracketed-units.txt");
    assert_eq!(
        roles(&plan),
        vec![
            (
                "1",
                vec!["县司法局"],
                vec!["县政府各部门", "各乡镇人民政府"],
                vec![]
            ),
            // (县委组织部、县委党校按职责分工负责): both responsible, the duty phrase dropped.
            ("2", vec![], vec!["县委组织部", "县委党校"], vec![]),
            ("3", vec!["县委编办"], vec![], vec!["县政府各部门"]),
            ("4", vec![], vec!["县政务服务中心", "县市场监管局"], vec![]),
        ]
    );
    assert_eq!(plan.period, Some((2023, 2023)));
    assert!(plan.warnings.is_empty(), "{:?}", plan.warnings);
}

#[test]
fn pdf_extracted_text_with_hard_line_breaks() {
    let plan = layout("pdf-extracted.txt");
    assert_eq!(
        roles(&plan),
        vec![
            ("1", vec![], vec!["市委编办", "市直各部门"], vec![]),
            (
                "2",
                vec![],
                vec!["市政务服务管理局", "市直有关部门"],
                vec![]
            ),
            // 各县(市、区): the list separator inside the brackets is not a list separator.
            (
                "3",
                vec!["市发展改革委"],
                vec!["各县(市、区)人民政府"],
                vec![]
            ),
        ]
    );
    // A deadline broken over two lines (2022 / 年底前) is read whole; the page number dropped.
    let dates: Vec<String> = task(&plan, "2")
        .deadlines
        .iter()
        .filter_map(|deadline| deadline.date.map(|date| date.to_string()))
        .collect();
    assert_eq!(dates, ["2022-12-31"]);
    assert!(!task(&plan, "2").text.contains("- 3 -"));
    assert_eq!(plan.period, Some((2021, 2025)));
}

#[test]
fn a_prose_plan_without_numbered_items() {
    let plan = layout("prose-only.txt");
    assert_eq!(
        roles(&plan),
        vec![
            ("一", vec![], vec!["各行政执法部门", "县司法局"], vec![]),
            ("二", vec![], vec!["各行政执法部门"], vec![]),
            ("三", vec!["县司法局"], vec!["各行政执法部门"], vec![]),
        ]
    );
    assert_eq!(task(&plan, "一").title, "全面推行行政执法公示制度");
    assert_eq!(warning_codes(&plan), vec!["TASKS_FROM_HEADINGS"]);
}

#[test]
fn a_table_copied_with_tabs_and_a_time_limit_column() {
    let plan = layout("tab-separated-table.txt");
    assert_eq!(
        roles(&plan),
        vec![
            ("1", vec!["区司法局"], vec!["区政府各部门"], vec![]),
            (
                "2",
                vec!["区司法局"],
                vec!["各行政执法部门", "各街道办事处"],
                vec![]
            ),
            ("3", vec!["区政府办"], vec!["区直各单位"], vec![]),
        ]
    );
    // The 完成时限 cell is a deadline, not a unit.
    let dates: Vec<String> = task(&plan, "2")
        .deadlines
        .iter()
        .filter_map(|deadline| deadline.date.map(|date| date.to_string()))
        .collect();
    assert_eq!(dates, ["2024-12-31"]);
    assert!(task(&plan, "3").text.ends_with("(完成时限:持续推进)"));
}

#[test]
fn sub_items_and_several_labels_on_one_line() {
    let plan = layout("sub-items.txt");
    assert_eq!(
        roles(&plan),
        vec![
            // (1) and (2) both name 市司法局 as lead: once.
            ("1", vec!["市司法局"], vec!["市直各部门"], vec![]),
            ("2", vec![], vec!["市委编办", "市司法局"], vec![]),
        ]
    );
    assert!(task(&plan, "1").text.contains("(2)加强规范性文件监督管理"));
}

#[test]
fn labels_in_brackets_of_any_kind_run_into_the_text_or_on_the_next_line() {
    let plan = layout("inline-labels.txt");
    assert_eq!(
        roles(&plan),
        vec![
            ("1", vec!["县司法局"], vec!["各乡镇"], vec![]),
            ("2", vec!["县司法局"], vec!["县直各单位"], vec![]),
            ("3", vec![], vec!["县委宣传部", "县司法局"], vec![]),
            ("4", vec![], vec!["县司法局"], vec![]),
            ("5", vec!["县政府办公室"], vec![], vec![]),
        ]
    );
    // The time limit written with the units is kept in the text and read as a deadline.
    assert_eq!(
        task(&plan, "4").text,
        "完善行政执法监督。(完成时限:2023年12月底前)"
    );
    assert_eq!(
        task(&plan, "4").deadlines[0]
            .date
            .map(|date| date.to_string()),
        Some("2023-12-31".to_owned())
    );
    assert_eq!(task(&plan, "2").text, "推进行政复议规范化建设。");
    assert!(plan.warnings.is_empty(), "{:?}", plan.warnings);
}

/// The part and section of each task.
fn places(plan: &ParsedPlan) -> Vec<(&str, Option<&str>, Option<&str>)> {
    plan.tasks
        .iter()
        .map(|task| {
            (
                task.number.as_str(),
                task.part.as_deref(),
                task.section.as_deref(),
            )
        })
        .collect()
}

#[test]
fn sections_numbered_in_each_part_with_units_in_tortoise_shell_brackets() {
    let plan = layout("per-part-sections.txt");
    assert_eq!(
        roles(&plan),
        vec![
            (
                "一.(一)",
                vec![],
                vec!["县政务服务中心", "县发改局"],
                vec![]
            ),
            ("一.(二)", vec!["县委编办"], vec!["县直各部门"], vec![]),
            (
                "二.(一)",
                vec![],
                vec!["县司法局", "各乡镇人民政府"],
                vec![]
            ),
            // In the sentence: 由县司法局牵头,县直各部门负责.
            ("二.(二)", vec!["县司法局"], vec!["县直各部门"], vec![]),
            // The 保障措施 part names units for its items, so they are tasks.
            (
                "三.(一)",
                vec![],
                vec!["各乡镇人民政府", "县直各部门"],
                vec![]
            ),
            (
                "三.(二)",
                vec!["县委依法治县办"],
                vec![],
                vec!["县委组织部"]
            ),
        ]
    );
    assert_eq!(places(&plan)[5], ("三.(二)", Some("三"), Some("(二)")));
    assert_eq!(task(&plan, "一.(一)").title, "深化“放管服”改革");
    assert_eq!(warning_codes(&plan), vec!["TASKS_FROM_HEADINGS"]);
}

#[test]
fn indented_items_numbered_through_the_parts_with_a_closing_bracket_of_units() {
    let plan = layout("closing-brackets.txt");
    assert_eq!(
        roles(&plan),
        vec![
            (
                "1",
                vec!["市委编办"],
                vec![],
                vec!["市政府办公室", "市司法局"]
            ),
            (
                "2",
                vec!["市政务服务管理局"],
                vec![],
                vec!["市直各部门", "各县区人民政府"]
            ),
            ("3", vec!["市司法局"], vec![], vec!["市人大常委会法工委"]),
            ("4", vec!["市司法局"], vec![], vec![]),
            (
                "5",
                vec!["市委依法治市办"],
                vec![],
                vec!["各县区党委", "市直各单位"]
            ),
        ]
    );
    let parts: Vec<Option<&str>> = plan.tasks.iter().map(|task| task.part.as_deref()).collect();
    assert_eq!(
        parts,
        vec![Some("二"), Some("二"), Some("三"), Some("三"), Some("四")]
    );
    assert_eq!(plan.period, Some((2021, 2025)));
    assert!(plan.warnings.is_empty(), "{:?}", plan.warnings);
}

#[test]
fn a_preview_whose_page_chunks_carry_numbers_of_their_own() {
    let plan = layout("shared-preview-chunks.txt");
    assert_eq!(
        roles(&plan),
        vec![
            ("1", vec!["县委编办"], vec!["县直各部门"], vec![]),
            ("2", vec!["县政务服务中心"], vec!["县直有关部门"], vec![]),
            ("3", vec!["县司法局"], vec!["各乡镇人民政府"], vec![]),
            ("5", vec!["县司法局"], vec!["各行政执法部门"], vec![]),
            ("6", vec![], vec![], vec![]),
            // A page out of order: its task is kept where it stands, and warned.
            ("4", vec!["县政府办公室"], vec!["县直各部门"], vec![]),
        ]
    );
    assert_eq!(
        places(&plan)[..3],
        [
            ("1", Some("二"), Some("(一)")),
            ("2", Some("二"), Some("(一)")),
            ("3", Some("二"), Some("(二)"))
        ]
    );
    // The chunk number that broke the sentence is gone and the sentence whole again.
    assert!(task(&plan, "2").text.contains("对违法审批、造成重大损失的"));
    assert!(task(&plan, "3").text.contains("审核率达到100%"));
    assert_eq!(task(&plan, "2").title, "深入推进“放管服”改革");
    let codes = warning_codes(&plan);
    assert!(codes.contains(&"NUMBER_OUT_OF_ORDER"), "{codes:?}");
    assert!(codes.contains(&"TASK_WITHOUT_UNITS"), "{codes:?}");
}

#[test]
fn sections_with_a_label_line_whose_units_share_the_duty() {
    let plan = layout("sections-labels-next-line.txt");
    assert_eq!(
        roles(&plan),
        vec![
            // 乡镇人民政府按职责分工分别负责。: the duty words and the full stop are not the unit.
            (
                "一.(一)",
                vec![],
                vec!["县政府办公室", "县司法局", "各有关部门", "乡镇人民政府"],
                vec![]
            ),
            (
                "一.(二)",
                vec![],
                vec!["县卫健委", "县司法局", "各乡镇人民政府"],
                vec![]
            ),
            (
                "二.(一)",
                vec![],
                vec!["县司法局", "县直各有关部门"],
                vec![]
            ),
            ("二.(二)", vec![], vec!["县司法局"], vec![]),
        ]
    );
    assert_eq!(plan.title, "某县2020年度法治政府建设工作安排");
    assert_eq!(plan.document_number.as_deref(), Some("某政办〔2020〕20号"));
    // The labels belong to the headings taken as tasks: no LABEL_OUTSIDE_TASK.
    assert_eq!(warning_codes(&plan), vec!["TASKS_FROM_HEADINGS"]);
}

#[test]
fn a_task_ledger_with_indicator_headings_and_merged_unit_cells() {
    let plan = layout("task-ledger-table.txt");
    assert_eq!(
        roles(&plan),
        vec![
            (
                "1",
                vec!["区政务服务办"],
                vec!["其他部门", "各街道"],
                vec![]
            ),
            // Rows 2 and 3 sat under row 1's merged unit cell.
            (
                "2",
                vec!["区政务服务办"],
                vec!["其他部门", "各街道"],
                vec![]
            ),
            (
                "3",
                vec!["区政务服务办"],
                vec!["其他部门", "各街道"],
                vec![]
            ),
            ("4", vec!["区司法局"], vec!["各部门"], vec![]),
        ]
    );
    // 一级指标 and 二级指标 are the rows' part and section.
    assert_eq!(
        places(&plan),
        vec![
            ("1", Some("一"), Some("1")),
            ("2", Some("一"), Some("1")),
            ("3", Some("一"), Some("1")),
            ("4", Some("一"), Some("2")),
        ]
    );
    assert_eq!(
        warning_codes(&plan),
        vec!["UNITS_FROM_ROW_ABOVE", "UNITS_FROM_ROW_ABOVE"]
    );
}

#[test]
fn items_numbered_again_in_each_section_with_roles_in_brackets() {
    let plan = layout("items-restarting-in-each-section.txt");
    assert_eq!(
        roles(&plan),
        vec![
            ("二.(一).1", vec!["县委编办"], vec![], vec![]),
            (
                "二.(一).2",
                vec!["县政务服务中心"],
                vec!["县直各部门"],
                vec![]
            ),
            // 责任单位:县司法局(牵头)、县直各部门: the bracket gives 县司法局 its role.
            ("二.(二).1", vec!["县司法局"], vec!["县直各部门"], vec![]),
            ("二.(二).2", vec!["县政府办公室"], vec![], vec!["县司法局"]),
        ]
    );
    // 保障措施 names no units: its item is not a task, and that is said, not silent.
    assert_eq!(warning_codes(&plan), vec!["ITEM_NOT_A_TASK"]);
    assert_eq!(plan.warnings[0].line, 14);
}

#[test]
fn units_named_on_headings_hold_for_their_items_numbered_in_brackets() {
    let plan = layout("units-on-headings-and-paren-items.txt");
    assert_eq!(
        roles(&plan),
        vec![
            // (1) names no units: its section's hold.
            ("1", vec!["区委宣传部"], vec!["区直各部门"], vec![]),
            // (2) names its own.
            ("2", vec![], vec!["区委党校"], vec![]),
            // The part names the lead; its section none.
            ("3", vec!["区司法局"], vec![], vec![]),
            ("4", vec!["区司法局"], vec![], vec![]),
        ]
    );
    let headings: Vec<(&str, &str)> = plan
        .parts
        .iter()
        .flat_map(|part| {
            std::iter::once((part.number.as_str(), part.title.as_str())).chain(
                part.sections
                    .iter()
                    .map(|section| (section.number.as_str(), section.title.as_str())),
            )
        })
        .collect();
    // Heading titles without the units they name.
    assert_eq!(
        headings,
        vec![
            ("一", "深入学习贯彻习近平法治思想"),
            ("(一)", "加强理论学习"),
            ("二", "推进严格规范公正文明执法"),
            ("(二)", "深化行政执法体制改革"),
        ]
    );
    assert!(plan.warnings.is_empty(), "{:?}", plan.warnings);
}

#[test]
fn a_web_table_with_pipes_and_an_empty_lead_cell() {
    let plan = layout("pipe-table.txt");
    assert_eq!(
        roles(&plan),
        vec![
            ("1", vec!["市司法局"], vec!["市直有关部门"], vec![]),
            (
                "2",
                vec!["市司法局"],
                vec!["各县(市、区)人民政府", "市直各行政执法部门"],
                vec![]
            ),
            ("3", vec!["市司法局"], vec![], vec![]),
            // The empty 牵头单位 cell keeps its column: the 责任单位 stay responsible.
            ("4", vec![], vec!["各乡镇人民政府", "街道办事处"], vec![]),
        ]
    );
    let dates: Vec<Option<String>> = plan
        .tasks
        .iter()
        .map(|task| task.deadlines.first()?.date.map(|date| date.to_string()))
        .collect();
    assert_eq!(
        dates,
        [
            Some("2024-03-31".to_owned()),
            Some("2024-12-31".to_owned()),
            None,
            Some("2024-06-30".to_owned())
        ]
    );
    assert!(plan.warnings.is_empty(), "{:?}", plan.warnings);
}

#[test]
fn a_word_table_keeps_its_columns() {
    use fazhi_plans::domain::import::document_text;
    // Rows of cells, each cell its paragraphs; the second row's 牵头单位 cell is empty and its
    // 责任单位 cell lists one unit per paragraph.
    let rows: [&[&[&str]]; 3] = [
        &[
            &["序号"],
            &["重点任务"],
            &["牵头单位"],
            &["责任单位"],
            &["完成时限"],
        ],
        &[
            &["1"],
            &["制定年度政府立法计划。", "按程序向社会公布。"],
            &["县司法局"],
            &["县直有关部门"],
            &["2024年3月底前"],
        ],
        &[
            &["2"],
            &["推进乡镇合法性审查全覆盖。"],
            &[],
            &["各乡镇人民政府", "各街道办事处"],
            &["2024年6月底前"],
        ],
    ];
    let mut body = docx_paragraph("某县2024年法治政府建设重点任务分解表");
    body.push_str("<w:tbl>");
    for row in rows {
        body.push_str("<w:tr>");
        for cell in row {
            let paragraphs: String = cell.iter().map(|text| docx_paragraph(text)).collect();
            body.push_str(&format!("<w:tc>{paragraphs}</w:tc>"));
        }
        body.push_str("</w:tr>");
    }
    body.push_str("</w:tbl>");
    let plan = parse(&document_text(&docx_of(&body)).unwrap());
    assert_eq!(
        roles(&plan),
        vec![
            ("1", vec!["县司法局"], vec!["县直有关部门"], vec![]),
            ("2", vec![], vec!["各乡镇人民政府", "各街道办事处"], vec![]),
        ]
    );
    assert_eq!(
        task(&plan, "1").text,
        "制定年度政府立法计划。按程序向社会公布。(完成时限:2024年3月底前)"
    );
}

#[test]
fn items_whose_sentences_give_the_work() {
    let plan = layout("units-in-the-sentence.txt");
    assert_eq!(
        roles(&plan),
        vec![
            ("1", vec!["县司法局"], vec!["各行政执法部门"], vec![]),
            // 行政机关负责人 is a person, not a unit given work.
            ("2", vec![], vec![], vec!["县法院"]),
            // 各乡镇要… exhorts; it does not assign.
            ("3", vec![], vec![], vec![]),
        ]
    );
    assert_eq!(
        warning_codes(&plan),
        vec!["TASK_WITHOUT_UNITS", "TASK_WITHOUT_UNITS"]
    );
}

#[test]
fn labels_as_bracketed_headings_and_a_time_limit_in_the_units_bracket() {
    let plan = layout("bracket-headed-labels-and-limits.txt");
    assert_eq!(
        roles(&plan),
        vec![
            ("一.(一)", vec![], vec!["县司法局"], vec![]),
            ("一.(二)", vec!["县司法局"], vec![], vec!["县直各执法单位"]),
            // 【牵头单位】县司法局【责任单位】县直各执法单位
            ("二.(一)", vec!["县司法局"], vec!["县直各执法单位"], vec![]),
        ]
    );
    // (责任单位:县司法局;完成时限:2023年12月): the month is the limit, by its end.
    assert_eq!(
        task(&plan, "一.(一)").deadlines[0]
            .date
            .map(|date| date.to_string()),
        Some("2023-12-31".to_owned())
    );
    assert_eq!(warning_codes(&plan), vec!["TASKS_FROM_HEADINGS"]);
}

#[test]
fn a_table_whose_only_unit_column_is_the_responsible_one() {
    let plan = layout("table-without-a-lead-column.txt");
    assert_eq!(
        roles(&plan),
        vec![
            ("1", vec![], vec!["市委依法治市办"], vec![]),
            ("2", vec![], vec!["市司法局", "市中级法院"], vec![]),
        ]
    );
    assert!(plan.warnings.is_empty(), "{:?}", plan.warnings);
}

#[test]
fn a_time_limit_on_the_label_line_and_a_bracket_of_bare_unit_names() {
    let plan = layout("limits-on-the-label-line-and-bare-unit-brackets.txt");
    assert_eq!(
        roles(&plan),
        vec![
            // 责任单位:县司法局 完成时限:2024年底 — the limit is not a unit.
            ("1", vec![], vec!["县司法局"], vec![]),
            // (县政府办、县数据资源局): names only, the task's responsible units.
            ("2", vec![], vec!["县政府办", "县数据资源局"], vec![]),
            // (试行) names no unit.
            ("3", vec![], vec![], vec![]),
        ]
    );
    assert_eq!(
        task(&plan, "1").deadlines[0]
            .date
            .map(|date| date.to_string()),
        Some("2024-12-31".to_owned())
    );
    assert_eq!(task(&plan, "2").title, "推进政务公开标准化规范化建设");
    assert_eq!(task(&plan, "3").text, "严格落实(试行)办法。");
    assert_eq!(warning_codes(&plan), vec!["TASK_WITHOUT_UNITS"]);
}

#[test]
fn half_bracket_numbers_are_items_where_nothing_else_numbers_them() {
    let plan = parse(
        "某县方案\n一、主要任务\n1)推进政务公开。(牵头单位:县政府办)\n2)深化改革。(牵头单位:县发改局)\n",
    );
    assert_eq!(
        roles(&plan),
        vec![
            ("1", vec!["县政府办"], vec![], vec![]),
            ("2", vec!["县发改局"], vec![], vec![]),
        ]
    );
}

#[test]
fn a_workbook_that_unpacks_past_the_limit_is_refused_before_it_is_read() {
    use fazhi_plans::domain::import::{DocumentError, MAX_DOCUMENT_BYTES, parse_document};
    use std::io::Write;
    let mut archive = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    archive.start_file("xl/workbook.xml", options).unwrap();
    archive.write_all(b"<workbook/>").unwrap();
    archive
        .start_file("xl/worksheets/sheet1.xml", options)
        .unwrap();
    let blank = vec![b' '; 1024 * 1024];
    for _ in 0..=MAX_DOCUMENT_BYTES / blank.len() {
        archive.write_all(&blank).unwrap();
    }
    let bytes = archive.finish().unwrap().into_inner();
    assert!(bytes.len() < 1024 * 1024, "{} bytes", bytes.len());
    assert!(matches!(
        parse_document(&bytes),
        Err(DocumentError::TooLarge(_))
    ));
}
