//! Secrets (the webhook secret, the GitHub token): from Secrets Manager in AWS,
//! cached for a time to live so a rotation reaches warm containers, or from a
//! plain variable for local runs.

use crate::config::{self, ConfigError};
use aws_config::SdkConfig;
use secrecy::SecretString;
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::Instant;

/// How long a secret read from Secrets Manager is used before it is read again.
pub const SECRET_TTL: &str = "GANTRY_SECRET_TTL_SECONDS";
pub const DEFAULT_TTL: Duration = Duration::from_secs(300);
/// A value that was refused (a signature that matches no secret, a token GitHub
/// answers 401) is re-read at most this often, so a flood of forged requests
/// cannot turn into a flood of Secrets Manager calls.
pub const REREAD_ON_REFUSAL_INTERVAL: Duration = Duration::from_secs(30);

/// `GANTRY_SECRET_TTL_SECONDS`, default 300; 0 reads the secret on every use.
pub fn ttl_from_env() -> Result<Duration, ConfigError> {
    match config::optional(SECRET_TTL)? {
        None => Ok(DEFAULT_TTL),
        Some(text) => text
            .trim()
            .parse::<u64>()
            .map(Duration::from_secs)
            .map_err(|_| ConfigError::Invalid {
                name: SECRET_TTL,
                reason: format!("expected a whole number of seconds, got {text:?}"),
            }),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("could not read secret {arn} from Secrets Manager")]
    Fetch {
        arn: String,
        #[source]
        source: Box<aws_sdk_secretsmanager::Error>,
    },
    #[error("secret {arn} has no SecretString, or a blank one")]
    Empty { arn: String },
    #[error("secret not read: the invocation's time ran out")]
    Deadline,
}

/// Where a secret comes from, as configured.
#[derive(Debug, Clone)]
pub enum SecretSource {
    SecretsManager { arn: String },
    Plain(SecretString),
}

impl SecretSource {
    /// Exactly one of the two variables must be set; the error names them.
    pub fn from_env(
        arn_var: &'static str,
        plain_var: &'static str,
    ) -> Result<SecretSource, ConfigError> {
        match (config::optional(arn_var)?, config::optional(plain_var)?) {
            (Some(arn), None) => Ok(SecretSource::SecretsManager { arn }),
            (None, Some(value)) => Ok(SecretSource::Plain(SecretString::from(value))),
            (Some(_), Some(_)) => Err(ConfigError::Conflict {
                first: arn_var,
                second: plain_var,
            }),
            (None, None) => Err(ConfigError::MissingOneOf {
                first: arn_var,
                second: plain_var,
            }),
        }
    }
}

/// A secret read on first use and kept for its time to live: the first use
/// after that reads it again, keeping the old value if the read fails; no other
/// use reads it. A failed first read is not cached, so the next use tries again.
pub struct CachedSecret {
    origin: Origin,
    ttl: Duration,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    value: Option<SecretString>,
    /// When the value held must be read again.
    expires_at: Option<Instant>,
    /// When a refusal last made us read the secret again.
    reread_for_refusal_at: Option<Instant>,
}

enum Origin {
    SecretsManager {
        arn: String,
        client: aws_sdk_secretsmanager::Client,
    },
    Plain(SecretString),
}

/// What `reread_after_refusal` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reread {
    /// The secret now holds another value: worth trying again.
    Changed,
    /// Read again, same value (or the read failed and the old value is kept).
    Unchanged,
    /// Read again for a refusal less than `REREAD_ON_REFUSAL_INTERVAL` ago, or a
    /// plain secret that cannot change: not read.
    NotRead,
}

impl CachedSecret {
    pub fn new(source: SecretSource, ttl: Duration, sdk_config: &SdkConfig) -> Self {
        let origin = match source {
            SecretSource::SecretsManager { arn } => Origin::SecretsManager {
                arn,
                client: aws_sdk_secretsmanager::Client::new(sdk_config),
            },
            SecretSource::Plain(value) => Origin::Plain(value),
        };
        CachedSecret {
            origin,
            ttl,
            state: Mutex::new(State::default()),
        }
    }

