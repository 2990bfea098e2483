//! Init as an instruction count: each function's binary run under valgrind's
//! callgrind, from process start to its first `GET /runtime/invocation/next`,
//! beside a bare `lambda_runtime` binary measured in the same run.
//!
//! `init-instructions BINARY_DIR [RUNS]`: BINARY_DIR holds `<name>/bootstrap`
//! (cargo lambda's layout) or `<name>`. A minimal Runtime API answers nothing:
//! on the first poll it sends the process SIGTERM, whose default action ends it
//! while callgrind still writes its totals. The AWS endpoint and GitHub are a
//! listener that only counts connections: init must make none, so no moto is
//! needed, and a connection fails the run. Prints one JSON line per function.

use gantry_tests::local_run::LOCAL_GITHUB_TOKEN;
use gantry_tests::moto::{ACCOUNT, REGION};
use gantry_tests::scenario::{self, LOCAL_PRUNE_POLICY, LOCAL_SECRET};
use gantry_tests::BoxError;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::Command;
use tokio::sync::mpsc;

/// How long one run under callgrind may take to reach its first poll.
const RUN_TIMEOUT: Duration = Duration::from_secs(180);

type Env = Vec<(String, String)>;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(
        args.next()
            .ok_or("usage: init-instructions BINARY_DIR [RUNS]")?,
    );
    let runs: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(5);
    let out_dir = std::env::temp_dir().join("gantry-init-instructions");
    std::fs::create_dir_all(&out_dir)?;

    // Stands in for every network peer but the Runtime API: it accepts and
    // counts, and answers nothing.
    let peer = TcpListener::bind("127.0.0.1:0").await?;
    let peer_url = format!("http://{}", peer.local_addr()?);
    let connections = Arc::new(AtomicUsize::new(0));
    {
        let connections = connections.clone();
        tokio::spawn(async move {
            while let Ok((_stream, _)) = peer.accept().await {
                connections.fetch_add(1, Ordering::SeqCst);
            }
        });
    }

    let base: Env = [
        ("AWS_ENDPOINT_URL", peer_url.as_str()),
        ("AWS_REGION", REGION),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let with = |extra: &[(&str, String)]| {
        let mut env = base.clone();
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.clone())));
        env
    };
    let queue = |name: &str| format!("{peer_url}/{ACCOUNT}/{name}");
    // The settings `coldstart` gives each function.
    let functions: Vec<(&str, Env)> = vec![
        ("bare-lambda", with(&[])),
        (
            "webhook",
            with(&[
                ("GANTRY_EVENT_BUS", scenario::BUS.into()),
                ("GANTRY_WEBHOOK_SECRET", LOCAL_SECRET.into()),
            ]),
        ),
        (
            "trigger",
            with(&[
                ("GANTRY_ROUTES", scenario::routes_json()),
                ("GANTRY_LEDGER_TABLE", scenario::LEDGER_TABLE.into()),
                ("GANTRY_TRIGGER_QUEUE_URL", queue(scenario::TRIGGER_QUEUE)),
                ("GANTRY_TRIGGER_DLQ_URL", queue(scenario::TRIGGER_DLQ)),
            ]),
        ),
        (
            "status",
            with(&[
                ("GANTRY_GITHUB_TOKEN", LOCAL_GITHUB_TOKEN.into()),
                ("GANTRY_GITHUB_API_URL", peer_url.clone()),
            ]),
        ),
        (
            "pruner",
            with(&[
                ("GANTRY_ARTIFACT_BUCKET", scenario::ARTIFACT_BUCKET.into()),
                ("GANTRY_PRUNE_POLICY", LOCAL_PRUNE_POLICY.into()),
                ("GANTRY_DRY_RUN", "true".into()),
            ]),
        ),
        (
            // Only here, not in `coldstart`: its first invocation would read GitHub.
            "redeliver",
            with(&[
                (
                    "GANTRY_GITHUB_APP_ID",
                    gantry_tests::app_mode::APP_ID.into(),
                ),
                (
                    "GANTRY_GITHUB_APP_KEY",
                    gantry_tests::app_mode::app_key_pem()?,
                ),
                ("GANTRY_GITHUB_API_URL", peer_url.clone()),
            ]),
        ),
    ];

    let mut bare = None;
    for (name, env) in functions {
        let binary = binary(&dir, name);
        if !binary.exists() {
            return Err(format!("{} not found", binary.display()).into());
        }
        let mut counts = Vec::new();
        for run in 0..runs {
            let before = connections.load(Ordering::SeqCst);
            let out = out_dir.join(format!("{name}-{run}.callgrind"));
            let count = measure(name, &binary, &env, &out).await?;
            if connections.load(Ordering::SeqCst) != before {
                return Err(format!("{name} connected to AWS or GitHub during init").into());
            }
            counts.push(count);
        }
        counts.sort_unstable();
        let median = counts[counts.len() / 2];
        let (min, max) = (counts[0], counts[counts.len() - 1]);
        if name == "bare-lambda" {
            bare = Some(median);
        }
        let ratio = bare.map(|b| median as f64 / b as f64).unwrap_or(1.0);
        let spread = (max - min) as f64 / median as f64 * 100.0;
        let all = counts
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        println!(
            "{{\"function\": \"{name}\", \"runs\": {runs}, \"instructions\": {{\"median\": {median}, \"min\": {min}, \"max\": {max}}}, \"spread_pct\": {spread:.2}, \"init_vs_bare\": {ratio:.3}, \"counts\": [{all}]}}"
        );
    }
    Ok(())
}

