//! Reads the current state of a build or pipeline execution from AWS and turns
//! the SDK's answer into the plain snapshots the mapping decides on.

use crate::mapping::{
    self, ActionSnapshot, BuildSnapshot, DeclaredStage, ExecutionSnapshot, FailedTest, LogStream,
    PhaseSnapshot, RevisionSnapshot, TestReport,
};
use aws_sdk_codebuild::primitives::DateTime;
use aws_sdk_codebuild::types::StatusType;
use aws_sdk_codepipeline::types::{
    ActionExecutionFilter, ActionExecutionStatus, PipelineExecutionStatus,
};
use gantry_core::aws::ServiceError;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("BatchGetBuilds for {build} failed")]
    Build {
        build: String,
        #[source]
        source: ServiceError<aws_sdk_codebuild::Error>,
    },
    #[error("reading execution {execution} of pipeline {pipeline} failed")]
    Pipeline {
        pipeline: String,
        execution: String,
        #[source]
        source: ServiceError<aws_sdk_codepipeline::Error>,
    },
    #[error("GetPipeline for {pipeline} at version {version} failed")]
    Declaration {
        pipeline: String,
        version: i32,
        #[source]
        source: ServiceError<aws_sdk_codepipeline::Error>,
    },
    #[error("reading the build's test reports failed")]
    Reports {
        #[source]
        source: ServiceError<aws_sdk_codebuild::Error>,
    },
    #[error("AWS reads not finished: the invocation's time ran out")]
    Deadline,
}

impl ReadError {
    pub fn is_transient(&self) -> bool {
        match self {
            ReadError::Build { source, .. } | ReadError::Reports { source } => {
                source.is_transient()
            }
            ReadError::Pipeline { source, .. } | ReadError::Declaration { source, .. } => {
                source.is_transient()
            }
            ReadError::Deadline => true,
        }
    }
}

pub struct Reader {
    builds: aws_sdk_codebuild::Client,
    pipelines: aws_sdk_codepipeline::Client,
}

impl Reader {
    pub fn new(builds: aws_sdk_codebuild::Client, pipelines: aws_sdk_codepipeline::Client) -> Self {
        Reader { builds, pipelines }
    }

