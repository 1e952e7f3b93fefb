//! The external CA: which CA an organisation issues with, the rules of its connection
//! settings, when a request may be sent again, and the errors of talking to it (`E-CA-NNN`),
//! named after the steps the seeds' import tool reports (connect, send, status, content type,
//! parse; 004 §6.1.1). No I/O here: the backend's `cfssl` module sends the requests.

use crate::error::error_codes;
use crate::Message;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The CA an organisation issues with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum CaBackendKind {
    /// certdesk's own CA (the default).
    #[default]
    Embedded,
    /// A cfssl server reached over HTTP(S).
    Cfssl,
}

impl CaBackendKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CaBackendKind::Embedded => "embedded",
            CaBackendKind::Cfssl => "cfssl",
        }
    }

    pub fn parse(s: &str) -> Option<CaBackendKind> {
        match s {
            "embedded" => Some(CaBackendKind::Embedded),
            "cfssl" => Some(CaBackendKind::Cfssl),
            _ => None,
        }
    }
}

/// Who makes a certificate's key when an external CA issues it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum KeySource {
    /// certdesk makes the key and sends a CSR (`sign` / `authsign`): the key never crosses
    /// the network, and the request carries a serial certdesk chose (the default).
    #[default]
    Csr,
    /// The CA makes the key (`newcert`) and sends it back with the certificate.
    Ca,
}

impl KeySource {
    pub fn as_str(self) -> &'static str {
        match self {
            KeySource::Csr => "csr",
            KeySource::Ca => "ca",
        }
    }

    pub fn parse(s: &str) -> Option<KeySource> {
        match s {
            "csr" => Some(KeySource::Csr),
            "ca" => Some(KeySource::Ca),
            _ => None,
        }
    }
}

/// What is asked of the CA; decides whether a request may be sent again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaRequestKind {
    /// `info`: reads the CA certificate.
    Info,
    /// `sign` / `authsign`: makes a certificate.
    Sign,
    /// `revoke`: marks a certificate revoked (doing it twice changes nothing more).
    Revoke,
}

impl CaRequestKind {
    /// True when sending the request twice has the effect of sending it once.
    pub fn is_idempotent(self) -> bool {
        !matches!(self, CaRequestKind::Sign)
    }
}

/// Retries with jittered exponential backoff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub attempts: u32,
    pub base: Duration,
    pub max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 3,
            base: Duration::from_millis(200),
            max: Duration::from_secs(2),
        }
    }
}

impl RetryPolicy {
    /// Whether attempt number `attempt` (1 = the first) that failed with `error` may be
    /// followed by another. A request that never reached the CA (connection failed) may
    /// always be sent again; one the CA may have acted on (timeout, 5xx, broken answer) only
    /// if it is idempotent, so a slow `sign` never makes a second certificate.
    pub fn may_retry(&self, kind: CaRequestKind, error: &CaError, attempt: u32) -> bool {
        if attempt >= self.attempts {
            return false;
        }
        match error {
            CaError::ConnectFailed { .. } => true,
            CaError::NotSent { .. } | CaError::Truncated { .. } => kind.is_idempotent(),
            CaError::Status { status } => *status >= 500 && kind.is_idempotent(),
            _ => false,
        }
    }

    /// The pause before attempt `attempt + 1`: `base * 2^(attempt-1)` capped at `max`, scaled
    /// by `jitter` in `[0, 1]` to between half and all of it ("equal jitter").
    pub fn backoff(&self, attempt: u32, jitter: f64) -> Duration {
        let exp = self
            .base
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
        let cap = exp.min(self.max);
        let half = cap / 2;
        half + half.mul_f64(jitter.clamp(0.0, 1.0))
    }
}

