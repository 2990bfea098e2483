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
use lambda_runtime::{Error, LambdaEvent};

pub async fn function_handler(
    trigger: &Trigger,
    event: LambdaEvent<EventBridgeEvent<serde_json::Value>>,
) -> Result<Summary, Error> {
    Ok(trigger.handle(event.payload).await?)
}
