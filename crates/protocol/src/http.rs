//! The http allowlist: the hosts an execution's `http` grant may reach (a project's
//! `http_allowlist`). Pure parsing and matching, shared by the coordinator (which validates a
//! project's entries when it is created) and the host (which enforces them per request).
//!
//! An entry is `host`, `host:port`, `*.domain` or `*.domain:port`, optionally prefixed with
//! `https://` (the default) or `http://` (also allows plain http to that host):
//!
//! - `api.example.com` matches that host only (case-insensitive, a trailing dot ignored);
//! - `*.example.org` matches every name *under* `example.org` (`a.example.org`,
//!   `a.b.example.org`), not `example.org` itself;
//! - without a port, only the scheme's default port (443, or 80 for plain http) is allowed;
//! - an IP literal (`203.0.113.7`, `[2001:db8::1]`) matches that address; the connector still
//!   refuses non-public addresses (the host's `caps::http::address`) whatever the allowlist says.
//!
//! ```
//! use outlayer_protocol::http::Allowlist;
//! let l = Allowlist::parse(&["api.example.com", "*.example.org:8443", "http://plain.example"]).unwrap();
//! assert!(l.allows(true, "a.example.org", 8443));
//! assert!(l.allows(false, "plain.example", 80));
//! assert_eq!(Allowlist::parse(&["x.com/path"]).unwrap_err().entry, "x.com/path");
//! ```
//!
//! A leaf module.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Why an allowlist entry was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid http allowlist entry {entry:?}: {reason}")]
pub struct AllowlistError {
    /// The entry as given.
    pub entry: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostMatch {
    /// Exactly this host.
    Exact(String),
    /// Any host ending with this suffix (which starts with a dot).
    Under(String),
}

/// One parsed allowlist entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPattern {
    host: HostMatch,
    port: Option<u16>,
    plain_http: bool,
}

impl HostPattern {
    /// Parse one entry (see the module docs).
    pub fn parse(entry: &str) -> Result<Self, AllowlistError> {
        let err = |reason| AllowlistError { entry: entry.to_string(), reason };
        let trimmed = entry.trim();
        let (plain_http, rest) = if let Some(r) = strip_prefix_ci(trimmed, "http://") {
            (true, r)
        } else if let Some(r) = strip_prefix_ci(trimmed, "https://") {
            (false, r)
        } else {
            (false, trimmed)
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.is_empty() {
            return Err(err("empty host"));
        }
        if rest.contains("://") || rest.contains(['/', '@', '?', '#', ' ']) {
            return Err(err("expected host[:port], without a path, user or query"));
        }
        let (host, port) = split_host_port(rest).ok_or_else(|| err("bad port"))?;
        let host = normalize(host);
        if host.is_empty() {
            return Err(err("empty host"));
        }
        let host = if let Some(domain) = host.strip_prefix("*.") {
            if domain.is_empty() || !is_dns_name(domain) {
                return Err(err("a wildcard must be `*.` followed by a domain name"));
            }
            HostMatch::Under(format!(".{domain}"))
        } else if host.contains('*') {
            return Err(err("`*` is only allowed as the first label (`*.example.org`)"));
        } else if host.parse::<std::net::IpAddr>().is_ok() || is_dns_name(&host) {
            HostMatch::Exact(host)
        } else {
            return Err(err("not a host name or IP address"));
        };
        Ok(Self { host, port, plain_http })
    }

    /// Whether a request to `host:port` over `https` (or plain http) matches this entry.
    pub fn allows(&self, https: bool, host: &str, port: u16) -> bool {
        if !https && !self.plain_http {
            return false;
        }
        let port_ok = match self.port {
            Some(p) => p == port,
            None => port == if https { 443 } else { 80 },
        };
        let host = normalize(host);
        let host_ok = match &self.host {
            HostMatch::Exact(h) => *h == host,
            HostMatch::Under(suffix) => host.len() > suffix.len() && host.ends_with(suffix.as_str()),
        };
        port_ok && host_ok
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.plain_http {
            f.write_str("http://")?;
        }
        match &self.host {
            HostMatch::Exact(h) if h.contains(':') => write!(f, "[{h}]")?,
            HostMatch::Exact(h) => f.write_str(h)?,
            HostMatch::Under(s) => write!(f, "*{s}")?,
        }
        match self.port {
            Some(p) => write!(f, ":{p}"),
            None => Ok(()),
        }
    }
}

/// An execution's allowlist. Empty allows nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Allowlist {
    patterns: Vec<HostPattern>,
}

