//! A local Lambda Runtime API (the `2018-06-01` interface a custom runtime
//! polls), so the functions' real release or debug binaries run here as they
//! would on Lambda: the process starts, asks for the next invocation, answers.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use std::collections::HashMap;
use std::path::{Path as FsPath, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, oneshot, Mutex};

/// How long one invocation may take (its deadline) unless the function's
/// timeout is given (`start_with_timeout`).
const INVOKE_TIMEOUT: Duration = Duration::from_secs(60);
/// How much longer than the deadline the caller waits for an answer: a function
/// that keeps its deadline answers within it.
const ANSWER_MARGIN: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    #[error("function binary {0} not found; build it first with `cargo build --workspace`")]
    MissingBinary(PathBuf),
    #[error("could not run the function process")]
    Io(#[from] std::io::Error),
    #[error("function reported an init error: {0}")]
    Init(String),
    #[error("function returned an error: {0}")]
    Function(serde_json::Value),
    #[error("function exited before answering ({0})")]
    Exited(String),
    #[error("function did not answer within {0:?}")]
    Timeout(Duration),
}

type Reply = oneshot::Sender<Result<Bytes, InvokeError>>;

struct Invocation {
    request_id: String,
    payload: Bytes,
    reply: Reply,
}

#[derive(Clone)]
struct Shared {
    queue: Arc<Mutex<mpsc::Receiver<Invocation>>>,
    pending: Arc<Mutex<HashMap<String, Reply>>>,
    init_error: Arc<Mutex<Option<String>>>,
    function_name: String,
    /// The function's timeout: each invocation's deadline is this far off.
    timeout: Duration,
    /// When the process first asked for an invocation: the end of its init.
    first_poll: Arc<std::sync::OnceLock<std::time::Instant>>,
}

/// One function process and the Runtime API it polls.
pub struct LocalFunction {
    name: String,
    sender: mpsc::Sender<Invocation>,
    shared: Shared,
    child: Mutex<Child>,
    next_id: std::sync::atomic::AtomicU64,
    server: tokio::task::JoinHandle<()>,
    pub log_file: PathBuf,
    spawned_at: std::time::Instant,
}

impl LocalFunction {
    /// Starts `binary` with `env` (plus the variables Lambda itself sets), its
    /// stdout and stderr going to `log_file`.
    pub async fn start(
        name: &str,
        binary: &FsPath,
        env: &[(String, String)],
        log_file: PathBuf,
    ) -> Result<LocalFunction, InvokeError> {
        Self::start_with_timeout(name, binary, env, log_file, INVOKE_TIMEOUT).await
    }

