//! The ledger: one DynamoDB table recording, per GitHub delivery, what Gantry
//! decided and what it started, so a retry, a redelivery or a redrive days
//! later starts only what has not started yet. Its key design and access
//! patterns are written down in the README ("The ledger"):
//!
//! | item | `pk` | `sk` | index keys |
//! |---|---|---|---|
//! | decision | `DELIVERY#<delivery>` | `DECISION` | `by-commit`: `commit_pk` = `COMMIT#<owner/name>#<sha>`, `commit_sk` = `<decided at>#<delivery>` |
//! | start | `DELIVERY#<delivery>` | `START#<target>` | `by-ref`: `ref_pk` = `REF#<owner/name>#<ref>#<route>`, `ref_sk` = `<event time>#<delivery>` |
//! | check run | `RUN#<build or execution id>` | `CHECK#<check name>#<attempt, 6 digits>` | |
//!
//! A start Gantry stopped also carries `stop_reason` (`stops`), which
//! CodeBuild does not keep.
//!
//! Every item carries `expires_at` (the table's TTL attribute), 15 days after
//! its last write: GitHub keeps deliveries 3 days, SQS messages live up to 14.

mod check_runs;
mod stops;

pub use check_runs::{CheckRunClaim, CheckRunRecord};

use crate::aws::ServiceError;
use crate::deadline;
use crate::ids::{CommitSha, DeliveryId, RepoName};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::time::Instant;

/// The setting naming the table.
pub const LEDGER_TABLE: &str = "GANTRY_LEDGER_TABLE";
/// How long an item lives after its last write.
pub const RETENTION: Duration = Duration::from_secs(15 * 24 * 60 * 60);
/// `lease_until` of a claim given up: a start refused, or a check run whose
/// create failed.
pub(super) const RELEASED: i64 = 0;
/// The indexes, as the template declares them.
pub const BY_COMMIT: &str = "by-commit";
pub const BY_REF: &str = "by-ref";

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("ledger {operation} on table {table} failed")]
    Dynamo {
        operation: &'static str,
        table: String,
        #[source]
        source: ServiceError<aws_sdk_dynamodb::Error>,
    },
    #[error("ledger item {pk} {sk} is not as Gantry writes it: {reason}")]
    Malformed {
        pk: String,
        sk: String,
        reason: &'static str,
    },
}

impl LedgerError {
    pub fn is_transient(&self) -> bool {
        match self {
            LedgerError::Dynamo { source, .. } => source.is_transient(),
            LedgerError::Malformed { .. } => false,
        }
    }
}

/// Seconds since the epoch, from the system clock or from a hand-moved one
/// (tests move the ledger's clock, not the wall clock).
#[derive(Debug, Clone, Default)]
pub struct Clock(Option<Arc<AtomicI64>>);

impl Clock {
    pub fn system() -> Self {
        Clock(None)
    }

    /// A clock that stands at `epoch_seconds` until `advance` moves it.
    pub fn manual(epoch_seconds: i64) -> Self {
        Clock(Some(Arc::new(AtomicI64::new(epoch_seconds))))
    }

    pub fn advance(&self, by: Duration) {
        if let Some(now) = &self.0 {
            now.fetch_add(by.as_secs() as i64, Ordering::SeqCst);
        }
    }

    pub fn now(&self) -> i64 {
        match &self.0 {
            Some(now) => now.load(Ordering::SeqCst),
            None => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs() as i64,
        }
    }
}

/// One start to claim: a delivery's target, and what later reads need.
#[derive(Debug, Clone)]
pub struct StartClaim<'a> {
    pub delivery: &'a DeliveryId,
    /// `pipeline/<name>` or `project/<name>`.
    pub target: &'a str,
    pub route: &'a str,
    pub repository: &'a RepoName,
    pub commit: &'a CommitSha,
    /// The branch, tag or `pull/<n>` the start builds, for finding superseded builds.
    pub git_ref: Option<&'a str>,
    /// How long the claim keeps others off before a retry may take it over.
    pub lease: Duration,
    /// When GitHub's event happened (epoch seconds; the EventBridge event's
    /// time): the order in which a ref's starts supersede each other.
    pub event_at: i64,
}

