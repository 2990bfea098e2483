//! `trigger`: a Gantry GitHub event in, the routed CodePipeline executions and
//! CodeBuild builds started at exactly that commit.
//!
//! Redeliveries are safe: the GitHub delivery id is the request's idempotency
//! token, and a retried invocation sends the same requests again.

pub mod config;
pub mod handler;
pub mod route;
pub mod start;

pub use handler::{Summary, Trigger, TriggerError};

use aws_lambda_events::eventbridge::EventBridgeEvent;
use gantry_core::logging::error_chain;
use lambda_runtime::{Diagnostic, LambdaEvent};

pub async fn function_handler(
    trigger: &Trigger,
    event: LambdaEvent<EventBridgeEvent<serde_json::Value>>,
) -> Result<Summary, Diagnostic> {
    Ok(trigger.handle(event.payload).await?)
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
