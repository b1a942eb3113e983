//! Outbound HTTP for plugins: the allowlist, the address check, secrets, timeouts and size caps.
//!
//! A plugin's request passes two independent checks:
//!
//! 1. **Origin**: its (scheme, host, port) must be on the connector instance's allowlist, compared
//!    on the URL as parsed by the host (no redirects are followed: a `3xx` goes back to the plugin,
//!    whose next request is checked again).
//! 2. **Address**: every address the host name resolves to must be public, unless it lies in a
//!    range the administrator allowed for this instance. Loopback, private (RFC 1918, unique
//!    local), link-local (where cloud metadata services live: `169.254.169.254`), CGNAT,
//!    multicast and reserved ranges are refused by default, and so are the IPv6 forms that
//!    carry an IPv4 address (NAT64, 6to4, Teredo, IPv4-compatible) and site-local addresses.
//!    Link-local and cloud metadata addresses ([`METADATA`]) are opened only by an allowed range
//!    that lies within them, never by a broader one (`0.0.0.0/0` does not reach
//!    `169.254.169.254`); and only the config file may name such a range
//!    (`open_link_local = true` on the connector; the admin API refuses it).
//!
//! Why resolve-then-connect, inside the HTTP client: checking a name with one DNS lookup and then
//! letting the client connect after a second lookup leaves a window in which the name can change
//! (DNS rebinding: a public address for the check, `127.0.0.1` for the connection). So the check
//! is the client's resolver itself ([`VettingResolver`]): it resolves, drops the refused
//! addresses, and the client connects only to what it returned. IP literals never reach a
//! resolver and are checked before sending. (The lookup it vets is the system's; the unit tests
//! give it a stand-in whose answers change from one lookup to the next.)
//!
//! Clients are shared: one per set of allowed ranges (in practice one for all instances that allow
//! none), so connections are pooled across plugins. They are never shared between different sets,
//! because a pooled connection was vetted under the policy of the request that opened it.
//!
//! Secrets: a request names them (`secret-headers`); the host puts their values in marked-sensitive
//! headers and refuses a plugin-set header of the same name, or `Host` and the framing headers,
//! so a plugin can neither read a secret nor redirect it.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use crate::runtime::error::RuntimeError;

/// Idle connections kept per target origin.
const MAX_IDLE_PER_HOST: usize = 64;

/// An origin a connector instance may send HTTP requests to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AllowedHost {
    /// `http` or `https`.
    pub scheme: String,
    /// The host name or IP literal, lower case (IPv6 without brackets).
    pub host: String,
    /// The port (the scheme's default when the origin gives none).
    pub port: u16,
}

impl FromStr for AllowedHost {
    type Err = RuntimeError;

    /// Parses `https://host[:port]`; a path, query or fragment is ignored.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let url = reqwest::Url::parse(s)
            .map_err(|e| RuntimeError::Settings(format!("allowed host `{s}`: {e}")))?;
        let (scheme, host, port) =
            origin(&url).map_err(|e| RuntimeError::Settings(format!("allowed host `{s}`: {e}")))?;
        Ok(AllowedHost { scheme, host, port })
    }
}

impl fmt::Display for AllowedHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "{}://[{}]:{}", self.scheme, self.host, self.port)
        } else {
            write!(f, "{}://{}:{}", self.scheme, self.host, self.port)
        }
    }
}

