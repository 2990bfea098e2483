//! `gantry` with a stack named, and on GitHub's side, against moto and a
//! GitHub stand-in:
//!
//! - `doctor --stack`: the stack's outputs (moto's CloudFormation) and its
//!   functions' settings (moto's Lambda) name every part; the repository's
//!   webhook and its last day's deliveries are read from the stand-in, healthy
//!   and broken;
//! - `replay`: one delivery by its guid, and every failed one, from a
//!   repository's webhook (a token) and from the App's (its JWT);
//! - `redrive` to the bus (moto's rule really delivers it), to `status` and
//!   to a failure record's function. moto runs no function code (no Docker
//!   engine here), so Lambda's `Invoke` is answered by a stand-in in AWS's
//!   documented shape (200 with the function's answer, `X-Amz-Function-Error`
//!   on a function error), which records what it was invoked with.
//!
//! Every answer the GitHub stand-in gives is GitHub's documented example,
//! changed only where the scenario needs, and checked against GitHub's REST
//! description.

use gantry_cli::doctor::{self, Clients, Parts};
use gantry_cli::redrive::{self, Destination, Redrive};
use gantry_cli::replay::{Ask, Replay};
use gantry_cli::report::{Report, Verdict};
use gantry_cli::stack;
use gantry_core::github::{AppKey, GitHubClient, HookScope, RetryPolicy};
use gantry_core::ids::RepoName;
use gantry_core::secret::CachedSecret;
use gantry_tests::deliveries::attempt;
use gantry_tests::moto::Moto;
use gantry_tests::rest::{check_response, description};
use gantry_tests::scenario::{self, LocalAws, BUS, REPOSITORY};
use gantry_tests::{sample, workspace_binary};
use serde_json::{json, Value};
use std::time::Duration;
use wiremock::matchers::{header_regex, method, path, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

const STACK: &str = "gantry";
const WEBHOOK_URL: &str = "https://abcdefghijklmnop.lambda-url.us-east-1.on.aws/";
const HOOK: u64 = 12345678;
const TRIGGER: &str = "gantry-trigger";
const STATUS: &str = "gantry-status";

fn fast() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 2,
        first_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(50),
    }
}

/// The operator's token (admin on the repository) against the stand-in `github`.
fn admin_token_client(github: &MockServer) -> GitHubClient {
    GitHubClient::new(&github.uri(), CachedSecret::plain("admin-token"), fast()).unwrap()
}

/// The test App (its id and key) against the stand-in `github`.
fn app_client(github: &MockServer) -> GitHubClient {
    GitHubClient::app(
        &github.uri(),
        AppKey::new(
            gantry_tests::app_mode::APP_ID.into(),
            CachedSecret::plain(&gantry_tests::app_mode::app_key_pem().unwrap()),
        ),
        fast(),
    )
    .unwrap()
}

fn failures(report: &Report) -> Vec<String> {
    report
        .findings
        .iter()
        .filter(|f| f.verdict == Verdict::Fail)
        .map(|f| format!("{}: {}", f.subject, f.detail))
        .collect()
}

/// The repository's webhook, from GitHub's documented example.
fn hook(active: bool, events: &[&str], secret: bool) -> Value {
    let mut hook = description("hooks.response-200.json")[0].clone();
    hook["id"] = HOOK.into();
    hook["active"] = active.into();
    hook["events"] = json!(events);
    hook["config"]["url"] = WEBHOOK_URL.into();
    if secret {
        hook["config"]["secret"] = "********".into();
    }
    hook
}

/// Answers `GET` on `route` with `body`, checked against `extract`'s 200.
async fn answer_get(github: &MockServer, extract: &str, route: &str, url: String, body: Value) {
    check_response(&description(extract), route, "get", "200", &body)
        .unwrap_or_else(|err| panic!("{route}: {err}"));
    Mock::given(method("GET"))
        .and(path(url))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .mount(github)
        .await;
}

