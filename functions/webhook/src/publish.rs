//! Puts a normalised event on the EventBridge bus. EventBridge retries delivery to
//! its targets, so once `PutEvents` has accepted the entry nothing is lost.

use gantry_core::contract::{Published, SOURCE};
use gantry_core::deadline;
use tokio::time::Instant;

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("could not serialise the event")]
    Serialize(#[from] serde_json::Error),
    #[error("PutEvents request to bus {bus} failed")]
    Request {
        bus: String,
        #[source]
        source: Box<aws_sdk_eventbridge::Error>,
    },
    #[error("bus {bus} rejected the event: {code}: {message}")]
    Rejected {
        bus: String,
        code: String,
        message: String,
    },
}

pub struct Publisher {
    client: aws_sdk_eventbridge::Client,
    bus: String,
}

impl Publisher {
    pub fn new(client: aws_sdk_eventbridge::Client, bus: String) -> Self {
        Publisher { client, bus }
    }

    pub async fn publish(&self, event: &Published, deadline: Instant) -> Result<(), PublishError> {
        let entry = aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
            .event_bus_name(&self.bus)
            .source(SOURCE)
            .detail_type(event.detail_type().as_str())
            .detail(event.to_detail()?)
            .resources(format!("https://github.com/{}", event.repository()))
            .build();
        let output = deadline::aws_call(deadline, self.client.put_events().entries(entry).send())
            .await
            .map_err(|err| PublishError::Request {
                bus: self.bus.clone(),
                source: Box::new(err.into()),
            })?;
        // PutEvents answers 200 even when an entry is refused; the refusal is per entry.
        if output.failed_entry_count() > 0 {
            let failed = output
                .entries()
                .iter()
                .find(|entry| entry.error_code().is_some());
            return Err(PublishError::Rejected {
                bus: self.bus.clone(),
                code: failed
                    .and_then(|e| e.error_code())
                    .unwrap_or("unknown")
                    .to_owned(),
                message: failed
                    .and_then(|e| e.error_message())
                    .unwrap_or("no message")
                    .to_owned(),
            });
        }
        Ok(())
    }
}
