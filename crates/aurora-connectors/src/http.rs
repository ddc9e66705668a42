//! What the HTTP connectors (Prometheus, Alertmanager) share: the connection settings every
//! configuration has (`url`, `timeout`, `tls_insecure_skip_verify`, `ca_pem`, `headers`) and
//! their checks, resolved [`Credentials`], the reqwest client built through the outbound URL
//! guard ([`HttpEndpoint`]), and how transport failures and HTTP statuses become each
//! connector's error ([`EndpointError`]).
//!
//! Messages are plain strings here; each connector wraps them in its own `ConfigError`, which
//! names the connector.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode, Url};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer};

use crate::ssrf::{SsrfError, UrlPolicy, find_refusal};

/// How long establishing a connection may take, at most (the request timeout bounds it too).
const MAX_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Resolved credentials, handed to the client at construction. Never printed.
#[derive(Clone, Default)]
pub enum Credentials {
    /// No authentication.
    #[default]
    None,
    /// A bearer token.
    Bearer(SecretString),
    /// HTTP basic authentication.
    Basic {
        /// The user name (not secret).
        username: String,
        /// The password.
        password: SecretString,
    },
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::None => f.write_str("None"),
            Credentials::Bearer(_) => f.write_str("Bearer([redacted])"),
            Credentials::Basic { username, .. } => {
                write!(
                    f,
                    "Basic {{ username: {username:?}, password: [redacted] }}"
                )
            }
        }
    }
}

impl Credentials {
    /// Adds the `Authorization` these credentials call for to a request.
    fn authorize(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self {
            Credentials::None => request,
            Credentials::Bearer(token) => request.bearer_auth(token.expose_secret()),
            Credentials::Basic { username, password } => {
                request.basic_auth(username, Some(password.expose_secret()))
            }
        }
    }
}

/// The default request timeout: 30 s.
pub(crate) fn default_timeout() -> Duration {
    Duration::from_secs(30)
}

/// A duration given as seconds (a number) or in words (`"30s"`, `"1m 30s"`).
pub(crate) fn deserialize_duration<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Duration, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Seconds(f64),
        Text(String),
    }
    match Raw::deserialize(deserializer)? {
        Raw::Seconds(s) => Duration::try_from_secs_f64(s).map_err(|_| {
            serde::de::Error::custom(format!(
                "{s} is not a duration; use seconds >= 0 or \"30s\""
            ))
        }),
        Raw::Text(text) => humantime_serde::re::humantime::parse_duration(&text).map_err(|e| {
            serde::de::Error::custom(format!(
                "{text:?} is not a duration ({e}); use e.g. \"30s\""
            ))
        }),
    }
}

/// The configured `url` with a trailing `/`, so API paths join under its path prefix: `http`
/// or `https`, no user name or password, no query or fragment.
pub(crate) fn base_url(text: &str) -> Result<Url, String> {
    let mut url = Url::parse(text.trim()).map_err(|e| format!("url {text:?} is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "url scheme {:?} is not supported; use http or https",
            url.scheme()
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(
            "url must not contain a user name or password; use auth with a secret_ref".to_owned(),
        );
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!("url {text:?} must not have a query or fragment"));
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

/// The request timeout is between 1 s and 10 minutes.
pub(crate) fn check_timeout(timeout: Duration) -> Result<(), String> {
    if timeout.is_zero() || timeout > Duration::from_secs(600) {
        return Err(format!(
            "timeout {timeout:?} is out of range; use between 1s and 10m"
        ));
    }
    Ok(())
}

/// Extra headers are valid names and values, and not `Authorization` (that is `auth`'s).
pub(crate) fn check_headers(headers: &BTreeMap<String, String>) -> Result<(), String> {
    for (name, value) in headers {
        let header = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("headers: {name:?} is not a header name"))?;
        if header == reqwest::header::AUTHORIZATION {
            return Err(
                "headers: Authorization is not allowed here; use auth with a secret_ref".to_owned(),
            );
        }
        HeaderValue::from_str(value)
            .map_err(|_| format!("headers: the value of {name:?} is not a valid header value"))?;
    }
    Ok(())
}

/// `ca_pem`, when given, holds at least one PEM certificate.
pub(crate) fn check_ca_pem(ca_pem: Option<&str>) -> Result<(), String> {
    if let Some(pem) = ca_pem {
        reqwest::Certificate::from_pem_bundle(pem.as_bytes())
            .ok()
            .filter(|certs| !certs.is_empty())
            .ok_or_else(|| {
                "ca_pem holds no PEM certificate; paste the CA's \"-----BEGIN CERTIFICATE-----\" block"
                    .to_owned()
            })?;
    }
    Ok(())
}

/// The connection settings of a configuration, borrowed from it (see [`endpoint_settings`]).
pub(crate) struct Settings<'a> {
    pub(crate) timeout: Duration,
    pub(crate) tls_insecure_skip_verify: bool,
    pub(crate) ca_pem: Option<&'a str>,
    pub(crate) headers: &'a BTreeMap<String, String>,
}

