//! Parse throughput on the fixture plans and three test layouts, against a pass that only
//! normalises (NFKC and line splitting) the same text in the same run. Run: `cargo bench -p fazhi-plans --bench parse`.

use std::time::{Duration, Instant};

use fazhi_plans::domain::import::parse;
use unicode_normalization::UnicodeNormalization;

fn throughput(bytes: usize, elapsed: Duration, runs: u32) -> f64 {
    bytes as f64 * f64::from(runs) / elapsed.as_secs_f64() / 1e6
}

fn main() {
    const RUNS: u32 = 100;
    println!(
        "{:<30} {:>8} {:>6} {:>12} {:>16} {:>12}",
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
    // The worst case for re-lining: one line of 3 MB without a full stop, a candidate item every
    // few characters — the cost per candidate is bounded, so this stays linear.
    let one_line: String = (1..=60_000)
        .map(|number| format!("牵头单位:县司法局{} .推进工作", number % 999 + 1))
        .collect();
    documents.push(("one line, no full stop".to_owned(), one_line));
    for (name, text) in &documents {
        let text = text.as_str();
        let tasks = parse(text).tasks.len();
        // About as many bytes for each document: fewer runs of the large one.
        let runs = (RUNS as usize * 25_000 / text.len()).clamp(3, RUNS as usize) as u32;
        let started = Instant::now();
        for _ in 0..runs {
            std::hint::black_box(parse(std::hint::black_box(text)));
        }
        let parsing = started.elapsed();
        let started = Instant::now();
        for _ in 0..runs {
            let lines: Vec<String> = text.lines().map(|line| line.nfkc().collect()).collect();
            std::hint::black_box(lines);
        }
        let normalising = started.elapsed();
        println!(
            "{name:<30} {:>8} {tasks:>6} {:>9.2} ms {:>16.2} {:>12.2}",
            text.len(),
            parsing.as_secs_f64() * 1e3 / f64::from(runs),
            throughput(text.len(), parsing, runs),
            throughput(text.len(), normalising, runs)
        );
    }
}
