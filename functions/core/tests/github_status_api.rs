//! The GitHub client against an HTTP stand-in whose expectations come from
//! GitHub's published REST description of "Create a commit status".

// The layout of the client's retrying futures nests deeper than the default
// limit of 128 when a build unifies every target's features (`--all-targets`).
#![recursion_limit = "256"]

use gantry_core::github::{CommitStatus, GitHubClient, GitHubError, RetryPolicy, StatusState};
use gantry_core::ids::{CommitSha, RepoName};
use gantry_core::secret::CachedSecret;
use serde_json::Value;
use std::time::Duration;
use tokio::time::Instant;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const SHA: &str = "6113728f27ae82c7b1a177c8d03f9e96e0adf246";
const TOKEN: &str = "ghp_test_token";

fn data(name: &str) -> Value {
    let file = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap()
}

fn created() -> ResponseTemplate {
    ResponseTemplate::new(201).set_body_json(data("status.response-201.json"))
}

fn client(base: &str) -> GitHubClient {
    let policy = RetryPolicy {
        max_attempts: 4,
        first_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(50),
    };
    GitHubClient::new(base, CachedSecret::plain(TOKEN), policy).unwrap()
}

fn status() -> CommitStatus {
    CommitStatus::new(
        StatusState::Failure,
        "gantry/hello-world-pipeline".into(),
        "Build failed in phase BUILD after 1m 10s",
        Some("https://console.aws.amazon.com/cloudwatch/home?region=us-east-1".into()),
    )
}

async fn post(client: &GitHubClient) -> Result<(), GitHubError> {
    client
        .create_status(
            &RepoName::parse("Codertocat/Hello-World").unwrap(),
            &CommitSha::parse(SHA).unwrap(),
            &status(),
            Instant::now() + Duration::from_secs(30),
        )
        .await
}

/// The request conforms to the operation in GitHub's REST description.
fn assert_conforms(request: &Request) {
    let spec = data("create-commit-status.json");
    let operation = &spec["paths"]["/repos/{owner}/{repo}/statuses/{sha}"]["post"];
    let schema = &operation["requestBody"]["content"]["application/json"]["schema"];
    let body: Value = serde_json::from_slice(&request.body).unwrap();
    let properties = schema["properties"].as_object().unwrap();
    for (key, value) in body.as_object().unwrap() {
        let property = properties
            .get(key)
            .unwrap_or_else(|| panic!("{key} is not in the REST description"));
        match property["type"].as_str() {
            Some("string") => assert!(
                value.is_string() || (value.is_null() && property["nullable"] == true),
                "{key}"
            ),
            other => panic!("unexpected type {other:?} for {key}"),
        }
        if let Some(allowed) = property["enum"].as_array() {
            assert!(
                allowed.contains(value),
                "{key} = {value} is not one of {allowed:?}"
            );
        }
    }
    for required in schema["required"].as_array().unwrap() {
        assert!(
            body.get(required.as_str().unwrap()).is_some(),
            "{required} is required"
        );
    }
}

#[tokio::test]
async fn posts_a_status_as_githubs_rest_description_specifies() {
    let github = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!(
            "/repos/Codertocat/Hello-World/statuses/{SHA}"
        )))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .and(header("accept", "application/vnd.github+json"))
        .and(header("x-github-api-version", "2022-11-28"))
        .and(header("content-type", "application/json"))
        .respond_with(created())
        .expect(1)
        .mount(&github)
        .await;

    post(&client(&github.uri())).await.unwrap();

    let requests = github.received_requests().await.unwrap();
    assert_conforms(&requests[0]);
    let user_agent = requests[0]
        .headers
        .get("user-agent")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(user_agent.starts_with("gantry/"), "{user_agent}");
    let body: Value = serde_json::from_slice(&requests[0].body).unwrap();
    assert_eq!(body["state"], "failure");
    assert_eq!(body["context"], "gantry/hello-world-pipeline");
}

#[tokio::test]
async fn enterprise_server_base_urls_keep_their_path() {
    let github = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!(
            "/api/v3/repos/Codertocat/Hello-World/statuses/{SHA}"
        )))
        .respond_with(created())
        .expect(1)
        .mount(&github)
        .await;
    post(&client(&format!("{}/api/v3/", github.uri())))
        .await
        .unwrap();
}

