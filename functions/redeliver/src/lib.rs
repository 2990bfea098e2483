//! `redeliver`: GitHub's documented pattern for failed webhook deliveries, on
//! a schedule. Each run lists the App's own webhook deliveries of the last
//! window, and asks GitHub to send again every delivery that Gantry's webhook
//! answered 5xx, 429 or not at all and that no later attempt delivered, at
//! most `MAX_REDELIVERIES` times each (the decision is
//! `gantry_core::github::redelivery::plan`, shared with `gantry replay`).
//! A delivery still failing after that, one the webhook refused (a 4xx: no
//! redelivery helps), or one GitHub refuses to redeliver is counted on the
//! `DeliveryAbandoned` metric, which has an alarm. A redelivery GitHub could
//! not take for now is asked for again by the next run; only a listing that
//! fails fails the run (Lambda retries it, then its failure queue keeps it).

// The layout of the handler's futures (GitHub and AWS calls, retried, inside
// spans and deadlines) can nest deeper than the default limit of 128.
#![recursion_limit = "256"]

pub mod config;

use gantry_core::github::redelivery::{self, RedeliveryPlan};
use gantry_core::github::{GitHubClient, GitHubError, HookDelivery, HookScope};
use gantry_core::logging::error_chain;
use gantry_core::metrics::{self, Metric};
use lambda_runtime::{Diagnostic, LambdaEvent};
use serde::Serialize;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::time::Instant;

/// Four tries in all: a delivery that failed at one run's start is tried
/// again at each of the next three, so an outage of about three schedule
/// periods heals by itself, and one that lasts longer does not turn every
/// run into a flood of redeliveries.
pub const MAX_REDELIVERIES: usize = 3;
/// Time kept back from the invocation's deadline to answer it.
const DEADLINE_MARGIN: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum RedeliverError {
    #[error("could not list the App's webhook deliveries")]
    List(#[source] GitHubError),
}

impl From<RedeliverError> for Diagnostic {
    fn from(err: RedeliverError) -> Self {
        let error_type = match &err {
            RedeliverError::List(cause) => cause.error_type(),
        };
        Diagnostic {
            error_type: error_type.to_owned(),
            error_message: error_chain(&err),
        }
    }
}

/// What a run did, as its answer (and its log line).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub attempts_listed: usize,
    pub redelivered: Vec<String>,
    pub abandoned: Vec<String>,
    pub refused: Vec<String>,
    /// Asked for, and not taken by GitHub.
    pub not_taken: Vec<String>,
    pub recovered: usize,
}

pub struct Redeliverer {
    pub github: GitHubClient,
    /// How far back each run looks.
    pub window: Duration,
}

impl Redeliverer {
    pub async fn run(&self, now: SystemTime, deadline: Instant) -> Result<Summary, RedeliverError> {
        let since = gantry_core::github::hooks::since(now, self.window);
        let attempts = self
            .github
            .list_deliveries(&HookScope::App, since, deadline)
            .await
            .map_err(RedeliverError::List)?;
        let plan = redelivery::plan(&attempts, Some(MAX_REDELIVERIES));
        let mut summary = summarise(attempts.len(), &plan);
        for delivery in &plan.abandoned {
            tracing::error!(delivery = %delivery.guid, event = %delivery.event, status = %delivery.status,
                "delivery still failing after the last redelivery; not asking again (gantry replay {} sends it again)", delivery.guid);
            count_abandoned(delivery, "still failing after the last redelivery");
        }
        // A refusal is the webhook's answer for good (a 401: its secret is not
        // the App's): no redelivery helps, and an operator must look.
        for delivery in &plan.refused {
            tracing::error!(delivery = %delivery.guid, status_code = delivery.status_code,
                "delivery refused by the webhook; not asking again (a 401 is a webhook secret that differs from the App's)");
            count_abandoned(delivery, "refused by the webhook");
        }
        summary.redelivered.clear();
        for delivery in &plan.redeliver {
            match self
                .github
                .redeliver(&HookScope::App, delivery.id, deadline)
                .await
            {
                Ok(()) => {
                    tracing::info!(delivery = %delivery.guid, event = %delivery.event, last = %delivery.status, "asked GitHub to redeliver");
                    summary.redelivered.push(delivery.guid.clone());
                }
                // Not failing the run: Lambda's retry would ask again for the
                // deliveries GitHub did take. The next run asks for this one again.
                Err(err) if err.is_transient() => {
                    tracing::warn!(delivery = %delivery.guid, error = %error_chain(&err), "redelivery not taken; the next run asks again");
                    summary.not_taken.push(delivery.guid.clone());
                }
                Err(err) => {
                    tracing::error!(delivery = %delivery.guid, error = %error_chain(&err), "GitHub refused to redeliver");
                    count_abandoned(delivery, "GitHub refused to redeliver it");
                    summary.not_taken.push(delivery.guid.clone());
                }
            }
        }
        tracing::info!(
            listed = summary.attempts_listed,
            redelivered = summary.redelivered.len(),
            not_taken = summary.not_taken.len(),
            abandoned = summary.abandoned.len(),
            refused = summary.refused.len(),
            recovered = summary.recovered,
            "run done"
        );
        Ok(summary)
    }
}

/// One delivery an operator must look at, on the metric the template alarms on.
fn count_abandoned(delivery: &HookDelivery, why: &str) {
    metrics::count(
        Metric::DeliveryAbandoned,
        &[
            ("delivery", delivery.guid.as_str().into()),
            ("event", delivery.event.as_str().into()),
            ("status", delivery.status.as_str().into()),
            ("reason", why.into()),
        ],
    );
}

fn summarise(listed: usize, plan: &RedeliveryPlan) -> Summary {
    let guids =
        |list: &[gantry_core::github::HookDelivery]| list.iter().map(|d| d.guid.clone()).collect();
    Summary {
        attempts_listed: listed,
        redelivered: guids(&plan.redeliver),
        abandoned: guids(&plan.abandoned),
        refused: guids(&plan.refused),
        not_taken: Vec::new(),
        recovered: plan.recovered,
    }
}

/// One scheduled run; the event's content does not matter.
pub async fn function_handler(
    redeliverer: &Redeliverer,
    event: LambdaEvent<serde_json::Value>,
) -> Result<Summary, Diagnostic> {
    let now = SystemTime::now();
    let now_ms = now
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64;
    let remaining = Duration::from_millis(event.context.deadline.saturating_sub(now_ms));
    let deadline = Instant::now() + remaining.saturating_sub(DEADLINE_MARGIN);
    Ok(redeliverer.run(now, deadline).await?)
}
