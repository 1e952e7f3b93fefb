//! Serving the console on the LAN: the refusals of `certdesk serve` (`E-SERVE-NNN`) and the
//! rule of the installation check page (`/check`), which says what the certificate a browser
//! presented is ([`classify`]).

use crate::error::error_codes;
use crate::lang::Message;
use crate::lifecycle::StoredState;
use time::{Date, OffsetDateTime};

error_codes! {
    /// `certdesk serve` refused to start (`E-SERVE-NNN`): the way it was asked to serve is not
    /// safe, or the TLS certificate or key it was given cannot be used. Each message names the
    /// option or file and says how to run it safely.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum ServeError {
        /// A non-loopback `--listen` with an `http://` (or no) public URL and no `--behind-proxy`.
        PlainHttpOnLan { listen: String } = "E-SERVE-001" => "plain HTTP on {listen}, which other machines can reach",
        /// `--behind-proxy` with a non-loopback `--listen`.
        ProxyNotLoopback { listen: String } = "E-SERVE-002" => "--behind-proxy with --listen {listen}, which is not loopback",
        /// Only one of `--tls-cert` / `--tls-key`, or either without an `https://` public URL.
        TlsOptions = "E-SERVE-003" => "--tls-cert and --tls-key go together, with an https:// --public-url",
        /// A `--tls-cert` / `--tls-key` file that cannot be read.
        TlsFileUnreadable { file: String, detail: String } = "E-SERVE-004" => "cannot read {file}: {detail}",
        /// The file holds no PEM certificate (or no PEM private key).
        TlsNotPem { file: String, expected: String } = "E-SERVE-005" => "{file} holds no PEM {expected}",
        /// The key does not belong to the certificate.
        TlsKeyMismatch { cert: String, key: String } = "E-SERVE-006" => "the key {key} does not belong to the certificate {cert}",
        /// The certificate is expired or not yet valid.
        TlsCertExpired { file: String, not_after: String } = "E-SERVE-007" => "the certificate {file} is not valid now (valid until {not_after})",
        /// The public URL's host is not in the certificate's subject alternative names.
        TlsHostNotInSans { file: String, host: String } = "E-SERVE-008" => "the certificate {file} is not for {host}",
        /// The `--public-url` is not an absolute http(s) URL with a host.
        PublicUrl { url: String } = "E-SERVE-009" => "--public-url {url} is not an http:// or https:// URL with a host",
        /// The check page's listener would be the console's own address, or is set without TLS.
        CheckListen { detail: String } = "E-SERVE-010" => "--check-listen: {detail}",
    }
}

