//! `status` against moto's server for the AWS reads and an HTTP stand-in for
//! GitHub: state changes become commit statuses, decided from the current state.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use gantry_core::github::{GitHubClient, RetryPolicy};
use gantry_core::secret::CachedSecret;
use gantry_status::config::StatusConfig;
use gantry_status::reader::Reader;
use gantry_status::{Outcome, StatusHandler};
use gantry_tests::moto::Moto;
use gantry_tests::scenario::{self, LocalAws, PIPELINE, PROJECT, REPOSITORY};
use serde_json::Value;
use std::time::Duration;
use tokio::time::Instant;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const COMMIT: &str = "6113728f27ae82c7b1a177c8d03f9e96e0adf246";
const TOKEN: &str = "ghp_local";

struct World {
    _moto: Moto,
    aws: LocalAws,
    github: MockServer,
}

async fn world() -> World {
    let moto = Moto::start().await.unwrap();
    let aws = scenario::provision(&moto.sdk_config().await).await.unwrap();
    World {
        _moto: moto,
        aws,
        github: MockServer::start().await,
    }
}

impl World {
    fn handler(&self, config: &str) -> StatusHandler {
        let retry = RetryPolicy {
            max_attempts: 3,
            first_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(100),
        };
        StatusHandler::new(
            StatusConfig::parse(config).unwrap(),
            Reader::new(
                aws_sdk_codebuild::Client::new(&self.aws.sdk),
                aws_sdk_codepipeline::Client::new(&self.aws.sdk),
            ),
            GitHubClient::new(&self.github.uri(), CachedSecret::plain(TOKEN), retry).unwrap(),
        )
    }

    async fn start_build(&self) -> String {
        aws_sdk_codebuild::Client::new(&self.aws.sdk)
            .start_build()
            .project_name(PROJECT)
            .source_version(COMMIT)
            .send()
            .await
            .unwrap()
            .build_value
            .and_then(|b| b.id)
            .unwrap()
    }

    /// What GitHub received, as (context, state, description) in order.
    async fn statuses(&self) -> Vec<(String, String, String)> {
        self.github
            .received_requests()
            .await
            .unwrap()
            .iter()
            .map(|r| {
                let body: Value = serde_json::from_slice(&r.body).unwrap();
                let field = |k: &str| body[k].as_str().unwrap_or_default().to_owned();
                (field("context"), field("state"), field("description"))
            })
            .collect()
    }
}

async fn handle(
    handler: &StatusHandler,
    event: Value,
) -> Result<Outcome, gantry_status::StatusError> {
    let event: EventBridgeEvent<Value> = serde_json::from_value(event).unwrap();
    handler
        .handle(event, Instant::now() + Duration::from_secs(20))
        .await
}

fn created() -> ResponseTemplate {
    ResponseTemplate::new(201).set_body_json(serde_json::json!({"state": "success"}))
}

#[tokio::test]
async fn a_build_state_change_posts_one_status_and_late_events_never_regress_it() {
    let world = world().await;
    Mock::given(method("POST"))
        .and(path(format!("/repos/{REPOSITORY}/statuses/{COMMIT}")))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .and(header("accept", "application/vnd.github+json"))
        .and(header("x-github-api-version", "2022-11-28"))
        .respond_with(created())
        .mount(&world.github)
        .await;
    let handler = world.handler("{}");
    let build_id = world.start_build().await;

    // The finished build's event, then a late IN_PROGRESS one: CodeBuild says the
    // build succeeded, so both post success and nothing goes back to pending.
    for status in ["SUCCEEDED", "IN_PROGRESS"] {
        let outcome = handle(
            &handler,
            scenario::build_state_change(&build_id, status, COMMIT),
        )
        .await
        .unwrap();
        assert!(
            matches!(&outcome, Outcome::Posted { state, .. } if state == "success"),
            "{outcome:?}"
        );
    }
    let statuses = world.statuses().await;
    assert_eq!(
        statuses.len(),
        2,
        "exactly one GitHub call per state change"
    );
    for (context, state, description) in statuses {
        assert_eq!(context, format!("gantry/{PROJECT}"));
        assert_eq!(state, "success");
        assert!(
            description.starts_with("Build succeeded in "),
            "{description}"
        );
    }
}

