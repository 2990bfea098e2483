//! What `trigger` says on a commit in place of a build's own status: that a
//! fork's pull request waits for a maintainer, or that a build was skipped
//! (its paths, or `[skip ci]`, on a route with `report_skipped`). It is said
//! under every context the target's own results are posted under
//! (`GANTRY_STATUS_CONFIG`: the pipeline's or project's, or with
//! `per_stage` each stage's), so a required check neither hangs nor passes
//! by mistake: the build's own status replaces a waiting one, and a skipped
//! one stands in for a build that never comes.

use crate::config::Target;
use crate::handler::{Trigger, TriggerError};
use crate::route::SkipReport;
use crate::start::Starter;
use gantry_core::aws::ServiceError;
use gantry_core::contract::{Change, GitEvent};
use gantry_core::deadline::aws_call;
use gantry_core::github::{
    CheckConclusion, CheckOutput, CheckRun, CheckStatus, CommitStatus, StatusState,
};
use gantry_core::status_config::StatusConfig;
use tokio::time::Instant;
use tracing::info;

/// What the note says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitNote {
    pub kind: NoteKind,
    /// The check run's title.
    pub title: String,
    /// The commit status's description (at most 140 characters).
    pub description: String,
    /// The check run's summary (markdown).
    pub summary: String,
    pub link: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoteKind {
    /// Pending status; a check run that asks for action.
    Waiting,
    /// Successful status; a check run concluded `skipped`.
    Skipped,
}

#[derive(Debug, thiserror::Error)]
#[error("GetPipeline for {pipeline} failed (its stages' contexts)")]
pub struct DeclarationError {
    pipeline: String,
    #[source]
    source: ServiceError<aws_sdk_codepipeline::Error>,
}

impl DeclarationError {
    pub fn is_transient(&self) -> bool {
        self.source.is_transient()
    }
}

/// Pure: the contexts `target`'s results are posted under; `stages`, the
/// pipeline's declared stages, where its statuses are per stage.
pub fn contexts(statuses: &StatusConfig, target: &Target, stages: &[String]) -> Vec<String> {
    match target {
        Target::Pipeline { name, .. } => match statuses.pipeline(name) {
            Some((context, true)) => stages
                .iter()
                .map(|stage| format!("{context}/{stage}"))
                .collect(),
            Some((context, false)) => vec![context],
            None => Vec::new(),
        },
        Target::BuildProject { name } => statuses.project(name).into_iter().collect(),
    }
}

impl Starter {
    /// The stages `pipeline` declares now, in order.
    pub async fn declared_stages(
        &self,
        pipeline: &str,
        deadline: Instant,
    ) -> Result<Vec<String>, DeclarationError> {
        let call = self.pipelines().get_pipeline().name(pipeline).send();
        let output = aws_call(deadline, call)
            .await
            .map_err(|err| DeclarationError {
                pipeline: pipeline.to_owned(),
                source: ServiceError::from_sdk(err),
            })?;
        Ok(output
            .pipeline
            .map(|declaration| {
                declaration
                    .stages
                    .into_iter()
                    .map(|stage| stage.name)
                    .collect()
            })
            .unwrap_or_default())
    }
}

