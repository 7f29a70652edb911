//! Timing database operations in benchmarks: samples after a warm-up, printed as mean and p95.

use std::time::{Duration, Instant};

/// One operation's samples.
pub struct Timing {
    name: &'static str,
    samples: Vec<Duration>,
    rows: usize,
}

impl Timing {
    pub fn print(&self) {
        let mut sorted = self.samples.clone();
        sorted.sort();
        let Some(last) = sorted.len().checked_sub(1) else {
            return;
        };
        let mean = sorted.iter().sum::<Duration>() / sorted.len() as u32;
        let p95 = sorted[(sorted.len() * 95 / 100).min(last)];
        println!(
            "{:<44} {:>9.2} ms mean {:>9.2} ms p95 {:>8} rows  ({} runs)",
            self.name,
            mean.as_secs_f64() * 1e3,
            p95.as_secs_f64() * 1e3,
            self.rows,
            sorted.len()
        );
    }
}

/// Runs an operation once to warm up, then `runs` times; the operation returns its row count.
pub async fn time<F, Fut>(name: &'static str, runs: usize, mut operation: F) -> Timing
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = usize>,
{
    let mut rows = operation().await;
    let mut samples = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        rows = operation().await;
        samples.push(started.elapsed());
    }
    Timing {
        name,
        samples,
        rows,
    }
}

/// The floor every database operation is compared with: a `SELECT 1` round trip on the pool.
pub async fn round_trip(pool: &sqlx::PgPool) -> Timing {
    time("baseline: SELECT 1 round trip", 200, || async {
        sqlx::query("SELECT 1").execute(pool).await.unwrap();
        1
    })
    .await
}
