//! GitHub App authentication: the App's JWT (RS256, signed with `ring`, which
//! the TLS stack already carries, over the private key GitHub gives as a PEM
//! file), the installation that covers a repository, and the installation
//! token it is exchanged for. Installations are cached for the container's
//! life, tokens until a few minutes before they expire; a 401 drops both.

use crate::ids::RepoName;
use crate::secret::CachedSecret;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{RsaKeyPair, RSA_PKCS1_SHA256};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::PrivateKeyDer;
use secrecy::{ExposeSecret, SecretString};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::Mutex;
use tokio::time::Instant;

/// GitHub refuses an App JWT that lives longer than 10 minutes; its clock may
/// be behind ours, so `iat` is set a minute back, as GitHub's guide does.
const JWT_LIFETIME: Duration = Duration::from_secs(9 * 60);
const JWT_BACKDATE: Duration = Duration::from_secs(60);
/// An installation token (valid an hour) is replaced this long before it
/// expires, so no request goes out with one about to lapse.
pub const TOKEN_REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);

#[derive(Debug, thiserror::Error)]
pub enum AppKeyError {
    #[error("the GitHub App's private key is not a PEM private key ({0})")]
    Pem(String),
    #[error("the GitHub App's private key is not an RSA key GitHub could have issued: {0}")]
    Rsa(String),
    #[error("signing the GitHub App's JWT failed")]
    Sign,
}

/// The App's id and private key; signs its JWTs.
pub struct AppKey {
    app_id: String,
    pem: CachedSecret,
    /// The key parsed from the PEM it was parsed from: a rotated key is parsed again.
    parsed: Mutex<Option<(SecretString, Arc<RsaKeyPair>)>>,
    rng: SystemRandom,
}

impl AppKey {
    pub fn new(app_id: String, pem: CachedSecret) -> Self {
        AppKey {
            app_id,
            pem,
            parsed: Mutex::new(None),
            rng: SystemRandom::new(),
        }
    }

    pub fn app_id(&self) -> &str {
        &self.app_id
    }

    /// A JWT for the App, valid from a minute ago for nine minutes.
    pub async fn jwt(&self, now: SystemTime, deadline: Instant) -> Result<String, AppAuthError> {
        let key = self.key(deadline).await?;
        sign_jwt(&self.app_id, &key, &self.rng, now).map_err(AppAuthError::Key)
    }

    /// After GitHub refused a JWT: the key may have been rotated.
    pub async fn reread(&self, deadline: Instant) {
        self.pem.reread_after_refusal_by(deadline).await;
    }

    async fn key(&self, deadline: Instant) -> Result<Arc<RsaKeyPair>, AppAuthError> {
        let pem = self.pem.get_by(deadline).await?;
        let mut parsed = self.parsed.lock().await;
        if let Some((from, key)) = parsed.as_ref() {
            if from.expose_secret() == pem.expose_secret() {
                return Ok(key.clone());
            }
        }
        let key = Arc::new(parse_key(pem.expose_secret()).map_err(AppAuthError::Key)?);
        *parsed = Some((pem, key.clone()));
        Ok(key)
    }
}

/// GitHub hands out PKCS#1 (`BEGIN RSA PRIVATE KEY`); a key converted to
/// PKCS#8 (`BEGIN PRIVATE KEY`) is taken too.
pub fn parse_key(pem: &str) -> Result<RsaKeyPair, AppKeyError> {
    let der = PrivateKeyDer::from_pem_slice(pem.trim().as_bytes())
        .map_err(|err| AppKeyError::Pem(err.to_string()))?;
    let key = match &der {
        PrivateKeyDer::Pkcs1(key) => RsaKeyPair::from_der(key.secret_pkcs1_der()),
        PrivateKeyDer::Pkcs8(key) => RsaKeyPair::from_pkcs8(key.secret_pkcs8_der()),
        _ => return Err(AppKeyError::Rsa("an EC key, not RSA".into())),
    };
    key.map_err(|err| AppKeyError::Rsa(err.to_string()))
}

/// `header.claims.signature`, each base64url without padding (RFC 7519).
pub fn sign_jwt(
    app_id: &str,
    key: &RsaKeyPair,
    rng: &SystemRandom,
    now: SystemTime,
) -> Result<String, AppKeyError> {
    let now = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let header = serde_json::json!({"alg": "RS256", "typ": "JWT"});
    let claims = serde_json::json!({
        "iat": now.saturating_sub(JWT_BACKDATE).as_secs(),
        "exp": (now + JWT_LIFETIME).as_secs(),
        "iss": app_id,
    });
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let mut signature = vec![0; key.public().modulus_len()];
    key.sign(
        &RSA_PKCS1_SHA256,
        rng,
        signing_input.as_bytes(),
        &mut signature,
    )
    .map_err(|_| AppKeyError::Sign)?;
    Ok(format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(signature)
    ))
}

