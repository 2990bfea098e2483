//! The pure decision: the current state of a build or pipeline execution (read
//! from AWS, never taken from the event alone, so a late event cannot turn a
//! finished status back to pending) in, the GitHub commit status to post out.

use crate::event::{BuildChange, Origin, StageChange};
use gantry_core::github::{CommitStatus, StatusState};
use gantry_core::ids::{CommitSha, RepoName};
use std::time::Duration;

/// A build as `BatchGetBuilds` reports it now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildSnapshot {
    pub id: String,
    pub project: String,
    pub status: String,
    pub source_type: Option<String>,
    pub source_location: Option<String>,
    pub resolved_source_version: Option<String>,
    pub source_version: Option<String>,
    pub environment: Vec<(String, String)>,
    pub phases: Vec<PhaseSnapshot>,
    pub current_phase: Option<String>,
    pub duration: Option<Duration>,
    pub logs_link: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhaseSnapshot {
    pub phase: String,
    pub status: Option<String>,
}

/// A pipeline execution as `GetPipelineExecution` reports it now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecutionSnapshot {
    pub pipeline: String,
    pub execution_id: String,
    pub status: String,
    pub variables: Vec<(String, String)>,
    pub revisions: Vec<RevisionSnapshot>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevisionSnapshot {
    pub revision_id: Option<String>,
    pub revision_url: Option<String>,
}