/// The (scheme, host, port) of an `http(s)` URL without user information.
fn origin(url: &reqwest::Url) -> Result<(String, String, u16), String> {
    let scheme = url.scheme();
    if scheme != "http" && scheme != "https" {
        return Err(format!("scheme `{scheme}` is not http or https"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("user information in a URL is not allowed".to_owned());
    }
    let host = match url.host_str() {
        Some(h) if !h.is_empty() => h
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase(),
        _ => return Err("the URL has no host".to_owned()),
    };
    let port = url
        .port_or_known_default()
        .ok_or_else(|| "the URL has no port".to_owned())?;
    Ok((scheme.to_owned(), host, port))
}

/// An address range (`10.0.0.0/8`, `fd00::/8`, or one address).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    /// The range's first address.
    pub addr: IpAddr,
    /// The prefix length in bits.
    pub prefix: u8,
}

impl Cidr {
    /// A range; `None` if the prefix is longer than the address.
    pub fn new(addr: IpAddr, prefix: u8) -> Option<Self> {
        let bits = if addr.is_ipv4() { 32 } else { 128 };
        (prefix <= bits).then_some(Cidr { addr, prefix })
    }

    /// Whether `ip` lies in the range (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for Cidr {
    type Err = RuntimeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |why: &str| RuntimeError::Settings(format!("address range `{s}`: {why}"));
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr.trim().parse().map_err(|_| bad("not an IP address"))?;
        let prefix = match prefix {
            Some(p) => p.trim().parse().map_err(|_| bad("not a prefix length"))?,
            None if addr.is_ipv4() => 32,
            None => 128,
        };
        Cidr::new(addr, prefix).ok_or_else(|| bad("prefix too long"))
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// Ranges refused unless allowed: not the public internet.
const REFUSED: &[(IpAddr, u8)] = &[
    (IpAddr::V4(Ipv4Addr::new(0, 0, 0, 0)), 8), // "this network"
    (IpAddr::V4(Ipv4Addr::new(10, 0, 0, 0)), 8), // private
    (IpAddr::V4(Ipv4Addr::new(100, 64, 0, 0)), 10), // carrier-grade NAT
    (IpAddr::V4(Ipv4Addr::new(127, 0, 0, 0)), 8), // loopback
    (IpAddr::V4(Ipv4Addr::new(169, 254, 0, 0)), 16), // link-local, cloud metadata
    (IpAddr::V4(Ipv4Addr::new(172, 16, 0, 0)), 12), // private
    (IpAddr::V4(Ipv4Addr::new(192, 0, 0, 0)), 24), // IETF protocol assignments
    (IpAddr::V4(Ipv4Addr::new(192, 168, 0, 0)), 16), // private
    (IpAddr::V4(Ipv4Addr::new(198, 18, 0, 0)), 15), // benchmarking
    (IpAddr::V4(Ipv4Addr::new(224, 0, 0, 0)), 4), // multicast
    (IpAddr::V4(Ipv4Addr::new(240, 0, 0, 0)), 4), // reserved, broadcast
    (
        IpAddr::V6(Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0)),
        96,
    ), // NAT64
    (
        IpAddr::V6(Ipv6Addr::new(0x64, 0xff9b, 1, 0, 0, 0, 0, 0)),
        48,
    ), // NAT64, local use
    (IpAddr::V6(Ipv6Addr::UNSPECIFIED), 96),    // IPv4-compatible (deprecated), `::` and `::1`
    (IpAddr::V6(Ipv6Addr::new(0x100, 0, 0, 0, 0, 0, 0, 0)), 64), // discard
    (IpAddr::V6(Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0)), 32), // Teredo
    (
        IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0)),
        32,
    ), // documentation
    (IpAddr::V6(Ipv6Addr::new(0x2002, 0, 0, 0, 0, 0, 0, 0)), 16), // 6to4
    (IpAddr::V6(Ipv6Addr::new(0xfec0, 0, 0, 0, 0, 0, 0, 0)), 10), // site-local (deprecated)
    (IpAddr::V6(Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0)), 7), // unique local, metadata
    (IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0)), 10), // link-local
    (IpAddr::V6(Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0)), 8), // multicast
];

/// Link-local and cloud metadata addresses: reachable only through an allowed range within
/// one of these (see the module docs).
pub const METADATA: &[(IpAddr, u8)] = &[
    (IpAddr::V4(Ipv4Addr::new(169, 254, 0, 0)), 16), // link-local; AWS, GCP, Azure metadata
    (IpAddr::V4(Ipv4Addr::new(100, 100, 100, 200)), 32), // Alibaba Cloud metadata
    (IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0)), 10), // link-local
    (
        IpAddr::V6(Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254)),
        128,
    ), // AWS metadata
];

impl Cidr {
    /// Whether every address of this range is link-local or a metadata address ([`METADATA`]).
    pub fn is_metadata(&self) -> bool {
        METADATA.iter().any(|&(addr, prefix)| {
            self.prefix >= prefix && (Cidr { addr, prefix }).contains(self.addr)
        })
    }
}

