//! The soak: many deliveries through the real binaries (webhook -> bus ->
//! trigger -> state-change events -> status) against moto and the GitHub
//! stand-in, each function behind a fault proxy (`fault_proxy`), counting
//! what was lost, started twice or regressed.
//!
//! - Every delivery is a push to its own commit that two routes take (a
//!   pipeline and a project), so each delivery must start exactly two targets.
//! - The AWS side meets faults on EventBridge (the webhook's publish), Secrets
//!   Manager (the webhook's secret, read for every delivery), DynamoDB (the
//!   ledger), CodePipeline, CodeBuild and SQS (trigger's own queue calls); the
//!   GitHub side on every status posted.
//! - A delivery the webhook answers 5xx is redelivered with the same delivery
//!   id, as an operator would from GitHub's page, up to `MAX_REDELIVERIES`
//!   times; one in ten delivered ones is redelivered once more anyway.
//! - The rule's queue is handed to trigger in batches as the event source
//!   mapping does, and trigger's own backoff (a minute, then longer) is
//!   honoured: a failed event waits as it would deployed, so a soak with
//!   faults takes minutes, most of them waiting.
//! - moto runs no build or execution for long and emits no state change, so
//!   each start's outcome is scripted (`script`: three in five succeed, one
//!   fails, one is stopped), written into the answers status reads, and the
//!   soak feeds status the start's events out of order and repeated (the end,
//!   in progress, the end again); the commit's final status for each target
//!   must be the scripted outcome's, and no `pending` may follow an end.
//! - With a `time_scale` above 1, every wait on the trigger queue (trigger's
//!   backoff, the queue's visibility timeout) is that many times shorter: the
//!   same tries in the same order, in less time.
//! - A start is counted by its idempotency token in the request trigger sent
//!   (the proxy sees every request): the SDK's retry of a lost answer repeats
//!   the token, which AWS dedupes and moto does not, so distinct tokens per
//!   (delivery, target) are what AWS would have started. trigger's token is
//!   fixed per (delivery, target), so a second start trigger itself makes is
//!   counted apart: separate SDK calls (each with its own invocation id) that
//!   reached moto for one (delivery, target).
//! - A second status, in App mode, gets the same events and writes check runs
//!   (its ledger in moto's DynamoDB, behind the AWS proxy) to a GitHub
//!   stand-in of its own behind a fault proxy (`check_runs`): each (commit,
//!   target) must hold exactly one run, completed with the outcome's
//!   conclusion, never reopened.
//! - What ends in a dead-letter queue, or in status's failures after Lambda's
//!   three tries, is redriven with the proxies healed, and the work must then
//!   be complete.

pub mod script;

use crate::check_runs;
use crate::fault_proxy::{FaultProxy, Unscripted, Upstream};
use crate::moto::Moto;
use crate::runtime::LocalFunction;
use crate::scenario::{self, LocalAws, LOCAL_SECRET, PIPELINE, PROJECT, REPOSITORY};
use crate::{sample, workspace_binary, BoxError};
use gantry_core::ids::DeliveryId;
use script::{Outcome, SoakScript};
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// Redeliveries of one delivery the webhook answered 5xx.
pub const MAX_REDELIVERIES: usize = 5;
/// trigger's `Timeout` in the template.
const TRIGGER_TIMEOUT: Duration = Duration::from_secs(30);
/// Lambda's tries of an asynchronous invocation (the first and two retries).
const STATUS_TRIES: usize = 3;
/// Tries of a redriven status event, 5 s apart: past a claim's lease.
const REDRIVE_TRIES: usize = 20;
/// status's concurrent containers in each mode.
const STATUS_CONTAINERS: usize = 4;