async fn retried_until_created(first: ResponseTemplate) -> usize {
    let github = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(first)
        .up_to_n_times(1)
        .mount(&github)
        .await;
    Mock::given(method("POST"))
        .respond_with(created())
        .mount(&github)
        .await;
    post(&client(&github.uri())).await.unwrap();
    github.received_requests().await.unwrap().len()
}

#[tokio::test]
async fn server_errors_and_rate_limits_are_retried() {
    assert_eq!(retried_until_created(ResponseTemplate::new(502)).await, 2);
    assert_eq!(
        retried_until_created(ResponseTemplate::new(429).insert_header("retry-after", "1")).await,
        2
    );
    // Secondary rate limit.
    assert_eq!(
        retried_until_created(
            ResponseTemplate::new(403)
                .insert_header("retry-after", "1")
                .set_body_json(
                    serde_json::json!({"message": "You have exceeded a secondary rate limit."})
                )
        )
        .await,
        2
    );
    // Primary rate limit: none left until the reset time.
    let reset = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 1;
    assert_eq!(
        retried_until_created(
            ResponseTemplate::new(403)
                .insert_header("x-ratelimit-remaining", "0")
                .insert_header("x-ratelimit-reset", reset.to_string().as_str())
        )
        .await,
        2
    );
}

#[tokio::test]
async fn unknown_commits_and_bad_tokens_are_not_retried() {
    for (code, message) in [
        (422, "No commit found for SHA: 6113728"),
        (404, "Not Found"),
        (403, "Resource not accessible by integration"),
    ] {
        let github = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(
                ResponseTemplate::new(code).set_body_json(serde_json::json!({"message": message})),
            )
            .expect(1)
            .mount(&github)
            .await;
        match post(&client(&github.uri())).await {
            Err(GitHubError::Rejected {
                status,
                message: got,
            }) => {
                assert_eq!(status, code);
                assert_eq!(got, message);
            }
            other => panic!("{code}: expected a rejection, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn retries_are_bounded_by_attempts_and_by_the_deadline() {
    let github = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .expect(4)
        .mount(&github)
        .await;
    let err = post(&client(&github.uri())).await.unwrap_err();
    assert!(
        matches!(err, GitHubError::Transient { attempts: 4, .. }),
        "{err}"
    );
    assert!(err.is_transient());

    // A wait that would run past the deadline is not started.
    let github = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "120"))
        .expect(1)
        .mount(&github)
        .await;
    let err = post(&client(&github.uri())).await.unwrap_err();
    assert!(
        matches!(err, GitHubError::Transient { attempts: 1, .. }),
        "{err}"
    );
}

#[tokio::test]
async fn a_github_that_does_not_answer_is_given_up_on_at_the_deadline() {
    let github = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(created().set_delay(Duration::from_secs(30)))
        .mount(&github)
        .await;
    let started = Instant::now();
    let err = client(&github.uri())
        .create_status(
            &RepoName::parse("Codertocat/Hello-World").unwrap(),
            &CommitSha::parse(SHA).unwrap(),
            &status(),
            started + Duration::from_millis(300),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, GitHubError::Transient { last, .. } if last.contains("no answer in time")),
        "{err}"
    );
}

#[tokio::test]
async fn a_token_is_trimmed_and_a_malformed_one_is_named() {
    let github = MockServer::start().await;
    Mock::given(method("POST"))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .respond_with(created())
        .expect(1)
        .mount(&github)
        .await;
    let policy = RetryPolicy::default();
    // As pasted into a secret: with the line break the editor added.
    let pasted = GitHubClient::new(
        &github.uri(),
        CachedSecret::plain(&format!(" {TOKEN}\n")),
        policy,
    )
    .unwrap();
    post(&pasted).await.unwrap();

    let broken = GitHubClient::new(
        &github.uri(),
        CachedSecret::plain("ghp_one\nghp_two"),
        policy,
    )
    .unwrap();
    let err = post(&broken).await.unwrap_err();
    assert!(matches!(err, GitHubError::MalformedToken), "{err:?}");
    assert!(err.to_string().contains("GitHub token"), "{err}");
    assert!(!err.is_transient());
}
