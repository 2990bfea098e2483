//! Console links for a status's `target_url` when AWS gives none better.

use super::snapshot::{BuildSnapshot, ExecutionSnapshot};
use crate::event::Origin;

pub(super) fn build_console_url(build: &BuildSnapshot, origin: &Origin) -> String {
    let region = &origin.region;
    format!(
        "https://{region}.console.aws.amazon.com/codesuite/codebuild/{}/projects/{}/build/{}/?region={region}",
        origin.account,
        build.project,
        build.id.replace(':', "%3A")
    )
}

pub(super) fn execution_console_url(execution: &ExecutionSnapshot, origin: &Origin) -> String {
    let region = &origin.region;
    format!(
        "https://{region}.console.aws.amazon.com/codesuite/codepipeline/pipelines/{}/executions/{}/timeline?region={region}",
        execution.pipeline, execution.execution_id
    )
}
