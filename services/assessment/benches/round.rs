//! Scoring a round at scale against its baseline, in the same run on the same database: 20,000
//! units in two peer groups, a scheme of 60 leaf criteria under 6 branches (target deductions,
//! per-occurrence deductions with a cap, shortfall deductions), inputs already frozen.
//! - engine: `score_round` (every unit scored with its trace, ranked per group) and
//!   `insert_round` (each unit's inputs and score written);
//! - baseline: one SQL statement computing the same points, totals and ranks from the same
//!   inputs in a table, written to a table.
//!
//! Run: `cargo bench -p fazhi-assessment --bench round` (needs the test Postgres).

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::{Duration, Instant};

use chrono::Utc;
use fazhi_assessment::domain::{
    Frozen, Input, Member, Round, RoundId, RoundKind, Scheme, SchemeId, Verdict, score_round,
};
use fazhi_assessment::store::ScoreRows;
use fazhi_testkit::TestDatabase;

const UNITS: usize = 20_000;
const BRANCHES: usize = 6;
const LEAVES: usize = 10;
const RUNS: usize = 3;

/// Leaf `k` (0..60): k % 3 == 0 a target deduction of 2, == 1 a count short of 4 at 0.5 each
/// capped at 1.5, == 2 a figure short of 90 at 1 per 10 points; each leaf worth 5 points.
fn scheme() -> Scheme {
    let mut yaml = String::from(
        "code: bench\ntitle: 基准方案\nyear: 2024\nowner_unit: p\nnormalise_to: 100
peer_groups:
  - {code: a, title: 甲组, unit_group: a}
  - {code: b, title: 乙组, unit_group: b}
grades:
  - {grade: excellent, min: 90}
  - {grade: good, min: 80}
  - {grade: pass, min: 60}
  - {grade: fail, min: 0}
criteria:\n",
    );
    for branch in 0..BRANCHES {
        writeln!(
            yaml,
            "  - code: '{branch}'\n    title: 一级{branch}\n    points: {}\n    children:",
            LEAVES * 5
        )
        .unwrap();
        for leaf in 0..LEAVES {
            let k = branch * LEAVES + leaf;
            let rule = match k % 3 {
                0 => format!("{{when: {{target: targets/t{k}}}, then: {{deduct: 2}}}}"),
                1 => format!(
                    "{{when: {{count: {{input: indicators/c{k}, at_least: 4}}}}, then: {{per_occurrence: {{deduct_each: 0.5, cap: 1.5}}}}}}"
                ),
                _ => format!(
                    "{{when: {{figure: {{input: indicators/f{k}, comparator: '>=', value: 90}}}}, then: {{shortfall: {{deduct_per_step: 1, step: 10}}}}}}"
                ),
            };
            writeln!(
                yaml,
                "      - {{code: '{branch}.{leaf}', title: 二级{k}, points: 5, rules: [{rule}]}}"
            )
            .unwrap();
        }
    }
    Scheme::from_yaml(&yaml).unwrap()
}

/// A deterministic value of input `k` for unit `u`: a verdict met 2 times in 3, a count 0–5, a
/// figure 60–100.
fn value(u: usize, k: usize) -> f64 {
    let mixed = (u * 7919 + k * 104_729) % 1000;
    match k % 3 {
        0 => f64::from(u8::from(!mixed.is_multiple_of(3))),
        1 => (mixed % 6) as f64,
        _ => 60.0 + (mixed % 41) as f64,
    }
}

fn inputs() -> (Vec<Member>, BTreeMap<String, BTreeMap<String, Frozen>>) {
    let members: Vec<Member> = (0..UNITS)
        .map(|u| Member {
            unit: format!("u{u}"),
            display_name: format!("单位{u}"),
            peer_group: if u.is_multiple_of(4) { "a" } else { "b" }.to_owned(),
        })
        .collect();
    let inputs = (0..UNITS)
        .map(|u| {
            let unit_inputs = (0..BRANCHES * LEAVES)
                .map(|k| {
                    let v = value(u, k);
                    let (name, input) = match k % 3 {
                        0 => (
                            format!("targets/t{k}"),
                            Input::Verdict {
                                verdict: if v == 1.0 {
                                    Verdict::Met
                                } else {
                                    Verdict::NotMet
                                },
                                value: None,
                                threshold: None,
                                explanation: String::new(),
                            },
                        ),
                        1 => (format!("indicators/c{k}"), Input::Number(v)),
                        _ => (format!("indicators/f{k}"), Input::Number(v)),
                    };
                    (
                        name.clone(),
                        Frozen {
                            input,
                            source: name,
                        },
                    )
                })
                .collect();
            (format!("u{u}"), unit_inputs)
        })
        .collect();
    (members, inputs)
}

/// The same points in one statement: per leaf its deduction from the pivoted inputs, per unit
/// the total normalised to 100, ranked per group.
fn baseline_sql() -> String {
    let mut columns = String::new();
    let mut points = Vec::new();
    for k in 0..BRANCHES * LEAVES {
        let deduction = match k % 3 {
            0 => format!("CASE WHEN max(value) FILTER (WHERE k = {k}) = 1 THEN 0 ELSE 2 END"),
            1 => format!(
                "LEAST(1.5, GREATEST(0, 4 - coalesce(max(value) FILTER (WHERE k = {k}), 0)) * 0.5)"
            ),
            _ => format!(
                "LEAST(5, GREATEST(0, 90 - coalesce(max(value) FILTER (WHERE k = {k}), '-infinity')) / 10)"
            ),
        };
        write!(columns, ", GREATEST(0, 5 - {deduction}) AS p{k}").unwrap();
        points.push(format!("p{k}"));
    }
    format!(
        "INSERT INTO bench_results (unit_id, total, rank)
         SELECT unit_id, total, rank() OVER (PARTITION BY peer_group ORDER BY total DESC)
         FROM (SELECT unit_id, peer_group, ({}) / {} * 100 AS total
               FROM (SELECT unit_id, peer_group {columns}
                     FROM bench_inputs GROUP BY unit_id, peer_group) leaves) totals",
        points.join(" + "),
        BRANCHES * LEAVES * 5
    )
}

