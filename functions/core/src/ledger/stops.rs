//! Why Gantry stopped a start (a newer commit superseded it, a merge group
//! left the queue, someone pressed Stop), kept on the start's own item:
//! CodeBuild keeps no reason for a stop, so `status` reads it here to say
//! what stopped a build (`Superseded by 6113728`).

use super::{is_condition_failure, start_key, string, Ledger, LedgerError};
use crate::deadline;
use crate::ids::DeliveryId;
use tokio::time::Instant;

impl Ledger {
    /// Records `reason` on the start of `target` by `delivery`; a start the
    /// ledger no longer holds (expired) is left alone.
    pub async fn record_stop(
        &self,
        delivery: &DeliveryId,
        target: &str,
        reason: &str,
        deadline: Instant,
    ) -> Result<(), LedgerError> {
        let (pk, sk) = start_key(delivery, target);
        let update = self
            .update_item(&pk, &sk)
            .update_expression("SET stop_reason = :reason")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":reason", super::s(reason));
        match deadline::aws_call(deadline, update.send()).await {
            Ok(_) => Ok(()),
            Err(err) if is_condition_failure(&err) => Ok(()),
            Err(err) => Err(self.dynamo("UpdateItem", err)),
        }
    }

    /// Why Gantry stopped the start of `target` by `delivery`, if it did.
    pub async fn stop_reason(
        &self,
        delivery: &DeliveryId,
        target: &str,
        deadline: Instant,
    ) -> Result<Option<String>, LedgerError> {
        let (pk, sk) = start_key(delivery, target);
        let read = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", super::s(&pk))
            .key("sk", super::s(&sk))
            .projection_expression("stop_reason")
            .consistent_read(true)
            .send();
        let output = self.call("GetItem", deadline, read).await?;
        Ok(output
            .item
            .as_ref()
            .and_then(|item| string(item, "stop_reason"))
            .map(str::to_owned))
    }
}
