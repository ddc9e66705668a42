//! The outbound URL guard. A connector's URL is typed by a person, but it makes Aurora's server
//! send requests on their behalf, so a URL must not reach what only the server can reach and
//! nobody meant to expose: the cloud metadata endpoint (credentials), link-local services, or
//! addresses that are not a single host at all.
//!
//! Checks happen twice. [`UrlPolicy::check_url`] refuses a bad scheme, user info and refused IP
//! literals before any request; [`UrlPolicy::client_builder`] then installs a DNS resolver that
//! checks *every* address a host name resolves to, each time reqwest opens a connection. The
//! checked addresses are the ones the connection uses, so a name that answers with a harmless
//! address to a first lookup and with `169.254.169.254` to the next (DNS rebinding) is refused
//! too. Redirects are not followed and proxies from the environment are not used, since either
//! would send the request somewhere the guard did not check.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use serde::{Deserialize, Serialize};

/// Host names of cloud metadata services, refused unless listed in `allowed_hosts`.
const METADATA_HOSTS: &[&str] = &[
    "metadata.google.internal",
    "metadata.goog",
    "metadata",
    "instance-data",
    "instance-data.ec2.internal",
];

/// How long resolving a host name may take before the request is refused.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(10);

/// Which addresses outbound connector requests may reach; the `connectors` configuration
/// section.
///
/// Never reachable: unspecified (`0.0.0.0/8`, `::`), broadcast, multicast and reserved
/// addresses. Cloud metadata endpoints (`169.254.169.254`, `169.254.170.2`, `100.100.100.200`,
/// `fd00:ec2::254`, `metadata.google.internal`, ...) are reachable only when their host is
/// listed in `allowed_hosts`.
///
/// ```json
/// { "allow_private": true, "allow_link_local": false, "allowed_hosts": ["prom.internal"] }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct UrlPolicy {
    /// Allow loopback (`127.0.0.0/8`, `::1`), private (`10/8`, `172.16/12`, `192.168/16`),
    /// shared (`100.64/10`) and unique-local (`fc00::/7`) addresses. Default `true`: a
    /// self-hosted Prometheus usually lives on a private network.
    pub allow_private: bool,
    /// Allow link-local addresses (`169.254.0.0/16`, `fe80::/10`). Default `false`.
    pub allow_link_local: bool,
    /// Host names or IP literals exempt from the private, link-local and metadata checks,
    /// matched exactly (case-insensitive).
    pub allowed_hosts: Vec<String>,
}

impl Default for UrlPolicy {
    fn default() -> Self {
        Self {
            allow_private: true,
            allow_link_local: false,
            allowed_hosts: Vec::new(),
        }
    }
}

/// Why an outbound URL was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SsrfError {
    /// Only `http` and `https` are allowed.
    #[error("url scheme {0:?} is not allowed; use http or https")]
    Scheme(String),
    /// Credentials belong in the connector's auth, not in its URL.
    #[error(
        "url must not contain a user name or password; configure credentials in the auth section"
    )]
    UserInfo,
    /// The URL names no host.
    #[error("url has no host")]
    NoHost,
    /// The host name did not resolve (or not in time).
    #[error("could not resolve host {host:?}: {reason}")]
    Resolve { host: String, reason: String },
    /// The host name resolved to an empty list.
    #[error("host {host:?} resolved to no address")]
    NoAddress { host: String },
    /// A refused host or address; `addr` is `None` when the name itself is refused, and
    /// `allowed_by` names the setting that would allow it, if any.
    #[error("{}", refused_message(.host, .addr, .reason, .allowed_by))]
    Refused {
        host: String,
        addr: Option<IpAddr>,
        reason: &'static str,
        allowed_by: Option<&'static str>,
    },
}

fn refused_message(
    host: &str,
    addr: &Option<IpAddr>,
    reason: &str,
    allowed_by: &Option<&'static str>,
) -> String {
    let target = match addr {
        None => host.to_owned(),
        Some(addr) if host == addr.to_string() => host.to_owned(),
        Some(addr) => format!("{addr} (resolved from {host:?})"),
    };
    let fix = match allowed_by {
        Some(key) if key.ends_with("allowed_hosts") => {
            format!("list the host in {key} to allow it")
        }
        Some(key) => format!("set {key} = true to allow it"),
        None => "this address is never allowed".to_owned(),
    };
    format!("refused to connect to {target}: {reason}; {fix}")
}

