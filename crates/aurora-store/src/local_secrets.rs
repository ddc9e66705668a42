//! The local secret store: one JSON file of XChaCha20-Poly1305 ciphertexts in the data directory.
//!
//! Each value is sealed with a fresh 192-bit random nonce (safe to draw at random, unlike
//! ChaCha20-Poly1305's 96 bits) and with its reference as associated data, so a ciphertext moved
//! to another name or organisation fails to open. The file is replaced atomically (write, fsync,
//! rename), so a crash leaves either the old or the new file.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use aurora_core::SecretError;
use aurora_core::ids::OrgId;
use aurora_core::secrets::{SecretRef, SecretStore, ensure_same_org};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{AeadCore, XChaCha20Poly1305, XNonce};
use rand::rngs::OsRng;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;
use zeroize::Zeroizing;

/// Environment variable holding the 32-byte key, base64, e.g. from `openssl rand -base64 32`.
pub const SECRET_KEY_ENV: &str = "AURORA_SECRET_KEY";

#[derive(Default, Serialize, Deserialize)]
struct SecretFile {
    version: u32,
    secrets: BTreeMap<String, Sealed>,
}

#[derive(Clone, Serialize, Deserialize)]
struct Sealed {
    nonce: String,
    ciphertext: String,
}

pub struct LocalSecretStore {
    path: PathBuf,
    cipher: XChaCha20Poly1305,
    file: Mutex<SecretFile>,
}

impl std::fmt::Debug for LocalSecretStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalSecretStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl LocalSecretStore {
    /// Opens (or starts) the store at `path`. The key comes from `env_key` when given (the
    /// value of [`SECRET_KEY_ENV`]), else from `key_file`, which is created with mode 0600 if it
    /// does not exist.
    pub fn open(
        path: PathBuf,
        env_key: Option<SecretString>,
        key_file: &Path,
    ) -> Result<Self, SecretError> {
        let key = match env_key {
            Some(value) => decode_key(value.expose_secret(), SECRET_KEY_ENV)?,
            None => load_or_create_key_file(key_file)?,
        };
        let cipher = XChaCha20Poly1305::new_from_slice(key.as_slice())
            .map_err(|_| SecretError::Key("the key must be 32 bytes".into()))?;
        let file = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|err| {
                SecretError::Unavailable(format!(
                    "{} is not a valid secret file: {err}",
                    path.display()
                ))
            })?,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => SecretFile {
                version: 1,
                ..SecretFile::default()
            },
            Err(err) => {
                return Err(SecretError::Unavailable(format!(
                    "cannot read {}: {err}",
                    path.display()
                )));
            }
        };
        Ok(Self {
            path,
            cipher,
            file: Mutex::new(file),
        })
    }

    fn persist(&self, file: &SecretFile) -> Result<(), SecretError> {
        let io = |err: std::io::Error| {
            SecretError::Unavailable(format!("cannot write {}: {err}", self.path.display()))
        };
        let bytes = serde_json::to_vec_pretty(file)
            .map_err(|err| SecretError::Unavailable(err.to_string()))?;
        let dir = self.path.parent().unwrap_or(Path::new("."));
        let tmp = self.path.with_extension("json.tmp");
        let mut out = create_private(&tmp).map_err(io)?;
        out.write_all(&bytes).map_err(io)?;
        out.sync_all().map_err(io)?;
        std::fs::rename(&tmp, &self.path).map_err(io)?;
        // Make the rename itself durable.
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io)
    }
}

