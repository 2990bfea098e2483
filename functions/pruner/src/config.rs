//! The retention policy, read and checked once per container. Errors name the
//! setting and the rule.

use gantry_core::config::{self, ConfigError};
use serde::Deserialize;

pub const BUCKET: &str = "GANTRY_ARTIFACT_BUCKET";
pub const PIPELINES: &str = "GANTRY_PIPELINES";
pub const POLICY: &str = "GANTRY_PRUNE_POLICY";
pub const DRY_RUN: &str = "GANTRY_DRY_RUN";
/// The prefixes the function's role may delete under (the template builds the
/// role's resources from the same list).
pub const ALLOWED_PREFIXES: &str = "GANTRY_PRUNE_ALLOWED_PREFIXES";

pub const DEFAULT_KEEP_NEWEST: usize = 10;
pub const DEFAULT_KEEP_DAYS: u32 = 14;
/// CodePipeline names an artifact `<first 20 characters of the pipeline name>/<artifact>/<id>`.
const PIPELINE_PREFIX_CHARS: usize = 20;

/// One prefix of one bucket and how much of it to keep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub label: String,
    pub bucket: String,
    pub prefix: String,
    /// The pipeline whose running and last successful executions' artifacts are protected.
    pub pipeline: Option<String>,
    pub keep_newest: usize,
    pub keep_days: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrunerConfig {
    pub rules: Vec<Rule>,
    pub dry_run: bool,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct PolicyDocument {
    keep_newest: Option<usize>,
    keep_days: Option<u32>,
    rules: Option<Vec<RuleDocument>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleDocument {
    bucket: Option<String>,
    prefix: Option<String>,
    pipeline: Option<String>,
    keep_newest: Option<usize>,
    keep_days: Option<u32>,
}

impl PrunerConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        let bucket = config::required(BUCKET)?;
        let pipelines = config::optional(PIPELINES)?;
        let policy = config::optional(POLICY)?;
        let mut parsed = PrunerConfig::parse(&bucket, pipelines.as_deref(), policy.as_deref())?;
        parsed.dry_run = config::flag(DRY_RUN)?;
        if let Some(allowed) = config::optional(ALLOWED_PREFIXES)? {
            parsed.check_allowed(&bucket, &allowed)?;
        }
        Ok(parsed)
    }

    /// Every rule must prune within `allowed` (comma-separated prefixes of
    /// `bucket`): a rule outside it would have each deletion refused by the
    /// role, so it fails the cold start instead, naming the rule.
    pub fn check_allowed(&self, bucket: &str, allowed: &str) -> Result<(), ConfigError> {
        let allowed: Vec<&str> = allowed
            .split(',')
            .map(str::trim)
            .filter(|prefix| !prefix.is_empty())
            .collect();
        for rule in &self.rules {
            let inside = rule.bucket == bucket
                && allowed.iter().any(|prefix| rule.prefix.starts_with(prefix));
            if !inside {
                return Err(ConfigError::Invalid {
                    name: ALLOWED_PREFIXES,
                    reason: format!(
                        "{}: s3://{}/{} is outside the prefixes the pruner may delete under ({}); add it to the stack's PrunePrefixes",
                        rule.label,
                        rule.bucket,
                        rule.prefix,
                        allowed.join(", ")
                    ),
                });
            }
        }
        Ok(())
    }

    /// `pipelines`: comma-separated names, each a rule with the policy's defaults,
    /// unless the policy lists its own `rules`.
    pub fn parse(
        bucket: &str,
        pipelines: Option<&str>,
        policy: Option<&str>,
    ) -> Result<Self, ConfigError> {
        let invalid = |reason: String| ConfigError::Invalid {
            name: POLICY,
            reason,
        };
        let document: PolicyDocument = match policy {
            Some(text) => {
                let deserializer = &mut serde_json::Deserializer::from_str(text);
                serde_path_to_error::deserialize(deserializer)
                    .map_err(|err| invalid(format!("at {}: {}", err.path(), err.inner())))?
            }
            None => PolicyDocument::default(),
        };
        let keep_newest = document.keep_newest.unwrap_or(DEFAULT_KEEP_NEWEST);
        let keep_days = document.keep_days.unwrap_or(DEFAULT_KEEP_DAYS);
        let documents = match document.rules {
            Some(rules) => rules,
            None => pipelines
                .unwrap_or("")
                .split(',')
                .map(str::trim)
                .filter(|name| !name.is_empty())
                .map(|name| RuleDocument {
                    bucket: None,
                    prefix: None,
                    pipeline: Some(name.to_owned()),
                    keep_newest: None,
                    keep_days: None,
                })
                .collect(),
        };
        if documents.is_empty() {
            return Err(ConfigError::Invalid {
                name: PIPELINES,
                reason: format!("no pipelines to prune: set {PIPELINES} or rules in {POLICY}"),
            });
        }
        let mut rules: Vec<Rule> = Vec::new();
        for (index, rule) in documents.into_iter().enumerate() {
            let label = format!("rules[{index}]");
            let prefix = match (&rule.prefix, &rule.pipeline) {
                (Some(prefix), _) => prefix.clone(),
                (None, Some(pipeline)) => pipeline_prefix(pipeline),
                (None, None) => return Err(invalid(format!("{label}: set prefix or pipeline"))),
            };
            let rule = Rule {
                label: match &rule.pipeline {
                    Some(pipeline) => format!("{label} ({pipeline})"),
                    None => label,
                },
                bucket: rule.bucket.unwrap_or_else(|| bucket.to_owned()),
                prefix,
                pipeline: rule.pipeline,
                keep_newest: rule.keep_newest.unwrap_or(keep_newest),
                keep_days: rule.keep_days.unwrap_or(keep_days),
            };
            if rule.prefix.is_empty() || !rule.prefix.ends_with('/') {
                return Err(invalid(format!(
                    "{}: prefix {:?} must be a folder ending in '/': an empty prefix would prune the whole bucket",
                    rule.label, rule.prefix
                )));
            }
            if rule.keep_newest == 0 {
                return Err(invalid(format!(
                    "{}: keep_newest must be at least 1",
                    rule.label
                )));
            }
            if rule.keep_days == 0 {
                return Err(invalid(format!(
                    "{}: keep_days must be at least 1, so artifacts of executions that start during a run are never deleted",
                    rule.label
                )));
            }
            if let Some(other) = rules.iter().find(|other| {
                other.bucket == rule.bucket
                    && (other.prefix.starts_with(&rule.prefix)
                        || rule.prefix.starts_with(&other.prefix))
            }) {
                return Err(invalid(format!(
                    "{}: prefix {:?} overlaps {} ({:?}) in bucket {}",
                    rule.label, rule.prefix, other.label, other.prefix, rule.bucket
                )));
            }
            rules.push(rule);
        }
        Ok(PrunerConfig {
            rules,
            dry_run: false,
        })
    }
}

