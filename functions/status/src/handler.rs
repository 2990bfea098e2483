//! One state-change event in, at most one GitHub commit status out (in the
//! common case exactly one call). AWS reads that fail transiently, and GitHub
//! failures that outlast the retries, fail the invocation so EventBridge retries.

use crate::checks::CheckRuns;
use crate::config::StatusConfig;
use crate::event::{self, EventError, Origin, StateChange};
use crate::evidence::Evidence;
use crate::mapping::{self, Decision, Post};
use crate::reader::{ReadError, Reader};
use aws_lambda_events::eventbridge::EventBridgeEvent;
use aws_sdk_codebuild::types::StatusType;
use aws_sdk_codepipeline::types::PipelineExecutionStatus;
use gantry_core::github::{GitHubClient, GitHubError, Recheck, Sent, StatusState};
use gantry_core::ledger::{Ledger, LedgerError};
use gantry_core::logging::error_chain;
use gantry_core::metrics::{self, Metric};
use serde::Serialize;
use std::future::Future;
use std::pin::Pin;
use tokio::time::Instant;
use tracing::{error, info, info_span, warn, Instrument};

#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    #[error(transparent)]
    Event(#[from] EventError),
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error(transparent)]
    GitHub(#[from] GitHubError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("another invocation is creating check run {name} and has not recorded it yet")]
    CheckRunHeld { name: String },
}

impl StatusError {
    /// The `errorType` of a failed invocation.
    pub fn error_type(&self) -> &'static str {
        match self {
            StatusError::Event(_) => "InvalidEvent",
            StatusError::Read(err) if err.is_transient() => "AwsUnavailable",
            StatusError::Read(_) => "AwsReadRefused",
            StatusError::GitHub(err) => err.error_type(),
            StatusError::Ledger(err) if err.is_transient() => "LedgerUnavailable",
            StatusError::Ledger(_) => "LedgerRefused",
            StatusError::CheckRunHeld { .. } => "CheckRunInProgress",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    Posted {
        repository: String,
        commit: String,
        context: String,
        state: String,
        description: String,
    },
    /// App mode: a check run created or completed.
    CheckRun {
        repository: String,
        commit: String,
        name: String,
        check_run_id: u64,
        attempt: u32,
        /// `None` while it runs.
        conclusion: Option<String>,
        title: String,
    },
    Ignored {
        reason: String,
    },
    /// GitHub refused the status for good (unknown commit, token without access).
    Rejected {
        status: u16,
        message: String,
    },
}

/// How long a best-effort ledger read may take inside a decision.
const LEDGER_READ_TIME: std::time::Duration = std::time::Duration::from_secs(2);

pub struct StatusHandler {
    pub(crate) config: StatusConfig,
    pub(crate) reader: Reader,
    pub(crate) github: GitHubClient,
    /// Where check runs' ids are kept (App mode needs it).
    ledger: Option<Ledger>,
    /// Build logs and raw test reports, for check runs (App mode).
    pub(crate) evidence: Option<Evidence>,
}

impl StatusHandler {
    pub fn new(config: StatusConfig, reader: Reader, github: GitHubClient) -> Self {
        StatusHandler {
            config,
            reader,
            github,
            ledger: None,
            evidence: None,
        }
    }

    pub fn with_evidence(mut self, evidence: Evidence) -> Self {
        self.evidence = Some(evidence);
        self
    }

    pub fn with_ledger(mut self, ledger: Ledger) -> Self {
        self.ledger = Some(ledger);
        self
    }

    /// `deadline`: when the invocation must have answered; GitHub retries stop before it.
    pub async fn handle(
        &self,
        event: EventBridgeEvent<serde_json::Value>,
        deadline: Instant,
    ) -> Result<Outcome, StatusError> {
        let detail_type = event.detail_type.clone();
        let Some((change, origin)) =
            event::parse(event).inspect_err(|err| error!(error = %err, "event rejected"))?
        else {
            return Ok(ignored(format!("{detail_type} events are not handled")));
        };
        let span = info_span!(
            "event",
            project = project_of(&change),
            build = build_of(&change),
            pipeline = pipeline_of(&change),
            execution = execution_of(&change),
            repository = tracing::field::Empty,
            commit = tracing::field::Empty,
            context = tracing::field::Empty,
        );
        self.decide_and_post(change, origin, deadline)
            .instrument(span)
            .await
    }

