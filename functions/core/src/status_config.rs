//! `GANTRY_STATUS_CONFIG`: the contexts (check-run names) Gantry reports
//! under, per pipeline and project. `status` posts under them; `trigger`
//! reads the same document, so what it reports before a build starts (a
//! fork's pull request waiting for a maintainer) lands under the same name.

use crate::config::ConfigError;
use serde::Deserialize;
use std::collections::BTreeMap;

pub const STATUS_CONFIG: &str = "GANTRY_STATUS_CONFIG";

/// Prefix of every default context: `gantry/<pipeline or project>`.
pub const CONTEXT_PREFIX: &str = "gantry";

/// The most log lines a pipeline or project may ask for: 200 lines of a
/// usual width fit GitHub's text field, and more are better read in the console.
pub const MAX_LOG_LINES: u16 = 200;

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

impl StatusConfig {
    /// The document in `GANTRY_STATUS_CONFIG`, or the defaults when it is unset.
    pub fn from_env() -> Result<Self, ConfigError> {
        match crate::config::optional(STATUS_CONFIG)? {
            Some(document) => StatusConfig::parse(&document),
            None => Ok(StatusConfig::default()),
        }
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
