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
    /// Why, as CodePipeline records it on the execution (and the ledger on
    /// the start, for a build: CodeBuild keeps no reason).
    pub reason: String,
    /// The delivery whose start it is, where the ledger holds that start.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery: Option<String>,
}

/// How many of a ref's older starts are looked at: those further back have
/// long finished on any branch pushed to this often.
pub const MAX_OLDER_STARTS: usize = 10;

/// What a ref's starts call for, seen from one delivery's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Superseded {
    /// Stop these.
    Stop(Vec<Stop>),
    /// An older event's start is being made right now (claimed, not yet
    /// recorded): try again once it is, so it is not left running.
    Pending { delivery: String },
}

/// Pure: what the ref's starts call for, seen from this delivery's. The
/// order is the events' own time (GitHub's delivery, as EventBridge stamped
/// it; a redelivery keeps its first time), never the order trigger happened
/// to handle them in:
/// - when a newer event on the ref started another commit, this delivery's
///   own start is the superseded one (an older push handled late, or
///   redelivered), and it is stopped: the newest commit's build is the one
///   left running;
/// - otherwise the starts of older events for other commits are stopped (the
///   latest `MAX_OLDER_STARTS` of them).
///
/// Nothing when this delivery's own claim is not found (the index lags a
/// write by a moment); events of the same second do not stop each other.
pub fn superseded(starts: &[RefStart], delivery: &str, commit: &str, now: i64) -> Superseded {
    let Some(own) = starts.iter().find(|start| start.delivery == delivery) else {
        return Superseded::Stop(Vec::new());
    };
    let others = || starts.iter().filter(|start| start.commit != commit);
    if let Some(newer) = others()
        .filter(|start| start.event_at > own.event_at)
        .max_by_key(|start| start.event_at)
    {
        let short = &newer.commit[..newer.commit.len().min(7)];
        return Superseded::Stop(
            stop(own, format!("Superseded by {short}"))
                .into_iter()
                .collect(),
        );
    }
    let short = &commit[..commit.len().min(7)];
    let mut older: Vec<&RefStart> = others()
        .filter(|start| start.event_at < own.event_at)
        .collect();
    older.sort_by_key(|start| std::cmp::Reverse(start.event_at));
    older.truncate(MAX_OLDER_STARTS);
    if let Some(pending) = older
        .iter()
        .find(|start| start.started.is_none() && start.lease_until > now)
    {
        return Superseded::Pending {
            delivery: pending.delivery.clone(),
        };
    }
    Superseded::Stop(
        older
            .into_iter()
            .filter_map(|start| stop(start, format!("Superseded by {short}")))
            .collect(),
    )
}

fn stop(start: &RefStart, reason: String) -> Option<Stop> {
    Some(Stop {
        target: start.target.clone(),
        started: started(start)?,
        commit: start.commit.clone(),
        reason,
        delivery: Some(start.delivery.clone()),
    })
}

/// Pure: everything a merge group's routes started for it.
pub fn for_group(starts: &[RefStart], reason: &str) -> Vec<Stop> {
    starts
        .iter()
        .filter_map(|start| stop(start, format!("Merge group {reason}")))
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
                // A finished build is left alone: nothing to stop.
                let read = self.builds().batch_get_builds().ids(build).send();
                let finished = aws_call(deadline, read)
                    .await
                    .map_err(|err| StopError::Build {
                        build: build.clone(),
                        source: ServiceError::from_sdk(err),
                    })?
                    .builds()
                    .first()
                    .is_none_or(|found| found.build_complete());
                if finished {
                    return Ok(Stopped::AlreadyFinished);
                }
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

    fn start(delivery: &str, commit: &str, event_at: i64, build: Option<&str>) -> RefStart {
        RefStart {
            delivery: delivery.into(),
            target: "project/app".into(),
            commit: commit.into(),
            event_at,
            lease_until: 0,
            started: build.map(|id| StartedRecord {
                kind: "build".into(),
                id: id.into(),
            }),
        }
    }

    fn stopped(result: Superseded) -> Vec<Started> {
        match result {
            Superseded::Stop(stops) => stops.into_iter().map(|s| s.started).collect(),
            Superseded::Pending { delivery } => panic!("pending on {delivery}"),
        }
    }

    #[test]
    fn only_older_events_starts_of_other_commits_are_superseded() {
        // In the ledger's order, by event time: d3 (this delivery, t=300),
        // d2b (t=300, the same commit), d2 (t=200), d0 (t=150, released,
        // never started), d1 (t=100).
        let starts = [
            start("d3", "cccccccccc", 300, Some("app:3")),
            start("d2b", "cccccccccc", 300, Some("app:3")),
            start("d2", "bbbbbbbbbb", 200, Some("app:2")),
            start("d0", "0000000000", 150, None),
            start("d1", "aaaaaaaaaa", 100, Some("app:1")),
        ];
        assert_eq!(
            stopped(superseded(&starts, "d3", "cccccccccc", 1_000)),
            [
                Started::Build("app:2".into()),
                Started::Build("app:1".into())
            ]
        );
        let Superseded::Stop(stops) = superseded(&starts, "d3", "cccccccccc", 1_000) else {
            unreachable!()
        };
        assert_eq!(stops[0].reason, "Superseded by ccccccc");
        // The older push, handled after the newer one (or redelivered late),
        // stops nothing newer: it is the one superseded, by the newest commit.
        let Superseded::Stop(own) = superseded(&starts, "d1", "aaaaaaaaaa", 1_000) else {
            unreachable!()
        };
        assert_eq!(own.len(), 1);
        assert_eq!(own[0].started, Started::Build("app:1".into()));
        assert_eq!(own[0].reason, "Superseded by ccccccc");
        // A delivery not in the ledger (yet) stops nothing.
        assert!(stopped(superseded(&starts, "elsewhere", "dddddddddd", 1_000)).is_empty());
    }

    #[test]
    fn an_older_start_still_being_made_is_waited_for() {
        let mut making = start("d1", "aaaaaaaaaa", 100, None);
        making.lease_until = 1_030;
        let starts = [start("d2", "bbbbbbbbbb", 200, Some("app:2")), making];
        // (d2 is the newest: it waits for d1's start, to stop it.)
        assert_eq!(
            superseded(&starts, "d2", "bbbbbbbbbb", 1_000),
            Superseded::Pending {
                delivery: "d1".into()
            }
        );
        // Its lease ran out with nothing recorded: nothing to stop.
        assert!(stopped(superseded(&starts, "d2", "bbbbbbbbbb", 1_031)).is_empty());
    }

    #[test]
    fn only_the_latest_older_starts_are_looked_at() {
        let mut starts = vec![start("new", "ffffffffff", 1_000, Some("app:new"))];
        starts.extend((0..30).map(|n| {
            start(
                &format!("d{n}"),
                &format!("{n:010}"),
                n,
                Some(&format!("app:{n}")),
            )
        }));
        let stops = stopped(superseded(&starts, "new", "ffffffffff", 2_000));
        assert_eq!(stops.len(), MAX_OLDER_STARTS);
        assert_eq!(stops[0], Started::Build("app:29".into()));
    }

    #[test]
    fn a_groups_stops_are_everything_it_started() {
        let starts = [
            start("g1", "aaaaaaaaaa", 1, Some("app:1")),
            start("g2", "aaaaaaaaaa", 2, None),
        ];
        let stops = for_group(&starts, "dequeued");
        assert_eq!(stops.len(), 1);
        assert_eq!(stops[0].reason, "Merge group dequeued");
    }
}