/// Gives a connector configuration with the shared fields (`timeout`,
/// `tls_insecure_skip_verify`, `ca_pem`, `headers`) a `settings()` view for [`HttpEndpoint`].
macro_rules! endpoint_settings {
    ($config:ty) => {
        impl $config {
            /// The connection settings, for [`crate::http::HttpEndpoint::connect`].
            pub(crate) fn settings(&self) -> $crate::http::Settings<'_> {
                $crate::http::Settings {
                    timeout: self.timeout,
                    tls_insecure_skip_verify: self.tls_insecure_skip_verify,
                    ca_pem: self.ca_pem.as_deref(),
                    headers: &self.headers,
                }
            }
        }
    };
}
pub(crate) use endpoint_settings;

/// The reqwest client for `settings`, resolving through `policy`'s guard.
fn build_client(settings: &Settings<'_>, policy: &UrlPolicy) -> Result<reqwest::Client, String> {
    let mut headers = HeaderMap::new();
    for (name, value) in settings.headers {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("headers: {name:?} is not a header name"))?;
        let value =
            HeaderValue::from_str(value).map_err(|_| format!("headers: bad value for {name}"))?;
        headers.insert(name, value);
    }
    let mut builder = policy
        .client_builder()
        .timeout(settings.timeout)
        .connect_timeout(settings.timeout.min(MAX_CONNECT_TIMEOUT))
        .user_agent(concat!("aurora/", env!("CARGO_PKG_VERSION")))
        .default_headers(headers)
        .danger_accept_invalid_certs(settings.tls_insecure_skip_verify);
    if let Some(pem) = settings.ca_pem {
        let certs = reqwest::Certificate::from_pem_bundle(pem.as_bytes())
            .map_err(|e| format!("ca_pem: {e}"))?;
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder
        .build()
        .map_err(|e| format!("could not build the HTTP client: {e}"))
}

/// The failures every HTTP connector's error has, so that [`HttpEndpoint`] can build them.
/// Implemented with [`endpoint_error`] for an enum with the usual variants.
pub(crate) trait EndpointError: From<SsrfError> {
    /// The configuration is not usable.
    fn config(message: String) -> Self;
    /// No answer within the timeout.
    fn timeout(url: String, secs: u64) -> Self;
    /// The connection failed.
    fn unreachable(url: String, detail: String) -> Self;
    /// HTTP 401 or 403.
    fn unauthorized(url: String, status: u16) -> Self;
    /// HTTP 404.
    fn not_found(url: String, path: String) -> Self;
    /// Another HTTP error.
    fn http(url: String, status: u16, body: String) -> Self;
    /// The answer is not of the expected shape.
    fn decode(url: String, detail: String) -> Self;
    /// The request was refused before it was sent.
    fn invalid_request(message: String) -> Self;
}

/// Implements [`EndpointError`] for a connector's error enum with the variants `Config(..)`,
/// `Timeout { url, secs }`, `Unreachable { url, detail }`, `Unauthorized { url, status }`,
/// `NotFound { url, path }`, `Http { url, status, body }`, `Decode { url, detail }` and
/// `InvalidRequest(String)`; `$config_error` wraps a message into its `Config` variant.
macro_rules! endpoint_error {
    ($error:ty, $config_error:path) => {
        impl $crate::http::EndpointError for $error {
            fn config(message: String) -> Self {
                Self::Config($config_error(message))
            }
            fn timeout(url: String, secs: u64) -> Self {
                Self::Timeout { url, secs }
            }
            fn unreachable(url: String, detail: String) -> Self {
                Self::Unreachable { url, detail }
            }
            fn unauthorized(url: String, status: u16) -> Self {
                Self::Unauthorized { url, status }
            }
            fn not_found(url: String, path: String) -> Self {
                Self::NotFound { url, path }
            }
            fn http(url: String, status: u16, body: String) -> Self {
                Self::Http { url, status, body }
            }
            fn decode(url: String, detail: String) -> Self {
                Self::Decode { url, detail }
            }
            fn invalid_request(message: String) -> Self {
                Self::InvalidRequest(message)
            }
        }
    };
}
pub(crate) use endpoint_error;

