//! The gRPC server every service runs: health, reflection, the edge layers, graceful shutdown.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http::{Request, Response};
use tokio::net::TcpListener;
use tonic::body::Body;
use tonic::server::NamedService;
use tonic::service::Routes;
use tower::{BoxError, Layer, Service, ServiceBuilder};
use tracing::Instrument;

use crate::call::{Clock, Deadline, RootSpan, RpcMethod, Stopping, parse_grpc_timeout};
use crate::settings::ServerSettings;
use crate::telemetry::{rpc_metrics, server_span};

/// Collects services, marks each SERVING in `grpc.health.v1`, and serves them with reflection.
pub struct GrpcServer {
    routes: tonic::service::RoutesBuilder,
    health: tonic_health::server::HealthReporter,
    service_names: Vec<&'static str>,
    /// The database each service needs, by service name, watched while serving.
    databases: Vec<(&'static str, sqlx::PgPool)>,
    clock: Clock,
}

impl Default for GrpcServer {
    fn default() -> Self {
        Self::new()
    }
}

impl GrpcServer {
    pub fn new() -> Self {
        let (health, health_service) = tonic_health::server::health_reporter();
        let mut routes = Routes::builder();
        routes.add_service(health_service);
        Self {
            routes,
            health,
            service_names: Vec::new(),
            databases: Vec::new(),
            clock: Clock::System,
        }
    }

    /// Serves every call with this clock ("today" in tests); the system clock by default.
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Adds a service and reports it SERVING.
    pub async fn add_service<S>(mut self, service: S) -> Self
    where
        S: Service<Request<Body>, Error = Infallible>
            + NamedService
            + Clone
            + Send
            + Sync
            + 'static,
        S::Response: axum::response::IntoResponse,
        S::Future: Send + 'static,
    {
        self.health.set_serving::<S>().await;
        self.service_names.push(S::NAME);
        self.routes.add_service(service);
        self
    }

    /// Adds a service whose calls need `pool`. While that database does not answer, the service
    /// reports NOT_SERVING and its calls are refused at once (`UNAVAILABLE`,
    /// `DATABASE_UNAVAILABLE`) instead of each waiting out the pool's acquire timeout.
    pub async fn add_database_service<S>(mut self, service: S, pool: sqlx::PgPool) -> Self
    where
        S: Service<Request<Body>, Error = Infallible>
            + NamedService
            + Clone
            + Send
            + Sync
            + 'static,
        S::Response: axum::response::IntoResponse,
        S::Future: Send + 'static,
    {
        self.databases.push((S::NAME, pool));
        self.add_service(service).await
    }

    /// The health reporter, to flip services to NOT_SERVING on shutdown or lost dependencies.
    pub fn health(&self) -> tonic_health::server::HealthReporter {
        self.health.clone()
    }