/// What claiming a start found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// Nobody had claimed it: start it, then `complete_start`.
    New,
    /// An earlier claim's lease ran out with nothing recorded: that start may
    /// have happened (a crash between the start and its record). Look for it
    /// before starting again with the same token.
    Recovered { claimed_at: i64 },
    /// Started before: nothing to do.
    AlreadyStarted(StartedRecord),
    /// Another invocation is starting it now; try again after `lease_until`.
    Held { lease_until: i64 },
}

/// What a start started, as the ledger keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartedRecord {
    /// `pipeline_execution` or `build`.
    pub kind: String,
    pub id: String,
}

/// One delivery's start of one target, as `starts_for_ref` and
/// `starts_for_delivery` find it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefStart {
    pub delivery: String,
    /// `pipeline/<name>` or `project/<name>`.
    pub target: String,
    pub commit: String,
    /// When its event happened (epoch seconds; as first claimed, so a
    /// redelivery keeps its place): the list's order.
    pub event_at: i64,
    /// Until when an unrecorded claim keeps others off.
    pub lease_until: i64,
    /// What it started (`None`: claimed, not started yet, or released).
    pub started: Option<StartedRecord>,
}

/// What Gantry decided for one delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecisionRecord {
    pub delivery: DeliveryId,
    pub repository: RepoName,
    pub commit: CommitSha,
    /// `started`, `skipped` or `ignored`.
    pub outcome: String,
    /// Why, for what starts nothing.
    pub reason: Option<String>,
    /// The routes that matched, with what each does (`starts pipeline/app`,
    /// `held back: pull request from fork ...`).
    pub routes: Vec<String>,
    /// The delivery's event as it came off the bus, for re-runs.
    pub event: serde_json::Value,
    pub decided_at: i64,
}

pub struct Ledger {
    client: aws_sdk_dynamodb::Client,
    table: String,
    clock: Clock,
}

type Item = HashMap<String, AttributeValue>;

impl Ledger {
    pub fn new(client: aws_sdk_dynamodb::Client, table: String, clock: Clock) -> Self {
        Ledger {
            client,
            table,
            clock,
        }
    }

    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// Claims `claim` with a conditional write: only one invocation at a time
    /// may start a (delivery, target), and only until it has started.
    pub async fn claim_start(
        &self,
        claim: &StartClaim<'_>,
        deadline: Instant,
    ) -> Result<Claim, LedgerError> {
        let now = self.now();
        let (pk, sk) = start_key(claim.delivery, claim.target);
        let lease_until = now + claim.lease.as_secs() as i64;
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(&pk))
            .item("sk", s(&sk))
            .item("lease_until", n(lease_until))
            .item("claimed_at", n(now))
            .item("attempts", n(1))
            .item("route", s(claim.route))
            .item("repository", s(claim.repository.as_str()))
            .item("commit", s(claim.commit.as_str()))
            .item("expires_at", n(self.expiry(now)))
            .condition_expression("attribute_not_exists(pk)");
        if let Some(git_ref) = claim.git_ref {
            put = put
                .item(
                    "ref_pk",
                    s(&format!(
                        "REF#{}#{git_ref}#{}",
                        claim.repository.as_str().to_ascii_lowercase(),
                        claim.route
                    )),
                )
                .item(
                    "ref_sk",
                    s(&format!("{:012}#{}", claim.event_at, claim.delivery)),
                )
                .item("event_at", n(claim.event_at));
        }
        match deadline::aws_call(deadline, put.send()).await {
            Ok(_) => return Ok(Claim::New),
            Err(err) if is_condition_failure(&err) => {}
            Err(err) => return Err(self.dynamo("PutItem", err)),
        }

