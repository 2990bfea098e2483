//! The GitHub REST client. The API base URL is configurable, for GitHub
//! Enterprise Server (`https://HOST/api/v3`) and for tests.
//!
//! - `client`: the HTTPS client, one request and its credential;
//! - `credential`: a token or an App, from the functions' shared settings;
//! - `app`: a GitHub App's JWT, installations and installation tokens;
//! - `retry`: the retry policy and how GitHub's answers are classified;
//! - `statuses`: commit statuses (token or App);
//! - `reads`: a collaborator's permission and a pull request's head;
//! - `checks`: check runs (App only);
//! - `hooks`: webhooks and their deliveries (admin, or the App itself);
//! - `redelivery`: which failed deliveries to send again.

pub mod app;
mod checks;
mod client;
pub mod credential;
pub mod hooks;
mod reads;
pub mod redelivery;
mod retry;
mod statuses;

pub use app::AppKey;
pub use checks::*;
pub use client::{GitHubClient, Sent};
pub use credential::Credential;
pub use hooks::{Hook, HookConfig, HookDelivery, HookScope};
pub use reads::{Permission, PostedCheck, PullRequestHead};
pub use retry::{Recheck, RetryPolicy};
pub use statuses::{CommitStatus, StatusState, MAX_DESCRIPTION_CHARS};

use crate::secret::SecretError;

pub const DEFAULT_API_URL: &str = "https://api.github.com";
/// The REST API version Gantry is written against.
pub const API_VERSION: &str = "2022-11-28";

#[derive(Debug, thiserror::Error)]
pub enum GitHubError {
    #[error("GitHub token unavailable")]
    Token(#[from] SecretError),
    #[error("GitHub App credential unavailable")]
    App(#[source] app::AppAuthError),
    #[error("GitHub token cannot be sent: it holds a line break or another character not allowed in an HTTP header")]
    MalformedToken,
    #[error("only a GitHub App may read or redeliver its own webhook's deliveries: give the App's id and key, not a token")]
    NeedsApp,
    #[error("a GitHub App has no user of its own: this read needs a token")]
    NeedsToken,
    #[error("GitHub API base URL {0:?} is not an http(s) URL")]
    BaseUrl(String),
    #[error("no root certificates to verify GitHub's TLS certificate")]
    RootCertificates(#[source] std::io::Error),
    /// Worth retrying later: 5xx, 429, a rate limit, a network failure.
    #[error("GitHub API still failing after {attempts} attempts: {last}")]
    Transient { attempts: u32, last: String },
    /// Retrying will not help: the commit, repository or token is wrong.
    #[error("GitHub API refused the request with {status}: {message}")]
    Rejected { status: u16, message: String },
}

impl GitHubError {
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            GitHubError::Transient { .. }
                | GitHubError::Token(_)
                | GitHubError::App(app::AppAuthError::Secret(_))
        )
    }

    /// A name for the failure, for a failed invocation's `errorType`.
    pub fn error_type(&self) -> &'static str {
        match self {
            GitHubError::Token(_) => "GitHubTokenUnavailable",
            GitHubError::MalformedToken => "GitHubTokenMalformed",
            GitHubError::App(app::AppAuthError::Secret(_)) => "GitHubAppKeyUnavailable",
            GitHubError::App(app::AppAuthError::Key(_)) => "GitHubAppKeyInvalid",
            GitHubError::BaseUrl(_)
            | GitHubError::RootCertificates(_)
            | GitHubError::NeedsApp
            | GitHubError::NeedsToken => "GitHubClientMisconfigured",
            GitHubError::Transient { .. } => "GitHubUnavailable",
            GitHubError::Rejected { .. } => "GitHubRejected",
        }
    }
}