/// Whether `ip` lies in one of `ranges`.
fn listed(ranges: &[(IpAddr, u8)], ip: IpAddr) -> bool {
    ranges
        .iter()
        .any(|&(addr, prefix)| Cidr { addr, prefix }.contains(ip))
}

/// Whether a connection to `ip` is allowed: a public address, or one in an allowed range (a
/// link-local or metadata address only in an allowed range within [`METADATA`]).
pub fn address_permitted(ip: IpAddr, allowed: &[Cidr]) -> bool {
    let ip = ip.to_canonical();
    if listed(METADATA, ip) {
        return allowed.iter().any(|c| c.is_metadata() && c.contains(ip));
    }
    allowed.iter().any(|c| c.contains(ip)) || !listed(REFUSED, ip)
}

/// A refusal by the resolver, found again in the client's error chain.
#[derive(Debug)]
struct AddressRefused(String);

impl fmt::Display for AddressRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for AddressRefused {}

/// A lookup in flight: the addresses a name resolves to.
type Looking = Pin<Box<dyn Future<Output = std::io::Result<Vec<SocketAddr>>> + Send>>;

/// How host names are looked up, before [`VettingResolver`] vets the answers: the system's
/// resolver ([`Lookup::default`]), or a test's stand-in.
#[derive(Clone)]
struct Lookup(Arc<dyn Fn(String) -> Looking + Send + Sync>);

impl Default for Lookup {
    /// The system's resolver.
    fn default() -> Self {
        Lookup(Arc::new(|host: String| -> Looking {
            Box::pin(
                async move { Ok(tokio::net::lookup_host((host.as_str(), 0)).await?.collect()) },
            )
        }))
    }
}

impl fmt::Debug for Lookup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Lookup")
    }
}

/// The HTTP client's resolver: resolves, then keeps only the permitted addresses (see the module
/// docs for why the check lives here).
#[derive(Debug, Clone)]
struct VettingResolver {
    /// The ranges allowed in addition to public addresses.
    allowed: Arc<Vec<Cidr>>,
    /// The lookup whose answers are vetted.
    lookup: Lookup,
}

