//! What a check run shows beyond its status: the conclusion and a markdown
//! summary a reviewer reads without AWS access (the build's phases, or the
//! execution's actions, each with its state and duration; the failing
//! action's message), and the check-run request built from a `Post`.

use super::duration::human;
use super::snapshot::{ActionSnapshot, BuildSnapshot, CheckReport, ExecutionSnapshot, Post};
use aws_sdk_codebuild::types::StatusType;
use aws_sdk_codepipeline::types::{
    ActionExecutionStatus, PipelineExecutionStatus, StageExecutionStatus,
};
use gantry_core::contract::RunOrigin;
use gantry_core::github::{
    Annotation, CheckAction, CheckConclusion, CheckOutput, CheckRun, CheckStatus,
};

/// A build's conclusion (`None`: still running), by the settled status.
pub fn build_conclusion(status: &StatusType) -> Option<CheckConclusion> {
    Some(match status {
        StatusType::InProgress => return None,
        StatusType::Succeeded => CheckConclusion::Success,
        StatusType::TimedOut => CheckConclusion::TimedOut,
        StatusType::Stopped => CheckConclusion::Cancelled,
        // FAILED, FAULT (CodeBuild's own error) and any state not known yet.
        _ => CheckConclusion::Failure,
    })
}

pub fn execution_conclusion(status: &PipelineExecutionStatus) -> Option<CheckConclusion> {
    Some(match status {
        PipelineExecutionStatus::InProgress | PipelineExecutionStatus::Stopping => return None,
        PipelineExecutionStatus::Succeeded => CheckConclusion::Success,
        // Each with its own title, from the status description.
        PipelineExecutionStatus::Stopped
        | PipelineExecutionStatus::Superseded
        | PipelineExecutionStatus::Cancelled => CheckConclusion::Cancelled,
        _ => CheckConclusion::Failure,
    })
}

/// A running execution or stage whose latest action is a manual approval
/// still waiting: its run concludes `action_required`, named by that action.
/// When the approval is given, the execution runs on: a new attempt, a new run.
pub fn waiting_approval<'a>(actions: &[&'a ActionSnapshot]) -> Option<&'a ActionSnapshot> {
    actions
        .iter()
        .copied()
        .find(|action| action.approval && action.status == ActionExecutionStatus::InProgress)
}

/// Marks `report` as waiting on `approval`.
pub fn waits_on(report: &mut CheckReport, approval: &ActionSnapshot) {
    report.conclusion = Some(CheckConclusion::ActionRequired);
    report.title = Some(format!(
        "Waiting for a manual approval: {} in stage {}",
        approval.action, approval.stage
    ));
}

pub fn stage_conclusion(status: &StageExecutionStatus) -> Option<CheckConclusion> {
    Some(match status {
        StageExecutionStatus::InProgress | StageExecutionStatus::Stopping => return None,
        StageExecutionStatus::Succeeded => CheckConclusion::Success,
        StageExecutionStatus::Stopped | StageExecutionStatus::Cancelled => {
            CheckConclusion::Cancelled
        }
        _ => CheckConclusion::Failure,
    })
}

pub fn for_build(build: &BuildSnapshot, status: &StatusType, description: &str) -> CheckReport {
    let mut summary = format!("**{}**\n\n", cell(description));
    if build.phases.is_empty() {
        summary.push_str("CodeBuild reports no phases yet.\n");
    } else {
        summary.push_str("| Phase | Status | Duration |\n|---|---|---|\n");
        // COMPLETED is CodeBuild's end marker: it has no status or duration.
        for phase in build.phases.iter().filter(|p| p.phase != "COMPLETED") {
            summary.push_str(&format!(
                "| {} | {} | {} |\n",
                cell(&phase.phase),
                phase
                    .status
                    .as_ref()
                    .map_or("running", |status| status.as_str()),
                phase.duration.map(human).unwrap_or_default(),
            ));
        }
    }
    summary.push_str(&format!(
        "\nProject `{}`, build `{}`.\n",
        cell(&build.project),
        cell(&build.id)
    ));
    CheckReport {
        run: build.id.clone(),
        target: format!("project/{}", build.project),
        delivery: delivery_of(&build.environment),
        reruns: false,
        title: None,
        conclusion: build_conclusion(status),
        summary,
        annotations: Vec::new(),
        text: None,
    }
}

