//! `gantry doctor`'s GitHub side: does GitHub send what the routes need to
//! the stack's webhook, signed, and did the last deliveries get through?
//!
//! - token mode: each routed repository's webhook (listing hooks needs admin
//!   on the repository: the operator's own token, not the stack's);
//! - App mode: the App's webhook (the App's JWT), and the App's installation
//!   on each routed repository with the permissions Gantry's posts need.

use crate::report::{Finding, Report};
use gantry_core::github::redelivery;
use gantry_core::github::{GitHubClient, Hook, HookScope};
use gantry_core::ids::RepoName;
use gantry_trigger::config::{EventKind, ForkPolicy, Routes};
use std::time::{Duration, SystemTime};
use tokio::time::Instant;

/// How far back the deliveries are read.
pub const DELIVERIES_LOOKBACK: Duration = Duration::from_secs(24 * 3600);
const DEADLINE: Duration = Duration::from_secs(60);

/// The events GitHub must send for `routes`: each route's events, the
/// comments that approve forks, and in App mode the check run and suite
/// buttons.
pub fn needed_events(routes: &Routes, app: bool) -> Vec<&'static str> {
    let mut events = Vec::new();
    let mut need = |event: &'static str| {
        if !events.contains(&event) {
            events.push(event);
        }
    };
    for route in &routes.routes {
        for kind in &route.events {
            need(match kind {
                EventKind::Push => "push",
                EventKind::PullRequest => "pull_request",
                EventKind::MergeGroup => "merge_group",
            });
        }
        if route.fork_pull_requests == ForkPolicy::Approve {
            need("issue_comment");
        }
    }
    if app {
        need("check_run");
        need("check_suite");
    }
    events
}

/// At most this many repositories a credential can see are listed.
const MAX_VISIBLE: usize = 500;

fn is_glob(pattern: &str) -> bool {
    pattern.contains(['*', '?', '[', '{'])
}

/// The indexes of the routes naming their repositories by glob.
pub fn glob_routes(document: &str) -> Vec<usize> {
    let json: serde_json::Value = serde_json::from_str(document).unwrap_or_default();
    json["routes"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
        .filter(|(_, route)| route["repository"].as_str().is_some_and(is_glob))
        .map(|(index, _)| index)
        .collect()
}

/// The routes' repositories that name one repository (no glob), from the
/// routing document as written.
pub fn literal_repositories(document: &str) -> Vec<RepoName> {
    let json: serde_json::Value = serde_json::from_str(document).unwrap_or_default();
    let mut repos: Vec<RepoName> = Vec::new();
    for route in json["routes"].as_array().into_iter().flatten() {
        let Some(pattern) = route["repository"].as_str() else {
            continue;
        };
        if is_glob(pattern) {
            continue;
        }
        if let Ok(repo) = RepoName::parse(pattern) {
            if !repos.contains(&repo) {
                repos.push(repo);
            }
        }
    }
    repos
}

pub struct WebhookChecks<'a> {
    pub github: &'a GitHubClient,
    pub routes: &'a Routes,
    pub document: &'a str,
    /// The stack's `WebhookUrl`: the hook must point there.
    pub webhook_url: Option<&'a str>,
}

