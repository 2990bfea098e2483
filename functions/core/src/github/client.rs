//! The HTTPS client and one request to GitHub, retried under a `RetryPolicy`.

use super::retry::{classify, Attempt, Recheck, RetryPolicy};
use super::{GitHubError, API_VERSION};
use crate::secret::{CachedSecret, Reread};
use bytes::Bytes;
use http::{HeaderValue, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use secrecy::ExposeSecret;
use std::time::SystemTime;
use tokio::sync::OnceCell;
use tokio::time::Instant;

const USER_AGENT: &str = concat!("gantry/", env!("CARGO_PKG_VERSION"));
/// One request's limit, so a connection that hangs leaves time to retry.
const ATTEMPT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// What became of a request GitHub did not refuse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sent {
    Accepted,
    /// Not retried: the caller's recheck found it no longer wanted.
    Dropped {
        reason: String,
    },
}

type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

pub struct GitHubClient {
    /// Built on the first call: loading the system's root certificates is most
    /// of a cold start, and an event that needs no status never needs them.
    http: OnceCell<HttpsClient>,
    pub(super) api_url: String,
    token: CachedSecret,
    retry: RetryPolicy,
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

    /// Sends `body` to `url` until GitHub accepts or refuses it for good, the
    /// policy or `deadline` ends the tries, or `recheck` says, before a retry,
    /// that the request is no longer wanted.
    pub(super) async fn send(
        &self,
        method: Method,
        url: &str,
        body: Bytes,
        deadline: Instant,
        recheck: Option<&dyn Recheck>,
    ) -> Result<Sent, GitHubError> {
        let mut delay = self.retry.first_delay;
        let mut attempt = 1;
        let mut token_reread = false;
        loop {
            // A connection that hangs must not outlive the invocation either.
            let attempt_deadline = deadline.min(Instant::now() + ATTEMPT_TIMEOUT);
            let answer = tokio::time::timeout_at(
                attempt_deadline,
                self.attempt(method.clone(), url, body.clone()),
            )
            .await
            .unwrap_or_else(|_| {
                Ok(Attempt::Retry {
                    after: None,
                    reason: "no answer in time".to_owned(),
                })
            })?;
            match answer {
                Attempt::Created => return Ok(Sent::Accepted),
                // A token rotated since this container read it: read it again,
                // once, and try with the new one before calling it refused.
                Attempt::Rejected { status, .. }
                    if status == StatusCode::UNAUTHORIZED.as_u16()
                        && !token_reread
                        && self.token.reread_after_refusal_by(deadline).await
                            == Reread::Changed =>
                {
                    token_reread = true;
                    tracing::info!("GitHub token changed since it was read; trying the new one");
                    continue;
                }
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
                    if let Some(recheck) = recheck {
                        if let Some(reason) = recheck.before_retry().await {
                            return Ok(Sent::Dropped { reason });
                        }
                    }
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

    async fn attempt(
        &self,
        method: Method,
        url: &str,
        body: Bytes,
    ) -> Result<Attempt, GitHubError> {
        let token = self.token.get().await?;
        // Secrets pasted with a trailing newline are common; anything else that
        // cannot stand in a header is the token's fault, not the URL's.
        let mut authorization =
            HeaderValue::try_from(format!("Bearer {}", token.expose_secret().trim()))
                .map_err(|_| GitHubError::MalformedToken)?;
        authorization.set_sensitive(true);
        let http = self.http().await?;
        let request = Request::builder()
            .method(method)
            .uri(url)
            .header("accept", "application/vnd.github+json")
            .header("authorization", authorization)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::CachedSecret;

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