/// `actions`: the latest attempt of each started action, of the whole
/// execution or (for a stage's run) of that stage; `None`: not read.
pub fn for_execution(
    execution: &ExecutionSnapshot,
    conclusion: Option<CheckConclusion>,
    actions: Option<&[&ActionSnapshot]>,
    description: &str,
) -> CheckReport {
    let mut summary = format!("**{}**\n\n", cell(description));
    match actions {
        None => summary.push_str("The execution's actions could not be read.\n"),
        Some([]) => summary.push_str("No action has started yet.\n"),
        Some(actions) => {
            summary.push_str("| Stage | Action | Status | Duration |\n|---|---|---|---|\n");
            for action in actions {
                summary.push_str(&format!(
                    "| {} | {} | {} | {} |\n",
                    cell(&action.stage),
                    cell(&action.action),
                    action.status.as_str(),
                    action.duration.map(human).unwrap_or_default(),
                ));
            }
            for failed in actions
                .iter()
                .filter(|a| a.status == ActionExecutionStatus::Failed)
            {
                if let Some(message) = failed.summary.as_deref().filter(|s| !s.is_empty()) {
                    summary.push_str(&format!(
                        "\n**{} / {}** failed:\n\n```\n{}\n```\n",
                        cell(&failed.stage),
                        cell(&failed.action),
                        message.replace("```", "'''")
                    ));
                }
            }
        }
    }
    summary.push_str(&format!(
        "\nPipeline `{}`, execution `{}`.\n",
        cell(&execution.pipeline),
        cell(&execution.execution_id)
    ));
    CheckReport {
        run: execution.execution_id.clone(),
        target: format!("pipeline/{}", execution.pipeline),
        delivery: delivery_of(&execution.variables),
        reruns: true,
        title: None,
        conclusion,
        summary,
        annotations: Vec::new(),
        text: None,
    }
}

/// The check-run request for `post`: the status's context is the run's name
/// (so branch protection's required checks carry over from statuses), its
/// description the title, its link the details; cut to GitHub's limits. The
/// annotations past GitHub's 50 per request are returned, for later updates.
pub fn check_run(post: &Post) -> (CheckRun, Vec<Annotation>) {
    // Where the run came from, for GitHub's buttons to act on; a build or
    // execution Gantry did not start has no buttons of Gantry's.
    let origin = post.check.delivery.as_ref().map(|delivery| RunOrigin {
        delivery: delivery.clone(),
        target: post.check.target.clone(),
        run: post.check.run.clone(),
    });
    let actions = match (&origin, post.check.conclusion) {
        (Some(_), None) => vec![CheckAction {
            label: "Stop".into(),
            description: if post.check.target.starts_with("project/") {
                "Stop this build".into()
            } else {
                "Stop this pipeline execution".into()
            },
            identifier: STOP_ACTION.into(),
        }],
        // A failed execution or stage can be retried where it failed; a
        // build cannot be retried, only re-run.
        (Some(_), Some(CheckConclusion::Failure)) if post.check.reruns => vec![CheckAction {
            label: "Retry failed actions".into(),
            description: "Retry what failed in the failed stage".into(),
            identifier: RETRY_FAILED_ACTION.into(),
        }],
        _ => Vec::new(),
    };
    CheckRun {
        name: post.status.context.clone(),
        status: match post.check.conclusion {
            Some(_) => CheckStatus::Completed,
            None => CheckStatus::InProgress,
        },
        conclusion: post.check.conclusion,
        started_at: None,
        completed_at: None,
        details_url: post.status.target_url.clone(),
        external_id: Some(
            origin
                .as_ref()
                .map_or_else(|| post.check.run.clone(), RunOrigin::to_external_id),
        ),
        output: CheckOutput {
            title: post
                .check
                .title
                .clone()
                .unwrap_or_else(|| post.status.description.clone()),
            summary: post.check.summary.clone(),
            text: post.check.text.clone(),
            annotations: post.check.annotations.clone(),
        },
        actions,
    }
    .within_limits()
}

/// The identifier of the "Stop" button; `trigger` acts on it.
pub const STOP_ACTION: &str = "stop";
/// The identifier of a failed execution's "Retry failed actions" button;
/// `trigger` retries the failed stage's failed actions.
pub const RETRY_FAILED_ACTION: &str = "retry_failed";

