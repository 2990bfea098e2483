//! The AWS state-change events `status` is fed, in their documented EventBridge
//! shapes. Only the fields Gantry reads are typed, so a field AWS adds or leaves
//! out (a build without artifacts has no `artifact`) never makes an event unreadable.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use aws_sdk_codepipeline::types::{PipelineExecutionStatus, StageExecutionStatus};
use serde::de::DeserializeOwned;
use serde::Deserialize;

pub const BUILD_STATE_CHANGE: &str = "CodeBuild Build State Change";
pub const BUILD_PHASE_CHANGE: &str = "CodeBuild Build Phase Change";
pub const PIPELINE_STATE_CHANGE: &str = "CodePipeline Pipeline Execution State Change";
pub const STAGE_STATE_CHANGE: &str = "CodePipeline Stage Execution State Change";
pub const ACTION_STATE_CHANGE: &str = "CodePipeline Action Execution State Change";

#[derive(Debug, thiserror::Error)]
#[error("{detail_type} event detail is not as documented at {path}: {message}")]
pub struct EventError {
    pub detail_type: String,
    pub path: String,
    pub message: String,
}

/// Where the event happened, for console links.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub region: String,
    pub account: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateChange {
    Build(BuildChange),
    /// The build's own state change follows; the failing phase is read from the build.
    BuildPhase {
        project: String,
        phase: String,
    },
    Pipeline(PipelineChange),
    Stage(StageChange),
    /// Stage or pipeline granularity covers actions.
    Action {
        pipeline: String,
        stage: String,
        action: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct BuildChange {
    pub build_status: String,
    pub project_name: String,
    pub build_id: String,
    #[serde(default)]
    pub additional_information: BuildInformation,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct BuildInformation {
    pub source: Option<BuildSource>,
    pub source_version: Option<String>,
    pub logs: Option<BuildLogs>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct BuildSource {
    #[serde(rename = "type")]
    pub source_type: String,
    pub location: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct BuildLogs {
    pub deep_link: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct PipelineChange {
    pub pipeline: String,
    pub execution_id: String,
    pub state: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct StageChange {
    pub pipeline: String,
    pub execution_id: String,
    pub stage: String,
    pub state: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct PhaseDetail {
    project_name: String,
    completed_phase: String,
}

#[derive(Deserialize)]
struct ActionDetail {
    pipeline: String,
    stage: String,
    action: String,
}

/// An execution event's `state` in `GetPipelineExecution`'s words: the event
/// says `STARTED`, `RESUMED`, `CANCELED` where the API says `InProgress`,
/// `Cancelled`. Any other state is taken as the API's word for it, so one the
/// event documentation does not list reads as unknown.
pub fn execution_status(state: &str) -> PipelineExecutionStatus {
    match state {
        "STARTED" | "RESUMED" => PipelineExecutionStatus::InProgress,
        "STOPPING" => PipelineExecutionStatus::Stopping,
        "SUCCEEDED" => PipelineExecutionStatus::Succeeded,
        "FAILED" => PipelineExecutionStatus::Failed,
        "STOPPED" => PipelineExecutionStatus::Stopped,
        "SUPERSEDED" => PipelineExecutionStatus::Superseded,
        "CANCELED" => PipelineExecutionStatus::Cancelled,
        other => PipelineExecutionStatus::from(other),
    }
}

/// A stage event's `state` in the API's words (`StageExecutionStatus`), as for executions.
pub fn stage_status(state: &str) -> StageExecutionStatus {
    match state {
        "STARTED" | "RESUMED" => StageExecutionStatus::InProgress,
        "STOPPING" => StageExecutionStatus::Stopping,
        "SUCCEEDED" => StageExecutionStatus::Succeeded,
        "FAILED" => StageExecutionStatus::Failed,
        "STOPPED" => StageExecutionStatus::Stopped,
        "CANCELED" => StageExecutionStatus::Cancelled,
        other => StageExecutionStatus::from(other),
    }
}

/// `Ok(None)` for an event `status` does not handle (another source or type).
pub fn parse(
    event: EventBridgeEvent<serde_json::Value>,
) -> Result<Option<(StateChange, Origin)>, EventError> {
    let origin = Origin {
        region: event.region.clone().unwrap_or_default(),
        account: event.account.clone().unwrap_or_default(),
    };
    let detail_type = event.detail_type.as_str();
    let change = match (event.source.as_str(), detail_type) {
        ("aws.codebuild", BUILD_STATE_CHANGE) => {
            StateChange::Build(detail(detail_type, event.detail)?)
        }
        ("aws.codebuild", BUILD_PHASE_CHANGE) => {
            let phase: PhaseDetail = detail(detail_type, event.detail)?;
            StateChange::BuildPhase {
                project: phase.project_name,
                phase: phase.completed_phase,
            }
        }
        ("aws.codepipeline", PIPELINE_STATE_CHANGE) => {
            StateChange::Pipeline(detail(detail_type, event.detail)?)
        }
        ("aws.codepipeline", STAGE_STATE_CHANGE) => {
            StateChange::Stage(detail(detail_type, event.detail)?)
        }
        ("aws.codepipeline", ACTION_STATE_CHANGE) => {
            let action: ActionDetail = detail(detail_type, event.detail)?;
            StateChange::Action {
                pipeline: action.pipeline,
                stage: action.stage,
                action: action.action,
            }
        }
        _ => return Ok(None),
    };
    Ok(Some((change, origin)))
}

fn detail<T: DeserializeOwned>(
    detail_type: &str,
    detail: serde_json::Value,
) -> Result<T, EventError> {
    serde_path_to_error::deserialize(detail).map_err(|err| EventError {
        detail_type: detail_type.to_owned(),
        path: err.path().to_string(),
        message: err.inner().to_string(),
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn sample(name: &str) -> EventBridgeEvent<serde_json::Value> {
        let file = format!("{}/../../events/status/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap()
    }

    #[test]
    fn documented_events_parse() {
        let (change, origin) = parse(sample("codebuild.docs.build-state-change.json"))
            .unwrap()
            .unwrap();
        assert_eq!(origin.region, "us-west-2");
        let StateChange::Build(build) = change else {
            panic!("{change:?}")
        };
        assert_eq!(build.build_status, "SUCCEEDED");
        assert_eq!(build.project_name, "my-sample-project");
        assert!(build
            .additional_information
            .logs
            .unwrap()
            .deep_link
            .unwrap()
            .starts_with("https://console.aws.amazon.com/cloudwatch"));

        let (change, _) = parse(sample("codebuild.docs.build-phase-change.json"))
            .unwrap()
            .unwrap();
        assert!(
            matches!(change, StateChange::BuildPhase { .. }),
            "{change:?}"
        );

        for (file, state) in [
            ("codepipeline.docs.pipeline-started.json", "STARTED"),
            ("codepipeline.docs.pipeline-succeeded.json", "SUCCEEDED"),
            ("codepipeline.docs.pipeline-failed.json", "FAILED"),
            ("codepipeline.docs.pipeline-stopping.json", "STOPPING"),
        ] {
            let (change, _) = parse(sample(file)).unwrap().unwrap();
            let StateChange::Pipeline(p) = change else {
                panic!("{file}")
            };
            assert_eq!(
                (p.pipeline.as_str(), p.state.as_str()),
                ("myPipeline", state),
                "{file}"
            );
        }
        let (change, _) = parse(sample("codepipeline.docs.stage-stopped.json"))
            .unwrap()
            .unwrap();
        assert_eq!(
            change,
            StateChange::Stage(StageChange {
                pipeline: "myPipeline".into(),
                execution_id: "12345678-1234-5678-abcd-12345678abcd".into(),
                stage: "Deploy".into(),
                state: "STOPPED".into()
            })
        );
        let (change, _) = parse(sample("codepipeline.docs.action-failed.json"))
            .unwrap()
            .unwrap();
        assert!(matches!(change, StateChange::Action { .. }));
    }

    #[test]
    fn other_events_are_not_ours_and_bad_details_say_where() {
        let mut event = sample("codepipeline.docs.pipeline-failed.json");
        event.source = "aws.s3".into();
        assert_eq!(parse(event).unwrap(), None);

        let mut event = sample("codepipeline.docs.pipeline-failed.json");
        event.detail["execution-id"] = serde_json::json!(7);
        let err = parse(event).unwrap_err().to_string();
        assert!(err.contains("execution-id"), "{err}");
    }
}