        let item = self.get(&pk, &sk, deadline).await?.unwrap_or_default();
        if let Some(started) = started_record(&item) {
            return Ok(Claim::AlreadyStarted(started));
        }
        let held_until =
            number(&item, "lease_until").ok_or_else(|| malformed(&pk, &sk, "no lease_until"))?;
        if held_until > now {
            return Ok(Claim::Held {
                lease_until: held_until,
            });
        }
        // The lease ran out with nothing recorded: take it over, unless another
        // retry got there first.
        let take_over = self
            .update_item(&pk, &sk)
            .update_expression(
                "SET lease_until = :lease, attempts = attempts + :one, expires_at = :expires",
            )
            .condition_expression("lease_until = :held AND attribute_not_exists(started_id)")
            .expression_attribute_values(":lease", n(lease_until))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":expires", n(self.expiry(now)))
            .expression_attribute_values(":held", n(held_until));
        match deadline::aws_call(deadline, take_over.send()).await {
            // Released: its start was refused, so nothing can have started.
            Ok(_) if held_until == RELEASED => Ok(Claim::New),
            Ok(_) => Ok(Claim::Recovered {
                claimed_at: number(&item, "claimed_at").unwrap_or(held_until),
            }),
            Err(err) if is_condition_failure(&err) => Ok(Claim::Held { lease_until }),
            Err(err) => Err(self.dynamo("UpdateItem", err)),
        }
    }

    /// Records what a claimed start started; from then on every claim of it
    /// answers `AlreadyStarted`.
    pub async fn complete_start(
        &self,
        delivery: &DeliveryId,
        target: &str,
        started: &StartedRecord,
        deadline: Instant,
    ) -> Result<(), LedgerError> {
        let now = self.now();
        let (pk, sk) = start_key(delivery, target);
        let update = self.update_item(&pk, &sk)
            .update_expression(
                "SET started_kind = :kind, started_id = :id, started_at = :now, expires_at = :expires REMOVE lease_until",
            )
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":kind", s(&started.kind))
            .expression_attribute_values(":id", s(&started.id))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":expires", n(self.expiry(now)));
        self.call("UpdateItem", deadline, update.send())
            .await
            .map(drop)
    }

    /// Gives a claim up at once (the start failed for good, or was not sent),
    /// so a retry need not wait for the lease.
    pub async fn release_start(
        &self,
        delivery: &DeliveryId,
        target: &str,
        deadline: Instant,
    ) -> Result<(), LedgerError> {
        let (pk, sk) = start_key(delivery, target);
        let release = self
            .update_item(&pk, &sk)
            .update_expression("SET lease_until = :released")
            // Never creates an item: a missing claim has nothing to release.
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(started_id)")
            .expression_attribute_values(":released", n(RELEASED));
        match deadline::aws_call(deadline, release.send()).await {
            Ok(_) => Ok(()),
            Err(err) if is_condition_failure(&err) => Ok(()),
            Err(err) => Err(self.dynamo("UpdateItem", err)),
        }
    }

    /// Records (or records again, on a retry) what was decided for a delivery.
    pub async fn record_decision(
        &self,
        decision: &DecisionRecord,
        deadline: Instant,
    ) -> Result<(), LedgerError> {
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(&delivery_pk(&decision.delivery)))
            .item("sk", s("DECISION"))
            .item(
                "commit_pk",
                s(&commit_pk(&decision.repository, &decision.commit)),
            )
            .item(
                "commit_sk",
                s(&format!(
                    "{:012}#{}",
                    decision.decided_at, decision.delivery
                )),
            )
            .item("repository", s(decision.repository.as_str()))
            .item("commit", s(decision.commit.as_str()))
            .item("outcome", s(&decision.outcome))
            .item(
                "routes",
                AttributeValue::L(decision.routes.iter().map(|r| s(r)).collect()),
            )
            .item("event", s(&decision.event.to_string()))
            .item("decided_at", n(decision.decided_at))
            .item("expires_at", n(self.expiry(decision.decided_at)));
        let put = match &decision.reason {
            Some(reason) => put.item("reason", s(reason)),
            None => put,
        };
        self.call("PutItem", deadline, put.send()).await.map(drop)
    }

    /// The decision recorded for one delivery, with its original event: what a
    /// re-run starts from.
    pub async fn decision(
        &self,
        delivery: &DeliveryId,
        deadline: Instant,
    ) -> Result<Option<DecisionRecord>, LedgerError> {
        self.get(&delivery_pk(delivery), "DECISION", deadline)
            .await?
            .map(|item| decision_record(&item))
            .transpose()
    }

    /// Every decision recorded for a commit, oldest first (the `by-commit` index).
    pub async fn decisions_for_commit(
        &self,
        repository: &RepoName,
        commit: &CommitSha,
        deadline: Instant,
    ) -> Result<Vec<DecisionRecord>, LedgerError> {
        let mut decisions = Vec::new();
        let mut start_key: Option<Item> = None;
        loop {
            let query = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(BY_COMMIT)
                .key_condition_expression("commit_pk = :commit")
                .expression_attribute_values(":commit", s(&commit_pk(repository, commit)))
                .set_exclusive_start_key(start_key.take());
            let output = self.call("Query", deadline, query.send()).await?;
            for item in output.items() {
                decisions.push(decision_record(item)?);
            }
            match output.last_evaluated_key {
                Some(key) if !key.is_empty() => start_key = Some(key),
                _ => return Ok(decisions),
            }
        }
    }

    /// What one delivery claimed and started, per target.
    pub async fn starts_for_delivery(
        &self,
        delivery: &DeliveryId,
        deadline: Instant,
    ) -> Result<Vec<RefStart>, LedgerError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :start)")
            .expression_attribute_values(":pk", s(&delivery_pk(delivery)))
            .expression_attribute_values(":start", s("START#"))
            .consistent_read(true);
        let output = self.call("Query", deadline, query.send()).await?;
        Ok(output.items().iter().map(ref_start).collect())
    }

    /// What each delivery started on one ref and route, newest first (the
    /// `by-ref` index).
    pub async fn starts_for_ref(
        &self,
        repository: &RepoName,
        git_ref: &str,
        route: &str,
        deadline: Instant,
    ) -> Result<Vec<RefStart>, LedgerError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(BY_REF)
            .key_condition_expression("ref_pk = :ref")
            .expression_attribute_values(
                ":ref",
                s(&format!(
                    "REF#{}#{git_ref}#{route}",
                    repository.as_str().to_ascii_lowercase()
                )),
            )
            .scan_index_forward(false);
        let output = self.call("Query", deadline, query.send()).await?;
        Ok(output.items().iter().map(ref_start).collect())
    }

    async fn get(
        &self,
        pk: &str,
        sk: &str,
        deadline: Instant,
    ) -> Result<Option<Item>, LedgerError> {
        let get = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .consistent_read(true);
        self.call("GetItem", deadline, get.send())
            .await
            .map(|output| output.item)
    }

    fn expiry(&self, written_at: i64) -> i64 {
        written_at + RETENTION.as_secs() as i64
    }

    /// An update of the item at (`pk`, `sk`).
    fn update_item(
        &self,
        pk: &str,
        sk: &str,
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
    }

    /// A DynamoDB call bounded by `deadline`, its failure as the ledger's.
    async fn call<T, E>(
        &self,
        operation: &'static str,
        deadline: Instant,
        call: impl std::future::Future<Output = Result<T, SdkError<E, HttpResponse>>>,
    ) -> Result<T, LedgerError>
    where
        E: aws_smithy_types::error::metadata::ProvideErrorMetadata,
        aws_sdk_dynamodb::Error: From<SdkError<E, HttpResponse>>,
    {
        deadline::aws_call(deadline, call)
            .await
            .map_err(|err| self.dynamo(operation, err))
    }

    fn dynamo<E>(&self, operation: &'static str, err: SdkError<E, HttpResponse>) -> LedgerError
    where
        E: aws_smithy_types::error::metadata::ProvideErrorMetadata,
        aws_sdk_dynamodb::Error: From<SdkError<E, HttpResponse>>,
    {
        LedgerError::Dynamo {
            operation,
            table: self.table.clone(),
            source: ServiceError::from_sdk(err),
        }
    }
}

