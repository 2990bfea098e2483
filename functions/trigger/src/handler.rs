//! One EventBridge event in: parse the Gantry detail, plan, start. Any failure
//! is returned as an error, so the event is tried again (`retry`) or kept in a
//! dead-letter queue; nothing is dropped with a success.

use crate::approval::GitHubAccess;
use crate::cancel::{self, Stop, StopError, Stopped};
use crate::commit_note::DeclarationError;
use crate::config::Routes;
use crate::once::{self, OnceError, Outcome};
use crate::retry_stage::{Retried, RetryError};
use crate::route::{self, Plan};
use crate::start::{Started, Starter};
use aws_lambda_events::eventbridge::EventBridgeEvent;
use futures_util::future::join_all;
use gantry_core::contract::{ApprovalComment, Change, DetailType, GitEvent, SOURCE};
use gantry_core::github::GitHubError;
use gantry_core::ledger::{DecisionRecord, Ledger, LedgerError};
use gantry_core::logging::error_chain;
use serde::Serialize;
use tokio::time::Instant;
use tracing::{error, info, info_span, warn, Instrument};

#[derive(Debug, thiserror::Error)]
pub enum TriggerError {
    #[error("message body is not an EventBridge event: {0}")]
    Envelope(String),
    #[error("event detail is not a Gantry event at {path}: {message}")]
    Detail { path: String, message: String },
    #[error("what was decided could not be recorded")]
    Ledger(#[from] LedgerError),
    #[error("GitHub could not be read or told about a fork's approval")]
    GitHub(#[from] GitHubError),
    #[error("a stage could not be retried")]
    Retry(#[from] RetryError),
    #[error(transparent)]
    Declaration(#[from] DeclarationError),
    #[error("{failed} of {planned} stops failed ({kind}); first: {first}")]
    Stop {
        failed: usize,
        planned: usize,
        kind: FailureKind,
        first: String,
    },
    #[error("{failed} of {planned} starts failed ({kind}); first: {first}")]
    Start {
        failed: usize,
        planned: usize,
        kind: FailureKind,
        first: String,
        /// The first permanent failure's type, else the first failure's.
        error_type: &'static str,
    },
}

/// Whether any of an event's failed starts may succeed on a later try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    Transient,
    Permanent,
}

impl FailureKind {
    /// Transient when any of the failures is.
    pub fn of(any_transient: bool) -> Self {
        if any_transient {
            FailureKind::Transient
        } else {
            FailureKind::Permanent
        }
    }
}

impl std::fmt::Display for FailureKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FailureKind::Transient => "transient",
            FailureKind::Permanent => "permanent",
        })
    }
}

impl TriggerError {
    /// The event's failure when any of its `planned` starts failed: named by
    /// the first permanent failure (what an operator must fix), else the first.
    pub fn starts_failed(failures: &[OnceError], planned: usize) -> Option<Self> {
        let first = failures.first()?;
        let worst = failures
            .iter()
            .find(|failure| !failure.is_transient())
            .unwrap_or(first);
        Some(TriggerError::Start {
            failed: failures.len(),
            planned,
            kind: FailureKind::of(failures.iter().any(OnceError::is_transient)),
            first: error_chain(first),
            error_type: worst.error_type(),
        })
    }

    /// The failure of an event that planned one start.
    pub fn start_failed(failure: &OnceError) -> Self {
        TriggerError::Start {
            failed: 1,
            planned: 1,
            kind: FailureKind::of(failure.is_transient()),
            first: error_chain(failure),
            error_type: failure.error_type(),
        }
    }

    /// Whether trying the event again later may get past the failure.
    pub fn is_transient(&self) -> bool {
        match self {
            TriggerError::Envelope(_) | TriggerError::Detail { .. } => false,
            TriggerError::Ledger(err) => err.is_transient(),
            TriggerError::GitHub(err) => err.is_transient(),
            TriggerError::Retry(err) => err.is_transient(),
            TriggerError::Declaration(err) => err.is_transient(),
            TriggerError::Start { kind, .. } | TriggerError::Stop { kind, .. } => {
                *kind == FailureKind::Transient
            }
        }
    }

