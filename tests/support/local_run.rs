//! Gantry running on this machine: moto's server as AWS, the `webhook` and
//! `trigger` binaries under local Lambda Runtime APIs, and the bus's rule
//! queue pumped into `trigger` as Lambda's EventBridge integration would.

use crate::moto::Moto;
use crate::runtime::LocalFunction;
use crate::scenario::{self, LocalAws, LOCAL_SECRET};
use crate::{workspace_binary, BoxError};
use std::path::Path;
use std::time::Duration;
use wiremock::matchers::{header, method, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

pub struct LocalRun {
    pub moto: Moto,
    pub aws: LocalAws,
    /// Stands in for the GitHub REST API: accepts commit statuses, records them.
    pub github: MockServer,
    pub webhook: LocalFunction,
    pub trigger: LocalFunction,
    pub status: LocalFunction,
    pub pruner: LocalFunction,
}

/// The token `status` sends to the GitHub stand-in.
pub const LOCAL_GITHUB_TOKEN: &str = "gantry-local-token";

impl LocalRun {
    /// Starts moto, provisions the local world and starts both functions,
    /// their logs under `log_dir`.
    pub async fn start(log_dir: &Path) -> Result<LocalRun, BoxError> {
        let moto = Moto::start().await?;
        let aws = scenario::provision(&moto.sdk_config().await).await?;
        let mut webhook_env = moto.env();
        webhook_env.push(("GANTRY_EVENT_BUS".into(), scenario::BUS.into()));
        webhook_env.push(("GANTRY_WEBHOOK_SECRET".into(), LOCAL_SECRET.into()));
        let webhook = LocalFunction::start(
            "webhook",
            &workspace_binary("webhook"),
            &webhook_env,
            log_dir.join("webhook.log"),
        )
        .await?;
        let mut trigger_env = moto.env();
        trigger_env.push(("GANTRY_ROUTES".into(), scenario::routes_json()));
        trigger_env.push(("GANTRY_LEDGER_TABLE".into(), scenario::LEDGER_TABLE.into()));
        trigger_env.push(("GANTRY_TRIGGER_QUEUE_URL".into(), aws.queue_url.clone()));
        trigger_env.push(("GANTRY_TRIGGER_DLQ_URL".into(), aws.dead_letter_url.clone()));
        let trigger = LocalFunction::start(
            "trigger",
            &workspace_binary("trigger"),
            &trigger_env,
            log_dir.join("trigger.log"),
        )
        .await?;

        let github = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path_regex(r"^/repos/[^/]+/[^/]+/statuses/[0-9a-f]{40}$"))
            .and(header(
                "authorization",
                format!("Bearer {LOCAL_GITHUB_TOKEN}").as_str(),
            ))
            .respond_with(ResponseTemplate::new(201).set_body_json(serde_json::json!({})))
            .mount(&github)
            .await;
        let mut status_env = moto.env();
        status_env.push(("GANTRY_GITHUB_TOKEN".into(), LOCAL_GITHUB_TOKEN.into()));
        status_env.push(("GANTRY_GITHUB_API_URL".into(), github.uri()));
        let status = LocalFunction::start(
            "status",
            &workspace_binary("status"),
            &status_env,
            log_dir.join("status.log"),
        )
        .await?;
        let mut pruner_env = moto.env();
        pruner_env.push((
            "GANTRY_ARTIFACT_BUCKET".into(),
            scenario::ARTIFACT_BUCKET.into(),
        ));
        pruner_env.push((
            "GANTRY_PRUNE_POLICY".into(),
            scenario::LOCAL_PRUNE_POLICY.into(),
        ));
        pruner_env.push(("GANTRY_DRY_RUN".into(), "true".into()));
        let pruner = LocalFunction::start(
            "pruner",
            &workspace_binary("pruner"),
            &pruner_env,
            log_dir.join("pruner.log"),
        )
        .await?;
        Ok(LocalRun {
            moto,
            aws,
            github,
            webhook,
            trigger,
            status,
            pruner,
        })
    }

    /// Delivers a Function URL request to `webhook`; returns its HTTP response.
    pub async fn deliver(
        &self,
        request: &serde_json::Value,
    ) -> Result<serde_json::Value, BoxError> {
        Ok(self.webhook.invoke(request).await?)
    }

    /// Hands every event the rule delivered to `trigger`, in order, one direct
    /// invoke each (which answers with what started); returns each event with
    /// trigger's answer. `pump_batch` hands them over as the deployed queue does.
    pub async fn pump(
        &self,
        expected: usize,
    ) -> Result<Vec<(serde_json::Value, serde_json::Value)>, BoxError> {
        let events = self
            .aws
            .take_events(expected, Duration::from_secs(10))
            .await?;
        let mut answers = Vec::new();
        for event in events {
            let answer = self.trigger.invoke(&event).await?;
            answers.push((event, answer));
        }
        Ok(answers)
    }

    /// Hands the trigger queue's messages to `trigger` as one batch, as the
    /// event source mapping does, and settles the batch by its answer (the
    /// partial batch response); returns the batch and the answer.
    pub async fn pump_batch(
        &self,
        expected: usize,
    ) -> Result<(serde_json::Value, serde_json::Value), BoxError> {
        let batch = self
            .aws
            .receive_batch(expected, Duration::from_secs(10))
            .await?;
        let answer = self.trigger.invoke(&batch).await?;
        self.aws.settle(&batch, &answer).await?;
        Ok((batch, answer))
    }
}

/// A commit status as it reached the GitHub stand-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostedStatus {
    pub path: String,
    pub body: serde_json::Value,
}

impl LocalRun {
    /// Hands `status` a state-change event (moto emits none: they are built from
    /// AWS's documented samples) and returns its answer.
    pub async fn report(&self, event: &serde_json::Value) -> Result<serde_json::Value, BoxError> {
        Ok(self.status.invoke(event).await?)
    }

    /// Every commit status the GitHub stand-in received, in order.
    pub async fn posted_statuses(&self) -> Vec<PostedStatus> {
        self.github
            .received_requests()
            .await
            .unwrap_or_default()
            .into_iter()
            .map(|request| PostedStatus {
                path: request.url.path().to_owned(),
                body: serde_json::from_slice(&request.body).unwrap_or_default(),
            })
            .collect()
    }
}

impl LocalRun {
    /// Runs the pruner as its schedule would: `input` is the schedule's input.
    pub async fn prune(&self, input: &serde_json::Value) -> Result<serde_json::Value, BoxError> {
        Ok(self.pruner.invoke(input).await?)
    }
}
