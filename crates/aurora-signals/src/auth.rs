//! Authenticating deliveries: pure checks over the request headers, the body bytes as received,
//! and the source's currently valid secrets.
//!
//! Every check takes a list of secrets, so that rotating a source's secret keeps the previous
//! one valid for a grace period (the caller passes both). Every comparison runs in constant
//! time, and every secret is tried (no early exit), so timing says nothing about which secret
//! matched or how much of a guess was right.
//!
//! | scheme | header | used by |
//! |---|---|---|
//! | [`verify_pagerduty`] | `X-PagerDuty-Signature: v1=<hex HMAC-SHA256 of body>[,v1=…]` | PagerDuty v3 |
//! | [`verify_hmac_sha256`] | `X-Aurora-Signature: sha256=<hex HMAC-SHA256 of body>` | generic |
//! | [`verify_bearer`] | `Authorization: Bearer <secret>` | Alertmanager, Grafana, Datadog, Opsgenie |
//! | [`verify_basic`] | `Authorization: Basic base64(<username>:<secret>)` | Alertmanager, Grafana, Datadog |
//! | [`crate::sns`] | signature inside the body, RSA with AWS's certificate | CloudWatch via SNS |

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::{Choice, ConstantTimeEq};

use crate::error::AuthError;

pub const PAGERDUTY_SIGNATURE_HEADER: &str = "X-PagerDuty-Signature";
pub const AURORA_SIGNATURE_HEADER: &str = "X-Aurora-Signature";
pub const AUTHORIZATION_HEADER: &str = "Authorization";

/// More signatures than this in one header is not a rotation, it is an attempt to guess.
const MAX_SIGNATURES: usize = 8;

/// The value of a header, matched case-insensitively; the first one if repeated.
pub fn header<'h>(headers: &[(&str, &'h str)], name: &str) -> Option<&'h str> {
    headers
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, value)| *value)
}

/// `X-PagerDuty-Signature`: HMAC-SHA256 of the body with the subscription's secret, hex, as
/// `v1=<hex>`; PagerDuty sends several comma-separated signatures while it rotates its own
/// secret. Accepted when any `v1` signature matches any of `secrets`.
pub fn verify_pagerduty(
    headers: &[(&str, &str)],
    body: &[u8],
    secrets: &[SecretString],
) -> Result<(), AuthError> {
    verify_hmac_header(headers, body, secrets, PAGERDUTY_SIGNATURE_HEADER, "v1=")
}

/// `X-Aurora-Signature: sha256=<hex>`: HMAC-SHA256 of the exact body bytes with the source's
/// secret, lower- or upper-case hex. Several comma-separated signatures are accepted, so a
/// sender can sign with both secrets while it rotates.
pub fn verify_hmac_sha256(
    headers: &[(&str, &str)],
    body: &[u8],
    secrets: &[SecretString],
) -> Result<(), AuthError> {
    verify_hmac_header(headers, body, secrets, AURORA_SIGNATURE_HEADER, "sha256=")
}

/// The `X-Aurora-Signature` value a sender computes for `body`.
pub fn sign_hmac_sha256(secret: &SecretString, body: &[u8]) -> String {
    format!(
        "sha256={}",
        hex::encode(hmac_sha256(secret.expose_secret().as_bytes(), body))
    )
}

fn hmac_sha256(key: &[u8], body: &[u8]) -> [u8; 32] {
    // HMAC takes keys of any length, so this cannot fail; the fallback keeps it panic-free.
    match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(body);
            mac.finalize().into_bytes().into()
        }
        Err(_) => [0; 32],
    }
}

fn verify_hmac_header(
    headers: &[(&str, &str)],
    body: &[u8],
    secrets: &[SecretString],
    name: &'static str,
    prefix: &str,
) -> Result<(), AuthError> {
    let secrets = usable(secrets)?;
    let value = header(headers, name).ok_or(AuthError::MissingHeader { header: name })?;
    let mut signatures = Vec::new();
    for part in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        // Other versions may appear beside the one we know; they are not ours to judge.
        let Some(hex_sig) = part
            .get(..prefix.len())
            .filter(|p| p.eq_ignore_ascii_case(prefix))
            .map(|_| &part[prefix.len()..])
        else {
            continue;
        };
        match hex::decode(hex_sig) {
            Ok(bytes) if bytes.len() == 32 => signatures.push(bytes),
            _ => {
                return Err(AuthError::MalformedHeader {
                    header: name,
                    message: format!("expected {prefix}<64 hex digits>"),
                });
            }
        }
    }
    if signatures.is_empty() {
        return Err(AuthError::MalformedHeader {
            header: name,
            message: format!("no {prefix}<hex> signature found"),
        });
    }
    if signatures.len() > MAX_SIGNATURES {
        return Err(AuthError::MalformedHeader {
            header: name,
            message: format!("more than {MAX_SIGNATURES} signatures"),
        });
    }
    let mut matched = Choice::from(0);
    for secret in secrets.iter().filter(|s| !s.expose_secret().is_empty()) {
        let expected = hmac_sha256(secret.expose_secret().as_bytes(), body);
        for signature in &signatures {
            matched |= expected.ct_eq(signature.as_slice());
        }
    }
    if bool::from(matched) {
        Ok(())
    } else {
        Err(AuthError::InvalidSignature)
    }
}

