//! A pull request's changed files, for `paths` filters: its payload lists
//! none, so they are read from GitHub (`GET .../pulls/{n}/files`), which lists
//! at most 3,000; past that, or without GitHub access, the files are unknown
//! and a filtered route builds rather than miss.

use crate::handler::{Trigger, TriggerError};
use gantry_core::contract::{Change, GitEvent};
use tokio::time::Instant;
use tracing::info;

impl Trigger {
    /// `event`'s changed files when a route filters pull requests by paths.
    pub(crate) async fn pull_request_files(
        &self,
        event: &GitEvent,
        deadline: Instant,
    ) -> Result<Option<Vec<String>>, TriggerError> {
        let Change::PullRequest(pr) = &event.change else {
            return Ok(None);
        };
        if !self.routes().filters_pull_request_paths() {
            return Ok(None);
        }
        let Some(github) = self.github() else {
            info!("no GitHub credential: the pull request's files are unknown, so paths filters let it build");
            return Ok(None);
        };
        let files = github
            .client
            .pull_request_files(&event.repository, pr.number, deadline)
            .await?;
        match &files {
            Some(files) => info!(files = files.len(), "pull request's changed files read"),
            None => info!("more changed files than GitHub lists: paths filters let it build"),
        }
        Ok(files)
    }
}
