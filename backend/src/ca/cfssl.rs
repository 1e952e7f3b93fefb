//! The cfssl client: `info`, `sign` / `authsign`, `newcert`, `revoke` and `crl` of cfssl's HTTP API through
//! reqwest, with a connect and a total timeout per request, an HTTP proxy with user and
//! password, a custom CA bundle for the CA's TLS, and retries with jittered backoff only where
//! [`RetryPolicy::may_retry`] allows (a `sign` is sent again only if it never reached the CA).
//!
//! Every failure is a [`CaError`] naming the step: connect (E-CA-001), send (002), status
//! (003), content type (004), body (005/010), the CA's refusal (006) or authentication (007).
//! Debian's cfssl 1.2 answers refusals with a JSON envelope but `Content-Type: text/plain`
//! and a 400 status, so a non-200 answer is first read as an envelope, then as a bare status.

use certdesk_domain::authority::{
    CaHealth, CertificateAuthority, CertificateOrder, ServerKeyIssued,
};
use certdesk_domain::external_ca::{
    cfssl_reason, CaBackendKind, CaError, CaRequestKind, RetryPolicy, MAX_CA_ANSWER_BYTES,
};
use certdesk_domain::lifecycle::RevocationReason;
use certdesk_domain::profile::KeyType;
use serde_json::Value;
use std::time::Duration;

/// Everything needed to reach one cfssl server (secrets already opened).
#[derive(Clone)]
pub struct CfsslConfig {
    /// Base URL, e.g. `https://ca.example.jp:8888`; `/api/v1/cfssl/...` is appended.
    pub url: String,
    pub profile: String,
    /// HMAC-SHA256 key for `authsign`; without one, `sign` is used.
    pub auth_key: Option<Vec<u8>>,
    pub connect_timeout: Duration,
    pub total_timeout: Duration,
    pub proxy: Option<ProxyConfig>,
    /// PEM certificates that check the CA's TLS certificate (besides the system's).
    pub ca_bundle_pem: Option<String>,
    pub retry: RetryPolicy,
}

impl std::fmt::Debug for CfsslConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CfsslConfig")
            .field("url", &self.url)
            .field("profile", &self.profile)
            .field("auth_key", &self.auth_key.as_ref().map(|_| "***"))
            .finish_non_exhaustive()
    }
}

#[derive(Clone)]
pub struct ProxyConfig {
    pub url: String,
    pub user: String,
    pub password: String,
}

/// A client for one cfssl server.
#[derive(Debug, Clone)]
pub struct CfsslClient {
    http: reqwest::Client,
    config: CfsslConfig,
}

/// A certificate cfssl signed, as PEM.
#[derive(Debug, Clone)]
pub struct Signed {
    pub certificate_pem: String,
}

impl CfsslClient {
    pub fn new(config: CfsslConfig) -> Result<CfsslClient, CaError> {
        crate::tls::install_crypto_provider();
        let mut builder = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.total_timeout)
            .pool_max_idle_per_host(0)
            .redirect(reqwest::redirect::Policy::none());
        match &config.proxy {
            Some(p) => {
                let mut proxy =
                    reqwest::Proxy::all(p.url.trim()).map_err(|e| CaError::ConnectFailed {
                        detail: format!("proxy URL: {e}"),
                    })?;
                if !p.user.is_empty() {
                    proxy = proxy.basic_auth(&p.user, &p.password);
                }
                builder = builder.proxy(proxy);
            }
            // Only the configured proxy, never one from the environment.
            None => builder = builder.no_proxy(),
        }
        if let Some(pem) = config
            .ca_bundle_pem
            .as_deref()
            .filter(|p| !p.trim().is_empty())
        {
            let certs = reqwest::Certificate::from_pem_bundle(pem.as_bytes()).map_err(|e| {
                CaError::CaBundle {
                    detail: e.to_string(),
                }
            })?;
            if certs.is_empty() {
                return Err(CaError::CaBundle {
                    detail: "no certificate in the PEM text".into(),
                });
            }
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        let http = builder
            .build()
            .map_err(|e| CaError::CaBundle { detail: chain(&e) })?;
        Ok(CfsslClient { http, config })
    }

