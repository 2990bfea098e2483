//! `gantry rerun` and `gantry stop`: what the check-run buttons do in App
//! mode, for token mode (which has no buttons). Each is handed to `trigger`'s
//! own code as the button's event would be, so both modes behave alike: a
//! re-run starts the target again from the ledger's original event with a
//! token of its own; a stop stops what is still running.

use crate::doctor::Clients;
use crate::report::{Finding, Report};
use gantry_core::contract::{RunOrigin, SOURCE};
use gantry_core::ids::DeliveryId;
use gantry_core::ledger::{Clock, Ledger};
use gantry_trigger::config::Routes;
use gantry_trigger::start::{Started, Starter};
use gantry_trigger::{Summary, Trigger};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::time::Instant;

#[derive(Debug, thiserror::Error)]
pub enum ButtonError {
    #[error(transparent)]
    Ledger(#[from] gantry_core::ledger::LedgerError),
    #[error(transparent)]
    Trigger(#[from] gantry_trigger::TriggerError),
    #[error(transparent)]
    Routes(#[from] gantry_trigger::config::RoutesError),
}

/// Which button.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Button {
    Rerun,
    Stop,
}

pub struct Press<'a> {
    pub clients: &'a Clients,
    pub ledger_table: &'a str,
    /// The routing document (a re-run starts through a route, as trigger does).
    pub routes: &'a str,
    pub delivery: &'a DeliveryId,
    /// Only this target (`project/<name>` or `pipeline/<name>`); else all.
    pub target: Option<&'a str>,
}

impl Press<'_> {
    pub async fn press(&self, button: Button) -> Result<Report, ButtonError> {
        let ledger = || {
            Ledger::new(
                self.clients.dynamodb.clone(),
                self.ledger_table.to_owned(),
                Clock::system(),
            )
        };
        let trigger = Trigger::new(
            Routes::parse(self.routes)?,
            Starter::new(self.clients.pipelines.clone(), self.clients.builds.clone()),
            ledger(),
        );
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut report = Report::default();
        let Some(decision) = ledger().decision(self.delivery, deadline).await? else {
            report.push(Finding::fail(
                format!("delivery {}", self.delivery),
                "not in the ledger",
                "check the id with `gantry explain`; records live 15 days",
            ));
            return Ok(report);
        };
        let starts = ledger()
            .starts_for_delivery(self.delivery, deadline)
            .await?;
        for start in starts
            .iter()
            .filter(|start| self.target.is_none_or(|target| start.target == target))
        {
            let subject = format!("{} of delivery {}", start.target, self.delivery);
            let Some(started) = &start.started else {
                report.push(Finding::note(subject, "nothing was started"));
                continue;
            };
            let origin = RunOrigin {
                delivery: self.delivery.to_string(),
                target: start.target.clone(),
                run: started.id.clone(),
            };
            let (action, identifier) = match button {
                Button::Rerun => ("rerequested", None),
                Button::Stop => ("requested_action", Some(gantry_trigger::buttons::STOP)),
            };
            let event = serde_json::json!({
                "version": "0",
                "id": format!("gantry-cli-{}", millis()),
                "detail-type": "GitHub Check Run",
                "source": SOURCE,
                "account": "",
                "region": "",
                "resources": [],
                "detail": {
                    // The press's own delivery: a re-run is claimed under it.
                    "delivery_id": format!("gantry-cli-{}-{}", button_name(button), millis()),
                    "repository": decision.repository.as_str(),
                    "clone_url": decision.event["clone_url"],
                    "commit": decision.commit.as_str(),
                    "event": "check_run",
                    "action": action,
                    "check_run_id": 0,
                    "name": start.target,
                    "external_id": origin.to_external_id(),
                    "identifier": identifier,
                }
            });
            let event = serde_json::from_value(event).map_err(|err| {
                gantry_trigger::TriggerError::Detail {
                    path: "(the command's event)".into(),
                    message: err.to_string(),
                }
            })?;
            let finding = match trigger.handle(event, deadline).await? {
                Summary::Started { started, .. } => match started.first() {
                    Some(target) => {
                        Finding::ok(subject, format!("re-run started: {}", id(&target.started)))
                    }
                    None => Finding::note(subject, "nothing started"),
                },
                Summary::Stopped { stopped } => Finding::ok(
                    subject,
                    format!(
                        "stop sent to {} (a finished one is left alone)",
                        stopped.first().map(|s| id(&s.started)).unwrap_or_default()
                    ),
                ),
                Summary::Retried {
                    execution, retried, ..
                } => Finding::ok(subject, format!("execution {execution}: {retried:?}")),
                Summary::Skipped { reason } | Summary::Ignored { reason } => Finding::fail(
                    subject,
                    reason,
                    "see `gantry explain` for what the delivery started",
                ),
            };
            report.push(finding);
        }
        if report.findings.is_empty() {
            report.push(Finding::fail(
                format!("delivery {}", self.delivery),
                "started nothing that matches",
                "see `gantry explain` for what it started",
            ));
        }
        Ok(report)
    }
}

fn button_name(button: Button) -> &'static str {
    match button {
        Button::Rerun => "rerun",
        Button::Stop => "stop",
    }
}

fn id(started: &Started) -> String {
    match started {
        Started::Build(id) | Started::PipelineExecution(id) => id.clone(),
    }
}

fn millis() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis()
}