fn delivery_pk(delivery: &DeliveryId) -> String {
    format!("DELIVERY#{delivery}")
}

fn start_key(delivery: &DeliveryId, target: &str) -> (String, String) {
    (delivery_pk(delivery), format!("START#{target}"))
}

fn commit_pk(repository: &RepoName, commit: &CommitSha) -> String {
    format!(
        "COMMIT#{}#{commit}",
        repository.as_str().to_ascii_lowercase()
    )
}

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn string<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name)?.as_s().ok().map(String::as_str)
}

fn number(item: &Item, name: &str) -> Option<i64> {
    item.get(name)?.as_n().ok()?.parse().ok()
}

fn ref_start(item: &Item) -> RefStart {
    RefStart {
        delivery: string(item, "pk")
            .and_then(|pk| pk.strip_prefix("DELIVERY#"))
            .unwrap_or_default()
            .to_owned(),
        target: string(item, "sk")
            .and_then(|sk| sk.strip_prefix("START#"))
            .unwrap_or_default()
            .to_owned(),
        commit: string(item, "commit").unwrap_or_default().to_owned(),
        event_at: number(item, "event_at")
            .or_else(|| number(item, "claimed_at"))
            .unwrap_or_default(),
        lease_until: number(item, "lease_until").unwrap_or_default(),
        started: started_record(item),
    }
}

