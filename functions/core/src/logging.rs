//! Structured JSON logs. Handlers open a span carrying the delivery id,
//! repository, commit and pipeline, so every line inside it carries them too.

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, Layer};

/// Installs a JSON subscriber filtered by `RUST_LOG`, or else by the level
/// Lambda sets from the function's logging configuration (`AWS_LAMBDA_LOG_LEVEL`),
/// or else `info`. Safe to call more than once: later calls leave the first
/// subscriber in place.
pub fn init() {
    let layer = fmt::layer()
        .json()
        .with_current_span(true)
        .with_span_list(false)
        .flatten_event(true)
        .with_ansi(false)
        .with_target(false)
        .with_filter(filter(
            std::env::var("RUST_LOG").ok().as_deref(),
            std::env::var("AWS_LAMBDA_LOG_LEVEL").ok().as_deref(),
        ));
    let _ = tracing_subscriber::registry().with(layer).try_init();
}

/// `RUST_LOG` as levels per target (`info`, `warn,webhook=debug`): the
/// directives Lambda users write, without env-filter's regex engine, which
/// would add to every binary's size and start-up. Without it, Lambda's
/// application log level (`TRACE` ... `FATAL`); anything else: `info`.
pub fn filter(directives: Option<&str>, lambda_level: Option<&str>) -> Targets {
    // Empty parts ("info,", "") would read as "errors only": drop them.
    let cleaned: Option<String> = directives.map(|text| {
        text.split(',')
            .map(str::trim)
            .filter(|part| !part.is_empty())
            .collect::<Vec<_>>()
            .join(",")
    });
    cleaned
        .filter(|text| !text.is_empty())
        .and_then(|text| text.parse::<Targets>().ok())
        .unwrap_or_else(|| {
            Targets::new().with_default(
                lambda_level
                    .and_then(lambda_level_filter)
                    .unwrap_or(LevelFilter::INFO),
            )
        })
}

/// Lambda's level names; `FATAL` has no tracing level of its own.
fn lambda_level_filter(level: &str) -> Option<LevelFilter> {
    match level.trim().to_ascii_uppercase().as_str() {
        "TRACE" => Some(LevelFilter::TRACE),
        "DEBUG" => Some(LevelFilter::DEBUG),
        "INFO" => Some(LevelFilter::INFO),
        "WARN" => Some(LevelFilter::WARN),
        "ERROR" | "FATAL" => Some(LevelFilter::ERROR),
        _ => None,
    }
}

/// "outer: inner: root", so one log field carries the whole cause, down to the SDK's own reason.
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::Level;

    #[test]
    fn rust_log_sets_levels_per_target() {
        let default = filter(None, None);
        assert!(default.would_enable("webhook", &Level::INFO));
        assert!(!default.would_enable("webhook", &Level::DEBUG));
        let custom = filter(Some("warn,webhook=debug"), None);
        assert!(custom.would_enable("webhook", &Level::DEBUG));
        assert!(!custom.would_enable("aws_smithy_runtime", &Level::INFO));
        let unreadable = filter(Some("webhook=loud"), None);
        assert!(unreadable.would_enable("webhook", &Level::INFO));
        for sloppy in ["", " ", "info,", ",info"] {
            let sloppy_filter = filter(Some(sloppy), None);
            assert!(
                sloppy_filter.would_enable("webhook", &Level::INFO),
                "{sloppy:?}"
            );
            assert!(
                !sloppy_filter.would_enable("webhook", &Level::DEBUG),
                "{sloppy:?}"
            );
        }
    }

    #[test]
    fn lambdas_log_level_applies_when_rust_log_is_unset() {
        let debug = filter(None, Some("DEBUG"));
        assert!(debug.would_enable("status", &Level::DEBUG));
        assert!(!debug.would_enable("status", &Level::TRACE));
        let warn = filter(None, Some("WARN"));
        assert!(!warn.would_enable("status", &Level::INFO));
        assert!(warn.would_enable("status", &Level::WARN));
        assert!(!filter(None, Some("FATAL")).would_enable("status", &Level::WARN));
        // RUST_LOG, when set, is the more specific setting.
        assert!(filter(Some("error"), Some("DEBUG")).would_enable("status", &Level::ERROR));
        assert!(!filter(Some("error"), Some("DEBUG")).would_enable("status", &Level::DEBUG));
        assert!(filter(None, Some("LOUD")).would_enable("status", &Level::INFO));
    }
}