    /// A Secrets Manager secret read through `client` (tests record its requests).
    pub fn with_client(arn: String, ttl: Duration, client: aws_sdk_secretsmanager::Client) -> Self {
        CachedSecret {
            origin: Origin::SecretsManager { arn, client },
            ttl,
            state: Mutex::new(State::default()),
        }
    }

    /// A secret given as it is, with no AWS client behind it.
    pub fn plain(value: &str) -> Self {
        CachedSecret {
            origin: Origin::Plain(SecretString::from(value.to_owned())),
            ttl: DEFAULT_TTL,
            state: Mutex::new(State::default()),
        }
    }

    /// As `get`, given up at `deadline`.
    pub async fn get_by(&self, deadline: Instant) -> Result<SecretString, SecretError> {
        tokio::time::timeout_at(deadline, self.get())
            .await
            .unwrap_or(Err(SecretError::Deadline))
    }

    pub async fn get(&self) -> Result<SecretString, SecretError> {
        let mut state = self.state.lock().await;
        let fresh = state
            .expires_at
            .is_some_and(|expires_at| Instant::now() < expires_at);
        match (&state.value, fresh) {
            (Some(value), true) => Ok(value.clone()),
            _ => self.read(&mut state).await,
        }
    }

    /// As `reread_after_refusal`, given up at `deadline`.
    pub async fn reread_after_refusal_by(&self, deadline: Instant) -> Reread {
        tokio::time::timeout_at(deadline, self.reread_after_refusal())
            .await
            .unwrap_or(Reread::NotRead)
    }

    /// After a refusal that a rotation would explain: reads the secret again,
    /// at most once per `REREAD_ON_REFUSAL_INTERVAL`.
    pub async fn reread_after_refusal(&self) -> Reread {
        if matches!(self.origin, Origin::Plain(_)) {
            return Reread::NotRead;
        }
        let mut state = self.state.lock().await;
        if state
            .reread_for_refusal_at
            .is_some_and(|at| at.elapsed() < REREAD_ON_REFUSAL_INTERVAL)
        {
            return Reread::NotRead;
        }
        state.reread_for_refusal_at = Some(Instant::now());
        let before = state.value.clone();
        match self.read(&mut state).await {
            Ok(after) if !same(before.as_ref(), &after) => Reread::Changed,
            _ => Reread::Unchanged,
        }
    }

    /// Reads the secret; a failed read keeps the value already held, if any.
    async fn read(&self, state: &mut State) -> Result<SecretString, SecretError> {
        match self.fetch().await {
            Ok(value) => {
                state.value = Some(value.clone());
                state.expires_at = Some(Instant::now() + self.ttl);
                Ok(value)
            }
            Err(err) => match &state.value {
                Some(old) => {
                    // Not on every use while Secrets Manager is failing: each
                    // read could take the whole call timeout.
                    state.expires_at =
                        Some(Instant::now() + self.ttl.min(REREAD_ON_REFUSAL_INTERVAL));
                    tracing::warn!(error = %crate::logging::error_chain(&err), "secret not re-read; using the value read before");
                    Ok(old.clone())
                }
                None => Err(err),
            },
        }
    }

    async fn fetch(&self) -> Result<SecretString, SecretError> {
        match &self.origin {
            Origin::Plain(value) => Ok(value.clone()),
            Origin::SecretsManager { arn, client } => {
                let output = client
                    .get_secret_value()
                    .secret_id(arn)
                    .send()
                    .await
                    .map_err(|err| SecretError::Fetch {
                        arn: arn.clone(),
                        source: Box::new(err.into()),
                    })?;
                // A blank secret would make every signature check fail as a 401
                // that looks like GitHub's fault; name it instead.
                output
                    .secret_string
                    .filter(|value| !value.trim().is_empty())
                    .map(SecretString::from)
                    .ok_or_else(|| SecretError::Empty { arn: arn.clone() })
            }
        }
    }
}

fn same(before: Option<&SecretString>, after: &SecretString) -> bool {
    use secrecy::ExposeSecret;
    before.is_some_and(|before| before.expose_secret() == after.expose_secret())
}
