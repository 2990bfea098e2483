//! The status function's settings, read and checked once per container.

use crate::mapping::log_section::MAX_LOG_LINES;
use gantry_core::config::{self, ConfigError};
use gantry_core::github::DEFAULT_API_URL;
use gantry_core::ledger::LEDGER_TABLE;
use gantry_core::secret::{self, SecretSource};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;

pub const TOKEN_ARN: &str = "GANTRY_GITHUB_TOKEN_ARN";
pub const TOKEN: &str = "GANTRY_GITHUB_TOKEN";
/// App mode: the App's id (or client id), and its private key (PEM).
pub const APP_ID: &str = "GANTRY_GITHUB_APP_ID";
pub const APP_KEY_ARN: &str = "GANTRY_GITHUB_APP_KEY_ARN";
pub const APP_KEY: &str = "GANTRY_GITHUB_APP_KEY";
pub const API_URL: &str = "GANTRY_GITHUB_API_URL";
pub const STATUS_CONFIG: &str = "GANTRY_STATUS_CONFIG";

/// Prefix of every default context: `gantry/<pipeline or project>`.
pub const CONTEXT_PREFIX: &str = "gantry";

#[derive(Debug, Clone)]
pub struct StatusSettings {
    pub credential: Credential,
    /// How long a secret (the token or the App's key) is used before it is read again.
    pub secret_ttl: Duration,
    pub api_url: String,
    pub statuses: StatusConfig,
    /// The ledger, which App mode needs for its check runs' ids.
    pub ledger_table: Option<String>,
}

/// How `status` authenticates to GitHub: commit statuses with a token, or
/// check runs as a GitHub App.
#[derive(Debug, Clone)]
pub enum Credential {
    Token(SecretSource),
    App { app_id: String, key: SecretSource },
}

/// `GANTRY_STATUS_CONFIG`: contexts and granularity per pipeline and project.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct StatusConfig {
    #[serde(default)]
    pub pipelines: BTreeMap<String, PipelineStatus>,
    #[serde(default)]
    pub projects: BTreeMap<String, ProjectStatus>,
    /// Post only for the pipelines and projects listed here; others are ignored.
    #[serde(default)]
    pub listed_only: bool,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PipelineStatus {
    pub context: Option<String>,
    /// One status per stage (`<context>/<stage>`) instead of one per pipeline.
    #[serde(default)]
    pub per_stage: bool,
    /// App mode: the failed build's last lines in its check run (opt-in:
    /// check output is public on a public repository).
    pub log_lines: Option<u16>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ProjectStatus {
    pub context: Option<String>,
    /// As for pipelines: the failed build's last lines, opted in.
    pub log_lines: Option<u16>,
}

impl StatusSettings {
    pub fn from_env() -> Result<Self, ConfigError> {
        let statuses = match config::optional(STATUS_CONFIG)? {
            Some(document) => StatusConfig::parse(&document)?,
            None => StatusConfig::default(),
        };
        let api_url = config::optional(API_URL)?.unwrap_or_else(|| DEFAULT_API_URL.to_owned());
        match url::Url::parse(&api_url) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => {}
            _ => {
                return Err(ConfigError::Invalid {
                    name: API_URL,
                    reason: format!("{api_url:?} is not an http(s) URL (GitHub Enterprise Server: https://HOST/api/v3)"),
                })
            }
        }
        let credential = credential_from_env()?;
        let ledger_table = match credential {
            Credential::App { .. } => Some(config::required(LEDGER_TABLE)?),
            Credential::Token(_) => config::optional(LEDGER_TABLE)?,
        };
        Ok(StatusSettings {
            credential,
            secret_ttl: secret::ttl_from_env()?,
            api_url,
            statuses,
            ledger_table,
        })
    }
}

/// App mode when `GANTRY_GITHUB_APP_ID` is set; token mode otherwise. The
/// two are never mixed, so which one is in use is never a guess.
fn credential_from_env() -> Result<Credential, ConfigError> {
    let app_id = config::optional(APP_ID)?;
    let token_set = config::optional(TOKEN_ARN)?.is_some() || config::optional(TOKEN)?.is_some();
    let key_set = config::optional(APP_KEY_ARN)?.is_some() || config::optional(APP_KEY)?.is_some();
    match app_id {
        Some(app_id) => {
            let app_id = app_id.trim().to_owned();
            if app_id.is_empty() || app_id.contains(char::is_whitespace) {
                return Err(ConfigError::Invalid {
                    name: APP_ID,
                    reason: "expected the App's id (a number) or its client id".into(),
                });
            }
            if token_set {
                return Err(ConfigError::Invalid {
                    name: APP_ID,
                    reason: format!(
                        "set {APP_ID} (App mode) or {TOKEN_ARN}/{TOKEN} (token mode), not both"
                    ),
                });
            }
            Ok(Credential::App {
                app_id,
                key: SecretSource::from_env(APP_KEY_ARN, APP_KEY)?,
            })
        }
        None if key_set => Err(ConfigError::Invalid {
            name: APP_ID,
            reason: format!("{APP_KEY_ARN} or {APP_KEY} is set: App mode needs {APP_ID} too"),
        }),
        None => Ok(Credential::Token(SecretSource::from_env(TOKEN_ARN, TOKEN)?)),
    }
}

