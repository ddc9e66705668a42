use super::*;

#[test]
fn statuses_round_trip_and_reject_unknown_words() {
    for status in IncidentStatus::ALL {
        assert_eq!(status.as_str().parse::<IncidentStatus>().unwrap(), status);
    }
    assert_eq!(
        " Resolved ".parse::<IncidentStatus>().unwrap(),
        IncidentStatus::Resolved
    );
    assert!("closed".parse::<IncidentStatus>().is_err());
    assert!(!IncidentStatus::Resolved.is_active());
    assert!(IncidentStatus::Mitigated.is_active());
}

#[test]
fn actors_round_trip_as_text() {
    let user = Actor::User(UserId::new());
    let source = Actor::Source(SourceId::new());
    for actor in [user, source, Actor::System] {
        assert_eq!(actor.to_string().parse::<Actor>().unwrap(), actor);
    }
    assert!("user:nope".parse::<Actor>().is_err());
    assert!("robot".parse::<Actor>().is_err());
}

#[test]
fn event_kinds_round_trip() {
    for kind in EventKind::ALL {
        assert_eq!(kind.as_str().parse::<EventKind>().unwrap(), kind);
    }
}

#[test]
fn cursors_round_trip_and_reject_garbage() {
    let cursor = IncidentCursor {
        at_ms: 1_777_000_000_123,
        id: IncidentId::new(),
    };
    assert_eq!(
        cursor.to_string().parse::<IncidentCursor>().unwrap(),
        cursor
    );
    for bad in ["", "12", "x.y", "12.not-a-uuid"] {
        assert!(bad.parse::<IncidentCursor>().is_err(), "{bad}");
    }
}

#[test]
fn page_size_is_bounded() {
    let mut filter = IncidentFilter::default();
    assert_eq!(filter.page_size(), IncidentFilter::DEFAULT_LIMIT);
    filter.limit = 10_000;
    assert_eq!(filter.page_size(), IncidentFilter::MAX_LIMIT);
    filter.limit = 3;
    assert_eq!(filter.page_size(), 3);
}
