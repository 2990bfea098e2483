//! Stopping what Gantry started and no longer needs: the builds and
//! executions of a branch's or pull request's older commits (a route's
//! `cancel_in_progress`), and a merge group's once it leaves the queue
//! without merging. What a ref and route started is found in the ledger
//! (`starts_for_ref`); the choice is pure, the stop calls are the shell.

use crate::start::{Started, Starter};
use gantry_core::aws::ServiceError;
use gantry_core::deadline::aws_call;
use gantry_core::ledger::RefStart;
use serde::Serialize;
use tokio::time::Instant;

/// One build or execution to stop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stop {
    /// `pipeline/<name>` or `project/<name>`.
    pub target: String,
    #[serde(flatten)]
    pub started: Started,
    /// The commit it was started for.
    pub commit: String,
    /// Why, as CodePipeline records it on the execution.
    pub reason: String,
}

/// Pure: what the ref's starts older than `delivery`'s own claim started for
/// other commits. `starts` come newest first (the ledger's order), so only
/// the entries after this delivery's are older: a late redelivery of an old
/// push never stops a newer commit's build. Nothing, if this delivery's claim
/// is not among them.
pub fn superseded(starts: &[RefStart], delivery: &str, commit: &str) -> Vec<Stop> {
    let Some(own) = starts.iter().position(|start| start.delivery == delivery) else {
        return Vec::new();
    };
    let short = &commit[..commit.len().min(7)];
    starts[own + 1..]
        .iter()
        .filter(|start| start.commit != commit)
        .filter_map(|start| {
            Some(Stop {
                target: start.target.clone(),
                started: started(start)?,
                commit: start.commit.clone(),
                reason: format!("Superseded by {short}"),
            })
        })
        .collect()
}

/// Pure: everything a merge group's routes started for it.
pub fn for_group(starts: &[RefStart], reason: &str) -> Vec<Stop> {
    starts
        .iter()
        .filter_map(|start| {
            Some(Stop {
                target: start.target.clone(),
                started: started(start)?,
                commit: start.commit.clone(),
                reason: format!("Merge group {reason}"),
            })
        })
        .collect()
}

fn started(start: &RefStart) -> Option<Started> {
    let record = start.started.as_ref()?;
    Some(match record.kind.as_str() {
        "build" => Started::Build(record.id.clone()),
        _ => Started::PipelineExecution(record.id.clone()),
    })
}

#[derive(Debug, thiserror::Error)]
pub enum StopError {
    #[error("StopBuild of {build} failed")]
    Build {
        build: String,
        #[source]
        source: ServiceError<aws_sdk_codebuild::Error>,
    },
    #[error("StopPipelineExecution of {execution} of pipeline {pipeline} failed")]
    Pipeline {
        pipeline: String,
        execution: String,
        #[source]
        source: ServiceError<aws_sdk_codepipeline::Error>,
    },
}

impl StopError {
    pub fn is_transient(&self) -> bool {
        match self {
            StopError::Build { source, .. } => source.is_transient(),
            StopError::Pipeline { source, .. } => source.is_transient(),
        }
    }
}

/// What a stop came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stopped {
    Stopped,
    /// It had finished (or was stopping) already.
    AlreadyFinished,
}

impl Starter {
    /// Stops `stop`. An execution is stopped without abandoning its running
    /// actions (they finish, then the execution stops), as CodePipeline's
    /// console does by default.
    pub async fn stop(&self, stop: &Stop, deadline: Instant) -> Result<Stopped, StopError> {
        match &stop.started {
            Started::Build(build) => {
                let call = self.builds().stop_build().id(build).send();
                aws_call(deadline, call)
                    .await
                    .map(|_| Stopped::Stopped)
                    .map_err(|err| StopError::Build {
                        build: build.clone(),
                        source: ServiceError::from_sdk(err),
                    })
            }
            Started::PipelineExecution(execution) => {
                let pipeline = stop
                    .target
                    .strip_prefix("pipeline/")
                    .unwrap_or(&stop.target);
                let call = self
                    .pipelines()
                    .stop_pipeline_execution()
                    .pipeline_name(pipeline)
                    .pipeline_execution_id(execution)
                    .abandon(false)
                    .reason(&stop.reason)
                    .send();
                match aws_call(deadline, call).await {
                    Ok(_) => Ok(Stopped::Stopped),
                    Err(err)
                        if err.as_service_error().is_some_and(|service| {
                            service.is_pipeline_execution_not_stoppable_exception()
                                || service.is_duplicated_stop_request_exception()
                        }) =>
                    {
                        Ok(Stopped::AlreadyFinished)
                    }
                    Err(err) => Err(StopError::Pipeline {
                        pipeline: pipeline.to_owned(),
                        execution: execution.clone(),
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
    use gantry_core::ledger::StartedRecord;

    fn start(delivery: &str, commit: &str, build: Option<&str>) -> RefStart {
        RefStart {
            delivery: delivery.into(),
            target: "project/app".into(),
            commit: commit.into(),
            claimed_at: 0,
            started: build.map(|id| StartedRecord {
                kind: "build".into(),
                id: id.into(),
            }),
        }
    }

    #[test]
    fn only_older_starts_of_other_commits_are_superseded() {
        // Newest first: d3 (this delivery), d2, d1; d0 claimed but never started.
        let starts = [
            start("d3", "cccccccccc", Some("app:3")),
            start("d2b", "cccccccccc", Some("app:3")),
            start("d2", "bbbbbbbbbb", Some("app:2")),
            start("d0", "0000000000", None),
            start("d1", "aaaaaaaaaa", Some("app:1")),
        ];
        let stops = superseded(&starts, "d3", "cccccccccc");
        let ids: Vec<_> = stops.iter().map(|s| s.started.clone()).collect();
        assert_eq!(
            ids,
            [
                Started::Build("app:2".into()),
                Started::Build("app:1".into())
            ]
        );
        assert_eq!(stops[0].reason, "Superseded by ccccccc");
        // A late redelivery of d1 stops nothing newer.
        assert!(superseded(&starts, "d1", "aaaaaaaaaa").is_empty());
        // A delivery not in the ledger stops nothing.
        assert!(superseded(&starts, "elsewhere", "dddddddddd").is_empty());
    }

    #[test]
    fn a_groups_stops_are_everything_it_started() {
        let starts = [
            start("g1", "aaaaaaaaaa", Some("app:1")),
            start("g2", "aaaaaaaaaa", None),
        ];
        let stops = for_group(&starts, "dequeued");
        assert_eq!(stops.len(), 1);
        assert_eq!(stops[0].reason, "Merge group dequeued");
    }
}
