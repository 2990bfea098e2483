//! What the mapping decides on (the state AWS reports now, in the reader's plain
//! shape) and what it decides.

use aws_sdk_codebuild::types::StatusType;
use aws_sdk_codepipeline::types::{ActionExecutionStatus, PipelineExecutionStatus};
use gantry_core::github::{Annotation, CheckConclusion, CommitStatus};
use gantry_core::ids::{CommitSha, RepoName};
use std::time::Duration;

/// A build as `BatchGetBuilds` reports it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildSnapshot {
    pub id: String,
    pub project: String,
    pub status: StatusType,
    pub source_type: Option<String>,
    pub source_location: Option<String>,
    pub resolved_source_version: Option<String>,
    pub source_version: Option<String>,
    pub environment: Vec<(String, String)>,
    pub phases: Vec<PhaseSnapshot>,
    pub current_phase: Option<String>,
    pub duration: Option<Duration>,
    pub logs_link: Option<String>,
    /// Where CloudWatch Logs keeps the build's log (`None`: logs off, or not
    /// created yet).
    pub log_stream: Option<LogStream>,
    /// The build's test reports (CodeBuild report groups).
    pub report_arns: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogStream {
    pub group: String,
    pub stream: String,
}

/// A CodeBuild test report as `BatchGetReports` and `DescribeTestCases`
/// report it: its totals and the test cases that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestReport {
    pub name: String,
    pub total: u32,
    /// Per status (`SUCCEEDED`, `FAILED`, `ERROR`, `SKIPPED`, `UNKNOWN`).
    pub counts: Vec<(String, u32)>,
    pub failed: Vec<FailedTest>,
    /// More failed cases than were read.
    pub more_failed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedTest {
    /// The test suite (`testSuiteName`, or CodeBuild's `prefix`).
    pub suite: Option<String>,
    pub name: String,
    pub status: String,
    pub message: Option<String>,
    /// The raw report file the case was read from (`testRawDataPath`): an
    /// `s3://` location when the report group exports to S3.
    pub raw_data: Option<String>,
    /// Where the test is, as the raw JUnit XML's `file` and `line` say.
    pub location: Option<(String, u32)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhaseSnapshot {
    pub phase: String,
    pub status: Option<StatusType>,
    pub duration: Option<Duration>,
}

/// A pipeline execution as `GetPipelineExecution` reports it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutionSnapshot {
    pub pipeline: String,
    pub execution_id: String,
    pub status: PipelineExecutionStatus,
    /// The pipeline's declaration the execution runs (`None`: not reported).
    pub pipeline_version: Option<i32>,
    pub variables: Vec<(String, String)>,
    pub revisions: Vec<RevisionSnapshot>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevisionSnapshot {
    pub revision_id: Option<String>,
    pub revision_url: Option<String>,
}

/// A stage as the pipeline declares it (`GetPipeline` at the execution's
/// pipeline version): every action it runs, started yet or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeclaredStage {
    pub stage: String,
    pub actions: Vec<String>,
}

/// One action of the execution, as `ListActionExecutions` reports it (only
/// actions that have started are listed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionSnapshot {
    pub stage: String,
    pub action: String,
    pub status: ActionExecutionStatus,
    pub summary: Option<String>,
    pub duration: Option<Duration>,
    /// When this attempt started (epoch seconds): a retried stage lists every attempt.
    pub started_at: Option<i64>,
    /// A manual approval (`Approval` category): running, it waits on a person.
    pub approval: bool,
    /// The build a CodeBuild action ran (its external execution id).
    pub build_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Post(Post),
    Ignore(String),
}

impl Decision {
    /// The decision with the description `describe` makes of the current one,
    /// as its status's description (cut to GitHub's limit) and its check
    /// run's title; an ignored event stays ignored.
    pub fn described_as(self, describe: impl FnOnce(&str) -> String) -> Decision {
        let Decision::Post(mut post) = self else {
            return self;
        };
        let description = describe(&post.status.description);
        post.status = CommitStatus::new(
            post.status.state,
            post.status.context.clone(),
            &description,
            post.status.target_url.clone(),
        );
        post.check.title = Some(description);
        Decision::Post(post)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Post {
    pub repository: RepoName,
    pub commit: CommitSha,
    pub status: CommitStatus,
    /// What the check run shows, in App mode (the status's context is its
    /// name, the description its title, the link its details).
    pub check: Box<CheckReport>,
}

/// A check run's own parts, beside the status it mirrors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckReport {
    /// The build (its id) or pipeline execution (its id) the run reports.
    pub run: String,
    /// What the run's buttons act on: `project/<name>` or `pipeline/<name>`.
    pub target: String,
    /// The delivery that started it (`GANTRY_DELIVERY_ID`), when Gantry did.
    pub delivery: Option<String>,
    /// Whether the run's subject can run again once it has finished: a
    /// pipeline execution or stage can be retried or resumed, a build cannot.
    pub reruns: bool,
    /// `None` while the build or execution runs.
    pub conclusion: Option<CheckConclusion>,
    /// The run's title when it is not the status's description (a run that
    /// waits on a manual approval).
    pub title: Option<String>,
    /// Markdown: the phases, or the stages and actions, each with its state
    /// and duration; the failing action's message; a build's test results.
    pub summary: String,
    /// Where a failed test's message names a file and line.
    pub annotations: Vec<Annotation>,
    /// Markdown below the summary: the failed build's last log lines, where
    /// `GANTRY_STATUS_CONFIG` opts its pipeline or project in.
    pub text: Option<String>,
}
