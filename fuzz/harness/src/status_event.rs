//! `status`'s event parse and its pure mapping from an event and what AWS
//! reports now to the commit status and check run it posts.
//!
//! Input: an EventBridge event as Lambda hands it to `status`. What the AWS
//! reads would return is made from the event itself, as AWS reports the
//! same build or execution the event describes: a build from the event's
//! `additional-information` (phases, environment, source, logs), an execution
//! from its pipeline, id and state. An optional `gantry-fuzz` object in the
//! detail, read only here, says where the reads differ from the event:
//!
//! ```json
//! {"gantry-fuzz": {"status": "IN_PROGRESS", "variables": {"GANTRY_COMMIT": "..."},
//!   "revisions": [{"id": "...", "url": "..."}], "actions": [{"stage": "Deploy",
//!   "action": "Deploy", "status": "Failed", "summary": "...", "duration": 3,
//!   "started-at": 1, "approval": false, "build-id": "..."}],
//!   "declared": [{"stage": "Deploy", "actions": ["Deploy"]}],
//!   "reports": [{"name": "unit", "total": 3, "counts": {"FAILED": 1},
//!     "failed": [{"suite": "s", "name": "t", "status": "FAILED", "message": "at a.rs:3"}],
//!     "more-failed": false, "junit": "<testsuite>...</testsuite>"}],
//!   "log-lines": ["..."]}}
//! ```
//!
//! Input that is no event at all is read as a report's raw JUnit XML.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use aws_sdk_codebuild::types::StatusType;
use aws_sdk_codepipeline::types::{ActionExecutionStatus, PipelineExecutionStatus};
use serde_json::{Map, Value};
use status::event::{self, BuildChange, Origin, StageChange, StateChange};
use status::mapping::{
    self, junit, log_section, report, tests_section, ActionSnapshot, BuildSnapshot, Decision,
    DeclaredStage, ExecutionSnapshot, FailedTest, LogStream, PhaseSnapshot, Post, RevisionSnapshot,
    TestReport,
};
use std::time::Duration;

/// The repository and commit an execution started by `trigger` carries, for
/// executions whose read names none: without them every pipeline event is
/// ignored before the mapping decides anything.
const SAMPLE_REPOSITORY: &str = "octo-org/app";
const SAMPLE_COMMIT: &str = "f2194c1757bbdcb0f8f229254a4b3c8b27d43e0b";

pub fn status_event(data: &[u8]) {
    if let Some(Decision::Post(post)) = decision(data) {
        posted(&post);
    }
}

/// What `status` decides for the event in `data`, `None` for no event it handles.
fn decision(data: &[u8]) -> Option<Decision> {
    let Ok(event) = serde_json::from_slice::<EventBridgeEvent<Value>>(data) else {
        if let Ok(xml) = std::str::from_utf8(data) {
            placed(xml);
        }
        return None;
    };
    let detail = event.detail.clone();
    let reads = Reads(detail.get("gantry-fuzz").unwrap_or(&Value::Null));
    let (change, origin) = match event::parse(event) {
        Ok(Some(parsed)) => parsed,
        Ok(None) => return None,
        Err(err) => {
            let _ = err.to_string();
            return None;
        }
    };
    let decision = match &change {
        StateChange::Build(change) => {
            let build = build_read(change, &detail, &reads);
            let mut decision =
                mapping::for_build(change, &build, context(&change.project_name), &origin);
            if let Decision::Post(post) = &mut decision {
                // As the handler adds them to a finished build's check run.
                let (text, annotations) = tests_section::section(&reads.reports());
                post.check.summary.push_str(&text);
                post.check.annotations.extend(annotations);
                post.check.text = Some(log_section::text(&build.id, &reads.log_lines()));
            }
            decision
        }
        StateChange::Pipeline(change) => {
            let mut execution = execution_read(
                &change.pipeline,
                &change.execution_id,
                &change.state,
                &detail,
                &reads,
            );
            execution.status = mapping::settled_execution_status(&change.state, &execution.status);
            let actions = reads.actions();
            mapping::for_pipeline(
                &execution,
                actions.as_deref(),
                context(&change.pipeline),
                &origin,
            )
        }
        StateChange::Stage(change) => stage(change, &detail, &reads, &origin),
        // Phase and action changes are ignored before any read.
        _ => return None,
    };
    Some(decision)
}