/// One action of the execution, as `ListActionExecutions` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionSnapshot {
    pub stage: String,
    pub action: String,
    pub status: String,
    pub summary: Option<String>,
    pub duration: Option<Duration>,
    /// When this attempt started (epoch seconds): a retried stage lists every attempt.
    pub started_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Post(Post),
    Ignore(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Post {
    pub repository: RepoName,
    pub commit: CommitSha,
    pub status: CommitStatus,
}

const GITHUB_SOURCES: [&str; 2] = ["GITHUB", "GITHUB_ENTERPRISE"];

const FINISHED_BUILD_STATES: [&str; 5] = ["SUCCEEDED", "FAILED", "FAULT", "STOPPED", "TIMED_OUT"];

/// The build state to report. A build's finished state is final, so when the
/// event says it finished and the read still says `IN_PROGRESS` (a read that
/// lags the event), the event is right: posting pending would leave the commit
/// pending for good, as no later event follows a finished build.
pub fn settled_build_status<'a>(event_status: &'a str, read_status: &'a str) -> &'a str {
    if read_status == "IN_PROGRESS" && FINISHED_BUILD_STATES.contains(&event_status) {
        event_status
    } else {
        read_status
    }
}

/// The execution status to report, by the same reasoning as for builds: a
/// finished-execution event wins over a read that still says `InProgress`. An
/// execution that is retried later sends its own `RESUMED` and finishing events,
/// which correct the commit again.
pub fn settled_execution_status(event_state: &str, read_status: &str) -> String {
    let finished = match event_state {
        "SUCCEEDED" => "Succeeded",
        "FAILED" => "Failed",
        "STOPPED" => "Stopped",
        "SUPERSEDED" => "Superseded",
        "CANCELED" => "Cancelled",
        _ => return read_status.to_owned(),
    };
    if matches!(read_status, "InProgress" | "Stopping") {
        finished.to_owned()
    } else {
        read_status.to_owned()
    }
}

/// The latest attempt of each action: `ListActionExecutions` also lists the
/// attempts of a stage before it was retried, whose failures no longer count.
pub fn latest_attempts(actions: Vec<ActionSnapshot>) -> Vec<ActionSnapshot> {
    let mut latest: Vec<ActionSnapshot> = Vec::with_capacity(actions.len());
    for action in actions {
        match latest
            .iter_mut()
            .find(|a| a.stage == action.stage && a.action == action.action)
        {
            Some(kept) if action.started_at > kept.started_at => *kept = action,
            Some(_) => {}
            None => latest.push(action),
        }
    }
    latest
}

pub fn for_build(
    change: &BuildChange,
    build: &BuildSnapshot,
    context: String,
    origin: &Origin,
) -> Decision {
    // The event and the build read describe the same source; the event's is
    // taken first as it is what CodeBuild reported for this very change.
    let event_source = change.additional_information.source.as_ref();
    let source_type = event_source
        .map(|s| s.source_type.as_str())
        .or(build.source_type.as_deref())
        .unwrap_or("");
    if source_type == "CODEPIPELINE" {
        return Decision::Ignore(
            "the build runs inside a pipeline; the pipeline's status covers it".into(),
        );
    }
    let location = [
        build.source_location.as_deref(),
        event_source.and_then(|s| s.location.as_deref()),
    ];
    let repository = if GITHUB_SOURCES.contains(&source_type) {
        location.into_iter().flatten().find_map(repository_from_url)
    } else {
        None
    }
    .or_else(|| {
        variable(&build.environment, "GANTRY_REPOSITORY").and_then(|r| RepoName::parse(r).ok())
    });
    let Some(repository) = repository else {
        return Decision::Ignore(format!(
            "build source {source_type:?} is not a GitHub repository"
        ));
    };
    let commit = [
        build.resolved_source_version.as_deref(),
        build.source_version.as_deref(),
        change.additional_information.source_version.as_deref(),
        variable(&build.environment, "GANTRY_COMMIT"),
    ]
    .into_iter()
    .flatten()
    .find_map(|candidate| CommitSha::parse(candidate).ok());
    let Some(commit) = commit else {
        return Decision::Ignore("the build names no full commit SHA".into());
    };

    let after = build
        .duration
        .map(|d| format!(" after {}", human(d)))
        .unwrap_or_default();
    let phase = failed_phase(build).unwrap_or("an unknown phase");
    let (state, description) = match settled_build_status(&change.build_status, &build.status) {
        "IN_PROGRESS" => (
            StatusState::Pending,
            match build.current_phase.as_deref() {
                Some(phase) => format!("Build in progress ({phase})"),
                None => "Build in progress".to_owned(),
            },
        ),
        "SUCCEEDED" => (
            StatusState::Success,
            format!(
                "Build succeeded{}",
                build
                    .duration
                    .map(|d| format!(" in {}", human(d)))
                    .unwrap_or_default()
            ),
        ),
        "FAILED" => (
            StatusState::Failure,
            format!("Build failed in phase {phase}{after}"),
        ),
        "TIMED_OUT" => (
            StatusState::Failure,
            format!("Build timed out in phase {phase}{after}"),
        ),
        "FAULT" => (
            StatusState::Error,
            format!("Build faulted (CodeBuild error) in phase {phase}{after}"),
        ),
        "STOPPED" => (StatusState::Error, format!("Build stopped{after}")),
        other => (
            StatusState::Error,
            format!("Build ended in state {other}{after}"),
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
        status: CommitStatus::new(state, context, &description, Some(target_url)),
    })
}

pub fn for_pipeline(
    execution: &ExecutionSnapshot,
    actions: Option<&[ActionSnapshot]>,
    context: String,
    origin: &Origin,
) -> Decision {
    let Some((repository, commit)) = execution_commit(execution) else {
        return Decision::Ignore("the execution names no GitHub repository and commit".into());
    };
    let failed = actions.and_then(|actions| actions.iter().find(|a| a.status == "Failed"));
    let (state, description) = match execution.status.as_str() {
        "InProgress" => (StatusState::Pending, running(actions)),
        "Stopping" => (StatusState::Pending, "Pipeline stopping".to_owned()),
        "Succeeded" => (StatusState::Success, "Pipeline succeeded".to_owned()),
        "Failed" => (
            StatusState::Failure,
            match failed {
                Some(action) => format!(
                    "Pipeline failed in stage {}{}",
                    action.stage,
                    action_detail(action)
                ),
                None => "Pipeline failed".to_owned(),
            },
        ),
        "Stopped" => (StatusState::Error, "Pipeline stopped".to_owned()),
        "Superseded" => (
            StatusState::Error,
            "Superseded by a newer execution".to_owned(),
        ),
        "Cancelled" => (
            StatusState::Error,
            "Pipeline execution cancelled".to_owned(),
        ),
        other => (
            StatusState::Error,
            format!("Pipeline ended in state {other}"),
        ),
    };
    Decision::Post(Post {
        repository,
        commit,
        status: CommitStatus::new(
            state,
            context,
            &description,
            Some(execution_console_url(execution, origin)),
        ),
    })
}

/// One status per stage. The stage's state comes from its actions' current
/// state where CodePipeline reports them; otherwise from the event, except that
/// a not-yet-finished stage event for an execution that has finished is stale.
pub fn for_stage(
    change: &StageChange,
    execution: &ExecutionSnapshot,
    actions: Option<&[ActionSnapshot]>,
    context: String,
    origin: &Origin,
) -> Decision {
    let Some((repository, commit)) = execution_commit(execution) else {
        return Decision::Ignore("the execution names no GitHub repository and commit".into());
    };
    let stage = change.stage.as_str();
    let stage_actions: Vec<&ActionSnapshot> = actions
        .into_iter()
        .flatten()
        .filter(|a| a.stage == stage)
        .collect();
    let current = if stage_actions.is_empty() {
        let finished = !matches!(execution.status.as_str(), "InProgress" | "Stopping");
        let unfinished_event = matches!(change.state.as_str(), "STARTED" | "RESUMED" | "STOPPING");
        if finished && unfinished_event {
            return Decision::Ignore(format!(
                "stale {} event for stage {stage}: the execution is already {}",
                change.state, execution.status
            ));
        }
        if actions.is_none() && unfinished_event {
            // The stage may have finished since this event was sent; without its
            // actions that cannot be ruled out, and its finishing event follows.
            return Decision::Ignore(format!(
                "{} event for stage {stage} not confirmed: its actions could not be read",
                change.state
            ));
        }
        change.state.as_str()
    } else if stage_actions.iter().any(|a| a.status == "Failed") {
        "FAILED"
    } else if stage_actions.iter().any(|a| a.status == "InProgress") {
        // A stage's finished event is final; actions that still read as running
        // lag it, and no later event would correct a pending.
        match change.state.as_str() {
            finished @ ("SUCCEEDED" | "FAILED" | "STOPPED" | "CANCELED") => finished,
            _ => "STARTED",
        }
    } else if stage_actions.iter().all(|a| a.status == "Succeeded") {
        "SUCCEEDED"
    } else {
        "STOPPED"
    };
    let failed = stage_actions.iter().find(|a| a.status == "Failed");
    let (state, description) = match current {
        "STARTED" | "RESUMED" => (StatusState::Pending, format!("Stage {stage} running")),
        "STOPPING" => (StatusState::Pending, format!("Stage {stage} stopping")),
        "SUCCEEDED" => (StatusState::Success, format!("Stage {stage} succeeded")),
        "FAILED" => (
            StatusState::Failure,
            format!(
                "Stage {stage} failed{}",
                failed.map(|a| action_detail(a)).unwrap_or_default()
            ),
        ),
        "CANCELED" => (StatusState::Error, format!("Stage {stage} cancelled")),
        _ => (StatusState::Error, format!("Stage {stage} stopped")),
    };
    Decision::Post(Post {
        repository,
        commit,
        status: CommitStatus::new(
            state,
            format!("{context}/{stage}"),
            &description,
            Some(execution_console_url(execution, origin)),
        ),
    })
}

fn running(actions: Option<&[ActionSnapshot]>) -> String {
    match actions.and_then(|actions| actions.iter().find(|a| a.status == "InProgress")) {
        Some(action) => format!("Pipeline running (stage {})", action.stage),
        None => "Pipeline running".to_owned(),
    }
}

fn action_detail(action: &ActionSnapshot) -> String {
    let mut text = format!(", action {}", action.action);
    if let Some(duration) = action.duration {
        text.push_str(&format!(" after {}", human(duration)));
    }
    if let Some(summary) = action.summary.as_deref().filter(|s| !s.is_empty()) {
        text.push_str(": ");
        text.push_str(summary);
    }
    text
}

fn failed_phase(build: &BuildSnapshot) -> Option<&str> {
    build
        .phases
        .iter()
        .find(|p| {
            matches!(
                p.status.as_deref(),
                Some("FAILED" | "FAULT" | "TIMED_OUT" | "CLIENT_ERROR")
            )
        })
        .map(|p| p.phase.as_str())
        .or(build.current_phase.as_deref())
}

fn variable<'a>(variables: &'a [(String, String)], name: &str) -> Option<&'a str> {
    variables
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// The commit an execution built: the variables `trigger` set, or else the
/// source revision CodePipeline recorded (a GitHub or CodeConnections link).
fn execution_commit(execution: &ExecutionSnapshot) -> Option<(RepoName, CommitSha)> {
    let from_variables = variable(&execution.variables, "GANTRY_REPOSITORY")
        .and_then(|r| RepoName::parse(r).ok())
        .zip(
            variable(&execution.variables, "GANTRY_COMMIT").and_then(|c| CommitSha::parse(c).ok()),
        );
    from_variables.or_else(|| {
        execution.revisions.iter().find_map(|revision| {
            let commit = CommitSha::parse(revision.revision_id.as_deref()?).ok()?;
            let repository = repository_from_revision_url(revision.revision_url.as_deref()?)?;
            Some((repository, commit))
        })
    })
}