    pub fn config(&self) -> &CfsslConfig {
        &self.config
    }

    /// `info`: the CA's certificate (PEM).
    pub async fn info(&self) -> Result<String, CaError> {
        let body = serde_json::json!({ "profile": self.config.profile });
        let result = self.call("info", &body, CaRequestKind::Info).await?;
        text_field(&result, "certificate")
    }

    /// `authsign` (with an HMAC key) or `sign`: a certificate for `csr_pem` under the profile.
    /// `serial` is the serial certdesk proposes; cfssl uses it when the profile has
    /// `ClientProvidesSerialNumbers`, and otherwise picks its own.
    pub async fn sign(&self, csr_pem: &str, serial: Option<u128>) -> Result<Signed, CaError> {
        self.sign_as(csr_pem, serial, None).await
    }

    /// [`Self::sign`] with the subject of `names` (O, OU, CN) instead of the request's, and
    /// no alternative names: for a request made by a certificate's holder.
    pub async fn sign_as(
        &self,
        csr_pem: &str,
        serial: Option<u128>,
        names: Option<&CertificateOrder>,
    ) -> Result<Signed, CaError> {
        let request = SignRequest {
            certificate_request: csr_pem,
            profile: &self.config.profile,
            serial,
            subject: names
                .map(|o| serde_json::json!({"CN": o.cn, "names": [{"O": o.o, "OU": o.ou}]})),
            hosts: names.map(|_| Vec::new()),
        };
        let result = self.signing_call(&to_json(&request)?).await?;
        Ok(Signed {
            certificate_pem: text_field(&result, "certificate")?,
        })
    }

    /// `newcert`: cfssl makes the key and the certificate. Debian's cfssl 1.2 takes no
    /// authentication and no serial here, so the profile must let cfssl pick serials.
    pub async fn newcert(
        &self,
        o: &str,
        ou: &str,
        cn: &str,
        key_type: KeyType,
    ) -> Result<ServerKeyIssued, CaError> {
        let key = match key_type {
            KeyType::Rsa2048 => serde_json::json!({"algo": "rsa", "size": 2048}),
            KeyType::EcdsaP256 => serde_json::json!({"algo": "ecdsa", "size": 256}),
        };
        let body = serde_json::json!({
            "request": {"CN": cn, "names": [{"O": o, "OU": ou}], "key": key},
            "profile": self.config.profile,
        });
        let result = self.call("newcert", &body, CaRequestKind::Sign).await?;
        Ok(ServerKeyIssued {
            certificate_pem: text_field(&result, "certificate")?,
            private_key_pem: text_field(&result, "private_key")?,
        })
    }

