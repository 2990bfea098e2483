//! What must never be deleted: every S3 object CodePipeline names as an input or
//! output artifact of a running execution, or of the pipeline's latest
//! successful one (`ListActionExecutions` gives the exact keys).

use gantry_core::aws::is_transient;
use std::collections::HashSet;

const RUNNING: [&str; 2] = ["InProgress", "Stopping"];

#[derive(Debug, thiserror::Error)]
#[error("could not read the executions of pipeline {pipeline}")]
pub struct ProtectError {
    pub pipeline: String,
    pub transient: bool,
    #[source]
    pub source: Box<aws_sdk_codepipeline::Error>,
}

pub struct Protector {
    client: aws_sdk_codepipeline::Client,
}

impl Protector {
    pub fn new(client: aws_sdk_codepipeline::Client) -> Self {
        Protector { client }
    }

    /// The keys in `bucket` that running and last successful executions of
    /// `pipeline` produced or read.
    pub async fn protected_keys(
        &self,
        pipeline: &str,
        bucket: &str,
    ) -> Result<HashSet<String>, ProtectError> {
        let mut executions = Vec::new();
        let mut found_success = false;
        let mut pages = self
            .client
            .list_pipeline_executions()
            .pipeline_name(pipeline)
            .into_paginator()
            .send();
        // Newest first: every running execution, and the first success.
        while let Some(page) = pages.next().await {
            let page = page.map_err(|err| self.error(pipeline, err))?;
            for summary in page.pipeline_execution_summaries.unwrap_or_default() {
                let status = summary
                    .status
                    .as_ref()
                    .map(|s| s.as_str())
                    .unwrap_or_default();
                let keep = RUNNING.contains(&status) || (status == "Succeeded" && !found_success);
                found_success |= status == "Succeeded";
                if keep {
                    if let Some(id) = summary.pipeline_execution_id {
                        executions.push(id);
                    }
                }
            }
        }
        let mut keys = HashSet::new();
        for execution in executions {
            keys.extend(self.artifact_keys(pipeline, &execution, bucket).await?);
        }
        Ok(keys)
    }

    async fn artifact_keys(
        &self,
        pipeline: &str,
        execution: &str,
        bucket: &str,
    ) -> Result<Vec<String>, ProtectError> {
        let mut keys = Vec::new();
        let mut pages = self
            .client
            .list_action_executions()
            .pipeline_name(pipeline)
            .filter(
                aws_sdk_codepipeline::types::ActionExecutionFilter::builder()
                    .pipeline_execution_id(execution)
                    .build(),
            )
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|err| self.error(pipeline, err))?;
            for detail in page.action_execution_details.unwrap_or_default() {
                let inputs = detail
                    .input
                    .into_iter()
                    .flat_map(|input| input.input_artifacts.unwrap_or_default())
                    .filter_map(|artifact| artifact.s3_location);
                let outputs = detail
                    .output
                    .into_iter()
                    .flat_map(|output| output.output_artifacts.unwrap_or_default())
                    .filter_map(|artifact| artifact.s3_location);
                for location in inputs.chain(outputs) {
                    if location.bucket.as_deref() == Some(bucket) {
                        keys.extend(location.key);
                    }
                }
            }
        }
        Ok(keys)
    }

    fn error<E>(
        &self,
        pipeline: &str,
        err: aws_sdk_codepipeline::error::SdkError<
            E,
            aws_sdk_codepipeline::config::http::HttpResponse,
        >,
    ) -> ProtectError
    where
        E: aws_sdk_codepipeline::error::ProvideErrorMetadata
            + std::error::Error
            + Send
            + Sync
            + 'static,
        aws_sdk_codepipeline::Error: From<
            aws_sdk_codepipeline::error::SdkError<
                E,
                aws_sdk_codepipeline::config::http::HttpResponse,
            >,
        >,
    {
        ProtectError {
            pipeline: pipeline.to_owned(),
            transient: is_transient(&err),
            source: Box::new(err.into()),
        }
    }
}