/// `https://github.com/owner/repo(.git)`, or the same on a GitHub Enterprise host.
fn repository_from_url(location: &str) -> Option<RepoName> {
    let url = url::Url::parse(location).ok()?;
    let host = url.host_str()?;
    if host.ends_with("amazonaws.com") {
        return None;
    }
    let path = url.path().trim_matches('/').trim_end_matches(".git");
    let mut segments = path.rsplit('/');
    let name = segments.next()?;
    let owner = segments.next()?;
    RepoName::parse(&format!("{owner}/{name}")).ok()
}

/// CodeConnections' revision link carries `FullRepositoryId=owner/repo`; a
/// GitHub commit link is `https://github.com/owner/repo/commit/SHA`.
fn repository_from_revision_url(link: &str) -> Option<RepoName> {
    let url = url::Url::parse(link).ok()?;
    if let Some((_, id)) = url.query_pairs().find(|(key, _)| key == "FullRepositoryId") {
        return RepoName::parse(&id).ok();
    }
    let segments: Vec<&str> = url.path().trim_matches('/').split('/').collect();
    match segments.as_slice() {
        [owner, name, "commit", _] => RepoName::parse(&format!("{owner}/{name}")).ok(),
        _ => None,
    }
}

fn build_console_url(build: &BuildSnapshot, origin: &Origin) -> String {
    let region = &origin.region;
    format!(
        "https://{region}.console.aws.amazon.com/codesuite/codebuild/{}/projects/{}/build/{}/?region={region}",
        origin.account,
        build.project,
        build.id.replace(':', "%3A")
    )
}