error_codes! {
    /// A failure of talking to the external CA. Every variant has a stable code and a message in
    /// both languages that says which step failed and what to check.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub enum CaError {
        /// No connection: refused, unknown host, TLS handshake or certificate check failed.
        ConnectFailed { detail: String } = "E-CA-001" => "cannot connect to the CA: {detail}",
        /// Connected, but the request could not be sent or no answer came in time.
        NotSent { detail: String } = "E-CA-002" => "request not sent or no answer in time: {detail}",
        /// The CA (or something in between) answered with a status other than 200.
        Status { status: u16 } = "E-CA-003" => "the CA answered HTTP {status}",
        /// The answer's content type is missing or not JSON.
        ContentType { found: Option<String> } = "E-CA-004" => "the CA answered with content type {found:?}, not JSON",
        /// The answer is not what the CA's API promises (not JSON, fields missing, cut short).
        Unparsable { detail: String } = "E-CA-005" => "the CA's answer cannot be read: {detail}",
        /// The CA refused the request and said why.
        Refused { ca_code: i64, message: String } = "E-CA-006" => "the CA refused: {ca_code} {message}",
        /// The CA refused the request's authentication (wrong HMAC key).
        AuthFailed { message: String } = "E-CA-007" => "the CA refused the authentication: {message}",
        /// The HTTP proxy asked for (other) credentials.
        ProxyAuth = "E-CA-008" => "the proxy refused the credentials",
        /// The CA bundle for the CA's TLS certificate cannot be read.
        CaBundle { detail: String } = "E-CA-009" => "the CA bundle cannot be read: {detail}",
        /// The answer's body broke off before its end.
        Truncated { detail: String } = "E-CA-010" => "the CA's answer broke off: {detail}",
        /// The CA signed something other than what was asked (another key).
        Mismatch { detail: String } = "E-CA-011" => "the CA's certificate does not match the request: {detail}",
        /// An earlier request for this user may still reach the CA; asked again too soon.
        InFlight { retry_after_s: u64 } = "E-CA-012" => "an earlier request for this user is not settled yet; try again in {retry_after_s} s",
        /// The CA does not offer this through its API (Debian's cfssl 1.2 has no `crl`).
        NotOffered { what: String } = "E-CA-013" => "the CA does not offer {what}",
        /// The CA does not know the serial (revoke of a certificate it never made).
        UnknownSerial { serial: String } = "E-CA-014" => "the CA does not know the serial {serial}",
        /// The answer is larger than any answer of the CA's API ([`MAX_CA_ANSWER_BYTES`]); the
        /// rest was not read.
        TooLarge { max: usize } = "E-CA-015" => "the CA's answer is larger than {max} bytes",
    }
}

/// The largest answer read from the CA (1 MiB): a certificate, a key or a CRL of one
/// organisation fits many times over; more is a wrong URL or a hostile server, and is not
/// read into memory.
pub const MAX_CA_ANSWER_BYTES: usize = 1024 * 1024;

impl CaError {
    /// True when the CA may have acted on the request although no usable answer came back.
    pub fn outcome_unknown(&self) -> bool {
        matches!(
            self,
            CaError::NotSent { .. }
                | CaError::Truncated { .. }
                | CaError::Unparsable { .. }
                | CaError::ContentType { .. }
                | CaError::TooLarge { .. }
        ) || matches!(self, CaError::Status { status } if *status >= 500)
    }