impl reqwest::dns::Resolve for VettingResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allowed = self.allowed.clone();
        let host = name.as_str().to_owned();
        let looking = (self.lookup.0)(host.clone());
        Box::pin(async move {
            let found: Vec<SocketAddr> = looking.await?;
            let (permitted, refused): (Vec<SocketAddr>, Vec<SocketAddr>) = found
                .into_iter()
                .partition(|a| address_permitted(a.ip(), &allowed));
            if permitted.is_empty() {
                let refused: Vec<String> = refused.iter().map(|a| a.ip().to_string()).collect();
                let message = if refused.is_empty() {
                    format!("`{host}` resolves to no address")
                } else {
                    format!(
                        "`{host}` resolves to {}, in a range this connector may not reach \
                         (allow it explicitly with an address range)",
                        refused.join(", ")
                    )
                };
                return Err(Box::new(AddressRefused(message)) as Box<_>);
            }
            Ok(Box::new(permitted.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// HTTP clients by policy (the sorted allowed ranges).
#[derive(Debug, Default)]
pub(crate) struct Clients {
    /// Built clients.
    by_policy: Mutex<HashMap<Vec<String>, reqwest::Client>>,
    /// How their resolvers look names up.
    lookup: Lookup,
}

impl Clients {
    /// Clients whose resolvers vet the answers of `lookup` instead of the system's.
    #[cfg(test)]
    fn resolving_with(lookup: Lookup) -> Self {
        Clients {
            by_policy: Mutex::default(),
            lookup,
        }
    }

    /// The shared client for instances allowing these ranges.
    pub(crate) fn for_ranges(&self, allowed: &[Cidr]) -> Result<reqwest::Client, RuntimeError> {
        let mut key: Vec<String> = allowed.iter().map(Cidr::to_string).collect();
        key.sort();
        key.dedup();
        let mut map = self
            .by_policy
            .lock()
            .map_err(|_| RuntimeError::Http("client table poisoned".to_owned()))?;
        if let Some(client) = map.get(&key) {
            return Ok(client.clone());
        }
        let client = reqwest::Client::builder()
            .dns_resolver(Arc::new(VettingResolver {
                allowed: Arc::new(allowed.to_vec()),
                lookup: self.lookup.clone(),
            }))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(Duration::from_secs(10))
            .pool_idle_timeout(Duration::from_secs(60))
            // As many as calls can be in flight to one target (the delivery workers, or the
            // clients of a pass-through gateway): fewer, and a busy connector reopens
            // connections it just closed.
            .pool_max_idle_per_host(MAX_IDLE_PER_HOST)
            .user_agent(concat!("scim-gateway/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| RuntimeError::Http(e.to_string()))?;
        map.insert(key, client.clone());
        Ok(client)
    }
}

/// Headers a plugin may not set: the host's (`Host`) and the message framing.
const RESERVED_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "te",
    "trailer",
    "upgrade",
    "proxy-authorization",
    "proxy-connection",
    "keep-alive",
];

/// What the host needs to send one plugin request.
pub(crate) struct Egress<'a> {
    /// The instance's name (in messages).
    pub(crate) connector: &'a str,
    /// The client for the instance's policy.
    pub(crate) client: &'a reqwest::Client,
    /// The allowed origins.
    pub(crate) allowed_hosts: &'a [AllowedHost],
    /// The allowed ranges (for IP literals).
    pub(crate) allowed_ranges: &'a [Cidr],
    /// The instance's secrets.
    pub(crate) secrets: &'a HashMap<String, super::Secret>,
    /// The request's timeout.
    pub(crate) timeout: Duration,
    /// The largest response body accepted.
    pub(crate) max_response_bytes: usize,
}

/// A plugin request, as the contract gives it (version-independent).
pub(crate) struct PluginRequest {
    /// The method.
    pub(crate) method: String,
    /// The URL.
    pub(crate) url: String,
    /// Plugin-set headers.
    pub(crate) headers: Vec<(String, String)>,
    /// (header, secret name, prefix).
    pub(crate) secret_headers: Vec<(String, String, String)>,
    /// The body.
    pub(crate) body: Vec<u8>,
}

/// A response for the plugin.
pub(crate) struct PluginResponse {
    /// The status.
    pub(crate) status: u16,
    /// The headers, names in lower case.
    pub(crate) headers: Vec<(String, String)>,
    /// The body.
    pub(crate) body: Vec<u8>,
}

/// Why a plugin request got no response (mirrors the contract's `http-error`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EgressError {
    /// Refused by the sandbox.
    Denied(String),
    /// Malformed.
    InvalidRequest(String),
    /// No complete response in time.
    Timeout,
    /// The body is larger than the cap.
    TooLarge(u64),
    /// The connection failed.
    Transport(String),
}

impl Egress<'_> {
    /// Checks and sends a plugin's request.
    pub(crate) async fn send(&self, req: PluginRequest) -> Result<PluginResponse, EgressError> {
        use EgressError::{Denied, InvalidRequest};

        let url = reqwest::Url::parse(&req.url)
            .map_err(|e| InvalidRequest(format!("URL `{}`: {e}", req.url)))?;
        let (scheme, host, port) =
            origin(&url).map_err(|e| InvalidRequest(format!("URL `{}`: {e}", req.url)))?;
        let target = AllowedHost { scheme, host, port };
        if !self.allowed_hosts.contains(&target) {
            return Err(Denied(format!(
                "{target} is not on connector `{}`'s allowed hosts",
                self.connector
            )));
        }
        let host = &target.host;
        if let Ok(ip) = host.parse::<IpAddr>()
            && !address_permitted(ip, self.allowed_ranges)
        {
            return Err(Denied(format!(
                "{ip} is in a range connector `{}` may not reach",
                self.connector
            )));
        }

        let method = reqwest::Method::from_bytes(req.method.as_bytes())
            .map_err(|_| InvalidRequest(format!("method `{}`", req.method)))?;
        // `TRACE` echoes the request, secret headers included, back to the plugin; `CONNECT`
        // would tunnel past the host. Provisioning needs neither.
        if !METHODS.contains(&method.as_str()) {
            return Err(Denied(format!(
                "method `{method}`: a plugin may send {}",
                METHODS.join(", ")
            )));
        }
        let mut headers = HeaderMap::new();
        for (name, value) in &req.headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| InvalidRequest(format!("header name `{name}`")))?;
            let secret_named = req
                .secret_headers
                .iter()
                .any(|(h, _, _)| h.eq_ignore_ascii_case(name.as_str()));
            if RESERVED_HEADERS.contains(&name.as_str()) || secret_named {
                return Err(InvalidRequest(format!(
                    "header `{name}` is set by the host"
                )));
            }
            let value = HeaderValue::from_str(value)
                .map_err(|_| InvalidRequest(format!("the value of header `{name}`")))?;
            headers.append(name, value);
        }
        for (header, secret, prefix) in &req.secret_headers {
            let name = HeaderName::from_bytes(header.as_bytes())
                .map_err(|_| InvalidRequest(format!("header name `{header}`")))?;
            if RESERVED_HEADERS.contains(&name.as_str()) {
                return Err(InvalidRequest(format!(
                    "header `{name}` is set by the host"
                )));
            }
            let found = self
                .secrets
                .get(secret)
                .ok_or_else(|| InvalidRequest(format!("unknown secret `{secret}`")))?;
            if !found.uses.header {
                return Err(InvalidRequest(format!(
                    "secret `{secret}` is declared for use as {}, not in a header",
                    found.uses
                )));
            }
            // A secret goes only where it was given for: its origins, when it is bound to some.
            if !found.origins.is_empty() && !found.origins.contains(&target) {
                return Err(Denied(format!(
                    "secret `{secret}` of connector `{}` may not be sent to {target}",
                    self.connector
                )));
            }
            let value = &found.value;
            // The error names the header, never the value.
            let mut value = HeaderValue::from_str(&format!("{prefix}{value}")).map_err(|_| {
                InvalidRequest(format!("secret `{secret}` does not fit in header `{name}`"))
            })?;
            value.set_sensitive(true);
            headers.insert(name, value);
        }

        let sent = self
            .client
            .request(method, url)
            .headers(headers)
            .body(req.body)
            .timeout(self.timeout)
            .send()
            .await;
        let mut response = sent.map_err(|e| transport_error(&e))?;
        let cap = self.max_response_bytes;
        if response.content_length().is_some_and(|n| n > cap as u64) {
            return Err(EgressError::TooLarge(cap as u64));
        }
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| transport_error(&e))? {
            if body.len() + chunk.len() > cap {
                return Err(EgressError::TooLarge(cap as u64));
            }
            body.extend_from_slice(&chunk);
        }
        // A target that echoes what it was sent (a debugging endpoint, an error page quoting
        // the request) would hand the plugin the secret the host added: the plugin never sees
        // a secret's value, in the body or in a header.
        let mut headers: Vec<(String, String)> = headers;
        let values = self.secrets.values().map(|s| &s.value);
        for secret in values.filter(|s| s.len() >= MIN_REDACTED) {
            if let Some(redacted) = redact(&body, secret.as_bytes()) {
                body = redacted;
            }
            for (_, value) in &mut headers {
                if value.contains(secret.as_str()) {
                    *value = value.replace(secret.as_str(), REDACTED);
                }
            }
        }
        Ok(PluginResponse {
            status,
            headers,
            body,
        })
    }
}