fn execution_console_url(execution: &ExecutionSnapshot, origin: &Origin) -> String {
    let region = &origin.region;
    format!(
        "https://{region}.console.aws.amazon.com/codesuite/codepipeline/pipelines/{}/executions/{}/timeline?region={region}",
        execution.pipeline, execution.execution_id
    )
}

/// `45s`, `2m 5s`, `1h 3m`.
pub fn human(duration: Duration) -> String {
    let secs = duration.as_secs();
    match secs {
        0..=59 => format!("{secs}s"),
        60..=3599 => format!("{}m {}s", secs / 60, secs % 60),
        _ => format!("{}h {}m", secs / 3600, (secs % 3600) / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{BuildInformation, BuildLogs, BuildSource};
    use serde_json::Value;

    const SHA: &str = "f2194c1757bbdcb0f8f229254a4b3c8b27d43e0b";

    fn sample(name: &str) -> Value {
        let file = format!("{}/../../events/status/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap()
    }

    fn origin() -> Origin {
        Origin {
            region: "us-west-2".into(),
            account: "123456789012".into(),
        }
    }

    /// A build from AWS CLI's documented BatchGetBuilds output, in the shape the reader makes.
    fn documented_build(index: usize) -> BuildSnapshot {
        let build = &sample("codebuild.batch-get-builds.aws-cli-example.json")["builds"][index];
        let text = |v: &Value| v.as_str().map(str::to_owned);
        BuildSnapshot {
            id: text(&build["id"]).unwrap(),
            project: text(&build["projectName"]).unwrap(),
            status: text(&build["buildStatus"]).unwrap(),
            source_type: text(&build["source"]["type"]),
            source_location: text(&build["source"]["location"]),
            resolved_source_version: text(&build["resolvedSourceVersion"]),
            source_version: text(&build["sourceVersion"]),
            environment: vec![],
            phases: build["phases"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| PhaseSnapshot {
                    phase: text(&p["phaseType"]).unwrap(),
                    status: text(&p["phaseStatus"]),
                })
                .collect(),
            current_phase: text(&build["currentPhase"]),
            duration: Some(Duration::from_secs(
                (build["endTime"].as_f64().unwrap() - build["startTime"].as_f64().unwrap()) as u64,
            )),
            logs_link: text(&build["logs"]["deepLink"]),
        }
    }

    fn change(build: &BuildSnapshot) -> BuildChange {
        BuildChange {
            build_status: build.status.clone(),
            project_name: build.project.clone(),
            build_id: format!(
                "arn:aws:codebuild:us-west-2:123456789012:build/{}",
                build.id
            ),
            additional_information: BuildInformation::default(),
        }
    }

    fn posted(decision: Decision) -> Post {
        match decision {
            Decision::Post(post) => post,
            Decision::Ignore(reason) => panic!("ignored: {reason}"),
        }
    }

    fn with_failed_phase(mut build: BuildSnapshot, status: &str, phase: &str) -> BuildSnapshot {
        build.status = status.into();
        for p in &mut build.phases {
            if p.phase == phase {
                p.status = Some(status.into());
            }
        }
        build
    }

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
    fn build_state_table() {
        let base = documented_build(1);
        let cases = [
            (
                BuildSnapshot {
                    status: "IN_PROGRESS".into(),
                    current_phase: Some("BUILD".into()),
                    ..base.clone()
                },
                StatusState::Pending,
                "Build in progress (BUILD)",
            ),
            (
                with_failed_phase(base.clone(), "FAILED", "BUILD"),
                StatusState::Failure,
                "Build failed in phase BUILD after 1m 14s",
            ),
            (
                with_failed_phase(base.clone(), "TIMED_OUT", "BUILD"),
                StatusState::Failure,
                "Build timed out in phase BUILD after 1m 14s",
            ),
            (
                with_failed_phase(base.clone(), "FAULT", "PROVISIONING"),
                StatusState::Error,
                "Build faulted (CodeBuild error) in phase PROVISIONING after 1m 14s",
            ),
            (
                BuildSnapshot {
                    status: "STOPPED".into(),
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
    fn builds_not_from_github_are_ignored() {
        let inside_pipeline = documented_build(0);
        assert!(matches!(
            for_build(&change(&inside_pipeline), &inside_pipeline, "c".into(), &origin()),
            Decision::Ignore(reason) if reason.contains("pipeline")
        ));
        let s3 = BuildSnapshot {
            source_type: Some("S3".into()),
            source_location: Some("bucket/key.zip".into()),
            ..documented_build(1)
        };
        assert!(matches!(
            for_build(&change(&s3), &s3, "c".into(), &origin()),
            Decision::Ignore(_)
        ));
        // Started by trigger with Gantry's variables: the variables name the commit.
        let with_variables = BuildSnapshot {
            environment: vec![
                ("GANTRY_REPOSITORY".into(), "octo-org/app".into()),
                ("GANTRY_COMMIT".into(), SHA.into()),
            ],
            resolved_source_version: None,
            source_version: None,
            ..s3
        };
        let post = posted(for_build(
            &change(&with_variables),
            &with_variables,
            "c".into(),
            &origin(),
        ));
        assert_eq!(post.repository.as_str(), "octo-org/app");
    }

    #[test]
    fn the_event_supplies_a_github_source_the_build_read_lacks() {
        let build = BuildSnapshot {
            source_type: None,
            source_location: None,
            resolved_source_version: None,
            logs_link: None,
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

    fn execution(status: &str) -> ExecutionSnapshot {
        ExecutionSnapshot {
            pipeline: "myPipeline".into(),
            execution_id: "12345678-1234-5678-abcd-12345678abcd".into(),
            status: status.into(),
            variables: vec![
                ("GANTRY_REPOSITORY".into(), "Codertocat/Hello-World".into()),
                ("GANTRY_COMMIT".into(), SHA.into()),
            ],
            revisions: vec![],
        }
    }

    /// The two documented ListActionExecutions entries, the Deploy action failed.
    fn documented_actions(deploy_status: &str) -> Vec<ActionSnapshot> {
        sample("codepipeline.list-action-executions.first-two-entries.json")
            ["actionExecutionDetails"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| ActionSnapshot {
                stage: a["stageName"].as_str().unwrap().into(),
                action: a["actionName"].as_str().unwrap().into(),
                status: if a["stageName"] == "Deploy" {
                    deploy_status.into()
                } else {
                    a["status"].as_str().unwrap().into()
                },
                summary: a["output"]["executionResult"]["externalExecutionSummary"]
                    .as_str()
                    .map(Into::into),
                duration: Some(Duration::from_secs(
                    (a["lastUpdateTime"].as_f64().unwrap() - a["startTime"].as_f64().unwrap())
                        as u64,
                )),
                started_at: a["startTime"].as_f64().map(|t| t as i64),
            })
            .collect()
    }

    #[test]
    fn pipeline_state_table() {
        let failed = documented_actions("Failed");
        let running = documented_actions("InProgress");
        let cases: [(&str, Option<&[ActionSnapshot]>, StatusState, &str); 8] = [
            (
                "InProgress",
                Some(&running),
                StatusState::Pending,
                "Pipeline running (stage Deploy)",
            ),
            ("InProgress", None, StatusState::Pending, "Pipeline running"),
            ("Stopping", None, StatusState::Pending, "Pipeline stopping"),
            (
                "Succeeded",
                None,
                StatusState::Success,
                "Pipeline succeeded",
            ),
            (
                "Failed",
                Some(&failed),
                StatusState::Failure,
                "Pipeline failed in stage Deploy, action Deploy after 32s: Deployment Succeeded",
            ),
            ("Stopped", None, StatusState::Error, "Pipeline stopped"),
            (
                "Superseded",
                None,
                StatusState::Error,
                "Superseded by a newer execution",
            ),
            (
                "Cancelled",
                None,
                StatusState::Error,
                "Pipeline execution cancelled",
            ),
        ];
        for (status, actions, state, description) in cases {
            let post = posted(for_pipeline(
                &execution(status),
                actions,
                "gantry/myPipeline".into(),
                &origin(),
            ));
            assert_eq!(
                (post.status.state, post.status.description.as_str()),
                (state, description),
                "{status}"
            );
            assert_eq!(post.commit.as_str(), SHA);
            assert_eq!(
                post.status.target_url.as_deref(),
                Some("https://us-west-2.console.aws.amazon.com/codesuite/codepipeline/pipelines/myPipeline/executions/12345678-1234-5678-abcd-12345678abcd/timeline?region=us-west-2")
            );
        }
    }

    #[test]
    fn a_pipeline_without_variables_is_found_by_its_source_revision() {
        let mut snapshot = execution("Succeeded");
        snapshot.variables.clear();
        snapshot.revisions = vec![RevisionSnapshot {
            revision_id: Some(SHA.into()),
            revision_url: Some("https://us-west-2.console.aws.amazon.com/codesuite/settings/connections/redirect?connectionArn=arn:aws:codeconnections:us-west-2:123456789012:connection/abc&referenceType=COMMIT&FullRepositoryId=octo-org/app&Commit=f2194c1757bbdcb0f8f229254a4b3c8b27d43e0b".into()),
        }];
        assert_eq!(
            posted(for_pipeline(&snapshot, None, "c".into(), &origin()))
                .repository
                .as_str(),
            "octo-org/app"
        );
        snapshot.revisions[0].revision_url =
            Some(format!("https://github.com/octo-org/web/commit/{SHA}"));
        assert_eq!(
            posted(for_pipeline(&snapshot, None, "c".into(), &origin()))
                .repository
                .as_str(),
            "octo-org/web"
        );
        // CodeCommit, S3 and others are not GitHub.
        snapshot.revisions[0].revision_url =
            Some("https://git-codecommit.us-west-2.amazonaws.com/v1/repos/x".into());
        assert!(matches!(
            for_pipeline(&snapshot, None, "c".into(), &origin()),
            Decision::Ignore(_)
        ));
    }

    fn stage(state: &str) -> StageChange {
        StageChange {
            pipeline: "myPipeline".into(),
            execution_id: "12345678-1234-5678-abcd-12345678abcd".into(),
            stage: "Deploy".into(),
            state: state.into(),
        }
    }

    #[test]
    fn late_stage_events_never_turn_a_finished_stage_back_to_pending() {
        // The stage's actions say it succeeded, whatever the late event says.
        let done = documented_actions("Succeeded");
        let post = posted(for_stage(
            &stage("STARTED"),
            &execution("InProgress"),
            Some(&done),
            "ci".into(),
            &origin(),
        ));
        assert_eq!(
            (post.status.state, post.status.context.as_str()),
            (StatusState::Success, "ci/Deploy")
        );
        // Without action details, a late start for a finished execution is dropped.
        assert!(matches!(
            for_stage(&stage("STARTED"), &execution("Succeeded"), None, "ci".into(), &origin()),
            Decision::Ignore(reason) if reason.contains("stale")
        ));
        let failed = documented_actions("Failed");
        let post = posted(for_stage(
            &stage("FAILED"),
            &execution("Failed"),
            Some(&failed),
            "ci".into(),
            &origin(),
        ));
        assert_eq!(post.status.state, StatusState::Failure);
        assert_eq!(
            post.status.description,
            "Stage Deploy failed, action Deploy after 32s: Deployment Succeeded"
        );
        let post = posted(for_stage(
            &stage("STOPPED"),
            &execution("Stopped"),
            None,
            "ci".into(),
            &origin(),
        ));
        assert_eq!(
            (post.status.state, post.status.description.as_str()),
            (StatusState::Error, "Stage Deploy stopped")
        );
    }

    #[test]
    fn a_finished_stage_event_wins_over_actions_that_lag_it() {
        let running = documented_actions("InProgress");
        let post = posted(for_stage(
            &stage("SUCCEEDED"),
            &execution("InProgress"),
            Some(&running),
            "ci".into(),
            &origin(),
        ));
        assert_eq!(post.status.state, StatusState::Success);
        let post = posted(for_stage(
            &stage("STARTED"),
            &execution("InProgress"),
            Some(&running),
            "ci".into(),
            &origin(),
        ));
        assert_eq!(post.status.state, StatusState::Pending);
    }

    #[test]
    fn an_unconfirmed_stage_start_is_not_posted() {
        // The execution still runs, but without its actions a STARTED event may
        // be older than the stage's end: posting pending could undo a result.
        assert!(matches!(
            for_stage(&stage("STARTED"), &execution("InProgress"), None, "ci".into(), &origin()),
            Decision::Ignore(reason) if reason.contains("not confirmed")
        ));
        // Known actions, none of this stage yet: it has just started.
        let post = posted(for_stage(
            &stage("STARTED"),
            &execution("InProgress"),
            Some(&[]),
            "ci".into(),
            &origin(),
        ));
        assert_eq!(
            (post.status.state, post.status.description.as_str()),
            (StatusState::Pending, "Stage Deploy running")
        );
    }

    #[test]
    fn a_retried_stage_reports_its_latest_attempt() {
        let mut first = documented_actions("Failed");
        let mut retry = documented_actions("Succeeded");
        for action in &mut retry {
            action.started_at = action.started_at.map(|t| t + 600);
        }
        // ListActionExecutions lists newest first; the order must not matter.
        for actions in [
            [retry.clone(), first.clone()].concat(),
            [first.clone(), retry.clone()].concat(),
        ] {
            let latest = latest_attempts(actions);
            assert_eq!(latest.len(), 2, "{latest:?}");
            let post = posted(for_stage(
                &stage("SUCCEEDED"),
                &execution("Succeeded"),
                Some(&latest),
                "ci".into(),
                &origin(),
            ));
            assert_eq!(post.status.state, StatusState::Success);
        }
        first.truncate(1);
        assert_eq!(latest_attempts(first.clone()), first);
    }

    #[test]
    fn a_finishing_event_wins_over_a_read_that_lags_it() {
        let build = documented_build(1);
        let mut lagging = build.clone();
        lagging.status = "IN_PROGRESS".into();
        let mut event = change(&build);
        event.build_status = "SUCCEEDED".into();
        let post = posted(for_build(&event, &lagging, "c".into(), &origin()));
        assert_eq!(post.status.state, StatusState::Success);
        // An in-progress event is no reason to doubt a finished read.
        event.build_status = "IN_PROGRESS".into();
        let post = posted(for_build(&event, &build, "c".into(), &origin()));
        assert_eq!(post.status.state, StatusState::Success);
        // Nor a finished read: the read is newer than any event.
        assert_eq!(settled_build_status("FAILED", "SUCCEEDED"), "SUCCEEDED");
        assert_eq!(
            settled_build_status("IN_PROGRESS", "IN_PROGRESS"),
            "IN_PROGRESS"
        );

        for (event, read, settled) in [
            ("SUCCEEDED", "InProgress", "Succeeded"),
            ("FAILED", "InProgress", "Failed"),
            ("STOPPED", "InProgress", "Stopped"),
            ("SUPERSEDED", "InProgress", "Superseded"),
            ("CANCELED", "InProgress", "Cancelled"),
            ("STARTED", "InProgress", "InProgress"),
            ("RESUMED", "InProgress", "InProgress"),
            ("STARTED", "Succeeded", "Succeeded"),
            ("FAILED", "Succeeded", "Succeeded"),
            ("STOPPING", "Stopping", "Stopping"),
            ("STOPPED", "Stopping", "Stopped"),
            ("CANCELED", "Stopping", "Cancelled"),
        ] {
            assert_eq!(
                settled_execution_status(event, read),
                settled,
                "{event} read as {read}"
            );
        }
    }

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
                    let mut build = with_failed_phase(documented_build(1), "FAILED", "BUILD");
                    build.status = event.build_status.clone();
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
                    lagging.status = "IN_PROGRESS".into();
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
                        snapshot.status = settled_execution_status(&event.state, read);
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

    #[test]
    fn durations_read_like_people_write_them() {
        assert_eq!(human(Duration::from_secs(45)), "45s");
        assert_eq!(human(Duration::from_secs(125)), "2m 5s");
        assert_eq!(human(Duration::from_secs(3725)), "1h 2m");
    }
}
