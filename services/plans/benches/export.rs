//! XLSX export time for progress tables of a city's plan (1,089 assignments, as 通辽's) and of a
//! province-wide one (20,000), against writing the same cells as tab-separated text in the same
//! run. Run: `cargo bench -p fazhi-plans --bench export`.

use std::collections::HashMap;
use std::time::Instant;

use chrono::{NaiveDate, Utc};
use fazhi_plans::domain::{Assignment, AssignmentState, PlanId, ProgressStatus, Role};
use fazhi_plans::export::{Cell, progress, to_xlsx};

fn assignments(count: usize) -> Vec<Assignment> {
    let due = NaiveDate::from_ymd_opt(2020, 3, 31).unwrap_or_default();
    (0..count)
        .map(|index| Assignment {
            id: format!("a-{index}"),
            plan: PlanId::from_trusted("p-bench".to_owned()),
            task_id: format!("t{}", index % 45 + 1),
            task_number: format!("{}", index % 45 + 1),
            task_title: "全面推行行政执法公示制度、执法全过程记录制度、重大执法决定法制审核制度"
                .to_owned(),
            unit: format!("unit-{}", index % 300),
            role: [Role::Lead, Role::Responsible, Role::Participating][index % 3],
            mention: "旗县市区".to_owned(),
            state: [
                AssignmentState::Open,
                AssignmentState::Claimed,
                AssignmentState::Completed,
            ][index % 3],
            create_time: Utc::now(),
            work_plan: None,
            claim_time: None,
            claimed_by: None,
            revision: 1,
            due_date: Some(due),
            progress: (index % 2 == 0).then(|| (ProgressStatus::InProgress, 40, Utc::now())),
        })
        .collect()
}

fn main() {
    const RUNS: u32 = 5;
    let names: HashMap<String, String> = (0..300)
        .map(|index| (format!("unit-{index}"), format!("通辽市第{index}局")))
        .collect();
    let as_of = NaiveDate::from_ymd_opt(2020, 6, 30).unwrap_or_default();
    println!(
        "{:>12} {:>12} {:>12} {:>14}",
        "assignments", "xlsx", "bytes", "tsv baseline"
    );
    for count in [1_089, 20_000] {
        let rows = assignments(count);
        let table = progress(
            "通辽市2020年度法治政府建设工作实施方案",
            &rows,
            &names,
            as_of,
        );
        let started = Instant::now();
        let mut size = 0;
        for _ in 0..RUNS {
            size = to_xlsx(std::hint::black_box(&table))
                .map(|bytes| bytes.len())
                .unwrap_or_default();
        }
        let xlsx = started.elapsed() / RUNS;
        let started = Instant::now();
        for _ in 0..RUNS {
            let text: String = table
                .rows
                .iter()
                .map(|row| {
                    row.iter()
                        .map(|cell| match cell {
                            Cell::Text(text) => text.clone(),
                            Cell::Number(number) => number.to_string(),
                        })
                        .collect::<Vec<_>>()
                        .join("\t")
                })
                .collect::<Vec<_>>()
                .join("\n");
            std::hint::black_box(text);
        }
        let tsv = started.elapsed() / RUNS;
        println!(
            "{count:>12} {:>9.1} ms {size:>12} {:>11.2} ms",
            xlsx.as_secs_f64() * 1e3,
            tsv.as_secs_f64() * 1e3
        );
    }
}