fn stage(change: &StageChange, detail: &Value, reads: &Reads, origin: &Origin) -> Decision {
    // Unless the reads say otherwise, the execution runs while its stages change.
    let execution = execution_read(
        &change.pipeline,
        &change.execution_id,
        "STARTED",
        detail,
        reads,
    );
    let actions = reads.actions();
    let declared = reads.declared();
    mapping::for_stage(
        change,
        &execution,
        actions.as_deref(),
        declared.as_deref(),
        context(&change.pipeline),
        origin,
    )
}

/// What is posted must be postable: the check run's request is built from it.
fn posted(post: &Post) {
    let (_run, _annotations) = report::check_run(post);
    assert!(!post.status.context.is_empty());
}

fn context(name: &str) -> String {
    format!("gantry/{name}")
}

/// `BatchGetBuilds` of the event's build, as the event's own
/// `additional-information` describes it.
fn build_read(change: &BuildChange, detail: &Value, reads: &Reads) -> BuildSnapshot {
    let info = Reads(&detail["additional-information"]);
    let phases: Vec<PhaseSnapshot> = info
        .list("phases")
        .map(|phase| PhaseSnapshot {
            phase: phase.text("phase-type").unwrap_or_default(),
            status: phase
                .text("phase-status")
                .map(|s| StatusType::from(s.as_str())),
            duration: phase.seconds("duration-in-seconds"),
        })
        .collect();
    let duration = phases
        .iter()
        .filter_map(|phase| phase.duration)
        .reduce(|a, b| a.saturating_add(b));
    let source = Reads(&detail["additional-information"]["source"]);
    let logs = Reads(&detail["additional-information"]["logs"]);
    BuildSnapshot {
        // The event names the build by its ARN, BatchGetBuilds by `project:uuid`.
        id: change
            .build_id
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_owned(),
        project: change.project_name.clone(),
        status: StatusType::from(
            reads
                .text("status")
                .unwrap_or(change.build_status.clone())
                .as_str(),
        ),
        source_type: source.text("type"),
        source_location: source.text("location"),
        resolved_source_version: reads.text("resolved-source-version"),
        source_version: info.text("source-version"),
        environment: Reads(&detail["additional-information"]["environment"])
            .list("environment-variables")
            .filter_map(|variable| Some((variable.text("name")?, variable.text("value")?)))
            .collect(),
        phases,
        current_phase: Reads(detail).text("current-phase"),
        duration,
        logs_link: logs.text("deep-link"),
        log_stream: logs
            .text("group-name")
            .zip(logs.text("stream-name"))
            .map(|(group, stream)| LogStream { group, stream }),
        report_arns: reads
            .list("reports")
            .filter_map(|r| r.text("arn"))
            .collect(),
    }
}

/// `GetPipelineExecution` of the event's execution.
fn execution_read(
    pipeline: &str,
    execution_id: &str,
    state: &str,
    detail: &Value,
    reads: &Reads,
) -> ExecutionSnapshot {
    let status = match reads.text("status") {
        Some(status) => PipelineExecutionStatus::from(status.as_str()),
        None => event::execution_status(state),
    };
    let variables: Vec<(String, String)> = match reads.0.get("variables").and_then(Value::as_object)
    {
        Some(variables) => variables
            .iter()
            .filter_map(|(name, value)| Some((name.clone(), value.as_str()?.to_owned())))
            .collect(),
        None => vec![
            ("GANTRY_REPOSITORY".into(), SAMPLE_REPOSITORY.into()),
            ("GANTRY_COMMIT".into(), SAMPLE_COMMIT.into()),
        ],
    };
    ExecutionSnapshot {
        pipeline: pipeline.to_owned(),
        execution_id: execution_id.to_owned(),
        status,
        pipeline_version: detail["version"].as_f64().map(|v| v as i32),
        variables,
        revisions: reads
            .list("revisions")
            .map(|revision| RevisionSnapshot {
                revision_id: revision.text("id"),
                revision_url: revision.text("url"),
            })
            .collect(),
    }
}

/// The cases a raw JUnit report places, and each failed test's location among them.
fn placed(xml: &str) {
    let cases = junit::placed_cases(xml);
    for case in &cases {
        let test = FailedTest {
            suite: case.suite.clone(),
            name: case.name.clone(),
            status: "FAILED".into(),
            message: None,
            raw_data: None,
            location: None,
        };
        assert!(
            junit::location_of(&test, &cases).is_some(),
            "{case:?} is not found among its own cases"
        );
    }
}

/// A JSON object read leniently: a field of the wrong type is absent.
struct Reads<'a>(&'a Value);

impl<'a> Reads<'a> {
    fn text(&self, key: &str) -> Option<String> {
        self.0.get(key).and_then(Value::as_str).map(str::to_owned)
    }

