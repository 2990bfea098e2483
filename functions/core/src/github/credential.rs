//! Which credential a function uses on GitHub: a token (commit statuses) or
//! a GitHub App (check runs), read from the same settings by every function
//! that talks to GitHub, so they cannot disagree on the mode.

use super::{AppKey, GitHubClient, GitHubError, RetryPolicy};
use crate::config::{self, ConfigError};
use crate::secret::{CachedSecret, SecretSource};
use aws_config::SdkConfig;
use std::time::Duration;

pub const TOKEN_ARN: &str = "GANTRY_GITHUB_TOKEN_ARN";
pub const TOKEN: &str = "GANTRY_GITHUB_TOKEN";
/// App mode: the App's id (or client id), and its private key (PEM).
pub const APP_ID: &str = "GANTRY_GITHUB_APP_ID";
pub const APP_KEY_ARN: &str = "GANTRY_GITHUB_APP_KEY_ARN";
pub const APP_KEY: &str = "GANTRY_GITHUB_APP_KEY";
pub const API_URL: &str = "GANTRY_GITHUB_API_URL";

/// How `status` authenticates to GitHub: commit statuses with a token, or
/// check runs as a GitHub App.
#[derive(Debug, Clone)]
pub enum Credential {
    Token(SecretSource),
    App { app_id: String, key: SecretSource },
}

/// `GANTRY_GITHUB_API_URL`, or GitHub's own API.
pub fn api_url_from_env() -> Result<String, ConfigError> {
    let api_url = config::optional(API_URL)?.unwrap_or_else(|| super::DEFAULT_API_URL.to_owned());
    match url::Url::parse(&api_url) {
        Ok(url) if matches!(url.scheme(), "http" | "https") => Ok(api_url),
        _ => Err(ConfigError::Invalid {
            name: API_URL,
            reason: format!(
                "{api_url:?} is not an http(s) URL (GitHub Enterprise Server: https://HOST/api/v3)"
            ),
        }),
    }
}

impl Credential {
    /// App mode when `GANTRY_GITHUB_APP_ID` is set; token mode otherwise. The
    /// two are never mixed, so which one is in use is never a guess.
    pub fn from_env() -> Result<Credential, ConfigError> {
        let app_id = config::optional(APP_ID)?;
        let token_set =
            config::optional(TOKEN_ARN)?.is_some() || config::optional(TOKEN)?.is_some();
        let key_set =
            config::optional(APP_KEY_ARN)?.is_some() || config::optional(APP_KEY)?.is_some();
        match app_id {
            Some(app_id) => {
                let app_id = app_id.trim().to_owned();
                if app_id.is_empty() || app_id.contains(char::is_whitespace) {
                    return Err(ConfigError::Invalid {
                        name: APP_ID,
                        reason: "expected the App's id (a number) or its client id".into(),
                    });
                }
                if token_set {
                    return Err(ConfigError::Invalid {
                        name: APP_ID,
                        reason: format!(
                            "set {APP_ID} (App mode) or {TOKEN_ARN}/{TOKEN} (token mode), not both"
                        ),
                    });
                }
                Ok(Credential::App {
                    app_id,
                    key: SecretSource::from_env(APP_KEY_ARN, APP_KEY)?,
                })
            }
            None if key_set => Err(ConfigError::Invalid {
                name: APP_ID,
                reason: format!("{APP_KEY_ARN} or {APP_KEY} is set: App mode needs {APP_ID} too"),
            }),
            None => Ok(Credential::Token(SecretSource::from_env(TOKEN_ARN, TOKEN)?)),
        }
    }

    /// The client for this credential, its secret cached for `secret_ttl`.
    pub fn client(
        self,
        api_url: &str,
        secret_ttl: Duration,
        sdk_config: &SdkConfig,
        retry: RetryPolicy,
    ) -> Result<GitHubClient, GitHubError> {
        match self {
            Credential::Token(token) => GitHubClient::new(
                api_url,
                CachedSecret::new(token, secret_ttl, sdk_config),
                retry,
            ),
            Credential::App { app_id, key } => GitHubClient::app(
                api_url,
                AppKey::new(app_id, CachedSecret::new(key, secret_ttl, sdk_config)),
                retry,
            ),
        }
    }
}
