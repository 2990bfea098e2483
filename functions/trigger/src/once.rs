//! Exactly one start per delivery and target, across retries, redeliveries and
//! redrives: each start is claimed in the ledger before it is sent and
//! completed with what it started. A retry skips what already started; one
//! that finds a claim whose holder died before recording looks for a build or
//! execution carrying the delivery id before starting again with the same token.

use crate::route::Start;
use crate::start::{StartError, Started, Starter};
use gantry_core::contract::{Change, GitEvent, GitRef};
use gantry_core::ledger::{Claim, Ledger, LedgerError, StartClaim, StartedRecord};
use std::time::Duration;
use tokio::time::Instant;
use tracing::{info, warn};

/// Kept past the invocation's deadline before a retry may take a claim over:
/// Lambda's first retry of a failed invocation comes a minute later.
const LEASE_MARGIN: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum OnceError {
    #[error(transparent)]
    Start(#[from] StartError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("another invocation is starting {target} for this delivery (its claim holds until {lease_until})")]
    Held { target: String, lease_until: i64 },
}

impl OnceError {
    pub fn is_transient(&self) -> bool {
        match self {
            OnceError::Start(err) => err.is_transient(),
            OnceError::Ledger(err) => err.is_transient(),
            OnceError::Held { .. } => true,
        }
    }

    pub fn error_type(&self) -> &'static str {
        match self {
            OnceError::Start(err) => err.error_type(),
            OnceError::Ledger(err) if err.is_transient() => "LedgerUnavailable",
            OnceError::Ledger(_) => "LedgerRefused",
            OnceError::Held { .. } => "StartInProgress",
        }
    }
}

/// What became of one planned start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Started(Started),
    /// An earlier invocation for this delivery started it.
    AlreadyStarted(Started),
}

pub async fn start_once(
    ledger: &Ledger,
    starter: &Starter,
    event: &GitEvent,
    start: &Start,
    event_at: i64,
    deadline: Instant,
) -> Result<Outcome, OnceError> {
    let target = start.target.ledger_key();
    let git_ref = git_ref(event);
    let claim = StartClaim {
        delivery: &event.delivery_id,
        target: &target,
        route: &start.route,
        repository: &event.repository,
        commit: &event.commit,
        git_ref: git_ref.as_deref(),
        lease: deadline.saturating_duration_since(Instant::now()) + LEASE_MARGIN,
        event_at,
    };
    let claimed = ledger.claim_start(&claim, deadline).await?;
    // A claim taken over from an attempt that may have started the target must
    // not be released: the next retry still has to look for that start.
    let taken_over = matches!(claimed, Claim::Recovered { .. });
    match claimed {
        Claim::AlreadyStarted(record) => {
            let started = from_record(&record);
            info!(started = %record.id, "already started for this delivery; not started again");
            return Ok(Outcome::AlreadyStarted(started));
        }
        Claim::Held { lease_until } => {
            return Err(OnceError::Held {
                target,
                lease_until,
            })
        }
        Claim::Recovered { claimed_at } => {
            warn!("an earlier claim ended without a record; looking for what it started");
            if let Some(started) = starter
                .find_started(start, event.delivery_id.as_str(), claimed_at, deadline)
                .await?
            {
                info!("found the earlier start; recording it");
                ledger
                    .complete_start(&event.delivery_id, &target, &to_record(&started), deadline)
                    .await?;
                return Ok(Outcome::AlreadyStarted(started));
            }
        }
        Claim::New => {}
    }
    match starter.start(start, deadline).await {
        Ok(started) => {
            // If this write fails, the claim's lease runs out and the retry
            // finds the start by its delivery id (or AWS answers its token).
            ledger
                .complete_start(&event.delivery_id, &target, &to_record(&started), deadline)
                .await?;
            Ok(Outcome::Started(started))
        }
        Err(err) => {
            // Refused for good: this attempt started nothing, so a retry need
            // not wait for the lease (unless an earlier attempt may have). A
            // transient failure (a timeout) may have started it: the claim
            // stays until its lease runs out.
            if !err.is_transient() && !taken_over {
                if let Err(release) = ledger
                    .release_start(&event.delivery_id, &target, deadline)
                    .await
                {
                    warn!(error = %gantry_core::logging::error_chain(&release), "claim not released; a retry waits for its lease");
                }
            }
            Err(err.into())
        }
    }
}

/// The branch, tag or pull request a start builds, as the ledger indexes it:
/// `<branch>`, `tag/<tag>` or `pull/<number>`.
/// The ledger's ref for a branch push or a pull request: the refs whose older
/// commits' builds `cancel_in_progress` stops (not tags, not merge groups).
pub fn cancellable_ref(event: &GitEvent) -> Option<String> {
    match &event.change {
        Change::PullRequest(_) => git_ref(event),
        Change::Push(push) => match GitRef::parse(&push.git_ref) {
            GitRef::Branch(_) => git_ref(event),
            _ => None,
        },
        Change::MergeGroup(_) | Change::CheckRun(_) | Change::CheckSuite(_) => None,
    }
}

fn git_ref(event: &GitEvent) -> Option<String> {
    match &event.change {
        Change::PullRequest(pr) => Some(format!("pull/{}", pr.number)),
        // The queue's branch names the group: what a dequeued group's stop looks up.
        Change::MergeGroup(group) => Some(group.head_branch().to_owned()),
        // A re-run is claimed under the original event's ref, never this one.
        Change::CheckRun(_) | Change::CheckSuite(_) => None,
        Change::Push(push) => match GitRef::parse(&push.git_ref) {
            GitRef::Branch(branch) => Some(branch.to_owned()),
            GitRef::Tag(tag) => Some(format!("tag/{tag}")),
            GitRef::Other(_) => None,
        },
    }
}

fn to_record(started: &Started) -> StartedRecord {
    match started {
        Started::PipelineExecution(id) => StartedRecord {
            kind: "pipeline_execution".into(),
            id: id.clone(),
        },
        Started::Build(id) => StartedRecord {
            kind: "build".into(),
            id: id.clone(),
        },
    }
}

fn from_record(record: &StartedRecord) -> Started {
    match record.kind.as_str() {
        "build" => Started::Build(record.id.clone()),
        _ => Started::PipelineExecution(record.id.clone()),
    }
}
