//! `pruner`: old pipeline and build artifacts out of S3, on a schedule, under a
//! policy that never deletes an artifact a running or the last successful
//! execution needs, nor anything outside its prefixes.

pub mod budget;
pub mod config;
pub mod handler;
pub mod plan;
pub mod protect;
pub mod store;

pub use handler::{Pruner, RunInput, Summary};

use budget::Budget;
use gantry_core::logging::error_chain;
use handler::{InputError, PruneError};
use lambda_runtime::{Diagnostic, LambdaEvent};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::time::Instant;

/// Time kept back from the Lambda deadline: one more S3 call and the summary.
const DEADLINE_MARGIN: Duration = Duration::from_secs(15);

pub async fn function_handler(
    pruner: &Pruner,
    event: LambdaEvent<serde_json::Value>,
) -> Result<Summary, Diagnostic> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let remaining = Duration::from_millis(
        event
            .context
            .deadline
            .saturating_sub(now.as_millis() as u64),
    );
    let budget = Budget::until(Instant::now() + remaining, DEADLINE_MARGIN);
    let input = RunInput::from_payload(event.payload)
        .inspect_err(|err| tracing::error!(error = %err, "run refused"))?;
    Ok(pruner.run(input, &budget, now.as_secs() as i64).await?)
}

/// A failed run's record names the failure, not a Rust type.
impl From<InputError> for Diagnostic {
    fn from(err: InputError) -> Self {
        Diagnostic {
            error_type: "InvalidRunInput".to_owned(),
            error_message: error_chain(&err),
        }
    }
}

impl From<PruneError> for Diagnostic {
    fn from(err: PruneError) -> Self {
        Diagnostic {
            error_type: "PruneIncomplete".to_owned(),
            error_message: error_chain(&err),
        }
    }
}
