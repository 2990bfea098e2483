//! App mode: a decision becomes a check run instead of a commit status. Each
//! attempt of a build, an execution or a stage is one run, created on its
//! first event and completed on its last; its id is kept in the ledger,
//! claimed before the run is created, so two first events create one run.
//!
//! A run is written twice at most: when it is created (running, or already
//! finished) and when it completes. A completed run is never changed again;
//! an execution or stage that runs again after it finished (a retried or
//! resumed stage) is a new attempt and a new run. Every decision is made from
//! the state read now, so a late event cannot reopen or regress a run.

use crate::handler::{Outcome, StatusError};
use crate::mapping::{report, Post};
use gantry_core::github::{Annotation, CheckRun, GitHubClient, Recheck, MAX_ANNOTATIONS};
use gantry_core::ledger::{CheckRunClaim, CheckRunRecord, Ledger};
use std::time::Duration;
use tokio::time::Instant;
use tracing::{info, warn};

/// Kept past the invocation's deadline: a claim holds while its holder may
/// still be creating the run, so no one else takes it over meanwhile.
const CLAIM_MARGIN: Duration = Duration::from_secs(10);
/// How long an event waits for another invocation's run to be recorded
/// before it fails (and is retried): creating one run is a single request.
const WAIT_FOR_RUN: Duration = Duration::from_secs(5);
const WAIT_STEP: Duration = Duration::from_millis(250);

/// What to do with the latest recorded attempt, for a decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Create attempt `attempt`'s run.
    Create { attempt: u32 },
    /// Complete the recorded, running attempt.
    Complete { attempt: u32, check_run_id: u64 },
    /// Another invocation is creating this attempt's run.
    Wait,
    /// Nothing to write.
    Skip(String),
}

/// Pure: the latest recorded attempt (`None`: none yet), whether the run's
/// subject can run again, and the decision's conclusion (`None`: running).
pub fn step(
    latest: Option<&CheckRunRecord>,
    reruns: bool,
    conclusion: Option<&str>,
    now: i64,
) -> Step {
    let Some(latest) = latest else {
        return Step::Create { attempt: 1 };
    };
    match (latest.check_run_id, latest.conclusion.as_deref()) {
        (None, _) if latest.lease_until > now => Step::Wait,
        // Its holder died before it recorded a run: taken over.
        (None, _) => Step::Create {
            attempt: latest.attempt,
        },
        (Some(check_run_id), None) => match conclusion {
            Some(_) => Step::Complete {
                attempt: latest.attempt,
                check_run_id,
            },
            None => Step::Skip(format!("check run {check_run_id} is already in progress")),
        },
        (Some(check_run_id), Some(done)) => {
            if !reruns {
                Step::Skip(format!(
                    "check run {check_run_id} already completed ({done}); a build never runs again"
                ))
            } else if conclusion == Some(done) {
                Step::Skip(format!(
                    "check run {check_run_id} already completed ({done})"
                ))
            } else {
                // Running again, or finished differently, after it completed.
                Step::Create {
                    attempt: latest.attempt + 1,
                }
            }
        }
    }
}

pub struct CheckRuns<'a> {
    pub github: &'a GitHubClient,
    pub ledger: &'a Ledger,
}

