//! `gantry replay`: asks GitHub to send a delivery again. GitHub's
//! redelivery takes the numeric id of one attempt, so the deliveries are
//! listed and the `X-GitHub-Delivery` guid matched; `--failed` redelivers every
//! delivery that failed and was not delivered since (the same decision as the
//! scheduled `redeliver` function). GitHub keeps deliveries for 3 days.

use crate::report::{Finding, Report};
use gantry_core::github::redelivery;
use gantry_core::github::{GitHubClient, HookDelivery, HookScope};
use std::time::{Duration, SystemTime};
use tokio::time::Instant;

/// How long GitHub keeps deliveries.
pub const GITHUB_KEEPS: Duration = Duration::from_secs(3 * 24 * 3600);
const DEADLINE: Duration = Duration::from_secs(120);

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("could not list the deliveries of {0}")]
    List(String, #[source] gantry_core::github::GitHubError),
}

/// What to send again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ask {
    /// One delivery, by its `X-GitHub-Delivery` guid.
    Delivery(String),
    /// Every delivery since this long ago that failed and was not delivered since.
    Failed { since: Duration },
}

pub struct Replay<'a> {
    pub github: &'a GitHubClient,
    pub scope: &'a HookScope,
    pub dry_run: bool,
}

impl Replay<'_> {
    pub async fn run(&self, ask: &Ask) -> Result<Report, ReplayError> {
        let deadline = Instant::now() + DEADLINE;
        let lookback = match ask {
            Ask::Delivery(_) => GITHUB_KEEPS,
            Ask::Failed { since } => (*since).min(GITHUB_KEEPS),
        };
        let since = gantry_core::github::hooks::since(SystemTime::now(), lookback);
        let attempts = self
            .github
            .list_deliveries(self.scope, since, deadline)
            .await
            .map_err(|err| ReplayError::List(self.scope.to_string(), err))?;
        let mut report = Report::default();
        match ask {
            Ask::Delivery(guid) => {
                // Listed newest first: the first match is the newest attempt.
                match attempts.iter().find(|d| d.guid.eq_ignore_ascii_case(guid)) {
                    None => report.push(Finding::fail(
                        format!("delivery {guid}"),
                        format!("not among {}'s deliveries of the last 3 days", self.scope),
                        "check the guid (X-GitHub-Delivery) and which webhook sent it; GitHub keeps deliveries 3 days",
                    )),
                    Some(newest) => report.push(self.redeliver(newest, deadline).await),
                }
            }
            Ask::Failed { .. } => {
                let plan = redelivery::plan(&attempts, None);
                for delivery in &plan.redeliver {
                    report.push(self.redeliver(delivery, deadline).await);
                }
                for delivery in &plan.refused {
                    report.push(Finding::note(
                        format!("delivery {}", delivery.guid),
                        format!(
                            "not sent again: the webhook refused it with {} ({}), and would again",
                            delivery.status_code, delivery.status
                        ),
                    ));
                }
                if plan.redeliver.is_empty() {
                    report.push(Finding::ok(
                        self.scope.to_string(),
                        format!(
                            "no failed delivery to send again among {} attempts",
                            attempts.len()
                        ),
                    ));
                }
            }
        }
        Ok(report)
    }

    async fn redeliver(&self, delivery: &HookDelivery, deadline: Instant) -> Finding {
        let subject = format!("delivery {}", delivery.guid);
        let what = format!(
            "{}{} of {}, last answered {}",
            delivery.event,
            delivery
                .action
                .as_ref()
                .map(|a| format!(" {a}"))
                .unwrap_or_default(),
            delivery.delivered_at,
            delivery.status
        );
        if self.dry_run {
            return Finding::note(subject, format!("would send again: {what}"));
        }
        match self
            .github
            .redeliver(self.scope, delivery.id, deadline)
            .await
        {
            Ok(()) => Finding::ok(subject, format!("sent again: {what}")),
            Err(err) => Finding::fail(
                subject,
                format!(
                    "not sent again: {}",
                    gantry_core::logging::error_chain(&err)
                ),
                "redelivering needs admin on the repository (a token), or the App's key; run again",
            ),
        }
    }
}

/// `24h`, `90m`, `3d`, `45s`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let number: u64 = number
        .parse()
        .map_err(|_| format!("{text:?}: expected a number and a unit, as 24h, 90m, 3d"))?;
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => return Err(format!("{text:?}: the unit is s, m, h or d")),
    };
    Ok(Duration::from_secs(number * seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_operators_write_them() {
        assert_eq!(parse_duration("24h"), Ok(Duration::from_secs(86400)));
        assert_eq!(parse_duration("90m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("3d"), Ok(Duration::from_secs(259200)));
        assert!(parse_duration("24").is_err());
        assert!(parse_duration("h").is_err());
        assert!(parse_duration("2w").is_err());
    }
}
