//! Planning a prune of 1,000,000 listed objects (CPU time; peak memory is
//! measured by `scripts/bench` around the `plan_million` example).

use criterion::{criterion_group, criterion_main, Criterion};
use pruner::plan::plan;
use std::collections::HashSet;

fn million(c: &mut Criterion) {
    let (rule, versions, now) = pruner::plan::synthetic_history(1_000_000);
    let protected: HashSet<String> = versions
        .iter()
        .step_by(100_000)
        .map(|v| v.key.to_string())
        .collect();
    let mut group = c.benchmark_group("pruner");
    group.sample_size(10);
    group.bench_function("plan 1,000,000 objects", |b| {
        b.iter_batched(
            || versions.clone(),
            |versions| plan(&rule, versions, &protected, now),
            criterion::BatchSize::LargeInput,
        )
    });
    group.finish();
}

criterion_group!(benches, million);
criterion_main!(benches);