    async fn decide_and_post(
        &self,
        change: StateChange,
        origin: Origin,
        deadline: Instant,
    ) -> Result<Outcome, StatusError> {
        let decision = match self.decide_by(&change, &origin, deadline).await {
            Ok(decision) => decision,
            Err(err) => {
                if err.is_transient() {
                    warn!(error = %error_chain(&err), ?change, "AWS read failed; will be retried");
                } else {
                    error!(error = %error_chain(&err), ?change, "AWS read failed");
                }
                return Err(err.into());
            }
        };
        match decision {
            Decision::Ignore(reason) => Ok(ignored(reason)),
            Decision::Post(post) => {
                // Logs show only the innermost span's fields: record on this one.
                let span = tracing::Span::current();
                span.record("repository", post.repository.as_str());
                span.record("commit", post.commit.as_str());
                span.record("context", post.status.context.as_str());
                let recheck = PendingRecheck {
                    handler: self,
                    change: &change,
                    origin: &origin,
                    deadline,
                };
                let recheck: Option<&dyn Recheck> =
                    (post.status.state == StatusState::Pending).then_some(&recheck);
                self.post(post, deadline, recheck).await
            }
        }
    }

    /// Every AWS read of a decision ends by `deadline`.
    async fn decide_by(
        &self,
        change: &StateChange,
        origin: &Origin,
        deadline: Instant,
    ) -> Result<Decision, ReadError> {
        tokio::time::timeout_at(deadline, self.decide(change, origin))
            .await
            .unwrap_or(Err(ReadError::Deadline))
    }

    async fn decide(&self, change: &StateChange, origin: &Origin) -> Result<Decision, ReadError> {
        match change {
            StateChange::Build(build) => {
                let Some(context) = self.config.project(&build.project_name) else {
                    return Ok(not_configured("project", &build.project_name));
                };
                match self.reader.build(&build.build_id).await? {
                    Some(snapshot) => {
                        let mut decision = mapping::for_build(build, &snapshot, context, origin);
                        if let Decision::Post(post) = &mut decision {
                            self.add_test_results(post, &snapshot).await;
                            self.add_build_log(post, &snapshot, self.config.project_log_lines(&build.project_name)).await;
                        }
                        if snapshot.status == StatusType::Stopped {
                            decision = self.with_build_stop_reason(decision, &snapshot).await;
                        }
                        Ok(decision)
                    }
                    None => Ok(Decision::Ignore(format!("CodeBuild does not know build {}", build.build_id))),
                }
            }
            StateChange::Pipeline(change) => {
                let Some((context, per_stage)) = self.config.pipeline(&change.pipeline) else {
                    return Ok(not_configured("pipeline", &change.pipeline));
                };
                if per_stage {
                    return Ok(Decision::Ignore(format!("{} posts one status per stage", change.pipeline)));
                }
                let mut execution = self.reader.execution(&change.pipeline, &change.execution_id).await?;
                execution.status = mapping::settled_execution_status(&change.state, &execution.status);
                let actions = self.actions_if_useful(&execution.status, &change.pipeline, &change.execution_id).await;
                let mut decision = mapping::for_pipeline(&execution, actions.as_deref(), context, origin);
                if execution.status == PipelineExecutionStatus::Stopped {
                    decision = self.with_stop_reason(decision, &change.pipeline, &change.execution_id).await;
                }
                if let (Decision::Post(post), Some(actions)) = (&mut decision, &actions) {
                    self.add_action_log(post, actions, None, self.config.pipeline_log_lines(&change.pipeline)).await;
                }
                Ok(decision)
            }
            StateChange::Stage(change) => {
                let Some((context, per_stage)) = self.config.pipeline(&change.pipeline) else {
                    return Ok(not_configured("pipeline", &change.pipeline));
                };
                if !per_stage {
                    return Ok(Decision::Ignore(format!("{} posts one status per pipeline", change.pipeline)));
                }
                let execution = self.reader.execution(&change.pipeline, &change.execution_id).await?;
                let (actions, declared) = tokio::join!(
                    self.best_effort_actions(&change.pipeline, &change.execution_id),
                    self.best_effort_declaration(&change.pipeline, execution.pipeline_version),
                );
                let mut decision = mapping::for_stage(change, &execution, actions.as_deref(), declared.as_deref(), context, origin);
                if let (Decision::Post(post), Some(actions)) = (&mut decision, &actions) {
                    self.add_action_log(post, actions, Some(&change.stage), self.config.pipeline_log_lines(&change.pipeline)).await;
                }
                Ok(decision)
            }
            StateChange::BuildPhase { project, phase } => Ok(Decision::Ignore(format!(
                "phase change ({phase} of {project}): the build's state change carries the result"
            ))),
            StateChange::Action { pipeline, stage, action } => Ok(Decision::Ignore(format!(
                "action change ({pipeline}/{stage}/{action}): statuses are per pipeline or per stage"
            ))),
        }
    }

