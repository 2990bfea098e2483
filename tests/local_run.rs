//! The functions' real binaries, as Lambda runs them (a process polling the
//! Runtime API), against moto's server: the README's local run, as a test.

use gantry_tests::local_run::LocalRun;
use gantry_tests::moto::Moto;
use gantry_tests::runtime::{InvokeError, LocalFunction};
use gantry_tests::scenario;
use gantry_tests::{sample, workspace_binary, workspace_root};
use wiremock::matchers::method;
use wiremock::{Mock, ResponseTemplate};

const COMMIT: &str = "6113728f27ae82c7b1a177c8d03f9e96e0adf246";

#[tokio::test]
async fn the_binaries_carry_a_signed_push_to_a_started_pipeline() {
    let log_dir = workspace_root().join("target/test-logs/local-run");
    let local = LocalRun::start(&log_dir).await.unwrap();

    let response = local.deliver(&sample("webhook/push.json")).await.unwrap();
    assert_eq!(response["statusCode"], 202, "{response}");

    let answers = local.pump(1).await.unwrap();
    assert_eq!(answers.len(), 1);
    let (event, answer) = &answers[0];
    assert_eq!(
        event["detail"]["commit"],
        "6113728f27ae82c7b1a177c8d03f9e96e0adf246"
    );
    assert_eq!(answer["outcome"], "started", "{answer}");
    assert_eq!(
        answer["started"][0]["kind"], "pipeline_execution",
        "{answer}"
    );
    assert_eq!(answer["started"][0]["target"], "hello-world-pipeline");

    // Every log line is JSON and, inside the handler, carries the delivery context.
    let webhook_logs = local.webhook.logs();
    let published = webhook_logs
        .iter()
        .find(|line| line["message"] == "event published")
        .unwrap_or_else(|| panic!("no 'event published' line in {webhook_logs:?}"));
    assert_eq!(
        published["span"]["delivery"],
        "72d3162e-cc78-11e3-81ab-4c9367dc0958"
    );
    assert_eq!(published["span"]["repository"], "Codertocat/Hello-World");
    assert_eq!(
        published["span"]["commit"],
        "6113728f27ae82c7b1a177c8d03f9e96e0adf246"
    );
    let trigger_logs = local.trigger.logs();
    let started = trigger_logs
        .iter()
        .find(|line| line["message"] == "started")
        .unwrap_or_else(|| panic!("no 'started' line in {trigger_logs:?}"));
    assert_eq!(started["span"]["pipeline"], "hello-world-pipeline");
    assert_eq!(
        started["span"]["delivery"],
        "72d3162e-cc78-11e3-81ab-4c9367dc0958"
    );
    assert_eq!(
        started["span"]["commit"],
        "6113728f27ae82c7b1a177c8d03f9e96e0adf246"
    );
    assert_eq!(started["execution"], answer["started"][0]["id"]);

    // The execution's state change, through the status binary, to GitHub.
    let execution_id = answer["started"][0]["id"].as_str().unwrap();
    let event = gantry_tests::scenario::state_change(
        "codepipeline.docs.pipeline-succeeded.json",
        serde_json::json!({"pipeline": "hello-world-pipeline", "execution-id": execution_id}),
    );
    let outcome = local.report(&event).await.unwrap();
    assert_eq!(outcome["outcome"], "posted", "{outcome}");
    let posted = local.posted_statuses().await;
    assert_eq!(posted.len(), 1);
    assert_eq!(
        posted[0].path,
        "/repos/Codertocat/Hello-World/statuses/6113728f27ae82c7b1a177c8d03f9e96e0adf246"
    );
    assert_eq!(posted[0].body["state"], "success");
    assert_eq!(posted[0].body["context"], "gantry/hello-world-pipeline");

    // The local run's last step: the pruner, with executions now in the account.
    let summary = local
        .prune(&sample("aws/eventbridge-event.docs.json"))
        .await
        .unwrap();
    assert_eq!(summary["complete"], true, "{summary}");
    assert_eq!(summary["examined"]["objects"], 24, "{summary}");
}

