use aurora_signals::sns::{
    SnsMessage, validate_signing_cert_url, validate_subscribe_url, verify_signature,
};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rsa::RsaPrivateKey;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::DecodePrivateKey;
use rsa::signature::{SignatureEncoding, Signer};

fn private_key() -> RsaPrivateKey {
    let pem = String::from_utf8(crate::fixture("sns/test-signing-key.pem")).unwrap();
    RsaPrivateKey::from_pkcs8_pem(&pem).unwrap()
}

fn certificate() -> Vec<u8> {
    crate::fixture("sns/test-signing-cert.pem")
}

fn signed(path: &str, version: &str) -> SnsMessage {
    let mut message = SnsMessage::parse(&crate::fixture(path)).unwrap();
    message.signature_version = version.to_owned();
    let text = message.string_to_sign().unwrap();
    let signature = match version {
        "1" => SigningKey::<sha1::Sha1>::new(private_key())
            .sign(text.as_bytes())
            .to_vec(),
        _ => SigningKey::<sha2::Sha256>::new(private_key())
            .sign(text.as_bytes())
            .to_vec(),
    };
    message.signature = STANDARD.encode(signature);
    message
}

#[test]
fn the_string_to_sign_follows_the_message_type() {
    let notification = SnsMessage::parse(&crate::fixture("cloudwatch/alarm.json")).unwrap();
    let text = notification.string_to_sign().unwrap();
    let names: Vec<&str> = text.lines().step_by(2).collect();
    // The alarm JSON has no newlines, so every other line is a field name.
    assert_eq!(
        names,
        [
            "Message",
            "MessageId",
            "Subject",
            "Timestamp",
            "TopicArn",
            "Type"
        ]
    );
    assert!(text.ends_with("Type\nNotification\n"));

    let mut without_subject = notification.clone();
    without_subject.subject = None;
    assert!(
        !without_subject
            .string_to_sign()
            .unwrap()
            .contains("Subject\n")
    );

    let confirmation =
        SnsMessage::parse(&crate::fixture("cloudwatch/subscription_confirmation.json")).unwrap();
    let text = confirmation.string_to_sign().unwrap();
    let expected = format!(
        "Message\n{}\nMessageId\n{}\nSubscribeURL\n{}\nTimestamp\n{}\nToken\n{}\nTopicArn\n{}\nType\nSubscriptionConfirmation\n",
        confirmation.message,
        confirmation.message_id,
        confirmation.subscribe_url.as_deref().unwrap(),
        confirmation.timestamp,
        confirmation.token.as_deref().unwrap(),
        confirmation.topic_arn,
    );
    assert_eq!(text, expected);
}

#[test]
fn signatures_version_1_and_2_verify() {
    for version in ["1", "2"] {
        for path in [
            "cloudwatch/alarm.json",
            "cloudwatch/subscription_confirmation.json",
        ] {
            let message = signed(path, version);
            assert_eq!(
                verify_signature(&message, &certificate()),
                Ok(()),
                "{path} v{version}"
            );
        }
    }
}

#[test]
fn tampered_or_mislabelled_messages_fail() {
    let mut message = signed("cloudwatch/alarm.json", "1");
    message.message = message.message.replace("ALARM", "OK");
    assert_eq!(
        verify_signature(&message, &certificate())
            .unwrap_err()
            .code(),
        "invalid_signature"
    );

    // A SHA-256 signature presented as version 1 does not verify.
    let mut message = signed("cloudwatch/alarm.json", "2");
    message.signature_version = "1".to_owned();
    assert_eq!(
        verify_signature(&message, &certificate())
            .unwrap_err()
            .code(),
        "invalid_signature"
    );

    let mut message = signed("cloudwatch/alarm.json", "2");
    message.signature_version = "3".to_owned();
    assert_eq!(
        verify_signature(&message, &certificate())
            .unwrap_err()
            .code(),
        "unsupported_signature_version"
    );

    let mut message = signed("cloudwatch/alarm.json", "2");
    message.signature = "not base64!".to_owned();
    assert_eq!(
        verify_signature(&message, &certificate())
            .unwrap_err()
            .code(),
        "invalid_sns_message"
    );

    let message = signed("cloudwatch/alarm.json", "2");
    let err = verify_signature(
        &message,
        b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    )
    .unwrap_err();
    assert_eq!(err.code(), "invalid_certificate");
}

#[test]
fn only_sns_hosts_may_serve_the_certificate() {
    for good in [
        "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-01d088a6f77103d0fe307c0069e40ed6.pem",
        "https://sns.eu-central-2.amazonaws.com/SimpleNotificationService-abc.pem",
        "https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-abc.pem",
        "HTTPS://SNS.US-EAST-1.AMAZONAWS.COM/x.pem",
    ] {
        assert_eq!(validate_signing_cert_url(good), Ok(()), "{good}");
    }
    for bad in [
        "http://sns.us-east-1.amazonaws.com/cert.pem",
        "https://sns.us-east-1.amazonaws.com.evil.example/cert.pem",
        "https://evil.example/sns.us-east-1.amazonaws.com/cert.pem",
        "https://sns.us-east-1.amazonaws.com@evil.example/cert.pem",
        "https://sns.us-east-1.amazonaws.com:8443/cert.pem",
        "https://s3.us-east-1.amazonaws.com/cert.pem",
        "https://sns..amazonaws.com/cert.pem",
        "https://sns.us_east.amazonaws.com/cert.pem",
        "https://sns.us-east-1.amazonaws.com/cert.pem?x=1",
        "https://sns.us-east-1.amazonaws.com/cert.txt",
        "https://sns.us-east-1.amazonaws.com",
        "https://sns.us-east-1.amazonaws.com\\@evil.example/cert.pem",
        "",
    ] {
        let err = validate_signing_cert_url(bad).unwrap_err();
        assert_eq!(err.code(), "untrusted_certificate_url", "{bad}");
    }
    assert_eq!(
        validate_subscribe_url(
            "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&Token=x"
        ),
        Ok(())
    );
    assert!(
        validate_subscribe_url("https://attacker.example/?Action=ConfirmSubscription").is_err()
    );
}
