//! The status function's settings, read and checked once per container.

use gantry_core::config::{self, ConfigError};
use gantry_core::github::credential;
use gantry_core::ledger::LEDGER_TABLE;
use gantry_core::secret;
use std::time::Duration;

pub use gantry_core::github::credential::{
    Credential, API_URL, APP_ID, APP_KEY, APP_KEY_ARN, TOKEN, TOKEN_ARN,
};
pub use gantry_core::status_config::{
    PipelineStatus, ProjectStatus, StatusConfig, CONTEXT_PREFIX, STATUS_CONFIG,
};

#[derive(Debug, Clone)]
pub struct StatusSettings {
    pub credential: Credential,
    /// How long a secret (the token or the App's key) is used before it is read again.
    pub secret_ttl: Duration,
    pub api_url: String,
    pub statuses: StatusConfig,
    /// The ledger, which App mode needs for its check runs' ids.
    pub ledger_table: Option<String>,
}

impl StatusSettings {
    pub fn from_env() -> Result<Self, ConfigError> {
        let statuses = StatusConfig::from_env()?;
        let api_url = credential::api_url_from_env()?;
        let credential = Credential::from_env()?;
        let ledger_table = match credential {
            Credential::App { .. } => Some(config::required(LEDGER_TABLE)?),
            Credential::Token(_) => config::optional(LEDGER_TABLE)?,
        };
        Ok(StatusSettings {
            credential,
            secret_ttl: secret::ttl_from_env()?,
            api_url,
            statuses,
            ledger_table,
        })
    }
}