/// The methods a plugin may send.
const METHODS: &[&str] = &["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"];

/// What stands in a response for a secret's value.
const REDACTED: &str = "[redacted]";

/// Secrets shorter than this are not searched for in responses: a value that short would match
/// ordinary text (and is no secret worth the name).
const MIN_REDACTED: usize = 6;

/// `bytes` with every occurrence of `secret` replaced by [`REDACTED`], or `None` if it has
/// none. Linear in `bytes` for a secret of fixed size.
fn redact(bytes: &[u8], secret: &[u8]) -> Option<Vec<u8>> {
    let first = bytes.windows(secret.len()).position(|w| w == secret)?;
    let mut out = Vec::with_capacity(bytes.len());
    out.extend_from_slice(&bytes[..first]);
    let mut rest = &bytes[first..];
    while !rest.is_empty() {
        if rest.starts_with(secret) {
            out.extend_from_slice(REDACTED.as_bytes());
            rest = &rest[secret.len()..];
        } else {
            out.push(rest[0]);
            rest = &rest[1..];
        }
    }
    Some(out)
}

/// Classifies a client error: a refusal by the resolver, a timeout, or a transport failure.
fn transport_error(e: &reqwest::Error) -> EgressError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if let Some(refused) = s.downcast_ref::<AddressRefused>() {
            return EgressError::Denied(refused.0.clone());
        }
        source = s.source();
    }
    if e.is_timeout() {
        return EgressError::Timeout;
    }
    let mut message = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    EgressError::Transport(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cidr(s: &str) -> Cidr {
        s.parse().expect("valid range")
    }

    #[test]
    fn parses_allowed_hosts() {
        let h: AllowedHost = "https://API.example.com/v2/".parse().expect("parses");
        assert_eq!(h.to_string(), "https://api.example.com:443");
        let h: AllowedHost = "http://127.0.0.1:8080".parse().expect("parses");
        assert_eq!((h.host.as_str(), h.port), ("127.0.0.1", 8080));
        let h: AllowedHost = "http://[::1]:81".parse().expect("parses");
        assert_eq!(h.to_string(), "http://[::1]:81");
        assert!("ftp://x".parse::<AllowedHost>().is_err());
        assert!("https://u:p@x".parse::<AllowedHost>().is_err());
    }

    #[test]
    fn ranges_contain() {
        assert!(cidr("10.0.0.0/8").contains("10.1.2.3".parse().expect("ip")));
        assert!(!cidr("10.0.0.0/8").contains("11.0.0.1".parse().expect("ip")));
        assert!(cidr("0.0.0.0/0").contains("8.8.8.8".parse().expect("ip")));
        assert!(cidr("127.0.0.1").contains("::ffff:127.0.0.1".parse().expect("ip")));
        assert!(cidr("fd00::/8").contains("fd00:ec2::254".parse().expect("ip")));
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
    }

    #[test]
    fn refuses_non_public_addresses_unless_allowed() {
        for ip in [
            "127.0.0.1",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fe80::1",
            "fd00:ec2::254",
            "::ffff:127.0.0.1",
            "224.0.0.1",
        ] {
            let ip: IpAddr = ip.parse().expect("ip");
            assert!(!address_permitted(ip, &[]), "{ip} should be refused");
        }
        for ip in ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"] {
            assert!(address_permitted(ip.parse().expect("ip"), &[]), "{ip}");
        }
        for ip in [
            "64:ff9b:1::a00:1",
            "::7f00:1",
            "2002:7f00:1::",
            "2001:0:7f00:1::",
            "fec0::1",
        ] {
            let ip: IpAddr = ip.parse().expect("ip");
            assert!(
                !address_permitted(ip, &[]),
                "{ip} carries a refused address"
            );
        }
        // Metadata addresses: never through a broad range, only through one within them.
        let metadata: IpAddr = "169.254.169.254".parse().expect("ip");
        let everything = [cidr("0.0.0.0/0"), cidr("::/0"), cidr("169.0.0.0/8")];
        assert!(!address_permitted(metadata, &everything));
        assert!(!address_permitted(
            "fd00:ec2::254".parse().expect("ip"),
            &everything
        ));
        assert!(address_permitted(metadata, &[cidr("169.254.169.254/32")]));
        assert!(cidr("169.254.0.0/16").is_metadata() && !cidr("169.0.0.0/8").is_metadata());
        let loopback = [cidr("127.0.0.0/8")];
        assert!(address_permitted(
            "127.0.0.1".parse().expect("ip"),
            &loopback
        ));
        assert!(!address_permitted(
            "10.0.0.1".parse().expect("ip"),
            &loopback
        ));
    }

    /// A tiny HTTP server on `ip:port` answering every request `200` with `name` as the body,
    /// counting the requests; `None` if the port is taken there.
    async fn answering(
        ip: [u8; 4],
        port: u16,
        name: &'static str,
    ) -> Option<(u16, Arc<std::sync::atomic::AtomicUsize>)> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind((IpAddr::from(ip), port))
            .await
            .ok()?;
        let port = listener.local_addr().ok()?.port();
        let served = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = served.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let mut head = Vec::new();
                let mut chunk = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut chunk).await {
                        Ok(n) if n > 0 => head.extend_from_slice(&chunk[..n]),
                        _ => break,
                    }
                }
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{name}",
                    name.len()
                );
                let _ = socket.write_all(answer.as_bytes()).await;
                let _ = socket.shutdown().await;
            }
        });
        Some((port, served))
    }

    #[tokio::test]
    async fn a_name_that_moves_to_a_refused_address_after_its_check_is_never_connected_there() {
        use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

        tokio::time::timeout(Duration::from_secs(120), async {
            // One port on two loopback addresses: 127.0.0.2, which this connector may reach,
            // and 127.0.0.1, which it may not ("internal").
            let (port, internal, vetted) = {
                let mut found = None;
                for _ in 0..20 {
                    let (port, internal) = answering([127, 0, 0, 1], 0, "internal")
                        .await
                        .expect("binds 127.0.0.1");
                    if let Some((_, vetted)) = answering([127, 0, 0, 2], port, "vetted").await {
                        found = Some((port, internal, vetted));
                        break;
                    }
                }
                found.expect("a port free on both 127.0.0.1 and 127.0.0.2")
            };
            // The name rebinds: its first answer is the permitted address, every later one
            // the refused address.
            let lookups = Arc::new(AtomicUsize::new(0));
            let counted = lookups.clone();
            // As `Runtime::new` does: the clients need a TLS provider, even for plain HTTP.
            let _ = rustls::crypto::ring::default_provider().install_default();
            let clients =
                Clients::resolving_with(Lookup(Arc::new(move |_host: String| -> Looking {
                    let ip = match counted.fetch_add(1, SeqCst) {
                        0 => [127, 0, 0, 2],
                        _ => [127, 0, 0, 1],
                    };
                    Box::pin(async move { Ok(vec![SocketAddr::from((ip, 0))]) })
                })));
            let allowed = [cidr("127.0.0.2/32")];
            let client = clients.for_ranges(&allowed).expect("client");
            let url = format!("http://rebind.test:{port}/");
            let hosts = [url.parse::<AllowedHost>().expect("origin")];
            let secrets = HashMap::new();
            let egress = Egress {
                connector: "rebind",
                client: &client,
                allowed_hosts: &hosts,
                allowed_ranges: &allowed,
                secrets: &secrets,
                timeout: Duration::from_secs(60),
                max_response_bytes: 1024,
            };
            let get = || PluginRequest {
                method: "GET".to_owned(),
                url: url.clone(),
                headers: Vec::new(),
                secret_headers: Vec::new(),
                body: Vec::new(),
            };

            // The address checked is the address connected to: one lookup, vetted, used.
            let response = egress.send(get()).await.map_err(|e| format!("{e:?}"));
            let body = response.map(|r| String::from_utf8_lossy(&r.body).into_owned());
            assert_eq!(
                body.as_deref(),
                Ok("vetted"),
                "the request must reach the address that was checked"
            );
            assert_eq!(
                internal.load(SeqCst),
                0,
                "a connection went to the address the name moved to after its check"
            );
            assert_eq!(lookups.load(SeqCst), 1, "one lookup, checked and used");

            // Once the name answers the refused address, the request is refused, unsent.
            let err = match egress.send(get()).await {
                Ok(r) => panic!(
                    "sent to the refused address: {}",
                    String::from_utf8_lossy(&r.body)
                ),
                Err(e) => e,
            };
            let EgressError::Denied(message) = &err else {
                panic!("expected a refusal, got {err:?}");
            };
            assert!(
                message.contains("`rebind.test` resolves to 127.0.0.1, in a range"),
                "{message}"
            );
            assert_eq!(internal.load(SeqCst), 0, "nothing reached 127.0.0.1");
            assert_eq!(vetted.load(SeqCst), 1);
        })
        .await
        .expect("the test did not finish in 120 s");
    }
}
