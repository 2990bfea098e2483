//! `gantry redrive`: moves the messages of a dead-letter queue back to the
//! queue they failed from (`TriggerDlq` to `TriggerQueue`), each a new message
//! with all its tries again. A message is deleted from the dead-letter queue
//! only after the other queue took it, so an interrupted run loses nothing;
//! one sent twice starts nothing twice (the ledger). A dry run shows what
//! would move and moves nothing.

use crate::report::{Finding, Report};
use aws_sdk_sqs::types::MessageSystemAttributeName;

#[derive(Debug, thiserror::Error)]
pub enum RedriveError {
    #[error("could not read the dead-letter queue {0}")]
    Receive(String, #[source] Box<aws_sdk_sqs::Error>),
}

pub struct Redrive<'a> {
    pub sqs: &'a aws_sdk_sqs::Client,
    pub from: &'a str,
    pub to: &'a str,
    pub dry_run: bool,
    /// Stop after this many messages.
    pub max: usize,
}

impl Redrive<'_> {
    pub async fn run(&self, progress: &mut dyn FnMut(usize)) -> Result<Report, RedriveError> {
        let mut report = Report::default();
        let mut seen = 0;
        let mut hidden = Vec::new();
        while seen < self.max {
            let output = self
                .sqs
                .receive_message()
                .queue_url(self.from)
                .max_number_of_messages(10.min((self.max - seen) as i32))
                .message_attribute_names("All")
                .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
                // Long enough to move a batch; a crash leaves them to reappear.
                .visibility_timeout(60)
                .wait_time_seconds(1)
                .send()
                .await
                .map_err(|err| RedriveError::Receive(self.from.to_owned(), Box::new(err.into())))?;
            if output.messages().is_empty() {
                break;
            }
            for message in output.messages() {
                seen += 1;
                let body = message.body().unwrap_or_default();
                let why = message
                    .message_attributes()
                    .and_then(|attributes| attributes.get("GantryErrorType"))
                    .and_then(|value| value.string_value())
                    .unwrap_or("its tries ran out");
                let subject = format!("message {}", message.message_id().unwrap_or("?"));
                let what = describe(body);
                if self.dry_run {
                    report.push(Finding::note(subject, format!("would move {what} ({why})")));
                    if let Some(handle) = message.receipt_handle() {
                        hidden.push(handle.to_owned());
                    }
                    continue;
                }
                match self
                    .sqs
                    .send_message()
                    .queue_url(self.to)
                    .message_body(body)
                    .send()
                    .await
                {
                    Err(err) => report.push(Finding::fail(
                        subject,
                        format!(
                            "not moved: {}",
                            gantry_core::logging::error_chain(&aws_sdk_sqs::Error::from(err))
                        ),
                        "it stays in the dead-letter queue; run again",
                    )),
                    Ok(_) => {
                        let deleted = match message.receipt_handle() {
                            Some(handle) => self
                                .sqs
                                .delete_message()
                                .queue_url(self.from)
                                .receipt_handle(handle)
                                .send()
                                .await
                                .is_ok(),
                            None => false,
                        };
                        report.push(if deleted {
                            Finding::ok(subject, format!("moved {what} ({why})"))
                        } else {
                            Finding::note(subject, format!("moved {what}, but still in the dead-letter queue: a second run moves it again, which starts nothing twice"))
                        });
                    }
                }
                progress(seen);
            }
        }
        // A dry run gives its messages back at once.
        for handle in hidden {
            let _ = self
                .sqs
                .change_message_visibility()
                .queue_url(self.from)
                .receipt_handle(handle)
                .visibility_timeout(0)
                .send()
                .await;
        }
        if report.findings.is_empty() {
            report.push(Finding::ok("dead-letter queue", "empty: nothing to move"));
        }
        Ok(report)
    }
}

/// A dead letter's event in a few words: its kind, delivery and commit.
fn describe(body: &str) -> String {
    let Ok(event) = serde_json::from_str::<serde_json::Value>(body) else {
        return "a body that is no event".to_owned();
    };
    format!(
        "{} delivery {} at {}",
        event["detail-type"].as_str().unwrap_or("an event"),
        event["detail"]["delivery_id"].as_str().unwrap_or("?"),
        event["detail"]["commit"].as_str().unwrap_or("?"),
    )
}
