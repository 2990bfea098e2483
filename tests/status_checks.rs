//! `status` in App mode: state changes become check runs, against moto (the
//! ledger in DynamoDB) and a GitHub stand-in that plays the App's side too
//! (the installation lookup and the token exchange). Every request is checked
//! against GitHub's REST description, and every JWT against the App's public
//! key. CodeBuild is a stand-in for `BatchGetBuilds` (moto's builds succeed on
//! their first read and run no phases).

use aws_lambda_events::eventbridge::EventBridgeEvent;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use gantry_core::github::{AppKey, GitHubClient, RetryPolicy};
use gantry_core::ledger::Clock;
use gantry_core::secret::CachedSecret;
use gantry_status::config::StatusConfig;
use gantry_status::evidence::Evidence;
use gantry_status::reader::Reader;
use gantry_status::{Outcome, StatusHandler};
use gantry_tests::app_mode::{
    app_key_pem, mount_github_app, APP_ID, CHECK_RUN, INSTALLATION, INSTALLATION_TOKEN, REPORT,
};
use gantry_tests::fault_proxy::FaultProxy;
use gantry_tests::item_writes;
use gantry_tests::moto::Moto;
use gantry_tests::rest::{check_request, check_response, description};
use gantry_tests::route::RouteOperations;
use gantry_tests::scenario::{self, LocalAws, PROJECT, REPOSITORY};
use serde_json::Value;
use std::time::Duration;
use tokio::time::Instant;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const COMMIT: &str = "6113728f27ae82c7b1a177c8d03f9e96e0adf246";
const BUILD: &str = "hello-world-build:5f6b2c1a-0000-4000-8000-000000000003";

struct World {
    _moto: Moto,
    /// A test races two handlers' conditional writes (`item_writes`).
    _one_write_at_a_time: FaultProxy,
    aws: LocalAws,
    github: MockServer,
    codebuild: MockServer,
}

/// GitHub's side: the App's installation on the repository, its token, and
/// the check-run endpoints, each answering as documented.
async fn world() -> World {
    let github = MockServer::start().await;
    mount_github_app(&github).await;
    world_with(github).await
}

/// The world with a GitHub that holds every check run created, each under an
/// id of its own (`gantry_tests::check_runs`).
async fn world_holding_check_runs() -> (World, gantry_tests::check_runs::HeldRuns) {
    let github = MockServer::start().await;
    let held = gantry_tests::check_runs::mount(&github).await;
    (world_with(github).await, held)
}

async fn world_with(github: MockServer) -> World {
    let moto = Moto::start().await.unwrap();
    let (one_write_at_a_time, sdk) = item_writes::in_front_of(&moto).await.unwrap();
    let aws = scenario::provision(&sdk).await.unwrap();
    World {
        _moto: moto,
        _one_write_at_a_time: one_write_at_a_time,
        aws,
        github,
        codebuild: MockServer::start().await,
    }
}

impl World {
    fn handler(&self) -> StatusHandler {
        self.handler_with("{}")
    }

    /// With `GANTRY_STATUS_CONFIG` = `config`, logs and raw reports read from moto.
    fn handler_with(&self, config: &str) -> StatusHandler {
        self.handler_reading(config, aws_sdk_codepipeline::Client::new(&self.aws.sdk))
    }

    fn handler_reading(
        &self,
        config: &str,
        pipelines: aws_sdk_codepipeline::Client,
    ) -> StatusHandler {
        self.handler_trying(config, pipelines, 3)
    }

    /// Each GitHub request tried `attempts` times at most.
    fn handler_trying(
        &self,
        config: &str,
        pipelines: aws_sdk_codepipeline::Client,
        attempts: u32,
    ) -> StatusHandler {
        let retry = RetryPolicy {
            max_attempts: attempts,
            first_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(100),
        };
        let builds = aws_sdk_codebuild::Client::from_conf(
            aws_sdk_codebuild::config::Builder::from(&self.aws.sdk)
                .interceptor(RouteOperations::new(
                    &self.codebuild.uri(),
                    &["BatchGetBuilds", "BatchGetReports", "DescribeTestCases"],
                ))
                .build(),
        );
        let key = AppKey::new(APP_ID.into(), CachedSecret::plain(&app_key_pem().unwrap()));
        StatusHandler::new(
            StatusConfig::parse(config).unwrap(),
            Reader::new(builds, pipelines),
            GitHubClient::app(&self.github.uri(), key, retry).unwrap(),
        )
        .with_ledger(scenario::ledger(&self.aws.sdk, Clock::system()))
        .with_evidence(Evidence::new(
            aws_sdk_cloudwatchlogs::Client::new(&self.aws.sdk),
            aws_sdk_s3::Client::new(&self.aws.sdk),
        ))
    }