#[tokio::test]
async fn the_pruner_binary_answers_a_schedule_with_a_summary() {
    let log_dir = workspace_root().join("target/test-logs/pruner");
    let local = LocalRun::start(&log_dir).await.unwrap();
    let summary = local
        .prune(&sample("aws/eventbridge-event.docs.json"))
        .await
        .unwrap();
    assert_eq!(summary["dry_run"], true, "{summary}");
    assert_eq!(summary["complete"], true);
    assert_eq!(summary["examined"]["objects"], 24);
    assert_eq!(summary["kept"]["newest"]["objects"], 10);
    assert_eq!(summary["kept"]["young"]["objects"], 14);
    assert_eq!(summary["deleted"]["objects"], 0);
    let real = local
        .prune(&serde_json::json!({"dry_run": false}))
        .await
        .unwrap();
    assert_eq!(real["dry_run"], false, "{real}");
    assert!(local
        .pruner
        .logs()
        .iter()
        .any(|line| line["message"] == "prune finished"));
}

#[tokio::test]
async fn a_bad_signature_is_a_401_from_the_binary() {
    let log_dir = workspace_root().join("target/test-logs/bad-signature");
    let local = LocalRun::start(&log_dir).await.unwrap();
    let mut request = sample("webhook/push.json");
    request["headers"]["x-hub-signature-256"] =
        "sha256=0000000000000000000000000000000000000000000000000000000000000000".into();
    let response = local.deliver(&request).await.unwrap();
    assert_eq!(response["statusCode"], 401, "{response}");
    assert_eq!(response["body"], "invalid signature");
}

