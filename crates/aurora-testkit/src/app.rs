//! A real Aurora per test.

use std::net::SocketAddr;

use aurora::settings::Settings;
use aurora::startup::Application;
use aurora_core::model::{Role, User};
use aurora_server::accounts::{Accounts, UserForm};
use secrecy::{ExposeSecret, SecretString};
use tempfile::TempDir;
use tokio::sync::oneshot;

use crate::sns::TestSnsFetcher;

pub const ADMIN_EMAIL: &str = "admin@example.com";
pub const ADMIN_PASSWORD: &str = "correct horse battery staple";

pub struct TestApp {
    pub address: String,
    pub addr: SocketAddr,
    /// Keeps cookies; does not follow redirects, so tests see them.
    pub client: reqwest::Client,
    pub accounts: std::sync::Arc<Accounts>,
    pub store: std::sync::Arc<aurora_store::SqlStore>,
    /// The secret store the app uses, to check what was (and was not) stored.
    pub secrets: std::sync::Arc<dyn aurora_core::secrets::SecretStore>,
    /// The app's event bus, to publish what a worker would (live page tests).
    pub events: std::sync::Arc<dyn aurora_core::events::EventBus>,
    pub settings: Settings,
    /// Stands in for Amazon SNS: what Aurora fetched from it.
    pub sns: std::sync::Arc<TestSnsFetcher>,
    stop: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<Result<(), String>>>,
    _data_dir: TempDir,
}

/// Starts Aurora on 127.0.0.1 with a free port, a temporary data directory, and SQLite, or a
/// fresh PostgreSQL database when `AURORA_TEST_DATABASE_URL` is set.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// [`spawn_app`] with settings adjusted by `configure`.
pub async fn spawn_app_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    let data_dir = tempfile::tempdir().expect("temp dir");
    let mut settings = Settings {
        data_dir: data_dir.path().to_owned(),
        ..Settings::default()
    };
    settings.server.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    settings.log.level = "warn".into();
    // No job workers unless a test asks for them (`workers.concurrency`): tests that drive the
    // queue themselves must not race the application's own workers for its jobs.
    settings.workers.concurrency = 0;
    if let Ok(admin_url) = std::env::var(crate::DATABASE_URL_ENV) {
        settings.database.url = Some(crate::fresh_postgres_database(&admin_url).await);
    }
    configure(&mut settings);

    let sns = std::sync::Arc::new(TestSnsFetcher::default());
    let app = Application::build_with(settings.clone(), sns.clone())
        .await
        .expect("build application");
    let addr = app.local_addr();
    let accounts = app.services().accounts.clone();
    let store = app.services().store.clone();
    let secrets = app.services().secrets.clone();
    let events = app.services().events.clone();
    let (stop, stopped) = oneshot::channel();
    let server = tokio::spawn(async move {
        app.run_until(async {
            let _ = stopped.await;
        })
        .await
        .map_err(|err| format!("{err:#}"))
    });
    TestApp {
        address: format!("http://{addr}"),
        addr,
        client: client(),
        accounts,
        store,
        secrets,
        events,
        settings,
        sns,
        stop: Some(stop),
        server: Some(server),
        _data_dir: data_dir,
    }
}

/// An HTTP client that keeps cookies and reports redirects instead of following them.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("http client")
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// Creates the organisation and its admin directly (not through the UI).
    pub async fn create_admin(&self) -> User {
        self.accounts
            .set_up(
                "Acme",
                UserForm {
                    email: ADMIN_EMAIL.into(),
                    name: "Ada Admin".into(),
                    role: Role::Admin,
                    password: SecretString::from(ADMIN_PASSWORD.to_owned()),
                },
            )
            .await
            .expect("create admin")
    }

    /// Creates another user in the admin's organisation.
    pub async fn create_user(&self, admin: &User, email: &str, role: Role) -> User {
        self.accounts
            .create_user(
                admin.org_id,
                UserForm {
                    email: email.into(),
                    name: email.into(),
                    role,
                    password: SecretString::from(ADMIN_PASSWORD.to_owned()),
                },
            )
            .await
            .expect("create user")
    }

    /// A second organisation with its own admin.
    pub async fn create_org_admin(&self, org_name: &str, email: &str) -> User {
        use aurora_core::ports::AccountStore;
        let org = self.store.create_org(org_name).await.expect("create org");
        self.accounts
            .create_user(
                org.id,
                UserForm {
                    email: email.into(),
                    name: email.into(),
                    role: Role::Admin,
                    password: SecretString::from(ADMIN_PASSWORD.to_owned()),
                },
            )
            .await
            .expect("create org admin")
    }

    /// An API token for `user`.
    pub async fn token_for(&self, user: &User) -> String {
        let (_, secret) = self
            .accounts
            .create_token(user, "test", None)
            .await
            .expect("create token");
        secret.expose_secret().to_owned()
    }

    /// Signs `client` in through the login form, as a browser would.
    pub async fn login(
        &self,
        client: &reqwest::Client,
        email: &str,
        password: &str,
    ) -> reqwest::Response {
        let page = client
            .get(self.url("/login"))
            .send()
            .await
            .expect("GET /login")
            .text()
            .await
            .expect("body");
        let csrf = hidden_field(&page, "_csrf").expect("login form has a CSRF field");
        client
            .post(self.url("/login"))
            .form(&[
                ("_csrf", csrf.as_str()),
                ("email", email),
                ("password", password),
                ("next", "/"),
            ])
            .send()
            .await
            .expect("POST /login")
    }

    /// Stops the server the way SIGTERM does and waits for it to finish.
    pub async fn stop(mut self) -> Result<(), String> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.server.take() {
            Some(server) => server.await.map_err(|err| err.to_string())?,
            None => Ok(()),
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The value of `<input … name="NAME" value="…">` in a page.
pub fn hidden_field(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_owned())
}
