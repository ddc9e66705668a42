use aurora_core::alert::{AlertStatus, Severity, SourceKind};
use aurora_signals::Delivery;
use time::macros::datetime;

use crate::{alerts, assert_well_formed, fixture};

#[test]
fn an_alarm_notification_fires() {
    let alert = &alerts(SourceKind::Cloudwatch, "cloudwatch/alarm.json")[0];
    assert_well_formed(alert);
    assert_eq!(alert.status, AlertStatus::Firing);
    assert_eq!(alert.severity, Severity::High);
    assert_eq!(
        alert.fingerprint.as_str(),
        "arn:aws:cloudwatch:us-east-1:123456789012:alarm:web-cpu-high"
    );
    assert_eq!(alert.title, "web-cpu-high");
    assert_eq!(alert.description, "CPU above 80% on the web tier");
    assert_eq!(alert.labels["region"], "us-east-1");
    assert_eq!(alert.labels["AutoScalingGroupName"], "web-asg");
    assert_eq!(alert.labels["metric_namespace"], "AWS/EC2");
    assert!(alert.annotations["state_reason"].starts_with("Threshold Crossed"));
    assert_eq!(alert.starts_at, datetime!(2026-05-04 10:00:00.285 UTC));
    assert_eq!(
        alert.link.as_deref(),
        Some(
            "https://console.aws.amazon.com/cloudwatch/home?region=us-east-1#alarmsV2:alarm/web-cpu-high"
        )
    );
    assert_eq!(alert.raw["NewStateValue"], "ALARM");
}

#[test]
fn an_ok_notification_resolves_the_same_alarm() {
    let firing = &alerts(SourceKind::Cloudwatch, "cloudwatch/alarm.json")[0];
    let ok = &alerts(SourceKind::Cloudwatch, "cloudwatch/ok.json")[0];
    assert_eq!(ok.status, AlertStatus::Resolved);
    assert_eq!(ok.fingerprint, firing.fingerprint);
    assert_eq!(ok.ends_at, Some(datetime!(2026-05-04 10:20:00.285 UTC)));
}

#[test]
fn a_subscription_confirmation_carries_the_subscribe_url() {
    match crate::parse(
        SourceKind::Cloudwatch,
        &fixture("cloudwatch/subscription_confirmation.json"),
    ) {
        Delivery::SnsSubscriptionConfirmation(confirmation) => {
            assert_eq!(
                confirmation.topic_arn,
                "arn:aws:sns:us-east-1:123456789012:aurora-alarms"
            );
            assert!(
                confirmation
                    .subscribe_url
                    .contains("Action=ConfirmSubscription")
            );
            assert!(confirmation.token.starts_with("2336412f"));
            aurora_signals::sns::validate_subscribe_url(&confirmation.subscribe_url).unwrap();
        }
        other => panic!("expected a confirmation, got {other:?}"),
    }
}

#[test]
fn insufficient_data_fires_as_info_and_unsubscribes_are_ignored() {
    let body = String::from_utf8(fixture("cloudwatch/alarm.json"))
        .unwrap()
        .replace(
            r#"\"NewStateValue\":\"ALARM\""#,
            r#"\"NewStateValue\":\"INSUFFICIENT_DATA\""#,
        );
    let alert = &crate::parse(SourceKind::Cloudwatch, body.as_bytes()).into_alerts()[0];
    assert_eq!(
        (alert.status, alert.severity),
        (AlertStatus::Firing, Severity::Info)
    );

    let body = String::from_utf8(fixture("cloudwatch/subscription_confirmation.json"))
        .unwrap()
        .replace(
            "\"SubscriptionConfirmation\"",
            "\"UnsubscribeConfirmation\"",
        );
    assert!(matches!(
        crate::parse(SourceKind::Cloudwatch, body.as_bytes()),
        Delivery::Ignored { .. }
    ));
}

#[test]
fn a_notification_that_is_not_an_alarm_is_unsupported() {
    let body = br#"{"Type":"Notification","MessageId":"1","TopicArn":"t","Message":"hello","Timestamp":"2026-01-01T00:00:00Z"}"#;
    let err = aurora_signals::parse(SourceKind::Cloudwatch, body, &crate::options()).unwrap_err();
    assert_eq!(err.code(), "unsupported_payload");
    let body = br#"{"Type":"Notification","MessageId":"1","TopicArn":"t","Message":"{\"AlarmName\":\"a\"}","Timestamp":"2026-01-01T00:00:00Z"}"#;
    let err = aurora_signals::parse(SourceKind::Cloudwatch, body, &crate::options()).unwrap_err();
    assert_eq!(err.code(), "missing_field");
    assert_eq!(err.path(), Some("Message.NewStateValue"));
}