#[async_trait]
impl SecretStore for LocalSecretStore {
    fn backend(&self) -> &'static str {
        "local"
    }

    async fn put(
        &self,
        org: OrgId,
        name: &str,
        value: SecretString,
    ) -> Result<SecretRef, SecretError> {
        let reference = SecretRef::new(org, name)?;
        let aad = reference.to_string();
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let ciphertext = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: value.expose_secret().as_bytes(),
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| SecretError::Unavailable("encryption failed".into()))?;
        let mut file = self.file.lock().await;
        let previous = file.secrets.insert(
            aad.clone(),
            Sealed {
                nonce: STANDARD.encode(nonce),
                ciphertext: STANDARD.encode(ciphertext),
            },
        );
        if let Err(err) = self.persist(&file) {
            // Keep memory and disk in agreement.
            match previous {
                Some(sealed) => file.secrets.insert(aad, sealed),
                None => file.secrets.remove(&aad),
            };
            return Err(err);
        }
        Ok(reference)
    }

    async fn get(&self, org: OrgId, secret: &SecretRef) -> Result<SecretString, SecretError> {
        ensure_same_org(org, secret)?;
        let aad = secret.to_string();
        let sealed = self
            .file
            .lock()
            .await
            .secrets
            .get(&aad)
            .cloned()
            .ok_or_else(|| SecretError::NotFound(aad.clone()))?;
        let decrypt_error = || SecretError::Decrypt(aad.clone());
        let nonce = STANDARD
            .decode(&sealed.nonce)
            .map_err(|_| decrypt_error())?;
        if nonce.len() != 24 {
            return Err(decrypt_error());
        }
        let ciphertext = STANDARD
            .decode(&sealed.ciphertext)
            .map_err(|_| decrypt_error())?;
        let plain = Zeroizing::new(
            self.cipher
                .decrypt(
                    XNonce::from_slice(&nonce),
                    Payload {
                        msg: &ciphertext,
                        aad: aad.as_bytes(),
                    },
                )
                .map_err(|_| decrypt_error())?,
        );
        let text = std::str::from_utf8(&plain).map_err(|_| decrypt_error())?;
        Ok(SecretString::from(text.to_owned()))
    }

    async fn delete(&self, org: OrgId, secret: &SecretRef) -> Result<(), SecretError> {
        ensure_same_org(org, secret)?;
        let mut file = self.file.lock().await;
        let key = secret.to_string();
        if let Some(sealed) = file.secrets.remove(&key)
            && let Err(err) = self.persist(&file)
        {
            file.secrets.insert(key, sealed);
            return Err(err);
        }
        Ok(())
    }
}

fn decode_key(text: &str, source: &str) -> Result<Zeroizing<Vec<u8>>, SecretError> {
    let key = Zeroizing::new(STANDARD.decode(text.trim()).map_err(|_| {
        SecretError::Key(format!(
            "{source} is not base64: generate one with `openssl rand -base64 32`"
        ))
    })?);
    if key.len() != 32 {
        return Err(SecretError::Key(format!(
            "{source} holds {} bytes, expected 32: generate one with `openssl rand -base64 32`",
            key.len()
        )));
    }
    Ok(key)
}

fn load_or_create_key_file(path: &Path) -> Result<Zeroizing<Vec<u8>>, SecretError> {
    let shown = path.display();
    match std::fs::read_to_string(path) {
        Ok(text) => {
            check_private(path)?;
            decode_key(&text, &format!("key file {shown}"))
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            let mut key = Zeroizing::new(vec![0u8; 32]);
            rand::RngCore::fill_bytes(&mut OsRng, &mut key);
            let encoded = Zeroizing::new(STANDARD.encode(&*key));
            let mut out = create_private(path).map_err(|err| {
                SecretError::Key(format!("cannot create key file {shown}: {err}"))
            })?;
            out.write_all(encoded.as_bytes())
                .and_then(|()| out.sync_all())
                .map_err(|err| SecretError::Key(format!("cannot write key file {shown}: {err}")))?;
            Ok(key)
        }
        Err(err) => Err(SecretError::Key(format!(
            "cannot read key file {shown}: {err}"
        ))),
    }
}

#[cfg(unix)]
fn create_private(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn create_private(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
}

#[cfg(unix)]
fn check_private(path: &Path) -> Result<(), SecretError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .map_err(|err| SecretError::Key(format!("cannot stat key file {}: {err}", path.display())))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(SecretError::Key(format!(
            "key file {} is readable by other users (mode {:o}): run `chmod 600 {}`",
            path.display(),
            mode & 0o777,
            path.display()
        )));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_path: &Path) -> Result<(), SecretError> {
    Ok(())
}

#[cfg(test)]
mod tests;
