//! The trigger queue: the bus's rule sends GitHub events to an SQS queue, and
//! Lambda's event source mapping hands them to `trigger` in batches. Each
//! message is answered on its own (a partial batch response): a handled one is
//! deleted, a transient failure is hidden for its backoff and tried again, a
//! permanent one is sent to the dead-letter queue at once. After
//! `retry::MAX_RECEIVES` tries SQS itself moves a message there.

use crate::handler::{Trigger, TriggerError};
use crate::retry::{self, Disposition, MAX_RECEIVES};
use aws_lambda_events::eventbridge::EventBridgeEvent;
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use aws_sdk_sqs::types::MessageAttributeValue;
use futures_util::future::join_all;
use gantry_core::aws::{FirstUse, ServiceError};
use gantry_core::deadline::aws_call;
use gantry_core::logging::error_chain;
use std::time::Duration;
use tokio::time::Instant;
use tracing::{error, info_span, warn, Instrument};

/// The queue the rule fills and `trigger` drains.
pub const TRIGGER_QUEUE_URL: &str = "GANTRY_TRIGGER_QUEUE_URL";
/// Where a permanent failure goes at once, and SQS moves one that ran out of tries.
pub const TRIGGER_DLQ_URL: &str = "GANTRY_TRIGGER_DLQ_URL";

/// Message attributes on a dead letter `trigger` sent itself.
pub const ERROR_TYPE_ATTRIBUTE: &str = "GantryErrorType";
pub const ERROR_ATTRIBUTE: &str = "GantryError";
/// Far below SQS's 256 KiB for a message with its attributes.
const ERROR_ATTRIBUTE_MAX_CHARS: usize = 1024;

/// Time kept for the queue's own calls after the starts' deadline.
pub const QUEUE_CALL_TIME: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("could not send the event to the dead-letter queue")]
    DeadLetter(#[source] ServiceError<aws_sdk_sqs::Error>),
    #[error("could not hide the event until its next try")]
    Visibility(#[source] ServiceError<aws_sdk_sqs::Error>),
}

/// SQS is called only for an event that failed (to hide it until its next
/// try, or to dead-letter it), so its client is built on first use.
pub struct TriggerQueue {
    sqs: FirstUse<aws_sdk_sqs::Client>,
    queue_url: String,
    dead_letter_url: String,
}

impl TriggerQueue {
    pub fn new(
        sqs: impl Into<FirstUse<aws_sdk_sqs::Client>>,
        queue_url: String,
        dead_letter_url: String,
    ) -> Self {
        TriggerQueue {
            sqs: sqs.into(),
            queue_url,
            dead_letter_url,
        }
    }

    /// Hides the message for `after`: its next try.
    async fn retry_after(
        &self,
        receipt_handle: &str,
        after: Duration,
        deadline: Instant,
    ) -> Result<(), QueueError> {
        let call = self
            .sqs
            .get()
            .change_message_visibility()
            .queue_url(&self.queue_url)
            .receipt_handle(receipt_handle)
            .visibility_timeout(i32::try_from(after.as_secs()).unwrap_or(i32::MAX))
            .send();
        aws_call(deadline, call)
            .await
            .map(|_| ())
            .map_err(|err| QueueError::Visibility(ServiceError::from_sdk(err)))
    }

    /// The message's body as it came, named by its failure.
    async fn dead_letter(
        &self,
        body: &str,
        error_type: &str,
        error: &str,
        deadline: Instant,
    ) -> Result<(), QueueError> {
        let attribute = |value: &str| {
            MessageAttributeValue::builder()
                .data_type("String")
                .string_value(value)
                .build()
        };
        let error: String = error.chars().take(ERROR_ATTRIBUTE_MAX_CHARS).collect();
        let call = self
            .sqs
            .get()
            .send_message()
            .queue_url(&self.dead_letter_url)
            .message_body(body)
            .message_attributes(
                ERROR_TYPE_ATTRIBUTE,
                attribute(error_type).map_err(build_error)?,
            )
            .message_attributes(ERROR_ATTRIBUTE, attribute(&error).map_err(build_error)?)
            .send();
        aws_call(deadline, call)
            .await
            .map(|_| ())
            .map_err(|err| QueueError::DeadLetter(ServiceError::from_sdk(err)))
    }
}

/// A message attribute with a data type and a value always builds; kept as a
/// failure to send rather than a panic all the same.
fn build_error(err: aws_sdk_sqs::error::BuildError) -> QueueError {
    QueueError::DeadLetter(ServiceError::from_sdk(
        aws_smithy_runtime_api::client::result::SdkError::<
            aws_sdk_sqs::operation::send_message::SendMessageError,
            _,
        >::construction_failure(err),
    ))
}

impl Trigger {
    /// Handles a batch from the trigger queue, its messages concurrently.
    /// `starts_by` bounds the starts; `deadline`, later, the queue's own calls.
    pub async fn handle_batch(
        &self,
        queue: &TriggerQueue,
        batch: SqsEvent,
        starts_by: Instant,
        deadline: Instant,
    ) -> SqsBatchResponse {
        let kept = join_all(
            batch
                .records
                .iter()
                .map(|message| self.handle_message(queue, message, starts_by, deadline)),
        )
        .await;
        let mut response = SqsBatchResponse::default();
        for (message, kept) in batch.records.iter().zip(kept) {
            if kept {
                // Lambda retries the whole batch when an identifier is empty,
                // which keeps a message without one rather than losing it.
                response.add_failure(message.message_id.clone().unwrap_or_default());
            }
        }
        response
    }

    /// Whether the message stays in the queue for another try.
    async fn handle_message(
        &self,
        queue: &TriggerQueue,
        message: &SqsMessage,
        starts_by: Instant,
        deadline: Instant,
    ) -> bool {
        let receive: u32 = message
            .attributes
            .get("ApproximateReceiveCount")
            .and_then(|count| count.parse().ok())
            .unwrap_or(1);
        let span = info_span!(
            "message",
            message_id = message.message_id.as_deref().unwrap_or("-"),
            receive,
        );
        async {
            let body = message.body.as_deref().unwrap_or_default();
            let result = match serde_json::from_str::<EventBridgeEvent<serde_json::Value>>(body) {
                Ok(event) => self.handle(event, starts_by).await,
                Err(err) => Err(TriggerError::Envelope(err.to_string())),
            };
            match retry::dispose(&result, receive) {
                Disposition::Done => false,
                Disposition::Retry { after } => {
                    if receive >= MAX_RECEIVES {
                        error!(
                            tries = receive,
                            "start still failing after the last try; SQS moves the event to the dead-letter queue"
                        );
                    } else {
                        warn!(
                            next_try_in_s = after.as_secs(),
                            "event will be tried again"
                        );
                    }
                    if let Some(receipt_handle) = message.receipt_handle.as_deref() {
                        if let Err(err) = queue.retry_after(receipt_handle, after, deadline).await {
                            warn!(error = %error_chain(&err), "the event comes back after the queue's visibility timeout instead");
                        }
                    }
                    true
                }
                Disposition::DeadLetter { error_type, error } => {
                    match queue.dead_letter(body, &error_type, &error, deadline).await {
                        Ok(()) => {
                            error!(
                                error_type,
                                error,
                                "event sent to the dead-letter queue; fix the cause, then redrive it"
                            );
                            false
                        }
                        Err(err) => {
                            error!(
                                error_type,
                                error,
                                queue_error = %error_chain(&err),
                                "the dead-letter queue refused the event; it stays in the trigger queue"
                            );
                            true
                        }
                    }
                }
            }
        }
        .instrument(span)
        .await
    }
}
