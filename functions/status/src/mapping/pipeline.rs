//! A CodePipeline execution's commit status, for the whole execution or per stage.

use super::duration::human;
use super::links::execution_console_url;
use super::report;
use super::snapshot::{ActionSnapshot, Decision, DeclaredStage, ExecutionSnapshot, Post};
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
    let listed: Option<Vec<&ActionSnapshot>> = actions.map(|actions| actions.iter().collect());
    let mut check = report::for_execution(
        execution,
        report::execution_conclusion(&execution.status),
        listed.as_deref(),
        &description,
    );
    if execution.status == PipelineExecutionStatus::InProgress {
        if let Some(approval) = listed.as_deref().and_then(report::waiting_approval) {
            report::waits_on(&mut check, approval);
        }
    }
    Decision::Post(Post {
        repository,
        commit,
        check: Box::new(check),
        status: CommitStatus::new(
            state,
            context,
            &description,
            Some(execution_console_url(execution, origin)),
        ),
    })
}

/// A stopped execution's decision, with the reason it was stopped
/// (`Superseded by 6113728` when Gantry stopped it for a newer commit) in
/// its description and title.
pub fn with_stop_reason(decision: Decision, reason: &str) -> Decision {
    decision.described_as(|_| format!("Pipeline stopped: {}", reason.trim()))
}

/// One status per stage. The stage's state comes from its actions' current
/// state where CodePipeline reports them; otherwise from the event, except that
/// a not-yet-finished stage event for an execution that has finished is stale.
///
/// `ListActionExecutions` lists only actions that have started, so actions
/// that all succeeded make the stage succeeded only when they are every action
/// the stage declares (`declared`, `None` when it could not be read): between
/// two run orders the stage still runs.
pub fn for_stage(
    change: &StageChange,
    execution: &ExecutionSnapshot,
    actions: Option<&[ActionSnapshot]>,
    declared: Option<&[DeclaredStage]>,
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
    let declared = match declared {
        Some(stages) => match stages.iter().find(|s| s.stage == stage) {
            Some(declaration) => Ok(declaration.actions.as_slice()),
            None => Err(format!(
                "pipeline version {} declares no stage {stage}",
                execution
                    .pipeline_version
                    .map_or_else(|| "?".to_owned(), |v| v.to_string())
            )),
        },
        None => Err("its declared actions could not be read".to_owned()),
    };
    let current = match stage_state(
        change,
        execution,
        &stage_actions,
        actions.is_some(),
        declared,
    ) {
        Ok(current) => current,
        Err(reason) => return Decision::Ignore(reason),
    };
    let failed = stage_actions
        .iter()
        .find(|a| a.status == ActionExecutionStatus::Failed);
    let conclusion = report::stage_conclusion(&current);
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
    // A stage's run is its own: keyed by execution and stage.
    let mut check = report::for_execution(
        execution,
        conclusion,
        actions.is_some().then_some(stage_actions.as_slice()),
        &description,
    );
    check.run = format!("{}/{stage}", execution.execution_id);
    if check.conclusion.is_none() {
        if let Some(approval) = report::waiting_approval(&stage_actions) {
            report::waits_on(&mut check, approval);
        }
    }
    Decision::Post(Post {
        repository,
        commit,
        check: Box::new(check),
        status: CommitStatus::new(
            state,
            format!("{context}/{stage}"),
            &description,
            Some(execution_console_url(execution, origin)),
        ),
    })
}

