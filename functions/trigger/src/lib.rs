//! `trigger`: a Gantry GitHub event in, the routed CodePipeline executions and
//! CodeBuild builds started at exactly that commit.
//!
//! Redeliveries are safe: the GitHub delivery id is the request's idempotency
//! token, and a retried invocation sends the same requests again.

pub mod config;
pub mod handler;
pub mod once;
pub mod route;
pub mod start;

pub use handler::{Summary, Trigger, TriggerError};

use aws_lambda_events::eventbridge::EventBridgeEvent;
use gantry_core::deadline;
use gantry_core::logging::error_chain;
use std::time::Duration;

/// Time kept back from the Lambda deadline to answer and flush logs.
const DEADLINE_MARGIN: Duration = Duration::from_secs(2);
use lambda_runtime::{Diagnostic, LambdaEvent};

pub async fn function_handler(
    trigger: &Trigger,
    event: LambdaEvent<EventBridgeEvent<serde_json::Value>>,
) -> Result<Summary, Diagnostic> {
    let deadline = deadline::before_lambda_deadline(event.context.deadline, DEADLINE_MARGIN);
    Ok(trigger.handle(event.payload, deadline).await?)
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