    pub fn message(&self) -> Message {
        match self {
            CaError::ConnectFailed { detail } => {
                let (ja, en) = network_hint(detail);
                Message::new(
                format!("認証局(CA)に接続できませんでした({ja})。設定のCAのURL、ファイアウォール・プロキシの設定、CAのTLS証明書(CAバンドル)を確認してください。"),
                format!("Cannot connect to the CA ({en}). Check the CA URL in Settings, firewalls and the proxy between certdesk and the CA, and the CA bundle for its TLS certificate."),
            )
            }
            CaError::NotSent { detail } => {
                let (ja, en) = network_hint(detail);
                Message::new(
                format!("認証局(CA)へ要求を送れなかったか、時間内に応答がありませんでした({ja})。CAの稼働状況とタイムアウトの設定を確認して、もう一度実行してください。"),
                format!("The request could not be sent to the CA or no answer came in time ({en}). Check that the CA is running and the timeouts in Settings, then try again."),
            )
            }
            CaError::Status { status } => Message::new(
                format!("認証局(CA)から想定外のHTTPステータス {status} が返りました。CAのURL(パス)とプロキシの設定を確認し、続く場合はCAの運用者に連絡してください。"),
                format!("The CA answered with the unexpected HTTP status {status}. Check the CA URL (its path) and the proxy; if it persists, contact the CA's operator."),
            ),
            CaError::ContentType { found } => Message::new(
                format!("認証局(CA)の応答の種類(Content-Type: {})がJSONではありません。プロキシやゲートウェイがエラーページを返していないか確認してください。", found.as_deref().unwrap_or("なし")),
                format!("The CA's answer has content type {}, not JSON. Check whether a proxy or gateway answers with its own page instead of the CA.", found.as_deref().unwrap_or("(none)")),
            ),
            CaError::Unparsable { .. } => Message::new(
                "認証局(CA)の応答を読み取れませんでした(詳細は監査ログにあります)。CAのURLが cfssl のAPIを指しているか確認してください。",
                "The CA's answer cannot be read (the audit log has the details). Check that the CA URL points at cfssl's API.",
            ),
            CaError::Refused { ca_code, message } => Message::new(
                format!("認証局(CA)が要求を拒否しました(CAのコード {ca_code}: {message})。プロファイル名とCAの設定をCAの運用者に確認してください。"),
                format!("The CA refused the request (CA code {ca_code}: {message}). Check the profile name and the CA's configuration with its operator."),
            ),
            CaError::AuthFailed { message } => Message::new(
                format!("認証局(CA)での認証に失敗しました({message})。設定のHMAC認証キーがCAのものと一致しているか確認してください。"),
                format!("The CA refused the authentication ({message}). Check that the HMAC key in Settings matches the CA's key for this profile."),
            ),
            CaError::ProxyAuth => Message::new(
                "プロキシの認証に失敗しました(HTTP 407)。設定のプロキシのユーザ名とパスワードを確認してください。",
                "The proxy refused the credentials (HTTP 407). Check the proxy user and password in Settings.",
            ),
            CaError::CaBundle { .. } => Message::new(
                "CAバンドル(CAのTLS証明書を確認するための証明書)を読み込めませんでした。PEM形式(-----BEGIN CERTIFICATE----- で始まる)の証明書を貼り付けてください。",
                "The CA bundle (the certificates that check the CA's TLS certificate) cannot be read. Paste PEM certificates (starting with -----BEGIN CERTIFICATE-----).",
            ),
            CaError::Truncated { detail } => {
                let (ja, en) = network_hint(detail);
                Message::new(
                format!("認証局(CA)の応答が途中で切れました({ja})。通信経路(プロキシ等)を確認して、もう一度実行してください。"),
                format!("The CA's answer broke off ({en}). Check the network path (proxies) and try again."),
            )
            }
            CaError::Mismatch { .. } => Message::new(
                "認証局(CA)が返した証明書が要求した鍵と一致しません。証明書は登録していません。CAの運用者に連絡してください。",
                "The certificate the CA returned does not certify the requested key; it was not recorded. Contact the CA's operator.",
            ),
            CaError::InFlight { retry_after_s } => Message::new(
                format!("このユーザへの前回の要求がまだ確定していません(認証局(CA)の応答待ち、または応答が失われたためシリアル番号でCAに照合中です)。証明書が二重に有効にならないよう、{retry_after_s} 秒ほど待ってからもう一度実行してください。"),
                format!("The previous request for this user is not settled yet (the CA has not answered, or its answer was lost and certdesk is checking it at the CA by serial number). So that no second valid certificate appears, wait about {retry_after_s} s and try again."),
            ),
            CaError::NotOffered { .. } => Message::new(
                "この認証局(CA)はAPIでCRL(失効リスト)を提供していません(Debian の cfssl 1.2 には crl エンドポイントがありません)。CAの運用者が公開しているCRLの配布場所を使ってください。",
                "This CA does not offer its CRL through its API (Debian's cfssl 1.2 has no crl endpoint). Use the CRL location the CA's operator publishes.",
            ),
            CaError::UnknownSerial { serial } => Message::new(
                format!("認証局(CA)はシリアル番号 {serial} の証明書を知りません。CAの設定(証明書データベース)と、証明書を発行したCAを確認してください。"),
                format!("The CA does not know a certificate with serial {serial}. Check the CA's certificate database and which CA issued the certificate."),
            ),
            CaError::TooLarge { max } => Message::new(
                format!("認証局(CA)の応答が大きすぎます({max}バイト超)。読み込みを途中でやめました。CAのURLが cfssl のAPIを指しているか確認し、続く場合はCAの運用者に連絡してください。"),
                format!("The CA's answer is larger than {max} bytes, so certdesk stopped reading it. Check that the CA URL points at cfssl's API; if it persists, contact the CA's operator."),
            ),
        }
    }
}

