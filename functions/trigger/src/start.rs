//! Carries out a planned start against CodePipeline or CodeBuild, and says
//! whether a failure is worth retrying.

use crate::config::Target;
use crate::route::Start;
use aws_sdk_codebuild::config::http::HttpResponse;
use aws_sdk_codebuild::error::SdkError;
use aws_sdk_codebuild::types::{Build, EnvironmentVariable, EnvironmentVariableType};
use aws_sdk_codepipeline::types::{PipelineVariable, SourceRevisionOverride, SourceRevisionType};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use aws_smithy_types::error::operation::BuildError;
use gantry_core::aws::ServiceError;
use gantry_core::deadline;
use tokio::time::Instant;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("StartPipelineExecution of {pipeline} failed")]
    Pipeline {
        pipeline: String,
        #[source]
        source: ServiceError<aws_sdk_codepipeline::Error>,
    },
    #[error("StartBuild of project {project} failed")]
    Build {
        project: String,
        #[source]
        source: ServiceError<aws_sdk_codebuild::Error>,
    },
    #[error("looking for an earlier start of pipeline {pipeline} failed")]
    LookupExecution {
        pipeline: String,
        #[source]
        source: ServiceError<aws_sdk_codepipeline::Error>,
    },
    #[error("looking for an earlier start of project {project} failed")]
    LookupBuild {
        project: String,
        #[source]
        source: ServiceError<aws_sdk_codebuild::Error>,
    },
    #[error("request to start {target} could not be built")]
    Request {
        target: String,
        #[source]
        source: BuildError,
    },
}

impl StartError {
    /// Throttling, 5xx and network failures: EventBridge's retry may succeed.
    /// Anything else (an unknown pipeline, a bad source action) needs an operator.
    pub fn is_transient(&self) -> bool {
        match self {
            StartError::Pipeline { source, .. } | StartError::LookupExecution { source, .. } => {
                source.is_transient()
            }
            StartError::Build { source, .. } | StartError::LookupBuild { source, .. } => {
                source.is_transient()
            }
            StartError::Request { .. } => false,
        }
    }
}

impl StartError {
    /// The `errorType` of a failed invocation: what an operator has to look at.
    pub fn error_type(&self) -> &'static str {
        if self.is_transient() {
            return "AwsUnavailable";
        }
        match self {
            StartError::Pipeline { source, .. } => match source.service() {
                aws_sdk_codepipeline::Error::PipelineNotFoundException(_) => "UnknownPipeline",
                aws_sdk_codepipeline::Error::ValidationException(_) => "InvalidStartRequest",
                _ => "StartRefused",
            },
            StartError::Build { source, .. } => match source.service() {
                aws_sdk_codebuild::Error::ResourceNotFoundException(_) => "UnknownBuildProject",
                aws_sdk_codebuild::Error::InvalidInputException(_) => "InvalidStartRequest",
                _ => "StartRefused",
            },
            StartError::LookupExecution { .. } | StartError::LookupBuild { .. } => "LookupRefused",
            StartError::Request { .. } => "InvalidStartRequest",
        }
    }
}

/// What was started: the id to find it by in the console and the APIs.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "id")]
pub enum Started {
    PipelineExecution(String),
    Build(String),
}

pub struct Starter {
    pipelines: aws_sdk_codepipeline::Client,
    builds: aws_sdk_codebuild::Client,
}

impl Starter {
    pub fn new(pipelines: aws_sdk_codepipeline::Client, builds: aws_sdk_codebuild::Client) -> Self {
        Starter { pipelines, builds }
    }

    pub(crate) fn pipelines(&self) -> &aws_sdk_codepipeline::Client {
        &self.pipelines
    }

    pub(crate) fn builds(&self) -> &aws_sdk_codebuild::Client {
        &self.builds
    }

    /// Starts `start`'s target, giving up (transiently) at `deadline`.
    pub async fn start(&self, start: &Start, deadline: Instant) -> Result<Started, StartError> {
        match &start.target {
            Target::Pipeline {
                name,
                source_action,
                variables,
            } => {
                self.start_pipeline(start, name, source_action, *variables, deadline)
                    .await
            }
            Target::BuildProject { name } => self.start_build(start, name, deadline).await,
        }
    }

