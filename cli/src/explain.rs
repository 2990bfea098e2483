//! `gantry explain`: the story of one delivery or commit, in time order: what
//! trigger decided (the ledger: routes matched, held back and why), what each
//! delivery started, and each build's or execution's state now.

use crate::doctor::Clients;
use crate::report::{Finding, Report};
use gantry_core::ids::{CommitSha, DeliveryId, RepoName};
use gantry_core::ledger::{Clock, DecisionRecord, Ledger, RefStart};
use std::time::Duration;
use tokio::time::Instant;

/// What to explain.
#[derive(Debug, Clone)]
pub enum Subject {
    Delivery(DeliveryId),
    Commit {
        repository: RepoName,
        commit: CommitSha,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum ExplainError {
    #[error(transparent)]
    Ledger(#[from] gantry_core::ledger::LedgerError),
}

pub async fn run(
    clients: &Clients,
    table: &str,
    subject: &Subject,
) -> Result<Report, ExplainError> {
    let ledger = Ledger::new(clients.dynamodb.clone(), table.to_owned(), Clock::system());
    let deadline = Instant::now() + Duration::from_secs(60);
    let decisions: Vec<DecisionRecord> = match subject {
        Subject::Delivery(delivery) => ledger
            .decision(delivery, deadline)
            .await?
            .into_iter()
            .collect(),
        Subject::Commit { repository, commit } => {
            ledger
                .decisions_for_commit(repository, commit, deadline)
                .await?
        }
    };
    let mut report = Report::default();
    if decisions.is_empty() {
        report.push(Finding::note(
            "ledger",
            "nothing recorded: trigger never saw it (the webhook may have ignored it: its log says why), or it is older than 15 days",
        ));
        return Ok(report);
    }
    for decision in &decisions {
        let subject = format!(
            "{} delivery {}",
            time(decision.decided_at),
            decision.delivery
        );
        let mut detail = format!(
            "{} {} of {}",
            decision.outcome,
            decision.commit.short(),
            decision.repository
        );
        if let Some(reason) = &decision.reason {
            detail.push_str(&format!(": {reason}"));
        }
        report.push(Finding::note(subject.clone(), detail));
        for route in &decision.routes {
            report.push(Finding::note(subject.clone(), format!("route {route}")));
        }
        for start in ledger
            .starts_for_delivery(&decision.delivery, deadline)
            .await?
        {
            report.push(describe_start(clients, &subject, &start).await);
        }
    }
    Ok(report)
}

async fn describe_start(clients: &Clients, subject: &str, start: &RefStart) -> Finding {
    let Some(started) = &start.started else {
        return Finding::note(
            subject,
            format!("{}: claimed, nothing recorded as started", start.target),
        );
    };
    let state = match started.kind.as_str() {
        "build" => clients
            .builds
            .batch_get_builds()
            .ids(&started.id)
            .send()
            .await
            .ok()
            .and_then(|out| out.builds.unwrap_or_default().into_iter().next())
            .and_then(|build| build.build_status)
            .map(|status| status.as_str().to_owned()),
        _ => {
            let pipeline = start
                .target
                .strip_prefix("pipeline/")
                .unwrap_or(&start.target);
            clients
                .pipelines
                .get_pipeline_execution()
                .pipeline_name(pipeline)
                .pipeline_execution_id(&started.id)
                .send()
                .await
                .ok()
                .and_then(|out| out.pipeline_execution)
                .and_then(|execution| execution.status)
                .map(|status| status.as_str().to_owned())
        }
    };
    Finding::note(
        subject,
        format!(
            "{}: started {} {}, now {}",
            start.target,
            started.kind.replace('_', " "),
            started.id,
            state.as_deref().unwrap_or("unknown (it could not be read)")
        ),
    )
}

/// Epoch seconds as `2026-12-01T13:05:09Z`.
fn time(epoch_seconds: i64) -> String {
    aws_smithy_types::DateTime::from_secs(epoch_seconds)
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap_or_else(|_| epoch_seconds.to_string())
}