/// The stage's state, or why its event is not posted. `stage_actions`: the
/// latest attempts of the stage's started actions (`actions_read`: whether
/// they could be read at all); `declared`: the actions the stage declares, or
/// why they are not known.
fn stage_state(
    change: &StageChange,
    execution: &ExecutionSnapshot,
    stage_actions: &[&ActionSnapshot],
    actions_read: bool,
    declared: Result<&[String], String>,
) -> Result<StageExecutionStatus, String> {
    let stage = change.stage.as_str();
    let event_status = event::stage_status(&change.state);
    // The event's state, unless it says the stage runs while the execution has
    // finished (stale), or while what could not be read (`unread`) may show
    // that the stage has finished since: its finishing event follows.
    let from_event = |unread: Option<String>| {
        let finished = !matches!(
            execution.status,
            PipelineExecutionStatus::InProgress | PipelineExecutionStatus::Stopping
        );
        let unfinished_event = matches!(
            event_status,
            StageExecutionStatus::InProgress | StageExecutionStatus::Stopping
        );
        if finished && unfinished_event {
            return Err(format!(
                "stale {} event for stage {stage}: the execution is already {}",
                change.state,
                execution.status.as_str()
            ));
        }
        match unread {
            Some(unread) if unfinished_event => Err(format!(
                "{} event for stage {stage} not confirmed: {unread}",
                change.state
            )),
            _ => Ok(event_status.clone()),
        }
    };
    let any = |status: ActionExecutionStatus| stage_actions.iter().any(|a| a.status == status);

    if stage_actions.is_empty() {
        return from_event((!actions_read).then(|| "its actions could not be read".to_owned()));
    }
    if any(ActionExecutionStatus::Failed) {
        return Ok(StageExecutionStatus::Failed);
    }
    if any(ActionExecutionStatus::InProgress) {
        // A stage's finished event is final; actions that still read as running
        // lag it, and no later event would correct a pending.
        return Ok(match event_status {
            finished @ (StageExecutionStatus::Succeeded
            | StageExecutionStatus::Failed
            | StageExecutionStatus::Stopped
            | StageExecutionStatus::Cancelled) => finished,
            _ => StageExecutionStatus::InProgress,
        });
    }
    if !stage_actions
        .iter()
        .all(|a| a.status == ActionExecutionStatus::Succeeded)
    {
        return Ok(StageExecutionStatus::Stopped);
    }
    // Every started action succeeded: the stage is done only if no declared
    // action is still to start. If one is, or the declaration is unknown, the
    // event decides (CodePipeline sends the stage's SUCCEEDED only once all of
    // its actions have succeeded).
    let started = |name: &String| stage_actions.iter().any(|a| a.action == *name);
    match declared {
        Ok(names) if names.iter().all(started) => Ok(StageExecutionStatus::Succeeded),
        Ok(_) => from_event(None),
        Err(unread) => from_event(Some(unread)),
    }
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
    fn a_stop_reason_names_why_the_execution_stopped() {
        let stopped = for_pipeline(&execution("Stopped"), None, "gantry/app".into(), &origin());
        let Decision::Post(post) = with_stop_reason(stopped, " Superseded by a10867b ") else {
            panic!("a stopped execution is posted")
        };
        assert_eq!(
            post.status.description,
            "Pipeline stopped: Superseded by a10867b"
        );
        assert_eq!(post.status.state, StatusState::Error);
        assert_eq!(
            post.check.title.as_deref(),
            Some("Pipeline stopped: Superseded by a10867b")
        );
        let ignored = Decision::Ignore("not ours".into());
        assert_eq!(with_stop_reason(ignored.clone(), "x"), ignored);
    }

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
            Some(&documented_declaration()),
            "ci".into(),
            &origin(),
        ));
        assert_eq!(
            (post.status.state, post.status.context.as_str()),
            (StatusState::Success, "ci/Deploy")
        );
        // Without action details, a late start for a finished execution is dropped.
        assert!(matches!(
            for_stage(&stage("STARTED"), &execution("Succeeded"), None, None, "ci".into(), &origin()),
            Decision::Ignore(reason) if reason.contains("stale")
        ));
        let failed = documented_actions("Failed");
        let post = posted(for_stage(
            &stage("FAILED"),
            &execution("Failed"),
            Some(&failed),
            None,
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
            None,
            "ci".into(),
            &origin(),
        ));
        assert_eq!(post.status.state, StatusState::Success);
        let post = posted(for_stage(
            &stage("STARTED"),
            &execution("InProgress"),
            Some(&running),
            None,
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
            for_stage(&stage("STARTED"), &execution("InProgress"), None, None, "ci".into(), &origin()),
            Decision::Ignore(reason) if reason.contains("not confirmed")
        ));
        // Known actions, none of this stage yet: it has just started.
        let post = posted(for_stage(
            &stage("STARTED"),
            &execution("InProgress"),
            Some(&[]),
            None,
            "ci".into(),
            &origin(),
        ));
        assert_eq!(
            (post.status.state, post.status.description.as_str()),
            (StatusState::Pending, "Stage Deploy running")
        );
    }

    /// A stage of two actions, `Deploy` (run order 1) and `Verify` (run order 2):
    /// `ListActionExecutions` lists `Verify` only once it has started.
    #[test]
    fn a_stage_succeeds_only_once_every_declared_action_has() {
        let declared = vec![DeclaredStage {
            stage: "Deploy".into(),
            actions: vec!["Deploy".into(), "Verify".into()],
        }];
        let listed = |verify: Option<&str>| {
            let mut actions = documented_actions("Succeeded");
            if let Some(status) = verify {
                let mut second = actions
                    .iter()
                    .find(|a| a.stage == "Deploy")
                    .cloned()
                    .unwrap();
                second.action = "Verify".into();
                second.status = status.into();
                second.started_at = second.started_at.map(|t| t + 40);
                actions.push(second);
            }
            actions
        };
        // (stage event, Verify's status (None: not started), declaration read,
        // execution) -> posted (state, description), or ignored (part of the reason).
        type Expected = Result<(StatusState, &'static str), &'static str>;
        let cases: [(&str, Option<&str>, bool, &str, Expected); 9] = [
            (
                "STARTED",
                None,
                true,
                "InProgress",
                Ok((StatusState::Pending, "Stage Deploy running")),
            ),
            (
                "STARTED",
                Some("InProgress"),
                true,
                "InProgress",
                Ok((StatusState::Pending, "Stage Deploy running")),
            ),
            (
                "STARTED",
                Some("Succeeded"),
                true,
                "InProgress",
                Ok((StatusState::Success, "Stage Deploy succeeded")),
            ),
            (
                "SUCCEEDED",
                Some("Succeeded"),
                true,
                "Succeeded",
                Ok((StatusState::Success, "Stage Deploy succeeded")),
            ),
            // The stage's own finished event: CodePipeline sends it once every
            // action has succeeded, so a listing without Verify lags it.
            (
                "SUCCEEDED",
                None,
                true,
                "InProgress",
                Ok((StatusState::Success, "Stage Deploy succeeded")),
            ),
            // Stopped between the two run orders: a late start is stale.
            ("STARTED", None, true, "Stopped", Err("stale")),
            // Without the declaration, started actions that all succeeded
            // cannot tell whether another is still to start.
            (
                "STARTED",
                None,
                false,
                "InProgress",
                Err("not confirmed: its declared actions could not be read"),
            ),
            (
                "STARTED",
                Some("Succeeded"),
                false,
                "InProgress",
                Err("not confirmed: its declared actions could not be read"),
            ),
            (
                "SUCCEEDED",
                None,
                false,
                "InProgress",
                Ok((StatusState::Success, "Stage Deploy succeeded")),
            ),
        ];
        for (event, verify, read, status, expected) in cases {
            let actions = listed(verify);
            let decision = for_stage(
                &stage(event),
                &execution(status),
                Some(&actions),
                read.then_some(declared.as_slice()),
                "ci".into(),
                &origin(),
            );
            let row = format!("{event}, Verify {verify:?}, declaration read {read}, {status}");
            match (decision, expected) {
                (Decision::Post(post), Ok(posted)) => assert_eq!(
                    (post.status.state, post.status.description.as_str()),
                    posted,
                    "{row}"
                ),
                (Decision::Ignore(reason), Err(part)) => {
                    assert!(reason.contains(part), "{row}: {reason}")
                }
                (decision, expected) => panic!("{row}: {decision:?}, expected {expected:?}"),
            }
        }
        // A declaration without the stage (another pipeline version) is no declaration.
        let other = vec![DeclaredStage {
            stage: "Build".into(),
            actions: vec!["Build".into()],
        }];
        let actions = listed(Some("Succeeded"));
        assert!(matches!(
            for_stage(&stage("STARTED"), &execution("InProgress"), Some(&actions), Some(&other), "ci".into(), &origin()),
            Decision::Ignore(reason) if reason.contains("pipeline version 12 declares no stage Deploy")
        ));
    }
}