    /// Serves on `listener` until `shutdown` resolves, then lets calls finish for the grace time.
    pub async fn serve(
        mut self,
        settings: &ServerSettings,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), tonic::transport::Error> {
        let reflection_v1 = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(fazhi_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1()
            .map_err(|error| tracing::error!(%error, "reflection v1 unavailable"))
            .ok();
        let reflection_v1alpha = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(fazhi_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1alpha()
            .map_err(|error| tracing::error!(%error, "reflection v1alpha unavailable"))
            .ok();
        if let Some(service) = reflection_v1 {
            self.routes.add_service(service);
        }
        if let Some(service) = reflection_v1alpha {
            self.routes.add_service(service);
        }
        let (stop_sender, mut stop_receiver) = tokio::sync::watch::channel(false);
        let mut gates = Vec::with_capacity(self.databases.len());
        for (name, pool) in std::mem::take(&mut self.databases) {
            let available = Arc::new(AtomicBool::new(true));
            gates.push((format!("/{name}/"), Arc::clone(&available)));
            tokio::spawn(watch_database(
                DatabaseWatch {
                    service: name,
                    pool,
                    available,
                    health: self.health.clone(),
                    interval: Duration::from_millis(settings.database_probe_interval_ms),
                },
                stop_receiver.clone(),
            ));
        }
        let layers = ServiceBuilder::new()
            // Outermost: every call gets a span (joined to the caller's trace) and RED metrics,
            // including calls shed or timed out below.
            .layer(ObserveLayer {
                clock: self.clock,
                stopping: Stopping::new(stop_receiver.clone()),
            })
            // Turns the errors of the layers below into gRPC statuses the observer can count,
            // and tonic's own decoding refusals into ours.
            .layer(EdgeStatusLayer {
                max_message_bytes: settings.max_message_bytes,
            })
            // A call to a service whose database is known to be down is answered now, without
            // taking a place in the limit below.
            .layer(DatabaseGateLayer {
                gates: Arc::from(gates),
            })
            // One limit for the whole process, rejecting at once when full rather than queueing
            // into timeouts; health checks go around it.
            .layer(LimitLayer {
                limit: tower::limit::GlobalConcurrencyLimitLayer::new(settings.concurrency_limit),
            })
            // Innermost: bounds the handler's own time by the server's limit or the caller's
            // shorter `grpc-timeout`, and tells the handler when that is.
            .layer(DeadlineLayer {
                server_timeout: settings.request_timeout(),
            })
            .into_inner();
        let health = self.health.clone();
        let service_names = self.service_names.clone();
        let grace = std::time::Duration::from_millis(settings.shutdown_grace_ms);
        tokio::spawn(async move {
            shutdown.await;
            tracing::info!("shutting down");
            // Tell load balancers first; in-flight calls then get the grace period.
            for name in service_names {
                health
                    .set_service_status(name, tonic_health::ServingStatus::NotServing)
                    .await;
            }
            health
                .set_service_status("", tonic_health::ServingStatus::NotServing)
                .await;
            let _ = stop_sender.send(true);
        });
        let mut grace_receiver = stop_receiver.clone();
        let serve = tonic::transport::Server::builder()
            .max_frame_size(Some(1 << 20))
            .layer(layers)
            .add_routes(self.routes.routes())
            // With an incoming stream tonic applies none of its socket options: TCP_NODELAY set
            // here, or Nagle holds each answer's last frame for the client's delayed ACK.
            .serve_with_incoming_shutdown(
                tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)),
                async move {
                    let _ = stop_receiver.wait_for(|stopped| *stopped).await;
                },
            );
        tokio::select! {
            result = serve => result,
            () = async {
                let _ = grace_receiver.wait_for(|stopped| *stopped).await;
                tokio::time::sleep(grace).await;
            } => {
                // Streams such as WatchEvents never end on their own; clients resume by cursor.
                tracing::warn!(?grace, "grace period over; closing remaining calls");
                Ok(())
            }
        }
    }
}

/// Resolves on SIGTERM or Ctrl-C. The handlers are installed when this is called, not when
/// the future is first polled: a signal that comes in between (a Ctrl-C right after the banner)
/// is a shutdown too, not the default action that would kill the process before it cleans up.
/// Needs a Tokio runtime.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let interrupt = signal(SignalKind::interrupt());
        let terminate = signal(SignalKind::terminate());
        async move {
            let next = |signal: std::io::Result<tokio::signal::unix::Signal>| async move {
                match signal {
                    Ok(mut signal) => {
                        signal.recv().await;
                    }
                    Err(_) => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                () = next(interrupt) => {},
                () = next(terminate) => {},
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

const HEALTH_PREFIX: &str = "/grpc.health.v1.Health/";

/// One service's database, probed while the server runs.
struct DatabaseWatch {
    service: &'static str,
    pool: sqlx::PgPool,
    available: Arc<AtomicBool>,
    health: tonic_health::server::HealthReporter,
    interval: Duration,
}

/// Probes the database every `interval` (a `SELECT 1` bounded by the interval) and reports the
/// service SERVING or NOT_SERVING as the answer changes, until the server stops. The probe has a
/// connection of its own, made with the pool's options: a pool busy with calls is not a database
/// that does not answer, and through the pool a probe queued behind a burst timed out and shut
/// the service's calls out for an interval.
async fn watch_database(watch: DatabaseWatch, mut stopped: tokio::sync::watch::Receiver<bool>) {
    use sqlx::ConnectOptions;
    let mut connection: Option<sqlx::PgConnection> = None;
    let mut probe = async || {
        let answered = tokio::time::timeout(watch.interval, async {
            if connection.is_none() {
                connection = Some(watch.pool.connect_options().connect().await?);
            }
            match connection.as_mut() {
                Some(connection) => sqlx::query_scalar::<_, i32>("SELECT 1")
                    .fetch_one(connection)
                    .await
                    .map(drop),
                None => Ok(()),
            }
        })
        .await
        .is_ok_and(|answer: Result<(), sqlx::Error>| answer.is_ok());
        if !answered {
            // Made again at the next probe: a broken connection must not stay "down".
            connection = None;
        }
        answered
    };
    loop {
        let answers = probe().await;
        if answers != watch.available.swap(answers, Ordering::Relaxed) {
            let status = if answers {
                tracing::info!(service = watch.service, "database answers again");
                tonic_health::ServingStatus::Serving
            } else {
                tracing::error!(service = watch.service, "database does not answer");
                tonic_health::ServingStatus::NotServing
            };
            if !*stopped.borrow() {
                watch.health.set_service_status(watch.service, status).await;
            }
        }
        tokio::select! {
            () = tokio::time::sleep(watch.interval) => {}
            _ = stopped.wait_for(|stopped| *stopped) => return,
        }
    }
}

/// The database a call's service needs is known to be down.
#[derive(Debug, thiserror::Error)]
#[error("the database is unavailable")]
struct DatabaseDown;

/// Refuses calls to services whose database the watcher found down.
#[derive(Clone)]
struct DatabaseGateLayer {
    /// (`/{service}/` path prefix, whether its database answers)
    gates: Arc<[(String, Arc<AtomicBool>)]>,
}

impl<S> Layer<S> for DatabaseGateLayer {
    type Service = DatabaseGate<S>;
    fn layer(&self, inner: S) -> Self::Service {
        DatabaseGate {
            inner,
            gates: Arc::clone(&self.gates),
        }
    }
}

#[derive(Clone)]
struct DatabaseGate<S> {
    inner: S,
    gates: Arc<[(String, Arc<AtomicBool>)]>,
}

impl<S, B> Service<Request<B>> for DatabaseGate<S>
where
    S: Service<Request<B>>,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = BoxFuture<Result<S::Response, BoxError>>;

    fn poll_ready(&mut self, context: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(context).map_err(Into::into)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let path = request.uri().path();
        let down = self.gates.iter().any(|(prefix, available)| {
            path.starts_with(prefix.as_str()) && !available.load(Ordering::Relaxed)
        });
        if down {
            return Box::pin(async { Err(DatabaseDown.into()) });
        }
        let future = self.inner.call(request);
        Box::pin(async move { future.await.map_err(Into::into) })
    }
}

/// Sheds calls beyond the process's concurrency limit, except health checks: a probe shed under
/// load has the orchestrator restart a server that is busy, not broken (the fault matrix: 1,000
/// concurrent calls had the health check answered `UNAVAILABLE`).
#[derive(Clone)]
struct LimitLayer {
    limit: tower::limit::GlobalConcurrencyLimitLayer,
}

impl<S: Clone> Layer<S> for LimitLayer {
    type Service = Limit<S>;
    fn layer(&self, inner: S) -> Self::Service {
        Limit {
            limited: tower::load_shed::LoadShed::new(self.limit.layer(inner.clone())),
            direct: inner,
        }
    }
}

#[derive(Clone)]
struct Limit<S> {
    limited: tower::load_shed::LoadShed<tower::limit::ConcurrencyLimit<S>>,
    direct: S,
}

impl<S, B> Service<Request<B>> for Limit<S>
where
    S: Service<Request<B>> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
    S::Response: Send + 'static,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = BoxFuture<Result<S::Response, BoxError>>;

    // Which path a call takes is known only from the request: each call readies its own clone
    // (a clone of the limit holds no permit), so no permit is taken for a call that skips it.
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        use tower::ServiceExt;
        if request.uri().path().starts_with(HEALTH_PREFIX) {
            let direct = self.direct.clone().oneshot(request);
            Box::pin(async move { direct.await.map_err(Into::into) })
        } else {
            Box::pin(self.limited.clone().oneshot(request))
        }
    }
}

/// Maps `tower` timeout and overload errors to `DEADLINE_EXCEEDED` and `UNAVAILABLE`, and the
/// bare statuses tonic's decoder answers with to ours, with ErrorInfo: a body that is not the
/// method's message (tonic: `INTERNAL`) is the caller's error, `INVALID_ARGUMENT`; a message over
/// the limit (tonic: `OUT_OF_RANGE`) is `RESOURCE_EXHAUSTED`, as gRPC specifies.
#[derive(Clone, Copy)]
struct EdgeStatusLayer {
    max_message_bytes: usize,
}

impl<S> Layer<S> for EdgeStatusLayer {
    type Service = EdgeStatus<S>;
    fn layer(&self, inner: S) -> Self::Service {
        EdgeStatus {
            inner,
            max_message_bytes: self.max_message_bytes,
        }
    }
}

#[derive(Clone)]
struct EdgeStatus<S> {
    inner: S,
    max_message_bytes: usize,
}

impl<S, B> Service<Request<B>> for EdgeStatus<S>
where
    S: Service<Request<B>, Response = Response<Body>>,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Response<Body>, Infallible>>;

