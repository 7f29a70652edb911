//! Parse throughput on the fixture plans and three test layouts, against a pass that only
//! normalises (NFKC and line splitting) the same text in the same run. Run: `cargo bench -p fazhi-plans --bench parse`.

use std::time::{Duration, Instant};

use fazhi_plans::domain::import::parse;
use unicode_normalization::UnicodeNormalization;

fn throughput(bytes: usize, elapsed: Duration, runs: u32) -> f64 {
    bytes as f64 * f64::from(runs) / elapsed.as_secs_f64() / 1e6
}

fn main() {
    const RUNS: u32 = 200;
    println!(
        "{:<24} {:>8} {:>6} {:>12} {:>16} {:>12}",
        "fixture", "bytes", "tasks", "parse", "parse MB/s", "NFKC MB/s"
    );
    // The real plans, then the layouts of the importer's tests (their page-chunk preview is
    // the one the re-lining layer works hardest on).
    let layouts = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/layouts");
    let mut documents: Vec<(String, String)> = fazhi_testkit::demo::PLAN_FILES
        .iter()
        .map(|name| (name.to_string(), fazhi_testkit::demo::plan_text(name)))
        .collect();
    for name in [
        "shared-preview-chunks.txt",
        "closing-brackets.txt",
        "task-ledger-table.txt",
    ] {
        let text = std::fs::read_to_string(format!("{layouts}/{name}")).expect("a test layout");
        documents.push((name.to_owned(), text));
    }
    for (name, text) in &documents {
        let text = text.as_str();
        let tasks = parse(text).tasks.len();
        let started = Instant::now();
        for _ in 0..RUNS {
            std::hint::black_box(parse(std::hint::black_box(text)));
        }
        let parsing = started.elapsed();
        let started = Instant::now();
        for _ in 0..RUNS {
            let lines: Vec<String> = text.lines().map(|line| line.nfkc().collect()).collect();
            std::hint::black_box(lines);
        }
        let normalising = started.elapsed();
        println!(
            "{name:<24} {:>8} {tasks:>6} {:>9.2} ms {:>16.2} {:>12.2}",
            text.len(),
            parsing.as_secs_f64() * 1e3 / f64::from(RUNS),
            throughput(text.len(), parsing, RUNS),
            throughput(text.len(), normalising, RUNS)
        );
    }
}
