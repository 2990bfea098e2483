//! The GitHub REST client: one operation today, creating a commit status, with
//! its own retry policy. The API base URL is configurable, for GitHub Enterprise
//! Server (`https://HOST/api/v3`) and for tests.

use crate::ids::{CommitSha, RepoName};
use crate::secret::{CachedSecret, SecretError};
use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use secrecy::ExposeSecret;
use serde::Serialize;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::OnceCell;
use tokio::time::Instant;

pub const DEFAULT_API_URL: &str = "https://api.github.com";
/// The REST API version Gantry is written against.
pub const API_VERSION: &str = "2022-11-28";
/// GitHub truncates nothing: a longer description is a 422, so it is cut here.
pub const MAX_DESCRIPTION_CHARS: usize = 140;
const USER_AGENT: &str = concat!("gantry/", env!("CARGO_PKG_VERSION"));
/// GitHub's guidance for a secondary rate limit that names no reset time.
const SECONDARY_RATE_LIMIT_WAIT: Duration = Duration::from_secs(60);
/// One request's limit, so a connection that hangs leaves time to retry.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// `state` of a commit status, as GitHub's REST description enumerates it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StatusState {
    Pending,
    Success,
    Failure,
    Error,
}

impl StatusState {
    pub fn as_str(self) -> &'static str {
        match self {
            StatusState::Pending => "pending",
            StatusState::Success => "success",
            StatusState::Failure => "failure",
            StatusState::Error => "error",
        }
    }
}

/// The body of `POST /repos/{owner}/{repo}/statuses/{sha}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CommitStatus {
    pub state: StatusState,
    pub target_url: Option<String>,
    pub description: String,
    pub context: String,
}