    /// CodeBuild answers `BatchGetBuilds` with the build in `status` from now on.
    async fn build_is(&self, status: &str) {
        self.codebuild.reset().await;
        Mock::given(header("x-amz-target", "CodeBuild_20161006.BatchGetBuilds"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(scenario::batch_get_builds(BUILD, status, COMMIT)),
            )
            .mount(&self.codebuild)
            .await;
    }

    async fn requests(&self, verb: &str, suffix: &str) -> Vec<Request> {
        self.github
            .received_requests()
            .await
            .unwrap()
            .into_iter()
            .filter(|r| r.method.as_str() == verb && r.url.path().ends_with(suffix))
            .collect()
    }
}

async fn handle(handler: &StatusHandler, status: &str) -> Outcome {
    try_handle(handler, status).await.unwrap()
}

/// The build's state change `status`, handled; its error kept.
async fn try_handle(
    handler: &StatusHandler,
    status: &str,
) -> Result<Outcome, gantry_status::StatusError> {
    let event: EventBridgeEvent<Value> =
        serde_json::from_value(scenario::build_state_change(BUILD, status, COMMIT)).unwrap();
    handler
        .handle(event, Instant::now() + Duration::from_secs(20))
        .await
}

/// The JWT an App request carried: RS256, signed by the App's key, issued by
/// the App, living at most ten minutes.
fn assert_app_jwt(request: &Request) {
    let authorization = request.headers["authorization"].to_str().unwrap();
    let jwt = authorization.strip_prefix("Bearer ").unwrap();
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3, "{jwt}");
    let decode = |part: &str| -> Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
    };
    assert_eq!(decode(parts[0])["alg"], "RS256");
    let claims = decode(parts[1]);
    assert_eq!(claims["iss"], APP_ID);
    let lifetime = claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap();
    assert!(lifetime <= 600, "{claims}");
    let key = gantry_core::github::app::parse_key(&app_key_pem().unwrap()).unwrap();
    let public = ring::signature::UnparsedPublicKey::new(
        &ring::signature::RSA_PKCS1_2048_8192_SHA256,
        ring::signature::KeyPair::public_key(&key).as_ref().to_vec(),
    );
    public
        .verify(
            format!("{}.{}", parts[0], parts[1]).as_bytes(),
            &URL_SAFE_NO_PAD.decode(parts[2]).unwrap(),
        )
        .expect("the JWT verifies with the App's public key");
}

