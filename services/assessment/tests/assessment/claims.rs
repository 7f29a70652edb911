//! Appeals (申诉), self-assessments (自查自评) and findings of falsification.

use fazhi_platform::auth::Role;
use fazhi_proto::assessment::v1 as pb;
use fazhi_testkit::replay::{assert_replays, field_violations, reason};
use fazhi_testkit::{bearer, with_token};
use tonic::Code;

use super::revisions::MANUAL_SCHEME;
use super::{App, annual};

fn manual_round() -> pb::RunRoundRequest {
    pb::RunRoundRequest {
        scheme: "schemes/ng-manual".to_owned(),
        ..annual("")
    }
}

fn criterion_score(score: &pb::UnitScore, code: &str) -> f64 {
    score
        .criteria
        .iter()
        .find(|criterion| criterion.code == code)
        .map(|criterion| criterion.score)
        .unwrap()
}

#[tokio::test]
async fn an_appeal_is_filed_in_its_window_decided_once_and_counts_only_in_the_next_revision() {
    let mut app = App::start().await;
    let coordinator = app.coordinator.clone();
    app.create_scheme("ng-manual", MANUAL_SCHEME, &coordinator)
        .await
        .unwrap();
    let mut client = app.client.clone();
    client
        .record_manual_score(with_token(
            pb::RecordManualScoreRequest {
                scheme: "schemes/ng-manual".to_owned(),
                period: "2024".to_owned(),
                unit: "units/ng-gaj".to_owned(),
                criterion: "1".to_owned(),
                score: 7.5,
                justification: "创新举措一般".to_owned(),
                request_id: String::new(),
            },
            &coordinator,
        ))
        .await
        .unwrap();
    let round = app.run(manual_round(), &coordinator).await.unwrap();
    let staff = bearer("ng-gaj-clerk", Some("ng-gaj"), &[Role::UnitStaff]);
    let appeal = |criterion: &str, reasons: &str, evidence: &[&str]| pb::FileAppealRequest {
        round: round.name.clone(),
        unit: "units/ng-gaj".to_owned(),
        criterion: criterion.to_owned(),
        reasons: reasons.to_owned(),
        evidence_uris: evidence.iter().map(|uri| (*uri).to_owned()).collect(),
        request_id: String::new(),
    };
    let proof = "https://gaj.ningguo.gov.cn/案卷评查.pdf";
    let refused = client
        .file_appeal(with_token(appeal("1", "评分偏低", &[proof]), &staff))
        .await
        .unwrap_err();
    assert_eq!(reason(&refused), "ROUND_NOT_PUBLISHED");
    // A unit finds its rounds once they are published, and only its own score in them.
    let rounds_for = |token: &str| {
        with_token(
            pb::ListRoundsRequest {
                scheme: "schemes/ng-manual".to_owned(),
                ..Default::default()
            },
            token,
        )
    };
    let unpublished = client.list_rounds(rounds_for(&staff)).await.unwrap();
    assert!(unpublished.into_inner().rounds.is_empty());
    app.publish(&round.name, &coordinator).await.unwrap();
    let seen = client.list_rounds(rounds_for(&staff)).await.unwrap();
    let names: Vec<String> = seen
        .into_inner()
        .rounds
        .into_iter()
        .map(|r| r.name)
        .collect();
    assert_eq!(names, std::slice::from_ref(&round.name));
    let scores = client
        .list_scores(with_token(
            pb::ListScoresRequest {
                round: round.name.clone(),
                ..Default::default()
            },
            &staff,
        ))
        .await
        .unwrap()
        .into_inner()
        .scores;
    let units: Vec<&str> = scores.iter().map(|score| score.unit.as_str()).collect();
    assert_eq!(units, ["units/ng-gaj"]);

    for (request, expected) in [
        (appeal("9", "无此项", &[]), ("criterion", "NOT_FOUND")),
        (appeal("1", " ", &[]), ("reasons", "REQUIRED")),
        (
            appeal("1", "评分偏低", &["ftp://x"]),
            ("evidence_uris[0]", "INVALID_URI"),
        ),
    ] {
        let refused = client
            .file_appeal(with_token(request, &staff))
            .await
            .unwrap_err();
        assert_eq!(
            field_violations(&refused),
            [(expected.0.to_owned(), expected.1.to_owned())]
        );
    }
    let other_staff = bearer("ng-sfj-clerk", Some("ng-sfj"), &[Role::UnitStaff]);
    let refused = client
        .file_appeal(with_token(appeal("1", "替人申诉", &[]), &other_staff))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);

    let filed = assert_replays(
        "FileAppeal",
        |request| {
            let (mut client, token) = (client.clone(), staff.clone());
            async move { client.file_appeal(with_token(request, &token)).await }
        },
        (
            pb::FileAppealRequest {
                request_id: "r-appeal".to_owned(),
                ..appeal("1", "已建立案卷评查机制,评分未体现", &[proof])
            },
            pb::FileAppealRequest {
                request_id: "r-appeal".to_owned(),
                ..appeal("2", "另一项", &[])
            },
        ),
        async || {},
    )
    .await
    .appeal
    .unwrap();
    assert_eq!(
        (filed.state(), filed.score, filed.max_points),
        (pb::ClaimState::Pending, 7.5, 10.0)
    );
    let again = client
        .file_appeal(with_token(appeal("1", "再次申诉", &[]), &staff))
        .await
        .unwrap_err();
    assert_eq!(again.code(), Code::AlreadyExists);

    let decide = |decision: pb::Decision, score: f64, etag: &str, request_id: &str| {
        pb::DecideAppealRequest {
            name: filed.name.clone(),
            etag: etag.to_owned(),
            decision: decision as i32,
            score,
            justification: "经核实,案卷评查机制已于2024年建立".to_owned(),
            request_id: request_id.to_owned(),
        }
    };
    let refused = client
        .decide_appeal(with_token(
            decide(pb::Decision::Adjust, 9.5, &filed.etag, ""),
            &staff,
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    let refused = client
        .decide_appeal(with_token(
            decide(pb::Decision::Adjust, 11.0, &filed.etag, ""),
            &coordinator,
        ))
        .await
        .unwrap_err();
    assert_eq!(
        field_violations(&refused),
        [("score".to_owned(), "OUT_OF_RANGE".to_owned())]
    );
    let refused = client
        .decide_appeal(with_token(
            decide(pb::Decision::Adjust, 9.5, "\"7\"", ""),
            &coordinator,
        ))
        .await
        .unwrap_err();
    assert_eq!(reason(&refused), "ETAG_MISMATCH");
    let decided = assert_replays(
        "DecideAppeal",
        |request| {
            let (mut client, token) = (client.clone(), coordinator.clone());
            async move { client.decide_appeal(with_token(request, &token)).await }
        },
        (
            decide(pb::Decision::Adjust, 9.5, &filed.etag, "r-decide"),
            decide(pb::Decision::Uphold, 0.0, &filed.etag, "r-decide"),
        ),
        async || {},
    )
    .await
    .appeal
    .unwrap();
    assert_eq!(
        (
            decided.state(),
            decided.decided_score,
            decided.decided_by.as_str()
        ),
        (pb::ClaimState::Adjusted, Some(9.5), "ng-office")
    );
    let refused = client
        .decide_appeal(with_token(
            decide(pb::Decision::Uphold, 0.0, &decided.etag, ""),
            &coordinator,
        ))
        .await
        .unwrap_err();
    assert_eq!(reason(&refused), "CLAIM_DECIDED");

    let listed = |unit: &str| pb::ListAppealsRequest {
        round: round.name.clone(),
        unit: unit.to_owned(),
        ..Default::default()
    };
    let own = client
        .list_appeals(with_token(listed("units/ng-gaj"), &staff))
        .await
        .unwrap()
        .into_inner()
        .appeals;
    assert_eq!(own, std::slice::from_ref(&decided));
    let refused = client
        .list_appeals(with_token(listed(""), &staff))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    let refused = client
        .get_appeal(with_token(
            pb::GetAppealRequest {
                name: decided.name.clone(),
            },
            &other_staff,
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);

    // The published round keeps its score; the next revision has the decided one.
    let published = app.explain(&round.name, "ng-gaj", &staff).await.unwrap();
    assert_eq!(criterion_score(&published.score.unwrap(), "1"), 7.5);
    let revision = app
        .run(
            pb::RunRoundRequest {
                revises: round.name.clone(),
                ..Default::default()
            },
            &coordinator,
        )
        .await
        .unwrap();
    let explained = app.explain(&revision.name, "ng-gaj", &staff).await.unwrap();
    assert_eq!(criterion_score(explained.score.as_ref().unwrap(), "1"), 9.5);
    let line = explained
        .lines
        .iter()
        .find(|line| line.text.contains("经申诉复核"))
        .unwrap();
    assert_eq!(
        (line.points, line.inputs[0].source.contains(&decided.name)),
        (2.0, true)
    );

    // Past the window (7 days by default) an appeal is refused.
    app.publish_earlier(&round.name, 8).await;
    let refused = client
        .file_appeal(with_token(appeal("2", "逾期申诉", &[]), &staff))
        .await
        .unwrap_err();
    assert_eq!(reason(&refused), "APPEAL_WINDOW_CLOSED");
}

#[tokio::test]
async fn a_reviewed_self_assessment_scores_a_manual_criterion_and_opens_an_item_for_its_problems() {
    let mut app = App::start().await;
    let coordinator = app.coordinator.clone();
    app.create_scheme("ng-manual", MANUAL_SCHEME, &coordinator)
        .await
        .unwrap();
    let mut client = app.client.clone();
    let staff = bearer("ng-gaj-clerk", Some("ng-gaj"), &[Role::UnitStaff]);
    let submit = |criterion: &str, score: f64, period: &str| pb::SubmitSelfAssessmentRequest {
        scheme: "schemes/ng-manual".to_owned(),
        period: period.to_owned(),
        unit: "units/ng-gaj".to_owned(),
        criterion: criterion.to_owned(),
        self_score: score,
        reasons: "全年开展案卷评查两次".to_owned(),
        evidence_uris: vec!["https://gaj.ningguo.gov.cn/自查报告.pdf".to_owned()],
        problems_found: "案卷评查覆盖面不足".to_owned(),
        request_id: String::new(),
    };
    for (request, expected) in [
        (submit("1", 11.0, "2024"), ("score", "OUT_OF_RANGE")),
        (submit("1", 8.0, "2023"), ("period", "PERIOD_OUTSIDE_YEAR")),
        (submit("7", 1.0, "2024"), ("criterion", "NOT_FOUND")),
    ] {
        let refused = client
            .submit_self_assessment(with_token(request, &staff))
            .await
            .unwrap_err();
        assert_eq!(
            field_violations(&refused),
            [(expected.0.to_owned(), expected.1.to_owned())]
        );
    }
    let first = assert_replays(
        "SubmitSelfAssessment",
        |request| {
            let (mut client, token) = (client.clone(), staff.clone());
            async move {
                client
                    .submit_self_assessment(with_token(request, &token))
                    .await
            }
        },
        (
            pb::SubmitSelfAssessmentRequest {
                request_id: "r-self".to_owned(),
                ..submit("1", 9.0, "2024")
            },
            pb::SubmitSelfAssessmentRequest {
                request_id: "r-self".to_owned(),
                ..submit("1", 2.0, "2024")
            },
        ),
        async || {},
    )
    .await
    .self_assessment
    .unwrap();
    let resubmitted = client
        .submit_self_assessment(with_token(submit("1", 8.5, "2024"), &staff))
        .await
        .unwrap()
        .into_inner()
        .self_assessment
        .unwrap();
    assert_eq!(resubmitted.name, first.name, "resubmitting replaces it");
    assert_eq!(
        (resubmitted.self_score, resubmitted.state()),
        (8.5, pb::ClaimState::Pending)
    );
    assert_ne!(resubmitted.etag, first.etag);

    let review = |decision: pb::Decision, score: f64| pb::ReviewSelfAssessmentRequest {
        name: resubmitted.name.clone(),
        etag: resubmitted.etag.clone(),
        decision: decision as i32,
        score,
        justification: "佐证材料显示仅覆盖部分科室,核减0.5分".to_owned(),
        request_id: String::new(),
    };
    let refused = client
        .review_self_assessment(with_token(review(pb::Decision::Adjust, 8.0), &staff))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    let refused = client
        .review_self_assessment(with_token(
            pb::ReviewSelfAssessmentRequest {
                decision: 0,
                ..review(pb::Decision::Adjust, 8.0)
            },
            &coordinator,
        ))
        .await
        .unwrap_err();
    assert_eq!(
        field_violations(&refused),
        [("decision".to_owned(), "REQUIRED".to_owned())]
    );
    // 司法局 scores criterion 1 (its 评分责任单位): its staff review it.
    let scorer = bearer("ng-sfj-clerk", Some("ng-sfj"), &[Role::UnitStaff]);
    let refused = client
        .review_self_assessment(with_token(
            pb::ReviewSelfAssessmentRequest {
                etag: first.etag.clone(),
                ..review(pb::Decision::Adjust, 8.0)
            },
            &scorer,
        ))
        .await
        .unwrap_err();
    assert_eq!(reason(&refused), "ETAG_MISMATCH");
    let reviewed = assert_replays(
        "ReviewSelfAssessment",
        |request| {
            let (mut client, token) = (client.clone(), scorer.clone());
            async move {
                client
                    .review_self_assessment(with_token(request, &token))
                    .await
            }
        },
        (
            pb::ReviewSelfAssessmentRequest {
                request_id: "r-review".to_owned(),
                ..review(pb::Decision::Adjust, 8.0)
            },
            pb::ReviewSelfAssessmentRequest {
                request_id: "r-review".to_owned(),
                ..review(pb::Decision::Uphold, 0.0)
            },
        ),
        async || {},
    )
    .await
    .self_assessment
    .unwrap();
    assert_eq!(
        (
            reviewed.state(),
            reviewed.decided_score,
            reviewed.decided_by.as_str()
        ),
        (pb::ClaimState::Adjusted, Some(8.0), "ng-sfj-clerk")
    );
    let item = client
        .get_rectification_item(with_token(
            pb::GetRectificationItemRequest {
                name: reviewed.rectification_item.clone(),
            },
            &staff,
        ))
        .await
        .unwrap()
        .into_inner()
        .item
        .unwrap();
    assert_eq!(
        (
            item.source(),
            item.problem.as_str(),
            item.criterion.as_str()
        ),
        (
            pb::RectificationSource::SelfInspection,
            "案卷评查覆盖面不足",
            "1"
        )
    );
    let refused = client
        .submit_self_assessment(with_token(submit("1", 9.0, "2024"), &staff))
        .await
        .unwrap_err();
    assert_eq!(reason(&refused), "CLAIM_DECIDED");
    let listed = client
        .list_self_assessments(with_token(
            pb::ListSelfAssessmentsRequest {
                scheme: "schemes/ng-manual".to_owned(),
                unit: "units/ng-gaj".to_owned(),
                ..Default::default()
            },
            &staff,
        ))
        .await
        .unwrap()
        .into_inner()
        .self_assessments;
    assert_eq!(listed, std::slice::from_ref(&reviewed));
    let get = |name: &str| pb::GetSelfAssessmentRequest {
        name: name.to_owned(),
    };
    let own = client
        .get_self_assessment(with_token(get(&reviewed.name), &staff))
        .await
        .unwrap()
        .into_inner()
        .self_assessment
        .unwrap();
    assert_eq!(own, reviewed);
    let stranger = bearer("ng-rsj-clerk", Some("ng-rsj"), &[Role::UnitStaff]);
    let refused = client
        .get_self_assessment(with_token(get(&reviewed.name), &stranger))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    let missing = client
        .get_self_assessment(with_token(get("selfAssessments/e-missing"), &coordinator))
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
    let wrong = client
        .get_self_assessment(with_token(get("appeals/a-1"), &coordinator))
        .await
        .unwrap_err();
    assert_eq!(
        field_violations(&wrong),
        [("name".to_owned(), "INVALID_NAME".to_owned())]
    );

    // 报送不实: only on a criterion with a falsification rule.
    let falsify = |criterion: &str| pb::RecordFalsificationRequest {
        scheme: "schemes/ng-manual".to_owned(),
        period: "2024".to_owned(),
        unit: "units/ng-gaj".to_owned(),
        criterion: criterion.to_owned(),
        justification: "抽查发现报送的培训记录系事后补录".to_owned(),
        request_id: String::new(),
    };
    let refused = client
        .record_falsification(with_token(falsify("1"), &coordinator))
        .await
        .unwrap_err();
    assert_eq!(
        field_violations(&refused),
        [("criterion".to_owned(), "NOT_FALSIFIABLE".to_owned())]
    );
    for token in [&staff, &scorer] {
        let refused = client
            .record_falsification(with_token(falsify("2"), token))
            .await
            .unwrap_err();
        assert_eq!(refused.code(), Code::PermissionDenied);
    }
    assert_replays(
        "RecordFalsification",
        |request| {
            let (mut client, token) = (client.clone(), coordinator.clone());
            async move {
                client
                    .record_falsification(with_token(request, &token))
                    .await
            }
        },
        (
            pb::RecordFalsificationRequest {
                request_id: "r-false".to_owned(),
                ..falsify("2")
            },
            pb::RecordFalsificationRequest {
                request_id: "r-false".to_owned(),
                ..falsify("1")
            },
        ),
        async || {},
    )
    .await;

    let round = app.run(manual_round(), &coordinator).await.unwrap();
    let explained = app.explain(&round.name, "ng-gaj", &staff).await.unwrap();
    let score = explained.score.clone().unwrap();
    // The reviewed self-score stands in for the reviewer's; 报送不实 zeroes criterion 2; one
    // item is open, criterion 3 loses half a point.
    assert_eq!(
        (
            criterion_score(&score, "1"),
            criterion_score(&score, "2"),
            criterion_score(&score, "3")
        ),
        (8.0, 0.0, 1.5)
    );
    assert!(
        explained.lines.iter().any(|line| line
            .inputs
            .iter()
            .any(|input| input.source.contains(&reviewed.name))),
        "{:?}",
        explained.lines
    );
}