#[derive(Debug, thiserror::Error)]
pub enum AppAuthError {
    #[error(transparent)]
    Key(AppKeyError),
    #[error("the GitHub App's private key is unavailable")]
    Secret(#[from] crate::secret::SecretError),
}

/// An installation token and when it stops working.
#[derive(Debug, Clone)]
pub struct InstallationToken {
    pub token: SecretString,
    /// Epoch seconds.
    pub expires_at: u64,
}

impl InstallationToken {
    fn fresh_at(&self, now: SystemTime) -> bool {
        let now = now.duration_since(UNIX_EPOCH).unwrap_or_default();
        now + TOKEN_REFRESH_MARGIN < Duration::from_secs(self.expires_at)
    }
}

/// What the App knows of its installations, per container.
#[derive(Default)]
pub struct InstallationCache {
    /// `owner/name` in lower case (GitHub's names are case-insensitive) to
    /// the installation's id.
    installations: Mutex<HashMap<String, u64>>,
    /// Per repository, as each token is scoped to its one repository.
    tokens: Mutex<HashMap<String, InstallationToken>>,
}

impl InstallationCache {
    pub async fn installation(&self, repo: &RepoName) -> Option<u64> {
        self.installations
            .lock()
            .await
            .get(&repo.as_str().to_ascii_lowercase())
            .copied()
    }

    pub async fn remember_installation(&self, repo: &RepoName, installation: u64) {
        self.installations
            .lock()
            .await
            .insert(repo.as_str().to_ascii_lowercase(), installation);
    }

    /// A cached token for `repo` still good for the refresh margin.
    pub async fn token(&self, repo: &RepoName, now: SystemTime) -> Option<SecretString> {
        self.tokens
            .lock()
            .await
            .get(&repo.as_str().to_ascii_lowercase())
            .filter(|token| token.fresh_at(now))
            .map(|token| token.token.clone())
    }

    pub async fn remember_token(&self, repo: &RepoName, token: InstallationToken) {
        self.tokens
            .lock()
            .await
            .insert(repo.as_str().to_ascii_lowercase(), token);
    }

    /// After a 401: the token was revoked, or the App uninstalled and
    /// installed again under a new id.
    pub async fn forget(&self, repo: &RepoName) {
        let key = repo.as_str().to_ascii_lowercase();
        self.installations.lock().await.remove(&key);
        self.tokens.lock().await.remove(&key);
    }
}

/// `expires_at` of GitHub's token answer (`2016-07-11T22:14:10Z`), in epoch seconds.
pub fn parse_expires_at(text: &str) -> Option<u64> {
    let time =
        aws_smithy_types::DateTime::from_str(text, aws_smithy_types::date_time::Format::DateTime)
            .ok()?;
    u64::try_from(time.secs()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::signature::{UnparsedPublicKey, RSA_PKCS1_2048_8192_SHA256};

    /// A key made for these tests (`openssl genrsa -traditional 2048`); it
    /// signs for no App.
    pub const TEST_KEY: &str = include_str!("../../tests/data/test-app-key.pem");

    fn decode(part: &str) -> serde_json::Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
    }

    #[test]
    fn the_jwt_is_rs256_over_githubs_claims_and_verifies_with_the_public_key() {
        let key = parse_key(TEST_KEY).unwrap();
        let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let jwt = sign_jwt("12345", &key, &SystemRandom::new(), now).unwrap();
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        assert_eq!(
            decode(parts[0]),
            serde_json::json!({"alg": "RS256", "typ": "JWT"})
        );
        assert_eq!(
            decode(parts[1]),
            serde_json::json!({"iat": 1_799_999_940u64, "exp": 1_800_000_540u64, "iss": "12345"})
        );
        let public = UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, key.public().as_ref());
        let signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        public
            .verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &signature)
            .unwrap();
        assert!(public.verify(b"something else", &signature).is_err());
    }

    #[test]
    fn keys_are_read_as_github_gives_them_and_others_are_named() {
        assert!(parse_key(&format!("\n{TEST_KEY}\n")).is_ok(), "padded");
        assert!(matches!(parse_key("not a key"), Err(AppKeyError::Pem(_))));
        let truncated: String = TEST_KEY.lines().take(5).collect::<Vec<_>>().join("\n");
        assert!(parse_key(&truncated).is_err());
    }

    #[test]
    fn tokens_are_refreshed_five_minutes_before_they_expire() {
        let token = InstallationToken {
            token: SecretString::from("ghs_x"),
            expires_at: 1_800_003_600,
        };
        let at = |secs| UNIX_EPOCH + Duration::from_secs(secs);
        assert!(token.fresh_at(at(1_800_000_000)));
        assert!(token.fresh_at(at(1_800_003_299)));
        assert!(!token.fresh_at(at(1_800_003_300)));
        assert_eq!(
            parse_expires_at("2027-01-15T08:00:00Z"),
            Some(1_800_000_000)
        );
        assert_eq!(parse_expires_at("tomorrow"), None);
    }
}
