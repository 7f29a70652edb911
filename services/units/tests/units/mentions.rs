//! Every unit mention in the fixture plans resolves against the demo registry.

use fazhi_proto::units::v1 as pb;
use fazhi_testkit::with_token;

use crate::helpers::App;

fn split_mentions(cell: &str) -> impl Iterator<Item = String> + '_ {
    cell.split(['、', ',', ',', ';', ';'])
        .map(str::trim)
        .filter(|mention| !mention.is_empty())
        .map(str::to_owned)
}

/// 宁国: `牵头单位:…` and `责任单位:…` lines after each task.
fn ningguo_mentions(text: &str) -> Vec<String> {
    text.lines()
        .map(|line| line.trim().replace('\u{3000}', ""))
        .filter_map(|line| {
            ["牵头单位:", "责任单位:", "牵头单位:", "责任单位:"]
                .iter()
                .find_map(|label| line.strip_prefix(label).map(str::to_owned))
        })
        .flat_map(|cell| split_mentions(&cell).collect::<Vec<_>>())
        .collect()
}

/// 通辽: the annex table, flattened to one cell per line: a row number, the task, then the unit
/// cells (a cell ending in 、 continues on the next line).
fn tongliao_mentions(text: &str) -> Vec<String> {
    let annex_title = "通辽市2020年度法治政府建设重点工作任务分解表";
    let start = text.rfind(annex_title).expect("annex");
    let lines: Vec<String> = text[start..]
        .lines()
        .map(|line| line.trim().replace('\u{3000}', ""))
        // The page's footer (政策解读链接:http://…) follows the last row.
        .filter(|line| !line.is_empty() && !line.contains("http"))
        .collect();
    let mut mentions = Vec::new();
    let mut expected_row = 1;
    let mut index = 0;
    while index < lines.len() {
        if lines[index] != expected_row.to_string() {
            index += 1;
            continue;
        }
        expected_row += 1;
        // Skip the row number and the task text; the rest up to the next row number are units.
        index += 2;
        let mut cell = String::new();
        while index < lines.len() && lines[index] != expected_row.to_string() {
            cell.push_str(&lines[index]);
            if !lines[index].ends_with('、') {
                mentions.extend(split_mentions(&cell));
                cell.clear();
            }
            index += 1;
        }
        mentions.extend(split_mentions(&cell));
    }
    assert_eq!(expected_row - 1, 45, "the annex has 45 rows");
    mentions
}

async fn resolve(app: &mut App, context: &str, mentions: &[String]) -> Vec<pb::MentionResolution> {
    app.client
        .resolve_unit_mentions(with_token(
            pb::ResolveUnitMentionsRequest {
                context_unit: format!("units/{context}"),
                mentions: mentions.to_vec(),
                as_of: "2024-02-08".to_owned(),
            },
            &app.admin.clone(),
        ))
        .await
        .unwrap()
        .into_inner()
        .resolutions
}

#[tokio::test]
async fn every_fixture_mention_resolves() {
    let mut app = App::with_demo_registry().await;
    let ningguo = ningguo_mentions(&fazhi_testkit::demo::plan_text("ningguo-2024.txt"));
    let tongliao = tongliao_mentions(&fazhi_testkit::demo::plan_text("tongliao-2020.txt"));
    assert!(ningguo.len() > 150, "{}", ningguo.len());
    assert!(tongliao.len() > 100, "{}", tongliao.len());
    let mut total = 0;
    let mut misses = Vec::new();
    for (context, mentions) in [("ningguo", &ningguo), ("tongliao", &tongliao)] {
        for resolution in resolve(&mut app, context, mentions).await {
            total += 1;
            if resolution.target.is_none() {
                misses.push(format!(
                    "{context}: {} ({})",
                    resolution.mention, resolution.method
                ));
            }
        }
    }
    println!("resolved {}/{total} fixture mentions", total - misses.len());
    assert!(
        misses.is_empty(),
        "unresolved mentions:\n{}",
        misses.join("\n")
    );
}

#[tokio::test]
async fn mentions_resolve_to_the_expected_units() {
    let mut app = App::with_demo_registry().await;
    let cases = [
        ("ningguo", "市司法局", "units/ng-sfj"),
        ("ningguo", "市政府办公室", "units/ng-zfb"),
        ("ningguo", "市委编办", "units/ng-bb"),
        ("ningguo", "各乡镇、街道", "unitGroups/townships"),
        (
            "ningguo",
            "市政府各部门",
            "unitGroups/government-departments",
        ),
        ("tongliao", "司法局", "units/tl-sfj"),
        ("tongliao", "政府办", "units/tl-zfb"),
        ("tongliao", "市委办", "units/tl-swb"),
        ("tongliao", "旗县市区", "unitGroups/county-governments"),
        (
            "tongliao",
            "各行政执法单位",
            "unitGroups/law-enforcement-units",
        ),
        (
            "tongliao",
            "市直单位",
            "unitGroups/directly-affiliated-units",
        ),
        // Issuer-relative: the same words name another unit under another issuer.
        ("xuchang", "市司法局", "units/xc-sfj"),
        // Extraction noise: a page number inside, full-width spaces, a lost character.
        ("ningguo", "市司-10 -法局", "units/ng-sfj"),
        ("ningguo", "\u{3000}市公安局、", "units/ng-gaj"),
        ("ningguo", "市数据资源", "units/ng-sjzyj"),
    ];
    for (context, mention, expected) in cases {
        let resolution = resolve(&mut app, context, &[mention.to_owned()])
            .await
            .remove(0);
        let target = match resolution.target {
            Some(pb::mention_resolution::Target::Unit(unit)) => unit,
            Some(pb::mention_resolution::Target::UnitGroup(group)) => group,
            None => format!("unresolved {:?}", resolution.candidates),
        };
        assert_eq!(target, expected, "{context}: {mention}");
    }
    // An unknown unit is reported with candidates, not guessed.
    let unknown = resolve(&mut app, "ningguo", &["市气象局".to_owned()])
        .await
        .remove(0);
    assert!(unknown.target.is_none());
    assert!(!unknown.candidates.is_empty());
}
