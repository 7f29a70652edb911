//! The server stack over real gRPC: deadlines and load shedding answer with the right codes.

#![allow(clippy::unwrap_used)]

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use fazhi_platform::server::GrpcServer;
use fazhi_testkit::TestServer;
use tonic::Code;
use tonic::body::Body;
use tonic::server::NamedService;
use tonic_health::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};
use tonic_types::StatusExt;

/// A service that answers UNIMPLEMENTED after a delay.
#[derive(Clone)]
struct Slow(Duration);

impl NamedService for Slow {
    const NAME: &'static str = "fazhi.test.Slow";
}

impl tower::Service<http::Request<Body>> for Slow {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: http::Request<Body>) -> Self::Future {
        let delay = self.0;
        Box::pin(async move {
            tokio::time::sleep(delay).await;
            Ok(tonic::Status::unimplemented("slow").into_http())
        })
    }
}

async fn call(channel: tonic::transport::Channel) -> tonic::Status {
    call_within(channel, None).await
}

/// A call, with the caller's deadline in `grpc-timeout` when given. The header is set by hand,
/// not with `set_timeout`, so that the client's own timer does not race the server's answer:
/// what is tested is what the server answers.
async fn call_within(
    channel: tonic::transport::Channel,
    deadline: Option<Duration>,
) -> tonic::Status {
    let mut client = tonic::client::Grpc::new(channel);
    client.ready().await.unwrap();
    let mut request = tonic::Request::new(HealthCheckRequest::default());
    if let Some(deadline) = deadline {
        let header = format!("{}m", deadline.as_millis());
        request
            .metadata_mut()
            .insert("grpc-timeout", header.parse().unwrap());
    }
    client
        .unary::<HealthCheckRequest, HealthCheckResponse, _>(
            request,
            http::uri::PathAndQuery::from_static("/fazhi.test.Slow/Check"),
            tonic_prost::ProstCodec::default(),
        )
        .await
        .unwrap_err()
}

async fn serve(delay: Duration, timeout_ms: u64, concurrency_limit: usize) -> TestServer {
    let settings = fazhi_platform::settings::ServerSettings {
        request_timeout_ms: timeout_ms,
        concurrency_limit,
        ..fazhi_testkit::server_settings()
    };
    let server = GrpcServer::new().add_service(Slow(delay)).await;
    TestServer::start(server, settings).await
}

#[tokio::test]
async fn a_call_over_the_server_timeout_is_deadline_exceeded() {
    let server = serve(Duration::from_secs(5), 200, 16).await;
    let status = call(server.channel.clone()).await;
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    let details = status.get_error_details();
    assert_eq!(details.error_info().unwrap().reason, "DEADLINE_EXCEEDED");
    assert_eq!(details.localized_message().unwrap().locale, "zh-CN");
}

#[tokio::test]
async fn a_callers_shorter_deadline_is_ours_too() {
    // The server allows 10 s; the caller gives 300 ms and gets our status, with ErrorInfo.
    let server = serve(Duration::from_secs(5), 10_000, 16).await;
    let status = call_within(server.channel.clone(), Some(Duration::from_millis(300))).await;
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    assert_eq!(
        status.get_error_details().error_info().unwrap().reason,
        "DEADLINE_EXCEEDED"
    );
}

#[tokio::test]
async fn calls_beyond_the_concurrency_limit_are_shed_as_unavailable() {
    let server = serve(Duration::from_millis(800), 10_000, 2).await;
    let calls = (0..6).map(|_| call(server.channel.clone()));
    let statuses = futures::future::join_all(calls).await;
    let served = statuses
        .iter()
        .filter(|status| status.code() == Code::Unimplemented)
        .count();
    let shed: Vec<_> = statuses
        .iter()
        .filter(|status| status.code() == Code::Unavailable)
        .collect();
    assert_eq!(served + shed.len(), 6, "{statuses:?}");
    assert!(
        (1..=2).contains(&served),
        "at most the limit is served: {statuses:?}"
    );
    assert!(!shed.is_empty());
    assert_eq!(
        shed[0].get_error_details().error_info().unwrap().reason,
        "OVERLOADED"
    );
}

#[tokio::test]
async fn health_checks_are_answered_while_the_concurrency_limit_is_full() {
    let server = serve(Duration::from_millis(1500), 10_000, 2).await;
    let busy: Vec<_> = (0..2)
        .map(|_| tokio::spawn(call(server.channel.clone())))
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The limit is full: another call is shed, the health check is answered.
    assert_eq!(call(server.channel.clone()).await.code(), Code::Unavailable);
    assert_eq!(
        health_of(server.channel.clone(), "fazhi.test.Slow").await,
        ServingStatus::Serving as i32
    );
    for call in busy {
        assert_eq!(call.await.unwrap().code(), Code::Unimplemented);
    }
}

