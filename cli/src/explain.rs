//! `gantry explain`: the story of one delivery or commit, in time order: what
//! GitHub sent and what the webhook answered (GitHub's deliveries, when a
//! GitHub credential is given), what trigger decided (the ledger: routes
//! matched, held back and why), what each delivery started, and each build's
//! or execution's state now.

use crate::doctor::Clients;
use crate::report::{Finding, Report};
use aws_sdk_codebuild::types::StatusType;
use aws_sdk_codepipeline::types::PipelineExecutionStatus;
use gantry_core::github::{GitHubClient, GitHubError, HookScope, PostedCheck};
use gantry_core::ids::{CommitSha, DeliveryId, RepoName};
use gantry_core::ledger::{Clock, DecisionRecord, Ledger, RefStart};
use gantry_trigger::start::Starter;
use std::time::Duration;
use std::time::SystemTime;
use tokio::time::Instant;

/// What to explain.
#[derive(Debug, Clone)]
pub enum Subject {
    Delivery(DeliveryId),
    Commit {
        repository: RepoName,
        commit: CommitSha,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum ExplainError {
    #[error(transparent)]
    Ledger(#[from] gantry_core::ledger::LedgerError),
}

/// Where GitHub's side of the story is read: the webhook that sent the
/// deliveries, or why it is not known (the commit's statuses are read anyway).
pub struct GitHubSide<'a> {
    pub github: &'a GitHubClient,
    pub scope: Result<&'a HookScope, &'a str>,
}

pub async fn run(
    clients: &Clients,
    table: &str,
    subject: &Subject,
    github: Option<&GitHubSide<'_>>,
) -> Result<Report, ExplainError> {
    let ledger = Ledger::new(clients.dynamodb.clone(), table.to_owned(), Clock::system());
    let deadline = Instant::now() + Duration::from_secs(60);
    let decisions: Vec<DecisionRecord> = match subject {
        Subject::Delivery(delivery) => ledger
            .decision(delivery, deadline)
            .await?
            .into_iter()
            .collect(),
        Subject::Commit { repository, commit } => {
            ledger
                .decisions_for_commit(repository, commit, deadline)
                .await?
        }
    };
    let mut report = Report::default();
    if let Some(side) = github {
        let guids: Vec<String> = match subject {
            Subject::Delivery(delivery) => vec![delivery.to_string()],
            Subject::Commit { .. } => decisions.iter().map(|d| d.delivery.to_string()).collect(),
        };
        report
            .findings
            .extend(deliveries(side, &guids, deadline).await);
    }
    if decisions.is_empty() {
        report.push(Finding::note(
            "ledger",
            "nothing recorded: trigger never saw it (the webhook may have ignored it: its log says why), or it is older than 15 days",
        ));
        return Ok(report);
    }
    for decision in &decisions {
        let subject = format!(
            "{} delivery {}",
            time(decision.decided_at),
            decision.delivery
        );
        let mut detail = format!(
            "{} {} of {}",
            decision.outcome,
            decision.commit.short(),
            decision.repository
        );
        if let Some(reason) = &decision.reason {
            detail.push_str(&format!(": {reason}"));
        }
        report.push(Finding::note(subject.clone(), detail));
        for route in &decision.routes {
            report.push(Finding::note(subject.clone(), format!("route {route}")));
        }
        for start in ledger
            .starts_for_delivery(&decision.delivery, deadline)
            .await?
        {
            report.push(describe_start(clients, &subject, &start).await);
        }
    }
    if let Some(side) = github {
        let mut commits: Vec<(RepoName, CommitSha)> = match subject {
            Subject::Commit { repository, commit } => vec![(repository.clone(), commit.clone())],
            Subject::Delivery(_) => Vec::new(),
        };
        for decision in &decisions {
            let key = (decision.repository.clone(), decision.commit.clone());
            if !commits.contains(&key) {
                commits.push(key);
            }
        }
        for (repository, commit) in &commits {
            report
                .findings
                .extend(now_on_commit(side.github, repository, commit, deadline).await);
        }
    }
    Ok(report)
}

/// What the commit shows on GitHub now: its statuses, and in App mode its check runs.
async fn now_on_commit(
    github: &GitHubClient,
    repository: &RepoName,
    commit: &CommitSha,
    deadline: Instant,
) -> Vec<Finding> {
    let subject = format!("now on {repository}@{}", commit.short());
    let mut findings = Vec::new();
    let mut read = |what: &str, answer: Result<Vec<PostedCheck>, GitHubError>| match answer {
        Ok(posted) if posted.is_empty() => {
            findings.push(Finding::note(subject.clone(), format!("no {what}")))
        }
        Ok(posted) => findings.extend(posted.into_iter().map(|check| {
            Finding::note(
                subject.clone(),
                format!(
                    "{what} {}: {}{}",
                    check.name,
                    check.state,
                    check.summary.map(|s| format!(" ({s})")).unwrap_or_default()
                ),
            )
        })),
        Err(err) => findings.push(Finding::note(
            subject.clone(),
            format!(
                "{what} unreadable: {}",
                gantry_core::logging::error_chain(&err)
            ),
        )),
    };
    read(
        "status",
        github.commit_statuses(repository, commit, deadline).await,
    );
    if github.is_app() {
        read(
            "check run",
            github.check_runs_on(repository, commit, deadline).await,
        );
    }
    findings
}

/// Every attempt GitHub made at `guids`, oldest first, with the webhook's answer.
async fn deliveries(side: &GitHubSide<'_>, guids: &[String], deadline: Instant) -> Vec<Finding> {
    let scope = match side.scope {
        Ok(scope) => scope,
        Err(why) => {
            return vec![Finding::note(
                "GitHub",
                format!("deliveries not shown: {why}"),
            )]
        }
    };
    let since = gantry_core::github::hooks::since(SystemTime::now(), crate::replay::GITHUB_KEEPS);
    let attempts = match side.github.list_deliveries(scope, since, deadline).await {
        Ok(attempts) => attempts,
        Err(err) => {
            return vec![Finding::note(
                "GitHub",
                format!(
                    "{scope}'s deliveries unreadable: {}",
                    gantry_core::logging::error_chain(&err)
                ),
            )]
        }
    };
    let mut mine: Vec<_> = attempts
        .iter()
        .filter(|a| guids.iter().any(|g| g.eq_ignore_ascii_case(&a.guid)))
        .collect();
    if mine.is_empty() {
        return vec![Finding::note(
            "GitHub",
            format!("no delivery of {scope} in the last 3 days"),
        )];
    }
    mine.sort_by_key(|a| (a.delivered_at_secs(), a.id));
    mine.into_iter()
        .map(|a| {
            Finding::note(
                format!("{} delivery {}", a.delivered_at, a.guid),
                format!(
                    "GitHub {} {}{}; the webhook answered {} ({})",
                    if a.redelivery { "redelivered" } else { "sent" },
                    a.event,
                    a.action
                        .as_ref()
                        .map(|x| format!(" {x}"))
                        .unwrap_or_default(),
                    a.status_code,
                    a.status
                ),
            )
        })
        .collect()
}

async fn describe_start(clients: &Clients, subject: &str, start: &RefStart) -> Finding {
    let Some(started) = &start.started else {
        return Finding::note(
            subject,
            format!("{}: claimed, nothing recorded as started", start.target),
        );
    };
    let state = match started.kind.as_str() {
        "build" => clients
            .builds
            .batch_get_builds()
            .ids(&started.id)
            .send()
            .await
            .ok()
            .and_then(|out| out.builds.unwrap_or_default().into_iter().next())
            .and_then(|build| {
                let status = build.build_status.as_ref()?.as_str().to_owned();
                Some(match failed_phase(&build) {
                    Some(phase) => format!("{status}, in its {phase}"),
                    None => status,
                })
            }),
        _ => {
            let pipeline = start
                .target
                .strip_prefix("pipeline/")
                .unwrap_or(&start.target);
            let status = clients
                .pipelines
                .get_pipeline_execution()
                .pipeline_name(pipeline)
                .pipeline_execution_id(&started.id)
                .send()
                .await
                .ok()
                .and_then(|out| out.pipeline_execution)
                .and_then(|execution| execution.status);
            match status {
                Some(PipelineExecutionStatus::Failed) => {
                    let starter = Starter::new(clients.pipelines.clone(), clients.builds.clone());
                    let deadline = Instant::now() + Duration::from_secs(30);
                    Some(
                        match starter
                            .failed_stage_of(pipeline, &started.id, deadline)
                            .await
                        {
                            Ok(Some(stage)) => format!("Failed, in stage {stage}"),
                            _ => "Failed".to_owned(),
                        },
                    )
                }
                other => other.map(|status| status.as_str().to_owned()),
            }
        }
    };
    Finding::note(
        subject,
        format!(
            "{}: started {} {}, now {}",
            start.target,
            started.kind.replace('_', " "),
            started.id,
            state.as_deref().unwrap_or("unknown (it could not be read)")
        ),
    )
}

/// The phase a failed build failed in, with CodeBuild's word on why:
/// `BUILD phase (COMMAND_EXECUTION_ERROR: Error while executing command: make test)`.
pub fn failed_phase(build: &aws_sdk_codebuild::types::Build) -> Option<String> {
    let phase = build.phases().iter().find(|phase| {
        matches!(
            phase.phase_status(),
            Some(StatusType::Failed | StatusType::Fault | StatusType::TimedOut)
        )
    })?;
    let name = phase.phase_type()?.as_str();
    let why: Vec<String> = phase
        .contexts()
        .iter()
        .filter_map(|c| match (c.status_code(), c.message()) {
            (Some(code), Some(message)) if !message.is_empty() => {
                Some(format!("{code}: {message}"))
            }
            (Some(code), _) => Some(code.to_owned()),
            _ => None,
        })
        .collect();
    Some(if why.is_empty() {
        format!("{name} phase")
    } else {
        format!("{name} phase ({})", why.join("; "))
    })
}

/// Epoch seconds as `2026-12-01T13:05:09Z`.
fn time(epoch_seconds: i64) -> String {
    aws_smithy_types::DateTime::from_secs(epoch_seconds)
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap_or_else(|_| epoch_seconds.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_codebuild::types::{Build, BuildPhase, BuildPhaseType, PhaseContext};

    #[test]
    fn a_failed_build_names_the_phase_it_failed_in_and_why() {
        let phase = |kind: BuildPhaseType, status: StatusType| {
            BuildPhase::builder().phase_type(kind).phase_status(status)
        };
        let build = Build::builder()
            .phases(phase(BuildPhaseType::Install, StatusType::Succeeded).build())
            .phases(
                phase(BuildPhaseType::Build, StatusType::Failed)
                    .contexts(
                        PhaseContext::builder()
                            .status_code("COMMAND_EXECUTION_ERROR")
                            .message(
                                "Error while executing command: make test. Reason: exit status 2",
                            )
                            .build(),
                    )
                    .build(),
            )
            .build();
        assert_eq!(
            failed_phase(&build).as_deref(),
            Some("BUILD phase (COMMAND_EXECUTION_ERROR: Error while executing command: make test. Reason: exit status 2)")
        );
        let succeeded = Build::builder()
            .phases(phase(BuildPhaseType::Build, StatusType::Succeeded).build())
            .build();
        assert_eq!(failed_phase(&succeeded), None);
    }
}
