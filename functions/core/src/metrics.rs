//! CloudWatch metrics as Embedded Metric Format log lines: printed to stdout,
//! turned into metrics by CloudWatch Logs, so they cost no API call and no
//! permission beyond the function's logs. The template alarms on them.

use serde_json::{json, Map, Value};
use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

/// Every Gantry metric's namespace.
pub const NAMESPACE: &str = "Gantry";

/// The failures an operator must fix that no retry or queue would show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// GitHub refused a status for good (token without access, unknown commit).
    GitHubRejected,
    /// A delivery the webhook failed stayed undelivered after the last
    /// redelivery `redeliver` may ask for.
    DeliveryAbandoned,
}

impl Metric {
    pub fn name(self) -> &'static str {
        match self {
            Metric::GitHubRejected => "GitHubRejected",
            Metric::DeliveryAbandoned => "DeliveryAbandoned",
        }
    }
}

/// One EMF line counting `metric` once for `function`, its one dimension
/// (`FunctionName`, so two stacks in an account alarm apart), with `properties`
/// (searchable in Logs Insights, not dimensions).
pub fn emf_line(
    metric: Metric,
    function: &str,
    properties: &[(&str, Value)],
    now: SystemTime,
) -> String {
    let mut line = Map::new();
    line.insert(
        "_aws".into(),
        json!({
            "Timestamp": now.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis() as u64,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["FunctionName"]],
                "Metrics": [{"Name": metric.name(), "Unit": "Count"}],
            }],
        }),
    );
    for (name, value) in properties {
        line.insert((*name).to_owned(), value.clone());
    }
    line.insert("FunctionName".into(), Value::from(function));
    // Lambda's JSON log format counts a line without a level as INFO and drops
    // it when the function's level is WARN or above: the alarm would go blind.
    line.insert("level".into(), Value::from("ERROR"));
    line.insert(metric.name().into(), Value::from(1));
    Value::Object(line).to_string()
}

/// Counts `metric` once, for the function Lambda says this is.
pub fn count(metric: Metric, properties: &[(&str, Value)]) {
    let function = std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| "local".into());
    let line = emf_line(metric, &function, properties, SystemTime::now());
    // Straight to stdout, past the log filter: a metric must not depend on RUST_LOG.
    let mut stdout = std::io::stdout().lock();
    if writeln!(stdout, "{line}")
        .and_then(|()| stdout.flush())
        .is_err()
    {
        tracing::error!(metric = metric.name(), "metric line could not be written");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_line_is_embedded_metric_format() {
        let line = emf_line(
            Metric::GitHubRejected,
            "gantry-status",
            &[
                ("status", Value::from(404)),
                ("repository", Value::from("o/r")),
            ],
            UNIX_EPOCH + Duration::from_millis(1_700_000_000_123),
        );
        let parsed: Value = serde_json::from_str(&line).unwrap();
        let directive = &parsed["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(parsed["_aws"]["Timestamp"], 1_700_000_000_123u64);
        assert_eq!(directive["Namespace"], "Gantry");
        assert_eq!(directive["Dimensions"], json!([["FunctionName"]]));
        assert_eq!(
            directive["Metrics"][0],
            json!({"Name": "GitHubRejected", "Unit": "Count"})
        );
        // Every dimension and metric named in the directive is a member of the line.
        assert_eq!(parsed["FunctionName"], "gantry-status");
        assert_eq!(parsed["GitHubRejected"], 1);
        assert_eq!(parsed["status"], 404);
        assert_eq!(parsed["level"], "ERROR", "kept at every Lambda log level");
        assert!(!line.contains('\n'));
    }
}
