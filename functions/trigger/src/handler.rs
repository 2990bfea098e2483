//! One EventBridge event in: parse the Gantry detail, plan, start. Any failure
//! is returned as an error so EventBridge retries and, in the end, the
//! dead-letter queue keeps the event; nothing is dropped with a success.

use crate::config::Routes;
use crate::route::{self, Plan};
use crate::start::{StartError, Started, Starter};
use aws_lambda_events::eventbridge::EventBridgeEvent;
use gantry_core::contract::{GitEvent, SOURCE};
use gantry_core::logging::error_chain;
use serde::Serialize;
use tracing::{error, info, info_span, warn, Instrument};

#[derive(Debug, thiserror::Error)]
pub enum TriggerError {
    #[error("event detail is not a Gantry event at {path}: {message}")]
    Detail { path: String, message: String },
    #[error("{failed} of {planned} starts failed ({kind}); first: {first}")]
    Start {
        failed: usize,
        planned: usize,
        kind: &'static str,
        first: String,
        /// The first permanent failure's type, else the first failure's.
        error_type: &'static str,
    },
}

impl TriggerError {
    pub fn error_type(&self) -> &'static str {
        match self {
            TriggerError::Detail { .. } => "InvalidEvent",
            TriggerError::Start { error_type, .. } => error_type,
        }
    }
}

/// What the invocation did; the function's return value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Summary {
    Ignored { reason: String },
    Skipped { reason: String },
    Started { started: Vec<StartedTarget> },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StartedTarget {
    pub route: String,
    pub target: String,
    #[serde(flatten)]
    pub started: Started,
}

pub struct Trigger {
    routes: Routes,
    starter: Starter,
}

impl Trigger {
    pub fn new(routes: Routes, starter: Starter) -> Self {
        Trigger { routes, starter }
    }

    pub async fn handle(
        &self,
        event: EventBridgeEvent<serde_json::Value>,
    ) -> Result<Summary, TriggerError> {
        if event.source != SOURCE {
            let reason = format!("source {:?} is not {SOURCE}", event.source);
            info!(%reason, detail_type = %event.detail_type, "event ignored");
            return Ok(Summary::Ignored { reason });
        }
        let detail: GitEvent = serde_path_to_error::deserialize(event.detail).map_err(|err| {
            let err = TriggerError::Detail {
                path: err.path().to_string(),
                message: err.inner().to_string(),
            };
            error!(error = %err, event_id = event.id.as_deref().unwrap_or("-"), "event rejected");
            err
        })?;
        let span = info_span!(
            "event",
            delivery = %detail.delivery_id,
            repository = %detail.repository,
            commit = %detail.commit,
        );
        self.start_all(&detail).instrument(span).await
    }

    async fn start_all(&self, event: &GitEvent) -> Result<Summary, TriggerError> {
        let (starts, held_back) = match route::plan(event, &self.routes) {
            Plan::SkipRequested => {
                let reason = "head commit message asks to skip CI".to_owned();
                info!(%reason, "nothing started");
                return Ok(Summary::Skipped { reason });
            }
            Plan::Start { starts, held_back } => (starts, held_back),
        };
        for held in &held_back {
            info!(route = %held.route, reason = %held.reason, "route matched; not started");
        }
        if starts.is_empty() {
            let reason = match held_back.first() {
                Some(held) => format!("{}: {}", held.route, held.reason),
                None => format!(
                    "no route matches {} {} of {}",
                    event.detail_type(),
                    event.branch().unwrap_or("(no branch)"),
                    event.repository
                ),
            };
            info!(%reason, "nothing started");
            return Ok(Summary::Skipped { reason });
        }

        let mut started = Vec::new();
        let mut failures: Vec<StartError> = Vec::new();
        for start in &starts {
            // Each start's lines carry the whole context, not just the pipeline.
            let span = info_span!(
                "start",
                delivery = %event.delivery_id,
                repository = %event.repository,
                commit = %event.commit,
                pipeline = start.target.name(),
                route = %start.route,
            );
            let result = self.starter.start(start).instrument(span.clone()).await;
            let _entered = span.enter();
            match result {
                Ok(id) => {
                    match &id {
                        Started::PipelineExecution(execution) => {
                            info!(execution = %execution, "started")
                        }
                        Started::Build(build) => info!(build = %build, "started"),
                    }
                    started.push(StartedTarget {
                        route: start.route.clone(),
                        target: start.target.name().to_owned(),
                        started: id,
                    });
                }
                Err(err) => {
                    if err.is_transient() {
                        warn!(error = %error_chain(&err), transient = true, "start failed; will be retried");
                    } else {
                        error!(error = %error_chain(&err), transient = false, event = ?event, "start failed; check the routing configuration");
                    }
                    failures.push(err);
                }
            }
        }
        let worst = failures
            .iter()
            .find(|failure| !failure.is_transient())
            .or(failures.first());
        match (failures.first(), worst) {
            (Some(first), Some(worst)) => Err(TriggerError::Start {
                failed: failures.len(),
                planned: starts.len(),
                kind: if failures.iter().any(StartError::is_transient) {
                    "transient"
                } else {
                    "permanent"
                },
                first: error_chain(first),
                error_type: worst.error_type(),
            }),
            _ => Ok(Summary::Started { started }),
        }
    }
}
