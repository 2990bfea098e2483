//! A CodePipeline execution's commit status, for the whole execution or per stage.

use super::duration::human;
use super::links::execution_console_url;
use super::snapshot::{ActionSnapshot, Decision, ExecutionSnapshot, Post};
use super::source::execution_commit;
use crate::event::{self, Origin, StageChange};
use aws_sdk_codepipeline::types::{
    ActionExecutionStatus, PipelineExecutionStatus, StageExecutionStatus,
};
use gantry_core::github::{CommitStatus, StatusState};

pub fn for_pipeline(
    execution: &ExecutionSnapshot,
    actions: Option<&[ActionSnapshot]>,
    context: String,
    origin: &Origin,
) -> Decision {
    let Some((repository, commit)) = execution_commit(execution) else {
        return Decision::Ignore("the execution names no GitHub repository and commit".into());
    };
    let failed = actions.and_then(|actions| {
        actions
            .iter()
            .find(|a| a.status == ActionExecutionStatus::Failed)
    });
    let (state, description) = match &execution.status {
        PipelineExecutionStatus::InProgress => (StatusState::Pending, running(actions)),
        PipelineExecutionStatus::Stopping => (StatusState::Pending, "Pipeline stopping".to_owned()),
        PipelineExecutionStatus::Succeeded => {
            (StatusState::Success, "Pipeline succeeded".to_owned())
        }
        PipelineExecutionStatus::Failed => (
            StatusState::Failure,
            match failed {
                Some(action) => format!(
                    "Pipeline failed in stage {}{}",
                    action.stage,
                    action_detail(action)
                ),
                None => "Pipeline failed".to_owned(),
            },
        ),
        PipelineExecutionStatus::Stopped => (StatusState::Error, "Pipeline stopped".to_owned()),
        PipelineExecutionStatus::Superseded => (
            StatusState::Error,
            "Superseded by a newer execution".to_owned(),
        ),
        PipelineExecutionStatus::Cancelled => (
            StatusState::Error,
            "Pipeline execution cancelled".to_owned(),
        ),
        other => (
            StatusState::Error,
            format!("Pipeline ended in state {}", other.as_str()),
        ),
    };
    Decision::Post(Post {
        repository,
        commit,
        status: CommitStatus::new(
            state,
            context,
            &description,
            Some(execution_console_url(execution, origin)),
        ),
    })
}

/// One status per stage. The stage's state comes from its actions' current
/// state where CodePipeline reports them; otherwise from the event, except that
/// a not-yet-finished stage event for an execution that has finished is stale.
pub fn for_stage(
    change: &StageChange,
    execution: &ExecutionSnapshot,
    actions: Option<&[ActionSnapshot]>,
    context: String,
    origin: &Origin,
) -> Decision {
    let Some((repository, commit)) = execution_commit(execution) else {
        return Decision::Ignore("the execution names no GitHub repository and commit".into());
    };
    let stage = change.stage.as_str();
    let stage_actions: Vec<&ActionSnapshot> = actions
        .into_iter()
        .flatten()
        .filter(|a| a.stage == stage)
        .collect();
    let any = |status: ActionExecutionStatus| stage_actions.iter().any(|a| a.status == status);
    let event_status = event::stage_status(&change.state);
    let current = if stage_actions.is_empty() {
        let finished = !matches!(
            execution.status,
            PipelineExecutionStatus::InProgress | PipelineExecutionStatus::Stopping
        );
        let unfinished_event = matches!(
            event_status,
            StageExecutionStatus::InProgress | StageExecutionStatus::Stopping
        );
        if finished && unfinished_event {
            return Decision::Ignore(format!(
                "stale {} event for stage {stage}: the execution is already {}",
                change.state,
                execution.status.as_str()
            ));
        }
        if actions.is_none() && unfinished_event {
            // The stage may have finished since this event was sent; without its
            // actions that cannot be ruled out, and its finishing event follows.
            return Decision::Ignore(format!(
                "{} event for stage {stage} not confirmed: its actions could not be read",
                change.state
            ));
        }
        event_status
    } else if any(ActionExecutionStatus::Failed) {
        StageExecutionStatus::Failed
    } else if any(ActionExecutionStatus::InProgress) {
        // A stage's finished event is final; actions that still read as running
        // lag it, and no later event would correct a pending.
        match event_status {
            finished @ (StageExecutionStatus::Succeeded
            | StageExecutionStatus::Failed
            | StageExecutionStatus::Stopped
            | StageExecutionStatus::Cancelled) => finished,
            _ => StageExecutionStatus::InProgress,
        }
    } else if stage_actions
        .iter()
        .all(|a| a.status == ActionExecutionStatus::Succeeded)
    {
        StageExecutionStatus::Succeeded
    } else {
        StageExecutionStatus::Stopped
    };
    let failed = stage_actions
        .iter()
        .find(|a| a.status == ActionExecutionStatus::Failed);
    let (state, description) = match current {
        StageExecutionStatus::InProgress => {
            (StatusState::Pending, format!("Stage {stage} running"))
        }
        StageExecutionStatus::Stopping => (StatusState::Pending, format!("Stage {stage} stopping")),
        StageExecutionStatus::Succeeded => {
            (StatusState::Success, format!("Stage {stage} succeeded"))
        }
        StageExecutionStatus::Failed => (
            StatusState::Failure,
            format!(
                "Stage {stage} failed{}",
                failed.map(|a| action_detail(a)).unwrap_or_default()
            ),
        ),
        StageExecutionStatus::Cancelled => (StatusState::Error, format!("Stage {stage} cancelled")),
        _ => (StatusState::Error, format!("Stage {stage} stopped")),
    };
    Decision::Post(Post {
        repository,
        commit,
        status: CommitStatus::new(
            state,
            format!("{context}/{stage}"),
            &description,
            Some(execution_console_url(execution, origin)),
        ),
    })
}

