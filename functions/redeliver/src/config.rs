//! `redeliver`'s settings: the App's (only an App may read and redeliver its
//! own webhook's deliveries) and how far back each run looks.

use gantry_core::config::{self, ConfigError};
use gantry_core::github::credential::{self, Credential, APP_ID};
use std::time::Duration;

pub const WINDOW_MINUTES: &str = "GANTRY_REDELIVER_WINDOW_MINUTES";
const DEFAULT_WINDOW_MINUTES: u64 = 120;
/// GitHub keeps deliveries for 3 days.
const MAX_WINDOW_MINUTES: u64 = 3 * 24 * 60;

#[derive(Debug, Clone)]
pub struct RedeliverConfig {
    pub credential: Credential,
    pub api_url: String,
    pub window: Duration,
    pub secret_ttl: Duration,
}

impl RedeliverConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        let credential = Credential::from_env()?;
        if matches!(credential, Credential::Token(_)) {
            return Err(ConfigError::Invalid {
                name: APP_ID,
                reason: "redeliver reads the App's own webhook deliveries, which only the App may: set the App's id and key (token mode: run gantry replay --failed)".into(),
            });
        }
        Ok(RedeliverConfig {
            credential,
            api_url: credential::api_url_from_env()?,
            window: window(config::optional(WINDOW_MINUTES)?.as_deref())?,
            secret_ttl: gantry_core::secret::ttl_from_env()?,
        })
    }
}

fn window(setting: Option<&str>) -> Result<Duration, ConfigError> {
    let minutes = match setting {
        None => DEFAULT_WINDOW_MINUTES,
        Some(text) => match text.trim().parse::<u64>() {
            Ok(minutes) if (15..=MAX_WINDOW_MINUTES).contains(&minutes) => minutes,
            _ => {
                return Err(ConfigError::Invalid {
                    name: WINDOW_MINUTES,
                    reason: format!(
                        "{text:?}: expected whole minutes from 15 to {MAX_WINDOW_MINUTES} (GitHub keeps deliveries 3 days)"
                    ),
                })
            }
        },
    };
    Ok(Duration::from_secs(minutes * 60))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_is_whole_minutes_within_what_github_keeps() {
        assert_eq!(window(None).unwrap(), Duration::from_secs(7200));
        assert_eq!(window(Some("60")).unwrap(), Duration::from_secs(3600));
        assert_eq!(window(Some("4320")).unwrap(), Duration::from_secs(259_200));
        for bad in ["14", "4321", "1h", "-5", ""] {
            let err = window(Some(bad)).unwrap_err().to_string();
            assert!(err.contains(WINDOW_MINUTES), "{bad}: {err}");
        }
    }
}