    async fn start_pipeline(
        &self,
        start: &Start,
        pipeline: &str,
        source_action: &str,
        with_variables: bool,
        deadline: Instant,
    ) -> Result<Started, StartError> {
        let mut request = self
            .pipelines
            .start_pipeline_execution()
            .name(pipeline)
            .client_request_token(&start.idempotency_token)
            .source_revisions(
                SourceRevisionOverride::builder()
                    .action_name(source_action)
                    .revision_type(SourceRevisionType::CommitId)
                    .revision_value(&start.commit)
                    .build()
                    .map_err(|err| invalid(pipeline, err))?,
            );
        if with_variables {
            for (name, value) in &start.variables {
                request = request.variables(
                    PipelineVariable::builder()
                        .name(*name)
                        .value(value)
                        .build()
                        .map_err(|err| invalid(pipeline, err))?,
                );
            }
        }
        let output = deadline::aws_call(deadline, request.send())
            .await
            .map_err(|err| StartError::Pipeline {
                pipeline: pipeline.to_owned(),
                source: ServiceError::from_sdk(err),
            })?;
        Ok(Started::PipelineExecution(
            output.pipeline_execution_id.unwrap_or_default(),
        ))
    }

    async fn start_build(
        &self,
        start: &Start,
        project: &str,
        deadline: Instant,
    ) -> Result<Started, StartError> {
        let variables = start.variables.iter().map(|(name, value)| {
            EnvironmentVariable::builder()
                .name(*name)
                .value(value)
                .r#type(EnvironmentVariableType::Plaintext)
                .build()
        });
        let variables = variables
            .collect::<Result<Vec<_>, _>>()
            .map_err(|err| invalid(project, err))?;
        let request = self
            .builds
            .start_build()
            .project_name(project)
            .source_version(&start.commit)
            .idempotency_token(&start.idempotency_token)
            .set_environment_variables_override(Some(variables));
        let output = deadline::aws_call(deadline, request.send())
            .await
            .map_err(|err| StartError::Build {
                project: project.to_owned(),
                source: ServiceError::from_sdk(err),
            })?;
        Ok(Started::Build(
            output
                .build_value
                .and_then(|build| build.id)
                .unwrap_or_default(),
        ))
    }
}

impl Starter {
    /// After a crash between a start and its record: the execution or build
    /// this start's delivery began since `since` (epoch seconds), found by its
    /// `GANTRY_DELIVERY_ID`. Looks at the latest page only (25 executions, 100
    /// builds): the window the README states.
    pub async fn find_started(
        &self,
        start: &Start,
        delivery: &str,
        since: i64,
        deadline: Instant,
    ) -> Result<Option<Started>, StartError> {
        // Clocks differ a little between the ledger's writer and AWS.
        let since = since - 60;
        match &start.target {
            Target::Pipeline {
                name, variables, ..
            } => {
                if !variables {
                    // Nothing carries the delivery id; clientRequestToken still
                    // makes CodePipeline answer a repeat with the same execution.
                    return Ok(None);
                }
                self.find_execution(delivery, name, since, deadline).await
            }
            Target::BuildProject { name } => self.find_build(delivery, name, since, deadline).await,
        }
    }

