//! In a real browser: first-run setup, sign-out, sign-in, and an API token made on the account
//! page then used against the API.

use aurora_testkit::{Browser, client, spawn_app};
use serde_json::Value;

#[tokio::test]
async fn first_run_sign_out_sign_in_and_an_api_token() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = spawn_app().await;
    let b = &browser;

    b.client.goto(&app.url("/")).await.unwrap();
    b.wait_for_path("/setup").await;
    b.fill("#org_name", "Acme").await;
    b.fill("#name", "Ada Lovelace").await;
    b.fill("#email", "ada@example.com").await;
    b.fill("#password", "analytical engine").await;
    b.fill("#confirm", "analytical engine").await;
    b.click("#create-admin").await;
    b.wait_for_path("/").await;
    assert_eq!(b.text_of("#org-name").await, "Acme");

    b.click("#logout").await;
    b.wait_for_path("/login").await;
    b.fill("#email", "ada@example.com").await;
    b.fill("#password", "wrong password").await;
    b.click("#sign-in").await;
    assert!(
        b.text_of(".alert-error")
            .await
            .contains("Invalid e-mail or password")
    );
    b.fill("#password", "analytical engine").await;
    b.click("#sign-in").await;
    b.wait_for_path("/").await;
    assert!(b.text_of(".topbar h1").await.contains("Dashboard"));

    b.client.goto(&app.url("/account")).await.unwrap();
    b.fill("#token-name", "browser test").await;
    b.click("#create-token").await;
    let token = b.text_of("#new-token").await;
    assert!(token.starts_with("aur_"), "{token}");
    if let Ok(dir) = std::env::var("AURORA_SCREENSHOT_DIR") {
        b.screenshot(&std::path::Path::new(&dir).join("account.png"))
            .await;
    }

    let me: Value = client()
        .get(app.url("/api/v1/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["user"]["email"], "ada@example.com");
    assert_eq!(me["user"]["role"], "admin");
    browser.close().await;
}