#[tokio::test]
async fn in_app_mode_a_failed_build_is_one_check_run_created_running_then_completed() {
    let world = world().await;
    let handler = world.handler();

    world.build_is("IN_PROGRESS").await;
    let running = handle(&handler, "IN_PROGRESS").await;
    assert!(
        matches!(
            &running,
            Outcome::CheckRun {
                check_run_id: CHECK_RUN,
                attempt: 1,
                conclusion: None,
                ..
            }
        ),
        "{running:?}"
    );
    world.build_is("FAILED").await;
    let failed = handle(&handler, "FAILED").await;
    let Outcome::CheckRun {
        conclusion, title, ..
    } = &failed
    else {
        panic!("{failed:?}")
    };
    assert_eq!(conclusion.as_deref(), Some("failure"));
    assert!(title.starts_with("Build failed in phase BUILD"), "{title}");

    // One installation lookup and one token exchange, App-signed; the token
    // is scoped to the one repository and cached for the second event.
    let lookups = world.requests("GET", "/installation").await;
    let exchanges = world.requests("POST", "/access_tokens").await;
    assert_eq!((lookups.len(), exchanges.len()), (1, 1));
    assert_app_jwt(&lookups[0]);
    assert_app_jwt(&exchanges[0]);
    let exchange: Value = serde_json::from_slice(&exchanges[0].body).unwrap();
    assert_eq!(
        exchange,
        serde_json::json!({"repositories": ["Hello-World"]})
    );
    check_request(
        &description("apps-create-installation-access-token.json"),
        "/app/installations/{installation_id}/access_tokens",
        "post",
        &exchange,
    )
    .unwrap();

    // One run: created in progress, then completed with its phases.
    let creates = world.requests("POST", "/check-runs").await;
    let updates = world
        .requests("PATCH", &format!("/check-runs/{CHECK_RUN}"))
        .await;
    assert_eq!((creates.len(), updates.len()), (1, 1));
    for request in creates.iter().chain(&updates) {
        assert_eq!(
            request.headers["authorization"],
            format!("Bearer {INSTALLATION_TOKEN}").as_str()
        );
    }
    let create: Value = serde_json::from_slice(&creates[0].body).unwrap();
    check_request(
        &description("checks-create.json"),
        "/repos/{owner}/{repo}/check-runs",
        "post",
        &create,
    )
    .unwrap();
    assert_eq!(create["name"], format!("gantry/{PROJECT}"));
    assert_eq!(create["head_sha"], COMMIT);
    assert_eq!(create["status"], "in_progress");
    // Where it came from, for the buttons: the delivery trigger put in the
    // build's environment, the target, the build.
    assert_eq!(
        create["external_id"],
        format!("72d3162e-cc78-11e3-81ab-4c9367dc0958/project/{PROJECT}/{BUILD}")
    );
    assert_eq!(create["actions"][0]["identifier"], "stop");
    assert_eq!(create["actions"][0]["label"], "Stop");
    let update: Value = serde_json::from_slice(&updates[0].body).unwrap();
    check_request(
        &description("checks-update.json"),
        "/repos/{owner}/{repo}/check-runs/{check_run_id}",
        "patch",
        &update,
    )
    .unwrap();
    assert_eq!(update["status"], "completed");
    assert_eq!(update["conclusion"], "failure");
    assert_eq!(
        update["actions"],
        serde_json::json!([]),
        "nothing to stop once it finished: the update takes the Stop button away"
    );
    let summary = update["output"]["summary"].as_str().unwrap();
    assert!(summary.contains("| BUILD | FAILED |"), "{summary}");
    assert!(
        summary.contains("| Phase | Status | Duration |"),
        "{summary}"
    );

    // A late event (the failed build read again) changes nothing.
    let late = handle(&handler, "IN_PROGRESS").await;
    assert!(matches!(late, Outcome::Ignored { .. }), "{late:?}");
    assert_eq!(world.requests("PATCH", "").await.len(), 1);
    assert_eq!(world.requests("POST", "/check-runs").await.len(), 1);
}

#[tokio::test]
async fn two_first_events_at_once_create_one_check_run() {
    let world = world().await;
    world.build_is("SUCCEEDED").await;
    // Two containers, each with its own caches, the same ledger.
    let (first, second) = (world.handler(), world.handler());
    let (a, b) = tokio::join!(handle(&first, "IN_PROGRESS"), handle(&second, "SUCCEEDED"));
    let creates = world.requests("POST", "/check-runs").await;
    assert_eq!(creates.len(), 1, "{a:?} {b:?}");
    let create: Value = serde_json::from_slice(&creates[0].body).unwrap();
    assert_eq!(create["conclusion"], "success");
    // The other event found the completed run and wrote nothing.
    assert!(
        [&a, &b]
            .iter()
            .any(|o| matches!(o, Outcome::Ignored { .. })),
        "{a:?} {b:?}"
    );
    assert!(world.requests("PATCH", "").await.is_empty());
}

#[tokio::test]
async fn an_installation_token_refused_with_401_is_exchanged_again_once() {
    let world = world().await;
    world.build_is("SUCCEEDED").await;
    // The first create is refused: the token was revoked since it was issued.
    Mock::given(method("POST"))
        .and(path(format!("/repos/{REPOSITORY}/check-runs")))
        .respond_with(
            ResponseTemplate::new(401)
                .set_body_json(serde_json::json!({"message": "Bad credentials"})),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&world.github)
        .await;
    let outcome = handle(&world.handler(), "SUCCEEDED").await;
    assert!(
        matches!(
            &outcome,
            Outcome::CheckRun {
                check_run_id: CHECK_RUN,
                ..
            }
        ),
        "{outcome:?}"
    );
    assert_eq!(world.requests("POST", "/access_tokens").await.len(), 2);
    assert_eq!(world.requests("POST", "/check-runs").await.len(), 2);
}

