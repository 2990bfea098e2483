//! Structured JSON logs. Handlers open a span carrying the delivery id,
//! repository, commit and pipeline, so every line inside it carries them too.

use tracing_subscriber::{fmt, EnvFilter};

/// Installs a JSON subscriber filtered by `RUST_LOG` (default `info`).
/// Safe to call more than once: later calls leave the first subscriber in place.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(true)
        .with_span_list(false)
        .flatten_event(true)
        .with_ansi(false)
        .with_target(false)
        .try_init();
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