/// A base URL with its HTTP client, credentials and timeout: the part of a connector's client
/// that sends requests and turns failures into the connector's error `E`.
#[derive(Debug)]
pub(crate) struct HttpEndpoint<E> {
    base: Url,
    http: reqwest::Client,
    credentials: Credentials,
    timeout: Duration,
    error: PhantomData<fn() -> E>,
}

impl<E: EndpointError> HttpEndpoint<E> {
    /// Checks `base` against the outbound URL policy and builds the client. Makes no request.
    pub(crate) fn connect(
        base: Url,
        settings: &Settings<'_>,
        credentials: Credentials,
        policy: &UrlPolicy,
    ) -> Result<Self, E> {
        policy.check_url(&base)?;
        let http = build_client(settings, policy).map_err(E::config)?;
        Ok(Self {
            base,
            http,
            credentials,
            timeout: settings.timeout,
            error: PhantomData,
        })
    }

    /// The base URL (with a trailing `/`).
    pub(crate) fn base(&self) -> &Url {
        &self.base
    }

    /// A request for `path` under the base URL, with the credentials.
    pub(crate) fn request(&self, method: Method, path: &str) -> Result<reqwest::RequestBuilder, E> {
        let url = self
            .base
            .join(path)
            .map_err(|e| E::invalid_request(format!("bad path {path:?}: {e}")))?;
        Ok(self.credentials.authorize(self.http.request(method, url)))
    }

    /// Sends a request built with [`Self::request`].
    pub(crate) async fn send(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, E> {
        request.send().await.map_err(|e| self.transport_error(&e))
    }

    /// The whole body, refused with `too_large` past `max_bytes`.
    pub(crate) async fn read_body(
        &self,
        mut response: reqwest::Response,
        max_bytes: usize,
        too_large: impl FnOnce() -> E,
    ) -> Result<Vec<u8>, E> {
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| self.transport_error(&e))?
        {
            if body.len() + chunk.len() > max_bytes {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    /// A failure to send or read: refused by the URL guard, timed out or unreachable.
    pub(crate) fn transport_error(&self, error: &reqwest::Error) -> E {
        let url = self.base.to_string();
        match find_refusal(error) {
            Some(refusal @ SsrfError::Refused { .. }) => {
                return E::from(refusal.clone());
            }
            Some(other) => {
                return E::unreachable(url, other.to_string());
            }
            None => {}
        }
        if error.is_timeout() {
            return E::timeout(url, self.timeout.as_secs().max(1));
        }
        // The innermost cause is the useful part ("Connection refused (os error 111)").
        let mut detail = error.to_string();
        let mut source = std::error::Error::source(error);
        while let Some(e) = source {
            detail = e.to_string();
            source = e.source();
        }
        E::unreachable(url, detail)
    }

    /// An HTTP error status of `path`: 401/403, 404, or another with (a snippet of) `body`.
    pub(crate) fn status_error(&self, status: StatusCode, path: &str, body: &str) -> E {
        let url = self.base.to_string();
        match status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                E::unauthorized(url, status.as_u16())
            }
            StatusCode::NOT_FOUND => E::not_found(url, format!("/{path}")),
            _ => E::http(url, status.as_u16(), snippet(body)),
        }
    }

    /// An answer not of the expected shape.
    pub(crate) fn decode_error(&self, detail: String) -> E {
        E::decode(self.base.to_string(), detail)
    }
}

/// A body shortened for an error message.
pub(crate) fn snippet(body: &str) -> String {
    let body = body.trim();
    match body.char_indices().nth(300) {
        Some((cut, _)) => format!("{}…", &body[..cut]),
        None => body.to_owned(),
    }
}
