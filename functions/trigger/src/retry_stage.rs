//! A stage retried in the same execution: GitHub's "Retry failed actions"
//! on a failed execution's check run (`FAILED_ACTIONS`, only what failed),
//! and "Re-run" on a stage's check run (`ALL_ACTIONS`, the whole stage).
//! CodePipeline retries a failed stage of its pipeline's latest execution
//! only; anything else is answered with its reason, and a stage's re-run
//! then starts a new execution instead.

use crate::start::Starter;
use aws_sdk_codepipeline::operation::retry_stage_execution::RetryStageExecutionError;
use aws_sdk_codepipeline::types::{ActionExecutionFilter, ActionExecutionStatus, StageRetryMode};
use gantry_core::aws::ServiceError;
use gantry_core::deadline::aws_call;
use serde::Serialize;
use tokio::time::Instant;

#[derive(Debug, thiserror::Error)]
pub enum RetryError {
    #[error("ListActionExecutions for execution {execution} of pipeline {pipeline} failed")]
    Actions {
        pipeline: String,
        execution: String,
        #[source]
        source: ServiceError<aws_sdk_codepipeline::Error>,
    },
    #[error("RetryStageExecution of stage {stage} of execution {execution} of pipeline {pipeline} failed")]
    Retry {
        pipeline: String,
        execution: String,
        stage: String,
        #[source]
        source: ServiceError<aws_sdk_codepipeline::Error>,
    },
}

impl RetryError {
    pub fn is_transient(&self) -> bool {
        match self {
            RetryError::Actions { source, .. } | RetryError::Retry { source, .. } => {
                source.is_transient()
            }
        }
    }
}

/// What a retry came to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "retry", rename_all = "snake_case")]
pub enum Retried {
    Retried {
        stage: String,
    },
    /// CodePipeline would not retry it, and why (the stage has not failed,
    /// or the execution is no longer the pipeline's latest).
    NotRetryable {
        reason: String,
    },
}

/// The failed stage of an execution: where its latest attempt of an action
/// failed (a stage retried before lists every attempt).
pub fn failed_stage(actions: &[(String, String, ActionExecutionStatus, i64)]) -> Option<String> {
    let mut latest: Vec<&(String, String, ActionExecutionStatus, i64)> = Vec::new();
    for action in actions {
        match latest
            .iter_mut()
            .find(|seen| seen.0 == action.0 && seen.1 == action.1)
        {
            Some(seen) if seen.3 < action.3 => *seen = action,
            Some(_) => {}
            None => latest.push(action),
        }
    }
    latest
        .into_iter()
        .find(|(_, _, status, _)| *status == ActionExecutionStatus::Failed)
        .map(|(stage, ..)| stage.clone())
}

impl Starter {
    /// The stage where `execution` failed, read from its actions.
    pub async fn failed_stage_of(
        &self,
        pipeline: &str,
        execution: &str,
        deadline: Instant,
    ) -> Result<Option<String>, RetryError> {
        // One page, newest first: the latest attempts, where a failure is.
        let call = self
            .pipelines()
            .list_action_executions()
            .pipeline_name(pipeline)
            .filter(
                ActionExecutionFilter::builder()
                    .pipeline_execution_id(execution)
                    .build(),
            )
            .max_results(100)
            .send();
        let page = aws_call(deadline, call)
            .await
            .map_err(|err| RetryError::Actions {
                pipeline: pipeline.to_owned(),
                execution: execution.to_owned(),
                source: ServiceError::from_sdk(err),
            })?;
        let actions: Vec<_> = page
            .action_execution_details
            .unwrap_or_default()
            .into_iter()
            .map(|detail| {
                (
                    detail.stage_name.unwrap_or_default(),
                    detail.action_name.unwrap_or_default(),
                    detail
                        .status
                        .unwrap_or_else(|| ActionExecutionStatus::from("")),
                    detail.start_time.map_or(0, |t| t.secs()),
                )
            })
            .collect();
        Ok(failed_stage(&actions))
    }

    pub async fn retry_stage(
        &self,
        pipeline: &str,
        execution: &str,
        stage: &str,
        mode: StageRetryMode,
        deadline: Instant,
    ) -> Result<Retried, RetryError> {
        let call = self
            .pipelines()
            .retry_stage_execution()
            .pipeline_name(pipeline)
            .pipeline_execution_id(execution)
            .stage_name(stage)
            .retry_mode(mode)
            .send();
        match aws_call(deadline, call).await {
            Ok(_) => Ok(Retried::Retried {
                stage: stage.to_owned(),
            }),
            Err(err) => {
                let refused = err.as_service_error().and_then(|service| match service {
                    RetryStageExecutionError::StageNotRetryableException(e) => Some(
                        e.message()
                            .unwrap_or("the stage cannot be retried")
                            .to_owned(),
                    ),
                    RetryStageExecutionError::NotLatestPipelineExecutionException(e) => Some(
                        e.message()
                            .unwrap_or("the execution is not the pipeline's latest")
                            .to_owned(),
                    ),
                    _ => None,
                });
                match refused {
                    Some(reason) => Ok(Retried::NotRetryable { reason }),
                    None => Err(RetryError::Retry {
                        pipeline: pipeline.to_owned(),
                        execution: execution.to_owned(),
                        stage: stage.to_owned(),
                        source: ServiceError::from_sdk(err),
                    }),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_failed_stage_is_where_an_actions_latest_attempt_failed() {
        let action = |stage: &str, name: &str, status: &str, at: i64| {
            (
                stage.to_owned(),
                name.to_owned(),
                ActionExecutionStatus::from(status),
                at,
            )
        };
        let cases = [
            (
                vec![
                    action("Source", "Source", "Succeeded", 1),
                    action("Build", "Build", "Failed", 2),
                ],
                Some("Build"),
            ),
            // Build failed, was retried and succeeded; Deploy then failed.
            (
                vec![
                    action("Build", "Build", "Failed", 2),
                    action("Build", "Build", "Succeeded", 5),
                    action("Deploy", "Deploy", "Failed", 7),
                ],
                Some("Deploy"),
            ),
            // Listed newest first, as CodePipeline does: the order does not matter.
            (
                vec![
                    action("Build", "Build", "Succeeded", 5),
                    action("Build", "Build", "Failed", 2),
                ],
                None,
            ),
            (vec![action("Build", "Build", "InProgress", 2)], None),
            (vec![], None),
        ];
        for (actions, expected) in cases {
            assert_eq!(failed_stage(&actions).as_deref(), expected, "{actions:?}");
        }
    }
}