fn started_record(item: &Item) -> Option<StartedRecord> {
    Some(StartedRecord {
        kind: string(item, "started_kind")?.to_owned(),
        id: string(item, "started_id")?.to_owned(),
    })
}

fn malformed(pk: &str, sk: &str, reason: &'static str) -> LedgerError {
    LedgerError::Malformed {
        pk: pk.to_owned(),
        sk: sk.to_owned(),
        reason,
    }
}

fn decision_record(item: &Item) -> Result<DecisionRecord, LedgerError> {
    let pk = string(item, "pk").unwrap_or_default();
    let bad = |reason| malformed(pk, "DECISION", reason);
    let delivery = pk
        .strip_prefix("DELIVERY#")
        .and_then(|id| DeliveryId::parse(id).ok())
        .ok_or_else(|| bad("pk is not a delivery"))?;
    Ok(DecisionRecord {
        delivery,
        repository: string(item, "repository")
            .and_then(|r| RepoName::parse(r).ok())
            .ok_or_else(|| bad("no repository"))?,
        commit: string(item, "commit")
            .and_then(|c| CommitSha::parse(c).ok())
            .ok_or_else(|| bad("no commit"))?,
        outcome: string(item, "outcome")
            .ok_or_else(|| bad("no outcome"))?
            .to_owned(),
        reason: string(item, "reason").map(str::to_owned),
        routes: item
            .get("routes")
            .and_then(|routes| routes.as_l().ok())
            .map(|routes| {
                routes
                    .iter()
                    .filter_map(|route| route.as_s().ok().cloned())
                    .collect()
            })
            .unwrap_or_default(),
        event: string(item, "event")
            .and_then(|event| serde_json::from_str(event).ok())
            .unwrap_or(serde_json::Value::Null),
        decided_at: number(item, "decided_at").ok_or_else(|| bad("no decided_at"))?,
    })
}

fn is_condition_failure<E, R>(err: &SdkError<E, R>) -> bool
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata,
{
    err.as_service_error()
        .and_then(|service| service.code())
        .is_some_and(|code| code == "ConditionalCheckFailedException")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_the_documented_design() {
        let delivery = DeliveryId::parse("72d3162e-cc78-11e3-81ab-4c9367dc0958").unwrap();
        assert_eq!(
            start_key(&delivery, "pipeline/app"),
            (
                "DELIVERY#72d3162e-cc78-11e3-81ab-4c9367dc0958".to_owned(),
                "START#pipeline/app".to_owned()
            )
        );
        let repository = RepoName::parse("Codertocat/Hello-World").unwrap();
        let commit = CommitSha::parse("6113728f27ae82c7b1a177c8d03f9e96e0adf246").unwrap();
        assert_eq!(
            commit_pk(&repository, &commit),
            "COMMIT#codertocat/hello-world#6113728f27ae82c7b1a177c8d03f9e96e0adf246"
        );
    }

    #[test]
    fn a_manual_clock_moves_only_when_told() {
        let clock = Clock::manual(1_000);
        assert_eq!(clock.now(), 1_000);
        clock.advance(Duration::from_secs(3_600));
        assert_eq!(clock.now(), 4_600);
        assert!(Clock::system().now() > 1_700_000_000);
    }
}
