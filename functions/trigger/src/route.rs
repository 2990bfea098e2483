//! The pure decision: a Gantry event and the routing document in, the list of
//! pipeline executions and builds to start out. No I/O here.

use crate::config::{EventKind, Route, Routes, Target};
use gantry_core::contract::{Change, GitEvent, GitRef};

/// Commit message markers that ask for no build, as GitHub Actions honours them.
const SKIP_MARKERS: [&str; 3] = ["[skip ci]", "[ci skip]", "[no ci]"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// The head commit asked not to be built.
    SkipRequested,
    /// Start each of these; empty when no route matches.
    Start(Vec<Start>),
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
}

pub fn plan(event: &GitEvent, routes: &Routes) -> Plan {
    if skip_requested(event) {
        return Plan::SkipRequested;
    }
    let mut starts: Vec<Start> = Vec::new();
    for route in routes.routes.iter().filter(|route| matches(route, event)) {
        // Two routes naming the same target start it once.
        if starts.iter().all(|start| start.target != route.target) {
            starts.push(Start {
                route: route.label.clone(),
                target: route.target.clone(),
                commit: event.commit.to_string(),
                idempotency_token: idempotency_token(&event.delivery_id.to_string(), &route.target),
                variables: variables(event),
            });
        }
    }
    Plan::Start(starts)
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

fn skip_requested(event: &GitEvent) -> bool {
    let Change::Push(push) = &event.change else {
        return false;
    };
    let Some(message) = &push.head_commit_message else {
        return false;
    };
    let message = message.to_ascii_lowercase();
    SKIP_MARKERS.iter().any(|marker| message.contains(marker))
}

fn matches(route: &Route, event: &GitEvent) -> bool {
    if !route.repository.is_match(event.repository.as_str()) {
        return false;
    }
    match &event.change {
        Change::Push(push) => {
            route.events.contains(&EventKind::Push)
                && ref_matches(route, &GitRef::parse(&push.git_ref))
                && paths_match(route, push.changed_paths.as_deref())
        }
        Change::PullRequest(pr) => {
            route.events.contains(&EventKind::PullRequest)
                && ref_matches(route, &GitRef::Branch(&pr.base_branch))
                // A pull request payload does not list its files: build rather than miss.
                && paths_match(route, None)
        }
    }
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

fn variables(event: &GitEvent) -> Vec<(&'static str, String)> {
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
        event(Change::PullRequest(PullRequest {
            number: 2,
            action: "opened".into(),
            base_branch: base.into(),
            head_branch: "changes".into(),
            head_repository: Some(RepoName::parse("Codertocat/Hello-World").unwrap()),
            draft: false,
            title: "Update the README with new information.".into(),
        }))
    }

    fn targets(event: &GitEvent, routes: &str) -> Vec<String> {
        match plan(event, &Routes::parse(routes).unwrap()) {
            Plan::Start(starts) => starts
                .into_iter()
                .map(|s| s.target.name().to_owned())
                .collect(),
            Plan::SkipRequested => vec!["<skip>".into()],
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
        let Plan::Start(starts) = plan(&pull_request("main"), &Routes::parse(ROUTES).unwrap())
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
        let Plan::Start(pushed) = plan(
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

        let Plan::Start(starts) = plan(
            &push("refs/tags/v1", "x", None),
            &Routes::parse(ROUTES).unwrap(),
        ) else {
            panic!("expected starts")
        };
        let names: Vec<_> = starts[0].variables.iter().map(|(name, _)| *name).collect();
        assert!(!names.contains(&"GANTRY_BRANCH") && !names.contains(&"GANTRY_PULL_REQUEST"));
    }
}
