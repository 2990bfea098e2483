//! Secrets (the webhook secret, the GitHub token): from Secrets Manager in AWS,
//! fetched once per container and cached, or from a plain variable for local runs.

use crate::config::{self, ConfigError};
use aws_config::SdkConfig;
use secrecy::SecretString;
use tokio::sync::OnceCell;

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

/// A secret resolved on first use and kept for the life of the container.
/// A failed fetch is not cached, so the next invocation tries again.
pub struct CachedSecret {
    origin: Origin,
    value: OnceCell<SecretString>,
}

enum Origin {
    SecretsManager {
        arn: String,
        client: aws_sdk_secretsmanager::Client,
    },
    Plain(SecretString),
}

impl CachedSecret {
    pub fn new(source: SecretSource, sdk_config: &SdkConfig) -> Self {
        let origin = match source {
            SecretSource::SecretsManager { arn } => Origin::SecretsManager {
                arn,
                client: aws_sdk_secretsmanager::Client::new(sdk_config),
            },
            SecretSource::Plain(value) => Origin::Plain(value),
        };
        CachedSecret {
            origin,
            value: OnceCell::new(),
        }
    }

    /// A secret given as it is, with no AWS client behind it.
    pub fn plain(value: &str) -> Self {
        CachedSecret {
            origin: Origin::Plain(SecretString::from(value.to_owned())),
            value: OnceCell::new(),
        }
    }

    pub async fn get(&self) -> Result<&SecretString, SecretError> {
        self.value.get_or_try_init(|| self.fetch()).await
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