#[tokio::test]
async fn an_app_not_installed_on_the_repository_is_refused_for_good_and_named() {
    let world = world().await;
    world.build_is("SUCCEEDED").await;
    Mock::given(method("GET"))
        .and(path(format!("/repos/{REPOSITORY}/installation")))
        .respond_with(
            ResponseTemplate::new(404).set_body_json(serde_json::json!({"message": "Not Found"})),
        )
        .with_priority(1)
        .mount(&world.github)
        .await;
    let outcome = handle(&world.handler(), "SUCCEEDED").await;
    let Outcome::Rejected { status, message } = &outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(*status, 404);
    assert!(
        message.contains("GitHub App 4242 is not installed on Codertocat/Hello-World"),
        "{message}"
    );
    assert!(world.requests("POST", "/check-runs").await.is_empty());
}

#[tokio::test]
async fn a_failed_builds_check_run_lists_its_failed_tests_and_annotates_the_one_with_a_location() {
    let world = world().await;
    // CodeBuild's test report for the build (moto answers 500 to both reads,
    // so the stand-in answers them in AWS's documented shapes).
    gantry_tests::app_mode::failed_build_with_report(&world.codebuild, BUILD).await;

    let outcome = handle(&world.handler(), "FAILED").await;
    assert!(
        matches!(&outcome, Outcome::CheckRun { conclusion: Some(c), .. } if c == "failure"),
        "{outcome:?}"
    );
    let creates = world.requests("POST", "/check-runs").await;
    assert_eq!(creates.len(), 1);
    let create: Value = serde_json::from_slice(&creates[0].body).unwrap();
    check_request(
        &description("checks-create.json"),
        "/repos/{owner}/{repo}/check-runs",
        "post",
        &create,
    )
    .unwrap();
    let summary = create["output"]["summary"].as_str().unwrap();
    assert!(
        summary.contains("### Tests: hello-world-unit-tests\n\n28 tests: 1 failed, 5 errored, 18 succeeded, 4 skipped."),
        "{summary}"
    );
    for listed in [
        "| hello_world::tests | greets_the_world | FAILED | assertion `left == right` failed at src/lib.rs:42:9 |",
        "| NUnit.Tests.Assemblies.MockTestFixture | NUnit.Tests.Assemblies.MockTestFixture.NotRunnableTest | ERROR | No arguments were provided |",
        "NUnit.Tests.Assemblies.MockTestFixture.TestWithException | ERROR | System.ApplicationException : Intentional Exception |",
    ] {
        assert!(summary.contains(listed), "{listed} not in {summary}");
    }
    // Only the failure that names a file and line is an annotation.
    let annotations = create["output"]["annotations"].as_array().unwrap();
    assert_eq!(annotations.len(), 1, "{annotations:?}");
    assert_eq!(annotations[0]["path"], "src/lib.rs");
    assert_eq!(annotations[0]["start_line"], 42);
    assert_eq!(annotations[0]["annotation_level"], "failure");
    assert_eq!(
        annotations[0]["title"],
        "hello_world::tests / greets_the_world"
    );
    // No log was asked for: none is shown.
    assert!(create["output"]["text"].is_null(), "{create}");
}

/// Where `BatchGetBuilds` says the build's log is (the CLI reference's
/// build), as CloudWatch Logs (moto's) holds it: five lines.
const LOG_GROUP: &str = "/aws/codebuild/codebuild-demo-project";
const LOG_STREAM: &str = "46472baf-8f6b-43c2-9255-b3b963af2732";

async fn build_log_is(world: &World) {
    let logs = aws_sdk_cloudwatchlogs::Client::new(&world.aws.sdk);
    logs.create_log_group()
        .log_group_name(LOG_GROUP)
        .send()
        .await
        .unwrap();
    logs.create_log_stream()
        .log_group_name(LOG_GROUP)
        .log_stream_name(LOG_STREAM)
        .send()
        .await
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let lines = [
        "[Container] Entering phase BUILD",
        "Running 28 tests",
        "\u{1b}[31m1 failed\u{1b}[0m, 5 errored",
        "[Container] Command did not exit successfully",
        "[Container] Phase complete: BUILD State: FAILED",
    ];
    let mut put = logs
        .put_log_events()
        .log_group_name(LOG_GROUP)
        .log_stream_name(LOG_STREAM);
    for (i, line) in lines.iter().enumerate() {
        put = put.log_events(
            aws_sdk_cloudwatchlogs::types::InputLogEvent::builder()
                .timestamp(now + i as i64)
                .message(format!("{line}\n"))
                .build()
                .unwrap(),
        );
    }
    put.send().await.unwrap();
}

