//! One scheduled run: for each rule, one prefix at a time (memory follows one
//! pipeline's history, not the bucket's), find what is protected, list, plan,
//! and delete unless this is a dry run. Every run ends with a summary.

use crate::budget::Budget;
use crate::config::{PrunerConfig, Rule};
use crate::plan::{self, Kept, Tally};
use crate::protect::{self, ProtectError, Protector};
use crate::store::Store;
use gantry_core::logging::error_chain;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use tokio::sync::OnceCell;
use tracing::{error, info, info_span, warn, Instrument};

/// The schedule's input may override the configured dry-run setting:
/// `{"dry_run": true}`. A plain scheduled event (or no input) leaves it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunInput {
    pub dry_run: Option<bool>,
}

/// An input that is neither a scheduled event nor `{"dry_run": bool}`: a typo
/// (`"dryRun"`, `"true"`) must not turn a dry run into a real one unnoticed.
#[derive(Debug, thiserror::Error)]
#[error("the run's input is neither a scheduled event nor {{\"dry_run\": true|false}}: {0}")]
pub struct InputError(#[source] serde_json::Error);

impl RunInput {
    pub fn from_payload(payload: serde_json::Value) -> Result<RunInput, InputError> {
        let is_scheduled_event = payload.get("detail-type").is_some();
        if payload.is_null() || is_scheduled_event {
            return Ok(RunInput::default());
        }
        serde_json::from_value(payload).map_err(InputError)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub dry_run: bool,
    /// False when the run stopped at its deadline; the next run carries on.
    pub complete: bool,
    pub examined: Tally,
    pub kept: Kept,
    /// Deleted, or in a dry run, what would have been deleted.
    pub deleted: Tally,
    pub failed: Tally,
    pub rules: Vec<RuleSummary>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RuleSummary {
    pub rule: String,
    pub bucket: String,
    pub prefix: String,
    pub complete: bool,
    pub examined: Tally,
    pub kept: Kept,
    pub deleted: Tally,
    pub failed: Tally,
    /// Exactly what would go, in a dry run (capped to keep the answer small).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub would_delete: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Keys listed per rule in a dry run's answer; the log has every one.
const DRY_RUN_LISTED: usize = 100;

#[derive(Debug, thiserror::Error)]
#[error("pruning finished with errors: {0}")]
pub struct PruneError(pub String);

pub struct Pruner {
    config: PrunerConfig,
    store: Store,
    protector: Protector,
}

impl Pruner {
    pub fn new(config: PrunerConfig, store: Store, protector: Protector) -> Self {
        Pruner {
            config,
            store,
            protector,
        }
    }

    /// Runs every rule; `Err` (after logging the summary) when a rule could not
    /// be planned or a deletion failed, so the failure reaches an operator.
    pub async fn run(
        &self,
        input: RunInput,
        budget: &Budget,
        now: i64,
    ) -> Result<Summary, PruneError> {
        let dry_run = input.dry_run.unwrap_or(self.config.dry_run);
        let mut summary = Summary {
            dry_run,
            complete: true,
            ..Summary::default()
        };
        let account_pipelines = OnceCell::new();
        for rule in &self.config.rules {
            let span = info_span!("rule", rule = %rule.label, bucket = %rule.bucket, prefix = %rule.prefix, pipeline = rule.pipeline.as_deref().unwrap_or("-"));
            let result = self
                .run_rule(rule, dry_run, &account_pipelines, budget, now)
                .instrument(span)
                .await;
            summary.complete &= result.complete;
            summary.examined.merge(result.examined);
            summary.kept.merge(result.kept);
            summary.deleted.merge(result.deleted);
            summary.failed.merge(result.failed);
            summary.rules.push(result);
            if !summary.complete {
                break;
            }
        }
        let errors: Vec<String> = summary
            .rules
            .iter()
            .filter_map(|r| r.error.as_ref().map(|e| format!("{}: {e}", r.rule)))
            .collect();
        let report = serde_json::to_string(&summary).unwrap_or_default();
        if errors.is_empty() {
            info!(summary = %report, dry_run, complete = summary.complete, "prune finished");
            Ok(summary)
        } else {
            error!(summary = %report, "prune finished with errors");
            Err(PruneError(errors.join("; ")))
        }
    }

    /// The artifacts in use of every pipeline that may write under the rule's
    /// prefix, not only the one it names: a pipeline named alike shares it.
    /// `None` when the run's time ran out before they were all read.
    async fn protected_keys(
        &self,
        rule: &Rule,
        account: &OnceCell<Vec<String>>,
        budget: &Budget,
    ) -> Result<Option<HashSet<String>>, ProtectError> {
        let account = account
            .get_or_try_init(|| self.protector.pipelines())
            .await?;
        let pipelines = protect::pipelines_under(account, &rule.prefix, rule.pipeline.as_deref());
        let mut keys = HashSet::new();
        for pipeline in &pipelines {
            if !budget.time_left() {
                return Ok(None);
            }
            keys.extend(
                self.protector
                    .protected_keys(pipeline, &rule.bucket)
                    .await?,
            );
        }
        if !pipelines.is_empty() {
            info!(pipelines = ?pipelines, protected = keys.len(), "artifacts in use read");
        }
        Ok(Some(keys))
    }

    async fn run_rule(
        &self,
        rule: &Rule,
        dry_run: bool,
        account: &OnceCell<Vec<String>>,
        budget: &Budget,
        now: i64,
    ) -> RuleSummary {
        let mut result = RuleSummary {
            rule: rule.label.clone(),
            bucket: rule.bucket.clone(),
            prefix: rule.prefix.clone(),
            ..RuleSummary::default()
        };
        // Protection first: an object an execution makes after this point is
        // younger than keep_days (at least a day) and so is kept anyway.
        let protected = match self.protected_keys(rule, account, budget).await {
            Ok(Some(keys)) => keys,
            Ok(None) => {
                info!(
                    "deadline reached while reading the artifacts in use; the next run carries on"
                );
                result.complete = false;
                return result;
            }
            Err(err) => {
                // Without knowing what is in use, nothing under this prefix may go.
                result.error = Some(error_chain(&err));
                result.complete = !err.source.is_transient();
                warn!(error = %error_chain(&err), "rule skipped: cannot tell which artifacts are in use");
                return result;
            }
        };
        let listing = match self
            .store
            .list_versions(&rule.bucket, &rule.prefix, budget)
            .await
        {
            Ok(listing) => listing,
            Err(err) => {
                result.error = Some(error_chain(&err));
                result.complete = !err.source.is_transient();
                return result;
            }
        };
        if !listing.complete {
            // A partial listing cannot rank the newest artifacts: decide nothing.
            info!(
                listed = listing.versions.len(),
                "deadline reached while listing; the next run carries on"
            );
            return result;
        }
        let plan = plan::plan(rule, listing.versions, &protected, now);
        result.examined = plan.examined;
        result.kept = plan.kept;
        if dry_run {
            result.deleted = plan.delete_tally();
            result.complete = true;
            for version in &plan.delete {
                info!(key = %version.key, version = version.version_id.as_deref().unwrap_or("-"), bytes = version.size, "would delete");
            }
            result.would_delete = plan
                .delete
                .iter()
                .take(DRY_RUN_LISTED)
                .map(|v| v.key.to_string())
                .collect();
            return result;
        }
        let outcome = self.store.delete(&rule.bucket, &plan.delete, budget).await;
        result.deleted = outcome.deleted;
        result.complete = outcome.not_attempted.objects == 0;
        for failure in &outcome.failed {
            result.failed.objects += 1;
            warn!(key = %failure.key, version = failure.version_id.as_deref().unwrap_or("-"), code = %failure.code, message = %failure.message, "delete failed");
        }
        if let Some(first) = outcome.failed.first() {
            result.error = Some(format!(
                "{} deletions failed; first: {} ({}: {})",
                outcome.failed.len(),
                first.key,
                first.code,
                first.message
            ));
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::RunInput;
    use serde_json::json;

    fn scheduled_event() -> serde_json::Value {
        let file = format!(
            "{}/../../events/aws/eventbridge-event.docs.json",
            env!("CARGO_MANIFEST_DIR")
        );
        serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap()
    }

    #[test]
    fn a_scheduled_event_or_no_input_keeps_the_configured_mode() {
        assert_eq!(
            RunInput::from_payload(scheduled_event()).unwrap().dry_run,
            None
        );
        assert_eq!(RunInput::from_payload(json!(null)).unwrap().dry_run, None);
        assert_eq!(RunInput::from_payload(json!({})).unwrap().dry_run, None);
    }

    #[test]
    fn dry_run_input_overrides_the_mode() {
        assert_eq!(
            RunInput::from_payload(json!({"dry_run": true}))
                .unwrap()
                .dry_run,
            Some(true)
        );
        assert_eq!(
            RunInput::from_payload(json!({"dry_run": false}))
                .unwrap()
                .dry_run,
            Some(false)
        );
    }

    #[test]
    fn a_mistyped_input_is_refused_not_ignored() {
        for input in [
            json!({"dry_run": "true"}),
            json!({"dryRun": true}),
            json!("dry_run"),
        ] {
            let err = RunInput::from_payload(input.clone()).unwrap_err();
            assert!(err.to_string().contains("dry_run"), "{input}: {err}");
        }
    }
}
