//! Proposed targets from plans: the real plans imported into the real plans service, their
//! targets proposed against the demo catalogue, accepted (creating or reusing targets) and
//! rejected, with every refusal a caller can meet.

use fazhi_platform::auth::Role;
use fazhi_proto::indicators::v1 as pb;
use fazhi_proto::plans::v1 as plans;
use fazhi_testkit::replay::{assert_replays, field_violations, reason};
use fazhi_testkit::{bearer, with_token};
use tonic::Code;

use crate::App;

const DEMO: &str = include_str!("../../catalogue/demo.yaml");

impl App {
    /// Imports a real plan into the plans service as the admin; answers its name.
    async fn plan(&mut self, fixture: &str, issuer: &str) -> String {
        let mut client =
            plans::plans_service_client::PlansServiceClient::new(self._server.channel.clone());
        client
            .import_plan(with_token(
                plans::ImportPlanRequest {
                    issuer: format!("units/{issuer}"),
                    content: fazhi_testkit::demo::plan_text(fixture).into_bytes(),
                    ..Default::default()
                },
                &self.admin,
            ))
            .await
            .unwrap()
            .into_inner()
            .plan
            .unwrap()
            .name
    }

    async fn demo_catalogue(&mut self) {
        self.client
            .import_catalogue(with_token(
                pb::ImportCatalogueRequest {
                    content: DEMO.as_bytes().to_vec(),
                    ..Default::default()
                },
                &self.admin,
            ))
            .await
            .unwrap();
    }

    async fn propose(
        &mut self,
        plan: &str,
        token: &str,
    ) -> Result<pb::ProposeTargetsResponse, tonic::Status> {
        Ok(self
            .client
            .propose_targets(with_token(
                pb::ProposeTargetsRequest {
                    plan: plan.to_owned(),
                    request_id: String::new(),
                },
                token,
            ))
            .await?
            .into_inner())
    }
}

fn by_text<'a>(found: &'a [pb::ProposedTarget], text: &str) -> &'a pb::ProposedTarget {
    found
        .iter()
        .find(|proposal| proposal.text.contains(text))
        .unwrap_or_else(|| panic!("no proposal {text}"))
}

#[tokio::test]
async fn the_real_plans_targets_become_typed_targets_without_editing() {
    let mut app = App::start_with_plans().await;
    app.demo_catalogue().await;
    let mut report = Vec::new();
    for (fixture, issuer) in [
        ("ningguo-2024.txt", "ningguo"),
        ("tongliao-2020.txt", "tongliao"),
        ("xuchang-2022-2025.txt", "xuchang"),
    ] {
        let plan = app.plan(fixture, issuer).await;
        let admin = app.admin.clone();
        let proposed = app.propose(&plan, &admin).await.unwrap();
        report.push((
            fixture,
            proposed.proposed_targets.len(),
            proposed.suggested_count,
        ));
        for proposal in &proposed.proposed_targets {
            assert_eq!(
                proposal.suggested_targets.is_empty(),
                !proposal.unmatched_reason.is_empty(),
                "{proposal:?}"
            );
        }
    }
    println!("proposed targets (total, typed without editing): {report:?}");
    // What the demo catalogue covers: 宁国's 学时 quotas, its 出庭应诉率 100 % and its rise;
    // 通辽's 中心组学法 ≥ 4 次, 出庭应诉率 ≥ 50 % and the 100 % on the public-interest subset.
    assert_eq!(report[0].0, "ningguo-2024.txt");
    assert!(report[0].2 >= 3, "{report:?}");
    assert!(report[1].2 >= 3, "{report:?}");
}

