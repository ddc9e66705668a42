use aurora_signals::auth::{
    sign_hmac_sha256, verify_basic, verify_bearer, verify_bearer_or_basic, verify_hmac_sha256,
    verify_pagerduty,
};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use secrecy::SecretString;
use sha2::Sha256;

fn secret(value: &str) -> SecretString {
    SecretString::from(value.to_owned())
}

fn pagerduty_signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    format!("v1={}", hex::encode(mac.finalize().into_bytes()))
}

#[test]
fn pagerduty_signatures_are_checked_against_every_current_secret() {
    let body = crate::fixture("pagerduty/incident_triggered.json");
    let current = [secret("new-secret"), secret("old-secret")];
    let valid = pagerduty_signature("new-secret", &body);
    assert_eq!(
        verify_pagerduty(&[("x-pagerduty-signature", &valid)], &body, &current),
        Ok(())
    );

    // Rotation on our side: a sender still signing with the old secret is accepted.
    let old = pagerduty_signature("old-secret", &body);
    assert_eq!(
        verify_pagerduty(&[("X-PagerDuty-Signature", &old)], &body, &current),
        Ok(())
    );

    // Rotation on PagerDuty's side: several signatures, one of which matches.
    let several = format!("{}, {}", pagerduty_signature("unknown", &body), valid);
    assert_eq!(
        verify_pagerduty(&[("X-PagerDuty-Signature", &several)], &body, &current),
        Ok(())
    );
    let with_future_version = format!("v2=abcdef, {valid}");
    assert_eq!(
        verify_pagerduty(
            &[("X-PagerDuty-Signature", &with_future_version)],
            &body,
            &current
        ),
        Ok(())
    );
}

#[test]
fn pagerduty_rejects_bad_missing_and_malformed_signatures() {
    let body = crate::fixture("pagerduty/incident_triggered.json");
    let current = [secret("new-secret")];
    let other = pagerduty_signature("retired-secret", &body);
    let err = verify_pagerduty(&[("X-PagerDuty-Signature", &other)], &body, &current).unwrap_err();
    assert_eq!(err.code(), "invalid_signature");

    let mut tampered = body.clone();
    tampered[10] ^= 1;
    let valid = pagerduty_signature("new-secret", &body);
    let err =
        verify_pagerduty(&[("X-PagerDuty-Signature", &valid)], &tampered, &current).unwrap_err();
    assert_eq!(err.code(), "invalid_signature");

    let err =
        verify_pagerduty(&[("Content-Type", "application/json")], &body, &current).unwrap_err();
    assert_eq!(err.code(), "missing_signature");
    assert!(err.to_string().contains("X-PagerDuty-Signature"));

    for malformed in ["", "sha256=abc", "v1=nothex", "v1=abcd"] {
        let err =
            verify_pagerduty(&[("X-PagerDuty-Signature", malformed)], &body, &current).unwrap_err();
        assert_eq!(err.code(), "malformed_signature", "{malformed:?}");
    }

    let err = verify_pagerduty(&[("X-PagerDuty-Signature", &valid)], &body, &[]).unwrap_err();
    assert_eq!(err.code(), "no_secret_configured");
    let err =
        verify_pagerduty(&[("X-PagerDuty-Signature", &valid)], &body, &[secret("")]).unwrap_err();
    assert_eq!(err.code(), "no_secret_configured");
}

#[test]
fn generic_hmac_signatures_round_trip_and_rotate() {
    let body = crate::fixture("generic/batch.json");
    let signature = sign_hmac_sha256(&secret("s3"), &body);
    assert!(signature.starts_with("sha256=") && signature.len() == 7 + 64);
    let headers = [("X-Aurora-Signature", signature.as_str())];
    assert_eq!(verify_hmac_sha256(&headers, &body, &[secret("s3")]), Ok(()));
    assert_eq!(
        verify_hmac_sha256(&headers, &body, &[secret("s4"), secret("s3")]),
        Ok(())
    );
    let upper = signature.to_uppercase().replace("SHA256=", "sha256=");
    assert_eq!(
        verify_hmac_sha256(&[("x-aurora-signature", &upper)], &body, &[secret("s3")]),
        Ok(())
    );

    let err = verify_hmac_sha256(&headers, &body, &[secret("s4")]).unwrap_err();
    assert_eq!(err.code(), "invalid_signature");
    let err = verify_hmac_sha256(&headers, b"{}", &[secret("s3")]).unwrap_err();
    assert_eq!(err.code(), "invalid_signature");
    let err = verify_hmac_sha256(&[], &body, &[secret("s3")]).unwrap_err();
    assert_eq!(err.code(), "missing_signature");
    // An empty secret never authenticates, even with a signature made with the empty key.
    let empty_signed = sign_hmac_sha256(&secret(""), &body);
    let err = verify_hmac_sha256(
        &[("X-Aurora-Signature", &empty_signed)],
        &body,
        &[secret(""), secret("s3")],
    )
    .unwrap_err();
    assert_eq!(err.code(), "invalid_signature");
}

#[test]
fn bearer_tokens_are_checked_with_rotation() {
    let current = [secret("token-new"), secret("token-old")];
    assert_eq!(
        verify_bearer(&[("Authorization", "Bearer token-new")], &current),
        Ok(())
    );
    assert_eq!(
        verify_bearer(&[("authorization", "bearer   token-old ")], &current),
        Ok(())
    );
    let err = verify_bearer(&[("Authorization", "Bearer token")], &current).unwrap_err();
    assert_eq!(err.code(), "invalid_credentials");
    let err = verify_bearer(&[], &current).unwrap_err();
    assert_eq!(err.code(), "missing_signature");
    let err = verify_bearer(&[("Authorization", "token-new")], &current).unwrap_err();
    assert_eq!(err.code(), "malformed_signature");
}

#[test]
fn basic_credentials_need_the_user_and_a_current_password() {
    let current = [secret("pw-new"), secret("pw-old")];
    let basic =
        |user: &str, pass: &str| format!("Basic {}", STANDARD.encode(format!("{user}:{pass}")));
    let ok = basic("alertmanager", "pw-old");
    assert_eq!(
        verify_basic(&[("Authorization", &ok)], "alertmanager", &current),
        Ok(())
    );
    assert_eq!(
        verify_bearer_or_basic(&[("Authorization", &ok)], "alertmanager", &current),
        Ok(())
    );
    assert_eq!(
        verify_bearer_or_basic(
            &[("Authorization", "Bearer pw-new")],
            "alertmanager",
            &current
        ),
        Ok(())
    );
    let wrong_user = basic("grafana", "pw-new");
    let err =
        verify_basic(&[("Authorization", &wrong_user)], "alertmanager", &current).unwrap_err();
    assert_eq!(err.code(), "invalid_credentials");
    let wrong_pass = basic("alertmanager", "pw");
    let err =
        verify_basic(&[("Authorization", &wrong_pass)], "alertmanager", &current).unwrap_err();
    assert_eq!(err.code(), "invalid_credentials");
    let err =
        verify_basic(&[("Authorization", "Basic !!!")], "alertmanager", &current).unwrap_err();
    assert_eq!(err.code(), "malformed_signature");
    let no_colon = format!("Basic {}", STANDARD.encode("alertmanager"));
    let err = verify_basic(&[("Authorization", &no_colon)], "alertmanager", &current).unwrap_err();
    assert_eq!(err.code(), "malformed_signature");
}
