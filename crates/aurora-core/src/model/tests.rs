use super::*;

#[test]
fn emails_are_normalised_and_validated() {
    assert_eq!(
        Email::parse("  Ada@Example.COM ").unwrap().as_str(),
        "ada@example.com"
    );
    for bad in [
        "",
        "ada",
        "@example.com",
        "ada@",
        "a b@example.com",
        "ada@@x",
        "ada@.com",
    ] {
        assert!(Email::parse(bad).is_err(), "{bad:?} should be rejected");
    }
}

#[test]
fn roles_are_ordered_by_rights() {
    assert!(Role::Admin.allows(Role::Editor));
    assert!(Role::Editor.allows(Role::Viewer));
    assert!(!Role::Viewer.allows(Role::Editor));
    assert_eq!("editor".parse::<Role>().unwrap(), Role::Editor);
    assert!(
        "root"
            .parse::<Role>()
            .unwrap_err()
            .to_string()
            .contains("admin, editor or viewer")
    );
}
