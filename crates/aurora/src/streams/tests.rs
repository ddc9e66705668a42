use aurora_core::StoreError;
use aurora_core::alert::SourceKind;
use aurora_core::source::IngestOutcome;
use aurora_server::signals::SignalError;

use super::{Disposition, MISCONFIGURED_DELAY, RETRY_DELAY, StreamsConfig};

#[test]
fn committed_messages_are_acked_unreadable_ones_terminated_and_store_failures_retried() {
    assert_eq!(
        Disposition::of(&Ok(IngestOutcome::default())),
        Disposition::Ack
    );
    let replayed = IngestOutcome {
        replayed: true,
        ..IngestOutcome::default()
    };
    assert_eq!(Disposition::of(&Ok(replayed)), Disposition::Ack);
    for unreadable in [
        SignalError::Invalid("unknown source kind".into()),
        SignalError::NotImplemented(SourceKind::Cloudwatch),
    ] {
        assert_eq!(Disposition::of(&Err(unreadable)), Disposition::Terminate);
    }
    assert_eq!(
        Disposition::of(&Err(SignalError::Store(StoreError::Unavailable(
            "pool timed out".into()
        )))),
        Disposition::Retry(RETRY_DELAY)
    );
    assert_eq!(
        Disposition::of(&Err(SignalError::UnknownSource)),
        Disposition::Retry(MISCONFIGURED_DELAY)
    );
}

#[test]
fn no_stream_is_configured_by_default() {
    let config = StreamsConfig::default();
    assert!(config.consumers().is_empty());
    assert!(config.problems().is_empty());
}

#[test]
fn a_nats_stream_needs_a_source_id_and_nats_names() {
    let config: StreamsConfig = toml::from_str(
        r#"
        [nats]
        url = "nats://127.0.0.1:4222"
        stream = "ALERTS.prod"
        source = "not-an-id"
        "#,
    )
    .unwrap();
    let nats = config.nats.as_ref().unwrap();
    assert_eq!(nats.subject, "aurora.alerts.>");
    assert_eq!(nats.durable, "aurora");
    let problems = config.problems().join("\n");
    assert!(problems.contains("streams.nats.source"), "{problems}");
    assert!(problems.contains("streams.nats.stream"), "{problems}");
    assert_eq!(config.consumers().len(), 1);

    let ok = super::nats::NatsConfig {
        source: aurora_core::ids::SourceId::new().to_string(),
        ..Default::default()
    };
    assert!(ok.problems().is_empty(), "{:?}", ok.problems());
}
