//! The pure decision: a Gantry event and the routing document in, the list of
//! pipeline executions and builds to start out. No I/O here.

use crate::config::{EventKind, ForkPolicy, Route, Routes, Target};
use gantry_core::contract::{Change, GitEvent, GitRef, PullRequest, MERGE_QUEUE_BRANCH_PREFIX};
use gantry_core::ids::RepoName;
use std::fmt;

/// Commit message markers that ask for no build, as GitHub Actions honours them.
const SKIP_MARKERS: [&str; 3] = ["[skip ci]", "[ci skip]", "[no ci]"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// The head commit asked not to be built.
    SkipRequested,
    /// A merge group left the queue without merging (`dequeued`,
    /// `invalidated`): stop what these routes started for it.
    StopGroup { routes: Vec<String> },
    /// Nothing to start or stop, and why.
    Nothing(String),
    /// Start each of these (empty when no route matches), and say why the
    /// routes in `held_back` matched but start nothing.
    Start {
        starts: Vec<Start>,
        held_back: Vec<HeldBack>,
    },
}

/// A route that matched a pull request and still starts nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldBack {
    pub route: String,
    pub reason: HoldReason,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HoldReason {
    /// The head is in another repository (or in one since deleted).
    Fork { head_repository: Option<RepoName> },
    /// A fork's head, on a route that builds it once a maintainer approves.
    AwaitingApproval { head_repository: Option<RepoName> },
    /// A draft, on a route with `"drafts": false`.
    Draft,
    /// `ready_for_review` on a route that builds drafts: the head was built when it was pushed.
    AlreadyBuiltAsDraft,
}

impl fmt::Display for HoldReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HoldReason::Fork {
                head_repository: Some(head),
            } => write!(
                f,
                "pull request from fork {head}; the route does not build forks (fork_pull_requests)"
            ),
            HoldReason::Fork {
                head_repository: None,
            } => f.write_str(
                "pull request from a deleted fork; the route does not build forks (fork_pull_requests)",
            ),
            HoldReason::AwaitingApproval { head_repository } => write!(
                f,
                "pull request from {}; waiting for a maintainer to comment /gantry run <sha> (fork_pull_requests: approve)",
                head_repository
                    .as_ref()
                    .map_or_else(|| "a deleted fork".to_owned(), |head| format!("fork {head}"))
            ),
            HoldReason::Draft => {
                f.write_str("draft pull request; the route does not build drafts (drafts: false)")
            }
            HoldReason::AlreadyBuiltAsDraft => f.write_str(
                "ready_for_review: the route builds drafts, so this head was built when it was pushed",
            ),
        }
    }
}

/// How one route takes an event.
enum RouteMatch {
    No,
    /// Started; `from_fork`: a fork's pull request (the route's `fork_target`).
    Yes {
        from_fork: bool,
    },
    HeldBack(HoldReason),
}

/// One execution or build to start, with everything its request carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Start {
    pub route: String,
    pub target: Target,
    pub commit: String,
    /// From the GitHub delivery id: a redelivered webhook carries the same one, so
    /// AWS answers the repeated request with the execution or build already started.
    pub idempotency_token: String,
    /// Passed as pipeline variables or build environment variables.
    pub variables: Vec<(&'static str, String)>,
    /// Stop what this route started for the branch's or pull request's older
    /// commits (`cancel_in_progress`).
    pub cancels_older: bool,
}

pub fn plan(event: &GitEvent, routes: &Routes) -> Plan {
    plan_known(event, routes, Known::default())
}

/// What `trigger` learnt from GitHub beyond the event itself.
#[derive(Debug, Clone, Copy, Default)]
pub struct Known<'a> {
    /// A maintainer approved building `event`, a fork's pull request at
    /// its head: only the routes that wait for that (`fork_pull_requests:
    /// approve`) start, as the others decided on the pull request's own events.
    pub approved: bool,
    /// The pull request's or merge group's changed files, read from GitHub
    /// (`None`: not read, or more than GitHub lists), for `paths` filters.
    pub changed_files: Option<&'a [String]>,
    /// The pull request's head commit message (`None`: not read), for `[skip ci]`.
    pub head_commit_message: Option<&'a str>,
}

pub fn plan_known(event: &GitEvent, routes: &Routes, known: Known<'_>) -> Plan {
    if let Change::MergeGroup(group) = &event.change {
        if group.action == "destroyed" {
            return match group.reason.as_deref() {
                Some("dequeued" | "invalidated") => Plan::StopGroup {
                    routes: routes
                        .routes
                        .iter()
                        .filter(|route| {
                            matches!(route_match(route, event, known), RouteMatch::Yes { .. })
                        })
                        .map(|route| route.label.clone())
                        .collect(),
                },
                reason => Plan::Nothing(format!(
                    "merge group destroyed ({}): its builds run to the end",
                    reason.unwrap_or("no reason given")
                )),
            };
        }
    }
    if skip_requested(event, known) {
        return Plan::SkipRequested;
    }
    let mut starts: Vec<Start> = Vec::new();
    let mut held_back = Vec::new();
    for route in &routes.routes {
        if known.approved && route.fork_pull_requests != ForkPolicy::Approve {
            continue;
        }
        let target = match route_match(route, event, known) {
            RouteMatch::No => continue,
            RouteMatch::HeldBack(reason) => {
                held_back.push(HeldBack {
                    route: route.label.clone(),
                    reason,
                });
                continue;
            }
            RouteMatch::Yes { from_fork } => route.target_for(from_fork),
        };
        // Two routes naming the same pipeline or project start it once (with
        // the first route's settings): the ledger keys a start on the name.
        if starts
            .iter()
            .all(|start| start.target.ledger_key() != target.ledger_key())
        {
            starts.push(Start {
                route: route.label.clone(),
                target: target.clone(),
                commit: event.commit.to_string(),
                idempotency_token: idempotency_token(&event.delivery_id.to_string(), target),
                variables: variables(event, route),
                cancels_older: route.cancel_in_progress,
            });
        }
    }
    Plan::Start { starts, held_back }
}

