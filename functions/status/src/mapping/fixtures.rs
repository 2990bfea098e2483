//! What the mapping's tests decide on: AWS's documented samples in
//! `events/status/`, in the shapes the reader makes.

use super::snapshot::*;
use crate::event::{BuildChange, BuildInformation, Origin, StageChange};
use aws_sdk_codebuild::types::StatusType;
use serde_json::Value;
use std::time::Duration;

pub const SHA: &str = "f2194c1757bbdcb0f8f229254a4b3c8b27d43e0b";

pub fn sample(name: &str) -> Value {
    let file = format!("{}/../../events/status/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap()
}

pub fn origin() -> Origin {
    Origin {
        region: "us-west-2".into(),
        account: "123456789012".into(),
    }
}

/// A build from AWS CLI's documented BatchGetBuilds output, in the shape the reader makes.
pub fn documented_build(index: usize) -> BuildSnapshot {
    let build = &sample("codebuild.batch-get-builds.aws-cli-example.json")["builds"][index];
    let text = |v: &Value| v.as_str().map(str::to_owned);
    BuildSnapshot {
        id: text(&build["id"]).unwrap(),
        project: text(&build["projectName"]).unwrap(),
        status: StatusType::from(build["buildStatus"].as_str().unwrap()),
        source_type: text(&build["source"]["type"]),
        source_location: text(&build["source"]["location"]),
        resolved_source_version: text(&build["resolvedSourceVersion"]),
        source_version: text(&build["sourceVersion"]),
        environment: vec![],
        phases: build["phases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| PhaseSnapshot {
                phase: text(&p["phaseType"]).unwrap(),
                status: p["phaseStatus"].as_str().map(StatusType::from),
                duration: p["durationInSeconds"].as_u64().map(Duration::from_secs),
            })
            .collect(),
        current_phase: text(&build["currentPhase"]),
        duration: Some(Duration::from_secs(
            (build["endTime"].as_f64().unwrap() - build["startTime"].as_f64().unwrap()) as u64,
        )),
        logs_link: text(&build["logs"]["deepLink"]),
        log_stream: None,
        report_arns: vec![],
    }
}

pub fn change(build: &BuildSnapshot) -> BuildChange {
    BuildChange {
        build_status: build.status.as_str().to_owned(),
        project_name: build.project.clone(),
        build_id: format!(
            "arn:aws:codebuild:us-west-2:123456789012:build/{}",
            build.id
        ),
        additional_information: BuildInformation::default(),
    }
}

pub fn posted(decision: Decision) -> Post {
    match decision {
        Decision::Post(post) => post,
        Decision::Ignore(reason) => panic!("ignored: {reason}"),
    }
}

pub fn with_failed_phase(
    mut build: BuildSnapshot,
    status: StatusType,
    phase: &str,
) -> BuildSnapshot {
    for p in &mut build.phases {
        if p.phase == phase {
            p.status = Some(status.clone());
        }
    }
    build.status = status;
    build
}

pub fn execution(status: &str) -> ExecutionSnapshot {
    ExecutionSnapshot {
        pipeline: "myPipeline".into(),
        execution_id: "12345678-1234-5678-abcd-12345678abcd".into(),
        status: status.into(),
        pipeline_version: Some(12),
        variables: vec![
            ("GANTRY_REPOSITORY".into(), "Codertocat/Hello-World".into()),
            ("GANTRY_COMMIT".into(), SHA.into()),
        ],
        revisions: vec![],
    }
}

/// The two documented ListActionExecutions entries, the Deploy action's status set.
pub fn documented_actions(deploy_status: &str) -> Vec<ActionSnapshot> {
    sample("codepipeline.list-action-executions.first-two-entries.json")["actionExecutionDetails"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| ActionSnapshot {
            build_id: None,
            approval: false,
            stage: a["stageName"].as_str().unwrap().into(),
            action: a["actionName"].as_str().unwrap().into(),
            status: if a["stageName"] == "Deploy" {
                deploy_status.into()
            } else {
                a["status"].as_str().unwrap().into()
            },
            summary: a["output"]["executionResult"]["externalExecutionSummary"]
                .as_str()
                .map(Into::into),
            duration: Some(Duration::from_secs(
                (a["lastUpdateTime"].as_f64().unwrap() - a["startTime"].as_f64().unwrap()) as u64,
            )),
            started_at: a["startTime"].as_f64().map(|t| t as i64),
        })
        .collect()
}

pub fn stage(state: &str) -> StageChange {
    StageChange {
        pipeline: "myPipeline".into(),
        execution_id: "12345678-1234-5678-abcd-12345678abcd".into(),
        stage: "Deploy".into(),
        state: state.into(),
    }
}

/// What the pipeline of the documented actions declares: one action a stage.
pub fn documented_declaration() -> Vec<DeclaredStage> {
    ["Source", "Deploy"]
        .into_iter()
        .map(|name| DeclaredStage {
            stage: name.into(),
            actions: vec![name.into()],
        })
        .collect()
}
