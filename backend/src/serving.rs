//! Where the console is served and who may address it: the `Host` values a request may carry
//! (DNS rebinding), the `Origin` a state-changing request must come from (CSRF), whether it is
//! served over TLS (HSTS, `Secure` and `__Host-` cookies), and whether other machines can reach
//! it (then the first-run setup needs the one-time token).
//!
//! With a public URL the console answers only to that URL's authority. Without one, on a
//! loopback listener, it answers to `127.0.0.1:PORT`, `localhost:PORT` and `[::1]:PORT`.

use reqwest::Url;
use std::net::{IpAddr, SocketAddr};

/// How the console is addressed. Made by [`Serving::new`] from the listen address and the
/// public URL, once at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Serving {
    /// The public URL's scheme is `https`.
    tls: bool,
    /// The `(host, port)` pairs a request's `Host` and `Origin` may name; hosts in lower case,
    /// IPv6 addresses in brackets.
    hosts: Vec<(String, u16)>,
    /// The listen address is not loopback, or the public URL's host is not.
    reachable_from_other_machines: bool,
}

impl Serving {
    /// The rules for a console listening on `listen` and reached at `public_url` (none: at
    /// the listen address itself). A public URL that cannot be parsed is logged and treated as
    /// absent.
    pub fn new(listen: SocketAddr, public_url: Option<&str>) -> Serving {
        let parsed = public_url.and_then(|u| match parse_public_url(u) {
            Some(p) => Some(p),
            None => {
                tracing::warn!(
                    public.url = u,
                    "the public URL cannot be read; using the listen address"
                );
                None
            }
        });
        let listen_remote = !listen.ip().is_loopback();
        match parsed {
            Some((tls, host, port)) => {
                let public_remote = !host_is_loopback(&host);
                Serving {
                    tls,
                    hosts: vec![(host, port)],
                    reachable_from_other_machines: listen_remote || public_remote,
                }
            }
            None => {
                let port = listen.port();
                let mut hosts = vec![
                    ("127.0.0.1".to_string(), port),
                    ("localhost".to_string(), port),
                    ("[::1]".to_string(), port),
                ];
                if !listen.ip().is_unspecified() && !listen.ip().is_loopback() {
                    hosts.push((bracketed(listen.ip()), port));
                }
                Serving {
                    tls: false,
                    hosts,
                    reachable_from_other_machines: listen_remote,
                }
            }
        }
    }

    /// Served over TLS (the public URL is `https://…`).
    pub fn tls(&self) -> bool {
        self.tls
    }

    /// Other machines can reach the console: the first-run setup then needs the token.
    pub fn reachable_from_other_machines(&self) -> bool {
        self.reachable_from_other_machines
    }

    /// The `Host` values accepted, as `host:port`, for messages.
    pub fn hosts(&self) -> Vec<String> {
        self.hosts.iter().map(|(h, p)| format!("{h}:{p}")).collect()
    }

    fn default_port(&self) -> u16 {
        if self.tls {
            443
        } else {
            80
        }
    }

    /// True if a request's `Host` (or HTTP/2 `:authority`) names this console.
    pub fn allows_host(&self, host: &str) -> bool {
        split_authority(host, self.default_port()).is_some_and(|hp| self.hosts.contains(&hp))
    }

    /// True if a state-changing request's `Origin` is this console's own: same scheme as the
    /// public URL, an allowed host and port, and the same authority as the request's `Host`.
    pub fn allows_origin(&self, origin: &str, host: Option<&str>) -> bool {
        let Some((scheme, authority)) = origin.split_once("://") else {
            return false;
        };
        let scheme_ok = if self.tls {
            scheme.eq_ignore_ascii_case("https")
        } else {
            scheme.eq_ignore_ascii_case("http")
        };
        if !scheme_ok || authority.contains(['/', '@', '?', '#']) {
            return false;
        }
        let Some(from) = split_authority(authority, self.default_port()) else {
            return false;
        };
        let same_as_host = host
            .and_then(|h| split_authority(h, self.default_port()))
            .is_none_or(|h| h == from);
        same_as_host && self.hosts.contains(&from)
    }
}

impl Default for Serving {
    /// `127.0.0.1:3000` without a public URL.
    fn default() -> Serving {
        Serving::new(SocketAddr::from(([127, 0, 0, 1], 3000)), None)
    }
}

/// `(https?, host, port)` of an `http://` or `https://` URL.
fn parse_public_url(url: &str) -> Option<(bool, String, u16)> {
    let url = Url::parse(url.trim()).ok()?;
    let tls = match url.scheme() {
        "https" => true,
        "http" => false,
        _ => return None,
    };
    // Lower case for a domain; IPv6 in brackets.
    let host = url.host_str()?.to_ascii_lowercase();
    Some((tls, host, url.port_or_known_default()?))
}