impl CommitStatus {
    /// Cuts the description to GitHub's limit, on a character boundary.
    pub fn new(
        state: StatusState,
        context: String,
        description: &str,
        target_url: Option<String>,
    ) -> Self {
        let description = if description.chars().count() > MAX_DESCRIPTION_CHARS {
            let mut cut: String = description
                .chars()
                .take(MAX_DESCRIPTION_CHARS - 1)
                .collect();
            cut.push('…');
            cut
        } else {
            description.to_owned()
        };
        CommitStatus {
            state,
            target_url,
            description,
            context,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum GitHubError {
    #[error("GitHub token unavailable")]
    Token(#[from] SecretError),
    #[error("GitHub API base URL {0:?} is not an http(s) URL")]
    BaseUrl(String),
    #[error("no root certificates to verify GitHub's TLS certificate")]
    RootCertificates(#[source] std::io::Error),
    /// Worth retrying later: 5xx, 429, a rate limit, a network failure.
    #[error("GitHub API still failing after {attempts} attempts: {last}")]
    Transient { attempts: u32, last: String },
    /// Retrying will not help: the commit, repository or token is wrong.
    #[error("GitHub API refused the status with {status}: {message}")]
    Rejected { status: u16, message: String },
}

impl GitHubError {
    pub fn is_transient(&self) -> bool {
        matches!(self, GitHubError::Transient { .. } | GitHubError::Token(_))
    }
}

/// How hard to try. Backoff doubles from `first_delay`; a server-given
/// `Retry-After` or rate-limit reset replaces it, and no wait may run past the
/// caller's deadline: then the error goes back to the caller (and EventBridge retries).
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub first_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 4,
            first_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(20),
        }
    }
}

type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

pub struct GitHubClient {
    /// Built on the first call: loading the system's root certificates is most
    /// of a cold start, and an event that needs no status never needs them.
    http: OnceCell<HttpsClient>,
    api_url: String,
    token: CachedSecret,
    retry: RetryPolicy,
}

/// What one attempt came to.
enum Attempt {
    Created,
    Retry {
        after: Option<Duration>,
        reason: String,
    },
    Rejected {
        status: u16,
        message: String,
    },
}

impl GitHubClient {
    pub fn new(
        api_url: &str,
        token: CachedSecret,
        retry: RetryPolicy,
    ) -> Result<Self, GitHubError> {
        let parsed =
            url::Url::parse(api_url).map_err(|_| GitHubError::BaseUrl(api_url.to_owned()))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.cannot_be_a_base() {
            return Err(GitHubError::BaseUrl(api_url.to_owned()));
        }
        Ok(GitHubClient {
            http: OnceCell::new(),
            api_url: api_url.trim_end_matches('/').to_owned(),
            token,
            retry,
        })
    }

    /// `POST /repos/{owner}/{repo}/statuses/{sha}`, retried within `deadline`.
    pub async fn create_status(
        &self,
        repo: &RepoName,
        sha: &CommitSha,
        status: &CommitStatus,
        deadline: Instant,
    ) -> Result<(), GitHubError> {
        let url = format!(
            "{}/repos/{}/{}/statuses/{}",
            self.api_url,
            repo.owner(),
            repo.name(),
            sha
        );
        let body = Bytes::from(serde_json::to_vec(status).unwrap_or_default());
        let mut delay = self.retry.first_delay;
        let mut attempt = 1;
        loop {
            // A connection that hangs must not outlive the invocation either.
            let attempt_deadline = deadline.min(Instant::now() + ATTEMPT_TIMEOUT);
            let answer =
                tokio::time::timeout_at(attempt_deadline, self.attempt(&url, body.clone()))
                    .await
                    .unwrap_or_else(|_| {
                        Ok(Attempt::Retry {
                            after: None,
                            reason: "no answer in time".to_owned(),
                        })
                    })?;
            match answer {
                Attempt::Created => return Ok(()),
                Attempt::Rejected { status, message } => {
                    return Err(GitHubError::Rejected { status, message })
                }
                Attempt::Retry { after, reason } => {
                    // A wait the server asks for is honoured as given; only our own backoff is capped.
                    let wait = after.unwrap_or(delay);
                    if attempt >= self.retry.max_attempts || Instant::now() + wait >= deadline {
                        return Err(GitHubError::Transient {
                            attempts: attempt,
                            last: reason,
                        });
                    }
                    tracing::warn!(attempt, wait_ms = wait.as_millis() as u64, %reason, "GitHub call failed; retrying");
                    tokio::time::sleep(wait).await;
                }
            }
            delay = (delay * 2).min(self.retry.max_delay);
            attempt += 1;
        }
    }

    async fn http(&self) -> Result<&HttpsClient, GitHubError> {
        self.http
            .get_or_try_init(|| async {
                let connector = hyper_rustls::HttpsConnectorBuilder::new()
                    .with_provider_and_native_roots(rustls::crypto::ring::default_provider())
                    .map_err(GitHubError::RootCertificates)?
                    .https_or_http()
                    .enable_http1()
                    .build();
                Ok(Client::builder(TokioExecutor::new()).build(connector))
            })
            .await
    }

    async fn attempt(&self, url: &str, body: Bytes) -> Result<Attempt, GitHubError> {
        let token = self.token.get().await?;
        let http = self.http().await?;
        let request = Request::builder()
            .method(Method::POST)
            .uri(url)
            .header("accept", "application/vnd.github+json")
            .header("authorization", format!("Bearer {}", token.expose_secret()))
            .header("x-github-api-version", API_VERSION)
            .header("user-agent", USER_AGENT)
            .header("content-type", "application/json")
            .body(Full::new(body))
            .map_err(|_| GitHubError::BaseUrl(self.api_url.clone()))?;
        let response = match http.request(request).await {
            Ok(response) => response,
            Err(err) => {
                return Ok(Attempt::Retry {
                    after: None,
                    reason: format!("request failed: {err}"),
                })
            }
        };
        let status = response.status();
        let headers = response.headers().clone();
        let text = match response.into_body().collect().await {
            Ok(collected) => String::from_utf8_lossy(&collected.to_bytes()).into_owned(),
            Err(err) => format!("(body unreadable: {err})"),
        };
        Ok(classify(status, &headers, &text, SystemTime::now()))
    }
}

/// GitHub's documented failure modes: 5xx and 429 are transient; a 403 is a
/// rate limit when it says so (`Retry-After`, or no requests left), otherwise a
/// permission problem; everything else in 4xx is permanent.
fn classify(status: StatusCode, headers: &HeaderMap, body: &str, now: SystemTime) -> Attempt {
    if status.is_success() {
        return Attempt::Created;
    }
    let message = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|json| json["message"].as_str().map(str::to_owned))
        .unwrap_or_else(|| body.chars().take(200).collect());
    let retry_after = header_u64(headers, "retry-after").map(Duration::from_secs);
    let rate_limited = header_u64(headers, "x-ratelimit-remaining") == Some(0);
    let reset_wait = header_u64(headers, "x-ratelimit-reset").map(|reset| {
        let now = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        Duration::from_secs(reset.saturating_sub(now).max(1))
    });
    let reason = format!("{} {}", status.as_u16(), message);
    // A secondary rate limit may come without either header; GitHub then asks
    // for at least a minute's wait.
    let secondary = message.to_ascii_lowercase().contains("rate limit")
        && retry_after.is_none()
        && !rate_limited;
    if secondary
        && matches!(
            status,
            StatusCode::FORBIDDEN | StatusCode::TOO_MANY_REQUESTS
        )
    {
        return Attempt::Retry {
            after: Some(SECONDARY_RATE_LIMIT_WAIT),
            reason,
        };
    }
    if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
        return Attempt::Retry {
            after: retry_after.or(if rate_limited { reset_wait } else { None }),
            reason,
        };
    }
    if status == StatusCode::FORBIDDEN && (retry_after.is_some() || rate_limited) {
        return Attempt::Retry {
            after: retry_after.or(reset_wait),
            reason,
        };
    }
    Attempt::Rejected {
        status: status.as_u16(),
        message,
    }
}

