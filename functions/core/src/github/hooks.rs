//! Webhooks and their deliveries: what `gantry doctor` checks of a
//! repository's webhook or the App's, and what `gantry replay` and the
//! scheduled redelivery list and redeliver. A repository's hooks need admin on
//! it (a token); the App's own webhook needs the App's JWT.

use super::client::{Delivered, On};
use super::{GitHubClient, GitHubError};
use crate::ids::RepoName;
use http::Method;
use serde::Deserialize;
use tokio::time::Instant;

/// GitHub's largest page.
const PER_PAGE: usize = 100;
/// A repository rarely has more than a few hooks; GitHub allows 20 per event.
const MAX_HOOK_PAGES: usize = 5;
/// At most 10,000 deliveries per listing: a busy App's three days.
const MAX_DELIVERY_PAGES: usize = 100;

/// Whose deliveries: a repository's webhook, or the App's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HookScope {
    Repository { repo: RepoName, hook_id: u64 },
    App,
}

impl HookScope {
    fn on(&self) -> On<'_> {
        match self {
            HookScope::Repository { repo, .. } => On::Repository(repo),
            HookScope::App => On::App,
        }
    }

    fn deliveries_url(&self, api_url: &str) -> String {
        match self {
            HookScope::Repository { repo, hook_id } => format!(
                "{api_url}/repos/{}/{}/hooks/{hook_id}/deliveries",
                repo.owner(),
                repo.name()
            ),
            HookScope::App => format!("{api_url}/app/hook/deliveries"),
        }
    }
}

impl std::fmt::Display for HookScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HookScope::Repository { repo, hook_id } => write!(f, "{repo}'s webhook {hook_id}"),
            HookScope::App => f.write_str("the App's webhook"),
        }
    }
}

/// A webhook's configuration, as `GET /repos/{owner}/{repo}/hooks` (a
/// repository's) or `GET /app/hook/config` (the App's) report it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct HookConfig {
    pub url: Option<String>,
    pub content_type: Option<String>,
    /// GitHub never shows a secret: a set one reads `********`.
    #[serde(default)]
    secret: Option<String>,
}

impl HookConfig {
    pub fn secret_set(&self) -> bool {
        self.secret.as_deref().is_some_and(|s| !s.is_empty())
    }
}

/// A repository's webhook.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Hook {
    pub id: u64,
    pub active: bool,
    pub events: Vec<String>,
    pub config: HookConfig,
    pub last_response: Option<HookResponse>,
}

impl Hook {
    /// Whether GitHub sends `event` to this hook (`*` is every event).
    pub fn subscribes_to(&self, event: &str) -> bool {
        self.events.iter().any(|e| e == event || e == "*")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct HookResponse {
    pub code: Option<u16>,
    pub status: Option<String>,
    pub message: Option<String>,
}

/// One attempt at one delivery. A redelivery is a new attempt with its own
/// `id` and the first attempt's `guid` (the `X-GitHub-Delivery` header).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct HookDelivery {
    pub id: u64,
    pub guid: String,
    /// `2019-06-03T00:57:16Z`.
    pub delivered_at: String,
    pub redelivery: bool,
    /// The webhook's HTTP answer; 0 when there was none (a timeout, a refused connection).
    pub status_code: u16,
    /// GitHub's own words: `OK`, `Invalid HTTP Response: 503`, `timed out`.
    pub status: String,
    pub event: String,
    pub action: Option<String>,
}

impl HookDelivery {
    /// `delivered_at` in epoch seconds (0 when GitHub's text is unreadable,
    /// so such an attempt counts as old).
    pub fn delivered_at_secs(&self) -> u64 {
        super::app::parse_expires_at(&self.delivered_at).unwrap_or(0)
    }