    /// `None` when CodeBuild does not know the build (deleted, or another account).
    pub async fn build(&self, build_id: &str) -> Result<Option<BuildSnapshot>, ReadError> {
        // Events carry the build ARN; BatchGetBuilds takes the `project:uuid` id.
        let id = build_id
            .rsplit_once(":build/")
            .map_or(build_id, |(_, id)| id);
        let output = self
            .builds
            .batch_get_builds()
            .ids(id)
            .send()
            .await
            .map_err(|err| ReadError::Build {
                build: id.to_owned(),
                source: ServiceError::from_sdk(err),
            })?;
        Ok(output
            .builds
            .unwrap_or_default()
            .into_iter()
            .next()
            .map(|build| {
                let duration = match (build.start_time, build.end_time) {
                    (Some(start), Some(end)) => seconds_between(&start, &end),
                    (Some(start), None) => {
                        seconds_between(&start, &DateTime::from(std::time::SystemTime::now()))
                    }
                    _ => None,
                };
                BuildSnapshot {
                    id: build.id.unwrap_or_else(|| id.to_owned()),
                    project: build.project_name.unwrap_or_default(),
                    // A status AWS leaves out reads as an unknown one.
                    status: build.build_status.unwrap_or_else(|| StatusType::from("")),
                    source_type: build
                        .source
                        .as_ref()
                        .map(|s| s.r#type().as_str().to_owned()),
                    source_location: build.source.and_then(|s| s.location),
                    resolved_source_version: build.resolved_source_version,
                    source_version: build.source_version,
                    environment: build
                        .environment
                        .map(|env| {
                            env.environment_variables
                                .unwrap_or_default()
                                .into_iter()
                                .map(|v| (v.name, v.value))
                                .collect()
                        })
                        .unwrap_or_default(),
                    phases: build
                        .phases
                        .unwrap_or_default()
                        .into_iter()
                        .map(|phase| PhaseSnapshot {
                            phase: phase
                                .phase_type
                                .map(|t| t.as_str().to_owned())
                                .unwrap_or_default(),
                            status: phase.phase_status,
                            duration: phase
                                .duration_in_seconds
                                .and_then(|secs| u64::try_from(secs).ok())
                                .map(Duration::from_secs),
                        })
                        .collect(),
                    current_phase: build.current_phase,
                    duration,
                    log_stream: build.logs.as_ref().and_then(|logs| {
                        Some(LogStream {
                            group: logs.group_name.clone()?,
                            stream: logs.stream_name.clone()?,
                        })
                    }),
                    logs_link: build.logs.and_then(|logs| logs.deep_link),
                    report_arns: build.report_arns.unwrap_or_default(),
                }
            }))
    }

    /// The build's test reports: totals, and the failed cases (up to
    /// `MAX_FAILED_READ` per report, one `DescribeTestCases` page).
    pub async fn test_reports(&self, arns: &[String]) -> Result<Vec<TestReport>, ReadError> {
        if arns.is_empty() {
            return Ok(Vec::new());
        }
        let output = self
            .builds
            .batch_get_reports()
            .set_report_arns(Some(arns.to_vec()))
            .send()
            .await
            .map_err(|err| ReadError::Reports {
                source: ServiceError::from_sdk(err),
            })?;
        let mut reports = Vec::new();
        for report in output.reports.unwrap_or_default() {
            let summary = report.test_summary.as_ref();
            let mut counts: Vec<(String, u32)> = summary
                .map(|s| {
                    s.status_counts
                        .iter()
                        .map(|(status, count)| (status.clone(), u32::try_from(*count).unwrap_or(0)))
                        .collect()
                })
                .unwrap_or_default();
            counts.sort_by_key(|(status, _)| status_order(status));
            let unsuccessful: u32 = counts
                .iter()
                .filter(|(status, _)| matches!(status.as_str(), "FAILED" | "ERROR"))
                .map(|(_, count)| count)
                .sum();
            let (failed, more_failed) = match (&report.arn, unsuccessful) {
                (Some(arn), 1..) => self.failed_cases(arn).await?,
                _ => (Vec::new(), false),
            };
            reports.push(TestReport {
                name: report.name.unwrap_or_default(),
                total: summary.map_or(0, |s| u32::try_from(s.total).unwrap_or(0)),
                counts,
                failed,
                more_failed,
            });
        }
        Ok(reports)
    }

    async fn failed_cases(&self, report_arn: &str) -> Result<(Vec<FailedTest>, bool), ReadError> {
        let mut cases = Vec::new();
        for status in ["FAILED", "ERROR"] {
            let output = self
                .builds
                .describe_test_cases()
                .report_arn(report_arn)
                .filter(
                    aws_sdk_codebuild::types::TestCaseFilter::builder()
                        .status(status)
                        .build(),
                )
                .max_results(MAX_FAILED_READ)
                .send()
                .await
                .map_err(|err| ReadError::Reports {
                    source: ServiceError::from_sdk(err),
                })?;
            let more = output.next_token.is_some();
            cases.extend(
                output
                    .test_cases
                    .unwrap_or_default()
                    .into_iter()
                    .map(|case| FailedTest {
                        suite: case
                            .test_suite_name
                            .or(case.prefix)
                            .filter(|s| !s.is_empty()),
                        name: case.name.unwrap_or_default(),
                        status: case.status.unwrap_or_else(|| status.to_owned()),
                        message: case.message.filter(|m| !m.is_empty()),
                        raw_data: case.test_raw_data_path.filter(|p| !p.is_empty()),
                        location: None,
                    }),
            );
            if more {
                return Ok((cases, true));
            }
        }
        Ok((cases, false))
    }

    pub async fn execution(
        &self,
        pipeline: &str,
        execution_id: &str,
    ) -> Result<ExecutionSnapshot, ReadError> {
        let output = self
            .pipelines
            .get_pipeline_execution()
            .pipeline_name(pipeline)
            .pipeline_execution_id(execution_id)
            .send()
            .await
            .map_err(|err| ReadError::Pipeline {
                pipeline: pipeline.to_owned(),
                execution: execution_id.to_owned(),
                source: ServiceError::from_sdk(err),
            })?;
        let execution = output
            .pipeline_execution
            .unwrap_or_else(|| aws_sdk_codepipeline::types::PipelineExecution::builder().build());
        Ok(ExecutionSnapshot {
            pipeline: pipeline.to_owned(),
            execution_id: execution_id.to_owned(),
            status: execution
                .status
                .unwrap_or_else(|| PipelineExecutionStatus::from("")),
            pipeline_version: execution.pipeline_version,
            variables: execution
                .variables
                .unwrap_or_default()
                .into_iter()
                .filter_map(|v| Some((v.name?, v.resolved_value?)))
                .collect(),
            revisions: execution
                .artifact_revisions
                .unwrap_or_default()
                .into_iter()
                .map(|r| RevisionSnapshot {
                    revision_id: r.revision_id,
                    revision_url: r.revision_url,
                })
                .collect(),
        })
    }

    /// Why a stopped execution was stopped (`stopTrigger.reason`, which
    /// only `ListPipelineExecutions` reports): among the latest 25, as a stop
    /// Gantry makes (a superseded commit's) is of a recent execution.
    pub async fn stop_reason(
        &self,
        pipeline: &str,
        execution_id: &str,
    ) -> Result<Option<String>, ReadError> {
        let output = self
            .pipelines
            .list_pipeline_executions()
            .pipeline_name(pipeline)
            .max_results(25)
            .send()
            .await
            .map_err(|err| ReadError::Pipeline {
                pipeline: pipeline.to_owned(),
                execution: execution_id.to_owned(),
                source: ServiceError::from_sdk(err),
            })?;
        Ok(output
            .pipeline_execution_summaries
            .unwrap_or_default()
            .into_iter()
            .find(|summary| summary.pipeline_execution_id.as_deref() == Some(execution_id))
            .and_then(|summary| summary.stop_trigger)
            .and_then(|trigger| trigger.reason)
            .filter(|reason| !reason.trim().is_empty()))
    }

    /// The actions each stage declares in `version` of the pipeline (an
    /// execution runs the version it started with, even after an update).
    pub async fn declared_stages(
        &self,
        pipeline: &str,
        version: i32,
    ) -> Result<Vec<DeclaredStage>, ReadError> {
        let output = self
            .pipelines
            .get_pipeline()
            .name(pipeline)
            .version(version)
            .send()
            .await
            .map_err(|err| ReadError::Declaration {
                pipeline: pipeline.to_owned(),
                version,
                source: ServiceError::from_sdk(err),
            })?;
        Ok(output
            .pipeline
            .map(|declaration| {
                declaration
                    .stages
                    .into_iter()
                    .map(|stage| DeclaredStage {
                        stage: stage.name,
                        actions: stage.actions.into_iter().map(|a| a.name).collect(),
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    /// The execution's actions, for the failing stage and action.
    pub async fn actions(
        &self,
        pipeline: &str,
        execution_id: &str,
    ) -> Result<Vec<ActionSnapshot>, ReadError> {
        let mut pages = self
            .pipelines
            .list_action_executions()
            .pipeline_name(pipeline)
            .filter(
                ActionExecutionFilter::builder()
                    .pipeline_execution_id(execution_id)
                    .build(),
            )
            .into_paginator()
            .send();
        let mut actions = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|err| ReadError::Pipeline {
                pipeline: pipeline.to_owned(),
                execution: execution_id.to_owned(),
                source: ServiceError::from_sdk(err),
            })?;
            for detail in page.action_execution_details.unwrap_or_default() {
                let duration = match (detail.start_time, detail.last_update_time) {
                    (Some(start), Some(end)) => seconds_between(&start, &end),
                    _ => None,
                };
                let started_at = detail.start_time.map(|t| t.secs());
                let action_type = detail
                    .input
                    .as_ref()
                    .and_then(|input| input.action_type_id());
                let approval = action_type.is_some_and(|id| {
                    id.category() == &aws_sdk_codepipeline::types::ActionCategory::Approval
                });
                let runs_codebuild = action_type.is_some_and(|id| {
                    id.owner() == &aws_sdk_codepipeline::types::ActionOwner::Aws
                        && id.provider() == "CodeBuild"
                });
                let result = detail.output.and_then(|o| o.execution_result);
                actions.push(ActionSnapshot {
                    approval,
                    stage: detail.stage_name.unwrap_or_default(),
                    action: detail.action_name.unwrap_or_default(),
                    status: detail
                        .status
                        .unwrap_or_else(|| ActionExecutionStatus::from("")),
                    // A CodeBuild action's external execution is its build.
                    build_id: result
                        .as_ref()
                        .and_then(|r| r.external_execution_id.clone())
                        .filter(|_| runs_codebuild),
                    summary: result.and_then(|r| r.external_execution_summary),
                    duration,
                    started_at,
                });
            }
        }
        Ok(mapping::latest_attempts(actions))
    }
}

/// `DescribeTestCases`' page limit.
const MAX_FAILED_READ: i32 = 100;

/// Failures first in a report's totals.
fn status_order(status: &str) -> u8 {
    match status {
        "FAILED" => 0,
        "ERROR" => 1,
        "SUCCEEDED" => 2,
        "SKIPPED" => 3,
        _ => 4,
    }
}

fn seconds_between(start: &DateTime, end: &DateTime) -> Option<Duration> {
    let secs = end.secs().checked_sub(start.secs())?;
    u64::try_from(secs).ok().map(Duration::from_secs)
}
