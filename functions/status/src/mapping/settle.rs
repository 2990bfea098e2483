//! Which state to report when the event and the read disagree, and which
//! attempt of a retried action counts.

use super::snapshot::ActionSnapshot;
use crate::event;
use aws_sdk_codebuild::types::StatusType;
use aws_sdk_codepipeline::types::PipelineExecutionStatus;

/// The build state to report. A build's finished state is final, so when the
/// event says it finished and the read still says `IN_PROGRESS` (a read that
/// lags the event), the event is right: posting pending would leave the commit
/// pending for good, as no later event follows a finished build.
pub fn settled_build_status(event_status: &str, read_status: &StatusType) -> StatusType {
    // The event's `build-status` and `BatchGetBuilds` use the same words.
    let event_status = StatusType::from(event_status);
    let finished = matches!(
        event_status,
        StatusType::Succeeded
            | StatusType::Failed
            | StatusType::Fault
            | StatusType::Stopped
            | StatusType::TimedOut
    );
    if *read_status == StatusType::InProgress && finished {
        event_status
    } else {
        read_status.clone()
    }
}

/// The execution status to report, by the same reasoning as for builds: a
/// finished-execution event wins over a read that still says `InProgress`. An
/// execution that is retried later sends its own `RESUMED` and finishing events,
/// which correct the commit again.
pub fn settled_execution_status(
    event_state: &str,
    read_status: &PipelineExecutionStatus,
) -> PipelineExecutionStatus {
    let event_status = event::execution_status(event_state);
    let finished = matches!(
        event_status,
        PipelineExecutionStatus::Succeeded
            | PipelineExecutionStatus::Failed
            | PipelineExecutionStatus::Stopped
            | PipelineExecutionStatus::Superseded
            | PipelineExecutionStatus::Cancelled
    );
    let read_running = matches!(
        read_status,
        PipelineExecutionStatus::InProgress | PipelineExecutionStatus::Stopping
    );
    if finished && read_running {
        event_status
    } else {
        read_status.clone()
    }
}

/// The latest attempt of each action: `ListActionExecutions` also lists the
/// attempts of a stage before it was retried, whose failures no longer count.
pub fn latest_attempts(actions: Vec<ActionSnapshot>) -> Vec<ActionSnapshot> {
    let mut latest: Vec<ActionSnapshot> = Vec::with_capacity(actions.len());
    for action in actions {
        match latest
            .iter_mut()
            .find(|a| a.stage == action.stage && a.action == action.action)
        {
            Some(kept) if action.started_at > kept.started_at => *kept = action,
            Some(_) => {}
            None => latest.push(action),
        }
    }
    latest
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::fixtures::*;
    use crate::mapping::{for_build, for_stage};
    use gantry_core::github::StatusState;

    #[test]
    fn a_retried_stage_reports_its_latest_attempt() {
        let mut first = documented_actions("Failed");
        let mut retry = documented_actions("Succeeded");
        for action in &mut retry {
            action.started_at = action.started_at.map(|t| t + 600);
        }
        // ListActionExecutions lists newest first; the order must not matter.
        for actions in [
            [retry.clone(), first.clone()].concat(),
            [first.clone(), retry.clone()].concat(),
        ] {
            let latest = latest_attempts(actions);
            assert_eq!(latest.len(), 2, "{latest:?}");
            let post = posted(for_stage(
                &stage("SUCCEEDED"),
                &execution("Succeeded"),
                Some(&latest),
                Some(&documented_declaration()),
                "ci".into(),
                &origin(),
            ));
            assert_eq!(post.status.state, StatusState::Success);
        }
        first.truncate(1);
        assert_eq!(latest_attempts(first.clone()), first);
    }

    #[test]
    fn a_finishing_event_wins_over_a_read_that_lags_it() {
        let build = documented_build(1);
        let mut lagging = build.clone();
        lagging.status = StatusType::InProgress;
        let mut event = change(&build);
        event.build_status = "SUCCEEDED".into();
        let post = posted(for_build(&event, &lagging, "c".into(), &origin()));
        assert_eq!(post.status.state, StatusState::Success);
        // An in-progress event is no reason to doubt a finished read.
        event.build_status = "IN_PROGRESS".into();
        let post = posted(for_build(&event, &build, "c".into(), &origin()));
        assert_eq!(post.status.state, StatusState::Success);
        // Nor a finished read: the read is newer than any event.
        assert_eq!(
            settled_build_status("FAILED", &StatusType::Succeeded),
            StatusType::Succeeded
        );
        assert_eq!(
            settled_build_status("IN_PROGRESS", &StatusType::InProgress),
            StatusType::InProgress
        );

        for (event, read, settled) in [
            ("SUCCEEDED", "InProgress", "Succeeded"),
            ("FAILED", "InProgress", "Failed"),
            ("STOPPED", "InProgress", "Stopped"),
            ("SUPERSEDED", "InProgress", "Superseded"),
            ("CANCELED", "InProgress", "Cancelled"),
            ("STARTED", "InProgress", "InProgress"),
            ("RESUMED", "InProgress", "InProgress"),
            ("STARTED", "Succeeded", "Succeeded"),
            ("FAILED", "Succeeded", "Succeeded"),
            ("STOPPING", "Stopping", "Stopping"),
            ("STOPPED", "Stopping", "Stopped"),
            ("CANCELED", "Stopping", "Cancelled"),
        ] {
            assert_eq!(
                settled_execution_status(event, &read.into()),
                PipelineExecutionStatus::from(settled),
                "{event} read as {read}"
            );
        }
    }
}