impl Allowlist {
    /// Parse every entry; the first bad one is the error.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, AllowlistError> {
        Ok(Self { patterns: entries.iter().map(|e| HostPattern::parse(e.as_ref())).collect::<Result<_, _>>()? })
    }

    /// Whether a request to `host:port` over `https` (or plain http) may go ahead.
    pub fn allows(&self, https: bool, host: &str, port: u16) -> bool {
        self.patterns.iter().any(|p| p.allows(https, host, port))
    }

    /// The parsed entries.
    pub fn patterns(&self) -> &[HostPattern] {
        &self.patterns
    }
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    (s.len() >= prefix.len() && s[..prefix.len()].eq_ignore_ascii_case(prefix)).then(|| &s[prefix.len()..])
}

/// `host`, `host:port`, `[v6]`, `[v6]:port`; `None` for a bad port.
fn split_host_port(s: &str) -> Option<(&str, Option<u16>)> {
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        return match after {
            "" => Some((host, None)),
            p => Some((host, Some(p.strip_prefix(':')?.parse().ok().filter(|&p| p != 0)?))),
        };
    }
    match s.split_once(':') {
        // A bare IPv6 literal without brackets: no port.
        Some(_) if s.parse::<std::net::Ipv6Addr>().is_ok() => Some((s, None)),
        Some((host, port)) => Some((host, Some(port.parse().ok().filter(|&p| p != 0)?))),
        None => Some((s, None)),
    }
}

/// Lowercase, brackets and one trailing dot removed.
fn normalize(host: &str) -> String {
    let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase()
}

fn is_dns_name(s: &str) -> bool {
    s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(entries: &[&str]) -> Allowlist {
        Allowlist::parse(entries).unwrap()
    }

    #[test]
    fn exact_hosts_wildcards_ports_and_schemes() {
        let l = list(&["api.example.com", "*.example.org", "svc.test:8443", "http://plain.test", "http://127.0.0.1:9000", "[2001:db8::1]"]);
        assert!(l.allows(true, "api.example.com", 443));
        assert!(l.allows(true, "API.Example.COM.", 443));
        assert!(!l.allows(true, "api.example.com", 8443), "no port = default port only");
        assert!(!l.allows(false, "api.example.com", 80), "https only unless the entry says http://");
        assert!(!l.allows(true, "evil.api.example.com", 443));
        assert!(l.allows(true, "a.example.org", 443));
        assert!(l.allows(true, "a.b.example.org", 443));
        assert!(!l.allows(true, "example.org", 443), "a wildcard does not match the domain itself");
        assert!(!l.allows(true, "badexample.org", 443));
        assert!(l.allows(true, "svc.test", 8443));
        assert!(!l.allows(true, "svc.test", 443));
        assert!(l.allows(false, "plain.test", 80));
        assert!(l.allows(true, "plain.test", 443));
        assert!(l.allows(false, "127.0.0.1", 9000));
        assert!(l.allows(true, "[2001:db8::1]", 443));
        assert!(!Allowlist::default().allows(true, "api.example.com", 443));
    }

    #[test]
    fn bad_entries_are_refused() {
        for bad in ["", "*", "*.", "a.*.com", "ftp://x.com", "x.com/path", "user@x.com", "x.com:0", "x.com:http", "x..com", "[::1"] {
            assert!(HostPattern::parse(bad).is_err(), "{bad:?} must be refused");
        }
        assert_eq!(HostPattern::parse("http://*.Example.org:81").unwrap().to_string(), "http://*.example.org:81");
    }
}

/// Outbound HTTP of one execution.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpStats {
    /// Requests that were sent on their way (allowed, within the budget).
    pub calls: u32,
    /// Requests refused with `HTTP-request-denied`: not granted, or a host outside the allowlist.
    pub denied: u32,
    /// Requests refused because the per-execution request budget was used up.
    pub over_budget: u32,
    /// Requests refused because the host resolved to a non-public address (SSRF protection).
    pub prohibited: u32,
    /// Requests that failed on the way: DNS, connect, TLS, protocol, timeouts.
    pub failed: u32,
    /// Of those, the connect or first-byte timeouts (and requests stopped by the deadline).
    pub timeouts: u32,
    /// Responses whose body was cut at a byte cap (per request or in total).
    pub truncated: u32,
    /// Request body bytes sent.
    pub request_bytes: u64,
    /// Response body bytes received (up to the caps).
    pub response_bytes: u64,
    /// The refused requests, by host and reason (`denied https://evil.test:443 (not on the
    /// allowlist)`), at most the host's `MAX_LISTED_REFUSALS`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refused: Vec<String>,
}

impl HttpStats {
    /// `true` when the execution made no HTTP request at all (nothing to report).
    pub fn is_idle(&self) -> bool {
        *self == HttpStats::default()
    }
}
