//! AWS CloudWatch alarms delivered by an SNS HTTPS subscription: the SNS envelope
//! ([`crate::sns`]) whose `Message` is the alarm's state change as JSON (`AlarmName`,
//! `AlarmArn`, `NewStateValue`, `NewStateReason`, `StateChangeTime`, `Trigger`, …).
//!
//! Follows "Using Amazon SNS notifications with CloudWatch alarms" in the CloudWatch user guide
//! (<https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/Notify_Users_Alarm_Changes.html>)
//! and the SNS HTTP(S) JSON formats. A `SubscriptionConfirmation` becomes
//! [`Delivery::SnsSubscriptionConfirmation`]; an `UnsubscribeConfirmation` is ignored.
//!
//! `ALARM` fires (high), `INSUFFICIENT_DATA` fires (info), `OK` resolves. Identity: `AlarmArn`.

use std::collections::BTreeMap;

use aurora_core::alert::{Alert, AlertStatus, Fingerprint, Severity, SourceKind};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::delivery::{Delivery, ParseOptions, SnsConfirmation, finish};
use crate::error::ParseError;
use crate::json::{self, Obj};
use crate::sns::{SnsMessage, SnsMessageType};

/// Reads an SNS delivery carrying a CloudWatch alarm (or the subscription handshake).
pub fn parse(body: &[u8], opts: &ParseOptions) -> Result<Delivery, ParseError> {
    let doc = json::parse_body(body)?;
    let envelope = SnsMessage::from_value(&doc)?;
    match envelope.message_type {
        SnsMessageType::SubscriptionConfirmation => {
            Ok(Delivery::SnsSubscriptionConfirmation(SnsConfirmation {
                topic_arn: envelope.topic_arn,
                message_id: envelope.message_id,
                subscribe_url: envelope.subscribe_url.unwrap_or_default(),
                token: envelope.token.unwrap_or_default(),
            }))
        }
        SnsMessageType::UnsubscribeConfirmation => Ok(Delivery::Ignored {
            reason: format!("SNS unsubscribe confirmation for {}", envelope.topic_arn),
        }),
        SnsMessageType::Notification => {
            let alarm: Value = serde_json::from_str(&envelope.message).map_err(|err| {
                ParseError::unsupported(format!(
                    "SNS Message is not a CloudWatch alarm (not JSON: {err}); publish alarm state \
                     changes to this topic"
                ))
            })?;
            let alert = read_alarm(alarm, &envelope, opts)?;
            Ok(Delivery::Alerts(vec![finish(alert, opts)]))
        }
    }
}

