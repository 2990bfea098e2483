//! Plans a prune of 1,000,000 listed objects once and prints the CPU time and
//! the process's peak resident memory, listing included (`scripts/bench`).

use pruner::plan::{plan, synthetic_history};
use std::collections::HashSet;
use std::time::Instant;

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn main() {
    let objects: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000);
    let baseline = peak_rss_kib();
    let (rule, versions, now) = synthetic_history(objects);
    let listed = peak_rss_kib();
    let protected: HashSet<String> = versions
        .iter()
        .step_by(100_000)
        .map(|v| v.key.to_string())
        .collect();
    let started = Instant::now();
    let planned = plan(&rule, versions, &protected, now);
    let elapsed = started.elapsed();
    println!(
        "{{\"objects\": {objects}, \"plan_ms\": {:.1}, \"deleted\": {}, \"peak_rss_mib\": {:.1}, \"listing_rss_mib\": {:.1}, \"baseline_rss_mib\": {:.1}}}",
        elapsed.as_secs_f64() * 1000.0,
        planned.delete.len(),
        peak_rss_kib() as f64 / 1024.0,
        listed as f64 / 1024.0,
        baseline as f64 / 1024.0
    );
}