pub fn pipeline_prefix(pipeline: &str) -> String {
    let mut prefix: String = pipeline.chars().take(PIPELINE_PREFIX_CHARS).collect();
    prefix.push('/');
    prefix
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_must_lie_within_the_allowed_prefixes() {
        let config = PrunerConfig::parse(
            "artifacts",
            None,
            Some(r#"{"rules": [{"pipeline": "app-pipeline"}, {"prefix": "nightly-builds/web/"}]}"#),
        )
        .unwrap();
        assert!(config
            .check_allowed("artifacts", "app-pipeline/, nightly-builds/")
            .is_ok());
        let err = config
            .check_allowed("artifacts", "app-pipeline/")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("GANTRY_PRUNE_ALLOWED_PREFIXES")
                && err.contains("rules[1]")
                && err.contains("nightly-builds/web/"),
            "{err}"
        );
        // Another bucket is outside the role's bucket, whatever its prefix.
        assert!(config
            .check_allowed("other-bucket", "app-pipeline/,nightly-builds/")
            .is_err());
        // An empty list allows nothing.
        assert!(config.check_allowed("artifacts", " , ").is_err());
    }

    fn error(pipelines: Option<&str>, policy: &str) -> String {
        PrunerConfig::parse("bucket", pipelines, Some(policy))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn pipelines_become_rules_with_codepipelines_key_prefix() {
        let config =
            PrunerConfig::parse("artifacts", Some("app, a-pipeline-with-a-long-name"), None)
                .unwrap();
        assert_eq!(config.rules.len(), 2);
        assert_eq!(config.rules[0].prefix, "app/");
        assert_eq!(config.rules[1].prefix, "a-pipeline-with-a-lo/");
        assert_eq!(
            config.rules[1].pipeline.as_deref(),
            Some("a-pipeline-with-a-long-name")
        );
        assert_eq!(
            (config.rules[0].keep_newest, config.rules[0].keep_days),
            (DEFAULT_KEEP_NEWEST, DEFAULT_KEEP_DAYS)
        );

        let config = PrunerConfig::parse(
            "artifacts",
            Some("ignored"),
            Some(r#"{"keep_days": 3, "rules": [{"prefix": "builds/", "keep_newest": 2}, {"pipeline": "app", "bucket": "other"}]}"#),
        )
        .unwrap();
        assert_eq!(config.rules[0].prefix, "builds/");
        assert_eq!(
            (config.rules[0].keep_newest, config.rules[0].keep_days),
            (2, 3)
        );
        assert_eq!(config.rules[1].bucket, "other");
    }

    #[test]
    fn errors_name_the_setting_and_the_rule() {
        assert!(error(None, r#"{"rules": [{"prefix": ""}]}"#)
            .contains("GANTRY_PRUNE_POLICY is invalid: rules[0]: prefix \"\" must be a folder"));
        assert!(
            error(None, r#"{"rules": [{"prefix": "a/", "keep_newest": 0}]}"#)
                .contains("rules[0]: keep_newest must be at least 1")
        );
        assert!(
            error(None, r#"{"rules": [{"prefix": "a/", "keep_days": 0}]}"#)
                .contains("keep_days must be at least 1")
        );
        assert!(
            error(None, r#"{"rules": [{"prefix": "a/"}, {"prefix": "a/b/"}]}"#)
                .contains("rules[1]: prefix \"a/b/\" overlaps rules[0]")
        );
        assert!(error(None, r#"{"rules": [{"keep_days": 1}]}"#)
            .contains("rules[0]: set prefix or pipeline"));
        assert!(error(None, r#"{"rules": [{"prefix": "a/", "keep": 1}]}"#).contains("rules[0]"));
        let none = PrunerConfig::parse("bucket", None, None)
            .unwrap_err()
            .to_string();
        assert!(none.contains("GANTRY_PIPELINES"), "{none}");
    }
}
