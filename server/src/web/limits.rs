//! Limits on anonymous attempts: the routes anyone can reach and that check a secret (sign-in,
//! setup, the pickup download, and later the check page) pass two token buckets before their
//! handler runs: their client address's, then everyone's ([`AttemptLimits`], defaults in
//! `certdesk_backend::settings`). A refused attempt is answered at once with `E-AUTH-010`
//! (429, `Retry-After`) and writes nothing.
//!
//! The client address is the TCP peer (`ConnectInfo`, so the server must be served with
//! `into_make_service_with_connect_info::<SocketAddr>()`); `X-Forwarded-For` is not trusted.
//! IPv6 clients are counted per /64, the block one machine can pick its addresses from.
//!
//! Taking the limit is one line where the route is declared:
//! - a plain route: `.route("/x", post(handler).layer(middleware::from_fn_with_state(attempts.clone(), limit_attempts)))`;
//! - a server function: its endpoint in `console::LIMITED_SERVER_FNS`.

use super::error::WebError;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::header::{self, HeaderValue};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use certdesk_backend::{AttemptLimits, AttemptRate, ServiceError};
use certdesk_domain::AuthError;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota};
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;

/// Client addresses remembered before the idle ones (whose bucket is full again) are dropped.
const REMEMBERED_CLIENTS: usize = 10_000;

/// The two buckets, shared by every route of one listener that takes the limit (one budget for
/// all of the console's anonymous routes; the check listener's renewal routes have their own).
#[derive(Clone)]
pub struct AttemptLimiter {
    per_client: Arc<DefaultKeyedRateLimiter<IpAddr>>,
    overall: Arc<DefaultDirectRateLimiter>,
    clock: DefaultClock,
}

impl AttemptLimiter {
    pub fn new(limits: AttemptLimits) -> AttemptLimiter {
        AttemptLimiter {
            per_client: Arc::new(DefaultKeyedRateLimiter::keyed(quota(limits.per_client))),
            overall: Arc::new(DefaultDirectRateLimiter::direct(quota(limits.overall))),
            clock: DefaultClock::default(),
        }
    }

    /// Takes one attempt from the client's bucket, then from everyone's. The client's comes
    /// first so that one address flooding is refused by its own bucket and does not use up
    /// everyone's. Without a peer address (a router not served with connect info) all
    /// requests share one client bucket.
    pub fn check(&self, peer: Option<SocketAddr>) -> Result<(), ServiceError> {
        let client = peer.map_or(IpAddr::V6(Ipv6Addr::UNSPECIFIED), |p| client_key(p.ip()));
        if self.per_client.len() > REMEMBERED_CLIENTS {
            self.per_client.retain_recent();
        }
        let now = self.clock.now();
        let refused = |wait: std::time::Duration| {
            ServiceError::from(AuthError::TooManyAttempts {
                retry_after_secs: wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
            })
        };
        self.per_client
            .check_key(&client)
            .map_err(|not_until| refused(not_until.wait_time_from(now)))?;
        self.overall
            .check()
            .map_err(|not_until| refused(not_until.wait_time_from(now)))?;
        Ok(())
    }
}

fn quota(rate: AttemptRate) -> Quota {
    let burst = NonZeroU32::new(rate.burst).unwrap_or(NonZeroU32::MIN);
    Quota::with_period(rate.period)
        .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
        .allow_burst(burst)
}

/// The bucket a client address counts in: an IPv4 address (also when IPv4-mapped), or an
/// IPv6 address's /64.
fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & (u128::MAX << 64))),
        },
    }
}

/// Middleware: refuses the request with `E-AUTH-010` when its client or everyone is over the
/// limit; otherwise runs the handler.
pub async fn limit_attempts(
    State(limiter): State<AttemptLimiter>,
    req: Request,
    next: Next,
) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    match limiter.check(peer) {
        Ok(()) => next.run(req).await,
        Err(refusal) => {
            tracing::debug!(http.path = %req.uri().path(), client.addr = ?peer, "attempt refused: too many");
            let back = if req.uri().path().starts_with("/pickup") {
                "/pickup"
            } else {
                "/login"
            };
            refusal_response(refusal, wants_page(&req).then_some(back))
        }
    }
}

