//! `gantry redrive`: puts a dead-letter or failure queue's messages back where
//! they failed to go, each with all its tries again:
//!
//! - `TriggerDlq` to `TriggerQueue`, as messages;
//! - `TriggerRuleDlq` onto Gantry's bus, as events (`PutEvents`);
//! - `StatusBuildRuleDlq` and `StatusPipelineRuleDlq` to `status`, by invoking
//!   it: EventBridge refuses `PutEvents` for `aws.*` sources, so CodeBuild's
//!   and CodePipeline's events cannot go back on a bus;
//! - a failure queue's records (Lambda's on-failure destination) to the
//!   function each names, invoked with the record's request payload.
//!
//! A message is deleted only after it arrived (the queue took it, the bus
//! took it, the function answered without an error), so an interrupted run
//! loses nothing; one sent twice starts nothing twice (the ledger). A dry run
//! shows what would move and moves nothing.

use crate::report::{Finding, Report};
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use aws_sdk_sqs::types::MessageSystemAttributeName;

#[derive(Debug, thiserror::Error)]
pub enum RedriveError {
    #[error("could not read the queue {0}")]
    Receive(String, #[source] Box<aws_sdk_sqs::Error>),
}

/// Where a queue's messages go back to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// The queue's URL: the message body as it is.
    Queue(String),
    /// The bus's name: the body is an EventBridge event.
    Bus(String),
    /// The function's name: the body is the event it is invoked with.
    Function(String),
    /// Each body is Lambda's invocation record: invoke the function it names
    /// with its `requestPayload`.
    FailureRecords,
}

impl Destination {
    /// How long a received message stays hidden while it is handed over.
    fn handover_seconds(&self) -> i32 {
        match self {
            Destination::Queue(_) | Destination::Bus(_) => 60,
            Destination::Function(_) | Destination::FailureRecords => 900,
        }
    }
}

impl std::fmt::Display for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Destination::Queue(url) => write!(f, "queue {url}"),
            Destination::Bus(bus) => write!(f, "bus {bus}"),
            Destination::Function(name) => write!(f, "function {name}"),
            Destination::FailureRecords => f.write_str("the function each record names"),
        }
    }
}

/// Where the stack's queue `queue` (its name in the outputs, without `Url`)
/// goes back to, from the stack's outputs; `None` for a queue nothing needs
/// to come back from (a schedule's tick: the next one catches up).
pub fn destination_of(
    queue: &str,
    output: &dyn Fn(&'static str) -> Option<String>,
) -> Result<Option<Destination>, String> {
    let need = |name: &'static str| {
        output(name).ok_or_else(|| format!("the stack has no output {name}, which {queue} needs"))
    };
    Ok(Some(match queue {
        "TriggerDlq" => Destination::Queue(need("TriggerQueueUrl")?),
        "TriggerRuleDlq" => Destination::Bus(need("EventBusName")?),
        "StatusBuildRuleDlq" | "StatusPipelineRuleDlq" => {
            Destination::Function(need("StatusFunctionName")?)
        }
        q if q.ends_with("FailureQueue") => Destination::FailureRecords,
        "PrunerScheduleDlq" | "RedeliverScheduleDlq" => return Ok(None),
        other => return Err(format!("{other} is not a queue of Gantry's stack")),
    }))
}

pub struct Clients<'a> {
    pub sqs: &'a aws_sdk_sqs::Client,
    pub events: &'a aws_sdk_eventbridge::Client,
    pub lambda: &'a aws_sdk_lambda::Client,
}

pub struct Redrive<'a> {
    pub clients: Clients<'a>,
    pub from: &'a str,
    pub to: &'a Destination,
    pub dry_run: bool,
    /// Stop after this many messages.
    pub max: usize,
}

