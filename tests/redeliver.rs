//! `redeliver`, the scheduled redelivery of failed webhook deliveries, as its
//! real binary under a local Lambda Runtime API, against a GitHub stand-in
//! playing the App's webhook: each answer is GitHub's documented example
//! delivery, changed only where the scenario needs, and checked against
//! GitHub's REST description.

use gantry_tests::app_mode::{app_key_pem, APP_ID};
use gantry_tests::deliveries::attempt;
use gantry_tests::rest::{check_response, description};
use gantry_tests::runtime::LocalFunction;
use gantry_tests::workspace_binary;
use serde_json::{json, Value};
use wiremock::matchers::{header_regex, method, path, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// The App's webhook: `attempts` listed (only with the App's JWT), and
/// redeliveries answered `redelivery_status`.
async fn app_webhook(attempts: Value, redelivery_status: u16) -> MockServer {
    let github = MockServer::start().await;
    check_response(
        &description("apps-list-webhook-deliveries.json"),
        "/app/hook/deliveries",
        "get",
        "200",
        &attempts,
    )
    .unwrap();
    Mock::given(method("GET"))
        .and(path("/app/hook/deliveries"))
        .and(header_regex(
            "authorization",
            r"^Bearer [\w-]+\.[\w-]+\.[\w-]+$",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(attempts))
        .mount(&github)
        .await;
    let answer = if redelivery_status == 202 {
        json!({})
    } else {
        json!({"message": "Validation Failed", "documentation_url": "https://docs.github.com/rest"})
    };
    Mock::given(method("POST"))
        .and(path_regex(r"^/app/hook/deliveries/[0-9]+/attempts$"))
        .respond_with(ResponseTemplate::new(redelivery_status).set_body_json(answer))
        .mount(&github)
        .await;
    github
}

async fn start(github: &MockServer, log: &str, app: bool) -> LocalFunction {
    let mut env = vec![
        ("GANTRY_GITHUB_API_URL".to_owned(), github.uri()),
        (
            "GANTRY_REDELIVER_WINDOW_MINUTES".to_owned(),
            "120".to_owned(),
        ),
        ("AWS_REGION".to_owned(), "us-east-1".to_owned()),
    ];
    if app {
        env.push(("GANTRY_GITHUB_APP_ID".into(), APP_ID.into()));
        env.push(("GANTRY_GITHUB_APP_KEY".into(), app_key_pem().unwrap()));
    } else {
        env.push(("GANTRY_GITHUB_TOKEN".into(), "a-token".into()));
    }
    LocalFunction::start(
        "redeliver",
        &workspace_binary("redeliver"),
        &env,
        std::env::temp_dir().join(format!("gantry-{log}-{}.log", std::process::id())),
    )
    .await
    .unwrap()
}

async fn redelivered(github: &MockServer) -> Vec<u64> {
    github
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.method.as_str() == "POST")
        .filter_map(|r| r.url.path().split('/').nth(4)?.parse().ok())
        .collect()
}

fn schedule_tick() -> Value {
    gantry_tests::sample("aws/scheduled-event.docs.json")
}

#[tokio::test]
async fn each_run_redelivers_what_failed_once_abandons_what_kept_failing_and_counts_it() {
    let github = app_webhook(
        json!([
            attempt(9, "c", 10, true, 503),
            attempt(8, "c", 25, true, 503),
            attempt(7, "c", 40, true, 503),
            attempt(6, "d", 45, false, 401),
            attempt(5, "c", 55, false, 503),
            attempt(4, "b", 60, false, 502),
            attempt(3, "e", 70, true, 200),
            attempt(2, "e", 80, false, 504),
            attempt(1, "a", 90, false, 200),
        ]),
        202,
    )
    .await;
    let function = start(&github, "redeliver", true).await;
    let summary = function.invoke(&schedule_tick()).await.unwrap();
    assert_eq!(
        summary,
        json!({
            "attempts_listed": 9,
            "redelivered": ["b"],
            "abandoned": ["c"],
            "refused": ["d"],
            "not_taken": [],
            "recovered": 1
        })
    );
    assert_eq!(
        redelivered(&github).await,
        vec![4],
        "b, at its newest attempt"
    );
    let logs = function.logs();
    // c kept failing, d was refused (a 401): both are an operator's to look at.
    let counted: Vec<&Value> = logs
        .iter()
        .filter(|line| line["DeliveryAbandoned"] == 1)
        .collect();
    assert_eq!(counted.len(), 2, "{logs:?}");
    let metric = counted[0];
    assert_eq!(metric["delivery"], "c");
    assert_eq!(counted[1]["delivery"], "d");
    assert_eq!(counted[1]["reason"], "refused by the webhook");
    assert_eq!(
        metric["_aws"]["CloudWatchMetrics"][0]["Namespace"],
        "Gantry"
    );
    // The dimension the alarm watches: the function Lambda runs it as.
    assert_eq!(metric["FunctionName"], function.name());
}

#[tokio::test]
async fn a_redelivery_github_refuses_is_counted_for_its_alarm_and_the_run_goes_on() {
    let github = app_webhook(
        json!([
            attempt(4, "b", 5, false, 502),
            attempt(3, "a", 6, false, 502)
        ]),
        422,
    )
    .await;
    let function = start(&github, "redeliver-refused", true).await;
    // Not a failed run: Lambda's retry would ask again for what GitHub took.
    let summary = function.invoke(&schedule_tick()).await.unwrap();
    assert_eq!(summary["not_taken"], json!(["a", "b"]), "{summary}");
    assert_eq!(summary["redelivered"], json!([]), "{summary}");
    let logs = function.logs();
    let counted: Vec<&Value> = logs
        .iter()
        .filter(|line| line["DeliveryAbandoned"] == 1)
        .collect();
    assert_eq!(counted.len(), 2, "{logs:?}");
    assert_eq!(counted[0]["reason"], "GitHub refused to redeliver it");
}

#[tokio::test]
async fn token_mode_fails_init_naming_the_app_setting() {
    let github = MockServer::start().await;
    let function = start(&github, "redeliver-token", false).await;
    let answer = function.invoke(&schedule_tick()).await;
    assert!(answer.is_err(), "{answer:?}");
    let logs = function.logs();
    assert!(
        logs.iter()
            .any(|line| line.to_string().contains("GANTRY_GITHUB_APP_ID")
                && line.to_string().contains("gantry replay --failed")),
        "{logs:?}"
    );
    assert!(github
        .received_requests()
        .await
        .unwrap_or_default()
        .is_empty());
}
