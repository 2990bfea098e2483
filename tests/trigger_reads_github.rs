//! What `trigger` reads from GitHub, end to end against moto's server and a
//! GitHub stand-in: a pull request's changed files for `paths` filters, and
//! fork pull requests built on a maintainer's approval: the signed pull request goes through
//! the webhook and the bus's rule to `trigger`, which starts nothing and says
//! on the commit that it waits; a signed `issue_comment` with `/gantry run
//! <sha>` takes the same way, and `trigger` reads the author's permission
//! and the pull request's head from the stand-in before it starts the fork
//! target at that head. The stand-in's answers are GitHub's documented
//! examples, changed only where the scenario needs (checked against GitHub's
//! REST description), and every status it receives is checked too.
//!
//! The comment payload is `events/github/issue_comment.created.payload.json`
//! (an issue's comment), made a pull request's by adding `issue.pull_request`
//! as GitHub sends it on pull requests, with the command as its body.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use gantry_core::github::{GitHubClient, RetryPolicy};
use gantry_core::ledger::Clock;
use gantry_core::secret::CachedSecret;
use gantry_core::status_config::StatusConfig;
use gantry_tests::moto::Moto;
use gantry_tests::recorder::RequestRecorder;
use gantry_tests::rest::{check_request, check_response, description};
use gantry_tests::scenario::{self, LocalAws, LOCAL_SECRET, REPOSITORY};
use gantry_tests::{soon, webhook_delivery};
use gantry_trigger::approval::GitHubAccess;
use gantry_trigger::config::Routes;
use gantry_trigger::start::{Started, Starter};
use gantry_trigger::{Summary, Trigger};
use gantry_webhook::signature::sign;
use gantry_webhook::Webhook;
use http::{HeaderMap, HeaderValue};
use serde_json::Value;
use std::time::Duration;
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const FORK_TARGET: &str = "pr-build-untrusted";
const MAINTAINER: &str = "Codertocat";
const STRANGER: &str = "stranger";

struct World {
    _moto: Moto,
    aws: LocalAws,
    webhook: Webhook,
    trigger: Trigger,
    github: MockServer,
    recorder: RequestRecorder,
}

/// Forks wait for a maintainer's approval, and build in a target of their own.
fn approving_routes() -> Value {
    serde_json::json!({"routes": [{
        "repository": REPOSITORY, "events": ["pull_request"], "codebuild_project": scenario::PROJECT,
        "fork_pull_requests": "approve", "fork_target": {"codebuild_project": FORK_TARGET}
    }]})
}

async fn world(routes: Value) -> World {
    world_reporting(routes, "{}").await
}

/// With `GANTRY_STATUS_CONFIG` = `statuses`.
async fn world_reporting(routes: Value, statuses: &str) -> World {
    let routes = routes.to_string();
    let moto = Moto::start().await.unwrap();
    let sdk = moto.sdk_config().await;
    let aws = scenario::provision(&sdk).await.unwrap();
    scenario::create_build_project(&sdk, FORK_TARGET, &aws.role_arn)
        .await
        .unwrap();
    let recorder = RequestRecorder::default();
    let builds = aws_sdk_codebuild::config::Builder::from(&sdk)
        .interceptor(recorder.clone())
        .build();
    let github = MockServer::start().await;
    let retry = RetryPolicy {
        max_attempts: 2,
        first_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(50),
    };
    let trigger = Trigger::new(
        Routes::parse(&routes).unwrap(),
        Starter::new(
            aws_sdk_codepipeline::Client::new(&sdk),
            aws_sdk_codebuild::Client::from_conf(builds),
        ),
        scenario::ledger(&sdk, Clock::system()),
    )
    .with_github(GitHubAccess {
        client: GitHubClient::new(&github.uri(), CachedSecret::plain("local-token"), retry)
            .unwrap(),
        statuses: StatusConfig::parse(statuses).unwrap(),
    });
    World {
        webhook: scenario::webhook(&sdk),
        _moto: moto,
        aws,
        trigger,
        github,
        recorder,
    }
}

