use aurora_core::StoreError;
use aurora_core::ids::TokenId;
use aurora_core::model::{Email, Role, Session};
use aurora_core::ports::{AccountStore, NewApiToken, NewUser, Store};
use aurora_store::SqlStore;
use time::{Duration, OffsetDateTime};

use crate::harness::each_backend;

fn new_user(email: &str, role: Role) -> NewUser {
    NewUser {
        email: Email::parse(email).unwrap(),
        name: "Ada".into(),
        role,
        password_hash: "$argon2id$stub".into(),
    }
}

fn new_token(store_user: aurora_core::UserId, hash: &str) -> NewApiToken {
    NewApiToken {
        user_id: store_user,
        name: "ci".into(),
        token_hash: hash.into(),
        prefix: "aur_abcdef".into(),
        expires_at: None,
    }
}

#[tokio::test]
async fn a_fresh_store_is_ready_and_not_set_up() {
    each_backend(|store: SqlStore| async move {
        store.ready().await.unwrap();
        assert!(!store.is_set_up().await.unwrap());
    })
    .await;
}

#[tokio::test]
async fn first_admin_is_created_once() {
    each_backend(|store: SqlStore| async move {
        let (org, admin) = store
            .create_first_admin("Acme", new_user("Admin@Acme.io", Role::Admin))
            .await
            .unwrap();
        assert_eq!(admin.org_id, org.id);
        assert_eq!(admin.email.as_str(), "admin@acme.io");
        assert!(store.is_set_up().await.unwrap());
        let again = store
            .create_first_admin("Other", new_user("second@acme.io", Role::Admin))
            .await;
        assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
        // The failed attempt left nothing behind.
        assert_eq!(store.list_orgs().await.unwrap().len(), 1);
        assert!(
            store
                .find_credentials(&Email::parse("second@acme.io").unwrap())
                .await
                .unwrap()
                .is_none()
        );
    })
    .await;
}

#[tokio::test]
async fn users_are_scoped_to_their_org_and_emails_are_unique() {
    each_backend(|store: SqlStore| async move {
        let a = store.create_org("A").await.unwrap();
        let b = store.create_org("B").await.unwrap();
        let ada = store
            .create_user(a.id, new_user("ada@a.io", Role::Editor))
            .await
            .unwrap();
        store
            .create_user(b.id, new_user("bob@b.io", Role::Viewer))
            .await
            .unwrap();

        assert_eq!(store.get_user(a.id, ada.id).await.unwrap(), ada);
        assert!(matches!(
            store.get_user(b.id, ada.id).await,
            Err(StoreError::NotFound(_))
        ));
        let in_a: Vec<_> = store
            .list_users(a.id)
            .await
            .unwrap()
            .into_iter()
            .map(|u| u.email)
            .collect();
        assert_eq!(in_a, vec![Email::parse("ada@a.io").unwrap()]);

        let dup = store
            .create_user(b.id, new_user("ADA@a.io", Role::Viewer))
            .await;
        assert!(
            matches!(dup, Err(StoreError::Conflict(ref m)) if m.contains("ada@a.io")),
            "{dup:?}"
        );

        let creds = store
            .find_credentials(&Email::parse("ada@a.io").unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(creds.user, ada);
        assert_eq!(creds.password_hash, "$argon2id$stub");
    })
    .await;
}

#[tokio::test]
async fn sessions_expire_and_can_be_deleted() {
    each_backend(|store: SqlStore| async move {
        let org = store.create_org("A").await.unwrap();
        let user = store
            .create_user(org.id, new_user("ada@a.io", Role::Admin))
            .await
            .unwrap();
        let now = OffsetDateTime::now_utc();
        let session = |hash: &str, ttl: Duration| Session {
            id_hash: hash.into(),
            org_id: org.id,
            user_id: user.id,
            csrf_token: "csrf".into(),
            created_at: now,
            expires_at: now + ttl,
        };
        store
            .create_session(&session("live", Duration::hours(1)))
            .await
            .unwrap();
        store
            .create_session(&session("old", Duration::seconds(-1)))
            .await
            .unwrap();

        let (found, who) = store.find_session("live", now).await.unwrap().unwrap();
        assert_eq!((found.csrf_token.as_str(), who.id), ("csrf", user.id));
        assert!(store.find_session("old", now).await.unwrap().is_none());
        assert_eq!(store.delete_expired_sessions(now).await.unwrap(), 1);

        store.delete_session("live").await.unwrap();
        assert!(store.find_session("live", now).await.unwrap().is_none());
    })
    .await;
}

#[tokio::test]
async fn api_tokens_are_listed_touched_and_revoked_within_their_org() {
    each_backend(|store: SqlStore| async move {
        let org = store.create_org("A").await.unwrap();
        let other = store.create_org("B").await.unwrap();
        let user = store
            .create_user(org.id, new_user("ada@a.io", Role::Admin))
            .await
            .unwrap();

        // A token cannot be created for a user through another org.
        let cross = store
            .create_api_token(other.id, new_token(user.id, "h0"))
            .await;
        assert!(matches!(cross, Err(StoreError::NotFound(_))), "{cross:?}");

        let token = store
            .create_api_token(org.id, new_token(user.id, "h1"))
            .await
            .unwrap();
        let (found, owner) = store.find_api_token("h1").await.unwrap().unwrap();
        assert_eq!((found.clone(), owner.id), (token.clone(), user.id));
        assert!(store.find_api_token("nope").await.unwrap().is_none());

        let now = OffsetDateTime::now_utc();
        store.touch_api_token(org.id, token.id, now).await.unwrap();
        let listed = store.list_api_tokens(org.id, user.id).await.unwrap();
        assert_eq!(listed.len(), 1);
        assert!(listed[0].last_used_at.is_some());
        assert!(
            store
                .list_api_tokens(other.id, user.id)
                .await
                .unwrap()
                .is_empty()
        );

        let cross = store
            .revoke_api_token(other.id, user.id, token.id, now)
            .await;
        assert!(matches!(cross, Err(StoreError::NotFound(_))), "{cross:?}");
        let revoked = store
            .revoke_api_token(org.id, user.id, token.id, now)
            .await
            .unwrap();
        assert!(!revoked.is_active(now));
        assert!(matches!(
            store.revoke_api_token(org.id, user.id, token.id, now).await,
            Err(StoreError::NotFound(_))
        ));
        assert!(matches!(
            store
                .revoke_api_token(org.id, user.id, TokenId::new(), now)
                .await,
            Err(StoreError::NotFound(_))
        ));
        let (after, _) = store.find_api_token("h1").await.unwrap().unwrap();
        assert!(after.revoked_at.is_some());
    })
    .await;
}

#[tokio::test]
async fn an_unmigrated_database_is_not_ready() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("empty.db").display());
    let store = SqlStore::connect(&url, &aurora_store::DatabaseConfig::default())
        .await
        .unwrap();
    let err = store.ready().await.unwrap_err();
    assert!(matches!(err, StoreError::NotMigrated(_)), "{err:?}");
}

#[tokio::test]
async fn an_unreachable_server_is_a_clear_error() {
    let config = aurora_store::DatabaseConfig {
        connect_timeout: std::time::Duration::from_secs(2),
        ..Default::default()
    };
    let err = SqlStore::connect("postgres://aurora:pw@127.0.0.1:1/aurora", &config)
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("cannot connect") && message.contains("***") && !message.contains(":pw@"),
        "{message}"
    );
    let err = SqlStore::connect("mysql://x/y", &config).await.unwrap_err();
    assert!(err.to_string().contains("use sqlite://"), "{err}");
}
