use super::*;

fn secret(s: &str) -> SecretString {
    SecretString::from(s.to_owned())
}

#[test]
fn password_round_trip() {
    let hash = NewPassword::parse(secret("correct horse battery"))
        .unwrap()
        .hash()
        .unwrap();
    assert!(hash.starts_with("$argon2id$"));
    assert!(verify_password(&secret("correct horse battery"), &hash));
    assert!(!verify_password(&secret("correct horse battery!"), &hash));
    assert!(!verify_password(&secret("anything"), "not a phc string"));
}

#[test]
fn dummy_hash_is_well_formed_and_matches_nothing_easy() {
    assert!(PasswordHash::new(dummy_password_hash()).is_ok());
    assert!(!verify_password(&secret(""), dummy_password_hash()));
}

#[test]
fn password_policy() {
    assert!(matches!(
        NewPassword::parse(secret("short")),
        Err(PasswordError::TooShort)
    ));
    assert!(matches!(
        NewPassword::parse(secret(&"x".repeat(MAX_PASSWORD_LEN + 1))),
        Err(PasswordError::TooLong)
    ));
}

#[test]
fn api_tokens_are_unique_prefixed_and_hashed() {
    let a = issue_api_token();
    let b = issue_api_token();
    assert!(a.value.expose_secret().starts_with(API_TOKEN_PREFIX));
    assert_ne!(a.value.expose_secret(), b.value.expose_secret());
    assert_eq!(a.hash, hash_token(a.value.expose_secret()));
    assert!(a.value.expose_secret().starts_with(&a.prefix));
    assert_eq!(a.hash.len(), 64);
}