/// What went wrong on the network, in words for people: the library's own text (in English,
/// with URLs and OS error numbers) stays in the log and the audit row.
fn network_hint(detail: &str) -> (&'static str, &'static str) {
    let d = detail.to_ascii_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| d.contains(w));
    if has(&["connection refused"]) {
        ("接続を拒否されました", "connection refused")
    } else if has(&["dns", "lookup", "name or service not known", "no address"]) {
        ("ホスト名を解決できません", "host name not found")
    } else if has(&["timed out", "timeout", "deadline"]) {
        ("時間切れ", "timed out")
    } else if has(&["certificate", "ssl routines", "tls", "handshake"]) {
        (
            "TLS証明書の確認に失敗しました",
            "TLS certificate check failed",
        )
    } else if has(&["reset", "closed", "broken pipe", "eof", "incomplete"]) {
        ("接続が途中で切れました", "connection closed")
    } else {
        ("通信エラー", "network error")
    }
}

error_codes! {
    /// A field of the external CA settings that breaks its rule (`E-CA-02N`).
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum CaSettingsError {
        Url = "E-CA-020" => "the CA URL must start with http:// or https://",
        Profile = "E-CA-021" => "the profile name must be 1 to 64 letters, digits, '-' or '_'",
        AuthKey = "E-CA-022" => "the HMAC key must be 16 to 64 bytes written in hex",
        Timeouts = "E-CA-023" => "timeouts: connect 1 to 60 s, total 1 to 300 s, connect not above total",
        ProxyUrl = "E-CA-024" => "the proxy URL must be empty or start with http:// or https://",
        /// `http://` to a host other than loopback, or with the CA making the keys at all.
        HttpsRequired = "E-CA-025" => "the CA URL must use https:// (http:// only to this machine, never when the CA makes the keys)",
        /// Query, fragment or user name/password in the CA URL.
        UrlParts = "E-CA-026" => "the CA URL must not carry a query (?), fragment (#) or user name",
        /// A host in the link-local range or a cloud metadata address or name.
        ForbiddenHost { host: String } = "E-CA-027" => "{host} is a link-local or cloud metadata address",
    }
}

impl CaSettingsError {
    pub fn field(&self) -> &'static str {
        match self {
            CaSettingsError::Url => "url",
            CaSettingsError::Profile => "profile",
            CaSettingsError::AuthKey => "auth_key",
            CaSettingsError::Timeouts => "total_timeout_s",
            CaSettingsError::ProxyUrl => "proxy_url",
            CaSettingsError::HttpsRequired
            | CaSettingsError::UrlParts
            | CaSettingsError::ForbiddenHost { .. } => "url",
        }
    }

    pub fn message(&self) -> Message {
        match self {
            CaSettingsError::Url => Message::new(
                "CAのURLは http:// または https:// で始めてください(例: https://ca.example.jp:8888)。",
                "Start the CA URL with http:// or https:// (e.g. https://ca.example.com:8888).",
            ),
            CaSettingsError::Profile => Message::new(
                "プロファイル名は半角英数字・「-」「_」で1〜64文字にしてください(CAの運用者に確認してください)。",
                "Use 1 to 64 letters, digits, '-' or '_' for the profile name (ask the CA's operator).",
            ),
            CaSettingsError::AuthKey => Message::new(
                "HMAC認証キーは16〜64バイトを16進数で入力してください(CAの auth_keys の値です)。",
                "Enter the HMAC key as 16 to 64 bytes in hex (the value from the CA's auth_keys).",
            ),
            CaSettingsError::Timeouts => Message::new(
                "接続タイムアウトは1〜60秒、全体のタイムアウトは1〜300秒で、接続の方を全体以下にしてください。",
                "Use 1 to 60 s for the connect timeout and 1 to 300 s for the total, the connect timeout not above the total.",
            ),
            CaSettingsError::ProxyUrl => Message::new(
                "プロキシのURLは空欄にするか、http:// または https:// で始めてください。",
                "Leave the proxy URL empty or start it with http:// or https://.",
            ),
            CaSettingsError::HttpsRequired => Message::new(
                "CAのURLは https:// で始めてください。http:// はこのマシン上のCA(127.0.0.1、::1、localhost)にだけ使え、鍵をCAが作る設定では使えません(鍵が暗号化されずに届くため)。",
                "Start the CA URL with https://. http:// is allowed only for a CA on this machine (127.0.0.1, ::1, localhost), and never when the CA makes the keys (they would arrive unencrypted).",
            ),
            CaSettingsError::UrlParts => Message::new(
                "CAのURLに「?」以降(クエリ)、「#」以降、ユーザ名・パスワード(user@)を含めないでください。例: https://ca.example.jp:8888",
                "Remove any query (?...), fragment (#...) and user name or password (user@) from the CA URL, e.g. https://ca.example.com:8888.",
            ),
            CaSettingsError::ForbiddenHost { host } => Message::new(
                format!("「{host}」はリンクローカル(169.254.0.0/16、fe80::/10)またはクラウドのメタデータ用のアドレスで、使えません。CAのホスト名かアドレスを確認してください。"),
                format!("'{host}' is a link-local (169.254.0.0/16, fe80::/10) or cloud metadata address and cannot be used. Check the CA's host name or address."),
            ),
        }
    }
}