fn delivery_of(variables: &[(String, String)]) -> Option<String> {
    variables
        .iter()
        .find(|(name, _)| name == "GANTRY_DELIVERY_ID")
        .map(|(_, value)| value.clone())
        .filter(|value| !value.is_empty())
}

/// Text that stays inside one markdown table cell.
pub(super) fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\r', '\n'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::fixtures::*;
    use crate::mapping::for_pipeline;
    use gantry_core::github::CheckConclusion;

    #[test]
    fn conclusions_follow_the_build_and_execution_states() {
        let builds = [
            (StatusType::InProgress, None),
            (StatusType::Succeeded, Some(CheckConclusion::Success)),
            (StatusType::Failed, Some(CheckConclusion::Failure)),
            (StatusType::Fault, Some(CheckConclusion::Failure)),
            (StatusType::TimedOut, Some(CheckConclusion::TimedOut)),
            (StatusType::Stopped, Some(CheckConclusion::Cancelled)),
        ];
        for (status, conclusion) in builds {
            assert_eq!(build_conclusion(&status), conclusion, "{status:?}");
        }
        let executions = [
            ("InProgress", None),
            ("Stopping", None),
            ("Succeeded", Some(CheckConclusion::Success)),
            ("Failed", Some(CheckConclusion::Failure)),
            ("Stopped", Some(CheckConclusion::Cancelled)),
            ("Superseded", Some(CheckConclusion::Cancelled)),
            ("Cancelled", Some(CheckConclusion::Cancelled)),
        ];
        for (status, conclusion) in executions {
            assert_eq!(
                execution_conclusion(&PipelineExecutionStatus::from(status)),
                conclusion,
                "{status}"
            );
        }
    }

    #[test]
    fn a_failed_builds_summary_lists_its_phases_with_state_and_duration() {
        let build = with_failed_phase(documented_build(1), StatusType::Failed, "BUILD");
        let report = for_build(
            &build,
            &StatusType::Failed,
            "Build failed in phase BUILD after 1m 14s",
        );
        assert_eq!(report.conclusion, Some(CheckConclusion::Failure));
        assert!(!report.reruns);
        assert!(
            report.summary.starts_with(
                "**Build failed in phase BUILD after 1m 14s**\n\n| Phase | Status | Duration |\n"
            ),
            "{}",
            report.summary
        );
        assert!(
            report.summary.contains("| BUILD | FAILED |"),
            "{}",
            report.summary
        );
        assert!(report.summary.contains(&build.id));
    }

    #[test]
    fn a_failed_executions_summary_names_the_failing_action_and_its_message() {
        let failed = ActionSnapshot {
            stage: "Build".into(),
            action: "Unit|tests".into(),
            status: ActionExecutionStatus::Failed,
            summary: Some("3 tests failed\nsee the report".into()),
            duration: Some(std::time::Duration::from_secs(125)),
            started_at: Some(1),
            approval: false,
            build_id: None,
        };
        let source = ActionSnapshot {
            stage: "Source".into(),
            action: "Source".into(),
            status: ActionExecutionStatus::Succeeded,
            summary: None,
            duration: Some(std::time::Duration::from_secs(4)),
            started_at: Some(0),
            approval: false,
            build_id: None,
        };
        let actions = [source, failed];
        let post = posted(for_pipeline(
            &execution("Failed"),
            Some(&actions),
            "gantry/app".into(),
            &origin(),
        ));
        assert_eq!(post.check.conclusion, Some(CheckConclusion::Failure));
        assert!(post.check.reruns);
        let summary = &post.check.summary;
        assert!(
            summary.contains("| Build | Unit\\|tests | Failed | 2m 5s |"),
            "{summary}"
        );
        assert!(
            summary.contains("| Source | Source | Succeeded | 4s |"),
            "{summary}"
        );
        assert!(
            summary.contains(
                "**Build / Unit\\|tests** failed:\n\n```\n3 tests failed\nsee the report\n```"
            ),
            "{summary}"
        );

        let (run, _) = check_run(&post);
        assert_eq!(run.name, "gantry/app");
        assert_eq!(run.status, CheckStatus::Completed);
        assert_eq!(run.output.title, post.status.description);
        assert_eq!(run.details_url, post.status.target_url);
        // Not started by Gantry (no GANTRY_DELIVERY_ID): no origin, no buttons.
        assert_eq!(run.external_id.as_deref(), Some(post.check.run.as_str()));
        assert!(run.actions.is_empty());
    }

    #[test]
    fn a_run_gantry_started_names_its_origin_and_offers_stop_while_it_runs() {
        let mut running = execution("InProgress");
        running.variables.push((
            "GANTRY_DELIVERY_ID".into(),
            "72d3162e-cc78-11e3-81ab-4c9367dc0958".into(),
        ));
        let post = posted(for_pipeline(&running, None, "gantry/app".into(), &origin()));
        let (run, _) = check_run(&post);
        let run_origin = RunOrigin::parse(run.external_id.as_deref().unwrap()).unwrap();
        assert_eq!(run_origin.delivery, "72d3162e-cc78-11e3-81ab-4c9367dc0958");
        assert_eq!(run_origin.target, "pipeline/myPipeline");
        assert_eq!(run_origin.run, running.execution_id);
        assert_eq!(run.actions.len(), 1);
        assert_eq!(run.actions[0].identifier, STOP_ACTION);
        assert_eq!(run.actions[0].label, "Stop");

        let mut finished = running.clone();
        finished.status = "Succeeded".into();
        let post = posted(for_pipeline(
            &finished,
            None,
            "gantry/app".into(),
            &origin(),
        ));
        assert!(
            check_run(&post).0.actions.is_empty(),
            "a finished run has nothing to stop"
        );

        // Failed: its failed actions can be retried where they failed.
        let mut failed = running.clone();
        failed.status = "Failed".into();
        let (run, _) = check_run(&posted(for_pipeline(
            &failed,
            None,
            "gantry/app".into(),
            &origin(),
        )));
        assert_eq!(run.actions.len(), 1);
        assert_eq!(run.actions[0].identifier, RETRY_FAILED_ACTION);
        assert_eq!(run.actions[0].label, "Retry failed actions");
        // Within GitHub's limits, so nothing is cut.
        assert!(
            run.actions[0].label.chars().count() <= gantry_core::github::MAX_ACTION_LABEL_CHARS
        );
        assert!(
            run.actions[0].description.chars().count()
                <= gantry_core::github::MAX_ACTION_DESCRIPTION_CHARS
        );
    }

    #[test]
    fn a_pipeline_waiting_on_a_manual_approval_asks_for_action_and_runs_on_as_a_new_attempt() {
        let approval = ActionSnapshot {
            stage: "Release".into(),
            action: "ApproveProduction".into(),
            status: ActionExecutionStatus::InProgress,
            summary: None,
            duration: None,
            started_at: Some(10),
            approval: true,
            build_id: None,
        };
        let waiting = [approval.clone()];
        let post = posted(for_pipeline(
            &execution("InProgress"),
            Some(&waiting),
            "gantry/app".into(),
            &origin(),
        ));
        assert_eq!(post.check.conclusion, Some(CheckConclusion::ActionRequired));
        let (run, _) = check_run(&post);
        assert_eq!(run.status, CheckStatus::Completed);
        assert_eq!(
            run.output.title,
            "Waiting for a manual approval: ApproveProduction in stage Release"
        );
        // The commit status is still pending: the pipeline has not finished.
        assert_eq!(post.status.state, gantry_core::github::StatusState::Pending);

        // Approved: the execution runs on, its run has no conclusion again
        // (the ledger makes that a new attempt, as the step table shows).
        let approved = [ActionSnapshot {
            status: ActionExecutionStatus::Succeeded,
            ..approval
        }];
        let post = posted(for_pipeline(
            &execution("InProgress"),
            Some(&approved),
            "gantry/app".into(),
            &origin(),
        ));
        assert_eq!(post.check.conclusion, None);
        assert_eq!(post.check.title, None);
    }

    #[test]
    fn a_running_execution_is_an_in_progress_run_without_a_conclusion() {
        let post = posted(for_pipeline(
            &execution("InProgress"),
            None,
            "gantry/app".into(),
            &origin(),
        ));
        let (run, _) = check_run(&post);
        assert_eq!(run.status, CheckStatus::InProgress);
        assert_eq!(run.conclusion, None);
        assert!(run.output.summary.contains("could not be read"));
    }
}