/// The check run's text for the last three of those lines, colour codes gone.
fn last_three_lines() -> String {
    format!("### Build log\n\nThe last 3 lines of build `{BUILD}`:\n\n```text\n1 failed, 5 errored\n[Container] Command did not exit successfully\n[Container] Phase complete: BUILD State: FAILED\n```\n")
}

/// The raw JUnit XML CodeBuild read the report from, exported to S3: it
/// places the two NUnit cases whose messages name no file.
const RAW_REPORT: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<testsuites>
  <testsuite name="NUnit.Tests.Assemblies.MockTestFixture" tests="2" errors="2">
    <testcase classname="NUnit.Tests.Assemblies.MockTestFixture" name="NUnit.Tests.Assemblies.MockTestFixture.NotRunnableTest" file="tests/MockTestFixture.cs" line="12"><error message="No arguments were provided"/></testcase>
    <testcase classname="NUnit.Tests.Assemblies.MockTestFixture" name="NUnit.Tests.Assemblies.MockTestFixture.TestWithException" file="tests/MockTestFixture.cs" line="31"><error message="Intentional Exception"/></testcase>
  </testsuite>
</testsuites>"#;

#[tokio::test]
async fn a_failed_builds_check_run_places_tests_by_the_raw_junit_in_s3_and_shows_the_log_asked_for()
{
    let world = world().await;
    gantry_tests::app_mode::failed_build_with_report(&world.codebuild, BUILD).await;
    // The ERROR cases, as read from a report group that exports to S3.
    let s3 = aws_sdk_s3::Client::new(&world.aws.sdk);
    s3.create_bucket()
        .bucket("hello-world-reports")
        .send()
        .await
        .unwrap();
    s3.put_object()
        .bucket("hello-world-reports")
        .key("hello-world-unit-tests/run-1/junit.xml")
        .body(RAW_REPORT.as_bytes().to_vec().into())
        .send()
        .await
        .unwrap();
    let mut errors =
        gantry_tests::sample("status/codebuild.describe-test-cases.aws-cli-example.json");
    for case in errors["testCases"].as_array_mut().into_iter().flatten() {
        case["reportArn"] = REPORT.into();
        case["testRawDataPath"] =
            "s3://hello-world-reports/hello-world-unit-tests/run-1/junit.xml".into();
    }
    Mock::given(header(
        "x-amz-target",
        "CodeBuild_20161006.DescribeTestCases",
    ))
    .and(wiremock::matchers::body_partial_json(
        serde_json::json!({"filter": {"status": "ERROR"}}),
    ))
    .respond_with(ResponseTemplate::new(200).set_body_json(errors))
    .with_priority(1)
    .mount(&world.codebuild)
    .await;
    build_log_is(&world).await;

    let config = format!(r#"{{"projects": {{"{PROJECT}": {{"log_lines": 3}}}}}}"#);
    let outcome = handle(&world.handler_with(&config), "FAILED").await;
    assert!(
        matches!(&outcome, Outcome::CheckRun { conclusion: Some(c), .. } if c == "failure"),
        "{outcome:?}"
    );
    let creates = world.requests("POST", "/check-runs").await;
    assert_eq!(creates.len(), 1);
    let create: Value = serde_json::from_slice(&creates[0].body).unwrap();
    check_request(
        &description("checks-create.json"),
        "/repos/{owner}/{repo}/check-runs",
        "post",
        &create,
    )
    .unwrap();
    let mut placed: Vec<(String, u64, String)> = create["output"]["annotations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["path"].as_str().unwrap().to_owned(),
                a["start_line"].as_u64().unwrap(),
                a["title"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    placed.sort();
    assert_eq!(
        placed,
        [
            ("src/lib.rs".to_owned(), 42, "hello_world::tests / greets_the_world".to_owned()),
            ("tests/MockTestFixture.cs".to_owned(), 12, "NUnit.Tests.Assemblies.MockTestFixture / NUnit.Tests.Assemblies.MockTestFixture.NotRunnableTest".to_owned()),
            ("tests/MockTestFixture.cs".to_owned(), 31, "NUnit.Tests.Assemblies.MockTestFixture / NUnit.Tests.Assemblies.MockTestFixture.TestWithException".to_owned()),
        ]
    );
    // The last three lines, below the summary.
    assert_eq!(create["output"]["text"], last_three_lines());
}

/// A failed pipeline execution's check run shows the log of the build its
/// failed CodeBuild action ran (`externalExecutionId`). `GetPipelineExecution`
/// and `ListActionExecutions` come from a stand-in in their documented
/// shapes: moto's executions succeed at once, and it has no action list.
#[tokio::test]
async fn a_failed_executions_check_run_shows_its_failed_build_actions_log_asked_for() {
    let world = world().await;
    world.build_is("FAILED").await;
    build_log_is(&world).await;
    let pipeline = "hello-world-pipeline";
    let execution = "4f47bed9-6998-476c-a49d-e60beb1e6f6b";
    let stand_in = MockServer::start().await;
    Mock::given(header("x-amz-target", "CodePipeline_20150709.GetPipelineExecution"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "pipelineExecution": {
                "pipelineName": pipeline, "pipelineVersion": 1, "pipelineExecutionId": execution,
                "status": "Failed", "artifactRevisions": [],
                "variables": [
                    {"name": "GANTRY_REPOSITORY", "resolvedValue": REPOSITORY},
                    {"name": "GANTRY_COMMIT", "resolvedValue": COMMIT},
                    {"name": "GANTRY_DELIVERY_ID", "resolvedValue": "72d3162e-cc78-11e3-81ab-4c9367dc0958"}
                ]
            }
        })))
        .mount(&stand_in)
        .await;
    let action = |stage: &str, name: &str, status: &str, provider: &str, build: &str| {
        serde_json::json!({
            "pipelineExecutionId": execution, "actionExecutionId": format!("{execution}-{name}"),
            "pipelineVersion": 1, "stageName": stage, "actionName": name,
            "startTime": 1_700_000_000.0, "lastUpdateTime": 1_700_000_125.0, "status": status,
            "input": {"actionTypeId": {"category": "Build", "owner": "AWS", "provider": provider, "version": "1"}},
            "output": {"executionResult": {"externalExecutionId": build, "externalExecutionSummary": "Build failed"}}
        })
    };
    Mock::given(header(
        "x-amz-target",
        "CodePipeline_20150709.ListActionExecutions",
    ))
    .respond_with(ResponseTemplate::new(200).set_body_json(
        serde_json::json!({"actionExecutionDetails": [
            action("Source", "Source", "Succeeded", "CodeStarSourceConnection", "not-a-build"),
            action("Build", "Build", "Failed", "CodeBuild", BUILD),
        ]}),
    ))
    .mount(&stand_in)
    .await;
    let pipelines = aws_sdk_codepipeline::Client::from_conf(
        aws_sdk_codepipeline::config::Builder::from(&world.aws.sdk)
            .interceptor(RouteOperations::new(
                &stand_in.uri(),
                &["GetPipelineExecution", "ListActionExecutions"],
            ))
            .build(),
    );
    let failed = |config: &str| {
        let handler = world.handler_reading(config, pipelines.clone());
        async move {
            let event: EventBridgeEvent<Value> = serde_json::from_value(scenario::state_change(
                "codepipeline.docs.pipeline-failed.json",
                serde_json::json!({"pipeline": pipeline, "execution-id": execution}),
            ))
            .unwrap();
            handler
                .handle(event, Instant::now() + Duration::from_secs(20))
                .await
                .unwrap()
        }
    };

    let outcome = failed(&format!(
        r#"{{"pipelines": {{"{pipeline}": {{"log_lines": 3}}}}}}"#
    ))
    .await;
    assert!(
        matches!(&outcome, Outcome::CheckRun { conclusion: Some(c), .. } if c == "failure"),
        "{outcome:?}"
    );
    let creates = world.requests("POST", "/check-runs").await;
    assert_eq!(creates.len(), 1);
    let create: Value = serde_json::from_slice(&creates[0].body).unwrap();
    check_request(
        &description("checks-create.json"),
        "/repos/{owner}/{repo}/check-runs",
        "post",
        &create,
    )
    .unwrap();
    assert_eq!(create["output"]["text"], last_three_lines());
}

#[tokio::test]
async fn test_reports_that_cannot_be_read_leave_the_check_run_without_them() {
    let world = world().await;
    let mut builds = scenario::batch_get_builds(BUILD, "FAILED", COMMIT);
    builds["builds"][0]["reportArns"] = serde_json::json!([REPORT]);
    Mock::given(header("x-amz-target", "CodeBuild_20161006.BatchGetBuilds"))
        .respond_with(ResponseTemplate::new(200).set_body_json(builds))
        .mount(&world.codebuild)
        .await;
    // BatchGetReports answers 500, as moto does.
    Mock::given(header("x-amz-target", "CodeBuild_20161006.BatchGetReports"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&world.codebuild)
        .await;
    let outcome = handle(&world.handler(), "FAILED").await;
    assert!(matches!(&outcome, Outcome::CheckRun { .. }), "{outcome:?}");
    let create: Value =
        serde_json::from_slice(&world.requests("POST", "/check-runs").await[0].body).unwrap();
    assert!(!create["output"]["summary"]
        .as_str()
        .unwrap()
        .contains("### Tests"));
}

#[tokio::test]
async fn an_app_installed_again_under_a_new_id_is_found_again() {
    let world = world().await;
    world.build_is("SUCCEEDED").await;
    // The first token expires within the refresh margin, so the next event
    // exchanges again; by then the App was reinstalled as installation 78:
    // 77's exchange answers 404, the repository's installation is 78.
    let soon_expiring = aws_smithy_types::DateTime::from_secs(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
            + 240,
    )
    .fmt(aws_smithy_types::date_time::Format::DateTime)
    .unwrap();
    Mock::given(method("POST"))
        .and(path(format!(
            "/app/installations/{INSTALLATION}/access_tokens"
        )))
        .respond_with(ResponseTemplate::new(201).set_body_json(serde_json::json!({
            "token": INSTALLATION_TOKEN, "expires_at": soon_expiring
        })))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&world.github)
        .await;
    Mock::given(method("POST"))
        .and(path(format!(
            "/app/installations/{INSTALLATION}/access_tokens"
        )))
        .respond_with(
            ResponseTemplate::new(404).set_body_json(serde_json::json!({"message": "Not Found"})),
        )
        .with_priority(2)
        .mount(&world.github)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/repos/{REPOSITORY}/installation")))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"id": INSTALLATION, "app_id": 4242})),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&world.github)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/repos/{REPOSITORY}/installation")))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(serde_json::json!({"id": 78, "app_id": 4242})),
        )
        .with_priority(2)
        .mount(&world.github)
        .await;
    Mock::given(method("POST"))
        .and(path("/app/installations/78/access_tokens"))
        .respond_with(ResponseTemplate::new(201).set_body_json(serde_json::json!({
            "token": INSTALLATION_TOKEN, "expires_at": "2099-01-01T00:00:00Z"
        })))
        .mount(&world.github)
        .await;
    let handler = world.handler();
    let first = handle(&handler, "SUCCEEDED").await;
    assert!(matches!(first, Outcome::CheckRun { .. }), "{first:?}");
    // Another build's event in the same container.
    world.codebuild.reset().await;
    Mock::given(header("x-amz-target", "CodeBuild_20161006.BatchGetBuilds"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(scenario::batch_get_builds(
                "hello-world-build:5f6b2c1a-0000-4000-8000-000000000004",
                "SUCCEEDED",
                COMMIT,
            )),
        )
        .mount(&world.codebuild)
        .await;
    let event: EventBridgeEvent<Value> = serde_json::from_value(scenario::build_state_change(
        "hello-world-build:5f6b2c1a-0000-4000-8000-000000000004",
        "SUCCEEDED",
        COMMIT,
    ))
    .unwrap();
    let second = handler
        .handle(event, Instant::now() + Duration::from_secs(20))
        .await
        .unwrap();
    assert!(matches!(second, Outcome::CheckRun { .. }), "{second:?}");
    assert_eq!(world.requests("GET", "/installation").await.len(), 2);
    assert_eq!(
        world
            .requests("POST", "/app/installations/78/access_tokens")
            .await
            .len(),
        1
    );
}

