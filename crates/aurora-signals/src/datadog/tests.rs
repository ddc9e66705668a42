use super::*;

#[test]
fn transition_prefixes_are_stripped() {
    assert_eq!(
        strip_transition_prefix("[Triggered on {host:a}] Host is down"),
        "Host is down"
    );
    assert_eq!(
        strip_transition_prefix("[Recovered] Host is down"),
        "Host is down"
    );
    assert_eq!(
        strip_transition_prefix("[prod] Host is down"),
        "[prod] Host is down"
    );
    assert_eq!(normalize_scope("b:2, a:1,,a:1"), "a:1,b:2");
    assert!(is_unexpanded("$ALERT_PRIORITY"));
    assert!(!is_unexpanded("$5 off"));
}