/// The external CA's connection settings as typed (secrets are handled by the backend).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CfsslSettings {
    pub url: String,
    pub profile: String,
    pub connect_timeout_s: u32,
    pub total_timeout_s: u32,
    pub proxy_url: String,
    pub proxy_user: String,
    pub ca_bundle_pem: String,
    #[serde(default)]
    pub key_source: KeySource,
}

fn is_http_url(s: &str) -> bool {
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"));
    matches!(rest, Some(r) if !r.is_empty() && !r.chars().any(|c| c.is_whitespace() || c.is_control()))
}

/// Cloud metadata services by name (as typed; lower case, no trailing dot).
const METADATA_NAMES: &[&str] = &[
    "metadata.google.internal",
    "metadata.goog",
    "instance-data",
    "instance-data.ec2.internal",
];

/// True for a host in the link-local ranges (169.254.0.0/16, fe80::/10, IPv4-mapped too) or
/// a cloud metadata address or name (169.254.169.254, fd00:ec2::254, 100.100.100.200,
/// `metadata.google.internal`, ...). Names are compared as written: no DNS lookup is made, so
/// a name that resolves into these ranges is not caught here.
pub fn is_link_local_or_metadata<S: AsRef<str>>(host: &url::Host<S>) -> bool {
    use std::net::{Ipv4Addr, Ipv6Addr};
    let v4 = |ip: Ipv4Addr| ip.is_link_local() || ip == Ipv4Addr::new(100, 100, 100, 200);
    match host {
        url::Host::Ipv4(ip) => v4(*ip),
        url::Host::Ipv6(ip) => {
            (ip.segments()[0] & 0xffc0) == 0xfe80
                || *ip == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254)
                || ip.to_ipv4_mapped().is_some_and(v4)
        }
        url::Host::Domain(name) => {
            let name = name.as_ref().trim_end_matches('.').to_ascii_lowercase();
            METADATA_NAMES.contains(&name.as_str())
        }
    }
}

/// [`is_link_local_or_metadata`] for a host name or address as typed in a form (an IPv6
/// address with or without brackets; IPv4 in any form `inet_aton` reads, as the URL standard
/// does). Text that is no host at all is not refused here.
pub fn is_link_local_or_metadata_text(text: &str) -> bool {
    let text = text.trim();
    let bracketed;
    let text = if text.contains(':') && !text.starts_with('[') {
        bracketed = format!("[{text}]");
        bracketed.as_str()
    } else {
        text
    };
    url::Host::parse(text).is_ok_and(|h| is_link_local_or_metadata(&h))
}

fn is_loopback(host: &url::Host<&str>) -> bool {
    match host {
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => ip.is_loopback(),
        url::Host::Domain(name) => name.eq_ignore_ascii_case("localhost"),
    }
}