/// One run: the guest instructions callgrind counted up to the first poll.
async fn measure(name: &str, binary: &Path, env: &Env, out: &Path) -> Result<u64, BoxError> {
    let _ = std::fs::remove_file(out);
    let runtime = TcpListener::bind("127.0.0.1:0").await?;
    let address = runtime.local_addr()?;
    let log = std::fs::File::create(out.with_extension("log"))?;
    let mut child = Command::new("valgrind")
        .arg("--tool=callgrind")
        .arg(format!("--callgrind-out-file={}", out.display()))
        .arg(format!(
            "--log-file={}",
            out.with_extension("valgrind").display()
        ))
        .arg(binary)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("AWS_LAMBDA_RUNTIME_API", address.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", name)
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .kill_on_drop(true)
        .spawn()?;
    let pid = child.id().ok_or("no pid")?;

    let (polls, mut polled) = mpsc::channel::<Result<TcpStream, String>>(4);
    let server = tokio::spawn(async move {
        while let Ok((stream, _)) = runtime.accept().await {
            let polls = polls.clone();
            tokio::spawn(async move {
                if let Some(seen) = request(stream).await {
                    let _ = polls.send(seen).await;
                }
            });
        }
    });

    let outcome = tokio::select! {
        seen = polled.recv() => seen.unwrap_or(Err("runtime API closed".into())),
        status = child.wait() => Err(format!("{name} exited before its first poll ({status:?})")),
        _ = tokio::time::sleep(RUN_TIMEOUT) => Err(format!("{name}: no first poll within {RUN_TIMEOUT:?}")),
    };
    let stopped = match &outcome {
        Ok(_) => Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .await
            .map(|s| s.success())
            .unwrap_or(false),
        Err(_) => false,
    };
    if !stopped {
        let _ = child.start_kill();
    }
    let _ = child.wait().await;
    server.abort();
    // The unanswered poll, held open until the process has gone.
    drop(outcome.map_err(|e| format!("{e}; see {}", out.with_extension("log").display()))?);
    totals(out).map_err(|e| format!("{name}: {e} in {}", out.display()).into())
}

/// Reads one request head: `Some(Ok)` with the connection for the first poll,
/// `Some(Err)` for an init error report, `None` for anything else.
async fn request(mut stream: TcpStream) -> Option<Result<TcpStream, String>> {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    if text.starts_with("GET /2018-06-01/runtime/invocation/next") {
        // Answered never: the process waits here until it is stopped.
        return Some(Ok(stream));
    }
    if text.starts_with("POST /2018-06-01/runtime/init/error") {
        let _ = stream
            .write_all(b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n")
            .await;
        return Some(Err(format!("init error reported: {text}")));
    }
    None
}

/// The `totals:` (or `summary:`) line of a callgrind output file.
fn totals(out: &Path) -> Result<u64, String> {
    let text = std::fs::read_to_string(out).map_err(|e| e.to_string())?;
    text.lines()
        .find_map(|line| {
            line.strip_prefix("totals:")
                .or_else(|| line.strip_prefix("summary:"))
        })
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .ok_or_else(|| "no totals".to_owned())
}

fn binary(dir: &Path, name: &str) -> PathBuf {
    let lambda_layout = dir.join(name).join("bootstrap");
    if lambda_layout.exists() {
        lambda_layout
    } else {
        dir.join(name)
    }
}