    fn poll_ready(&mut self, context: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Readiness errors surface again from `call`, which is where they become statuses.
        match self.inner.poll_ready(context) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(_) => Poll::Ready(Ok(())),
        }
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let future = self.inner.call(request);
        let max_message_bytes = self.max_message_bytes;
        Box::pin(async move {
            match future.await {
                Ok(response) => Ok(codec_status(&response, max_message_bytes)
                    .map_or(response, tonic::Status::into_http)),
                Err(error) => Ok(edge_status(error.into()).into_http()),
            }
        })
    }
}

/// Our status for a refusal of tonic's decoder. Such a refusal is a trailers-only response
/// (the code in the headers) without details, which every status of ours carries.
fn codec_status(response: &Response<Body>, max_message_bytes: usize) -> Option<tonic::Status> {
    use crate::error::{ErrorDescription, to_status};
    let headers = response.headers();
    if headers.contains_key("grpc-status-details-bin") {
        return None;
    }
    let status = tonic::Status::from_header_map(headers)?;
    let description = match status.code() {
        tonic::Code::Internal if status.message().starts_with("failed to decode Protobuf") => {
            ErrorDescription::new(
                tonic::Code::InvalidArgument,
                "MALFORMED_REQUEST",
                format!(
                    "the request is not a valid message of this method: {}",
                    status.message()
                ),
                "请求消息格式错误,无法解析",
            )
        }
        tonic::Code::OutOfRange if status.message().contains("message length too large") => {
            ErrorDescription::new(
                tonic::Code::ResourceExhausted,
                "MESSAGE_TOO_LARGE",
                format!(
                    "the request is larger than the {max_message_bytes} bytes the server accepts"
                ),
                format!("请求消息超过服务器允许的 {max_message_bytes} 字节"),
            )
        }
        _ => return None,
    };
    Some(to_status("fazhi", description))
}