/// The CA URL's rules: parsed as a URL (not matched by prefix), `http`/`https` with a host,
/// no query, fragment or userinfo (they would change the path certdesk appends, or carry a
/// password in clear), no link-local or metadata host, and `https` unless the CA is on this
/// machine and certdesk makes the keys.
fn check_ca_url(text: &str, key_source: KeySource) -> Result<(), CaSettingsError> {
    let url = url::Url::parse(text).map_err(|_| CaSettingsError::Url)?;
    if !matches!(url.scheme(), "http" | "https") || text.chars().any(char::is_whitespace) {
        return Err(CaSettingsError::Url);
    }
    let Some(host) = url.host().filter(|h| !matches!(h, url::Host::Domain(""))) else {
        return Err(CaSettingsError::Url);
    };
    if url.query().is_some()
        || url.fragment().is_some()
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return Err(CaSettingsError::UrlParts);
    }
    if is_link_local_or_metadata(&host) {
        return Err(CaSettingsError::ForbiddenHost {
            host: host.to_string(),
        });
    }
    if url.scheme() == "http" && (key_source == KeySource::Ca || !is_loopback(&host)) {
        return Err(CaSettingsError::HttpsRequired);
    }
    Ok(())
}

impl CfsslSettings {
    /// Checks the fields in the order the form shows them.
    pub fn validate(&self) -> Result<(), CaSettingsError> {
        check_ca_url(self.url.trim(), self.key_source)?;
        let p = self.profile.trim();
        if p.is_empty()
            || p.len() > 64
            || !p
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(CaSettingsError::Profile);
        }
        if !(1..=60).contains(&self.connect_timeout_s)
            || !(1..=300).contains(&self.total_timeout_s)
            || self.connect_timeout_s > self.total_timeout_s
        {
            return Err(CaSettingsError::Timeouts);
        }
        if !self.proxy_url.trim().is_empty() && !is_http_url(self.proxy_url.trim()) {
            return Err(CaSettingsError::ProxyUrl);
        }
        Ok(())
    }
}

/// The CA settings as the Settings page shows them: secrets only as "set" or not.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CaBackendView {
    pub kind: CaBackendKind,
    pub cfssl: CfsslSettings,
    pub auth_key_set: bool,
    pub proxy_password_set: bool,
}

/// One step of "test connection": what was tried and how it went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaCheckStep {
    /// `settings`, `connect`, `info` or `auth`.
    pub step: String,
    pub ok: bool,
    /// The `E-CA-NNN` code when the step failed.
    pub code: Option<String>,
    pub message: Message,
}

/// Reads an HMAC key typed as hex (spaces allowed): 16 to 64 bytes.
pub fn parse_auth_key(hex_text: &str) -> Result<Vec<u8>, CaSettingsError> {
    let digits: Vec<u8> = hex_text
        .bytes()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    if !digits.len().is_multiple_of(2) || !(32..=128).contains(&digits.len()) {
        return Err(CaSettingsError::AuthKey);
    }
    let nibble = |b: u8| (b as char).to_digit(16).ok_or(CaSettingsError::AuthKey);
    digits
        .chunks(2)
        .map(|pair| Ok((nibble(pair[0])? * 16 + nibble(pair[1])?) as u8))
        .collect()
}

