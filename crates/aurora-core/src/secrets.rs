//! The secret store port. Secret values never enter the database: other tables keep a
//! [`SecretRef`] (`secret://<org-id>/<name>`) and resolve it through a [`SecretStore`] when the
//! value is needed. Values travel as [`SecretString`], which never prints its content.
//!
//! A reference names a secret within its organisation, so implementations map it onto their own
//! layout: a local encrypted file, or a KV v2 path such as `aurora/<org-id>/<name>` in Vault or
//! OpenBao, without callers changing.

use std::fmt;
use std::str::FromStr;

use async_trait::async_trait;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use crate::error::SecretError;
use crate::ids::OrgId;

const SCHEME: &str = "secret://";

/// Where a secret lives: its organisation and its name within it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SecretRef {
    org: OrgId,
    name: String,
}

impl SecretRef {
    pub fn new(org: OrgId, name: &str) -> Result<Self, SecretError> {
        let valid = !name.is_empty()
            && name.len() <= 128
            && !name.starts_with('/')
            && !name.ends_with('/')
            && !name.contains("//")
            && !name.split('/').any(|part| part == "." || part == "..")
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/'));
        if valid {
            Ok(Self {
                org,
                name: name.to_owned(),
            })
        } else {
            Err(SecretError::InvalidName(name.to_owned()))
        }
    }

    pub fn org(&self) -> OrgId {
        self.org
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

impl fmt::Display for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{SCHEME}{}/{}", self.org, self.name)
    }
}

impl FromStr for SecretRef {
    type Err = SecretError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = || SecretError::InvalidRef(s.to_owned());
        let rest = s.strip_prefix(SCHEME).ok_or_else(invalid)?;
        let (org, name) = rest.split_once('/').ok_or_else(invalid)?;
        let org = org.parse().map_err(|_| invalid())?;
        Self::new(org, name)
    }
}

impl TryFrom<String> for SecretRef {
    type Error = SecretError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<SecretRef> for String {
    fn from(value: SecretRef) -> Self {
        value.to_string()
    }
}

/// Stores secret values by reference. Every call names the organisation asking; a reference of
/// another organisation is refused with [`SecretError::WrongOrg`].
#[async_trait]
pub trait SecretStore: Send + Sync + 'static {
    /// `local`, `vault`, …, for logs.
    fn backend(&self) -> &'static str;

    /// Creates or replaces the secret `name` of `org` and returns its reference.
    async fn put(
        &self,
        org: OrgId,
        name: &str,
        value: SecretString,
    ) -> Result<SecretRef, SecretError>;

    async fn get(&self, org: OrgId, secret: &SecretRef) -> Result<SecretString, SecretError>;

    /// Removes the secret; removing a missing secret is not an error.
    async fn delete(&self, org: OrgId, secret: &SecretRef) -> Result<(), SecretError>;
}

/// The check every implementation makes before touching a secret.
pub fn ensure_same_org(org: OrgId, secret: &SecretRef) -> Result<(), SecretError> {
    if secret.org() == org {
        Ok(())
    } else {
        Err(SecretError::WrongOrg(secret.to_string()))
    }
}

#[cfg(test)]
mod tests;