impl Redrive<'_> {
    /// `progress(handled, about)`: messages handled so far, of about how many
    /// the queue held when the run began.
    pub async fn run(
        &self,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<Report, RedriveError> {
        let about = self.waiting().await.min(self.max);
        let mut report = Report::default();
        let mut seen = 0;
        let mut hidden = Vec::new();
        let mut handled = std::collections::HashSet::new();
        while seen < self.max {
            let output = self
                .clients
                .sqs
                .receive_message()
                .queue_url(self.from)
                .max_number_of_messages(10.min((self.max - seen) as i32))
                .message_attribute_names("All")
                .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
                // Long enough to hand a batch over (an invoked function may take
                // its whole timeout, 15 minutes at most); a crash leaves them to
                // reappear, and a failed one is given back at the end.
                .visibility_timeout(self.to.handover_seconds())
                .wait_time_seconds(1)
                .send()
                .await
                .map_err(|err| RedriveError::Receive(self.from.to_owned(), Box::new(err.into())))?;
            if output.messages().is_empty() {
                break;
            }
            // A message handled already (one that failed, back after its
            // visibility) is not tried again in the same run; when a batch
            // holds nothing else, every message has been handled once.
            let fresh: Vec<_> = output
                .messages()
                .iter()
                .filter(|m| m.message_id().is_none_or(|id| !handled.contains(id)))
                .collect();
            if fresh.is_empty() {
                break;
            }
            for message in fresh {
                seen += 1;
                if let Some(id) = message.message_id() {
                    handled.insert(id.to_owned());
                }
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
                match self.deliver(body).await {
                    Err(why_not) => {
                        report.push(Finding::fail(
                            subject,
                            format!("not moved: {why_not}"),
                            "it stays in the queue; fix the cause and run again",
                        ));
                        if let Some(handle) = message.receipt_handle() {
                            hidden.push(handle.to_owned());
                        }
                    }
                    Ok(()) => {
                        let deleted = match message.receipt_handle() {
                            Some(handle) => self
                                .clients
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
                            Finding::ok(subject, format!("moved {what} ({why}) to {}", self.to))
                        } else {
                            Finding::note(subject, format!("moved {what}, but still in the queue: a second run moves it again, which starts nothing twice"))
                        });
                    }
                }
                progress(seen, about.max(seen));
            }
        }
        // A dry run gives its messages back at once, and a run the ones that failed.
        for handle in hidden {
            let _ = self
                .clients
                .sqs
                .change_message_visibility()
                .queue_url(self.from)
                .receipt_handle(handle)
                .visibility_timeout(0)
                .send()
                .await;
        }
        if report.findings.is_empty() {
            report.push(Finding::ok("queue", "empty: nothing to move"));
        }
        Ok(report)
    }

    /// About how many messages the queue holds (0 when it cannot say).
    async fn waiting(&self) -> usize {
        self.clients
            .sqs
            .get_queue_attributes()
            .queue_url(self.from)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
            .send()
            .await
            .ok()
            .and_then(|out| {
                out.attributes()?
                    .get(&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)?
                    .parse()
                    .ok()
            })
            .unwrap_or(0)
    }

    /// Hands one message's body to the destination; `Err` says why it did not arrive.
    async fn deliver(&self, body: &str) -> Result<(), String> {
        match self.to {
            Destination::Queue(url) => self
                .clients
                .sqs
                .send_message()
                .queue_url(url)
                .message_body(body)
                .send()
                .await
                .map(|_| ())
                .map_err(|err| gantry_core::logging::error_chain(&aws_sdk_sqs::Error::from(err))),
            Destination::Bus(bus) => {
                let event: serde_json::Value = serde_json::from_str(body)
                    .map_err(|_| "the body is not an EventBridge event".to_owned())?;
                let (Some(source), Some(detail_type)) =
                    (event["source"].as_str(), event["detail-type"].as_str())
                else {
                    return Err(
                        "the body is not an EventBridge event (no source, detail-type)".into(),
                    );
                };
                let entry = aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
                    .event_bus_name(bus)
                    .source(source)
                    .detail_type(detail_type)
                    .detail(event["detail"].to_string())
                    .build();
                let answer = self
                    .clients
                    .events
                    .put_events()
                    .entries(entry)
                    .send()
                    .await
                    .map_err(|err| {
                        gantry_core::logging::error_chain(&aws_sdk_eventbridge::Error::from(err))
                    })?;
                match answer.entries().first() {
                    Some(entry) if entry.error_code().is_some() => Err(format!(
                        "the bus refused it: {} {}",
                        entry.error_code().unwrap_or_default(),
                        entry.error_message().unwrap_or_default()
                    )),
                    _ if answer.failed_entry_count() > 0 => Err("the bus refused it".into()),
                    _ => Ok(()),
                }
            }
            Destination::Function(name) => self.invoke(name, body.as_bytes().to_vec()).await,
            Destination::FailureRecords => {
                let record: serde_json::Value = serde_json::from_str(body)
                    .map_err(|_| "the body is not Lambda's invocation record".to_owned())?;
                let function = record["requestContext"]["functionArn"]
                    .as_str()
                    .ok_or("the record names no function (requestContext.functionArn)")?;
                // The ARN Lambda records carries the version invoked
                // (`...:function:NAME:$LATEST`); invoke the function as it is now.
                let function = function.strip_suffix(":$LATEST").unwrap_or(function);
                let payload = serde_json::to_vec(&record["requestPayload"]).unwrap_or_default();
                self.invoke(function, payload).await
            }
        }
    }

    /// Invokes `function` and waits for its answer: only a run without a
    /// function error counts as arrived.
    async fn invoke(&self, function: &str, payload: Vec<u8>) -> Result<(), String> {
        let answer = self
            .clients
            .lambda
            .invoke()
            .function_name(function)
            .invocation_type(InvocationType::RequestResponse)
            .payload(Blob::new(payload))
            .send()
            .await
            .map_err(|err| gantry_core::logging::error_chain(&aws_sdk_lambda::Error::from(err)))?;
        match answer.function_error() {
            None => Ok(()),
            Some(kind) => {
                let payload = answer
                    .payload()
                    .map(|p| String::from_utf8_lossy(p.as_ref()).into_owned())
                    .unwrap_or_default();
                let error: serde_json::Value = serde_json::from_str(&payload).unwrap_or_default();
                Err(format!(
                    "{function} failed again ({kind}): {} {}",
                    error["errorType"].as_str().unwrap_or(""),
                    error["errorMessage"].as_str().unwrap_or(&payload)
                ))
            }
        }
    }
}

/// A message's event in a few words: its kind, delivery and commit (a
/// failure record's, its request's).
fn describe(body: &str) -> String {
    let Ok(mut event) = serde_json::from_str::<serde_json::Value>(body) else {
        return "a body that is no event".to_owned();
    };
    if event.get("requestPayload").is_some() {
        event = event["requestPayload"].take();
    }
    if event["source"]
        .as_str()
        .is_some_and(|s| s.starts_with("aws."))
    {
        return format!(
            "{} {}",
            event["detail-type"].as_str().unwrap_or("an event"),
            event["detail"]["build-id"]
                .as_str()
                .or(event["detail"]["execution-id"].as_str())
                .unwrap_or("?")
        );
    }
    format!(
        "{} delivery {} at {}",
        event["detail-type"].as_str().unwrap_or("an event"),
        event["detail"]["delivery_id"].as_str().unwrap_or("?"),
        event["detail"]["commit"].as_str().unwrap_or("?"),
    )
}
