//! The read path under load: `GetUnit` over real gRPC (16 clients, each its own connection,
//! closed loop) against pgbench running the same two SQL statements with 16 clients on the same
//! Postgres in the same run, then `GetUnit` again at half the rate reached, for its latency.
//! Run: `cargo bench -p fazhi-units --bench load` (needs the test Postgres and `pgbench`, see
//! docs/testing.md); `FAZHI_LOAD_SECONDS` sets each phase's length (default 10),
//! `FAZHI_LOAD_CLIENTS` the clients on both sides (default 16).

#![allow(clippy::unwrap_used)]

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fazhi_platform::auth::Role;
use fazhi_platform::server::GrpcServer;
use fazhi_proto::units::v1 as pb;
use fazhi_proto::units::v1::units_service_client::UnitsServiceClient;
use fazhi_testkit::{TestDatabase, TestServer, bearer, with_token};
use hdrhistogram::Histogram;

const UNIT: &str = "ng-sfj";

/// What one phase measured.
struct Phase {
    calls: u64,
    elapsed: Duration,
    latency: Histogram<u64>,
}

impl Phase {
    fn rate(&self) -> f64 {
        self.calls as f64 / self.elapsed.as_secs_f64()
    }

    fn print(&self, name: &str) {
        let ms = |quantile: f64| self.latency.value_at_quantile(quantile) as f64 / 1000.0;
        println!(
            "{name:<46} {:>9.0} calls/s  p50 {:>6.2} ms  p99 {:>6.2} ms  max {:>7.2} ms",
            self.rate(),
            ms(0.5),
            ms(0.99),
            self.latency.max() as f64 / 1000.0
        );
    }
}

/// `GetUnit` from every client for `length`; with `interval`, each client calls at most once
/// per interval (open loop), else as fast as answers come.
async fn get_unit_load(
    clients: &[UnitsServiceClient<tonic::transport::Channel>],
    token: &Arc<str>,
    length: Duration,
    interval: Option<Duration>,
) -> Phase {
    let started = Instant::now();
    let deadline = started + length;
    let tasks = clients.iter().cloned().map(|mut client| {
        let token = Arc::clone(token);
        tokio::spawn(async move {
            let mut latency = Histogram::<u64>::new(3).unwrap();
            let mut ticks = interval.map(tokio::time::interval);
            while Instant::now() < deadline {
                if let Some(ticks) = &mut ticks {
                    ticks.tick().await;
                }
                let call = Instant::now();
                client
                    .get_unit(with_token(
                        pb::GetUnitRequest {
                            name: format!("units/{UNIT}"),
                            ..Default::default()
                        },
                        &token,
                    ))
                    .await
                    .unwrap();
                latency.record(call.elapsed().as_micros() as u64).unwrap();
            }
            latency
        })
    });
    let mut latency = Histogram::<u64>::new(3).unwrap();
    for task in futures::future::join_all(tasks).await {
        latency.add(task.unwrap()).unwrap();
    }
    Phase {
        calls: latency.len(),
        elapsed: started.elapsed(),
        latency,
    }
}

/// pgbench with the statements `GetUnit` runs, prepared, for `length`; its transactions/s.
fn pgbench(url: &str, length: Duration, clients: usize) -> f64 {
    let script = format!(
        "{};\n{};\n",
        fazhi_units::store::LIFETIME_SQL.replace("$1", ":id"),
        fazhi_units::store::unit_on_day_sql()
            .replace("$1", ":day::date")
            .replace("$2", ":id")
            .replace('\n', " ")
    );
    let path = std::env::temp_dir().join(format!("fazhi-get-unit-{}.sql", std::process::id()));
    std::fs::write(&path, script).unwrap();
    let output = Command::new("pgbench")
        .args([
            "-n",
            "-M",
            "prepared",
            "-c",
            &clients.to_string(),
            "-j",
            "2",
            "-T",
        ])
        .arg(length.as_secs().to_string())
        .args(["-D", &format!("id={UNIT}"), "-D", "day=2024-06-01", "-f"])
        .arg(&path)
        .arg(url)
        .output()
        .expect("pgbench (Debian: postgresql-contrib) on PATH");
    let _ = std::fs::remove_file(&path);
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "pgbench failed: {text}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    text.lines()
        .find_map(|line| {
            line.strip_prefix("tps = ")
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|tps| tps.parse().ok())
        })
        .unwrap_or_else(|| panic!("no tps in pgbench's output: {text}"))
}