    async fn find_execution(
        &self,
        delivery: &str,
        pipeline: &str,
        since: i64,
        deadline: Instant,
    ) -> Result<Option<Started>, StartError> {
        let listed = deadline::aws_call(
            deadline,
            self.pipelines
                .list_pipeline_executions()
                .pipeline_name(pipeline)
                .max_results(25)
                .send(),
        )
        .await
        .map_err(execution_lookup_failed(pipeline))?;
        for summary in listed.pipeline_execution_summaries() {
            let recent = summary.start_time().is_none_or(|t| t.secs() >= since);
            let Some(id) = summary.pipeline_execution_id().filter(|_| recent) else {
                continue;
            };
            let execution = deadline::aws_call(
                deadline,
                self.pipelines
                    .get_pipeline_execution()
                    .pipeline_name(pipeline)
                    .pipeline_execution_id(id)
                    .send(),
            )
            .await
            .map_err(execution_lookup_failed(pipeline))?;
            let carries_delivery = execution
                .pipeline_execution()
                .map(|e| e.variables())
                .unwrap_or_default()
                .iter()
                .any(|v| {
                    v.name() == Some(DELIVERY_VARIABLE) && v.resolved_value() == Some(delivery)
                });
            if carries_delivery {
                return Ok(Some(Started::PipelineExecution(id.to_owned())));
            }
        }
        Ok(None)
    }

    async fn find_build(
        &self,
        delivery: &str,
        project: &str,
        since: i64,
        deadline: Instant,
    ) -> Result<Option<Started>, StartError> {
        let listed = deadline::aws_call(
            deadline,
            self.builds
                .list_builds_for_project()
                .project_name(project)
                .sort_order(aws_sdk_codebuild::types::SortOrderType::Descending)
                .send(),
        )
        .await
        .map_err(build_lookup_failed(project))?;
        // Newest first, a few at a time: a build the claim's holder started is
        // among the newest, so reading stops at the first builds older than it.
        let newest = &listed.ids()[..listed.ids().len().min(BUILDS_LOOKED_AT)];
        for ids in newest.chunks(BUILDS_PER_READ) {
            let read = deadline::aws_call(
                deadline,
                self.builds
                    .batch_get_builds()
                    .set_ids(Some(ids.to_vec()))
                    .send(),
            )
            .await
            .map_err(build_lookup_failed(project))?;
            let since_claim = |build: &Build| build.start_time().is_none_or(|t| t.secs() >= since);
            if let Some(found) = read
                .builds()
                .iter()
                .find(|build| since_claim(build) && carries_delivery(build, delivery))
                .and_then(Build::id)
            {
                return Ok(Some(Started::Build(found.to_owned())));
            }
            // Listed newest first: past a build older than the claim, all are.
            if !read.builds().iter().all(since_claim) {
                return Ok(None);
            }
        }
        Ok(None)
    }
}

/// The variable that carries the delivery id into every start.
const DELIVERY_VARIABLE: &str = "GANTRY_DELIVERY_ID";

/// How many of a project's newest builds a recovered claim looks through, and
/// how many it reads at once (`BatchGetBuilds` takes up to 100; most lookups
/// end in the first read, at a build older than the claim).
const BUILDS_LOOKED_AT: usize = 100;
const BUILDS_PER_READ: usize = 10;

fn carries_delivery(build: &Build, delivery: &str) -> bool {
    build
        .environment()
        .map(|e| e.environment_variables())
        .unwrap_or_default()
        .iter()
        .any(|v| v.name() == DELIVERY_VARIABLE && v.value() == delivery)
}

/// A failed read while looking for what an earlier claim started in `pipeline`.
fn execution_lookup_failed<E>(
    pipeline: &str,
) -> impl FnOnce(SdkError<E, HttpResponse>) -> StartError + '_
where
    E: ProvideErrorMetadata,
    aws_sdk_codepipeline::Error: From<SdkError<E, HttpResponse>>,
{
    move |err| StartError::LookupExecution {
        pipeline: pipeline.to_owned(),
        source: ServiceError::from_sdk(err),
    }
}

/// A failed read while looking for what an earlier claim started in `project`.
fn build_lookup_failed<E>(
    project: &str,
) -> impl FnOnce(SdkError<E, HttpResponse>) -> StartError + '_
where
    E: ProvideErrorMetadata,
    aws_sdk_codebuild::Error: From<SdkError<E, HttpResponse>>,
{
    move |err| StartError::LookupBuild {
        project: project.to_owned(),
        source: ServiceError::from_sdk(err),
    }
}

fn invalid(target: &str, source: BuildError) -> StartError {
    StartError::Request {
        target: target.to_owned(),
        source,
    }
}