/// True for a browser navigation (a form posted without JavaScript, like the pickup page's),
/// which should get a page to read rather than the JSON a server function's caller decodes.
fn wants_page(req: &Request) -> bool {
    req.headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"))
}

/// A refusal as JSON (the [`WebError`] body), or as a small page with a link `back`; both
/// with `Retry-After`.
fn refusal_response(refusal: ServiceError, page_back_to: Option<&str>) -> Response {
    let Some(back) = page_back_to else {
        return WebError::from(refusal).into_response();
    };
    let retry_after = refusal.retry_after_secs().unwrap_or(1);
    let (code, message) = (refusal.code(), refusal.message());
    let body = format!(
        "<!DOCTYPE html><html lang=\"ja\"><head><meta charset=\"utf-8\"><title>certdesk</title>\
         <link rel=\"stylesheet\" href=\"/style/main.css\"></head><body><main class=\"card narrow\">\
         <div class=\"error-banner\" role=\"alert\" data-code=\"{code}\"><span class=\"error-code\">{code}</span> \
         <span class=\"error-message\">{}</span></div><p lang=\"en\">{}</p>\
         <p><a href=\"{back}\">戻る / Back</a></p></main></body></html>",
        message.ja, message.en
    );
    let mut resp = (StatusCode::TOO_MANY_REQUESTS, Html(body)).into_response();
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn limiter(per_client: u32, overall: u32) -> AttemptLimiter {
        let hour = Duration::from_secs(3600);
        AttemptLimiter::new(AttemptLimits {
            per_client: AttemptRate {
                burst: per_client,
                period: hour,
            },
            overall: AttemptRate {
                burst: overall,
                period: hour,
            },
        })
    }

    fn peer(ip: &str) -> Option<SocketAddr> {
        Some(SocketAddr::new(ip.parse().expect("ip"), 40000))
    }

    #[test]
    fn a_client_over_its_burst_is_refused_with_the_wait_in_whole_seconds() {
        let l = limiter(2, 100);
        assert!(l.check(peer("10.0.0.1")).is_ok());
        assert!(l.check(peer("10.0.0.1")).is_ok());
        match l.check(peer("10.0.0.1")) {
            Err(ServiceError::Auth(AuthError::TooManyAttempts { retry_after_secs })) => {
                assert!(
                    (3500..=3600).contains(&retry_after_secs),
                    "{retry_after_secs}"
                )
            }
            other => panic!("expected E-AUTH-010, got {other:?}"),
        }
        assert!(
            l.check(peer("10.0.0.2")).is_ok(),
            "another client has its own bucket"
        );
    }

    #[test]
    fn a_refused_client_does_not_use_up_everyones_budget() {
        let l = limiter(1, 2);
        assert!(l.check(peer("10.0.0.1")).is_ok());
        for _ in 0..10 {
            assert!(l.check(peer("10.0.0.1")).is_err());
        }
        assert!(l.check(peer("10.0.0.2")).is_ok());
        assert!(
            l.check(peer("10.0.0.3")).is_err(),
            "everyone's burst of 2 is used"
        );
    }

    #[test]
    fn ipv6_clients_count_per_64_and_mapped_ipv4_as_ipv4() {
        assert_eq!(
            client_key("2001:db8:1:2:aaaa::1".parse().expect("ip")),
            "2001:db8:1:2::".parse::<IpAddr>().expect("ip")
        );
        assert_eq!(
            client_key("::ffff:192.0.2.7".parse().expect("ip")),
            "192.0.2.7".parse::<IpAddr>().expect("ip")
        );
        let l = limiter(1, 100);
        assert!(l.check(peer("2001:db8::1")).is_ok());
        assert!(l.check(peer("2001:db8::2")).is_err(), "same /64");
    }

    #[test]
    fn the_defaults_are_the_documented_office_limits() {
        let d = AttemptLimits::default();
        assert_eq!(
            (d.per_client.burst, d.per_client.period),
            (20, Duration::from_secs(1))
        );
        assert_eq!(
            (d.overall.burst, d.overall.period),
            (50, Duration::from_millis(100))
        );
    }
}
