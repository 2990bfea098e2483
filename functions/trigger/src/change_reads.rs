//! What a pull request's or merge group's payload lacks and routes need,
//! read from GitHub: the changed files, for `paths` filters (a pull
//! request's `GET .../pulls/{n}/files`, at most 3,000 listed; a merge
//! group's `GET .../compare/{base}...{head}`, at most 300; past that the
//! files are unknown and a filtered route builds rather than miss), and a
//! pull request's head commit message, for `[skip ci]` (`GET
//! .../commits/{sha}`; a merge group's payload carries it). Without GitHub access, or where GitHub refuses the
//! read, they are unknown: routes build, as without them.

use crate::handler::{Trigger, TriggerError};
use crate::route::{self, Known, Plan};
use gantry_core::contract::{Change, GitEvent};
use gantry_core::github::GitHubError;
use tokio::time::Instant;
use tracing::{info, warn};

/// What was read about the change (`None`: not read, or unknown).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangeFacts {
    pub files: Option<Vec<String>>,
    pub head_commit_message: Option<String>,
}

impl ChangeFacts {
    pub fn known(&self, approved: bool) -> Known<'_> {
        Known {
            approved,
            changed_files: self.files.as_deref(),
            head_commit_message: self.head_commit_message.as_deref(),
        }
    }
}

impl Trigger {
    /// `approved`: the event is a maintainer's approval of a fork's head.
    pub(crate) async fn read_change(
        &self,
        event: &GitEvent,
        approved: bool,
        deadline: Instant,
    ) -> Result<ChangeFacts, TriggerError> {
        let Some(github) = self.github() else {
            return Ok(ChangeFacts::default());
        };
        // What is read can only hold starts back (a path outside the filter,
        // `[skip ci]`): where nothing would start, nothing is read, so an App
        // installed on repositories without routes costs no GitHub calls.
        let unread = Known {
            approved,
            ..Known::default()
        };
        if !matches!(route::plan_known(event, self.routes(), unread), Plan::Start { starts, .. } if !starts.is_empty())
        {
            return Ok(ChangeFacts::default());
        }
        let pr = match &event.change {
            Change::PullRequest(pr) => pr,
            Change::MergeGroup(group) => {
                let Some(base) = group
                    .base_sha
                    .as_ref()
                    .filter(|_| group.action == "checks_requested")
                    .filter(|_| self.routes().filters_merge_group_paths())
                else {
                    return Ok(ChangeFacts::default());
                };
                let files = unknown_if_refused(
                    github
                        .client
                        .compare_files(&event.repository, base, &event.commit, deadline)
                        .await,
                    "changed files",
                )?
                .flatten();
                log_files(files.as_deref());
                return Ok(ChangeFacts {
                    files,
                    head_commit_message: None,
                });
            }
            _ => return Ok(ChangeFacts::default()),
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
            log_files(files.as_deref());
            files
        } else {
            None
        };
        Ok(ChangeFacts {
            files,
            head_commit_message,
        })
    }
}

fn log_files(files: Option<&[String]>) {
    match files {
        Some(files) => info!(files = files.len(), "changed files read"),
        None => info!("the changed files are unknown: paths filters let it build"),
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
            warn!(error = %err, "the {what} could not be read; built as if unknown");
            Ok(None)
        }
        Err(err) => Err(err.into()),
    }
}