    /// `crl`: the CA's CRL (DER) from its certificate database. Debian's cfssl 1.2 has no such
    /// endpoint (only `gencrl`, which wants the CA's private key in the request): it answers 404,
    /// reported as [`CaError::NotOffered`].
    pub async fn crl(&self) -> Result<Vec<u8>, CaError> {
        let result = match self.send(reqwest::Method::GET, "crl", None).await {
            Err(CaError::Status { status: 404 }) => {
                return Err(CaError::NotOffered { what: "crl".into() })
            }
            other => other?,
        };
        let text = result.as_str().ok_or_else(|| CaError::Unparsable {
            detail: "the CRL is not a base64 string".into(),
        })?;
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|e| CaError::Unparsable {
                detail: format!("the CRL is not valid base64: {e}"),
            })
    }

    /// Proves the authentication without making a certificate: a correctly signed `authsign`
    /// with a CSR that is not one. cfssl checks the token first; "CSR Decode failed" (9002) means it
    /// accepted the token, "invalid token" means it did not.
    pub async fn check_auth(&self) -> Result<(), CaError> {
        let request = serde_json::json!({ "certificate_request": "not a CSR", "profile": self.config.profile });
        match self.signing_call(&to_json(&request)?).await {
            Err(CaError::Refused { ca_code, .. }) if (9000..10000).contains(&ca_code) => Ok(()),
            Ok(_) => Err(CaError::Unparsable {
                detail: "the CA signed a request that is not a CSR".into(),
            }),
            Err(e) => Err(e),
        }
    }

    async fn signing_call(&self, request: &[u8]) -> Result<Value, CaError> {
        match &self.config.auth_key {
            Some(key) => {
                let body = authenticated(key, request);
                self.call("authsign", &body, CaRequestKind::Sign).await
            }
            None => self.call_bytes("sign", request, CaRequestKind::Sign).await,
        }
    }

    /// `revoke`: records the revocation at the CA. `serial_hex` as stored; cfssl keys its
    /// database by the decimal serial and the authority key id, which Debian's cfssl 1.2
    /// stores empty and newer versions as the hex of the CA's key id: both are tried before a
    /// serial counts as unknown to the CA ([`CaError::UnknownSerial`]).
    pub async fn revoke(&self, serial_hex: &str, reason: &str) -> Result<(), CaError> {
        match self.revoke_with(serial_hex, "", reason).await {
            Err(CaError::UnknownSerial { .. }) => {
                let key_id = self.ca_key_id().await?;
                self.revoke_with(serial_hex, &key_id, reason).await
            }
            other => other,
        }
    }

    async fn revoke_with(&self, serial_hex: &str, aki: &str, reason: &str) -> Result<(), CaError> {
        let body = serde_json::json!({
            "serial": decimal_serial(serial_hex)?,
            "authority_key_id": aki,
            "reason": reason,
        });
        match self.call("revoke", &body, CaRequestKind::Revoke).await {
            Ok(_) => Ok(()),
            Err(CaError::Refused { ca_code, message })
                if ca_code == CFSSL_RECORD_NOT_FOUND
                    || message.contains("certificate not found") =>
            {
                Err(CaError::UnknownSerial {
                    serial: serial_hex.to_string(),
                })
            }
            Err(e) => Err(e),
        }
    }

    /// The CA certificate's subject key identifier in lower-case hex (from `info`).
    async fn ca_key_id(&self) -> Result<String, CaError> {
        let pem = self.info().await?;
        let der = crate::x509::first_certificate_der(pem.as_bytes()).map_err(|e| {
            CaError::Unparsable {
                detail: format!("CA certificate: {e}"),
            }
        })?;
        let cert = crate::x509::parse(&der).map_err(|e| CaError::Unparsable {
            detail: format!("CA certificate: {e}"),
        })?;
        let id = crate::x509::subject_key_id(&cert).ok_or_else(|| CaError::Unparsable {
            detail: "the CA certificate has no subject key identifier".into(),
        })?;
        Ok(hex::encode(id))
    }

    /// One API call with the retry policy; returns the envelope's `result`.
    async fn call(
        &self,
        endpoint: &str,
        body: &Value,
        kind: CaRequestKind,
    ) -> Result<Value, CaError> {
        self.call_bytes(endpoint, &to_json(body)?, kind).await
    }

    async fn call_bytes(
        &self,
        endpoint: &str,
        body: &[u8],
        kind: CaRequestKind,
    ) -> Result<Value, CaError> {
        let mut attempt = 1;
        loop {
            match self.send(reqwest::Method::POST, endpoint, Some(body)).await {
                Ok(v) => return Ok(v),
                Err(e) if self.config.retry.may_retry(kind, &e, attempt) => {
                    let pause = self.config.retry.backoff(attempt, jitter());
                    tracing::warn!(ca.endpoint = endpoint, ca.attempt = attempt, error.code = e.code(), error.detail = %e, "retrying a CA request");
                    tokio::time::sleep(pause).await;
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn send(
        &self,
        method: reqwest::Method,
        endpoint: &str,
        body: Option<&[u8]>,
    ) -> Result<Value, CaError> {
        let url = format!(
            "{}/api/v1/cfssl/{endpoint}",
            self.config.url.trim().trim_end_matches('/')
        );
        let mut request = self.http.request(method, url);
        if let Some(body) = body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.to_vec());
        }
        let response = request.send().await.map_err(|e| sending_error(&e))?;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let bytes = read_capped(response, MAX_CA_ANSWER_BYTES).await?;
        read_answer(status, content_type.as_deref(), &bytes)
    }
}

/// The answer's body, read chunk by chunk and given up as soon as it passes `max` bytes (a
/// declared `Content-Length` above it is refused before reading), so that a wrong URL or a
/// hostile server cannot fill the memory.
async fn read_capped(mut response: reqwest::Response, max: usize) -> Result<Vec<u8>, CaError> {
    if response.content_length().is_some_and(|n| n > max as u64) {
        return Err(CaError::TooLarge { max });
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| reading_error(&e))? {
        if body.len() + chunk.len() > max {
            return Err(CaError::TooLarge { max });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// cfssl's code for "certificate not found" (CertStoreError 11000 + RecordNotFound 200).
const CFSSL_RECORD_NOT_FOUND: i64 = 11200;

/// `sign`'s request; `serial` is a JSON number (cfssl reads it into a big integer).
#[derive(serde::Serialize)]
struct SignRequest<'a> {
    certificate_request: &'a str,
    profile: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    serial: Option<u128>,
    /// The subject certdesk asks for (cfssl takes it over the request's).
    #[serde(skip_serializing_if = "Option::is_none")]
    subject: Option<serde_json::Value>,
    /// No alternative names: an empty list makes cfssl drop those of the request.
    #[serde(skip_serializing_if = "Option::is_none")]
    hosts: Option<Vec<String>>,
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, CaError> {
    serde_json::to_vec(value).map_err(|e| CaError::NotSent {
        detail: e.to_string(),
    })
}

impl CertificateAuthority for CfsslClient {
    fn kind(&self) -> CaBackendKind {
        CaBackendKind::Cfssl
    }

    async fn health(&self) -> Result<CaHealth, CaError> {
        let pem = self.info().await?;
        Ok(CaHealth {
            ca_subject: subject_line(&pem)?,
        })
    }

    async fn ca_certificate_pem(&self) -> Result<String, CaError> {
        self.info().await
    }

    async fn issue_from_csr(
        &self,
        csr_pem: &str,
        order: &CertificateOrder,
    ) -> Result<String, CaError> {
        let serial = u128::from_str_radix(&order.serial_hex, 16).ok();
        Ok(self
            .sign_as(csr_pem, serial, Some(order))
            .await?
            .certificate_pem)
    }

    async fn issue_with_server_key(
        &self,
        order: &CertificateOrder,
    ) -> Result<ServerKeyIssued, CaError> {
        self.newcert(&order.o, &order.ou, &order.cn, order.key_type)
            .await
    }

    async fn revoke(&self, serial_hex: &str, reason: RevocationReason) -> Result<(), CaError> {
        CfsslClient::revoke(self, serial_hex, cfssl_reason(reason)).await
    }

    async fn crl_der(&self) -> Result<Vec<u8>, CaError> {
        self.crl().await
    }
}

/// A PEM certificate as DER.
pub fn certificate_der(pem: &str) -> Result<Vec<u8>, CaError> {
    crate::x509::first_certificate_der(pem.as_bytes()).map_err(|e| CaError::Unparsable {
        detail: format!("certificate: {e}"),
    })
}

/// A certificate's subject as one line (`CN=..., O=...`).
pub fn subject_line(pem: &str) -> Result<String, CaError> {
    let unparsable = |e: String| CaError::Unparsable {
        detail: format!("CA certificate: {e}"),
    };
    let der = crate::x509::first_certificate_der(pem.as_bytes()).map_err(unparsable)?;
    let cert = crate::x509::parse(&der).map_err(unparsable)?;
    Ok(subject_of(&cert))
}

/// The subject of `cert` as one line (`O=..., OU=..., CN=...`, in the certificate's order).
pub fn subject_of(cert: &x509_parser::certificate::X509Certificate<'_>) -> String {
    crate::x509::subject_line(cert)
}

/// cfssl's authenticated request: `{"token": base64(hmac_sha256(key, request)), "request":
/// base64(request)}`.
pub fn authenticated(key: &[u8], request: &[u8]) -> Value {
    use aws_lc_rs::hmac;
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), request);
    serde_json::json!({
        "token": crate::ca::base64_encode(tag.as_ref()),
        "request": crate::ca::base64_encode(request),
    })
}

/// The decimal form of a hex serial.
pub fn decimal_serial(serial_hex: &str) -> Result<String, CaError> {
    crate::x509::hex_to_decimal(serial_hex).map_err(|e| CaError::Unparsable {
        detail: format!("serial {serial_hex}: {e}"),
    })
}

/// Reads cfssl's answer: status, content type, envelope, `success`, `result`.
pub fn read_answer(status: u16, content_type: Option<&str>, body: &[u8]) -> Result<Value, CaError> {
    if status == 407 {
        return Err(CaError::ProxyAuth);
    }
    if status != 200 {
        // cfssl's own refusals: a JSON envelope with errors, whatever the content type.
        if let Some(refusal) = serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|v| refusal(&v, status))
        {
            return Err(refusal);
        }
        return Err(CaError::Status { status });
    }
    let is_json = content_type
        .and_then(|ct| ct.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return Err(CaError::ContentType {
            found: content_type.map(str::to_string),
        });
    }
    let v: Value = serde_json::from_slice(body).map_err(|e| CaError::Unparsable {
        detail: format!("not JSON: {e}"),
    })?;
    match v.get("success").and_then(Value::as_bool) {
        Some(true) => v.get("result").cloned().ok_or_else(|| CaError::Unparsable {
            detail: "no \"result\" in the answer".into(),
        }),
        Some(false) => Err(refusal(&v, status).unwrap_or(CaError::Refused {
            ca_code: 0,
            message: "success: false without errors".into(),
        })),
        None => Err(CaError::Unparsable {
            detail: "no \"success\" in the answer".into(),
        }),
    }
}

/// The first of cfssl's `errors`, as a refusal (or an authentication failure).
fn refusal(v: &Value, status: u16) -> Option<CaError> {
    let first = v.get("errors")?.as_array()?.first()?;
    let ca_code = first.get("code").and_then(Value::as_i64).unwrap_or(0);
    let message = first
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("")
        .chars()
        .take(300)
        .collect::<String>();
    let auth = status == 401
        || status == 403
        || message.contains("invalid token")
        || message.to_ascii_lowercase().contains("authenticat");
    Some(if auth {
        CaError::AuthFailed { message }
    } else {
        CaError::Refused { ca_code, message }
    })
}

fn text_field(result: &Value, name: &str) -> Result<String, CaError> {
    result
        .get(name)
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| CaError::Unparsable {
            detail: format!("no \"{name}\" in the result"),
        })
}

