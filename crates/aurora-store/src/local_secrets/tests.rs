use super::*;

fn open(dir: &Path) -> LocalSecretStore {
    LocalSecretStore::open(dir.join("secrets.json"), None, &dir.join("secret.key")).unwrap()
}

#[tokio::test]
async fn values_survive_a_restart_and_stay_encrypted_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let org = OrgId::new();
    let reference = open(dir.path())
        .put(
            org,
            "prometheus/password",
            SecretString::from("hunter2-very-secret".to_owned()),
        )
        .await
        .unwrap();
    let on_disk = std::fs::read_to_string(dir.path().join("secrets.json")).unwrap();
    assert!(!on_disk.contains("hunter2"), "plaintext on disk: {on_disk}");

    let reopened = open(dir.path());
    let value = reopened.get(org, &reference).await.unwrap();
    assert_eq!(value.expose_secret(), "hunter2-very-secret");

    reopened.delete(org, &reference).await.unwrap();
    assert!(matches!(
        open(dir.path()).get(org, &reference).await,
        Err(SecretError::NotFound(_))
    ));
}

#[cfg(unix)]
#[tokio::test]
async fn key_file_is_private_and_a_readable_one_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    open(dir.path());
    let key = dir.path().join("secret.key");
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = LocalSecretStore::open(dir.path().join("secrets.json"), None, &key).unwrap_err();
    assert!(err.to_string().contains("chmod 600"), "{err}");
}

#[tokio::test]
async fn another_org_and_another_key_cannot_read() {
    let dir = tempfile::tempdir().unwrap();
    let org = OrgId::new();
    let store = open(dir.path());
    let reference = store
        .put(org, "token", SecretString::from("v".to_owned()))
        .await
        .unwrap();
    assert!(matches!(
        store.get(OrgId::new(), &reference).await,
        Err(SecretError::WrongOrg(_))
    ));

    let other_key = SecretString::from(STANDARD.encode([7u8; 32]));
    let wrong = LocalSecretStore::open(
        dir.path().join("secrets.json"),
        Some(other_key),
        &dir.path().join("unused"),
    )
    .unwrap();
    assert!(matches!(
        wrong.get(org, &reference).await,
        Err(SecretError::Decrypt(_))
    ));
}

#[test]
fn bad_environment_keys_say_how_to_make_one() {
    let dir = tempfile::tempdir().unwrap();
    for bad in ["not base64!", "c2hvcnQ="] {
        let err = LocalSecretStore::open(
            dir.path().join("s.json"),
            Some(SecretString::from(bad.to_owned())),
            &dir.path().join("k"),
        )
        .unwrap_err();
        assert!(err.to_string().contains("openssl rand -base64 32"), "{err}");
    }
}
