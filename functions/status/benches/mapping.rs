//! The status mapping: a documented build state-change event parsed and mapped
//! to a commit status.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use aws_sdk_codebuild::types::StatusType;
use criterion::{criterion_group, criterion_main, Criterion};
use status::event::{parse, StateChange};
use status::mapping::{for_build, BuildSnapshot, PhaseSnapshot};
use std::hint::black_box;
use std::time::Duration;

fn mapping(c: &mut Criterion) {
    let path = format!(
        "{}/../../events/status/codebuild.docs.build-state-change.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(path).expect("sample");
    let snapshot = BuildSnapshot {
        id: "my-sample-project:8745a7a9-c340-456a-9166-edf953571bEX".into(),
        project: "my-sample-project".into(),
        status: StatusType::Failed,
        source_type: Some("GITHUB".into()),
        source_location: Some("https://github.com/octo-org/app.git".into()),
        resolved_source_version: Some("f2194c1757bbdcb0f8f229254a4b3c8b27d43e0b".into()),
        phases: [
            "SUBMITTED",
            "PROVISIONING",
            "DOWNLOAD_SOURCE",
            "INSTALL",
            "BUILD",
        ]
        .iter()
        .map(|p| PhaseSnapshot {
            phase: (*p).into(),
            status: Some(if *p == "BUILD" {
                StatusType::Failed
            } else {
                StatusType::Succeeded
            }),
            duration: Some(Duration::from_secs(9)),
        })
        .collect(),
        current_phase: None,
        source_version: None,
        environment: Vec::new(),
        duration: Some(Duration::from_secs(117)),
        logs_link: None,
        log_stream: None,
        report_arns: Vec::new(),
    };
    c.bench_function("status: parse event + map build", |b| {
        b.iter(|| {
            let event: EventBridgeEvent<serde_json::Value> =
                serde_json::from_str(black_box(&text)).expect("event");
            let Some((StateChange::Build(change), origin)) = parse(event).expect("parsed") else {
                unreachable!("a build state change")
            };
            for_build(&change, black_box(&snapshot), "gantry/app".into(), &origin)
        })
    });
}

criterion_group!(benches, mapping);
criterion_main!(benches);
