//! `trigger`: a Gantry GitHub event in, the routed CodePipeline executions and
//! CodeBuild builds started at exactly that commit.
//!
//! Events come in batches from the trigger queue (`queue`), or one at a time
//! when invoked directly. Each (delivery, target) starts once however often the
//! event comes (`once`, the ledger), and a failure is tried again with backoff
//! or kept in a dead-letter queue (`retry`).

// The layout of `approval`'s and the handler's futures nests deeper than the
// default limit of 128 allows when a build unifies the dev-dependencies'
// features too (`cargo build --all-targets`), as `main.rs` needs it always.
#![recursion_limit = "256"]

pub mod approval;
pub mod buttons;
pub mod cancel;
pub mod change_reads;
pub mod commit_note;
pub mod config;
pub mod handler;
pub mod once;
pub mod queue;
pub mod retry;
pub mod retry_stage;
pub mod route;
pub mod start;

pub use handler::{Summary, Trigger, TriggerError};

use aws_lambda_events::eventbridge::EventBridgeEvent;
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use gantry_core::deadline;
use gantry_core::logging::error_chain;
use lambda_runtime::{Diagnostic, LambdaEvent};
use queue::{TriggerQueue, QUEUE_CALL_TIME};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Time kept back from the Lambda deadline to answer and flush logs.
const DEADLINE_MARGIN: Duration = Duration::from_secs(1);

/// What Lambda invokes `trigger` with.
#[derive(Debug)]
pub enum Invocation {
    /// From the trigger queue's event source mapping.
    Batch(SqsEvent),
    /// One event invoked directly: an event Lambda queued for an asynchronous
    /// invoke before the trigger queue existed, or an operator's re-invoke.
    Event(EventBridgeEvent<serde_json::Value>),
}

/// An SQS batch has `Records`; an EventBridge event never does.
impl<'de> Deserialize<'de> for Invocation {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(deserializer)?;
        if value.get("Records").is_some() {
            serde_json::from_value(value)
                .map(Invocation::Batch)
                .map_err(serde::de::Error::custom)
        } else {
            serde_json::from_value(value)
                .map(Invocation::Event)
                .map_err(serde::de::Error::custom)
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Answer {
    Batch(SqsBatchResponse),
    Event(Summary),
}

pub async fn function_handler(
    trigger: &Trigger,
    queue: &TriggerQueue,
    event: LambdaEvent<Invocation>,
) -> Result<Answer, Diagnostic> {
    let deadline = deadline::before_lambda_deadline(event.context.deadline, DEADLINE_MARGIN);
    let starts_by = deadline.checked_sub(QUEUE_CALL_TIME).unwrap_or(deadline);
    match event.payload {
        Invocation::Batch(batch) => Ok(Answer::Batch(
            trigger
                .handle_batch(queue, batch, starts_by, deadline)
                .await,
        )),
        // A failure is an error, so Lambda retries it and then sends it to
        // the function's failure queue.
        Invocation::Event(event) => Ok(Answer::Event(trigger.handle(event, starts_by).await?)),
    }
}

/// A failed invocation's record (the failure queue, the logs) names the
/// failure, not a Rust type.
impl From<TriggerError> for Diagnostic {
    fn from(err: TriggerError) -> Self {
        Diagnostic {
            error_type: err.error_type().to_owned(),
            error_message: error_chain(&err),
        }
    }
}
