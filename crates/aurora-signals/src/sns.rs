//! Amazon SNS HTTP(S) deliveries: the message envelope, and everything needed to check its
//! signature without IO.
//!
//! Follows "Parsing message formats" / "HTTP/HTTPS notification JSON format" /
//! "HTTP/HTTPS subscription confirmation JSON format" and "Verifying the signatures of Amazon
//! SNS messages" in the Amazon SNS developer guide
//! (<https://docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message.html>).
//!
//! Verifying a message takes three steps, two of them here:
//! 1. [`validate_signing_cert_url`]: the certificate URL must be `https` on an
//!    `sns.<region>.amazonaws.com` host (or `.amazonaws.com.cn`), so an attacker cannot point at
//!    a certificate of their own.
//! 2. The caller fetches the PEM certificate from that URL (and should cache it by URL).
//! 3. [`verify_signature`]: RSA PKCS#1 v1.5 over [`SnsMessage::string_to_sign`], with SHA-1 for
//!    `SignatureVersion` 1 and SHA-256 for 2.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rsa::RsaPublicKey;
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::pkcs8::DecodePublicKey;
use rsa::signature::Verifier;
use serde_json::Value;
use x509_cert::Certificate;
use x509_cert::der::{DecodePem, Encode};

use crate::error::{AuthError, ParseError};
use crate::json::{self, Obj};

/// The `Type` of an SNS message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SnsMessageType {
    Notification,
    SubscriptionConfirmation,
    UnsubscribeConfirmation,
}

impl SnsMessageType {
    pub fn as_str(self) -> &'static str {
        match self {
            SnsMessageType::Notification => "Notification",
            SnsMessageType::SubscriptionConfirmation => "SubscriptionConfirmation",
            SnsMessageType::UnsubscribeConfirmation => "UnsubscribeConfirmation",
        }
    }
}

/// An SNS message as posted to an HTTP(S) subscriber.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnsMessage {
    pub message_type: SnsMessageType,
    pub message_id: String,
    pub topic_arn: String,
    /// Notifications only, and only when the publisher set one.
    pub subject: Option<String>,
    pub message: String,
    pub timestamp: String,
    pub signature_version: String,
    pub signature: String,
    pub signing_cert_url: String,
    /// Subscription and unsubscribe confirmations only.
    pub subscribe_url: Option<String>,
    /// Subscription and unsubscribe confirmations only.
    pub token: Option<String>,
    pub unsubscribe_url: Option<String>,
}

impl SnsMessage {
    /// Reads the envelope from a delivery body.
    pub fn parse(body: &[u8]) -> Result<Self, ParseError> {
        Self::from_value(&json::parse_body(body)?)
    }

    pub(crate) fn from_value(doc: &Value) -> Result<Self, ParseError> {
        let obj = Obj::new(doc, "")?;
        let message_type = match obj.req_str("Type")? {
            "Notification" => SnsMessageType::Notification,
            "SubscriptionConfirmation" => SnsMessageType::SubscriptionConfirmation,
            "UnsubscribeConfirmation" => SnsMessageType::UnsubscribeConfirmation,
            other => {
                return Err(ParseError::unsupported(format!(
                    "SNS message Type {other:?}; expected Notification, SubscriptionConfirmation \
                     or UnsubscribeConfirmation"
                )));
            }
        };
        // Message is signed as sent, so it is read without trimming or blank-skipping.
        let raw_str = |key: &str| -> Result<Option<String>, ParseError> {
            match obj.get(key) {
                None => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(other) => Err(ParseError::WrongType {
                    path: key.to_owned(),
                    expected: "a string",
                    found: json::kind_of(other),
                }),
            }
        };
        let required = |key: &str| -> Result<String, ParseError> {
            raw_str(key)?.ok_or_else(|| ParseError::MissingField {
                path: key.to_owned(),
            })
        };
        let message = SnsMessage {
            message_type,
            message_id: required("MessageId")?,
            topic_arn: required("TopicArn")?,
            subject: raw_str("Subject")?,
            message: required("Message")?,
            timestamp: required("Timestamp")?,
            signature_version: obj.opt_text("SignatureVersion")?.unwrap_or_default(),
            signature: raw_str("Signature")?.unwrap_or_default(),
            signing_cert_url: raw_str("SigningCertURL")?.unwrap_or_default(),
            subscribe_url: raw_str("SubscribeURL")?,
            token: raw_str("Token")?,
            unsubscribe_url: raw_str("UnsubscribeURL")?,
        };
        if message_type == SnsMessageType::SubscriptionConfirmation {
            if message.subscribe_url.is_none() {
                return Err(ParseError::MissingField {
                    path: "SubscribeURL".to_owned(),
                });
            }
            if message.token.is_none() {
                return Err(ParseError::MissingField {
                    path: "Token".to_owned(),
                });
            }
        }
        Ok(message)
    }