/// Accepts redeliveries under `prefix` (202, `{}`: `accepted`'s schema).
async fn accept_redeliveries(github: &MockServer, extract: &str, route: &str, prefix: &str) {
    check_response(&description(extract), route, "post", "202", &json!({})).unwrap();
    Mock::given(method("POST"))
        .and(path_regex(format!("^{prefix}/[0-9]+/attempts$")))
        .respond_with(ResponseTemplate::new(202).set_body_json(json!({})))
        .mount(github)
        .await;
}

/// The delivery ids GitHub was asked to redeliver, in order.
async fn redelivered(github: &MockServer) -> Vec<u64> {
    github
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.method.as_str() == "POST")
        .filter_map(|r| {
            let segments: Vec<&str> = r.url.path().split('/').collect();
            segments.iter().rev().nth(1)?.parse().ok()
        })
        .collect()
}

/// A CloudFormation stack in moto with the outputs Gantry's template gives
/// (moto's CloudFormation skips functions' URLs, so the outputs are values),
/// and the trigger and status functions with their settings.
async fn deploy_stack(aws: &LocalAws, routes: &str, github_api: &str) {
    let mut outputs = serde_json::Map::new();
    for (name, value) in [
        ("LedgerTableName", scenario::LEDGER_TABLE.to_owned()),
        ("TriggerFunctionName", TRIGGER.to_owned()),
        ("StatusFunctionName", STATUS.to_owned()),
        ("WebhookUrl", WEBHOOK_URL.to_owned()),
        ("EventBusName", BUS.to_owned()),
        ("TriggerQueueUrl", aws.queue_url.clone()),
        ("TriggerDlqUrl", aws.dead_letter_url.clone()),
    ] {
        outputs.insert(name.into(), json!({ "Value": value }));
    }
    let template = json!({
        "Resources": {"Marker": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "gantry-stack-marker"}}},
        "Outputs": outputs,
    });
    aws_sdk_cloudformation::Client::new(&aws.sdk)
        .create_stack()
        .stack_name(STACK)
        .template_body(template.to_string())
        .send()
        .await
        .unwrap();
    let lambda = aws_sdk_lambda::Client::new(&aws.sdk);
    // An empty zip (its end record alone): moto stores the code and never runs it.
    let mut empty_zip = b"PK\x05\x06".to_vec();
    empty_zip.resize(22, 0);
    for (name, settings) in [
        (
            TRIGGER,
            vec![
                ("GANTRY_ROUTES", routes.to_owned()),
                ("GANTRY_LEDGER_TABLE", scenario::LEDGER_TABLE.to_owned()),
            ],
        ),
        (
            STATUS,
            vec![("GANTRY_GITHUB_API_URL", github_api.to_owned())],
        ),
    ] {
        let mut environment = aws_sdk_lambda::types::Environment::builder();
        for (key, value) in settings {
            environment = environment.variables(key, value);
        }
        lambda
            .create_function()
            .function_name(name)
            .runtime(aws_sdk_lambda::types::Runtime::Providedal2023)
            .handler("bootstrap")
            .role(&aws.role_arn)
            .code(
                aws_sdk_lambda::types::FunctionCode::builder()
                    .zip_file(aws_sdk_lambda::primitives::Blob::new(empty_zip.clone()))
                    .build(),
            )
            .environment(environment.build())
            .send()
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn doctor_reads_the_stack_by_name_and_checks_the_webhook_and_its_deliveries() {
    let moto = Moto::start().await.unwrap();
    let aws = scenario::provision(&moto.sdk_config().await).await.unwrap();
    let clients = Clients::new(&aws.sdk);
    let github = MockServer::start().await;
    let routes = scenario::routes_json();
    deploy_stack(&aws, &routes, &github.uri()).await;

    let deployment = stack::read(&clients.cloudformation, &clients.lambda, STACK)
        .await
        .unwrap();
    assert_eq!(deployment.routes(), Some(routes.as_str()));
    let parts = Parts {
        routes: deployment.routes().map(str::to_owned),
        ledger_table: Some(deployment.output("LedgerTableName").unwrap().to_owned()),
        dead_letter_queues: deployment.operator_queues(),
        webhook_url: Some(deployment.output("WebhookUrl").unwrap().to_owned()),
        alarms: Default::default(),
    };
    assert_eq!(
        parts.dead_letter_queues,
        vec![("TriggerDlq".to_owned(), aws.dead_letter_url.clone())]
    );
    let repo_hooks = format!("/repos/{REPOSITORY}/hooks");
    let deliveries = format!("{repo_hooks}/{HOOK}/deliveries");
    answer_get(
        &github,
        "repos-list-webhooks.json",
        "/repos/{owner}/{repo}/hooks",
        repo_hooks.clone(),
        json!([hook(true, &["push", "pull_request"], true)]),
    )
    .await;
    // One delivered at once, one after a 502 and a redelivery.
    answer_get(
        &github,
        "repos-list-webhook-deliveries.json",
        "/repos/{owner}/{repo}/hooks/{hook_id}/deliveries",
        deliveries.clone(),
        json!([
            attempt(3, "b", 10, true, 202),
            attempt(2, "b", 30, false, 502),
            attempt(1, "a", 60, false, 202),
        ]),
    )
    .await;
    let token = admin_token_client(&github);
    let report = doctor::run(&clients, &parts, Some(&token)).await;
    assert!(failures(&report).is_empty(), "{}", report.to_text());
    let text = report.to_text();
    assert!(
        text.contains(&format!("ok   webhook of {REPOSITORY}: hook {HOOK} is active, JSON, with a secret, and sends push, pull_request")),
        "{text}"
    );
    assert!(
        text.contains("every one delivered (1 after a retry)"),
        "{text}"
    );

    // Broken: the hook inactive, without pull_request, without a secret; a
    // delivery failed and never delivered since, one refused.
    github.reset().await;
    answer_get(
        &github,
        "repos-list-webhooks.json",
        "/repos/{owner}/{repo}/hooks",
        repo_hooks,
        json!([hook(false, &["push"], false)]),
    )
    .await;
    answer_get(
        &github,
        "repos-list-webhook-deliveries.json",
        "/repos/{owner}/{repo}/hooks/{hook_id}/deliveries",
        deliveries,
        json!([
            attempt(5, "c", 5, false, 503),
            attempt(4, "d", 6, false, 401)
        ]),
    )
    .await;
    let report = doctor::run(&clients, &parts, Some(&token)).await;
    let failed = failures(&report);
    assert_eq!(failed.len(), 2, "{}", report.to_text());
    assert!(
        failed[0].contains("it is not active; it does not send pull_request; it has no secret"),
        "{failed:?}"
    );
    assert!(
        failed[1].contains("1 failed and not delivered since (c Invalid HTTP Response: 503)"),
        "{failed:?}"
    );
    assert!(
        failed[1].contains("1 refused by the webhook (d 401)"),
        "{failed:?}"
    );

    // The binary, with the stack named: the same parts, the token from GITHUB_TOKEN.
    let run = |args: &[&str]| {
        let mut command = std::process::Command::new(workspace_binary("gantry"));
        command.args(args).env("GITHUB_TOKEN", "admin-token");
        for (name, value) in moto.env() {
            command.env(name, value);
        }
        command.output().unwrap()
    };
    let broken = run(&["--stack", STACK, "doctor"]);
    let stdout = String::from_utf8_lossy(&broken.stdout);
    assert_eq!(broken.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("it does not send pull_request"), "{stdout}");
    assert!(
        stdout.contains("ok   ledger: table gantry-ledger is ACTIVE"),
        "{stdout}"
    );
    let unknown = run(&["--stack", "no-such-stack", "doctor"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&unknown.stderr).contains("stack no-such-stack does not exist"),
        "{}",
        String::from_utf8_lossy(&unknown.stderr)
    );
}

#[tokio::test]
async fn replay_sends_one_delivery_again_by_its_guid_and_every_failed_one() {
    let github = MockServer::start().await;
    let prefix = format!("/repos/{REPOSITORY}/hooks/{HOOK}/deliveries");
    answer_get(
        &github,
        "repos-list-webhook-deliveries.json",
        "/repos/{owner}/{repo}/hooks/{hook_id}/deliveries",
        prefix.clone(),
        json!([
            attempt(16, "c", 20, true, 200),
            attempt(15, "d", 40, false, 401),
            attempt(14, "c", 50, false, 503),
            attempt(13, "b", 60, false, 502),
            attempt(12, "a", 70, false, 200),
        ]),
    )
    .await;
    accept_redeliveries(
        &github,
        "repos-redeliver-webhook-delivery.json",
        "/repos/{owner}/{repo}/hooks/{hook_id}/deliveries/{delivery_id}/attempts",
        &prefix,
    )
    .await;
    let token = admin_token_client(&github);
    let scope = HookScope::Repository {
        repo: RepoName::parse(REPOSITORY).unwrap(),
        hook_id: HOOK,
    };
    let replay = |dry_run| Replay {
        github: &token,
        scope: &scope,
        dry_run,
    };
    let failed = Ask::Failed {
        since: Duration::from_secs(24 * 3600),
    };

    let dry = replay(true).run(&failed).await.unwrap();
    assert!(
        dry.to_text().contains("would send again: push of"),
        "{}",
        dry.to_text()
    );
    assert!(
        redelivered(&github).await.is_empty(),
        "a dry run sends nothing"
    );

    // Only b: c was delivered by its redelivery, d was refused for good.
    let report = replay(false).run(&failed).await.unwrap();
    assert!(failures(&report).is_empty(), "{}", report.to_text());
    assert_eq!(redelivered(&github).await, vec![13]);
    assert!(report
        .to_text()
        .contains("delivery d: not sent again: the webhook refused it with 401"));

    // One by its guid: its newest attempt.
    replay(false).run(&Ask::Delivery("c".into())).await.unwrap();
    assert_eq!(redelivered(&github).await, vec![13, 16]);
    let unknown = replay(false)
        .run(&Ask::Delivery("zzz".into()))
        .await
        .unwrap();
    assert_eq!(failures(&unknown).len(), 1, "{}", unknown.to_text());

    // The App's own webhook, with the App's JWT (never an installation token).
    let app_github = MockServer::start().await;
    check_response(
        &description("apps-list-webhook-deliveries.json"),
        "/app/hook/deliveries",
        "get",
        "200",
        &json!([attempt(22, "e", 5, false, 504)]),
    )
    .unwrap();
    Mock::given(method("GET"))
        .and(path("/app/hook/deliveries"))
        .and(header_regex(
            "authorization",
            r"^Bearer [\w-]+\.[\w-]+\.[\w-]+$",
        ))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!([attempt(22, "e", 5, false, 504)])),
        )
        .mount(&app_github)
        .await;
    accept_redeliveries(
        &app_github,
        "apps-redeliver-webhook-delivery.json",
        "/app/hook/deliveries/{delivery_id}/attempts",
        "/app/hook/deliveries",
    )
    .await;
    let app = app_client(&app_github);
    let report = Replay {
        github: &app,
        scope: &HookScope::App,
        dry_run: false,
    }
    .run(&failed)
    .await
    .unwrap();
    assert!(failures(&report).is_empty(), "{}", report.to_text());
    assert_eq!(redelivered(&app_github).await, vec![22]);

    // A token cannot read the App's webhook: said plainly, nothing sent.
    let refused = Replay {
        github: &token,
        scope: &HookScope::App,
        dry_run: false,
    }
    .run(&failed)
    .await
    .unwrap_err();
    assert!(
        gantry_core::logging::error_chain(&refused).contains("only a GitHub App may read"),
        "{refused}"
    );

    // The binary: a token from GITHUB_TOKEN, the hook by its id.
    let out = std::process::Command::new(workspace_binary("gantry"))
        .args([
            "replay",
            "--failed",
            "--repository",
            REPOSITORY,
            "--hook-id",
            &HOOK.to_string(),
        ])
        .args(["--github-api-url", &github.uri()])
        .env("GITHUB_TOKEN", "admin-token")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(redelivered(&github).await, vec![13, 16, 13]);
}