impl World {
    /// Delivers a signed delivery through the webhook and the bus, and hands
    /// what the rule delivered to `trigger`.
    async fn deliver(&self, event: &str, delivery: &str, payload: &Value) -> Vec<Summary> {
        let (mut headers, _) = webhook_delivery("pull_request", LOCAL_SECRET);
        let body = serde_json::to_vec(payload).unwrap();
        set(&mut headers, "x-github-event", event);
        set(&mut headers, "x-github-delivery", delivery);
        set(
            &mut headers,
            "x-hub-signature-256",
            &sign(LOCAL_SECRET.as_bytes(), &body),
        );
        let reply = self.webhook.handle(&headers, &body, soon()).await;
        assert_eq!(reply.status, 202, "{event} {delivery}");
        if reply.body == "ignored" {
            return Vec::new();
        }
        let events = self
            .aws
            .take_events(1, Duration::from_secs(10))
            .await
            .unwrap();
        let mut summaries = Vec::new();
        for event in events {
            let event: EventBridgeEvent<Value> = serde_json::from_value(event).unwrap();
            summaries.push(self.trigger.handle(event, soon()).await.unwrap());
        }
        summaries
    }

    async fn received(&self, verb: &str, suffix: &str) -> Vec<Request> {
        self.github
            .received_requests()
            .await
            .unwrap()
            .into_iter()
            .filter(|r| r.method.as_str() == verb && r.url.path().ends_with(suffix))
            .collect()
    }

    /// The one status GitHub received for `commit`, checked against GitHub's
    /// REST description.
    async fn only_status_on(&self, commit: &str) -> Value {
        let statuses = self.received("POST", &format!("/statuses/{commit}")).await;
        assert_eq!(statuses.len(), 1, "statuses on {commit}");
        let status: Value = serde_json::from_slice(&statuses[0].body).unwrap();
        check_request(
            &description("create-commit-status.json"),
            "/repos/{owner}/{repo}/statuses/{sha}",
            "post",
            &status,
        )
        .unwrap();
        status
    }

    fn projects_started(&self) -> Vec<String> {
        self.recorder
            .bodies("StartBuild")
            .iter()
            .map(|body| body["projectName"].as_str().unwrap().to_owned())
            .collect()
    }
}

fn set(headers: &mut HeaderMap, name: &'static str, value: &str) {
    headers.insert(name, HeaderValue::from_str(value).unwrap());
}

/// The pull request sample, as a stranger's fork sends it.
fn fork_pull_request() -> Value {
    let sample = gantry_tests::sample("webhook/pull_request.json");
    let mut payload: Value = serde_json::from_str(sample["body"].as_str().unwrap()).unwrap();
    payload["pull_request"]["head"]["repo"] = serde_json::json!({"full_name": "stranger/Hello-World", "clone_url": "https://github.com/stranger/Hello-World.git"});
    payload
}

/// A new comment on pull request `number` by `author`, saying `body`.
fn comment(number: u64, author: &str, body: &str) -> Value {
    let mut payload = gantry_tests::sample("github/issue_comment.created.payload.json");
    payload["issue"]["number"] = number.into();
    payload["issue"]["pull_request"] = serde_json::json!({
        "url": format!("https://api.github.com/repos/{REPOSITORY}/pulls/{number}"),
        "html_url": format!("https://github.com/{REPOSITORY}/pull/{number}")
    });
    payload["comment"]["body"] = body.into();
    payload["comment"]["user"]["login"] = author.into();
    payload
}

