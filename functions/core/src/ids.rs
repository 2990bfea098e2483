//! Newtypes for the identifiers that cross boundaries, validated once at the edge.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IdError {
    #[error("delivery id {0:?} is not a GUID of letters, digits and dashes (1-128 characters)")]
    Delivery(String),
    #[error("commit {0:?} is not a 40 or 64 character hex SHA")]
    Commit(String),
    #[error("repository {0:?} is not of the form owner/name")]
    Repository(String),
}

/// GitHub's `X-GitHub-Delivery`: the same for a redelivery of the same event,
/// which is what makes it usable as an AWS idempotency token. Its alphabet is
/// restricted to what CodePipeline's `clientRequestToken` accepts.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DeliveryId(String);

impl DeliveryId {
    pub fn parse(value: &str) -> Result<Self, IdError> {
        let ok = !value.is_empty()
            && value.len() <= 128
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if ok {
            Ok(Self(value.to_owned()))
        } else {
            Err(IdError::Delivery(value.to_owned()))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A full commit SHA (SHA-1 or SHA-256 repositories), lower case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CommitSha(String);

impl CommitSha {
    pub fn parse(value: &str) -> Result<Self, IdError> {
        let ok = (value.len() == 40 || value.len() == 64)
            && value.bytes().all(|b| b.is_ascii_hexdigit());
        if ok {
            Ok(Self(value.to_ascii_lowercase()))
        } else {
            Err(IdError::Commit(value.to_owned()))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The all-zero SHA GitHub sends as `after` when a ref is deleted.
    pub fn is_null(&self) -> bool {
        self.0.bytes().all(|b| b == b'0')
    }
    pub fn short(&self) -> &str {
        &self.0[..7]
    }
}

/// `owner/name`, as GitHub's `repository.full_name`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RepoName(String);

impl RepoName {
    pub fn parse(value: &str) -> Result<Self, IdError> {
        match value.split_once('/') {
            Some((owner, name)) if !owner.is_empty() && !name.is_empty() && !name.contains('/') => {
                Ok(Self(value.to_owned()))
            }
            _ => Err(IdError::Repository(value.to_owned())),
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn owner(&self) -> &str {
        self.0.split_once('/').map_or("", |(owner, _)| owner)
    }
    pub fn name(&self) -> &str {
        self.0.split_once('/').map_or("", |(_, name)| name)
    }
}

macro_rules! string_newtype_impls {
    ($($ty:ident),*) => {$(
        impl TryFrom<String> for $ty {
            type Error = IdError;
            fn try_from(value: String) -> Result<Self, IdError> {
                Self::parse(&value)
            }
        }
        impl From<$ty> for String {
            fn from(value: $ty) -> String {
                value.0
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    )*};
}
string_newtype_impls!(DeliveryId, CommitSha, RepoName);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivery_ids_are_guids() {
        assert!(DeliveryId::parse("72d3162e-cc78-11e3-81ab-4c9367dc0958").is_ok());
        assert!(DeliveryId::parse("").is_err());
        assert!(DeliveryId::parse("a b").is_err());
        assert!(DeliveryId::parse(&"a".repeat(129)).is_err());
    }

    #[test]
    fn commits_are_full_hex_shas() {
        let sha = CommitSha::parse("0D1A26E67D8F5EAF1F6BA5C57FC3C7D91AC0FD1C").unwrap();
        assert_eq!(sha.as_str(), "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c");
        assert_eq!(sha.short(), "0d1a26e");
        assert!(CommitSha::parse(&"0".repeat(40)).unwrap().is_null());
        assert!(CommitSha::parse("0d1a26e").is_err());
        assert!(CommitSha::parse(&"g".repeat(40)).is_err());
    }

    #[test]
    fn repositories_are_owner_slash_name() {
        let repo = RepoName::parse("Codertocat/Hello-World").unwrap();
        assert_eq!((repo.owner(), repo.name()), ("Codertocat", "Hello-World"));
        for bad in ["", "a", "/b", "a/", "a/b/c"] {
            assert!(RepoName::parse(bad).is_err(), "{bad}");
        }
    }
}