impl StatusConfig {
    pub fn parse(document: &str) -> Result<Self, ConfigError> {
        let deserializer = &mut serde_json::Deserializer::from_str(document);
        let config: StatusConfig =
            serde_path_to_error::deserialize(deserializer).map_err(|err| ConfigError::Invalid {
                name: STATUS_CONFIG,
                reason: format!("at {}: {}", err.path(), err.inner()),
            })?;
        let contexts = config
            .pipelines
            .iter()
            .map(|(name, p)| (format!("pipelines.{name}"), &p.context))
            .chain(
                config
                    .projects
                    .iter()
                    .map(|(name, p)| (format!("projects.{name}"), &p.context)),
            );
        for (entry, context) in contexts {
            if context.as_deref().is_some_and(|c| c.trim().is_empty()) {
                return Err(ConfigError::Invalid {
                    name: STATUS_CONFIG,
                    reason: format!("{entry}.context is empty; omit it for the default"),
                });
            }
        }
        let log_lines = config
            .pipelines
            .iter()
            .map(|(name, p)| (format!("pipelines.{name}"), p.log_lines))
            .chain(
                config
                    .projects
                    .iter()
                    .map(|(name, p)| (format!("projects.{name}"), p.log_lines)),
            );
        for (entry, lines) in log_lines {
            if lines.is_some_and(|n| n == 0 || n > MAX_LOG_LINES) {
                return Err(ConfigError::Invalid {
                    name: STATUS_CONFIG,
                    reason: format!(
                        "{entry}.log_lines must be 1 to {MAX_LOG_LINES}; omit it to show no log"
                    ),
                });
            }
        }
        Ok(config)
    }

    /// `None` when the pipeline is not to get statuses at all.
    pub fn pipeline(&self, name: &str) -> Option<(String, bool)> {
        match self.pipelines.get(name) {
            Some(p) => Some((
                p.context.clone().unwrap_or_else(|| default_context(name)),
                p.per_stage,
            )),
            None if self.listed_only => None,
            None => Some((default_context(name), false)),
        }
    }

    pub fn project(&self, name: &str) -> Option<String> {
        match self.projects.get(name) {
            Some(p) => Some(p.context.clone().unwrap_or_else(|| default_context(name))),
            None if self.listed_only => None,
            None => Some(default_context(name)),
        }
    }
}

impl StatusConfig {
    /// How many of a failed build's last log lines the pipeline's check runs show.
    pub fn pipeline_log_lines(&self, name: &str) -> Option<u16> {
        self.pipelines.get(name).and_then(|p| p.log_lines)
    }

    pub fn project_log_lines(&self, name: &str) -> Option<u16> {
        self.projects.get(name).and_then(|p| p.log_lines)
    }
}

fn default_context(name: &str) -> String {
    format!("{CONTEXT_PREFIX}/{name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contexts_default_and_can_be_set() {
        let config = StatusConfig::parse(
            r#"{"pipelines": {"app": {"context": "ci/app", "per_stage": true}}, "projects": {"lint": {}}}"#,
        )
        .unwrap();
        assert_eq!(config.pipeline("app"), Some(("ci/app".into(), true)));
        assert_eq!(
            config.pipeline("other"),
            Some(("gantry/other".into(), false))
        );
        assert_eq!(config.project("lint"), Some("gantry/lint".into()));

        let listed =
            StatusConfig::parse(r#"{"projects": {"lint": {}}, "listed_only": true}"#).unwrap();
        assert_eq!(listed.project("lint"), Some("gantry/lint".into()));
        assert_eq!(listed.project("other"), None);
        assert_eq!(listed.pipeline("app"), None);
    }

    #[test]
    fn errors_name_the_setting_and_entry() {
        let err = StatusConfig::parse(r#"{"pipelines": {"app": {"contxt": "x"}}}"#)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("GANTRY_STATUS_CONFIG") && err.contains("pipelines.app"),
            "{err}"
        );
        let err = StatusConfig::parse(r#"{"projects": {"lint": {"context": " "}}}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("projects.lint.context is empty"), "{err}");
        for lines in ["0", "201"] {
            let err = StatusConfig::parse(&format!(
                r#"{{"projects": {{"app": {{"log_lines": {lines}}}}}}}"#
            ))
            .unwrap_err()
            .to_string();
            assert!(
                err.contains("projects.app.log_lines must be 1 to 200"),
                "{err}"
            );
        }
    }

    #[test]
    fn log_lines_are_shown_only_where_asked_for() {
        let config = StatusConfig::parse(
            r#"{"pipelines": {"app": {"log_lines": 50}, "docs": {}}, "projects": {"lint": {"log_lines": 200}}}"#,
        )
        .unwrap();
        assert_eq!(config.pipeline_log_lines("app"), Some(50));
        assert_eq!(config.pipeline_log_lines("docs"), None);
        assert_eq!(config.pipeline_log_lines("other"), None);
        assert_eq!(config.project_log_lines("lint"), Some(200));
        assert_eq!(config.project_log_lines("app"), None);
    }
}