/// What kind of address an IP is, for the policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AddrClass {
    Public,
    Private,
    LinkLocal,
    Metadata,
    Never(&'static str),
}

impl UrlPolicy {
    /// Checks what can be checked without DNS: scheme `http`/`https`, no user info, a host, and
    /// the address when the host is an IP literal.
    pub fn check_url(&self, url: &Url) -> Result<(), SsrfError> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(SsrfError::Scheme(url.scheme().to_owned()));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(SsrfError::UserInfo);
        }
        match host_of(url)? {
            Host::Ip(ip) => self.check_addr(&ip.to_string(), ip),
            Host::Name(name) => self.check_name(&name),
        }
    }

    /// [`Self::check_url`], then resolves the host and checks every address it resolves to.
    /// Returns the addresses (with the URL's port), for callers that want to show them.
    pub async fn check_url_resolved(&self, url: &Url) -> Result<Vec<SocketAddr>, SsrfError> {
        self.check_url(url)?;
        let port = url.port_or_known_default().unwrap_or(80);
        match host_of(url)? {
            Host::Name(name) => self.resolve(&name, port).await,
            Host::Ip(ip) => Ok(vec![SocketAddr::new(ip, port)]),
        }
    }

    /// Resolves `host` and checks every address; refuses the whole name if any address is
    /// refused, so a round-robin answer cannot slip one through.
    pub async fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, SsrfError> {
        let name = normalize(host);
        self.check_name(&name)?;
        let lookup = tokio::time::timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host((host, port)));
        let addrs: Vec<SocketAddr> = match lookup.await {
            Err(_) => {
                return Err(SsrfError::Resolve {
                    host: name,
                    reason: format!("no answer within {} s", RESOLVE_TIMEOUT.as_secs()),
                });
            }
            Ok(Err(e)) => {
                return Err(SsrfError::Resolve {
                    host: name,
                    reason: e.to_string(),
                });
            }
            Ok(Ok(addrs)) => addrs.collect(),
        };
        if addrs.is_empty() {
            return Err(SsrfError::NoAddress { host: name });
        }
        for addr in &addrs {
            self.check_addr(&name, addr.ip())?;
        }
        Ok(addrs)
    }

    /// Refuses the host names of cloud metadata services before they are resolved.
    fn check_name(&self, name: &str) -> Result<(), SsrfError> {
        let name = normalize(name);
        if METADATA_HOSTS.contains(&name.as_str()) && !self.host_allowed(&name) {
            return Err(SsrfError::Refused {
                host: name,
                addr: None,
                reason: "cloud metadata endpoint",
                allowed_by: Some("connectors.allowed_hosts"),
            });
        }
        Ok(())
    }

    /// Checks one address reached through `host` (a name or the literal itself).
    pub fn check_addr(&self, host: &str, addr: IpAddr) -> Result<(), SsrfError> {
        let class = classify(addr);
        let refuse = |reason, allowed_by| {
            Err(SsrfError::Refused {
                host: normalize(host),
                addr: Some(addr),
                reason,
                allowed_by,
            })
        };
        match class {
            AddrClass::Public => Ok(()),
            AddrClass::Never(reason) => refuse(reason, None),
            _ if self.host_allowed(host) => Ok(()),
            AddrClass::Private if self.allow_private => Ok(()),
            AddrClass::Private => refuse(
                "loopback or private address",
                Some("connectors.allow_private"),
            ),
            AddrClass::LinkLocal if self.allow_link_local => Ok(()),
            AddrClass::LinkLocal => {
                refuse("link-local address", Some("connectors.allow_link_local"))
            }
            AddrClass::Metadata => {
                refuse("cloud metadata endpoint", Some("connectors.allowed_hosts"))
            }
        }
    }

    /// A reqwest client builder that only connects where this policy allows: every resolved
    /// address is checked on every connection, redirects are not followed and environment
    /// proxies are ignored. Callers add timeouts and TLS settings; check the URL itself with
    /// [`Self::check_url`] (IP literals never go through the resolver).
    pub fn client_builder(&self) -> reqwest::ClientBuilder {
        reqwest::Client::builder()
            .dns_resolver(Arc::new(GuardedResolver {
                policy: Arc::new(self.clone()),
            }))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
    }

    fn host_allowed(&self, host: &str) -> bool {
        let host = normalize(host);
        self.allowed_hosts.iter().any(|h| normalize(h) == host)
    }
}

