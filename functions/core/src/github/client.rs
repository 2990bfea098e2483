//! The HTTPS client and one request to GitHub, retried under a `RetryPolicy`,
//! with the credential it is sent with: a token, or a GitHub App's
//! installation token for the request's repository.

use super::app::{parse_expires_at, AppKey, InstallationCache, InstallationToken};
use super::retry::{classify, Answer, Attempt, Recheck, RetryPolicy};
use super::{GitHubError, API_VERSION};
use crate::ids::RepoName;
use crate::secret::{CachedSecret, Reread};
use bytes::Bytes;
use http::{HeaderValue, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use secrecy::{ExposeSecret, SecretString};
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

/// What a request is authorised with.
enum Credential {
    /// A personal or fine-grained access token.
    Token(CachedSecret),
    /// A GitHub App: its JWT, exchanged per repository for an installation
    /// token scoped to that one repository.
    App {
        key: Box<AppKey>,
        installations: Box<InstallationCache>,
    },
}

/// A 2xx answer, or why the request was dropped.
pub(super) enum Delivered {
    Accepted(Answer),
    Dropped(String),
}

/// Whom a request is about, which decides the credential it goes with: a
/// repository (a token, or the App's installation token for it), or the App
/// itself (its JWT: the App's own webhook and its deliveries).
#[derive(Debug, Clone, Copy)]
pub(super) enum On<'a> {
    Repository(&'a RepoName),
    App,
    /// One of the App's installations, as a whole (its token is not scoped
    /// to a repository): what it lists, for an operator.
    Installation(u64),
    /// The token's own user (`/user/...`); a token only.
    User,
}

pub struct GitHubClient {
    /// Built on the first call: loading the system's root certificates is most
    /// of a cold start, and an event that needs no status never needs them.
    http: OnceCell<HttpsClient>,
    pub(super) api_url: String,
    credential: Credential,
    retry: RetryPolicy,
}

impl GitHubClient {
    /// Token mode.
    pub fn new(
        api_url: &str,
        token: CachedSecret,
        retry: RetryPolicy,
    ) -> Result<Self, GitHubError> {
        Self::with_credential(api_url, Credential::Token(token), retry)
    }

    /// App mode: each request carries an installation token for its repository.
    pub fn app(api_url: &str, key: AppKey, retry: RetryPolicy) -> Result<Self, GitHubError> {
        Self::with_credential(
            api_url,
            Credential::App {
                key: Box::new(key),
                installations: Box::default(),
            },
            retry,
        )
    }

    /// `{api}/repos/{owner}/{repo}/{tail}`: a repository's endpoint.
    pub(super) fn repo_url(&self, repo: &RepoName, tail: &str) -> String {
        format!(
            "{}/repos/{}/{}/{tail}",
            self.api_url,
            repo.owner(),
            repo.name()
        )
    }

    /// Whether requests go out as a GitHub App (which may create check runs).
    pub fn is_app(&self) -> bool {
        matches!(self.credential, Credential::App { .. })
    }

    fn with_credential(
        api_url: &str,
        credential: Credential,
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
            credential,
            retry,
        })
    }

    /// Sends `body` to `url` (about `repo`) until GitHub accepts or refuses
    /// it for good, the policy or `deadline` ends the tries, or `recheck`
    /// says, before a retry, that the request is no longer wanted.
    pub(super) async fn send(
        &self,
        repo: &RepoName,
        method: Method,
        url: &str,
        body: Bytes,
        deadline: Instant,
        recheck: Option<&dyn Recheck>,
    ) -> Result<Sent, GitHubError> {
        match self
            .send_for_answer(repo, method, url, body, deadline, recheck)
            .await?
        {
            Delivered::Accepted(_) => Ok(Sent::Accepted),
            Delivered::Dropped(reason) => Ok(Sent::Dropped { reason }),
        }
    }

    /// As `send`, keeping the answer.
    pub(super) async fn send_for_answer(
        &self,
        repo: &RepoName,
        method: Method,
        url: &str,
        body: Bytes,
        deadline: Instant,
        recheck: Option<&dyn Recheck>,
    ) -> Result<Delivered, GitHubError> {
        self.send_on(On::Repository(repo), method, url, body, deadline, recheck)
            .await
    }

    /// As `send_for_answer`, about a repository or the App itself.
    pub(super) async fn send_on(
        &self,
        on: On<'_>,
        method: Method,
        url: &str,
        body: Bytes,
        deadline: Instant,
        recheck: Option<&dyn Recheck>,
    ) -> Result<Delivered, GitHubError> {
        let mut delay = self.retry.first_delay;
        let mut attempt = 1;
        let mut token_reread = false;
        loop {
            // A connection that hangs must not outlive the invocation either.
            let attempt_deadline = deadline.min(Instant::now() + ATTEMPT_TIMEOUT);
            let answer = tokio::time::timeout_at(
                attempt_deadline,
                self.attempt(on, method.clone(), url, body.clone(), deadline),
            )
            .await
            .unwrap_or_else(|_| {
                Ok(Attempt::Retry {
                    after: None,
                    reason: "no answer in time".to_owned(),
                })
            })?;
            match answer {
                Attempt::Created(answer) => return Ok(Delivered::Accepted(answer)),
                // A token rotated since this container read it: read it again,
                // once, and try with the new one before calling it refused.
                Attempt::Rejected { status, .. }
                    if status == StatusCode::UNAUTHORIZED.as_u16()
                        && !token_reread
                        && self.renew_after_401(on, deadline).await =>
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
                            return Ok(Delivered::Dropped(reason));
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

    /// After a 401: whether a new credential is worth a second try. A token
    /// is read again (at most every 30 s); an App drops the repository's
    /// installation and token and reads its key again.
    async fn renew_after_401(&self, on: On<'_>, deadline: Instant) -> bool {
        match &self.credential {
            Credential::Token(token) => {
                token.reread_after_refusal_by(deadline).await == Reread::Changed
            }
            Credential::App { key, installations } => {
                if let On::Repository(repo) = on {
                    installations.forget(repo).await;
                }
                key.reread(deadline).await;
                true
            }
        }
    }

    async fn attempt(
        &self,
        on: On<'_>,
        method: Method,
        url: &str,
        body: Bytes,
        deadline: Instant,
    ) -> Result<Attempt, GitHubError> {
        let token = match (&self.credential, on) {
            (Credential::Token(_), On::App | On::Installation(_)) => {
                return Err(GitHubError::NeedsApp)
            }
            (Credential::App { key, .. }, On::Installation(installation)) => {
                let jwt = SecretString::from(
                    key.jwt(SystemTime::now(), deadline)
                        .await
                        .map_err(GitHubError::App)?,
                );
                let url = format!(
                    "{}/app/installations/{installation}/access_tokens",
                    self.api_url
                );
                let answer = match self
                    .request(Method::POST, &url, &jwt, Bytes::from_static(b"{}"))
                    .await?
                {
                    Attempt::Created(answer) => answer.body,
                    failed => return Ok(failed),
                };
                let json: serde_json::Value = serde_json::from_str(&answer).unwrap_or_default();
                match json["token"].as_str() {
                    Some(token) => SecretString::from(token.to_owned()),
                    None => return Ok(unreadable("installation token")),
                }
            }
            (Credential::Token(token), On::Repository(_) | On::User) => token.get().await?,
            (Credential::App { .. }, On::User) => return Err(GitHubError::NeedsToken),
            (Credential::App { key, .. }, On::App) => SecretString::from(
                key.jwt(SystemTime::now(), deadline)
                    .await
                    .map_err(GitHubError::App)?,
            ),
            (Credential::App { key, installations }, On::Repository(repo)) => {
                match self
                    .installation_token(key, installations, repo, deadline)
                    .await?
                {
                    Ok(token) => token,
                    // The exchange's own failure is this attempt's answer.
                    Err(failed) => return Ok(failed),
                }
            }
        };
        self.request(method, url, &token, body).await
    }

    /// The installation token for `repo`: cached, or found and exchanged.
    async fn installation_token(
        &self,
        key: &AppKey,
        installations: &InstallationCache,
        repo: &RepoName,
        deadline: Instant,
    ) -> Result<Result<SecretString, Attempt>, GitHubError> {
        if let Some(token) = installations.token(repo, SystemTime::now()).await {
            return Ok(Ok(token));
        }
        let jwt = SecretString::from(
            key.jwt(SystemTime::now(), deadline)
                .await
                .map_err(GitHubError::App)?,
        );
        // A cached installation may be gone (the App uninstalled and installed
        // again under a new id): its exchange's 404 drops it and looks again, once.
        let mut looked_up = false;
        let answer = loop {
            let cached = installations.installation(repo).await;
            let installation = match cached {
                Some(installation) => installation,
                None => {
                    looked_up = true;
                    match self.find_installation(key, repo, &jwt).await? {
                        Ok(installation) => {
                            installations
                                .remember_installation(repo, installation)
                                .await;
                            installation
                        }
                        Err(failed) => return Ok(Err(failed)),
                    }
                }
            };
            // Scoped to the one repository: a token that leaks can touch no other.
            let url = format!(
                "{}/app/installations/{installation}/access_tokens",
                self.api_url
            );
            let body = serde_json::json!({ "repositories": [repo.name()] }).to_string();
            match self
                .request(Method::POST, &url, &jwt, Bytes::from(body))
                .await?
            {
                Attempt::Created(answer) => break answer.body,
                Attempt::Rejected { status: 404, .. } if !looked_up => {
                    installations.forget(repo).await;
                }
                failed => return Ok(Err(failed)),
            }
        };
        let json: serde_json::Value = serde_json::from_str(&answer).unwrap_or_default();
        let (Some(token), Some(expires_at)) = (
            json["token"].as_str(),
            json["expires_at"].as_str().and_then(parse_expires_at),
        ) else {
            return Ok(Err(unreadable("installation token")));
        };
        let token = SecretString::from(token.to_owned());
        installations
            .remember_token(
                repo,
                InstallationToken {
                    token: token.clone(),
                    expires_at,
                },
            )
            .await;
        Ok(Ok(token))
    }

    /// The App's installation on `repo` (`GET /repos/{owner}/{repo}/installation`).
    async fn find_installation(
        &self,
        key: &AppKey,
        repo: &RepoName,
        jwt: &SecretString,
    ) -> Result<Result<u64, Attempt>, GitHubError> {
        let url = self.repo_url(repo, "installation");
        let answer = match self.request(Method::GET, &url, jwt, Bytes::new()).await? {
            Attempt::Created(answer) => answer.body,
            Attempt::Rejected { status: 404, .. } => {
                return Ok(Err(Attempt::Rejected {
                    status: 404,
                    message: format!("the GitHub App {} is not installed on {repo}", key.app_id()),
                }))
            }
            failed => return Ok(Err(failed)),
        };
        Ok(serde_json::from_str::<serde_json::Value>(&answer)
            .ok()
            .and_then(|json| json["id"].as_u64())
            .ok_or_else(|| unreadable("installation")))
    }

    /// One request with `token` as its bearer credential.
    async fn request(
        &self,
        method: Method,
        url: &str,
        token: &SecretString,
        body: Bytes,
    ) -> Result<Attempt, GitHubError> {
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

/// A 2xx GitHub answered without the fields its description promises.
fn unreadable(what: &str) -> Attempt {
    Attempt::Retry {
        after: None,
        reason: format!("GitHub's {what} answer is missing its fields"),
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
