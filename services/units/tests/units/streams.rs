//! Open event streams do not starve the service: they share one LISTEN connection and borrow a
//! pooled connection only to read a batch, and each caller may hold only so many.

use fazhi_platform::auth::Role;
use fazhi_proto::units::v1 as pb;
use fazhi_testkit::replay::reason;
use fazhi_testkit::{bearer, with_token};
use tonic::Code;

use crate::helpers::{App, department};

#[tokio::test]
async fn streams_beyond_the_pool_leave_unary_calls_answered() {
    let mut app = App::with_demo_registry().await;
    let last: i64 = sqlx::query_scalar("SELECT max(sequence) FROM units.events")
        .fetch_one(&app.database.pool)
        .await
        .unwrap();

    // The test pool has 8 connections; 18 streams of two callers stay open.
    let pool_size = app.database.settings().max_connections as usize;
    let viewers = [
        bearer("viewer-a", None, &[Role::Viewer]),
        bearer("viewer-b", None, &[Role::Viewer]),
    ];
    let mut streams = Vec::new();
    for index in 0..pool_size + 10 {
        let stream = app
            .client
            .watch_events(with_token(
                pb::WatchEventsRequest {
                    after_sequence: last,
                },
                &viewers[index % 2],
            ))
            .await
            .unwrap()
            .into_inner();
        streams.push(stream);
    }

    let unit = app.get("units/ng-sfj").await;
    assert_eq!(
        unit.display_name, "宁国市司法局",
        "a unary read is answered"
    );
    let created = app
        .client
        .create_unit(with_token(
            department("ng-tjj", "宁国市统计局", "ningguo"),
            &app.admin,
        ))
        .await
        .unwrap()
        .into_inner()
        .unit
        .unwrap();
    // Every stream is woken by the one listener and reads the new event.
    for stream in &mut streams {
        let event = stream.message().await.unwrap().unwrap().event.unwrap();
        assert!(event.sequence > last);
        assert!(matches!(
            event.payload,
            Some(pb::unit_event::Payload::UnitCreated(ref created_event))
                if created_event.unit.as_ref().map(|unit| &unit.name) == Some(&created.name)
        ));
    }
}

#[tokio::test]
async fn one_caller_holds_a_bounded_number_of_streams() {
    let mut app = App::empty().await;
    let limit = fazhi_testkit::server_settings().max_streams_per_caller;
    let viewer = bearer("viewer", None, &[Role::Viewer]);
    let open = |client: &mut fazhi_proto::units::v1::units_service_client::UnitsServiceClient<
        tonic::transport::Channel,
    >,
                token: &str| {
        let mut client = client.clone();
        let request = with_token(pb::WatchEventsRequest { after_sequence: 0 }, token);
        async move { client.watch_events(request).await }
    };
    let mut held = Vec::new();
    for _ in 0..limit {
        held.push(open(&mut app.client, &viewer).await.unwrap());
    }
    let refused = open(&mut app.client, &viewer).await.unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted);
    assert_eq!(reason(&refused), "TOO_MANY_STREAMS");
    // Another caller is not affected, and a closed stream frees its place.
    open(&mut app.client, &app.admin.clone()).await.unwrap();
    drop(held.pop());
    let mut reopened = None;
    for _ in 0..100 {
        match open(&mut app.client, &viewer).await {
            Ok(stream) => {
                reopened = Some(stream);
                break;
            }
            // The server notices the closed stream once its reset arrives.
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
        }
    }
    assert!(reopened.is_some(), "a closed stream frees its place");
}

/// On shutdown an open stream ends at once, retryably (UNAVAILABLE, SHUTTING_DOWN), instead of
/// holding the server for its whole grace period (`fazhi dev` took 10 s to stop on Ctrl-C
/// because of its own follower's stream).
#[tokio::test]
async fn streams_end_at_once_when_the_server_stops() {
    let settings = fazhi_platform::settings::ServerSettings {
        shutdown_grace_ms: 60_000,
        ..fazhi_testkit::server_settings()
    };
    let mut app = App::empty_with(settings).await;
    let mut stream = app
        .client
        .watch_events(with_token(
            pb::WatchEventsRequest { after_sequence: 0 },
            &app.admin,
        ))
        .await
        .unwrap()
        .into_inner();
    drop(app.server);
    // Far below the grace period: the stream ended because the server said so.
    let ended = tokio::time::timeout(std::time::Duration::from_secs(10), stream.message())
        .await
        .expect("the stream outlived the shutdown")
        .unwrap_err();
    assert_eq!(ended.code(), Code::Unavailable, "{ended:?}");
    assert_eq!(reason(&ended), "SHUTTING_DOWN");
}