    pub fn delivered(&self) -> bool {
        (200..300).contains(&self.status_code)
    }
}

/// `lookback` before `now`, in epoch seconds: where a listing of deliveries starts.
pub fn since(now: std::time::SystemTime, lookback: std::time::Duration) -> u64 {
    now.checked_sub(lookback)
        .unwrap_or(std::time::UNIX_EPOCH)
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

impl GitHubClient {
    /// `GET /repos/{owner}/{repo}/hooks`: the repository's webhooks (admin only).
    pub async fn list_hooks(
        &self,
        repo: &RepoName,
        deadline: Instant,
    ) -> Result<Vec<Hook>, GitHubError> {
        let mut hooks = Vec::new();
        let mut url = Some(self.repo_url(repo, &format!("hooks?per_page={PER_PAGE}")));
        for _ in 0..MAX_HOOK_PAGES {
            let Some(page) = url.take() else { break };
            let (mut listed, next): (Vec<Hook>, _) =
                self.get_page(On::Repository(repo), &page, deadline).await?;
            hooks.append(&mut listed);
            url = next;
        }
        Ok(hooks)
    }

    /// The repositories this credential can see: a token's (`GET
    /// /user/repos`), or, for an App, those of every installation (`GET
    /// /app/installations`, then each installation's `GET
    /// /installation/repositories`), up to `limit`.
    pub async fn visible_repositories(
        &self,
        limit: usize,
        deadline: Instant,
    ) -> Result<Vec<RepoName>, GitHubError> {
        #[derive(Deserialize)]
        struct Repository {
            full_name: String,
        }
        #[derive(Deserialize)]
        struct Installation {
            id: u64,
        }
        #[derive(Deserialize)]
        struct InstallationRepositories {
            repositories: Vec<Repository>,
        }
        let mut names = Vec::new();
        let keep = |listed: Vec<Repository>, names: &mut Vec<RepoName>| {
            names.extend(
                listed
                    .into_iter()
                    .filter_map(|r| RepoName::parse(&r.full_name).ok()),
            );
        };
        if !self.is_app() {
            let mut url = Some(format!("{}/user/repos?per_page={PER_PAGE}", self.api_url));
            while let Some(page) = url.take() {
                let (listed, next): (Vec<Repository>, _) =
                    self.get_page(On::User, &page, deadline).await?;
                keep(listed, &mut names);
                url = next.filter(|_| names.len() < limit);
            }
        } else {
            let mut installations = Vec::new();
            let mut url = Some(format!(
                "{}/app/installations?per_page={PER_PAGE}",
                self.api_url
            ));
            while let Some(page) = url.take() {
                let (mut listed, next): (Vec<Installation>, _) =
                    self.get_page(On::App, &page, deadline).await?;
                installations.append(&mut listed);
                url = next;
            }
            for installation in installations {
                let mut url = Some(format!(
                    "{}/installation/repositories?per_page={PER_PAGE}",
                    self.api_url
                ));
                while let Some(page) = url.take() {
                    let (listed, next): (InstallationRepositories, _) = self
                        .get_page(On::Installation(installation.id), &page, deadline)
                        .await?;
                    keep(listed.repositories, &mut names);
                    url = next.filter(|_| names.len() < limit);
                }
                if names.len() >= limit {
                    break;
                }
            }
        }
        names.truncate(limit);
        Ok(names)
    }

    /// `GET /app/hook/config`: the App's webhook (the App's JWT).
    pub async fn app_hook_config(&self, deadline: Instant) -> Result<HookConfig, GitHubError> {
        let url = format!("{}/app/hook/config", self.api_url);
        Ok(self.get_page(On::App, &url, deadline).await?.0)
    }

    /// Every attempt `scope`'s webhook made since `since` (epoch seconds),
    /// newest first, following GitHub's cursor from page to page.
    pub async fn list_deliveries(
        &self,
        scope: &HookScope,
        since: u64,
        deadline: Instant,
    ) -> Result<Vec<HookDelivery>, GitHubError> {
        let mut deliveries = Vec::new();
        let mut url = Some(format!(
            "{}?per_page={PER_PAGE}",
            scope.deliveries_url(&self.api_url)
        ));
        for _ in 0..MAX_DELIVERY_PAGES {
            let Some(page) = url.take() else {
                return Ok(deliveries);
            };
            let (listed, next): (Vec<HookDelivery>, _) =
                self.get_page(scope.on(), &page, deadline).await?;
            // Newest first: a page reaching back past `since` is the last. An
            // attempt whose time is unreadable is kept, and does not end the list.
            let time = |d: &HookDelivery| super::app::parse_expires_at(&d.delivered_at);
            let reached_since = listed.iter().any(|d| time(d).is_some_and(|t| t < since));
            deliveries.extend(
                listed
                    .into_iter()
                    .filter(|d| time(d).is_none_or(|t| t >= since)),
            );
            if reached_since {
                return Ok(deliveries);
            }
            url = next;
        }
        Err(GitHubError::Transient {
            attempts: 1,
            last: format!(
                "{scope} listed more than {} deliveries since then; look back less far",
                MAX_DELIVERY_PAGES * PER_PAGE
            ),
        })
    }

    /// `POST .../deliveries/{delivery_id}/attempts`: GitHub sends the
    /// delivery again, as a new attempt with the same guid (202).
    pub async fn redeliver(
        &self,
        scope: &HookScope,
        delivery_id: u64,
        deadline: Instant,
    ) -> Result<(), GitHubError> {
        let url = format!(
            "{}/{delivery_id}/attempts",
            scope.deliveries_url(&self.api_url)
        );
        match self
            .send_on(
                scope.on(),
                Method::POST,
                &url,
                Default::default(),
                deadline,
                None,
            )
            .await?
        {
            Delivered::Accepted(_) => Ok(()),
            Delivered::Dropped(reason) => Err(GitHubError::Transient {
                attempts: 1,
                last: format!("request dropped: {reason}"),
            }),
        }
    }
}