/// The error and its causes in one line (reqwest's own text hides the cause).
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// Whether a sending error's text says the proxy refused the credentials (hyper-util's
/// "proxy authorization required" for a CONNECT answered 407, or the status line's words).
/// Not any "407": the text names the URL, and a port such as 40712 holds those digits.
fn proxy_refused(detail: &str) -> bool {
    let detail = detail.to_ascii_lowercase();
    detail.contains("proxy authorization required")
        || detail.contains("proxy authentication required")
}

fn sending_error(e: &reqwest::Error) -> CaError {
    let detail = chain(e);
    if proxy_refused(&detail) {
        return CaError::ProxyAuth;
    }
    if e.is_connect() {
        CaError::ConnectFailed { detail }
    } else {
        CaError::NotSent { detail }
    }
}

fn reading_error(e: &reqwest::Error) -> CaError {
    let detail = chain(e);
    if e.is_timeout() {
        CaError::NotSent { detail }
    } else {
        CaError::Truncated { detail }
    }
}

fn jitter() -> f64 {
    use rand::Rng;
    rand::thread_rng().gen::<f64>()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(r: Result<Value, CaError>) -> &'static str {
        r.expect_err("an error").code()
    }

    #[test]
    fn a_successful_answer_gives_its_result() {
        let body = br#"{"success":true,"result":{"certificate":"PEM"},"errors":[],"messages":[]}"#;
        let v = read_answer(200, Some("application/json"), body).expect("ok");
        assert_eq!(v["certificate"], "PEM");
        assert!(read_answer(200, Some("Application/JSON; charset=utf-8"), body).is_ok());
    }

    #[test]
    fn each_broken_answer_maps_to_its_code() {
        let ok = br#"{"success":true,"result":{}}"#;
        assert_eq!(
            code(read_answer(500, Some("text/html"), b"<h1>oops</h1>")),
            "E-CA-003"
        );
        assert_eq!(
            code(read_answer(
                404,
                Some("text/plain"),
                b"404 page not found\n"
            )),
            "E-CA-003"
        );
        assert_eq!(code(read_answer(200, Some("text/html"), ok)), "E-CA-004");
        assert_eq!(code(read_answer(200, None, ok)), "E-CA-004");
        assert_eq!(
            code(read_answer(
                200,
                Some("application/json"),
                b"{\"success\":tru"
            )),
            "E-CA-005"
        );
        assert_eq!(
            code(read_answer(200, Some("application/json"), b"[]")),
            "E-CA-005"
        );
        assert_eq!(code(read_answer(407, None, b"")), "E-CA-008");
        // A timeout at a port holding "407" is not the proxy refusing the credentials.
        assert!(!proxy_refused(
            "error sending request for url (http://127.0.0.1:40712/api/v1/cfssl/authsign): operation timed out"
        ));
        assert!(proxy_refused(
            "client error (Connect): proxy authorization required"
        ));
        assert!(proxy_refused("HTTP/1.1 407 Proxy Authentication Required"));
    }

    #[test]
    fn cfssl_refusals_carry_its_message_and_a_bad_token_is_an_authentication_failure() {
        // As Debian's cfssl 1.2 answers: 400, text/plain, a JSON envelope.
        let csr = br#"{"success":false,"result":null,"errors":[{"code":9002,"message":"CSR Decode failed"}],"messages":[]}"#;
        match read_answer(400, Some("text/plain; charset=utf-8"), csr) {
            Err(CaError::Refused { ca_code, message }) => {
                assert_eq!((ca_code, message.as_str()), (9002, "CSR Decode failed"))
            }
            other => panic!("{other:?}"),
        }
        let token = br#"{"success":false,"result":null,"errors":[{"code":400,"message":"invalid token"}],"messages":[]}"#;
        assert_eq!(
            code(read_answer(400, Some("text/plain"), token)),
            "E-CA-007"
        );
        let failed_200 =
            br#"{"success":false,"result":null,"errors":[{"code":5002,"message":"bad"}]}"#;
        assert_eq!(
            code(read_answer(200, Some("application/json"), failed_200)),
            "E-CA-006"
        );
    }

    #[test]
    fn the_auth_token_is_the_hmac_of_the_exact_request_bytes() {
        // RFC 4231 test case 2.
        let v = authenticated(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(v["request"], "d2hhdCBkbyB5YSB3YW50IGZvciBub3RoaW5nPw==");
        assert_eq!(v["token"], "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM=");
    }

    #[test]
    fn serials_go_to_cfssl_in_decimal() {
        assert_eq!(decimal_serial("ff").expect("hex"), "255");
        assert_eq!(
            decimal_serial("507bc1ed93f8145539d177d7c4a55c8c5b27fdeb").expect("hex"),
            "459479146840116835976858077116319914898336775659"
        );
        assert_eq!(
            decimal_serial("xyz").expect_err("not hex").code(),
            "E-CA-005"
        );
    }

    #[test]
    fn an_unreadable_ca_bundle_is_named() {
        let config = CfsslConfig {
            url: "https://ca.example.jp".into(),
            profile: "client".into(),
            auth_key: None,
            connect_timeout: Duration::from_secs(1),
            total_timeout: Duration::from_secs(1),
            proxy: None,
            ca_bundle_pem: Some("not a certificate".into()),
            retry: RetryPolicy::default(),
        };
        assert_eq!(
            CfsslClient::new(config).expect_err("bad bundle").code(),
            "E-CA-009"
        );
    }
}