    /// Why Gantry stopped a build, from the ledger (CodeBuild keeps no
    /// reason); it makes the status better, never blocks it.
    async fn with_build_stop_reason(
        &self,
        decision: Decision,
        build: &mapping::BuildSnapshot,
    ) -> Decision {
        let Some(ledger) = &self.ledger else {
            return decision;
        };
        let delivery = build
            .environment
            .iter()
            .find(|(name, _)| name == "GANTRY_DELIVERY_ID")
            .and_then(|(_, value)| gantry_core::ids::DeliveryId::parse(value).ok());
        let Some(delivery) = delivery else {
            return decision;
        };
        let target = format!("project/{}", build.project);
        let deadline = tokio::time::Instant::now() + LEDGER_READ_TIME;
        match ledger.stop_reason(&delivery, &target, deadline).await {
            Ok(Some(reason)) => mapping::with_build_stop_reason(decision, &reason),
            Ok(None) => decision,
            Err(err) => {
                warn!(error = %error_chain(&err), "the stop's reason was not read; the stopped build is posted without it");
                decision
            }
        }
    }

    /// The reason a stopped execution was stopped makes its status better
    /// (`Superseded by <sha>`), never blocks it.
    async fn with_stop_reason(
        &self,
        decision: Decision,
        pipeline: &str,
        execution: &str,
    ) -> Decision {
        match self.reader.stop_reason(pipeline, execution).await {
            Ok(Some(reason)) => mapping::with_execution_stop_reason(decision, &reason),
            Ok(None) => decision,
            Err(err) => {
                warn!(error = %error_chain(&err), "ListPipelineExecutions failed; the stopped execution is posted without its reason");
                decision
            }
        }
    }

    /// Actions name the failing stage or the running one; a finished, successful
    /// execution needs no extra call.
    async fn actions_if_useful(
        &self,
        status: &PipelineExecutionStatus,
        pipeline: &str,
        execution: &str,
    ) -> Option<Vec<mapping::ActionSnapshot>> {
        if matches!(
            status,
            PipelineExecutionStatus::Failed | PipelineExecutionStatus::InProgress
        ) {
            self.best_effort_actions(pipeline, execution).await
        } else {
            None
        }
    }

    /// The details make the description better, never block it.
    async fn best_effort_actions(
        &self,
        pipeline: &str,
        execution: &str,
    ) -> Option<Vec<mapping::ActionSnapshot>> {
        match self.reader.actions(pipeline, execution).await {
            Ok(actions) => Some(actions),
            Err(err) => {
                warn!(error = %error_chain(&err), "ListActionExecutions failed; describing without action details");
                None
            }
        }
    }

    /// The stages' declared actions: without them, a stage whose started actions
    /// all succeeded is not posted as succeeded (another may be still to start),
    /// so a failed read leaves that to the stage's own finishing event.
    async fn best_effort_declaration(
        &self,
        pipeline: &str,
        version: Option<i32>,
    ) -> Option<Vec<mapping::DeclaredStage>> {
        let Some(version) = version else {
            warn!("GetPipelineExecution named no pipeline version; a stage is not posted as succeeded from its started actions alone");
            return None;
        };
        match self.reader.declared_stages(pipeline, version).await {
            Ok(stages) => Some(stages),
            Err(err) => {
                warn!(error = %error_chain(&err), "GetPipeline failed; a stage is not posted as succeeded from its started actions alone");
                None
            }
        }
    }