/// GitHub's answers: each user's permission, and the pull request at `head`,
/// from a fork; statuses are accepted.
async fn github_answers(world: &World, number: u64, head: &str) {
    let permissions = description("repos-get-collaborator-permission-level.json");
    for (user, permission, role) in [
        (MAINTAINER, "write", "maintain"),
        (STRANGER, "read", "read"),
    ] {
        let mut answer = description("collaborator-permission.response-200.json");
        answer["permission"] = permission.into();
        answer["role_name"] = role.into();
        answer["user"]["login"] = user.into();
        // The description requires the collaborator's own role_name, which
        // GitHub's example leaves out.
        answer["user"]["role_name"] = role.into();
        check_response(
            &permissions,
            "/repos/{owner}/{repo}/collaborators/{username}/permission",
            "get",
            "200",
            &answer,
        )
        .unwrap();
        Mock::given(method("GET"))
            .and(path(format!(
                "/repos/{REPOSITORY}/collaborators/{user}/permission"
            )))
            .respond_with(ResponseTemplate::new(200).set_body_json(answer))
            .mount(&world.github)
            .await;
    }
    let mut pull = description("pull.response-200.json");
    pull["number"] = number.into();
    pull["head"]["sha"] = head.into();
    pull["head"]["repo"]["full_name"] = "stranger/Hello-World".into();
    pull["base"]["ref"] = "master".into();
    // The description requires each requested team's `type`, which GitHub's
    // example leaves out.
    for team in pull["requested_teams"].as_array_mut().into_iter().flatten() {
        team["type"] = "organization".into();
    }
    check_response(
        &description("pulls-get.json"),
        "/repos/{owner}/{repo}/pulls/{pull_number}",
        "get",
        "200",
        &pull,
    )
    .unwrap();
    Mock::given(method("GET"))
        .and(path(format!("/repos/{REPOSITORY}/pulls/{number}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(pull))
        .mount(&world.github)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/repos/{REPOSITORY}/statuses/{head}")))
        .respond_with(
            ResponseTemplate::new(201).set_body_json(description("status.response-201.json")),
        )
        .mount(&world.github)
        .await;
}

/// GitHub's answer for any commit: the documented example with `message`
/// (checked against the description; GitHub's example leaves out two fields
/// of its file entries that the description requires).
async fn commit_message_is(world: &World, message: &str) {
    let mut answer = description("commit.response-200.json");
    answer["commit"]["message"] = message.into();
    for file in answer["files"].as_array_mut().into_iter().flatten() {
        file["sha"] = "bbcd538c8e72b8c175046e27cc8f907076331401".into();
        file["contents_url"] = "https://api.github.com/repos/octocat/Hello-World/contents/file1.txt?ref=6dcb09b5b57875f334f61aebed695e2e4193db5e".into();
    }
    check_response(
        &description("repos-get-commit.json"),
        "/repos/{owner}/{repo}/commits/{ref}",
        "get",
        "200",
        &answer,
    )
    .unwrap();
    world.github.reset().await;
    Mock::given(method("GET"))
        .and(path_regex(r"^/repos/[^/]+/[^/]+/commits/[0-9a-f]{40}$"))
        .respond_with(ResponseTemplate::new(200).set_body_json(answer))
        .mount(&world.github)
        .await;
}

fn skipped(summaries: &[Summary]) -> &str {
    match summaries {
        [Summary::Skipped { reason }] => reason,
        other => panic!("expected one skipped event, got {other:?}"),
    }
}

#[tokio::test]
async fn a_forks_pull_request_waits_for_a_maintainers_approval_of_its_head() {
    let world = world(approving_routes()).await;
    let pull_request = fork_pull_request();
    let number = pull_request["number"].as_u64().unwrap();
    let head = pull_request["pull_request"]["head"]["sha"]
        .as_str()
        .unwrap()
        .to_owned();
    commit_message_is(&world, "Update the README with new information.").await;
    github_answers(&world, number, &head).await;

    // The pull request's own delivery starts nothing and says it waits.
    let summaries = world
        .deliver(
            "pull_request",
            "a1b2c3d4-cc78-11e3-81ab-4c9367dc0958",
            &pull_request,
        )
        .await;
    assert!(
        skipped(&summaries).contains("waiting for a maintainer"),
        "{summaries:?}"
    );
    let status = world.only_status_on(&head).await;
    assert_eq!(status["state"], "pending");
    assert_eq!(status["context"], format!("gantry/{FORK_TARGET}"));
    assert_eq!(
        status["description"],
        format!(
            "Waiting for a maintainer: comment /gantry run {}",
            &head[..7]
        )
    );
    assert_eq!(
        status["target_url"],
        format!("https://github.com/{REPOSITORY}/pull/{number}")
    );

    // Neither a stranger, nor a maintainer naming another commit, nor an
    // edited comment, nor a comment without the command, starts anything.
    let command = format!("/gantry run {}", &head[..7]);
    let reason = skipped(
        &world
            .deliver(
                "issue_comment",
                "c0000001-cc78-11e3-81ab-4c9367dc0958",
                &comment(number, STRANGER, &command),
            )
            .await,
    )
    .to_owned();
    assert!(reason.contains("stranger has read permission"), "{reason}");
    let reason = skipped(
        &world
            .deliver(
                "issue_comment",
                "c0000002-cc78-11e3-81ab-4c9367dc0958",
                &comment(number, MAINTAINER, "Looks fine.\n/gantry run 0123abc"),
            )
            .await,
    )
    .to_owned();
    assert!(
        reason.contains("approved 0123abc") && reason.contains(&head[..7]),
        "{reason}"
    );
    let mut edited = comment(number, MAINTAINER, &command);
    edited["action"] = "edited".into();
    assert!(world
        .deliver(
            "issue_comment",
            "c0000003-cc78-11e3-81ab-4c9367dc0958",
            &edited
        )
        .await
        .is_empty());
    assert!(world
        .deliver(
            "issue_comment",
            "c0000004-cc78-11e3-81ab-4c9367dc0958",
            &comment(number, MAINTAINER, "thanks!")
        )
        .await
        .is_empty());
    assert!(world.projects_started().is_empty());

    // The maintainer approves the head: its fork target starts at the head,
    // once however often GitHub delivers the comment.
    let approval = comment(number, MAINTAINER, &format!("LGTM\n\n{command}"));
    let mut build_ids = Vec::new();
    for _ in 0..2 {
        let summaries = world
            .deliver(
                "issue_comment",
                "c0000005-cc78-11e3-81ab-4c9367dc0958",
                &approval,
            )
            .await;
        let [Summary::Started { started, .. }] = summaries.as_slice() else {
            panic!("expected a start, got {summaries:?}")
        };
        let Started::Build(build_id) = &started[0].started else {
            panic!("expected a build, got {started:?}")
        };
        build_ids.push(build_id.clone());
    }
    assert_eq!(
        build_ids[0], build_ids[1],
        "a redelivered approval starts nothing more"
    );
    assert_eq!(world.projects_started(), [FORK_TARGET]);
    let build = aws_sdk_codebuild::Client::new(&world.aws.sdk)
        .batch_get_builds()
        .ids(&build_ids[0])
        .send()
        .await
        .unwrap()
        .builds
        .unwrap_or_default()
        .pop()
        .expect("the started build exists");
    assert_eq!(build.project_name(), Some(FORK_TARGET));
    assert_eq!(build.source_version(), Some(head.as_str()));
    // GitHub was only read for the approvals, and told once that the fork waits.
    assert_eq!(world.received("POST", "").await.len(), 1);
}

/// A pull request's files, read from GitHub 100 to a page, decide a route's
/// `paths` filter: a change outside its paths starts nothing, one inside does.
#[tokio::test]
async fn a_pull_requests_changed_files_from_github_decide_its_paths_filter() {
    let world = world(serde_json::json!({"routes": [{
        "repository": REPOSITORY, "events": ["pull_request"], "codebuild_project": scenario::PROJECT,
        "paths": ["docs/**"]
    }]}))
    .await;
    let sample = gantry_tests::sample("webhook/pull_request.json");
    let pull_request: Value = serde_json::from_str(sample["body"].as_str().unwrap()).unwrap();
    let number = pull_request["number"].as_u64().unwrap();
    let files_answer = |paths: &[&str]| {
        let example = description("pull-files.response-200.json");
        let answer: Vec<Value> = paths
            .iter()
            .map(|path| {
                let mut file = example[0].clone();
                file["filename"] = (*path).into();
                file
            })
            .collect();
        let answer = Value::Array(answer);
        check_response(
            &description("pulls-list-files.json"),
            "/repos/{owner}/{repo}/pulls/{pull_number}/files",
            "get",
            "200",
            &answer,
        )
        .unwrap();
        ResponseTemplate::new(200).set_body_json(answer)
    };
    commit_message_is(&world, "Update the README with new information.").await;
    let files_path = format!("/repos/{REPOSITORY}/pulls/{number}/files");
    Mock::given(method("GET"))
        .and(path(files_path.as_str()))
        .respond_with(files_answer(&["src/lib.rs", "README.md"]))
        .up_to_n_times(1)
        .mount(&world.github)
        .await;
    // A repository no route takes: nothing would start, so nothing is read.
    let mut elsewhere = pull_request.clone();
    elsewhere["repository"]["full_name"] = "octo-org/unrouted".into();
    let summaries = world
        .deliver(
            "pull_request",
            "d0000000-cc78-11e3-81ab-4c9367dc0958",
            &elsewhere,
        )
        .await;
    assert!(
        skipped(&summaries).contains("no route matches"),
        "{summaries:?}"
    );
    assert!(
        world.received("GET", "").await.is_empty(),
        "GitHub was read for a repository no route takes"
    );
    let summaries = world
        .deliver(
            "pull_request",
            "d0000001-cc78-11e3-81ab-4c9367dc0958",
            &pull_request,
        )
        .await;
    assert!(
        skipped(&summaries).contains("no route matches"),
        "{summaries:?}"
    );
    assert!(world.projects_started().is_empty());
    let listed = world.received("GET", "/files").await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].url.query(), Some("per_page=100&page=1"));

    Mock::given(method("GET"))
        .and(path(files_path.as_str()))
        .respond_with(files_answer(&["docs/guide.md"]))
        .mount(&world.github)
        .await;
    let summaries = world
        .deliver(
            "pull_request",
            "d0000002-cc78-11e3-81ab-4c9367dc0958",
            &pull_request,
        )
        .await;
    assert!(
        matches!(summaries.as_slice(), [Summary::Started { .. }]),
        "{summaries:?}"
    );
    assert_eq!(world.projects_started(), [scenario::PROJECT]);
}

/// A route that reports what it skips: a pull request outside its paths,
/// and a merge group whose head asks to skip CI, get passing statuses under
/// every context the target's builds report to (a per_stage pipeline's
/// stages read from CodePipeline, moto's), so required checks do not wait.
#[tokio::test]
async fn skipped_pull_requests_and_merge_groups_are_reported_as_passing_where_asked() {
    let queue_repository = "octo-org/octo-repo";
    let world = world_reporting(
        serde_json::json!({"routes": [
            {"repository": REPOSITORY, "events": ["pull_request"], "codebuild_project": scenario::PROJECT,
             "paths": ["docs/**"], "report_skipped": true},
            {"repository": queue_repository, "events": ["merge_group"], "pipeline": scenario::PIPELINE,
             "report_skipped": true}
        ]}),
        &format!(r#"{{"pipelines": {{"{}": {{"per_stage": true}}}}}}"#, scenario::PIPELINE),
    )
    .await;
    let sample = gantry_tests::sample("webhook/pull_request.json");
    let pull_request: Value = serde_json::from_str(sample["body"].as_str().unwrap()).unwrap();
    let number = pull_request["number"].as_u64().unwrap();
    let head = pull_request["pull_request"]["head"]["sha"]
        .as_str()
        .unwrap();
    commit_message_is(&world, "Update the README with new information.").await;
    let mut file = description("pull-files.response-200.json")[0].clone();
    file["filename"] = "src/lib.rs".into();
    Mock::given(method("GET"))
        .and(path(format!("/repos/{REPOSITORY}/pulls/{number}/files")))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!([file])))
        .mount(&world.github)
        .await;
    let created =
        || ResponseTemplate::new(201).set_body_json(description("status.response-201.json"));
    Mock::given(method("POST"))
        .respond_with(created())
        .mount(&world.github)
        .await;

    let summaries = world
        .deliver(
            "pull_request",
            "e0000001-cc78-11e3-81ab-4c9367dc0958",
            &pull_request,
        )
        .await;
    assert!(
        skipped(&summaries).contains("no route matches"),
        "{summaries:?}"
    );
    let status = world.only_status_on(head).await;
    assert_eq!(status["state"], "success");
    assert_eq!(status["context"], format!("gantry/{}", scenario::PROJECT));
    assert_eq!(
        status["description"],
        "Skipped: no changed file matches the route's paths"
    );

    // The queue's commit asks to skip CI: each stage's context passes.
    let mut group = gantry_tests::sample("github/merge_group.checks_requested.payload.json");
    group["merge_group"]["head_commit"]["message"] = "Merge pull request #2048 [skip ci]".into();
    let queue_head = group["merge_group"]["head_sha"]
        .as_str()
        .unwrap()
        .to_owned();
    let summaries = world
        .deliver(
            "merge_group",
            "e0000002-cc78-11e3-81ab-4c9367dc0958",
            &group,
        )
        .await;
    assert!(skipped(&summaries).contains("skip CI"), "{summaries:?}");
    let mut contexts: Vec<String> = world
        .received(
            "POST",
            &format!("/repos/{queue_repository}/statuses/{queue_head}"),
        )
        .await
        .iter()
        .map(|request| {
            let status: Value = serde_json::from_slice(&request.body).unwrap();
            assert_eq!(status["state"], "success");
            assert_eq!(
                status["description"],
                "Skipped: the head commit message asks to skip CI"
            );
            status["context"].as_str().unwrap().to_owned()
        })
        .collect();
    contexts.sort();
    assert_eq!(
        contexts,
        [
            format!("gantry/{}/Build", scenario::PIPELINE),
            format!("gantry/{}/Source", scenario::PIPELINE)
        ]
    );

    // A pull request whose head commit, read from GitHub, asks to skip CI.
    commit_message_is(&world, "Fix a typo [skip ci]").await;
    Mock::given(method("POST"))
        .respond_with(created())
        .mount(&world.github)
        .await;
    let summaries = world
        .deliver(
            "pull_request",
            "e0000003-cc78-11e3-81ab-4c9367dc0958",
            &pull_request,
        )
        .await;
    assert!(skipped(&summaries).contains("skip CI"), "{summaries:?}");
    let status = world.only_status_on(head).await;
    assert_eq!(status["state"], "success");
    assert_eq!(
        status["description"],
        "Skipped: the head commit message asks to skip CI"
    );
    assert!(world.projects_started().is_empty());
}