impl CheckRuns<'_> {
    /// `recheck` decides a running state again from a fresh read: asked before
    /// a completed run's next attempt is opened, so a read that lagged the
    /// run's end does not open an attempt no event will ever complete.
    pub async fn report(
        &self,
        post: &Post,
        deadline: Instant,
        recheck: Option<&dyn Recheck>,
    ) -> Result<Outcome, StatusError> {
        let (run, more_annotations) = report::check_run(post);
        let key = post.check.run.as_str();
        let conclusion = post.check.conclusion.map(|c| c.as_str());
        let waited_until = Instant::now() + WAIT_FOR_RUN;
        loop {
            let latest = self
                .ledger
                .latest_check_run(key, &run.name, deadline)
                .await?;
            let next = step(
                latest.as_ref(),
                post.check.reruns,
                conclusion,
                self.ledger.now(),
            );
            match next {
                Step::Skip(reason) => {
                    info!(%reason, "event ignored");
                    return Ok(Outcome::Ignored { reason });
                }
                Step::Wait if Instant::now() + WAIT_STEP < waited_until.min(deadline) => {
                    tokio::time::sleep(WAIT_STEP).await;
                }
                Step::Wait => return Err(StatusError::CheckRunHeld { name: run.name }),
                Step::Complete {
                    attempt,
                    check_run_id,
                } => {
                    let outcome = self
                        .complete(post, &run, attempt, check_run_id, deadline)
                        .await?;
                    self.annotate(post, &run, check_run_id, more_annotations, deadline)
                        .await;
                    return Ok(outcome);
                }
                Step::Create { attempt } => {
                    if attempt > 1 && conclusion.is_none() {
                        if let Some(recheck) = recheck {
                            if let Some(reason) = recheck.before_retry().await {
                                info!(%reason, "event ignored");
                                return Ok(Outcome::Ignored { reason });
                            }
                        }
                    }
                    match self
                        .ledger
                        .claim_check_run(
                            key,
                            &run.name,
                            attempt,
                            deadline.saturating_duration_since(Instant::now()) + CLAIM_MARGIN,
                            deadline,
                        )
                        .await?
                    {
                        CheckRunClaim::Claimed => {
                            // A claim before this one ended without a run
                            // recorded: its create may have reached GitHub.
                            let earlier_claim = latest
                                .as_ref()
                                .is_some_and(|l| l.attempt == attempt && l.check_run_id.is_none());
                            let outcome = self
                                .create(post, &run, attempt, earlier_claim, deadline)
                                .await?;
                            if let Outcome::CheckRun { check_run_id, .. } = &outcome {
                                self.annotate(
                                    post,
                                    &run,
                                    *check_run_id,
                                    more_annotations,
                                    deadline,
                                )
                                .await;
                            }
                            return Ok(outcome);
                        }
                        // Another event claimed it first: decide again from its record.
                        CheckRunClaim::Taken(_) => continue,
                    }
                }
            }
        }
    }

    /// Creates the attempt's run, or, after an `earlier_claim` that recorded
    /// none (its holder died, or its create failed after GitHub may have
    /// acted), adopts the run that claim made if GitHub holds it.
    async fn create(
        &self,
        post: &Post,
        run: &CheckRun,
        attempt: u32,
        earlier_claim: bool,
        deadline: Instant,
    ) -> Result<Outcome, StatusError> {
        let key = post.check.run.as_str();
        let conclusion = post.check.conclusion.map(|c| c.as_str());
        let made_before = if earlier_claim {
            self.github
                .find_check_run(&post.repository, &post.commit, run, deadline)
                .await
                .unwrap_or_else(|err| {
                    warn!(error = %gantry_core::logging::error_chain(&err), "could not tell whether an earlier claim created the check run; creating it");
                    None
                })
        } else {
            None
        };
        if let Some(check_run_id) = made_before {
            // Made as this decision would make it, or by an earlier event:
            // the update brings it to what is true now.
            self.github
                .update_check_run(&post.repository, check_run_id, run, deadline)
                .await?;
            self.ledger
                .record_check_run(key, &run.name, attempt, check_run_id, conclusion, deadline)
                .await?;
            info!(
                check_run_id,
                attempt, "check run an earlier claim created, adopted"
            );
            return Ok(outcome(post, run, check_run_id, attempt));
        }
        let check_run_id = match self
            .github
            .create_check_run(&post.repository, &post.commit, run, deadline)
            .await
        {
            Ok(id) => id,
            Err(err) => {
                // The next event (or this one's retry) claims it at once.
                if let Err(release) = self
                    .ledger
                    .release_check_run(key, &run.name, attempt, deadline)
                    .await
                {
                    warn!(error = %gantry_core::logging::error_chain(&release), "check run claim not released; the next event waits for its lease");
                }
                return Err(err.into());
            }
        };
        self.ledger
            .record_check_run(key, &run.name, attempt, check_run_id, conclusion, deadline)
            .await?;
        info!(check_run_id, attempt, status = ?run.status, title = %run.output.title, "check run created");
        Ok(outcome(post, run, check_run_id, attempt))
    }

    async fn complete(
        &self,
        post: &Post,
        run: &CheckRun,
        attempt: u32,
        check_run_id: u64,
        deadline: Instant,
    ) -> Result<Outcome, StatusError> {
        self.github
            .update_check_run(&post.repository, check_run_id, run, deadline)
            .await?;
        if let Some(conclusion) = post.check.conclusion {
            self.ledger
                .complete_check_run(
                    &post.check.run,
                    &run.name,
                    attempt,
                    conclusion.as_str(),
                    deadline,
                )
                .await?;
        }
        info!(check_run_id, attempt, title = %run.output.title, "check run completed");
        Ok(outcome(post, run, check_run_id, attempt))
    }
}