/// `Authorization: Bearer <secret>` (scheme case-insensitive). Alertmanager's
/// `http_config.authorization.credentials` and Grafana's "Authorization header" send this.
pub fn verify_bearer(headers: &[(&str, &str)], secrets: &[SecretString]) -> Result<(), AuthError> {
    let secrets = usable(secrets)?;
    let presented = credentials(headers, "bearer")?;
    if any_matches(
        presented.as_bytes(),
        secrets.iter().map(|s| s.expose_secret().as_bytes()),
    ) {
        Ok(())
    } else {
        Err(AuthError::InvalidCredentials)
    }
}

/// `Authorization: Basic …` whose user name is `username` and whose password is one of
/// `secrets` (Alertmanager's `basic_auth`, Grafana's basic authentication, Datadog's webhook
/// auth method).
pub fn verify_basic(
    headers: &[(&str, &str)],
    username: &str,
    secrets: &[SecretString],
) -> Result<(), AuthError> {
    let secrets = usable(secrets)?;
    let encoded = credentials(headers, "basic")?;
    let decoded = STANDARD
        .decode(encoded)
        .map_err(|_| AuthError::MalformedHeader {
            header: AUTHORIZATION_HEADER,
            message: "Basic credentials are not base64".to_owned(),
        })?;
    let Some(colon) = decoded.iter().position(|b| *b == b':') else {
        return Err(AuthError::MalformedHeader {
            header: AUTHORIZATION_HEADER,
            message: "Basic credentials are not user:password".to_owned(),
        });
    };
    let (user, password) = (&decoded[..colon], &decoded[colon + 1..]);
    let user_ok = digest(user).ct_eq(&digest(username.as_bytes()));
    let password_ok = matches_choice(
        password,
        secrets.iter().map(|s| s.expose_secret().as_bytes()),
    );
    if bool::from(user_ok & password_ok) {
        Ok(())
    } else {
        Err(AuthError::InvalidCredentials)
    }
}

/// Either of the two `Authorization` schemes, whichever the request uses.
pub fn verify_bearer_or_basic(
    headers: &[(&str, &str)],
    username: &str,
    secrets: &[SecretString],
) -> Result<(), AuthError> {
    let is_basic = header(headers, AUTHORIZATION_HEADER)
        .and_then(|v| v.trim_start().get(..6))
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("basic "));
    if is_basic {
        verify_basic(headers, username, secrets)
    } else {
        verify_bearer(headers, secrets)
    }
}

fn usable(secrets: &[SecretString]) -> Result<&[SecretString], AuthError> {
    if secrets.iter().any(|s| !s.expose_secret().is_empty()) {
        Ok(secrets)
    } else {
        Err(AuthError::NoSecretConfigured)
    }
}

fn credentials<'h>(headers: &[(&str, &'h str)], scheme: &str) -> Result<&'h str, AuthError> {
    let value = header(headers, AUTHORIZATION_HEADER)
        .ok_or(AuthError::MissingHeader {
            header: AUTHORIZATION_HEADER,
        })?
        .trim();
    match value.split_once(' ') {
        Some((given, rest)) if given.eq_ignore_ascii_case(scheme) && !rest.trim().is_empty() => {
            Ok(rest.trim())
        }
        _ => Err(AuthError::MalformedHeader {
            header: AUTHORIZATION_HEADER,
            message: format!("expected the {scheme} scheme"),
        }),
    }
}

/// Comparing digests keeps the comparison constant-time regardless of the lengths involved.
fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

fn matches_choice<'s>(presented: &[u8], secrets: impl Iterator<Item = &'s [u8]>) -> Choice {
    let presented = digest(presented);
    let mut matched = Choice::from(0);
    for secret in secrets.filter(|s| !s.is_empty()) {
        matched |= presented.ct_eq(&digest(secret));
    }
    matched
}

fn any_matches<'s>(presented: &[u8], secrets: impl Iterator<Item = &'s [u8]>) -> bool {
    bool::from(matches_choice(presented, secrets))
}