fn header_u64(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap());
        }
        map
    }

    fn retry_after(attempt: Attempt) -> Option<Option<Duration>> {
        match attempt {
            Attempt::Retry { after, .. } => Some(after),
            _ => None,
        }
    }

    #[test]
    fn classification_follows_githubs_documented_failures() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000);
        let none = HeaderMap::new();
        assert!(matches!(
            classify(StatusCode::CREATED, &none, "", now),
            Attempt::Created
        ));
        assert_eq!(
            retry_after(classify(StatusCode::BAD_GATEWAY, &none, "", now)),
            Some(None)
        );
        assert_eq!(
            retry_after(classify(
                StatusCode::TOO_MANY_REQUESTS,
                &headers(&[("retry-after", "7")]),
                "",
                now
            )),
            Some(Some(Duration::from_secs(7)))
        );
        // Secondary rate limit: 403 with Retry-After.
        assert_eq!(
            retry_after(classify(
                StatusCode::FORBIDDEN,
                &headers(&[("retry-after", "3")]),
                "",
                now
            )),
            Some(Some(Duration::from_secs(3)))
        );
        // Primary rate limit: 403, none left, wait until the reset time.
        assert_eq!(
            retry_after(classify(
                StatusCode::FORBIDDEN,
                &headers(&[
                    ("x-ratelimit-remaining", "0"),
                    ("x-ratelimit-reset", "1012")
                ]),
                "",
                now
            )),
            Some(Some(Duration::from_secs(12)))
        );
        // Secondary rate limit with neither header: GitHub's documented minute.
        assert_eq!(
            retry_after(classify(
                StatusCode::FORBIDDEN,
                &none,
                r#"{"message": "You have exceeded a secondary rate limit and have been temporarily blocked from content creation. Please retry your request again later."}"#,
                now
            )),
            Some(Some(SECONDARY_RATE_LIMIT_WAIT))
        );
        assert_eq!(
            retry_after(classify(
                StatusCode::TOO_MANY_REQUESTS,
                &none,
                r#"{"message": "You have exceeded a secondary rate limit."}"#,
                now
            )),
            Some(Some(SECONDARY_RATE_LIMIT_WAIT))
        );
        for status in [
            StatusCode::FORBIDDEN,
            StatusCode::NOT_FOUND,
            StatusCode::UNPROCESSABLE_ENTITY,
            StatusCode::UNAUTHORIZED,
        ] {
            match classify(
                status,
                &none,
                r#"{"message": "No commit found for SHA: abc"}"#,
                now,
            ) {
                Attempt::Rejected {
                    status: code,
                    message,
                } => {
                    assert_eq!(code, status.as_u16());
                    assert_eq!(message, "No commit found for SHA: abc");
                }
                _ => panic!("{status} must not be retried"),
            }
        }
    }

    #[test]
    fn descriptions_fit_githubs_limit() {
        let long = "é".repeat(200);
        let status = CommitStatus::new(StatusState::Failure, "gantry/x".into(), &long, None);
        assert_eq!(status.description.chars().count(), MAX_DESCRIPTION_CHARS);
        assert!(status.description.ends_with('…'));
        let short = CommitStatus::new(
            StatusState::Success,
            "gantry/x".into(),
            "Build succeeded",
            None,
        );
        assert_eq!(short.description, "Build succeeded");
        assert_eq!(serde_json::to_value(&short).unwrap()["state"], "success");
    }

    #[test]
    fn base_urls_must_be_http() {
        let token = || CachedSecret::plain("t");
        assert!(
            GitHubClient::new("https://api.github.com", token(), RetryPolicy::default()).is_ok()
        );
        assert!(GitHubClient::new(
            "https://ghe.example.com/api/v3/",
            token(),
            RetryPolicy::default()
        )
        .is_ok());
        assert!(matches!(
            GitHubClient::new("ftp://x", token(), RetryPolicy::default()),
            Err(GitHubError::BaseUrl(_))
        ));
        assert!(GitHubClient::new("not a url", token(), RetryPolicy::default()).is_err());
    }
}