/// A build Gantry stopped for a newer commit says so: CodeBuild keeps no
/// reason for a stop, so `trigger` keeps it on the start in the ledger, and
/// `status` reads it from there.
#[tokio::test]
async fn a_superseded_builds_check_run_says_which_commit_superseded_it() {
    let world = world().await;
    let ledger = scenario::ledger(&world.aws.sdk, Clock::system());
    let delivery =
        gantry_core::ids::DeliveryId::parse("72d3162e-cc78-11e3-81ab-4c9367dc0958").unwrap();
    let target = format!("project/{PROJECT}");
    let repository = gantry_core::ids::RepoName::parse(REPOSITORY).unwrap();
    let commit = gantry_core::ids::CommitSha::parse(COMMIT).unwrap();
    ledger
        .claim_start(
            &gantry_core::ledger::StartClaim {
                delivery: &delivery,
                target: &target,
                route: "routes[0]",
                repository: &repository,
                commit: &commit,
                git_ref: Some("main"),
                lease: Duration::from_secs(40),
                event_at: 1_800_000_000,
            },
            Instant::now() + Duration::from_secs(10),
        )
        .await
        .unwrap();
    ledger
        .record_stop(
            &delivery,
            &target,
            "Superseded by a10867b",
            Instant::now() + Duration::from_secs(10),
        )
        .await
        .unwrap();
    world.build_is("STOPPED").await;
    let outcome = handle(&world.handler(), "STOPPED").await;
    assert!(
        matches!(&outcome, Outcome::CheckRun { conclusion: Some(c), .. } if c == "cancelled"),
        "{outcome:?}"
    );
    let create: Value =
        serde_json::from_slice(&world.requests("POST", "/check-runs").await[0].body).unwrap();
    let title = create["output"]["title"].as_str().unwrap();
    assert!(
        title.starts_with("Build stopped") && title.ends_with(": Superseded by a10867b"),
        "{title}"
    );
}