impl ServeError {
    pub fn message(&self) -> Message {
        match self {
            ServeError::PlainHttpOnLan { listen } => Message::new(
                format!("--listen {listen} は他のPCから届くアドレスですが、--public-url が https:// ではないため暗号化されない HTTP になります。起動しませんでした。社内LANで使うには --public-url https://<このサーバの名前>:<ポート> を付けて証明書付きで起動する(証明書は組み込みCAが発行します)か、TLS のリバースプロキシの後ろで --listen 127.0.0.1:<ポート> --behind-proxy として起動してください。このPCだけで使うなら --listen 127.0.0.1:3000 にしてください。"),
                format!("--listen {listen} can be reached from other machines, but the --public-url is not https://, so the console would be plain HTTP. Not started. To serve the LAN, add --public-url https://<this server's name>:<port> (the embedded CA issues the certificate), or run behind a TLS reverse proxy with --listen 127.0.0.1:<port> --behind-proxy. For this PC only, use --listen 127.0.0.1:3000."),
            ),
            ServeError::ProxyNotLoopback { listen } => Message::new(
                format!("--behind-proxy のときは、リバースプロキシだけが接続できるよう loopback アドレスで待ち受けます。--listen {listen} を --listen 127.0.0.1:<ポート> にしてください。"),
                format!("With --behind-proxy certdesk listens on loopback only, so that only the reverse proxy can connect. Change --listen {listen} to --listen 127.0.0.1:<port>."),
            ),
            ServeError::TlsOptions => Message::new(
                "--tls-cert と --tls-key は両方を指定し、--public-url を https:// にしてください(--behind-proxy とは併用できません)。どちらも付けなければ組み込みCAがサーバ証明書を発行します。",
                "Give both --tls-cert and --tls-key, with an https:// --public-url (not with --behind-proxy). Without them the embedded CA issues the server certificate.",
            ),
            ServeError::TlsFileUnreadable { file, detail } => Message::new(
                format!("{file} を読めません({detail})。パスと、certdesk を動かすユーザの読み取り権限を確認してください。"),
                format!("Cannot read {file} ({detail}). Check the path and that the user running certdesk may read it."),
            ),
            ServeError::TlsNotPem { file, expected } => Message::new(
                format!("{file} に PEM 形式の{}がありません。「-----BEGIN ...-----」で始まるファイルを指定してください(DER や .p12 は openssl で PEM に変換してください)。", if expected == "certificate" { "証明書" } else { "秘密鍵" }),
                format!("{file} holds no PEM {expected}. Give a file starting with \"-----BEGIN ...-----\" (convert DER or .p12 to PEM with openssl)."),
            ),
            ServeError::TlsKeyMismatch { cert, key } => Message::new(
                format!("秘密鍵 {key} は証明書 {cert} の鍵ではありません。同じ時に作った証明書と鍵の組を指定してください。"),
                format!("The private key {key} is not the key of the certificate {cert}. Give the certificate and key that were made together."),
            ),
            ServeError::TlsCertExpired { file, not_after } => Message::new(
                format!("証明書 {file} は現在有効ではありません(有効期限 {not_after})。新しい証明書を取得するか、--tls-cert/--tls-key を外して組み込みCAの証明書で起動してください。"),
                format!("The certificate {file} is not valid now (valid until {not_after}). Get a new certificate, or drop --tls-cert/--tls-key to use one from the embedded CA."),
            ),
            ServeError::TlsHostNotInSans { file, host } => Message::new(
                format!("証明書 {file} のサブジェクト代替名(SAN)に {host} がありません。ブラウザは接続を拒否します。{host} を含む証明書を指定するか、--public-url を証明書の名前に合わせてください。"),
                format!("The certificate {file} does not name {host} in its subject alternative names, so browsers would refuse it. Give a certificate for {host}, or make --public-url use a name the certificate has."),
            ),
            ServeError::PublicUrl { url } => Message::new(
                format!("--public-url {url} を読めません。https://certdesk.example.local:3000 のように、スキーム・ホスト名(必要ならポート)だけを指定してください。"),
                format!("Cannot read --public-url {url}. Give the scheme, host and (if needed) port only, like https://certdesk.example.local:3000."),
            ),
            ServeError::CheckListen { detail } => Message::new(
                format!("--check-listen を使えません({detail})。確認ページには管理画面とは別のポートを指定してください(既定は管理画面のポート+1)。"),
                format!("Cannot use --check-listen ({detail}). Give the check page a port other than the console's (default: the console's port + 1)."),
            ),
        }
    }
}

/// What certdesk knows of a presented certificate it issued (found by its SHA-256).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownCertificate {
    pub state: StoredState,
    pub not_after: OffsetDateTime,
    /// The holder's valid certificate, when it is another (newer) one than the presented one.
    pub newer: Option<CurrentCertificate>,
}

/// The certificate the holder should have installed instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrentCertificate {
    pub serial: String,
    pub not_after: OffsetDateTime,
}

/// What the check page says about the presented certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckVerdict {
    /// No certificate was presented: how to install the `.p12`.
    NonePresented,
    /// Not one certdesk issued (another CA, or one failing path validation).
    Foreign,
    /// Valid and the holder's current certificate.
    Current { days_left: i64 },
    /// A newer certificate exists (renewed or reissued): delete this one. `current` is `None`
    /// when the newer one has ended too.
    Superseded { current: Option<CurrentCertificate> },
    /// Revoked (and not replaced).
    Revoked,
    /// Past its end.
    Expired { on: Date },
}