impl CheckRuns<'_> {
    /// Annotations past the first 50, 50 per update (GitHub appends them).
    /// The run is already right without them: a failure is logged, not retried.
    async fn annotate(
        &self,
        post: &Post,
        run: &CheckRun,
        check_run_id: u64,
        annotations: Vec<Annotation>,
        deadline: Instant,
    ) {
        for chunk in annotations.chunks(MAX_ANNOTATIONS) {
            let mut update = run.clone();
            update.output.annotations = chunk.to_vec();
            if let Err(err) = self
                .github
                .update_check_run(&post.repository, check_run_id, &update, deadline)
                .await
            {
                warn!(error = %gantry_core::logging::error_chain(&err), check_run_id, "annotations not all added");
                return;
            }
        }
    }
}

fn outcome(post: &Post, run: &CheckRun, check_run_id: u64, attempt: u32) -> Outcome {
    Outcome::CheckRun {
        repository: post.repository.to_string(),
        commit: post.commit.to_string(),
        name: run.name.clone(),
        check_run_id,
        attempt,
        conclusion: run.conclusion.map(|c| c.as_str().to_owned()),
        title: run.output.title.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: Option<u64>, conclusion: Option<&str>, lease_until: i64) -> CheckRunRecord {
        CheckRunRecord {
            attempt: 2,
            check_run_id: id,
            conclusion: conclusion.map(str::to_owned),
            lease_until,
        }
    }

    #[test]
    fn each_recorded_attempt_and_decision_has_one_step() {
        let now = 1_000;
        // (case, latest recorded attempt, reruns, decision's conclusion, step)
        type Case = (
            &'static str,
            Option<CheckRunRecord>,
            bool,
            Option<&'static str>,
            Step,
        );
        let table: Vec<Case> = vec![
            ("first event", None, true, None, Step::Create { attempt: 1 }),
            (
                "first event, already finished",
                None,
                false,
                Some("failure"),
                Step::Create { attempt: 1 },
            ),
            (
                "claimed by another, creating",
                Some(record(None, None, 1_010)),
                true,
                None,
                Step::Wait,
            ),
            (
                "claimed by one that died",
                Some(record(None, None, 990)),
                true,
                None,
                Step::Create { attempt: 2 },
            ),
            (
                "running, still running",
                Some(record(Some(7), None, 0)),
                true,
                None,
                Step::Skip("check run 7 is already in progress".into()),
            ),
            (
                "running, now finished",
                Some(record(Some(7), None, 0)),
                true,
                Some("success"),
                Step::Complete {
                    attempt: 2,
                    check_run_id: 7,
                },
            ),
            (
                "completed, a late event",
                Some(record(Some(7), Some("success"), 0)),
                true,
                Some("success"),
                Step::Skip("check run 7 already completed (success)".into()),
            ),
            (
                "completed build, a stale running read",
                Some(record(Some(7), Some("failure"), 0)),
                false,
                None,
                Step::Skip(
                    "check run 7 already completed (failure); a build never runs again".into(),
                ),
            ),
            (
                "completed stage, retried: running again",
                Some(record(Some(7), Some("failure"), 0)),
                true,
                None,
                Step::Create { attempt: 3 },
            ),
            (
                "completed stage, retried and finished unseen",
                Some(record(Some(7), Some("failure"), 0)),
                true,
                Some("success"),
                Step::Create { attempt: 3 },
            ),
        ];
        for (case, latest, reruns, conclusion, expected) in table {
            assert_eq!(
                step(latest.as_ref(), reruns, conclusion, now),
                expected,
                "{case}"
            );
        }
    }
}
