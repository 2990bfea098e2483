//! The routing document: which repository, refs and paths start which pipeline or
//! build project. Parsed and checked once at cold start; every error names the
//! route (by index and name) and the field that is wrong.

use gantry_core::config::{self, ConfigError};
use globset::{Glob, GlobBuilder, GlobSet, GlobSetBuilder};
use serde::Deserialize;

pub const ROUTES: &str = "GANTRY_ROUTES";

/// The CodePipeline source action `sourceRevisions` pins, unless a route names another.
pub const DEFAULT_SOURCE_ACTION: &str = "Source";

#[derive(Debug, thiserror::Error)]
pub enum RoutesError {
    #[error("{ROUTES} is not a valid routing document at {path}: {message}")]
    Syntax { path: String, message: String },
    #[error("{ROUTES}: {route}: {message}")]
    Route { route: String, message: String },
    #[error("{ROUTES} has no routes; nothing would ever start")]
    Empty,
}

impl From<RoutesError> for ConfigError {
    fn from(err: RoutesError) -> Self {
        ConfigError::Invalid {
            name: ROUTES,
            reason: err.to_string(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Push,
    PullRequest,
    MergeGroup,
}

/// What a route does with a pull request from a fork: code from outside the
/// repository, which would run with the project's AWS role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ForkPolicy {
    /// Not built; the delivery is logged with the reason.
    #[default]
    Ignore,
    /// Built like any other pull request.
    Build,
    /// Built once a maintainer (write access or more) comments
    /// `/gantry run <sha>` naming the pull request's head; until then a
    /// pending status says so.
    Approve,
}

/// What a route starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Pipeline {
        name: String,
        source_action: String,
        /// Whether to pass Gantry's pipeline variables (the pipeline must declare them).
        variables: bool,
    },
    BuildProject {
        name: String,
    },
}

impl Target {
    pub fn name(&self) -> &str {
        match self {
            Target::Pipeline { name, .. } | Target::BuildProject { name } => name,
        }
    }

    /// The target as the ledger names it: `pipeline/<name>` or `project/<name>`.
    pub fn ledger_key(&self) -> String {
        match self {
            Target::Pipeline { name, .. } => format!("pipeline/{name}"),
            Target::BuildProject { name } => format!("project/{name}"),
        }
    }

    /// For log fields that say what they hold.
    pub fn pipeline_name(&self) -> Option<&str> {
        match self {
            Target::Pipeline { name, .. } => Some(name),
            Target::BuildProject { .. } => None,
        }
    }