#[derive(Debug, Clone)]
pub struct SoakConfig {
    pub deliveries: usize,
    /// Of every request a function sends, the share that meets a fault.
    pub fault_rate: f64,
    pub seed: u64,
    pub log_dir: PathBuf,
    /// The soak stops by itself after this long, reporting what it has.
    pub time_budget: Duration,
    /// Waits on the trigger queue are this many times shorter (1: as deployed).
    pub time_scale: u32,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct SoakReport {
    pub deliveries: usize,
    pub fault_rate: f64,
    pub time_scale: u32,
    pub answered_2xx: usize,
    /// Deliveries answered 5xx at least once, then redelivered until 2xx.
    pub answered_5xx_then_redelivered: usize,
    /// Deliveries still answered 5xx after every redelivery.
    pub answered_5xx_to_the_end: usize,
    /// Deliveries sent again after a 2xx (a duplicate GitHub would send).
    pub duplicate_deliveries: usize,
    pub targets_expected: usize,
    /// (delivery, target) started exactly once: one idempotency token.
    pub started_once: usize,
    /// (delivery, target) started under two or more tokens: duplicated.
    pub started_more_than_once: usize,
    /// (delivery, target) whose start reached AWS in two or more separate
    /// calls under its one token: AWS dedupes them (within its idempotency
    /// window), moto does not; not a duplicate, but reported.
    pub started_again_under_the_same_token: usize,
    /// (delivery, target) never started, after redriving.
    pub never_started: usize,
    pub dead_letters: usize,
    pub status_failures_redriven: usize,
    /// The starts' scripted outcomes, by name.
    pub outcomes_scripted: BTreeMap<String, usize>,
    pub statuses_expected: usize,
    /// The final status is the scripted outcome's.
    pub statuses_right: usize,
    pub statuses_wrong: usize,
    pub statuses_missing: usize,
    /// A `pending` posted after an end (`success`, `failure`, `error`) for the
    /// same commit and context.
    pub regressions: usize,
    /// App mode: (commit, target) holding exactly one check run.
    pub check_runs_once: usize,
    /// App mode: (commit, target) holding two or more check runs.
    pub check_runs_duplicated: usize,
    pub check_runs_missing: usize,
    /// App mode: the run (the latest, where there are several) not completed
    /// with the outcome's conclusion.
    pub check_runs_wrong: usize,
    /// App mode: runs changed after they completed.
    pub check_runs_reopened: usize,
    pub app_status_failures_redriven: usize,
    pub aws_faults: BTreeMap<String, usize>,
    pub github_faults: BTreeMap<String, usize>,
    /// On App mode's GitHub (check runs, the installation token).
    pub app_github_faults: BTreeMap<String, usize>,
    pub out_of_time: bool,
    pub seconds: f64,
}

impl SoakReport {
    /// Zero lost, zero duplicated, zero regressed.
    pub fn clean(&self) -> bool {
        self.started_more_than_once == 0
            && self.never_started == 0
            && self.answered_5xx_to_the_end == 0
            && self.statuses_wrong == 0
            && self.statuses_missing == 0
            && self.regressions == 0
            && self.check_runs_duplicated == 0
            && self.check_runs_missing == 0
            && self.check_runs_wrong == 0
            && self.check_runs_reopened == 0
            && !self.out_of_time
    }
}

/// Two routes take every push: a pipeline and a project.
pub fn soak_routes() -> String {
    json!({"routes": [
        {"name": "pipeline", "repository": REPOSITORY, "events": ["push"], "branches": ["**"], "pipeline": PIPELINE},
        {"name": "build", "repository": REPOSITORY, "events": ["push"], "branches": ["**"], "codebuild_project": PROJECT}
    ]})
    .to_string()
}

struct World {
    _moto: Moto,
    aws: LocalAws,
    github: MockServer,
    aws_proxy: FaultProxy,
    github_proxy: FaultProxy,
    app_github_proxy: FaultProxy,
    check_runs: check_runs::HeldRuns,
    script: Arc<SoakScript>,
    webhook: LocalFunction,
    trigger: LocalFunction,
    /// status's containers in token mode (commit statuses), as many as
    /// [`STATUS_CONTAINERS`], each taking the events of its share of starts.
    status: Vec<LocalFunction>,
    /// status's containers in App mode (check runs), beside them.
    status_app: Vec<LocalFunction>,
    _app_github: MockServer,
}

async fn world(config: &SoakConfig) -> Result<World, BoxError> {
    let moto = Moto::start().await?;
    let aws = scenario::provision(&moto.sdk_config().await).await?;
    let github = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path_regex(r"^/repos/[^/]+/[^/]+/statuses/[0-9a-f]{40}$"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({})))
        .mount(&github)
        .await;
    let script = Arc::new(SoakScript::new(config.time_scale));
    // A message trigger fails to settle comes back after the queue's
    // visibility timeout: compressed as trigger's own backoff is.
    aws_sdk_sqs::Client::new(&aws.sdk)
        .set_queue_attributes()
        .queue_url(&aws.queue_url)
        .attributes(
            aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout,
            script
                .compressed(u64::from(scenario::TRIGGER_QUEUE_VISIBILITY_S))
                .to_string(),
        )
        .send()
        .await?;
    let aws_proxy = FaultProxy::start(
        &moto.endpoint,
        Upstream::Aws,
        config.fault_rate,
        config.seed,
        script.clone(),
    )
    .await?;
    let github_proxy = FaultProxy::start(
        &github.uri(),
        Upstream::GitHub,
        config.fault_rate,
        config.seed ^ 0x5eed,
        Arc::new(Unscripted),
    )
    .await?;
    let app_github = MockServer::start().await;
    let check_runs = check_runs::mount(&app_github).await;
    let app_github_proxy = FaultProxy::start(
        &app_github.uri(),
        Upstream::GitHub,
        config.fault_rate,
        config.seed ^ 0xa995,
        Arc::new(Unscripted),
    )
    .await?;
    // Every function reaches AWS through the proxy.
    let env = |extra: &[(&str, String)]| {
        let mut env: Vec<(String, String)> = moto
            .env()
            .into_iter()
            .map(|(k, v)| {
                if k == "AWS_ENDPOINT_URL" {
                    (k, aws_proxy.url.clone())
                } else {
                    (k, v)
                }
            })
            .collect();
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.clone())));
        env
    };
    let log = |name: &str| config.log_dir.join(format!("soak-{name}.log"));
    // The webhook's secret in Secrets Manager, read again for every delivery
    // (a time to live of 0), so Secrets Manager's faults are met as often as
    // the bus's.
    let secret_arn = aws_sdk_secretsmanager::Client::new(&aws.sdk)
        .create_secret()
        .name("gantry-soak-webhook-secret")
        .secret_string(LOCAL_SECRET)
        .send()
        .await?
        .arn
        .ok_or("Secrets Manager gave the secret no ARN")?;
    let webhook = LocalFunction::start(
        "webhook",
        &workspace_binary("webhook"),
        &env(&[
            ("GANTRY_EVENT_BUS", scenario::BUS.into()),
            ("GANTRY_WEBHOOK_SECRET_ARN", secret_arn),
            ("GANTRY_SECRET_TTL_SECONDS", "0".into()),
        ]),
        log("webhook"),
    )
    .await?;
    // The template's timeout: a claim's lease is the invocation's deadline and
    // a margin, so a claim that ended without a record waits that long.
    let trigger = LocalFunction::start_with_timeout(
        "trigger",
        &workspace_binary("trigger"),
        &env(&[
            ("GANTRY_ROUTES", soak_routes()),
            ("GANTRY_LEDGER_TABLE", scenario::LEDGER_TABLE.into()),
            ("GANTRY_TRIGGER_QUEUE_URL", aws.queue_url.clone()),
            ("GANTRY_TRIGGER_DLQ_URL", aws.dead_letter_url.clone()),
        ]),
        log("trigger"),
        TRIGGER_TIMEOUT,
    )
    .await?;
    let mut status = Vec::new();
    let mut status_app = Vec::new();
    for container in 0..STATUS_CONTAINERS {
        let name = format!("status-{container}");
        status.push(
            LocalFunction::start(
                &name,
                &workspace_binary("status"),
                &env(&[
                    (
                        "GANTRY_GITHUB_TOKEN",
                        crate::local_run::LOCAL_GITHUB_TOKEN.into(),
                    ),
                    ("GANTRY_GITHUB_API_URL", github_proxy.url.clone()),
                ]),
                log(&name),
            )
            .await?,
        );
        let name = format!("status-app-{container}");
        status_app.push(
            LocalFunction::start(
                &name,
                &workspace_binary("status"),
                &env(&[
                    ("GANTRY_GITHUB_APP_ID", crate::app_mode::APP_ID.into()),
                    ("GANTRY_GITHUB_APP_KEY", crate::app_mode::app_key_pem()?),
                    ("GANTRY_GITHUB_API_URL", app_github_proxy.url.clone()),
                    ("GANTRY_LEDGER_TABLE", scenario::LEDGER_TABLE.into()),
                ]),
                log(&name),
            )
            .await?,
        );
    }
    Ok(World {
        _moto: moto,
        aws,
        github,
        aws_proxy,
        github_proxy,
        app_github_proxy,
        check_runs,
        script,
        webhook,
        trigger,
        status,
        status_app,
        _app_github: app_github,
    })
}

