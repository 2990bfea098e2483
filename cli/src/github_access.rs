//! Which GitHub credential `gantry` uses, and for what:
//!
//! - a repository's webhooks and their deliveries (`doctor`, `replay` in token
//!   mode) need admin on the repository: the operator's own token
//!   (`GITHUB_TOKEN`), never the stack's, which only writes statuses;
//! - the App's webhook, its deliveries and its installations (App mode) need
//!   the App's JWT: its id and private key, given as options or read from the
//!   stack (status's `GANTRY_GITHUB_APP_ID`, and the key's secret, which the
//!   operator's AWS credentials must be allowed to read).

use gantry_core::github::credential::{API_URL, APP_ID, APP_KEY_ARN};
use gantry_core::github::{AppKey, GitHubClient, GitHubError, RetryPolicy, DEFAULT_API_URL};
use gantry_core::secret::CachedSecret;
use std::time::Duration;

/// What the options and the stack say about the credential.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GitHubOptions {
    pub token: Option<String>,
    pub app_id: Option<String>,
    /// The App's private key (PEM), read from the file an option names.
    pub app_key_pem: Option<String>,
    pub api_url: Option<String>,
}

/// Where the credential comes from, decided before anything is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Token,
    App {
        app_id: String,
        key: Key,
    },
    /// Nothing given: GitHub is not asked.
    None,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    Pem,
    Secret { arn: String },
}

/// Options win over the stack; an App id with no key anywhere is an error.
/// `stack_setting`: status's setting of that name, when a stack was read.
pub fn decide(
    options: &GitHubOptions,
    stack_setting: &dyn Fn(&str) -> Option<String>,
) -> Result<Source, String> {
    if options.token.is_some() && options.app_id.is_some() {
        return Err("give a token (GITHUB_TOKEN) or an App (--app-id), not both".into());
    }
    if let Some(app_id) = &options.app_id {
        return match (&options.app_key_pem, stack_setting(APP_KEY_ARN)) {
            (Some(_), _) => Ok(Source::App {
                app_id: app_id.clone(),
                key: Key::Pem,
            }),
            (None, Some(arn)) => Ok(Source::App {
                app_id: app_id.clone(),
                key: Key::Secret { arn },
            }),
            (None, None) => Err("--app-id needs the App's private key: --app-key-file".into()),
        };
    }
    if options.token.is_some() {
        return Ok(Source::Token);
    }
    match (stack_setting(APP_ID), stack_setting(APP_KEY_ARN)) {
        (Some(app_id), Some(arn)) => Ok(Source::App {
            app_id,
            key: Key::Secret { arn },
        }),
        _ => Ok(Source::None),
    }
}

/// The client for `source`, or `None` when GitHub is not to be asked.
pub fn client(
    source: &Source,
    options: &GitHubOptions,
    stack_setting: &dyn Fn(&str) -> Option<String>,
    secrets: &aws_sdk_secretsmanager::Client,
) -> Result<Option<GitHubClient>, GitHubError> {
    let api_url = options
        .api_url
        .clone()
        .or_else(|| stack_setting(API_URL))
        .unwrap_or_else(|| DEFAULT_API_URL.to_owned());
    // An operator at a terminal waits for a few tries, not for a Lambda's.
    let retry = RetryPolicy {
        max_attempts: 3,
        first_delay: Duration::from_millis(500),
        max_delay: Duration::from_secs(5),
    };
    Ok(Some(match source {
        Source::None => return Ok(None),
        Source::Token => GitHubClient::new(
            &api_url,
            CachedSecret::plain(options.token.as_deref().unwrap_or_default()),
            retry,
        )?,
        Source::App { app_id, key } => {
            let pem = match key {
                Key::Pem => CachedSecret::plain(options.app_key_pem.as_deref().unwrap_or_default()),
                Key::Secret { arn } => CachedSecret::with_client(
                    arn.clone(),
                    Duration::from_secs(300),
                    secrets.clone(),
                ),
            };
            GitHubClient::app(&api_url, AppKey::new(app_id.clone(), pem), retry)?
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stack(app: bool) -> impl Fn(&str) -> Option<String> {
        move |name| match name {
            APP_ID if app => Some("12345".into()),
            APP_KEY_ARN if app => Some("arn:aws:secretsmanager:eu-west-1:1:secret:key".into()),
            _ => None,
        }
    }

    #[test]
    fn options_win_over_the_stack_and_conflicts_are_refused() {
        let token = GitHubOptions {
            token: Some("t".into()),
            ..Default::default()
        };
        assert_eq!(decide(&token, &stack(true)), Ok(Source::Token));
        assert_eq!(
            decide(&GitHubOptions::default(), &stack(true)),
            Ok(Source::App {
                app_id: "12345".into(),
                key: Key::Secret {
                    arn: "arn:aws:secretsmanager:eu-west-1:1:secret:key".into()
                }
            })
        );
        assert_eq!(
            decide(&GitHubOptions::default(), &stack(false)),
            Ok(Source::None)
        );
        let app_without_key = GitHubOptions {
            app_id: Some("1".into()),
            ..Default::default()
        };
        assert!(decide(&app_without_key, &stack(false))
            .unwrap_err()
            .contains("--app-key-file"));
        let both = GitHubOptions {
            token: Some("t".into()),
            app_id: Some("1".into()),
            ..Default::default()
        };
        assert!(decide(&both, &stack(false)).is_err());
    }
}
