//! GitHub's buttons on Gantry's check runs (App mode): "Re-run" starts the
//! run's target again at the same commit, from the original event the
//! ledger kept, as a new build or execution; the run's own "Stop" stops it.
//! The run's `external_id` says where it came from (`RunOrigin`), as
//! `status` wrote it; "Re-run all checks" on the commit's suite runs every
//! target Gantry started for it again. Only deliveries GitHub signed reach this code, and
//! GitHub shows these buttons only to people with write access.

use crate::cancel::Stop;
use crate::handler::{StartedTarget, Summary, Trigger, TriggerError};
use crate::once::{self, Outcome};
use crate::retry_stage::Retried;
use crate::route;
use crate::start::Started;
use aws_sdk_codepipeline::types::StageRetryMode;
use gantry_core::contract::{CheckRunRequest, CheckSuiteRequest, GitEvent, RunOrigin};
use gantry_core::ids::DeliveryId;
use gantry_core::ledger::DecisionRecord;
use tokio::time::Instant;
use tracing::info;

/// The identifier of a run's "Stop" button, as `status` adds it.
pub const STOP: &str = "stop";
/// The identifier of a failed execution's "Retry failed actions" button.
pub const RETRY_FAILED: &str = "retry_failed";

impl Trigger {
    pub(crate) async fn press(
        &self,
        event: &GitEvent,
        request: &CheckRunRequest,
        deadline: Instant,
    ) -> Result<Summary, TriggerError> {
        let Some(origin) = RunOrigin::parse(&request.external_id) else {
            return Ok(skipped(format!(
                "check run {} ({}) names no Gantry run in its external_id",
                request.check_run_id, request.name
            )));
        };
        match (request.action.as_str(), request.identifier.as_deref()) {
            ("rerequested", _) => {
                // A stage's run re-runs that stage in its execution while
                // CodePipeline can; otherwise, a new execution.
                if let Some((pipeline, execution, stage)) = stage_run(&origin) {
                    let retried = self
                        .starter()
                        .retry_stage(
                            pipeline,
                            execution,
                            stage,
                            StageRetryMode::AllActions,
                            deadline,
                        )
                        .await?;
                    match retried {
                        Retried::Retried { .. } => {
                            return Ok(retried_summary(pipeline, execution, retried))
                        }
                        Retried::NotRetryable { reason } => {
                            info!(%reason, "the stage cannot be retried in its execution; starting a new one")
                        }
                    }
                }
                self.rerun(event, request, &origin, deadline).await
            }
            ("requested_action", Some(STOP)) => self.stop_run(request, &origin, deadline).await,
            ("requested_action", Some(RETRY_FAILED)) => {
                self.retry_failed(request, &origin, deadline).await
            }
            (action, identifier) => Ok(skipped(format!(
                "check run {}: {action} {} is no button Gantry offers",
                request.check_run_id,
                identifier.unwrap_or("")
            ))),
        }
    }