fn running(actions: Option<&[ActionSnapshot]>) -> String {
    let running = actions.and_then(|actions| {
        actions
            .iter()
            .find(|a| a.status == ActionExecutionStatus::InProgress)
    });
    match running {
        Some(action) => format!("Pipeline running (stage {})", action.stage),
        None => "Pipeline running".to_owned(),
    }
}

fn action_detail(action: &ActionSnapshot) -> String {
    let mut text = format!(", action {}", action.action);
    if let Some(duration) = action.duration {
        text.push_str(&format!(" after {}", human(duration)));
    }
    if let Some(summary) = action.summary.as_deref().filter(|s| !s.is_empty()) {
        text.push_str(": ");
        text.push_str(summary);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::fixtures::*;

    #[test]
    fn pipeline_state_table() {
        let failed = documented_actions("Failed");
        let running = documented_actions("InProgress");
        let cases: [(&str, Option<&[ActionSnapshot]>, StatusState, &str); 8] = [
            (
                "InProgress",
                Some(&running),
                StatusState::Pending,
                "Pipeline running (stage Deploy)",
            ),
            ("InProgress", None, StatusState::Pending, "Pipeline running"),
            ("Stopping", None, StatusState::Pending, "Pipeline stopping"),
            (
                "Succeeded",
                None,
                StatusState::Success,
                "Pipeline succeeded",
            ),
            (
                "Failed",
                Some(&failed),
                StatusState::Failure,
                "Pipeline failed in stage Deploy, action Deploy after 32s: Deployment Succeeded",
            ),
            ("Stopped", None, StatusState::Error, "Pipeline stopped"),
            (
                "Superseded",
                None,
                StatusState::Error,
                "Superseded by a newer execution",
            ),
            (
                "Cancelled",
                None,
                StatusState::Error,
                "Pipeline execution cancelled",
            ),
        ];
        for (status, actions, state, description) in cases {
            let post = posted(for_pipeline(
                &execution(status),
                actions,
                "gantry/myPipeline".into(),
                &origin(),
            ));
            assert_eq!(
                (post.status.state, post.status.description.as_str()),
                (state, description),
                "{status}"
            );
            assert_eq!(post.commit.as_str(), SHA);
            assert_eq!(
                post.status.target_url.as_deref(),
                Some("https://us-west-2.console.aws.amazon.com/codesuite/codepipeline/pipelines/myPipeline/executions/12345678-1234-5678-abcd-12345678abcd/timeline?region=us-west-2")
            );
        }
    }

    #[test]
    fn late_stage_events_never_turn_a_finished_stage_back_to_pending() {
        // The stage's actions say it succeeded, whatever the late event says.
        let done = documented_actions("Succeeded");
        let post = posted(for_stage(
            &stage("STARTED"),
            &execution("InProgress"),
            Some(&done),
            "ci".into(),
            &origin(),
        ));
        assert_eq!(
            (post.status.state, post.status.context.as_str()),
            (StatusState::Success, "ci/Deploy")
        );
        // Without action details, a late start for a finished execution is dropped.
        assert!(matches!(
            for_stage(&stage("STARTED"), &execution("Succeeded"), None, "ci".into(), &origin()),
            Decision::Ignore(reason) if reason.contains("stale")
        ));
        let failed = documented_actions("Failed");
        let post = posted(for_stage(
            &stage("FAILED"),
            &execution("Failed"),
            Some(&failed),
            "ci".into(),
            &origin(),
        ));
        assert_eq!(post.status.state, StatusState::Failure);
        assert_eq!(
            post.status.description,
            "Stage Deploy failed, action Deploy after 32s: Deployment Succeeded"
        );
        let post = posted(for_stage(
            &stage("STOPPED"),
            &execution("Stopped"),
            None,
            "ci".into(),
            &origin(),
        ));
        assert_eq!(
            (post.status.state, post.status.description.as_str()),
            (StatusState::Error, "Stage Deploy stopped")
        );
    }

    #[test]
    fn a_finished_stage_event_wins_over_actions_that_lag_it() {
        let running = documented_actions("InProgress");
        let post = posted(for_stage(
            &stage("SUCCEEDED"),
            &execution("InProgress"),
            Some(&running),
            "ci".into(),
            &origin(),
        ));
        assert_eq!(post.status.state, StatusState::Success);
        let post = posted(for_stage(
            &stage("STARTED"),
            &execution("InProgress"),
            Some(&running),
            "ci".into(),
            &origin(),
        ));
        assert_eq!(post.status.state, StatusState::Pending);
    }

    #[test]
    fn an_unconfirmed_stage_start_is_not_posted() {
        // The execution still runs, but without its actions a STARTED event may
        // be older than the stage's end: posting pending could undo a result.
        assert!(matches!(
            for_stage(&stage("STARTED"), &execution("InProgress"), None, "ci".into(), &origin()),
            Decision::Ignore(reason) if reason.contains("not confirmed")
        ));
        // Known actions, none of this stage yet: it has just started.
        let post = posted(for_stage(
            &stage("STARTED"),
            &execution("InProgress"),
            Some(&[]),
            "ci".into(),
            &origin(),
        ));
        assert_eq!(
            (post.status.state, post.status.description.as_str()),
            (StatusState::Pending, "Stage Deploy running")
        );
    }
}
