//! Cold-start figures: each function's binary, started again and again under a
//! local Lambda Runtime API against moto's server, beside a bare
//! `lambda_runtime` binary measured in the same run.
//!
//! `coldstart BINARY_DIR RUNS`: BINARY_DIR holds `<name>/bootstrap` (cargo
//! lambda's layout) or `<name>`. Prints one JSON line per function.

use gantry_tests::local_run::LOCAL_GITHUB_TOKEN;
use gantry_tests::moto::Moto;
use gantry_tests::runtime::LocalFunction;
use gantry_tests::scenario::{self, LOCAL_PRUNE_POLICY, LOCAL_SECRET};
use gantry_tests::{sample, BoxError};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// A function's environment variables.
type Env = Vec<(String, String)>;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().ok_or("usage: coldstart BINARY_DIR [RUNS]")?);
    let runs: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(20);

    let moto = Moto::start().await?;
    let aws = scenario::provision(&moto.sdk_config().await).await?;
    let github = MockServer::start().await;
    Mock::given(wiremock::matchers::method("POST"))
        .respond_with(ResponseTemplate::new(201).set_body_json(serde_json::json!({})))
        .mount(&github)
        .await;
    // A build to report on, as trigger would have started it.
    let build_id = aws_sdk_codebuild::Client::new(&aws.sdk)
        .start_build()
        .project_name(scenario::PROJECT)
        .source_version("6113728f27ae82c7b1a177c8d03f9e96e0adf246")
        .send()
        .await?
        .build_value
        .and_then(|b| b.id)
        .ok_or("no build")?;

    let base = moto.env();
    let with = |extra: &[(&str, String)]| {
        let mut env = base.clone();
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.clone())));
        env
    };
    let trigger_event = sample("trigger/push.json");
    let functions: Vec<(&str, Env, serde_json::Value)> = vec![
        (
            "bare-lambda",
            with(&[]),
            serde_json::json!({"hello": "world"}),
        ),
        (
            "webhook",
            with(&[
                ("GANTRY_EVENT_BUS", scenario::BUS.into()),
                ("GANTRY_WEBHOOK_SECRET", LOCAL_SECRET.into()),
            ]),
            sample("webhook/push.json"),
        ),
        (
            "trigger",
            with(&[
                ("GANTRY_ROUTES", scenario::routes_json()),
                ("GANTRY_LEDGER_TABLE", scenario::LEDGER_TABLE.into()),
                ("GANTRY_TRIGGER_QUEUE_URL", aws.queue_url.clone()),
                ("GANTRY_TRIGGER_DLQ_URL", aws.dead_letter_url.clone()),
            ]),
            trigger_event,
        ),
        (
            "status",
            with(&[
                ("GANTRY_GITHUB_TOKEN", LOCAL_GITHUB_TOKEN.into()),
                ("GANTRY_GITHUB_API_URL", github.uri()),
            ]),
            scenario::build_state_change(
                &build_id,
                "SUCCEEDED",
                "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
            ),
        ),
        (
            "pruner",
            with(&[
                ("GANTRY_ARTIFACT_BUCKET", scenario::ARTIFACT_BUCKET.into()),
                ("GANTRY_PRUNE_POLICY", LOCAL_PRUNE_POLICY.into()),
                ("GANTRY_DRY_RUN", "true".into()),
            ]),
            sample("aws/eventbridge-event.docs.json"),
        ),
    ];

    // The same work in Python and boto3, when scripts/bench names its bootstrap.
    let python = std::env::var("GANTRY_PYTHON_BASELINE").ok();
    let mut functions = functions;
    if python.is_some() {
        functions.push((
            "python-webhook",
            with(&[
                ("GANTRY_EVENT_BUS", scenario::BUS.into()),
                ("GANTRY_WEBHOOK_SECRET", LOCAL_SECRET.into()),
                // Lambda sets both; botocore reads this one.
                ("AWS_DEFAULT_REGION", gantry_tests::moto::REGION.into()),
            ]),
            sample("webhook/push.json"),
        ));
    }

    let log_dir = std::env::temp_dir().join("gantry-coldstart");
    let mut bare_init = None;
    for (name, env, event) in functions {
        let binary = match (name, &python) {
            ("python-webhook", Some(bootstrap)) => PathBuf::from(bootstrap),
            _ => binary(&dir, name),
        };
        let (mut inits, mut firsts, mut rss) = (Vec::new(), Vec::new(), Vec::new());
        for run in 0..runs {
            let function = LocalFunction::start(
                name,
                &binary,
                &env,
                log_dir.join(format!("{name}-{run}.log")),
            )
            .await?;
            let init = function
                .init_duration(Duration::from_secs(10))
                .await
                .ok_or("no first poll")?;
            let started = Instant::now();
            function.invoke(&event).await?;
            firsts.push(started.elapsed().as_secs_f64() * 1000.0);
            inits.push(init.as_secs_f64() * 1000.0);
            rss.push(function.peak_rss_kib().await.unwrap_or(0) as f64 / 1024.0);
        }
        let init = stats(&mut inits);
        if name == "bare-lambda" {
            bare_init = Some(init.0);
        }
        let ratio = bare_init.map(|bare| init.0 / bare).unwrap_or(1.0);
        let first = stats(&mut firsts);
        let rss = stats(&mut rss);
        println!(
            "{{\"function\": \"{name}\", \"runs\": {runs}, \"init_ms\": {{\"median\": {:.2}, \"p10\": {:.2}, \"p90\": {:.2}}}, \"init_vs_bare\": {ratio:.2}, \"first_invoke_ms\": {{\"median\": {:.2}, \"p10\": {:.2}, \"p90\": {:.2}}}, \"peak_rss_mib\": {{\"median\": {:.1}, \"max\": {:.1}}}}}",
            init.0, init.1, init.2, first.0, first.1, first.2, rss.0, rss.3
        );
    }
    Ok(())
}

fn binary(dir: &Path, name: &str) -> PathBuf {
    let lambda_layout = dir.join(name).join("bootstrap");
    if lambda_layout.exists() {
        lambda_layout
    } else {
        dir.join(name)
    }
}

/// (median, p10, p90, max)
fn stats(values: &mut [f64]) -> (f64, f64, f64, f64) {
    values.sort_by(|a, b| a.total_cmp(b));
    let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.1), at(0.9), at(1.0))
}