    async fn rerun(
        &self,
        event: &GitEvent,
        request: &CheckRunRequest,
        origin: &RunOrigin,
        deadline: Instant,
    ) -> Result<Summary, TriggerError> {
        let Ok(original_delivery) = DeliveryId::parse(&origin.delivery) else {
            return Ok(skipped(format!("{:?} is no delivery id", origin.delivery)));
        };
        let Some(decision) = self.ledger().decision(&original_delivery, deadline).await? else {
            return Ok(skipped(format!(
                "the ledger no longer holds delivery {original_delivery} (its records live 15 days); push again or redeliver it"
            )));
        };
        let original: GitEvent = match serde_json::from_value(decision.event.clone()) {
            Ok(original) => original,
            Err(err) => {
                return Err(TriggerError::Detail {
                    path: "(the ledger's original event)".into(),
                    message: err.to_string(),
                })
            }
        };
        let Some(start) = route::rerun(
            &original,
            self.routes(),
            &origin.target,
            event.delivery_id.as_str(),
        ) else {
            return Ok(skipped(format!(
                "no route starts {} for delivery {original_delivery} any more",
                origin.target
            )));
        };
        // Claimed under the re-run's own delivery, so it is a start of its own,
        // once however often GitHub delivers the press.
        let rerun_event = GitEvent {
            delivery_id: event.delivery_id.clone(),
            ..original.clone()
        };
        self.ledger()
            .record_decision(
                &DecisionRecord {
                    delivery: event.delivery_id.clone(),
                    repository: original.repository.clone(),
                    commit: original.commit.clone(),
                    outcome: "started".into(),
                    reason: Some(format!(
                        "re-run of {} ({}) from check run {}",
                        origin.run, original_delivery, request.check_run_id
                    )),
                    routes: vec![format!("{}: re-runs {}", start.route, origin.target)],
                    event: decision.event,
                    decided_at: self.ledger().now(),
                },
                deadline,
            )
            .await?;
        let started = self.start_rerun(&rerun_event, start, deadline).await?;
        info!(rerun_of = %origin.run, started = ?started.started, already_started = started.already_started, "re-run started");
        Ok(Summary::Started {
            started: vec![started],
            stopped: Vec::new(),
        })
    }

    /// "Re-run all checks": every target Gantry started for the suite's
    /// commit starts again, each from the newest delivery that started it,
    /// under the press's own delivery (so a redelivered press starts nothing
    /// more).
    pub(crate) async fn rerun_suite(
        &self,
        event: &GitEvent,
        request: &CheckSuiteRequest,
        deadline: Instant,
    ) -> Result<Summary, TriggerError> {
        let mut decisions = self
            .ledger()
            .decisions_for_commit(&event.repository, &event.commit, deadline)
            .await?;
        decisions.sort_by_key(|decision| std::cmp::Reverse(decision.decided_at));
        let mut restarts: Vec<(route::Start, GitEvent)> = Vec::new();
        for decision in decisions.iter().filter(|d| d.outcome == "started") {
            // The press's own record, from an earlier delivery of it.
            if decision.delivery == event.delivery_id {
                continue;
            }
            let Ok(original) = serde_json::from_value::<GitEvent>(decision.event.clone()) else {
                continue;
            };
            let starts = self
                .ledger()
                .starts_for_delivery(&decision.delivery, deadline)
                .await?;
            for start in starts.iter().filter(|start| start.started.is_some()) {
                if restarts
                    .iter()
                    .any(|(planned, _)| planned.target.ledger_key() == start.target)
                {
                    continue;
                }
                if let Some(again) = route::rerun(
                    &original,
                    self.routes(),
                    &start.target,
                    event.delivery_id.as_str(),
                ) {
                    restarts.push((again, original.clone()));
                }
            }
        }
        let Some((_, newest)) = restarts.first() else {
            return Ok(skipped(format!(
                "check suite {}: the ledger holds nothing Gantry started for {} that a route still starts (records live 15 days)",
                request.check_suite_id, event.commit
            )));
        };
        self.ledger()
            .record_decision(
                &DecisionRecord {
                    delivery: event.delivery_id.clone(),
                    repository: event.repository.clone(),
                    commit: event.commit.clone(),
                    outcome: "started".into(),
                    reason: Some(format!("re-run of check suite {}", request.check_suite_id)),
                    routes: restarts
                        .iter()
                        .map(|(start, _)| {
                            format!("{}: re-runs {}", start.route, start.target.ledger_key())
                        })
                        .collect(),
                    event: serde_json::to_value(newest).unwrap_or_default(),
                    decided_at: self.ledger().now(),
                },
                deadline,
            )
            .await?;
        let mut started = Vec::new();
        for (start, original) in &restarts {
            let rerun_event = GitEvent {
                delivery_id: event.delivery_id.clone(),
                ..original.clone()
            };
            started.push(
                self.start_rerun(&rerun_event, start.clone(), deadline)
                    .await?,
            );
        }
        info!(
            check_suite = request.check_suite_id,
            restarted = started.len(),
            "check suite re-run"
        );
        Ok(Summary::Started {
            started,
            stopped: Vec::new(),
        })
    }