/// A target a route would have started but for the pull request's or merge
/// group's paths or its `[skip ci]`, on a route with `report_skipped`: its
/// contexts are reported as passing (skipped), so a required check does not
/// wait for a build that never comes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkipReport {
    pub route: String,
    pub target: Target,
    pub reason: String,
}

/// Pure: what `plan_known` did not start, for the routes that report it.
pub fn skipped_reports(event: &GitEvent, routes: &Routes, known: Known<'_>) -> Vec<SkipReport> {
    if !matches!(event.change, Change::PullRequest(_) | Change::MergeGroup(_)) {
        return Vec::new();
    }
    let skip_marker = skip_requested(event, known);
    let files_unknown = Known {
        changed_files: None,
        ..known
    };
    let mut reports: Vec<SkipReport> = Vec::new();
    for route in routes.routes.iter().filter(|route| route.report_skipped) {
        // As if every path matched: what the route would start.
        let RouteMatch::Yes { from_fork } = route_match(route, event, files_unknown) else {
            continue;
        };
        let reason = if skip_marker {
            "the head commit message asks to skip CI".to_owned()
        } else if matches!(route_match(route, event, known), RouteMatch::No) {
            "no changed file matches the route's paths".to_owned()
        } else {
            continue;
        };
        let target = route.target_for(from_fork);
        if reports
            .iter()
            .all(|report| report.target.ledger_key() != target.ledger_key())
        {
            reports.push(SkipReport {
                route: route.label.clone(),
                target: target.clone(),
                reason,
            });
        }
    }
    reports
}

/// A re-run (GitHub's "Re-run" on a check run) of what `original` started on
/// `target`: the same start at the same commit with the same variables
/// (`GANTRY_DELIVERY_ID` stays the original delivery's), through a route that
/// still starts that target for that event, but with the re-run delivery's
/// own idempotency token, so it is a new build or execution.
pub fn rerun(
    original: &GitEvent,
    routes: &Routes,
    target: &str,
    rerun_delivery: &str,
) -> Option<Start> {
    // Counted as approved: a run exists only for what was started, and
    // GitHub shows its Re-run button only to people with write access.
    let (route, started) = routes.routes.iter().find_map(|route| {
        let known = Known {
            approved: true,
            ..Known::default()
        };
        match route_match(route, original, known) {
            RouteMatch::Yes { from_fork } => {
                let started = route.target_for(from_fork);
                (started.ledger_key() == target).then_some((route, started))
            }
            RouteMatch::No | RouteMatch::HeldBack(_) => None,
        }
    })?;
    Some(Start {
        route: route.label.clone(),
        target: started.clone(),
        commit: original.commit.to_string(),
        idempotency_token: idempotency_token(rerun_delivery, started),
        variables: variables(original, route),
        cancels_older: false,
    })
}

/// CodePipeline takes the delivery id itself. CodeBuild answers a token it has
/// seen with other parameters by refusing the start, so one delivery that starts
/// several projects gives each its own token, still the same on every redelivery.
fn idempotency_token(delivery_id: &str, target: &Target) -> String {
    match target {
        Target::Pipeline { .. } => delivery_id.to_owned(),
        Target::BuildProject { name } => format!("{delivery_id}-{name}"),
    }
}

fn skip_requested(event: &GitEvent, known: Known<'_>) -> bool {
    let message = match &event.change {
        Change::Push(push) => push.head_commit_message.as_deref(),
        Change::MergeGroup(group) => group.head_commit_message.as_deref(),
        // Its payload carries no commit message: the one read from GitHub.
        Change::PullRequest(_) => known.head_commit_message,
        Change::CheckRun(_) | Change::CheckSuite(_) => return false,
    };
    let Some(message) = message else {
        return false;
    };
    let message = message.to_ascii_lowercase();
    SKIP_MARKERS.iter().any(|marker| message.contains(marker))
}

fn route_match(route: &Route, event: &GitEvent, known: Known<'_>) -> RouteMatch {
    if !route.repository.is_match(event.repository.as_str()) {
        return RouteMatch::No;
    }
    let matched = match &event.change {
        Change::Push(push) => {
            let git_ref = GitRef::parse(&push.git_ref);
            // The queue's commit is built through its merge_group event.
            let queue_branch = matches!(git_ref, GitRef::Branch(branch) if branch.starts_with(MERGE_QUEUE_BRANCH_PREFIX));
            route.events.contains(&EventKind::Push)
                && (!queue_branch || route.builds_queue_branches)
                && ref_matches(route, &git_ref)
                && paths_match(route, push.changed_paths.as_deref())
        }
        // A check run's buttons act on what the run reports, not on routes.
        Change::CheckRun(_) | Change::CheckSuite(_) => false,
        Change::MergeGroup(group) => {
            route.events.contains(&EventKind::MergeGroup)
                && ref_matches(route, &GitRef::Branch(group.base_branch()))
                // The payload lists no files: those GitHub compared, else
                // build rather than miss.
                && paths_match(route, known.changed_files)
        }
        Change::PullRequest(pr) => {
            let matched = route.events.contains(&EventKind::PullRequest)
                && ref_matches(route, &GitRef::Branch(&pr.base_branch))
                // The payload lists no files: those read from GitHub, else
                // build rather than miss.
                && paths_match(route, known.changed_files);
            if matched {
                if let Some(reason) = hold_reason(route, &event.repository, pr, known.approved) {
                    return RouteMatch::HeldBack(reason);
                }
                return RouteMatch::Yes {
                    from_fork: from_fork(&event.repository, pr),
                };
            }
            matched
        }
    };
    if matched {
        RouteMatch::Yes { from_fork: false }
    } else {
        RouteMatch::No
    }
}

