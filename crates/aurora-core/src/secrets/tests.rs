use super::*;

#[test]
fn references_round_trip() {
    let org = OrgId::new();
    let r = SecretRef::new(org, "connectors/prometheus/password").unwrap();
    let text = r.to_string();
    assert_eq!(
        text,
        format!("secret://{org}/connectors/prometheus/password")
    );
    assert_eq!(text.parse::<SecretRef>().unwrap(), r);
}

#[test]
fn bad_references_and_names_are_refused() {
    let org = OrgId::new();
    for name in ["", "/abs", "a//b", "../up", "a/../b", "sp ace", "trailing/"] {
        assert!(SecretRef::new(org, name).is_err(), "{name:?}");
    }
    for text in ["vault://x/y", "secret://not-a-uuid/x", "secret://"] {
        assert!(text.parse::<SecretRef>().is_err(), "{text:?}");
    }
}

#[test]
fn org_check() {
    let r = SecretRef::new(OrgId::new(), "x").unwrap();
    assert!(ensure_same_org(r.org(), &r).is_ok());
    assert!(matches!(
        ensure_same_org(OrgId::new(), &r),
        Err(SecretError::WrongOrg(_))
    ));
}