#[tokio::test]
async fn misconfiguration_fails_the_cold_start_naming_the_setting() {
    let moto = Moto::start().await.unwrap();
    let log_dir = workspace_root().join("target/test-logs/misconfigured");
    let cases = [
        (
            "trigger",
            vec![("GANTRY_ROUTES", r#"{"routes": [{"repository": "a/b"}]}"#)],
            "GANTRY_ROUTES: routes[0]: set pipeline or codebuild_project",
        ),
        ("trigger", vec![], "missing required setting GANTRY_ROUTES"),
        (
            "trigger",
            vec![(
                "GANTRY_ROUTES",
                r#"{"routes": [{"repository": "a/b", "pipeline": "p"}]}"#,
            )],
            "missing required setting GANTRY_LEDGER_TABLE",
        ),
        (
            "trigger",
            vec![
                (
                    "GANTRY_ROUTES",
                    r#"{"routes": [{"repository": "a/b", "pipeline": "p"}]}"#,
                ),
                ("GANTRY_LEDGER_TABLE", "gantry-ledger"),
            ],
            "missing required setting GANTRY_TRIGGER_QUEUE_URL",
        ),
        (
            "trigger",
            vec![
                (
                    "GANTRY_ROUTES",
                    r#"{"routes": [{"repository": "a/b", "pipeline": "p"}]}"#,
                ),
                ("GANTRY_LEDGER_TABLE", "gantry-ledger"),
                ("GANTRY_TRIGGER_QUEUE_URL", "http://localhost/q"),
            ],
            "missing required setting GANTRY_TRIGGER_DLQ_URL",
        ),
        (
            "pruner",
            vec![
                ("GANTRY_ARTIFACT_BUCKET", "gantry-artifacts"),
                ("GANTRY_PIPELINES", "app-pipeline"),
                ("GANTRY_PRUNE_ALLOWED_PREFIXES", "nightly-builds/"),
            ],
            "setting GANTRY_PRUNE_ALLOWED_PREFIXES is invalid: rules[0] (app-pipeline): s3://gantry-artifacts/app-pipeline/ is outside",
        ),
        (
            "webhook",
            vec![("GANTRY_WEBHOOK_SECRET", "s")],
            "missing required setting GANTRY_EVENT_BUS",
        ),
        (
            "webhook",
            vec![("GANTRY_EVENT_BUS", "gantry")],
            "missing required setting: set GANTRY_WEBHOOK_SECRET_ARN or GANTRY_WEBHOOK_SECRET",
        ),
        (
            "webhook",
            vec![
                ("GANTRY_EVENT_BUS", "gantry"),
                ("GANTRY_WEBHOOK_SECRET", "s"),
                ("GANTRY_WEBHOOK_SECRET_ARN", "arn:x"),
            ],
            "set only one of GANTRY_WEBHOOK_SECRET_ARN and GANTRY_WEBHOOK_SECRET",
        ),
    ];
    for (index, (function, settings, expected)) in cases.into_iter().enumerate() {
        let process = start_with(&moto, function, &settings, &log_dir, index).await;
        let err = process.invoke(&serde_json::json!({})).await.unwrap_err();
        assert!(matches!(err, InvokeError::Exited(_)), "{err}");
        assert!(err.to_string().contains(expected), "case {index}: {err}");
    }
}

#[tokio::test]
async fn a_failed_invocation_names_its_failure_in_error_type() {
    let moto = Moto::start().await.unwrap();
    scenario::create_ledger_table(&moto.sdk_config().await)
        .await
        .unwrap();
    let log_dir = workspace_root().join("target/test-logs/error-types");
    let routes =
        r#"{"routes": [{"repository": "Codertocat/Hello-World", "pipeline": "no-such-pipeline"}]}"#;
    let mut not_a_gantry_event = sample("trigger/push.json");
    not_a_gantry_event["detail"]["commit"] = "not a sha".into();
    let cases = [
        (
            "trigger",
            vec![
                ("GANTRY_ROUTES", routes),
                ("GANTRY_LEDGER_TABLE", scenario::LEDGER_TABLE),
                ("GANTRY_TRIGGER_QUEUE_URL", "http://localhost/q"),
                ("GANTRY_TRIGGER_DLQ_URL", "http://localhost/dlq"),
            ],
            sample("trigger/push.json"),
            "UnknownPipeline",
        ),
        (
            "trigger",
            vec![
                ("GANTRY_ROUTES", routes),
                ("GANTRY_LEDGER_TABLE", scenario::LEDGER_TABLE),
                ("GANTRY_TRIGGER_QUEUE_URL", "http://localhost/q"),
                ("GANTRY_TRIGGER_DLQ_URL", "http://localhost/dlq"),
            ],
            not_a_gantry_event,
            "InvalidEvent",
        ),
        (
            "pruner",
            vec![
                ("GANTRY_ARTIFACT_BUCKET", "gantry-artifacts"),
                ("GANTRY_PIPELINES", "p"),
            ],
            serde_json::json!({"dryRun": true}),
            "InvalidRunInput",
        ),
    ];
    for (index, (function, settings, payload, error_type)) in cases.into_iter().enumerate() {
        let process = start_with(&moto, function, &settings, &log_dir, index).await;
        let Err(InvokeError::Function(record)) = process.invoke(&payload).await else {
            panic!("case {index}: the invocation must fail");
        };
        assert_eq!(record["errorType"], error_type, "case {index}: {record}");
        assert!(
            record["errorMessage"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "case {index}: {record}"
        );
    }
}

#[tokio::test]
async fn a_status_github_refuses_for_good_is_counted_in_a_metric_line() {
    let log_dir = workspace_root().join("target/test-logs/github-rejected");
    let local = LocalRun::start(&log_dir).await.unwrap();
    // The token cannot write to this repository: GitHub answers 404 for good.
    local.github.reset().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(404).set_body_json(serde_json::json!({"message": "Not Found"})),
        )
        .mount(&local.github)
        .await;
    let build_id = aws_sdk_codebuild::Client::new(&local.aws.sdk)
        .start_build()
        .project_name(scenario::PROJECT)
        .source_version(COMMIT)
        .send()
        .await
        .unwrap()
        .build_value
        .and_then(|build| build.id)
        .unwrap();

    let answer = local
        .report(&scenario::build_state_change(
            &build_id,
            "SUCCEEDED",
            COMMIT,
        ))
        .await
        .unwrap();
    assert_eq!(answer["outcome"], "rejected", "{answer}");
    assert_eq!(
        local.github.received_requests().await.unwrap().len(),
        1,
        "not retried"
    );

    let metric_lines: Vec<serde_json::Value> = local
        .status
        .logs()
        .into_iter()
        .filter(|line| line.get("_aws").is_some())
        .collect();
    assert_eq!(metric_lines.len(), 1, "{metric_lines:?}");
    let line = &metric_lines[0];
    let directive = &line["_aws"]["CloudWatchMetrics"][0];
    assert_eq!(directive["Namespace"], "Gantry");
    assert_eq!(directive["Metrics"][0]["Name"], "GitHubRejected");
    assert_eq!(
        directive["Dimensions"],
        serde_json::json!([["FunctionName"]])
    );
    assert_eq!(line["FunctionName"], "status");
    assert_eq!(line["GitHubRejected"], 1);
    assert_eq!(line["status"], 404);
    assert_eq!(line["commit"], COMMIT);
}

/// `function`'s binary against `moto`, with `settings` added to its environment.
async fn start_with(
    moto: &Moto,
    function: &str,
    settings: &[(&str, &str)],
    log_dir: &std::path::Path,
    index: usize,
) -> LocalFunction {
    let mut env = moto.env();
    env.extend(
        settings
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    LocalFunction::start(
        function,
        &workspace_binary(function),
        &env,
        log_dir.join(format!("{index}-{function}.log")),
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn the_trigger_binary_answers_a_queue_batch_and_dead_letters_what_needs_an_operator() {
    let log_dir = workspace_root().join("target/test-logs/local-run-batch");
    let local = LocalRun::start(&log_dir).await.unwrap();

    let response = local.deliver(&sample("webhook/push.json")).await.unwrap();
    assert_eq!(response["statusCode"], 202, "{response}");
    let (batch, answer) = local.pump_batch(1).await.unwrap();
    assert_eq!(batch["Records"].as_array().map(Vec::len), Some(1));
    assert_eq!(answer, serde_json::json!({"batchItemFailures": []}));
    let started = local
        .trigger
        .logs()
        .into_iter()
        .filter(|line| line["message"] == "started")
        .count();
    assert_eq!(started, 1);

    // A body that is no event: out of the trigger queue, into its dead-letter
    // queue, named.
    aws_sdk_sqs::Client::new(&local.aws.sdk)
        .send_message()
        .queue_url(&local.aws.queue_url)
        .message_body("not an event")
        .send()
        .await
        .unwrap();
    let (_, answer) = local.pump_batch(1).await.unwrap();
    assert_eq!(answer, serde_json::json!({"batchItemFailures": []}));
    let dead = local.aws.dead_letters().await.unwrap();
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0].0, "not an event");
    assert_eq!(dead[0].1["GantryErrorType"], "InvalidEvent");
}

#[tokio::test]
async fn the_status_binary_in_app_mode_posts_a_failed_builds_check_run_with_its_tests() {
    let moto = Moto::start().await.unwrap();
    scenario::create_ledger_table(&moto.sdk_config().await)
        .await
        .unwrap();
    let log_dir = workspace_root().join("target/test-logs/app-mode");
    let app = gantry_tests::app_mode::AppMode::start(&moto, &log_dir)
        .await
        .unwrap();

    let answer = app.report("FAILED").await.unwrap();
    assert_eq!(answer["outcome"], "check_run", "{answer}");
    assert_eq!(answer["conclusion"], "failure", "{answer}");
    let runs = app.check_runs().await;
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0].method, "POST");
    let output = &runs[0].body["output"];
    assert!(
        output["title"]
            .as_str()
            .unwrap()
            .starts_with("Build failed in phase BUILD"),
        "{output}"
    );
    assert!(
        output["summary"]
            .as_str()
            .unwrap()
            .contains("### Tests: hello-world-unit-tests"),
        "{output}"
    );
    assert_eq!(output["annotations"][0]["path"], "src/lib.rs");

    // Redelivered, the same event changes nothing: the ledger knows the run.
    let again = app.report("FAILED").await.unwrap();
    assert_eq!(again["outcome"], "ignored", "{again}");
    assert_eq!(app.check_runs().await.len(), 1);
}
