//! Passwords, random tokens and their hashes.
//!
//! Passwords are hashed with argon2id (OWASP's first choice). Session ids and API tokens are 256
//! random bits; only their SHA-256 is stored, which is enough for values with that much entropy and
//! lets a request be authenticated with one indexed lookup.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use rand::rngs::OsRng;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Prefix of every API token, so that leaked tokens are recognisable by secret scanners.
pub const API_TOKEN_PREFIX: &str = "aur_";

pub const MIN_PASSWORD_LEN: usize = 12;
pub const MAX_PASSWORD_LEN: usize = 1024;

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("password is too short: use at least {MIN_PASSWORD_LEN} characters")]
    TooShort,
    #[error("password is too long: use at most {MAX_PASSWORD_LEN} characters")]
    TooLong,
    #[error("password could not be hashed: {0}")]
    Hash(String),
}

/// A password that meets the policy, ready to be hashed.
pub struct NewPassword(SecretString);

impl NewPassword {
    pub fn parse(raw: SecretString) -> Result<Self, PasswordError> {
        let len = raw.expose_secret().chars().count();
        if len < MIN_PASSWORD_LEN {
            Err(PasswordError::TooShort)
        } else if len > MAX_PASSWORD_LEN {
            Err(PasswordError::TooLong)
        } else {
            Ok(Self(raw))
        }
    }

    /// The PHC string of an argon2id hash with a fresh salt.
    pub fn hash(&self) -> Result<String, PasswordError> {
        let salt = SaltString::generate(&mut OsRng);
        hasher()
            .hash_password(self.0.expose_secret().as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|err| PasswordError::Hash(err.to_string()))
    }
}

/// argon2id with OWASP's recommended minimum (19 MiB, 2 passes, 1 lane).
fn hasher() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Checks a password against a stored PHC hash. A malformed hash never matches.
pub fn verify_password(password: &SecretString, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|hash| {
        hasher()
            .verify_password(password.expose_secret().as_bytes(), &hash)
            .is_ok()
    })
}

/// A hash to verify against when the account does not exist, so that a wrong e-mail costs as
/// much time as a wrong password and does not reveal which accounts exist.
pub fn dummy_password_hash() -> &'static str {
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$Bq4TnLMw1P0mZbw3rOUS7Wg0Z6qZ1QK1m7cRlJ3h0vE"
}

/// 256 random bits, URL-safe base64.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A new API token: the value to show once, and what to store.
pub struct IssuedToken {
    pub value: SecretString,
    pub hash: String,
    pub prefix: String,
}

pub fn issue_api_token() -> IssuedToken {
    let value = format!("{API_TOKEN_PREFIX}{}", random_token());
    let prefix = value.chars().take(API_TOKEN_PREFIX.len() + 6).collect();
    IssuedToken {
        hash: hash_token(&value),
        value: SecretString::from(value),
        prefix,
    }
}

/// SHA-256 of a high-entropy token, hex encoded.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Equality that takes the same time wherever the inputs differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests;