    pub fn project_name(&self) -> Option<&str> {
        match self {
            Target::BuildProject { name } => Some(name),
            Target::Pipeline { .. } => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Route {
    /// `routes[i]` or `routes[i] (name)`, for log lines and errors.
    pub label: String,
    pub repository: GlobSet,
    pub events: Vec<EventKind>,
    /// Matched against the pushed branch, or a pull request's base branch.
    pub branches: Option<GlobSet>,
    pub tags: Option<GlobSet>,
    pub paths: Option<GlobSet>,
    pub fork_pull_requests: ForkPolicy,
    /// Whether draft pull requests are built (GitHub Actions builds them).
    pub drafts: bool,
    /// Whether a push to one of the merge queue's own `gh-readonly-queue/...`
    /// branches is built: only when `branches` names them, as the queue's
    /// commit is built through its `merge_group` event.
    pub builds_queue_branches: bool,
    /// Whether a merge group's start also carries `GANTRY_MERGE_GROUP_BASE`
    /// (a pipeline must declare it, so only routes that ask get it).
    pub merge_group_variable: bool,
    /// A new commit on a branch or pull request stops what this route started
    /// for the older ones.
    pub cancel_in_progress: bool,
    /// A pull request or merge group not built for its paths or `[skip ci]`
    /// is reported as passing (skipped) under the target's contexts.
    pub report_skipped: bool,
    pub target: Target,
    /// What a fork's pull request starts instead of `target`: a pipeline or
    /// project of low privilege, so a stranger's code never runs with the
    /// project's own role.
    pub fork_target: Option<Target>,
}

impl Route {
    /// What this route starts for an event from a fork (`from_fork`) or not.
    pub fn target_for(&self, from_fork: bool) -> &Target {
        match (&self.fork_target, from_fork) {
            (Some(fork_target), true) => fork_target,
            _ => &self.target,
        }
    }

    /// Every pipeline and project the route can start.
    pub fn targets(&self) -> impl Iterator<Item = &Target> {
        std::iter::once(&self.target).chain(self.fork_target.as_ref())
    }
}

#[derive(Debug, Clone)]
pub struct Routes {
    pub routes: Vec<Route>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RoutesDocument {
    routes: Vec<RouteDocument>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RouteDocument {
    name: Option<String>,
    repository: String,
    events: Option<Vec<EventKind>>,
    branches: Option<Vec<String>>,
    tags: Option<Vec<String>>,
    paths: Option<Vec<String>>,
    pipeline: Option<String>,
    source_action: Option<String>,
    pipeline_variables: Option<bool>,
    codebuild_project: Option<String>,
    fork_pull_requests: Option<ForkPolicy>,
    drafts: Option<bool>,
    merge_group_variable: Option<bool>,
    cancel_in_progress: Option<bool>,
    fork_target: Option<TargetDocument>,
    report_skipped: Option<bool>,
}

/// A target on its own (`fork_target`): a pipeline or a project, named as a
/// route names its own.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetDocument {
    pipeline: Option<String>,
    source_action: Option<String>,
    pipeline_variables: Option<bool>,
    codebuild_project: Option<String>,
}

impl TargetDocument {
    fn validate(self) -> Result<Target, String> {
        match (self.pipeline, self.codebuild_project) {
            (Some(name), None) => Ok(Target::Pipeline {
                name: non_empty(name, "pipeline")?,
                source_action: non_empty(
                    self.source_action
                        .unwrap_or_else(|| DEFAULT_SOURCE_ACTION.to_owned()),
                    "source_action",
                )?,
                variables: self.pipeline_variables.unwrap_or(true),
            }),
            (None, Some(name)) => {
                if self.source_action.is_some() || self.pipeline_variables.is_some() {
                    return Err(
                        "source_action and pipeline_variables apply only to a pipeline".into(),
                    );
                }
                Ok(Target::BuildProject {
                    name: non_empty(name, "codebuild_project")?,
                })
            }
            (Some(_), Some(_)) => Err("set pipeline or codebuild_project, not both".into()),
            (None, None) => Err("set pipeline or codebuild_project".into()),
        }
    }
}

impl Routes {
    /// Whether any route builds forks on a maintainer's approval (which
    /// needs GitHub access, to read who approved and the head they named).
    pub fn approves_forks(&self) -> bool {
        self.routes
            .iter()
            .any(|route| route.fork_pull_requests == ForkPolicy::Approve)
    }

    /// Whether any route filters pull requests by `paths` (whose changed
    /// files are read from GitHub: a payload does not list them).
    pub fn filters_pull_request_paths(&self) -> bool {
        self.routes
            .iter()
            .any(|route| route.events.contains(&EventKind::PullRequest) && route.paths.is_some())
    }

    /// Whether any route filters merge groups by `paths` (whose changed
    /// files are GitHub's comparison of their base and head).
    pub fn filters_merge_group_paths(&self) -> bool {
        self.routes
            .iter()
            .any(|route| route.events.contains(&EventKind::MergeGroup) && route.paths.is_some())
    }

    /// Whether `trigger` talks to GitHub at all.
    pub fn need_github(&self) -> bool {
        self.approves_forks()
            || self.filters_pull_request_paths()
            || self.filters_merge_group_paths()
            || self.routes.iter().any(|route| route.report_skipped)
    }

    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Routes::parse(&config::required(ROUTES)?)?)
    }

    pub fn parse(document: &str) -> Result<Self, RoutesError> {
        let deserializer = &mut serde_json::Deserializer::from_str(document);
        let document: RoutesDocument =
            serde_path_to_error::deserialize(deserializer).map_err(|err| RoutesError::Syntax {
                path: err.path().to_string(),
                message: err.inner().to_string(),
            })?;
        if document.routes.is_empty() {
            return Err(RoutesError::Empty);
        }
        let routes = document
            .routes
            .into_iter()
            .enumerate()
            .map(|(index, route)| route.validate(index))
            .collect::<Result<_, _>>()?;
        Ok(Routes { routes })
    }
}

impl RouteDocument {
    fn validate(self, index: usize) -> Result<Route, RoutesError> {
        let label = match &self.name {
            Some(name) => format!("routes[{index}] ({name})"),
            None => format!("routes[{index}]"),
        };
        let fail = |message: String| RoutesError::Route {
            route: label.clone(),
            message,
        };
        if !self.repository.contains('/') {
            return Err(fail(format!(
                "repository {:?} must be owner/name (globs allowed, e.g. octo-org/*)",
                self.repository
            )));
        }
        let target = TargetDocument {
            pipeline: self.pipeline,
            source_action: self.source_action,
            pipeline_variables: self.pipeline_variables,
            codebuild_project: self.codebuild_project,
        }
        .validate()
        .map_err(&fail)?;
        let fork_target = self
            .fork_target
            .map(TargetDocument::validate)
            .transpose()
            .map_err(|message| fail(format!("fork_target: {message}")))?;
        let events = self
            .events
            .unwrap_or_else(|| vec![EventKind::Push, EventKind::PullRequest]);
        if events.is_empty() {
            return Err(fail(
                "events is empty; omit it to match push and pull_request".into(),
            ));
        }
        let pull_requests = events.contains(&EventKind::PullRequest);
        if !pull_requests && (self.fork_pull_requests.is_some() || self.drafts.is_some()) {
            return Err(fail(
                "fork_pull_requests and drafts apply only to a route with pull_request events"
                    .into(),
            ));
        }
        if fork_target.is_some()
            && !matches!(
                self.fork_pull_requests,
                Some(ForkPolicy::Build | ForkPolicy::Approve)
            )
        {
            return Err(fail(
                "fork_target applies only where forks are built (fork_pull_requests: build or approve)"
                    .into(),
            ));
        }
        if fork_target
            .as_ref()
            .is_some_and(|fork| fork.ledger_key() == target.ledger_key())
        {
            return Err(fail(
                "fork_target names the route's own target; name a pipeline or project of its own, or omit it"
                    .into(),
            ));
        }
        if self.report_skipped.is_some()
            && !events.contains(&EventKind::PullRequest)
            && !events.contains(&EventKind::MergeGroup)
        {
            return Err(fail(
                "report_skipped applies only to a route with pull_request or merge_group events"
                    .into(),
            ));
        }
        if !events.contains(&EventKind::MergeGroup) && self.merge_group_variable.is_some() {
            return Err(fail(
                "merge_group_variable applies only to a route with merge_group events".into(),
            ));
        }
        let builds_queue_branches =
            self.branches.iter().flatten().any(|pattern| {
                pattern.starts_with(gantry_core::contract::MERGE_QUEUE_BRANCH_PREFIX)
            });
        Ok(Route {
            builds_queue_branches,
            merge_group_variable: self.merge_group_variable.unwrap_or(false),
            cancel_in_progress: self.cancel_in_progress.unwrap_or(false),
            report_skipped: self.report_skipped.unwrap_or(false),
            fork_pull_requests: self.fork_pull_requests.unwrap_or_default(),
            drafts: self.drafts.unwrap_or(true),
            repository: globs("repository", &[self.repository], true).map_err(&fail)?,
            events,
            branches: optional_globs("branches", self.branches).map_err(&fail)?,
            tags: optional_globs("tags", self.tags).map_err(&fail)?,
            paths: optional_globs("paths", self.paths).map_err(&fail)?,
            target,
            fork_target,
            label,
        })
    }
}

fn non_empty(value: String, field: &str) -> Result<String, String> {
    if value.trim().is_empty() {
        Err(format!("{field} is empty"))
    } else {
        Ok(value)
    }
}

fn optional_globs(field: &str, patterns: Option<Vec<String>>) -> Result<Option<GlobSet>, String> {
    match patterns {
        None => Ok(None),
        Some(patterns) if patterns.is_empty() => Err(format!("{field} is empty; omit it instead")),
        Some(patterns) => globs(field, &patterns, false).map(Some),
    }
}

/// `*` stops at `/` and `**` crosses it, as in GitHub's own branch and path filters.
fn globs(field: &str, patterns: &[String], case_insensitive: bool) -> Result<GlobSet, String> {
    let mut set = GlobSetBuilder::new();
    for pattern in patterns {
        let glob: Glob = GlobBuilder::new(pattern)
            .literal_separator(true)
            .case_insensitive(case_insensitive)
            .build()
            .map_err(|err| format!("{field} pattern {pattern:?} is not a valid glob: {err}"))?;
        set.add(glob);
    }
    set.build()
        .map_err(|err| format!("{field} patterns cannot be compiled: {err}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(document: &str) -> String {
        Routes::parse(document).unwrap_err().to_string()
    }

    #[test]
    fn a_full_document_parses() {
        let routes = Routes::parse(
            r#"{"routes": [
                {"name": "app", "repository": "octo-org/app", "events": ["push"],
                 "branches": ["main", "release/*"], "tags": ["v*"], "paths": ["src/**"],
                 "pipeline": "app-pipeline", "source_action": "GitHub", "pipeline_variables": false},
                {"repository": "octo-org/*", "codebuild_project": "pr-build"}
            ]}"#,
        )
        .unwrap();
        assert_eq!(routes.routes.len(), 2);
        assert_eq!(
            routes.routes[0].target,
            Target::Pipeline {
                name: "app-pipeline".into(),
                source_action: "GitHub".into(),
                variables: false
            }
        );
        assert_eq!(routes.routes[0].label, "routes[0] (app)");
        // Safe by default: forks are not built, drafts are.
        assert_eq!(routes.routes[1].fork_pull_requests, ForkPolicy::Ignore);
        assert!(routes.routes[1].drafts);
        assert_eq!(
            routes.routes[1].events,
            vec![EventKind::Push, EventKind::PullRequest]
        );
        assert_eq!(
            routes.routes[1].target,
            Target::BuildProject {
                name: "pr-build".into()
            }
        );
    }

    #[test]
    fn errors_name_the_bad_entry() {
        assert!(error("not json").contains("GANTRY_ROUTES is not a valid routing document"));
        assert_eq!(
            error(r#"{"routes": []}"#),
            "GANTRY_ROUTES has no routes; nothing would ever start"
        );
        let unknown =
            error(r#"{"routes": [{"repository": "a/b", "pipeline": "p", "brances": ["main"]}]}"#);
        assert!(
            unknown.contains("routes[0]") && unknown.contains("brances"),
            "{unknown}"
        );
        assert_eq!(
            error(
                r#"{"routes": [{"repository": "a/b", "pipeline": "p"}, {"name": "x", "repository": "a/b"}]}"#
            ),
            "GANTRY_ROUTES: routes[1] (x): set pipeline or codebuild_project"
        );
        assert_eq!(
            error(
                r#"{"routes": [{"repository": "a/b", "pipeline": "p", "codebuild_project": "c"}]}"#
            ),
            "GANTRY_ROUTES: routes[0]: set pipeline or codebuild_project, not both"
        );
        assert!(
            error(r#"{"routes": [{"repository": "ab", "pipeline": "p"}]}"#).contains("owner/name")
        );
        assert!(error(
            r#"{"routes": [{"repository": "a/b", "pipeline": "p", "branches": ["[oops"]}]}"#
        )
        .contains("branches pattern \"[oops\""));
        assert!(error(
            r#"{"routes": [{"repository": "a/b", "pipeline": "p", "events": ["issues"]}]}"#
        )
        .contains("routes[0].events[0]"));
        assert!(error(
            r#"{"routes": [{"repository": "a/b", "codebuild_project": "c", "source_action": "S"}]}"#
        )
        .contains("only to a pipeline"));
        assert!(
            error(r#"{"routes": [{"repository": "a/b", "pipeline": "p", "paths": []}]}"#)
                .contains("paths is empty")
        );
        assert!(error(
            r#"{"routes": [{"repository": "a/b", "pipeline": "p", "fork_pull_requests": "always"}]}"#
        )
        .contains("routes[0].fork_pull_requests"));
        assert!(error(
            r#"{"routes": [{"repository": "a/b", "pipeline": "p", "events": ["push"], "drafts": false}]}"#
        )
        .contains("only to a route with pull_request events"));
    }
}