#[tokio::test]
async fn a_coordinator_accepts_and_rejects_what_a_plan_proposes() {
    let mut app = App::start_with_plans().await;
    app.demo_catalogue().await;
    let plan = app.plan("ningguo-2024.txt", "ningguo").await;
    let coordinator = app.coordinator.clone();
    let proposed = app
        .propose(&plan, &coordinator)
        .await
        .unwrap()
        .proposed_targets;

    // A series of quotas is one proposal, a quota target on the training indicator.
    let quotas = by_text(&proposed, "领导干部不少于40学时");
    assert_eq!(quotas.quotas.len(), 3);
    let suggested = &quotas.suggested_targets[0];
    assert_eq!(suggested.indicator, "indicators/hours-per-person");
    let Some(pb::target::Kind::Quota(quota)) = &suggested.kind else {
        panic!("{suggested:?}")
    };
    assert_eq!(quota.thresholds.get("行政执法人员"), Some(&60.0));
    // A list of rates is one proposal each; 规范性文件 is not 重大行政决策, so none matches.
    let filings = proposed
        .iter()
        .filter(|proposal| proposal.metric.starts_with("行政规范性文件"))
        .collect::<Vec<_>>();
    assert_eq!(filings.len(), 4);
    assert!(
        filings
            .iter()
            .all(|proposal| proposal.suggested_targets.is_empty())
    );
    let appearance = by_text(&proposed, "出庭应诉率100%");
    assert_eq!(
        appearance.suggested_targets[0].kind,
        Some(pb::target::Kind::Absolute(pb::AbsoluteTarget {
            comparator: pb::Comparator::GreaterOrEqual as i32,
            value: 100.0
        }))
    );

    // Accepting makes the target; a retry answers the same, even once it is decided.
    let accept = |name: &str, etag: &str, request_id: &str| pb::AcceptProposedTargetRequest {
        name: name.to_owned(),
        etag: etag.to_owned(),
        targets: Vec::new(),
        request_id: request_id.to_owned(),
    };
    let client = app.client.clone();
    let accepted = assert_replays(
        "AcceptProposedTarget",
        |request| {
            let mut client = client.clone();
            let coordinator = coordinator.clone();
            async move {
                client
                    .accept_proposed_target(with_token(request, &coordinator))
                    .await
            }
        },
        (
            accept(&appearance.name, &appearance.etag, "accept-1"),
            accept(&quotas.name, "", "accept-1"),
        ),
        async || {},
    )
    .await
    .proposed_target
    .unwrap();
    assert_eq!(accepted.state, pb::ProposalState::Accepted as i32);
    let target = app
        .client
        .get_target(with_token(
            pb::GetTargetRequest {
                name: accepted.targets[0].clone(),
            },
            &coordinator,
        ))
        .await
        .unwrap()
        .into_inner()
        .target
        .unwrap();
    assert_eq!(target.owner_unit, "units/ningguo");
    assert_eq!(target.indicator, "indicators/appearance-rate");
    let again = app
        .client
        .accept_proposed_target(with_token(accept(&appearance.name, "", ""), &coordinator))
        .await
        .unwrap_err();
    assert_eq!(reason(&again), "PROPOSAL_DECIDED");

    // The quotas are the demo's own target: reused, not made twice.
    let reused = app
        .client
        .accept_proposed_target(with_token(accept(&quotas.name, "", ""), &coordinator))
        .await
        .unwrap()
        .into_inner()
        .proposed_target
        .unwrap();
    assert_eq!(reused.targets, ["targets/ng-training-hours"]);

    // An unmatched one cannot be accepted as suggested; a stale etag is ABORTED; a rejection
    // needs a reason.
    let filing = filings[0];
    let unmatched = app
        .client
        .accept_proposed_target(with_token(accept(&filing.name, "", ""), &coordinator))
        .await
        .unwrap_err();
    assert_eq!(
        (unmatched.code(), reason(&unmatched).as_str()),
        (Code::FailedPrecondition, "PROPOSAL_UNMATCHED")
    );
    let reject = |etag: &str, why: &str| pb::RejectProposedTargetRequest {
        name: filing.name.clone(),
        etag: etag.to_owned(),
        reason: why.to_owned(),
        request_id: String::new(),
    };
    let no_reason = app
        .client
        .reject_proposed_target(with_token(reject("", " "), &coordinator))
        .await
        .unwrap_err();
    assert_eq!(
        field_violations(&no_reason),
        [("reason".to_owned(), "REQUIRED".to_owned())]
    );
    let stale = app
        .client
        .reject_proposed_target(with_token(reject("\"9\"", "另行考核"), &coordinator))
        .await
        .unwrap_err();
    assert_eq!(stale.code(), Code::Aborted);
    let rejected = app
        .client
        .reject_proposed_target(with_token(reject(&filing.etag, "由省级考核"), &coordinator))
        .await
        .unwrap()
        .into_inner()
        .proposed_target
        .unwrap();
    assert_eq!(
        (rejected.state, rejected.reject_reason.as_str()),
        (pb::ProposalState::Rejected as i32, "由省级考核")
    );

    // A second reading keeps the decisions and the ids.
    let again = app
        .propose(&plan, &coordinator)
        .await
        .unwrap()
        .proposed_targets;
    assert_eq!(again.len(), proposed.len());
    assert_eq!(
        by_text(&again, "出庭应诉率100%").state,
        pb::ProposalState::Accepted as i32
    );
    assert_eq!(
        again
            .iter()
            .map(|proposal| &proposal.name)
            .collect::<Vec<_>>(),
        proposed
            .iter()
            .map(|proposal| &proposal.name)
            .collect::<Vec<_>>()
    );
    let listed = app
        .client
        .list_proposed_targets(with_token(
            pb::ListProposedTargetsRequest {
                plan: plan.clone(),
                state: pb::ProposalState::Rejected as i32,
                page_size: 1,
                page_token: String::new(),
            },
            &coordinator,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.proposed_targets.len(), 1);
    assert_eq!(listed.proposed_targets[0].name, filing.name);
    assert!(listed.next_page_token.is_empty());

    // Every decision and refusal is in the audit log, which the coordinator reads for the region.
    let audit = |method: &str, token: &str| {
        let mut client = app.client.clone();
        let request = pb::ListAuditRecordsRequest {
            filter: Some(fazhi_proto::audit::v1::AuditRecordFilter {
                resource: filing.name.clone(),
                method: method.to_owned(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let token = token.to_owned();
        async move { client.list_audit_records(with_token(request, &token)).await }
    };
    let results: Vec<String> = audit("RejectProposedTarget", &coordinator)
        .await
        .unwrap()
        .into_inner()
        .audit_records
        .into_iter()
        .map(|record| record.result)
        .collect();
    assert_eq!(
        results,
        ["OK", "ETAG_MISMATCH", "INVALID_ARGUMENT"],
        "newest first"
    );
    let staff = app.staff.clone();
    let refused = audit("", &staff).await.unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
}

#[tokio::test]
async fn proposing_is_refused_to_callers_without_rights_and_for_bad_names() {
    let mut app = App::start_with_plans().await;
    let plan = app.plan("ningguo-2024.txt", "ningguo").await;
    let staff = app.staff.clone();
    let denied = app.propose(&plan, &staff).await.unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    let other_city = bearer("tl-office", Some("tongliao"), &[Role::Coordinator]);
    let denied = app.propose(&plan, &other_city).await.unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    let unauthenticated = app.propose(&plan, "").await.unwrap_err();
    assert_eq!(unauthenticated.code(), Code::Unauthenticated);
    let coordinator = app.coordinator.clone();
    let bad = app.propose("tasks/1", &coordinator).await.unwrap_err();
    assert_eq!(
        field_violations(&bad),
        [("plan".to_owned(), "BAD_NAME".to_owned())]
    );
    let admin = app.admin.clone();
    let missing = app.propose("plans/nowhere", &admin).await.unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
    let unknown = app
        .client
        .reject_proposed_target(with_token(
            pb::RejectProposedTargetRequest {
                name: "proposedTargets/nowhere".to_owned(),
                reason: "x".to_owned(),
                ..Default::default()
            },
            &coordinator,
        ))
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
}

#[tokio::test]
async fn a_published_plan_has_its_targets_proposed_once() {
    let mut app = App::start_with_plans().await;
    app.demo_catalogue().await;
    let plan = app.plan("ningguo-2024.txt", "ningguo").await;
    let admin = app.admin.clone();
    let mut plans_client =
        plans::plans_service_client::PlansServiceClient::new(app._server.channel.clone());
    plans_client
        .publish_plan(with_token(
            plans::PublishPlanRequest {
                name: plan.clone(),
                ..Default::default()
            },
            &admin,
        ))
        .await
        .unwrap();
    // The follower as the background task runs it, on the service's own token and database.
    let endpoint = format!("http://{}", app._server.address);
    let book = fazhi_indicators::IndicatorBook::new(
        fazhi_indicators::Store::new(app._indicators_database.pool.clone()),
        fazhi_indicators::UnitsClient::new(&endpoint).unwrap(),
        fazhi_indicators::PlansClient::new(&endpoint).unwrap(),
    );
    let context = fazhi_platform::call::CallContext::system(
        "test/ProposePublishedPlans",
        fazhi_platform::call::Credentials::bearer(bearer("fazhi-indicators", None, &[Role::Admin])),
    );
    let coordinator = app.coordinator.clone();
    let mut proposed = Vec::new();
    // Twice: the second run starts from the cursor and proposes nothing again.
    for _ in 0..2 {
        let following = {
            let (book, context) = (book.clone(), context.clone());
            tokio::spawn(async move { book.follow_published_plans(&context).await })
        };
        for _ in 0..100 {
            proposed = app
                .client
                .list_proposed_targets(with_token(
                    pb::ListProposedTargetsRequest {
                        plan: plan.clone(),
                        ..Default::default()
                    },
                    &coordinator,
                ))
                .await
                .unwrap()
                .into_inner()
                .proposed_targets;
            if !proposed.is_empty() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        following.abort();
        assert_eq!(proposed.len(), 19);
        assert!(proposed.iter().all(|proposal| proposal.etag == "\"1\""));
    }
    let cursor: i64 = sqlx::query_scalar(
        "SELECT sequence FROM indicators.consumer_cursors WHERE stream = 'plans'",
    )
    .fetch_one(&app._indicators_database.pool)
    .await
    .unwrap();
    assert!(cursor > 0);
}

#[tokio::test]
async fn this_sessions_calls_refuse_strangers_and_replay_their_first_answer() {
    let mut app = App::start_with_plans().await;
    app.demo_catalogue().await;
    let plan = app.plan("ningguo-2024.txt", "ningguo").await;
    let coordinator = app.coordinator.clone();
    let client = app.client.clone();

    // ProposeTargets and RejectProposedTarget answer a retry as the first time, even once the
    // proposal is decided.
    let propose = |request_id: &str, plan: &str| pb::ProposeTargetsRequest {
        plan: plan.to_owned(),
        request_id: request_id.to_owned(),
    };
    let first = assert_replays(
        "ProposeTargets",
        |request| {
            let mut client = client.clone();
            let coordinator = coordinator.clone();
            async move {
                client
                    .propose_targets(with_token(request, &coordinator))
                    .await
            }
        },
        (
            propose("propose-1", &plan),
            propose("propose-1", "plans/another"),
        ),
        async || {},
    )
    .await;
    let filing = first
        .proposed_targets
        .iter()
        .find(|proposal| proposal.suggested_targets.is_empty())
        .unwrap()
        .clone();
    let reject = |reason: &str| pb::RejectProposedTargetRequest {
        name: filing.name.clone(),
        etag: filing.etag.clone(),
        reason: reason.to_owned(),
        request_id: "reject-1".to_owned(),
    };
    assert_replays(
        "RejectProposedTarget",
        |request| {
            let mut client = client.clone();
            let coordinator = coordinator.clone();
            async move {
                client
                    .reject_proposed_target(with_token(request, &coordinator))
                    .await
            }
        },
        (reject("省级考核"), reject("另议")),
        async || {},
    )
    .await;

    // Another city's coordinator and a unit's staff are refused what only 宁国's office does.
    let other_city = bearer("tl-office", Some("tongliao"), &[Role::Coordinator]);
    let staff = app.staff.clone();
    for token in [&other_city, &staff] {
        let accepted = app
            .client
            .accept_proposed_target(with_token(
                pb::AcceptProposedTargetRequest {
                    name: first.proposed_targets[0].name.clone(),
                    ..Default::default()
                },
                token,
            ))
            .await
            .unwrap_err();
        assert_eq!(accepted.code(), Code::PermissionDenied);
        // Refused whatever the filter (none is accepted), not answered with an empty page.
        for state in [pb::ProposalState::Unspecified, pb::ProposalState::Accepted] {
            let listed = app
                .client
                .list_proposed_targets(with_token(
                    pb::ListProposedTargetsRequest {
                        plan: plan.clone(),
                        state: state as i32,
                        ..Default::default()
                    },
                    token,
                ))
                .await
                .unwrap_err();
            assert_eq!(listed.code(), Code::PermissionDenied);
        }
    }
    let bad_state = app
        .client
        .list_proposed_targets(with_token(
            pb::ListProposedTargetsRequest {
                plan: plan.clone(),
                state: 9,
                ..Default::default()
            },
            &coordinator,
        ))
        .await
        .unwrap_err();
    assert_eq!(
        field_violations(&bad_state),
        [("state".to_owned(), "REQUIRED".to_owned())]
    );

    // No token, no answer.
    let mut bare = app.client.clone();
    let codes = [
        bare.list_proposed_targets(pb::ListProposedTargetsRequest::default())
            .await
            .unwrap_err()
            .code(),
        bare.accept_proposed_target(pb::AcceptProposedTargetRequest::default())
            .await
            .unwrap_err()
            .code(),
        bare.reject_proposed_target(pb::RejectProposedTargetRequest::default())
            .await
            .unwrap_err()
            .code(),
        bare.update_indicator(pb::UpdateIndicatorRequest::default())
            .await
            .unwrap_err()
            .code(),
        bare.update_data_element(pb::UpdateDataElementRequest::default())
            .await
            .unwrap_err()
            .code(),
        bare.list_audit_records(pb::ListAuditRecordsRequest::default())
            .await
            .unwrap_err()
            .code(),
    ];
    assert!(
        codes.iter().all(|code| *code == Code::Unauthenticated),
        "{codes:?}"
    );
}