fn bracketed(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    }
}

fn host_is_loopback(host: &str) -> bool {
    if host == "localhost" || host.ends_with(".localhost") {
        return true;
    }
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
        .is_ok_and(|ip| ip.is_loopback())
}

/// `host[:port]` as `(lower-case host, port)`, the port defaulting to `default_port`.
/// `None` for anything that is not a plain authority.
fn split_authority(authority: &str, default_port: u16) -> Option<(String, u16)> {
    let authority = authority.trim();
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (v6, after) = rest.split_once(']')?;
        let ip: std::net::Ipv6Addr = v6.parse().ok()?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':')?),
        };
        (format!("[{ip}]"), port)
    } else {
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_ascii_lowercase(), Some(p)),
            None => (authority.to_ascii_lowercase(), None),
        };
        if host.is_empty() || host.contains([':', '/', '@', ' ', '[', ']']) {
            return None;
        }
        (host, port)
    };
    let port = match port {
        None => default_port,
        Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => p.parse().ok()?,
        Some(_) => return None,
    };
    Some((host.trim_end_matches('.').to_string(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(listen: &str, public_url: Option<&str>) -> Serving {
        Serving::new(listen.parse().expect("addr"), public_url)
    }

    #[test]
    fn without_a_public_url_a_loopback_console_answers_to_its_loopback_names() {
        let s = at("127.0.0.1:3000", None);
        for host in [
            "127.0.0.1:3000",
            "localhost:3000",
            "LOCALHOST:3000",
            "[::1]:3000",
            "[0:0:0:0:0:0:0:1]:3000",
        ] {
            assert!(s.allows_host(host), "{host}");
        }
        for host in [
            "127.0.0.1:3001",
            "127.0.0.1",
            "evil.example:3000",
            "",
            "a:b:c",
            "[::1]",
            "[::2]:3000",
            "::1:3000",
            "127.0.0.1:3000/x",
            "user@127.0.0.1:3000",
        ] {
            assert!(!s.allows_host(host), "{host}");
        }
        assert!(!s.tls());
        assert!(!s.reachable_from_other_machines());
    }

    #[test]
    fn with_a_public_url_only_its_authority_is_accepted() {
        let s = at("127.0.0.1:8080", Some("https://Certdesk.Example.jp/"));
        assert!(s.tls());
        assert!(s.allows_host("certdesk.example.jp"));
        assert!(s.allows_host("certdesk.example.jp:443"));
        assert!(!s.allows_host("certdesk.example.jp:8080"));
        assert!(!s.allows_host("127.0.0.1:8080"));
        assert!(s.reachable_from_other_machines());
        let v6 = at("[::1]:3000", Some("http://[::1]:3000"));
        assert!(v6.allows_host("[::1]:3000"));
        assert!(!v6.reachable_from_other_machines());
    }

    #[test]
    fn the_origin_must_match_scheme_host_and_port() {
        let s = at("0.0.0.0:443", Some("https://certdesk.example.jp"));
        let host = Some("certdesk.example.jp");
        assert!(s.allows_origin("https://certdesk.example.jp", host));
        assert!(s.allows_origin("https://certdesk.example.jp:443", host));
        assert!(!s.allows_origin("http://certdesk.example.jp", host));
        assert!(!s.allows_origin("https://certdesk.example.jp:8443", host));
        assert!(!s.allows_origin("https://evil.example", host));
        assert!(!s.allows_origin("null", host));
        assert!(!s.allows_origin("https://certdesk.example.jp", Some("evil.example")));
        let local = at("127.0.0.1:3000", None);
        assert!(local.allows_origin("http://localhost:3000", Some("localhost:3000")));
        assert!(!local.allows_origin("http://localhost:3000", Some("127.0.0.1:3000")));
        assert!(!local.allows_origin("https://127.0.0.1:3000", Some("127.0.0.1:3000")));
    }

    #[test]
    fn a_console_listening_beyond_loopback_is_reachable_from_other_machines() {
        assert!(at("0.0.0.0:3000", None).reachable_from_other_machines());
        assert!(
            at("192.168.1.5:3000", Some("http://127.0.0.1:3000")).reachable_from_other_machines()
        );
        assert!(
            !at("127.0.0.1:3000", Some("http://localhost:3000")).reachable_from_other_machines()
        );
        assert!(at("192.168.1.5:3000", None).allows_host("192.168.1.5:3000"));
    }
}