/// Delivery `index`'s id and commit.
fn delivery(seed: u64, index: usize) -> (String, String) {
    let id = format!("{:08x}-0000-4000-8000-{:012x}", seed as u32, index);
    let mut commit = format!("{:08x}{:032x}", seed as u32, index as u128 * 0x9e37_79b9);
    commit.truncate(40);
    (id, commit)
}

/// The push sample's Function URL request, as delivery `id` of `commit`, signed.
fn push_request(template: &Value, id: &str, commit: &str) -> Value {
    let mut request = template.clone();
    let mut payload: Value =
        serde_json::from_str(template["body"].as_str().unwrap_or("{}")).unwrap_or_default();
    payload["after"] = commit.into();
    payload["head_commit"]["id"] = commit.into();
    let body = payload.to_string();
    let signature = gantry_webhook::signature::sign(LOCAL_SECRET.as_bytes(), body.as_bytes());
    request["body"] = body.into();
    request["headers"]["x-github-delivery"] = id.into();
    request["headers"]["x-hub-signature-256"] = signature.into();
    request["headers"]["content-length"] = request["body"]
        .as_str()
        .map(str::len)
        .unwrap_or(0)
        .to_string()
        .into();
    request
}

/// How many times the harness tries one of its own calls: with the waits of
/// `steady`, about five minutes of patience with a loaded moto.
const HARNESS_TRIES: u32 = 36;

