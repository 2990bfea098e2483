//! Reading settings from the environment. Every error names the variable, so a
//! misconfigured function fails its cold start with a message an operator can act on.

use std::env;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("missing required setting {name}")]
    Missing { name: &'static str },
    #[error("setting {name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
    #[error("missing required setting: set {first} or {second}")]
    MissingOneOf {
        first: &'static str,
        second: &'static str,
    },
    #[error("set only one of {first} and {second}")]
    Conflict {
        first: &'static str,
        second: &'static str,
    },
}

/// An optional variable; set but empty counts as unset so templates can pass "".
pub fn optional(name: &'static str) -> Result<Option<String>, ConfigError> {
    match env::var(name) {
        Ok(value) if value.trim().is_empty() => Ok(None),
        Ok(value) => Ok(Some(value)),
        Err(env::VarError::NotPresent) => Ok(None),
        Err(env::VarError::NotUnicode(_)) => Err(ConfigError::Invalid {
            name,
            reason: "not valid UTF-8".into(),
        }),
    }
}

pub fn required(name: &'static str) -> Result<String, ConfigError> {
    optional(name)?.ok_or(ConfigError::Missing { name })
}

/// Parses a boolean flag; accepts the spellings people put in templates.
pub fn flag(name: &'static str) -> Result<bool, ConfigError> {
    match optional(name)? {
        None => Ok(false),
        Some(value) => match value.trim().to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => Ok(true),
            "0" | "false" | "no" | "off" => Ok(false),
            other => Err(ConfigError::Invalid {
                name,
                reason: format!("expected true or false, got {other:?}"),
            }),
        },
    }
}

/// At cold start: the settings, or a JSON log line naming what is wrong and exit
/// status 1, which Lambda reports as an init failure.
pub fn or_exit<T>(settings: Result<T, ConfigError>, function: &str) -> T {
    settings.unwrap_or_else(|err| {
        tracing::error!(error = %err, "{function} is misconfigured");
        std::process::exit(1)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_names_the_variable() {
        let err = required("GANTRY_TEST_SURELY_UNSET").unwrap_err();
        assert_eq!(
            err.to_string(),
            "missing required setting GANTRY_TEST_SURELY_UNSET"
        );
    }
}
