//! The demo assessment under `fazhi dev`: 宁国市's scheme (`demo/assessment-scheme.yaml`) and
//! 通辽市's for its two peer groups, 旗县市区 and 市直单位
//! (`demo/assessment-scheme-tongliao.yaml`), each with an annual round for 2024 over the demo
//! values and the city's demo plan, the top of each ranking printed.

use fazhi_proto::assessment::v1 as pb;
use fazhi_proto::assessment::v1::assessment_service_client::AssessmentServiceClient;
use tonic::transport::Channel;

use crate::authorized;

/// A demo scheme: its id, its YAML with `{plan}` for the city's demo plan, and the reviewers'
/// scores of its manual criterion (unit, score, justification).
struct DemoScheme {
    id: &'static str,
    content: &'static str,
    manual: &'static [(&'static str, &'static str, f64, &'static str)],
}

const NINGGUO: DemoScheme = DemoScheme {
    id: "ng-2024",
    content: include_str!("../demo/assessment-scheme.yaml"),
    manual: &[],
};

const TONGLIAO: DemoScheme = DemoScheme {
    id: "tl-2024",
    content: include_str!("../demo/assessment-scheme-tongliao.yaml"),
    manual: &[
        (
            "tl-keqq",
            "5",
            13.0,
            "推行行政复议与调解衔接机制,化解争议成效明显",
        ),
        ("tl-kl", "5", 11.5, "建成县乡村三级公共法律服务平台"),
        ("tl-nmq", "5", 9.0, "开展行政执法“三项制度”专项评查"),
        ("tl-hlglo", "5", 12.0, "涉企行政检查“扫码入企”全覆盖"),
        ("tl-sfj", "5", 14.0, "牵头完成全市行政规范性文件清理"),
        ("tl-scjgj", "5", 10.0, "推行包容审慎监管,首违不罚清单落地"),
        ("tl-gaj", "5", 8.0, "执法记录仪全程记录率提升"),
    ],
};

/// How many of each peer group's ranking the banner shows.
const TOP: usize = 3;

/// A demo scheme's YAML for the plan named `plan`.
fn demo_scheme(scheme: &DemoScheme, plan: &str) -> String {
    scheme
        .content
        .replace("{ningguo_plan}", plan)
        .replace("{tongliao_plan}", plan)
}

/// Creates both demo schemes and runs their rounds through the server; request ids make a
/// restart on the same database replay everything.
pub async fn load_demo(
    channel: Channel,
    admin: &str,
    (ningguo_plan, tongliao_plan): (&str, &str),
) -> anyhow::Result<()> {
    let mut client = AssessmentServiceClient::new(channel);
    for (scheme, plan) in [(&NINGGUO, ningguo_plan), (&TONGLIAO, tongliao_plan)] {
        load_scheme(&mut client, admin, scheme, plan).await?;
    }
    Ok(())
}

async fn load_scheme(
    client: &mut AssessmentServiceClient<Channel>,
    admin: &str,
    demo: &DemoScheme,
    plan: &str,
) -> anyhow::Result<()> {
    let request_id = |step: &str| format!("fazhi-dev-demo-{}-{step}", demo.id);
    let scheme = client
        .create_scheme(authorized(
            pb::CreateSchemeRequest {
                scheme_id: demo.id.to_owned(),
                content: demo_scheme(demo, plan),
                request_id: request_id("scheme"),
            },
            admin,
        )?)
        .await?
        .into_inner()
        .scheme
        .unwrap_or_default();
    for (unit, criterion, score, justification) in demo.manual {
        client
            .record_manual_score(authorized(
                pb::RecordManualScoreRequest {
                    scheme: scheme.name.clone(),
                    period: "2024".to_owned(),
                    unit: format!("units/{unit}"),
                    criterion: (*criterion).to_owned(),
                    score: *score,
                    justification: (*justification).to_owned(),
                    request_id: request_id(&format!("manual-{unit}")),
                },
                admin,
            )?)
            .await?;
    }
    let round = client
        .run_round(authorized(
            pb::RunRoundRequest {
                scheme: scheme.name.clone(),
                kind: pb::RoundKind::Annual as i32,
                period: "2024".to_owned(),
                request_id: request_id("round"),
                revises: String::new(),
            },
            admin,
        )?)
        .await?
        .into_inner()
        .round
        .unwrap_or_default();
    println!(
        "  assessment {}: {} criteria; annual round {} scored {} units from {} inputs",
        scheme.name,
        scheme.criteria.len(),
        round.name,
        round.unit_count,
        round.input_count
    );
    for group in &scheme.peer_groups {
        let scores = client
            .list_scores(authorized(
                pb::ListScoresRequest {
                    round: round.name.clone(),
                    peer_group: group.code.clone(),
                    page_size: i32::try_from(TOP).unwrap_or(1),
                    ..Default::default()
                },
                admin,
            )?)
            .await?
            .into_inner()
            .scores;
        let top: Vec<String> = scores
            .iter()
            .map(|score| {
                format!(
                    "{}. {} {:.1}",
                    score.rank, score.unit_display_name, score.total
                )
            })
            .collect();
        println!("    {}: {}", group.title, top.join(", "));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_demo_schemes_are_valid_with_every_kind_the_issue_asks_for() {
        for demo in [&super::NINGGUO, &super::TONGLIAO] {
            let scheme =
                fazhi_assessment::domain::Scheme::from_yaml(&super::demo_scheme(demo, "plans/p"))
                    .unwrap_or_else(|violations| panic!("{}: {violations:?}", demo.id));
            let text = scheme.to_yaml();
            for kind in [
                "per_occurrence",
                "shortfall",
                "bonus",
                "veto",
                "manual",
                "tasks_on_time",
            ] {
                assert!(text.contains(kind), "{}: {kind}", demo.id);
            }
            assert!(
                !text.contains("_plan}"),
                "{}: the plan is filled in",
                demo.id
            );
            assert_eq!(scheme.peer_groups.len(), 2);
        }
    }
}