/// The same calls from h2load (a C client, as light on the shared CPU as pgbench is), when it is
/// on PATH (Debian: nghttp2-client): its requests/s.
fn h2load(
    address: std::net::SocketAddr,
    token: &str,
    length: Duration,
    clients: usize,
) -> Option<f64> {
    use prost::Message;
    let message = pb::GetUnitRequest {
        name: format!("units/{UNIT}"),
        ..Default::default()
    }
    .encode_to_vec();
    // One gRPC frame: uncompressed, its length, the message.
    let mut frame = vec![0];
    frame.extend_from_slice(&(message.len() as u32).to_be_bytes());
    frame.extend_from_slice(&message);
    let path = std::env::temp_dir().join(format!("fazhi-get-unit-{}.grpc", std::process::id()));
    std::fs::write(&path, frame).unwrap();
    let output = Command::new("h2load")
        .args(["-c", &clients.to_string(), "-m", "1", "-D"])
        .arg(length.as_secs().to_string())
        .args([
            "-H",
            "content-type: application/grpc",
            "-H",
            "te: trailers",
            "-H",
        ])
        .arg(format!("authorization: {token}"))
        .arg("-d")
        .arg(&path)
        .arg(format!(
            "http://{address}/fazhi.units.v1.UnitsService/GetUnit"
        ))
        .output()
        .ok()?;
    let _ = std::fs::remove_file(&path);
    let text = String::from_utf8_lossy(&output.stdout);
    text.lines().find_map(|line| {
        let (_, rest) = line.split_once("finished in ")?;
        let (_, rate) = rest.split_once(", ")?;
        rate.split_whitespace().next()?.parse().ok()
    })
}

#[tokio::main]
async fn main() {
    let clients_wanted: usize = std::env::var("FAZHI_LOAD_CLIENTS")
        .ok()
        .and_then(|clients| clients.parse().ok())
        .unwrap_or(16);
    let length = Duration::from_secs(
        std::env::var("FAZHI_LOAD_SECONDS")
            .ok()
            .and_then(|seconds| seconds.parse().ok())
            .unwrap_or(10),
    );
    let database = TestDatabase::migrated(fazhi_units::store::SCHEMA, &fazhi_units::MIGRATOR).await;
    // As many sessions as pgbench has clients.
    let pool = fazhi_platform::db::connect_as_role(
        &fazhi_platform::settings::DatabaseSettings {
            max_connections: clients_wanted as u32,
            ..database.settings()
        },
        "fazhi-units",
        &fazhi_platform::db::runtime_role(fazhi_units::store::SCHEMA),
    )
    .await
    .unwrap();
    let settings = fazhi_testkit::server_settings();
    let server = GrpcServer::new()
        .add_database_service(
            fazhi_units::grpc_service(
                fazhi_units::Store::new(pool.clone()),
                fazhi_testkit::authenticator(),
                &settings,
            ),
            pool,
        )
        .await;
    let server = TestServer::start(server, settings).await;
    let admin = bearer("admin", None, &[Role::Admin]);
    fazhi_testkit::demo::import_registries(&server.channel, &admin).await;
    sqlx::query("ANALYZE")
        .execute(&database.admin_pool)
        .await
        .unwrap();
    let mut clients = Vec::with_capacity(clients_wanted);
    for _ in 0..clients_wanted {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", server.address))
            .unwrap()
            .connect()
            .await
            .unwrap();
        clients.push(UnitsServiceClient::new(channel));
    }
    let token: Arc<str> = Arc::from(bearer("viewer", None, &[Role::Viewer]));
    // Warm the pool, the prepared statements and the connections.
    get_unit_load(&clients, &token, Duration::from_secs(1), None).await;

    println!(
        "GetUnit, {clients_wanted} clients, {} s per phase",
        length.as_secs()
    );
    let sql = pgbench(&database.url, length, clients_wanted);
    println!(
        "{:<46} {sql:>9.0} calls/s",
        "baseline: pgbench, the same 2 statements"
    );
    let max = get_unit_load(&clients, &token, length, None).await;
    max.print("GetUnit over gRPC, closed loop");
    if let Some(rate) = h2load(server.address, &token, length, clients_wanted) {
        println!(
            "{:<46} {rate:>9.0} calls/s",
            "GetUnit over gRPC, from h2load"
        );
        println!(
            "ratio to the SQL with h2load as the client: {:.2}x",
            rate / sql
        );
    }
    let per_client = Duration::from_secs_f64(clients_wanted as f64 / (max.rate() / 2.0));
    let half = get_unit_load(&clients, &token, length, Some(per_client)).await;
    half.print("GetUnit at half that rate");
    println!(
        "ratio to the SQL: {:.2}x (target >= 0.6x); p99 at half load {:.2} ms (target < 10 ms)",
        max.rate() / sql,
        half.latency.value_at_quantile(0.99) as f64 / 1000.0
    );
}
