//! The pure decision: the current state of a build or pipeline execution (read
//! from AWS, never taken from the event alone, so a late event cannot turn a
//! finished status back to pending) in, the GitHub commit status to post out.
//!
//! - `snapshot`: what the decision is made on, and the decision itself;
//! - `settle`: which state counts when the event and the read disagree;
//! - `source`: which repository and commit the status is for;
//! - `build`, `pipeline`: the status of a build, an execution or a stage;
//! - `links`, `duration`: console links and durations as the statuses show them;
//! - `report`: a check run's conclusion and summary, and its request;
//! - `tests_section`: a build's test results in its check run, with annotations;
//! - `junit`: where the raw JUnit XML of a report says each test is;
//! - `log_section`: the last lines of a failed build's log, as its check run's text.

mod build;
mod duration;
#[cfg(test)]
mod fixtures;
pub mod junit;
mod links;
pub mod log_section;
mod pipeline;
pub mod report;
mod settle;
mod snapshot;
mod source;
pub mod tests_section;

pub use build::{for_build, with_stop_reason as with_build_stop_reason};
pub use duration::human;
pub use pipeline::{for_pipeline, for_stage, with_stop_reason as with_execution_stop_reason};
pub use settle::{latest_attempts, settled_build_status, settled_execution_status};
pub use snapshot::{
    ActionSnapshot, BuildSnapshot, CheckReport, Decision, DeclaredStage, ExecutionSnapshot,
    FailedTest, LogStream, PhaseSnapshot, Post, RevisionSnapshot, TestReport,
};

#[cfg(test)]
mod tests {
    use super::fixtures::*;
    use super::*;
    use aws_sdk_codebuild::types::StatusType;
    use gantry_core::github::StatusState;
    use serde_json::Value;

    /// The state-change samples in `events/status/` (AWS's documented events and
    /// those derived from them, one per state), through parse and mapping, give
    /// the GitHub states of the README's tables.
    #[test]
    fn every_sample_state_change_maps_as_documented() {
        use crate::event::{parse, StateChange};
        let dir = format!("{}/../../events/status", env!("CARGO_MANIFEST_DIR"));
        let mut seen = Vec::new();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            let event: aws_lambda_events::eventbridge::EventBridgeEvent<Value> =
                serde_json::from_value(sample(&name)).unwrap_or_else(|_| {
                    // API responses live beside the events.
                    aws_lambda_events::eventbridge::EventBridgeEvent::default()
                });
            let Ok(Some((parsed, origin))) = parse(event) else {
                continue;
            };
            let state = match &parsed {
                StateChange::Build(event) => {
                    let mut build =
                        with_failed_phase(documented_build(1), StatusType::Failed, "BUILD");
                    build.status = StatusType::from(event.build_status.as_str());
                    let mut github_event = change(&build);
                    github_event.build_status = event.build_status.clone();
                    let expected = match event.build_status.as_str() {
                        "IN_PROGRESS" => StatusState::Pending,
                        "SUCCEEDED" => StatusState::Success,
                        "FAILED" | "TIMED_OUT" => StatusState::Failure,
                        "FAULT" | "STOPPED" => StatusState::Error,
                        other => panic!("{name}: no row for {other}"),
                    };
                    // Also when the read lags the event and still says IN_PROGRESS.
                    let mut lagging = build.clone();
                    lagging.status = StatusType::InProgress;
                    for read in [&build, &lagging] {
                        let post = posted(for_build(&github_event, read, "c".into(), &origin));
                        assert_eq!(post.status.state, expected, "{name}");
                    }
                    event.build_status.clone()
                }
                StateChange::Pipeline(event) => {
                    let (read, expected) = match event.state.as_str() {
                        "STARTED" | "RESUMED" => ("InProgress", StatusState::Pending),
                        "STOPPING" => ("Stopping", StatusState::Pending),
                        "SUCCEEDED" => ("Succeeded", StatusState::Success),
                        "FAILED" => ("Failed", StatusState::Failure),
                        "STOPPED" => ("Stopped", StatusState::Error),
                        "SUPERSEDED" => ("Superseded", StatusState::Error),
                        "CANCELED" => ("Cancelled", StatusState::Error),
                        other => panic!("{name}: no row for {other}"),
                    };
                    for read in [read, "InProgress"] {
                        let mut snapshot = execution(read);
                        snapshot.status = settled_execution_status(&event.state, &read.into());
                        let post = posted(for_pipeline(&snapshot, None, "c".into(), &origin));
                        assert_eq!(post.status.state, expected, "{name} read as {read}");
                    }
                    event.state.clone()
                }
                StateChange::Stage(event) => {
                    let expected = match event.state.as_str() {
                        "STARTED" | "RESUMED" | "STOPPING" => StatusState::Pending,
                        "SUCCEEDED" => StatusState::Success,
                        "FAILED" => StatusState::Failure,
                        "STOPPED" | "CANCELED" => StatusState::Error,
                        other => panic!("{name}: no row for {other}"),
                    };
                    let post = posted(for_stage(
                        event,
                        &execution("InProgress"),
                        Some(&[]),
                        None,
                        "ci".into(),
                        &origin,
                    ));
                    assert_eq!(post.status.state, expected, "{name}");
                    assert_eq!(post.status.context, "ci/Deploy");
                    event.state.clone()
                }
                StateChange::BuildPhase { .. } | StateChange::Action { .. } => continue,
            };
            seen.push(format!("{}:{state}", name.split('.').next().unwrap()));
        }
        seen.sort();
        for expected in [
            "codebuild:IN_PROGRESS",
            "codebuild:SUCCEEDED",
            "codebuild:FAILED",
            "codebuild:STOPPED",
            "codebuild:TIMED_OUT",
            "codebuild:FAULT",
        ] {
            assert!(
                seen.iter().any(|s| s == expected),
                "no sample for {expected}: {seen:?}"
            );
        }
        // Pipelines: 7 states and STOPPING; stages: 6 states and STOPPING.
        assert_eq!(
            seen.iter()
                .filter(|s| s.starts_with("codepipeline"))
                .count(),
            15,
            "{seen:?}"
        );
    }
}
