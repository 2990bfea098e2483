//! `status`: CodeBuild and CodePipeline state changes in, GitHub commit
//! statuses (token mode) or check runs (App mode) out, decided from the
//! build's or execution's current state.

// The layout of the handler's futures (GitHub and AWS calls, retried, inside
// spans and deadlines) can nest deeper than the default limit of 128.
#![recursion_limit = "256"]

pub mod checks;
pub mod config;
mod enrich;
pub mod event;
pub mod evidence;
pub mod handler;
pub mod mapping;
pub mod reader;

pub use handler::{Outcome, StatusError, StatusHandler};

use aws_lambda_events::eventbridge::EventBridgeEvent;
use gantry_core::deadline;
use gantry_core::logging::error_chain;
use lambda_runtime::{Diagnostic, LambdaEvent};
use std::time::Duration;

/// Time kept back from the Lambda deadline to answer and flush logs.
const DEADLINE_MARGIN: Duration = Duration::from_secs(2);

pub async fn function_handler(
    handler: &StatusHandler,
    event: LambdaEvent<EventBridgeEvent<serde_json::Value>>,
) -> Result<Outcome, Diagnostic> {
    let deadline = deadline::before_lambda_deadline(event.context.deadline, DEADLINE_MARGIN);
    Ok(handler.handle(event.payload, deadline).await?)
}

/// A failed invocation's record (the failure queue, the logs) names the
/// failure, not a Rust type.
impl From<StatusError> for Diagnostic {
    fn from(err: StatusError) -> Self {
        Diagnostic {
            error_type: err.error_type().to_owned(),
            error_message: error_chain(&err),
        }
    }
}
