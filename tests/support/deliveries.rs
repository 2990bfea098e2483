//! Webhook deliveries as GitHub lists them, for the stand-ins of `gantry
//! replay`, `gantry doctor` and `redeliver`: GitHub's documented example
//! delivery, changed only where a scenario needs.

use crate::rest::description;
use serde_json::Value;
use std::time::{SystemTime, UNIX_EPOCH};

/// `minutes` ago, as GitHub writes times.
pub fn ago(minutes: u64) -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
        .saturating_sub(minutes * 60);
    aws_smithy_types::DateTime::from_secs(secs as i64)
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap_or_default()
}

/// One attempt at delivering a push: `id`, its delivery's `guid`, when, whether
/// it was a redelivery, and the webhook's answer.
pub fn attempt(id: u64, guid: &str, minutes_ago: u64, redelivery: bool, status_code: u16) -> Value {
    let mut item = description("hook-deliveries.response-200.json")[0].clone();
    item["id"] = id.into();
    item["guid"] = guid.into();
    item["delivered_at"] = ago(minutes_ago).into();
    item["redelivery"] = redelivery.into();
    item["status_code"] = status_code.into();
    item["status"] = match status_code {
        200..=299 => "OK".to_owned(),
        code => format!("Invalid HTTP Response: {code}"),
    }
    .into();
    item["event"] = "push".into();
    item["action"] = Value::Null;
    item
}
