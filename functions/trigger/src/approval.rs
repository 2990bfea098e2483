//! Fork pull requests built on a maintainer's word (`fork_pull_requests:
//! approve`). The pull request's own events start nothing on such a route;
//! a pending status (a check run in App mode) under the context its target
//! reports to says what to do: comment `/gantry run <sha>`. A new comment
//! with that command, from a user whose permission on the repository is
//! write or more (read from GitHub: a payload's `author_association` is not
//! a permission), starts the build if, and only if, the commit it names is
//! still the pull request's head. A push after the review is never built on
//! an old approval; the new head waits for a new one.

use crate::commit_note::pull_request_link;
use crate::commit_note::{CommitNote, NoteKind};
use crate::config::Target;
use crate::handler::{Summary, Trigger, TriggerError};
use crate::route::{self, HeldBack, HoldReason};
use gantry_core::contract::{ApprovalComment, Change, GitEvent, PullRequest};
use gantry_core::github::GitHubClient;
use gantry_core::status_config::StatusConfig;
use tokio::time::Instant;
use tracing::info;

/// What `trigger` needs GitHub for: reading approvals, and saying that a
/// fork's pull request waits for one.
pub struct GitHubAccess {
    pub client: GitHubClient,
    /// The contexts `status` reports under (`GANTRY_STATUS_CONFIG`), so the
    /// waiting status is the one the build's own replaces.
    pub statuses: StatusConfig,
}

/// The waiting status's words: one line, within a status's 140 characters.
pub fn waiting_description(commit: &str) -> String {
    format!(
        "Waiting for a maintainer: comment /gantry run {}",
        &commit[..commit.len().min(7)]
    )
}

impl Trigger {
    pub(crate) async fn approve(
        &self,
        comment: &ApprovalComment,
        event_at: i64,
        deadline: Instant,
    ) -> Result<Summary, TriggerError> {
        if !self.routes().approves_forks() {
            return Ok(skipped(
                "no route builds forks on a maintainer's approval (fork_pull_requests: approve)"
                    .into(),
            ));
        }
        let Some(github) = self.github() else {
            return Ok(skipped(
                "trigger has no GitHub credential, so it cannot read who approved".into(),
            ));
        };
        let permission = github
            .client
            .collaborator_permission(&comment.repository, &comment.author, deadline)
            .await?;
        if !permission.may_approve() {
            return Ok(skipped(format!(
                "{} has {} permission on {}: approving a fork's build takes write access or more",
                comment.author, permission.permission, comment.repository
            )));
        }
        let pr = github
            .client
            .pull_request(&comment.repository, comment.pull_request, deadline)
            .await?;
        if pr.state != "open" {
            return Ok(skipped(format!(
                "pull request #{} is {}; nothing to build",
                pr.number, pr.state
            )));
        }
        if !pr.head_sha.as_str().starts_with(&comment.approved) {
            return Ok(skipped(format!(
                "{} approved {}, but pull request #{} is at {} now: its head needs an approval of its own",
                comment.author,
                comment.approved,
                pr.number,
                pr.head_sha.short()
            )));
        }
        info!(approver = %comment.author, pull_request = pr.number, commit = %pr.head_sha, "fork build approved");
        // The pull request as it is now, under the comment's delivery: what
        // the ledger keeps, and what a re-run starts from.
        let event = GitEvent {
            delivery_id: comment.delivery_id.clone(),
            repository: comment.repository.clone(),
            clone_url: comment.clone_url.clone(),
            commit: pr.head_sha,
            change: Change::PullRequest(PullRequest {
                number: pr.number,
                action: "approved".into(),
                base_branch: pr.base_branch,
                head_branch: pr.head_branch,
                head_repository: pr.head_repository,
                draft: pr.draft,
                title: pr.title,
            }),
        };
        let original = serde_json::to_value(&event).map_err(|err| TriggerError::Detail {
            path: "(the approved pull request)".into(),
            message: err.to_string(),
        })?;
        let facts = self.read_change(&event, true, deadline).await?;
        let known = facts.known(true);
        let plan = route::plan_known(&event, self.routes(), known);
        let skipped = route::skipped_reports(&event, self.routes(), known);
        self.start_plan(&event, original, event_at, (plan, skipped), deadline)
            .await
    }

    /// For each route that holds `event` back until a maintainer approves:
    /// a pending status (App mode: a check run that asks for action) under
    /// the contexts its fork target reports to.
    pub(crate) async fn announce_waiting(
        &self,
        event: &GitEvent,
        held_back: &[HeldBack],
        deadline: Instant,
    ) -> Result<(), TriggerError> {
        let Change::PullRequest(pr) = &event.change else {
            return Ok(());
        };
        let waiting: Vec<&Target> = held_back
            .iter()
            .filter(|held| matches!(held.reason, HoldReason::AwaitingApproval { .. }))
            .filter_map(|held| self.routes().routes.iter().find(|r| r.label == held.route))
            .map(|route| route.target_for(true))
            .collect();
        let note = CommitNote {
            kind: NoteKind::Waiting,
            title: "Waiting for a maintainer".into(),
            description: waiting_description(event.commit.as_str()),
            summary: format!(
                "This pull request comes from a fork, so its code is not built until someone with write access to the repository approves this commit by commenting:\n\n```\n/gantry run {}\n```\n\nA new push needs a new approval.",
                event.commit.short()
            ),
            link: Some(pull_request_link(event, pr.number)),
        };
        for target in waiting {
            self.note_on_commit(event, target, &note, deadline).await?;
        }
        Ok(())
    }
}

fn skipped(reason: String) -> Summary {
    info!(%reason, "nothing started");
    Summary::Skipped { reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_waiting_status_names_the_command_and_fits_a_status() {
        let description = waiting_description("6113728f27ae82c7b1a177c8d03f9e96e0adf246");
        assert_eq!(
            description,
            "Waiting for a maintainer: comment /gantry run 6113728"
        );
        assert!(description.chars().count() <= gantry_core::github::MAX_DESCRIPTION_CHARS);
    }
}
