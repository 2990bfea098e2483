//! What a pull request's payload lacks and routes need, read from GitHub:
//! its changed files, for `paths` filters (`GET .../pulls/{n}/files`, at most
//! 3,000 listed; past that the files are unknown and a filtered route builds
//! rather than miss), and its head commit's message, for `[skip ci]` (`GET
//! .../commits/{sha}`). Without GitHub access, or where GitHub refuses the
//! read, they are unknown: routes build, as without them.

use crate::handler::{Trigger, TriggerError};
use crate::route::Known;
use gantry_core::contract::{Change, GitEvent};
use gantry_core::github::GitHubError;
use tokio::time::Instant;
use tracing::{info, warn};

/// What was read about the pull request (`None`: not read, or unknown).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PullRequestFacts {
    pub files: Option<Vec<String>>,
    pub head_commit_message: Option<String>,
}

impl PullRequestFacts {
    pub fn known(&self, approved: bool) -> Known<'_> {
        Known {
            approved,
            pull_request_files: self.files.as_deref(),
            head_commit_message: self.head_commit_message.as_deref(),
        }
    }
}

impl Trigger {
    pub(crate) async fn read_pull_request(
        &self,
        event: &GitEvent,
        deadline: Instant,
    ) -> Result<PullRequestFacts, TriggerError> {
        let Change::PullRequest(pr) = &event.change else {
            return Ok(PullRequestFacts::default());
        };
        let Some(github) = self.github() else {
            return Ok(PullRequestFacts::default());
        };
        let head_commit_message = unknown_if_refused(
            github
                .client
                .commit_message(&event.repository, &event.commit, deadline)
                .await,
            "head commit message",
        )?;
        let files = if self.routes().filters_pull_request_paths() {
            let files = unknown_if_refused(
                github
                    .client
                    .pull_request_files(&event.repository, pr.number, deadline)
                    .await,
                "changed files",
            )?
            .flatten();
            match &files {
                Some(files) => info!(files = files.len(), "pull request's changed files read"),
                None => info!(
                    "the pull request's changed files are unknown: paths filters let it build"
                ),
            }
            files
        } else {
            None
        };
        Ok(PullRequestFacts {
            files,
            head_commit_message,
        })
    }
}

/// A read GitHub refuses for good (a credential without `contents: read`, a
/// commit gone) leaves the fact unknown, so the pull request is built as
/// without it; a transient failure fails the event, which is tried again.
fn unknown_if_refused<T>(
    read: Result<T, GitHubError>,
    what: &str,
) -> Result<Option<T>, TriggerError> {
    match read {
        Ok(value) => Ok(Some(value)),
        Err(err @ GitHubError::Rejected { .. }) => {
            warn!(error = %err, "the pull request's {what} could not be read; it is built as if unknown");
            Ok(None)
        }
        Err(err) => Err(err.into()),
    }
}
