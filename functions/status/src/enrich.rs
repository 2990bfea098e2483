//! What a check run carries beyond its decision: a finished build's test
//! results, placed where the raw JUnit XML says, and a failed build's last
//! log lines where `GANTRY_STATUS_CONFIG` opts in. App mode only (a status
//! has no room for them); each makes the run better and never blocks it.

use crate::handler::StatusHandler;
use crate::mapping::{self, ActionSnapshot, BuildSnapshot, Post};
use aws_sdk_codepipeline::types::ActionExecutionStatus;
use gantry_core::github::CheckConclusion;
use gantry_core::logging::error_chain;
use tracing::warn;

impl StatusHandler {
    pub(crate) async fn add_test_results(&self, post: &mut Post, snapshot: &BuildSnapshot) {
        if !self.github.is_app()
            || post.check.conclusion.is_none()
            || snapshot.report_arns.is_empty()
        {
            return;
        }
        let mut reports = match self.reader.test_reports(&snapshot.report_arns).await {
            Ok(reports) => reports,
            Err(err) => {
                warn!(error = %error_chain(&err), "test reports not read; the check run is posted without them");
                return;
            }
        };
        if let Some(evidence) = &self.evidence {
            for err in evidence.place_failed_tests(&mut reports).await {
                warn!(error = %error_chain(&err), "raw test report not read; its failed tests are annotated only where their messages name a file and line");
            }
        }
        let (text, annotations) = mapping::tests_section::section(&reports);
        post.check.summary.push_str(&text);
        post.check.annotations.extend(annotations);
    }

    /// `lines`: how many the build's project opted in to (`None`: none).
    pub(crate) async fn add_build_log(
        &self,
        post: &mut Post,
        build: &BuildSnapshot,
        lines: Option<u16>,
    ) {
        let (Some(lines), Some(evidence)) = (lines, &self.evidence) else {
            return;
        };
        if !self.github.is_app() || !failed(post.check.conclusion) {
            return;
        }
        let Some(stream) = &build.log_stream else {
            warn!(build = %build.id, "the build has no CloudWatch Logs stream; its check run is posted without its log");
            return;
        };
        match evidence.log_tail(stream, lines).await {
            Ok(tail) if tail.is_empty() => {}
            Ok(tail) => post.check.text = Some(mapping::log_section::text(&build.id, &tail)),
            Err(err) => {
                warn!(error = %error_chain(&err), "build log not read; the check run is posted without it");
            }
        }
    }

    /// A failed execution's (or `stage`'s) log: that of the first failed
    /// CodeBuild action's build.
    pub(crate) async fn add_action_log(
        &self,
        post: &mut Post,
        actions: &[ActionSnapshot],
        stage: Option<&str>,
        lines: Option<u16>,
    ) {
        if lines.is_none() || self.evidence.is_none() || !failed(post.check.conclusion) {
            return;
        }
        let Some(build_id) = actions
            .iter()
            .filter(|a| stage.is_none_or(|stage| a.stage == stage))
            .filter(|a| a.status == ActionExecutionStatus::Failed)
            .find_map(|a| a.build_id.as_deref())
        else {
            return;
        };
        match self.reader.build(build_id).await {
            Ok(Some(build)) => self.add_build_log(post, &build, lines).await,
            Ok(None) => {
                warn!(build = %build_id, "CodeBuild does not know the failed action's build; the check run is posted without its log")
            }
            Err(err) => {
                warn!(error = %error_chain(&err), "the failed action's build not read; the check run is posted without its log");
            }
        }
    }
}

/// Only a failure's log helps a reviewer; a success's would only make the
/// run longer.
fn failed(conclusion: Option<CheckConclusion>) -> bool {
    matches!(
        conclusion,
        Some(CheckConclusion::Failure | CheckConclusion::TimedOut)
    )
}