/// Finds the guard's error (a refusal, or a host that did not resolve) inside an error chain;
/// reqwest wraps its resolver's errors.
pub fn find_refusal<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a SsrfError> {
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(refusal) = e.downcast_ref::<SsrfError>() {
            return Some(refusal);
        }
        current = e.source();
    }
    None
}

/// A URL's host: an IP literal or a (normalized) name.
enum Host {
    Ip(IpAddr),
    Name(String),
}

fn host_of(url: &Url) -> Result<Host, SsrfError> {
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or(SsrfError::NoHost)?;
    let host = normalize(host);
    Ok(match host.parse::<IpAddr>() {
        Ok(ip) => Host::Ip(ip),
        Err(_) => Host::Name(host),
    })
}

fn normalize(host: &str) -> String {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .trim_end_matches('.')
        .to_ascii_lowercase()
}

fn classify(addr: IpAddr) -> AddrClass {
    match addr.to_canonical() {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> AddrClass {
    let [a, b, c, d] = ip.octets();
    if matches!(
        [a, b, c, d],
        [169, 254, 169, 254] | [169, 254, 170, 2] | [100, 100, 100, 200]
    ) {
        AddrClass::Metadata
    } else if a == 0 {
        AddrClass::Never("unspecified address")
    } else if ip.is_broadcast() {
        AddrClass::Never("broadcast address")
    } else if ip.is_multicast() {
        AddrClass::Never("multicast address")
    } else if a >= 240 {
        AddrClass::Never("reserved address")
    } else if ip.is_link_local() {
        AddrClass::LinkLocal
    } else if ip.is_loopback() || ip.is_private() || (a == 100 && (64..128).contains(&b)) {
        AddrClass::Private
    } else {
        AddrClass::Public
    }
}

fn classify_v6(ip: Ipv6Addr) -> AddrClass {
    let seg = ip.segments();
    if ip == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254) {
        AddrClass::Metadata
    } else if ip.is_unspecified() {
        AddrClass::Never("unspecified address")
    } else if ip.is_multicast() {
        AddrClass::Never("multicast address")
    } else if seg[0] & 0xffc0 == 0xfe80 {
        AddrClass::LinkLocal
    } else if ip.is_loopback() || seg[0] & 0xfe00 == 0xfc00 || seg[0] & 0xffc0 == 0xfec0 {
        // Loopback, unique local (fc00::/7) and the deprecated site-local (fec0::/10).
        AddrClass::Private
    } else if let Some(embedded) = embedded_v4(&ip) {
        // NAT64 and 6to4 addresses reach the IPv4 address inside them.
        classify_v4(embedded)
    } else {
        AddrClass::Public
    }
}

/// The IPv4 address inside a NAT64 (`64:ff9b::/96`) or 6to4 (`2002::/16`) address.
fn embedded_v4(ip: &Ipv6Addr) -> Option<Ipv4Addr> {
    let seg = ip.segments();
    let from = |hi: u16, lo: u16| {
        let [a, b] = hi.to_be_bytes();
        let [c, d] = lo.to_be_bytes();
        Ipv4Addr::new(a, b, c, d)
    };
    if seg[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        Some(from(seg[6], seg[7]))
    } else if seg[0] == 0x2002 {
        Some(from(seg[1], seg[2]))
    } else {
        None
    }
}

/// reqwest's resolver, checking every address before reqwest may connect to it.
struct GuardedResolver {
    policy: Arc<UrlPolicy>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = Arc::clone(&self.policy);
        Box::pin(async move {
            let addrs = policy.resolve(name.as_str(), 0).await?;
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests;