/// cfssl's name for a revocation reason (its `revoke` endpoint's `reason`).
pub fn cfssl_reason(reason: crate::lifecycle::RevocationReason) -> &'static str {
    use crate::lifecycle::RevocationReason as R;
    match reason {
        R::Unspecified => "unspecified",
        R::KeyCompromise => "keycompromise",
        R::AffiliationChanged => "affiliationchanged",
        R::Superseded => "superseded",
        R::CessationOfOperation => "cessationofoperation",
        R::PrivilegeWithdrawn => "privilegewithdrawn",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> CfsslSettings {
        CfsslSettings {
            url: "https://ca.example.jp:8888".into(),
            profile: "client-auth".into(),
            connect_timeout_s: 5,
            total_timeout_s: 30,
            ..CfsslSettings::default()
        }
    }

    #[test]
    fn a_sign_is_sent_again_only_when_it_never_reached_the_ca() {
        let p = RetryPolicy::default();
        let refused = CaError::ConnectFailed {
            detail: "refused".into(),
        };
        let timeout = CaError::NotSent {
            detail: "timeout".into(),
        };
        assert!(p.may_retry(CaRequestKind::Sign, &refused, 1));
        assert!(!p.may_retry(CaRequestKind::Sign, &timeout, 1));
        assert!(!p.may_retry(CaRequestKind::Sign, &CaError::Status { status: 500 }, 1));
        assert!(p.may_retry(CaRequestKind::Info, &timeout, 1));
        assert!(p.may_retry(CaRequestKind::Revoke, &CaError::Status { status: 503 }, 2));
        assert!(!p.may_retry(CaRequestKind::Revoke, &CaError::Status { status: 400 }, 1));
        assert!(
            !p.may_retry(CaRequestKind::Info, &refused, 3),
            "3 attempts in all"
        );
        let refusal = CaError::Refused {
            ca_code: 9002,
            message: "CSR Decode failed".into(),
        };
        assert!(!p.may_retry(CaRequestKind::Info, &refusal, 1));
    }

    #[test]
    fn backoff_doubles_is_capped_and_jitters_between_half_and_all() {
        let p = RetryPolicy::default();
        assert_eq!(p.backoff(1, 0.0), Duration::from_millis(100));
        assert_eq!(p.backoff(1, 1.0), Duration::from_millis(200));
        assert_eq!(p.backoff(2, 1.0), Duration::from_millis(400));
        assert_eq!(p.backoff(10, 1.0), Duration::from_secs(2));
        assert_eq!(p.backoff(10, 0.5), Duration::from_millis(1500));
        assert_eq!(p.backoff(40, 7.0), Duration::from_secs(2), "clamped");
    }

    #[test]
    fn every_ca_error_has_its_own_code_and_a_message_in_both_languages() {
        let all = [
            CaError::ConnectFailed { detail: "x".into() },
            CaError::NotSent { detail: "x".into() },
            CaError::Status { status: 500 },
            CaError::ContentType { found: None },
            CaError::Unparsable { detail: "x".into() },
            CaError::Refused {
                ca_code: 1,
                message: "x".into(),
            },
            CaError::AuthFailed {
                message: "x".into(),
            },
            CaError::ProxyAuth,
            CaError::CaBundle { detail: "x".into() },
            CaError::Truncated { detail: "x".into() },
            CaError::Mismatch { detail: "x".into() },
            CaError::InFlight { retry_after_s: 60 },
            CaError::NotOffered { what: "x".into() },
            CaError::UnknownSerial { serial: "x".into() },
            CaError::TooLarge { max: 1 },
        ];
        let mut codes: Vec<&str> = all.iter().map(CaError::code).collect();
        for (i, e) in all.iter().enumerate() {
            assert_eq!(e.code(), format!("E-CA-{:03}", i + 1));
            assert!(e.to_string().starts_with(e.code()));
            let m = e.message();
            assert!(!m.ja.is_empty() && !m.en.is_empty());
        }
        codes.dedup();
        assert_eq!(codes.len(), all.len());
    }

    #[test]
    fn network_details_reach_people_as_short_words_not_library_text() {
        let refused = CaError::ConnectFailed {
            detail: "error sending request for url (http://127.0.0.1:9/api/v1/cfssl/sign): client error (Connect): tcp connect error: Connection refused (os error 111)".into(),
        };
        let m = refused.message();
        assert!(m.ja.contains("接続を拒否されました") && m.en.contains("(connection refused)"));
        assert!(!m.en.contains("os error") && !m.ja.contains("127.0.0.1"));
        let tls = CaError::ConnectFailed {
            detail:
                "client error (Connect): error:0A000086:SSL routines::certificate verify failed"
                    .into(),
        };
        assert!(tls.message().en.contains("TLS certificate check failed"));
        let slow = CaError::NotSent {
            detail: "error sending request for url (http://ca:8888/api/v1/cfssl/sign): operation timed out".into(),
        };
        assert!(slow.message().ja.contains("時間切れ"));
        assert!(
            refused.to_string().contains("os error 111"),
            "kept for the log"
        );
    }

    #[test]
    fn settings_rules_name_the_field() {
        assert_eq!(settings().validate(), Ok(()));
        let bad = |f: fn(&mut CfsslSettings)| {
            let mut s = settings();
            f(&mut s);
            s.validate().expect_err("refused").field()
        };
        assert_eq!(bad(|s| s.url = "ftp://ca".into()), "url");
        assert_eq!(bad(|s| s.url = "https://".into()), "url");
        assert_eq!(bad(|s| s.profile = "client auth".into()), "profile");
        assert_eq!(bad(|s| s.connect_timeout_s = 0), "total_timeout_s");
        assert_eq!(bad(|s| s.connect_timeout_s = 40), "total_timeout_s");
        assert_eq!(bad(|s| s.total_timeout_s = 301), "total_timeout_s");
        assert_eq!(bad(|s| s.proxy_url = "proxy:3128".into()), "proxy_url");
        let mut with_proxy = settings();
        with_proxy.proxy_url = "http://proxy.example.jp:3128".into();
        assert_eq!(with_proxy.validate(), Ok(()));
    }

    #[test]
    fn the_ca_url_is_https_without_query_fragment_or_user_and_not_link_local() {
        let code = |url: &str, key_source: KeySource| {
            let s = CfsslSettings {
                url: url.into(),
                key_source,
                ..settings()
            };
            s.validate().err().map(|e| e.code())
        };
        let csr = KeySource::Csr;
        assert_eq!(code("https://ca.example.jp:8888/base/", csr), None);
        assert_eq!(code("http://127.0.0.1:8888", csr), None, "loopback");
        assert_eq!(code("http://[::1]:8888", csr), None);
        assert_eq!(code("http://localhost:8888", csr), None);
        assert_eq!(code("http://ca.example.jp:8888", csr), Some("E-CA-025"));
        assert_eq!(code("http://10.0.0.5:8888", csr), Some("E-CA-025"));
        assert_eq!(
            code("http://127.0.0.1:8888", KeySource::Ca),
            Some("E-CA-025")
        );
        assert_eq!(code("https://127.0.0.1:8888", KeySource::Ca), None);
        for url in [
            "https://ca.example.jp/?x=1",
            "https://ca.example.jp?",
            "https://ca.example.jp/#frag",
            "https://user@ca.example.jp",
            "https://user:pw@ca.example.jp",
            "https://evil.example@ca.example.jp",
        ] {
            assert_eq!(code(url, csr), Some("E-CA-026"), "{url}");
        }
        for url in [
            "https://169.254.169.254/",
            "https://169.254.1.2:8888",
            "https://0xa9fea9fe/",
            "https://[fe80::1]/",
            "https://[fd00:ec2::254]/",
            "https://[::ffff:169.254.169.254]/",
            "https://metadata.google.internal/",
            "https://METADATA.google.internal./",
        ] {
            assert_eq!(code(url, csr), Some("E-CA-027"), "{url}");
        }
        for url in ["ftp://ca", "https://", "ca.example.jp", "https://ca .jp"] {
            assert_eq!(code(url, csr), Some("E-CA-020"), "{url}");
        }
    }

    #[test]
    fn link_local_and_metadata_hosts_are_recognised_as_typed() {
        for host in [
            "169.254.169.254",
            "169.254.0.1",
            "fe80::1",
            "[fe80::1]",
            "fd00:ec2::254",
            "100.100.100.200",
            "metadata.google.internal",
            "2852039166",
        ] {
            assert!(is_link_local_or_metadata_text(host), "{host}");
        }
        for host in [
            "smtp.example.jp",
            "127.0.0.1",
            "10.1.2.3",
            "::1",
            "",
            "mail server",
        ] {
            assert!(!is_link_local_or_metadata_text(host), "{host}");
        }
    }

    #[test]
    fn an_auth_key_is_16_to_64_bytes_of_hex() {
        assert_eq!(
            parse_auth_key("00112233445566778899aabbccddeeff").expect("16 bytes"),
            (0u8..16).map(|i| i * 0x11).collect::<Vec<_>>()
        );
        assert!(parse_auth_key("0011 2233 4455 6677 8899 AABB CCDD EEFF").is_ok());
        assert_eq!(parse_auth_key("0011"), Err(CaSettingsError::AuthKey));
        assert_eq!(
            parse_auth_key("zz112233445566778899aabbccddeeff"),
            Err(CaSettingsError::AuthKey)
        );
        assert_eq!(
            parse_auth_key(&"ab".repeat(65)),
            Err(CaSettingsError::AuthKey)
        );
    }
}
