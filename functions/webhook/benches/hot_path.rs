//! The webhook's hot path (verify the signature, then parse and decide) on a
//! typical push and on one of GitHub's 25 MB maximum, against the floor: raw
//! HMAC-SHA256 plus raw `serde_json` over the same bytes, in the same run.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use gantry_core::ids::DeliveryId;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use std::hint::black_box;
use webhook::payload::{decide, EventName};
use webhook::signature::{sign, verify};

const SECRET: &[u8] = b"gantry-bench-secret";

fn push_payload() -> Vec<u8> {
    let path = format!(
        "{}/../../events/github/push.with-new-branch.payload.json",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(path).expect("push sample")
}

/// The push sample grown to `target` bytes with more commits, as a push of
/// many commits with many changed files would be.
fn large_push(target: usize) -> Vec<u8> {
    let mut payload: serde_json::Value = serde_json::from_slice(&push_payload()).expect("json");
    let template = payload["commits"][0].clone();
    let mut commits = Vec::new();
    let mut size = 0;
    let mut i = 0;
    while size < target {
        let mut commit = template.clone();
        commit["id"] = format!("{i:040x}").into();
        commit["modified"] = (0..40)
            .map(|f| format!("src/module_{i}/file_{f}.rs"))
            .collect();
        size += serde_json::to_vec(&commit).map(|c| c.len()).unwrap_or(0);
        commits.push(commit);
        i += 1;
    }
    payload["commits"] = commits.into();
    serde_json::to_vec(&payload).expect("json")
}

fn hot_path(c: &mut Criterion) {
    let delivery = DeliveryId::parse("72d3162e-cc78-11e3-81ab-4c9367dc0958").expect("id");
    let mut group = c.benchmark_group("webhook");
    for (name, body) in [
        ("typical push", push_payload()),
        ("25 MB push", large_push(25 * 1024 * 1024 - 4096)),
    ] {
        let header = sign(SECRET, &body);
        group.throughput(Throughput::Bytes(body.len() as u64));
        if body.len() > 1_000_000 {
            group.sample_size(10);
        }
        group.bench_with_input(
            BenchmarkId::new("verify+parse+decide", name),
            &body,
            |b, body| {
                b.iter(|| {
                    verify([SECRET], black_box(body), Some(&header)).expect("signed");
                    decide(&EventName::Push, &delivery, black_box(body)).expect("decided")
                })
            },
        );
        group.bench_with_input(
            BenchmarkId::new("floor: hmac+serde_json::Value", name),
            &body,
            |b, body| {
                b.iter(|| {
                    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET).expect("key");
                    mac.update(black_box(body));
                    let digest = mac.finalize().into_bytes();
                    let value: serde_json::Value =
                        serde_json::from_slice(black_box(body)).expect("json");
                    (digest, value)
                })
            },
        );
        group.bench_with_input(
            BenchmarkId::new("floor: hmac+serde_json::IgnoredAny", name),
            &body,
            |b, body| {
                b.iter(|| {
                    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET).expect("key");
                    mac.update(black_box(body));
                    let digest = mac.finalize().into_bytes();
                    let value: serde::de::IgnoredAny =
                        serde_json::from_slice(black_box(body)).expect("json");
                    (digest, value)
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, hot_path);
criterion_main!(benches);
