//! The webhook's settings, read and checked once per container.

use gantry_core::config::{self, ConfigError};
use gantry_core::secret::{self, SecretSource};
use std::time::Duration;

pub const EVENT_BUS: &str = "GANTRY_EVENT_BUS";
pub const SECRET_ARN: &str = "GANTRY_WEBHOOK_SECRET_ARN";
pub const SECRET: &str = "GANTRY_WEBHOOK_SECRET";

#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// Name or ARN of the EventBridge bus events are put on.
    pub event_bus: String,
    pub secret: SecretSource,
    pub secret_ttl: Duration,
}

impl WebhookConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(WebhookConfig {
            event_bus: config::required(EVENT_BUS)?,
            secret: SecretSource::from_env(SECRET_ARN, SECRET)?,
            secret_ttl: secret::ttl_from_env()?,
        })
    }
}