fn read_alarm(
    alarm: Value,
    envelope: &SnsMessage,
    opts: &ParseOptions,
) -> Result<Alert, ParseError> {
    let obj = Obj::new(&alarm, "Message")?;
    let name = obj.req_str("AlarmName")?;
    let arn = obj.opt_str("AlarmArn")?;
    let account = obj.opt_text("AWSAccountId")?;
    let state = obj.req_str("NewStateValue")?;
    let (status, severity) = match state {
        "ALARM" => (AlertStatus::Firing, Severity::High),
        "INSUFFICIENT_DATA" => (AlertStatus::Firing, Severity::Info),
        "OK" => (AlertStatus::Resolved, Severity::High),
        other => {
            return Err(ParseError::invalid(
                obj.path_of("NewStateValue"),
                format!("{other:?} is not ALARM, OK or INSUFFICIENT_DATA"),
            ));
        }
    };
    let fingerprint = arn
        .and_then(Fingerprint::from_identity)
        .or_else(|| Fingerprint::from_parts([account.as_deref().unwrap_or(""), name]))
        .ok_or_else(|| ParseError::MissingField {
            path: obj.path_of("AlarmArn"),
        })?;

    let arn_parts = arn
        .map(|arn| arn.split(':').collect::<Vec<_>>())
        .unwrap_or_default();
    let partition = arn_parts.get(1).copied().filter(|p| !p.is_empty());
    let region = arn_parts.get(3).copied().filter(|r| !r.is_empty());

    let mut labels = BTreeMap::new();
    labels.insert("alarm_name".to_owned(), name.to_owned());
    if let Some(account) = &account {
        labels.insert("account_id".to_owned(), account.clone());
    }
    if let Some(region) = region {
        labels.insert("region".to_owned(), region.to_owned());
    }
    if let Some(trigger) = obj.opt_obj("Trigger")? {
        if let Some(namespace) = trigger.opt_str("Namespace")? {
            labels.insert("metric_namespace".to_owned(), namespace.to_owned());
        }
        if let Some(metric) = trigger.opt_str("MetricName")? {
            labels.insert("metric_name".to_owned(), metric.to_owned());
        }
        for dimension in trigger.opt_array("Dimensions")?.into_iter().flatten() {
            let name = dimension.get("name").and_then(Value::as_str);
            let value = dimension.get("value").and_then(json::value_text);
            if let (Some(name), Some(value)) = (name, value) {
                labels.entry(name.to_owned()).or_insert(value);
            }
        }
    }

    let mut annotations = BTreeMap::new();
    annotations.insert("state".to_owned(), state.to_owned());
    for (field, key) in [
        ("NewStateReason", "state_reason"),
        ("OldStateValue", "previous_state"),
        ("Region", "region_name"),
    ] {
        if let Some(value) = obj.opt_str(field)? {
            annotations.insert(key.to_owned(), value.to_owned());
        }
    }
    if let Some(subject) = &envelope.subject {
        annotations.insert("sns_subject".to_owned(), subject.clone());
    }

    let changed_at = match obj.opt_str("StateChangeTime")? {
        Some(text) => Some(parse_aws_time(text).ok_or_else(|| {
            ParseError::invalid(
                obj.path_of("StateChangeTime"),
                "expected a time like 2021-03-16T14:34:50.285+0000",
            )
        })?),
        None => OffsetDateTime::parse(&envelope.timestamp, &Rfc3339).ok(),
    }
    .unwrap_or(opts.received_at);
    let link = region.map(|region| console_link(partition.unwrap_or("aws"), region, name));
    let description = obj
        .opt_str("AlarmDescription")?
        .unwrap_or_default()
        .to_owned();
    let title = name.to_owned();

    Ok(Alert {
        source_kind: SourceKind::Cloudwatch,
        fingerprint,
        status,
        severity,
        title,
        description,
        labels,
        annotations,
        service: None,
        environment: None,
        starts_at: changed_at,
        ends_at: (status == AlertStatus::Resolved).then_some(changed_at),
        link,
        raw: alarm,
    })
}

/// CloudWatch writes `StateChangeTime` with a `+0000` offset, which RFC 3339 spells `+00:00`.
fn parse_aws_time(text: &str) -> Option<OffsetDateTime> {
    let text = text.trim();
    if let Ok(at) = OffsetDateTime::parse(text, &Rfc3339) {
        return Some(at);
    }
    let split = text.len().checked_sub(5)?;
    let (head, offset) = (text.get(..split)?, text.get(split..)?);
    let bytes = offset.as_bytes();
    if matches!(bytes[0], b'+' | b'-') && bytes[1..].iter().all(u8::is_ascii_digit) {
        let fixed = format!("{head}{}:{}", &offset[..3], &offset[3..]);
        OffsetDateTime::parse(&fixed, &Rfc3339).ok()
    } else {
        None
    }
}

fn console_link(partition: &str, region: &str, alarm: &str) -> String {
    let host = match partition {
        "aws-cn" => "console.amazonaws.cn",
        "aws-us-gov" => "console.amazonaws-us-gov.com",
        _ => "console.aws.amazon.com",
    };
    let region = percent_encode(region);
    let alarm = percent_encode(alarm);
    format!("https://{host}/cloudwatch/home?region={region}#alarmsV2:alarm/{alarm}")
}

fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests;