/// GitHub has no idempotency key for a check run: a create whose answer was
/// lost (here, GitHub made the run and answered 502) must not be made again,
/// or the first run would stay as it was created, for good.
#[tokio::test]
async fn a_create_whose_answer_was_lost_is_found_on_github_not_made_twice() {
    let (world, held) = world_holding_check_runs().await;
    world.build_is("IN_PROGRESS").await;
    held.fail_after_creating(1);
    let handler = world.handler();
    let outcome = handle(&handler, "IN_PROGRESS").await;
    let runs = held.runs();
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert!(
        matches!(outcome, Outcome::CheckRun { check_run_id, .. } if check_run_id == runs[0].id),
        "{outcome:?}"
    );
    assert_eq!(world.requests("POST", "/check-runs").await.len(), 1);
    // The run was looked for by its name, as GitHub's description has it,
    // and the stand-in answered in its shape.
    let lookups = world.requests("GET", "/check-runs").await;
    assert_eq!(lookups.len(), 1);
    let query: Vec<(String, String)> = lookups[0].url.query_pairs().into_owned().collect();
    assert!(
        query.contains(&("check_name".into(), runs[0].name.clone()))
            && query.contains(&("filter".into(), "all".into())),
        "{query:?}"
    );
    let listed = held.listed(
        &description("check-run.response-201.json"),
        COMMIT,
        Some(&runs[0].name),
    );
    check_response(
        &description("checks-list-for-ref.json"),
        "/repos/{owner}/{repo}/commits/{ref}/check-runs",
        "get",
        "200",
        &listed,
    )
    .unwrap();

    // The build's end completes that one run: no second run appears.
    world.build_is("SUCCEEDED").await;
    handle(&handler, "SUCCEEDED").await;
    let runs = held.runs();
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0].conclusion.as_deref(), Some("success"));
}

/// A create that failed for good (no try left) may still have made its run:
/// the claim is released, and the next event finds the run on GitHub and
/// takes it over rather than making a second.
#[tokio::test]
async fn a_run_made_by_a_create_that_failed_is_taken_over_by_the_next_event() {
    let (world, held) = world_holding_check_runs().await;
    world.build_is("IN_PROGRESS").await;
    held.fail_after_creating(1);
    let once = world.handler_trying("{}", aws_sdk_codepipeline::Client::new(&world.aws.sdk), 1);
    let failed = try_handle(&once, "IN_PROGRESS").await;
    assert!(failed.is_err(), "{failed:?}");
    assert_eq!(held.runs().len(), 1);

    world.build_is("SUCCEEDED").await;
    let outcome = handle(&world.handler(), "SUCCEEDED").await;
    let runs = held.runs();
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert!(
        matches!(outcome, Outcome::CheckRun { check_run_id, .. } if check_run_id == runs[0].id),
        "{outcome:?}"
    );
    assert_eq!(runs[0].conclusion.as_deref(), Some("success"));
    assert_eq!(world.requests("POST", "/check-runs").await.len(), 1);
}