/// Stateless by design: whether to build follows from the route and this one
/// delivery, so a route that builds drafts has built this head already when
/// `ready_for_review` arrives, and one that does not builds it then.
fn hold_reason(
    route: &Route,
    base: &RepoName,
    pr: &PullRequest,
    approved: bool,
) -> Option<HoldReason> {
    if from_fork(base, pr) {
        match (route.fork_pull_requests, approved) {
            (ForkPolicy::Ignore, _) => {
                return Some(HoldReason::Fork {
                    head_repository: pr.head_repository.clone(),
                })
            }
            (ForkPolicy::Approve, false) => {
                return Some(HoldReason::AwaitingApproval {
                    head_repository: pr.head_repository.clone(),
                })
            }
            (ForkPolicy::Build, _) | (ForkPolicy::Approve, true) => {}
        }
    }
    let ready_for_review = pr.action == "ready_for_review";
    if route.drafts && ready_for_review {
        return Some(HoldReason::AlreadyBuiltAsDraft);
    }
    if !route.drafts && pr.draft {
        return Some(HoldReason::Draft);
    }
    None
}

/// The head is in another repository than the base (compared as GitHub
/// does, ignoring case), or in one since deleted.
fn from_fork(base: &RepoName, pr: &PullRequest) -> bool {
    pr.head_repository
        .as_ref()
        .is_none_or(|head| !head.as_str().eq_ignore_ascii_case(base.as_str()))
}

/// A route without `branches` or `tags` takes every branch and no tag; naming
/// only `tags` makes it a tag-only route. A pull request is matched by its base branch.
fn ref_matches(route: &Route, git_ref: &GitRef) -> bool {
    match git_ref {
        GitRef::Branch(branch) => match &route.branches {
            Some(branches) => branches.is_match(branch),
            None => route.tags.is_none(),
        },
        GitRef::Tag(tag) => route.tags.as_ref().is_some_and(|tags| tags.is_match(tag)),
        GitRef::Other(_) => false,
    }
}

/// Unknown changed paths (a new branch, a huge push, a pull request) count as a
/// match: a build too many is cheaper than a missed one.
fn paths_match(route: &Route, changed: Option<&[String]>) -> bool {
    match (&route.paths, changed) {
        (None, _) | (Some(_), None) => true,
        (Some(filter), Some(changed)) => changed.iter().any(|path| filter.is_match(path)),
    }
}

/// Every variable a start carries, as a pipeline must declare them (`gantry
/// doctor` and the tests' pipeline read this list).
pub const PIPELINE_VARIABLES: [&str; 6] = [
    "GANTRY_REPOSITORY",
    "GANTRY_COMMIT",
    "GANTRY_DELIVERY_ID",
    "GANTRY_REF",
    "GANTRY_BRANCH",
    "GANTRY_PULL_REQUEST",
];
/// A merge group's base branch, only for routes with `merge_group_variable`.
pub const MERGE_GROUP_BASE_VARIABLE: &str = "GANTRY_MERGE_GROUP_BASE";

fn variables(event: &GitEvent, route: &Route) -> Vec<(&'static str, String)> {
    let mut variables = vec![
        ("GANTRY_REPOSITORY", event.repository.to_string()),
        ("GANTRY_COMMIT", event.commit.to_string()),
        ("GANTRY_DELIVERY_ID", event.delivery_id.to_string()),
    ];
    match &event.change {
        Change::Push(push) => {
            variables.push(("GANTRY_REF", push.git_ref.clone()));
            if let GitRef::Branch(branch) = GitRef::parse(&push.git_ref) {
                variables.push(("GANTRY_BRANCH", branch.to_owned()));
            }
        }
        Change::PullRequest(pr) => {
            variables.push(("GANTRY_REF", format!("refs/pull/{}/head", pr.number)));
            variables.push(("GANTRY_BRANCH", pr.head_branch.clone()));
            variables.push(("GANTRY_PULL_REQUEST", pr.number.to_string()));
        }
        Change::MergeGroup(group) => {
            variables.push(("GANTRY_REF", group.head_ref.clone()));
            variables.push(("GANTRY_BRANCH", group.head_branch().to_owned()));
            if route.merge_group_variable {
                variables.push((MERGE_GROUP_BASE_VARIABLE, group.base_branch().to_owned()));
            }
        }
        Change::CheckRun(_) | Change::CheckSuite(_) => {}
    }
    variables
}

#[cfg(test)]
mod tests {
    use super::*;
    use gantry_core::contract::{PullRequest, Push};
    use gantry_core::ids::{CommitSha, DeliveryId, RepoName};

    const SHA: &str = "6113728f27ae82c7b1a177c8d03f9e96e0adf246";
    const DELIVERY: &str = "72d3162e-cc78-11e3-81ab-4c9367dc0958";

    fn event(change: Change) -> GitEvent {
        GitEvent {
            delivery_id: DeliveryId::parse(DELIVERY).unwrap(),
            repository: RepoName::parse("Codertocat/Hello-World").unwrap(),
            clone_url: "https://github.com/Codertocat/Hello-World.git".into(),
            commit: CommitSha::parse(SHA).unwrap(),
            change,
        }
    }

