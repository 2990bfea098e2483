//! `status` in App mode, as its real binary: a GitHub stand-in that plays the
//! App's side (installation, installation token, check runs) and a CodeBuild
//! stand-in for a failed build with a test report (moto's builds succeed at
//! once and it answers 500 to `BatchGetReports` and `DescribeTestCases`; the
//! stand-in answers in AWS's documented shapes, the CLI reference's samples in
//! `events/status/`). The binary reaches it through the SDK's standard
//! per-service endpoint setting, `AWS_ENDPOINT_URL_CODEBUILD`; the ledger is
//! moto's DynamoDB.

use crate::moto::Moto;
use crate::runtime::{InvokeError, LocalFunction};
use crate::scenario::{self, REPOSITORY};
use crate::{sample, workspace_binary, workspace_root, BoxError};
use std::path::Path;
use wiremock::matchers::{body_partial_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

pub const APP_ID: &str = "4242";
pub const BUILD: &str = "hello-world-build:5f6b2c1a-0000-4000-8000-00000000a99d";
pub const COMMIT: &str = "6113728f27ae82c7b1a177c8d03f9e96e0adf246";
pub const REPORT: &str =
    "arn:aws:codebuild:us-east-1:123456789012:report/hello-world-unit-tests:6c3c6b4e";
/// The App's installation on the repository, its token, the check run it creates.
pub const INSTALLATION: u64 = 77;
pub const INSTALLATION_TOKEN: &str = "ghs_installation_token_for_tests";
pub const CHECK_RUN: u64 = 9001;

/// GitHub's side of App mode on `github`: the App's installation on the
/// repository, its token, and the check-run endpoints, each answering in the
/// REST description's shape.
pub async fn mount_github_app(github: &MockServer) {
    mount_installation(github).await;
    let mut created = crate::rest::description("check-run.response-201.json");
    created["id"] = CHECK_RUN.into();
    Mock::given(method("POST"))
        .and(path(format!("/repos/{REPOSITORY}/check-runs")))
        .respond_with(ResponseTemplate::new(201).set_body_json(created.clone()))
        .mount(github)
        .await;
    Mock::given(method("PATCH"))
        .and(path(format!("/repos/{REPOSITORY}/check-runs/{CHECK_RUN}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(created))
        .mount(github)
        .await;
}

/// The App's installation on the repository and its token.
pub async fn mount_installation(github: &MockServer) {
    Mock::given(method("GET"))
        .and(path(format!("/repos/{REPOSITORY}/installation")))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "id": INSTALLATION, "app_id": 4242, "app_slug": "gantry"
        })))
        .mount(github)
        .await;
    Mock::given(method("POST"))
        .and(path(format!(
            "/app/installations/{INSTALLATION}/access_tokens"
        )))
        .respond_with(ResponseTemplate::new(201).set_body_json(serde_json::json!({
            "token": INSTALLATION_TOKEN, "expires_at": "2099-01-01T00:00:00Z"
        })))
        .mount(github)
        .await;
}

/// A key made for the tests (`openssl genrsa -traditional 2048`); it signs
/// for no App.
pub fn app_key_pem() -> Result<String, BoxError> {
    Ok(std::fs::read_to_string(
        workspace_root().join("functions/core/tests/data/test-app-key.pem"),
    )?)
}

pub struct AppMode {
    pub github: MockServer,
    pub codebuild: MockServer,
    pub status: LocalFunction,
}

/// A check run as the GitHub stand-in received it.
#[derive(Debug, Clone)]
pub struct ReceivedCheckRun {
    pub method: String,
    pub body: serde_json::Value,
}

impl AppMode {
    /// Starts the stand-ins and the status binary against `moto` (whose
    /// ledger table must exist).
    pub async fn start(moto: &Moto, log_dir: &Path) -> Result<AppMode, BoxError> {
        let github = MockServer::start().await;
        mount_github_app(&github).await;

        let codebuild = MockServer::start().await;
        failed_build_with_report(&codebuild, BUILD).await;

        let mut env = moto.env();
        env.push(("AWS_ENDPOINT_URL_CODEBUILD".into(), codebuild.uri()));
        env.push(("GANTRY_GITHUB_APP_ID".into(), APP_ID.into()));
        env.push(("GANTRY_GITHUB_APP_KEY".into(), app_key_pem()?));
        env.push(("GANTRY_GITHUB_API_URL".into(), github.uri()));
        env.push(("GANTRY_LEDGER_TABLE".into(), scenario::LEDGER_TABLE.into()));
        let status = LocalFunction::start(
            "status",
            &workspace_binary("status"),
            &env,
            log_dir.join("status-app.log"),
        )
        .await?;
        Ok(AppMode {
            github,
            codebuild,
            status,
        })
    }

    /// Hands the binary the build's state change; returns its answer.
    pub async fn report(&self, build_status: &str) -> Result<serde_json::Value, InvokeError> {
        self.status
            .invoke(&scenario::build_state_change(BUILD, build_status, COMMIT))
            .await
    }

    /// The check-run requests GitHub received, in order.
    pub async fn check_runs(&self) -> Vec<ReceivedCheckRun> {
        self.github
            .received_requests()
            .await
            .unwrap_or_default()
            .into_iter()
            .filter(|request| request.url.path().contains("/check-runs"))
            .map(|request| ReceivedCheckRun {
                method: request.method.to_string(),
                body: serde_json::from_slice(&request.body).unwrap_or_default(),
            })
            .collect()
    }
}

/// CodeBuild's answers for `build_id`: failed in its BUILD phase with one test
/// report, whose failed cases are the CLI reference's two errors and one
/// failure whose message names a file and line, as a Rust test's does.
pub async fn failed_build_with_report(codebuild: &MockServer, build_id: &str) {
    let mut builds = scenario::batch_get_builds(build_id, "FAILED", COMMIT);
    builds["builds"][0]["reportArns"] = serde_json::json!([REPORT]);
    let target = |operation: &str| {
        header(
            "x-amz-target",
            format!("CodeBuild_20161006.{operation}").as_str(),
        )
    };
    Mock::given(target("BatchGetBuilds"))
        .respond_with(ResponseTemplate::new(200).set_body_json(builds))
        .mount(codebuild)
        .await;
    let mut reports = sample("status/codebuild.batch-get-reports.aws-cli-example.json");
    reports["reports"][0]["arn"] = REPORT.into();
    reports["reports"][0]["name"] = "hello-world-unit-tests".into();
    Mock::given(target("BatchGetReports"))
        .respond_with(ResponseTemplate::new(200).set_body_json(reports))
        .mount(codebuild)
        .await;
    let mut errors = sample("status/codebuild.describe-test-cases.aws-cli-example.json");
    for case in errors["testCases"].as_array_mut().into_iter().flatten() {
        case["reportArn"] = REPORT.into();
    }
    let failed = serde_json::json!({"testCases": [{
        "reportArn": REPORT, "testRawDataPath": "<test-report-path>",
        "prefix": "hello_world::tests", "name": "greets_the_world", "status": "FAILED",
        "durationInNanoSeconds": 1_000_000,
        "message": "assertion `left == right` failed at src/lib.rs:42:9\n  left: \"hello\"\n right: \"hello, world\"",
        "expired": 1_605_894_730
    }]});
    for (status, answer) in [("FAILED", failed), ("ERROR", errors)] {
        Mock::given(target("DescribeTestCases"))
            .and(body_partial_json(
                serde_json::json!({"reportArn": REPORT, "filter": {"status": status}}),
            ))
            .respond_with(ResponseTemplate::new(200).set_body_json(answer))
            .mount(codebuild)
            .await;
    }
}
