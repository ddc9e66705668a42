use super::*;

const NOW: f64 = 1_700_000_000.0;

#[test]
fn parses_times() {
    assert_eq!(parse_time("now", NOW), Ok(NOW));
    assert_eq!(parse_time("-1h", NOW), Ok(NOW - 3600.0));
    assert_eq!(parse_time("now-30m", NOW), Ok(NOW - 1800.0));
    assert_eq!(parse_time("now+5m", NOW), Ok(NOW + 300.0));
    assert_eq!(parse_time("1699990000", NOW), Ok(1_699_990_000.0));
    assert_eq!(parse_time("1699990000.5", NOW), Ok(1_699_990_000.5));
    assert_eq!(parse_time("2023-11-14T22:13:20Z", NOW), Ok(1_700_000_000.0));
    assert_eq!(
        parse_time("2023-11-14T23:13:20+01:00", NOW),
        Ok(1_700_000_000.0)
    );
    let err = parse_time("yesterday", NOW).unwrap_err();
    assert!(err.contains("RFC 3339"), "{err}");
    assert!(parse_time("-1x", NOW).is_err());
    assert!(parse_time("NaN", NOW).is_err());
}

#[test]
fn parses_durations() {
    assert_eq!(parse_duration("15"), Ok(15.0));
    assert_eq!(parse_duration("0.5"), Ok(0.5));
    assert_eq!(parse_duration("30s"), Ok(30.0));
    assert_eq!(parse_duration("5m"), Ok(300.0));
    assert_eq!(parse_duration("1h30m"), Ok(5400.0));
    assert_eq!(parse_duration("2d"), Ok(172_800.0));
    assert_eq!(parse_duration("1w"), Ok(604_800.0));
    assert_eq!(parse_duration("500ms"), Ok(0.5));
    for bad in ["", "m", "5x", "30m1h", "1h1h", "-5m", "inf"] {
        assert!(parse_duration(bad).is_err(), "{bad}");
    }
}

#[test]
fn formats() {
    assert_eq!(format_time(1_700_000_000.0), "2023-11-14T22:13:20Z");
    assert_eq!(format_duration(5400.0), "1h30m");
    assert_eq!(format_duration(0.2), "1s");
    assert_eq!(format_duration(90_061.0), "1d1h1m1s");
}
