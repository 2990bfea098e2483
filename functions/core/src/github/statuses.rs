//! Commit statuses: `POST /repos/{owner}/{repo}/statuses/{sha}`.

use super::{GitHubClient, GitHubError, Recheck, Sent};
use crate::ids::{CommitSha, RepoName};
use bytes::Bytes;
use http::Method;
use serde::Serialize;
use tokio::time::Instant;

/// GitHub truncates nothing: a longer description is a 422, so it is cut here.
pub const MAX_DESCRIPTION_CHARS: usize = 140;

/// `state` of a commit status, as GitHub's REST description enumerates it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StatusState {
    Pending,
    Success,
    Failure,
    Error,
}

impl StatusState {
    pub fn as_str(self) -> &'static str {
        match self {
            StatusState::Pending => "pending",
            StatusState::Success => "success",
            StatusState::Failure => "failure",
            StatusState::Error => "error",
        }
    }
}

/// The body of `POST /repos/{owner}/{repo}/statuses/{sha}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CommitStatus {
    pub state: StatusState,
    pub target_url: Option<String>,
    pub description: String,
    pub context: String,
}

impl CommitStatus {
    /// Cuts the description to GitHub's limit, on a character boundary.
    pub fn new(
        state: StatusState,
        context: String,
        description: &str,
        target_url: Option<String>,
    ) -> Self {
        let description = if description.chars().count() > MAX_DESCRIPTION_CHARS {
            let mut cut: String = description
                .chars()
                .take(MAX_DESCRIPTION_CHARS - 1)
                .collect();
            cut.push('…');
            cut
        } else {
            description.to_owned()
        };
        CommitStatus {
            state,
            target_url,
            description,
            context,
        }
    }
}

impl GitHubClient {
    /// `POST /repos/{owner}/{repo}/statuses/{sha}`, retried within `deadline`.
    pub async fn create_status(
        &self,
        repo: &RepoName,
        sha: &CommitSha,
        status: &CommitStatus,
        deadline: Instant,
    ) -> Result<(), GitHubError> {
        self.create_status_rechecked(repo, sha, status, deadline, None)
            .await
            .map(drop)
    }

    /// As `create_status`, asking `recheck` before each retry whether the
    /// status is still wanted.
    pub async fn create_status_rechecked(
        &self,
        repo: &RepoName,
        sha: &CommitSha,
        status: &CommitStatus,
        deadline: Instant,
        recheck: Option<&dyn Recheck>,
    ) -> Result<Sent, GitHubError> {
        let url = format!(
            "{}/repos/{}/{}/statuses/{}",
            self.api_url,
            repo.owner(),
            repo.name(),
            sha
        );
        let body = Bytes::from(serde_json::to_vec(status).unwrap_or_default());
        self.send(repo, Method::POST, &url, body, deadline, recheck)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_fit_githubs_limit() {
        let long = "é".repeat(200);
        let status = CommitStatus::new(StatusState::Failure, "gantry/x".into(), &long, None);
        assert_eq!(status.description.chars().count(), MAX_DESCRIPTION_CHARS);
        assert!(status.description.ends_with('…'));
        let short = CommitStatus::new(
            StatusState::Success,
            "gantry/x".into(),
            "Build succeeded",
            None,
        );
        assert_eq!(short.description, "Build succeeded");
        assert_eq!(serde_json::to_value(&short).unwrap()["state"], "success");
    }
}