    /// `start`, with each invocation's deadline `timeout` off, as the
    /// template's `Timeout` sets it.
    pub async fn start_with_timeout(
        name: &str,
        binary: &FsPath,
        env: &[(String, String)],
        log_file: PathBuf,
        timeout: Duration,
    ) -> Result<LocalFunction, InvokeError> {
        if !binary.exists() {
            return Err(InvokeError::MissingBinary(binary.to_owned()));
        }
        let (sender, receiver) = mpsc::channel(16);
        let shared = Shared {
            queue: Arc::new(Mutex::new(receiver)),
            pending: Arc::default(),
            init_error: Arc::default(),
            function_name: name.to_owned(),
            timeout,
            first_poll: Arc::default(),
        };
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(respond),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(fail))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });

        if let Some(parent) = log_file.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let log = std::fs::File::create(&log_file)?;
        let spawned_at = std::time::Instant::now();
        let child = Command::new(binary)
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
        Ok(LocalFunction {
            name: name.to_owned(),
            sender,
            shared,
            child: Mutex::new(child),
            next_id: Default::default(),
            server,
            log_file,
            spawned_at,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Invokes the function with `payload` and waits for its answer.
    pub async fn invoke(
        &self,
        payload: &serde_json::Value,
    ) -> Result<serde_json::Value, InvokeError> {
        let n = self
            .next_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (reply, answer) = oneshot::channel();
        let invocation = Invocation {
            request_id: format!("{}-{n:08}", self.name),
            payload: Bytes::from(serde_json::to_vec(payload).unwrap_or_default()),
            reply,
        };
        if self.sender.send(invocation).await.is_err() {
            return Err(InvokeError::Exited("runtime API closed".into()));
        }
        let mut child = self.child.lock().await;
        let outcome = tokio::select! {
            answer = answer => answer.unwrap_or_else(|_| Err(InvokeError::Exited("no answer".into()))),
            status = child.wait() => {
                let init = self.shared.init_error.lock().await.clone();
                match init {
                    Some(error) => Err(InvokeError::Init(error)),
                    None => Err(InvokeError::Exited(format!(
                        "{status:?}; last log line: {}",
                        self.last_log_line()
                    ))),
                }
            }
            _ = tokio::time::sleep(self.shared.timeout + ANSWER_MARGIN) => Err(InvokeError::Timeout(self.shared.timeout)),
        };
        let body = outcome?;
        Ok(serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null))
    }

    fn last_log_line(&self) -> String {
        std::fs::read_to_string(&self.log_file)
            .unwrap_or_default()
            .lines()
            .last()
            .unwrap_or("")
            .to_owned()
    }

    /// Process start to its first `GET /runtime/invocation/next`: the function's
    /// init, as Lambda bills it. Waits up to `wait` for the first poll.
    pub async fn init_duration(&self, wait: Duration) -> Option<Duration> {
        let deadline = std::time::Instant::now() + wait;
        loop {
            if let Some(polled) = self.shared.first_poll.get() {
                return Some(polled.duration_since(self.spawned_at));
            }
            if std::time::Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
    }

    /// The process's peak resident memory so far (`VmHWM`), in KiB.
    pub async fn peak_rss_kib(&self) -> Option<u64> {
        let pid = self.child.lock().await.id()?;
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()?
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
    }

    /// The process's log so far, one JSON object per line where it is JSON.
    pub fn logs(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.log_file)
            .unwrap_or_default()
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect()
    }
}

impl Drop for LocalFunction {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn next(State(shared): State<Shared>) -> Response {
    shared.first_poll.get_or_init(std::time::Instant::now);
    let invocation = shared.queue.lock().await.recv().await;
    let Some(invocation) = invocation else {
        return StatusCode::GONE.into_response();
    };
    let deadline = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis()
        + shared.timeout.as_millis();
    let mut headers = HeaderMap::new();
    let header =
        |value: String| HeaderValue::from_str(&value).unwrap_or(HeaderValue::from_static("-"));
    headers.insert(
        "lambda-runtime-aws-request-id",
        header(invocation.request_id.clone()),
    );
    headers.insert("lambda-runtime-deadline-ms", header(deadline.to_string()));
    headers.insert(
        "lambda-runtime-invoked-function-arn",
        header(format!(
            "arn:aws:lambda:{}:{}:function:{}",
            crate::moto::REGION,
            crate::moto::ACCOUNT,
            shared.function_name
        )),
    );
    headers.insert(
        "lambda-runtime-trace-id",
        header(format!("Root=1-00000000-{}", invocation.request_id)),
    );
    shared
        .pending
        .lock()
        .await
        .insert(invocation.request_id, invocation.reply);
    (StatusCode::OK, headers, invocation.payload).into_response()
}

async fn respond(State(shared): State<Shared>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    complete(&shared, &id, Ok(body)).await
}

async fn fail(State(shared): State<Shared>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    let error = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    complete(&shared, &id, Err(InvokeError::Function(error))).await
}

async fn init_error(State(shared): State<Shared>, body: Bytes) -> StatusCode {
    *shared.init_error.lock().await = Some(String::from_utf8_lossy(&body).into_owned());
    StatusCode::ACCEPTED
}

async fn complete(shared: &Shared, id: &str, outcome: Result<Bytes, InvokeError>) -> StatusCode {
    match shared.pending.lock().await.remove(id) {
        Some(reply) => {
            let _ = reply.send(outcome);
            StatusCode::ACCEPTED
        }
        None => StatusCode::NOT_FOUND,
    }
}
