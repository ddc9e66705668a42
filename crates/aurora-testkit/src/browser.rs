//! Headless Chromium through chromedriver (both from Debian), driven with fantoccini.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use tempfile::TempDir;

pub const CHROMEDRIVER_ENV: &str = "AURORA_CHROMEDRIVER";
pub const CHROMIUM_ENV: &str = "AURORA_CHROMIUM";

/// A Chromium session; chromedriver is stopped when it is dropped.
pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: TempDir,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium, or returns `None` (after saying why) when
    /// `AURORA_CHROMEDRIVER` is not set: `.ci/run` installs both and sets it.
    pub async fn start() -> Option<Self> {
        let Ok(driver_path) = std::env::var(CHROMEDRIVER_ENV) else {
            eprintln!(
                "skipped: {CHROMEDRIVER_ENV} is not set (install chromium and chromium-driver, as .ci/run does)"
            );
            return None;
        };
        aurora::install_crypto_provider();
        let chromium = std::env::var(CHROMIUM_ENV).unwrap_or_else(|_| "/usr/bin/chromium".into());
        let port = free_port();
        let driver = Command::new(&driver_path)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start {driver_path}: {err}"));
        let profile = tempfile::tempdir().expect("profile dir");
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chromium,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--disable-quic", "--no-first-run", "--window-size=1280,900",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            }),
        );
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        let client = loop {
            match ClientBuilder::rustls()
                .expect("rustls connector")
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(client) => break client,
                Err(err) if Instant::now() > deadline => {
                    panic!("chromedriver did not start: {err}")
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        };
        Some(Self {
            client,
            driver,
            _profile: profile,
        })
    }

    /// Waits up to ten seconds for an element to appear.
    pub async fn find(&self, css: &str) -> Element {
        self.client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|err| panic!("no element {css}: {err}"))
    }

    /// Waits for an element and returns its text.
    pub async fn text_of(&self, css: &str) -> String {
        self.on_fresh(css, "read the text of", |e| async move { e.text().await })
            .await
    }

    /// Replaces the content of a form field.
    pub async fn fill(&self, css: &str, value: &str) {
        let field = self.find(css).await;
        field.clear().await.expect("clear field");
        field.send_keys(value).await.expect("type into field");
    }

    pub async fn click(&self, css: &str) {
        self.on_fresh(css, "click", |e| async move { e.click().await.map(drop) })
            .await;
    }

    /// Runs `command` on the element `css` finds. Live pages swap their parts when events
    /// arrive (a list re-renders on `resync`), so an element found just before a swap is stale
    /// by the command: then it is found again, for up to 10 seconds. Other errors panic, saying
    /// what could not be done (`doing`).
    async fn on_fresh<T, F, Fut>(&self, css: &str, doing: &str, command: F) -> T
    where
        F: Fn(Element) -> Fut,
        Fut: std::future::Future<Output = Result<T, fantoccini::error::CmdError>>,
    {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match command(self.find(css).await).await {
                Ok(value) => return value,
                Err(err) if Instant::now() < deadline && is_stale(&err) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(err) => panic!("cannot {doing} {css}: {err}"),
            }
        }
    }

    /// Waits until the current path is `path`.
    pub async fn wait_for_path(&self, path: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let url = self.client.current_url().await.expect("current url");
            if url.path() == path {
                return;
            }
            if Instant::now() > deadline {
                let page = self.client.source().await.unwrap_or_default();
                panic!("expected to reach {path}, still at {url}; the page says:\n{page}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Saves a PNG of the page, for looking at what a person sees.
    pub async fn screenshot(&self, path: &std::path::Path) {
        let png = self.client.screenshot().await.expect("screenshot");
        std::fs::write(path, png).expect("write screenshot");
    }

    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Whether a WebDriver command failed because its element was replaced in the page.
fn is_stale(err: &fantoccini::error::CmdError) -> bool {
    matches!(
        err,
        fantoccini::error::CmdError::Standard(e)
            if e.error == fantoccini::error::ErrorStatus::StaleElementReference
    )
}
