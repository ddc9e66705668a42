//! First-run setup, sign-in, sessions, CSRF, API tokens and roles.

use aurora_core::model::Role;
use aurora_testkit::{
    ADMIN_EMAIL, ADMIN_PASSWORD, client, hidden_field, spawn_app, spawn_app_with,
};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn location(response: &reqwest::Response) -> &str {
    response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

#[tokio::test]
async fn first_visit_offers_setup_and_setup_signs_the_admin_in() {
    let app = spawn_app().await;
    let home = app.client.get(app.url("/")).send().await.unwrap();
    assert_eq!(home.status(), StatusCode::SEE_OTHER);
    assert!(location(&home).starts_with("/login"));
    let login = app.client.get(app.url("/login")).send().await.unwrap();
    assert_eq!(location(&login), "/setup");

    let page = app
        .client
        .get(app.url("/setup"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = hidden_field(&page, "_csrf").unwrap();
    let form = |confirm: &'static str| {
        vec![
            ("_csrf", csrf.clone()),
            ("org_name", "Acme".into()),
            ("name", "Ada".into()),
            ("email", ADMIN_EMAIL.into()),
            ("password", ADMIN_PASSWORD.into()),
            ("confirm", confirm.into()),
        ]
    };
    let mismatch = app
        .client
        .post(app.url("/setup"))
        .form(&form("something else"))
        .send()
        .await
        .unwrap();
    assert_eq!(mismatch.status(), StatusCode::BAD_REQUEST);
    let page = mismatch.text().await.unwrap();
    assert!(page.contains("The passwords do not match."));
    let csrf = hidden_field(&page, "_csrf").unwrap();
    let mut good = form(ADMIN_PASSWORD);
    good[0].1 = csrf;
    let created = app
        .client
        .post(app.url("/setup"))
        .form(&good)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&created), "/");
    let cookie = created
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|c| c.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("aurora_session="))
        .expect("a session cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );

    let me: Value = app
        .client
        .get(app.url("/api/v1/me"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["user"]["email"], ADMIN_EMAIL);
    assert_eq!(me["user"]["role"], "admin");
    assert_eq!(me["auth"], "session");

    // Setup is offered once only.
    let again = client().get(app.url("/setup")).send().await.unwrap();
    assert_eq!(location(&again), "/login");
}

#[tokio::test]
async fn wrong_credentials_get_one_generic_message() {
    let app = spawn_app().await;
    app.create_admin().await;
    for (email, password) in [
        (ADMIN_EMAIL, "wrong password!!"),
        ("nobody@example.com", ADMIN_PASSWORD),
    ] {
        let response = app.login(&client(), email, password).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert!(
            response
                .text()
                .await
                .unwrap()
                .contains("Invalid e-mail or password.")
        );
    }
    let ok = app.login(&app.client, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(ok.status(), StatusCode::SEE_OTHER);
    let dashboard = app.client.get(app.url("/")).send().await.unwrap();
    assert_eq!(dashboard.status(), StatusCode::OK);
    assert!(dashboard.text().await.unwrap().contains("Acme"));
}

#[tokio::test]
async fn sign_in_attempts_are_rate_limited() {
    let app = spawn_app_with(|s| s.auth.login_attempts_per_minute = 3).await;
    app.create_admin().await;
    let browser = client();
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(
            app.login(&browser, ADMIN_EMAIL, "wrong password!!")
                .await
                .status(),
        );
    }
    assert_eq!(&statuses[..3], &[StatusCode::UNAUTHORIZED; 3]);
    assert_eq!(statuses[4], StatusCode::TOO_MANY_REQUESTS);
    // Even the right password waits now.
    let blocked = app.login(&browser, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(blocked.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(
        blocked
            .text()
            .await
            .unwrap()
            .contains("Too many sign-in attempts")
    );
}

#[tokio::test]
async fn login_form_without_its_csrf_token_is_refused() {
    let app = spawn_app().await;
    app.create_admin().await;
    let response = client()
        .post(app.url("/login"))
        .form(&[("email", ADMIN_EMAIL), ("password", ADMIN_PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(
        response
            .headers()
            .get("set-cookie")
            .is_some_and(|c| !c.to_str().unwrap().contains("aurora_session"))
    );
}

#[tokio::test]
async fn cookie_authenticated_changes_need_the_csrf_token() {
    let app = spawn_app().await;
    app.create_admin().await;
    app.login(&app.client, ADMIN_EMAIL, ADMIN_PASSWORD).await;

    let forged = app
        .client
        .post(app.url("/api/v1/tokens"))
        .json(&json!({"name": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        forged.json::<Value>().await.unwrap()["error"]["code"],
        "csrf_token_invalid"
    );
    let forged_form = app
        .client
        .post(app.url("/logout"))
        .form(&[("_csrf", "guess")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged_form.status(), StatusCode::FORBIDDEN);

    let page = app
        .client
        .get(app.url("/account"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = hidden_field(&page, "_csrf").unwrap();
    let created = app
        .client
        .post(app.url("/api/v1/tokens"))
        .header("x-csrf-token", &csrf)
        .json(&json!({"name": "from the browser"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);

    let logout = app
        .client
        .post(app.url("/logout"))
        .form(&[("_csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&logout), "/login");
    // The session is gone from the server, not only from the browser.
    let me = app.client.get(app.url("/api/v1/me")).send().await.unwrap();
    assert_eq!(me.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn an_expired_session_is_told_apart_from_no_session() {
    let app = spawn_app().await;
    app.create_admin().await;
    let anonymous = client().get(app.url("/api/v1/me")).send().await.unwrap();
    assert_eq!(
        anonymous.json::<Value>().await.unwrap()["error"]["code"],
        "authentication_required"
    );

    let stale = client()
        .get(app.url("/api/v1/me"))
        .header("cookie", "aurora_session=expired-or-unknown")
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        stale.json::<Value>().await.unwrap()["error"]["code"],
        "session_expired"
    );

    let page = client()
        .get(app.url("/account"))
        .header("cookie", "aurora_session=expired-or-unknown")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&page), "/login?next=%2Faccount");
}

#[tokio::test]
async fn api_tokens_are_shown_once_work_and_stop_working_when_revoked() {
    let app = spawn_app().await;
    let admin = app.create_admin().await;
    let bootstrap = app.token_for(&admin).await;
    let api = client();

    let created: Value = api
        .post(app.url("/api/v1/tokens"))
        .bearer_auth(&bootstrap)
        .json(&json!({"name": "deploys", "expires_in_days": 30}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("aur_"));
    assert!(created["expires_at"].is_string());

    let me: Value = api
        .get(app.url("/api/v1/me"))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (me["user"]["email"].as_str(), me["auth"].as_str()),
        (Some(ADMIN_EMAIL), Some("api_token"))
    );

    let listed: Value = api
        .get(app.url("/api/v1/tokens"))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 2);
    assert!(
        listed
            .iter()
            .all(|t| t.get("secret").is_none() && t.get("token_hash").is_none()),
        "{listed:?}"
    );
    assert!(!serde_json::to_string(listed).unwrap().contains(&secret));

    let id = created["id"].as_str().unwrap();
    let revoked = api
        .delete(app.url(&format!("/api/v1/tokens/{id}")))
        .bearer_auth(&bootstrap)
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::OK);
    let refused = api
        .get(app.url("/api/v1/me"))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        refused.json::<Value>().await.unwrap()["error"]["code"],
        "invalid_token"
    );
    let twice = api
        .delete(app.url(&format!("/api/v1/tokens/{id}")))
        .bearer_auth(&bootstrap)
        .send()
        .await
        .unwrap();
    assert_eq!(
        twice.json::<Value>().await.unwrap()["error"]["code"],
        "token_not_found"
    );

    for bad in [
        "Bearer aur_not-a-real-token",
        "Bearer ",
        "Basic YWRtaW46cHc=",
    ] {
        let response = api
            .get(app.url("/api/v1/me"))
            .header("authorization", bad)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{bad}");
    }
}

#[tokio::test]
async fn last_use_of_a_token_is_recorded() {
    let app = spawn_app().await;
    let admin = app.create_admin().await;
    let token = app.token_for(&admin).await;
    client()
        .get(app.url("/api/v1/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let mut recorded = false;
    for _ in 0..50 {
        let tokens: Value = client()
            .get(app.url("/api/v1/tokens"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if tokens[0]["last_used_at"].is_string() {
            recorded = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(recorded, "last_used_at was never set");
}

#[tokio::test]
async fn only_admins_manage_users_and_users_see_only_their_org() {
    let app = spawn_app().await;
    let admin = app.create_admin().await;
    let viewer = app
        .create_user(&admin, "viewer@example.com", Role::Viewer)
        .await;
    let admin_token = app.token_for(&admin).await;
    let viewer_token = app.token_for(&viewer).await;
    let api = client();

    let forbidden = api
        .get(app.url("/api/v1/users"))
        .bearer_auth(&viewer_token)
        .send()
        .await
        .unwrap();
    assert_eq!(forbidden.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        forbidden.json::<Value>().await.unwrap()["error"]["code"],
        "forbidden"
    );

    let created = api
        .post(app.url("/api/v1/users"))
        .bearer_auth(&admin_token)
        .json(&json!({"email": "ed@example.com", "name": "Ed", "role": "editor", "password": "long enough password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let body: Value = created.json().await.unwrap();
    assert!(
        body.get("password_hash").is_none() && body.get("password").is_none(),
        "{body}"
    );

    let duplicate = api
        .post(app.url("/api/v1/users"))
        .bearer_auth(&admin_token)
        .json(&json!({"email": "ED@example.com", "name": "Ed", "role": "editor", "password": "long enough password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(duplicate.status(), StatusCode::CONFLICT);
    assert_eq!(
        duplicate.json::<Value>().await.unwrap()["error"]["code"],
        "email_taken"
    );

    let weak = api
        .post(app.url("/api/v1/users"))
        .bearer_auth(&admin_token)
        .json(
            &json!({"email": "w@example.com", "name": "W", "role": "viewer", "password": "short"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(weak.status(), StatusCode::BAD_REQUEST);
    assert!(
        weak.json::<Value>().await.unwrap()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("at least 12")
    );

    let users: Value = api
        .get(app.url("/api/v1/users"))
        .bearer_auth(&admin_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let emails: Vec<_> = users
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap())
        .collect();
    assert_eq!(
        emails,
        ["admin@example.com", "ed@example.com", "viewer@example.com"]
    );

    // Another organisation's admin sees none of them.
    let outsider = app.create_org_admin("Globex", "boss@globex.example").await;
    let outsider_token = app.token_for(&outsider).await;
    let theirs: Value = api
        .get(app.url("/api/v1/users"))
        .bearer_auth(&outsider_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let theirs: Vec<_> = theirs
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap())
        .collect();
    assert_eq!(theirs, ["boss@globex.example"]);
    // …and cannot revoke another organisation's token.
    let listed: Value = api
        .get(app.url("/api/v1/tokens"))
        .bearer_auth(&admin_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let admin_token_id = listed[0]["id"].as_str().unwrap();
    let cross = api
        .delete(app.url(&format!("/api/v1/tokens/{admin_token_id}")))
        .bearer_auth(&outsider_token)
        .send()
        .await
        .unwrap();
    assert_eq!(cross.status(), StatusCode::NOT_FOUND);
}