fn edge_status(error: BoxError) -> tonic::Status {
    use crate::error::{DescribeError, ErrorDescription, to_status};
    let description = if error.is::<tower::timeout::error::Elapsed>() {
        ErrorDescription::new(
            tonic::Code::DeadlineExceeded,
            "DEADLINE_EXCEEDED",
            "the call took longer than the server allows",
            "请求处理超时",
        )
    } else if error.is::<DatabaseDown>() {
        // As a pool that cannot connect would answer, only without the wait.
        crate::error::PlatformError::DatabaseUnavailable(sqlx::Error::PoolTimedOut).describe()
    } else if error.is::<tower::load_shed::error::Overloaded>() {
        ErrorDescription::new(
            tonic::Code::Unavailable,
            "OVERLOADED",
            "the server is busy; retry with backoff",
            "服务繁忙,请稍后重试",
        )
    } else {
        tracing::error!(%error, "edge layer failed");
        ErrorDescription::new(
            tonic::Code::Internal,
            "INTERNAL",
            "internal error",
            "系统内部错误",
        )
    };
    to_status("fazhi", description)
}

/// Opens the span of each call, records RED metrics, and tells the call its method, its clock
/// and when the server stops.
#[derive(Clone)]
struct ObserveLayer {
    clock: Clock,
    stopping: Stopping,
}

impl<S> Layer<S> for ObserveLayer {
    type Service = Observe<S>;
    fn layer(&self, inner: S) -> Self::Service {
        Observe {
            inner,
            clock: self.clock,
            stopping: self.stopping.clone(),
        }
    }
}

#[derive(Clone)]
struct Observe<S> {
    inner: S,
    clock: Clock,
    stopping: Stopping,
}

