//! The events assessment publishes, as WatchEvents streams them, and the ledger sweep that
//! announces overdue items once.

use fazhi_assessment::gather::Sources;
use fazhi_assessment::{AssessmentBook, Store};
use fazhi_platform::auth::Role;
use fazhi_platform::call::{CallContext, Clock, Credentials};
use fazhi_proto::assessment::v1 as pb;
use fazhi_testkit::{bearer, with_token};
use tonic::Code;

use super::revisions::MANUAL_SCHEME;
use super::{App, annual};

/// Every event after `after`, up to the last one committed.
async fn events(app: &App, after: i64, until: usize) -> Vec<pb::AssessmentEvent> {
    let mut stream = app
        .client
        .clone()
        .watch_events(with_token(
            pb::WatchEventsRequest {
                after_sequence: after,
            },
            &app.admin,
        ))
        .await
        .unwrap()
        .into_inner();
    let mut found = Vec::new();
    while found.len() < until {
        let next = tokio::time::timeout(std::time::Duration::from_secs(10), stream.message())
            .await
            .expect("the events arrive")
            .unwrap()
            .unwrap();
        found.push(next.event.unwrap());
    }
    found
}

#[tokio::test]
async fn watchers_see_each_change_with_its_resource_and_an_overdue_item_is_announced_once() {
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
    let opened = app.publish(&round.name, &coordinator).await.unwrap() as usize;
    let staff = bearer("ng-gaj-clerk", Some("ng-gaj"), &[Role::UnitStaff]);
    let refused = app
        .client
        .clone()
        .watch_events(with_token(pb::WatchEventsRequest::default(), &staff))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);

    let seen = events(&app, 0, 4 + opened).await;
    let types: Vec<&str> = seen.iter().map(|event| event.r#type.as_str()).collect();
    assert_eq!(
        types[..4],
        [
            "scheme.created",
            "round.run",
            "round.published",
            "bulletin.published"
        ]
    );
    assert!(
        types[4..]
            .iter()
            .all(|kind| *kind == "rectification.opened")
    );
    assert_eq!(seen[0].scheme.as_ref().unwrap().name, "schemes/ng-manual");
    let published = seen[2].round.as_ref().unwrap();
    assert_eq!(published.name, round.name);
    assert!(published.publish_time.is_some());
    assert_eq!(seen[3].resource, format!("{}/bulletin", round.name));
    let item = seen[4].item.as_ref().unwrap();
    assert_eq!(
        (seen[4].resource.as_str(), item.round.as_str()),
        (item.name.as_str(), round.name.as_str())
    );

    // The sweep as the background task runs it, before and after the deadline (30 days).
    let address = format!("http://{}", app.server.address);
    let book = AssessmentBook::new(
        Store::new(app.databases[3].pool.clone()),
        Sources::new(
            fazhi_units_client::UnitsClient::new(&address).unwrap(),
            fazhi_plans_client::PlansClient::new(&address).unwrap(),
            &address,
        )
        .unwrap(),
    );
    let sweep_in = |days: i64| {
        let mut context = CallContext::system("test/SweepOverdueItems", Credentials::default());
        context.clock = Clock::Fixed(chrono::Utc::now() + chrono::Duration::days(days));
        context
    };
    assert_eq!(book.sweep_overdue_items(&sweep_in(10)).await.unwrap(), 0);
    assert_eq!(
        book.sweep_overdue_items(&sweep_in(31)).await.unwrap(),
        opened
    );
    assert_eq!(
        book.sweep_overdue_items(&sweep_in(32)).await.unwrap(),
        0,
        "once"
    );
    let last = seen.last().unwrap().sequence;
    let overdue = events(&app, last, opened).await;
    assert!(overdue.iter().all(|event| {
        event.r#type == "rectification.overdue"
            && event
                .item
                .as_ref()
                .is_some_and(|item| item.name == event.resource)
    }));
}