    async fn post(
        &self,
        post: Post,
        deadline: Instant,
        recheck: Option<&dyn Recheck>,
    ) -> Result<Outcome, StatusError> {
        let sent = match (&self.ledger, self.github.is_app()) {
            (Some(ledger), true) => {
                let check_runs = CheckRuns {
                    github: &self.github,
                    ledger,
                };
                match check_runs.report(&post, deadline, recheck).await {
                    Err(StatusError::GitHub(err)) => Err(err),
                    other => return other,
                }
            }
            _ => {
                self.github
                    .create_status_rechecked(
                        &post.repository,
                        &post.commit,
                        &post.status,
                        deadline,
                        recheck,
                    )
                    .await
            }
        };
        match sent {
            Ok(Sent::Dropped { reason }) => Ok(ignored(reason)),
            Ok(Sent::Accepted) => {
                info!(state = post.status.state.as_str(), description = %post.status.description, "status posted");
                Ok(Outcome::Posted {
                    repository: post.repository.to_string(),
                    commit: post.commit.to_string(),
                    context: post.status.context,
                    state: post.status.state.as_str().to_owned(),
                    description: post.status.description,
                })
            }
            Err(GitHubError::Rejected { status, message }) => {
                // Not retried (it would be refused again), so not an error for
                // Lambda: the metric's alarm is what tells the operator.
                error!(status, %message, "GitHub refused the request; not retrying (check the commit exists and the credential can write commit statuses, or check runs in App mode)");
                metrics::count(
                    Metric::GitHubRejected,
                    &[
                        ("status", status.into()),
                        ("message", message.as_str().into()),
                        ("repository", post.repository.as_str().into()),
                        ("commit", post.commit.as_str().into()),
                        ("context", post.status.context.as_str().into()),
                    ],
                );
                Ok(Outcome::Rejected { status, message })
            }
            Err(err) => {
                warn!(error = %error_chain(&err), "status not posted; will be retried");
                Err(err.into())
            }
        }
    }
}

/// A pending status that GitHub did not take at once is decided again, from
/// the state read now, before each retry: if the build or execution has
/// settled meanwhile, its final status is (or will be) posted by its own event,
/// and a pending landing after it would regress the commit.
struct PendingRecheck<'a> {
    handler: &'a StatusHandler,
    change: &'a StateChange,
    origin: &'a Origin,
    deadline: Instant,
}

impl Recheck for PendingRecheck<'_> {
    fn before_retry(&self) -> Pin<Box<dyn Future<Output = Option<String>> + Send + '_>> {
        Box::pin(async move {
            match self
                .handler
                .decide_by(self.change, self.origin, self.deadline)
                .await
            {
                Ok(Decision::Post(post)) if post.status.state == StatusState::Pending => None,
                Ok(Decision::Post(post)) => Some(format!(
                    "pending not retried: the state is now {}, which its own event posts",
                    post.status.state.as_str()
                )),
                Ok(Decision::Ignore(reason)) => Some(format!(
                    "pending not retried: the event is now ignored ({reason})"
                )),
                // Cannot tell: a pending that might land after the final status
                // is worse than none; the next event decides again.
                Err(err) => {
                    warn!(error = %error_chain(&err), "state not re-read; pending not retried");
                    Some("pending not retried: the state could not be read again".to_owned())
                }
            }
        })
    }
}

fn ignored(reason: String) -> Outcome {
    info!(%reason, "event ignored");
    Outcome::Ignored { reason }
}

fn not_configured(kind: &str, name: &str) -> Decision {
    Decision::Ignore(format!(
        "{kind} {name} is not listed in GANTRY_STATUS_CONFIG"
    ))
}

/// The build project a CodeBuild event is about (`None`: a CodePipeline event).
fn project_of(change: &StateChange) -> Option<&str> {
    match change {
        StateChange::Build(build) => Some(&build.project_name),
        StateChange::BuildPhase { project, .. } => Some(project),
        StateChange::Pipeline(_) | StateChange::Stage(_) | StateChange::Action { .. } => None,
    }
}

/// The build (its ARN) a build state change is about.
fn build_of(change: &StateChange) -> Option<&str> {
    match change {
        StateChange::Build(build) => Some(&build.build_id),
        _ => None,
    }
}

/// The pipeline a CodePipeline event is about (`None`: a CodeBuild event).
fn pipeline_of(change: &StateChange) -> Option<&str> {
    match change {
        StateChange::Pipeline(p) => Some(&p.pipeline),
        StateChange::Stage(s) => Some(&s.pipeline),
        StateChange::Action { pipeline, .. } => Some(pipeline),
        StateChange::Build(_) | StateChange::BuildPhase { .. } => None,
    }
}

/// The pipeline execution an execution or stage event is about.
fn execution_of(change: &StateChange) -> Option<&str> {
    match change {
        StateChange::Pipeline(p) => Some(&p.execution_id),
        StateChange::Stage(s) => Some(&s.execution_id),
        _ => None,
    }
}
