//! Check runs in the ledger: one item per (build or execution, check name,
//! attempt). GitHub offers no lookup by `external_id`, so a run's id is kept
//! here; the item is claimed before the run is created, so two first events
//! arriving together create one run, and a completed run is never reopened
//! (a later attempt is a new item and a new run).

use super::{
    is_condition_failure, malformed, n, number, s, string, Item, Ledger, LedgerError, RELEASED,
};
use crate::deadline;
use aws_sdk_dynamodb::types::AttributeValue;
use std::time::Duration;
use tokio::time::Instant;

/// One attempt's check run as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckRunRecord {
    pub attempt: u32,
    /// `None`: claimed, and the run not created (or not recorded) yet.
    pub check_run_id: Option<u64>,
    /// The conclusion it was completed with (`None`: still in progress).
    pub conclusion: Option<String>,
    /// Until when the claim holds while the run has no id (epoch seconds).
    pub lease_until: i64,
}

/// What `claim_check_run` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckRunClaim {
    /// This call may create the run.
    Claimed,
    /// Another call claimed it first (and may have created it).
    Taken(CheckRunRecord),
}

impl Ledger {
    /// The latest attempt recorded for the check `name` of `run`.
    pub async fn latest_check_run(
        &self,
        run: &str,
        name: &str,
        deadline: Instant,
    ) -> Result<Option<CheckRunRecord>, LedgerError> {
        let (pk, prefix) = check_run_prefix(run, name);
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", s(&pk))
            .expression_attribute_values(":prefix", s(&prefix))
            .scan_index_forward(false)
            .limit(1)
            .consistent_read(true);
        let output = self.call("Query", deadline, query.send()).await?;
        output.items().first().map(record).transpose()
    }

    /// Claims attempt `attempt` of the check `name` of `run` for `lease`,
    /// unless another call holds it or has recorded its run.
    pub async fn claim_check_run(
        &self,
        run: &str,
        name: &str,
        attempt: u32,
        lease: Duration,
        deadline: Instant,
    ) -> Result<CheckRunClaim, LedgerError> {
        let now = self.now();
        let (pk, sk) = check_run_key(run, name, attempt);
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(&pk))
            .item("sk", s(&sk))
            .item("attempt", n(i64::from(attempt)))
            .item("lease_until", n(now + lease.as_secs() as i64))
            .item("expires_at", n(self.expiry(now)))
            // New, or claimed by a call that died before it recorded a run.
            .condition_expression(
                "attribute_not_exists(pk) OR (attribute_not_exists(check_run_id) AND lease_until < :now)",
            )
            .expression_attribute_values(":now", n(now));
        match deadline::aws_call(deadline, put.send()).await {
            Ok(_) => Ok(CheckRunClaim::Claimed),
            Err(err) if is_condition_failure(&err) => match self.get(&pk, &sk, deadline).await? {
                Some(item) => Ok(CheckRunClaim::Taken(record(&item)?)),
                None => Err(malformed(&pk, &sk, "refused as existing, then not found")),
            },
            Err(err) => Err(self.dynamo("PutItem", err)),
        }
    }

    /// Records the run created for a claimed attempt, and its conclusion if it
    /// was created completed.
    pub async fn record_check_run(
        &self,
        run: &str,
        name: &str,
        attempt: u32,
        check_run_id: u64,
        conclusion: Option<&str>,
        deadline: Instant,
    ) -> Result<(), LedgerError> {
        let (pk, sk) = check_run_key(run, name, attempt);
        let mut update = self
            .update_item(&pk, &sk)
            .expression_attribute_values(":id", n(check_run_id as i64))
            .expression_attribute_values(":expires", n(self.expiry(self.now())))
            .condition_expression("attribute_exists(pk)");
        update = match conclusion {
            Some(conclusion) => update
                .update_expression(
                    "SET check_run_id = :id, expires_at = :expires, conclusion = :conclusion",
                )
                .expression_attribute_values(":conclusion", s(conclusion)),
            None => update.update_expression("SET check_run_id = :id, expires_at = :expires"),
        };
        self.call("UpdateItem", deadline, update.send())
            .await
            .map(drop)
    }

    /// Records that an attempt's run was completed with `conclusion`.
    pub async fn complete_check_run(
        &self,
        run: &str,
        name: &str,
        attempt: u32,
        conclusion: &str,
        deadline: Instant,
    ) -> Result<(), LedgerError> {
        let (pk, sk) = check_run_key(run, name, attempt);
        let update = self
            .update_item(&pk, &sk)
            .update_expression("SET conclusion = :conclusion, expires_at = :expires")
            .expression_attribute_values(":conclusion", s(conclusion))
            .expression_attribute_values(":expires", n(self.expiry(self.now())))
            .condition_expression("attribute_exists(check_run_id)");
        self.call("UpdateItem", deadline, update.send())
            .await
            .map(drop)
    }

    /// Gives a claim up when its run could not be created, so the next event
    /// claims it at once (its lease ends now). The claim itself stays: a
    /// create that failed may have reached GitHub, and the next claimer, seeing
    /// a claim with no run, looks for that run before making one. Never
    /// touches a recorded run.
    pub async fn release_check_run(
        &self,
        run: &str,
        name: &str,
        attempt: u32,
        deadline: Instant,
    ) -> Result<(), LedgerError> {
        let (pk, sk) = check_run_key(run, name, attempt);
        let release = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(&pk))
            .key("sk", s(&sk))
            .update_expression("SET lease_until = :released")
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(check_run_id)")
            .expression_attribute_values(":released", n(RELEASED));
        match deadline::aws_call(deadline, release.send()).await {
            Ok(_) => Ok(()),
            Err(err) if is_condition_failure(&err) => Ok(()),
            Err(err) => Err(self.dynamo("UpdateItem", err)),
        }
    }
}

/// A check name may hold any character; `#` separates the key's parts.
fn escaped(name: &str) -> String {
    name.replace('%', "%25").replace('#', "%23")
}

fn check_run_prefix(run: &str, name: &str) -> (String, String) {
    (format!("RUN#{run}"), format!("CHECK#{}#", escaped(name)))
}

/// Attempts zero-padded, so the newest sorts last.
fn check_run_key(run: &str, name: &str, attempt: u32) -> (String, String) {
    let (pk, prefix) = check_run_prefix(run, name);
    (pk, format!("{prefix}{attempt:06}"))
}

fn record(item: &Item) -> Result<CheckRunRecord, LedgerError> {
    let pk = string(item, "pk").unwrap_or_default();
    let sk = string(item, "sk").unwrap_or_default();
    let attempt = number(item, "attempt")
        .and_then(|a| u32::try_from(a).ok())
        .ok_or_else(|| malformed(pk, sk, "no attempt"))?;
    Ok(CheckRunRecord {
        attempt,
        check_run_id: number(item, "check_run_id").map(|id| id as u64),
        conclusion: item
            .get("conclusion")
            .and_then(|v| AttributeValue::as_s(v).ok())
            .cloned(),
        lease_until: number(item, "lease_until").unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sort_attempts_and_keep_names_apart() {
        assert_eq!(
            check_run_key("app-build:1", "ci/app", 2),
            (
                "RUN#app-build:1".to_owned(),
                "CHECK#ci/app#000002".to_owned()
            )
        );
        assert!(check_run_key("r", "n", 10).1 > check_run_key("r", "n", 9).1);
        // A name with the separator cannot be read as another name's attempt.
        assert_eq!(check_run_prefix("r", "a#b").1, "CHECK#a%23b#");
    }
}