impl<S, B> Service<Request<B>> for Observe<S>
where
    S: Service<Request<B>, Response = Response<Body>, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Response<Body>, Infallible>>;

    fn poll_ready(&mut self, context: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(context)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let method: std::sync::Arc<str> = std::sync::Arc::from(request.uri().path());
        request
            .extensions_mut()
            .insert(RpcMethod(std::sync::Arc::clone(&method)));
        request.extensions_mut().insert(self.clock);
        request.extensions_mut().insert(self.stopping.clone());
        // Health checks come every few seconds from every probe: counted, not traced.
        let span = if method.starts_with(HEALTH_PREFIX) {
            tracing::Span::none()
        } else {
            server_span(&method, request.headers())
        };
        request.extensions_mut().insert(RootSpan(span.clone()));
        let future = self.inner.call(request);
        let mut sample = CallSample {
            method,
            span: span.clone(),
            started: Instant::now(),
            recorded: false,
        };
        Box::pin(
            async move {
                let result = future.await;
                if let Ok(response) = &result {
                    // Handler errors travel as trailers-only responses, so the code is in the
                    // headers; a normal response's OK comes in trailers.
                    let code = response
                        .headers()
                        .get("grpc-status")
                        .and_then(|value| value.to_str().ok())
                        .and_then(|value| value.parse::<i32>().ok())
                        .map(tonic::Code::from_i32)
                        .unwrap_or(tonic::Code::Ok);
                    sample.record(code);
                }
                result
            }
            .instrument(span),
        )
    }
}

/// One call's metric sample; a call dropped before it answered (the caller went away, or its
/// `grpc-timeout` ran out in tonic's own layer outside this stack) counts as `CANCELLED`.
struct CallSample {
    method: std::sync::Arc<str>,
    span: tracing::Span,
    started: Instant,
    recorded: bool,
}

impl CallSample {
    fn record(&mut self, code: tonic::Code) {
        self.recorded = true;
        rpc_metrics().record(&self.method, code, self.started.elapsed());
        self.span.record("rpc.grpc.status_code", code as i32);
        if crate::telemetry::is_server_fault(code) {
            self.span.record("otel.status_code", "ERROR");
        }
    }
}

impl Drop for CallSample {
    fn drop(&mut self) {
        if !self.recorded {
            self.record(tonic::Code::Cancelled);
        }
    }
}

/// Answered this long before the caller's own deadline, so that our `DEADLINE_EXCEEDED` (with
/// ErrorInfo) reaches it before its own timer says `CANCELLED`. (Tonic's timer outside this
/// stack polls us first, so on the server our answer wins even without the margin.)
const DEADLINE_MARGIN: Duration = Duration::from_millis(20);

/// Applies the shorter of the server's limit and the caller's `grpc-timeout`, and puts the
/// resulting [`Deadline`] in the request for the handler (and its calls to other services).
#[derive(Clone, Copy)]
struct DeadlineLayer {
    server_timeout: Duration,
}

impl<S> Layer<S> for DeadlineLayer {
    type Service = DeadlineService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        DeadlineService {
            inner,
            server_timeout: self.server_timeout,
        }
    }
}

#[derive(Clone)]
struct DeadlineService<S> {
    inner: S,
    server_timeout: Duration,
}

impl<S, B> Service<Request<B>> for DeadlineService<S>
where
    S: Service<Request<B>>,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = BoxFuture<Result<S::Response, BoxError>>;

    fn poll_ready(&mut self, context: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(context).map_err(Into::into)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let callers = request
            .headers()
            .get("grpc-timeout")
            .and_then(|value| value.to_str().ok())
            .and_then(parse_grpc_timeout)
            .map(|timeout| timeout.saturating_sub(DEADLINE_MARGIN));
        let timeout = callers.map_or(self.server_timeout, |callers| {
            callers.min(self.server_timeout)
        });
        let deadline = tokio::time::Instant::now() + timeout;
        request.extensions_mut().insert(Deadline(deadline));
        let future = self.inner.call(request);
        Box::pin(async move {
            match tokio::time::timeout_at(deadline, future).await {
                Ok(result) => result.map_err(Into::into),
                Err(_) => Err(tower::timeout::error::Elapsed::new().into()),
            }
        })
    }
}
