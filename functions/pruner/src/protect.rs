//! What must never be deleted: every S3 object CodePipeline names as an input or
//! output artifact of a running execution, or of the pipeline's latest
//! successful one (`ListActionExecutions` gives the exact keys), for every
//! pipeline whose artifacts can lie under a rule's prefix: CodePipeline keys
//! artifacts by the first 20 characters of the pipeline's name, so pipelines
//! named alike share a folder.

use crate::config::pipeline_prefix;
use gantry_core::aws::ServiceError;
use std::collections::{BTreeSet, HashSet};

const RUNNING: [&str; 2] = ["InProgress", "Stopping"];

#[derive(Debug, thiserror::Error)]
#[error("could not read {subject}")]
pub struct ProtectError {
    /// What could not be read: the account's pipelines, or one pipeline's executions.
    pub subject: String,
    #[source]
    pub source: ServiceError<aws_sdk_codepipeline::Error>,
}

pub struct Protector {
    client: aws_sdk_codepipeline::Client,
}

impl Protector {
    pub fn new(client: aws_sdk_codepipeline::Client) -> Self {
        Protector { client }
    }

    /// Every pipeline of the account (read once per run, for all rules).
    pub async fn pipelines(&self) -> Result<Vec<String>, ProtectError> {
        let mut pipelines = Vec::new();
        let mut pages = self.client.list_pipelines().into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|err| error("the account's pipelines".to_owned(), err))?;
            pipelines.extend(
                page.pipelines
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|summary| summary.name),
            );
        }
        Ok(pipelines)
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
            let page =
                page.map_err(|err| error(format!("the executions of pipeline {pipeline}"), err))?;
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
            let page =
                page.map_err(|err| error(format!("the executions of pipeline {pipeline}"), err))?;
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
}

fn error<E>(
    subject: String,
    err: aws_sdk_codepipeline::error::SdkError<E, aws_sdk_codepipeline::config::http::HttpResponse>,
) -> ProtectError
where
    E: aws_sdk_codepipeline::error::ProvideErrorMetadata,
    aws_sdk_codepipeline::Error: From<
        aws_sdk_codepipeline::error::SdkError<E, aws_sdk_codepipeline::config::http::HttpResponse>,
    >,
{
    ProtectError {
        subject,
        source: ServiceError::from_sdk(err),
    }
}

/// The pipelines whose artifact folder overlaps `prefix` (one inside the
/// other), with `named` (the rule's own pipeline) always among them.
pub fn pipelines_under(
    pipelines: &[String],
    prefix: &str,
    named: Option<&str>,
) -> BTreeSet<String> {
    pipelines
        .iter()
        .map(String::as_str)
        .filter(|name| prefixes_overlap(&pipeline_prefix(name), prefix))
        .chain(named)
        .map(str::to_owned)
        .collect()
}

/// Whether one folder lies inside the other (both end in `/`).
pub fn prefixes_overlap(a: &str, b: &str) -> bool {
    a.starts_with(b) || b.starts_with(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipelines_named_alike_share_a_folder() {
        let rule = pipeline_prefix("service-deploy-staging");
        assert_eq!(rule, "service-deploy-stagi/");
        assert!(prefixes_overlap(
            &pipeline_prefix("service-deploy-staging-eu"),
            &rule
        ));
        assert!(!prefixes_overlap(
            &pipeline_prefix("service-deploy-prod"),
            &rule
        ));
        // A prefix rule over several pipelines' folders, or inside one.
        assert!(prefixes_overlap(&pipeline_prefix("app"), "app/"));
        assert!(prefixes_overlap(&pipeline_prefix("app"), "app/SourceArti/"));
        assert!(!prefixes_overlap(&pipeline_prefix("app"), "application/"));
        assert!(!prefixes_overlap(
            &pipeline_prefix("app-pipeline"),
            "nightly-builds/"
        ));
        let account: Vec<String> = ["app", "application", "service-deploy-staging-eu"]
            .map(String::from)
            .to_vec();
        assert_eq!(
            pipelines_under(&account, &rule, Some("service-deploy-staging")),
            BTreeSet::from([
                "service-deploy-staging".into(),
                "service-deploy-staging-eu".into()
            ])
        );
        assert_eq!(
            pipelines_under(&account, "app/", None),
            BTreeSet::from(["app".into()])
        );
    }
}
