//! Re-running a round as its next revision, and what the revision changed.

use fazhi_proto::assessment::v1 as pb;
use fazhi_testkit::replay::{field_violations, reason};
use fazhi_testkit::with_token;

use super::{App, annual};

/// A manual criterion scored by 司法局, one with a falsification rule, and one that deducts for
/// items not yet closed.
pub(crate) const MANUAL_SCHEME: &str = "code: ng-manual
title: 宁国市工作创新评分(测试)
year: 2024
owner_unit: ningguo
peer_groups:
  - {code: departments, title: 市直部门, unit_group: government-departments}
criteria:
  - code: '1'
    title: 工作创新与实绩
    points: 10
    scorer: 市司法局
    scorer_unit: ng-sfj
    rules:
      - then: manual
  - code: '2'
    title: 信息报送
    points: 5
    rules:
      - then: falsification
  - code: '3'
    title: 整改落实
    points: 2
    rules:
      - when: {count: {input: rectification/open-items, at_most: 0}}
        then: {per_occurrence: {deduct_each: 0.5, cap: 2}}
";

fn record(score: f64) -> pb::RecordManualScoreRequest {
    pb::RecordManualScoreRequest {
        scheme: "schemes/ng-manual".to_owned(),
        period: "2024".to_owned(),
        unit: "units/ng-gaj".to_owned(),
        criterion: "1".to_owned(),
        score,
        justification: "建立行政执法案卷评查机制".to_owned(),
        request_id: String::new(),
    }
}

fn revise(round: &str) -> pb::RunRoundRequest {
    pb::RunRoundRequest {
        revises: round.to_owned(),
        ..Default::default()
    }
}

