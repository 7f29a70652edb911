//! Plans reads at the scale of a province-wide plan: 45 tasks given to 450 units (20,250
//! assignments), timed against a `SELECT 1` round trip on the same pool. Run:
//! `cargo bench -p fazhi-plans --bench store` (needs the test Postgres, see docs/testing.md).

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::time::Instant;

use chrono::NaiveDate;
use fazhi_plans::Store;
use fazhi_plans::domain::import::parse;
use fazhi_plans::domain::{AssignmentFilter, NewAssignment, PlanId, Role, draft, task_deadline};
use fazhi_testkit::TestDatabase;
use fazhi_testkit::bench::{round_trip, time};

const UNITS: usize = 450;
/// Units leading some tasks (the first ten each lead four or five).
const LEADS: usize = 10;

#[tokio::main]
async fn main() {
    let database = TestDatabase::migrated(fazhi_plans::store::SCHEMA, &fazhi_plans::MIGRATOR).await;
    let store = Store::new(database.pool.clone());
    let text = include_str!("../../../crates/fazhi/demo/plans/tongliao-2020.txt");
    // The store's writes, in a transaction of the bench's own (no audit or request id needed).
    let mut transaction = database.pool.begin().await.unwrap();
    let plan = fazhi_plans::store::insert_draft(
        &mut transaction,
        &draft(
            PlanId::generate(),
            "p".to_owned(),
            parse(text),
            &HashMap::new(),
        ),
    )
    .await
    .unwrap()
    .response;
    transaction.commit().await.unwrap();
    let tasks = store.all_tasks(&plan.id).await.unwrap();
    let fallback = NaiveDate::from_ymd_opt(2020, 12, 31);
    let mut assignments = Vec::new();
    for (index, task) in tasks.iter().enumerate() {
        let due_date = task_deadline(task).or(fallback);
        assignments.push(NewAssignment {
            task_id: task.id.clone(),
            unit: format!("u{}", index % LEADS),
            role: Role::Lead,
            mention: "牵头".to_owned(),
            due_date,
        });
        assignments.extend((0..UNITS).map(|unit| NewAssignment {
            task_id: task.id.clone(),
            unit: format!("u{unit}"),
            role: Role::Responsible,
            mention: "旗县市区".to_owned(),
            due_date,
        }));
    }
    let started = Instant::now();
    let mut transaction = database.pool.begin().await.unwrap();
    let (plan, count) = fazhi_plans::store::publish(
        &mut transaction,
        &plan,
        NaiveDate::from_ymd_opt(2020, 3, 1).unwrap(),
        &assignments,
    )
    .await
    .unwrap()
    .response;
    transaction.commit().await.unwrap();
    println!(
        "publish: {count} assignments with an event each, one transaction: {:.2} s",
        started.elapsed().as_secs_f64()
    );
    sqlx::query("ANALYZE")
        .execute(&database.pool)
        .await
        .unwrap();

    let as_of = NaiveDate::from_ymd_opt(2020, 9, 1).unwrap();
    let region: Vec<String> = (0..UNITS).map(|unit| format!("u{unit}")).collect();
    let first_page = |filter: AssignmentFilter<'static>| {
        let store = store.clone();
        async move {
            store
                .list_assignments(filter, None, 200)
                .await
                .unwrap()
                .items
                .len()
        }
    };
    let timings = vec![
        round_trip(&database.pool).await,
        time("a unit's assignments (page of 200)", 100, || {
            first_page(AssignmentFilter {
                unit: Some("u7"),
                ..AssignmentFilter::default()
            })
        })
        .await,
        time("the lead unit's view (page of 200)", 100, || {
            first_page(AssignmentFilter {
                led_by: Some("u3"),
                ..AssignmentFilter::default()
            })
        })
        .await,
        time("overdue of a unit", 100, || async {
            store
                .list_overdue(as_of, Some(&region[7..8]), None, None, 200)
                .await
                .unwrap()
                .items
                .len()
        })
        .await,
        time(
            "overdue of a region of 450 units (page 200)",
            50,
            || async {
                store
                    .list_overdue(as_of, Some(&region), None, None, 200)
                    .await
                    .unwrap()
                    .items
                    .len()
            },
        )
        .await,
        time("overdue of the plan (page of 200)", 50, || async {
            store
                .list_overdue(as_of, None, Some(&plan.id), None, 200)
                .await
                .unwrap()
                .items
                .len()
        })
        .await,
        time("all assignments, pages of 1000 (export)", 5, || async {
            let mut total = 0;
            let mut after = None;
            loop {
                let filter = AssignmentFilter {
                    plan: Some(&plan.id),
                    ..AssignmentFilter::default()
                };
                let page = store.list_assignments(filter, after, 1000).await.unwrap();
                total += page.items.len();
                match page.next {
                    Some(next) => after = Some(next),
                    None => return total,
                }
            }
        })
        .await,
    ];
    for timing in &timings {
        timing.print();
    }
}