#[tokio::test]
async fn health_reports_each_added_service() {
    let server = serve(Duration::from_millis(1), 1000, 16).await;
    let mut health = tonic_health::pb::health_client::HealthClient::new(server.channel.clone());
    let status = |service: &str| HealthCheckRequest {
        service: service.to_owned(),
    };
    let serving = tonic_health::pb::health_check_response::ServingStatus::Serving as i32;
    assert_eq!(
        health
            .check(status("fazhi.test.Slow"))
            .await
            .unwrap()
            .into_inner()
            .status,
        serving
    );
    assert_eq!(
        health.check(status("")).await.unwrap().into_inner().status,
        serving
    );
    let unknown = health
        .check(status("fazhi.nothing.v1.Nothing"))
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
}

async fn health_of(channel: tonic::transport::Channel, service: &str) -> i32 {
    tonic_health::pb::health_client::HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: service.to_owned(),
        })
        .await
        .map(|response| response.into_inner().status)
        .unwrap_or(-1)
}

/// Waits (up to 10 s) until the service reports `status`.
async fn until_health(channel: &tonic::transport::Channel, status: ServingStatus) {
    for _ in 0..100 {
        if health_of(channel.clone(), "fazhi.test.Slow").await == status as i32 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the service never reported {status:?}");
}

/// A service reports NOT_SERVING while its database does not answer and refuses its calls at
/// once with DATABASE_UNAVAILABLE (not after the pool's acquire timeout), and SERVING again
/// when the database returns. The database goes away through a link the test cuts.
#[tokio::test]
async fn a_service_whose_database_is_down_is_not_serving_and_refuses_at_once() {
    let database = fazhi_testkit::TestDatabase::new().await;
    let target: std::net::SocketAddr = {
        let options: sqlx::postgres::PgConnectOptions = database.url.parse().unwrap();
        tokio::net::lookup_host((options.get_host(), options.get_port()))
            .await
            .unwrap()
            .next()
            .unwrap()
    };
    let link = fazhi_testkit::link::Link::to(target).await;
    let through_link = database.url.replacen(
        &format!("{}:{}", target.ip(), target.port()),
        &link.address.to_string(),
        1,
    );
    let mut settings = database.settings();
    settings.url = Some(through_link.into());
    settings.acquire_timeout_ms = 3_000;
    let pool = fazhi_platform::db::connect(&settings, "fazhi-test")
        .await
        .unwrap();
    let server_settings = fazhi_platform::settings::ServerSettings {
        database_probe_interval_ms: 200,
        ..fazhi_testkit::server_settings()
    };
    let server = GrpcServer::new()
        .add_database_service(Slow(Duration::ZERO), pool)
        .await;
    let server = TestServer::start(server, server_settings).await;
    let channel = server.channel.clone();
    until_health(&channel, ServingStatus::Serving).await;
    assert_eq!(call(channel.clone()).await.code(), Code::Unimplemented);

    link.cut();
    until_health(&channel, ServingStatus::NotServing).await;
    // A 1 s deadline: had the call waited for the pool (3 s), this would be DEADLINE_EXCEEDED.
    let refused = call_within(channel.clone(), Some(Duration::from_secs(1))).await;
    assert_eq!(refused.code(), Code::Unavailable, "{refused:?}");
    assert_eq!(
        refused.get_error_details().error_info().unwrap().reason,
        "DATABASE_UNAVAILABLE"
    );

    link.restore();
    until_health(&channel, ServingStatus::Serving).await;
    assert_eq!(call(channel).await.code(), Code::Unimplemented);
}

/// A pool whose every connection is busy with calls is not a database that does not answer:
/// the service stays SERVING and takes calls (the probe has a connection of its own; through
/// the pool it queued behind the burst, timed out and shut the service's calls out).
#[tokio::test]
async fn a_busy_pool_is_not_a_database_that_is_down() {
    let database = fazhi_testkit::TestDatabase::new().await;
    let mut settings = database.settings();
    settings.max_connections = 1;
    let pool = fazhi_platform::db::connect(&settings, "fazhi-test")
        .await
        .unwrap();
    let server_settings = fazhi_platform::settings::ServerSettings {
        database_probe_interval_ms: 100,
        ..fazhi_testkit::server_settings()
    };
    let server = GrpcServer::new()
        .add_database_service(Slow(Duration::ZERO), pool.clone())
        .await;
    let server = TestServer::start(server, server_settings).await;
    let channel = server.channel.clone();
    until_health(&channel, ServingStatus::Serving).await;

    // The pool's only connection, held for ten probe intervals.
    let held = pool.acquire().await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        health_of(channel.clone(), "fazhi.test.Slow").await,
        ServingStatus::Serving as i32
    );
    assert_eq!(call(channel).await.code(), Code::Unimplemented);
    drop(held);
}