#[tokio::main]
async fn main() {
    let database =
        TestDatabase::migrated(fazhi_assessment::store::SCHEMA, &fazhi_assessment::MIGRATOR).await;
    let pool = database.pool.clone();
    let scheme = scheme();
    let (members, frozen) = inputs();
    // A scheme version for the rounds to name, as CreateScheme leaves it.
    let mut connection = pool.acquire().await.unwrap();
    let scheme_id = SchemeId::from_trusted("bench".to_owned());
    let mut transaction = pool.begin().await.unwrap();
    fazhi_assessment::store::insert_scheme(&mut transaction, &scheme_id, &scheme)
        .await
        .unwrap();
    transaction.commit().await.unwrap();

    // The baseline's inputs: one row per unit and input, loaded once (not timed), in temporary
    // tables (the runtime role may not create tables; unlogged, they favour the baseline).
    sqlx::query(
        "CREATE TEMP TABLE bench_inputs (unit_id text, peer_group text, k int, value float8)",
    )
    .execute(&mut *connection)
    .await
    .unwrap();
    sqlx::query("CREATE TEMP TABLE bench_results (unit_id text, total float8, rank bigint)")
        .execute(&mut *connection)
        .await
        .unwrap();
    let (mut units, mut groups, mut ks, mut values) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (u, member) in members.iter().enumerate() {
        for k in 0..BRANCHES * LEAVES {
            units.push(member.unit.clone());
            groups.push(member.peer_group.clone());
            ks.push(i32::try_from(k).unwrap());
            values.push(value(u, k));
        }
    }
    sqlx::query("INSERT INTO bench_inputs SELECT * FROM UNNEST($1::text[], $2::text[], $3::int[], $4::float8[])")
        .bind(&units)
        .bind(&groups)
        .bind(&ks)
        .bind(&values)
        .execute(&mut *connection)
        .await
        .unwrap();
    sqlx::query("ANALYZE bench_inputs")
        .execute(&mut *connection)
        .await
        .unwrap();
    let sql = baseline_sql();

    let (mut engine, mut scoring, mut baseline) = (Vec::new(), Vec::new(), Vec::new());
    let mut checked = false;
    for run in 0..RUNS {
        let started = Instant::now();
        let (scored, rows) = {
            let (scheme, members, frozen) = (scheme.clone(), members.clone(), frozen.clone());
            tokio::task::spawn_blocking(move || {
                let scored = score_round(&scheme, &members, frozen);
                let rows = ScoreRows::of(&scored).unwrap();
                (scored, rows)
            })
            .await
            .unwrap()
        };
        let scored_in = started.elapsed();
        let round = Round {
            id: RoundId::from_trusted(format!("bench-{run}")),
            scheme: scheme_id.clone(),
            scheme_version: 1,
            owner_unit: "p".to_owned(),
            kind: RoundKind::Annual,
            period: "2024".to_owned(),
            unit_count: i32::try_from(scored.len()).unwrap(),
            input_count: i32::try_from(UNITS * BRANCHES * LEAVES).unwrap(),
            run_by: "bench".to_owned(),
            create_time: Utc::now(),
            publish_time: None,
            revision: 1,
            previous_round: None,
            revised_by: None,
            stale: None,
        };
        let mut transaction = pool.begin().await.unwrap();
        fazhi_assessment::store::insert_round(&mut transaction, &round, &rows)
            .await
            .unwrap();
        transaction.commit().await.unwrap();
        engine.push(started.elapsed());
        scoring.push(scored_in);

        let started = Instant::now();
        sqlx::query("TRUNCATE bench_results")
            .execute(&mut *connection)
            .await
            .unwrap();
        sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
            .execute(&mut *connection)
            .await
            .unwrap();
        baseline.push(started.elapsed());

        if !checked {
            // Both computed the same totals.
            let rows: Vec<(String, f64)> =
                sqlx::query_as("SELECT unit_id, total FROM bench_results")
                    .fetch_all(&mut *connection)
                    .await
                    .unwrap();
            let by_unit: BTreeMap<&str, f64> = scored
                .iter()
                .map(|unit| (unit.unit.as_str(), unit.score.total))
                .collect();
            for (unit, total) in &rows {
                assert!(
                    (by_unit[unit.as_str()] - total).abs() < 1e-6,
                    "{unit}: {} vs {total}",
                    by_unit[unit.as_str()]
                );
            }
            assert_eq!(rows.len(), UNITS);
            checked = true;
        }
    }
    let best = |times: &[Duration]| times.iter().min().copied().unwrap();
    let (engine, scoring, baseline) = (best(&engine), best(&scoring), best(&baseline));
    println!(
        "round of {UNITS} units × {} criteria (best of {RUNS}): engine {:.2} s (scoring and serialising {:.2} s, writing {:.2} s), SQL baseline {:.2} s: {:.2}× of the baseline's speed",
        BRANCHES * LEAVES,
        engine.as_secs_f64(),
        scoring.as_secs_f64(),
        (engine - scoring).as_secs_f64(),
        baseline.as_secs_f64(),
        baseline.as_secs_f64() / engine.as_secs_f64()
    );
}