impl Trigger {
    /// Says `note` on `event`'s commit under `target`'s contexts; nothing
    /// without GitHub access or where no status is posted for the target.
    pub(crate) async fn note_on_commit(
        &self,
        event: &GitEvent,
        target: &Target,
        note: &CommitNote,
        deadline: Instant,
    ) -> Result<(), TriggerError> {
        let Some(github) = self.github() else {
            info!(target = %target.ledger_key(), "no GitHub credential: nothing said on the commit");
            return Ok(());
        };
        let per_stage = match target {
            Target::Pipeline { name, .. } => github
                .statuses
                .pipeline(name)
                .is_some_and(|(_, per_stage)| per_stage),
            Target::BuildProject { .. } => false,
        };
        let stages = match (per_stage, target) {
            (true, Target::Pipeline { name, .. }) => {
                self.starter().declared_stages(name, deadline).await?
            }
            _ => Vec::new(),
        };
        let contexts = contexts(&github.statuses, target, &stages);
        if contexts.is_empty() {
            info!(target = %target.ledger_key(), "no status is posted for this target: nothing said on the commit");
        }
        for context in contexts {
            if github.client.is_app() {
                let (status, conclusion) = match note.kind {
                    NoteKind::Waiting => (CheckStatus::Completed, CheckConclusion::ActionRequired),
                    NoteKind::Skipped => (CheckStatus::Completed, CheckConclusion::Skipped),
                };
                let (run, _) = CheckRun {
                    name: context,
                    status,
                    conclusion: Some(conclusion),
                    started_at: None,
                    completed_at: None,
                    details_url: note.link.clone(),
                    external_id: None,
                    output: CheckOutput {
                        title: note.title.clone(),
                        summary: note.summary.clone(),
                        text: None,
                        annotations: Vec::new(),
                    },
                    actions: Vec::new(),
                }
                .within_limits();
                github
                    .client
                    .create_check_run(&event.repository, &event.commit, &run, deadline)
                    .await?;
            } else {
                let state = match note.kind {
                    NoteKind::Waiting => StatusState::Pending,
                    NoteKind::Skipped => StatusState::Success,
                };
                let status =
                    CommitStatus::new(state, context, &note.description, note.link.clone());
                github
                    .client
                    .create_status(&event.repository, &event.commit, &status, deadline)
                    .await?;
            }
        }
        info!(target = %target.ledger_key(), kind = ?note.kind, "said on the commit");
        Ok(())
    }

    /// For each target a route skipped and reports (`report_skipped`): a
    /// passing status (App mode: a check run concluded `skipped`), titled
    /// with the reason.
    pub(crate) async fn report_skipped(
        &self,
        event: &GitEvent,
        skipped: &[SkipReport],
        deadline: Instant,
    ) -> Result<(), TriggerError> {
        let link = match &event.change {
            Change::PullRequest(pr) => Some(pull_request_link(event, pr.number)),
            _ => None,
        };
        for report in skipped {
            let note = CommitNote {
                kind: NoteKind::Skipped,
                title: format!("Skipped: {}", report.reason),
                description: format!("Skipped: {}", report.reason),
                summary: format!(
                    "{} was not started for this commit: {} ({}, `report_skipped`).",
                    report.target.ledger_key(),
                    report.reason,
                    report.route
                ),
                link: link.clone(),
            };
            self.note_on_commit(event, &report.target, &note, deadline)
                .await?;
        }
        Ok(())
    }
}

/// Where a note on a pull request's commit links to: the pull request.
pub fn pull_request_link(event: &GitEvent, number: u64) -> String {
    format!("{}/pull/{number}", event.clone_url.trim_end_matches(".git"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_go_under_the_contexts_the_targets_results_are_posted_under() {
        let statuses = StatusConfig::parse(
            r#"{"pipelines": {"app": {"context": "ci/app", "per_stage": true}, "docs": {}},
                "projects": {"lint": {"context": "ci/lint"}}, "listed_only": true}"#,
        )
        .unwrap();
        let pipeline = |name: &str| Target::Pipeline {
            name: name.into(),
            source_action: "Source".into(),
            variables: true,
        };
        let project = |name: &str| Target::BuildProject { name: name.into() };
        let stages = vec!["Source".to_owned(), "Build".to_owned()];
        assert_eq!(
            contexts(&statuses, &pipeline("app"), &stages),
            ["ci/app/Source", "ci/app/Build"]
        );
        assert_eq!(
            contexts(&statuses, &pipeline("docs"), &stages),
            ["gantry/docs"]
        );
        assert_eq!(contexts(&statuses, &project("lint"), &[]), ["ci/lint"]);
        // Listed only: nothing is posted for the others, so nothing is said.
        assert!(contexts(&statuses, &project("other"), &[]).is_empty());
    }
}