#[tokio::test]
async fn a_pipeline_execution_is_found_by_triggers_variables() {
    let world = world().await;
    Mock::given(method("POST"))
        .and(path(format!("/repos/{REPOSITORY}/statuses/{COMMIT}")))
        .respond_with(created())
        .expect(1)
        .mount(&world.github)
        .await;
    let pipelines = aws_sdk_codepipeline::Client::new(&world.aws.sdk);
    let mut start = pipelines.start_pipeline_execution().name(PIPELINE);
    for (name, value) in [("GANTRY_REPOSITORY", REPOSITORY), ("GANTRY_COMMIT", COMMIT)] {
        start = start.variables(
            aws_sdk_codepipeline::types::PipelineVariable::builder()
                .name(name)
                .value(value)
                .build()
                .unwrap(),
        );
    }
    let execution_id = start.send().await.unwrap().pipeline_execution_id.unwrap();

    // A late STARTED event: the execution has succeeded, so the status is success.
    let event = scenario::state_change(
        "codepipeline.docs.pipeline-started.json",
        serde_json::json!({"pipeline": PIPELINE, "execution-id": execution_id}),
    );
    let outcome = handle(
        &world.handler(r#"{"pipelines": {"hello-world-pipeline": {"context": "ci/hello"}}}"#),
        event,
    )
    .await
    .unwrap();
    assert!(
        matches!(&outcome, Outcome::Posted { state, context, .. } if state == "success" && context == "ci/hello"),
        "{outcome:?}"
    );
    let statuses = world.statuses().await;
    assert_eq!(
        statuses,
        [(
            "ci/hello".into(),
            "success".into(),
            "Pipeline succeeded".into()
        )]
    );
    let request = &world.github.received_requests().await.unwrap()[0];
    let body: Value = serde_json::from_slice(&request.body).unwrap();
    assert!(
        body["target_url"].as_str().unwrap().contains(&format!(
            "/codepipeline/pipelines/{PIPELINE}/executions/{execution_id}"
        )),
        "{body}"
    );
}

#[tokio::test]
async fn github_failures_are_retried_then_returned_and_refusals_are_not_retried() {
    let world = world().await;
    let handler = world.handler("{}");
    let build_id = world.start_build().await;
    let event = || scenario::build_state_change(&build_id, "SUCCEEDED", COMMIT);

    // 502, then 429 with Retry-After, then success: one status, three calls.
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(502))
        .up_to_n_times(1)
        .mount(&world.github)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "1"))
        .up_to_n_times(1)
        .mount(&world.github)
        .await;
    Mock::given(method("POST"))
        .respond_with(created())
        .up_to_n_times(1)
        .mount(&world.github)
        .await;
    assert!(matches!(
        handle(&handler, event()).await.unwrap(),
        Outcome::Posted { .. }
    ));
    assert_eq!(world.statuses().await.len(), 3);

    // Rate limited (403, none left) past every retry: an error, so EventBridge retries later.
    world.github.reset().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(403)
                .insert_header("x-ratelimit-remaining", "0")
                .insert_header("x-ratelimit-reset", "1"),
        )
        .mount(&world.github)
        .await;
    let err = handle(&handler, event()).await.unwrap_err();
    assert!(err.to_string().contains("after 3 attempts"), "{err}");

    // Unknown commit: logged and answered, not retried.
    world.github.reset().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(422)
                .set_body_json(serde_json::json!({"message": "No commit found for SHA"})),
        )
        .expect(1)
        .mount(&world.github)
        .await;
    let outcome = handle(&handler, event()).await.unwrap();
    assert_eq!(
        outcome,
        Outcome::Rejected {
            status: 422,
            message: "No commit found for SHA".into()
        }
    );
}

#[tokio::test]
async fn events_gantry_does_not_post_for_are_ignored_without_a_github_call() {
    let world = world().await;
    let build_id = world.start_build().await;
    let listed_only =
        world.handler(r#"{"projects": {"another-project": {}}, "listed_only": true}"#);
    let outcome = handle(
        &listed_only,
        scenario::build_state_change(&build_id, "SUCCEEDED", COMMIT),
    )
    .await
    .unwrap();
    assert!(
        matches!(&outcome, Outcome::Ignored { reason } if reason.contains("not listed")),
        "{outcome:?}"
    );

    let handler = world.handler("{}");
    let mut s3_build = scenario::build_state_change(&build_id, "SUCCEEDED", COMMIT);
    s3_build["detail"]["additional-information"]["source"] =
        serde_json::json!({"type": "S3", "location": "bucket/src.zip"});
    let outcome = handle(&handler, s3_build).await.unwrap();
    assert!(
        matches!(&outcome, Outcome::Ignored { reason } if reason.contains("not a GitHub repository")),
        "{outcome:?}"
    );

    let phase = scenario::state_change(
        "codebuild.docs.build-phase-change.json",
        serde_json::json!({"project-name": PROJECT}),
    );
    assert!(matches!(
        handle(&handler, phase).await.unwrap(),
        Outcome::Ignored { .. }
    ));
    let action = scenario::state_change(
        "codepipeline.docs.action-failed.json",
        serde_json::json!({"pipeline": PIPELINE}),
    );
    assert!(matches!(
        handle(&handler, action).await.unwrap(),
        Outcome::Ignored { .. }
    ));
    assert!(world.statuses().await.is_empty());
}