    /// One re-run's start, claimed under the press's delivery.
    async fn start_rerun(
        &self,
        rerun_event: &GitEvent,
        start: route::Start,
        deadline: Instant,
    ) -> Result<StartedTarget, TriggerError> {
        let outcome = once::start_once(
            self.ledger(),
            self.starter(),
            rerun_event,
            &start,
            self.ledger().now(),
            deadline,
        )
        .await
        .map_err(|err| TriggerError::start_failed(&err))?;
        let (started, already_started) = match outcome {
            Outcome::Started(started) => (started, false),
            Outcome::AlreadyStarted(started) => (started, true),
        };
        Ok(StartedTarget {
            route: start.route,
            target: start.target.name().to_owned(),
            started,
            already_started,
        })
    }

    /// "Retry failed actions": the failed stage of the run's execution (the
    /// stage's own, for a stage's run) retries what failed in it.
    async fn retry_failed(
        &self,
        request: &CheckRunRequest,
        origin: &RunOrigin,
        deadline: Instant,
    ) -> Result<Summary, TriggerError> {
        let Some(pipeline) = origin.target.strip_prefix("pipeline/") else {
            return Ok(skipped(format!(
                "check run {}: a build has no actions to retry",
                request.check_run_id
            )));
        };
        let (execution, stage) = match origin.run.split_once('/') {
            Some((execution, stage)) => (execution, Some(stage.to_owned())),
            None => (origin.run.as_str(), None),
        };
        let stage = match stage {
            Some(stage) => stage,
            None => match self
                .starter()
                .failed_stage_of(pipeline, execution, deadline)
                .await?
            {
                Some(stage) => stage,
                None => {
                    return Ok(skipped(format!(
                        "execution {execution} of {pipeline} has no failed action to retry"
                    )))
                }
            },
        };
        let retried = self
            .starter()
            .retry_stage(
                pipeline,
                execution,
                &stage,
                StageRetryMode::FailedActions,
                deadline,
            )
            .await?;
        Ok(retried_summary(pipeline, execution, retried))
    }

    async fn stop_run(
        &self,
        request: &CheckRunRequest,
        origin: &RunOrigin,
        deadline: Instant,
    ) -> Result<Summary, TriggerError> {
        let started = if origin.target.starts_with("project/") {
            Started::Build(origin.run.clone())
        } else {
            // A stage's run is `<execution>/<stage>`: its execution stops.
            let execution = origin.run.split('/').next().unwrap_or(&origin.run);
            Started::PipelineExecution(execution.to_owned())
        };
        let stop = Stop {
            target: origin.target.clone(),
            started,
            commit: String::new(),
            reason: format!("Stopped from GitHub (check run {})", request.check_run_id),
            delivery: Some(origin.delivery.clone()),
        };
        let stopped = self.stop_all(vec![stop], deadline).await?;
        Ok(Summary::Stopped { stopped })
    }
}

/// A stage's run: its pipeline, execution and stage (`<execution>/<stage>`).
fn stage_run(origin: &RunOrigin) -> Option<(&str, &str, &str)> {
    let pipeline = origin.target.strip_prefix("pipeline/")?;
    let (execution, stage) = origin.run.split_once('/')?;
    Some((pipeline, execution, stage))
}

fn retried_summary(pipeline: &str, execution: &str, retried: Retried) -> Summary {
    match &retried {
        Retried::Retried { stage } => info!(%pipeline, %execution, %stage, "stage retried"),
        Retried::NotRetryable { reason } => info!(%pipeline, %execution, %reason, "not retried"),
    }
    Summary::Retried {
        pipeline: pipeline.to_owned(),
        execution: execution.to_owned(),
        retried,
    }
}

fn skipped(reason: String) -> Summary {
    info!(%reason, "nothing started");
    Summary::Skipped { reason }
}
