//! Gantry running on this machine: moto's server as AWS, the `webhook` and
//! `trigger` binaries under local Lambda Runtime APIs, and the bus's rule
//! queue pumped into `trigger` as Lambda's EventBridge integration would.

use crate::moto::Moto;
use crate::runtime::LocalFunction;
use crate::scenario::{self, LocalAws, LOCAL_SECRET};
use crate::{workspace_binary, BoxError};
use std::path::Path;
use std::time::Duration;

pub struct LocalRun {
    pub moto: Moto,
    pub aws: LocalAws,
    pub webhook: LocalFunction,
    pub trigger: LocalFunction,
}

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
        let trigger = LocalFunction::start(
            "trigger",
            &workspace_binary("trigger"),
            &trigger_env,
            log_dir.join("trigger.log"),
        )
        .await?;
        Ok(LocalRun {
            moto,
            aws,
            webhook,
            trigger,
        })
    }

    /// Delivers a Function URL request to `webhook`; returns its HTTP response.
    pub async fn deliver(
        &self,
        request: &serde_json::Value,
    ) -> Result<serde_json::Value, BoxError> {
        Ok(self.webhook.invoke(request).await?)
    }

    /// Hands every event the rule delivered to `trigger`, in order; returns each
    /// event with trigger's answer.
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
}