    fn push(git_ref: &str, message: &str, paths: Option<&[&str]>) -> GitEvent {
        event(Change::Push(Push {
            git_ref: git_ref.into(),
            head_commit_message: Some(message.into()),
            changed_paths: paths.map(|p| p.iter().map(|s| s.to_string()).collect()),
        }))
    }

    fn pull_request(base: &str) -> GitEvent {
        pull_request_from(base, "opened", Some("Codertocat/Hello-World"), false)
    }

    fn pull_request_from(base: &str, action: &str, head: Option<&str>, draft: bool) -> GitEvent {
        event(Change::PullRequest(PullRequest {
            number: 2,
            action: action.into(),
            base_branch: base.into(),
            head_branch: "changes".into(),
            head_repository: head.map(|head| RepoName::parse(head).unwrap()),
            draft,
            title: "Update the README with new information.".into(),
        }))
    }

    /// The targets started and the reasons given for the routes held back.
    fn decided(event: &GitEvent, routes: &str) -> (Vec<String>, Vec<HoldReason>) {
        match plan(event, &Routes::parse(routes).unwrap()) {
            Plan::Start { starts, held_back } => (
                starts
                    .into_iter()
                    .map(|s| s.target.name().to_owned())
                    .collect(),
                held_back.into_iter().map(|h| h.reason).collect(),
            ),
            other => panic!("expected starts, got {other:?}"),
        }
    }