/// A merge group's changed files are GitHub's comparison of its base and
/// head: a change outside the route's paths starts nothing, one inside does.
#[tokio::test]
async fn a_merge_groups_compared_files_decide_its_paths_filter() {
    let queue_repository = "octo-org/octo-repo";
    let world = world(serde_json::json!({"routes": [{
        "repository": queue_repository, "events": ["merge_group"], "codebuild_project": scenario::PROJECT,
        "paths": ["docs/**"]
    }]}))
    .await;
    let group = gantry_tests::sample("github/merge_group.checks_requested.payload.json");
    let base = group["merge_group"]["base_sha"]
        .as_str()
        .unwrap()
        .to_owned();
    let head = group["merge_group"]["head_sha"]
        .as_str()
        .unwrap()
        .to_owned();
    let compared = |paths: &[&str]| {
        let mut answer = description("compare.response-200.json");
        let file = answer["files"][0].clone();
        answer["files"] = paths
            .iter()
            .map(|path| {
                let mut file = file.clone();
                file["filename"] = (*path).into();
                file
            })
            .collect();
        check_response(
            &description("repos-compare-commits.json"),
            "/repos/{owner}/{repo}/compare/{basehead}",
            "get",
            "200",
            &answer,
        )
        .unwrap();
        ResponseTemplate::new(200).set_body_json(answer)
    };
    let compare_path = format!("/repos/{queue_repository}/compare/{base}...{head}");
    Mock::given(method("GET"))
        .and(path(compare_path.as_str()))
        .respond_with(compared(&["src/lib.rs"]))
        .up_to_n_times(1)
        .mount(&world.github)
        .await;
    let summaries = world
        .deliver(
            "merge_group",
            "f0000001-cc78-11e3-81ab-4c9367dc0958",
            &group,
        )
        .await;
    assert!(
        skipped(&summaries).contains("no route matches"),
        "{summaries:?}"
    );
    assert_eq!(
        world
            .received("GET", &format!("/compare/{base}...{head}"))
            .await
            .len(),
        1
    );

    Mock::given(method("GET"))
        .and(path(compare_path.as_str()))
        .respond_with(compared(&["docs/guide.md"]))
        .mount(&world.github)
        .await;
    let summaries = world
        .deliver(
            "merge_group",
            "f0000002-cc78-11e3-81ab-4c9367dc0958",
            &group,
        )
        .await;
    assert!(
        matches!(summaries.as_slice(), [Summary::Started { .. }]),
        "{summaries:?}"
    );
    assert_eq!(world.projects_started(), [scenario::PROJECT]);
}
