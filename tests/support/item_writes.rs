//! DynamoDB applies the writes to one item one at a time, so of two concurrent
//! conditional writes on the same condition only one succeeds. moto checks a
//! write's condition and applies it without a lock: with eight concurrent
//! `UpdateItem`s on one condition, 4 trials in 200 had two of them succeed.
//! Tests that race conditional writes therefore pass the writes to one item
//! on one at a time ([`ItemWrites`]), as DynamoDB would apply them, so that
//! what they count is Gantry's, not moto's.

use crate::fault_proxy::{FaultProxy, Unscripted, Upstream};
use crate::moto::Moto;
use aws_config::SdkConfig;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::OwnedMutexGuard;

/// `moto` behind a proxy that injects no faults and passes on each item's
/// writes one at a time, with an SDK config that calls it. Keep the proxy for
/// as long as the config is used.
pub async fn in_front_of(moto: &Moto) -> std::io::Result<(FaultProxy, SdkConfig)> {
    let proxy =
        FaultProxy::start(&moto.endpoint, Upstream::Aws, 0.0, 1, Arc::new(Unscripted)).await?;
    let sdk = moto
        .sdk_config()
        .await
        .to_builder()
        .endpoint_url(&proxy.url)
        .build();
    Ok((proxy, sdk))
}

/// One lock per item written; the map only grows (a test writes a few
/// thousand items at most).
#[derive(Default)]
pub struct ItemWrites {
    items: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl ItemWrites {
    /// Waits until no other write to the item `body` writes is under way, for
    /// a single-item write (`PutItem`, `UpdateItem`, `DeleteItem`); anything
    /// else passes at once. Hold the guard until the upstream has answered.
    pub async fn one_at_a_time(&self, operation: &str, body: &[u8]) -> Option<OwnedMutexGuard<()>> {
        let item = item_written(operation, body)?;
        let lock = self.items.lock().ok()?.entry(item).or_default().clone();
        Some(lock.lock_owned().await)
    }
}

/// The table and key of the item a single-item write writes. Gantry's table
/// keys on `pk` and `sk`; a `PutItem` names them among the item's attributes.
fn item_written(operation: &str, body: &[u8]) -> Option<String> {
    let field = match operation {
        "PutItem" => "Item",
        "UpdateItem" | "DeleteItem" => "Key",
        _ => return None,
    };
    let request: serde_json::Value = serde_json::from_slice(body).ok()?;
    let table = request.get("TableName")?.as_str()?;
    let attributes = request.get(field)?.as_object()?;
    let [pk, sk] = ["pk", "sk"].map(|name| {
        attributes
            .get(name)
            .map(serde_json::Value::to_string)
            .unwrap_or_default()
    });
    Some(format!("{table}\n{pk}\n{sk}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const UPDATE: &str = r#"{"TableName":"ledger","Key":{"pk":{"S":"START#d1"},"sk":{"S":"pipeline/app"}},"ConditionExpression":"lease_until = :held"}"#;
    const PUT: &str = r#"{"TableName":"ledger","Item":{"lease_until":{"N":"5"},"sk":{"S":"pipeline/app"},"pk":{"S":"START#d1"}}}"#;
    const OTHER: &str =
        r#"{"TableName":"ledger","Key":{"pk":{"S":"START#d2"},"sk":{"S":"pipeline/app"}}}"#;

    #[test]
    fn writes_name_their_item_by_table_and_key_and_reads_name_none() {
        assert_eq!(
            item_written("UpdateItem", UPDATE.as_bytes()),
            item_written("PutItem", PUT.as_bytes())
        );
        assert_eq!(
            item_written("DeleteItem", UPDATE.as_bytes()),
            item_written("UpdateItem", UPDATE.as_bytes())
        );
        assert_ne!(
            item_written("UpdateItem", OTHER.as_bytes()),
            item_written("UpdateItem", UPDATE.as_bytes())
        );
        assert_eq!(item_written("GetItem", UPDATE.as_bytes()), None);
        assert_eq!(item_written("UpdateItem", b"not json"), None);
    }

    #[tokio::test]
    async fn a_second_write_to_one_item_waits_for_the_first_and_another_item_does_not() {
        let writes = ItemWrites::default();
        let first = writes.one_at_a_time("UpdateItem", UPDATE.as_bytes()).await;
        assert!(first.is_some());
        let same = writes.one_at_a_time("PutItem", PUT.as_bytes());
        assert!(
            tokio::time::timeout(Duration::from_millis(50), same)
                .await
                .is_err(),
            "a write to the item being written went on at once"
        );
        let other = writes.one_at_a_time("UpdateItem", OTHER.as_bytes());
        assert!(tokio::time::timeout(Duration::from_millis(50), other)
            .await
            .is_ok());
        drop(first);
        let same = writes.one_at_a_time("PutItem", PUT.as_bytes());
        assert!(tokio::time::timeout(Duration::from_millis(50), same)
            .await
            .is_ok());
        assert!(writes
            .one_at_a_time("GetItem", UPDATE.as_bytes())
            .await
            .is_none());
    }
}