    fn number(&self, key: &str) -> Option<u64> {
        self.0.get(key).and_then(Value::as_u64)
    }

    fn seconds(&self, key: &str) -> Option<Duration> {
        self.number(key).map(Duration::from_secs)
    }

    fn list(&self, key: &str) -> impl Iterator<Item = Reads<'a>> {
        self.0
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(Reads)
    }

    /// `ListActionExecutions`, newest attempt of each action, as the reader gives them.
    fn actions(&self) -> Option<Vec<ActionSnapshot>> {
        let listed = self.0.get("actions")?.as_array()?;
        let actions = listed
            .iter()
            .map(Reads)
            .map(|action| ActionSnapshot {
                stage: action.text("stage").unwrap_or_default(),
                action: action.text("action").unwrap_or_default(),
                status: ActionExecutionStatus::from(
                    action.text("status").unwrap_or_default().as_str(),
                ),
                summary: action.text("summary"),
                duration: action.seconds("duration"),
                started_at: action.0.get("started-at").and_then(Value::as_i64),
                approval: action
                    .0
                    .get("approval")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
                build_id: action.text("build-id"),
            })
            .collect();
        Some(mapping::latest_attempts(actions))
    }

    /// `GetPipeline`'s stages and their actions.
    fn declared(&self) -> Option<Vec<DeclaredStage>> {
        self.0.get("declared")?.as_array()?;
        Some(
            self.list("declared")
                .map(|stage| DeclaredStage {
                    stage: stage.text("stage").unwrap_or_default(),
                    actions: stage
                        .list("actions")
                        .filter_map(|a| a.0.as_str().map(str::to_owned))
                        .collect(),
                })
                .collect(),
        )
    }

    /// `BatchGetReports` and `DescribeTestCases`, with each failed case placed
    /// by the report's raw JUnit XML as the reader places it.
    fn reports(&self) -> Vec<TestReport> {
        self.list("reports")
            .map(|report| {
                let cases = junit::placed_cases(&report.text("junit").unwrap_or_default());
                let counts = report
                    .0
                    .get("counts")
                    .and_then(Value::as_object)
                    .map_or_else(Vec::new, counts);
                TestReport {
                    name: report.text("name").unwrap_or_default(),
                    total: report
                        .number("total")
                        .map_or(0, |n| n.min(u64::from(u32::MAX)) as u32),
                    counts,
                    failed: report
                        .list("failed")
                        .map(|test| {
                            let mut failed = FailedTest {
                                suite: test.text("suite"),
                                name: test.text("name").unwrap_or_default(),
                                status: test.text("status").unwrap_or_default(),
                                message: test.text("message"),
                                raw_data: test.text("raw-data"),
                                location: None,
                            };
                            failed.location = junit::location_of(&failed, &cases);
                            failed
                        })
                        .collect(),
                    more_failed: report
                        .0
                        .get("more-failed")
                        .and_then(Value::as_bool)
                        .unwrap_or(false),
                }
            })
            .collect()
    }

    fn log_lines(&self) -> Vec<String> {
        self.list("log-lines")
            .filter_map(|line| line.0.as_str().map(str::to_owned))
            .collect()
    }
}

/// Counts per status, as `testSummary.statusCounts` holds them (CodeBuild's are `u32`).
fn counts(counts: &Map<String, Value>) -> Vec<(String, u32)> {
    counts
        .iter()
        .filter_map(|(status, n)| Some((status.clone(), u32::try_from(n.as_u64()?).ok()?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed(name: &str) -> Vec<u8> {
        let path = format!(
            "{}/../seeds/status_event/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(&path).unwrap_or_else(|err| panic!("{path}: {err}"))
    }

    fn post(name: &str) -> Post {
        match decision(&seed(name)) {
            Some(Decision::Post(post)) => post,
            other => panic!("{name}: {other:?}"),
        }
    }

    /// The seeds reach the mapping's every decision, not only the parse.
    #[test]
    fn seeds_reach_each_kind_of_post() {
        post("github-source-codebuild.docs.build-state-change");
        post("gantry-variables-codebuild.derived.build-state-change.fault");
        post("status-codepipeline.docs.pipeline-failed");
        post("gantry-fuzz-stage-failed");
        let waiting = post("gantry-fuzz-pipeline-waiting");
        assert!(waiting.check.title.is_some(), "{waiting:?}");
        let failed = post("gantry-fuzz-build-failed-with-reports");
        assert!(
            failed.check.summary.contains("Tests"),
            "{}",
            failed.check.summary
        );
        assert!(!failed.check.annotations.is_empty());
        assert!(failed.check.text.is_some());
    }
}
