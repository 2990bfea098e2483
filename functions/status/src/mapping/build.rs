//! A CodeBuild build's commit status.

use super::duration::human;
use super::links::build_console_url;
use super::report;
use super::settle::settled_build_status;
use super::snapshot::{BuildSnapshot, Decision, Post};
use super::source::build_commit;
use crate::event::{BuildChange, Origin};
use aws_sdk_codebuild::types::StatusType;
use gantry_core::github::{CommitStatus, StatusState};

pub fn for_build(
    change: &BuildChange,
    build: &BuildSnapshot,
    context: String,
    origin: &Origin,
) -> Decision {
    let (repository, commit) = match build_commit(change, build) {
        Ok(found) => found,
        Err(reason) => return Decision::Ignore(reason),
    };

    let after = build
        .duration
        .map(|d| format!(" after {}", human(d)))
        .unwrap_or_default();
    let phase = failed_phase(build).unwrap_or("an unknown phase");
    let settled = settled_build_status(&change.build_status, &build.status);
    let (state, description) = match &settled {
        StatusType::InProgress => (
            StatusState::Pending,
            match build.current_phase.as_deref() {
                Some(phase) => format!("Build in progress ({phase})"),
                None => "Build in progress".to_owned(),
            },
        ),
        StatusType::Succeeded => (
            StatusState::Success,
            format!(
                "Build succeeded{}",
                build
                    .duration
                    .map(|d| format!(" in {}", human(d)))
                    .unwrap_or_default()
            ),
        ),
        StatusType::Failed => (
            StatusState::Failure,
            format!("Build failed in phase {phase}{after}"),
        ),
        StatusType::TimedOut => (
            StatusState::Failure,
            format!("Build timed out in phase {phase}{after}"),
        ),
        StatusType::Fault => (
            StatusState::Error,
            format!("Build faulted (CodeBuild error) in phase {phase}{after}"),
        ),
        StatusType::Stopped => (StatusState::Error, format!("Build stopped{after}")),
        other => (
            StatusState::Error,
            format!("Build ended in state {}{after}", other.as_str()),
        ),
    };
    let target_url = build.logs_link.clone().or_else(|| {
        change
            .additional_information
            .logs
            .as_ref()
            .and_then(|logs| logs.deep_link.clone())
    });
    let target_url = target_url.unwrap_or_else(|| build_console_url(build, origin));
    Decision::Post(Post {
        repository,
        commit,
        check: Box::new(report::for_build(build, &settled, &description)),
        status: CommitStatus::new(state, context, &description, Some(target_url)),
    })
}

/// The phase that failed, or else the one the build was in.
fn failed_phase(build: &BuildSnapshot) -> Option<&str> {
    build
        .phases
        .iter()
        .find(|p| match &p.status {
            Some(StatusType::Failed | StatusType::Fault | StatusType::TimedOut) => true,
            // CLIENT_ERROR is no `StatusType`: the SDK reads it as an unknown value.
            Some(other) => other.as_str() == "CLIENT_ERROR",
            None => false,
        })
        .map(|p| p.phase.as_str())
        .or(build.current_phase.as_deref())
}

/// A stopped build's decision with the reason Gantry stopped it
/// (`Superseded by 6113728`), which CodeBuild does not keep, in its
/// description and title.
pub fn with_stop_reason(decision: Decision, reason: &str) -> Decision {
    decision.described_as(|described| format!("{described}: {}", reason.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{BuildInformation, BuildLogs, BuildSource};
    use crate::mapping::fixtures::*;

    #[test]
    fn a_github_build_maps_to_a_status_with_its_logs() {
        let build = documented_build(1);
        let post = posted(for_build(
            &change(&build),
            &build,
            "gantry/codebuild-demo-project".into(),
            &origin(),
        ));
        assert_eq!(post.repository.as_str(), "my-repo/codebuild-demo-project");
        assert_eq!(post.commit.as_str(), SHA);
        assert_eq!(post.status.state, StatusState::Success);
        assert_eq!(post.status.description, "Build succeeded in 1m 14s");
        assert_eq!(post.status.context, "gantry/codebuild-demo-project");
        assert_eq!(post.status.target_url, build.logs_link);
    }

    #[test]
    fn a_stop_reason_follows_what_codebuild_says() {
        let build = BuildSnapshot {
            status: StatusType::Stopped,
            ..documented_build(1)
        };
        let stopped = for_build(&change(&build), &build, "gantry/demo".into(), &origin());
        let post = posted(with_stop_reason(stopped, "Superseded by a10867b"));
        assert_eq!(
            post.status.description,
            "Build stopped after 1m 14s: Superseded by a10867b"
        );
        assert_eq!(post.status.state, StatusState::Error);
        assert_eq!(
            post.check.title.as_deref(),
            Some(post.status.description.as_str())
        );
    }

    #[test]
    fn build_state_table() {
        let base = documented_build(1);
        let cases = [
            (
                BuildSnapshot {
                    status: StatusType::InProgress,
                    current_phase: Some("BUILD".into()),
                    ..base.clone()
                },
                StatusState::Pending,
                "Build in progress (BUILD)",
            ),
            (
                with_failed_phase(base.clone(), StatusType::Failed, "BUILD"),
                StatusState::Failure,
                "Build failed in phase BUILD after 1m 14s",
            ),
            (
                with_failed_phase(base.clone(), StatusType::TimedOut, "BUILD"),
                StatusState::Failure,
                "Build timed out in phase BUILD after 1m 14s",
            ),
            (
                with_failed_phase(base.clone(), StatusType::Fault, "PROVISIONING"),
                StatusState::Error,
                "Build faulted (CodeBuild error) in phase PROVISIONING after 1m 14s",
            ),
            (
                BuildSnapshot {
                    status: StatusType::Stopped,
                    ..base.clone()
                },
                StatusState::Error,
                "Build stopped after 1m 14s",
            ),
        ];
        for (build, state, description) in cases {
            let post = posted(for_build(&change(&build), &build, "ctx".into(), &origin()));
            assert_eq!(
                (post.status.state, post.status.description.as_str()),
                (state, description)
            );
        }
    }

    #[test]
    fn the_event_supplies_a_github_source_the_build_read_lacks() {
        let build = BuildSnapshot {
            source_type: None,
            source_location: None,
            resolved_source_version: None,
            logs_link: None,
            log_stream: None,
            ..documented_build(1)
        };
        let mut event = change(&build);
        event.additional_information = BuildInformation {
            source: Some(BuildSource {
                source_type: "GITHUB_ENTERPRISE".into(),
                location: Some("https://ghe.example.com/octo-org/app.git".into()),
            }),
            source_version: Some(SHA.into()),
            logs: Some(BuildLogs { deep_link: None }),
        };
        let post = posted(for_build(&event, &build, "c".into(), &origin()));
        assert_eq!(post.repository.as_str(), "octo-org/app");
        // No logs link anywhere: the build's console page.
        let expected = format!(
            "https://us-west-2.console.aws.amazon.com/codesuite/codebuild/123456789012/projects/codebuild-demo-project/build/{}/?region=us-west-2",
            build.id.replace(':', "%3A")
        );
        assert_eq!(post.status.target_url, Some(expected));
    }
}
