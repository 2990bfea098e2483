//! Carries out a planned start against CodePipeline or CodeBuild, and says
//! whether a failure is worth retrying.

use crate::config::Target;
use crate::route::Start;
use aws_sdk_codebuild::types::{EnvironmentVariable, EnvironmentVariableType};
use aws_sdk_codepipeline::error::ProvideErrorMetadata;
use aws_sdk_codepipeline::types::{PipelineVariable, SourceRevisionOverride, SourceRevisionType};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::operation::BuildError;
use gantry_core::aws::is_transient;
use gantry_core::deadline;
use tokio::time::Instant;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("StartPipelineExecution of {pipeline} failed")]
    Pipeline {
        pipeline: String,
        transient: bool,
        #[source]
        source: Box<aws_sdk_codepipeline::Error>,
    },
    #[error("StartBuild of project {project} failed")]
    Build {
        project: String,
        transient: bool,
        #[source]
        source: Box<aws_sdk_codebuild::Error>,
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
            StartError::Pipeline { transient, .. } | StartError::Build { transient, .. } => {
                *transient
            }
            StartError::Request { .. } => false,
        }
    }
}

impl StartError {
    /// The `errorType` of a failed invocation: what an operator has to look at.
    pub fn error_type(&self) -> &'static str {
        match self {
            StartError::Pipeline {
                transient: true, ..
            }
            | StartError::Build {
                transient: true, ..
            } => "AwsUnavailable",
            StartError::Pipeline { source, .. } => match **source {
                aws_sdk_codepipeline::Error::PipelineNotFoundException(_) => "UnknownPipeline",
                aws_sdk_codepipeline::Error::ValidationException(_) => "InvalidStartRequest",
                _ => "StartRefused",
            },
            StartError::Build { source, .. } => match **source {
                aws_sdk_codebuild::Error::ResourceNotFoundException(_) => "UnknownBuildProject",
                aws_sdk_codebuild::Error::InvalidInputException(_) => "InvalidStartRequest",
                _ => "StartRefused",
            },
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
            .map_err(|err| pipeline_error(pipeline, err))?;
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
            .map_err(|err| build_error(project, err))?;
        Ok(Started::Build(
            output
                .build_value
                .and_then(|build| build.id)
                .unwrap_or_default(),
        ))
    }
}

fn invalid(target: &str, source: BuildError) -> StartError {
    StartError::Request {
        target: target.to_owned(),
        source,
    }
}

fn pipeline_error<E>(pipeline: &str, err: SdkError<E, HttpResponse>) -> StartError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    aws_sdk_codepipeline::Error: From<SdkError<E, HttpResponse>>,
{
    StartError::Pipeline {
        pipeline: pipeline.to_owned(),
        transient: is_transient(&err),
        source: Box::new(err.into()),
    }
}

fn build_error<E>(project: &str, err: SdkError<E, HttpResponse>) -> StartError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    aws_sdk_codebuild::Error: From<SdkError<E, HttpResponse>>,
{
    StartError::Build {
        project: project.to_owned(),
        transient: is_transient(&err),
        source: Box::new(err.into()),
    }
}
