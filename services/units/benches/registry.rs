//! Registry reads at scale: a generated province of ~32,000 units
//! (`fazhi_testkit::demo::Province::STANDARD`), timed against a `SELECT 1` round trip on the
//! same pool. Run: `cargo bench -p fazhi-units --bench registry` (needs the test Postgres, see
//! docs/testing.md).

#![allow(clippy::unwrap_used)]

use std::time::Instant;

use chrono::NaiveDate;
use fazhi_platform::call::{CallContext, Credentials};
use fazhi_testkit::TestDatabase;
use fazhi_testkit::bench::{round_trip, time};
use fazhi_units::domain::UnitId;
use fazhi_units::registry_file::Format;
use fazhi_units::{Store, UnitRegistry};

const DEPARTMENTS: usize = fazhi_testkit::demo::Province::STANDARD.departments;

#[tokio::main]
async fn main() {
    let database = TestDatabase::migrated(fazhi_units::store::SCHEMA, &fazhi_units::MIGRATOR).await;
    let store = Store::new(database.pool.clone());
    let registry = UnitRegistry::new(store.clone());
    let (yaml, count) = fazhi_testkit::demo::Province::STANDARD.registry_yaml();
    let context = CallContext::system("bench", Credentials::default());
    let started = Instant::now();
    registry
        .import(&context, Format::Yaml, yaml.as_bytes(), false)
        .await
        .unwrap();
    println!(
        "import of {count} units (one transaction): {:.1} s",
        started.elapsed().as_secs_f64()
    );
    sqlx::query("ANALYZE")
        .execute(&database.pool)
        .await
        .unwrap();

    let day = NaiveDate::from_ymd_opt(2024, 6, 1).unwrap();
    let id = |text: &str| UnitId::parse("id", text).unwrap();
    let village = id("c7-k3-t5-v2");
    let county = id("c7-k3");
    let city = id("c7");
    let province = id("p");
    let townships = fazhi_units::domain::UnitGroupId::parse("id", "townships").unwrap();
    let mentions: Vec<String> = (0..40)
        .map(|index| format!("县第{}局", index % DEPARTMENTS))
        .chain(["各乡镇、街道".to_owned()])
        .collect();

    let timings = vec![
        round_trip(&database.pool).await,
        time("GetUnit (as of a day)", 200, || async {
            usize::from(
                store
                    .get_unit(&village, Some(day), day)
                    .await
                    .unwrap()
                    .is_some(),
            )
        })
        .await,
        time("ancestors of a village (depth 4)", 200, || async {
            store.ancestry(&village, day).await.unwrap().len()
        })
        .await,
        time("children of a county", 100, || async {
            store
                .descendants(&county, day, 1, None, 1000)
                .await
                .unwrap()
                .items
                .len()
        })
        .await,
        time("all below a county", 50, || async {
            store.all_descendants(&county, day).await.unwrap().len()
        })
        .await,
        time("all below a city", 20, || async {
            store.all_descendants(&city, day).await.unwrap().len()
        })
        .await,
        time("all below the province", 5, || async {
            store.all_descendants(&province, day).await.unwrap().len()
        })
        .await,
        time("expand 乡(镇、街道) of a county", 50, || async {
            registry
                .expand_group(&townships, Some(&county), (Some(day), day))
                .await
                .unwrap()
                .len()
        })
        .await,
        time("resolve 41 mentions for a county", 20, || async {
            registry
                .resolve_mentions(&county, &mentions, (Some(day), day))
                .await
                .unwrap()
                .iter()
                .filter(|r| r.target.is_some())
                .count()
        })
        .await,
    ];
    for timing in &timings {
        timing.print();
    }
}
