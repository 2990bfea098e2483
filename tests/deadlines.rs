//! Every AWS call gives up at the invocation's deadline: the webhook's secret
//! read and publish, and `trigger`'s starts, which also run concurrently.
//! AWS is played by a stand-in (moto answers at once, so it cannot show either):
//! it answers `StartPipelineExecution` and `StartBuild` in their documented JSON
//! shapes, but only once both requests have arrived, or never, for the
//! deadline cases.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use axum::Router;
use gantry_core::ledger::Clock;
use gantry_core::secret::{CachedSecret, SecretSource, DEFAULT_TTL};
use gantry_tests::moto::Moto;
use gantry_tests::scenario::{self, LOCAL_SECRET};
use gantry_tests::{sample, webhook_delivery};
use gantry_trigger::config::Routes;
use gantry_trigger::start::{Started, Starter};
use gantry_trigger::{Summary, Trigger};
use gantry_webhook::publish::Publisher;
use gantry_webhook::Webhook;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Barrier;
use tokio::time::Instant;

const ROUTES: &str = r#"{"routes": [
    {"repository": "Codertocat/Hello-World", "pipeline": "app-pipeline"},
    {"repository": "Codertocat/Hello-World", "codebuild_project": "app-build"}
]}"#;

#[derive(Clone)]
struct StandIn {
    /// Both starts must be waiting before either is answered.
    both_arrived: Arc<Barrier>,
    answer: bool,
}

async fn start(State(stand_in): State<StandIn>, headers: HeaderMap, _body: Bytes) -> String {
    if !stand_in.answer {
        std::future::pending::<()>().await;
    }
    stand_in.both_arrived.wait().await;
    let target = headers
        .get("x-amz-target")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    if target.ends_with("StartPipelineExecution") {
        r#"{"pipelineExecutionId": "4f3c1d9e-0000-4000-8000-000000000001"}"#.to_owned()
    } else {
        r#"{"build": {"id": "app-build:5f6b2c1a-0000-4000-8000-000000000002"}}"#.to_owned()
    }
}