    pub fn error_type(&self) -> &'static str {
        match self {
            TriggerError::Envelope(_) | TriggerError::Detail { .. } => "InvalidEvent",
            TriggerError::Ledger(err) if err.is_transient() => "LedgerUnavailable",
            TriggerError::Ledger(_) => "LedgerRefused",
            TriggerError::GitHub(err) => err.error_type(),
            TriggerError::Retry(err) if err.is_transient() => "AwsUnavailable",
            TriggerError::Retry(_) => "RetryRefused",
            TriggerError::Declaration(err) if err.is_transient() => "AwsUnavailable",
            TriggerError::Declaration(_) => "PipelineUnreadable",
            TriggerError::Start { error_type, .. } => error_type,
            TriggerError::Stop {
                kind: FailureKind::Transient,
                ..
            } => "AwsUnavailable",
            TriggerError::Stop { .. } => "StopRefused",
        }
    }
}

/// What the invocation did; the function's return value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Summary {
    Ignored {
        reason: String,
    },
    Skipped {
        reason: String,
    },
    Started {
        started: Vec<StartedTarget>,
        /// What the starts superseded (`cancel_in_progress`), stopped.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        stopped: Vec<Stop>,
    },
    /// A merge group left the queue: what it started, stopped.
    Stopped {
        stopped: Vec<Stop>,
    },
    /// A button retried a stage in its own execution.
    Retried {
        pipeline: String,
        execution: String,
        #[serde(flatten)]
        retried: Retried,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StartedTarget {
    pub route: String,
    pub target: String,
    #[serde(flatten)]
    pub started: Started,
    /// Started by an earlier invocation for the same delivery, not by this one.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub already_started: bool,
}

pub struct Trigger {
    routes: Routes,
    starter: Starter,
    ledger: Ledger,
    /// For routes that build forks on a maintainer's approval.
    github: Option<GitHubAccess>,
}

impl Trigger {
    pub(crate) fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    pub(crate) fn routes(&self) -> &Routes {
        &self.routes
    }

    pub(crate) fn starter(&self) -> &Starter {
        &self.starter
    }

    pub(crate) fn github(&self) -> Option<&GitHubAccess> {
        self.github.as_ref()
    }

    pub fn new(routes: Routes, starter: Starter, ledger: Ledger) -> Self {
        Trigger {
            routes,
            starter,
            ledger,
            github: None,
        }
    }

    pub fn with_github(mut self, github: GitHubAccess) -> Self {
        self.github = Some(github);
        self
    }

    /// `deadline`: when the invocation must answer; every start gives up by then.
    pub async fn handle(
        &self,
        event: EventBridgeEvent<serde_json::Value>,
        deadline: Instant,
    ) -> Result<Summary, TriggerError> {
        if event.source != SOURCE {
            let reason = format!("source {:?} is not {SOURCE}", event.source);
            info!(%reason, detail_type = %event.detail_type, "event ignored");
            return Ok(Summary::Ignored { reason });
        }
        // The event's own time orders a ref's starts (for superseded builds);
        // an event without one is placed at its handling.
        let event_at = event
            .time
            .map(|time| time.timestamp())
            .unwrap_or_else(|| self.ledger.now());
        if event.detail_type == DetailType::IssueComment.as_str() {
            let comment: ApprovalComment = serde_path_to_error::deserialize(event.detail)
                .map_err(|err| TriggerError::Detail {
                    path: err.path().to_string(),
                    message: err.inner().to_string(),
                })
                .inspect_err(|err| error!(error = %err, "event rejected"))?;
            let span = info_span!(
                "approval",
                delivery = %comment.delivery_id,
                repository = %comment.repository,
                pull_request = comment.pull_request,
                approved = %comment.approved,
            );
            return self
                .approve(&comment, event_at, deadline)
                .instrument(span)
                .await;
        }
        // Kept in the ledger as it came, for re-runs.
        let original = event.detail.clone();
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
        self.start_all(&detail, original, event_at, deadline)
            .instrument(span)
            .await
    }

    async fn start_all(
        &self,
        event: &GitEvent,
        original: serde_json::Value,
        event_at: i64,
        deadline: Instant,
    ) -> Result<Summary, TriggerError> {
        match &event.change {
            Change::CheckRun(request) => return self.press(event, request, deadline).await,
            Change::CheckSuite(request) => return self.rerun_suite(event, request, deadline).await,
            Change::Push(_) | Change::PullRequest(_) | Change::MergeGroup(_) => {}
        }
        let facts = self.read_change(event, false, deadline).await?;
        let known = facts.known(false);
        let plan = route::plan_known(event, &self.routes, known);
        let skipped = route::skipped_reports(event, &self.routes, known);
        self.start_plan(event, original, event_at, (plan, skipped), deadline)
            .await
    }

    /// Carries out `plan` for `event`, recording the decision first, and
    /// reports what `plan` skipped on routes that ask (`report_skipped`).
    pub(crate) async fn start_plan(
        &self,
        event: &GitEvent,
        original: serde_json::Value,
        event_at: i64,
        (plan, skipped): (Plan, Vec<route::SkipReport>),
        deadline: Instant,
    ) -> Result<Summary, TriggerError> {
        self.report_skipped(event, &skipped, deadline).await?;
        let mut decision = DecisionRecord {
            delivery: event.delivery_id.clone(),
            repository: event.repository.clone(),
            commit: event.commit.clone(),
            outcome: "started".into(),
            reason: None,
            routes: Vec::new(),
            event: original,
            decided_at: self.ledger.now(),
        };
        let (starts, held_back) = match plan {
            Plan::Nothing(reason) => {
                info!(%reason, "nothing started");
                decision.outcome = "skipped".into();
                decision.reason = Some(reason.clone());
                self.ledger.record_decision(&decision, deadline).await?;
                return Ok(Summary::Skipped { reason });
            }
            Plan::StopGroup { routes } => {
                decision.outcome = "stopped".into();
                decision.routes = routes
                    .iter()
                    .map(|route| format!("{route}: stops the group's builds"))
                    .collect();
                self.ledger.record_decision(&decision, deadline).await?;
                let mut stops = Vec::new();
                let Change::MergeGroup(group) = &event.change else {
                    return Ok(Summary::Stopped { stopped: stops });
                };
                let reason = group.reason.as_deref().unwrap_or("destroyed");
                for route in &routes {
                    let starts = self
                        .ledger
                        .starts_for_ref(&event.repository, group.head_branch(), route, deadline)
                        .await?;
                    stops.extend(cancel::for_group(&starts, reason));
                }
                return self
                    .stop_all(stops, deadline)
                    .await
                    .map(|stopped| Summary::Stopped { stopped });
            }
            Plan::SkipRequested => {
                let reason = "head commit message asks to skip CI".to_owned();
                info!(%reason, "nothing started");
                decision.outcome = "skipped".into();
                decision.reason = Some(reason.clone());
                self.ledger.record_decision(&decision, deadline).await?;
                return Ok(Summary::Skipped { reason });
            }
            Plan::Start { starts, held_back } => (starts, held_back),
        };
        decision.routes = starts
            .iter()
            .map(|start| format!("{}: starts {}", start.route, start.target.ledger_key()))
            .chain(
                held_back
                    .iter()
                    .map(|held| format!("{}: held back: {}", held.route, held.reason)),
            )
            .collect();
        for held in &held_back {
            info!(route = %held.route, reason = %held.reason, "route matched; not started");
        }
        self.announce_waiting(event, &held_back, deadline).await?;
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
            decision.outcome = "skipped".into();
            decision.reason = Some(reason.clone());
            self.ledger.record_decision(&decision, deadline).await?;
            return Ok(Summary::Skipped { reason });
        }
        // Before any start: the original event is what a re-run starts from.
        self.ledger.record_decision(&decision, deadline).await?;

        // Concurrently: each start is bounded by the same deadline, so one slow
        // service cannot use up the time the others need.
        let results = join_all(starts.iter().map(|start| {
            let span = info_span!(
                "start",
                delivery = %event.delivery_id,
                repository = %event.repository,
                commit = %event.commit,
                pipeline = start.target.pipeline_name(),
                project = start.target.project_name(),
                route = %start.route,
            );
            async move {
                let result = once::start_once(
                    &self.ledger,
                    &self.starter,
                    event,
                    start,
                    event_at,
                    deadline,
                )
                .await;
                log_start(event, &result);
                result
            }
            .instrument(span)
        }))
        .await;

        let mut started = Vec::new();
        let mut failures: Vec<OnceError> = Vec::new();
        for (start, result) in starts.iter().zip(results) {
            let (id, already_started) = match result {
                Ok(Outcome::Started(id)) => (id, false),
                Ok(Outcome::AlreadyStarted(id)) => (id, true),
                Err(err) => {
                    failures.push(err);
                    continue;
                }
            };
            started.push(StartedTarget {
                route: start.route.clone(),
                target: start.target.name().to_owned(),
                started: id,
                already_started,
            });
        }
        if let Some(err) = TriggerError::starts_failed(&failures, starts.len()) {
            return Err(err);
        }
        let stopped = self.cancel_older(event, &starts, deadline).await?;
        Ok(Summary::Started { started, stopped })
    }

    /// For each start on a `cancel_in_progress` route: stops what the route
    /// started for the branch's or pull request's older commits.
    async fn cancel_older(
        &self,
        event: &GitEvent,
        starts: &[route::Start],
        deadline: Instant,
    ) -> Result<Vec<Stop>, TriggerError> {
        let Some(git_ref) = once::cancellable_ref(event) else {
            return Ok(Vec::new());
        };
        let mut stops = Vec::new();
        for start in starts.iter().filter(|start| start.cancels_older) {
            let on_ref = self
                .ledger
                .starts_for_ref(&event.repository, &git_ref, &start.route, deadline)
                .await?;
            match cancel::superseded(
                &on_ref,
                event.delivery_id.as_str(),
                event.commit.as_str(),
                self.ledger.now(),
            ) {
                cancel::Superseded::Stop(more) => stops.extend(more),
                cancel::Superseded::Pending { delivery } => {
                    return Err(TriggerError::Stop {
                        failed: 1,
                        planned: 1,
                        kind: FailureKind::Transient,
                        first: format!(
                            "delivery {delivery}'s start on this ref is still being made; it is stopped on the next try"
                        ),
                    })
                }
            }
        }
        self.stop_all(stops, deadline).await
    }

    /// Stops each, concurrently; every failure is the event's, so it is tried
    /// again (a stop of what has finished is a no-op).
    pub(crate) async fn stop_all(
        &self,
        stops: Vec<Stop>,
        deadline: Instant,
    ) -> Result<Vec<Stop>, TriggerError> {
        let results = join_all(stops.iter().map(|stop| self.starter.stop(stop, deadline))).await;
        let mut failures = Vec::new();
        for (stop, result) in stops.iter().zip(results) {
            match result {
                Ok(Stopped::Stopped) => {
                    info!(target = %stop.target, started = ?stop.started, reason = %stop.reason, "stopped");
                    self.record_stop(stop, deadline).await;
                }
                Ok(Stopped::AlreadyFinished) => {
                    info!(target = %stop.target, started = ?stop.started, "already finished; nothing to stop")
                }
                Err(err) => {
                    warn!(error = %error_chain(&err), transient = err.is_transient(), "stop failed");
                    failures.push(err);
                }
            }
        }
        match failures.first() {
            None => Ok(stops),
            Some(first) => Err(TriggerError::Stop {
                failed: failures.len(),
                planned: stops.len(),
                kind: FailureKind::of(failures.iter().any(StopError::is_transient)),
                first: error_chain(first),
            }),
        }
    }
}