    #[test]
    fn fork_pull_requests_are_not_built_unless_the_route_says_so() {
        let safe = r#"{"routes": [{"repository": "Codertocat/Hello-World", "events": ["pull_request"], "codebuild_project": "pr-build"}]}"#;
        let opted_in = r#"{"routes": [{"repository": "Codertocat/Hello-World", "events": ["pull_request"], "codebuild_project": "pr-build", "fork_pull_requests": "build"}]}"#;
        let with_fork_target = r#"{"routes": [{"repository": "Codertocat/Hello-World", "events": ["pull_request"], "codebuild_project": "pr-build", "fork_pull_requests": "build", "fork_target": {"codebuild_project": "pr-build-untrusted"}}]}"#;
        let fork = |head| pull_request_from("main", "opened", head, false);
        let stranger = RepoName::parse("stranger/Hello-World").unwrap();
        // (event, routes, (targets started, reasons held back))
        type Case = (
            GitEvent,
            &'static str,
            (&'static [&'static str], Vec<HoldReason>),
        );
        let cases: &[Case] = &[
            // The same repository, in another case: not a fork.
            (
                fork(Some("codertocat/hello-world")),
                safe,
                (&["pr-build"], vec![]),
            ),
            (
                fork(Some("stranger/Hello-World")),
                safe,
                (
                    &[],
                    vec![HoldReason::Fork {
                        head_repository: Some(stranger.clone()),
                    }],
                ),
            ),
            // A deleted fork's pull request has no head repository.
            (
                fork(None),
                safe,
                (
                    &[],
                    vec![HoldReason::Fork {
                        head_repository: None,
                    }],
                ),
            ),
            (
                fork(Some("stranger/Hello-World")),
                opted_in,
                (&["pr-build"], vec![]),
            ),
            (fork(None), opted_in, (&["pr-build"], vec![])),
            // With a fork_target, a fork starts it instead; the repository's
            // own pull requests still start the route's target.
            (
                fork(Some("stranger/Hello-World")),
                with_fork_target,
                (&["pr-build-untrusted"], vec![]),
            ),
            (
                fork(None),
                with_fork_target,
                (&["pr-build-untrusted"], vec![]),
            ),
            (
                fork(Some("Codertocat/Hello-World")),
                with_fork_target,
                (&["pr-build"], vec![]),
            ),
        ];
        for (event, routes, (targets, reasons)) in cases {
            let (started, held) = decided(event, routes);
            assert_eq!(started, *targets, "{event:?}");
            assert_eq!(held, *reasons, "{event:?}");
        }
        // The reason names the fork and the setting.
        let reason = HoldReason::Fork {
            head_repository: Some(stranger),
        }
        .to_string();
        assert!(
            reason.contains("stranger/Hello-World") && reason.contains("fork_pull_requests"),
            "{reason}"
        );
    }

    #[test]
    fn a_fork_on_an_approving_route_waits_until_a_maintainer_approves_its_head() {
        let routes = Routes::parse(r#"{"routes": [
            {"name": "forks", "repository": "Codertocat/Hello-World", "events": ["pull_request"], "codebuild_project": "pr-build", "fork_pull_requests": "approve", "fork_target": {"codebuild_project": "pr-build-untrusted"}},
            {"name": "built", "repository": "Codertocat/Hello-World", "events": ["pull_request"], "codebuild_project": "lint", "fork_pull_requests": "build"},
            {"name": "never", "repository": "Codertocat/Hello-World", "events": ["pull_request"], "codebuild_project": "deploy-preview"}
        ]}"#).unwrap();
        let names = |plan: Plan| match plan {
            Plan::Start { starts, held_back } => (
                starts
                    .into_iter()
                    .map(|s| s.target.name().to_owned())
                    .collect::<Vec<_>>(),
                held_back.into_iter().map(|h| h.reason).collect::<Vec<_>>(),
            ),
            other => panic!("expected starts, got {other:?}"),
        };
        let fork = pull_request_from("main", "synchronize", Some("stranger/Hello-World"), false);
        let stranger = Some(RepoName::parse("stranger/Hello-World").unwrap());
        // The pull request's own event: the approving route waits, the
        // building one builds, the safe one holds the fork back.
        assert_eq!(
            names(plan(&fork, &routes)),
            (
                vec!["lint".to_owned()],
                vec![
                    HoldReason::AwaitingApproval {
                        head_repository: stranger.clone()
                    },
                    HoldReason::Fork {
                        head_repository: stranger
                    },
                ]
            )
        );
        // Approved: only the route that waited starts, in its fork target.
        assert_eq!(
            names(plan_known(
                &fork,
                &routes,
                Known {
                    approved: true,
                    changed_files: None,
                    head_commit_message: None
                }
            )),
            (vec!["pr-build-untrusted".to_owned()], vec![])
        );
        // The repository's own pull requests never wait.
        let own = pull_request_from("main", "opened", Some("Codertocat/Hello-World"), false);
        assert_eq!(
            names(plan(&own, &routes)).0,
            ["pr-build", "lint", "deploy-preview"]
        );
        let waiting = HoldReason::AwaitingApproval {
            head_repository: None,
        }
        .to_string();
        assert!(
            waiting.contains("/gantry run") && waiting.contains("deleted fork"),
            "{waiting}"
        );
    }

    #[test]
    fn a_pull_requests_files_read_from_github_decide_its_paths_filter() {
        let routes = Routes::parse(r#"{"routes": [{"repository": "Codertocat/Hello-World", "events": ["pull_request"], "codebuild_project": "docs", "paths": ["docs/**"]}]}"#).unwrap();
        let pr = pull_request_from("main", "opened", Some("Codertocat/Hello-World"), false);
        let started = |files: Option<&[String]>| match plan_known(
            &pr,
            &routes,
            Known {
                approved: false,
                changed_files: files,
                head_commit_message: None,
            },
        ) {
            Plan::Start { starts, .. } => starts.len(),
            other => panic!("{other:?}"),
        };
        let docs = vec!["README.md".to_owned(), "docs/guide.md".to_owned()];
        let code = vec!["src/main.rs".to_owned()];
        assert_eq!(started(Some(&docs)), 1);
        assert_eq!(started(Some(&code)), 0);
        // Unknown (not read, or past GitHub's 3,000): built rather than missed.
        assert_eq!(started(None), 1);
        // A merge group's files are GitHub's comparison of its base and head.
        let queue = Routes::parse(r#"{"routes": [{"repository": "Codertocat/Hello-World", "events": ["merge_group"], "codebuild_project": "docs", "paths": ["docs/**"]}]}"#).unwrap();
        let group = merge_group("main", "Merge queue");
        let group_started = |files: Option<&[String]>| match plan_known(
            &group,
            &queue,
            Known {
                changed_files: files,
                ..Known::default()
            },
        ) {
            Plan::Start { starts, .. } => starts.len(),
            other => panic!("{other:?}"),
        };
        assert_eq!(group_started(Some(&docs)), 1);
        assert_eq!(group_started(Some(&code)), 0);
        assert_eq!(group_started(None), 1);
    }

    #[test]
    fn routes_that_report_skipped_builds_name_what_they_skipped_and_why() {
        let routes = Routes::parse(r#"{"routes": [
            {"name": "docs", "repository": "Codertocat/Hello-World", "events": ["pull_request", "merge_group"], "codebuild_project": "docs", "paths": ["docs/**"], "report_skipped": true},
            {"name": "quiet", "repository": "Codertocat/Hello-World", "events": ["pull_request", "merge_group"], "codebuild_project": "quiet", "paths": ["docs/**"]},
            {"name": "app", "repository": "Codertocat/Hello-World", "events": ["pull_request", "merge_group"], "pipeline": "app", "report_skipped": true}
        ]}"#).unwrap();
        let pr = pull_request_from("main", "opened", Some("Codertocat/Hello-World"), false);
        let code = vec!["src/main.rs".to_owned()];
        let docs = vec!["docs/guide.md".to_owned()];
        let reported = |event: &GitEvent, files: Option<&[String]>| {
            skipped_reports(
                event,
                &routes,
                Known {
                    approved: false,
                    changed_files: files,
                    head_commit_message: None,
                },
            )
            .into_iter()
            .map(|r| (r.target.name().to_owned(), r.reason))
            .collect::<Vec<_>>()
        };
        // Outside the paths: only the route that asks reports, with the reason.
        assert_eq!(
            reported(&pr, Some(&code)),
            [(
                "docs".to_owned(),
                "no changed file matches the route's paths".to_owned()
            )]
        );
        // Inside the paths, or files unknown: built, nothing to report.
        assert!(reported(&pr, Some(&docs)).is_empty());
        assert!(reported(&pr, None).is_empty());
        // [skip ci] on a merge group: every reporting route that would have built it.
        let skipped = merge_group("main", "Merge queue [skip ci]");
        assert_eq!(
            reported(&skipped, None),
            [
                (
                    "docs".to_owned(),
                    "the head commit message asks to skip CI".to_owned()
                ),
                (
                    "app".to_owned(),
                    "the head commit message asks to skip CI".to_owned()
                ),
            ]
        );
        assert!(reported(&merge_group("main", "Merge queue"), None).is_empty());
        // A pull request's head message, read from GitHub, asks to skip too.
        let asks = Known {
            approved: false,
            changed_files: Some(&docs),
            head_commit_message: Some("Fix typo [ci skip]"),
        };
        assert_eq!(plan_known(&pr, &routes, asks), Plan::SkipRequested);
        assert_eq!(skipped_reports(&pr, &routes, asks).len(), 2);
        assert!(
            matches!(plan(&pr, &routes), Plan::Start { .. }),
            "unread, it builds"
        );
        // Pushes are not reported: no required check waits on a push.
        assert!(reported(&push("refs/heads/main", "x [skip ci]", None), None).is_empty());
        assert!(Routes::parse(r#"{"routes": [{"repository": "a/b", "events": ["push"], "pipeline": "p", "report_skipped": true}]}"#)
            .unwrap_err()
            .to_string()
            .contains("report_skipped applies only to a route with pull_request or merge_group events"));
    }

    #[test]
    fn a_re_run_of_a_forks_build_starts_the_fork_target_again() {
        let routes = Routes::parse(r#"{"routes": [{"repository": "Codertocat/Hello-World", "events": ["pull_request"], "pipeline": "app", "fork_pull_requests": "build", "fork_target": {"codebuild_project": "pr-build-untrusted"}}]}"#).unwrap();
        let fork = pull_request_from("main", "opened", Some("stranger/Hello-World"), false);
        let again = rerun(&fork, &routes, "project/pr-build-untrusted", "press-1").unwrap();
        assert_eq!(again.target.name(), "pr-build-untrusted");
        assert_eq!(again.idempotency_token, "press-1-pr-build-untrusted");
        // The fork never started the route's own pipeline, so nothing re-runs it.
        assert_eq!(rerun(&fork, &routes, "pipeline/app", "press-1"), None);
    }

    #[test]
    fn drafts_are_built_once_whichever_way_the_route_takes_them() {
        let builds_drafts = r#"{"routes": [{"repository": "Codertocat/Hello-World", "events": ["pull_request"], "codebuild_project": "pr-build"}]}"#;
        let no_drafts = r#"{"routes": [{"repository": "Codertocat/Hello-World", "events": ["pull_request"], "codebuild_project": "pr-build", "drafts": false}]}"#;
        let own = Some("Codertocat/Hello-World");
        // (action, draft, routes, targets started, reason held back)
        type Case = (
            &'static str,
            bool,
            &'static str,
            &'static [&'static str],
            Option<HoldReason>,
        );
        let cases: &[Case] = &[
            // Drafts built (the default): opened and pushed drafts build, and
            // ready_for_review does not build the same head again.
            ("opened", true, builds_drafts, &["pr-build"], None),
            ("synchronize", true, builds_drafts, &["pr-build"], None),
            (
                "ready_for_review",
                false,
                builds_drafts,
                &[],
                Some(HoldReason::AlreadyBuiltAsDraft),
            ),
            ("opened", false, builds_drafts, &["pr-build"], None),
            // Drafts not built: ready_for_review is what builds the head.
            ("opened", true, no_drafts, &[], Some(HoldReason::Draft)),
            ("synchronize", true, no_drafts, &[], Some(HoldReason::Draft)),
            ("ready_for_review", false, no_drafts, &["pr-build"], None),
            ("synchronize", false, no_drafts, &["pr-build"], None),
        ];
        for (action, draft, routes, targets, reason) in cases {
            let event = pull_request_from("main", action, own, *draft);
            let (started, held) = decided(&event, routes);
            assert_eq!(started, *targets, "{action} draft={draft} {routes}");
            assert_eq!(
                held,
                reason.iter().cloned().collect::<Vec<_>>(),
                "{action} draft={draft}"
            );
        }
    }

    fn targets(event: &GitEvent, routes: &str) -> Vec<String> {
        match plan(event, &Routes::parse(routes).unwrap()) {
            Plan::Start { starts, .. } => starts
                .into_iter()
                .map(|s| s.target.name().to_owned())
                .collect(),
            Plan::SkipRequested => vec!["<skip>".into()],
            other => panic!("expected starts, got {other:?}"),
        }
    }

    const ROUTES: &str = r#"{"routes": [
        {"name": "main", "repository": "codertocat/hello-world", "events": ["push"], "branches": ["main", "release/*"], "pipeline": "main-pipeline"},
        {"name": "docs", "repository": "Codertocat/Hello-World", "events": ["push"], "branches": ["**"], "paths": ["docs/**"], "codebuild_project": "docs-build"},
        {"name": "tags", "repository": "Codertocat/*", "tags": ["v*"], "pipeline": "release-pipeline"},
        {"name": "prs", "repository": "Codertocat/Hello-World", "events": ["pull_request"], "branches": ["main"], "codebuild_project": "pr-build"},
        {"name": "again", "repository": "Codertocat/Hello-World", "events": ["push"], "branches": ["main"], "pipeline": "main-pipeline"},
        {"name": "elsewhere", "repository": "other/repo", "pipeline": "other-pipeline"}
    ]}"#;

    #[test]
    fn routing_table() {
        let cases: &[(GitEvent, &[&str])] = &[
            (
                push("refs/heads/main", "fix", Some(&["src/lib.rs"])),
                &["main-pipeline"],
            ),
            (
                push("refs/heads/release/1.x", "fix", None),
                &["main-pipeline", "docs-build"],
            ),
            (
                push("refs/heads/release/1.x/hotfix", "fix", Some(&["a"])),
                &[],
            ),
            (
                push("refs/heads/feature", "docs", Some(&["docs/guide/intro.md"])),
                &["docs-build"],
            ),
            (
                push("refs/heads/feature", "code", Some(&["src/docs/x.rs"])),
                &[],
            ),
            (
                push("refs/tags/v1.2.0", "release", None),
                &["release-pipeline"],
            ),
            (push("refs/tags/nightly", "release", None), &[]),
            (push("refs/notes/commits", "note", None), &[]),
            (pull_request("main"), &["pr-build"]),
            (pull_request("develop"), &[]),
        ];
        for (event, expected) in cases {
            assert_eq!(targets(event, ROUTES), *expected, "{event:?}");
        }
    }

    #[test]
    fn routes_naming_one_pipeline_with_other_settings_start_it_once() {
        let routes = r#"{"routes": [
            {"repository": "Codertocat/Hello-World", "pipeline": "p"},
            {"repository": "Codertocat/Hello-World", "pipeline": "p", "source_action": "GitHub", "pipeline_variables": false}
        ]}"#;
        assert_eq!(targets(&push("refs/heads/main", "x", None), routes), ["p"]);
    }

    fn merge_group(base: &str, message: &str) -> GitEvent {
        event(Change::MergeGroup(gantry_core::contract::MergeGroup {
            action: "checks_requested".into(),
            head_ref: format!("refs/heads/gh-readonly-queue/{base}/pr-104-929f8209d40f77f4abc622a499c93a83babdbe64"),
            base_ref: format!("refs/heads/{base}"),
            head_commit_message: Some(message.into()),
            reason: None,
            base_sha: None,
        }))
    }

    #[test]
    fn a_merge_group_builds_on_routes_that_list_it_for_its_base_branch() {
        let routes = r#"{"routes": [
            {"name": "queue", "repository": "Codertocat/Hello-World", "events": ["push", "merge_group"], "branches": ["main"], "pipeline": "p", "merge_group_variable": true},
            {"name": "pushes", "repository": "Codertocat/Hello-World", "events": ["push"], "pipeline": "q"},
            {"name": "other-base", "repository": "Codertocat/Hello-World", "events": ["merge_group"], "branches": ["release/*"], "codebuild_project": "b"}
        ]}"#;
        assert_eq!(
            decided(&merge_group("main", "Merge pull request #2048"), routes).0,
            ["p"]
        );
        let Plan::Start { starts, .. } = plan(
            &merge_group("main", "Merge pull request #2048"),
            &Routes::parse(routes).unwrap(),
        ) else {
            panic!("a plan")
        };
        let variables: std::collections::HashMap<_, _> =
            starts[0].variables.iter().cloned().collect();
        assert_eq!(
            variables["GANTRY_BRANCH"],
            "gh-readonly-queue/main/pr-104-929f8209d40f77f4abc622a499c93a83babdbe64"
        );
        assert_eq!(
            variables["GANTRY_REF"],
            "refs/heads/gh-readonly-queue/main/pr-104-929f8209d40f77f4abc622a499c93a83babdbe64"
        );
        assert_eq!(variables["GANTRY_MERGE_GROUP_BASE"], "main");
        assert_eq!(variables["GANTRY_COMMIT"], SHA);

        // Without the opt-in, a pipeline gets only the variables it declares.
        let plain = r#"{"routes": [{"repository": "Codertocat/Hello-World", "events": ["merge_group"], "pipeline": "p"}]}"#;
        let Plan::Start { starts, .. } =
            plan(&merge_group("main", "m"), &Routes::parse(plain).unwrap())
        else {
            panic!("a plan")
        };
        assert!(starts[0]
            .variables
            .iter()
            .all(|(name, _)| *name != "GANTRY_MERGE_GROUP_BASE"));
        assert_eq!(starts[0].variables.len(), 5);

        // `[skip ci]` in the group's head commit skips it, as for a push.
        assert_eq!(
            plan(
                &merge_group("main", "docs [skip ci]"),
                &Routes::parse(routes).unwrap()
            ),
            Plan::SkipRequested
        );
    }

    #[test]
    fn the_queues_own_branches_are_not_built_as_pushes_unless_a_route_names_them() {
        let queue_push = push(
            "refs/heads/gh-readonly-queue/main/pr-104-929f8209d40f77f4abc622a499c93a83babdbe64",
            "Merge pull request #2048",
            None,
        );
        let every_branch = r#"{"routes": [{"repository": "Codertocat/Hello-World", "events": ["push"], "branches": ["**"], "pipeline": "p"}]}"#;
        assert!(decided(&queue_push, every_branch).0.is_empty());
        let named = r#"{"routes": [{"repository": "Codertocat/Hello-World", "events": ["push"], "branches": ["gh-readonly-queue/**"], "pipeline": "p"}]}"#;
        assert_eq!(decided(&queue_push, named).0, ["p"]);
        // Other branches are untouched.
        assert_eq!(
            decided(&push("refs/heads/main", "m", None), every_branch).0,
            ["p"]
        );
    }

    #[test]
    fn a_destroyed_group_stops_unless_it_merged() {
        let routes = Routes::parse(r#"{"routes": [
            {"name": "queue", "repository": "Codertocat/Hello-World", "events": ["merge_group"], "branches": ["main"], "pipeline": "p"},
            {"name": "pushes", "repository": "Codertocat/Hello-World", "events": ["push"], "pipeline": "q"}
        ]}"#).unwrap();
        let destroyed = |reason: Option<&str>| {
            let mut group = merge_group("main", "m");
            if let Change::MergeGroup(g) = &mut group.change {
                g.action = "destroyed".into();
                g.reason = reason.map(str::to_owned);
            }
            plan(&group, &routes)
        };
        for reason in ["dequeued", "invalidated"] {
            assert_eq!(
                destroyed(Some(reason)),
                Plan::StopGroup {
                    routes: vec!["routes[0] (queue)".into()]
                }
            );
        }
        assert!(
            matches!(destroyed(Some("merged")), Plan::Nothing(reason) if reason.contains("merged"))
        );
        assert!(matches!(destroyed(None), Plan::Nothing(_)));
    }

    #[test]
    fn a_rerun_starts_the_same_target_with_its_own_token_and_the_original_variables() {
        let routes = Routes::parse(
            r#"{"routes": [
            {"repository": "Codertocat/Hello-World", "events": ["push"], "codebuild_project": "b"},
            {"repository": "Codertocat/Hello-World", "events": ["push"], "pipeline": "p"}
        ]}"#,
        )
        .unwrap();
        let original = push("refs/heads/main", "m", None);
        let start = rerun(&original, &routes, "project/b", "rerun-delivery").unwrap();
        assert_eq!(start.target.name(), "b");
        assert_eq!(start.idempotency_token, "rerun-delivery-b");
        assert!(start
            .variables
            .contains(&("GANTRY_DELIVERY_ID", DELIVERY.to_owned())));
        assert_eq!(start.commit, SHA);
        // A target no route starts for the event any more is not re-run.
        assert!(rerun(&original, &routes, "project/gone", "r").is_none());
        assert!(rerun(&push("refs/tags/v1", "m", None), &routes, "project/b", "r").is_none());
    }

    #[test]
    fn every_variable_a_start_carries_is_one_a_pipeline_is_told_to_declare() {
        let routes = Routes::parse(r#"{"routes": [{"repository": "Codertocat/Hello-World", "events": ["push", "pull_request", "merge_group"], "pipeline": "p", "merge_group_variable": true}]}"#).unwrap();
        let names = |event: &GitEvent| -> Vec<&'static str> {
            let Plan::Start { starts, .. } = plan(event, &routes) else {
                panic!("a plan")
            };
            starts[0].variables.iter().map(|(name, _)| *name).collect()
        };
        // A pull request carries all six.
        assert_eq!(names(&pull_request("master")), PIPELINE_VARIABLES);
        for event in [push("refs/heads/main", "m", None), merge_group("main", "m")] {
            for name in names(&event) {
                assert!(
                    PIPELINE_VARIABLES.contains(&name) || name == MERGE_GROUP_BASE_VARIABLE,
                    "{name}"
                );
            }
        }
    }

    #[test]
    fn the_merge_group_variable_needs_merge_group_events() {
        let err = Routes::parse(r#"{"routes": [{"repository": "a/b", "events": ["push"], "pipeline": "p", "merge_group_variable": true}]}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("merge_group_variable applies only"), "{err}");
    }

    #[test]
    fn skip_markers_start_nothing() {
        for message in ["docs only [skip ci]", "[CI SKIP] typo", "wip\n\n[no ci]"] {
            assert_eq!(
                plan(
                    &push("refs/heads/main", message, None),
                    &Routes::parse(ROUTES).unwrap()
                ),
                Plan::SkipRequested,
                "{message}"
            );
        }
        assert_eq!(
            targets(
                &push("refs/heads/main", "skip ci", Some(&["src/a.rs"])),
                ROUTES
            ),
            ["main-pipeline"]
        );
    }

    #[test]
    fn a_route_without_refs_takes_branches_not_tags() {
        let routes = r#"{"routes": [{"repository": "Codertocat/Hello-World", "pipeline": "p"}]}"#;
        assert_eq!(
            targets(&push("refs/heads/any/thing", "x", None), routes),
            ["p"]
        );
        assert!(targets(&push("refs/tags/v1", "x", None), routes).is_empty());
        assert_eq!(targets(&pull_request("anything"), routes), ["p"]);
    }

    #[test]
    fn starts_carry_commit_token_and_variables() {
        let Plan::Start { starts, .. } =
            plan(&pull_request("main"), &Routes::parse(ROUTES).unwrap())
        else {
            panic!("expected starts")
        };
        let start = &starts[0];
        assert_eq!(start.commit, SHA);
        assert_eq!(start.idempotency_token, format!("{DELIVERY}-pr-build"));
        assert_eq!(start.route, "routes[3] (prs)");
        let vars: std::collections::HashMap<_, _> = start.variables.iter().cloned().collect();
        assert_eq!(vars["GANTRY_PULL_REQUEST"], "2");
        assert_eq!(vars["GANTRY_BRANCH"], "changes");
        assert_eq!(vars["GANTRY_REF"], "refs/pull/2/head");
        assert_eq!(vars["GANTRY_REPOSITORY"], "Codertocat/Hello-World");
        assert_eq!(vars["GANTRY_DELIVERY_ID"], DELIVERY);

        // A pipeline's token is the delivery id; each project gets its own.
        let Plan::Start { starts: pushed, .. } = plan(
            &push("refs/heads/main", "x", None),
            &Routes::parse(ROUTES).unwrap(),
        ) else {
            panic!("expected starts")
        };
        let tokens: Vec<(&str, &str)> = pushed
            .iter()
            .map(|s| (s.target.name(), s.idempotency_token.as_str()))
            .collect();
        assert!(tokens.contains(&("main-pipeline", DELIVERY)), "{tokens:?}");
        assert!(
            tokens.contains(&("docs-build", &format!("{DELIVERY}-docs-build"))),
            "{tokens:?}"
        );

        let Plan::Start { starts, .. } = plan(
            &push("refs/tags/v1", "x", None),
            &Routes::parse(ROUTES).unwrap(),
        ) else {
            panic!("expected starts")
        };
        let names: Vec<_> = starts[0].variables.iter().map(|(name, _)| *name).collect();
        assert!(!names.contains(&"GANTRY_BRANCH") && !names.contains(&"GANTRY_PULL_REQUEST"));
    }
}
