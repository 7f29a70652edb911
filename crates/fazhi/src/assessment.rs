//! The demo assessment under `fazhi dev`: 宁国市's scheme (`demo/assessment-scheme.yaml`) and an
//! annual round for 2024 over the demo values and the demo plan, the top of each ranking printed.

use fazhi_proto::assessment::v1 as pb;
use fazhi_proto::assessment::v1::assessment_service_client::AssessmentServiceClient;
use tonic::transport::Channel;

use crate::authorized;

/// The demo scheme; `{ningguo_plan}` stands for the demo plan's name.
const DEMO_SCHEME: &str = include_str!("../demo/assessment-scheme.yaml");

/// How many of each peer group's ranking the banner shows.
const TOP: usize = 3;

/// The demo scheme for the plan named `ningguo_plan`.
fn demo_scheme(ningguo_plan: &str) -> String {
    DEMO_SCHEME.replace("{ningguo_plan}", ningguo_plan)
}

/// Creates the scheme and runs the round through the server; request ids make a restart on the
/// same database replay both.
pub async fn load_demo(channel: Channel, admin: &str, ningguo_plan: &str) -> anyhow::Result<()> {
    let mut client = AssessmentServiceClient::new(channel);
    let scheme = client
        .create_scheme(authorized(
            pb::CreateSchemeRequest {
                scheme_id: "ng-2024".to_owned(),
                content: demo_scheme(ningguo_plan),
                request_id: "fazhi-dev-demo-scheme".to_owned(),
            },
            admin,
        )?)
        .await?
        .into_inner()
        .scheme
        .unwrap_or_default();
    let round = client
        .run_round(authorized(
            pb::RunRoundRequest {
                scheme: scheme.name.clone(),
                kind: pb::RoundKind::Annual as i32,
                period: "2024".to_owned(),
                request_id: "fazhi-dev-demo-round".to_owned(),
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
    fn the_demo_scheme_is_a_valid_scheme_with_every_kind_the_issue_asks_for() {
        let scheme = fazhi_assessment::domain::Scheme::from_yaml(&super::demo_scheme("plans/p"))
            .unwrap_or_else(|violations| panic!("{violations:?}"));
        let text = scheme.to_yaml();
        for kind in [
            "per_occurrence",
            "shortfall",
            "bonus",
            "veto",
            "manual",
            "tasks_on_time",
        ] {
            assert!(text.contains(kind), "{kind}");
        }
        assert_eq!(scheme.peer_groups.len(), 2);
    }
}
