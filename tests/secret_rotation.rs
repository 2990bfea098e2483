//! Secrets rotated in Secrets Manager (moto) while the functions are warm: the
//! webhook accepts the first delivery signed with a new secret, the GitHub
//! client posts with a new token after GitHub's 401, and a cached secret is read
//! again only after its time to live, keeping the old value when a read fails.
//! Secrets Manager reads are counted by recording the client's requests.

use gantry_core::github::{CommitStatus, GitHubClient, RetryPolicy, StatusState};
use gantry_core::ids::{CommitSha, RepoName};
use gantry_core::secret::{CachedSecret, DEFAULT_TTL};
use gantry_tests::moto::Moto;
use gantry_tests::recorder::RequestRecorder;
use gantry_tests::scenario;
use gantry_tests::{soon, webhook_delivery};
use gantry_webhook::publish::Publisher;
use gantry_webhook::Webhook;
use secrecy::ExposeSecret;
use std::time::Duration;
use tokio::time::Instant;
use wiremock::matchers::{header, method};
use wiremock::{Mock, MockServer, ResponseTemplate};

const COMMIT: &str = "6113728f27ae82c7b1a177c8d03f9e96e0adf246";

struct Secrets {
    client: aws_sdk_secretsmanager::Client,
    recorder: RequestRecorder,
    arn: String,
}

impl Secrets {
    async fn create(sdk: &aws_config::SdkConfig, name: &str, value: &str) -> Secrets {
        let recorder = RequestRecorder::default();
        let client = aws_sdk_secretsmanager::Client::from_conf(
            aws_sdk_secretsmanager::config::Builder::from(sdk)
                .interceptor(recorder.clone())
                .build(),
        );
        let arn = client
            .create_secret()
            .name(name)
            .secret_string(value)
            .send()
            .await
            .unwrap()
            .arn
            .unwrap();
        Secrets {
            client,
            recorder,
            arn,
        }
    }

    fn cached(&self, ttl: Duration) -> CachedSecret {
        CachedSecret::with_client(self.arn.clone(), ttl, self.client.clone())
    }

    async fn rotate(&self, value: &str) {
        self.client
            .put_secret_value()
            .secret_id(&self.arn)
            .secret_string(value)
            .send()
            .await
            .unwrap();
    }

    fn reads(&self) -> usize {
        self.recorder.bodies("GetSecretValue").len()
    }
}

#[tokio::test]
async fn the_first_delivery_signed_with_a_rotated_webhook_secret_is_accepted() {
    let moto = Moto::start().await.unwrap();
    let sdk = moto.sdk_config().await;
    scenario::provision(&sdk).await.unwrap();
    let secrets = Secrets::create(&sdk, "gantry/webhook", "old-secret").await;
    let webhook = Webhook::new(
        secrets.cached(DEFAULT_TTL),
        Publisher::new(
            aws_sdk_eventbridge::Client::new(&sdk),
            scenario::BUS.to_owned(),
        ),
    );
    let deliver = |secret: &str| {
        let (headers, body) = webhook_delivery("push", secret);
        let webhook = &webhook;
        async move { webhook.handle(&headers, &body, soon()).await.status }
    };

    assert_eq!(deliver("old-secret").await, 202);
    assert_eq!(secrets.reads(), 1);

    // The operator replaces the secret, then GitHub's; the warm container still
    // holds the old one and its TTL has not passed.
    secrets.rotate("new-secret").await;
    assert_eq!(deliver("new-secret").await, 202, "accepted at once");
    assert_eq!(secrets.reads(), 2, "one re-read, on the mismatch");
    assert_eq!(deliver("old-secret").await, 401, "the old secret is gone");

    // Forged deliveries cost no Secrets Manager call: one re-read per 30 s.
    for _ in 0..5 {
        assert_eq!(deliver("forged").await, 401);
    }
    assert_eq!(secrets.reads(), 2);
    assert_eq!(deliver("new-secret").await, 202);
    assert_eq!(secrets.reads(), 2);
}

fn status() -> CommitStatus {
    CommitStatus::new(
        StatusState::Success,
        "gantry/hello-world-build".into(),
        "Build succeeded in 1m 0s",
        None,
    )
}

#[tokio::test]
async fn after_githubs_401_a_rotated_token_is_read_again_and_the_status_posted() {
    let moto = Moto::start().await.unwrap();
    let sdk = moto.sdk_config().await;
    let secrets = Secrets::create(&sdk, "gantry/github-token", "ghp_old\n").await;
    let github = MockServer::start().await;
    let retry = RetryPolicy {
        max_attempts: 2,
        first_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(10),
    };
    let client = GitHubClient::new(&github.uri(), secrets.cached(DEFAULT_TTL), retry).unwrap();
    let repository = RepoName::parse(scenario::REPOSITORY).unwrap();
    let commit = CommitSha::parse(COMMIT).unwrap();
    let status = status();
    let post = || {
        client.create_status(
            &repository,
            &commit,
            &status,
            Instant::now() + Duration::from_secs(20),
        )
    };
    let accept = |token: &str| {
        Mock::given(method("POST"))
            .and(header("authorization", format!("Bearer {token}").as_str()))
            .respond_with(ResponseTemplate::new(201).set_body_json(serde_json::json!({})))
    };
    let refuse_others = Mock::given(method("POST")).respond_with(
        ResponseTemplate::new(401).set_body_json(serde_json::json!({"message": "Bad credentials"})),
    );

    accept("ghp_old").mount(&github).await;
    post().await.unwrap();

    // The token is rotated and the old one revoked while the container is warm.
    secrets.rotate("ghp_new").await;
    github.reset().await;
    accept("ghp_new").with_priority(1).mount(&github).await;
    refuse_others.mount(&github).await;
    post().await.unwrap();

    let sent: Vec<String> = github
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|request| {
            request.headers["authorization"]
                .to_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(sent, ["Bearer ghp_old", "Bearer ghp_new"]);
    assert_eq!(secrets.reads(), 2);

    // A token GitHub keeps refusing is refused, after one re-read, not retried.
    github.reset().await;
    let revoked = Mock::given(method("POST")).respond_with(
        ResponseTemplate::new(401).set_body_json(serde_json::json!({"message": "Bad credentials"})),
    );
    revoked.mount(&github).await;
    let err = post().await.unwrap_err();
    assert!(!err.is_transient(), "{err}");
    assert_eq!(github.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_secret_is_read_again_after_its_ttl_and_kept_when_that_read_fails() {
    let moto = Moto::start().await.unwrap();
    let sdk = moto.sdk_config().await;
    let secrets = Secrets::create(&sdk, "gantry/ttl", "first").await;
    let ttl = Duration::from_millis(400);
    let secret = secrets.cached(ttl);

    assert_eq!(value(&secret).await, "first");
    secrets.rotate("second").await;
    assert_eq!(value(&secret).await, "first", "within the TTL, no read");
    assert_eq!(secrets.reads(), 1);

    tokio::time::sleep(ttl).await;
    assert_eq!(value(&secret).await, "second");
    assert_eq!(secrets.reads(), 2);

    // Secrets Manager fails (here: the secret is gone): the old value is kept.
    secrets
        .client
        .delete_secret()
        .secret_id(&secrets.arn)
        .force_delete_without_recovery(true)
        .send()
        .await
        .unwrap();
    tokio::time::sleep(ttl).await;
    assert_eq!(value(&secret).await, "second");
    assert_eq!(secrets.reads(), 3);
}

async fn value(secret: &CachedSecret) -> String {
    secret.get().await.unwrap().expose_secret().to_owned()
}