/// A call of the harness itself (past the proxies, to moto), tried again
/// when moto is slow to answer: the harness is not what is under test, and a
/// long run must not be lost to a minute in which moto, on a shared machine,
/// answered nothing.
async fn steady<T, F, Fut>(mut call: F) -> Result<T, BoxError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, BoxError>>,
{
    let mut tries = 1;
    loop {
        match call().await {
            Ok(value) => return Ok(value),
            Err(err) if tries < HARNESS_TRIES => {
                eprintln!("soak: the harness's own call failed ({err}); trying again");
                tokio::time::sleep(Duration::from_secs(u64::from(tries.min(10)))).await;
                tries += 1;
            }
            Err(err) => return Err(err),
        }
    }
}

fn status_code(answer: &Value) -> u16 {
    answer["statusCode"].as_u64().unwrap_or(0) as u16
}

pub async fn run(config: &SoakConfig) -> Result<SoakReport, BoxError> {
    let started = Instant::now();
    let out_of_time = || started.elapsed() > config.time_budget;
    let world = world(config).await?;
    let template = sample("webhook/push.json");
    let mut report = SoakReport {
        deliveries: config.deliveries,
        fault_rate: config.fault_rate,
        time_scale: config.time_scale,
        ..SoakReport::default()
    };
    // Each delivery's index and commit, by its id.
    let mut commits: HashMap<String, (usize, String)> = HashMap::new();

    // 1. GitHub delivers; a 5xx is redelivered.
    for index in 0..config.deliveries {
        let (id, commit) = delivery(config.seed, index);
        commits.insert(id.clone(), (index, commit.clone()));
        let request = push_request(&template, &id, &commit);
        let mut failed_once = false;
        let mut delivered = false;
        for _ in 0..=MAX_REDELIVERIES {
            // A function error (the webhook's own retries ran out) is a 5xx too.
            let code = world
                .webhook
                .invoke(&request)
                .await
                .map(|a| status_code(&a))
                .unwrap_or(500);
            if (200..300).contains(&code) {
                delivered = true;
                break;
            }
            failed_once = true;
        }
        match (delivered, failed_once) {
            (true, false) => report.answered_2xx += 1,
            (true, true) => {
                report.answered_2xx += 1;
                report.answered_5xx_then_redelivered += 1;
            }
            (false, _) => report.answered_5xx_to_the_end += 1,
        }
        if delivered && index % 10 == 3 {
            report.duplicate_deliveries += 1;
            let _ = world.webhook.invoke(&request).await;
        }
        // Keep the queue moving as deliveries arrive.
        if index % 10 == 9 {
            steady(|| pump(&world, Duration::from_millis(200))).await?;
        }
    }

    eprintln!(
        "soak: {} deliveries sent in {:.1} s",
        config.deliveries,
        started.elapsed().as_secs_f64()
    );
    // 2. trigger takes the queue until it is empty.
    while steady(|| world.aws.messages_in(&world.aws.queue_url)).await? > 0 && !out_of_time() {
        steady(|| pump(&world, Duration::from_secs(1))).await?;
    }

    // 3. What reached a dead-letter queue is moved back with the proxies healed.
    report.dead_letters =
        steady(|| world.aws.messages_in(&world.aws.dead_letter_url)).await? as usize;
    if report.dead_letters > 0 {
        world.aws_proxy.heal();
        steady(|| redrive_dead_letters(&world.aws)).await?;
        while steady(|| world.aws.messages_in(&world.aws.queue_url)).await? > 0 && !out_of_time() {
            steady(|| pump(&world, Duration::from_secs(1))).await?;
        }
    }

    eprintln!(
        "soak: the trigger queue empty after {:.1} s",
        started.elapsed().as_secs_f64()
    );
    // 4. What started, by the ledger (read past the proxy) and by the tokens sent.
    let ledger = scenario::ledger(&world.aws.sdk, gantry_core::ledger::Clock::system());
    let calls = start_calls(&world.aws_proxy);
    let mut starts = Vec::new();
    for (id, (index, commit)) in &commits {
        let delivery_id = DeliveryId::parse(id)?;
        let recorded = steady(|| async {
            Ok(ledger
                .starts_for_delivery(
                    &delivery_id,
                    tokio::time::Instant::now() + Duration::from_secs(20),
                )
                .await?)
        })
        .await?;
        for (target_index, target) in [format!("pipeline/{PIPELINE}"), format!("project/{PROJECT}")]
            .into_iter()
            .enumerate()
        {
            let outcome = Outcome::of(*index, target_index);
            report.targets_expected += 1;
            let sent = calls.get(&(id.clone(), target.clone()));
            let distinct = sent.map_or(0, |c| c.tokens.len());
            if sent.is_some_and(|c| c.calls_arrived.len() > 1) {
                report.started_again_under_the_same_token += 1;
            }
            let start = recorded
                .iter()
                .find(|s| s.target == target)
                .and_then(|s| s.started.clone());
            match (distinct, start) {
                (0, _) | (_, None) => report.never_started += 1,
                (1, Some(start)) => {
                    report.started_once += 1;
                    starts.push((commit.clone(), target, start, outcome));
                }
                (_, Some(start)) => {
                    report.started_more_than_once += 1;
                    starts.push((commit.clone(), target, start, outcome));
                }
            }
        }
    }

    // 5. Each start ends as scripted; status gets its events, out of order
    // and repeated.
    for (_, _, start, outcome) in &starts {
        world.script.script(&start.id, *outcome);
        *report
            .outcomes_scripted
            .entry(format!("{outcome:?}"))
            .or_default() += 1;
    }
    // Lambda runs concurrent containers: each takes every STATUS_CONTAINERS-th
    // start, and a start's events reach both modes in their order.
    let lanes = (0..STATUS_CONTAINERS).map(|container| {
        let (world, starts, out_of_time) = (&world, &starts, &out_of_time);
        async move {
            let (mut failed, mut failed_app) = (Vec::new(), Vec::new());
            for (commit, _target, start, outcome) in
                starts.iter().skip(container).step_by(STATUS_CONTAINERS)
            {
                for event in state_changes(&start.kind, &start.id, commit, *outcome) {
                    let (reported, reported_app) = tokio::join!(
                        report_tried(&world.status[container], &event),
                        report_tried(&world.status_app[container], &event)
                    );
                    if !reported {
                        failed.push(event.clone());
                    }
                    if !reported_app {
                        failed_app.push(event);
                    }
                }
                if out_of_time() {
                    break;
                }
            }
            (failed, failed_app)
        }
    });
    let (mut failed_reports, mut failed_app_reports) = (Vec::new(), Vec::new());
    for (failed, failed_app) in futures_util::future::join_all(lanes).await {
        failed_reports.extend(failed);
        failed_app_reports.extend(failed_app);
    }
    eprintln!(
        "soak: {} starts reported to status after {:.1} s",
        starts.len(),
        started.elapsed().as_secs_f64()
    );
    report.status_failures_redriven = failed_reports.len();
    report.app_status_failures_redriven = failed_app_reports.len();
    if !failed_reports.is_empty() || !failed_app_reports.is_empty() {
        world.aws_proxy.heal();
        world.github_proxy.heal();
        world.app_github_proxy.heal();
        for event in &failed_reports {
            redrive_report(&world.status[0], event).await?;
        }
        for event in &failed_app_reports {
            redrive_report(&world.status_app[0], event).await?;
        }
    }

    // 6. The statuses as GitHub holds them.
    let mut posted: HashMap<(String, String), Vec<String>> = HashMap::new();
    for request in world.github.received_requests().await.unwrap_or_default() {
        let body: Value = serde_json::from_slice(&request.body).unwrap_or_default();
        let sha = request
            .url
            .path()
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_owned();
        posted
            .entry((sha, body["context"].as_str().unwrap_or_default().to_owned()))
            .or_default()
            .push(body["state"].as_str().unwrap_or_default().to_owned());
    }
    for (commit, target, _, outcome) in &starts {
        report.statuses_expected += 1;
        let context = context_of(target);
        match posted.get(&(commit.clone(), context)) {
            None => report.statuses_missing += 1,
            Some(states) => {
                if states.last().map(String::as_str) == Some(outcome.commit_state()) {
                    report.statuses_right += 1;
                } else {
                    report.statuses_wrong += 1;
                }
                let first_end = states.iter().position(|s| s != "pending");
                if first_end.is_some_and(|at| states[at..].iter().any(|s| s == "pending")) {
                    report.regressions += 1;
                }
            }
        }
    }
    count_check_runs(&mut report, &world.check_runs.runs(), &starts);
    report.aws_faults = world.aws_proxy.fault_counts();
    report.github_faults = world.github_proxy.fault_counts();
    report.app_github_faults = world.app_github_proxy.fault_counts();
    report.out_of_time = out_of_time();
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// Hands `event` to `status` as Lambda hands an asynchronous invocation: up
/// to three tries; whether one took it.
async fn report_tried(status: &LocalFunction, event: &Value) -> bool {
    for _ in 0..STATUS_TRIES {
        if status.invoke(event).await.is_ok() {
            return true;
        }
    }
    false
}

/// An event that failed all its tries, sent again once the faults are healed,
/// as an operator's redrive would: a check run whose create failed is held by
/// its claim until the claim's lease ends (`CheckRunInProgress`), so it is
/// tried until then, and an error that outlasts the lease ends the run.
async fn redrive_report(status: &LocalFunction, event: &Value) -> Result<(), BoxError> {
    let mut tries = 0;
    loop {
        match status.invoke(event).await {
            Ok(_) => return Ok(()),
            Err(err) if tries < REDRIVE_TRIES => {
                tries += 1;
                eprintln!("soak: a redriven event failed ({err}); again in 5 s");
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
            Err(err) => return Err(err.into()),
        }
    }
}

/// App mode's check runs, as GitHub holds them, against each start's outcome.
fn count_check_runs(
    report: &mut SoakReport,
    held: &[check_runs::HeldRun],
    starts: &[(String, String, gantry_core::ledger::StartedRecord, Outcome)],
) {
    let mut by_subject: HashMap<(&str, &str), Vec<&check_runs::HeldRun>> = HashMap::new();
    for run in held {
        by_subject
            .entry((run.head_sha.as_str(), run.name.as_str()))
            .or_default()
            .push(run);
    }
    report.check_runs_reopened = held.iter().filter(|run| run.reopened).count();
    for (commit, target, _, outcome) in starts {
        let name = context_of(target);
        match by_subject
            .get(&(commit.as_str(), name.as_str()))
            .map(Vec::as_slice)
        {
            None | Some([]) => report.check_runs_missing += 1,
            Some(runs) => {
                if runs.len() == 1 {
                    report.check_runs_once += 1;
                } else {
                    report.check_runs_duplicated += 1;
                }
                let latest = runs[runs.len() - 1];
                if latest.status != "completed"
                    || latest.conclusion.as_deref() != Some(outcome.check_conclusion())
                {
                    report.check_runs_wrong += 1;
                }
            }
        }
    }
}

/// A target's status context and check-run name: `gantry/<pipeline or project>`.
fn context_of(target: &str) -> String {
    format!(
        "gantry/{}",
        target.split_once('/').map_or(target, |(_, name)| name)
    )
}

/// One batch from the trigger queue through trigger, settled by its answer as
/// the event source mapping does: a failed message stays hidden for the backoff
/// trigger gave it.
async fn pump(world: &World, wait: Duration) -> Result<(), BoxError> {
    let batch = world.aws.receive_batch(10, wait).await?;
    if batch["Records"].as_array().is_none_or(Vec::is_empty) {
        return Ok(());
    }
    let answer = match world.trigger.invoke(&batch).await {
        Ok(answer) => answer,
        // A failed invocation: the whole batch comes back after the queue's
        // visibility timeout, as Lambda would leave it.
        Err(_) => json!({"batchItemFailures": batch["Records"].as_array().into_iter().flatten()
            .map(|r| json!({"itemIdentifier": r["messageId"]})).collect::<Vec<_>>()}),
    };
    world.aws.settle(&batch, &answer).await?;
    Ok(())
}

/// Every message of the trigger's dead-letter queue back onto its queue (what
/// `gantry redrive --queue TriggerDlq` does). The queue is emptied by its
/// count, not up to the first empty receive: moto moves a message there as it
/// is received once too often, and it stays hidden there for the visibility
/// timeout it was received under.
async fn redrive_dead_letters(aws: &LocalAws) -> Result<(), BoxError> {
    let sqs = aws_sdk_sqs::Client::new(&aws.sdk);
    while aws.messages_in(&aws.dead_letter_url).await? > 0 {
        let output = sqs
            .receive_message()
            .queue_url(&aws.dead_letter_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await?;
        for message in output.messages() {
            sqs.send_message()
                .queue_url(&aws.queue_url)
                .message_body(message.body().unwrap_or_default())
                .send()
                .await?;
            if let Some(handle) = message.receipt_handle() {
                sqs.delete_message()
                    .queue_url(&aws.dead_letter_url)
                    .receipt_handle(handle)
                    .send()
                    .await?;
            }
        }
    }
    Ok(())
}

/// What trigger sent to start one (delivery, target).
#[derive(Debug, Default)]
struct StartCalls {
    /// Distinct idempotency tokens: what AWS would have started.
    tokens: BTreeSet<String>,
    /// Distinct SDK calls (a call and its retries share an invocation id)
    /// that reached moto: more than one means trigger started it again and
    /// relied on the token to dedupe it.
    calls_arrived: BTreeSet<String>,
}

fn start_calls(proxy: &FaultProxy) -> HashMap<(String, String), StartCalls> {
    let mut calls: HashMap<(String, String), StartCalls> = HashMap::new();
    for passed in proxy.passed() {
        let body: Value = serde_json::from_slice(&passed.body).unwrap_or_default();
        let (target, token, variables) = match passed.operation.as_str() {
            "StartPipelineExecution" => (
                format!("pipeline/{}", body["name"].as_str().unwrap_or_default()),
                body["clientRequestToken"].as_str(),
                &body["variables"],
            ),
            "StartBuild" => (
                format!(
                    "project/{}",
                    body["projectName"].as_str().unwrap_or_default()
                ),
                body["idempotencyToken"].as_str(),
                &body["environmentVariablesOverride"],
            ),
            _ => continue,
        };
        let delivery = variables
            .as_array()
            .into_iter()
            .flatten()
            .find(|v| v["name"] == "GANTRY_DELIVERY_ID")
            .and_then(|v| v["value"].as_str());
        if let (Some(delivery), Some(token)) = (delivery, token) {
            let entry = calls.entry((delivery.to_owned(), target)).or_default();
            entry.tokens.insert(token.to_owned());
            if passed.arrived() {
                entry
                    .calls_arrived
                    .insert(passed.invocation.clone().unwrap_or_default());
            }
        }
    }
    calls
}

/// A start's state changes as status would receive them, out of order and
/// repeated: its end, then the earlier state, then its end again.
fn state_changes(kind: &str, id: &str, commit: &str, outcome: Outcome) -> Vec<Value> {
    if kind == "build" {
        let build = id.rsplit('/').next().unwrap_or(id);
        let end = outcome.build_status();
        [end, "IN_PROGRESS", end]
            .into_iter()
            .map(|state| scenario::build_state_change(build, state, commit))
            .collect()
    } else {
        let end = outcome.execution_status().0;
        [
            ("codepipeline.docs.pipeline-succeeded.json", end),
            ("codepipeline.docs.pipeline-started.json", "STARTED"),
            ("codepipeline.docs.pipeline-succeeded.json", end),
        ]
        .into_iter()
        .map(|(sample_name, state)| {
            scenario::state_change(
                sample_name,
                json!({"pipeline": PIPELINE, "execution-id": id, "state": state}),
            )
        })
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three dead letters, one of them held in flight (as moto holds one it has
    /// just moved): the redrive waits it out, and all three are back.
    #[tokio::test]
    async fn the_redrive_moves_every_dead_letter_back_even_one_held_in_flight() {
        let moto = Moto::start().await.unwrap();
        let aws = scenario::provision(&moto.sdk_config().await).await.unwrap();
        let sqs = aws_sdk_sqs::Client::new(&aws.sdk);
        for n in 0..3 {
            sqs.send_message()
                .queue_url(&aws.dead_letter_url)
                .message_body(format!("{{\"event\":{n}}}"))
                .send()
                .await
                .unwrap();
        }
        let held = sqs
            .receive_message()
            .queue_url(&aws.dead_letter_url)
            .visibility_timeout(2)
            .send()
            .await
            .unwrap();
        assert_eq!(held.messages().len(), 1);

        redrive_dead_letters(&aws).await.unwrap();

        assert_eq!(aws.messages_in(&aws.dead_letter_url).await.unwrap(), 0);
        let mut bodies = BTreeSet::new();
        while bodies.len() < 3 {
            let received = sqs
                .receive_message()
                .queue_url(&aws.queue_url)
                .max_number_of_messages(10)
                .send()
                .await
                .unwrap();
            assert!(!received.messages().is_empty(), "back: {bodies:?}");
            bodies.extend(
                received
                    .messages()
                    .iter()
                    .filter_map(|m| m.body().map(str::to_owned)),
            );
        }
        assert_eq!(
            bodies,
            (0..3)
                .map(|n| format!("{{\"event\":{n}}}"))
                .collect::<BTreeSet<_>>()
        );
    }
}