/// A stand-in for Lambda's `Invoke`: `function` answers `answer` (a function
/// error when `error` names one).
async fn invocations(lambda: &MockServer, function: &str, error: Option<&str>) {
    let mut response =
        ResponseTemplate::new(200).insert_header("x-amz-executed-version", "$LATEST");
    response = match error {
        None => response.set_body_json(Value::Null),
        Some(kind) => response
            .insert_header("x-amz-function-error", "Unhandled")
            .set_body_json(json!({"errorType": kind, "errorMessage": "GitHub API still failing after 4 attempts"})),
    };
    Mock::given(method("POST"))
        // A name or, as a failure record gives it, an ARN (its colons escaped).
        .and(path_regex(format!(
            "^/2015-03-31/functions/[^/]*{function}/invocations$"
        )))
        .respond_with(response)
        .mount(lambda)
        .await;
}

async fn invoked(lambda: &MockServer) -> Vec<(String, Value)> {
    lambda
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .map(|r| {
            (
                r.url
                    .path()
                    .split('/')
                    .nth(3)
                    .unwrap_or_default()
                    .to_owned(),
                serde_json::from_slice(&r.body).unwrap_or_default(),
            )
        })
        .collect()
}

#[tokio::test]
async fn redrive_puts_events_back_on_the_bus_and_hands_aws_events_and_failure_records_to_their_function(
) {
    let moto = Moto::start().await.unwrap();
    let aws = scenario::provision(&moto.sdk_config().await).await.unwrap();
    let sqs = aws_sdk_sqs::Client::new(&aws.sdk);
    let events = aws_sdk_eventbridge::Client::new(&aws.sdk);
    let lambda_standin = MockServer::start().await;
    let lambda = aws_sdk_lambda::Client::from_conf(
        aws_sdk_lambda::config::Builder::from(&aws.sdk)
            .endpoint_url(lambda_standin.uri())
            .build(),
    );
    let queue = |name: &'static str| {
        let sqs = sqs.clone();
        async move {
            sqs.create_queue()
                .queue_name(name)
                .send()
                .await
                .unwrap()
                .queue_url
                .unwrap()
        }
    };
    let put = |url: String, body: String| {
        let sqs = sqs.clone();
        async move {
            sqs.send_message()
                .queue_url(url)
                .message_body(body)
                .send()
                .await
                .unwrap();
        }
    };
    let redrive = |from: String, to: Destination| {
        let (sqs, events, lambda) = (&sqs, &events, &lambda);
        async move {
            Redrive {
                clients: redrive::Clients {
                    sqs,
                    events,
                    lambda,
                },
                from: &from,
                to: &to,
                dry_run: false,
                max: 100,
            }
            .run(&mut |_, _| {})
            .await
            .unwrap()
        }
    };

    // The trigger rule's dead letter: back on the bus, the rule delivers it to TriggerQueue.
    let rule_dlq = queue("gantry-trigger-rule-dlq").await;
    let push = sample("trigger/push.json");
    put(rule_dlq.clone(), push.to_string()).await;
    let report = redrive(rule_dlq.clone(), Destination::Bus(BUS.into())).await;
    assert!(failures(&report).is_empty(), "{}", report.to_text());
    let delivered = aws.receive_batch(1, Duration::from_secs(5)).await.unwrap();
    let body: Value =
        serde_json::from_str(delivered["Records"][0]["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["detail"], push["detail"]);
    assert_eq!(body["detail-type"], push["detail-type"]);
    assert_eq!(aws.messages_in(&rule_dlq).await.unwrap(), 0);

    // CodeBuild's event: status invoked with it; a second, failing again, stays.
    let build_dlq = queue("gantry-status-build-rule-dlq").await;
    let state_change = sample("status/codebuild.docs.build-state-change.json");
    put(build_dlq.clone(), state_change.to_string()).await;
    invocations(&lambda_standin, STATUS, None).await;
    let report = redrive(build_dlq.clone(), Destination::Function(STATUS.into())).await;
    assert!(failures(&report).is_empty(), "{}", report.to_text());
    assert_eq!(
        invoked(&lambda_standin).await,
        vec![(STATUS.to_owned(), state_change.clone())]
    );
    assert_eq!(aws.messages_in(&build_dlq).await.unwrap(), 0);

    lambda_standin.reset().await;
    invocations(&lambda_standin, STATUS, Some("GitHubUnavailable")).await;
    put(build_dlq.clone(), state_change.to_string()).await;
    let report = redrive(build_dlq.clone(), Destination::Function(STATUS.into())).await;
    let failed = failures(&report);
    assert_eq!(failed.len(), 1, "{}", report.to_text());
    assert!(
        failed[0].contains("failed again (Unhandled): GitHubUnavailable"),
        "{failed:?}"
    );
    assert_eq!(
        aws.messages_in(&build_dlq).await.unwrap(),
        1,
        "what failed again stays"
    );

    // A failure queue's record: its function invoked with the request it failed on.
    lambda_standin.reset().await;
    invocations(&lambda_standin, STATUS, None).await;
    let failures_queue = queue("gantry-status-failures").await;
    let record = json!({
        "version": "1.0",
        "timestamp": "2026-12-01T10:00:00.000Z",
        "requestContext": {
            "requestId": "e4b46cbf-b738-xmpl-8880-a18cdf61200e",
            "functionArn": format!("arn:aws:lambda:us-east-1:123456789012:function:{STATUS}:$LATEST"),
            "condition": "RetriesExhausted",
            "approximateInvokeCount": 3
        },
        "requestPayload": state_change,
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": {"errorType": "GitHubUnavailable", "errorMessage": "GitHub API still failing"}
    });
    put(failures_queue.clone(), record.to_string()).await;
    let report = redrive(failures_queue.clone(), Destination::FailureRecords).await;
    assert!(failures(&report).is_empty(), "{}", report.to_text());
    let calls = invoked(&lambda_standin).await;
    assert_eq!(calls.len(), 1);
    assert!(calls[0].0.ends_with(STATUS), "{calls:?}");
    assert_eq!(calls[0].1, record["requestPayload"]);
    assert_eq!(aws.messages_in(&failures_queue).await.unwrap(), 0);
}

#[tokio::test]
async fn explain_tells_what_github_sent_what_the_webhook_answered_and_what_the_commit_shows() {
    let moto = Moto::start().await.unwrap();
    let aws = scenario::provision(&moto.sdk_config().await).await.unwrap();
    let clients = Clients::new(&aws.sdk);
    scenario::push_through_trigger(&aws, &scenario::routes_json()).await;
    const GUID: &str = "72d3162e-cc78-11e3-81ab-4c9367dc0958";
    const COMMIT: &str = "6113728f27ae82c7b1a177c8d03f9e96e0adf246";
    let deliveries = json!([
        attempt(31, GUID, 5, true, 202),
        attempt(30, "someone-else", 20, false, 202),
        attempt(29, GUID, 30, false, 503),
    ]);
    let mut combined = description("combined-status.response-200.json");
    combined["sha"] = COMMIT.into();
    combined["statuses"].as_array_mut().unwrap().truncate(1);
    combined["statuses"][0]["context"] = "gantry/hello-world-pipeline".into();
    combined["statuses"][0]["description"] = "Pipeline succeeded in 1m 3s".into();
    let statuses_url = format!("/repos/{REPOSITORY}/commits/{COMMIT}/status");

    // Token mode: the repository's webhook, and the commit's statuses.
    let github = MockServer::start().await;
    answer_get(
        &github,
        "repos-list-webhook-deliveries.json",
        "/repos/{owner}/{repo}/hooks/{hook_id}/deliveries",
        format!("/repos/{REPOSITORY}/hooks/{HOOK}/deliveries"),
        deliveries.clone(),
    )
    .await;
    answer_get(
        &github,
        "repos-get-combined-status-for-ref.json",
        "/repos/{owner}/{repo}/commits/{ref}/status",
        statuses_url.clone(),
        combined.clone(),
    )
    .await;
    let token = admin_token_client(&github);
    let scope = HookScope::Repository {
        repo: RepoName::parse(REPOSITORY).unwrap(),
        hook_id: HOOK,
    };
    let subject = gantry_cli::explain::Subject::Commit {
        repository: RepoName::parse(REPOSITORY).unwrap(),
        commit: gantry_core::ids::CommitSha::parse(COMMIT).unwrap(),
    };
    let report = gantry_cli::explain::run(
        &clients,
        scenario::LEDGER_TABLE,
        &subject,
        Some(&gantry_cli::explain::GitHubSide {
            github: &token,
            scope: Ok(&scope),
        }),
    )
    .await
    .unwrap();
    let lines: Vec<String> = report.findings.iter().map(|f| f.detail.clone()).collect();
    let text = report.to_text();
    assert_eq!(
        lines[..2],
        [
            "GitHub sent push; the webhook answered 503 (Invalid HTTP Response: 503)".to_owned(),
            "GitHub redelivered push; the webhook answered 202 (OK)".to_owned(),
        ],
        "GitHub's side first, oldest first, only this commit's deliveries: {text}"
    );
    assert!(
        lines[2].starts_with("started 6113728 of Codertocat/Hello-World"),
        "{text}"
    );
    assert_eq!(
        lines.last().unwrap(),
        "status gantry/hello-world-pipeline: success (Pipeline succeeded in 1m 3s)",
        "{text}"
    );

    // A token without admin cannot list the hook's deliveries: the story goes
    // on without them, and says why; the commit's statuses are still read.
    let report = gantry_cli::explain::run(
        &clients,
        scenario::LEDGER_TABLE,
        &subject,
        Some(&gantry_cli::explain::GitHubSide {
            github: &token,
            scope: Err("could not list the webhooks (admin needed)"),
        }),
    )
    .await
    .unwrap();
    let text = report.to_text();
    assert!(
        text.contains("GitHub: deliveries not shown: could not list the webhooks (admin needed)"),
        "{text}"
    );
    assert!(
        text.contains("started 6113728 of Codertocat/Hello-World"),
        "{text}"
    );
    assert!(
        text.contains("status gantry/hello-world-pipeline: success"),
        "{text}"
    );

    // App mode: the App's webhook, and the commit's check runs too.
    let app_github = MockServer::start().await;
    gantry_tests::app_mode::mount_github_app(&app_github).await;
    answer_get(
        &app_github,
        "apps-list-webhook-deliveries.json",
        "/app/hook/deliveries",
        "/app/hook/deliveries".into(),
        deliveries,
    )
    .await;
    answer_get(
        &app_github,
        "repos-get-combined-status-for-ref.json",
        "/repos/{owner}/{repo}/commits/{ref}/status",
        statuses_url,
        combined,
    )
    .await;
    let mut runs = description("check-runs-for-ref.response-200.json");
    runs["check_runs"][0]["name"] = "hello-world-build".into();
    runs["check_runs"][0]["conclusion"] = "failure".into();
    runs["check_runs"][0]["output"]["title"] = "2 of 40 tests failed".into();
    answer_get(
        &app_github,
        "checks-list-for-ref.json",
        "/repos/{owner}/{repo}/commits/{ref}/check-runs",
        format!("/repos/{REPOSITORY}/commits/{COMMIT}/check-runs"),
        runs,
    )
    .await;
    let app = app_client(&app_github);
    let report = gantry_cli::explain::run(
        &clients,
        scenario::LEDGER_TABLE,
        &subject,
        Some(&gantry_cli::explain::GitHubSide {
            github: &app,
            scope: Ok(&HookScope::App),
        }),
    )
    .await
    .unwrap();
    let text = report.to_text();
    assert!(
        text.contains("GitHub redelivered push; the webhook answered 202 (OK)"),
        "{text}"
    );
    assert!(
        text.ends_with("check run hello-world-build: failure (2 of 40 tests failed)\n"),
        "{text}"
    );
}

/// A repository as GitHub lists it, from its documented example. As published
/// the example carries three fields the `repository` schema does not declare
/// (`template_repository`, `subscribers_count`, `network_count`); they are
/// removed, as the description allows no others.
fn listed_repository(example: &Value, full_name: &str) -> Value {
    let mut repository = example.clone();
    for undeclared in ["template_repository", "subscribers_count", "network_count"] {
        repository.as_object_mut().unwrap().remove(undeclared);
    }
    let (owner, name) = full_name.split_once('/').unwrap();
    repository["full_name"] = full_name.into();
    repository["name"] = name.into();
    repository["owner"]["login"] = owner.into();
    repository
}

#[tokio::test]
async fn doctor_checks_every_repository_a_glob_route_matches_that_the_credential_can_see() {
    let moto = Moto::start().await.unwrap();
    let aws = scenario::provision(&moto.sdk_config().await).await.unwrap();
    let clients = Clients::new(&aws.sdk);
    let github = MockServer::start().await;
    let example = description("user-repos.response-200.json")[0].clone();
    answer_get(
        &github,
        "repos-list-for-authenticated-user.json",
        "/user/repos",
        "/user/repos".into(),
        json!([
            listed_repository(&example, REPOSITORY),
            listed_repository(&example, "Codertocat/Spoon-Knife"),
            listed_repository(&example, "someone/else"),
        ]),
    )
    .await;
    answer_get(
        &github,
        "repos-list-webhooks.json",
        "/repos/{owner}/{repo}/hooks",
        format!("/repos/{REPOSITORY}/hooks"),
        json!([hook(true, &["push"], true)]),
    )
    .await;
    answer_get(
        &github,
        "repos-list-webhook-deliveries.json",
        "/repos/{owner}/{repo}/hooks/{hook_id}/deliveries",
        format!("/repos/{REPOSITORY}/hooks/{HOOK}/deliveries"),
        json!([attempt(1, "a", 5, false, 202)]),
    )
    .await;
    // Spoon-Knife has no webhook at all.
    answer_get(
        &github,
        "repos-list-webhooks.json",
        "/repos/{owner}/{repo}/hooks",
        "/repos/Codertocat/Spoon-Knife/hooks".into(),
        json!([]),
    )
    .await;
    let routes = json!({"routes": [
        {"repository": "codertocat/*", "events": ["push"], "pipeline": scenario::PIPELINE}
    ]})
    .to_string();
    let parts = Parts {
        routes: Some(routes),
        webhook_url: Some(WEBHOOK_URL.into()),
        ..Parts::default()
    };
    let token = admin_token_client(&github);
    let report = doctor::run(&clients, &parts, Some(&token)).await;
    let text = report.to_text();
    assert!(
        text.contains("2 of the 3 repositories the credential can see match the routes' globs"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "ok   webhook of {REPOSITORY}: hook {HOOK} is active"
        )),
        "{text}"
    );
    assert_eq!(
        failures(&report),
        vec![format!(
            "webhook of Codertocat/Spoon-Knife: no webhook points at {WEBHOOK_URL}"
        )],
        "{text}"
    );

    // An App sees its installations' repositories.
    let app_github = MockServer::start().await;
    gantry_tests::app_mode::mount_github_app(&app_github).await;
    let mut installation = description("installations.response-200.json")[0].clone();
    installation["id"] = gantry_tests::app_mode::INSTALLATION.into();
    answer_get(
        &app_github,
        "apps-list-installations.json",
        "/app/installations",
        "/app/installations".into(),
        json!([installation]),
    )
    .await;
    let listed = description("installation-repositories.response-200.json");
    let mut repositories = listed.clone();
    repositories["repositories"] =
        json!([listed_repository(&listed["repositories"][0], REPOSITORY)]);
    answer_get(
        &app_github,
        "apps-list-repos-accessible-to-installation.json",
        "/installation/repositories",
        "/installation/repositories".into(),
        repositories,
    )
    .await;
    let app = app_client(&app_github);
    let seen = app
        .visible_repositories(100, gantry_tests::soon())
        .await
        .unwrap();
    assert_eq!(seen, vec![RepoName::parse(REPOSITORY).unwrap()]);
    // The installation's listing went with the installation's own token.
    let requests = app_github.received_requests().await.unwrap();
    let listing = requests
        .iter()
        .find(|r| r.url.path() == "/installation/repositories")
        .unwrap();
    assert_eq!(
        listing.headers.get("authorization").unwrap(),
        &format!("Bearer {}", gantry_tests::app_mode::INSTALLATION_TOKEN)
    );
}