impl Trigger {
    /// Keeps why a start was stopped on its ledger item, for its status
    /// (CodeBuild keeps no reason); the stop stands whether or not this does.
    async fn record_stop(&self, stop: &Stop, deadline: Instant) {
        let Some(delivery) = stop
            .delivery
            .as_deref()
            .and_then(|delivery| gantry_core::ids::DeliveryId::parse(delivery).ok())
        else {
            return;
        };
        if let Err(err) = self
            .ledger
            .record_stop(&delivery, &stop.target, &stop.reason, deadline)
            .await
        {
            warn!(error = %error_chain(&err), "the stop's reason was not recorded; its status says only that it stopped");
        }
    }
}

/// One line per start, inside its span.
fn log_start(event: &GitEvent, result: &Result<Outcome, OnceError>) {
    match result {
        Ok(Outcome::Started(Started::PipelineExecution(execution))) => {
            info!(execution = %execution, "started")
        }
        Ok(Outcome::Started(Started::Build(build))) => info!(build = %build, "started"),
        Ok(Outcome::AlreadyStarted(_)) => {}
        Err(err) if err.is_transient() => {
            warn!(error = %error_chain(err), transient = true, "start failed; will be retried")
        }
        Err(err) => {
            error!(error = %error_chain(err), transient = false, event = ?event, "start failed; check the routing configuration")
        }
    }
}