/// SDK config for a stand-in that answers only when `answer`.
async fn stand_in(answer: bool) -> aws_config::SdkConfig {
    let stand_in = StandIn {
        both_arrived: Arc::new(Barrier::new(2)),
        answer,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = Router::new().route("/", post(start)).with_state(stand_in);
    tokio::spawn(async move { axum::serve(listener, app).await });

    // The functions' own loader: their HTTPS client and timeouts.
    gantry_core::aws::config_loader()
        .region(aws_sdk_codepipeline::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_codepipeline::config::Credentials::new(
            "testing", "testing", None, None, "test",
        ))
        .endpoint_url(&url)
        .load()
        .await
}

/// A trigger whose starts go to the stand-in; its ledger is in moto.
async fn trigger(answer: bool) -> (Moto, Trigger) {
    let sdk = stand_in(answer).await;
    let moto = Moto::start().await.unwrap();
    let moto_sdk = moto.sdk_config().await;
    scenario::create_ledger_table(&moto_sdk).await.unwrap();
    let trigger = Trigger::new(
        Routes::parse(ROUTES).unwrap(),
        Starter::new(
            aws_sdk_codepipeline::Client::new(&sdk),
            aws_sdk_codebuild::Client::new(&sdk),
        ),
        scenario::ledger(&moto_sdk, Clock::system()),
    );
    (moto, trigger)
}

fn push() -> EventBridgeEvent<serde_json::Value> {
    serde_json::from_value(sample("trigger/push.json")).unwrap()
}

#[tokio::test]
async fn both_starts_of_one_delivery_are_in_flight_together() {
    let (_moto, trigger) = trigger(true).await;
    // One start at a time would wait at the stand-in for a second request that
    // is never sent, until the deadline.
    let summary = trigger
        .handle(push(), Instant::now() + Duration::from_secs(3))
        .await
        .unwrap();
    let Summary::Started { started, .. } = summary else {
        panic!("expected starts, got {summary:?}")
    };
    let kinds: Vec<&Started> = started.iter().map(|s| &s.started).collect();
    assert!(
        kinds
            .iter()
            .any(|s| matches!(s, Started::PipelineExecution(_))),
        "{kinds:?}"
    );
    assert!(
        kinds.iter().any(|s| matches!(s, Started::Build(_))),
        "{kinds:?}"
    );
}

#[tokio::test]
async fn starts_that_get_no_answer_give_up_at_the_deadline_as_a_retryable_failure() {
    let (_moto, trigger) = trigger(false).await;
    let began = Instant::now();
    let err = trigger
        .handle(push(), Instant::now() + Duration::from_millis(500))
        .await
        .unwrap_err();
    // The SDK's own limit for one attempt is 4 s: the deadline came first.
    assert!(
        began.elapsed() < Duration::from_secs(4),
        "{:?}",
        began.elapsed()
    );
    assert_eq!(err.error_type(), "AwsUnavailable", "{err}");
    assert!(
        err.to_string().contains("2 of 2 starts failed (transient)"),
        "{err}"
    );
}

#[tokio::test]
async fn a_webhook_whose_aws_calls_hang_answers_before_its_deadline() {
    let sdk = stand_in(false).await;
    let (headers, body) = webhook_delivery("push", LOCAL_SECRET);
    let cases = [
        // A cold container: the secret read hangs.
        (
            CachedSecret::new(
                SecretSource::SecretsManager {
                    arn: "arn:aws:secretsmanager:us-east-1:123456789012:secret:gantry/webhook"
                        .into(),
                },
                DEFAULT_TTL,
                &sdk,
            ),
            500,
        ),
        // The secret is at hand; PutEvents hangs.
        (
            CachedSecret::new(
                SecretSource::Plain(LOCAL_SECRET.to_owned().into()),
                DEFAULT_TTL,
                &sdk,
            ),
            502,
        ),
    ];
    for (secret, status) in cases {
        let webhook = Webhook::new(
            secret,
            Publisher::new(aws_sdk_eventbridge::Client::new(&sdk), "gantry".into()),
        );
        let began = Instant::now();
        let reply = webhook
            .handle(&headers, &body, Instant::now() + Duration::from_millis(500))
            .await;
        assert_eq!(reply.status, status);
        // The SDK's own limit for one attempt is 4 s: the deadline came first.
        assert!(
            began.elapsed() < Duration::from_secs(4),
            "{:?}",
            began.elapsed()
        );
    }
}

#[tokio::test]
async fn status_reads_that_hang_give_up_at_the_deadline_as_a_retryable_failure() {
    let sdk = stand_in(false).await;
    let handler = gantry_status::StatusHandler::new(
        gantry_status::config::StatusConfig::parse("{}").unwrap(),
        gantry_status::reader::Reader::new(
            aws_sdk_codebuild::Client::new(&sdk),
            aws_sdk_codepipeline::Client::new(&sdk),
        ),
        gantry_core::github::GitHubClient::new(
            "http://127.0.0.1:9",
            CachedSecret::plain("t"),
            gantry_core::github::RetryPolicy::default(),
        )
        .unwrap(),
    );
    let event = serde_json::from_value(scenario::build_state_change(
        "hello-world-build:5f6b2c1a-0000-4000-8000-000000000002",
        "SUCCEEDED",
        "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
    ))
    .unwrap();
    let began = Instant::now();
    let err = handler
        .handle(event, Instant::now() + Duration::from_millis(500))
        .await
        .unwrap_err();
    // The SDK's own limit for one attempt is 4 s: the deadline came first.
    assert!(
        began.elapsed() < Duration::from_secs(4),
        "{:?}",
        began.elapsed()
    );
    assert_eq!(err.error_type(), "AwsUnavailable", "{err}");
    assert!(err.to_string().contains("time ran out"), "{err}");
}