#[tokio::test]
async fn a_revision_re_runs_a_published_round_says_what_moved_and_carries_open_items() {
    let mut app = App::start().await;
    let coordinator = app.coordinator.clone();
    app.create_scheme("ng-manual", MANUAL_SCHEME, &coordinator)
        .await
        .unwrap();
    let mut client = app.client.clone();
    client
        .record_manual_score(with_token(record(7.5), &coordinator))
        .await
        .unwrap();
    let first = app
        .run(
            pb::RunRoundRequest {
                scheme: "schemes/ng-manual".to_owned(),
                ..annual("")
            },
            &coordinator,
        )
        .await
        .unwrap();
    assert_eq!((first.revision, first.previous_round.as_str()), (1, ""));
    let refused = client
        .diff_round(with_token(
            pb::DiffRoundRequest {
                name: first.name.clone(),
            },
            &coordinator,
        ))
        .await
        .unwrap_err();
    assert_eq!(
        field_violations(&refused),
        [("name".to_owned(), "NOT_A_REVISION".to_owned())]
    );
    let opened = app.publish(&first.name, &coordinator).await.unwrap();
    // Criterion 1 cost every unit points (ng-gaj 2.5, the unscored all 10).
    assert_eq!(opened, first.unit_count);

    client
        .record_manual_score(with_token(record(9.0), &coordinator))
        .await
        .unwrap();
    let refused = app
        .run(
            pb::RunRoundRequest {
                period: "2024Q1".to_owned(),
                ..revise(&first.name)
            },
            &coordinator,
        )
        .await
        .unwrap_err();
    assert_eq!(
        field_violations(&refused),
        [("period".to_owned(), "REVISION_MISMATCH".to_owned())]
    );
    let stranger = fazhi_testkit::bearer(
        "tl-office",
        Some("tongliao"),
        &[fazhi_platform::auth::Role::Coordinator],
    );
    let refused = app.run(revise(&first.name), &stranger).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::PermissionDenied);
    let second = app
        .run(
            pb::RunRoundRequest {
                period: "2024".to_owned(),
                ..revise(&first.name)
            },
            &coordinator,
        )
        .await
        .unwrap();
    assert_eq!(
        (
            second.revision,
            second.previous_round.as_str(),
            second.period.as_str()
        ),
        (2, first.name.as_str(), "2024")
    );
    // Each unit's open item was frozen with it.
    assert_eq!(
        second.input_count,
        first.input_count + first.unit_count,
        "{second:?}"
    );
    let revised = client
        .get_round(with_token(
            pb::GetRoundRequest {
                name: first.name.clone(),
            },
            &coordinator,
        ))
        .await
        .unwrap()
        .into_inner()
        .round
        .unwrap();
    assert_eq!(revised.revised_by, second.name);
    assert!(revised.publish_time.is_some(), "the published round stays");

    let diff = client
        .diff_round(with_token(
            pb::DiffRoundRequest {
                name: second.name.clone(),
            },
            &coordinator,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(diff.previous_round, first.name);
    assert_eq!(diff.changes.len() as i32, first.unit_count);
    for change in &diff.changes {
        let moved: Vec<(&str, Option<f64>, Option<f64>)> = change
            .criteria
            .iter()
            .map(|criterion| (criterion.code.as_str(), criterion.before, criterion.after))
            .collect();
        let expected: Vec<(&str, Option<f64>, Option<f64>)> = if change.unit == "units/ng-gaj" {
            vec![("1", Some(7.5), Some(9.0)), ("3", Some(2.0), Some(1.5))]
        } else {
            vec![("3", Some(2.0), Some(1.5))]
        };
        assert_eq!(moved, expected, "{change:?}");
    }
    let gaj = diff
        .changes
        .iter()
        .find(|change| change.unit == "units/ng-gaj")
        .unwrap();
    let (before, after) = (gaj.before.unwrap(), gaj.after.unwrap());
    assert_eq!((before.total, after.total), (14.5, 15.5));
    assert_eq!(after.rank, 1);
    let explained = app
        .explain(&second.name, "ng-gaj", &coordinator)
        .await
        .unwrap();
    assert!(
        explained
            .lines
            .iter()
            .any(|line| line.text.contains("rectification/open-items = 1")
                && line.inputs[0].source.contains("rectificationItems/")),
        "{:?}",
        explained.lines
    );

    let refused = app
        .run(revise(&first.name), &coordinator)
        .await
        .unwrap_err();
    assert_eq!(reason(&refused), "ROUND_REVISED");

    // Publishing the revision opens only what is new: criterion 1 is still open for every
    // unit, criterion 3 now cost each of them half a point.
    let opened = app.publish(&second.name, &coordinator).await.unwrap();
    assert_eq!(opened, first.unit_count);
}

#[tokio::test]
async fn a_value_approved_after_a_run_marks_the_latest_round_stale_and_a_revision_picks_it_up() {
    let mut app = App::start().await;
    app.indicators().await;
    let (plan, _) = app.plan().await;
    let coordinator = app.coordinator.clone();
    app.create_scheme("ng-2024", &super::scheme(&plan), &coordinator)
        .await
        .unwrap();
    let round = app.run(annual(""), &coordinator).await.unwrap();
    let scores = app.scores(&round.name, &coordinator).await.unwrap();
    // A department no value was reported for: 4 study sessions will now be approved.
    let quiet = scores
        .iter()
        .find(|score| {
            score.peer_group == "departments"
                && !["units/ng-sfj", "units/ng-gaj"].contains(&score.unit.as_str())
        })
        .unwrap()
        .unit
        .trim_start_matches("units/")
        .to_owned();

    // The follower as the background task runs it, on the service's own token and database.
    let address = format!("http://{}", app.server.address);
    let book = fazhi_assessment::AssessmentBook::new(
        fazhi_assessment::Store::new(app.databases[3].pool.clone()),
        fazhi_assessment::gather::Sources::new(
            fazhi_units_client::UnitsClient::new(&address).unwrap(),
            fazhi_plans_client::PlansClient::new(&address).unwrap(),
            &address,
        )
        .unwrap(),
    );
    let token = fazhi_testkit::bearer(
        "fazhi-assessment",
        None,
        &[fazhi_platform::auth::Role::Admin],
    );
    let follower = tokio::spawn(fazhi_assessment::background::follow_input_changes(
        book,
        secrecy::SecretString::from(token.trim_start_matches("Bearer ").to_owned()),
    ));
    app.approve("sessions", &quiet, 4.0).await;
    let stale = {
        let mut found = None;
        for _ in 0..100 {
            let read = app
                .client
                .get_round(with_token(
                    pb::GetRoundRequest {
                        name: round.name.clone(),
                    },
                    &coordinator,
                ))
                .await
                .unwrap()
                .into_inner()
                .round
                .unwrap();
            if !read.stale_reason.is_empty() {
                found = Some(read);
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        found.expect("the round is marked stale")
    };
    follower.abort();
    assert!(
        stale.stale_reason.contains("dataElements/sessions")
            && stale.stale_reason.contains(&quiet)
            && stale.stale_reason.contains("已审核通过"),
        "{}",
        stale.stale_reason
    );
    assert!(stale.stale_time.is_some());

    let revision = app.run(revise(&round.name), &coordinator).await.unwrap();
    assert_eq!(revision.stale_reason, "", "a revision starts fresh");
    let diff = app
        .client
        .diff_round(with_token(
            pb::DiffRoundRequest {
                name: revision.name.clone(),
            },
            &coordinator,
        ))
        .await
        .unwrap()
        .into_inner();
    let moved = diff
        .changes
        .iter()
        .find(|change| change.unit == format!("units/{quiet}"))
        .unwrap();
    // 中心组学法 (criterion 2): 4 sessions now, no deduction instead of the capped 3.
    assert_eq!(
        moved
            .criteria
            .iter()
            .find(|criterion| criterion.code == "2")
            .map(|criterion| (criterion.before, criterion.after)),
        Some((Some(3.0), Some(6.0)))
    );
}