impl CheckVerdict {
    /// The stored name of the verdict (audit detail, test hooks).
    pub fn as_str(&self) -> &'static str {
        match self {
            CheckVerdict::NonePresented => "none",
            CheckVerdict::Foreign => "foreign",
            CheckVerdict::Current { .. } => "current",
            CheckVerdict::Superseded { .. } => "superseded",
            CheckVerdict::Revoked => "revoked",
            CheckVerdict::Expired { .. } => "expired",
        }
    }
}

/// The check page's rule. `presented` is whether the browser sent a certificate; `known` what
/// certdesk issued with exactly those bytes (`None`: not issued here). A newer certificate wins
/// over the presented one's own state (a reissued-away certificate is revoked, but what the
/// user must do is delete it and use the new one); then revoked, then expired.
pub fn classify(
    presented: bool,
    known: Option<&KnownCertificate>,
    now: OffsetDateTime,
) -> CheckVerdict {
    let Some(cert) = known else {
        return if presented {
            CheckVerdict::Foreign
        } else {
            CheckVerdict::NonePresented
        };
    };
    if let Some(current) = &cert.newer {
        if current.not_after > now {
            return CheckVerdict::Superseded {
                current: Some(current.clone()),
            };
        }
    }
    match cert.state {
        StoredState::Revoked => return CheckVerdict::Revoked,
        StoredState::Superseded if cert.not_after > now => {
            return CheckVerdict::Superseded { current: None }
        }
        _ => {}
    }
    if cert.state == StoredState::Expired || cert.not_after <= now {
        return CheckVerdict::Expired {
            on: cert.not_after.date(),
        };
    }
    CheckVerdict::Current {
        days_left: (cert.not_after - now).whole_days(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;
    use time::Duration;

    const NOW: OffsetDateTime = datetime!(2026-06-01 00:00 UTC);

    fn known(state: StoredState, days: i64, newer: Option<i64>) -> KnownCertificate {
        KnownCertificate {
            state,
            not_after: NOW + Duration::days(days),
            newer: newer.map(|d| CurrentCertificate {
                serial: "ab".into(),
                not_after: NOW + Duration::days(d),
            }),
        }
    }

    #[test]
    fn nothing_presented_and_foreign_certificates_are_told_apart() {
        assert_eq!(classify(false, None, NOW), CheckVerdict::NonePresented);
        assert_eq!(classify(true, None, NOW), CheckVerdict::Foreign);
    }

    #[test]
    fn a_valid_current_certificate_says_its_days_left() {
        let c = known(StoredState::Issued, 40, None);
        assert_eq!(
            classify(true, Some(&c), NOW),
            CheckVerdict::Current { days_left: 40 }
        );
    }

    #[test]
    fn a_newer_certificate_wins_over_revoked_and_superseded() {
        for state in [StoredState::Superseded, StoredState::Revoked] {
            let c = known(state, 10, Some(400));
            assert!(matches!(
                classify(true, Some(&c), NOW),
                CheckVerdict::Superseded { current: Some(_) }
            ));
        }
    }

    #[test]
    fn revoked_then_expired() {
        assert_eq!(
            classify(true, Some(&known(StoredState::Revoked, 10, None)), NOW),
            CheckVerdict::Revoked
        );
        let gone = known(StoredState::Issued, -1, None);
        assert_eq!(
            classify(true, Some(&gone), NOW),
            CheckVerdict::Expired {
                on: gone.not_after.date()
            }
        );
        // The end instant itself is expired.
        assert!(matches!(
            classify(true, Some(&known(StoredState::Issued, 0, None)), NOW),
            CheckVerdict::Expired { .. }
        ));
    }
}