impl WebhookChecks<'_> {
    pub async fn run(&self, report: &mut Report) {
        let app = self.github.is_app();
        let events = needed_events(self.routes, app);
        let deadline = Instant::now() + DEADLINE;
        let repos = self.repositories(report, deadline).await;
        if app {
            self.check_app_hook(report, deadline).await;
            for repo in &repos {
                report.push(self.check_installation(repo, deadline).await);
            }
            report.push(
                self.check_deliveries(&HookScope::App, "the App's webhook", deadline)
                    .await,
            );
            report.push(Finding::note(
                "the App's webhook",
                format!(
                    "the App must subscribe to {} (its settings' \"Subscribe to events\")",
                    events.join(", ")
                ),
            ));
        } else {
            for repo in &repos {
                self.check_repository_hook(report, repo, &events, deadline)
                    .await;
            }
        }
    }

    /// The repositories the routes name, and, for a route naming them by
    /// glob, those the credential can see that it matches.
    async fn repositories(&self, report: &mut Report, deadline: Instant) -> Vec<RepoName> {
        let mut repos = literal_repositories(self.document);
        let globbed: Vec<_> = glob_routes(self.document)
            .into_iter()
            .filter_map(|index| self.routes.routes.get(index))
            .collect();
        if globbed.is_empty() {
            return repos;
        }
        match self.github.visible_repositories(MAX_VISIBLE, deadline).await {
            Err(err) => report.push(Finding::fail(
                "GitHub",
                format!(
                    "the repositories the credential can see are unreadable, so routes naming repositories by glob are not checked: {}",
                    gantry_core::logging::error_chain(&err)
                ),
                "give a token that can list your repositories, or the App's key",
            )),
            Ok(visible) => {
                let seen = visible.len();
                let matched: Vec<RepoName> = visible
                    .into_iter()
                    .filter(|repo| globbed.iter().any(|route| route.repository.is_match(repo.as_str())))
                    .filter(|repo| !repos.contains(repo))
                    .collect();
                report.push(Finding::note(
                    "GitHub",
                    format!(
                        "{} of the {seen} repositories the credential can see match the routes' globs{}",
                        matched.len(),
                        if seen >= MAX_VISIBLE { format!(" (only the first {MAX_VISIBLE} were listed)") } else { String::new() }
                    ),
                ));
                repos.extend(matched);
            }
        }
        repos
    }

    async fn check_app_hook(&self, report: &mut Report, deadline: Instant) {
        let subject = "the App's webhook";
        match self.github.app_hook_config(deadline).await {
            Err(err) => report.push(Finding::fail(
                subject,
                format!("unreadable: {}", gantry_core::logging::error_chain(&err)),
                "give the App's id and key (--app-id, --app-key-file, or the stack's)",
            )),
            Ok(config) => {
                let mut problems = Vec::new();
                if let (Some(want), got) = (self.webhook_url, config.url.as_deref()) {
                    if got.map(|g| g.trim_end_matches('/')) != Some(want.trim_end_matches('/')) {
                        problems.push(format!(
                            "it points at {}, not the stack's {want}",
                            got.unwrap_or("nothing")
                        ));
                    }
                }
                if !config.secret_set() {
                    problems.push("it has no secret, so the webhook refuses every delivery".into());
                }
                if config.content_type.as_deref() != Some("json") {
                    problems.push("its content type is not application/json".into());
                }
                report.push(if problems.is_empty() {
                    Finding::ok(subject, "points at the stack's webhook, JSON, with a secret")
                } else {
                    Finding::fail(subject, problems.join("; "), "in the App's settings: Webhook URL = the stack's WebhookUrl, a secret = the stack's webhook secret")
                });
            }
        }
    }

    async fn check_installation(&self, repo: &RepoName, deadline: Instant) -> Finding {
        let subject = format!("repository {repo}");
        match self.github.installation_permissions(repo, deadline).await {
            Err(err) => Finding::fail(
                subject,
                format!(
                    "the App is not installed there, or unreadable: {}",
                    gantry_core::logging::error_chain(&err)
                ),
                "install the App on the repository",
            ),
            Ok(permissions) => {
                let missing: Vec<&str> = ["checks", "statuses"]
                    .into_iter()
                    .filter(|p| permissions.get(*p).map(String::as_str) != Some("write"))
                    .collect();
                if missing.is_empty() {
                    Finding::ok(
                        subject,
                        "the App is installed with checks and statuses write",
                    )
                } else {
                    Finding::fail(
                        subject,
                        format!("the App's installation lacks write on {}", missing.join(", ")),
                        "grant the App those permissions (infra/github-app-manifest.json) and accept them on the installation",
                    )
                }
            }
        }
    }

    async fn check_repository_hook(
        &self,
        report: &mut Report,
        repo: &RepoName,
        events: &[&str],
        deadline: Instant,
    ) {
        let subject = format!("webhook of {repo}");
        let hooks = match self.github.list_hooks(repo, deadline).await {
            Ok(hooks) => hooks,
            Err(err) => {
                return report.push(Finding::fail(
                    subject,
                    format!("unreadable: {}", gantry_core::logging::error_chain(&err)),
                    "listing a repository's webhooks needs admin on it: pass a token that has it (GITHUB_TOKEN)",
                ))
            }
        };
        let Some(hook) = pick_hook(&hooks, self.webhook_url) else {
            return report.push(Finding::fail(
                subject,
                match self.webhook_url {
                    Some(url) => format!("no webhook points at {url}"),
                    None => format!("{} webhooks, none of them told apart: pass --webhook-url or --stack", hooks.len()),
                },
                "add the webhook (infra/README.md: the WebhookUrl output, content type application/json, the webhook secret)",
            ));
        };
        let mut problems = Vec::new();
        if !hook.active {
            problems.push("it is not active".to_owned());
        }
        let missing: Vec<&str> = events
            .iter()
            .copied()
            .filter(|e| !hook.subscribes_to(e))
            .collect();
        if !missing.is_empty() {
            problems.push(format!("it does not send {}", missing.join(", ")));
        }
        if !hook.config.secret_set() {
            problems.push("it has no secret, so the webhook refuses every delivery".into());
        }
        if hook.config.content_type.as_deref() != Some("json") {
            problems.push("its content type is not application/json".into());
        }
        report.push(if problems.is_empty() {
            Finding::ok(
                subject.clone(),
                format!("hook {} is active, JSON, with a secret, and sends {}", hook.id, events.join(", ")),
            )
        } else {
            Finding::fail(
                subject.clone(),
                format!("hook {}: {}", hook.id, problems.join("; ")),
                "in the repository's Settings > Webhooks: make it active, JSON, with the stack's secret, and tick the events named",
            )
        });
        let scope = HookScope::Repository {
            repo: repo.clone(),
            hook_id: hook.id,
        };
        report.push(self.check_deliveries(&scope, &subject, deadline).await);
    }

    /// The last day's deliveries: any that failed and were not delivered since?
    async fn check_deliveries(
        &self,
        scope: &HookScope,
        subject: &str,
        deadline: Instant,
    ) -> Finding {
        let since = gantry_core::github::hooks::since(SystemTime::now(), DELIVERIES_LOOKBACK);
        let attempts =
            match self.github.list_deliveries(scope, since, deadline).await {
                Ok(attempts) => attempts,
                Err(err) => return Finding::fail(
                    format!("deliveries of {subject}"),
                    format!("unreadable: {}", gantry_core::logging::error_chain(&err)),
                    "reading deliveries needs admin on the repository (a token), or the App's key",
                ),
            };
        let plan = redelivery::plan(&attempts, None);
        let failed = plan.redeliver.len() + plan.refused.len();
        let subject = format!("deliveries of {subject}");
        if failed == 0 {
            return Finding::ok(
                subject,
                format!(
                    "{} in the last day, every one delivered ({} after a retry)",
                    plan.delivered + plan.recovered,
                    plan.recovered
                ),
            );
        }
        let mut detail = Vec::new();
        if !plan.redeliver.is_empty() {
            detail.push(format!(
                "{} failed and not delivered since ({})",
                plan.redeliver.len(),
                plan.redeliver
                    .iter()
                    .map(|d| format!("{} {}", d.guid, d.status))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        if !plan.refused.is_empty() {
            detail.push(format!(
                "{} refused by the webhook ({})",
                plan.refused.len(),
                plan.refused
                    .iter()
                    .map(|d| format!("{} {}", d.guid, d.status_code))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        Finding::fail(
            subject,
            detail.join("; "),
            "a 401 is a secret that differs from the stack's; after fixing a 5xx: gantry replay --failed --since 24h",
        )
    }
}

/// The hook pointing at the stack's webhook, or the one hook there is when
/// the URL is not known.
pub fn pick_hook<'h>(hooks: &'h [Hook], webhook_url: Option<&str>) -> Option<&'h Hook> {
    match webhook_url {
        Some(url) => hooks.iter().find(|h| {
            h.config.url.as_deref().map(|u| u.trim_end_matches('/'))
                == Some(url.trim_end_matches('/'))
        }),
        None if hooks.len() == 1 => hooks.first(),
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_events_needed_follow_the_routes_and_the_mode() {
        let routes = Routes::parse(
            r#"{"routes": [
                {"repository": "octo-org/app", "events": ["push", "pull_request"], "pipeline": "p",
                 "fork_pull_requests": "approve"},
                {"repository": "octo-org/*", "events": ["merge_group"], "codebuild_project": "b"}
            ]}"#,
        )
        .unwrap();
        assert_eq!(
            needed_events(&routes, false),
            vec!["push", "pull_request", "issue_comment", "merge_group"]
        );
        assert_eq!(
            needed_events(&routes, true),
            vec![
                "push",
                "pull_request",
                "issue_comment",
                "merge_group",
                "check_run",
                "check_suite"
            ]
        );
    }

    #[test]
    fn only_repositories_named_without_a_glob_are_checked_on_github() {
        let document = r#"{"routes": [
            {"repository": "octo-org/app", "pipeline": "p"},
            {"repository": "octo-org/*", "pipeline": "p"},
            {"repository": "octo-org/app", "codebuild_project": "b"},
            {"repository": "octo-org/lib", "pipeline": "p"}
        ]}"#;
        let names: Vec<String> = literal_repositories(document)
            .iter()
            .map(|r| r.to_string())
            .collect();
        assert_eq!(names, vec!["octo-org/app", "octo-org/lib"]);
    }
}