    /// The canonical text SNS signs: selected fields as `Name\nvalue\n` pairs in byte order of
    /// their names.
    ///
    /// - `Notification`: `Message`, `MessageId`, `Subject` (only if present), `Timestamp`,
    ///   `TopicArn`, `Type`.
    /// - `SubscriptionConfirmation` and `UnsubscribeConfirmation`: `Message`, `MessageId`,
    ///   `SubscribeURL`, `Timestamp`, `Token`, `TopicArn`, `Type`.
    pub fn string_to_sign(&self) -> Result<String, AuthError> {
        let mut out = String::with_capacity(self.message.len() + 512);
        let mut push = |name: &str, value: &str| {
            out.push_str(name);
            out.push('\n');
            out.push_str(value);
            out.push('\n');
        };
        push("Message", &self.message);
        push("MessageId", &self.message_id);
        match self.message_type {
            SnsMessageType::Notification => {
                if let Some(subject) = &self.subject {
                    push("Subject", subject);
                }
                push("Timestamp", &self.timestamp);
            }
            SnsMessageType::SubscriptionConfirmation | SnsMessageType::UnsubscribeConfirmation => {
                let missing = |field: &str| {
                    AuthError::InvalidMessage(format!(
                        "{} without {field}",
                        self.message_type.as_str()
                    ))
                };
                push(
                    "SubscribeURL",
                    self.subscribe_url
                        .as_deref()
                        .ok_or_else(|| missing("SubscribeURL"))?,
                );
                push("Timestamp", &self.timestamp);
                push(
                    "Token",
                    self.token.as_deref().ok_or_else(|| missing("Token"))?,
                );
            }
        }
        push("TopicArn", &self.topic_arn);
        push("Type", self.message_type.as_str());
        Ok(out)
    }
}

/// Checks that a `SigningCertURL` may be fetched: `https`, no credentials or port, a host of the
/// form `sns.<region>.amazonaws.com` (or `sns.<region>.amazonaws.com.cn`), and a path to a
/// `.pem` file with no query or fragment.
pub fn validate_signing_cert_url(url: &str) -> Result<(), AuthError> {
    check_sns_url(url, true).map_err(|reason| AuthError::UntrustedCertificateUrl {
        url: url.to_owned(),
        reason,
    })
}

/// Checks that a `SubscribeURL` points at SNS itself (same host rules as the certificate URL)
/// before the server fetches it to confirm a subscription.
pub fn validate_subscribe_url(url: &str) -> Result<(), AuthError> {
    check_sns_url(url, false).map_err(|reason| AuthError::UntrustedCertificateUrl {
        url: url.to_owned(),
        reason,
    })
}

fn check_sns_url(url: &str, certificate: bool) -> Result<(), &'static str> {
    if url
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '\\')
    {
        return Err("it contains whitespace, control characters or backslashes");
    }
    let rest = url
        .get(..8)
        .filter(|scheme| scheme.eq_ignore_ascii_case("https://"))
        .map(|_| &url[8..])
        .ok_or("it must use https")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    if authority.contains('@') {
        return Err("it must not carry credentials");
    }
    if authority.contains(':') {
        return Err("it must not name a port");
    }
    let host = authority.to_ascii_lowercase();
    let labels: Vec<&str> = host.split('.').collect();
    let region_ok = |region: &str| {
        !region.is_empty()
            && region
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    };
    let trusted = match labels.as_slice() {
        ["sns", region, "amazonaws", "com"] | ["sns", region, "amazonaws", "com", "cn"] => {
            region_ok(region)
        }
        _ => false,
    };
    if !trusted {
        return Err("its host is not sns.<region>.amazonaws.com");
    }
    if certificate {
        if path.contains(['?', '#']) {
            return Err("a certificate URL must not have a query or fragment");
        }
        if !path.starts_with('/') || !path.ends_with(".pem") {
            return Err("a certificate URL must name a .pem file");
        }
    }
    Ok(())
}

/// Verifies the message's `Signature` against the signing certificate (PEM, as fetched from
/// `SigningCertURL`): SHA1withRSA for `SignatureVersion` 1, SHA256withRSA for 2. The caller must
/// have checked the URL with [`validate_signing_cert_url`] before fetching.
pub fn verify_signature(message: &SnsMessage, certificate_pem: &[u8]) -> Result<(), AuthError> {
    let version = message.signature_version.trim();
    if version != "1" && version != "2" {
        return Err(AuthError::UnsupportedSignatureVersion(
            message.signature_version.clone(),
        ));
    }
    if message.signature.is_empty() {
        return Err(AuthError::InvalidMessage(
            "message has no Signature".to_owned(),
        ));
    }
    let key = public_key(certificate_pem)?;
    let signature_bytes = STANDARD
        .decode(message.signature.trim())
        .map_err(|err| AuthError::InvalidMessage(format!("Signature is not base64: {err}")))?;
    let signature =
        Signature::try_from(signature_bytes.as_slice()).map_err(|_| AuthError::InvalidSignature)?;
    let signed = message.string_to_sign()?;
    let verified = if version == "1" {
        VerifyingKey::<sha1::Sha1>::new(key).verify(signed.as_bytes(), &signature)
    } else {
        VerifyingKey::<sha2::Sha256>::new(key).verify(signed.as_bytes(), &signature)
    };
    verified.map_err(|_| AuthError::InvalidSignature)
}

fn public_key(certificate_pem: &[u8]) -> Result<RsaPublicKey, AuthError> {
    let certificate = Certificate::from_pem(certificate_pem).map_err(|err| {
        AuthError::InvalidCertificate(format!("not a PEM X.509 certificate: {err}"))
    })?;
    let spki = certificate
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .map_err(|err| AuthError::InvalidCertificate(err.to_string()))?;
    RsaPublicKey::from_public_key_der(&spki)
        .map_err(|err| AuthError::InvalidCertificate(format!("not an RSA public key: {err}")))
}
